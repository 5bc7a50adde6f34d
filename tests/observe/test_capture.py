"""Guest stdout/stderr captured into Python objects (``WasiConfig.stdout_buffer`` /
``stderr_buffer``: a bytearray, a binary or a text stream), on both tiers, through WASI
preview1 and WASI 0.2."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

import wasmforge
from support import engine_for, tier_params
from wasmforge import ExitTrap, Linker, Module, Store, WasiConfig
from wasmforge import component as C

#: writes its data segments to stdout (fd 1) and stderr (fd 2), one fd_write each: "é"
#: (c3 a9) is split between the first two writes to stdout
WRITER = """
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 100) "caf\\c3")
  (data (i32.const 200) "\\a9 au lait\\n")
  (data (i32.const 300) "warning\\n")
  (func $out (param $fd i32) (param $ptr i32) (param $len i32)
    (i32.store (i32.const 0) (local.get $ptr))
    (i32.store (i32.const 4) (local.get $len))
    (drop (call $write (local.get $fd) (i32.const 0) (i32.const 1) (i32.const 8))))
  (func (export "_start")
    (call $out (i32.const 1) (i32.const 100) (i32.const 4))
    (call $out (i32.const 1) (i32.const 200) (i32.const 10))
    (call $out (i32.const 2) (i32.const 300) (i32.const 8))))
"""


def run(tier, configure):
    engine = engine_for(tier)
    store = Store(engine)
    wasi = WasiConfig()
    configure(wasi)
    store.set_wasi(wasi)
    linker = Linker(engine)
    linker.define_wasi()
    try:
        linker.instantiate(store, Module(engine, WRITER)).exports(store)["_start"](store)
    except ExitTrap as exc:             # (no proc_exit here; a command may end with one)
        assert exc.code == 0
    return wasi


@pytest.mark.parametrize("tier", tier_params())
def test_into_bytearrays(tier):
    out, err = bytearray(), bytearray()

    def configure(wasi):
        wasi.stdout_buffer = out
        wasi.stderr_buffer = err
    wasi = run(tier, configure)
    assert out == "café au lait\n".encode() and err == b"warning\n"
    assert wasi.stdout_buffer is out and wasi.stderr_buffer is err


@pytest.mark.parametrize("tier", tier_params())
def test_into_a_binary_stream(tier):
    out = io.BytesIO()
    run(tier, lambda wasi: setattr(wasi, "stdout_buffer", out))
    assert out.getvalue() == "café au lait\n".encode()


@pytest.mark.parametrize("tier", tier_params())
def test_into_a_text_stream_decodes_a_character_split_between_writes(tier):
    out = io.StringIO()
    run(tier, lambda wasi: setattr(wasi, "stdout_buffer", out))
    assert out.getvalue() == "café au lait\n"


def test_stdout_buffer_replaces_other_destinations_and_refuses_non_streams():
    wasi = WasiConfig()
    wasi.inherit_stdout()
    buf = bytearray()
    wasi.stdout_buffer = buf
    assert wasi.stdout_buffer is buf
    wasi.stdout_callback = print
    assert wasi.stdout_buffer is None
    assert wasi.stderr_buffer is None
    with pytest.raises(TypeError, match="stdout_buffer must be a bytearray or a stream"):
        wasi.stdout_buffer = b"immutable"
    with pytest.raises(TypeError):
        wasi.stderr_buffer = []


KIT = (Path(__file__).resolve().parents[1] / "component" / "wasip2_kit.wat").read_text()


@pytest.mark.parametrize("tier", tier_params())
def test_wasi_0_2_output_reaches_the_buffer_too(tier):
    engine = engine_for(tier)
    store = Store(engine)
    wasi = wasmforge.WasiConfig()
    out = bytearray()
    wasi.stdout_buffer = out
    store.set_wasi(wasi)
    linker = C.Linker(engine)
    linker.add_wasip2()
    inst = linker.instantiate(store, C.Component(engine, KIT))
    assert inst.get_func(store, "hello")(store) == 0
    assert out == b"hello, p2\n"
