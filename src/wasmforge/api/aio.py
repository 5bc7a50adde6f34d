"""The asyncio host: calling guests from ``async def`` code, and ``async def`` host functions.

``await func.call_async(store, *args)`` (core :class:`~wasmforge.Func` and
:class:`wasmforge.component.Func`) runs the call in a thread of its own, so the event loop
keeps running while the guest computes or sleeps in ``wasi:io/poll``.  A host function that
is a coroutine function runs on that event loop: the guest's thread hands it to the loop
(``run_coroutine_threadsafe``) and waits for its result, so it may await anything the loop
serves (sockets, queues, other tasks).  If such a host function calls back into the same
store with ``call_async``, that nested call runs on the guest's thread, which serves it while
it waits.

A store is single-threaded: while an async call (or a component call) runs guest code in
it, a call from any other thread raises :class:`~wasmforge.errors.StoreBusyError` at once.
Cancelling the task that awaits a call makes a guest sleeping in ``wasi:io/poll`` trap (and
cancels a host coroutine it waits for); guest code that computes runs on until it returns
or traps (an epoch deadline bounds it), and the store stays busy until then.

Python compiled to WebAssembly (Pyodide) cannot start threads: there ``call_async`` runs the
call on the event loop's thread, which waits for it, and an async host function the guest
calls raises WasmError (docs/pyodide.md).
"""

from __future__ import annotations

import contextvars
import functools
import sys
import threading
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Coroutine, List, Optional, Tuple, TypeVar

from ..errors import StoreBusyError, Trap, WasmError
from ..runtime.interrupts import Waker, add_interrupt, remove_interrupt

if TYPE_CHECKING:
    # asyncio (with ssl, socket, subprocess, concurrent.futures: ~20 ms) is imported where an
    # async call or an async host function runs; a synchronous embedder never pays for it.
    import asyncio
    import queue

T = TypeVar("T")

#: the owner of a store whose async call is starting (its thread not running yet)
_STARTING = -1
_lock = threading.Lock()
#: whether a call can run in a thread of its own: not in Python compiled to WebAssembly
#: (Pyodide), whose threading module cannot start one
_THREADS = sys.platform not in ("emscripten", "wasi")


def _busy() -> StoreBusyError:
    return StoreBusyError("this store is running guest code in another thread: a store is single-threaded "
                          "(make one store per concurrent call)")


def claim(store: Any, owner: Optional[int] = None) -> bool:
    """Make the current thread (or ``owner``) the one running guest code in ``store``.
    False when it already is (a re-entrant call); StoreBusyError when another thread is."""
    me = threading.get_ident() if owner is None else owner
    with _lock:
        cur = getattr(store, "_guest_thread", None)
        if cur is None:
            store._guest_thread = me
            return True
        if cur == me:
            return False
    raise _busy()


def release(store: Any) -> None:
    store._guest_thread = None


def check_thread(store: Any) -> None:
    """StoreBusyError when another thread runs guest code in ``store`` (the check of a core
    call, which does not claim the store)."""
    cur = store._guest_thread
    if cur is not None and cur != threading.get_ident():
        raise _busy()


