"""The threads proposal through the public API: one SharedMemory imported by instances in
several Python threads, atomic read-modify-writes from all of them, memory.atomic.wait
blocking a Python thread until another notifies it, and the validation and trap messages."""

from __future__ import annotations

import threading
import time

import pytest

import wasmforge as wf
from wasmforge.errors import Trap, ValidationError
from wasmforge.binary.decode import decode_module
from wasmforge.cli.inspect import features as used_features
from wasmforge.binary.encode import encode_module
from wasmforge.runtime import atomics
from wasmforge.text import parse_module
from wasmforge.text.printer import print_module
from wasmforge.valid.validate import validate
from wasmforge.features import DEFAULT
from wasmforge.opcodes import OPS

from support import engine_for, tier_params

TIERS = tier_params()


WORKER = """(module
  (import "env" "mem" (memory 1 1 shared))
  (func (export "inc") (param $n i32)
    (loop $l
      (drop (i32.atomic.rmw.add (i32.const 0) (i32.const 1)))
      (br_if $l (local.tee $n (i32.sub (local.get $n) (i32.const 1))))))
  (func (export "wait") (param $expected i32) (param $timeout i64) (result i32)
    (memory.atomic.wait32 (i32.const 8) (local.get $expected) (local.get $timeout)))
  (func (export "wake") (param $count i32) (result i32)
    (i32.atomic.store (i32.const 8) (i32.const 1))
    (memory.atomic.notify (i32.const 8) (local.get $count)))
  (func (export "cas") (param i32 i32) (result i32)
    (i32.atomic.rmw.cmpxchg (i32.const 16) (local.get 0) (local.get 1)))
  (func (export "load") (param i32) (result i32) (i32.atomic.load (local.get 0)))
)"""


def _worker(engine, module, mem):
    store = wf.Store(engine)
    return store, wf.Instance(store, module, [mem]).exports(store)


