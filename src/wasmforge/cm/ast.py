"""The component as the binary format defines it (component-model ``Binary.md``).

One plain data model shared by the binary decoder and encoder (``binary``), the text parser
(``text``) and the validator (``valid``).  It mirrors the binary format: types are named by
index, value types are a type index (``int``) or a primitive's name (``str``, e.g. ``"u32"``),
and a component is the ordered list of its definitions.  The binary's sections interleave and
every index space grows in order, so ``Component.definitions`` keeps them in order (custom
sections and the ``component-name`` section included, where they occurred).  Validation turns
this into the resolved types of ``types``.

Sorts are spelled as in the text format: ``"func"``, ``"value"``, ``"type"``, ``"component"``,
``"instance"``, and the core sorts ``"core func"``, ``"core table"``, ``"core memory"``,
``"core global"``, ``"core tag"``, ``"core type"``, ``"core module"``, ``"core instance"``.

Every node has an ``offset``: the byte offset in the binary it came from (``None`` for text or
built nodes), used by error messages and not part of equality.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple, Union

from ..module import Import as CoreImport
from ..module import Module

# ----- sorts (Binary.md "Instance Definitions") -----

CORE_FUNC = "core func"
CORE_TABLE = "core table"
CORE_MEMORY = "core memory"
CORE_GLOBAL = "core global"
CORE_TAG = "core tag"
CORE_TYPE = "core type"
CORE_MODULE = "core module"
CORE_INSTANCE = "core instance"
FUNC = "func"
VALUE = "value"
TYPE = "type"
COMPONENT = "component"
INSTANCE = "instance"

#: core:sort byte -> sort.
CORE_SORT_BYTES: Dict[int, str] = {
    0x00: CORE_FUNC, 0x01: CORE_TABLE, 0x02: CORE_MEMORY, 0x03: CORE_GLOBAL, 0x04: CORE_TAG,
    0x10: CORE_TYPE, 0x11: CORE_MODULE, 0x12: CORE_INSTANCE,
}
#: sort byte (after 0x00 comes a core:sort) -> sort.
SORT_BYTES: Dict[int, str] = {0x01: FUNC, 0x02: VALUE, 0x03: TYPE, 0x04: COMPONENT, 0x05: INSTANCE}
CORE_SORTS: Tuple[str, ...] = tuple(CORE_SORT_BYTES.values())
SORTS: Tuple[str, ...] = CORE_SORTS + tuple(SORT_BYTES.values())

#: A component value type as written: a type index, or a primitive's name (``types.PRIMITIVE_NAMES``).
ValType = Union[int, str]


def _offset() -> Optional[int]:
    return field(default=None, compare=False, kw_only=True)


@dataclass
class SortIdx:
    """``(sort idx)``: an index into one sort's index space."""

    sort: str
    idx: int
    offset: Optional[int] = _offset()


# ----- names (Binary.md "Import and Export Definitions") -----

# Attribute kinds of ``nameattributes`` form 0x02.
IMPLEMENTS = "implements"          # 0x00 interfacename
VERSION_SUFFIX = "versionsuffix"   # 0x01 semversuffix
EXTERNAL_ID = "external-id"        # 0x02 name

ATTRIBUTE_BYTES: Dict[int, str] = {0x00: IMPLEMENTS, 0x01: VERSION_SUFFIX, 0x02: EXTERNAL_ID}


@dataclass
class ExternName:
    """``nameattributes``: an ``externname`` and its attributes, in order.

    ``form`` is the binary's opcode (0x00, 0x01 — the redundant plain forms — or 0x02 with
    attributes); the text parser may leave it 0 (the encoder writes 0x02 when there are
    attributes)."""

    name: str
    attributes: List[Tuple[str, str]] = field(default_factory=list)
    form: int = field(default=0, compare=False)
    offset: Optional[int] = _offset()

    def attribute(self, kind: str) -> Optional[str]:
        """The value of the attribute ``kind`` (``IMPLEMENTS`` ...), or None."""
        for k, v in self.attributes:
            if k == kind:
                return v
        return None


# ----- core definitions -----

