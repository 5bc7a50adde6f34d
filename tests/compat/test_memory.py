"""Memory.data_ptr, get_buffer_ptr, data_len and page sizes, as in wasmtime-py."""

import ctypes

import pytest

from wasmforge import Limits, Memory, MemoryAccessError, MemoryType, Store

WAT = ('(module (memory (export "memory") 2 3)'
       ' (func (export "load") (param i32) (result i32) (i32.load8_u (local.get 0)))'
       ' (data (i32.const 0x1000) "\\01\\02\\03\\04"))')


def test_data_ptr_reads_and_writes_linear_memory(instantiate):
    store, inst = instantiate(WAT)
    memory, load = inst.exports(store)["memory"], inst.exports(store)["load"]
    ptr = memory.data_ptr(store)
    assert isinstance(ptr, ctypes.POINTER(ctypes.c_ubyte))
    assert ptr[0] == 0 and ptr[0x1000] == 1 and ptr[0x1003] == 4
    ptr[0x1003] = 5
    assert load(store, 0x1003) == 5
    # The mapping never moves: the pointer survives growth.
    memory.grow(store, 1)
    ptr[0x2ffff] = 9
    assert load(store, 0x2ffff) == 9 and memory.data_len(store) == 0x30000


def test_get_buffer_ptr_is_a_ctypes_array(instantiate):
    store, inst = instantiate(WAT)
    memory = inst.exports(store)["memory"]
    buf = memory.get_buffer_ptr(store, 4, 0x1000)
    assert isinstance(buf, ctypes.Array) and list(buf) == [1, 2, 3, 4]
    assert bytes(memoryview(buf)) == b"\x01\x02\x03\x04"
    assert len(memory.get_buffer_ptr(store)) == 0x20000
    with pytest.raises(MemoryAccessError):
        memory.get_buffer_ptr(store, 16, 0x20000 - 8)


def test_page_size():
    store = Store()
    memory = Memory(store, MemoryType(Limits(1, 2)))
    assert memory.page_size(store) == 65536 and memory.page_size_log2(store) == 16
    ty = memory.type(store)
    assert (ty.is_64, ty.is_shared, ty.page_size, ty.page_size_log2) == (False, False, 65536, 16)


def test_data_ptr_keeps_the_mapping_alive_after_close():
    store = Store()
    memory = Memory(store, MemoryType(Limits(1, 1)))
    ptr = memory.data_ptr(store)
    store.close()
    ptr[10] = 3                     # no crash: the mapping is pinned while the pointer lives
    assert ptr[10] == 3
