"""The worker threads of ``wasmforge serve`` and the scheduling priority of long calls.

A guest that computes for long (a loop stopped only by its deadline) runs native code without
the interpreter lock on the llvm tier, so on a small machine a few of them take every core
from the event loop, the epoch ticker and the short requests: the answers the server owes at
a deadline come late, and short requests miss their own deadlines.  So a call that has used
more than :data:`DEMOTE_AFTER` seconds of CPU time is *demoted*: its thread's nice value is
raised by :data:`DEMOTE_NICE` (Linux lets a process set the nice value of each of its threads,
``setpriority(PRIO_PROCESS, tid)``), and put back when the call ends.  The event loop, the
ticker and the calls below the threshold keep their priority, so the scheduler runs them first
whenever they are ready.  CPU time, not wall-clock time, measures a call: a short request that
waited for a core has not *run* long and keeps its priority.

A demoted call gets its priority back shortly before its deadline (:data:`PROMOTE_BEFORE`):
at the deadline its guest traps, and the trap is Python code, run with the interpreter lock.
A thread at nice 19 that wants the lock makes the thread holding it (the event loop, which owes
the deadline's 500) hand the lock over and wait until it has taken it (CPython's forced switch),
then holds it while the scheduler leaves it waiting behind every other job: the answer came as
late as the demoted thread got to run (0.2-0.7 s past the deadline at load 9, the event loop
woken within milliseconds of the guest's trap).  Promoted first, the trap runs at once.

Putting a nice value back down needs privilege (``CAP_SYS_NICE``, or ``RLIMIT_NICE``); where
that is refused, the demoted thread ends after its call and the pool starts a new one (threads
inherit the nice value of the thread that makes them: the event loop's) for later calls.
"""

from __future__ import annotations

import collections
import concurrent.futures
import gc
import os
import sys
import threading
import time
from typing import Any, Callable, Deque, Dict, Optional, Set, Tuple

#: the CPU time (seconds) a call may use before its thread is demoted
DEMOTE_AFTER = 0.05
#: how much a demoted thread's nice value is raised (capped at 19, the lowest priority)
DEMOTE_NICE = 19
#: how often the watchdog looks at the calls in progress (seconds)
WATCH_PERIOD = 0.01
#: how long (seconds) before its deadline a demoted call gets its priority back (for its trap,
#: which takes the interpreter lock: see the module's docstring); several watch periods and
#: epoch ticks, so that a watchdog or ticker late under load still promotes it first
PROMOTE_BEFORE = 0.05

#: whether this system sets nice values per thread (elsewhere a nice value is the process's)
PER_THREAD_NICE = sys.platform.startswith("linux") and hasattr(os, "setpriority")

#: the collector's thresholds in a served process (CPython's: 700, 10, 10): a young collection
#: per 20,000 new objects, the middle generation's every 5th, a full one every 2nd of those
THRESHOLDS = (20_000, 5, 1)
#: the objects alive once the apps are loaded from which a served process takes THRESHOLDS
#: (tiny.wasm's server: ~50,000, with the componentize-js handler ~140,000, -py ~210,000)
BIG_HEAP = 100_000
#: the request counts after which an idle served process freezes what survived (doubling)
FREEZE_UNTIL = 1024
#: a small app's idle request ends collect the young generations, and every this many the
#: oldest one too (:meth:`Collector.request_ended`)
FULL_EVERY = 64

_WorkItem = Tuple["concurrent.futures.Future[Any]", Callable[..., Any], Tuple[Any, ...], Dict[str, Any]]


class _Call:
    """A call in progress in a worker thread, as the watchdog sees it."""

    __slots__ = ("tid", "clock", "cpu0", "base", "demoted", "counted", "collecting", "promote_at", "final")

    def __init__(self, tid: int, clock: int, base: int, deadline: Optional[float] = None) -> None:
        self.tid = tid              # the thread's kernel id (setpriority's ``who``)
        self.clock = clock          # its CPU-time clock
        self.cpu0 = time.clock_gettime(clock)
        self.base = base            # its nice value before the call
        self.demoted = False
        self.counted = False        # in WorkerPool.demoted
        self.collecting = False     # the thread runs the garbage collector
        #: when (time.monotonic()) it gets its priority back for good: before its deadline
        self.promote_at = None if deadline is None else deadline - PROMOTE_BEFORE
        self.final = False          # promoted for its deadline: never demoted again


