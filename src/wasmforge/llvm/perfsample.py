"""Where a thread runs, sampled by the kernel: the sampler of the llvm tier's background
recompiles (llvm/lazytier.py: which baseline batches are hot; llvm/tiering.py: which functions
of quick code are), in a module of its own so that a warm run that loads quick code can sample
without importing the IR generator that llvm/lazytier.py needs."""

from __future__ import annotations

import ctypes
import mmap
import os
import struct
import threading
import weakref

from .forksafe import is_helper

#: CPU nanoseconds of the guest's thread between two samples of where it runs (:class:`Sampler`)
SAMPLE_NS = 1_000_000


class Sampler:
    """Where the thread that made it runs, sampled by the kernel (``perf_event_open``: a
    task-clock event that records the instruction pointer every :data:`SAMPLE_NS` of the
    thread's CPU into a ring buffer this process maps; no signal, no code of ours on the
    thread), so that the hottest baseline batches are recompiled first.  :meth:`open` is
    None where the kernel refuses it (``perf_event_paranoid``, a container's seccomp
    profile): batches then go in the order they were noted."""

    # Of ring buffer: 2,048 samples, 2 s of the thread's CPU between two drains (more are
    # dropped, not overwritten).  The pages count against the user's perf_event_mlock_kb
    # (516 KiB by default): past it, open() is None and batches go in the order noted.
    _PAGES = 8
    _HEAD = struct.Struct("<Q")         # data_head at 1024, data_tail at 1032 of the first page
    _RECORD = struct.Struct("<IHHQ")    # perf_event_header (type, misc, size) + sample IP

    def __init__(self, fd: int, ring: mmap.mmap, pages: int = _PAGES) -> None:
        self._fd, self._ring = fd, ring
        self._page = mmap.PAGESIZE
        self._size = pages * self._page
        _open.add(self)

    @classmethod
    def open(cls, period_ns: int = SAMPLE_NS):
        """The sampler of the calling thread."""
        return cls.open_thread(period_ns, 0, cls._PAGES)

    @classmethod
    def open_thread(cls, period_ns: int, tid: int, pages: int):
        """The sampler of thread ``tid`` of this process (0: the calling thread), with a ring
        of ``pages`` pages (a power of two)."""
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            attr = bytearray(128)
            # type PERF_TYPE_SOFTWARE, size, config PERF_COUNT_SW_TASK_CLOCK, sample_period,
            # sample_type PERF_SAMPLE_IP; flags: exclude_kernel, exclude_hv
            struct.pack_into("<IIQQQQQ", attr, 0, 1, len(attr), 1, period_ns, 1, 0,
                             (1 << 5) | (1 << 6))
            buf = (ctypes.c_char * len(attr)).from_buffer(attr)
            # perf_event_open(attr, the thread, any CPU, no group, PERF_FLAG_FD_CLOEXEC)
            fd = libc.syscall(298, buf, tid, -1, -1, 8)
        except (OSError, AttributeError):
            return None
        if fd < 0:
            return None
        try:
            ring = mmap.mmap(fd, (1 + pages) * mmap.PAGESIZE, mmap.MAP_SHARED,
                             mmap.PROT_READ | mmap.PROT_WRITE)
        except (OSError, ValueError):
            os.close(fd)
            return None
        return cls(fd, ring, pages)

    def drain(self) -> list:
        """The instruction pointers sampled since the last call (none once closed)."""
        ring, page, size = self._ring, self._page, self._size
        if self._fd < 0:
            return []
        (head,) = self._HEAD.unpack_from(ring, 1024)
        (tail,) = self._HEAD.unpack_from(ring, 1032)
        if head - tail > size:          # (cannot happen: the kernel does not overwrite)
            tail = head
        data = ring[page:page + size]
        data = data + data              # a record may wrap around the end
        ips = []
        pos = tail
        while pos + 8 <= head:
            at = pos % size
            kind, _misc, n = struct.unpack_from("<IHH", data, at)
            if n < 8 or pos + n > head:     # (not a whole record: the kernel's never are)
                break
            if kind == 9 and n >= self._RECORD.size:        # PERF_RECORD_SAMPLE
                ips.append(self._RECORD.unpack_from(data, at)[3])
            pos += n
        self._HEAD.pack_into(ring, 1032, head)
        return ips

    def close(self) -> None:
        """Unmap the ring and close the event; a second call does nothing (the descriptor's
        number may be another file's by then)."""
        fd = self._fd
        if fd < 0:
            return
        self._fd = -1
        _open.discard(self)
        try:
            self._ring.close()
        except BufferError:     # (a view of it still held: it is unmapped when let go)
            pass
        finally:
            os.close(fd)


#: The samplers not closed yet, closed in a forked child (:func:`_close_in_child`).
_open: "weakref.WeakSet[Sampler]" = weakref.WeakSet()


def _close_in_child() -> None:
    """After a fork, in the child: its copies of the samplers' events and rings are closed.
    They sample the parent's threads, not the child's, and a drain in the child would move
    the tail of a ring the parent shares, taking the parent's samples away; the child's
    :class:`ProcessSampler` objects stay closed too (it opens none for its own threads)."""
    for sampler in list(_open):
        sampler.close()


os.register_at_fork(after_in_child=_close_in_child)


class ProcessSampler:
    """Where this process's threads run: the :class:`Sampler` of the thread that made it, and
    those of the process's other threads as :meth:`drain` finds them (up to
    :data:`OTHER_THREADS`, helper threads left out: they run no guest code), each with a ring
    of :data:`OTHER_PAGES` pages.  A server loads its apps on one thread and runs their
    requests on its workers (and its event loop): the first thread's sampler alone saw none
    of their samples.  :meth:`open` is None where the kernel refuses the first thread's."""

    #: at most this many threads sampled besides the first...
    OTHER_THREADS = 8
    #: ...each with a ring of this many pages (512 samples).  The rings count against the
    #: user's ``perf_event_mlock_kb`` (516 KiB by default): a thread the kernel refuses is not
    #: sampled (and not asked again).
    OTHER_PAGES = 2

    def __init__(self, first: Sampler, period_ns: int) -> None:
        self.first = first
        self._period = period_ns
        self._tid = threading.get_native_id()
        self._pid = os.getpid()         # (a forked child's copy samples nothing)
        self.others: dict = {}          # native thread id -> its Sampler
        self._refused: set = set()

    @classmethod
    def open(cls, period_ns: int = SAMPLE_NS):
        first = Sampler.open(period_ns)
        return None if first is None else cls(first, period_ns)

    def drain(self) -> list:
        """The instruction pointers sampled in any of the threads since the last call (an
        ended thread's last ones included); then the threads started since are sampled.
        Nothing in a forked child (its samplers were closed at the fork)."""
        if os.getpid() != self._pid:
            return []
        ips = list(self.first.drain())
        for sampler in self.others.values():
            ips += sampler.drain()
        alive = {t.native_id for t in threading.enumerate()
                 if t.native_id is not None and not is_helper(t)}
        alive.discard(self._tid)
        for tid in [tid for tid in self.others if tid not in alive]:
            self.others.pop(tid).close()
        for tid in sorted(alive - self.others.keys() - self._refused):
            if len(self.others) >= self.OTHER_THREADS:
                break
            sampler = Sampler.open_thread(self._period, tid, self.OTHER_PAGES)
            if sampler is None:
                self._refused.add(tid)
            else:
                self.others[tid] = sampler
        return ips

    def close(self) -> None:
        for sampler in self.others.values():
            sampler.close()
        self.others.clear()
        self.first.close()


__all__ = ["SAMPLE_NS", "ProcessSampler", "Sampler"]
