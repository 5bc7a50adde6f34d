"""``wasi:io``: pollables, input and output streams, and their errors, as host objects.

A :class:`Pollable` says whether it is ready now and what it would wait on: a host descriptor
readable or writable, and/or a deadline on the real monotonic clock.  :func:`poll` blocks in
one ``poll(2)`` (``select`` where the OS has no ``poll``) over every descriptor with the
earliest deadline as timeout, so a guest waiting on several pollables (timers, stdin, pipes
fed from Python, files and sockets) sleeps in the OS and never spins.  A new kind of source
(a file, a socket) plugs in by giving its pollables a ``ready`` test and the descriptor or
deadline to wait on; a source fed by Python code rather than a descriptor waits on a
:class:`Waker`'s descriptor.  Every wait also watches the current thread's interrupts
(:mod:`wasmforge.runtime.interrupts`), so an embedder can abort a guest sleeping here.

Streams report failures as the WIT's ``stream-error``: ``closed`` (the other end is gone,
no more data; a pipe whose reader went away, ``EPIPE``, is closed too) or
``last-operation-failed`` with an :class:`IoError` the guest may inspect; after a failure
the stream is closed.  Output streams give real permits: ``check-write`` is what fits now
without blocking (0 when a pipe is full: backpressure), ``write`` beyond the permit traps as
the WIT says, and ``subscribe`` is ready once there is room again.
"""

from __future__ import annotations

import errno as _errno
import os
import select
import stat
import threading
import time
from typing import Callable, Dict, List, Optional, Sequence

from ..errors import Trap
from ..runtime.interrupts import Waker, interrupts

#: the most bytes one ``read`` hands the guest
MAX_READ = 1 << 20
#: the permit ``check-write`` gives a stream that does not block (a callback, a file, nothing)
MAX_WRITE = 1 << 20
#: the permit for a pipe, socket or terminal that poll() reports writable: at least this much
#: fits without blocking (POSIX's PIPE_BUF; Linux reports a pipe writable when one whole
#: 4 KiB buffer slot is free)
PIPE_WRITE = 4096
#: what ``blocking-write-and-flush`` accepts at once (the WIT's limit)
BLOCKING_WRITE = 4096

_HAVE_POLL = hasattr(select, "poll")
_POLLIN = getattr(select, "POLLIN", 1)
_POLLOUT = getattr(select, "POLLOUT", 4)
#: poll(2) events that make a descriptor "ready" whichever way it was waited on: the other
#: end hung up, an error, or a descriptor that is not open (the operation then reports it)
_POLLDONE = getattr(select, "POLLHUP", 16) | getattr(select, "POLLERR", 8) | getattr(select, "POLLNVAL", 32)


class WouldWait(BaseException):
    """Raised by a host function that would wait (or act outside the guest's request) on a
    thread running a guest call speculatively (:func:`speculative`).  A ``BaseException``: it
    crosses the guest and the host code around the wait unchanged, to the embedder, which
    runs the call again where it may wait."""


_local = threading.local()


class speculative:
    """While in this context the current thread runs guest calls that may be abandoned and
    run again from the start (``wasmforge serve`` runs a short request on its event loop's
    thread, which must never wait): a host wait that would block (:func:`poll`, a blocking
    stream operation) raises :class:`WouldWait` instead, and so does anything the guest
    could observe outside its own call (an outgoing HTTP request: :func:`check_speculative`)."""

    def __enter__(self) -> None:
        _local.speculative = True

    def __exit__(self, *exc: object) -> None:
        _local.speculative = False


def check_speculative(what: str) -> None:
    """Raise :class:`WouldWait` (naming ``what``) on a thread in :class:`speculative`."""
    if getattr(_local, "speculative", False):
        raise WouldWait(what)


class IoError:
    """A ``wasi:io/error.error``: what the last operation of a stream failed with."""

    def __init__(self, message: str, errno: Optional[int] = None) -> None:
        self.message = message
        self.errno = errno

    def to_debug_string(self) -> str:
        return self.message


class StreamError(Exception):
    """Raised by a stream operation: ``error`` None is ``closed``, else
    ``last-operation-failed(error)``."""

    def __init__(self, error: Optional[IoError] = None) -> None:
        super().__init__(error.message if error else "closed")
        self.error = error


#: errors meaning the other end of the stream is gone: ``closed``, not a failure
_GONE = frozenset({_errno.EPIPE, _errno.ECONNRESET})


