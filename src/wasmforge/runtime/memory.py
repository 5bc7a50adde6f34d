"""Linear memory instances (spec 4.2.8).

A memory is native memory that never moves: the whole address range it may ever need is
reserved up front with one anonymous ``mmap`` (``MAP_NORESERVE``, so untouched pages cost
nothing) and growing only moves the ``size`` limit.  Compiled code can therefore keep a base
pointer, and Python code reads and writes through the mapping or a ``memoryview`` of it.

Reservation: the declared maximum, or 4 GiB (65536 pages) when the memory is unbounded.  No
guard region is reserved beyond it because every access is bounds-checked explicitly
against ``size`` (a Python process cannot recover from a fault in a guard page).

Reservations are recycled (a pool, as wasmtime's pooling allocator keeps its slots): when a
memory dies and nothing but the memory (and the pin of the tier that made it native) still
refers to its mapping, the pages it may have touched are handed back to the kernel
(``madvise(MADV_DONTNEED)`` over its current size: every access is bounds-checked against
``size`` and ``size`` never shrinks, so no byte beyond it was written; an image mapped over its
start is replaced by anonymous memory first) and the mapping is kept for the next memory of the
same reservation, which finds it all zero as a fresh ``mmap`` would be.  A new memory then
costs no ``mmap`` and a dead one no ``munmap``; a mapping somebody still views (a memoryview,
``Memory.data_ptr``) is never recycled, and the dying memory lets go of the mapping (size 0, no
growth) before the pool has it.

A 64-bit memory (memory64) may declare up to 2^48 pages; it reserves no more than
``MAX_RESERVED_PAGES64`` (16 GiB, or a larger declared minimum if the host maps it), so a
``memory.grow`` beyond what was reserved fails with -1, as spec 4.5.3.8 allows, and never
moves the memory.
"""

from __future__ import annotations

import ctypes
import mmap
import os
import sys
import threading
import weakref

from ..errors import WasmError
from ..types import MAX_PAGES, PAGE_SIZE, Limits, MemoryType

#: The most a 64-bit memory reserves of address space (16 GiB of 64 KiB pages).
MAX_RESERVED_PAGES64 = 1 << 18

# Python 3.11's mmap module lacks the constant; the value is Linux's (asm-generic/mman.h).
_MAP_NORESERVE = getattr(mmap, "MAP_NORESERVE", 0x4000 if sys.platform.startswith("linux") else 0)
_MAP_FLAGS = mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | _MAP_NORESERVE


_GROW_LOCK = threading.Lock()

# ----- the pool of reservations -----
#: How many idle reservations of one size are kept, and of how many sizes.
POOL_KEEP = 32
POOL_SIZES = 8
# reservation bytes -> idle reservations [(mmap, what the tier pinned on it, or None)], all
# zero; list.append and list.pop are atomic, so no lock (a memory may die on any thread).
_pool: "dict[int, list]" = {}
_MADV_DONTNEED = getattr(mmap, "MADV_DONTNEED", None)

# Emscripten (Pyodide) and WASI builds of Python run in a 32-bit address space where mmap
# cannot reserve: it allocates and zeroes all it maps, and 4 GiB does not fit at all.  There a
# memory is a bytearray of its current size, grown in place: the object never changes, so
# code holding ``data`` (the interp tier's namespaces) stays valid.  A bytearray cannot be
# resized while a buffer export of it lives (a memoryview, a ctypes pointer from
# ``Memory.data_ptr``); memory.grow then fails with -1, as spec 4.5.3.8 allows.  No native
# tier runs there, so nothing needs a base address that outlives growth.
_RESERVE = sys.platform not in ("emscripten", "wasi")


# ----- memory images: a module's initial memory contents, mapped copy-on-write -----

def _libc_mmap():
    """libc's ``mmap`` (Python's ``mmap`` module cannot map at a fixed address), or None."""
    if not sys.platform.startswith("linux") or not hasattr(os, "memfd_create"):
        return None
    try:
        fn = ctypes.CDLL(None, use_errno=True).mmap
    except (OSError, AttributeError):
        return None
    fn.restype = ctypes.c_void_p
    fn.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int,
                   ctypes.c_long]
    return fn


