"""The ASGI application that serves a ``wasi:http/proxy`` component.

Per request (``http`` scope): a new :class:`~wasmforge.Store` and a new instance from the
component's :class:`~wasmforge.component.InstancePre` (imports resolved once, when the app is
made), so no state survives from one request to the next; the export
``wasi:http/incoming-handler.handle`` runs in a worker thread, never on the event loop.  The
two sides meet in an :class:`_Exchange`: the guest's thread pulls request-body chunks from
ASGI ``receive`` one at a time (as it reads) and queues the response's start, body chunks and
end for one coroutine that ``send``s them in order, acknowledging each chunk when sent (the
response body's window, :data:`wasmforge.wasip2.http.WINDOW`, is the backpressure).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
from typing import Any, Awaitable, Callable, List, MutableMapping, Optional, Tuple, Union

from ..api.aot import is_artifact
from ..api.engine import Engine
from ..api.store import Store
from ..cm.abi.values import Variant
from ..component import Component, ExportIndex, InstancePre, Linker
from ..errors import WasmError
from ..wasi.config import WasiConfig
from ..wasip2 import http, p2_ctx

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

log = logging.getLogger("wasmforge.serve")

#: the export a proxy component offers (any 0.2.x release)
HANDLER = "wasi:http/incoming-handler@0.2."


class ServeError(WasmError):
    """The application cannot be served (not a ``wasi:http/proxy`` component, for one)."""


class _Aborted(Exception):
    """Raised to the ASGI server after the response started and could not be completed: the
    server then closes the connection, so the client sees an incomplete response."""


def handler_index(component: Component) -> ExportIndex:
    """The ``handle`` function of ``component``'s ``wasi:http/incoming-handler`` export."""
    names = [n for n, _ in component._type.exports if n.startswith(HANDLER)]
    inner = component.get_export_index(names[0]) if names else None
    found = component.get_export_index("handle", inner) if inner is not None else None
    if found is None:
        raise ServeError("the component does not export wasi:http/incoming-handler@0.2.x (it is not a "
                         "wasi:http/proxy component)")
    return found


def load_component(engine: Engine, path: Union[str, "os.PathLike[str]"]) -> Component:
    """The component in the file ``path``: a binary or text component, or an artifact of
    ``Component.serialize`` (``.cwasm``)."""
    with open(path, "rb") as f:
        data = f.read()
    if is_artifact(data):
        return Component.deserialize(engine, data)
    return Component(engine, data)


