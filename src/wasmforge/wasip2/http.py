"""``wasi:http`` 0.2: the HTTP types (fields, requests, responses, bodies, trailers) as host
objects, and the implementations of ``wasi:http/types`` and ``wasi:http/outgoing-handler``.

The objects here know nothing of a server.  An incoming request is built by the embedder
(``wasmforge.serve``) with a :class:`BodySource` that delivers its body in chunks, and a
:class:`ResponseOutparam` over a :class:`ResponseSink` that receives the response: its status
and headers when the guest calls ``response-outparam.set``, then each chunk the guest writes
to the body's output stream, then the trailers when it finishes the body.  Both directions
stream: the request body is pulled from the source one chunk at a time as the guest reads it,
and the response body has a bounded window of bytes sent but not yet acknowledged by the sink
(``check-write`` gives 0 past it, and its pollable waits until the sink catches up).

Both directions cross threads (the guest runs in a worker thread, the server in an event
loop): a :class:`Signal` (an :class:`io.Waker`) wakes a guest blocked in ``wasi:io/poll``
when a chunk arrives or the window opens, so waiting never spins.
"""

from __future__ import annotations

import http.client as http_client
import queue
import re
import socket
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

from ..cm.abi.resources import Resource
from ..cm.abi.values import Record, Variant
from . import io
from ._wit import interface
from .ctx import P2Ctx

Impl = Dict[str, Callable[..., Any]]
FieldList = List[Tuple[str, bytes]]

#: the header names a guest may not set (wasmtime's default list: hop-by-hop and framing
#: headers the server owns)
FORBIDDEN = frozenset({
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection",
    "transfer-encoding", "upgrade", "host", "http2-settings",
})
#: RFC 9110 5.1: a field name is a token
_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
#: the bytes of the response body sent to the sink but not yet acknowledged, at most
WINDOW = 1 << 20


def valid_name(name: str) -> bool:
    return bool(_TOKEN.match(name))


def valid_value(value: bytes) -> bool:
    """RFC 9110 5.5: visible characters, spaces and tabs, obs-text; no CR, LF, NUL or DEL."""
    return all(b >= 0x20 or b == 0x09 for b in value) and 0x7F not in value


class HeaderError(Exception):
    """A ``header-error``: ``invalid-syntax``, ``forbidden`` or ``immutable``."""

    def __init__(self, case: str) -> None:
        super().__init__(case)
        self.case = case


def error_code(case: str, payload: Any = None) -> Variant:
    """An ``error-code`` value (``internal-error(some("..."))`` is ``error_code("internal-error", "...")``)."""
    return Variant(case, payload)


class HttpIoError(io.IoError):
    """A stream's ``wasi:io/error`` that ``http-error-code`` maps to an ``error-code``."""

    def __init__(self, message: str, code: Variant) -> None:
        super().__init__(message)
        self.code = code


class Fields:
    """A ``fields`` (headers or trailers): (name, value) pairs in order, names lowercased (HTTP
    names are case-insensitive); immutable once it belongs to a request or response."""

    def __init__(self, entries: Sequence[Tuple[str, bytes]] = (), mutable: bool = True) -> None:
        self.entries: FieldList = [(k.lower(), bytes(v)) for k, v in entries]
        self.mutable = mutable

    @classmethod
    def checked(cls, entries: Sequence[Tuple[str, bytes]]) -> "Fields":
        for name, value in entries:
            _check(name, value)
        return cls(entries)

    def _mutate(self, name: str, values: Sequence[bytes]) -> str:
        if not self.mutable:
            raise HeaderError("immutable")
        for v in values:
            _check(name, v)
        if not values:
            _check(name, b"")
        return name.lower()

    def get(self, name: str) -> List[bytes]:
        key = name.lower()
        return [v for k, v in self.entries if k == key]

    def has(self, name: str) -> bool:
        key = name.lower()
        return any(k == key for k, _ in self.entries)

    def set(self, name: str, values: Sequence[bytes]) -> None:
        key = self._mutate(name, values)
        self.entries = [(k, v) for k, v in self.entries if k != key] + [(key, bytes(v)) for v in values]

    def delete(self, name: str) -> None:
        key = self._mutate(name, [])
        self.entries = [(k, v) for k, v in self.entries if k != key]

    def append(self, name: str, value: bytes) -> None:
        key = self._mutate(name, [value])
        self.entries.append((key, bytes(value)))

    def clone(self) -> "Fields":
        return Fields(self.entries)


def _check(name: str, value: bytes) -> None:
    if not valid_name(name) or not valid_value(value):
        raise HeaderError("invalid-syntax")
    if name.lower() in FORBIDDEN:
        raise HeaderError("forbidden")


class Signal(io.Waker):
    """A wakeup another thread gives a guest waiting in ``wasi:io/poll`` (:class:`io.Waker`):
    :meth:`pollable` tests its condition after clearing the waker, so a notification that
    comes after the test still wakes the poll (its pipe, made only when a poll first needs
    it: most handlers never poll their bodies' signals)."""

    def notify(self) -> None:
        self.wake()

    def pollable(self, condition: Callable[[], bool]) -> io.Pollable:
        def ready() -> bool:
            self.clear()
            return condition()
        return io.Pollable(ready, read_fd=self.fd)


