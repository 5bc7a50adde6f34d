"""The type classes of wasmtime-py's ``wasmtime.component``, over the resolved types of
:mod:`wasmforge.cm.types`.

Each class wraps one ``cm.types`` value (``_cm``) and answers wasmtime-py's accessors
(``ListType.element``, ``RecordType.fields``, ``EnumType.names`` ...).  Two wrappers are equal
when their types are (structural types structurally, resources by identity), as in wasmtime-py.
The primitive types are field-less dataclasses, made with ``Bool()`` as in wasmtime-py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Dict, List, Optional, Tuple, Union

from ..api.engine import Engine
from ..api.handles import ExportType, ImportType
from ..cm import types as cm
from ..errors import Handle, WasmError
from ..types import FuncType as CoreFuncType
from ..types import GlobalType, MemoryType, TableType
from ._resource_type import ResourceType


def _no_direct(name: str) -> WasmError:
    return WasmError(f"Cannot directly construct a `{name}`")


class ValType:
    """Base of the component value types."""

    _cm: ClassVar[Any]

    def _type(self) -> cm.ValType:
        """The ``cm.types`` value type this stands for."""
        return self._cm  # type: ignore[no-any-return]


@dataclass
class Bool(ValType):
    _cm: ClassVar[Any] = cm.BOOL


@dataclass
class S8(ValType):
    _cm: ClassVar[Any] = cm.S8


@dataclass
class S16(ValType):
    _cm: ClassVar[Any] = cm.S16


@dataclass
class S32(ValType):
    _cm: ClassVar[Any] = cm.S32


@dataclass
class S64(ValType):
    _cm: ClassVar[Any] = cm.S64


@dataclass
class U8(ValType):
    _cm: ClassVar[Any] = cm.U8


@dataclass
class U16(ValType):
    _cm: ClassVar[Any] = cm.U16


@dataclass
class U32(ValType):
    _cm: ClassVar[Any] = cm.U32


@dataclass
class U64(ValType):
    _cm: ClassVar[Any] = cm.U64


@dataclass
class F32(ValType):
    _cm: ClassVar[Any] = cm.F32


@dataclass
class F64(ValType):
    _cm: ClassVar[Any] = cm.F64


@dataclass
class Char(ValType):
    _cm: ClassVar[Any] = cm.CHAR


@dataclass
class String(ValType):
    _cm: ClassVar[Any] = cm.STRING


@dataclass
class ErrorContext(ValType):
    _cm: ClassVar[Any] = cm.ERROR_CONTEXT


_PRIMITIVES: Dict[str, type] = {c._cm.name: c for c in (Bool, S8, S16, S32, S64, U8, U16, U32, U64, F32, F64,
                                                       Char, String, ErrorContext)}


class _Wrapped(Handle, ValType):
    """A compound value type: wraps its ``cm.types`` value."""

    __slots__ = ("_t",)
    _t: Any

    def __init__(self) -> None:
        raise _no_direct(type(self).__name__)

    @classmethod
    def _of(cls, t: Any) -> Any:
        self = cls.__new__(cls)
        self._t = t
        return self

    def _type(self) -> cm.ValType:
        return self._t  # type: ignore[no-any-return]

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self._t == other._t

    def __hash__(self) -> int:
        return hash(self._t)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({cm.type_text(self._t)})"


class ListType(_Wrapped):
    @property
    def element(self) -> ValType:
        return valtype(self._t.element)


class RecordType(_Wrapped):
    @property
    def fields(self) -> List[Tuple[str, ValType]]:
        return [(n, valtype(t)) for n, t in self._t.fields]


class TupleType(_Wrapped):
    @property
    def elements(self) -> List[ValType]:
        return [valtype(t) for t in self._t.elements]


class VariantType(_Wrapped):
    @property
    def cases(self) -> List[Tuple[str, Optional[ValType]]]:
        return [(n, None if t is None else valtype(t)) for n, t in self._t.cases]


class EnumType(_Wrapped):
    @property
    def names_count(self) -> int:
        return len(self._t.labels)

    def name(self, n: int) -> Optional[str]:
        labels = self._t.labels
        return labels[n] if 0 <= n < len(labels) else None

    @property
    def names(self) -> List[str]:
        return list(self._t.labels)


class OptionType(_Wrapped):
    @property
    def payload(self) -> ValType:
        return valtype(self._t.inner)


class ResultType(_Wrapped):
    @property
    def ok(self) -> Optional[ValType]:
        return None if self._t.ok is None else valtype(self._t.ok)

    @property
    def err(self) -> Optional[ValType]:
        return None if self._t.err is None else valtype(self._t.err)


class FlagsType(_Wrapped):
    @property
    def names(self) -> List[str]:
        return list(self._t.labels)


class FutureType(_Wrapped):
    @property
    def payload(self) -> Optional[ValType]:
        return None if self._t.element is None else valtype(self._t.element)


class StreamType(_Wrapped):
    @property
    def payload(self) -> Optional[ValType]:
        return None if self._t.element is None else valtype(self._t.element)


@dataclass
class OwnType(ValType):
    ty: ResourceType

    def _type(self) -> cm.ValType:
        return cm.OwnType(self.ty._cm)


@dataclass
class BorrowType(ValType):
    ty: ResourceType

    def _type(self) -> cm.ValType:
        return cm.BorrowType(self.ty._cm)


_COMPOUND: Dict[type, type] = {
    cm.ListType: ListType, cm.RecordType: RecordType, cm.TupleType: TupleType, cm.VariantType: VariantType,
    cm.EnumType: EnumType, cm.OptionType: OptionType, cm.ResultType: ResultType, cm.FlagsType: FlagsType,
    cm.FutureType: FutureType, cm.StreamType: StreamType,
}


def valtype(t: Any) -> ValType:
    """The wasmtime-py value type class of the ``cm.types`` value type ``t``."""
    if isinstance(t, cm.Primitive):
        return _PRIMITIVES[t.name]()  # type: ignore[no-any-return]
    if isinstance(t, cm.OwnType):
        return OwnType(ResourceType._of(t.resource))
    if isinstance(t, cm.BorrowType):
        return BorrowType(ResourceType._of(t.resource))
    wrapper = _COMPOUND.get(type(t))
    if wrapper is None:
        raise WasmError(f"not a component value type: {t!r}")
    return wrapper._of(t)  # type: ignore[attr-defined,no-any-return]


class FuncType(Handle):
    """A component function's type: ``params`` (name, type) and ``result`` (or None)."""

    __slots__ = ("_t",)
    _t: cm.FuncType

    def __init__(self) -> None:
        raise _no_direct("FuncType")

    @classmethod
    def _of(cls, t: cm.FuncType) -> "FuncType":
        self = cls.__new__(cls)
        self._t = t
        return self

    @property
    def params(self) -> List[Tuple[str, ValType]]:
        return [(n, valtype(t)) for n, t in self._t.params]

    @property
    def result(self) -> Optional[ValType]:
        return None if self._t.result is None else valtype(self._t.result)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FuncType) and self._t == other._t

    def __hash__(self) -> int:
        return hash(self._t)

    def __repr__(self) -> str:
        return f"FuncType({cm.type_text(self._t)})"


