"""The WAT parser: module fields, abbreviations, identifiers, instructions, errors."""

import pytest

from wasmforge.errors import ParseError
from wasmforge.module import ACTIVE, DECLARATIVE, PASSIVE, Custom, Export, Import
from wasmforge.opcodes import BY_NAME, END, SELECT, SELECT_T
from wasmforge.text import parse_module
from wasmforge.types import FuncType, GlobalType, Limits, MemoryType, TableType

O = BY_NAME  # noqa: E741  (the opcode table, short as in the tiers)


def body(wat):
    """The body of the module's only function, without its final ``end``."""
    m = parse_module(wat)
    assert m.funcs[-1].body[-1] == (END,)
    return m.funcs[-1].body[:-1]


def fails(wat, message, **kwargs):
    with pytest.raises(ParseError) as info:
        parse_module(wat, **kwargs)
    assert info.value.reason.startswith(message), info.value.reason
    return info.value


# ----- module shells -----

def test_empty_module_forms():
    assert parse_module("(module)") == parse_module("") == parse_module("(;c;) ;; x\n")


def test_module_name_is_recorded():
    assert parse_module("(module $m)").names.module == "m"


def test_bare_fields_form_a_module():
    assert parse_module("(func) (memory 1)") == parse_module("(module (func) (memory 1))")


def test_trailing_tokens_after_module_are_rejected():
    fails("(module) (func)", "unexpected token")


def test_unknown_field_is_rejected():
    fails("(module (funk))", "unknown operator")
    fails("(module (local i32))", "unexpected token")


# ----- types and type uses (spec 6.6.2) -----

def test_explicit_types_keep_their_order_and_names():
    m = parse_module("(type $a (func (param i32) (result i64))) (type $b (func))")
    assert m.types == [FuncType(["i32"], ["i64"]), FuncType()]
    assert m.names.types == {0: "a", 1: "b"}


def test_type_definition_params_may_be_named_and_split():
    m = parse_module("(type (func (param $x i32) (param) (param f32 f64) (result) (result i32 i64)))")
    assert m.types == [FuncType(["i32", "f32", "f64"], ["i32", "i64"])]


def test_inline_type_use_reuses_an_identical_explicit_type_defined_later():
    m = parse_module("(func (param i32)) (type (func)) (type (func (param i32)))")
    assert m.funcs[0].typeidx == 1
    assert len(m.types) == 2


def test_inline_type_uses_append_types_in_order_of_appearance():
    m = parse_module("""(type (func))
        (func (param i64))
        (func (result f32) (call_indirect (param i32) (i32.const 0)) (unreachable))
        (func (param i64))""")
    assert m.types == [FuncType(), FuncType(["i64"]), FuncType([], ["f32"]), FuncType(["i32"])]
    assert [f.typeidx for f in m.funcs] == [1, 2, 1]


def test_func_without_type_use_gets_the_empty_type():
    m = parse_module("(func)")
    assert m.types == [FuncType()] and m.funcs[0].typeidx == 0


def test_type_use_with_matching_inline_signature():
    m = parse_module("(type $t (func (param i32))) (func (type $t) (param $x i32) (local.get $x))")
    assert m.funcs[0].typeidx == 0
    assert m.names.locals == {0: {0: "x"}}


def test_type_use_with_mismatching_inline_signature():
    fails("(type $t (func (param i32))) (func (type $t) (param i64))", "inline function type")


def test_type_use_of_unknown_type_with_inline_signature():
    fails("(func (type 3) (param i32))", "unknown type")


def test_numeric_unknown_type_alone_is_left_to_the_validator():
    assert parse_module("(func (type 42))").funcs[0].typeidx == 42


def test_symbolic_unknown_type_is_rejected():
    fails("(func (type $nope))", "unknown type")


def test_locals_after_explicit_type_are_numbered_after_its_params():
    m = parse_module("(type (func (param i32 i32))) (func (type 0) (local $l i64) (local.get $l))")
    assert m.funcs[0].body[0] == (O["local.get"], 2)
    assert m.names.locals == {0: {2: "l"}}


def test_param_after_result_is_a_syntax_error():
    fails("(func (result i32) (param i32) (unreachable))", "unexpected token")


# ----- imports and exports -----

