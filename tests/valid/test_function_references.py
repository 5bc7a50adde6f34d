"""Typed function references (the function-references proposal of WebAssembly 3.0): the type
representation, every format, validation with subtyping and local initialisation, the interp
tier, the runtime's cross-module type equality and the switches.  The official scripts run in
tests/spec/test_proposals.py."""

import pytest

from wasmforge.binary import decode_module, encode_module
from wasmforge.cli.inspect import features as used_features
from wasmforge.errors import LinkError, Trap, ValidationError
from wasmforge.features import ALL
from wasmforge import Instance, Module
from wasmforge import Config, Engine
from wasmforge.runtime.store import Store
from wasmforge.text.parser import parse_module
from wasmforge.text.printer import print_module
from wasmforge.types import (EXTERNREF, FUNCREF, FuncType, ValType, close_types, is_defaultable,
                             ref_parts, ref_type, val_matches)
from wasmforge.valid.validate import validate

TYPED = """(module
  (type $t (func (param i32) (result i32)))
  (type $u (func (param (ref $t)) (result i32)))
  (func $sq (type $t) (i32.mul (local.get 0) (local.get 0)))
  (elem declare func $sq)
  (table $tab 2 (ref null $t) (ref.func $sq))
  (global $g (ref $t) (ref.func $sq))
  (func $apply (type $u) (call_ref $t (i32.const 7) (local.get 0)))
  (func (export "run") (result i32) (call $apply (ref.func $sq)))
  (func (export "via-table") (param i32) (result i32)
    (call_ref $t (local.get 0) (ref.as_non_null (table.get $tab (i32.const 1)))))
  (func (export "null") (result i32) (call_ref $t (i32.const 1) (ref.null $t)))
  (func (export "is-null") (param (ref null $t)) (result i32)
    (block $l (br_on_null $l (local.get 0)) (drop) (return (i32.const 0)))
    (i32.const 1))
  (func (export "local") (result i32) (local $f (ref $t))
    (local.set $f (global.get $g))
    (call_ref $t (i32.const 3) (local.get $f)))
)"""


def interp_engine() -> Engine:
    config = Config()
    config.strategy = "interp"
    return Engine(config)


# ----- the type representation -----

def test_2_0_reference_types_keep_their_names():
    assert ref_type(True, "func") == FUNCREF == "funcref"
    assert ref_type(True, "extern") == EXTERNREF
    assert ref_type(False, "func") == "(ref func)"
    assert ref_type(True, 3) == "(ref null 3)"
    assert ref_parts("(ref null 3)") == (True, 3)
    assert ref_parts("i32") is None
    assert ValType("(ref func)") == "(ref func)"


def test_subtyping():
    assert val_matches("(ref func)", FUNCREF)
    assert not val_matches(FUNCREF, "(ref func)")
    assert val_matches("(ref 0)", "(ref null 0)") and val_matches("(ref 0)", "(ref func)")
    assert not val_matches("(ref func)", "(ref 0)")
    assert not val_matches("(ref extern)", FUNCREF)
    assert val_matches("(ref nofunc)", "(ref 2)") and not val_matches("(ref noextern)", "(ref 2)")
    assert not val_matches("i32", "i64") and val_matches(None, "(ref 1)")
    assert not is_defaultable("(ref func)") and is_defaultable("(ref null func)")


def test_closed_types_make_equivalent_types_equal():
    a = FuncType(["i32"], ["f32"])
    types = [a, FuncType([ref_type(False, 0)], []), a, FuncType([ref_type(False, 2)], [])]
    closed, heaps = close_types(types)
    assert closed[1] == closed[3] and heaps[1] == heaps[3]
    assert closed[1].params[0] == "(ref (func (param i32) (result f32)))"
    assert closed[0] is a                         # 2.0 types come back as they are
    with pytest.raises(ValueError, match="unknown type 1"):
        close_types([FuncType([ref_type(True, 1)], []), a])


# ----- formats -----

