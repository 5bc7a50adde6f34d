"""Semantics of the 128-bit vector instructions (spec 4.3 "Numerics", 4.4.3 "Vector Instructions").

A ``v128`` is an unsigned Python int in ``[0, 2**128)`` with lane 0 in the low bits (see
:mod:`wasmforge.numerics.bits`), so its little-endian byte string is the lanes in order.
Operations pick the cheapest route to the lanes:

* bitwise operations, and every integer operation that SWAR arithmetic can do lane-parallel
  on the whole int (splat, add, sub, neg, comparisons, min/max, saturating add/sub, shifts,
  avgr_u, extadd_pairwise, all_true), are a handful of big-int operations;
* ``i8x16.abs`` and ``i8x16.popcnt`` translate the 16 bytes through a 256-byte table;
* the rest unpack lanes with precompiled :class:`struct.Struct` objects and compute with
  ``map`` over C-level builtins or a flat comprehension, keeping Python-level calls per lane
  for the rare cases (a NaN, a zero divisor, an infinity).

Public names (the contract with the execution tiers):

``IMPL[name](*operands, *immediates)``
    every ``0xFD`` instruction whose immediate kind is ``-``, ``laneidx`` or ``shuffle``;
    operands in stack order, then the immediate (a lane index, or the 16 shuffle indices).
``LOAD[name](raw)``
    ``v128.load`` and its extending, splatting and zero-filling variants: ``raw`` holds the
    bytes the instruction reads, the tier has done the bounds check.
``lane_get(v, lane_bits, lane)`` / ``lane_set(v, lane_bits, lane, value)``
    a lane's raw bits, for ``v128.loadN_lane`` / ``v128.storeN_lane``.

Inputs are assumed valid (validation guarantees lane indices are in range and operand types
match); float lanes follow the scalar rules of spec 4.3.3 exactly, with f32 lanes computed in
double precision and rounded once to binary32 (exact for + - * / sqrt, which double rounding
through binary64 cannot spoil).
"""

from __future__ import annotations

import math
import struct
from fractions import Fraction
from operator import add, and_, eq, ge, gt, le, lt, mul, ne, neg, sub, truediv
from typing import Callable, Dict

from .bits import MASK32, MASK128, f32_from_bits, f32_round, f32_to_bits, f64_from_bits, f64_to_bits

_from_bytes = int.from_bytes
_copysign = math.copysign
_sqrt = math.sqrt
_ceil = math.ceil
_floor = math.floor
_trunc = math.trunc
_INF = math.inf
_NAN = math.nan          # the canonical NaN: 0x7FF8000000000000 (and 0x7FC00000 as binary32)

# ----- lane layouts ------------------------------------------------------------------------

_S8, _U8 = struct.Struct("<16b"), struct.Struct("<16B")
_S16, _U16 = struct.Struct("<8h"), struct.Struct("<8H")
_S32, _U32 = struct.Struct("<4i"), struct.Struct("<4I")
_S64, _U64 = struct.Struct("<2q"), struct.Struct("<2Q")
_F32 = struct.Struct("<4f")
_F64 = struct.Struct("<2d")
# Half-vectors: the low or high 8 bytes viewed as lanes of the narrower shape.
_S8H, _U8H = struct.Struct("<8b"), struct.Struct("<8B")
_S16H, _U16H = struct.Struct("<4h"), struct.Struct("<4H")
_S32H, _U32H = struct.Struct("<2i"), struct.Struct("<2I")
_F32H = struct.Struct("<2f")

_SIGNED = {8: _S8, 16: _S16, 32: _S32, 64: _S64}
_UNSIGNED = {8: _U8, 16: _U16, 32: _U32, 64: _U64}
_HALF_SIGNED = {8: _S8H, 16: _S16H, 32: _S32H}
_HALF_UNSIGNED = {8: _U8H, 16: _U16H, 32: _U32H}


def _rep(lane_bits: int, value: int) -> int:
    """``value`` (one lane's bits) repeated in every lane of a v128."""
    out = 0
    for i in range(0, 128, lane_bits):
        out |= value << i
    return out


# Per lane width: all-ones lane, the lane's top bit in every lane (H), the other bits (L),
# and bit 0 of every lane (ONE).  Multiplying ONE-shaped values by a lane pattern never
# carries across lanes, which is how splats and masks are built.
_LANE_MASK = {w: (1 << w) - 1 for w in (8, 16, 32, 64)}
_HI = {w: _rep(w, 1 << (w - 1)) for w in (8, 16, 32, 64)}
_LO = {w: MASK128 ^ _HI[w] for w in (8, 16, 32, 64)}
_ONE = {w: _rep(w, 1) for w in (8, 16, 32, 64)}

_F32_SIGNS = _HI[32]
_F64_SIGNS = _HI[64]


# ----- lanes for the memory instructions ---------------------------------------------------

def lane_get(v: int, lane_bits: int, lane: int) -> int:
    """The raw (unsigned) bits of lane ``lane`` of ``v`` viewed as ``lane_bits``-bit lanes."""
    return (v >> (lane * lane_bits)) & ((1 << lane_bits) - 1)


def lane_set(v: int, lane_bits: int, lane: int, value: int) -> int:
    """``v`` with lane ``lane`` (of ``lane_bits`` bits) replaced by the low bits of ``value``."""
    shift = lane * lane_bits
    mask = (1 << lane_bits) - 1
    return (v & ~(mask << shift)) | ((value & mask) << shift)


# ----- splat, extract_lane, replace_lane (spec 4.4.3) ----------------------------------------

def _splat(w):
    mask, one = _LANE_MASK[w], _ONE[w]

    def splat(x):
        return (x & mask) * one
    return splat


def f32x4_splat(x: float) -> int:
    return f32_to_bits(x) * _ONE[32]


def f64x2_splat(x: float) -> int:
    return f64_to_bits(x) * _ONE[64]


def _extract_u(w):
    mask = _LANE_MASK[w]

    def extract_lane(v, lane):
        return (v >> (lane * w)) & mask
    return extract_lane


