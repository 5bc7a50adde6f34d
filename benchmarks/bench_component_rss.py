"""Resident memory over many instantiations of one wasi:http component (docs/serve.md,
"Memory"): a new ``Store`` per instance, as ``wasmforge serve`` makes per request, each
dropped at once; prints the resident memory after a warm-up of 5 instances and after N more,
and how many of the stores are still alive after ``gc.collect()``::

    python benchmarks/bench_component_rss.py [-n 200] [--tier interp]
        [tests/fixtures/componentize_py_http/handler.wasm.xz]
"""

from __future__ import annotations

import argparse
import gc
import lzma
import time
import weakref
from pathlib import Path
from typing import List

import wasmforge
from wasmforge import component as C

HANDLER = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "componentize_py_http" / "handler.wasm.xz"


def rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("component", nargs="?", default=str(HANDLER))
    ap.add_argument("-n", type=int, default=200)
    ap.add_argument("--tier", default="interp")
    args = ap.parse_args()
    data = Path(args.component).read_bytes()
    if args.component.endswith(".xz"):
        data = lzma.decompress(data)
    config = wasmforge.Config()
    config.strategy = args.tier
    engine = wasmforge.Engine(config)
    linker = C.Linker(engine)
    linker.add_wasip2()
    linker.add_wasi_http()
    pre = linker.instantiate_pre(C.Component(engine, data))
    refs: List["weakref.ref[wasmforge.Store]"] = []

    def one() -> None:
        store = wasmforge.Store(engine)
        store.set_wasi(wasmforge.WasiConfig())
        pre.instantiate(store)
        refs.append(weakref.ref(store))

    for _ in range(5):
        one()
    gc.collect()
    before, cpu = rss_mib(), time.process_time()
    for _ in range(args.n):
        one()
    gc.collect()
    after = rss_mib()
    alive = sum(r() is not None for r in refs)
    print(f"{args.n} instantiations ({args.tier}): RSS {before:.0f} -> {after:.0f} MiB "
          f"({(after - before) * 1024 / args.n:.0f} KiB each), stores alive {alive}/{len(refs)}, "
          f"{(time.process_time() - cpu) * 1000 / args.n:.1f} ms CPU each")


if __name__ == "__main__":
    main()
