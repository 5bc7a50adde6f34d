"""`wasmforge run --timeout / --fuel / --max-wasm-stack`: a runaway guest ends as a trap."""

import subprocess
import sys

import pytest

from wasmforge.cli.run import TRAP_EXIT

GUEST = """(module
  (func (export "_start") (loop (br 0)))
  (func $r (export "rec") (call $r))
  (func (export "fine") (result i32) (i32.const 42)))"""


@pytest.fixture
def guest(tmp_path):
    path = tmp_path / "guest.wat"
    path.write_text(GUEST)
    return str(path)


def run(*args):
    return subprocess.run([sys.executable, "-m", "wasmforge", "run", "--tier", "interp", *args],
                          capture_output=True, text=True, timeout=120)


def test_timeout_interrupts_an_infinite_loop(guest):
    out = run("--timeout", "0.2", guest)
    assert out.returncode == TRAP_EXIT
    assert "wasm trap: interrupt" in out.stderr


def test_fuel_stops_an_infinite_loop(guest):
    out = run("--fuel", "1000", guest)
    assert out.returncode == TRAP_EXIT
    assert "all fuel consumed" in out.stderr


def test_stack_budget_stops_recursion(guest):
    out = run("--max-wasm-stack", "6400", "--invoke", "rec", guest)
    assert out.returncode == TRAP_EXIT
    assert "call stack exhausted" in out.stderr


def test_limits_do_not_disturb_a_guest_that_respects_them(guest):
    out = run("--fuel", "10", "--timeout", "30", "--invoke", "fine", guest)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "42"
