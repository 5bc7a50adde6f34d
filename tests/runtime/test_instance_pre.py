"""Linker.instantiate_pre: imports resolved and type-checked once, then cheap instantiations
that share nothing per instance (memories, tables, globals, segments), on both tiers."""

import pytest

from support import peek_linker, tier_params
from wasmforge import (Config, Engine, FuncType, Global, GlobalType, InstancePre, LinkError, Linker,
                       Module, Store, Trap, ValType, WasmError, WasmtimeError)
from wasmforge.runtime.instance import instance_plan

TIERS = tier_params()

# Every per-instance thing a module has: a memory with active and passive data, a table with
# an active and a passive element segment, mutable globals (one from an imported global), a
# start function that counts its runs through a host function and writes memory.
STATEFUL = """(module
  (import "host" "ran" (func $ran (param i32)))
  (import "host" "base" (global $base i32))
  (type $t (func (result i32)))
  (memory (export "mem") 1 4)
  (table (export "tab") 4 funcref)
  (global $g (export "g") (mut i32) (i32.const 5))
  (global $h (mut i32) (global.get $base))
  (data (i32.const 16) "hello")
  (data (i32.const 21) " world")
  (data $later "LATE")
  (elem (i32.const 0) $one $two)
  (elem $spare func $three)
  (func $one (result i32) (i32.const 1))
  (func $two (result i32) (i32.const 2))
  (func $three (result i32) (i32.const 3))
  (func $start
    (global.set $h (i32.add (global.get $h) (i32.const 1)))
    (i32.store8 (i32.const 100) (i32.add (i32.load8_u (i32.const 100)) (i32.const 1)))
    (call $ran (global.get $h)))
  (start $start)
  (func (export "call") (param i32) (result i32) (call_indirect (type $t) (local.get 0)))
  (func (export "h") (result i32) (global.get $h))
  (func (export "poke") (i32.store (i32.const 16) (i32.const 0x58585858)))
  (func (export "set_g") (param i32) (global.set $g (local.get 0)))
  (func (export "set_slot") (table.set (i32.const 3) (ref.func $one)))
  (func (export "late") (memory.init $later (i32.const 200) (i32.const 0) (i32.const 4)))
  (func (export "spare") (table.init $spare (i32.const 2) (i32.const 0) (i32.const 1))))"""


def _setup(tier):
    config = Config()
    config.strategy = tier
    engine = Engine(config)
    linker = Linker(engine)
    runs = []
    linker.define_func("host", "ran", FuncType([ValType.i32()], []), runs.append)
    return engine, linker, runs


def _base(engine, linker, store, value=40):
    linker.allow_shadowing = True
    linker.define(store, "host", "base", Global(store, GlobalType(ValType.i32(), False), value))


@pytest.mark.parametrize("tier", TIERS)
def test_instances_of_one_pre_share_no_state(tier):
    engine, linker, runs = _setup(tier)
    store = Store(engine)
    _base(engine, linker, store)
    pre = linker.instantiate_pre(Module(engine, STATEFUL))
    assert isinstance(pre, InstancePre)
    a = pre.instantiate(store)
    b = pre.instantiate(store)
    assert runs == [41, 41]                       # the start function ran once per instance
    ea, eb = a.exports(store), b.exports(store)
    ma, mb = ea["mem"], eb["mem"]
    assert ma.read(store, 16, 27) == b"hello world" == mb.read(store, 16, 27)
    assert ma.read(store, 100, 101) == b"\x01" == mb.read(store, 100, 101)
    ea["poke"](store)
    ea["set_g"](store, 99)
    ea["set_slot"](store)
    ea["late"](store)
    ea["spare"](store)
    assert ma.read(store, 16, 21) == b"XXXXo"
    assert ma.read(store, 200, 204) == b"LATE"
    assert ea["g"].value(store) == 99 and ea["call"](store, 3) == 1 and ea["call"](store, 2) == 3
    # b saw none of it, and a third instance starts from the module's segments again.
    c = pre.instantiate(store)
    for ex in (eb, c.exports(store)):
        assert ex["mem"].read(store, 16, 27) == b"hello world"
        assert ex["mem"].read(store, 200, 204) == b"\0\0\0\0"
        assert ex["g"].value(store) == 5
        assert ex["h"](store) == 41
        assert ex["call"](store, 0) == 1 and ex["call"](store, 1) == 2
        assert ex["tab"].get(store, 2) is None and ex["tab"].get(store, 3) is None
        with pytest.raises(Trap):
            ex["call"](store, 3)
        ex["late"](store)                         # the passive segment is whole in each
        assert ex["mem"].read(store, 200, 204) == b"LATE"
    assert runs == [41, 41, 41]


