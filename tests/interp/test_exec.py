"""Execution on the interp tier, against a fake instance (tests/interp/fakeinst.py)."""

import pytest

from interp.fakeinst import instantiate
from wasmforge.errors import Trap, TrapCode
from wasmforge.numerics.bits import f32_to_bits


def run(wat, name="f", *args, **kw):
    exports, _, _ = instantiate(wat, **kw)
    return exports[name](*args)


def trap_code(fn, *args):
    with pytest.raises(Trap) as info:
        fn(*args)
    return info.value.code


# ----- expressions and locals -----

def test_i32_arithmetic_wraps():
    wat = '(module (func (export "f") (param i32 i32) (result i32) (i32.add (local.get 0) (local.get 1))))'
    assert run(wat, "f", 0xFFFFFFFF, 3) == 2


def test_comparison_result_is_the_int_one():
    wat = '(module (func (export "f") (param i32) (result i32) (i32.lt_s (local.get 0) (i32.const 0))))'
    r = run(wat, "f", 0x80000000)
    assert r == 1 and type(r) is int


def test_local_set_does_not_disturb_a_pending_read_of_the_local():
    # local.get 0 is still on the stack when local 0 is overwritten.
    wat = '''(module (func (export "f") (param i32) (result i32)
        (local.get 0) (local.set 0 (i32.const 7)) (local.get 0) (i32.sub)))'''
    assert run(wat, "f", 10) == 3


def test_local_tee_leaves_the_value():
    wat = '''(module (func (export "f") (result i32) (local i32)
        (i32.add (local.tee 0 (i32.const 5)) (local.get 0))))'''
    assert run(wat, "f") == 10


def test_select_picks_by_condition():
    wat = '''(module (func (export "f") (param i32) (result i64)
        (select (i64.const 1) (i64.const 2) (local.get 0))))'''
    assert (run(wat, "f", 5), run(wat, "f", 0)) == (1, 2)


def test_globals_read_and_write():
    wat = '''(module (global $g (mut i32) (i32.const 40))
        (func (export "f") (result i32) (global.set $g (i32.add (global.get $g) (i32.const 2))) (global.get $g)))'''
    assert run(wat) == 42


def test_global_read_before_a_call_that_sets_it_keeps_the_old_value():
    wat = '''(module (global $g (mut i32) (i32.const 1))
        (func $set (global.set $g (i32.const 100)))
        (func (export "f") (result i32) (global.get $g) (call $set) (global.get $g) (i32.add)))'''
    assert run(wat) == 101


def test_f32_nan_payload_survives_params_and_results():
    wat = '(module (func (export "f") (param f32) (result f32) (local.get 0)))'
    from wasmforge.numerics.bits import f32_from_bits
    assert f32_to_bits(run(wat, "f", f32_from_bits(0x7FA00001))) == 0x7FA00001


# ----- control flow -----

def test_loop_with_br_if():
    wat = '''(module (func (export "sum") (param i32) (result i32) (local i32)
        (block (loop
            (br_if 1 (i32.eqz (local.get 0)))
            (local.set 1 (i32.add (local.get 1) (local.get 0)))
            (local.set 0 (i32.sub (local.get 0) (i32.const 1)))
            (br 0)))
        (local.get 1)))'''
    assert run(wat, "sum", 100) == 5050


def test_branch_out_of_nested_loops():
    wat = '''(module (func (export "f") (result i32) (local i32)
        (block $out (loop $a (loop $b
            (local.set 0 (i32.add (local.get 0) (i32.const 1)))
            (br_if $out (i32.ge_u (local.get 0) (i32.const 10)))
            (br_if $b (i32.lt_u (local.get 0) (i32.const 5)))
            (br $a))))
        (local.get 0)))'''
    assert run(wat) == 10


def test_block_results_and_params():
    wat = '''(module (func (export "f") (result i32 i32)
        (i32.const 1) (i32.const 2)
        (block (param i32 i32) (result i32 i32) (br 0))))'''
    assert run(wat) == (1, 2)


def test_if_else_with_result():
    wat = '''(module (func (export "f") (param i32) (result i32)
        (if (result i32) (local.get 0) (then (i32.const 10)) (else (i32.const 20)))))'''
    assert (run(wat, "f", 1), run(wat, "f", 0)) == (10, 20)


