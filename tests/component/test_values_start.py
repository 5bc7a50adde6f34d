"""🪙 Component values and start functions at run time: value imports, value definitions (the
binary ``val(t)`` encoding, read into the host's Python values), a start function called at
instantiation on values with its result as a new value, and value exports."""

from __future__ import annotations

import struct

import pytest

from wasmforge import Store
from wasmforge.cm import ast
from wasmforge.cm.abi import Record, Variant
from wasmforge.cm.binary import decode_component, encode_component
from wasmforge.cm.instance import Component, HostFunction, instantiate_component
from wasmforge.cm.text.parser import parse_component
from wasmforge.cm.types import (BOOL, CHAR, F32, F64, S8, S16, S64, STRING, U8, U32, U64, EnumType, FlagsType,
                                ListType, OptionType, RecordType, ResultType, TupleType, VariantType)
from wasmforge.cm.valuedef import read_value
from wasmforge.errors import DecodeError, LinkError, ValidationError

START = '''(component
  (import "v" (value $v string))
  (core module $m (global $g (mut i32) (i32.const 0)) (memory (export "mem") 1)
    (func (export "realloc") (param i32 i32 i32 i32) (result i32) (i32.const 16))
    (func (export "len2") (param i32 i32) (result i32)
      (global.set $g (local.get 1)) (i32.mul (local.get 1) (i32.const 2)))
    (func (export "seen") (result i32) (global.get $g)))
  (core instance $i (instantiate $m))
  (func $len2 (param "x" string) (result u32)
    (canon lift (core func $i "len2") (memory (core memory $i "mem")) (realloc (core func $i "realloc"))))
  (func (export "seen") (result u32) (canon lift (core func $i "seen")))
  (start $len2 (value $v) (result (value $r)))
  (export "r" (value $r))
)'''


def test_a_start_function_runs_at_instantiation_on_an_imported_value():
    inst = instantiate_component(Store(), Component(parse_component(START)), {"v": "hello"})
    assert inst.exports["seen"]() == 5          # the core code ran with the lowered string
    assert inst.exports["r"] == 10              # its result became the exported value


def test_a_value_definition_feeds_the_start_function_and_survives_the_binary_format():
    c = parse_component(START)
    imp = c.definitions[0]
    assert isinstance(imp, ast.Import) and imp.desc.sort == "value"
    c.definitions[0] = ast.ValueDef(imp.desc.bound, b"\x03h\xc3\xa9")        # "hé": 3 bytes
    c = decode_component(encode_component(c))
    inst = instantiate_component(Store(), Component(c), {})
    assert (inst.exports["seen"](), inst.exports["r"]) == (3, 6)


def test_a_value_import_takes_a_value_not_a_function():
    with pytest.raises(LinkError, match="import `v`: expected value found function"):
        instantiate_component(Store(), Component(parse_component(START)), {"v": HostFunction(None, len)})


def test_a_value_never_consumed_is_invalid_but_an_exported_one_is_consumed():
    with pytest.raises(ValidationError, match="not consumed"):
        Component(parse_component('(component (import "v" (value u32)))'))
    Component(parse_component('(component (import "v" (value $v u32)) (export "w" (value $v)))'))


def _leb(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


@pytest.mark.parametrize("t, data, want", [
    (BOOL, b"\x01", True),
    (U8, b"\xff", 255),
    (S8, b"\xff", -1),
    (S16, b"\x7f", -1),                                   # signed LEB128
    (U32, _leb(300), 300),
    (U64, _leb(2 ** 64 - 1), 2 ** 64 - 1),
    (S64, b"\x80\x7f", -128),
    (F32, struct.pack("<f", 1.5), 1.5),
    (F64, struct.pack("<d", -2.25), -2.25),
    (CHAR, "€".encode(), "€"),
    (STRING, b"\x02hi", "hi"),
    (ListType(U8), b"\x02\x01\x02", b"\x01\x02"),
    (ListType(STRING), b"\x02\x01a\x00", ["a", ""]),
    (TupleType((U8, BOOL)), b"\x07\x00", (7, False)),
    (RecordType((("a", U8), ("b-c", STRING))), b"\x05\x01x", Record(**{"a": 5, "b-c": "x"})),
    (VariantType((("x", U32), ("y", U32))), b"\x01\x05", Variant("y", 5)),      # tagged: same class
    (VariantType((("x", None), ("y", U32))), b"\x01\x05", 5),                  # the bare payload
    (EnumType(("p", "q", "r")), b"\x02", "r"),
    (FlagsType(tuple(f"f{i}" for i in range(9))), b"\x01\x01", {"f0", "f8"}),
    (OptionType(U32), b"\x00", None),
    (OptionType(U32), b"\x01\x2a", 42),
    (ResultType(U32, STRING), b"\x01\x02no", "no"),
    (ResultType(U32, U32), b"\x01\x03", Variant("err", 3)),
    (ResultType(None, None), b"\x00", Variant("ok", None)),
])
def test_read_value_gives_the_hosts_python_value(t, data, want):
    assert read_value(t, data) == want


def test_the_canonical_nan_only():
    assert read_value(F32, b"\x00\x00\xc0\x7f") != read_value(F32, b"\x00\x00\xc0\x7f")    # a NaN
    with pytest.raises(DecodeError, match="canonical NaN"):
        read_value(F32, b"\x01\x00\xc0\x7f")


@pytest.mark.parametrize("t, data, message", [
    (BOOL, b"\x02", "invalid boolean"),
    (U32, b"\x01\x00", "trailing bytes"),
    (STRING, b"\x05ab", "unexpected end"),
    (STRING, b"\x01\xff", "malformed UTF-8"),
    (EnumType(("a",)), b"\x01", "out of range"),
    (FlagsType(("a", "b")), b"\x04", "beyond its labels"),
    (OptionType(U8), b"\x02", "out of range"),
])
def test_a_malformed_value_is_a_decode_error(t, data, message):
    with pytest.raises(DecodeError, match=message):
        read_value(t, data)


def test_a_malformed_value_definition_makes_the_component_invalid():
    c = parse_component(START)
    c.definitions[0] = ast.ValueDef(c.definitions[0].desc.bound, b"\x05ab")
    with pytest.raises(ValidationError, match="invalid value definition: unexpected end"):
        Component(c)
