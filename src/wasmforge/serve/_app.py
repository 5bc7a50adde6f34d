"""The ASGI application that serves a ``wasi:http/proxy`` component.

Per request (``http`` scope): a new :class:`~wasmforge.Store` and a new instance from the
component's :class:`~wasmforge.component.InstancePre` (imports resolved once, when the app is
made), so no state survives from one request to the next; the export
``wasi:http/incoming-handler.handle`` runs in a worker thread, never on the event loop.  The
two sides meet in an :class:`_Exchange`: the guest's thread pulls request-body chunks from
ASGI ``receive`` one at a time (as it reads) and queues the response's start, body chunks and
end for one coroutine that ``send``s them in order, acknowledging each chunk when sent (the
response body's window, :data:`wasmforge.wasip2.http.WINDOW`, is the backpressure).

The loaded component (component, ``InstancePre``, handler index) is one immutable
:class:`_Loaded` that a request takes when it starts: :meth:`ProxyApp.reload` swaps in a new
one while the requests in progress finish on the old.  Each finished request becomes a
:class:`~wasmforge.serve._observe.RequestRecord` for the app's ``observer`` (access log,
metrics).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import math
import os
import threading
import time
from typing import Any, Awaitable, Callable, List, MutableMapping, NamedTuple, Optional, Sequence, Tuple, Union

from ..api.aot import artifact_kind
from ..api.engine import Config, Engine
from ..api.store import Store
from ..cm.abi.values import Variant
from ..component import Component, ExportIndex, InstancePre, Linker
from ..errors import ConfigError, Trap, TrapCode, WasmError
from ..types import PAGE_SIZE
from ..wasi.config import WasiConfig
from ..wasip2 import http, p2_ctx
from ._observe import RequestRecord
from ._pool import WorkerPool

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

log = logging.getLogger("wasmforge.serve")

#: the export a proxy component offers (any 0.2.x release)
HANDLER = "wasi:http/incoming-handler@0.2."
#: the period of the epoch ticker that enforces ``timeout`` (seconds)
TICK = 0.01
#: the epoch deadline (ticks) of a store with no timeout: never reached, and far enough
#: from 2**64 that adding the epoch cannot wrap a tier's 64-bit counter
_NO_DEADLINE = 1 << 62


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


def parse_allow(entry: str) -> Tuple[str, Optional[int]]:
    """``HOST[:PORT]`` (``[V6]:PORT``) as an allow-list entry; ConfigError if malformed."""
    try:
        if entry.startswith("[") or entry.count(":") == 1:
            host, port = http.split_authority(entry, 1)
            has_port = entry.rsplit("]", 1)[-1].count(":") == 1
            return host, port if has_port else None
        if entry and ":" not in entry:
            return entry, None
    except ValueError:
        pass
    raise ConfigError(f"not a HOST[:PORT] destination: {entry!r}")


def load_component(engine: Engine, path: Union[str, "os.PathLike[str]"], *,
                   allow_precompiled: bool = False) -> Component:
    """The component in the file ``path``: a binary or text component, or, only if
    ``allow_precompiled``, an artifact of ``Component.serialize`` / ``wasmforge compile``
    (``.cwasm``: native code loaded unverified, so never because of what a file happens to
    contain, whatever it is called; ServeError else)."""
    return _load_file(engine, path, allow_precompiled)[0]


def _load_file(engine: Engine, path: Union[str, "os.PathLike[str]"], allow_precompiled: bool
               ) -> Tuple[Component, str]:
    """:func:`load_component`, and how it was loaded, for the server's log."""
    with open(path, "rb") as f:
        data = f.read()
    kind = artifact_kind(data)
    if kind is None:
        component = Component(engine, data)
        return component, _compiled_origin(component)
    if not allow_precompiled:
        raise ServeError("is a precompiled artifact (native code, loaded unverified); allow it if you trust it "
                         "(--allow-precompiled, or allow_precompiled = true in the app's manifest table)")
    if kind == "module":
        raise ServeError("is a core module's artifact, not a component's (a wasi:http/proxy component "
                         "compiled with `wasmforge compile` is served)")
    component = Component.deserialize(engine, data)
    return component, f"{engine.strategy} tier, a precompiled artifact: nothing compiled"