def test_br_table_dispatch():
    wat = '''(module (func (export "f") (param i32) (result i32)
        (block (block (block (br_table 0 1 2 (local.get 0)))
            (return (i32.const 100)))
          (return (i32.const 101)))
        (i32.const 102)))'''
    assert [run(wat, "f", i) for i in (0, 1, 2, 3, 0xFFFFFFFF)] == [100, 101, 102, 102, 102]


def _deep_switch(n):
    """A br_table switch over ``n`` cases, nested ``n`` blocks deep as C compilers emit it."""
    body = f"(br_table {' '.join(map(str, range(n)))} (local.get 0))"
    for i in range(n):
        body = f"(block {body}) (return (i32.const {i * 3}))"
    return f'(module (func (export "f") (param i32) (result i32) {body} (i32.const -1)))'


def test_deep_nesting_beyond_cpython_block_limit_runs():
    exports, _, _ = instantiate(_deep_switch(60))
    assert [exports["f"](i) for i in (0, 30, 58, 59, 1000)] == [0, 90, 174, 177, 177]


def test_flat_translation_matches_structured(monkeypatch):
    wat = _deep_switch(5)
    structured = [run(wat, "f", i) for i in range(7)]
    monkeypatch.setenv("WASMFORGE_INTERP_FLAT", "1")
    assert [run(wat, "f", i) for i in range(7)] == structured


def test_deeply_nested_loops_run():
    n = 40
    body = "(br_if 0 (i32.lt_u (local.tee 0 (i32.add (local.get 0) (i32.const 1))) (i32.const 3)))"
    for _ in range(n):
        body = f"(loop {body})"
    wat = f'(module (func (export "f") (result i32) (local i32) {body} (local.get 0)))'
    assert run(wat) == 3


def test_unreachable_traps():
    assert trap_code(instantiate('(module (func (export "f") unreachable))')[0]["f"]) \
        is TrapCode.UNREACHABLE_CODE_REACHED


# ----- calls -----

def test_recursion():
    wat = '''(module (func $fib (export "fib") (param i32) (result i32)
        (if (result i32) (i32.lt_u (local.get 0) (i32.const 2)) (then (local.get 0))
          (else (i32.add (call $fib (i32.sub (local.get 0) (i32.const 1)))
                         (call $fib (i32.sub (local.get 0) (i32.const 2))))))))'''
    assert run(wat, "fib", 20) == 6765


def test_unbounded_recursion_traps_with_stack_overflow_and_recovers():
    wat = '''(module (func $r (export "r") (param i32) (result i32) (call $r (local.get 0)))
        (func (export "ok") (result i32) (i32.const 1)))'''
    exports, _, _ = instantiate(wat, max_call_depth=5000)
    assert trap_code(exports["r"], 0) is TrapCode.STACK_OVERFLOW
    assert exports["ok"]() == 1
    assert trap_code(exports["r"], 0) is TrapCode.STACK_OVERFLOW


def test_trap_frames_name_the_wasm_functions_innermost_first():
    wat = '''(module (func $inner unreachable) (func $outer (export "f") (call $inner)))'''
    exports, _, _ = instantiate(wat)
    with pytest.raises(Trap) as info:
        exports["f"]()
    assert info.value.frames == [(0, "inner"), (1, "outer")]


def test_host_function_exception_passes_through_unchanged():
    class Boom(Exception):
        pass

    def host(x):
        raise Boom(x)

    wat = '''(module (import "env" "h" (func $h (param i32)))
        (func (export "f") (call $h (i32.const 7))))'''
    exports, _, _ = instantiate(wat, host=[host])
    with pytest.raises(Boom):
        exports["f"]()


def test_host_function_results():
    wat = '''(module (import "env" "h" (func $h (param i32) (result i32 i32)))
        (func (export "f") (result i32) (i32.sub (call $h (i32.const 7)))))'''
    exports, _, _ = instantiate(wat, host=[lambda x: (x * 10, x)])
    assert exports["f"]() == 63


CALL_INDIRECT = '''(module
    (type $ii (func (param i32) (result i32)))
    (table 3 funcref)
    (elem (i32.const 0) $double $void)
    (func $double (param i32) (result i32) (i32.mul (local.get 0) (i32.const 2)))
    (func $void)
    (func (export "call") (param i32 i32) (result i32)
        (call_indirect (type $ii) (local.get 0) (local.get 1))))'''


def test_call_indirect_calls_through_the_table():
    assert run(CALL_INDIRECT, "call", 21, 0) == 42


