"""``wasmforge.serve.ray``: the apps of a manifest deployed as Ray Serve deployments.

The cluster test runs a whole single-node Ray cluster inside a private network namespace
(``unshare -n``: only a loopback interface, brought up by the helper; Ray otherwise binds the
machine's external address even when told 127.0.0.1), bounded in CPUs (2), object-store memory
(100 MiB) and time (the helper is killed, with everything it started, past its timeout).  In
it ``wasmforge serve --ray --config`` deploys the componentize-js HTTP handler with two replicas
and the 9 KB ``tiny`` component under ``/tiny`` with autoscaling bounds; the test checks that
both replicas of the handler answer (the ``x-wasmforge-replica`` header), each request in a
fresh instance (the counter is 1), that ``/tiny/x`` is routed to its app with the full path,
and that SIGTERM ends the command cleanly.  50-90 s on the loaded shared machine.
Needs root (``unshare -n``) and the extra ``wasmforge[ray]``; skipped without them.
"""

from __future__ import annotations

import asyncio
import json
import lzma
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import wasmforge
from wasmforge.component import Component
from wasmforge.serve import AppSpec, Autoscaling

serve_ray = pytest.importorskip("wasmforge.serve.ray", reason="needs the extra wasmforge[ray]")

ROOT = Path(__file__).resolve().parent.parent.parent
HELPER = Path(__file__).resolve().parent / "ray_cluster.py"
JS_FIXTURE = ROOT / "tests" / "fixtures" / "componentize_js_http" / "handler.wasm.xz"
TINY = ROOT / "examples" / "serve" / "tiny.wasm"
TIMEOUT = 420


def _can_unshare() -> bool:
    try:
        return subprocess.run(["unshare", "-n", "true"], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.mark.timeout(TIMEOUT + 60)
def test_two_replicas_answer_from_a_local_cluster_in_a_private_network(tmp_path):
    if not _can_unshare():
        pytest.skip("unshare -n is not permitted here (it needs root)")
    handler = tmp_path / "handler.wasm"
    handler.write_bytes(lzma.decompress(JS_FIXTURE.read_bytes()))
    manifest = tmp_path / "apps.toml"
    manifest.write_text(f"""
[apps.counter]
source = "{handler}"
route = "/"
tier = "interp"
replicas = 2
num_cpus = 0.5

[apps.tiny]
source = "{TINY}"
route = "/tiny"
tier = "interp"
num_cpus = 0.25
[apps.tiny.autoscaling]
min_replicas = 1
max_replicas = 2
""")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]),
               RAY_USAGE_STATS_ENABLED="0")
    proc = subprocess.Popen(["unshare", "-n", sys.executable, str(HELPER), str(manifest)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=TIMEOUT)
    finally:
        # Ray's processes are the helper's descendants, in its session: stop whatever is left
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()
    assert proc.returncode == 0, err[-4000:]
    report = json.loads(out.strip().splitlines()[-1])
    assert report["interfaces"] == [[1, "lo"]]          # the cluster saw no other network
    answers = report["answers"]
    replicas = {replica for _, replica, _ in answers}
    assert len(replicas) == 2, answers
    assert all(r.startswith("counter#") for r in replicas), replicas
    # every request, whichever replica took it, ran in a fresh instance
    assert all(status == 200 and body == "1" for status, _, body in answers), answers
    status, replica, body = report["tiny"]
    assert (status, body) == (200, "tiny-v1 /tiny/x") and replica.startswith("tiny#"), report["tiny"]
    # the command said where it served, once, and SIGTERM ended it cleanly
    assert len(report["serving_lines"]) == 1 and report["exit"] == 0, report


def _spec(**kw) -> AppSpec:
    return AppSpec(name="hello", source=TINY, route="/hello", **kw)


def test_deployment_options_come_from_the_manifest():
    assert serve_ray.deployment_options(_spec(replicas=3, num_cpus=0.5), max_workers=4) == {
        "name": "hello", "num_replicas": 3, "ray_actor_options": {"num_cpus": 0.5}, "max_ongoing_requests": 4}
    assert serve_ray.deployment_options(_spec(autoscaling=Autoscaling(1, 4))) == {
        "name": "hello", "autoscaling_config": {"min_replicas": 1, "max_replicas": 4}, "max_ongoing_requests": 8}


def test_two_apps_with_one_route_are_refused_before_ray_starts():
    with pytest.raises(serve_ray.ConfigError, match="two apps have the route '/hello'"):
        serve_ray.deploy([_spec(), AppSpec(name="other", source=TINY, route="/hello")])


def test_a_replica_app_serves_in_process_and_names_its_replica():
    # the ASGI application a replica runs, outside Ray: loaded at lifespan startup, the
    # replica header added to the guest's own headers
    app = serve_ray.ReplicaApp(_spec(tier="interp"), max_workers=1, max_queue=1)
    sent: list = []

    async def scenario() -> None:
        startup = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
        lifespan_sent: list = []
        gate = asyncio.Event()

        async def lifespan_receive():
            if len(startup) == 1:
                await gate.wait()
            return startup.pop(0)

        async def lifespan_send(message):
            lifespan_sent.append(message["type"])

        task = asyncio.create_task(app({"type": "lifespan"}, lifespan_receive, lifespan_send))
        while not lifespan_sent:
            await asyncio.sleep(0.01)
        assert lifespan_sent == ["lifespan.startup.complete"]

        async def receive():
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message):
            sent.append(message)

        scope = {"type": "http", "method": "GET", "path": "/hello/x", "raw_path": b"/hello/x", "query_string": b"",
                 "headers": [(b"host", b"test")], "scheme": "http"}
        await app(scope, receive, send)
        gate.set()
        await task
        assert lifespan_sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"]

    asyncio.run(asyncio.wait_for(scenario(), 120))
    start = sent[0]
    assert start["status"] == 200
    assert (b"x-wasmforge-replica", f"hello#{os.uname().nodename}:{os.getpid()}".encode()) in start["headers"]
    assert b"".join(m.get("body", b"") for m in sent[1:]) == b"tiny-v1 /hello/x"


