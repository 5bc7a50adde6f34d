"""The WASI path walk keeps out of the cache whatever the way in: a preopen equal to or inside
it, a detour through it, and the symbolic links on the way to it (finding 1)."""

import os

import pytest

from wasmforge.wasi import Errno
from wasmforge.wasi.paths import WasiErrno, resolve


@pytest.fixture
def dirfd():
    opened = []

    def open_dir(path):
        opened.append(os.open(path, os.O_RDONLY | os.O_DIRECTORY))
        return opened[-1]
    yield open_dir
    for fd in opened:
        os.close(fd)


def errno_of(base, path, follow=False, moving=False):
    try:
        with resolve(base, path, follow, moving=moving):
            return 0
    except WasiErrno as exc:
        return exc.errno


def test_a_preopen_equal_to_the_cache_reaches_nothing(cache_root, dirfd):
    cache_root.mkdir(parents=True, mode=0o700)
    base = dirfd(cache_root)
    assert errno_of(base, "key") == Errno.ACCES
    assert errno_of(base, ".") == Errno.ACCES


def test_a_preopen_inside_the_cache_reaches_nothing(cache_root, dirfd):
    (cache_root / "interp" / "deeper").mkdir(parents=True)
    assert errno_of(dirfd(cache_root / "interp" / "deeper"), "x") == Errno.ACCES


def test_a_detour_through_the_cache_is_refused(cache_root, home, dirfd):
    cache_root.mkdir(parents=True, mode=0o700)
    assert errno_of(dirfd(home), ".cache/wasmforge/../x") == Errno.ACCES
    assert errno_of(dirfd(home), ".cache/x") == 0


def test_the_symbolic_links_on_the_way_to_the_cache_stay(home, tmp_path, monkeypatch, dirfd):
    # ~/.cache is a link to a folder elsewhere in home: deleting or renaming the link would
    # move the cache away, and a guest could then create its own ~/.cache/wasmforge.
    from wasmforge import _cache
    (home / "disk" / "cache").mkdir(parents=True)
    os.symlink("disk/cache", home / ".cache")
    monkeypatch.setenv("WASMFORGE_CACHE_DIR", str(home / ".cache" / "wasmforge"))
    _cache.reset()
    base = dirfd(home)
    assert errno_of(base, ".cache") == Errno.ACCES                   # unlink, lstat, readlink
    assert errno_of(base, ".cache", moving=True) == Errno.ACCES      # rename
    assert errno_of(base, "disk/cache", moving=True) == Errno.ACCES  # rename the real folder
    assert errno_of(base, ".cache/wasmforge/key", follow=True) == Errno.ACCES
    assert errno_of(base, "disk/cache", follow=True) == 0            # listing it is fine
    assert errno_of(base, ".cache/", follow=True) == 0
    _cache.reset()


def test_a_cache_made_anew_by_another_process_is_guarded_too(cache_root, home, dirfd,
                                                             monkeypatch):
    from wasmforge import _cache
    cache_root.mkdir(parents=True, mode=0o700)
    assert errno_of(dirfd(home), ".cache/wasmforge/x") == Errno.ACCES
    # Another process moves the cache away and makes a new one (kept, so that its inode
    # number cannot be reused: the new one has an identity of its own).
    cache_root.rename(home / "old-cache")
    (cache_root / "interp").mkdir(parents=True, mode=0o700)
    monkeypatch.setattr(_cache, "GUARD_RECHECK", 0.0)      # instead of waiting a second
    assert errno_of(dirfd(home), ".cache/wasmforge/interp/x") == Errno.ACCES


class _Memory:
    def __init__(self):
        self.data = bytearray(65536)
        self.size = len(self.data)


@pytest.mark.parametrize("inside", [False, True])
def test_a_preopen_of_the_cache_cannot_be_listed(cache_root, home, inside):
    from wasmforge.wasi import WasiConfig, WasiCtx
    (cache_root / "interp").mkdir(parents=True, mode=0o700)
    (cache_root / "interp" / "entry").write_bytes(b"x")
    config = WasiConfig()
    config.preopen_dir(cache_root / "interp" if inside else cache_root, "/c")
    config.preopen_dir(home, "/home")
    with WasiCtx(config) as ctx:
        readdir = {name: fn for name, (_, fn) in ctx.host_functions().items()}["fd_readdir"]
        mem = _Memory()
        assert readdir(mem, 3, 0, 4096, 0, 8192) == Errno.ACCES
        assert b"entry" not in mem.data
        assert readdir(mem, 4, 0, 4096, 0, 8192) == 0          # an ordinary preopen
        assert b".cache" in mem.data
