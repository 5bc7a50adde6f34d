"""wasmtime-py's ``component.Func``: a component function export, called with Python values
(wasmtime-py's value mapping, :mod:`wasmforge.cm.abi.values`)."""

from __future__ import annotations

from typing import Any, Callable

from ..api.aio import call_async, claim, release
from ..cm import types as cm
from ..cm.abi.resources import Resource
from ..cm.abi.values import Record, Variant, is_tagged, python_cases, python_classes
from ..errors import ClosedError, Handle, WasmError
from ._resources import ResourceAny, ResourceHost
from ._types import FuncType

#: The classes whose values hold no resource handle (returned as they are).
_PLAIN = frozenset({int, str, float, bool, bytes, type(None)})


def to_abi(v: Any, store: Any) -> Any:
    """``v`` with each ResourceAny/ResourceHost in it replaced by the canonical ABI's handle."""
    cls = type(v)
    if cls in _PLAIN:
        return v
    if cls is ResourceAny:
        return v._r
    if cls is ResourceHost:
        return v.to_any(store)._r
    if cls is list:
        return [to_abi(e, store) for e in v]
    if cls is tuple:
        return tuple(to_abi(e, store) for e in v)
    if isinstance(v, Variant):
        return Variant(v.tag, to_abi(v.payload, store))
    if isinstance(v, Record):
        return Record(**{k: to_abi(e, store) for k, e in v.__dict__.items()})
    return v


def from_abi(v: Any) -> Any:
    """``v`` with each canonical ABI handle in it wrapped as a ResourceAny."""
    cls = type(v)
    if cls in _PLAIN:
        return v
    if cls is Resource:
        return ResourceAny._of(v)
    if cls is list:
        return [from_abi(e) for e in v]
    if cls is tuple:
        return tuple(from_abi(e) for e in v)
    if isinstance(v, Variant):
        return Variant(v.tag, from_abi(v.payload))
    if isinstance(v, Record):
        return Record(**{k: from_abi(e) for k, e in v.__dict__.items()})
    return v


def uses_resources(t: object) -> bool:
    """Whether the type ``t`` (a ``cm.types`` value or function type) holds a resource handle
    anywhere (then values are walked to convert handles; else they pass as they are)."""
    if t is None or isinstance(t, cm.Primitive):
        return False
    if isinstance(t, (cm.OwnType, cm.BorrowType)):
        return True
    if isinstance(t, cm.FuncType):
        return any(uses_resources(p) for _, p in t.params) or uses_resources(t.result)
    if isinstance(t, cm.RecordType):
        return any(uses_resources(f) for _, f in t.fields)
    if isinstance(t, cm.VariantType):
        return any(uses_resources(c) for _, c in t.cases)
    if isinstance(t, cm.TupleType):
        return any(uses_resources(e) for e in t.elements)
    if isinstance(t, (cm.ListType, cm.StreamType, cm.FutureType)):
        return uses_resources(t.element)
    if isinstance(t, cm.OptionType):
        return uses_resources(t.inner)
    if isinstance(t, cm.ResultType):
        return uses_resources(t.ok) or uses_resources(t.err)
    return False


def _consume(t: Any, v: Any, taken: "set[int]") -> None:
    """wasmtime-py's conversion of the arguments, before the call starts: a handle in an
    ``own`` position is consumed then, so one already consumed (or twice in the arguments)
    raises ClosedError (a ValueError, as wasmtime-py's "already closed") and the component is
    never entered.  ``v`` is in the canonical ABI's form (after :func:`to_abi`); a value of the
    wrong shape is left to the lowering to refuse."""
    if not uses_resources(t):
        return
    if isinstance(t, (cm.OwnType, cm.BorrowType)):
        if type(v) is Resource:
            if v.state is Resource.MOVED or id(v) in taken:
                raise ClosedError("resource handle already consumed: an owned handle passed to a "
                                  "component moves there once")
            if isinstance(t, cm.OwnType):
                taken.add(id(v))
        return
    if isinstance(t, cm.RecordType):
        for label, f in t.fields:
            _consume(f, getattr(v, label, None), taken)
    elif isinstance(t, cm.TupleType):
        if type(v) is tuple:
            for e, x in zip(t.elements, v):
                _consume(e, x, taken)
    elif isinstance(t, cm.ListType):
        if type(v) is list:
            for x in v:
                _consume(t.element, x, taken)
    elif isinstance(t, (cm.VariantType, cm.OptionType, cm.ResultType)):
        cases = python_cases(t)
        if is_tagged(t):
            if isinstance(v, Variant):
                c = dict(cases).get(v.tag)
                if c is not None:
                    _consume(c, v.payload, taken)
            return
        for _, c in cases:
            if c is not None and v is not None and isinstance(v, tuple(python_classes(c))):
                _consume(c, v, taken)
                return


class Func(Handle):
    """A component function of an instance (``Instance.get_func``)."""

    __slots__ = ("_f", "_store", "_plain")
    _f: Any
    _store: Any
    _plain: bool

    def __init__(self) -> None:
        raise WasmError("Cannot directly construct a `Func`")

    @classmethod
    def _of(cls, f: Any, store: Any) -> "Func":
        self = cls.__new__(cls)
        self._f, self._store = f, store
        self._plain = not uses_resources(f.type)
        return self

    def __call__(self, store: Any, *params: Any) -> Any:
        """Call with Python values; returns the result's Python value (None without result).
        Wrong arguments raise TypeError (WasmTypeError), a trap raises Trap; a call while
        another thread runs guest code in the store raises StoreBusyError."""
        st = self._store
        claimed = claim(st)
        try:
            f: Callable[..., Any] = self._f
            if self._plain:
                return f(*params)
            args = [to_abi(p, store) for p in params]
            taken: "set[int]" = set()
            for (_, t), a in zip(self._f.type.params, args):
                _consume(t, a, taken)
            return from_abi(f(*args))
        finally:
            if claimed:
                release(st)

    async def call_async(self, store: Any, *params: Any) -> Any:
        """``await func.call_async(store, *args)``: the call, run in a thread of its own so
        that the event loop keeps running meanwhile, also while the guest sleeps in
        ``wasi:io/poll``; its ``async def`` host functions run on this loop
        (:mod:`wasmforge.api.aio`)."""
        return await call_async(self._store, self.__call__, store, *params)

    def post_return(self, store: Any) -> None:
        """wasmtime-py's post-return step: here the canonical ABI's ``post-return`` already ran
        when the call returned (its results are Python values by then), so nothing is left."""

    def type(self, store: Any) -> FuncType:
        return FuncType._of(self._f.type)

    def __repr__(self) -> str:
        return f"<component Func {self._f.type}>"


__all__ = ["Func", "to_abi", "from_abi"]
