"""``wasmforge.serve.ProxyApp`` (the ASGI application) and ``wasmforge serve`` (the command):
a componentize-py ``wasi:http/proxy`` handler (tests/fixtures/componentize_py_http), and a
componentize-js one with the same routes (tests/fixtures/componentize_js_http), answer
requests, each in a fresh instance (its global request counter is 1 every time), with
streamed bodies, exact status codes, headers and trailers; a handler that traps or never
answers gets a 500 for its own request only.

The ASGI tests call the application directly (no sockets); the command's tests start a real
server on 127.0.0.1 with a free port and talk to it with ``http.client``.  Both run on the
interp tier (the llvm tier compiles CPython for minutes with an empty cache): about 6 s to
load the component, then about 1-2 s per request on the shared machine.
"""

from __future__ import annotations

import asyncio
import http.client
import lzma
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

import wasmforge
from wasmforge.serve import ProxyApp, ServeError

from support import engine_for

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "componentize_py_http" / "handler.wasm.xz"
JS_FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "componentize_js_http" / "handler.wasm.xz"
SRC = Path(__file__).resolve().parent.parent.parent / "src"


def _unpacked(tmp_path_factory, fixture: Path, name: str) -> str:
    path = tmp_path_factory.mktemp(name) / "handler.wasm"
    path.write_bytes(lzma.decompress(fixture.read_bytes()))
    return str(path)


def _served(path: str):
    a = ProxyApp(path, engine=engine_for("interp"), max_workers=4)
    yield a
    a.close()


@pytest.fixture(scope="module")
def wasm_path(tmp_path_factory) -> str:
    return _unpacked(tmp_path_factory, FIXTURE, "serve")


@pytest.fixture(scope="module")
def app(wasm_path):
    yield from _served(wasm_path)


def call(app, method, path, body=(), headers=(), trailers=False, events=None):
    """Run one request through the ASGI app: (status, headers, body, trailers).  ``body`` is
    the request's chunks; ``events`` (a list) records receive/send in order."""
    chunks = list(body)
    sent: list = []
    events = events if events is not None else []

    async def receive():
        if chunks:
            data = chunks.pop(0)
            events.append(("receive", data))
            return {"type": "http.request", "body": data, "more_body": bool(chunks)}
        if not events or events[-1] != ("receive", b""):
            events.append(("receive", b""))
            return {"type": "http.request", "body": b"", "more_body": False}
        await asyncio.sleep(3600)       # the response is not over: no disconnect yet

    async def send(message):
        sent.append(message)
        events.append(("send", message["type"], message.get("body")))

    raw, _, query = path.partition("?")
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
             "scheme": "http", "path": raw, "raw_path": raw.encode(), "query_string": query.encode(),
             "headers": [(b"host", b"test.local")] + [(k.encode(), v) for k, v in headers],
             "server": ("127.0.0.1", 80), "extensions": {"http.response.trailers": {}} if trailers else {}}
    asyncio.run(asyncio.wait_for(app(scope, receive, send), 120))
    start = sent[0]
    assert start["type"] == "http.response.start"
    data = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    tr = [m for m in sent if m["type"] == "http.response.trailers"]
    return start["status"], list(start["headers"]), data, (tr[0]["headers"] if tr else None)


def test_every_request_gets_a_fresh_instance(app):
    assert [call(app, "GET", "/counter")[2] for _ in range(3)] == [b"1", b"1", b"1"]


def test_the_request_body_and_its_content_type_are_echoed(app):
    body = [b"a" * 5000, b"b" * 3, b"c" * 70000]
    status, headers, data, _ = call(app, "POST", "/echo", body, [("content-type", b"application/x-test")])
    assert status == 200
    assert headers == [(b"content-type", b"application/x-test")]
    assert data == b"".join(body)


def test_bodies_stream_both_ways(app):
    # The handler copies each chunk it reads to the response: the first response chunk is
    # sent before the last request chunk is received (neither body is buffered whole).
    events: list = []
    body = [b"x" * 1000, b"y" * 1000, b"z" * 1000]
    assert call(app, "PUT", "/echo", body, events=events)[2] == b"".join(body)
    first_send = next(i for i, e in enumerate(events) if e[:2] == ("send", "http.response.body") and e[2])
    last_receive = max(i for i, e in enumerate(events) if e == ("receive", b"z" * 1000))
    assert first_send < last_receive


