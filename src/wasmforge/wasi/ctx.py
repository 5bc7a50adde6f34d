"""``WasiCtx``: the state of one WASI preview1 guest and every ``wasi_snapshot_preview1`` function.

The guest sees file descriptors; each maps to an :class:`FdEntry` holding the host object
(an OS file descriptor, a socket, or an in-process stream), the preview1 ``rights`` that bound
what the guest may do with it, and its ``fdflags``.  Descriptors 0, 1, 2 are stdin, stdout and
stderr; preopened directories follow from 3 in the order they were granted, then preopened
sockets.

Every function takes ``mem`` (the calling instance's memory: ``.data`` a writable buffer,
``.size`` its current size in bytes) and its arguments as unsigned integers, and returns an
errno (0 for success).  Every guest pointer is checked against ``mem.size`` before any byte is
touched (``EFAULT``), and every out-pointer before any side effect happens.
"""

from __future__ import annotations

import fcntl
import os
import select
import stat as _stat
import termios
import time
from typing import TYPE_CHECKING, Callable

from .._log import INFO
from ..errors import ExitTrap, Trap, WasmError
from ..runtime.interrupts import interrupts
from ..types import FuncType
from . import abi
from .abi import (DIRENT, EVENT, FDSTAT, FILESTAT, IOVEC, PRESTAT, SUB_CLOCK, SUB_FD, SUB_HEAD, U32, U64,
                  Errno, Filetype, Rights as R)
from .config import WasiConfig
from .paths import Resolved, WasiErrno, decode_path, log, refuse_cache_dir, resolve

if TYPE_CHECKING:
    import socket as _socket

# Entry kinds.
FILE, DIR, STREAM_IN, STREAM_OUT, SOCKET = range(5)


def _denied_rights(fd: int, missing: int) -> None:
    """Log (``wasmforge.wasi``, INFO) a descriptor used without rights it lacks: a read-only
    preopen written to, a file opened for reading written, ... (``ENOTCAPABLE``)."""
    if log.isEnabledFor(INFO):
        log.info("denied: descriptor %d lacks the right%s %s", fd, "s" if missing & (missing - 1) else "",
                 ", ".join(r.name.lower() for r in R if r & missing and r.name))

#: most descriptors one guest may hold open (bounds the host descriptors it can consume)
MAX_FDS = 1024
#: a guest path (or symlink target) this long or longer is ``ENAMETOOLONG`` before any of it
#: is read: Linux's PATH_MAX, which counts the NUL, and wasmtime's limit
MAX_PATH = 4096
#: iovecs one read or write looks at; the rest are ignored, so the call transfers less (a
#: short read or write, as wasmtime's, which uses only the first non-empty iovec).  Linux's
#: IOV_MAX.
MAX_IOVECS = 1024
#: largest ``random_get``; above it the call traps, as wasmtime's does
MAX_RANDOM_GET = 64 << 20
#: most subscriptions one ``poll_oneoff`` takes (``EINVAL`` beyond, as ``poll`` beyond
#: RLIMIT_NOFILE); wasmtime traps beyond 500,000 clock subscriptions (its resource table)
MAX_SUBSCRIPTIONS = 65536
#: most bytes copied out of guest memory at once for a stdout/stderr callback: a longer write
#: reaches the callback in several calls
SINK_CHUNK = 1 << 20

_I64_MAX = (1 << 63) - 1
_NOFOLLOW = os.O_NOFOLLOW | os.O_CLOEXEC
_FADVICE = (os.POSIX_FADV_NORMAL, os.POSIX_FADV_SEQUENTIAL, os.POSIX_FADV_RANDOM,
            os.POSIX_FADV_WILLNEED, os.POSIX_FADV_DONTNEED, os.POSIX_FADV_NOREUSE)
_CLOCK_IDS = (time.CLOCK_REALTIME, time.CLOCK_MONOTONIC, time.CLOCK_PROCESS_CPUTIME_ID,
              time.CLOCK_THREAD_CPUTIME_ID)
# Emscripten (Pyodide) has no thread_time_ns; it runs one thread, whose CPU time is the process's.
_CLOCK_NOW = (time.time_ns, time.monotonic_ns, time.process_time_ns,
              getattr(time, "thread_time_ns", time.process_time_ns))


