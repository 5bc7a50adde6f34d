"""Stores share nothing mutable: a trap, an exhausted budget or an interruption in one store
leaves every other store, and the host process, healthy."""

import gc
import os
import threading
import tracemalloc

import pytest

from limits.helpers import engine_for, instantiate
from wasmforge.errors import Trap, TrapCode
from wasmforge import Instance, Module, Store

STATEFUL = """(module (memory (export "mem") 1) (global $g (mut i32) (i32.const 0))
  (func (export "bump") (result i32)
    (global.set $g (i32.add (global.get $g) (i32.const 1)))
    (i32.store (i32.const 0) (global.get $g))
    (global.get $g))
  (func (export "read") (result i32) (i32.load (i32.const 0)))
  (func (export "boom") (result i32) (i32.store (i32.const 0) (i32.const 99)) unreachable)
  (func (export "oob") (result i32) (i32.load (i32.const 70000)))
  (func $r (export "recurse") (call $r))
  (func (export "spin") (loop (br 0))))"""


def test_instances_of_one_module_share_no_state(tier):
    engine = engine_for(tier)
    module = Module(engine, STATEFUL)
    stores = [Store(engine) for _ in range(3)]
    exports = [Instance(s, module, []).exports(s) for s in stores]
    for _ in range(5):
        exports[0]["bump"](stores[0])
    exports[1]["bump"](stores[1])
    assert [ex["read"](s) for ex, s in zip(exports, stores)] == [5, 1, 0]


def test_a_trap_in_one_store_leaves_the_others_untouched(tier):
    engine = engine_for(tier)
    module = Module(engine, STATEFUL)
    a, b = Store(engine), Store(engine)
    ea, eb = Instance(a, module, []).exports(a), Instance(b, module, []).exports(b)
    eb["bump"](b)
    for name in ("boom", "oob", "recurse"):
        with pytest.raises(Trap):
            ea[name](a)
    assert eb["read"](b) == 1
    assert eb["bump"](b) == 2
    assert ea["read"](a) == 99          # the trapping store keeps its state and works
    assert ea["bump"](a) == 1


def test_out_of_fuel_in_one_store_does_not_touch_another(tier):
    engine = engine_for(tier, fuel=True)
    module = Module(engine, STATEFUL)
    a, b = Store(engine), Store(engine)
    a.set_fuel(100)
    b.set_fuel(100)
    ea, eb = Instance(a, module, []).exports(a), Instance(b, module, []).exports(b)
    with pytest.raises(Trap) as info:
        ea["spin"](a)
    assert info.value.code is TrapCode.OUT_OF_FUEL
    assert b.get_fuel() == 100
    assert eb["bump"](b) == 1


def test_interrupting_one_store_lets_another_run(tier):
    engine = engine_for(tier, epoch=True)
    module = Module(engine, STATEFUL)
    a, b = Store(engine), Store(engine)
    a.set_epoch_deadline(1)
    b.set_epoch_deadline(1000)
    ea, eb = Instance(a, module, []).exports(a), Instance(b, module, []).exports(b)
    timer = threading.Timer(0.05, engine.increment_epoch)
    timer.start()
    with pytest.raises(Trap) as info:
        ea["spin"](a)
    timer.join()
    assert info.value.code is TrapCode.INTERRUPT
    assert eb["bump"](b) == 1


def test_stack_overflow_in_one_store_leaves_full_depth_to_another(tier):
    engine = engine_for(tier, max_wasm_stack=64 * 500)
    wat = """(module (func $d (export "d") (param i32) (result i32)
        (if (result i32) (i32.eqz (local.get 0)) (then (i32.const 0))
          (else (call $d (i32.sub (local.get 0) (i32.const 1)))))))"""
    a, ea = instantiate(engine, STATEFUL)
    b, eb = instantiate(engine, wat)
    with pytest.raises(Trap):
        ea["recurse"](a)
    assert eb["d"](b, 300) == 0
    with pytest.raises(Trap):
        ea["recurse"](a)                    # a's depth was restored, so it traps the same way


def _rss() -> int:
    """This process's resident set size in bytes (0 where /proc is missing)."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return 0


def test_ten_thousand_traps_leave_the_process_healthy(tier):
    store, ex = instantiate(engine_for(tier), STATEFUL)
    kinds = ("boom", "oob", "recurse")
    for name in kinds:                       # warm up: translation, caches
        with pytest.raises(Trap):
            ex[name](store)

    def burst(n):
        for i in range(n):
            try:
                ex[kinds[i % 2]](store)
            except Trap:
                pass
    gc.collect()
    tracemalloc.start()
    burst(1000)
    gc.collect()
    before = tracemalloc.get_traced_memory()[0]
    rss_before = _rss()
    burst(10_000)
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    rss_after = _rss()
    tracemalloc.stop()
    assert after - before < 64 * 1024, (before, after)
    assert rss_after - rss_before < 8 << 20, (rss_before, rss_after)
    assert ex["bump"](store) == 1
    with pytest.raises(Trap) as info:
        ex["recurse"](store)
    assert info.value.code is TrapCode.STACK_OVERFLOW
