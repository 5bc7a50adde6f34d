"""A binary is validated once per machine (wasmforge/_validcache.py): the verdict is cached,
keyed by the binary, the proposals switched on and the front end's files, and authenticated
like every cache entry."""

import importlib

import pytest

from wasmforge import Config, Engine, Instance, Module, Store, ValidationError, wat2wasm
from wasmforge import _validcache

# (the package re-exports the function under the submodule's name)
validate_module = importlib.import_module("wasmforge.valid.validate")

WASM = wat2wasm('(module (global $g (mut i32) (i32.const 1))'
                ' (func (export "f") (param i32) (result i32)'
                '  (global.set $g (i32.add (global.get $g) (local.get 0))) (global.get $g)))')
INVALID = wat2wasm('(module (func (result i32) (i64.const 1)))')     # type mismatch


@pytest.fixture
def calls(tmp_path, monkeypatch):
    monkeypatch.setenv("WASMFORGE_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("WASMFORGE_CACHE", raising=False)
    seen = []
    real = validate_module.validate

    def counting(module, **kw):
        seen.append(kw.get("features"))
        return real(module, **kw)
    monkeypatch.setattr(validate_module, "validate", counting)
    return seen


def engine(tier, features=None):
    config = Config()
    config.strategy = tier
    eng = Engine(config)
    return eng


@pytest.mark.parametrize("tier", ["interp", "llvm"])
def test_a_binary_is_validated_once_and_runs_after_a_cached_verdict(calls, tier):
    eng = engine(tier)
    Module(eng, WASM)
    assert len(calls) == 1
    module = Module(eng, WASM)
    assert len(calls) == 1
    store = Store(eng)
    f = Instance(store, module, []).exports(store)["f"]
    assert (f(store, 2), f(store, 3)) == (3, 6)


def test_the_verdict_depends_on_the_features(calls):
    eng = engine("interp")
    Module(eng, WASM)
    other = sorted(eng.features)[:-1] if eng.features else ["memory64"]
    assert not _validcache.known_valid(WASM, other)
    assert _validcache.known_valid(WASM, eng.features)


def test_an_invalid_binary_is_refused_every_time(calls):
    eng = engine("interp")
    for _ in range(2):
        with pytest.raises(ValidationError):
            Module(eng, INVALID)
    assert len(calls) == 2


def test_a_tampered_verdict_is_refused_and_the_binary_validated_again(calls, tmp_path):
    eng = engine("interp")
    Module(eng, WASM)
    entry = _validcache.entry(WASM, eng.features)
    path = tmp_path / "valid" / entry
    assert path.is_file()
    raw = bytearray(path.read_bytes())
    raw[0] ^= 1                         # the HMAC no longer matches
    path.write_bytes(bytes(raw))
    Module(eng, WASM)
    assert len(calls) == 2


def test_text_and_the_cache_off_always_validate(calls, monkeypatch):
    eng = engine("interp")
    text = '(module (func (export "f")))'
    Module(eng, text)
    Module(eng, text)
    assert len(calls) == 2
    monkeypatch.setenv("WASMFORGE_CACHE", "off")
    Module(eng, WASM)
    Module(eng, WASM)
    assert len(calls) == 4
