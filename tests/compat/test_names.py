"""Every public name of wasmtime-py 50 imports from wasmforge; the features of later issues
exist as names that raise a clear NotSupportedError (a WasmtimeError)."""

import pytest

import wasmforge
import wasmforge.component as component
from wasmforge import (Caller, Engine, FuncType, Limits, MemoryType, NotSupportedError, Store, Storelike,
                       ValType)
from wasmforge.errors import Handle

#: wasmtime-py 50's ``wasmtime.__all__`` plus DirPerms/FilePerms (wasmtime-py's WASI
#: permissions, which its docs show with ``preopen_dir``).
WASMTIME_NAMES = [
    "wat2wasm", "Config", "Engine", "Store", "FuncType", "GlobalType", "MemoryType", "TableType",
    "ValType", "Limits", "ImportType", "ExportType", "Val", "Func", "Caller", "Table", "Memory",
    "SharedMemory", "Global", "Trap", "TrapCode", "ExitTrap", "Frame", "Module", "Instance",
    "WasiConfig", "Linker", "WasmtimeError", "StoreContext", "TagType", "Tag", "InstancePre",
    "DirPerms", "FilePerms",
]


@pytest.mark.parametrize("name", WASMTIME_NAMES)
def test_name_exists(name):
    assert getattr(wasmforge, name) is not None
    assert name in wasmforge.__all__


def test_star_import_gives_every_name():
    namespace = {}
    exec("from wasmforge import *", namespace)
    missing = [n for n in WASMTIME_NAMES if n not in namespace]
    assert not missing


def test_matches_the_installed_wasmtime_py():
    wasmtime = pytest.importorskip("wasmtime")
    missing = [n for n in wasmtime.__all__ if not hasattr(wasmforge, n)]
    assert not missing


def test_shared_memory_needs_a_shared_type_with_a_maximum():
    # (threads; behaviour across Python threads in tests/runtime/test_threads.py)
    engine = Engine()
    with pytest.raises(wasmforge.WasmError, match="shared MemoryType"):
        wasmforge.SharedMemory(engine, MemoryType(Limits(1, 1)))
    with pytest.raises(wasmforge.WasmError, match="maximum"):
        wasmforge.SharedMemory(engine, MemoryType(Limits(1), shared=True))
    mem = wasmforge.SharedMemory(engine, MemoryType(Limits(1, 3), shared=True))
    assert (mem.size(), mem.data_len(), mem.type().is_shared) == (1, 65536, True)
    assert mem.grow(2) == 1 and mem.size() == 3


def test_tags_are_wasmtime_py_tags():
    # (exception handling; behaviour in tests/runtime/test_exceptions.py)
    ty = wasmforge.TagType(FuncType([ValType.i32()], []))
    assert ty.functype == FuncType([ValType.i32()], [])
    store = Store()
    tag = wasmforge.Tag(store, ty)
    assert tag.type(store) == ty and tag.eq(store, tag)
    assert not tag.eq(store, wasmforge.Tag(store, ty))
    with pytest.raises(TypeError):
        wasmforge.Tag(store, None)
    with pytest.raises(TypeError):
        wasmforge.TagType([ValType.i32()])


def test_shared_memory_types():
    # threads: a shared memory type, as wasmtime-py's; another page size is not supported yet.
    ty = MemoryType(Limits(1, 1), shared=True)
    assert ty.is_shared and not MemoryType(Limits(1, 1)).is_shared
    assert ty != MemoryType(Limits(1, 1))
    with pytest.raises(NotSupportedError, match="page"):
        MemoryType(Limits(1, 1), page_size_log2=0)
    # 64-bit memories are (the memory64 proposal).
    assert MemoryType(Limits(1, 1), is_64=True).is_64


def test_store_context_is_the_caller():
    assert wasmforge.StoreContext is wasmforge.Caller


def test_every_component_name_of_the_installed_wasmtime_py():
    wasmtime_component = pytest.importorskip("wasmtime.component")
    public = [n for n in dir(wasmtime_component) if not n.startswith("_") and n[0].isupper()]
    assert not [n for n in public if not hasattr(component, n)]
    assert sorted(component.__all__) == sorted(wasmtime_component.__all__)


def test_every_component_name_is_real():
    assert list(component.__all__) == list(component.NAMES)
    for name in component.NAMES:
        assert getattr(component, name) is not None
    with pytest.raises(AttributeError):
        component.NoSuchName        # noqa: B018


def test_storelike_and_managed():
    assert Storelike.__args__ == (Store, Caller)
    assert wasmforge.Managed is Handle
