"""End to end: real wasm32-wasi programs and hand-written WAT guests on the runtime."""

import json

import pytest

from support import BENCH
from wasmforge.errors import ExitTrap
from wasmforge import Engine, Linker, Module, Store
from wasmforge.wasi import Errno, WasiConfig, WasiCtx, define_wasi


def run(module_src, config, linker_wrapper=None):
    """Instantiate ``module_src`` with WASI and call ``_start``: (exit code, ctx)."""
    engine = Engine()
    store = Store(engine)
    module = Module(engine, module_src)
    ctx = WasiCtx(config)
    linker = Linker(engine)
    define_wasi(linker_wrapper(linker) if linker_wrapper else linker, store, ctx)
    try:
        linker.instantiate(store, module).exports(store)["_start"](store)
        code = 0
    except ExitTrap as exc:
        code = exc.code
    finally:
        ctx.close()
    return code


def _manifest():
    path = BENCH / "manifest.json"
    if not path.is_file():
        return []
    return sorted(json.loads(path.read_text())["programs"].items())


@pytest.mark.parametrize("name,program", _manifest(), ids=[n for n, _ in _manifest()])
def test_benchmark_program_prints_expected_output(bench_dir, name, program):
    tiny = program["sizes"]["tiny"]
    out = []
    config = WasiConfig()
    config.argv = [name, *tiny["args"]]
    config.stdout_callback = out.append
    assert run((bench_dir / program["wasm"]).read_bytes(), config) == 0
    assert b"".join(out).decode() == tiny["stdout"]


# A guest that opens PATH below fd 3 (creat|trunc), writes "written" to it, closes it and
# exits with the first failing errno (0 if everything worked).
FILE_WRITER = """
(module
  (import "wasi_snapshot_preview1" "path_open"
    (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_close" (func $fd_close (param i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 100) "written")
  (data (i32.const 200) "PATH")
  (func (export "_start") (local $err i32)
    (local.set $err (call $path_open (i32.const 3) (i32.const 1) (i32.const 200) (i32.const PATHLEN)
      (i32.const 9) (i64.const 0x7fffffff) (i64.const 0x7fffffff) (i32.const 0) (i32.const 0)))
    (if (local.get $err) (then (call $proc_exit (local.get $err))))
    (i32.store (i32.const 8) (i32.const 100))
    (i32.store (i32.const 12) (i32.const 7))
    (local.set $err (call $fd_write (i32.load (i32.const 0)) (i32.const 8) (i32.const 1) (i32.const 16)))
    (if (local.get $err) (then (call $proc_exit (local.get $err))))
    (call $proc_exit (call $fd_close (i32.load (i32.const 0))))))
"""


def file_writer(path):
    return FILE_WRITER.replace("PATHLEN", str(len(path))).replace('"PATH"', f'"{path}"')


@pytest.fixture
def box(tmp_path):
    (tmp_path / "box").mkdir()
    (tmp_path / "outside").mkdir()
    return tmp_path / "box"


def config_with(box, read_only=False):
    config = WasiConfig()
    config.preopen_dir(box, "/box", read_only=read_only)
    return config


def test_guest_writes_a_file_in_its_preopen(box):
    assert run(file_writer("out.txt"), config_with(box)) == 0
    assert (box / "out.txt").read_text() == "written"


def test_guest_cannot_write_outside_its_preopen(box, tmp_path):
    assert run(file_writer("../outside/x"), config_with(box)) == Errno.PERM
    assert not (tmp_path / "outside" / "x").exists()


def test_guest_cannot_write_into_read_only_preopen(box):
    assert run(file_writer("out.txt"), config_with(box, read_only=True)) == Errno.NOTCAPABLE
    assert not (box / "out.txt").exists()


def test_pointer_past_the_instance_memory_is_efault():
    guest = """
    (module
      (import "wasi_snapshot_preview1" "random_get" (func $random_get (param i32 i32) (result i32)))
      (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
      (memory (export "memory") 1)
      (func (export "_start")
        (call $proc_exit (call $random_get (i32.const 65535) (i32.const 2)))))
    """
    assert run(guest, WasiConfig()) == Errno.FAULT


