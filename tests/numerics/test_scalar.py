"""Edge cases of the scalar numerics (spec 4.3): wrapping, traps, NaN payloads, signed zeros,
rounding, and the exact range checks of the truncations."""

import math

import pytest

from wasmforge.errors import Trap, TrapCode
from wasmforge.numerics import conversions as C
from wasmforge.numerics import floats as F
from wasmforge.numerics import ints as I
from wasmforge.numerics.bits import f32_from_bits, f32_to_bits, f64_from_bits, f64_to_bits
from wasmforge.numerics.scalar import IMPL
from wasmforge.opcodes import OPS

F32_SNAN = 0x7FA00001          # signalling (quiet bit clear), payload 0x200001
F64_SNAN = 0x7FF4000000000001


def traps(code, fn, *args):
    with pytest.raises(Trap) as info:
        fn(*args)
    return info.value.code is code


# ----- integers -----

def test_impl_covers_every_scalar_numeric_instruction():
    numeric = [op.name for op in OPS if op.prefix != 0xFD and op.params is not None
               and op.imm == "-" and op.name != "nop"]
    assert sorted(numeric) == sorted(IMPL)


def test_i32_add_wraps():
    assert I.i32_add(0xFFFFFFFF, 2) == 1


def test_i64_mul_wraps():
    assert I.i64_mul(0x8000000000000000, 2) == 0


def test_i32_div_s_truncates_toward_zero():
    assert I.i32_div_s(I.M32 - 6, 4) == I.M32  # -7 / 4 = -1


def test_i32_div_s_overflow_traps():
    assert traps(TrapCode.INTEGER_OVERFLOW, I.i32_div_s, 0x80000000, 0xFFFFFFFF)


def test_i64_div_s_overflow_traps():
    assert traps(TrapCode.INTEGER_OVERFLOW, I.i64_div_s, 0x8000000000000000, I.M64)


@pytest.mark.parametrize("fn", [I.i32_div_s, I.i32_div_u, I.i32_rem_s, I.i32_rem_u,
                                I.i64_div_s, I.i64_div_u, I.i64_rem_s, I.i64_rem_u])
def test_division_by_zero_traps(fn):
    assert traps(TrapCode.INTEGER_DIVISION_BY_ZERO, fn, 5, 0)


def test_i32_rem_s_of_min_by_minus_one_is_zero():
    assert I.i32_rem_s(0x80000000, 0xFFFFFFFF) == 0


def test_i32_rem_s_takes_the_dividend_sign():
    assert I.i32_rem_s(I.M32 - 6, 2) == I.M32  # -7 rem 2 = -1


def test_shift_counts_are_taken_modulo_the_width():
    assert I.i32_shl(1, 33) == 2
    assert I.i64_shr_u(4, 65) == 2


def test_i32_shr_s_keeps_the_sign():
    assert I.i32_shr_s(0x80000000, 31) == 0xFFFFFFFF


def test_rotations():
    assert I.i32_rotl(0x80000001, 1) == 3
    assert I.i32_rotr(1, 33) == 0x80000000
    assert I.i64_rotl(0x8000000000000000, 64) == 0x8000000000000000


def test_bit_counts_of_zero():
    assert (I.i32_clz(0), I.i32_ctz(0), I.i64_clz(0), I.i64_ctz(0)) == (32, 32, 64, 64)


def test_bit_counts():
    assert (I.i32_clz(1), I.i32_ctz(0x80000000), I.i64_popcnt(I.M64)) == (31, 31, 64)


def test_sign_extensions():
    assert I.i32_extend8_s(0x80) == 0xFFFFFF80
    assert I.i64_extend32_s(0x7FFFFFFF) == 0x7FFFFFFF
    assert I.i64_extend_i32_s(0x80000000) == 0xFFFFFFFF80000000


def test_signed_comparison():
    assert I.i32_lt_s(0xFFFFFFFF, 0) == 1 and I.i32_lt_u(0xFFFFFFFF, 0) == 0


# ----- floats -----

def test_f32_add_rounds_to_binary32_ties_to_even():
    # 1 + 2^-24 is halfway between 1 and 1 + 2^-23: ties to even gives 1.
    assert F.f32_add(1.0, 2.0 ** -24) == 1.0


def test_f32_mul_overflows_to_infinity():
    big = f32_from_bits(0x7F7FFFFF)
    assert F.f32_mul(big, 2.0) == math.inf


def test_f64_div_by_zero_is_signed_infinity():
    assert F.f64_div(1.0, -0.0) == -math.inf


def test_f64_zero_div_zero_is_canonical_nan():
    assert f64_to_bits(F.f64_div(0.0, 0.0)) & 0x7FFFFFFFFFFFFFFF == 0x7FF8000000000000


def test_sqrt_of_negative_is_nan():
    assert math.isnan(F.f64_sqrt(-1.0))


def test_neg_keeps_a_signalling_nan_payload():
    x = f32_from_bits(F32_SNAN)
    assert f32_to_bits(F.f32_neg(x)) == F32_SNAN | 0x80000000


