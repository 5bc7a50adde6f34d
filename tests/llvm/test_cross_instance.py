"""Native calls from one llvm instance into another's functions (llvm/instance.py
``NativeInstance._link``, ``vm[IMPORTS]``): an import that is a defined function of another
llvm instance of the same store is called from native code without Python once its first
call has linked it.  Results, traps, host exceptions, fuel, the wasm stack budget, epoch
interruption and backtraces are what they are on the interp tier (where every call goes
through Python), in every kind of code the tier makes: O2, LLVM's baseline, quick code,
and lazily compiled batches of either."""

from __future__ import annotations

import gc
import os
import signal
import subprocess
import sys
import threading
import weakref

import pytest

from wasmforge import (Config, Engine, FuncType, Linker, Module, Store, Trap, ValType,
                       wat2wasm)
from wasmforge.errors import TrapCode
from wasmforge.llvm import instance as llvm_instance
from wasmforge.llvm import loader
from wasmforge.llvm.quick.assemble import cpu_supported
from wasmforge.runtime.metering import frame_bytes

LIB = r"""(module $lib
  (import "host" "twice" (func $twice (param i32) (result i32)))
  (import "host" "looping" (func $looping))
  (type $t (func (param i32) (result i32)))
  (memory (export "mem") 1)
  (table (export "t") 1 funcref)
  (global $g (mut i32) (i32.const 0))
  (func $add (export "add") (param i32 i32) (result i32) (i32.add (local.get 0) (local.get 1)))
  (func $div (export "div") (param i32) (result i32) (i32.div_u (i32.const 1000) (local.get 0)))
  (func $inner (param i32) (result i32) (i32.load (local.get 0)))
  (func $peek (export "peek") (param i32) (result i32)
    (i32.add (i32.const 1) (call $inner (local.get 0))))
  (func (export "bump") (result i32)
    (global.set $g (i32.add (global.get $g) (i32.const 1))) (global.get $g))
  (func (export "poke") (param i32 i32) (i32.store (local.get 0) (local.get 1)))
  (func (export "load") (param i32) (result i32) (i32.load (local.get 0)))
  (func (export "spin") (param i32) (result i32)
    (loop $l
      (local.set 0 (i32.sub (local.get 0) (i32.const 1)))
      (br_if $l (i32.gt_s (local.get 0) (i32.const 0))))
    (local.get 0))
  (func (export "forever") (call $looping) (loop $l (br $l)))
  (func (export "host") (param i32) (result i32) (call $twice (local.get 0)))
  (func $deep (export "deep") (param i32) (result i32)
    (if (result i32) (i32.eqz (local.get 0)) (then (i32.const 0))
      (else (i32.add (i32.const 1) (call $deep (i32.sub (local.get 0) (i32.const 1)))))))
  (func (export "three") (param i32 f32 f64) (result i32 i64 f64)
    (i32.mul (local.get 0) (i32.const 3))
    (i64.extend_i32_s (i32.trunc_f32_s (local.get 1)))
    (f64.mul (local.get 2) (f64.const 0.5)))
  (func $g (export "g") (param i32) (result i32)
    (if (result i32) (i32.eqz (local.get 0)) (then (i32.const 0))
      (else (i32.add (i32.const 1)
        (call_indirect (type $t) (i32.sub (local.get 0) (i32.const 1)) (i32.const 0)))))))"""

