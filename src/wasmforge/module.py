"""The decoded module: one plain data model shared by the binary decoder, the text parser,
the encoder, the printer, the validator and both execution tiers (spec 2.5).

An instruction is a tuple ``(op, *immediates)`` where ``op`` is an :class:`~wasmforge.opcodes.Op`
and the immediates follow the table in :mod:`wasmforge.opcodes`.  A function body or constant
expression is a flat list of instructions, as in the binary format: ``block``/``loop``/``if``
open a structure, ``else`` and ``end`` appear as instructions of their own, and every body and
expression ends with its final ``end``.

Index spaces follow the specification: imported functions (tables, memories, globals) come
first, then the module's own definitions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Iterator, List, Optional, Tuple, Union

from .types import HEAP_FEATURE, FuncType, GlobalType, MemoryType, TableType, close_types, ref_parts

Instr = tuple
Expr = List[Instr]

# External kinds, as spelled in the text format and in the API.
FUNC, TABLE, MEMORY, GLOBAL = "func", "table", "memory", "global"
TAG = "tag"                     # exception-handling proposal
EXTERN_KINDS = (FUNC, TABLE, MEMORY, GLOBAL, TAG)


@dataclass
class Import:
    """``(import "module" "name" desc)``; ``desc`` is a type index for a function or a tag,
    else the entity's TableType / MemoryType / GlobalType."""

    module: str
    name: str
    kind: str
    desc: Union[int, TableType, MemoryType, GlobalType]


@dataclass
class Export:
    name: str
    kind: str
    index: int


class Func:
    """A function defined by the module: its type index, its declared locals (one value type
    per local, parameters excluded) and its body.

    The body can be held decoded (``body``, a list of instructions) or as the raw bytes of the
    code section entry, decoded on demand; large modules use the latter so that validation
    can stream over instructions without keeping them all.  ``code_offset`` is the byte offset
    of the body's first instruction in the binary it came from (``None`` for text), and
    ``body_offset`` that of the body's start (its locals, right after the entry's size): the
    origin of wasmtime's ``Frame.func_offset``.
    """

    __slots__ = ("typeidx", "locals", "_body", "_code", "code_offset", "_decode", "body_offset")

    def __init__(self, typeidx: int, locals: Optional[list] = None, body: Optional[Expr] = None,
                 *, code=None, code_offset: Optional[int] = None, decode=None,
                 body_offset: Optional[int] = None):
        self.typeidx = typeidx
        self.locals = list(locals or [])
        self._body = body
        self._code = code
        self.code_offset = code_offset
        self._decode = decode
        self.body_offset = body_offset

    @property
    def body(self) -> Expr:
        """The instructions, decoded (and kept) on first use."""
        if self._body is None:
            self._body = list(self.iter_body())
        return self._body

    @body.setter
    def body(self, value: Expr) -> None:
        self._body = value
        self._code = None

    def iter_body(self) -> Iterator[Instr]:
        """Iterate the instructions without keeping a decoded copy."""
        if self._body is not None:
            return iter(self._body)
        return (instr for _, instr in self._decode(self._code, self.code_offset))

    def iter_with_offsets(self) -> Iterator[tuple]:
        """Iterate ``(offset, instr)`` pairs: byte offsets in the source binary while the body
        is still raw, else instruction indexes.  ``decode(code, code_offset)`` is the binary
        decoder's streaming body decoder, yielding exactly these pairs."""
        if self._body is not None:
            return enumerate(self._body)
        return self._decode(self._code, self.code_offset)

    def source_offset(self, position: int) -> int:
        """Map a position from :meth:`iter_with_offsets` to a byte offset in the source binary.

        Positions are already byte offsets while the body is raw.  For a decoded body they
        are instruction indexes; when the binary is still at hand (an eagerly decoded module
        keeps a view of its body) the index is turned into the instruction's byte offset by
        decoding again — only on this error-reporting path.  Text modules keep the index."""
        if self._body is None or self._code is None or self._decode is None:
            return position
        for i, (offset, _) in enumerate(self._decode(self._code, self.code_offset)):
            if i == position:
                return offset
        return position

    def instruction_offsets(self) -> Optional[List[int]]:
        """The byte offset in the source binary of each instruction (by index, as in
        :attr:`body`), or None when the body did not come from a binary.  Decodes the body
        again: for error and trap reports only."""
        if self._code is None or self._decode is None or self.code_offset is None:
            return None
        return [offset for offset, _ in self._decode(self._code, self.code_offset)]

    def __eq__(self, other) -> bool:
        if not isinstance(other, Func):
            return NotImplemented
        return (self.typeidx == other.typeidx and self.locals == other.locals
                and self.body == other.body)

    __hash__ = None

    def __repr__(self) -> str:
        n = len(self._body) if self._body is not None else "raw"
        return f"Func(typeidx={self.typeidx}, locals={self.locals!r}, body=<{n} instrs>)"


@dataclass
class Table:
    """A table; ``init`` is its initialiser expression (function-references: a table of a
    non-nullable type needs one), ``None`` for the 2.0 default of null."""

    type: TableType
    init: Optional[Expr] = None


