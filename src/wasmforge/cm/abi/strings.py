"""Strings across the canonical ABI: the three encodings (``utf8``, ``utf16``,
``latin1+utf16``) and every transcoding between them, with the explainer's exact sequence of
``realloc`` calls (an allocation for the likely size, a grow to the worst case when needed,
then a shrink to the size used), so a guest allocator sees what the spec prescribes.

A string lifted for another component (not for the host) is a :class:`SourceString`: a
``str`` that remembers the encoding and code-unit count it had, which decide the sizes the
destination's allocations ask for.  A plain ``str`` from the host counts as UTF-8.
"""

from __future__ import annotations

import re
from typing import Tuple

from ...errors import Trap, TrapCode, WasmTypeError
from .context import Cx
from .layout import MAX_STRING_BYTE_LENGTH


_NON_ASCII = re.compile("[^\x00-\x7f]")
_NON_LATIN1 = re.compile("[^\x00-\xff]")


class SourceString(str):
    """A ``str`` lifted from a component: ``encoding`` (the simple encoding it had: ``utf8``,
    ``utf16`` or ``latin1``), ``units`` (its length in code units there) and ``compact``
    (whether the component's option was ``latin1+utf16``)."""

    encoding: str
    units: int
    compact: bool


def utf16_tag(ptr: str) -> int:
    """The bit of a ``latin1+utf16`` length that says the string is UTF-16."""
    return 1 << 63 if ptr == "i64" else 1 << 31


def _decode_error(exc: UnicodeDecodeError, encoding: str) -> Trap:
    if encoding == "utf-8":
        if exc.reason == "unexpected end of data":
            return Trap("incomplete utf-8 byte sequence")
        return Trap(f"invalid utf-8 sequence at byte {exc.start} of the string")
    return Trap(f"invalid utf-16 (unpaired surrogate) at byte {exc.start} of the string")


def load_string(cx: Cx, ptr: int, tagged: int, encoding: str, ptrtype: str, source: bool = False) -> str:
    """Lift the string at ``ptr`` of ``tagged`` code units stored in ``encoding``."""
    if encoding == "utf8":
        nbytes, codec, align, simple = tagged, "utf-8", 1, "utf8"
    elif encoding == "utf16":
        nbytes, codec, align, simple = 2 * tagged, "utf-16-le", 2, "utf16"
    else:
        tag = utf16_tag(ptrtype)
        if tagged & tag:
            nbytes, codec, align, simple = 2 * (tagged ^ tag), "utf-16-le", 2, "utf16"
        else:
            nbytes, codec, align, simple = tagged, "latin-1", 2, "latin1"
    # spec: trap_if(byte_length > MAX_STRING_BYTE_LENGTH), or the embedder's larger limit
    if nbytes > MAX_STRING_BYTE_LENGTH and nbytes > cx.state.max_string_bytes:
        raise Trap(f"string content out-of-bounds: string of {nbytes} bytes exceeds maximum byte size",
                   TrapCode.STRING_OUT_OF_BOUNDS)
    if ptr & (align - 1):
        raise Trap(f"unaligned pointer: string pointer not aligned to {align}", TrapCode.UNALIGNED_POINTER)
    if ptr + nbytes > cx.mem.size:
        raise Trap("string content out-of-bounds: string pointer/length out of bounds of memory",
                   TrapCode.STRING_OUT_OF_BOUNDS)
    try:
        s = str(cx.data[ptr:ptr + nbytes], codec)
    except UnicodeDecodeError as exc:
        raise _decode_error(exc, codec) from None
    if not source:
        return s
    out = SourceString(s)
    out.encoding = simple
    out.compact = encoding == "latin1+utf16"
    out.units = tagged ^ utf16_tag(ptrtype) if simple == "utf16" and out.compact else tagged
    return out


def _source(s: str) -> Tuple[str, int, bytes]:
    """(simple encoding, code units, UTF-8 bytes or b"") of a string to lower."""
    if type(s) is SourceString:
        return s.encoding, s.units, b""
    if not isinstance(s, str):
        raise WasmTypeError(f"expected a str for a string, got {type(s).__name__}")
    try:
        b = s.encode("utf-8")
    except UnicodeEncodeError:
        raise WasmTypeError("a string may not contain surrogate code points") from None
    return "utf8", len(b), b


def _write(cx: Cx, ptr: int, b: bytes) -> None:
    cx.data[ptr:ptr + len(b)] = b