class ComponentExtern(Handle):
    """The type of one import or export: ``ty`` (a :data:`ComponentItem`)."""

    __slots__ = ("_e",)
    _e: cm.Extern

    def __init__(self) -> None:
        raise _no_direct("ComponentExtern")

    @classmethod
    def _of(cls, e: cm.Extern) -> "ComponentExtern":
        self = cls.__new__(cls)
        self._e = e
        return self

    @property
    def ty(self) -> "ComponentItem":
        return item(self._e)

    @property
    def implements(self) -> Optional[str]:
        """The interface this item implements (component-model-implements: not recorded)."""
        return None

    def is_implements(self, s: str) -> bool:
        return False

    @property
    def external_id(self) -> Optional[str]:
        return None

    def __repr__(self) -> str:
        return f"ComponentExtern({cm.type_text(self._e)})"


def _externs(pairs: Tuple[Tuple[str, cm.Extern], ...]) -> Dict[str, ComponentExtern]:
    return {n: ComponentExtern._of(e) for n, e in pairs}


def _check_engine(engine: object) -> None:
    if not isinstance(engine, Engine):
        raise TypeError("expected an Engine")


class ComponentType(Handle):
    """A component's type: ``imports(engine)`` and ``exports(engine)``, name -> ComponentExtern."""

    __slots__ = ("_t", "_root")
    _t: cm.ComponentType
    _root: bool

    def __init__(self) -> None:
        raise _no_direct("ComponentType")

    @classmethod
    def _of(cls, t: cm.ComponentType, root: bool = False) -> "ComponentType":
        self = cls.__new__(cls)
        self._t = t
        self._root = root
        return self

    def imports(self, engine: Engine) -> Dict[str, ComponentExtern]:
        """The imports; of a compiled component (``Component.type``), as wasmtime lists them:
        without its imports of non-resource types (``(import "t" (type (eq $record)))``, as
        componentize-js writes for a world's types), which only describe and need nothing."""
        _check_engine(engine)
        if self._root:
            return _externs(tuple((n, e) for n, e in self._t.imports
                                  if e.sort != "type" or isinstance(e.type, cm.ResourceType)))
        return _externs(self._t.imports)

    def exports(self, engine: Engine) -> Dict[str, ComponentExtern]:
        _check_engine(engine)
        return _externs(self._t.exports)

    def __repr__(self) -> str:
        return f"ComponentType({cm.type_text(self._t)})"


