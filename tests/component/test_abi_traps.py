"""Every trap the canonical ABI defines for synchronous calls (values from core code and
memory), and the typed errors for bad values from the Python host."""

from __future__ import annotations

import struct

import pytest

from component.abi_support import Heap
from wasmforge.cm import abi
from wasmforge.cm.abi import CanonOptions, ComponentState, Record, Variant
from wasmforge.cm.types import (BOOL, CHAR, F32, S8, STRING, U8, U16, U32, EnumType, FlagsType, FuncType,
                                ListType, OptionType, RecordType, ResultType, TupleType, VariantType)
from wasmforge.errors import Trap, TrapCode, WasmError, WasmTypeError


def mem_opts(data, encoding="utf8"):
    return CanonOptions(encoding, abi.BytesMemory(bytes(data)))


@pytest.mark.parametrize("t, flat", [
    (VariantType((("a", U8), ("b", None))), [2, 0]),
    (EnumType(("a", "b", "c")), [3]),
    (OptionType(U8), [2, 0]),
    (ResultType(U8, None), [0xFFFFFFFF, 0]),
])
def test_bad_discriminant_traps(t, flat):
    with pytest.raises(Trap, match="invalid variant discriminant") as info:
        abi.lift_flat(t, flat)
    assert info.value.code is TrapCode.INVALID_DISCRIMINANT


def test_bad_discriminant_in_memory_traps():
    t = VariantType(tuple((f"c{i}", U8) for i in range(300)))        # a 2-byte discriminant
    with pytest.raises(Trap, match="300 out of range"):
        abi.load(t, 0, mem_opts(struct.pack("<HH", 300, 0)))
    assert abi.load(t, 0, mem_opts(struct.pack("<HBB", 299, 7, 0))) == Variant("c299", 7)


@pytest.mark.parametrize("bits", [0xD800, 0xDFFF, 0x110000, 0xFFFFFFFF])
def test_bad_char_traps(bits):
    with pytest.raises(Trap, match="invalid `char` bit pattern") as info:
        abi.lift_flat(CHAR, [bits])
    assert info.value.code is TrapCode.INVALID_CHAR
    with pytest.raises(Trap, match="invalid `char`"):
        abi.load(CHAR, 0, mem_opts(struct.pack("<I", bits)))


def test_string_traps():
    opts = mem_opts(b"ab\xff\xfe" + b"\xe2\x82" + b"\x00\xd8\x41\x00", "utf8")
    with pytest.raises(Trap, match="string content out-of-bounds") as info:
        abi.lift_flat(STRING, [8, 3], opts)
    assert info.value.code is TrapCode.STRING_OUT_OF_BOUNDS
    with pytest.raises(Trap, match="invalid utf-8"):
        abi.lift_flat(STRING, [0, 4], opts)
    with pytest.raises(Trap, match="incomplete utf-8 byte sequence"):
        abi.lift_flat(STRING, [4, 2], opts)
    with pytest.raises(Trap, match="exceeds maximum byte size"):
        abi.lift_flat(STRING, [0, 1 << 28], opts)
    u16 = CanonOptions("utf16", opts.memory)
    with pytest.raises(Trap, match="unaligned pointer") as info:
        abi.lift_flat(STRING, [1, 0], u16)              # even an empty string's pointer is checked
    assert info.value.code is TrapCode.UNALIGNED_POINTER
    with pytest.raises(Trap, match="unpaired surrogate"):
        abi.lift_flat(STRING, [6, 2], u16)              # U+D800 then 'A'
    with pytest.raises(Trap, match="exceeds maximum byte size"):
        abi.lift_flat(STRING, [0, 1 << 27], u16)        # 2**28 bytes
    compact = CanonOptions("latin1+utf16", opts.memory)
    assert abi.lift_flat(STRING, [0, 2], compact) == "ab"
    with pytest.raises(Trap, match="unaligned pointer"):
        abi.lift_flat(STRING, [1, 1], compact)          # latin1 strings are 2-aligned too
    with pytest.raises(Trap, match="unpaired surrogate"):
        abi.lift_flat(STRING, [6, 2 | 1 << 31], compact)


def test_list_traps():
    opts = mem_opts(bytes(16))
    with pytest.raises(Trap, match="unaligned pointer"):
        abi.lift_flat(ListType(U32), [2, 1], opts)
    with pytest.raises(Trap, match="list content out-of-bounds") as info:
        abi.lift_flat(ListType(U32), [8, 3], opts)
    assert info.value.code is TrapCode.LIST_OUT_OF_BOUNDS
    with pytest.raises(Trap, match="exceeds maximum byte size"):
        abi.lift_flat(ListType(U32), [0, 1 << 26], opts)
    assert abi.lift_flat(ListType(U32), [16, 0], opts) == []        # an empty list at the end