#: ``pull()`` starts fetching the next chunk of a body: (bytes, whether more follow)
BodySource = Callable[[], "Future[Tuple[bytes, bool]]"]


class BodyInput(io.InputStream):
    """The ``input-stream`` of an incoming body: pulls one chunk at a time from its source,
    only when the guest reads (or subscribes) and nothing is buffered.  ``limit`` bounds the
    body's size (None: no bound)."""

    def __init__(self, pull: BodySource, signal: Signal, limit: Optional[int] = None) -> None:
        self._pull = pull
        self._signal = signal
        self._pending: "Optional[Future[Tuple[bytes, bool]]]" = None
        self._buf = b""
        self._pos = 0
        self.eof = False
        self.received = 0
        self.limit = limit
        self._error: Optional[HttpIoError] = None

    def _start(self) -> None:
        if self._pending is None and not self.eof and self._error is None:
            f = self._pull()
            self._pending = f
            f.add_done_callback(lambda _: self._signal.notify())

    def _collect(self, wait: bool) -> None:
        f = self._pending
        if f is None or not (wait or f.done()):
            return
        if not f.done():
            io.check_speculative("a wait for the request body")
        self._pending = None
        try:
            data, more = f.result()
        except Exception as exc:        # the client went away, or the source failed
            self._error = HttpIoError(str(exc) or type(exc).__name__, error_code("connection-terminated"))
            return
        self.received += len(data)
        if self.limit is not None and self.received > self.limit:
            self._error = HttpIoError(f"the request body exceeds the limit of {self.limit} bytes",
                                      error_code("HTTP-request-body-size", self.received))
            return
        self._buf = self._buf[self._pos:] + data
        self._pos = 0
        if not more:
            self.eof = True

    def available(self) -> bool:
        self._collect(False)
        return self._pos < len(self._buf) or self.eof or self._error is not None

    def subscribe(self) -> io.Pollable:
        if not self.available():
            self._start()
        return self._signal.pollable(self.available)

    def _read(self, n: int, blocking: bool) -> bytes:
        while True:
            self._collect(blocking)
            if self._pos < len(self._buf):
                out = self._buf[self._pos:self._pos + n]
                self._pos += len(out)
                return out
            if self._error is not None:
                raise io.StreamError(self._error)
            if self.eof:
                raise io.StreamError()
            if self._pending is None:
                self._start()
                continue
            return b""

    def drain(self, blocking: bool) -> bool:
        """Read and discard what is left; whether the end was reached (or the body failed)."""
        while not (self.eof and self._pos >= len(self._buf)) and self._error is None:
            self._collect(blocking)
            self._pos = len(self._buf)
            if self.eof or self._error is not None:
                break
            if self._pending is None:
                self._start()
            elif not blocking:
                return False
        return True


class FutureTrailers:
    """The trailers of an incoming body: ready when the body has been read to its end (the
    rest is read and discarded first).  HTTP/1.1 request trailers do not reach an ASGI
    application, so an incoming request's trailers are always none."""

    def __init__(self, body: BodyInput, signal: Signal) -> None:
        self.body = body
        self.signal = signal
        self.taken = False

    def ready(self) -> bool:
        return self.body.drain(False)

    def get(self) -> Any:
        if self.taken:
            return Variant("some", Variant("err", None))
        if not self.ready():
            return None
        self.taken = True
        err = self.body._error
        if err is not None:
            return Variant("some", Variant("ok", Variant("err", err.code)))
        return Variant("some", Variant("ok", Variant("ok", None)))


class IncomingBody:
    """An ``incoming-body``: its stream (taken once) and, when finished, its trailers."""

    def __init__(self, stream: BodyInput, signal: Signal) -> None:
        self.stream = stream
        self.signal = signal
        self.stream_taken = False


class IncomingRequest:
    """An ``incoming-request``, as the server received it."""

    def __init__(self, method: str, path_with_query: Optional[str], scheme: Optional[str],
                 authority: Optional[str], headers: Sequence[Tuple[str, bytes]], body: IncomingBody) -> None:
        self.method = method
        self.path_with_query = path_with_query
        self.scheme = scheme
        self.authority = authority
        self.headers = Fields(headers, mutable=False)
        self.body: Optional[IncomingBody] = body


class ResponseSink:
    """Where an outgoing response goes (the server's side).  Called from the guest's thread:
    ``start`` with the status and headers, ``push`` for each body chunk (a Future done when the
    chunk is sent, failed if it cannot be), ``finish`` with the trailers (None: none), or
    ``fail`` with an ``error-code`` (before ``start``: the guest answered with an error) or a
    message (after it: the body is incomplete, the response must be aborted)."""

    def start(self, status: int, headers: FieldList) -> None:
        raise NotImplementedError

    def push(self, data: bytes) -> "Future[None]":
        raise NotImplementedError

    def finish(self, trailers: Optional[FieldList]) -> None:
        raise NotImplementedError

    def fail(self, error: Any) -> None:
        raise NotImplementedError


