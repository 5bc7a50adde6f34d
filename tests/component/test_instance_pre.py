"""``Linker.instantiate_pre``: imports resolved once, then a new instance per store, each with
its own state (what ``wasmforge serve`` does per request)."""

from __future__ import annotations

import pytest

import wasmforge
from wasmforge import component as C
from wasmforge.errors import LinkError

from support import engine_for, tier_params

# A counter in a global: each instance starts from 0.
COUNTER = '''(component
  (import "step" (func $s (result u32)))
  (core func $sl (canon lower (func $s)))
  (core module $m (import "" "step" (func $step (result i32)))
    (global $n (mut i32) (i32.const 0))
    (func (export "bump") (result i32)
      (global.set $n (i32.add (global.get $n) (call $step))) (global.get $n)))
  (core instance $i (instantiate $m (with "" (instance (export "step" (func $sl))))))
  (func (export "bump") (result u32) (canon lift (core func $i "bump"))))'''


@pytest.mark.parametrize("tier", tier_params())
def test_each_instance_of_a_pre_has_its_own_state(tier):
    engine = engine_for(tier)
    linker = C.Linker(engine)
    with linker.root() as root:
        root.add_func("step", lambda store: 5)
    pre = linker.instantiate_pre(C.Component(engine, COUNTER))
    results = []
    for _ in range(3):
        store = wasmforge.Store(engine)
        bump = pre.instantiate(store).get_func(store, "bump")
        results.append((bump(store), bump(store)))
    assert results == [(5, 10)] * 3


def test_a_missing_import_is_a_link_error_when_the_pre_is_made():
    engine = wasmforge.Engine()
    with pytest.raises(LinkError, match="import `step` was not found"):
        C.Linker(engine).instantiate_pre(C.Component(engine, COUNTER))


def test_later_definitions_do_not_change_a_pre():
    engine = wasmforge.Engine()
    linker = C.Linker(engine)
    linker.allow_shadowing = True
    with linker.root() as root:
        root.add_func("step", lambda store: 1)
    pre = linker.instantiate_pre(C.Component(engine, COUNTER))
    with linker.root() as root:
        root.add_func("step", lambda store: 100)
    store = wasmforge.Store(engine)
    assert pre.instantiate(store).get_func(store, "bump")(store) == 1


def test_wasi_imports_are_resolved_by_the_wasip2_host():
    engine = wasmforge.Engine()
    component = C.Component(engine, '''(component
      (import "wasi:cli/environment@0.2.3" (instance $env
        (export "get-arguments" (func (result (list string)))))))''')
    with pytest.raises(LinkError, match="wasi:cli/environment@0.2.3"):
        C.Linker(engine).instantiate_pre(component)
    linker = C.Linker(engine)
    linker.add_wasip2()
    pre = linker.instantiate_pre(component)
    assert pre.component is component
    pre.instantiate(wasmforge.Store(engine))


def test_an_instance_pre_is_not_constructed_directly():
    with pytest.raises(wasmforge.WasmtimeError):
        C.InstancePre()


def test_wasi_http_alone_is_linked_by_add_wasi_http():
    engine = wasmforge.Engine()
    component = C.Component(engine, '''(component
      (import "wasi:http/types@0.2.0" (instance $t
        (export "fields" (type (sub resource)))))
      (import "wasi:cli/environment@0.2.0" (instance $e
        (export "get-arguments" (func (result (list string)))))))''')
    linker = C.Linker(engine)
    linker.add_wasi_http()
    with pytest.raises(LinkError, match="wasi:cli/environment@0.2.0"):
        linker.instantiate_pre(component)
    linker.add_wasip2()          # all of WASI 0.2, wasi:http included
    linker.instantiate_pre(component).instantiate(wasmforge.Store(engine))


# A host import taking a string and one returning a string, lowered into a core module with
# its own memory and allocator: each instance's adapters must read and write that instance's
# memory and call its realloc (the adapters are generated once, then remade per instance).
STRINGS = '''(component
  (import "log" (func $log (param "s" string)))
  (import "get" (func $get (result string)))
  (core module $mem
    (memory (export "mem") 1)
    (global $top (mut i32) (i32.const 1024))
    (func (export "realloc") (param i32 i32 i32 i32) (result i32)
      (global.get $top)
      (global.set $top (i32.add (global.get $top) (local.get 3)))))
  (core instance $mi (instantiate $mem))
  (alias core export $mi "mem" (core memory $m))
  (alias core export $mi "realloc" (core func $ra))
  (core func $logl (canon lower (func $log) (memory $m)))
  (core func $getl (canon lower (func $get) (memory $m) (realloc $ra)))
  (core module $code
    (import "" "mem" (memory 1))
    (import "" "log" (func $log (param i32 i32)))
    (import "" "get" (func $get (param i32)))
    (func (export "say") (param i32)
      (i32.store8 (i32.const 0) (local.get 0))
      (call $log (i32.const 0) (i32.const 1)))
    (func (export "fetch") (result i32)
      (call $get (i32.const 16))
      (i32.add (i32.mul (i32.load (i32.const 16)) (i32.const 256))
               (i32.load8_u (i32.load (i32.const 16))))))
  (core instance $ci (instantiate $code (with "" (instance
    (export "mem" (memory $m)) (export "log" (func $logl)) (export "get" (func $getl))))))
  (func (export "say") (param "c" u8) (canon lift (core func $ci "say")))
  (func (export "fetch") (result u32) (canon lift (core func $ci "fetch"))))'''