class _Executor(concurrent.futures.Executor):
    """A thread pool for :meth:`asyncio.loop.run_in_executor` whose threads can end early:
    ``max_workers`` threads at most, started as work arrives (from the submitting thread, so
    with its priority) and kept; a thread whose call :meth:`WorkerPool._leave` could not put
    back to its priority exits after that call."""

    def __init__(self, pool: "WorkerPool", max_workers: int, name: str) -> None:
        if max_workers <= 0:        # as the stdlib's executor: no thread would ever run the work
            raise ValueError("max_workers must be greater than 0")
        self._pool = pool
        self._max = max_workers
        self._name = name
        self._cond = threading.Condition()
        self._work: Deque[_WorkItem] = collections.deque()
        self._threads: Set[threading.Thread] = set()
        self._waiting = 0           # threads blocked waiting for work
        self._count = 0             # threads started so far (their names)
        self._shutdown = False

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> "concurrent.futures.Future[Any]":
        future: "concurrent.futures.Future[Any]" = concurrent.futures.Future()
        with self._cond:
            if self._shutdown:
                raise RuntimeError("cannot schedule new futures after shutdown")
            self._work.append((future, fn, args, kwargs))
            if self._waiting >= len(self._work):
                self._cond.notify()
            elif len(self._threads) < self._max:
                self._start()
        return future

    def _worker(self) -> None:
        me = threading.current_thread()
        try:
            while True:
                with self._cond:
                    while not self._work and not self._shutdown:
                        self._waiting += 1
                        self._cond.wait()
                        self._waiting -= 1
                    if not self._work:
                        return
                    future, fn, args, kwargs = self._work.popleft()
                if not future.set_running_or_notify_cancel():
                    continue
                try:
                    result = fn(*args, **kwargs)
                except BaseException as exc:
                    future.set_exception(exc)
                else:
                    future.set_result(result)
                del future, fn, args, kwargs
                if self._pool._retire(me):
                    return
        finally:
            with self._cond:
                self._threads.discard(me)
                self._cond.notify_all()     # shutdown(wait=True) counts the threads
            # a thread for the work this one leaves, made by the watchdog: made here it
            # would inherit this thread's low priority
            self._pool._wake.set()

    def _replenish(self) -> None:
        """Start threads for the work waiting, up to the maximum (after threads ended; also
        after a shutdown that left work to run)."""
        with self._cond:
            while (self._work and self._waiting < len(self._work)
                   and len(self._threads) < self._max):
                self._start()

    def _start(self) -> None:
        self._count += 1
        thread = threading.Thread(target=self._worker, name=f"{self._name}_{self._count}", daemon=True)
        self._threads.add(thread)
        thread.start()

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._cond:
            self._shutdown = True
            if cancel_futures:
                while self._work:
                    self._work.popleft()[0].cancel()
            self._cond.notify_all()
            if wait:
                # as the stdlib's: until the work left has run, in the threads that replace
                # those retiring meanwhile too (the watchdog starts them); called from a
                # worker, that worker runs what is left after it returns
                me = threading.current_thread()
                while (self._work and me not in self._threads) or any(t is not me for t in self._threads):
                    self._cond.wait()