def test_binary_and_text_round_trip():
    m = parse_module(TYPED)
    validate(m)
    binary = encode_module(m)
    assert decode_module(binary, lazy=False) == m
    # the table initialiser and the typed-reference encodings (0x40 0x00 table, 0x64 (ref ht))
    assert b"\x40\x00\x63\x00" in binary and b"\x64\x00" in binary
    printed = print_module(m)
    assert "2 (ref null 0) (ref.func $sq))" in printed and "call_ref $t" in printed
    assert parse_module(printed) == m


def test_inspect_lists_the_proposal():
    assert "function-references" in used_features(parse_module(TYPED))
    assert "function-references" in used_features(parse_module("(module (func (param (ref extern))))"))
    # (ref null func) is funcref, a 2.0 type in another spelling
    assert used_features(parse_module("(module (global (ref null func) (ref.null func)))")) == []
    assert "function-references" not in used_features(parse_module("(module (func (drop (ref.null func))))"))


# ----- validation -----

def invalid(text: str, message: str):
    with pytest.raises(ValidationError, match=message):
        validate(parse_module(text), features=ALL)


def test_non_nullable_locals_must_be_set_first():
    invalid("(module (func (local (ref func)) (drop (local.get 0))))", "uninitialized local")
    invalid("""(module (func (param (ref extern)) (local (ref extern))
                 (block (local.set 1 (local.get 0))) (drop (local.get 1))))""",
            "uninitialized local")
    validate(parse_module("""(module (func (param (ref extern)) (local (ref extern))
                 (local.set 1 (local.get 0)) (block (drop (local.get 1)))))"""), features=ALL)


def test_subtyping_in_validation():
    # (ref $t) flows where funcref is expected; the converse is a type mismatch.
    validate(parse_module("""(module (type $t (func)) (func $f) (elem declare func $f)
        (func (result funcref) (ref.func $f)))"""), features=ALL)
    invalid("""(module (type $t (func)) (func (param funcref) (result (ref null $t))
        (local.get 0)))""", "type mismatch")
    invalid("(module (table 1 (ref func)))", "type mismatch")
    invalid("(module (func (call_ref 0 (ref.null func))) (type (func)))", "type mismatch")


def test_switched_off_proposal_is_named():
    m = parse_module("(module (func (param (ref func))))")
    with pytest.raises(ValidationError, match="uses the function-references proposal .*disabled"):
        validate(m, features=frozenset())
    config = Config()
    config.wasm_function_references = False
    with pytest.raises(ValidationError, match="function-references"):
        Module(Engine(config), TYPED)


# ----- execution (interp tier) and the runtime -----

def test_interp_runs_typed_references():
    engine = interp_engine()
    store = Store(engine)
    inst = Instance(store, Module(engine, TYPED), [])
    ex = inst.exports(store)
    assert ex["run"](store) == 49
    assert ex["via-table"](store, 5) == 25
    assert ex["local"](store) == 9
    assert ex["is-null"](store, None) == 1
    with pytest.raises(Trap, match="null function reference"):
        ex["null"](store)


def test_equivalent_types_link_across_modules():
    engine = interp_engine()
    store = Store(engine)
    a = Instance(store, Module(engine, """(module (type $s (func (param i32)))
        (type $t (func (param (ref $s)))) (func (export "f") (type $t)))"""), [])
    f = a.exports(store)["f"]
    b = Module(engine, """(module (type $x (func)) (type $s2 (func (param i32)))
        (import "a" "f" (func (param (ref $s2)))))""")
    Instance(store, b, [f])
    c = Module(engine, """(module (type $s3 (func (param i64)))
        (import "a" "f" (func (param (ref $s3)))))""")
    with pytest.raises(LinkError, match="incompatible import type"):
        Instance(store, c, [f])


def llvm_engine() -> Engine:
    pytest.importorskip("llvmlite")
    config = Config()
    config.strategy = "llvm"
    return Engine(config)


