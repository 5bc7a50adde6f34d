"""The one exception tree of wasmforge.

Every error the library raises on purpose derives from :class:`WasmError`, so callers can
catch one class.  Each subclass carries the position that makes it actionable: a byte offset
for binary input, ``line:column`` for text, a function index and instruction offset for
validation.
"""

from __future__ import annotations

import enum
import os
from typing import (Any, Callable, Iterable, Iterator, List, NamedTuple, NoReturn, Optional, Sequence,
                    SupportsIndex, Tuple, TypeVar, Union, overload)

_H = TypeVar("_H", bound="Handle")


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


#: rustc's legacy mangling's escapes (rustc-demangle, legacy.rs)
_RUST_ESCAPES = {"SP": "@", "BP": "*", "RF": "&", "LT": "<", "GT": ">", "LP": "(", "RP": ")", "C": ","}


def demangle(name: str) -> str:
    """``name`` demangled as wasmtime shows a function's DWARF name: a Rust symbol of rustc's
    legacy mangling (``_ZN4core9panicking5panic17h0e3d223f43db58cfE`` is
    ``core::panicking::panic::h0e3d223f43db58cf``); anything else as it is (wasmtime also
    demangles C++ names, which are shown mangled here)."""
    for prefix in ("_ZN", "ZN", "__ZN"):
        if name.startswith(prefix) and len(name) > len(prefix):
            inner = name[len(prefix):]
            break
    else:
        return name
    cut = inner.find(".llvm.")
    if cut >= 0 and all(c in "0123456789ABCDEF@" for c in inner[cut + 6:]):
        inner = inner[:cut]             # a ThinLTO suffix
    if not inner.isascii():
        return name
    elements, pos = [], 0
    while pos < len(inner) and inner[pos] != "E":
        start = pos
        while pos < len(inner) and inner[pos].isdigit():
            pos += 1
        if pos == start:
            return name
        end = pos + int(inner[start:pos])
        if end > len(inner):
            return name
        elements.append(inner[pos:end])
        pos = end
    if pos >= len(inner) or not elements:
        return name
    suffix = inner[pos + 1:]
    if suffix and not suffix.startswith("."):
        return name                     # not Rust's (a C++ name has its parameters here)
    out = []
    for element in elements:
        rest, text = (element[1:] if element.startswith("_$") else element), []
        while rest:
            if rest.startswith(".."):
                text.append("::")
                rest = rest[2:]
            elif rest.startswith("$"):
                end = rest.find("$", 1)
                if end < 0:
                    break
                escape = rest[1:end]
                if escape in _RUST_ESCAPES:
                    text.append(_RUST_ESCAPES[escape])
                elif (escape.startswith("u") and len(escape) > 1
                      and all(c in "0123456789abcdef" for c in escape[1:]) and int(escape[1:], 16) < 0x110000
                      and chr(int(escape[1:], 16)).isprintable()):
                    text.append(chr(int(escape[1:], 16)))
                else:
                    break
                rest = rest[end + 1:]
            else:
                k = min((i for i in (rest.find("$"), rest.find(".")) if i >= 0), default=-1)
                if k < 0:
                    break
                if k == 0:              # a single "."
                    text.append(".")
                    rest = rest[1:]
                    continue
                text.append(rest[:k])
                rest = rest[k:]
        text.append(rest)
        out.append("".join(text))
    return "::".join(out) + suffix


#: A backtrace longer than BACKTRACE_HEAD + BACKTRACE_TAIL frames is shown as its innermost
#: BACKTRACE_HEAD and outermost BACKTRACE_TAIL frames and a count of those omitted (a stack
#: overflow has ~16,000); :attr:`Trap.frames` stays complete.
BACKTRACE_HEAD = 16
BACKTRACE_TAIL = 16


def backtrace_lines(frames: Sequence[Sequence[Any]],
                    line: Callable[[int, int, Optional[str]], str]) -> List[str]:
    """The lines showing ``frames`` (``(func index, name or None)``, innermost first):
    ``line(i, index, name)`` formats frame ``i`` with its name already made
    :func:`printable`; long backtraces are cut in the middle (see BACKTRACE_HEAD)."""
    n = len(frames)
    if n <= BACKTRACE_HEAD + BACKTRACE_TAIL:
        shown: List[Tuple[range, Optional[str]]] = [(range(n), None)]
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