MAIN = r"""(module $main
  (import "lib" "add" (func $add (param i32 i32) (result i32)))
  (import "lib" "div" (func $div (param i32) (result i32)))
  (import "lib" "peek" (func $peek (param i32) (result i32)))
  (import "lib" "bump" (func $bump (result i32)))
  (import "lib" "poke" (func $poke (param i32 i32)))
  (import "lib" "load" (func $load (param i32) (result i32)))
  (import "lib" "spin" (func $spin (param i32) (result i32)))
  (import "lib" "forever" (func $forever))
  (import "lib" "host" (func $host (param i32) (result i32)))
  (import "lib" "deep" (func $deep (param i32) (result i32)))
  (import "lib" "three" (func $three (param i32 f32 f64) (result i32 i64 f64)))
  (import "lib" "g" (func $g (param i32) (result i32)))
  (import "lib" "t" (table 1 funcref))
  (memory (export "mem") 1)
  (elem (i32.const 0) $f)
  (func (export "sum") (param i32) (result i32) (local i32)
    (block $b (loop $l
      (br_if $b (i32.eqz (local.get 0)))
      (local.set 1 (call $add (local.get 1) (local.get 0)))
      (local.set 0 (i32.sub (local.get 0) (i32.const 1)))
      (br $l)))
    (local.get 1))
  (func (export "div") (param i32) (result i32) (i32.add (i32.const 1) (call $div (local.get 0))))
  (func (export "peek") (param i32) (result i32) (call $peek (local.get 0)))
  (func (export "bump") (result i32) (drop (call $bump)) (call $bump))
  (func (export "poke") (param i32 i32) (result i32)
    (call $poke (local.get 0) (local.get 1))
    (i32.store (local.get 0) (i32.const 7))
    (call $load (local.get 0)))
  (func (export "spin") (param i32) (result i32) (call $spin (local.get 0)))
  (func (export "forever") (call $forever))
  (func (export "host") (param i32) (result i32)
    (i32.add (call $host (local.get 0)) (call $host (i32.const 1))))
  (func (export "deep") (param i32) (result i32) (call $deep (local.get 0)))
  (func (export "three") (param i32 f32 f64) (result i32 i64 f64)
    (call $three (local.get 0) (local.get 1) (local.get 2)))
  (func $f (export "f") (param i32) (result i32)
    (if (result i32) (i32.eqz (local.get 0)) (then (i32.const 0))
      (else (i32.add (i32.const 1) (call $g (i32.sub (local.get 0) (i32.const 1))))))))"""

# Re-exports lib's add: an importer of mid's "add" calls lib's code with lib's vmctx.
MID = r"""(module $mid
  (import "lib" "add" (func $add (param i32 i32) (result i32)))
  (export "add" (func $add)))"""

VIA_MID = r"""(module $via
  (import "mid" "add" (func $add (param i32 i32) (result i32)))
  (func (export "sum") (param i32) (result i32) (local i32)
    (block $b (loop $l
      (br_if $b (i32.eqz (local.get 0)))
      (local.set 1 (call $add (local.get 1) (local.get 0)))
      (local.set 0 (i32.sub (local.get 0) (i32.const 1)))
      (br $l)))
    (local.get 1)))"""

_quick = loader.supported() and cpu_supported()

# How the llvm tier compiles (the environment the module cache reads): O2 at once, LLVM's
# baseline code, quick code, lazily compiled batches of quick or LLVM baseline code.
MODES = {
    "o2": {"WASMFORGE_LLVM_BASELINE": "0", "WASMFORGE_LLVM_LAZY": "0"},
    "baseline": {"WASMFORGE_LLVM_BASELINE": "1", "WASMFORGE_LLVM_QUICK": "0", "WASMFORGE_LLVM_LAZY": "0"},
    "quick": {"WASMFORGE_LLVM_BASELINE": "1", "WASMFORGE_LLVM_QUICK": "1", "WASMFORGE_LLVM_LAZY": "0"},
    "lazy": {"WASMFORGE_LLVM_LAZY": "1", "WASMFORGE_LLVM_QUICK": "1", "WASMFORGE_LLVM_LAZY_TIERUP": "0"},
    "lazy-llvm": {"WASMFORGE_LLVM_LAZY": "1", "WASMFORGE_LLVM_QUICK": "0",
                  "WASMFORGE_LLVM_LAZY_TIERUP": "0"},
}
_ENV = ("WASMFORGE_LLVM_BASELINE", "WASMFORGE_LLVM_QUICK", "WASMFORGE_LLVM_LAZY",
        "WASMFORGE_LLVM_LAZY_TIERUP")
_BINARIES = {name: wat2wasm(text) for name, text in
             (("lib", LIB), ("main", MAIN), ("mid", MID), ("via", VIA_MID))}