_MMAP = _libc_mmap()
_MAP_FIXED = 0x10       # Linux's (asm-generic/mman-common.h); Python's mmap module lacks it
_IMAGE_PROT = mmap.PROT_READ | mmap.PROT_WRITE
_IMAGE_FLAGS = mmap.MAP_PRIVATE | _MAP_FIXED | _MAP_NORESERVE


class MemoryImage:
    """The first ``size`` bytes of a new memory, as a module's data segments leave them
    (runtime/instance.py makes one per memory of a module instantiated more than once): a
    memory-backed file that :meth:`MemoryInstance.map_image` maps over the start of a new
    memory, private and copy-on-write.  An instance then costs one ``mmap`` instead of
    copying the segments (11 MB for componentize-py's libpython, ~6 ms), and only the pages
    it reads are faulted in, the ones it writes copied.  ``fd`` is None where the platform has
    no ``memfd_create`` or the image could not be made: memories copy ``data`` instead."""

    __slots__ = ("data", "size", "fd", "__weakref__")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.size = len(data)
        self.fd = None
        if _MMAP is None or self.size % mmap.PAGESIZE:
            return
        try:
            fd = os.memfd_create("wasmforge-memory-image", os.MFD_CLOEXEC)
        except OSError:
            return
        try:
            view = memoryview(data)
            done = 0
            while done < self.size:
                done += os.write(fd, view[done:])
        except OSError:
            os.close(fd)
            return
        self.fd = fd
        weakref.finalize(self, os.close, fd)


def _address(data) -> int:
    """The address of the start of a writable mapping (the export is released at once)."""
    anchor = ctypes.c_char.from_buffer(data)
    addr = ctypes.addressof(anchor)
    del anchor
    return addr


def _map_over(data, size: int, fd: int) -> bool:
    """Map the first ``size`` bytes of the file ``fd`` private and copy-on-write over the
    start of the mapping ``data``, in place (the ``mmap`` object and its views stay valid).
    False if that failed: the range is then anonymous again, zero (a failed ``MAP_FIXED`` may
    have unmapped it); WasmError if even that failed."""
    addr = _address(data)
    if _MMAP(addr, size, _IMAGE_PROT, _IMAGE_FLAGS, fd, 0) == addr:
        return True
    if _MMAP(addr, size, _IMAGE_PROT, _IMAGE_FLAGS | mmap.MAP_ANONYMOUS, -1, 0) != addr:
        raise WasmError(f"cannot map a memory image: {os.strerror(ctypes.get_errno())}")
    return False


