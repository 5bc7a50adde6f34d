"""``wasmforge validate`` and ``inspect`` on component binaries: one-line errors, exit codes,
and the imports and exports with their types."""

import json

import pytest
from click.testing import CliRunner

from wasmforge.cli import cli
from wasmforge.cm import ast
from wasmforge.cm.binary import encode_component


def run(*args):
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def _component() -> bytes:
    return encode_component(ast.Component([
        # An instance type's index space starts empty: its function type is declared inside.
        ast.InstanceTypeDef([ast.FuncTypeDef([("msg", "string")], None),
                             ast.ExportDecl(ast.ExternName("log"), ast.ExternDesc(ast.FUNC, 0))]),
        ast.Import(ast.ExternName("host"), ast.ExternDesc(ast.INSTANCE, 0)),
        ast.RecordDef([("x", "u32"), ("y", "u32")]),
        ast.Export(ast.ExternName("point"), ast.SortIdx(ast.TYPE, 1)),
    ]))


@pytest.fixture
def component_file(tmp_path):
    path = tmp_path / "c.wasm"
    path.write_bytes(_component())
    return path


def test_validate_accepts_a_component(component_file):
    code, out, _ = run("validate", str(component_file))
    assert code == 0
    assert out.strip() == f"{component_file}: valid component"


def test_validate_reports_a_malformed_component_in_one_line(tmp_path):
    path = tmp_path / "bad.wasm"
    path.write_bytes(b"\x00asm\x0d\x00\x01\x00\x07\x02\x01\x62")
    code, _, err = run("validate", str(path))
    assert code == 1
    assert err.strip() == (f"{path}: error: malformed component: invalid leading byte (0x62) "
                           "for component defined type (at byte offset 0xb)")


def test_validate_reports_an_invalid_component_in_one_line(tmp_path):
    path = tmp_path / "inv.wasm"
    path.write_bytes(encode_component(ast.Component([ast.TupleDef([])])))
    code, _, err = run("validate", str(path))
    assert code == 1
    assert err.count("\n") == 1
    assert "invalid component: tuple type must have at least one type (at offset 0xb)" in err


def test_inspect_shows_imports_and_exports_with_their_types(component_file):
    code, out, _ = run("inspect", str(component_file))
    assert code == 0
    assert '  host: (instance (export "log" (func (param "msg" string))))' in out.splitlines()
    assert '  point: (type (record (field "x" u32) (field "y" u32)))' in out.splitlines()


def test_inspect_json(component_file):
    code, out, _ = run("inspect", "--json", str(component_file))
    assert code == 0
    info = json.loads(out)
    assert info["kind"] == "component"
    assert [e["name"] for e in info["imports"]] == ["host"]
    assert info["exports"] == [{"name": "point", "kind": "type",
                                "type": '(type (record (field "x" u32) (field "y" u32)))'}]
    assert info["definitions"]["instance"] == 1


def test_inspect_of_a_malformed_component_is_one_line(tmp_path):
    path = tmp_path / "bad.wasm"
    path.write_bytes(b"\x00asm\x0d\x00\x01\x00\x0d\x00")
    code, _, err = run("inspect", str(path))
    assert code == 1
    assert err.strip() == f"{path}: error: malformed component: malformed section id (at byte offset 0x8)"
