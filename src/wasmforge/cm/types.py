"""Component-model types after resolution: what the canonical ABI, linking and the API read.

The binary format names types by index (``ast``); validation resolves those indices into the
values defined here.  Structural types are frozen dataclasses, so two equal definitions compare
and hash equal wherever they came from.  Resource types are the exception: each definition (and
each ``(sub resource)`` import) is a fresh type, equal only to itself.

Names follow the explainer (``record``, ``variant``, ``own`` ...); the classes share the names of
wasmtime-py's ``wasmtime.component`` type classes where those exist.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from operator import attrgetter
from typing import Any, Callable, Dict, Optional, Tuple, Union


class _Structural:
    """Base of the structural types (frozen dataclasses): each keeps its hash once computed
    (:func:`_hash_once`), in a place its ``__dict__`` has from construction on (a key added
    later made every instance's dictionary its own, which cost more than the hash)."""

    __slots__ = ()

    def __post_init__(self) -> None:
        self.__dict__["_hash"] = None


class ValType(_Structural):
    """Base of every component value type."""

    __slots__ = ()

    @property
    def kind(self) -> str:
        """The explainer's name of this type's constructor (``"u32"``, ``"record"`` ...)."""
        raise NotImplementedError


@dataclass(frozen=True)
class Primitive(ValType):
    """``bool``, the integers, ``f32``/``f64``, ``char``, ``string``, ``error-context``."""

    name: str

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.name not in PRIMITIVE_NAMES:
            raise ValueError(f"not a primitive component value type: {self.name!r}")

    @property
    def kind(self) -> str:
        return self.name

    def __str__(self) -> str:
        return self.name


#: The primitive value types, in the binary format's order (0x7f down to 0x73, then 0x64).
PRIMITIVE_NAMES: Tuple[str, ...] = (
    "bool", "s8", "u8", "s16", "u16", "s32", "u32", "s64", "u64", "f32", "f64", "char", "string",
    "error-context",
)

BOOL = Primitive("bool")
S8 = Primitive("s8")
U8 = Primitive("u8")
S16 = Primitive("s16")
U16 = Primitive("u16")
S32 = Primitive("s32")
U32 = Primitive("u32")
S64 = Primitive("s64")
U64 = Primitive("u64")
F32 = Primitive("f32")
F64 = Primitive("f64")
CHAR = Primitive("char")
STRING = Primitive("string")
ERROR_CONTEXT = Primitive("error-context")

#: The integer types: name -> (bits, signed).
INTEGERS = {"s8": (8, True), "u8": (8, False), "s16": (16, True), "u16": (16, False),
            "s32": (32, True), "u32": (32, False), "s64": (64, True), "u64": (64, False)}


@dataclass(frozen=True)
class RecordType(ValType):
    """``(record (field "a" T) ...)``: one or more labelled fields, in order."""

    fields: Tuple[Tuple[str, ValType], ...]

    @property
    def kind(self) -> str:
        return "record"


@dataclass(frozen=True)
class VariantType(ValType):
    """``(variant (case "a" T?) ...)``: one or more labelled cases, each with an optional payload."""

    cases: Tuple[Tuple[str, Optional[ValType]], ...]

    @property
    def kind(self) -> str:
        return "variant"


@dataclass(frozen=True)
class ListType(ValType):
    """``(list T)``, or with ``length`` the fixed-length ``(list T N)``."""

    element: ValType
    length: Optional[int] = None

    @property
    def kind(self) -> str:
        return "list"


@dataclass(frozen=True)
class TupleType(ValType):
    """``(tuple T ...)``: one or more unlabelled elements."""

    elements: Tuple[ValType, ...]

    @property
    def kind(self) -> str:
        return "tuple"


@dataclass(frozen=True)
class FlagsType(ValType):
    """``(flags "a" ...)``: a set of labels (at most 32)."""

    labels: Tuple[str, ...]

    @property
    def kind(self) -> str:
        return "flags"


@dataclass(frozen=True)
class EnumType(ValType):
    """``(enum "a" ...)``: one label out of several."""

    labels: Tuple[str, ...]

    @property
    def kind(self) -> str:
        return "enum"


@dataclass(frozen=True)
class OptionType(ValType):
    """``(option T)``."""

    inner: ValType

    @property
    def kind(self) -> str:
        return "option"


@dataclass(frozen=True)
class ResultType(ValType):
    """``(result T? (error E)?)``: either payload may be absent."""

    ok: Optional[ValType] = None
    err: Optional[ValType] = None

    @property
    def kind(self) -> str:
        return "result"


class ResourceType:
    """A resource type: abstract, equal only to itself.

    ``rep`` is the core representation (``"i32"`` for every resource the MVP defines) and
    ``dtor`` the destructor (a callable, or None).  ``name`` only serves messages.  A resource
    imported as ``(sub resource)`` is a fresh ``ResourceType`` too; instantiation substitutes
    the one supplied.  ``host`` is set for resources a Python host defines.  ``impl`` is the
    run-time state of the component instance that defined it (the canonical ABI's
    ``ResourceType.impl``: a borrow lent to it is passed as the bare representation, and its
    destructor enters it); None for a host resource or before instantiation.
    """

    __slots__ = ("name", "rep", "dtor", "host", "impl", "__weakref__")

    def __init__(self, name: str = "", rep: str = "i32", dtor: object = None,
                 host: bool = False, impl: object = None) -> None:
        self.name = name
        self.rep = rep
        self.dtor = dtor
        self.host = host
        self.impl = impl

    def __repr__(self) -> str:
        return f"<ResourceType {self.name or '?'} at {id(self):#x}>"


@dataclass(frozen=True)
class OwnType(ValType):
    """``(own R)``: a handle that owns resource ``R``."""

    resource: ResourceType

    @property
    def kind(self) -> str:
        return "own"


@dataclass(frozen=True)
class BorrowType(ValType):
    """``(borrow R)``: a handle lent for the duration of a call."""

    resource: ResourceType

    @property
    def kind(self) -> str:
        return "borrow"


@dataclass(frozen=True)
class StreamType(ValType):
    """``(stream T?)`` (async, a later issue)."""

    element: Optional[ValType] = None

    @property
    def kind(self) -> str:
        return "stream"


@dataclass(frozen=True)
class FutureType(ValType):
    """``(future T?)`` (async, a later issue)."""

    element: Optional[ValType] = None

    @property
    def kind(self) -> str:
        return "future"


@dataclass(frozen=True)
class FuncType(_Structural):
    """``(func (param "a" T) ... (result T)?)``; ``is_async`` for ``(func async ...)``."""

    params: Tuple[Tuple[str, ValType], ...]
    result: Optional[ValType] = None
    is_async: bool = False


AnyValType = Union[Primitive, RecordType, VariantType, ListType, TupleType, FlagsType, EnumType,
                   OptionType, ResultType, OwnType, BorrowType, StreamType, FutureType]


def despecialize(t: ValType) -> ValType:
    """The canonical ABI's despecialisation: tuple, enum, option and result become the record or
    variant they abbreviate.  (flags stay flags.)"""
    if isinstance(t, TupleType):
        return RecordType(tuple((str(i), e) for i, e in enumerate(t.elements)))
    if isinstance(t, EnumType):
        return VariantType(tuple((label, None) for label in t.labels))
    if isinstance(t, OptionType):
        return VariantType((("none", None), ("some", t.inner)))
    if isinstance(t, ResultType):
        return VariantType((("ok", t.ok), ("error", t.err)))
    return t


def children(t: object) -> Tuple[Optional[ValType], ...]:
    """The types directly inside a value or function type, in order (an absent payload or
    result as None); none for primitives, flags, enums and handles."""
    if isinstance(t, RecordType):
        return tuple(f for _, f in t.fields)
    if isinstance(t, VariantType):
        return tuple(c for _, c in t.cases)
    if isinstance(t, TupleType):
        return t.elements
    if isinstance(t, (ListType, StreamType, FutureType)):
        return (t.element,)
    if isinstance(t, OptionType):
        return (t.inner,)
    if isinstance(t, ResultType):
        return (t.ok, t.err)
    if isinstance(t, FuncType):
        return tuple(p for _, p in t.params) + (t.result,)
    return ()


def contains_borrow(t: Optional[ValType]) -> bool:
    """Whether ``t`` uses ``borrow`` anywhere (forbidden in results and exported value types)."""
    if isinstance(t, BorrowType):
        return True
    return any(contains_borrow(c) for c in children(t))


# ----- extern types: what validation gives each import and export (and each index space) -----

@dataclass(frozen=True)
class CoreExtern(_Structural):
    """A core entity's type: ``kind`` is ``"func"``, ``"table"``, ``"memory"``, ``"global"`` or
    ``"tag"``, ``type`` the core ``FuncType`` / ``TableType`` / ``MemoryType`` / ``GlobalType``
    (a tag: its ``FuncType``)."""

    kind: str
    type: object


@dataclass(frozen=True)
class CoreModuleType(_Structural):
    """A core module's type: its imports ``(module, name, CoreExtern)`` and exports, in order."""

    imports: Tuple[Tuple[str, str, CoreExtern], ...]
    exports: Tuple[Tuple[str, CoreExtern], ...]


@dataclass(frozen=True)
class Extern(_Structural):
    """The type of a component import or export (or of an index-space entry).  ``sort`` is
    ``"func"`` (``type`` a ``FuncType``), ``"value"`` (a ``ValType``), ``"type"`` (the type
    itself: a ``ValType``, ``FuncType``, ``ResourceType``, ``ComponentType`` or
    ``InstanceType``), ``"component"``, ``"instance"`` or ``"core module"``."""

    sort: str
    type: object


@dataclass(frozen=True)
class InstanceType(_Structural):
    """``(instance (export ...)*)``: named exports in order.  ``defined`` lists the abstract
    resource types its ``(export "r" (type (sub resource)))`` declarations introduce: each
    import or export of an instance of this type gets fresh ones."""

    exports: Tuple[Tuple[str, Extern], ...]
    defined: Tuple[ResourceType, ...] = ()

    def export(self, name: str) -> Optional[Extern]:
        for n, e in self.exports:
            if n == name:
                return e
        return None


@dataclass(frozen=True)
class ComponentType(_Structural):
    """A component's type: imports and exports in order.  ``imported`` are the resource types
    its imports introduce (instantiation substitutes the arguments' ones), ``defined`` the
    resource types it defines and exports (fresh for each instance)."""

    imports: Tuple[Tuple[str, Extern], ...]
    exports: Tuple[Tuple[str, Extern], ...]
    imported: Tuple[ResourceType, ...] = ()
    defined: Tuple[ResourceType, ...] = ()

    def import_(self, name: str) -> Optional[Extern]:
        for n, e in self.imports:
            if n == name:
                return e
        return None

    def export(self, name: str) -> Optional[Extern]:
        for n, e in self.exports:
            if n == name:
                return e
        return None


# ----- hashing: once per type -----

#: A structural type's class -> what its hash reads: the fields its equality compares.
_HASHED: Dict[type, Callable[[Any], Any]] = {}


def _hash_once(self: Any) -> int:
    """A structural type's hash, computed on its first use and kept with it: the types are
    immutable and nested (a record of lists of variants of ...), and the dataclass's own hash
    walked the whole type at every dictionary lookup (the canonical ABI's caches look a host
    function's types up on every call).  It hashes the fields equality compares, as the
    dataclass's did, so equal types hash equal wherever they were made."""
    d = self.__dict__
    h = d.get("_hash")
    if h is None:
        h = d["_hash"] = hash(_HASHED[type(self)](self))
    return h  # type: ignore[no-any-return]


def _state(self: Any) -> Dict[str, Any]:
    """What a copy or a pickle of a structural type holds: its fields, not the kept hash (a
    string's hash differs between processes)."""
    state = dict(self.__dict__)
    state.pop("_hash", None)
    return state


for _cls in (Primitive, RecordType, VariantType, ListType, TupleType, FlagsType, EnumType,
             OptionType, ResultType, OwnType, BorrowType, StreamType, FutureType, FuncType,
             CoreExtern, CoreModuleType, Extern, InstanceType, ComponentType):
    # (one field: its value; more: the tuple of their values, as the dataclass's own hash)
    _HASHED[_cls] = attrgetter(*[f.name for f in fields(_cls) if f.compare and f.hash is not False])
    setattr(_cls, "__hash__", _hash_once)
    setattr(_cls, "__getstate__", _state)
del _cls


def type_text(t: object) -> str:
    """A resolved type in the component text format's syntax (``(func (param "x" u32))``,
    ``(list string)`` ...); resources print as ``(resource "name")`` (or ``resource``)."""
    if t is None:
        return "_"
    if isinstance(t, Primitive):
        return t.name
    if isinstance(t, ResourceType):
        return f'(resource "{t.name}")' if t.name else "resource"
    if isinstance(t, RecordType):
        return "(record" + "".join(f' (field "{n}" {type_text(f)})' for n, f in t.fields) + ")"
    if isinstance(t, VariantType):
        return "(variant" + "".join(
            f' (case "{n}")' if c is None else f' (case "{n}" {type_text(c)})'
            for n, c in t.cases) + ")"
    if isinstance(t, ListType):
        return (f"(list {type_text(t.element)})" if t.length is None
                else f"(list {type_text(t.element)} {t.length})")
    if isinstance(t, TupleType):
        return "(tuple" + "".join(" " + type_text(e) for e in t.elements) + ")"
    if isinstance(t, FlagsType):
        return "(flags" + "".join(f' "{n}"' for n in t.labels) + ")"
    if isinstance(t, EnumType):
        return "(enum" + "".join(f' "{n}"' for n in t.labels) + ")"
    if isinstance(t, OptionType):
        return f"(option {type_text(t.inner)})"
    if isinstance(t, ResultType):
        out = "(result"
        if t.ok is not None:
            out += " " + type_text(t.ok)
        if t.err is not None:
            out += f" (error {type_text(t.err)})"
        return out + ")"
    if isinstance(t, (OwnType, BorrowType)):
        return f"({t.kind} {type_text(t.resource)})"
    if isinstance(t, (StreamType, FutureType)):
        return f"({t.kind})" if t.element is None else f"({t.kind} {type_text(t.element)})"
    if isinstance(t, FuncType):
        out = "(func" + (" async" if t.is_async else "")
        out += "".join(f' (param "{n}" {type_text(p)})' for n, p in t.params)
        if t.result is not None:
            out += f" (result {type_text(t.result)})"
        return out + ")"
    if isinstance(t, Extern):
        if t.sort == "type":
            return f"(type {type_text(t.type)})"
        return type_text(t.type)
    if isinstance(t, InstanceType):
        return "(instance" + "".join(f' (export "{n}" {type_text(e)})'
                                     for n, e in t.exports) + ")"
    if isinstance(t, ComponentType):
        return ("(component" + "".join(f' (import "{n}" {type_text(e)})' for n, e in t.imports)
                + "".join(f' (export "{n}" {type_text(e)})' for n, e in t.exports) + ")")
    if isinstance(t, CoreModuleType):
        return ("(core module" + "".join(f' (import "{m}" "{n}" ({e.kind}))'
                                         for m, n, e in t.imports)
                + "".join(f' (export "{n}" ({e.kind}))' for n, e in t.exports) + ")")
    return str(t)
