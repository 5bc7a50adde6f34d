"""The format subcommands: parse, print, validate, inspect — exit codes and one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from wasmforge.cli import cli
from wasmforge.binary.decode import decode_module
from wasmforge.text.parser import parse_module

ADD_WAT = """(module $demo
  (memory 1 2)
  (func $add (export "add") (param $a i32) (param $b i32) (result i32)
    local.get $a
    local.get $b
    i32.add)
  (data (i32.const 8) "hi"))
"""


def run(*args):
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def wat_file(tmp_path):
    path = tmp_path / "add.wat"
    path.write_text(ADD_WAT)
    return path


def test_parse_writes_a_binary_that_decodes_to_the_same_module(wat_file, tmp_path):
    out = tmp_path / "add.wasm"
    code, _, _ = run("parse", str(wat_file), "-o", str(out))
    assert code == 0
    assert decode_module(out.read_bytes()) == parse_module(ADD_WAT)


def test_print_shows_names_from_the_name_section(wat_file, tmp_path):
    out = tmp_path / "add.wasm"
    run("parse", str(wat_file), "-o", str(out))
    code, text, _ = run("print", str(out))
    assert code == 0
    assert "$add" in text and "i32.add" in text
    assert parse_module(text) == parse_module(ADD_WAT)


def test_validate_reports_each_file(wat_file):
    code, out, _ = run("validate", str(wat_file))
    assert code == 0
    assert f"{wat_file}: valid" in out


def test_validate_invalid_module_exits_1_with_one_line(tmp_path):
    bad = tmp_path / "bad.wat"
    bad.write_text('(module (func (result i32) (i64.const 1)))')
    code, _, err = run("validate", str(bad))
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"{bad}: error: invalid module: type mismatch")


def test_parse_error_names_file_line_and_column(tmp_path):
    bad = tmp_path / "syntax.wat"
    bad.write_text('(module\n  (func (i32.foo)))')
    code, _, err = run("parse", str(bad), "-o", str(tmp_path / "x.wasm"))
    assert code == 1
    assert err.startswith(f"{bad}:2:")
    assert "unknown operator" in err


def test_malformed_binary_names_the_byte_offset(tmp_path):
    bad = tmp_path / "bad.wasm"
    bad.write_bytes(b"\0asm\x01\0\0\0\x01\x05\x01")     # type section cut short
    code, _, err = run("validate", str(bad))
    assert code == 1
    assert "malformed module" in err and "byte offset 0x" in err
    assert len(err.strip().splitlines()) == 1


def test_missing_file_is_a_one_line_error(tmp_path):
    code, _, err = run("print", str(tmp_path / "nope.wasm"))
    assert code == 1
    assert "nope.wasm: error:" in err and "Traceback" not in err


def test_inspect_json_lists_sections_exports_and_limits(wat_file, tmp_path):
    out = tmp_path / "add.wasm"
    run("parse", str(wat_file), "-o", str(out))
    code, text, _ = run("inspect", "--json", str(out))
    assert code == 0
    info = json.loads(text)
    names = [s["name"] for s in info["sections"]]
    assert names[:3] == ["type", "function", "memory"]
    assert "custom:name" in names
    assert info["exports"] == [{"name": "add", "kind": "func", "index": 0}]
    assert info["memories"] == [{"min": 1, "max": 2}]
    assert info["counts"]["functions"] == 1 and info["counts"]["data"] == 1
    assert info["module_name"] == "demo"


def test_inspect_table_is_readable(wat_file):
    code, text, _ = run("inspect", str(wat_file))
    assert code == 0
    assert "exports:" in text and "add" in text and "min 1, max 2" in text


def test_usage_error_exits_2_without_traceback():
    proc = subprocess.run([sys.executable, "-m", "wasmforge.cli", "validate"], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr


COMPONENT_WAT = """(component
  (core module $m (memory (export "mem") 1)
    (func (export "f") (param i32 i32) (result i32) i32.const 0)
    (func (export "realloc") (param i32 i32 i32 i32) (result i32) i32.const 8))
  (core instance $i (instantiate $m))
  (func (export "f") (param "x" string) (result u32)
    (canon lift (core func $i "f") (memory (core memory $i "mem")) (realloc (core func $i "realloc")))))
"""


def test_print_wit_shows_a_components_world_from_text_or_binary(tmp_path):
    src = tmp_path / "c.wat"
    src.write_text(COMPONENT_WAT)
    binary = tmp_path / "c.wasm"
    assert run("parse", str(src), "-o", str(binary))[0] == 0
    want = "package root:component;\n\nworld root {\n  export f: func(x: string) -> u32;\n}\n"
    for path in (src, binary):
        code, text, _ = run("print", "--wit", str(path))
        assert (code, text) == (0, want)
    assert run("wit", str(binary))[1] == want            # the same as the wit command's


def test_print_wit_of_a_core_module_is_a_one_line_error(wat_file):
    code, _, err = run("print", "--wit", str(wat_file))
    assert code == 1
    assert err.strip() == f"{wat_file}: error: --wit needs a component: a core module has no WIT"


def test_validate_progress_bar_moves_by_thousandths(monkeypatch):
    # The validator reports every function body; the bar is only moved by a thousandth of
    # the total at least, and to the end, and a new total (decoding, then validating)
    # starts a new bar.
    import tqdm
    from wasmforge.cli.validate import ProgressBar

    bars = []

    class Bar:
        def __init__(self, total, **_):
            self.total, self.n, self.updates = total, 0, 0
            bars.append(self)

        def update(self, k):
            self.n += k
            self.updates += 1

        def close(self):
            pass

    monkeypatch.setattr(tqdm, "tqdm", Bar)
    progress = ProgressBar("m.wasm")
    progress(500, 1000)                 # decoding: bytes
    for done in range(1, 100_001):      # validating: 100,000 bodies
        progress(done, 100_000)
    progress.close()
    assert [b.total for b in bars] == [1000, 100_000]
    assert bars[1].n == 100_000
    assert 990 <= bars[1].updates <= 1001