@pytest.mark.parametrize("tier", tier_params())
def test_instances_of_a_pre_lower_through_their_own_memory_and_realloc(tier):
    engine = engine_for(tier)
    logged = []
    linker = C.Linker(engine)
    with linker.root() as root:
        root.add_func("log", lambda store, s: logged.append((id(store), s)))
        root.add_func("get", lambda store: "hello")
    pre = linker.instantiate_pre(C.Component(engine, STRINGS))
    stores = [wasmforge.Store(engine) for _ in range(3)]
    instances = [pre.instantiate(s) for s in stores]
    for k in (0, 1, 2, 1, 0):
        s = stores[k]
        instances[k].get_func(s, "say")(s, ord("a") + k)
    assert logged == [(id(stores[k]), chr(ord("a") + k)) for k in (0, 1, 2, 1, 0)]
    # each instance's first allocation is at 1024 of its own memory, which holds the string
    for k in (2, 0, 1):
        s = stores[k]
        assert instances[k].get_func(s, "fetch")(s) == 1024 * 256 + ord("h")


@pytest.mark.parametrize("tier", tier_params())
def test_memory_of_an_instance_from_a_pre_equals_a_fresh_instantiation(tier):
    engine = engine_for(tier)
    component = C.Component(engine, '''(component
      (core module $m (memory (export "mem") 1)
        (data (i32.const 8) "data of the first instance")
        (data (i32.const 100) "\\01\\02\\03")
        (global $g (mut i32) (i32.const 7))
        (func (export "poke") (i32.store (i32.const 8) (i32.const -1)) (global.set $g (i32.const 9)))
        (func (export "sum") (result i32) (local $i i32) (local $s i32)
          (loop $l
            (local.set $s (i32.add (i32.mul (local.get $s) (i32.const 31))
                                   (i32.load8_u (local.get $i))))
            (br_if $l (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1))) (i32.const 200))))
          (i32.add (local.get $s) (global.get $g))))
      (core instance $i (instantiate $m))
      (func (export "poke") (canon lift (core func $i "poke")))
      (func (export "sum") (result u32) (canon lift (core func $i "sum"))))''')
    fresh = wasmforge.Store(engine)
    expected = C.Linker(engine).instantiate(fresh, component).get_func(fresh, "sum")(fresh)
    pre = C.Linker(engine).instantiate_pre(component)
    for _ in range(3):
        store = wasmforge.Store(engine)
        inst = pre.instantiate(store)
        assert inst.get_func(store, "sum")(store) == expected
        inst.get_func(store, "poke")(store)         # changes this instance only
        assert inst.get_func(store, "sum")(store) != expected


def test_an_import_of_the_wrong_type_is_refused_by_instantiate_pre():
    engine = wasmforge.Engine()
    component = C.Component(engine, '''(component
      (import "env" (instance $e (export "f" (func (result u32))))))''')
    linker = C.Linker(engine)
    with linker.root() as root:
        root.add_func("env", lambda store: 1)       # a function where an instance is imported
    with pytest.raises(LinkError, match="import `env`: expected instance found function"):
        linker.instantiate_pre(component)
    linker = C.Linker(engine)
    with linker.root() as root:
        with root.add_instance("env") as env:
            env.add_func("g", lambda store: 1)        # the instance lacks `f`
    with pytest.raises(LinkError, match="import `env.f` was not found"):
        linker.instantiate_pre(component)


def test_a_type_import_with_an_equality_bound_needs_no_definition():
    # what componentize-py's greeter imports for its record `person`
    engine = wasmforge.Engine()
    component = C.Component(engine, '''(component
      (type $p (record (field "name" string) (field "age" u32)))
      (import "person" (type (eq $p))))''')
    pre = C.Linker(engine).instantiate_pre(component)
    pre.instantiate(wasmforge.Store(engine))
