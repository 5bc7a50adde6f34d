"""A bounded load test of ``wasmforge serve`` on loopback (docs/serve.md, "Measured"): starts
``wasmforge serve HANDLER --addr 127.0.0.1:0`` and sends N requests from C client threads
(``http.client``, one connection per request), a fraction of them to faulty routes (by
default ``/trap``, whose handler throws); prints throughput, p50/p99 latency, the server's
resident memory after the warm-up and at the end, and checks every answer: each normal request
must get ``200`` and ``1`` from the handler's request counter (a fresh instance), each faulty
one 500 (and a deadline-exceeded one within the deadline plus the slack printed)::

    python benchmarks/bench_serve_load.py [-n 200] [-c 4] [--faults 0.1] [--tier interp]
        [tests/fixtures/componentize_js_http/handler.wasm.xz]
    python benchmarks/bench_serve_load.py -n 60 --fault-paths /trap,/loop,/alloc/1073741824 \
        --timeout 5 --max-memory 268435456 tests/fixtures/componentize_py_http/handler.wasm.xz

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


def rss(pid: int) -> int:
    """The resident memory of process ``pid`` in bytes (Linux)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def one(port: int, path: str) -> Tuple[str, int, bytes, float]:
    """(path, status, body, seconds); status 0 when the server closed the connection before a
    complete response (a response given up after it started)."""
    t = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return path, resp.status, resp.read(), time.perf_counter() - t
    except (OSError, http.client.HTTPException):
        return path, 0, b"", time.perf_counter() - t
    finally:
        conn.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("wasm", nargs="?", default=str(FIXTURE))
    ap.add_argument("-n", type=int, default=200)
    ap.add_argument("-c", type=int, default=4)
    ap.add_argument("--faults", type=float, default=0.1)
    ap.add_argument("--tier", default="interp")
    ap.add_argument("--fault-paths", default="/trap", help="comma-separated faulty routes, used in turn")
    ap.add_argument("--timeout", type=float, default=None, help="passed to wasmforge serve")
    ap.add_argument("--max-memory", type=int, default=None, help="passed to wasmforge serve")
    args = ap.parse_args()
    faults = args.fault_paths.split(",")
    extra = (["--timeout", str(args.timeout)] if args.timeout else []) + \
        (["--max-memory", str(args.max_memory)] if args.max_memory else [])
    data = Path(args.wasm).read_bytes()
    if args.wasm.endswith(".xz"):
        data = lzma.decompress(data)
    with tempfile.NamedTemporaryFile(suffix=".wasm") as f:
        f.write(data)
        f.flush()
        env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
        proc = subprocess.Popen([sys.executable, "-m", "wasmforge", "serve", f.name, "--addr", "127.0.0.1:0",
                                 "--tier", args.tier, "--max-workers", str(args.c), *extra],
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            line = proc.stderr.readline()
            port = int(line.rstrip().rstrip("/").rsplit(":", 1)[1])
            one(port, "/counter")                   # warm-up
            one(port, faults[0])
            rss0 = rss(proc.pid)
            rng = random.Random(1)
            paths = []
            for _ in range(args.n):
                paths.append(faults[len(paths) % len(faults)] if rng.random() < args.faults else "/counter")
            t = time.perf_counter()
            with ThreadPoolExecutor(args.c) as pool:
                results: List[Tuple[str, int, bytes, float]] = list(pool.map(lambda p: one(port, p), paths))
            elapsed = time.perf_counter() - t
            rss1 = rss(proc.pid)
        finally:
            proc.terminate()
            proc.wait(60)
    wrong = [r for r in results if (r[1], r[2]) != ((200, b"1") if r[0] == "/counter" else (500, r[2]))]
    ok = [r[3] for r in results if r[0] == "/counter"]
    q = statistics.quantiles(ok, n=100)
    counts = ", ".join(f"{paths.count(p)} {p}" for p in faults)
    print(f"{args.tier} {Path(args.wasm).parent.name}: {args.n} requests ({counts}), {args.c} clients: "
          f"{args.n / elapsed:.2f} requests/s; normal requests p50 {q[49] * 1e3:.0f} ms, p99 {q[98] * 1e3:.0f} ms; "
          f"wrong answers: {len(wrong)}; server RSS {rss0 >> 20} MiB after warm-up, {rss1 >> 20} MiB at the end")
    if args.timeout:
        late = [r[3] for r in results if r[0] == "/loop"]
        if late:
            print(f"deadline-exceeded requests: slowest answered {max(late):.3f} s after it was sent "
                  f"(deadline {args.timeout} s)")


if __name__ == "__main__":
    main()
