"""LEB128 integers: the spec's size and range limits (spec 5.2.2), and shortest encodings."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wasmforge.binary.leb128 import (encode_signed, encode_unsigned, read_s32, read_s33, read_s64,
                                     read_signed, read_u32, read_unsigned)
from wasmforge.errors import DecodeError


def test_u32_single_byte():
    assert read_u32(b"\x7f", 0) == (127, 1)


def test_u32_reads_from_position():
    assert read_u32(b"\xff\xe5\x8e\x26", 1) == (624485, 4)


def test_u32_maximum_in_five_bytes():
    assert read_u32(b"\xff\xff\xff\xff\x0f", 0) == (0xFFFFFFFF, 5)


def test_u32_padded_zero_is_accepted():
    assert read_u32(b"\x80\x80\x80\x80\x00", 0) == (0, 5)


def test_u32_unused_bits_set_is_too_large():
    with pytest.raises(DecodeError, match="integer too large") as exc:
        read_u32(b"\xff\xff\xff\xff\x1f", 0)
    assert exc.value.offset == 4


def test_u32_six_bytes_is_too_long():
    with pytest.raises(DecodeError, match="integer representation too long") as exc:
        read_u32(b"\x80\x80\x80\x80\x80\x00", 0)
    assert exc.value.offset == 5


def test_u32_too_long_is_reported_before_end_of_input():
    # The sixth byte is not even present: the length limit is what fails.
    with pytest.raises(DecodeError, match="integer representation too long"):
        read_u32(b"\x80\x80\x80\x80\x80", 0)


def test_u32_truncated_raises_index_error():
    with pytest.raises(IndexError):
        read_u32(b"\x80\x80", 0)


def test_s32_negative_one():
    assert read_s32(b"\x7f", 0) == (-1, 1)


def test_s32_single_byte_boundaries():
    assert read_s32(b"\x3f", 0) == (63, 1)
    assert read_s32(b"\x40", 0) == (-64, 1)


def test_s32_extremes():
    assert read_s32(b"\x80\x80\x80\x80\x78", 0) == (-(1 << 31), 5)
    assert read_s32(b"\xff\xff\xff\xff\x07", 0) == ((1 << 31) - 1, 5)


def test_s32_padded_negative_one_is_accepted():
    assert read_s32(b"\xff\xff\xff\xff\x7f", 0) == (-1, 5)


def test_s32_last_byte_not_sign_extension_is_too_large():
    with pytest.raises(DecodeError, match="integer too large"):
        read_s32(b"\xff\xff\xff\xff\x0f", 0)
    with pytest.raises(DecodeError, match="integer too large"):
        read_s32(b"\x80\x80\x80\x80\x70", 0)


def test_s32_six_bytes_is_too_long():
    with pytest.raises(DecodeError, match="integer representation too long"):
        read_s32(b"\xff\xff\xff\xff\xff\x7f", 0)


def test_s33_range():
    assert read_s33(b"\xff\xff\xff\xff\x0f", 0) == (0xFFFFFFFF, 5)
    assert read_s33(b"\x80\x80\x80\x80\x70", 0) == (-(1 << 32), 5)
    with pytest.raises(DecodeError, match="integer too large"):
        read_s33(b"\xff\xff\xff\xff\x1f", 0)


def test_s64_extremes():
    assert read_s64(b"\x80" * 9 + b"\x7f", 0) == (-(1 << 63), 10)
    assert read_s64(b"\xff" * 9 + b"\x00", 0) == ((1 << 63) - 1, 10)


def test_s64_last_byte_not_sign_extension_is_too_large():
    with pytest.raises(DecodeError, match="integer too large"):
        read_s64(b"\xff" * 9 + b"\x01", 0)


def test_s64_eleven_bytes_is_too_long():
    with pytest.raises(DecodeError, match="integer representation too long"):
        read_s64(b"\x80" * 10 + b"\x00", 0)


def test_u1_flag_limits():
    assert read_unsigned(b"\x01", 0, 1) == (1, 1)
    with pytest.raises(DecodeError, match="integer too large"):
        read_unsigned(b"\x02", 0, 1)
    with pytest.raises(DecodeError, match="integer representation too long"):
        read_unsigned(b"\x81\x00", 0, 1)


def test_encode_shortest_forms():
    assert encode_unsigned(0) == b"\x00"
    assert encode_unsigned(624485) == b"\xe5\x8e\x26"
    assert encode_signed(-1) == b"\x7f"
    assert encode_signed(63) == b"\x3f"
    assert encode_signed(64) == b"\xc0\x00"
    assert encode_signed(-64) == b"\x40"
    assert encode_signed(-65) == b"\xbf\x7f"


@given(st.integers(0, (1 << 32) - 1))
def test_u32_round_trip(n):
    data = encode_unsigned(n)
    assert read_u32(data, 0) == (n, len(data))


@given(st.integers(-(1 << 63), (1 << 63) - 1))
def test_s64_round_trip(n):
    data = encode_signed(n)
    assert read_s64(data, 0) == (n, len(data))


@given(st.integers(-(1 << 31), (1 << 31) - 1))
def test_s32_round_trip(n):
    data = encode_signed(n)
    assert read_signed(data, 0, 32) == (n, len(data))
