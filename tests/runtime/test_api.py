"""The embedding API: wasmtime-py's call shapes and checked arguments at the boundary."""

import pytest

from wasmforge import (Config, Engine, ExportType, Func, FuncType, Global, GlobalType, ImportType, Instance,
                       Limits, Linker, Memory, MemoryType, Module, ParseError, Store, Table, TableType,
                       Val, ValidationError, ValType, WasmError, WasmtimeError, wat2wasm)


ADD = '(module (func (export "add") (param i32 i32) (result i32) (i32.add (local.get 0) (local.get 1))))'


def test_design_example_runs():
    engine = Engine()
    store = Store(engine)
    module = Module(engine, '(module (import "env" "log" (func $log (param i32))) '
                            '(func (export "run") (call $log (i32.const 42))))')
    seen = []
    linker = Linker(engine)
    linker.define_func("env", "log", FuncType([ValType.i32()], []), seen.append)
    linker.instantiate(store, module).exports(store)["run"](store)
    assert seen == [42]


def test_i32_results_are_signed(instantiate):
    store, inst = instantiate(ADD)
    assert inst.exports(store)["add"](store, 0x7FFFFFFF, 1) == -0x80000000


def test_i32_arguments_accept_unsigned_form(instantiate):
    store, inst = instantiate(ADD)
    assert inst.exports(store)["add"](store, 0xFFFFFFFF, 0) == -1


def test_i64_results_are_signed(instantiate):
    store, inst = instantiate('(module (func (export "f") (result i64) (i64.const -5)))')
    assert inst.exports(store)["f"](store) == -5


def test_multiple_results_come_back_as_a_list(instantiate):
    store, inst = instantiate('(module (func (export "f") (result i32 f64) (i32.const 1) (f64.const 2.5)))')
    assert inst.exports(store)["f"](store) == [1, 2.5]


def test_v128_crosses_as_unsigned_int(instantiate):
    store, inst = instantiate('(module (func (export "f") (param v128) (result v128) (local.get 0)))')
    v = (1 << 127) | 5
    assert inst.exports(store)["f"](store, v) == v


def test_f32_arguments_are_rounded_to_binary32(instantiate):
    store, inst = instantiate('(module (func (export "f") (param f32) (result f32) (local.get 0)))')
    assert inst.exports(store)["f"](store, 0.1) == 0.10000000149011612


def test_vals_are_accepted_as_arguments(instantiate):
    store, inst = instantiate(ADD)
    assert inst.exports(store)["add"](store, Val.i32(2), Val.i32(3)) == 5


def test_val_of_wrong_type_is_a_type_error(instantiate):
    store, inst = instantiate(ADD)
    with pytest.raises(TypeError, match="expected a i32 value"):
        inst.exports(store)["add"](store, Val.i64(2), 3)


def test_wrong_arity_is_a_type_error(instantiate):
    store, inst = instantiate(ADD)
    with pytest.raises(TypeError, match="takes 2 arguments"):
        inst.exports(store)["add"](store, 1)


def test_wrong_argument_type_is_a_type_error(instantiate):
    store, inst = instantiate(ADD)
    with pytest.raises(TypeError, match="expected an int"):
        inst.exports(store)["add"](store, 1.5, 2)


def test_out_of_range_integer_wraps_as_in_wasmtime_py(instantiate):
    store, inst = instantiate(ADD)
    assert inst.exports(store)["add"](store, (1 << 32) + 1, 2) == 3
    assert inst.exports(store)["add"](store, 1 << 31, 0) == -(1 << 31)


def test_calling_with_another_store_is_an_error(instantiate):
    store, inst = instantiate(ADD)
    add = inst.exports(store)["add"]
    with pytest.raises(WasmError, match="different store"):
        add(Store(store.engine), 1, 2)
    assert add(store, 1, 2) == 3


def test_module_from_another_engine_is_refused():
    store = Store(Engine())
    module = Module(Engine(), ADD)
    with pytest.raises(WasmError, match="different Engine"):
        Instance(store, module, [])


def test_closed_store_is_refused(instantiate):
    store, inst = instantiate(ADD)
    add = inst.exports(store)["add"]
    store.close()
    with pytest.raises(WasmError, match="closed"):
        add(store, 1, 2)


