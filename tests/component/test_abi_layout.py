"""Alignment, size, discriminants and flattening, against the explainer's rules and examples,
and the Python form of values (wasmtime-py's mapping)."""

from __future__ import annotations

import pytest

from wasmforge.cm import abi
from wasmforge.cm.abi import Record, Variant
from wasmforge.cm.abi.values import is_tagged
from wasmforge.cm.types import (BOOL, CHAR, F32, F64, S8, STRING, U8, U16, U32, U64, BorrowType, EnumType,
                                FlagsType, ListType, OptionType, OwnType, RecordType, ResourceType, ResultType,
                                TupleType, VariantType)

R = ResourceType("r")


@pytest.mark.parametrize("t, align32, size32, align64, size64", [
    (BOOL, 1, 1, 1, 1), (U16, 2, 2, 2, 2), (F32, 4, 4, 4, 4), (U64, 8, 8, 8, 8), (CHAR, 4, 4, 4, 4),
    (STRING, 4, 8, 8, 16), (ListType(U64), 4, 8, 8, 16), (ListType(U16, 3), 2, 6, 2, 6),
    (ListType(STRING, 2), 4, 16, 8, 32),
    (RecordType((("a", U8), ("b", U16), ("c", U32))), 4, 8, 4, 8),
    (RecordType((("a", U8), ("b", U32), ("c", U8))), 4, 12, 4, 12),
    (TupleType((U8, U64)), 8, 16, 8, 16),
    (TupleType((STRING, U8)), 4, 12, 8, 24),
    (OptionType(U64), 8, 16, 8, 16), (OptionType(U8), 1, 2, 1, 2),
    (ResultType(None, None), 1, 1, 1, 1), (ResultType(STRING, U8), 4, 12, 8, 24),
    (EnumType(tuple(f"c{i}" for i in range(256))), 1, 1, 1, 1),
    (EnumType(tuple(f"c{i}" for i in range(257))), 2, 2, 2, 2),
    (VariantType(tuple((f"c{i}", U8) for i in range(257))), 2, 4, 2, 4),
    (FlagsType(tuple("abcdefgh")), 1, 1, 1, 1), (FlagsType(tuple("abcdefghi")), 2, 2, 2, 2),
    (FlagsType(tuple(f"f{i}" for i in range(17))), 4, 4, 4, 4),
    (FlagsType(tuple(f"f{i}" for i in range(32))), 4, 4, 4, 4),
    (OwnType(R), 4, 4, 4, 4), (BorrowType(R), 4, 4, 4, 4),
])
def test_alignment_and_size(t, align32, size32, align64, size64):
    assert (abi.alignment(t), abi.elem_size(t)) == (align32, size32)
    assert (abi.alignment(t, "i64"), abi.elem_size(t, "i64")) == (align64, size64)


def test_discriminant_and_flags_sizes():
    assert [abi.discriminant_size(n) for n in (1, 2, 256, 257, 65536, 65537)] == [1, 1, 1, 2, 2, 4]
    assert [abi.flags_size(n) for n in (1, 8, 9, 16, 17, 32)] == [1, 1, 2, 2, 4, 4]
    with pytest.raises(ValueError):
        abi.flags_size(33)


@pytest.mark.parametrize("t, flat", [
    (RecordType((("a", U8), ("b", F64), ("c", STRING))), ("i32", "f64", "i32", "i32")),
    (OptionType(STRING), ("i32", "i32", "i32")),
    (VariantType((("a", F32), ("b", U32))), ("i32", "i32")),          # f32 and i32 join to i32
    (VariantType((("a", F32), ("b", U64))), ("i32", "i64")),
    (VariantType((("a", F64), ("b", F32))), ("i32", "i64")),          # different floats join to i64
    (VariantType((("a", TupleType((F32, U8))), ("b", TupleType((U64,))))), ("i32", "i64", "i32")),
    (ResultType(None, None), ("i32",)),
    (EnumType(("a", "b")), ("i32",)),
    (FlagsType(tuple(f"f{i}" for i in range(32))), ("i32",)),
    (ListType(U8, 3), ("i32", "i32", "i32")),
    (ListType(F64), ("i32", "i32")),
])
def test_flattening(t, flat):
    assert abi.flatten_type(t) == flat


def test_flattening_with_64_bit_pointers():
    assert abi.flatten_type(STRING, "i64") == ("i64", "i64")
    assert abi.flatten_type(OptionType(ListType(U8)), "i64") == ("i32", "i64", "i64")


