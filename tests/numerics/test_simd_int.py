"""SIMD bitwise and integer lane arithmetic.  Expected values are worked out by hand."""

import struct

import pytest

from wasmforge.numerics.simd import IMPL

M128 = (1 << 128) - 1


def vec(fmt, *lanes):
    return int.from_bytes(struct.pack("<" + fmt, *lanes), "little")


def lanes(fmt, v):
    return struct.unpack("<" + fmt, v.to_bytes(16, "little"))


# ----- v128 bitwise -----

A = 0x0123456789ABCDEF_FEDCBA9876543210
B = 0xFFFF0000FFFF0000_00FF00FF00FF00FF


def test_v128_not():
    assert IMPL["v128.not"](A) == 0xFEDCBA9876543210_0123456789ABCDEF


def test_v128_and_or_xor():
    assert IMPL["v128.and"](A, B) == 0x0123000089AB0000_00DC009800540010
    assert IMPL["v128.or"](A, B) == 0xFFFF4567FFFFCDEF_FEFFBAFF76FF32FF
    assert IMPL["v128.xor"](A, B) == 0xFEDC45677654CDEF_FE23BA6776AB32EF


def test_v128_andnot_is_a_and_not_b():
    assert IMPL["v128.andnot"](A, B) == 0x000045670000CDEF_FE00BA0076003200
    assert IMPL["v128.andnot"](M128, 0) == M128


def test_v128_bitselect_takes_a_where_mask_is_one():
    assert IMPL["v128.bitselect"](M128, 0, B) == B
    assert IMPL["v128.bitselect"](0, M128, B) == M128 ^ B


def test_v128_bitselect_bitwise():
    # a = 0b1100, b = 0b1010, c = 0b0110 -> (a & c) | (b & ~c) = 0b0100 | 0b1000 = 0b1100
    assert IMPL["v128.bitselect"](0b1100, 0b1010, 0b0110) == 0b1100


def test_v128_any_true():
    assert IMPL["v128.any_true"](0) == 0
    assert IMPL["v128.any_true"](1 << 127) == 1


# ----- add / sub / neg / mul -----

def test_i8x16_add_wraps_per_lane_without_carry_into_the_next():
    a = vec("16B", *([0xFF] * 16))
    b = vec("16B", *([1] * 16))
    assert IMPL["i8x16.add"](a, b) == 0


def test_i16x8_add_mixed():
    a = vec("8h", 32767, -32768, 1, -1, 100, -100, 0, 12345)
    b = vec("8h", 1, -1, -1, -1, 200, 100, 0, 1)
    assert lanes("8h", IMPL["i16x8.add"](a, b)) == (-32768, 32767, 0, -2, 300, 0, 0, 12346)


def test_i32x4_sub_wraps():
    a = vec("4i", 0, -2**31, 5, 2**31 - 1)
    b = vec("4i", 1, 1, 7, -1)
    assert lanes("4i", IMPL["i32x4.sub"](a, b)) == (-1, 2**31 - 1, -2, -2**31)


def test_i64x2_add_and_sub():
    a = vec("2Q", 2**64 - 1, 2**63)
    b = vec("2Q", 2, 2**63)
    assert lanes("2Q", IMPL["i64x2.add"](a, b)) == (1, 0)
    assert lanes("2Q", IMPL["i64x2.sub"](b, a)) == (3, 0)


def test_i8x16_sub_borrow_stays_in_lane():
    a = vec("16B", *([0] * 16))
    b = vec("16B", *([1] + [0] * 15))
    assert lanes("16B", IMPL["i8x16.sub"](a, b)) == (255,) + (0,) * 15


@pytest.mark.parametrize("shape,fmt,minimum", [
    ("i8x16", "16b", -128), ("i16x8", "8h", -32768), ("i32x4", "4i", -2**31), ("i64x2", "2q", -2**63)])
def test_neg_of_minimum_is_minimum(shape, fmt, minimum):
    n = 16 // struct.calcsize(fmt[-1])
    v = vec(fmt, *([minimum, 1, -1, 0] * 4)[:n])
    assert lanes(fmt, IMPL[shape + ".neg"](v)) == tuple(([minimum, -1, 1, 0] * 4)[:n])


def test_i16x8_mul_keeps_low_16_bits():
    a = vec("8h", 256, -1, 300, 2, 0, 32767, -32768, 7)
    b = vec("8h", 256, -1, 300, -3, 5, 2, -1, 9)
    # 65536 -> 0, 1, 90000 & 0xFFFF = 24464, -6, 0, 65534 -> -2, 32768 -> -32768, 63
    assert lanes("8h", IMPL["i16x8.mul"](a, b)) == (0, 1, 24464, -6, 0, -2, -32768, 63)


