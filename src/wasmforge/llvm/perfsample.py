"""Where a thread runs, sampled by the kernel: the sampler of the llvm tier's background
recompiles (llvm/lazytier.py: which baseline batches are hot; llvm/tiering.py: which functions
of quick code are), in a module of its own so that a warm run that loads quick code can sample
without importing the IR generator that llvm/lazytier.py needs."""

from __future__ import annotations

import bisect
import ctypes
import fcntl
import mmap
import os
import struct
import threading
import weakref

from .forksafe import is_helper

#: CPU nanoseconds of the guest's thread between two samples of where it runs (:class:`Sampler`)
SAMPLE_NS = 1_000_000
#: PERF_EVENT_IOC_PERIOD: _IOW('$', 4, __u64)
_IOC_PERIOD = 0x40082404


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

    def set_period(self, period_ns: int) -> bool:
        """Sample every ``period_ns`` of the thread's CPU from now on; return whether the
        kernel took it."""
        if self._fd < 0:
            return False
        try:
            fcntl.ioctl(self._fd, _IOC_PERIOD, struct.pack("<Q", period_ns))
        except OSError:
            return False
        return True

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
    the tail of a ring the parent shares, taking the parent's samples away; the child's copies
    of :class:`ProcessSampler` objects stay closed too (a module the child makes after the
    fork opens a set of its own, for its own threads)."""
    global _SET, _SET_LOCK
    for sampler in list(_open):
        sampler.close()
    _SET = None
    _SET_LOCK = threading.Lock()    # (another thread of the parent may have held it)


os.register_at_fork(after_in_child=_close_in_child)


class ProcessSampler:
    """One module's share of where this process's threads run: the samples of the process's
    one set of perf events (:class:`_Samplers`) that fall in the code ranges the module
    watches (:meth:`watch`), at its own period.  :meth:`open` is None where the kernel refuses
    the set's first event.

    Each module that tiers up used to open a set of its own (one event per thread sampled:
    nine, 132 KiB of locked ring memory); the rings count against the user's
    ``perf_event_mlock_kb`` (516 KiB by default), so past the fourth module of a process (a
    server of ten apps, a program loading many modules) the kernel refused the next one's and
    that module was never sampled.  Now the process holds one set while any module samples,
    whatever the number of modules; each drain of any module's share drains the set's rings
    and hands every sample to the module whose code range it fell in (a sample in no module's
    code is dropped)."""

    def __init__(self, samplers: "_Samplers", period_ns: int) -> None:
        self._samplers = samplers
        self.period = period_ns
        self.ranges: list = []          # (start, end) of code watched
        self._pending: list = []        # samples in them, not drained yet
        self._every = 1                 # of the set's samples in them, one kept in this many...
        self._skipped = 0               # ...(the set samples at the finest period asked)
        self.closed = False

    @classmethod
    def open(cls, period_ns: int = SAMPLE_NS):
        """A share sampled every ``period_ns`` of each thread's CPU (the calling thread sampled
        from now on, the process's others from the first drain), with no code range yet."""
        global _SET
        with _SET_LOCK:
            if _SET is None or _SET.pid != os.getpid():
                _SET = _Samplers()
            return _SET.join(cls, period_ns)

    def watch(self, start: int, end: int) -> None:
        """Samples in the code ``[start, end)`` are this share's from now on."""
        self._samplers.watch(self, start, end)

    def drain(self) -> list:
        """The instruction pointers sampled in this share's code ranges, in any of the
        threads, since the last call (an ended thread's last ones included).  Nothing once
        closed, nor in a forked child (the set's events were closed at the fork)."""
        return self._samplers.drain(self)

    def close(self) -> None:
        """Leave the set (a second call does nothing); the last share to leave closes its
        events and frees their rings."""
        self._samplers.leave(self)