class Handle:
    """wasmtime-py's resource protocol (its ``Managed`` base): ``close()`` and use as a
    context manager.  wasmtime-py frees a C object there; a wasmforge object that holds
    nothing native inherits this, where closing frees nothing and the object stays usable.
    ``ptr()`` is wasmtime-py's raw C-API pointer, which wasmforge objects do not have."""

    __slots__ = ()

    def close(self) -> None:
        """Release the object early (here: nothing to release)."""

    def __enter__(self: _H) -> _H:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def ptr(self) -> NoReturn:
        raise NotSupportedError(f"{type(self).__name__}.ptr() is not supported: wasmforge objects "
                                "are not wasmtime C-API objects")


class WasmError(Exception, Handle):
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


class WitError(WasmError):
    """A WIT document is malformed or does not resolve (an unknown name, a cycle, a conflict).

    ``filename``, ``line`` and ``column`` (1-based) locate the offending token when the error
    has a position in a source file; the message is the command line's one-liner,
    ``file:line:column: what was expected / what is wrong``."""

    def __init__(self, message: str, filename: str | None = None, line: int = 0, column: int = 0):
        self.reason = message
        self.filename = filename
        self.line = line
        self.column = column
        where = ""
        if filename is not None and line:
            where = f"{filename}:{line}:{column}: "
        elif filename is not None:
            where = f"{filename}: "
        super().__init__(where + message)


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


class NotSupportedError(WasmError, NotImplementedError):
    """A wasmtime-py feature that wasmforge does not implement yet (threads and shared memory,
    exception tags, the component model, compiler settings that have no meaning here)."""


class ConfigError(WasmError, ValueError):
    """A ``Config`` setting was given a value it never takes (an unknown strategy or
    optimisation level, an out-of-range stack size).  wasmtime-py raises WasmtimeError for
    these; this is both that and a ValueError."""


class WasmTypeError(WasmError, TypeError):
    """A call that does not match a function's type: the wrong number of arguments, or a
    host function returning the wrong shape of results.  wasmtime-py raises WasmtimeError for
    some of these and TypeError for others; this is both."""


class ClosedError(WasmError, ValueError):
    """A closed store (or an object of one) was used.  wasmtime-py raises ValueError for any
    use of a closed object; this is both that and a WasmtimeError."""


class StoreBusyError(WasmError, RuntimeError):
    """A call into a store that another thread is running guest code in: a store is
    single-threaded, so the call is refused rather than let two threads share its state."""


