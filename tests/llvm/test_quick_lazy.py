"""Quick code for lazily compiled modules (llvm/compiler.py, llvm/quick/assemble.py): the
entries and each batch are images the quick compiler makes, calls from quick code compile
their callee's batch on first use, results, traps and backtraces are the interp tier's, and the
batches tier up to optimised code as LLVM's baseline batches do."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from wasmforge import Instance, Module, Store, Trap, wat2wasm
from wasmforge.llvm import compiler, loader
from wasmforge.llvm.quick.assemble import cpu_supported



def _sibling(name: str):
    """The test module ``name`` of this folder (its programs and helpers, not its tests)."""
    spec = importlib.util.spec_from_file_location(f"_quick_lazy_{name}", Path(__file__).with_name(f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


test_lazytier = _sibling("test_lazytier")
test_quick = _sibling("test_quick")

pytestmark = pytest.mark.skipif(not loader.supported() or not cpu_supported(),
                                reason="the quick compiler needs Linux x86-64 with SSE4.1/lzcnt")


@pytest.fixture
def lazy(tmp_path, monkeypatch):
    monkeypatch.setenv("WASMFORGE_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("WASMFORGE_LLVM_LAZY", "1")
    monkeypatch.setenv("WASMFORGE_LLVM_BASELINE", "1")
    monkeypatch.setenv("WASMFORGE_LLVM_QUICK", "1")
    return tmp_path


def batch_codes(code) -> list:
    """The code of each batch bound so far (the entries are not in code_images)."""
    return [obj for obj, _table in code.code_images]


@pytest.mark.parametrize("batch_bytes", [compiler.BATCH_CODE_BYTES, 1])
def test_quick_batches_behave_as_the_interp_tier(lazy, monkeypatch, batch_bytes):
    # batch_bytes=1: every function is a batch of its own, so each call between them goes
    # through a slot that is null until quick code's CB_COMPILE has its batch compiled.
    monkeypatch.setattr(compiler, "BATCH_CODE_BYTES", batch_bytes)
    expected, _ = test_quick.outcomes("interp")
    got, module = test_quick.outcomes("llvm")
    code = module._compiled()
    assert code.lazy and code._quick is not None
    codes = batch_codes(code)
    assert len(codes) > 1 and all(loader.is_image(obj) for obj in codes), "not quick batches"
    for want, have in zip(expected, got):
        assert have == want


CHAIN = """(module
  (func $leaf (param i32) (result i32)
    (if (i32.eqz (local.get 0)) (then unreachable))
    (i32.mul (local.get 0) (i32.const 3)))
  (func $mid (param i32) (result i32) (i32.add (call $leaf (local.get 0)) (i32.const 1)))
  (func (export "top") (param i32) (result i32) (call $mid (local.get 0))))"""


def chain_outcome(tier: str):
    eng = test_quick.engine(tier)
    module = Module(eng, wat2wasm(CHAIN))
    store = Store(eng)
    top = Instance(store, module, []).exports(store)["top"]
    with pytest.raises(Trap) as info:
        top(store, 0)
    frames = [(f.func_index, f.func_offset) for f in info.value.frames]
    return module, top(store, 5), info.value.message, frames


def test_a_call_from_quick_code_compiles_its_callees_batch_first(lazy, monkeypatch):
    monkeypatch.setattr(compiler, "BATCH_CODE_BYTES", 1)
    expected = chain_outcome("interp")[1:]
    module, *got = chain_outcome("llvm")
    assert tuple(got) == expected
    assert expected[0] == 16 and expected[1] == "unreachable" and len(expected[2]) == 3
    code = module._compiled()
    # top's batch was compiled by its entry; mid's and leaf's by the calls quick code made.
    assert len(batch_codes(code)) == 3 and all(code.func_addrs)
    assert all(loader.is_image(obj) for obj in batch_codes(code))


def test_a_batch_holding_a_function_quick_refuses_gets_llvm_baseline_code(lazy, monkeypatch):
    monkeypatch.setattr(compiler, "BATCH_CODE_BYTES", 1)
    wat = """(module
      (func $simd (param i32) (result i32)
        (i32x4.extract_lane 1 (i32x4.splat (i32.div_u (i32.const 10) (local.get 0)))))
      (func (export "f") (param i32) (result i32) (i32.add (call $simd (local.get 0)) (i32.const 1))))"""
    eng = test_quick.engine("llvm")
    module = Module(eng, wat)
    store = Store(eng)
    f = Instance(store, module, []).exports(store)["f"]
    assert f(store, 3) == 4
    with pytest.raises(Trap) as info:
        f(store, 0)
    assert info.value.message == "integer divide by zero"
    code = module._compiled()
    assert code._quick is not None
    kinds = sorted(loader.is_image(obj) for obj in batch_codes(code))
    assert kinds == [False, True]       # $simd: LLVM's baseline; f: quick code


def test_quick_batches_tier_up_to_optimised_code(monkeypatch, tmp_path):
    monkeypatch.setenv("WASMFORGE_LLVM_QUICK", "1")
    engine = test_lazytier._engine(monkeypatch, tmp_path)
    module, store, ex, expected, baseline = test_lazytier.cold_run_then_tier_up(engine)
    code = module._compiled()
    try:
        assert code._quick is not None
        quick_codes = [obj for obj in batch_codes(code) if loader.is_image(obj)]
        assert quick_codes
        assert code.lazy_tier.swapped >= 1
        compiled = [k for k, a in enumerate(baseline) if a]
        assert all(code.func_addrs[k] != baseline[k] for k in compiled)
        assert all(code.lazy_table[k] == code.func_addrs[k] for k in compiled)
        assert test_lazytier.run_all(store, ex) == expected
        assert test_lazytier.run_all(*test_lazytier.instance(engine, module)) == expected
    finally:
        code.lazy_tier.wait(180)


def test_fuel_metering_keeps_llvm_baseline_batches(lazy):
    # The quick compiler refuses the module as a whole: every batch is LLVM's.
    from wasmforge import Config, Engine
    config = Config()
    config.strategy = "llvm"
    config.consume_fuel = True
    eng = Engine(config)
    module = Module(eng, wat2wasm(CHAIN))
    store = Store(eng)
    store.set_fuel(10_000)
    assert Instance(store, module, []).exports(store)["top"](store, 5) == 16
    code = module._compiled()
    assert code._quick is None and not any(loader.is_image(o) for o in batch_codes(code))


def test_a_first_run_of_a_lazily_compiled_module_imports_no_llvmlite(tmp_path):
    # The entries and the batches are quick code: a first run (and the warm run after it)
    # never imports llvmlite (before, the entries alone were an LLVM compile).
    wasm = tmp_path / "exit.wasm"
    wasm.write_bytes(wat2wasm('''(module
      (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
      (func $code (result i32) (i32.const 7))
      (func (export "_start") (call $exit (call $code))))'''))
    env = dict(os.environ, WASMFORGE_CACHE_DIR=str(tmp_path / "cache"), WASMFORGE_LLVM_QUICK="1",
               WASMFORGE_LLVM_LAZY="1")
    for name in ("WASMFORGE_STRATEGY", "WASMFORGE_LLVM_BASELINE"):
        env.pop(name, None)
    cmd = [sys.executable, "-X", "importtime", "-m", "wasmforge", "run", str(wasm)]
    for _ in ("cold", "warm"):
        run = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
        assert run.returncode == 7, run.stderr[-2000:]
        assert "llvmlite" not in run.stderr
    assert list((tmp_path / "cache" / "llvm").glob("mod-*-entries.o"))


# Under tailcc (the module makes tail calls): quick code and LLVM's code (the function making
# the tail call, which quick refuses) call each other with stack arguments, odd and even
# counts, results in memory, directly and through a table, in loops (a callee popping the wrong
# area would drift rsp: a misaligned or exhausted native stack).
TAIL = """(module
  (type $seven_t (func (param i64 i64 i64 i64 i64 i64 i64) (result i64)))
  (table 2 funcref)
  (elem (i32.const 0) $six $seven)
  (func $six (param i64 i64 i64 i64 i64 i64) (result i64)
    (i64.add (local.get 0) (i64.mul (local.get 5) (i64.const 10))))
  (func $seven (type $seven_t)
    (i64.sub (call $six (local.get 6) (local.get 1) (local.get 2) (local.get 3) (local.get 4)
                        (local.get 0))
             (local.get 5)))
  (func $three (param i64 f64 i32) (result i64 f64 i32)
    (local.get 0) (f64.mul (local.get 1) (f64.const 2)) (i32.add (local.get 2) (i32.const 1)))
  (func $tail (param i64) (result i64)
    (local $x i64) (local $y i64)
    (local.set $x (call $six (local.get 0) (i64.const 1) (i64.const 2) (i64.const 3)
                             (i64.const 4) (i64.const 5)))
    (local.set $y (call $seven (local.get $x) (local.get 0) (i64.const 2) (i64.const 3)
                               (i64.const 4) (i64.const 5) (i64.const 6)))
    (drop (call $three (local.get $x) (f64.const 1.5) (i32.const 4)))
    (return_call $seven (local.get 0) (local.get $x) (local.get $y) (i64.const 4)
                        (i64.const 5) (i64.const 6) (i64.const 7)))
  (func $back (param i64) (result i64)
    (if (i64.eqz (local.get 0)) (then (return (i64.const 0))))
    (return_call $back (i64.sub (local.get 0) (i64.const 1))))
  (func (export "run") (param i64) (result i64)
    (local $acc i64) (local $k i32) (local $r i64) (local $f f64) (local $i i32)
    (loop $l
      (local.set $acc (i64.add (local.get $acc) (call $tail (local.get 0))))
      (local.set $acc (i64.add (local.get $acc)
        (call_indirect (type $seven_t) (i64.const 1) (i64.const 2) (i64.const 3) (i64.const 4)
                       (i64.const 5) (i64.const 6) (local.get $acc) (i32.const 1))))
      (call $three (local.get $acc) (f64.convert_i64_s (local.get 0)) (local.get $k))
      (local.set $i) (local.set $f) (local.set $r)
      (local.set $acc (i64.add (local.get $acc)
        (i64.add (local.get $r) (i64.add (i64.trunc_f64_s (local.get $f)) (i64.extend_i32_u (local.get $i))))))
      (local.set $acc (i64.add (local.get $acc) (call $back (i64.const 50))))
      (br_if $l (i32.lt_u (local.tee $k (i32.add (local.get $k) (i32.const 1))) (i32.const 2000))))
    (local.get $acc)))"""


def tailcc_outcome(wat: str, tier: str, calls: list):
    """The module of ``wat`` on ``tier`` and its exports' results for ``calls`` (name, args)."""
    eng = test_quick.engine(tier)
    module = Module(eng, wat)
    store = Store(eng)
    ex = Instance(store, module, []).exports(store)
    return module, [ex[name](store, *args) for name, args in calls]


