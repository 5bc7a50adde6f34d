"""Exception handling (the exceptions proposal) through the API, on every tier that runs it:
throw and catch in wasm, the legacy try/catch/rethrow/delegate, exceptions crossing host
functions both ways, tags imported and exported, and the error an uncaught exception is."""

from __future__ import annotations

import pytest

from wasmforge import (Config, Engine, Exn, FuncType, Instance, Linker, Module, Store, Tag,
                       TagType, Trap, TrapCode, ValidationError, ValType, WasmException)
from wasmforge.binary import decode_module, encode_module
from wasmforge.errors import DecodeError
from wasmforge.text.parser import parse_module
from wasmforge.text.printer import print_module

from support import tier_params

EH_TIERS = tier_params()

I32 = ValType.i32()


def engine(tier: str) -> Engine:
    config = Config()
    config.strategy = tier
    return Engine(config)


def instance(tier: str, wat: str, imports=()):
    e = engine(tier)
    store = Store(e)
    return store, Instance(store, Module(e, wat), list(imports)).exports(store)


@pytest.fixture(params=EH_TIERS)
def tier(request):
    return request.param


# ----- wasm only -----

TRY_TABLE = """(module
  (tag $a (param i32))
  (tag $b (param i64 f64))
  (tag $c)
  (func $throw (param i32)
    (if (i32.eq (local.get 0) (i32.const 0)) (then (throw $a (i32.const 42))))
    (if (i32.eq (local.get 0) (i32.const 1)) (then (throw $b (i64.const -7) (f64.const 2.5))))
    (if (i32.eq (local.get 0) (i32.const 2)) (then (throw $c))))
  (func (export "which") (param i32) (result i32)
    (block $ha (result i32)
      (block $hb (result i64 f64)
        (block $hc
          (try_table (catch $a $ha) (catch $b $hb) (catch $c $hc)
            (call $throw (local.get 0)))
          (return (i32.const -1)))
        (return (i32.const 300)))
      (drop) (i32.wrap_i64)))
)"""


def test_try_table_dispatches_on_the_tag_and_delivers_the_payload(tier):
    store, ex = instance(tier, TRY_TABLE)
    assert [ex["which"](store, k) for k in (0, 1, 2, 3)] == [42, -7, 300, -1]


def test_throw_ref_rethrows_the_same_exception_object(tier):
    store, ex = instance(tier, """(module
      (tag $t (export "t") (param i32))
      (global $kept (mut exnref) (ref.null exn))
      (func (export "catch_and_keep") (result exnref)
        (block $h (result exnref)
          (try_table (catch_all_ref $h) (throw $t (i32.const 9)))
          (unreachable)))
      (func (export "rethrow") (param exnref) (throw_ref (local.get 0))))""")
    exn = ex["catch_and_keep"](store)
    assert isinstance(exn, Exn) and exn.tag is ex["t"] and exn.payload == [9]
    with pytest.raises(WasmException) as info:
        ex["rethrow"](store, exn)
    assert info.value.exn is exn


def test_throw_ref_of_null_traps(tier):
    store, ex = instance(tier, '(module (func (export "f") (throw_ref (ref.null exn))))')
    with pytest.raises(Trap) as info:
        ex["f"](store)
    assert not isinstance(info.value, WasmException)
    assert info.value.code is TrapCode.NULL_REFERENCE


def test_a_trap_is_not_caught_by_catch_all(tier):
    store, ex = instance(tier, """(module
      (func (export "f") (result i32)
        (block $h (try_table (catch_all $h) (unreachable))) (i32.const 1)))""")
    with pytest.raises(Trap) as info:
        ex["f"](store)
    assert info.value.code is TrapCode.UNREACHABLE


