"""SIMD float lanes and conversions: IEEE-754 rounding, NaNs, signed zeros (spec 4.3.3-4.3.4).

Lanes are written as bit patterns so that NaN payloads and zero signs are explicit."""

import struct

import pytest

from wasmforge.numerics.simd import IMPL

F32_NAN = 0x7FC00000            # canonical NaN
F32_SNAN = 0x7F800001
F32_ONE = 0x3F800000
F32_NEG_ZERO = 0x80000000
F32_INF = 0x7F800000
F32_MAX = 0x7F7FFFFF
F64_NAN = 0x7FF8000000000000
F64_SNAN = 0x7FF0000000000001
F64_NEG_ZERO = 0x8000000000000000


def f32x4(*bits):
    return int.from_bytes(struct.pack("<4I", *bits), "little")


def f64x2(*bits):
    return int.from_bytes(struct.pack("<2Q", *bits), "little")


def f32_lanes(v):
    return struct.unpack("<4I", v.to_bytes(16, "little"))


def f64_lanes(v):
    return struct.unpack("<2Q", v.to_bytes(16, "little"))


def f32b(x):
    """Bits of a float exactly representable in binary32 (no NaNs here)."""
    return struct.unpack("<I", struct.pack("<f", x))[0]


def f64b(x):
    return struct.unpack("<Q", struct.pack("<d", x))[0]


def is_canonical32(b):
    return b & 0x7FFFFFFF == F32_NAN


def is_arithmetic32(b):
    return b & 0x7FC00000 == 0x7FC00000


def is_canonical64(b):
    return b & 0x7FFFFFFFFFFFFFFF == F64_NAN


def is_arithmetic64(b):
    return b & 0x7FF8000000000000 == 0x7FF8000000000000


# ----- arithmetic rounding -----

def test_f32x4_add_rounds_ties_to_even_once():
    one_ulp = 0x3F800001                        # 1 + 2^-23
    half_ulp = f32b(2.0 ** -24)
    out = f32_lanes(IMPL["f32x4.add"](f32x4(F32_ONE, one_ulp, F32_ONE, 0),
                                      f32x4(half_ulp, half_ulp, F32_ONE, 0)))
    assert out == (F32_ONE, 0x3F800002, f32b(2.0), 0)


def test_f32x4_add_overflows_to_infinity_in_its_lane_only():
    out = f32_lanes(IMPL["f32x4.add"](f32x4(F32_MAX, F32_MAX | 0x80000000, F32_ONE, 0),
                                      f32x4(F32_MAX, F32_MAX | 0x80000000, F32_ONE, 0)))
    assert out == (F32_INF, F32_INF | 0x80000000, f32b(2.0), 0)


def test_f32x4_mul_rounds_to_subnormal_ties_to_even():
    # 2^-126 * 2^-24 = 2^-150: halfway between 0 and 2^-149, rounds to even (0);
    # 2^-126 * 1.5 * 2^-24 rounds up to the smallest subnormal.
    a = f32x4(f32b(2.0 ** -126), f32b(1.5 * 2.0 ** -126), 0, 0)
    b = f32x4(f32b(2.0 ** -24), f32b(2.0 ** -24), 0, 0)
    assert f32_lanes(IMPL["f32x4.mul"](a, b))[:2] == (0, 1)


def test_f32x4_sub_of_equal_values_is_plus_zero():
    assert f32_lanes(IMPL["f32x4.sub"](f32x4(F32_ONE, 0, 0, 0), f32x4(F32_ONE, 0, 0, 0))) == (0, 0, 0, 0)


def test_f64x2_add_and_mul():
    a = f64x2(f64b(0.1), f64b(1e308))
    b = f64x2(f64b(0.2), f64b(10.0))
    assert f64_lanes(IMPL["f64x2.add"](a, b))[0] == f64b(0.1 + 0.2)
    assert f64_lanes(IMPL["f64x2.mul"](a, b))[1] == 0x7FF0000000000000


def test_f64x2_sub_inf_minus_inf_is_canonical_nan():
    inf = 0x7FF0000000000000
    out = f64_lanes(IMPL["f64x2.sub"](f64x2(inf, 0), f64x2(inf, 0)))
    assert is_canonical64(out[0]) and out[1] == 0


