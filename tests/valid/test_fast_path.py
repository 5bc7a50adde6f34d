"""The validator's fast path (``wasmforge.valid.fast``) against the general loop.

The fast path only runs on bodies still held as raw bytes (lazily decoded modules, the large
ones), so the spec suite's small modules never reach it on their own: here every module of
the suite is encoded and decoded lazily, and validating it must give exactly what the eager
module gives -- the same error (message, function, byte offset) or the same ModuleInfo.
Then the fast path must really carry compiled code (the benchmark corpus) by itself, with the
same maximum stack heights as the general loop.
"""

import importlib

import pytest

from binary.binhelpers import func_module
from support import BENCH, suite_files
from wasmforge.binary.decode import decode_module
from wasmforge.binary.encode import encode_module
from wasmforge.errors import DecodeError, ValidationError, WasmError
from wasmforge.text.script import (AssertInvalid, AssertTrap, AssertUninstantiable, AssertUnlinkable,
                                   ModuleCommand)
from wasmforge.text.wast import parse_script
from wasmforge.valid import validate

V = importlib.import_module("wasmforge.valid.validate")

SCRIPTS = suite_files()


def _outcome(data: bytes, lazy: bool):
    try:
        return ("ok", validate(decode_module(data, lazy=lazy)))
    except (ValidationError, DecodeError) as exc:
        return (type(exc).__name__, str(exc), getattr(exc, "func", None), exc.offset)


def _sources(path):
    for cmd in parse_script(path.read_text(encoding="utf-8", errors="surrogateescape"),
                            filename=path.name):
        if isinstance(cmd, AssertInvalid):
            yield cmd.line, cmd.module
        elif isinstance(cmd, ModuleCommand):
            yield cmd.line, cmd.source
        elif isinstance(cmd, (AssertUnlinkable, AssertUninstantiable)):
            yield cmd.line, cmd.module
        elif isinstance(cmd, AssertTrap) and cmd.module is not None:
            yield cmd.line, cmd.module


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: p.name)
def test_lazy_validation_agrees_with_eager(path):
    failures = []
    for line, source in _sources(path):
        try:
            data = source.data if source.kind == "binary" else encode_module(source.load())
        except WasmError:
            continue            # not loadable at all: the suite's other tests cover it
        eager, lazy = _outcome(data, False), _outcome(data, True)
        if eager != lazy:
            failures.append(f"line {line}: eager {eager!r} but lazy {lazy!r}")
    assert not failures, "\n".join(failures)


def _raw_checks(data: bytes):
    """(fast path result, general loop result) for every body of ``data``."""
    module = decode_module(data, lazy=True)
    ctx = V._Context(module)
    nimported = len(ctx.funcs) - len(module.funcs)
    return [(V._check_raw(ctx, f), V._check_func(ctx, f, nimported + i))
            for i, f in enumerate(module.funcs)]


@pytest.mark.parametrize("name", ["qsort.wasm", "sha256.wasm", "nbody.wasm"])
def test_fast_path_carries_compiled_code(name):
    path = BENCH / "wasm" / name
    if not path.exists():
        pytest.skip(f"{path} not built")
    pairs = _raw_checks(path.read_bytes())
    assert pairs
    assert [fast for fast, _ in pairs] == [general for _, general in pairs]


@pytest.mark.parametrize("body, maxh", [
    (b"\x41\x01\x41\x02\x6a\x1a\x0b", 2),                       # i32.add of two constants
    (b"\x02\x40\x41\x01\x41\x02\x41\x03\x1a\x1a\x1a\x0b\x0b", 3),  # inside a block
    (b"\x00\x6a\x1a\x0b", 1),                                   # polymorphic stack: Unknown operands
    (b"\x0c\x00\x41\x01\x1a\x0b", 1),                           # dead code after br
])
def test_fast_path_max_stack(body, maxh):
    [(fast, general)] = _raw_checks(func_module(body))
    assert fast == general == maxh


@pytest.mark.parametrize("body", [
    b"\x41\x01\x42\x02\x6a\x1a\x0b",        # i32.add of an i64: type mismatch
    b"\x41\x01\x02\x40\x1a\x0b\x0b",        # drop below the block's height
    b"\x20\x05\x1a\x0b",                    # unknown local
    b"\x41\xff\xff\xff\xff\x4f\x1a\x0b",    # i32.const with unused bits set (malformed)
    b"\x41\x01\x1a\x0b\x01",                # bytes after the body's end
    b"\x41\x01\x1a",                        # no end
    b"\x05\x0b",                            # else outside an if
])
def test_fast_path_never_accepts_what_the_general_loop_rejects(body, monkeypatch):
    data = func_module(body)
    with_fast = _outcome(data, True)
    monkeypatch.setattr(V, "_check_raw", lambda ctx, func: None)
    general = _outcome(data, True)
    assert general[0] != "ok"
    assert with_fast == general
