"""Names from a module reach the terminal escaped: `wasmforge run` prints a trap's backtrace
with names escaped and long ones cut, on both tiers; `wasmforge inspect` escapes the module,
import, export and custom section names (issue 9, findings 12c and 12d)."""

import subprocess
import sys

import pytest

from support import tier_params
from wasmforge.binary.encode import encode_module
from wasmforge.module import Custom
from wasmforge.text import parse_module

TIERS = tier_params()
EVIL = "\x1b]0;pwned\x07\x1b[2J\u202eevil\nforged"


@pytest.fixture
def guest(tmp_path):
    m = parse_module('(module (func $f (export "crash") unreachable) (func $r (export "rec") (call $r)))')
    m.names.funcs[0] = m.names.funcs[1] = EVIL
    path = tmp_path / "guest.wasm"
    path.write_bytes(encode_module(m))
    return str(path)


def run(tier, *args):
    return subprocess.run([sys.executable, "-m", "wasmforge", "run", "--tier", tier, *args],
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("tier", TIERS)
def test_trap_output_escapes_names(tier, guest):
    out = run(tier, "--invoke", "crash", guest)
    assert out.returncode == 134, out.stderr
    assert "\x1b" not in out.stderr and "\x07" not in out.stderr and "\u202e" not in out.stderr
    assert "0: \\x1b]0;pwned\\x07\\x1b[2J\\u202eevil\\x0aforged (func 0)" in out.stderr
    assert "forged" not in out.stderr.replace("\\x0aforged", "")


@pytest.mark.parametrize("tier", TIERS)
def test_stack_overflow_output_is_cut_in_the_middle(tier, guest):
    out = run(tier, "--invoke", "rec", guest)
    assert out.returncode == 134, out.stderr
    lines = out.stderr.splitlines()
    assert "call stack exhausted" in lines[0]
    omitted = [ln for ln in lines if ln.endswith("frames omitted ...")]
    assert len(omitted) == 1 and len(lines) == 2 + 16 + 1 + 16


def test_inspect_escapes_names(tmp_path):
    m = parse_module('(module (import "m" "n" (func)) (func (export "e")))')
    m.names.module = m.imports[0].module = m.exports[0].name = EVIL
    m.customs.append(Custom(EVIL, b"x", 11))
    path = tmp_path / "evil.wasm"
    path.write_bytes(encode_module(m))
    out = subprocess.run([sys.executable, "-m", "wasmforge", "inspect", str(path)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    shown = "\\x1b]0;pwned\\x07\\x1b[2J\\u202eevil\\x0aforged"
    assert "\x1b" not in out.stdout and "\u202e" not in out.stdout
    assert f"module ${shown}" in out.stdout
    assert f"{shown}.n" in out.stdout and f"  func    {shown}  (index 1)" in out.stdout
    assert f"custom:{shown}" in out.stdout
    assert not any(line.startswith("forged") for line in out.stdout.splitlines())


def test_one_line_errors_escape_names(tmp_path):
    m = parse_module('(module (import "m" "n" (func)) (func (export "_start")))')
    m.imports[0].module = EVIL
    path = tmp_path / "evil.wasm"
    path.write_bytes(encode_module(m))
    out = run("interp", str(path))
    assert out.returncode == 1
    assert "unknown import" in out.stderr and "\\u202eevil\\x0aforged" in out.stderr
    assert "\u202e" not in out.stderr and "\x07" not in out.stderr
    assert len(out.stderr.splitlines()) == 1, out.stderr
