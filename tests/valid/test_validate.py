"""Validation rules, one behaviour per test, on modules built directly from module.py objects."""

import pytest

from wasmforge.errors import ValidationError
from wasmforge.features import ALL
from wasmforge.module import (ACTIVE, DECLARATIVE, Data, Elem, Export, Func, Global, Import, Memory,
                              Module, Table)
from wasmforge.opcodes import SELECT_T, op
from wasmforge.types import FuncType, GlobalType, Limits, MemoryType, TableType
from wasmforge.valid import validate
from wasmforge.valid.validate import _check_module


def i(name, *imm):
    """One instruction: ``i("i32.const", 1)``."""
    return (op(name), *imm)


END = i("end")


def fmod(*body, params=(), results=(), locals=(), **fields):
    """A module with one function of type ``params -> results`` whose body is ``body`` + end."""
    m = Module(types=[FuncType(params, results)], funcs=[Func(0, list(locals), [*body, END])])
    for k, v in fields.items():
        setattr(m, k, v)
    return m


def memmod(*body, **kw):
    """Like fmod, with one memory."""
    return fmod(*body, mems=[Memory(MemoryType(Limits(1)))], **kw)


def invalid(module, prefix, **kw):
    with pytest.raises(ValidationError) as exc:
        validate(module, **kw)
    assert exc.value.reason.startswith(prefix), exc.value.reason
    return exc.value


C0 = i("i32.const", 0)


# ----- operand stack -----

def test_empty_function_is_valid():
    assert validate(fmod()) is None


def test_binary_operator_with_wrong_operand_type():
    invalid(fmod(C0, i("f32.const", 0), i("i32.add"), i("drop")), "type mismatch")


def test_operand_stack_underflow():
    invalid(fmod(C0, i("i32.add"), i("drop")), "type mismatch")


def test_values_left_at_function_end():
    invalid(fmod(C0), "type mismatch")


def test_missing_result_at_function_end():
    invalid(fmod(results=["i32"]), "type mismatch")


def test_operands_do_not_cross_block_boundary():
    invalid(fmod(C0, i("block", None), i("drop"), END, i("drop")), "type mismatch")


def test_unreachable_makes_stack_polymorphic():
    validate(fmod(i("unreachable"), i("i32.add"), results=["i32"]))


def test_polymorphic_stack_still_checks_known_operands():
    # spec A.3 note: (unreachable (i32.const) i64.add) is invalid.
    invalid(fmod(i("unreachable"), C0, i("i64.add"), i("drop")), "type mismatch")


def test_br_makes_rest_of_block_polymorphic():
    validate(fmod(i("block", "i32"), C0, i("br", 0), i("i32.add"), END, results=["i32"]))


def test_value_pushed_on_polymorphic_stack_is_checked():
    invalid(fmod(i("block", "i32"), C0, i("br", 0), i("f32.add"), END, results=["i32"]),
            "type mismatch")


def test_return_makes_stack_polymorphic():
    validate(fmod(i("i64.const", 1), i("return"), i("i32.eqz"), i("drop"), results=["i64"]))


def test_return_checks_result_type():
    invalid(fmod(C0, i("return"), results=["i64"]), "type mismatch")


def test_drop_on_empty_stack():
    invalid(fmod(i("drop")), "type mismatch")


def test_local_tee_keeps_value():
    validate(fmod(C0, i("local.tee", 0), locals=["i32"], results=["i32"]))


def test_local_set_wrong_type():
    invalid(fmod(i("i64.const", 0), i("local.set", 0), locals=["i32"]), "type mismatch")


def test_parameters_are_locals():
    validate(fmod(i("local.get", 0), i("local.get", 1), i("f64.add"),
                  params=["f64", "f64"], results=["f64"]))


# ----- blocks -----

def test_block_with_params_from_type_index():
    m = fmod(C0, C0, i("block", 1), i("i32.add"), END, results=["i32"])
    m.types.append(FuncType(["i32", "i32"], ["i32"]))
    validate(m)


def test_block_params_must_be_on_stack():
    m = fmod(C0, i("block", 1), i("i32.add"), END, results=["i32"])
    m.types.append(FuncType(["i32", "i32"], ["i32"]))
    invalid(m, "type mismatch")


def test_block_type_index_out_of_range():
    invalid(fmod(i("block", 5), END), "unknown type")


def test_loop_label_takes_params():
    m = fmod(C0, i("loop", 1), i("br", 0), END, results=["i32"])
    m.types.append(FuncType(["i32"], ["i32"]))
    validate(m)