def _alloc(cx: Cx, old: int, old_size: int, align: int, size: int) -> int:
    """``realloc`` for a string.  Under the spec's limit every size fits (the spec asserts it);
    under a larger implementation limit (wasmtime's), a size beyond it traps first."""
    limit = cx.state.max_string_bytes
    if size > limit and limit > MAX_STRING_BYTE_LENGTH:
        raise Trap(f"string content out-of-bounds: transcoding needs {size} bytes, more than the "
                   f"limit of {limit}", TrapCode.STRING_OUT_OF_BOUNDS)
    return cx.alloc(old, old_size, align, size)


def store_string(cx: Cx, s: str, encoding: str, ptrtype: str) -> Tuple[int, int]:
    """Lower ``s`` into fresh memory in ``encoding``: (pointer, tagged code units)."""
    src, units, utf8 = _source(s)
    if encoding == "utf8":
        if src == "utf8":
            # (realloc first: encoding is pure, and a huge string's realloc may trap)
            p = _alloc(cx, 0, 0, 1, units)
            b = utf8 or s.encode("utf-8")
            _write(cx, p, b)
            return p, len(b)
        return _to_utf8(cx, s, units, 3 * units if src == "utf16" else 2 * units)
    if encoding == "utf16":
        if src == "utf8":
            return _utf8_to_utf16(cx, s, units)
        p = _alloc(cx, 0, 0, 2, 2 * units)
        b = s.encode("utf-16-le")
        _write(cx, p, b)
        return p, len(b) // 2
    tag = utf16_tag(ptrtype)
    if type(s) is SourceString and s.compact:
        if src == "latin1":
            p = _alloc(cx, 0, 0, 2, units)
            b = s.encode("latin-1")
            _write(cx, p, b)
            return p, len(b)
        return _probably_utf16(cx, s, units, tag)
    return _to_latin1_or_utf16(cx, s, units, tag)


def _to_utf8(cx: Cx, s: str, units: int, worst: int) -> Tuple[int, int]:
    # spec: store_string_to_utf8 (from utf16 or latin1)
    p = _alloc(cx, 0, 0, 1, units)
    data = cx.data
    # the spec copies the ASCII prefix byte by byte; the same bytes, in one slice
    m = _NON_ASCII.search(s)
    i = len(s) if m is None else m.start()
    data[p:p + i] = s[:i].encode("latin-1")
    if m is None:
        return p, units
    p = _alloc(cx, p, units, 1, worst)
    b = s.encode("utf-8")
    data[p + i:p + len(b)] = b[i:]
    if worst > len(b):
        p = _alloc(cx, p, worst, 1, len(b))
    return p, len(b)


def _utf8_to_utf16(cx: Cx, s: str, units: int) -> Tuple[int, int]:
    # spec: store_utf8_to_utf16
    worst = 2 * units
    p = _alloc(cx, 0, 0, 2, worst)
    b = s.encode("utf-16-le")
    _write(cx, p, b)
    if len(b) < worst:
        p = _alloc(cx, p, worst, 2, len(b))
    return p, len(b) // 2


def _to_latin1_or_utf16(cx: Cx, s: str, units: int, tag: int) -> Tuple[int, int]:
    # spec: store_string_to_latin1_or_utf16 (from utf8 or utf16)
    p = _alloc(cx, 0, 0, 2, units)
    data = cx.data
    # the Latin-1 prefix, byte by byte in the spec: the same bytes in one slice
    m = _NON_LATIN1.search(s)
    n = len(s) if m is None else m.start()
    data[p:p + n] = s[:n].encode("latin-1")
    if m is not None:
        worst = 2 * units
        p = _alloc(cx, p, units, 2, worst)
        # widening the prefix in place and writing the rest leaves exactly the UTF-16 bytes
        b = s.encode("utf-16-le")
        data[p:p + len(b)] = b
        if worst > len(b):
            p = _alloc(cx, p, worst, 2, len(b))
        return p, (len(b) // 2) | tag
    if n < units:
        p = _alloc(cx, p, units, 2, n)
    return p, n


def _probably_utf16(cx: Cx, s: str, units: int, tag: int) -> Tuple[int, int]:
    # spec: store_probably_utf16_to_latin1_or_utf16
    size = 2 * units
    p = _alloc(cx, 0, 0, 2, size)
    b = s.encode("utf-16-le")
    _write(cx, p, b)
    if _NON_LATIN1.search(s) is not None:
        return p, (len(b) // 2) | tag
    n = len(b) // 2
    # the spec moves byte 2i to i for each i in turn: the low bytes, in one slice
    cx.data[p:p + n] = b[0::2]
    # definitions.py asks this shrinking realloc for alignment 1; wasmforge asks for 2, as
    # wasmtime does and as component-model#54 settled (realloc cannot change a block's
    # alignment, and latin1+utf16 strings are always 2-aligned; #61 fixes the spec text)
    p = _alloc(cx, p, size, 2, n)
    return p, n
