"""Serverless operation of ``wasmforge serve`` (docs/serve.md): several apps routed by path from
a manifest (``wasmforge.serve.Router``), structured access logs, the Prometheus ``/metrics``
endpoint, hot reload, precompiled artifacts and the compile cache, graceful shutdown.

The app is examples/serve/tiny.wasm, a 9 KB ``wasi:http/proxy`` component (tiny.wat): it
answers ``tiny-v1 <path>``, and traps, loops, sleeps 1.5 s or grows its memory when the path's
last segment is /trap, /loop, /slow or /grow; a request costs milliseconds.  The ASGI tests
call the router in-process; the command's tests run a real server on 127.0.0.1, port 0.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import weakref
from pathlib import Path

import pytest

import wasmforge
from wasmforge.component import Component
from wasmforge.serve import AppSpec, ProxyApp, Reloader, Router, WorkerPool, make_app, read_manifest

ROOT = Path(__file__).resolve().parent.parent.parent
EXAMPLES = ROOT / "examples" / "serve"
TINY = EXAMPLES / "tiny.wasm"
SRC = ROOT / "src"


def call(app, method, path, body=b""):
    """One request through an ASGI app: (status, headers as a dict, body)."""
    sent: list = []
    chunks = [body]

    async def receive():
        if chunks:
            return {"type": "http.request", "body": chunks.pop(), "more_body": False}
        await asyncio.sleep(3600)

    async def send(message):
        sent.append(message)

    raw, _, query = path.partition("?")
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
             "scheme": "http", "path": raw, "raw_path": raw.encode(), "query_string": query.encode(),
             "headers": [(b"host", b"test.local")], "server": ("127.0.0.1", 80), "extensions": {}}
    asyncio.run(asyncio.wait_for(app(scope, receive, send), 60))
    start = sent[0]
    data = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], {k.decode(): v.decode() for k, v in start["headers"]}, data


def record_stores(app) -> list:
    """Weak references to the store of each request ``app`` instantiates from now on (its
    ``_instantiate`` wrapped): a test then checks that no request's store outlives it."""
    stores: list = []
    real = app._instantiate

    def instantiate(*a, **kw):
        store, handle = real(*a, **kw)
        stores.append(weakref.ref(store))
        return store, handle
    app._instantiate = instantiate
    return stores


def spec(name, route, source=TINY, **limits):
    return AppSpec(name=name, source=Path(source), route=route, tier=limits.pop("tier", "interp"), **limits)


def tier_param(tier):
    """``interp``, and ``llvm`` when llvmlite is installed."""
    if tier == "llvm":
        pytest.importorskip("llvmlite")
    return tier


TIERS = ["interp", "llvm"]


@pytest.fixture
def access_lines():
    """The JSON objects written to the access log while the test runs."""
    lines: list = []

    class Collect(logging.Handler):
        def emit(self, record):
            lines.append(json.loads(record.getMessage()))

    logger = logging.getLogger("wasmforge.serve.access")
    handler = Collect()
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield lines
    logger.removeHandler(handler)
    logger.setLevel(old_level)


def parse_metrics(text):
    """The Prometheus text format: {(name, frozenset of labels): value}, checking each line."""
    samples = {}
    types = {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            types[name] = kind
            continue
        if line.startswith("# HELP ") or not line:
            continue
        m = re.fullmatch(r'([a-zA-Z_:][a-zA-Z0-9_:]*)\{((?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*)\} (\S+)', line)
        assert m is not None, f"not a sample line: {line!r}"
        labels = frozenset(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', m.group(2)))
        samples[(m.group(1), labels)] = float(m.group(3))
    for name, _ in samples:
        family = re.sub(r"_(bucket|sum|count)$", "", name) if name not in types else name
        assert family in types, f"{name} has no # TYPE line"
    return samples


def sample(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())))


