"""``wasmforge.cm.wave``: WAVE text read against a type gives wasmtime-py's Python values, and
printing them gives text that reads back to the same values; bad text names its column."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wasmforge.cm import types as t
from wasmforge.cm.abi.values import Record, Variant
from wasmforge.cm.wave import WaveError, format_float, format_value, parse_args, parse_value

POINT = t.RecordType((("x", t.S32), ("note", t.OptionType(t.STRING))))
SHAPE = t.VariantType((("circle", t.F64), ("none", None), ("named", t.STRING)))
PERMS = t.FlagsType(("read", "write"))
COLOR = t.EnumType(("red", "ok"))


@pytest.mark.parametrize("text,ty,value,printed", [
    ("true", t.BOOL, True, "true"),
    ("-7", t.S8, -7, "-7"),
    ("1.5", t.F32, 1.5, "1.5"),
    ("'\\u{1f600}'", t.CHAR, "\U0001f600", "'\U0001f600'"),
    ('"a\\u{0}"', t.STRING, "a\0", '"a\\u{0}"'),
    ("[1, 2]", t.ListType(t.U8), b"\x01\x02", "[1, 2]"),
    ("(1, 'x')", t.TupleType((t.U32, t.CHAR)), (1, "x"), "(1, 'x')"),
    ("{x: 1}", POINT, Record(x=1, note=None), "{x: 1}"),
    ('{note: some("n"), x: -1}', POINT, Record(x=-1, note="n"), '{x: -1, note: some("n")}'),
    ("%none", SHAPE, None, "%none"),  # untagged: the cases differ in Python class
    ("circle(2)", SHAPE, 2.0, "circle(2)"),
    ("{write, read}", PERMS, {"read", "write"}, "{read, write}"),
    ("%ok", COLOR, "ok", "%ok"),
    ("5", t.OptionType(t.U32), 5, "some(5)"),
    ("err", t.ResultType(None, None), Variant("err", None), "err"),
    ('"x"', t.ResultType(t.STRING, t.U8), "x", 'ok("x")'),
    ("some(none)", t.OptionType(t.OptionType(t.U8)), Variant("some", None), "some(none)"),
])
def test_parse_and_print(text, ty, value, printed):
    assert parse_value(text, ty) == value
    assert format_value(value, ty) == printed
    assert parse_value(printed, ty) == value


@pytest.mark.parametrize("text,ty,column,message", [
    ("256", t.U8, 1, "out of range for u8"),
    ("[1, x]", t.ListType(t.U8), 5, "expected a value of type u8, found 'x'"),
    ("{x: 1, y: 2}", POINT, 8, "has no field 'y'"),
    ("circle", SHAPE, 7, "needs a payload"),
    ('"abc', t.STRING, 1, "unterminated string"),
    ("1 2", t.U8, 3, "after the value"),
    ("some(1", t.OptionType(t.U8), 7, "expected ')'"),
])
def test_errors_name_the_column(text, ty, column, message):
    with pytest.raises(WaveError) as info:
        parse_value(text, ty)
    assert info.value.column == column and message in info.value.reason


def test_argument_columns_count_from_the_call():
    f = t.FuncType((("a", t.U8), ("b", t.STRING)))
    assert parse_args('1, "x"', f) == [1, "x"]
    with pytest.raises(WaveError) as info:
        parse_args("1, 2", f, base=4)
    assert info.value.column == 8


@settings(max_examples=300, deadline=None)
@given(st.floats(allow_nan=False))
def test_f64_printing_reads_back(v):
    text = format_float(v, 64)
    assert "e" not in text and float(text) == v and math.copysign(1, float(text)) == math.copysign(1, v)


@settings(max_examples=300, deadline=None)
@given(st.floats(width=32, allow_nan=False, allow_infinity=False))
def test_f32_printing_reads_back(v):
    assert parse_value(format_float(v, 32), t.F32) == v


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_strings_round_trip(s):
    s = "".join(c for c in s if not 0xD800 <= ord(c) <= 0xDFFF)
    assert parse_value(format_value(s, t.STRING), t.STRING) == s