def _compiled_origin(component: Component) -> str:
    """How a component loaded from its binary or text got its code, for the server's log: a
    core module whose machine code the compile cache holds has it now; the others are compiled
    (the llvm tier) or translated (interp) on first use."""
    total = len(component._modules)
    tier = component._engine.strategy
    cached = sum(m._code is not None for m in component._modules)
    if tier != "llvm" or cached == 0:
        return f"{tier} tier, compiled on first use"
    if cached == total:
        return f"{tier} tier, machine code of all {total} core modules from the compile cache"
    return f"{tier} tier, machine code of {cached} of {total} core modules from the compile cache"


class _Exchange(http.ResponseSink):
    """One request's link between the guest's thread and the event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, receive: Receive) -> None:
        self.loop = loop
        self.receive = receive
        self.queue: "asyncio.Queue[Tuple[str, Any]]" = asyncio.Queue()
        self.pulls: "List[concurrent.futures.Future[Tuple[bytes, bool]]]" = []
        self.instantiate: Optional[float] = None     # seconds, set by the guest's thread
        self.at_memory_limit = False                 # set by the guest's thread on failure

    # -- called from the guest's thread ---------------------------------------------------
    def pull(self) -> "concurrent.futures.Future[Tuple[bytes, bool]]":
        f = asyncio.run_coroutine_threadsafe(self._receive_chunk(), self.loop)
        self.pulls.append(f)
        return f

    def _put(self, kind: str, arg: Any) -> None:
        try:
            self.loop.call_soon_threadsafe(self.queue.put_nowait, (kind, arg))
        except RuntimeError:        # the loop is closed: the response was given up (deadline)
            if kind == "body":
                arg[1].set_exception(ConnectionResetError("the response was given up"))

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


class _Loaded(NamedTuple):
    """One version of an app: what a request needs, swapped whole by a reload."""

    component: Component
    pre: InstancePre
    handle: ExportIndex


class _EpochTicker(threading.Thread):
    """A daemon thread that makes the epoch of ``engine`` follow ``clock``: a tick per
    :data:`TICK` seconds since it was made, however late it gets to run (a guest busy in
    Python code holds the interpreter lock): it then makes the ticks owed at once."""

    def __init__(self, engine: Engine, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(name="wasmforge-serve-epoch", daemon=True)
        self.engine = engine
        self.clock = clock
        self.origin = clock()
        self.ticks = 0          # made so far
        self._stop_event = threading.Event()

    def _due(self) -> int:
        return int((self.clock() - self.origin) / TICK)

    def owed(self) -> int:
        """The ticks due by now and not made yet."""
        return max(0, self._due() - self.ticks)

    def catch_up(self) -> None:
        """Make the ticks owed."""
        due = self._due()
        while self.ticks < due:
            self.engine.increment_epoch()
            self.ticks += 1

    def run(self) -> None:
        while not self._stop_event.wait(TICK):
            self.catch_up()

    def stop(self) -> None:
        """End the ticking (the thread exits within one period)."""
        self._stop_event.set()


class ProxyApp:
    """An ASGI application serving the ``wasi:http/proxy`` component ``app`` (a path or a
    :class:`~wasmforge.component.Component`): each HTTP request runs in a fresh instance.

    ``engine`` compiles and runs it (default: an ``Engine`` with the epoch and fuel settings
    the limits need, on the llvm tier where available); ``max_workers`` guest calls run at
    once (threads) and ``max_queue`` more wait for one, past which a request gets 503;
    ``wasi`` makes each request's WasiConfig (default: stdout and stderr inherited from the
    server, nothing else granted); ``max_request_body`` bounds a request body's size.

    Limits per request (None: none), each failing that request alone with a 500: ``timeout``
    seconds of wall-clock time (epoch interruption: the engine needs
    ``Config.epoch_interruption``; the response is given up at the deadline even while the
    guest waits on I/O), ``fuel`` (``Config.consume_fuel``), ``memory_limit`` bytes per linear
    memory (``Store.set_limits``).  ``allow_http`` lists the ``HOST[:PORT]`` destinations
    the guest's ``wasi:http/outgoing-handler`` may reach (none by default; without a port,
    any port of that host).  Mount it in any ASGI server, or run it with ``wasmforge serve``.

    ``name`` labels the app in logs and metrics (default: the file's stem); ``pool`` a
    :class:`WorkerPool` shared with other apps (then ``max_workers`` and ``max_queue`` are the
    pool's); ``observer`` is called on the event loop with each finished request's
    :class:`~wasmforge.serve._observe.RequestRecord`.  :meth:`reload` loads the file again.
    ``allow_precompiled`` lets the file be an artifact (``wasmforge compile``: trusted native
    code, docs/security.md); without it an artifact is refused (:func:`load_component`)."""

    def __init__(self, app: Union[str, "os.PathLike[str]", Component], *, engine: Optional[Engine] = None,
                 max_workers: int = 8, max_queue: int = 64, wasi: Optional[Callable[[], WasiConfig]] = None,
                 max_request_body: Optional[int] = None, timeout: Optional[float] = None,
                 fuel: Optional[int] = None, memory_limit: Optional[int] = None,
                 allow_http: Sequence[str] = (), name: Optional[str] = None, pool: Optional[WorkerPool] = None,
                 observer: Optional[Callable[[RequestRecord], None]] = None,
                 allow_precompiled: bool = False) -> None:
        if isinstance(app, Component):
            engine = app._engine
        elif engine is None:
            config = Config()
            config.epoch_interruption = timeout is not None
            config.consume_fuel = fuel is not None
            engine = Engine(config)
        if timeout is not None and not engine.epoch_interruption:
            raise ConfigError("a timeout needs an engine with Config.epoch_interruption = True")
        if fuel is not None and not engine.consume_fuel:
            raise ConfigError("fuel needs an engine with Config.consume_fuel = True")
        if timeout is not None and not 0 < timeout < math.inf:
            raise ConfigError(f"the timeout must be a positive finite number of seconds, not {timeout!r}")
        self.engine = engine
        #: the file the app was loaded from (None: made from a Component)
        self.source: Optional[str] = None if isinstance(app, Component) else os.fspath(app)
        if name is None:
            name = "app" if self.source is None else os.path.splitext(os.path.basename(self.source))[0]
        self.name = name
        self.allow_precompiled = allow_precompiled
        #: how the component now served was loaded (an artifact, or compiled: the start-up log)
        self.origin = "a Component"
        if isinstance(app, Component):
            self._loaded = self._prepare(app)
        else:
            component, origin = _load_file(engine, app, allow_precompiled)
            self._loaded, self.origin = self._prepare(component), origin
        self._wasi = wasi if wasi is not None else _default_wasi
        self.max_request_body = max_request_body
        self.timeout = timeout
        self.fuel = fuel
        self.memory_limit = memory_limit
        self.allow_http = [parse_allow(a) for a in allow_http]
        self._own_pool = pool is None
        self.pool = pool if pool is not None else WorkerPool(max_workers, max_queue)
        self.capacity = self.pool.capacity
        self.active = 0         # this app's requests in progress
        self.observer = observer
        self._ticker = _EpochTicker(engine) if timeout is not None else None
        if self._ticker is not None:
            self._ticker.start()

    def _prepare(self, component: Component) -> _Loaded:
        handle = handler_index(component)
        linker = Linker(self.engine)
        linker.add_wasip2()
        linker.add_wasi_http()
        return _Loaded(component, linker.instantiate_pre(component), handle)

    @property
    def component(self) -> Component:
        """The component now served."""
        return self._loaded.component

    @property
    def pre(self) -> InstancePre:
        """The component now served, its imports resolved."""
        return self._loaded.pre

    def reload(self) -> None:
        """Load the app's file again (compiled with the same engine, so the compile cache
        applies) and serve it to the requests that start from now on; those in progress finish
        on the version they started with.  If the file fails to load, the error is raised
        (OSError, WasmError) and the version served does not change."""
        if self.source is None:
            raise ServeError("the app was made from a Component, not loaded from a file: nothing to reload")
        component, origin = _load_file(self.engine, self.source, self.allow_precompiled)
        self._loaded, self.origin = self._prepare(component), origin

    # -- one request, in a worker thread ----------------------------------------------------
    def _instantiate(self, loaded: Optional[_Loaded] = None, deadline: Optional[float] = None) -> Tuple[Store, Any]:
        """A new store and instance, and its handler; ``deadline`` (``time.monotonic()``) is
        the request's, from its admission (default: ``timeout`` from now)."""
        loaded = loaded if loaded is not None else self._loaded
        store = Store(self.engine)
        # an engine with epochs or fuel on and no limit asked: none in effect
        if self.timeout is not None and self._ticker is not None:
            # the time left from now: the ticks still owed (a starved ticker) are time already past
            left = self.timeout if deadline is None else deadline - time.monotonic()
            store.set_epoch_deadline(_ticks(left) + self._ticker.owed())
        elif self.engine.epoch_interruption:
            store.set_epoch_deadline(_NO_DEADLINE)
        if self.fuel is not None or self.engine.consume_fuel:
            store.set_fuel(self.fuel if self.fuel is not None else (1 << 64) - 1)
        if self.memory_limit is not None:
            store.set_limits(memory_size=self.memory_limit)
        store.set_wasi(self._wasi())
        if self.allow_http:
            p2_ctx(store).http_allow = list(self.allow_http)
        instance = loaded.pre.instantiate(store)
        return store, instance.get_func(store, loaded.handle)

    def _run(self, scope: Scope, ex: _Exchange, loaded: _Loaded, deadline: Optional[float] = None) -> None:
        if deadline is not None and time.monotonic() >= deadline:
            # it waited for a thread past its deadline: answered 500 (or about to be), and
            # nothing is run for it
            ex.done(Trap("interrupt: the deadline passed before the request got a thread", TrapCode.INTERRUPT))
            return
        # The guest's objects (store, instance, handles) live in _call's frame only, gone
        # before the event loop hears that the request is done (Collector: an idle process
        # freezes what is alive).
        error = self._call(scope, ex, loaded, deadline)
        if error is not None:
            _drop_tracebacks(error)
        ex.done(error)

    def _call(self, scope: Scope, ex: _Exchange, loaded: _Loaded, deadline: Optional[float]
              ) -> Optional[BaseException]:
        """Run the request's guest call: the error it raised, or None."""
        error: Optional[BaseException] = None
        store: Optional[Store] = None
        self.pool._enter()
        try:
            t = time.perf_counter()
            store, handle = self._instantiate(loaded, deadline)
            ex.instantiate = time.perf_counter() - t
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
            if store is not None:
                ex.at_memory_limit = _at_memory_limit(store, self.memory_limit)
        finally:
            # the guest is done: the thread's priority back (if it was lowered) first
            self.pool._leave()
            # The instance is done with: release its memories now rather than whenever the
            # store's reference cycles are collected (the server's memory stays flat).
            if store is not None:
                store.close()
        return error

    # -- ASGI -------------------------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope.get("type")
        if kind == "lifespan":
            await lifespan(receive, send, self.close)
            return
        if kind != "http":
            raise ServeError(f"wasmforge serve handles HTTP requests, not {kind!r} connections")
        record = RequestRecord(self.name, scope.get("method", ""), scope.get("path", ""), time.time())
        t = time.perf_counter()
        pool = self.pool
        if pool.active >= pool.capacity:        # every worker busy and the queue full
            log.warning("%s %s: 503, %d requests in progress", scope.get("method"), scope.get("path"), pool.active)
            await _plain(send, 503, b"Service Unavailable\n")
            record.status, record.outcome, record.duration = 503, "rejected", time.perf_counter() - t
            if self.observer is not None:
                self.observer(record)
            return
        loop = asyncio.get_running_loop()
        ex = _Exchange(loop, receive)
        self.active += 1
        pool.active += 1
        try:
            # the deadline counts from admission, the time in the queue included: it bounds
            # the answer's time as the client sees it (docs/serve.md, "Limits per request")
            deadline = None if self.timeout is None else time.monotonic() + self.timeout
            loop.run_in_executor(pool.executor, self._run, scope, ex, self._loaded, deadline)
            await self._respond(scope, ex, _counting(send, record), deadline, record)
        except BaseException as exc:
            if record.outcome == "ok":
                record.outcome, record.error = "error", f"{type(exc).__name__}: {exc}".splitlines()[0]
            raise
        finally:
            self.active -= 1
            pool.active -= 1
            record.duration = time.perf_counter() - t
            record.instantiate = ex.instantiate
            if self.observer is not None:
                self.observer(record)
            if pool.collector is not None:
                # a request answered at its deadline may leave its guest call running
                pool.collector.request_ended(pool.active + pool.running)

    async def _respond(self, scope: Scope, ex: _Exchange, send: Send, deadline: Optional[float],
                       record: RequestRecord) -> None:
        trailers_ok = "http.response.trailers" in (scope.get("extensions") or {})
        started = ended = False
        failure: Optional[str] = None
        while True:
            try:
                if deadline is None:
                    kind, arg = await ex.queue.get()
                else:
                    kind, arg = await asyncio.wait_for(ex.queue.get(), max(0.0, deadline - time.monotonic()))
            except asyncio.TimeoutError:
                # the guest's epoch deadline is the same: it traps at its next check if it
                # computes; one waiting for the request body sees the body fail (below)
                failure = f"the deadline of {self.timeout} s was exceeded"
                record.outcome = "timeout"
                break
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
                if arg is not None and record.outcome == "ok":
                    record.outcome = _outcome(arg, ex.at_memory_limit)
                    record.error = _summary(arg)
                break
        for pull in ex.pulls:           # a read the guest started and never collected
            pull.cancel()
        if failure is not None and record.error is None:
            record.error = failure.splitlines()[0]
        if ended:
            return
        if record.outcome == "ok":
            record.outcome = "error"
        if failure is None:
            failure = "the guest returned without calling response-outparam.set" if not started else \
                "the guest returned without finishing the response body"
        log.error("%s %s: %s", scope.get("method"), scope.get("path"), failure)
        if started:
            raise _Aborted(failure)
        await _plain(send, 500, b"Internal Server Error\n")

    def close(self, wait: bool = True) -> None:
        """Stop the epoch ticker and the worker threads, if the app has its own pool (after
        the calls in progress if ``wait``; a shared pool is its owner's to shut down)."""
        # the ticker stops last: a call in progress that loops ends only at its deadline
        if self._own_pool:
            self.pool.shutdown(wait=wait)
        if self._ticker is not None:
            self._ticker.stop()


async def lifespan(receive: Receive, send: Send, close: Callable[[bool], None]) -> None:
    """Answer an ASGI lifespan: nothing to do at startup; ``close(False)`` at shutdown (the
    server has drained its requests, or given up on them)."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            close(False)
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _plain(send: Send, status: int, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body, "more_body": False})


def _counting(send: Send, record: RequestRecord) -> Send:
    """``send``, noting the status and the body's bytes in ``record``."""
    async def counted(message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.body":
            record.bytes_out += len(message.get("body", b""))
        elif kind == "http.response.start":
            record.status = message["status"]
        await send(message)
    return counted


def _outcome(error: BaseException, at_memory_limit: bool) -> str:
    """The access log's outcome of a guest call that raised ``error``."""
    code = getattr(error, "trap_code", None)
    if code is TrapCode.INTERRUPT:
        return "timeout"
    if code is TrapCode.OUT_OF_FUEL:
        return "fuel"
    seen: Optional[BaseException] = error
    while seen is not None:
        if isinstance(seen, MemoryError):
            return "oom"
        seen = seen.__cause__ or seen.__context__
    # A guest that traps after a refused memory.grow (-1 to the guest, which then gives up:
    # what toolchains' allocators do when the memory is full)
    return "oom" if at_memory_limit else "trap"


def _drop_tracebacks(error: BaseException) -> None:
    """Cut ``error`` and the exceptions it chains from their tracebacks.  A traceback keeps
    the frames of the call, so the request's store, instance and exchange, and the
    exchange keeps ``error`` (a cycle): the server needs only the error's type, message and
    trap code, and without the frames the request's objects are freed when it ends."""
    seen = set()
    exc: Optional[BaseException] = error
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        exc.__traceback__ = None
        exc = exc.__cause__ or exc.__context__


def _summary(error: BaseException) -> str:
    """``error`` in one line: a trap's last line is its reason (the lines before it, the
    wasm backtrace)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return f"{type(error).__name__}: {lines[-1]}" if lines else type(error).__name__


def _at_memory_limit(store: Store, limit: Optional[int]) -> bool:
    """Whether a linear memory of ``store`` was refused a growth, or (``limit`` bytes) cannot
    grow by one more page."""
    for inst in getattr(store, "_instances", ()):
        for mem in getattr(inst, "mems", ()):
            if getattr(mem, "grow_refused", False):
                return True
            size = getattr(mem, "size", None)
            if limit is not None and isinstance(size, int) and size + PAGE_SIZE > limit:
                return True
    return False


def _ticks(timeout: float) -> int:
    """The epoch ticks of ``timeout`` seconds: at least one, at most :data:`_NO_DEADLINE`."""
    return min(max(1, math.ceil(timeout / TICK)), _NO_DEADLINE)


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


__all__ = ["ProxyApp", "ServeError", "WorkerPool", "handler_index", "load_component", "parse_allow"]