class _Call:
    """One async call: its loop, its thread, what it serves while waiting for the loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, store: Any) -> None:
        import queue  # start-up speed: as asyncio (above)
        self.loop = loop
        self.store = store
        self.thread = 0
        self.cancelled = False
        self.waker = Waker()
        self.inbox: "queue.SimpleQueue[Tuple[Callable[[], Any], asyncio.Future[Any]] | None]" = queue.SimpleQueue()
        #: the host coroutines the guest's thread waits for, innermost last (it serves nested
        #: calls meanwhile)
        self.hosting: List[Any] = []
        #: how many host coroutines it waits for (counted before each is scheduled)
        self.waiting = 0

    def check(self) -> None:
        if self.cancelled:
            raise Trap("the asyncio task awaiting this call was cancelled")

    def cancel(self) -> None:
        self.cancelled = True
        self.waker.wake()
        for fut in list(self.hosting):
            fut.cancel()
        self.inbox.put(None)


#: the async call the current thread runs (its guest's thread), for async host functions
_local = threading.local()
#: in a host coroutine: the async call whose guest awaits it (for re-entrant calls)
_awaited_by: "contextvars.ContextVar[Optional[_Call]]" = contextvars.ContextVar("wasmforge_awaited_by",
                                                                                default=None)


def _settle(fut: "asyncio.Future[Any]", ok: bool, value: Any) -> None:
    if fut.cancelled():
        return
    if ok:
        fut.set_result(value)
    else:
        fut.set_exception(value)


async def call_async(store: Any, call: Callable[..., T], *args: Any) -> T:
    """Run ``call(*args)`` (a call of guest code in ``store``) in a thread of its own and
    await its result; exceptions (a Trap, a host function's) are raised here unchanged."""
    import asyncio  # start-up speed: loaded by the caller's event loop already
    loop = asyncio.get_running_loop()
    outer = _awaited_by.get()
    if outer is not None and outer.store is store and store._guest_thread == outer.thread \
            and outer.waiting:
        # a host coroutine calling back into the store its guest waits in: the guest's
        # thread runs the call while it waits for this coroutine
        fut: "asyncio.Future[T]" = loop.create_future()
        outer.inbox.put((functools.partial(call, *args), fut))
        return await fut
    if not _THREADS:
        # Python compiled to WebAssembly (Pyodide) cannot start a thread: the call runs here,
        # on the event loop's thread, which waits for it as a synchronous call would.
        return call(*args)
    claim(store, _STARTING)
    state = _Call(loop, store)
    done: "asyncio.Future[T]" = loop.create_future()
    context = contextvars.copy_context()

    def run() -> None:
        state.thread = threading.get_ident()
        store._guest_thread = state.thread
        _local.call = state
        add_interrupt(state.waker.fd, state.check)
        ok, value = True, None  # type: Tuple[bool, Any]
        try:
            state.check()
            value = context.run(call, *args)
        except BaseException as exc:        # handed to the awaiting task
            ok, value = False, exc
        finally:
            remove_interrupt(state.waker.fd)
            _local.call = None
            state.waker.close()
            release(store)                  # before the awaiting task resumes
        try:
            loop.call_soon_threadsafe(_settle, done, ok, value)
        except RuntimeError:
            pass                            # the loop is closed: nobody awaits the call any more

    try:
        threading.Thread(target=run, name="wasmforge-call", daemon=True).start()
    except BaseException:
        release(store)
        raise
    try:
        return await asyncio.shield(done)
    except asyncio.CancelledError:
        state.cancel()
        # the guest's outcome (often the trap the cancellation caused) is nobody's now
        done.add_done_callback(lambda f: f.cancelled() or f.exception())
        raise


def run_awaitable(awaitable: Awaitable[T]) -> T:
    """The result of a host function's awaitable, for the guest's thread: run on the loop of
    the async call it belongs to (serving re-entrant calls meanwhile), or in a loop of its
    own when the guest was called synchronously outside any event loop."""
    import asyncio  # start-up speed: only an async host function's call needs it
    state: Optional[_Call] = getattr(_local, "call", None)
    coro = _as_coroutine(awaitable)
    if state is None:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(coro)
        coro.close()
        if not _THREADS:
            raise WasmError("an async host function cannot be awaited here: the guest runs on the event "
                            f"loop's own thread, as this Python ({sys.platform}) cannot start threads")
        raise WasmError("an async host function was called by a guest running on the event loop's own "
                        "thread: call the export with `await func.call_async(store, ...)`")

    async def hosted() -> T:
        _awaited_by.set(state)
        return await coro
    state.waiting += 1
    fut = asyncio.run_coroutine_threadsafe(hosted(), state.loop)
    state.hosting.append(fut)
    fut.add_done_callback(lambda _: state.inbox.put(None))
    try:
        while not fut.done():
            item = state.inbox.get()
            if item is None:
                continue
            fn, reply = item
            try:
                value = fn()
            except BaseException as exc:
                state.loop.call_soon_threadsafe(_settle, reply, False, exc)
            else:
                state.loop.call_soon_threadsafe(_settle, reply, True, value)
        return fut.result()
    finally:
        state.hosting.remove(fut)
        state.waiting -= 1


async def _await(awaitable: Awaitable[T]) -> T:
    return await awaitable


def _as_coroutine(awaitable: Awaitable[T]) -> Coroutine[Any, Any, T]:
    import inspect  # start-up speed: inspect (with ast, dis, tokenize) only for async calls
    return awaitable if inspect.iscoroutine(awaitable) else _await(awaitable)


def blocking(func: Callable[..., Any]) -> Callable[..., Any]:
    """A coroutine function as a plain host function (see :func:`run_awaitable`)."""
    @functools.wraps(func)
    def call(*args: Any) -> Any:
        return run_awaitable(func(*args))
    return call


def is_async(func: Callable[..., Any]) -> bool:
    """Whether ``func`` is a host function to run on the event loop (a coroutine function)."""
    import inspect  # start-up speed: a warm `wasmforge run` defines no host function of its own
    while isinstance(func, functools.partial):
        func = func.func
    return inspect.iscoroutinefunction(func)


__all__ = ["call_async", "run_awaitable", "blocking", "is_async", "claim", "release", "check_thread"]
