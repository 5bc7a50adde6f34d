"""Every public method and property of wasmtime-py's classes exists here (the classes of
later issues aside, whose constructors refuse), and wasmtime-py's resource protocol
(``close()``, ``with``) works on every handle that has it there."""

import inspect

import pytest

import wasmforge
from wasmforge import (Config, Engine, FuncType, GlobalType, Limits, Linker, Memory, MemoryType,
                       NotSupportedError, Store, TableType, ValType, WasiConfig, WasmtimeError)

NOT_YET: set = set()


def sample_instances():
    """One object of each class whose wasmtime-py members include instance attributes."""
    return {"Config": Config(), "Store": Store(), "FuncType": FuncType([ValType.i32()], []),
            "GlobalType": GlobalType(ValType.i32(), False), "MemoryType": MemoryType(Limits(1)),
            "TableType": TableType(ValType.funcref(), Limits(1)), "Trap": wasmforge.Trap("x"),
            "TagType": wasmforge.TagType(FuncType([], []))}


def test_every_member_of_the_installed_wasmtime_py():
    wasmtime = pytest.importorskip("wasmtime")
    samples = sample_instances()
    missing = []
    for name in wasmtime.__all__:
        theirs = getattr(wasmtime, name)
        if not inspect.isclass(theirs) or name in NOT_YET:
            continue
        ours = samples.get(name, getattr(wasmforge, name))
        members = [m for m in dir(theirs) if not m.startswith("_")
                   and not (issubclass(theirs, BaseException) and hasattr(Exception, m))
                   and m not in getattr(theirs, "__members__", {})]
        missing += [f"{name}.{m}" for m in members if not hasattr(ours, m)]
    assert not missing


@pytest.mark.parametrize("make", [Config, Engine, Store, lambda: Linker(Engine()), WasiConfig,
                                  lambda: FuncType([], []), lambda: MemoryType(Limits(1)),
                                  lambda: ValType.i64()])
def test_close_and_context_manager(make):
    obj = make()
    with obj as same:
        assert same is obj
    obj.close()
    with pytest.raises(NotSupportedError, match=r"ptr\(\) is not supported"):
        obj.ptr()


def test_wasi_http_is_not_supported_yet():
    with pytest.raises(WasmtimeError, match="set_wasi_http.*not supported yet"):
        Store().set_wasi_http()


def test_a_closed_store_raises_value_error_as_wasmtime_py():
    store = Store()
    memory = Memory(store, MemoryType(Limits(1)))
    store.close()
    store.close()
    with pytest.raises(ValueError, match="closed"):
        memory.size(store)
    with pytest.raises(WasmtimeError, match="closed"):
        store.gc()


def test_growing_by_a_non_integer_is_a_type_error():
    store = Store()
    memory = Memory(store, MemoryType(Limits(1)))
    with pytest.raises(TypeError):
        memory.grow(store, "")
    table = wasmforge.Table(store, TableType(ValType.funcref(), Limits(1)), None)
    with pytest.raises(TypeError):
        table.grow(store, "x", None)
    with pytest.raises(WasmtimeError):
        table.grow(store, -1, None)


def test_classes_of_later_issues_have_wasmtime_members_too():
    wasmtime = pytest.importorskip("wasmtime")
    missing = [f"{name}.{m}" for name in sorted(NOT_YET) for m in dir(getattr(wasmtime, name))
               if not m.startswith("_") and not hasattr(getattr(wasmforge, name), m)]
    assert not missing


#: Where the parameters differ on purpose: wasmtime-py 50's third parameter is ``fs_mutable``
#: (a bool); here it is ``dir_perms``, which also takes that bool, and ``fs_mutable`` is a
#: keyword (tests/compat/test_wasi.py).
PARAMETER_EXCEPTIONS = {"WasiConfig.preopen_dir"}


def _parameters(function):
    try:
        return list(inspect.signature(function).parameters.values())
    except (TypeError, ValueError):
        return None


def test_every_method_takes_wasmtime_py_parameter_names():
    # Same names in the same order (so keyword and positional calls both work); what is
    # added after them has a default.
    wasmtime = pytest.importorskip("wasmtime")
    differ = []
    for name in wasmtime.__all__:
        theirs = getattr(wasmtime, name)
        ours = getattr(wasmforge, name)
        if inspect.isclass(theirs):
            methods = [(f"{name}.{m}", getattr(theirs, m), getattr(ours, m, None)) for m in dir(theirs)
                       if (not m.startswith("_") or m == "__init__") and inspect.isfunction(getattr(theirs, m))]
        elif inspect.isfunction(theirs):
            methods = [(name, theirs, ours)]
        else:
            continue
        for label, their_f, our_f in methods:
            if label in PARAMETER_EXCEPTIONS or label.endswith(".__init__") and (
                    issubclass(theirs, BaseException) or name in ("Caller", "StoreContext", "Val")):
                continue        # constructors wasmtime-py calls itself, not its users
            mine, other = _parameters(our_f), _parameters(their_f)
            if mine is None or other is None:
                continue
            names = [p.name for p in mine]
            if names[:len(other)] != [p.name for p in other] or any(
                    p.default is inspect.Parameter.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
                    for p in mine[len(other):]):
                differ.append(f"{label}: {[p.name for p in other]} vs {names}")
    assert not differ
