"""Random component types and values for the differential tests against wasmtime-py
(test_abi_wasmtime_diff.py, test_abi_wasmtime_diff_imports.py): the types, their values in a
neutral form, those values in each runtime's host form, one comparable form of what each
runtime gives back, and the types in the component text format."""

from __future__ import annotations

from wasmforge.cm import abi
from wasmforge.cm.abi import Variant
from wasmforge.cm.abi.values import is_tagged, python_cases
from wasmforge.cm.types import (BOOL, CHAR, F32, F64, S8, S16, S32, S64, STRING, U8, U16, U32, U64, BorrowType,
                                EnumType, FlagsType, ListType, OptionType, OwnType, RecordType, ResourceType,
                                ResultType, TupleType, VariantType)
from wasmforge.numerics.bits import f32_round

PRIMS = [BOOL, S8, U8, S16, U16, S32, U32, S64, U64, F32, F64, CHAR, STRING]
PAD = TupleType((U32,) * 16)

#: The resources of the resource cases: ``hr`` a host resource (the host's ResourceType.host(1)),
#: ``gr`` a resource the component defines (with a destructor that counts its calls).
HR = ResourceType("hr", "i32", None, host=True)
GR = ResourceType("gr", "i32", None)
HOST_RESOURCE_ID = 1


def random_labels(rng, n_max=4):
    n = rng.randint(1, n_max)
    return tuple(f"{rng.choice('abcdef')}{i}" + ("-x" if rng.random() < 0.2 else "") for i in range(n))


def random_type(rng, depth=3, leaves=()):
    """A random type; ``leaves`` (handle types) are among the leaves when given."""
    if depth == 0 or rng.random() < 0.35:
        r = rng.random()
        if leaves and r < 0.3:
            return rng.choice(leaves)
        if r < 0.1:
            return EnumType(random_labels(rng))
        if r < 0.2:
            return FlagsType(random_labels(rng, 10))
        return rng.choice(PRIMS)
    k = rng.randrange(8)
    sub = lambda: random_type(rng, depth - 1, leaves)           # noqa: E731
    if k == 0:
        return ListType(sub())
    if k == 1:              # (fixed-length lists: wasmtime-py cannot enable them)
        return ListType(ListType(U8))
    if k == 2:
        return RecordType(tuple((label, sub()) for label in random_labels(rng)))
    if k == 3:
        return TupleType(tuple(sub() for _ in range(rng.randint(1, 3))))
    if k == 4:
        return VariantType(tuple((label, sub() if rng.random() < 0.7 else None) for label in random_labels(rng)))
    if k == 5:
        return OptionType(sub())
    if k == 6:
        return ResultType(sub() if rng.random() < 0.7 else None, sub() if rng.random() < 0.7 else None)
    return ListType(STRING)


def map_type(t, f):
    """``t`` with each handle type ``h`` in it replaced by ``f(h)``."""
    if isinstance(t, (OwnType, BorrowType)):
        return f(t)
    if isinstance(t, ListType):
        return ListType(map_type(t.element, f))
    if isinstance(t, RecordType):
        return RecordType(tuple((label, map_type(x, f)) for label, x in t.fields))
    if isinstance(t, TupleType):
        return TupleType(tuple(map_type(x, f) for x in t.elements))
    if isinstance(t, VariantType):
        return VariantType(tuple((label, None if c is None else map_type(c, f)) for label, c in t.cases))
    if isinstance(t, OptionType):
        return OptionType(map_type(t.inner, f))
    if isinstance(t, ResultType):
        return ResultType(None if t.ok is None else map_type(t.ok, f), None if t.err is None else map_type(t.err, f))
    return t


def has_handles(t):
    found = []
    map_type(t, lambda h: found.append(h) or h)
    return bool(found)