def test_i32x4_mul_wraps():
    a = vec("4I", 0x10000, 0xFFFFFFFF, 3, 0x80000000)
    b = vec("4I", 0x10000, 0xFFFFFFFF, 5, 2)
    assert lanes("4I", IMPL["i32x4.mul"](a, b)) == (0, 1, 15, 0)


def test_i64x2_mul_wraps():
    a = vec("2Q", 2**32, 2**64 - 1)
    b = vec("2Q", 2**32 + 1, 2**64 - 1)
    assert lanes("2Q", IMPL["i64x2.mul"](a, b)) == (2**32, 1)


# ----- saturating add / sub -----

def test_i8x16_add_sat_s_clamps_both_ways():
    a = vec("16b", 127, -128, 100, -100, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, -1)
    b = vec("16b", 1, -1, 100, -100, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, -1)
    assert lanes("16b", IMPL["i8x16.add_sat_s"](a, b)) == (
        127, -128, 127, -128, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, -2)


def test_i8x16_add_sat_u_clamps_at_255():
    a = vec("16B", 255, 200, 1, *[0] * 13)
    b = vec("16B", 1, 100, 1, *[0] * 13)
    assert lanes("16B", IMPL["i8x16.add_sat_u"](a, b))[:3] == (255, 255, 2)


def test_i8x16_sub_sat_u_clamps_at_zero():
    a = vec("16B", 0, 5, 255, *[0] * 13)
    b = vec("16B", 1, 3, 0, *[0] * 13)
    assert lanes("16B", IMPL["i8x16.sub_sat_u"](a, b))[:3] == (0, 2, 255)


def test_i16x8_sub_sat_s():
    a = vec("8h", -32768, 32767, 0, -1, 0, 0, 0, 0)
    b = vec("8h", 1, -1, -32768, 32767, 0, 0, 0, 0)
    assert lanes("8h", IMPL["i16x8.sub_sat_s"](a, b)) == (-32768, 32767, 32767, -32768, 0, 0, 0, 0)


def test_i16x8_add_sat_u():
    a = vec("8H", 65535, 65000, 1, 0, 0, 0, 0, 0)
    b = vec("8H", 1, 1000, 2, 0, 0, 0, 0, 0)
    assert lanes("8H", IMPL["i16x8.add_sat_u"](a, b)) == (65535, 65535, 3, 0, 0, 0, 0, 0)


# ----- min / max / avgr / abs / popcnt -----

def test_i8x16_min_s_and_min_u_read_lanes_differently():
    a = vec("16B", 0xFF, 1, *[0] * 14)
    b = vec("16B", 1, 0xFF, *[0] * 14)
    assert lanes("16B", IMPL["i8x16.min_s"](a, b))[:2] == (0xFF, 0xFF)
    assert lanes("16B", IMPL["i8x16.min_u"](a, b))[:2] == (1, 1)
    assert lanes("16B", IMPL["i8x16.max_s"](a, b))[:2] == (1, 1)
    assert lanes("16B", IMPL["i8x16.max_u"](a, b))[:2] == (0xFF, 0xFF)


def test_i32x4_max_u_and_min_s():
    a = vec("4I", 0x80000000, 5, 0, 7)
    b = vec("4I", 0x7FFFFFFF, 6, 0xFFFFFFFF, 7)
    assert lanes("4I", IMPL["i32x4.max_u"](a, b)) == (0x80000000, 6, 0xFFFFFFFF, 7)
    assert lanes("4I", IMPL["i32x4.min_s"](a, b)) == (0x80000000, 5, 0xFFFFFFFF, 7)


def test_avgr_u_rounds_up_without_overflow():
    a = vec("16B", 255, 0, 1, 2, 254, *[0] * 11)
    b = vec("16B", 255, 1, 2, 2, 255, *[0] * 11)
    assert lanes("16B", IMPL["i8x16.avgr_u"](a, b))[:5] == (255, 1, 2, 2, 255)
    a = vec("8H", 65535, 0, 3, 0, 0, 0, 0, 0)
    b = vec("8H", 65534, 1, 4, 0, 0, 0, 0, 0)
    assert lanes("8H", IMPL["i16x8.avgr_u"](a, b))[:3] == (65535, 1, 4)


