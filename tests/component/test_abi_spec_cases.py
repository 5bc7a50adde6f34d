"""The cases of the canonical ABI's reference tests (design/mvp/canonical-abi/run_tests.py),
with the values in wasmforge's Python form: lift from flat values, then lower into a fresh
heap (in another string encoding where given) and lift again."""

from __future__ import annotations

import struct

import pytest

from component.abi_support import Heap
from wasmforge.cm import abi
from wasmforge.cm.abi import CanonOptions, Record, Variant, flatten_functype
from wasmforge.cm.types import (BOOL, CHAR, F32, F64, S8, S16, S32, S64, STRING, U8, U16, U32, U64, EnumType,
                                FlagsType, FuncType, ListType, OptionType, RecordType, ResultType, TupleType,
                                VariantType)
from wasmforge.errors import Trap
from wasmforge.numerics.bits import f32_from_bits, f32_to_bits, f64_from_bits, f64_to_bits

ENCODINGS = ["utf8", "utf16", "latin1+utf16"]
TRAP = object()     # the expected outcome of a case that must trap


def check(t, flat, expect, opts=None, dst_encoding=None, lower_t=None, lower_v=None):
    opts = opts or CanonOptions(memory=Heap(0).memory)
    if expect is TRAP:
        with pytest.raises(Trap):
            abi.lift_flat(t, flat, opts)
        return
    got = abi.lift_flat(t, flat, opts)
    assert got == expect
    # Lifted again as for another component: strings keep their source encoding, which decides
    # the allocations of the transcoding into the destination (as the reference tests do).
    carried = abi.lift_flat(t, flat, opts, source=True)
    heap = Heap(5 * opts.memory.size)
    dst = heap.options(dst_encoding or opts.string_encoding, ptr=opts.ptr)
    lower_t = lower_t or t
    lowered = abi.lower_flat(lower_t, carried, dst, source=True)
    again = abi.lift_flat(lower_t, lowered, dst)
    assert again == (expect if lower_v is None else lower_v)


def rec(**kw):
    return Record(**kw)


def test_record_and_tuples():
    check(RecordType((("x", U8), ("y", U16), ("z", U32))), [1, 2, 3], rec(x=1, y=2, z=3))
    check(TupleType((TupleType((U8, U8)), U8)), [1, 2, 3], ((1, 2), 3))


def test_fixed_length_lists():
    check(ListType(U32, 3), [1, 2, 3], [1, 2, 3])
    check(ListType(ListType(U32, 2), 3), [1, 2, 3, 4, 5, 6], [[1, 2], [3, 4], [5, 6]])
    check(ListType(U8, 3), [1, 2, 3], b"\x01\x02\x03")


def test_flags():
    t = FlagsType(("a", "b"))
    check(t, [0], set())
    check(t, [2], {"b"})
    check(t, [3], {"a", "b"})
    check(t, [4], set())            # bits beyond the labels are ignored
    labels = tuple(str(i) for i in range(32))
    check(FlagsType(labels), [0xFFFFFFFF], set(labels))


def test_variants():
    t = VariantType((("x", U8), ("y", F32), ("z", None)))
    # u8, f32 and no payload have distinct Python classes: values are bare payloads.
    check(t, [0, 42], 42)
    check(t, [0, 256], 0)
    check(t, [1, 0x4048F5C3], f32_from_bits(0x4048F5C3))
    check(t, [2, 0xFFFFFFFF], None)
    pi32 = f32_from_bits(0x4048F5C3)      # 3.14 as an f32 (core f32 values are binary32)
    check(OptionType(F32), [0, pi32], None)
    check(OptionType(F32), [1, pi32], pi32)
    check(ResultType(U8, U32), [0, 42], Variant("ok", 42))
    check(ResultType(U8, U32), [1, 1000], Variant("err", 1000))
    t = VariantType((("w", U8), ("y", U8)))
    check(t, [0, 42], Variant("w", 42))
    check(t, [1, 42], Variant("y", 42))
    # Lowered as a one-case variant that has the same case.
    check(t, [0, 42], Variant("w", 42), lower_t=VariantType((("w", U8),)), lower_v=42)