def test_import_descriptions():
    m = parse_module("""
        (import "m" "f" (func $f (param i32)))
        (import "m" "t" (table $t 1 2 funcref))
        (import "m" "mem" (memory $mem 1))
        (import "m" "g" (global $g (mut i64)))""")
    assert m.imports == [
        Import("m", "f", "func", 0),
        Import("m", "t", "table", TableType("funcref", Limits(1, 2))),
        Import("m", "mem", "memory", MemoryType(Limits(1, None))),
        Import("m", "g", "global", GlobalType("i64", True))]
    assert (m.names.funcs, m.names.tables, m.names.memories, m.names.globals) == (
        {0: "f"}, {0: "t"}, {0: "mem"}, {0: "g"})


def test_inline_import_and_exports_expand_like_the_spec_abbreviation():
    inline = parse_module('(func $f (export "a") (export "b") (import "m" "n") (param i32))')
    explicit = parse_module('(import "m" "n" (func $f (param i32))) (export "a" (func $f)) '
                            '(export "b" (func $f))')
    assert inline == explicit


def test_inline_exports_of_every_kind():
    m = parse_module('(func (export "f")) (table (export "t") 0 funcref) '
                     '(memory (export "m") 0) (global (export "g") i32 (i32.const 0))')
    assert m.exports == [Export("f", "func", 0), Export("t", "table", 0),
                         Export("m", "memory", 0), Export("g", "global", 0)]


def test_imports_are_numbered_before_definitions():
    m = parse_module('(import "a" "b" (func)) (func $g) (func (call $g))')
    assert m.funcs[1].body[0] == (O["call"], 1)


def test_import_after_definition_is_rejected():
    fails('(memory 0) (import "" "" (func))', "import after memory")
    fails('(func) (global (import "" "") i32)', "import after function")


def test_names_must_be_utf8():
    fails(r'(func (export "\ff"))', "malformed UTF-8 encoding")
    fails(r'(import "\c0\80" "x" (func))', "malformed UTF-8 encoding")


def test_export_name_may_use_escapes():
    assert parse_module(r'(func (export "\u{263a}\41"))').exports[0].name == "\u263aA"


# ----- tables, memories, globals, segments -----

def test_table_with_inline_elements():
    m = parse_module("(func $f) (table $t funcref (elem $f 0))")
    assert m.tables[0].type == TableType("funcref", Limits(2, 2))
    e, = m.elems
    assert (e.mode, e.table, e.type, e.offset) == (ACTIVE, 0, "funcref", [(O["i32.const"], 0), (END,)])
    assert e.init == [[(O["ref.func"], 0), (END,)], [(O["ref.func"], 0), (END,)]]


def test_table_with_inline_element_expressions():
    m = parse_module("(table externref (elem (ref.null extern) (item ref.null extern)))")
    assert m.elems[0].init == [[(O["ref.null"], "externref"), (END,)]] * 2


def test_memory_with_inline_data_has_just_enough_pages():
    m = parse_module('(memory (data "ab" "c"))')
    assert m.mems[0].type == MemoryType(Limits(1, 1))
    assert m.datas[0].init == b"abc" and m.datas[0].mode == ACTIVE
    assert parse_module('(memory (data))').mems[0].type == MemoryType(Limits(0, 0))


def test_limits_are_u32_in_2_0():
    assert parse_module("(memory 0xffff_ffff)").mems[0].type.limits.min == 0xFFFFFFFF
    fails("(memory 0x1_0000_0000)", "i32 constant out of range", features=frozenset())
    fails("(table 0 0x1_0000_0000 funcref)", "i32 constant out of range", features=frozenset())


def test_limits_are_u64_with_memory64():
    # Validation bounds them (a 32-bit memory to 65536 pages); 64-bit ones say i64.
    assert parse_module("(memory 0x1_0000_0000)").mems[0].type.limits.min == 1 << 32
    m = parse_module("(memory i64 1 0x1_0000_0000_0000) (table i64 0 funcref)")
    assert m.mems[0].type == MemoryType(Limits(1, 1 << 48), is_64=True)
    assert m.tables[0].type.is_64
    fails("(memory i64 0x1_0000_0000_0000_0000)", "i64 constant out of range")


def test_global_forms():
    m = parse_module("(global $g (mut f32) (f32.const 1)) (global i64 i64.const 2 i64.const 3 i64.add)")
    assert m.globals[0].type == GlobalType("f32", True)
    assert m.globals[0].init == [(O["f32.const"], 0x3F800000), (END,)]
    assert [i[0].name for i in m.globals[1].init] == ["i64.const", "i64.const", "i64.add", "end"]