@dataclass
class CoreModule:
    """``(core module ...)``: a nested core module, decoded by the core decoder.  ``data`` keeps
    the module's bytes when it came from a binary, so it re-encodes byte for byte."""

    module: Module
    data: Optional[bytes] = field(default=None, compare=False)
    offset: Optional[int] = _offset()


@dataclass
class CoreInstantiateArg:
    """``(with "name" (instance i))``: ``sort`` is ``"core instance"`` in the MVP."""

    name: str
    sortidx: SortIdx
    offset: Optional[int] = _offset()


@dataclass
class CoreInstantiate:
    """``(core instance (instantiate m (with ...)*))``."""

    module: int
    args: List[CoreInstantiateArg] = field(default_factory=list)
    offset: Optional[int] = _offset()


@dataclass
class CoreInlineExport:
    name: str
    sortidx: SortIdx
    offset: Optional[int] = _offset()


@dataclass
class CoreInlineExports:
    """``(core instance (export "n" (func i)) ...)``: an instance made of existing definitions."""

    exports: List[CoreInlineExport] = field(default_factory=list)
    offset: Optional[int] = _offset()


CoreInstance = Union[CoreInstantiate, CoreInlineExports]


# ----- core types (Binary.md "Type Definitions", core:type) -----
#
# Core value types are spelled as the core decoder spells them ("i32", "funcref", ...).

@dataclass
class CoreFuncType:
    """``(func (param ...) (result ...))`` (comptype 0x60)."""

    params: List[str] = field(default_factory=list)
    results: List[str] = field(default_factory=list)
    offset: Optional[int] = _offset()


@dataclass
class CoreFieldType:
    """A struct field or array element: a storage type (a value type, ``"i8"`` or ``"i16"``)."""

    storage: str
    mutable: bool = False
    offset: Optional[int] = _offset()


@dataclass
class CoreStructType:
    """``(struct (field ...)*)`` (comptype 0x5f, WebAssembly 3.0)."""

    fields: List[CoreFieldType] = field(default_factory=list)
    offset: Optional[int] = _offset()


@dataclass
class CoreArrayType:
    """``(array (field ...))`` (comptype 0x5e, WebAssembly 3.0)."""

    element: CoreFieldType
    offset: Optional[int] = _offset()


CoreCompType = Union[CoreFuncType, CoreStructType, CoreArrayType]


@dataclass
class CoreSubType:
    """``(sub final? x* comptype)`` (WebAssembly 3.0).  ``explicit`` records that the binary
    wrote the ``sub`` prefix (0x4f final, or 0x00 0x50 non-final in a component) rather than
    the bare comptype, which abbreviates ``(sub final comptype)``."""

    comptype: CoreCompType
    final: bool = True
    supertypes: List[int] = field(default_factory=list)
    explicit: bool = field(default=False, compare=False)
    offset: Optional[int] = _offset()


@dataclass
class CoreRecType:
    """``(rec subtype*)`` (0x4e, WebAssembly 3.0)."""

    subtypes: List[CoreSubType] = field(default_factory=list)
    offset: Optional[int] = _offset()


@dataclass
class CoreOuterAlias:
    """``(alias outer ct idx (type))`` in a core module type (0x10 0x01)."""

    count: int
    idx: int
    sort: str = CORE_TYPE
    offset: Optional[int] = _offset()


@dataclass
class CoreExportDecl:
    """``(export "n" externtype)`` in a core module type.  ``kind`` and ``desc`` as in the core
    ``module.Import`` (a type index for a function or a tag, else the entity's type)."""

    name: str
    kind: str
    desc: object
    offset: Optional[int] = _offset()


# A core module type's declarators: core imports (``module.Import``), core types (only
# func/struct/array/sub/rec, never module types), outer type aliases and export decls.
CoreModuleDecl = Union[CoreImport, "CoreDefType", CoreOuterAlias, CoreExportDecl]


@dataclass
class CoreModuleType:
    """``(module decl*)`` (0x50): the type of a core module."""

    decls: List[CoreModuleDecl] = field(default_factory=list)
    offset: Optional[int] = _offset()


