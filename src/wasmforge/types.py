"""Types of the WebAssembly 2.0 core language (spec 2.3).

Value types are plain strings internally (``"i32"``, ``"funcref"`` ...) so they are cheap to
compare and print.  :class:`ValType` is a ``str`` subclass with wasmtime-py's factory methods,
so ``ValType.i32() == "i32"`` holds and both worlds mix freely.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence, Tuple

from .errors import Handle, NotSupportedError

I32 = "i32"
I64 = "i64"
F32 = "f32"
F64 = "f64"
V128 = "v128"
FUNCREF = "funcref"
EXTERNREF = "externref"

NUM_TYPES = (I32, I64, F32, F64)
VEC_TYPES = (V128,)
REF_TYPES = (FUNCREF, EXTERNREF)
VAL_TYPES = NUM_TYPES + VEC_TYPES + REF_TYPES

# Binary encodings (spec 5.3.1 - 5.3.3).
VALTYPE_BYTE = {I32: 0x7F, I64: 0x7E, F32: 0x7D, F64: 0x7C, V128: 0x7B, FUNCREF: 0x70, EXTERNREF: 0x6F}
BYTE_VALTYPE = {b: t for t, b in VALTYPE_BYTE.items()}

MAX_PAGES = 65536          # 4 GiB of 64 KiB pages (spec 4.5.1: memory limits must be <= 2^16)
PAGE_SIZE = 65536


def is_num(t: str) -> bool:
    return t in NUM_TYPES


def is_ref(t: str) -> bool:
    return t in REF_TYPES


class ValType(str, Handle):
    """A value type.  Compares equal to its text name (``"i32"``)."""

    __slots__ = ()

    def __new__(cls, name: str) -> "ValType":
        if name not in VAL_TYPES:
            raise ValueError(f"unknown value type {name!r}")
        return str.__new__(cls, name)

    @classmethod
    def i32(cls) -> "ValType":
        return cls(I32)

    @classmethod
    def i64(cls) -> "ValType":
        return cls(I64)

    @classmethod
    def f32(cls) -> "ValType":
        return cls(F32)

    @classmethod
    def f64(cls) -> "ValType":
        return cls(F64)

    @classmethod
    def v128(cls) -> "ValType":
        return cls(V128)

    @classmethod
    def funcref(cls) -> "ValType":
        return cls(FUNCREF)

    @classmethod
    def externref(cls) -> "ValType":
        return cls(EXTERNREF)

    def __repr__(self) -> str:
        return f"ValType.{str(self)}()"


def _type_name(t: object) -> str:
    # A name is checked against VAL_TYPES where it is used (the API, the validator, with their
    # own messages); here only what is not a type name at all is refused, as wasmtime-py does.
    if not isinstance(t, str):
        raise TypeError(f"expected ValType, got {type(t).__name__}")
    return str(t)


class ValTypes(Tuple[str, ...]):
    """The parameter or result types of a FuncType: a tuple of type names (hashable, cheap to
    concatenate) that also equals a list of the same types, as wasmtime-py's lists do
    (``FuncType([ValType.i32()], []).params == [ValType.i32()]``; a ValType equals its name).
    The names stay the interned plain strings (``I32`` ...) the validator and the tiers
    compare by identity."""

    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        if isinstance(other, list):
            return tuple.__eq__(self, tuple(other))
        return tuple.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        return not self == other

    __hash__ = tuple.__hash__


@dataclass(frozen=True, init=False)
class FuncType(Handle):
    """A function type ``[params] -> [results]`` (spec 2.3.6)."""

    params: ValTypes
    results: ValTypes

    def __init__(self, params: Sequence[str] = (), results: Sequence[str] = ()):
        params = ValTypes(map(_type_name, params))
        results = ValTypes(map(_type_name, results))
        object.__setattr__(self, "params", params)
        object.__setattr__(self, "results", results)

    def __str__(self) -> str:
        return f"[{' '.join(self.params)}] -> [{' '.join(self.results)}]"


@dataclass(frozen=True)
class Limits(Handle):
    """Size bounds of a memory (in pages) or table (in elements) (spec 2.3.7)."""

    min: int
    max: Optional[int] = None

    def __str__(self) -> str:
        return f"{self.min}" if self.max is None else f"{self.min} {self.max}"


@dataclass(frozen=True, init=False)
class MemoryType(Handle):
    """A memory type: its limits in 64 KiB pages (spec 2.3.8).

    wasmtime-py's ``MemoryType(limits, is_64=False, shared=False, page_size_log2=16)``: the
    other values belong to the memory64, threads and custom-page-sizes proposals, not
    supported yet (NotSupportedError)."""

    limits: Limits

    def __init__(self, limits: Limits, is_64: bool = False, shared: bool = False, page_size_log2: int = 16):
        if not isinstance(limits, Limits):
            raise TypeError(f"expected Limits, got {type(limits).__name__}")
        for what, value, default in (("is_64", is_64, False), ("shared", shared, False),
                                     ("page_size_log2", page_size_log2, 16)):
            if value != default:
                raise NotSupportedError(f"MemoryType({what}={value!r}) is not supported yet: "
                                        "memory64, shared memories and custom page sizes are later issues")
        object.__setattr__(self, "limits", limits)

    @property
    def is_64(self) -> bool:
        return False

    @property
    def is_shared(self) -> bool:
        return False

    @property
    def page_size(self) -> int:
        return PAGE_SIZE

    @property
    def page_size_log2(self) -> int:
        return 16

    @property
    def minimum(self) -> int:
        return self.limits.min

    @property
    def maximum(self) -> Optional[int]:
        return self.limits.max


@dataclass(frozen=True, init=False)
class TableType(Handle):
    """A table type: element reference type and limits (spec 2.3.9).  The constructor's
    first argument is named ``valtype``, as in wasmtime-py."""

    element: str
    limits: Limits

    def __init__(self, valtype: str, limits: Limits):
        object.__setattr__(self, "element", valtype)
        object.__setattr__(self, "limits", limits)

    @property
    def minimum(self) -> int:
        return self.limits.min

    @property
    def maximum(self) -> Optional[int]:
        return self.limits.max


@dataclass(frozen=True, init=False)
class GlobalType(Handle):
    """A global type: value type and mutability (spec 2.3.10).  The constructor's first
    argument is named ``valtype``, as in wasmtime-py."""

    content: str
    mutable: bool

    def __init__(self, valtype: str, mutable: bool = False):
        object.__setattr__(self, "content", valtype)
        object.__setattr__(self, "mutable", mutable)


def limits_match(actual: Limits, expected: Limits) -> bool:
    """Import subtyping of limits (spec 4.5.2): actual must be at least as tight as expected."""
    if actual.min < expected.min:
        return False
    if expected.max is None:
        return True
    return actual.max is not None and actual.max <= expected.max


__all__ = [
    "I32", "I64", "F32", "F64", "V128", "FUNCREF", "EXTERNREF", "VAL_TYPES", "NUM_TYPES", "REF_TYPES",
    "ValType", "ValTypes", "FuncType", "Limits", "MemoryType", "TableType", "GlobalType", "limits_match",
    "PAGE_SIZE", "MAX_PAGES",
]
