"""Run by tests/serve/test_ray.py as ``unshare -n python ray_cluster.py MANIFEST``: inside a
private network namespace (loopback only, brought up here), start a single-node Ray cluster
bounded in CPUs and object-store memory, deploy the apps of MANIFEST with
``wasmforge.serve.ray.deploy`` (the test's manifest: ``counter``, the componentize-js handler
with two replicas, on ``/``; ``tiny``, autoscaled, on ``/tiny``), send ``GET /counter`` until
both replicas of ``counter`` have answered (the ``x-wasmforge-replica`` header) or the request
budget is spent, and ``GET /tiny/x``, stop Ray, and print one JSON object with what it saw."""

from __future__ import annotations

import http.client
import json
import socket
import subprocess
import sys
import tempfile
import time

import ray
from ray import serve

from wasmforge.serve import load_manifest
from wasmforge.serve.ray import REPLICA_HEADER, deploy

MAX_REQUESTS = 40


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(port: int, path: str) -> tuple:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.getheader(REPLICA_HEADER), response.read().decode()
    finally:
        conn.close()


def main(manifest: str) -> None:
    # a new network namespace has its loopback down; nothing else is in it
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    report: dict = {"interfaces": socket.if_nameindex(), "answers": []}
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="ray-") as tmp:
        ray.init(num_cpus=2, object_store_memory=100 * 1024 * 1024, include_dashboard=False,
                 _temp_dir=tmp, log_to_driver=False, configure_logging=False)
        try:
            port = free_port()
            deploy(load_manifest(manifest), host="127.0.0.1", port=port, max_workers=2, max_queue=8)
            report["deploy_s"] = round(time.monotonic() - started, 1)
            replicas = set()
            for _ in range(MAX_REQUESTS):
                status, replica, body = get(port, "/counter")
                report["answers"].append([status, replica, body])
                replicas.add(replica)
                if len(replicas) == 2:
                    break
            report["tiny"] = list(get(port, "/tiny/x"))
            report["requests_s"] = round(time.monotonic() - started - report["deploy_s"], 1)
        finally:
            serve.shutdown()
            ray.shutdown()
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
