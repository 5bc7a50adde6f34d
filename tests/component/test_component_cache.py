"""The core modules of a component take the path a ``Module`` of the same bytes takes
(docs/components.md, "Compilation, the module cache and artifacts"): the module cache first
(a second process compiles nothing), on a miss the same lazy / baseline / tiered decision,
and validation once per machine; and ``Component.serialize`` artifacts hold each core
module's module artifact (its machine code on the llvm tier)."""

from __future__ import annotations

import hashlib
import json
import os
import struct
import subprocess
import sys
import textwrap

import pytest

import wasmforge
from wasmforge import Config, Engine, Store, WasmtimeError
from wasmforge import component as C
from wasmforge.cm import valid
from wasmforge.llvm import quick

#: two core modules, one of them in a nested component
WAT = r"""(component
  (core module $m (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add))
  (core instance $i (instantiate $m))
  (func (export "add") (param "a" u32) (param "b" u32) (result u32) (canon lift (core func $i "add")))
  (component $inner
    (core module $n (func (export "mul") (param i32) (result i32) local.get 0 i32.const 3 i32.mul))
    (core instance $j (instantiate $n))
    (func (export "triple") (param "a" u32) (result u32) (canon lift (core func $j "mul"))))
  (instance $in (instantiate $inner))
  (export "inner" (instance $in))
)"""
TIERS = ["interp", "llvm"]


def engine(tier: str, **settings) -> Engine:
    config = Config()
    config.strategy = tier
    for k, v in settings.items():
        setattr(config, k, v)
    return Engine(config)