def test_realloc_result_is_checked():
    mem = abi.BytesMemory(64)
    with pytest.raises(Trap, match="realloc return: result not aligned"):
        abi.lower_flat(ListType(U32), [1], CanonOptions(memory=mem, realloc=lambda *a: 2))
    with pytest.raises(Trap, match="realloc return: beyond end of memory"):
        abi.lower_flat(STRING, "hello", CanonOptions(memory=mem, realloc=lambda *a: 60))


def test_spilled_pointers_are_checked():
    heap = Heap(64)
    opts = heap.options()
    many = tuple((f"p{i}", U32) for i in range(17))
    # canon lower with 17 flat params: one pointer to them, checked before reading.
    imp = abi.lower_function(FuncType(many), lambda *a: None, opts, ComponentState())
    with pytest.raises(Trap, match="unaligned pointer"):
        imp(2)
    with pytest.raises(Trap, match="out of bounds"):
        imp(8)
    # a result of two flat values: the lifted core function returns a pointer to it.
    ft = FuncType((), TupleType((U32, U32)))
    with pytest.raises(Trap, match="unaligned pointer"):
        abi.lift_function(ft, lambda: 2, opts, ComponentState())()
    with pytest.raises(Trap, match="out of bounds"):
        abi.lift_function(ft, lambda: 60, opts, ComponentState())()
    # canon lower's out-pointer for such a result.
    imp = abi.lower_function(ft, lambda: (1, 2), opts, ComponentState())
    with pytest.raises(Trap, match="unaligned pointer"):
        imp(6)
    imp(8)
    assert struct.unpack_from("<II", heap.memory.data, 8) == (1, 2)


@pytest.mark.parametrize("t, value, message", [
    (U8, 256, "out of the range of u8"),
    (S8, -129, "out of the range of s8"),
    (U32, "1", "expected an int for u32"),
    (BOOL, 1, "expected a bool"),
    (F32, "x", "expected a float"),
    (CHAR, "ab", "one character"),
    (CHAR, "\ud800", "surrogate"),
    (STRING, b"x", "expected a str"),
    (STRING, "a\udc00", "surrogate"),
    (ListType(U16), 5, "expected a list"),
    (ListType(U8), [1, 300], "from 0 to 255"),
    (TupleType((U8, U8)), (1,), "tuple of 2"),
    (RecordType((("x", U8),)), Record(y=1), "no field 'x'"),
    (FlagsType(("a",)), {"b"}, "'b' is not a flag"),
    (EnumType(("a",)), "z", "'z' is not a case"),
    (VariantType((("a", U8), ("b", U8))), Variant("c", 1), "'c' is not a case"),
    (VariantType((("a", U8), ("b", U8))), 1, "matches no case"),
    (OptionType(U8), "x", "matches no case"),
])
def test_bad_host_values_are_type_errors(t, value, message):
    heap = Heap(256)
    with pytest.raises(WasmTypeError, match=message):
        abi.lower_flat(t, value, heap.options())
    assert isinstance(WasmTypeError("x"), (WasmError, TypeError))


def test_missing_options_are_refused_when_the_adapter_is_made():
    ft = FuncType((("s", STRING),))
    with pytest.raises(WasmError, match="`memory` is required"):
        abi.lift_function(ft, lambda p, n: None, CanonOptions(), ComponentState())
    with pytest.raises(WasmError, match="`realloc` is required"):
        abi.lift_function(ft, lambda p, n: None, CanonOptions(memory=abi.BytesMemory(8)), ComponentState())
    # lowering a function that only takes a string needs no realloc: the caller's memory is read
    abi.lower_function(ft, lambda s: None, CanonOptions(memory=abi.BytesMemory(8)), ComponentState())


def test_wrong_number_of_arguments():
    f = abi.lift_function(FuncType((("a", U8),)), lambda a: None, CanonOptions(), ComponentState())
    with pytest.raises(WasmTypeError, match="given 2, expected 1"):
        f(1, 2)


@pytest.mark.parametrize("ptr, ok", [(56, True), (60, False), (64, False), (0xFFFFFFF8, False),
                                     (0xFFFFFFFC, False), (1 << 32, False)])
def test_a_pointer_is_checked_up_to_the_last_byte_with_no_wraparound(ptr, ok):
    # the adapters' inline check is check_range's: 8 bytes from 56 end at 64, the end of
    # memory; from 2**32 - 8 they end at 2**32, which does not wrap to 0
    heap = Heap(64)
    ft = FuncType((), TupleType((U32, U32)))
    imp = abi.lower_function(ft, lambda: (1, 2), heap.options(), ComponentState())
    lifted = abi.lift_function(ft, lambda: ptr, heap.options(), ComponentState())
    if ok:
        imp(ptr)
        assert struct.unpack_from("<II", heap.memory.data, ptr) == (1, 2) == lifted()
        return
    with pytest.raises(Trap, match="out of bounds memory access"):
        imp(ptr)
    with pytest.raises(Trap, match="out of bounds memory access"):
        lifted()
