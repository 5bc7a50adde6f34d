"""Malformed input of any shape raises DecodeError and nothing else (no IndexError,
struct.error, UnicodeDecodeError, MemoryError or hang)."""

import random

import pytest

from support import BENCH
from wasmforge.binary import decode_module
from wasmforge.errors import DecodeError

CORPUS = sorted((BENCH / "wasm").glob("*.wasm")) if (BENCH / "wasm").is_dir() else []


def decode_fully(data: bytes) -> None:
    """Decode, then force every lazily held body."""
    m = decode_module(data, lazy=True)
    for f in m.funcs:
        f.body


@pytest.mark.parametrize("path", CORPUS[:3], ids=lambda p: p.name)
def test_random_byte_mutations_raise_only_decode_errors(path):
    original = path.read_bytes()
    rng = random.Random(path.name)
    for _ in range(60):
        data = bytearray(original)
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(8, len(data))] = rng.choice((0x00, 0x0B, 0x7F, 0x80, 0xFF, rng.randrange(256)))
        try:
            decode_fully(bytes(data))
        except DecodeError:
            pass


@pytest.mark.parametrize("path", CORPUS[:1], ids=lambda p: p.name)
def test_truncations_raise_only_decode_errors(path):
    original = path.read_bytes()
    rng = random.Random(1)
    for n in sorted(rng.sample(range(len(original)), 200)):
        try:
            decode_fully(original[:n])
        except DecodeError:
            pass


def test_random_garbage_after_header_raises_only_decode_errors():
    rng = random.Random(7)
    for _ in range(500):
        data = b"\x00asm\x01\x00\x00\x00" + bytes(rng.randrange(256) for _ in range(rng.randint(1, 40)))
        try:
            decode_fully(data)
        except DecodeError:
            pass
