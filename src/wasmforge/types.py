"""Types of the WebAssembly 2.0 core language (spec 2.3).

Value types are plain strings internally (``"i32"``, ``"funcref"`` ...) so they are cheap to
compare and print.  :class:`ValType` is a ``str`` subclass with wasmtime-py's factory methods,
so ``ValType.i32() == "i32"`` holds and both worlds mix freely.
"""

from __future__ import annotations

from sys import intern as _intern
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

from ._frozen import Frozen
from .errors import Handle, NotSupportedError

I32 = "i32"
I64 = "i64"
F32 = "f32"
F64 = "f64"
V128 = "v128"
FUNCREF = "funcref"
EXTERNREF = "externref"
EXNREF = "exnref"           # exception-handling proposal: a caught exception (spec 3.0)

NUM_TYPES = (I32, I64, F32, F64)
VEC_TYPES = (V128,)
REF_TYPES = (FUNCREF, EXTERNREF, EXNREF)
VAL_TYPES = NUM_TYPES + VEC_TYPES + REF_TYPES

# Binary encodings (spec 5.3.1 - 5.3.3).
VALTYPE_BYTE = {I32: 0x7F, I64: 0x7E, F32: 0x7D, F64: 0x7C, V128: 0x7B, FUNCREF: 0x70, EXTERNREF: 0x6F,
                EXNREF: 0x69}
BYTE_VALTYPE = {b: t for t, b in VALTYPE_BYTE.items()}

MAX_PAGES = 65536          # 4 GiB of 64 KiB pages (spec 4.5.1: memory limits must be <= 2^16)
MAX_PAGES64 = 1 << 48      # memory64: 2^64 bytes of 64 KiB pages
MAX_TABLE = 0xFFFF_FFFF    # table limits (spec 3.2.1: at most 2^32-1)
MAX_TABLE64 = 0xFFFF_FFFF_FFFF_FFFF   # memory64's 64-bit tables
PAGE_SIZE = 65536


def is_num(t: str) -> bool:
    return t in NUM_TYPES


def is_ref(t: str) -> bool:
    """Whether ``t`` is a reference type (the 2.0 ones, or a typed reference)."""
    return t in REF_TYPES or ref_parts(t) is not None


# ----- typed references (function-references proposal; room for GC and exceptions) -----
#
# A reference type is ``(ref null? heaptype)``.  It stays a plain string, so comparing types
# is comparing strings everywhere: the nullable abstract ones keep their shorthand names
# (``"funcref"`` = (ref null func), ``"externref"``, and GC's / exception handling's
# ``"anyref"``, ``"exnref"``...), every other one is its canonical text, ``"(ref func)"``,
# ``"(ref null 3)"`` (a type index, in a module's index space) or, once closed for the
# runtime (:func:`close_types`), ``"(ref (func (param i32)))"``, whose heap type is the type
# definition itself, so that equal types of different modules are equal strings.

#: Abstract heap types.  func/extern (function references), the GC ones, exn/noexn
#: (exception handling); "bot" is the validator's heap type of an unknown operand.
ABSTRACT_HEAPS = ("func", "extern", "any", "eq", "i31", "struct", "array", "none", "nofunc",
                  "noextern", "exn", "noexn")
HEAP_SHORTHAND = {"func": FUNCREF, "extern": EXTERNREF, "any": "anyref", "eq": "eqref",
                  "i31": "i31ref", "struct": "structref", "array": "arrayref", "none": "nullref",
                  "nofunc": "nullfuncref", "noextern": "nullexternref", "exn": "exnref",
                  "noexn": "nullexnref"}
SHORTHAND_HEAP = {v: k for k, v in HEAP_SHORTHAND.items()}
#: The top of each heap type's hierarchy (spec 3.0 "heap type" subtyping).
HEAP_TOP = {"func": "func", "nofunc": "func", "extern": "extern", "noextern": "extern",
            "any": "any", "eq": "any", "i31": "any", "struct": "any", "array": "any",
            "none": "any", "exn": "exn", "noexn": "exn"}
