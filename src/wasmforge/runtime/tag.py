"""Tags and exceptions of the exception-handling proposal (runtime objects, both tiers).

A :class:`Tag` is a tag's identity: ``catch $t`` matches an exception whose tag *is* the
object ``$t`` resolves to (an imported tag is the exporter's object, so a tag keeps its
identity across modules and through the host).  The same class is wasmtime-py's ``Tag``
handle: ``Tag(store, TagType(FuncType([...], [])))`` makes a host tag that modules can import.

An :class:`Exn` is one thrown exception: its tag and payload.  It is also the value of an
``exnref``, so ``throw_ref`` of a caught exception rethrows that very object.  A host
function throws one with ``raise tag.exception([values])``
(:class:`~wasmforge.errors.WasmException` around a new Exn); one that no wasm handler catches
reaches the host as that error.
"""

from __future__ import annotations

from typing import Sequence

from ..errors import Handle, WasmError, WasmException
from ..numerics.bits import f32_round
from ..types import F32, F64, I32, I64, FuncType, TagType


class Tag(Handle):
    """A tag (spec 4.2 tag instance).  ``functype`` is its type: no results, the parameters
    are the payload of the exceptions it marks.  Module-defined tags are made by
    instantiation; ``Tag(store, TagType)`` makes a host tag (wasmtime-py's call shape)."""

    __slots__ = ("functype", "store", "__weakref__")

    def __init__(self, store, ty: TagType):
        if not isinstance(ty, TagType):
            raise TypeError(f"expected a TagType, got {type(ty).__name__}")
        self.functype = ty.functype
        self.store = store

    @classmethod
    def _new(cls, functype: FuncType, store=None) -> "Tag":
        self = cls.__new__(cls)
        self.functype = functype
        self.store = store
        return self

    def type(self, store=None) -> TagType:
        """The tag's type (wasmtime-py: ``tag.type(store)``)."""
        return TagType(self.functype)

    def eq(self, store, other: "Tag") -> bool:
        """Whether ``other`` is the same tag (same definition), as in wasmtime-py."""
        return other is self

    def exception(self, payload: Sequence = ()) -> WasmException:
        """A new exception of this tag with ``payload`` (one value per parameter of the tag
        type), as the error a host function raises to throw it into wasm."""
        params = self.functype.params
        payload = list(payload)
        if len(payload) != len(params):
            raise WasmError(f"the tag's payload has {len(params)} value(s), {len(payload)} given")
        return WasmException(Exn(self, tuple(_internal(t, v) for t, v in zip(params, payload))))

    def __repr__(self) -> str:
        return f"<Tag {self.functype}>"


def _internal(t: str, v):
    if t == I32:
        if not isinstance(v, int) or not -(1 << 31) <= v < (1 << 32):
            raise TypeError(f"expected an i32, got {v!r}")
        return v & 0xFFFFFFFF
    if t == I64:
        if not isinstance(v, int) or not -(1 << 63) <= v < (1 << 64):
            raise TypeError(f"expected an i64, got {v!r}")
        return v & 0xFFFFFFFFFFFFFFFF
    if t == F32:
        return f32_round(float(v))
    if t == F64:
        return float(v)
    return v


class Exn:
    """An exception (spec 4.2 exception instance): the tag it was thrown with and its payload
    ``values`` (a tuple in the tag type's parameter order, in the tiers' internal form)."""

    __slots__ = ("tag", "values")

    def __init__(self, tag: Tag, values: tuple):
        self.tag = tag
        self.values = values

    @property
    def payload(self) -> list:
        """The payload as the API gives values: i32 and i64 signed."""
        out = []
        for t, v in zip(self.tag.functype.params, self.values):
            if t == I32 and v & 0x80000000:
                v -= 1 << 32
            elif t == I64 and v & (1 << 63):
                v -= 1 << 64
            out.append(v)
        return out

    def __repr__(self) -> str:
        return f"<Exn {self.tag!r} payload={self.payload!r}>"


#: The runtime's name for a tag object.
TagInstance = Tag

__all__ = ["Tag", "TagInstance", "Exn"]