class ComponentInstanceType(Handle):
    """An instance's type: ``exports(engine)``, name -> ComponentExtern."""

    __slots__ = ("_t",)
    _t: cm.InstanceType

    def __init__(self) -> None:
        raise _no_direct("ComponentInstanceType")

    @classmethod
    def _of(cls, t: cm.InstanceType) -> "ComponentInstanceType":
        self = cls.__new__(cls)
        self._t = t
        return self

    def exports(self, engine: Engine) -> Dict[str, ComponentExtern]:
        _check_engine(engine)
        return _externs(self._t.exports)

    def __repr__(self) -> str:
        return f"ComponentInstanceType({cm.type_text(self._t)})"


def _core_extern(e: cm.CoreExtern) -> Any:
    if isinstance(e.type, (CoreFuncType, GlobalType, MemoryType, TableType)):
        return e.type
    raise WasmError(f"a core {e.kind} import or export is not described by wasmtime-py's ModuleType")


class ModuleType(Handle):
    """A core module's type: ``imports(engine)`` (ImportType list) and ``exports(engine)``."""

    __slots__ = ("_t",)
    _t: cm.CoreModuleType

    def __init__(self) -> None:
        raise _no_direct("ModuleType")

    @classmethod
    def _of(cls, t: cm.CoreModuleType) -> "ModuleType":
        self = cls.__new__(cls)
        self._t = t
        return self

    def imports(self, engine: Engine) -> List[ImportType]:
        _check_engine(engine)
        return [ImportType(m, n, _core_extern(e)) for m, n, e in self._t.imports]

    def exports(self, engine: Engine) -> List[ExportType]:
        _check_engine(engine)
        return [ExportType(n, _core_extern(e)) for n, e in self._t.exports]


ComponentItem = Union[ComponentType, ModuleType, ComponentInstanceType, ResourceType, ValType, FuncType]


def item(e: cm.Extern) -> ComponentItem:
    """The wasmtime-py class of an import's or export's type."""
    t = e.type
    if e.sort == "func":
        return FuncType._of(t)  # type: ignore[arg-type]
    if e.sort == "component":
        return ComponentType._of(t)  # type: ignore[arg-type]
    if e.sort == "instance":
        return ComponentInstanceType._of(t)  # type: ignore[arg-type]
    if e.sort == "core module":
        return ModuleType._of(t)  # type: ignore[arg-type]
    if isinstance(t, cm.ResourceType):
        return ResourceType._of(t)
    if isinstance(t, cm.FuncType):
        return FuncType._of(t)
    return valtype(t)


__all__ = ["ValType", "Bool", "S8", "S16", "S32", "S64", "U8", "U16", "U32", "U64", "F32", "F64", "Char",
           "String", "ErrorContext", "ListType", "RecordType", "TupleType", "VariantType", "EnumType",
           "OptionType", "ResultType", "FlagsType", "FutureType", "StreamType", "OwnType", "BorrowType",
           "FuncType", "ComponentExtern", "ComponentType", "ComponentInstanceType", "ModuleType",
           "ComponentItem", "valtype", "item"]