#: A ``core:type`` definition: a bare comptype abbreviates a one-type final rec group.
CoreDefType = Union[CoreFuncType, CoreStructType, CoreArrayType, CoreSubType, CoreRecType,
                    CoreModuleType]


# ----- component value types (defvaltype) -----

@dataclass
class PrimValTypeDef:
    """A defvaltype that is a primitive (``(type (u32))``)."""

    name: str
    offset: Optional[int] = _offset()


@dataclass
class RecordDef:
    fields: List[Tuple[str, ValType]] = field(default_factory=list)
    offset: Optional[int] = _offset()


@dataclass
class VariantDef:
    """Cases are ``(label, payload or None)``."""

    cases: List[Tuple[str, Optional[ValType]]] = field(default_factory=list)
    offset: Optional[int] = _offset()


@dataclass
class ListDef:
    """``(list t)``, or ``(list t len)`` (fixed length, 0x67)."""

    element: ValType
    length: Optional[int] = None
    offset: Optional[int] = _offset()


@dataclass
class TupleDef:
    types: List[ValType] = field(default_factory=list)
    offset: Optional[int] = _offset()


@dataclass
class FlagsDef:
    labels: List[str] = field(default_factory=list)
    offset: Optional[int] = _offset()


@dataclass
class EnumDef:
    labels: List[str] = field(default_factory=list)
    offset: Optional[int] = _offset()


@dataclass
class OptionDef:
    type: ValType
    offset: Optional[int] = _offset()


@dataclass
class ResultDef:
    ok: Optional[ValType] = None
    err: Optional[ValType] = None
    offset: Optional[int] = _offset()


@dataclass
class OwnDef:
    type: int
    offset: Optional[int] = _offset()


@dataclass
class BorrowDef:
    type: int
    offset: Optional[int] = _offset()


@dataclass
class StreamDef:
    type: Optional[ValType] = None
    offset: Optional[int] = _offset()


@dataclass
class FutureDef:
    type: Optional[ValType] = None
    offset: Optional[int] = _offset()


@dataclass
class MapDef:
    key: ValType
    value: ValType
    offset: Optional[int] = _offset()


DefValType = Union[PrimValTypeDef, RecordDef, VariantDef, ListDef, TupleDef, FlagsDef, EnumDef,
                   OptionDef, ResultDef, OwnDef, BorrowDef, StreamDef, FutureDef, MapDef]


@dataclass
class FuncTypeDef:
    """``(func async? (param "l" t)* (result t)?)`` (0x40, async 0x43)."""

    params: List[Tuple[str, ValType]] = field(default_factory=list)
    result: Optional[ValType] = None
    is_async: bool = False
    offset: Optional[int] = _offset()


@dataclass
class ResourceTypeDef:
    """``(resource (rep i32) (dtor f)?)`` (0x3f): ``dtor`` a core function index."""

    rep: str = "i32"
    dtor: Optional[int] = None
    offset: Optional[int] = _offset()


# ----- extern types and bounds -----

@dataclass
class Eq:
    """``(eq i)``: a type bound (type index) or a value bound (value index)."""

    idx: int
    offset: Optional[int] = _offset()


@dataclass
class SubResource:
    """``(sub resource)``: a fresh abstract resource type."""

    offset: Optional[int] = _offset()


@dataclass
class ExternDesc:
    """An ``externtype``.  ``sort`` is ``"core module"``, ``"func"``, ``"component"`` or
    ``"instance"`` with ``idx`` a (core) type index; ``"type"`` with ``bound`` an ``Eq`` (type
    index) or ``SubResource``; ``"value"`` with ``bound`` an ``Eq`` (value index) or a
    ``ValType``."""

    sort: str
    idx: Optional[int] = None
    bound: Union[Eq, SubResource, ValType, None] = None
    offset: Optional[int] = _offset()


@dataclass
class Import:
    """``(import "name" externtype)``, a definition and a component/component-type decl."""

    name: ExternName
    desc: ExternDesc
    offset: Optional[int] = _offset()


@dataclass
class ExportDecl:
    """``(export "name" externtype)`` in a component or instance type."""

    name: ExternName
    desc: ExternDesc
    offset: Optional[int] = _offset()


# ----- aliases -----

