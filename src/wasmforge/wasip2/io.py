"""``wasi:io``: pollables, input and output streams, and their errors, as host objects.

A :class:`Pollable` says whether it is ready now and what it would wait on: a host descriptor
readable or writable, and/or a deadline on the real monotonic clock.  :func:`poll` blocks in
one ``select`` over every descriptor with the earliest deadline as timeout, so a guest
waiting on several pollables (timers, stdin, later files and sockets) sleeps in the OS and
never spins.  A new kind of source (a file, a socket) plugs in by giving its pollables a
``ready`` test and the descriptor or deadline to wait on.

Streams report failures as the WIT's ``stream-error``: ``closed`` (the other end is gone,
no more data) or ``last-operation-failed`` with an :class:`IoError` the guest may inspect;
after a failure the stream is closed.
"""

from __future__ import annotations

import os
import select
import stat
import time
from typing import Callable, List, Optional, Sequence

from ..errors import Trap

#: the most bytes one ``read`` hands the guest
MAX_READ = 1 << 20
#: the permit ``check-write`` gives a stream that does not block (a callback, a file, nothing)
MAX_WRITE = 1 << 20
#: the permit for a pipe, socket or terminal that select() reports writable: at least this much
#: fits without blocking (POSIX's PIPE_BUF)
PIPE_WRITE = 4096
#: what ``blocking-write-and-flush`` accepts at once (the WIT's limit)
BLOCKING_WRITE = 4096


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


def _os_error(exc: OSError) -> StreamError:
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
    """The indices of the ready pollables, blocking (in ``select``, never spinning) until at
    least one is.  Traps on an empty list, and when nothing could ever make one ready."""
    if not pollables:
        raise Trap("wasi:io/poll.poll: the list of pollables is empty")
    if len(pollables) > 0xFFFFFFFF:
        raise Trap("wasi:io/poll.poll: too many pollables")
    while True:
        ready = [i for i, p in enumerate(pollables) if p.ready()]
        if ready:
            return ready
        rfds = sorted({p.read_fd for p in pollables if p.read_fd is not None})
        wfds = sorted({p.write_fd for p in pollables if p.write_fd is not None})
        deadlines = [p.deadline for p in pollables if p.deadline is not None]
        timeout: Optional[float] = None
        if deadlines:
            timeout = max(0, min(deadlines) - time.monotonic_ns()) / 1e9
        elif not rfds and not wfds:
            raise Trap("wasi:io/poll.poll: no pollable can ever become ready (deadlock)")
        try:
            select.select(rfds, wfds, [], timeout)
        except InterruptedError:
            pass
        except (OSError, ValueError):
            # a descriptor that select() refuses (closed, or a regular file): it is ready
            return [i for i, p in enumerate(pollables) if p.read_fd is not None or p.write_fd is not None] or [0]


def _selectable(fd: int) -> bool:
    """Whether select() says something useful about ``fd`` (regular files are always ready)."""
    try:
        mode = os.fstat(fd).st_mode
    except OSError:
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or stat.S_ISCHR(mode)


def _readable(fd: int) -> bool:
    try:
        return bool(select.select([fd], [], [], 0)[0])
    except (OSError, ValueError):
        return True


def _writable(fd: int) -> bool:
    try:
        return bool(select.select([], [fd], [], 0)[1])
    except (OSError, ValueError):
        return True


class InputStream:
    """A ``wasi:io/streams.input-stream``.  Subclasses give ``_read(n, blocking)``: bytes
    (empty: nothing available yet) or StreamError; ``_pollable()``."""

    closed = False

    def _read(self, n: int, blocking: bool) -> bytes:
        raise NotImplementedError

    def subscribe(self) -> Pollable:
        return always_ready()

    def read(self, n: int, blocking: bool = False) -> bytes:
        if self.closed:
            raise StreamError()
        if n == 0:
            return b""
        try:
            return self._read(min(n, MAX_READ), blocking)
        except StreamError:
            self.closed = True
            raise

    def skip(self, n: int, blocking: bool = False) -> int:
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
    """Reads a host descriptor (inherited stdin, a file given as stdin); a pipe or terminal
    not readable yet gives nothing to a non-blocking read, and its pollable waits in select."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.selectable = _selectable(fd)

    def subscribe(self) -> Pollable:
        if not self.selectable:
            return always_ready()
        fd = self.fd
        return Pollable(lambda: _readable(fd), read_fd=fd)

    def _read(self, n: int, blocking: bool) -> bytes:
        if not blocking and self.selectable and not _readable(self.fd):
            return b""
        try:
            data = os.read(self.fd, n)
        except BlockingIOError:
            return b""
        except OSError as exc:
            raise _os_error(exc) from None
        if not data:
            raise StreamError()
        return data


class OutputStream:
    """A ``wasi:io/streams.output-stream``.  Subclasses give ``_write(data)`` (all of it, or
    StreamError) and ``_permit()`` (how much a write may carry now: 0 is backpressure)."""

    closed = False

    def _write(self, data: bytes) -> None:
        raise NotImplementedError

    def _permit(self) -> int:
        return MAX_WRITE

    def subscribe(self) -> Pollable:
        return always_ready()

    def check_write(self) -> int:
        if self.closed:
            raise StreamError()
        return self._permit()

    def write(self, data: bytes) -> None:
        if self.closed:
            raise StreamError()
        if len(data) > MAX_WRITE:
            raise Trap(f"wasi:io/streams: a write of {len(data)} bytes exceeds the permit of {MAX_WRITE} "
                       f"bytes check-write gives")
        try:
            self._write(bytes(data))
        except StreamError:
            self.closed = True
            raise

    def flush(self) -> None:
        if self.closed:
            raise StreamError()

    def blocking_write_and_flush(self, data: bytes) -> None:
        if len(data) > BLOCKING_WRITE:
            raise Trap(f"wasi:io/streams: blocking-write-and-flush of {len(data)} bytes "
                       f"(at most {BLOCKING_WRITE} at once)")
        self.subscribe().block()
        self.write(data)
        self.flush()

    def splice(self, src: InputStream, n: int, blocking: bool) -> int:
        if self.closed:
            raise StreamError()
        if blocking:
            self.subscribe().block()
        permit = self.check_write()
        if permit == 0:
            return 0
        data = src.read(min(n, permit), blocking)
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
    """Writes a host descriptor (inherited stdout, a file).  A pipe, socket or terminal that
    select() does not report writable gives a permit of 0 (backpressure) and a pollable that
    waits for it to drain."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.selectable = _selectable(fd)

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
                n = os.write(self.fd, view)
                view = view[n:]
        except OSError as exc:
            raise _os_error(exc) from None