@pytest.fixture(params=list(MODES))
def mode(request, tmp_path_factory, monkeypatch):
    if request.param in ("quick", "lazy") and not _quick:
        pytest.skip("the quick compiler needs Linux x86-64 with SSE4.1/lzcnt")
    # One cache folder per mode for the whole file: each module compiles once per mode.
    folder = tmp_path_factory.getbasetemp() / f"xcall-{request.param}"
    folder.mkdir(exist_ok=True)
    monkeypatch.setenv("WASMFORGE_CACHE_DIR", str(folder))
    for name in _ENV:
        monkeypatch.delenv(name, raising=False)
    for name, value in MODES[request.param].items():
        monkeypatch.setenv(name, value)
    return request.param


def unmetered_twin(mode: str) -> None:
    """The quick compiler refuses fuel and epochs: in those modes the code is what
    ``baseline`` and ``lazy-llvm`` make, tested there."""
    if mode in ("quick", "lazy"):
        pytest.skip("quick code has no fuel or epochs: LLVM's code, as in baseline/lazy-llvm")


class Boom(Exception):
    pass


def _twice(x: int) -> int:
    if x < 0:
        raise Boom(x)
    if x == 13:
        raise Trap("unlucky")
    return 2 * x


def setup(tier: str, fuel: bool = False, epoch: bool = False, max_wasm_stack: int | None = None):
    """(engine, store, main's exports, via's exports, lib's and main's instances) of the
    modules on ``tier``, linked by a Linker as wasmtime-py users chain modules."""
    config = Config()
    config.strategy = tier
    config.consume_fuel = fuel
    config.epoch_interruption = epoch
    if max_wasm_stack is not None:
        config.max_wasm_stack = max_wasm_stack
    engine = Engine(config)
    store = Store(engine)
    if fuel:
        store.set_fuel(10 ** 9)
    if epoch:
        store.set_epoch_deadline(1 << 40)
    linker = Linker(engine)
    linker.define_func("host", "twice", FuncType([ValType.i32()], [ValType.i32()]), _twice)
    # lib's forever calls it as it starts its loop: another thread advances the epoch soon
    # after, while the loop runs (not while main's code or lib's is still being compiled).
    linker.define_func("host", "looping", FuncType([], []),
                       lambda: threading.Timer(0.05, engine.increment_epoch).start())
    source = _BINARIES if tier == "llvm" else {"lib": LIB, "main": MAIN, "mid": MID, "via": VIA_MID}
    lib = linker.instantiate(store, Module(engine, source["lib"]))
    linker.define_instance(store, "lib", lib)
    main = linker.instantiate(store, Module(engine, source["main"]))
    mid = linker.instantiate(store, Module(engine, source["mid"]))
    linker.define_instance(store, "mid", mid)
    via = linker.instantiate(store, Module(engine, source["via"]))
    return engine, store, main.exports(store), via.exports(store), lib, main


@pytest.fixture
def through_python(monkeypatch):
    """The calls native code makes through the callback to a function (counted)."""
    counts = {"n": 0}
    invoke = llvm_instance.NativeInstance._invoke

    def counted(self, f, io, first):
        counts["n"] += 1
        return invoke(self, f, io, first)
    monkeypatch.setattr(llvm_instance.NativeInstance, "_invoke", counted)
    return counts


def test_calls_into_another_instance_run_natively_after_the_first(mode, through_python):
    _, store, ex, via, _, _ = setup("llvm")
    assert ex["sum"](store, 1000) == 500500
    # The first call linked the import (in the callback) and was then made natively, as
    # the 999 others (through Python, each took 5-8 µs).
    assert through_python["n"] == 0
    assert ex["sum"](store, 10) == 55
    # Re-exported through a third instance: the importer calls lib's code directly.
    assert via["sum"](store, 100) == 5050
    assert through_python["n"] == 0


def test_host_functions_are_still_called_through_python(mode, through_python):
    _, store, ex, _, _, _ = setup("llvm")
    assert ex["host"](store, 5) == 12
    assert ex["host"](store, 6) == 14
    # main -> lib is linked at its first call, lib -> host never is.
    assert through_python["n"] == 4