_BOTTOMS = frozenset(("nofunc", "noextern", "none", "noexn"))
# Binary encodings of the abstract heap types (also the one-byte shorthand reference types).
HEAP_BYTE = {"func": 0x70, "extern": 0x6F, "any": 0x6E, "eq": 0x6D, "i31": 0x6C,
             "struct": 0x6B, "array": 0x6A, "none": 0x71, "nofunc": 0x73, "noextern": 0x72,
             "exn": 0x69, "noexn": 0x74}
BYTE_HEAP = {b: h for h, b in HEAP_BYTE.items()}
#: The proposal each abstract heap type belongs to (the validator refuses a switched-off one).
HEAP_FEATURE = {"func": None, "extern": None, "exn": "exceptions", "noexn": "exceptions",
                "nofunc": "gc", "noextern": "gc", "any": "gc", "eq": "gc", "i31": "gc",
                "struct": "gc", "array": "gc", "none": "gc"}

#: A heap type: an abstract name, a type index, or a closed definition (``"(func ...)"``).
Heap = Union[str, int]

_PARTS: Dict[str, Tuple[bool, Heap]] = {FUNCREF: (True, "func"), EXTERNREF: (True, "extern")}
for _h, _s in HEAP_SHORTHAND.items():
    _PARTS[_s] = (True, _h)
_MADE: Dict[Tuple[bool, Heap], str] = {}


def ref_type(nullable: bool, heap: Heap) -> str:
    """The reference type ``(ref null? heap)``; ``heap`` is an abstract heap type name, a
    type index (int) or a closed type definition (str starting with ``(``)."""
    key = (nullable, heap)
    t = _MADE.get(key)
    if t is None:
        if nullable and heap in HEAP_SHORTHAND:
            t = HEAP_SHORTHAND[heap]
        else:
            t = _intern(f"(ref {'null ' if nullable else ''}{heap})")
        _MADE[key] = t
        _PARTS[t] = key
    return t


def ref_parts(t: str) -> Optional[Tuple[bool, Heap]]:
    """``(nullable, heap)`` of a reference type (heap: abstract name, type index int, or a
    closed definition), or ``None`` when ``t`` is not a reference type."""
    parts = _PARTS.get(t)
    if parts is not None or not t.startswith("(ref "):
        return parts
    inner = t[5:-1]
    nullable = inner.startswith("null ")
    if nullable:
        inner = inner[5:]
    heap: Heap = int(inner) if inner.isdigit() else inner
    parts = (nullable, heap)
    _PARTS[t] = parts
    return parts


def heap_top(heap: Heap) -> str:
    """The top of ``heap``'s hierarchy: func, extern, any or exn (a defined type is under
    func when it is a function type, under any when it is a struct or array type)."""
    if isinstance(heap, int):
        return "func"
    if heap.startswith("("):
        d = DEFINED.get(heap)
        return "func" if d is None or d.kind == "func" else "any"
    return HEAP_TOP.get(heap, heap)


def heap_matches(a: Heap, b: Heap) -> bool:
    """Heap subtyping a <: b, for heap types whose type indices are already canonical (equal
    definitions are equal), as closed types and the validator's types are."""
    if a == b or a == "bot":
        return True
    if b == "bot":
        return False
    if isinstance(a, int) or a.startswith("("):
        d = DEFINED.get(a) if not isinstance(a, int) else None
        if d is None:
            return b == "func"
        if isinstance(b, int) or not b.startswith("("):
            # spec 3.0: a defined type matches the abstract type of its kind (and any, eq)
            return b == d.kind or (d.kind != "func" and b in ("any", "eq"))
        while d is not None and d.supers:
            sup = d.supers[0]
            if sup == b:
                return True
            d = DEFINED.get(sup)
        return False
    if a in _BOTTOMS:
        return heap_top(b) == HEAP_TOP[a]
    if b == "any":
        return a in ("eq", "i31", "struct", "array")
    if b == "eq":
        return a in ("i31", "struct", "array")
    return False


