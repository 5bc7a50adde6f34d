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

from operator import itemgetter
from typing import Dict, Iterator, List, Optional, Tuple, Union

from .types import HEAP_FEATURE, FuncType, GlobalType, MemoryType, TableType, close_types, ref_parts

Instr = tuple
Expr = List[Instr]

# External kinds, as spelled in the text format and in the API.
FUNC, TABLE, MEMORY, GLOBAL = "func", "table", "memory", "global"
TAG = "tag"                     # exception-handling proposal
EXTERN_KINDS = (FUNC, TABLE, MEMORY, GLOBAL, TAG)


class _Record:
    """What ``@dataclass`` made of the classes below, written out (the decorator generated and
    compiled each class's methods when ``wasmforge`` was imported: with types.py's, about a
    tenth of a warm ``wasmforge run``'s start, docs/performance.md): equal when of the same
    class with equal :attr:`_compared` fields (default: all of :attr:`_fields`), shown with
    :attr:`_fields`, unhashable (mutable)."""

    _fields: Tuple[str, ...] = ()
    _compared: Optional[Tuple[str, ...]] = None

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        names = self._compared if self._compared is not None else self._fields
        return [getattr(self, n) for n in names] == [getattr(other, n) for n in names]

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._fields)
        return f"{self.__class__.__qualname__}({shown})"


class Import(_Record):
    """``(import "module" "name" desc)``; ``desc`` is a type index for a function or a tag,
    else the entity's TableType / MemoryType / GlobalType."""

    _fields = ("module", "name", "kind", "desc")

    def __init__(self, module: str, name: str, kind: str, desc: Union[int, TableType, MemoryType, GlobalType]):
        self.module = module
        self.name = name
        self.kind = kind
        self.desc = desc


class Export(_Record):
    _fields = ("name", "kind", "index")

    def __init__(self, name: str, kind: str, index: int):
        self.name = name
        self.kind = kind
        self.index = index


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


class Table(_Record):
    """A table; ``init`` is its initialiser expression (function-references: a table of a
    non-nullable type needs one), ``None`` for the 2.0 default of null."""

    _fields = ("type", "init")

    def __init__(self, type: TableType, init: Optional[Expr] = None):
        self.type = type
        self.init = init


class Memory(_Record):
    _fields = ("type",)

    def __init__(self, type: MemoryType):
        self.type = type


class Tag(_Record):
    """An exception tag (exception-handling proposal): the index of a function type whose
    parameters are the exception's payload and whose results are empty."""

    _fields = ("typeidx",)

    def __init__(self, typeidx: int):
        self.typeidx = typeidx


class Global(_Record):
    _fields = ("type", "init")

    def __init__(self, type: GlobalType, init: Expr):
        self.type = type
        self.init = init


# Segment modes (spec 2.5.7, 2.5.8).
ACTIVE, PASSIVE, DECLARATIVE = "active", "passive", "declarative"


class Elem(_Record):
    """An element segment.  ``init`` holds one constant expression per element (a plain
    function-index vector in the binary is decoded to ``ref.func`` expressions), so the model
    does not depend on which of the eight binary encodings was used."""

    _fields = ("type", "init", "mode", "table", "offset", "func_indices")
    # ``func_indices``: written as a list of function indices (text ``func $f ...``, binary
    # element kinds 0-3): typed ``(ref func)`` under function-references, ``funcref`` in 2.0.
    # A spelling only, so it takes no part in equality.
    _compared = ("type", "init", "mode", "table", "offset")

    def __init__(self, type: str, init: List[Expr], mode: str = PASSIVE, table: int = 0,
                 offset: Optional[Expr] = None, func_indices: bool = False):
        self.type = type
        self.init = init
        self.mode = mode
        self.table = table
        self.offset = offset
        self.func_indices = func_indices


class Data(_Record):
    """A data segment: its bytes, and for active segments the memory and offset expression."""

    _fields = ("init", "mode", "memory", "offset")

    def __init__(self, init: bytes, mode: str = PASSIVE, memory: int = 0, offset: Optional[Expr] = None):
        self.init = init
        self.mode = mode
        self.memory = memory
        self.offset = offset


class Names(_Record):
    """The ``name`` custom section (spec 7.4.1, with the extended subsections for types,
    tables, memories, globals, element and data segments).  Maps are index -> name
    (``locals``: funcidx -> {localidx: name})."""

    _fields = ("module", "funcs", "locals", "types", "tables", "memories", "globals", "elems", "datas")

    def __init__(self, module: Optional[str] = None, funcs: Optional[dict] = None,
                 locals: Optional[dict] = None, types: Optional[dict] = None,
                 tables: Optional[dict] = None, memories: Optional[dict] = None,
                 globals: Optional[dict] = None, elems: Optional[dict] = None,
                 datas: Optional[dict] = None):
        self.module = module
        self.funcs = {} if funcs is None else funcs
        self.locals = {} if locals is None else locals
        self.types = {} if types is None else types
        self.tables = {} if tables is None else tables
        self.memories = {} if memories is None else memories
        self.globals = {} if globals is None else globals
        self.elems = {} if elems is None else elems
        self.datas = {} if datas is None else datas

    def is_empty(self) -> bool:
        return self.module is None and not any(
            (self.funcs, self.locals, self.types, self.tables, self.memories,
             self.globals, self.elems, self.datas))


