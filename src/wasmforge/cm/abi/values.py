"""How component values look in Python: wasmtime-py's mapping (``wasmtime.component``).

=================  ==========================================================================
bool, integers     ``bool``, ``int``;  ``f32``/``f64``: ``float``;  ``char``: a 1-character ``str``
string             ``str``
list<u8>           ``bytes``;  any other list: ``list``
tuple              ``tuple``
record             :class:`Record` (one attribute per field, under the field's name)
flags              ``set`` of the labels that are set
enum               the case's label, a ``str``
variant, option,   the payload alone when the cases' Python classes are all distinct (``None``
result             for a case without payload: ``option<u32>`` is ``None`` or an ``int``), else
                   :class:`Variant` ``(tag, payload)``; a result's cases are ``ok`` and ``err``
own, borrow        :class:`~wasmforge.cm.abi.resources.Resource`
=================  ==========================================================================

The "distinct classes" rule is wasmtime-py's (``VariantLikeType._tagged``), followed exactly so
that code written for wasmtime-py sees the same values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, FrozenSet, Optional, Tuple

from .layout import type_cache
from .resources import Resource
from ..types import (BorrowType, EnumType, FlagsType, ListType, OptionType, OwnType, Primitive, RecordType,
                     ResultType, TupleType, U8, ValType, VariantType)


class Record:
    """A record value: each field is an attribute named as in the type (``r.x``).  A field whose
    name has dashes is reached with ``getattr(r, "max-size")`` (wasmtime-py's way) or with
    underscores, ``r.max_size``."""

    def __init__(self, **fields: Any) -> None:
        self.__dict__.update(fields)

    def __getattr__(self, name: str) -> Any:
        # Only called when normal lookup failed: try the kebab-case spelling.
        kebab = name.replace("_", "-")
        d = self.__dict__
        if kebab != name and kebab in d:
            return d[kebab]
        raise AttributeError(f"record has no field {name!r}")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Record):
            return NotImplemented
        return self.__dict__ == other.__dict__

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return "Record(" + ", ".join(f"{k}={v!r}" for k, v in self.__dict__.items()) + ")"


@dataclass
class Variant:
    """A variant case with its payload (None when the case has none)."""

    tag: str
    payload: Optional[Any] = None


def result_tag(label: str) -> str:
    """The Python tag of a result case: the explainer's ``error`` is wasmtime-py's ``err``."""
    return "err" if label == "error" else label


class _Object:
    """Stands for ``object`` in a case's class set: the class of a case without payload."""


@type_cache
def python_classes(t: ValType) -> FrozenSet[type]:
    """The Python classes a value of ``t`` may have (wasmtime-py's ``add_classes``)."""
    if isinstance(t, Primitive):
        n = t.name
        if n == "bool":
            return frozenset({bool})
        if n in ("f32", "f64"):
            return frozenset({float})
        if n in ("char", "string"):
            return frozenset({str})
        return frozenset({int})
    if isinstance(t, ListType):
        return frozenset({bytes if t.element == U8 else list})
    if isinstance(t, RecordType):
        return frozenset({Record})
    if isinstance(t, TupleType):
        return frozenset({tuple})
    if isinstance(t, FlagsType):
        return frozenset({set})
    if isinstance(t, EnumType):
        return frozenset({str})
    if isinstance(t, (OwnType, BorrowType)):
        return frozenset({Resource})
    if isinstance(t, (VariantType, OptionType, ResultType)):
        if is_tagged(t):
            return frozenset({Variant})
        out: FrozenSet[type] = frozenset()
        for _, c in python_cases(t):
            out |= frozenset({_Object}) if c is None else python_classes(c)
        return out
    return frozenset({object})


def python_cases(t: ValType) -> Tuple[Tuple[str, Optional[ValType]], ...]:
    """The cases of a variant-like type with their Python tags (``ok``/``err`` for results)."""
    if isinstance(t, OptionType):
        return (("none", None), ("some", t.inner))
    if isinstance(t, ResultType):
        return (("ok", t.ok), ("err", t.err))
    if isinstance(t, VariantType):
        return t.cases
    raise TypeError(f"not a variant-like type: {t!r}")


@type_cache
def is_tagged(t: ValType) -> bool:
    """Whether values of the variant-like ``t`` are :class:`Variant` objects (two cases share a
    Python class) or bare payloads."""
    seen: FrozenSet[type] = frozenset()
    for _, c in python_cases(t):
        classes = frozenset({_Object}) if c is None else python_classes(c)
        if classes & seen:
            return True
        seen |= classes
    return False


def type_text(t: Optional[ValType]) -> str:
    """``t`` written as in WIT, for messages (``list<string>``, ``enum { a, b }`` ...)."""
    if t is None:
        return "_"
    if isinstance(t, Primitive):
        return t.name
    if isinstance(t, ListType):
        return f"list<{type_text(t.element)}" + (f", {t.length}>" if t.length is not None else ">")
    if isinstance(t, TupleType):
        return "tuple<" + ", ".join(type_text(e) for e in t.elements) + ">"
    if isinstance(t, OptionType):
        return f"option<{type_text(t.inner)}>"
    if isinstance(t, ResultType):
        return f"result<{type_text(t.ok)}, {type_text(t.err)}>"
    if isinstance(t, RecordType):
        return "record { " + ", ".join(f"{n}: {type_text(f)}" for n, f in t.fields) + " }"
    if isinstance(t, VariantType):
        return "variant { " + ", ".join(n + (f"({type_text(c)})" if c else "") for n, c in t.cases) + " }"
    if isinstance(t, EnumType):
        return "enum { " + ", ".join(t.labels) + " }"
    if isinstance(t, FlagsType):
        return "flags { " + ", ".join(t.labels) + " }"
    if isinstance(t, OwnType):
        return f"own<{t.resource.name or '?'}>"
    if isinstance(t, BorrowType):
        return f"borrow<{t.resource.name or '?'}>"
    return t.kind
