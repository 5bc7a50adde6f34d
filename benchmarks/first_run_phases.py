"""Where a first run goes: one `wasmforge run` of a corpus program with an empty cache, its
phases timed by wrapping the functions that do them (Python import, decode, validate, IR
generation, LLVM parse/verify, optimisation passes, code generation + object loading).

    python benchmarks/first_run_phases.py fib [small]
    python benchmarks/first_run_phases.py --table fib,sha256,qsort [--size small] [--repeat 3]

The first form prints one JSON line per run: wall-clock seconds per phase (``wall``) and CPU
seconds of this process per phase (``cpu``; on a machine shared with other work the CPU
figures are the stable ones).  "whole run() call" is the `wasmforge run` command itself
(compile + instantiate + execute); what it holds besides "compile_module total", decode and
validate is instantiation, the CLI and the run of `_start`.

``--table`` runs the first form in a fresh process per program and repeat (each with an empty
cache folder), adds what the script cannot see from inside — the interpreter's start-up before
it and the process exit after it (the process's CPU from ``getrusage`` minus what the script
counted) — and prints a markdown table of the medians in milliseconds of CPU.  Between runs it
waits for the process group to end (with baseline-first compiling, a run may leave its
optimised recompile finishing in the background).
"""
import json
import os
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(os.environ.get("WASMFORGE_BENCH", Path(__file__).resolve().parent.parent.parent
                            / "shared" / "bench"))

# (label in the JSON, row label in the table), in the order a first run meets them
ROWS = [
    ("import wasmforge", "import wasmforge (CLI)"),
    ("import llvmlite", "import llvmlite"),
    ("decode", "decode"),
    ("validate", "validate"),
    ("IR generation (Python)", "IR generation (Python)"),
    ("LLVM parse", "LLVM parse"),
    ("LLVM verify", "LLVM verify"),
    ("LLVM opt passes", "LLVM passes (baseline: SROA + simplifycfg)"),
    ("codegen (MC) + MCJIT load", "code generation (MC) + MCJIT load"),
    ("rest of compile_module", "rest of compiling (binding, cache store, fork)"),
    ("rest of run()", "instantiate + run `_start` + CLI"),
    ("start-up + exit", "interpreter start-up + process exit"),
    ("process CPU", "**whole process, CPU**"),
]


def measure(prog: str, size: str) -> None:
    t_start = time.perf_counter()
    c_start = time.process_time()
    os.environ["WASMFORGE_CACHE_DIR"] = tempfile.mkdtemp()
    wall, cpu = {}, {}

    def wrap(obj, name, label):
        orig = getattr(obj, name)

        def timed(*a, **k):
            t, c = time.perf_counter(), time.process_time()
            try:
                return orig(*a, **k)
            finally:
                wall[label] = wall.get(label, 0) + time.perf_counter() - t
                cpu[label] = cpu.get(label, 0) + time.process_time() - c
        setattr(obj, name, timed)

    t0, c0 = time.perf_counter(), time.process_time()
    import wasmforge.cli
    wall["import wasmforge"], cpu["import wasmforge"] = time.perf_counter() - t0, time.process_time() - c0
    t0, c0 = time.perf_counter(), time.process_time()
    import llvmlite.binding as llvm
    wall["import llvmlite"], cpu["import llvmlite"] = time.perf_counter() - t0, time.process_time() - c0
    import wasmforge.binary.decode
    import wasmforge.valid.validate
    from wasmforge.llvm import codegen, compiler, loader

    wrap(sys.modules["wasmforge.binary.decode"], "decode_module", "decode")
    wrap(sys.modules["wasmforge.valid.validate"], "validate", "validate")
    for name in ("compile", "compile_entries", "compile_batch"):
        wrap(codegen.ModuleCompiler, name, "IR generation (Python)")
    wrap(llvm, "parse_assembly", "LLVM parse")
    wrap(llvm.ModuleRef, "verify", "LLVM verify")
    wrap(llvm.ModulePassManager, "run", "LLVM opt passes")
    wrap(llvm.ExecutionEngine, "finalize_object", "codegen (MC) + MCJIT load")
    wrap(loader, "load", "our loader")
    # (compile_cached calls compile_module by the name it imported: wrap what it calls)
    wrap(compiler.CompiledModule, "__init__", "compile_module total")

    entry = json.loads((BENCH / "manifest.json").read_text())["programs"][prog]
    args = entry["sizes"][size]["args"]
    sys.argv = ["wasmforge", "run", str(BENCH / entry["wasm"]), *args]
    out = os.dup(1)
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)                # the program's output is not ours to print
    t0, c0 = time.perf_counter(), time.process_time()
    try:
        wasmforge.cli.main()
    except SystemExit:
        pass
    wall["whole run() call"], cpu["whole run() call"] = time.perf_counter() - t0, time.process_time() - c0
    sys.stdout.flush()
    os.dup2(out, 1)
    for d in (wall, cpu):
        inner = sum(d.get(k, 0) for k in ("IR generation (Python)", "LLVM parse", "LLVM verify",
                                          "LLVM opt passes", "codegen (MC) + MCJIT load"))
        d["rest of compile_module"] = d.get("compile_module total", 0) - inner
        d["rest of run()"] = (d["whole run() call"] - d.get("compile_module total", 0)
                              - d.get("decode", 0) - d.get("validate", 0))
    print(json.dumps({"program": prog, "wall": {k: round(v, 4) for k, v in wall.items()},
                      "cpu": {k: round(v, 4) for k, v in cpu.items()},
                      "script wall": round(time.perf_counter() - t_start, 4),
                      "script cpu": round(time.process_time() - c_start, 4)}), flush=True)


def table(progs, size: str, repeat: int) -> None:
    import resource
    import statistics
    import subprocess
    from harness import _wait_group     # (this script's folder is on sys.path)
    cols = {}
    for p in progs:
        runs = []
        for _ in range(repeat):
            env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
            r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            proc = subprocess.Popen([sys.executable, __file__, p, size], stdout=subprocess.PIPE,
                                    text=True, env=env, start_new_session=True)
            out, _ = proc.communicate()
            r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            _wait_group(proc.pid)   # the recompile it may leave behind, before the next run
            data = json.loads(out.strip().splitlines()[-1])
            total = (r1.ru_utime + r1.ru_stime) - (r0.ru_utime + r0.ru_stime)
            data["cpu"]["process CPU"] = total
            data["cpu"]["start-up + exit"] = total - data["script cpu"]
            runs.append(data["cpu"])
        cols[p] = {k: statistics.median(r.get(k, 0) for r in runs) for k, _ in ROWS}
    print(f"| phase (ms of CPU, median of {repeat}) | " + " | ".join(progs) + " |")
    print("|---|" + "---|" * len(progs))
    for key, label in ROWS:
        cells = [f"{cols[p][key] * 1000:.0f}" for p in progs]
        if key == "process CPU":
            cells = [f"**{c}**" for c in cells]
        print(f"| {label} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    if sys.argv[1] == "--table":
        import argparse
        ap = argparse.ArgumentParser()
        ap.add_argument("--table", required=True, help="comma-separated corpus programs")
        ap.add_argument("--size", default="small")
        ap.add_argument("--repeat", type=int, default=3)
        a = ap.parse_args()
        table(a.table.split(","), a.size, a.repeat)
    else:
        measure(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "small")
