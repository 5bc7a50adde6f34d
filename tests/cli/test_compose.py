"""``wasmforge compose ROOT -d DEP -o OUT``: writes a component that validates; bad input is
one line on stderr naming the file (and the import), exit status 1."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from wasmforge.cm.binary import decode_component
from wasmforge.cm.text import parse_component
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


def test_a_dependency_missing_a_function_is_one_line_naming_it(tmp_path):
    """greeter.wasm's interface without its `add`: the root's import cannot be wired."""
    dep = tmp_path / "dep.wat"
    dep.write_text('(component (import "x" (func $f (param "name" string) (result string))) '
                   '(instance $e (export "greet" (func $f))) '
                   '(export "a:b/greeter@0.1.0" (instance $e)))')
    out = tmp_path / "out.wasm"
    root = str(FIXTURES / "app.wasm")
    r = wasmforge("compose", root, "-d", str(dep), "-o", str(out))
    assert r.returncode == 1
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    assert r.stderr.startswith(f"error: {root}: import `a:b/greeter@0.1.0` does not match "
                               f"export `a:b/greeter@0.1.0` of {dep}: ")
    assert "missing expected export `add`" in r.stderr
    assert not out.exists()


KV = FIXTURES.parent / "compose_kv"


def test_no_imports_refuses_an_instance_left_to_the_host_in_one_line(tmp_path):
    """As `wasm-tools compose --no-imports`: consumer.wasm's demo:kv/host has no supplier."""
    out = tmp_path / "out.wasm"
    root = str(KV / "consumer.wasm")
    r = wasmforge("compose", root, "-d", str(KV / "provider.wasm"), "--no-imports", "-o", str(out))
    assert r.returncode == 1 and not out.exists()
    assert r.stderr == (f"error: {root}: no dependency supplies `demo:kv/host@0.1.0`, and "
                        "--no-imports allows no instance import\n")


def test_no_imports_accepts_a_composition_with_every_instance_wired(tmp_path):
    root = tmp_path / "root.wat"
    root.write_text('(component (import "a:b/i" (instance $i (export "f" (func)))) '
                    '(export "out" (instance $i)))')
    dep = tmp_path / "dep.wat"
    dep.write_text('(component (instance $e) (export "a:b/i" (instance $e)))')
    out = tmp_path / "out.wasm"
    r = wasmforge("compose", str(root), "-d", str(dep), "--no-imports", "-o", str(out))
    # wired, so no import is left, but dep lacks `f`: the type check still speaks first
    assert r.returncode == 1 and "missing expected export `f`" in r.stderr
    dep.write_text('(component (import "x" (func $f)) (instance $e (export "f" (func $f))) '
                   '(export "a:b/i" (instance $e)))')
    r = wasmforge("compose", str(root), "-d", str(dep), "--no-imports", "-o", str(out))
    # x is a function import, not an instance: allowed, as in wasm-tools
    assert r.returncode == 0, r.stderr
    assert [n for n, _ in validate_component(decode_component(out.read_bytes())).imports] == ["x"]


def test_wat_writes_the_composition_as_text(tmp_path):
    binary = tmp_path / "out.wasm"
    args = ["compose", str(KV / "consumer.wasm"), "-d", str(KV / "provider.wasm")]
    assert wasmforge(*args, "-o", str(binary)).returncode == 0
    r = wasmforge(*args, "-t")
    assert r.returncode == 0 and r.stdout.startswith("(component")
    text = tmp_path / "out.wat"
    assert wasmforge(*args, "-t", "-o", str(text)).returncode == 0
    assert text.read_text() == r.stdout
    from_text = validate_component(parse_component(r.stdout))
    from_binary = validate_component(decode_component(binary.read_bytes()))
    assert (from_text.imports, from_text.exports) == (from_binary.imports, from_binary.exports)


def test_the_binary_format_needs_an_output_file(tmp_path):
    r = wasmforge("compose", str(KV / "consumer.wasm"), "-d", str(KV / "provider.wasm"))
    assert r.returncode == 1
    assert r.stderr == "error: the binary format needs -o OUT (or -t for text on standard output)\n"


def test_skip_validation_writes_the_same_composition(tmp_path):
    outs = []
    for flags in ([], ["--skip-validation"]):
        out = tmp_path / f"out{len(outs)}.wasm"
        r = wasmforge("compose", str(KV / "consumer.wasm"), "-d", str(KV / "provider.wasm"),
                      *flags, "-o", str(out))
        assert r.returncode == 0, r.stderr
        outs.append(out.read_bytes())
    assert outs[0] == outs[1]