def test_i8x16_abs_of_minus_128_is_minus_128():
    v = vec("16b", -128, -127, -1, 0, 1, 127, *[0] * 10)
    assert lanes("16b", IMPL["i8x16.abs"](v))[:6] == (-128, 127, 1, 0, 1, 127)


def test_i16_i32_i64_abs():
    assert lanes("8h", IMPL["i16x8.abs"](vec("8h", -32768, -5, 5, 0, 0, 0, 0, 0)))[:3] == (-32768, 5, 5)
    assert lanes("4i", IMPL["i32x4.abs"](vec("4i", -2**31, -1, 2, 0))) == (-2**31, 1, 2, 0)
    assert lanes("2q", IMPL["i64x2.abs"](vec("2q", -2**63, -9))) == (-2**63, 9)


def test_i8x16_popcnt():
    v = vec("16B", 0, 1, 0xFF, 0x80, 0x55, 0x0F, 0xAA, 3, *[0] * 8)
    assert lanes("16B", IMPL["i8x16.popcnt"](v))[:8] == (0, 1, 8, 1, 4, 4, 4, 2)


# ----- q15mulr / dot -----

def test_q15mulr_sat_s_rounds_and_saturates():
    a = vec("8h", -32768, 16384, 16384, -16384, 1, 32767, -32768, 3)
    b = vec("8h", -32768, 16384, 2, 3, 16384, 32767, 32767, 0)
    # 2^30 + 2^14 >> 15 = 32768 -> 32767; 2^28 -> 8192; 32768 + 16384 >> 15 = 1;
    # -49152 + 16384 >> 15 = -1; 16384 + 16384 >> 15 = 1; (32767^2 + 16384) >> 15 = 32766;
    # (-32768 * 32767 + 16384) >> 15 = -32767 (floor of -32766.5); 0
    assert lanes("8h", IMPL["i16x8.q15mulr_sat_s"](a, b)) == (32767, 8192, 1, -1, 1, 32766, -32767, 0)


def test_i32x4_dot_i16x8_s_wraps_the_one_overflowing_case():
    a = vec("8h", -32768, -32768, 1, 2, 3, -4, 32767, 32767)
    b = vec("8h", -32768, -32768, 5, 6, 7, 8, 32767, 32767)
    # 2^31 wraps to -2^31; 5 + 12; 21 - 32; 2 * 32767^2 = 2147352578
    assert lanes("4i", IMPL["i32x4.dot_i16x8_s"](a, b)) == (-2**31, 17, -11, 2147352578)


# ----- extmul / extadd_pairwise / extend / narrow -----

def test_i16x8_extmul_low_and_high_s():
    a = vec("16b", -128, 127, -1, 2, 0, 0, 0, 3, 10, 11, 12, 13, 14, 15, 16, -128)
    b = vec("16b", -128, -128, -1, -2, 0, 0, 0, 3, 2, 2, 2, 2, 2, 2, 2, -128)
    assert lanes("8h", IMPL["i16x8.extmul_low_i8x16_s"](a, b)) == (16384, -16256, 1, -4, 0, 0, 0, 9)
    assert lanes("8h", IMPL["i16x8.extmul_high_i8x16_s"](a, b)) == (20, 22, 24, 26, 28, 30, 32, 16384)


def test_i16x8_extmul_low_u():
    a = vec("16B", 255, 128, *[1] * 14)
    b = vec("16B", 255, 2, *[1] * 14)
    assert lanes("8H", IMPL["i16x8.extmul_low_i8x16_u"](a, b))[:2] == (65025, 256)


def test_i32x4_extmul_high_i16x8_u_and_s():
    a = vec("8H", 0, 0, 0, 0, 65535, 2, 0x8000, 1)
    b = vec("8H", 0, 0, 0, 0, 65535, 3, 0x8000, 0xFFFF)
    assert lanes("4I", IMPL["i32x4.extmul_high_i16x8_u"](a, b)) == (4294836225, 6, 2**30, 65535)
    assert lanes("4i", IMPL["i32x4.extmul_high_i16x8_s"](a, b)) == (1, 6, 2**30, -1)


def test_i64x2_extmul_i32x4():
    a = vec("4I", 0xFFFFFFFF, 0x80000000, 3, 4)
    b = vec("4I", 0xFFFFFFFF, 0x80000000, 5, 6)
    assert lanes("2Q", IMPL["i64x2.extmul_low_i32x4_u"](a, b)) == (0xFFFFFFFE00000001, 2**62)
    assert lanes("2q", IMPL["i64x2.extmul_low_i32x4_s"](a, b)) == (1, 2**62)
    assert lanes("2q", IMPL["i64x2.extmul_high_i32x4_s"](a, b)) == (15, 24)


