"""``wasi:filesystem``: descriptors, directory streams and file streams over preview1's sandbox.

Every path a guest gives is resolved by :func:`wasmforge.wasi.paths.resolve`, the same
capability-safe walk preview1 uses (component by component below a directory descriptor the
guest holds, ``..`` never above it, symbolic links expanded inside the sandbox, absolute
paths and links to them refused, the compile cache out of reach); this module adds no second
resolver.  A descriptor carries the permissions of the preopen it descends from, as
wasmtime's does: ``DirPerms.READ_ONLY`` (no ``mutate``) refuses creating, changing, renaming
and removing with ``not-permitted``, ``FilePerms.READ_ONLY`` refuses opening files for
writing.  Errors are the WIT's ``error-code`` names, mapped from the host's errno with
wasmtime's table (an errno it does not list is ``io``).  See docs/wasi.md, "wasi:filesystem
(WASI 0.2)".
"""

from __future__ import annotations

import errno as _errno
import hashlib
import os
import stat as _stat
import time
import weakref
from typing import Any, Callable, Dict, Iterator, List, Optional, Set, Tuple

from ..cm.abi.resources import Resource
from ..cm.abi.values import Record, Variant
from ..cm import types as ct
from ..wasi.abi import Errno, Rights
from ..wasi.ctx import _is_dir, _lexists
from ..wasi.paths import Resolved, WasiErrno, refuse_cache_dir, resolve
from . import io
from ._wit import interface
from .ctx import P2Ctx

Impl = Dict[str, Callable[..., Any]]

#: the longest path a guest may pass (Linux's PATH_MAX, preview1's limit)
MAX_PATH = 4096
#: files and directories one store may hold open at once through ``open-at`` (as preview1's
#: descriptor table), so a guest cannot exhaust the host's descriptors
MAX_OPEN = 1024
#: the most bytes one ``read`` returns
MAX_READ = 1 << 20

_I64_MAX = (1 << 63) - 1

#: host errno -> error-code, wasmtime's table (crates/wasi, ``from_raw_os_error``)
_HOST_ERRNO: Dict[int, str] = {
    _errno.EPIPE: "pipe", _errno.EPERM: "not-permitted", _errno.ENOENT: "no-entry",
    _errno.ENOMEM: "insufficient-memory", _errno.EIO: "io", _errno.EBADF: "bad-descriptor",
    _errno.EBUSY: "busy", _errno.EACCES: "access", _errno.ENOTDIR: "not-directory",
    _errno.EISDIR: "is-directory", _errno.EINVAL: "invalid", _errno.EEXIST: "exist",
    _errno.EFBIG: "file-too-large", _errno.ENOSPC: "insufficient-space", _errno.ESPIPE: "invalid-seek",
    _errno.EMLINK: "too-many-links", _errno.ENAMETOOLONG: "name-too-long", _errno.ENOTEMPTY: "not-empty",
    _errno.ELOOP: "loop", _errno.EOVERFLOW: "overflow", _errno.EILSEQ: "illegal-byte-sequence",
    _errno.ENOTSUP: "unsupported", _errno.EOPNOTSUPP: "unsupported", _errno.EALREADY: "already",
    _errno.EINPROGRESS: "in-progress", _errno.EINTR: "interrupted",
}

#: preview1 errno (what the sandbox's resolver raises) -> error-code
_P1_ERRNO: Dict[int, str] = {
    Errno.PERM: "not-permitted", Errno.NOENT: "no-entry", Errno.ACCES: "access", Errno.LOOP: "loop",
    Errno.NOTDIR: "not-directory", Errno.ISDIR: "is-directory", Errno.INVAL: "invalid",
    Errno.EXIST: "exist", Errno.ILSEQ: "illegal-byte-sequence", Errno.NAMETOOLONG: "name-too-long",
    Errno.NOTCAPABLE: "not-permitted", Errno.BADF: "bad-descriptor",
}


