"""Snapshots put back (runtime/store.py ``StoreSnapshot``, component/_recycle.py ``Sandbox``:
what ``wasmforge serve`` recycles a request's sandbox with): after any call that ended
cleanly, a store or a sandbox put back must not be told from a new instance by its next
caller, on either tier.  Each kind of state a call can change is changed, then looked at
after the reset: the memory (written, filled, copied, grown: the grown pages zero again when
grown anew, and out of bounds again), passive segments dropped, funcref and externref tables
(set, grown, filled, initialised; call_indirect through the table and through another
instance importing it), mutable globals of every value type, a component's nested instances
with the resource handles they made and leaked; and the state that cannot be put back is
refused."""

from __future__ import annotations

import gc

import pytest

from support import tier_params
from wasmforge import Config, Engine, Instance, Module, Store, WasiConfig
from wasmforge.component import Component, Linker
from wasmforge.component._recycle import Sandbox
from wasmforge.runtime.memory import MemoryInstance, pool_idle
from wasmforge.types import Limits, MemoryType

CORE = r'''
(module
  (memory (export "mem") 1 10)
  (table $t (export "t") 2 10 funcref)
  (table $x 2 10 externref)
  (global $gi (mut i32) (i32.const 7))
  (global $gl (mut i64) (i64.const 8))
  (global $gf (mut f32) (f32.const 1.5))
  (global $gd (mut f64) (f64.const 2.5))
  (global $gv (mut v128) (v128.const i64x2 3 4))
  (global $gr (mut funcref) (ref.null func))
  (global $ge (mut externref) (ref.null extern))
  (type $ret (func (result i32)))
  (elem $e func $one $two)
  (elem (table $t) (i32.const 0) func $one)
  (data $d "PQRS")
  (data (i32.const 100) "abc")
  (func $one (result i32) i32.const 1)
  (func $two (result i32) i32.const 2)
  (func (export "change") (param externref)
    (drop (memory.grow (i32.const 2)))
    (i32.store (i32.const 70000) (i32.const 0x55555555))
    (i32.store (i32.const 150000) (i32.const 0x66666666))
    (memory.fill (i32.const 200) (i32.const 0x77) (i32.const 50))
    (memory.copy (i32.const 300) (i32.const 100) (i32.const 3))
    (memory.init $d (i32.const 400) (i32.const 0) (i32.const 4))
    (data.drop $d)
    (table.init $t $e (i32.const 0) (i32.const 0) (i32.const 2))
    (elem.drop $e)
    (drop (table.grow $t (ref.func $two) (i32.const 3)))
    (table.set $x (i32.const 1) (local.get 0))
    (drop (table.grow $x (local.get 0) (i32.const 2)))
    (table.fill $x (i32.const 0) (local.get 0) (i32.const 1))
    (global.set $gi (i32.const 70))
    (global.set $gl (i64.const 80))
    (global.set $gf (f32.const 9.5))
    (global.set $gd (f64.const 9.25))
    (global.set $gv (v128.const i64x2 30 40))
    (global.set $gr (ref.func $two))
    (global.set $ge (local.get 0)))
  (func (export "memory") (result i32 i32 i32 i32 i32)
    (memory.size) (i32.load (i32.const 100)) (i32.load (i32.const 200)) (i32.load (i32.const 300))
    (i32.load (i32.const 400)))
  (func (export "globals") (result i32 i64 f32 f64 i64 i32 i32)
    (global.get $gi) (global.get $gl) (global.get $gf) (global.get $gd)
    (i64x2.extract_lane 1 (global.get $gv)) (ref.is_null (global.get $gr)) (ref.is_null (global.get $ge)))
  (func (export "tables") (result i32 i32 i32 i32 i32)
    (table.size $t) (table.size $x) (call_indirect $t (type $ret) (i32.const 0))
    (ref.is_null (table.get $t (i32.const 1))) (ref.is_null (table.get $x (i32.const 1))))
  (func (export "ci") (param i32) (result i32) (call_indirect $t (type $ret) (local.get 0)))
  (func (export "load") (param i32) (result i32) (i32.load (local.get 0)))
  (func (export "segments") (result i32)
    (memory.init $d (i32.const 400) (i32.const 0) (i32.const 4))
    (table.init $t $e (i32.const 1) (i32.const 1) (i32.const 1))
    (i32.add (i32.load (i32.const 400)) (call_indirect $t (type $ret) (i32.const 1))))
  (func (export "regrow") (result i32 i32 i32)
    (drop (memory.grow (i32.const 2)))
    (i32.load (i32.const 70000)) (i32.load (i32.const 150000)) (memory.size)))
'''

