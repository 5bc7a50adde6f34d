"""The WebAssembly text format parser (spec 6, "Text Format"): WAT source to a
:class:`~wasmforge.module.Module`.

The parser resolves symbolic identifiers and expands every abbreviation of the text format,
producing exactly the module the binary format would carry (instructions as
``(op, *immediates)`` tuples, see :mod:`wasmforge.opcodes`).  It does not validate: a module
that breaks a typing rule, or uses a numeric index that does not exist, parses fine.

A module is parsed in two passes over its fields, mirroring the spec's identifier context
(spec 6.6.14): the first pass binds the identifiers of every index space (and parses the
explicit type definitions, which inline type uses must see), the second parses each field
in order with the complete context.  Instructions are read by one loop with an explicit
stack of open blocks and folded expressions, so nesting depth is bounded only by memory.

Every step is linear in the size of the text: identifiers of every kind, labels included,
are resolved by dictionary lookups (:class:`_Labels`), never by scanning what is in scope.
"""

from __future__ import annotations

from typing import FrozenSet

from ..binary.decode import MAX_LOCALS
from ..errors import ParseError
from ..module import (ACTIVE, DECLARATIVE, FUNC, GLOBAL, MEMORY, PASSIVE, TABLE, TAG, Custom, Data,
                      Elem, Export, Func, Global, Import, Memory, Module, Table, Tag)
from ..opcodes import (BLOCK, BY_NAME, CATCH_ALL_OP, CATCH_NAMES, CATCH_OP, DELEGATE, ELSE, END, IF,
                       LOOP, PREFIXED, SELECT, SELECT_T, TRY, TRY_TABLE)
from ..types import (ABSTRACT_HEAPS, HEAP_SHORTHAND, PACKED_TYPES, SHORTHAND_HEAP, ArrayType, FieldType, FuncType,
                     GlobalType, Limits, MemoryType, StructType, TableType, ref_parts, ref_type)
from ..features import DEFAULT as DEFAULT_FEATURES
from .lexer import (EOF, EOF_PADDING, ERR, ID, KW, LPAR, NUM, RPAR, STR, Tokens, parse_float, parse_int,
                    parse_nat, tokenize)

# Reference types are read whole by Parser.reftype: the shorthand keywords (funcref, and
# the later proposals' anyref, exnref...) and (ref null? heaptype).
REFTYPES = frozenset(SHORTHAND_HEAP)
VALTYPES = frozenset(("i32", "i64", "f32", "f64", "v128")) | REFTYPES
#: ``ref.null``'s heap type keyword -> the reference type it pushes.
HEAPTYPES = dict(HEAP_SHORTHAND)
_ABSTRACT_HEAPS = frozenset(ABSTRACT_HEAPS)
_REF_FUNC = BY_NAME["ref.func"]
_I32_CONST = BY_NAME["i32.const"]
_I64_CONST = BY_NAME["i64.const"]

# Lane shapes of v128.const: (lane count, lane width in bits, is float).
SHAPES = {"i8x16": (16, 8, False), "i16x8": (8, 16, False), "i32x4": (4, 32, False),
          "i64x2": (2, 64, False), "f32x4": (4, 32, True), "f64x2": (2, 64, True)}

# Binary section ids, for the placement of @custom annotations (annotations proposal).
SECTION_IDS = {"type": 1, "import": 2, "func": 3, "table": 4, "memory": 5, "global": 6,
               "export": 7, "start": 8, "elem": 9, "code": 10, "data": 11, "datacount": 12,
               "tag": 13}
# The section each one follows in the binary's order (spec 5.5.2), for `(before sec)`.
_PRECEDING = {1: 0, 2: 1, 3: 2, 4: 3, 5: 4, 6: 5, 7: 6, 8: 7, 9: 8, 12: 9, 10: 12, 11: 10, 13: 5}

_MODULE_FIELDS = frozenset(("type", "rec", "import", "func", "table", "memory", "global", "export",
                            "start", "elem", "data", "tag"))
_DEFINITION_NAMES = {FUNC: "function", TABLE: "table", MEMORY: "memory", GLOBAL: "global",
                     TAG: "tag"}

# Frames of the instruction reader (see Parser.instrs).  _FOLD_TRY is a folded legacy
# `(try bt (do ...) (catch x ...)* (catch_all ...)?)` between its parts, _DO one of its parts.
_BASE, _FLAT, _FOLD, _FOLD_BLOCK, _FOLD_IF, _THEN, _ELSE, _FOLD_TRY, _DO = range(9)
_CATCH_KINDS = {name: kind for kind, name in enumerate(CATCH_NAMES)}

U32_MAX = 0xFFFFFFFF
U64_MAX = 0xFFFFFFFFFFFFFFFF


def parse_module(text: str, filename=None, features: FrozenSet[str] = DEFAULT_FEATURES) -> Module:
    """Parse a WAT module, ``(module ...)`` or a bare sequence of module fields.

    Raises :class:`~wasmforge.errors.ParseError` with the spec suite's wording when the text
    is malformed.  ``features`` (wasmforge.features) matter where the text format differs
    with a proposal off: without memory64, limits and memarg offsets are u32 ("i32 constant
    out of range"); with it they are u64, and validation bounds them."""
    p = Parser(tokenize(text, filename), features)
    return p.module_text()


