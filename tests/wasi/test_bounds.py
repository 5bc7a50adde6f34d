"""Guest pointers: every one is checked against the memory's size (EFAULT), and no call ever
reads or writes outside guest memory or lets a Python exception escape."""

import mmap
import random

import pytest

from wasmforge.errors import ExitTrap, Trap
from wasmforge.wasi import Errno, WasiConfig
from wasmforge.wasi.abi import SIGNATURES
from wasmforge.wasi.ctx import MAX_RANDOM_GET

SIZE = 65536
END = SIZE          # first address past the memory
FAR = 0xFFFFFFF0    # near the top of the 32-bit address space


@pytest.fixture
def fguest(guest, sandbox):
    """The sandbox guest with file ``f`` open as fd 4 and the path "f" at address 16."""
    (sandbox / "f").write_bytes(b"0123456789")
    assert guest.open("f")[1] == 4
    guest.mem.data[16:17] = b"f"
    guest.mem.data[32:40] = bytes(8)     # one iovec {buf=0, len=0}
    guest.ctx.args = [b"prog"]
    guest.ctx.environ = [b"A=1"]
    return guest


# (function, arguments) where one pointer lies outside memory; fd 3 is the preopen, 4 a file.
FAULTS = [
    ("args_get", (END, 0)),
    ("args_sizes_get", (0, END - 3)),
    ("environ_get", (0, FAR)),
    ("environ_sizes_get", (END, 0)),
    ("clock_res_get", (0, END - 4)),
    ("clock_time_get", (1, 0, FAR)),
    ("fd_fdstat_get", (4, END - 8)),
    ("fd_filestat_get", (4, END - 1)),
    ("fd_pread", (4, END, 1, 0, 100)),
    ("fd_pread", (4, 32, 1, 0, END)),
    ("fd_prestat_get", (3, END - 4)),
    ("fd_prestat_dir_name", (3, END - 2, 16)),
    ("fd_pwrite", (4, FAR, 2, 0, 100)),
    ("fd_read", (4, END - 4, 1, 100)),
    ("fd_read", (4, 32, 1, END - 2)),
    ("fd_readdir", (3, END - 10, 64, 0, 100)),
    ("fd_readdir", (3, 200, 64, 0, END)),
    ("fd_seek", (4, 0, 0, END - 4)),
    ("fd_tell", (4, FAR)),
    ("fd_write", (4, END, 1, 100)),
    ("fd_write", (4, 32, 1, END)),
    ("path_create_directory", (3, END - 1, 2)),
    ("path_filestat_get", (3, 0, 16, 1, END - 63)),
    ("path_filestat_get", (3, 0, FAR, 100, 200)),
    ("path_filestat_set_times", (3, 0, END, 1, 0, 0, 0)),
    ("path_link", (3, 0, 16, 1, 3, END, 1)),
    ("path_open", (3, 0, 16, 1, 0, 0, 0, 0, END - 2)),
    ("path_open", (3, 0, FAR, 16, 0, 0, 0, 0, 100)),
    ("path_readlink", (3, 16, 1, END - 2, 8, 100)),
    ("path_readlink", (3, 16, 1, 200, 8, END)),
    ("path_remove_directory", (3, END, 1)),
    ("path_rename", (3, 16, 1, 3, FAR, 4)),
    ("path_symlink", (END, 1, 3, 16, 1)),
    ("path_unlink_file", (3, FAR, 16)),
    ("poll_oneoff", (END - 8, 0, 1, 100)),
    ("random_get", (END - 1, 2)),
]


@pytest.mark.parametrize("name,args", FAULTS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(FAULTS)])
def test_out_of_bounds_pointer_is_efault(fguest, sandbox, name, args):
    assert fguest.call(name, *args) == Errno.FAULT
    assert sorted(p.name for p in sandbox.iterdir()) == ["f"]


def test_iovec_pointing_outside_memory_is_efault(fguest):
    arr = fguest.alloc(8)
    fguest.mem.data[arr:arr + 8] = (END - 2).to_bytes(4, "little") + (4).to_bytes(4, "little")
    assert fguest.call("fd_read", 4, arr, 1, 100) == Errno.FAULT
    assert fguest.call("fd_write", 4, arr, 1, 100) == Errno.FAULT


def test_efault_happens_before_side_effects(fguest, sandbox):
    p, n = fguest.put("created")
    assert fguest.call("path_open", 3, 0, p, n, 1, 0xFFFF, 0, 0, END) == Errno.FAULT
    assert not (sandbox / "created").exists()


def test_fault_at_exact_end_of_memory_is_allowed(fguest):
    assert fguest.call("random_get", END - 4, 4) == 0
    assert fguest.call("clock_time_get", 0, 0, END - 8) == 0


def test_memory_size_not_mapping_size_bounds_accesses(make_guest):
    """A memory whose mapping is larger than its current size: the excess is off limits."""
    g = make_guest()
    g.mem.data = mmap.mmap(-1, 2 * SIZE)
    g.mem.data[SIZE:] = b"\xaa" * SIZE
    assert g.call("random_get", SIZE - 4, 8) == Errno.FAULT
    assert g.mem.data[SIZE:] == b"\xaa" * SIZE


def test_random_arguments_never_raise_or_touch_memory_beyond_size(make_guest, sandbox):
    """Every function with arbitrary arguments: an errno comes back, nothing is written past
    ``size``.  (poll_oneoff is left out: random clocks may sleep for centuries.)"""
    c = WasiConfig()
    c.preopen_dir(sandbox, "/s")
    g = make_guest(c)
    g.mem.data = mmap.mmap(-1, 2 * SIZE)
    g.mem.data[SIZE:] = b"\xaa" * SIZE
    rng = random.Random(1234)
    interesting = [0, 1, 3, 4, 8, 16, SIZE - 1, SIZE, SIZE + 1, 0x7FFFFFFF, 0xFFFFFFFF]
    for _ in range(3000):
        name = rng.choice(sorted(SIGNATURES))
        if name == "poll_oneoff":
            continue
        args = []
        for t in SIGNATURES[name].params:
            if rng.random() < 0.5:
                v = rng.choice(interesting)
            else:
                v = rng.getrandbits(32 if t == "i32" else 64)
                if rng.random() < 0.7:
                    v %= 6 if name.startswith(("fd_", "path_", "sock_")) and not args else SIZE
            args.append(v)
        try:
            err = g.call(name, *args)
        except ExitTrap:
            assert name == "proc_exit"
            continue
        except Trap:
            # Only random_get above its cap traps, as wasmtime's does (test_limits.py).
            assert name == "random_get" and args[1] > MAX_RANDOM_GET, (name, args)
            continue
        assert isinstance(err, int) and 0 <= err <= 76, (name, args, err)
    assert g.mem.data[SIZE:] == b"\xaa" * SIZE
