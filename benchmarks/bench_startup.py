"""Cold start, in process: instantiate an already-compiled module and call a trivial export.

    python benchmarks/bench_startup.py [--runs 2000] [--engines interp,llvm,wasmtime]
    python benchmarks/bench_startup.py --processes --size real [--repeat 5] [--programs fib,...] [--json F]

For each engine the module is compiled once (warm), then each run makes a fresh Store,
instantiates the module through a Linker (and again through an InstancePre made once:
``Linker.instantiate_pre``) and calls its export — the work a serverless host
does per request. Prints the median and 90th percentile per engine, and the same for a
corpus program (WASI imports, 2 pages of data) when the corpus is present; then, per
engine, ``Module.deserialize`` of an artifact of the trivial module + instantiate + call
(an AOT cold start), and of fib.wasm's artifact + instantiate with WASI.  wasmtime-py is an
optional peer (`pip install wasmtime`).

``--processes`` measures whole processes instead, with a warm cache: ``python -m wasmforge
run prog.wasm ARGS`` against a wasmtime-py script doing the same (Engine, Module.from_file,
WASI with inherited stdout, ``_start``), alternating within each repeat, after one warm-up
run of each; prints the median wall time per program and engine, the ratio and its geomean.
``--baseline OLD/src`` times an older wasmforge tree too, in the same alternation.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
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


def measure_deserialize(engine: str, runs: int, source=TRIVIAL) -> list:
    """Module.deserialize(artifact) + Store + instantiate + call, per run; for a WASI
    program (``source`` not the trivial module): deserialize + Store with a WASI context +
    ``Linker.instantiate`` + look up ``_start``."""
    api, eng = _api(engine)
    data = api.Module(eng, source).serialize()
    wasi = source is not TRIVIAL
    times = []
    for i in range(runs + 1):
        t0 = time.perf_counter()
        module = api.Module.deserialize(eng, data)
        store = api.Store(eng)
        if wasi:
            linker = api.Linker(eng)
            linker.define_wasi()
            store.set_wasi(api.WasiConfig())
            assert linker.instantiate(store, module).exports(store)["_start"] is not None
        else:
            instance = api.Instance(store, module, [])
            assert instance.exports(store)["answer"](store) == 42
        elapsed = time.perf_counter() - t0
        if i:
            times.append(elapsed)
    return times


_WASMTIME_RUN = r"""
import sys, wasmtime
engine = wasmtime.Engine()
module = wasmtime.Module.from_file(engine, sys.argv[1])
linker = wasmtime.Linker(engine)
linker.define_wasi()
store = wasmtime.Store(engine)
cfg = wasmtime.WasiConfig()
cfg.argv = sys.argv[1:]
cfg.inherit_stdout()
cfg.inherit_stderr()
store.set_wasi(cfg)
try:
    linker.instantiate(store, module).exports(store)["_start"](store)
except wasmtime.ExitTrap as e:
    sys.exit(e.code)