@pytest.mark.parametrize("t, pairs", [
    (BOOL, [(0, False), (1, True), (2, True), (4294967295, True)]),
    (U8, [(127, 127), (128, 128), (255, 255), (256, 0), (4294967295, 255), (4294967168, 128), (4294967167, 127)]),
    (S8, [(127, 127), (128, -128), (255, -1), (256, 0), (4294967295, -1), (4294967168, -128), (4294967167, 127)]),
    (U16, [(32767, 32767), (32768, 32768), (65535, 65535), (65536, 0), ((1 << 32) - 1, 65535),
           ((1 << 32) - 32768, 32768), ((1 << 32) - 32769, 32767)]),
    (S16, [(32767, 32767), (32768, -32768), (65535, -1), (65536, 0), ((1 << 32) - 1, -1),
           ((1 << 32) - 32768, -32768), ((1 << 32) - 32769, 32767)]),
    (U32, [((1 << 31) - 1, (1 << 31) - 1), (1 << 31, 1 << 31), ((1 << 32) - 1, (1 << 32) - 1)]),
    (S32, [((1 << 31) - 1, (1 << 31) - 1), (1 << 31, -(1 << 31)), ((1 << 32) - 1, -1)]),
    (U64, [((1 << 63) - 1, (1 << 63) - 1), (1 << 63, 1 << 63), ((1 << 64) - 1, (1 << 64) - 1)]),
    (S64, [((1 << 63) - 1, (1 << 63) - 1), (1 << 63, -(1 << 63)), ((1 << 64) - 1, -1)]),
    (F32, [(f32_from_bits(0x4048F5C3), f32_from_bits(0x4048F5C3))]),
    (F64, [(3.14, 3.14)]),
    (CHAR, [(0, "\x00"), (65, "A"), (0xD7FF, "\ud7ff"), (0xD800, TRAP), (0xDFFF, TRAP)]),
    (CHAR, [(0xE000, "\ue000"), (0x10FFFF, "\U0010ffff"), (0x110000, TRAP), (0xFFFFFFFF, TRAP)]),
    (EnumType(("a", "b")), [(0, "a"), (1, "b"), (2, TRAP)]),
])
def test_scalar_pairs(t, pairs):
    for arg, expect in pairs:
        check(t, [arg], expect)


NAN32 = [(0x7FC00000, 0x7FC00000), (0x7FC00001, 0x7FC00000), (0x7FE00000, 0x7FC00000),
         (0x7FFFFFFF, 0x7FC00000), (0xFFFFFFFF, 0x7FC00000), (0x7F800000, 0x7F800000), (0x3FC00000, 0x3FC00000)]
NAN64 = [(0x7FF8000000000000, 0x7FF8000000000000), (0x7FF8000000000001, 0x7FF8000000000000),
         (0x7FFC000000000000, 0x7FF8000000000000), (0x7FFFFFFFFFFFFFFF, 0x7FF8000000000000),
         (0xFFFFFFFFFFFFFFFF, 0x7FF8000000000000), (0x7FF0000000000000, 0x7FF0000000000000),
         (0x3FF0000000000000, 0x3FF0000000000000)]


@pytest.mark.parametrize("inbits, outbits", NAN32)
def test_f32_nan_canonicalised(inbits, outbits):
    got = abi.lift_flat(F32, [f32_from_bits(inbits)])
    assert f32_to_bits(got) == outbits
    opts = CanonOptions(memory=abi.BytesMemory(struct.pack("<I", inbits)))
    assert f32_to_bits(abi.load(F32, 0, opts)) == outbits
    # Lowering a NaN gives the canonical NaN too (the deterministic profile).
    assert f32_to_bits(abi.lower_flat(F32, got)[0]) == outbits


@pytest.mark.parametrize("inbits, outbits", NAN64)
def test_f64_nan_canonicalised(inbits, outbits):
    got = abi.lift_flat(F64, [f64_from_bits(inbits)])
    assert f64_to_bits(got) == outbits
    opts = CanonOptions(memory=abi.BytesMemory(struct.pack("<Q", inbits)))
    assert f64_to_bits(abi.load(F64, 0, opts)) == outbits


FUN_STRINGS = ["", "a", "hi", "\x00", "a\x00b", "\x80", "\x80b", "ab\xefc", "\u01ffy", "xy\u01ff", "a\ud7ffb",
               "a\u02ff\u03ff\u04ffbc", "\uf123", "\uf123\uf123abc", "abcdef\uf123"]