class OutgoingBody:
    """An ``outgoing-body``: its stream (taken once) writes into the sink once the response is
    sent (chunks written before wait in the window); ``finish`` checks the declared
    content-length and sends the trailers."""

    def __init__(self, content_length: Optional[int], what: str = "response") -> None:
        self.content_length = content_length
        self.what = what
        self.sink: Optional[ResponseSink] = None
        self.signal = Signal()
        self.stream_taken = False
        self.written = 0
        self.finished = False
        self._held: List[bytes] = []
        #: how the body ended before the response was sent: ("finish", trailers) or ("fail", message)
        self._ended: Optional[Tuple[str, Any]] = None
        self._inflight = 0
        self._lock = threading.Lock()
        self._error: Optional[HttpIoError] = None

    def permit(self) -> int:
        if self._error is not None:
            raise io.StreamError(self._error)
        return max(0, WINDOW - self._inflight)

    def write(self, data: bytes) -> None:
        if self.finished:
            raise io.StreamError()
        if self._error is not None:
            raise io.StreamError(self._error)
        if self.content_length is not None and self.written + len(data) > self.content_length:
            code = error_code(f"HTTP-{self.what}-body-size", self.written + len(data))
            raise io.StreamError(HttpIoError(
                f"the body is longer than its content-length of {self.content_length} bytes", code))
        self.written += len(data)
        if not data:
            return
        with self._lock:
            self._inflight += len(data)
        if self.sink is None:
            self._held.append(data)
        else:
            self._send(data)

    def _send(self, data: bytes) -> None:
        assert self.sink is not None
        n = len(data)

        def sent(f: "Future[None]") -> None:
            with self._lock:
                self._inflight -= n
            if f.exception() is not None and self._error is None:
                self._error = HttpIoError(f"the response body could not be sent: {f.exception()}",
                                          error_code("connection-terminated"))
            self.signal.notify()
        self.sink.push(data).add_done_callback(sent)

    def attach(self, sink: ResponseSink) -> None:
        """The response was sent: its body goes to ``sink`` from now on."""
        self.sink = sink
        held, self._held = self._held, []
        for data in held:
            self._send(data)
        if self._ended is not None:
            how, arg = self._ended
            if how == "finish":
                sink.finish(arg)
            else:
                sink.fail(arg)

    def finish(self, trailers: Optional[Fields]) -> Optional[Variant]:
        """Close the body; an ``error-code`` when its length is not the declared one."""
        self.finished = True
        if self.content_length is not None and self.written != self.content_length:
            self.abort("the body is shorter than its content-length")
            return error_code(f"HTTP-{self.what}-body-size", self.written)
        entries = list(trailers.entries) if trailers is not None else None
        if self.sink is not None:
            self.sink.finish(entries)
        else:
            self._ended = ("finish", entries)
        return None

    def abort(self, message: str) -> None:
        """The body is incomplete (dropped unfinished, or too short)."""
        self.finished = True
        if self.sink is not None:
            self.sink.fail(message)
        else:
            self._ended = ("fail", message)

    def dropped(self) -> None:
        """The guest dropped its handle (P2Ctx calls this)."""
        if not self.finished:
            self.abort("the guest dropped the outgoing body without finishing it")


class BodyOutput(io.OutputStream):
    """The ``output-stream`` of an outgoing body: its permit is what is left of the window."""

    bounded = True

    def __init__(self, body: OutgoingBody) -> None:
        self.body = body

    def _permit(self) -> int:
        return self.body.permit()

    def _write(self, data: bytes) -> None:
        self.body.write(data)

    def blocking_write_and_flush(self, data: bytes) -> None:
        """As :meth:`io.OutputStream.blocking_write_and_flush`, the usual case (the window has
        room for all of ``data``: no wait) at once, without its permit asked and checked
        again (a small response's body is written so, once or twice)."""
        body = self.body
        n = len(data)
        if self.closed or n > io.BLOCKING_WRITE or body._error is not None or body._inflight + n > WINDOW:
            super().blocking_write_and_flush(data)
            return
        # what check-write then a write of all of it leave (the permit, then what is left)
        self._budget = WINDOW - body._inflight - n
        if n:
            self._put(bytes(data))

    def subscribe(self) -> io.Pollable:
        body = self.body
        return body.signal.pollable(lambda: body.finished or body._error is not None or body.permit() > 0)


def _content_length(headers: Fields) -> Optional[int]:
    values = headers.get("content-length")
    if len(values) == 1 and values[0].strip().isdigit():
        return int(values[0])
    return None


class OutgoingResponse:
    """An ``outgoing-response``: status (200 unless set), headers, and its body once asked for."""

    def __init__(self, headers: Fields) -> None:
        self.headers = headers
        self.status = 200
        self.body: Optional[OutgoingBody] = None
        self.body_taken = False


class ResponseOutparam:
    """A ``response-outparam``: sends the response (or an error) to the sink, once."""

    def __init__(self, sink: ResponseSink) -> None:
        self.sink = sink
        self.used = False

    def set(self, response: Any) -> None:
        self.used = True
        if isinstance(response, OutgoingResponse):
            response.headers.mutable = False
            self.sink.start(response.status, list(response.headers.entries))
            body = response.body
            if body is None:         # never asked for: empty
                self.sink.finish(None)
            else:
                body.attach(self.sink)
        else:
            self.sink.fail(response)


