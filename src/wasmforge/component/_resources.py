"""wasmtime-py's ``ResourceAny`` (a resource handle the host got from a component) and
``ResourceHost`` (a handle to a host-defined resource: a representation and a type number).

Both stand for the canonical ABI's :class:`~wasmforge.cm.abi.resources.Resource`, which is
what lifting gives and lowering takes; :meth:`ResourceHost.to_any` and
:meth:`ResourceAny.to_host` convert.
"""

from __future__ import annotations

from typing import Any

from ..cm.abi.resources import Resource
from ..errors import Handle, WasmError
from ._resource_type import ResourceType, host_number, host_resource


class ResourceAny(Handle):
    """A resource handle (owned or borrowed) held by the host."""

    __slots__ = ("_r",)
    _r: Resource

    def __init__(self) -> None:
        raise WasmError("Cannot directly construct a `ResourceAny`")

    @classmethod
    def _of(cls, r: Resource) -> "ResourceAny":
        self = cls.__new__(cls)
        self._r = r
        return self

    @property
    def type(self) -> ResourceType:
        return ResourceType._of(self._r.type)

    @property
    def owned(self) -> bool:
        return self._r.owned

    def drop(self, store: Any) -> None:
        """Drop the handle: an owned one runs the resource's destructor (which may run wasm)."""
        self._r.drop()

    def to_host(self, store: Any) -> "ResourceHost":
        """This handle as a :class:`ResourceHost`, which takes an owned resource over (this
        handle cannot be used again, as in wasmtime-py); WasmtimeError if its resource is not
        host-defined."""
        n = host_number(self._r.type)
        if n is None:
            raise WasmError("resource is not a host-defined resource")
        r = self._r
        r.check("convert")
        if r.owned:
            r.state = Resource.MOVED        # the host holds it now (wasmtime-py: the handle is gone)
        return ResourceHost._make(r.rep, n, r.owned)

    def __repr__(self) -> str:
        return f"ResourceAny({self._r!r})"


class ResourceHost(Handle):
    """A handle to a host-defined resource: ``rep`` (u32), ``type`` (the number given to
    :meth:`ResourceType.host`), ``owned``."""

    __slots__ = ("_rep", "_type", "_owned")
    _rep: int
    _type: int
    _owned: bool

    def __init__(self) -> None:
        raise WasmError("Cannot directly construct a `ResourceHost`")

    @classmethod
    def _make(cls, rep: int, ty: int, owned: bool) -> "ResourceHost":
        for what, v in (("rep", rep), ("ty", ty)):
            if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v <= 0xFFFFFFFF:
                raise TypeError(f"ResourceHost {what} must be a u32, not {v!r}")
        self = cls.__new__(cls)
        self._rep, self._type, self._owned = rep, ty, owned
        return self

    @classmethod
    def own(cls, rep: int, ty: int) -> "ResourceHost":
        return cls._make(rep, ty, True)

    @classmethod
    def borrow(cls, rep: int, ty: int) -> "ResourceHost":
        return cls._make(rep, ty, False)

    @property
    def rep(self) -> int:
        return self._rep

    @property
    def type(self) -> int:
        return self._type

    @property
    def owned(self) -> bool:
        return self._owned

    def to_any(self, store: Any) -> ResourceAny:
        return ResourceAny._of(Resource(host_resource(self._type), self._rep, self._owned))

    def __repr__(self) -> str:
        return f"ResourceHost({'own' if self._owned else 'borrow'} rep={self._rep} type={self._type})"


__all__ = ["ResourceAny", "ResourceHost"]
