"""wasmtime-py's ``wasmtime.component`` (the component model), over :mod:`wasmforge.cm`.

One private module per public class, as wasmtime-py lays it out: ``_component`` (Component,
ExportIndex), ``_types`` (the type classes), ``_resource_type`` and ``_resources``
(ResourceType, ResourceAny, ResourceHost); ``Record`` and ``Variant`` are the canonical ABI's
values (:mod:`wasmforge.cm.abi.values`).  A name whose part is not there yet (``NOT_YET``)
exists all the same, so that code importing it loads; making one, or reaching one of its
attributes, raises :class:`~wasmforge.errors.NotSupportedError` saying so.
"""

from __future__ import annotations

from typing import Any, Dict, NoReturn, Tuple

from ..cm.abi.values import Record, Variant
from ..errors import NotSupportedError
from ._component import Component, ExportIndex
from ._resource_type import ResourceType
from ._resources import ResourceAny, ResourceHost
from ._types import (F32, F64, S8, S16, S32, S64, U8, U16, U32, U64, Bool, BorrowType, Char, ComponentInstanceType,
                     ComponentItem, ComponentType, EnumType, ErrorContext, FlagsType, FuncType, FutureType, ListType,
                     ModuleType, OptionType, OwnType, RecordType, ResultType, StreamType, String, TupleType, ValType,
                     VariantType)

#: The public names of wasmtime-py 50's ``wasmtime.component``, in its order.
NAMES: Tuple[str, ...] = (
    "Component", "ExportIndex", "Linker", "LinkerInstance", "Instance", "Func", "ResourceType",
    "ResourceAny", "ResourceHost", "ComponentType", "ModuleType", "ComponentItem",
    "ComponentInstanceType", "FuncType", "ValType", "Bool", "U8", "U16", "U32", "U64", "S8",
    "S16", "S32", "S64", "F32", "F64", "Char", "String", "ErrorContext", "ListType", "RecordType",
    "TupleType", "VariantType", "EnumType", "OptionType", "ResultType", "FlagsType", "StreamType",
    "FutureType", "OwnType", "BorrowType", "Variant", "Record",
)


#: The names whose part is not there yet: instantiation waits for the component runtime.
NOT_YET: Tuple[str, ...] = ("Linker", "LinkerInstance", "Instance", "Func")


def _refuse(what: str) -> NoReturn:
    raise NotSupportedError(f"wasmtime.component.{what} is not supported yet: instantiating "
                            "components waits for the component runtime")


class _NotYetType(type):
    """Reaching a public attribute of a component-model class (``Component.from_file``)
    refuses too."""

    def __getattr__(cls, name: str) -> NoReturn:
        if name.startswith("_"):
            raise AttributeError(name)
        _refuse(f"{cls.__name__}.{name}")


class NotYet(metaclass=_NotYetType):
    """Base of the component-model names: each refuses to be made."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        _refuse(type(self).__name__)


_CLASSES: Dict[str, type] = {
    name: _NotYetType(name, (NotYet,), {"__module__": __name__,
                                        "__doc__": f"wasmtime-py's component.{name}: not supported yet."})
    for name in NOT_YET
}


def __getattr__(name: str) -> type:
    try:
        return _CLASSES[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None


__all__ = list(NAMES)

_ = (Component, ExportIndex, ResourceType, ResourceAny, ResourceHost, Record, Variant, F32, F64, S8, S16, S32,
     S64, U8, U16, U32, U64, Bool, BorrowType, Char, ComponentInstanceType, ComponentItem, ComponentType, EnumType,
     ErrorContext, FlagsType, FuncType, FutureType, ListType, ModuleType, OptionType, OwnType, RecordType,
     ResultType, StreamType, String, TupleType, ValType, VariantType)