def test_branch_to_loop_with_results_but_no_params_takes_nothing():
    validate(fmod(i("loop", "i32"), i("br", 0), END, i("drop")))


def test_if_without_else_needs_matching_params_and_results():
    invalid(fmod(C0, i("if", "i32"), C0, END, i("drop")), "type mismatch")


def test_if_with_else_branches_agree():
    validate(fmod(C0, i("if", "i32"), C0, i("else"), i("i32.const", 1), END, results=["i32"]))


def test_else_branch_wrong_type():
    invalid(fmod(C0, i("if", "i32"), C0, i("else"), i("f32.const", 0), END, results=["i32"]),
            "type mismatch")


def test_if_needs_i32_condition():
    invalid(fmod(i("i64.const", 0), i("if", None), END), "type mismatch")


def test_if_params_restored_in_else():
    m = fmod(C0, C0, i("if", 1), i("i32.eqz"), i("else"), i("i32.popcnt"), END,
             results=["i32"])
    m.types.append(FuncType(["i32"], ["i32"]))
    validate(m)


def test_else_without_if():
    invalid(fmod(i("block", None), i("else"), END), "else without matching if")


def test_body_without_final_end():
    m = Module(types=[FuncType()], funcs=[Func(0, [], [i("nop")])])
    invalid(m, "unexpected end of function body")


def test_instructions_after_final_end():
    m = Module(types=[FuncType()], funcs=[Func(0, [], [END, i("nop")])])
    invalid(m, "operators remaining after end of function")


def test_deep_nesting_uses_no_recursion():
    depth = 100_000
    body = [i("block", None)] * depth + [END] * depth
    validate(fmod(*body))


# ----- branches -----

def test_unknown_label():
    invalid(fmod(i("block", None), i("br", 2), END), "unknown label")


def test_br_if_passes_label_values_through():
    validate(fmod(i("block", "i32"), C0, C0, i("br_if", 0), END, results=["i32"]))


def test_br_if_label_type_mismatch():
    invalid(fmod(i("block", "i32"), i("f32.const", 0), C0, i("br_if", 0), i("drop"), C0, END,
                 i("drop")), "type mismatch")


def test_br_table_inconsistent_arity():
    invalid(fmod(i("block", "i32"), i("block", None), C0, C0, i("br_table", (0,), 1), END, C0, END,
                 i("drop")), "type mismatch")


def test_br_table_targets_of_different_types_in_reachable_code():
    invalid(fmod(i("block", "i32"), i("block", "f32"), C0, C0, i("br_table", (0,), 1), END,
                 i("drop"), C0, END, i("drop")), "type mismatch")


def test_br_table_targets_of_different_types_on_polymorphic_stack():
    # Unknown operands satisfy every target (spec A.3: push_vals(pop_vals(...)) per label).
    validate(fmod(i("block", "i32"), i("block", "f32"), i("unreachable"), C0,
                  i("br_table", (0,), 1), END, i("drop"), C0, END, i("drop")))


def test_br_table_unknown_label():
    invalid(fmod(C0, i("br_table", (0, 3), 0)), "unknown label")


# ----- calls -----

def test_call_checks_argument_types():
    m = fmod(i("f32.const", 0), i("call", 0), params=["i32"])
    invalid(m, "type mismatch")


def test_call_unknown_function():
    invalid(fmod(i("call", 1)), "unknown function")


def test_call_indirect_needs_table():
    invalid(fmod(C0, i("call_indirect", 0, 0)), "unknown table")


def test_call_indirect_unknown_type():
    invalid(fmod(C0, i("call_indirect", 3, 0), tables=[Table(TableType("funcref", Limits(1)))]),
            "unknown type")


def test_call_indirect_needs_funcref_table():
    invalid(fmod(C0, i("call_indirect", 0, 0), tables=[Table(TableType("externref", Limits(1)))]),
            "type mismatch")


def test_call_of_imported_function():
    m = fmod(C0, i("call", 0), imports=[Import("m", "f", "func", 1)])
    m.types.append(FuncType(["i32"], []))
    validate(m)


# ----- variables -----

def test_unknown_local():
    invalid(fmod(i("local.get", 1), i("drop"), params=["i32"]), "unknown local")


def test_unknown_global():
    invalid(fmod(i("global.get", 0), i("drop")), "unknown global")


def test_global_set_on_immutable_global():
    m = fmod(C0, i("global.set", 0), globals=[Global(GlobalType("i32"), [C0, END])])
    invalid(m, "global is immutable")