def _sleep_until(deadline: int) -> None:
    """Sleep until the monotonic clock reads ``deadline`` (ns), so that a clock subscription
    the wait was for is due when it ends.  A sleep can end a tick short of its deadline where
    the clock is coarse (a browser's clock under Pyodide moves in 100 µs steps, measured from
    before the sleep); the remainder is slept again, rounded up to a millisecond.  A clock
    that stands still ends the wait after a few tries, with the subscription not yet due."""
    for _ in range(4):
        left = deadline - time.monotonic_ns()
        if left <= 0:
            return
        time.sleep(-(-left // 1_000_000) / 1000)


def _filetype_of_mode(mode: int) -> int:
    if _stat.S_ISREG(mode):
        return Filetype.REGULAR_FILE
    if _stat.S_ISDIR(mode):
        return Filetype.DIRECTORY
    if _stat.S_ISLNK(mode):
        return Filetype.SYMBOLIC_LINK
    if _stat.S_ISCHR(mode):
        return Filetype.CHARACTER_DEVICE
    if _stat.S_ISBLK(mode):
        return Filetype.BLOCK_DEVICE
    if _stat.S_ISSOCK(mode):
        return Filetype.SOCKET_STREAM
    return Filetype.UNKNOWN


class _Propagate(Exception):
    """Carries an exception raised by an embedder's callback through the errno mapping."""

    def __init__(self, exc: BaseException):
        super().__init__()
        self.exc = exc


class FdEntry:
    """One guest file descriptor.

    ``kind``: FILE, DIR, STREAM_IN, STREAM_OUT or SOCKET.  ``host``: the OS descriptor for
    FILE and DIR (and for streams bound to a host descriptor, else -1).  ``base`` and
    ``inheriting``: preview1 rights.  ``preopen``: the guest-visible name of a preopened
    directory, else None."""

    __slots__ = ("kind", "host", "filetype", "base", "inheriting", "flags", "preopen", "owned",
                 "sink", "data", "pos", "sock", "dirents")

    def __init__(self, kind, host=-1, filetype=Filetype.UNKNOWN, base=0, inheriting=0, flags=0,
                 preopen=None, owned=True):
        self.kind = kind
        self.host = host
        self.filetype = filetype
        self.base = base
        self.inheriting = inheriting
        self.flags = flags
        self.preopen = preopen
        self.owned = owned
        self.sink = None        # STREAM_OUT: callable(bytes) or None (discard) when host < 0
        self.data = None        # STREAM_IN: bytes yielded when host < 0 (None: empty)
        self.pos = 0
        self.sock = None        # SOCKET: the socket.socket
        self.dirents = None     # DIR: listing cached by fd_readdir at cookie 0

    def close(self) -> None:
        """Release the host resource, if this entry owns it."""
        if self.sock is not None:
            self.sock.close()
        elif self.owned and self.host >= 0:
            os.close(self.host)
        self.host = -1


def _close_all(fds: dict) -> None:
    for entry in fds.values():
        try:
            entry.close()
        except OSError:
            pass
    fds.clear()


# The rights of the standard streams, as plain ints once (enum arithmetic per context costs).
_STDIN_RIGHTS = int(abi.STREAM_RIGHTS & ~R.FD_WRITE)
_STDOUT_RIGHTS = int(abi.STREAM_RIGHTS & ~R.FD_READ)


class WasiCtx:
    """The state of one WASI preview1 guest, built from a :class:`WasiConfig`.

    Opens the preopened directories at once (``WasmError`` if one cannot be opened).  Call
    :meth:`close` (or use ``with``) to release host descriptors; they are also released when
    the context is garbage collected."""

    def __init__(self, config: "WasiConfig | None" = None):
        config = config if config is not None else WasiConfig()
        self.config = config
        self.args = list(config.argv)
        self.environ = [k + b"=" + v for k, v in config.env]
        self.fds: dict[int, FdEntry] = {}
        try:
            self.fds[0] = self._stdio(config._stdin, STREAM_IN)
            self.fds[1] = self._stdio(config._stdout, STREAM_OUT)
            self.fds[2] = self._stdio(config._stderr, STREAM_OUT)
            # the pipes whose guest ends these entries use: kept alive with the context (the
            # config may be given other stdio later)
            self._pipes = [value for how, value in (config._stdin, config._stdout, config._stderr)
                           if how == "pipe"]
            for pre in config.preopens:
                try:
                    host = os.open(pre.host_path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
                except OSError as exc:
                    raise WasmError(f"failed to open directory {pre.host_path!r}: {exc.strerror}") from None
                if pre.read_only:
                    base, inheriting = abi.DIR_READ_RIGHTS, abi.DIR_READ_RIGHTS | abi.FILE_READ_RIGHTS
                else:
                    base, inheriting = abi.DIR_RIGHTS, abi.DIR_RIGHTS | abi.FILE_RIGHTS
                    if pre.file_read_only:      # FilePerms.READ_ONLY: files open for reading only
                        inheriting = abi.DIR_RIGHTS | abi.FILE_READ_RIGHTS
                self.fds[len(self.fds)] = FdEntry(DIR, host, Filetype.DIRECTORY, base, inheriting,
                                                  preopen=pre.guest_path.encode("utf-8"))
            for sock in config.sockets:
                self.fds[len(self.fds)] = self._socket_entry(sock.dup())
        except BaseException:
            self.close()
            raise

    # -- lifecycle -----------------------------------------------------------------------
    def close(self) -> None:
        """Close every host descriptor this context owns."""
        _close_all(self.fds)

    def __del__(self):
        # Released when collected (by reference counting, or by the collector when a cycle
        # holds the context): cheaper per context than a weakref.finalize.  Closing twice
        # is harmless (an entry forgets its descriptor when closed).
        fds = self.__dict__.get("fds")
        if fds and _close_all is not None:     # None: the interpreter is shutting down
            _close_all(fds)

    def __enter__(self) -> "WasiCtx":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @staticmethod
    def _stdio(slot: tuple, kind: int) -> FdEntry:
        how, value = slot
        if how == "pipe":       # WasiConfig.stdin_pipe() and co: the guest's end, kept by the pipe
            how, value = "inherit", value.guest_fd
        rights = _STDIN_RIGHTS if kind == STREAM_IN else _STDOUT_RIGHTS
        entry = FdEntry(kind, base=rights)
        if how == "inherit" or how == "file":
            if how == "file":
                mode = os.O_RDONLY if kind == STREAM_IN else os.O_WRONLY | os.O_CREAT | os.O_TRUNC
                try:
                    entry.host = os.open(value, mode | os.O_CLOEXEC, 0o666)
                except OSError as exc:
                    raise WasmError(f"failed to open {value!r}: {exc.strerror}") from None
            else:
                entry.host = value
                entry.owned = False
            try:
                entry.filetype = _filetype_of_mode(os.fstat(entry.host).st_mode)
            except OSError:
                entry.filetype = Filetype.UNKNOWN
        elif how == "bytes":
            entry.data = value
        elif how == "callback":
            entry.sink = value
        return entry

    @staticmethod
    def _socket_entry(sock: "_socket.socket") -> FdEntry:
        import socket as _socket  # start-up speed: the embedder that made the socket loaded it
        listening = sock.getsockopt(_socket.SOL_SOCKET, _socket.SO_ACCEPTCONN)
        stream = sock.type == _socket.SOCK_STREAM
        entry = FdEntry(SOCKET, -1, Filetype.SOCKET_STREAM if stream else Filetype.SOCKET_DGRAM,
                        abi.LISTENER_RIGHTS if listening else abi.SOCKET_RIGHTS)
        entry.sock = sock
        return entry

    def _add(self, entry: FdEntry) -> int:
        fds = self.fds
        if len(fds) >= MAX_FDS:
            entry.close()
            raise WasiErrno(Errno.MFILE)
        fd = 0
        while fd in fds:
            fd += 1
        fds[fd] = entry
        return fd

    # -- the table the runtime links --------------------------------------------------------
    @property
    def functions(self) -> dict[str, Callable]:
        """Every ``wasi_snapshot_preview1`` function by name: ``fn(mem, *args) -> errno``
        (built once per context)."""
        table = self.__dict__.get("_functions")
        if table is None:
            table = self._functions = {
                name: getattr(self, name) if name == "proc_exit" else _errno_wrapper(getattr(self, name))
                for name in abi.SIGNATURES}
        return table

    def host_functions(self) -> dict[str, tuple[FuncType, Callable]]:
        """Every ``wasi_snapshot_preview1`` function: name -> (core FuncType, fn).

        ``fn(mem, *args)`` takes the caller's memory and the core arguments (unsigned ints)
        and returns the errno as an int (``proc_exit`` returns nothing: it raises
        :class:`~wasmforge.errors.ExitTrap`).  An exception raised by a stdout/stderr callback
        propagates unchanged."""
        return {name: (abi.SIGNATURES[name], fn) for name, fn in self.functions.items()}

    # -- helpers ---------------------------------------------------------------------------
    def _get(self, fd: int, rights: int = 0, *, file: bool = False) -> FdEntry:
        """The entry of ``fd`` if it has ``rights``.  With ``file`` (an operation on a file's
        contents) a directory is ``EBADF`` whatever its rights, as wasmtime answers (preview1
        leaves the errno open: the WASI testsuite accepts ``EBADF``, ``EISDIR`` or
        ``ENOTCAPABLE``), so programs see the same errors under both runtimes."""
        entry = self.fds.get(fd)
        if entry is None or (file and entry.kind == DIR):
            raise WasiErrno(Errno.BADF)
        if entry.base & rights != rights:
            _denied_rights(fd, rights & ~entry.base)
            raise WasiErrno(Errno.NOTCAPABLE)
        return entry

    def _dir(self, fd: int, rights: int) -> FdEntry:
        entry = self.fds.get(fd)
        if entry is None:
            raise WasiErrno(Errno.BADF)
        if entry.kind != DIR:
            raise WasiErrno(Errno.NOTDIR)
        if entry.base & rights != rights:
            _denied_rights(fd, rights & ~entry.base)
            raise WasiErrno(Errno.NOTCAPABLE)
        return entry

    @staticmethod
    def _path(mem, ptr: int, length: int) -> str:
        if ptr + length > mem.size:
            raise WasiErrno(Errno.FAULT)
        if length >= MAX_PATH:
            # Checked before the bytes are copied or walked: an 8 MiB path of `sub/../` took
            # seconds to resolve, one component at a time.
            raise WasiErrno(Errno.NAMETOOLONG)
        return decode_path(bytes(mem.data[ptr:ptr + length]))

    @staticmethod
    def _iovecs(mem, ptr: int, count: int) -> list:
        """The non-empty (buf, len) pairs among the first :data:`MAX_IOVECS` iovecs of an
        array, each checked against the memory's size (the whole array must lie in memory)."""
        size = mem.size
        if ptr + 8 * count > size:
            raise WasiErrno(Errno.FAULT)
        data = mem.data
        vecs = []
        for i in range(min(count, MAX_IOVECS)):
            buf, n = IOVEC.unpack_from(data, ptr + 8 * i)
            if buf + n > size:
                raise WasiErrno(Errno.FAULT)
            if n:
                vecs.append((buf, n))
        return vecs

    @staticmethod
    def _chunks(mem, vecs):
        """The bytes of the iovecs as successive ``bytes`` of at most :data:`SINK_CHUNK`
        (one for a write no longer than that), so a write of 1 GiB never copies 1 GiB."""
        view = memoryview(mem.data)
        try:
            parts, room = [], SINK_CHUNK
            for buf, n in vecs:
                while n:
                    take = min(n, room)
                    parts.append(view[buf:buf + take])
                    buf += take
                    n -= take
                    room -= take
                    if not room:
                        yield b"".join(parts)
                        parts, room = [], SINK_CHUNK
            if parts:
                yield b"".join(parts)
        finally:
            view.release()

    @staticmethod
    def _scatter(mem, vecs, chunk: bytes) -> None:
        data = mem.data
        off = 0
        with memoryview(chunk) as src:
            for buf, n in vecs:
                part = src[off:off + n]
                if not part:
                    break
                data[buf:buf + len(part)] = part
                off += n

    @staticmethod
    def _out(mem, ptr: int, size: int) -> None:
        if ptr + size > mem.size:
            raise WasiErrno(Errno.FAULT)

    # -- args, environment -----------------------------------------------------------------
    @staticmethod
    def _strings_get(mem, strings, ptrs: int, buf: int) -> int:
        total = sum(len(s) + 1 for s in strings)
        if ptrs + 4 * len(strings) > mem.size or buf + total > mem.size:
            return Errno.FAULT
        data = mem.data
        for i, s in enumerate(strings):
            U32.pack_into(data, ptrs + 4 * i, buf)
            data[buf:buf + len(s) + 1] = s + b"\0"
            buf += len(s) + 1
        return Errno.SUCCESS

    @staticmethod
    def _sizes_get(mem, strings, count_ptr: int, size_ptr: int) -> int:
        if count_ptr + 4 > mem.size or size_ptr + 4 > mem.size:
            return Errno.FAULT
        U32.pack_into(mem.data, count_ptr, len(strings))
        U32.pack_into(mem.data, size_ptr, sum(len(s) + 1 for s in strings))
        return Errno.SUCCESS

    def args_get(self, mem, argv: int, argv_buf: int) -> int:
        """Write the argument pointers to ``argv`` and the NUL-terminated strings to ``argv_buf``."""
        return self._strings_get(mem, self.args, argv, argv_buf)

    def args_sizes_get(self, mem, argc_ptr: int, buf_size_ptr: int) -> int:
        """Write the argument count and the bytes ``args_get`` needs for the strings."""
        return self._sizes_get(mem, self.args, argc_ptr, buf_size_ptr)

    def environ_get(self, mem, environ: int, environ_buf: int) -> int:
        """Write the ``KEY=VALUE`` pointers and strings, as ``args_get`` does."""
        return self._strings_get(mem, self.environ, environ, environ_buf)

    def environ_sizes_get(self, mem, count_ptr: int, buf_size_ptr: int) -> int:
        """Write the environment's entry count and string bytes."""
        return self._sizes_get(mem, self.environ, count_ptr, buf_size_ptr)

    # -- clocks, random, scheduling, process ------------------------------------------------
    def clock_res_get(self, mem, clock_id: int, res_ptr: int) -> int:
        """Write the resolution of a clock in nanoseconds."""
        if clock_id > 3:
            return Errno.INVAL
        self._out(mem, res_ptr, 8)
        res = max(1, round(time.clock_getres(_CLOCK_IDS[clock_id]) * 1e9))
        U64.pack_into(mem.data, res_ptr, res)
        return Errno.SUCCESS

    def clock_time_get(self, mem, clock_id: int, precision: int, time_ptr: int) -> int:
        """Write the time of a clock in nanoseconds (``precision`` is a hint and ignored)."""
        if clock_id > 3:
            return Errno.INVAL
        self._out(mem, time_ptr, 8)
        U64.pack_into(mem.data, time_ptr, _CLOCK_NOW[clock_id]())
        return Errno.SUCCESS

    def random_get(self, mem, buf: int, buf_len: int) -> int:
        """Fill a buffer with bytes from the host's cryptographic random source.

        Traps above :data:`MAX_RANDOM_GET` bytes, as wasmtime does (before the buffer is
        checked); fills in 1 MiB pieces, so the host never holds more than that on the side."""
        if buf_len > MAX_RANDOM_GET:
            raise Trap(f"random_get: requested len {buf_len} exceeds limit {MAX_RANDOM_GET}")
        self._out(mem, buf, buf_len)
        data = mem.data
        end = buf + buf_len
        while buf < end:
            n = min(end - buf, 1 << 20)
            data[buf:buf + n] = os.urandom(n)
            buf += n
        return Errno.SUCCESS

    def sched_yield(self, mem) -> int:
        """Yield the processor (lets other Python threads run)."""
        time.sleep(0)
        return Errno.SUCCESS

    def proc_exit(self, mem, code: int) -> None:
        """Terminate the guest: raises :class:`~wasmforge.errors.ExitTrap` with ``code``."""
        raise ExitTrap(code)

    def proc_raise(self, mem, sig: int) -> int:
        """Signals are not delivered to guests: ``EINVAL`` for an unknown signal, else ``ENOTSUP``."""
        return Errno.INVAL if sig > abi.SIGNAL_MAX else Errno.NOTSUP

    # -- descriptors ------------------------------------------------------------------------
    def fd_advise(self, mem, fd: int, offset: int, length: int, advice: int) -> int:
        """Pass an access-pattern hint for a file region to the host (``posix_fadvise``)."""
        entry = self._get(fd, R.FD_ADVISE, file=True)
        if advice > abi.ADVICE_MAX or offset > _I64_MAX or length > _I64_MAX:
            return Errno.INVAL
        if entry.kind != FILE:
            return Errno.BADF
        os.posix_fadvise(entry.host, offset, length, _FADVICE[advice])
        return Errno.SUCCESS

    def fd_allocate(self, mem, fd: int, offset: int, length: int) -> int:
        """Make sure the file has room for ``[offset, offset + length)``, extending it if needed."""
        entry = self._get(fd, R.FD_ALLOCATE, file=True)
        if entry.kind != FILE:
            return Errno.BADF
        if offset + length > _I64_MAX:
            return Errno.FBIG
        # Only the size changes, sparsely: reserving the blocks (posix_fallocate) would let one
        # call take any amount of disk, or of RAM on a tmpfs, and glibc emulates it, where the
        # file system cannot, by writing every block.  wasmtime answers ENOTSUP.
        if os.fstat(entry.host).st_size < offset + length:
            os.ftruncate(entry.host, offset + length)
        return Errno.SUCCESS

    def fd_close(self, mem, fd: int) -> int:
        """Close a descriptor (preopens and stdio included)."""
        entry = self.fds.pop(fd, None)
        if entry is None:
            return Errno.BADF
        entry.close()
        return Errno.SUCCESS

    def fd_datasync(self, mem, fd: int) -> int:
        """Flush a file's data to its storage device (``fdatasync``)."""
        entry = self._get(fd, R.FD_DATASYNC, file=True)
        if entry.host < 0:
            return Errno.INVAL
        os.fdatasync(entry.host)
        return Errno.SUCCESS

    def fd_sync(self, mem, fd: int) -> int:
        """Flush a file's data and metadata to its storage device (``fsync``)."""
        entry = self._get(fd, R.FD_SYNC, file=True)
        if entry.host < 0:
            return Errno.INVAL
        os.fsync(entry.host)
        return Errno.SUCCESS

    def fd_fdstat_get(self, mem, fd: int, buf: int) -> int:
        """Write the descriptor's file type, flags and rights (``$fdstat``)."""
        entry = self._get(fd)
        self._out(mem, buf, FDSTAT.size)
        FDSTAT.pack_into(mem.data, buf, entry.filetype, entry.flags, entry.base, entry.inheriting)
        return Errno.SUCCESS

    def fd_fdstat_set_flags(self, mem, fd: int, flags: int) -> int:
        """Change ``append`` and ``nonblock``; the synchronisation flags cannot change (``ENOTSUP``)."""
        entry = self._get(fd, R.FD_FDSTAT_SET_FLAGS)
        if flags & ~abi.FDFLAGS_ALL:
            return Errno.INVAL
        sync_bits = abi.FDFLAG_DSYNC | abi.FDFLAG_RSYNC | abi.FDFLAG_SYNC
        if (flags ^ entry.flags) & sync_bits:
            return Errno.NOTSUP
        if entry.kind in (FILE, DIR) or entry.sock is not None:
            host = entry.sock.fileno() if entry.sock is not None else entry.host
            fl = fcntl.fcntl(host, fcntl.F_GETFL) & ~(os.O_APPEND | os.O_NONBLOCK)
            if flags & abi.FDFLAG_APPEND:
                fl |= os.O_APPEND
            if flags & abi.FDFLAG_NONBLOCK:
                fl |= os.O_NONBLOCK
            fcntl.fcntl(host, fcntl.F_SETFL, fl)
        entry.flags = flags
        return Errno.SUCCESS

    def fd_fdstat_set_rights(self, mem, fd: int, base: int, inheriting: int) -> int:
        """Drop rights from a descriptor; asking for a right it lacks is ``ENOTCAPABLE``."""
        entry = self._get(fd)
        if base & ~entry.base or inheriting & ~entry.inheriting:
            return Errno.NOTCAPABLE
        entry.base = base
        entry.inheriting = inheriting
        return Errno.SUCCESS

    def _filestat(self, entry: FdEntry):
        if entry.sock is not None:
            st = os.fstat(entry.sock.fileno())
        elif entry.host >= 0:
            st = os.fstat(entry.host)
        else:
            return (0, 0, entry.filetype, 0, 0, 0, 0, 0)
        return (st.st_dev, st.st_ino, _filetype_of_mode(st.st_mode) if entry.kind != SOCKET else entry.filetype,
                st.st_nlink, st.st_size, st.st_atime_ns, st.st_mtime_ns, st.st_ctime_ns)

    def fd_filestat_get(self, mem, fd: int, buf: int) -> int:
        """Write the attributes of the open file (``$filestat``)."""
        entry = self._get(fd, R.FD_FILESTAT_GET)
        self._out(mem, buf, FILESTAT.size)
        FILESTAT.pack_into(mem.data, buf, *self._filestat(entry))
        return Errno.SUCCESS

    def fd_filestat_set_size(self, mem, fd: int, size: int) -> int:
        """Truncate or extend the open file (``ftruncate``)."""
        entry = self._get(fd, R.FD_FILESTAT_SET_SIZE, file=True)
        if entry.kind != FILE:
            return Errno.BADF
        if size > _I64_MAX:
            return Errno.FBIG
        os.ftruncate(entry.host, size)
        return Errno.SUCCESS

    @staticmethod
    def _times(atim: int, mtim: int, fst: int, current):
        """The (atime, mtime) in ns a set_times call asks for, ``current()`` filling the rest."""
        if fst & ~15 or (fst & abi.FST_ATIM and fst & abi.FST_ATIM_NOW) \
                or (fst & abi.FST_MTIM and fst & abi.FST_MTIM_NOW):
            raise WasiErrno(Errno.INVAL)
        if atim > _I64_MAX or mtim > _I64_MAX:
            raise WasiErrno(Errno.INVAL)
        now = time.time_ns()
        st = current() if not (fst & 3 and fst & 12) else None
        a = atim if fst & abi.FST_ATIM else now if fst & abi.FST_ATIM_NOW else st.st_atime_ns
        m = mtim if fst & abi.FST_MTIM else now if fst & abi.FST_MTIM_NOW else st.st_mtime_ns
        return a, m

    def fd_filestat_set_times(self, mem, fd: int, atim: int, mtim: int, fst_flags: int) -> int:
        """Set the open file's access and/or modification time."""
        entry = self._get(fd, R.FD_FILESTAT_SET_TIMES)
        if entry.host < 0:
            return Errno.BADF
        times = self._times(atim, mtim, fst_flags, lambda: os.fstat(entry.host))
        if fst_flags:
            os.utime(entry.host, ns=times)
        return Errno.SUCCESS

    def fd_prestat_get(self, mem, fd: int, buf: int) -> int:
        """Describe a preopened directory (``EBADF`` for any other descriptor)."""
        entry = self._get(fd)
        if entry.preopen is None:
            return Errno.BADF
        self._out(mem, buf, PRESTAT.size)
        PRESTAT.pack_into(mem.data, buf, abi.PREOPENTYPE_DIR, len(entry.preopen))
        return Errno.SUCCESS

    def fd_prestat_dir_name(self, mem, fd: int, path: int, path_len: int) -> int:
        """Write a preopened directory's guest name (no NUL); ``ENAMETOOLONG`` if it does not fit."""
        entry = self._get(fd)
        if entry.preopen is None:
            return Errno.BADF
        name = entry.preopen
        if path_len < len(name):
            return Errno.NAMETOOLONG
        self._out(mem, path, len(name))
        mem.data[path:path + len(name)] = name
        return Errno.SUCCESS

    # -- reading and writing ----------------------------------------------------------------
    def fd_read(self, mem, fd: int, iovs: int, iovs_len: int, nread_ptr: int) -> int:
        """Read into the iovecs from the current position; write the byte count to ``nread_ptr``."""
        entry = self._get(fd, R.FD_READ, file=True)
        vecs = self._iovecs(mem, iovs, iovs_len)
        self._out(mem, nread_ptr, 4)
        U32.pack_into(mem.data, nread_ptr, self._readv(entry, mem, vecs, None))
        return Errno.SUCCESS

    def fd_pread(self, mem, fd: int, iovs: int, iovs_len: int, offset: int, nread_ptr: int) -> int:
        """Read at ``offset`` without moving the file position."""
        entry = self._get(fd, file=True)
        if entry.kind != FILE:
            return Errno.SPIPE
        if entry.base & (R.FD_READ | R.FD_SEEK) != R.FD_READ | R.FD_SEEK:
            return Errno.NOTCAPABLE
        if offset > _I64_MAX:
            return Errno.INVAL
        vecs = self._iovecs(mem, iovs, iovs_len)
        self._out(mem, nread_ptr, 4)
        U32.pack_into(mem.data, nread_ptr, self._readv(entry, mem, vecs, offset))
        return Errno.SUCCESS

    def _readv(self, entry: FdEntry, mem, vecs, offset) -> int:
        if not vecs:
            return 0
        kind = entry.kind
        if kind == STREAM_IN and entry.host < 0:
            data = entry.data or b""
            total = sum(n for _, n in vecs)
            with memoryview(data) as view:
                chunk = view[entry.pos:entry.pos + total]
                entry.pos += len(chunk)
                self._scatter(mem, vecs, chunk)
                return len(chunk)
        host = entry.sock.fileno() if entry.sock is not None else entry.host
        if host < 0:
            raise WasiErrno(Errno.BADF)
        view = memoryview(mem.data)
        bufs = [view[buf:buf + n] for buf, n in vecs]
        try:
            return os.readv(host, bufs) if offset is None else os.preadv(host, bufs, offset)
        finally:
            for b in bufs:
                b.release()
            view.release()

    def fd_write(self, mem, fd: int, iovs: int, iovs_len: int, nwritten_ptr: int) -> int:
        """Write the ciovecs at the current position (or end, in append mode)."""
        entry = self._get(fd, R.FD_WRITE, file=True)
        vecs = self._iovecs(mem, iovs, iovs_len)
        self._out(mem, nwritten_ptr, 4)
        U32.pack_into(mem.data, nwritten_ptr, self._writev(entry, mem, vecs, None))
        return Errno.SUCCESS

    def fd_pwrite(self, mem, fd: int, iovs: int, iovs_len: int, offset: int, nwritten_ptr: int) -> int:
        """Write at ``offset`` without moving the file position."""
        entry = self._get(fd, file=True)
        if entry.kind != FILE:
            return Errno.SPIPE
        if entry.base & (R.FD_WRITE | R.FD_SEEK) != R.FD_WRITE | R.FD_SEEK:
            return Errno.NOTCAPABLE
        if offset > _I64_MAX:
            return Errno.INVAL
        vecs = self._iovecs(mem, iovs, iovs_len)
        self._out(mem, nwritten_ptr, 4)
        U32.pack_into(mem.data, nwritten_ptr, self._writev(entry, mem, vecs, offset))
        return Errno.SUCCESS

    def _writev(self, entry: FdEntry, mem, vecs, offset) -> int:
        if not vecs:
            return 0
        if entry.kind == STREAM_OUT and entry.host < 0:
            sink = entry.sink
            if sink is not None:
                chunks = self._chunks(mem, vecs)
                try:
                    for data in chunks:
                        try:
                            sink(data)
                        except Exception as exc:
                            raise _Propagate(exc) from None
                finally:
                    chunks.close()      # releases its view of guest memory at once
            return sum(n for _, n in vecs)
        host = entry.sock.fileno() if entry.sock is not None else entry.host
        if host < 0:
            raise WasiErrno(Errno.BADF)
        if entry.kind == STREAM_OUT:
            # Host stdout/stderr: write everything, as a terminal user expects, straight from
            # guest memory: one writev, then the rest of a partial write piece by piece.
            view = memoryview(mem.data)
            try:
                done = os.writev(host, [view[buf:buf + n] for buf, n in vecs])
                for buf, n in vecs:
                    skip = min(done, n)
                    done -= skip
                    while skip < n:
                        skip += os.write(host, view[buf + skip:buf + n])
            finally:
                view.release()
            return sum(n for _, n in vecs)
        view = memoryview(mem.data)
        bufs = [view[buf:buf + n] for buf, n in vecs]
        try:
            return os.writev(host, bufs) if offset is None else os.pwritev(host, bufs, offset)
        finally:
            for b in bufs:
                b.release()
            view.release()

    def fd_seek(self, mem, fd: int, offset: int, whence: int, newoffset_ptr: int) -> int:
        """Move the file position; write the new position to ``newoffset_ptr``."""
        entry = self._get(fd)
        if entry.kind != FILE:
            return Errno.BADF if entry.kind == DIR else Errno.SPIPE
        if whence > abi.WHENCE_END:
            return Errno.INVAL
        if offset >= 1 << 63:
            offset -= 1 << 64       # $filedelta is signed
        # The fd_tell right suffices for a seek that leaves the position unchanged.
        needed = R.FD_TELL | R.FD_SEEK if whence == abi.WHENCE_CUR and offset == 0 else R.FD_SEEK
        if not entry.base & needed:
            return Errno.NOTCAPABLE
        self._out(mem, newoffset_ptr, 8)
        pos = os.lseek(entry.host, offset, (os.SEEK_SET, os.SEEK_CUR, os.SEEK_END)[whence])
        U64.pack_into(mem.data, newoffset_ptr, pos)
        return Errno.SUCCESS

    def fd_tell(self, mem, fd: int, offset_ptr: int) -> int:
        """Write the current file position."""
        entry = self._get(fd)
        if entry.kind != FILE:
            return Errno.BADF if entry.kind == DIR else Errno.SPIPE
        if not entry.base & (R.FD_TELL | R.FD_SEEK):
            return Errno.NOTCAPABLE
        self._out(mem, offset_ptr, 8)
        U64.pack_into(mem.data, offset_ptr, os.lseek(entry.host, 0, os.SEEK_CUR))
        return Errno.SUCCESS

    def fd_renumber(self, mem, fd: int, to: int) -> int:
        """Move descriptor ``fd`` to number ``to``, closing what ``to`` held (both must be open)."""
        fds = self.fds
        if fd not in fds or to not in fds:
            return Errno.BADF
        if fd != to:
            fds[to].close()
            fds[to] = fds.pop(fd)
        return Errno.SUCCESS

    def fd_readdir(self, mem, fd: int, buf: int, buf_len: int, cookie: int, bufused_ptr: int) -> int:
        """Fill ``buf`` with ``$dirent`` headers and names from entry ``cookie`` on.

        A cookie is an index into the listing taken when reading starts (cookie 0), so it
        stays valid across calls; the last entry may be cut off, which tells the guest the
        buffer was too small (a full buffer means "call again")."""
        entry = self._get(fd)
        if entry.kind != DIR:
            return Errno.NOTDIR
        if not entry.base & R.FD_READDIR:
            return Errno.NOTCAPABLE
        self._out(mem, buf, buf_len)
        self._out(mem, bufused_ptr, 4)
        if cookie == 0 or entry.dirents is None:
            refuse_cache_dir(entry.host)
            entry.dirents = self._listdir(entry.host)
        entries = entry.dirents
        out = bytearray()
        index = cookie
        while index < len(entries) and len(out) < buf_len:
            name, ino, ftype = entries[index]
            index += 1
            out += DIRENT.pack(index, ino, len(name), ftype)
            out += name
        del out[buf_len:]
        mem.data[buf:buf + len(out)] = out
        U32.pack_into(mem.data, bufused_ptr, len(out))
        return Errno.SUCCESS

    @staticmethod
    def _listdir(host: int) -> list:
        # "." and ".." are listed as POSIX does; both carry the directory's own inode so that
        # nothing above a capability's directory is ever looked at.
        ino = os.fstat(host).st_ino
        entries = [(b".", ino, Filetype.DIRECTORY), (b"..", ino, Filetype.DIRECTORY)]
        with os.scandir(host) as it:
            for d in it:
                if d.is_symlink():
                    ftype = Filetype.SYMBOLIC_LINK
                elif d.is_dir(follow_symlinks=False):
                    ftype = Filetype.DIRECTORY
                elif d.is_file(follow_symlinks=False):
                    ftype = Filetype.REGULAR_FILE
                else:
                    try:
                        ftype = _filetype_of_mode(d.stat(follow_symlinks=False).st_mode)
                    except OSError:
                        ftype = Filetype.UNKNOWN
                entries.append((os.fsencode(d.name), d.inode(), ftype))
        return entries

    # -- paths ------------------------------------------------------------------------------
    def path_create_directory(self, mem, fd: int, path: int, path_len: int) -> int:
        """Create a directory."""
        entry = self._dir(fd, R.PATH_CREATE_DIRECTORY)
        with resolve(entry.host, self._path(mem, path, path_len), False) as r:
            os.mkdir(r.name, 0o777, dir_fd=r.dirfd)
        return Errno.SUCCESS

    def path_filestat_get(self, mem, fd: int, flags: int, path: int, path_len: int, buf: int) -> int:
        """Write the attributes of the file at ``path`` (following a final symlink if asked)."""
        entry = self._dir(fd, R.PATH_FILESTAT_GET)
        p = self._path(mem, path, path_len)
        self._out(mem, buf, FILESTAT.size)
        with resolve(entry.host, p, bool(flags & abi.LOOKUP_SYMLINK_FOLLOW)) as r:
            st = os.stat(r.name, dir_fd=r.dirfd, follow_symlinks=False)
            if r.must_dir and not _stat.S_ISDIR(st.st_mode):
                return Errno.NOTDIR
        FILESTAT.pack_into(mem.data, buf, st.st_dev, st.st_ino, _filetype_of_mode(st.st_mode), st.st_nlink,
                           st.st_size, st.st_atime_ns, st.st_mtime_ns, st.st_ctime_ns)
        return Errno.SUCCESS

    def path_filestat_set_times(self, mem, fd: int, flags: int, path: int, path_len: int,
                                atim: int, mtim: int, fst_flags: int) -> int:
        """Set the access and/or modification time of the file at ``path``."""
        entry = self._dir(fd, R.PATH_FILESTAT_SET_TIMES)
        p = self._path(mem, path, path_len)
        with resolve(entry.host, p, bool(flags & abi.LOOKUP_SYMLINK_FOLLOW)) as r:
            st = os.stat(r.name, dir_fd=r.dirfd, follow_symlinks=False)
            if r.must_dir and not _stat.S_ISDIR(st.st_mode):
                return Errno.NOTDIR
            times = self._times(atim, mtim, fst_flags, lambda: st)
            if fst_flags:
                os.utime(r.name, ns=times, dir_fd=r.dirfd, follow_symlinks=False)
        return Errno.SUCCESS

    def path_link(self, mem, old_fd: int, old_flags: int, old_path: int, old_path_len: int,
                  new_fd: int, new_path: int, new_path_len: int) -> int:
        """Create a hard link ``new_path`` (below ``new_fd``) to ``old_path`` (below ``old_fd``)."""
        old = self._dir(old_fd, R.PATH_LINK_SOURCE)
        new = self._dir(new_fd, R.PATH_LINK_TARGET)
        op = self._path(mem, old_path, old_path_len)
        np_ = self._path(mem, new_path, new_path_len)
        with resolve(old.host, op, bool(old_flags & abi.LOOKUP_SYMLINK_FOLLOW)) as src, \
                resolve(new.host, np_, False) as dst:
            if src.must_dir:
                _require_dir(src)
            if dst.must_dir and not _is_dir(src):
                # POSIX: a new name with a trailing slash can only name a directory.
                return Errno.EXIST if _lexists(dst) else Errno.NOENT
            os.link(src.name, dst.name, src_dir_fd=src.dirfd, dst_dir_fd=dst.dirfd, follow_symlinks=False)
        return Errno.SUCCESS

    def path_open(self, mem, fd: int, dirflags: int, path: int, path_len: int, oflags: int,
                  rights_base: int, rights_inheriting: int, fdflags: int, fd_ptr: int) -> int:
        """Open the file or directory at ``path``; write the new descriptor to ``fd_ptr``.

        The new descriptor's rights are those asked for, narrowed to the directory's
        inheriting rights and to what makes sense for the file's type.  ``creat`` needs
        ``path_create_file`` and ``trunc`` needs ``path_filestat_set_size`` on the directory;
        the synchronisation fdflags need no right (as in wasmtime).  Asking to write
        (``fd_write``, ``fd_allocate`` or ``fd_filestat_set_size``) what turns out to be a
        directory is ``EISDIR``, as in POSIX."""
        entry = self._dir(fd, R.PATH_OPEN)
        p = self._path(mem, path, path_len)
        if oflags & ~abi.OFLAGS_ALL or fdflags & ~abi.FDFLAGS_ALL:
            return Errno.INVAL
        if oflags & abi.OFLAG_CREAT and oflags & abi.OFLAG_DIRECTORY:
            return Errno.INVAL
        needed = 0
        if oflags & abi.OFLAG_CREAT:
            needed |= R.PATH_CREATE_FILE
        if oflags & abi.OFLAG_TRUNC:
            needed |= R.PATH_FILESTAT_SET_SIZE
        if entry.base & needed != needed:
            return Errno.NOTCAPABLE
        self._out(mem, fd_ptr, 4)
        if len(self.fds) >= MAX_FDS:
            return Errno.MFILE
        base = rights_base & entry.inheriting
        inheriting = rights_inheriting & entry.inheriting

        flags = _NOFOLLOW
        write = base & (R.FD_WRITE | R.FD_ALLOCATE | R.FD_FILESTAT_SET_SIZE)
        read = base & (R.FD_READ | R.FD_READDIR)
        flags |= os.O_RDWR if read and write else os.O_WRONLY if write else os.O_RDONLY
        if oflags & abi.OFLAG_CREAT:
            flags |= os.O_CREAT
        if oflags & abi.OFLAG_EXCL:
            flags |= os.O_EXCL
        if oflags & abi.OFLAG_TRUNC:
            flags |= os.O_TRUNC
        if oflags & abi.OFLAG_DIRECTORY:
            flags |= os.O_DIRECTORY
        if fdflags & abi.FDFLAG_APPEND:
            flags |= os.O_APPEND
        if fdflags & abi.FDFLAG_NONBLOCK:
            flags |= os.O_NONBLOCK
        if fdflags & abi.FDFLAG_DSYNC:
            flags |= os.O_DSYNC
        if fdflags & abi.FDFLAG_RSYNC:
            flags |= os.O_RSYNC
        if fdflags & abi.FDFLAG_SYNC:
            flags |= os.O_SYNC
        # POSIX: O_CREAT|O_EXCL fails on an existing symlink, dangling or not, so never follow it.
        follow = bool(dirflags & abi.LOOKUP_SYMLINK_FOLLOW) and not (
            oflags & abi.OFLAG_CREAT and oflags & abi.OFLAG_EXCL)
        with resolve(entry.host, p, follow) as r:
            if r.must_dir:
                flags |= os.O_DIRECTORY
            host = os.open(r.name, flags, 0o666, dir_fd=r.dirfd)
        try:
            ftype = _filetype_of_mode(os.fstat(host).st_mode)
        except OSError:
            os.close(host)
            raise
        if ftype == Filetype.DIRECTORY:
            new = FdEntry(DIR, host, ftype, base & abi.DIR_RIGHTS, inheriting, fdflags)
        else:
            new = FdEntry(FILE, host, ftype, base & abi.FILE_RIGHTS, 0, fdflags)
        U32.pack_into(mem.data, fd_ptr, self._add(new))
        return Errno.SUCCESS

    def path_readlink(self, mem, fd: int, path: int, path_len: int, buf: int, buf_len: int,
                      bufused_ptr: int) -> int:
        """Write the target of the symbolic link at ``path`` (cut to ``buf_len`` bytes)."""
        entry = self._dir(fd, R.PATH_READLINK)
        p = self._path(mem, path, path_len)
        self._out(mem, buf, buf_len)
        self._out(mem, bufused_ptr, 4)
        with resolve(entry.host, p, False) as r:
            target = os.fsencode(os.readlink(r.name, dir_fd=r.dirfd))[:buf_len]
        mem.data[buf:buf + len(target)] = target
        U32.pack_into(mem.data, bufused_ptr, len(target))
        return Errno.SUCCESS

    def path_remove_directory(self, mem, fd: int, path: int, path_len: int) -> int:
        """Remove an empty directory."""
        entry = self._dir(fd, R.PATH_REMOVE_DIRECTORY)
        with resolve(entry.host, self._path(mem, path, path_len), False) as r:
            os.rmdir(r.name, dir_fd=r.dirfd)
        return Errno.SUCCESS

    def path_rename(self, mem, fd: int, old_path: int, old_path_len: int, new_fd: int,
                    new_path: int, new_path_len: int) -> int:
        """Rename ``old_path`` (below ``fd``) to ``new_path`` (below ``new_fd``)."""
        old = self._dir(fd, R.PATH_RENAME_SOURCE)
        new = self._dir(new_fd, R.PATH_RENAME_TARGET)
        op = self._path(mem, old_path, old_path_len)
        np_ = self._path(mem, new_path, new_path_len)
        with resolve(old.host, op, False, moving=True) as src, resolve(new.host, np_, False) as dst:
            if src.must_dir or dst.must_dir:
                _require_dir(src)
            os.rename(src.name, dst.name, src_dir_fd=src.dirfd, dst_dir_fd=dst.dirfd)
        return Errno.SUCCESS

    def path_symlink(self, mem, old_path: int, old_path_len: int, fd: int, new_path: int,
                     new_path_len: int) -> int:
        """Create the symbolic link ``new_path`` containing ``old_path``.

        An absolute target is refused (``EPERM``): it could never resolve inside a sandbox."""
        entry = self._dir(fd, R.PATH_SYMLINK)
        target = self._path(mem, old_path, old_path_len)
        np_ = self._path(mem, new_path, new_path_len)
        if not target:
            return Errno.NOENT
        if target[0] == "/":
            return Errno.PERM
        with resolve(entry.host, np_, False) as r:
            if r.must_dir:
                return Errno.EXIST if _lexists(r) else Errno.NOENT
            os.symlink(target, r.name, dir_fd=r.dirfd)
        return Errno.SUCCESS

    def path_unlink_file(self, mem, fd: int, path: int, path_len: int) -> int:
        """Remove a file (or a symbolic link itself)."""
        entry = self._dir(fd, R.PATH_UNLINK_FILE)
        with resolve(entry.host, self._path(mem, path, path_len), False) as r:
            if r.must_dir:
                st = os.stat(r.name, dir_fd=r.dirfd, follow_symlinks=False)
                return Errno.ISDIR if _stat.S_ISDIR(st.st_mode) else Errno.NOTDIR
            os.unlink(r.name, dir_fd=r.dirfd)
        return Errno.SUCCESS

    # -- poll -------------------------------------------------------------------------------
    def poll_oneoff(self, mem, in_ptr: int, out_ptr: int, nsubscriptions: int, nevents_ptr: int) -> int:
        """Wait until a subscribed clock expires or a subscribed descriptor is ready.

        Regular files and in-process streams are always ready; host pipes, terminals and
        sockets are waited on with ``poll``.  Clock subscriptions on the CPU-time clocks are
        reported with ``ENOTSUP``."""
        if nsubscriptions == 0:
            return Errno.INVAL
        if in_ptr + abi.SUBSCRIPTION_SIZE * nsubscriptions > mem.size \
                or out_ptr + EVENT.size * nsubscriptions > mem.size or nevents_ptr + 4 > mem.size:
            return Errno.FAULT
        if nsubscriptions > MAX_SUBSCRIPTIONS:
            return Errno.INVAL
        data = mem.data
        ready = []          # (userdata, errno, type, nbytes, flags)
        clocks = []         # (deadline in monotonic ns, userdata)
        waits = []          # (host fd, type, userdata)
        now = time.monotonic_ns()
        for i in range(nsubscriptions):
            sub = in_ptr + abi.SUBSCRIPTION_SIZE * i
            userdata, tag = SUB_HEAD.unpack_from(data, sub)
            if tag == abi.EVENT_CLOCK:
                clock_id, timeout, _precision, cflags = SUB_CLOCK.unpack_from(data, sub + 16)
                if clock_id > 3 or cflags & ~abi.SUBSCRIPTION_CLOCK_ABSTIME:
                    ready.append((userdata, Errno.INVAL, tag, 0, 0))
                elif clock_id > 1:
                    ready.append((userdata, Errno.NOTSUP, tag, 0, 0))
                else:
                    if cflags & abi.SUBSCRIPTION_CLOCK_ABSTIME:
                        timeout = max(0, timeout - _CLOCK_NOW[clock_id]())
                    clocks.append((now + timeout, userdata))
            elif tag in (abi.EVENT_FD_READ, abi.EVENT_FD_WRITE):
                (fd,) = SUB_FD.unpack_from(data, sub + 16)
                self._poll_fd(fd, tag, userdata, ready, waits)
            else:
                ready.append((userdata, Errno.INVAL, tag, 0, 0))
        # Wait only when nothing is ready yet; host descriptors are polled either way, so that
        # every subscription ready now is reported.
        if ready:
            timeout_ms = 0
        elif clocks:
            deadline = min(d for d, _ in clocks)
            timeout_ms = -(-max(0, deadline - time.monotonic_ns()) // 1_000_000)   # round up
        else:
            timeout_ms = None       # only descriptors: wait for one
        # An embedder's interrupts of this thread (runtime/interrupts.py: the asyncio host
        # cancelling the call) wake the wait too, and their checks then abort it.
        watch = interrupts()
        if waits or (watch and timeout_ms != 0):
            masks: dict = {}
            for host, tag, _ in waits:
                masks[host] = masks.get(host, 0) | (select.POLLIN if tag == abi.EVENT_FD_READ else select.POLLOUT)
            for host in watch:
                masks[host] = masks.get(host, 0) | select.POLLIN
            poller = select.poll()
            for host, mask in masks.items():
                poller.register(host, mask)
            revents = dict(poller.poll(timeout_ms))
            for check in watch.values():
                check()
            for host, tag, userdata in waits:
                ev = revents.get(host, 0)
                want = select.POLLIN if tag == abi.EVENT_FD_READ else select.POLLOUT
                if ev & (want | select.POLLHUP | select.POLLERR):
                    hup = abi.EVENT_FD_READWRITE_HANGUP if ev & select.POLLHUP else 0
                    ready.append((userdata, Errno.SUCCESS, tag, _pending_bytes(host, tag), hup))
        elif timeout_ms:
            _sleep_until(deadline)
        done = time.monotonic_ns()
        for deadline, userdata in clocks:
            if deadline <= done:
                ready.append((userdata, Errno.SUCCESS, abi.EVENT_CLOCK, 0, 0))
        for i, event in enumerate(ready):
            EVENT.pack_into(data, out_ptr + EVENT.size * i, *event)
        U32.pack_into(data, nevents_ptr, len(ready))
        return Errno.SUCCESS

    def _poll_fd(self, fd: int, tag: int, userdata: int, ready: list, waits: list) -> None:
        entry = self.fds.get(fd)
        if entry is None:
            ready.append((userdata, Errno.BADF, tag, 0, 0))
            return
        need = R.POLL_FD_READWRITE | (R.FD_READ if tag == abi.EVENT_FD_READ else R.FD_WRITE)
        if entry.base & need != need:
            ready.append((userdata, Errno.NOTCAPABLE, tag, 0, 0))
            return
        if entry.kind == FILE and entry.filetype == Filetype.REGULAR_FILE:
            nbytes = 0
            if tag == abi.EVENT_FD_READ:
                nbytes = max(0, os.fstat(entry.host).st_size - os.lseek(entry.host, 0, os.SEEK_CUR))
            ready.append((userdata, Errno.SUCCESS, tag, nbytes, 0))
        elif entry.sock is not None:
            waits.append((entry.sock.fileno(), tag, userdata))
        elif entry.host >= 0:
            waits.append((entry.host, tag, userdata))
        else:
            nbytes = len(entry.data or b"") - entry.pos if entry.kind == STREAM_IN else 0
            ready.append((userdata, Errno.SUCCESS, tag, nbytes, 0))

    # -- sockets ----------------------------------------------------------------------------
    def _sock(self, fd: int, rights: int) -> FdEntry:
        entry = self.fds.get(fd)
        if entry is None:
            raise WasiErrno(Errno.BADF)
        if entry.sock is None:
            raise WasiErrno(Errno.NOTSOCK)
        if entry.base & rights != rights:
            raise WasiErrno(Errno.NOTCAPABLE)
        return entry

    def sock_accept(self, mem, fd: int, flags: int, fd_ptr: int) -> int:
        """Accept a connection on a preopened listening socket; write the new descriptor."""
        entry = self._sock(fd, R.SOCK_ACCEPT)
        if flags & ~abi.FDFLAG_NONBLOCK:
            return Errno.INVAL
        self._out(mem, fd_ptr, 4)
        if len(self.fds) >= MAX_FDS:
            return Errno.MFILE
        conn, _addr = entry.sock.accept()
        conn.setblocking(not flags & abi.FDFLAG_NONBLOCK)
        new = self._socket_entry(conn)
        new.flags = flags
        U32.pack_into(mem.data, fd_ptr, self._add(new))
        return Errno.SUCCESS

    def sock_recv(self, mem, fd: int, ri_data: int, ri_data_len: int, ri_flags: int,
                  ro_datalen_ptr: int, ro_flags_ptr: int) -> int:
        """Receive into the iovecs (``recv_peek`` and ``recv_waitall`` honoured)."""
        import socket as _socket  # start-up speed: the embedder that made the socket loaded it
        entry = self._sock(fd, R.FD_READ)
        if ri_flags & ~(abi.RIFLAG_RECV_PEEK | abi.RIFLAG_RECV_WAITALL):
            return Errno.INVAL
        vecs = self._iovecs(mem, ri_data, ri_data_len)
        self._out(mem, ro_datalen_ptr, 4)
        self._out(mem, ro_flags_ptr, 2)
        flags = (_socket.MSG_PEEK if ri_flags & abi.RIFLAG_RECV_PEEK else 0) \
            | (_socket.MSG_WAITALL if ri_flags & abi.RIFLAG_RECV_WAITALL else 0)
        view = memoryview(mem.data)
        bufs = [view[buf:buf + n] for buf, n in vecs]
        try:
            n, _anc, msg_flags, _addr = entry.sock.recvmsg_into(bufs, 0, flags) if bufs else (0, 0, 0, 0)
        finally:
            for b in bufs:
                b.release()
            view.release()
        U32.pack_into(mem.data, ro_datalen_ptr, n)
        mem.data[ro_flags_ptr:ro_flags_ptr + 2] = (
            abi.ROFLAG_RECV_DATA_TRUNCATED if msg_flags & _socket.MSG_TRUNC else 0).to_bytes(2, "little")
        return Errno.SUCCESS

    def sock_send(self, mem, fd: int, si_data: int, si_data_len: int, si_flags: int,
                  so_datalen_ptr: int) -> int:
        """Send the ciovecs (``si_flags`` must be 0)."""
        entry = self._sock(fd, R.FD_WRITE)
        if si_flags:
            return Errno.INVAL
        vecs = self._iovecs(mem, si_data, si_data_len)
        self._out(mem, so_datalen_ptr, 4)
        view = memoryview(mem.data)
        bufs = [view[buf:buf + n] for buf, n in vecs]
        try:
            n = entry.sock.sendmsg(bufs) if bufs else 0
        finally:
            for b in bufs:
                b.release()
            view.release()
        U32.pack_into(mem.data, so_datalen_ptr, n)
        return Errno.SUCCESS

    def sock_shutdown(self, mem, fd: int, how: int) -> int:
        """Shut down the receiving (``rd``) and/or sending (``wr``) side of a connection."""
        import socket as _socket  # start-up speed: the embedder that made the socket loaded it
        entry = self._sock(fd, R.SOCK_SHUTDOWN)
        if how not in (abi.SDFLAG_RD, abi.SDFLAG_WR, abi.SDFLAG_RD | abi.SDFLAG_WR):
            return Errno.INVAL
        shut = {abi.SDFLAG_RD: _socket.SHUT_RD, abi.SDFLAG_WR: _socket.SHUT_WR}.get(how, _socket.SHUT_RDWR)
        entry.sock.shutdown(shut)
        return Errno.SUCCESS


def _is_dir(r: Resolved) -> bool:
    return _stat.S_ISDIR(os.stat(r.name, dir_fd=r.dirfd, follow_symlinks=False).st_mode)


def _require_dir(r: Resolved) -> None:
    """A path with a trailing slash must name a directory (``ENOTDIR`` otherwise)."""
    if not _is_dir(r):
        raise WasiErrno(Errno.NOTDIR)


def _lexists(r: Resolved) -> bool:
    try:
        os.stat(r.name, dir_fd=r.dirfd, follow_symlinks=False)
    except OSError:
        return False
    return True


def _pending_bytes(host: int, tag: int) -> int:
    """Bytes readable without blocking on a host descriptor select() reported ready (0 if unknown)."""
    if tag != abi.EVENT_FD_READ:
        return 0
    try:
        return int.from_bytes(fcntl.ioctl(host, termios.FIONREAD, b"\0\0\0\0"), "little")
    except OSError:
        return 0


def _errno_wrapper(method):
    """Turn a method that raises :class:`WasiErrno` / ``OSError`` into one returning the errno."""

    def fn(mem, *args):
        try:
            return method(mem, *args)
        except WasiErrno as exc:
            return exc.errno
        except OSError as exc:
            return abi.errno_of(exc)
        except _Propagate as p:
            raise p.exc from None

    fn.__name__ = method.__name__
    fn.__doc__ = method.__doc__
    return fn
