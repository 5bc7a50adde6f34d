"""Config.opt_level: the llvm tier's optimisation level is per engine, keys the machine-code
cache, and is recorded in (and checked against) ahead-of-time artifacts."""

from __future__ import annotations

import pytest

from wasmforge import Config, Engine, Instance, Module, Store, WasmError

FAC = """(module (func (export "fac") (param i64) (result i64)
  (if (result i64) (i64.eqz (local.get 0)) (then (i64.const 1))
    (else (i64.mul (local.get 0) (call 0 (i64.sub (local.get 0) (i64.const 1))))))))"""


def engine(level):
    config = Config()
    config.strategy = "llvm"
    config.opt_level = level
    return Engine(config)


@pytest.mark.parametrize("level", [0, 1, 2, 3])
def test_every_level_computes_the_same(level):
    eng = engine(level)
    store = Store(eng)
    fac = Instance(store, Module(eng, FAC), []).exports(store)["fac"]
    assert fac(store, 20) == 2432902008176640000


def test_levels_have_their_own_cache_entries(tmp_path, monkeypatch):
    monkeypatch.setenv("WASMFORGE_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("WASMFORGE_CACHE", raising=False)
    for level in (0, 2):
        eng = engine(level)
        store = Store(eng)
        Instance(store, Module(eng, FAC), [])
    assert len(list((tmp_path / "llvm").glob("*.o"))) == 2


def test_an_artifact_records_its_level_and_another_level_refuses_it():
    data = Module(engine(0), FAC).serialize()
    with pytest.raises(WasmError, match="opt_level"):
        Module.deserialize(engine(2), data)
    assert Module.deserialize(engine(0), data) is not None


@pytest.mark.parametrize("bad", [-1, 4, "2", 2.0, True])
def test_invalid_levels_are_refused(bad):
    with pytest.raises(ValueError, match="opt_level"):
        Config().opt_level = bad
