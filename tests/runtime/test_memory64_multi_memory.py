"""memory64 and multi-memory through the public API, on both tiers, beside wasmtime-py where it
has the same call (the installed wasmtime is the oracle for shapes and results)."""

from __future__ import annotations

import pytest

import wasmforge as wf
from wasmforge.errors import LinkError, WasmError
from wasmforge.cli.inspect import features as used_features
from wasmforge.text import parse_module

from support import engine_for, tier_params

TIERS = tier_params()


def _instance(tier: str, wat: str):
    engine = engine_for(tier)
    store = wf.Store(engine)
    inst = wf.Instance(store, wf.Module(engine, wat), [])
    return store, inst.exports(store)


MULTI = """(module
  (memory $a (export "a") 1)
  (memory $b (export "b") 1 2)
  (data (memory $b) (i32.const 16) "\\2a")
  (func (export "load_b") (param i32) (result i32) (i32.load8_u $b (local.get 0)))
  (func (export "store_a") (param i32 i32) (i32.store $a (local.get 0) (local.get 1)))
  (func (export "store_b") (param i32 i32) (i32.store $b (local.get 0) (local.get 1)))
  (func (export "copy_a_to_b") (param i32 i32 i32)
    (memory.copy $b $a (local.get 0) (local.get 1) (local.get 2)))
  (func (export "fill_b") (param i32 i32 i32) (memory.fill $b (local.get 0) (local.get 1) (local.get 2)))
  (func (export "size_b") (result i32) (memory.size $b))
  (func (export "grow_b") (param i32) (result i32) (memory.grow $b (local.get 0))))"""


@pytest.mark.parametrize("tier", TIERS)
def test_each_memory_is_its_own(tier):
    store, ex = _instance(tier, MULTI)
    assert ex["load_b"](store, 16) == 42
    ex["store_a"](store, 16, 7)
    assert ex["load_b"](store, 16) == 42                 # memory a's write left b alone
    assert ex["a"].read(store, 16, 17) == b"\x07"
    ex["store_b"](store, 0, 0x01020304)
    assert ex["b"].read(store, 0, 4) == b"\x04\x03\x02\x01"
    assert ex["a"].read(store, 0, 4) == b"\x00" * 4


@pytest.mark.parametrize("tier", TIERS)
def test_bulk_instructions_name_their_memories(tier):
    store, ex = _instance(tier, MULTI)
    ex["a"].write(store, b"hello", 100)
    ex["copy_a_to_b"](store, 200, 100, 5)
    assert ex["b"].read(store, 200, 205) == b"hello"
    ex["fill_b"](store, 300, 0x41, 3)
    assert ex["b"].read(store, 300, 303) == b"AAA"
    with pytest.raises(wf.Trap):
        ex["copy_a_to_b"](store, 65535, 0, 2)           # out of b, which stays 1 page
    assert ex["size_b"](store) == 1
    assert ex["grow_b"](store, 1) == 1
    assert ex["grow_b"](store, 1) == -1                  # b's maximum is 2 pages
    assert ex["size_b"](store) == 2 and ex["a"].size(store) == 1


MEM64 = """(module
  (memory (export "m") i64 1 0x1_0000_0000)
  (func (export "load") (param i64) (result i64) (i64.load offset=0xFFFF_FFFF_FFFF_FFF0 (local.get 0)))
  (func (export "load8") (param i64) (result i32) (i32.load8_u (local.get 0)))
  (func (export "store8") (param i64 i32) (i32.store8 (local.get 0) (local.get 1)))
  (func (export "size") (result i64) (memory.size))
  (func (export "grow") (param i64) (result i64) (memory.grow (local.get 0))))"""


@pytest.mark.parametrize("tier", TIERS)
def test_memory64_addresses_are_i64_and_never_wrap(tier):
    store, ex = _instance(tier, MEM64)
    ex["store8"](store, 65535, 9)
    assert ex["load8"](store, 65535) == 9
    for address in (65536, 1 << 32, (1 << 64) - 1, -1):
        with pytest.raises(wf.Trap):
            ex["load8"](store, address)
    # address + offset is computed in more than 64 bits: 0x10 + 0xFFFF_FFFF_FFFF_FFF0 is 2^64,
    # not 0.
    with pytest.raises(wf.Trap):
        ex["load"](store, 0x10)


@pytest.mark.parametrize("tier", TIERS)
def test_memory64_grow_beyond_what_the_host_maps_fails_with_minus_one(tier):
    store, ex = _instance(tier, MEM64)
    assert ex["size"](store) == 1
    assert ex["grow"](store, 1 << 40) == -1              # declared maximum 2^32 pages: refused
    assert ex["grow"](store, (1 << 32) - 1) == -1        # allowed by the type, not reserved here
    assert ex["grow"](store, 3) == 1
    assert ex["size"](store) == 4
    mem = ex["m"]
    assert mem.type(store).is_64 and mem.size(store) == 4
    assert mem.type(store).limits.max == 1 << 32


def test_memory_type_matches_wasmtime():
    wasmtime = pytest.importorskip("wasmtime")
    for is_64 in (False, True):
        ours = wf.MemoryType(wf.Limits(1, 5), is_64=is_64)
        theirs = wasmtime.MemoryType(wasmtime.Limits(1, 5), is_64=is_64)
        assert (ours.is_64, ours.is_shared, ours.page_size, ours.page_size_log2) == \
            (theirs.is_64, theirs.is_shared, theirs.page_size, theirs.page_size_log2)


