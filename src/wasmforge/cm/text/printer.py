"""Component AST -> the component text format (``wasmforge print`` on a component).

Every definition is printed in its explicit form, in the order of the binary, so that parsing
the text gives back the same definitions (:func:`~wasmforge.cm.text.parser.parse_component`
encodes it to the same bytes).  References are printed as indices, with the definition's index
in a ``(;N;)`` comment; names from the ``component-name`` section become the definitions'
``$identifiers`` where they are valid and unique in their index space.  Nested core modules
are printed by the core printer (:mod:`wasmforge.text.printer`).
"""

from __future__ import annotations

import re
from typing import Any, Callable, Dict, List, Optional

from ...module import Import as CoreImport
from ...text.printer import name_string, print_module, quote
from ...types import GlobalType, MemoryType, TableType
from .. import ast as A
from .parser import CANON_BUILTINS, STRING_ENCODINGS

_IDCHARS = frozenset(chr(c) for c in range(0x21, 0x7F)) - set(' ",;()[]{}')
_ENCODING_WORDS = {v: k for k, v in STRING_ENCODINGS.items()}
_CORE_WORDS = {A.CORE_FUNC: "func", A.CORE_TABLE: "table", A.CORE_MEMORY: "memory",
               A.CORE_GLOBAL: "global", A.CORE_TAG: "tag", A.CORE_TYPE: "type",
               A.CORE_MODULE: "module", A.CORE_INSTANCE: "instance"}
_MODULE_HEAD = re.compile(r"\(module(?: \$[^\s()]+)?")


def print_component(component: A.Component) -> str:
    """The text of ``component``, ending with a newline."""
    out: List[str] = []
    _Printer(out.append).component(component, 0, None)
    return "".join(out)


def write_component(component: A.Component, write: Callable[[str], object]) -> None:
    """Write the text of ``component`` through ``write``, a line at a time."""
    _Printer(write).component(component, 0, None)


def _ids(names: Dict[int, str]) -> Dict[int, str]:
    """The names printable as identifiers: valid characters, unique in their space."""
    seen: Dict[str, int] = {}
    for name in names.values():
        seen[name] = seen.get(name, 0) + 1
    return {idx: "$" + name for idx, name in names.items()
            if name and seen[name] == 1 and all(c in _IDCHARS for c in name)}


