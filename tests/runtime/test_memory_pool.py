"""Recycled memory reservations (runtime/memory.py, the pool): a memory that dies with nobody
viewing its mapping gives its reservation back, reset, and the next memory of that size takes
it instead of a new ``mmap``.  Whatever an instance did to its memory (writes, growth, a
copy-on-write image written over, a trap half-way), the next instance from the same
InstancePre sees exactly a fresh instance's state.

On the interp tier a dead instance's compiled closures still hold its mapping when the
collector finalizes the memory, so its memories are not recycled (the counts are asserted on
the llvm tier); what every instance sees is asserted on both."""

from __future__ import annotations

import gc
import sys

import pytest

from wasmforge import Config, Engine, Linker, Module, Store, Trap
from wasmforge.runtime import memory as M
from wasmforge.types import PAGE_SIZE

from support import tier_params

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="the pool resets with madvise (Linux)")

# A maximum of 9 pages: a reservation size no other test's memories use.
MAX_PAGES = 9
RESERVE = MAX_PAGES * PAGE_SIZE
PAYLOAD = bytes((i * 13 + 5) & 0xFF for i in range(70_000))     # >= 64 KiB: an image

WAT = f'''(module
  (memory (export "m") 1 {MAX_PAGES})
  (global $g (export "g") (mut i32) (i32.const 7))
  (table (export "t") 2 funcref)
  (elem (i32.const 0) $w)
  (data (i32.const 16) "seed")
  (func $w (export "w") (param i32 i32) (i32.store (local.get 0) (local.get 1)))
  (func (export "r") (param i32) (result i32) (i32.load (local.get 0)))
  (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
  (func (export "size") (result i32) (memory.size))
  (func (export "set_g") (param i32) (global.set $g (local.get 0)))
  (func (export "get_g") (result i32) (global.get $g))
  (func (export "clear_t") (table.set (i32.const 0) (ref.null func)))
  (func (export "t0_null") (result i32) (ref.is_null (table.get (i32.const 0)))))'''


def _engine(tier: str) -> Engine:
    config = Config()
    config.strategy = tier
    return Engine(config)


def _new(pre, engine):
    store = Store(engine)
    return store, pre.instantiate(store).exports(store)


def _dirty(store, ex) -> None:
    """Everything an instance can change, changed."""
    ex["w"](store, 0, 0x11111111)
    ex["w"](store, 16, 0x22222222)                  # over the data segment
    assert ex["grow"](store, 3) != -1
    ex["w"](store, 3 * PAGE_SIZE + 8, 0x33333333)   # in a grown page
    ex["m"].write(store, b"host", 2 * PAGE_SIZE)    # through the API
    ex["set_g"](store, 99)
    ex["clear_t"](store)


def _assert_fresh(store, ex) -> None:
    assert ex["size"](store) == 1
    assert ex["r"](store, 0) == 0 and ex["m"].read(store, 16, 20) == b"seed"
    assert ex["get_g"](store) == 7 and ex["g"].value(store) == 7
    assert ex["t0_null"](store) == 0
    assert ex["grow"](store, 3) == 1
    assert ex["m"].read(store, 0, 4 * PAGE_SIZE) == b"\0" * 16 + b"seed" + bytes(4 * PAGE_SIZE - 20)


def _idle(tier: str, expected: int) -> None:
    if tier == "llvm":
        assert M.pool_idle(RESERVE) == expected


@pytest.fixture(autouse=True)
def _empty_pool():
    # (a collection first: another test's dead stores would give their memories back during
    # this test's)
    gc.collect()
    M._pool.clear()
    yield
    gc.collect()
    M._pool.clear()


@pytest.mark.parametrize("tier", tier_params())
def test_a_recycled_memory_starts_as_a_fresh_one(tier):
    engine = _engine(tier)
    pre = Linker(engine).instantiate_pre(Module(engine, WAT))
    store, ex = _new(pre, engine)
    _dirty(store, ex)
    del store, ex
    gc.collect()
    _idle(tier, 1)                              # kept, reset
    for _ in range(3):
        store, ex = _new(pre, engine)
        _idle(tier, 0)                          # taken: no new mapping
        _assert_fresh(store, ex)
        _dirty(store, ex)
        del store, ex
        gc.collect()
        _idle(tier, 1)


