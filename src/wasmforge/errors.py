"""The one exception tree of wasmforge.

Every error the library raises on purpose derives from :class:`WasmError`, so callers can
catch one class.  Each subclass carries the position that makes it actionable: a byte offset
for binary input, ``line:column`` for text, a function index and instruction offset for
validation.
"""

from __future__ import annotations

import enum


def printable(text: str) -> str:
    """``text`` made safe to show on a terminal: every character that is not printable
    (control characters such as ESC, format characters such as the bidi overrides
    U+202A-U+202E and U+2066-U+2069, separators other than space, surrogates, unassigned
    code points) becomes a Python-style escape (``\\x1b``, ``\\u202e``, ``\\U000e0001``),
    and a backslash is doubled so the escapes stay unambiguous.  Names from a module's name
    section and exports are attacker-chosen; printed raw they could rewrite the terminal."""
    if text.isprintable() and "\\" not in text:
        return text
    out = []
    for c in text:
        if c == "\\":
            out.append("\\\\")
        elif c.isprintable():
            out.append(c)
        else:
            n = ord(c)
            out.append(f"\\x{n:02x}" if n < 0x100 else f"\\u{n:04x}" if n < 0x10000 else f"\\U{n:08x}")
    return "".join(out)


#: A backtrace longer than BACKTRACE_HEAD + BACKTRACE_TAIL frames is shown as its innermost
#: BACKTRACE_HEAD and outermost BACKTRACE_TAIL frames and a count of those omitted (a stack
#: overflow has ~16,000); :attr:`Trap.frames` stays complete.
BACKTRACE_HEAD = 16
BACKTRACE_TAIL = 16


def backtrace_lines(frames, line) -> list:
    """The lines showing ``frames`` (``(func index, name or None)``, innermost first):
    ``line(i, index, name)`` formats frame ``i`` with its name already made
    :func:`printable`; long backtraces are cut in the middle (see BACKTRACE_HEAD)."""
    n = len(frames)
    if n <= BACKTRACE_HEAD + BACKTRACE_TAIL:
        shown = [(range(n), None)]
    else:
        omitted = n - BACKTRACE_HEAD - BACKTRACE_TAIL
        shown = [(range(BACKTRACE_HEAD), f"... {omitted:,} frame{'s' if omitted != 1 else ''} omitted ..."),
                 (range(n - BACKTRACE_TAIL, n), None)]
    lines = []
    for indices, after in shown:
        for i in indices:
            frame = frames[i]
            name = frame[1] if len(frame) > 1 else None
            lines.append(line(i, frame[0], printable(name) if name else None))
        if after is not None:
            lines.append(after)
    return lines


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
    by the runtime as the trap unwinds (each frame names its function from the name section).
    ``str(trap)`` escapes the names (:func:`printable`) and shows at most
    BACKTRACE_HEAD + BACKTRACE_TAIL frames; ``frames`` keeps them all, unescaped."""

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
        lines += backtrace_lines(
            self.frames, lambda i, index, name: f"  {i}: func[{index}]" + (f" <{name}>" if name else ""))
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