def _os_error(exc: OSError) -> StreamError:
    if exc.errno in _GONE:
        return StreamError()
    return StreamError(IoError(exc.strerror or str(exc), exc.errno))


class Pollable:
    """A ``wasi:io/poll.pollable``.  ``ready()`` tests readiness now; ``read_fd`` and
    ``write_fd`` are host descriptors whose readiness would change that, ``deadline`` the
    ``time.monotonic_ns()`` at which it becomes ready (None: no timer)."""

    def __init__(self, ready: Callable[[], bool], read_fd: Optional[int] = None,
                 write_fd: Optional[int] = None, deadline: Optional[int] = None) -> None:
        self._ready = ready
        self.read_fd = read_fd
        self.write_fd = write_fd
        self.deadline = deadline

    def ready(self) -> bool:
        if self.deadline is not None and time.monotonic_ns() >= self.deadline:
            return True
        return self._ready()

    def block(self) -> None:
        poll([self])


def always_ready() -> Pollable:
    return Pollable(lambda: True)


def timer(deadline_ns: int) -> Pollable:
    """Ready once ``time.monotonic_ns()`` reaches ``deadline_ns``."""
    return Pollable(lambda: False, deadline=deadline_ns)


def poll(pollables: Sequence[Pollable]) -> List[int]:
    """The indices of the ready pollables, blocking (in ``poll(2)``, never spinning) until at
    least one is.  Traps on an empty list, and when nothing could ever make one ready."""
    if not pollables:
        raise Trap("wasi:io/poll.poll: the list of pollables is empty")
    if len(pollables) > 0xFFFFFFFF:
        raise Trap("wasi:io/poll.poll: too many pollables")
    watch = interrupts()
    while True:
        for check in watch.values():
            check()
        ready = [i for i, p in enumerate(pollables) if p.ready()]
        if ready:
            return ready
        events: Dict[int, int] = {}
        deadline: Optional[int] = None
        for p in pollables:
            if p.read_fd is not None:
                events[p.read_fd] = events.get(p.read_fd, 0) | _POLLIN
            if p.write_fd is not None:
                events[p.write_fd] = events.get(p.write_fd, 0) | _POLLOUT
            if p.deadline is not None and (deadline is None or p.deadline < deadline):
                deadline = p.deadline
        if not events and deadline is None:
            raise Trap("wasi:io/poll.poll: no pollable can ever become ready (deadlock)")
        for fd in watch:
            events[fd] = events.get(fd, 0) | _POLLIN
        timeout = None if deadline is None else max(0, deadline - time.monotonic_ns())
        _wait(events, timeout)


