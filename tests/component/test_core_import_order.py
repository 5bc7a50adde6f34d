"""A component's core instantiation picks a module's import arguments per module name
(cm/instance.py ``_import_runs``) and puts them back in the imports' order: imports of one
module name interleaved with another's, and the same name under two module names each get the value their own (module, name) names, in every instance.  And the
WASI imports linked from a plan found once per import type (wasip2/host.py ``_link_plan``)
give each store its own context, even while instances of two stores are alive together."""

from __future__ import annotations

import pytest

import wasmforge
from wasmforge import component as C

from support import engine_for, tier_params

INTERLEAVED = '''(component
  (core module $m
    (memory (export "mem") 1)
    (global (export "g") i32 (i32.const 7))
    (func (export "one") (result i32) (i32.const 1))
    (func (export "two") (result i32) (i32.const 2))
    (func (export "three") (result i32) (i32.const 3)))
  (core instance $i (instantiate $m))
  (alias core export $i "one" (core func $one))
  (alias core export $i "two" (core func $two))
  (alias core export $i "three" (core func $three))
  (alias core export $i "mem" (core memory $mem))
  (alias core export $i "g" (core global $g))
  (core module $n
    (import "x" "a" (func $xa (result i32)))
    (import "y" "a" (func $ya (result i32)))
    (import "x" "m" (memory 1))
    (import "y" "b" (func $yb (result i32)))
    (import "x" "g" (global $g i32))
    (import "x" "d" (func $xd (result i32)))
    (import "y" "c" (func $yc (result i32)))
    (func (export "sum") (result i32)
      (i32.store (i32.const 0) (i32.add (i32.load (i32.const 0)) (i32.const 1)))
        ;; 1 + 20 + 300 + 4000 + 10000 + 70 + the instance's own memory word
      (i32.add (i32.add (i32.add (call $xa) (i32.mul (call $ya) (i32.const 10)))
                        (i32.add (i32.mul (call $yb) (i32.const 100)) (i32.mul (call $xd) (i32.const 2000))))
               (i32.add (i32.add (i32.mul (call $yc) (i32.const 10000)) (i32.mul (global.get $g) (i32.const 10)))
                        (i32.load (i32.const 0))))))
  (core instance $j (instantiate $n
    (with "x" (instance (export "a" (func $one)) (export "m" (memory $mem)) (export "g" (global $g))
                        (export "d" (func $two))))
    (with "y" (instance (export "a" (func $two)) (export "b" (func $three)) (export "c" (func $one))))))
  (func (export "sum") (result u32) (canon lift (core func $j "sum"))))'''


@pytest.mark.parametrize("tier", tier_params())
def test_interleaved_module_names_and_a_repeated_import_get_their_own_values(tier):
    engine = engine_for(tier)
    component = C.Component(engine, INTERLEAVED)
    pre = C.Linker(engine).instantiate_pre(component)
    for _ in range(3):
        store = wasmforge.Store(engine)
        inst = pre.instantiate(store)
        assert inst.get_func(store, "sum")(store) == 1 + 20 + 300 + 4000 + 10000 + 70 + 1
        assert inst.get_func(store, "sum")(store) == 1 + 20 + 300 + 4000 + 10000 + 70 + 2
    store = wasmforge.Store(engine)
    inst = C.Linker(engine).instantiate(store, component)
    assert inst.get_func(store, "sum")(store) == 14392


# get-arguments lowered into the component's memory with its realloc; `first` lifts the first
# argument back out of that memory.
ARGS = '''(component
  (import "wasi:cli/environment@0.2.0" (instance $env
    (export "get-arguments" (func (result (list string))))))
  (alias export $env "get-arguments" (func $args))
  (core module $mem (memory (export "mem") 1)
    (global $top (mut i32) (i32.const 1024))
    (func (export "realloc") (param i32 i32 i32 i32) (result i32) (local $p i32)
      (local.set $p (i32.and (i32.add (global.get $top) (i32.sub (local.get 2) (i32.const 1)))
                             (i32.sub (i32.const 0) (local.get 2))))
      (global.set $top (i32.add (local.get $p) (local.get 3))) (local.get $p)))
  (core instance $mi (instantiate $mem))
  (alias core export $mi "mem" (core memory $m))
  (alias core export $mi "realloc" (core func $ra))
  (core func $argsl (canon lower (func $args) (memory $m) (realloc $ra)))
  (core module $code (import "" "mem" (memory 1)) (import "" "args" (func $args (param i32)))
    (func (export "first") (result i32) (call $args (i32.const 0)) (i32.load (i32.const 0))))
  (core instance $ci (instantiate $code (with "" (instance
    (export "mem" (memory $m)) (export "args" (func $argsl))))))
  (func (export "first") (result string) (canon lift (core func $ci "first") (memory $m))))'''


@pytest.mark.parametrize("tier", tier_params())
def test_live_instances_of_two_stores_each_see_their_own_wasi_arguments(tier):
    engine = engine_for(tier)
    linker = C.Linker(engine)
    linker.add_wasip2()
    pre = linker.instantiate_pre(C.Component(engine, ARGS))
    made = []
    for argv in (["first-store"], ["second", "x"], ["third-store-argument"]):
        store = wasmforge.Store(engine)
        config = wasmforge.WasiConfig()
        config.argv = argv
        store.set_wasi(config)
        made.append((store, pre.instantiate(store), argv[0]))
    # the later instances first (their lowers made from the first's template), then the first
    for store, inst, want in made[::-1] + made:
        assert inst.get_func(store, "first")(store) == want