@pytest.fixture
def two_apps():
    """/ -> "root" (no limits), /api -> "api" (16 MiB memory, 2 s timeout), one pool of 2+2."""
    pool = WorkerPool(2, 2)
    root = make_app(spec("root", "/"), pool)
    api = make_app(spec("api", "/api", max_memory=16 << 20, timeout=2.0), pool)
    router = Router([("/", root), ("/api", api)], pool=pool)
    yield router
    router.close()


# -- routing -------------------------------------------------------------------------------------

def test_the_longest_route_wins_and_the_app_sees_the_full_path(two_apps):
    assert call(two_apps, "GET", "/api/users?id=3")[2] == b"tiny-v1 /api/users?id=3"
    assert call(two_apps, "GET", "/api")[2] == b"tiny-v1 /api"
    # segment boundaries: /apix is not under /api; the memory limit tells the apps apart
    assert call(two_apps, "GET", "/apix/grow")[0] == 200
    assert call(two_apps, "GET", "/api/grow")[0] == 500
    assert two_apps.route("/apix").name == "root" and two_apps.route("/api/x").name == "api"


def test_an_unrouted_path_is_404(access_lines):
    pool = WorkerPool(1, 0)
    router = Router([("/only", make_app(spec("only", "/only"), pool))], pool=pool)
    try:
        assert call(router, "GET", "/elsewhere")[::2] == (404, b"Not Found\n")
        assert call(router, "GET", "/only/x")[2] == b"tiny-v1 /only/x"
    finally:
        router.close()
    assert [(r["app"], r["status"], r["outcome"]) for r in access_lines] == [(None, 404, "not-found"),
                                                                            ("only", 200, "ok")]


def test_the_example_manifest_is_served():
    router = Router.from_manifest(EXAMPLES / "apps.toml")
    try:
        assert [app.name for app in router.apps] == ["hello", "default"]
        assert call(router, "GET", "/hello/there")[2] == b"tiny-v1 /hello/there"
        assert call(router, "GET", "/elsewhere")[2] == b"tiny-v1 /elsewhere"
        assert call(router, "GET", "/hello/grow")[0] == 500      # [apps.hello] max_memory = 16 MiB
        assert call(router, "GET", "/grow")[0] == 200            # [apps.default] has no memory limit
        assert router.reloader is not None                        # [server] reload = true
    finally:
        router.close()


def test_apps_share_the_servers_workers_and_queue():
    # one worker, no queue: a request to one app fills the server, so another app's is refused
    pool = WorkerPool(1, 0)
    router = Router([("/a", make_app(spec("a", "/a"), pool)), ("/b", make_app(spec("b", "/b"), pool))], pool=pool)
    try:
        async def both():
            loop = asyncio.get_running_loop()
            slow = loop.run_in_executor(None, call, router, "GET", "/a/slow")
            while pool.active == 0:
                await asyncio.sleep(0.01)
            other = await loop.run_in_executor(None, call, router, "GET", "/b/x")
            return await slow, other
        slow, other = asyncio.run(both())
        assert slow[::2] == (200, b"tiny-v1 /a/slow")
        assert other[::2] == (503, b"Service Unavailable\n")
    finally:
        router.close()


@pytest.mark.parametrize("tier", TIERS)
def test_a_timeout_of_any_finite_length_is_served(tier):
    # 1e300 s: its epoch deadline is capped below 2**64 (on the llvm tier it wrapped around:
    # every request was interrupted at once)
    app = make_app(spec("long", "/", timeout=1e300, tier=tier_param(tier)))
    try:
        assert call(app, "GET", "/x")[::2] == (200, b"tiny-v1 /x")
    finally:
        app.close()


def test_an_infinite_timeout_is_refused():
    # (it was accepted, then every request failed with OverflowError)
    with pytest.raises(wasmforge.WasmtimeError, match="positive finite number"):
        make_app(spec("inf", "/", timeout=float("inf")))


# -- access log ----------------------------------------------------------------------------------

