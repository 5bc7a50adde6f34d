"""What the cheaper per-instance set-up must keep true (docs/performance.md, Instantiation):
an InstancePre's caller-bound host imports still belong to the instantiating store, and a
WASI context releases its host descriptors once unreachable, without the cyclic collector."""

import gc
import os

import pytest

from support import peek_linker, tier_params
from wasmforge import Config, Engine, Linker, Module, Store, WasiConfig, WasmError

TIERS = tier_params()


@pytest.mark.parametrize("tier", TIERS)
def test_a_reexported_caller_bound_import_belongs_to_the_instantiating_store(tier):
    engine, linker, seen = peek_linker(tier)
    pre = linker.instantiate_pre(Module(engine, """(module
      (import "host" "peek" (func $peek))
      (export "peek" (func $peek))
      (memory (export "mem") 1)
      (data (i32.const 0) "A"))"""))
    for _ in range(2):
        store = Store(engine)
        peek = pre.instantiate(store).exports(store)["peek"]
        peek(store)
        with pytest.raises(WasmError, match="different store"):
            peek(Store(engine))
    assert seen == [b"A", b"A"]


@pytest.mark.parametrize("tier", TIERS)
def test_a_wasi_context_closes_its_preopens_when_its_store_is_dropped(tier, tmp_path):
    config = Config()
    config.strategy = tier
    engine = Engine(config)
    linker = Linker(engine)
    linker.define_wasi()
    pre = linker.instantiate_pre(Module(engine, """(module
      (import "wasi_snapshot_preview1" "fd_close" (func (param i32) (result i32)))
      (memory (export "memory") 1))"""))
    def open_on_dir() -> int:
        # Only this test's directory: other threads (a tier-up, a cache write) may open and
        # close other descriptors meanwhile.
        n = 0
        for fd in os.listdir("/proc/self/fd"):
            try:
                n += os.readlink(f"/proc/self/fd/{fd}") == str(tmp_path)
            except OSError:
                pass
        return n

    assert open_on_dir() == 0
    gc.collect()
    gc.disable()
    try:
        store = Store(engine)
        wasi = WasiConfig()
        wasi.preopen_dir(str(tmp_path), "/")
        store.set_wasi(wasi)
        pre.instantiate(store)
        assert open_on_dir() >= 1
        del store
        gc.collect()        # instances are still cyclic garbage (docs/performance.md)
        assert open_on_dir() == 0
    finally:
        gc.enable()
