"""Instantiation follows spec 4.5.4: imports checked, then segments in order, then start."""

import pytest

from wasmforge import (Engine, Func, FuncType, Global, GlobalType, Instance, Limits, LinkError, Linker,
                       Memory, MemoryType, Module, Store, Table, TableType, Trap, TrapCode, ValType)
from wasmforge.runtime import ModuleInstance, eval_const, instantiate as runtime_instantiate
from wasmforge.text.parser import parse_module



def test_active_data_segment_is_copied_into_memory(instantiate):
    store, inst = instantiate('(module (memory (export "m") 1) (data (i32.const 8) "hi"))')
    assert inst.exports(store)["m"].read(store, 8, 10) == b"hi"


def test_active_elem_segment_is_copied_into_table(instantiate):
    store, inst = instantiate('(module (table (export "t") 3 funcref) (func $f) (elem (i32.const 1) $f))')
    table = inst.exports(store)["t"]
    assert table.get(store, 0) is None
    assert isinstance(table.get(store, 1), Func)


def test_segment_offset_reads_an_imported_global(instantiate):
    store = Store(Engine())
    g = Global(store, GlobalType(ValType.i32(), False), 4)
    _, inst = instantiate('(module (import "env" "g" (global i32)) (memory (export "m") 1)'
                          ' (data (global.get 0) "x"))', [g], store)
    assert inst.exports(store)["m"].read(store, 4, 5) == b"x"


def test_out_of_bounds_data_segment_traps_and_keeps_earlier_writes():
    store = Store(Engine())
    mem = Memory(store, MemoryType(Limits(1)))
    module = Module(store.engine, '(module (import "env" "m" (memory 1))'
                                  ' (data (i32.const 0) "abc") (data (i32.const 65535) "zz"))')
    with pytest.raises(Trap) as info:
        Instance(store, module, [mem])
    assert info.value.code is TrapCode.MEMORY_OUT_OF_BOUNDS
    # wasmtime-py's text of this trap, which has no wasm frame
    assert str(info.value) == "wasm trap: out of bounds memory access"
    assert mem.read(store, 0, 3) == b"abc"
    assert mem.read(store, 65535, 65536) == b"\0"


def test_out_of_bounds_elem_segment_traps_before_data_segments_run():
    store = Store(Engine())
    mem = Memory(store, MemoryType(Limits(1)))
    module = Module(store.engine, '(module (import "env" "m" (memory 1)) (table 1 funcref) (func $f)'
                                  ' (elem (i32.const 1) $f) (data (i32.const 0) "abc"))')
    with pytest.raises(Trap, match="out of bounds table access"):
        Instance(store, module, [mem])
    assert mem.read(store, 0, 3) == b"\0\0\0"


def test_zero_length_segment_past_the_end_traps(instantiate):
    with pytest.raises(Trap, match="out of bounds memory access"):
        instantiate('(module (memory 1) (data (i32.const 65537) ""))')


def test_functions_of_a_failed_instantiation_stay_in_the_imported_table():
    store = Store(Engine())
    table = Table(store, TableType(ValType.funcref(), Limits(2)), None)
    module = Module(store.engine, '(module (import "env" "t" (table 2 funcref))'
                                  ' (func $f (result i32) (i32.const 7))'
                                  ' (elem (i32.const 0) $f) (elem (i32.const 1) $f $f))')
    with pytest.raises(Trap):
        Instance(store, module, [table])
    assert table.get(store, 0)(store) == 7
    assert table.get(store, 1) is None


def test_start_function_runs_after_the_segments(instantiate):
    store, inst = instantiate('(module (memory (export "m") 1) (data (i32.const 0) "\\05")'
                              ' (func $start (i32.store8 (i32.const 1) (i32.add (i32.load8_u (i32.const 0)) (i32.const 1))))'
                              ' (start $start))')
    assert inst.exports(store)["m"].read(store, 0, 2) == b"\x05\x06"


def test_trap_in_start_function_fails_instantiation(instantiate):
    with pytest.raises(Trap) as info:
        instantiate('(module (func $s unreachable) (start $s))')
    assert info.value.code is TrapCode.UNREACHABLE_CODE_REACHED


def test_declarative_and_active_segments_are_dropped_passive_kept():
    module = parse_module('(module (table 1 funcref) (func $f) (elem declare func $f)'
                          ' (elem (i32.const 0) $f) (elem func $f $f) (memory 1)'
                          ' (data (i32.const 0) "a") (data "bc"))')
    from wasmforge.interp import compile_module
    inst = runtime_instantiate(None, module, compile_module(module), [])
    assert [len(e) for e in inst.elems] == [0, 0, 2]
    assert inst.datas == [b"", b"bc"]


def test_global_initialisers_see_imported_globals(instantiate):
    store = Store(Engine())
    g = Global(store, GlobalType(ValType.i64(), False), -2)
    _, inst = instantiate('(module (import "env" "g" (global i64)) (global (export "h") i64 (global.get 0)))',
                          [g], store)
    assert inst.exports(store)["h"].value(store) == -2


def test_eval_const_of_each_constant_kind():
    module = parse_module('(module (global i32 (i32.const -1)) (global f32 (f32.const 1.5))'
                          ' (global v128 (v128.const i64x2 1 2)) (global funcref (ref.null func)))')
    values = [eval_const(g.init, [], []) for g in module.globals]
    assert values == [0xFFFFFFFF, 1.5, (2 << 64) | 1, None]