def error_code_of_errno(errno: Optional[int]) -> str:
    """The ``error-code`` for a host errno (``io`` for one wasmtime's table lacks)."""
    return _HOST_ERRNO.get(errno or 0, "io")


class FsError(Exception):
    """Internal: a ``wasi:filesystem`` function fails with ``code`` (an error-code name)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


class HostFd:
    """A host descriptor shared by a guest descriptor and the streams made from it: closed
    when the last of them is gone (a preopen's belongs to the preview1 context: not closed)."""

    def __init__(self, fd: int, owned: bool) -> None:
        self.fd = fd
        self.owned = owned

    def close(self) -> None:
        fd, self.fd = self.fd, -1
        if self.owned and fd >= 0:
            os.close(fd)

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:       # already closed by the host, or the interpreter shutting down
            pass


class Descriptor:
    """A ``wasi:filesystem/types.descriptor``: an open file or directory below a preopen.

    ``mutate``: the preopen lets the guest change the directory tree (DirPerms);
    ``file_write``: files may be opened for writing (FilePerms); ``read``/``write``: the mode
    this descriptor was opened in (a directory's ``write`` is ``mutate-directory``)."""

    def __init__(self, host: HostFd, is_dir: bool, mutate: bool, file_write: bool,
                 read: bool, write: bool) -> None:
        self.host = host
        self.is_dir = is_dir
        self.mutate = mutate
        self.file_write = file_write
        self.read = read
        self.write = write

    @classmethod
    def preopen(cls, entry: Any) -> "Descriptor":
        """The descriptor of a preopened directory (a preview1 ``FdEntry``): its rights say
        whether the preopen is read-only (DirPerms) and its files read-only (FilePerms)."""
        mutate = bool(entry.base & Rights.PATH_CREATE_DIRECTORY)
        file_write = bool(entry.inheriting & Rights.FD_WRITE)
        return cls(HostFd(entry.host, False), True, mutate, file_write, True, mutate)

    @property
    def fd(self) -> int:
        return self.host.fd

    def file(self) -> "Descriptor":
        """This descriptor, which must be a file (``bad-descriptor`` for a directory)."""
        if self.is_dir:
            raise FsError("bad-descriptor")
        return self

    def writable_file(self) -> "Descriptor":
        """This descriptor, a file the guest may write (``not-permitted`` under a
        ``FilePerms.READ_ONLY`` preopen)."""
        self.file()
        if not self.file_write:
            raise FsError("not-permitted")
        return self

    def dir(self) -> "Descriptor":
        """This descriptor, which must be a directory (``not-directory`` for a file)."""
        if not self.is_dir:
            raise FsError("not-directory")
        return self

    def dir_mutable(self) -> "Descriptor":
        """This directory, whose tree the guest may change (``not-permitted`` if read-only)."""
        self.dir()
        if not self.mutate:
            raise FsError("not-permitted")
        return self


class DirectoryEntries:
    """A ``directory-entry-stream``: the entries of a directory (no ``.`` or ``..``), listed
    when ``read-directory`` is called."""

    def __init__(self, entries: Iterator[Tuple[bytes, str]]) -> None:
        self.entries = entries

    def next(self) -> Optional[Record]:
        entry = next(self.entries, None)
        if entry is None:
            return None
        raw, kind = entry
        try:
            name = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise FsError("illegal-byte-sequence") from None
        return Record(**{"type": kind, "name": name})


def _stream_failed(exc: OSError) -> io.StreamError:
    """A file stream's ``last-operation-failed`` (``filesystem-error-code`` maps its errno;
    unlike a pipe's, an EPIPE of a file is no end of stream)."""
    return io.StreamError(io.IoError(exc.strerror or str(exc), exc.errno))


class FileInput(io.InputStream):
    """``read-via-stream``: reads the file from an offset on, without moving any shared
    position; closed at the end of the file.  Always ready (a regular file never blocks)."""

    def __init__(self, host: HostFd, offset: int) -> None:
        self.host = host
        self.pos = offset

    def _read(self, n: int, blocking: bool) -> bytes:
        try:
            data = os.pread(self.host.fd, n, self.pos)
        except OSError as exc:
            raise _stream_failed(exc) from None
        if not data:
            raise io.StreamError()
        self.pos += len(data)
        return data


class FileOutput(io.OutputStream):
    """``write-via-stream`` (from an offset on) and ``append-via-stream`` (``offset`` None:
    each write at the end of the file).  Always ready, with the permit of a file."""

    def __init__(self, host: HostFd, offset: Optional[int]) -> None:
        self.host = host
        self.pos = offset

    def _write(self, data: bytes) -> None:
        fd = self.host.fd
        view = memoryview(data)
        try:
            while view:
                if self.pos is None:
                    n = _append(fd, view)
                else:
                    n = os.pwrite(fd, view, self.pos)
                    self.pos += n
                view = view[n:]
        except OSError as exc:
            raise _stream_failed(exc) from None


def _append(fd: int, data: memoryview) -> int:
    """Write at the end of the file whatever its open mode (``RWF_APPEND`` where Linux has it)."""
    flag = getattr(os, "RWF_APPEND", None)
    if flag is not None:
        try:
            return os.pwritev(fd, [data], -1, flag)
        except OSError as exc:
            if exc.errno not in (_errno.EOPNOTSUPP, _errno.EINVAL, _errno.ENOSYS):
                raise
    os.lseek(fd, 0, os.SEEK_END)
    return os.write(fd, data)


#: file type bits (``S_IFMT``) -> ``descriptor-type`` (preview1's filetype has no fifo and
#: says socket-stream: a table of its own)
_KINDS: Dict[int, str] = {
    _stat.S_IFREG: "regular-file", _stat.S_IFDIR: "directory", _stat.S_IFLNK: "symbolic-link",
    _stat.S_IFCHR: "character-device", _stat.S_IFBLK: "block-device", _stat.S_IFIFO: "fifo",
    _stat.S_IFSOCK: "socket",
}


def _kind(mode: int) -> str:
    """The ``descriptor-type`` of a file mode."""
    return _KINDS.get(_stat.S_IFMT(mode), "unknown")


def _datetime(ns: int) -> Record:
    return Record(seconds=ns // 1_000_000_000 % (1 << 64), nanoseconds=ns % 1_000_000_000)


def _stat_record(st: os.stat_result) -> Record:
    return Record(**{
        "type": _kind(st.st_mode), "link-count": st.st_nlink, "size": st.st_size,
        "data-access-timestamp": _datetime(st.st_atime_ns),
        "data-modification-timestamp": _datetime(st.st_mtime_ns),
        "status-change-timestamp": _datetime(st.st_ctime_ns),
    })


def _hash(st: os.stat_result) -> Record:
    """The ``metadata-hash-value`` of a file: a 128-bit hash of its identity (device, inode)."""
    digest = hashlib.blake2b(f"{st.st_dev}:{st.st_ino}".encode(), digest_size=16).digest()
    return Record(lower=int.from_bytes(digest[:8], "little"), upper=int.from_bytes(digest[8:], "little"))


def _path(path: str) -> str:
    """Check a guest path before any of it is walked."""
    if len(path.encode("utf-8", "surrogatepass")) >= MAX_PATH:
        raise FsError("name-too-long")
    if "\0" in path:
        raise FsError("invalid")
    return path


def _follow(path_flags: Any) -> bool:
    return "symlink-follow" in (path_flags or ())


def _lstat(r: Resolved) -> os.stat_result:
    st = os.stat(r.name, dir_fd=r.dirfd, follow_symlinks=False)
    if r.must_dir and not _stat.S_ISDIR(st.st_mode):
        raise FsError("not-directory")
    return st


def _timestamp(ts: Any, current: Callable[[], int]) -> int:
    """The time in ns a ``new-timestamp`` asks for (``current()`` for ``no-change``)."""
    tag = _tag(ts)
    if tag == "no-change":
        return current()
    if tag == "now":
        return time.time_ns()
    dt = ts.payload
    ns = int(dt.seconds) * 1_000_000_000 + int(dt.nanoseconds)
    if ns > _I64_MAX:
        raise FsError("overflow")
    return ns


def _times(atim: Any, mtim: Any, st: Callable[[], os.stat_result]) -> Optional[Tuple[int, int]]:
    """(atime, mtime) in ns for os.utime, None when neither changes."""
    if _tag(atim) == "no-change" and _tag(mtim) == "no-change":
        return None
    return (_timestamp(atim, lambda: st().st_atime_ns), _timestamp(mtim, lambda: st().st_mtime_ns))


def _tag(v: Any) -> Any:
    return v.tag if isinstance(v, Variant) else v


_ADVICE = {"normal": os.POSIX_FADV_NORMAL, "sequential": os.POSIX_FADV_SEQUENTIAL,
           "random": os.POSIX_FADV_RANDOM, "will-need": os.POSIX_FADV_WILLNEED,
           "dont-need": os.POSIX_FADV_DONTNEED, "no-reuse": os.POSIX_FADV_NOREUSE}


class _Open:
    """How many descriptors a store holds open through ``open-at``."""

    def __init__(self) -> None:
        self.count = 0


_OPEN: "weakref.WeakKeyDictionary[P2Ctx, _Open]" = weakref.WeakKeyDictionary()


class _Counted(HostFd):
    def __init__(self, fd: int, counter: _Open) -> None:
        super().__init__(fd, True)
        self.counter: Optional[_Open] = counter
        counter.count += 1

    def close(self) -> None:
        counter, self.counter = self.counter, None
        if counter is not None:
            counter.count -= 1
        super().close()


def _resource_type(ctx: P2Ctx, iface: str, name: str) -> ct.ResourceType:
    return ctx.resource_type(ctx.types.resource(interface(iface).types[name]))


def _guarded(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``ok(fn(...))``, or ``err(code)`` for an FsError, a sandbox refusal or a host OSError."""
    def call(*args: Any) -> Any:
        try:
            return Variant("ok", fn(*args))
        except FsError as exc:
            return Variant("err", exc.code)
        except WasiErrno as exc:
            return Variant("err", _P1_ERRNO.get(exc.errno, "io"))
        except OSError as exc:
            return Variant("err", error_code_of_errno(exc.errno))
    return call


def filesystem_preopens(ctx: P2Ctx) -> Impl:
    """``wasi:filesystem/preopens``: the store's preopened directories, in the order given."""
    rt = _resource_type(ctx, "wasi:filesystem/types", "descriptor")

    def get_directories() -> List[Tuple[Resource, str]]:
        out = []
        for entry in ctx.p1.fds.values():
            if entry.preopen is not None and entry.host >= 0:
                out.append((ctx.push(rt, Descriptor.preopen(entry)), entry.preopen.decode("utf-8", "replace")))
        return out
    return {"get-directories": get_directories}


def filesystem_types(ctx: P2Ctx) -> Impl:
    """``wasi:filesystem/types``: every method of ``descriptor`` and ``directory-entry-stream``,
    and ``filesystem-error-code``."""
    descriptor_rt = _resource_type(ctx, "wasi:filesystem/types", "descriptor")
    entries_rt = _resource_type(ctx, "wasi:filesystem/types", "directory-entry-stream")
    input_rt = _resource_type(ctx, "wasi:io/streams", "input-stream")
    output_rt = _resource_type(ctx, "wasi:io/streams", "output-stream")
    opened = _OPEN.setdefault(ctx, _Open())

    def desc(h: Resource) -> Descriptor:
        return ctx.get(h, Descriptor)

    # -- streams -------------------------------------------------------------------------
    # wasmtime 50's codes: reading a directory as a stream is is-directory, writing one
    # bad-descriptor; a file of a FilePerms.READ_ONLY preopen refuses write streams with
    # not-permitted
    def read_via_stream(h: Resource, offset: int) -> Resource:
        d = desc(h)
        if d.is_dir:
            raise FsError("is-directory")
        return ctx.push(input_rt, FileInput(d.host, offset))

    def write_via_stream(h: Resource, offset: int) -> Resource:
        f = desc(h).writable_file()
        return ctx.push(output_rt, FileOutput(f.host, offset))

    def append_via_stream(h: Resource) -> Resource:
        f = desc(h).writable_file()
        return ctx.push(output_rt, FileOutput(f.host, None))

    # -- the descriptor itself -----------------------------------------------------------
    def advise(h: Resource, offset: int, length: int, advice: str) -> None:
        f = desc(h).file()
        if offset > _I64_MAX or length > _I64_MAX:
            raise FsError("invalid")
        os.posix_fadvise(f.fd, offset, length, _ADVICE[advice])

    def sync_data(h: Resource) -> None:
        os.fdatasync(desc(h).fd)

    def sync(h: Resource) -> None:
        os.fsync(desc(h).fd)

    def get_flags(h: Resource) -> Set[str]:
        d = desc(h)
        flags = set()
        if d.read:
            flags.add("read")
        if d.write:
            flags.add("mutate-directory" if d.is_dir else "write")
        return flags

    def get_type(h: Resource) -> str:
        d = desc(h)
        return "directory" if d.is_dir else _kind(os.fstat(d.fd).st_mode)

    def set_size(h: Resource, size: int) -> None:
        f = desc(h).writable_file()
        if size > _I64_MAX:
            raise FsError("file-too-large")
        os.ftruncate(f.fd, size)

    def set_times(h: Resource, atim: Any, mtim: Any) -> None:
        d = desc(h)
        if not (d.mutate if d.is_dir else d.file_write):
            raise FsError("not-permitted")
        times = _times(atim, mtim, lambda: os.fstat(d.fd))
        if times is not None:
            os.utime(d.fd, ns=times)

    def read(h: Resource, length: int, offset: int) -> Tuple[bytes, bool]:
        f = desc(h).file()
        if offset > _I64_MAX:
            raise FsError("invalid")
        data = os.pread(f.fd, min(length, MAX_READ), offset)
        return data, not data

    def write(h: Resource, buffer: bytes, offset: int) -> int:
        f = desc(h).writable_file()
        if offset > _I64_MAX:
            raise FsError("invalid")
        return os.pwrite(f.fd, buffer, offset)

    def stat(h: Resource) -> Record:
        return _stat_record(os.fstat(desc(h).fd))

    def is_same_object(h: Resource, other: Resource) -> bool:
        a, b = os.fstat(desc(h).fd), os.fstat(desc(other).fd)
        return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)

    def metadata_hash(h: Resource) -> Record:
        return _hash(os.fstat(desc(h).fd))

    # -- directories -----------------------------------------------------------------------
    def read_directory(h: Resource) -> Resource:
        d = desc(h).dir()
        refuse_cache_dir(d.fd)
        listing: List[Tuple[bytes, str]] = []
        with os.scandir(d.fd) as it:
            for e in it:
                # the common kinds from the listing's own d_type, as preview1's _listdir:
                # a stat only for the rest
                if e.is_symlink():
                    kind = "symbolic-link"
                elif e.is_dir(follow_symlinks=False):
                    kind = "directory"
                elif e.is_file(follow_symlinks=False):
                    kind = "regular-file"
                else:
                    try:
                        kind = _kind(e.stat(follow_symlinks=False).st_mode)
                    except OSError:
                        continue        # gone since it was listed
                listing.append((os.fsencode(e.name), kind))
        return ctx.push(entries_rt, DirectoryEntries(iter(listing)))

    def read_directory_entry(h: Resource) -> Optional[Record]:
        return ctx.get(h, DirectoryEntries).next()

    def create_directory_at(h: Resource, path: str) -> None:
        d = desc(h).dir_mutable()
        with resolve(d.fd, _path(path), False) as r:
            os.mkdir(r.name, 0o777, dir_fd=r.dirfd)

    def stat_at(h: Resource, path_flags: Any, path: str) -> Record:
        d = desc(h).dir()
        with resolve(d.fd, _path(path), _follow(path_flags)) as r:
            return _stat_record(_lstat(r))

    def set_times_at(h: Resource, path_flags: Any, path: str, atim: Any, mtim: Any) -> None:
        d = desc(h).dir_mutable()
        with resolve(d.fd, _path(path), _follow(path_flags)) as r:
            st = _lstat(r)
            times = _times(atim, mtim, lambda: st)
            if times is not None:
                os.utime(r.name, ns=times, dir_fd=r.dirfd, follow_symlinks=False)

    def link_at(h: Resource, old_flags: Any, old_path: str, new: Resource, new_path: str) -> None:
        old_d = desc(h).dir_mutable()
        new_d = desc(new).dir_mutable()
        if _follow(old_flags):
            raise FsError("invalid")
        with resolve(old_d.fd, _path(old_path), False) as src, resolve(new_d.fd, _path(new_path), False) as dst:
            if src.must_dir and not _is_dir(src):
                raise FsError("not-directory")
            if dst.must_dir and not _is_dir(src):
                raise FsError("exist" if _lexists(dst) else "no-entry")
            os.link(src.name, dst.name, src_dir_fd=src.dirfd, dst_dir_fd=dst.dirfd, follow_symlinks=False)

    def open_at(h: Resource, path_flags: Any, path: str, open_flags: Any, flags: Any) -> Resource:
        d = desc(h).dir()
        oflags: Set[str] = set(open_flags or ())
        dflags: Set[str] = set(flags or ())
        create, truncate = "create" in oflags, "truncate" in oflags
        if not d.mutate and (create or truncate or "write" in dflags):
            raise FsError("not-permitted")
        if dflags & {"file-integrity-sync", "data-integrity-sync", "requested-write-sync"}:
            raise FsError("unsupported")
        if "directory" in oflags and (create or truncate or "exclusive" in oflags):
            raise FsError("invalid")
        write = create or truncate or "write" in dflags
        read = "read" in dflags or "write" not in dflags
        if write and not d.file_write:
            raise FsError("not-permitted")
        mode = os.O_RDWR if read and write else os.O_WRONLY if write else os.O_RDONLY
        mode |= os.O_NOFOLLOW | os.O_CLOEXEC
        if create:
            mode |= os.O_CREAT | (os.O_EXCL if "exclusive" in oflags else 0)
        if truncate:
            mode |= os.O_TRUNC
        if "directory" in oflags:
            mode |= os.O_DIRECTORY
        if opened.count >= MAX_OPEN:
            raise FsError("insufficient-memory")
        # O_CREAT|O_EXCL fails on an existing symbolic link, dangling or not: never follow it
        follow = _follow(path_flags) and not (create and "exclusive" in oflags)
        with resolve(d.fd, _path(path), follow) as r:
            if r.must_dir:
                mode |= os.O_DIRECTORY
            fd = os.open(r.name, mode | os.O_NONBLOCK, 0o666, dir_fd=r.dirfd)
        host = _Counted(fd, opened)
        is_dir = _stat.S_ISDIR(os.fstat(fd).st_mode)
        if is_dir:
            refuse_cache_dir(fd)
        return ctx.push(descriptor_rt, Descriptor(host, is_dir, d.mutate, d.file_write, read, write))

    def readlink_at(h: Resource, path: str) -> str:
        d = desc(h).dir()
        with resolve(d.fd, _path(path), False) as r:
            target = os.readlink(r.name, dir_fd=r.dirfd)
        try:
            target.encode("utf-8")
        except UnicodeEncodeError:
            raise FsError("illegal-byte-sequence") from None
        return target

    def remove_directory_at(h: Resource, path: str) -> None:
        d = desc(h).dir_mutable()
        with resolve(d.fd, _path(path), False) as r:
            os.rmdir(r.name, dir_fd=r.dirfd)

    def rename_at(h: Resource, old_path: str, new: Resource, new_path: str) -> None:
        old_d = desc(h).dir_mutable()
        new_d = desc(new).dir_mutable()
        with resolve(old_d.fd, _path(old_path), False, moving=True) as src, \
                resolve(new_d.fd, _path(new_path), False) as dst:
            if (src.must_dir or dst.must_dir) and not _is_dir(src):
                raise FsError("not-directory")
            os.rename(src.name, dst.name, src_dir_fd=src.dirfd, dst_dir_fd=dst.dirfd)

    def symlink_at(h: Resource, old_path: str, new_path: str) -> None:
        d = desc(h).dir_mutable()
        target = _path(old_path)
        if not target:
            raise FsError("no-entry")
        if target[0] == "/":
            raise FsError("not-permitted")     # could never resolve inside a sandbox
        with resolve(d.fd, _path(new_path), False) as r:
            if r.must_dir:
                raise FsError("exist" if _lexists(r) else "no-entry")
            os.symlink(target, r.name, dir_fd=r.dirfd)

    def unlink_file_at(h: Resource, path: str) -> None:
        d = desc(h).dir_mutable()
        with resolve(d.fd, _path(path), False) as r:
            if r.must_dir:
                st = os.stat(r.name, dir_fd=r.dirfd, follow_symlinks=False)
                raise FsError("is-directory" if _stat.S_ISDIR(st.st_mode) else "not-directory")
            os.unlink(r.name, dir_fd=r.dirfd)

    def metadata_hash_at(h: Resource, path_flags: Any, path: str) -> Record:
        d = desc(h).dir()
        with resolve(d.fd, _path(path), _follow(path_flags)) as r:
            return _hash(_lstat(r))

    def filesystem_error_code(err: Resource) -> Optional[str]:
        e = ctx.get(err, io.IoError)
        return None if e.errno is None else error_code_of_errno(e.errno)

    methods: Dict[str, Callable[..., Any]] = {
        "read-via-stream": read_via_stream, "write-via-stream": write_via_stream,
        "append-via-stream": append_via_stream, "advise": advise, "sync-data": sync_data,
        "get-flags": get_flags, "get-type": get_type, "set-size": set_size, "set-times": set_times,
        "read": read, "write": write, "read-directory": read_directory, "sync": sync,
        "create-directory-at": create_directory_at, "stat": stat, "stat-at": stat_at,
        "set-times-at": set_times_at, "link-at": link_at, "open-at": open_at,
        "readlink-at": readlink_at, "remove-directory-at": remove_directory_at,
        "rename-at": rename_at, "symlink-at": symlink_at, "unlink-file-at": unlink_file_at,
        "metadata-hash": metadata_hash, "metadata-hash-at": metadata_hash_at,
    }
    impl: Impl = {f"[method]descriptor.{name}": _guarded(fn) for name, fn in methods.items()}
    impl["[method]descriptor.is-same-object"] = is_same_object
    impl["[method]directory-entry-stream.read-directory-entry"] = _guarded(read_directory_entry)
    impl["filesystem-error-code"] = filesystem_error_code
    return impl


__all__ = ["Descriptor", "DirectoryEntries", "FileInput", "FileOutput", "FsError", "HostFd",
           "error_code_of_errno", "filesystem_preopens", "filesystem_types"]