@dataclass
class AliasExport:
    """``(alias export i "n" (sort))``: ``instance`` a component instance index."""

    sort: str
    instance: int
    name: str
    offset: Optional[int] = _offset()


@dataclass
class AliasCoreExport:
    """``(alias core export i "n" (sort))``: ``instance`` a core instance index."""

    sort: str
    instance: int
    name: str
    offset: Optional[int] = _offset()


@dataclass
class AliasOuter:
    """``(alias outer ct idx (sort))``: ``count`` enclosing scopes out, index ``idx``."""

    sort: str
    count: int
    idx: int
    offset: Optional[int] = _offset()


Alias = Union[AliasExport, AliasCoreExport, AliasOuter]


# ----- component and instance types -----

# Declarators: core types (``CoreDefType``, decl 0x00), types (``TypeDef``, 0x01), aliases
# (0x02), imports (``Import``, 0x03, component types only) and exports (``ExportDecl``, 0x04).
Decl = Union["CoreDefType", "TypeDef", "Alias", Import, ExportDecl]


@dataclass
class ComponentTypeDef:
    """``(component decl*)`` (0x41)."""

    decls: List[Decl] = field(default_factory=list)
    offset: Optional[int] = _offset()


@dataclass
class InstanceTypeDef:
    """``(instance decl*)`` (0x42)."""

    decls: List[Decl] = field(default_factory=list)
    offset: Optional[int] = _offset()


#: A ``type`` definition (deftype).
TypeDef = Union[PrimValTypeDef, RecordDef, VariantDef, ListDef, TupleDef, FlagsDef, EnumDef,
                OptionDef, ResultDef, OwnDef, BorrowDef, StreamDef, FutureDef, MapDef,
                FuncTypeDef, ComponentTypeDef, InstanceTypeDef, ResourceTypeDef]


# ----- instances -----

@dataclass
class InstantiateArg:
    """``(with "name" (sort idx))``."""

    name: str
    sortidx: SortIdx
    offset: Optional[int] = _offset()


@dataclass
class Instantiate:
    """``(instance (instantiate c (with ...)*))``."""

    component: int
    args: List[InstantiateArg] = field(default_factory=list)
    offset: Optional[int] = _offset()


@dataclass
class InlineExport:
    name: ExternName
    sortidx: SortIdx
    offset: Optional[int] = _offset()


@dataclass
class InlineExports:
    """``(instance (export "n" (sort i)) ...)``."""

    exports: List[InlineExport] = field(default_factory=list)
    offset: Optional[int] = _offset()


Instance = Union[Instantiate, InlineExports]


# ----- canonical definitions -----

# Canon option kinds.
UTF8 = "utf8"
UTF16 = "utf16"
LATIN1_UTF16 = "latin1+utf16"
MEMORY = "memory"
REALLOC = "realloc"
POST_RETURN = "post-return"
ASYNC = "async"
CALLBACK = "callback"
CORE_TYPE_OPT = "core-type"     # (core-type t): the core function type of a GC lift/lower
GC = "gc"

#: canonopt byte -> kind; ``memory``, ``realloc``, ``post-return`` and ``callback`` carry an index.
CANONOPT_BYTES: Dict[int, str] = {0x00: UTF8, 0x01: UTF16, 0x02: LATIN1_UTF16, 0x03: MEMORY,
                                  0x04: REALLOC, 0x05: POST_RETURN, 0x06: ASYNC, 0x07: CALLBACK,
                                  0x08: CORE_TYPE_OPT, 0x09: GC}
CANONOPTS_WITH_INDEX = frozenset({MEMORY, REALLOC, POST_RETURN, CALLBACK, CORE_TYPE_OPT})


@dataclass
class CanonOpt:
    """One ``canonopt``: ``kind`` as above, ``idx`` the core memory or function index."""

    kind: str
    idx: Optional[int] = None
    offset: Optional[int] = _offset()


@dataclass
class CanonLift:
    """``(canon lift core_func opts (type t))``: defines a component function."""

    core_func: int
    opts: List[CanonOpt]
    type: int
    offset: Optional[int] = _offset()