class OutgoingRequest:
    """An ``outgoing-request`` (built by the guest; sent by ``outgoing-handler.handle``)."""

    def __init__(self, headers: Fields) -> None:
        self.headers = headers
        self.method: Variant = Variant("get")
        self.path_with_query: Optional[str] = None
        self.scheme: Optional[Variant] = None
        self.authority: Optional[str] = None
        self.body: Optional[OutgoingBody] = None
        self.body_taken = False


class IncomingResponse:
    """An ``incoming-response`` (what ``outgoing-handler.handle`` receives)."""

    def __init__(self, status: int, headers: Sequence[Tuple[str, bytes]], body: IncomingBody) -> None:
        self.status = status
        self.headers = Fields(headers, mutable=False)
        self.body: Optional[IncomingBody] = body


class FutureIncomingResponse:
    """A ``future-incoming-response``: ``result`` is an :class:`IncomingResponse` or an
    ``error-code`` once it is known (``signal`` wakes a waiting guest then)."""

    def __init__(self) -> None:
        self.signal = Signal()
        self.result: Any = None
        self.done = False
        self.taken = False

    def resolve(self, result: Any) -> None:
        self.result, self.done = result, True
        self.signal.notify()


class RequestOptions:
    """A ``request-options``: the three timeouts (nanoseconds, None: the host's default)."""

    def __init__(self) -> None:
        self.connect_timeout: Optional[int] = None
        self.first_byte_timeout: Optional[int] = None
        self.between_bytes_timeout: Optional[int] = None


# -- the interface implementations -------------------------------------------------------------

def _rt(ctx: P2Ctx, name: str, iface: str = "wasi:http/types") -> Any:
    """The host resource type ``name`` of ``iface`` for ``ctx``, found once per context
    (``ctx._rts``, by name, each entry with its interface: a name two interfaces share is
    found again, never taken for the other's) and then kept: a request pushes and takes
    several handles."""
    got = ctx._rts.get(name)
    if got is not None and got[0] == iface:
        return got[1]
    rt = ctx.resource_type(ctx.types.resource(interface(iface).types[name]))
    ctx._rts[name] = (iface, rt)
    return rt


def take(ctx: P2Ctx, h: Resource, cls: Any) -> Any:
    """The object of the owned handle ``h`` the guest moved to the host, its handle dropped."""
    obj = ctx.get(h, cls)
    ctx.table.pop(h.rep, None)
    return obj


def push_incoming_request(ctx: P2Ctx, request: IncomingRequest) -> Resource:
    """A new owned ``incoming-request`` handle of ``ctx`` for ``request``."""
    return ctx.push(_rt(ctx, "incoming-request"), request)


def push_response_outparam(ctx: P2Ctx, out: ResponseOutparam) -> Resource:
    """A new owned ``response-outparam`` handle of ``ctx`` for ``out``."""
    return ctx.push(_rt(ctx, "response-outparam"), out)


_METHODS = ("get", "head", "post", "put", "delete", "connect", "options", "trace", "patch")


def method_value(method: str) -> Variant:
    """The WIT ``method`` of an HTTP method name."""
    low = method.lower()
    if low in _METHODS and method == method.upper():
        return Variant(low)
    return Variant("other", method)


def scheme_value(scheme: str) -> Variant:
    low = scheme.lower()
    if low == "http":
        return Variant("HTTP")
    if low == "https":
        return Variant("HTTPS")
    return Variant("other", scheme)


def _ok(v: Any = None) -> Variant:
    return Variant("ok", v)


def _err(v: Any = None) -> Variant:
    return Variant("err", v)


def _some(v: Any) -> Any:
    return None if v is None else Variant("some", v)


