"""The WIT parser: text of one file to its syntax tree (``ast``), following the grammar of
WIT.md.  Errors are :class:`~wasmforge.errors.WitError` at the offending token, saying what
was expected and what was found."""

from __future__ import annotations

from typing import List, NoReturn, Optional, Tuple, Union

from ...errors import WitError
from . import ast
from .lexer import Lexer, Pos, Token

#: Deepest nesting of type expressions (``list<list<...>>``) accepted, so that hostile input
#: cannot exhaust the Python stack.
MAX_TYPE_DEPTH = 100

_PRIMITIVES = frozenset((
    "bool", "s8", "u8", "s16", "u16", "s32", "u32", "s64", "u64", "f32", "f64", "char", "string",
    "error-context",
))
_TYPEDEF_KEYWORDS = frozenset(("type", "record", "variant", "enum", "flags", "resource"))


def docs_of(comments: List[str]) -> Optional[str]:
    """The documentation made of the comments written before an item: each comment without
    its opening slashes (and a doc block without ``/**`` and ``*/``); when every line then
    starts with a space, that one space is dropped."""
    if not comments:
        return None
    lines = []
    for c in comments:
        if c.startswith("/**") and c.endswith("*/") and len(c) >= 5:
            body = c[3:-2]
        else:
            body = c.lstrip("/")
        lines.append(body)
    if all(line.startswith(" ") for line in lines if line):
        lines = [line[1:] for line in lines]
    return "\n".join(line.rstrip() for line in lines)


