"""The GC heap's reservation costs no commit charge (llvm/gcheap.py): its mapping is
MAP_NORESERVE, so a process holding several heaps can still fork (the tier-up's compiling
child); with the 8 GiB reservations charged, three live heaps made every later fork fail."""

import os
import sys

import pytest

from wasmforge.llvm import gcheap

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/smaps")


def _vmflags(address: int) -> list:
    with open("/proc/self/smaps") as f:
        inside = False
        for line in f:
            head = line.split()[0]
            if "-" in head and not head.endswith(":"):
                lo, hi = (int(x, 16) for x in head.split("-"))
                inside = lo <= address < hi
            elif inside and head == "VmFlags:":
                return line.split()[1:]
    raise AssertionError(f"no mapping at {address:#x}")


def test_a_heap_reservation_is_not_charged_and_forks_still_work():
    heaps = [gcheap.NativeHeap() for _ in range(4)]       # 32 GiB of address space
    assert all("nr" in _vmflags(h.base) for h in heaps)
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    assert os.waitpid(pid, 0)[1] == 0