@pytest.mark.parametrize("tier", TIERS)
def test_counter_incremented_atomically_by_several_threads(tier):
    engine = engine_for(tier)
    module = wf.Module(engine, WORKER)
    mem = wf.SharedMemory(engine, wf.MemoryType(wf.Limits(1, 1), shared=True))
    nthreads, n = 4, 3000
    errors = []

    def run():
        try:
            store, ex = _worker(engine, module, mem)
            ex["inc"](store, n)
        except Exception as exc:            # reported below, with the count
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(nthreads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    store, ex = _worker(engine, module, mem)
    assert ex["load"](store, 0) == nthreads * n
    # The host sees the same bytes through the SharedMemory.
    raw = bytes(mem.data_ptr()[0:4])
    assert int.from_bytes(raw, "little") == nthreads * n


@pytest.mark.parametrize("tier", TIERS)
def test_wait_blocks_a_thread_until_notify(tier):
    engine = engine_for(tier)
    module = wf.Module(engine, WORKER)
    mem = wf.SharedMemory(engine, wf.MemoryType(wf.Limits(1, 1), shared=True))
    result = []

    def waiter():
        store, ex = _worker(engine, module, mem)
        result.append(ex["wait"](store, 0, -1))     # no timeout

    t = threading.Thread(target=waiter)
    t.start()
    deadline = time.monotonic() + 30
    while atomics.waiters(mem._obj, 8) == 0 and time.monotonic() < deadline:
        time.sleep(0.005)
    assert atomics.waiters(mem._obj, 8) == 1 and t.is_alive() and not result
    store, ex = _worker(engine, module, mem)
    assert ex["wake"](store, 1) == 1                 # one waiter woken
    t.join(30)
    assert not t.is_alive() and result == [0]       # 0: "ok"
    assert ex["wake"](store, 1) == 0                 # nobody left


@pytest.mark.parametrize("tier", TIERS)
def test_wait_results_not_equal_and_timed_out(tier):
    engine = engine_for(tier)
    module = wf.Module(engine, WORKER)
    mem = wf.SharedMemory(engine, wf.MemoryType(wf.Limits(1, 1), shared=True))
    store, ex = _worker(engine, module, mem)
    assert ex["wait"](store, 5, -1) == 1            # the value is 0, not 5: "not-equal"
    start = time.monotonic()
    assert ex["wait"](store, 0, 50_000_000) == 2    # 50 ms: "timed-out"
    assert time.monotonic() - start >= 0.045
    assert ex["cas"](store, 0, 7) == 0 and ex["cas"](store, 0, 9) == 7
    assert ex["load"](store, 16) == 7


@pytest.mark.parametrize("tier", TIERS)
def test_wait_on_unshared_memory_and_unaligned_access_trap(tier):
    engine = engine_for(tier)
    store = wf.Store(engine)
    ex = wf.Instance(store, wf.Module(engine, """(module (memory 1)
      (func (export "wait") (result i32)
        (memory.atomic.wait32 (i32.const 0) (i32.const 0) (i64.const 0)))
      (func (export "load") (param i32) (result i64) (i64.atomic.load (local.get 0))))"""),
                     []).exports(store)
    with pytest.raises(Trap, match="atomic wait on non-shared memory"):
        ex["wait"](store)
    with pytest.raises(Trap, match="unaligned atomic"):
        ex["load"](store, 4)
    with pytest.raises(Trap, match="out of bounds"):
        ex["load"](store, 65536)
    assert ex["load"](store, 8) == 0


def test_an_exported_shared_memory_is_a_shared_memory():
    engine = engine_for("interp")
    store = wf.Store(engine)
    inst = wf.Instance(store, wf.Module(engine, '(module (memory (export "m") 1 2 shared))'), [])
    mem = inst.exports(store)["m"]
    assert isinstance(mem, wf.SharedMemory) and mem.type().is_shared and mem.size() == 1


def _invalid(wat: str, features=DEFAULT) -> str:
    with pytest.raises(ValidationError) as info:
        validate(parse_module(wat), features=features)
    return str(info.value)


def test_validation_messages():
    assert "shared memory must have maximum" in _invalid("(module (memory 1 shared))")
    assert "atomic alignment must be natural" in _invalid(
        "(module (memory 1 1 shared) (func (drop (i32.atomic.load align=2 (i32.const 0)))))")
    assert "unknown memory" in _invalid("(module (func (drop (i32.atomic.load (i32.const 0)))))")
    assert "uses the threads proposal" in _invalid("(module (memory 1 1 shared))", DEFAULT - {"threads"})
    assert "uses the threads proposal" in _invalid(
        "(module (memory 1) (func atomic.fence))", DEFAULT - {"threads"})


def test_every_atomic_instruction_round_trips():
    ops = [o for o in OPS if o.feature == "threads"]
    assert len(ops) == 67                   # 3 wait/notify, fence, 7 loads, 7 stores, 49 rmw
    body = []
    for o in ops:
        if o.name == "atomic.fence":
            body.append("atomic.fence")
            continue
        args = " ".join(f"({t}.const 0)" for t in o.params)
        body.append(f"(drop ({o.name} {args}))" if o.results else f"({o.name} {args})")
    wat = f"(module (memory 1 1 shared) (func {' '.join(body)}))"
    m = parse_module(wat)
    validate(m)
    binary = encode_module(m)
    again = decode_module(binary)
    assert encode_module(parse_module(print_module(again))) == binary
    assert again.mems[0].type.shared


def test_switched_off_threads_refuse_shared_memories_by_name():
    config = wf.Config()
    config.wasm_threads = False
    engine = wf.Engine(config)
    with pytest.raises(ValidationError, match="uses the threads proposal .a shared memory., which is disabled"):
        wf.Module(engine, "(module (memory 1 1 shared))")
    with pytest.raises(wf.WasmError, match="wasm_threads"):
        wf.SharedMemory(engine, wf.MemoryType(wf.Limits(1, 1), shared=True))
    assert wf.Config().wasm_threads


def test_inspect_lists_threads():
    assert used_features(parse_module("(module (memory 1 1 shared))")) == ["threads"]
    assert used_features(parse_module("(module (memory 1) (func atomic.fence))")) == ["threads"]


CMPXCHG = """(module (memory 1 1 shared)
 (func (export "f") (result i32 i32)
   (i32.store (i32.const 0) (i32.const 0x11))
   (i32.atomic.rmw8.cmpxchg_u (i32.const 0) (i32.const 0x111) (i32.const 0x22))
   (i32.load (i32.const 0)))
 (func (export "g") (result i64 i64)
   (i64.store (i32.const 8) (i64.const 0x11))
   (i64.atomic.rmw32.cmpxchg_u (i32.const 8) (i64.const 0x100000011) (i64.const 0x22))
   (i64.load (i32.const 8))))"""


@pytest.mark.parametrize("tier", TIERS)
def test_narrow_cmpxchg_wraps_the_expected_value_as_wasmtime(tier):
    wasmtime = pytest.importorskip("wasmtime")
    config = wasmtime.Config()
    config.wasm_threads = config.shared_memory = True
    engine = wasmtime.Engine(config)
    store = wasmtime.Store(engine)
    theirs = wasmtime.Instance(store, wasmtime.Module(engine, CMPXCHG), []).exports(store)
    expected = [theirs["f"](store), theirs["g"](store)]
    assert expected == [[0x11, 0x22], [0x11, 0x22]]
    engine = engine_for(tier)
    store = wf.Store(engine)
    ours = wf.Instance(store, wf.Module(engine, CMPXCHG), []).exports(store)
    assert [ours["f"](store), ours["g"](store)] == expected


@pytest.mark.parametrize("tier", TIERS)
def test_unaligned_and_out_of_bounds_traps_unaligned_as_wasmtime(tier):
    # An atomic access both unaligned and out of bounds reports the alignment (the reference
    # interpreter and wasmtime check it first); found by the differential fuzzer, where
    # both tiers said "out of bounds".  Also with the misalignment in the static offset, on
    # a 64-bit memory, and for wait/notify.
    engine = engine_for(tier)
    store = wf.Store(engine)
    ex = wf.Instance(store, wf.Module(engine, """(module
      (memory $m 1 1 shared) (memory $w i64 1)
      (func (export "load") (param i32) (result i64) (i64.atomic.load (local.get 0)))
      (func (export "store_off") (param i32)
        (i32.atomic.store16 offset=1 (local.get 0) (i32.const 7)))
      (func (export "rmw64") (param i64) (result i32)
        (i32.atomic.rmw.add $w offset=2 (local.get 0) (i32.const 1)))
      (func (export "wait") (param i32) (result i32)
        (memory.atomic.wait32 (local.get 0) (i32.const 0) (i64.const 0)))
      (func (export "notify") (param i32) (result i32)
        (memory.atomic.notify (local.get 0) (i32.const 1))))"""), []).exports(store)
    for name, arg in (("load", 65537), ("load", 0xFFFFFFFF), ("store_off", 70000),
                      ("rmw64", 1 << 40), ("wait", 65538), ("notify", 65535)):
        with pytest.raises(Trap, match="unaligned atomic") as info:
            ex[name](store, arg)
        assert info.value.code == wf.TrapCode.HEAP_MISALIGNED, (name, arg)
    with pytest.raises(Trap, match="out of bounds"):
        ex["load"](store, 65536)
    with pytest.raises(Trap, match="out of bounds"):
        ex["rmw64"](store, (1 << 40) + 2)
