"""The one exception tree of wasmforge.

Every error the library raises on purpose derives from :class:`WasmError`, so callers can
catch one class.  Each subclass carries the position that makes it actionable: a byte offset
for binary input, ``line:column`` for text, a function index and instruction offset for
validation.
"""

from __future__ import annotations

import enum


class WasmError(Exception):
    """Base class of every error raised by wasmforge (wasmtime-py calls this ``WasmtimeError``)."""


class DecodeError(WasmError):
    """The bytes are not a well-formed WebAssembly binary."""

    def __init__(self, message: str, offset: int | None = None):
        self.reason = message
        self.offset = offset
        if offset is None:
            super().__init__(message)
        else:
            super().__init__(f"{message} (at byte offset {offset:#x})")


class ParseError(WasmError):
    """The text is not well-formed WAT or WAST."""

    def __init__(self, message: str, line: int = 0, column: int = 0, filename: str | None = None):
        self.reason = message
        self.line = line
        self.column = column
        self.filename = filename
        where = f"{line}:{column}"
        if filename:
            where = f"{filename}:{where}"
        super().__init__(f"{where}: {message}")


class ValidationError(WasmError):
    """The module is well-formed but breaks a validation rule of the specification."""

    def __init__(self, message: str, func: int | None = None, offset: int | None = None):
        self.reason = message
        self.func = func
        self.offset = offset
        where = []
        if func is not None:
            where.append(f"in function {func}")
        if offset is not None:
            where.append(f"at offset {offset:#x}")
        super().__init__(message + (f" ({', '.join(where)})" if where else ""))


class LinkError(WasmError):
    """Instantiation failed because an import is missing or has the wrong type."""


class InstantiationError(WasmError):
    """Instantiation failed for a reason other than linking (resource limits, a trap in the start function)."""


class TrapCode(enum.Enum):
    """Why execution trapped.  The value is the message the spec test suite uses."""

    STACK_OVERFLOW = "call stack exhausted"
    MEMORY_OUT_OF_BOUNDS = "out of bounds memory access"
    HEAP_MISALIGNED = "unaligned atomic"
    TABLE_OUT_OF_BOUNDS = "out of bounds table access"
    UNDEFINED_ELEMENT = "undefined element"
    UNINITIALIZED_ELEMENT = "uninitialized element"
    INDIRECT_CALL_TYPE_MISMATCH = "indirect call type mismatch"
    BAD_SIGNATURE = "indirect call type mismatch (signature)"
    INTEGER_OVERFLOW = "integer overflow"
    INTEGER_DIVISION_BY_ZERO = "integer divide by zero"
    BAD_CONVERSION_TO_INTEGER = "invalid conversion to integer"
    UNREACHABLE_CODE_REACHED = "unreachable"
    NULL_REFERENCE = "null reference"
    INTERRUPT = "interrupt"
    OUT_OF_FUEL = "all fuel consumed by WebAssembly"


class Trap(WasmError):
    """Execution of WebAssembly code trapped.

    ``code`` is a :class:`TrapCode`; ``frames`` the wasm backtrace, innermost first, filled in
    by the runtime as the trap unwinds (each frame names its function from the name section)."""

    def __init__(self, message: str, code: "TrapCode | None" = None, frames=None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.frames = list(frames or [])

    @property
    def trace(self):
        return self.frames

    @property
    def trap_code(self) -> "TrapCode | None":
        """wasmtime-py's name for :attr:`code`."""
        return self.code

    def __str__(self) -> str:
        # The frames are appended while the trap unwinds, so the text is built when shown.
        if not self.frames:
            return self.message
        lines = [self.message, "wasm backtrace:"]
        for i, (index, name) in enumerate(self.frames):
            lines.append(f"  {i}: func[{index}]" + (f" <{name}>" if name else ""))
        return "\n".join(lines)


class ExitTrap(WasmError):
    """A WASI program called ``proc_exit``; ``code`` is its exit status."""

    def __init__(self, code: int):
        super().__init__(f"Exited with i32 exit status {code}")
        self.code = code


# wasmtime-py's name for the base class, so code written for it keeps working.
WasmtimeError = WasmError

__all__ = [
    "WasmError", "WasmtimeError", "DecodeError", "ParseError", "ValidationError",
    "LinkError", "InstantiationError", "Trap", "TrapCode", "ExitTrap",
]