class _Printer:
    def __init__(self, write: Callable[[str], object]):
        self.write = write
        #: per scope being printed, sort -> index -> ``$id`` (empty in type declarations)
        self.scopes: List[Dict[str, Dict[int, str]]] = []

    def r(self, sort: str, idx: Any) -> str:
        """A reference to ``idx`` of ``sort`` in the current scope: its ``$id`` or the index."""
        name = self.scopes[-1].get(sort, {}).get(idx) if self.scopes else None
        return name if name is not None else str(idx)

    def vt(self, t: A.ValType) -> str:
        """A value type: a primitive's name, or a type reference."""
        return self.r(A.TYPE, t) if isinstance(t, int) else str(t)

    def _opt(self, t: Optional[A.ValType]) -> str:
        return "" if t is None else " " + self.vt(t)

    def line(self, depth: int, text: str) -> None:
        self.write("  " * depth + text + "\n")

    # ----- components -----

    def component(self, c: A.Component, depth: int, ident: Optional[str]) -> None:
        names = c.names
        ids: Dict[str, Dict[int, str]] = {}
        if names is not None:
            for sort, mapping in names.sorts:
                ids[sort] = _ids(mapping)
        counts: Dict[str, int] = {}

        def bind(sort: Optional[str]) -> str:
            """`$id (;N;)` for the next index of ``sort``."""
            if sort is None:
                return ""
            n = counts.get(sort, 0)
            counts[sort] = n + 1
            name = ids.get(sort, {}).get(n)
            return f" {name} (;{n};)" if name else f" (;{n};)"

        self.scopes.append(ids)
        head = "(component"
        if not ident and names is not None and names.component is not None:
            ident = _ids({0: names.component}).get(0, "")
        if ident:
            head += " " + ident
        self.line(depth, head)
        for d in c.definitions:
            self.definition(d, depth + 1, bind)
        self.line(depth, ")")
        self.scopes.pop()

    def definition(self, d: Any, depth: int, bind: Callable[[Optional[str]], str]) -> None:
        if isinstance(d, A.ComponentNames):
            return      # printed as the identifiers
        if isinstance(d, A.Custom):
            self.line(depth, f"(@custom {name_string(d.name)} {quote(d.data)})")
            return
        if isinstance(d, A.Start):
            args = "".join(f" (value {self.r(A.VALUE, a)})" for a in d.args)
            results = "".join(f" (result (value{bind(A.VALUE)}))" for _ in range(d.results))
            self.line(depth, f"(start {self.r(A.FUNC, d.func)}{args}{results})")
            return
        if isinstance(d, A.CoreModule):
            name = bind(A.CORE_MODULE)
            ident = name.split(" (;")[0]
            text = print_module(d.module).rstrip("\n")
            text = _MODULE_HEAD.sub("(core module" + ident + " " + name[len(ident):].strip(), text, count=1)
            for ln in text.split("\n"):
                self.line(depth, ln)
            return
        if isinstance(d, A.Component):
            name = bind(A.COMPONENT)
            self.component(d, depth, name.strip())
            return
        if isinstance(d, A.CoreInstantiate):
            args = "".join(f" (with {name_string(a.name)} (instance {self.r(A.CORE_INSTANCE, a.sortidx.idx)}))"
                           for a in d.args)
            self.line(depth, f"(core instance{bind(A.CORE_INSTANCE)} (instantiate {self.r(A.CORE_MODULE, d.module)}{args}))")
            return
        if isinstance(d, A.CoreInlineExports):
            exports = "".join(f" (export {name_string(e.name)} ({_CORE_WORDS[e.sortidx.sort]} "
                              f"{self.r(e.sortidx.sort, e.sortidx.idx)}))" for e in d.exports)
            self.line(depth, f"(core instance{bind(A.CORE_INSTANCE)}{exports})")
            return
        if isinstance(d, (A.CoreFuncType, A.CoreStructType, A.CoreArrayType, A.CoreSubType,
                          A.CoreRecType, A.CoreModuleType)):
            self.core_type(d, depth, bind(A.CORE_TYPE))
            return
        if isinstance(d, A.Instantiate):
            args = "".join(f" (with {name_string(a.name)} ({a.sortidx.sort} "
                           f"{self.r(a.sortidx.sort, a.sortidx.idx)}))" for a in d.args)
            self.line(depth, f"(instance{bind(A.INSTANCE)} (instantiate {self.r(A.COMPONENT, d.component)}{args}))")
            return
        if isinstance(d, A.InlineExports):
            exports = "".join(f" (export {self.extern_name(e.name)} ({e.sortidx.sort} "
                              f"{self.r(e.sortidx.sort, e.sortidx.idx)}))" for e in d.exports)
            self.line(depth, f"(instance{bind(A.INSTANCE)}{exports})")
            return
        if isinstance(d, (A.AliasExport, A.AliasCoreExport, A.AliasOuter)):
            self.line(depth, self.alias(d, bind(d.sort)))
            return
        if isinstance(d, A.CanonLift):
            self.line(depth, f"(canon lift (core func {self.r(A.CORE_FUNC, d.core_func)}){self.opts(d.opts)} "
                             f"(func{bind(A.FUNC)} (type {self.r(A.TYPE, d.type)})))")
            return
        if isinstance(d, (A.CanonLower, A.CanonResourceNew, A.CanonResourceDrop, A.CanonResourceRep,
                          A.CanonOther)):
            self.line(depth, f"(canon {self.canon_body(d)} (core func{bind(A.CORE_FUNC)}))")
            return
        if isinstance(d, A.Import):
            self.line(depth, f"(import {self.extern_name(d.name)} {self.externdesc(d.desc, bind(d.desc.sort))})")
            return
        if isinstance(d, A.Export):
            desc = "" if d.desc is None else " " + self.externdesc(d.desc, "")
            self.line(depth, f"(export{bind(d.sortidx.sort)} {self.extern_name(d.name)} "
                             f"({d.sortidx.sort} {self.r(d.sortidx.sort, d.sortidx.idx)}){desc})")
            return
        if isinstance(d, A.ValueDef):
            bind(A.VALUE)
            self.line(depth, f"(; value definition of type {self.vt(d.type)}: {d.data.hex()} ;)")
            return
        self.type_def(d, depth, bind(A.TYPE))

    # ----- names, aliases, canon -----

    @staticmethod
    def extern_name(n: A.ExternName) -> str:
        out = name_string(n.name)
        for kind, value in n.attributes:
            out += f" ({kind} {name_string(value)})"
        return out

    def alias(self, a: Any, bound: str) -> str:
        if isinstance(a, A.AliasExport):
            return f"(alias export {self.r(A.INSTANCE, a.instance)} {name_string(a.name)} ({a.sort}{bound}))"
        if isinstance(a, A.AliasCoreExport):
            return (f"(alias core export {self.r(A.CORE_INSTANCE, a.instance)} {name_string(a.name)} "
                    f"({a.sort}{bound}))")
        return f"(alias outer {a.count} {a.idx} ({a.sort}{bound}))"

    def opts(self, opts: List[A.CanonOpt]) -> str:
        out = ""
        for o in opts:
            if o.kind in _ENCODING_WORDS:
                out += " " + _ENCODING_WORDS[o.kind]
            elif o.kind == A.ASYNC:
                out += " async"
            else:
                out += f" ({o.kind} {self.r(A.CORE_MEMORY if o.kind == A.MEMORY else A.CORE_FUNC, o.idx)})"
        return out

    def canon_body(self, c: Any) -> str:
        if isinstance(c, A.CanonLower):
            return f"lower (func {self.r(A.FUNC, c.func)}){self.opts(c.opts)}"
        if isinstance(c, A.CanonResourceNew):
            return f"resource.new {self.r(A.TYPE, c.type)}"
        if isinstance(c, A.CanonResourceDrop):
            return f"resource.drop {self.r(A.TYPE, c.type)}" + (" async" if c.is_async else "")
        if isinstance(c, A.CanonResourceRep):
            return f"resource.rep {self.r(A.TYPE, c.type)}"
        _, shape = CANON_BUILTINS[c.name]
        parts = [c.name]
        for what, imm in zip(shape, c.immediates):
            if what == "opts":
                opts = self.opts(imm)
                if opts:
                    parts.append(opts.strip())
            elif what in ("async", "cancellable", "shared"):
                if imm:
                    parts.append(what)
            elif what in ("core type", "core table"):
                parts.append(f"({what} {self.r(what, imm)})")
            elif what == "core memory":
                parts.append(f"(memory {self.r(A.CORE_MEMORY, imm)})")
            elif what == "type":
                parts.append(self.r(A.TYPE, imm))
            elif what == "result":
                if imm is not None:
                    parts.append(f"(result {self.vt(imm)})")
            else:
                parts.append(str(imm))
        return " ".join(parts)

    # ----- types -----

    def externdesc(self, d: A.ExternDesc, bound: str) -> str:
        if d.sort == A.TYPE:
            b = d.bound
            inner = "(sub resource)" if isinstance(b, A.SubResource) else \
                f"(eq {self.r(A.TYPE, b.idx if isinstance(b, A.Eq) else b)})"
            return f"(type{bound} {inner})"
        if d.sort == A.VALUE:
            b = d.bound
            inner = f"(eq {self.r(A.VALUE, b.idx)})" if isinstance(b, A.Eq) else self.vt(b)  # type: ignore[arg-type]
            return f"(value{bound} {inner})"
        typesort = A.CORE_TYPE if d.sort == A.CORE_MODULE else A.TYPE
        return f"({d.sort}{bound} (type {self.r(typesort, d.idx)}))"

    def type_def(self, t: Any, depth: int, bound: str) -> None:
        if isinstance(t, (A.ComponentTypeDef, A.InstanceTypeDef)):
            word = "component" if isinstance(t, A.ComponentTypeDef) else "instance"
            self.line(depth, f"(type{bound} ({word}")
            self.decls(t.decls, depth + 1)
            self.line(depth, "))")
            return
        self.line(depth, f"(type{bound} {self.deftype(t)})")

    def decls(self, decls: List[Any], depth: int) -> None:
        self.scopes.append({})      # declarations have no names: indices only
        try:
            self._decls(decls, depth)
        finally:
            self.scopes.pop()

    def _decls(self, decls: List[Any], depth: int) -> None:
        counts: Dict[str, int] = {}

        def bind(sort: Optional[str]) -> str:
            if sort is None:
                return ""
            n = counts.get(sort, 0)
            counts[sort] = n + 1
            return f" (;{n};)"

        for d in decls:
            if isinstance(d, (A.CoreFuncType, A.CoreStructType, A.CoreArrayType, A.CoreSubType,
                              A.CoreRecType, A.CoreModuleType)):
                self.core_type(d, depth, bind(A.CORE_TYPE))
            elif isinstance(d, (A.AliasExport, A.AliasCoreExport, A.AliasOuter)):
                self.line(depth, self.alias(d, bind(d.sort)))
            elif isinstance(d, A.Import):
                self.line(depth, f"(import {self.extern_name(d.name)} {self.externdesc(d.desc, bind(d.desc.sort))})")
            elif isinstance(d, A.ExportDecl):
                self.line(depth, f"(export {self.extern_name(d.name)} {self.externdesc(d.desc, bind(d.desc.sort))})")
            else:
                self.type_def(d, depth, bind(A.TYPE))

    def deftype(self, t: Any) -> str:
        if isinstance(t, A.PrimValTypeDef):
            return t.name
        if isinstance(t, A.RecordDef):
            return "(record" + "".join(f" (field {name_string(n)} {self.vt(v)})" for n, v in t.fields) + ")"
        if isinstance(t, A.VariantDef):
            return "(variant" + "".join(f" (case {name_string(n)}{self._opt(v)})" for n, v in t.cases) + ")"
        if isinstance(t, A.ListDef):
            return f"(list {self.vt(t.element)}" + ("" if t.length is None else f" {t.length}") + ")"
        if isinstance(t, A.TupleDef):
            return "(tuple" + "".join(" " + self.vt(v) for v in t.types) + ")"
        if isinstance(t, A.FlagsDef):
            return "(flags" + "".join(" " + name_string(n) for n in t.labels) + ")"
        if isinstance(t, A.EnumDef):
            return "(enum" + "".join(" " + name_string(n) for n in t.labels) + ")"
        if isinstance(t, A.OptionDef):
            return f"(option {self.vt(t.type)})"
        if isinstance(t, A.ResultDef):
            err = "" if t.err is None else f" (error {self.vt(t.err)})"
            return f"(result{self._opt(t.ok)}{err})"
        if isinstance(t, A.OwnDef):
            return f"(own {self.r(A.TYPE, t.type)})"
        if isinstance(t, A.BorrowDef):
            return f"(borrow {self.r(A.TYPE, t.type)})"
        if isinstance(t, A.StreamDef):
            return f"(stream{self._opt(t.type)})"
        if isinstance(t, A.FutureDef):
            return f"(future{self._opt(t.type)})"
        if isinstance(t, A.MapDef):
            return f"(map {self.vt(t.key)} {self.vt(t.value)})"
        if isinstance(t, A.FuncTypeDef):
            params = "".join(f" (param {name_string(n)} {self.vt(v)})" for n, v in t.params)
            result = "" if t.result is None else f" (result {self.vt(t.result)})"
            return f"(func{' async' if t.is_async else ''}{params}{result})"
        if isinstance(t, A.ResourceTypeDef):
            dtor = "" if t.dtor is None else f" (dtor (core func {self.r(A.CORE_FUNC, t.dtor)}))"
            return f"(resource (rep {t.rep}){dtor})"
        raise TypeError(f"not a component type definition: {t!r}")

    def core_type(self, t: Any, depth: int, bound: str) -> None:
        if isinstance(t, A.CoreModuleType):
            self.line(depth, f"(core type{bound} (module")
            counts = [0]
            for d in t.decls:
                if isinstance(d, CoreImport):
                    self.line(depth + 1, f"(import {name_string(d.module)} {name_string(d.name)} "
                                         f"{self.core_externtype(d.kind, d.desc)})")
                elif isinstance(d, A.CoreExportDecl):
                    self.line(depth + 1, f"(export {name_string(d.name)} {self.core_externtype(d.kind, d.desc)})")
                elif isinstance(d, A.CoreOuterAlias):
                    self.line(depth + 1, f"(alias outer {d.count} {d.idx} (type (;{counts[0]};)))")
                    counts[0] += 1
                else:
                    self.line(depth + 1, f"(type (;{counts[0]};) {self.core_comptype(d)})")
                    counts[0] += 1
            self.line(depth, "))")
            return
        self.line(depth, f"(core type{bound} {self.core_comptype(t)})")

    @staticmethod
    def core_comptype(t: Any) -> str:
        if isinstance(t, A.CoreFuncType):
            params = f" (param {' '.join(t.params)})" if t.params else ""
            results = f" (result {' '.join(t.results)})" if t.results else ""
            return f"(func{params}{results})"
        if isinstance(t, A.CoreSubType) and isinstance(t.comptype, A.CoreFuncType) and t.final \
                and not t.supertypes:
            return _Printer.core_comptype(t.comptype)
        return f"(; {type(t).__name__}: not printable in the component text format yet ;)"

    @staticmethod
    def core_externtype(kind: str, desc: Any) -> str:
        if kind in ("func", "tag"):
            return f"({kind} (type {desc}))"
        if isinstance(desc, MemoryType):
            lim = desc.limits
            text = ("i64 " if desc.is_64 else "") + str(lim.min) + ("" if lim.max is None else f" {lim.max}")
            return f"(memory {text}{' shared' if desc.shared else ''})"
        if isinstance(desc, TableType):
            lim = desc.limits
            text = ("i64 " if desc.is_64 else "") + str(lim.min) + ("" if lim.max is None else f" {lim.max}")
            return f"(table {text} {desc.element})"
        if isinstance(desc, GlobalType):
            return f"(global {'(mut ' + desc.content + ')' if desc.mutable else desc.content})"
        return f"({kind})"


__all__ = ["print_component", "write_component"]
