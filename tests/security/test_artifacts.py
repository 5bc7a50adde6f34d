"""Finding 3: `wasmforge run` runs a precompiled artifact (native code, run unverified) only
with `--allow-precompiled`, whatever the file is called; and it warns when a `--dir` grants a
directory holding the cache."""

import pytest
from click.testing import CliRunner

from wasmforge import Module
from wasmforge.cli import cli
from wasmforge import Config, Engine

WAT = '(module (func (export "f") (param i32) (result i32) (i32.mul (local.get 0) (i32.const 3))))'


def wasmforge(*args):
    result = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def forged(tier, tmp_path):
    """An artifact (a real header, a valid checksum) named like an ordinary module."""
    config = Config()
    config.strategy = tier
    path = tmp_path / "innocent.wasm"
    path.write_bytes(Module(Engine(config), WAT).serialize())
    return path


def test_an_artifact_does_not_run_without_allow_precompiled(tier, forged, cache_root):
    code, out, err = wasmforge("run", "--tier", tier, "--invoke", "f", forged, "4")
    assert (code, out) == (1, "")
    assert err == (f"{forged}: error: is a precompiled artifact (native code, run unverified); "
                   "pass --allow-precompiled to run it if you trust it\n")


def test_an_artifact_runs_with_allow_precompiled(tier, forged, cache_root):
    assert wasmforge("run", "--allow-precompiled", "--tier", tier, "--invoke", "f", forged, "4") \
        == (0, "12\n", "")


def test_allow_precompiled_still_runs_ordinary_modules(tmp_path, cache_root):
    path = tmp_path / "m.wat"
    path.write_text(WAT)
    assert wasmforge("run", "--allow-precompiled", "--tier", "interp", "--invoke", "f", path, "5") \
        == (0, "15\n", "")


def test_granting_a_directory_that_holds_the_cache_warns(cache_root, home, tmp_path):
    path = tmp_path / "m.wat"
    path.write_text(WAT)
    code, out, err = wasmforge("run", "--dir", home, "--tier", "interp", "--invoke", "f", path, "2")
    assert (code, out) == (0, "6\n")
    assert err == (f"wasmforge: warning: --dir {home} contains the wasmforge cache {cache_root}; "
                   "the guest is denied access to it\n")
    other = tmp_path / "data"
    other.mkdir()
    assert wasmforge("run", "--dir", other, "--tier", "interp", "--invoke", "f", path, "2") \
        == (0, "6\n", "")


@pytest.mark.parametrize("command", ["validate", "print"])
def test_other_commands_say_an_artifact_is_not_a_module(tier, forged, command):
    code, out, err = wasmforge(command, forged)
    assert (code, out) == (1, "")
    assert err == f"{forged}: error: is a precompiled artifact (`wasmforge compile` output), not a module\n"


def test_inspect_says_what_an_artifact_is_without_loading_it(tier, forged):
    code, out, err = wasmforge("inspect", forged)
    assert (code, err) == (0, "")
    assert out.startswith(f"artifact: module (format version 8, {forged.stat().st_size} bytes; ")
    assert f"  tier               {tier}\n" in out
