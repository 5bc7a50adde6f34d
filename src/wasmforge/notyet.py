"""wasmtime-py names for features of later issues: shared memories (the threads proposal) and
exception tags (the exception-handling proposal).  The names exist so that code importing them
loads; making one raises :class:`~wasmforge.errors.NotSupportedError`, which says so, rather
than failing on a missing name or doing something else silently."""

from __future__ import annotations

from .errors import NotSupportedError


def _refuse(what: str, proposal: str):
    raise NotSupportedError(f"{what} is not supported yet: wasmforge implements WebAssembly 2.0, "
                            f"and the {proposal} proposal is a later issue")


class SharedMemory:
    """wasmtime-py's ``SharedMemory(engine, MemoryType)``: not supported yet (threads)."""

    def __init__(self, engine, ty) -> None:
        _refuse("SharedMemory", "threads")


class TagType:
    """wasmtime-py's ``TagType(FuncType)``: not supported yet (exception handling)."""

    def __init__(self, functype) -> None:
        _refuse("TagType", "exception-handling")


class Tag:
    """wasmtime-py's ``Tag(store, TagType)``: not supported yet (exception handling)."""

    def __init__(self, store, ty) -> None:
        _refuse("Tag", "exception-handling")


__all__ = ["SharedMemory", "Tag", "TagType"]
