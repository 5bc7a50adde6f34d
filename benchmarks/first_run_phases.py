"""Where a first run goes: one `wasmforge run` of a corpus program with an empty cache, its
phases timed by wrapping the functions that do them (Python import, decode, validate, IR
generation, LLVM parse/verify, optimisation passes, code generation + object loading).

    python benchmarks/first_run_phases.py fib [small]

Prints one JSON line of seconds per phase.  "whole run() call" is the `wasmforge run` command
itself (compile + instantiate + execute); what it holds besides "compile_module total",
decode and validate is instantiation and execution.  Wait a few seconds between runs: with
baseline-first compiling, a run leaves its optimised recompile finishing in the background.
"""
import json
import os
import sys
import tempfile
import time
from pathlib import Path

t_start = time.perf_counter()
os.environ["WASMFORGE_CACHE_DIR"] = tempfile.mkdtemp()
T = {}


def wrap(obj, name, label):
    orig = getattr(obj, name)

    def timed(*a, **k):
        t = time.perf_counter()
        try:
            return orig(*a, **k)
        finally:
            T[label] = T.get(label, 0) + time.perf_counter() - t
    setattr(obj, name, timed)


t0 = time.perf_counter()
import wasmforge.cli  # noqa: E402
T["import wasmforge"] = time.perf_counter() - t0
t0 = time.perf_counter()
import llvmlite.binding as llvm  # noqa: E402
T["import llvmlite"] = time.perf_counter() - t0
import wasmforge.binary.decode  # noqa: E402,F401
import wasmforge.valid.validate  # noqa: E402,F401
from wasmforge.llvm import codegen, compiler, jit, loader  # noqa: E402

wrap(sys.modules["wasmforge.binary.decode"], "decode_module", "decode")
wrap(sys.modules["wasmforge.valid.validate"], "validate", "validate")
for name in ("compile", "compile_entries", "compile_batch"):
    wrap(codegen.ModuleCompiler, name, "IR generation (Python)")
wrap(llvm, "parse_assembly", "LLVM parse")
wrap(llvm.ModuleRef, "verify", "LLVM verify")
wrap(llvm.ModulePassManager, "run", "LLVM opt passes")
wrap(llvm.ExecutionEngine, "finalize_object", "codegen (MC) + MCJIT load")
wrap(loader, "load", "our loader")
wrap(compiler, "compile_module", "compile_module total")

bench = Path(os.environ.get("WASMFORGE_BENCH", Path(__file__).resolve().parent.parent.parent
                            / "shared" / "bench"))
prog = sys.argv[1]
entry = json.loads((bench / "manifest.json").read_text())["programs"][prog]
args = entry["sizes"][sys.argv[2] if len(sys.argv) > 2 else "small"]["args"]
sys.argv = ["wasmforge", "run", str(bench / entry["wasm"]), *args]
t0 = time.perf_counter()
try:
    wasmforge.cli.main()
except SystemExit:
    pass
T["whole run() call"] = time.perf_counter() - t0
print(prog, json.dumps({k: round(v, 3) for k, v in T.items()}),
      "total (from script start)", round(time.perf_counter() - t_start, 3))