class Parser:
    """Recursive descent over the tokens of one file."""

    def __init__(self, text: str, filename: str):
        self.lexer = Lexer(text, filename)
        self.filename = filename
        self._tok: Optional[Token] = None
        self.last_end: Optional[Pos] = None

    # -- token plumbing ----------------------------------------------------------------

    @property
    def tok(self) -> Token:
        if self._tok is None:
            self._tok = self.lexer.next()
        return self._tok

    def advance(self) -> Token:
        t = self.tok
        self._tok = None
        return t

    def fail(self, expected: str, tok: Optional[Token] = None) -> NoReturn:
        t = tok or self.tok
        raise WitError(f"expected {expected}, found {t.describe()}", t.pos.file, t.pos.line, t.pos.column)

    def error(self, message: str, pos: Pos) -> WitError:
        return WitError(message, pos.file, pos.line, pos.column)

    def at_op(self, op: str) -> bool:
        t = self.tok
        return t.kind == "op" and t.value == op

    def at_kw(self, kw: str) -> bool:
        t = self.tok
        return t.kind == "keyword" and t.value == kw

    def eat_op(self, op: str) -> bool:
        if self.at_op(op):
            self.advance()
            return True
        return False

    def eat_kw(self, kw: str) -> bool:
        if self.at_kw(kw):
            self.advance()
            return True
        return False

    def expect_op(self, op: str) -> Token:
        if not self.at_op(op):
            self.fail(f"'{op}'")
        return self.advance()

    def expect_kw(self, kw: str) -> Token:
        if not self.at_kw(kw):
            self.fail(f"keyword `{kw}`")
        return self.advance()

    def ident(self) -> ast.Name:
        t = self.tok
        if t.kind != "id":
            self.fail("an identifier or string")
        self.advance()
        return ast.Name(t.value, t.pos)

    def version(self) -> str:
        # the '@' was just consumed and no token is buffered after it
        assert self._tok is None
        v, _ = self.lexer.version()
        return v

    # -- files and packages ---------------------------------------------------------------

    def parse_file(self) -> ast.File:
        first = self.tok
        docs = docs_of(first.comments)
        main = ast.PackageSource(None, None, [], self.filename)
        nested: List[ast.PackageSource] = []
        if self.at_kw("package"):
            self.advance()
            name = self.package_name()
            if self.at_op("{"):
                nested.append(self.nested_package(name, docs))
            else:
                self.expect_op(";")
                main.name = name
                main.docs = docs
        while self.tok.kind != "eof":
            if self.at_kw("package"):
                docs = docs_of(self.tok.comments)
                self.advance()
                name = self.package_name()
                if not self.at_op("{"):
                    self.fail("'{'")
                nested.append(self.nested_package(name, docs))
                continue
            main.items.append(self.package_item())
        return ast.File(main, nested)

    def nested_package(self, name: ast.PackageName, docs: Optional[str]) -> ast.PackageSource:
        self.expect_op("{")
        src = ast.PackageSource(name, docs, [], self.filename, nested=True)
        while not self.eat_op("}"):
            if self.at_kw("package"):
                raise self.error("nested packages must be placed at the top-level", self.tok.pos)
            if self.tok.kind == "eof":
                self.fail("'}'")
            src.items.append(self.package_item())
        return src

    def package_name(self) -> ast.PackageName:
        pos = self.tok.pos
        parts = [self.ident().text]
        self.expect_op(":")
        parts.append(self.ident().text)
        while self.eat_op(":"):
            parts.append(self.ident().text)
        version = None
        if self.at_op("@"):
            self.advance()
            version = self.version()
        return ast.PackageName(":".join(parts[:-1]), parts[-1], version, pos)

    def package_item(self) -> Union[ast.Interface, ast.World, ast.TopUse]:
        docs = docs_of(self.tok.comments)
        gate = self.gate()
        if self.at_kw("interface"):
            return self.interface(docs, gate)
        if self.at_kw("world"):
            return self.world(docs, gate)
        if self.at_kw("use"):
            if not gate.empty():
                raise self.error("`use` statements at the top level cannot be gated", gate.pos or self.tok.pos)
            pos = self.advance().pos
            path = self.use_path()
            alias = None
            if self.eat_kw("as"):
                alias = self.ident()
            self.expect_op(";")
            return ast.TopUse(path, alias, pos)
        self.fail("`world`, `interface` or `use`")

    # -- gates ------------------------------------------------------------------------------

    def gate(self) -> ast.Gate:
        gate = ast.Gate()
        while self.at_op("@"):
            at = self.advance()
            if gate.pos is None:
                gate.pos = at.pos
            which = self.tok
            if which.kind != "id":
                self.fail("`since`, `unstable` or `deprecated`")
            self.advance()
            self.expect_op("(")
            if which.value == "external-id":
                lit = self.tok
                if lit.kind != "string":
                    self.fail("a string")
                self.advance()
                if gate.external_id is not None:
                    raise self.error("duplicate `@external-id`", which.pos)
                gate.external_id = lit.value
            elif which.value in ("since", "deprecated"):
                field = self.ident()
                if field.text != "version":
                    raise self.error(f"expected `version`, found `{field.text}`", field.pos)
                self.expect_op("=")
                self._tok = None
                value = self.version()
                if which.value == "since":
                    if gate.since is not None:
                        raise self.error("duplicate `@since` gate", which.pos)
                    gate.since = value
                else:
                    if gate.deprecated is not None:
                        raise self.error("duplicate `@deprecated` gate", which.pos)
                    gate.deprecated = value
            elif which.value == "unstable":
                field = self.ident()
                if field.text != "feature":
                    raise self.error(f"expected `feature`, found `{field.text}`", field.pos)
                self.expect_op("=")
                feature = self.ident()
                if gate.unstable is not None:
                    raise self.error("duplicate `@unstable` gate", which.pos)
                gate.unstable = feature.text
            else:
                raise self.error(f"expected `since`, `unstable`, `deprecated` or `external-id`, found `{which.value}`",
                                 which.pos)
            self.expect_op(")")
        if gate.deprecated is not None and gate.since is None and gate.unstable is None:
            assert gate.pos is not None
            raise self.error("a `@deprecated` gate must be paired with a `@since` gate", gate.pos)
        return gate

    # -- interfaces ---------------------------------------------------------------------

    def interface(self, docs: Optional[str], gate: ast.Gate) -> ast.Interface:
        pos = self.expect_kw("interface").pos
        name = self.ident()
        items = self.interface_body()
        return ast.Interface(name, items, docs, gate, pos)

    def interface_body(self) -> List[Union[ast.Use, ast.TypeDef, ast.Func]]:
        self.expect_op("{")
        items: List[Union[ast.Use, ast.TypeDef, ast.Func]] = []
        while not self.eat_op("}"):
            docs = docs_of(self.tok.comments)
            gate = self.gate()
            if self.at_kw("use"):
                items.append(self.use_item(docs, gate))
            elif self.tok.kind == "keyword" and self.tok.value in _TYPEDEF_KEYWORDS:
                items.append(self.typedef(docs, gate))
            elif self.tok.kind == "id":
                items.append(self.func_item(docs, gate))
            else:
                self.fail("`type`, `resource`, `record`, `variant`, `enum`, `flags`, `use`, a function or '}'")
        return items

    def use_item(self, docs: Optional[str], gate: ast.Gate) -> ast.Use:
        pos = self.expect_kw("use").pos
        path = self.use_path()
        self.expect_op(".")
        self.expect_op("{")
        names: List[Tuple[ast.Name, Optional[ast.Name]]] = []
        while not self.at_op("}"):
            name = self.ident()
            alias = self.ident() if self.eat_kw("as") else None
            names.append((name, alias))
            if not self.eat_op(","):
                break
        self.expect_op("}")
        self.expect_op(";")
        return ast.Use(path, names, gate, docs, pos)

    def use_path(self) -> ast.UsePath:
        first = self.ident()
        if not self.at_op(":"):
            return ast.UsePath(first)
        parts = [first.text]
        while self.eat_op(":"):
            parts.append(self.ident().text)
        self.expect_op("/")
        name = self.ident()
        while self.eat_op("/"):  # nested interfaces (🪺) are not part of the language yet
            raise self.error("nested interface paths are not supported", self.tok.pos)
        version = None
        if self.at_op("@"):
            self.advance()
            version = self.version()
        pkg = ast.PackageName(":".join(parts[:-1]), parts[-1], version, first.pos)
        return ast.UsePath(name, pkg)

    def func_item(self, docs: Optional[str], gate: ast.Gate) -> ast.Func:
        name = self.ident()
        self.expect_op(":")
        ft = self.func_type()
        self.expect_op(";")
        return ast.Func(name, ft, "freestanding", docs, gate)

    def func_type(self) -> ast.FuncType:
        pos = self.tok.pos
        is_async = self.eat_kw("async")
        self.expect_kw("func")
        params = self.param_list()
        result = None
        if self.eat_op("->"):
            result = self.ty()
        return ast.FuncType(params, result, is_async, pos)

    def param_list(self) -> List[ast.Param]:
        self.expect_op("(")
        params: List[ast.Param] = []
        while not self.at_op(")"):
            name = self.ident()
            self.expect_op(":")
            params.append(ast.Param(name, self.ty()))
            if not self.eat_op(","):
                break
        self.expect_op(")")
        return params

    def typedef(self, docs: Optional[str], gate: ast.Gate) -> ast.TypeDef:
        kw = self.advance().value
        name = self.ident()
        td = ast.TypeDef(kw, name, docs, gate)
        if kw == "type":
            self.expect_op("=")
            td.alias = self.ty()
            self.expect_op(";")
        elif kw == "resource":
            if not self.eat_op(";"):
                self.resource_body(td)
        else:
            self.expect_op("{")
            while not self.at_op("}"):
                cdocs = docs_of(self.tok.comments)
                cname = self.ident()
                cty = None
                if kw == "record":
                    self.expect_op(":")
                    cty = self.ty()
                elif kw == "variant" and self.eat_op("("):
                    cty = self.ty()
                    self.expect_op(")")
                td.cases.append(ast.Case(cname, cty, cdocs))
                if not self.eat_op(","):
                    break
            self.expect_op("}")
            if not td.cases:
                what = {"record": "record", "variant": "variant", "enum": "enum", "flags": "flags"}[kw]
                raise self.error(f"empty {what}", name.pos)
        return td

    def resource_body(self, td: ast.TypeDef) -> None:
        self.expect_op("{")
        while not self.eat_op("}"):
            docs = docs_of(self.tok.comments)
            gate = self.gate()
            if self.at_kw("constructor"):
                pos = self.advance().pos
                params = self.param_list()
                result = None
                if self.eat_op("->"):
                    result = self.ty()
                self.expect_op(";")
                ft = ast.FuncType(params, result, False, pos)
                td.funcs.append(ast.Func(ast.Name("constructor", pos), ft, "constructor", docs, gate))
                continue
            if self.tok.kind != "id":
                self.fail("`constructor` or identifier")
            name = self.ident()
            self.expect_op(":")
            kind = "method"
            if self.eat_kw("static"):
                kind = "static"
            ft = self.func_type()
            self.expect_op(";")
            td.funcs.append(ast.Func(name, ft, kind, docs, gate))

    def ty(self, depth: int = 0) -> ast.Ty:
        t = self.tok
        if depth > MAX_TYPE_DEPTH:
            raise self.error("type nesting too deep", t.pos)
        if t.kind == "id":
            self.advance()
            return ast.Ty("named", t.pos, name=ast.Name(t.value, t.pos))
        if t.kind != "keyword":
            self.fail("a type")
        kw = t.value
        if kw in _PRIMITIVES:
            self.advance()
            return ast.Ty(kw, t.pos)
        if kw in ("list", "option", "tuple", "result", "map", "future", "stream", "own", "borrow"):
            self.advance()
        else:
            self.fail("a type")
        if kw in ("result", "future", "stream") and not self.at_op("<"):
            return ast.Ty(kw, t.pos, args=[None, None] if kw == "result" else [None])
        self.expect_op("<")
        out = ast.Ty(kw, t.pos)
        if kw in ("own", "borrow"):
            out.name = self.ident()
        elif kw == "list":
            out.args = [self.ty(depth + 1)]
            if self.eat_op(","):
                n = self.tok
                if n.kind != "int":
                    self.fail("fixed-length")
                self.advance()
                out.length = int(n.value)
                if out.length >= 1 << 32:
                    raise self.error("fixed-length list size is too large", n.pos)
        elif kw == "tuple":
            while not self.at_op(">"):
                out.args.append(self.ty(depth + 1))
                if not self.eat_op(","):
                    break
            if not out.args:
                raise self.error("empty tuple", t.pos)
        elif kw == "result":
            ok: Optional[ast.Ty] = None
            if self.eat_op("_"):
                self.expect_op(",")
                out.args = [None, self.ty(depth + 1)]
            else:
                ok = self.ty(depth + 1)
                err = self.ty(depth + 1) if self.eat_op(",") else None
                out.args = [ok, err]
        elif kw == "map":
            key = self.ty(depth + 1)
            self.expect_op(",")
            out.args = [key, self.ty(depth + 1)]
        else:
            out.args = [self.ty(depth + 1)]
        self.expect_op(">")
        return out

    # -- worlds -------------------------------------------------------------------------

    def world(self, docs: Optional[str], gate: ast.Gate) -> ast.World:
        pos = self.expect_kw("world").pos
        name = self.ident()
        self.expect_op("{")
        items: List[Union[ast.Extern, ast.Use, ast.TypeDef, ast.Include]] = []
        while not self.eat_op("}"):
            idocs = docs_of(self.tok.comments)
            igate = self.gate()
            t = self.tok
            if t.kind == "keyword" and t.value in ("import", "export"):
                items.append(self.extern(idocs, igate))
            elif self.at_kw("use"):
                items.append(self.use_item(idocs, igate))
            elif self.at_kw("include"):
                items.append(self.include(idocs, igate))
            elif t.kind == "keyword" and t.value in _TYPEDEF_KEYWORDS:
                items.append(self.typedef(idocs, igate))
            else:
                self.fail("`import`, `export`, `include`, `use`, or type definition")
        return ast.World(name, items, docs, gate, pos)

    def extern(self, docs: Optional[str], gate: ast.Gate) -> ast.Extern:
        direction = self.advance().value
        pos = self.tok.pos
        first = self.ident()
        if self.at_op(":") and self._adjacent(first, self.tok):
            # `import ns:pkg/iface;` (WIT.md: `a:b` with nothing between is one name)
            return self._extern_path(direction, first, docs, gate, pos)
        if self.at_op(":"):
            self.advance()
            t = self.tok
            if t.kind == "keyword" and t.value in ("func", "async"):
                ft = self.func_type()
                self.expect_op(";")
                return ast.Extern(direction, first, func=ft, docs=docs, gate=gate, pos=pos)
            if t.kind == "keyword" and t.value == "interface":
                ipos = self.advance().pos
                items = self.interface_body()
                iface = ast.Interface(None, items, None, ast.Gate(), ipos)
                return ast.Extern(direction, first, interface=iface, docs=docs, gate=gate, pos=pos)
            # `import label: path;` naming an interface under another name
            path = self.use_path()
            self.expect_op(";")
            return ast.Extern(direction, first, path=path, docs=docs, gate=gate, pos=pos)
        self.expect_op(";")
        return ast.Extern(direction, None, path=ast.UsePath(first), docs=docs, gate=gate, pos=pos)

    def _adjacent(self, name: ast.Name, colon: Token) -> bool:
        """Whether ``colon`` is glued to ``name`` and to what follows (``a:b``, not ``a: b``)."""
        end = name.pos.column + len(name.text)
        text = self.lexer.text
        after = text[colon.offset + 1:colon.offset + 2]
        return (colon.pos.line == name.pos.line and colon.pos.column in (end, end + 1)
                and after != "" and not after.isspace() and after != "/")

    def _extern_path(self, direction: str, first: ast.Name, docs: Optional[str], gate: ast.Gate,
                     pos: Pos) -> ast.Extern:
        parts = [first.text]
        while self.eat_op(":"):
            parts.append(self.ident().text)
        self.expect_op("/")
        iname = self.ident()
        version = None
        if self.at_op("@"):
            self.advance()
            version = self.version()
        pkg = ast.PackageName(":".join(parts[:-1]), parts[-1], version, first.pos)
        self.expect_op(";")
        return ast.Extern(direction, None, path=ast.UsePath(iname, pkg), docs=docs, gate=gate, pos=pos)

    def include(self, docs: Optional[str], gate: ast.Gate) -> ast.Include:
        pos = self.expect_kw("include").pos
        path = self.use_path()
        renames: List[Tuple[ast.Name, ast.Name]] = []
        if self.eat_kw("with"):
            self.expect_op("{")
            while not self.at_op("}"):
                old = self.ident()
                self.expect_kw("as")
                new = self.ident()
                renames.append((old, new))
                if not self.eat_op(","):
                    break
            self.expect_op("}")
            self.eat_op(";")  # optional after the `with { }` block
            return ast.Include(path, renames, gate, docs, pos)
        self.expect_op(";")
        return ast.Include(path, renames, gate, docs, pos)


def parse(text: str, filename: str) -> ast.File:
    """Parse the text of one WIT file."""
    return Parser(text, filename).parse_file()
