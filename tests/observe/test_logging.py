"""Host-side events through the standard ``logging`` module, under ``wasmforge.*`` loggers:
modules compiled and loaded from the module cache, artifacts loaded, WASI capability
denials, traps; silent unless the host configures logging (the library adds no handler)."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from support import engine_for, has_llvmlite, tier_params
from wasmforge import ExitTrap, Linker, Module, Store, Trap, WasiConfig

ROOT = Path(__file__).resolve().parents[2]

DIVIDE = '(module $calc (func $div (export "div") (param i32 i32) (result i32) (i32.div_s (local.get 0) (local.get 1))))'

#: path_open of the path in its data segment below preopen fd 3, then fd_write of a byte to
#: the descriptor opened; the errno of the first that fails (or 0) is the exit code
OPEN = """
(module
  (import "wasi_snapshot_preview1" "path_open"
    (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "PATH")
  (func (export "_start") (local $errno i32)
    (local.set $errno
      (call $open (i32.const 3) (i32.const 0) (i32.const 16) (i32.const LEN)
                  (i32.const 0) (i64.const RIGHTS) (i64.const 0) (i32.const 0) (i32.const 8)))
    (if (local.get $errno) (then (call $exit (local.get $errno))))
    (i32.store (i32.const 0) (i32.const 16))
    (i32.store (i32.const 4) (i32.const 1))
    (call $exit (call $write (i32.load (i32.const 8)) (i32.const 0) (i32.const 1) (i32.const 12)))))
"""


def open_in_guest(tier, tmp_path, path, rights=2, read_only=False):
    engine = engine_for(tier)
    store = Store(engine)
    wasi = WasiConfig()
    wasi.preopen_dir(str(tmp_path), "/sandbox", read_only=read_only)
    store.set_wasi(wasi)
    linker = Linker(engine)
    linker.define_wasi()
    wat = OPEN.replace("PATH", path).replace("LEN", str(len(path))).replace("RIGHTS", str(rights))
    with pytest.raises(ExitTrap) as info:
        linker.instantiate(store, Module(engine, wat)).exports(store)["_start"](store)
    return info.value.code


@pytest.mark.parametrize("tier", tier_params())
def test_a_trap_is_logged_at_info(tier, caplog):
    engine = engine_for(tier)
    store = Store(engine)
    linker = Linker(engine)
    div = linker.instantiate(store, Module(engine, DIVIDE)).exports(store)["div"]
    with caplog.at_level(logging.INFO, logger="wasmforge"):
        assert div(store, 7, 2) == 3
        assert caplog.records == []
        with pytest.raises(Trap):
            div(store, 1, 0)
    (record,) = [r for r in caplog.records if r.name == "wasmforge.trap"]
    assert record.levelno == logging.INFO
    assert record.getMessage() == "trap in calc!div: integer divide by zero"


@pytest.mark.parametrize("tier", tier_params())
def test_capability_denials_are_logged(tier, tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="wasmforge.wasi"):
        assert open_in_guest(tier, tmp_path, "../outside") == 63          # EPERM
        assert open_in_guest(tier, tmp_path, "/etc/passwd") == 63
        (tmp_path / "f").write_text("x")
        # fd_write (1 << 6) asked of a read-only preopen is not granted: writing is refused
        assert open_in_guest(tier, tmp_path, "f", rights=(1 << 6) | (1 << 1), read_only=True) == 76
    messages = [r.getMessage() for r in caplog.records if r.name == "wasmforge.wasi"]
    assert messages[0] == "denied: '../outside' leaves its preopened directory"
    assert messages[1] == "denied: absolute path '/etc/passwd' (a path is relative to a preopened directory)"
    assert messages[2] == "denied: descriptor 4 lacks the right fd_write"     # the file opened
    assert all(r.levelno == logging.INFO for r in caplog.records if r.name == "wasmforge.wasi")


def test_compiling_is_logged_at_debug(caplog):
    engine = engine_for("interp")
    store = Store(engine)
    with caplog.at_level(logging.DEBUG, logger="wasmforge"):
        Linker(engine).instantiate(store, Module(engine, DIVIDE))
    (record,) = [r for r in caplog.records if r.name == "wasmforge.module"]
    assert record.levelno == logging.DEBUG
    assert record.getMessage().startswith("module 'calc' compiled by the interp tier in ")


@pytest.mark.skipif(not has_llvmlite(), reason="LLVM TIER NOT TESTED: llvmlite is not installed")
def test_module_cache_and_artifacts_are_logged_at_debug(caplog, tmp_path, monkeypatch):
    monkeypatch.setenv("WASMFORGE_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("WASMFORGE_TIERING", "off")
    engine = engine_for("llvm", opt_level=0)
    from wasmforge import wat2wasm
    binary = wat2wasm(DIVIDE)
    with caplog.at_level(logging.DEBUG, logger="wasmforge"):
        first = Module(engine, binary)
        first._compiled()
        Module(engine, binary)                  # the machine code is in the cache now
        Module.deserialize(engine, first.serialize())
    messages = [(r.name, r.getMessage()) for r in caplog.records if r.name.startswith("wasmforge.")]
    assert ("wasmforge.module", "module cache miss (llvm tier): compiled on first use") in messages
    assert any(n == "wasmforge.module" and m.startswith("module 'calc' compiled by the llvm tier")
               for n, m in messages)
    assert ("wasmforge.module", "module 'calc' loaded from the module cache (llvm tier, 1 functions): "
            "not validated or compiled again") in messages
    assert any(n == "wasmforge.artifact" and m.startswith("artifact loaded (") for n, m in messages)


def test_silent_by_default(tmp_path):
    """Nothing reaches stderr when the host configures no logging, and no wasmforge logger has
    a handler of its own."""
    code = f"""
import logging
from wasmforge import Engine, Linker, Module, Store, Trap
store = Store(Engine())
div = Linker(store.engine).instantiate(store, Module(store.engine, {DIVIDE!r})).exports(store)["div"]
try:
    div(store, 1, 0)
except Trap:
    pass
loggers = [l for n, l in logging.Logger.manager.loggerDict.items()
           if n.startswith("wasmforge") and isinstance(l, logging.Logger)]
assert loggers and not any(l.handlers for l in loggers), loggers
print("ok")
"""
    env = dict(os.environ, WASMFORGE_CACHE_DIR=str(tmp_path), PYTHONPATH=str(ROOT / "src"))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "ok\n" and done.stderr == ""
