"""Integer instructions of WebAssembly 2.0 (spec 4.3.2, "Integer Operations").

Values follow :mod:`wasmforge.numerics.bits`: an i32 is an ``int`` in ``[0, 2**32)``, an i64 an
``int`` in ``[0, 2**64)``.  Every function takes and returns values in that form; comparisons
return the i32 ``1`` or ``0``.  Division and remainder trap as the spec requires.

The interp tier inlines the cheap operations as expressions and calls the rest from here;
these functions are also the reference its tests compare against.
"""

from __future__ import annotations

from ..errors import Trap, TrapCode

M32 = 0xFFFFFFFF
M64 = 0xFFFFFFFFFFFFFFFF
_S32 = 0x80000000
_S64 = 0x8000000000000000


def trap(code: TrapCode):
    """Raise the :class:`Trap` for ``code`` (the message is the spec suite's wording)."""
    raise Trap(code.value, code)


def _signed32(x: int) -> int:
    return (x ^ _S32) - _S32


def _signed64(x: int) -> int:
    return (x ^ _S64) - _S64


# ----- i32 -----

def i32_add(a, b): return (a + b) & M32
def i32_sub(a, b): return (a - b) & M32
def i32_mul(a, b): return (a * b) & M32
def i32_and(a, b): return a & b
def i32_or(a, b): return a | b
def i32_xor(a, b): return a ^ b
def i32_shl(a, b): return (a << (b & 31)) & M32
def i32_shr_u(a, b): return a >> (b & 31)
def i32_shr_s(a, b): return (_signed32(a) >> (b & 31)) & M32


def i32_rotl(a, b):
    k = b & 31
    return ((a << k) | (a >> (32 - k))) & M32


def i32_rotr(a, b):
    k = b & 31
    return ((a >> k) | (a << (32 - k))) & M32


def i32_clz(a): return 32 - a.bit_length()
def i32_ctz(a): return (a & -a).bit_length() - 1 if a else 32
def i32_popcnt(a): return a.bit_count()


def i32_div_u(a, b):
    if not b:
        trap(TrapCode.INTEGER_DIVISION_BY_ZERO)
    return a // b


def i32_rem_u(a, b):
    if not b:
        trap(TrapCode.INTEGER_DIVISION_BY_ZERO)
    return a % b


def i32_div_s(a, b):
    if not b:
        trap(TrapCode.INTEGER_DIVISION_BY_ZERO)
    # spec 4.3.2 idiv_s: the quotient 2^31 of -2^31 / -1 is not representable.
    if a == _S32 and b == M32:
        trap(TrapCode.INTEGER_OVERFLOW)
    x, y = _signed32(a), _signed32(b)
    q = abs(x) // abs(y)           # truncation toward zero, unlike Python's floor division
    return (q if (x < 0) == (y < 0) else -q) & M32


def i32_rem_s(a, b):
    if not b:
        trap(TrapCode.INTEGER_DIVISION_BY_ZERO)
    x, y = _signed32(a), _signed32(b)
    r = abs(x) % abs(y)            # the remainder takes the dividend's sign
    return (-r if x < 0 else r) & M32


def i32_eqz(a): return 1 if a == 0 else 0
def i32_eq(a, b): return 1 if a == b else 0
def i32_ne(a, b): return 1 if a != b else 0
def i32_lt_u(a, b): return 1 if a < b else 0
def i32_gt_u(a, b): return 1 if a > b else 0
def i32_le_u(a, b): return 1 if a <= b else 0
def i32_ge_u(a, b): return 1 if a >= b else 0
def i32_lt_s(a, b): return 1 if (a ^ _S32) < (b ^ _S32) else 0
def i32_gt_s(a, b): return 1 if (a ^ _S32) > (b ^ _S32) else 0
def i32_le_s(a, b): return 1 if (a ^ _S32) <= (b ^ _S32) else 0
def i32_ge_s(a, b): return 1 if (a ^ _S32) >= (b ^ _S32) else 0
def i32_extend8_s(a): return (((a & 0xFF) ^ 0x80) - 0x80) & M32
def i32_extend16_s(a): return (((a & 0xFFFF) ^ 0x8000) - 0x8000) & M32


# ----- i64 -----

def i64_add(a, b): return (a + b) & M64
def i64_sub(a, b): return (a - b) & M64
def i64_mul(a, b): return (a * b) & M64
def i64_and(a, b): return a & b
def i64_or(a, b): return a | b
def i64_xor(a, b): return a ^ b
def i64_shl(a, b): return (a << (b & 63)) & M64
def i64_shr_u(a, b): return a >> (b & 63)
def i64_shr_s(a, b): return (_signed64(a) >> (b & 63)) & M64


def i64_rotl(a, b):
    k = b & 63
    return ((a << k) | (a >> (64 - k))) & M64


def i64_rotr(a, b):
    k = b & 63
    return ((a >> k) | (a << (64 - k))) & M64


def i64_clz(a): return 64 - a.bit_length()
def i64_ctz(a): return (a & -a).bit_length() - 1 if a else 64
def i64_popcnt(a): return a.bit_count()


def i64_div_u(a, b):
    if not b:
        trap(TrapCode.INTEGER_DIVISION_BY_ZERO)
    return a // b


def i64_rem_u(a, b):
    if not b:
        trap(TrapCode.INTEGER_DIVISION_BY_ZERO)
    return a % b


def i64_div_s(a, b):
    if not b:
        trap(TrapCode.INTEGER_DIVISION_BY_ZERO)
    if a == _S64 and b == M64:
        trap(TrapCode.INTEGER_OVERFLOW)
    x, y = _signed64(a), _signed64(b)
    q = abs(x) // abs(y)
    return (q if (x < 0) == (y < 0) else -q) & M64


def i64_rem_s(a, b):
    if not b:
        trap(TrapCode.INTEGER_DIVISION_BY_ZERO)
    x, y = _signed64(a), _signed64(b)
    r = abs(x) % abs(y)
    return (-r if x < 0 else r) & M64


def i64_eqz(a): return 1 if a == 0 else 0
def i64_eq(a, b): return 1 if a == b else 0
def i64_ne(a, b): return 1 if a != b else 0
def i64_lt_u(a, b): return 1 if a < b else 0
def i64_gt_u(a, b): return 1 if a > b else 0
def i64_le_u(a, b): return 1 if a <= b else 0
def i64_ge_u(a, b): return 1 if a >= b else 0
def i64_lt_s(a, b): return 1 if (a ^ _S64) < (b ^ _S64) else 0
def i64_gt_s(a, b): return 1 if (a ^ _S64) > (b ^ _S64) else 0
def i64_le_s(a, b): return 1 if (a ^ _S64) <= (b ^ _S64) else 0
def i64_ge_s(a, b): return 1 if (a ^ _S64) >= (b ^ _S64) else 0
def i64_extend8_s(a): return (((a & 0xFF) ^ 0x80) - 0x80) & M64
def i64_extend16_s(a): return (((a & 0xFFFF) ^ 0x8000) - 0x8000) & M64
def i64_extend32_s(a): return (((a & M32) ^ _S32) - _S32) & M64


# ----- conversions between integer widths (spec 4.3.4) -----

def i32_wrap_i64(a): return a & M32
def i64_extend_i32_s(a): return ((a ^ _S32) - _S32) & M64
def i64_extend_i32_u(a): return a
