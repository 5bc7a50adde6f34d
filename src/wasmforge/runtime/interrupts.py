"""Waking a thread that runs guest code while it sleeps in a host wait.

A host function that blocks for the guest (``wasi:io/poll``, a blocking stream read) waits
in the OS on descriptors.  An embedder that must interrupt it (the asyncio host, when the
task awaiting the call is cancelled) registers, for the thread running the guest, a
descriptor that such waits watch too and a check that raises to abort them
(:func:`add_interrupt`).  :class:`Waker` is a descriptor Python code makes readable, for
this and for any source that has no descriptor of its own.
"""

from __future__ import annotations

import os
import threading
from typing import Callable, Dict


class Waker:
    """A descriptor Python code makes readable: :meth:`wake` after a condition may have
    changed, :meth:`clear` by the consumer before it tests the condition again, so a wake-up
    is never lost and a stale one costs one extra test, not a spin.  Thread-safe.

    Its pipe is made when :attr:`fd` is first asked for: many wakers are never waited on (a
    ``wasi:http`` request makes two, and most handlers never poll), and the pipe's two
    descriptors, made and closed each time, were pure cost.  A wake-up before then is
    remembered, and written to the pipe when it is made."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._set = False
        self._r = self._w = -1
        self._closed = False

    @property
    def fd(self) -> int:
        """The descriptor to wait on, readable while woken (-1 once closed)."""
        with self._lock:
            if self._r < 0 and not self._closed:
                r, w = os.pipe()
                os.set_blocking(r, False)
                os.set_blocking(w, False)
                if self._set:
                    os.write(w, b"\0")
                self._r, self._w = r, w
            return self._r

    def wake(self) -> None:
        with self._lock:
            if self._set or self._closed:
                return
            self._set = True
            if self._w >= 0:
                try:
                    os.write(self._w, b"\0")
                except BlockingIOError:
                    pass

    def clear(self) -> None:
        with self._lock:
            if not self._set:
                return
            self._set = False
            if self._r < 0:
                return
            try:
                while os.read(self._r, 4096):
                    pass
            except BlockingIOError:
                pass

    def close(self) -> None:
        with self._lock:
            self._closed = True
            for fd in (self._r, self._w):
                if fd >= 0:
                    os.close(fd)
            self._r = self._w = -1

    def __del__(self) -> None:
        if getattr(self, "_lock", None) is not None:
            self.close()


_local = threading.local()


def add_interrupt(fd: int, check: Callable[[], None]) -> None:
    """While the current thread runs a guest, wake its host waits when ``fd`` is readable and
    call ``check`` then (it raises to abort the wait)."""
    table: Dict[int, Callable[[], None]] = getattr(_local, "table", None) or {}
    table[fd] = check
    _local.table = table


def remove_interrupt(fd: int) -> None:
    table = getattr(_local, "table", None)
    if table:
        table.pop(fd, None)


def interrupts() -> Dict[int, Callable[[], None]]:
    """The current thread's interrupts (descriptor -> check), a copy."""
    return dict(getattr(_local, "table", None) or {})


__all__ = ["Waker", "add_interrupt", "remove_interrupt", "interrupts"]
