"""A segment's table placeholders are made once per module and shared by its instances
(runtime/instance.py ``InstancePlan.placeholders``): what one instance does to its table
(``table.set``, ``table.grow``, a host write) never shows in another instance's table, nor
in the next instance's, whether the table is the instance's own or a table two modules
place their functions in (a second source: placeholders of a non-zero base)."""

from __future__ import annotations

import pytest

from wasmforge import Linker, Module, Store

from support import engine_for, tier_params

OWN = '''(module
  (type $k (func (result i32)))
  (table $t (export "t") 4 funcref)
  (elem (i32.const 0) func $a $b $c)
  (func $a (result i32) (i32.const 1))
  (func $b (result i32) (i32.const 2))
  (func $c (result i32) (i32.const 3))
  (func (export "call") (param i32) (result i32) (call_indirect (type $k) (local.get 0)))
  (func (export "size") (result i32) (table.size $t))
  (func (export "swap") (table.set $t (i32.const 0) (ref.func $c)) (table.set $t (i32.const 2) (ref.null func)))
  (func (export "grow") (result i32) (table.grow $t (ref.func $b) (i32.const 3))))'''


def _own(engine, module):
    store = Store(engine)
    return store, Linker(engine).instantiate(store, module).exports(store)


def _calls(store, ex, n):
    out = []
    for i in range(n):
        try:
            out.append(ex["call"](store, i))
        except Exception as e:          # a null or out-of-bounds slot traps
            out.append(type(e).__name__)
    return out


@pytest.mark.parametrize("tier", tier_params())
def test_a_table_written_by_one_instance_is_whole_in_another(tier):
    engine = engine_for(tier)
    module = Module(engine, OWN)
    (s1, e1), (s2, e2) = _own(engine, module), _own(engine, module)
    assert _calls(s1, e1, 4) == _calls(s2, e2, 4) == [1, 2, 3, "Trap"]
    e1["swap"](s1)
    assert e1["grow"](s1) == 4
    assert _calls(s1, e1, 7) == [3, 2, "Trap", "Trap", 2, 2, 2]
    assert e2["size"](s2) == 4
    assert _calls(s2, e2, 5) == [1, 2, 3, "Trap", "Trap"]
    # a host write too
    e2["t"].set(s2, 1, None)
    assert _calls(s1, e1, 3) == [3, 2, "Trap"]
    s3, e3 = _own(engine, module)
    assert e3["size"](s3) == 4 and _calls(s3, e3, 4) == [1, 2, 3, "Trap"]


# Two modules place their functions in one table the first exports (the second a source of
# that table: its placeholders carry a non-zero base).
FIRST = '''(module
  (type $k (func (result i32)))
  (table $t (export "t") 6 funcref)
  (elem (i32.const 0) func $a $b)
  (func $a (result i32) (i32.const 1))
  (func $b (result i32) (i32.const 2))
  (func (export "call") (param i32) (result i32) (call_indirect (type $k) (local.get 0))))'''
SECOND = '''(module
  (type $k (func (result i32)))
  (import "first" "t" (table $t 6 funcref))
  (elem (table $t) (i32.const 2) func $c $d $e)
  (func $c (result i32) (i32.const 30))
  (func $d (result i32) (i32.const 40))
  (func $e (result i32) (i32.const 50))
  (func (export "call") (param i32) (result i32) (call_indirect (type $k) (local.get 0)))
  (func (export "clear") (table.set $t (i32.const 3) (ref.null func)) (table.set $t (i32.const 0) (ref.func $e)))
  (func (export "grow") (result i32) (table.grow $t (ref.func $c) (i32.const 1))))'''


@pytest.mark.parametrize("tier", tier_params())
def test_a_shared_tables_placeholders_are_each_instances_own(tier):
    engine = engine_for(tier)
    first, second = Module(engine, FIRST), Module(engine, SECOND)

    def pair():
        store = Store(engine)
        linker = Linker(engine)
        linker.define_instance(store, "first", linker.instantiate(store, first))
        return store, linker.instantiate(store, second).exports(store)

    made = [pair() for _ in range(3)]
    for store, ex in made:
        assert _calls(store, ex, 6) == [1, 2, 30, 40, 50, "Trap"]
    s1, e1 = made[0]
    e1["clear"](s1)
    assert e1["grow"](s1) == 6
    assert _calls(s1, e1, 7) == [50, 2, 30, "Trap", 50, "Trap", 30]
    for store, ex in made[1:] + [pair()]:
        assert _calls(store, ex, 7) == [1, 2, 30, 40, 50, "Trap", "Trap"]
