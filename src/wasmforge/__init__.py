"""wasmforge: a WebAssembly runtime for Python.

The embedding API keeps wasmtime-py's names and call shapes, so code written for it runs by
changing one import::

    from wasmforge import Engine, Store, Module, Linker, FuncType, ValType
"""

import gc as _gc
from typing import TYPE_CHECKING, Any, Union

# No collection while the package is imported: what its modules make (classes, functions,
# tables) lives as long as they do, and ~40 collections walked it on every import (4-6 ms
# of a warm `wasmforge run`'s CPU, docs/performance.md "Big programs").  The collector is
# left as it was found.
_collecting = _gc.isenabled()
_gc.disable()
try:
    from .errors import (ClosedError, ConfigError, DecodeError, ExitTrap, Frame, Handle, InstantiationError,
                         LinkError, NotSupportedError, ParseError, StoreBusyError, Trap, TrapCode, ValidationError,
                         WasmError, WasmException, WasmtimeError, WasmTypeError)
    from ._version import __version__ as __version__
    from .api import (Caller, Config, Engine, ExportType, Func, Global, ImportType, Instance,
                      InstanceExports, InstancePre, Linker, Memory, Module, SharedMemory, Store, Table, Val,
                      wat2wasm)
    from .runtime.memory import MemoryAccessError
    from .runtime.tag import Exn, Tag
    from .types import FuncType, GlobalType, Limits, MemoryType, TableType, TagType, ValType
finally:
    if _collecting:
        _gc.enable()
    del _collecting, _gc

#: wasmtime-py's context handed to host callbacks; here the :class:`Caller` is that context
#: (it reaches the calling instance's exports and stands for the store).
StoreContext = Caller
#: wasmtime-py's type of what every ``store`` parameter accepts.
Storelike = Union[Store, Caller]
#: wasmtime-py's base of its handles (``close()``, ``with``).
Managed = Handle


if TYPE_CHECKING:
    # Type checkers see the WASI names directly; at run time they load on first use.
    from .wasi.config import DirPerms, FilePerms, WasiConfig


def __getattr__(name: str) -> Any:
    # WASI is imported on first use, so `import wasmforge` stays fast for embedders without it.
    if name in ("WasiConfig", "DirPerms", "FilePerms"):
        from .wasi import config  # start-up speed: WASI loads on first use
        value = getattr(config, name)
        # Kept as a plain attribute: a server making a WasiConfig per request looked the name
        # up through this function (and the import system) every time, several microseconds.
        globals()[name] = value
        return value
    raise AttributeError(f"module 'wasmforge' has no attribute {name!r}")


__all__ = [
    "WasmError", "WasmtimeError", "DecodeError", "ParseError", "ValidationError", "LinkError",
    "InstantiationError", "NotSupportedError", "ConfigError", "WasmTypeError", "ClosedError", "Trap",
    "StoreBusyError", "TrapCode", "Frame", "ExitTrap", "WasmException", "Exn",
    "ValType", "FuncType", "Limits", "MemoryType", "TableType", "GlobalType",
    "Engine", "Config", "Store", "Module", "ImportType", "ExportType", "Linker", "Instance",
    "InstanceExports", "InstancePre", "Caller", "Func", "Memory", "MemoryAccessError", "Table", "Global", "Val",
    "wat2wasm", "WasiConfig", "DirPerms", "FilePerms", "StoreContext", "SharedMemory", "Tag", "TagType",
]