@pytest.mark.parametrize("tier", TIERS)
def test_host_memory64_sizes(tier):
    engine = engine_for(tier)
    store = wf.Store(engine)
    mem = wf.Memory(store, wf.MemoryType(wf.Limits(1, 1 << 40), is_64=True))
    assert mem.type(store).limits.max == 1 << 40 and mem.type(store).is_64
    assert mem.grow(store, 2) == 1 and mem.size(store) == 3
    with pytest.raises(WasmError):
        mem.grow(store, 1 << 40)
    with pytest.raises(WasmError):
        wf.Memory(store, wf.MemoryType(wf.Limits(1, 1 << 17)))          # 32-bit: 2^16 pages
    with pytest.raises(WasmError):
        wf.Memory(store, wf.MemoryType(wf.Limits(1, (1 << 48) + 1), is_64=True))


@pytest.mark.parametrize("tier", TIERS)
def test_a_64_bit_memory_does_not_match_a_32_bit_import(tier):
    engine = engine_for(tier)
    store = wf.Store(engine)
    mem = wf.Memory(store, wf.MemoryType(wf.Limits(1), is_64=True))
    with pytest.raises(LinkError, match="found memory i64 1"):
        wf.Instance(store, wf.Module(engine, '(module (import "a" "m" (memory 1)))'), [mem])
    wf.Instance(store, wf.Module(engine, '(module (import "a" "m" (memory i64 1)))'), [mem])


@pytest.mark.parametrize("tier", TIERS)
def test_table64_indexes(tier):
    store, ex = _instance(tier, """(module
      (table $t i64 2 funcref)
      (type $r (func (result i32)))
      (func $seven (result i32) (i32.const 7))
      (elem (table $t) (i64.const 1) func $seven)
      (func (export "call") (param i64) (result i32) (call_indirect $t (type $r) (local.get 0)))
      (func (export "size") (result i64) (table.size $t))
      (func (export "grow") (param i64) (result i64) (table.grow $t (ref.null func) (local.get 0))))""")
    assert ex["call"](store, 1) == 7
    with pytest.raises(wf.Trap):
        ex["call"](store, 1 << 32)
    assert ex["size"](store) == 2
    assert ex["grow"](store, 3) == 2 and ex["size"](store) == 5


def test_features_are_switches():
    config = wf.Config()
    config.wasm_multi_memory = False
    engine = wf.Engine(config)
    with pytest.raises(wf.WasmError, match="multiple memories: uses the multi-memory proposal"):
        wf.Module(engine, "(module (memory 1) (memory 1))")
    config = wf.Config()
    config.wasm_memory64 = False
    with pytest.raises(wf.WasmError, match="uses the memory64 proposal"):
        wf.Module(wf.Engine(config), "(module (memory i64 1))")


def test_inspect_lists_the_proposals():
    assert used_features(parse_module("(module (memory 1) (memory 1))")) == ["multi-memory"]
    assert used_features(parse_module("(module (memory i64 1))")) == ["memory64"]
    assert used_features(parse_module("(module (table i64 1 funcref))")) == ["memory64"]
    assert used_features(parse_module("(module (memory 1))")) == []


@pytest.mark.parametrize("tier", TIERS)
def test_table64_tail_call_to_a_host_function(tier):
    # return_call_indirect through a 64-bit table reaches a host function (the callback path).
    engine = engine_for(tier)
    store = wf.Store(engine)
    host = wf.Func(store, wf.FuncType([], [wf.ValType.i32()]), lambda: 9)
    inst = wf.Instance(store, wf.Module(engine, """(module
      (import "h" "f" (func $h (result i32)))
      (table $t i64 4 funcref)
      (type $r (func (result i32)))
      (func $seven (result i32) (i32.const 7))
      (elem (table $t) (i64.const 1) func $seven $h)
      (func (export "tc") (param i64) (result i32) (return_call_indirect $t (type $r) (local.get 0))))"""),
        [host])
    tc = inst.exports(store)["tc"]
    assert (tc(store, 1), tc(store, 2)) == (7, 9)
    with pytest.raises(wf.Trap):
        tc(store, 1 << 33)


ROUND_TRIP = '''(module
  (import "a" "m" (memory $im i64 1 5))
  (memory $a 1)
  (memory $b i64 2)
  (table $t i64 3 funcref)
  (data (memory $b) (i64.const 4) "xy")
  (data $p "pq")
  (func (param i64) (result i32)
    (memory.init $a $p (i32.const 0) (i32.const 0) (i32.const 1))
    (memory.copy $b $a (i64.const 0) (i32.const 0) (i32.const 1))
    (memory.fill $b (i64.const 0) (i32.const 0) (i64.const 1))
    (drop (memory.grow $b (i64.const 1)))
    (drop (memory.size $a))
    (v128.store16_lane $b offset=2 1 (i64.const 0) (v128.const i64x2 0 0))
    (i32.load16_u $b offset=0x1_0000_0000 align=1 (local.get 0))))'''


def test_text_and_binary_round_trip():
    from wasmforge.binary.decode import decode_module
    from wasmforge.binary.encode import encode_module
    from wasmforge.text.printer import print_module
    from wasmforge.valid.validate import validate
    m = parse_module(ROUND_TRIP)
    validate(m)
    text = print_module(m)
    assert "memory.copy $b $a" in text and "i32.load16_u $b offset=4294967296 align=1" in text
    assert parse_module(text) == m
    assert decode_module(encode_module(m)) == m


@pytest.mark.parametrize("tier", TIERS)
def test_a_64_bit_memory_the_host_cannot_map_is_a_typed_error(tier):
    # 2^32 pages = 256 TiB: more than the address space; refused at instantiation, no crash.
    engine = engine_for(tier)
    store = wf.Store(engine)
    with pytest.raises(WasmError, match="cannot reserve"):
        wf.Instance(store, wf.Module(engine, "(module (memory i64 0x1_0000_0000))"), [])