# ----- division and sqrt: where Python would raise -----

def test_f32x4_div_by_zero_gives_signed_infinity_or_nan():
    a = f32x4(F32_ONE, F32_ONE | 0x80000000, F32_ONE, 0)
    b = f32x4(0, 0, F32_NEG_ZERO, 0)
    out = f32_lanes(IMPL["f32x4.div"](a, b))
    assert out[:3] == (F32_INF, F32_INF | 0x80000000, F32_INF | 0x80000000)
    assert is_canonical32(out[3])


def test_f64x2_div_nan_by_zero_propagates_an_arithmetic_nan():
    out = f64_lanes(IMPL["f64x2.div"](f64x2(F64_SNAN, f64b(-3.0)), f64x2(0, F64_NEG_ZERO)))
    assert is_arithmetic64(out[0])
    assert out[1] == 0x7FF0000000000000


def test_f32x4_div_exact():
    # 1/3 = 1.0101...b * 2^-2; the bits past binary32's 24 are 1010..., above half: round up.
    out = IMPL["f32x4.div"](f32x4(F32_ONE, 0, 0, 0), f32x4(f32b(3.0), F32_ONE, F32_ONE, F32_ONE))
    assert f32_lanes(out) == (0x3EAAAAAB, 0, 0, 0)


def test_f32x4_sqrt_special_values():
    out = f32_lanes(IMPL["f32x4.sqrt"](f32x4(f32b(-1.0), F32_NEG_ZERO, F32_INF, f32b(4.0))))
    assert is_canonical32(out[0])
    assert out[1:] == (F32_NEG_ZERO, F32_INF, f32b(2.0))


def test_f32x4_sqrt_rounds_to_binary32():
    assert f32_lanes(IMPL["f32x4.sqrt"](f32x4(f32b(2.0), 0, 0, 0)))[0] == 0x3FB504F3


def test_f64x2_sqrt_of_negative_infinity_is_nan():
    out = f64_lanes(IMPL["f64x2.sqrt"](f64x2(0xFFF0000000000000, f64b(9.0))))
    assert is_canonical64(out[0]) and out[1] == f64b(3.0)


# ----- NaN propagation -----

def test_canonical_nan_input_gives_canonical_nan():
    a = f32x4(F32_NAN, F32_ONE, 0xFFC00000, 0)
    b = f32x4(F32_ONE, F32_NAN, F32_ONE, 0)
    out = f32_lanes(IMPL["f32x4.add"](a, b))
    assert all(is_canonical32(b) for b in out[:3])


def test_signalling_nan_input_gives_quiet_nan():
    out = f32_lanes(IMPL["f32x4.mul"](f32x4(F32_SNAN, 0, 0, 0), f32x4(F32_ONE, 0, 0, 0)))
    assert is_arithmetic32(out[0])
    out = f64_lanes(IMPL["f64x2.sub"](f64x2(F64_SNAN, 0), f64x2(0, 0)))
    assert is_arithmetic64(out[0])


# ----- min / max / pmin / pmax -----

def test_min_max_order_signed_zeros():
    a = f32x4(0, F32_NEG_ZERO, 0, F32_NEG_ZERO)
    b = f32x4(F32_NEG_ZERO, 0, F32_NEG_ZERO, 0)
    assert f32_lanes(IMPL["f32x4.min"](a, b)) == (F32_NEG_ZERO,) * 4
    assert f32_lanes(IMPL["f32x4.max"](a, b)) == (0,) * 4


def test_min_max_with_nan_is_nan_in_either_position():
    a = f32x4(F32_NAN, F32_ONE, F32_SNAN, 0)
    b = f32x4(F32_ONE, F32_NAN, F32_ONE, 0)
    out = f32_lanes(IMPL["f32x4.min"](a, b))
    assert is_canonical32(out[0]) and is_canonical32(out[1]) and is_arithmetic32(out[2])
    out = f64_lanes(IMPL["f64x2.max"](f64x2(f64b(1.0), F64_SNAN), f64x2(F64_NAN, f64b(1.0))))
    assert is_canonical64(out[0]) and is_arithmetic64(out[1])