@pytest.mark.parametrize("tier", TIERS)
def test_every_request_is_one_json_line_with_its_outcome(access_lines, tier):
    tier = tier_param(tier)
    pool = WorkerPool(1, 0)
    # (the deadline is an app of its own: on the llvm tier a first request also compiles)
    apps = [("/", make_app(spec("main", "/", max_memory=16 << 20, tier=tier), pool)),
            ("/t", make_app(spec("deadline", "/t", timeout=1.0, tier=tier), pool)),
            ("/fuel", make_app(spec("fuel", "/fuel", fuel=2000, tier=tier), pool))]
    router = Router(apps, pool=pool)
    try:
        for path in ("/ok", "/x/trap", "/grow", "/t/loop", "/fuel/loop", "/big"):
            call(router, "GET", path)
    finally:
        router.close()
    # /grow fills the memory to its limit; /big is refused 64 MiB at once, its memory still
    # at one page: both are out of memory
    assert [(r["app"], r["path"], r["status"], r["outcome"]) for r in access_lines] == [
        ("main", "/ok", 200, "ok"), ("main", "/x/trap", 500, "trap"), ("main", "/grow", 500, "oom"),
        ("deadline", "/t/loop", 500, "timeout"), ("fuel", "/fuel/loop", 500, "fuel"), ("main", "/big", 500, "oom")]
    ok = access_lines[0]
    assert set(ok) == {"time", "app", "method", "path", "status", "bytes", "duration_ms", "instantiate_ms",
                       "outcome"}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", ok["time"])
    assert (ok["method"], ok["bytes"]) == ("GET", len(b"tiny-v1 /ok"))
    assert 0 < ok["instantiate_ms"] <= ok["duration_ms"]
    assert "unreachable" in access_lines[1]["error"]
    # the 1 s deadline (an asyncio timer may fire a millisecond early: 999.3 ms was seen)
    assert 990 <= access_lines[3]["duration_ms"] < 3000


# -- metrics -------------------------------------------------------------------------------------

def test_metrics_count_requests_outcomes_and_times(two_apps):
    for path in ("/a", "/b", "/api/x", "/api/x/trap", "/api/grow"):
        call(two_apps, "GET", path)
    status, headers, body = call(two_apps, "GET", "/metrics")
    assert status == 200 and headers["content-type"].startswith("text/plain; version=0.0.4")
    s = parse_metrics(body.decode())
    assert sample(s, "wasmforge_requests_total", app="root", status="200") == 2
    assert sample(s, "wasmforge_requests_total", app="api", status="200") == 1
    assert sample(s, "wasmforge_requests_total", app="api", status="500") == 2
    assert sample(s, "wasmforge_request_outcomes_total", app="api", outcome="trap") == 1
    assert sample(s, "wasmforge_request_outcomes_total", app="api", outcome="oom") == 1
    assert sample(s, "wasmforge_request_outcomes_total", app="root", outcome="timeout") == 0
    for name in ("wasmforge_request_duration_seconds", "wasmforge_instantiation_seconds"):
        buckets = sorted((float(dict(labels)["le"]), v) for (n, labels), v in s.items()
                         if n == name + "_bucket" and dict(labels)["app"] == "api")
        counts = [v for _, v in buckets]
        assert counts == sorted(counts) and buckets[-1] == (float("inf"), 3)    # cumulative
        assert sample(s, name + "_count", app="api") == 3
        assert sample(s, name + "_sum", app="api") > 0
    assert sample(s, "wasmforge_requests_in_flight", app="api") == 0
    # the scrape itself is not a request of any app
    assert sum(v for (n, _), v in s.items() if n == "wasmforge_requests_total") == 5


def test_the_in_flight_gauge_counts_a_running_request(two_apps):
    async def scrape_during_slow():
        loop = asyncio.get_running_loop()
        slow = loop.run_in_executor(None, call, two_apps, "GET", "/api/slow")
        while two_apps.pool.running == 0:
            await asyncio.sleep(0.01)
        scraped = await loop.run_in_executor(None, call, two_apps, "GET", "/metrics")
        await slow
        return scraped
    s = parse_metrics(asyncio.run(scrape_during_slow())[2].decode())
    assert sample(s, "wasmforge_requests_in_flight", app="api") == 1
    assert sample(s, "wasmforge_requests_in_flight", app="root") == 0