def func_type_matches(actual: "FuncType", expected: "FuncType") -> bool:
    """Whether a function of closed type ``actual`` may be used where ``expected`` is wanted:
    equal types, or (GC proposal) a declared subtype."""
    if actual == expected:
        return True
    a = actual.heap or _comp_text(actual)
    b = expected.heap or _comp_text(expected)
    return a != b and heap_matches(a, b)


def val_matches(a: Optional[str], b: Optional[str]) -> bool:
    """Value subtyping a <: b (spec 3.0 "matching"); ``None`` (an unknown operand) matches
    everything."""
    if a == b or a is None or b is None:
        return True
    pa = ref_parts(a)
    pb = ref_parts(b)
    if pa is None or pb is None:
        return False
    if pa[0] and not pb[0]:
        return False
    return heap_matches(pa[1], pb[1])


def storage_type(t: str) -> str:
    """The 2.0 type whose values stand for ``t``'s at run time and in the API: a typed
    function reference is a function reference (``"funcref"``), an external one an
    ``"externref"``; every other type is itself."""
    parts = ref_parts(t)
    if parts is None or t in (FUNCREF, EXTERNREF):
        return t
    return {"func": FUNCREF, "extern": EXTERNREF}.get(heap_top(parts[1]), t)


class ByType(Dict[str, Any]):
    """A table keyed by value type in which a typed reference finds its :func:`storage_type`'s
    entry (the tiers' and the API's per-type tables)."""

    def __missing__(self, t: str) -> Any:
        base = storage_type(t)
        if base == t:
            raise KeyError(t)
        return self[base]

    def __contains__(self, t: object) -> bool:
        return dict.__contains__(self, t) or (isinstance(t, str) and storage_type(t) != t
                                              and dict.__contains__(self, storage_type(t)))


def is_defaultable(t: str) -> bool:
    """Whether a local of type ``t`` has a default value (non-nullable references do not)."""
    parts = ref_parts(t)
    return parts is None or parts[0]


class _Value(Frozen, Handle):
    """The types below: immutable values equal and hashed by their fields (_frozen.py), with
    wasmtime-py's resource protocol (errors.py ``Handle``)."""

    __slots__ = ()


class FieldType(_Value):
    """A field of a struct or the element of an array (GC proposal): its storage type (a
    value type, or the packed ``"i8"``/``"i16"``) and whether it is mutable."""

    storage: str
    mutable: bool
    _fields = ("storage", "mutable")

    def __init__(self, storage: str, mutable: bool = False):
        object.__setattr__(self, "storage", storage)
        object.__setattr__(self, "mutable", mutable)

    def text(self) -> str:
        return f"(mut {self.storage})" if self.mutable else self.storage

    @property
    def unpacked(self) -> str:
        """The value type a field's value has on the operand stack (packed ones are i32)."""
        return I32 if self.storage in PACKED_TYPES else self.storage


PACKED_TYPES = ("i8", "i16")


class StructType(_Value):
    """A struct type ``(struct (field ...)*)`` (GC proposal)."""

    fields: Tuple[FieldType, ...]
    _fields = ("fields",)

    def __init__(self, fields: Sequence[FieldType] = ()):
        object.__setattr__(self, "fields", tuple(fields))

    def __str__(self) -> str:
        return "(struct" + "".join(" (field " + f.text() + ")" for f in self.fields) + ")"


class ArrayType(_Value):
    """An array type ``(array fieldtype)`` (GC proposal)."""

    field: FieldType
    _fields = ("field",)

    def __init__(self, field: FieldType):
        object.__setattr__(self, "field", field)

    def __str__(self) -> str:
        return "(array " + self.field.text() + ")"


def comp_kind(ct: object) -> str:
    """``"func"``, ``"struct"`` or ``"array"``: the abstract heap type above a definition."""
    if isinstance(ct, StructType):
        return "struct"
    if isinstance(ct, ArrayType):
        return "array"
    return "func"


