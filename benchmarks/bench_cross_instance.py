"""The cost of a call from one instance's code into another instance's function (an import
linked by a ``Linker``, as wasmtime-py users chain modules and as a component's dynamic
linker lays out libpython and libc), beside wasmtime-py in the same run: ``main.sum(n)``
calls lib's ``add`` ``n`` times; per iteration, the best of ``--rounds`` rounds, beside the
same loop calling a function of main's own (in-process, warm: a phase figure)::

    python benchmarks/bench_cross_instance.py -n 100000 --rounds 5
    python benchmarks/bench_cross_instance.py --mode quick --engines llvm

``--mode o2`` compiles the llvm tier's code at once at O2, ``quick`` makes the quick
compiler's baseline code (``WASMFORGE_LLVM_BASELINE=1 WASMFORGE_LLVM_QUICK=1``, the code a
first run gets), ``baseline`` LLVM's baseline code; each run compiles into a module cache
of its own (one shared with an earlier run of another mode would give that mode's code).
Run it with ``PYTHONPATH`` naming another tree to compare trees.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

LIB = """(module
  (func (export "add") (param i32 i32) (result i32) (i32.add (local.get 0) (local.get 1))))"""

MAIN = """(module
  (import "lib" "add" (func $add (param i32 i32) (result i32)))
  (func $own (param i32 i32) (result i32) (i32.add (local.get 0) (local.get 1)))
  (func (export "sum") (param i32) (result i32) (local i32)
    (block $b (loop $l
      (br_if $b (i32.eqz (local.get 0)))
      (local.set 1 (call $add (local.get 1) (local.get 0)))
      (local.set 0 (i32.sub (local.get 0) (i32.const 1)))
      (br $l)))
    (local.get 1))
  (func (export "own") (param i32) (result i32) (local i32)
    (block $b (loop $l
      (br_if $b (i32.eqz (local.get 0)))
      (local.set 1 (call $own (local.get 1) (local.get 0)))
      (local.set 0 (i32.sub (local.get 0) (i32.const 1)))
      (br $l)))
    (local.get 1)))"""

MODES = {
    "o2": {"WASMFORGE_LLVM_BASELINE": "0"},
    "quick": {"WASMFORGE_LLVM_BASELINE": "1", "WASMFORGE_LLVM_QUICK": "1"},
    "baseline": {"WASMFORGE_LLVM_BASELINE": "1", "WASMFORGE_LLVM_QUICK": "0"},
}


def wasmforge_exports(tier: str):
    import wasmforge as wf
    config = wf.Config()
    config.strategy = tier
    engine = wf.Engine(config)
    store = wf.Store(engine)
    linker = wf.Linker(engine)
    lib = linker.instantiate(store, wf.Module(engine, wf.wat2wasm(LIB)))
    linker.define_instance(store, "lib", lib)
    main = linker.instantiate(store, wf.Module(engine, wf.wat2wasm(MAIN))).exports(store)
    return (lambda n: main["sum"](store, n)), (lambda n: main["own"](store, n))


def wasmtime_exports():
    import wasmtime
    engine = wasmtime.Engine()
    store = wasmtime.Store(engine)
    linker = wasmtime.Linker(engine)
    lib = linker.instantiate(store, wasmtime.Module(engine, LIB))
    linker.define_instance(store, "lib", lib)
    main = linker.instantiate(store, wasmtime.Module(engine, MAIN)).exports(store)
    return (lambda n: main["sum"](store, n)), (lambda n: main["own"](store, n))


def best(f, n: int, rounds: int) -> float:
    expect = n * (n + 1) // 2 & 0xFFFFFFFF
    expect -= (expect >> 31) << 32           # an i32 result, signed
    f(10)
    out = float("inf")
    for _ in range(rounds):
        t = time.perf_counter()
        if f(n) != expect:
            raise SystemExit("bench_cross_instance.py: wrong result")
        out = min(out, time.perf_counter() - t)
    return out


ENGINES = ("llvm", "interp", "wasmtime")


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("-n", type=int, default=100000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--engines", default="llvm,wasmtime", help=f"a comma-separated list of {', '.join(ENGINES)}")
    ap.add_argument("--mode", choices=sorted(MODES), default="o2")
    args = ap.parse_args()
    if args.n < 1 or args.rounds < 1:
        ap.error("-n and --rounds must be at least 1")
    unknown = [name for name in args.engines.split(",") if name not in ENGINES]
    if unknown:
        ap.error(f"unknown engine {unknown[0]!r}: expected {', '.join(ENGINES)}")
    os.environ.update(MODES[args.mode])
    os.environ["WASMFORGE_CACHE_DIR"] = tempfile.mkdtemp()
    print(f"{'engine':<10} {'calling lib.add':>16} {'calling its own':>16}  (per iteration; n={args.n}, best of {args.rounds})")
    for name in args.engines.split(","):
        cross, own = wasmtime_exports() if name == "wasmtime" else wasmforge_exports(name)
        n = args.n if name != "interp" else min(args.n, 10000)
        tc, to = best(cross, n, args.rounds), best(own, n, args.rounds)
        print(f"{name:<10} {tc / n * 1e9:>13.1f} ns {to / n * 1e9:>13.1f} ns")


if __name__ == "__main__":
    main()