@pytest.mark.parametrize("tier", tier_params())
def test_an_image_written_over_is_not_what_the_next_memory_sees(tier):
    wat = (f'(module (memory (export "m") 2 {MAX_PAGES}) (data (i32.const 4096) "%s")'
           ' (func (export "poke") (param i32 i32) (i32.store8 (local.get 0) (local.get 1))))'
           % "".join("\\%02x" % b for b in PAYLOAD))
    engine = _engine(tier)
    pre = Linker(engine).instantiate_pre(Module(engine, wat))
    for k in range(4):          # from the second instance on, the image is mapped
        store, ex = _new(pre, engine)
        mem = ex["m"]
        assert mem.read(store, 4096, 4096 + len(PAYLOAD)) == PAYLOAD, k
        assert mem.read(store, 0, 4096) == bytes(4096), k
        assert mem.read(store, 4096 + len(PAYLOAD), 2 * PAGE_SIZE) == bytes(2 * PAGE_SIZE - 4096 - len(PAYLOAD)), k
        ex["poke"](store, 4100, PAYLOAD[4] ^ 0xFF)      # in the image
        ex["poke"](store, 10, 1)                        # before it
        ex["poke"](store, 2 * PAGE_SIZE - 1, 2)         # after it
        del store, ex, mem
        gc.collect()
    _idle(tier, 1)


@pytest.mark.parametrize("tier", tier_params())
def test_a_mapping_somebody_views_is_never_recycled(tier):
    engine = _engine(tier)
    pre = Linker(engine).instantiate_pre(Module(engine, WAT))
    store, ex = _new(pre, engine)
    ex["w"](store, 0, 0x5A5A5A5A)
    buf = ex["m"].get_buffer_ptr(store, 8)
    del store, ex
    gc.collect()
    assert M.pool_idle(RESERVE) == 0
    assert bytes(buf[:4]) == b"\x5a" * 4         # the old mapping, as it was
    store, ex = _new(pre, engine)
    ex["w"](store, 0, 1)
    assert bytes(buf[:4]) == b"\x5a" * 4         # a new one: no write reaches the view


@pytest.mark.parametrize("tier", tier_params())
def test_store_limits_are_obeyed_by_a_recycled_memory(tier):
    engine = _engine(tier)
    pre = Linker(engine).instantiate_pre(Module(engine, WAT))
    store, ex = _new(pre, engine)
    _dirty(store, ex)
    del store, ex
    gc.collect()
    _idle(tier, 1)
    store = Store(engine)
    store.set_limits(memory_size=2 * PAGE_SIZE)
    ex = pre.instantiate(store).exports(store)
    assert ex["grow"](store, 1) == 1 and ex["grow"](store, 1) == -1     # the store's limit
    store2, ex2 = _new(pre, engine)             # the recycled one: grows to the type's maximum
    _assert_fresh(store2, ex2)
    assert ex2["grow"](store2, MAX_PAGES - 4) == 4 and ex2["grow"](store2, 1) == -1


@pytest.mark.parametrize("tier", tier_params())
def test_an_instance_trapping_half_way_leaves_nothing_to_the_next(tier):
    trapping = (f'(module (memory (export "m") 1 {MAX_PAGES}) (global $g (mut i32) (i32.const 1))'
                ' (func $start (i32.store (i32.const 64) (i32.const 77)) (drop (memory.grow (i32.const 2)))'
                '  (i32.store (i32.const 131072) (i32.const 78)) (global.set $g (i32.const 5)) unreachable)'
                ' (start $start))')
    engine = _engine(tier)
    pre = Linker(engine).instantiate_pre(Module(engine, trapping))
    for _ in range(2):
        with pytest.raises(Trap):
            pre.instantiate(Store(engine))
        gc.collect()
    _idle(tier, 1)
    fresh = Linker(engine).instantiate_pre(Module(engine, WAT))
    store, ex = _new(fresh, engine)
    _idle(tier, 0)
    _assert_fresh(store, ex)
    assert ex["r"](store, 64) == 0 and ex["r"](store, 131072) == 0


@pytest.mark.parametrize("tier", tier_params())
def test_a_memory_that_gave_its_reservation_back_reaches_it_no_more(tier):
    # The collector finalizes a dead store's objects one after the other: one finalized after
    # the memory (or compiled code it calls) must not write into the reservation the memory
    # gave back, nor grow into it.
    engine = _engine(tier)
    pre = Linker(engine).instantiate_pre(Module(engine, WAT))
    store, ex = _new(pre, engine)
    ex["w"](store, 0, 1)                            # made native on the llvm tier
    mem = ex["m"]._obj
    M._recycle(mem)                                 # what its finalizer does
    if M.pool_idle(RESERVE) == 0:                   # (interp: its closures still hold the mapping)
        assert tier == "interp"
        return
    with pytest.raises(Trap):
        ex["w"](store, 0, 0x44444444)
    with pytest.raises(IndexError):
        ex["m"].write(store, b"late", 0)
    assert ex["grow"](store, 1) == -1
    with pytest.raises(Trap):
        ex["w"](store, 8, 0x55555555)
    store2, ex2 = _new(pre, engine)
    _idle(tier, 0)
    _assert_fresh(store2, ex2)


