"""Host functions: Python callables with a FuncType, optionally taking a Caller."""

import pytest

from wasmforge import Caller, Engine, Func, FuncType, Linker, Module, Store, ValType, WasmError


CALL_F = ('(module (import "env" "f" (func $f (param i32) (result i32)))'
          ' (func (export "run") (param i32) (result i32) (call $f (local.get 0))))')


def test_host_function_receives_signed_values(instantiate):
    store = Store(Engine())
    seen = []
    f = Func(store, FuncType([ValType.i32()], [ValType.i32()]), lambda x: seen.append(x) or x)
    _, inst = instantiate(CALL_F, [f], store)
    assert inst.exports(store)["run"](store, -3) == -3
    assert seen == [-3]


def test_host_function_can_be_called_directly():
    store = Store(Engine())
    f = Func(store, FuncType([ValType.i64()], [ValType.i64()]), lambda x: x * 2)
    assert f(store, -4) == -8


def test_exception_from_host_function_propagates_unchanged(instantiate):
    class Boom(Exception):
        pass
    err = Boom("boom")

    def fail(x):
        raise err
    store = Store(Engine())
    f = Func(store, FuncType([ValType.i32()], [ValType.i32()]), fail)
    _, inst = instantiate(CALL_F, [f], store)
    with pytest.raises(Boom) as info:
        inst.exports(store)["run"](store, 1)
    assert info.value is err


def test_host_result_of_wrong_type_is_an_error(instantiate):
    store = Store(Engine())
    f = Func(store, FuncType([ValType.i32()], [ValType.i32()]), lambda x: "no")
    _, inst = instantiate(CALL_F, [f], store)
    with pytest.raises(TypeError, match="expected an int"):
        inst.exports(store)["run"](store, 1)


def test_host_returning_a_value_for_no_results_is_an_error():
    store = Store(Engine())
    f = Func(store, FuncType([], []), lambda: 5)
    with pytest.raises(WasmError, match="has no results"):
        f(store)


def test_host_function_with_several_results(instantiate):
    store = Store(Engine())
    f = Func(store, FuncType([], [ValType.i32(), ValType.f64()]), lambda: (-1, 0.5))
    _, inst = instantiate('(module (import "env" "f" (func $f (result i32 f64)))'
                          ' (func (export "run") (result i32 f64) (call $f)))', [f], store)
    assert inst.exports(store)["run"](store) == [-1, 0.5]


def test_caller_reaches_the_importing_instance_memory():
    engine = Engine()
    store = Store(engine)
    linker = Linker(engine)

    def poke(caller, addr):
        assert isinstance(caller, Caller)
        caller.get("memory").write(caller, b"ok", addr)
    linker.define_func("env", "poke", FuncType([ValType.i32()], []), poke, access_caller=True)
    module = Module(engine, '(module (import "env" "poke" (func $p (param i32))) (memory (export "memory") 1)'
                            ' (func (export "run") (call $p (i32.const 5))))')
    inst = linker.instantiate(store, module)
    inst.exports(store)["run"](store)
    assert inst.exports(store)["memory"].read(store, 5, 7) == b"ok"


def test_a_host_function_with_caller_is_bound_per_instance_as_one_class_of_objects():
    # Each importing instance gets its own binding (its Caller reaches that instance).  WASI's
    # were objects of a class made once per function, two slots set per instance; every other
    # host function's a FuncInstance of seven fields constructed per instance.  One way now.
    from wasmforge.runtime.func import FuncInstance
    engine = Engine()
    store = Store(engine)
    linker = Linker(engine)

    def poke(caller, addr, byte):
        caller.get("memory").write(caller, bytes([byte]), addr)
    linker.define_func("env", "poke", FuncType([ValType.i32(), ValType.i32()], []), poke,
                       access_caller=True)
    module = Module(engine, '(module (import "env" "poke" (func $p (param i32 i32)))'
                            ' (memory (export "memory") 1)'
                            ' (func (export "run") (param i32) (call $p (i32.const 5) (local.get 0))))')
    insts = [linker.instantiate(store, module) for _ in range(3)]
    for k, inst in enumerate(insts):
        inst.exports(store)["run"](store, k + 1)
    assert [inst.exports(store)["memory"].read(store, 5, 6) for inst in insts] == [b"\x01", b"\x02", b"\x03"]
    bindings = [inst._inst.funcs[0] for inst in insts]
    assert len({id(f) for f in bindings}) == 3 and len({type(f) for f in bindings}) == 1
    f = bindings[0]
    assert type(f) is not FuncInstance and isinstance(f, FuncInstance)
    assert f.host is not None and f.host.access_caller and f.inst is None and f.index is None


def test_caller_get_of_missing_export_is_none(instantiate):
    store = Store(Engine())
    seen = []
    f = Func(store, FuncType([], []), lambda caller: seen.append(caller.get("nope")), access_caller=True)
    _, inst = instantiate('(module (import "env" "f" (func $f)) (func (export "run") (call $f)))', [f], store)
    inst.exports(store)["run"](store)
    assert seen == [None]


def test_caller_is_invalid_after_the_call():
    store = Store(Engine())
    kept = []
    f = Func(store, FuncType([], []), lambda caller: kept.append(caller), access_caller=True)
    f(store)
    # As wasmtime-py: get() finds nothing any more; used as a store it raises.
    assert kept[0].get("memory") is None
    with pytest.raises(WasmError, match="no longer valid"):
        Func(kept[0], FuncType([], []), lambda: None)


def test_host_function_bound_for_caller_is_still_the_same_func(instantiate):
    store = Store(Engine())
    f = Func(store, FuncType([], []), lambda caller: None, access_caller=True)
    _, inst = instantiate('(module (import "env" "f" (func $f)) (export "g" (func $f)))', [f], store)
    assert inst.exports(store)["g"] == f


def test_func_type_of_a_host_function():
    store = Store(Engine())
    ty = FuncType([ValType.f32()], [])
    assert Func(store, ty, lambda x: None).type(store) == ty


def test_func_requires_a_func_type():
    with pytest.raises(TypeError, match="expected a FuncType"):
        Func(Store(Engine()), [ValType.i32()], print)


def test_store_stays_usable_after_a_host_exception(instantiate):
    calls = []

    def flaky(x):
        calls.append(x)
        if x == 0:
            raise ValueError("zero")
        return x
    store = Store(Engine())
    f = Func(store, FuncType([ValType.i32()], [ValType.i32()]), flaky)
    _, inst = instantiate(CALL_F, [f], store)
    run = inst.exports(store)["run"]
    for _ in range(3):
        with pytest.raises(ValueError):
            run(store, 0)
    assert run(store, 5) == 5
