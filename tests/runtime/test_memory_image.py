"""Memory images (runtime/memory.py ``MemoryImage``): from a module's second instance on, a
memory whose data segments hold 64 KiB or more starts as a private copy-on-write mapping of
one prepared image instead of a copy of the segments.  Each instance still sees exactly the
segments' bytes, zeros elsewhere, and its own writes only."""

from __future__ import annotations

import sys

import pytest

from wasmforge import Config, Engine, Linker, Module, Store

from support import tier_params

PAYLOAD = bytes((i * 7 + (i >> 8)) & 0xFF for i in range(100_000))
WAT = ('(module (memory (export "m") 3) (data (i32.const 4096) "%s") (data (i32.const 180000) "end")'
       ' (func (export "poke") (param i32 i32) (i32.store8 (local.get 0) (local.get 1)))'
       ' (func (export "peek") (param i32) (result i32) (i32.load8_u (local.get 0))))'
       % "".join("\\%02x" % b for b in PAYLOAD))


def _images_mapped() -> int:
    with open("/proc/self/maps") as f:
        return f.read().count("wasmforge-memory-image")


@pytest.mark.parametrize("tier", tier_params())
def test_each_instance_starts_from_the_segments_and_writes_its_own_copy(tier):
    config = Config()
    config.strategy = tier
    engine = Engine(config)
    module = Module(engine, WAT)
    made = []
    for k in range(4):
        store = Store(engine)
        ex = Linker(engine).instantiate(store, module).exports(store)
        mem = ex["m"]
        assert mem.read(store, 4096, 4096 + len(PAYLOAD)) == PAYLOAD, k
        assert mem.read(store, 180000, 180003) == b"end"
        assert mem.read(store, 0, 4096) == bytes(4096) and ex["peek"](store, 190000) == 0
        ex["poke"](store, 4100, 99)         # in the image: this instance's page only
        ex["poke"](store, 10, 5)            # before it
        mem.write(store, b"xyz", 150000)    # past it, through the API
        assert ex["peek"](store, 4100) == 99 and ex["peek"](store, 10) == 5
        made.append((store, ex))
    for store, ex in made:
        assert ex["peek"](store, 4100) == 99
        assert ex["m"].read(store, 4101, 4096 + len(PAYLOAD)) == PAYLOAD[5:]
    store = Store(engine)
    ex = Linker(engine).instantiate(store, module).exports(store)
    assert ex["peek"](store, 4100) == PAYLOAD[4] and ex["peek"](store, 10) == 0
    assert ex["m"].read(store, 150000, 150003) == bytes(3)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="memory images use memfd_create (Linux)")
def test_later_instances_map_the_image_instead_of_copying():
    engine = Engine()
    module = Module(engine, WAT)
    before = _images_mapped()
    stores = [Store(engine) for _ in range(3)]
    for store in stores:
        Linker(engine).instantiate(store, module)
    assert _images_mapped() - before == 2      # the first instance copied


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="memory images use memfd_create (Linux)")
@pytest.mark.parametrize("tier", tier_params())
def test_an_instance_copies_only_the_runs_of_memories_without_an_image(tier):
    # (multi-memory) memory 0 starts from an image from the second instance on; memory 1's
    # few bytes are copied, into it alone
    config = Config()
    config.strategy = tier
    engine = Engine(config)
    wat = WAT.replace('(memory (export "m") 3)', '(memory (export "m") 3) (memory (export "m1") 1)').replace(
        '(data (i32.const 180000) "end")', '(data (i32.const 180000) "end") (data (memory 1) (i32.const 9) "one")')
    module = Module(engine, wat)
    imaged = []
    for k in range(3):
        store = Store(engine)
        ex = Linker(engine).instantiate(store, module).exports(store)
        assert ex["m"].read(store, 4096, 4096 + len(PAYLOAD)) == PAYLOAD, k
        assert ex["m"].read(store, 0, 4096) == bytes(4096) and ex["m"].read(store, 9, 12) == bytes(3)
        assert ex["m1"].read(store, 8, 13) == b"\0one\0", k
        imaged.append([bool(mem.imaged) for mem in store._instances[0].mems])
    assert imaged == [[False, False], [True, False], [True, False]]
