"""Pipes between the host and a running guest's standard streams (``WasiConfig.stdin_pipe()``,
``stdout_pipe()``, ``stderr_pipe()``).

Each is an OS pipe, so both WASI previews see an ordinary host descriptor: preview1's
``fd_read``/``fd_write``/``poll_oneoff`` and preview2's streams and ``wasi:io/poll`` wait on
it in the OS, and the pipe's capacity is real backpressure both ways (a host writing faster
than the guest reads blocks in :meth:`StdinPipe.write`; a guest writing faster than the host
reads gets a permit of 0 from ``check-write``).  The guest runs in another thread than the
one feeding or reading it (or in ``call_async``, see :mod:`wasmforge.api.aio`).

The guest's end of a pipe belongs to the pipe object, which the ``WasiConfig`` keeps; it is
closed when neither is reachable any more.  ``close()`` on either pipe ends the stream for
its reader: the guest reads end of file after what the host wrote; the host reads what the
guest wrote, then ``b""``, and the guest's later writes fail with ``closed``.  Each pipe has
``async`` twins of its blocking methods (``write_async``, ``read_async``, ``readline_async``,
``async for``) for a host on an event loop.  One reader (and one writer) at a time.
"""

from __future__ import annotations

import os
import select
import threading
import time
import weakref
from typing import TYPE_CHECKING, AsyncIterator, Callable, Iterator, List, Optional, Union

from ..errors import ClosedError, Handle

if TYPE_CHECKING:
    # asyncio (~20 ms with what it imports) is loaded by the async methods' callers: a WASI
    # program run without them (``wasmforge run``) never imports it.
    import asyncio

#: what :meth:`OutputPipe.read` returns at most by default
READ_SIZE = 1 << 16


def _close_fds(fds: List[int]) -> None:
    for i, fd in enumerate(fds):
        if fd >= 0:
            fds[i] = -1
            try:
                os.close(fd)
            except OSError:
                pass


def _wait_readable(fd: int, timeout: Optional[float]) -> bool:
    """Wait in the OS until ``fd`` is readable (data or end of file); False on timeout."""
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    ms = None if timeout is None else max(0, int(timeout * 1000 + 0.999))
    return bool(poller.poll(ms))


class StdinPipe(Handle):
    """The host's end of a guest's standard input: :meth:`write` bytes (or text, as UTF-8)
    while the guest runs, :meth:`close` to give it end of file."""

    def __init__(self) -> None:
        r, w = os.pipe()
        self._fds = [r, w]
        self._lock = threading.Lock()
        self._finalizer = weakref.finalize(self, _close_fds, self._fds)

    @property
    def guest_fd(self) -> int:
        """The descriptor the guest reads (the pipe's read end)."""
        return self._fds[0]

    def fileno(self) -> int:
        """The descriptor the host writes (for ``selectors`` or ``loop.add_writer``)."""
        if self._fds[1] < 0:
            raise ClosedError("the stdin pipe is closed")
        return self._fds[1]

    @property
    def closed(self) -> bool:
        return self._fds[1] < 0

    def write(self, data: Union[bytes, bytearray, memoryview, str]) -> int:
        """Write all of ``data`` for the guest to read; blocks while the pipe is full (the
        guest reads too slowly).  Returns the number of bytes written."""
        raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
        with self._lock:
            fd = self._fds[1]
            if fd < 0:
                raise ClosedError("the stdin pipe is closed")
            view = memoryview(raw)
            while view:
                try:
                    n = os.write(fd, view)
                except BrokenPipeError:
                    raise ClosedError("the guest's standard input is closed") from None
                view = view[n:]
        return len(raw)

    async def write_async(self, data: Union[bytes, bytearray, memoryview, str]) -> int:
        """:meth:`write` for ``async def`` code: a full pipe waits in a worker thread, not on
        the event loop."""
        import asyncio  # start-up speed: loaded by the caller's event loop already
        return await asyncio.to_thread(self.write, data)

    def close(self) -> None:
        """End the guest's input: it reads what was written, then end of file."""
        with self._lock:
            fd = self._fds[1]
            if fd >= 0:
                self._fds[1] = -1
                os.close(fd)

    def __repr__(self) -> str:
        return f"<StdinPipe {'closed' if self.closed else 'open'}>"