def test_f64x2_min_max_ordinary_values():
    a = f64x2(f64b(-1.5), 0xFFF0000000000000)
    b = f64x2(f64b(2.0), f64b(3.0))
    assert f64_lanes(IMPL["f64x2.min"](a, b)) == (f64b(-1.5), 0xFFF0000000000000)
    assert f64_lanes(IMPL["f64x2.max"](a, b)) == (f64b(2.0), f64b(3.0))


def test_pmin_returns_first_operand_unless_second_is_less():
    # pmin(a, b) = b < a ? b : a -- NaNs and zero signs pass through bit-exact.
    a = f32x4(0x7FA01234, F32_ONE, 0, F32_NEG_ZERO)
    b = f32x4(F32_ONE, 0xFF812345, F32_NEG_ZERO, f32b(-1.0))
    assert f32_lanes(IMPL["f32x4.pmin"](a, b)) == (0x7FA01234, F32_ONE, 0, f32b(-1.0))


def test_pmax_returns_first_operand_unless_it_is_less():
    a = f32x4(F32_SNAN, F32_ONE, F32_NEG_ZERO, f32b(-1.0))
    b = f32x4(F32_ONE, F32_NAN, 0, F32_NEG_ZERO)
    assert f32_lanes(IMPL["f32x4.pmax"](a, b)) == (F32_SNAN, F32_ONE, F32_NEG_ZERO, F32_NEG_ZERO)


def test_f64x2_pmin_pmax_keep_nan_bits():
    a = f64x2(F64_SNAN, f64b(1.0))
    b = f64x2(f64b(1.0), f64b(2.0))
    assert f64_lanes(IMPL["f64x2.pmin"](a, b)) == (F64_SNAN, f64b(1.0))
    assert f64_lanes(IMPL["f64x2.pmax"](a, b)) == (F64_SNAN, f64b(2.0))


# ----- rounding to integral -----

def test_f32x4_ceil_floor_trunc_keep_zero_sign():
    v = f32x4(f32b(-0.5), f32b(0.5), f32b(-1.5), F32_NEG_ZERO)
    assert f32_lanes(IMPL["f32x4.ceil"](v)) == (F32_NEG_ZERO, F32_ONE, f32b(-1.0), F32_NEG_ZERO)
    assert f32_lanes(IMPL["f32x4.floor"](v)) == (f32b(-1.0), 0, f32b(-2.0), F32_NEG_ZERO)
    assert f32_lanes(IMPL["f32x4.trunc"](v)) == (F32_NEG_ZERO, 0, f32b(-1.0), F32_NEG_ZERO)


def test_f32x4_nearest_ties_to_even():
    v = f32x4(f32b(0.5), f32b(1.5), f32b(2.5), f32b(-0.5))
    assert f32_lanes(IMPL["f32x4.nearest"](v)) == (0, f32b(2.0), f32b(2.0), F32_NEG_ZERO)


def test_f32x4_rounding_keeps_large_values_and_infinities():
    v = f32x4(f32b(8388609.0), F32_INF | 0x80000000, f32b(-2.5), F32_MAX)
    assert f32_lanes(IMPL["f32x4.nearest"](v)) == (f32b(8388609.0), F32_INF | 0x80000000, f32b(-2.0), F32_MAX)
    assert f32_lanes(IMPL["f32x4.ceil"](v))[:2] == (f32b(8388609.0), F32_INF | 0x80000000)


def test_rounding_a_nan_gives_a_quiet_nan():
    assert is_canonical32(f32_lanes(IMPL["f32x4.floor"](f32x4(F32_NAN, 0, 0, 0)))[0])
    out = f64_lanes(IMPL["f64x2.trunc"](f64x2(F64_SNAN, F64_NAN)))
    assert is_arithmetic64(out[0]) and is_canonical64(out[1])


def test_f64x2_nearest_and_floor():
    v = f64x2(f64b(4503599627370497.0), f64b(-3.5))
    assert f64_lanes(IMPL["f64x2.nearest"](v)) == (f64b(4503599627370497.0), f64b(-4.0))
    assert f64_lanes(IMPL["f64x2.floor"](f64x2(F64_NEG_ZERO, f64b(0.999))))[:2] == (F64_NEG_ZERO, 0)
    assert f64_lanes(IMPL["f64x2.ceil"](f64x2(f64b(-0.999), f64b(1e-300)))) == (F64_NEG_ZERO, f64b(1.0))


