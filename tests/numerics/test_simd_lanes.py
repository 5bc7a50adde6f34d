"""SIMD lane access: splat, extract/replace lane, shuffle, swizzle, loads, lane_get/lane_set,
and the coverage of the opcode table."""

import struct

import pytest

from wasmforge.numerics.simd import IMPL, LOAD, lane_get, lane_set
from wasmforge.opcodes import OPS


def vec(fmt, *lanes):
    """A v128 from lanes packed little-endian with struct format ``fmt`` (e.g. '16b')."""
    return int.from_bytes(struct.pack("<" + fmt, *lanes), "little")


def lanes(fmt, v):
    return struct.unpack("<" + fmt, v.to_bytes(16, "little"))


def test_impl_covers_every_non_memory_simd_instruction():
    wanted = {op.name for op in OPS if op.prefix == 0xFD and op.imm in ("-", "laneidx", "shuffle")}
    assert set(IMPL) == wanted


def test_load_covers_every_simd_load_without_lane():
    wanted = {op.name for op in OPS
              if op.prefix == 0xFD and op.imm == "memarg" and op.name.startswith("v128.load")}
    assert set(LOAD) == wanted


# ----- splat -----

def test_i8x16_splat_keeps_low_byte_of_the_i32():
    assert IMPL["i8x16.splat"](0x12345681) == int("81" * 16, 16)


def test_i16x8_splat_keeps_low_half_of_the_i32():
    assert IMPL["i16x8.splat"](0xFFFF8001) == int("8001" * 8, 16)


def test_i32x4_splat():
    assert IMPL["i32x4.splat"](0xDEADBEEF) == int("DEADBEEF" * 4, 16)


def test_i64x2_splat():
    assert IMPL["i64x2.splat"](0x0123456789ABCDEF) == int("0123456789ABCDEF" * 2, 16)


def test_f32x4_splat_writes_the_binary32_bits():
    assert IMPL["f32x4.splat"](-1.5) == int("BFC00000" * 4, 16)


def test_f32x4_splat_keeps_a_signalling_nan_payload():
    snan = struct.unpack("<d", struct.pack("<Q", 0x7FF0000020000000))[0]   # f32 0x7F800001
    assert IMPL["f32x4.splat"](snan) == int("7F800001" * 4, 16)


def test_f64x2_splat_writes_the_binary64_bits():
    assert IMPL["f64x2.splat"](0.1) == int("3FB999999999999A" * 2, 16)


# ----- extract_lane / replace_lane -----

def test_i8x16_extract_lane_s_sign_extends_into_unsigned_i32_form():
    v = vec("16B", *range(0x70, 0x80), )
    v = IMPL["i8x16.replace_lane"](v, 0xFE, 5)
    assert IMPL["i8x16.extract_lane_s"](v, 5) == 0xFFFFFFFE
    assert IMPL["i8x16.extract_lane_s"](v, 15) == 0x7F


def test_i8x16_extract_lane_u_zero_extends():
    v = vec("16B", *([0] * 15 + [0xFE]))
    assert IMPL["i8x16.extract_lane_u"](v, 15) == 0xFE


def test_i16x8_extract_lane_s_and_u_differ_on_negative_lanes():
    v = vec("8h", 0, 0, 0, -2, 0, 0, 0, 0)
    assert IMPL["i16x8.extract_lane_s"](v, 3) == 0xFFFFFFFE
    assert IMPL["i16x8.extract_lane_u"](v, 3) == 0xFFFE


def test_i32x4_and_i64x2_extract_lane():
    assert IMPL["i32x4.extract_lane"](vec("4I", 1, 2, 0xFFFFFFFF, 4), 2) == 0xFFFFFFFF
    assert IMPL["i64x2.extract_lane"](vec("2Q", 5, 2**64 - 1), 1) == 2**64 - 1


def test_replace_lane_masks_the_value_and_leaves_other_lanes():
    v = vec("8H", *range(1, 9))
    out = IMPL["i16x8.replace_lane"](v, 0xABCD1234, 7)
    assert lanes("8H", out) == (1, 2, 3, 4, 5, 6, 7, 0x1234)


def test_i64x2_replace_lane():
    out = IMPL["i64x2.replace_lane"](vec("2Q", 1, 2), 2**64 - 1, 0)
    assert lanes("2Q", out) == (2**64 - 1, 2)


def test_f32x4_extract_lane_returns_the_float():
    assert IMPL["f32x4.extract_lane"](vec("4f", 0.0, 1.5, -2.25, 0.0), 2) == -2.25


def test_f32x4_replace_then_extract_keeps_a_nan_payload_bit_exact():
    snan = struct.unpack("<d", struct.pack("<Q", 0xFFF0000040000000))[0]   # f32 0xFF800002
    v = IMPL["f32x4.replace_lane"](0, snan, 1)
    assert lanes("4I", v) == (0, 0xFF800002, 0, 0)
    back = IMPL["f32x4.extract_lane"](v, 1)
    assert struct.unpack("<Q", struct.pack("<d", back))[0] == 0xFFF0000040000000


