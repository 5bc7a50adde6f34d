"""Run by tests/serve/test_ray.py as ``unshare -n python ray_cluster.py MANIFEST``: inside a
private network namespace (loopback only, brought up here), start a single-node Ray cluster
bounded in CPUs and object-store memory, and run ``wasmforge serve --ray --config MANIFEST``
against it (``RAY_ADDRESS``).  The test's manifest: ``counter``, the componentize-js handler
with two replicas, on ``/``; ``tiny``, autoscaled, on ``/tiny``.  Once the command says it
serves, send ``GET /counter`` until both replicas of ``counter`` have answered (the
``x-wasmforge-replica`` header) or the request budget is spent, and ``GET /tiny/x``; then
SIGTERM the command, stop Ray, and print one JSON object with what it saw."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time

import ray

MAX_REQUESTS = 40
READY = re.compile(r"Serving HTTP on http://127\.0\.0\.1:(\d+)/ \(Ray Serve\)")


def get(port: int, path: str) -> list:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return [response.status, response.getheader("x-wasmforge-replica"), response.read().decode()]
    finally:
        conn.close()


def wait_ready(log_path: str, proc: subprocess.Popen, deadline: float) -> int:
    while time.monotonic() < deadline:
        with open(log_path) as f:
            m = READY.search(f.read())
        if m is not None:
            return int(m.group(1))
        if proc.poll() is not None:
            break
        time.sleep(0.5)
    with open(log_path) as f:
        raise SystemExit(f"wasmforge serve --ray did not get ready (exit {proc.poll()}):\n{f.read()[-3000:]}")


def main(manifest: str) -> None:
    # a new network namespace has its loopback down; nothing else is in it
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    report: dict = {"interfaces": socket.if_nameindex(), "answers": []}
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="ray-") as tmp:
        context = ray.init(num_cpus=2, object_store_memory=100 * 1024 * 1024, include_dashboard=False,
                           _temp_dir=tmp, log_to_driver=False, configure_logging=False)
        log_path = os.path.join(tmp, "serve.err")
        env = dict(os.environ, RAY_ADDRESS=context.address_info["gcs_address"])
        try:
            with open(log_path, "w") as log:
                proc = subprocess.Popen([sys.executable, "-m", "wasmforge", "serve", "--ray", "--config", manifest,
                                         "--addr", "127.0.0.1:0", "--max-workers", "2"],
                                        env=env, stdout=log, stderr=log)
            try:
                port = wait_ready(log_path, proc, started + 300)
                report["deploy_s"] = round(time.monotonic() - started, 1)
                replicas = set()
                for _ in range(MAX_REQUESTS):
                    answer = get(port, "/counter")
                    report["answers"].append(answer)
                    replicas.add(answer[1])
                    if len(replicas) == 2:
                        break
                report["tiny"] = get(port, "/tiny/x")
                report["requests_s"] = round(time.monotonic() - started - report["deploy_s"], 1)
            finally:
                proc.send_signal(signal.SIGTERM)
                report["exit"] = proc.wait(timeout=120)
            with open(log_path) as f:
                report["serving_lines"] = [line for line in f.read().splitlines() if "Serving HTTP" in line]
        finally:
            ray.shutdown()
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
