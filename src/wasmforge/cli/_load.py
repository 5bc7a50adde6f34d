"""Loading a module file for the command line: binary or text, with one-line errors; the
engine, store and timeout timer of `wasmforge run` (a module's or a component's)."""

from __future__ import annotations

import re
import sys
import threading
from typing import TYPE_CHECKING, NoReturn, Optional

from ..cm.preamble import is_component as is_component_binary
from ..errors import (BACKTRACE_DETAILS_HINT, DecodeError, ExitTrap, ParseError, Trap, ValidationError, WasmError,
                      backtrace_lines, demangle, printable)

if TYPE_CHECKING:
    from ..api import Engine, Store

MAGIC = b"\0asm"

#: Whether this process is the command line's own (``wasmforge`` or ``python -m wasmforge``:
#: set by ``cli.main``), rather than a host running a command in process (click's CliRunner,
#: an embedder): only then does a command change process-wide state, such as freezing the
#: collector's objects (run.py).
OWN_PROCESS = False

#: The exit status of `wasmforge run` after a trap (as wasmtime's: SIGABRT's 128 + 6).
TRAP_EXIT = 134


# A text whose first form is `(component`, after white space and comments.  Compiled by re's
# cache on first use (a run of a binary module never compiles it: start-up time).
_COMPONENT_TEXT = rb"(?:\s|;;[^\n]*|\(;.*?;\))*\(\s*component\b"


def is_component(data: bytes) -> bool:
    """Whether ``data`` is a component: the binary preamble of layer 1, or text whose first form
    is ``(component``.  (Here, not in ``_component``, so that running a core module does not
    load the component machinery: start-up time.)"""
    if data[:4] == MAGIC:
        return is_component_binary(data)
    return re.match(_COMPONENT_TEXT, data, re.S) is not None


class InputError(Exception):
    """A file could not be read; carries the one-line message."""


