"""Tokens of the WebAssembly text format (spec 6.2 "Lexical Format") and literal conversion
(spec 6.3 "Values").

:func:`tokenize` turns source text into a list of tokens ``(kind, value, pos)``: ``pos`` is
the character offset of the token, turned into ``line:column`` only when an error is
reported (:meth:`Tokens.where`).  Lexical errors do not raise at once: they become an
``ERR`` token carrying the message, raised when the parser reaches it, so that an earlier
syntax error is reported first, as the reference interpreter's lazy lexer does.

Source text is a ``str``.  Bytes that were not valid UTF-8 are expected as the lone
surrogates ``\\udc80``-``\\udcff`` that Python's ``surrogateescape`` error handler produces;
any lone surrogate is reported as "malformed UTF-8 encoding".
"""

from __future__ import annotations

import re
from bisect import bisect_right
from functools import lru_cache

from ..errors import ParseError
from ..opcodes import BY_NAME

# Token kinds.
LPAR = "("
RPAR = ")"
KW = "kw"        # keyword, value is its text (also ``offset=N`` / ``align=N``)
ID = "id"        # $identifier, value is the name without ``$``
NUM = "num"      # any numeric literal, value is its text (converted by the parser per type)
STR = "str"      # string, value is its bytes
ERR = "err"      # lexical error, value is the message
EOF = "eof"

# The token list ends with this many EOF tokens, so the parser may look a few tokens ahead
# without bounds checks.
EOF_PADDING = 8

# Keywords of the text format (spec 6) and of scripts besides instruction names.  Any other
# keyword-shaped token is reported as "unknown operator", like the reference lexer does.
KEYWORDS = frozenset(BY_NAME) | frozenset("""
    module type func param result local import export table memory global elem data start
    mut offset item declare funcref externref extern i32 i64 f32 f64 v128
    i8x16 i16x8 i32x4 i64x2 f32x4 f64x2 then
    binary quote register invoke get assert_return assert_trap assert_exhaustion
    assert_invalid assert_malformed assert_unlinkable assert_uninstantiable
    nan:canonical nan:arithmetic ref.extern
""".split()) | frozenset("""
    ref null any eq i31 struct array none nofunc noextern exn noexn
    anyref eqref i31ref structref arrayref nullref nullfuncref nullexternref exnref nullexnref
""".split())
# Scripts of the relaxed-simd and threads proposals: `(either r1 r2 ...)` results.
KEYWORDS |= frozenset(("either",))
# Threads: shared memory types.
KEYWORDS |= frozenset(("shared",))
# Exception handling.
KEYWORDS |= frozenset("tag exnref exn do catch_ref catch_all_ref assert_exception".split())
# GC: type definitions.
KEYWORDS |= frozenset("rec sub final field i8 i16".split())
# GC scripts' result patterns and host references of the any hierarchy.
KEYWORDS |= frozenset("ref.struct ref.array ref.any ref.host".split())

_IDCHARS = r"0-9A-Za-z!#$%&'*+\-./:<=>?@\\^_`|~"
_STRING = r'"(?:[^"\\\n\r]|\\[^\n\r])*"'
# One token per match, after optional white space; groups by lastindex: 1 atom (a maximal
# run of identifier characters and strings), 2 "(;", 3 "(@", 4 "(", 5 ")", 6 line comment,
# 7 reserved punctuation, 8 anything else; no group: end of input.
_TOKEN = re.compile(
    r"[ \t\n\r]*(?:"
    rf"((?:[{_IDCHARS}]+|{_STRING})+)"
    r"|(\(;)|(\(@)|(\()|(\))|(;;[^\n\r]*)|([,;\[\]{}])|(.)|\Z)", re.S)
_G_ATOM, _G_BLOCK, _G_ANNOT, _G_LPAR, _G_RPAR, _G_LINE, _G_RES, _G_OTHER = range(1, 9)
_COMMENT_DELIM = re.compile(r"\(;|;\)")
_STRING_RE = re.compile(_STRING)
_KEYWORD_RE = re.compile(r"[a-z][0-9A-Za-z_.:]+")
_IDCHAR_RE = re.compile(rf"[{_IDCHARS}]+")
_DN = r"[0-9](?:_?[0-9])*"
_HN = r"[0-9a-fA-F](?:_?[0-9a-fA-F])*"
_NUM_RE = re.compile(
    rf"[+-]?(?:{_DN}(?:\.(?:{_DN})?)?(?:[eE][+-]?{_DN})?"
    rf"|0x{_HN}(?:\.(?:{_HN})?)?(?:[pP][+-]?{_DN})?"
    rf"|inf|nan(?::0x{_HN})?)")
