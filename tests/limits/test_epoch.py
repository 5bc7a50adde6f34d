"""Epoch interruption: wall-clock deadlines enforced from another thread."""

import threading
import time

import pytest

from limits.helpers import engine_for, instantiate
from wasmforge.errors import Trap, TrapCode, WasmError
from wasmforge import Store

LOOPS = """(module
  (func (export "spin") (loop (br 0)))
  (func (export "spin_locals") (local i64)
    (loop (local.set 0 (i64.add (local.get 0) (i64.const 1))) (br 0)))
  (func $rec (export "rec") (param i32) (result i32)
    (if (result i32) (i32.eqz (local.get 0)) (then (i32.const 0))
      (else (i32.add (i32.const 1) (call $rec (i32.sub (local.get 0) (i32.const 1)))))))
  (func (export "short") (result i32) (local i32)
    (loop (local.set 0 (i32.add (local.get 0) (i32.const 1)))
          (br_if 0 (i32.lt_u (local.get 0) (i32.const 1000))))
    (local.get 0)))"""


def epoch_store(tier, ticks=1, safety_fuel=None):
    """An epoch-checked store; ``safety_fuel`` also meters it, so that a broken interruption
    fails the test (with OUT_OF_FUEL) instead of hanging it."""
    engine = engine_for(tier, epoch=True, fuel=safety_fuel is not None)
    store, ex = instantiate(engine, LOOPS)
    store.set_epoch_deadline(ticks)
    if safety_fuel is not None:
        store.set_fuel(safety_fuel)
    return engine, store, ex


def interrupt_after(engine, seconds, ticks=1):
    def tick():
        for _ in range(ticks):
            engine.increment_epoch()
    timer = threading.Timer(seconds, tick)
    timer.start()
    return timer


@pytest.mark.parametrize("name", ["spin", "spin_locals"])
def test_infinite_loop_without_calls_or_memory_is_interrupted(tier, name):
    # The fuel only stops the loop if the epoch check were broken; it must outlast the 0.1 s
    # wait on each tier (native code runs some 10^9 instructions a second).
    safety = 50_000_000 if tier == "interp" else 50_000_000_000
    engine, store, ex = epoch_store(tier, safety_fuel=safety)
    timer = interrupt_after(engine, 0.1)
    start = time.monotonic()
    with pytest.raises(Trap) as info:
        ex[name](store)
    timer.join()
    assert info.value.code is TrapCode.INTERRUPT
    assert time.monotonic() - start < 5


def test_deadline_counts_ticks_beyond_the_current_epoch(tier):
    engine, store, ex = epoch_store(tier, ticks=3)
    engine.increment_epoch()
    engine.increment_epoch()
    assert ex["short"](store) == 1000          # two ticks of three: still running
    engine.increment_epoch()
    with pytest.raises(Trap) as info:
        ex["short"](store)
    assert info.value.code is TrapCode.INTERRUPT


def test_function_entry_is_checked(tier):
    engine, store, ex = epoch_store(tier)
    engine.increment_epoch()
    with pytest.raises(Trap) as info:
        ex["rec"](store, 5)                    # recursion, no loop
    assert info.value.code is TrapCode.INTERRUPT


def test_without_a_deadline_the_first_check_traps_as_in_wasmtime(tier):
    engine = engine_for(tier, epoch=True)
    store, ex = instantiate(engine, LOOPS)
    with pytest.raises(Trap):
        ex["short"](store)


def test_new_deadline_resumes_the_store(tier):
    engine, store, ex = epoch_store(tier)
    engine.increment_epoch()
    with pytest.raises(Trap):
        ex["short"](store)
    store.set_epoch_deadline(1)
    assert ex["short"](store) == 1000


def test_increment_epoch_is_thread_safe():
    engine = engine_for("interp", epoch=True)

    def work():
        for _ in range(2000):
            engine.increment_epoch()
    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert engine.epoch == 16000


def test_epoch_api_needs_the_config_setting(tier):
    with pytest.raises(WasmError, match="epoch_interruption"):
        Store(engine_for(tier)).set_epoch_deadline(1)
