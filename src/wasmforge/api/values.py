"""Values at the API boundary: :class:`Val` and the conversions between Python values as the
API shows them and the internal value form of the tiers (numerics/bits.py).

API form (as wasmtime-py): i32/i64 are *signed* ints, f32/f64 floats, v128 an unsigned
128-bit int, funcref a :class:`~wasmforge.Func` or None, externref any Python
object or None.  Internal form: i32/i64 unsigned, f32 a float holding a binary32 value, refs
None or the object (a FuncInstance for funcref).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Dict, Optional, Tuple

from ..errors import WasmError, WasmTypeError
from ..numerics.bits import MASK32, MASK64, MASK128, f32_round, i32_signed, i64_signed
from ..types import EXNREF, EXTERNREF, F32, F64, FUNCREF, I32, I64, V128, ByType, ValType, heap_top, ref_parts
from ..runtime import gc
from ..runtime.tag import Exn

if TYPE_CHECKING:
    from ..runtime.func import FuncInstance
    from ..runtime.store import Store


class FuncRef:
    """The base of the API's function handle (``Func``, api/handles.py): a funcref value
    crosses the API as one.  ``Func`` is built on this module's conversions, so this module
    cannot import it; the one subclass registers itself here as it is defined
    (:meth:`__init_subclass__`), and :func:`_out_funcref` makes handles of it."""

    __slots__ = ()

    #: The handle class funcrefs are given out as (``wasmforge.Func``).
    handle: Any = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        FuncRef.handle = cls


class Val:
    """A typed WebAssembly value, as in wasmtime-py: build one with ``Val.i32(5)`` ...;
    ``.type`` is its ValType and ``.value`` the Python value (API form)."""

    __slots__ = ("_type", "_value")

    def __init__(self, type: str, value: Any) -> None:
        self._type = ValType(str(type))
        self._value = value

    @classmethod
    def i32(cls, val: int) -> "Val":
        """A 32-bit integer, kept signed: any int is taken modulo 2**32, as wasmtime-py does
        (``Val.i32(2**32 + 5).value == 5``, ``Val.i32(2**31).value == -2**31``)."""
        return cls(I32, i32_signed(_int_arg(val, 32) & MASK32))

    @classmethod
    def i64(cls, val: int) -> "Val":
        """A 64-bit integer, kept signed: any int is taken modulo 2**64 (as wasmtime-py)."""
        return cls(I64, i64_signed(_int_arg(val, 64) & MASK64))

    @classmethod
    def f32(cls, val: float) -> "Val":
        """A 32-bit float (rounded to binary32)."""
        return cls(F32, f32_round(_float_in(val)))

    @classmethod
    def f64(cls, val: float) -> "Val":
        """A 64-bit float."""
        return cls(F64, _float_in(val))

    @classmethod
    def v128(cls, val: int) -> "Val":
        """A 128-bit vector, as an unsigned int with lane 0 in the low bits."""
        return cls(V128, _int_in(val, 128))

    @classmethod
    def funcref(cls, f: Optional[FuncRef]) -> "Val":
        """A function reference (a Func, or None for null)."""
        if f is not None and not isinstance(f, FuncRef):
            raise TypeError(f"expected a Func or None for a funcref, got {type(f).__name__}")
        return cls(FUNCREF, f)

    @classmethod
    def externref(cls, extern: Optional[Any]) -> "Val":
        """A host reference to any Python object (None for null)."""
        return cls(EXTERNREF, extern)

    @classmethod
    def ref_null(cls, ty: str) -> "Val":
        """The null reference of a reference type."""
        if ty not in (FUNCREF, EXTERNREF):
            raise TypeError(f"ref_null needs a reference type, got {ty}")
        return cls(ty, None)

    @property
    def type(self) -> ValType:
        return self._type

    @property
    def value(self) -> Any:
        return self._value

    def _as(self, t: str) -> Any:
        return self._value if self._type == t else None

    def as_i32(self) -> Optional[int]:
        value: Optional[int] = self._as(I32)
        return value

    def as_i64(self) -> Optional[int]:
        value: Optional[int] = self._as(I64)
        return value

    def as_f32(self) -> Optional[float]:
        value: Optional[float] = self._as(F32)
        return value

    def as_f64(self) -> Optional[float]:
        value: Optional[float] = self._as(F64)
        return value

    def as_v128(self) -> Optional[int]:
        value: Optional[int] = self._as(V128)
        return value

    def as_funcref(self) -> Optional[FuncRef]:
        value: Optional[FuncRef] = self._as(FUNCREF)
        return value

    def as_externref(self) -> Any:
        return self._as(EXTERNREF)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Val):
            return bool(self._type == other._type and self._value == other._value)
        return bool(self._value == other)

    def __hash__(self) -> int:
        return hash((self._type, self._value))

    def __repr__(self) -> str:
        return f"Val.{self._type}({self._value!r})"


def _int_arg(v: object, bits: int) -> int:
    if not isinstance(v, int):
        what = "v128" if bits == 128 else f"i{bits}"
        raise TypeError(f"expected an int for a {what} value, got {type(v).__name__}")
    return v


def _int_in(v: object, bits: int) -> int:
    v = _int_arg(v, bits)
    if not -(1 << (bits - 1)) <= v < (1 << bits):
        raise ValueError(f"{v} does not fit in {bits} bits")
    return v & ((1 << bits) - 1)


def _float_in(v: object) -> float:
    if not isinstance(v, (int, float)):
        raise TypeError(f"expected a float, got {type(v).__name__}")
    return float(v)


# ----- Python (API form) -> internal form -----

def _unwrap(t: str, v: Any) -> Any:
    if isinstance(v, Val):
        if v._type != t:
            raise TypeError(f"expected a {t} value, got a Val of type {v._type}")
        return v._value
    return v


# Any int is taken modulo 2**32 / 2**64, as wasmtime-py does for arguments, results of host
# functions and global values (``f(store, 2**32 + 1)`` passes 1, ``2**31`` passes -2**31).

def _in_i32(v: Any, store: Store) -> int:
    return _int_arg(_unwrap(I32, v), 32) & MASK32


def _in_i64(v: Any, store: Store) -> int:
    return _int_arg(_unwrap(I64, v), 64) & MASK64


def _in_f32(v: Any, store: Store) -> float:
    return f32_round(_float_in(_unwrap(F32, v)))


def _in_f64(v: Any, store: Store) -> float:
    v = _unwrap(F64, v)
    return v if type(v) is float else _float_in(v)


def _in_v128(v: Any, store: Store) -> int:
    return _int_in(_unwrap(V128, v), 128) & MASK128


def _in_funcref(v: Any, store: Store) -> Optional[FuncInstance]:
    v = _unwrap(FUNCREF, v)
    if v is None:
        return None
    if not isinstance(v, FuncRef):
        raise TypeError(f"expected a Func or None for a funcref, got {type(v).__name__}")
    fi: FuncInstance = v._fi      # type: ignore[attr-defined]  # FuncRef's one subclass, Func
    if fi.store is not store:
        raise WasmError("a funcref from another store cannot be used in this store")
    return fi


def _in_externref(v: Any, store: Store) -> Any:
    return _unwrap(EXTERNREF, v)


def _in_exnref(v: Any, store: Store) -> Any:
    # An exnref crosses as the exception object itself (or None), so identity is kept.
    if v is None or type(v) is Exn:
        return v
    raise TypeError(f"expected an exception object (Exn) or None for an exnref, got {type(v).__name__}")


def _in_gcref(v: Any, heap: str, nullable: bool) -> Any:
    """An ``anyref``-hierarchy argument (GC proposal): a GC object (or a host value of the
    any hierarchy, or None) that passes the run-time type check of its declared type, so
    that wasm code never sees an object of the wrong type."""
    if isinstance(v, Val):
        v = v.value
    if v is None and not nullable:
        raise WasmTypeError(f"expected a non-null reference of type (ref {heap}), got None")
    if v is not None and not isinstance(v, (gc.Struct, gc.Array, gc.I31, gc.HostAny)):
        raise WasmTypeError(f"expected a GC reference (Struct, Array, I31) or None for a reference "
                        f"of type (ref {heap}), got {type(v).__name__}")
    if not gc.ref_test(v, heap, nullable):
        raise WasmTypeError(f"the reference passed is not of type (ref {'null ' if nullable else ''}{heap})")
    return v


class _GCByType(ByType):
    """A per-type table that also serves the any hierarchy's types (GC proposal): their
    entries are made per type from ``make(heap, nullable)``."""

    def __init__(self, table: Dict[str, Any], make: Callable[[str, bool], Any]):
        super().__init__(table)
        self._make = make

    def __missing__(self, t: str) -> Any:
        parts = ref_parts(t)
        if parts is not None and not isinstance(parts[1], int) and heap_top(parts[1]) == "any":
            entry = self[t] = self._make(parts[1], parts[0])
            return entry
        return super().__missing__(t)


TO_INTERNAL: Dict[str, Callable[[Any, Store], Any]] = _GCByType({
    I32: _in_i32, I64: _in_i64, F32: _in_f32, F64: _in_f64, V128: _in_v128,
    FUNCREF: _in_funcref, EXTERNREF: _in_externref, EXNREF: _in_exnref},
    lambda heap, nullable: lambda v, store: _in_gcref(v, heap, nullable))


# ----- internal form -> Python (API form) -----

def _out_funcref(v: Optional[FuncInstance], store: Store) -> Optional[FuncRef]:
    if v is None:
        return None
    handle: FuncRef = FuncRef.handle._wrap(v)
    return handle


TO_API: Dict[str, Callable[[Any, Store], Any]] = _GCByType({
    I32: lambda v, store: v - 0x100000000 if v & 0x80000000 else v,
    I64: lambda v, store: v - 0x10000000000000000 if v & 0x8000000000000000 else v,
    F32: lambda v, store: v,
    F64: lambda v, store: v,
    V128: lambda v, store: v,
    FUNCREF: _out_funcref,
    EXTERNREF: lambda v, store: v,
    EXNREF: lambda v, store: v,
}, lambda heap, nullable: lambda v, store: v)


def to_internal(t: str, v: Any, store: Store) -> Any:
    """Convert an API value (or a Val) of type ``t`` to the internal form, checking it."""
    return TO_INTERNAL[t](v, store)


def to_api(t: str, v: Any, store: Store) -> Any:
    """Convert an internal value of type ``t`` to the API form."""
    return TO_API[t](v, store)


__all__ = ["Val", "to_internal", "to_api", "TO_INTERNAL", "TO_API"]


# ----- specialised entry points -----
#
# Calling a wasm function from Python converts every argument and result.  A generic loop over
# converter functions costs more than the call itself for small functions, so each function
# type gets one generated entry function with the conversions inlined (cached by type).

_ENTRY_CACHE: Dict[Tuple[Tuple[str, ...], Tuple[str, ...]], Callable[..., Any]] = {}

_INLINE_IN = _GCByType({
    I32: ("    if type({a}) is int and -0x80000000 <= {a} <= 0xFFFFFFFF: {a} &= 0xFFFFFFFF\n"
          "    else: {a} = _in_i32({a}, store)\n"),
    I64: ("    if type({a}) is int and -0x8000000000000000 <= {a} <= 0xFFFFFFFFFFFFFFFF: "
          "{a} &= 0xFFFFFFFFFFFFFFFF\n"
          "    else: {a} = _in_i64({a}, store)\n"),
    F32: "    {a} = _in_f32({a}, store)\n",
    F64: "    if type({a}) is not float: {a} = _in_f64({a}, store)\n",
    V128: "    {a} = _in_v128({a}, store)\n",
    FUNCREF: "    {a} = _in_funcref({a}, store)\n",
    EXTERNREF: "    if isinstance({a}, Val): {a} = _in_externref({a}, store)\n",
    EXNREF: "    {a} = _in_exnref({a}, store)\n",
}, lambda heap, nullable: f"    {{a}} = _in_gcref({{a}}, {heap!r}, {nullable})\n")

_INLINE_OUT = _GCByType({
    I32: "({r} - 0x100000000 if {r} & 0x80000000 else {r})",
    I64: "({r} - 0x10000000000000000 if {r} & 0x8000000000000000 else {r})",
    F32: "{r}", F64: "{r}", V128: "{r}", EXTERNREF: "{r}", EXNREF: "{r}",
    FUNCREF: "_out_funcref({r}, store)",
}, lambda heap, nullable: "{r}")


def _generate(name: str, src: str) -> Dict[str, Any]:
    namespace = {"_in_exnref": _in_exnref, "_in_gcref": _in_gcref,
                 "_in_i32": _in_i32, "_in_i64": _in_i64, "_in_f32": _in_f32, "_in_f64": _in_f64,
                 "_in_v128": _in_v128, "_in_funcref": _in_funcref, "_in_externref": _in_externref,
                 "_out_funcref": _out_funcref, "Val": Val, "_bad_results": _bad_results}
    exec(compile(src, f"<{name}>", "exec"), namespace)
    return namespace


def entry_for(params: Tuple[str, ...], results: Tuple[str, ...]) -> Callable[..., Any]:
    """``enter(call, store, *args)``: convert API arguments of types ``params``, call the
    internal-convention ``call``, and convert its results (None, one value, or a list)."""
    key = (params, results)
    cached = _ENTRY_CACHE.get(key)
    if cached is not None:
        return cached
    names = [f"a{i}" for i in range(len(params))]
    src = [f"def enter(call, store{''.join(', ' + n for n in names)}):\n"]
    for n, t in zip(names, params):
        src.append(_INLINE_IN[t].format(a=n))
    src.append(f"    r = call({', '.join(names)})\n")
    if not results:
        src.append("    return None\n")
    elif len(results) == 1:
        src.append(f"    return {_INLINE_OUT[results[0]].format(r='r')}\n")
    else:
        outs = ", ".join(_INLINE_OUT[t].format(r=f"r[{i}]") for i, t in enumerate(results))
        src.append(f"    return [{outs}]\n")
    enter: Callable[..., Any] = _generate(f"entry {params}->{results}", "".join(src))["enter"]
    _ENTRY_CACHE[key] = enter
    return enter


_EXIT_CACHE: Dict[Tuple[Tuple[str, ...], Tuple[str, ...], bool], Callable[..., Any]] = {}


def _bad_results(fn: Callable[..., Any], r: object, results: Tuple[str, ...]) -> None:
    name = getattr(fn, "__qualname__", None) or repr(fn)
    if not results:
        raise WasmTypeError(f"host function {name} returned {r!r} but its type has no results")
    raise WasmTypeError(f"host function {name} must return {len(results)} values "
                    f"({', '.join(results)}), returned {r!r}")


def exit_for(params: Tuple[str, ...], results: Tuple[str, ...], access_caller: bool) -> Callable[..., Any]:
    """``make(fn, store, caller_factory)`` -> the internal-convention callable of host function
    ``fn``: it converts the arguments to the API form, calls ``fn`` (with a fresh Caller from
    ``caller_factory()`` first when ``access_caller``) and converts the results back."""
    key = (params, results, access_caller)
    cached = _EXIT_CACHE.get(key)
    if cached is not None:
        return cached
    names = [f"a{i}" for i in range(len(params))]
    args = ", ".join(names)
    src = ["def make(fn, store, caller_factory):\n", f"  def call({args}):\n"]
    for n, t in zip(names, params):
        conv = _INLINE_OUT[t].format(r=n)
        if conv != n:
            src.append(f"    {n} = {conv}\n")
    if access_caller:
        src.append("    caller = caller_factory()\n    try:\n"
                   f"      r = fn(caller{''.join(', ' + n for n in names)})\n"
                   "    finally:\n      caller._invalidate()\n")
    else:
        src.append(f"    r = fn({args})\n")
    if not results:
        src.append("    if r is not None: _bad_results(fn, r, ())\n    return None\n")
    elif len(results) == 1:
        src.append(_INLINE_IN[results[0]].format(a="r") + "    return r\n")
    else:
        src.append(f"    if not isinstance(r, (list, tuple)) or len(r) != {len(results)}:"
                   f" _bad_results(fn, r, {tuple(map(str, results))!r})\n")
        outs = []
        for i, t in enumerate(results):
            src.append(f"    r{i} = r[{i}]\n" + _INLINE_IN[t].format(a=f"r{i}"))
            outs.append(f"r{i}")
        src.append(f"    return ({', '.join(outs)},)\n")
    src.append("  return call\n")
    make: Callable[..., Any] = _generate(f"host {params}->{results}", "".join(src))["make"]
    _EXIT_CACHE[key] = make
    return make
