"""WAST scripts: the spec test suite's format (spec interpreter README, "Scripts").

:func:`parse_script` reads a script into the commands of :mod:`wasmforge.text.script`.
Text modules are parsed at once; ``(module binary ...)`` and ``(module quote ...)`` are kept
as bytes / text and only decoded or parsed when the runner loads them, since
``assert_malformed`` expects exactly that step to fail.
"""

from __future__ import annotations

from typing import List

from .lexer import EOF, KW, LPAR, NUM, RPAR, STR, parse_float, parse_int, parse_nat, tokenize
from .parser import _MODULE_FIELDS, HEAPTYPES, SHAPES, Parser
from .script import (ActionCommand, Either, AssertException, AssertExhaustion, AssertInvalid, AssertMalformed, AssertReturn,
                     AssertTrap, AssertUninstantiable, AssertUnlinkable, Command, Const, Get,
                     Invoke, ModuleCommand, ModuleSource, NanPattern, RefExtern, RefFunc, RefNull,
                     Register, V128Pattern)

_NAN_PATTERNS = {"nan:canonical": "canonical", "nan:arithmetic": "arithmetic"}


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
        if head[0] is not KW:
            raise self.unexpected(head)
        kw = head[1]
        line = self.line(start)
        if kw == "module":
            return ModuleCommand(line, self.module_source())
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
            if self.at_group("module"):
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
            mod = self.module_source()
            return kinds[kw](line, mod, self.message())
        raise self.unexpected(head)

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
        if head[0] is not KW:
            raise self.unexpected(head)
        kw = head[1]
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