def test_elem_segment_forms():
    m = parse_module("""(table $t 1 funcref) (func $f)
        (elem $a (i32.const 0) $f 0)
        (elem (table $t) (offset (i32.const 1)) func $f)
        (elem funcref (ref.func $f) (item (ref.null func)))
        (elem declare func $f)
        (elem (i32.const 2) externref (ref.null extern))""")
    a, b, c, d, e = m.elems
    ref_f = [(O["ref.func"], 0), (END,)]
    assert (a.mode, a.init, a.type) == (ACTIVE, [ref_f, ref_f], "funcref")
    assert (b.mode, b.table, b.offset, b.init) == (ACTIVE, 0, [(O["i32.const"], 1), (END,)], [ref_f])
    assert (c.mode, c.init) == (PASSIVE, [ref_f, [(O["ref.null"], "funcref"), (END,)]])
    assert (d.mode, d.init) == (DECLARATIVE, [ref_f])
    assert (e.type, e.offset[0]) == ("externref", (O["i32.const"], 2))
    assert m.names.elems == {0: "a"}


def test_data_segment_forms():
    m = parse_module("""(memory $m 1)
        (data $d (i32.const 8) "a" "b")
        (data (memory $m) (offset (i32.const 1)) "\\01")
        (data "passive")""")
    a, b, c = m.datas
    assert (a.mode, a.init, a.offset) == (ACTIVE, b"ab", [(O["i32.const"], 8), (END,)])
    assert (b.memory, b.init) == (0, b"\x01")
    assert (c.mode, c.init) == (PASSIVE, b"passive")
    assert m.names.datas == {0: "d"}


def test_start():
    assert parse_module("(func $main) (start $main)").start == 0
    fails("(func) (start 0) (start 0)", "multiple start sections")


# ----- identifiers -----

def test_every_index_space_records_names():
    m = parse_module("""(module $mod (type $t (func)) (func $f (param $p i32) (local $l i32))
        (table $tab 0 funcref) (memory $mem 0) (global $g i32 (i32.const 0))
        (elem $e func) (data $d ""))""")
    n = m.names
    assert (n.module, n.types, n.funcs, n.tables, n.memories, n.globals, n.elems, n.datas) == (
        "mod", {0: "t"}, {0: "f"}, {0: "tab"}, {0: "mem"}, {0: "g"}, {0: "e"}, {0: "d"})
    assert n.locals == {0: {0: "p", 1: "l"}}


@pytest.mark.parametrize("wat,message", [
    ("(func $f) (func $f)", "duplicate func"),
    ("(global $g i32 (i32.const 0)) (import \"\" \"\" (global $g i32))", "import after global"),
    ("(memory $m 1) (memory $m 1)", "duplicate memory"),
    ("(func (param $x i32) (local $x i32))", "duplicate local"),
    ("(type $t (func)) (type $t (func))", "duplicate type"),
])
def test_duplicate_identifiers(wat, message):
    fails(wat, message)


@pytest.mark.parametrize("wat,message", [
    ("(func (call $nope))", "unknown function"),
    ("(func (local.get $nope))", "unknown local"),
    ("(func (global.get $nope))", "unknown global"),
    ("(func (table.size $nope))", "unknown table"),
    ("(func (data.drop $nope))", "unknown data segment"),
    ("(func (elem.drop $nope))", "unknown elem segment"),
    ("(func (br $nope))", "unknown label"),
    ("(export \"m\" (memory $nope))", "unknown memory"),
])
def test_unknown_identifiers(wat, message):
    fails(wat, message)


def test_numeric_indices_are_not_checked():
    assert body("(func (call 99) (br 7) (local.get 5))") == [
        (O["call"], 99), (O["br"], 7), (O["local.get"], 5)]


def test_forward_references_to_functions():
    m = parse_module("(func (call $later)) (func $later)")
    assert m.funcs[0].body[0] == (O["call"], 1)


# ----- instructions -----

def test_folded_and_flat_instructions_unfold_identically():
    folded = body("(func (result i32) (i32.add (i32.const 1) (i32.mul (i32.const 2) (i32.const 3))))")
    flat = body("(func (result i32) i32.const 1 i32.const 2 i32.const 3 i32.mul i32.add)")
    assert folded == flat


