"""GC objects and the run-time side of the GC proposal's instructions (spec 3.0, 4.4.x
"aggregate" and "reference" instructions), as the interp tier runs them.

Objects are plain Python objects (the Python collector frees them): a struct is a
:class:`Struct` (its canonical type, a list of field values), an array an :class:`Array`
(its type, a list of elements), an ``i31`` a :class:`I31`.  Types are the closed heap forms of
:func:`wasmforge.types.close_types`, so an object's type compares across modules, and
:func:`wasmforge.types.heap_matches` decides casts.  Packed fields (``i8``/``i16``) hold their
value wrapped to the field's width; ``get_s``/``get_u`` extend it.

References between the hierarchies: ``any.convert_extern`` of a host value makes a
:class:`HostAny`, ``extern.convert_any`` of an internal one an :class:`ExternAny`; converting
back unwraps, so a round trip gives the very same reference (spec 4.4.x "any.convert_extern").
"""

from __future__ import annotations

import gc as _pygc
import struct as _struct
import weakref
from typing import Any, List

from ..errors import Trap, TrapCode
from ..numerics.bits import f32_from_bits, f64_from_bits
from .func import FuncInstance
from .tag import Exn
from ..types import FuncType, heap_matches

M32 = 0xFFFFFFFF

#: An implementation limit on the elements of one array, so that an allocation bomb traps
#: instead of exhausting the host's memory (wasmtime's "allocation size too large").
MAX_ARRAY_LEN = 1 << 27


class Struct:
    """A struct: its closed type and its field values."""

    __slots__ = ("type", "fields", "__weakref__")

    def __init__(self, type: str, fields: List[Any]):
        self.type = type
        self.fields = fields

    def __repr__(self) -> str:
        return f"<struct {self.fields!r}>"


class Array:
    """An array: its closed type and its elements."""

    __slots__ = ("type", "elems", "__weakref__")

    def __init__(self, type: str, elems: List[Any]):
        self.type = type
        self.elems = elems

    def __repr__(self) -> str:
        return f"<array of {len(self.elems)}>"


class I31:
    """An unboxed 31-bit integer reference (``ref.i31``): ``value`` in [0, 2^31)."""

    __slots__ = ("value",)

    def __init__(self, value: int):
        self.value = value

    def __eq__(self, other: object) -> bool:
        return type(other) is I31 and other.value == self.value  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash(("i31", self.value))

    def __repr__(self) -> str:
        return f"<i31 {self.value}>"


class HostAny:
    """A host (extern) reference seen in the any hierarchy (``any.convert_extern``)."""

    __slots__ = ("value",)

    def __init__(self, value: Any):
        self.value = value

    def __eq__(self, other: object) -> bool:
        return type(other) is HostAny and other.value == self.value  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash(("host", self.value))

    def __repr__(self) -> str:
        return f"<host {self.value!r}>"


class ExternAny:
    """An internal (any) reference seen as an external one (``extern.convert_any``)."""

    __slots__ = ("value",)

    def __init__(self, value: Any):
        self.value = value

    def __eq__(self, other: object) -> bool:
        return type(other) is ExternAny and other.value is self.value  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return id(self.value)

    def __repr__(self) -> str:
        return f"<extern {self.value!r}>"


# ----- traps -----

def null_struct():
    raise Trap("null structure reference", TrapCode.NULL_REFERENCE)


def null_array():
    raise Trap("null array reference", TrapCode.NULL_REFERENCE)


def null_i31():
    raise Trap("null i31 reference", TrapCode.NULL_REFERENCE)


def array_oob():
    raise Trap("out of bounds array access", TrapCode.ARRAY_OUT_OF_BOUNDS)


def cast_failure():
    raise Trap("cast failure", TrapCode.CAST_FAILURE)


def _too_large(n: int):
    raise Trap(f"allocation size too large: an array of {n} elements", TrapCode.ALLOCATION_TOO_LARGE)


# ----- fuel (runtime/metering.py: the array instructions also cost their elements) -----
# Each checks what its instruction checks first (the same traps, in the same order) and
# returns the number of elements the instruction will allocate or write.

def array_new_n(n: int) -> int:
    if n > MAX_ARRAY_LEN:
        _too_large(n)
    return n