def test_global_set_on_mutable_global():
    validate(fmod(C0, i("global.set", 0), globals=[Global(GlobalType("i32", True), [C0, END])]))


# ----- parametric -----

def test_untyped_select_on_reference_operands():
    invalid(fmod(i("ref.null", "funcref"), i("ref.null", "funcref"), C0, i("select"), i("drop")),
            "type mismatch")


def test_untyped_select_on_vectors():
    v = i("v128.const", 0)
    validate(fmod(v, v, C0, i("select"), i("drop")))


def test_untyped_select_operands_differ():
    invalid(fmod(C0, i("i64.const", 0), C0, i("select"), i("drop")), "type mismatch")


def test_untyped_select_on_polymorphic_stack_yields_known_type():
    validate(fmod(i("unreachable"), i("f64.const", 0), C0, i("select"), results=["f64"]))


def test_typed_select_on_references():
    n = i("ref.null", "externref")
    validate(fmod(n, n, C0, (SELECT_T, ("externref",)), results=["externref"]))


def test_typed_select_arity_other_than_one():
    invalid(fmod(C0, C0, C0, C0, C0, (SELECT_T, ("i32", "i32")), i("drop"), i("drop")),
            "invalid result arity")


# ----- references -----

def test_ref_is_null_needs_reference():
    invalid(fmod(C0, i("ref.is_null"), i("drop")), "type mismatch")


def test_ref_func_undeclared():
    invalid(fmod(i("ref.func", 0), i("drop")), "undeclared function reference")


def test_ref_func_declared_by_export():
    validate(fmod(i("ref.func", 0), i("drop"), exports=[Export("f", "func", 0)]))


def test_ref_func_declared_by_declarative_segment():
    seg = Elem("funcref", [[i("ref.func", 0), END]], mode=DECLARATIVE)
    validate(fmod(i("ref.func", 0), i("drop"), elems=[seg]))


def test_ref_func_not_declared_by_start():
    invalid(fmod(i("ref.func", 0), i("drop"), start=0), "undeclared function reference")


# ----- tables and segments -----

FUNCTABLE = Table(TableType("funcref", Limits(1)))
EXTERNTABLE = Table(TableType("externref", Limits(1)))


def test_table_get_pushes_element_type():
    validate(fmod(C0, i("table.get", 0), results=["funcref"], tables=[FUNCTABLE]))


def test_table_set_wrong_reference_type():
    invalid(fmod(C0, i("ref.null", "externref"), i("table.set", 0), tables=[FUNCTABLE]),
            "type mismatch")


def test_table_grow_and_size():
    validate(fmod(i("ref.null", "externref"), C0, i("table.grow", 1), i("table.size", 1),
                  i("i32.add"), results=["i32"], tables=[FUNCTABLE, EXTERNTABLE]))


def test_table_fill_unknown_table():
    invalid(fmod(C0, i("ref.null", "funcref"), C0, i("table.fill", 0)), "unknown table 0")


def test_table_copy_between_different_element_types():
    invalid(fmod(C0, C0, C0, i("table.copy", 0, 1), tables=[FUNCTABLE, EXTERNTABLE]),
            "type mismatch")


def test_table_init_checks_table_before_segment():
    invalid(fmod(C0, C0, C0, i("table.init", 4, 0)), "unknown table 0")


def test_table_init_unknown_segment():
    invalid(fmod(C0, C0, C0, i("table.init", 4, 0), tables=[FUNCTABLE]), "unknown elem segment 4")


def test_table_init_segment_type_mismatch():
    seg = Elem("externref", [], mode="passive")
    invalid(fmod(C0, C0, C0, i("table.init", 0, 0), tables=[FUNCTABLE], elems=[seg]),
            "type mismatch")


def test_elem_drop_unknown_segment():
    invalid(fmod(i("elem.drop", 0)), "unknown elem segment 0")


def test_active_segment_type_must_match_table():
    seg = Elem("externref", [], mode=ACTIVE, table=0, offset=[C0, END])
    invalid(fmod(tables=[FUNCTABLE], elems=[seg]), "type mismatch")


def test_active_segment_unknown_table():
    seg = Elem("funcref", [], mode=ACTIVE, table=0, offset=[C0, END])
    invalid(fmod(elems=[seg]), "unknown table")


def test_segment_element_must_be_constant():
    seg = Elem("funcref", [[C0, i("drop"), i("ref.null", "funcref"), END]])
    invalid(fmod(elems=[seg]), "constant expression required")


