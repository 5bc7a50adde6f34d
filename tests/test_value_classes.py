"""The classes that were ``@dataclass`` before the warm start's import diet (issue 10,
docs/performance.md, "Start-up, sixth pass") and are written out now: the frozen ones
(types.py, features.py's ``Feature``, wasi/config.py's ``Preopen``, on _frozen.py's
``Frozen``) and module.py's records keep what the decorator gave them and the tree relies on:
equality, hashing, repr, pickling, (im)mutability, keyword construction, fresh defaults."""

from __future__ import annotations

import copy
import pickle

import pytest

from wasmforge.features import FEATURES, Feature
from wasmforge.module import Custom, Data, Elem, Export, Global, Import, Memory, Module, Names, Table, Tag
from wasmforge.types import (ArrayType, FieldType, FuncType, GlobalType, Limits, MemoryType, StructType,
                             TableType, TagType)
from wasmforge.wasi.config import Preopen

FROZEN = [
    FuncType(["i32"], ["i64"]),
    FuncType(["i32"], [], heap="$t"),
    Limits(1, 2),
    MemoryType(Limits(1, 4), shared=True),
    TableType("funcref", Limits(0)),
    GlobalType("i32", True),
    TagType(FuncType(["i32"])),
    StructType([FieldType("i8", True)]),
    ArrayType(FieldType("i32")),
    FEATURES["extended-const"],
    Preopen("host", "guest", True),
]

RECORDS = [
    Import("m", "n", "func", 0),
    Export("f", "func", 1),
    Table(TableType("funcref", Limits(0))),
    Memory(MemoryType(Limits(1))),
    Tag(0),
    Global(GlobalType("i32"), []),
    Elem("funcref", [], func_indices=True),
    Data(b"x"),
    Names(module="m", funcs={0: "f"}),
    Custom("c", b"d", 3),
    Module(types=[FuncType([], [])], exports=[Export("f", "func", 0)], data_count=3),
]

_ids = lambda v: type(v).__name__  # noqa: E731


@pytest.mark.parametrize("value", FROZEN + RECORDS, ids=_ids)
def test_a_copy_and_a_pickled_copy_are_equal_to_the_original(value):
    assert copy.copy(value) == value
    assert copy.deepcopy(value) == value
    again = pickle.loads(pickle.dumps(value))
    assert again == value and type(again) is type(value)
    assert repr(again) == repr(value)


@pytest.mark.parametrize("value", FROZEN, ids=_ids)
def test_a_frozen_value_cannot_be_changed_and_hashes_by_its_fields(value):
    field = next(iter(vars(value)))
    with pytest.raises(AttributeError, match="cannot assign to field"):
        setattr(value, field, None)
    with pytest.raises(AttributeError, match="cannot delete field"):
        delattr(value, field)
    with pytest.raises(AttributeError):
        value.new_attribute = 1
    twin = copy.deepcopy(value)
    assert twin is not value and hash(twin) == hash(value)
    assert len({value, twin}) == 1 and {value: 1}[twin] == 1


@pytest.mark.parametrize("value", RECORDS, ids=_ids)
def test_a_record_is_mutable_and_unhashable(value):
    with pytest.raises(TypeError):
        hash(value)
    changed = copy.deepcopy(value)
    field = next(iter(vars(changed)))
    setattr(changed, field, "changed")
    assert getattr(changed, field) == "changed"
    assert changed != value


def test_equality_is_by_the_fields_and_the_class():
    assert FuncType(["i32"], ["i64"]) == FuncType(("i32",), ("i64",))
    assert FuncType(["i32"], []) != FuncType(["i64"], [])
    # GC proposal: a type of a recursive group is its own, distinct from a plain equal one.
    assert FuncType(["i32"], [], heap="$t") != FuncType(["i32"], [])
    assert Limits(1) == Limits(1, None) and Limits(1, 2) != Limits(1, 3)
    assert Limits(1, 2) != (1, 2) and Limits(1, 2) != MemoryType(Limits(1, 2))
    assert Preopen("a", "b") == Preopen("a", "b", False, False) != Preopen("a", "b", True)
    assert Export("f", "func", 0) == Export("f", "func", 0) != Export("f", "func", 1)
    assert Import("m", "n", "func", 0) != Export("n", "func", 0)


def test_a_spelling_or_a_position_takes_no_part_in_a_records_equality():
    assert Elem("funcref", [], func_indices=True) == Elem("funcref", [])
    assert Elem("funcref", [], table=1) != Elem("funcref", [])
    assert Module(data_count=3, binary_offset=8, code_section_offset=20, backtrace_details=True) == Module()
    assert Module(start=0) != Module()


def test_repr_is_the_dataclass_repr():
    assert repr(Limits(1, 2)) == "Limits(min=1, max=2)"
    # The heap form of a function type is not shown.
    assert repr(FuncType(["i32"], [], heap="$t")) == "FuncType(params=('i32',), results=())"
    assert repr(GlobalType("i32", True)) == "GlobalType(content='i32', mutable=True)"
    assert repr(Preopen("a", "b")) == "Preopen(host_path='a', guest_path='b', read_only=False, file_read_only=False)"
    assert repr(Feature("x", None, False, "t")) == "Feature(name='x', setting=None, implemented=False, title='t')"
    # Fields left out of equality are shown.
    assert repr(Elem("funcref", [], func_indices=True)) == \
        "Elem(type='funcref', init=[], mode='passive', table=0, offset=None, func_indices=True)"
    assert repr(Export("f", "func", 1)) == "Export(name='f', kind='func', index=1)"


def test_fields_are_keywords_and_defaults_are_fresh():
    assert Import(module="m", name="n", kind="func", desc=0) == Import("m", "n", "func", 0)
    assert Limits(min=1, max=3) == Limits(1, 3)
    assert Feature(name="x", setting=None, implemented=True, title="t").implemented is True
    assert Data(b"x", memory=1, mode="active", offset=[]).memory == 1
    a, b = Module(), Module()
    a.types.append(FuncType([], []))
    a.names.funcs[0] = "f"
    assert b.types == [] and b.names.funcs == {}
    assert Names().locals is not Names().locals