class TrapCode(enum.Enum):
    """Why execution trapped.  The value is the message the spec test suite uses.

    Member names are wasmtime-py's; the llvm tier numbers its traps by position in this
    enum (``llvm/layout.py``), so new members go at the end.  wasmforge's earlier names stay
    as aliases (``UNREACHABLE_CODE_REACHED is UNREACHABLE``).  UNDEFINED_ELEMENT (a
    ``call_indirect`` index beyond the table) is wasmforge's own: the spec names that trap
    apart from TABLE_OUT_OF_BOUNDS, which wasmtime reports for it."""

    STACK_OVERFLOW = "call stack exhausted"
    MEMORY_OUT_OF_BOUNDS = "out of bounds memory access"
    HEAP_MISALIGNED = "unaligned atomic"
    TABLE_OUT_OF_BOUNDS = "out of bounds table access"
    UNDEFINED_ELEMENT = "undefined element"
    INDIRECT_CALL_TO_NULL = "uninitialized element"
    BAD_SIGNATURE = "indirect call type mismatch"
    # Never raised yet (threads are a later issue); it took the place of an unused member, so
    # the positions of those after it are unchanged.
    ATOMIC_WAIT_NON_SHARED_MEMORY = "atomic wait on non-shared memory"
    INTEGER_OVERFLOW = "integer overflow"
    INTEGER_DIVISION_BY_ZERO = "integer divide by zero"
    BAD_CONVERSION_TO_INTEGER = "invalid conversion to integer"
    UNREACHABLE = "unreachable"
    NULL_REFERENCE = "null reference"
    INTERRUPT = "interrupt"
    OUT_OF_FUEL = "all fuel consumed by WebAssembly"
    # wasmtime's codes for features of later issues (GC, components, stack switching,
    # exceptions): present so that code naming them runs; wasmforge raises none of them yet.
    ARRAY_OUT_OF_BOUNDS = "array element access out of bounds"
    ALLOCATION_TOO_LARGE = "allocation size too large"
    CAST_FAILURE = "cast failure"
    CANNOT_ENTER_COMPONENT = "cannot enter component instance"
    NO_ASYNC_RESULT = "async-lifted export failed to produce a result"
    UNHANDLED_TAG = "suspend to a tag with no active handler"
    CONTINUATION_ALREADY_CONSUMED = "continuation already consumed"
    DISABLED_OPCODE = "pulley opcode disabled at compile time was executed"
    ASYNC_DEADLOCK = "deadlock detected: event loop cannot make further progress"
    CANNOT_LEAVE_COMPONENT = "cannot leave component instance"
    CANNOT_BLOCK_SYNC_TASK = "cannot block a synchronous task before returning"
    INVALID_CHAR = "invalid `char` bit pattern"
    DEBUG_ASSERT_STRING_ENCODING_FINISHED = "should have finished string encoding"
    DEBUG_ASSERT_EQUAL_CODE_UNITS = "code units should be equal"
    DEBUG_ASSERT_POINTER_ALIGNED = "pointer should be aligned"
    DEBUG_ASSERT_UPPER_BITS_UNSET = "upper bits should be unset"
    STRING_OUT_OF_BOUNDS = "string content out-of-bounds"
    LIST_OUT_OF_BOUNDS = "list content out-of-bounds"
    INVALID_DISCRIMINANT = "invalid variant discriminant"
    UNALIGNED_POINTER = "unaligned pointer"
    TASK_CANCEL_NOT_CANCELLED = "task.cancel invoked on a task that was not cancelled"
    TASK_CANCEL_OR_RETURN_TWICE = "task.cancel or task.return called more than once"
    SUBTASK_CANCEL_AFTER_TERMINAL = "subtask.cancel invoked after the subtask finished"
    TASK_RETURN_INVALID = "task.return invoked with an invalid type"
    WAITABLE_SET_DROP_HAS_WAITERS = "waitable-set.drop invoked on a set with waiters"
    SUBTASK_DROP_NOT_RESOLVED = "subtask.drop invoked on an unresolved subtask"
    THREAD_NEW_INDIRECT_INVALID_TYPE = "thread.new-indirect with a function of the wrong type"
    THREAD_NEW_INDIRECT_UNINITIALIZED = "thread.new-indirect with an uninitialized function"
    BACKPRESSURE_OVERFLOW = "backpressure counter overflowed"
    UNSUPPORTED_CALLBACK_CODE = "unsupported callback code"
    CANNOT_RESUME_THREAD = "cannot resume a thread that is not suspended"
    CONCURRENT_FUTURE_STREAM_OP = "concurrent future or stream operation"
    REFERENCE_COUNT_OVERFLOW = "reference count overflowed"
    STREAM_OP_TOO_BIG = "stream operation buffer too large"
    WAITABLE_SYNC_AND_ASYNC = "waitable used both synchronously and asynchronously"
    UNCAUGHT_EXCEPTION = "uncaught exception"
    # wasmforge's earlier names (aliases: same members).
    UNINITIALIZED_ELEMENT = "uninitialized element"
    INDIRECT_CALL_TYPE_MISMATCH = "indirect call type mismatch"
    UNREACHABLE_CODE_REACHED = "unreachable"