def test_multiple_tables_are_allowed():
    validate(fmod(tables=[FUNCTABLE, FUNCTABLE]))


def test_table_limits_min_above_max():
    invalid(fmod(tables=[Table(TableType("funcref", Limits(2, 1)))]),
            "size minimum must not be greater than maximum")


# ----- memories and data -----

def test_load_without_memory():
    invalid(fmod(C0, i("i32.load", 2, 0), i("drop")), "unknown memory 0")


def test_memory_grow_without_memory():
    invalid(fmod(C0, i("memory.grow", 0), i("drop")), "unknown memory 0")


def test_alignment_larger_than_natural():
    invalid(memmod(C0, i("i32.load16_u", 2, 0), i("drop")),
            "alignment must not be larger than natural")


def test_natural_alignment_is_valid():
    validate(memmod(C0, i("i64.load", 3, 0), i("drop")))


def test_store_operand_types():
    invalid(memmod(C0, C0, i("f32.store", 2, 0)), "type mismatch")


def test_load_lane_index_out_of_range():
    invalid(memmod(C0, i("v128.const", 0), i("v128.load32_lane", 0, 0, 4), i("drop")),
            "invalid lane index")


def test_extract_lane_index_out_of_range():
    invalid(fmod(i("v128.const", 0), i("i16x8.extract_lane_s", 8), i("drop")),
            "invalid lane index")


def test_shuffle_lane_index_out_of_range():
    v = i("v128.const", 0)
    invalid(fmod(v, v, i("i8x16.shuffle", tuple(range(15)) + (32,)), i("drop")),
            "invalid lane index")


def test_memory_init_unknown_data_segment():
    invalid(memmod(C0, C0, C0, i("memory.init", 1, 0), datas=[Data(b"x")]),
            "unknown data segment 1")


def test_memory_init_checks_memory_before_segment():
    invalid(fmod(C0, C0, C0, i("memory.init", 0, 0)), "unknown memory 0")


def test_data_drop_unknown_segment():
    invalid(fmod(i("data.drop", 0)), "unknown data segment")


def test_active_data_unknown_memory():
    invalid(fmod(datas=[Data(b"", ACTIVE, 1, [C0, END])]), "unknown memory 1")


def test_data_offset_must_be_i32():
    invalid(memmod(datas=[Data(b"", ACTIVE, 0, [i("i64.const", 0), END])]), "type mismatch")


def test_memory_size_limit():
    invalid(fmod(mems=[Memory(MemoryType(Limits(0, 65537)))]),
            "memory size must be at most 65536 pages (4GiB)")


def test_largest_memory_is_valid():
    validate(fmod(mems=[Memory(MemoryType(Limits(65536, 65536)))]))


def test_memory_min_above_max():
    invalid(fmod(mems=[Memory(MemoryType(Limits(2, 1)))]),
            "size minimum must not be greater than maximum")


def test_imported_memory_limits_are_checked():
    invalid(fmod(imports=[Import("m", "mem", "memory", MemoryType(Limits(70000)))]),
            "memory size must be at most 65536 pages (4GiB)")


def test_multiple_memories_need_multi_memory():
    module = fmod(imports=[Import("m", "mem", "memory", MemoryType(Limits(1)))],
                  mems=[Memory(MemoryType(Limits(1)))])
    with pytest.raises(ValidationError) as exc:
        validate(module, features=frozenset())
    assert exc.value.reason.startswith("multiple memories: uses the multi-memory proposal")
    validate(module)


def test_memory64_address_types():
    m64 = [Memory(MemoryType(Limits(1), is_64=True))]
    load = [(op("i64.const"), 0), (op("i32.load"), 2, 0), (op("drop"),)]
    validate(fmod(*load, mems=m64))
    invalid(fmod((op("i32.const"), 0), (op("i32.load"), 2, 0), (op("drop"),), mems=m64),
            "type mismatch")
    invalid(memmod((op("i32.const"), 0), (op("i32.load"), 2, 1 << 32), (op("drop"),)),
            "offset out of range")
    with pytest.raises(ValidationError) as exc:
        validate(fmod(*load, mems=m64), features=frozenset())
    assert "uses the memory64 proposal" in exc.value.reason


# ----- globals and constant expressions -----

def g(t, *init, mutable=False):
    return Global(GlobalType(t, mutable), [*init, END])


def test_global_initializer_must_be_constant():
    invalid(fmod(globals=[g("i32", C0, i("i32.eqz"))]), "constant expression required")