def _recycle(mem: "MemoryInstance") -> None:
    """Keep the reservation of ``mem`` (dying) for a later memory, reset to zero, when nobody
    else refers to it (see the module docstring)."""
    data = getattr(mem, "data", None)
    if type(data) is not mmap.mmap or _MADV_DONTNEED is None or mem.type.shared or data.closed:
        return
    pin = mem._pin()
    # References now: the memory's slot and ``data`` here (what _refs counts of a memory's
    # data alone, _REFS_ALONE, plus one), and the tier's pin (one view of the mapping, kept
    # with it for its next memory).  Any other is a view somebody holds (memoryview,
    # from_buffer, numpy): its holder could see the next memory's bytes, so the mapping is not
    # recycled.  (Measured against a probe, not a constant: what getrefcount counts of a
    # caller's temporaries differs between Python versions and builds.)
    if _refs(mem) != _REFS_ALONE + 1 + (pin is not None):
        return
    reserve = len(data)
    idle = _pool.get(reserve)
    if idle is None:
        if len(_pool) >= POOL_SIZES:
            return
        idle = _pool.setdefault(reserve, [])
    if len(idle) >= POOL_KEEP:
        return
    size = min(mem.size, reserve)
    imaged = mem.imaged
    if imaged:
        # madvise would give the image's pages back, not zeros: anonymous memory replaces it.
        addr = _address(data)
        if _MMAP(addr, imaged, _IMAGE_PROT, _IMAGE_FLAGS | mmap.MAP_ANONYMOUS, -1, 0) != addr:
            return
    top = -(-size // mmap.PAGESIZE) * mmap.PAGESIZE
    if top > imaged:
        try:
            data.madvise(_MADV_DONTNEED, imaged, top - imaged)
        except OSError:
            return
    # The dying memory lets go of the mapping before another memory may take it: the garbage
    # collector runs the finalizers of a dead store's objects one after the other, so one that
    # runs after this one (or compiled code it calls) could still write through this memory.
    # Now every access fails its bounds check (size 0, the tier's block too) and no growth is
    # allowed; the next memory sets its own size.
    mem.max_pages = mem.reserved_pages = 0
    mem.size = 0
    mem.data = b""
    idle.append((data, pin))


class _Probe:
    __slots__ = ("data",)


def _refs(mem) -> int:
    """What ``sys.getrefcount`` says of ``mem.data`` (see _recycle)."""
    return sys.getrefcount(mem.data)


_probe = _Probe()
_probe.data = object()
#: _refs of a data referred to by its holder's slot alone.
_REFS_ALONE = _refs(_probe)
del _probe


class MemoryAccessError(WasmError, IndexError):
    """A host read or write outside the current size of a linear memory."""


class MemoryInstance:
    """A linear memory: ``data`` is the reserved mapping (never replaced), ``size`` the current
    size in bytes (every access must be checked against it), ``type`` the declared type."""

    __slots__ = ("type", "data", "size", "max_pages", "reserved_pages", "grow_refused", "imaged",
                 "pinned", "__weakref__")

    def __init__(self, type: MemoryType, limit_pages: int | None = None):
        limits = type.limits
        self.type = type
        # set when a growth is refused: wasmforge serve tells a request that failed after
        # running out of memory ("oom") from any other trap by it
        self.grow_refused = False
        self.imaged = 0         # the bytes of a MemoryImage mapped over the start
        self.pinned = None      # a tier's pin of a recycled mapping, for the tier to take again
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
        self.size = limits.min * PAGE_SIZE
        idle = _pool.get(reserve)
        if idle and not type.shared:
            try:
                self.data, self.pinned = idle.pop()
                return
            except IndexError:      # taken meanwhile by another thread
                pass
        try:
            self.data = mmap.mmap(-1, reserve, flags=_MAP_FLAGS)
        except (OSError, OverflowError, ValueError) as exc:
            raise WasmError(f"cannot reserve {reserve} bytes for a memory of "
                            f"{limits.min} pages: {exc}") from None

    def __del__(self) -> None:
        try:
            _recycle(self)
        except Exception:           # (at interpreter exit, with this module's globals cleared)
            pass

    def map_image(self, image: MemoryImage) -> None:
        """Make the memory's first ``image.size`` bytes ``image``'s (a fresh memory: nothing
        written yet, nothing reading it natively).  The mapping replaces that part of the
        reservation in place, at the same address, so the ``mmap`` object and every view of it
        stay valid; pages past the image stay the anonymous zero pages they were."""
        if image.size > self.size:
            raise WasmError("a memory image larger than the memory")
        if image.fd is not None and not self.type.shared:
            if _map_over(self.data, image.size, image.fd):
                self.imaged = image.size
                return
        self.data[:image.size] = image.data

    def snapshot(self, like: "SnapshotImage | None" = None) -> "MemorySnapshot":
        """Its contents and size now, to be put back later (:class:`MemorySnapshot`; ``like``:
        another memory's snapshot image, shared if its contents are the same).
        WasmError where that cannot be done (:func:`snapshot_refusal`)."""
        return MemorySnapshot(self, like)

    def _pin(self):
        """The tier's pin of the mapping, a recycled mapping keeps for its next memory: an
        object holding one view of ``data`` (llvm/instance.py NativeMemory's block's
        ``export``), or None."""
        return self.pinned

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
                self.grow_refused = delta > 0 or self.grow_refused
                return -1
            if not _RESERVE and delta:
                try:
                    self.data += bytes(delta * PAGE_SIZE)
                except (BufferError, MemoryError, OverflowError):
                    self.grow_refused = True
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


def pool_idle(reserve: int) -> int:
    """How many recycled reservations of ``reserve`` bytes wait for a memory (tests)."""
    return len(_pool.get(reserve, ()))


# ----- snapshots: a memory put back to an earlier state (a sandbox recycled) -----

#: The chunk the contents of a snapshot are written in (and an all-zero chunk is skipped:
#: the file's hole reads as zeros).
_SNAP_CHUNK = 1 << 16
_ZERO_CHUNK = bytes(_SNAP_CHUNK)
_memcmp = None if _MMAP is None else ctypes.CDLL(None).memcmp
if _memcmp is not None:
    _memcmp.restype = ctypes.c_int
    _memcmp.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t]


