"""The quick compiler (llvm/quick) against LLVM's baseline and O2 code on the corpus, in
process: CPU seconds to compile each program (IR generation + LLVM, or the quick compiler)
and CPU seconds of the run on the code each makes (no tier-up: the code measured is the code
compiled).  A phase figure (in-process), not the whole-process headline (harness.py).

    python benchmarks/bench_quick.py [--size small] [--programs fib,qsort] [--modes quick,baseline,o2]
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import pathlib
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "src"))

from wasmforge import Config, Engine, ExitTrap, Linker, Module, Store, WasiConfig  # noqa: E402
from wasmforge.llvm import compiler, loader, quick  # noqa: E402
from wasmforge.llvm.codegen import ModuleCompiler  # noqa: E402

BENCH = pathlib.Path(__file__).resolve().parent.parent.parent / "shared" / "bench"
if not BENCH.exists():
    BENCH = pathlib.Path("/work/shared/bench")


def _no_tier_up(self, store_key):
    """Keep the code measured in place: the function table holds it, nothing replaces it."""
    self.tier = "baseline"
    self.lazy_table = (ctypes.c_void_p * max(len(self.func_addrs), 1))(*self.func_addrs)


def run(mode: str, name: str, entry: dict, size: str) -> tuple:
    os.environ["WASMFORGE_CACHE_DIR"] = tempfile.mkdtemp()
    os.environ["WASMFORGE_LLVM_BASELINE"] = "0" if mode == "o2" else "1"
    os.environ["WASMFORGE_LLVM_QUICK"] = "1" if mode == "quick" else "0"
    config = Config()
    config.strategy = "llvm"
    engine = Engine(config)
    binary = (BENCH / entry["wasm"]).read_bytes()
    t0 = time.process_time()
    module = Module(engine, binary)
    code = module._compiled()
    t1 = time.process_time()
    # A module the quick compiler refuses gets LLVM's baseline code: not what "quick" measures.
    assert loader.is_image(code._object_code) == (mode == "quick"), (mode, name)
    case = entry["sizes"][size]
    linker = Linker(engine)
    linker.define_wasi()
    store = Store(engine)
    wasi = WasiConfig()
    wasi.argv = [name] + case["args"]
    out = pathlib.Path(os.environ["WASMFORGE_CACHE_DIR"]) / "out"
    wasi.stdout_file = str(out)
    store.set_wasi(wasi)
    ex = linker.instantiate(store, module).exports(store)
    t2 = time.process_time()
    try:
        ex["_start"](store)
    except ExitTrap:
        pass
    t3 = time.process_time()
    assert out.read_text() == case["stdout"], (mode, name)
    return t1 - t0, t3 - t2


def quick_only(entry: dict) -> float:
    """CPU seconds of the quick compiler alone (decoded module in, image out)."""
    config = Config()
    config.strategy = "interp"
    module = Module(Engine(config), (BENCH / entry["wasm"]).read_bytes())._data
    t0 = time.process_time()
    quick.compile_image(ModuleCompiler(module))
    return time.process_time() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", default="small")
    ap.add_argument("--programs", default="")
    ap.add_argument("--modes", default="quick,baseline,o2")
    args = ap.parse_args()
    compiler.CompiledModule._start_tier_up = _no_tier_up
    manifest = json.loads((BENCH / "manifest.json").read_text())
    names = args.programs.split(",") if args.programs else sorted(manifest["programs"])
    modes = args.modes.split(",")
    unknown = [n for n in names if n not in manifest["programs"]]
    unknown += [m for m in modes if m not in ("quick", "baseline", "o2")]
    if not unknown and any(args.size not in manifest["programs"][n]["sizes"] for n in names):
        unknown.append(args.size)
    if unknown:
        ap.error(f"unknown program, mode or size: {', '.join(unknown)}")
    print(f"{'program':10}" + "".join(f"{m + ' compile':>16}{m + ' run':>12}" for m in modes)
          + f"{'quick alone':>13}")
    for name in names:
        entry = manifest["programs"][name]
        row = f"{name:10}"
        for mode in modes:
            c, r = run(mode, name, entry, args.size)
            row += f"{c:16.3f}{r:12.3f}"
        row += f"{quick_only(entry):13.3f}"
        print(row, flush=True)


if __name__ == "__main__":
    main()
