"""The quick compiler (llvm/quick): baseline code made without LLVM behaves as the interp
tier does — results, trap types and messages, backtraces — on a hand-written set covering
every class of instruction, runs the benchmark corpus with the manifest's output, and a
module it refuses falls back to LLVM's baseline code with the same behaviour."""

from __future__ import annotations

import json
import math
import os
import struct
import subprocess
import sys

import pytest

from wasmforge import (Config, Engine, ExitTrap, Func, FuncType, Instance, Linker, Module, Store,
                       Trap, ValType, WasiConfig, wat2wasm)
from wasmforge.llvm import loader, quick
from wasmforge.llvm.codegen import ModuleCompiler
from wasmforge.llvm.quick.assemble import cpu_supported

from support import BENCH

pytestmark = pytest.mark.skipif(not loader.supported() or not cpu_supported(),
                                reason="the quick compiler needs Linux x86-64 with SSE4.1/lzcnt")


@pytest.fixture
def forced(tmp_path, monkeypatch):
    monkeypatch.setenv("WASMFORGE_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("WASMFORGE_LLVM_BASELINE", "1")
    monkeypatch.setenv("WASMFORGE_LLVM_QUICK", "1")
    monkeypatch.delenv("WASMFORGE_LLVM_LAZY", raising=False)
    return tmp_path


def engine(tier: str) -> Engine:
    config = Config()
    config.strategy = tier
    return Engine(config)


def f32(x: float) -> float:
    return struct.unpack("<f", struct.pack("<f", x))[0]


NAN32 = struct.unpack("<f", struct.pack("<I", 0x7FA00000))[0]        # a signalling NaN
NAN64 = struct.unpack("<d", struct.pack("<Q", 0x7FF4000000000000))[0]

WAT = r"""(module
  (import "host" "add" (func $hadd (param i32 i64) (result i64)))
  (memory 1 3)
  (table $t 4 funcref)
  (global $g (mut i64) (i64.const 7))
  (global $r (mut externref) (ref.null extern))
  (type $ii (func (param i32) (result i32)))
  (type $v (func))
  (elem (table $t) (i32.const 0) func $double $noop)
  (data $d "\01\02\03\04")

  (func $double (type $ii) (i32.mul (local.get 0) (i32.const 2)))
  (func $noop (type $v))
  (func (export "ibin") (param i32 i32) (result i32 i32 i32 i32 i32 i32 i32 i32)
    (i32.add (local.get 0) (local.get 1)) (i32.sub (local.get 0) (local.get 1))
    (i32.mul (local.get 0) (local.get 1)) (i32.and (local.get 0) (local.get 1))
    (i32.shl (local.get 0) (local.get 1)) (i32.shr_s (local.get 0) (local.get 1))
    (i32.rotr (local.get 0) (local.get 1)) (i32.lt_u (local.get 0) (local.get 1)))
  (func (export "lbin") (param i64 i64) (result i64 i64 i64 i64 i64 i32 i32)
    (i64.add (local.get 0) (i64.const 0x123456789)) (i64.xor (local.get 0) (local.get 1))
    (i64.shr_u (local.get 0) (local.get 1)) (i64.rotl (local.get 0) (i64.const 65))
    (i64.mul (local.get 0) (local.get 1)) (i64.ge_s (local.get 0) (local.get 1))
    (i64.eqz (local.get 1)))
  (func (export "iun") (param i32 i64) (result i32 i32 i32 i64 i64 i32 i64 i64)
    (i32.clz (local.get 0)) (i32.ctz (local.get 0)) (i32.popcnt (local.get 0))
    (i64.clz (local.get 1)) (i64.extend8_s (local.get 1)) (i32.extend16_s (local.get 0))
    (i64.extend_i32_s (local.get 0)) (i64.extend_i32_u (local.get 0)))
  (func (export "div_s") (param i32 i32) (result i32) (i32.div_s (local.get 0) (local.get 1)))
  (func (export "rem_s") (param i64 i64) (result i64) (i64.rem_s (local.get 0) (local.get 1)))
  (func (export "div_u") (param i64 i64) (result i64) (i64.div_u (local.get 0) (local.get 1)))
  (func (export "fbin") (param f64 f64) (result f64 f64 f64 f64 f64 f64 f64)
    (f64.add (local.get 0) (local.get 1)) (f64.div (local.get 0) (local.get 1))
    (f64.min (local.get 0) (local.get 1)) (f64.max (local.get 0) (local.get 1))
    (f64.copysign (local.get 0) (local.get 1)) (f64.sub (local.get 0) (f64.const 0))
    (f64.promote_f32 (f32.demote_f64 (local.get 0))))
  (func (export "fun") (param f32) (result f32 f32 f32 f32 f32 f32 f32)
    (f32.nearest (local.get 0)) (f32.ceil (local.get 0)) (f32.floor (local.get 0))
    (f32.trunc (local.get 0)) (f32.sqrt (local.get 0)) (f32.neg (local.get 0))
    (f32.abs (local.get 0)))
  (func (export "fcmp") (param f32 f32) (result i32 i32 i32 i32 i32 i32)
    (f32.eq (local.get 0) (local.get 1)) (f32.ne (local.get 0) (local.get 1))
    (f32.lt (local.get 0) (local.get 1)) (f32.le (local.get 0) (local.get 1))
    (f32.gt (local.get 0) (local.get 1)) (f32.ge (local.get 0) (local.get 1)))
  (func (export "conv") (param i64 i32) (result f32 f64 f64 f32 i64)
    (f32.convert_i64_u (local.get 0)) (f64.convert_i64_u (local.get 0))
    (f64.convert_i32_u (local.get 1)) (f32.convert_i32_s (local.get 1))
    (i64.reinterpret_f64 (f64.reinterpret_i64 (local.get 0))))
  (func (export "reinterp") (param i32) (result i32)
    (i32.reinterpret_f32 (f32.div (f32.reinterpret_i32 (local.get 0)) (f32.const 1.0))))
  (func (export "trunc_u") (param f64) (result i64) (i64.trunc_f64_u (local.get 0)))
  (func (export "trunc_s") (param f32) (result i32) (i32.trunc_f32_s (local.get 0)))
  (func (export "sat") (param f64) (result i32 i32 i64 i64)
    (i32.trunc_sat_f64_s (local.get 0)) (i32.trunc_sat_f64_u (local.get 0))
    (i64.trunc_sat_f64_s (local.get 0)) (i64.trunc_sat_f64_u (local.get 0)))
  (func (export "mem") (param i32 i64) (result i64 i32 i32)
    (i64.store offset=8 (local.get 0) (local.get 1))
    (i64.load offset=8 (local.get 0))
    (i32.load8_s offset=8 (local.get 0))
    (i32.load16_u offset=9 (local.get 0)))
  (func (export "fbranch") (param f64 f64) (result i32 i32 i32 i32 i32)
    (block $b (result i32) (br_if $b (i32.const 1) (f64.lt (local.get 0) (local.get 1)))
      (drop) (i32.const 0))
    (block $b (result i32) (block $c (br_if $c (f64.le (local.get 0) (local.get 1)))
      (br $b (i32.const 0))) (i32.const 1))
    (if (result i32) (f64.gt (local.get 0) (local.get 1)) (then (i32.const 1)) (else (i32.const 0)))
    (if (result i32) (f64.ge (local.get 0) (local.get 1)) (then (i32.const 1)) (else (i32.const 0)))
    (if (result i32) (f64.eq (local.get 0) (local.get 1)) (then (i32.const 1)) (else (i32.const 0))))
  (func (export "load_at") (param i32) (result i32) (i32.load offset=3 (local.get 0)))
  (func (export "load_far") (param i32) (result i32) (i32.load offset=0xFFFFFFF0 (local.get 0)))
  (func (export "load_const") (result i32 i32) (i32.load offset=65532 (i32.const 0))
    (i32.load8_u offset=0xFFFFFFFF (i32.const 1)))
  (func (export "bulk") (param i32 i32 i32) (result i32 i32)
    (memory.fill (local.get 0) (i32.const 0xAB) (local.get 2))
    (memory.copy (local.get 1) (local.get 0) (local.get 2))
    (memory.init $d (i32.const 100) (i32.const 1) (i32.const 2))
    (i32.load8_u (local.get 1)) (i32.load (i32.const 100)))
  (func (export "grow") (param i32) (result i32 i32)
    (memory.grow (local.get 0)) (memory.size))
  (func (export "globals") (result i64 i32)
    (global.set $g (i64.add (global.get $g) (i64.const 1)))
    (global.set $r (ref.null extern))
    (global.get $g) (ref.is_null (global.get $r)))
  (func (export "select") (param i32 f64 f64) (result f64 i32)
    (select (local.get 1) (local.get 2) (local.get 0))
    (select (i32.const 5) (i32.const 6) (local.get 0)))
  (func (export "br_table") (param i32) (result i32)
    (block $c (block $b (block $a
      (br_table $a $b $c (local.get 0)))
      (return (i32.const 10)))
      (return (i32.const 11)))
    (i32.const 12))
  (func (export "loop") (param i32) (result i64) (local $acc i64)
    (block $done (loop $next
      (br_if $done (i32.eqz (local.get 0)))
      (local.set $acc (i64.add (local.get $acc) (i64.extend_i32_u (local.get 0))))
      (local.set 0 (i32.sub (local.get 0) (i32.const 1)))
      (br $next)))
    (local.get $acc))
  (func $mv (param i32) (result i32 i64 f32)
    (local.get 0) (i64.extend_i32_s (local.get 0)) (f32.convert_i32_s (local.get 0)))
  (func (export "multi") (param i32) (result i32 i64 f32)
    (local.get 0)
    (local.set 0 (i32.const 100))
    (block (param i32) (result i32 i64 f32) (call $mv))
    (drop)
    (if (param i64) (result i64) (local.get 0) (then (i64.const 1) (i64.add)) (else))
    (f32.const 0.5))
  (func (export "indirect") (param i32 i32) (result i32)
    (call_indirect $t (type $ii) (local.get 0) (local.get 1)))
  (func (export "tables") (result i32 i32 i32)
    (table.size $t) (table.grow $t (ref.null func) (i32.const 2))
    (ref.is_null (table.get $t (i32.const 1))))
  (func (export "host") (param i32) (result i64) (call $hadd (local.get 0) (global.get $g)))
  (func $deep (export "deep") (param i32) (result i32)
    (i32.add (call $deep (i32.add (local.get 0) (i32.const 1))) (i32.const 1)))
  (func $inner (param i32) (result i32) (i32.div_u (i32.const 1) (local.get 0)))
  (func $middle (param i32) (result i32) (i32.add (i32.const 1) (call $inner (local.get 0))))
  (func (export "nested_trap") (param i32) (result i32) (call $middle (local.get 0)))
  (func (export "unreachable") (unreachable))
  (func (export "many") (param i32 f64 i64 f32 i32 i32 i32 i32 f64 i64) (result f64)
    (call $sum9 (local.get 0) (local.get 1) (local.get 2) (local.get 3) (local.get 4)
      (local.get 5) (local.get 6) (local.get 7) (local.get 8) (local.get 9)))
  (func $sum9 (param i32 f64 i64 f32 i32 i32 i32 i32 f64 i64) (result f64)
    (f64.add (f64.add (f64.add (f64.convert_i32_s (local.get 0)) (local.get 1))
                      (f64.add (f64.convert_i64_s (local.get 2)) (f64.promote_f32 (local.get 3))))
             (f64.add (f64.convert_i32_s (i32.sub (local.get 7) (local.get 4)))
                      (f64.add (local.get 8) (f64.convert_i64_s (local.get 9))))))
)"""

CALLS = [
    ("ibin", (7, 3)), ("ibin", (-5, 33)), ("ibin", (0x80000000, 31)),
    ("lbin", (-(2**63), 3)), ("lbin", (0x7FFFFFFFFFFFFFFF, 0)),
    ("iun", (0, 0)), ("iun", (0x00F000F0, -129)), ("iun", (-1, 0x8000)),
    ("div_s", (7, -2)), ("div_s", (1, 0)), ("div_s", (-(2**31), -1)),
    ("rem_s", (-(2**63), -1)), ("rem_s", (-7, 2)), ("rem_s", (5, 0)),
    ("div_u", (-1, 3)), ("div_u", (3, 0)),
    ("fbin", (1.5, -0.0)), ("fbin", (-0.0, 0.0)), ("fbin", (0.0, -0.0)), ("fbin", (math.nan, 1.0)),
    ("fbin", (NAN64, 2.0)), ("fbin", (math.inf, -math.inf)), ("fbin", (1e308, 1e-308)),
    ("fun", (2.5,)), ("fun", (-2.5,)), ("fun", (3.5,)), ("fun", (-0.0,)), ("fun", (NAN32,)),
    ("fun", (-1.0,)), ("fun", (f32(1e30),)),
    ("fcmp", (1.0, 2.0)), ("fcmp", (math.nan, math.nan)), ("fcmp", (-0.0, 0.0)),
    ("conv", (-1, -1)), ("conv", (2**53 + 1, 2**31 - 1)), ("conv", (0x7FFFFFFFFFFFFFFF, 5)),
    ("reinterp", (0x7F803210,)), ("reinterp", (0x3F800000,)), ("reinterp", (0x80000001,)),
    ("trunc_u", (1e19,)), ("trunc_u", (1.8446744073709552e19,)), ("trunc_u", (-0.99,)),
    ("trunc_u", (-1.0,)), ("trunc_u", (math.nan,)), ("trunc_u", (9.3e18,)),
    ("trunc_s", (-2147483648.0,)), ("trunc_s", (2147483648.0,)), ("trunc_s", (f32(-2147483904.0),)),
    ("trunc_s", (math.inf,)),
    ("sat", (1e300,)), ("sat", (-1e300,)), ("sat", (math.nan,)), ("sat", (-3.7,)), ("sat", (4e9,)),
    ("mem", (0, 0x1122334455667788)), ("mem", (65520, -2)), ("mem", (65521, 1)),
    ("mem", (-1, 1)), ("load_at", (65533,)), ("load_at", (65532,)), ("load_at", (-4,)),
    ("fbranch", (1.0, 2.0)), ("fbranch", (2.0, 2.0)), ("fbranch", (math.nan, 2.0)),
    ("fbranch", (2.0, math.nan)), ("load_far", (0,)), ("load_far", (16,)), ("load_far", (-1,)),
    ("load_const", ()),
    ("bulk", (10, 20, 5)), ("bulk", (65530, 0, 6)), ("bulk", (0, 65535, 2)), ("bulk", (65536, 0, 0)),
    ("grow", (1,)), ("grow", (5,)), ("globals", ()),
    ("select", (1, 1.5, 2.5)), ("select", (0, 1.5, 2.5)),
    ("br_table", (0,)), ("br_table", (1,)), ("br_table", (2,)), ("br_table", (-1,)),
    ("loop", (100000,)), ("multi", (-4,)),
    ("indirect", (21, 0)), ("indirect", (1, 1)), ("indirect", (1, 2)), ("indirect", (1, 4)),
    ("tables", ()), ("host", (5,)), ("deep", (0,)), ("nested_trap", (0,)), ("nested_trap", (1,)),
    ("unreachable", ()), ("many", (1, 2.5, -3, 0.25, 10, 20, 30, 40, 0.5, 2**40)),
]


def bits(v: float) -> int:
    """A float by its bits: NaN payloads must match too; the sign of a NaN need not (an
    operation's canonical NaN may have either sign, spec 4.3.3)."""
    b = struct.unpack("<Q", struct.pack("<d", v))[0]
    return b & ~(1 << 63) if math.isnan(v) else b


def outcomes(tier: str) -> tuple:
    eng = engine(tier)
    module = Module(eng, WAT)
    store = Store(eng)
    host = Func(store, FuncType([ValType.i32(), ValType.i64()], [ValType.i64()]),
                lambda a, b: a * 1000 + b)
    ex = Instance(store, module, [host]).exports(store)
    out = []
    for name, args in CALLS:
        try:
            r = ex[name](store, *args)
        except Trap as trap:
            frames = [(f.func_index, f.func_offset) for f in trap.frames]
            out.append((name, args, "trap", trap.message, frames[:4]))
            continue
        r = r if isinstance(r, list) else [r]
        out.append((name, args, [bits(v) if isinstance(v, float) else v for v in r]))
    return out, module


def test_quick_code_behaves_as_the_interp_tier(forced):
    expected, _ = outcomes("interp")
    got, module = outcomes("llvm")
    code = module._compiled()
    assert code.tier == "baseline" and loader.is_image(code._object_code), "not quick code"
    for want, have in zip(expected, got):
        assert have == want


def test_deep_recursion_is_call_stack_exhausted(forced):
    eng = engine("llvm")
    store = Store(eng)
    ex = Instance(store, Module(eng, "(module (func $f (export \"f\") (param i32) (result i32)"
                                     " (i32.add (call $f (local.get 0)) (i32.const 1))))"), []).exports(store)
    with pytest.raises(Trap) as info:
        ex["f"](store, 0)
    assert "call stack exhausted" in str(info.value)


def test_a_refused_module_falls_back_to_llvm_baseline_code(forced):
    wat = """(module (func (export "f") (param i32) (result i32)
      (i32x4.extract_lane 1 (i32x4.splat (i32.div_u (i32.const 10) (local.get 0))))))"""
    eng = engine("llvm")
    module = Module(eng, wat)
    code = module._compiled()
    assert code.tier == "baseline" and not loader.is_image(code._object_code)
    store = Store(eng)
    ex = Instance(store, module, []).exports(store)
    assert ex["f"](store, 3) == 3
    with pytest.raises(Trap) as info:
        ex["f"](store, 0)
    assert info.value.message == "integer divide by zero"
    with pytest.raises(quick.Refused):
        quick.compile_image(ModuleCompiler(Module(engine("interp"), wat)._data))


MANIFEST = json.loads((BENCH / "manifest.json").read_text()) if (BENCH / "manifest.json").exists() else None


@pytest.mark.parametrize("name", sorted(MANIFEST["programs"]) if MANIFEST else [])
def test_corpus_programs_print_the_manifests_output(name, forced, tmp_path):
    entry = MANIFEST["programs"][name]
    case = entry["sizes"]["tiny"]
    eng = engine("llvm")
    module = Module.from_file(eng, str(BENCH / entry["wasm"]))
    assert loader.is_image(module._compiled()._object_code)
    linker = Linker(eng)
    linker.define_wasi()
    store = Store(eng)
    wasi = WasiConfig()
    wasi.argv = [name] + case["args"]
    out = tmp_path / "out"
    wasi.stdout_file = str(out)
    store.set_wasi(wasi)
    ex = linker.instantiate(store, module).exports(store)
    try:
        ex["_start"](store)
    except ExitTrap as exc:
        assert exc.code == 0
    assert out.read_text() == case["stdout"]


def test_wat2wasm_binary_goes_through_the_module_cache(forced):
    # A binary fills a module cache entry with the quick code (marked baseline).
    eng = engine("llvm")
    module = Module(eng, wat2wasm("(module (func (export \"f\") (result i32) (i32.const 4)))"))
    store = Store(eng)
    assert Instance(store, module, []).exports(store)["f"](store) == 4
    assert loader.is_image(module._compiled()._object_code)
    assert list((forced / "llvm").glob("mod-*.o"))


def test_the_quick_compiler_switched_off_gets_no_cached_quick_code(forced, monkeypatch):
    # The module cache entry a quick run stored (baseline code) is not what a run with
    # WASMFORGE_LLVM_QUICK=0 loads: the switch is part of the key.
    wasm = wat2wasm("(module (func (export \"f\") (param i32) (result i32) "
                    "(i32.add (local.get 0) (i32.const 1))))")
    assert loader.is_image(Module(engine("llvm"), wasm)._compiled()._object_code)
    monkeypatch.setenv("WASMFORGE_LLVM_QUICK", "0")
    eng = engine("llvm")
    module = Module(eng, wasm)
    assert not loader.is_image(module._compiled()._object_code)
    store = Store(eng)
    assert Instance(store, module, []).exports(store)["f"](store, 41) == 42


def test_a_first_run_of_quick_code_imports_no_llvmlite(tmp_path):
    # The module cache key needs no llvmlite (jit.host_key) and the code none: a first run
    # (and the warm run of the baseline entry it stored) never imports it.
    wasm = tmp_path / "exit.wasm"
    wasm.write_bytes(wat2wasm('''(module
      (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
      (func (export "_start") (call $exit (i32.const 7))))'''))
    env = dict(os.environ, WASMFORGE_CACHE_DIR=str(tmp_path / "cache"), WASMFORGE_LLVM_QUICK="1")
    for name in ("WASMFORGE_STRATEGY", "WASMFORGE_LLVM_LAZY", "WASMFORGE_LLVM_BASELINE"):
        env.pop(name, None)
    cmd = [sys.executable, "-X", "importtime", "-m", "wasmforge", "run", str(wasm)]
    for _ in ("cold", "warm"):
        run = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
        assert run.returncode == 7, run.stderr[-2000:]
        assert "llvmlite" not in run.stderr
    assert list((tmp_path / "cache" / "llvm").glob("mod-*.o"))


# x = y op x with x in a register: not computed in x's register (x must stay the second
# operand of a non-commutative op); y = y op x is, after the stack's reads of y took its
# old value.
_NONCOMMUTATIVE = {"i32": ("sub", "shl", "shr_s", "shr_u", "rotl", "rotr", "div_s", "rem_u"),
                   "i64": ("sub", "shl", "shr_s", "shr_u", "rotl", "rotr", "div_u", "rem_s"),
                   "f32": ("sub", "div", "min", "max", "copysign"),
                   "f64": ("sub", "div", "min", "max", "copysign")}


def _on_both_tiers(wat):
    """(tier, store, exports) of an instance of ``wat`` on the interp tier, then on quick code."""
    for tier in ("interp", "llvm"):
        eng = engine(tier)
        module = Module(eng, wat)
        if tier == "llvm":
            assert loader.is_image(module._compiled()._object_code), "not quick code"
        store = Store(eng)
        yield tier, store, Instance(store, module, []).exports(store)


def test_x_is_y_op_x_keeps_the_operands_order(forced):
    funcs = []
    for t, ops in _NONCOMMUTATIVE.items():
        for op in ops:
            # (x and y are the busiest locals: both in registers; the stack's reads of them
            # made before they are set keep their old values)
            funcs.append(f"""(func (export "{t}.{op}") (param {t} {t}) (result {t} {t} {t} {t}) (local $x {t}) (local $y {t})
              (local.set $x (local.get 0)) (local.set $y (local.get 1))
              (local.get $x) (local.get $y)
              (local.set $x ({t}.{op} (local.get $y) (local.get $x)))
              (local.set $y ({t}.{op} (local.get $y) (local.get $x)))
              (local.get $x) (local.get $y))""")
    wat = "(module " + "\n".join(funcs) + ")"
    args = {"i32": ((7, 100), (-9, 1000)), "i64": ((7, 100), (3, -(1 << 40)))}     # (no x is 0)
    results = {}
    for tier, store, ex in _on_both_tiers(wat):
        results[tier] = [(f"{t}.{op}", a, [bits(v) if isinstance(v, float) else v for v in ex[f"{t}.{op}"](store, *a)])
                         for t, ops in _NONCOMMUTATIVE.items() for op in ops
                         for a in args.get(t, ((100.5, -7.25), (3.0, -1000.0)))]
    assert results["llvm"] == results["interp"]


# ----- randomized differential test: register locals and the operand stack in registers -----

_RAND_PARAMS = ("i32", "i64", "f32", "f64", "i64", "i32", "f64", "i32", "i64")   # 6 integers: 1 on the stack
_RAND_LOCALS = ("i64", "f64", "i32", "f32", "f64", "i64", "i32", "f64", "f32", "i64", "f64", "i32")
_RAND_ARGS = ((5, -3, 1.5, -2.25, 1 << 40, 7, 0.1, -1, 99), (-7, 12345678901, -0.5, 3.0, -2, 0, 1e300, 3, -1))


class _RandomBody:
    """Random stack code over a function's locals: expression trees deep enough to outgrow
    the registers the stack has, float and integer values, values crossing register classes
    (reinterpret), calls (a two-result function, directly and through the table) between
    values in registers, and branches (br_if with a value, if/else) where the stack spills."""

    def __init__(self, rng, types):
        self.rng = rng
        self.types = types

    def leaf(self, t):
        ks = [k for k, lt in enumerate(self.types) if lt == t]
        if ks and self.rng.random() < 0.75:
            return [f"local.get {self.rng.choice(ks)}"]
        r = self.rng
        if t in ("i32", "i64"):
            return [f"{t}.const {r.choice([0, 1, -1, 3, 255, 1 << 20, -(1 << 30)])}"]
        return [f"{t}.const {r.choice(['0.5', '-1.25', '3', '1e10', '-0.0', '7.75'])}"]

    def expr(self, t, depth):
        r = self.rng
        if depth <= 0 or r.random() < 0.12:
            return self.leaf(t)
        d = depth - 1
        other = {"i32": "i64", "i64": "i32", "f32": "f64", "f64": "f32"}[t]
        same_int = {"i32": "f32", "i64": "f64", "f32": "i32", "f64": "i64"}[t]
        pick = r.randrange(10)
        if r.random() < 0.08:
            # A branch with a value out of a block (its result in its slot), the stack below
            # it deep.
            return (["block (result " + t + ")"] + self.expr(t, d) + self.expr("i32", d)
                    + ["br_if 0", "drop"] + self.expr(t, d) + ["end"])
        if t in ("i32", "i64"):
            if pick < 4:
                op = r.choice(["add", "sub", "mul", "and", "or", "xor", "shl", "shr_u", "shr_s", "rotl"])
                return self.expr(t, d) + self.expr(t, d) + [f"{t}.{op}"]
            if pick == 4:
                ct = r.choice(["i32", "i64", "f32", "f64"])
                op = r.choice(["eq", "ne", "lt_s", "gt_u", "le_u"] if ct[0] == "i" else ["eq", "ne", "lt", "ge"])
                cmp = self.expr(ct, d) + self.expr(ct, d) + [f"{ct}.{op}"]
                return cmp + (["i64.extend_i32_u"] if t == "i64" else [])
            if pick == 5:
                src = r.choice(["f32", "f64"])
                return self.expr(src, d) + [f"{t}.trunc_sat_{src}_{r.choice('su')}"]
            if pick == 6:
                conv = "i32.wrap_i64" if t == "i32" else f"i64.extend_i32_{r.choice('su')}"
                return self.expr(other, d) + [conv]
            if pick == 7:
                call = ["i32.const 0", "call_indirect (type $th)"] if r.random() < 0.3 else ["call $h"]
                out = self.expr("i64", d) + self.expr("f64", d) + call + ["i64.trunc_sat_f64_s", "i64.xor"]
                return out + (["i32.wrap_i64"] if t == "i32" else [])
            if pick == 8:
                addr = self.expr("i32", d) + ["i32.const 0xffe0", "i32.and"]
                return addr + [f"{t}.load offset=8"]
            ks = [k for k, lt in enumerate(self.types[:-1]) if lt == t]
            return self.expr(t, d) + [f"local.tee {r.choice(ks)}"] + self.expr(t, d) + [f"{t}.add"]
        if pick < 4:
            op = r.choice(["add", "sub", "mul", "div", "min", "max", "copysign"])
            if op == "copysign":
                # (the sign of a NaN is not deterministic: the sign comes from an integer)
                return self.expr(t, d) + self.expr("i32", d) + [f"{t}.convert_i32_s", f"{t}.copysign"]
            return self.expr(t, d) + self.expr(t, d) + [f"{t}.{op}"]
        if pick == 4:
            return self.expr(t, d) + [f"{t}.{r.choice(['neg', 'abs', 'sqrt', 'floor', 'nearest'])}"]
        if pick == 5:
            src = r.choice(["i32", "i64"])
            return self.expr(src, d) + [f"{t}.convert_{src}_{r.choice('su')}"]
        if pick == 6:
            return self.expr(other, d) + [f"{t}.{'demote_f64' if t == 'f32' else 'promote_f32'}"]
        if pick == 7:
            # Integer bits (never a NaN's) into a float: a value in a general register moves.
            return self.expr(same_int, d) + [f"{same_int}.const 0x3ff", f"{same_int}.and", f"{t}.reinterpret_{same_int}"]
        return (self.expr(t, d) + self.expr(t, d) + self.expr("i32", d) + ["select"])

    def statement(self, depth):
        r = self.rng
        k = r.randrange(len(self.types) - 1)            # the last local counts the loop
        t = self.types[k]
        pick = r.randrange(7)
        if pick == 6:
            # x = <expr> op x: computed in x's register when it has one (operands swapped)
            op = r.choice(["add", "mul"] + (["xor", "and"] if t[0] == "i" else []))
            return self.expr(t, depth) + [f"local.get {k}", f"{t}.{op}", f"local.set {k}"]
        if pick == 0:
            return (self.expr("i32", 2) + ["if"] + self.statement(depth - 1) + ["else"]
                    + self.statement(depth - 1) + ["end"])
        if pick == 1:
            st = r.choice(["i64", "f64", "i32", "f32"])
            return (self.expr("i32", 2) + ["i32.const 0xffe0", "i32.and"] + self.expr(st, depth)
                    + [f"{st}.store offset=8"])
        if pick == 2:
            return self.expr("i64", depth) + ["global.set $g"]
        return self.expr(t, depth) + [f"local.set {k}"]


def _random_module(seed: int, nfuncs: int) -> str:
    import random
    rng = random.Random(seed)
    types = list(_RAND_PARAMS) + list(_RAND_LOCALS) + ["i32"]
    count = len(types) - 1
    funcs = []
    for n in range(nfuncs):
        body = _RandomBody(rng, types)
        stmts = []
        for _ in range(rng.randrange(3, 8)):
            stmts += body.statement(rng.choice([2, 4, 7]))
        # Every local into the result (floats through trunc_sat: a NaN's payload is free).
        fold = ["global.get $g"]
        for k, t in enumerate(types):
            fold += [f"local.get {k}"]
            fold += {"i32": ["i64.extend_i32_u"], "i64": [], "f32": ["i64.trunc_sat_f32_s"],
                     "f64": ["i64.trunc_sat_f64_s"]}[t]
            fold += ["i64.const 7", "i64.rotl", "i64.xor"]
        lines = (["loop $l"] + stmts + [f"local.get {count}", "i32.const 1", "i32.add", f"local.tee {count}",
                 "i32.const 6", "i32.lt_u", "br_if $l", "end"] + fold)
        funcs.append(f"(func (export \"f{n}\") (param {' '.join(_RAND_PARAMS)}) (result i64)\n"
                     f"  (local {' '.join(_RAND_LOCALS)} i32)\n  " + "\n  ".join(lines) + ")")
    return ("(module (memory 1) (global $g (mut i64) (i64.const 3))\n"
            "(type $th (func (param i64 f64) (result i64 f64)))\n"
            "(table 1 funcref) (elem (i32.const 0) $h)\n"
            "(func $h (type $th) (local i64 f64 i32)\n"
            "  (loop $l (local.set 2 (i64.add (i64.mul (local.get 0) (i64.const 3)) (local.get 2)))\n"
            "    (local.set 3 (f64.add (f64.mul (local.get 1) (f64.const 0.5)) (local.get 3)))\n"
            "    (br_if $l (i32.lt_u (local.tee 4 (i32.add (local.get 4) (i32.const 1))) (i32.const 3))))\n"
            "  (i64.add (local.get 2) (local.get 0)) (f64.sub (local.get 3) (local.get 1)))\n"
            + "\n".join(funcs) + ")")


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_functions_compute_as_on_the_interp_tier(seed, forced):
    wat = _random_module(seed, 12)
    results = {}
    for tier, store, ex in _on_both_tiers(wat):
        results[tier] = [ex[f"f{n}"](store, *args) for n in range(12) for args in _RAND_ARGS]
    assert results["llvm"] == results["interp"]
    assert len(set(results["interp"])) > 12          # (the functions compute different things)