class SnapshotImage:
    """The contents of a memory at a moment (:meth:`MemoryInstance.snapshot`), in a
    memory-backed file of ``size`` bytes (a multiple of the page size) that a memory maps
    private and copy-on-write over its start: ``madvise(MADV_DONTNEED)`` over such a mapping
    drops the pages the memory wrote (and read) and the next access faults the image's in
    again, so putting the memory back costs the pages touched, not the memory's size.  Zero
    chunks are holes.  One image serves every memory whose contents are the same (sandboxes
    of one component: :meth:`MemoryInstance.snapshot` compares with ``like``'s)."""

    __slots__ = ("size", "fd", "view", "addr", "__weakref__")

    def __init__(self, data, size: int) -> None:
        self.size = size
        fd = os.memfd_create("wasmforge-snapshot", os.MFD_CLOEXEC)
        try:
            os.ftruncate(fd, size)
            for at in range(0, size, _SNAP_CHUNK):
                chunk = data[at:at + _SNAP_CHUNK]
                if chunk != _ZERO_CHUNK[:len(chunk)]:
                    view = memoryview(chunk)
                    done = 0
                    while done < len(chunk):
                        done += os.pwrite(fd, view[done:], at + done)
            # (a private view to compare later memories with: never written)
            self.view = mmap.mmap(fd, size, flags=mmap.MAP_PRIVATE, prot=mmap.PROT_READ | mmap.PROT_WRITE)
        except BaseException:
            os.close(fd)
            raise
        self.fd = fd
        self.addr = _address(self.view)
        weakref.finalize(self, os.close, fd)

    def same(self, data, size: int) -> bool:
        """Whether the first ``size`` bytes of the mapping ``data`` are this image."""
        return size == self.size and _memcmp(_address(data), self.addr, size) == 0


class Unrecyclable(WasmError):
    """State a snapshot cannot put back: a memory, an instance, a store or a component instance
    that holds it cannot be recycled (:meth:`MemoryInstance.snapshot`,
    runtime/instance.py ``ModuleInstance.snapshot``, runtime/store.py ``Store.snapshot``)."""


def snapshot_refusal(mem: "MemoryInstance") -> "str | None":
    """Why ``mem`` cannot be snapshotted and put back (None: it can)."""
    if mem.type.shared:
        return "a shared memory (threads)"
    if type(mem.data) is not mmap.mmap or _MMAP is None or _MADV_DONTNEED is None or _memcmp is None:
        return "memories are not mappings on this platform"
    if mem.data.closed:
        return "a released memory"
    return None


class MemorySnapshot:
    """What :meth:`MemoryInstance.snapshot` took: :meth:`reset` puts the memory back to it,
    its contents and its size (a ``memory.grow`` since undone), in time proportional to the
    pages touched since."""

    __slots__ = ("mem", "size", "image")

    def __init__(self, mem: "MemoryInstance", like: "SnapshotImage | None" = None) -> None:
        reason = snapshot_refusal(mem)
        if reason is not None:
            raise Unrecyclable(f"cannot snapshot the memory: {reason}")
        self.mem = mem
        self.size = size = mem.size
        top = -(-size // mmap.PAGESIZE) * mmap.PAGESIZE
        data = mem.data
        image = like
        if image is None or not image.same(data, top):
            image = SnapshotImage(data, top) if top else None
        self.image = image
        if image is not None:
            # The same bytes, now the image's pages (the old mapping of the range goes).
            if not _map_over(data, top, image.fd):
                data[:top] = image.view[:top]       # (zeroed: the bytes back, and refused)
                raise WasmError(f"cannot map a memory snapshot: {os.strerror(ctypes.get_errno())}")
            mem.imaged = top

    def reset(self) -> None:
        """Put the memory back: the image's pages over its start, zeros beyond, its size."""
        mem = self.mem
        top = -(-max(mem.size, self.size) // mmap.PAGESIZE) * mmap.PAGESIZE
        if top:
            mem.data.madvise(_MADV_DONTNEED, 0, top)
        mem.size = self.size
        mem.grow_refused = False