# another instance calling through the first one's table
CALLER = r'''
(module
  (type $ret (func (result i32)))
  (import "a" "t" (table $t 2 funcref))
  (func (export "ci") (param i32) (result i32) (call_indirect $t (type $ret) (local.get 0))))
'''

NEW = {"memory": [1, 0x636261, 0, 0, 0], "globals": [7, 8, 1.5, 2.5, 4, 1, 1], "tables": [2, 2, 1, 1, 1]}


def _engine(tier: str) -> Engine:
    config = Config()
    config.strategy = tier
    return Engine(config)


def _call(f, store, *args):
    try:
        return f(store, *args)
    except Exception as exc:        # (a trap: named, to compare)
        return type(exc).__name__


@pytest.mark.parametrize("tier", tier_params())
def test_a_store_put_back_is_as_new_after_every_kind_of_change(tier):
    engine = _engine(tier)
    store = Store(engine)
    inst = Instance(store, Module(engine, CORE), [])
    ex = inst.exports(store)
    caller = Instance(store, Module(engine, CALLER), [ex["t"]]).exports(store)
    seen = lambda: {name: ex[name](store) for name in NEW}      # noqa: E731
    calls = lambda: [_call(f, store, k) for f in (ex["ci"], caller["ci"]) for k in range(5)]  # noqa: E731
    assert seen() == NEW
    snap = store.snapshot()
    for round in range(3):
        ex["change"](store, object())
        assert seen() != NEW and calls() == [1, 2, 2, 2, 2] * 2
        assert snap.reset() is None
        assert seen() == NEW, round
        # the grown part is gone (out of bounds), the table's too (the tier's views follow)
        assert _call(ex["load"], store, 70000) == "Trap"
        assert calls() == [1, "Trap", "Trap", "Trap", "Trap"] * 2
    # the dropped segments are back
    assert ex["segments"](store) == 0x53525150 + 2
    assert snap.reset() is None
    # grown anew, the pages are zero
    ex["change"](store, None)
    assert snap.reset() is None
    assert ex["regrow"](store) == [0, 0, 3]


def _sandbox(engine: Engine, wat: str, linker: "Linker | None" = None) -> Sandbox:
    component = Component(engine, wat)
    return Sandbox((linker or Linker(engine)).instantiate_pre(component), Store(engine))


NESTED = r'''
(component
  (component $inner
    (type $r (resource (rep i32)))
    (core func $new (canon resource.new $r))
    (core func $drop (canon resource.drop $r))
    (core module $m
      (import "" "new" (func $new (param i32) (result i32)))
      (import "" "drop" (func $drop (param i32)))
      (memory 1)
      (global $n (mut i32) (i32.const 0))
      ;; count a call, make a handle (leaked), grow the memory and read its new page, then
      ;; scribble on it: handle * 10000 + count * 1000 + pages * 10 + (page not zero)
      (func (export "run") (result i32)
        (local $h i32) (local $old i32) (local $junk i32)
        (global.set $n (i32.add (global.get $n) (i32.const 1)))
        (local.set $h (call $new (global.get $n)))
        (local.set $old (memory.grow (i32.const 1)))
        (local.set $junk (i32.load (i32.mul (local.get $old) (i32.const 65536))))
        (memory.fill (i32.mul (local.get $old) (i32.const 65536)) (i32.const 0xAB) (i32.const 65536))
        (i32.add (i32.add (i32.mul (local.get $h) (i32.const 10000)) (i32.mul (global.get $n) (i32.const 1000)))
          (i32.add (i32.mul (memory.size) (i32.const 10)) (i32.ne (local.get $junk) (i32.const 0)))))
      (func (export "drop1") (call $drop (i32.const 1))))
    (core instance $i (instantiate $m
      (with "" (instance (export "new" (func $new)) (export "drop" (func $drop))))))
    (func (export "run") (result u32) (canon lift (core func $i "run")))
    (func (export "drop1") (canon lift (core func $i "drop1"))))
  (instance $a (instantiate $inner))
  (instance $b (instantiate $inner))
  (export "run-a" (func $a "run"))
  (export "run-b" (func $b "run"))
  (export "drop-a" (func $a "drop1")))
'''


