"""Store.set_limits: memory and table sizes, and instance, memory and table counts."""

import pytest

from limits.helpers import engine_for, instantiate
from wasmforge.errors import InstantiationError, WasmError
from wasmforge import Memory, Store, Table
from wasmforge.types import FUNCREF, Limits, MemoryType, TableType

BOMB = """(module (memory (export "mem") 1)
  (func (export "bomb") (result i32) (local i32)
    ;; grow one page at a time until memory.grow fails; return the pages obtained
    (block (loop
      (br_if 1 (i32.eq (memory.grow (i32.const 1)) (i32.const -1)))
      (local.set 0 (i32.add (local.get 0) (i32.const 1)))
      (br 0)))
    (local.get 0))
  (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
  (func (export "size") (result i32) (memory.size)))"""

TABLES = """(module (table (export "t") 1 funcref)
  (func (export "grow") (param i32) (result i32) (table.grow (ref.null func) (local.get 0))))"""


def limited(tier, wat, **limits):
    engine = engine_for(tier)
    store = Store(engine)
    store.set_limits(**limits)
    return instantiate(engine, wat, store=store)


def test_memory_bomb_stops_at_the_store_limit(tier):
    store, ex = limited(tier, BOMB, memory_size=10 * 65536)
    assert ex["bomb"](store) == 9
    assert ex["size"](store) == 10


def test_memory_grow_beyond_the_limit_returns_minus_one(tier):
    store, ex = limited(tier, BOMB, memory_size=4 * 65536)
    assert ex["grow"](store, 4) == -1
    assert ex["grow"](store, 3) == 1
    assert ex["grow"](store, 0) == 4


def test_api_memory_grow_beyond_the_limit_raises(tier):
    store, ex = limited(tier, BOMB, memory_size=2 * 65536)
    with pytest.raises(WasmError):
        ex["mem"].grow(store, 5)


def test_lowering_the_limit_applies_to_existing_memories(tier):
    store, ex = instantiate(engine_for(tier), BOMB)
    store.set_limits(memory_size=3 * 65536)
    assert ex["grow"](store, 3) == -1
    assert ex["grow"](store, 2) == 1


def test_memory_starting_above_the_limit_fails_instantiation(tier):
    engine = engine_for(tier)
    store = Store(engine)
    store.set_limits(memory_size=65536)
    with pytest.raises(InstantiationError, match="memory"):
        instantiate(engine, "(module (memory 2))", store=store)
    with pytest.raises(InstantiationError, match="memory"):
        Memory(store, MemoryType(Limits(2, None)))


def test_table_grow_beyond_the_limit_returns_minus_one(tier):
    store, ex = limited(tier, TABLES, table_elements=10)
    assert ex["grow"](store, 10) == -1
    assert ex["grow"](store, 9) == 1
    with pytest.raises(WasmError):
        ex["t"].grow(store, 1)


def test_table_starting_above_the_limit_fails_instantiation(tier):
    engine = engine_for(tier)
    store = Store(engine)
    store.set_limits(table_elements=5)
    with pytest.raises(InstantiationError, match="table"):
        instantiate(engine, "(module (table 6 funcref))", store=store)


def test_instance_count_limit(tier):
    engine = engine_for(tier)
    store = Store(engine)
    store.set_limits(instances=3)
    for _ in range(3):
        instantiate(engine, "(module)", store=store)
    with pytest.raises(InstantiationError, match="instances"):
        instantiate(engine, "(module)", store=store)


def test_memory_and_table_count_limits(tier):
    engine = engine_for(tier)
    store = Store(engine)
    store.set_limits(memories=1, tables=1)
    instantiate(engine, "(module (memory 1) (table 1 funcref))", store=store)
    with pytest.raises(InstantiationError, match="memories"):
        instantiate(engine, "(module (memory 1))", store=store)
    with pytest.raises(InstantiationError, match="tables"):
        Table(store, TableType(FUNCREF, Limits(1, None)), None)


def test_limits_reject_nonsense():
    with pytest.raises(ValueError):
        Store(engine_for("interp")).set_limits(memory_size=-2)


def test_minus_one_restores_the_default_as_in_wasmtime_py(tier):
    store, ex = instantiate(engine_for(tier), BOMB)
    store.set_limits(memory_size=2 * 65536)
    assert ex["grow"](store, 5) == -1
    store.set_limits(memory_size=-1)
    assert ex["grow"](store, 5) == 1


def test_a_memory_made_under_a_limit_reserves_only_that_much(tier):
    store, ex = limited(tier, BOMB, memory_size=2 * 65536)
    store.set_limits(memory_size=-1)
    assert ex["grow"](store, 5) == -1       # its mapping covers 2 pages
    assert ex["grow"](store, 1) == 1
