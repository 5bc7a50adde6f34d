"""🪙 Value definitions: the binary encoding ``val(t)`` of a component-level value
(Binary.md, "Value Definitions"), read into the Python value the host sees for type ``t``
(the mapping of :mod:`wasmforge.cm.abi.values`: ``Record``, ``Variant`` or the bare payload,
``str`` for an enum, ``set`` for flags, ``bytes`` for ``list<u8>``)."""

from __future__ import annotations

import math
import struct
from typing import Any, Tuple

from ..binary.leb128 import read_signed, read_unsigned
from ..errors import DecodeError
from .abi.values import Record, Variant, is_tagged, python_cases
from .types import (EnumType, FlagsType, ListType, OptionType, Primitive, RecordType, ResultType, TupleType, U8,
                    ValType, VariantType)

#: The only NaNs a value definition may hold: the canonical ones.
_NAN32 = b"\x00\x00\xc0\x7f"
_NAN64 = b"\x00\x00\x00\x00\x00\x00\xf8\x7f"

_LEB = {"u16": (False, 16), "s16": (True, 16), "u32": (False, 32), "s32": (True, 32), "u64": (False, 64),
        "s64": (True, 64)}


def read_value(t: ValType, data: bytes) -> Any:
    """The value ``data`` encodes for type ``t`` (resolved), all of ``data`` used; DecodeError
    (with the offset in ``data``) if it is not a well-formed ``val(t)``."""
    try:
        v, pos = _read(t, data, 0)
    except IndexError:
        raise DecodeError("unexpected end of value definition", len(data)) from None
    if pos != len(data):
        raise DecodeError("value definition has trailing bytes", pos)
    return v


def _read(t: ValType, b: bytes, pos: int) -> Tuple[Any, int]:
    if isinstance(t, Primitive):
        return _primitive(t.name, b, pos)
    if isinstance(t, RecordType):
        fields = {}
        for label, ft in t.fields:
            fields[label], pos = _read(ft, b, pos)
        return Record(**fields), pos
    if isinstance(t, TupleType):
        items = []
        for et in t.elements:
            v, pos = _read(et, b, pos)
            items.append(v)
        return tuple(items), pos
    if isinstance(t, ListType):
        if t.length is not None:
            n = t.length
        else:
            n, pos = read_unsigned(b, pos, 32)
        if t.element == U8:
            if pos + n > len(b):
                raise IndexError
            return bytes(b[pos:pos + n]), pos + n
        items = []
        for _ in range(n):
            v, pos = _read(t.element, b, pos)
            items.append(v)
        return items, pos
    if isinstance(t, FlagsType):
        n = (len(t.labels) + 7) // 8
        if pos + n > len(b):
            raise IndexError
        bits = int.from_bytes(b[pos:pos + n], "little")
        if bits >> len(t.labels):
            raise DecodeError("flags value sets a bit beyond its labels", pos)
        return {label for i, label in enumerate(t.labels) if bits >> i & 1}, pos + n
    if isinstance(t, EnumType):
        i, p = read_unsigned(b, pos, 32)
        if i >= len(t.labels):
            raise DecodeError(f"enum case {i} out of range", pos)
        return t.labels[i], p
    if isinstance(t, (VariantType, OptionType, ResultType)):
        cases = python_cases(t)
        if isinstance(t, VariantType):
            i, p = read_unsigned(b, pos, 32)
        else:
            i, p = b[pos], pos + 1          # option and result: one byte, 0x00 or 0x01
        if i >= len(cases):
            raise DecodeError(f"variant case {i} out of range", pos)
        tag, ct = cases[i]
        payload = None
        if ct is not None:
            payload, p = _read(ct, b, p)
        return (Variant(tag, payload) if is_tagged(t) else payload), p
    raise DecodeError(f"a value of type {t} cannot be defined", pos)


def _primitive(name: str, b: bytes, pos: int) -> Tuple[Any, int]:
    if name == "bool":
        if b[pos] > 1:
            raise DecodeError("invalid boolean value", pos)
        return b[pos] == 1, pos + 1
    if name == "u8":
        return b[pos], pos + 1
    if name == "s8":
        v = b[pos]
        return (v - 256 if v >= 128 else v), pos + 1
    if name in _LEB:
        signed, bits = _LEB[name]
        return (read_signed if signed else read_unsigned)(b, pos, bits)
    if name in ("f32", "f64"):
        n, fmt, nan = (4, "<f", _NAN32) if name == "f32" else (8, "<d", _NAN64)
        raw = bytes(b[pos:pos + n])
        if len(raw) < n:
            raise IndexError
        v = struct.unpack(fmt, raw)[0]
        if math.isnan(v) and raw != nan:
            raise DecodeError("a NaN value must be the canonical NaN", pos)
        return v, pos + n
    if name == "char":
        lead = b[pos]
        n = 1 if lead < 0x80 else 2 if lead >> 5 == 0b110 else 3 if lead >> 4 == 0b1110 else 4
        return _utf8(b, pos, n), pos + n
    if name == "string":
        n, p = read_unsigned(b, pos, 32)
        return _utf8(b, p, n), p + n
    raise DecodeError(f"a value of type {name} cannot be defined", pos)


def _utf8(b: bytes, pos: int, n: int) -> str:
    if pos + n > len(b):
        raise IndexError
    try:
        return bytes(b[pos:pos + n]).decode("utf-8")
    except UnicodeDecodeError:
        raise DecodeError("malformed UTF-8 encoding", pos) from None


__all__ = ["read_value"]
