"""WAVE, the WebAssembly Value Encoding: component values as text, driven by their types.

This is the syntax ``wasmtime run --invoke 'f(1, "x")'`` reads and prints: numbers (``-5``,
``1.5``, ``nan``, ``inf``, ``-inf``), ``true``/``false``, chars ``'x'``, strings ``"..."`` (escapes
``\\n \\t \\r \\' \\" \\\\ \\u{hex}``), lists ``[a, b]``, tuples ``(a, b)``, records ``{a: 1, b: "x"}``
(an ``option`` field may be left out: it is ``none``), variants and enums ``name`` /
``name(payload)``, options ``some(x)`` / ``none`` (or ``x`` alone for ``some(x)``), results
``ok(x)`` / ``err(e)`` / ``ok`` / ``err`` (or ``x`` alone for ``ok(x)``), flags ``{a, b}``.  A label
that is a keyword is written ``%label``.

Values are Python values in wasmtime-py's mapping (:mod:`wasmforge.cm.abi.values`), the form
``component.Func`` takes and returns.  The printer writes what wasmtime prints: floats in full
positional notation with the fewest digits that read back to the same value (Rust's
``Display``), an option record field that is ``none`` left out.  Errors are
:class:`WaveError` with the 1-based column of the fault.
"""

from __future__ import annotations

import math
import struct
import unicodedata
from decimal import Decimal
from typing import Any, List, Optional, Tuple

from ..errors import WasmError
from .abi.values import Record, Variant, _Object, is_tagged, python_cases, python_classes, type_text
from .types import (INTEGERS, EnumType, FlagsType, FuncType, ListType, OptionType, Primitive, RecordType,
                    ResultType, TupleType, ValType, VariantType)

#: Words that must be written ``%word`` when they are labels.
KEYWORDS = frozenset({"true", "false", "inf", "nan", "some", "none", "ok", "err"})

_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "'": "'", '"': '"', "\\": "\\"}
_PRINT_ESCAPES = {"\n": "\\n", "\t": "\\t", "\r": "\\r", "'": "\\'", '"': '\\"', "\\": "\\\\"}
_UNPRINTABLE = frozenset({"Cc", "Cf", "Cn", "Co", "Cs", "Zl", "Zp", "Zs"})


class WaveError(WasmError):
    """A malformed WAVE value, or one that does not fit its type; ``column`` is 1-based."""

    def __init__(self, message: str, column: int) -> None:
        super().__init__(f"column {column}: {message}")
        self.reason = message
        self.column = column


# ---------------------------------------------------------------------------------------------
# Tokens


class _Token:
    __slots__ = ("kind", "text", "start", "value")

    def __init__(self, kind: str, text: str, start: int, value: Any = None) -> None:
        self.kind, self.text, self.start, self.value = kind, text, start, value


def _is_label_char(c: str) -> bool:
    return c.isascii() and (c.isalnum() or c == "-")