class Parser:
    """A cursor over the tokens of one source text; parses modules out of it."""

    def __init__(self, tokens: Tokens, features: FrozenSet[str] = DEFAULT_FEATURES):
        self.tokens = tokens
        self.toks = tokens.toks
        self.i = 0
        self.features = features
        # memory64 makes limits and memarg offsets u64 (validation bounds them).
        self.max_u = U64_MAX if "memory64" in features else U32_MAX
        self.deferring = False
        self.deferred = None
        self.type_space: dict = {}      # the type identifiers of the module being read

    def defer(self, message: str, tok) -> None:
        """Report an error that the reference interpreter finds only after reading the
        whole module: identifier resolution (unknown or duplicate identifiers, mismatching
        labels and type uses), module assembly (field order, start), and the conversion of
        constants and indices.  A syntax error anywhere in the module is reported first, so
        inside a module the first such error is recorded and raised by :meth:`end_module`;
        elsewhere it is raised at once."""
        err = self.error(message, tok)
        if not self.deferring:
            raise err
        if self.deferred is None:
            self.deferred = err

    # ----- errors and token helpers -----

    def error(self, message: str, tok=None) -> ParseError:
        if tok is None:
            tok = self.toks[self.i]
        return self.tokens.error(message, tok[2])

    def unexpected(self, tok=None) -> ParseError:
        """The error for a token that cannot come here (a lexical error token reports its
        own message)."""
        if tok is None:
            tok = self.toks[self.i]
        if tok[0] is ERR:
            return self.error(tok[1], tok)
        return self.error("unexpected token", tok)

    def next(self):
        tok = self.toks[self.i]
        if tok[0] is ERR:
            raise self.unexpected(tok)
        self.i += 1
        return tok

    def expect(self, kind):
        tok = self.toks[self.i]
        if tok[0] is not kind:
            raise self.unexpected(tok)
        self.i += 1
        return tok[1]

    def rpar(self):
        tok = self.toks[self.i]
        if tok[0] is not RPAR:
            raise self.unexpected(tok)
        self.i += 1

    def at_group(self, kw: str) -> bool:
        """Whether the next tokens are ``(`` and keyword ``kw``."""
        t = self.toks
        i = self.i
        return t[i][0] is LPAR and t[i + 1][0] is KW and t[i + 1][1] == kw

    def enter_group(self, kw: str) -> bool:
        if self.at_group(kw):
            self.i += 2
            return True
        return False

    def opt_id(self):
        tok = self.toks[self.i]
        if tok[0] is ID:
            self.i += 1
            return tok[1]
        return None

    def string(self) -> bytes:
        return self.expect(STR)

    def name(self) -> str:
        """A string that must be valid UTF-8 (spec 6.3.4)."""
        tok = self.toks[self.i]
        data = self.string()
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise self.error("malformed UTF-8 encoding", tok) from None

    def _nat(self, limit: int, kind: str) -> int:
        tok = self.toks[self.i]
        if tok[0] is not NUM:
            raise self.unexpected(tok)
        v = parse_nat(tok[1])
        if v is None:
            raise self.unexpected(tok)
        if v > limit:
            raise self.error(f"{kind} constant out of range", tok)
        self.i += 1
        return v

    def nat32(self) -> int:
        return self._nat(U32_MAX, "i32")

    def nat64(self) -> int:
        return self._nat(U64_MAX, "i64")

    def address_type(self) -> bool:
        """An optional ``i32``/``i64`` before limits (memory64); True for ``i64``."""
        tok = self.toks[self.i]
        if tok[0] is KW and tok[1] in ("i32", "i64"):
            self.i += 1
            return tok[1] == "i64"
        return False

    def opt_shared(self) -> bool:
        """An optional ``shared`` after a memory's limits (threads)."""
        tok = self.toks[self.i]
        if tok[0] is KW and tok[1] == "shared":
            self.i += 1
            return True
        return False

    def valtype(self) -> str:
        tok = self.toks[self.i]
        if tok[0] is LPAR:
            return self.reftype()
        if tok[0] is not KW or tok[1] not in VALTYPES:
            raise self.unexpected(tok)
        self.i += 1
        return tok[1]

    def at_reftype(self) -> bool:
        tok = self.toks[self.i]
        if tok[0] is KW:
            return tok[1] in REFTYPES
        return tok[0] is LPAR and self.toks[self.i + 1][0] is KW and self.toks[self.i + 1][1] == "ref"

    def reftype(self) -> str:
        """A shorthand reference type keyword, or ``(ref null? heaptype)``."""
        tok = self.toks[self.i]
        if tok[0] is KW and tok[1] in REFTYPES:
            self.i += 1
            return tok[1]
        if not self.enter_group("ref"):
            raise self.unexpected(tok)
        t = self.toks
        nullable = t[self.i][0] is KW and t[self.i][1] == "null"
        if nullable:
            self.i += 1
        heap = self.heaptype()
        self.rpar()
        return ref_type(nullable, heap)

    def heaptype(self):
        """An abstract heap type keyword or a type index (``$t`` or a number)."""
        tok = self.toks[self.i]
        if tok[0] is KW and tok[1] in _ABSTRACT_HEAPS:
            self.i += 1
            return tok[1]
        if tok[0] is ID or tok[0] is NUM:
            return self.idx(self.type_space, "type")
        raise self.unexpected(tok)

    def valtypes_until_rpar(self) -> list:
        out = []
        t = self.toks
        while t[self.i][0] is not RPAR:
            out.append(self.valtype())
        self.i += 1
        return out

    # ----- modules -----

    def module_text(self) -> Module:
        """A whole source text holding one module."""
        t = self.toks
        if t[0][0] is LPAR and t[1][0] is KW and t[1][1] == "module":
            self.i = 2
            name = self.opt_id()
            m = self.module_fields()
            self.rpar()
            if name is not None:
                m.names.module = name
        else:
            m = self.module_fields()
        if t[self.i][0] is not EOF:
            raise self.unexpected()
        return self.end_module(m)

    def module_fields(self) -> Module:
        """The fields of a module from the cursor up to the closing ``)`` or end of input
        (not consumed).  The caller checks what follows, then calls :meth:`end_module`."""
        b = _ModuleBuilder(self)
        self.deferring = True
        self.deferred = None
        start = self.i
        fields, end = b.scan()
        b.parse_types(fields)
        for kind, at, index in fields:
            self.i = at
            if kind != "type" and kind != "rec":
                getattr(b, "field_" + kind)(index)
        self.i = end
        b.finish(start)
        return b.m

    def end_module(self, m: Module) -> Module:
        """Raise the first deferred error of the module just read (see :meth:`defer`)."""
        self.deferring = False
        if self.deferred is not None:
            raise self.deferred
        return m

    # ----- indices -----

    def idx(self, space: dict, category: str) -> int:
        tok = self.toks[self.i]
        if tok[0] is ID:
            self.i += 1
            v = space.get(tok[1])
            if v is None:
                self.defer(f"unknown {category} ${tok[1]}", tok)
                return 0
            return v
        if tok[0] is not NUM:
            raise self.unexpected(tok)
        v = parse_nat(tok[1])
        if v is None:
            raise self.unexpected(tok)
        self.i += 1
        if v > U32_MAX:
            self.defer("i32 constant out of range", tok)
            return 0
        return v

    def at_idx(self) -> bool:
        k = self.toks[self.i][0]
        return k is NUM or k is ID

    def v128_lanes(self) -> int:
        """``shape num*`` of ``v128.const``, as the 128-bit value (lane 0 lowest).  As in
        the reference parser, the lane count is checked before the lanes' ranges."""
        t = self.toks
        tok = t[self.i]
        if tok[0] is not KW or tok[1] not in SHAPES:
            raise self.unexpected(tok)
        self.i += 1
        count, width, is_float = SHAPES[tok[1]]
        lanes = []
        while t[self.i][0] is NUM or t[self.i][0] is ERR:
            lanes.append(self.next())
        if len(lanes) != count:
            self.defer("wrong number of lane literals", t[self.i])
            return 0
        value = 0
        mask = (1 << width) - 1
        for k, lane in enumerate(lanes):
            v = parse_float(lane[1], width) if is_float else parse_int(lane[1], width)
            if v is None:
                self.defer("constant out of range", lane)
                return 0
            value |= (v & mask) << (k * width)
        return value


