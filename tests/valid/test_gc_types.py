"""GC proposal, type definitions: recursive groups, sub/final, struct and array types, their
binary and text forms, validation of declared subtypes, and iso-recursive canonicalisation
(equal recursive groups are equal types, within and across modules)."""

from __future__ import annotations

import pytest

from wasmforge import Engine, Instance, Module, Store
from wasmforge.api.engine import Config
from wasmforge.binary.decode import decode_module
from wasmforge.binary.encode import encode_module
from wasmforge.errors import DecodeError, LinkError, ValidationError
from wasmforge.features import ALL
from wasmforge.text.parser import parse_module
from wasmforge.text.printer import print_module
from wasmforge.types import ArrayType, FieldType, StructType, heap_matches
from wasmforge.valid import validate

GC = ALL | {"gc"}


def _valid(text: str):
    m = parse_module(text)
    validate(m, features=GC)
    return m


def _invalid(text: str) -> str:
    with pytest.raises(ValidationError) as info:
        validate(parse_module(text), features=GC)
    return str(info.value)


def test_struct_and_array_types_parse_with_fields_and_packing():
    m = _valid("(module (type (struct (field $x (mut i8)) (field i16 i64))) (type (array (mut f32))))")
    assert m.types == [StructType([FieldType("i8", True), FieldType("i16"), FieldType("i64")]),
                       ArrayType(FieldType("f32", True))]


def test_rec_and_sub_round_trip_through_binary_and_text():
    text = ("(module (rec (type $a (struct (field (ref null $b)))) (type $b (sub (array i32))))"
            " (type $c (sub final $b (array i32))) (type (func)))")
    m = _valid(text)
    assert m.rec_groups == [(0, 2)] and m.subtypes == {1: (False, ()), 2: (True, (1,))}
    binary = encode_module(m)
    assert b"\x4e\x02\x5f\x01\x63\x01\x00\x50\x00\x5e\x7f\x00\x4f\x01\x01\x5e\x7f\x00" in binary
    back = decode_module(binary)
    assert (back.types, back.rec_groups, back.subtypes) == (m.types, m.rec_groups, m.subtypes)
    again = parse_module(print_module(back))
    assert (again.types, again.rec_groups, again.subtypes) == (m.types, m.rec_groups, m.subtypes)


def test_bad_mutability_byte_is_malformed():
    wasm = b"\0asm\1\0\0\0" + b"\x01\x04\x01\x5e\x78\x02"
    with pytest.raises(DecodeError, match="malformed mutability"):
        decode_module(wasm)


def test_gc_types_are_refused_unless_the_proposal_is_on():
    with pytest.raises(ValidationError, match="gc proposal"):
        validate(parse_module("(module (type (struct)))"), features=ALL - {"gc"})


def test_equal_rec_groups_are_equal_types():
    m = _valid("(module (rec (type $f1 (func)) (type (struct (field (ref $f1)))))"
               " (rec (type $f2 (func)) (type (struct (field (ref $f2)))))"
               " (func $f (type $f2)) (global (ref $f1) (ref.func $f)))")
    _, heaps = m.close_types()
    assert heaps[0] == heaps[2] and heaps[1] == heaps[3]


def test_different_rec_groups_are_different_types():
    assert "type mismatch" in _invalid(
        "(module (rec (type $f1 (func)) (type (struct)))"
        " (rec (type $f2 (func)) (type (struct (field i32))))"
        " (func $f (type $f2)) (global (ref $f1) (ref.func $f)))")


def test_declared_subtype_matches_its_supertype_only():
    m = _valid("(module (type $t (sub (struct (field i32))))"
               " (type $s (sub $t (struct (field i32) (field i64)))))")
    _, (t, s) = m.close_types()
    assert heap_matches(s, t) and not heap_matches(t, s)
    assert heap_matches(s, "struct") and heap_matches(s, "eq") and not heap_matches(s, "array")
    assert heap_matches("none", s) and not heap_matches("nofunc", s)


@pytest.mark.parametrize("text", [
    "(module (type $t (func)) (type $s (sub $t (func))))",                       # final
    "(module (type $t (sub final (struct))) (type $s (sub $t (struct))))",        # final
    "(module (type $a (sub (array i32))) (type $s (sub $a (struct))))",           # kind
    "(module (type $t (sub (struct (field i32)))) (type $s (sub $t (struct (field i64)))))",
    "(module (type $t (sub (struct (field (mut i32))))) (type $s (sub $t (struct (field i32)))))",
    "(module (type $t (sub (func (param i32)))) (type $s (sub $t (func (param i64)))))",
])
def test_bad_subtype_declarations_are_invalid(text):
    assert "sub type" in _invalid(text)


def test_supertype_must_be_defined_earlier():
    assert "unknown type" in _invalid("(module (rec (type $s (sub $t (struct))) (type $t (sub (struct)))))")


def _gc_engine(strategy: str) -> Engine:
    config = Config()
    config.strategy = strategy
    config.wasm_gc = True
    return Engine(config)


def test_imported_function_of_a_different_rec_group_does_not_link():
    engine = _gc_engine("interp")
    store = Store(engine)
    exporter = Instance(store, Module(engine, "(module (rec (type $f (func)) (type (struct)))"
                                              " (func (export \"f\") (type $f)))"), [])
    importer = Module(engine, "(module (rec (type $f (func)) (type (struct (field i32))))"
                              " (import \"m\" \"f\" (func (type $f))))")
    with pytest.raises(LinkError, match="incompatible import type"):
        Instance(store, importer, [exporter.exports(store)["f"]])


def test_llvm_tier_runs_gc_modules():
    try:
        engine = _gc_engine("llvm")
    except Exception:   # noqa: BLE001 - llvmlite missing
        pytest.skip("the llvm tier is not available")
    module = Module(engine, "(module (type $s (struct (field i32)))"
                            " (func (export \"f\") (param i32) (result i32)"
                            " (struct.get $s 0 (struct.new $s (local.get 0)))))")
    store = Store(engine)
    assert Instance(store, module, []).exports(store)["f"](store, 41) == 41


def test_plain_function_types_close_as_the_general_walk_closes_them():
    # close_types takes a shortcut for modules of plain function types (issue 10: a module
    # loaded per request pays for closing its types): same types, same heap forms.
    from wasmforge.types import DEFINED, FuncType, close_types
    long = FuncType(("i32",) * 600, ("i64",) * 2)
    types = [FuncType((), ()), FuncType(("i32", "f64"), ("v128",)), long, FuncType(("externref",), ())]
    fast = close_types(types)
    walked = close_types(types, [(0, 1)])        # a group of one spelt out: the general walk
    assert fast == walked
    assert all(a is b for a, b in zip(fast[0], types))
    assert fast[1][1] == "(func (param i32 f64) (result v128))"
    assert fast[1][2].startswith("(func#")           # long texts are numbered, as by the walk
    assert all(DEFINED[h].kind == "func" and DEFINED[h].final for h in fast[1])
