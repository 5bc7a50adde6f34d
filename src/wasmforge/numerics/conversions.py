"""Conversions between number types (spec 4.3.4, "Conversions").

Truncations trap (``invalid conversion to integer`` on NaN, ``integer overflow`` out of
range) or saturate; integer-to-float conversions round to nearest, ties to even, *once*: an
i64 is rounded to binary32 directly from the integer, since going through a double would
round twice (``float(n)`` then :func:`~wasmforge.numerics.bits.f32_round`).
"""

from __future__ import annotations

from ..errors import TrapCode
from .bits import (f32_from_bits, f32_round, f32_to_bits, f64_from_bits, f64_to_bits)
from .ints import M32, M64, trap

_TWO24 = 1 << 24


def _int_to_f32(n: int) -> float:
    """The binary32 nearest to the integer ``n`` (ties to even), as a float."""
    m = -n if n < 0 else n
    if m < _TWO24:
        r = float(m)
    else:
        shift = m.bit_length() - 24
        q = m >> shift
        rest = m & ((1 << shift) - 1)
        half = 1 << (shift - 1)
        if rest > half or (rest == half and q & 1):
            q += 1
        r = float(q << shift)       # at most 25 significant bits: exact in a double
        if r > 3.4028234663852886e38:
            r = float("inf")        # unreachable for 64-bit inputs; kept for any width
    return -r if n < 0 else r


# ----- float -> integer, trapping (spec: trunc) -----
# The bounds are exact: a float x truncates into range exactly when it lies strictly between
# the nearest out-of-range integers, each exactly representable as a double.

def _trunc(x: float, lo: float, hi: float, mask: int) -> int:
    if x != x:
        trap(TrapCode.BAD_CONVERSION_TO_INTEGER)
    if not lo < x < hi:
        trap(TrapCode.INTEGER_OVERFLOW)
    return int(x) & mask


def i32_trunc_f_s(x): return _trunc(x, -2147483649.0, 2147483648.0, M32)
def i32_trunc_f_u(x): return _trunc(x, -1.0, 4294967296.0, M32)
# -2**63 - 1 is not a double; the double just below -2**63 is -2**63 - 2048.
def i64_trunc_f_s(x): return _trunc(x, -9223372036854777856.0, 9223372036854775808.0, M64)
def i64_trunc_f_u(x): return _trunc(x, -1.0, 18446744073709551616.0, M64)


# ----- float -> integer, saturating (spec: trunc_sat) -----

def _trunc_sat(x: float, lo: int, hi: int, mask: int) -> int:
    if x != x:
        return 0
    if x <= lo:
        return lo & mask
    if x >= hi:
        return hi & mask
    return int(x) & mask


def i32_trunc_sat_f_s(x): return _trunc_sat(x, -0x80000000, 0x7FFFFFFF, M32)
def i32_trunc_sat_f_u(x): return _trunc_sat(x, 0, M32, M32)
def i64_trunc_sat_f_s(x): return _trunc_sat(x, -0x8000000000000000, 0x7FFFFFFFFFFFFFFF, M64)
def i64_trunc_sat_f_u(x): return _trunc_sat(x, 0, M64, M64)


# ----- integer -> float (spec: convert) -----

def f32_convert_i32_s(a): return f32_round(float((a ^ 0x80000000) - 0x80000000))
def f32_convert_i32_u(a): return f32_round(float(a))
def f32_convert_i64_s(a): return _int_to_f32((a ^ 0x8000000000000000) - 0x8000000000000000)
def f32_convert_i64_u(a): return _int_to_f32(a)
def f64_convert_i32_s(a): return float((a ^ 0x80000000) - 0x80000000)
def f64_convert_i32_u(a): return float(a)
# int -> double conversion in CPython rounds correctly (half to even).
def f64_convert_i64_s(a): return float((a ^ 0x8000000000000000) - 0x8000000000000000)
def f64_convert_i64_u(a): return float(a)


# ----- between float widths -----

def f32_demote_f64(x):
    # The C double -> float cast behind f32_round keeps a NaN's top payload bits and quiets
    # it: a canonical NaN stays canonical, any other becomes arithmetic (spec: demote).
    return f32_round(x)


def f64_promote_f32(x):
    # Exact for numbers (including -0 and the infinities); quiets a signalling NaN, which
    # the spec requires of promote.
    return x * 1.0


# ----- reinterpretations (spec: reinterpret), bit-exact -----

i32_reinterpret_f32 = f32_to_bits
i64_reinterpret_f64 = f64_to_bits
f32_reinterpret_i32 = f32_from_bits
f64_reinterpret_i64 = f64_from_bits
