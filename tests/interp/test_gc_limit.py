"""GC allocations count against Store.set_limits(memory_size=...) on both tiers (issue 13):
an allocation bomb that keeps its objects traps "GC heap out of memory", the store stays
usable, and one that drops them runs to completion."""

from __future__ import annotations

import pytest

from wasmforge import Config, Engine, Instance, Module, Store, Trap

from support import tier_params

BOMB = """
(module
  (type $bytes (array (mut i8)))
  (type $cell (struct (field $next (ref null $cell)) (field $b (ref $bytes))))
  (table $keep 100 (ref null $bytes))
  (global $list (mut (ref null $cell)) (ref.null $cell))
  ;; n arrays of 1 MiB, each kept alive in the table.
  (func (export "keep_table") (param $n i32)
    (local $i i32)
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
      (table.set $keep (local.get $i) (array.new_default $bytes (i32.const 1048576)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $l))))
  ;; n arrays of 1 MiB, each kept alive in a linked list of structs.
  (func (export "keep_list") (param $n i32)
    (block $done (loop $l
      (br_if $done (i32.eqz (local.get $n)))
      (global.set $list (struct.new $cell (global.get $list)
                                          (array.new_default $bytes (i32.const 1048576))))
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br $l))))
  ;; n arrays of 1 MiB, each dropped at once; returns the length of the last.
  (func (export "drop") (param $n i32) (result i32)
    (local $a (ref null $bytes))
    (block $done (loop $l
      (br_if $done (i32.eqz (local.get $n)))
      (local.set $a (array.new_default $bytes (i32.const 1048576)))
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br $l)))
    (array.len (local.get $a)))
  (func (export "clear")
    (global.set $list (ref.null $cell))
    (table.fill $keep (i32.const 0) (ref.null $bytes) (i32.const 100)))
)
"""


def _instance(tier: str, limit: int):
    config = Config()
    config.strategy = tier
    engine = Engine(config)
    store = Store(engine)
    store.set_limits(memory_size=limit)
    return store, Instance(store, Module(engine, BOMB), []).exports(store)


@pytest.mark.parametrize("tier", tier_params())
@pytest.mark.parametrize("bomb", ["keep_table", "keep_list"])
def test_a_kept_allocation_bomb_traps_and_the_store_stays_usable(tier, bomb):
    store, ex = _instance(tier, 16 << 20)
    with pytest.raises(Trap, match="GC heap out of memory"):
        ex[bomb](store, 64)
    ex["clear"](store)
    # Usable after: the dropped garbage no longer counts, 8 MiB more fit again.
    ex[bomb](store, 8)
    assert ex["drop"](store, 4) == 1 << 20


@pytest.mark.parametrize("tier", tier_params())
def test_a_dropping_allocation_loop_runs_to_completion(tier):
    store, ex = _instance(tier, 16 << 20)
    assert ex["drop"](store, 64) == 1 << 20


def test_without_a_limit_nothing_is_counted():
    store, ex = _instance("interp", 16 << 20)
    store.set_limits(memory_size=-1)
    store2 = Store(store.engine)
    ex2 = Instance(store2, Module(store.engine, BOMB), []).exports(store2)
    ex2["keep_table"](store2, 20)
    assert getattr(store2, "_gc_budget", None) is None