# ----- abs / neg are sign-bit operations -----

def test_f32x4_abs_and_neg_keep_nan_payloads():
    v = f32x4(0xFFC01234, F32_SNAN, F32_NEG_ZERO, f32b(-2.0))
    assert f32_lanes(IMPL["f32x4.abs"](v)) == (0x7FC01234, F32_SNAN, 0, f32b(2.0))
    assert f32_lanes(IMPL["f32x4.neg"](v)) == (0x7FC01234, F32_SNAN | 0x80000000, 0, f32b(2.0))


def test_f64x2_abs_and_neg_keep_nan_payloads():
    v = f64x2(F64_SNAN | (1 << 63), 0)
    assert f64_lanes(IMPL["f64x2.abs"](v)) == (F64_SNAN, 0)
    assert f64_lanes(IMPL["f64x2.neg"](v)) == (F64_SNAN, F64_NEG_ZERO)


# ----- comparisons -----

def test_f32x4_comparisons_with_nan_and_zeros():
    a = f32x4(F32_NAN, 0, F32_ONE, F32_INF | 0x80000000)
    b = f32x4(F32_NAN, F32_NEG_ZERO, f32b(2.0), F32_INF | 0x80000000)
    ones = 0xFFFFFFFF
    assert f32_lanes(IMPL["f32x4.eq"](a, b)) == (0, ones, 0, ones)
    assert f32_lanes(IMPL["f32x4.ne"](a, b)) == (ones, 0, ones, 0)
    assert f32_lanes(IMPL["f32x4.lt"](a, b)) == (0, 0, ones, 0)
    assert f32_lanes(IMPL["f32x4.le"](a, b)) == (0, ones, ones, ones)
    assert f32_lanes(IMPL["f32x4.gt"](a, b)) == (0, 0, 0, 0)
    assert f32_lanes(IMPL["f32x4.ge"](a, b)) == (0, ones, 0, ones)


def test_f64x2_comparisons():
    a = f64x2(F64_SNAN, f64b(-1.0))
    b = f64x2(f64b(1.0), f64b(1.0))
    ones = 2**64 - 1
    assert f64_lanes(IMPL["f64x2.lt"](a, b)) == (0, ones)
    assert f64_lanes(IMPL["f64x2.ne"](a, b)) == (ones, ones)
    assert f64_lanes(IMPL["f64x2.ge"](a, b)) == (0, 0)


# ----- conversions -----

def test_trunc_sat_f32x4_s():
    v = f32x4(F32_NAN, f32b(3e9), f32b(-3e9), f32b(-1.9))
    assert f32_lanes(IMPL["i32x4.trunc_sat_f32x4_s"](v)) == (0, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF)


def test_trunc_sat_f32x4_s_of_infinities():
    v = f32x4(F32_INF, F32_INF | 0x80000000, f32b(2147483520.0), f32b(-2147483648.0))
    assert f32_lanes(IMPL["i32x4.trunc_sat_f32x4_s"](v)) == (0x7FFFFFFF, 0x80000000, 2147483520, 0x80000000)


def test_trunc_sat_f32x4_u():
    v = f32x4(f32b(-1.5), f32b(4294967040.0), f32b(4.3e9), f32b(2.9))
    assert f32_lanes(IMPL["i32x4.trunc_sat_f32x4_u"](v)) == (0, 4294967040, 0xFFFFFFFF, 2)
    assert f32_lanes(IMPL["i32x4.trunc_sat_f32x4_u"](f32x4(F32_SNAN, F32_NEG_ZERO, f32b(-0.9), F32_INF))) == (
        0, 0, 0, 0xFFFFFFFF)