class _Lexer:
    def __init__(self, text: str, base: int) -> None:
        self.text, self.base = text, base

    def error(self, message: str, pos: int) -> WaveError:
        return WaveError(message, self.base + pos + 1)

    def tokens(self) -> List[_Token]:
        out: List[_Token] = []
        s, i, n = self.text, 0, len(self.text)
        while i < n:
            c = s[i]
            if c.isspace():
                i += 1
            elif c in "()[]{},:":
                out.append(_Token(c, c, i))
                i += 1
            elif c == '"':
                i = self._quoted(out, i, '"')
            elif c == "'":
                i = self._quoted(out, i, "'")
            elif c == "-" or c.isdigit():
                j = i + 1
                while j < n and (s[j].isalnum() or s[j] in ".+-") and not (
                        s[j] in "+-" and s[j - 1] not in "eE"):
                    j += 1
                out.append(_Token("number", s[i:j], i))
                i = j
            elif c == "%" or _is_label_char(c):
                j = i + 1
                while j < n and _is_label_char(s[j]):
                    j += 1
                word = s[i:j]
                if word == "%" or word.startswith("%-") or (word[0] != "%" and word[0] == "-"):
                    raise self.error(f"invalid label {word!r}", i)
                if word[0] == "%":
                    out.append(_Token("label", word, i, word[1:]))
                elif word in KEYWORDS:
                    out.append(_Token("keyword", word, i, word))
                else:
                    out.append(_Token("label", word, i, word))
                i = j
            else:
                raise self.error(f"unexpected character {c!r}", i)
        out.append(_Token("end", "", n))
        return out

    def _quoted(self, out: List[_Token], start: int, quote: str) -> int:
        s, i, n = self.text, start + 1, len(self.text)
        chars: List[str] = []
        while True:
            if i >= n:
                raise self.error("unterminated " + ("string" if quote == '"' else "char"), start)
            c = s[i]
            if c == quote:
                break
            if c == "\\":
                if i + 1 >= n:
                    raise self.error("unterminated escape", i)
                e = s[i + 1]
                if e in _ESCAPES:
                    chars.append(_ESCAPES[e])
                    i += 2
                elif e == "u" and s.startswith("{", i + 2):
                    close = s.find("}", i + 3)
                    digits = s[i + 3:close] if close >= 0 else ""
                    if not digits or len(digits) > 6 or any(d not in "0123456789abcdefABCDEF" for d in digits):
                        raise self.error("invalid unicode escape (expected \\u{HEX})", i)
                    code = int(digits, 16)
                    if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
                        raise self.error(f"invalid unicode scalar value \\u{{{digits}}}", i)
                    chars.append(chr(code))
                    i = close + 1
                else:
                    raise self.error(f"invalid escape \\{e}", i)
            else:
                chars.append(c)
                i += 1
        kind = "string" if quote == '"' else "char"
        out.append(_Token(kind, s[start:i + 1], start, "".join(chars)))
        return i + 1


# ---------------------------------------------------------------------------------------------
# Parser