@dataclass
class CanonLower:
    """``(canon lower func opts (core func))``: defines a core function."""

    func: int
    opts: List[CanonOpt] = field(default_factory=list)
    offset: Optional[int] = _offset()


@dataclass
class CanonResourceNew:
    type: int
    offset: Optional[int] = _offset()


@dataclass
class CanonResourceDrop:
    """``resource.drop`` (0x03); ``is_async`` for the async form (0x07)."""

    type: int
    is_async: bool = False
    offset: Optional[int] = _offset()


@dataclass
class CanonResourceRep:
    type: int
    offset: Optional[int] = _offset()


@dataclass
class CanonOther:
    """Any other canonical built-in (the async, stream, future, error-context and thread
    ones): its opcode, its name (``"task.return"`` ...) and its immediates in binary order.
    An immediate is an ``int`` (an index, or a flag byte), a ``str`` (a core value type), a
    ``List[CanonOpt]``, or for ``task.return`` the result (``ValType`` or None).  Every one
    defines a core function."""

    opcode: int
    name: str
    immediates: List[object] = field(default_factory=list)
    offset: Optional[int] = _offset()


Canon = Union[CanonLift, CanonLower, CanonResourceNew, CanonResourceDrop, CanonResourceRep,
              CanonOther]


# ----- start, exports, values -----

@dataclass
class Start:
    """``(start f (value arg)* (result (value))*)``: ``results`` is the result count."""

    func: int
    args: List[int] = field(default_factory=list)
    results: int = 0
    offset: Optional[int] = _offset()


@dataclass
class Export:
    """``(export "name" (sort idx) externtype?)``: also defines a new index in ``sort``."""

    name: ExternName
    sortidx: SortIdx
    desc: Optional[ExternDesc] = None
    offset: Optional[int] = _offset()


@dataclass
class ValueDef:
    """``(value t v)``: ``data`` the value's encoding ``val(t)``, kept as bytes (reading it
    needs the resolved type)."""

    type: ValType
    data: bytes
    offset: Optional[int] = _offset()


# ----- custom sections -----

@dataclass
class Custom:
    """A custom section, kept verbatim (including a ``component-name`` section that does not
    decode: engines must not reject it)."""

    name: str
    data: bytes
    offset: Optional[int] = _offset()


@dataclass
class ComponentNames:
    """The ``component-name`` section: the component's name and, per sort (in the order the
    subsections came), index -> name.  ``sorts`` is a list of ``(sort, {idx: name})``."""

    component: Optional[str] = None
    sorts: List[Tuple[str, Dict[int, str]]] = field(default_factory=list)
    offset: Optional[int] = _offset()

    def names(self, sort: str) -> Dict[int, str]:
        """The names given to ``sort`` (empty when none)."""
        for s, names in self.sorts:
            if s == sort:
                return names
        return {}


# ----- the component -----

#: One entry of ``Component.definitions``.
Definition = Union[CoreModule, CoreInstantiate, CoreInlineExports, CoreFuncType, CoreStructType,
                   CoreArrayType, CoreSubType, CoreRecType, CoreModuleType, "Component",
                   Instantiate, InlineExports, AliasExport, AliasCoreExport, AliasOuter,
                   PrimValTypeDef, RecordDef, VariantDef, ListDef, TupleDef, FlagsDef, EnumDef,
                   OptionDef, ResultDef, OwnDef, BorrowDef, StreamDef, FutureDef, MapDef,
                   FuncTypeDef, ComponentTypeDef, InstanceTypeDef, ResourceTypeDef,
                   CanonLift, CanonLower, CanonResourceNew, CanonResourceDrop, CanonResourceRep,
                   CanonOther, Start, Import, Export, ValueDef, Custom, ComponentNames]

#: The binary's section ids (Binary.md "Component Definitions").
SECTION_CUSTOM = 0
SECTION_CORE_MODULE = 1
SECTION_CORE_INSTANCE = 2
SECTION_CORE_TYPE = 3
SECTION_COMPONENT = 4
SECTION_INSTANCE = 5
SECTION_ALIAS = 6
SECTION_TYPE = 7
SECTION_CANON = 8
SECTION_START = 9
SECTION_IMPORT = 10
SECTION_EXPORT = 11
SECTION_VALUE = 12