def test_llvm_tier_runs_typed_references():
    engine = llvm_engine()
    store = Store(engine)
    ex = Instance(store, Module(engine, TYPED), []).exports(store)
    assert ex["run"](store) == 49
    assert ex["via-table"](store, 5) == 25
    assert ex["local"](store) == 9
    assert ex["is-null"](store, None) == 1
    with pytest.raises(Trap, match="null function reference"):
        ex["null"](store)


@pytest.mark.parametrize("tier", ["interp", "llvm"])
def test_return_call_ref_runs_in_constant_stack(tier):
    # A million mutually recursive tail calls through function references.
    engine = interp_engine() if tier == "interp" else llvm_engine()
    store = Store(engine)
    m = Module(engine, """(module (type $t (func (param i64) (result i64)))
        (elem declare func $even $odd)
        (func $even (type $t) (if (result i64) (i64.eqz (local.get 0)) (then (i64.const 1))
          (else (return_call_ref $t (i64.sub (local.get 0) (i64.const 1)) (ref.func $odd)))))
        (func $odd (type $t) (if (result i64) (i64.eqz (local.get 0)) (then (i64.const 0))
          (else (return_call_ref $t (i64.sub (local.get 0) (i64.const 1)) (ref.func $even)))))
        (func (export "even") (param i64) (result i64) (call $even (local.get 0))))""")
    even = Instance(store, m, []).exports(store)["even"]
    assert even(store, 1_000_000) == 1
    assert even(store, 999_999) == 0


def test_host_function_with_a_typed_reference_links():
    # The API spells a typed reference closed over its type (what Func.type shows).
    from wasmforge import Func
    engine = interp_engine()
    store = Store(engine)
    m = Module(engine, """(module (type $t (func (result i32)))
        (import "h" "apply" (func $apply (param (ref $t)) (result i32)))
        (func $seven (result i32) (i32.const 7)) (elem declare func $seven)
        (func (export "run") (result i32) (call $apply (ref.func $seven))))""")
    ty = m.imports[0].type
    assert ty.params == ["(ref (func (result i32)))"]
    host = Func(store, FuncType(ty.params, ["i32"]), lambda f: f(store) * 6)
    assert Instance(store, m, [host]).exports(store)["run"](store) == 42


@pytest.mark.parametrize("lazy", ["0", "1"])
def test_llvm_call_ref_native_and_through_the_callback(monkeypatch, lazy):
    # Own defined functions are called natively (from the function table, lazily compiled or
    # not); an imported function or another instance's goes through the callback.
    monkeypatch.setenv("WASMFORGE_LLVM_LAZY", lazy)
    engine = llvm_engine()
    store = Store(engine)
    a = Instance(store, Module(engine, """(module (type $t (func (param i32) (result i32)))
        (func $dbl (export "dbl") (type $t) (i32.add (local.get 0) (local.get 0))))"""), [])
    m = Module(engine, """(module (type $t (func (param i32) (result i32)))
        (import "a" "dbl" (func $imp (type $t)))
        (func $inc (type $t) (i32.add (local.get 0) (i32.const 1)))
        (elem declare func $inc $imp)
        (func $apply (param (ref $t) i32) (result i32) (call_ref $t (local.get 1) (local.get 0)))
        (func (export "own") (param i32) (result i32) (call $apply (ref.func $inc) (local.get 0)))
        (func (export "imported") (param i32) (result i32) (call $apply (ref.func $imp) (local.get 0)))
        (func (export "given") (param (ref null $t) i32) (result i32)
          (call_ref $t (local.get 1) (local.get 0))))""")
    ex = Instance(store, m, [a.exports(store)["dbl"]]).exports(store)
    assert ex["own"](store, 41) == 42
    assert ex["imported"](store, 21) == 42
    assert ex["given"](store, a.exports(store)["dbl"], 4) == 8
    with pytest.raises(Trap, match="null function reference"):
        ex["given"](store, None, 4)
