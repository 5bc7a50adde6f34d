"""A bounded load test of ``wasmforge serve`` on loopback (docs/serve.md, "Measured"): starts
``wasmforge serve HANDLER --addr 127.0.0.1:0`` and sends N requests from C client threads
(``http.client``, one connection per request), a fraction of them to a route that traps;
prints throughput, p50/p99 latency, and checks every answer: each normal request must get
``200`` and ``1`` from the handler's request counter (a fresh instance), each faulty one 500::

    python benchmarks/bench_serve_load.py [-n 200] [-c 4] [--faults 0.1] [--tier interp]
        [tests/fixtures/componentize_js_http/handler.wasm.xz]

Loopback only, bounded in count; a benchmark, not a timed test.
"""

from __future__ import annotations

import argparse
import http.client
import lzma
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import List, Tuple

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "fixtures" / "componentize_js_http" / "handler.wasm.xz"


def one(port: int, path: str) -> Tuple[str, int, bytes, float]:
    t = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return path, resp.status, resp.read(), time.perf_counter() - t
    finally:
        conn.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("wasm", nargs="?", default=str(FIXTURE))
    ap.add_argument("-n", type=int, default=200)
    ap.add_argument("-c", type=int, default=4)
    ap.add_argument("--faults", type=float, default=0.1)
    ap.add_argument("--tier", default="interp")
    args = ap.parse_args()
    data = Path(args.wasm).read_bytes()
    if args.wasm.endswith(".xz"):
        data = lzma.decompress(data)
    with tempfile.NamedTemporaryFile(suffix=".wasm") as f:
        f.write(data)
        f.flush()
        env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
        proc = subprocess.Popen([sys.executable, "-m", "wasmforge", "serve", f.name, "--addr", "127.0.0.1:0",
                                 "--tier", args.tier, "--max-workers", str(args.c)],
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            line = proc.stderr.readline()
            port = int(line.rstrip().rstrip("/").rsplit(":", 1)[1])
            one(port, "/counter")                   # warm-up
            rng = random.Random(1)
            paths = ["/trap" if rng.random() < args.faults else "/counter" for _ in range(args.n)]
            t = time.perf_counter()
            with ThreadPoolExecutor(args.c) as pool:
                results: List[Tuple[str, int, bytes, float]] = list(pool.map(lambda p: one(port, p), paths))
            elapsed = time.perf_counter() - t
        finally:
            proc.terminate()
            proc.wait(60)
    wrong = [r for r in results if (r[1], r[2]) != ((200, b"1") if r[0] == "/counter" else (500, r[2]))]
    ok = [r[3] for r in results if r[0] == "/counter"]
    q = statistics.quantiles(ok, n=100)
    print(f"{args.tier} {Path(args.wasm).name}: {args.n} requests ({paths.count('/trap')} to a trapping route), "
          f"{args.c} clients: {args.n / elapsed:.1f} requests/s; normal requests p50 {q[49] * 1e3:.0f} ms, "
          f"p99 {q[98] * 1e3:.0f} ms; wrong answers: {len(wrong)}")


if __name__ == "__main__":
    main()
