"""The canonical ABI's layout rules: alignment, size, discriminants and flattening.

Everything here is a pure function of a (resolved) value type and the pointer type of the
memory (``"i32"``, or ``"i64"`` for a 64-bit memory), memoised, so the adapters read layouts
while they are generated and never during a call.  Names and rules follow the canonical ABI
explainer (CanonicalABI.md, "Alignment", "Element Size", "Flattening").
"""

from __future__ import annotations

from functools import wraps
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, TypeVar
from weakref import WeakKeyDictionary

from ...errors import NotSupportedError
from ..types import (BorrowType, EnumType, FlagsType, FuncType, FutureType, ListType, OptionType, OwnType,
                     Primitive, RecordType, ResultType, StreamType, TupleType, ValType, VariantType,
                     despecialize)

#: Flattening limits of synchronous functions: beyond them, values go through memory.
MAX_FLAT_PARAMS = 16
MAX_FLAT_RESULTS = 1
#: The parameters an ``async`` lowering passes flat (more go through memory).
MAX_FLAT_ASYNC_PARAMS = 4

#: The largest string or list, in bytes, the ABI will lift or lower (2**28 - 1).
MAX_STRING_BYTE_LENGTH = (1 << 28) - 1
MAX_LIST_BYTE_LENGTH = (1 << 28) - 1

_F = TypeVar("_F", bound=Callable[..., Any])


def type_cache(fn: _F) -> _F:
    """Remember ``fn(t, *args)`` for as long as the type ``t`` lives: the cache holds its
    types weakly, so it is bounded by the types alive (a long-running host validates and runs
    components of any origin), and a type naming an instance's resource (whose destructor and
    state are that instance's) does not keep the instance, and its store, alive.  Equal types
    share an entry; a lookup hashes the type once (each type keeps its hash, cm/types.py
    ``_hash_once``)."""
    caches: Dict[Tuple[Any, ...], "WeakKeyDictionary[Any, Any]"] = {}

    @wraps(fn)
    def cached(t: Any, *args: Any) -> Any:
        cache = caches.get(args)
        if cache is None:
            cache = caches[args] = WeakKeyDictionary()
        try:
            return cache[t]
        except KeyError:
            result = cache[t] = fn(t, *args)
            return result
        except TypeError:           # not weakly referenceable: not remembered
            return fn(t, *args)
    return cached  # type: ignore[return-value]


_PRIM_SIZE = {"bool": 1, "s8": 1, "u8": 1, "s16": 2, "u16": 2, "s32": 4, "u32": 4, "s64": 8, "u64": 8,
              "f32": 4, "f64": 8, "char": 4, "error-context": 4}

_PRIM_FLAT = {"bool": "i32", "s8": "i32", "u8": "i32", "s16": "i32", "u16": "i32", "s32": "i32",
              "u32": "i32", "s64": "i64", "u64": "i64", "f32": "f32", "f64": "f64", "char": "i32",
              "error-context": "i32"}


def ptr_size(ptr: str) -> int:
    """The size in bytes of a pointer (and of a length) of a memory of pointer type ``ptr``."""
    return 8 if ptr == "i64" else 4


def align_to(n: int, alignment: int) -> int:
    """``n`` rounded up to a multiple of ``alignment`` (a power of two)."""
    return (n + alignment - 1) & -alignment


def cases_of(t: ValType) -> Tuple[Tuple[str, Optional[ValType]], ...]:
    """The cases of a variant-like type (variant, enum, option, result) after despecialisation."""
    d = despecialize(t)
    assert isinstance(d, VariantType)
    return d.cases


def fields_of(t: ValType) -> Tuple[Tuple[str, ValType], ...]:
    """The fields of a record-like type (record, tuple) after despecialisation."""
    d = despecialize(t)
    assert isinstance(d, RecordType)
    return d.fields


