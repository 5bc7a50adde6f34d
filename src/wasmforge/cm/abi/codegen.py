"""Code generation for lifting and lowering: Python source, compiled once per value type and
per set of options, so a call does no type dispatch at all.

A :class:`Generator` holds the options that shape the code (the pointer type, the string
encoding, whether lifted strings keep their origin for another component) and one namespace
that its generated functions share.  For each type it makes, on demand and once:

=============  ===========================================  ================================
kind           signature                                    does
=============  ===========================================  ================================
``lift``       ``f(cx, a0, .., an)`` -> value               lift from flat core values
``lower``      ``f(cx, v)`` -> ``(c0, .., cn)``             lower to flat core values
``load``       ``f(cx, p)`` -> value                        lift from memory at ``p``
``store``      ``f(cx, v, p)``                              lower into memory at ``p``
=============  ===========================================  ================================

Primitive types are inlined as expressions into their containers' code.  Values from the
host are checked as they are lowered (a wrong Python type or an out-of-range integer raises
:class:`~wasmforge.errors.WasmTypeError`); values from memory or core code are checked as the
spec says (a bad discriminant, char, pointer or handle traps).
"""

from __future__ import annotations

import struct
from functools import lru_cache
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from ...errors import NotSupportedError, Trap, TrapCode, WasmTypeError
from ...numerics.bits import f32_from_bits, f32_round, f32_to_bits, f64_from_bits, f64_to_bits
from ..types import (BorrowType, EnumType, FlagsType, ListType, OptionType, OwnType, Primitive, RecordType,
                     ResultType, TupleType, U8, ValType, VariantType)
from . import layout as L
from .context import check_range
from .resources import lift_borrow, lift_own, lower_borrow, lower_own, trap
from .strings import load_string, store_string
from .values import Record, Variant, _Object, is_tagged, python_cases, python_classes, type_text

_NAN32 = f32_from_bits(0x7FC00000)
_NAN64 = f64_from_bits(0x7FF8000000000000)
_MISSING = object()

_INT_RANGE = {"u8": (0, 0xFF), "s8": (-0x80, 0x7F), "u16": (0, 0xFFFF), "s16": (-0x8000, 0x7FFF),
              "u32": (0, 0xFFFFFFFF), "s32": (-0x80000000, 0x7FFFFFFF),
              "u64": (0, 0xFFFFFFFFFFFFFFFF), "s64": (-0x8000000000000000, 0x7FFFFFFFFFFFFFFF)}
_STRUCT = {"s8": "b", "u16": "H", "s16": "h", "u32": "I", "s32": "i", "u64": "Q", "s64": "q",
           "f32": "f", "f64": "d"}


# ---- helpers the generated code calls (named with a leading underscore in its namespace) ----

def _int(v: Any, lo: int, hi: int, name: str) -> int:
    if isinstance(v, int):
        if lo <= v <= hi:
            return int(v)
        raise WasmTypeError(f"value {v} is out of the range of {name}")
    raise WasmTypeError(f"expected an int for {name}, got {type(v).__name__}")


def _bool(v: Any) -> int:
    raise WasmTypeError(f"expected a bool, got {type(v).__name__}")


def _char_out(v: Any) -> int:
    if type(v) is str and len(v) == 1:
        o = ord(v)
        if not 0xD800 <= o <= 0xDFFF:
            return o
        raise WasmTypeError("a char may not be a surrogate code point")
    raise WasmTypeError(f"expected a str of one character for a char, got {v!r}")


def _char(i: int) -> str:
    if i >= 0x110000 or 0xD800 <= i <= 0xDFFF:
        raise Trap(f"invalid `char` bit pattern: {i:#x}", TrapCode.INVALID_CHAR)
    return chr(i)


def _float(v: Any, name: str) -> float:
    if isinstance(v, (float, int)) and not isinstance(v, bool):
        return float(v)
    raise WasmTypeError(f"expected a float for {name}, got {type(v).__name__}")


def _f32_out(v: Any) -> float:
    """A host value as the f32 core value: rounded to binary32, NaN made canonical."""
    x = v if type(v) is float else _float(v, "f32")
    return _NAN32 if x != x else f32_round(x)


def _f64_out(v: Any) -> float:
    x = v if type(v) is float else _float(v, "f64")
    return _NAN64 if x != x else x


def _f32_bits(v: float) -> int:
    return f32_to_bits(v)


