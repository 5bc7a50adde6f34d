"""Encoding: ``decode_module(encode_module(m)) == m`` and the encoder's choices."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from binary.binhelpers import HEADER, TYPE_VOID, module, name, section, vec
from support import BENCH
from wasmforge.binary import decode_module, encode_expr, encode_instr, encode_module
from wasmforge.module import (ACTIVE, DECLARATIVE, PASSIVE, Custom, Data, Elem, Func, Global, Module,
                              Names)
from wasmforge.opcodes import OPS, op
from wasmforge.types import FuncType, GlobalType

END = (op("end"),)
CORPUS = sorted((BENCH / "wasm").glob("*.wasm")) if (BENCH / "wasm").is_dir() else []

# Immediates for every immediate kind of the opcode table (multi-byte values where possible).
IMMEDIATES = {
    "-": (), "blocktype": None, "labelidx": (5,), "br_table": ((1, 200, 3), 0), "funcidx": (300,),
    "call_indirect": (2, 1), "localidx": (1,), "globalidx": (70000,), "tableidx": (2,),
    "memidx": (0,), "memarg": None, "memarg_lane": None, "laneidx": (1,), "i32": (-123456,),
    "i64": (-(1 << 63),), "f32": (0x7FA00001,), "f64": (0x7FF4000000000001,),
    "v128": ((1 << 128) - 12345,), "shuffle": (tuple(range(15, -1, -1)),), "heaptype": ("externref",),
    "valtypes": (("v128",),), "dataidx": (1,), "elemidx": (2,), "memory.init": (1, 0),
    "memory.copy": (0, 0), "table.init": (2, 1), "table.copy": (1, 2), "typeidx": (300,), "tagidx": (300,),
    "zero": (),
    "typeidx_field": (300, 2), "typeidx_n": (3, 70000), "typeidx_data": (3, 1), "typeidx_elem": (3, 2),
    "typeidx_pair": (3, 300), "br_on_cast": (5, "anyref", "(ref 3)"),
}
BLOCK_TYPES = [(None,), ("f64",), (3,)]


def instr_for(o, i: int) -> tuple:
    if o.imm == "blocktype":
        return (o, *BLOCK_TYPES[i % 3])
    if o.imm == "memarg":
        return (o, o.align, 1000 + i)
    if o.imm == "memarg_lane":
        return (o, o.align, 16, o.lanes - 1)
    if o.imm == "castref":      # GC ref.test/ref.cast: the opcode says whether nullable
        return (o, "(ref null 300)" if o.code & 1 else "(ref i31)")
    if o.imm == "try_table":
        return (o, *BLOCK_TYPES[i % 3], ((0, 1, 0), (1, 300, 2), (2, None, 1), (3, None, 0)))
    return (o, *IMMEDIATES[o.imm])


def every_op_body() -> list:
    """Each instruction of the table once, with blocks closed, `else` inside an `if`, and
    the legacy `catch`/`catch_all`/`delegate` arms of exception handling inside a `try`."""
    body = []
    for i, o in enumerate(OPS):
        if o.name in ("end", "else", "catch", "catch_all", "delegate"):
            continue
        body.append(instr_for(o, i))
        if o.name == "if":
            body.append((op("else"),))
        if o.name == "try":
            body += [(op("catch"), 7), (op("catch_all"),), END, (o, None), (op("delegate"), 3)]
        elif o.imm == "blocktype" or o.imm == "try_table":
            body.append(END)
    body.append(END)
    return body


def roundtrip(m: Module) -> Module:
    return decode_module(encode_module(m), lazy=False)


def test_every_instruction_round_trips():
    m = Module(types=[FuncType()], funcs=[Func(0, ["i32", "v128"], every_op_body())],
               datas=[Data(b"a"), Data(b"b")], data_count=2)
    assert roundtrip(m) == m


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.name)
def test_corpus_round_trips(path):
    m = decode_module(path.read_bytes())
    data = encode_module(m)
    assert decode_module(data) == m
    assert encode_module(decode_module(data)) == data


def test_corpus_is_present():
    assert CORPUS, f"benchmark corpus absent: {BENCH / 'wasm'}"


def test_encode_instr():
    assert encode_instr((op("i32.const"), -1)) == b"\x41\x7f"
    assert encode_instr((op("i32.const"), 0xFFFFFFFF)) == b"\x41\x7f"     # unsigned spelling
    assert encode_instr((op("f32.const"), 0x3F800000)) == b"\x43\x00\x00\x80\x3f"
    assert encode_instr((op("memory.grow"), 0)) == b"\x40\x00"
    assert encode_instr((op("i32x4.extract_lane"), 3)) == b"\xfd\x1b\x03"


def test_encode_expr():
    assert encode_expr([(op("local.get"), 0), (op("block"), None), END, END]) == b"\x20\x00\x02\x40\x0b\x0b"


OFFSET = [(op("i32.const"), 0), END]


def ref_func(x):
    return [(op("ref.func"), x), END]


@pytest.mark.parametrize("elem, kind", [
    (Elem("funcref", [ref_func(1)], ACTIVE, 0, OFFSET), 0),
    (Elem("funcref", [ref_func(1)], PASSIVE), 1),
    (Elem("funcref", [ref_func(1)], ACTIVE, 1, OFFSET), 2),
    (Elem("funcref", [ref_func(1)], DECLARATIVE), 3),
    (Elem("funcref", [[(op("ref.null"), "funcref"), END]], ACTIVE, 0, OFFSET), 4),
    (Elem("externref", [[(op("ref.null"), "externref"), END]], PASSIVE), 5),
    (Elem("externref", [], ACTIVE, 0, OFFSET), 6),
    (Elem("funcref", [[(op("global.get"), 0), END]], DECLARATIVE), 7),
])
def test_element_segments_use_the_most_compact_encoding(elem, kind):
    m = Module(elems=[elem])
    data = encode_module(m)
    assert data[8] == 9 and data[11] == kind      # element section, one segment, its kind
    assert roundtrip(m) == m


def test_data_segments_round_trip():
    m = Module(datas=[Data(b"xy", ACTIVE, 0, OFFSET), Data(b"", PASSIVE), Data(b"z", ACTIVE, 1, OFFSET)],
               data_count=3)
    assert roundtrip(m) == m
    assert roundtrip(m).data_count == 3


@pytest.mark.parametrize("instr", [(op("data.drop"), 0), (op("memory.init"), 0, 0),
                                   (op("array.new_data"), 0, 0), (op("array.init_data"), 0, 0)],
                         ids=lambda i: i[0].name)
def test_data_count_added_when_code_uses_data_indexes(instr):
    # spec 5.5.16: every instruction with a data index needs the section (GC's too).
    m = Module(types=[FuncType()], funcs=[Func(0, [], [instr, END])], datas=[Data(b"")])
    assert roundtrip(m).data_count == 1


def test_no_data_count_when_not_needed():
    m = Module(datas=[Data(b"")])
    assert roundtrip(m).data_count is None


def test_names_round_trip():
    names = Names(module="m", funcs={0: "f"}, locals={0: {0: "a", 1: "b"}}, types={0: "t"},
                  tables={0: "tab"}, memories={0: "mem"}, globals={0: "g"}, elems={0: "e"}, datas={0: "d"})
    m = Module(types=[FuncType()], funcs=[Func(0, ["i32"], [END])], names=names)
    assert roundtrip(m).names == names


def test_custom_sections_go_back_in_place():
    m = Module(types=[FuncType()], globals=[Global(GlobalType("i32"), [(op("i32.const"), 1), END])],
               customs=[Custom("first", b"1", 0), Custom("after-type", b"2", 1),
                        Custom("after-global", b"3", 6), Custom("last", b"4", 11)])
    assert roundtrip(m) == m


def test_custom_section_after_an_empty_section_keeps_it():
    data = module(section(1, vec()), section(0, name("c") + b"!"))
    m = decode_module(data)
    assert m.customs == [Custom("c", b"!", 1)]
    assert encode_module(m) == data


def test_empty_module_encodes_to_header():
    assert encode_module(Module()) == HEADER


def test_start_function_zero_is_encoded():
    m = decode_module(module(TYPE_VOID, section(3, vec(b"\x00")), section(8, b"\x00"),
                             section(10, vec(b"\x02\x00\x0b"))))
    assert roundtrip(m).start == 0


def test_lazily_decoded_module_encodes_identically():
    data = CORPUS[0].read_bytes()
    assert encode_module(decode_module(data, lazy=True)) == encode_module(decode_module(data, lazy=False))


# ----- property: any instruction sequence survives encode -> decode -----

U32 = st.integers(0, (1 << 32) - 1)
VALTYPE = st.sampled_from(["i32", "i64", "f32", "f64", "v128", "funcref", "externref", "exnref"])
IMMEDIATE_STRATEGIES = {
    "-": st.just(()), "labelidx": st.tuples(U32), "funcidx": st.tuples(U32), "localidx": st.tuples(U32),
    "globalidx": st.tuples(U32), "tableidx": st.tuples(U32), "dataidx": st.tuples(U32),
    "elemidx": st.tuples(U32), "call_indirect": st.tuples(U32, U32), "table.init": st.tuples(U32, U32),
    "table.copy": st.tuples(U32, U32), "memidx": st.just((0,)), "memory.init": st.tuples(U32, st.just(0)),
    "memory.copy": st.just((0, 0)), "br_table": st.tuples(st.lists(U32, max_size=5).map(tuple), U32),
    "memarg": st.tuples(st.integers(0, 31), U32), "laneidx": st.tuples(st.integers(0, 255)),
    "memarg_lane": st.tuples(st.integers(0, 31), U32, st.integers(0, 255)),
    "i32": st.tuples(st.integers(-(1 << 31), (1 << 31) - 1)),
    "i64": st.tuples(st.integers(-(1 << 63), (1 << 63) - 1)),
    "f32": st.tuples(U32), "f64": st.tuples(st.integers(0, (1 << 64) - 1)),
    "v128": st.tuples(st.integers(0, (1 << 128) - 1)),
    "shuffle": st.tuples(st.lists(st.integers(0, 31), min_size=16, max_size=16).map(tuple)),
    "heaptype": st.tuples(st.sampled_from(["funcref", "externref", "exnref"])),
    "tagidx": st.tuples(U32),
    "valtypes": st.tuples(st.lists(VALTYPE, max_size=3).map(tuple)),
}
# (end, else and the legacy catch/catch_all/delegate arms are structure, not flat instructions.)
FLAT_OPS = [o for o in OPS if o.imm in IMMEDIATE_STRATEGIES
            and o.name not in ("end", "else", "catch", "catch_all", "delegate")]
INSTR = st.sampled_from(FLAT_OPS).flatmap(
    lambda o: IMMEDIATE_STRATEGIES[o.imm].map(lambda imm: (o, *imm)))


@settings(max_examples=150, deadline=None)
@given(st.lists(INSTR, max_size=30))
def test_any_flat_instruction_sequence_round_trips(body):
    m = Module(types=[FuncType()], funcs=[Func(0, [], body + [END])], data_count=0)
    assert roundtrip(m) == m
