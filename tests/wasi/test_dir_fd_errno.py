"""File operations on a directory descriptor answer what wasmtime answers.

WASI preview1 leaves the errno of, say, ``fd_read`` on a preopened directory open (the
official WASI testsuite's ``dir_fd_op_failures`` accepts EISDIR, EBADF or ENOTCAPABLE); a
program built by a real toolchain prints it, so wasmforge gives wasmtime's choice (issue 17's
toolchain matrix found the Rust probe reading a directory printing a different error).  Each
call runs as a WASI command that exits with the errno, on both tiers and, when wasmtime-py is
installed, under wasmtime too; the errnos below are what wasmtime 49/50 answer.
"""

import pytest

from support import engine_for, tier_params

from wasmforge import Linker, Module, Store
from wasmforge.errors import ExitTrap
from wasmforge.wasi import WasiConfig

EBADF, SUCCESS = 8, 0

#: name -> (parameter types, arguments after the descriptor, wasmtime's errno)
CALLS = {
    "fd_read": ("i32 i32 i32 i32", "(i32.const 0) (i32.const 1) (i32.const 200)", EBADF),
    "fd_write": ("i32 i32 i32 i32", "(i32.const 0) (i32.const 1) (i32.const 200)", EBADF),
    "fd_pread": ("i32 i32 i32 i64 i32", "(i32.const 0) (i32.const 1) (i64.const 0) (i32.const 200)", EBADF),
    "fd_pwrite": ("i32 i32 i32 i64 i32", "(i32.const 0) (i32.const 1) (i64.const 0) (i32.const 200)", EBADF),
    "fd_seek": ("i32 i64 i32 i32", "(i64.const 0) (i32.const 0) (i32.const 200)", EBADF),
    "fd_tell": ("i32 i32", "(i32.const 200)", EBADF),
    "fd_sync": ("i32", "", EBADF),
    "fd_datasync": ("i32", "", EBADF),
    "fd_allocate": ("i32 i64 i64", "(i64.const 0) (i64.const 10)", EBADF),
    "fd_filestat_set_size": ("i32 i64", "(i64.const 10)", EBADF),
    "fd_advise": ("i32 i64 i64 i32", "(i64.const 0) (i64.const 10) (i32.const 0)", EBADF),
    "fd_readdir": ("i32 i32 i32 i64 i32", "(i32.const 300) (i32.const 100) (i64.const 0) (i32.const 200)", SUCCESS),
}


def command(name: str) -> str:
    params, args, _ = CALLS[name]
    return f'''(module
      (import "wasi_snapshot_preview1" "{name}" (func $f (param {params}) (result i32)))
      (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
      (memory (export "memory") 1)
      (func (export "_start")
        (i32.store (i32.const 0) (i32.const 100)) (i32.store (i32.const 4) (i32.const 10))
        (call $exit (call $f (i32.const 3) {args}))))'''


def errno_of(tier: str, name: str, directory) -> int:
    engine = engine_for(tier)
    store = Store(engine)
    wasi = WasiConfig()
    wasi.preopen_dir(str(directory), "/d")
    store.set_wasi(wasi)
    linker = Linker(engine)
    linker.define_wasi()
    instance = linker.instantiate(store, Module(engine, command(name)))
    with pytest.raises(ExitTrap) as info:
        instance.exports(store)["_start"](store)
    return info.value.code


@pytest.mark.parametrize("tier", tier_params())
@pytest.mark.parametrize("name", sorted(CALLS))
def test_a_file_operation_on_a_directory_answers_as_wasmtime(tier, name, tmp_path):
    assert errno_of(tier, name, tmp_path) == CALLS[name][2]


@pytest.mark.parametrize("name", sorted(CALLS))
def test_the_expected_errnos_are_wasmtimes(name, tmp_path):
    wasmtime = pytest.importorskip("wasmtime")
    engine = wasmtime.Engine()
    store = wasmtime.Store(engine)
    wasi = wasmtime.WasiConfig()
    wasi.preopen_dir(str(tmp_path), "/d")
    store.set_wasi(wasi)
    linker = wasmtime.Linker(engine)
    linker.define_wasi()
    instance = linker.instantiate(store, wasmtime.Module(engine, command(name)))
    with pytest.raises(wasmtime.ExitTrap) as info:
        instance.exports(store)["_start"](store)
    assert info.value.code == CALLS[name][2]