def test_method_path_query_and_headers_reach_the_guest(app):
    status, _, data, _ = call(app, "DELETE", "/headers", headers=[("x-one", b"1"), ("X-Two", b"zwei")])
    assert status == 200
    assert data.decode().splitlines() == [
        "method: DELETE", "path: /headers", "host: test.local", "x-one: 1", "x-two: zwei"]


def test_the_status_code_is_the_guests(app):
    status, headers, data, _ = call(app, "GET", "/status/418")
    assert (status, headers, data) == (418, [(b"x-status", b"418")], b"")
    assert call(app, "GET", "/nowhere?a=b")[:3:2] == (404, b"not found: /nowhere?a=b")


def test_trailers_go_out_when_the_server_supports_them(app):
    status, _, data, trailers = call(app, "GET", "/trailers", trailers=True)
    assert (status, data, trailers) == (200, b"body then trailers", [(b"x-trailer", b"done")])
    assert call(app, "GET", "/trailers")[3] is None      # an ASGI server without the extension


def test_a_trapping_handler_gets_a_500_for_its_own_request_only(app):
    status, _, data, _ = call(app, "GET", "/trap")
    assert (status, data) == (500, b"Internal Server Error\n")
    assert call(app, "GET", "/counter")[2] == b"1"


def test_a_handler_that_never_answers_gets_a_500(app):
    assert call(app, "GET", "/noresponse")[0] == 500


def test_a_component_that_is_not_a_proxy_is_refused(tmp_path):
    path = tmp_path / "empty.wat"
    path.write_text("(component)")
    with pytest.raises(ServeError, match="does not export wasi:http/incoming-handler"):
        ProxyApp(str(path))


# -- the command line --------------------------------------------------------------------------