def test_trunc_sat_f64x2_zero_variants_clear_the_high_lanes():
    s = IMPL["i32x4.trunc_sat_f64x2_s_zero"](f64x2(f64b(2147483647.9), f64b(-2147483648.9)))
    assert f32_lanes(s) == (0x7FFFFFFF, 0x80000000, 0, 0)
    s = IMPL["i32x4.trunc_sat_f64x2_s_zero"](f64x2(f64b(-1.5), F64_NAN))
    assert f32_lanes(s) == (0xFFFFFFFF, 0, 0, 0)
    u = IMPL["i32x4.trunc_sat_f64x2_u_zero"](f64x2(f64b(4294967295.5), F64_NAN))
    assert f32_lanes(u) == (0xFFFFFFFF, 0, 0, 0)
    u = IMPL["i32x4.trunc_sat_f64x2_u_zero"](f64x2(f64b(1e10), f64b(-1e10)))
    assert f32_lanes(u) == (0xFFFFFFFF, 0, 0, 0)


def test_convert_i32x4_u_rounds_ties_to_even():
    # 2^32-1 -> 2^32; 2^24+1 -> 2^24 (tie, even); 2^24+3 -> 2^24+4 (tie, even);
    # 2^31+128 is a tie between 2^31 and 2^31+256 -> 2^31.
    v = f32x4(0xFFFFFFFF, 16777217, 16777219, 0x80000080)
    assert f32_lanes(IMPL["f32x4.convert_i32x4_u"](v)) == (0x4F800000, 0x4B800000, 0x4B800002, 0x4F000000)


def test_convert_i32x4_u_just_above_a_tie_rounds_up():
    out = IMPL["f32x4.convert_i32x4_u"](f32x4(0x80000081, 0, 1, 0))
    assert f32_lanes(out)[:3] == (0x4F000001, 0, F32_ONE)


def test_convert_i32x4_s():
    v = f32x4(0xFFFFFFFF, 0x80000000, 0x7FFFFFFF, 16777217)
    assert f32_lanes(IMPL["f32x4.convert_i32x4_s"](v)) == (0xBF800000, 0xCF000000, 0x4F000000, 0x4B800000)


def test_convert_low_i32x4_to_f64x2():
    v = f32x4(0xFFFFFFFF, 0x7FFFFFFF, 5, 6)
    assert f64_lanes(IMPL["f64x2.convert_low_i32x4_s"](v)) == (f64b(-1.0), f64b(2147483647.0))
    assert f64_lanes(IMPL["f64x2.convert_low_i32x4_u"](v)) == (f64b(4294967295.0), f64b(2147483647.0))


def test_demote_rounds_overflows_and_zeroes_high_lanes():
    v = f64x2(f64b(1e300), f64b(1.0 + 2.0 ** -24))
    assert f32_lanes(IMPL["f32x4.demote_f64x2_zero"](v)) == (F32_INF, F32_ONE, 0, 0)


def test_demote_just_above_f32_max_rounds_down_to_max():
    flt_max = 3.4028234663852886e38
    v = f64x2(f64b(flt_max + 2.0 ** 102), f64b(-(1.0 + 2.0 ** -24 + 2.0 ** -50)))
    assert f32_lanes(IMPL["f32x4.demote_f64x2_zero"](v)) == (F32_MAX, 0xBF800001, 0, 0)


def test_demote_nan_and_negative_zero():
    out = f32_lanes(IMPL["f32x4.demote_f64x2_zero"](f64x2(F64_NAN, F64_NEG_ZERO)))
    assert is_canonical32(out[0]) and out[1:] == (F32_NEG_ZERO, 0, 0)


def test_promote_low_is_exact_and_quiets_nans():
    out = f64_lanes(IMPL["f64x2.promote_low_f32x4"](f32x4(0x3F800001, F32_SNAN, F32_ONE, F32_ONE)))
    assert out[0] == 0x3FF0000020000000
    assert is_arithmetic64(out[1])


@pytest.mark.parametrize("op,b0,expected", [
    ("f32x4.add", F32_MAX, 9.0), ("f32x4.sub", F32_MAX | 0x80000000, 3.0),
    ("f32x4.mul", 0x40000000, 18.0), ("f32x4.div", 0x3F000000, 2.0)])
def test_f32x4_overflow_in_one_lane_leaves_the_others_exact(op, b0, expected):
    a = f32x4(F32_MAX, f32b(6.0), f32b(6.0), f32b(6.0))
    b = f32x4(b0, f32b(3.0), f32b(3.0), f32b(3.0))
    assert f32_lanes(IMPL[op](a, b)) == (F32_INF,) + (f32b(expected),) * 3