class _Labels:
    """The labels in scope, innermost last, and where each name was last bound.

    ``$name`` resolves to the depth of its innermost binding in constant time; scanning the
    stack instead made a text with many nested labels quadratic (issue 9, finding 6).  The
    outermost entry is the function body's implicit label (``None``: blocks without a label
    push ``None`` too)."""

    __slots__ = ("names", "where")

    def __init__(self):
        self.names = [None]
        self.where = {}             # name -> stack positions binding it, innermost last

    def append(self, name) -> None:
        if name is not None:
            at = self.where.get(name)
            if at is None:
                self.where[name] = [len(self.names)]
            else:
                at.append(len(self.names))
        self.names.append(name)

    def pop(self) -> None:
        name = self.names.pop()
        if name is not None:
            at = self.where[name]
            if len(at) == 1:
                del self.where[name]
            else:
                at.pop()

    def depth(self, name: str):
        """The relative depth of label ``name`` (0 = innermost), or None if not in scope."""
        at = self.where.get(name)
        if at is None:
            return None
        return len(self.names) - 1 - at[-1]


class _ModuleBuilder:
    """The state of one module being parsed: its identifier context and the module."""

    def __init__(self, p: Parser):
        self.p = p
        self.m = Module()
        self.spaces = {k: {} for k in ("type", FUNC, TABLE, MEMORY, GLOBAL, "elem", "data", TAG)}
        p.type_space = self.spaces["type"]
        self.type_index = {}          # FuncType -> first index with that type
        self.field_spaces: dict = {}  # struct type index -> {field name: field index} (GC)
        self.labels = _Labels()
        self.locals = {}
        self.start_seen = False

    # ----- pass 1: bind identifiers -----

    def scan(self) -> list:
        """Find the fields, bind their identifiers and number their definitions.  Returns
        ``[(kind, token index of the field's keyword, index in its space)]`` and the token
        index after the last field."""
        p = self.p
        t = p.toks
        counts = {k: 0 for k in self.spaces}
        names = self.m.names
        name_maps = {"type": names.types, FUNC: names.funcs, TABLE: names.tables,
                     MEMORY: names.memories, GLOBAL: names.globals, "elem": names.elems,
                     "data": names.datas, TAG: {}}
        fields = []
        first_def = None
        i = p.i
        while t[i][0] is LPAR:
            kw = t[i + 1]
            if kw[0] is not KW or kw[1] not in _MODULE_FIELDS:
                break                   # reported when pass 2 reaches it
            kind = kw[1]
            at = i + 1
            if kind == "rec":
                # GC proposal: (rec (type $id? ...)*) numbers its types in the type space
                j = at + 1
                first = counts["type"]
                while t[j][0] is LPAR and t[j + 1][0] is KW and t[j + 1][1] == "type":
                    index = counts["type"]
                    counts["type"] += 1
                    if t[j + 2][0] is ID:
                        ident = t[j + 2][1]
                        if ident in self.spaces["type"]:
                            p.defer(f"duplicate type ${ident}", t[j + 2])
                        else:
                            self.spaces["type"][ident] = index
                            names.types[index] = ident
                    fields.append(("type", j + 1, index))
                    j = _skip_group(t, j)
                    if j < 0:
                        break
                if counts["type"] - first > 1:
                    self.m.rec_groups.append((first, counts["type"] - first))
                nxt = _skip_group(t, i)
                if nxt < 0:
                    break
                i = nxt
                continue
            space = kind
            ident = None
            j = at + 1
            is_import = False
            if kind == "import":
                # (import "m" "n" (kind $id? ...))
                if t[j][0] is STR and t[j + 1][0] is STR and t[j + 2][0] is LPAR \
                        and t[j + 3][0] is KW and t[j + 3][1] in _DEFINITION_NAMES:
                    space = t[j + 3][1]
                    if t[j + 4][0] is ID:
                        ident = (t[j + 4][1], j + 4)
                is_import = True
            elif kind in ("export", "start"):
                space = None
            elif t[j][0] is ID:
                ident = (t[j][1], j)
                j += 1
            if space in _DEFINITION_NAMES and kind != "import":
                while t[j][0] is LPAR and t[j + 1][0] is KW and t[j + 1][1] == "export":
                    j = _skip_group(t, j)
                    if j < 0:
                        break
                is_import = j >= 0 and t[j][0] is LPAR and t[j + 1][0] is KW \
                    and t[j + 1][1] == "import"
            if space in _DEFINITION_NAMES:
                if is_import:
                    if first_def is not None:
                        p.defer(f"import after {_DEFINITION_NAMES[first_def]} definition", t[i])
                elif first_def is None:
                    first_def = space
            index = None
            if space is not None and space in counts:
                index = counts[space]
                counts[space] += 1
                if ident is not None:
                    sp = self.spaces[space]
                    if ident[0] in sp:
                        cat = {"elem": "elem segment", "data": "data segment",
                               FUNC: "function"}.get(space, space)
                        p.defer(f"duplicate {cat} ${ident[0]}", t[ident[1]])
                    else:
                        sp[ident[0]] = index
                        name_maps[space][index] = ident[0]
            fields.append((kind, at, index))
            nxt = _skip_group(t, i)
            if nxt < 0:
                break
            i = nxt
        return fields, i

    def parse_types(self, fields):
        """Parse the explicit type definitions first: inline type uses anywhere in the module
        refer to them (spec 6.6.2 "type uses")."""
        p = self.p
        for kind, at, index in fields:
            if kind == "type":
                p.i = at + 1
                p.opt_id()
                final = True
                supers: list = []
                sub = p.enter_group("sub")
                if sub:
                    # GC proposal: (sub final? typeidx* comptype)
                    tok = p.toks[p.i]
                    if tok[0] is KW and tok[1] == "final":
                        p.i += 1
                    else:
                        final = False
                    while p.toks[p.i][0] is not LPAR and p.toks[p.i][0] is not RPAR:
                        supers.append(p.idx(self.spaces["type"], "type"))
                ct = self.comptype(index)
                if sub:
                    p.rpar()
                    self.m.subtypes[index] = (final, tuple(supers))
                p.rpar()
                self.m.types.append(ct)
                if isinstance(ct, FuncType) and not sub and not any(
                        a <= index < a + n for a, n in self.m.rec_groups):
                    self.type_index.setdefault(ct, index)

    def comptype(self, index: int):
        """``(func ...)``, ``(struct (field ...)*)`` or ``(array fieldtype)``."""
        p = self.p
        if p.enter_group("func"):
            params, _ = self.params(named=True)
            results = self.results()
            p.rpar()
            return FuncType(params, results)
        if p.enter_group("struct"):
            fields = []
            names = {}
            while p.enter_group("field"):
                ident = p.opt_id()
                if ident is not None:
                    if ident in names:
                        p.defer(f"duplicate field ${ident}", p.toks[p.i - 1])
                    names[ident] = len(fields)
                    fields.append(self.fieldtype())
                    p.rpar()
                else:
                    while p.toks[p.i][0] is not RPAR:
                        fields.append(self.fieldtype())
                    p.i += 1
            p.rpar()
            self.field_spaces[index] = names
            return StructType(fields)
        if p.enter_group("array"):
            ft = self.fieldtype()
            p.rpar()
            return ArrayType(ft)
        raise p.unexpected()

    def fieldtype(self) -> FieldType:
        """``storagetype`` or ``(mut storagetype)``; storage: i8, i16 or a value type."""
        p = self.p
        mutable = p.enter_group("mut")
        tok = p.toks[p.i]
        if tok[0] is KW and tok[1] in PACKED_TYPES:
            p.i += 1
            storage = tok[1]
        else:
            storage = p.valtype()
        if mutable:
            p.rpar()
        return FieldType(storage, mutable)

    def finish(self, start: int):
        p = self.p
        t = p.toks
        if t[p.i][0] is not RPAR and t[p.i][0] is not EOF:
            # A field the scan did not recognise.
            if t[p.i][0] is LPAR:
                raise p.unexpected(t[p.i + 1])
            raise p.unexpected()
        lo = t[start - 1][2] if start else 0     # annotations may precede the first field
        hi = t[p.i][2]
        for pos, body in p.tokens.customs:
            if lo <= pos < hi:
                self.m.customs.append(self.custom(pos, body))

    # ----- types -----

    def params(self, named: bool):
        """``(param $id? t*)*``: returns (types, names by position)."""
        p = self.p
        types = []
        pnames = []
        while p.enter_group("param"):
            ident = p.opt_id() if named else None
            if ident is not None:
                types.append(p.valtype())
                pnames.append(ident)
                p.rpar()
            else:
                for v in p.valtypes_until_rpar():
                    types.append(v)
                    pnames.append(None)
        return types, pnames

    def results(self) -> list:
        p = self.p
        out = []
        while p.enter_group("result"):
            out.extend(p.valtypes_until_rpar())
        return out

    def type_of(self, params, results) -> int:
        """The index of the first type ``[params] -> [results]``, appended if absent
        (spec 6.6.2: inline type uses insert a type definition at the end of the module,
        in order of appearance, reused by later ones)."""
        ft = FuncType(params, results)
        idx = self.type_index.get(ft)
        if idx is None:
            idx = len(self.m.types)
            self.m.types.append(ft)
            self.type_index[ft] = idx
        return idx

    def typeuse(self, named: bool):
        """``(type x)? (param ...)* (result ...)*``: returns (typeidx, param names, number of
        parameters)."""
        explicit, tok, params, pnames, results = self.typeuse_parts(named)
        if explicit is None:
            return self.type_of(params, results), pnames, len(params)
        types = self.m.types
        return explicit, pnames, len(types[explicit].params) if explicit < len(types) else 0

    def typeuse_parts(self, named: bool):
        """Read a type use; check inline parameters and results against an explicit type
        (spec 6.6.2).  Returns (explicit index or None, its token, params, param names,
        results)."""
        p = self.p
        explicit = None
        tok = None
        if p.enter_group("type"):
            tok = p.toks[p.i]
            explicit = p.idx(self.spaces["type"], "type")
            p.rpar()
        params, pnames = self.params(named)
        results = self.results()
        if p.at_group("param") or p.at_group("type"):
            raise p.unexpected(p.toks[p.i + 1])     # out of order: a syntax error first
        if explicit is not None and (params or results):
            types = self.m.types
            if explicit >= len(types):
                p.defer(f"unknown type {explicit}", tok)
            else:
                ft = types[explicit]
                if list(ft.params) != params or list(ft.results) != results:
                    p.defer("inline function type does not match explicit type", tok)
        return explicit, tok, params, pnames, results

    def blocktype(self):
        """A block type (spec 6.5.2): None, a value type, or a type index."""
        p = self.p
        t = p.toks
        i = p.i
        if t[i][0] is not LPAR:
            return None
        tok = t[i + 1]
        if tok[0] is not KW or tok[1] not in ("type", "param", "result"):
            return None
        explicit, _, params, _, results = self.typeuse_parts(named=False)
        if explicit is not None:
            return explicit
        if not params and len(results) <= 1:
            return results[0] if results else None
        return self.type_of(params, results)

    def limits(self, is_64: bool = False) -> Limits:
        p = self.p
        nat = p.nat64 if is_64 or p.max_u == U64_MAX else p.nat32
        lo = nat()
        hi = nat() if p.toks[p.i][0] is NUM else None
        return Limits(lo, hi)

    def globaltype(self) -> GlobalType:
        p = self.p
        if p.enter_group("mut"):
            t = p.valtype()
            p.rpar()
            return GlobalType(t, True)
        return GlobalType(p.valtype(), False)

    # ----- fields (pass 2); the cursor is on the field's keyword -----

    def inline_exports(self, kind: str, index: int):
        p = self.p
        while p.enter_group("export"):
            self.m.exports.append(Export(p.name(), kind, index))
            p.rpar()

    def inline_import(self):
        p = self.p
        if p.enter_group("import"):
            mod = p.name()
            nm = p.name()
            p.rpar()
            return mod, nm
        return None

    def field_import(self, index):
        p = self.p
        p.i += 1
        mod = p.name()
        nm = p.name()
        if p.toks[p.i][0] is not LPAR:
            raise p.unexpected()
        p.i += 1
        tok = p.next()
        kind = tok[1] if tok[0] is KW else None
        p.opt_id()
        if kind == FUNC:
            typeidx, pnames, _ = self.typeuse(named=True)
            desc = typeidx
        elif kind == TABLE:
            is_64 = p.address_type()
            lim = self.limits(is_64)
            desc = TableType(self.p.reftype(), lim, is_64=is_64)
        elif kind == MEMORY:
            is_64 = p.address_type()
            lim = self.limits(is_64)
            desc = MemoryType(lim, is_64=is_64, shared=p.opt_shared())
        elif kind == GLOBAL:
            desc = self.globaltype()
        elif kind == TAG:
            desc, _, _ = self.typeuse(named=False)
        else:
            raise p.unexpected(tok)
        p.rpar()
        p.rpar()
        self.m.imports.append(Import(mod, nm, kind, desc))

    def field_func(self, index):
        p = self.p
        p.i += 1
        p.opt_id()
        self.inline_exports(FUNC, index)
        imp = self.inline_import()
        typeidx, pnames, nparams = self.typeuse(named=True)
        if imp is not None:
            p.rpar()
            self.m.imports.append(Import(imp[0], imp[1], FUNC, typeidx))
            return
        locals_ = {}
        names = {}
        for k, n in enumerate(pnames):
            if n is not None:
                if n in locals_:
                    p.defer(f"duplicate local ${n}", p.toks[p.i])
                else:
                    locals_[n] = k
                    names[k] = n
        decl = []
        # Parameters named inline are the first locals; with `(type x)` alone there are
        # as many as the type has.
        base = max(nparams, len(pnames))
        while p.enter_group("local"):
            group = p.toks[p.i - 2]
            tok = p.toks[p.i]
            ident = p.opt_id()
            if ident is not None:
                if ident in locals_:
                    p.defer(f"duplicate local ${ident}", tok)
                else:
                    locals_[ident] = base + len(decl)
                    names[base + len(decl)] = ident
                decl.append(p.valtype())
                p.rpar()
            else:
                decl.extend(p.valtypes_until_rpar())
            if len(decl) > MAX_LOCALS:
                # The binary decoder's limit (parameters not counted), so a module is
                # refused alike in either format.
                raise p.error("too many locals", group)
        self.locals = locals_
        self.labels = _Labels()
        body = self.instrs()
        body.append((END,))
        p.rpar()
        if names:
            self.m.names.locals[index] = names
        self.m.funcs.append(Func(typeidx, decl, body))

    def field_table(self, index):
        p = self.p
        p.i += 1
        p.opt_id()
        self.inline_exports(TABLE, index)
        imp = self.inline_import()
        is_64 = p.address_type()
        if imp is None and p.at_reftype():
            # (table reftype (elem ...)) abbreviation (spec 6.6.6)
            rt = p.reftype()
            if not p.enter_group("elem"):
                raise p.unexpected()
            if p.toks[p.i][0] is LPAR:
                init = self.elem_exprs()
            else:
                init = self.func_indices()
            p.rpar()
            p.rpar()
            n = len(init)
            self.m.tables.append(Table(TableType(rt, Limits(n, n), is_64=is_64)))
            zero = (_I64_CONST, 0) if is_64 else (_I32_CONST, 0)
            self.m.elems.append(Elem(rt, init, ACTIVE, index, [zero, (END,)]))
            return
        lim = self.limits(is_64)
        tt = TableType(p.reftype(), lim, is_64=is_64)
        init = None
        if imp is None and p.toks[p.i][0] is LPAR:
            # function-references: (table limits reftype expr), the initial element.
            init = self.const_expr_rpar()
        else:
            p.rpar()
        if imp is not None:
            self.m.imports.append(Import(imp[0], imp[1], TABLE, tt))
        else:
            self.m.tables.append(Table(tt, init))

    def field_memory(self, index):
        p = self.p
        p.i += 1
        p.opt_id()
        self.inline_exports(MEMORY, index)
        imp = self.inline_import()
        is_64 = p.address_type()
        if imp is None and p.enter_group("data"):
            # (memory (data ...)) abbreviation (spec 6.6.7)
            data = b"".join(self.strings())
            p.rpar()
            p.rpar()
            n = (len(data) + 0xFFFF) // 0x10000
            self.m.mems.append(Memory(MemoryType(Limits(n, n), is_64=is_64)))
            zero = (_I64_CONST, 0) if is_64 else (_I32_CONST, 0)
            self.m.datas.append(Data(data, ACTIVE, index, [zero, (END,)]))
            return
        lim = self.limits(is_64)
        mt = MemoryType(lim, is_64=is_64, shared=p.opt_shared())
        p.rpar()
        if imp is not None:
            self.m.imports.append(Import(imp[0], imp[1], MEMORY, mt))
        else:
            self.m.mems.append(Memory(mt))

    def field_global(self, index):
        p = self.p
        p.i += 1
        p.opt_id()
        self.inline_exports(GLOBAL, index)
        imp = self.inline_import()
        gt = self.globaltype()
        if imp is not None:
            p.rpar()
            self.m.imports.append(Import(imp[0], imp[1], GLOBAL, gt))
            return
        init = self.const_expr()
        p.rpar()
        self.m.globals.append(Global(gt, init))

    def field_tag(self, index):
        """``(tag $id? (export "n")* (import "m" "n")? typeuse)`` (exception handling)."""
        p = self.p
        p.i += 1
        p.opt_id()
        self.inline_exports(TAG, index)
        imp = self.inline_import()
        typeidx, _, _ = self.typeuse(named=False)
        p.rpar()
        if imp is not None:
            self.m.imports.append(Import(imp[0], imp[1], TAG, typeidx))
        else:
            self.m.tags.append(Tag(typeidx))

    def field_export(self, index):
        p = self.p
        p.i += 1
        nm = p.name()
        if p.toks[p.i][0] is not LPAR:
            raise p.unexpected()
        p.i += 1
        tok = p.next()
        if tok[0] is not KW or tok[1] not in _DEFINITION_NAMES:
            raise p.unexpected(tok)
        kind = tok[1]
        idx = p.idx(self.spaces[kind], _DEFINITION_NAMES[kind])
        p.rpar()
        p.rpar()
        self.m.exports.append(Export(nm, kind, idx))

    def field_start(self, index):
        p = self.p
        p.i += 1
        tok = p.toks[p.i]
        idx = p.idx(self.spaces[FUNC], "function")
        p.rpar()
        if self.start_seen:
            p.defer("multiple start sections", tok)
        self.start_seen = True
        self.m.start = idx

    def field_elem(self, index):
        p = self.p
        t = p.toks
        p.i += 1
        p.opt_id()
        if t[p.i][0] is KW and t[p.i][1] == "declare":
            p.i += 1
            funcs = self.at_func_indices()
            rt, init = self.elem_list(legacy=False)
            seg = Elem(rt, init, DECLARATIVE, func_indices=funcs)
        elif (t[p.i][0] is LPAR and not p.at_reftype()) or (
                t[p.i][0] is NUM and t[p.i + 1][0] is LPAR):
            table = 0
            if t[p.i][0] is NUM:
                # The 1.0 form `(elem 0 (offset) ...)` with a bare table index (the threads
                # proposal's scripts still use it).
                table = p.idx(self.spaces[TABLE], "table")
            elif p.enter_group("table"):
                table = p.idx(self.spaces[TABLE], "table")
                p.rpar()
            offset = self.offset()
            funcs = self.at_func_indices()
            rt, init = self.elem_list(legacy=True)
            seg = Elem(rt, init, ACTIVE, table, offset, func_indices=funcs)
        else:
            funcs = self.at_func_indices()
            rt, init = self.elem_list(legacy=False)
            seg = Elem(rt, init, PASSIVE, func_indices=funcs)
        p.rpar()
        self.m.elems.append(seg)

    def field_data(self, index):
        p = self.p
        t = p.toks
        p.i += 1
        p.opt_id()
        if t[p.i][0] is LPAR or (t[p.i][0] is NUM and t[p.i + 1][0] is LPAR):
            mem = 0
            if t[p.i][0] is NUM:
                # The 1.0 form `(data 0 (offset) ...)` with a bare memory index (the threads
                # proposal's scripts still use it).
                mem = p.idx(self.spaces[MEMORY], "memory")
            elif p.enter_group("memory"):
                mem = p.idx(self.spaces[MEMORY], "memory")
                p.rpar()
            offset = self.offset()
            seg = Data(b"".join(self.strings()), ACTIVE, mem, offset)
        else:
            seg = Data(b"".join(self.strings()), PASSIVE)
        p.rpar()
        self.m.datas.append(seg)

    def strings(self) -> list:
        p = self.p
        out = []
        while p.toks[p.i][0] is STR:
            out.append(p.toks[p.i][1])
            p.i += 1
        return out

    def offset(self) -> list:
        """``(offset instr*)`` or one folded instruction (spec 6.6.9 abbreviation)."""
        p = self.p
        if p.enter_group("offset"):
            return self.const_expr_rpar()
        if p.toks[p.i][0] is not LPAR:
            raise p.unexpected()
        return self.const_expr(single=True)

    def const_expr(self, single=False) -> list:
        self.labels = _Labels()
        self.locals = {}
        out = self.instrs(single)
        out.append((END,))
        return out

    def const_expr_rpar(self) -> list:
        out = self.const_expr()
        self.p.rpar()
        return out

    def func_indices(self) -> list:
        p = self.p
        out = []
        funcs = self.spaces[FUNC]
        while p.at_idx():
            out.append([(_REF_FUNC, p.idx(funcs, "function")), (END,)])
        return out

    def elem_exprs(self) -> list:
        """``(item instr*)`` or one folded instruction, repeated."""
        p = self.p
        out = []
        while p.toks[p.i][0] is LPAR:
            if p.enter_group("item"):
                out.append(self.const_expr_rpar())
            else:
                out.append(self.const_expr(single=True))
        return out

    def at_func_indices(self) -> bool:
        """Whether an element list follows as function indices (``func x*`` or bare)."""
        tok = self.p.toks[self.p.i]
        return (tok[0] is KW and tok[1] == "func") or tok[0] is ID or tok[0] is NUM \
            or tok[0] is RPAR

    def elem_list(self, legacy: bool):
        """``func funcidx*`` | ``reftype elemexpr*``; with ``legacy`` also a bare
        ``funcidx*`` (the MVP form of active segments)."""
        p = self.p
        tok = p.toks[p.i]
        if tok[0] is KW and tok[1] == "func":
            p.i += 1
            return "funcref", self.func_indices()
        if p.at_reftype():
            return p.reftype(), self.elem_exprs()
        if legacy:
            return "funcref", self.func_indices()
        raise p.unexpected()

    def custom(self, pos: int, body: list) -> Custom:
        """``(@custom "name" (before|after section)? "data"*)`` (annotations proposal)."""
        sub = Parser(Tokens(self.p.tokens.text, body + [(EOF, None, pos)] * EOF_PADDING, [],
                            self.p.tokens.filename), self.p.features)
        nm = sub.name()
        after = 11
        if sub.toks[sub.i][0] is LPAR:
            sub.i += 1
            where = sub.next()
            sec = sub.next()
            if where[0] is not KW and where[1] not in ("before", "after"):
                raise sub.unexpected(where)
            name = sec[1] if sec[0] is KW else None
            if where[1] == "before":
                after = 0 if name == "first" else _PRECEDING.get(SECTION_IDS.get(name))
            else:
                after = 11 if name == "last" else SECTION_IDS.get(name)
            if after is None:
                raise sub.unexpected(sec)
            sub.rpar()
        data = []
        while sub.toks[sub.i][0] is STR:
            data.append(sub.string())
        if sub.toks[sub.i][0] is not EOF:
            raise sub.unexpected()
        return Custom(nm, b"".join(data), after)

    # ----- instructions -----

    def label_idx(self) -> int:
        p = self.p
        tok = p.toks[p.i]
        if tok[0] is ID:
            p.i += 1
            depth = self.labels.depth(tok[1])
            if depth is None:
                p.defer(f"unknown label ${tok[1]}", tok)
                return 0
            return depth
        return p.nat32()

    def block_label(self):
        return self.p.opt_id()

    def end_label(self, label):
        """An optional label after ``end``/``else``, which must repeat the block's own."""
        p = self.p
        tok = p.toks[p.i]
        if tok[0] is ID:
            if tok[1] != label:
                p.defer("mismatching label", tok)
            p.i += 1

    def instrs(self, single=False) -> list:
        """Read instructions, flat and folded, up to the ``)`` closing the enclosing
        construct (not consumed).  With ``single``, read exactly one folded instruction.

        Folded forms are unfolded on the way (spec 6.5.9): ``(op imm* e*)`` emits the
        operands ``e*`` first, ``(if bt e* (then i*) (else j*))`` emits ``e* if i* else j*
        end``.  Open constructs live on an explicit stack, so deep nesting cannot exhaust
        Python's recursion limit."""
        p = self.p
        t = p.toks
        out = []
        emit = out.append
        labels = self.labels
        imm = self.immediate
        frames = [(_BASE, None, None)]
        while True:
            tok = t[p.i]
            kind = tok[0]
            mode = frames[-1][0]
            if kind is KW:
                if mode == _FOLD or mode == _FOLD_IF or mode == _FOLD_TRY:
                    raise p.unexpected(tok)
                op = BY_NAME.get(tok[1])
                if op is None:
                    raise p.unexpected(tok)
                p.i += 1
                if op is CATCH_OP or op is CATCH_ALL_OP or op is DELEGATE:
                    # legacy exception handling: the arms of a flat `try`.
                    frame = frames[-1]
                    if mode != _FLAT or frame[1] not in ((TRY, CATCH_OP) if op is not DELEGATE else (TRY,)):
                        raise p.unexpected(tok)
                    if op is DELEGATE:
                        frames.pop()
                        labels.pop()
                        emit((DELEGATE, self.label_idx()))
                    elif op is CATCH_OP:
                        emit(imm(op))
                        frames[-1] = (_FLAT, CATCH_OP, frame[2])
                    else:
                        emit((op,))
                        frames[-1] = (_FLAT, CATCH_ALL_OP, frame[2])
                elif op is END or op is ELSE:
                    frame = frames[-1]
                    if mode != _FLAT or (op is ELSE and frame[1] is not IF):
                        raise p.unexpected(tok)
                    self.end_label(frame[2])
                    if op is END:
                        frames.pop()
                        labels.pop()
                        emit((END,))
                    else:
                        frames[-1] = (_FLAT, ELSE, frame[2])
                        emit((ELSE,))
                elif op is BLOCK or op is LOOP or op is IF or op is TRY:
                    label = self.block_label()
                    emit((op, self.blocktype()))
                    labels.append(label)
                    frames.append((_FLAT, op, label))
                elif op is TRY_TABLE:
                    label = self.block_label()
                    emit(self.try_table())
                    labels.append(label)
                    frames.append((_FLAT, op, label))
                else:
                    emit(imm(op))
            elif kind is LPAR:
                head = t[p.i + 1]
                if head[0] is not KW:
                    raise p.unexpected(head)
                name = head[1]
                if mode == _FOLD_TRY:
                    self.fold_try_part(frames, name, head, emit)
                    continue
                if mode == _FOLD_IF:
                    if name != "then":
                        if name not in BY_NAME:
                            raise p.unexpected(head)
                if name == "then" and mode == _FOLD_IF:
                    p.i += 2
                    frame = frames[-1]
                    emit(frame[1])
                    labels.append(frame[2])
                    frames[-1] = (_THEN, None, None)
                    continue
                op = BY_NAME.get(name)
                if op is None or op is END or op is ELSE or op is CATCH_OP or op is CATCH_ALL_OP \
                        or op is DELEGATE:
                    raise p.unexpected(head)
                p.i += 2
                if op is BLOCK or op is LOOP:
                    label = self.block_label()
                    emit((op, self.blocktype()))
                    labels.append(label)
                    frames.append((_FOLD_BLOCK, None, None))
                elif op is TRY_TABLE:
                    label = self.block_label()
                    emit(self.try_table())
                    labels.append(label)
                    frames.append((_FOLD_BLOCK, None, None))
                elif op is TRY:
                    label = self.block_label()
                    emit((op, self.blocktype()))
                    labels.append(label)
                    frames.append((_FOLD_TRY, 0, label))
                elif op is IF:
                    label = self.block_label()
                    frames.append((_FOLD_IF, (op, self.blocktype()), label))
                else:
                    frames.append((_FOLD, imm(op), None))
            elif kind is RPAR:
                if mode == _BASE:
                    return out
                if mode == _FOLD:
                    p.i += 1
                    emit(frames.pop()[1])
                elif mode == _FOLD_BLOCK:
                    p.i += 1
                    frames.pop()
                    labels.pop()
                    emit((END,))
                elif mode == _THEN:
                    p.i += 1
                    if p.enter_group("else"):
                        emit((ELSE,))
                        frames[-1] = (_ELSE, None, None)
                        continue
                    emit((END,))
                    labels.pop()
                    p.rpar()
                    frames.pop()
                elif mode == _ELSE:
                    p.i += 1
                    emit((END,))
                    labels.pop()
                    p.rpar()
                    frames.pop()
                elif mode == _DO:
                    p.i += 1
                    frames.pop()
                elif mode == _FOLD_TRY:
                    p.i += 1
                    frames.pop()
                    labels.pop()
                    emit((END,))
                else:
                    raise p.unexpected(tok)
                if single and len(frames) == 1:
                    return out
            else:
                raise p.unexpected(tok)

    def try_table(self) -> tuple:
        """``try_table``'s block type and catch clauses (cursor after the keyword and label).
        The clauses' labels are resolved outside the try_table's own label."""
        p = self.p
        bt = self.blocktype()
        catches = []
        t = p.toks
        while t[p.i][0] is LPAR and t[p.i + 1][0] is KW and t[p.i + 1][1] in _CATCH_KINDS:
            kind = _CATCH_KINDS[t[p.i + 1][1]]
            p.i += 2
            tag = p.idx(self.spaces[TAG], "tag") if kind < 2 else None
            catches.append((kind, tag, self.label_idx()))
            p.rpar()
        return (TRY_TABLE, bt, tuple(catches))

    def fold_try_part(self, frames, name, head, emit) -> None:
        """The next ``(do ...)``, ``(catch x ...)``, ``(catch_all ...)`` or ``(delegate l)``
        of a folded legacy ``try`` (its frame's state: 0 before ``do``, 1 after it, 2 after a
        catch, 3 after catch_all)."""
        p = self.p
        _, state, label = frames[-1]
        if name == "do" and state == 0:
            p.i += 2
            frames[-1] = (_FOLD_TRY, 1, label)
        elif name == "catch" and state in (1, 2):
            p.i += 2
            emit((CATCH_OP, p.idx(self.spaces[TAG], "tag")))
            frames[-1] = (_FOLD_TRY, 2, label)
        elif name == "catch_all" and state in (1, 2):
            p.i += 2
            emit((CATCH_ALL_OP,))
            frames[-1] = (_FOLD_TRY, 3, label)
        elif name == "delegate" and state == 1:
            p.i += 2
            self.labels.pop()
            emit((DELEGATE, self.label_idx()))
            p.rpar()
            p.rpar()
            frames.pop()
            return
        else:
            raise p.unexpected(head)
        frames.append((_DO, None, None))

    def immediate(self, op) -> tuple:
        """Read the immediates of ``op`` (cursor after its keyword); return the instruction."""
        kind = op.imm
        if kind == "-":
            if op is SELECT:
                return self.select()
            return (op,)
        return _IMMEDIATE_READERS[kind](self, op)

    def select(self) -> tuple:
        p = self.p
        if p.at_group("result"):
            return (SELECT_T, tuple(self.results()))
        return (SELECT,)

    def imm_label(self, op):
        return (op, self.label_idx())

    def imm_br_table(self, op):
        p = self.p
        targets = [self.label_idx()]
        while p.at_idx():
            targets.append(self.label_idx())
        default = targets.pop()
        return (op, tuple(targets), default)

    def imm_local(self, op):
        p = self.p
        return (op, p.idx(self.locals, "local"))

    def imm_call_indirect(self, op):
        p = self.p
        table = p.idx(self.spaces[TABLE], "table") if p.at_idx() else 0
        typeidx, pnames, _ = self.typeuse(named=False)
        return (op, typeidx, table)

    def imm_memarg(self, op):
        # memidx? memarg (multi-memory: the memory index comes first, 0 when absent)
        p = self.p
        memidx = p.idx(self.spaces[MEMORY], "memory") if p.at_idx() else 0
        align, offset = self.memarg_fields(op)
        return (op, align, offset, memidx) if memidx else (op, align, offset)

    def memarg_fields(self, op) -> tuple:
        """``offset=N? align=N?`` as ``(align exponent, offset)``."""
        p = self.p
        t = p.toks
        offset = 0
        align = op.align
        tok = t[p.i]
        if tok[0] is KW and tok[1].startswith("offset="):
            offset = parse_nat(tok[1][7:])
            if offset is None:
                raise p.unexpected(tok)
            if offset > p.max_u:
                raise p.error("i32 constant out of range" if p.max_u == U32_MAX
                              else "i64 constant out of range", tok)
            p.i += 1
            tok = t[p.i]
        if tok[0] is KW and tok[1].startswith("align="):
            a = parse_nat(tok[1][6:])
            if a == 0 or a & (a - 1):
                raise p.error("alignment must be a power of two", tok)
            align = a.bit_length() - 1
            p.i += 1
        return (align, offset)

    def imm_memarg_lane(self, op):
        # memidx? memarg laneidx: a lone index is the lane.
        p = self.p
        t = p.toks
        memidx = 0
        if p.at_idx() and (t[p.i + 1][0] is NUM or
                           (t[p.i + 1][0] is KW and t[p.i + 1][1].startswith(("offset=", "align=")))):
            memidx = p.idx(self.spaces[MEMORY], "memory")
        align, offset = self.memarg_fields(op)
        if memidx:
            return (op, align, offset, self.lane_index(), memidx)
        return (op, align, offset, self.lane_index())

    def lane_index(self) -> int:
        p = self.p
        tok = p.toks[p.i]
        if tok[0] is not NUM:
            raise p.unexpected(tok)
        v = parse_nat(tok[1])
        if v is None:
            raise p.unexpected(tok)
        if v > 255:
            raise p.error("malformed lane index", tok)
        p.i += 1
        return v

    def imm_lane(self, op):
        return (op, self.lane_index())

    def imm_shuffle(self, op):
        p = self.p
        t = p.toks
        start = t[p.i]
        lanes = []
        while t[p.i][0] is NUM or t[p.i][0] is ERR:
            lanes.append(p.next())
        # Checked at once, unlike v128.const lanes: the suite expects these errors even
        # where a syntax error follows (simd_lane.wast).
        if len(lanes) != 16:
            raise p.error("invalid lane length", start)
        out = []
        for tok in lanes:
            v = parse_nat(tok[1])
            if v is None or v > 255:
                raise p.error("malformed lane index", tok)
            out.append(v)
        return (op, tuple(out))

    def imm_const(self, op):
        p = self.p
        tok = p.toks[p.i]
        if tok[0] is not NUM:
            raise p.unexpected(tok)
        v = _CONST_PARSERS[op.imm](tok[1])
        p.i += 1
        if v is None:
            p.defer("constant out of range", tok)
            v = 0
        return (op, v)

    def imm_v128(self, op):
        return (op, self.p.v128_lanes())

    def imm_heaptype(self, op):
        return (op, ref_type(True, self.p.heaptype()))

    def imm_memory_init(self, op):
        # memory.init memidx? dataidx -> (data, memory)
        p = self.p
        first = p.toks[p.i]
        if p.toks[p.i + 1][0] in (NUM, ID) and first[0] in (NUM, ID):
            mem = p.idx(self.spaces[MEMORY], "memory")
            return (op, p.idx(self.spaces["data"], "data segment"), mem)
        return (op, p.idx(self.spaces["data"], "data segment"), 0)

    def imm_table_init(self, op):
        # table.init tableidx? elemidx -> (elem, table)
        p = self.p
        first = p.toks[p.i]
        if p.toks[p.i + 1][0] in (NUM, ID) and first[0] in (NUM, ID):
            table = p.idx(self.spaces[TABLE], "table")
            return (op, p.idx(self.spaces["elem"], "elem segment"), table)
        return (op, p.idx(self.spaces["elem"], "elem segment"), 0)

    def imm_table_copy(self, op):
        p = self.p
        if p.at_idx():
            dst = p.idx(self.spaces[TABLE], "table")
            return (op, dst, p.idx(self.spaces[TABLE], "table"))
        return (op, 0, 0)

    def imm_typeidx_field(self, op):
        # GC struct.get/set: typeidx fieldidx (a field name of that struct type, or a number)
        p = self.p
        x = p.idx(self.spaces["type"], "type")
        return (op, x, p.idx(self.field_spaces.get(x, {}), "field"))

    def imm_typeidx_n(self, op):
        p = self.p
        x = p.idx(self.spaces["type"], "type")
        return (op, x, p.idx({}, "count"))

    def imm_typeidx_space(self, op, space: str, category: str):
        p = self.p
        x = p.idx(self.spaces["type"], "type")
        return (op, x, p.idx(self.spaces[space], category))

    def imm_castref(self, op):
        # GC ref.test/ref.cast: the nullable target type selects the other encoding.
        t = self.p.reftype()
        parts = ref_parts(t)
        return (PREFIXED[0xFB][op.code | 1] if parts[0] else op, t)

    def imm_br_on_cast(self, op):
        label = self.label_idx()
        p = self.p
        return (op, label, p.reftype(), p.reftype())

    def imm_memory_copy(self, op):
        p = self.p
        if p.at_idx():
            dst = p.idx(self.spaces[MEMORY], "memory")
            return (op, dst, p.idx(self.spaces[MEMORY], "memory"))
        return (op, 0, 0)