def test_the_metrics_path_is_configurable_and_can_be_off():
    pool = WorkerPool(1, 0)
    app = make_app(spec("a", "/"), pool)
    try:
        moved = Router([("/", app)], pool=None, metrics_path="/_stats")
        assert call(moved, "GET", "/metrics")[2] == b"tiny-v1 /metrics"      # the app's now
        assert b"wasmforge_requests_total" in call(moved, "GET", "/_stats")[2]
        off = Router([("/", app)], pool=None, metrics_path=None)
        assert call(off, "GET", "/_stats")[2] == b"tiny-v1 /_stats"
    finally:
        pool.shutdown(wait=True)


def test_the_exposition_escapes_label_values_and_parses_with_prometheus_client(two_apps):
    from wasmforge.serve import Metrics, RequestRecord
    m = Metrics(['we"ird\\app\n'])
    m.observe(RequestRecord('we"ird\\app\n', "GET", "/", 0.0, status=200, duration=0.003, instantiate=0.0004))
    text = m.render()
    assert 'app="we\\"ird\\\\app\\n"' in text
    parse_metrics(text)
    parser = pytest.importorskip("prometheus_client.parser")
    families = {f.name: f for f in parser.text_string_to_metric_families(text)}
    assert families["wasmforge_requests"].samples[0].labels == {"app": 'we"ird\\app\n', "status": "200"}
    assert families["wasmforge_instantiation_seconds"].type == "histogram"


# -- hot reload ----------------------------------------------------------------------------------

def version(tmp_path, name, marker: bytes) -> Path:
    """tiny.wasm answering ``marker`` (7 bytes) instead of ``tiny-v1``, written to tmp_path/name."""
    data = TINY.read_bytes()
    assert data.count(b"tiny-v1") == 1 and len(marker) == 7
    path = tmp_path / name
    path.write_bytes(data.replace(b"tiny-v1", marker))
    return path


def replace(path: Path, data: bytes) -> None:
    # as a deployment does: write beside, rename over (a new inode)
    tmp = path.with_suffix(".new")
    tmp.write_bytes(data)
    os.replace(tmp, path)


@pytest.mark.parametrize("tier", TIERS)
def test_a_changed_file_is_served_after_a_reload_and_requests_in_progress_finish_on_the_old(tmp_path, caplog, tier):
    # on the llvm tier the old version's machine code stays mapped while a request runs it
    tier = tier_param(tier)
    path = version(tmp_path, "app.wasm", b"tiny-v1")
    pool = WorkerPool(2, 0)
    app = make_app(spec("app", "/", source=path, tier=tier), pool)
    router = Router([("/", app)], pool=pool)
    reloader = Reloader(router.apps, on_reload=router.metrics.reloaded)      # polled by hand below
    try:
        assert reloader.poll() == []                                         # nothing changed yet
        async def reload_during_slow():
            loop = asyncio.get_running_loop()
            slow = loop.run_in_executor(None, call, router, "GET", "/slow")
            while pool.running == 0:
                await asyncio.sleep(0.01)
            replace(path, version(tmp_path, "v2.wasm", b"tiny-v2").read_bytes())
            assert reloader.poll() == [app]
            fresh = await loop.run_in_executor(None, call, router, "GET", "/x")
            return await slow, fresh
        slow, fresh = asyncio.run(reload_during_slow())
        assert slow[2] == b"tiny-v1 /slow"          # started before the reload: the old version
        assert fresh[2] == b"tiny-v2 /x"

        # a file that does not load: one error line, the last good version keeps serving
        caplog.clear()
        with caplog.at_level(logging.ERROR, logger="wasmforge.serve"):
            replace(path, b"\0asm garbage")
            assert reloader.poll() == []
        errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
        assert len(errors) == 1 and "\n" not in errors[0], errors
        assert str(path) in errors[0] and "not reloaded, still serving the version loaded before" in errors[0]
        assert call(router, "GET", "/y")[2] == b"tiny-v2 /y"
        assert reloader.poll() == []                # not retried until the file changes again

        replace(path, version(tmp_path, "v3.wasm", b"tiny-v3").read_bytes())
        assert reloader.poll() == [app]
        assert call(router, "GET", "/z")[2] == b"tiny-v3 /z"
        s = parse_metrics(call(router, "GET", "/metrics")[2].decode())
        assert sample(s, "wasmforge_reloads_total", app="app", result="ok") == 2
        assert sample(s, "wasmforge_reloads_total", app="app", result="failed") == 1
    finally:
        router.close()


