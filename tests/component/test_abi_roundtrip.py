"""Round trips over random types and values (hypothesis): lowering a value and lifting it
back gives the value again, through flat core values and through memory, for each string
encoding and both pointer types, and between two components of different encodings."""

from __future__ import annotations

import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from component.abi_support import Heap
from wasmforge.cm import abi
from wasmforge.cm.abi import ComponentState, Record, Resource, Variant
from wasmforge.cm.abi.values import _Object, is_tagged, python_cases, python_classes
from wasmforge.cm.types import (BOOL, CHAR, F32, F64, S8, S16, S32, S64, STRING, U8, U16, U32, U64, BorrowType,
                                EnumType, FlagsType, FuncType, ListType, OptionType, OwnType, RecordType,
                                ResourceType, ResultType, TupleType, VariantType)
from wasmforge.numerics.bits import f32_round

ENCODINGS = ["utf8", "utf16", "latin1+utf16"]
RT = ResourceType("thing")          # defined by no instance: a borrow of it becomes a handle
LABEL = st.text(string.ascii_lowercase, min_size=1, max_size=4)

PRIMS = [BOOL, S8, U8, S16, U16, S32, U32, S64, U64, F32, F64, CHAR, STRING]


def _labels(min_size=1, max_size=4):
    return st.lists(LABEL, min_size=min_size, max_size=max_size, unique=True).map(tuple)


def types(resources=True):
    leaves = st.sampled_from(PRIMS) | _labels().map(EnumType) | _labels(1, 12).map(FlagsType)
    if resources:
        leaves = leaves | st.sampled_from([OwnType(RT), BorrowType(RT)])

    def extend(inner):
        return (inner.map(ListType)
                | st.tuples(inner, st.integers(1, 3)).map(lambda a: ListType(a[0], a[1]))
                | st.lists(st.tuples(LABEL, inner), min_size=1, max_size=4,
                           unique_by=lambda f: f[0]).map(lambda fs: RecordType(tuple(fs)))
                | st.lists(inner, min_size=1, max_size=3).map(lambda es: TupleType(tuple(es)))
                | st.lists(st.tuples(LABEL, st.none() | inner), min_size=1, max_size=4,
                           unique_by=lambda c: c[0]).map(lambda cs: VariantType(tuple(cs)))
                | inner.map(OptionType)
                | st.tuples(st.none() | inner, st.none() | inner).map(lambda r: ResultType(*r)))
    return st.recursive(leaves, extend, max_leaves=6)


class ResSpec:
    """A resource in a generated value: made fresh for each lowering (an own handle moves)."""

    def __init__(self, rep, owned):
        self.rep, self.owned = rep, owned


INT_BITS = {"s8": (8, True), "u8": (8, False), "s16": (16, True), "u16": (16, False), "s32": (32, True),
            "u32": (32, False), "s64": (64, True), "u64": (64, False)}