def _c32(x: float) -> float:
    return x if x == x else _NAN32


def _c64(x: float) -> float:
    return x if x == x else _NAN64


def _f32_of_bits(i: int) -> float:
    x = f32_from_bits(i & 0xFFFFFFFF)
    return _NAN32 if x != x else x


def _f64_of_bits(i: int) -> float:
    x = f64_from_bits(i)
    return _NAN64 if x != x else x


def _bad_disc(i: int, n: int) -> Trap:
    return Trap(f"invalid variant discriminant {i} out of range [0..{n})", TrapCode.INVALID_DISCRIMINANT)


def _field(v: Any, name: str, alt: str) -> Any:
    x = getattr(v, alt, _MISSING)
    if x is not _MISSING:
        return x
    if isinstance(v, dict):
        if name in v:
            return v[name]
        if alt in v:
            return v[alt]
    raise WasmTypeError(f"record value {v!r} has no field {name!r}")


def _tuple(v: Any, n: int) -> Any:
    if isinstance(v, (tuple, list)) and len(v) == n:
        return tuple(v)
    raise WasmTypeError(f"expected a tuple of {n} elements, got {v!r}")


def _seq(v: Any, what: str) -> Any:
    if isinstance(v, (list, tuple)):
        return v
    raise WasmTypeError(f"expected a list for {what}, got {type(v).__name__}")


def _bytes(v: Any) -> bytes:
    if isinstance(v, (bytes, bytearray, memoryview)):
        return bytes(v)
    if isinstance(v, (list, tuple)):
        try:
            return bytes(v)
        except (ValueError, TypeError):
            raise WasmTypeError("a list<u8> holds ints from 0 to 255") from None
    raise WasmTypeError(f"expected bytes for a list<u8>, got {type(v).__name__}")


def _fixed(v: Any, n: int) -> Any:
    if isinstance(v, (list, tuple, bytes, bytearray)) and len(v) == n:
        return v
    raise WasmTypeError(f"expected a list of exactly {n} elements, got {v!r}")


def _flags_out(v: Any, index: Dict[str, int]) -> int:
    if not isinstance(v, (set, frozenset, list, tuple)):
        raise WasmTypeError(f"expected a set of flag names, got {type(v).__name__}")
    bits = 0
    for name in v:
        i = index.get(name) if isinstance(name, str) else None
        if i is None:
            raise WasmTypeError(f"{name!r} is not a flag of this type (flags: {', '.join(index)})")
        bits |= 1 << i
    return bits


def _flags_in(bits: int, labels: Tuple[str, ...]) -> set:          # type: ignore[type-arg]
    return {name for i, name in enumerate(labels) if bits >> i & 1}


def _no_case(v: Any, t: ValType) -> WasmTypeError:
    if isinstance(v, Variant):
        return WasmTypeError(f"{v.tag!r} is not a case of {type_text(t)}")
    if isinstance(t, EnumType) and isinstance(v, str):
        return WasmTypeError(f"{v!r} is not a case of {type_text(t)}")
    return WasmTypeError(f"value {v!r} matches no case of {type_text(t)}")


def _list_range(cx: Any, p: int, n: int, size: int, align: int) -> None:
    nbytes = n * size
    if nbytes > L.MAX_LIST_BYTE_LENGTH:
        raise Trap(f"list of {nbytes} bytes exceeds maximum byte size", TrapCode.LIST_OUT_OF_BOUNDS)
    check_range(cx, p, align, nbytes, "list")


def _lower_coerce(have: str, want: str, x: str) -> str:
    if have == want or (have == "i32" and want == "i64"):
        return x
    if have == "f32":
        return f"_f32_bits({x})"
    if have == "f64":
        return f"_f64_bits({x})"
    raise AssertionError((have, want))


def _lift_coerce(have: str, want: str, x: str) -> str:
    if have == want:
        return x
    if have == "i32" and want == "f32":
        return f"_f32_of_bits({x})"
    if have == "i64" and want == "i32":
        return f"({x} & 0xFFFFFFFF)"
    if have == "i64" and want == "f32":
        return f"_f32_of_bits({x})"
    if have == "i64" and want == "f64":
        return f"_f64_of_bits({x})"
    raise AssertionError((have, want))