def _serve(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]))
    return subprocess.run([sys.executable, "-m", "wasmforge", "serve", "--ray", *args], env=env,
                          capture_output=True, text=True, timeout=120)


def test_the_command_refuses_bad_input_in_one_line_before_starting_ray(tmp_path):
    done = _serve(str(tmp_path / "missing.wasm"))
    assert (done.returncode, done.stderr) == (1, f"{tmp_path / 'missing.wasm'}: error: No such file or directory\n")
    plugin = ROOT / "examples" / "plugins" / "plugins" / "upper.wasm"
    done = _serve(str(plugin))
    assert done.returncode == 1 and done.stderr.count("\n") == 1, done.stderr
    assert "not a wasi:http/proxy component" in done.stderr
    bad = tmp_path / "apps.toml"
    bad.write_text('[apps.x]\nsource = "x.wasm"\nroute = "/"\nreplicas = 0\n')
    done = _serve("--config", str(bad))
    assert (done.returncode, done.stderr) == (1, f"{bad}:4: error: [apps.x] key 'replicas': must be at least 1, not 0\n")
    # an artifact made without the epochs its timeout needs (it was taken here, by an engine
    # without the app's limits, and refused by every replica later)
    config = wasmforge.Config()
    config.strategy = "interp"
    artifact = tmp_path / "tiny.cwasm"
    artifact.write_bytes(Component.from_file(wasmforge.Engine(config), str(TINY)).serialize())
    done = _serve(str(artifact), "--allow-precompiled", "--tier", "interp", "--timeout", "5")
    assert done.returncode == 1 and done.stderr.count("\n") == 1, done.stderr
    assert "incompatible artifact: epoch_interruption" in done.stderr
    done = _serve("--reload", str(TINY))
    assert done.returncode == 2 and "--reload applies to the single-node server, not to --ray" in done.stderr