def test_labels_resolve_by_depth():
    assert body("(func (block $a (loop $b (br $a) (br $b) (br 0))))") == [
        (O["block"], None), (O["loop"], None), (O["br"], 1), (O["br"], 0), (O["br"], 0),
        (END,), (END,)]


def test_function_body_is_the_outermost_label():
    assert body("(func (block (br 1)))")[1] == (O["br"], 1)


def test_shadowed_labels_refer_to_the_innermost():
    assert body("(func block $l block $l br $l end end)")[2] == (O["br"], 0)


def test_end_labels_must_match():
    assert body("(func block $l end $l)") == [(O["block"], None), (END,)]
    fails("(func block $l end $m)", "mismatching label")
    fails("(func block end $l)", "mismatching label")
    fails("(func if $a else $b end)", "mismatching label")


def test_folded_if_with_condition_then_and_else():
    assert body("(func (if (result i32) (i32.const 1) (then (i32.const 2)) (else (i32.const 3))) drop)") == [
        (O["i32.const"], 1), (O["if"], "i32"), (O["i32.const"], 2), (O["else"],),
        (O["i32.const"], 3), (END,), (O["drop"],)]


def test_folded_if_without_else():
    assert body("(func (if (i32.const 1) (then nop)))") == [
        (O["i32.const"], 1), (O["if"], None), (O["nop"],), (END,)]


def test_label_of_folded_if_does_not_scope_its_condition():
    assert body("(func (block $out (if $in (br_if $out (i32.const 0) (i32.const 1)) (then (br $in)))))") == [
        (O["block"], None), (O["i32.const"], 0), (O["i32.const"], 1), (O["br_if"], 0),
        (O["if"], None), (O["br"], 0), (END,), (END,)]


def test_block_types():
    m = parse_module("""(type $t (func (param i32) (result i32)))
        (func (block) (block (result i64) unreachable) (block (type $t) unreachable)
              (block (param i32) (result i32) unreachable) (block (result i32 i32) unreachable))""")
    bts = [i[1] for i in m.funcs[0].body if i[0] is O["block"]]
    assert bts == [None, "i64", 0, 0, 2]
    assert m.types[1:] == [FuncType(), FuncType([], ["i32", "i32"])]   # the func's, then the block's


def test_block_type_use_with_inline_mismatch():
    fails("(type (func)) (func (block (type 0) (result i32)))", "inline function type")


def test_select_with_and_without_types():
    assert body("(func (select (i32.const 1) (i32.const 2) (i32.const 0)) drop)")[3] == (SELECT,)
    assert body("(func select (result i32) drop)")[0] == (SELECT_T, ("i32",))
    assert body("(func select (result) (result i64 f32))")[0] == (SELECT_T, ("i64", "f32"))


def test_call_indirect_forms():
    m = parse_module("""(type $t (func)) (table $tab 0 funcref) (table $u 0 funcref)
        (func (call_indirect (type $t) (i32.const 0))
              (call_indirect $u (param i32) (i32.const 0) (i32.const 0))
              (call_indirect 1 (type 0) (i32.const 0)))""")
    calls = [i for i in m.funcs[0].body if i[0] is O["call_indirect"]]
    assert calls == [(O["call_indirect"], 0, 0), (O["call_indirect"], 1, 1), (O["call_indirect"], 0, 1)]
    assert m.types[1] == FuncType(["i32"])


def test_br_table():
    assert body("(func (block (block (br_table 0 1 0 (i32.const 0)))))")[3] == (
        O["br_table"], (0, 1), 0)


def test_memarg_defaults_and_explicit():
    assert body("(func (i64.load (i32.const 0)) drop)")[1] == (O["i64.load"], 3, 0)
    assert body("(func (i32.load16_u offset=0x10 align=1 (i32.const 0)) drop)")[1] == (
        O["i32.load16_u"], 0, 16)


def test_memarg_errors():
    fails("(memory 1) (func (i32.load align=3 (i32.const 0)) drop)", "alignment must be a power of two")
    fails("(memory 1) (func (i32.load offset=4294967296 (i32.const 0)) drop)", "i32 constant",
          features=frozenset())