@pytest.mark.parametrize("tier", ["interp", "llvm"])
def test_results_memories_and_globals_are_the_callees(mode, tier):
    _, store, ex, _, lib, main = setup(tier)
    for _ in range(3):
        assert ex["div"](store, 7) == 1 + 1000 // 7
    assert ex["three"](store, 5, 2.75, 3.0) == [15, 2, 1.5]
    assert ex["three"](store, -4, -9.5, -1.0) == [-12, -9, -0.5]
    assert ex["bump"](store) == 2
    assert ex["bump"](store) == 4
    # poke stores 9 into lib's memory, main stores 7 into its own, load reads lib's.
    assert ex["poke"](store, 64, 9) == 9
    assert ex["poke"](store, 64, 11) == 11
    assert lib.exports(store)["mem"].read(store, 64, 65) == b"\x0b"
    assert main.exports(store)["mem"].read(store, 64, 65) == b"\x07"


def _trap(f, store, *args):
    with pytest.raises(Trap) as info:
        f(store, *args)
    return info.value


def _frames(trap):
    return [(fr.func_index, fr.func_name, fr.module_name, fr.func_offset, fr.module_offset)
            for fr in trap.frames]


def test_traps_in_the_callee_name_both_instances_frames(mode):
    results = {}
    for tier in ("interp", "llvm"):
        _, store, ex, _, _, _ = setup(tier)
        ex["div"](store, 3)
        ex["peek"](store, 0)
        # Twice: the first call links, the second is native.
        traps = [_trap(ex["div"], store, 0) for _ in range(2)]
        traps += [_trap(ex["peek"], store, 70000) for _ in range(2)]
        assert ex["div"](store, 4) == 251        # the store is usable afterwards
        results[tier] = [(t.code, t.message, _frames(t)) for t in traps]
    llvm, interp = results["llvm"], results["interp"]
    assert llvm == interp
    assert llvm[0][0] is TrapCode.INTEGER_DIVISION_BY_ZERO
    assert [(f[1], f[2]) for f in llvm[2][2]] == [("inner", "lib"), ("peek", "lib"), (None, "main")]
    assert llvm[0] == llvm[1] and llvm[2] == llvm[3]


def test_host_exceptions_cross_both_instances_unchanged(mode):
    _, store, ex, _, _, _ = setup("llvm")
    assert ex["host"](store, 2) == 6
    for _ in range(2):
        with pytest.raises(Boom) as info:
            ex["host"](store, -3)
        assert info.value.args == (-3,)
    trap = _trap(ex["host"], store, 13)
    assert trap.message == "unlucky"
    assert [(f.func_name, f.module_name) for f in trap.frames] == [(None, "lib"), (None, "main")]
    assert ex["host"](store, 4) == 10


@pytest.mark.parametrize("fuel", [10 ** 9, 2 ** 64 - 1])
def test_fuel_is_consumed_as_on_the_interp_tier(mode, fuel):
    unmetered_twin(mode)
    left = {}
    for tier in ("interp", "llvm"):
        _, store, ex, _, _, _ = setup(tier, fuel=True)
        store.set_fuel(fuel)
        ex["sum"](store, 200)
        ex["spin"](store, 50)
        # lib calls a host function: its callback adds the fuel the caller's entry set
        # aside (above 2^63 - 1), the store's and not lib's own.
        ex["host"](store, 3)
        left[tier] = fuel - store.get_fuel()
    assert left["llvm"] == left["interp"] > 0


def test_running_out_of_fuel_in_the_callee(mode):
    unmetered_twin(mode)
    out = {}
    for tier in ("interp", "llvm"):
        _, store, ex, _, _, _ = setup(tier, fuel=True)
        ex["spin"](store, 1)
        store.set_fuel(500)
        trap = _trap(ex["spin"], store, 10 ** 6)
        out[tier] = (trap.code, [(f.func_name, f.module_name) for f in trap.frames], store.get_fuel())
        store.set_fuel(10 ** 6)
        assert ex["sum"](store, 10) == 55
    assert out["llvm"] == out["interp"]
    assert out["llvm"][0] is TrapCode.OUT_OF_FUEL