def test_f64x2_extract_and_replace_lane():
    v = IMPL["f64x2.replace_lane"](vec("2d", 1.0, 2.0), -0.0, 1)
    assert lanes("2Q", v) == (0x3FF0000000000000, 0x8000000000000000)
    assert IMPL["f64x2.extract_lane"](v, 0) == 1.0


# ----- shuffle / swizzle -----

def test_shuffle_takes_indices_16_to_31_from_the_second_operand():
    a = vec("16B", *range(0, 16))
    b = vec("16B", *range(100, 116))
    idx = (31, 0, 16, 15, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22)
    assert lanes("16B", IMPL["i8x16.shuffle"](a, b, idx)) == (
        115, 0, 100, 15, 1, 101, 2, 102, 3, 103, 4, 104, 5, 105, 6, 106)


def test_swizzle_picks_bytes_and_zeroes_out_of_range_indices():
    a = vec("16B", *range(0xA0, 0xB0))
    s = vec("16B", 15, 0, 16, 255, 1, 128, 7, 17, 2, 2, 2, 2, 0, 0, 0, 0x80)
    assert lanes("16B", IMPL["i8x16.swizzle"](a, s)) == (
        0xAF, 0xA0, 0, 0, 0xA1, 0, 0xA7, 0, 0xA2, 0xA2, 0xA2, 0xA2, 0xA0, 0xA0, 0xA0, 0)


# ----- lane_get / lane_set -----

def test_lane_get_reads_raw_unsigned_bits():
    v = vec("8h", 0, -1, 0, 0, 0, 0, 0, 7)
    assert lane_get(v, 16, 1) == 0xFFFF
    assert lane_get(v, 16, 7) == 7
    assert lane_get(v, 64, 1) == 0x0007000000000000


def test_lane_set_replaces_only_that_lane():
    v = vec("16B", *([0xFF] * 16))
    assert lanes("16B", lane_set(v, 8, 3, 0x1234)) == (0xFF,) * 3 + (0x34,) + (0xFF,) * 12
    assert lanes("4I", lane_set(0, 32, 3, 0xCAFEBABE)) == (0, 0, 0, 0xCAFEBABE)


# ----- loads -----

def test_v128_load_is_little_endian():
    raw = bytes(range(16))
    assert LOAD["v128.load"](raw) == int.from_bytes(raw, "little")


@pytest.mark.parametrize("name,raw,fmt,expected", [
    ("v128.load8x8_s", bytes([0x80, 0x7F, 0xFF, 0, 1, 2, 3, 4]), "8h", (-128, 127, -1, 0, 1, 2, 3, 4)),
    ("v128.load8x8_u", bytes([0x80, 0x7F, 0xFF, 0, 1, 2, 3, 4]), "8H", (128, 127, 255, 0, 1, 2, 3, 4)),
    ("v128.load16x4_s", struct.pack("<4H", 0x8000, 1, 0xFFFF, 0x7FFF), "4i", (-32768, 1, -1, 32767)),
    ("v128.load16x4_u", struct.pack("<4H", 0x8000, 1, 0xFFFF, 0x7FFF), "4I", (32768, 1, 65535, 32767)),
    ("v128.load32x2_s", struct.pack("<2I", 0x80000000, 5), "2q", (-2**31, 5)),
    ("v128.load32x2_u", struct.pack("<2I", 0x80000000, 5), "2Q", (2**31, 5)),
])
def test_extending_loads(name, raw, fmt, expected):
    assert lanes(fmt, LOAD[name](raw)) == expected


@pytest.mark.parametrize("name,raw,fmt,expected", [
    ("v128.load8_splat", b"\x9c", "16B", (0x9C,) * 16),
    ("v128.load16_splat", b"\x34\x12", "8H", (0x1234,) * 8),
    ("v128.load32_splat", b"\x04\x03\x02\x01", "4I", (0x01020304,) * 4),
    ("v128.load64_splat", bytes(range(1, 9)), "2Q", (0x0807060504030201,) * 2),
    ("v128.load32_zero", b"\x04\x03\x02\x01", "4I", (0x01020304, 0, 0, 0)),
    ("v128.load64_zero", bytes(range(1, 9)), "2Q", (0x0807060504030201, 0)),
])
def test_splat_and_zero_loads(name, raw, fmt, expected):
    assert lanes(fmt, LOAD[name](raw)) == expected


def test_loads_accept_a_memoryview_slice():
    mem = memoryview(bytearray(range(32)))
    assert LOAD["v128.load8x8_u"](mem[8:16]) == vec("8H", *range(8, 16))
    assert LOAD["v128.load16_splat"](mem[2:4]) == vec("8H", *([0x0302] * 8))