def test_abs_and_copysign_are_bit_operations():
    x = f64_from_bits(F64_SNAN | (1 << 63))
    assert f64_to_bits(F.f64_abs(x)) == F64_SNAN
    assert f32_to_bits(F.f32_copysign(f32_from_bits(F32_SNAN), -1.0)) == F32_SNAN | 0x80000000


def test_arithmetic_on_a_signalling_nan_gives_an_arithmetic_nan():
    r = f32_to_bits(F.f32_add(f32_from_bits(F32_SNAN), 1.0))
    assert r & 0x7FC00000 == 0x7FC00000


@pytest.mark.parametrize("fn", [F.f32_min, F.f64_min])
def test_min_of_opposite_zeros_is_negative_zero(fn):
    assert math.copysign(1.0, fn(0.0, -0.0)) == -1.0
    assert math.copysign(1.0, fn(-0.0, 0.0)) == -1.0


@pytest.mark.parametrize("fn", [F.f32_max, F.f64_max])
def test_max_of_opposite_zeros_is_positive_zero(fn):
    assert math.copysign(1.0, fn(-0.0, 0.0)) == 1.0


def test_min_propagates_nan():
    assert math.isnan(F.f64_min(1.0, math.nan)) and math.isnan(F.f64_max(math.nan, 1.0))


def test_nearest_rounds_ties_to_even():
    assert (F.f64_nearest(2.5), F.f64_nearest(3.5), F.f64_nearest(-2.5)) == (2.0, 4.0, -2.0)


def test_nearest_keeps_the_sign_of_a_zero_result():
    assert math.copysign(1.0, F.f64_nearest(-0.5)) == -1.0


def test_ceil_of_small_negative_is_negative_zero():
    assert math.copysign(1.0, F.f32_ceil(-0.5)) == -1.0


def test_rounding_large_values_and_infinities_is_identity():
    assert F.f64_floor(2.0 ** 60 + 256) == 2.0 ** 60 + 256
    assert F.f64_trunc(-math.inf) == -math.inf


def test_nan_comparisons_are_false():
    assert (F.f64_eq(math.nan, math.nan), F.f64_ne(math.nan, math.nan)) == (0, 1)


# ----- conversions -----

def test_i32_trunc_s_bounds_are_exact():
    assert C.i32_trunc_f_s(2147483647.9) == 0x7FFFFFFF
    assert C.i32_trunc_f_s(-2147483648.9) == 0x80000000
    assert traps(TrapCode.INTEGER_OVERFLOW, C.i32_trunc_f_s, 2147483648.0)
    assert traps(TrapCode.INTEGER_OVERFLOW, C.i32_trunc_f_s, -2147483649.0)


def test_i32_trunc_u_accepts_negative_fractions():
    assert C.i32_trunc_f_u(-0.9) == 0
    assert traps(TrapCode.INTEGER_OVERFLOW, C.i32_trunc_f_u, -1.0)


def test_i64_trunc_s_accepts_minus_two_to_the_63():
    assert C.i64_trunc_f_s(-9223372036854775808.0) == 0x8000000000000000
    assert traps(TrapCode.INTEGER_OVERFLOW, C.i64_trunc_f_s, 9223372036854775808.0)


def test_trunc_of_nan_is_an_invalid_conversion():
    assert traps(TrapCode.BAD_CONVERSION_TO_INTEGER, C.i64_trunc_f_u, math.nan)


def test_saturating_truncations():
    assert C.i32_trunc_sat_f_s(1e10) == 0x7FFFFFFF
    assert C.i32_trunc_sat_f_s(-1e10) == 0x80000000
    assert C.i64_trunc_sat_f_u(-5.0) == 0
    assert C.i32_trunc_sat_f_u(math.nan) == 0


def test_i64_to_f32_rounds_once():
    # Through a double this rounds twice (to 2^60 + 2^36, then a tie down to 2^60).
    n = 2 ** 60 + 2 ** 36 + 1
    assert C.f32_convert_i64_u(n) == float(2 ** 60 + 2 ** 37)


def test_i64_to_f32_signed():
    assert C.f32_convert_i64_s(I.M64) == -1.0


def test_u32_to_f32_rounds_to_nearest_even():
    assert C.f32_convert_i32_u(0xFFFFFFFF) == 4294967296.0


def test_demote_keeps_a_canonical_nan_canonical():
    assert f32_to_bits(C.f32_demote_f64(f64_from_bits(0x7FF8000000000000))) == 0x7FC00000


def test_demote_rounds_and_overflows():
    assert C.f32_demote_f64(1e300) == math.inf
    assert C.f32_demote_f64(1.0 + 2.0 ** -30) == 1.0


def test_promote_quiets_a_signalling_nan():
    r = f64_to_bits(C.f64_promote_f32(f32_from_bits(F32_SNAN)))
    assert r & 0x7FF8000000000000 == 0x7FF8000000000000


def test_promote_keeps_negative_zero():
    assert math.copysign(1.0, C.f64_promote_f32(-0.0)) == -1.0


def test_reinterpret_round_trips_signalling_nans():
    assert C.i32_reinterpret_f32(C.f32_reinterpret_i32(F32_SNAN)) == F32_SNAN
    assert C.i64_reinterpret_f64(C.f64_reinterpret_i64(F64_SNAN)) == F64_SNAN
