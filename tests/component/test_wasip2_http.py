"""The ``wasi:http`` 0.2 host (``wasmforge.wasip2.http``): fields, incoming requests and their
streamed bodies, outgoing responses streamed to a sink with a bounded window, trailers,
content-length checks, and the outgoing handler's refusal.  The functions are called as a
component's imports would call them (typed from the vendored WIT); the componentize-py
handler that uses them end to end is in tests/serve/."""

from __future__ import annotations

import os
import socket
import threading
from concurrent.futures import Future
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import wasmforge
from wasmforge.cm.abi.resources import Resource
from wasmforge.cm.abi.values import Variant
from wasmforge.wasip2 import IMPLEMENTATIONS, http, instance_of, io, p2_ctx
from wasmforge.errors import Trap
from wasmforge.wasip2._wit import interface


#: ``ok`` of a ``result<_, E>`` whose error case may have no payload: tagged in wasmtime-py's mapping
OK = Variant("ok", None)


class Sink(http.ResponseSink):
    """Records what the response does; acknowledges each chunk at once unless ``hold``."""

    def __init__(self, hold: bool = False) -> None:
        self.log: list = []
        self.hold = hold
        self.unacked: list = []

    def start(self, status, headers):
        self.log.append(("start", status, headers))

    def push(self, data):
        self.log.append(("data", data))
        f: Future = Future()
        if self.hold:
            self.unacked.append(f)
        else:
            f.set_result(None)
        return f

    def finish(self, trailers):
        self.log.append(("finish", trailers))

    def fail(self, error):
        self.log.append(("fail", error))


def source(chunks, pulls):
    """A body source yielding ``chunks``, counting its pulls in ``pulls``."""
    chunks = list(chunks)

    def pull():
        pulls.append(1)
        f: Future = Future()
        data = chunks.pop(0) if chunks else b""
        f.set_result((data, bool(chunks)))
        return f
    return pull


@pytest.fixture
def host():
    store = wasmforge.Store(wasmforge.Engine())
    ctx = p2_ctx(store)
    types = instance_of(ctx, "wasi:http/types")
    streams = instance_of(ctx, "wasi:io/streams")

    def fn(name):
        inst = streams if name.startswith(("[method]input-stream", "[method]output-stream")) else types
        return inst.exports[name].fn
    return ctx, fn


def request(ctx, chunks=(), pulls=None, headers=(("content-type", b"text/plain"),), path="/p?q=1"):
    sig = http.Signal()
    body = http.IncomingBody(http.BodyInput(source(chunks, pulls if pulls is not None else []), sig), sig)
    req = http.IncomingRequest("PUT", path, "http", "example.com", list(headers), body)
    return http.push_incoming_request(ctx, req)


@pytest.mark.parametrize("iface", ["wasi:http/types", "wasi:http/outgoing-handler"])
def test_every_function_of_the_wit_is_implemented(iface):
    ctx = p2_ctx(wasmforge.Store(wasmforge.Engine()))
    assert set(IMPLEMENTATIONS[iface](ctx)) == set(interface(iface).functions)


def test_every_function_of_http_types_is_bound_one_at_a_time_to_its_store():
    ctx = p2_ctx(wasmforge.Store(wasmforge.Engine()))
    assert set(http.HTTP_TYPES) == set(interface("wasi:http/types").functions)
    whole = http.http_types(ctx)
    for name in http.HTTP_TYPES:
        one = http.http_types_function(ctx, name)
        assert one.__func__ is whole[name].__func__ and one.__self__.ctx is ctx
    assert http.http_types_function(ctx, "[method]fields.nope") is None
    # a store's call binds that function alone: no implementation of the interface is built
    fn = instance_of(ctx, "wasi:http/types").exports["[constructor]fields"].fn
    assert isinstance(fn(), Resource)
    assert "wasi:http/types" not in ctx.impls


