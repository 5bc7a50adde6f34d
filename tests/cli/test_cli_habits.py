"""The command line as a wasmtime user tries it (issue 17, "CLI habits"): each habit below
failed, or was untested, before; each test runs the real command in a fresh process."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
TIERS = ["interp", "llvm"]

#: a module that writes how many environment variables it sees as its exit status
ENV_COUNT = """
(module
  (import "wasi_snapshot_preview1" "environ_sizes_get" (func $sizes (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_get" (func $get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (func (export "_start")
    (drop (call $sizes (i32.const 0) (i32.const 4)))
    (drop (call $get (i32.const 16) (i32.const 1024)))
    ;; print the first variable (NUL replaced by a newline), exit with the count
    (if (i32.load (i32.const 0))
      (then
        (i32.store (i32.const 8) (i32.load (i32.const 16)))
        (i32.store (i32.const 12) (i32.sub (i32.load (i32.const 4)) (i32.const 1)))
        (drop (call $write (i32.const 1) (i32.const 8) (i32.const 1) (i32.const 100)))))
    (call $exit (i32.load (i32.const 0)))))
"""

#: a reactor: `_initialize` writes a line (so that the test sees it ran), no `_start`
REACTOR = """
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "initialised\\n")
  (global $ready (mut i32) (i32.const 0))
  (func (export "_initialize")
    (i32.store (i32.const 0) (i32.const 16))
    (i32.store (i32.const 4) (i32.const 12))
    (drop (call $write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
    (global.set $ready (i32.const 42)))
  (func (export "ready") (result i32) (global.get $ready)))
"""

#: imports a function nothing defines; `_start` calls it only when given an argument
UNKNOWN = """
(module
  (import "wasi_snapshot_preview1" "args_sizes_get" (func $argc (param i32 i32) (result i32)))
  (import "host" "missing" (func $missing (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (func (export "_start")
    (drop (call $argc (i32.const 0) (i32.const 4)))
    (if (i32.gt_u (i32.load (i32.const 0)) (i32.const 1))
      (then (call $exit (i32.add (call $missing) (i32.const 3)))))
    (call $exit (i32.const 5))))
"""


def wasmforge(*args, cwd=None, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "wasmforge", *map(str, args)], capture_output=True,
                          text=True, timeout=300, cwd=cwd, env=env)


@pytest.fixture
def wat(tmp_path):
    def make(text: str, name: str = "m.wat") -> Path:
        path = tmp_path / name
        path.write_text(text)
        return path
    return make


# --- usage errors and one-line errors ------------------------------------------------------

def test_an_unknown_option_is_a_usage_error_not_a_missing_file():
    r = wasmforge("run", "--no-such-option", ROOT / "examples" / "hello.wat")
    assert r.returncode == 2
    assert "No such option '--no-such-option'" in r.stderr
    assert "No such file" not in r.stderr and r.stdout == ""


def test_options_after_the_file_still_go_to_the_guest():
    # `-1` is an argument, not an option: wasmtime passes everything after FILE along
    r = wasmforge("run", "--invoke", "add", ROOT / "examples" / "add.wat", "-1", "3")
    assert (r.returncode, r.stdout, r.stderr) == (0, "2\n", "")


def test_dir_naming_a_missing_directory_names_it(tmp_path):
    missing = tmp_path / "nope"
    r = wasmforge("run", "--dir", f"{missing}::/data", ROOT / "examples" / "hello.wat")
    assert (r.returncode, r.stdout, r.stderr) == (1, "", f"--dir {missing}: error: no such directory\n")


def test_dir_naming_a_file_says_it_is_not_a_directory():
    hello = ROOT / "examples" / "hello.wat"
    r = wasmforge("run", "--dir", hello, hello)
    assert (r.returncode, r.stderr) == (1, f"--dir {hello}: error: not a directory\n")


def test_dir_with_a_guest_name_that_is_no_utf8_is_one_line(tmp_path):
    # (a traceback before: the guest's name of the directory is UTF-8 text, as in wasmtime)
    hello = ROOT / "examples" / "hello.wat"
    r = subprocess.run([sys.executable, "-m", "wasmforge", "run", "--dir", os.fsencode(tmp_path) + b"::\xff",
                        hello], capture_output=True, timeout=300)
    assert (r.returncode, r.stdout) == (1, b"")
    assert r.stderr.startswith(b"--dir " + os.fsencode(tmp_path) + b": error: the guest path ")
    assert r.stderr.count(b"\n") == 1


@pytest.mark.parametrize("command", ["run", "validate", "inspect", "print", "parse", "compile", "wast"])
def test_a_directory_given_as_the_module_is_one_line(tmp_path, command):
    r = wasmforge(command, tmp_path)
    assert r.returncode == 1
    first, *rest = r.stderr.splitlines()
    assert first == f"{tmp_path}: error: Is a directory"
    assert "Usage:" not in r.stderr
    # wast always ends with its count line, on stdout
    assert rest == [] and (r.stdout == "" if command != "wast" else r.stdout.endswith("skipped\n"))


def test_wast_on_a_missing_file_says_why_without_verbose(tmp_path):
    missing = tmp_path / "nope.wast"
    r = wasmforge("wast", missing)
    assert r.returncode == 1
    assert r.stderr == f"{missing}: error: No such file or directory\n"
    assert r.stdout == "wast: 0 passed, 0 failed, 0 skipped\n"
    assert "Traceback" not in r.stdout + r.stderr and "FileNotFoundError" not in r.stdout


@pytest.mark.parametrize("command", ["validate", "inspect"])
def test_validate_and_inspect_say_what_an_artifact_is(tmp_path, command):
    pytest.importorskip("llvmlite")
    artifact = tmp_path / "add.cwasm"
    assert wasmforge("compile", ROOT / "examples" / "add.wat", "-o", artifact).returncode == 0
    r = wasmforge(command, artifact)
    if command == "validate":
        assert (r.returncode, r.stdout) == (1, "")
        assert r.stderr == f"{artifact}: error: is a precompiled artifact (`wasmforge compile` output), not a module\n"
    else:       # inspect describes it from its header (tests/cli/test_compile_component.py)
        assert (r.returncode, r.stderr) == (0, "")
        assert r.stdout.startswith(f"artifact: module (format version 8, {artifact.stat().st_size} bytes; ")
    assert "UTF-8" not in r.stderr


def test_run_help_documents_the_exit_statuses():
    r = wasmforge("run", "--help")
    assert r.returncode == 0
    help_text = r.stdout.split("Options:")[0]
    assert "Exit status:" in help_text
    for status, meaning in (("134", "trapped"), ("1", "bad file"), ("2", "usage error")):
        assert re.search(rf"^\s+{status}\s+.*{meaning}", help_text, re.M), (status, help_text)


# --- wasmforge FILE ------------------------------------------------------------------------

def test_wasmforge_file_runs_it_as_wasmtime_file_does(wat):
    path = wat(ENV_COUNT)
    r = wasmforge(path)
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")
    hello = wasmforge(ROOT / "examples" / "hello.wat")
    assert (hello.returncode, hello.stdout, hello.stderr) == (0, "Hello, world!\n", "")


def test_wasmforge_file_passes_the_arguments_after_it(wat):
    path = wat(UNKNOWN)
    # with run options before FILE, and arguments after it that look like options
    r = wasmforge("-W", "unknown-imports-trap", path, "--tier", "x")
    assert r.returncode == 134 and "unknown import" in r.stderr   # argc 3: `missing` was called
    assert wasmforge("-W", "unknown-imports-trap", path).returncode == 5


def test_wasmforge_missing_module_file_is_a_missing_file(tmp_path):
    missing = tmp_path / "nope.wasm"
    r = wasmforge(missing)
    assert (r.returncode, r.stderr) == (1, f"{missing}: error: No such file or directory\n")


def test_a_mistyped_subcommand_is_still_a_usage_error():
    r = wasmforge("valdiate", "x")
    assert r.returncode == 2 and "No such command 'valdiate'" in r.stderr


# --- what the guest gets -------------------------------------------------------------------

@pytest.mark.parametrize("tier", TIERS)
def test_a_reactor_is_initialised_and_exits_0(wat, tier):
    r = wasmforge("run", "--tier", tier, wat(REACTOR))
    assert (r.returncode, r.stdout, r.stderr) == (0, "initialised\n", "")
    # and --invoke still initialises it first, once
    r = wasmforge("run", "--tier", tier, "--invoke", "ready", wat(REACTOR))
    assert (r.returncode, r.stdout, r.stderr) == (0, "initialised\n42\n", "")


def test_a_module_with_neither_start_nor_initialize_still_needs_invoke(wat):
    r = wasmforge("run", wat('(module (func (export "f")))'))
    assert r.returncode == 1 and "exports no `_start`" in r.stderr


def test_env_name_without_a_value_inherits_it(wat):
    path = wat(ENV_COUNT)
    env = dict(os.environ, WF_HABIT="from-host")
    r = wasmforge("run", "--env", "WF_HABIT", path, env=env)
    assert (r.returncode, r.stdout) == (1, "WF_HABIT=from-host")
    # unset on the host: the guest gets nothing (as with wasmtime), not an empty value
    env.pop("WF_HABIT")
    r = wasmforge("run", "--env", "WF_HABIT", "--env", "B=2", path, env=env)
    assert (r.returncode, r.stdout) == (1, "B=2")


@pytest.mark.parametrize("parser", [[], ["-W", "unknown-imports-trap=n"]], ids=["fast start", "click"])
def test_an_argument_or_a_variable_that_is_no_utf8_reaches_the_guest_as_its_bytes(wat, parser):
    # Python holds such bytes of a command line or environment as lone surrogates (PEP 383),
    # which encoded as UTF-8 raised a traceback.
    path = wat(ENV_COUNT)
    for option, env in (([b"--env", b"A=\xff"], None), ([b"--env", b"A"], {**os.environb, b"A": b"\xff"})):
        r = subprocess.run([sys.executable, "-m", "wasmforge", "run", *parser, *option, path, b"\xfe"],
                           capture_output=True, timeout=300, env=env)
        assert (r.returncode, r.stdout, r.stderr) == (1, b"A=\xff", b"")


@pytest.mark.parametrize("tier", TIERS)
@pytest.mark.parametrize("flag", ["unknown-imports-trap=y", "unknown-imports-trap", "unknown-imports-default=y"])
def test_unknown_imports_options_link_stubs(wat, tier, flag):
    path = wat(UNKNOWN)
    without = wasmforge("run", "--tier", tier, path)
    assert without.returncode == 1 and "host" in without.stderr and "missing" in without.stderr
    # not called: the run is unaffected
    assert wasmforge("run", "--tier", tier, "-W", flag, path).returncode == 5
    called = wasmforge("run", "--tier", tier, "-W", flag, path, "call")
    if "trap" in flag:
        assert called.returncode == 134 and "unknown import" in called.stderr
    else:
        assert (called.returncode, called.stderr) == (3, "")      # 0 + 3


@pytest.mark.parametrize("tier", TIERS)
def test_unknown_imports_trap_for_a_component_keeps_wasi(tier):
    path = FIXTURES / "wasi_and_unknown.wat"
    r = wasmforge("run", "--tier", tier, path)
    assert r.returncode == 1
    assert r.stderr == f"{path}: error: import `example:nowhere/service@1.0.0` was not found\n"
    # `run` calls WASI's get-random-u64: still the host's, not a trapping stub
    r = wasmforge("run", "--tier", tier, "-W", "unknown-imports-trap=y", path)
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")
    r = wasmforge("run", "--tier", tier, "-W", "unknown-imports-trap", "--invoke", "run-ping()", path)
    assert r.returncode == 134
    assert "unknown import: `example:nowhere/service@1.0.0#ping` has not been defined" in r.stderr


# --- the README's commands, pasted -----------------------------------------------------------

def readme_commands():
    """Every `wasmforge ...` command of the README's ``sh`` blocks (the part after a
    ``pip install ... &&``), comments removed."""
    text = (ROOT / "README.md").read_text()
    out = []
    for block in re.findall(r"```sh\n(.*?)```", text, re.S):
        for line in block.splitlines():
            line = line.split(" #")[0].strip()
            if line.startswith("pip install") and "&& wasmforge" in line:
                line = line.split("&&", 1)[1].strip()
            if line.startswith("wasmforge"):
                out.append(line)
    return out


def test_the_readme_has_commands_to_check():
    assert len(readme_commands()) >= 5


def test_every_readme_command_works_when_pasted(tmp_path):
    """Run in a copy of the repository's examples, in order (a later line may use what an
    earlier one wrote, as a reader pasting them would), each through the shell."""
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    bindir = tmp_path / "bin"
    bindir.mkdir()
    launcher = bindir / "wasmforge"
    launcher.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -m wasmforge "$@"\n')
    launcher.chmod(0o755)
    env = dict(os.environ, PATH=f"{bindir}{os.pathsep}{os.environ['PATH']}")
    try:
        import llvmlite  # noqa: F401
        has_llvm = True
    except ImportError:
        has_llvm = False
    ran = 0
    for line in readme_commands():
        if not has_llvm and ("compile" in line or "precompiled" in line):
            continue        # an artifact needs the llvm tier
        r = subprocess.run(line, shell=True, cwd=tmp_path, env=env, capture_output=True, text=True,
                           timeout=300)
        assert r.returncode == 0, (line, r.stdout, r.stderr)
        assert r.stderr == "", (line, r.stderr)
        ran += 1
        if "examples/add.wat 2 3" in line:
            assert r.stdout == "5\n"
        if line == "wasmforge run examples/hello.wat":
            assert r.stdout == "Hello, world!\n"
    assert ran >= 4
