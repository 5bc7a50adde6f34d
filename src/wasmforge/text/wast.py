"""WAST scripts: the spec test suite's format (spec interpreter README, "Scripts").

:func:`parse_script` reads a script into the commands of :mod:`wasmforge.text.script`.
Text modules are parsed at once; ``(module binary ...)`` and ``(module quote ...)`` are kept
as bytes / text and only decoded or parsed when the runner loads them, since
``assert_malformed`` expects exactly that step to fail.
"""

from __future__ import annotations

from typing import List

import re

from .lexer import EOF, ERR, KW, LPAR, NUM, RPAR, STR, parse_float, parse_int, parse_nat, tokenize
from .parser import _MODULE_FIELDS, HEAPTYPES, SHAPES, Parser, _skip_group
from .script import (ActionCommand, Either, AssertException, AssertExhaustion, AssertInvalid, AssertMalformed, AssertReturn,
                     AssertTrap, AssertUninstantiable, AssertUnlinkable, Command, ComponentCommand,
                     ComponentInstanceCommand, ComponentSource, Const, CValue, Get,
                     Invoke, ModuleCommand, ModuleSource, NanPattern, RefExtern, RefFunc, RefHost, RefKind, RefNull,
                     Register, V128Pattern)

_NAN_PATTERNS = {"nan:canonical": "canonical", "nan:arithmetic": "arithmetic"}

# Component-model value constants (component WAST): integer kinds -> (bits, signed).
_CM_INTS = {"u8": (8, False), "s8": (8, True), "u16": (16, False), "s16": (16, True),
            "u32": (32, False), "s32": (32, True), "u64": (64, False), "s64": (64, True)}
_CM_VALUES = frozenset(f"{k}.const" for k in _CM_INTS) | frozenset((
    "bool.const", "char.const", "str.const", "list.const", "record.const", "tuple.const",
    "variant.const", "enum.const", "flags.const", "option.none", "option.some", "result.ok",
    "result.err"))
_KEYWORD_RE = re.compile(r"[a-z][0-9A-Za-z_.:-]*")
# How deep component value constants may nest (the reader recurses on them).
_CM_MAX_NESTING = 100


def _keyword(tok):
    """The keyword a token spells, also when the core lexer does not know it (the component
    model's ``component``, ``str.const``, ``true`` ... are "unknown operators" to it)."""
    if tok[0] is KW:
        return tok[1]
    if tok[0] is ERR and tok[1].startswith("unknown operator "):
        word = tok[1][len("unknown operator "):]
        if _KEYWORD_RE.fullmatch(word):
            return word
    return None


def parse_script(text: str, filename=None) -> List[Command]:
    """Parse a WAST script.  Raises :class:`~wasmforge.errors.ParseError` (positioned in the
    script) if it is malformed."""
    return _ScriptParser(tokenize(text, filename)).script()