@dataclass
class Component:
    """A component: its definitions, in order.

    ``section_starts`` (binary only, not part of equality) holds the indexes in
    ``definitions`` where the binary started a new section, so that consecutive definitions
    of one kind split over several sections re-encode as they came; without it the encoder
    puts each run of one section kind in one section.  ``version`` and ``layer`` are the
    preamble's (0x0d, 0x01)."""

    definitions: List[Definition] = field(default_factory=list)
    version: int = 0x0D
    layer: int = 0x01
    section_starts: List[int] = field(default_factory=list, compare=False)
    offset: Optional[int] = _offset()

    def of(self, cls: Union[type, Tuple[type, ...]]) -> List[Definition]:
        """The definitions that are instances of ``cls`` (a class or a tuple of classes)."""
        return [d for d in self.definitions if isinstance(d, cls)]

    @property
    def imports(self) -> List[Import]:
        return [d for d in self.definitions if isinstance(d, Import)]

    @property
    def exports(self) -> List[Export]:
        return [d for d in self.definitions if isinstance(d, Export)]

    @property
    def names(self) -> Optional[ComponentNames]:
        """The ``component-name`` section, if there is one that decoded."""
        for d in self.definitions:
            if isinstance(d, ComponentNames):
                return d
        return None


#: Definition class -> its section id (``Component`` nests in section 4).
SECTION_OF: Dict[type, int] = {
    CoreModule: SECTION_CORE_MODULE,
    CoreInstantiate: SECTION_CORE_INSTANCE, CoreInlineExports: SECTION_CORE_INSTANCE,
    Component: SECTION_COMPONENT,
    Instantiate: SECTION_INSTANCE, InlineExports: SECTION_INSTANCE,
    AliasExport: SECTION_ALIAS, AliasCoreExport: SECTION_ALIAS, AliasOuter: SECTION_ALIAS,
    CanonLift: SECTION_CANON, CanonLower: SECTION_CANON, CanonResourceNew: SECTION_CANON,
    CanonResourceDrop: SECTION_CANON, CanonResourceRep: SECTION_CANON, CanonOther: SECTION_CANON,
    Start: SECTION_START, Import: SECTION_IMPORT, Export: SECTION_EXPORT,
    ValueDef: SECTION_VALUE, Custom: SECTION_CUSTOM, ComponentNames: SECTION_CUSTOM,
}
_cls: type
for _cls in (CoreFuncType, CoreStructType, CoreArrayType, CoreSubType, CoreRecType,
             CoreModuleType):
    SECTION_OF[_cls] = SECTION_CORE_TYPE
for _cls in (PrimValTypeDef, RecordDef, VariantDef, ListDef, TupleDef, FlagsDef, EnumDef,
             OptionDef, ResultDef, OwnDef, BorrowDef, StreamDef, FutureDef, MapDef, FuncTypeDef,
             ComponentTypeDef, InstanceTypeDef, ResourceTypeDef):
    SECTION_OF[_cls] = SECTION_TYPE
del _cls


def sort_defined(d: object) -> Optional[str]:
    """The sort whose index space the definition ``d`` adds one index to (None for start,
    custom sections and names; a ``Start`` adds ``results`` values, see ``Start``)."""
    if isinstance(d, (Import, Export)):
        return d.sortidx.sort if isinstance(d, Export) else d.desc.sort
    if isinstance(d, (AliasExport, AliasCoreExport, AliasOuter)):
        return d.sort
    if isinstance(d, CanonLift):
        return FUNC
    if isinstance(d, (CanonLower, CanonResourceNew, CanonResourceDrop, CanonResourceRep,
                      CanonOther)):
        return CORE_FUNC
    if isinstance(d, ValueDef):
        return VALUE
    section = SECTION_OF.get(type(d))
    return {SECTION_CORE_MODULE: CORE_MODULE, SECTION_CORE_INSTANCE: CORE_INSTANCE,
            SECTION_CORE_TYPE: CORE_TYPE, SECTION_COMPONENT: COMPONENT,
            SECTION_INSTANCE: INSTANCE, SECTION_TYPE: TYPE}.get(section or -1)