class OutputPipe(Handle):
    """The host's end of a guest's standard output or error: :meth:`read` and
    :meth:`readline` what the guest writes while it runs (iterating gives the lines)."""

    def __init__(self, name: str = "stdout") -> None:
        r, w = os.pipe()
        self.name = name
        self._fds = [r, w]
        self._buf = bytearray()
        self._eof = False
        self._lock = threading.Lock()
        self._ended = False
        self._finalizer = weakref.finalize(self, _close_fds, self._fds)

    @property
    def guest_fd(self) -> int:
        """The descriptor the guest writes (the pipe's write end)."""
        return self._fds[1]

    def fileno(self) -> int:
        """The descriptor the host reads (for ``selectors`` or ``loop.add_reader``)."""
        return self._fds[0]

    @property
    def closed(self) -> bool:
        return self._ended

    def _fill(self, deadline: Optional[float]) -> bool:
        """Read what the pipe holds into the buffer, waiting for some until ``deadline``
        (a ``time.monotonic()``; None: no limit).  False on timeout."""
        if self._eof:
            return True
        timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
        if not _wait_readable(self._fds[0], timeout):
            return False
        chunk = os.read(self._fds[0], READ_SIZE)
        if chunk:
            self._buf += chunk
        else:
            self._eof = True
        return True

    def _take(self, size: int) -> Optional[bytes]:
        """At most ``size`` buffered bytes (``size`` < 0: all, once the end is read), or None
        when more must be read first."""
        if size < 0 and not self._eof:
            return None
        if not self._buf and not self._eof:
            return None
        n = len(self._buf) if size < 0 else size
        out = bytes(self._buf[:n])
        del self._buf[:n]
        return out

    def _take_line(self) -> Optional[bytes]:
        i = self._buf.find(b"\n")
        if i < 0 and not self._eof:
            return None
        n = i + 1 if i >= 0 else len(self._buf)
        out = bytes(self._buf[:n])
        del self._buf[:n]
        return out

    def read(self, size: int = READ_SIZE, timeout: Optional[float] = None) -> bytes:
        """At most ``size`` bytes the guest wrote, waiting (at most ``timeout`` seconds, then
        TimeoutError) until there is at least one.  ``b""``: the stream ended (:meth:`close`)
        and everything was read.  ``size`` -1 reads everything until the end."""
        return self._wait_for(lambda: self._take(size), timeout, "nothing")

    def readline(self, timeout: Optional[float] = None) -> bytes:
        """The next line the guest wrote, with its ``\\n`` (the rest without one at the end;
        ``b""`` at the end), waiting at most ``timeout`` seconds (then TimeoutError)."""
        return self._wait_for(self._take_line, timeout, "no line")

    def _wait_for(self, take: Callable[[], Optional[bytes]], timeout: Optional[float], what: str) -> bytes:
        """What ``take`` gives once it gives something, filling the buffer meanwhile."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            while True:
                out = take()
                if out is not None:
                    return out
                if not self._fill(deadline):
                    raise TimeoutError(f"{what} from the guest's {self.name} within {timeout} s")

    def __iter__(self) -> Iterator[bytes]:
        while True:
            line = self.readline()
            if not line:
                return
            yield line

    async def _readable(self, timeout: Optional[float]) -> None:
        """Wait on the event loop (``add_reader``, no thread) until the pipe is readable."""
        import asyncio  # start-up speed: loaded by the caller's event loop already
        loop = asyncio.get_running_loop()
        ready: "asyncio.Future[None]" = loop.create_future()
        fd = self._fds[0]

        def wake() -> None:
            if not ready.done():
                ready.set_result(None)
        loop.add_reader(fd, wake)
        try:
            await asyncio.wait_for(ready, timeout)
        except asyncio.TimeoutError:
            raise TimeoutError(f"nothing from the guest's {self.name} within {timeout} s") from None
        finally:
            loop.remove_reader(fd)

    async def read_async(self, size: int = READ_SIZE, timeout: Optional[float] = None) -> bytes:
        """:meth:`read` for ``async def`` code: waits on the event loop, never blocking it."""
        return await self._wait_for_async(lambda: self._take(size), timeout)

    async def readline_async(self, timeout: Optional[float] = None) -> bytes:
        """:meth:`readline` for ``async def`` code: waits on the event loop, never blocking it."""
        return await self._wait_for_async(self._take_line, timeout)

    async def _wait_for_async(self, take: Callable[[], Optional[bytes]], timeout: Optional[float]) -> bytes:
        """:meth:`_wait_for` on the event loop."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            with self._lock:
                out = take()
                if out is not None:
                    return out
            await self._readable(None if deadline is None else max(0.0, deadline - time.monotonic()))
            with self._lock:
                self._fill(time.monotonic())

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._lines_async()

    async def _lines_async(self) -> AsyncIterator[bytes]:
        while True:
            line = await self.readline_async()
            if not line:
                return
            yield line

    def close(self) -> None:
        """End the stream from the host's side: the guest's later writes fail (``closed`` in
        preview2, ``EPIPE`` in preview1); the host still reads what was written before, then
        ``b""``.  The guest's descriptor stays valid (it now names a pipe nobody reads), so
        a guest still running never writes to a reused descriptor number."""
        with self._lock:
            if self._ended:
                return
            self._ended = True
            w = self._fds[1]
            if w < 0:
                return
            r2, w2 = os.pipe()
            os.close(r2)
            os.dup2(w2, w, inheritable=False)
            os.close(w2)

    def __repr__(self) -> str:
        return f"<OutputPipe {self.name} {'closed' if self._ended else 'open'}>"


__all__ = ["StdinPipe", "OutputPipe"]
