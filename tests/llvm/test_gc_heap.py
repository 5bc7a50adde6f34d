"""The llvm tier's GC heap (llvm/gcheap.py): collection with precise roots, references held by
Python across collections, host values in fields, limits, and bounded memory on both tiers."""

from __future__ import annotations

import gc as pygc
import os
import subprocess
import sys
import textwrap
import weakref

import pytest

from wasmforge import Config, Engine, Func, Instance, Module, Store, Trap
from wasmforge.errors import WasmException
from wasmforge.llvm import gcheap

from support import tier_params

LIST = """
(module
  (type $node (struct (field $next (mut (ref null $node))) (field $v i64)))
  (type $bytes (array (mut i8)))
  (type $boxes (array (mut externref)))
  (tag $t (param (ref $node)))
  (global $keep (mut (ref null $node)) (ref.null $node))
  ;; A list of n nodes whose last node points back at the first (a cycle).
  (func $ring (export "ring") (param $n i32) (result (ref $node))
    (local $first (ref null $node)) (local $last (ref null $node))
    (local.set $first (struct.new $node (ref.null $node) (i64.const 0)))
    (local.set $last (local.get $first))
    (block $done (loop $l
      (br_if $done (i32.le_s (local.get $n) (i32.const 1)))
      (local.set $first (struct.new $node (local.get $first) (i64.extend_i32_u (local.get $n))))
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br $l)))
    (struct.set $node $next (local.get $last) (local.get $first))
    (ref.as_non_null (local.get $first)))
  ;; The sum of the values of a ring, walking it once.
  (func $sum (export "sum") (param $r (ref $node)) (result i64)
    (local $p (ref null $node)) (local $s i64)
    (local.set $p (local.get $r))
    (loop $l
      (local.set $s (i64.add (local.get $s) (struct.get $node $v (local.get $p))))
      (local.set $p (struct.get $node $next (local.get $p)))
      (br_if $l (i32.eqz (ref.eq (local.get $p) (local.get $r)))))
    (local.get $s))
  ;; A long-lived ring kept in a global while `rounds` rings of garbage are made, each
  ;; checked while a nested allocation happens between its making and its walk.
  (func (export "churn") (param $rounds i32) (param $n i32) (result i64)
    (local $total i64) (local $r (ref null $node))
    (global.set $keep (call $ring (i32.const 1000)))
    (block $done (loop $l
      (br_if $done (i32.eqz (local.get $rounds)))
      (local.set $r (call $ring (local.get $n)))
      (drop (array.new_default $bytes (i32.const 4096)))
      (local.set $total (i64.add (local.get $total)
                                 (i64.add (call $sum (ref.as_non_null (local.get $r)))
                                          ;; an operand on the stack across a call that allocates
                                          (call $sum (call $ring (i32.const 50))))))
      (local.set $rounds (i32.sub (local.get $rounds) (i32.const 1)))
      (br $l)))
    (i64.add (local.get $total) (call $sum (ref.as_non_null (global.get $keep)))))
  (func (export "big") (param $n i32) (result (ref $bytes))
    (array.new_default $bytes (local.get $n)))
  (func (export "box") (param $x externref) (result (ref $boxes))
    (array.new $boxes (local.get $x) (i32.const 3)))
  (func (export "unbox") (param $a (ref $boxes)) (result externref)
    (array.get $boxes (local.get $a) (i32.const 2)))
  ;; traps with a reference local (in its root-stack frame) and one on the operand stack
  (func (export "trap") (param $n i32) (result i64)
    (local $r (ref null $node))
    (local.set $r (call $ring (local.get $n)))
    (i64.add (call $sum (ref.as_non_null (local.get $r)))
             (i64.extend_i32_u (i32.div_u (local.get $n) (i32.const 0)))))
  (func (export "throw") (param $n i32)
    (throw $t (call $ring (local.get $n))))
)
"""


def _instance(strategy="llvm", limit=None):
    config = Config()
    config.strategy = strategy
    engine = Engine(config)
    store = Store(engine)
    if limit is not None:
        store.set_limits(memory_size=limit)
    inst = Instance(store, Module(engine, LIST), [])
    return store, inst.exports(store)


def _heap(store) -> gcheap.NativeHeap:
    return gcheap.heap_of(store)


def _ring_sum(n: int) -> int:
    return sum(range(2, n + 1))


def test_garbage_with_cycles_is_collected_and_live_data_survives():
    store, ex = _instance()
    rounds, n = 1000, 2000
    got = ex["churn"](store, rounds, n)
    assert got == rounds * (_ring_sum(n) + _ring_sum(50)) + _ring_sum(1000)
    heap = _heap(store)
    allocated = rounds * (n + 50) * 24 + rounds * (16 + 4096)
    assert heap.collections >= 3
    # Far more was allocated than the heap ever held: the rings (cycles) were freed.
    assert heap.size * 4 <= allocated, (heap.size, allocated)
    store.gc()
    # What is left live: the global's ring (and nothing of the garbage rings).
    assert heap.live < 1000 * 24 + 4096, heap.live