def array_fill_n(a: Any, d: int, n: int) -> int:
    if a is None:
        null_array()
    if d + n > array_len(a):
        array_oob()
    return n


def array_copy_n(a: Any, d: int, b: Any, s: int, n: int) -> int:
    if a is None or b is None:
        null_array()
    if d + n > array_len(a) or s + n > array_len(b):
        array_oob()
    return n


def array_new_data_n(storage: str, datas, x: int, s: int, n: int) -> int:
    if s + n * _SIZES[storage] > len(datas[x]):
        raise Trap(TrapCode.MEMORY_OUT_OF_BOUNDS.value, TrapCode.MEMORY_OUT_OF_BOUNDS)
    return array_new_n(n)


def array_new_elem_n(elems, x: int, s: int, n: int) -> int:
    if s + n > len(elems[x]):
        raise Trap(TrapCode.TABLE_OUT_OF_BOUNDS.value, TrapCode.TABLE_OUT_OF_BOUNDS)
    return n


def array_init_data_n(a: Any, storage: str, datas, x: int, d: int, s: int, n: int) -> int:
    array_fill_n(a, d, n)
    if s + n * _SIZES[storage] > len(datas[x]):
        raise Trap(TrapCode.MEMORY_OUT_OF_BOUNDS.value, TrapCode.MEMORY_OUT_OF_BOUNDS)
    return n


def array_init_elem_n(a: Any, elems, x: int, d: int, s: int, n: int) -> int:
    array_fill_n(a, d, n)
    if s + n > len(elems[x]):
        raise Trap(TrapCode.TABLE_OUT_OF_BOUNDS.value, TrapCode.TABLE_OUT_OF_BOUNDS)
    return n


# ----- values -----

#: The default value of each storage type (numbers are unsigned ints or floats internally).
_DEFAULTS = {"i32": 0, "i64": 0, "f32": 0.0, "f64": 0.0, "v128": 0, "i8": 0, "i16": 0}


def default_of(storage: str) -> Any:
    """The default value of a field of ``storage`` type (references: null)."""
    return _DEFAULTS.get(storage)


def pack(storage: str, v: Any) -> Any:
    """``v`` as a field of ``storage`` type holds it (packed types wrap)."""
    if storage == "i8":
        return v & 0xFF
    if storage == "i16":
        return v & 0xFFFF
    return v


def sext8(v: int) -> int:
    return ((v ^ 0x80) - 0x80) & M32


def sext16(v: int) -> int:
    return ((v ^ 0x8000) - 0x8000) & M32


def i31_get_s(v: int) -> int:
    return ((v ^ 0x40000000) - 0x40000000) & M32


def ref_eq(a: Any, b: Any) -> int:
    """``ref.eq``: the same object, or two equal i31 values (both null: 1)."""
    if a is b:
        return 1
    return int(type(a) is I31 and type(b) is I31 and a.value == b.value)


def any_convert_extern(v: Any) -> Any:
    if v is None:
        return None
    if type(v) is ExternAny:
        return v.value
    return HostAny(v)


def extern_convert_any(v: Any) -> Any:
    if v is None:
        return None
    if type(v) is HostAny:
        return v.value
    return ExternAny(v)


def _func_heap(ft: FuncType) -> str:
    if ft.heap is not None:
        return ft.heap
    text = "(func"
    if ft.params:
        text += " (param " + " ".join(ft.params) + ")"
    if ft.results:
        text += " (result " + " ".join(ft.results) + ")"
    return text + ")"


def ref_test(v: Any, heap: str, nullable: bool) -> bool:
    """Whether reference ``v`` is of type ``(ref null? heap)`` (``heap``: abstract name or a
    closed heap form), by the run-time type of the object (spec 4.4.x ref.test)."""
    if v is None:
        return nullable
    t = type(v)
    if t is Struct or t is Array or isinstance(v, (Struct, Array)):
        # (subclasses: the llvm tier's heap objects as Python sees them)
        if heap == "any" or heap == "eq":
            return True
        if heap[0] != "(":
            return heap == ("struct" if isinstance(v, Struct) else "array")
        return heap_matches(v.type, heap)
    if t is I31:
        return heap in ("i31", "eq", "any")
    if t is HostAny:
        return heap == "any"
    if t is FuncInstance or isinstance(v, FuncInstance):     # (lazily bound: runtime/func.py)
        return heap == "func" or (heap[0] == "(" and heap_matches(_func_heap(v.type), heap))
    if t is Exn:
        return heap == "exn"
    # every other value is a host (extern) reference
    return heap == "extern"


