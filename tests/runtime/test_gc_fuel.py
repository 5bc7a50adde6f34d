"""GC allocation and fuel (runtime/metering.py, BULK_ARRAY): the array instructions cost the
elements they allocate or write, the same on both tiers, so an allocation bomb runs out of
fuel and traps cleanly; the store stays usable."""

from __future__ import annotations

import pytest

from wasmforge import Config, Engine, Instance, Module, Store, Trap, TrapCode

from support import tier_params

WAT = """
(module
  (type $a (array (mut i32)))
  (type $f (array (mut funcref)))
  (type $cell (struct (field $arr (ref $a)) (field $next (ref null $cell))))
  (data $d "\\01\\00\\00\\00\\02\\00\\00\\00\\03\\00\\00\\00\\04\\00\\00\\00")
  (elem $e func $g $g $g)
  (func $g)
  (func (export "work") (param $n i32) (result i32)
    (local $x (ref null $a)) (local $y (ref null $a)) (local $fs (ref null $f))
    (local.set $x (array.new $a (i32.const 7) (local.get $n)))
    (local.set $y (array.new_default $a (local.get $n)))
    (array.fill $a (local.get $y) (i32.const 0) (i32.const 5) (local.get $n))
    (array.copy $a $a (local.get $x) (i32.const 0) (local.get $y) (i32.const 0) (local.get $n))
    (array.init_data $a $d (local.get $x) (i32.const 0) (i32.const 0) (i32.const 2))
    (local.set $fs (array.new_elem $f $e (i32.const 0) (i32.const 3)))
    (array.init_elem $f $e (local.get $fs) (i32.const 1) (i32.const 1) (i32.const 2))
    (drop (array.new_fixed $a 4 (i32.const 1) (i32.const 2) (i32.const 3) (i32.const 4)))
    (drop (array.new_data $a $d (i32.const 4) (i32.const 3)))
    (i32.add (array.get $a (local.get $x) (i32.const 1))
             (array.len (local.get $fs))))
  ;; keeps every array it makes: only fuel (or a memory limit) stops it
  (func (export "bomb") (param $n i32)
    (local $l (ref null $cell))
    (loop $l
      (local.set $l (struct.new $cell (array.new_default $a (local.get $n)) (local.get $l)))
      (br $l)))
)
"""


def _run(tier: str, fuel: int, name: str, *args):
    config = Config()
    config.strategy = tier
    config.consume_fuel = True
    engine = Engine(config)
    store = Store(engine)
    store.set_fuel(fuel)
    ex = Instance(store, Module(engine, WAT), []).exports(store)
    try:
        result = ex[name](store, *args)
    except Trap as trap:
        return store, ("trap", trap.code), ex
    return store, result, ex


@pytest.mark.parametrize("tier", tier_params())
def test_array_instructions_cost_their_elements(tier):
    used = {}
    for n in (2, 102, 1002):
        store, result, _ = _run(tier, 10**9, "work", n)
        assert result == 5, result      # x[1] from the data segment (2) + 3 elements
        used[n] = 10**9 - store.get_fuel()
    # n more elements in each of new, new_default, fill and copy: 4n more fuel.
    assert used[102] - used[2] == 400
    assert used[1002] - used[102] == 3600


def test_both_tiers_consume_the_same_fuel():
    tiers = [getattr(t, "values", (t,))[0] for t in tier_params()]
    if "llvm" not in tiers:
        pytest.skip("the llvm tier is not available")
    left = []
    for tier in ("interp", "llvm"):
        store, result, _ = _run(tier, 10**9, "work", 321)
        left.append((result, store.get_fuel()))
    assert left[0] == left[1]


@pytest.mark.parametrize("tier", tier_params())
def test_an_allocation_bomb_runs_out_of_fuel_and_the_store_stays_usable(tier):
    store, result, ex = _run(tier, 5_000_000, "bomb", 1 << 16)
    assert result == ("trap", TrapCode.OUT_OF_FUEL)
    # About 5e6 / 65536 = 76 arrays of 256 KB were made: the bomb was stopped early.
    store.set_fuel(10**9)
    assert ex["work"](store, 10) == 5