def test_the_reloader_thread_notices_a_change_by_itself(tmp_path):
    path = version(tmp_path, "app.wasm", b"tiny-v1")
    pool = WorkerPool(1, 0)
    router = Router([("/", make_app(spec("app", "/", source=path), pool))], pool=pool, reload_interval=0.05)
    try:
        assert call(router, "GET", "/")[2] == b"tiny-v1 /"
        replace(path, version(tmp_path, "v2.wasm", b"tiny-v2").read_bytes())
        deadline = time.monotonic() + 30
        while call(router, "GET", "/")[2] != b"tiny-v2 /":
            assert time.monotonic() < deadline, "not reloaded within 30 s"
            time.sleep(0.05)
    finally:
        router.close()
    router.reloader.join(5)
    assert not router.reloader.is_alive()           # close() stops it


# -- artifacts and the compile cache -----------------------------------------------------------

def test_a_precompiled_component_artifact_is_served(tmp_path):
    # an artifact must be made with the settings the app's limits give its engine (here a
    # timeout: epoch interruption); Component.serialize() makes one
    config = wasmforge.Config()
    config.strategy = "interp"
    config.epoch_interruption = True
    artifact = tmp_path / "tiny.cwasm"
    artifact.write_bytes(Component.from_file(wasmforge.Engine(config), str(TINY)).serialize())
    app = make_app(spec("aot", "/", source=artifact, timeout=5.0, allow_precompiled=True))
    try:
        assert call(app, "GET", "/from-artifact")[2] == b"tiny-v1 /from-artifact"
    finally:
        app.close()
    # with no timeout the engine follows the artifact (epochs here: short requests then run inline)
    app = make_app(spec("aot", "/", source=artifact, allow_precompiled=True))
    try:
        assert app.engine.epoch_interruption and app.inline
        assert call(app, "GET", "/no-timeout")[2] == b"tiny-v1 /no-timeout"
    finally:
        app.close()


PROBE = """
import sys
sys.path.insert(0, sys.argv[1])
from test_ops import call, spec, TINY
from wasmforge.serve import make_app
app = make_app(spec("a", "/", tier="llvm"))
assert call(app, "GET", "/x")[2] == b"tiny-v1 /x"
app.close()
print("llvmlite" in sys.modules)
"""


