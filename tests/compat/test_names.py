"""Every public name of wasmtime-py 50 imports from wasmforge; the features of later issues
exist as names that raise a clear NotSupportedError (a WasmtimeError)."""

import pytest

import wasmforge
from wasmforge import Engine, FuncType, Limits, MemoryType, NotSupportedError, Store, ValType, WasmtimeError

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


def test_shared_memory_is_not_supported_yet():
    with pytest.raises(NotSupportedError, match="SharedMemory is not supported yet.*threads"):
        wasmforge.SharedMemory(Engine(), MemoryType(Limits(1, 1)))


def test_tags_are_not_supported_yet():
    with pytest.raises(WasmtimeError, match="TagType is not supported yet.*exception"):
        wasmforge.TagType(FuncType([ValType.i32()], []))
    with pytest.raises(NotSupportedError, match="Tag is not supported yet"):
        wasmforge.Tag(Store(), None)


def test_shared_or_64_bit_memory_types_are_not_supported_yet():
    with pytest.raises(NotSupportedError, match="shared"):
        MemoryType(Limits(1, 1), shared=True)
    with pytest.raises(NotSupportedError, match="is_64"):
        MemoryType(Limits(1, 1), is_64=True)


def test_store_context_is_the_caller():
    assert wasmforge.StoreContext is wasmforge.Caller