def wasmforge_cmd(*args):
    env = dict(os.environ, PYTHONPATH=str(SRC) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return [sys.executable, "-m", "wasmforge", *args], env


@pytest.fixture(scope="module")
def server(wasm_path):
    pytest.importorskip("uvicorn")
    cmd, env = wasmforge_cmd("serve", wasm_path, "--addr", "127.0.0.1:0", "--tier", "interp")
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stderr.readline()       # blocks until the app is loaded and listening
        assert line.startswith("Serving HTTP on http://127.0.0.1:"), line
        yield int(line.rstrip().rstrip("/").rsplit(":", 1)[1])
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def request(port, method, path, body=None, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.getheaders(), resp.read()
    finally:
        conn.close()


def test_the_command_serves_over_http(server):
    assert [request(server, "GET", "/counter")[2] for _ in range(2)] == [b"1", b"1"]
    status, headers, data = request(server, "POST", "/echo", b"hello over http", {"content-type": "text/x"})
    assert (status, data) == (200, b"hello over http")
    assert ("content-type", "text/x") in headers
    assert request(server, "GET", "/status/201")[0] == 201
    assert request(server, "GET", "/trap")[0] == 500
    assert request(server, "GET", "/counter")[2] == b"1"


def test_a_chunked_request_body_streams_through(server):
    def chunks():
        for i in range(5):
            yield b"%d" % i * 1000
    status, _, data = request(server, "POST", "/echo", chunks())     # http.client sends it chunked
    assert (status, data) == (200, b"".join(b"%d" % i * 1000 for i in range(5)))


@pytest.mark.parametrize("make, message", [
    (lambda p: None, "error: No such file or directory"),
    (lambda p: p.write_text("(module)"), "error:"),
    (lambda p: p.write_text("(component)"), "does not export wasi:http/incoming-handler"),
])
def test_a_bad_app_is_one_line_and_exit_1(tmp_path, make, message):
    path = tmp_path / "app.wat"
    make(path)
    cmd, env = wasmforge_cmd("serve", str(path), "--addr", "127.0.0.1:0")
    t = time.monotonic()
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 1
    assert len(r.stderr.strip().splitlines()) == 1 and message in r.stderr, r.stderr
    assert "Traceback" not in r.stderr
    assert time.monotonic() - t < 120


@pytest.mark.parametrize("option", [("--addr", "nowhere"), ("--allow-http", "host:port")])
def test_a_bad_address_is_a_usage_error(tmp_path, option):
    cmd, env = wasmforge_cmd("serve", "x.wasm", *option)
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "HOST" in r.stderr and option[0] in r.stderr


def test_fuel_past_the_stores_range_is_a_usage_error_not_a_500_per_request():
    # it served, and every request's Store.set_fuel raised (a 500 each, a ValueError logged)
    cmd, env = wasmforge_cmd("serve", "x.wasm", "--fuel", str(1 << 64))
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "--fuel" in r.stderr and "Traceback" not in r.stderr, r.stderr
    with pytest.raises(wasmforge.errors.ConfigError, match="fuel must be an integer"):
        ProxyApp(str(SRC.parent / "examples" / "serve" / "tiny.wasm"), fuel=1 << 64)


# -- limits per request -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def limited_component(wasm_path):
    """The handler for an engine with epoch interruption and fuel on (the limits' engine)."""
    engine = engine_for("interp", epoch_interruption=True, consume_fuel=True)
    return wasmforge.component.Component.from_file(engine, wasm_path)


def limited(component, **limits):
    return ProxyApp(component, **limits)


def warmed(app, path="/counter", tries=10):
    """``app`` after a request for ``path`` was answered 200 (within ``tries``): a process's
    first request translates the handler's code (2.8-3.1 s of CPU on the interp tier, 6.2-8 s
    wall at load ~10), which its deadline may cut short, leaving the rest to the next."""
    statuses = [call(app, "GET", path)[0]]
    while statuses[-1] != 200 and len(statuses) < tries:
        statuses.append(call(app, "GET", path)[0])
    assert statuses[-1] == 200, statuses
    return app


def test_a_handler_past_its_deadline_gets_a_500_at_the_deadline(limited_component):
    # warmed: the deadline measured is the loop's, and the /counter after it needs the time
    # of a warm request, not the rest of a first one's translation (unwarmed, at load 13 the
    # /counter got a 500 at its own deadline, and once the /loop's 500 came at 10.07 s)
    app = warmed(limited(limited_component, timeout=8.0))
    try:
        t = time.monotonic()
        status = call(app, "GET", "/loop")[0]
        took = time.monotonic() - t
        assert status == 500
        assert 8.0 <= took < 9.0, took          # the deadline, plus scheduling on a loaded machine
        assert call(app, "GET", "/counter")[2] == b"1"
    finally:
        app.close()


def test_a_request_made_while_the_ticker_owes_ticks_gets_its_whole_deadline(limited_component):
    # The ticker starved (a guest held the interpreter lock) and owes 120 s of ticks when a
    # request's store is made; they arrive right after.  They are time from before the
    # request: its 60 s deadline still counts from its own start (it was a 500 before).
    app = limited(limited_component, timeout=60.0)
    try:
        ticker = app._ticker
        ticker.stop()
        ticker.join()
        # (from an origin of 0: origin + 120 - origin is 119.99999... for some origins)
        ticker.origin = 0.0
        ticker.clock = lambda: 120.0
        made = app._instantiate

        def instantiate_then_catch_up(loaded=None, deadline=None, **kw):
            store_and_handle = made(loaded, deadline, **kw)
            ticker.catch_up()
            return store_and_handle
        app._instantiate = instantiate_then_catch_up
        assert call(app, "GET", "/counter")[:3:2] == (200, b"1")
        assert ticker.ticks == 12_000
    finally:
        app.close()


def test_a_memory_bomb_is_stopped_by_the_memory_limit(limited_component):
    app = limited(limited_component, memory_limit=256 << 20)
    try:
        assert call(app, "GET", "/alloc/1000")[2] == b"1000"
        assert call(app, "GET", f"/alloc/{1 << 30}")[0] == 500      # 1 GiB: MemoryError, a trap
        assert call(app, "GET", "/counter")[2] == b"1"
    finally:
        app.close()


def test_running_out_of_fuel_is_a_500(limited_component):
    app = limited(limited_component, fuel=10_000)
    try:
        assert call(app, "GET", "/counter")[0] == 500
    finally:
        app.close()


def test_past_the_workers_and_the_queue_a_request_gets_503(limited_component):
    app = limited(limited_component, max_workers=1, max_queue=0)
    try:
        async def both():
            first = asyncio.get_running_loop().run_in_executor(None, call, app, "GET", "/counter")
            while app.active == 0:
                await asyncio.sleep(0.01)
            second = await asyncio.get_running_loop().run_in_executor(None, call, app, "GET", "/counter")
            return await first, second
        first, second = asyncio.run(both())
        assert first[:3:2] == (200, b"1")
        assert second[:3:2] == (503, b"Service Unavailable\n")
    finally:
        app.close()


def test_limits_need_the_engine_settings(limited_component, wasm_path):
    engine = wasmforge.Engine()
    with pytest.raises(wasmforge.WasmtimeError, match="epoch_interruption"):
        ProxyApp(wasm_path, engine=engine, timeout=1.0)
    with pytest.raises(wasmforge.WasmtimeError, match="consume_fuel"):
        ProxyApp(wasm_path, engine=engine, fuel=1)


# -- outgoing requests ------------------------------------------------------------------------

class Upstream(BaseHTTPRequestHandler):
    def do_GET(self):
        data = b"upstream says hi to " + self.path.encode()
        self.send_response(203)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def upstream():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Upstream)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_a_guest_reaches_only_the_allowed_destinations(app, upstream):
    # the module's app allows nothing: the guest's handle() gets HTTP-request-denied
    assert call(app, "GET", f"/fetch/127.0.0.1:{upstream}/x")[:3:2] == (502, b"ErrorCode_HttpRequestDenied")
    allowed = ProxyApp(app.component, allow_http=[f"127.0.0.1:{upstream}"])
    try:
        status, _, data, _ = call(allowed, "GET", f"/fetch/127.0.0.1:{upstream}/path?q=1")
        assert (status, data) == (203, b"upstream says hi to /path?q=1")
        assert call(allowed, "GET", f"/fetch/localhost:{upstream}/x")[2] == b"ErrorCode_HttpRequestDenied"
    finally:
        allowed.close()


# -- the componentize-js handler ----------------------------------------------------------------

@pytest.fixture(scope="module")
def js_path(tmp_path_factory) -> str:
    return _unpacked(tmp_path_factory, JS_FIXTURE, "serve_js")


@pytest.fixture(scope="module")
def js_app(js_path):
    yield from _served(js_path)


def test_the_js_handler_gets_a_fresh_instance_every_time(js_app):
    assert [call(js_app, "GET", "/counter")[2] for _ in range(3)] == [b"1", b"1", b"1"]


def test_the_js_handler_echoes_streams_and_sets_status_headers_trailers(js_app):
    body = [b"j" * 3000, b"s" * 5000]
    status, headers, data, _ = call(js_app, "POST", "/echo", body, [("content-type", b"text/x-js")])
    assert (status, headers, data) == (200, [(b"content-type", b"text/x-js")], b"".join(body))
    assert call(js_app, "GET", "/status/404")[:2] == (404, [(b"x-status", b"404")])
    assert call(js_app, "GET", "/trailers", trailers=True)[2:] == (b"body then trailers", [(b"x-trailer", b"done")])
    assert call(js_app, "PATCH", "/headers", headers=[("x-a", b"b")])[2].decode().splitlines() == [
        "method: PATCH", "path: /headers", "host: test.local", "x-a: b"]


def test_a_throwing_js_handler_gets_a_500_for_its_own_request_only(js_app):
    assert call(js_app, "GET", "/trap")[:3:2] == (500, b"Internal Server Error\n")
    assert call(js_app, "GET", "/counter")[2] == b"1"


def test_the_command_serves_the_js_handler_over_http(js_path):
    pytest.importorskip("uvicorn")
    cmd, env = wasmforge_cmd("serve", js_path, "--addr", "127.0.0.1:0", "--tier", "interp")
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stderr.readline()
        assert line.startswith("Serving HTTP on http://127.0.0.1:"), line
        port = int(line.rstrip().rstrip("/").rsplit(":", 1)[1])
        assert [request(port, "GET", "/counter")[2] for _ in range(2)] == [b"1", b"1"]
        assert request(port, "POST", "/echo", b"js over http")[::2] == (200, b"js over http")
    finally:
        proc.terminate()
        proc.wait(30)