def test_store_as_context_manager_closes():
    with Store(Engine()) as store:
        pass
    assert store.closed


def test_exports_index_by_name_and_position(instantiate):
    store, inst = instantiate('(module (func (export "a")) (memory (export "b") 1))')
    ex = inst.exports(store)
    assert isinstance(ex["a"], Func) and isinstance(ex[1], Memory)
    assert ex[0] == ex["a"]
    assert len(ex) == 2 and "b" in ex and ex.get("c") is None
    with pytest.raises(KeyError):
        ex["c"]


def test_module_imports_and_exports_describe_types():
    engine = Engine()
    module = Module(engine, '(module (import "env" "f" (func (param i32))) (import "env" "m" (memory 1 2))'
                            ' (global (export "g") (mut i64) (i64.const 0)))')
    imports = module.imports
    assert [(i.module, i.name) for i in imports] == [("env", "f"), ("env", "m")]
    assert isinstance(imports[0], ImportType) and imports[0].type == FuncType([ValType.i32()], [])
    assert imports[1].type == MemoryType(Limits(1, 2))
    (export,) = module.exports
    assert isinstance(export, ExportType) and export.type == GlobalType(ValType.i64(), True)


def test_module_accepts_binary():
    engine = Engine()
    store = Store(engine)
    module = Module(engine, wat2wasm(ADD))
    assert Instance(store, module, []).exports(store)["add"](store, 2, 2) == 4


def test_module_from_file(tmp_path):
    path = tmp_path / "add.wat"
    path.write_text(ADD)
    engine = Engine()
    assert Module.from_file(engine, path).exports[0].name == "add"


def test_module_validate_raises_on_invalid_module():
    with pytest.raises(ValidationError):
        Module.validate(Engine(), '(module (func (result i32)))')


def test_module_rejects_malformed_text():
    with pytest.raises(ParseError):
        Module(Engine(), '(module (func')


def test_wasmtime_error_is_the_base_class():
    assert WasmtimeError is WasmError


@pytest.fixture
def without_llvmlite(monkeypatch):
    """Make llvmlite unimportable, as on a machine installed without the `llvm` extra."""
    from support import hide_llvmlite
    hide_llvmlite(monkeypatch)


def test_llvm_strategy_without_llvmlite_gives_a_clear_error(without_llvmlite):
    config = Config()
    config.strategy = "llvm"
    with pytest.raises(WasmError, match="llvm execution tier is not available"):
        Engine(config)


def test_auto_strategy_falls_back_to_interp_without_llvmlite_with_one_notice(without_llvmlite, monkeypatch):
    from wasmforge.api import engine as engine_module
    monkeypatch.setattr(engine_module, "_noticed", False)
    with pytest.warns(engine_module.TierNotice, match="interp tier") as record:
        assert Engine().strategy == "interp"
        assert Engine().strategy == "interp"
    assert len(record) == 1


def test_unknown_strategy_is_refused():
    with pytest.raises(ValueError, match="unknown strategy"):
        Config().strategy = "jit"


def test_environment_sets_the_default_strategy(monkeypatch):
    monkeypatch.setenv("WASMFORGE_STRATEGY", "interp")
    assert Config().strategy == "interp"
    assert Engine().strategy == "interp"


def test_global_get_and_set():
    store = Store(Engine())
    g = Global(store, GlobalType(ValType.i32(), True), -7)
    assert g.value(store) == -7
    g.set_value(store, 3)
    assert g.value(store) == 3


def test_immutable_global_cannot_be_set():
    store = Store(Engine())
    g = Global(store, GlobalType(ValType.f64(), False), 1.0)
    with pytest.raises(WasmError, match="immutable"):
        g.set_value(store, 2.0)


def test_table_of_externrefs_holds_python_objects():
    store = Store(Engine())
    table = Table(store, TableType(ValType.externref(), Limits(1)), None)
    obj = object()
    assert table.grow(store, 2, obj) == 1
    assert table.get(store, 2) is obj and table.get(store, 0) is None
    table.set(store, 0, "x")
    assert table.get(store, 0) == "x" and table.size(store) == 3


def test_table_set_out_of_bounds_is_an_error():
    store = Store(Engine())
    table = Table(store, TableType(ValType.funcref(), Limits(1)), None)
    with pytest.raises(WasmError, match="out of bounds"):
        table.set(store, 1, None)