class Generator:
    """Generated lifting and lowering for one pointer type, string encoding and string mode."""

    def __init__(self, ptr: str = "i32", encoding: str = "utf8", source: bool = False) -> None:
        self.ptr = ptr
        self.encoding = encoding
        self.source = source
        self.psize = L.ptr_size(ptr)
        self.count = 0
        self.made: Dict[Tuple[str, ValType], str] = {}
        p2 = struct.Struct("<QQ" if ptr == "i64" else "<II")
        ns: Dict[str, Any] = {
            "_Record": Record, "_Variant": Variant, "_new": object.__new__, "_M": _MISSING,
            "_NAN32": _NAN32, "_NAN64": _NAN64, "_c32": _c32, "_c64": _c64, "_int": _int, "_bool": _bool, "_char": _char,
            "_char_out": _char_out, "_f32_out": _f32_out, "_f64_out": _f64_out, "_f32_bits": _f32_bits,
            "_f64_bits": f64_to_bits, "_f32_of_bits": _f32_of_bits, "_f64_of_bits": _f64_of_bits,
            "_bad_disc": _bad_disc, "_field": _field, "_tuple": _tuple, "_seq": _seq, "_bytes": _bytes,
            "_fixed": _fixed, "_flags_out": _flags_out, "_flags_in": _flags_in, "_no_case": _no_case,
            "_list_range": _list_range, "_unpack_from": struct.unpack_from, "_pack_into": struct.pack_into,
            "_lift_own": lift_own, "_lift_borrow": lift_borrow, "_lower_own": lower_own,
            "_lower_borrow": lower_borrow, "_trap": trap, "_P2": p2.unpack_from, "_P2W": p2.pack_into,
            "isinstance": isinstance, "len": len, "range": range, "bytes": bytes, "enumerate": enumerate,
        }
        for name, code in _STRUCT.items():
            s = struct.Struct("<" + code)
            ns["_R" + name] = s.unpack_from
            ns["_W" + name] = s.pack_into
        enc, source_mode = encoding, source

        def lstr(cx: Any, p: int, n: int) -> str:
            return load_string(cx, p, n, enc, ptr, source_mode)

        def sstr(cx: Any, s: str) -> Tuple[int, int]:
            return store_string(cx, s, enc, ptr)

        # The common case, inlined: UTF-8 both sides; anything unusual (a bound crossed, bad
        # bytes, a string from another component) takes the general path.
        def lstr_utf8(cx: Any, p: int, n: int) -> str:
            if p + n <= cx.mem.size and n <= L.MAX_STRING_BYTE_LENGTH:
                try:
                    return str(cx.data[p:p + n], "utf-8")
                except UnicodeDecodeError:
                    pass
            return load_string(cx, p, n, enc, ptr, source_mode)

        def sstr_utf8(cx: Any, s: str) -> Tuple[int, int]:
            if type(s) is str:
                try:
                    b = s.encode("utf-8")
                except UnicodeEncodeError:
                    return store_string(cx, s, enc, ptr)        # raises the typed error
                n = len(b)
                p = cx.alloc(0, 0, 1, n)
                cx.data[p:p + n] = b
                return p, n
            return store_string(cx, s, enc, ptr)
        ns["_lstr"] = lstr_utf8 if enc == "utf8" and not source_mode else lstr
        ns["_sstr"] = sstr_utf8 if enc == "utf8" else sstr
        self.ns = ns

    # ---- naming and compiling ----

    def const(self, value: Any, hint: str = "k") -> str:
        """A name bound to ``value`` in the generated code's namespace."""
        self.count += 1
        name = f"_{hint}{self.count}"
        self.ns[name] = value
        return name

    def temp(self, hint: str = "t") -> str:
        self.count += 1
        return f"{hint}{self.count}"

    def compile(self, name: str, lines: Sequence[str]) -> Callable[..., Any]:
        src = "\n".join(lines) + "\n"
        exec(compile(src, f"<canonical ABI {name}>", "exec"), self.ns)
        fn: Callable[..., Any] = self.ns[name]
        fn.__doc__ = src        # the source, for whoever debugs it
        return fn

    def function(self, kind: str, t: ValType) -> str:
        """The name of the generated ``kind`` function of ``t`` (made on first use)."""
        key = (kind, t)
        name = self.made.get(key)
        if name is None:
            self.count += 1
            name = f"{kind}_{t.kind.replace('-', '_')}{self.count}"
            self.made[key] = name
            body = getattr(self, "_make_" + kind)(t, name)
            self.compile(name, body)
        return name

    def callable(self, kind: str, t: ValType) -> Callable[..., Any]:
        fn: Callable[..., Any] = self.ns[self.function(kind, t)]
        return fn

    # ---- inline pieces ----

    def lift_expr(self, t: ValType, args: Sequence[str]) -> str:
        """An expression lifting ``t`` from the flat values named ``args`` (plain names)."""
        if isinstance(t, Primitive):
            n = t.name
            a = args[0] if args else ""
            if n == "bool":
                return f"({a} != 0)"
            if n in ("u8", "u16"):
                return f"({a} & {_INT_RANGE[n][1]:#x})"
            if n == "u32":
                return f"({a} & 0xFFFFFFFF)"
            if n == "u64":
                return f"({a} & 0xFFFFFFFFFFFFFFFF)"
            if n in ("s8", "s16", "s32", "s64"):
                bits = {"s8": 8, "s16": 16, "s32": 32, "s64": 64}[n]
                return f"((({a} & {(1 << bits) - 1:#x}) ^ {1 << (bits - 1):#x}) - {1 << (bits - 1):#x})"
            if n == "f32":
                return f"({a} if {a} == {a} else _NAN32)"
            if n == "f64":
                return f"({a} if {a} == {a} else _NAN64)"
            if n == "char":
                return f"_char({a} & 0xFFFFFFFF)"
            if n == "string":
                return f"_lstr(cx, {args[0]}, {args[1]})"
            raise L._unsupported(t)
        if isinstance(t, OwnType):
            return f"_lift_own(cx.state, {args[0]} & 0xFFFFFFFF, {self.const(t.resource, 'rt')})"
        if isinstance(t, BorrowType):
            return f"_lift_borrow(cx.state, {args[0]} & 0xFFFFFFFF, {self.const(t.resource, 'rt')}, cx.scope)"
        if isinstance(t, FlagsType):
            return f"_flags_in({args[0]}, {self.const(t.labels, 'labels')})"
        if isinstance(t, ListType) and t.length is None:
            return f"{self.function('lift_range', t.element)}(cx, {args[0]}, {args[1]})"
        return f"{self.function('lift', t)}(cx, {', '.join(args)})"

    def lower_stmts(self, t: ValType, v: str, outs: Sequence[str]) -> List[str]:
        """Statements lowering the value named ``v`` (a plain name, may be rebound) to the flat
        values named ``outs``."""
        if isinstance(t, Primitive):
            n = t.name
            o = outs[0] if outs else ""
            if n in _INT_RANGE:
                lo, hi = _INT_RANGE[n]
                lines = [f"if {v}.__class__ is not int or {v} < {lo} or {v} > {hi}: {v} = _int({v}, {lo}, {hi}, '{n}')"]
                if n in ("s8", "s16", "s32"):
                    lines.append(f"{o} = {v} & 0xFFFFFFFF")
                elif n == "s64":
                    lines.append(f"{o} = {v} & 0xFFFFFFFFFFFFFFFF")
                else:
                    lines.append(f"{o} = {v}")
                return lines
            if n == "bool":
                return [f"{o} = 1 if {v} is True else 0 if {v} is False else _bool({v})"]
            if n == "f32":
                return [f"{o} = _f32_out({v})"]
            if n == "f64":
                return [f"{o} = {v} if {v}.__class__ is float and {v} == {v} else _f64_out({v})"]
            if n == "char":
                return [f"{o} = _char_out({v})"]
            if n == "string":
                return [f"{outs[0]}, {outs[1]} = _sstr(cx, {v})"]
            raise L._unsupported(t)
        if isinstance(t, OwnType):
            return [f"{outs[0]} = _lower_own(cx.state, {v}, {self.const(t.resource, 'rt')})"]
        if isinstance(t, BorrowType):
            return [f"{outs[0]} = _lower_borrow(cx.state, {v}, {self.const(t.resource, 'rt')}, cx.scope)"]
        if isinstance(t, FlagsType):
            index = {name: i for i, name in enumerate(t.labels)}
            return [f"{outs[0]} = _flags_out({v}, {self.const(index, 'flags')})"]
        if isinstance(t, ListType) and t.length is None:
            return [f"{outs[0]}, {outs[1]} = {self.function('lower_range', t.element)}(cx, {v})"]
        fn = self.function("lower", t)
        return [f"{', '.join(outs)}, = {fn}(cx, {v})"]

    def load_expr(self, t: ValType, p: str) -> str:
        """An expression lifting ``t`` from memory at ``p`` (``d`` is ``cx.data``)."""
        if isinstance(t, Primitive):
            n = t.name
            if n == "bool":
                return f"(d[{p}] != 0)"
            if n == "u8":
                return f"d[{p}]"
            if n in ("f32", "f64"):
                return f"_c{n[1:]}(_R{n}(d, {p})[0])"
            if n in _STRUCT:
                return f"_R{n}(d, {p})[0]"
            if n == "char":
                return f"_char(_Ru32(d, {p})[0])"
            if n == "string":
                return f"_lstr(cx, *_P2(d, {p}))"
            raise L._unsupported(t)
        if isinstance(t, (OwnType, BorrowType)):
            return self.lift_expr(t, [f"_Ru32(d, {p})[0]"])
        if isinstance(t, FlagsType):
            size = L.flags_size(len(t.labels))
            word = f"d[{p}]" if size == 1 else f"_Ru16(d, {p})[0]" if size == 2 else f"_Ru32(d, {p})[0]"
            return self.lift_expr(t, [word])
        if isinstance(t, ListType) and t.length is None:
            return f"{self.function('lift_range', t.element)}(cx, *_P2(d, {p}))"
        return f"{self.function('load', t)}(cx, {p})"

    def store_stmts(self, t: ValType, v: str, p: str) -> List[str]:
        """Statements lowering the value named ``v`` into memory at ``p`` (``d`` is ``cx.data``)."""
        if isinstance(t, Primitive):
            n = t.name
            if n == "string":
                return [f"_P2W(d, {p}, *_sstr(cx, {v}))"]
            o = self.temp("o")
            lines = self.lower_stmts(t, v, [o])
            if n in ("bool", "u8"):
                lines.append(f"d[{p}] = {o}")
            elif n in ("s8", "s16", "s32", "s64"):
                lines.append(f"_W{n}(d, {p}, {v})")
            elif n == "char":
                lines.append(f"_Wu32(d, {p}, {o})")
            elif n == "f32":
                lines.append(f"_Wu32(d, {p}, _f32_bits({o}))")
            else:
                lines.append(f"_W{n}(d, {p}, {o})")
            return lines
        if isinstance(t, (OwnType, BorrowType)):
            o = self.temp("o")
            return self.lower_stmts(t, v, [o]) + [f"_Wu32(d, {p}, {o})"]
        if isinstance(t, FlagsType):
            o = self.temp("o")
            size = L.flags_size(len(t.labels))
            put = f"d[{p}] = {o}" if size == 1 else f"_Wu16(d, {p}, {o})" if size == 2 else f"_Wu32(d, {p}, {o})"
            return self.lower_stmts(t, v, [o]) + [put]
        if isinstance(t, ListType) and t.length is None:
            return [f"_P2W(d, {p}, *{self.function('lower_range', t.element)}(cx, {v}))"]
        return [f"{self.function('store', t)}(cx, {v}, {p})"]

    # ---- the generated functions ----

    def _args(self, t: ValType) -> List[str]:
        return [f"a{i}" for i in range(len(L.flatten_type(t, self.ptr)))]

    def _value_of_case(self, t: ValType, i: int, payload: Optional[str]) -> str:
        """The Python value of case ``i`` of the variant-like ``t`` with ``payload``."""
        if isinstance(t, EnumType):
            return repr(t.labels[i])
        tag = python_cases(t)[i][0]
        if self.tagged(t):
            return f"_Variant({tag!r}, {payload or 'None'})"
        return payload or "None"

    def _make_lift(self, t: ValType, name: str) -> List[str]:
        args = self._args(t)
        head = f"def {name}(cx, {', '.join(args)}):"
        if isinstance(t, (RecordType, TupleType)):
            parts, k = [], 0
            for label, f in L.fields_of(t):
                n = len(L.flatten_type(f, self.ptr))
                parts.append((label, self.lift_expr(f, args[k:k + n])))
                k += n
            if isinstance(t, TupleType):
                return [head, f"    return ({''.join(e + ', ' for _, e in parts)})"]
            return [head, "    r = _new(_Record)",
                    "    r.__dict__ = {" + ", ".join(f"{label!r}: {e}" for label, e in parts) + "}",
                    "    return r"]
        if isinstance(t, ListType):         # fixed length
            n = len(L.flatten_type(t.element, self.ptr))
            items = [self.lift_expr(t.element, args[i * n:(i + 1) * n]) for i in range(t.length or 0)]
            if t.element == U8:
                return [head, f"    return bytes(({''.join(e + ', ' for e in items)}))"]
            return [head, f"    return [{', '.join(items)}]"]
        if isinstance(t, (VariantType, EnumType, OptionType, ResultType)):
            cases = L.cases_of(t)
            joined = L.flatten_type(t, self.ptr)[1:]
            lines = [head]
            if isinstance(t, EnumType):
                labels = self.const(t.labels, "labels")
                return [head, f"    if a0 < {len(cases)}: return {labels}[a0]", f"    raise _bad_disc(a0, {len(cases)})"]
            for i, (_, c) in enumerate(cases):
                lines.append(f"    if a0 == {i}:")
                if c is None:
                    lines.append(f"        return {self._value_of_case(t, i, None)}")
                    continue
                want = L.flatten_type(c, self.ptr)
                names = []
                for j, w in enumerate(want):
                    x = self.temp("x")
                    lines.append(f"        {x} = {_lift_coerce(joined[j], w, args[1 + j])}")
                    names.append(x)
                lines.append(f"        return {self._value_of_case(t, i, self.lift_expr(c, names))}")
            lines.append(f"    raise _bad_disc(a0, {len(cases)})")
            return lines
        raise L._unsupported(t)

    def tagged(self, t: ValType) -> bool:
        """Whether values of the variant-like ``t`` are :class:`Variant` objects here: always
        between components (lossless), else by wasmtime-py's rule."""
        return self.source or is_tagged(t)

    def _case_tests(self, t: ValType) -> List[Tuple[int, str, str]]:
        """(case index, condition, payload expression) for lowering a variant-like value ``v``:
        by tag for a :class:`Variant` (accepted for every variant-like type), then, for a type
        whose values are bare payloads, by the payload's class as wasmtime-py matches it."""
        out: List[Tuple[int, str, str]] = []
        tagged = self.tagged(t)
        payload_classes = [python_classes(c) for _, c in python_cases(t) if c is not None]
        by_tag = tagged or not any(Variant in k or _Object in k for k in payload_classes)
        for i, (tag, _) in enumerate(python_cases(t) if by_tag else ()):
            cond = f"tag == {tag!r}" + (" or tag == 'error'" if tag == "err" and isinstance(t, ResultType) else "")
            out.append((i, cond if tagged else f"tag is not None and ({cond})", "v.payload"))
        if tagged:
            return out
        for i, (tag, c) in enumerate(python_cases(t)):
            if c is None:
                out.append((i, "v is None", "None"))
            else:
                classes = tuple(k for k in python_classes(c) if k is not _Object)
                if _Object in python_classes(c):
                    classes = (object,)
                out.append((i, f"isinstance(v, {self.const(classes, 'cls')})", "v"))
        return out

    def _tag_line(self, t: ValType) -> str:
        if self.tagged(t):
            return f"    if not isinstance(v, _Variant): raise _no_case(v, {self.const(t, 'ty')})\n    tag = v.tag"
        return "    tag = v.tag if v.__class__ is _Variant else None"

    def unpack_fields(self, t: ValType, fields: Sequence[Tuple[str, ValType]], lines: List[str]) -> List[str]:
        """Lines (appended to ``lines``) that take the Python value ``v`` of a record or tuple
        apart into one fresh variable per field; those variables' names."""
        if isinstance(t, TupleType):
            names = [self.temp("e") for _ in fields]
            lines.append(f"    if v.__class__ is not tuple or len(v) != {len(fields)}: v = _tuple(v, {len(fields)})")
            lines.append(f"    {', '.join(names)}, = v")
            return names
        names = []
        for label, _ in fields:
            e = self.temp("e")
            names.append(e)
            lines.append(f"    {e} = getattr(v, {label!r}, _M)")
            lines.append(f"    if {e} is _M: {e} = _field(v, {label!r}, {label.replace('-', '_')!r})")
        return names

    def _make_lower(self, t: ValType, name: str) -> List[str]:
        head = f"def {name}(cx, v):"
        flat = L.flatten_type(t, self.ptr)
        if isinstance(t, (RecordType, TupleType)):
            lines = [head]
            outs_all: List[str] = []
            fields = L.fields_of(t)
            names = self.unpack_fields(t, fields, lines)
            for e, (_, f) in zip(names, fields):
                outs = [self.temp("o") for _ in L.flatten_type(f, self.ptr)]
                lines += ["    " + s for s in self.lower_stmts(f, e, outs)]
                outs_all += outs
            lines.append(f"    return ({''.join(o + ', ' for o in outs_all)})")
            return lines
        if isinstance(t, ListType):         # fixed length
            n = t.length or 0
            lines = [head, f"    v = _fixed(v, {n})"]
            outs_all = []
            for i in range(n):
                e = self.temp("e")
                lines.append(f"    {e} = v[{i}]")
                outs = [self.temp("o") for _ in L.flatten_type(t.element, self.ptr)]
                lines += ["    " + s for s in self.lower_stmts(t.element, e, outs)]
                outs_all += outs
            lines.append(f"    return ({''.join(o + ', ' for o in outs_all)})")
            return lines
        if isinstance(t, EnumType):
            index = self.const({label: i for i, label in enumerate(t.labels)}, "enum")
            return [head, f"    i = {index}.get(v) if v.__class__ is str else None",
                    "    if i is None: raise _no_case(v, " + self.const(t, "ty") + ")",
                    "    return (i,)"]
        if isinstance(t, (VariantType, OptionType, ResultType)):
            cases = L.cases_of(t)
            joined = flat[1:]
            lines = [head]
            lines.append(self._tag_line(t))
            for i, cond, payload in self._case_tests(t):
                c = cases[i][1]
                lines.append(f"    if {cond}:")
                if c is None:
                    lines.append(f"        return ({i}, {''.join('0, ' for _ in joined)})")
                    continue
                have = L.flatten_type(c, self.ptr)
                outs = [self.temp("o") for _ in have]
                lines.append(f"        p = {payload}")
                lines += ["        " + s for s in self.lower_stmts(c, "p", outs)]
                vals = [_lower_coerce(have[j], joined[j], outs[j]) for j in range(len(have))]
                vals += ["0"] * (len(joined) - len(have))
                lines.append(f"        return ({i}, {''.join(x + ', ' for x in vals)})")
            lines.append(f"    raise _no_case(v, {self.const(t, 'ty')})")
            return lines
        raise L._unsupported(t)

    def _make_load(self, t: ValType, name: str) -> List[str]:
        head = [f"def {name}(cx, p):", "    d = cx.data"]
        if isinstance(t, (RecordType, TupleType)):
            offs = L.field_offsets(t, self.ptr)
            parts = [(label, self.load_expr(f, f"p + {o}")) for (label, f), o in zip(L.fields_of(t), offs)]
            if isinstance(t, TupleType):
                return head + [f"    return ({''.join(e + ', ' for _, e in parts)})"]
            return head + ["    r = _new(_Record)",
                           "    r.__dict__ = {" + ", ".join(f"{label!r}: {e}" for label, e in parts) + "}",
                           "    return r"]
        if isinstance(t, ListType):
            size = L.elem_size(t.element, self.ptr)
            n = t.length or 0
            if t.element == U8:
                return head + [f"    return bytes(d[p:p + {n}])"]
            return head + [f"    return [{self.load_expr(t.element, 'q')} for q in range(p, p + {n * size}, {size})]"]
        if isinstance(t, (VariantType, EnumType, OptionType, ResultType)):
            cases = L.cases_of(t)
            dsize = L.discriminant_size(len(cases))
            disc = "d[p]" if dsize == 1 else "_Ru16(d, p)[0]" if dsize == 2 else "_Ru32(d, p)[0]"
            lines = head + [f"    i = {disc}"]
            if isinstance(t, EnumType):
                labels = self.const(t.labels, "labels")
                return lines + [f"    if i < {len(cases)}: return {labels}[i]", f"    raise _bad_disc(i, {len(cases)})"]
            off = L.payload_offset(t, self.ptr)
            for i, (_, c) in enumerate(cases):
                payload = None if c is None else self.load_expr(c, f"p + {off}")
                lines.append(f"    if i == {i}: return {self._value_of_case(t, i, payload)}")
            lines.append(f"    raise _bad_disc(i, {len(cases)})")
            return lines
        raise L._unsupported(t)

    def _make_store(self, t: ValType, name: str) -> List[str]:
        head = [f"def {name}(cx, v, p):", "    d = cx.data"]
        if isinstance(t, (RecordType, TupleType)):
            offs = L.field_offsets(t, self.ptr)
            lines = list(head)
            fields = L.fields_of(t)
            names = self.unpack_fields(t, fields, lines)
            for e, (_, f), o in zip(names, fields, offs):
                lines += ["    " + s for s in self.store_stmts(f, e, f"p + {o}")]
            return lines
        if isinstance(t, ListType):
            n = t.length or 0
            size = L.elem_size(t.element, self.ptr)
            lines = head + [f"    v = _fixed(v, {n})"]
            if t.element == U8:
                return lines + [f"    d[p:p + {n}] = _bytes(v)"]
            return lines + ["    for i, e in enumerate(v):"] + \
                ["        " + s for s in self.store_stmts(t.element, "e", f"p + i * {size}")]
        if isinstance(t, (VariantType, EnumType, OptionType, ResultType)):
            cases = L.cases_of(t)
            dsize = L.discriminant_size(len(cases))
            put = "d[p] = {}" if dsize == 1 else "_Wu16(d, p, {})" if dsize == 2 else "_Wu32(d, p, {})"
            lines = list(head)
            if isinstance(t, EnumType):
                index = self.const({label: i for i, label in enumerate(t.labels)}, "enum")
                return lines + [f"    i = {index}.get(v) if v.__class__ is str else None",
                                f"    if i is None: raise _no_case(v, {self.const(t, 'ty')})",
                                "    " + put.format("i")]
            off = L.payload_offset(t, self.ptr)
            lines.append(self._tag_line(t))
            for i, cond, payload in self._case_tests(t):
                c = cases[i][1]
                lines.append(f"    if {cond}:")
                lines.append("        " + put.format(i))
                if c is not None:
                    lines.append(f"        q = {payload}")
                    lines += ["        " + s for s in self.store_stmts(c, "q", f"p + {off}")]
                lines.append("        return")
            lines.append(f"    raise _no_case(v, {self.const(t, 'ty')})")
            return lines
        raise L._unsupported(t)

    def _make_lift_range(self, e: ValType, name: str) -> List[str]:
        """Lift a list of ``e`` from ``n`` elements at ``p`` (checked as the spec says)."""
        size, align = L.elem_size(e, self.ptr), L.alignment(e, self.ptr)
        lines = [f"def {name}(cx, p, n):", f"    _list_range(cx, p, n, {size}, {align})", "    d = cx.data"]
        if isinstance(e, Primitive) and e.name == "u8":
            return lines + ["    return bytes(d[p:p + n])"]
        if isinstance(e, Primitive) and e.name in _STRUCT and e.name not in ("f32", "f64"):
            return lines + [f"    return list(_unpack_from('<%d{_STRUCT[e.name]}' % n, d, p))"]
        return lines + [f"    return [{self.load_expr(e, 'q')} for q in range(p, p + n * {size}, {size})]"]

    def _make_lower_range(self, e: ValType, name: str) -> List[str]:
        """Lower a list of ``e`` into fresh memory: (pointer, length)."""
        size, align = L.elem_size(e, self.ptr), L.alignment(e, self.ptr)
        lines = [f"def {name}(cx, v):"]
        if isinstance(e, Primitive) and e.name == "u8":
            return lines + ["    b = v if v.__class__ is bytes else _bytes(v)", "    n = len(b)",
                            "    p = cx.alloc(0, 0, 1, n, 'list')", "    cx.data[p:p + n] = b", "    return p, n"]
        lines += ["    v = _seq(v, 'a list')", "    n = len(v)",
                  f"    p = cx.alloc(0, 0, {align}, n * {size}, 'list')", "    d = cx.data",
                  "    q = p", "    for e in v:"]
        lines += ["        " + s for s in self.store_stmts(e, "e", "q")]
        lines += [f"        q += {size}", "    return p, n"]
        return lines


@lru_cache(maxsize=None)
def generator(ptr: str = "i32", encoding: str = "utf8", source: bool = False) -> Generator:
    """The shared generator of one set of options (generated code is reused by every adapter
    with the same options)."""
    if encoding not in ("utf8", "utf16", "latin1+utf16"):
        raise NotSupportedError(f"unknown string encoding {encoding!r}")
    return Generator(ptr, encoding, source)