def random_value(rng, t):
    """A value in a neutral form: ("record", dict), Variant for every variant-like, and
    ("handle", resource name, rep) for a handle."""
    n = t.kind
    if isinstance(t, (OwnType, BorrowType)):
        return ("handle", t.resource.name, rng.randrange(1 << 32))
    if n == "bool":
        return rng.random() < 0.5
    if n in ("u8", "u16", "u32", "u64"):
        return rng.randrange(1 << int(n[1:]))
    if n in ("s8", "s16", "s32", "s64"):
        b = int(n[1:])
        return rng.randrange(-(1 << (b - 1)), 1 << (b - 1))
    if n == "f32":
        return f32_round(rng.uniform(-1e6, 1e6))
    if n == "f64":
        return rng.uniform(-1e300, 1e300)
    if n == "char":
        return chr(rng.choice([rng.randrange(0x20, 0x7F), rng.randrange(0xA0, 0xD800), rng.randrange(0x10000, 0x10FFFF)]))
    if n == "string":
        return "".join(random_value(rng, CHAR) for _ in range(rng.randint(0, 6)))
    if isinstance(t, EnumType):
        return rng.choice(t.labels)
    if isinstance(t, FlagsType):
        return {label for label in t.labels if rng.random() < 0.5}
    if isinstance(t, ListType):
        n_items = t.length if t.length is not None else rng.randint(0, 3)
        items = [random_value(rng, t.element) for _ in range(n_items)]
        return bytes(items) if t.element == U8 else items
    if isinstance(t, TupleType):
        return tuple(random_value(rng, e) for e in t.elements)
    if isinstance(t, RecordType):
        return ("record", {label: random_value(rng, f) for label, f in t.fields})
    tag, c = rng.choice(python_cases(t))
    return Variant(tag, None if c is None else random_value(rng, c))


def host_value(t, v, record_cls, variant_cls, handle=None):
    """``v`` in wasmtime-py's host form, with the given Record and Variant classes and
    ``handle(resource name, rep)`` making the host's object for a handle."""
    if isinstance(t, (OwnType, BorrowType)):
        return handle(v[1], v[2])
    if isinstance(t, RecordType):
        r = record_cls()
        for label, f in t.fields:
            setattr(r, label, host_value(f, v[1][label], record_cls, variant_cls, handle))
        return r
    if isinstance(t, TupleType):
        return tuple(host_value(e, x, record_cls, variant_cls, handle) for e, x in zip(t.elements, v))
    if isinstance(t, ListType) and t.element != U8:
        return [host_value(t.element, x, record_cls, variant_cls, handle) for x in v]
    if isinstance(v, Variant):
        c = dict(python_cases(t))[v.tag]
        payload = None if c is None else host_value(c, v.payload, record_cls, variant_cls, handle)
        return variant_cls(v.tag, payload) if is_tagged(t) else payload
    return v


def norm(v, handle=None):
    """Both engines' results in one comparable form (``handle(obj)`` gives a handle object's)."""
    cls = type(v)
    if cls.__name__ in ("ResourceAny", "ResourceHost"):
        return handle(v)
    if cls.__name__ == "Record":
        return ("record", {k: norm(x, handle) for k, x in vars(v).items()})
    if cls.__name__ == "Variant":
        return ("variant", v.tag, norm(v.payload, handle))
    if isinstance(v, tuple):
        return tuple(norm(x, handle) for x in v)
    if isinstance(v, list):
        return [norm(x, handle) for x in v]
    if isinstance(v, (set, frozenset)):
        return ("set", sorted(v))
    if isinstance(v, float):
        return ("float", repr(v))
    return v