@pytest.mark.parametrize("index, code", [(1, TrapCode.INDIRECT_CALL_TYPE_MISMATCH),
                                         (2, TrapCode.UNINITIALIZED_ELEMENT),
                                         (3, TrapCode.UNDEFINED_ELEMENT)])
def test_call_indirect_traps(index, code):
    exports, _, _ = instantiate(CALL_INDIRECT)
    assert trap_code(exports["call"], 0, index) is code


# ----- memory -----

MEM = '''(module (memory 1 4)
    (func (export "load") (param i32) (result i32) (i32.load (local.get 0)))
    (func (export "store") (param i32 i64) (i64.store offset=4 (local.get 0) (local.get 1)))
    (func (export "load8_s") (param i32) (result i32) (i32.load8_s (local.get 0)))
    (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
    (func (export "size") (result i32) (memory.size))
    (func (export "fill") (param i32 i32 i32) (memory.fill (local.get 0) (local.get 1) (local.get 2))))'''


def test_load_at_the_last_word_succeeds_and_past_it_traps():
    exports, _, _ = instantiate(MEM)
    assert exports["load"](65532) == 0
    assert trap_code(exports["load"], 65533) is TrapCode.MEMORY_OUT_OF_BOUNDS


def test_store_with_offset_is_bounds_checked_and_writes_nothing_on_trap():
    exports, inst, _ = instantiate(MEM)
    assert trap_code(exports["store"], 65528 - 3, 0x1111111111111111) is TrapCode.MEMORY_OUT_OF_BOUNDS
    assert inst.mems[0].data[65524:65536] == bytes(12)
    exports["store"](65524, 0x0102030405060708)
    assert exports["load"](65528) == 0x05060708


def test_load8_s_sign_extends():
    exports, inst, _ = instantiate(MEM)
    inst.mems[0].data[5] = 0xFE
    assert exports["load8_s"](5) == 0xFFFFFFFE


def test_memory_grow_extends_the_bounds_seen_by_loads():
    exports, _, _ = instantiate(MEM)
    assert exports["grow"](1) == 1
    assert exports["size"]() == 2
    assert exports["load"](65536) == 0
    assert exports["grow"](10) == 0xFFFFFFFF


def test_memory_fill_checks_the_whole_range_first():
    exports, inst, _ = instantiate(MEM)
    assert trap_code(exports["fill"], 65530, 7, 7) is TrapCode.MEMORY_OUT_OF_BOUNDS
    assert inst.mems[0].data[65530] == 0
    exports["fill"](10, 7, 3)
    assert inst.mems[0].data[9:14] == b"\0\7\7\7\0"


def test_f32_load_and_store_keep_a_signalling_nan():
    wat = '''(module (memory 1)
        (func (export "f") (result i32)
            (f32.store (i32.const 8) (f32.load (i32.const 0)))
            (i32.load (i32.const 8))))'''
    exports, inst, _ = instantiate(wat)
    inst.mems[0].data[0:4] = (0x7FA00001).to_bytes(4, "little")
    assert exports["f"]() == 0x7FA00001


def test_memory_init_and_data_drop():
    wat = '''(module (memory 1) (data $d "abc")
        (func (export "init") (param i32 i32 i32) (memory.init $d (local.get 0) (local.get 1) (local.get 2)))
        (func (export "drop") (data.drop $d)))'''
    exports, inst, _ = instantiate(wat)
    exports["init"](100, 1, 2)
    assert inst.mems[0].data[100:103] == b"bc\0"
    exports["drop"]()
    assert trap_code(exports["init"], 0, 0, 1) is TrapCode.MEMORY_OUT_OF_BOUNDS
    exports["init"](0, 0, 0)


# ----- tables -----

def test_table_grow_fill_and_get():
    wat = '''(module (table $t 1 10 externref)
        (func (export "grow") (param externref i32) (result i32) (table.grow $t (local.get 0) (local.get 1)))
        (func (export "fill") (param i32 externref i32) (table.fill $t (local.get 0) (local.get 1) (local.get 2)))
        (func (export "get") (param i32) (result externref) (table.get $t (local.get 0)))
        (func (export "size") (result i32) (table.size $t)))'''
    exports, _, _ = instantiate(wat)
    token = object()
    assert exports["grow"](None, 2) == 1
    assert exports["size"]() == 3
    exports["fill"](1, token, 2)
    assert exports["get"](2) is token and exports["get"](0) is None
    assert trap_code(exports["fill"], 2, token, 2) is TrapCode.TABLE_OUT_OF_BOUNDS
    assert trap_code(exports["get"], 3) is TrapCode.TABLE_OUT_OF_BOUNDS