def test_a_reference_held_by_python_survives_collections():
    store, ex = _instance()
    ring = ex["ring"](store, 500)
    ref = weakref.ref(ring)
    for _ in range(3):
        ex["churn"](store, 20, 3000)
        store.gc()
    assert ex["sum"](store, ring) == _ring_sum(500)
    del ring
    pygc.collect()
    assert ref() is None
    store.gc()
    assert _heap(store).live < 1000 * 24 + 4096 + 500 * 24


def test_host_values_in_fields_are_kept_while_reachable_then_dropped():
    store, ex = _instance()

    class Host:
        pass

    host = Host()
    ref = weakref.ref(host)
    boxes = ex["box"](store, host)
    del host
    store.gc()
    assert ex["unbox"](store, boxes) is ref()
    assert ref() is not None
    del boxes
    pygc.collect()
    store.gc()
    assert ref() is None


def test_an_exception_payload_stays_valid_across_collections():
    store, ex = _instance()
    with pytest.raises(WasmException) as info:
        ex["throw"](store, 100)
    ex["churn"](store, 10, 3000)
    store.gc()
    (payload,) = info.value.exn.values
    assert ex["sum"](store, payload) == _ring_sum(100)


def test_the_store_limit_bounds_the_heap_and_a_bomb_traps():
    store, ex = _instance(limit=16 << 20)
    with pytest.raises(Trap, match="GC heap out of memory"):
        keep = [ex["big"](store, 1 << 20) for _ in range(64)]
        del keep
    # The store stays usable: garbage is collected again.
    assert ex["churn"](store, 5, 1000) == 5 * (_ring_sum(1000) + _ring_sum(50)) + _ring_sum(1000)


_CHILD = """
import resource, sys
from wasmforge import Config, Engine, Instance, Module, Store
config = Config()
config.strategy = sys.argv[1]
engine = Engine(config)
store = Store(engine)
ex = Instance(store, Module(engine, sys.stdin.read()), []).exports(store)
ex["churn"](store, 2, int(sys.argv[3]))
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
ex["churn"](store, int(sys.argv[2]), int(sys.argv[3]))
print(before, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


@pytest.mark.parametrize("tier", tier_params())
def test_memory_stays_bounded_while_allocating_far_more(tier):
    # About 250 MB (llvm) / 25 MB (interp) of rings, each garbage after its round: the peak
    # resident size of the process grows by far less than what was allocated.
    rounds = 400 if tier == "llvm" else 40
    n = 20000
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(_CHILD), tier, str(rounds), str(n)],
                         input=LIST, capture_output=True, text=True, env=env, timeout=600)
    assert out.returncode == 0, out.stderr
    before, after = map(int, out.stdout.split())
    allocated_kb = rounds * (n + 50) * 24 // 1024
    grown = after - before
    assert grown < 40 * 1024 and grown * 4 < allocated_kb, (grown, allocated_kb)


def test_gc_objects_do_not_cross_between_tiers_unchecked():
    # An llvm object's fields are read through values(); interp-tier code refuses it.
    store, ex = _instance()
    ring = ex["ring"](store, 3)
    assert ring.values()[1] == 2       # the head, made last, holds 2
    config = Config()
    config.strategy = "interp"
    engine = Engine(config)
    istore = Store(engine)
    iex = Instance(istore, Module(engine, LIST), []).exports(istore)
    with pytest.raises(Exception, match="cannot be used by interp-tier code"):
        iex["sum"](istore, ring)
    # An interp object entering llvm code moves to the native heap (converted once).
    iring = iex["ring"](istore, 4)
    assert ex["sum"](store, iring) == _ring_sum(4)
    assert type(iring) is gcheap.NativeStruct and ex["sum"](store, iring) == _ring_sum(4)


def test_a_trap_gives_the_root_stack_back():
    store, ex = _instance()
    block = _heap(store).block
    top = block.roots_top
    for _ in range(3):
        with pytest.raises(Trap, match="divide by zero"):
            ex["trap"](store, 10)
    assert block.roots_top == top


def test_an_object_only_a_host_result_holds_survives_a_collection():
    # The host function returns a fresh object nothing else holds once the callback has
    # converted it: its address goes on the operand stack, which the next call or
    # allocation spills to the root stack, so the collections below keep it.
    config = Config()
    config.strategy = "llvm"
    engine = Engine(config)
    store = Store(engine)
    maker = Instance(store, Module(engine, LIST), []).exports(store)
    user = Module(engine, """
      (module
        (type $node (struct (field $next (mut (ref null $node))) (field $v i64)))
        (type $bytes (array (mut i8)))
        (import "m" "ring" (func $ring (param i32) (result (ref $node))))
        (import "m" "sum" (func $sum (param (ref $node)) (result i64)))
        (func (export "go") (result i64)
          (local $r (ref null $node)) (local $i i32)
          (local.set $r (call $ring (i32.const 300)))
          (loop $l
            (drop (array.new_default $bytes (i32.const 65536)))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br_if $l (i32.lt_u (local.get $i) (i32.const 400))))
          (call $sum (ref.as_non_null (local.get $r)))))""")
    ring_t = maker["ring"].type(store)
    host_ring = Func(store, ring_t, lambda n: maker["ring"](store, n))
    inst = Instance(store, user, [host_ring, maker["sum"]])
    before = _heap(store).collections
    assert inst.exports(store)["go"](store) == _ring_sum(300)
    assert _heap(store).collections > before