class FrameSymbol(NamedTuple):
    """One source frame of a wasm frame, read from the module's DWARF debug information
    (wasmtime's ``FrameSymbol``): the function's ``name`` (its linkage name, else its name),
    the source ``file``, ``line`` and ``column``; None where the debug information does not
    say.  A wasm frame whose code was inlined has several, innermost first."""

    name: Optional[str]
    file: Optional[str]
    line: Optional[int]
    column: Optional[int]


#: wasmtime's hint under a backtrace of a module with DWARF when the details are off.
BACKTRACE_DETAILS_HINT = ("note: using the `WASMTIME_BACKTRACE_DETAILS=1` environment variable "
                          "may show more debugging information")


def backtrace_details_from_env() -> bool:
    """The default of ``Config.wasm_backtrace_details``, as wasmtime's: on when the
    environment variable ``WASMTIME_BACKTRACE_DETAILS`` is ``1`` (``WASMFORGE_BACKTRACE_DETAILS``,
    when set, is read instead)."""
    value = os.environ.get("WASMFORGE_BACKTRACE_DETAILS")
    if value is None:
        value = os.environ.get("WASMTIME_BACKTRACE_DETAILS")
    return value == "1"


class Frame(Tuple[int, Optional[str]], Handle):
    """One frame of a trap's wasm backtrace (wasmtime-py's ``Frame``): ``func_index``,
    ``func_name`` (from the name section, or None) and ``module_name`` (the module's name
    from its name section, or None), ``module_offset`` and ``func_offset`` as wasmtime gives
    them: the byte offset of the frame's instruction (the trapping one in the innermost
    frame, the call in each caller) in the module's binary and from the start of the
    function's body; None where the tier does not know it (see docs/api.md).

    It is also the pair ``(func_index, func_name)`` the tiers record, so ``index, name =
    frame`` works as before."""

    _module_name: Optional[str]
    _offsets: Any
    _source: Any
    _symbols: Optional[Tuple[FrameSymbol, ...]]

    def __new__(cls, func_index: int, func_name: Optional[str] = None,
                module_name: Optional[str] = None, position: Optional[int] = None,
                locate: Optional[Callable[[int, int], Optional[Tuple[int, int]]]] = None) -> "Frame":
        self = tuple.__new__(cls, (func_index, func_name))
        self._module_name = module_name
        # ``locate(func_index, position)`` gives ``(func_offset, module_offset)`` of the
        # tier's position (the instruction a trap passed through); run when first read.
        self._offsets = (position, locate) if locate is not None and position is not None else None
        # Where the frame's module is described (binary/offsets.py CodeOffsets, reached
        # through ``locate``'s owner): its DWARF gives :attr:`symbols`.
        owner = getattr(locate, "__self__", None)
        source = getattr(owner, "source", None)
        self._source = source() if source is not None else None
        self._symbols = None
        return self

    def _located(self) -> "Tuple[int, int] | None":
        o = self._offsets
        if type(o) is tuple:
            o = self._offsets = [o[1](self[0], o[0])]
        return o[0] if o else None

    @property
    def func_index(self) -> int:
        return self[0]

    @property
    def func_name(self) -> "str | None":
        return self[1]

    @property
    def module_name(self) -> "str | None":
        return self._module_name

    @property
    def module_offset(self) -> "int | None":
        """The byte offset in the module's binary of the instruction this frame was at (the
        trapping instruction, or the call in a caller's frame); None when not known."""
        where = self._located()
        return where[1] if where else None

    @property
    def func_offset(self) -> "int | None":
        """:attr:`module_offset` from the start of the function's body (wasmtime's origin:
        the body's locals, after the code entry's size); None when not known."""
        where = self._located()
        return where[0] if where else None

    @property
    def symbols(self) -> Tuple[FrameSymbol, ...]:
        """The source frames of this frame's instruction (:attr:`module_offset`), innermost
        first, from the module's DWARF debug information (wasmtime's
        ``FrameInfo::symbols``); empty when the module has none for it.  Read, and the
        debug information parsed, when first asked for."""
        if self._symbols is None:
            source, offset = self._source, None
            if source is not None:
                offset = self.module_offset
            self._symbols = source.symbols(offset) if offset is not None else ()
        return self._symbols

    def _details(self) -> "Optional[bool]":
        """Whether the trap's text shows :attr:`symbols`: True, False, or None (off, and
        the module has DWARF: wasmtime's hint applies)."""
        source = self._source
        if source is None:
            return False
        details: Optional[bool] = source.backtrace_details
        if details is None and not source.has_debug_info:
            return False
        return details

    def __repr__(self) -> str:
        name = f" {printable(self[1])!r}" if self[1] else ""
        module = f" in module {printable(self._module_name)!r}" if self._module_name else ""
        return f"<Frame func[{self[0]}]{name}{module}>"


