"""wasmtime-py's ``component.ResourceType``: a resource type, equal only to itself (or, for a
host resource made with :meth:`ResourceType.host`, to every host type of the same number)."""

from __future__ import annotations

from typing import Dict, Optional

from ..cm import types as cm
from ..errors import Handle, WasmError

#: The host resource types by their number (``ResourceType.host(n)`` is always the same type).
_HOST: Dict[int, cm.ResourceType] = {}
#: ... and the number of each (by identity).
_HOST_NUMBER: Dict[int, int] = {}


def host_resource(n: int) -> cm.ResourceType:
    """The ``cm.types`` resource type of the host resource numbered ``n``."""
    t = _HOST.get(n)
    if t is None:
        t = _HOST[n] = cm.ResourceType(f"host-{n}", host=True)
        _HOST_NUMBER[id(t)] = n
    return t


def host_number(t: cm.ResourceType) -> Optional[int]:
    """The number of a host resource type made by :func:`host_resource`, else None."""
    return _HOST_NUMBER.get(id(t)) if _HOST.get(_HOST_NUMBER.get(id(t), -1)) is t else None


class ResourceType(Handle):
    """A resource type (``_cm``: the ``cm.types.ResourceType``)."""

    __slots__ = ("_cm",)
    _cm: cm.ResourceType

    def __init__(self) -> None:
        raise WasmError("Cannot directly construct a `ResourceType`")

    @classmethod
    def _of(cls, t: cm.ResourceType) -> "ResourceType":
        self = cls.__new__(cls)
        self._cm = t
        return self

    @classmethod
    def host(cls, val: int) -> "ResourceType":
        """The host-defined resource type identified by the integer ``val``."""
        if not isinstance(val, int) or isinstance(val, bool) or not 0 <= val <= 0xFFFFFFFF:
            raise TypeError(f"a host resource type is identified by a u32, not {val!r}")
        return cls._of(host_resource(val))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ResourceType) and self._cm is other._cm

    def __hash__(self) -> int:
        return id(self._cm)

    def __repr__(self) -> str:
        return f"ResourceType({self._cm.name or '?'})"


__all__ = ["ResourceType", "host_resource", "host_number"]
