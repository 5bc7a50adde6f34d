"""The component text format (component-model ``Explainer.md``): text to the component AST.

:func:`parse_component` reads ``(component ...)`` into a :class:`~wasmforge.cm.ast.Component`,
the same model the binary decoder produces, so ``binary.encode`` turns it into the bytes
``wasm-tools parse`` writes for the same text.  Nested core modules are read by the core text
parser (:mod:`wasmforge.text.parser`); this module reads only the component forms.

The parser expands every abbreviation of the text format the way the binary needs it, in the
order the reference tooling (``wasm-tools``) produces, so the encodings agree byte for byte:

- an inline type (a ``(list u8)`` parameter, a ``(func (param ...))`` type use, an ``(instance
  (export ...))`` import type) becomes a type definition placed before the definition that
  uses it, inner types first;
- an inline export ``(func (export "f") ...)`` becomes an ``export`` definition appended at the
  end of the component;
- an inline import ``(func $f (import "f") ...)`` is the ``import`` definition itself;
- a reference through an instance's export, ``(core func $i "f")`` or ``(func $i "a" "b")``,
  becomes ``alias`` definitions placed before the definition that uses it;
- an identifier that is not bound in the current component (or component/instance type) but in
  an enclosing one becomes an ``(alias outer ...)`` placed before its use, and binds that
  identifier locally from then on;
- ``(core instance (instantiate $m (with "x" (instance (export ...)))))`` bundles become
  instance definitions of their own, placed before the instantiation.

Identifiers are resolved in one pass, in order, per index space and per scope: a definition
can name only what was defined before it (as in the binary format, where indices only grow).
"""

from __future__ import annotations

import re
from dataclasses import fields, is_dataclass
from typing import Any, Dict, FrozenSet, List, Optional, Tuple

from ...errors import ParseError
from ...features import DEFAULT as DEFAULT_FEATURES
from ...module import Import as CoreImport
from ...text.lexer import EOF, ERR, ID, KW, LPAR, NUM, RPAR, STR, Tokens, decode_string, parse_nat, tokenize
from ...text.parser import Parser as CoreParser
from ...types import GlobalType, Limits, MemoryType, TableType
from .. import ast as A
from ..types import PRIMITIVE_NAMES

# Keyword-shaped atoms the core lexer does not know (``resource.new``,
# ``string-encoding=utf8``...) come as "unknown operator" error tokens: in a component they
# are keywords.
_KEYWORD = re.compile(r"[a-z][0-9A-Za-z_.:=+\-]*")
_QUOTED_ID = re.compile(r'\$"((?:[^"\\\n\r]|\\[^\n\r])*)"')
_UNKNOWN = "unknown operator "
#: How deep components, component/instance/module types and inline value types may nest.
MAX_NESTING = 100

#: Primitive value types, with the old spellings ``float32``/``float64``.
PRIMITIVES = {name: name for name in PRIMITIVE_NAMES}
PRIMITIVES.update({"float32": "f32", "float64": "f64"})

_DEFINED = frozenset(("record", "variant", "list", "map", "tuple", "flags", "enum", "option",
                      "result", "own", "borrow", "stream", "future"))
_CORE_SORTS = {"func": A.CORE_FUNC, "table": A.CORE_TABLE, "memory": A.CORE_MEMORY,
               "global": A.CORE_GLOBAL, "tag": A.CORE_TAG, "type": A.CORE_TYPE,
               "module": A.CORE_MODULE, "instance": A.CORE_INSTANCE}
_SORTS = {"func": A.FUNC, "value": A.VALUE, "type": A.TYPE, "component": A.COMPONENT,
          "instance": A.INSTANCE}
_CORE_EXPORTABLE = frozenset((A.CORE_FUNC, A.CORE_TABLE, A.CORE_MEMORY, A.CORE_GLOBAL, A.CORE_TAG))
_OUTER_SORTS = frozenset((A.CORE_MODULE, A.CORE_TYPE, A.TYPE, A.COMPONENT))
#: Sort -> the word of "unknown X" / "duplicate X identifier" messages.
_DESCRIPTION = {A.CORE_FUNC: "core func", A.CORE_TABLE: "core table", A.CORE_MEMORY: "core memory",
                A.CORE_GLOBAL: "core global", A.CORE_TAG: "core tag", A.CORE_TYPE: "core type",
                A.CORE_MODULE: "core module", A.CORE_INSTANCE: "core instance", A.FUNC: "func",
                A.VALUE: "value", A.TYPE: "type", A.COMPONENT: "component", A.INSTANCE: "instance"}
#: The order of the ``component-name`` section's subsections (as ``wasm-tools`` writes them).
NAME_ORDER = (A.CORE_FUNC, A.CORE_TABLE, A.CORE_MEMORY, A.CORE_GLOBAL, A.CORE_TAG, A.CORE_TYPE,
              A.CORE_MODULE, A.CORE_INSTANCE, A.FUNC, A.VALUE, A.TYPE, A.COMPONENT, A.INSTANCE)

STRING_ENCODINGS = {"string-encoding=utf8": A.UTF8, "string-encoding=utf16": A.UTF16,
                     "string-encoding=latin1+utf16": A.LATIN1_UTF16}

#: Canonical built-ins that define a core function, other than lower and resource.*:
#: name -> (opcode, immediates), an immediate being ``type`` (a type index), ``opts``,
#: ``async`` / ``cancellable`` / ``shared`` (a flag byte), ``core type`` / ``core table`` /
#: ``core memory`` (core indices), ``valtype`` + ``u32`` (context.get/set) or ``result``.
CANON_BUILTINS: Dict[str, Tuple[int, Tuple[str, ...]]] = {
    "backpressure.inc": (0x24, ()), "backpressure.dec": (0x25, ()),
    "task.return": (0x09, ("result", "opts")), "task.cancel": (0x05, ()),
    "context.get": (0x0A, ("valtype", "u32")), "context.set": (0x0B, ("valtype", "u32")),
    "subtask.cancel": (0x06, ("async",)), "subtask.drop": (0x0D, ()),
    "stream.new": (0x0E, ("type",)), "stream.read": (0x0F, ("type", "opts")),
    "stream.write": (0x10, ("type", "opts")),
    "stream.cancel-read": (0x11, ("type", "async")), "stream.cancel-write": (0x12, ("type", "async")),
    "stream.drop-readable": (0x13, ("type",)), "stream.drop-writable": (0x14, ("type",)),
    "future.new": (0x15, ("type",)), "future.read": (0x16, ("type", "opts")),
    "future.write": (0x17, ("type", "opts")),
    "future.cancel-read": (0x18, ("type", "async")), "future.cancel-write": (0x19, ("type", "async")),
    "future.drop-readable": (0x1A, ("type",)), "future.drop-writable": (0x1B, ("type",)),
    "error-context.new": (0x1C, ("opts",)), "error-context.debug-message": (0x1D, ("opts",)),
    "error-context.drop": (0x1E, ()),
    "waitable-set.new": (0x1F, ()), "waitable-set.wait": (0x20, ("cancellable", "core memory")),
    "waitable-set.poll": (0x21, ("cancellable", "core memory")), "waitable-set.drop": (0x22, ()),
    "waitable.join": (0x23, ()), "thread.index": (0x26, ()),
    "thread.new-indirect": (0x27, ("core type", "core table")),
    "thread.resume-later": (0x28, ()), "thread.suspend": (0x29, ("cancellable",)),
    "thread.yield": (0x0C, ("cancellable",)),
    "thread.suspend-then-resume": (0x2A, ("cancellable",)),
    "thread.yield-then-resume": (0x2B, ("cancellable",)),
    "thread.suspend-then-promote": (0x2C, ("cancellable",)),
    "thread.yield-then-promote": (0x2D, ("cancellable",)),
    "thread.spawn-ref": (0x40, ("shared", "core type")),
    "thread.spawn-indirect": (0x41, ("shared", "core type", "core table")),
    "thread.available-parallelism": (0x42, ("shared",)),
}