def _skip_group(t: list, i: int) -> int:
    """Index after the parenthesised group starting at ``i``, or -1 if it is not closed
    before the end of input."""
    depth = 0
    n = len(t)
    while i < n:
        k = t[i][0]
        if k is LPAR:
            depth += 1
        elif k is RPAR:
            depth -= 1
            if depth == 0:
                return i + 1
        elif k is EOF:
            return -1
        i += 1
    return -1


def _space_idx(space: str, category: str):
    """A reader of one index into ``space``."""
    def read(b, op):
        return (op, b.p.idx(b.spaces[space], category))
    return read


def _opt_space_idx(space: str, category: str):
    """A reader of an optional index into ``space`` (0 when absent)."""
    def read(b, op):
        p = b.p
        return (op, p.idx(b.spaces[space], category) if p.at_idx() else 0)
    return read


_CONST_PARSERS = {
    "i32": lambda s: parse_int(s, 32),
    "i64": lambda s: parse_int(s, 64),
    "f32": lambda s: parse_float(s, 32),
    "f64": lambda s: parse_float(s, 64),
}

_B = _ModuleBuilder
_IMMEDIATE_READERS = {
    "labelidx": _B.imm_label,
    "br_table": _B.imm_br_table,
    "funcidx": _space_idx(FUNC, "function"),
    "call_indirect": _B.imm_call_indirect,
    "localidx": _B.imm_local,
    "globalidx": _space_idx(GLOBAL, "global"),
    "tableidx": _opt_space_idx(TABLE, "table"),
    "memidx": _opt_space_idx(MEMORY, "memory"),
    "memarg": _B.imm_memarg,
    "memarg_lane": _B.imm_memarg_lane,
    "zero": lambda self, op: (op,),       # atomic.fence: no immediate in the text format
    "laneidx": _B.imm_lane,
    "i32": _B.imm_const,
    "i64": _B.imm_const,
    "f32": _B.imm_const,
    "f64": _B.imm_const,
    "v128": _B.imm_v128,
    "shuffle": _B.imm_shuffle,
    "heaptype": _B.imm_heaptype,
    "dataidx": _space_idx("data", "data segment"),
    "elemidx": _space_idx("elem", "elem segment"),
    "memory.init": _B.imm_memory_init,
    "memory.copy": _B.imm_memory_copy,
    "table.init": _B.imm_table_init,
    "table.copy": _B.imm_table_copy,
    "typeidx": _space_idx("type", "type"),
    "tagidx": _space_idx(TAG, "tag"),
    "typeidx_field": _B.imm_typeidx_field,
    "typeidx_n": _B.imm_typeidx_n,
    "typeidx_data": lambda b, op: b.imm_typeidx_space(op, "data", "data segment"),
    "typeidx_elem": lambda b, op: b.imm_typeidx_space(op, "elem", "elem segment"),
    "typeidx_pair": lambda b, op: b.imm_typeidx_space(op, "type", "type"),
    "castref": _B.imm_castref,
    "br_on_cast": _B.imm_br_on_cast,
}

__all__ = ["parse_module", "Parser"]