def test_extadd_pairwise():
    v = vec("16b", -128, -128, 127, 127, -1, 1, *[0] * 10)
    assert lanes("8h", IMPL["i16x8.extadd_pairwise_i8x16_s"](v))[:3] == (-256, 254, 0)
    assert lanes("8H", IMPL["i16x8.extadd_pairwise_i8x16_u"](v))[:3] == (256, 254, 256)
    w = vec("8h", -32768, -32768, 32767, 32767, -1, -1, 0, 0)
    assert lanes("4i", IMPL["i32x4.extadd_pairwise_i16x8_s"](w)) == (-65536, 65534, -2, 0)
    assert lanes("4I", IMPL["i32x4.extadd_pairwise_i16x8_u"](w)) == (65536, 65534, 131070, 0)


def test_extend_low_and_high():
    v = vec("16b", -1, 2, -3, 4, -5, 6, -7, 8, -128, 127, 0, 0, 0, 0, 0, -2)
    assert lanes("8h", IMPL["i16x8.extend_low_i8x16_s"](v)) == (-1, 2, -3, 4, -5, 6, -7, 8)
    assert lanes("8H", IMPL["i16x8.extend_high_i8x16_u"](v)) == (128, 127, 0, 0, 0, 0, 0, 254)
    w = vec("4i", -1, 5, -2**31, 7)
    assert lanes("2q", IMPL["i64x2.extend_high_i32x4_s"](w)) == (-2**31, 7)
    assert lanes("2Q", IMPL["i64x2.extend_low_i32x4_u"](w)) == (0xFFFFFFFF, 5)
    x = vec("8h", -1, 0, 0, 0, 0, 0, 0, -32768)
    assert lanes("4I", IMPL["i32x4.extend_low_i16x8_u"](x)) == (65535, 0, 0, 0)
    assert lanes("4i", IMPL["i32x4.extend_high_i16x8_s"](x)) == (0, 0, 0, -32768)


def test_narrow_i16x8_s_saturates_and_takes_a_then_b():
    a = vec("8h", 128, -129, 127, -128, 0, 1, -1, 32767)
    b = vec("8h", -32768, 5, 6, 7, 8, 9, 10, 11)
    assert lanes("16b", IMPL["i8x16.narrow_i16x8_s"](a, b)) == (
        127, -128, 127, -128, 0, 1, -1, 127, -128, 5, 6, 7, 8, 9, 10, 11)


def test_narrow_i16x8_u_treats_input_as_signed():
    a = vec("8h", -1, 256, 255, 0, -32768, 32767, 1, 2)
    assert lanes("16B", IMPL["i8x16.narrow_i16x8_u"](a, 0))[:8] == (0, 255, 255, 0, 0, 255, 1, 2)


def test_narrow_i32x4():
    a = vec("4i", 32768, -32769, 70000, -1)
    b = vec("4i", -1, 65536, 65535, 3)
    assert lanes("8h", IMPL["i16x8.narrow_i32x4_s"](a, b)) == (32767, -32768, 32767, -1, -1, 32767, 32767, 3)
    assert lanes("8H", IMPL["i16x8.narrow_i32x4_u"](a, b)) == (32768, 0, 65535, 0, 0, 65535, 65535, 3)


# ----- shifts: count taken modulo the lane width -----

def test_i8x16_shl_by_9_shifts_by_1():
    v = vec("16B", 0x81, 0x7F, *[1] * 14)
    assert lanes("16B", IMPL["i8x16.shl"](v, 9))[:3] == (0x02, 0xFE, 2)


def test_i8x16_shr_s_fills_with_sign_and_shr_u_with_zero():
    v = vec("16B", 0x80, 0x7F, 0xF0, *[0] * 13)
    assert lanes("16B", IMPL["i8x16.shr_s"](v, 4))[:3] == (0xF8, 0x07, 0xFF)
    assert lanes("16B", IMPL["i8x16.shr_u"](v, 4))[:3] == (0x08, 0x07, 0x0F)


def test_shift_by_lane_width_is_identity():
    v = vec("8h", -2, 3, -32768, 0, 1, 2, 3, 4)
    assert IMPL["i16x8.shl"](v, 16) == v
    assert IMPL["i16x8.shr_s"](v, 32) == v
    assert IMPL["i32x4.shr_u"](v, 0xFFFFFFE0) == v


