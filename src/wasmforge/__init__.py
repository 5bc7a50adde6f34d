"""wasmforge: a WebAssembly runtime for Python.

The embedding API keeps wasmtime-py's names and call shapes, so code written for it runs by
changing one import::

    from wasmforge import Engine, Store, Module, Linker, FuncType, ValType
"""

from .errors import (DecodeError, ExitTrap, InstantiationError, LinkError, ParseError, Trap, TrapCode,
                     ValidationError, WasmError, WasmtimeError)
from .runtime import (Caller, Config, Engine, ExportType, Func, Global, ImportType, Instance,
                      InstanceExports, InstancePre, Linker, Memory, MemoryAccessError, Module,
                      Store, Table, Val, wat2wasm)
from .types import FuncType, GlobalType, Limits, MemoryType, TableType, ValType

__version__ = "0.1.0"


def __getattr__(name: str):
    # WASI is imported on first use, so `import wasmforge` stays fast for embedders without it.
    if name == "WasiConfig":
        from .wasi import WasiConfig
        return WasiConfig
    raise AttributeError(f"module 'wasmforge' has no attribute {name!r}")


__all__ = [
    "WasmError", "WasmtimeError", "DecodeError", "ParseError", "ValidationError", "LinkError",
    "InstantiationError", "Trap", "TrapCode", "ExitTrap",
    "ValType", "FuncType", "Limits", "MemoryType", "TableType", "GlobalType",
    "Engine", "Config", "Store", "Module", "ImportType", "ExportType", "Linker", "Instance",
    "InstanceExports", "InstancePre", "Caller", "Func", "Memory", "MemoryAccessError", "Table", "Global", "Val",
    "wat2wasm", "WasiConfig",
]