class Collector:
    """The garbage collector's settings in a served process (``wasmforge serve``'s own: a host
    serving the apps in its process keeps its collector as it is).

    A request's instance is a graph of tens of thousands of objects in reference cycles
    (componentize-py's handler: ~25,000), freed only by the collector.  With CPython's
    threshold of 700 new objects the graph lives through dozens of young collections, is
    promoted into the oldest generation and freed there by full collections, each also
    scanning what the first requests made that lives on (the per-function classes of the
    modules' second instances, caches: ~100,000 objects): 110-180 ms every fourth request,
    the worker's mean 1.5-3.5x its median.  So the youngest generation's threshold is raised
    (:data:`THRESHOLDS`: a request's graph is mostly freed before it ages; the full
    collections, which free the graphs of requests that were in progress during a young
    one, come every ~200,000 new objects, not rarer: the memory stays flat) where the loaded
    apps are big (:data:`BIG_HEAP`: a small app's requests make few objects, and tiny.wasm's
    server answered 20% fewer requests per second with the higher thresholds), and the
    objects alive when the process is idle are frozen (``gc.freeze``: never scanned again)
    after 1, 2, 4, ... requests, up to :data:`FREEZE_UNTIL`: by then the first requests'
    lasting objects are frozen, and at an idle moment no request's objects are alive to be
    frozen with them (which would keep them, cycles, for the process's life).  The loaded
    apps are frozen when made (:meth:`install`).

    Where the loaded apps are small, the two young generations are collected at each other
    idle end of a request instead (:attr:`young`): a request's instance is then garbage, ~1,300
    objects in cycles for tiny.wasm, and collected while young it is freed before the young
    collections that come with the next requests promote it (tiny.wasm in process: 2.5 ms of
    CPU per request -> 2.0 ms; its garbage otherwise reached the middle generation, whose
    collections, every ~8 requests, took ~8 ms), and every :data:`FULL_EVERY`-th such end the
    oldest generation too: those young collections keep the youngest generation's count low,
    so the collector never starts on its own.  It runs on the event loop, at an idle moment,
    and scans only what is not frozen: little in a small app (never the guests' linear
    memories, which the collector does not see).  A big app's ends collect nothing here: its
    thresholds start the collector, the full collections with it."""

    def __init__(self, thresholds: Tuple[int, int, int] = THRESHOLDS, until: int = FREEZE_UNTIL,
                 big: int = BIG_HEAP) -> None:
        self.thresholds = thresholds
        self.big = big
        self.until = until
        self.ended = 0          # requests ended
        self.next = 1           # the count at which to freeze next (at the first idle moment)
        self.freezes = 0
        #: whether an idle end of a request collects the young generations (install: small apps)
        self.young = False
        self.youngs = 0         # young collections made so

    def install(self) -> None:
        """Freeze what is alive now (the loaded apps), and set the thresholds if that is at
        least ``big`` objects (else collect the young generations when idle: :attr:`young`)."""
        gc.freeze()
        if gc.get_freeze_count() >= self.big:
            gc.set_threshold(*self.thresholds)
        else:
            self.young = True

    def request_ended(self, active: int) -> None:
        """A request ended on the event loop, ``active`` requests or guest calls still in
        progress (a guest call outlives a request answered at its deadline)."""
        self.ended += 1
        if active == 0 and self.next <= self.ended and self.next <= self.until:
            gc.collect()
            gc.freeze()
            self.freezes += 1
            self.next = 2 * self.ended
        elif active == 0 and self.young:
            # every FULL_EVERY-th such end collects the oldest generation too: the young
            # collections keep the youngest generation's count under its threshold, so the
            # collector never starts on its own, and what a request left in cycles that was
            # still reachable at its end (promoted to the oldest generation) would pile up
            self.youngs += 1
            gc.collect(2 if self.youngs % FULL_EVERY == 0 else 1)


