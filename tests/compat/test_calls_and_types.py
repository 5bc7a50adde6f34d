"""Call errors, types and values with wasmtime-py's shapes and exception types."""

import pytest

from wasmforge import (DecodeError, Engine, Func, FuncType, Global, GlobalType, Instance, Limits, Memory, MemoryType,
                       Module, Store, Val, ValType, WasmtimeError)

ADD = '(module (func (export "add") (param i32 i32) (result i32) (i32.add (local.get 0) (local.get 1))))'


def test_wrong_argument_count_is_a_wasmtime_error(instantiate):
    store, inst = instantiate(ADD)
    add = inst.exports(store)["add"]
    with pytest.raises(WasmtimeError, match="too few parameters provided: given 1, expected 2"):
        add(store, 1)
    with pytest.raises(WasmtimeError, match="too many parameters provided: given 3, expected 2"):
        add(store, 1, 2, 3)
    with pytest.raises(TypeError):         # still a TypeError, as before
        add(store)


def test_host_function_returning_the_wrong_shape_is_a_type_error(engine):
    store = Store(engine)
    pair = Func(store, FuncType([], [ValType.i32(), ValType.i32()]), lambda: 1)
    with pytest.raises(TypeError):
        pair(store)
    with pytest.raises(WasmtimeError):
        pair(store)
    nothing = Func(store, FuncType([], []), lambda: 1)
    with pytest.raises(WasmtimeError, match="no results"):
        nothing(store)


def test_functype_params_compare_with_lists_of_valtypes():
    ty = FuncType([ValType.i32(), ValType.f64()], [ValType.i64()])
    assert ty.params == [ValType.i32(), ValType.f64()]
    assert ty.results == [ValType.i64()]
    assert [ValType.i64()] == ty.results
    assert ty.params[0] == ValType.i32() and str(ty.results[0]) == "i64"
    assert ty.params != [ValType.i32()]
    assert ty == FuncType(["i32", "f64"], ["i64"]) and hash(ty) == hash(FuncType(["i32", "f64"], ["i64"]))


def test_val_i32_and_i64_wrap_like_wasmtime():
    assert Val.i32(2**32 + 5).value == 5
    assert Val.i32(2**31).value == -2**31
    assert Val.i32(-1).value == -1
    assert Val.i64(2**64 + 7).value == 7
    assert Val.i64(2**63).value == -2**63
    with pytest.raises(TypeError):
        Val.i32("1")


def test_memory_type_properties():
    ty = MemoryType(Limits(1, 2))
    assert (ty.is_64, ty.is_shared, ty.page_size, ty.page_size_log2) == (False, False, 65536, 16)
    assert ty.limits == Limits(1, 2)


def test_empty_bytes_are_not_a_module():
    engine = Engine()
    with pytest.raises(DecodeError, match="unexpected end"):
        Module(engine, b"")
    with pytest.raises(WasmtimeError, match="unexpected end"):
        Module.validate(engine, b"")


def test_store_gc_and_engine_is_pulley():
    engine = Engine()
    store = Store(engine)
    assert store.gc() is None
    assert engine.is_pulley() is False


def test_context_managers_and_close():
    with Engine() as engine:
        with Module(engine, ADD) as module:
            with Store(engine) as store:
                assert repr(module).startswith("<Module")
            assert store.closed
        engine.close()
    store = Store(engine)
    assert Instance(store, module, []).exports(store)["add"](store, 2, 3) == 5


def test_wasmtime_keyword_names():
    from wasmforge import GlobalType, TableType, WasiConfig
    assert GlobalType(valtype=ValType.i64(), mutable=True).content == "i64"
    assert TableType(valtype=ValType.externref(), limits=Limits(1, None)).element == "externref"
    assert Val.externref(extern=3).value == 3
    wasi = WasiConfig()
    wasi.preopen_dir(path=".", guest_path="/", fs_mutable=False)
    assert wasi.preopens[0].read_only


