"""Per-request cost under ``wasmforge serve`` (docs/serve.md, "Measured"): the componentize-py
``wasi:http/proxy`` handler of the tests, served by ``wasmforge.serve.ProxyApp`` called
in-process (no sockets).  After two warm-up requests, N times: ``ProxyApp._instantiate()``
alone (a new Store and instance from the InstancePre; wall and CPU seconds), then one whole
request (``GET /counter``: instantiate, handle, response).  Medians are printed::

    python benchmarks/bench_serve.py --tier interp -n 20 [tests/fixtures/componentize_py_http/handler.wasm.xz]

Use a compile cache of its own (``WASMFORGE_CACHE_DIR``); the llvm tier's first run compiles
CPython (minutes on the shared machine), later runs load it from the cache.
"""

from __future__ import annotations

import argparse
import asyncio
import lzma
import statistics
import tempfile
import time
from pathlib import Path

import wasmforge
from wasmforge.serve import ProxyApp

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "fixtures" / "componentize_py_http" / "handler.wasm.xz"


def request(app: ProxyApp, path: str) -> list:
    sent: list = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)
    scope = {"type": "http", "method": "GET", "path": path, "raw_path": path.encode(), "query_string": b"",
             "headers": [], "scheme": "http"}
    asyncio.run(app(scope, receive, send))
    return sent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("wasm", nargs="?", default=str(FIXTURE))
    ap.add_argument("--tier", default="interp")
    ap.add_argument("-n", type=int, default=20)
    args = ap.parse_args()
    data = Path(args.wasm).read_bytes()
    if args.wasm.endswith(".xz"):
        data = lzma.decompress(data)
    with tempfile.NamedTemporaryFile(suffix=".wasm") as f:
        f.write(data)
        f.flush()
        config = wasmforge.Config()
        config.strategy = args.tier
        t = time.perf_counter()
        app = ProxyApp(f.name, engine=wasmforge.Engine(config))
        print(f"{args.tier}: load {time.perf_counter() - t:.2f} s", flush=True)
    for i in range(2):
        t = time.perf_counter()
        assert request(app, "/counter")[1]["body"] == b"1"
        print(f"warm-up request {i}: {time.perf_counter() - t:.2f} s", flush=True)
    wall, cpu, whole = [], [], []
    for _ in range(args.n):
        t, c = time.perf_counter(), time.process_time()
        app._instantiate()
        wall.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
        t = time.perf_counter()
        request(app, "/counter")
        whole.append(time.perf_counter() - t)
    med = statistics.median
    print(f"{args.tier}: instantiate median {med(wall) * 1e3:.1f} ms wall, {med(cpu) * 1e3:.1f} ms CPU; "
          f"whole request median {med(whole) * 1e3:.1f} ms wall (n={args.n})")
    app.close()


if __name__ == "__main__":
    main()