class WorkerPool:
    """The threads that run guest calls and the admission count: ``max_workers`` calls run at
    once and ``max_queue`` more requests may wait, past which a request gets 503.  One per
    :class:`~wasmforge.serve.ProxyApp` by default; the apps of a manifest share one (the
    server's ``workers`` and ``queue``).

    ``demote_after``: the CPU time (seconds) after which a call's thread gets the lowest
    scheduling priority until the call ends (None: never; Linux only, elsewhere ignored), so
    that looping guests cannot delay the server's answers and the short requests (see the
    module's docstring)."""

    def __init__(self, max_workers: int = 8, max_queue: int = 64,
                 demote_after: Optional[float] = DEMOTE_AFTER) -> None:
        self.executor = _Executor(self, max_workers, "wasmforge-serve")
        self.capacity = max_workers + max_queue
        self.active = 0         # requests admitted and not finished (the event loop's count)
        self.running = 0        # guest calls in a worker thread now (shutdown waits for these)
        self.demote_after = demote_after if PER_THREAD_NICE else None
        self.demoted = 0        # calls demoted so far
        self._lock = threading.Lock()
        self._calls: Dict[threading.Thread, _Call] = {}
        self._retiring: Set[threading.Thread] = set()
        self._wake = threading.Event()
        self._closed = False
        self._watchdog: Optional[threading.Thread] = None
        #: the collector's settings of a served process (``wasmforge serve``: Collector), or None
        self.collector: Optional[Collector] = None
        if self.demote_after is not None:
            gc.callbacks.append(self._collecting)

    def _enter(self, demote: bool = True, deadline: Optional[float] = None) -> None:
        """A guest call starts in the current (worker) thread; ``demote``: whether it may be
        demoted (a guest that holds the interpreter lock while it computes may not: see
        ``ProxyApp._call``); ``deadline`` (``time.monotonic()``): when it traps, if it runs
        that long (it gets its priority back :data:`PROMOTE_BEFORE` earlier)."""
        call = None
        if demote and self.demote_after is not None:
            tid = threading.get_native_id()
            call = _Call(tid, time.pthread_getcpuclockid(threading.get_ident()),
                         os.getpriority(os.PRIO_PROCESS, tid), deadline)
        with self._lock:
            self.running += 1
            if call is not None:
                self._calls[threading.current_thread()] = call
                if self._watchdog is None and not self._closed:
                    self._watchdog = threading.Thread(target=self._watch, name="wasmforge-serve-watchdog",
                                                      daemon=True)
                    self._watchdog.start()
        if call is not None:
            self._wake.set()

    def _leave(self) -> None:
        """The guest call of the current thread ends: its priority back if it was demoted."""
        me = threading.current_thread()
        with self._lock:
            self.running -= 1
            call = self._calls.pop(me, None)
        if call is not None and call.demoted:
            try:
                os.setpriority(os.PRIO_PROCESS, call.tid, call.base)
            except OSError:         # no privilege to raise a priority: a new thread instead
                with self._lock:
                    self._retiring.add(me)

    def _retire(self, thread: threading.Thread) -> bool:
        """Whether ``thread`` must end now (its priority could not be put back)."""
        with self._lock:
            if thread in self._retiring:
                self._retiring.discard(thread)
                return True
            return False

    def _watch(self) -> None:
        """The watchdog: demote the calls past :attr:`demote_after` of CPU time, and promote
        them again near their deadline; start the threads that replace those that ended (at
        the watchdog's priority, the pool's)."""
        limit = self.demote_after
        assert limit is not None
        while not self._closed:
            # cleared before looking: a wake-up (a call started, a thread ended, the pool
            # closed) that comes after the looks below is not lost
            self._wake.clear()
            self.executor._replenish()
            now = time.monotonic()
            with self._lock:
                calls = list(self._calls.values())
            pending = [c for c in calls if not c.demoted and not c.final]
            # the next promotion due among the demoted calls
            soonest: Optional[float] = None
            for call in calls:
                if call.demoted and call.promote_at is not None:
                    if now >= call.promote_at:
                        self._promote_for_deadline(call)
                    elif soonest is None or call.promote_at < soonest:
                        soonest = call.promote_at
            if not pending:
                if not self._closed:
                    # demoted calls: looked at every period (a collection may have promoted
                    # one for a while) and at the next promotion due; none: until woken
                    self._wake.wait(None if not calls else
                                    WATCH_PERIOD if soonest is None else min(WATCH_PERIOD, max(0.0, soonest - now)))
                continue
            for call in pending:
                if call.promote_at is not None and now >= call.promote_at:
                    continue        # this close to its deadline it keeps its priority
                try:
                    used = time.clock_gettime(call.clock) - call.cpu0
                except OSError:     # the thread ended between the two looks
                    continue
                if used >= limit:
                    self._demote(call)
            time.sleep(WATCH_PERIOD)

    def _demote(self, call: _Call) -> None:
        with self._lock:
            # under the lock: the call cannot end (and put its priority back) meanwhile
            if call.demoted or call.final or call.collecting or call not in self._calls.values():
                return
            try:
                os.setpriority(os.PRIO_PROCESS, call.tid, min(19, call.base + DEMOTE_NICE))
            except OSError:
                return
            call.demoted = True
            if call.collecting:     # a collection started meanwhile: see _collecting
                self._promote(call)
            if not call.counted:
                call.counted = True
                self.demoted += 1

    def _promote_for_deadline(self, call: _Call) -> None:
        """Give ``call`` its priority back for good: its deadline is near."""
        with self._lock:
            # under the lock: the call cannot end (and put its priority back) meanwhile
            if call not in self._calls.values():
                return
            call.final = True
            if call.demoted:
                self._promote(call)
            if call.demoted:        # no privilege: it stays demoted (and retires after its call)
                call.final = False

    def _collecting(self, phase: str, info: Dict[str, int]) -> None:
        """A ``gc.callbacks`` entry.  The collector runs in the thread that allocates when a
        collection is due, holding the interpreter lock most of the time but not all (the
        finalizers it runs are Python code), and no other collection starts until it ends: a
        demoted thread that the scheduler leaves waiting there stops the collection of the
        whole process.  So a demoted thread gets its priority back for the collection (the
        watchdog demotes it again after).  It takes no lock: a collection may start while
        this thread holds one."""
        call = self._calls.get(threading.current_thread())
        if call is None:
            return
        call.collecting = phase == "start"
        if call.collecting and call.demoted:
            self._promote(call)

    def _promote(self, call: _Call) -> None:
        try:
            os.setpriority(os.PRIO_PROCESS, call.tid, call.base)
        except OSError:
            return                  # no privilege: it stays demoted (and retires after its call)
        call.demoted = False

    def shutdown(self, wait: bool) -> None:
        """Stop the threads: after the calls in progress if ``wait``; else as they finish, and
        the calls still waiting for a thread never start (their requests were given up)."""
        self.executor.shutdown(wait=wait, cancel_futures=not wait)
        self._closed = True
        self._wake.set()
        if self._collecting in gc.callbacks:
            gc.callbacks.remove(self._collecting)


__all__ = ["WorkerPool"]
