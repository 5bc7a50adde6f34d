"""The WIT of compiled components (``component_wit``), against ``wasm-tools component wit``
(text) and ``--json``, compared exactly (not in a normal form): components built by
``wasm-tools component embed --dummy`` + ``component new`` from the worlds of wasm-tools' ui
tests, the compose fixtures, the componentize-py fixture and the compiled components of the
component scripts."""

from __future__ import annotations

import json
import lzma
import subprocess
from pathlib import Path
from typing import Any, List, Optional, Tuple

import pytest
from click.testing import CliRunner

from component.cmscripts import SYNC_FOLDERS, binaries, scripts
from component.wit import oracle
from component.wit.test_ui import UI
from wasmforge.cli import cli
from wasmforge.cm.wit import component_wit, parse_path, print_wit, to_json
from wasmforge.errors import DecodeError, WitError

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "compose"
GREETER = Path(__file__).resolve().parents[2] / "fixtures" / "componentize_py" / "greeter.wasm.xz"

#: ui inputs whose worlds, made into components, exercise every kind of type: resources and
#: their functions, handles across interfaces, maps, fixed-length lists, nested and foreign
#: packages, feature gates, shared anonymous types, world-level types and functions.
UI_CASES = ("resources.wit", "maps.wit", "shared-types.wit", "world-top-level-resources.wit",
            "foreign-deps", "foreign-deps-union", "feature-gates.wit",
            "since-and-unstable.wit", "world-diamond.wit", "packages-multiple-nested.wit",
            "import-export-overlap2.wit", "same-name-import-export.wit", "world-top-level-funcs.wit",
            "worlds-with-types.wit", "with-resource-as.wit", "diamond1", "multi-package-shared-deps",
            "union-fuzz-1.wit", "world-implicit-import3.wit")


def _oracle(path: Path) -> Tuple[Optional[str], Optional[Any], str]:
    """(the oracle's text, its JSON; None for both when it refuses; its stderr)."""
    tool = oracle.require()
    text = subprocess.run([tool, "component", "wit", str(path)], capture_output=True, text=True, timeout=120)
    js = subprocess.run([tool, "component", "wit", "--json", str(path)], capture_output=True, text=True,
                        timeout=120)
    if text.returncode != 0:
        return None, None, text.stderr
    return text.stdout, json.loads(js.stdout), ""


def _agree(path: Path) -> None:
    text, want, err = _oracle(path)
    assert want is not None, err
    resolve = component_wit(path.read_bytes())
    assert to_json(resolve) == want
    assert print_wit(resolve, with_deps=True) == text


def _worlds(name: str) -> List[str]:
    want, _ = oracle.wit_json(UI / name)
    if want is None:
        return []
    out = []
    for p in want["packages"]:
        base, _, version = p["name"].partition("@")
        out += [f"{base}/{w}" + (f"@{version}" if version else "") for w in p["worlds"]]
    return out


def _build(src: Path, world: str, where: Path) -> Optional[Path]:
    core, comp = where / "core.wasm", where / "component.wasm"
    made = oracle.run("component", "embed", "--dummy", "--all-features", str(src), "--world", world,
                      "-o", str(core))
    if made.returncode != 0:
        return None
    made = oracle.run("component", "new", str(core), "-o", str(comp))
    assert made.returncode == 0, made.stderr
    return comp


@pytest.mark.parametrize("name", UI_CASES)
def test_components_of_ui_worlds_give_the_oracles_wit(name, tmp_path):
    worlds = _worlds(name)
    assert worlds, f"the oracle reads no world from {name}"
    built = 0
    for i, world in enumerate(worlds):
        where = tmp_path / str(i)
        where.mkdir()
        comp = _build(UI / name, world, where)
        if comp is None:
            continue   # a world wasm-tools cannot make a component of
        _agree(comp)
        built += 1
    assert built, f"no world of {name} could be made into a component"


@pytest.mark.parametrize("name", ["app.wasm", "greeter.wasm", "wasm-tools-composed.wasm"])
def test_compose_fixtures(name):
    _agree(FIXTURES / name)


def test_componentize_py_component(tmp_path):
    """A real toolchain's output: componentize-py's many core modules, an inline exported
    interface, a world function."""
    path = tmp_path / "greeter.wasm"
    path.write_bytes(lzma.decompress(GREETER.read_bytes()))
    _agree(path)