def cast(v: Any, heap: str, nullable: bool) -> Any:
    """``ref.cast``: ``v`` when :func:`ref_test` holds, else the cast traps."""
    if ref_test(v, heap, nullable):
        return v
    return cast_failure()


def struct_default(ty: str, storages) -> Struct:
    return Struct(ty, [_DEFAULTS.get(s) for s in storages])


def array_new(ty: str, value: Any, n: int) -> Array:
    if n > MAX_ARRAY_LEN:
        _too_large(n)
    return Array(ty, [value] * n)


def array_get(a: Any, i: int) -> Any:
    if a is None:
        null_array()
    elems = a.elems
    if i >= len(elems):
        array_oob()
    return elems[i]


def array_set(a: Any, i: int, v: Any) -> None:
    if a is None:
        null_array()
    elems = a.elems
    if i >= len(elems):
        array_oob()
    elems[i] = v


def array_len(a: Any) -> int:
    if a is None:
        null_array()
    return len(a.elems)


def array_fill(a: Any, d: int, v: Any, n: int) -> None:
    if a is None:
        null_array()
    elems = a.elems
    if d + n > len(elems):
        array_oob()
    elems[d:d + n] = [v] * n


def array_copy(a: Any, d: int, b: Any, s: int, n: int) -> None:
    if a is None or b is None:
        null_array()
    if d + n > len(a.elems) or s + n > len(b.elems):
        array_oob()
    a.elems[d:d + n] = b.elems[s:s + n]


#: Bytes per element and decoder of each numeric storage type read from a data segment.
_SIZES = {"i8": 1, "i16": 2, "i32": 4, "i64": 8, "f32": 4, "f64": 8, "v128": 16}


def _read_data(storage: str, data: bytes, s: int, n: int) -> list:
    size = _SIZES[storage]
    chunk = data[s:s + n * size]
    if storage == "i8":
        return list(chunk)
    if storage == "f32":
        return [f32_from_bits(x) for x in _struct.unpack(f"<{n}I", chunk)]
    if storage == "f64":
        return [f64_from_bits(x) for x in _struct.unpack(f"<{n}Q", chunk)]
    if storage == "v128":
        return [int.from_bytes(chunk[k:k + 16], "little") for k in range(0, len(chunk), 16)]
    fmt = {"i16": "H", "i32": "I", "i64": "Q"}[storage]
    return list(_struct.unpack(f"<{n}{fmt}", chunk))


def array_new_data(ty: str, storage: str, datas, x: int, s: int, n: int) -> Array:
    data = datas[x]
    if s + n * _SIZES[storage] > len(data):
        raise Trap(TrapCode.MEMORY_OUT_OF_BOUNDS.value, TrapCode.MEMORY_OUT_OF_BOUNDS)
    if n > MAX_ARRAY_LEN:
        _too_large(n)
    return Array(ty, _read_data(storage, data, s, n))


def array_new_elem(ty: str, elems, x: int, s: int, n: int) -> Array:
    seg = elems[x]
    if s + n > len(seg):
        raise Trap(TrapCode.TABLE_OUT_OF_BOUNDS.value, TrapCode.TABLE_OUT_OF_BOUNDS)
    return Array(ty, list(seg[s:s + n]))


def array_init_data(a: Any, storage: str, datas, x: int, d: int, s: int, n: int) -> None:
    if a is None:
        null_array()
    if d + n > len(a.elems):
        array_oob()
    data = datas[x]
    if s + n * _SIZES[storage] > len(data):
        raise Trap(TrapCode.MEMORY_OUT_OF_BOUNDS.value, TrapCode.MEMORY_OUT_OF_BOUNDS)
    a.elems[d:d + n] = _read_data(storage, data, s, n)


def array_init_elem(a: Any, elems, x: int, d: int, s: int, n: int) -> None:
    if a is None:
        null_array()
    if d + n > len(a.elems):
        array_oob()
    seg = elems[x]
    if s + n > len(seg):
        raise Trap(TrapCode.TABLE_OUT_OF_BOUNDS.value, TrapCode.TABLE_OUT_OF_BOUNDS)
    a.elems[d:d + n] = seg[s:s + n]