def test_memarg_memory_index_and_abbreviations():
    # multi-memory: a memory index before the memarg, absent for memory 0; memory64: an i64
    # memory's (data ...) abbreviation puts its segment at i64.const 0.
    m = parse_module("(memory 1) (memory $m i64 (data \"ab\")) "
                     "(func (i32.load $m offset=4294967296 (i64.const 0)) (i32.load 0 (i32.const 0)) "
                     "(v128.load8_lane $m 1 (i64.const 0) (v128.const i64x2 0 0)) "
                     "(v128.load8_lane 1 (i32.const 0) (v128.const i64x2 0 0)) drop drop drop drop)")
    b = m.funcs[0].body
    assert b[1] == (O["i32.load"], 2, 1 << 32, 1)
    assert b[3] == (O["i32.load"], 2, 0)
    assert b[6] == (O["v128.load8_lane"], 0, 0, 1, 1)
    assert b[9] == (O["v128.load8_lane"], 0, 0, 1)
    assert m.mems[1].type == MemoryType(Limits(1, 1), is_64=True)
    assert m.datas[0].memory == 1 and m.datas[0].offset[0] == (O["i64.const"], 0)
    fails("(memory 1) (func (i32.load align=4 offset=0 (i32.const 0)) drop)", "unexpected token")


def test_constants_are_normalised():
    assert body("(func i32.const 0xffffffff i64.const -1 f32.const -0x1p-1 f64.const nan:0x1 "
                "drop drop drop drop)")[:4] == [
        (O["i32.const"], -1), (O["i64.const"], -1), (O["f32.const"], 0xBF000000),
        (O["f64.const"], 0x7FF0000000000001)]


@pytest.mark.parametrize("instr", [
    "i32.const 4294967296", "i64.const 18446744073709551616", "f32.const 1e39",
    "f64.const nan:0x0", "i32.const 1.5", "f32.const nan:0x800000"])
def test_constant_out_of_range(instr):
    fails(f"(func {instr} drop)", "constant out of range")


def test_v128_const_shapes():
    one = body("(func (v128.const i32x4 1 0 0 0x80000000) drop)")[0]
    assert one == (O["v128.const"], 1 | (0x80000000 << 96))
    assert body("(func (v128.const i8x16 -1 0 0 0 0 0 0 0 0 0 0 0 0 0 0 255) drop)")[0][1] == 0xFF | (0xFF << 120)
    assert body("(func (v128.const f32x4 1 0 0 0) drop)")[0][1] == 0x3F800000
    assert body("(func (v128.const f64x2 0 -0) drop)")[0][1] == 1 << 127
    assert body("(func (v128.const i64x2 -1 0) drop)")[0][1] == (1 << 64) - 1
    assert body("(func (v128.const i16x8 0 0 0 0 0 0 0 -32768) drop)")[0][1] == 0x8000 << 112


def test_v128_const_errors():
    fails("(func (v128.const i32x4 1 2 3) drop)", "wrong number of lane literals")
    fails("(func (v128.const i8x16 256 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0) drop)", "constant out of range")
    fails("(func (v128.const 1 2 3 4) drop)", "unexpected token")


def test_shuffle_and_lane_indices():
    lanes = " ".join(str(i) for i in range(16))
    assert body(f"(func (i8x16.shuffle {lanes} (v128.const i64x2 0 0) (v128.const i64x2 0 0)) drop)")[2] == (
        O["i8x16.shuffle"], tuple(range(16)))
    assert body("(func (i32x4.extract_lane 3 (v128.const i64x2 0 0)) drop)")[1] == (O["i32x4.extract_lane"], 3)
    assert body("(func (v128.load8_lane offset=2 1 (i32.const 0) (v128.const i64x2 0 0)) drop)")[2] == (
        O["v128.load8_lane"], 0, 2, 1)


def test_lane_index_errors():
    fails("(func (i8x16.extract_lane_s 256 (v128.const i64x2 0 0)) drop)", "malformed lane index")
    fails("(func (i8x16.extract_lane_s -1 (v128.const i64x2 0 0)) drop)", "unexpected token")
    fails("(func (i8x16.shuffle 0 1 (v128.const i64x2 0 0) (v128.const i64x2 0 0)) drop)", "invalid lane length")


def test_reference_instructions():
    assert body("(func $f (ref.null func) (ref.null extern) (ref.func $f) drop drop drop)")[:3] == [
        (O["ref.null"], "funcref"), (O["ref.null"], "externref"), (O["ref.func"], 0)]