@dataclass
class Memory:
    type: MemoryType


@dataclass
class Tag:
    """An exception tag (exception-handling proposal): the index of a function type whose
    parameters are the exception's payload and whose results are empty."""

    typeidx: int


@dataclass
class Global:
    type: GlobalType
    init: Expr


# Segment modes (spec 2.5.7, 2.5.8).
ACTIVE, PASSIVE, DECLARATIVE = "active", "passive", "declarative"


@dataclass
class Elem:
    """An element segment.  ``init`` holds one constant expression per element (a plain
    function-index vector in the binary is decoded to ``ref.func`` expressions), so the model
    does not depend on which of the eight binary encodings was used."""

    type: str
    init: List[Expr]
    mode: str = PASSIVE
    table: int = 0
    offset: Optional[Expr] = None
    # Written as a list of function indices (text ``func $f ...``, binary element kinds 0-3):
    # typed ``(ref func)`` under function-references, ``funcref`` in 2.0.  A spelling only,
    # so it takes no part in equality.
    func_indices: bool = field(default=False, compare=False)


@dataclass
class Data:
    """A data segment: its bytes, and for active segments the memory and offset expression."""

    init: bytes
    mode: str = PASSIVE
    memory: int = 0
    offset: Optional[Expr] = None


@dataclass
class Names:
    """The ``name`` custom section (spec 7.4.1, with the extended subsections for types,
    tables, memories, globals, element and data segments).  Maps are index -> name."""

    module: Optional[str] = None
    funcs: dict = field(default_factory=dict)
    locals: dict = field(default_factory=dict)      # funcidx -> {localidx: name}
    types: dict = field(default_factory=dict)
    tables: dict = field(default_factory=dict)
    memories: dict = field(default_factory=dict)
    globals: dict = field(default_factory=dict)
    elems: dict = field(default_factory=dict)
    datas: dict = field(default_factory=dict)

    def is_empty(self) -> bool:
        return self.module is None and not any(
            (self.funcs, self.locals, self.types, self.tables, self.memories,
             self.globals, self.elems, self.datas))


@dataclass
class Custom:
    """A custom section other than ``name``, kept verbatim.  ``after`` is the id of the known
    section it followed (0 when it came first), so the encoder can put it back in place."""

    name: str
    data: bytes
    after: int = 0