class Defined(_Value):
    """What a closed defined heap type stands for: its kind, its composite type with every
    reference closed, whether it is final, and its (closed) declared supertypes."""

    kind: str
    comp: Any
    final: bool
    supers: Tuple[str, ...]
    _fields = ("kind", "comp", "final", "supers")

    def __init__(self, kind: str, comp: Any, final: bool, supers: Tuple[str, ...]):
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "comp", comp)
        object.__setattr__(self, "final", final)
        object.__setattr__(self, "supers", supers)


#: Closed heap form -> its definition (filled by :func:`close_types`), so that subtyping
#: and the kind of a closed heap type can be read from the string alone.
DEFINED: Dict[str, Defined] = {}

#: ``subtypes[i]`` of a module: ``(final, (supertype index, ...))``; a type absent from the
#: map is final without supertypes, as a plain ``(type (func))`` is (spec 3.0).
SubInfo = Tuple[bool, Tuple[int, ...]]
_PLAIN_SUB: SubInfo = (True, ())


def _map_comp(ct: Any, fn: Any) -> Any:
    """``ct`` with ``fn`` applied to each value type that may refer to a type index."""
    if isinstance(ct, StructType):
        if not any(f.storage.startswith("(") for f in ct.fields):
            return ct
        return StructType([FieldType(fn(f.storage), f.mutable) for f in ct.fields])
    if isinstance(ct, ArrayType):
        if not ct.field.storage.startswith("("):
            return ct
        return ArrayType(FieldType(fn(ct.field.storage), ct.field.mutable))
    if any(t.startswith("(") for t in ct.params) or any(t.startswith("(") for t in ct.results):
        return FuncType(tuple(map(fn, ct.params)), tuple(map(fn, ct.results)))
    return ct


def _comp_text(ct: Any) -> str:
    if isinstance(ct, (StructType, ArrayType)):
        return str(ct)
    text = "(func"
    if ct.params:
        text += " (param " + " ".join(ct.params) + ")"
    if ct.results:
        text += " (result " + " ".join(ct.results) + ")"
    return text + ")"


def comp_valtypes(ct: Any) -> Tuple[str, ...]:
    """Every value (or storage) type a composite type mentions."""
    if isinstance(ct, StructType):
        return tuple(f.storage for f in ct.fields)
    if isinstance(ct, ArrayType):
        return (ct.field.storage,)
    return tuple(ct.params) + tuple(ct.results)


def close_types(types: Sequence[Any], rec_groups: Sequence[Tuple[int, int]] = (),
                subtypes: Optional[Dict[int, SubInfo]] = None) -> Tuple[List[Any], List[str]]:
    """Close a module's type definitions over its type indices: returns ``(closed, heaps)``,
    ``closed[i]`` the composite type with every ``(ref null? j)`` replaced by the closed
    reference and ``heaps[i]`` the closed heap form of type ``i`` (``"(func (param i32))"``), so
    that two equivalent types (spec 3.0: iso-recursive equivalence, in any module) have equal
    forms.  ``rec_groups`` lists ``(first index, count)`` of each recursive group of more than
    one type (other types are groups of one); ``subtypes`` the declared finality and
    supertypes (GC proposal).  A type may refer to earlier types and to the types of its own
    group, a supertype only to earlier types; otherwise ``ValueError("unknown type j")``.
    The 2.0 types are returned as they are."""
    if not rec_groups and not subtypes and all(type(ct) is FuncType for ct in types) and not any(
            t.startswith("(") for ct in types for t in (*ct.params, *ct.results)):
        # Plain function types only (every 2.0 module): each is its own group of one, final
        # and referring to no type index, so the general walk below would give these texts
        # and these types; a module loaded per request pays for the walk on each load.
        plain: List[str] = []
        for ct in types:
            h = _heap_name(_comp_text(ct), "func")
            plain.append(h)
            if h not in DEFINED:
                DEFINED[h] = Defined(comp_kind(ct), ct, True, ())
        return list(types), plain
    subs = subtypes or {}
    heaps: List[str] = []
    closed: List[Any] = []
    starts = dict(rec_groups)
    i = 0
    n = len(types)
    while i < n:
        end = i + starts.get(i, 1)
        members, internal = _rolled_group(types, subs, heaps, i, end)
        if end - i == 1 and not internal:
            names = members
        else:
            # spec 3.0: a type of a recursive group is the group's rolled-up text projected
            # on its position, so equal groups give equal types within and across modules.
            group = "(rec " + " ".join(members) + ")"
            names = [f"{group}.{k}" for k in range(end - i)]
        for k, text in enumerate(names):
            heaps.append(_heap_name(text, comp_kind(types[i + k])))
        for k in range(i, end):
            ct = _map_comp(types[k], lambda t: _close(t, heaps, end))
            if isinstance(ct, FuncType) and heaps[k][1] in "rs":      # (rec ...) or (sub ...)
                ct = FuncType(ct.params, ct.results, heap=heaps[k])
            closed.append(ct)
            h = heaps[k]
            if h not in DEFINED:
                final, supers = subs.get(k, _PLAIN_SUB)
                DEFINED[h] = Defined(comp_kind(ct), ct, final, tuple(heaps[s] for s in supers))
        i = end
    return closed, heaps