def read_file(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as exc:
        raise InputError(f"error: {exc.strerror or exc}") from None


def load(path: str, data: bytes, *, validate: bool = False, progress=None):
    """Decode (``\\0asm`` magic) or parse (anything else) ``data``; raise WasmError on bad input."""
    kwargs = {"progress": progress} if progress else {}
    from ..api.aot import is_artifact  # start-up speed: loaded when the subcommand runs
    if is_artifact(data):
        # Not a module: say what it is rather than "malformed UTF-8" from the text parser.
        raise WasmError("is a precompiled artifact (`wasmforge compile` output), not a module")
    if data[:4] == MAGIC:
        from ..binary.decode import decode_module  # start-up speed: loaded when the subcommand runs
        module = decode_module(data, **kwargs)
    else:
        from ..text.parser import parse_module  # start-up speed: loaded when the subcommand runs
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ParseError("malformed UTF-8 encoding", *_line_col(data, exc.start)) from None
        module = parse_module(text, filename=path)
    if validate:
        from ..valid.validate import validate as run_validation  # start-up speed: loaded when the subcommand runs
        run_validation(module, **kwargs)
    return module


def _line_col(data: bytes, offset: int):
    line = data.count(b"\n", 0, offset) + 1
    return line, offset - (data.rfind(b"\n", 0, offset) + 1) + 1


def describe(path: str, exc: Exception) -> str:
    """One line naming the file, the position and what is wrong."""
    if isinstance(exc, ParseError):
        return f"{path}:{exc.line}:{exc.column}: error: {exc.reason}"
    if isinstance(exc, DecodeError):
        where = f" (at byte offset {exc.offset:#x})" if exc.offset is not None else ""
        return f"{path}: error: malformed module: {exc.reason}{where}"
    if isinstance(exc, ValidationError):
        return f"{path}: error: invalid module: {exc}"
    return f"{path}: {exc}" if isinstance(exc, InputError) else f"{path}: error: {exc}"


def format_trap(trap: Trap) -> str:
    lines = [f"wasm trap: {trap.message}"]
    if trap.frames:
        # Names escaped and a long backtrace cut in the middle, as str(trap) does.
        lines.append("wasm backtrace:")
        frames = trap.frames
        hint = False

        def line(i: int, index: int, name: "str | None") -> str:
            # With the backtrace details on (docs/observability.md), each frame is followed
            # by its source frames from the module's DWARF, innermost first.
            nonlocal hint
            text = f"    {i}: {name or '<unnamed>'} (func {index})"
            frame = frames[i]
            details = frame._details()
            if not details:
                hint = hint or details is None
                return text
            for sym in frame.symbols:
                where = printable(sym.file) if sym.file is not None else "<unknown file>"
                if sym.line is not None:
                    where += f":{sym.line}" + (f":{sym.column}" if sym.column is not None else "")
                text += f"\n         {printable(demangle(sym.name)) if sym.name else '<unknown>'} at {where}"
            return text

        lines += backtrace_lines(frames, line)
        if hint:
            lines.append(BACKTRACE_DETAILS_HINT)
    return "\n".join(lines)


def guest_exit_status(path: str, exc: "ExitTrap | Trap") -> int:
    """The process's exit status when the guest in ``path`` ended with ``exc``: the code it
    exited with (1 outside 0..255), or TRAP_EXIT after a trap, which is reported on stderr."""
    if isinstance(exc, ExitTrap):
        return exc.code if 0 <= exc.code <= 255 else 1
    sys.stdout.flush()
    echo(f"{path}: error: {format_trap(exc)}", err=True)
    return TRAP_EXIT


def die(message: str) -> NoReturn:
    # Messages quote import, export and file names: escaped, they stay one line and cannot
    # drive the terminal.
    echo(printable(message), err=True)
    sys.exit(1)


def echo(text: str, err: bool = False) -> None:
    """``text`` and a newline on stdout (``err``: stderr), flushed: what ``click.echo`` does
    with the command line's one-line messages, without importing click, which ``wasmforge
    run`` does not load (cli/_run_module.py)."""
    stream = sys.stderr if err else sys.stdout
    if stream is not None:
        stream.write(text + "\n")
        stream.flush()


def load_module(path: str, *, validate: bool = False):
    """Read and load one file for a single-file command; exit 1 with one line on bad input."""
    try:
        return load(path, read_file(path), validate=validate)
    except (WasmError, InputError) as exc:
        die(describe(path, exc))


def make_engine(tier: Optional[str], fuel: Optional[int], timeout: Optional[float],
                max_wasm_stack: Optional[int]) -> "Engine":
    """The engine of ``wasmforge run`` (a module's or a component's) for its options."""
    from ..api import Config, Engine  # start-up speed: loaded when the subcommand runs
    config = Config()
    if tier is not None:
        config.strategy = tier
    config.consume_fuel = fuel is not None
    config.epoch_interruption = timeout is not None
    if max_wasm_stack is not None:
        config.max_wasm_stack = max_wasm_stack
    return Engine(config)


def make_store(engine: "Engine", fuel: Optional[int], timeout: Optional[float]) -> "Store":
    """A store of ``engine`` with the fuel and the epoch deadline of the options."""
    from ..api import Store  # start-up speed: loaded when the subcommand runs
    store = Store(engine)
    if fuel is not None:
        store.set_fuel(fuel)
    if timeout is not None:
        store.set_epoch_deadline(1)
    return store


def start_timer(engine: "Engine", timeout: Optional[float]) -> Optional[threading.Timer]:
    """The started daemon timer that, ``timeout`` seconds on, ticks the engine's epoch once
    (reaching the deadline make_store set, docs/security.md); None without a timeout."""
    if timeout is None:
        return None
    timer = threading.Timer(timeout, engine.increment_epoch)
    timer.daemon = True
    try:
        timer.start()
    except RuntimeError:
        # Python compiled to WebAssembly (Pyodide) cannot start threads, and nothing else
        # could tick the epoch while the guest runs.
        import click  # start-up speed: `wasmforge run` loads click only to report a usage error
        raise click.UsageError(f"--timeout needs a timer thread, which this Python ({sys.platform}) cannot "
                               "start; bound the run with --fuel instead") from None
    return timer

