"""The WASI 0.2 state of one store: the resource table, stdio streams, clocks and randomness,
built over the store's preview1 context (:func:`wasmforge.wasi.set_wasi`), so both previews
share one ``WasiConfig`` and one sandbox (its preopened directories)."""

from __future__ import annotations

import os
import random
import time
import weakref
from typing import Any, Callable, Dict, List, Optional, Tuple, Type, TypeVar

from ..cm.abi.resources import Resource
from ..cm import types as ct
from ..cm.wit.ctypes import TypeMap
from ..errors import Trap
from ..wasi import WasiConfig, WasiCtx, wasi_ctx
from ..wasi.ctx import FdEntry
from . import io
from ._wit import wasi_resolve

T = TypeVar("T")


class P2Ctx:
    """One store's WASI 0.2 state.  ``types`` turns the vendored WIT into component types
    with this context's own resource types (their destructors free this context's table)."""

    def __init__(self, p1: WasiCtx, config: WasiConfig) -> None:
        self.table: Dict[int, Any] = {}
        self.types = TypeMap(wasi_resolve())
        #: resource name -> (its interface, its host resource type): wasip2/http.py ``_rt``
        self._rts: Dict[str, Tuple[str, ct.ResourceType]] = {}
        #: unversioned interface name -> its implementation for this context, built on its
        #: first call (host.py ``implementation``)
        self.impls: Dict[str, Dict[str, Callable[..., Any]]] = {}
        #: set when a function of this context is first bound to its implementation, on its
        #: first call (host.py): a component whose instantiation called the host is not
        #: recycled (component/_recycle.py)
        self.called = False
        self._fresh(p1, config)

    def _fresh(self, p1: WasiCtx, config: WasiConfig) -> None:
        """The state of a new context over ``p1``: what :meth:`renew` makes again."""
        self.p1 = p1
        self.config = config
        self.args = [a.decode("utf-8", "replace") for a in p1.args]
        self.env = [tuple(e.decode("utf-8", "replace").split("=", 1)) for e in p1.environ]
        self.table.clear()
        self._next = 1
        self.stdin = _input(p1.fds.get(0))
        self.stdout = _output(p1.fds.get(1))
        self.stderr = _output(p1.fds.get(2))
        self.wall_clock: Optional[Callable[[], int]] = config.wall_clock
        self.monotonic_clock: Optional[Callable[[], int]] = config.monotonic_clock
        seed = config.random_seed
        self.rng: Optional[random.Random] = None if seed is None else random.Random(seed)
        self.insecure = random.Random(seed if seed is not None else os.urandom(16))
        self.insecure_seed = (self.insecure.getrandbits(64), self.insecure.getrandbits(64))
        #: the destinations wasi:http/outgoing-handler may reach: (host, port or None for any
        #: port); none by default (the embedder grants them, as `wasmforge serve --allow-http`)
        self.http_allow: List[Tuple[str, Optional[int]]] = []

    def renew(self, p1: WasiCtx, config: WasiConfig) -> None:
        """Make this context new again over the preview 1 context ``p1`` (a sandbox recycled:
        component/_recycle.py): an empty resource table numbered from 1 (nothing of the
        previous user reachable: streams, fields, outparams), the stdio, arguments,
        environment, clocks, randomness and preopens of ``config``, no HTTP destinations.
        What is kept is what a new context would make the same: the resource types and the
        implementations bound to this context, which read its state when called."""
        self._fresh(p1, config)

    # -- the resource table -------------------------------------------------------------
    def resource_type(self, rt: ct.ResourceType) -> ct.ResourceType:
        """Make the WIT's resource type ``rt`` (from ``self.types``) a host type whose owned
        handles free their table entry when dropped."""
        if not rt.host:
            rt.host = True
            rt.dtor = self._drop
        return rt

    def push(self, rt: ct.ResourceType, obj: Any) -> Resource:
        """A new owned handle of ``rt`` for ``obj``."""
        rep = self._next
        if rep > 0xFFFFFFFF:
            raise Trap("wasi: the resource table is full")
        self._next += 1
        self.table[rep] = obj
        return Resource(self.resource_type(rt), rep, True)

    def get(self, handle: Resource, cls: Type[T]) -> T:
        obj = self.table.get(handle.rep)
        if not isinstance(obj, cls):
            raise Trap(f"wasi: handle {handle.rep} is not a {cls.__name__} of this store")
        return obj

    def _drop(self, rep: int) -> None:
        obj = self.table.pop(rep, None)
        # an object that must react to the guest dropping it (an unfinished HTTP body) says so
        dropped = getattr(obj, "dropped", None)
        if dropped is not None:
            dropped()

    # -- clocks --------------------------------------------------------------------------
    def monotonic_now(self) -> int:
        clock = self.monotonic_clock
        return int(clock()) if clock is not None else time.monotonic_ns()

    def wall_now(self) -> int:
        clock = self.wall_clock
        return int(clock()) if clock is not None else time.time_ns()

    def timer_at(self, instant: int) -> io.Pollable:
        """A pollable ready when the monotonic clock reaches ``instant``.  With a virtual
        clock, the wait is the real time between its reading now and ``instant``."""
        delta = instant - self.monotonic_now()
        return io.timer(time.monotonic_ns() + max(0, delta))

    # -- randomness ----------------------------------------------------------------------
    def random_bytes(self, n: int) -> bytes:
        return self.rng.randbytes(n) if self.rng is not None else os.urandom(n)