class _HttpTypes:
    """``wasi:http/types`` for one context: each function of the interface a method
    (:data:`HTTP_TYPES` names them).  A store binds the few a request calls, each on its first
    call (:func:`http_types_function`): building the interface's ~50 closures per store was
    most of the cost of binding it, for the ~6 a small handler calls."""

    __slots__ = ("ctx",)

    def __init__(self, ctx: P2Ctx) -> None:
        self.ctx = ctx

    def _push(self, name: str, obj: Any, iface: str = "wasi:http/types") -> Resource:
        ctx = self.ctx
        return ctx.push(_rt(ctx, name, iface), obj)

    # fields
    def _fields(self, h: Resource) -> Fields:
        return self.ctx.get(h, Fields)

    def _header_op(self, fn: Callable[..., None], h: Resource, *args: Any) -> Variant:
        try:
            fn(self._fields(h), *args)
        except HeaderError as e:
            return _err(Variant(e.case))
        return _ok()

    def fields_new(self) -> Resource:
        return self._push("fields", Fields())

    def fields_from_list(self, entries: List[Tuple[str, bytes]]) -> Variant:
        try:
            return _ok(self._push("fields", Fields.checked(entries)))
        except HeaderError as e:
            return _err(Variant(e.case))

    def fields_get(self, h: Resource, name: str) -> List[bytes]:
        return self._fields(h).get(name)

    def fields_has(self, h: Resource, name: str) -> bool:
        return self._fields(h).has(name)

    def fields_set(self, h: Resource, name: str, values: List[bytes]) -> Variant:
        return self._header_op(Fields.set, h, name, values)

    def fields_delete(self, h: Resource, name: str) -> Variant:
        return self._header_op(Fields.delete, h, name)

    def fields_append(self, h: Resource, name: str, value: bytes) -> Variant:
        return self._header_op(Fields.append, h, name, value)

    def fields_entries(self, h: Resource) -> FieldList:
        return list(self._fields(h).entries)

    def fields_clone(self, h: Resource) -> Resource:
        return self._push("fields", self._fields(h).clone())

    # incoming-request
    def _req(self, h: Resource) -> IncomingRequest:
        return self.ctx.get(h, IncomingRequest)

    def _take_body(self, r: Union[IncomingRequest, IncomingResponse]) -> Variant:
        """``consume``: the incoming body, once (an error after that)."""
        if r.body is None:
            return _err()
        body, r.body = r.body, None
        return _ok(self._push("incoming-body", body))

    def req_method(self, h: Resource) -> Variant:
        return method_value(self._req(h).method)

    def req_path_with_query(self, h: Resource) -> Optional[str]:
        return self._req(h).path_with_query

    def req_scheme(self, h: Resource) -> Optional[Variant]:
        # an option's payload that is itself a Variant is written tagged (see host.pythonic)
        s = self._req(h).scheme
        return None if s is None else Variant("some", scheme_value(s))

    def req_authority(self, h: Resource) -> Optional[str]:
        return self._req(h).authority

    def req_headers(self, h: Resource) -> Resource:
        return self._push("fields", self._req(h).headers)

    def req_consume(self, h: Resource) -> Variant:
        return self._take_body(self._req(h))

    # incoming-body
    def body_stream(self, h: Resource) -> Variant:
        b = self.ctx.get(h, IncomingBody)
        if b.stream_taken:
            return _err()
        b.stream_taken = True
        return _ok(self._push("input-stream", b.stream, "wasi:io/streams"))

    def body_finish(self, h: Resource) -> Resource:
        b = take(self.ctx, h, IncomingBody)
        return self._push("future-trailers", FutureTrailers(b.stream, b.signal))

    def trailers_subscribe(self, h: Resource) -> Resource:
        t = self.ctx.get(h, FutureTrailers)
        return self._push("pollable", t.signal.pollable(t.ready), "wasi:io/poll")

    def trailers_get(self, h: Resource) -> Any:
        return self.ctx.get(h, FutureTrailers).get()

    # outgoing-response
    def _resp(self, h: Resource) -> OutgoingResponse:
        return self.ctx.get(h, OutgoingResponse)

    def resp_new(self, headers: Resource) -> Resource:
        f = take(self.ctx, headers, Fields)
        f.mutable = False
        return self._push("outgoing-response", OutgoingResponse(f))

    def resp_status(self, h: Resource) -> int:
        return self._resp(h).status

    def resp_set_status(self, h: Resource, status: int) -> Variant:
        if not 100 <= status <= 999:
            return _err()
        self._resp(h).status = status
        return _ok()

    def resp_headers(self, h: Resource) -> Resource:
        # a child view of the response's headers, which are immutable now
        return self._push("fields", self._resp(h).headers)

    def resp_body(self, h: Resource) -> Variant:
        r = self._resp(h)
        if r.body_taken:
            return _err()
        r.body_taken = True
        r.body = OutgoingBody(_content_length(r.headers))
        return _ok(self._push("outgoing-body", r.body))

    # outgoing-body
    def out_write(self, h: Resource) -> Variant:
        b = self.ctx.get(h, OutgoingBody)
        if b.stream_taken:
            return _err()
        b.stream_taken = True
        return _ok(self._push("output-stream", BodyOutput(b), "wasi:io/streams"))

    def out_finish(self, h: Resource, trailers: Optional[Resource]) -> Variant:
        ctx = self.ctx
        b = take(ctx, h, OutgoingBody)
        t = take(ctx, trailers, Fields) if trailers is not None else None
        err = b.finish(t)
        return _ok() if err is None else _err(err)

    # response-outparam
    def outparam_set(self, h: Resource, response: Any) -> None:
        ctx = self.ctx
        out = take(ctx, h, ResponseOutparam)
        if isinstance(response, Resource):
            response = take(ctx, response, OutgoingResponse)
        elif isinstance(response, Variant) and response.tag == "ok" and isinstance(response.payload, Resource):
            response = take(ctx, response.payload, OutgoingResponse)
        elif isinstance(response, Variant) and response.tag == "err":
            response = response.payload
        out.set(response)

    def send_informational(self, h: Resource, status: int, headers: Resource) -> Variant:
        self.ctx.get(h, ResponseOutparam)
        return _err(error_code("internal-error", "informational responses are not supported"))

    # outgoing-request
    def _oreq(self, h: Resource) -> OutgoingRequest:
        return self.ctx.get(h, OutgoingRequest)

    def _oreq_set(self, h: Resource, attr: str, value: Any, ok: bool = True) -> Variant:
        if not ok:
            return _err()
        setattr(self._oreq(h), attr, value)
        return _ok()

    def oreq_new(self, headers: Resource) -> Resource:
        return self._push("outgoing-request", OutgoingRequest(take(self.ctx, headers, Fields)))

    def oreq_body(self, h: Resource) -> Variant:
        r = self._oreq(h)
        if r.body_taken:
            return _err()
        r.body_taken = True
        r.body = OutgoingBody(_content_length(r.headers), "request")
        return _ok(self._push("outgoing-body", r.body))

    def oreq_method(self, h: Resource) -> Variant:
        return self._oreq(h).method

    def oreq_set_method(self, h: Resource, m: Variant) -> Variant:
        valid = m.tag != "other" or (isinstance(m.payload, str) and valid_name(m.payload))
        return self._oreq_set(h, "method", m, valid)

    def oreq_path_with_query(self, h: Resource) -> Optional[str]:
        return self._oreq(h).path_with_query

    def oreq_set_path_with_query(self, h: Resource, value: Optional[str]) -> Variant:
        return self._oreq_set(h, "path_with_query", value)

    def oreq_scheme(self, h: Resource) -> Any:
        return _some(self._oreq(h).scheme)

    def oreq_set_scheme(self, h: Resource, value: Optional[Variant]) -> Variant:
        return self._oreq_set(h, "scheme", value)

    def oreq_authority(self, h: Resource) -> Optional[str]:
        return self._oreq(h).authority

    def oreq_set_authority(self, h: Resource, value: Optional[str]) -> Variant:
        return self._oreq_set(h, "authority", value)

    def oreq_headers(self, h: Resource) -> Resource:
        return self._push("fields", self._oreq(h).headers)

    # request-options
    def _opt(self, h: Resource) -> RequestOptions:
        return self.ctx.get(h, RequestOptions)

    def _opt_set(self, h: Resource, attr: str, value: Optional[int]) -> Variant:
        setattr(self._opt(h), attr, value)
        return _ok()

    def opt_new(self) -> Resource:
        return self._push("request-options", RequestOptions())

    def opt_connect_timeout(self, h: Resource) -> Optional[int]:
        return self._opt(h).connect_timeout

    def opt_set_connect_timeout(self, h: Resource, value: Optional[int]) -> Variant:
        return self._opt_set(h, "connect_timeout", value)

    def opt_first_byte_timeout(self, h: Resource) -> Optional[int]:
        return self._opt(h).first_byte_timeout

    def opt_set_first_byte_timeout(self, h: Resource, value: Optional[int]) -> Variant:
        return self._opt_set(h, "first_byte_timeout", value)

    def opt_between_bytes_timeout(self, h: Resource) -> Optional[int]:
        return self._opt(h).between_bytes_timeout

    def opt_set_between_bytes_timeout(self, h: Resource, value: Optional[int]) -> Variant:
        return self._opt_set(h, "between_bytes_timeout", value)

    # incoming-response, future-incoming-response
    def _iresp(self, h: Resource) -> IncomingResponse:
        return self.ctx.get(h, IncomingResponse)

    def iresp_status(self, h: Resource) -> int:
        return self._iresp(h).status

    def iresp_headers(self, h: Resource) -> Resource:
        return self._push("fields", self._iresp(h).headers)

    def iresp_consume(self, h: Resource) -> Variant:
        return self._take_body(self._iresp(h))

    def fut_subscribe(self, h: Resource) -> Resource:
        f = self.ctx.get(h, FutureIncomingResponse)
        return self._push("pollable", f.signal.pollable(lambda: f.done), "wasi:io/poll")

    def fut_get(self, h: Resource) -> Any:
        f = self.ctx.get(h, FutureIncomingResponse)
        if not f.done:
            return None
        if f.taken:
            return Variant("some", _err())
        f.taken = True
        if isinstance(f.result, IncomingResponse):
            return Variant("some", _ok(_ok(self._push("incoming-response", f.result))))
        return Variant("some", _ok(_err(f.result)))

    def http_error_code(self, err: Resource) -> Optional[Variant]:
        e = self.ctx.get(err, io.IoError)
        return Variant("some", e.code) if isinstance(e, HttpIoError) else None


