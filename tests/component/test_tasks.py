"""The async built-ins that run without an event loop (cm/abi/tasks.py): an ``async`` lift
without ``callback`` returning through ``task.return``, the traps of ``task.return`` misuse,
and an ``async`` lower of a callee that finishes (status RETURNED)."""

from __future__ import annotations

import pytest

from wasmforge.api import Engine, Store
from wasmforge.cm.instance import Component, instantiate_component
from wasmforge.cm.text import parse_component
from wasmforge.errors import NotSupportedError, Trap, TrapCode

from support import engine_for, tier_params


def _instance(tier: str, body: str, result: str = "u32", ret: str = "u32"):
    """A component exporting ``run`` (async, lifted async from core ``$run``) and ``sync``
    (lifted synchronously from core ``$sync``); the core module imports ``task.return`` of
    result type ``ret``.  ``body`` is core code defining ``$run`` and ``$sync``."""
    engine = engine_for(tier)
    store = Store(engine)
    core_ret = {"u32": "i32", "u64": "i64"}[ret]
    text = f'''(component
      (core module $m
        (import "" "task.return" (func $ret (param {core_ret})))
        {body})
      (canon task.return (result {ret}) (core func $ret))
      (core instance $i (instantiate $m (with "" (instance (export "task.return" (func $ret))))))
      (func (export "run") async (result {result}) (canon lift (core func $i "run") async))
      (func (export "sync") (result u32) (canon lift (core func $i "sync"))))'''
    return instantiate_component(store, Component(parse_component(text)), {}, engine)


OK = '''(func (export "run") (call $ret (i32.const 7)))
        (func (export "sync") (result i32) (i32.const 1))'''


@pytest.mark.parametrize("tier", tier_params())
def test_the_host_calls_an_async_export_that_returns_through_task_return(tier):
    inst = _instance(tier, OK)
    assert inst.exports["run"]() == 7
    assert inst.exports["run"]() == 7          # each call is a new task


@pytest.mark.parametrize("tier", tier_params())
def test_task_return_twice_traps(tier):
    inst = _instance(tier, '''(func (export "run") (call $ret (i32.const 7)) (call $ret (i32.const 8)))
        (func (export "sync") (result i32) (i32.const 1))''')
    with pytest.raises(Trap, match="task.return called more than once") as e:
        inst.exports["run"]()
    assert e.value.code is TrapCode.TASK_CANCEL_OR_RETURN_TWICE


@pytest.mark.parametrize("tier", tier_params())
def test_task_return_from_a_synchronous_export_traps(tier):
    inst = _instance(tier, '''(func (export "run") (call $ret (i32.const 7)))
        (func (export "sync") (result i32) (call $ret (i32.const 1)) (i32.const 1))''')
    with pytest.raises(Trap, match="outside an async-lifted export") as e:
        inst.exports["sync"]()
    assert e.value.code is TrapCode.TASK_RETURN_INVALID


@pytest.mark.parametrize("tier", tier_params())
def test_task_return_of_another_result_type_traps(tier):
    inst = _instance(tier, '''(func (export "run") (call $ret (i64.const 7)))
        (func (export "sync") (result i32) (i32.const 1))''', result="u32", ret="u64")
    with pytest.raises(Trap, match="result type differs") as e:
        inst.exports["run"]()
    assert e.value.code is TrapCode.TASK_RETURN_INVALID


@pytest.mark.parametrize("tier", tier_params())
def test_an_async_export_that_never_calls_task_return_traps(tier):
    inst = _instance(tier, '''(func (export "run"))
        (func (export "sync") (result i32) (i32.const 1))''')
    with pytest.raises(Trap, match="failed to produce a result") as e:
        inst.exports["run"]()
    assert e.value.code is TrapCode.NO_ASYNC_RESULT


@pytest.mark.parametrize("tier", tier_params())
def test_an_async_lower_reports_returned_and_stores_the_result(tier):
    engine = engine_for(tier)
    store = Store(engine)
    text = '''(component
      (component $C
        (core module $m
          (import "" "task.return" (func $ret (param i64)))
          (func (export "add") (param i32 i32 i32 i32 i32)
            (call $ret (i64.extend_i32_u (i32.add (i32.add (i32.add (local.get 0) (local.get 1))
              (i32.add (local.get 2) (local.get 3))) (local.get 4))))))
        (canon task.return (result u64) (core func $ret))
        (core instance $i (instantiate $m (with "" (instance (export "task.return" (func $ret))))))
        (func (export "add") async (param "a" u32) (param "b" u32) (param "c" u32) (param "d" u32)
          (param "e" u32) (result u64) (canon lift (core func $i "add") async)))
      (component $D
        (import "c" (instance $c (export "add" (func async (param "a" u32) (param "b" u32) (param "c" u32)
          (param "d" u32) (param "e" u32) (result u64)))))
        (core module $mem (memory (export "mem") 1))
        (core instance $mem (instantiate $mem))
        (core func $add (canon lower (func $c "add") async (memory (core memory $mem "mem"))))
        (core module $main
          (import "" "mem" (memory 1))
          (import "" "add" (func $add (param i32 i32) (result i32)))
          (func (export "run") (result i64)
            ;; five params: more than MAX_FLAT_ASYNC_PARAMS, so they go through memory at 0
            (i32.store (i32.const 0) (i32.const 1)) (i32.store (i32.const 4) (i32.const 2))
            (i32.store (i32.const 8) (i32.const 3)) (i32.store (i32.const 12) (i32.const 4))
            (i32.store (i32.const 16) (i32.const 5))
            (if (i32.ne (call $add (i32.const 0) (i32.const 32)) (i32.const 2)) (then unreachable))
            (i64.load (i32.const 32))))
        (core instance $main (instantiate $main (with "" (instance (export "mem" (memory $mem "mem"))
          (export "add" (func $add))))))
        (func (export "run") (result u64) (canon lift (core func $main "run"))))
      (instance $c (instantiate $C))
      (instance $d (instantiate $D (with "c" (instance $c))))
      (func (export "run") (alias export $d "run")))'''
    inst = instantiate_component(store, Component(parse_component(text)), {}, engine)
    assert inst.exports["run"]() == 15


def test_an_async_lift_with_a_callback_is_not_supported():
    engine = Engine()
    store = Store(engine)
    text = '''(component
      (core module $m
        (func (export "run") (result i32) (i32.const 0))
        (func (export "cb") (param i32 i32 i32) (result i32) (i32.const 0)))
      (core instance $i (instantiate $m))
      (func (export "run") async (canon lift (core func $i "run") async (callback (func $i "cb")))))'''
    with pytest.raises(NotSupportedError, match="callback"):
        instantiate_component(store, Component(parse_component(text)), {}, engine)