# ----- linking -----

def test_missing_import_is_unknown_import():
    linker = Linker(Engine())
    store = Store(linker.engine)
    module = Module(linker.engine, '(module (import "env" "f" (func)))')
    with pytest.raises(LinkError, match="^unknown import: `env::f`"):
        linker.instantiate(store, module)


def test_import_of_wrong_kind_is_incompatible():
    store = Store(Engine())
    mem = Memory(store, MemoryType(Limits(1)))
    module = Module(store.engine, '(module (import "env" "f" (func)))')
    with pytest.raises(LinkError, match="^incompatible import type"):
        Instance(store, module, [mem])


def test_function_import_with_other_signature_is_incompatible():
    store = Store(Engine())
    f = Func(store, FuncType([ValType.i32()], []), lambda x: None)
    module = Module(store.engine, '(module (import "env" "f" (func (param i64))))')
    with pytest.raises(LinkError, match="incompatible import type"):
        Instance(store, module, [f])


def test_global_import_mutability_must_match():
    store = Store(Engine())
    g = Global(store, GlobalType(ValType.i32(), True), 0)
    module = Module(store.engine, '(module (import "env" "g" (global i32)))')
    with pytest.raises(LinkError, match="incompatible import type"):
        Instance(store, module, [g])


def test_wrong_number_of_imports_is_a_link_error():
    store = Store(Engine())
    module = Module(store.engine, '(module (import "env" "f" (func)))')
    with pytest.raises(LinkError, match="wrong number of imports"):
        Instance(store, module, [])


# ----- limits subtyping (spec 4.5.2) -----

@pytest.mark.parametrize("actual, imported, ok", [
    ((1, None), "1", True),
    ((2, None), "1", True),
    ((1, None), "2", False),
    ((1, 5), "1 5", True),
    ((1, 4), "1 5", True),
    ((1, 6), "1 5", False),
    ((1, None), "1 5", False),
])
def test_memory_import_limits_subtyping(actual, imported, ok):
    store = Store(Engine())
    mem = Memory(store, MemoryType(Limits(*actual)))
    module = Module(store.engine, f'(module (import "env" "m" (memory {imported})))')
    if ok:
        Instance(store, module, [mem])
    else:
        with pytest.raises(LinkError, match="incompatible import type"):
            Instance(store, module, [mem])


def test_grown_memory_satisfies_a_larger_minimum():
    store = Store(Engine())
    mem = Memory(store, MemoryType(Limits(1, 4)))
    module = Module(store.engine, '(module (import "env" "m" (memory 3 4)))')
    with pytest.raises(LinkError):
        Instance(store, module, [mem])
    mem.grow(store, 2)
    Instance(store, module, [mem])


def test_table_import_element_type_must_match():
    store = Store(Engine())
    table = Table(store, TableType(ValType.externref(), Limits(1)), None)
    module = Module(store.engine, '(module (import "env" "t" (table 1 funcref)))')
    with pytest.raises(LinkError, match="incompatible import type"):
        Instance(store, module, [table])


def test_table_import_maximum_must_be_within_the_declared_one():
    store = Store(Engine())
    table = Table(store, TableType(ValType.funcref(), Limits(1, 10)), None)
    module = Module(store.engine, '(module (import "env" "t" (table 1 5 funcref)))')
    with pytest.raises(LinkError, match="incompatible import type"):
        Instance(store, module, [table])


def test_module_instance_exposes_index_spaces_imports_first(instantiate):
    store = Store(Engine())
    g = Global(store, GlobalType(ValType.i32(), False), 1)
    _, inst = instantiate('(module (import "env" "g" (global i32)) (global i32 (i32.const 2)) (func))',
                          [g], store)
    mi = inst._inst
    assert isinstance(mi, ModuleInstance)
    assert [x.value for x in mi.globals] == [1, 2]
    assert len(mi.funcs) == 1 and mi.funcs[0].inst is mi


def test_table_beyond_the_implementation_limit_fails_instantiation(instantiate):
    from wasmforge import InstantiationError
    with pytest.raises(InstantiationError, match="limit"):
        instantiate('(module (table 20000000 funcref))')


def test_the_plan_reads_i32_const_segment_offsets_without_evaluating_them(monkeypatch):
    # A Go module has ~86,000 `i32.const n` data segments: evaluating each offset as a
    # constant expression was a tenth of its warm run.
    from wasmforge.binary.decode import decode_module
    from wasmforge.runtime import instance as runtime_instance
    from wasmforge import wat2wasm
    calls = []
    real = runtime_instance.eval_const
    monkeypatch.setattr(runtime_instance, "eval_const", lambda *a, **k: calls.append(a) or real(*a, **k))
    plan = runtime_instance.InstancePlan._data_runs
    module = decode_module(wat2wasm(
        '(module (memory 1) (data (i32.const 8) "ab") (data (i32.const 10) "cd") (data (i32.const 100) "x"))'))
    assert plan(module, 0) == [(0, 8, b"abcd"), (0, 100, b"x")]
    # i32.const -1 is offset 0xFFFFFFFF: out of bounds, so the step-by-step path (which traps)
    assert plan(decode_module(wat2wasm('(module (memory 1) (data (i32.const -1) ""))')), 0) is None
    assert calls == []
