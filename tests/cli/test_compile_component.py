"""``wasmforge compile`` of a component (binary or text) and ``wasmforge run`` of its artifact:
run only with ``--allow-precompiled``, as a module's; a tampered, truncated or foreign artifact
is one line naming the file; a component's artifact is not a module's, nor the other way round."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import wasmforge
from wasmforge import Module
from wasmforge.api.aot import artifact_kind
from wasmforge.cli import cli
from wasmforge.component import Component

FIXTURES = Path(__file__).resolve().parent / "fixtures"
HELLO = FIXTURES / "hello_p2.wasm"          # a WASI 0.2 command component: prints "hello ARG1"
RUN_ERR = FIXTURES / "run_err.wat"          # a command component (text): `run` returns err
REFUSED = "error: is a precompiled artifact (native code, run unverified); pass --allow-precompiled to run it if you trust it\n"


def tier_param(tier: str) -> str:
    if tier == "llvm":
        pytest.importorskip("llvmlite")
    return tier


def cli_run(*args):
    r = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)
    return r.exit_code, r.stdout, r.stderr


def wasmforge_process(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "wasmforge", *map(str, args)], capture_output=True, text=True,
                          timeout=300)


@pytest.mark.parametrize("tier", ["interp", "llvm"])
def test_a_component_binary_compiles_and_runs_from_its_artifact(tmp_path, tier):
    tier = tier_param(tier)
    out = tmp_path / "hello.cwasm"
    assert cli_run("compile", "--tier", tier, HELLO, "-o", out) == (0, "", "")
    assert artifact_kind(out.read_bytes()) == "component"
    # loaded, not compiled: the artifact alone (the component's binary is not even read)
    r = wasmforge_process("run", "--allow-precompiled", "--tier", tier, out, "world")
    assert (r.returncode, r.stdout, r.stderr) == (0, "hello world\n", "")
    r = wasmforge_process("run", "--tier", tier, out, "world")         # no opt-in: refused, as a module's
    assert (r.returncode, r.stdout, r.stderr) == (1, "", f"{out}: {REFUSED}")


def test_a_component_text_compiles_with_the_settings_that_key_its_code(tmp_path):
    out = tmp_path / "err.cwasm"
    assert cli_run("compile", "--tier", "interp", "--epoch-interruption", RUN_ERR, "-o", out) == (0, "", "")
    # `run` returns err: exit status 1, nothing printed
    assert cli_run("run", "--allow-precompiled", "--tier", "interp", "--timeout", "60", out) == (1, "", "")
    code, _, err = cli_run("run", "--allow-precompiled", "--tier", "interp", out)
    assert (code, err) == (1, f"{out}: error: incompatible artifact: epoch_interruption is True in the "
                              "artifact but False here\n")


def test_the_default_output_is_beside_the_input(tmp_path):
    src = tmp_path / "cmd.wat"
    src.write_bytes(RUN_ERR.read_bytes())
    assert cli_run("compile", "--tier", "interp", src) == (0, "", "")
    assert artifact_kind((tmp_path / "cmd.cwasm").read_bytes()) == "component"


def test_compile_errors_are_one_line_naming_the_file(tmp_path):
    art = tmp_path / "a.cwasm"
    assert cli_run("compile", "--tier", "interp", RUN_ERR, "-o", art)[0] == 0
    assert cli_run("compile", art, "-o", tmp_path / "b.cwasm") == (
        1, "", f"{art}: error: is already a precompiled artifact (`wasmforge compile` output); compile the "
               ".wasm or .wat it was made from\n")
    bad = tmp_path / "bad.wat"
    bad.write_text("(component\n  (core module (func (result i32))) oops)")
    assert cli_run("compile", bad) == (1, "", f"{bad}:2:37: error: unexpected token\n")
    invalid = tmp_path / "invalid.wat"
    invalid.write_text("(component (core module (func (result i32))))")
    code, out, err = cli_run("compile", invalid)
    assert (code, out) == (1, "") and err.startswith(f"{invalid}: error: invalid component: type mismatch")
    cut = tmp_path / "cut.wasm"
    cut.write_bytes(HELLO.read_bytes()[:100])
    assert cli_run("compile", cut) == (1, "", f"{cut}: error: malformed component: unexpected end-of-file "
                                              "(at byte offset 0x64)\n")
    assert not any(p.name in ("bad.cwasm", "invalid.cwasm", "cut.cwasm") for p in tmp_path.iterdir())


def test_an_output_in_a_missing_directory_is_refused_before_compiling(tmp_path, monkeypatch):
    import wasmforge.cli.compile as compile_command
    monkeypatch.setattr(compile_command, "_compile_component", lambda *a: pytest.fail("compiled"))
    out = tmp_path / "missing" / "x.cwasm"
    assert cli_run("compile", RUN_ERR, "-o", out) == (1, "", f"{out}: error: no such directory: {out.parent}\n")


@pytest.fixture(scope="module")
def artifact(tmp_path_factory):
    path = tmp_path_factory.mktemp("art") / "err.cwasm"
    assert cli_run("compile", "--tier", "interp", RUN_ERR, "-o", path)[0] == 0
    return path.read_bytes()


@pytest.mark.parametrize("damage, message", [
    (lambda a: a[:100] + bytes([a[100] ^ 1]) + a[101:], "corrupted or truncated artifact (checksum mismatch)"),
    (lambda a: a[:-40], "corrupted or truncated artifact (checksum mismatch)"),
    (lambda a: a[:10], "truncated artifact"),
])
def test_a_damaged_component_artifact_is_one_line(tmp_path, artifact, damage, message):
    path = tmp_path / "x.cwasm"
    path.write_bytes(damage(artifact))
    assert cli_run("run", "--allow-precompiled", "--tier", "interp", path) == (1, "", f"{path}: error: {message}\n")


def test_a_foreign_component_artifact_is_one_line(tmp_path, artifact):
    pytest.importorskip("llvmlite")
    path = tmp_path / "x.cwasm"
    path.write_bytes(artifact)          # made for the interp tier, loaded on llvm
    code, out, err = cli_run("run", "--allow-precompiled", "--tier", "llvm", path)
    assert (code, out) == (1, "") and err.count("\n") == 1
    assert err.startswith(f"{path}: error: incompatible artifact: tier is 'interp' in the artifact but 'llvm' here")


def test_a_component_artifact_is_not_a_module_and_the_other_way_round(artifact):
    config = wasmforge.Config()
    config.strategy = "interp"
    engine = wasmforge.Engine(config)
    with pytest.raises(wasmforge.WasmtimeError, match="holds a component, not a core module"):
        Module.deserialize(engine, artifact)
    module_artifact = Module(engine, "(module)").serialize()
    assert artifact_kind(module_artifact) == "module" and artifact_kind(b"\0asm\x01\0\0\0") is None
    assert artifact_kind(artifact) == "component" and artifact_kind(artifact[:10]) == "unknown"
    with pytest.raises(wasmforge.WasmtimeError, match="holds a core module, not a component"):
        Component.deserialize(engine, module_artifact)


def test_loading_a_component_artifact_decodes_no_core_module(artifact, monkeypatch):
    # the core modules come decoded from their artifacts: the component's decoder takes them
    import wasmforge.cm.binary as component_binary
    decoded = []
    decode = component_binary.decode_module
    monkeypatch.setattr(component_binary, "decode_module", lambda *a, **k: decoded.append(1) or decode(*a, **k))
    config = wasmforge.Config()
    config.strategy = "interp"
    component = Component.deserialize(wasmforge.Engine(config), artifact)
    assert decoded == [] and len(component._modules) == 1


def interp_engine() -> wasmforge.Engine:
    config = wasmforge.Config()
    config.strategy = "interp"
    return wasmforge.Engine(config)


def test_an_artifact_whose_core_modules_do_not_match_its_component_is_refused(artifact):
    from wasmforge.api import aot
    engine = interp_engine()
    component = Component.deserialize(engine, artifact)
    binary = bytes(component._wasm)
    extra = Module(engine, "(module)")
    # one core module fewer than the binary defines, then one more
    for modules in ([], [(b"\0asm\x01\0\0\0", extra)] * 2):
        forged = aot.serialize_component(engine, binary, modules)
        with pytest.raises(wasmforge.WasmtimeError, match="its core modules do not match the component"):
            Component.deserialize(engine, forged)


def test_inspect_describes_an_artifact_from_its_header(tmp_path, artifact):
    import json
    path = tmp_path / "err.cwasm"
    path.write_bytes(artifact)
    code, out, err = cli_run("inspect", path)
    assert (code, err) == (0, "")
    lines = out.splitlines()
    binary = len(Component.deserialize(interp_engine(), artifact)._wasm)
    assert lines[0] == f"artifact: component (format version 8, {len(artifact)} bytes; its binary {binary} bytes)"
    assert lines[1:3] == ["core modules: 1", "made with (loads only with the same):"]
    assert "  tier               interp" in lines and "  epoch_interruption False" in lines
    code, out, _ = cli_run("inspect", "--json", path)
    info = json.loads(out)
    assert (code, info["artifact"], info["format_version"], info["core_modules"]) == (0, "component", 8, 1)
    assert info["settings"]["tier"] == "interp" and "component_sha256" not in info["settings"]
    wat = tmp_path / "m.wat"
    wat.write_text('(module (func (export "f")))')
    module = tmp_path / "m.cwasm"
    assert cli_run("compile", "--tier", "interp", "--consume-fuel", wat, "-o", module)[0] == 0
    code, out, _ = cli_run("inspect", module)
    assert code == 0 and out.splitlines()[1] == "machine code: none (compiled or translated on use)"
    assert "  consume_fuel       True" in out.splitlines()
    assert cli_run("inspect", "--wit", path) == (1, "", f"{path}: error: --wit: an artifact's WIT is its "
                                                       "component's: inspect the .wasm it was made from\n")
    # damaged: the loader's one line, nothing described
    path.write_bytes(artifact[:-1])
    assert cli_run("inspect", path) == (1, "", f"{path}: error: corrupted or truncated artifact (checksum mismatch)\n")


def test_a_component_artifact_is_checksummed_once(artifact, monkeypatch):
    # its checksum covers the module artifacts inside it: theirs are not computed again
    import hashlib
    import types
    from wasmforge.api import aot
    hashed = []
    monkeypatch.setattr(aot, "hashlib", types.SimpleNamespace(
        sha256=lambda data=b"": hashed.append(len(data)) or hashlib.sha256(data)))
    engine = interp_engine()
    arts = aot.deserialize_component(engine, artifact)[2]
    hashed.clear()
    Component.deserialize(engine, artifact)
    assert hashed.count(len(artifact) - 32) == 1
    assert not {len(a) - 32 for a in arts} & set(hashed)