LEGACY = """(module
  (tag $e (param i32))
  (tag $f)
  (func $thrower (param i32)
    (if (local.get 0) (then (throw $e (local.get 0))) (else (throw $f))))
  (func (export "catch") (param i32) (result i32)
    (try (result i32)
      (do (call $thrower (local.get 0)) (i32.const 0))
      (catch $e (i32.add (i32.const 100)))
      (catch_all (i32.const 7))))
  (func (export "rethrow") (param i32) (result i32)
    (try (result i32)
      (do
        (try (result i32)
          (do (call $thrower (local.get 0)) (i32.const 0))
          (catch $e (drop) (rethrow 0))))
      (catch $e (i32.add (i32.const 1000)))))
  (func (export "delegate") (param i32) (result i32)
    (try $outer (result i32)
      (do
        (try (result i32)
          (do
            (try (result i32)
              (do (call $thrower (local.get 0)) (i32.const 0))
              (delegate $outer)))
          (catch $e (drop) (i32.const -1))))
      (catch $e (i32.add (i32.const 2000)))))
  (func (export "delegate_to_caller") (param i32) (result i32)
    (try (result i32)
      (do (try (result i32) (do (call $thrower (local.get 0)) (i32.const 0)) (delegate 1)))
      (catch_all (i32.const -1))))
)"""


def test_legacy_try_catch_and_catch_all(tier):
    store, ex = instance(tier, LEGACY)
    assert ex["catch"](store, 5) == 105
    assert ex["catch"](store, 0) == 7


def test_legacy_rethrow_rethrows_the_caught_exception(tier):
    store, ex = instance(tier, LEGACY)
    assert ex["rethrow"](store, 3) == 1003


def test_legacy_delegate_skips_the_handlers_in_between(tier):
    store, ex = instance(tier, LEGACY)
    # The middle try's `catch $e` (-1) is skipped: the exception goes to $outer's handler.
    assert ex["delegate"](store, 4) == 2004


def test_legacy_delegate_to_the_function_label_leaves_the_function(tier):
    store, ex = instance(tier, LEGACY)
    with pytest.raises(WasmException) as info:
        ex["delegate_to_caller"](store, 6)
    assert info.value.payload == [6]


# ----- the host -----

def test_uncaught_exception_reaches_the_host_as_a_trap_with_tag_and_payload(tier):
    store, ex = instance(tier, """(module (tag $t (export "t") (param i32 i64))
      (func (export "f") (throw $t (i32.const -1) (i64.const 5))))""")
    with pytest.raises(Trap) as info:
        ex["f"](store)
    err = info.value
    assert isinstance(err, WasmException)
    assert err.code is TrapCode.UNCAUGHT_EXCEPTION
    assert err.tag is ex["t"] and err.tag.type(store).functype == FuncType([I32, ValType.i64()], [])
    assert err.payload == [-1, 5]
    assert err.frames and err.frames[0].func_index == 0


def test_host_function_throws_a_wasm_exception_of_a_host_tag(tier):
    e = engine(tier)
    store = Store(e)
    tag = Tag(store, TagType(FuncType([I32], [])))
    linker = Linker(e)
    linker.define(store, "host", "tag", tag)
    linker.define_func("host", "throw", FuncType([I32], []), lambda x: (_ for _ in ()).throw(tag.exception([x * 2])))
    inst = linker.instantiate(store, Module(e, """(module
      (import "host" "tag" (tag $t (param i32)))
      (import "host" "throw" (func $throw (param i32)))
      (func (export "f") (param i32) (result i32)
        (block $h (result i32)
          (try_table (catch $t $h) (call $throw (local.get 0)))
          (i32.const -1))))"""))
    assert inst.exports(store)["f"](store, 21) == 42