#: the functions of ``wasi:http/types``: WIT name -> the :class:`_HttpTypes` method
HTTP_TYPES: Dict[str, str] = {
    "http-error-code": "http_error_code",
    "[constructor]fields": "fields_new",
    "[static]fields.from-list": "fields_from_list",
    "[method]fields.get": "fields_get",
    "[method]fields.has": "fields_has",
    "[method]fields.set": "fields_set",
    "[method]fields.delete": "fields_delete",
    "[method]fields.append": "fields_append",
    "[method]fields.entries": "fields_entries",
    "[method]fields.clone": "fields_clone",
    "[method]incoming-request.method": "req_method",
    "[method]incoming-request.path-with-query": "req_path_with_query",
    "[method]incoming-request.scheme": "req_scheme",
    "[method]incoming-request.authority": "req_authority",
    "[method]incoming-request.headers": "req_headers",
    "[method]incoming-request.consume": "req_consume",
    "[method]incoming-body.stream": "body_stream",
    "[static]incoming-body.finish": "body_finish",
    "[method]future-trailers.subscribe": "trailers_subscribe",
    "[method]future-trailers.get": "trailers_get",
    "[constructor]outgoing-response": "resp_new",
    "[method]outgoing-response.status-code": "resp_status",
    "[method]outgoing-response.set-status-code": "resp_set_status",
    "[method]outgoing-response.headers": "resp_headers",
    "[method]outgoing-response.body": "resp_body",
    "[method]outgoing-body.write": "out_write",
    "[static]outgoing-body.finish": "out_finish",
    "[static]response-outparam.set": "outparam_set",
    "[method]response-outparam.send-informational": "send_informational",
    "[constructor]outgoing-request": "oreq_new",
    "[method]outgoing-request.body": "oreq_body",
    "[method]outgoing-request.method": "oreq_method",
    "[method]outgoing-request.set-method": "oreq_set_method",
    "[method]outgoing-request.path-with-query": "oreq_path_with_query",
    "[method]outgoing-request.set-path-with-query": "oreq_set_path_with_query",
    "[method]outgoing-request.scheme": "oreq_scheme",
    "[method]outgoing-request.set-scheme": "oreq_set_scheme",
    "[method]outgoing-request.authority": "oreq_authority",
    "[method]outgoing-request.set-authority": "oreq_set_authority",
    "[method]outgoing-request.headers": "oreq_headers",
    "[method]incoming-response.status": "iresp_status",
    "[method]incoming-response.headers": "iresp_headers",
    "[method]incoming-response.consume": "iresp_consume",
    "[method]future-incoming-response.subscribe": "fut_subscribe",
    "[method]future-incoming-response.get": "fut_get",
    "[constructor]request-options": "opt_new",
    "[method]request-options.connect-timeout": "opt_connect_timeout",
    "[method]request-options.set-connect-timeout": "opt_set_connect_timeout",
    "[method]request-options.first-byte-timeout": "opt_first_byte_timeout",
    "[method]request-options.set-first-byte-timeout": "opt_set_first_byte_timeout",
    "[method]request-options.between-bytes-timeout": "opt_between_bytes_timeout",
    "[method]request-options.set-between-bytes-timeout": "opt_set_between_bytes_timeout",
}