def discriminant_size(n: int) -> int:
    """The bytes of a variant's discriminant with ``n`` cases: 1 up to 256 cases, 2 up to 65536, else 4."""
    if n <= 0:
        raise ValueError("a variant has at least one case")
    if n <= 1 << 8:
        return 1
    if n <= 1 << 16:
        return 2
    return 4


def flags_size(n: int) -> int:
    """The bytes of a flags value with ``n`` labels (1 to 32): 1, 2 or 4."""
    if not 0 < n <= 32:
        raise ValueError(f"a flags type has 1 to 32 labels, not {n}")
    return 1 if n <= 8 else 2 if n <= 16 else 4


def _unsupported(t: ValType) -> NotSupportedError:
    return NotSupportedError(f"the canonical ABI of {t.kind} values is not supported yet "
                             "(asynchronous values and error-context are a later issue)")


def needs_memory(t: Optional[ValType]) -> bool:
    """Whether lifting or lowering a value of ``t`` touches linear memory (it holds a string or
    a list of variable length)."""
    if t is None:
        return False
    if isinstance(t, Primitive):
        return t.name == "string"
    if isinstance(t, ListType):
        return t.length is None or needs_memory(t.element)
    if isinstance(t, (RecordType, TupleType)):
        return any(needs_memory(f) for _, f in fields_of(t))
    if isinstance(t, (VariantType, EnumType, OptionType, ResultType)):
        return any(needs_memory(c) for _, c in cases_of(t))
    return False


@type_cache
def alignment(t: ValType, ptr: str = "i32") -> int:
    """The alignment in bytes of a value of type ``t`` stored in memory."""
    if isinstance(t, Primitive):
        if t.name == "string":
            return ptr_size(ptr)
        return _PRIM_SIZE[t.name]
    if isinstance(t, ListType):
        return alignment(t.element, ptr) if t.length is not None else ptr_size(ptr)
    if isinstance(t, FlagsType):
        return flags_size(len(t.labels))
    if isinstance(t, (OwnType, BorrowType, StreamType, FutureType)):
        return 4
    if isinstance(t, (RecordType, TupleType)):
        return max([1] + [alignment(f, ptr) for _, f in fields_of(t)])
    if isinstance(t, (VariantType, EnumType, OptionType, ResultType)):
        cases = cases_of(t)
        return max(discriminant_size(len(cases)), max_case_alignment(cases, ptr))
    raise _unsupported(t)


def max_case_alignment(cases: Sequence[Tuple[str, Optional[ValType]]], ptr: str = "i32") -> int:
    """The largest alignment of the payloads of ``cases`` (1 when none has a payload)."""
    return max([1] + [alignment(c, ptr) for _, c in cases if c is not None])


@type_cache
def elem_size(t: ValType, ptr: str = "i32") -> int:
    """The size in bytes of a value of type ``t`` stored in memory (a multiple of its alignment)."""
    if isinstance(t, Primitive):
        if t.name == "string":
            return 2 * ptr_size(ptr)
        return _PRIM_SIZE[t.name]
    if isinstance(t, ListType):
        return t.length * elem_size(t.element, ptr) if t.length is not None else 2 * ptr_size(ptr)
    if isinstance(t, FlagsType):
        return flags_size(len(t.labels))
    if isinstance(t, (OwnType, BorrowType, StreamType, FutureType)):
        return 4
    if isinstance(t, (RecordType, TupleType)):
        s = 0
        for _, f in fields_of(t):
            s = align_to(s, alignment(f, ptr)) + elem_size(f, ptr)
        return align_to(s, alignment(t, ptr))
    if isinstance(t, (VariantType, EnumType, OptionType, ResultType)):
        cases = cases_of(t)
        s = align_to(discriminant_size(len(cases)), max_case_alignment(cases, ptr))
        s += max([0] + [elem_size(c, ptr) for _, c in cases if c is not None])
        return align_to(s, alignment(t, ptr))
    raise _unsupported(t)