def _extract_s(w):
    # The result is an i32 in the value model's unsigned form: sign-extend to 32 bits.
    mask, sign, ext = _LANE_MASK[w], 1 << (w - 1), MASK32 ^ _LANE_MASK[w]

    def extract_lane_s(v, lane):
        x = (v >> (lane * w)) & mask
        return x | ext if x & sign else x
    return extract_lane_s


def _replace(w):
    mask = _LANE_MASK[w]

    def replace_lane(v, x, lane):
        shift = lane * w
        return (v & ~(mask << shift)) | ((x & mask) << shift)
    return replace_lane


def f32x4_extract_lane(v: int, lane: int) -> float:
    return f32_from_bits((v >> (lane * 32)) & MASK32)


def f32x4_replace_lane(v: int, x: float, lane: int) -> int:
    shift = lane * 32
    return (v & ~(MASK32 << shift)) | (f32_to_bits(x) << shift)


def f64x2_extract_lane(v: int, lane: int) -> float:
    return f64_from_bits((v >> (lane * 64)) & _LANE_MASK[64])


def f64x2_replace_lane(v: int, x: float, lane: int) -> int:
    shift = lane * 64
    return (v & ~(_LANE_MASK[64] << shift)) | (f64_to_bits(x) << shift)


# ----- shuffle and swizzle (spec 4.4.3) ---------------------------------------------------

def i8x16_shuffle(a: int, b: int, lanes: tuple) -> int:
    """Pick 16 bytes out of the 32 of ``a`` then ``b`` (indices validated to be < 32)."""
    src = a.to_bytes(16, "little") + b.to_bytes(16, "little")
    return _from_bytes(bytes(map(src.__getitem__, lanes)), "little")


_ZEROS240 = bytes(240)


def i8x16_swizzle(a: int, s: int) -> int:
    """Lane i = a[s[i]], or 0 when s[i] >= 16: padding ``a`` to 256 bytes makes any byte a
    valid index."""
    src = a.to_bytes(16, "little") + _ZEROS240
    return _from_bytes(bytes(map(src.__getitem__, s.to_bytes(16, "little"))), "little")


# ----- v128 bitwise (spec 4.3.2 ibits: inot, iand, iandnot, ior, ixor, ibitselect) ----------

def v128_not(a: int) -> int:
    return a ^ MASK128


def v128_and(a: int, b: int) -> int:
    return a & b


def v128_andnot(a: int, b: int) -> int:
    return a & (b ^ MASK128)


def v128_or(a: int, b: int) -> int:
    return a | b


def v128_xor(a: int, b: int) -> int:
    return a ^ b


def v128_bitselect(a: int, b: int, c: int) -> int:
    return (a & c) | (b & (c ^ MASK128))


def v128_any_true(a: int) -> int:
    return 1 if a else 0


# ----- integer lanes: SWAR on the whole int ------------------------------------------------

def _iadd(w):
    hi, lo = _HI[w], _LO[w]

    def iadd(a, b):
        # Add the low w-1 bits of each lane (no carry can leave a lane), then fix the top bit.
        return ((a & lo) + (b & lo)) ^ ((a ^ b) & hi)
    return iadd


def _isub(w):
    hi, lo = _HI[w], _LO[w]

    def isub(a, b):
        # Setting each lane's top bit of `a` keeps borrows inside the lane; fix the top bit after.
        return ((a | hi) - (b & lo)) ^ ((a ^ b ^ hi) & hi)
    return isub


def _ineg(w):
    hi, lo = _HI[w], _LO[w]

    def ineg(a):
        return (hi - (a & lo)) ^ ((a ^ hi) & hi)
    return ineg


# A lane of x is non-zero iff ((x & lo) + lo) | x has the lane's top bit set: adding lo (all
# bits but the top) to the low bits carries into the top bit exactly when they are non-zero.

def _ieq(w):
    hi, lo, lanes, top = _HI[w], _LO[w], _LANE_MASK[w], w - 1

    def ieq(a, b):
        x = a ^ b
        return (((((x & lo) + lo) | x) & hi ^ hi) >> top) * lanes
    return ieq


def _ine(w):
    hi, lo, lanes, top = _HI[w], _LO[w], _LANE_MASK[w], w - 1

    def ine(a, b):
        x = a ^ b
        return (((((x & lo) + lo) | x) & hi) >> top) * lanes
    return ine


def _all_true(w):
    hi, lo = _HI[w], _LO[w]

    def all_true(a):
        return 1 if (((a & lo) + lo) | a) & hi == hi else 0
    return all_true


# Shift counts are taken modulo the lane width (spec 4.3.2 ishl, ishr_u, ishr_s: k = i2 mod N).
def _shl(w):
    masks = tuple(_rep(w, (_LANE_MASK[w] << c) & _LANE_MASK[w]) for c in range(w))
    cmask = w - 1

    def shl(a, n):
        c = n & cmask
        return (a << c) & masks[c]
    return shl


def _shr_u(w):
    masks = tuple(_rep(w, _LANE_MASK[w] >> c) for c in range(w))
    cmask = w - 1

    def shr_u(a, n):
        c = n & cmask
        return (a >> c) & masks[c]
    return shr_u


def _shr_s(w):
    masks = tuple(_rep(w, _LANE_MASK[w] >> c) for c in range(w))
    fills = tuple(((1 << c) - 1) << (w - c) for c in range(w))   # top c bits of a lane
    one, top, cmask = _ONE[w], w - 1, w - 1

    def shr_s(a, n):
        c = n & cmask
        return ((a >> c) & masks[c]) | ((a >> top) & one) * fills[c]
    return shr_s


def _avgr_u(w):
    low_bits = _rep(w, _LANE_MASK[w] >> 1)

    def avgr_u(a, b):
        # (x + y + 1) >> 1 == (x | y) - ((x ^ y) >> 1), lane by lane, without overflow.
        return (a | b) - (((a ^ b) >> 1) & low_bits)
    return avgr_u