def http_types(ctx: P2Ctx) -> Impl:
    """``wasi:http/types``: every function, bound to ``ctx``."""
    impl = _HttpTypes(ctx)
    return {name: getattr(impl, method) for name, method in HTTP_TYPES.items()}


def http_types_function(ctx: P2Ctx, name: str) -> Optional[Callable[..., Any]]:
    """The function ``name`` of ``wasi:http/types`` bound to ``ctx`` (None if there is no
    such function), made alone (host.py binds a store's functions one at a time)."""
    method = HTTP_TYPES.get(name)
    return None if method is None else getattr(_HttpTypes(ctx), method)


#: an outgoing request's timeouts when its request-options give none (seconds)
CONNECT_TIMEOUT = 10.0
FIRST_BYTE_TIMEOUT = 60.0
BETWEEN_BYTES_TIMEOUT = 60.0

#: the threads that read outgoing requests' response bodies (a read blocks one)
_readers = ThreadPoolExecutor(16, thread_name_prefix="wasmforge-http")


def split_authority(authority: str, default_port: int) -> Tuple[str, int]:
    """``host[:port]`` (``[v6]:port`` for IPv6) as (host, port); ValueError if malformed."""
    host, port = authority, default_port
    if authority.startswith("["):
        end = authority.index("]")
        host, rest = authority[1:end], authority[end + 1:]
        if rest:
            if not rest.startswith(":"):
                raise ValueError(authority)
            port = int(rest[1:])
    elif ":" in authority:
        host, _, p = authority.rpartition(":")
        port = int(p)
    if not host or not 0 < port < 65536:
        raise ValueError(authority)
    return host, port


def allowed(allow: Sequence[Tuple[str, Optional[int]]], host: str, port: int) -> bool:
    """Whether ``host:port`` is on the allow-list (an entry without a port allows any)."""
    host = host.lower()
    return any(h.lower() == host and (p is None or p == port) for h, p in allow)


class _RequestBody(ResponseSink):
    """Where an outgoing request's body goes: a queue the sending thread reads, each chunk
    acknowledged when that thread takes it (so the body's window is the backpressure)."""

    def __init__(self) -> None:
        self.queue: "queue.Queue[Any]" = queue.Queue()

    def start(self, status: int, headers: FieldList) -> None:
        pass

    def push(self, data: bytes) -> "Future[None]":
        done: "Future[None]" = Future()
        self.queue.put((data, done))
        return done

    def finish(self, trailers: Optional[FieldList]) -> None:
        self.queue.put(None)

    def fail(self, error: Any) -> None:
        self.queue.put(ConnectionAbortedError(f"the request body is incomplete: {error}"))

    def chunks(self) -> Any:
        while True:
            item = self.queue.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            data, done = item
            done.set_result(None)
            yield data


def _seconds(ns: Optional[int], default: float) -> float:
    return default if ns is None else ns / 1e9