# ----- the store's GC budget (Store.set_limits(memory_size=...)) on the interp tier -----

#: Object sizes by the llvm tier's heap rule (llvm/gcheap.py): an 8-byte struct header or a
#: 16-byte array header, then the fields or elements at their storage size (a reference 8),
#: each object rounded up to 8 bytes.
STRUCT_HEADER, ARRAY_HEADER = 8, 16


def storage_bytes(storage: str) -> int:
    return _SIZES.get(storage, 16 if storage == "v128" else 8)


def struct_bytes(fields) -> int:
    """The heap size of a struct with these FieldTypes (aligned as the llvm tier lays it out)."""
    off = STRUCT_HEADER
    for f in fields:
        size = storage_bytes(f.storage)
        align = min(size, 8)
        off = (off + align - 1) // align * align + size
    return (off + 7) & ~7


def array_bytes(esize: int, n: int) -> int:
    return (ARRAY_HEADER + n * esize + 7) & ~7


class GCBudget:
    """The live bytes of one store's interp-tier GC objects, bounded by the store's
    ``memory_size`` limit as the llvm tier's native heap is: an allocation that would pass
    it first runs Python's cycle collector once, then traps "GC heap out of memory".  Each
    counted object carries a weak reference whose callback gives its bytes back."""

    __slots__ = ("store", "live", "refs", "__weakref__")

    def __init__(self, store):
        self.store = weakref.ref(store)
        self.live = 0
        self.refs: dict = {}

    def check(self, n: int) -> None:
        store = self.store()
        limit = None if store is None else store._memory_size
        if limit is not None and self.live + n > limit:
            _pygc.collect()
            if self.live + n > limit:
                raise Trap("GC heap out of memory", TrapCode.ALLOCATION_TOO_LARGE)

    def add(self, obj: Any, n: int) -> Any:
        self.live += n
        self.refs[weakref.ref(obj, self._release)] = n
        return obj

    def _release(self, r) -> None:
        self.live -= self.refs.pop(r, 0)


def budget_of(store) -> GCBudget:
    b = getattr(store, "_gc_budget", None)
    if b is None:
        b = store._gc_budget = GCBudget(store)
    return b


def counted_allocators(budget: GCBudget, module) -> dict:
    """Replacements for the interp tier's allocating names (``Struct``, ``Array``,
    ``GC_array_new*``) that charge ``budget``; for an instance whose store has a
    ``memory_size`` limit."""
    closed, heaps = module.close_types()
    ssize, esize = {}, {}
    for k, t in enumerate(module.types):
        if hasattr(t, "fields"):
            ssize[heaps[k]] = struct_bytes(t.fields)
        elif hasattr(t, "field"):
            esize[heaps[k]] = storage_bytes(t.field.storage)
    check, add = budget.check, budget.add

    def new_struct(ty, fields):
        n = ssize.get(ty, STRUCT_HEADER + 8 * len(fields))
        check(n)
        return add(Struct(ty, fields), n)

    def new_array(ty, elems):
        n = array_bytes(esize.get(ty, 8), len(elems))
        check(n)
        return add(Array(ty, elems), n)

    def new_array_n(ty, value, n):
        if n > MAX_ARRAY_LEN:
            _too_large(n)
        b = array_bytes(esize.get(ty, 8), n)
        check(b)
        return add(Array(ty, [value] * n), b)

    def new_array_data(ty, storage, datas, x, s, n):
        b = array_bytes(esize.get(ty, 8), n)
        check(b)
        return add(array_new_data(ty, storage, datas, x, s, n), b)

    def new_array_elem(ty, elems, x, s, n):
        b = array_bytes(esize.get(ty, 8), n)
        check(b)
        return add(array_new_elem(ty, elems, x, s, n), b)

    return {"Struct": new_struct, "Array": new_array, "GC_array_new": new_array_n,
            "GC_array_new_data": new_array_data, "GC_array_new_elem": new_array_elem}


__all__ = ["Struct", "Array", "I31", "HostAny", "ExternAny", "ref_test", "cast", "ref_eq",
           "any_convert_extern", "extern_convert_any", "default_of", "MAX_ARRAY_LEN"]