def test_the_stack_budget_counts_both_instances_frames(mode):
    frames = 60
    for tier in ("interp", "llvm"):
        _, store, ex, _, _, _ = setup(tier, max_wasm_stack=frame_bytes(1) * frames)
        # main's frame, then deep(n) uses n + 1 frames of lib.
        assert ex["deep"](store, 10) == 10
        assert ex["deep"](store, frames - 2) == frames - 2
        trap = _trap(ex["deep"], store, frames - 1)
        assert trap.code is TrapCode.STACK_OVERFLOW, tier
        assert ex["deep"](store, 5) == 5


def test_mutual_recursion_across_two_instances(mode, through_python):
    # main's f calls lib's g through its import (native once linked), g calls f back
    # through lib's table (another instance's function: through Python).
    frames = 41
    for tier in ("interp", "llvm"):
        _, store, ex, _, _, _ = setup(tier, max_wasm_stack=frame_bytes(1) * frames)
        assert ex["f"](store, 0) == 0
        assert ex["f"](store, frames - 1) == frames - 1
        trap = _trap(ex["f"], store, frames)
        assert trap.code is TrapCode.STACK_OVERFLOW, tier
        assert ex["f"](store, 11) == 11
    # f -> g is native: only the table's calls g -> f went through Python.
    assert through_python["n"] == (frames - 1) // 2 + frames // 2 + 11 // 2


def test_epoch_interruption_stops_the_callee(mode):
    unmetered_twin(mode)
    out = {}
    for tier in ("interp", "llvm"):
        engine, store, ex, _, _, _ = setup(tier, epoch=True)
        store.set_epoch_deadline(1)
        assert ex["spin"](store, 3) == 0
        trap = _trap(ex["forever"], store)
        out[tier] = (trap.code, [(f.func_name, f.module_name) for f in trap.frames])
    assert out["llvm"] == out["interp"]
    assert out["llvm"] == (TrapCode.INTERRUPT, [(None, "lib"), (None, "main")])


