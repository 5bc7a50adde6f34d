"""The public embedding API, with wasmtime-py's names and call shapes: handles over the
runtime's objects (runtime/).  Nothing below this package imports it; ``wasmforge``
re-exports it."""

from .engine import TIERS, Config, Engine
from .handles import (Caller, ExportType, Func, Global, ImportType, Instance, InstanceExports, Memory,
                      Module, SharedMemory, Table, wat2wasm)
from .linker import InstancePre, Linker
from .store import Store
from .values import Val

__all__ = [
    "Engine", "Config", "Store", "Module", "ImportType", "ExportType", "Linker", "Instance",
    "InstanceExports", "InstancePre", "Caller", "Func", "Memory", "SharedMemory", "Table", "Global", "Val", "wat2wasm",
    "TIERS",
]