# ----- the compiled module -----

def test_functions_are_translated_on_first_call_only():
    wat = '(module (func (export "a") (result i32) (i32.const 1)) (func (export "b")))'
    exports, _, code = instantiate(wat)
    exports["a"]()
    assert code._codes[0] is not None and code._codes[1] is None


def test_compiled_code_is_shared_by_instances_with_their_own_memory():
    wat = '''(module (memory 1) (func (export "inc") (result i32)
        (i32.store (i32.const 0) (i32.add (i32.load (i32.const 0)) (i32.const 1)))
        (i32.load (i32.const 0))))'''
    a, _, code = instantiate(wat)
    b, _, _ = instantiate(wat, code=code)
    assert (a["inc"](), a["inc"](), b["inc"]()) == (1, 2, 1)


def test_dump_writes_the_generated_source(tmp_path, monkeypatch):
    monkeypatch.setenv("WASMFORGE_INTERP_DUMP", str(tmp_path))
    run('(module (func (export "f") (result i32) (i32.const 5)))')
    assert "def _f0(" in (tmp_path / "f0.py").read_text()


GROW = '''(module (memory 1 4)
    (func $grow (result i32) (memory.grow (i32.const 1)))
    (func (export "after_call") (result i32)
        (i32.load (i32.const 0)) (drop)
        (drop (call $grow))
        (i32.load (i32.const 65536)))
    (func (export "in_loop") (local i32)
        (loop $l
            (drop (i32.load (local.get 0)))
            (drop (call $grow))
            (local.set 0 (i32.add (local.get 0) (i32.const 65536)))
            (br $l)))
    (func (export "after_branch") (param i32) (result i32)
        (drop (i32.load (i32.const 0)))
        (block $b
            (br_if $b (i32.and (call $grow) (local.get 0)))
            (drop (i32.load (i32.const 0))))
        (i32.load (i32.const 65536))))'''


def test_access_after_a_call_that_grew_memory():
    assert run(GROW, "after_call") == 0


def test_loop_sees_memory_grown_in_an_earlier_iteration():
    exports, inst, _ = instantiate(GROW)
    # Iteration k reads page k after iteration k-1 grew the memory to k+1 pages; growth
    # stops at the maximum of 4 pages, and the read of page 4 traps.
    assert trap_code(exports["in_loop"]) is TrapCode.MEMORY_OUT_OF_BOUNDS
    assert inst.mems[0].size == 4 * 65536


def test_access_after_a_branch_taken_after_growth():
    assert run(GROW, "after_branch", 1) == 0


def test_host_function_growing_memory_is_seen_by_the_caller():
    wat = '''(module (import "env" "grow" (func $g)) (memory 1 2)
        (func (export "f") (result i32)
            (drop (i32.load (i32.const 0))) (call $g) (i32.load (i32.const 65536))))'''
    box = {}
    exports, inst, _ = instantiate(wat, host=[lambda: box["inst"].mems[0].grow(1) and None])
    box["inst"] = inst
    assert exports["f"]() == 0


FLOAT = '''(module
    (func (export "div") (param f64 f64) (result f64) (f64.div (local.get 0) (local.get 1)))
    (func (export "div32") (param f32 f32) (result f32) (f32.div (local.get 0) (local.get 1)))
    (func (export "sqrt") (param f64) (result f64) (f64.sqrt (local.get 0))))'''


def test_float_division_by_signed_zero_gives_signed_infinity():
    exports, _, _ = instantiate(FLOAT)
    assert exports["div"](1.0, -0.0) == float("-inf")
    assert exports["div32"](-3.0, 0.0) == float("-inf")


def test_float_zero_divided_by_zero_is_nan():
    exports, _, _ = instantiate(FLOAT)
    r = exports["div"](0.0, 0.0)
    assert r != r


def test_f32_division_rounds_to_binary32():
    exports, _, _ = instantiate(FLOAT)
    assert exports["div32"](1.0, 3.0) == 0.3333333432674408


def test_sqrt_of_negative_zero_and_negative():
    exports, _, _ = instantiate(FLOAT)
    assert str(exports["sqrt"](-0.0)) == "-0.0"
    r = exports["sqrt"](-4.0)
    assert r != r
