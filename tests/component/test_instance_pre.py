"""``Linker.instantiate_pre``: imports resolved once, then a new instance per store, each with
its own state (what ``wasmforge serve`` does per request)."""

from __future__ import annotations

import pytest

import wasmforge
from wasmforge import component as C
from wasmforge.errors import LinkError

from support import tier_params

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
    config = wasmforge.Config()
    config.strategy = tier
    engine = wasmforge.Engine(config)
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
