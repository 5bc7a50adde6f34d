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
import collections
import concurrent.futures
import logging
import math
import os
import threading
import time
from typing import (Any, Awaitable, Callable, Deque, Dict, List, MutableMapping, NamedTuple, Optional, Sequence,
                    Tuple, Union)

from ..api.aot import artifact_header, artifact_kind
from ..api.engine import Config, Engine
from ..api.store import Store
from ..cm.abi.values import Variant
from ..component import Component, ExportIndex, InstancePre, Linker
from ..component._recycle import Sandbox, pre_refusal
from ..errors import ConfigError, Trap, TrapCode, WasmError
from ..runtime.store import MAX_FUEL, is_fuel
from ..types import PAGE_SIZE
from ..wasi.config import WasiConfig
from ..wasip2 import http, io, p2_ctx
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
#: the CPU time (seconds) of an app's recent guest calls (median, instantiation included)
#: under which a request runs on the event loop's own thread (docs/serve.md, "Where a request
#: runs")
INLINE_MAX = 0.005
#: the epoch ticks an inline call may run before it is given up and run again in a worker
#: thread (the bound falls 4 to 5 ticks of TICK from its start: 8 times INLINE_MAX at least,
#: so that a call of the usual cost is not given up because a busy machine preempted it)
INLINE_TICKS = 5
#: the recent calls whose median CPU time decides (INLINE_MAX)
INLINE_WINDOW = 15
#: the largest component (bytes of its file) whose engine checks epochs without a timeout,
#: so that its short requests may run inline (:func:`epochs_for`)
INLINE_SIZE = 4 << 20
#: how long (seconds) a path whose inline call was given up goes to the worker threads
INLINE_RETRY = 5.0
#: the paths remembered so (the oldest is forgotten first)
INLINE_PATHS = 256


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


def epochs_for(path: Union[str, "os.PathLike[str]"], timeout: Optional[float]) -> bool:
    """Whether the engine of an app served from the file ``path`` checks epochs: with a
    ``timeout``; else so that a short request may run inline with a bound
    (:attr:`ProxyApp.inline`) where that may pay: for a component of at most
    :data:`INLINE_SIZE` bytes (a big one's requests are never short: the checks would only
    cost, ~20% of the componentize-js handler's CPU per request), and for an artifact as it
    was compiled (it loads only into an engine like the one that compiled it)."""
    if timeout is not None:
        return True
    try:
        with open(path, "rb") as f:
            head = f.read(1 << 16)
            size = os.fstat(f.fileno()).st_size
    except OSError:
        return True         # the loader reports it
    header = artifact_header(head)
    if header is not None:
        return bool(header.get("epoch_interruption", True))
    return size <= INLINE_SIZE


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


class _Ack:
    """The acknowledgement of one response body chunk (what ``_Exchange.push`` returns): done
    when the chunk was sent, failed if it could not be.  The part of a
    ``concurrent.futures.Future`` that an outgoing body uses (``add_done_callback``,
    ``exception``, ``done``, ``result``) and the server sets (``set_result``,
    ``set_exception``), without the Future's condition variable, which made and took cost
    several microseconds per chunk (a small response has one or two).  Thread-safe: the guest's
    thread adds the callback, the event loop completes it, each under :data:`_ACKS`."""

    __slots__ = ("_done", "_exc", "_callbacks")

    def __init__(self) -> None:
        self._done = False
        self._exc: Optional[BaseException] = None
        self._callbacks: Optional[List[Callable[["_Ack"], Any]]] = None

    def done(self) -> bool:
        return self._done

    def exception(self) -> Optional[BaseException]:
        if not self._done:
            raise concurrent.futures.InvalidStateError("the chunk is not acknowledged yet")
        return self._exc

    def result(self) -> None:
        if self.exception() is not None:
            raise self._exc         # type: ignore[misc]

    def add_done_callback(self, fn: Callable[["_Ack"], Any]) -> None:
        with _ACKS:
            if not self._done:
                if self._callbacks is None:
                    self._callbacks = []
                self._callbacks.append(fn)
                return
        fn(self)

    def set_result(self, result: None) -> None:
        self._complete(None)

    def set_exception(self, exc: BaseException) -> None:
        self._complete(exc)

    def _complete(self, exc: Optional[BaseException]) -> None:
        with _ACKS:
            if self._done:
                raise concurrent.futures.InvalidStateError("the chunk was acknowledged already")
            self._done, self._exc = True, exc
            callbacks, self._callbacks = self._callbacks, None
        for fn in callbacks or ():
            try:
                fn(self)
            except Exception:       # noqa: BLE001 - as a Future does: logged, the others still run
                log.exception("a body chunk's acknowledgement callback failed")