def _rolled_group(types: Sequence[Any], subs: Dict[int, SubInfo], heaps: List[str],
                  start: int, end: int) -> Tuple[List[str], bool]:
    """The texts of the group ``types[start:end]`` with references into the group written
    ``rec.k`` and to earlier types by their closed forms; and whether any points inside."""
    internal = False

    def rolled(t: str) -> str:
        nonlocal internal
        parts = ref_parts(t)
        if parts is None or not isinstance(parts[1], int):
            return t
        j = parts[1]
        if start <= j < end:
            internal = True
            return ref_type(parts[0], f"rec.{j - start}")
        if not 0 <= j < start:
            raise ValueError(f"unknown type {j}")
        return ref_type(parts[0], heaps[j])

    members = []
    for k in range(start, end):
        final, supers = subs.get(k, _PLAIN_SUB)
        sup_text = []
        for s in supers:
            if not 0 <= s < k:
                raise ValueError(f"unknown type {s}")
            if s >= start:
                internal = True
                sup_text.append(f"rec.{s - start} ")
            else:
                sup_text.append(heaps[s] + " ")
        body = _comp_text(_map_comp(types[k], rolled))
        if not final or supers:
            body = "(sub " + ("final " if final else "") + "".join(sup_text) + body + ")"
        members.append(body)
    return members, internal


def close_type(t: str, heaps: Sequence[str]) -> str:
    """``t`` with a type index heap replaced by its closed form (``heaps`` from
    :func:`close_types`); ``ValueError`` for an unknown index."""
    if not t.startswith("("):
        return t
    return _close(t, heaps, len(heaps))


#: Closed heap forms longer than this are replaced by a numbered name (``func#7``), so nested
#: definitions cannot blow up; equal definitions still get equal names within the process.
_MAX_HEAP_TEXT = 2048
_LONG_HEAPS: Dict[str, int] = {}


def _heap_name(text: str, kind: str) -> str:
    """The interned heap name of a definition's closed ``text`` (of ``kind``, its
    :func:`comp_kind`): the text itself, or its numbered name when it is too long."""
    if len(text) > _MAX_HEAP_TEXT:
        text = "(" + kind + "#" + str(_LONG_HEAPS.setdefault(text, len(_LONG_HEAPS))) + ")"
    return _intern(text)


def _close(t: str, heaps: Sequence[str], limit: int) -> str:
    parts = ref_parts(t)
    if parts is None or not isinstance(parts[1], int):
        return t
    j = parts[1]
    if not 0 <= j < limit:
        raise ValueError(f"unknown type {j}")
    return ref_type(parts[0], heaps[j])