class _Parser:
    def __init__(self, text: str, base: int = 0) -> None:
        self.lexer = _Lexer(text, base)
        self.toks = self.lexer.tokens()
        self.pos = 0

    def peek(self) -> _Token:
        return self.toks[self.pos]

    def next(self) -> _Token:
        t = self.toks[self.pos]
        self.pos += 1
        return t

    def error(self, message: str, tok: _Token) -> WaveError:
        return self.lexer.error(message, tok.start)

    def expect(self, kind: str) -> _Token:
        t = self.next()
        if t.kind != kind:
            found = "the end" if t.kind == "end" else repr(t.text)
            raise self.error(f"expected {kind!r}, found {found}", t)
        return t

    def mismatch(self, t: ValType, tok: _Token) -> WaveError:
        found = "the end" if tok.kind == "end" else repr(tok.text)
        return self.error(f"expected a value of type {type_text(t)}, found {found}", tok)

    def value(self, t: ValType) -> Any:
        tok = self.peek()
        if isinstance(t, Primitive):
            return self.primitive(t)
        if isinstance(t, ListType):
            items = self.sequence("[", "]", lambda i: t.element)
            if t.length is not None and len(items) != t.length:
                raise self.error(f"expected a list of {t.length} elements, found {len(items)}", tok)
            if t.element == Primitive("u8"):
                return bytes(items)
            return items
        if isinstance(t, TupleType):
            n = len(t.elements)
            items = self.sequence("(", ")", lambda i: t.elements[i] if i < n else None)
            if len(items) != n:
                raise self.error(f"expected a tuple of {n} elements, found {len(items)}", tok)
            return tuple(items)
        if isinstance(t, RecordType):
            return self.record(t)
        if isinstance(t, FlagsType):
            return self.flags(t)
        if isinstance(t, EnumType):
            tok = self.next()
            if tok.kind != "label" or tok.value not in t.labels:
                raise self.mismatch(t, tok)
            return str(tok.value)
        if isinstance(t, (VariantType, OptionType, ResultType)):
            return self.variant(t)
        raise self.error(f"values of type {type_text(t)} cannot be written in WAVE", tok)

    def primitive(self, t: Primitive) -> Any:
        tok = self.next()
        name = t.name
        if name == "bool":
            if tok.kind == "keyword" and tok.value in ("true", "false"):
                return tok.value == "true"
            raise self.mismatch(t, tok)
        if name in INTEGERS:
            if tok.kind != "number" or not _is_integer(tok.text):
                raise self.mismatch(t, tok)
            value = int(tok.text)
            bits, signed = INTEGERS[name]
            low, high = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
            if not low <= value <= high:
                raise self.error(f"{tok.text} is out of range for {name} ({low}..{high})", tok)
            return value
        if name in ("f32", "f64"):
            if tok.kind == "keyword" and tok.value in ("nan", "inf"):
                return math.nan if tok.value == "nan" else math.inf
            if tok.kind == "number" and tok.text == "-inf":
                return -math.inf
            if tok.kind != "number" or not _is_float(tok.text):
                raise self.mismatch(t, tok)
            fvalue = float(tok.text)
            if name == "f32":
                try:
                    fvalue = struct.unpack("<f", struct.pack("<f", fvalue))[0]
                except OverflowError:
                    raise self.error(f"{tok.text} is out of range for f32", tok) from None
            if math.isinf(fvalue):
                raise self.error(f"{tok.text} is out of range for {name}", tok)
            return fvalue
        if name == "char":
            if tok.kind != "char":
                raise self.mismatch(t, tok)
            if len(tok.value) != 1:
                raise self.error("a char holds exactly one character", tok)
            return tok.value
        if name == "string":
            if tok.kind != "string":
                raise self.mismatch(t, tok)
            return tok.value
        raise self.error(f"values of type {name} cannot be written in WAVE", tok)

    def sequence(self, open_: str, close: str, elem: Any) -> List[Any]:
        start = self.peek()
        if start.kind != open_:
            raise self.error(f"expected {open_!r}, found " + ("the end" if start.kind == "end" else repr(start.text)),
                             start)
        self.next()
        items: List[Any] = []
        while self.peek().kind != close:
            t = elem(len(items))
            if t is None:
                raise self.error("too many elements", self.peek())
            items.append(self.value(t))
            if self.peek().kind == ",":
                self.next()
            elif self.peek().kind != close:
                tok = self.peek()
                raise self.error(f"expected ',' or {close!r}, found "
                                 + ("the end" if tok.kind == "end" else repr(tok.text)), tok)
        self.next()
        return items

    def record(self, t: RecordType) -> Record:
        start = self.expect("{")
        types = dict(t.fields)
        got: dict[str, Any] = {}
        while self.peek().kind != "}":
            label = self.next()
            if label.kind != "label" and label.kind != "keyword":
                raise self.error(f"expected a field name, found {label.text!r}", label)
            name = str(label.value)
            if name not in types:
                raise self.error(f"{type_text(t)} has no field {name!r}", label)
            if name in got:
                raise self.error(f"field {name!r} given twice", label)
            self.expect(":")
            got[name] = self.value(types[name])
            if self.peek().kind == ",":
                self.next()
            elif self.peek().kind != "}":
                raise self.error(f"expected ',' or '}}', found {self.peek().text!r}", self.peek())
        self.next()
        fields: dict[str, Any] = {}
        for name, ft in t.fields:
            if name in got:
                fields[name] = got[name]
            elif isinstance(ft, OptionType):
                fields[name] = Variant("none") if is_tagged(ft) else None
            else:
                raise self.error(f"missing field {name!r}", start)
        return Record(**fields)

    def flags(self, t: FlagsType) -> "set[str]":
        self.expect("{")
        out: "set[str]" = set()
        while self.peek().kind != "}":
            tok = self.next()
            if tok.kind not in ("label", "keyword") or tok.value not in t.labels:
                raise self.error(f"{type_text(t)} has no flag {tok.text!r}", tok)
            if tok.value in out:
                raise self.error(f"flag {tok.value!r} given twice", tok)
            out.add(str(tok.value))
            if self.peek().kind == ",":
                self.next()
            elif self.peek().kind != "}":
                raise self.error(f"expected ',' or '}}', found {self.peek().text!r}", self.peek())
        self.next()
        return out

    def variant(self, t: ValType) -> Any:
        tok = self.peek()
        cases = dict(python_cases(t))
        keyword_cases = isinstance(t, (OptionType, ResultType))
        name: Optional[str] = None
        if keyword_cases and tok.kind == "keyword" and tok.value in cases:
            name = str(tok.value)
        elif not keyword_cases and tok.kind == "label" and tok.value in cases:
            name = str(tok.value)
        if name is None:
            # `x` alone for `some(x)` / `ok(x)`
            shorthand = "some" if isinstance(t, OptionType) else "ok" if isinstance(t, ResultType) else None
            inner = cases.get(shorthand) if shorthand is not None else None
            if inner is None or tok.kind in ("label", "keyword") and not (
                    tok.kind == "keyword" and tok.value in ("true", "false", "nan", "inf")
                    or isinstance(inner, (EnumType, VariantType))):
                if tok.kind in ("label", "keyword"):
                    raise self.error(f"{type_text(t)} has no case {tok.text!r}", tok)
                raise self.mismatch(t, tok)
            assert shorthand is not None
            return _make_case(t, shorthand, self.value(inner))
        self.next()
        payload_type = cases[name]
        if payload_type is None:
            if self.peek().kind == "(":
                raise self.error(f"case {name!r} has no payload", self.peek())
            return _make_case(t, name, None)
        if self.peek().kind != "(":
            raise self.error(f"case {name!r} needs a payload: {name}(...)", self.peek())
        self.next()
        payload = self.value(payload_type)
        self.expect(")")
        return _make_case(t, name, payload)


