"""Extended constant expressions (the extended-const proposal of WebAssembly 3.0): validation
with the spec's messages, the text and binary formats, evaluation on both tiers, and what
``wasmforge inspect`` reports.

componentize-py's libpython module has ``i32.add`` in a global initialiser; before this every
such module failed validation with "constant expression required"."""

import json

import pytest
from click.testing import CliRunner

from support import tier_params
from wasmforge.binary import decode_module as decode, encode_module as encode
from wasmforge.cli.inspect import command as inspect_command
from wasmforge.errors import ValidationError
from wasmforge.features import ALL
from wasmforge.module import ACTIVE, Data, Elem, Global, Import, Memory, Module, Table
from wasmforge.opcodes import op
from wasmforge import Config, Engine, Global as ApiGlobal, Instance, Module as ApiModule, Store
from wasmforge.api.handles import wat2wasm
from wasmforge.text.parser import parse_module
from wasmforge.text.printer import print_module
from wasmforge.types import GlobalType, Limits, MemoryType, TableType
from wasmforge.valid import validate

TIERS = tier_params()


def i(name, *imm):
    return (op(name), *imm)


END = i("end")


def gmod(*init, content="i32", imports=(), globals_before=()):
    """A module whose last global (of type ``content``) has initialiser ``init`` + end."""
    return Module(imports=list(imports),
                  globals=[*globals_before, Global(GlobalType(content, False), [*init, END])])


def invalid(module, prefix, **kw):
    with pytest.raises(ValidationError) as exc:
        validate(module, **kw)
    assert exc.value.reason.startswith(prefix), exc.value.reason


IMPORTED_I32 = Import("m", "g", "global", GlobalType("i32", False))
IMPORTED_MUT = Import("m", "g", "global", GlobalType("i32", True))


# ----- validation -----

@pytest.mark.parametrize("name,t", [("i32.add", "i32"), ("i32.sub", "i32"), ("i32.mul", "i32"),
                                    ("i64.add", "i64"), ("i64.sub", "i64"), ("i64.mul", "i64")])
def test_extended_const_arithmetic_is_constant(name, t):
    validate(gmod(i(f"{t}.const", 6), i(f"{t}.const", 7), i(name), content=t))


def test_arithmetic_on_imported_global_is_constant():
    validate(gmod(i("global.get", 0), i("i32.const", 42), i("i32.add"), imports=[IMPORTED_I32]))


@pytest.mark.parametrize("name", ["i32.div_s", "i32.and", "i32.shl", "i64.div_u", "f32.add", "i32.eqz"])
def test_other_numeric_instructions_are_not_constant(name):
    t = name[:3]
    invalid(gmod(i(f"{t}.const", 1), i(f"{t}.const", 1), i(name), content=t),
            "constant expression required")


def test_arithmetic_operand_type_mismatch():
    invalid(gmod(i("i32.const", 1), i("i64.const", 1), i("i32.add")), "type mismatch")


def test_arithmetic_operand_missing():
    invalid(gmod(i("i32.const", 1), i("i32.add")), "type mismatch")


def test_arithmetic_result_of_wrong_type():
    invalid(gmod(i("i64.const", 1), i("i64.const", 1), i("i64.add")), "type mismatch")


def test_values_left_over():
    invalid(gmod(i("i32.const", 1), i("i32.const", 1), i("i32.const", 1), i("i32.add")), "type mismatch")


def test_global_get_of_mutable_import_is_not_constant():
    invalid(gmod(i("global.get", 0), i("i32.const", 1), i("i32.add"), imports=[IMPORTED_MUT]),
            "constant expression required")


def test_global_get_of_defined_global_is_unknown():
    # The proposal's own scripts (extended-const/global.wast, data.wast, elem.wast) keep the
    # 2.0 context C': only imported globals -- unless GC is on, which lets an initialiser
    # read the globals defined before it.
    module = gmod(i("global.get", 0), i("i32.const", 1), i("i32.add"),
                  globals_before=[Global(GlobalType("i32", False), [i("i32.const", 0), END])])
    invalid(module, "unknown global", features=ALL - {"gc"})
    validate(module, features=ALL)


def test_extended_const_in_segment_offsets():
    m = Module(mems=[Memory(MemoryType(Limits(1)))], tables=[Table(TableType("funcref", Limits(4)))],
               datas=[Data(b"x", ACTIVE, 0, [i("i32.const", 2), i("i32.const", 3), i("i32.mul"), END])],
               elems=[Elem("funcref", [], ACTIVE, 0, [i("i32.const", 2), i("i32.const", 1), i("i32.sub"), END])])
    validate(m)
    m.datas[0].offset = [i("i32.const", 2), i("i32.const", 3), i("i32.div_u"), END]
    invalid(m, "constant expression required")


# ----- formats -----

WAT = """(module
  (import "m" "g" (global $g i32))
  (memory 1)
  (table 8 funcref)
  (global $a i32 (i32.add (global.get $g) (i32.const 40)))
  (global $b i64 (i64.mul (i64.sub (i64.const 10) (i64.const 3)) (i64.const -6)))
  (global $c i32 (i32.mul (i32.const 0x10000) (i32.const 0x10000)))
  (data (i32.sub (global.get $g) (i32.const 1)) "hi")
  (elem (offset (i32.add (i32.const 1) (global.get $g))) func $f)
  (func $f (result i32) (i32.const 7))
  (func (export "a") (result i32) (global.get $a))
  (func (export "b") (result i64) (global.get $b))
  (func (export "c") (result i32) (global.get $c))
  (func (export "load") (param i32) (result i32) (i32.load16_u (local.get 0)))
  (func (export "call") (param i32) (result i32) (call_indirect (result i32) (local.get 0))))
"""


def test_text_binary_and_print_round_trip():
    module = parse_module(WAT)
    validate(module)
    binary = encode(module)
    again = decode(binary)
    assert again.globals[0].init == module.globals[0].init
    assert again.datas[0].offset == module.datas[0].offset
    assert again.elems[0].offset == module.elems[0].offset
    printed = print_module(again)
    assert "i32.add" in printed and "i64.mul" in printed
    assert encode(parse_module(printed)) == binary


# ----- evaluation, both tiers -----

@pytest.mark.parametrize("tier", TIERS)
def test_evaluation(tier, tmp_path, monkeypatch):
    monkeypatch.setenv("WASMFORGE_CACHE_DIR", str(tmp_path))
    config = Config()
    config.strategy = tier
    engine = Engine(config)
    store = Store(engine)
    g = ApiGlobal(store, GlobalType("i32", False), 5)
    inst = Instance(store, ApiModule(engine, WAT), [g])
    ex = inst.exports(store)
    assert ex["a"](store) == 45
    assert ex["b"](store) == -42
    assert ex["c"](store) == 0                       # wraps modulo 2^32
    assert ex["load"](store, 4) == int.from_bytes(b"hi", "little")
    assert ex["call"](store, 6) == 7


# ----- inspect -----

def test_inspect_lists_the_feature(tmp_path):
    path = tmp_path / "m.wasm"
    path.write_bytes(wat2wasm(WAT))
    result = CliRunner().invoke(inspect_command, [str(path), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["features"] == ["extended-const"]
    text = CliRunner().invoke(inspect_command, [str(path)]).output
    assert "features: extended-const" in text
    plain = tmp_path / "p.wasm"
    plain.write_bytes(wat2wasm("(module (global i32 (i32.const 1)))"))
    assert json.loads(CliRunner().invoke(inspect_command, [str(plain), "--json"]).output)["features"] == []