def _connect_error(exc: BaseException) -> Variant:
    if isinstance(exc, socket.gaierror):
        return error_code("DNS-error", Record(**{"rcode": None, "info-code": None}))
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return error_code("connection-timeout")
    if isinstance(exc, ConnectionRefusedError):
        return error_code("connection-refused")
    return error_code("destination-unavailable")


def _send(req: OutgoingRequest, https: bool, host: str, port: int, options: Optional[RequestOptions],
          body: Optional[_RequestBody], future: FutureIncomingResponse) -> None:
    """Send ``req`` (in a thread of its own) and resolve ``future`` with the response."""
    connect = _seconds(options.connect_timeout if options else None, CONNECT_TIMEOUT)
    first_byte = _seconds(options.first_byte_timeout if options else None, FIRST_BYTE_TIMEOUT)
    between = _seconds(options.between_bytes_timeout if options else None, BETWEEN_BYTES_TIMEOUT)
    cls = http_client.HTTPSConnection if https else http_client.HTTPConnection
    conn = cls(host, port, timeout=connect)
    try:
        conn.connect()
    except OSError as exc:
        future.resolve(_connect_error(exc))
        return
    try:
        if conn.sock is not None:
            conn.sock.settimeout(first_byte)
        m = req.method
        method = str(m.payload) if m.tag == "other" else m.tag.upper()
        conn.putrequest(method, req.path_with_query or "/", skip_accept_encoding=True)
        for name, value in req.headers.entries:
            conn.putheader(name, value)
        chunked = body is not None and _content_length(req.headers) is None
        if chunked:
            conn.putheader("transfer-encoding", "chunked")
        conn.endheaders()
        if body is not None:
            for data in body.chunks():
                conn.send(b"%x\r\n%s\r\n" % (len(data), data) if chunked else data)
            if chunked:
                conn.send(b"0\r\n\r\n")
        resp = conn.getresponse()
    except (socket.timeout, TimeoutError):
        future.resolve(error_code("HTTP-response-timeout"))
        conn.close()
        return
    except (OSError, http_client.HTTPException) as exc:
        future.resolve(error_code("HTTP-protocol-error") if isinstance(exc, http_client.HTTPException)
                       else error_code("connection-terminated"))
        conn.close()
        return
    if conn.sock is not None:
        conn.sock.settimeout(between)

    def read() -> Tuple[bytes, bool]:
        try:
            data = resp.read1(1 << 16)
        except (OSError, http_client.HTTPException):
            conn.close()
            raise
        if not data:
            conn.close()
        return data, bool(data)

    def pull() -> "Future[Tuple[bytes, bool]]":
        return _readers.submit(read)
    signal = Signal()
    headers = [(k.lower(), v.encode("latin-1")) for k, v in resp.getheaders()]
    future.resolve(IncomingResponse(resp.status, headers, IncomingBody(BodyInput(pull, signal), signal)))


def http_outgoing_handler(ctx: P2Ctx) -> Impl:
    """``wasi:http/outgoing-handler``: a request goes out only to a destination on the
    context's allow-list (``P2Ctx.http_allow``, empty by default), over HTTP/1.1 from a
    thread of its own; any other is refused with ``HTTP-request-denied``."""
    future_rt = _rt(ctx, "future-incoming-response")

    def handle(request: Resource, options: Optional[Resource]) -> Variant:
        req = take(ctx, request, OutgoingRequest)
        opts = take(ctx, options, RequestOptions) if options is not None else None
        scheme = req.scheme.tag if req.scheme is not None else "HTTP"
        if scheme not in ("HTTP", "HTTPS"):
            return _err(error_code("HTTP-protocol-error"))
        if req.authority is None:
            return _err(error_code("HTTP-request-URI-invalid"))
        try:
            host, port = split_authority(req.authority, 443 if scheme == "HTTPS" else 80)
        except ValueError:
            return _err(error_code("HTTP-request-URI-invalid"))
        if not allowed(ctx.http_allow, host, port):
            return _err(error_code("HTTP-request-denied"))
        # a request sent cannot be taken back: a call that may be run again waits for it
        io.check_speculative("an outgoing HTTP request")
        sink = None
        if req.body is not None:
            sink = _RequestBody()
            req.body.attach(sink)
        future = FutureIncomingResponse()
        try:
            threading.Thread(target=_send, args=(req, scheme == "HTTPS", host, port, opts, sink, future),
                             name="wasmforge-http-send", daemon=True).start()
        except RuntimeError:
            # Python compiled to WebAssembly (Pyodide) cannot start the thread a request is
            # sent from: the guest gets an error code, not a host exception.
            return _err(error_code("internal-error", "outgoing requests need a thread, which this host "
                                                     "cannot start"))
        return _ok(ctx.push(future_rt, future))
    return {"handle": handle}


__all__ = ["Fields", "HeaderError", "IncomingRequest", "IncomingBody", "BodyInput", "FutureTrailers",
           "OutgoingResponse", "OutgoingBody", "BodyOutput", "ResponseOutparam", "ResponseSink", "Signal",
           "OutgoingRequest", "RequestOptions", "IncomingResponse", "FutureIncomingResponse", "HTTP_TYPES", "http_types", "http_types_function",
           "http_outgoing_handler", "push_incoming_request",
           "push_response_outparam", "method_value", "scheme_value"]
