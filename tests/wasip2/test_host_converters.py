"""The WASI host's result converters (wasip2/host.py ``converter``): made once per result
type, each gives what ``pythonic`` gives, for every function of every interface the host
implements and values of every shape the implementations write."""

from __future__ import annotations

from typing import Any, List

from wasmforge.cm import types as ct
from wasmforge.cm.abi.values import Variant, python_cases
from wasmforge.wasip2 import host


def samples(t: Any, depth: int = 0) -> List[Any]:
    """Values of ``t`` as the implementations write them (every variant-like one a Variant,
    an option also as its payload or None), a few per type."""
    if depth > 4:
        return [None]
    if isinstance(t, ct.OptionType):
        inner = samples(t.inner, depth + 1)[:2]
        return [None, Variant("none")] + [Variant("some", v) for v in inner] + inner
    if isinstance(t, (ct.ResultType, ct.VariantType)):
        out: List[Any] = []
        for tag, c in python_cases(t):
            out += [Variant(tag, v) for v in (samples(c, depth + 1)[:2] if c is not None else [None])]
        return out
    if isinstance(t, ct.ListType):
        return [[], samples(t.element, depth + 1)[:3]]
    if isinstance(t, ct.TupleType):
        return [tuple(samples(e, depth + 1)[0] for e in t.elements)]
    if isinstance(t, ct.Primitive):
        return {"bool": [True], "string": ["x"], "char": ["c"], "f32": [0.5], "f64": [0.5]}.get(t.name, [7])
    return [object()]       # a resource handle, a record...: passed as it is


def test_each_converter_gives_what_pythonic_gives():
    types = host._shape_types()
    checked = 0
    for name in host.IMPLEMENTATIONS:
        shape = host._shape(name)
        for fname, f, conv in shape.functions:
            result = types.function(f).result
            for v in samples(result):
                want = host.pythonic(result, v)
                got = v if conv is None else conv(v)
                assert got == want, (name, fname, v)
                checked += 1
    assert checked > 300


def test_a_type_that_needs_no_conversion_has_no_converter():
    u32 = ct.Primitive("u32")
    assert host.converter(None) is None
    assert host.converter(u32) is None
    assert host.converter(ct.ListType(ct.TupleType((ct.Primitive("string"), ct.ListType(u32))))) is None
    assert host.converter(ct.OptionType(u32)) is not None