def _make_case(t: ValType, tag: str, payload: Any) -> Any:
    return Variant(tag, payload) if is_tagged(t) else payload


def _is_integer(text: str) -> bool:
    digits = text[1:] if text.startswith("-") else text
    return digits.isdigit() and digits.isascii()


def _is_float(text: str) -> bool:
    if text.lower().lstrip("-") in ("nan", "inf", "infinity") or "_" in text:
        return False
    body = text[1:] if text.startswith("-") else text
    if not body or not body[0].isdigit():
        return False
    try:
        float(text)
    except ValueError:
        return False
    return True


def parse_value(text: str, t: ValType) -> Any:
    """The value of type ``t`` written in ``text`` (the whole of it)."""
    p = _Parser(text)
    v = p.value(t)
    if p.peek().kind != "end":
        raise p.error(f"unexpected {p.peek().text!r} after the value", p.peek())
    return v


def parse_call(text: str) -> Tuple[str, str, int]:
    """``name(args)`` -> (name, the text between the parentheses, its offset in ``text``)."""
    stripped = text.rstrip()
    open_ = stripped.find("(")
    if open_ <= 0 or not stripped.endswith(")"):
        raise WaveError("expected an export name and its arguments in parentheses: name(arg, ...)",
                        max(open_, 0) + 1 if open_ <= 0 else len(stripped) + 1)
    name = stripped[:open_].strip()
    if not name:
        raise WaveError("missing export name before '('", 1)
    return name, stripped[open_ + 1:-1], open_ + 1


def parse_args(text: str, func: FuncType, base: int = 0) -> List[Any]:
    """The arguments of ``func`` written (comma separated) in ``text``, which starts at offset
    ``base`` of the command line (for error columns)."""
    p = _Parser(text, base)
    out: List[Any] = []
    params = func.params
    while p.peek().kind != "end":
        if len(out) == len(params):
            raise p.error(f"too many arguments: the function takes {len(params)}", p.peek())
        out.append(p.value(params[len(out)][1]))
        if p.peek().kind == ",":
            p.next()
        elif p.peek().kind != "end":
            raise p.error(f"expected ',' or ')', found {p.peek().text!r}", p.peek())
    if len(out) < len(params):
        missing = ", ".join(n for n, _ in params[len(out):])
        raise WaveError(f"missing argument(s): {missing} (the function takes {len(params)})",
                        base + len(text) + 1)
    return out