def _input(entry: Optional[FdEntry]) -> io.InputStream:
    if entry is None:
        return io.EmptyInput()
    if entry.host >= 0:
        return io.FdInput(entry.host)
    if entry.data is not None:
        return io.BytesInput(entry.data)
    return io.EmptyInput()


def _output(entry: Optional[FdEntry]) -> io.OutputStream:
    if entry is None:
        return io.NullOutput()
    if entry.host >= 0:
        return io.FdOutput(entry.host)
    if entry.sink is not None:
        return io.CallbackOutput(entry.sink)
    return io.NullOutput()


_CTX: "weakref.WeakKeyDictionary[Any, Tuple[WasiCtx, P2Ctx]]" = weakref.WeakKeyDictionary()


def p2_ctx(store: Any) -> P2Ctx:
    """The WASI 0.2 state of ``store``, made from the WasiConfig ``Store.set_wasi`` gave it (a
    default one, which grants nothing, when it has none); remade when that changes."""
    p1 = wasi_ctx(store)
    got = _CTX.get(store)
    if got is not None and (p1 is None or got[0] is p1):
        return got[1]
    if p1 is None:
        p1 = WasiCtx(WasiConfig())
    config = getattr(p1, "config", None) or WasiConfig()
    ctx = P2Ctx(p1, config)
    _CTX[store] = (p1, ctx)
    return ctx


def renew_p2_ctx(store: Any) -> P2Ctx:
    """The WASI 0.2 state of ``store`` made new (:meth:`P2Ctx.renew`) over the WasiConfig
    ``Store.set_wasi`` gave it last, the same object as before: what the store's instances
    bound to it (host.py) sees the new state."""
    got = _CTX.get(store)
    if got is None:
        return p2_ctx(store)
    p1 = wasi_ctx(store)
    if p1 is None:
        p1 = WasiCtx(WasiConfig())
    ctx = got[1]
    ctx.renew(p1, getattr(p1, "config", None) or WasiConfig())
    _CTX[store] = (p1, ctx)
    return ctx


def is_terminal(stream: Any) -> bool:
    """Whether a stdio stream is an inherited terminal (``wasi:cli/terminal-*``)."""
    fd = getattr(stream, "fd", None)
    try:
        return fd is not None and os.isatty(fd)
    except OSError:
        return False


__all__ = ["P2Ctx", "p2_ctx", "renew_p2_ctx", "is_terminal"]