class _Samplers:
    """The process's one set of perf events: the :class:`Sampler` of the thread that opened
    it (a ring of ``Sampler._PAGES`` pages) and those of the process's other threads as the
    drains find them (up to :data:`OTHER_THREADS`, helper threads left out: they run no guest
    code), each with a ring of :data:`OTHER_PAGES` pages; so at most 132 KiB of locked memory
    for the process.  It samples at the finest period its shares asked for (changed in place,
    ``PERF_EVENT_IOC_PERIOD``, as shares come and go); a share with a longer period keeps one
    of its samples in that many."""

    #: at most this many threads sampled besides the first...
    OTHER_THREADS = 8
    #: ...each with a ring of this many pages (512 samples).  The rings count against the
    #: user's ``perf_event_mlock_kb`` (516 KiB by default): a thread the kernel refuses is not
    #: sampled (and not asked again).
    OTHER_PAGES = 2
    #: samples a share holds between two of its drains at most (more are dropped, as the
    #: kernel drops those past a full ring)
    PENDING = 4096

    def __init__(self) -> None:
        self.pid = os.getpid()          # (a forked child's copy samples nothing)
        self.lock = threading.Lock()
        self.threads: dict = {}         # native thread id -> its Sampler
        self.refused: set = set()
        self.shares: list = []
        self.period = 0
        # The watched code ranges, sorted by start: starts, ends and their shares.
        self._starts: list = []
        self._ends: list = []
        self._owners: list = []

    def join(self, cls, period_ns: int):
        """(Under ``_SET_LOCK``.)  A new share, the calling thread sampled; None where the
        kernel refuses the set's first event."""
        with self.lock:
            tid = threading.get_native_id()
            period = min(self.period, period_ns) if self.shares else period_ns
            if tid not in self.threads and tid not in self.refused:
                if not self.threads:
                    sampler = Sampler.open(period)
                    if sampler is None:
                        if not self.shares:
                            return None
                        self.refused.add(tid)
                    else:
                        self.threads[tid] = sampler
                elif len(self.threads) <= self.OTHER_THREADS:
                    self._open_thread(tid, period)
            share = cls(self, period_ns)
            self.shares.append(share)
            self._set_period(period)
            return share

    def _open_thread(self, tid: int, period: int) -> None:
        sampler = Sampler.open_thread(period, tid, self.OTHER_PAGES)
        if sampler is None:
            self.refused.add(tid)
        else:
            self.threads[tid] = sampler

    def _set_period(self, period: int) -> None:
        """(Under ``lock``.)  Sample every ``period`` ns from now on; each share keeps one of
        its samples per its own period."""
        if period != self.period:
            for sampler in self.threads.values():
                sampler.set_period(period)
            self.period = period
        for share in self.shares:
            share._every = max(1, round(share.period / period))

    def watch(self, share: ProcessSampler, start: int, end: int) -> None:
        if os.getpid() != self.pid:
            return
        with self.lock:
            if share.closed:
                return
            k = bisect.bisect_right(self._starts, start)
            self._starts.insert(k, start)
            self._ends.insert(k, end)
            self._owners.insert(k, share)
            share.ranges.append((start, end))

    def drain(self, share: ProcessSampler) -> list:
        if os.getpid() != self.pid:
            return []
        with self.lock:
            if share.closed:
                return []
            self._collect()
            ips, share._pending = share._pending, []
            return ips

    def _collect(self) -> None:
        """(Under ``lock``.)  Hand the samples taken since the last drain to the shares whose
        code they fell in; then the threads started since are sampled, the ended ones' events
        closed."""
        starts, ends, owners = self._starts, self._ends, self._owners
        limit = self.PENDING
        for sampler in self.threads.values():
            for ip in sampler.drain():
                k = bisect.bisect_right(starts, ip) - 1
                if k >= 0 and ip < ends[k]:
                    share = owners[k]
                    share._skipped += 1
                    if share._skipped >= share._every:
                        share._skipped = 0
                        if len(share._pending) < limit:
                            share._pending.append(ip)
        alive = {t.native_id for t in threading.enumerate()
                 if t.native_id is not None and not is_helper(t)}
        for tid in [tid for tid in self.threads if tid not in alive]:
            self.threads.pop(tid).close()
        for tid in sorted(alive - self.threads.keys() - self.refused):
            if len(self.threads) > self.OTHER_THREADS:
                break
            self._open_thread(tid, self.period)

    def leave(self, share: ProcessSampler) -> None:
        if share.closed:
            return
        share.closed = True
        if os.getpid() != self.pid:
            return
        with self.lock:
            self.shares.remove(share)
            keep = [k for k, owner in enumerate(self._owners) if owner is not share]
            self._starts = [self._starts[k] for k in keep]
            self._ends = [self._ends[k] for k in keep]
            self._owners = [self._owners[k] for k in keep]
            if self.shares:
                self._set_period(min(s.period for s in self.shares))
                return
            for sampler in self.threads.values():
                sampler.close()
            self.threads.clear()
            self.refused.clear()
            self.period = 0


#: The process's set of perf events while any module samples (:meth:`ProcessSampler.open`)
_SET: "_Samplers | None" = None
_SET_LOCK = threading.Lock()


def open_events() -> int:
    """How many perf events the process's samplers hold open (one per thread sampled)."""
    return len(_open)


__all__ = ["SAMPLE_NS", "ProcessSampler", "Sampler", "open_events"]