def parse_component(text: str, filename: Optional[str] = None,
                    features: FrozenSet[str] = DEFAULT_FEATURES) -> A.Component:
    """Parse a ``(component ...)`` text (or a bare sequence of component fields).

    Raises :class:`~wasmforge.errors.ParseError` positioned at the offending token.
    ``features`` are those the nested core modules are read with (see
    :func:`wasmforge.text.parser.parse_module`)."""
    p = ComponentParser(component_tokens(text, filename), features)
    return p.component_text()


def component_tokens(text: str, filename: Optional[str] = None) -> Tokens:
    """The core lexer's tokens, with the component model's keywords and quoted identifiers
    (``$"a b"``) turned from "unknown operator" errors into keywords and identifiers."""
    tokens = tokenize(text, filename)
    toks = tokens.toks
    for n, tok in enumerate(toks):
        if tok[0] is ERR and tok[1] == "illegal escape":
            toks[n] = (ERR, "invalid string escape", tok[2])     # wasm-tools' wording
        elif tok[0] is ERR and tok[1].startswith(_UNKNOWN):
            word = tok[1][len(_UNKNOWN):]
            if _KEYWORD.fullmatch(word):
                toks[n] = (KW, word, tok[2])
            else:
                m = _QUOTED_ID.fullmatch(word)
                if m:
                    name = decode_string(m.group(1))
                    if isinstance(name, bytes):
                        toks[n] = (ID, name.decode("utf-8", "surrogateescape"), tok[2])
    return tokens


class Ref:
    """A reference not resolved yet: ``sort`` index ``idx`` (an int, or an identifier ``str``)
    followed by export names (``(func $i "a" "b")``: the export ``b`` of the export ``a`` of
    instance ``$i``).  Resolution replaces it by an int."""

    __slots__ = ("sort", "idx", "names", "pos")

    def __init__(self, sort: str, idx: Any, names: Tuple[str, ...] = (), pos: int = 0):
        self.sort = sort
        self.idx = idx
        self.names = names
        self.pos = pos

    def __repr__(self) -> str:
        return f"Ref({self.sort!r}, {self.idx!r}, {self.names!r})"


class _Gensym(str):
    """An identifier the parser made up (for an inline type or an exported definition that
    has none): it binds like any other but never reaches the name section."""

    __slots__ = ()


class _Ident(str):
    """An identifier as written, with its position (for "duplicate identifier" errors)."""

    __slots__ = ("pos",)
    pos: int

    def __new__(cls, name: str, pos: int) -> "_Ident":
        self = super().__new__(cls, name)
        self.pos = pos
        return self


class _Scope:
    """One component, component type, instance type or core module type being read: its
    index spaces, the identifiers bound in them, and its definitions (declarators) so far."""

    def __init__(self, kind: str, ident: Optional[str]):
        self.kind = kind            # "component", "component type", "instance type", "module type"
        self.ident = ident
        self.counts: Dict[str, int] = {}
        self.bound: Dict[str, Dict[str, int]] = {}
        self.names: Dict[str, Dict[int, str]] = {}
        self.out: List[Any] = []
        self.pending: List[Tuple[Any, Optional[str]]] = []    # inline types of the current field
        self.bundles: List[Tuple[Any, Optional[str]]] = []    # inline instances of the current field
        self.tail: List[Any] = []                             # inline exports, for the end


