"""Fixtures for the WASI tests: a guest driven through ``WasiCtx.host_functions()`` with a fake
memory (an mmap of one 64 KiB page), independent of the runtime."""

import mmap
import struct

import pytest

from wasmforge.wasi import WasiConfig, WasiCtx
from wasmforge.wasi.abi import ALL_RIGHTS, DIR_RIGHTS, FILESTAT, FDSTAT, LOOKUP_SYMLINK_FOLLOW, OFLAG_DIRECTORY

PAGE = 65536


class FakeMemory:
    """What the functions need of a memory: ``data`` (a buffer) and ``size`` (bytes)."""

    def __init__(self, size=PAGE):
        self.data = mmap.mmap(-1, size)
        self.size = size


class Guest:
    """Calls preview1 functions the way a guest would: arguments are addresses in ``mem``."""

    def __init__(self, config):
        self.ctx = WasiCtx(config)
        self.fns = {name: fn for name, (_ty, fn) in self.ctx.host_functions().items()}
        self.mem = FakeMemory()
        self.top = 1024

    def alloc(self, n, align=8):
        self.top = (self.top + align - 1) // align * align
        ptr = self.top
        self.top += max(n, 1)
        assert self.top <= self.mem.size
        return ptr

    def put(self, data: bytes):
        """Copy bytes into memory: (ptr, len)."""
        if isinstance(data, str):
            data = data.encode()
        ptr = self.alloc(len(data))
        self.mem.data[ptr:ptr + len(data)] = data
        return ptr, len(data)

    def get(self, ptr, n):
        return bytes(self.mem.data[ptr:ptr + n])

    def u32(self, ptr):
        return struct.unpack_from("<I", self.mem.data, ptr)[0]

    def u64(self, ptr):
        return struct.unpack_from("<Q", self.mem.data, ptr)[0]

    def call(self, name, *args):
        return self.fns[name](self.mem, *args)

    # -- conveniences over the raw calls ---------------------------------------------------
    def open(self, path, oflags=0, base=None, inheriting=ALL_RIGHTS, fdflags=0, dirfd=3,
             follow=True):
        """path_open: (errno, fd).  By default asks for every right, except for a directory
        (``oflags::directory`` or a trailing slash): writing one is EISDIR."""
        if base is None:
            is_dir = oflags & OFLAG_DIRECTORY or (path[-1:] in ("/", b"/"))
            base = DIR_RIGHTS if is_dir else ALL_RIGHTS
        p, n = self.put(path)
        out = self.alloc(4)
        err = self.call("path_open", dirfd, LOOKUP_SYMLINK_FOLLOW if follow else 0, p, n, oflags,
                        base, inheriting, fdflags, out)
        return err, (self.u32(out) if err == 0 else None)

    def iovs(self, sizes_or_data, writable):
        """An iovec array: for reads pass sizes, for writes pass the byte chunks."""
        bufs = []
        for item in sizes_or_data:
            if writable:
                bufs.append((self.alloc(item), item))
            else:
                bufs.append(self.put(item))
        arr = self.alloc(8 * len(bufs))
        for i, (p, n) in enumerate(bufs):
            struct.pack_into("<II", self.mem.data, arr + 8 * i, p, n)
        return arr, len(bufs), bufs

    def write(self, fd, *chunks):
        arr, n, _ = self.iovs(chunks, False)
        out = self.alloc(4)
        err = self.call("fd_write", fd, arr, n, out)
        return err, (self.u32(out) if err == 0 else None)

    def read(self, fd, *sizes):
        arr, n, bufs = self.iovs(sizes or (64,), True)
        out = self.alloc(4)
        err = self.call("fd_read", fd, arr, n, out)
        if err:
            return err, None
        got = self.u32(out)
        data = b"".join(self.get(p, n) for p, n in bufs)
        return err, data[:got]

    def path_call(self, name, path, dirfd=3, *extra_before, extra_after=()):
        """A function taking (fd, [extra...,] path_ptr, path_len, [more...])."""
        p, n = self.put(path)
        return self.call(name, dirfd, *extra_before, p, n, *extra_after)

    def restrict(self, fd, base):
        """Drop every base right of ``fd`` but ``base``, keeping its inheriting rights."""
        inheriting = self.fdstat(fd)[1][3]
        assert self.call("fd_fdstat_set_rights", fd, int(base), inheriting) == 0

    def fdstat(self, fd):
        out = self.alloc(FDSTAT.size)
        err = self.call("fd_fdstat_get", fd, out)
        return err, (FDSTAT.unpack_from(self.mem.data, out) if err == 0 else None)

    def filestat(self, path, dirfd=3, follow=True):
        p, n = self.put(path)
        out = self.alloc(FILESTAT.size)
        err = self.call("path_filestat_get", dirfd, LOOKUP_SYMLINK_FOLLOW if follow else 0, p, n, out)
        return err, (FILESTAT.unpack_from(self.mem.data, out) if err == 0 else None)


@pytest.fixture
def sandbox(tmp_path):
    """A host directory to preopen (``tmp/sandbox``) beside one the guest must never reach
    (``tmp/outside``, holding ``secret``)."""
    box = tmp_path / "sandbox"
    box.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_text("top secret")
    return box


@pytest.fixture
def make_guest():
    made = []

    def make(config=None):
        g = Guest(config if config is not None else WasiConfig())
        made.append(g)
        return g

    yield make
    for g in made:
        g.ctx.close()


@pytest.fixture
def guest(make_guest, sandbox):
    """A guest with ``sandbox`` preopened as ``/sandbox`` (fd 3), read-write."""
    config = WasiConfig()
    config.preopen_dir(sandbox, "/sandbox")
    return make_guest(config)


@pytest.fixture
def ro_guest(make_guest, sandbox):
    """A guest with ``sandbox`` preopened read-only as ``/ro`` (fd 3)."""
    config = WasiConfig()
    config.preopen_dir(sandbox, "/ro", read_only=True)
    return make_guest(config)
