"""WasiConfig as wasmtime-py has it: stdout_custom/stderr_custom, preopen_dir with DirPerms and
FilePerms, and output files checked when they are set."""

import os

import pytest

from wasmforge import DirPerms, FilePerms, Linker, Module, Store, WasiConfig, WasmtimeError

WRITE = """(module
  (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "out!err!")
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 16)) (i32.store (i32.const 4) (i32.const 4))
    (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
    (i32.store (i32.const 0) (i32.const 20))
    (drop (call $w (i32.const 2) (i32.const 0) (i32.const 1) (i32.const 8)))))"""

# path_open(fd 3, "f", oflags, rights) -> errno; rights FD_READ (2) | FD_WRITE (64).
OPEN = """(module
  (import "wasi_snapshot_preview1" "path_open"
    (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "f")
  (func $o (export "open") (param $oflags i32) (param $rights i64) (result i32)
    (call $open (i32.const 3) (i32.const 0) (i32.const 0) (i32.const 1)
                (local.get $oflags) (local.get $rights) (i64.const 0) (i32.const 0) (i32.const 64)))
  ;; open "f" asking to read and write, then write one byte to it: the errno of the write
  (func (export "write") (result i32) (local $e i32)
    (local.set $e (call $o (i32.const 0) (i64.const 66)))
    (if (local.get $e) (then (return (local.get $e))))
    (i32.store (i32.const 32) (i32.const 0)) (i32.store (i32.const 36) (i32.const 1))
    (call $w (i32.load (i32.const 64)) (i32.const 32) (i32.const 1) (i32.const 40))))"""


def run(engine, wat, wasi, export="_start", *args):
    linker = Linker(engine)
    linker.define_wasi()
    store = Store(engine)
    store.set_wasi(wasi)
    inst = linker.instantiate(store, Module(engine, wat))
    return inst.exports(store)[export](store, *args)


def test_stdout_and_stderr_custom_receive_guest_output(engine):
    out, err = [], []
    wasi = WasiConfig()
    wasi.stdout_custom = out.append
    wasi.stderr_custom = err.append
    run(engine, WRITE, wasi)
    assert b"".join(out) == b"out!" and b"".join(err) == b"err!"


def test_stdout_file_in_a_missing_directory_raises_at_once(tmp_path):
    wasi = WasiConfig()
    with pytest.raises(WasmtimeError, match="stdout"):
        wasi.stdout_file = tmp_path / "missing" / "out.txt"
    with pytest.raises(WasmtimeError, match="stderr"):
        wasi.stderr_file = tmp_path / "missing" / "err.txt"
    wasi.stdout_file = tmp_path / "out.txt"
    assert wasi.stdout_file == str(tmp_path / "out.txt")


def preopened(engine, tmp_path, *perms, export="open"):
    wasi = WasiConfig()
    wasi.preopen_dir(str(tmp_path), "/", *perms)
    return lambda *args: run(engine, OPEN, wasi, export, *args)


def test_preopen_dir_read_write(engine, tmp_path):
    assert preopened(engine, tmp_path, DirPerms.READ_WRITE, FilePerms.READ_WRITE)(1, 66) == 0
    assert (tmp_path / "f").exists()


def test_preopen_dir_read_only_directory(engine, tmp_path):
    assert preopened(engine, tmp_path, DirPerms.READ_ONLY, FilePerms.READ_ONLY)(1, 2) != 0
    assert not (tmp_path / "f").exists()
    (tmp_path / "f").write_bytes(b"x")
    assert preopened(engine, tmp_path, DirPerms.READ_ONLY, FilePerms.READ_ONLY)(0, 2) == 0


def test_preopen_dir_read_only_files(engine, tmp_path):
    (tmp_path / "f").write_bytes(b"x")
    assert preopened(engine, tmp_path, DirPerms.READ_WRITE, FilePerms.READ_ONLY)(0, 2) == 0
    assert preopened(engine, tmp_path, DirPerms.READ_WRITE, FilePerms.READ_ONLY, export="write")() != 0
    assert (tmp_path / "f").read_bytes() == b"x"
    assert preopened(engine, tmp_path, DirPerms.READ_WRITE, FilePerms.READ_WRITE, export="write")() == 0
    assert (tmp_path / "f").read_bytes() == b"f"


def test_preopen_dir_fs_mutable_bool(engine, tmp_path):
    assert preopened(engine, tmp_path, False)(1, 2) != 0
    assert not (tmp_path / "f").exists()


def test_write_only_permissions_are_not_supported(tmp_path):
    with pytest.raises(WasmtimeError, match="write-only"):
        WasiConfig().preopen_dir(str(tmp_path), "/", DirPerms.WRITE_ONLY)
    assert os.listdir(tmp_path) == []