def values(t):
    """Generated values of ``t``: variant-like values always as Variant (accepted for all)."""
    if t.kind in INT_BITS:
        bits, signed = INT_BITS[t.kind]
        return st.integers(-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else st.integers(0, (1 << bits) - 1)
    if t == BOOL:
        return st.booleans()
    if t == F32:
        return st.floats(allow_nan=False, width=32).map(f32_round)
    if t == F64:
        return st.floats(allow_nan=False)
    if t == CHAR:
        return st.characters(exclude_categories=("Cs",))
    if t == STRING:
        return st.text(st.characters(exclude_categories=("Cs",)), max_size=8)
    if isinstance(t, (OwnType, BorrowType)):
        return st.integers(0, 0xFFFFFFFF).map(lambda r: ResSpec(r, isinstance(t, OwnType)))
    if isinstance(t, EnumType):
        return st.sampled_from(t.labels)
    if isinstance(t, FlagsType):
        return st.sets(st.sampled_from(t.labels))
    if isinstance(t, ListType):
        n = t.length
        elems = st.lists(values(t.element), min_size=n or 0, max_size=n if n is not None else 4)
        return elems.map(bytes) if t.element == U8 else elems
    if isinstance(t, TupleType):
        return st.tuples(*[values(e) for e in t.elements])
    if isinstance(t, RecordType):
        return st.fixed_dictionaries({n: values(f) for n, f in t.fields}).map(lambda d: ("record", d))
    cases = python_cases(t)
    return st.one_of(*[st.just(Variant(tag)) if c is None else values(c).map(lambda p, tag=tag: Variant(tag, p))
                       for tag, c in cases])


def materialize(t, v):
    """The Python value to lower (fresh resources)."""
    if isinstance(v, ResSpec):
        return Resource(RT, v.rep, v.owned)
    if isinstance(t, RecordType):
        return Record(**{n: materialize(f, v[1][n]) for n, f in t.fields})
    if isinstance(t, TupleType):
        return tuple(materialize(e, x) for e, x in zip(t.elements, v))
    if isinstance(t, ListType) and t.element != U8:
        return [materialize(t.element, x) for x in v]
    if isinstance(v, Variant):
        c = dict(python_cases(t))[v.tag]
        return Variant(v.tag, None if c is None else materialize(c, v.payload))
    return v


def expected(t, v):
    """What lifting gives back, normalised (see :func:`norm`)."""
    if isinstance(v, ResSpec):
        return ("resource", v.rep, v.owned)
    if isinstance(t, RecordType):
        return ("record", {n: expected(f, v[1][n]) for n, f in t.fields})
    if isinstance(t, TupleType):
        return tuple(expected(e, x) for e, x in zip(t.elements, v))
    if isinstance(t, ListType):
        return v if t.element == U8 else [expected(t.element, x) for x in v]
    if isinstance(v, Variant):
        c = dict(python_cases(t))[v.tag]
        payload = None if c is None else expected(c, v.payload)
        return ("variant", v.tag, payload) if is_tagged(t) else payload
    return v


def norm(v):
    if isinstance(v, Resource):
        assert v.type is RT
        return ("resource", v.rep, v.owned)
    if isinstance(v, Record):
        return ("record", {k: norm(x) for k, x in v.__dict__.items()})
    if isinstance(v, tuple):
        return tuple(norm(x) for x in v)
    if isinstance(v, list):
        return [norm(x) for x in v]
    if isinstance(v, Variant):
        return ("variant", v.tag, norm(v.payload))
    return v


def leaves(v):
    """Floats by their repr (so -0.0 differs from 0.0), sets sorted; recursively."""
    if isinstance(v, float):
        return ("float", repr(v))
    if isinstance(v, (set, frozenset)):
        return ("set", sorted(v))
    if isinstance(v, dict):
        return {k: leaves(x) for k, x in v.items()}
    if isinstance(v, tuple):
        return tuple(leaves(x) for x in v)
    if isinstance(v, list):
        return [leaves(x) for x in v]
    return v


def same(a, b):
    return leaves(a) == leaves(b)


@st.composite
def typed_values(draw, resources=True):
    t = draw(types(resources))
    return t, draw(values(t))


SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def ambiguous(t):
    """Whether wasmtime-py's host form of ``t`` can lower to another value: a bare payload
    matched by class where a case's classes hold ``object`` (a nested bare option) or where
    a ``bool`` payload follows an ``int`` one (``isinstance(True, int)``)."""
    kids = []
    if isinstance(t, (ListType,)):
        kids = [t.element]
    elif isinstance(t, (RecordType,)):
        kids = [f for _, f in t.fields]
    elif isinstance(t, TupleType):
        kids = list(t.elements)
    elif isinstance(t, (VariantType, OptionType, ResultType)):
        kids = [c for _, c in python_cases(t) if c is not None]
        if not is_tagged(t):
            classes = [python_classes(c) for c in kids]
            if any(_Object in k for k in classes) or (any(int in k for k in classes) and any(bool in k for k in classes)):
                return True
    return any(ambiguous(k) for k in kids)


def host_form(t, v):
    """The value in wasmtime-py's host form (what lifting gives), with fresh resources."""
    if isinstance(v, ResSpec):
        return Resource(RT, v.rep, v.owned)
    if isinstance(t, RecordType):
        return Record(**{n: host_form(f, v[1][n]) for n, f in t.fields})
    if isinstance(t, TupleType):
        return tuple(host_form(e, x) for e, x in zip(t.elements, v))
    if isinstance(t, ListType) and t.element != U8:
        return [host_form(t.element, x) for x in v]
    if isinstance(v, Variant):
        c = dict(python_cases(t))[v.tag]
        payload = None if c is None else host_form(c, v.payload)
        return Variant(v.tag, payload) if is_tagged(t) else payload
    return v


@SETTINGS
@given(typed_values(), st.sampled_from(ENCODINGS), st.sampled_from(["i32", "i64"]))
def test_flat_round_trip(tv, encoding, ptr):
    t, v = tv
    heap = Heap(1 << 16, start=8)
    opts = heap.options(encoding, ptr=ptr)
    state = ComponentState()
    # the lossless form between components, lifted to the host's form
    flat = abi.lower_flat(t, materialize(t, v), opts, state, source=True)
    assert len(flat) == len(abi.flatten_type(t, ptr))
    assert same(norm(abi.lift_flat(t, flat, opts, state)), expected(t, v))
    # the host's form, both ways (where wasmtime-py's mapping is not ambiguous)
    if not ambiguous(t):
        flat = abi.lower_flat(t, host_form(t, v), opts, state)
        assert same(norm(abi.lift_flat(t, flat, opts, state)), expected(t, v))


@SETTINGS
@given(typed_values(), st.sampled_from(ENCODINGS), st.sampled_from(["i32", "i64"]))
def test_memory_round_trip(tv, encoding, ptr):
    t, v = tv
    heap = Heap(1 << 16, start=8)
    opts = heap.options(encoding, ptr=ptr)
    state = ComponentState()
    p = heap.realloc(0, 0, abi.alignment(t, ptr), abi.elem_size(t, ptr))
    abi.store(t, materialize(t, v), p, opts, state, source=True)
    assert same(norm(abi.load(t, p, opts, state)), expected(t, v))
    if not ambiguous(t):
        abi.store(t, host_form(t, v), p, opts, state)
        assert same(norm(abi.load(t, p, opts, state)), expected(t, v))


@SETTINGS
@given(typed_values(resources=False), st.sampled_from(ENCODINGS), st.sampled_from(ENCODINGS))
def test_component_to_component_round_trip(tv, src, dst):
    # A's lifted export returns the value it is given (stored in A's memory in A's encoding);
    # B's core code calls it through canon lower with B's encoding, and lifts what it got.
    t, v = tv
    heap_a, heap_b = Heap(1 << 16, start=8), Heap(1 << 16, start=8)
    opts_a, opts_b = heap_a.options(src), heap_b.options(dst)
    a, b = ComponentState(name="A"), ComponentState(name="B")
    ft = FuncType((("x", t),), t)
    nflat = len(abi.flatten_type(t))
    spilled_params = nflat > abi.MAX_FLAT_PARAMS

    def core_a(*args):
        if spilled_params:
            value = abi.load(t, args[0], opts_a, a, source=True)
        else:
            value = abi.lift_flat(t, args, opts_a, a, source=True)
        if nflat == 1:
            return abi.lower_flat(t, value, opts_a, a, source=True)[0]
        p = heap_a.realloc(0, 0, abi.alignment(t), abi.elem_size(t))
        abi.store(t, value, p, opts_a, a, source=True)
        return p
    exported = abi.lift_function(ft, core_a, opts_a, a)
    imported = abi.lower_function(ft, exported, opts_b, b)
    args = abi.lower_flat(t, materialize(t, v), opts_b, b, source=True)
    if spilled_params:
        p = heap_b.realloc(0, 0, abi.alignment(t), abi.elem_size(t))
        abi.store(t, materialize(t, v), p, opts_b, b, source=True)
        args = (p,)
    if nflat == 1:
        got = abi.lift_flat(t, [imported(*args)], opts_b, b)
    else:
        retp = heap_b.realloc(0, 0, abi.alignment(t), abi.elem_size(t))
        imported(*args, retp)
        got = abi.load(t, retp, opts_b, b)
    assert same(norm(got), expected(t, v))
