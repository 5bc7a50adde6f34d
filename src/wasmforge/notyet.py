"""wasmtime-py names for features of later issues: shared memories (the threads proposal).
The names exist, with wasmtime-py's methods, so that code importing them loads; making one
raises :class:`~wasmforge.errors.NotSupportedError`, which says so, rather than failing on a
missing name or doing something else silently."""

from __future__ import annotations

from typing import Any, NoReturn

from .errors import Handle, NotSupportedError


def _refuse(what: str, proposal: str) -> NoReturn:
    raise NotSupportedError(f"{what} is not supported yet: wasmforge implements WebAssembly 2.0, "
                            f"and the {proposal} proposal is a later issue")


class SharedMemory(Handle):
    """wasmtime-py's ``SharedMemory(engine, MemoryType)``: not supported yet (threads)."""

    def __init__(self, engine: Any, ty: Any) -> None:
        _refuse("SharedMemory", "threads")

    # wasmtime-py's methods; unreachable, since no SharedMemory can be made.
    def type(self) -> NoReturn:
        _refuse("SharedMemory.type", "threads")

    def grow(self, delta: int) -> NoReturn:
        _refuse("SharedMemory.grow", "threads")

    def size(self) -> NoReturn:
        _refuse("SharedMemory.size", "threads")

    def data_ptr(self) -> NoReturn:
        _refuse("SharedMemory.data_ptr", "threads")

    def data_len(self) -> NoReturn:
        _refuse("SharedMemory.data_len", "threads")


__all__ = ["SharedMemory"]