@pytest.mark.parametrize("tier", tier_params())
def test_a_sandbox_put_back_forgets_what_its_nested_instances_did(tier):
    sandbox = _sandbox(_engine(tier), NESTED)
    assert sandbox.refusal is None
    store = sandbox.store

    def run(name):
        return sandbox.instance.get_func(store, name)(store)
    for round in range(3):
        # a new instance: handle 1, count 1, 2 pages, a zero page; then handle 2, count 2, 3
        assert [run("run-a"), run("run-a"), run("run-b")] == [11020, 22030, 11020], round
        if round == 1:
            run("drop-a")       # a handle dropped is back, as the ones leaked are gone
        assert sandbox.reset() is None
    assert sandbox.uses == 3
    sandbox.close()
    assert store.closed


@pytest.mark.parametrize("tier", tier_params())
def test_a_sandbox_refuses_state_it_cannot_put_back(tier):
    engine = _engine(tier)
    cores = {
        "tag": ('(tag $t)', "exception tags"),
        "shared": ('(memory 1 1 shared)', "shared memory"),
        "gc": ('(type $s (struct (field (mut i32)))) (global (mut (ref null $s)) (ref.null $s))', "GC"),
    }
    for name, (fields, why) in cores.items():
        sandbox = _sandbox(engine, f'(component (core module $m {fields}) (core instance (instantiate $m)))')
        assert sandbox.refusal is not None and why in sandbox.refusal, (name, sandbox.refusal)
        assert sandbox.reset() == sandbox.refusal
    # a function the embedder defines: whether instantiation called it cannot be seen
    linker = Linker(engine)
    with linker.root() as root:
        root.add_func("host", lambda store: 1)
    sandbox = _sandbox(engine, '(component (import "host" (func (result u32))))', linker)
    assert "imports 'host'" in (sandbox.refusal or "")


def test_a_sandbox_memory_dropped_unclosed_goes_back_to_the_pool_zeroed():
    # its start is the snapshot's copy-on-write image: the pool must not hand those bytes on
    engine = _engine("interp")
    wat = '(module (memory (export "m") 2 2) (data (i32.const 8) "secret") (data (i32.const 70000) "more"))'
    module = Module(engine, wat)
    reserve = None
    for _ in range(2):
        store = Store(engine)
        inst = Instance(store, module, [])
        store.snapshot()
        mem = inst.exports(store)["m"]
        mem.write(store, b"written", 100)
        reserve = len(store._instances[0].mems[0].data)
        del store, inst, mem
        gc.collect()
    del module
    gc.collect()        # (the module's image too: other tests count the images mapped)
    if not pool_idle(reserve):
        pytest.skip("the reservation was not pooled here")
    fresh = MemoryInstance(MemoryType(Limits(2, 2)))
    assert len(fresh.data) == reserve and fresh.data[:2 * 65536] == bytes(2 * 65536)


TABLE_OPS = r'''
(module
  (type $ret (func (result i32)))
  (table $t 4 funcref)
  (elem $e func $two $two)
  (elem (i32.const 0) func $one)
  (func $one (result i32) i32.const 1)
  (func $two (result i32) i32.const 2)
  (func (export "init") (table.init $t $e (i32.const 1) (i32.const 0) (i32.const 1)))
  (func (export "copy") (table.copy $t $t (i32.const 2) (i32.const 0) (i32.const 1)))
  (func (export "fill") (table.fill $t (i32.const 3) (ref.func $two) (i32.const 1)))
  (func (export "set") (table.set $t (i32.const 0) (ref.func $two)))
  (func (export "ci") (param i32) (result i32) (call_indirect $t (type $ret) (local.get 0))))
'''


@pytest.mark.parametrize("tier", tier_params())
def test_a_table_written_in_place_is_put_back(tier):
    # each write alone, the table's size unchanged (a watched table is rewritten only when
    # a write made it dirty: every kind of write must)
    engine = _engine(tier)
    store = Store(engine)
    ex = Instance(store, Module(engine, TABLE_OPS), []).exports(store)
    slots = lambda: [_call(ex["ci"], store, k) for k in range(4)]      # noqa: E731
    new = [1, "Trap", "Trap", "Trap"]
    assert slots() == new
    snap = store.snapshot()
    for op in ("init", "copy", "fill", "set"):
        ex[op](store)
        assert slots() != new, op
        assert snap.reset() is None
        assert slots() == new, op


