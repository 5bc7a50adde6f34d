"""The on-disk object cache of the llvm tier."""

import os
import subprocess
import sys

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


def _objects(tmp_path):
    return sorted((tmp_path / "llvm").glob("*.o"))


def test_a_damaged_object_is_compiled_again(llvm_engine, tmp_path, monkeypatch):
    monkeypatch.setenv("WASMFORGE_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("WASMFORGE_CACHE", raising=False)
    Module(llvm_engine, WAT)._compiled()
    [obj] = _objects(tmp_path)
    good = obj.read_bytes()
    obj.write_bytes(good[: len(good) // 2])         # truncated (say, by a crash)
    store = Store(llvm_engine)
    assert Instance(store, Module(llvm_engine, WAT), []).exports(store)["f"](store, 7) == 21
    assert obj.read_bytes() == good                 # rewritten whole


def test_cache_stays_under_its_size_bound(llvm_engine, tmp_path, monkeypatch):
    monkeypatch.setenv("WASMFORGE_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("WASMFORGE_CACHE", raising=False)
    monkeypatch.setenv("WASMFORGE_CACHE_MAX_MB", "0")
    store = Store(llvm_engine)
    assert Instance(store, Module(llvm_engine, WAT), []).exports(store)["f"](store, 2) == 6
    assert _objects(tmp_path) == []


def test_eviction_removes_the_least_recently_used_first(tmp_path):
    from wasmforge import _cache
    for k, name in enumerate(["old", "mid", "new"]):
        p = tmp_path / f"{name}.o"
        p.write_bytes(b"x" * 100)
        os.utime(p, (1000 + k, 1000))
    stale = tmp_path / "dead.tmp"
    stale.write_bytes(b"x")
    os.utime(stale, (0, 0))
    assert _cache.evict(str(tmp_path), 200) == 200
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mid.o", "new.o"]


def test_a_cache_hit_counts_as_a_use(llvm_engine, tmp_path, monkeypatch):
    monkeypatch.setenv("WASMFORGE_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("WASMFORGE_CACHE", raising=False)
    Module(llvm_engine, WAT)._compiled()
    [obj] = _objects(tmp_path)
    os.utime(obj, (1000, obj.stat().st_mtime))
    Module(llvm_engine, WAT)._compiled()
    assert obj.stat().st_atime > 1000


def test_concurrent_processes_share_the_cache(tmp_path):
    wat = WAT.replace("const 3", "const 5")     # not in this process's cache
    script = ("import sys; from wasmforge import Instance, Module, Store, Engine;"
              "from wasmforge.api.engine import Config; c = Config(); c.strategy = 'llvm';"
              "e = Engine(c); s = Store(e);"
              f"print(Instance(s, Module(e, {wat!r}), []).exports(s)['f'](s, 3))")
    env = dict(os.environ, WASMFORGE_CACHE_DIR=str(tmp_path))
    env.pop("WASMFORGE_CACHE", None)
    procs = [subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.PIPE,
                              text=True) for _ in range(4)]
    assert [p.communicate(timeout=120)[0].strip() for p in procs] == ["15"] * 4
    assert len(_objects(tmp_path)) == 1
    assert not list((tmp_path / "llvm").glob("*.tmp"))


def test_a_cache_hit_leaves_the_function_bodies_undecoded(llvm_engine, tmp_path, monkeypatch):
    # The native code runs without them: a warm run skips decoding every body (fib.wasm's
    # were 2 ms of a ~110 ms process); a body is decoded if something asks for it.
    from wasmforge import wat2wasm
    monkeypatch.setenv("WASMFORGE_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("WASMFORGE_CACHE", raising=False)
    wasm = wat2wasm(WAT)
    Module(llvm_engine, wasm)._compiled()
    module = Module(llvm_engine, wasm)          # from the module cache
    [func] = module._data.funcs
    assert func._body is None
    store = Store(llvm_engine)
    assert Instance(store, module, []).exports(store)["f"](store, 4) == 12
    assert func._body is None
    assert len(func.body) == 4                  # local.get, i32.const, i32.mul, end


def test_a_module_loaded_from_the_cache_serializes(llvm_engine, tmp_path, monkeypatch):
    # A hit may leave the data segments unread (the initial memory is kept with the entry);
    # its artifact still holds the whole binary, and runs as the module does.
    from wasmforge import wat2wasm
    monkeypatch.setenv("WASMFORGE_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("WASMFORGE_CACHE", raising=False)
    wasm = wat2wasm('(module (memory (export "m") 1) (data (i32.const 8) "hi!")'
                    ' (func (export "f") (result i32) (i32.load8_u (i32.const 10))))')
    Module(llvm_engine, wasm)._compiled()
    artifact = Module(llvm_engine, wasm).serialize()     # from the module cache
    restored = Module.deserialize(llvm_engine, artifact)
    store = Store(llvm_engine)
    assert Instance(store, restored, []).exports(store)["f"](store) == ord("!")
