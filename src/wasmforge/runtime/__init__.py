"""The spec's store (spec 4.2): module instances, functions, memories, tables, globals,
instantiation, constant expressions and metering.  It imports nothing above it: the public
handles that wrap these objects are in ``wasmforge.api``, the execution tiers implement the
contract in :mod:`.tier`."""

from .func import FuncInstance, HostFunc
from .glob import GlobalInstance
from .instance import ModuleInstance, eval_const, instantiate
from .memory import MemoryAccessError, MemoryInstance
from .store import Store
from .table import TableInstance

__all__ = [
    "FuncInstance", "HostFunc", "GlobalInstance", "MemoryAccessError", "MemoryInstance",
    "ModuleInstance", "Store", "TableInstance", "eval_const", "instantiate",
]