def run(component: C.Component, eng: Engine):
    store = Store(eng)
    inst = C.Linker(eng).instantiate(store, component)
    triple = inst.get_export_index(store, "triple", inst.get_export_index(store, "inner"))
    return inst.get_func(store, "add")(store, 2, 40), inst.get_func(store, triple)(store, 7)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("WASMFORGE_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("WASMFORGE_CACHE", raising=False)
    return tmp_path


@pytest.fixture
def validations(monkeypatch):
    """The core modules the component validator validates, counted."""
    seen = []
    real = valid.validate_module

    def counting(m, **kw):
        seen.append(m)
        return real(m, **kw)
    monkeypatch.setattr(valid, "validate_module", counting)
    return seen


@pytest.mark.parametrize("tier", TIERS)
def test_each_core_module_is_validated_once_per_machine(cache, validations, tier):
    eng = engine(tier)
    first = C.Component(eng, WAT)
    assert len(validations) == 2               # each core module once, not again as a Module
    assert run(first, eng) == (42, 21)
    C.Component(eng, WAT)                      # known valid (validation or module cache)
    assert len(validations) == 2


def test_with_the_cache_off_each_core_module_is_validated_once(cache, validations, monkeypatch):
    monkeypatch.setenv("WASMFORGE_CACHE", "off")
    eng = engine("llvm")
    assert run(C.Component(eng, WAT), eng) == (42, 21)
    C.Component(eng, WAT)
    assert len(validations) == 4


def test_an_invalid_core_module_is_refused_with_the_components_message(cache):
    bad = '(component (core module (func (result i32) i64.const 1)))'
    with pytest.raises(WasmtimeError, match="type mismatch"):
        C.Component(engine("llvm"), bad)
    with pytest.raises(WasmtimeError, match="type mismatch"):    # nothing cached as valid
        C.Component(engine("llvm"), bad)


def test_a_core_module_is_compiled_as_a_module_of_its_bytes(cache, monkeypatch):
    # The same decisions as Module(engine, bytes): forced lazy compilation here.
    monkeypatch.setenv("WASMFORGE_LLVM_LAZY", "1")
    eng = engine("llvm")
    component = C.Component(eng, WAT)
    assert run(component, eng) == (42, 21)
    assert [m._code.lazy for m in component._modules] == [True, True]
    monkeypatch.setenv("WASMFORGE_LLVM_LAZY", "0")
    component = C.Component(engine("llvm"), WAT)
    assert all(m._code is None for m in component._modules)   # another key: not cached yet


SCRIPT = textwrap.dedent("""
    import json, os, sys
    from wasmforge import Config, Engine, Store
    from wasmforge import component as C
    config = Config(); config.strategy = "llvm"
    eng = Engine(config)
    component = C.Component(eng, sys.stdin.read())
    # (loaded from the cache; whether a module uses GC known without decoding its bodies)
    loaded = [[m._code is not None, "known_gc" in vars(m._data)] for m in component._modules]
    store = Store(eng)
    inst = C.Linker(eng).instantiate(store, component)
    triple = inst.get_export_index(store, "triple", inst.get_export_index(store, "inner"))
    print(json.dumps([loaded, inst.get_func(store, "add")(store, 2, 40), inst.get_func(store, triple)(store, 7),
                      "llvmlite" in sys.modules]))
""")


def _process(cache) -> list:
    env = dict(os.environ, WASMFORGE_CACHE_DIR=str(cache))
    for k in ("WASMFORGE_CACHE", "WASMFORGE_LLVM_LAZY", "WASMFORGE_LLVM_BASELINE", "WASMFORGE_TIERING",
              "WASMFORGE_LLVM_QUICK"):
        env.pop(k, None)
    proc = subprocess.run([sys.executable, "-c", SCRIPT], input=WAT, capture_output=True, text=True,
                          timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_a_second_process_compiles_nothing(cache):
    first = _process(cache)
    # Compiled, not loaded; its baseline code came from the quick compiler where the host has
    # the instructions it uses (llvm/quick), else from LLVM, which imports llvmlite.
    # (validation tells whether each module uses GC: valid/validate.py _check_module)
    assert first == [[[False, True], [False, True]], 42, 21, not (quick.DEFAULT and quick.cpu_supported())]
    entries = sorted(os.listdir(cache / "llvm"))
    # From the module cache: machine code mapped by our loader, llvmlite never imported.
    assert _process(cache) == [[[True, True], [True, True]], 42, 21, False]
    assert sorted(os.listdir(cache / "llvm")) == entries


@pytest.mark.parametrize("tier", TIERS)
def test_artifact_round_trip(cache, tier):
    eng = engine(tier)
    art = C.Component(eng, WAT).serialize()
    header = json.loads(bytes(art[16:16 + struct.unpack_from("<I", art, 12)[0]]))
    assert len(header["core_modules"]) == 2
    back = C.Component.deserialize(eng, art)
    # Neither validated nor compiled again: on llvm each core module's machine code is in it.
    assert [m._code is not None for m in back._modules] == [tier == "llvm"] * 2
    assert run(back, eng) == (42, 21)
    assert C.Component.deserialize(eng, bytes(art)).serialize() == art


def test_a_deserialized_component_runs_in_a_process_without_llvmlite(cache):
    path = cache / "c.cwasm"
    path.write_bytes(C.Component(engine("llvm"), WAT).serialize())
    script = textwrap.dedent(f"""
        import sys
        from wasmforge import Config, Engine, Store
        from wasmforge import component as C
        config = Config(); config.strategy = "llvm"
        eng = Engine(config)
        component = C.Component.deserialize_file(eng, {str(path)!r})
        store = Store(eng)
        print(C.Linker(eng).instantiate(store, component).get_func(store, "add")(store, 2, 40),
              "llvmlite" in sys.modules)
    """)
    for name in os.listdir(cache / "llvm"):       # the code is the artifact's, not the cache's
        if name.startswith("mod-"):
            os.remove(cache / "llvm" / name)
    env = dict(os.environ, WASMFORGE_CACHE_DIR=str(cache))
    env.pop("WASMFORGE_CACHE", None)
    # The first run asks llvmlite for the host's description (the artifact is checked
    # against it) and keeps it in the cache folder; the second needs no llvmlite at all.
    for _ in range(2):
        proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                              env=env)
        assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["42", "False"]
    assert not [name for name in os.listdir(cache / "llvm") if name.startswith("mod-")]


def _reframed(art: bytes, edit) -> bytes:
    """``art`` with its header passed through ``edit`` and the checksum made right again (an
    artifact that only the checks beyond the checksum can refuse)."""
    head_len = struct.unpack_from("<I", art, 12)[0]
    header = json.loads(art[16:16 + head_len])
    edit(header)
    head = json.dumps(header, sort_keys=True).encode()
    body = art[:12] + struct.pack("<I", len(head)) + head + art[16 + head_len:-32]
    return body + hashlib.sha256(body).digest()


@pytest.mark.parametrize("tier", TIERS)
def test_corrupt_foreign_or_old_artifacts_are_refused(cache, tier):
    eng = engine(tier)
    art = bytes(C.Component(eng, WAT).serialize())
    bad = bytearray(art)
    bad[-100] ^= 1                              # inside the last core module's artifact
    with pytest.raises(WasmtimeError, match="checksum"):
        C.Component.deserialize(eng, bad)
    with pytest.raises(WasmtimeError, match="core modules do not match"):
        C.Component.deserialize(eng, _reframed(art, lambda h: h["core_modules"].reverse()))
    with pytest.raises(WasmtimeError, match="bad core module lengths"):
        C.Component.deserialize(eng, _reframed(art, lambda h: h["core_modules"].pop()))
    with pytest.raises(WasmtimeError, match="no compiled core modules"):
        C.Component.deserialize(eng, _reframed(art, lambda h: h.pop("core_modules")))
    other = "interp" if tier == "llvm" else "llvm"
    with pytest.raises(WasmtimeError, match="incompatible artifact: tier"):
        C.Component.deserialize(engine(other), art)
    with pytest.raises(WasmtimeError, match="core module, not a component"):
        C.Component.deserialize(eng, wasmforge.Module(eng, "(module)").serialize())
    with pytest.raises(WasmtimeError, match="component, not a core module"):
        wasmforge.Module.deserialize(eng, art)
