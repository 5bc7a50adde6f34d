"""Numeric literals (spec 6.3.1, 6.3.2): every form, range limits, exact float rounding."""

import random
import struct

import pytest

from wasmforge.text.lexer import parse_float, parse_int, parse_nat


# ----- integers -----

@pytest.mark.parametrize("text,value", [
    ("0", 0), ("1_000", 1000), ("0x1F", 31), ("0xf_f", 255), ("4294967295", 4294967295)])
def test_nat(text, value):
    assert parse_nat(text) == value


@pytest.mark.parametrize("text", ["-1", "+1", "1.0", "_1", "1_", "1__0", "0x", "0x_1", "inf"])
def test_not_a_nat(text):
    assert parse_nat(text) is None


@pytest.mark.parametrize("text,value", [
    ("0", 0), ("-1", -1), ("+42", 42), ("0xffffffff", -1), ("4294967295", -1),
    ("2147483647", 2147483647), ("2147483648", -2147483648), ("-2147483648", -2147483648),
    ("-0x8000_0000", -2147483648), ("0x7fff_ffff", 0x7FFFFFFF)])
def test_i32_is_normalised_signed(text, value):
    assert parse_int(text, 32) == value


@pytest.mark.parametrize("text", [
    "4294967296", "-2147483649", "0x1_0000_0000", "-0x80000001", "+2147483648", "+0xffffffff"])
def test_i32_out_of_range(text):
    assert parse_int(text, 32) is None


def test_i64_limits():
    assert parse_int("18446744073709551615", 64) == -1
    assert parse_int("-9223372036854775808", 64) == -(1 << 63)
    assert parse_int("18446744073709551616", 64) is None
    assert parse_int("-9223372036854775809", 64) is None


@pytest.mark.parametrize("text", ["1.0", "1e2", "nan", "+_100", "0x", "1_", "--1"])
def test_not_an_integer_literal(text):
    assert parse_int(text, 32) is None


def test_absurdly_long_integer_is_out_of_range_not_a_crash():
    assert parse_int("9" * 10000, 64) is None


# ----- floats: special values -----

def test_f32_specials():
    assert parse_float("inf", 32) == 0x7F800000
    assert parse_float("-inf", 32) == 0xFF800000
    assert parse_float("nan", 32) == 0x7FC00000
    assert parse_float("-nan", 32) == 0xFFC00000
    assert parse_float("nan:0x1", 32) == 0x7F800001
    assert parse_float("-nan:0x7f_ffff", 32) == 0xFFFFFFFF
    assert parse_float("-0", 32) == 0x80000000
    assert parse_float("+0.0", 32) == 0


def test_f64_specials():
    assert parse_float("inf", 64) == 0x7FF0000000000000
    assert parse_float("nan", 64) == 0x7FF8000000000000
    assert parse_float("nan:0xf_ffff_ffff_ffff", 64) == 0x7FFFFFFFFFFFFFFF
    assert parse_float("-0x0p0", 64) == 1 << 63


@pytest.mark.parametrize("text,bits", [
    ("nan:0x0", 32), ("nan:0x80_0000", 32), ("nan:0x10_0000_0000_0000", 64)])
def test_nan_payload_out_of_range(text, bits):
    assert parse_float(text, bits) is None


# ----- floats: forms -----

@pytest.mark.parametrize("text,bits", [
    ("1", 0x3F800000), ("1.", 0x3F800000), ("1.5", 0x3FC00000), ("15e-1", 0x3FC00000),
    ("1.5E0", 0x3FC00000), ("0.15e+1", 0x3FC00000), ("1_5.0_0e-0_1", 0x3FC00000),
    ("0x1.8", 0x3FC00000), ("0x1.8p0", 0x3FC00000), ("0x18p-4", 0x3FC00000),
    ("0x1.8P+0", 0x3FC00000), ("0x0.c_0p1", 0x3FC00000), ("0x1_8p-4", 0x3FC00000)])
def test_f32_forms(text, bits):
    assert parse_float(text, 32) == bits


@pytest.mark.parametrize("text", ["1.e", ".5", "0x.8", "1e", "0x1p", "1._0", "0x_1", "1.0_", "inf:0x1"])
def test_malformed_float_literals(text):
    assert parse_float(text, 32) is None


# ----- floats: rounding (ties to even), subnormals, overflow -----

