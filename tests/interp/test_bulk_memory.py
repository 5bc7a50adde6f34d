"""The interp tier's bulk-memory helpers against a bytearray model, on both sides of the
64 KiB line where they switch from the direct path to streaming (no n-byte temporary)."""

import mmap
import random

import pytest

from wasmforge.errors import Trap
from wasmforge.runtime import support

SIZE = 6 * 65536
LENGTHS = [1, 65535, 65536, 65537, 3 * 65536 + 7]


class Mem:
    def __init__(self):
        self.data = mmap.mmap(-1, SIZE)
        self.size = SIZE
        rng = random.Random(5)
        self.data[:] = bytes(rng.getrandbits(8) for _ in range(256)) * (SIZE // 256)


@pytest.fixture
def mem():
    return Mem()


def test_bulk_chunk_is_the_switch_point():
    assert support.BULK_CHUNK == 65536


@pytest.mark.parametrize("n", LENGTHS)
@pytest.mark.parametrize("shift", [-4097, -1, 0, 1, 65536, 70001])
def test_copy_matches_memmove(mem, n, shift):
    s = 80_000
    d = s + shift
    ref = bytearray(mem.data)
    ref[d:d + n] = ref[s:s + n]
    support.memory_copy(mem, d, s, n)
    assert mem.data[:] == ref


@pytest.mark.parametrize("n", LENGTHS + [SIZE - 5])
def test_fill_matches_model(mem, n):
    ref = bytearray(mem.data)
    ref[5:5 + n] = b"\x9c" * n
    support.memory_fill(mem, 5, 0x79C, n)
    assert mem.data[:] == ref


@pytest.mark.parametrize("n", LENGTHS)
def test_init_matches_model(mem, n):
    seg = bytes(i * 31 % 256 for i in range(n + 10))
    ref = bytearray(mem.data)
    ref[1234:1234 + n] = seg[10:10 + n]
    support.memory_init(mem, [seg], 0, 1234, 10, n)
    assert mem.data[:] == ref


@pytest.mark.parametrize("op", ["fill", "copy_dst", "copy_src", "init"])
def test_long_out_of_bounds_traps_and_writes_nothing(mem, op):
    before = mem.data[:]
    n = 65536 * 2
    with pytest.raises(Trap, match="out of bounds memory access"):
        if op == "fill":
            support.memory_fill(mem, SIZE - n + 1, 0, n)
        elif op == "copy_dst":
            support.memory_copy(mem, SIZE - n + 1, 0, n)
        elif op == "copy_src":
            support.memory_copy(mem, 0, SIZE - n + 1, n)
        else:
            support.memory_init(mem, [bytes(n)], 0, 0, 1, n)
    assert mem.data[:] == before