def test_i32x4_shr_s_by_33_shifts_by_1():
    v = vec("4i", -3, 3, -2**31, 2**31 - 1)
    assert lanes("4i", IMPL["i32x4.shr_s"](v, 33)) == (-2, 1, -2**30, 2**30 - 1)


def test_i64x2_shifts():
    v = vec("2q", -2**63, 1)
    assert lanes("2q", IMPL["i64x2.shr_s"](v, 63)) == (-1, 0)
    assert lanes("2Q", IMPL["i64x2.shr_u"](v, 127)) == (1, 0)
    assert lanes("2Q", IMPL["i64x2.shl"](v, 65)) == (0, 2)


def test_i16x8_shr_s_by_15_gives_all_ones_for_negatives():
    v = vec("8h", -1, -32768, 32767, 0, 1, -2, 5, -5)
    assert lanes("8h", IMPL["i16x8.shr_s"](v, 15)) == (-1, -1, 0, 0, 0, -1, 0, -1)


# ----- all_true / bitmask -----

@pytest.mark.parametrize("shape,fmt", [("i8x16", "16B"), ("i16x8", "8H"), ("i32x4", "4I"), ("i64x2", "2Q")])
def test_all_true_is_zero_when_one_lane_is_zero(shape, fmt):
    n = int(fmt[:-1])
    ones = [1 << (struct.calcsize(fmt[-1]) * 8 - 1)] * n
    assert IMPL[shape + ".all_true"](vec(fmt, *ones)) == 1
    ones[n - 1] = 0
    assert IMPL[shape + ".all_true"](vec(fmt, *ones)) == 0


def test_all_true_sees_a_lane_with_only_a_low_bit():
    assert IMPL["i32x4.all_true"](vec("4I", 1, 1, 1, 1)) == 1
    assert IMPL["i32x4.all_true"](vec("4I", 1, 0x100, 0, 1)) == 0


def test_bitmask_collects_lane_sign_bits_lane0_lowest():
    assert IMPL["i8x16.bitmask"](vec("16b", -1, 0, 0, -128, *[0] * 11, -5)) == 0x8009
    assert IMPL["i16x8.bitmask"](vec("8h", 0, -1, 32767, 0, 0, 0, -32768, 0)) == 0b01000010
    assert IMPL["i32x4.bitmask"](vec("4i", -1, 0, -1, -1)) == 0b1101
    assert IMPL["i64x2.bitmask"](vec("2q", 0, -1)) == 0b10


# ----- comparisons -----

def test_i8x16_eq_and_ne_give_full_lane_masks():
    a = vec("16B", 0, 1, 0x80, 0xFF, *[7] * 12)
    b = vec("16B", 0, 2, 0x80, 0x7F, *[7] * 12)
    assert lanes("16B", IMPL["i8x16.eq"](a, b))[:5] == (0xFF, 0, 0xFF, 0, 0xFF)
    assert lanes("16B", IMPL["i8x16.ne"](a, b))[:5] == (0, 0xFF, 0, 0xFF, 0)


def test_i64x2_eq_distinguishes_high_bit_only_difference():
    assert lanes("2Q", IMPL["i64x2.eq"](vec("2Q", 2**63, 5), vec("2Q", 0, 5))) == (0, 2**64 - 1)


def test_signed_and_unsigned_lt_differ():
    a = vec("8H", 0xFFFF, 1, 0, 0, 0, 0, 0, 0)
    b = vec("8H", 1, 0xFFFF, 0, 0, 0, 0, 0, 0)
    assert lanes("8H", IMPL["i16x8.lt_s"](a, b))[:3] == (0xFFFF, 0, 0)
    assert lanes("8H", IMPL["i16x8.lt_u"](a, b))[:3] == (0, 0xFFFF, 0)


def test_i32x4_ge_le_gt():
    a = vec("4i", 1, 2, 3, -1)
    b = vec("4i", 1, 3, 2, 0)
    assert lanes("4i", IMPL["i32x4.ge_s"](a, b)) == (-1, 0, -1, 0)
    assert lanes("4i", IMPL["i32x4.le_u"](a, b)) == (-1, -1, 0, 0)
    assert lanes("4i", IMPL["i32x4.gt_u"](a, b)) == (0, 0, -1, -1)


def test_i64x2_lt_s():
    assert lanes("2q", IMPL["i64x2.lt_s"](vec("2q", -1, 1), vec("2q", 0, -1))) == (-1, 0)
