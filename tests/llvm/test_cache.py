"""The on-disk object cache of the llvm tier."""

from wasmforge import Instance, Module, Store

WAT = '(module (func (export "f") (param i32) (result i32) (i32.mul (local.get 0) (i32.const 3))))'


def test_second_compile_loads_the_cached_object(llvm_engine, tmp_path, monkeypatch):
    monkeypatch.setenv("WASMFORGE_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("WASMFORGE_CACHE", raising=False)
    Module(llvm_engine, WAT)._compiled()
    objects = list((tmp_path / "llvm").glob("*.o"))
    assert len(objects) == 1
    stamp = objects[0].stat().st_mtime_ns
    module = Module(llvm_engine, WAT)          # a fresh Module: compiled again, from the cache
    store = Store(llvm_engine)
    assert Instance(store, module, []).exports(store)["f"](store, 5) == 15
    assert objects[0].stat().st_mtime_ns == stamp


def test_cache_can_be_turned_off(llvm_engine, tmp_path, monkeypatch):
    monkeypatch.setenv("WASMFORGE_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("WASMFORGE_CACHE", "off")
    Module(llvm_engine, WAT)._compiled()
    assert not (tmp_path / "llvm").exists()
