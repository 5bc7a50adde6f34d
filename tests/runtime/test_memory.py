"""Linear memory: a fixed reservation grown in place, bounds-checked host access."""

import pytest

from wasmforge import Engine, Limits, Memory, MemoryAccessError, MemoryType, Store, WasmError
from wasmforge.runtime import MemoryInstance



def test_memory_grow_beyond_maximum_returns_minus_one(instantiate):
    store, inst = instantiate('(module (memory 1 2) (func (export "g") (result i32) (memory.grow (i32.const 2))))')
    assert inst.exports(store)["g"](store) == -1


def test_memory_grow_returns_old_size_in_pages(instantiate):
    store, inst = instantiate('(module (memory 1 3) (func (export "g") (result i32) (memory.grow (i32.const 2))))')
    assert inst.exports(store)["g"](store) == 1


def test_growth_keeps_the_mapping_and_zeroes_new_pages():
    mem = MemoryInstance(MemoryType(Limits(1, 4)))
    data = mem.data
    data[0] = 7
    assert mem.grow(2) == 1
    assert mem.data is data
    assert mem.size == 3 * 65536
    assert data[0] == 7 and data[2 * 65536] == 0


def test_unbounded_memory_stops_at_65536_pages():
    mem = MemoryInstance(MemoryType(Limits(0)))
    assert mem.grow(65537) == -1
    assert mem.grow(65536) == 0


def test_memory_with_maximum_zero_has_no_pages():
    mem = MemoryInstance(MemoryType(Limits(0, 0)))
    assert mem.size == 0
    assert mem.grow(1) == -1


def test_api_grow_failure_raises():
    store = Store(Engine())
    mem = Memory(store, MemoryType(Limits(1, 1)))
    with pytest.raises(WasmError, match="failed to grow memory"):
        mem.grow(store, 1)


def test_read_uses_slice_semantics():
    store = Store(Engine())
    mem = Memory(store, MemoryType(Limits(1)))
    mem.write(store, b"xyz", 65533)
    assert mem.read(store, -3) == b"xyz"
    assert mem.read(store, 65535, 70000) == b"z"


def test_write_outside_memory_raises_index_error():
    store = Store(Engine())
    mem = Memory(store, MemoryType(Limits(1)))
    with pytest.raises(IndexError):
        mem.write(store, b"ab", 65535)
    with pytest.raises(MemoryAccessError):
        mem.write(store, b"a", 65536)


def test_buffer_is_a_writable_view_of_the_current_size():
    store = Store(Engine())
    mem = Memory(store, MemoryType(Limits(1, 2)))
    view = mem.buffer(store)
    assert len(view) == 65536
    view[10] = 42
    assert mem.read(store, 10, 11) == b"\x2a"


def test_size_and_data_len():
    store = Store(Engine())
    mem = Memory(store, MemoryType(Limits(2)))
    assert (mem.size(store), mem.data_len(store)) == (2, 2 * 65536)


def test_wasm_store_visible_to_host_and_host_write_visible_to_wasm(instantiate):
    store, inst = instantiate('(module (memory (export "m") 1)'
                              ' (func (export "load") (param i32) (result i32) (i32.load (local.get 0)))'
                              ' (func (export "store") (param i32 i32) (i32.store (local.get 0) (local.get 1))))')
    ex = inst.exports(store)
    ex["m"].write(store, (123456).to_bytes(4, "little"), 100)
    assert ex["load"](store, 100) == 123456
    ex["store"](store, 8, -1)
    assert ex["m"].read(store, 8, 12) == b"\xff" * 4