class ValType(str, Handle):
    """A value type.  Compares equal to its text name (``"i32"``)."""

    __slots__ = ()

    def __new__(cls, name: str) -> "ValType":
        if name not in VAL_TYPES and ref_parts(name) is None:
            raise ValueError(f"unknown value type {name!r}")
        return str.__new__(cls, name)

    @classmethod
    def i32(cls) -> "ValType":
        return cls(I32)

    @classmethod
    def i64(cls) -> "ValType":
        return cls(I64)

    @classmethod
    def f32(cls) -> "ValType":
        return cls(F32)

    @classmethod
    def f64(cls) -> "ValType":
        return cls(F64)

    @classmethod
    def v128(cls) -> "ValType":
        return cls(V128)

    @classmethod
    def funcref(cls) -> "ValType":
        return cls(FUNCREF)

    @classmethod
    def externref(cls) -> "ValType":
        return cls(EXTERNREF)

    @classmethod
    def exnref(cls) -> "ValType":
        """A reference to a caught exception (the exception-handling proposal)."""
        return cls(EXNREF)

    def __repr__(self) -> str:
        return f"ValType.{str(self)}()"


def _type_name(t: object) -> str:
    # A name is checked against VAL_TYPES where it is used (the API, the validator, with their
    # own messages); here only what is not a type name at all is refused, as wasmtime-py does.
    if not isinstance(t, str):
        raise TypeError(f"expected ValType, got {type(t).__name__}")
    return str(t)


class ValTypes(Tuple[str, ...]):
    """The parameter or result types of a FuncType: a tuple of type names (hashable, cheap to
    concatenate) that also equals a list of the same types, as wasmtime-py's lists do
    (``FuncType([ValType.i32()], []).params == [ValType.i32()]``; a ValType equals its name).
    The names stay the interned plain strings (``I32`` ...) the validator and the tiers
    compare by identity."""

    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        if isinstance(other, list):
            return tuple.__eq__(self, tuple(other))
        return tuple.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        return not self == other

    __hash__ = tuple.__hash__


class FuncType(_Value):
    """A function type ``[params] -> [results]`` (spec 2.3.6)."""

    params: ValTypes
    results: ValTypes
    #: GC proposal: the closed heap form of a function type that is not a plain one (in a
    #: recursive group, or declared with ``sub``): such a type is its own type, distinct from
    #: a structurally equal one elsewhere (iso-recursive types); ``None`` for plain types.
    heap: Optional[str]
    _fields = ("params", "results")         # (the heap form is not shown)

    def __init__(self, params: Sequence[str] = (), results: Sequence[str] = (), *,
                 heap: Optional[str] = None):
        params = ValTypes(map(_type_name, params))
        results = ValTypes(map(_type_name, results))
        object.__setattr__(self, "params", params)
        object.__setattr__(self, "results", results)
        object.__setattr__(self, "heap", heap)

    def _key(self) -> Tuple[Any, ...]:
        return (self.params, self.results, self.heap)

    def __str__(self) -> str:
        return f"[{' '.join(self.params)}] -> [{' '.join(self.results)}]"


class Limits(_Value):
    """Size bounds of a memory (in pages) or table (in elements) (spec 2.3.7)."""

    min: int
    max: Optional[int]
    _fields = ("min", "max")

    def __init__(self, min: int, max: Optional[int] = None):
        object.__setattr__(self, "min", min)
        object.__setattr__(self, "max", max)

    def _key(self) -> Tuple[Any, ...]:
        return (self.min, self.max)

    def __str__(self) -> str:
        return f"{self.min}" if self.max is None else f"{self.min} {self.max}"