def test_python_form_follows_wasmtime_py():
    assert not is_tagged(OptionType(U32))                   # None or the int
    assert is_tagged(OptionType(OptionType(U32)))            # None would be ambiguous
    assert is_tagged(ResultType(STRING, STRING))
    assert not is_tagged(ResultType(U32, STRING))            # the int or the str
    assert is_tagged(ResultType(None, None))
    assert abi.lift_flat(ResultType(None, None), [1]) == Variant("err")
    assert abi.lift_flat(ResultType(U32, STRING), [0, 7, 0], abi.CanonOptions(memory=abi.BytesMemory(0))) == 7
    assert abi.lift_flat(OptionType(OptionType(U8)), [1, 0, 0]) == Variant("some", None)
    assert abi.lift_flat(EnumType(("x", "y")), [1]) == "y"
    assert abi.lift_flat(FlagsType(("x", "y")), [3]) == {"x", "y"}
    assert abi.lift_flat(CHAR, [0x1F600]) == "\U0001f600"
    assert abi.lift_flat(S8, [0xFF]) == -1


def test_record_fields_by_name_and_snake_case():
    r = abi.lift_flat(RecordType((("max-size", U32), ("x", BOOL))), [5, 1])
    assert isinstance(r, Record)
    assert getattr(r, "max-size") == 5 and r.max_size == 5 and r.x is True
    assert r == Record(**{"max-size": 5, "x": True})
    with pytest.raises(AttributeError):
        r.y
    # lowering reads fields by name, by snake_case name, or from a dict
    t = RecordType((("max-size", U32),))
    assert abi.lower_flat(t, Record(**{"max-size": 9})) == (9,)

    class Plain:
        max_size = 10
    assert abi.lower_flat(t, Plain()) == (10,)
    assert abi.lower_flat(t, {"max-size": 11}) == (11,)


def test_lists_of_bytes_are_bytes():
    heap = abi.BytesMemory(64)
    opts = abi.CanonOptions(memory=heap, realloc=lambda *a: 8)
    p, n = abi.lower_flat(ListType(U8), b"\x01\x02", opts)
    assert abi.lift_flat(ListType(U8), [p, n], opts) == b"\x01\x02"
    assert abi.lower_flat(ListType(U8), bytearray(b"\x03"), opts) == (8, 1)


def test_the_type_cache_answers_for_the_type_asked_when_a_dead_types_identity_is_reused():
    # an entry of a type that died must not answer for a new type given the same identity
    # (CPython reuses the address at once)
    from wasmforge.cm.abi.layout import type_cache
    made = []

    @type_cache
    def count(t):
        made.append(len(t.elements))
        return len(t.elements)
    ids = set()
    for k in range(1, 41):
        t = TupleType((U32,) * k)
        assert count(t) == k and count(t) == k
        ids.add(id(t))
        del t
    assert len(ids) < 40                        # identities were reused: the case was met
    assert made == list(range(1, 41))           # once per type: the second call a hit
    # an equal type of another identity shares the value-keyed entry while the first lives
    a, b = TupleType((U8, U32)), TupleType((U8, U32))
    assert a is not b and count(a) == count(b) == 2
    assert made[-1] == 2 and len(made) == 41


def test_the_type_cache_answers_right_under_threads():
    # serve's workers look types up at once, types dying and identities being reused meanwhile
    import sys
    import threading

    from wasmforge.cm.abi.layout import type_cache

    @type_cache
    def count(t):
        return len(t.elements)
    wrong = []
    raised = []

    def work(n):
        try:
            for k in range(1, 300):
                t = TupleType((U32,) * (1 + (k * n) % 23))
                if count(t) != len(t.elements):
                    wrong.append(t)
        except BaseException as e:      # (a thread's exception would only be printed)
            raised.append(e)
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        threads = [threading.Thread(target=work, args=(n,)) for n in range(1, 5)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
    finally:
        sys.setswitchinterval(interval)
    assert raised == [] and wrong == []


def test_a_structural_type_is_hashed_once_and_equal_types_hash_equal():
    # The types are frozen dataclasses whose hash walked the whole (nested) type at every
    # dictionary lookup: the canonical ABI's caches looked a host function's types up on each
    # call.  Each type keeps its hash now; a copy or a pickle does not carry it (a string's
    # hash differs between processes).
    import copy
    import pickle

    from wasmforge.cm.types import CoreExtern

    class Counted:
        hashed = 0

        def __hash__(self):
            Counted.hashed += 1
            return 7

    inner = CoreExtern("func", Counted())
    t = RecordType((("a", OptionType(ListType(U32))), ("b", VariantType((("x", None), ("y", STRING))))))
    assert hash(inner) == hash(inner) and Counted.hashed == 1
    same = RecordType((("a", OptionType(ListType(U32))), ("b", VariantType((("x", None), ("y", STRING))))))
    assert same is not t and same == t and hash(same) == hash(t)
    assert {t: 1}[same] == 1
    for other in (copy.copy(t), copy.deepcopy(t), pickle.loads(pickle.dumps(t))):
        assert other == t and hash(other) == hash(t)
    hash(t)
    assert "_hash" not in pickle.loads(pickle.dumps(t)).__dict__
