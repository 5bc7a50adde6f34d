"""``wasmforge compose ROOT -d DEP -o OUT``: writes a component that validates; bad input is
one line on stderr naming the file (and the import), exit status 1."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from wasmforge.cm.binary import decode_component
from wasmforge.cm.valid import validate_component

FIXTURES = Path(__file__).resolve().parent.parent / "component" / "fixtures" / "compose"


def wasmforge(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "wasmforge", *args], capture_output=True,
                          text=True)


def test_compose_writes_a_valid_component_importing_what_is_left(tmp_path):
    out = tmp_path / "out.wasm"
    r = wasmforge("compose", str(FIXTURES / "app.wasm"), "-d", str(FIXTURES / "greeter.wasm"),
                  "-o", str(out))
    assert r.returncode == 0, r.stderr
    ctype = validate_component(decode_component(out.read_bytes()))
    assert [n for n, _ in ctype.imports] == ["a:b/clock@0.1.0"]
    assert [n for n, _ in ctype.exports] == ["run", "compute"]


def test_compose_accepts_component_text(tmp_path):
    root = tmp_path / "root.wat"
    root.write_text('(component (import "a:b/i" (instance $i (export "f" (func)))) '
                    '(export "out" (instance $i)))')
    dep = tmp_path / "dep.wat"
    dep.write_text('(component (import "a:b/j" (instance $j (export "f" (func)))) '
                   '(export "a:b/i" (instance $j)))')
    out = tmp_path / "out.wasm"
    r = wasmforge("compose", str(root), "-d", str(dep), "-o", str(out))
    assert r.returncode == 0, r.stderr
    ctype = validate_component(decode_component(out.read_bytes()))
    assert [n for n, _ in ctype.imports] == ["a:b/j"]


def test_a_type_mismatch_is_one_line_naming_the_files_and_the_import(tmp_path):
    dep = tmp_path / "dep.wat"
    dep.write_text('(component (import "x" (func $f)) (instance $e (export "greet" (func $f))) '
                   '(export "a:b/greeter@0.1.0" (instance $e)))')
    out = tmp_path / "out.wasm"
    root = str(FIXTURES / "app.wasm")
    r = wasmforge("compose", root, "-d", str(dep), "-o", str(out))
    assert r.returncode == 1
    lines = r.stderr.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"error: {root}: import `a:b/greeter@0.1.0` does not match "
                               f"export `a:b/greeter@0.1.0` of {dep}: ")
    assert "Traceback" not in r.stderr and not out.exists()


def test_a_missing_file_and_a_module_are_refused_in_one_line(tmp_path):
    out = tmp_path / "out.wasm"
    r = wasmforge("compose", str(tmp_path / "nope.wasm"), "-o", str(out))
    assert r.returncode == 1 and r.stderr.count("\n") == 1
    assert r.stderr.startswith(f"{tmp_path / 'nope.wasm'}: error: ")
    module = tmp_path / "m.wat"
    module.write_text("(module)")
    r = wasmforge("compose", str(FIXTURES / "app.wasm"), "-d", str(module), "-o", str(out))
    assert r.returncode == 1 and r.stderr == f"{module}: error: not a component\n"


def test_semver_wires_a_compatible_version(tmp_path):
    root = tmp_path / "root.wat"
    root.write_text('(component (import "a:b/i@0.1.0" (instance $i (export "f" (func)))) '
                    '(export "out" (instance $i)))')
    dep = tmp_path / "dep.wat"
    dep.write_text('(component (import "a:b/j" (instance $j (export "f" (func)))) '
                   '(export "a:b/i@0.1.3" (instance $j)))')
    out = tmp_path / "out.wasm"
    for flags, imports in (([], ["a:b/i@0.1.0"]), (["--semver"], ["a:b/j"])):
        r = wasmforge("compose", str(root), "-d", str(dep), *flags, "-o", str(out))
        assert r.returncode == 0, r.stderr
        ctype = validate_component(decode_component(out.read_bytes()))
        assert [n for n, _ in ctype.imports] == imports