class MemoryType(_Value):
    """A memory type: its limits in 64 KiB pages, its address type (spec 2.3.8; the
    memory64 proposal adds 64-bit memories, indexed with i64 addresses) and whether it is
    shared between threads (the threads proposal; a shared memory needs a maximum).

    wasmtime-py's ``MemoryType(limits, is_64=False, shared=False, page_size_log2=16)``:
    ``page_size_log2`` belongs to the custom-page-sizes proposal, not supported yet
    (NotSupportedError)."""

    limits: Limits
    is_64: bool
    shared: bool
    _fields = ("limits", "is_64", "shared")

    def __init__(self, limits: Limits, is_64: bool = False, shared: bool = False, page_size_log2: int = 16):
        if not isinstance(limits, Limits):
            raise TypeError(f"expected Limits, got {type(limits).__name__}")
        if page_size_log2 != 16:
            raise NotSupportedError(f"MemoryType(page_size_log2={page_size_log2!r}) is not supported "
                                    "yet: custom page sizes are a later issue")
        object.__setattr__(self, "limits", limits)
        object.__setattr__(self, "is_64", bool(is_64))
        object.__setattr__(self, "shared", bool(shared))

    @property
    def index_type(self) -> str:
        """The type of addresses into this memory: ``"i64"`` for a 64-bit memory, else ``"i32"``."""
        return I64 if self.is_64 else I32

    @property
    def is_shared(self) -> bool:
        return self.shared

    @property
    def page_size(self) -> int:
        return PAGE_SIZE

    @property
    def page_size_log2(self) -> int:
        return 16

    @property
    def minimum(self) -> int:
        return self.limits.min

    @property
    def maximum(self) -> Optional[int]:
        return self.limits.max


class TableType(_Value):
    """A table type: element reference type and limits (spec 2.3.9).  The constructor's
    first argument is named ``valtype``, as in wasmtime-py."""

    element: str
    limits: Limits
    is_64: bool
    _fields = ("element", "limits", "is_64")

    def __init__(self, valtype: str, limits: Limits, *, is_64: bool = False):
        object.__setattr__(self, "element", valtype)
        object.__setattr__(self, "limits", limits)
        # memory64's 64-bit tables (indexed with i64); a keyword of wasmforge's own.
        object.__setattr__(self, "is_64", bool(is_64))

    @property
    def index_type(self) -> str:
        """The type of indexes into this table: ``"i64"`` for a 64-bit table, else ``"i32"``."""
        return I64 if self.is_64 else I32

    @property
    def minimum(self) -> int:
        return self.limits.min

    @property
    def maximum(self) -> Optional[int]:
        return self.limits.max


class GlobalType(_Value):
    """A global type: value type and mutability (spec 2.3.10).  The constructor's first
    argument is named ``valtype``, as in wasmtime-py."""

    content: str
    mutable: bool
    _fields = ("content", "mutable")

    def __init__(self, valtype: str, mutable: bool = False):
        object.__setattr__(self, "content", valtype)
        object.__setattr__(self, "mutable", mutable)


class TagType(_Value):
    """The type of an exception tag (exception-handling proposal): wasmtime-py's
    ``TagType(functype)``, whose parameters are the payload (and which has no results)."""

    functype: FuncType
    _fields = ("functype",)

    def __init__(self, functype: FuncType):
        if not isinstance(functype, FuncType):
            raise TypeError(f"expected a FuncType, got {type(functype).__name__}")
        object.__setattr__(self, "functype", functype)

    def __str__(self) -> str:
        return f"tag {self.functype}"


def limits_match(actual: Limits, expected: Limits) -> bool:
    """Import subtyping of limits (spec 4.5.2): actual must be at least as tight as expected."""
    if actual.min < expected.min:
        return False
    if expected.max is None:
        return True
    return actual.max is not None and actual.max <= expected.max


__all__ = [
    "I32", "I64", "F32", "F64", "V128", "FUNCREF", "EXTERNREF", "EXNREF", "VAL_TYPES", "NUM_TYPES", "REF_TYPES",
    "ValType", "ValTypes", "FuncType", "Limits", "MemoryType", "TableType", "GlobalType", "TagType", "limits_match",
    "PAGE_SIZE", "MAX_PAGES", "is_ref", "ref_type", "ref_parts", "heap_top", "heap_matches",
    "val_matches", "is_defaultable", "close_types", "close_type", "ABSTRACT_HEAPS", "HEAP_SHORTHAND",
    "SHORTHAND_HEAP", "HEAP_BYTE", "BYTE_HEAP", "HEAP_FEATURE", "storage_type", "ByType",
    "MAX_PAGES64", "MAX_TABLE", "MAX_TABLE64", "FieldType", "StructType", "ArrayType", "PACKED_TYPES",
    "comp_kind", "comp_valtypes", "DEFINED", "Defined", "func_type_matches",
]