@pytest.mark.parametrize("tier", TIERS)
def test_a_pre_instantiates_in_many_stores(tier):
    engine, linker, runs = _setup(tier)
    module = Module(engine, STATEFUL)
    stores = [Store(engine) for _ in range(3)]
    for k, store in enumerate(stores):
        # A store-bound definition pins a pre to its store; make one per store.
        _base(engine, linker, store, 10 * k)
        pre = linker.instantiate_pre(module)
        inst = pre.instantiate(store)
        assert inst.exports(store)["h"](store) == 10 * k + 1
    assert runs == [1, 11, 21]
    with pytest.raises(WasmError, match="different store"):
        pre.instantiate(stores[0])


@pytest.mark.parametrize("tier", TIERS)
def test_the_pre_keeps_the_definitions_it_was_made_with(tier):
    engine, linker, runs = _setup(tier)
    store = Store(engine)
    _base(engine, linker, store)
    pre = linker.instantiate_pre(Module(engine, STATEFUL))
    later = []
    linker.define_func("host", "ran", FuncType([ValType.i32()], []), later.append)
    pre.instantiate(store)
    assert runs == [41] and later == []
    assert pre.module.exports[0].name == "mem"


@pytest.mark.parametrize("tier", TIERS)
def test_import_errors_are_found_by_instantiate_pre(tier):
    engine, linker, _ = _setup(tier)
    store = Store(engine)
    module = Module(engine, STATEFUL)
    # host::base is not defined yet.
    with pytest.raises(LinkError, match="unknown import.*host::base"):
        linker.instantiate_pre(module)
    # Defined with the wrong mutability, then the wrong value type.
    linker.allow_shadowing = True
    linker.define(store, "host", "base", Global(store, GlobalType(ValType.i32(), True), 1))
    with pytest.raises(LinkError, match="incompatible import type"):
        linker.instantiate_pre(module)
    linker.define(store, "host", "base", Global(store, GlobalType(ValType.i64(), False), 1))
    with pytest.raises(LinkError):
        linker.instantiate_pre(module)
    _base(engine, linker, store)
    # A host function of the wrong signature, and a host function where a global is expected.
    linker.define_func("host", "ran", FuncType([ValType.i64()], []), lambda x: None)
    with pytest.raises(LinkError, match="incompatible import type for `host::ran`"):
        linker.instantiate_pre(module)
    linker.define_func("host", "ran", FuncType([ValType.i32()], []), lambda x: None)
    linker.define_func("host", "base", FuncType([], [ValType.i32()]), lambda: 1)
    with pytest.raises(WasmtimeError, match="incompatible import type for `host::base`"):
        linker.instantiate_pre(module)
    with pytest.raises(TypeError):
        linker.instantiate_pre(b"\0asm")


@pytest.mark.parametrize("tier", TIERS)
def test_a_trap_during_instantiation_leaves_the_store_usable(tier):
    engine, linker, runs = _setup(tier)
    store = Store(engine)
    _base(engine, linker, store)
    bad_start = Module(engine, """(module
      (import "host" "ran" (func $ran (param i32)))
      (memory (export "mem") 1)
      (data (i32.const 0) "set")
      (func $s (call $ran (i32.const 7)) (unreachable))
      (start $s))""")
    # An active segment past the end of the memory (the step-by-step path: it must trap,
    # after the segment before it was written).
    bad_data = Module(engine, """(module
      (import "host" "mem" (memory 1))
      (data (i32.const 0) "kept")
      (data (i32.const 65534) "too long"))""")
    good = linker.instantiate_pre(Module(engine, STATEFUL))
    pre = linker.instantiate_pre(bad_start)
    for _ in range(2):
        with pytest.raises(Trap, match="unreachable"):
            pre.instantiate(store)
    assert runs == [7, 7]
    from wasmforge import Memory, MemoryType, Limits
    mem = Memory(store, MemoryType(Limits(1)))
    linker.define(store, "host", "mem", mem)
    with pytest.raises(Trap, match="out of bounds"):
        linker.instantiate_pre(bad_data).instantiate(store)
    assert mem.read(store, 0, 4) == b"kept"
    inst = good.instantiate(store)
    assert inst.exports(store)["call"](store, 1) == 2 and runs == [7, 7, 41]


@pytest.mark.parametrize("tier", TIERS)
def test_segments_that_overlap_or_touch_apply_in_order(tier):
    engine, linker, _ = _setup(tier)
    store = Store(engine)
    module = Module(engine, """(module
      (memory (export "mem") 1)
      (data (i32.const 4) "aaaa")
      (data (i32.const 8) "bb")
      (data (i32.const 6) "cc")
      (data (i32.const 65530) "endend"))""")
    plan = instance_plan(module._data)
    assert plan.data_runs is not None and len(plan.data_runs) == 3     # 4..10 merged, then 6, 65530
    pre = linker.instantiate_pre(module)
    for _ in range(2):
        mem = pre.instantiate(store).exports(store)["mem"]
        assert mem.read(store, 0, 12) == b"\0\0\0\0aaccbb\0\0"
        assert mem.read(store, 65530, 65536) == b"endend"
        mem.write(store, b"zzzzzzzz", 4)


