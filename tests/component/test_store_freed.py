"""A dropped ``Store`` of a component instance is freed, with its instances, memories and host
closures (``wasmforge serve`` makes one per request): nothing process-wide (the canonical
ABI's shared generated code, its layout caches) may keep an instance's objects."""

from __future__ import annotations

import gc
import weakref
from typing import Callable, List

import pytest

import wasmforge
from wasmforge import component as C

from support import engine_for, tier_params

# A host import lowered into the instance, a memory, an export lifted from it.
COUNTER = '''(component
  (import "step" (func $s (result u32)))
  (core func $sl (canon lower (func $s)))
  (core module $m (import "" "step" (func $step (result i32)))
    (memory (export "mem") 1)
    (global $n (mut i32) (i32.const 0))
    (func (export "bump") (result i32)
      (global.set $n (i32.add (global.get $n) (call $step))) (global.get $n)))
  (core instance $i (instantiate $m (with "" (instance (export "step" (func $sl))))))
  (func (export "bump") (result u32) (canon lift (core func $i "bump"))))'''

# A resource the component defines (a fresh type per instance, its destructor the instance's
# core function) and an export that creates one.
RESOURCE = '''(component
  (core module $m
    (memory (export "mem") 1)
    (func (export "dtor") (param i32)))
  (core instance $i (instantiate $m))
  (alias core export $i "dtor" (core func $d))
  (type $r (resource (rep i32) (dtor (func $d))))
  (core func $new (canon resource.new $r))
  (core module $m2
    (import "" "new" (func $new (param i32) (result i32)))
    (func (export "mk") (param i32) (result i32) (call $new (local.get 0))))
  (core instance $j (instantiate $m2 (with "" (instance (export "new" (func $new))))))
  (export $er "r" (type $r))
  (func (export "mk") (param "x" u32) (result (own $er)) (canon lift (core func $j "mk"))))'''

# Imports WASI 0.2 (resolved by the wasip2 host) and uses a memory.
WASI = '''(component
  (import "wasi:cli/environment@0.2.3" (instance $env
    (export "get-arguments" (func (result (list string))))))
  (core module $mem (memory (export "mem") 1)
    (func (export "realloc") (param i32 i32 i32 i32) (result i32) (i32.const 64)))
  (core instance $mi (instantiate $mem))
  (alias core export $mi "mem" (core memory $m))
  (alias core export $mi "realloc" (core func $ra))
  (alias export $env "get-arguments" (func $ga))
  (core func $gal (canon lower (func $ga) (memory $m) (realloc $ra)))
  (core module $use (import "" "ga" (func $ga (param i32)))
    (func (export "run") (call $ga (i32.const 16))))
  (core instance $u (instantiate $use (with "" (instance (export "ga" (func $gal))))))
  (func (export "run") (canon lift (core func $u "run"))))'''


def _dropped(make: Callable[[wasmforge.Store], object], engine: wasmforge.Engine, n: int = 3) -> List[bool]:
    """For ``n`` new stores each given to ``make`` (which instantiates and calls), whether the
    store is still alive after everything that names it is dropped and the collector ran."""
    refs = []
    for _ in range(n):
        store = wasmforge.Store(engine)
        make(store)
        refs.append(weakref.ref(store))
        del store
    gc.collect()
    return [r() is not None for r in refs]


@pytest.mark.parametrize("tier", tier_params())
def test_a_plain_component_store_is_freed(tier):
    engine = engine_for(tier)
    linker = C.Linker(engine)
    with linker.root() as root:
        root.add_func("step", lambda store: 5)
    component = C.Component(engine, COUNTER)

    def make(store):
        assert linker.instantiate(store, component).get_func(store, "bump")(store) == 5
    assert _dropped(make, engine) == [False] * 3


@pytest.mark.parametrize("tier", tier_params())
def test_an_instance_pre_store_is_freed(tier):
    engine = engine_for(tier)
    linker = C.Linker(engine)
    with linker.root() as root:
        root.add_func("step", lambda store: 2)
    pre = linker.instantiate_pre(C.Component(engine, COUNTER))

    def make(store):
        bump = pre.instantiate(store).get_func(store, "bump")
        assert (bump(store), bump(store)) == (2, 4)
    assert _dropped(make, engine) == [False] * 3


@pytest.mark.parametrize("tier", tier_params())
def test_a_store_with_wasip2_linked_is_freed(tier):
    engine = engine_for(tier)
    linker = C.Linker(engine)
    linker.add_wasip2()
    component = C.Component(engine, WASI)

    def make(store):
        store.set_wasi(wasmforge.WasiConfig())
        linker.instantiate(store, component).get_func(store, "run")(store)
    assert _dropped(make, engine) == [False] * 3


@pytest.mark.parametrize("tier", tier_params())
def test_a_store_whose_calls_made_resources_is_freed(tier):
    engine = engine_for(tier)
    linker = C.Linker(engine)
    component = C.Component(engine, RESOURCE)

    def make(store):
        handle = linker.instantiate(store, component).get_func(store, "mk")(store, 3)
        assert handle is not None
    assert _dropped(make, engine) == [False] * 3
