"""Hostile component binaries: mutated copies of the scripts' components (bytes flipped,
inserted, deleted; AST indexes, names and lists changed and re-encoded) are either accepted or
refused with a ``DecodeError`` / ``ValidationError`` — never another Python exception."""

import dataclasses
import random

import pytest

from component.cmscripts import SUITE, binaries, scripts, wasm_tools
from wasmforge.cm import ast
from wasmforge.cm.binary import decode_component, encode_component
from wasmforge.cm.valid import validate_component
from wasmforge.errors import DecodeError, ValidationError

SCRIPTS = ("component-model/binary/binary.wast", "component-model/validation/resources.wast",
           "component-model/validation/instantiation.wast", "component-model/values/strings.wast",
           "component-model/validation/external-visibility.wast")


@pytest.fixture(scope="module")
def corpus():
    if not SUITE.is_dir() or wasm_tools() is None:
        pytest.skip("COMPONENT SUITE or wasm-tools ABSENT")
    out = []
    for script in SCRIPTS:
        if script not in scripts():
            continue
        for b in binaries(script) or []:
            if b.is_component and b.kind != "assert_malformed":
                try:
                    decode_component(b.data)
                except DecodeError:
                    continue
                out.append(b.data)
    assert len(out) > 100
    return out


def _check(data: bytes) -> str:
    try:
        validate_component(decode_component(data))
    except DecodeError:
        return "malformed"
    except ValidationError:
        return "invalid"
    return "valid"


def test_byte_mutations_give_typed_errors(corpus):
    rng = random.Random(1234)
    outcomes = set()
    for _ in range(400):
        d = bytearray(rng.choice([c for c in corpus if len(c) > 10]))
        for _ in range(rng.randint(1, 3)):
            p = rng.randrange(8, len(d))
            r = rng.random()
            if r < 0.5:
                d[p] = rng.randrange(256)
            elif r < 0.75:
                d.insert(p, rng.randrange(256))
            elif len(d) > 9:
                del d[p]
        outcomes.add(_check(bytes(d)))
    assert "malformed" in outcomes


def _mutate(rng, obj):
    if not dataclasses.is_dataclass(obj) or isinstance(obj, ast.CoreModule):
        return
    if type(obj).__dataclass_params__.frozen:
        return
    for f in dataclasses.fields(obj):
        if f.name == "offset":
            continue
        v = getattr(obj, f.name)
        if isinstance(v, bool):
            continue
        if isinstance(v, int) and rng.random() < 0.05:
            setattr(obj, f.name, rng.choice([0, 1, 2, v + 1, max(0, v - 1), 100]))
        elif isinstance(v, str) and f.name in ("name", "sort") and rng.random() < 0.03:
            if f.name == "name":
                setattr(obj, f.name, rng.choice(["", "a", "A", "[method]a.b", "a:b/c@1.0.0"]))
        elif isinstance(v, list):
            if v and rng.random() < 0.03:
                del v[rng.randrange(len(v))]
            if v and rng.random() < 0.03:
                v.insert(rng.randrange(len(v)), rng.choice(v))
            for x in v:
                _mutate(rng, x)
        else:
            _mutate(rng, v)


def test_ast_mutations_give_typed_errors(corpus):
    rng = random.Random(99)
    outcomes = set()
    for _ in range(400):
        c = decode_component(rng.choice(corpus))
        _mutate(rng, c)
        try:
            data = encode_component(c)
        except (KeyError, TypeError, ValueError, OverflowError):
            continue                  # not every mutated AST is encodable
        outcomes.add(_check(data))
    assert {"valid", "invalid"} <= outcomes
