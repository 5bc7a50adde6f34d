"""wasmforge: a WebAssembly runtime for Python."""

from .errors import (DecodeError, ExitTrap, InstantiationError, LinkError, ParseError, Trap, TrapCode,
                     ValidationError, WasmError, WasmtimeError)
from .types import FuncType, GlobalType, Limits, MemoryType, TableType, ValType

__version__ = "0.1.0"

__all__ = [
    "WasmError", "WasmtimeError", "DecodeError", "ParseError", "ValidationError", "LinkError",
    "InstantiationError", "Trap", "TrapCode", "ExitTrap",
    "ValType", "FuncType", "Limits", "MemoryType", "TableType", "GlobalType",
]