def test_an_implementation_of_http_types_given_in_implementations_is_used(monkeypatch):
    # one replaced in IMPLEMENTATIONS, as any other interface's, is what a store calls (the
    # one-at-a-time binding is the default implementation's); a function it lacks traps
    monkeypatch.setitem(IMPLEMENTATIONS, "wasi:http/types", lambda ctx: {"[constructor]fields": lambda: "mine"})
    ctx = p2_ctx(wasmforge.Store(wasmforge.Engine()))
    exports = instance_of(ctx, "wasi:http/types").exports
    assert exports["[constructor]fields"].fn() == "mine"
    with pytest.raises(wasmforge.Trap, match=r"wasi:http/types\.\[method\]fields\.get is not implemented"):
        exports["[method]fields.get"].fn(None, "x")


def test_fields_are_lowercased_ordered_and_validated(host):
    _, fn = host
    f = fn("[static]fields.from-list")([("Content-Type", b"a"), ("x-a", b"1"), ("X-A", b"2")])
    assert isinstance(f, Resource)
    assert fn("[method]fields.get")(f, "x-a") == [b"1", b"2"]
    assert fn("[method]fields.has")(f, "CONTENT-TYPE") is True
    assert fn("[method]fields.set")(f, "x-a", [b"3"]) is None
    assert fn("[method]fields.append")(f, "x-b", b"4") is None
    assert fn("[method]fields.entries")(f) == [("content-type", b"a"), ("x-a", b"3"), ("x-b", b"4")]
    assert fn("[method]fields.delete")(f, "content-type") is None
    assert fn("[method]fields.entries")(f) == [("x-a", b"3"), ("x-b", b"4")]


@pytest.mark.parametrize("name, value, error", [
    ("bad name", b"v", "invalid-syntax"), ("x", b"a\nb", "invalid-syntax"), ("x", b"nul\0", "invalid-syntax"),
    ("Connection", b"close", "forbidden"), ("transfer-encoding", b"chunked", "forbidden"), ("host", b"h", "forbidden"),
])
def test_invalid_and_forbidden_fields_are_refused(host, name, value, error):
    _, fn = host
    assert fn("[static]fields.from-list")([(name, value)]) == Variant(error)
    f = fn("[constructor]fields")()
    assert fn("[method]fields.append")(f, name, value) == Variant(error)
    assert fn("[method]fields.entries")(f) == []


def test_an_incoming_request_reads_as_received_and_its_headers_are_immutable(host):
    ctx, fn = host
    req = request(ctx)
    assert fn("[method]incoming-request.method")(req) == Variant("put")
    assert fn("[method]incoming-request.path-with-query")(req) == "/p?q=1"
    assert fn("[method]incoming-request.scheme")(req) == Variant("HTTP")
    assert fn("[method]incoming-request.authority")(req) == "example.com"
    headers = fn("[method]incoming-request.headers")(req)
    assert fn("[method]fields.entries")(headers) == [("content-type", b"text/plain")]
    assert fn("[method]fields.set")(headers, "x", [b"y"]) == Variant("immutable")
    assert fn("[method]fields.clone")(headers) is not None


def test_an_unusual_method_is_other():
    assert http.method_value("PURGE") == Variant("other", "PURGE")
    assert http.method_value("get") == Variant("other", "get")       # methods are case-sensitive
    assert http.method_value("PATCH") == Variant("patch")


def test_the_request_body_is_pulled_chunk_by_chunk_as_the_guest_reads(host):
    ctx, fn = host
    pulls: list = []
    req = request(ctx, [b"abc", b"defg", b"h"], pulls)
    body = fn("[method]incoming-request.consume")(req)
    assert fn("[method]incoming-request.consume")(req) is None      # once only: err (no payload)
    stream = fn("[method]incoming-body.stream")(body)
    assert pulls == []                     # nothing fetched before the guest reads
    assert fn("[method]input-stream.blocking-read")(stream, 2) == b"ab"
    assert len(pulls) == 1
    assert fn("[method]input-stream.read")(stream, 100) == b"c"
    assert len(pulls) == 1                 # the buffered rest first
    assert fn("[method]input-stream.blocking-read")(stream, 100) == b"defg"
    assert fn("[method]input-stream.blocking-read")(stream, 100) == b"h"
    assert fn("[method]input-stream.blocking-read")(stream, 100) is None     # err(closed)
    assert len(pulls) == 3