def test_bulk_memory_and_table_immediates():
    m = parse_module("""(table $t 1 funcref) (table $u 1 funcref) (memory 1) (elem $e func) (data $d "")
        (func (memory.init $d (i32.const 0) (i32.const 0) (i32.const 0))
              (data.drop $d) (memory.copy (i32.const 0) (i32.const 0) (i32.const 0))
              (memory.fill (i32.const 0) (i32.const 0) (i32.const 0))
              (table.init $u $e (i32.const 0) (i32.const 0) (i32.const 0))
              (table.init $e (i32.const 0) (i32.const 0) (i32.const 0))
              (table.copy $u $t (i32.const 0) (i32.const 0) (i32.const 0))
              (table.copy (i32.const 0) (i32.const 0) (i32.const 0))
              (elem.drop $e) (drop (table.size $u)) (drop (memory.size)))""")
    ops = [i for i in m.funcs[0].body if i[0].name not in ("i32.const", "drop", "end")]
    assert ops == [
        (O["memory.init"], 0, 0), (O["data.drop"], 0), (O["memory.copy"], 0, 0),
        (O["memory.fill"], 0), (O["table.init"], 0, 1), (O["table.init"], 0, 0),
        (O["table.copy"], 1, 0), (O["table.copy"], 0, 0), (O["elem.drop"], 0),
        (O["table.size"], 1), (O["memory.size"], 0)]


def test_instruction_outside_its_place():
    fails("(func (i32.add i32.const 1))", "unexpected token")
    fails("(func end)", "unexpected token")
    fails("(func block)", "unexpected token")
    fails("(func (if (i32.const 0)))", "unexpected token")


def test_old_instruction_names_are_unknown_operators():
    fails("(func (get_local 0))", "unknown operator get_local")


def test_deep_nesting_does_not_overflow_the_python_stack():
    n = 20000
    code = body("(func " + "(block " * n + ")" * n + ")")
    assert len(code) == 2 * n
    folded = body("(func (result i32) " + "(i32.eqz " * n + "(i32.const 0)" + ")" * n + ")")
    assert len(folded) == n + 1


def test_unclosed_nesting_is_a_parse_error():
    fails("(func " + "(block " * 5000, "unexpected token")


# ----- @custom annotations (annotations proposal) -----

def test_custom_annotation_becomes_a_custom_section():
    m = parse_module('(module (@custom "hello" "wor" "ld") (func))')
    assert m.customs == [Custom("hello", b"world", 11)]


@pytest.mark.parametrize("place,after", [
    ("(before first)", 0), ("(after last)", 11), ("(after func)", 3), ("(before code)", 12),
    ("(after type)", 1), ("(before data)", 10), ("(before type)", 0)])
def test_custom_annotation_placement(place, after):
    m = parse_module(f'(module (@custom "c" {place} "x"))')
    assert m.customs == [Custom("c", b"x", after)]


def test_other_annotations_are_ignored():
    assert parse_module('(module (@name "x") (func (@a b) nop))') == parse_module("(module (func nop))")


# ----- positions -----

def test_errors_point_at_the_offending_token():
    err = fails("(module\n  (func\n    (i32.const 1)\n    bogus))", "unknown operator bogus")
    assert (err.line, err.column) == (4, 5)


def test_syntax_errors_are_reported_before_resolution_errors():
    # The reference interpreter resolves identifiers after reading the whole module.
    fails("(func (call $nope)) (func i32.const0)", "unknown operator")
    fails("(func (br $nope)) (func (i32.add 1))", "unexpected token")


def test_first_resolution_error_wins():
    err = fails("(func (call $a) (call $b))", "unknown function $a")
    assert err.column == 13


def test_wat2wasm_encodes_what_the_decoder_reads_back():
    decode = pytest.importorskip("wasmforge.binary.decode").decode_module
    from wasmforge.text import wat2wasm
    wat = '(module $m (func $f (export "f") (param $x i32) (result i32) (local.get $x)))'
    wasm = wat2wasm(wat)
    assert wasm[:8] == b"\0asm\1\0\0\0"
    assert decode(wasm) == parse_module(wat)


def test_constant_errors_wait_for_syntax_errors():
    fails("(func (i32.const 0x1_0000_0000) (i32.add 1))", "unexpected token")
    fails("(func (call 0x1_0000_0000) (i32.add 1))", "unexpected token")