# ---------------------------------------------------------------------------------------------
# Printer


def _label(name: str) -> str:
    return f"%{name}" if name in KEYWORDS else name


def _escape(s: str) -> str:
    out: List[str] = []
    for c in s:
        e = _PRINT_ESCAPES.get(c)
        if e is not None:
            out.append(e)
        elif c != " " and unicodedata.category(c) in _UNPRINTABLE:
            out.append(f"\\u{{{ord(c):x}}}")
        else:
            out.append(c)
    return "".join(out)


def format_float(v: float, bits: int) -> str:
    """``v`` as Rust's ``Display`` writes an f32/f64: shortest round-trip digits, positional."""
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    if bits == 64:
        digits = repr(v)
    else:
        digits = ""
        for precision in range(1, 10):
            digits = f"{v:.{precision}g}"
            try:
                if struct.unpack("<f", struct.pack("<f", float(digits)))[0] == v:
                    break
            except OverflowError:       # rounded up past the largest f32
                continue
    d = Decimal(digits)
    text = format(d.normalize(), "f") if d != 0 else "0"
    if math.copysign(1.0, v) < 0 and not text.startswith("-"):
        text = "-" + text
    return text


def _case_of(t: ValType, v: Any) -> Tuple[str, Any]:
    if is_tagged(t):
        if not isinstance(v, Variant):
            raise WasmError(f"expected a Variant for {type_text(t)}, got {v!r}")
        return v.tag, v.payload
    for tag, c in python_cases(t):
        if c is None:
            if v is None:
                return tag, None
        else:
            classes = python_classes(c)
            if (v is None and _Object in classes) or (v is not None and type(v) in classes):
                return tag, v
    raise WasmError(f"value {v!r} fits no case of {type_text(t)}")


def format_value(v: Any, t: ValType) -> str:
    """``v`` (wasmtime-py's mapping) of type ``t`` written in WAVE, as wasmtime prints it."""
    if isinstance(t, Primitive):
        n = t.name
        if n == "bool":
            return "true" if v else "false"
        if n in INTEGERS:
            return str(int(v))
        if n in ("f32", "f64"):
            return format_float(float(v), 32 if n == "f32" else 64)
        if n == "char":
            return f"'{_escape(v)}'"
        if n == "string":
            return f'"{_escape(v)}"'
        raise WasmError(f"values of type {n} cannot be written in WAVE")
    if isinstance(t, ListType):
        return "[" + ", ".join(format_value(e, t.element) for e in v) + "]"
    if isinstance(t, TupleType):
        return "(" + ", ".join(format_value(e, et) for e, et in zip(v, t.elements)) + ")"
    if isinstance(t, RecordType):
        parts = []
        for name, ft in t.fields:
            fv = getattr(v, name)
            if isinstance(ft, OptionType) and _case_of(ft, fv)[0] == "none":
                continue
            parts.append(f"{_label(name)}: {format_value(fv, ft)}")
        return "{" + ", ".join(parts) + "}"
    if isinstance(t, FlagsType):
        return "{" + ", ".join(_label(n) for n in t.labels if n in v) + "}"
    if isinstance(t, EnumType):
        return _label(v)
    if isinstance(t, (VariantType, OptionType, ResultType)):
        tag, payload = _case_of(t, v)
        payload_type = dict(python_cases(t))[tag]
        word = tag if isinstance(t, (OptionType, ResultType)) else _label(tag)
        if payload_type is None:
            return word
        return f"{word}({format_value(payload, payload_type)})"
    raise WasmError(f"values of type {type_text(t)} cannot be written in WAVE")


__all__ = ["WaveError", "KEYWORDS", "parse_value", "parse_call", "parse_args", "format_value", "format_float"]
