"""`wasmforge print` streams: the text is written in pieces, a lazily decoded module's bodies
are decoded one at a time for it and not kept, and a malformed body found while printing is
a one-line error."""

from __future__ import annotations

from click.testing import CliRunner

from binary.binhelpers import TYPE_VOID, code_entry, module, section, u32, vec
from wasmforge.binary import LAZY_THRESHOLD
from wasmforge.binary.decode import decode_module
from wasmforge.cli import cli
from wasmforge.text.parser import parse_module
from wasmforge.text.printer import print_module, write_module

WAT = """(module
  (memory 1)
  (func $f (export "f") (param $a i32) (result i32)
    block (result i32)
      local.get $a
      if (result i32)
        i32.const 1
      else
        local.get $a
        i32.const 7
        i32.add
      end
    end)
  (func $g nop)
  (data (i32.const 8) "hi"))
"""


def test_write_module_in_small_pieces_is_print_module():
    m = parse_module(WAT)
    pieces = []
    write_module(m, pieces.append, lines=2)
    assert len(pieces) > 3
    assert "".join(pieces) == print_module(m)


def test_printing_a_lazy_module_keeps_no_decoded_body():
    from wasmforge.binary.encode import encode_module
    m = decode_module(encode_module(parse_module(WAT)), lazy=True)
    text = []
    write_module(m, text.append)
    assert parse_module("".join(text)) == parse_module(WAT)
    assert all(f._body is None for f in m.funcs)


def _big_malformed_module() -> bytes:
    """A code section over LAZY_THRESHOLD (one br_table with many labels, so it decodes
    quickly) whose body then has an illegal opcode."""
    n = LAZY_THRESHOLD // 4 + 1
    body = b"\x41\x00\x0e" + u32(n) + b"\x80\x80\x80\x00" * n + b"\x00" + b"\x27\x0b"    # 0x27: unassigned
    return module(TYPE_VOID, section(3, vec(b"\x00")), section(10, vec(code_entry(body))))


def test_print_reports_a_malformed_lazy_body_in_one_line(tmp_path):
    path = tmp_path / "bad.wasm"
    path.write_bytes(_big_malformed_module())
    result = CliRunner().invoke(cli, ["print", str(path), "-o", str(tmp_path / "bad.wat")])
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "illegal opcode 27" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