@dataclass
class Module:
    """A WebAssembly module as data.  It is not validated until :func:`wasmforge.valid.validate`
    runs on it; the runtime only executes validated modules."""

    types: List[FuncType] = field(default_factory=list)
    imports: List[Import] = field(default_factory=list)
    funcs: List[Func] = field(default_factory=list)
    tables: List[Table] = field(default_factory=list)
    mems: List[Memory] = field(default_factory=list)
    globals: List[Global] = field(default_factory=list)
    exports: List[Export] = field(default_factory=list)
    start: Optional[int] = None
    elems: List[Elem] = field(default_factory=list)
    datas: List[Data] = field(default_factory=list)
    names: Names = field(default_factory=Names)
    customs: List[Custom] = field(default_factory=list)
    tags: List[Tag] = field(default_factory=list)
    # The data count section (spec 5.5.16).  A validation hint only, so it takes no part in
    # equality: text modules and binaries with or without it describe the same module.
    data_count: Optional[int] = field(default=None, compare=False)
    # GC proposal: ``(first type index, count)`` of each recursive type group of two or more
    # types (``(rec ...)``; every other type is a group of its own, spec 3.0), and the
    # ``(final, supertype indices)`` of each type declared with ``sub`` (absent: final, none).
    rec_groups: List[Tuple[int, int]] = field(default_factory=list)
    subtypes: Dict[int, Tuple[bool, Tuple[int, ...]]] = field(default_factory=dict)
    # Where this module's binary starts in the binary it was read from (a component's core
    # module): trap frames' ``module_offset`` counts from there, as wasmtime's do.
    binary_offset: int = field(default=0, compare=False)
    # Where the code section's contents start in this module's binary (None for a module
    # from text): addresses in the module's DWARF count from there (wasmforge.debuginfo).
    code_section_offset: Optional[int] = field(default=None, compare=False)
    # Config.wasm_backtrace_details of the engine that loaded it: whether a trap's text
    # shows the source lines of the module's DWARF (True), not (False), or not and hints at
    # the setting as wasmtime does (None: the default, the setting not turned on).
    backtrace_details: Optional[bool] = field(default=None, compare=False)

    # ----- index spaces (imports first, spec 2.5.1) -----

    def imported(self, kind: str) -> List[Import]:
        return [imp for imp in self.imports if imp.kind == kind]

    def closed_types(self) -> List[FuncType]:
        """``types`` closed over the type indices (:func:`wasmforge.types.close_types`): the
        function types as the runtime compares them, across modules.  The same list as
        ``types`` (equal FuncTypes) for a module without typed references."""
        return self.close_types()[0]

    def close_types(self) -> Tuple[list, List[str]]:
        """:func:`wasmforge.types.close_types` of this module's type definitions, with its
        recursive groups and declared subtypes: ``(closed types, closed heap forms)``."""
        return close_types(self.types, self.rec_groups, self.subtypes)

    def uses_typed_references(self, bodies: bool = True) -> bool:
        """Whether the module uses the function-references proposal: a typed reference type
        (``(ref null? ...)``) in a signature, import, table, global, segment or local, a
        table initialiser, or (``bodies``) one of its instructions or typed block types."""
        def typed(t) -> bool:
            return isinstance(t, str) and t.startswith("(ref ")
        for ft in self.types:
            if any(map(typed, ft.params)) or any(map(typed, ft.results)):
                return True
        for imp in self.imports:
            desc = imp.desc
            if typed(getattr(desc, "element", None)) or typed(getattr(desc, "content", None)):
                return True
        if any(typed(t.type.element) or t.init is not None for t in self.tables):
            return True
        if any(typed(g.type.content) for g in self.globals) or any(typed(e.type) for e in self.elems):
            return True
        for f in self.funcs:
            if any(map(typed, f.locals)):
                return True
        if bodies:
            for f in self.funcs:
                for instr in f.iter_body():
                    o = instr[0]
                    if o.feature == "function-references" or (len(instr) > 1 and typed(instr[1])):
                        return True
        return False

    def uses_gc(self) -> bool:
        """Whether the module uses the GC proposal: a struct or array type, a recursive
        group or a ``sub`` declaration, a reference to one of GC's abstract heap types, or
        one of its instructions.  Answered once (it decodes every function body: seconds for
        a 10,000-function module) and kept in ``known_gc``, which the llvm tier's module cache
        also sets from what the run that compiled the module found."""
        known = self.__dict__.get("known_gc")
        if known is None:
            known = self.__dict__["known_gc"] = self._uses_gc()
        return known

    def _uses_gc(self, bodies: bool = True) -> bool:
        """:meth:`uses_gc`; with ``bodies=False``, leaving the function bodies out (the
        validator knows them: valid/validate.py ``_check_module``)."""
        if self.rec_groups or self.subtypes or not all(isinstance(t, FuncType) for t in self.types):
            return True
        def gc_type(t) -> bool:
            parts = ref_parts(t) if isinstance(t, str) else None
            return parts is not None and isinstance(parts[1], str) and HEAP_FEATURE.get(parts[1]) == "gc"
        for ft in self.types:
            if any(map(gc_type, ft.params)) or any(map(gc_type, ft.results)):
                return True
        for imp in self.imports:
            desc = imp.desc
            if gc_type(getattr(desc, "element", None)) or gc_type(getattr(desc, "content", None)):
                return True
        if any(gc_type(t.type.element) for t in self.tables) or any(gc_type(g.type.content) for g in self.globals):
            return True
        if any(gc_type(e.type) for e in self.elems) or any(any(map(gc_type, f.locals)) for f in self.funcs):
            return True
        exprs = [g.init for g in self.globals] + [e for el in self.elems for e in el.init]
        for expr in exprs:
            if any(instr[0].feature == "gc" or (len(instr) > 1 and gc_type(instr[1])) for instr in expr):
                return True
        for f in self.funcs if bodies else ():
            for instr in f.iter_body():
                if instr[0].feature == "gc" or (len(instr) > 1 and gc_type(instr[1])):
                    return True
        return False

    def func_typeidx(self) -> List[int]:
        """The type index of every function in the function index space."""
        return [imp.desc for imp in self.imports if imp.kind == FUNC] + [f.typeidx for f in self.funcs]

    def func_types(self) -> List[FuncType]:
        """The type of every function in the function index space."""
        out = [self.types[imp.desc] for imp in self.imports if imp.kind == FUNC]
        out.extend(self.types[f.typeidx] for f in self.funcs)
        return out

    def table_types(self) -> List[TableType]:
        return [imp.desc for imp in self.imports if imp.kind == TABLE] + [t.type for t in self.tables]

    def mem_types(self) -> List[MemoryType]:
        return [imp.desc for imp in self.imports if imp.kind == MEMORY] + [m.type for m in self.mems]

    def global_types(self) -> List[GlobalType]:
        return [imp.desc for imp in self.imports if imp.kind == GLOBAL] + [g.type for g in self.globals]

    def tag_types(self) -> List[FuncType]:
        """The function type of every tag in the tag index space (imports first)."""
        return ([self.types[imp.desc] for imp in self.imports if imp.kind == TAG]
                + [self.types[t.typeidx] for t in self.tags])

    def num_imported(self, kind: str) -> int:
        return sum(1 for imp in self.imports if imp.kind == kind)


__all__ = [
    "Instr", "Expr", "Import", "Export", "Func", "Table", "Memory", "Global", "Tag", "Elem", "Data",
    "Names", "Custom", "Module", "FUNC", "TABLE", "MEMORY", "GLOBAL", "TAG", "EXTERN_KINDS",
    "ACTIVE", "PASSIVE", "DECLARATIVE",
]