def test_global_initializer_type():
    invalid(fmod(globals=[g("i32", i("f32.const", 0))]), "type mismatch")


def test_global_initializer_empty():
    invalid(fmod(globals=[g("i32")]), "type mismatch")


def test_global_initializer_two_values():
    invalid(fmod(globals=[g("i32", C0, C0)]), "type mismatch")


def test_global_initializer_reads_imported_immutable_global():
    imp = Import("m", "g", "global", GlobalType("i32"))
    validate(fmod(imports=[imp], globals=[g("i32", i("global.get", 0))]))


def test_global_initializer_cannot_read_module_global():
    # spec 3.4.10: constant expressions see only the imported globals (C') -- without GC,
    # which lets an initialiser read the globals defined before it.
    module = fmod(globals=[g("i32", C0), g("i32", i("global.get", 0))])
    invalid(module, "unknown global", features=ALL - {"gc"})
    validate(module, features=ALL)


def test_global_initializer_cannot_read_mutable_import():
    imp = Import("m", "g", "global", GlobalType("i32", True))
    invalid(fmod(imports=[imp], globals=[g("i32", i("global.get", 0))]),
            "constant expression required")


def test_global_initializer_ref_func_declares_function():
    validate(fmod(i("ref.func", 0), i("drop"), globals=[g("funcref", i("ref.func", 0))]))


def test_global_initializer_unknown_function():
    invalid(fmod(globals=[g("funcref", i("ref.func", 9))]), "unknown function")


# ----- module level -----

def test_start_function_must_take_and_return_nothing():
    invalid(fmod(params=["i32"], start=0), "start function")


def test_start_unknown_function():
    invalid(fmod(start=1), "unknown function")


def test_duplicate_export_name():
    invalid(fmod(exports=[Export("a", "func", 0), Export("a", "memory", 0)],
                 mems=[Memory(MemoryType(Limits(0)))]), "duplicate export name")


def test_export_unknown_global():
    invalid(fmod(exports=[Export("a", "global", 0)]), "unknown global")


def test_function_unknown_type():
    invalid(Module(types=[], funcs=[Func(0, [], [END])]), "unknown type")


def test_import_unknown_type():
    invalid(Module(imports=[Import("m", "f", "func", 0)]), "unknown type")


# ----- errors and results -----

def test_error_names_function_and_instruction_offset():
    m = fmod(C0, i("i64.eqz"), i("drop"))
    m.imports.append(Import("m", "f", "func", 0))
    err = invalid(m, "type mismatch")
    assert (err.func, err.offset) == (1, 1)


def test_streamed_body_reports_byte_offsets():
    instrs = [(0x30, C0), (0x32, i("f32.neg")), (0x33, i("drop")), (0x34, END)]
    func = Func(0, [], code=b"raw", code_offset=0x30, decode=lambda code, off: iter(instrs))
    err = invalid(Module(types=[FuncType()], funcs=[func]), "type mismatch")
    assert err.offset == 0x32


def test_max_stack_of_each_function():
    m = fmod(C0, C0, C0, i("i32.add"), i("i32.add"), results=["i32"])
    assert _check_module(m, None) == (3,)


def test_progress_reports_each_function():
    m = fmod()
    m.funcs.append(Func(0, [], [END]))
    calls = []
    validate(m, progress=lambda done, total: calls.append((done, total)))
    assert calls == [(1, 2), (2, 2)]


def test_lazily_decoded_binary_reports_byte_offset_of_instruction():
    from wasmforge.binary.decode import decode_module
    # (func (drop (i32.eqz (i64.const 0)))): i32.eqz is the byte at 0x19.
    wasm = bytes.fromhex("0061736d01000000" "010401600000" "03020100" "0a080106004200451a0b")
    err = invalid(decode_module(wasm, lazy=True), "type mismatch")
    assert (err.func, err.offset) == (0, 0x19)


def test_max_stack_counts_operands_pushed_on_polymorphic_stack():
    assert _check_module(fmod(i("unreachable"), i("select"), i("drop")), None) == (1,)


def test_br_table_to_labels_of_same_type():
    validate(fmod(i("block", "i32"), i("block", "i32"), C0, C0, i("br_table", (0, 1), 0), END, END,
                  results=["i32"]))


def test_call_indirect_through_imported_table():
    m = fmod(C0, C0, i("call_indirect", 1, 0), results=["i32"],
             imports=[Import("m", "t", "table", TableType("funcref", Limits(1)))])
    m.types.append(FuncType(["i32"], ["i32"]))
    validate(m)