class _Exchange(http.ResponseSink):
    """One request's link between the guest's thread and the event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, receive: Receive) -> None:
        self.loop = loop
        self.receive = receive
        self.queue: "asyncio.Queue[Tuple[str, Any]]" = asyncio.Queue()
        self.pulls: "List[concurrent.futures.Future[Tuple[bytes, bool]]]" = []

    # -- called from the guest's thread ---------------------------------------------------
    def pull(self) -> "concurrent.futures.Future[Tuple[bytes, bool]]":
        f = asyncio.run_coroutine_threadsafe(self._receive_chunk(), self.loop)
        self.pulls.append(f)
        return f

    def _put(self, kind: str, arg: Any) -> None:
        self.loop.call_soon_threadsafe(self.queue.put_nowait, (kind, arg))

    def start(self, status: int, headers: http.FieldList) -> None:
        self._put("start", (status, headers))

    def push(self, data: bytes) -> "concurrent.futures.Future[None]":
        done: "concurrent.futures.Future[None]" = concurrent.futures.Future()
        self._put("body", (data, done))
        return done

    def finish(self, trailers: Optional[http.FieldList]) -> None:
        self._put("end", trailers)

    def fail(self, error: Any) -> None:
        self._put("fail", error)

    def done(self, error: Optional[BaseException]) -> None:
        self._put("done", error)

    # -- on the event loop ------------------------------------------------------------------
    async def _receive_chunk(self) -> Tuple[bytes, bool]:
        while True:
            message = await self.receive()
            kind = message.get("type")
            if kind == "http.request":
                body = bytes(message.get("body", b""))
                more = bool(message.get("more_body", False))
                if body or not more:
                    return body, more
            elif kind == "http.disconnect":
                raise ConnectionResetError("the client disconnected")


def _describe(error: Any) -> str:
    if isinstance(error, Variant):
        return f"error-code {error.tag}" + (f" ({error.payload})" if error.payload is not None else "")
    return str(error)


class ProxyApp:
    """An ASGI application serving the ``wasi:http/proxy`` component ``app`` (a path or a
    :class:`~wasmforge.component.Component`): each HTTP request runs in a fresh instance.

    ``engine`` compiles and runs it (default: ``Engine()``, the llvm tier where available);
    ``max_workers`` guest calls run at once (threads); ``wasi`` makes each request's
    WasiConfig (default: stdout and stderr inherited from the server, nothing else granted);
    ``max_request_body`` bounds a request body's size (None: unbounded).  Mount it in any
    ASGI server, or run it with ``wasmforge serve``."""

    def __init__(self, app: Union[str, "os.PathLike[str]", Component], *, engine: Optional[Engine] = None,
                 max_workers: int = 8, wasi: Optional[Callable[[], WasiConfig]] = None,
                 max_request_body: Optional[int] = None) -> None:
        if isinstance(app, Component):
            self.component = app
            self.engine = app._engine
        else:
            self.engine = engine if engine is not None else Engine()
            self.component = load_component(self.engine, app)
        self._handle = handler_index(self.component)
        linker = Linker(self.engine)
        linker.add_wasip2()
        self.pre: InstancePre = linker.instantiate_pre(self.component)
        self._wasi = wasi if wasi is not None else _default_wasi
        self.max_request_body = max_request_body
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers, thread_name_prefix="wasmforge-serve")

    # -- one request, in a worker thread ----------------------------------------------------
    def _instantiate(self) -> Tuple[Store, Any]:
        store = Store(self.engine)
        store.set_wasi(self._wasi())
        instance = self.pre.instantiate(store)
        return store, instance.get_func(store, self._handle)

    def _run(self, scope: Scope, ex: _Exchange) -> None:
        error: Optional[BaseException] = None
        try:
            store, handle = self._instantiate()
            ctx = p2_ctx(store)
            signal = http.Signal()
            body = http.IncomingBody(http.BodyInput(ex.pull, signal, self.max_request_body), signal)
            request = http.IncomingRequest(
                scope["method"], _path_with_query(scope), scope.get("scheme", "http"), _authority(scope),
                [(k.decode("latin-1"), bytes(v)) for k, v in scope.get("headers", [])], body)
            out = http.ResponseOutparam(ex)
            handle(store, http.push_incoming_request(ctx, request), http.push_response_outparam(ctx, out))
        except BaseException as exc:      # a trap, an exit, a host error: this request's 500
            error = exc
        ex.done(error)

    # -- ASGI -------------------------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope.get("type")
        if kind == "lifespan":
            await self._lifespan(receive, send)
            return
        if kind != "http":
            raise ServeError(f"wasmforge serve handles HTTP requests, not {kind!r} connections")
        loop = asyncio.get_running_loop()
        ex = _Exchange(loop, receive)
        loop.run_in_executor(self._pool, self._run, scope, ex)
        await self._respond(scope, ex, send)

    async def _respond(self, scope: Scope, ex: _Exchange, send: Send) -> None:
        trailers_ok = "http.response.trailers" in (scope.get("extensions") or {})
        started = ended = False
        failure: Optional[str] = None
        while True:
            kind, arg = await ex.queue.get()
            if kind == "start" and not started:
                status, headers = arg
                await send({"type": "http.response.start", "status": status, "trailers": trailers_ok,
                            "headers": [(k.encode("latin-1"), v) for k, v in headers]})
                started = True
            elif kind == "body":
                data, done = arg
                try:
                    if not ended and failure is None:
                        await send({"type": "http.response.body", "body": data, "more_body": True})
                    done.set_result(None)
                except Exception as exc:
                    done.set_exception(exc)
            elif kind == "end" and started and not ended:
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                if trailers_ok:
                    await send({"type": "http.response.trailers", "more_trailers": False,
                                "headers": [(k.encode("latin-1"), v) for k, v in (arg or [])]})
                ended = True
            elif kind == "fail" and failure is None:
                failure = _describe(arg)
            elif kind == "done":
                if arg is not None and failure is None:
                    failure = f"{type(arg).__name__}: {arg}"
                break
        for pull in ex.pulls:           # a read the guest started and never collected
            pull.cancel()
        if ended:
            return
        if failure is None:
            failure = "the guest returned without calling response-outparam.set" if not started else \
                "the guest returned without finishing the response body"
        log.error("%s %s: %s", scope.get("method"), scope.get("path"), failure)
        if started:
            raise _Aborted(failure)
        await _plain(send, 500, b"Internal Server Error\n")

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self._pool.shutdown(wait=False)
                await send({"type": "lifespan.shutdown.complete"})
                return

    def close(self) -> None:
        """Stop the worker threads (after the calls in progress)."""
        self._pool.shutdown(wait=True)


async def _plain(send: Send, status: int, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body, "more_body": False})


def _default_wasi() -> WasiConfig:
    config = WasiConfig()
    config.inherit_stdout()
    config.inherit_stderr()
    return config


def _path_with_query(scope: Scope) -> str:
    raw = scope.get("raw_path")
    path = raw.decode("latin-1") if isinstance(raw, (bytes, bytearray)) else scope.get("path", "/")
    query = scope.get("query_string") or b""
    return path + ("?" + query.decode("latin-1") if query else "")


def _authority(scope: Scope) -> Optional[str]:
    for k, v in scope.get("headers", []):
        if k.lower() == b"host":
            return bytes(v).decode("latin-1")
    server = scope.get("server")
    return f"{server[0]}:{server[1]}" if server else None


__all__ = ["ProxyApp", "ServeError", "handler_index", "load_component"]

