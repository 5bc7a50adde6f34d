"""Fault isolation under concurrent load, small (docs/performance.md, "`wasmforge serve` under
load"; the 10,000-request run is ``benchmarks/bench_serve_load.py``): 40 requests from 4
threads at once through one app, 10% of them to handlers that trap, loop past the deadline or
grow their memory past the limit (examples/serve/tiny.wasm).  Every other request must get its
own answer, each faulty one a 500, the looping one at its deadline, and the app must go on
serving.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from wasmforge.serve import Router, WorkerPool, make_app

from serve.test_ops import TIERS, call, spec, tier_param

TIMEOUT = 3.0      # long enough that a normal request on a loaded 2-core machine stays under it
FAULTS = {5: "/api/trap", 15: "/api/loop", 25: "/api/grow", 35: "/api/trap"}


@pytest.mark.parametrize("tier", TIERS)
def test_faulty_requests_among_concurrent_ones_disturb_no_other(tier):
    pool = WorkerPool(4, 64)
    app = make_app(spec("iso", "/", tier=tier_param(tier), timeout=TIMEOUT, max_memory=16 << 20), pool)
    try:
        # On the llvm tier the first request compiles the handler's code (lazily, on first
        # use), inside its deadline; isolation is about the requests after that.
        call(app, "GET", "/warm-up")
        paths = [FAULTS.get(i, f"/api/hello/{i}?q={i}") for i in range(40)]

        def timed(path):
            t = time.monotonic()
            status, _, body = call(app, "GET", path)
            return path, status, body, time.monotonic() - t

        with ThreadPoolExecutor(4) as clients:
            results = list(clients.map(timed, paths))
        for path, status, body, took in results:
            if path in FAULTS.values():
                assert status == 500, (path, status, body)
                if path.endswith("/loop"):
                    # stopped by the deadline, not before it by much (epochs tick every 10 ms)
                    assert TIMEOUT - 0.5 <= took < TIMEOUT + 2.0, took
            else:
                # each answer is its own request's: the path and query it was sent
                assert (status, body) == (200, b"tiny-v1 " + path.encode()), (path, status, body)
        status, _, body = call(app, "GET", "/after")
        assert (status, body) == (200, b"tiny-v1 /after")
    finally:
        app.close()
        pool.shutdown(wait=True)


@pytest.mark.parametrize("tier", TIERS)
@pytest.mark.parametrize("shared_pool", [False, True])
def test_closing_waits_for_a_looping_call_only_until_its_deadline(tier, shared_pool):
    # close(wait=True) waits for the calls in progress; the epoch ticker must go on until
    # then, or a looping guest never reaches its deadline and close never returns.
    pool = WorkerPool(2, 2) if shared_pool else None
    app = make_app(spec("close", "/", tier=tier_param(tier), timeout=1.0), pool)
    closing = Router([("/", app)], pool=pool) if shared_pool else app
    call(app, "GET", "/warm-up")
    threading.Thread(target=call, args=(app, "GET", "/loop"), daemon=True).start()
    while app.pool.running == 0:
        time.sleep(0.01)
    closer = threading.Thread(target=closing.close, daemon=True)
    closer.start()
    closer.join(20)
    assert not closer.is_alive()