def test_the_reference_count_of_a_memory_alone_is_measured():
    # The baseline _recycle compares against is the one this Python counts, not a constant.
    class Holder:
        __slots__ = ("data",)
    holder = Holder()
    holder.data = object()
    assert M._refs(holder) == M._REFS_ALONE
    view = holder.data
    assert M._refs(holder) == M._REFS_ALONE + 1
    del view


@pytest.mark.parametrize("tier", tier_params())
def test_a_shared_memory_is_never_recycled(tier):
    # Other threads' agents may still hold a shared memory's address.
    engine = _engine(tier)
    wat = WAT.replace(f'(memory (export "m") 1 {MAX_PAGES})', f'(memory (export "m") 1 {MAX_PAGES} shared)')
    pre = Linker(engine).instantiate_pre(Module(engine, wat))
    store, ex = _new(pre, engine)
    assert ex["m"]._obj.type.shared
    ex["w"](store, 0, 0x11111111)
    assert ex["grow"](store, 1) == 1
    del store, ex
    gc.collect()
    assert M.pool_idle(RESERVE) == 0


@pytest.mark.parametrize("tier", tier_params())
def test_a_memory_whose_reset_fails_is_not_recycled(tier, monkeypatch):
    engine = _engine(tier)
    pre = Linker(engine).instantiate_pre(Module(engine, WAT))
    monkeypatch.setattr(M, "_MADV_DONTNEED", -1)        # madvise fails (EINVAL)
    store, ex = _new(pre, engine)
    _dirty(store, ex)
    del store, ex
    gc.collect()
    assert M.pool_idle(RESERVE) == 0
    monkeypatch.undo()
    store, ex = _new(pre, engine)
    _assert_fresh(store, ex)


@pytest.mark.parametrize("tier", tier_params())
def test_a_memory_of_another_module_sees_neither_the_image_nor_writes_over_it(tier):
    # The next memory of the same pre maps its image again over whatever was left there;
    # another module's memory of the same reservation maps none.
    wat = (f'(module (memory (export "m") 2 {MAX_PAGES}) (data (i32.const 4096) "%s")'
           ' (func (export "poke") (param i32 i32) (i32.store8 (local.get 0) (local.get 1))))'
           % "".join("\\%02x" % b for b in PAYLOAD))
    engine = _engine(tier)
    pre = Linker(engine).instantiate_pre(Module(engine, wat))
    for _ in range(3):          # from the second instance on, the image is mapped
        store, ex = _new(pre, engine)
        ex["poke"](store, 4100, PAYLOAD[4] ^ 0xFF)
        del store, ex
        gc.collect()
    _idle(tier, 1)
    plain = Linker(engine).instantiate_pre(Module(engine, f'(module (memory (export "m") 2 {MAX_PAGES}))'))
    store, ex = _new(plain, engine)
    _idle(tier, 0)
    assert ex["m"].read(store, 0, 2 * PAGE_SIZE) == bytes(2 * PAGE_SIZE)


@pytest.mark.parametrize("tier", tier_params())
def test_a_memory_brought_back_after_it_gave_its_reservation_away_reaches_nothing(tier):
    # A finalizer may keep a dead store alive again (resurrection) after its memory gave the
    # reservation back: once a new memory has taken it, the old one's compiled code and host
    # access must still see a memory of size 0, not the new memory's bytes.
    engine = _engine(tier)
    pre = Linker(engine).instantiate_pre(Module(engine, WAT))
    store, ex = _new(pre, engine)
    ex["w"](store, 0, 1)
    M._recycle(ex["m"]._obj)                        # what its finalizer does
    if M.pool_idle(RESERVE) == 0:                   # (interp: its closures still hold the mapping)
        assert tier == "interp"
        return
    store2, ex2 = _new(pre, engine)
    _idle(tier, 0)
    ex2["w"](store2, 0, 0x66666666)
    with pytest.raises(Trap):
        ex["r"](store, 0)
    with pytest.raises(Trap):
        ex["w"](store, 4, 0x77777777)
    assert ex["m"].read(store, 0, 4) == b""         # (slice semantics: nothing to read)
    with pytest.raises(IndexError):
        ex["m"].write(store, b"late", 0)
    assert ex2["r"](store2, 0) == 0x66666666 and ex2["r"](store2, 4) == 0