#: the lock of every :class:`_Ack` (held for a few instructions: one is enough)
_ACKS = threading.Lock()


class _Exchange(http.ResponseSink):
    """One request's link between the guest's thread and the event loop: the guest's messages
    (``start``, ``body``, ``end``, ``fail``, ``done``) reach :meth:`next` in order.  A call
    run inline (on the event loop's thread) holds them in :attr:`held` until it is known to
    stand (:meth:`ProxyApp._inline`)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, receive: Receive) -> None:
        self.loop = loop
        self.receive = receive
        self.items: Deque[Tuple[str, Any]] = collections.deque()
        self.waiter: "Optional[asyncio.Future[None]]" = None
        #: a worker thread's messages not handed to the event loop yet, and whether a hand-over
        #: is scheduled (:meth:`_put`)
        self.outbox: Deque[Tuple[str, Any]] = collections.deque()
        self.scheduled = False
        #: an inline call's messages, None when the guest runs in a worker thread
        self.held: Optional[List[Tuple[str, Any]]] = None
        #: the first chunk of the request body, received before the call: (bytes, more)
        self.first: Optional[Tuple[bytes, bool]] = None
        self.pulls: "List[concurrent.futures.Future[Tuple[bytes, bool]]]" = []
        self.instantiate: Optional[float] = None     # seconds, set by the guest's thread
        self.at_memory_limit = False                 # set by the guest's thread on failure
        self.recycled: Optional[bool] = None         # the guest ran in a recycled sandbox
        #: the guest finished the response (``finish``), failed it (``fail``), or a read of
        #: the request body or a write of the response failed (the client went away): a
        #: sandbox is recycled only after a response finished with none of that
        self.ended = self.broken = False

    # -- called from the guest's thread ---------------------------------------------------
    def pull(self) -> "concurrent.futures.Future[Tuple[bytes, bool]]":
        first = self.first
        if first is not None and not first[1]:
            # the whole body was received before the call: every run of the call reads it
            # (an inline call given up is run again)
            done: "concurrent.futures.Future[Tuple[bytes, bool]]" = concurrent.futures.Future()
            done.set_result(first)
            return done
        f = asyncio.run_coroutine_threadsafe(self._receive_chunk(), self.loop)
        self.pulls.append(f)
        return f

    def _put(self, kind: str, arg: Any) -> None:
        held = self.held
        if held is not None:
            held.append((kind, arg))
            return
        # One hand-over to the event loop carries every message put before it runs: a short
        # response's start, body, end and done woke the loop four or five times (a write to its
        # self-pipe each).  The loop clears ``scheduled`` before it takes the outbox, so a
        # message put meanwhile is either taken or schedules the next hand-over.
        self.outbox.append((kind, arg))
        loop = self.loop
        if self.scheduled:
            if not loop.is_closed():
                return
            # the loop closed with the hand-over pending: it never runs (nor does any later)
        else:
            self.scheduled = True
            try:
                loop.call_soon_threadsafe(self._deliver)
                return
            except RuntimeError:
                pass
        # The loop is closed: the response was given up (deadline, shutdown).  Every message
        # not handed over fails, a chunk's acknowledgement with it (the guest's writes then
        # fail instead of waiting for room in the window that no one frees).
        self.broken = True
        outbox = self.outbox
        while outbox:
            kind, arg = outbox.popleft()
            if kind == "body":
                arg[1].set_exception(ConnectionResetError("the response was given up"))

    def start(self, status: int, headers: http.FieldList) -> None:
        self._put("start", (status, headers))

    def push(self, data: bytes) -> "concurrent.futures.Future[None]":
        done = _Ack()
        self._put("body", (data, done))
        return done         # type: ignore[return-value]    # (a Future to its user: see _Ack)

    def finish(self, trailers: Optional[http.FieldList]) -> None:
        self.ended = True
        self._put("end", trailers)

    def fail(self, error: Any) -> None:
        self.broken = True
        self._put("fail", error)

    def done(self, error: Optional[BaseException]) -> None:
        self._put("done", error)

    # -- on the event loop ------------------------------------------------------------------
    def _deliver(self) -> None:
        self.scheduled = False
        outbox, items = self.outbox, self.items
        while outbox:
            items.append(outbox.popleft())
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def next(self, deadline: Optional[float]) -> Tuple[str, Any]:
        """The guest's next message; asyncio.TimeoutError past ``deadline`` (``time.monotonic()``)."""
        items = self.items
        while not items:
            self.waiter = waiter = self.loop.create_future()
            if deadline is None:
                await waiter
            else:
                await asyncio.wait_for(waiter, max(0.0, deadline - time.monotonic()))
        return items.popleft()

    async def _receive_chunk(self) -> Tuple[bytes, bool]:
        first, self.first = self.first, None
        if first is not None:
            return first
        while True:
            message = await self.receive()
            kind = message.get("type")
            if kind == "http.request":
                body = bytes(message.get("body", b""))
                more = bool(message.get("more_body", False))
                if body or not more:
                    return body, more
            elif kind == "http.disconnect":
                self.broken = True
                raise ConnectionResetError("the client disconnected")