class FrameList(List[Frame]):
    """The frames of a trap.  The tiers append plain ``(index, name)`` pairs while the trap
    unwinds (a C-level ``list.append`` per frame, nothing more: a stack overflow unwinds
    ~16,000); they become :class:`Frame` objects when the list is read (indexing,
    iteration), each once."""

    __slots__ = ("_done",)

    def _convert(self) -> None:
        n = len(self)
        done = getattr(self, "_done", 0)
        if done < n:
            get = list.__getitem__
            for i in range(done, n):
                f: Any = get(self, i)      # a tier's plain tuple until converted
                if type(f) is not Frame:
                    k = len(f)
                    list.__setitem__(self, i, Frame(f[0], f[1] if k > 1 else None, f[2] if k > 2 else None,
                                                    f[3] if k > 4 else None, f[4] if k > 4 else None))
            self._done = n

    _done: int

    @overload
    def __getitem__(self, index: SupportsIndex) -> Frame: ...

    @overload
    def __getitem__(self, index: slice) -> List[Frame]: ...

    def __getitem__(self, index: Union[SupportsIndex, slice]) -> Union[Frame, List[Frame]]:
        self._convert()
        return list.__getitem__(self, index)

    def __iter__(self) -> Iterator[Frame]:
        self._convert()
        return list.__iter__(self)

    def __reversed__(self) -> Iterator[Frame]:
        self._convert()
        return list.__reversed__(self)

    def __eq__(self, other: object) -> bool:
        # A tier's tuple carries more than the (index, name) pair a Frame is equal to.
        self._convert()
        if isinstance(other, FrameList):
            other._convert()
        return list.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        return not self == other

    __hash__ = None


