"""`wasmforge serve` from a `wasmforge compile` artifact (.cwasm): only with
`--allow-precompiled` (or the app's `allow_precompiled = true`), as `wasmforge run`; the
start-up log says what each app was loaded from; a damaged artifact or a core module's is one
line naming the file; an artifact app reloads like a .wasm one."""

from __future__ import annotations

import logging
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from wasmforge.cli import cli
from wasmforge.serve import ProxyApp, Reloader, ServeError, make_app, read_manifest

from .test_ops import TINY, call, replace, request, spec, start, stop, version, wasmforge_cmd

OPT_IN = ("is a precompiled artifact (native code, loaded unverified); allow it if you trust it "
          "(--allow-precompiled, or allow_precompiled = true in the app's manifest table)")


def compile_(src: Path, out: Path, *options: str) -> Path:
    r = CliRunner().invoke(cli, ["compile", "--tier", "interp", *options, str(src), "-o", str(out)],
                           catch_exceptions=False)
    assert (r.exit_code, r.stderr) == (0, "")
    return out


def serve_fails(*args: str) -> str:
    cmd, env = wasmforge_cmd("serve", "--addr", "127.0.0.1:0", *args)
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 1 and r.stderr.count("\n") == 1, r.stderr
    return r.stderr


def test_compile_then_serve_answers_and_logs_the_artifact(tmp_path):
    art = compile_(TINY, tmp_path / "tiny.cwasm")
    proc, port = start(str(art), "--tier", "interp", "--allow-precompiled")
    try:
        assert proc.stderr.readline() == (f"app 'tiny' on /: {art} (interp tier, a precompiled artifact: "
                                          "nothing compiled)\n")
        assert request(port, "GET", "/from/cwasm?q=1") == (200, b"tiny-v1 /from/cwasm?q=1")
    finally:
        stop(proc)


def test_the_start_up_log_names_a_binary_app_too():
    proc, port = start(str(TINY), "--tier", "interp")
    try:
        assert proc.stderr.readline() == f"app 'tiny' on /: {TINY} (interp tier, compiled on first use)\n"
    finally:
        stop(proc)


def test_an_artifact_is_not_served_without_the_opt_in(tmp_path):
    # whatever the file is called: an artifact named like a component
    art = compile_(TINY, tmp_path / "innocent.wasm")
    assert serve_fails(str(art), "--tier", "interp") == f"{art}: error: {OPT_IN}\n"
    with pytest.raises(ServeError, match="is a precompiled artifact"):
        ProxyApp(art)
    manifest = tmp_path / "apps.toml"
    manifest.write_text('[apps.a]\nsource = "innocent.wasm"\nroute = "/"\ntier = "interp"\n')
    assert serve_fails("--config", str(manifest)) == f"{art}: error: {OPT_IN}\n"
    manifest.write_text('[apps.a]\nsource = "innocent.wasm"\nroute = "/"\ntier = "interp"\nallow_precompiled = true\n')
    app = make_app(read_manifest(manifest).apps[0])
    try:
        assert call(app, "GET", "/a")[2] == b"tiny-v1 /a"
    finally:
        app.close()


def test_the_opt_in_is_per_app_with_a_manifest(tmp_path):
    manifest = tmp_path / "apps.toml"
    manifest.write_text('[apps.a]\nsource = "a.cwasm"\nroute = "/"\nallow_precompiled = "yes"\n')
    cmd, env = wasmforge_cmd("serve", "--config", str(manifest))
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert (r.returncode, r.stderr) == (1, f"{manifest}:4: error: [apps.a] key 'allow_precompiled': must be true "
                                           "or false, not str 'yes'\n")
    r = subprocess.run(cmd + ["--allow-precompiled"], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "--allow-precompiled sets one app's limit" in r.stderr


def test_a_damaged_foreign_or_module_artifact_is_one_line(tmp_path):
    art = compile_(TINY, tmp_path / "tiny.cwasm").read_bytes()
    flipped = tmp_path / "flipped.cwasm"
    flipped.write_bytes(art[:2000] + bytes([art[2000] ^ 0x10]) + art[2001:])
    assert serve_fails(str(flipped), "--tier", "interp", "--allow-precompiled") == \
        f"{flipped}: error: corrupted or truncated artifact (checksum mismatch)\n"
    # too short to have a header: what is wrong with it, not a guess at its kind
    cut = tmp_path / "cut.cwasm"
    cut.write_bytes(art[:10])
    assert serve_fails(str(cut), "--tier", "interp", "--allow-precompiled") == f"{cut}: error: truncated artifact\n"
    # made without the epochs a --timeout needs
    assert serve_fails(str(tmp_path / "tiny.cwasm"), "--tier", "interp", "--allow-precompiled", "--timeout", "5") \
        == (f"{tmp_path / 'tiny.cwasm'}: error: incompatible artifact: epoch_interruption is False in the "
            "artifact but True here\n")
    module = tmp_path / "module.wat"
    module.write_text("(module (func (export \"f\")))")
    core = compile_(module, tmp_path / "module.cwasm")
    assert serve_fails(str(core), "--tier", "interp", "--allow-precompiled") == (
        f"{core}: error: is a core module's artifact, not a component's (a wasi:http/proxy component compiled "
        "with `wasmforge compile` is served)\n")


def test_an_artifact_app_is_reloaded_when_its_file_changes(tmp_path, caplog):
    path = compile_(version(tmp_path, "v1.wasm", b"tiny-v1"), tmp_path / "app.cwasm")
    v2 = compile_(version(tmp_path, "v2.wasm", b"tiny-v2"), tmp_path / "v2.cwasm").read_bytes()
    app = make_app(spec("app", "/", source=path, allow_precompiled=True))
    try:
        reloader = Reloader([app])
        assert call(app, "GET", "/x")[2] == b"tiny-v1 /x"
        replace(path, v2)
        assert reloader.poll() == [app]
        assert call(app, "GET", "/x")[2] == b"tiny-v2 /x"
        assert app.origin == "interp tier, a precompiled artifact: nothing compiled"
        # a damaged artifact is not swapped in: the version loaded before keeps serving
        replace(path, v2[:-1])
        with caplog.at_level(logging.ERROR, logger="wasmforge.serve"):
            assert reloader.poll() == []
        assert "corrupted or truncated artifact" in caplog.text
        assert call(app, "GET", "/x")[2] == b"tiny-v2 /x"
    finally:
        app.close()