_NAT_RE = re.compile(rf"{_DN}|0x{_HN}")
_INT_RE = re.compile(rf"[+-]?(?:{_DN}|0x{_HN})")
_MEMARG_RE = re.compile(rf"(?:offset|align)=(?:{_DN}|0x{_HN})")
_ESCAPE = re.compile(r"\\(?:u\{([0-9a-fA-F](?:_?[0-9a-fA-F])*)\}|([0-9a-fA-F]{2})|([nrt\\'\"]))")
_SIMPLE_ESCAPES = {"n": b"\n", "r": b"\r", "t": b"\t", "\\": b"\\", "'": b"'", '"': b'"'}
_BAD_STRING_CHAR = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")
_NEWLINE = re.compile(r"\r\n|\r|\n")


class Tokens:
    """The tokens of one source text, with the @custom annotations met on the way."""

    __slots__ = ("text", "toks", "customs", "filename", "_lines")

    def __init__(self, text: str, toks: list, customs: list, filename=None):
        self.text = text
        self.toks = toks
        self.customs = customs      # [(pos, [tokens of the annotation body])]
        self.filename = filename
        self._lines = None

    def where(self, pos: int) -> tuple:
        """``(line, column)`` of a character offset, both counted from 1."""
        if self._lines is None:
            self._lines = [m.end() for m in _NEWLINE.finditer(self.text)]
        line = bisect_right(self._lines, pos)
        start = self._lines[line - 1] if line else 0
        return line + 1, pos - start + 1

    def error(self, message: str, pos: int) -> ParseError:
        line, col = self.where(pos)
        return ParseError(message, line, col, self.filename)


def decode_string(body: str):
    """The bytes of a string literal's body (the text between the quotes), or an error
    message (a ``str``) if it is malformed (spec 6.3.3)."""
    bad = _BAD_STRING_CHAR.search(body)
    if bad:
        c = bad.group()
        if "\ud800" <= c <= "\udfff":
            return "malformed UTF-8 encoding"
        return "illegal control character in string literal"
    if "\\" not in body:
        return body.encode("utf-8")
    out = bytearray()
    last = 0
    for m in _ESCAPE.finditer(body):
        if m.start() != last:
            chunk = body[last:m.start()]
            if "\\" in chunk:
                return "illegal escape"
            out += chunk.encode("utf-8")
        u, hh, simple = m.groups()
        if simple:
            out += _SIMPLE_ESCAPES[simple]
        elif hh:
            out.append(int(hh, 16))
        else:
            cp = int(u.replace("_", ""), 16)
            if cp >= 0x110000 or 0xD800 <= cp < 0xE000:
                return "illegal escape"      # \u{...} must name a Unicode scalar value
            out += chr(cp).encode("utf-8")
        last = m.end()
    tail = body[last:]
    if "\\" in tail:
        return "illegal escape"
    out += tail.encode("utf-8")
    return bytes(out)


def _classify(s: str):
    """The (kind, value) of an atom: a maximal run of identifier characters and strings."""
    c = s[0]
    if '"' in s:
        if c == '"' and _STRING_RE.fullmatch(s):
            v = decode_string(s[1:-1])
            return (ERR, v) if isinstance(v, str) else (STR, v)
        return ERR, "unknown operator " + s
    if c == "$":
        if len(s) == 1:
            # A lone `$` is a reserved token, not an identifier: the reference interpreter
            # (and the annotations proposal's scripts, for `$(@a)`) says "unknown operator".
            return ERR, "unknown operator $ (an identifier needs a name after the $)"
        return ID, s[1:]
    if _NUM_RE.fullmatch(s):
        return NUM, s
    if "a" <= c <= "z":
        if _KEYWORD_RE.fullmatch(s):
            if s in KEYWORDS:
                return KW, s
        elif _MEMARG_RE.fullmatch(s):
            return KW, s
    return ERR, "unknown operator " + s


def _bad_char(c: str) -> str:
    if c == '"':
        return "unclosed string literal"
    if "\ud800" <= c <= "\udfff":
        return "malformed UTF-8 encoding"
    if c < " " or c == "\x7f":
        return "misplaced control character"
    return "misplaced unicode character"


def _check_comment(text: str):
    if not text.isascii():
        for c in text:
            if "\ud800" <= c <= "\udfff":
                return "malformed UTF-8 encoding"
    return None