# Ordering and saturation, still SWAR.  The borrow out of each lane's top bit when
# subtracting b from a is set exactly where a < b unsigned; flipping the top bits of both
# operands first turns that into a signed comparison.  A "lane mask" has every bit of a lane
# set where a condition holds: (top bits >> (w - 1)) * lane_mask, which cannot carry.

def _icmp(w, signed, name):
    """lt/gt/le/ge: a < b, its negation (ge), and both with the operands swapped (gt, le)."""
    hi, lo, lanes, top = _HI[w], _LO[w], _LANE_MASK[w], w - 1
    flip = hi if signed else 0
    negate = MASK128 if name in ("ge", "le") else 0

    if name in ("lt", "ge"):
        def cmp(a, b):
            a ^= flip
            b ^= flip
            diff = ((a | hi) - (b & lo)) ^ ((a ^ b ^ hi) & hi)
            return ((((~a & b) | (~(a ^ b) & diff)) & hi) >> top) * lanes ^ negate
        return cmp

    def cmp_swapped(b, a):
        a ^= flip
        b ^= flip
        diff = ((a | hi) - (b & lo)) ^ ((a ^ b ^ hi) & hi)
        return ((((~a & b) | (~(a ^ b) & diff)) & hi) >> top) * lanes ^ negate
    return cmp_swapped


def _iminmax(w, signed, take_min):
    """min/max: select a's or b's lanes through the lane mask of a < b."""
    hi, lo, lanes, top = _HI[w], _LO[w], _LANE_MASK[w], w - 1
    flip = hi if signed else 0

    def iminmax(a, b):
        x = a ^ flip
        y = b ^ flip
        diff = ((x | hi) - (y & lo)) ^ ((x ^ y ^ hi) & hi)
        a_less = ((((~x & y) | (~(x ^ y) & diff)) & hi) >> top) * lanes
        return (b if take_min else a) ^ ((a ^ b) & a_less)
    return iminmax


def _add_sat(w, signed):
    hi, lo, lanes, top = _HI[w], _LO[w], _LANE_MASK[w], w - 1
    smax = _rep(w, (1 << (w - 1)) - 1)

    if signed:
        def add_sat_s(a, b):
            total = ((a & lo) + (b & lo)) ^ ((a ^ b) & hi)          # as in _iadd
            # Overflow where both operands' signs differ from the sum's; the bound is
            # 0x7F..F for a positive operand and 0x80..0 (one more) for a negative one.
            over = ((((a ^ total) & (b ^ total)) & hi) >> top) * lanes
            bound = smax + ((a & hi) >> top)
            return total ^ ((total ^ bound) & over)
        return add_sat_s

    def add_sat_u(a, b):
        total = ((a & lo) + (b & lo)) ^ ((a ^ b) & hi)          # as in _iadd
        # Carry out of each lane's top bit (a full adder's, its carry-in read off the sum).
        carry = ((a & b) | ((a | b) & ~total)) & hi
        return total | (carry >> top) * lanes
    return add_sat_u


def _sub_sat(w, signed):
    hi, lo, lanes, top = _HI[w], _LO[w], _LANE_MASK[w], w - 1
    smax = _rep(w, (1 << (w - 1)) - 1)

    if signed:
        def sub_sat_s(a, b):
            diff = ((a | hi) - (b & lo)) ^ ((a ^ b ^ hi) & hi)       # as in _isub
            # Overflow where the operands' signs differ and the result's sign is not a's.
            over = ((((a ^ b) & (a ^ diff)) & hi) >> top) * lanes
            bound = smax + ((a & hi) >> top)
            return diff ^ ((diff ^ bound) & over)
        return sub_sat_s

    def sub_sat_u(a, b):
        diff = ((a | hi) - (b & lo)) ^ ((a ^ b ^ hi) & hi)       # as in _isub
        borrow = ((~a & b) | (~(a ^ b) & diff)) & hi           # a < b: clamp to 0
        return diff & ~((borrow >> top) * lanes)
    return sub_sat_u


# ----- integer lanes: through struct -------------------------------------------------------

