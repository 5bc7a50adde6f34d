"""Linear memory instances (spec 4.2.8).

A memory is native memory that never moves: the whole address range it may ever need is
reserved up front with one anonymous ``mmap`` (``MAP_NORESERVE``, so untouched pages cost
nothing) and growing only moves the ``size`` limit.  Compiled code can therefore keep a base
pointer, and Python code reads and writes through the mapping or a ``memoryview`` of it.

Reservation: the declared maximum, or 4 GiB (65536 pages) when the memory is unbounded.  No
guard region is reserved beyond it because every access is bounds-checked explicitly
against ``size`` (a Python process cannot recover from a fault in a guard page).

A 64-bit memory (memory64) may declare up to 2^48 pages; it reserves no more than
``MAX_RESERVED_PAGES64`` (16 GiB, or a larger declared minimum if the host maps it), so a
``memory.grow`` beyond what was reserved fails with -1, as spec 4.5.3.8 allows, and never
moves the memory.
"""

from __future__ import annotations

import mmap
import sys
import threading

from ..errors import WasmError
from ..types import MAX_PAGES, PAGE_SIZE, Limits, MemoryType

#: The most a 64-bit memory reserves of address space (16 GiB of 64 KiB pages).
MAX_RESERVED_PAGES64 = 1 << 18

# Python 3.11's mmap module lacks the constant; the value is Linux's (asm-generic/mman.h).
_MAP_NORESERVE = getattr(mmap, "MAP_NORESERVE", 0x4000 if sys.platform.startswith("linux") else 0)
_MAP_FLAGS = mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | _MAP_NORESERVE


_GROW_LOCK = threading.Lock()

# Emscripten (Pyodide) and WASI builds of Python run in a 32-bit address space where mmap
# cannot reserve: it allocates and zeroes all it maps, and 4 GiB does not fit at all.  There a
# memory is a bytearray of its current size, grown in place: the object never changes, so
# code holding ``data`` (the interp tier's namespaces) stays valid.  A bytearray cannot be
# resized while a buffer export of it lives (a memoryview, a ctypes pointer from
# ``Memory.data_ptr``); memory.grow then fails with -1, as spec 4.5.3.8 allows.  No native
# tier runs there, so nothing needs a base address that outlives growth.
_RESERVE = sys.platform not in ("emscripten", "wasi")


class MemoryAccessError(WasmError, IndexError):
    """A host read or write outside the current size of a linear memory."""


class MemoryInstance:
    """A linear memory: ``data`` is the reserved mapping (never replaced), ``size`` the current
    size in bytes (every access must be checked against it), ``type`` the declared type."""

    __slots__ = ("type", "data", "size", "max_pages", "reserved_pages", "__weakref__")

    def __init__(self, type: MemoryType, limit_pages: int | None = None):
        limits = type.limits
        self.type = type
        cap = max(MAX_RESERVED_PAGES64, limits.min) if type.is_64 else MAX_PAGES
        self.max_pages = cap if limits.max is None else min(limits.max, cap)
        if limits.min > self.max_pages:
            raise WasmError(f"memory size {limits.min} pages exceeds the limit of {self.max_pages} pages")
        if limit_pages is not None:
            # A store limit (Store.set_limits) in force now: reserve no more than it allows.
            self.max_pages = max(limits.min, min(self.max_pages, limit_pages))
        # max_pages may be lowered later by store limits; the mapping never grows.
        self.reserved_pages = self.max_pages
        if not _RESERVE:
            try:
                self.data = bytearray(limits.min * PAGE_SIZE)
            except (MemoryError, OverflowError) as exc:
                raise WasmError(f"cannot allocate a memory of {limits.min} pages: {exc!r}") from None
            self.size = limits.min * PAGE_SIZE
            return
        # mmap rejects an empty mapping: a memory whose maximum is 0 still maps one OS page.
        reserve = max(self.max_pages * PAGE_SIZE, mmap.PAGESIZE)
        try:
            self.data = mmap.mmap(-1, reserve, flags=_MAP_FLAGS)
        except (OSError, OverflowError, ValueError) as exc:
            raise WasmError(f"cannot reserve {reserve} bytes for a memory of "
                            f"{limits.min} pages: {exc}") from None
        self.size = limits.min * PAGE_SIZE

    @property
    def pages(self) -> int:
        """The current size in 64 KiB pages."""
        return self.size // PAGE_SIZE

    def current_type(self) -> MemoryType:
        """The type as import matching sees it: growth raises the minimum (spec 4.5.3.8)."""
        return MemoryType(Limits(self.size // PAGE_SIZE, self.type.limits.max), is_64=self.type.is_64,
                          shared=self.type.shared)

    def grow(self, delta: int) -> int:
        """Grow by ``delta`` pages; return the old size in pages, or -1 (spec 4.5.3.8: growth
        fails beyond the maximum or 65536 pages).  New pages are zero: they were never touched."""
        with _GROW_LOCK:            # a shared memory (threads) grows from several threads
            old = self.size // PAGE_SIZE
            if delta < 0 or old + delta > self.max_pages:
                return -1
            if not _RESERVE and delta:
                try:
                    self.data += bytes(delta * PAGE_SIZE)
                except (BufferError, MemoryError, OverflowError):
                    return -1
            self.size = (old + delta) * PAGE_SIZE
            return old

    def read(self, start: int, length: int) -> bytes:
        """Copy ``length`` bytes from ``start``, bounds-checked."""
        if start < 0 or length < 0 or start + length > self.size:
            raise MemoryAccessError(f"out of bounds memory access: [{start}, {start + length}) "
                                    f"outside memory of {self.size} bytes")
        return self.data[start:start + length]

    def write(self, start: int, value) -> None:
        """Copy ``value`` (any bytes-like object) to ``start``, bounds-checked."""
        n = len(value)
        if start < 0 or start + n > self.size:
            raise MemoryAccessError(f"out of bounds memory access: [{start}, {start + n}) "
                                    f"outside memory of {self.size} bytes")
        self.data[start:start + n] = value

    def view(self) -> memoryview:
        """A writable memoryview of the current size (it does not follow later growth)."""
        return memoryview(self.data)[:self.size]
