"""Runtime objects (store, instances, memories, tables, globals, functions), instantiation,
and the embedding API built on them."""

from .api import (Caller, ExportType, Func, Global, ImportType, Instance, InstanceExports, Memory,
                  Module, Table, wat2wasm)
from .engine import Config, Engine
from .func import FuncInstance, HostFunc
from .glob import GlobalInstance
from .instance import ModuleInstance, eval_const, instantiate
from .linker import InstancePre, Linker
from .memory import MemoryAccessError, MemoryInstance
from .store import Store
from .table import TableInstance
from .values import Val

__all__ = [
    "Engine", "Config", "Store", "Module", "ImportType", "ExportType", "Linker", "Instance",
    "InstanceExports", "InstancePre", "Caller", "Func", "Memory", "Table", "Global", "Val", "wat2wasm",
    "MemoryAccessError", "FuncInstance", "HostFunc", "GlobalInstance", "MemoryInstance",
    "TableInstance", "ModuleInstance", "eval_const", "instantiate",
]
