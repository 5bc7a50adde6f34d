"""Component value constants of a script (``str.const``, ``record.const`` ...) as Python
values of a component type (wasmtime-py's mapping, :mod:`wasmforge.cm.abi.values`), and the
comparison of a lifted result with an expected constant (floats bit for bit; any NaN matches
a NaN, since lifting canonicalizes NaNs)."""

from __future__ import annotations

import math
from typing import Any, Optional

from ..cm.abi.values import Record, Variant, is_tagged, python_cases
from ..cm.types import (EnumType, FlagsType, ListType, OptionType, Primitive, RecordType, ResultType, TupleType,
                        ValType, VariantType)
from ..numerics.bits import f32_from_bits, f32_to_bits, f64_from_bits, f64_to_bits
from ..text import script as S


class ValueMismatch(Exception):
    """A constant does not fit the type it is given for."""


def _case_label(t: ValType, cv: S.CValue) -> tuple:
    """(Python tag, payload constant) of a variant-like constant."""
    if isinstance(t, OptionType):
        return ("none", None) if cv.value is None else ("some", cv.value)
    if isinstance(t, ResultType):
        ok, payload = cv.value      # type: ignore[misc]
        return ("ok" if ok else "err"), payload
    label, payload = cv.value       # type: ignore[misc]
    return label, payload


def _case_type(t: ValType, tag: str) -> Optional[ValType]:
    for n, c in python_cases(t):
        if n == tag:
            return c
    raise ValueMismatch(f"no case {tag!r} in {t}")


def to_python(cv: Any, t: Optional[ValType]) -> Any:
    """The Python value of the constant ``cv`` (a CValue, or a Const for f32/f64) for type ``t``."""
    if t is None:
        raise ValueMismatch("a value given where the type has none")
    if isinstance(cv, S.Const):
        if cv.type == "f32":
            return f32_from_bits(cv.value)
        if cv.type == "f64":
            return f64_from_bits(cv.value)
        return cv.value
    if not isinstance(cv, S.CValue):
        raise ValueMismatch(f"not a component value constant: {cv!r}")
    k, v = cv.kind, cv.value
    if isinstance(t, Primitive):
        if t.name == "string" and k == "str":
            return v
        if t.name == "char" and k == "char":
            return v
        if t.name == k:
            return v
        raise ValueMismatch(f"a {k} constant given for {t.name}")
    if isinstance(t, ListType):
        assert isinstance(v, tuple)
        items = [to_python(x, t.element) for x in v]
        if isinstance(t.element, Primitive) and t.element.name == "u8":
            return bytes(items)
        return items
    if isinstance(t, TupleType):
        assert isinstance(v, tuple)
        return tuple(to_python(x, e) for x, e in zip(v, t.elements))
    if isinstance(t, RecordType):
        assert isinstance(v, tuple)
        given = dict(v)
        return Record(**{n: to_python(given[n], f) for n, f in t.fields})
    if isinstance(t, FlagsType):
        assert isinstance(v, tuple)
        return set(v)
    if isinstance(t, EnumType):
        return v
    if isinstance(t, (VariantType, OptionType, ResultType)):
        tag, payload = _case_label(t, cv)
        ct = _case_type(t, tag)
        pv = None if payload is None or ct is None else to_python(payload, ct)
        if is_tagged(t):
            return Variant(tag, pv)
        return pv
    raise ValueMismatch(f"no constant form for {t}")


def _float_eq(expected: float, actual: Any, f32: bool) -> bool:
    if not isinstance(actual, float):
        return False
    if math.isnan(expected):
        return math.isnan(actual)
    if f32:
        return f32_to_bits(expected) == f32_to_bits(actual)
    return f64_to_bits(expected) == f64_to_bits(actual)


def matches(expected: Any, actual: Any, t: Optional[ValType]) -> bool:
    """Whether the lifted ``actual`` is the Python form of the constant ``expected`` of type ``t``."""
    if t is None:
        return False
    if isinstance(t, Primitive):
        if t.name in ("f32", "f64"):
            return _float_eq(to_python(expected, t), actual, t.name == "f32")
        want = to_python(expected, t)
        return type(want) is type(actual) and want == actual
    if isinstance(t, ListType):
        if not isinstance(expected, S.CValue) or expected.kind != "list":
            return False
        items = expected.value
        assert isinstance(items, tuple)
        if isinstance(actual, bytes):
            actual = list(actual)
        return (isinstance(actual, list) and len(actual) == len(items)
                and all(matches(e, a, t.element) for e, a in zip(items, actual)))
    if isinstance(t, TupleType):
        items = expected.value
        return (isinstance(actual, tuple) and len(actual) == len(items)
                and all(matches(e, a, et) for e, a, et in zip(items, actual, t.elements)))
    if isinstance(t, RecordType):
        given = dict(expected.value)
        return isinstance(actual, Record) and all(
            n in given and n in actual.__dict__ and matches(given[n], actual.__dict__[n], f) for n, f in t.fields)
    if isinstance(t, (VariantType, OptionType, ResultType)):
        tag, payload = _case_label(t, expected)
        ct = _case_type(t, tag)
        if is_tagged(t):
            if not isinstance(actual, Variant) or actual.tag != tag:
                return False
            actual = actual.payload
        elif ct is None:
            return actual is None
        if ct is None or payload is None:
            return actual is None
        return matches(payload, actual, ct)
    return bool(to_python(expected, t) == actual)
