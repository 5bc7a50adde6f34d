"""Linear memory: a fixed reservation grown in place, bounds-checked host access."""

import os
import subprocess
import sys
import tracemalloc

import pytest

from support import tier_params
from wasmforge import (Config, Engine, Instance, Limits, Memory, MemoryAccessError, MemoryType, Module, Store,
                       WasmError)
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


# -- bulk memory: long fills and copies stream instead of building an n-byte temporary ------

TIERS = tier_params()

BULK = '''(module (memory (export "m") {pages})
  (data $d "{seg}")
  (func (export "fill") (param i32 i32 i32) (memory.fill (local.get 0) (local.get 1) (local.get 2)))
  (func (export "copy") (param i32 i32 i32) (memory.copy (local.get 0) (local.get 1) (local.get 2)))
  (func (export "init") (param i32 i32 i32) (memory.init $d (local.get 0) (local.get 1) (local.get 2))))'''


def _bulk(tier, pages, seg=""):
    config = Config()
    config.strategy = tier
    engine = Engine(config)
    store = Store(engine)
    inst = Instance(store, Module(engine, BULK.format(pages=pages, seg=seg)), [])
    return store, inst.exports(store)


@pytest.mark.parametrize("tier", TIERS)
def test_long_fill_copy_and_init_give_the_right_bytes(tier):
    # 5 pages: every operation below is longer than the interp tier's 64 KiB direct path.
    n = 5 * 65536
    seg = bytes(i * 7 % 251 for i in range(200_000))
    store, ex = _bulk(tier, 8, "".join(f"\\{b:02x}" for b in seg))
    m = ex["m"]
    pattern = bytes(i % 253 for i in range(n))
    ref = bytearray(8 * 65536)

    def check():
        assert m.read(store, 0, len(ref)) == ref

    ex["fill"](store, 3, 0x1AB, n)              # the value is taken modulo 256
    ref[3:3 + n] = b"\xab" * n
    check()
    m.write(store, pattern, 0)
    ref[0:n] = pattern
    ex["copy"](store, 70_001, 0, n)             # forward, overlapping: destination above source
    ref[70_001:70_001 + n] = ref[0:n]
    check()
    ex["copy"](store, 12, 70_013, n)            # backward, overlapping: destination below source
    ref[12:12 + n] = ref[70_013:70_013 + n]
    check()
    ex["init"](store, 1000, 17, 150_000)
    ref[1000:151_000] = seg[17:150_017]
    check()
    with pytest.raises(WasmError, match="out of bounds"):
        ex["fill"](store, 8 * 65536 - n + 1, 0, n)
    check()                                     # a range past the end writes nothing


_PEAK_SCRIPT = '''
import re, sys
from wasmforge import Config, Engine, Instance, Module, Store

def kib(field):
    with open("/proc/self/status") as f:
        return int(re.search(field + r":\\s+(\\d+)", f.read()).group(1))

config = Config()
config.strategy = {tier!r}
engine = Engine(config)
store = Store(engine)
G = 1 << 30
ex = Instance(store, Module(engine, {wat!r}), []).exports(store)
m = ex["m"]
marks = ((0, b"\\x01"), (G // 2, b"\\x02"), (G - 65536, b"\\x03"))
for name, args in (("fill", (0, 0xAB, G)), ("copy", (65536, 0, G)), ("copy", (0, 4096, G))):
    ex[name](store, *args)
    if name == "fill":
        for at, byte in marks:
            m.write(store, byte, at)
    # Every page of the 1 GiB is resident now; the peak can only exceed that by what the
    # operation allocated on the side.
    print(name, (kib("VmHWM") - kib("VmRSS")) // 1024)
# The marks moved up by 65536, then down by 4096; a copy that ran forward over its own
# source would have repeated them every 65536 bytes.
print("bytes", *(m.read(store, at + 61440 - 1, at + 61440 + 2).hex() for at, _ in marks),
      m.read(store, 0, 2).hex(), m.read(store, 2 * 65536 + 61440, 2 * 65536 + 61442).hex())
'''


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
@pytest.mark.parametrize("tier", TIERS)
def test_1gib_fill_and_overlapping_copies_allocate_no_temporary(tier, tmp_path):
    # In a child process, whose peak resident size belongs to this operation alone.  The old
    # interp tier built a 1 GiB bytes object for each (peak 1024 MiB above the resident size).
    wat = BULK.format(pages=(1 << 30) // 65536 + 1, seg="")
    env = dict(os.environ, WASMFORGE_CACHE_DIR=str(tmp_path))
    out = subprocess.run([sys.executable, "-c", _PEAK_SCRIPT.format(tier=tier, wat=wat)], env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.split("\n")
    for line in lines[:3]:
        name, extra_mib = line.split()
        assert int(extra_mib) < 64, out.stdout
    assert lines[3] == "bytes ab01ab ab02ab ab03ab abab abab", out.stdout


def test_api_read_copies_once():
    store = Store(Engine())
    mem = Memory(store, MemoryType(Limits(512)))
    mem.write(store, b"\x07", 32 * 1024 * 1024 - 1)
    tracemalloc.start()
    try:
        got = mem.read(store, 0, 32 * 1024 * 1024)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(got) == 32 << 20 and got[-1] == 7 and got[0] == 0
    # The result itself, and no second copy of it (the old code sliced the mmap first: 64 MiB).
    assert peak < 33 << 20
