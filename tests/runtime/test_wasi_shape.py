"""wasmtime-py's WASI call shape: ``store.set_wasi(config)`` then ``linker.define_wasi()``."""

import pytest

from wasmforge import Engine, ExitTrap, Linker, Module, Store, WasiConfig

HELLO = '''(module
  (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "hello\\n")
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 16)) (i32.store (i32.const 4) (i32.const 6))
    (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
    (call $exit (i32.const 3))))'''


def test_store_set_wasi_and_linker_define_wasi_run_a_command():
    engine = Engine()
    store = Store(engine)
    out = []
    config = WasiConfig()
    config.stdout_callback = out.append
    store.set_wasi(config)
    linker = Linker(engine)
    linker.define_wasi()
    inst = linker.instantiate(store, Module(engine, HELLO))
    with pytest.raises(ExitTrap) as info:
        inst.exports(store)["_start"](store)
    assert info.value.code == 3
    assert b"".join(out) == b"hello\n"