class Trap(WasmError):
    """Execution of WebAssembly code trapped.

    ``code`` is a :class:`TrapCode`; ``frames`` the wasm backtrace (:class:`Frame` objects),
    innermost first, filled in by the runtime as the trap unwinds (each frame names its
    function from the name section).  ``str(trap)`` has wasmtime's shape: ``error while
    executing at wasm backtrace:``, a line per frame (``    0: module!func``), then ``Caused
    by:`` and ``wasm trap: <cause>``; it escapes the names (:func:`printable`) and shows at
    most BACKTRACE_HEAD + BACKTRACE_TAIL frames; ``frames`` keeps them all, unescaped.
    ``message`` is the trap's own message in the spec's wording (``"unreachable"``)."""

    def __init__(self, message: str, code: "TrapCode | None" = None,
                 frames: Optional[Iterable[Sequence[Any]]] = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.frames = FrameList(frames or [])  # type: ignore[arg-type]  # tuples, converted when read

    @property
    def trace(self) -> FrameList:
        return self.frames

    @property
    def trap_code(self) -> "TrapCode | None":
        """wasmtime-py's name for :attr:`code`."""
        return self.code

    def __str__(self) -> str:
        # wasmtime's text: the backtrace, then the cause.  The frames are appended while the
        # trap unwinds, so the text is built when shown.
        if not self.frames:
            # wasmtime's text of a trap with no wasm frame (one the component boundary
            # raises, such as entering a poisoned instance): the cause alone
            return self.message if self.code is None else \
                f"wasm trap: {_WASMTIME_CAUSE.get(self.code, self.message)}"
        frames = self.frames
        hint = False

        def line(i: int, index: int, name: "str | None") -> str:
            nonlocal hint
            frame = frames[i]
            offset = frame.module_offset
            at = "" if offset is None else f"{offset:#8x} - "
            raw = name if name else f"<wasm function {index}>"
            details = frame._details()
            symbols = frame.symbols if details else ()
            if not symbols:
                # wasmtime hints at the details when a module with DWARF is shown without
                # them (unless Config.wasm_backtrace_details was set off explicitly).
                hint = hint or details is None
                module = frame.module_name
                where = printable(module) if module else "<unknown>"
                return f"  {i:>3}: {at}{where}!{raw}"
            # wasmtime's text with its details: each source frame (innermost first) by its
            # own name, then "at file:line:column".
            out = []
            for k, sym in enumerate(symbols):
                if k == 0:
                    text = f"  {i:>3}: {at}{printable(demangle(sym.name)) if sym.name else raw}"
                else:
                    text = f"                - {printable(demangle(sym.name)) if sym.name else '<inlined function>'}"
                if sym.file is not None:
                    text += f"\n                    at {printable(sym.file)}"
                    if sym.line is not None:
                        text += f":{sym.line}" + (f":{sym.column}" if sym.column is not None else "")
                out.append(text)
            return "\n".join(out)

        lines = ["error while executing at wasm backtrace:"]
        lines += backtrace_lines(frames, line)
        if hint:
            lines.append(BACKTRACE_DETAILS_HINT)
        cause = self.message if self.code is None else \
            f"wasm trap: {_WASMTIME_CAUSE.get(self.code, self.message)}"
        # (ending with a newline, as wasmtime's text does when it has a backtrace)
        lines += ["", "Caused by:", f"    {cause}", ""]
        return "\n".join(lines)


#: wasmtime's wording where it differs from the spec's (the trap's ``message``).
_WASMTIME_CAUSE = {
    TrapCode.UNREACHABLE: "wasm `unreachable` instruction executed",
    TrapCode.TABLE_OUT_OF_BOUNDS: "undefined element: out of bounds table access",
    TrapCode.INDIRECT_CALL_TO_NULL: "uninitialized element",     # the message adds the index
    TrapCode.UNCAUGHT_EXCEPTION: "thrown Wasm exception",
}


class WasmException(Trap):
    """A WebAssembly exception (exception-handling proposal) that no wasm handler caught and
    that reached the host: a :class:`Trap` with code ``TrapCode.UNCAUGHT_EXCEPTION`` (so code
    written for wasmtime-py, which reports it as a trap, still catches it), carrying the
    exception.

    ``exn`` is the exception object (``wasmforge.runtime.tag.Exn``, the value an ``exnref``
    holds), ``tag`` its tag and ``payload`` its values.  Inside wasm the same class carries an
    exception through host frames: a host function throws a wasm exception by raising
    ``WasmException(exn)``, and one thrown by wasm through a host function keeps its identity
    when wasm catches it above."""

    def __init__(self, exn: Any, frames: Optional[Iterable[Sequence[Any]]] = None) -> None:
        super().__init__(TrapCode.UNCAUGHT_EXCEPTION.value, TrapCode.UNCAUGHT_EXCEPTION, frames)
        self.exn = exn

    @property
    def tag(self) -> Any:
        """The exception's tag (a :class:`~wasmforge.Tag`)."""
        return self.exn.tag

    @property
    def payload(self) -> List[Any]:
        """The exception's payload values, in the tag type's parameter order (i32 and i64
        signed, as the API gives values)."""
        return list(self.exn.payload)


class ExitTrap(WasmError):
    """A WASI program called ``proc_exit``; ``code`` is its exit status."""

    def __init__(self, code: int):
        super().__init__(f"Exited with i32 exit status {code}")
        self.code = code


# wasmtime-py's name for the base class, so code written for it keeps working.
WasmtimeError = WasmError

__all__ = [
    "WasmError", "WasmtimeError", "DecodeError", "ParseError", "ValidationError",
    "LinkError", "InstantiationError", "NotSupportedError", "WasmTypeError", "ClosedError", "StoreBusyError", "Trap", "TrapCode", "Frame", "FrameSymbol", "ExitTrap",
    "WasmException", "ConfigError", "WitError",
]