class ComponentParser:
    """A cursor over component tokens; parses components out of them."""

    def __init__(self, tokens: Tokens, features: FrozenSet[str] = DEFAULT_FEATURES):
        self.tokens = tokens
        self.toks: List[Any] = tokens.toks
        self.i = 0
        self.features = features
        self.core = CoreParser(tokens, features)
        self.stack: List[_Scope] = []
        self.gensyms = 0
        self.depth = 0
        #: ``(@custom ...)`` annotations not placed yet: (position, body tokens), in order
        self.customs: List[Tuple[int, List[Any]]] = list(tokens.customs)

    # ----- tokens -----

    def error(self, message: str, tok: Any = None) -> ParseError:
        if tok is None:
            tok = self.toks[self.i]
        return self.tokens.error(message, tok[2])

    def error_at(self, message: str, pos: int) -> ParseError:
        return self.tokens.error(message, pos)

    def unexpected(self, tok: Any = None, expected: Optional[str] = None) -> ParseError:
        if tok is None:
            tok = self.toks[self.i]
        if tok[0] is ERR:
            return self.error(tok[1], tok)
        if tok[0] is EOF:
            return self.error("unexpected end of input" + (f", expected {expected}" if expected else ""), tok)
        return self.error("unexpected token" + (f", expected {expected}" if expected else ""), tok)

    def kw(self, offset: int = 0) -> Optional[str]:
        tok = self.toks[self.i + offset]
        return tok[1] if tok[0] is KW else None

    def at(self, kind: Any, offset: int = 0) -> bool:
        return self.toks[self.i + offset][0] is kind

    def at_group(self, *words: str) -> bool:
        """Whether the next tokens are ``(`` and one of the keywords ``words``."""
        return self.at(LPAR) and self.kw(1) in words

    def enter(self, word: str) -> None:
        if not self.at_group(word):
            raise self.unexpected(self.toks[self.i + 1] if self.at(LPAR) else None, f"({word} ...)")
        self.i += 2

    def keyword(self, word: str) -> None:
        if self.kw() != word:
            raise self.unexpected(None, f"`{word}`")
        self.i += 1

    def opt_keyword(self, word: str) -> bool:
        if self.kw() == word:
            self.i += 1
            return True
        return False

    def rpar(self) -> None:
        if not self.at(RPAR):
            raise self.unexpected(None, "`)`")
        self.i += 1

    def lpar(self) -> None:
        if not self.at(LPAR):
            raise self.unexpected(None, "`(`")
        self.i += 1

    def opt_id(self) -> Optional[str]:
        tok = self.toks[self.i]
        if tok[0] is ID:
            self.i += 1
            return _Ident(tok[1], tok[2])
        return None

    def string(self) -> str:
        tok = self.toks[self.i]
        if tok[0] is not STR:
            raise self.unexpected(tok, "a string")
        self.i += 1
        try:
            return str(tok[1].decode("utf-8"))
        except UnicodeDecodeError:
            raise self.error("malformed UTF-8 encoding", tok) from None

    def u32(self) -> int:
        tok = self.toks[self.i]
        v = parse_nat(tok[1]) if tok[0] is NUM else None
        if v is None:
            raise self.unexpected(tok, "an integer")
        if v > 0xFFFFFFFF:
            raise self.error("integer out of range", tok)
        self.i += 1
        return int(v)

    def at_index(self, offset: int = 0) -> bool:
        k = self.toks[self.i + offset][0]
        return k is ID or k is NUM

    def index(self, sort: str) -> Any:
        """A bare index: ``$id`` or a number."""
        tok = self.toks[self.i]
        if tok[0] is ID:
            self.i += 1
            return Ref(sort, str(tok[1]), (), tok[2])
        return Ref(sort, self.u32(), (), tok[2])

    def ref(self, sort: str, ident: str) -> Any:
        """A reference to a definition of this scope by identifier (resolved on emission)."""
        return Ref(sort, ident)

    def nest(self) -> None:
        """Enter one more level of nested components, types or declarations (the parser
        recurses on them: deeper text is refused rather than exhaust Python's stack)."""
        self.depth += 1
        if self.depth > MAX_NESTING:
            self.depth -= 1
            raise self.error(f"item nesting too deep (more than {MAX_NESTING} levels)")

    def gensym(self) -> _Gensym:
        self.gensyms += 1
        return _Gensym(f"gensym{self.gensyms}")

    @property
    def scope(self) -> _Scope:
        return self.stack[-1]

    # ----- components -----

    def component_text(self) -> A.Component:
        """A whole source text holding one component (or its bare fields)."""
        if self.at_group("component"):
            self.i += 2
            self.opt_keyword("definition")     # WAST: `(component definition $id ...)`
            c = self.component_body()
            self.rpar()
        else:
            c = self.component_fields(None)
        if not self.at(EOF):
            raise self.unexpected()
        return c

    def component_body(self) -> A.Component:
        """``$id? field*`` after ``(component`` (the ``)`` is left to the caller)."""
        ident = self.opt_id()
        return self.component_fields(ident)

    def component_fields(self, ident: Optional[str]) -> A.Component:
        self.nest()
        try:
            return self._component_fields(ident)
        finally:
            self.depth -= 1

    def _component_fields(self, ident: Optional[str]) -> A.Component:
        scope = _Scope("component", ident)
        self.stack.append(scope)
        while self.at(LPAR):
            self.place_customs(self.toks[self.i][2])
            self.field()
            self.flush()
        if not self.at(RPAR) and not self.at(EOF):
            raise self.unexpected()
        self.place_customs(self.toks[self.i][2])
        for export in scope.tail:
            self.emit(export, None)
        self.stack.pop()
        definitions = scope.out
        names = self.names_of(scope)
        if names is not None:
            definitions.append(names)
        return A.Component(definitions)

    def place_customs(self, before: int) -> None:
        """Add the ``(@custom "name" "data"*)`` annotations written before ``before`` as custom
        sections, where they stand among the definitions."""
        while self.customs and self.customs[0][0] < before:
            pos, body = self.customs.pop(0)
            toks = [t for t in body if t[0] is STR]
            if len(toks) != len(body) or not toks:
                raise self.error_at("malformed custom annotation: a name and data strings expected", pos)
            try:
                name = toks[0][1].decode("utf-8")
            except UnicodeDecodeError:
                raise self.error_at("malformed UTF-8 encoding", pos) from None
            self.scope.out.append(A.Custom(name, b"".join(t[1] for t in toks[1:])))

    def drop_customs(self, lo: int, hi: int) -> None:
        """Forget the annotations inside a core module (the core parser placed them)."""
        self.customs = [c for c in self.customs if not lo <= c[0] < hi]

    def names_of(self, scope: _Scope) -> Optional[A.ComponentNames]:
        sorts = [(sort, scope.names[sort]) for sort in NAME_ORDER if scope.names.get(sort)]
        ident = scope.ident if scope.ident is not None and not isinstance(scope.ident, _Gensym) else None
        if ident is None and not sorts:
            return None
        return A.ComponentNames(ident, sorts)

    def flush(self) -> None:
        """Emit the current field's inline types and instances (the field itself was added to
        ``pending`` last by :meth:`define`)."""
        scope = self.scope
        pending, bundles = scope.pending, scope.bundles
        scope.pending, scope.bundles = [], []
        *types, last = pending if pending else [(None, None)]
        for item, ident in types:
            self.emit(item, ident)
        for item, ident in bundles:
            self.emit(item, ident)
        if last[0] is not None:
            self.emit(*last)

    def define(self, item: Any, ident: Optional[str]) -> None:
        """The definition a field denotes; emitted after its inline types (:meth:`flush`)."""
        self.scope.pending.append((item, ident))

    def inline_type(self, item: Any) -> Any:
        """An inline type definition: a type of its own before the field using it."""
        ident = self.gensym()
        self.scope.pending.append((item, ident))
        sort = A.CORE_TYPE if isinstance(item, A.CoreModuleType) else A.TYPE
        return Ref(sort, ident)

    def emit(self, item: Any, ident: Optional[str]) -> None:
        """Resolve ``item``'s references (adding the aliases they need before it), add it to
        the current scope and bind ``ident`` in its index space."""
        self.resolve_refs(item)
        scope = self.scope
        scope.out.append(item)
        if scope.kind == "module type":
            if isinstance(item, (A.CoreOuterAlias, A.CoreFuncType, A.CoreStructType, A.CoreArrayType,
                                 A.CoreSubType)):
                self.bind(A.CORE_TYPE, ident)
            elif isinstance(item, A.CoreRecType):
                for _ in item.subtypes:
                    self.bind(A.CORE_TYPE, None)
            return
        if isinstance(item, A.Start):
            return      # its result values are bound by field_start
        if isinstance(item, A.CoreRecType):
            for _ in item.subtypes:
                self.bind(A.CORE_TYPE, None)
            return
        sort: Optional[str]
        if isinstance(item, A.ExportDecl):
            sort = item.desc.sort
        elif isinstance(item, (A.CoreFuncType, A.CoreStructType, A.CoreArrayType, A.CoreSubType,
                               A.CoreModuleType)):
            sort = A.CORE_TYPE
        else:
            sort = A.sort_defined(item)
            if sort is None and _is_typedef(item):
                sort = A.TYPE
        if sort is not None:
            self.bind(sort, ident)

    def bind(self, sort: str, ident: Optional[str]) -> int:
        scope = self.scope
        index = scope.counts.get(sort, 0)
        scope.counts[sort] = index + 1
        if ident is not None:
            space = scope.bound.setdefault(sort, {})
            if ident in space:
                raise self.error_at(f"duplicate {_DESCRIPTION[sort]} identifier", getattr(ident, "pos", 0))
            space[ident] = index
            if not isinstance(ident, _Gensym) and scope.kind == "component":
                scope.names.setdefault(sort, {})[index] = ident
        return index

    # ----- resolution -----

    def resolve_refs(self, item: Any) -> None:
        """Replace every Ref in ``item`` (a dataclass, list or tuple tree) by its index."""
        if isinstance(item, A.CanonLift):
            # The function type first, then the core function, then the options (the order
            # the aliases they may need are created in).
            item.type = self.resolve(item.type)
            item.core_func = self.resolve(item.core_func)
            self.resolve_refs(item.opts)
            return
        if isinstance(item, list):
            for n, v in enumerate(item):
                if isinstance(v, Ref):
                    item[n] = self.resolve(v)
                elif isinstance(v, (list, tuple)) or _is_node(v):
                    r = self.resolve_tuple(v) if isinstance(v, tuple) else v
                    if r is v:
                        self.resolve_refs(v)
                    else:
                        item[n] = r
            return
        if not _is_node(item) or isinstance(item, (A.Component, A.CoreModule)):
            return
        for f in fields(item):
            v = getattr(item, f.name)
            if isinstance(v, Ref):
                setattr(item, f.name, self.resolve(v))
            elif isinstance(v, tuple):
                setattr(item, f.name, self.resolve_tuple(v))
            elif isinstance(v, list) or _is_node(v):
                self.resolve_refs(v)

    def resolve_tuple(self, t: Tuple[Any, ...]) -> Tuple[Any, ...]:
        out: List[Any] = []
        for v in t:
            if isinstance(v, Ref):
                out.append(self.resolve(v))
            elif isinstance(v, tuple):
                out.append(self.resolve_tuple(v))
            else:
                if isinstance(v, list) or _is_node(v):
                    self.resolve_refs(v)
                out.append(v)
        return tuple(out)

    def resolve(self, ref: Any) -> int:
        if not isinstance(ref, Ref):
            return int(ref)
        if not ref.names:
            return self.lookup(ref.sort, ref.idx, ref.pos)
        if ref.sort in _CORE_EXPORTABLE:
            if len(ref.names) != 1:
                raise self.error_at("a core reference names at most one export", ref.pos)
            instance = self.lookup(A.CORE_INSTANCE, ref.idx, ref.pos)
            return self.alias(A.AliasCoreExport(ref.sort, instance, ref.names[0]))
        if ref.sort.startswith("core ") and ref.sort != A.CORE_MODULE:
            raise self.error_at("core instances cannot export this kind of item, so an export name "
                                "cannot be used to resolve this reference", ref.pos)
        index = self.lookup(A.INSTANCE, ref.idx, ref.pos)
        last = len(ref.names) - 1
        for n, name in enumerate(ref.names):
            index = self.alias(A.AliasExport(ref.sort if n == last else A.INSTANCE, index, name))
        return index

    def alias(self, alias: Any) -> int:
        """Add an alias the resolution of a reference needs, before the current item."""
        scope = self.scope
        scope.out.append(alias)
        return self.bind(alias.sort, None)

    def lookup(self, sort: str, idx: Any, pos: int) -> int:
        """The index of ``idx`` in ``sort``: a number as is, an identifier from the innermost
        scope binding it (through an implicit outer alias when that is an enclosing one)."""
        if not isinstance(idx, str):
            return int(idx)
        for depth, scope in enumerate(reversed(self.stack)):
            found = scope.bound.get(sort, {}).get(idx)
            if found is None:
                if scope.kind == "module type":
                    break       # a core module type sees only its own types
                continue
            if depth == 0:
                return found
            if sort not in _OUTER_SORTS:
                raise self.error_at(f"outer item `{idx}` is not a module, type, or component", pos)
            # Each use makes an alias of its own, unnamed (the identifier stays unbound
            # here), as wasm-tools does.
            self.scope.out.append(A.AliasOuter(sort, depth, found))
            return self.bind(sort, None)
        raise self.error_at(f"unknown {_DESCRIPTION.get(sort, sort)}: failed to find name `${idx}`", pos)

    def outer_count(self, tok: Any) -> int:
        """The ``ct`` of ``(alias outer ct idx ...)``: a number, or the identifier of an
        enclosing component (or type) counted outwards from the current one."""
        if tok[0] is NUM:
            return self.u32()
        if tok[0] is not ID:
            raise self.unexpected(tok, "an index")
        self.i += 1
        for depth, scope in enumerate(reversed(self.stack)):
            if scope.ident == tok[1]:
                return depth
        raise self.error(f"outer component `{tok[1]}` not found", tok)

    # ----- fields -----

    def field(self) -> None:
        """One component field; the cursor is on its ``(``."""
        tok = self.toks[self.i + 1]
        word = self.kw(1)
        if word == "core":
            sub = self.kw(2)
            self.i += 3
            if sub == "module":
                self.field_core_module(tok)
            elif sub == "instance":
                self.field_core_instance()
            elif sub == "type":
                self.field_core_type()
            elif sub == "func":
                self.field_core_func()
            elif sub == "rec":
                raise self.error("core rec groups are not supported in components yet", tok)
            else:
                raise self.unexpected(self.toks[self.i - 1], "a core module, instance, type or func")
            return
        self.i += 2
        handler = {"component": self.field_component, "instance": self.field_instance,
                   "alias": self.field_alias, "type": self.field_type, "import": self.field_import,
                   "func": self.field_func, "export": self.field_export, "start": self.field_start,
                   "canon": self.field_canon, "value": self.field_value}.get(word or "")
        if handler is None:
            raise self.unexpected(tok, "a component field")
        handler()

    def inline_exports(self) -> List[A.ExternName]:
        """``(export "name" attrs*)*`` after a definition's identifier."""
        out = []
        while self.at_group("export") and self.at_inline_name(2):
            self.i += 2
            out.append(self.extern_name())
            self.rpar()
        return out

    def at_inline_name(self, offset: int) -> bool:
        """Whether an inline ``(export "n")`` / ``(import "n")`` (with attributes, no item)
        starts at ``offset`` after ``(`` + keyword."""
        t = self.toks
        j = self.i + offset
        if t[j][0] is STR:
            j += 1
        elif t[j][0] is LPAR and t[j + 1][0] is KW and t[j + 1][1] == "interface":
            j += 4
        else:
            return False
        while t[j][0] is LPAR and t[j + 1][0] is KW and t[j + 1][1] in (
                "implements", "versionsuffix", "external-id"):
            j += 4
        return t[j][0] is RPAR

    def inline_import(self) -> Optional[A.ExternName]:
        if self.at_group("import") and self.at_inline_name(2):
            self.i += 2
            name = self.extern_name()
            self.rpar()
            return name
        return None

    def export_later(self, names: List[A.ExternName], sort: str, ident: Optional[str]) -> Optional[str]:
        """Queue the inline exports of a definition for the end of the component; returns its
        identifier (made up if it has none and is exported)."""
        if not names:
            return ident
        if ident is None:
            ident = self.gensym()
        for name in names:
            self.scope.tail.append(A.Export(name, A.SortIdx(sort, self.ref(sort, ident))))
        return ident

    def extern_name(self) -> A.ExternName:
        """``"name"`` or ``(interface "name")``, then ``(implements "i")?``,
        ``(versionsuffix "s")?``, ``(external-id "n")?``."""
        if self.at_group("interface"):
            self.i += 2
            name = self.string()
            self.rpar()
        else:
            name = self.string()
        attrs = []
        for word, kind in (("implements", A.IMPLEMENTS), ("versionsuffix", A.VERSION_SUFFIX),
                           ("external-id", A.EXTERNAL_ID)):
            # At most one of each, in this order (a repeated one is a syntax error).
            if self.at_group(word):
                self.i += 2
                attrs.append((kind, self.string()))
                self.rpar()
        return A.ExternName(name, attrs)

    def field_core_module(self, tok: Any) -> None:
        ident = self.opt_id()
        exports = self.inline_exports()
        imp = self.inline_import()
        ident = self.export_later(exports, A.CORE_MODULE, ident)
        if imp is not None:
            desc = A.ExternDesc(A.CORE_MODULE, idx=self.core_type_use_module())
            self.rpar()
            self.define(A.Import(imp, desc), ident)
            return
        if self.kw() == "binary":
            raise self.error("binary core modules in component text are not supported yet", tok)
        core = self.core
        core.i = self.i
        module = core.module_fields()
        self.drop_customs(tok[2], self.toks[core.i][2])
        self.i = core.i
        self.rpar()
        core.end_module(module)
        if ident is not None and not isinstance(ident, _Gensym):
            module.names.module = ident
        self.define(A.CoreModule(module), ident)

    def field_core_instance(self) -> None:
        ident = self.opt_id()
        if self.at_group("instantiate"):
            self.i += 2
            module = self.index_or_ref("module", A.CORE_MODULE)
            args = []
            while self.at_group("with"):
                self.i += 2
                name = self.string()
                args.append(A.CoreInstantiateArg(name, A.SortIdx(A.CORE_INSTANCE, self.core_instance_arg())))
                self.rpar()
            self.rpar()
            item: Any = A.CoreInstantiate(module, args)
        else:
            item = A.CoreInlineExports(self.core_export_items())
        self.rpar()
        self.define(item, ident)

    def core_instance_arg(self) -> Any:
        """``(instance idx)`` or an inline bundle ``(instance (export ...)*)``."""
        self.enter("instance")
        if self.at_index():
            ref = self.index(A.CORE_INSTANCE)
            self.rpar()
            return ref
        exports = self.core_export_items()
        self.rpar()
        ident = self.gensym()
        self.scope.bundles.append((A.CoreInlineExports(exports), ident))
        return self.ref(A.CORE_INSTANCE, ident)

    def core_export_items(self) -> List[A.CoreInlineExport]:
        """``(export "name" (sort idx name?))*`` of a core instance made of exports."""
        out = []
        while self.at_group("export"):
            self.i += 2
            name = self.string()
            self.lpar()
            word = self.kw()
            sort = _CORE_SORTS.get(word or "")
            if sort not in _CORE_EXPORTABLE:
                raise self.unexpected(None, "a core sort")
            self.i += 1
            ref = self.index(sort)
            if self.at(STR):
                ref.names = (self.string(),)
            self.rpar()
            self.rpar()
            out.append(A.CoreInlineExport(name, A.SortIdx(sort, ref)))
        return out

    def index_or_ref(self, word: str, sort: str) -> Any:
        """A bare index, or ``(word idx name*)``."""
        if self.at_index():
            return self.index(sort)
        self.enter(word)
        return self.ref_rest(sort)

    def ref_rest(self, sort: str) -> Any:
        """``idx name* )`` of a component item reference."""
        ref = self.index(sort)
        names = []
        while self.at(STR):
            names.append(self.string())
        ref.names = tuple(names)
        self.rpar()
        return ref

    def core_ref(self, word: str, legacy: bool = True) -> Any:
        """A core reference where ``core`` may prefix it: ``idx``, ``(core word idx name?)``
        or (legacy) ``(word idx name?)``."""
        sort = _CORE_SORTS[word]
        if self.at_index():
            return self.index(sort)
        self.lpar()
        if not self.opt_keyword("core") and not legacy:
            raise self.unexpected(None, "`core`")
        self.keyword(word)
        ref = self.index(sort)
        if self.at(STR):
            ref.names = (self.string(),)
        self.rpar()
        return ref

    def core_prefixed_contents(self, word: str) -> Any:
        """After ``(memory``: ``idx name?`` or ``(core memory idx name?)``."""
        sort = _CORE_SORTS[word]
        if self.at_index():
            ref = self.index(sort)
            if self.at(STR):
                ref.names = (self.string(),)
            return ref
        self.lpar()
        self.keyword("core")
        self.keyword(word)
        ref = self.index(sort)
        if self.at(STR):
            ref.names = (self.string(),)
        self.rpar()
        return ref

    def field_core_type(self) -> None:
        ident = self.opt_id()
        self.lpar()
        item = self.core_typedef_body(in_module_type=False, ident=ident)
        self.rpar()
        self.define(item, ident)

    def core_typedef_body(self, in_module_type: bool, ident: Optional[str] = None) -> Any:
        """``func ...)`` or ``module ...)`` after a core type definition's ``(``."""
        word = self.kw()
        if word == "func":
            self.i += 1
            ft = self.core_functype()
            self.rpar()
            return ft
        if word == "module" and not in_module_type:
            self.i += 1
            mt = self.module_type_decls(ident)
            self.rpar()
            return mt
        if word in ("struct", "array", "sub", "rec"):
            raise self.error(f"core {word} types are not supported in components yet")
        raise self.unexpected(None, "a core type")

    def core_functype(self) -> A.CoreFuncType:
        """``(param $id? t*)* (result t*)*``."""
        core = self.core
        params: List[str] = []
        results: List[str] = []
        while self.at_group("param"):
            self.i += 2
            if self.opt_id() is not None:
                core.i = self.i
                params.append(core.valtype())
                self.i = core.i
            else:
                while not self.at(RPAR):
                    core.i = self.i
                    params.append(core.valtype())
                    self.i = core.i
            self.rpar()
        while self.at_group("result"):
            self.i += 2
            while not self.at(RPAR):
                core.i = self.i
                results.append(core.valtype())
                self.i = core.i
            self.rpar()
        return A.CoreFuncType(params, results)

    def module_type_decls(self, ident: Optional[str] = None) -> A.CoreModuleType:
        self.nest()
        try:
            return self._module_type_decls(ident)
        finally:
            self.depth -= 1

    def _module_type_decls(self, ident: Optional[str] = None) -> A.CoreModuleType:
        """The declarators of a core module type, up to its ``)`` (not consumed)."""
        scope = _Scope("module type", ident)
        self.stack.append(scope)
        functypes: Dict[Tuple[Tuple[str, ...], Tuple[str, ...]], int] = {}
        while self.at(LPAR):
            tok = self.toks[self.i + 1]
            word = self.kw(1)
            self.i += 2
            if word == "type":
                ident = self.opt_id()
                self.lpar()
                item = self.core_typedef_body(in_module_type=True)
                self.rpar()
                self.emit(item, ident)
                if isinstance(item, A.CoreFuncType):
                    functypes.setdefault((tuple(item.params), tuple(item.results)),
                                         scope.counts[A.CORE_TYPE] - 1)
            elif word == "alias":
                self.keyword("outer")
                count_tok = self.toks[self.i]
                count = self.outer_count(count_tok)
                idx_tok = self.toks[self.i]
                self.i += 1
                idx = self.outer_index(count_tok, count, idx_tok, A.CORE_TYPE)
                self.lpar()
                self.keyword("type")
                ident = self.opt_id()
                self.rpar()
                self.rpar()
                self.emit(A.CoreOuterAlias(count, idx), ident)
            elif word == "import":
                module = self.string()
                name = self.string()
                kind, desc = self.core_item_sig(functypes)
                self.rpar()
                self.emit(CoreImport(module, name, kind, desc), None)
            elif word == "export":
                name = self.string()
                kind, desc = self.core_item_sig(functypes)
                self.rpar()
                self.emit(A.CoreExportDecl(name, kind, desc), None)
            else:
                raise self.unexpected(tok, "a core module type declaration")
        self.stack.pop()
        return A.CoreModuleType(scope.out)

    def core_item_sig(self, functypes: Dict[Tuple[Tuple[str, ...], Tuple[str, ...]], int]) -> Tuple[str, Any]:
        """``(func $id? typeuse)`` ... ``(tag typeuse)`` of a core import or export declaration.
        A function type written inline reuses an equal earlier type of the module type, else
        is declared before the declaration (as wasm-tools does)."""
        self.lpar()
        word = self.kw()
        self.i += 1
        self.opt_id()
        core = self.core
        desc: Any
        if word in ("func", "tag"):
            if self.at_group("type"):
                self.i += 2
                ref = self.index(A.CORE_TYPE)
                self.rpar()
                if self.at_group("param") or self.at_group("result"):
                    self.core_functype()     # checked against the explicit type by validation
                desc = self.resolve(ref)
            else:
                ft = self.core_functype()
                key = (tuple(ft.params), tuple(ft.results))
                found = functypes.get(key)
                if found is None:
                    # Declared before it; reused only by later explicit-type matches, as
                    # wasm-tools does (it never reuses a type it declared itself).
                    self.emit(ft, None)
                    found = self.scope.counts[A.CORE_TYPE] - 1
                desc = found
        elif word == "memory":
            is_64 = self.address_type()
            limits = self.limits()
            shared = self.opt_keyword("shared")
            desc = MemoryType(limits, is_64=is_64, shared=shared)
        elif word == "table":
            is_64 = self.address_type()
            limits = self.limits()
            core.i = self.i
            rt = core.reftype()
            self.i = core.i
            desc = TableType(rt, limits, is_64=is_64)
        elif word == "global":
            if self.at_group("mut"):
                self.i += 2
                core.i = self.i
                vt = core.valtype()
                self.i = core.i
                self.rpar()
                desc = GlobalType(vt, True)
            else:
                core.i = self.i
                vt = core.valtype()
                self.i = core.i
                desc = GlobalType(vt, False)
        else:
            raise self.unexpected(self.toks[self.i - 1], "a core extern type")
        self.rpar()
        return str(word), desc

    def address_type(self) -> bool:
        """An optional ``i32``/``i64`` before a memory's or table's limits; True for ``i64``."""
        if self.opt_keyword("i64"):
            return True
        self.opt_keyword("i32")
        return False

    def limits(self) -> Limits:
        lo = self._nat64()
        hi = self._nat64() if self.at(NUM) else None
        return Limits(lo, hi)

    def _nat64(self) -> int:
        tok = self.toks[self.i]
        v = parse_nat(tok[1]) if tok[0] is NUM else None
        if v is None or v > 0xFFFFFFFFFFFFFFFF:
            raise self.unexpected(tok, "an integer")
        self.i += 1
        return int(v)

    def field_core_func(self) -> None:
        ident = self.opt_id()
        self.lpar()
        word = self.kw()
        if word == "alias":
            self.i += 1
            self.keyword("core")
            self.keyword("export")
            instance = self.index(A.CORE_INSTANCE)
            name = self.string()
            self.rpar()
            self.rpar()
            self.define(A.AliasCoreExport(A.CORE_FUNC, instance, name), ident)
            return
        self.keyword("canon")
        item = self.canon_core_body()
        self.rpar()
        self.rpar()
        self.define(item, ident)

    def canon_core_body(self) -> Any:
        """A canonical built-in defining a core function, after ``canon`` (up to its
        ``)``)."""
        word = self.kw()
        tok = self.toks[self.i]
        self.i += 1
        if word == "lower":
            self.lpar()
            self.keyword("func")
            func = self.ref_rest(A.FUNC)
            return A.CanonLower(func, self.canon_opts())
        if word in ("resource.new", "resource.drop", "resource.rep"):
            ty = self.index_or_ref("type", A.TYPE)
            if word == "resource.new":
                return A.CanonResourceNew(ty)
            if word == "resource.rep":
                return A.CanonResourceRep(ty)
            is_async = self.opt_keyword("async")
            return A.CanonResourceDrop(ty, is_async)
        spec = CANON_BUILTINS.get(word or "")
        if spec is None:
            raise self.unexpected(tok, "a canonical built-in")
        opcode, shape = spec
        imms: List[Any] = []
        for what in shape:
            if what == "type":
                imms.append(self.index_or_ref("type", A.TYPE))
            elif what == "opts":
                imms.append(self.canon_opts())
            elif what in ("async", "cancellable", "shared"):
                imms.append(1 if self.opt_keyword(what) else 0)
            elif what == "core type":
                imms.append(self.core_ref("type", legacy=False))
            elif what == "core table":
                imms.append(self.core_ref("table"))
            elif what == "core memory":
                self.enter("memory")
                imms.append(self.core_prefixed_contents("memory"))
                self.rpar()
            elif what == "valtype":
                core = self.core
                core.i = self.i
                imms.append(core.valtype())
                self.i = core.i
            elif what == "u32":
                imms.append(self.u32())
            elif what == "result":
                result = None
                if self.at_group("result"):
                    self.i += 2
                    result = self.valtype()
                    self.rpar()
                imms.append(result)
        return A.CanonOther(opcode, str(word), imms)

    def canon_opts(self) -> List[A.CanonOpt]:
        out = []
        while True:
            word = self.kw()
            if word in STRING_ENCODINGS:
                self.i += 1
                out.append(A.CanonOpt(STRING_ENCODINGS[word]))
            elif word == "async":
                self.i += 1
                out.append(A.CanonOpt(A.ASYNC))
            elif word == "gc":
                raise self.error("the `gc` canonical option is not supported yet")
            elif self.at_group("memory"):
                self.i += 2
                out.append(A.CanonOpt(A.MEMORY, self.core_prefixed_contents("memory")))
                self.rpar()
            elif self.at_group("realloc", "post-return", "callback"):
                kind = str(self.kw(1))
                self.i += 2
                out.append(A.CanonOpt(kind, self.core_ref("func")))
                self.rpar()
            elif self.at_group("core-type"):
                raise self.error("the `core-type` canonical option is not supported yet")
            else:
                return out

    def field_component(self) -> None:
        ident = self.opt_id()
        exports = self.inline_exports()
        imp = self.inline_import()
        ident = self.export_later(exports, A.COMPONENT, ident)
        if imp is not None:
            desc = A.ExternDesc(A.COMPONENT, idx=self.type_use("component"))
            self.rpar()
            self.define(A.Import(imp, desc), ident)
            return
        component = self.component_fields(ident)
        self.rpar()
        self.define(component, ident)

    def field_instance(self) -> None:
        ident = self.opt_id()
        exports = self.inline_exports()
        imp = self.inline_import()
        ident = self.export_later(exports, A.INSTANCE, ident)
        if imp is not None:
            desc = A.ExternDesc(A.INSTANCE, idx=self.type_use("instance"))
            self.rpar()
            self.define(A.Import(imp, desc), ident)
            return
        if self.at_group("instantiate"):
            self.i += 2
            component = self.index_or_ref("component", A.COMPONENT)
            args = []
            while self.at_group("with"):
                self.i += 2
                name = self.string()
                args.append(A.InstantiateArg(name, self.instantiate_arg()))
                self.rpar()
            self.rpar()
            item: Any = A.Instantiate(component, args)
        else:
            item = A.InlineExports(self.export_items())
        self.rpar()
        self.define(item, ident)

    def instantiate_arg(self) -> A.SortIdx:
        """``(sort idx name*)`` or an inline bundle ``(instance (export ...)*)``."""
        if self.at_group("instance") and not self.at_index(2):
            self.i += 2
            exports = self.export_items()
            self.rpar()
            ident = self.gensym()
            self.scope.bundles.append((A.InlineExports(exports), ident))
            return A.SortIdx(A.INSTANCE, self.ref(A.INSTANCE, ident))
        return self.sort_ref()

    def sort_ref(self) -> A.SortIdx:
        """``(sort idx name*)`` with a component sort (``core module`` included)."""
        self.lpar()
        word = self.kw()
        if word == "core":
            self.i += 1
            self.keyword("module")
            sort = A.CORE_MODULE
        else:
            sort = _SORTS.get(word or "", "")
            if not sort:
                raise self.unexpected(None, "a sort")
            self.i += 1
        return A.SortIdx(sort, self.ref_rest(sort))

    def export_items(self) -> List[A.InlineExport]:
        """``(export $id? "name" (sort idx name*))*`` of an instance made of exports."""
        out = []
        while self.at_group("export"):
            self.i += 2
            self.opt_id()
            name = self.extern_name()
            sortidx = self.sort_ref()
            self.rpar()
            out.append(A.InlineExport(name, sortidx))
        return out

    def field_alias(self) -> None:
        word = self.kw()
        tok = self.toks[self.i]
        if word == "export":
            self.i += 1
            instance = self.index(A.INSTANCE)
            name = self.string()
            sort, ident = self.alias_target(core=False)
            self.rpar()
            self.define(A.AliasExport(sort, instance, name), ident)
        elif word == "core":
            self.i += 1
            self.keyword("export")
            instance = self.index(A.CORE_INSTANCE)
            name = self.string()
            sort, ident = self.alias_target(core=True)
            self.rpar()
            self.define(A.AliasCoreExport(sort, instance, name), ident)
        elif word == "outer":
            self.i += 1
            self.define(*self.outer_alias())
        else:
            raise self.unexpected(tok, "`export`, `core export` or `outer`")

    def outer_alias(self) -> Tuple[Any, Optional[str]]:
        """``ct idx (sort $id?))`` after ``(alias outer``."""
        count_tok = self.toks[self.i]
        count = self.outer_count(count_tok)
        idx_tok = self.toks[self.i]
        self.i += 1
        self.lpar()
        if self.opt_keyword("core"):
            word = self.kw()
            if word not in ("module", "type"):
                raise self.unexpected(None, "`module` or `type`")
            sort = _CORE_SORTS[str(word)]
        else:
            word = self.kw()
            if word not in ("type", "component"):
                raise self.unexpected(None, "`type`, `component` or `core`")
            sort = _SORTS[str(word)]
        self.i += 1
        ident = self.opt_id()
        self.rpar()
        self.rpar()
        return A.AliasOuter(sort, count, self.outer_index(count_tok, count, idx_tok, sort)), ident

    def outer_index(self, count_tok: Any, count: int, idx_tok: Any, sort: str) -> int:
        """The ``idx`` of an outer alias: a number as is (validation checks both numbers), or an
        identifier of the scope ``count`` levels out."""
        if idx_tok[0] is NUM:
            v = parse_nat(idx_tok[1])
            if v is None or v > 0xFFFFFFFF:
                raise self.unexpected(idx_tok, "an index")
            return int(v)
        if idx_tok[0] is not ID:
            raise self.unexpected(idx_tok, "an index")
        if count >= len(self.stack):
            raise self.error(f"outer count of `{count}` is too large", count_tok)
        scope = self.stack[len(self.stack) - 1 - count]
        found = scope.bound.get(sort, {}).get(idx_tok[1])
        if found is None:
            raise self.error(f"unknown {_DESCRIPTION[sort]}: failed to find name `${idx_tok[1]}`", idx_tok)
        return found

    def alias_target(self, core: bool) -> Tuple[str, Optional[str]]:
        """``(sort $id?)`` ending an alias (``(core sort $id?)`` for a core export)."""
        self.lpar()
        sort: Optional[str]
        if core:
            self.keyword("core")
            sort = _CORE_SORTS.get(self.kw() or "")
            if sort not in _CORE_EXPORTABLE:
                raise self.unexpected(None, "a core sort")
            self.i += 1
        elif self.opt_keyword("core"):
            self.keyword("module")
            sort = A.CORE_MODULE
        else:
            sort = _SORTS.get(self.kw() or "")
            if sort is None:
                raise self.unexpected(None, "a sort")
            self.i += 1
        ident = self.opt_id()
        self.rpar()
        return str(sort), ident

    def field_type(self) -> None:
        ident = self.opt_id()
        exports = self.inline_exports()
        ident = self.export_later(exports, A.TYPE, ident)
        item = self.typedef(ident)
        self.rpar()
        self.define(item, ident)

    def typedef(self, ident: Optional[str] = None) -> Any:
        self.nest()
        try:
            return self._typedef(ident)
        finally:
            self.depth -= 1

    def _typedef(self, ident: Optional[str] = None) -> Any:
        """A ``deftype``: a primitive keyword or a parenthesised definition.  ``ident`` names
        the scope of a component or instance type (for ``alias outer``)."""
        if not self.at(LPAR):
            return A.PrimValTypeDef(self.primitive())
        word = self.kw(1)
        self.i += 2
        item: Any
        if word == "func":
            item = self.functype()
        elif word == "component":
            item = A.ComponentTypeDef(self.decls("component type", ident))
        elif word == "instance":
            item = A.InstanceTypeDef(self.decls("instance type", ident))
        elif word == "resource":
            item = self.resourcetype()
        elif word in _DEFINED:
            item = self.defined_body(str(word))
        else:
            raise self.unexpected(self.toks[self.i - 1], "a type definition")
        self.rpar()
        return item

    def primitive(self) -> str:
        word = self.kw()
        name = PRIMITIVES.get(word or "")
        if name is None:
            raise self.unexpected(None, "a value type")
        self.i += 1
        return name

    def resourcetype(self) -> A.ResourceTypeDef:
        self.enter("rep")
        core = self.core
        core.i = self.i
        rep = core.valtype()
        self.i = core.i
        self.rpar()
        dtor = None
        if self.at_group("dtor"):
            self.i += 2
            dtor = self.core_ref("func")
            self.rpar()
        return A.ResourceTypeDef(rep, dtor)

    def valtype(self) -> Any:
        self.nest()
        try:
            return self._valtype()
        finally:
            self.depth -= 1

    def _valtype(self) -> Any:
        """A value type: an index, a primitive, or an inline defined type (a type of its own,
        see :meth:`inline_type`)."""
        if self.at_index():
            return self.index(A.TYPE)
        if not self.at(LPAR):
            return self.primitive()
        word = self.kw(1)
        if word not in _DEFINED:
            raise self.unexpected(self.toks[self.i + 1], "a value type")
        self.i += 2
        item = self.defined_body(str(word))
        self.rpar()
        return self.inline_type(item)

    def defined_body(self, word: str) -> Any:
        """A ``defvaltype`` after its keyword, up to its ``)`` (not consumed)."""
        if word == "record":
            rfields = []
            while self.at_group("field"):
                self.i += 2
                label = self.string()
                rfields.append((label, self.valtype()))
                self.rpar()
            return A.RecordDef(rfields)
        if word == "variant":
            cases = []
            while self.at_group("case"):
                self.i += 2
                self.opt_id()
                label = self.string()
                payload = None
                if not self.at(RPAR) and not self.at_group("refines"):
                    payload = self.valtype()
                if self.at_group("refines"):
                    raise self.error("variant case `refines` is not supported")
                self.rpar()
                cases.append((label, payload))
            return A.VariantDef(cases)
        if word == "list":
            element = self.valtype()
            length = self.u32() if self.at(NUM) else None
            return A.ListDef(element, length)
        if word == "map":
            key = self.valtype()
            return A.MapDef(key, self.valtype())
        if word == "tuple":
            types = []
            while not self.at(RPAR):
                types.append(self.valtype())
            return A.TupleDef(types)
        if word in ("flags", "enum"):
            labels = []
            while self.at(STR):
                labels.append(self.string())
            return A.FlagsDef(labels) if word == "flags" else A.EnumDef(labels)
        if word == "option":
            return A.OptionDef(self.valtype())
        if word == "result":
            ok = None
            err = None
            if not self.at(RPAR) and not self.at_group("error"):
                ok = self.valtype()
            if self.at_group("error"):
                self.i += 2
                err = self.valtype()
                self.rpar()
            return A.ResultDef(ok, err)
        if word in ("own", "borrow"):
            ref = self.index(A.TYPE)
            return A.OwnDef(ref) if word == "own" else A.BorrowDef(ref)
        # stream / future
        element = None if self.at(RPAR) else self.valtype()
        return A.StreamDef(element) if word == "stream" else A.FutureDef(element)

    def functype(self) -> A.FuncTypeDef:
        """``async? (param "l" t)* (result t)?`` up to the ``)`` (not consumed)."""
        is_async = self.opt_keyword("async")
        params = []
        while self.at_group("param"):
            self.i += 2
            label = self.string()
            params.append((label, self.valtype()))
            self.rpar()
        result = None
        if self.at_group("result"):
            self.i += 2
            result = self.valtype()
            self.rpar()
        return A.FuncTypeDef(params, result, is_async)

    def decls(self, kind: str, ident: Optional[str] = None) -> List[Any]:
        self.nest()
        try:
            return self._decls(kind, ident)
        finally:
            self.depth -= 1

    def _decls(self, kind: str, ident: Optional[str] = None) -> List[Any]:
        """The declarators of a component or instance type, up to its ``)`` (not consumed)."""
        scope = _Scope(kind, ident)
        self.stack.append(scope)
        while self.at(LPAR):
            tok = self.toks[self.i + 1]
            word = self.kw(1)
            if word == "core":
                self.i += 2
                self.keyword("type")
                ident = self.opt_id()
                self.lpar()
                item = self.core_typedef_body(in_module_type=False, ident=ident)
                self.rpar()
                self.define(item, ident)
            elif word == "type":
                self.i += 2
                ident = self.opt_id()
                item = self.typedef(ident)
                self.rpar()
                self.define(item, ident)
            elif word == "alias":
                self.i += 2
                self.field_alias()
            elif word == "import" and kind == "component type":
                self.i += 2
                name = self.extern_name()
                desc, ident = self.item_sig()
                self.rpar()
                self.define(A.Import(name, desc), ident)
            elif word == "export":
                self.i += 2
                name = self.extern_name()
                desc, ident = self.item_sig()
                self.rpar()
                self.define(A.ExportDecl(name, desc), ident)
            else:
                raise self.unexpected(tok, "a type declaration")
            self.flush()
        self.stack.pop()
        return scope.out

    def item_sig(self, named: bool = True) -> Tuple[A.ExternDesc, Optional[str]]:
        """``(sort $id? type)``: the externtype of an import or export."""
        self.lpar()
        word = self.kw()
        self.i += 1
        ident = self.opt_id() if named else None
        desc: A.ExternDesc
        if word == "core":
            self.keyword("module")
            if ident is None and named:
                ident = self.opt_id()
            desc = A.ExternDesc(A.CORE_MODULE, idx=self.core_type_use_module())
        elif word in ("func", "component", "instance"):
            desc = A.ExternDesc(_SORTS[str(word)], idx=self.type_use(str(word)))
        elif word == "value":
            if self.at_group("type") and self.at_index(2):
                self.i += 2
                bound: Any = self.ref_rest(A.TYPE)
            elif self.at_group("eq"):
                self.i += 2
                bound = A.Eq(self.index(A.VALUE))
                self.rpar()
            else:
                bound = self.valtype()
            desc = A.ExternDesc(A.VALUE, bound=bound)
        elif word == "type":
            self.lpar()
            if self.opt_keyword("eq"):
                bound = A.Eq(self.index(A.TYPE))
            elif self.opt_keyword("sub"):
                self.keyword("resource")
                bound = A.SubResource()
            else:
                raise self.unexpected(None, "`eq` or `sub`")
            self.rpar()
            desc = A.ExternDesc(A.TYPE, bound=bound)
        else:
            raise self.unexpected(self.toks[self.i - 1], "an extern type")
        self.rpar()
        return desc, ident

    def at_type_ref(self) -> bool:
        """``(type idx name*)`` — a reference to a type, not an inline declaration."""
        if not self.at_group("type") or not self.at_index(2):
            return False
        k = self.toks[self.i + 3][0]
        return k is RPAR or k is STR

    def type_use(self, word: str) -> Any:
        """A component type use: ``(type idx name*)`` or the type written inline (then a type
        definition of its own)."""
        if self.at_type_ref():
            self.i += 2
            return self.ref_rest(A.TYPE)
        if word == "func":
            item: Any = self.functype()
        elif word == "component":
            item = A.ComponentTypeDef(self.decls("component type"))
        else:
            item = A.InstanceTypeDef(self.decls("instance type"))
        return self.inline_type(item)

    def core_type_use_module(self) -> Any:
        """A core module type use: ``(type idx)`` or the module type's declarators inline."""
        if self.at_type_ref():
            self.i += 2
            ref = self.index(A.CORE_TYPE)
            self.rpar()
            return ref
        return self.inline_type(self.module_type_decls())

    def field_import(self) -> None:
        name = self.extern_name()
        desc, ident = self.item_sig()
        self.rpar()
        self.define(A.Import(name, desc), ident)

    def field_func(self) -> None:
        ident = self.opt_id()
        exports = self.inline_exports()
        imp = self.inline_import()
        ident = self.export_later(exports, A.FUNC, ident)
        if imp is not None:
            desc = A.ExternDesc(A.FUNC, idx=self.type_use("func"))
            self.rpar()
            self.define(A.Import(imp, desc), ident)
            return
        if self.at_group("alias"):
            self.i += 2
            self.keyword("export")
            instance = self.index(A.INSTANCE)
            name = self.string()
            self.rpar()
            self.rpar()
            self.define(A.AliasExport(A.FUNC, instance, name), ident)
            return
        ty = self.type_use("func")
        self.enter("canon")
        self.keyword("lift")
        self.lpar()
        self.keyword("core")
        self.keyword("func")
        core_func = self.index(A.CORE_FUNC)
        if self.at(STR):
            core_func.names = (self.string(),)
        self.rpar()
        opts = self.canon_opts()
        self.rpar()
        self.rpar()
        self.define(A.CanonLift(core_func, opts, ty), ident)

    def field_export(self) -> None:
        ident = self.opt_id()
        name = self.extern_name()
        sortidx = self.sort_ref()
        desc = None
        if self.at(LPAR):
            desc, _ = self.item_sig(named=False)
        self.rpar()
        self.define(A.Export(name, sortidx, desc), ident)

    def field_start(self) -> None:
        func = self.index(A.FUNC)
        args = []
        while self.at_group("value"):
            self.i += 2
            args.append(self.ref_rest(A.VALUE))
        results: List[Optional[str]] = []
        while self.at_group("result"):
            self.i += 2
            self.enter("value")
            results.append(self.opt_id())
            self.rpar()
            self.rpar()
        self.rpar()
        self.define(A.Start(func, args, len(results)), None)
        self.flush()
        for ident in results:
            self.bind(A.VALUE, ident)

    def field_canon(self) -> None:
        if self.kw() == "lift":
            self.i += 1
            self.lpar()
            self.keyword("core")
            self.keyword("func")
            core_func = self.index(A.CORE_FUNC)
            if self.at(STR):
                core_func.names = (self.string(),)
            self.rpar()
            opts = self.canon_opts()
            self.enter("func")
            ident = self.opt_id()
            ty = self.type_use("func")
            self.rpar()
            self.rpar()
            self.define(A.CanonLift(core_func, opts, ty), ident)
            return
        item = self.canon_core_body()
        self.lpar()
        self.keyword("core")
        self.keyword("func")
        ident = self.opt_id()
        self.rpar()
        self.rpar()
        self.define(item, ident)

    def field_value(self) -> None:
        raise self.error("value definitions are not supported in the component text format yet",
                         self.toks[self.i - 1])


def _is_node(v: Any) -> bool:
    """Whether ``v`` is a node of the component AST (where references may be)."""
    return is_dataclass(v) and not isinstance(v, type) and type(v).__module__ == A.__name__


def _is_typedef(item: Any) -> bool:
    return isinstance(item, (A.PrimValTypeDef, A.RecordDef, A.VariantDef, A.ListDef, A.TupleDef,
                             A.FlagsDef, A.EnumDef, A.OptionDef, A.ResultDef, A.OwnDef, A.BorrowDef,
                             A.StreamDef, A.FutureDef, A.MapDef, A.FuncTypeDef, A.ComponentTypeDef,
                             A.InstanceTypeDef, A.ResourceTypeDef))


__all__ = ["parse_component", "component_tokens", "ComponentParser", "NAME_ORDER"]