#: Script components where we differ from the oracle (script, line): why, each.
KNOWN = {
    # the oracle (1.262.0) refuses the binary: a newer rule for a byte the script still uses
    ("component-model/binary/binary.wast", 974): "oracle refuses",
    # the oracle panics (unreachable code in its decoder)
    ("component-model/validation/extern-names.wast", 8): "oracle panics",
    # the oracle's validator refuses `a-1` beside `a1`; ours accepts them, and so gives a WIT
    ("component-model/validation/kebab.wast", 4): "oracle refuses",
    # `[implements=...]` on a plain-named function / nested labels: our world differs
    ("component-model/validation/attributes.wast", 30): "differs",
    ("component-model/validation/external-visibility.wast", 580): "differs",
    # core modules with GC instructions (0xfb) that our decoder does not read yet
    ("wasmtime-misc/component-model/alias-region-known-imported-entities.wast", 13): "decode",
    ("wasmtime-misc/component-model/alias-region-multiple-instantiations.wast", 15): "decode",
    ("wasmtime-misc/component-model/alias-region-reexported-ambiguous-entities.wast", 15): "decode",
    ("wasmtime-misc/component-model/alias-region-reexported-known-entities.wast", 14): "decode",
}


def _script_cases() -> List[str]:
    return [s for s in scripts() if s.split("/")[0] == "wasmtime-misc" or s.split("/")[1] in SYNC_FOLDERS]


@pytest.mark.parametrize("script", _script_cases())
def test_compiled_components_of_the_scripts(script, tmp_path):
    """Every component a script defines: where the oracle derives a WIT we give the same,
    where it refuses we refuse (a WitError, or a DecodeError for a binary we cannot read)."""
    bins = binaries(script)
    if bins is None:
        pytest.skip("ORACLE ABSENT or the script does not convert")
    for b in bins:
        if not b.is_component or b.kind not in ("module", "module_definition"):
            continue
        if (script, b.line) in KNOWN:
            continue
        path = tmp_path / f"{b.line}.wasm"
        path.write_bytes(b.data)
        text, want, err = _oracle(path)
        if want is None:
            with pytest.raises((WitError, DecodeError)):
                component_wit(b.data)
            continue
        resolve = component_wit(b.data)
        assert to_json(resolve) == want, f"line {b.line}"
        assert print_wit(resolve, with_deps=True) == text, f"line {b.line}"


def test_an_empty_component_and_a_core_module_import_give_an_empty_world(tmp_path):
    empty = b"\x00asm\x0d\x00\x01\x00"
    assert print_wit(component_wit(empty)) == "package root:component;\n\nworld root {\n}\n"
    made = oracle.run("parse", "-", input=b'(component (import "m" (core module)))')
    assert made.returncode == 0, made.stderr
    path = tmp_path / "m.wasm"
    path.write_bytes(made.stdout)
    text, _, err = _oracle(path)
    assert text is not None, err
    assert print_wit(component_wit(made.stdout), with_deps=True) == text


def test_a_type_exported_at_the_top_is_refused_as_by_the_oracle(tmp_path):
    made = oracle.run("parse", "-", input=b'(component (type $t u32) (export "t" (type $t)))')
    assert made.returncode == 0, made.stderr
    path = tmp_path / "t.wasm"
    path.write_bytes(made.stdout)
    text, _, err = _oracle(path)
    assert text is None and "was not a function or instance" in err
    with pytest.raises(WitError, match="component export `t` was not a function or instance"):
        component_wit(made.stdout)


def test_wit_command_reads_a_compiled_component():
    path = FIXTURES / "app.wasm"
    text, want, err = _oracle(path)
    assert want is not None, err
    out = CliRunner().invoke(cli, ["wit", str(path)], catch_exceptions=False)
    assert out.exit_code == 0 and out.output == text
    out = CliRunner().invoke(cli, ["wit", "--json", str(path)], catch_exceptions=False)
    assert out.exit_code == 0 and json.loads(out.output) == want


def test_inspect_shows_the_wit():
    path = FIXTURES / "greeter.wasm"
    text, _, err = _oracle(path)
    assert text is not None, err
    out = CliRunner().invoke(cli, ["inspect", "--wit", str(path)], catch_exceptions=False)
    assert out.exit_code == 0
    assert out.output.endswith("wit:\n" + text)
    js = CliRunner().invoke(cli, ["inspect", "--json", "--wit", str(path)], catch_exceptions=False)
    assert json.loads(js.output)["wit"] == text
    plain = CliRunner().invoke(cli, ["inspect", str(path)], catch_exceptions=False)
    assert "wit:" not in plain.output


@pytest.mark.parametrize("source", [
    "package m:n;\ninterface q { type t = u32; f: func(); g: func(); }\n"
    "world w { import z: func(); }\nworld w2 { export z: func(); }\nworld w3 { import q; export q; }\n",
])
def test_printed_text_is_the_oracles(source, tmp_path):
    """The printer's layout is wasm-tools': functions of an interface apart, no blank line
    between worlds, one between a world's imports and exports."""
    path = tmp_path / "x.wit"
    path.write_text(source)
    text, _, err = _oracle(path)
    assert text is not None, err
    assert print_wit(parse_path(str(path)), with_deps=True) == text