def field_offsets(t: ValType, ptr: str = "i32") -> List[int]:
    """The byte offset of each field of a record or tuple from the start of the value."""
    out = []
    s = 0
    for _, f in fields_of(t):
        s = align_to(s, alignment(f, ptr))
        out.append(s)
        s += elem_size(f, ptr)
    return out


def payload_offset(t: ValType, ptr: str = "i32") -> int:
    """The byte offset of a variant's payload from the start of the value."""
    cases = cases_of(t)
    return align_to(discriminant_size(len(cases)), max_case_alignment(cases, ptr))


def join(a: str, b: str) -> str:
    """The core type two variant payload slots of types ``a`` and ``b`` share."""
    if a == b:
        return a
    if {a, b} == {"i32", "f32"}:
        return "i32"
    return "i64"


@type_cache
def flatten_type(t: ValType, ptr: str = "i32") -> Tuple[str, ...]:
    """The core value types a value of type ``t`` flattens to."""
    if isinstance(t, Primitive):
        if t.name == "string":
            return (ptr, ptr)
        return (_PRIM_FLAT[t.name],)
    if isinstance(t, ListType):
        if t.length is not None:
            return flatten_type(t.element, ptr) * t.length
        return (ptr, ptr)
    if isinstance(t, (FlagsType, OwnType, BorrowType, StreamType, FutureType)):
        return ("i32",)
    if isinstance(t, (RecordType, TupleType)):
        return tuple(c for _, f in fields_of(t) for c in flatten_type(f, ptr))
    if isinstance(t, (VariantType, EnumType, OptionType, ResultType)):
        flat: List[str] = []
        for _, c in cases_of(t):
            if c is None:
                continue
            for i, ft in enumerate(flatten_type(c, ptr)):
                if i < len(flat):
                    flat[i] = join(flat[i], ft)
                else:
                    flat.append(ft)
        return ("i32",) + tuple(flat)
    raise _unsupported(t)


def flatten_types(ts: Sequence[ValType], ptr: str = "i32") -> Tuple[str, ...]:
    """The concatenated flattenings of ``ts``."""
    return tuple(c for t in ts for c in flatten_type(t, ptr))


def param_types(ft: FuncType) -> Tuple[ValType, ...]:
    return tuple(t for _, t in ft.params)


def result_types(ft: FuncType) -> Tuple[ValType, ...]:
    return () if ft.result is None else (ft.result,)


def flatten_functype(ft: FuncType, context: str, ptr: str = "i32", is_async: bool = False,
                     callback: bool = False) -> Tuple[Tuple[str, ...], Tuple[str, ...]]:
    """The core function type (params, results) of component function ``ft``: ``context`` is
    ``"lift"`` (the core function a ``canon lift`` wraps) or ``"lower"`` (the core function
    ``canon lower`` makes).  Too many parameters become one pointer to them in memory; too many
    results become a returned pointer (lift) or a pointer parameter the caller provides
    (lower).  ``is_async`` gives the signature under the ``async`` canonical option (a lift
    with ``callback`` returns an i32 code); the asynchronous semantics are a later issue, the
    signature serves validation."""
    if context not in ("lift", "lower"):
        raise ValueError(f"context is 'lift' or 'lower', not {context!r}")
    params = flatten_types(param_types(ft), ptr)
    results = flatten_types(result_types(ft), ptr)
    if is_async:
        if context == "lift":
            return (params if len(params) <= MAX_FLAT_PARAMS else (ptr,)), (("i32",) if callback else ())
        if len(params) > MAX_FLAT_ASYNC_PARAMS:
            params = (ptr,)
        if ft.result is not None:
            params = params + (ptr,)
        return params, ("i32",)
    if len(params) > MAX_FLAT_PARAMS:
        params = (ptr,)
    if len(results) > MAX_FLAT_RESULTS:
        if context == "lift":
            results = (ptr,)
        else:
            params = params + (ptr,)
            results = ()
    return params, results
