"""Where a served request's CPU time goes (docs/performance.md, "`wasmforge serve` under load"):
``ProxyApp`` called in-process as an ASGI app (no sockets), one worker thread, after warm-up
requests; per request, the process's CPU time, the worker thread's (``ProxyApp._run``:
instantiation, the guest call and its wasi:http host calls) and the event loop thread's,
then ``ProxyApp._instantiate()`` alone (a new instance, and with recycling its snapshot), and
with recycling (the default; ``--no-recycle``: an instance per request) what putting a
request's sandbox back costs (``Sandbox.reset`` when it ends and ``Sandbox.renew_wasi``
when the next starts).  A phase figure, not what a client meets::

    python benchmarks/bench_serve_breakdown.py examples/serve/tiny.wasm -n 300
    python benchmarks/bench_serve_breakdown.py tests/fixtures/componentize_js_http/handler.wasm.xz -n 20 --freeze load
    python benchmarks/bench_serve_breakdown.py tests/fixtures/componentize_py_http/handler.wasm.xz -n 20

``--freeze load`` calls ``gc.freeze()`` after loading, ``warm`` after the warm-up requests
too, ``serve`` sets the collector up as ``wasmforge serve`` does (serve/_pool.py
``Collector``); ``--profile`` prints cProfile's top lines for the worker thread.  ``--epochs``
gives the engine epoch checks, as ``wasmforge serve`` has them, so that the short requests
run inline on the event loop's thread (docs/serve.md, "Where a request runs"; the worker
thread's figures are then those of the calls that ran there).  Use a warm compile cache
(``WASMFORGE_CACHE_DIR``) on the llvm tier.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import lzma
import os
import pstats
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Dict, List

import wasmforge
from wasmforge.component._recycle import Sandbox
from wasmforge.serve import ProxyApp
from wasmforge.serve._pool import Collector


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("wasm")
    ap.add_argument("--tier", default="llvm")
    ap.add_argument("-n", type=int, default=100)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--path", default=None, help="default: /hello for tiny.wasm, else /counter")
    ap.add_argument("--freeze", choices=["none", "load", "warm", "serve"], default="none")
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--epochs", action="store_true", help="an engine with epoch checks: short requests run inline")
    ap.add_argument("--no-recycle", action="store_true", help="a new instance per request (ProxyApp(recycle=False))")
    args = ap.parse_args()
    back: List[float] = []         # CPU time putting a sandbox back, per request
    for method in ("reset", "renew_wasi"):
        real_method = getattr(Sandbox, method)

        def put_back(self: Any, *a: Any, real: Any = real_method) -> Any:
            c = time.thread_time()
            try:
                return real(self, *a)
            finally:
                back.append(time.thread_time() - c)
        setattr(Sandbox, method, put_back)
    path = args.path or ("/hello" if Path(args.wasm).name.startswith("tiny") else "/counter")
    data = Path(args.wasm).read_bytes()
    if args.wasm.endswith(".xz"):
        data = lzma.decompress(data)
    with tempfile.NamedTemporaryFile(suffix=".wasm") as f:
        f.write(data)
        f.flush()
        config = wasmforge.Config()
        config.strategy = args.tier
        config.epoch_interruption = args.epochs
        app = ProxyApp(f.name, engine=wasmforge.Engine(config), max_workers=1, recycle=not args.no_recycle)
    scope = {"type": "http", "method": "GET", "path": path, "raw_path": path.encode(), "query_string": b"",
             "headers": [(b"host", b"bench")], "scheme": "http", "extensions": {}}
    sent: List[Dict[str, Any]] = []

    async def receive() -> Dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Dict[str, Any]) -> None:
        sent.append(message)

    async def requests(k: int) -> None:
        for _ in range(k):
            await app(scope, receive, send)

    if args.freeze == "load":
        gc.freeze()
    elif args.freeze == "serve":
        app.pool.collector = Collector()
        app.pool.collector.install()
    asyncio.run(requests(args.warmup))
    if args.freeze == "warm":
        gc.collect()
        gc.freeze()
    statuses = {m["status"] for m in sent if m["type"] == "http.response.start"}
    assert statuses == {200}, statuses

    back.clear()
    run = app._run
    worker: List[float] = []
    profile = cProfile.Profile() if args.profile else None

    def timed(*a: Any) -> None:
        c = time.thread_time()
        if profile is not None:
            profile.enable()
        try:
            run(*a)
        finally:
            if profile is not None:
                profile.disable()
            worker.append(time.thread_time() - c)
    app._run = timed            # type: ignore[method-assign]
    c, t, m = time.process_time(), time.perf_counter(), time.thread_time()
    asyncio.run(requests(args.n))
    process = (time.process_time() - c) / args.n
    wall = (time.perf_counter() - t) / args.n
    loop = (time.thread_time() - m) / args.n
    pairs = [a + b for a, b in zip(back[0::2], back[1::2])]
    # (the requests' counts: the instantiations timed alone below count too)
    recycled, fresh = app.recycled, app.fresh
    inst = []
    for _ in range(args.n):
        c = time.process_time()
        store, _ = app._instantiate()
        inst.append(time.process_time() - c)
        store.close()
    ms = 1e3
    workers = (f"worker thread median {statistics.median(worker) * ms:.2f} ms, mean {statistics.mean(worker) * ms:.2f} "
               f"ms, max {max(worker) * ms:.1f} ms" if worker else "no request in a worker thread")
    print(f"{Path(args.wasm).name} {args.tier} (n={args.n}, freeze {args.freeze}): per request process CPU "
          f"{process * ms:.2f} ms (wall {wall * ms:.1f} ms); {workers}; event loop thread "
          f"{loop * ms:.2f} ms; instantiation alone median {statistics.median(inst) * ms:.2f} ms; "
          f"{getattr(app, 'inlined', 0)} requests inline, {getattr(app, 'given_up', 0)} given up there")
    refusal = app._loaded.sandboxes.refusal
    print(f"  sandboxes: {recycled} requests in a recycled one, {fresh} in a new instance"
          + (f" (not recycled: {refusal})" if refusal is not None else "")
          + (f"; putting one back median {statistics.median(pairs) * ms:.3f} ms CPU (reset + WASI renewed)"
             if pairs else ""))
    names = {t.native_id: t.name for t in threading.enumerate()}
    for task in sorted(os.listdir("/proc/self/task"), key=int):       # Linux: every thread's CPU
        try:
            with open(f"/proc/self/task/{task}/stat") as st:
                fields = st.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks = int(fields[11]) + int(fields[12])
        print(f"  thread {names.get(int(task), '(native)')}: {ticks / os.sysconf('SC_CLK_TCK'):.2f} s CPU in all")
    app.close()
    if profile is not None:
        pstats.Stats(profile).sort_stats("tottime").print_stats(30)


if __name__ == "__main__":
    main()