def _encodings_of(src_encoding, s, ptr):
    if src_encoding == "utf8":
        b = s.encode("utf-8")
        yield b, len(b)
    elif src_encoding == "utf16":
        b = s.encode("utf-16-le")
        yield b, len(b) // 2
    else:
        try:
            b = s.encode("latin-1")
            yield b, len(b)
        except UnicodeEncodeError:
            pass
        b = s.encode("utf-16-le")
        yield b, (len(b) // 2) | (1 << (63 if ptr == "i64" else 31))


@pytest.mark.parametrize("ptr", ["i32", "i64"])
@pytest.mark.parametrize("src_encoding", ENCODINGS)
@pytest.mark.parametrize("dst_encoding", ENCODINGS)
def test_string_transcoding(ptr, src_encoding, dst_encoding):
    for s in FUN_STRINGS:
        for encoded, tagged in _encodings_of(src_encoding, s, ptr):
            heap = Heap(encoded)
            check(STRING, [0, tagged], s, heap.options(src_encoding, ptr=ptr), dst_encoding)


def heap_case(t, expect, args, byte_array, ptr="i32"):
    heap = Heap(bytes(byte_array))
    check(t, args, expect, heap.options(ptr=ptr))


def test_lists_in_memory():
    heap_case(ListType(BOOL), [True, False, True], [0, 3], [1, 0, 1])
    heap_case(ListType(BOOL), [True, False, True], [0, 3], [1, 0, 2])
    heap_case(ListType(BOOL), [True, False, True], [3, 3], [0xFF, 0xFF, 0xFF, 1, 0, 1])
    heap_case(ListType(U8), b"\x01\x02\x03", [0, 3], [1, 2, 3])
    heap_case(ListType(U16), [1, 2, 3], [0, 3], [1, 0, 2, 0, 3, 0])
    heap_case(ListType(U16), TRAP, [1, 3], [0, 1, 0, 2, 0, 3, 0])         # unaligned
    heap_case(ListType(U32), [1, 2, 3], [0, 3], [1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0])
    heap_case(ListType(U64), [1, 2], [0, 2], [1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0])
    heap_case(ListType(S8), [-1, -2, -3], [0, 3], [0xFF, 0xFE, 0xFD])
    heap_case(ListType(S16), [-1, -2, -3], [0, 3], [0xFF, 0xFF, 0xFE, 0xFF, 0xFD, 0xFF])
    heap_case(ListType(S32), [-1, -2, -3], [0, 3], [0xFF] * 4 + [0xFE] + [0xFF] * 3 + [0xFD] + [0xFF] * 3)
    heap_case(ListType(S64), [-1, -2], [0, 2], [0xFF] * 8 + [0xFE] + [0xFF] * 7)
    heap_case(ListType(CHAR), ["A", "B", "c"], [0, 3], [65, 0, 0, 0, 66, 0, 0, 0, 99, 0, 0, 0])
    heap_case(ListType(STRING), ["hi", "wat"], [0, 2],
              [16, 0, 0, 0, 2, 0, 0, 0, 21, 0, 0, 0, 3, 0, 0, 0, ord("h"), ord("i"), 0xF, 0xF, 0xF,
               ord("w"), ord("a"), ord("t")])
    heap_case(ListType(STRING), ["hi", "wat"], [0, 2],
              [32, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 37, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0,
               ord("h"), ord("i"), 0xF, 0xF, 0xF, ord("w"), ord("a"), ord("t")], ptr="i64")
    heap_case(ListType(ListType(U8)), [b"\x03\x04\x05", b"", b"\x06\x07"], [0, 3],
              [24, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 27, 0, 0, 0, 2, 0, 0, 0, 3, 4, 5, 6, 7])
    heap_case(ListType(ListType(U16)), [[5, 6]], [0, 1], [8, 0, 0, 0, 2, 0, 0, 0, 5, 0, 6, 0])
    heap_case(ListType(ListType(U16)), [[5, 6]], [0, 1],
              [16, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 5, 0, 6, 0], ptr="i64")
    heap_case(ListType(ListType(U16)), TRAP, [0, 1], [9, 0, 0, 0, 2, 0, 0, 0, 0, 5, 0, 6, 0])
    heap_case(ListType(ListType(U8, 2)), [b"\x01\x02", b"\x03\x04"], [0, 2], [1, 2, 3, 4])
    heap_case(ListType(ListType(U32, 2)), [[1, 2], [3, 4]], [0, 2], [1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0])
    heap_case(ListType(ListType(U32, 2)), TRAP, [1, 2], [0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0])
    heap_case(ListType(TupleType((U8, U8, U16, U32))), [(6, 7, 8, 9), (4, 5, 6, 7)], [0, 2],
              [6, 7, 8, 0, 9, 0, 0, 0, 4, 5, 6, 0, 7, 0, 0, 0])
    heap_case(ListType(TupleType((U8, U16, U8, U32))), [(6, 7, 8, 9), (4, 5, 6, 7)], [0, 2],
              [6, 0xFF, 7, 0, 8, 0xFF, 0xFF, 0xFF, 9, 0, 0, 0, 4, 0xFF, 5, 0, 6, 0xFF, 0xFF, 0xFF, 7, 0, 0, 0])
    heap_case(ListType(TupleType((U16, U8))), [(6, 7), (8, 9)], [0, 2], [6, 0, 7, 0xFF, 8, 0, 9, 0xFF])
    heap_case(ListType(TupleType((TupleType((U16, U8)), U8))), [((4, 5), 6), ((7, 8), 9)], [0, 2],
              [4, 0, 5, 0xFF, 6, 0xFF, 7, 0, 8, 0xFF, 9, 0xFF])


def test_flags_in_memory():
    t = ListType(FlagsType(("a", "b")))
    heap_case(t, [set(), {"b"}, {"a", "b"}], [0, 3], [0, 2, 3])
    heap_case(t, [set(), {"b"}, set()], [0, 3], [0, 2, 4])
    for n, data in [(9, [0xFF, 0x1, 0, 0]), (9, [0xFF, 0x3, 0, 0]), (17, [0xFF, 0xFF, 0x1, 0, 0, 0, 0, 0]),
                    (17, [0xFF, 0xFF, 0x3, 0, 0, 0, 0, 0]), (32, [0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0])]:
        labels = tuple(str(i) for i in range(n))
        heap_case(ListType(FlagsType(labels)), [set(labels), set()], [0, 2], data)


@pytest.mark.parametrize("ptr", ["i32", "i64"])
def test_flatten_functype(ptr):
    def expect(ft, params, results):
        lift_p, lift_r = list(params), list(results)
        if len(lift_p) > 16:
            lift_p = [ptr]
        lower_p, lower_r = list(lift_p), list(lift_r)
        if len(lift_r) > 1:
            lift_r = [ptr]
            lower_p, lower_r = lower_p + [ptr], []
        assert flatten_functype(ft, "lift", ptr) == (tuple(lift_p), tuple(lift_r))
        assert flatten_functype(ft, "lower", ptr) == (tuple(lower_p), tuple(lower_r))

    p3 = (("a", U8), ("b", F32), ("c", F64))
    expect(FuncType(p3), ["i32", "f32", "f64"], [])
    expect(FuncType(p3, F32), ["i32", "f32", "f64"], ["f32"])
    expect(FuncType(p3, U8), ["i32", "f32", "f64"], ["i32"])
    expect(FuncType(p3, TupleType((F32,))), ["i32", "f32", "f64"], ["f32"])
    expect(FuncType(p3, TupleType((F32, F32))), ["i32", "f32", "f64"], ["f32", "f32"])
    p17 = tuple((f"p{i}", U8) for i in range(17))
    expect(FuncType(p17), ["i32"] * 17, [])
    expect(FuncType(p17, TupleType((U8, U8))), ["i32"] * 17, ["i32", "i32"])


ROUNDTRIPS = [
    (S8, -1),
    (TupleType((U16, U16)), (3, 4)),
    (ListType(STRING), ["hello there"]),
    (ListType(ListType(STRING)), [["one", "two"], ["three"]]),
    (ListType(OptionType(TupleType((STRING, U16)))), [("answer", 42)]),
    (VariantType((("x", TupleType((U32,) * 16 + (STRING,))),)), tuple(range(1, 17)) + ("wat",)),
]


@pytest.mark.parametrize("ptr", ["i32", "i64"])
@pytest.mark.parametrize("t, v", ROUNDTRIPS)
def test_roundtrip_through_a_lifted_identity_function(ptr, t, v):
    # A core function that returns its (flat or spilled) arguments unchanged, lifted as
    # (func (param t) (result t)) and called from Python: params spill beyond 16 flat values.
    heap = Heap(1000)
    opts = heap.options(ptr=ptr)
    ft = FuncType((("x", t),), t)
    flat_params, flat_results = flatten_functype(ft, "lift", ptr)
    nflat = len(abi.flatten_type(t, ptr))

    def core(*args):
        if nflat == 1:
            return args[0]
        # results spill: return a pointer to the value, stored as the params were
        if len(flat_params) == 1:       # params spilled too: the same layout
            return args[0]
        values = abi.lift_flat(t, args, opts)
        p = heap.realloc(0, 0, abi.alignment(t, ptr), abi.elem_size(t, ptr))
        abi.store(t, values, p, opts)
        return p
    f = abi.lift_function(ft, core, opts, abi.ComponentState())
    assert f(v) == v