def check_tailcc_against_interp(wat: str, calls: list, llvm_batches: int) -> None:
    """A batch per function (BATCH_CODE_BYTES=1): the results are the interp tier's, and the
    functions making tail calls (``llvm_batches``) are LLVM's code, the others quick."""
    expected = tailcc_outcome(wat, "interp", calls)[1]
    module, got = tailcc_outcome(wat, "llvm", calls)
    assert got == expected
    code = module._compiled()
    assert code._mc.cc == "tailcc" and code._quick is not None
    kinds = sorted(loader.is_image(obj) for obj in batch_codes(code))
    assert kinds == [False] * llvm_batches + [True] * (len(kinds) - llvm_batches)
    assert len(kinds) == len(code.func_addrs)


def test_quick_and_llvm_code_call_each_other_under_tailcc(lazy, monkeypatch):
    # $tail and $back (tail calls) are LLVM's code, the other four quick.
    monkeypatch.setattr(compiler, "BATCH_CODE_BYTES", 1)
    check_tailcc_against_interp(TAIL, [("run", [9]), ("run", [-(2**40)])], 2)


# Under tailcc, stack arguments and results in memory together (the result pointer takes an
# argument register, so seven i64 parameters put two on the stack, eight three): quick code
# and LLVM's (the functions making tail calls) call each other both ways, directly and
# through a table, and the host enters such functions (the entry trampolines pop nothing
# twice).  Each call is made in a loop: a wrong area drifts rsp by 8 or 16 bytes per call.
WIDE = """(module
  (type $w7 (func (param i64 i64 i64 i64 i64 i64 i64) (result i64 i64 i64)))
  (type $w8 (func (param i64 i64 i64 i64 i64 i64 i64 i64) (result i64 f64 i64)))
  (table 2 funcref)
  (elem (i32.const 0) $q7 $l8)
  (func $q7 (type $w7)
    (i64.add (local.get 0) (local.get 6))
    (i64.mul (local.get 5) (local.get 1))
    (i64.sub (local.get 2) (i64.add (local.get 3) (local.get 4))))
  (func $q8 (type $w8)
    (i64.add (local.get 0) (local.get 7))
    (f64.convert_i64_s (i64.mul (local.get 6) (local.get 1)))
    (i64.sub (local.get 2) (i64.add (local.get 3) (local.get 4))))
  (func $l8 (export "l8") (type $w8)
    (if (i64.eqz (local.get 0))
      (then (return_call $q8 (i64.const 1) (local.get 1) (local.get 2) (local.get 3)
                             (local.get 4) (local.get 5) (local.get 6) (local.get 7))))
    (call $q7 (local.get 7) (local.get 6) (local.get 5) (local.get 4) (local.get 3)
              (local.get 2) (local.get 1))
    (drop) (drop) (f64.convert_i64_s (local.get 0)) (i64.const 3))
  (func (export "q7") (type $w7)
    (local $i i64) (local $a i64) (local $b f64) (local $c i64) (local $x i64) (local $y i64)
    (loop $l
      (call $l8 (i64.rem_u (local.get $i) (i64.const 3)) (local.get 1) (local.get 2)
                (local.get 3) (local.get 4) (local.get 5) (local.get 6) (local.get $i))
      (local.set $c) (local.set $b) (local.set $a)
      (local.set $x (i64.add (local.get $x)
        (i64.add (local.get $a) (i64.add (local.get $c) (i64.trunc_f64_s (local.get $b))))))
      (call_indirect (type $w8) (local.get $i) (i64.const 2) (i64.const 3) (i64.const 4)
                     (i64.const 5) (i64.const 6) (local.get $x) (i64.const 8) (i32.const 1))
      (local.set $c) (local.set $b) (local.set $a)
      (call_indirect (type $w7) (local.get $a) (local.get $c) (i64.const 3) (i64.const 4)
                     (i64.const 5) (i64.const 6) (local.get $i) (i32.const 0))
      (local.set $y (i64.xor (local.get $y) (i64.add (i64.add) (i64.mul (i64.const 7)))))
      (br_if $l (i64.lt_u (local.tee $i (i64.add (local.get $i) (i64.const 1))) (i64.const 3000))))
    (local.get $x) (local.get $y) (local.get 0)))"""


def test_stack_arguments_and_results_in_memory_under_tailcc(lazy, monkeypatch):
    # $l8 (a tail call) is LLVM's code, the other three quick.
    monkeypatch.setattr(compiler, "BATCH_CODE_BYTES", 1)
    args = [3, -5, 7, 11, 13, 17, 19]
    check_tailcc_against_interp(WIDE, [("q7", args), ("l8", [0] + args), ("l8", [2**40] + args)], 1)