class TypeWriter:
    """Types in the component text format.  Records, variants, enums and flags in an exported
    function's type must be exported types: each becomes ``(type ...)`` plus its export, and
    is referred to by the export's index.  With ``imported``, each is imported instead
    (``(import "tN" (type (eq $dtN)))``), for a function import's type.  Handles name the
    resources by ``resources`` (resource name -> its index in the text)."""

    def __init__(self, imported=False, resources=None, prefix="t"):
        self.defs = []
        self.names = {}
        self.imported = imported
        self.resources = resources or {}
        self.prefix = prefix

    def __call__(self, t):
        if t.kind in [p.name for p in PRIMS]:
            return t.kind
        q = lambda s: '"' + s + '"'                     # noqa: E731
        if isinstance(t, OwnType):
            return f"(own {self.resources[t.resource.name]})"
        if isinstance(t, BorrowType):
            return f"(borrow {self.resources[t.resource.name]})"
        if isinstance(t, ListType):
            return f"(list {self(t.element)})"
        if isinstance(t, TupleType):
            return "(tuple " + " ".join(self(e) for e in t.elements) + ")"
        if isinstance(t, OptionType):
            return f"(option {self(t.inner)})"
        if isinstance(t, ResultType):
            return "(result" + (f" {self(t.ok)}" if t.ok else "") + (f" (error {self(t.err)})" if t.err else "") + ")"
        if t in self.names:
            return self.names[t]
        if isinstance(t, RecordType):
            text = "(record " + " ".join(f"(field {q(n)} {self(f)})" for n, f in t.fields) + ")"
        elif isinstance(t, VariantType):
            text = "(variant " + " ".join(f"(case {q(n)}" + (f" {self(c)})" if c else ")") for n, c in t.cases) + ")"
        elif isinstance(t, EnumType):
            text = "(enum " + " ".join(q(n) for n in t.labels) + ")"
        elif isinstance(t, FlagsType):
            text = "(flags " + " ".join(q(n) for n in t.labels) + ")"
        else:
            raise AssertionError(t)
        n = len(self.defs)
        p = self.prefix
        if self.imported:
            self.defs.append(f'(type $d{p}{n} {text}) (import "{p}{n}" (type ${p}{n} (eq $d{p}{n})))')
        else:
            self.defs.append(f'(type $d{p}{n} {text}) (export ${p}{n} "{p}{n}" (type $d{p}{n}))')
        self.names[t] = f"${p}{n}"
        return self.names[t]


def wat_type(t):
    return TypeWriter(resources={"hr": "$hr", "gr": "$gr"})(t)


def single_load(t):
    """The core load of a type that flattens to one value, from its memory layout."""
    if isinstance(t, (RecordType, TupleType)):
        (_, only), = abi.layout.fields_of(t)
        return single_load(only)
    if isinstance(t, ListType):
        return single_load(t.element)
    if isinstance(t, (VariantType, EnumType, FlagsType, OptionType, ResultType)):
        size = abi.elem_size(t)
        return {1: "i32.load8_u", 2: "i32.load16_u", 4: "i32.load"}[size]
    if isinstance(t, (OwnType, BorrowType)):
        return "i32.load"
    return {"bool": "i32.load8_u", "u8": "i32.load8_u", "s8": "i32.load8_u", "u16": "i32.load16_u",
            "s16": "i32.load16_u", "u32": "i32.load", "s32": "i32.load", "char": "i32.load", "u64": "i64.load",
            "s64": "i64.load", "f32": "f32.load", "f64": "f64.load"}[t.kind]


def expect(t, v, handle):
    """What :func:`norm` must give for the neutral value ``v`` of ``t`` after it went through a
    runtime unchanged (``handle(type, v)`` for each handle)."""
    if isinstance(t, (OwnType, BorrowType)):
        return handle(t, v)
    if isinstance(t, RecordType):
        return ("record", {label: expect(f, v[1][label], handle) for label, f in t.fields})
    if isinstance(t, TupleType):
        return tuple(expect(e, x, handle) for e, x in zip(t.elements, v))
    if isinstance(t, ListType):
        return v if t.element == U8 else [expect(t.element, x, handle) for x in v]
    if isinstance(t, FlagsType):
        return ("set", sorted(v))
    if t.kind in ("f32", "f64"):
        return ("float", repr(v))
    if isinstance(v, Variant):
        c = dict(python_cases(t))[v.tag]
        payload = None if c is None else expect(c, v.payload, handle)
        return ("variant", v.tag, payload) if is_tagged(t) else payload
    return v