def _wait(events: Dict[int, int], timeout_ns: Optional[int]) -> Dict[int, int]:
    """One wait in the OS until a descriptor of ``events`` (fd -> POLLIN/POLLOUT) is ready or
    ``timeout_ns`` passes (None: no timeout); the ready ones with their poll(2) events."""
    if timeout_ns != 0:
        check_speculative("a host wait")
    if _HAVE_POLL:
        poller = select.poll()
        for fd, ev in events.items():
            poller.register(fd, ev)
        # poll(2) takes milliseconds: round up, so a deadline is never woken for too early
        ms = None if timeout_ns is None else -(-timeout_ns // 1_000_000)
        return dict(poller.poll(ms))
    rl = [fd for fd, ev in events.items() if ev & _POLLIN]
    wl = [fd for fd, ev in events.items() if ev & _POLLOUT]
    try:
        r, w, _ = select.select(rl, wl, [], None if timeout_ns is None else timeout_ns / 1e9)
    except (OSError, ValueError):
        return {fd: _POLLDONE for fd in events}
    out: Dict[int, int] = {}
    for fd in r:
        out[fd] = _POLLIN
    for fd in w:
        out[fd] = out.get(fd, 0) | _POLLOUT
    return out


def wait_fd(fd: int, writable: bool = False, timeout_ns: Optional[int] = None) -> bool:
    """Block until ``fd`` is readable (or writable), hung up or in error; False on timeout."""
    return bool(_wait({fd: _POLLOUT if writable else _POLLIN}, timeout_ns))


def _file_type(fd: int) -> int:
    """``fd``'s file type (``stat.S_IFMT`` of its mode); 0 when it cannot be examined."""
    try:
        return stat.S_IFMT(os.fstat(fd).st_mode)
    except OSError:
        return 0


#: the file types poll() says something useful about (a regular file is always ready)
_SELECTABLE = frozenset({stat.S_IFIFO, stat.S_IFSOCK, stat.S_IFCHR})
#: the file types that hold a writer back (a terminal or device is written as it comes)
_BOUNDED = frozenset({stat.S_IFIFO, stat.S_IFSOCK})


def _readable(fd: int) -> bool:
    """Whether a read of ``fd`` would not block: data, end of file, or an error to report."""
    return bool(_wait({fd: _POLLIN}, 0))


def _writable(fd: int) -> bool:
    """Whether a write of up to PIPE_WRITE bytes to ``fd`` would not block (or would fail)."""
    return bool(_wait({fd: _POLLOUT}, 0))


class InputStream:
    """A ``wasi:io/streams.input-stream``.  Subclasses give ``_read(n, blocking)``: bytes
    (empty only when not blocking and nothing is available yet) or StreamError, and
    ``subscribe()`` (ready when data or the end is there).  A blocking read of a stream
    whose ``subscribe`` waits on something waits in :func:`poll` first, so it sleeps in the
    OS (and an embedder's interrupt reaches it)."""

    closed = False

    def _read(self, n: int, blocking: bool) -> bytes:
        raise NotImplementedError

    def subscribe(self) -> Pollable:
        return always_ready()

    def pollable(self) -> Pollable:
        """What ``subscribe`` gives the guest: always ready once the stream is closed."""
        return always_ready() if self.closed else self.subscribe()

    def read(self, n: int, blocking: bool = False) -> bytes:
        if self.closed:
            raise StreamError()
        if n == 0:
            # the WIT: a read of 0 bytes succeeds with nothing while the stream is open
            return b""
        try:
            return self._read(min(n, MAX_READ), blocking)
        except StreamError:
            self.closed = True
            raise

    def skip(self, n: int, blocking: bool = False) -> int:
        """``skip``: as ``read``, counting the bytes instead of returning them."""
        return len(self.read(n, blocking))


class EmptyInput(InputStream):
    """No input: closed at once (stdin when the host gives none)."""

    def _read(self, n: int, blocking: bool) -> bytes:
        raise StreamError()


class BytesInput(InputStream):
    """Yields the bytes given, then is closed."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def _read(self, n: int, blocking: bool) -> bytes:
        if self.pos >= len(self.data):
            raise StreamError()
        out = self.data[self.pos:self.pos + n]
        self.pos += len(out)
        return out


class FdInput(InputStream):
    """Reads a host descriptor (inherited stdin, a pipe fed from Python, a file given as
    stdin); a pipe or terminal not readable yet gives nothing to a non-blocking read, and its
    pollable waits in poll(2).  End of file is ``closed``."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.selectable = _file_type(fd) in _SELECTABLE

    def subscribe(self) -> Pollable:
        if not self.selectable:
            return always_ready()
        fd = self.fd
        return Pollable(lambda: _readable(fd), read_fd=fd)

    def _read(self, n: int, blocking: bool) -> bytes:
        if self.selectable:
            if blocking:
                self.subscribe().block()
            elif not _readable(self.fd):
                return b""
        while True:
            try:
                data = os.read(self.fd, n)
                break
            except BlockingIOError:
                # a descriptor in non-blocking mode (another process's choice for a shared stdin)
                if not blocking or not self.selectable:
                    return b""
                self.subscribe().block()
            except OSError as exc:
                raise _os_error(exc) from None
        if not data:
            raise StreamError()
        return data


class OutputStream:
    """A ``wasi:io/streams.output-stream``.  Subclasses give ``_write(data)`` (all of it, or
    StreamError) and ``_permit()`` (how much a write may carry now without blocking: 0 is
    backpressure); one whose permit can be 0 sets ``bounded`` and gives a ``subscribe``
    that waits for room.  Writes to such a stream are checked against the permit the last
    ``check-write`` gave, as the WIT says (a write beyond it traps); a stream that never
    pushes back permits MAX_WRITE bytes per write, with or without ``check-write``."""

    closed = False
    #: whether the permit can be smaller than MAX_WRITE (then writes are checked against it)
    bounded = False
    #: what is left of the permit the last ``check-write`` gave (a bounded stream)
    _budget = 0

    def _write(self, data: bytes) -> None:
        raise NotImplementedError

    def _permit(self) -> int:
        return MAX_WRITE

    def subscribe(self) -> Pollable:
        return always_ready()

    def pollable(self) -> Pollable:
        """What ``subscribe`` gives the guest: always ready once the stream is closed (the
        WIT: then ``check-write`` reports the error at once)."""
        return always_ready() if self.closed else self.subscribe()

    def check_write(self) -> int:
        if self.closed:
            raise StreamError()
        permit = self._permit()
        self._budget = permit
        return permit

    def write(self, data: bytes) -> None:
        if self.closed:
            raise StreamError()
        limit = self._budget if self.bounded else MAX_WRITE
        if len(data) > limit:
            raise Trap(f"wasi:io/streams: a write of {len(data)} bytes exceeds the permit of {limit} "
                       f"bytes check-write gave")
        if self.bounded:
            self._budget = limit - len(data)
        self._put(bytes(data))

    def _put(self, data: bytes) -> None:
        try:
            self._write(data)
        except StreamError:
            self.closed = True
            raise

    def flush(self) -> None:
        """``flush``: writes are not buffered here (each goes to its destination when made),
        so every flush has completed when it is requested."""
        if self.closed:
            raise StreamError()

    def blocking_flush(self) -> None:
        """``blocking-flush``: a stream that buffers (a socket) overrides it to wait."""
        self.flush()

    def blocking_write_and_flush(self, data: bytes) -> None:
        """Write all of ``data`` (at most BLOCKING_WRITE bytes), waiting for room as often as
        needed, then flush; an error at any point is reported at once."""
        if len(data) > BLOCKING_WRITE:
            raise Trap(f"wasi:io/streams: blocking-write-and-flush of {len(data)} bytes "
                       f"(at most {BLOCKING_WRITE} at once)")
        view = bytes(data)
        while True:
            permit = self.check_write()     # StreamError at once on a closed stream
            if permit >= len(view):
                break
            if permit:
                self.write(view[:permit])
                view = view[permit:]
            else:
                self.pollable().block()
        if view:
            self.write(view)
        self.blocking_flush()       # the WIT: returns once the contents are flushed

    def splice(self, src: InputStream, n: int, blocking: bool) -> int:
        """``splice``: check-write, read at most the permit from ``src``, write that; the
        blocking one first waits for this stream to take data and ``src`` to have some.
        A closed stream fails in its first check-write, before ``src`` is touched."""
        if blocking:
            while self.check_write() == 0:
                self.pollable().block()
            if n:
                src.pollable().block()
        permit = self.check_write()
        data = src.read(min(n, permit), False) if permit else src.read(0)
        if data:
            self.write(data)
        return len(data)


class NullOutput(OutputStream):
    """Discards what is written (stdout/stderr when the host gives nothing)."""

    def _write(self, data: bytes) -> None:
        pass


class CallbackOutput(OutputStream):
    """Hands each write to a Python callable (``WasiConfig.stdout_custom``); an exception it
    raises propagates to the embedder unchanged."""

    def __init__(self, sink: Callable[[bytes], object]) -> None:
        self.sink = sink

    def _write(self, data: bytes) -> None:
        if data:
            self.sink(data)


class FdOutput(OutputStream):
    """Writes a host descriptor (inherited stdout, a pipe read from Python, a file).  A pipe,
    socket or terminal that poll() does not report writable gives a permit of 0
    (backpressure) and a pollable that waits for it to drain; a reader that went away
    (``EPIPE``) closes the stream."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        kind = _file_type(fd)           # one fstat for both
        self.selectable = kind in _SELECTABLE
        self.bounded = kind in _BOUNDED

    def _permit(self) -> int:
        if not self.selectable:
            return MAX_WRITE
        return PIPE_WRITE if _writable(self.fd) else 0

    def subscribe(self) -> Pollable:
        if not self.selectable:
            return always_ready()
        fd = self.fd
        return Pollable(lambda: _writable(fd), write_fd=fd)

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        try:
            while view:
                try:
                    n = os.write(self.fd, view)
                except BlockingIOError:
                    wait_fd(self.fd, writable=True)     # a shared descriptor in non-blocking mode
                    continue
                view = view[n:]
        except OSError as exc:
            raise _os_error(exc) from None


__all__ = ["WouldWait", "speculative", "check_speculative", "IoError", "StreamError", "Pollable", "always_ready", "timer", "poll", "wait_fd", "Waker",
           "InputStream", "EmptyInput", "BytesInput", "FdInput", "OutputStream", "NullOutput", "CallbackOutput",
           "FdOutput", "MAX_READ", "MAX_WRITE", "PIPE_WRITE", "BLOCKING_WRITE"]
