"""The binary-trees GC benchmark (``benchmarks/binary_trees.wat``) on wasmforge's tiers and
wasmtime-py (``Config.wasm_gc = True``), side by side in one run:

    python benchmarks/bench_gc.py [DEPTH] [--engines llvm,interp,wasmtime] [--repeat R]

Each engine compiles the module once (not timed), then runs ``run(DEPTH)`` R times (default
DEPTH 16, R 3); prints the best wall time, the result (which must agree), the peak resident
size of a child process running it alone, and the ratio to wasmtime.  Numbers on shared
machines are noisy: compare the rows of one run.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
WAT = os.path.join(HERE, "binary_trees.wat")


def run_engine(engine: str, depth: int, repeat: int) -> tuple:
    """(best seconds, result) of ``run(depth)`` on ``engine``, in this process."""
    text = open(WAT).read()
    if engine == "wasmtime":
        import wasmtime as wt
        config = wt.Config()
        config.wasm_gc = True
        config.wasm_function_references = True
        eng = wt.Engine(config)
        store = wt.Store(eng)
        inst = wt.Instance(store, wt.Module(eng, text), [])
        fn = inst.exports(store)["run"]
    else:
        import wasmforge as wf
        config = wf.Config()
        config.strategy = engine
        eng = wf.Engine(config)
        store = wf.Store(eng)
        inst = wf.Instance(store, wf.Module(eng, text), [])
        fn = inst.exports(store)["run"]
    best, result = None, None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn(store, depth)
        dt = time.perf_counter() - t
        best = dt if best is None else min(best, dt)
    return best, result


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("depth", nargs="?", type=int, default=16)
    ap.add_argument("--engines", default="llvm,wasmtime,interp")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        secs, result = run_engine(args.child, args.depth, args.repeat)
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(secs, result, rss)
        return
    rows = {}
    for engine in args.engines.split(","):
        out = subprocess.run([sys.executable, __file__, str(args.depth), "--repeat",
                              str(args.repeat), "--child", engine],
                             capture_output=True, text=True)
        if out.returncode:
            print(f"{engine}: failed: {out.stderr.strip().splitlines()[-1:]}")
            continue
        secs, result, rss = out.stdout.split()
        rows[engine] = (float(secs), int(result), int(rss))
    base = rows.get("wasmtime", (None,))[0]
    print(f"binary-trees depth {args.depth}, best of {args.repeat}")
    for engine, (secs, result, rss) in rows.items():
        ratio = f"{secs / base:5.2f}x wasmtime" if base else ""
        print(f"  {engine:9} {secs:8.3f} s  result {result}  peak RSS {rss // 1024} MB  {ratio}")


if __name__ == "__main__":
    main()
