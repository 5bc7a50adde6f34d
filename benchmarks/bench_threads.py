"""Threads: N Python threads each increment one shared counter K times with
i32.atomic.rmw.add, through instances of separate stores on one SharedMemory, on wasmforge's
two tiers and wasmtime-py side by side.  Prints the wall time and the final count (which must
be N * K) per engine.  Usage: python benchmarks/bench_threads.py [N] [K]"""

from __future__ import annotations

import sys
import threading
import time

import wasmforge as wf

WAT = """(module
  (import "env" "mem" (memory 1 1 shared))
  (func (export "inc") (param $n i32)
    (loop $l
      (drop (i32.atomic.rmw.add (i32.const 0) (i32.const 1)))
      (br_if $l (local.tee $n (i32.sub (local.get $n) (i32.const 1))))))
  (func (export "get") (result i32) (i32.atomic.load (i32.const 0))))"""


def run(lib, engine, nthreads: int, k: int):
    module = lib.Module(engine, WAT)
    mem = lib.SharedMemory(engine, lib.MemoryType(lib.Limits(1, 1), shared=True))

    errors = []

    def work():
        try:
            store = lib.Store(engine)
            lib.Instance(store, module, [mem]).exports(store)["inc"](store, k)
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(nthreads)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    if errors:
        raise errors[0]
    store = lib.Store(engine)
    return elapsed, lib.Instance(store, module, [mem]).exports(store)["get"](store)


def main() -> None:
    nthreads = int(sys.argv[1]) if len(sys.argv) > 1 else 4
    k = int(sys.argv[2]) if len(sys.argv) > 2 else 20000
    engines = []
    for tier in ("interp", "llvm"):
        config = wf.Config()
        config.strategy = tier
        engines.append((f"wasmforge {tier}", wf, wf.Engine(config)))
    try:
        import wasmtime
        config = wasmtime.Config()
        config.wasm_threads = True
        config.shared_memory = True
        engines.append(("wasmtime-py", wasmtime, wasmtime.Engine(config)))
    except ImportError:
        pass
    for name, lib, engine in engines:
        try:
            elapsed, count = run(lib, engine, nthreads, k)
        except TypeError as exc:
            # wasmtime-py 50 cannot pass a SharedMemory as an import (its _as_extern builds
            # the extern union from the wrong pointer type).
            print(f"{name:16} cannot run: {exc}")
            continue
        print(f"{name:16} {elapsed:8.3f} s  count {count} (expected {nthreads * k})")


if __name__ == "__main__":
    main()