def test_f32_rounds_ties_to_even():
    # 1 + 2^-24 lies half-way between 1 and the next float: the even one (1) wins.
    assert parse_float("0x1.000001p0", 32) == 0x3F800000
    # 1 + 3 * 2^-24 lies half-way between odd 1+2^-23 and even 1+2^-22: round up.
    assert parse_float("0x1.000003p0", 32) == 0x3F800002
    # Just above the half-way point rounds up.
    assert parse_float("0x1.00000100000000001p0", 32) == 0x3F800001


def _exact_decimal(numerator: int, exponent2: int) -> str:
    """The exact decimal text of numerator * 2**exponent2 (exponent2 < 0)."""
    digits = str(numerator * 5 ** -exponent2)
    return f"{digits[:-(-exponent2)] or '0'}.{digits[-(-exponent2):].rjust(-exponent2, '0')}"


def test_f32_decimal_rounding_is_not_double_rounding():
    # 1 + 2^-24 + 2^-60: a double keeps 53 bits, so via float() the 2^-60 is lost and the
    # resulting tie rounds to even (1.0); exact rounding sees a value above the tie.
    text = _exact_decimal((1 << 60) + (1 << 36) + 1, -60)
    assert float(text) == 1 + 2 ** -24
    assert parse_float(text, 32) == 0x3F800001
    assert parse_float(_exact_decimal((1 << 24) + 1, -24), 32) == 0x3F800000   # exact tie


def test_f32_largest_finite_and_overflow_boundary():
    assert parse_float("0x1.fffffep127", 32) == 0x7F7FFFFF
    # Below half an ulp above the largest float: rounds down to it.
    assert parse_float("0x1.fffffefffffffffffp127", 32) == 0x7F7FFFFF
    # Exactly half-way to 2^128 rounds to even, i.e. infinity: out of range.
    assert parse_float("0x1.ffffffp127", 32) is None
    assert parse_float("3.4028235e38", 32) == 0x7F7FFFFF
    assert parse_float("1e39", 32) is None
    assert parse_float("-1e39", 32) is None


def test_f64_overflow_boundary():
    assert parse_float("0x1.fffffffffffffp1023", 64) == 0x7FEFFFFFFFFFFFFF
    assert parse_float("0x1.fffffffffffff7ffp1023", 64) == 0x7FEFFFFFFFFFFFFF
    assert parse_float("0x1.fffffffffffff8p1023", 64) is None
    assert parse_float("1e309", 64) is None


def test_subnormals_and_underflow():
    assert parse_float("0x1p-149", 32) == 1
    assert parse_float("0x1p-150", 32) == 0                 # tie with 0: even wins
    assert parse_float("0x1.000001p-150", 32) == 1
    assert parse_float("0x1p-126", 32) == 0x00800000
    assert parse_float("0x0.fffffep-126", 32) == 0x007FFFFF
    assert parse_float("0x1.fffffffep-127", 32) == 0x00800000  # rounds up into the normals
    assert parse_float("4.9406564584124654e-324", 64) == 1
    assert parse_float("-1e-400", 64) == 1 << 63


def test_huge_exponents_do_not_hang():
    assert parse_float("1e1000000000000", 64) is None
    assert parse_float("1e-1000000000000", 64) == 0
    assert parse_float("0x1p+99999999999", 32) is None
    assert parse_float("0x1p-99999999999", 32) == 0
    assert parse_float("0e99999999999", 32) == 0


def test_long_decimal_mantissa_rounds_exactly():
    # 1 + 2^-24 written out in full, then a nonzero digit far beyond: rounds up.
    tie = "1.000000059604644775390625"
    assert parse_float(tie + "0" * 2000, 32) == 0x3F800000
    assert parse_float(tie + "0" * 2000 + "1", 32) == 0x3F800001


def test_f64_decimal_matches_python_float():
    rng = random.Random(7)
    for _ in range(2000):
        digits = str(rng.randrange(1, 10 ** rng.randint(1, 20)))
        text = f"{digits[0]}.{digits[1:]}e{rng.randint(-330, 310)}"
        expected = float(text)
        got = parse_float(text, 64)
        if expected == float("inf"):
            assert got is None, text
        else:
            assert got == struct.unpack("<Q", struct.pack("<d", expected))[0], text


def test_f32_hex_matches_single_rounding_of_exact_doubles():
    rng = random.Random(11)
    for _ in range(2000):
        text = f"0x{rng.getrandbits(rng.randint(1, 53)):x}p{rng.randint(-200, 140)}"
        try:
            expected = struct.unpack("<I", struct.pack("<f", float.fromhex(text)))[0]
        except OverflowError:
            expected = None
        assert parse_float(text, 32) == expected, text
