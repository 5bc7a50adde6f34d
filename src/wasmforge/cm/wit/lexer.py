"""The WIT lexer (WIT.md, "Lexical structure"): tokens with their line and column, and the
comments before each token, from which the parser takes documentation.

The parser pulls tokens one at a time, so it can also read a semantic version raw from the
text after ``@`` (versions such as ``1.0.0-rc.1+build.5`` are not made of WIT tokens).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import List, Optional, Tuple

from ...errors import WitError

#: WIT.md "Keywords": reserved words that are not identifiers unless written ``%word``.
KEYWORDS = frozenset((
    "as", "async", "bool", "borrow", "char", "constructor", "enum", "export", "f32", "f64",
    "flags", "from", "func", "future", "import", "include", "interface", "list", "map", "option",
    "own", "package", "record", "resource", "result", "s16", "s32", "s64", "s8", "static",
    "stream", "string", "tuple", "type", "u16", "u32", "u64", "u8", "use", "variant", "with",
    "world", "error-context",
))

#: Two-character operators first, so ``->`` is not lexed as ``-`` ``>``.
_OPERATORS = ("->", "=", ",", ":", ";", "(", ")", "{", "}", "<", ">", "*", "/", ".", "@", "_")

_ID_CHARS = re.compile(r"[A-Za-z0-9-]*")
_INTEGER = re.compile(r"[0-9]+")
# semver 2.0: MAJOR.MINOR.PATCH, then optional -prerelease and +build
_VERSION_CHARS = re.compile(r"[0-9A-Za-z.+-]*")
_SEMVER = re.compile(
    r"(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)"
    r"(?:-((?:0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*)(?:\.(?:0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*))*))?"
    r"(?:\+([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?$")


@dataclass(frozen=True)
class Pos:
    """A place in a source file: 1-based line and column (in characters)."""

    file: str
    line: int
    column: int


@dataclass
class Token:
    """One token: ``kind`` is ``id`` (``explicit`` when written ``%name``), ``keyword``, ``op``,
    ``int``, ``string`` or ``eof``; ``comments`` are the comments between the previous token
    and this one, each with its delimiters."""

    kind: str
    value: str
    pos: Pos
    explicit: bool = False
    comments: List[str] = field(default_factory=list)
    #: index of the token's first character in the text
    offset: int = 0

    def describe(self) -> str:
        """How an error message names this token (``keyword `u32```, ``'{'``, ``eof`` ...)."""
        if self.kind == "eof":
            return "eof"
        if self.kind == "keyword":
            return f"keyword `{self.value}`"
        if self.kind == "op":
            return f"'{self.value}'"
        if self.kind == "id":
            return "an identifier"
        if self.kind == "int":
            return "an integer"
        return "a string"


class Lexer:
    """Turns the text of one WIT file into tokens on demand."""

    def __init__(self, text: str, filename: str):
        self.text = text
        self.filename = filename
        self.i = 0
        self.line = 1
        self.line_start = 0
        self.token_start = 0
        self._check_characters()

    # -- positions and errors -------------------------------------------------------------

    def pos_at(self, i: int) -> Pos:
        line = self.text.count("\n", 0, i) + 1
        start = self.text.rfind("\n", 0, i) + 1
        return Pos(self.filename, line, i - start + 1)

    def here(self) -> Pos:
        return Pos(self.filename, self.line, self.i - self.line_start + 1)

    def error(self, message: str, pos: Optional[Pos] = None) -> WitError:
        p = pos or self.here()
        return WitError(message, p.file, p.line, p.column)

    def _check_characters(self) -> None:
        # WIT.md: no bidirectional overrides, no control codes other than \n, \r and \t.
        for i, c in enumerate(self.text):
            n = ord(c)
            if (n < 0x20 and c not in "\n\r\t") or n == 0x7f or 0x202a <= n <= 0x202e \
                    or 0x2066 <= n <= 0x2069:
                raise self.error(f"invalid character in source {n:#x}", self.pos_at(i))

    def _advance_to(self, j: int) -> None:
        text = self.text
        k = text.find("\n", self.i, j)
        while k != -1:
            self.line += 1
            self.line_start = k + 1
            k = text.find("\n", k + 1, j)
        self.i = j

    # -- tokens -----------------------------------------------------------------------------

    def skip_trivia(self) -> List[str]:
        """Skip whitespace and comments; return the comments skipped."""
        text = self.text
        n = len(text)
        comments: List[str] = []
        while self.i < n:
            c = text[self.i]
            if c in " \t\r\n":
                self._advance_to(self.i + 1)
            elif text.startswith("//", self.i):
                end = text.find("\n", self.i)
                end = n if end == -1 else end
                comments.append(text[self.i:end])
                self._advance_to(end)
            elif text.startswith("/*", self.i):
                start = self.here()
                depth = 0
                j = self.i
                while True:
                    if j >= n:
                        raise self.error("unterminated block comment", start)
                    if text.startswith("/*", j):
                        depth += 1
                        j += 2
                    elif text.startswith("*/", j):
                        depth -= 1
                        j += 2
                        if depth == 0:
                            break
                    else:
                        j += 1
                comments.append(text[self.i:j])
                self._advance_to(j)
            else:
                break
        return comments

    def next(self) -> Token:
        comments = self.skip_trivia()
        tok = self._next(comments)
        tok.offset = self.token_start
        return tok

    def _next(self, comments: List[str]) -> Token:
        text = self.text
        pos = self.here()
        self.token_start = self.i
        if self.i >= len(text):
            return Token("eof", "", pos, comments=comments)
        c = text[self.i]
        if c == "%":
            m = _ID_CHARS.match(text, self.i + 1)
            assert m is not None
            word = m.group()
            if not word:
                raise self.error("expected an identifier after '%'", pos)
            self._check_id(word, pos)
            self._advance_to(m.end())
            return Token("id", word, pos, explicit=True, comments=comments)
        if c.isascii() and c.isalpha():
            m = _ID_CHARS.match(text, self.i)
            assert m is not None
            word = m.group()
            self._advance_to(m.end())
            if word in KEYWORDS:
                return Token("keyword", word, pos, comments=comments)
            self._check_id(word, pos)
            return Token("id", word, pos, comments=comments)
        if c.isdigit():
            m = _INTEGER.match(text, self.i)
            assert m is not None
            self._advance_to(m.end())
            return Token("int", m.group(), pos, comments=comments)
        if c == '"':
            return self._string(pos, comments)
        for op in _OPERATORS:
            if text.startswith(op, self.i):
                self._advance_to(self.i + len(op))
                return Token("op", op, pos, comments=comments)
        raise self.error(f"unexpected character {c!r}", pos)

    def _check_id(self, word: str, pos: Pos) -> None:
        # WIT.md: kebab-case; each word all lower-case or all upper-case letters and digits.
        if not word:
            raise self.error("empty identifier", pos)
        if word.startswith("-") or word.endswith("-") or "--" in word:
            raise self.error("identifiers must have characters between '-'s", pos)
        for part in word.split("-"):
            if part[0].isdigit():
                raise self.error("identifiers must start with a letter after '-'", pos)
            if part.lower() != part and part.upper() != part:
                bad = next(ch for ch in part if ch.isupper()) if part[0].islower() else \
                    next(ch for ch in part if ch.islower())
                raise self.error(f"invalid character in identifier {bad!r}", pos)
        if not word[0].isalpha():
            raise self.error("identifiers must start with a letter", pos)

    def _string(self, pos: Pos, comments: List[str]) -> Token:
        text = self.text
        j = self.i + 1
        out: List[str] = []
        while True:
            if j >= len(text) or text[j] == "\n":
                raise self.error("unterminated string literal", pos)
            c = text[j]
            if c == '"':
                break
            if c == "\\":
                esc = text[j + 1:j + 2]
                if esc in ('"', "'", "\\"):
                    out.append(esc)
                    j += 2
                elif esc in ("n", "t", "r"):
                    out.append({"n": "\n", "t": "\t", "r": "\r"}[esc])
                    j += 2
                elif esc == "u" and text[j + 2:j + 3] == "{":
                    end = text.find("}", j + 3)
                    digits = text[j + 3:end] if end != -1 else ""
                    if not digits or not all(ch in "0123456789abcdefABCDEF_" for ch in digits):
                        raise self.error("invalid unicode escape in string literal", self.pos_at(j))
                    n = int(digits.replace("_", ""), 16)
                    if n > 0x10FFFF or 0xD800 <= n <= 0xDFFF:
                        raise self.error("invalid unicode escape in string literal", self.pos_at(j))
                    out.append(chr(n))
                    j = end + 1
                elif len(text[j + 1:j + 3]) == 2 and all(ch in "0123456789abcdefABCDEF" for ch in text[j + 1:j + 3]):
                    n = int(text[j + 1:j + 3], 16)
                    if n >= 0x80:
                        raise self.error("byte escapes above \\7f are not valid in a string", self.pos_at(j))
                    out.append(chr(n))
                    j += 3
                else:
                    raise self.error("invalid escape in string literal", self.pos_at(j))
                continue
            out.append(c)
            j += 1
        self._advance_to(j + 1)
        return Token("string", "".join(out), pos, comments=comments)

    def version(self) -> Tuple[str, Pos]:
        """Read a semantic version at the current position (after ``@`` or ``=``)."""
        self.skip_trivia()
        pos = self.here()
        m = _VERSION_CHARS.match(self.text, self.i)
        assert m is not None
        raw = m.group()
        # a version never ends in '.', which is also how `use a:b/c@1.0.0.{x}` continues
        while raw and not _SEMVER.match(raw) and "." in raw:
            cut = raw.rfind(".")
            if _SEMVER.match(raw[:cut]):
                raw = raw[:cut]
                break
            raw = raw[:cut]
        if not raw or not _SEMVER.match(raw):
            raise self.error(f"expected a semantic version, found {raw or 'nothing'!r}", pos)
        self._advance_to(self.i + len(raw))
        return raw, pos