def tokenize(text: str, filename=None) -> Tokens:
    """Split ``text`` into tokens; the list always ends with ``EOF`` tokens (after an
    ``ERR`` token when lexing stopped at an error)."""
    toks = []
    customs = []
    append = toks.append
    finditer = _TOKEN.finditer
    cache = {}
    pos = 0
    while pos is not None:
        resume = None
        for m in finditer(text, pos):
            g = m.lastindex
            if g == _G_ATOM:
                s = m.group(1)
                tok = cache.get(s)
                if tok is None:
                    tok = cache[s] = _classify(s)
                append((tok[0], tok[1], m.end() - len(s)))
            elif g == _G_LPAR:
                append((LPAR, None, m.end() - 1))
            elif g == _G_RPAR:
                append((RPAR, None, m.end() - 1))
            elif g == _G_LINE:
                err = _check_comment(m.group(g))
                if err:
                    append((ERR, err, m.start(g)))
                    break
            elif g == _G_BLOCK:
                start = m.start(g)
                end = _skip_block_comment(text, start)
                if end < 0:
                    append((ERR, "unclosed comment", start))
                    break
                err = _check_comment(text[start:end])
                if err:
                    append((ERR, err, start))
                    break
                resume = end
                break
            elif g == _G_ANNOT:
                end = _annotation(text, m.start(g), toks, customs)
                if end >= 0:
                    resume = end
                break
            elif g == _G_RES:
                append((ERR, "unknown operator " + m.group(g), m.start(g)))
            elif g == _G_OTHER:
                append((ERR, _bad_char(m.group(g)), m.start(g)))
                break
            else:
                break       # end of input
        pos = resume
    toks.extend([(EOF, None, len(text))] * EOF_PADDING)
    return Tokens(text, toks, customs, filename)


def _skip_block_comment(text: str, pos: int) -> int:
    """End offset of the (nested) block comment starting at ``pos``, or -1 if unclosed."""
    depth = 0
    for m in _COMMENT_DELIM.finditer(text, pos):
        if m.group() == "(;":
            depth += 1
        else:
            depth -= 1
            if depth == 0:
                return m.end()
    return -1


def _annotation(text: str, start: int, toks: list, customs: list) -> int:
    """Skip the annotation ``(@id ...)`` at ``start`` (annotations proposal); keep the body
    of ``@custom`` ones in ``customs``.  Returns the offset after it, or -1 after appending
    an ``ERR`` token."""
    m = _IDCHAR_RE.match(text, start + 2)
    if not m:
        toks.append((ERR, "malformed annotation id", start))
        return -1
    name = m.group()
    body = []
    depth = 1
    pos = m.end()
    while True:
        m = _TOKEN.match(text, pos)
        g = m.lastindex
        if g is None:
            toks.append((ERR, "unclosed annotation", start))
            return -1
        at = m.start(g)
        pos = m.end()
        if g == _G_LPAR or g == _G_ANNOT:
            depth += 1
            body.append((LPAR, None, at))
        elif g == _G_RPAR:
            depth -= 1
            if depth == 0:
                if name == "custom":
                    customs.append((start, body))
                return pos
            body.append((RPAR, None, at))
        elif g == _G_ATOM:
            s = m.group(g)
            k, v = _classify(s)
            if k is ERR and _KEYWORD_RE.fullmatch(s):
                k, v = KW, s        # annotations have their own vocabulary (`before`, ...)
            body.append((k, v, at))
        elif g == _G_BLOCK:
            pos = _skip_block_comment(text, at)
            if pos < 0:
                toks.append((ERR, "unclosed comment", at))
                return -1
        elif g == _G_OTHER:
            msg = _bad_char(m.group(g))
            if msg.startswith("misplaced"):
                msg = "illegal character"
            toks.append((ERR, msg, at))
            return -1


# ----- literals (spec 6.3.1, 6.3.2) -----

def _int_digits(s: str) -> int:
    """The value of an unsigned decimal or ``0x`` literal (underscores allowed)."""
    s = s.replace("_", "")
    if s.startswith("0x"):
        return int(s, 16)
    s = s.lstrip("0") or "0"    # leading zeros do not make a value large
    if len(s) > 4000:            # beyond int()'s default digit limit; surely out of range
        return 1 << 14000
    return int(s, 10)


def parse_nat(s: str):
    """The value of a ``uN`` literal, or None if the token is not one."""
    if _NAT_RE.fullmatch(s) is None:
        return None
    return _int_digits(s)