def test_memory_growth_is_seen_by_wasi_functions():
    guest = """
    (module
      (import "wasi_snapshot_preview1" "random_get" (func $random_get (param i32 i32) (result i32)))
      (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
      (memory (export "memory") 1)
      (func (export "_start")
        (drop (memory.grow (i32.const 1)))
        (call $proc_exit (call $random_get (i32.const 65535) (i32.const 2)))))
    """
    assert run(guest, WasiConfig()) == 0


def test_public_api_fallback_links_and_runs(box):
    """define_wasi over a linker offering only define_func (the public API)."""

    class PublicOnly:
        def __init__(self, linker):
            self.define_func = linker.define_func

    assert run(file_writer("out.txt"), config_with(box), linker_wrapper=PublicOnly) == 0
    assert (box / "out.txt").read_text() == "written"


HELLO = """
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "hi")
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 16))
    (i32.store (i32.const 4) (i32.const 2))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))
"""


def test_per_store_contexts_with_one_linker():
    """wasmtime-py's shape: set_wasi per store, one linker defined without a context."""
    from wasmforge.wasi import set_wasi
    engine = Engine()
    module = Module(engine, HELLO)
    linker = Linker(engine)
    define_wasi(linker)
    outputs = []
    for _ in range(2):
        store = Store(engine)
        out = []
        config = WasiConfig()
        config.stdout_callback = out.append
        set_wasi(store, config)
        linker.instantiate(store, module).exports(store)["_start"](store)
        outputs.append(out)
    assert outputs == [[b"hi"], [b"hi"]]


def test_store_without_context_fails_at_first_wasi_call():
    from wasmforge.errors import WasmError
    engine = Engine()
    store = Store(engine)
    linker = Linker(engine)
    define_wasi(linker)
    instance = linker.instantiate(store, Module(engine, HELLO))
    with pytest.raises(WasmError, match="no WASI context"):
        instance.exports(store)["_start"](store)


def test_module_without_memory_export_gets_efault():
    guest = """
    (module
      (import "wasi_snapshot_preview1" "random_get" (func $random_get (param i32 i32) (result i32)))
      (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
      (func (export "_start")
        (call $proc_exit (call $random_get (i32.const 0) (i32.const 1)))))
    """
    assert run(guest, WasiConfig()) == Errno.FAULT


FSDEMO_STDOUT = """\
argc=2 argv1=arg1 env=hi
read 12 bytes: hello
world
stat size=12 regular=1
readlink: sub/b.txt
ls /box: . .. link sub
ls /box/sub: . .. b.txt
after truncate: hel
open /box/../etc/passwd r: Operation not permitted
open /etc/passwd r: No such file or directory
open /box/sub/../../escape.txt w: Operation not permitted
open /box/out/secret r: Operation not permitted
open /ro/given.txt r: ok
open /ro/new.txt w: Capabilities insufficient
rmdir: 0
ls /box: . ..
slept at least 20ms: 1
random: 1
"""


def test_wasi_libc_program_uses_files_clocks_and_random_within_its_sandbox(tmp_path):
    """tests/wasi/data/fsdemo.c compiled with wasi-libc: stdio files, directories, symlinks,
    escapes refused, a read-only preopen, nanosleep (poll_oneoff) and random bytes."""
    from pathlib import Path
    box, ro, outside = tmp_path / "box", tmp_path / "ro", tmp_path / "outside"
    for d in (box, ro, outside):
        d.mkdir()
    (ro / "given.txt").write_text("given\n")
    (outside / "secret").write_text("secret\n")
    out, err = [], []
    config = WasiConfig()
    config.argv = ["fsdemo", "arg1"]
    config.env = [("GREETING", "hi")]
    config.stdout_callback = out.append
    config.stderr_callback = err.append
    config.preopen_dir(box, "/box")
    config.preopen_dir(ro, "/ro", read_only=True)
    wasm = (Path(__file__).parent / "data" / "fsdemo.wasm").read_bytes()
    assert run(wasm, config) == 3
    assert b"".join(out).decode() == FSDEMO_STDOUT
    assert b"".join(err) == b"to stderr\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["box", "outside", "ro"]
    assert list(box.iterdir()) == [] and sorted(p.name for p in ro.iterdir()) == ["given.txt"]