def _imul(w):
    unpack, pack = _UNSIGNED[w].unpack, _UNSIGNED[w].pack
    masks = (_LANE_MASK[w],) * (128 // w)

    def imul(a, b):
        prods = map(mul, unpack(a.to_bytes(16, "little")), unpack(b.to_bytes(16, "little")))
        return _from_bytes(pack(*map(and_, prods, masks)), "little")
    return imul


def _iabs(w):
    # abs of the most negative lane is itself (2**(w-1) read back as unsigned).
    unpack, pack = _SIGNED[w].unpack, _UNSIGNED[w].pack

    def iabs(a):
        return _from_bytes(pack(*map(abs, unpack(a.to_bytes(16, "little")))), "little")
    return iabs


_I8_ABS = bytes(x if x < 128 else (256 - x) & 0xFF for x in range(256))
_I8_POPCNT = bytes(bin(x).count("1") for x in range(256))


def i8x16_abs(a: int) -> int:
    return _from_bytes(a.to_bytes(16, "little").translate(_I8_ABS), "little")


def i8x16_popcnt(a: int) -> int:
    return _from_bytes(a.to_bytes(16, "little").translate(_I8_POPCNT), "little")


_BITS_TO_DIGITS = bytes.maketrans(b"\x00\x01", b"01")


def _bitmask(w):
    # Move each lane's sign bit to bit 0 of the lane, write the lanes big-endian (lane 15
    # first, as the most significant digit) and read the bytes holding those bits as binary.
    one, top, step = _ONE[w], w - 1, w // 8

    def bitmask(a):
        digits = ((a >> top) & one).to_bytes(16, "big")[step - 1::step]
        return int(digits.translate(_BITS_TO_DIGITS), 2)
    return bitmask


def _narrow(w, signed_result):
    """Narrow two vectors of signed w-bit lanes into one of w/2-bit lanes, saturating."""
    unpack = _SIGNED[w].unpack
    half = w // 2
    if signed_result:
        pack = _SIGNED[half].pack
        lo, hi = -(1 << (half - 1)), (1 << (half - 1)) - 1
    else:
        pack = _UNSIGNED[half].pack
        lo, hi = 0, _LANE_MASK[half]

    def narrow(a, b):
        lanes = unpack(a.to_bytes(16, "little")) + unpack(b.to_bytes(16, "little"))
        return _from_bytes(pack(*[hi if x > hi else lo if x < lo else x for x in lanes]), "little")
    return narrow


def _extend(w, signed, high):
    """Widen the low or high half of w-bit lanes to 2w-bit lanes."""
    unpack_from = (_HALF_SIGNED if signed else _HALF_UNSIGNED)[w].unpack_from
    pack = (_SIGNED if signed else _UNSIGNED)[2 * w].pack
    offset = 8 if high else 0

    def extend(a):
        return _from_bytes(pack(*unpack_from(a.to_bytes(16, "little"), offset)), "little")
    return extend


def _extmul(w, signed, high):
    """Multiply the low or high halves, widened to 2w bits (the products always fit)."""
    unpack_from = (_HALF_SIGNED if signed else _HALF_UNSIGNED)[w].unpack_from
    pack = (_SIGNED if signed else _UNSIGNED)[2 * w].pack
    offset = 8 if high else 0

    def extmul(a, b):
        return _from_bytes(pack(*map(mul, unpack_from(a.to_bytes(16, "little"), offset),
                                     unpack_from(b.to_bytes(16, "little"), offset))), "little")
    return extmul


def _extadd_pairwise(w, signed):
    """Sum adjacent w-bit lanes into 2w-bit lanes, lane-parallel: the even lanes (masked in
    place) plus the odd lanes (shifted down) cannot overflow 2w bits.  Signed lanes are
    biased by 2**(w-1) first (flip the top bit) and the doubled bias, 2**w, is subtracted
    from each sum after, with the wrapping 2w-bit subtraction of _isub."""
    even = _rep(2 * w, _LANE_MASK[w])
    if not signed:
        def extadd_pairwise_u(a):
            return (a & even) + ((a >> w) & even)
        return extadd_pairwise_u

    flip, hi2, bias = _HI[w], _HI[2 * w], _rep(2 * w, 1 << w)

    def extadd_pairwise_s(a):
        a ^= flip
        total = (a & even) + ((a >> w) & even)
        return ((total | hi2) - bias) ^ ((total ^ bias ^ hi2) & hi2)
    return extadd_pairwise_s


def i16x8_q15mulr_sat_s(a: int, b: int) -> int:
    """Spec 4.3.2 iq15mulrsat_s: sat_s((i1 * i2 + 2**14) >> 15); only -32768 * -32768 saturates."""
    unpack = _S16.unpack
    products = zip(unpack(a.to_bytes(16, "little")), unpack(b.to_bytes(16, "little")))
    rounded = [(x * y + 0x4000) >> 15 for x, y in products]
    return _from_bytes(_S16.pack(*[0x7FFF if r > 0x7FFF else r for r in rounded]), "little")


def i32x4_dot_i16x8_s(a: int, b: int) -> int:
    """Sum of adjacent signed products; only 2 * (-32768)**2 overflows, wrapping to -2**31."""
    unpack = _S16.unpack
    prods = list(map(mul, unpack(a.to_bytes(16, "little")), unpack(b.to_bytes(16, "little"))))
    return _from_bytes(_U32.pack(*[(x + y) & MASK32 for x, y in zip(prods[0::2], prods[1::2])]),
                       "little")


# ----- float lanes ---------------------------------------------------------------------------
#
# f64 lanes unpack bit-exactly ('d' copies the bits); 'f' turns a signalling binary32 NaN
# into a quiet one.  Either way an arithmetic result that is NaN comes out quiet with the
# payload of an input NaN, or as the canonical NaN when no input was a NaN, which is what
# spec 4.3.3 allows: canonical in, canonical out; otherwise any arithmetic NaN.

def _f32_pack(lanes) -> int:
    """Round double results to binary32 lanes (ties to even, overflowing to infinity)."""
    try:
        return _from_bytes(_F32.pack(*lanes), "little")
    except OverflowError:          # struct refuses finite doubles beyond binary32's range
        return _from_bytes(_F32.pack(*map(f32_round, lanes)), "little")


def _f64_pack(lanes) -> int:
    return _from_bytes(_F64.pack(*lanes), "little")


def _fdiv(x: float, y: float) -> float:
    """IEEE division; Python raises where IEEE returns an infinity or NaN."""
    if y:
        return x / y
    if x != x:
        return x + y               # NaN / 0 propagates the NaN
    if not x:
        return _NAN                # 0 / 0
    return _copysign(_INF, _copysign(1.0, x) * _copysign(1.0, y))


def _fsqrt(x: float) -> float:
    if x < 0:                      # -0 is not < 0: sqrt(-0) = -0
        return _NAN
    return _sqrt(x)


def _fmin(x: float, y: float) -> float:
    """Spec fmin: NaN if either is NaN, -0 below +0."""
    if x < y:
        return x
    if y < x:
        return y
    if x == y:
        return y if x == 0 and _copysign(1.0, y) < 0 else x
    return x + y                   # a NaN operand: propagate it (quieted)


def _fmax(x: float, y: float) -> float:
    """Spec fmax: NaN if either is NaN, +0 above -0."""
    if x > y:
        return x
    if y > x:
        return y
    if x == y:
        return y if x == 0 and _copysign(1.0, y) > 0 else x
    return x + y


# Rounding to an integral value (spec fceil, ffloor, ftrunc, fnearest) uses math.ceil, floor,
# trunc and round, which return exact ints (round() on a float rounds half to even);
# copysign restores the sign of a zero result: ceil(-0.5) = -0, nearest(-0.4) = -0.  They
# raise on infinities (OverflowError) and NaNs (ValueError), which fall to the per-lane path.

def _round_special(to_int, x: float) -> float:
    if x - x == 0:
        return _copysign(float(to_int(x)), x)
    return x + x                   # infinities stay; a NaN is quieted


def _rounding(to_int, unpack, pack):
    def f(a):
        xs = unpack(a.to_bytes(16, "little"))
        try:
            return pack([_copysign(float(to_int(x)), x) for x in xs])
        except (OverflowError, ValueError):
            return pack([_round_special(to_int, x) for x in xs])
    return f


def _f32_binary(op):
    unpack = _F32.unpack

    def f(a, b):
        return _f32_pack(list(map(op, unpack(a.to_bytes(16, "little")),
                                  unpack(b.to_bytes(16, "little")))))
    return f


def _f64_binary(op):
    unpack, pack = _F64.unpack, _F64.pack

    def f(a, b):
        return _from_bytes(pack(*map(op, unpack(a.to_bytes(16, "little")),
                                     unpack(b.to_bytes(16, "little")))), "little")
    return f


def _fdiv_lanes(unpack, pack):
    def div(a, b):
        xs, ys = unpack(a.to_bytes(16, "little")), unpack(b.to_bytes(16, "little"))
        try:
            return pack(list(map(truediv, xs, ys)))
        except ZeroDivisionError:
            return pack(list(map(_fdiv, xs, ys)))
    return div


def _fminmax_lanes(unpack, pack, take_min):
    # Ordered, unequal lanes inline; equal lanes (signed zeros) and NaNs go through _fmin/_fmax.
    if take_min:
        def fmin(a, b):
            return pack([x if x < y else y if y < x else _fmin(x, y) for x, y in zip(
                unpack(a.to_bytes(16, "little")), unpack(b.to_bytes(16, "little")))])
        return fmin

    def fmax(a, b):
        return pack([x if x > y else y if y > x else _fmax(x, y) for x, y in zip(
            unpack(a.to_bytes(16, "little")), unpack(b.to_bytes(16, "little")))])
    return fmax


def f32x4_sqrt(a: int) -> int:
    xs = _F32.unpack(a.to_bytes(16, "little"))
    try:
        return _f32_pack(list(map(_sqrt, xs)))
    except ValueError:             # a negative lane
        return _f32_pack(list(map(_fsqrt, xs)))


def f64x2_sqrt(a: int) -> int:
    xs = _F64.unpack(a.to_bytes(16, "little"))
    try:
        return _from_bytes(_F64.pack(*map(_sqrt, xs)), "little")
    except ValueError:
        return _from_bytes(_F64.pack(*map(_fsqrt, xs)), "little")


# Spec fpmin(z1, z2) = z2 if z2 < z1 else z1, fpmax(z1, z2) = z2 if z1 < z2 else z1: no
# arithmetic, so a NaN operand comes back bit-exact.

def _f32_pselect(take_min):
    """pmin/pmax on binary32 lanes: compare as floats, return the original lane bits
    (unpacking with 'f' would quiet a signalling NaN)."""
    funpack, iunpack, ipack = _F32.unpack, _U32.unpack, _U32.pack
    if take_min:
        def pmin(a, b):
            ab, bb = a.to_bytes(16, "little"), b.to_bytes(16, "little")
            return _from_bytes(ipack(*[yb if y < x else xb for x, y, xb, yb in zip(
                funpack(ab), funpack(bb), iunpack(ab), iunpack(bb))]), "little")
        return pmin

    def pmax(a, b):
        ab, bb = a.to_bytes(16, "little"), b.to_bytes(16, "little")
        return _from_bytes(ipack(*[yb if x < y else xb for x, y, xb, yb in zip(
            funpack(ab), funpack(bb), iunpack(ab), iunpack(bb))]), "little")
    return pmax


def _f64_pselect(take_min):
    """pmin/pmax on binary64 lanes ('d' round-trips every bit pattern, NaNs included)."""
    unpack, pack = _F64.unpack, _F64.pack
    if take_min:
        def pmin(a, b):
            return _from_bytes(pack(*[y if y < x else x for x, y in zip(
                unpack(a.to_bytes(16, "little")), unpack(b.to_bytes(16, "little")))]), "little")
        return pmin

    def pmax(a, b):
        return _from_bytes(pack(*[y if x < y else x for x, y in zip(
            unpack(a.to_bytes(16, "little")), unpack(b.to_bytes(16, "little")))]), "little")
    return pmax


# abs and neg only touch the sign bit (spec fabs/fneg: NaN payloads are preserved).
def f32x4_abs(a: int) -> int:
    return a & ~_F32_SIGNS


def f32x4_neg(a: int) -> int:
    return a ^ _F32_SIGNS


def f64x2_abs(a: int) -> int:
    return a & ~_F64_SIGNS


def f64x2_neg(a: int) -> int:
    return a ^ _F64_SIGNS


def _compare(unpack, pack, op):
    """A comparison: each lane all ones (-1 packed signed) where ``op`` holds, else zero."""
    def f(a, b):
        return _from_bytes(pack(*map(neg, map(op, unpack(a.to_bytes(16, "little")),
                                              unpack(b.to_bytes(16, "little"))))), "little")
    return f


def _fcmp(shape, op):
    if shape == 32:
        return _compare(_F32.unpack, _S32.pack, op)
    return _compare(_F64.unpack, _S64.pack, op)


# ----- conversions (spec 4.3.4) --------------------------------------------------------------

# trunc_sat (spec 4.3.4): NaN -> 0, out of range -> the nearest bound, else truncate.

def _sat_s32(x: float) -> int:
    if x != x:
        return 0
    if x >= 2147483647.0:
        return 2147483647
    if x <= -2147483648.0:
        return -2147483648
    return int(x)


def _sat_u32(x: float) -> int:
    if not x > 0:                  # NaN, negatives, and zeros
        return 0
    if x >= 4294967295.0:
        return 4294967295
    return int(x)


def i32x4_trunc_sat_f32x4_s(a: int) -> int:
    xs = _F32.unpack(a.to_bytes(16, "little"))
    return _from_bytes(_S32.pack(*[
        0 if x != x else 2147483647 if x >= 2147483647.0 else -2147483648 if x <= -2147483648.0
        else int(x) for x in xs]), "little")


def i32x4_trunc_sat_f32x4_u(a: int) -> int:
    xs = _F32.unpack(a.to_bytes(16, "little"))
    return _from_bytes(_U32.pack(*[
        0 if not x > 0 else 4294967295 if x >= 4294967295.0 else int(x) for x in xs]), "little")


def i32x4_trunc_sat_f64x2_s_zero(a: int) -> int:
    x, y = _F64.unpack(a.to_bytes(16, "little"))
    return (_sat_s32(x) & MASK32) | ((_sat_s32(y) & MASK32) << 32)


def i32x4_trunc_sat_f64x2_u_zero(a: int) -> int:
    x, y = _F64.unpack(a.to_bytes(16, "little"))
    return _sat_u32(x) | (_sat_u32(y) << 32)


def f32x4_convert_i32x4_s(a: int) -> int:
    # Every i32/u32 is exact as a double, so packing to 'f' rounds exactly once.
    return _from_bytes(_F32.pack(*_S32.unpack(a.to_bytes(16, "little"))), "little")


def f32x4_convert_i32x4_u(a: int) -> int:
    return _from_bytes(_F32.pack(*_U32.unpack(a.to_bytes(16, "little"))), "little")


def f64x2_convert_low_i32x4_s(a: int) -> int:
    return _from_bytes(_F64.pack(*_S32H.unpack_from(a.to_bytes(16, "little"))), "little")


def f64x2_convert_low_i32x4_u(a: int) -> int:
    return _from_bytes(_F64.pack(*_U32H.unpack_from(a.to_bytes(16, "little"))), "little")


def f32x4_demote_f64x2_zero(a: int) -> int:
    """Round both f64 lanes to binary32 into lanes 0-1; lanes 2-3 are +0."""
    x, y = _F64.unpack(a.to_bytes(16, "little"))
    try:
        return _from_bytes(_F32H.pack(x, y), "little")
    except OverflowError:
        return _from_bytes(_F32H.pack(f32_round(x), f32_round(y)), "little")


def f64x2_promote_low_f32x4(a: int) -> int:
    return _from_bytes(_F64.pack(*_F32H.unpack_from(a.to_bytes(16, "little"))), "little")


# ----- relaxed SIMD (the relaxed-simd proposal) ----------------------------------------------
#
# The proposal lets each instruction return any of a few results; wasmforge fixes one choice,
# the one wasmtime makes on x86-64 (docs/features.md, "Relaxed SIMD"), and the llvm tier
# (llvm/simd.py) computes the very same bits.

def i8x16_relaxed_swizzle(a: int, s: int) -> int:
    """x86 ``pshufb``: lane i = 0 when bit 7 of s[i] is set, else a[s[i] & 15]."""
    src = a.to_bytes(16, "little")
    return _from_bytes(bytes([0 if i & 0x80 else src[i & 15] for i in s.to_bytes(16, "little")]),
                       "little")


def _cvtt_s32(x: float) -> int:
    """x86 ``cvttps2dq``/``cvttpd2dq`` on one lane: truncation, or 0x80000000 for a NaN or a
    value out of i32's range."""
    if -2147483649.0 < x < 2147483648.0:
        return _trunc(x) & MASK32
    return 0x80000000


def i32x4_relaxed_trunc_f32x4_s(a: int) -> int:
    return _from_bytes(_U32.pack(*map(_cvtt_s32, _F32.unpack(a.to_bytes(16, "little")))),
                       "little")


def i32x4_relaxed_trunc_f64x2_s_zero(a: int) -> int:
    return _from_bytes(_U32H.pack(*map(_cvtt_s32, _F64.unpack(a.to_bytes(16, "little")))),
                       "little")


def _fma(x: float, y: float, z: float, single: bool) -> float:
    """x * y + z rounded once (to binary32 when ``single``: the operands are binary32 values
    then).  A NaN result is returned as ``nan`` (the tiers store it canonical)."""
    if x != x or y != y or z != z:
        return _NAN
    if math.isinf(x) or math.isinf(y):
        p = x * y                   # exact: infinite, or NaN for inf * 0
        if p != p or (math.isinf(z) and z != p):
            return _NAN
        return p
    if math.isinf(z):
        return z
    r = Fraction(x) * Fraction(y) + Fraction(z)
    if not r:
        # An exact zero is -0 only as the sum of a -0 product and -0 (round to nearest).
        negative = (x == 0 or y == 0) and _copysign(1.0, x) * _copysign(1.0, y) < 0 \
            and _copysign(1.0, z) < 0
        return -0.0 if negative else 0.0
    try:
        d = r.numerator / r.denominator          # correctly rounded to binary64
    except OverflowError:
        return _INF if r > 0 else -_INF
    if single:
        # Round to odd in binary64 first: rounding that to binary32 is then exact rounding
        # of r (53 >= 2 * 24 + 2), where plain double rounding could be off by one ulp.
        if Fraction(d) != r and not f64_to_bits(d) & 1:
            d = math.nextafter(d, _INF if r > d else -_INF)
        return f32_round(d)
    return d


def _relaxed_madd(single: bool, negate: bool):
    unpack, pack = (_F32.unpack, _f32_pack) if single else (_F64.unpack, _f64_pack)
    sign = -1.0 if negate else 1.0

    def madd(a: int, b: int, c: int) -> int:
        xs = unpack(a.to_bytes(16, "little"))
        ys = unpack(b.to_bytes(16, "little"))
        zs = unpack(c.to_bytes(16, "little"))
        return pack([_fma(sign * x, y, z, single) for x, y, z in zip(xs, ys, zs)])
    return madd


def _relaxed_laneselect(w):
    """x86 ``pblendvb``/``blendvps``/``blendvpd``: lane i = a's when the top bit of c's lane i is
    set, else b's (i16x8, which has no blendv, is ``v128.bitselect``)."""
    if w == 16:
        return v128_bitselect
    hi, ones = _HI[w], _LANE_MASK[w]
    shift = w - 1

    def laneselect(a: int, b: int, c: int) -> int:
        m = ((c & hi) >> shift) * ones
        return (a & m) | (b & (m ^ MASK128))
    return laneselect


def i16x8_relaxed_q15mulr_s(a: int, b: int) -> int:
    """x86 ``pmulhrsw``: (a * b + 2**14) >> 15, wrapping (-32768 * -32768 gives -32768)."""
    unpack = _S16.unpack
    products = zip(unpack(a.to_bytes(16, "little")), unpack(b.to_bytes(16, "little")))
    return _from_bytes(_U16.pack(*[((x * y + 0x4000) >> 15) & 0xFFFF for x, y in products]),
                       "little")


def _dot_i8x16_i7x16(a: int, b: int) -> list:
    """x86 ``pmaddubsw`` with a's bytes signed and b's unsigned: adjacent products summed,
    saturated to i16."""
    ps = list(map(mul, _S8.unpack(a.to_bytes(16, "little")), _U8.unpack(b.to_bytes(16, "little"))))
    return [max(-0x8000, min(0x7FFF, x + y)) for x, y in zip(ps[0::2], ps[1::2])]


def i16x8_relaxed_dot_i8x16_i7x16_s(a: int, b: int) -> int:
    return _from_bytes(_S16.pack(*_dot_i8x16_i7x16(a, b)), "little")


def i32x4_relaxed_dot_i8x16_i7x16_add_s(a: int, b: int, c: int) -> int:
    """The i16 dot products above, adjacent pairs summed to i32, plus c (wrapping)."""
    d = _dot_i8x16_i7x16(a, b)
    cs = _U32.unpack(c.to_bytes(16, "little"))
    return _from_bytes(_U32.pack(*[(x + y + z) & MASK32 for x, y, z in zip(d[0::2], d[1::2], cs)]),
                       "little")


# ----- the tables ----------------------------------------------------------------------------

_ISHAPES = (("i8x16", 8), ("i16x8", 16), ("i32x4", 32), ("i64x2", 64))

IMPL: Dict[str, Callable] = {
    "i8x16.shuffle": i8x16_shuffle,
    "i8x16.swizzle": i8x16_swizzle,
    "f32x4.splat": f32x4_splat,
    "f64x2.splat": f64x2_splat,
    "f32x4.extract_lane": f32x4_extract_lane,
    "f32x4.replace_lane": f32x4_replace_lane,
    "f64x2.extract_lane": f64x2_extract_lane,
    "f64x2.replace_lane": f64x2_replace_lane,
    "v128.not": v128_not,
    "v128.and": v128_and,
    "v128.andnot": v128_andnot,
    "v128.or": v128_or,
    "v128.xor": v128_xor,
    "v128.bitselect": v128_bitselect,
    "v128.any_true": v128_any_true,
    "i8x16.abs": i8x16_abs,
    "i8x16.popcnt": i8x16_popcnt,
    "i16x8.q15mulr_sat_s": i16x8_q15mulr_sat_s,
    "i32x4.dot_i16x8_s": i32x4_dot_i16x8_s,
    "f32x4.abs": f32x4_abs,
    "f32x4.neg": f32x4_neg,
    "f64x2.abs": f64x2_abs,
    "f64x2.neg": f64x2_neg,
    "f32x4.sqrt": f32x4_sqrt,
    "f64x2.sqrt": f64x2_sqrt,
    "i32x4.trunc_sat_f32x4_s": i32x4_trunc_sat_f32x4_s,
    "i32x4.trunc_sat_f32x4_u": i32x4_trunc_sat_f32x4_u,
    "i32x4.trunc_sat_f64x2_s_zero": i32x4_trunc_sat_f64x2_s_zero,
    "i32x4.trunc_sat_f64x2_u_zero": i32x4_trunc_sat_f64x2_u_zero,
    "f32x4.convert_i32x4_s": f32x4_convert_i32x4_s,
    "f32x4.convert_i32x4_u": f32x4_convert_i32x4_u,
    "f64x2.convert_low_i32x4_s": f64x2_convert_low_i32x4_s,
    "f64x2.convert_low_i32x4_u": f64x2_convert_low_i32x4_u,
    "f32x4.demote_f64x2_zero": f32x4_demote_f64x2_zero,
    "f64x2.promote_low_f32x4": f64x2_promote_low_f32x4,
}


def _build_integer_ops() -> None:
    for shape, w in _ISHAPES:
        IMPL[shape + ".splat"] = _splat(w)
        IMPL[shape + ".add"] = _iadd(w)
        IMPL[shape + ".sub"] = _isub(w)
        IMPL[shape + ".neg"] = _ineg(w)
        IMPL[shape + ".eq"] = _ieq(w)
        IMPL[shape + ".ne"] = _ine(w)
        IMPL[shape + ".all_true"] = _all_true(w)
        IMPL[shape + ".bitmask"] = _bitmask(w)
        IMPL[shape + ".shl"] = _shl(w)
        IMPL[shape + ".shr_s"] = _shr_s(w)
        IMPL[shape + ".shr_u"] = _shr_u(w)
        IMPL[shape + ".replace_lane"] = _replace(w)
        if w != 8:                      # i8x16.abs is a byte table; there is no i8x16.mul
            IMPL[shape + ".abs"] = _iabs(w)
            IMPL[shape + ".mul"] = _imul(w)
        for name in ("lt", "gt", "le", "ge"):
            IMPL[f"{shape}.{name}_s"] = _icmp(w, True, name)
            if w != 64:                 # i64x2 has signed comparisons only
                IMPL[f"{shape}.{name}_u"] = _icmp(w, False, name)
        if w != 64:
            IMPL[shape + ".min_s"] = _iminmax(w, True, True)
            IMPL[shape + ".min_u"] = _iminmax(w, False, True)
            IMPL[shape + ".max_s"] = _iminmax(w, True, False)
            IMPL[shape + ".max_u"] = _iminmax(w, False, False)
        if w <= 16:
            IMPL[shape + ".add_sat_s"] = _add_sat(w, True)
            IMPL[shape + ".add_sat_u"] = _add_sat(w, False)
            IMPL[shape + ".sub_sat_s"] = _sub_sat(w, True)
            IMPL[shape + ".sub_sat_u"] = _sub_sat(w, False)
            IMPL[shape + ".avgr_u"] = _avgr_u(w)
            IMPL[shape + ".extract_lane_s"] = _extract_s(w)
            IMPL[shape + ".extract_lane_u"] = _extract_u(w)
        else:
            IMPL[shape + ".extract_lane"] = _extract_u(w)
    # Widening and narrowing between adjacent shapes.
    for (narrow, w), (wide, _) in zip(_ISHAPES, _ISHAPES[1:]):
        for sign, signed in (("s", True), ("u", False)):
            IMPL[f"{wide}.extend_low_{narrow}_{sign}"] = _extend(w, signed, False)
            IMPL[f"{wide}.extend_high_{narrow}_{sign}"] = _extend(w, signed, True)
            IMPL[f"{wide}.extmul_low_{narrow}_{sign}"] = _extmul(w, signed, False)
            IMPL[f"{wide}.extmul_high_{narrow}_{sign}"] = _extmul(w, signed, True)
            if w <= 16:
                IMPL[f"{wide}.extadd_pairwise_{narrow}_{sign}"] = _extadd_pairwise(w, signed)
                IMPL[f"{narrow}.narrow_{wide}_{sign}"] = _narrow(2 * w, signed)


def _build_float_ops() -> None:
    for shape, w, binary, unpack, pack in (("f32x4", 32, _f32_binary, _F32.unpack, _f32_pack),
                                           ("f64x2", 64, _f64_binary, _F64.unpack, _f64_pack)):
        IMPL[shape + ".add"] = binary(add)
        IMPL[shape + ".sub"] = binary(sub)
        IMPL[shape + ".mul"] = binary(mul)
        IMPL[shape + ".div"] = _fdiv_lanes(unpack, pack)
        IMPL[shape + ".min"] = _fminmax_lanes(unpack, pack, True)
        IMPL[shape + ".max"] = _fminmax_lanes(unpack, pack, False)
        IMPL[shape + ".ceil"] = _rounding(_ceil, unpack, pack)
        IMPL[shape + ".floor"] = _rounding(_floor, unpack, pack)
        IMPL[shape + ".trunc"] = _rounding(_trunc, unpack, pack)
        IMPL[shape + ".nearest"] = _rounding(round, unpack, pack)
        for name, op in (("eq", eq), ("ne", ne), ("lt", lt), ("gt", gt), ("le", le), ("ge", ge)):
            IMPL[f"{shape}.{name}"] = _fcmp(w, op)
    IMPL["f32x4.pmin"] = _f32_pselect(True)
    IMPL["f32x4.pmax"] = _f32_pselect(False)
    IMPL["f64x2.pmin"] = _f64_pselect(True)
    IMPL["f64x2.pmax"] = _f64_pselect(False)


_build_integer_ops()
_build_float_ops()


def _build_relaxed_ops() -> None:
    """relaxed-simd: the x86-64 choices above; where x86 agrees with a deterministic
    instruction, that instruction (unsigned truncations saturate, min/max are pmin/pmax)."""
    IMPL.update({
        "i8x16.relaxed_swizzle": i8x16_relaxed_swizzle,
        "i32x4.relaxed_trunc_f32x4_s": i32x4_relaxed_trunc_f32x4_s,
        "i32x4.relaxed_trunc_f32x4_u": IMPL["i32x4.trunc_sat_f32x4_u"],
        "i32x4.relaxed_trunc_f64x2_s_zero": i32x4_relaxed_trunc_f64x2_s_zero,
        "i32x4.relaxed_trunc_f64x2_u_zero": IMPL["i32x4.trunc_sat_f64x2_u_zero"],
        "f32x4.relaxed_madd": _relaxed_madd(True, False),
        "f32x4.relaxed_nmadd": _relaxed_madd(True, True),
        "f64x2.relaxed_madd": _relaxed_madd(False, False),
        "f64x2.relaxed_nmadd": _relaxed_madd(False, True),
        "f32x4.relaxed_min": IMPL["f32x4.pmin"],
        "f32x4.relaxed_max": IMPL["f32x4.pmax"],
        "f64x2.relaxed_min": IMPL["f64x2.pmin"],
        "f64x2.relaxed_max": IMPL["f64x2.pmax"],
        "i16x8.relaxed_q15mulr_s": i16x8_relaxed_q15mulr_s,
        "i16x8.relaxed_dot_i8x16_i7x16_s": i16x8_relaxed_dot_i8x16_i7x16_s,
        "i32x4.relaxed_dot_i8x16_i7x16_add_s": i32x4_relaxed_dot_i8x16_i7x16_add_s,
    })
    for shape, w in _ISHAPES:
        IMPL[shape + ".relaxed_laneselect"] = _relaxed_laneselect(w)


_build_relaxed_ops()


# ----- v128 loads (spec 4.4.7 Memory Instructions) -------------------------------------------

def _load_extend(w, signed):
    unpack = (_HALF_SIGNED if signed else _HALF_UNSIGNED)[w].unpack
    pack = (_SIGNED if signed else _UNSIGNED)[2 * w].pack

    def load_extend(raw):
        return _from_bytes(pack(*unpack(raw)), "little")
    return load_extend


def _load_splat(w):
    one = _ONE[w]

    def load_splat(raw):
        return _from_bytes(raw, "little") * one
    return load_splat


def _load_zero(raw) -> int:
    return _from_bytes(raw, "little")


LOAD: Dict[str, Callable] = {
    "v128.load": _load_zero,           # 16 bytes: the whole vector
    "v128.load8x8_s": _load_extend(8, True),
    "v128.load8x8_u": _load_extend(8, False),
    "v128.load16x4_s": _load_extend(16, True),
    "v128.load16x4_u": _load_extend(16, False),
    "v128.load32x2_s": _load_extend(32, True),
    "v128.load32x2_u": _load_extend(32, False),
    "v128.load8_splat": _load_splat(8),
    "v128.load16_splat": _load_splat(16),
    "v128.load32_splat": _load_splat(32),
    "v128.load64_splat": _load_splat(64),
    "v128.load32_zero": _load_zero,
    "v128.load64_zero": _load_zero,
}

__all__ = ["IMPL", "LOAD", "lane_get", "lane_set"]