class _ScriptParser(Parser):

    def line(self, tok) -> int:
        return self.tokens.where(tok[2])[0]

    def script(self) -> list:
        t = self.toks
        if t[0][0] is LPAR and t[1][0] is KW and t[1][1] in _MODULE_FIELDS:
            # A script may be just the fields of one module (spec interpreter README).
            m = self.module_fields()
            if t[self.i][0] is not EOF:
                raise self.unexpected()
            self.end_module(m)
            return [ModuleCommand(1, ModuleSource("text", self.line(t[0]), module=m))]
        out = []
        while t[self.i][0] is not EOF:
            out.append(self.command())
        return out

    def command(self):
        t = self.toks
        start = t[self.i]
        if start[0] is not LPAR:
            raise self.unexpected()
        head = t[self.i + 1]
        kw = _keyword(head)
        if kw is None:
            raise self.unexpected(head)
        line = self.line(start)
        if kw == "module":
            return ModuleCommand(line, self.module_source())
        if kw == "component":
            nxt = t[self.i + 2]
            if _keyword(nxt) == "instance":
                self.i += 3
                name = self.opt_id()
                comp = self.opt_id()
                self.rpar()
                return ComponentInstanceCommand(line, name, comp)
            return ComponentCommand(line, self.component_source())
        if kw in ("invoke", "get"):
            return ActionCommand(line, self.action())
        self.i += 2
        if kw == "register":
            as_name = self.name()
            mod = self.opt_id()
            self.rpar()
            return Register(line, as_name, mod)
        if kw == "assert_return":
            action = self.action()
            expected = []
            while t[self.i][0] is LPAR:
                expected.append(self.value(results=True))
            self.rpar()
            return AssertReturn(line, action, expected)
        if kw == "assert_trap":
            if self.at_component():
                mod, action = self.component_source(), None
            elif self.at_group("module"):
                mod, action = self.module_source(), None
            else:
                mod, action = None, self.action()
            msg = self.message()
            return AssertTrap(line, action, mod, msg)
        if kw == "assert_exception":
            action = self.action()
            self.rpar()
            return AssertException(line, action)
        if kw == "assert_exhaustion":
            action = self.action()
            return AssertExhaustion(line, action, self.message())
        kinds = {"assert_invalid": AssertInvalid, "assert_malformed": AssertMalformed,
                 "assert_unlinkable": AssertUnlinkable,
                 "assert_uninstantiable": AssertUninstantiable}
        if kw in kinds:
            mod = self.component_source() if self.at_component() else self.module_source()
            return kinds[kw](line, mod, self.message())
        raise self.unexpected(head if head[0] is not KW else None)

    def at_component(self) -> bool:
        t = self.toks
        return t[self.i][0] is LPAR and _keyword(t[self.i + 1]) == "component"

    def component_source(self) -> ComponentSource:
        """``(component $id? ...)``, ``(component definition $id? ...)``, ``(component $id?
        binary str*)`` or ``(component $id? quote str*)``: kept as source text or bytes (see
        :class:`ComponentSource`)."""
        t = self.toks
        start = self.i
        line, column = self.tokens.where(t[start][2])
        end = _skip_group(t, start)
        if end < 0:
            # Unclosed: report the lexical error inside it, else the end of input.
            for j in range(start, len(t)):
                if t[j][0] is ERR and not _keyword(t[j]):
                    raise self.unexpected(t[j])
            raise self.unexpected(t[-1])
        self.i += 2
        definition = False
        if _keyword(t[self.i]) == "definition":
            definition = True
            self.i += 1
        name = self.opt_id()
        kind = _keyword(t[self.i])
        if kind in ("binary", "quote"):
            self.i += 1
            data = []
            while t[self.i][0] is STR:
                data.append(t[self.i][1])
                self.i += 1
            self.rpar()
            blob = b"".join(data)
            if kind == "binary":
                return ComponentSource("binary", line, data=blob, name=name, definition=definition,
                                       column=column)
            return ComponentSource("quote", line, text=blob.decode("utf-8", "surrogateescape"),
                                   name=name, definition=definition, column=column)
        text = self.tokens.text[t[start][2]:t[end - 1][2] + 1]
        self.i = end
        return ComponentSource("text", line, text=text, name=name, definition=definition,
                               column=column)

    def message(self) -> str:
        tok = self.toks[self.i]
        msg = self.string()
        self.rpar()
        try:
            return msg.decode("utf-8")
        except UnicodeDecodeError:
            raise self.error("malformed UTF-8 encoding", tok) from None

    def module_source(self) -> ModuleSource:
        """``(module $id? field*)`` | ``(module $id? binary str*)`` | ``(module $id? quote
        str*)``."""
        t = self.toks
        start = t[self.i]
        line = self.line(start)
        self.i += 2
        name = self.opt_id()
        tok = t[self.i]
        if tok[0] is KW and tok[1] in ("binary", "quote"):
            self.i += 1
            data = []
            while t[self.i][0] is STR:
                data.append(t[self.i][1])
                self.i += 1
            self.rpar()
            blob = b"".join(data)
            if tok[1] == "binary":
                return ModuleSource("binary", line, data=blob, name=name)
            return ModuleSource("quote", line, text=blob.decode("utf-8", "surrogateescape"),
                                name=name)
        m = self.module_fields()
        self.rpar()
        self.end_module(m)
        if name is not None:
            m.names.module = name
        return ModuleSource("text", line, module=m, name=name)

    def action(self):
        t = self.toks
        start = t[self.i]
        line = self.line(start)
        if start[0] is not LPAR:
            raise self.unexpected()
        head = t[self.i + 1]
        if head[0] is not KW or head[1] not in ("invoke", "get"):
            raise self.unexpected(head)
        self.i += 2
        mod = self.opt_id()
        name = self.name()
        if head[1] == "get":
            self.rpar()
            return Get(line, mod, name)
        args = []
        while t[self.i][0] is LPAR:
            args.append(self.value(results=False))
        self.rpar()
        return Invoke(line, mod, name, args)

    def value(self, results: bool):
        """An argument ``(t.const c)`` | ``(ref.null ht)`` | ``(ref.extern n)``; as an
        expected result also NaN patterns, per-lane v128 patterns and ``(ref.func)``."""
        t = self.toks
        if t[self.i][0] is not LPAR:
            raise self.unexpected()
        head = t[self.i + 1]
        kw = _keyword(head)
        if kw is None:
            raise self.unexpected(head)
        if kw in _CM_VALUES:
            return self.cm_value()
        self.i += 2
        tok = t[self.i]
        if kw in ("i32.const", "i64.const", "f32.const", "f64.const"):
            ty = kw[:3]
            if results and tok[0] is KW and tok[1] in _NAN_PATTERNS and ty[0] == "f":
                self.i += 1
                v = NanPattern(ty, _NAN_PATTERNS[tok[1]])
            else:
                v = Const(ty, self.number(ty))
        elif kw == "v128.const":
            v = self.v128(results)
        elif kw == "ref.null":
            if results and tok[0] is RPAR:
                v = RefNull(None)           # (ref.null) as a result: any null reference
            else:
                if tok[0] is not KW or tok[1] not in HEAPTYPES:
                    raise self.unexpected(tok)
                self.i += 1
                v = RefNull(HEAPTYPES[tok[1]])
        elif kw in ("ref.struct", "ref.array", "ref.i31", "ref.eq", "ref.any") and results:
            v = RefKind(kw[4:])
        elif kw == "ref.extern" and results and tok[0] is RPAR:
            v = RefKind("extern")
        elif kw == "ref.host":
            n = parse_nat(tok[1]) if tok[0] is NUM else None
            if n is None:
                raise self.unexpected(tok)
            self.i += 1
            v = RefHost(n)
        elif kw == "ref.extern":
            n = parse_nat(tok[1]) if tok[0] is NUM else None
            if n is None:
                raise self.unexpected(tok)
            self.i += 1
            v = RefExtern(n)
        elif kw == "ref.func" and results:
            v = RefFunc()
        elif kw == "either" and results:
            alternatives = []
            while t[self.i][0] is LPAR:
                alternatives.append(self.value(results=True))
            if not alternatives:
                raise self.unexpected()
            v = Either(tuple(alternatives))
        else:
            raise self.unexpected(head)
        self.rpar()
        return v

    def cm_value(self) -> CValue:
        """A component-model value constant (the cursor is on its ``(``)."""
        self.i += 1
        v = self.cm_value_body()
        self.rpar()
        return v

    def cm_value_body(self):
        """A component-model value constant without its parentheses, as the fields of a
        ``record.const`` write it: ``(field "a" u32.const 1)``."""
        depth = getattr(self, "cm_depth", 0)
        if depth >= _CM_MAX_NESTING:
            raise self.error(f"value nesting too deep (more than {_CM_MAX_NESTING} levels)")
        self.cm_depth = depth + 1
        try:
            return self.cm_value_inner()
        finally:
            self.cm_depth = depth

    def cm_value_inner(self):
        t = self.toks
        kw = _keyword(t[self.i])
        if kw in ("f32.const", "f64.const"):
            self.i += 1
            return Const(kw[:3], self.number(kw[:3]))
        if kw not in _CM_VALUES:
            raise self.unexpected(t[self.i])
        self.i += 1
        kind, _, op = kw.partition(".")
        if kind in _CM_INTS:
            bits, signed = _CM_INTS[kind]
            tok = t[self.i]
            if tok[0] is not NUM:
                raise self.unexpected(tok)
            v = parse_int(tok[1], bits)
            if v is None or (not signed and tok[1][0] == "-"):
                raise self.error("constant out of range", tok)
            self.i += 1
            if signed:
                v = v - (1 << bits) if v >= 1 << (bits - 1) else v
            else:
                v &= (1 << bits) - 1
            value: object = v
        elif kind == "bool":
            word = _keyword(t[self.i])
            if word not in ("true", "false"):
                raise self.unexpected(t[self.i])
            self.i += 1
            value = word == "true"
        elif kind in ("char", "str"):
            tok = t[self.i]
            value = self.name()
            if kind == "char" and len(value) != 1:
                raise self.error("a char.const needs exactly one character", tok)
        elif kind in ("list", "tuple"):
            items = []
            while t[self.i][0] is LPAR:
                items.append(self.value(results=False))
            value = tuple(items)
        elif kind == "record":
            fields = []
            while t[self.i][0] is LPAR:
                if _keyword(t[self.i + 1]) != "field":
                    raise self.unexpected(t[self.i + 1])
                self.i += 2
                label = self.name()
                fields.append((label, self.value(results=False) if t[self.i][0] is LPAR
                               else self.cm_value_body()))
                self.rpar()
            value = tuple(fields)
        elif kind == "variant":
            label = self.name()
            payload = self.value(results=False) if t[self.i][0] is LPAR else None
            value = (label, payload)
        elif kind == "enum":
            value = self.name()
        elif kind == "flags":
            labels = []
            while t[self.i][0] is STR:
                labels.append(self.name())
            value = tuple(labels)
        elif kind == "option":
            value = self.value(results=False) if op == "some" else None
        else:       # result.ok / result.err
            payload = self.value(results=False) if t[self.i][0] is LPAR else None
            value = (op == "ok", payload)
        return CValue(kind, value)

    def number(self, ty: str) -> int:
        tok = self.toks[self.i]
        if tok[0] is not NUM:
            raise self.unexpected(tok)
        bits = int(ty[1:])
        v = parse_int(tok[1], bits) if ty[0] == "i" else parse_float(tok[1], bits)
        if v is None:
            raise self.error("constant out of range", tok)
        self.i += 1
        return v

    def v128(self, results: bool):
        t = self.toks
        tok = t[self.i]
        if not (results and tok[0] is KW and tok[1] in ("f32x4", "f64x2")
                and any(t[self.i + 1 + k][0] is KW for k in range(SHAPES[tok[1]][0]))):
            return Const("v128", self.v128_lanes())
        # A float shape with NaN patterns among its lanes.
        count, width, _ = SHAPES[tok[1]]
        self.i += 1
        lanes = []
        for _ in range(count):
            lane = t[self.i]
            if lane[0] is KW and lane[1] in _NAN_PATTERNS:
                lanes.append(NanPattern("f%d" % width, _NAN_PATTERNS[lane[1]]))
                self.i += 1
            else:
                lanes.append(self.number("f%d" % width))
        return V128Pattern(tok[1], tuple(lanes))



__all__ = ["parse_script"]