"""


def processes(args) -> int:
    """Whole-process warm runs, wasmforge's CLI against a wasmtime-py script."""
    manifest = json.loads((BENCH / "manifest.json").read_text())["programs"]
    names = args.programs.split(",") if args.programs else list(manifest)
    cmds = {"wasmforge": [sys.executable, "-m", "wasmforge", "run"],
            "wasmtime": [sys.executable, "-c", _WASMTIME_RUN]}
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    envs = {"wasmforge": env, "wasmtime": env}
    if args.baseline:
        # An older wasmforge tree beside this one, with its own cache folder.
        cmds = {"old": cmds["wasmforge"], **cmds}
        envs["old"] = dict(env, PYTHONPATH=args.baseline,
                           WASMFORGE_CACHE_DIR=tempfile.mkdtemp(prefix="bench-old-"))
    times = {(e, p): [] for e in cmds for p in names}
    cpu = {(e, p): [] for e in cmds for p in names}

    def once(engine, program):
        entry = manifest[program]
        case = entry["sizes"][args.size]
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        out = subprocess.run(cmds[engine] + [str(BENCH / entry["wasm"])] + case["args"],
                             capture_output=True, text=True, env=envs[engine], timeout=600)
        elapsed = time.perf_counter() - t0
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        if out.stdout != case["stdout"]:
            raise SystemExit(f"{engine} {program}: wrong output {out.stdout[:200]!r} {out.stderr[-300:]}")
        # The process's CPU (user + system), the steadier figure on a loaded machine.
        cpu[(engine, program)].append(r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime)
        return elapsed

    for p in names:                 # warm the caches (wasmforge's; wasmtime-py keeps none)
        for e in cmds:
            once(e, p)
    for e in cmds:
        cpu.update({(e, p): [] for p in names})   # the warm-up runs do not count
    for _ in range(args.repeat):
        for p in names:
            for e in cmds:
                times[(e, p)].append(once(e, p))
    old = args.baseline is not None
    print("wall-clock time, medians:")
    _process_table(args.size, names, times, old)
    print("\nCPU (user + system) of the same processes, medians:")
    _process_table(args.size, names, cpu, old)
    if args.json:
        # every warm run's figures, per engine and program (for plot_startup.py)
        args.json.write_text(json.dumps({
            "size": args.size, "repeat": args.repeat, "programs": names, "engines": list(cmds),
            "wall_s": {e: {p: times[(e, p)] for p in names} for e in cmds},
            "cpu_s": {e: {p: cpu[(e, p)] for p in names} for e in cmds}}, indent=1))
    return 0


def _process_table(size: str, names: list, times: dict, old: bool) -> None:
    print(f"| program ({size}) |" + (" old tree (s) |" if old else "")
          + " wasmforge run (s) | wasmtime-py (s) |" + (" old ratio |" if old else "")
          + " ratio |\n|---|---|---|---|" + ("---|---|" if old else ""))
    ratios, old_ratios = [], []
    for p in names:
        a, b = statistics.median(times[("wasmforge", p)]), statistics.median(times[("wasmtime", p)])
        ratios.append(a / b)
        if old:
            o = statistics.median(times[("old", p)])
            old_ratios.append(o / b)
            print(f"| {p} | {o:.3f} | {a:.3f} | {b:.3f} | {o / b:.2f}x | {a / b:.2f}x |", flush=True)
        else:
            print(f"| {p} | {a:.3f} | {b:.3f} | {a / b:.2f}x |", flush=True)
    geo = math.exp(sum(map(math.log, ratios)) / len(ratios))
    if old:
        old_geo = math.exp(sum(map(math.log, old_ratios)) / len(old_ratios))
        print(f"| **geomean** | | | | **{old_geo:.2f}x** | **{geo:.2f}x** |")
    else:
        print(f"| **geomean** | | | **{geo:.2f}x** |")


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
    ap.add_argument("--processes", action="store_true", help="whole-process warm runs (see above)")
    ap.add_argument("--size", default="real", choices=("tiny", "small", "real"))
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--programs", help="comma-separated subset of the corpus")
    ap.add_argument("--baseline", metavar="OLD/src",
                    help="with --processes: also time the wasmforge tree at OLD/src (its own cache folder)")
    ap.add_argument("--json", type=Path, help="with --processes: also write every run's times here")
    args = ap.parse_args(argv)
    if args.processes:
        return processes(args)
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
    deser = [("deserialize artifact + instantiate + call", TRIVIAL)]
    if fib.exists():
        deser.append(("fib.wasm: deserialize artifact + instantiate with WASI", fib.read_bytes()))
    for label, source in deser:
        for engine in args.engines.split(","):
            try:
                times = sorted(measure_deserialize(engine, max(args.runs // 4, 1), source))
            except ImportError as exc:
                print(f"| {label} | {engine} | not installed ({exc.name}) | |")
                continue
            print(f"| {label} | {engine} | {statistics.median(times) * 1e6:.0f} "
                  f"| {times[int(len(times) * 0.9)] * 1e6:.0f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