class Custom(_Record):
    """A custom section other than ``name``, kept verbatim.  ``after`` is the id of the known
    section it followed (0 when it came first), so the encoder can put it back in place."""

    _fields = ("name", "data", "after")

    def __init__(self, name: str, data: bytes, after: int = 0):
        self.name = name
        self.data = data
        self.after = after


class Module(_Record):
    """A WebAssembly module as data.  It is not validated until :func:`wasmforge.valid.validate`
    runs on it; the runtime only executes validated modules.

    ``data_count`` is the data count section (spec 5.5.16), a validation hint only, so it
    takes no part in equality: text modules and binaries with or without it describe the same
    module.  GC proposal: ``rec_groups`` holds ``(first type index, count)`` of each recursive
    type group of two or more types (``(rec ...)``; every other type is a group of its own,
    spec 3.0), ``subtypes`` the ``(final, supertype indices)`` of each type declared with
    ``sub`` (absent: final, none).  ``binary_offset``: where this module's binary starts in
    the binary it was read from (a component's core module): trap frames' ``module_offset``
    counts from there, as wasmtime's do.  ``code_section_offset``: where the code section's
    contents start in this module's binary (None for a module from text): addresses in the
    module's DWARF count from there (wasmforge.debuginfo).  ``backtrace_details``:
    Config.wasm_backtrace_details of the engine that loaded it: whether a trap's text shows
    the source lines of the module's DWARF (True), not (False), or not and hints at the
    setting as wasmtime does (None: the default, the setting not turned on)."""

    _fields = ("types", "imports", "funcs", "tables", "mems", "globals", "exports", "start", "elems",
               "datas", "names", "customs", "tags", "data_count", "rec_groups", "subtypes",
               "binary_offset", "code_section_offset", "backtrace_details")
    _compared = ("types", "imports", "funcs", "tables", "mems", "globals", "exports", "start", "elems",
                 "datas", "names", "customs", "tags", "rec_groups", "subtypes")

    def __init__(self, types: Optional[List[FuncType]] = None, imports: Optional[List[Import]] = None,
                 funcs: Optional[List[Func]] = None, tables: Optional[List[Table]] = None,
                 mems: Optional[List[Memory]] = None, globals: Optional[List[Global]] = None,
                 exports: Optional[List[Export]] = None, start: Optional[int] = None,
                 elems: Optional[List[Elem]] = None, datas: Optional[List[Data]] = None,
                 names: Optional[Names] = None, customs: Optional[List[Custom]] = None,
                 tags: Optional[List[Tag]] = None, data_count: Optional[int] = None,
                 rec_groups: Optional[List[Tuple[int, int]]] = None,
                 subtypes: Optional[Dict[int, Tuple[bool, Tuple[int, ...]]]] = None,
                 binary_offset: int = 0, code_section_offset: Optional[int] = None,
                 backtrace_details: Optional[bool] = None):
        self.types = [] if types is None else types
        self.imports = [] if imports is None else imports
        self.funcs = [] if funcs is None else funcs
        self.tables = [] if tables is None else tables
        self.mems = [] if mems is None else mems
        self.globals = [] if globals is None else globals
        self.exports = [] if exports is None else exports
        self.start = start
        self.elems = [] if elems is None else elems
        self.datas = [] if datas is None else datas
        self.names = Names() if names is None else names
        self.customs = [] if customs is None else customs
        self.tags = [] if tags is None else tags
        self.data_count = data_count
        self.rec_groups = [] if rec_groups is None else rec_groups
        self.subtypes = {} if subtypes is None else subtypes
        self.binary_offset = binary_offset
        self.code_section_offset = code_section_offset
        self.backtrace_details = backtrace_details

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

    def ops_used(self) -> frozenset:
        """The instructions (opcodes.Op) the function bodies hold, each once.  It decodes every
        body that is still raw, and is kept: the llvm tier asks several questions of it
        (tail calls, exception handling, whether the quick compiler translates them all),
        which were a pass over graphviz's 370,000 instructions each."""
        known = self.__dict__.get("_ops_used")
        if known is None:
            first = itemgetter(0)
            ops: set = set()
            for f in self.funcs:
                ops.update(map(first, f.iter_body()))
            known = self.__dict__["_ops_used"] = frozenset(ops)
        return known

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