RANDOM = r'''
(component
  (import "wasi:random/insecure-seed@0.2.0" (instance $s (export "insecure-seed" (func (result (tuple u64 u64))))))
  (import "wasi:random/random@0.2.0" (instance $r (export "get-random-u64" (func (result u64)))))
  (core module $M (memory (export "memory") 1))
  (core instance $mi (instantiate $M))
  (alias core export $mi "memory" (core memory $mem))
  (core func $seed (canon lower (func $s "insecure-seed") (memory $mem)))
  (core func $u64 (canon lower (func $r "get-random-u64")))
  (core module $m
    (import "" "memory" (memory 1))
    (import "" "seed" (func $seed (param i32)))
    (import "" "u64" (func $u64 (result i64)))
    (func (export "seed") (result i32) (call $seed (i32.const 16)) (i32.const 16))
    (func (export "u64") (result i64) (call $u64)))
  (core instance $i (instantiate $m
    (with "" (instance (export "memory" (memory $mem)) (export "seed" (func $seed)) (export "u64" (func $u64))))))
  (func (export "seed") (result (tuple u64 u64)) (canon lift (core func $i "seed") (memory $mem)))
  (func (export "u64") (result u64) (canon lift (core func $i "u64"))))
'''


@pytest.mark.parametrize("tier", tier_params())
def test_a_renewed_wasi_context_never_repeats_the_previous_randomness(tier):
    engine = _engine(tier)
    linker = Linker(engine)
    linker.add_wasip2()
    store = Store(engine)
    store.set_wasi(WasiConfig())
    sandbox = Sandbox(linker.instantiate_pre(Component(engine, RANDOM)), store)
    assert sandbox.refusal is None
    seeds, draws = [], []
    for _ in range(4):
        seeds.append(tuple(sandbox.instance.get_func(store, "seed")(store)))
        draws.append(sandbox.instance.get_func(store, "u64")(store))
        assert sandbox.reset() is None
        sandbox.renew_wasi(WasiConfig())
    # (a new seed per context: 128 random bits, so equal ones mean it was kept)
    assert len(set(seeds)) == 4 and len(set(draws)) == 4


START_HANDLE = r'''
(component
  (core module $dm (memory (export "memory") 1)
    (func (export "dtor") (param i32) (i32.store (i32.const 0) (i32.add (i32.load (i32.const 0)) (local.get 0)))))
  (core instance $d (instantiate $dm))
  (type $r (resource (rep i32) (dtor (func $d "dtor"))))
  (core func $new (canon resource.new $r))
  (core func $drop (canon resource.drop $r))
  (core func $rep (canon resource.rep $r))
  (core module $m
    (import "" "new" (func $new (param i32) (result i32)))
    (import "" "drop" (func $drop (param i32)))
    (import "" "rep" (func $rep (param i32) (result i32)))
    (import "" "memory" (memory 1))
    (global $h (mut i32) (i32.const 0))
    (func $init (global.set $h (call $new (i32.const 42))))
    (start $init)
    ;; the rep of the start's handle, then drop it: the destructor adds the rep at address 0
    (func (export "run") (result i32)
      (local $r i32)
      (local.set $r (call $rep (global.get $h)))
      (call $drop (global.get $h))
      (i32.add (i32.mul (local.get $r) (i32.const 1000)) (i32.load (i32.const 0)))))
  (core instance $i (instantiate $m (with "" (instance (export "new" (func $new)) (export "drop" (func $drop))
     (export "rep" (func $rep)) (export "memory" (memory $d "memory"))))))
  (func (export "run") (result u32) (canon lift (core func $i "run"))))
'''


@pytest.mark.parametrize("tier", tier_params())
def test_a_handle_made_at_instantiation_and_dropped_is_back(tier):
    # the start function makes a handle (rep 42); a call drops it, its destructor adding the
    # rep at address 0: each put-back sandbox has the handle again, and the memory the
    # destructor wrote as new
    engine = _engine(tier)
    sandbox = Sandbox(Linker(engine).instantiate_pre(Component(engine, START_HANDLE)), Store(engine))
    assert sandbox.refusal is None
    store = sandbox.store
    for _ in range(3):
        assert sandbox.instance.get_func(store, "run")(store) == 42042
        assert sandbox.reset() is None


def test_a_sandbox_in_a_store_whose_wasi_context_was_called_before_is_refused():
    # whether its own instantiation called the host cannot be told then
    from wasmforge.wasip2 import p2_ctx
    engine = _engine("interp")
    linker = Linker(engine)
    linker.add_wasip2()
    store = Store(engine)
    store.set_wasi(WasiConfig())
    p2_ctx(store).called = True         # (an earlier instance of the store called it)
    sandbox = Sandbox(linker.instantiate_pre(Component(engine, RANDOM)), store)
    assert "called the host" in (sandbox.refusal or "")