def _describe(error: Any) -> str:
    if isinstance(error, Variant):
        return f"error-code {error.tag}" + (f" ({error.payload})" if error.payload is not None else "")
    return str(error)


class _Sandboxes:
    """The idle sandboxes of one version of an app (:class:`~wasmforge.component._recycle.Sandbox`:
    a store and instance put back to new after a request that ended cleanly), at most
    ``keep``; ``refusal`` says why its instances are not recycled (None: they are, if
    ``enabled``).  ``take`` and ``give`` are safe from any thread (deque's pop and append)."""

    def __init__(self, pre: InstancePre, keep: int, enabled: bool) -> None:
        self.idle: Deque[Sandbox] = collections.deque()
        self.keep = keep
        self.enabled = enabled
        self.refusal: Optional[str] = pre_refusal(pre) if enabled else "turned off"
        #: the memory images of the first sandbox made: later ones share them where they can
        self.like: Optional[List[List[Any]]] = None
        self.closed = False

    def take(self) -> Optional[Sandbox]:
        try:
            return self.idle.pop()
        except IndexError:
            return None

    def give(self, sandbox: Sandbox) -> bool:
        """Keep ``sandbox`` (put back to new) for a later request; False if it is not kept."""
        if self.closed or len(self.idle) >= self.keep:
            return False
        self.idle.append(sandbox)
        if self.closed:             # closed meanwhile: the closer may have missed it
            self.close()
        return True

    def close(self) -> None:
        """Release the idle sandboxes; none is kept from now on (the version is replaced)."""
        self.closed = True
        while True:
            sandbox = self.take()
            if sandbox is None:
                return
            sandbox.close()


