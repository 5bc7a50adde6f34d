"""Cold starts in process, wasmforge beside wasmtime-py, the engines alternating run by run.

    python benchmarks/bench_coldstart.py [--runs 300] [--programs trivial,fib,qsort,funcs1500]
                                         [--json FILE]

Per program and engine, made once beforehand: an artifact (``Module.serialize``), a module and
an ``InstancePre`` (``Linker.instantiate_pre``, with WASI for the corpus programs).  Then, per
run, each engine in turn (so that both see the same phases of a shared machine):

- ``deserialize``: ``Module.deserialize(artifact)`` (a new bytes object of the artifact's
  content per run, made before timing) + a Store (with a WASI context for the
  corpus programs) + ``Linker.instantiate`` + the export looked up, and called for the
  ``trivial`` module (one page of memory, one global, an export returning 42) — the AOT cold
  start of a serverless request;
- ``pre``: a Store (+ WASI) + ``InstancePre.instantiate`` + the export looked up (and called);
- ``call``: one Python->wasm call of the trivial export (mean of 100 calls per run).

Prints per case and engine (µs): the median, 90th percentile and mean of the wall time, the
median of the CPU time the process used (``time.process_time``: on a machine shared with
other work a run's wall time also counts the time others ran, its CPU time does not), and the
ratios of the medians to the last engine's.  The garbage collector stays on, as in a server:
what it costs lands in the p90s and means.  ``funcs1500`` is a generated module of 1,500 small functions
(``make_many_funcs.py``), the corpus programs (22-36 KB) are from ``../shared/bench``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(os.environ.get("WASMFORGE_BENCH", ROOT.parent / "shared" / "bench"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_startup import TRIVIAL  # noqa: E402
from make_many_funcs import make_module  # noqa: E402


def _source(program: str):
    if program == "trivial":
        return TRIVIAL, "answer", False
    if program.startswith("funcs"):
        return make_module(int(program[5:])), "main", False
    return (BENCH / "wasm" / f"{program}.wasm").read_bytes(), "_start", True


class Case:
    """One program on one engine: what each run needs, made once."""

    def __init__(self, engine: str, program: str) -> None:
        if engine == "wasmtime":
            import wasmtime as api
            self.engine = api.Engine()
        else:
            import wasmforge as api
            self.engine = api.Engine()
        self.api = api
        source, self.export, self.wasi = _source(program)
        self.call = program == "trivial"
        module = api.Module(self.engine, source)
        self.artifact = module.serialize()
        self.linker = api.Linker(self.engine)
        if self.wasi:
            self.linker.define_wasi()
        self.pre = self.linker.instantiate_pre(module)
        store = api.Store(self.engine)
        self.func = self.pre.instantiate(store).exports(store)[self.export] if self.call else None
        self.call_store = store

    def _store(self):
        store = self.api.Store(self.engine)
        if self.wasi:
            store.set_wasi(self.api.WasiConfig())
        return store

    def _use(self, store, instance) -> None:
        func = instance.exports(store)[self.export]
        if self.call:
            assert func(store) == 42

    def deserialize(self):
        # A bytes object of its own per run (copied before the clock starts), as a server
        # reading the artifact per request has: nothing may be remembered by object identity.
        artifact = bytes(bytearray(self.artifact))
        c0, t0 = time.process_time(), time.perf_counter()
        module = self.api.Module.deserialize(self.engine, artifact)
        store = self._store()
        self._use(store, self.linker.instantiate(store, module))
        return time.perf_counter() - t0, time.process_time() - c0

    def instantiate_pre(self):
        c0, t0 = time.process_time(), time.perf_counter()
        store = self._store()
        self._use(store, self.pre.instantiate(store))
        return time.perf_counter() - t0, time.process_time() - c0

    def one_call(self):
        func, store = self.func, self.call_store
        c0, t0 = time.process_time(), time.perf_counter()
        for _ in range(100):
            func(store)
        return (time.perf_counter() - t0) / 100, (time.process_time() - c0) / 100


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=300)
    ap.add_argument("--programs", default="trivial,fib,qsort,funcs1500")
    ap.add_argument("--engines", default="wasmforge,wasmtime")
    ap.add_argument("--json", type=Path, help="also write the medians here (for plot_startup.py)")
    args = ap.parse_args(argv)
    engines = args.engines.split(",")
    saved: dict = {}    # program -> case -> engine -> {"median_us", "p90_us", "cpu_median_us"}
    print("| program | case | engine | median | p90 | mean | CPU median | ratio (wall) | ratio (CPU) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for program in args.programs.split(","):
        cases = {e: Case(e, program) for e in engines}
        kinds = ["deserialize", "pre"] + (["call"] if program == "trivial" else [])
        for kind in kinds:
            times = {e: [] for e in engines}
            cpu = {e: [] for e in engines}
            method = {"deserialize": "deserialize", "pre": "instantiate_pre", "call": "one_call"}[kind]
            for i in range(args.runs + 5):
                for e in engines:
                    t, c = getattr(cases[e], method)()
                    if i >= 5:          # warm-up runs
                        times[e].append(t * 1e6)
                        cpu[e].append(c * 1e6)
            base = statistics.median(times[engines[-1]])
            cpu_base = statistics.median(cpu[engines[-1]])
            for e in engines:
                ts = sorted(times[e])
                med, cmed = statistics.median(ts), statistics.median(cpu[e])
                fmt = "{:.2f}" if kind == "call" else "{:.0f}"
                saved.setdefault(program, {}).setdefault(kind, {})[e] = {
                    "median_us": med, "p90_us": ts[int(len(ts) * 0.9)], "cpu_median_us": cmed}
                print(f"| {program} | {kind} | {e} | {fmt.format(med)} | {fmt.format(ts[int(len(ts) * 0.9)])} "
                      f"| {fmt.format(statistics.fmean(ts))} | {fmt.format(cmed)} | {med / base:.2f}x "
                      f"| {cmed / cpu_base:.2f}x |", flush=True)
    if args.json:
        args.json.write_text(json.dumps({"runs": args.runs, "engines": engines, "results": saved}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
