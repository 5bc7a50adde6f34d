"""Single node against Ray Serve (docs/serve.md, "Scale-out on Ray"): the same component served
by ``wasmforge serve FILE`` and by ``wasmforge serve --ray FILE`` (one replica per ``--replicas``)
on a local Ray cluster, each loaded with the same requests from client threads, one after the
other in one run: throughput and latency percentiles, as the client sees them.

Ray binds the machine's external address unless it has none, so run it in a private network
namespace (root; the script brings its loopback up)::

    unshare -n python benchmarks/bench_serve_ray.py examples/serve/tiny.wasm -n 300 -c 4 --replicas 2

Both servers run the interp tier with ``--max-workers 2``; the Ray cluster gets ``num_cpus=2``.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import http.client
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
READY = re.compile(r"Serving HTTP on http://127\.0\.0\.1:(\d+)/")


def start(args: list, env: dict, log_path: str, timeout: float) -> tuple:
    with open(log_path, "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "wasmforge", "serve", *args], env=env, stdout=log,
                                stderr=log)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        m = READY.search(Path(log_path).read_text())
        if m:
            return proc, int(m.group(1))
        if proc.poll() is not None:
            break
        time.sleep(0.2)
    proc.kill()
    raise SystemExit(f"the server did not start:\n{Path(log_path).read_text()[-2000:]}")


def load(port: int, n: int, clients: int) -> dict:
    def one(i: int) -> tuple:
        t = time.perf_counter()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        try:
            conn.request("GET", f"/r/{i}")
            r = conn.getresponse()
            r.read()
            return r.status, r.getheader("x-wasmforge-replica"), time.perf_counter() - t
        finally:
            conn.close()

    for i in range(4):          # warm-up, not counted
        one(-i)
    t0 = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        results = list(pool.map(one, range(n)))
    wall = time.perf_counter() - t0
    latencies = sorted(r[2] for r in results)
    return {"ok": sum(r[0] == 200 for r in results), "rps": n / wall,
            "p50": latencies[len(latencies) // 2] * 1000, "p99": latencies[int(len(latencies) * 0.99) - 1] * 1000,
            "replicas": len({r[1] for r in results if r[1]}) or "-"}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("component")
    p.add_argument("-n", type=int, default=300, help="requests per server")
    p.add_argument("-c", type=int, default=4, help="client threads")
    p.add_argument("--replicas", type=int, default=2)
    a = p.parse_args()
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]))
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-ray-") as tmp:
        proc, port = start([a.component, "--tier", "interp", "--addr", "127.0.0.1:0", "--max-workers", "2"], env,
                           os.path.join(tmp, "single.log"), 120)
        try:
            rows.append(("wasmforge serve", load(port, a.n, a.c)))
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(60)
        manifest = Path(tmp) / "apps.toml"
        manifest.write_text(f'[apps.bench]\nsource = "{Path(a.component).resolve()}"\nroute = "/"\n'
                            f'tier = "interp"\nreplicas = {a.replicas}\nnum_cpus = {2 / a.replicas}\n')
        import ray  # the extra wasmforge[ray], needed for this half only
        context = ray.init(num_cpus=2, object_store_memory=100 * 1024 * 1024, include_dashboard=False,
                           _temp_dir=os.path.join(tmp, "ray"), log_to_driver=False, configure_logging=False)
        try:
            # a copy made after ray.init: the child needs what it set (the cluster's auth token)
            env = dict(os.environ, PYTHONPATH=env["PYTHONPATH"], RAY_ADDRESS=context.address_info["gcs_address"])
            proc, port = start(["--ray", "--config", str(manifest), "--addr", "127.0.0.1:0", "--max-workers", "2"],
                               env, os.path.join(tmp, "ray.log"), 300)
            try:
                rows.append((f"wasmforge serve --ray ({a.replicas} replicas)", load(port, a.n, a.c)))
            finally:
                proc.send_signal(signal.SIGTERM)
                proc.wait(120)
        finally:
            ray.shutdown()
    print(f"{Path(a.component).name}: {a.n} requests, {a.c} client threads, interp tier")
    print(f"{'server':40} {'ok':>5} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'replicas':>8}")
    for name, r in rows:
        print(f"{name:40} {r['ok']:>5} {r['rps']:>8.1f} {r['p50']:>8.1f} {r['p99']:>8.1f} {r['replicas']:>8}")
    if len(rows) == 2:
        print(f"Ray / single node throughput: {rows[1][1]['rps'] / rows[0][1]['rps']:.2f}x")


if __name__ == "__main__":
    main()
