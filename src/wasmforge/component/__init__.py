"""wasmtime-py's ``wasmtime.component`` (the component model): not supported yet.

The component model is a later issue of wasmforge.  Until then every public name of
wasmtime-py 50's ``wasmtime.component`` exists here, so that code importing them loads, and
using one (making it, or reaching a method such as ``Component.from_file``) raises
:class:`~wasmforge.errors.NotSupportedError` saying so, rather than failing on a missing name.
"""

from __future__ import annotations

from typing import Any, Dict, NoReturn, Tuple

from ..errors import NotSupportedError

#: The public names of wasmtime-py 50's ``wasmtime.component``, in its order.
NAMES: Tuple[str, ...] = (
    "Component", "ExportIndex", "Linker", "LinkerInstance", "Instance", "Func", "ResourceType",
    "ResourceAny", "ResourceHost", "ComponentType", "ModuleType", "ComponentItem",
    "ComponentInstanceType", "FuncType", "ValType", "Bool", "U8", "U16", "U32", "U64", "S8",
    "S16", "S32", "S64", "F32", "F64", "Char", "String", "ErrorContext", "ListType", "RecordType",
    "TupleType", "VariantType", "EnumType", "OptionType", "ResultType", "FlagsType", "StreamType",
    "FutureType", "OwnType", "BorrowType", "Variant", "Record",
)


def _refuse(what: str) -> NoReturn:
    raise NotSupportedError(f"wasmtime.component.{what} is not supported yet: the component model "
                            "is a later issue of wasmforge")


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
    for name in NAMES
}


def __getattr__(name: str) -> type:
    try:
        return _CLASSES[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None


__all__ = list(NAMES)