def test_functype_params_stay_plain_names():
    # The validator and the tiers compare type names by identity with the interned constants.
    from wasmforge.types import I32
    assert FuncType([I32], []).params[0] is I32


def test_functype_refuses_what_is_not_a_type():
    with pytest.raises(TypeError, match="expected ValType"):
        FuncType([1], [])
    with pytest.raises(TypeError, match="expected ValType"):
        FuncType([], [None])


WIDE = ('(module (func (export "f") (param i32 i64) (result i32 i64) (local.get 0) (local.get 1))'
        ' (global (export "g") (mut i32) (i32.const 0)))')
OUT_OF_RANGE = [(2**32, 0), (2**31, 2**63), (-2**31 - 1, -2**63 - 1), (2**40 + 3, 2**64 + 5),
                (2**100, -2**100 - 1), (True, False)]


@pytest.mark.parametrize("args", OUT_OF_RANGE)
def test_out_of_range_arguments_wrap_as_in_wasmtime_py(instantiate, args):
    store, inst = instantiate(WIDE)
    a, b = args
    assert inst.exports(store)["f"](store, a, b) == [
        (a + 2**31) % 2**32 - 2**31, (b + 2**63) % 2**64 - 2**63]


def test_out_of_range_matches_the_installed_wasmtime_py(instantiate):
    wasmtime = pytest.importorskip("wasmtime")
    wstore = wasmtime.Store(wasmtime.Engine())
    wf = wasmtime.Instance(wstore, wasmtime.Module(wstore.engine, WIDE), []).exports(wstore)["f"]
    store, inst = instantiate(WIDE)
    f = inst.exports(store)["f"]
    for a, b in OUT_OF_RANGE:
        assert f(store, a, b) == wf(wstore, a, b)
    with pytest.raises(TypeError):
        f(store, 1.5, 0)
    with pytest.raises(TypeError):
        wf(wstore, 1.5, 0)


def test_host_results_and_globals_wrap_as_in_wasmtime_py(instantiate):
    store, inst = instantiate(WIDE)
    host = Func(store, FuncType([], [ValType.i32()]), lambda: 2**40 + 7)
    assert host(store) == 7
    g = inst.exports(store)["g"]
    g.set_value(store, 2**31)
    assert g.value(store) == -2**31
    assert Global(store, GlobalType(ValType.i64(), False), 2**64 + 3).value(store) == 3


def test_store_data_is_a_method_as_in_wasmtime_py():
    payload = {"user": 1}
    assert Store(Engine(), payload).data() is payload
    assert Store().data() is None


def test_a_host_memory_beyond_four_gib_is_refused_as_in_wasmtime():
    store = Store()
    with pytest.raises(WasmtimeError, match="too large"):
        Memory(store, MemoryType(Limits(1, 65537)))
    assert Memory(store, MemoryType(Limits(1, 65536))).size(store) == 1


def test_an_expired_caller_finds_nothing_as_in_wasmtime_py(engine):
    # wasmtime-py's test_access_caller: after the host call, also after one that raised,
    # caller.get() returns None.
    store = Store(engine)
    module = Module(engine, '(module (import "" "" (func)) (memory (export "foo") 1) (start 0))')
    kept = []

    def keep(caller):
        kept.append(caller)
        assert caller.get("foo") is not None

    Instance(store, module, [Func(store, FuncType([], []), keep, access_caller=True)])

    def fail(caller):
        kept.append(caller)
        raise WasmtimeError("foo")

    with pytest.raises(WasmtimeError, match="foo"):
        Instance(store, module, [Func(store, FuncType([], []), fail, access_caller=True)])
    assert [caller.get("foo") for caller in kept] == [None, None]
    with pytest.raises(KeyError):
        kept[0]["foo"]


def test_a_64_bit_host_memory_may_have_a_larger_maximum():
    store = Store()
    memory = Memory(store, MemoryType(Limits(1, 70000), is_64=True))
    assert memory.size(store) == 1 and memory.type(store).is_64