def test_a_second_start_on_the_llvm_tier_does_not_compile(tmp_path):
    # the compile cache holds the component's core modules' code, loaded without LLVM: a
    # process that compiled imports llvmlite, one that found everything cached never does
    pytest.importorskip("llvmlite")
    env = dict(os.environ, WASMFORGE_CACHE_DIR=str(tmp_path / "cache"),
               PYTHONPATH=str(SRC) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    runs = [subprocess.run([sys.executable, "-c", PROBE, str(Path(__file__).parent)], env=env,
                           capture_output=True, text=True, timeout=300) for _ in range(2)]
    assert [r.stdout.strip() for r in runs] == ["True", "False"], [r.stderr[-2000:] for r in runs]


# -- the command line ----------------------------------------------------------------------------

def wasmforge_cmd(*args):
    env = dict(os.environ, PYTHONPATH=str(SRC) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return [sys.executable, "-m", "wasmforge", *args], env


def request(port, method, path, timeout=60):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def start(*args):
    pytest.importorskip("uvicorn")
    cmd, env = wasmforge_cmd("serve", "--addr", "127.0.0.1:0", *args)
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    line = proc.stderr.readline()
    if not line.startswith("Serving HTTP on http://127.0.0.1:"):
        proc.kill()
        raise AssertionError(line + proc.stderr.read())
    return proc, int(line.rstrip().rstrip("/").rsplit(":", 1)[1])


def wait_in_flight(port, app):
    """Until the server's in-flight gauge shows a request of ``app`` in progress."""
    deadline = time.monotonic() + 60
    while f'wasmforge_requests_in_flight{{app="{app}"}} 1' not in request(port, "GET", "/metrics")[1].decode():
        assert time.monotonic() < deadline, "the request never started"
        time.sleep(0.05)


def stop(proc):
    if proc.poll() is None:
        proc.kill()
    proc.wait()


def test_the_command_serves_a_manifest_logs_and_drains_on_sigterm(tmp_path):
    log = tmp_path / "access.log"
    proc, port = start("--config", str(EXAMPLES / "apps.toml"), "--access-log", str(log))
    try:
        assert request(port, "GET", "/hello/a") == (200, b"tiny-v1 /hello/a")
        assert request(port, "GET", "/b") == (200, b"tiny-v1 /b")
        status, body = request(port, "GET", "/metrics")
        assert status == 200 and 'wasmforge_requests_total{app="hello",status="200"} 1' in body.decode()

        result: list = []
        slow = threading.Thread(target=lambda: result.append(request(port, "GET", "/hello/slow")))
        slow.start()
        wait_in_flight(port, "hello")           # the request is in progress (it takes 1.5 s)
        proc.send_signal(signal.SIGTERM)
        slow.join(30)
        assert result == [(200, b"tiny-v1 /hello/slow")]
        assert proc.wait(30) == 0
        with pytest.raises(OSError):            # it no longer listens
            request(port, "GET", "/hello/a", timeout=5)
    finally:
        stop(proc)
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(r["app"], r["path"], r["status"]) for r in lines] == [
        ("hello", "/hello/a", 200), ("default", "/b", 200), ("hello", "/hello/slow", 200)]    # scrapes: not logged
    assert "Traceback" not in proc.stderr.read()


def test_ctrl_c_drains_too():
    proc, port = start(str(TINY), "--tier", "interp")
    try:
        result: list = []
        slow = threading.Thread(target=lambda: result.append(request(port, "GET", "/slow")))
        slow.start()
        wait_in_flight(port, "tiny")
        proc.send_signal(signal.SIGINT)
        slow.join(30)
        assert result == [(200, b"tiny-v1 /slow")]
        assert proc.wait(30) == 0
        assert "Traceback" not in proc.stderr.read()
    finally:
        stop(proc)


def test_a_request_past_the_drain_timeout_does_not_keep_the_server(tmp_path):
    proc, port = start(str(TINY), "--tier", "interp", "--drain-timeout", "0.5")
    try:
        outcome: list = []

        def endless():
            try:
                outcome.append(request(port, "GET", "/loop", timeout=30)[0])
            except (OSError, http.client.HTTPException) as exc:
                outcome.append(exc)
        client = threading.Thread(target=endless, daemon=True)
        client.start()
        wait_in_flight(port, "tiny")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0               # the endless guest is abandoned after 0.5 s
        assert "still running after the drain timeout" in proc.stderr.read()
        client.join(30)
        assert outcome and outcome[0] != 200, outcome   # abandoned: a 500 from uvicorn, or a closed connection
    finally:
        stop(proc)


def test_the_command_reloads_a_changed_app_with_reload(tmp_path):
    path = version(tmp_path, "app.wasm", b"tiny-v1")
    proc, port = start(str(path), "--tier", "interp", "--reload", "--access-log", "-")
    try:
        assert request(port, "GET", "/x") == (200, b"tiny-v1 /x")
        replace(path, version(tmp_path, "v2.wasm", b"tiny-v2").read_bytes())
        deadline = time.monotonic() + 30
        while request(port, "GET", "/x")[1] != b"tiny-v2 /x":
            assert time.monotonic() < deadline
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        err = proc.stderr.read()
        assert f"{path}: reloaded app 'app'" in err
        assert '"app":"app","method":"GET","path":"/x","status":200' in err      # --access-log -
    finally:
        stop(proc)


@pytest.mark.parametrize("text, expected", [
    ('[apps.a]\nsource = "tiny.wasm"\nroute = "/"\ntimout = 3\n', "apps.toml:4: error: [apps.a] key 'timout': unknown key"),
    ('[apps.a]\nsource = "missing.wasm"\nroute = "/"\n', "missing.wasm: error: No such file or directory (app 'a' of"),
    ('[apps.a]\nsource = "bad.wat"\nroute = "/"\n', "bad.wat:1:2: error:"),
    ('[apps.a]\nsource = "tiny.wasm"\nroute = "/"\ntimeout = inf\n',
     "apps.toml:4: error: [apps.a] key 'timeout': must be a finite number of seconds"),
])
def test_a_bad_manifest_or_app_is_one_line_and_exit_1(tmp_path, text, expected):
    shutil.copy(TINY, tmp_path / "tiny.wasm")
    (tmp_path / "bad.wat").write_text("(nonsense)")
    (tmp_path / "apps.toml").write_text(text)
    cmd, env = wasmforge_cmd("serve", "--config", str(tmp_path / "apps.toml"), "--addr", "127.0.0.1:0")
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 1, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and expected in r.stderr, r.stderr


def test_an_access_log_that_cannot_be_opened_is_one_line_and_exit_1(tmp_path):
    cmd, env = wasmforge_cmd("serve", str(TINY), "--tier", "interp", "--addr", "127.0.0.1:0",
                             "--access-log", str(tmp_path / "no" / "such" / "dir" / "access.log"))
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 1, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "access.log: error: cannot open the access log" in r.stderr


@pytest.mark.parametrize("args, message", [
    ([], "give either FILE or --config"),
    (["x.wasm", "--config", "apps.toml"], "give either FILE or --config"),
    (["--config", "apps.toml", "--timeout", "3"], "--timeout sets one app's limit"),
    (["x.wasm", "--metrics", "stats"], "expected a path starting with '/'"),
])
def test_option_mistakes_are_usage_errors(args, message):
    cmd, env = wasmforge_cmd("serve", *args)
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and message in r.stderr, r.stderr


def test_proxyapp_keeps_working_alone():
    # a ProxyApp without a router: its own pool, no observer; reload() from its file
    app = ProxyApp(str(TINY))
    try:
        assert call(app, "GET", "/solo")[2] == b"tiny-v1 /solo"
        before = app.component
        app.reload()
        assert app.component is not before and call(app, "GET", "/again")[2] == b"tiny-v1 /again"
    finally:
        app.close()
    assert read_manifest(EXAMPLES / "apps.toml").apps[0].source == TINY


_FREEZE_PROBE = """
import gc, sys
import uvicorn
def run(self, sockets=None):           # instead of serving: report the collector's state
    print("frozen", gc.get_freeze_count(), flush=True)
uvicorn.Server.run = run
from wasmforge.cli import main
main(["serve", "--tier", "interp", "--addr", "127.0.0.1:0", sys.argv[1]])
"""


def test_the_command_freezes_the_loaded_apps_for_the_collector():
    # In its own process `wasmforge serve` moves what loading made out of the collector's
    # reach (a componentize-py handler is hundreds of thousands of objects that every full
    # collection would scan again); in process it leaves a host's collector alone.
    pytest.importorskip("uvicorn")
    out = subprocess.run([sys.executable, "-c", _FREEZE_PROBE, str(TINY)], capture_output=True,
                         text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(Path(wasmforge.__file__).parent.parent)})
    assert out.returncode == 0, out.stderr
    frozen = int(out.stdout.split()[-1])
    assert frozen > 1000, out.stdout