def test_trailers_of_a_request_come_after_its_body_and_are_none(host):
    ctx, fn = host
    pulls: list = []
    req = request(ctx, [b"abc", b"def"], pulls)
    body = fn("[method]incoming-request.consume")(req)
    trailers = fn("[static]incoming-body.finish")(body)        # the unread body is drained
    pollable = fn("[method]future-trailers.subscribe")(trailers)
    ctx.get(pollable, io.Pollable).block()
    assert len(pulls) == 2
    # some(ok(ok(none))) in wasmtime-py's value mapping
    assert fn("[method]future-trailers.get")(trailers) == Variant("ok", None)
    assert fn("[method]future-trailers.get")(trailers) == Variant("err", None)


def test_a_body_larger_than_the_limit_fails_with_its_error_code(host):
    ctx, fn = host
    sig = http.Signal()
    stream_obj = http.BodyInput(source([b"x" * 10, b"y" * 10], []), sig, limit=15)
    stream = ctx.push(http._rt(ctx, "incoming-body"), http.IncomingBody(stream_obj, sig))
    s = fn("[method]incoming-body.stream")(stream)
    assert fn("[method]input-stream.blocking-read")(s, 100) == b"x" * 10
    err = fn("[method]input-stream.blocking-read")(s, 100)      # err(last-operation-failed(e))
    assert isinstance(err, Resource)
    assert fn("http-error-code")(err) == Variant("HTTP-request-body-size", 20)


def response(ctx, fn, headers=(), status=None):
    f = fn("[static]fields.from-list")(list(headers))
    resp = fn("[constructor]outgoing-response")(f)
    if status is not None:
        # a bare `result` is Variant("ok"/"err", None) in wasmtime-py's value mapping
        assert fn("[method]outgoing-response.set-status-code")(resp, status) == Variant("ok", None)
    return resp


def set_response(ctx, fn, sink, headers=()):
    """A response (with ``headers``) set on a new response-outparam going to ``sink``: its
    outgoing body."""
    out = http.push_response_outparam(ctx, http.ResponseOutparam(sink))
    resp = response(ctx, fn, headers)
    body = fn("[method]outgoing-response.body")(resp)
    fn("[static]response-outparam.set")(out, resp)
    return body


def test_a_response_streams_its_body_and_trailers_to_the_sink(host):
    ctx, fn = host
    sink = Sink()
    out = http.push_response_outparam(ctx, http.ResponseOutparam(sink))
    resp = response(ctx, fn, [("x-h", b"1")], 201)
    body = fn("[method]outgoing-response.body")(resp)
    assert fn("[method]outgoing-response.body")(resp) is None        # once only
    stream = fn("[method]outgoing-body.write")(body)
    assert fn("[method]output-stream.check-write")(stream) == http.WINDOW
    assert fn("[method]output-stream.write")(stream, b"early") == OK      # before the response is sent
    fn("[static]response-outparam.set")(out, resp)
    assert sink.log == [("start", 201, [("x-h", b"1")]), ("data", b"early")]
    assert fn("[method]output-stream.blocking-write-and-flush")(stream, b"more") == OK
    trailers = fn("[static]fields.from-list")([("x-t", b"done")])
    assert fn("[static]outgoing-body.finish")(body, trailers) is None
    assert sink.log[2:] == [("data", b"more"), ("finish", [("x-t", b"done")])]


def test_a_response_without_a_body_is_empty(host):
    ctx, fn = host
    sink = Sink()
    out = http.push_response_outparam(ctx, http.ResponseOutparam(sink))
    fn("[static]response-outparam.set")(out, response(ctx, fn, status=204))
    assert sink.log == [("start", 204, []), ("finish", None)]


def test_an_error_code_as_the_response_goes_to_the_sink(host):
    ctx, fn = host
    sink = Sink()
    out = http.push_response_outparam(ctx, http.ResponseOutparam(sink))
    fn("[static]response-outparam.set")(out, Variant("err", Variant("internal-error", "boom")))
    assert sink.log == [("fail", Variant("internal-error", "boom"))]


