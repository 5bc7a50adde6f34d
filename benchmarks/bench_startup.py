"""Cold start, in process: instantiate an already-compiled module and call a trivial export.

    python benchmarks/bench_startup.py [--runs 2000] [--engines interp,llvm,wasmtime]

For each engine the module is compiled once (warm), then each run makes a fresh Store,
instantiates the module through a Linker (and again through an InstancePre made once:
``Linker.instantiate_pre``) and calls its export — the work a serverless host
does per request. Prints the median and 90th percentile per engine, and the same for a
corpus program (WASI imports, 2 pages of data) when the corpus is present. wasmtime-py is an
optional peer (`pip install wasmtime`).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(os.environ.get("WASMFORGE_BENCH", ROOT.parent / "shared" / "bench"))

TRIVIAL = """(module
  (memory (export "memory") 1)
  (global $g (mut i32) (i32.const 0))
  (func (export "answer") (result i32) (global.set $g (i32.const 1)) (i32.const 42)))"""


def _api(engine: str):
    if engine == "wasmtime":
        import wasmtime as api
        return api, api.Engine()
    import wasmforge as api
    config = api.Config()
    config.strategy = engine
    return api, api.Engine(config)


def measure(engine: str, source, export: str, runs: int, wasi: bool, pre: bool = False) -> list:
    """Per run: a Store, instantiate (``linker.instantiate``, or with ``pre`` an InstancePre
    made once beforehand: ``pre.instantiate``), look the export up and call it."""
    api, eng = _api(engine)
    module = api.Module(eng, source)
    linker = api.Linker(eng)
    if wasi:
        linker.define_wasi()
    instance_pre = linker.instantiate_pre(module) if pre else None
    times = []
    for i in range(runs + 1):
        t0 = time.perf_counter()
        store = api.Store(eng)
        if wasi:
            store.set_wasi(api.WasiConfig())
        if instance_pre is not None:
            instance = instance_pre.instantiate(store)
        else:
            instance = linker.instantiate(store, module)
        func = instance.exports(store)[export]
        if not wasi:
            assert func(store) == 42
        elapsed = time.perf_counter() - t0
        if i:                      # the first run also compiles (or loads from the cache)
            times.append(elapsed)
    return times


def measure_call(engine: str, runs: int) -> list:
    """The cost of one Python->wasm call of the trivial export: per run, the mean of 100 calls."""
    api, eng = _api(engine)
    store = api.Store(eng)
    func = api.Linker(eng).instantiate(store, api.Module(eng, TRIVIAL)).exports(store)["answer"]
    func(store)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        for _ in range(100):
            func(store)
        times.append((time.perf_counter() - t0) / 100)
    return times


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=2000)
    ap.add_argument("--engines", default="interp,llvm,wasmtime")
    args = ap.parse_args(argv)
    cases = [("trivial export", TRIVIAL, "answer", False)]
    fib = BENCH / "wasm" / "fib.wasm"
    if fib.exists():
        cases.append(("fib.wasm: instantiate with WASI, look up _start", fib.read_bytes(), "_start", True))
    print(f"| case | engine | median (µs) | p90 (µs) |\n|---|---|---|---|")
    for label, source, export, wasi in cases:
        for pre in (False, True):
            for engine in args.engines.split(","):
                try:
                    times = measure(engine, source, export, args.runs, wasi, pre)
                except ImportError as exc:
                    print(f"| {label} | {engine} | not installed ({exc.name}) | |")
                    continue
                times.sort()
                med = statistics.median(times) * 1e6
                p90 = times[int(len(times) * 0.9)] * 1e6
                how = "InstancePre" if pre else "Linker.instantiate"
                print(f"| {label}, {how} | {engine} | {med:.0f} | {p90:.0f} |", flush=True)
    for engine in args.engines.split(","):
        try:
            times = sorted(measure_call(engine, max(args.runs // 10, 10)))
        except ImportError as exc:
            print(f"| call of the trivial export | {engine} | not installed ({exc.name}) | |")
            continue
        print(f"| call of the trivial export | {engine} | {statistics.median(times) * 1e6:.2f} "
              f"| {times[int(len(times) * 0.9)] * 1e6:.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