def test_funcref_round_trips_through_a_table(instantiate):
    store, inst = instantiate('(module (table (export "t") 1 funcref)'
                              ' (func (export "f") (result i32) (i32.const 9)))')
    ex = inst.exports(store)
    ex["t"].set(store, 0, ex["f"])
    assert ex["t"].get(store, 0) == ex["f"]
    assert ex["t"].get(store, 0)(store) == 9


def test_linker_refuses_redefinition_unless_shadowing_is_allowed():
    linker = Linker(Engine())
    ty = FuncType([], [])
    linker.define_func("env", "f", ty, lambda: None)
    with pytest.raises(WasmError, match="defined twice"):
        linker.define_func("env", "f", ty, lambda: None)
    linker.allow_shadowing = True
    linker.define_func("env", "f", ty, lambda: None)


def test_linker_define_instance_links_exports_by_name():
    engine = Engine()
    store = Store(engine)
    linker = Linker(engine)
    provider = linker.instantiate(store, Module(engine, ADD))
    linker.define_instance(store, "math", provider)
    user = Module(engine, '(module (import "math" "add" (func $add (param i32 i32) (result i32)))'
                          ' (func (export "twice") (param i32) (result i32) (call $add (local.get 0) (local.get 0))))')
    assert linker.instantiate(store, user).exports(store)["twice"](store, 21) == 42


def test_linker_define_refuses_items_of_another_store():
    engine = Engine()
    linker = Linker(engine)
    mem = Memory(Store(engine), MemoryType(Limits(1)))
    with pytest.raises(WasmError, match="different store"):
        linker.define(Store(engine), "env", "m", mem)


def test_linker_get_returns_the_definition():
    engine = Engine()
    store = Store(engine)
    linker = Linker(engine)
    mem = Memory(store, MemoryType(Limits(1)))
    linker.define(store, "env", "m", mem)
    assert linker.get(store, "env", "m") == mem


def test_wat2wasm_produces_a_binary():
    assert wat2wasm("(module)") == b"\0asm\x01\0\0\0"


def test_module_reads_text_given_as_bytes():
    module = Module(Engine(), b'(module (func (export "f")))')
    assert [e.name for e in module.exports] == ["f"]


def test_truncated_binary_is_a_decode_error():
    from wasmforge import DecodeError
    with pytest.raises(DecodeError):
        Module(Engine(), b"\0as")


def test_caller_can_be_passed_as_the_store(instantiate):
    store = Store(Engine())
    out = []
    f = Func(store, FuncType([], []), lambda caller: out.append(caller.get("get")(caller)), access_caller=True)
    _, inst = instantiate('(module (import "env" "f" (func $f)) (func (export "get") (result i32) (i32.const 3))'
                          ' (func (export "run") (call $f)))', [f], store)
    inst.exports(store)["run"](store)
    assert out == [3]


def test_externref_passes_python_objects_through(instantiate):
    store, inst = instantiate('(module (func (export "id") (param externref) (result externref) (local.get 0)))')
    obj = {"any": "object"}
    assert inst.exports(store)["id"](store, obj) is obj
    assert inst.exports(store)["id"](store, None) is None


def test_funcref_from_another_store_is_refused(instantiate):
    store, inst = instantiate('(module (func (export "id") (param funcref) (result funcref) (local.get 0)))')
    other = Store(store.engine)
    foreign = Func(other, FuncType([], []), lambda: None)
    with pytest.raises(WasmError, match="another store"):
        inst.exports(store)["id"](store, foreign)


def test_func_type_with_a_non_value_type_is_refused():
    with pytest.raises(TypeError, match="not a value type"):
        Func(Store(Engine()), FuncType(["i31"], []), lambda x: None)


def test_instances_share_the_module_translation(monkeypatch):
    engine = Engine()
    calls = []
    real = engine.compile
    monkeypatch.setattr(engine, "compile", lambda *a: calls.append(1) or real(*a))
    module = Module(engine, ADD)
    store = Store(engine)
    first = Instance(store, module, []).exports(store)["add"]
    second = Instance(store, module, []).exports(store)["add"]
    assert first(store, 1, 2) == second(store, 3, 4) - 4
    assert len(calls) == 1