@pytest.mark.parametrize("tier", TIERS)
def test_wasi_through_the_linker_uses_each_stores_context(tier):
    from wasmforge import WasiConfig
    config = Config()
    config.strategy = tier
    engine = Engine(config)
    linker = Linker(engine)
    linker.define_wasi()
    module = Module(engine, """(module
      (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
      (memory (export "memory") 1)
      (data (i32.const 8) "\\10\\00\\00\\00\\03\\00\\00\\00")
      (data (i32.const 16) "hi\\n")
      (func (export "_start") (drop (call $w (i32.const 1) (i32.const 8) (i32.const 1) (i32.const 0)))))""")
    pre = linker.instantiate_pre(module)
    outputs = []
    for k in range(3):
        out = []
        outputs.append(out)
        store = Store(engine)
        wasi = WasiConfig()
        wasi.stdout_callback = out.append
        store.set_wasi(wasi)
        inst = pre.instantiate(store)
        for _ in range(k + 1):
            inst.exports(store)["_start"](store)
    assert [b"".join(o) for o in outputs] == [b"hi\n", b"hi\nhi\n", b"hi\nhi\nhi\n"]


def test_engine_mismatch_is_refused():
    linker = Linker(Engine())
    with pytest.raises(WasmError, match="different Engine"):
        linker.instantiate_pre(Module(Engine(), "(module)"))
    pre = linker.instantiate_pre(Module(linker.engine, "(module)"))
    with pytest.raises(WasmError, match="different Engine"):
        pre.instantiate(Store(Engine()))


@pytest.mark.parametrize("tier", TIERS)
def test_backtraces_stay_right_in_stores_that_follow_dead_ones(tier):
    # The llvm tier hands the shadow stack of a dead store to the next one: a trap's frames
    # must be the trap's own, whichever store ran before.
    import gc
    engine, linker, _ = _setup(tier)
    pre = linker.instantiate_pre(Module(engine, """(module
      (func $deep (param i32) (if (local.get 0) (then (call $deep (i32.sub (local.get 0) (i32.const 1))))
                                              (else (unreachable))))
      (func (export "deep") (param i32) (call $deep (local.get 0)))
      (func (export "shallow") (unreachable)))"""))
    seen = []
    for depth in (40, 0, 3):
        for _ in range(3):
            store = Store(engine)
            ex = pre.instantiate(store).exports(store)
            with pytest.raises(Trap) as deep:
                ex["deep"](store, depth)
            with pytest.raises(Trap) as shallow:
                ex["shallow"](store)
            seen.append((len(deep.value.frames), len(shallow.value.frames)))
            del store, ex, deep, shallow
            gc.collect()
    assert seen == [(42, 1)] * 3 + [(2, 1)] * 3 + [(5, 1)] * 3


@pytest.mark.parametrize("tier", TIERS)
def test_a_caller_reaches_the_instance_that_called(tier):
    engine, linker, seen = peek_linker(tier)
    pre = linker.instantiate_pre(Module(engine, """(module
      (import "host" "peek" (func $peek))
      (memory (export "mem") 1)
      (func (export "run") (param i32) (i32.store8 (i32.const 0) (local.get 0)) (call $peek)))"""))
    store = Store(engine)
    a, b = pre.instantiate(store), pre.instantiate(store)
    a.exports(store)["run"](store, 1)
    b.exports(store)["run"](store, 2)
    a.exports(store)["run"](store, 3)
    other = Store(engine)
    pre.instantiate(other).exports(other)["run"](other, 4)
    assert seen == [b"\x01", b"\x02", b"\x03", b"\x04"]


@pytest.mark.parametrize("tier", TIERS)
def test_segments_that_depend_on_imports_take_the_step_by_step_path(tier):
    engine, linker, _ = _setup(tier)
    store = Store(engine)
    _base(engine, linker, store, 100)
    module = Module(engine, """(module
      (import "host" "base" (global $base i32))
      (type $t (func (result i32)))
      (memory (export "mem") 1)
      (table (export "tab") 128 funcref)
      (data (global.get $base) "at base")
      (elem (global.get $base) $f)
      (func $f (result i32) (i32.const 7))
      (func (export "call") (param i32) (result i32) (call_indirect (type $t) (local.get 0))))""")
    plan = instance_plan(module._data)
    assert plan.data_runs is None and plan.elem_runs is None
    pre = linker.instantiate_pre(module)
    ex = pre.instantiate(store).exports(store)
    assert ex["mem"].read(store, 100, 107) == b"at base"
    assert ex["call"](store, 100) == 7
    with pytest.raises(Trap):
        ex["call"](store, 5)
    other = Store(engine)
    _base(engine, linker, other, 5)
    ex = linker.instantiate_pre(module).instantiate(other).exports(other)
    assert ex["call"](other, 5) == 7 and ex["mem"].read(other, 5, 12) == b"at base"