class _Loaded(NamedTuple):
    """One version of an app: what a request needs, swapped whole by a reload."""

    component: Component
    pre: InstancePre
    handle: ExportIndex
    sandboxes: _Sandboxes


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
                 allow_precompiled: bool = False, recycle: bool = True) -> None:
        if isinstance(app, Component):
            engine = app._engine
        elif engine is None:
            config = Config()
            config.epoch_interruption = epochs_for(app, timeout)
            config.consume_fuel = fuel is not None
            engine = Engine(config)
        if timeout is not None and not engine.epoch_interruption:
            raise ConfigError("a timeout needs an engine with Config.epoch_interruption = True")
        if fuel is not None and not engine.consume_fuel:
            raise ConfigError("fuel needs an engine with Config.consume_fuel = True")
        if timeout is not None and not 0 < timeout < math.inf:
            raise ConfigError(f"the timeout must be a positive finite number of seconds, not {timeout!r}")
        if fuel is not None and not is_fuel(fuel):
            # refused here, not by every request's Store.set_fuel (a 500 each)
            raise ConfigError(f"fuel must be an integer from 0 to 2**64 - 1, not {fuel!r}")
        self.engine = engine
        #: whether a request's sandbox is put back to new and kept for a later request after
        #: it ended cleanly (docs/serve.md, "Recycled sandboxes"), where the component allows
        self.recycle = recycle
        self.recycled = 0       # requests that ran in a recycled sandbox
        self.fresh = 0          # requests that ran in an instance made for them
        self._own_pool = pool is None
        self.pool = pool if pool is not None else WorkerPool(max_workers, max_queue)
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
        self.capacity = self.pool.capacity
        self.active = 0         # this app's requests in progress
        self.observer = observer
        #: whether a short request's guest call may run on the event loop's thread
        #: (:meth:`_inline`): it needs epochs (to bound it) and the default WASI (whose only
        #: effect outside the request, stdout and stderr, is held until the call stands)
        self.inline = engine.epoch_interruption and wasi is None
        self._costs: Deque[float] = collections.deque(maxlen=INLINE_WINDOW)
        self._slow_paths: Dict[str, float] = {}
        self.inlined = 0        # requests answered by an inline call
        self.given_up = 0       # inline calls given up and run again in a worker thread
        # the ticker follows the engine's epochs: timeouts, and the bound of an inline call
        self._ticker = _EpochTicker(engine) if engine.epoch_interruption else None
        if self._ticker is not None:
            self._ticker.start()

    def _prepare(self, component: Component) -> _Loaded:
        handle = handler_index(component)
        linker = Linker(self.engine)
        linker.add_wasip2()
        linker.add_wasi_http()
        pre = linker.instantiate_pre(component)
        # a sandbox per worker thread, and one for the calls run inline on the event loop
        keep = self.pool.executor._max + 1
        return _Loaded(component, pre, handle, _Sandboxes(pre, keep, self.recycle))

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
        old = self._loaded
        self._loaded, self.origin = self._prepare(component), origin
        # the old version's idle sandboxes go; its requests in progress drop theirs (_recycle)
        old.sandboxes.close()
        self._costs.clear()         # a new version: its calls' cost is not known yet

    # -- one request, in a worker thread ----------------------------------------------------
    def _instantiate(self, loaded: Optional[_Loaded] = None, deadline: Optional[float] = None, *,
                     wasi: Optional[WasiConfig] = None) -> Tuple[Store, Any]:
        """A new store and instance, and its handler; ``deadline`` (``time.monotonic()``) is
        the request's, from its admission (default: ``timeout`` from now), or an inline
        call's bound; ``wasi`` its WASI configuration (default: the app's)."""
        loaded = loaded if loaded is not None else self._loaded
        sandboxes = loaded.sandboxes
        sandbox = sandboxes.take() if sandboxes.refusal is None else None
        store = sandbox.store if sandbox is not None else Store(self.engine)
        try:
            return self._ready(store, sandbox, loaded, deadline, wasi)
        except BaseException:
            # (the app's WASI configuration failed, the instantiation trapped: the caller
            # never gets the store, so it is released here, a sandbox taken included)
            store.close()
            raise

    def _ready(self, store: Store, sandbox: Optional[Sandbox], loaded: _Loaded, deadline: Optional[float],
               wasi: Optional[WasiConfig]) -> Tuple[Store, Any]:
        """:meth:`_instantiate`'s work on ``store`` (``sandbox``'s, taken from the pool, or
        new)."""
        sandboxes = loaded.sandboxes
        # an engine with epochs or fuel on and no limit asked: none in effect
        if deadline is None and self.timeout is not None:
            deadline = time.monotonic() + self.timeout
        if self._ticker is not None and deadline is not None:
            # the time left from now: the ticks still owed (a starved ticker) are time already past
            store.set_epoch_deadline(_ticks(deadline - time.monotonic()) + self._ticker.owed())
        elif self.engine.epoch_interruption:
            store.set_epoch_deadline(_NO_DEADLINE)
        if self.fuel is not None or self.engine.consume_fuel:
            store.set_fuel(self.fuel if self.fuel is not None else MAX_FUEL)
        config = wasi if wasi is not None else self._wasi()
        if sandbox is not None:
            # put back to new after its last request (_recycle): a new WASI context now
            ctx = sandbox.renew_wasi(config)
            if self.allow_http:
                ctx.http_allow = list(self.allow_http)
            self.recycled += 1
            return store, sandbox.handle
        if self.memory_limit is not None:
            store.set_limits(memory_size=self.memory_limit)
        store.set_wasi(config)
        if self.allow_http:
            p2_ctx(store).http_allow = list(self.allow_http)
        self.fresh += 1
        if sandboxes.refusal is not None:
            instance = loaded.pre.instantiate(store)
            return store, instance.get_func(store, loaded.handle)
        sandbox = Sandbox(loaded.pre, store, sandboxes.like)
        sandbox.handle = sandbox.instance.get_func(store, loaded.handle)
        if sandbox.refusal is not None:
            if sandboxes.refusal is None:
                sandboxes.refusal = sandbox.refusal
                log.info("%s: requests get a new instance each, not a recycled one: %s", self.name,
                         sandbox.refusal)
        else:
            if sandboxes.like is None:
                sandboxes.like = sandbox.images
        return store, sandbox.handle

    def _recycle(self, store: Store, loaded: _Loaded, ex: _Exchange, error: Optional[BaseException],
                 deadline: Optional[float]) -> bool:
        """Put the sandbox of ``store`` back to new and keep it for a later request, if it
        has one and the request ended cleanly: the guest returned (no trap, exit, deadline,
        fuel exhausted, call given up), its response finished, nothing failed between it
        and the client, no memory growth refused, and ``loaded`` is still the version served.
        Whether it is kept (else the caller closes the store)."""
        sandbox = store._sandbox
        if sandbox is None or error is not None or not ex.ended or ex.broken:
            return False
        if deadline is not None and time.monotonic() >= deadline:
            return False
        if loaded is not self._loaded or _at_memory_limit(store, None):     # (a growth refused)
            return False
        try:
            if sandbox.reset() is not None:
                return False
        except Exception as exc:        # (an madvise refused: the sandbox is dropped, nothing else)
            log.warning("%s: a sandbox could not be put back, dropped: %s", self.name, exc)
            return False
        return loaded.sandboxes.give(sandbox)

    def _run(self, scope: Scope, ex: _Exchange, loaded: _Loaded, deadline: Optional[float] = None) -> None:
        if deadline is not None and time.monotonic() >= deadline:
            # it waited for a thread past its deadline: answered 500 (or about to be), and
            # nothing is run for it
            ex.done(Trap("interrupt: the deadline passed before the request got a thread", TrapCode.INTERRUPT))
            return
        # The guest's objects (store, instance, handles) live in _call's frame only, gone
        # before the event loop hears that the request is done (Collector: an idle process
        # freezes what is alive).
        cpu = time.thread_time()
        error = self._call(scope, ex, loaded, deadline)
        self._costs.append(time.thread_time() - cpu)
        if error is not None:
            _drop_tracebacks(error)
        ex.done(error)

    def _call(self, scope: Scope, ex: _Exchange, loaded: _Loaded, deadline: Optional[float],
              wasi: Optional[WasiConfig] = None) -> Optional[BaseException]:
        """Run the request's guest call (``wasi``: an inline call's WASI configuration, else
        None): the error it raised, or None."""
        error: Optional[BaseException] = None
        store: Optional[Store] = None
        inline = wasi is not None
        if not inline:
            # demoted only where the guest computes without the interpreter lock (the llvm
            # tier's native code): an interp guest holds it, and a demoted thread the scheduler
            # leaves waiting with it stops the event loop and the epoch ticker (at load 14 an
            # interp /loop's 500 came 0.4-1.4 s past its deadline demoted, 0.01-0.03 s not)
            self.pool._enter(self.engine.strategy != "interp", deadline)
        try:
            t = time.perf_counter()
            store, handle = self._instantiate(loaded, deadline, wasi=wasi)
            ex.instantiate = time.perf_counter() - t
            sandbox = store._sandbox
            ex.recycled = sandbox is not None and sandbox.uses > 0
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
            if not inline:
                self.pool._leave()
            # The instance is done with: put back to new and kept for a later request
            # (a sandbox: _recycle), or its memories released now rather than whenever the
            # store's reference cycles are collected (the server's memory stays flat).
            if store is not None and not self._recycle(store, loaded, ex, error, deadline):
                store.close()
        return error

    # -- one request, on the event loop's thread ----------------------------------------------
    def _inlines(self, path: str) -> bool:
        """Whether a request for ``path`` runs inline: the app's recent calls were short (their
        median CPU time under :data:`INLINE_MAX`; the first calls, which may compile lazily,
        run in the worker threads) and no inline call for ``path`` was given up lately."""
        costs = self._costs
        if not self.inline or not costs or sorted(costs)[len(costs) // 2] >= INLINE_MAX:
            return False
        until = self._slow_paths.get(path)
        if until is not None:
            if time.monotonic() < until:
                return False
            del self._slow_paths[path]
        return True

    def _inline(self, scope: Scope, ex: _Exchange, loaded: _Loaded, deadline: Optional[float]) -> bool:
        """Run the request's guest call on this thread, the event loop's: no hand-over between
        threads, and the response's messages all at once.  The call is speculative: bounded by
        :data:`INLINE_TICKS` epoch ticks, and given up (its instance dropped, nothing it did
        seen) when it reaches them or would wait (:class:`wasmforge.wasip2.io.speculative`:
        a ``wasi:io/poll`` wait, an outgoing request); its messages are held meanwhile, and
        its stdout and stderr captured.  True if the call stands (its messages are in ``ex``),
        False if it was given up: the caller runs the request again in a worker thread."""
        now = time.monotonic()
        bound = INLINE_TICKS * TICK
        # the request's own deadline comes first: reaching it is the answer, a 500
        final = deadline is not None and deadline - now <= bound
        out: List[bytes] = []
        err: List[bytes] = []
        wasi = WasiConfig()
        wasi.stdout_callback = out.append
        wasi.stderr_callback = err.append
        ex.held = []
        cpu = time.thread_time()
        with io.speculative():
            error = self._call(scope, ex, loaded, deadline if final else now + bound, wasi)
        cost = time.thread_time() - cpu
        held, ex.held = ex.held, None
        waits = isinstance(error, io.WouldWait)
        if waits or (not final and getattr(error, "trap_code", None) is TrapCode.INTERRUPT):
            self.given_up += 1
            # a path whose call waits, or computes (not one whose thread was preempted: the
            # bound is wall-clock time), goes to the worker threads for a while
            if waits or cost >= INLINE_MAX:
                paths = self._slow_paths
                if len(paths) >= INLINE_PATHS:
                    del paths[next(iter(paths))]
                paths[scope.get("path", "")] = now + INLINE_RETRY
            return False
        self._costs.append(cost)
        self.inlined += 1
        for fd, chunks in ((1, out), (2, err)):
            if chunks:
                _write_all(fd, b"".join(chunks))
        if error is not None:
            _drop_tracebacks(error)
        ex.items.extend(held)
        ex.items.append(("done", error))
        return True

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
            loaded = self._loaded
            inline = self._inlines(record.path) and _bodyless(scope)
            if inline:
                try:
                    # at once, the request having no body: the call may read it with no wait
                    ex.first = await ex._receive_chunk()
                except ConnectionResetError:
                    record.outcome, record.error = "error", "the client disconnected"
                    return
                inline = not ex.first[1] and self._inline(scope, ex, loaded, deadline)
            if not inline:
                loop.run_in_executor(pool.executor, self._run, scope, ex, loaded, deadline)
            await self._respond(scope, ex, send, deadline, record)
        except BaseException as exc:
            if record.outcome == "ok":
                record.outcome, record.error = "error", f"{type(exc).__name__}: {exc}".splitlines()[0]
            raise
        finally:
            self.active -= 1
            pool.active -= 1
            record.duration = time.perf_counter() - t
            record.instantiate = ex.instantiate
            record.recycled = ex.recycled if ex.instantiate is not None else None
            if self.observer is not None:
                self.observer(record)
            if pool.collector is not None:
                # a request answered at its deadline may leave its guest call running
                pool.collector.request_ended(pool.active + pool.running)

    async def _respond(self, scope: Scope, ex: _Exchange, send: Send, deadline: Optional[float],
                       record: RequestRecord) -> None:
        """Send the guest's response as its messages come (:meth:`_Exchange.next`), noting its
        status and the body's bytes in ``record`` as each message goes (before it is sent)."""
        trailers_ok = "http.response.trailers" in (scope.get("extensions") or {})
        started = ended = False
        failure: Optional[str] = None
        items = ex.items
        while True:
            try:
                kind, arg = items.popleft() if items else await ex.next(deadline)
            except asyncio.TimeoutError:
                # the guest's epoch deadline is the same: it traps at its next check if it
                # computes; one waiting for the request body sees the body fail (below)
                failure = f"the deadline of {self.timeout} s was exceeded"
                record.outcome = "timeout"
                break
            if kind == "start" and not started:
                status, headers = arg
                record.status = status
                await send({"type": "http.response.start", "status": status, "trailers": trailers_ok,
                            "headers": [(k.encode("latin-1"), v) for k, v in headers]})
                started = True
            elif kind == "body":
                data, done = arg
                dones = [done]
                if items and items[0][0] == "body":
                    # the chunks here already go out as one message (one write to the socket)
                    chunks = [data]
                    while items and items[0][0] == "body":
                        more, done = items.popleft()[1]
                        chunks.append(more)
                        dones.append(done)
                    data = b"".join(chunks)
                # and with the body's end, when that is here too
                last = started and not ended and failure is None and bool(items) and items[0][0] == "end"
                try:
                    if not ended and failure is None:
                        record.bytes_out += len(data)
                        await send({"type": "http.response.body", "body": data, "more_body": not last})
                    for done in dones:
                        done.set_result(None)
                except Exception as exc:
                    ex.broken = True
                    for done in dones:
                        done.set_exception(exc)
                    last = False
                if last:
                    trailers = items.popleft()[1]
                    if trailers_ok:
                        await send(_trailers(trailers))
                    ended = True
            elif kind == "end" and started and not ended:
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                if trailers_ok:
                    await send(_trailers(arg))
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
        await _plain(send, 500, b"Internal Server Error\n", record)

    def close(self, wait: bool = True) -> None:
        """Stop the epoch ticker and the worker threads, if the app has its own pool (after
        the calls in progress if ``wait``; a shared pool is its owner's to shut down)."""
        # the ticker stops last: a call in progress that loops ends only at its deadline
        if self._own_pool:
            self.pool.shutdown(wait=wait)
        self._loaded.sandboxes.close()
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


async def _plain(send: Send, status: int, body: bytes, record: Optional[RequestRecord] = None) -> None:
    """Send a plain-text response (noted in ``record``, if given, as :meth:`ProxyApp._respond` does)."""
    if record is not None:
        record.status = status
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]})
    if record is not None:
        record.bytes_out += len(body)
    await send({"type": "http.response.body", "body": body, "more_body": False})


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


def _trailers(fields: Optional[http.FieldList]) -> Dict[str, Any]:
    """The ``http.response.trailers`` message of the guest's trailers (None: none)."""
    return {"type": "http.response.trailers", "more_trailers": False,
            "headers": [(k.encode("latin-1"), v) for k, v in (fields or [])]}


def _bodyless(scope: Scope) -> bool:
    """Whether the request's headers say it has no body (no content-length but 0, no
    transfer-encoding, nothing expected to continue)."""
    for name, value in scope.get("headers", ()):
        name = bytes(name).lower()
        if name == b"content-length":
            if bytes(value).strip() != b"0":
                return False
        elif name in (b"transfer-encoding", b"expect"):
            return False
    return True


def _write_all(fd: int, data: bytes) -> None:
    """Write ``data`` to ``fd`` (an inline call's captured stdout or stderr), as an inherited
    stream would have; lost if ``fd`` is closed, as the guest's write would have failed."""
    view = memoryview(data)
    try:
        while view:
            view = view[os.write(fd, view):]
    except OSError:
        pass


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