def test_exception_through_a_host_frame_keeps_its_identity(tier):
    # wasm -> host -> wasm that throws; the outer wasm catches the very exception object.
    e = engine(tier)
    store = Store(e)
    inner = Instance(store, Module(e, """(module (tag $t (export "t") (param i32))
      (func (export "throw") (param i32) (throw $t (local.get 0))))"""), []).exports(store)
    seen = []

    def host(x):
        try:
            inner["throw"](store, x)
        except WasmException as exc:
            seen.append(exc.exn)
            raise

    linker = Linker(e)
    linker.define(store, "m", "t", inner["t"])
    linker.define_func("m", "via_host", FuncType([I32], []), host)
    outer = linker.instantiate(store, Module(e, """(module
      (import "m" "t" (tag $t (param i32)))
      (import "m" "via_host" (func $via (param i32)))
      (func (export "f") (param i32) (result exnref) (local $e exnref)
        (block $h (result i32 exnref)
          (try_table (catch_ref $t $h) (call $via (local.get 0)))
          (unreachable))
        (local.set $e) (drop) (local.get $e)))"""))
    exn = outer.exports(store)["f"](store, 5)
    assert seen and exn is seen[0] and exn.payload == [5]


def test_a_tag_of_another_instance_does_not_catch(tier):
    e = engine(tier)
    store = Store(e)
    a = Instance(store, Module(e, """(module (tag $t (export "t"))
      (func (export "throw") (throw $t)))"""), []).exports(store)
    linker = Linker(e)
    linker.define(store, "a", "throw", a["throw"])
    inst = linker.instantiate(store, Module(e, """(module
      (import "a" "throw" (func $throw))
      (tag $mine)
      (func (export "f") (result i32)
        (block $h (try_table (catch $mine $h) (call $throw)) (return (i32.const 0)))
        (i32.const 1)))"""))
    with pytest.raises(WasmException) as info:
        inst.exports(store)["f"](store)
    assert info.value.tag is a["t"]


def test_tag_import_type_must_match():
    e = engine("interp")
    store = Store(e)
    tag = Tag(store, TagType(FuncType([ValType.f32()], [])))
    linker = Linker(e)
    linker.define(store, "h", "t", tag)
    from wasmforge import LinkError
    with pytest.raises(LinkError, match="incompatible import type"):
        linker.instantiate(store, Module(e, '(module (import "h" "t" (tag (param i32))))'))


def test_module_reports_tag_imports_and_exports():
    e = engine("interp")
    m = Module(e, '(module (import "h" "t" (tag (param i32))) (tag (export "u") (param f64)))')
    assert m.imports[0].type == TagType(FuncType([I32], []))
    assert m.exports[0].type == TagType(FuncType([ValType.f64()], []))


# ----- switches, formats -----

def test_switched_off_exceptions_are_refused_by_name():
    config = Config()
    config.wasm_exceptions = False
    with pytest.raises(ValidationError, match="uses the exceptions proposal .*which is disabled"):
        Module(Engine(config), "(module (tag) (func (throw 0)))")
    with pytest.raises(ValidationError, match="exnref"):
        Module(Engine(config), "(module (func (param exnref)))")


def test_text_and_binary_round_trip_of_every_form():
    m = parse_module(LEGACY.replace("(module", "(module (import \"i\" \"t\" (tag (param f32)))", 1))
    again = decode_module(encode_module(m))
    assert again == m
    assert parse_module(print_module(again)) == m
    m2 = parse_module(TRY_TABLE)
    assert parse_module(print_module(decode_module(encode_module(m2)))) == m2


def test_the_20_binary_format_alone_refuses_exception_opcodes():
    data = encode_module(parse_module("(module (tag) (func (throw 0)))"))
    decode_module(data)
    with pytest.raises(DecodeError, match="malformed section id"):
        decode_module(data, features=frozenset(), strict=True)


def test_inspect_lists_the_proposal_and_tag_imports():
    from wasmforge.cli.inspect import summarize
    m = parse_module('(module (import "a" "t" (tag (param i32))) (tag (export "u")) (func (param exnref)))')
    info = summarize(m, encode_module(m))
    assert info["features"] == ["exceptions"]
    assert info["counts"]["tags"] == 2
    assert info["imports"] == [{"module": "a", "name": "t", "kind": "tag", "type": "[i32] -> []"}]
    assert [s["name"] for s in info["sections"]][:4] == ["type", "import", "function", "tag"]
