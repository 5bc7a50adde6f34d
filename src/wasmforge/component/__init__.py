"""wasmtime-py's ``wasmtime.component`` (the component model), over :mod:`wasmforge.cm`.

One private module per public class, as wasmtime-py lays it out: ``_component`` (Component,
ExportIndex), ``_linker`` (Linker, LinkerInstance), ``_instance`` (Instance), ``_func`` (Func
and the value mapping of resource handles), ``_types`` (the type classes), ``_resource_type``
and ``_resources`` (ResourceType, ResourceAny, ResourceHost); ``Record`` and ``Variant`` are
the canonical ABI's values (:mod:`wasmforge.cm.abi.values`).  Instantiation is the component
runtime's (:mod:`wasmforge.cm.instance`).
"""

from __future__ import annotations

from typing import Tuple

from ..cm.abi.values import Record, Variant
from ._component import Component, ExportIndex
from ._func import Func
from ._instance import Instance
from ._linker import InstancePre as InstancePre, Linker, LinkerInstance  # InstancePre: an extension
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

__all__ = ["Component", "ExportIndex", "Linker", "LinkerInstance", "Instance", "Func", "ResourceType",
           "ResourceAny", "ResourceHost", "ComponentType", "ModuleType", "ComponentItem",
           "ComponentInstanceType", "FuncType", "ValType", "Bool", "U8", "U16", "U32", "U64", "S8",
           "S16", "S32", "S64", "F32", "F64", "Char", "String", "ErrorContext", "ListType", "RecordType",
           "TupleType", "VariantType", "EnumType", "OptionType", "ResultType", "FlagsType", "StreamType",
           "FutureType", "OwnType", "BorrowType", "Variant", "Record"]
# wasmforge's extension, importable but outside wasmtime-py's list: InstancePre