def test_a_callee_compiled_lazily_is_compiled_by_its_first_call(monkeypatch, tmp_path, through_python):
    monkeypatch.setenv("WASMFORGE_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("WASMFORGE_LLVM_LAZY", "1")
    monkeypatch.setenv("WASMFORGE_LLVM_LAZY_TIERUP", "0")
    _, store, ex, _, lib, _ = setup("llvm")
    compiled = llvm_instance.native_of(lib._inst).compiled
    assert compiled.lazy and not any(compiled.func_addrs)
    # main was linked (instantiated) before any of lib's code existed.
    assert ex["sum"](store, 100) == 5050
    assert through_python["n"] == 0
    assert any(compiled.func_addrs)


def test_a_store_whose_instances_call_each_other_is_freed(mode):
    _, store, ex, via, lib, main = setup("llvm")
    assert ex["sum"](store, 10) == 55 and ex["host"](store, 1) == 4 and via["sum"](store, 3) == 6
    gone = weakref.ref(store)
    del store, ex, via, lib, main
    gc.collect()
    # (what the llvm tier keeps per store must not keep it alive)
    assert gone() is None


def test_a_served_requests_instances_are_freed(tmp_path, monkeypatch):
    # wasmforge serve makes a store per request; tiny.wasm's main module calls its shim's
    # functions through imports, linked natively.  The store's list of linked callees'
    # registries once held them (and through them the store): every request leaked.
    from wasmforge.serve import ProxyApp
    from serve.test_ops import TINY, call, record_stores
    monkeypatch.setenv("WASMFORGE_CACHE_DIR", str(tmp_path))
    linked = []
    link = llvm_instance.NativeInstance._link
    monkeypatch.setattr(llvm_instance.NativeInstance, "_link",
                        lambda self, i, f: linked.append(link(self, i, f)) or linked[-1])
    config = Config()
    config.strategy = "llvm"
    app = ProxyApp(str(TINY), engine=Engine(config), max_workers=1)
    stores = record_stores(app)
    try:
        for k in range(3):
            assert call(app, "GET", f"/n{k}")[::2] == (200, f"tiny-v1 /n{k}".encode())
    finally:
        app.close()
    assert any(linked) and len(stores) == 3
    gc.collect()
    assert [r for r in stores if r() is not None] == []


# lib grows its memory and writes its table (both main's imports) when main calls it, and
# calls a host function that calls main back (its down(1000) traps).
SHARED_LIB = r"""(module $lib
  (import "host" "back" (func $back (param i32) (result i32)))
  (memory (export "mem") 1)
  (table (export "t") 2 funcref)
  (func $seven (result i32) (i32.const 7))
  (elem declare func $seven)
  (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
  (func (export "set") (table.set (i32.const 1) (ref.func $seven)))
  (func (export "tgrow") (result i32) (table.grow (ref.null func) (i32.const 5)))
  (func (export "down") (param i32) (result i32)
    (if (result i32) (i32.eq (local.get 0) (i32.const 1000)) (then (unreachable))
      (else (call $back (local.get 0))))))"""

SHARED_MAIN = r"""(module $main
  (import "lib" "grow" (func $grow (param i32) (result i32)))
  (import "lib" "set" (func $set))
  (import "lib" "tgrow" (func $tgrow (result i32)))
  (import "lib" "down" (func $down (param i32) (result i32)))
  (import "lib" "mem" (memory 1))
  (import "lib" "t" (table 2 funcref))
  (type $r (func (result i32)))
  (func (export "grow") (param i32) (result i32) (local i32)
    ;; a page per iteration, each time storing the old size at the new end
    (block $b (loop $l
      (br_if $b (i32.eqz (local.get 0)))
      (local.set 1 (call $grow (i32.const 1)))
      (i32.store (i32.sub (i32.mul (memory.size) (i32.const 65536)) (i32.const 4)) (local.get 1))
      (local.set 0 (i32.sub (local.get 0) (i32.const 1)))
      (br $l)))
    (i32.add (i32.mul (memory.size) (i32.const 1000))
      (i32.load (i32.sub (i32.mul (memory.size) (i32.const 65536)) (i32.const 4)))))
  (func (export "set") (result i32) (call $set) (call_indirect (type $r) (i32.const 1)))
  (func (export "tgrow") (result i32) (drop (call $tgrow)) (table.size))
  (func $rec (export "rec") (param i32) (result i32)
    (if (result i32) (i32.eqz (local.get 0)) (then (i32.const 100))
      (else (i32.add (i32.const 1) (call $down (i32.sub (local.get 0) (i32.const 1))))))))"""


def _shared(tier: str, max_wasm_stack: int | None = None):
    config = Config()
    config.strategy = tier
    if max_wasm_stack is not None:
        config.max_wasm_stack = max_wasm_stack
    engine = Engine(config)
    store = Store(engine)
    linker = Linker(engine)
    back: list = []
    linker.define_func("host", "back", FuncType([ValType.i32()], [ValType.i32()]),
                       lambda x: back[0](store, x))
    lib = linker.instantiate(store, Module(engine, SHARED_LIB))
    linker.define_instance(store, "lib", lib)
    ex = linker.instantiate(store, Module(engine, SHARED_MAIN)).exports(store)
    back.append(ex["rec"])
    return store, ex


def test_the_callees_memory_growth_and_table_writes_are_seen_by_the_caller(mode, through_python):
    out = {}
    for tier in ("interp", "llvm"):
        store, ex = _shared(tier)
        out[tier] = [ex["grow"](store, 3), ex["grow"](store, 2), ex["set"](store),
                     ex["tgrow"](store), ex["tgrow"](store)]
    assert out["llvm"] == out["interp"] == [4003, 6005, 7, 7, 12]
    # Only main's call_indirect of lib's function went through Python.
    assert through_python["n"] == 1


def test_a_host_function_of_the_callee_may_call_the_caller_back(mode, through_python):
    # main.rec -> lib.down (native) -> host -> main.rec (a Python entry) -> ...; lib traps
    # at the bottom, under all of them, or the stack budget runs out across them.
    out = {}
    for tier in ("interp", "llvm"):
        store, ex = _shared(tier, max_wasm_stack=frame_bytes(1) * 41)
        results = [ex["rec"](store, 6)]
        for n in (1003, 40):
            trap = _trap(ex["rec"], store, n)
            results.append((trap.code, [(f.func_name, f.module_name) for f in trap.frames]))
        results.append(ex["rec"](store, 4))
        out[tier] = results
    assert out["llvm"] == out["interp"]
    assert out["llvm"][0] == 106 and out["llvm"][3] == 104
    assert out["llvm"][1] == (TrapCode.UNREACHABLE, [(None, "lib")] + [("rec", "main"), (None, "lib")] * 2
                              + [("rec", "main")])
    assert out["llvm"][2][0] is TrapCode.STACK_OVERFLOW
    # Only the host calls went through Python: 6 + 2 + (up to the overflow) + 4.
    assert 12 < through_python["n"] < 12 + 40


HOLD_LIB = r"""(module $lib
  (import "host" "make" (func $make (result externref)))
  (func (export "hold") (result i32) (ref.is_null (call $make))))"""

HOLD_MAIN = r"""(module $main
  (import "lib" "hold" (func $hold (result i32)))
  (func (export "run") (result i32) (call $hold)))"""


def test_a_host_object_the_callee_received_is_not_kept_after_the_call(mode):
    # lib's callback gives the host's object a handle in lib's registry; the entry into
    # main drops it on its way out, also on the call that linked lib's function (lib's
    # registry was not among those the entry noted when it began).
    config = Config()
    config.strategy = "llvm"
    engine = Engine(config)
    store = Store(engine)
    linker = Linker(engine)
    made = []

    def make():
        obj = Boom()
        made.append(weakref.ref(obj))
        return obj
    linker.define_func("host", "make", FuncType([], [ValType.externref()]), make)
    linker.define_instance(store, "lib", linker.instantiate(store, Module(engine, HOLD_LIB)))
    ex = linker.instantiate(store, Module(engine, HOLD_MAIN)).exports(store)
    for _ in range(3):
        assert ex["run"](store) == 0
    gc.collect()
    assert [r() for r in made] == [None] * 3


CTRL_C = """
import wasmforge as wf
config = wf.Config(); config.strategy = "llvm"
engine = wf.Engine(config); store = wf.Store(engine); linker = wf.Linker(engine)
linker.define_func("h", "ready", wf.FuncType([], []), lambda: print("ready", flush=True))
lib = linker.instantiate(store, wf.Module(engine, wf.wat2wasm(
    '(module (func (export "add") (param i32 i32) (result i32) (i32.add (local.get 0) (local.get 1))))')))
linker.define_instance(store, "lib", lib)
ex = linker.instantiate(store, wf.Module(engine, wf.wat2wasm('''(module
  (import "h" "ready" (func $ready))
  (import "lib" "add" (func $add (param i32 i32) (result i32)))
  (func (export "spin") (local i32)
    (call $ready)
    (loop $l
      (local.set 0 (call $add (call $add (local.get 0) (i32.const 1)) (i32.const 2)))
      (br $l))))'''))).exports(store)
try:
    ex["spin"](store)
except KeyboardInterrupt:
    print("interrupted", flush=True)
"""


@pytest.mark.skipif(not hasattr(signal, "SIGINT") or os.name != "posix", reason="POSIX signals")
@pytest.mark.parametrize("name", ["o2", "quick"])
def test_ctrl_c_stops_a_loop_calling_another_instance(name, tmp_path):
    # The callee's entry trampoline used to clear the interrupt cell: entered natively in a
    # loop, it cleared a SIGINT that had arrived in the caller's code, and the loop ran on.
    if name == "quick" and not _quick:
        pytest.skip("the quick compiler needs Linux x86-64 with SSE4.1/lzcnt")
    env = dict(os.environ, WASMFORGE_CACHE_DIR=str(tmp_path), **MODES[name])
    proc = subprocess.Popen([sys.executable, "-c", CTRL_C], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        assert proc.stdout.readline().strip() == "ready", proc.stderr.read()[-2000:]
        threading.Event().wait(0.2)             # well into the loop
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert out.split() == ["interrupted"], err[-2000:]