def test_the_window_of_unacknowledged_bytes_is_backpressure(host):
    ctx, fn = host
    sink = Sink(hold=True)
    body = set_response(ctx, fn, sink)
    stream = fn("[method]outgoing-body.write")(body)
    chunk = b"z" * (http.WINDOW // 2)
    assert fn("[method]output-stream.check-write")(stream) == http.WINDOW
    fn("[method]output-stream.write")(stream, chunk)
    fn("[method]output-stream.write")(stream, chunk)
    assert fn("[method]output-stream.check-write")(stream) == 0
    pollable = ctx.get(fn("[method]output-stream.subscribe")(stream), io.Pollable)
    assert not pollable.ready()
    sink.unacked.pop(0).set_result(None)            # the server sent the first chunk
    assert pollable.ready()
    assert fn("[method]output-stream.check-write")(stream) == http.WINDOW // 2


def test_a_blocking_write_waits_for_the_window_and_leaves_the_permit_a_check_write_would(host):
    # with room in the window it is written at once; a full window (a client that stops
    # reading) makes it wait until a chunk is acknowledged; what is left of the permit after
    # it is what check-write then write leave (a later write past it traps)
    ctx, fn = host
    sink = Sink(hold=True)
    body = set_response(ctx, fn, sink)
    stream = fn("[method]outgoing-body.write")(body)
    bwf = fn("[method]output-stream.blocking-write-and-flush")
    big = b"z" * (http.WINDOW - 100)
    assert fn("[method]output-stream.check-write")(stream) == http.WINDOW
    fn("[method]output-stream.write")(stream, big)
    assert bwf(stream, b"a" * 50) == OK                 # room for it: at once
    assert sink.log[-1] == ("data", b"a" * 50)
    fn("[method]output-stream.write")(stream, b"b" * 50)    # the rest of the permit
    with pytest.raises(Trap, match="exceeds the permit"):
        fn("[method]output-stream.write")(stream, b"c")
    done = []
    writer = threading.Thread(target=lambda: done.append(bwf(stream, b"late")))
    writer.start()
    writer.join(0.2)
    assert writer.is_alive() and len(sink.unacked) == 3     # the window is full: it waits
    sink.unacked.pop(0).set_result(None)                    # the big chunk was sent
    writer.join(10)
    assert done == [OK] and sink.log[-1] == ("data", b"late")
    with pytest.raises(Trap, match="exceeds the permit"):
        fn("[method]output-stream.write")(stream, b"c" * (http.WINDOW - 103))
    fn("[method]output-stream.write")(stream, b"c" * (http.WINDOW - 104))
    sink.unacked.pop(0).set_exception(ConnectionResetError("the client went away"))
    err = bwf(stream, b"more")
    assert err.tag == "err" and fn("http-error-code")(err.payload) == Variant("connection-terminated")


def test_a_chunk_the_sink_cannot_send_fails_the_next_write(host):
    ctx, fn = host
    sink = Sink(hold=True)
    body = set_response(ctx, fn, sink)
    stream = fn("[method]outgoing-body.write")(body)
    fn("[method]output-stream.check-write")(stream)
    fn("[method]output-stream.write")(stream, b"a")
    sink.unacked.pop(0).set_exception(ConnectionResetError("the client went away"))
    err = fn("[method]output-stream.write")(stream, b"b")      # err(last-operation-failed(e))
    assert err.tag == "err" and isinstance(err.payload, Resource)
    assert fn("http-error-code")(err.payload) == Variant("connection-terminated")


def test_content_length_is_enforced_both_ways(host):
    ctx, fn = host
    for extra, written in ((b"toolong", None), (b"", 3)):
        sink = Sink()
        body = set_response(ctx, fn, sink, [("content-length", b"5")])
        stream = fn("[method]outgoing-body.write")(body)
        fn("[method]output-stream.check-write")(stream)
        if extra:
            err = fn("[method]output-stream.write")(stream, extra)
            assert fn("http-error-code")(err.payload) == Variant("HTTP-response-body-size", 7)
        else:
            fn("[method]output-stream.write")(stream, b"abc")
            assert fn("[static]outgoing-body.finish")(body, None) == Variant("HTTP-response-body-size", written)
            assert sink.log[-1][0] == "fail"


def test_dropping_an_unfinished_body_aborts_the_response(host):
    ctx, fn = host
    sink = Sink()
    body = set_response(ctx, fn, sink)
    body.drop()
    assert sink.log[-1][0] == "fail"


def test_the_outgoing_handler_denies_every_request_by_default(host):
    ctx, fn = host
    req = fn("[constructor]outgoing-request")(fn("[constructor]fields")())
    assert fn("[method]outgoing-request.set-method")(req, Variant("other", "bad method")) == Variant("err", None)
    assert fn("[method]outgoing-request.set-authority")(req, "127.0.0.1:1") == Variant("ok", None)
    handle = instance_of(ctx, "wasi:http/outgoing-handler").exports["handle"].fn
    assert handle(req, None) == Variant("HTTP-request-denied")


class Upstream(BaseHTTPRequestHandler):
    """A loopback server: answers 201 with the method, path and body it received."""

    def do_POST(self):
        if self.headers.get("transfer-encoding") == "chunked":
            body = b""
            while True:
                size = int(self.rfile.readline().strip(), 16)
                chunk = self.rfile.read(size + 2)[:size]
                if not size:
                    break
                body += chunk
        else:
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
        data = b"%s %s %s %s" % (self.command.encode(), self.path.encode(), self.headers["x-up"].encode(), body)
        self.send_response(201)
        self.send_header("x-from", "upstream")
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


def outgoing(ctx, fn, authority, body=None):
    """Send a POST to ``authority`` through the outgoing handler: the future's result."""
    req = fn("[constructor]outgoing-request")(fn("[static]fields.from-list")([("x-up", b"yes")]))
    fn("[method]outgoing-request.set-method")(req, Variant("post"))
    fn("[method]outgoing-request.set-path-with-query")(req, "/up?x=1")
    fn("[method]outgoing-request.set-authority")(req, authority)
    b = fn("[method]outgoing-request.body")(req)
    handle = instance_of(ctx, "wasi:http/outgoing-handler").exports["handle"].fn
    future = handle(req, None)
    if not isinstance(future, Resource):
        return future
    stream = fn("[method]outgoing-body.write")(b)
    for chunk in body or []:
        fn("[method]output-stream.blocking-write-and-flush")(stream, chunk)
    fn("[static]outgoing-body.finish")(b, None)
    ctx.get(fn("[method]future-incoming-response.subscribe")(future), io.Pollable).block()
    # option<result<result<incoming-response, error-code>>>: the option is tagged in
    # wasmtime-py's mapping (its `none` and the inner result's bare `err` share a class)
    got = fn("[method]future-incoming-response.get")(future)
    assert got.tag == "some"
    assert fn("[method]future-incoming-response.get")(future) == Variant("some", None)   # taken
    return got.payload


def test_an_allowed_destination_is_reached_with_the_request_streamed(host, upstream):
    ctx, fn = host
    ctx.http_allow = [("127.0.0.1", upstream)]
    resp = outgoing(ctx, fn, f"127.0.0.1:{upstream}", [b"abc", b"def"])
    assert isinstance(resp, Resource), resp
    assert fn("[method]incoming-response.status")(resp) == 201
    headers = fn("[method]incoming-response.headers")(resp)
    assert fn("[method]fields.get")(headers, "x-from") == [b"upstream"]
    body = fn("[method]incoming-response.consume")(resp)
    stream = fn("[method]incoming-body.stream")(body)
    data = b""
    while True:
        chunk = fn("[method]input-stream.blocking-read")(stream, 1 << 16)
        if chunk is None:
            break
        data += chunk
    assert data == b"POST /up?x=1 yes abcdef"


def test_a_destination_off_the_allow_list_is_denied(host, upstream):
    ctx, fn = host
    ctx.http_allow = [("127.0.0.1", upstream + 1 if upstream < 65535 else upstream - 1)]
    assert outgoing(ctx, fn, f"127.0.0.1:{upstream}") == Variant("HTTP-request-denied")
    ctx.http_allow = [("localhost", None)]
    assert outgoing(ctx, fn, f"127.0.0.1:{upstream}") == Variant("HTTP-request-denied")


def test_a_refused_connection_is_its_error_code(host):
    ctx, fn = host
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()                               # nothing listens there now
    ctx.http_allow = [("127.0.0.1", None)]
    assert outgoing(ctx, fn, f"127.0.0.1:{port}") == Variant("connection-refused")


def test_authorities_are_split_and_matched():
    assert http.split_authority("example.com", 80) == ("example.com", 80)
    assert http.split_authority("[::1]:8080", 80) == ("::1", 8080)
    with pytest.raises(ValueError):
        http.split_authority("host:0", 80)
    assert http.allowed([("Example.COM", None)], "example.com", 443)
    assert not http.allowed([("example.com", 80)], "example.com", 8080)


def test_a_signal_makes_its_pipe_only_when_a_poll_needs_it():
    # A request makes two signals and most handlers never poll: no descriptors for those.
    # A notification given before the pipe exists still wakes the first poll, and one
    # given after a clear wakes the next.
    sig = http.Signal()
    sig.notify()
    assert sig._r == -1 and sig._w == -1
    flag = []
    p = sig.pollable(lambda: bool(flag))
    assert sig._r >= 0
    assert io._readable(sig.fd)                 # the early notification is in the pipe
    assert not p.ready() and not io._readable(sig.fd)   # cleared by the test
    flag.append(1)
    threading.Timer(0.05, sig.notify).start()
    assert io.poll([p]) == [0]
    fds = (sig._r, sig._w)
    sig.close()
    assert sig._r == -1 and sig.fd == -1        # closed: not made again
    for fd in fds:
        with pytest.raises(OSError):
            os.fstat(fd)
    unused = http.Signal()
    unused.notify()
    unused.clear()
    unused.close()
    assert unused.fd == -1


def test_a_speculative_call_is_stopped_before_its_request_goes_out(host, upstream):
    # wasmforge serve may give up an inline call and run it again: a request sent then would
    # go out twice, so the send raises WouldWait before anything reaches the destination
    ctx, fn = host
    ctx.http_allow = [("127.0.0.1", upstream)]
    hits: list = []
    real = Upstream.do_POST
    Upstream.do_POST = lambda self: hits.append(1) or real(self)        # type: ignore[method-assign]
    try:
        with io.speculative():
            with pytest.raises(io.WouldWait):
                outgoing(ctx, fn, f"127.0.0.1:{upstream}")
        # refused destinations are no effect: denied as before, speculative or not
        with io.speculative():
            assert outgoing(ctx, fn, f"127.0.0.2:{upstream}") == Variant("HTTP-request-denied")
        assert hits == []
        assert isinstance(outgoing(ctx, fn, f"127.0.0.1:{upstream}"), Resource)
        assert hits == [1]
    finally:
        Upstream.do_POST = real                                           # type: ignore[method-assign]


def test_a_speculative_wait_raises_and_a_ready_poll_does_not():
    with io.speculative():
        assert io.poll([io.always_ready()]) == [0]
        with pytest.raises(io.WouldWait):
            io.poll([io.timer(1 << 62)])
    assert io.poll([io.timer(0)]) == [0]


def test_a_resource_type_is_found_once_per_context_and_interface(host):
    ctx, fn = host
    fields = http._rt(ctx, "fields")
    assert http._rt(ctx, "fields") is fields
    assert http._rt(ctx, "pollable", "wasi:io/poll") is not fields
    # an entry of the same name from another interface is not taken for this one's
    ctx._rts["fields"] = ("wasi:io/poll", http._rt(ctx, "pollable", "wasi:io/poll"))
    assert http._rt(ctx, "fields") is fields