@lru_cache(maxsize=1 << 16)
def parse_int(s: str, bits: int):
    """The value of an ``iN`` literal as a signed int (spec 6.3.1: ``uN | sN``), or None if
    it is out of range or not an integer literal."""
    if _INT_RE.fullmatch(s) is None:
        return None
    neg = s[0] == "-"
    signed = s[0] in "+-"
    v = _int_digits(s[1:] if signed else s)
    if neg:
        if v > 1 << (bits - 1):
            return None
        return -v
    if v >= (1 << (bits - 1) if signed else 1 << bits):
        return None
    return v - (1 << bits) if v >> (bits - 1) else v


_FLOAT_FORMATS = {32: (23, 8), 64: (52, 11)}


@lru_cache(maxsize=1 << 16)
def parse_float(s: str, bits: int):
    """The IEEE-754 bit pattern of an ``fN`` literal, or None if it is out of range or not a
    float literal (spec 6.3.2).  Decimal and hexadecimal literals are rounded exactly, to
    nearest with ties to even, from their digits."""
    if _NUM_RE.fullmatch(s) is None:
        return None
    mbits, ebits = _FLOAT_FORMATS[bits]
    sign = 0
    if s[0] in "+-":
        sign = 1 if s[0] == "-" else 0
        s = s[1:]
    sign <<= bits - 1
    exp_all = ((1 << ebits) - 1) << mbits
    if s == "inf":
        return sign | exp_all
    if s.startswith("nan"):
        if s == "nan":
            return sign | exp_all | (1 << (mbits - 1))
        payload = int(s[6:].replace("_", ""), 16)
        if not 1 <= payload < 1 << mbits:
            return None
        return sign | exp_all | payload
    s = s.replace("_", "")
    if s.startswith("0x"):
        mant, _, exp = s[2:].lower().partition("p")
        ip, _, fp = mant.partition(".")
        p = int(ip + fp, 16)
        e2 = _exponent(exp) - 4 * len(fp)
        if p == 0:
            return sign
        mag = p.bit_length() + e2            # value < 2**mag
        if mag > (1 << (ebits - 1)) + 2:
            return None
        if mag < -(1 << (ebits - 1)) - mbits - 2:
            return sign                      # far below the smallest subnormal
        q = 1
        if e2 >= 0:
            p <<= e2
        else:
            q <<= -e2
    else:
        mant, _, exp = s.lower().partition("e")
        ip, _, fp = mant.partition(".")
        digits = (ip + fp).lstrip("0")
        if not digits:
            return sign
        e10 = _exponent(exp) - len(fp)
        mag = len(digits) + e10              # value < 10**mag
        if mag > 400:
            return None
        if mag < -400:
            return sign
        # Trailing digits beyond ~800 significant ones cannot change the rounding, except
        # to break an exact tie: keep a sticky digit for them.
        if len(digits) > 800:
            sticky = "1" if digits[800:].strip("0") else "0"
            e10 += len(digits) - 801
            digits = digits[:800] + sticky
        p = int(digits)
        q = 1
        if e10 >= 0:
            p *= 10 ** e10
        else:
            q = 10 ** -e10
    r = _round_to_float(p, q, mbits, ebits)
    return None if r is None else sign | r


def _exponent(exp: str) -> int:
    if not exp:
        return 0
    neg = exp[0] == "-"
    digits = exp.lstrip("+-").lstrip("0") or "0"
    v = 1 << 20 if len(digits) > 7 else int(digits)   # clamped: the caller saturates anyway
    return -v if neg else v


def _round_to_float(p: int, q: int, mbits: int, ebits: int):
    """Bits (sign excluded) of the float nearest to ``p/q > 0``, ties to even; None when it
    rounds to infinity."""
    bias = (1 << (ebits - 1)) - 1
    e = p.bit_length() - q.bit_length()      # 2**(e-1) < p/q < 2**(e+1)
    if (p < q << e) if e >= 0 else (p << -e < q):
        e -= 1                               # now 2**e <= p/q < 2**(e+1)
    e = max(e, 1 - bias)                     # subnormals share the smallest exponent
    shift = mbits - e
    if shift >= 0:
        m, r = divmod(p << shift, q)
        den = q
    else:
        den = q << -shift
        m, r = divmod(p, den)
    if 2 * r > den or (2 * r == den and m & 1):
        m += 1
    if m >> (mbits + 1):
        m >>= 1
        e += 1
    if m >> mbits:                           # normal
        biased = e + bias
        if biased >= (1 << ebits) - 1:
            return None
        return (biased << mbits) | (m & ((1 << mbits) - 1))
    return m                                 # subnormal (or zero)


__all__ = ["Tokens", "tokenize", "decode_string", "parse_nat", "parse_int", "parse_float",
           "KEYWORDS", "EOF_PADDING", "LPAR", "RPAR", "KW", "ID", "NUM", "STR", "ERR", "EOF"]
