"""The context of one lifting or lowering: the canonical options in force (memory, realloc,
string encoding, pointer type), the component instance's state and the call's borrow scope.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from ...errors import Trap, TrapCode, WasmError
from .resources import CallScope, ComponentState

#: The string encodings of the ``string-encoding`` canonical option.
ENCODINGS = ("utf8", "utf16", "latin1+utf16")


class BytesMemory:
    """A memory for tests and tools: ``data`` a bytearray that never changes size, ``size`` its
    length.  The runtime's memories (both tiers) have the same two attributes."""

    __slots__ = ("data", "size")

    def __init__(self, size_or_bytes: "int | bytes | bytearray") -> None:
        self.data = bytearray(size_or_bytes)
        self.size = len(self.data)


def core_result(v: Any) -> Any:
    """The single result of a core function called through the runtime's convention (a value,
    or a one-element tuple/list)."""
    if type(v) is tuple or type(v) is list:
        if len(v) != 1:
            raise WasmError(f"a core function returned {len(v)} results where 1 was expected")
        return v[0]
    return v


class Cx:
    """What generated lifting and lowering code reads: ``data`` (the memory's bytes, which never
    move), ``mem`` (for its current ``size``), ``alloc`` (realloc with the spec's checks),
    ``state`` (the component instance's :class:`ComponentState`) and ``scope`` (the call's
    :class:`CallScope`)."""

    __slots__ = ("mem", "data", "realloc", "state", "scope")

    def __init__(self, mem: Any, realloc: Optional[Callable[..., Any]], state: ComponentState,
                 scope: Optional[CallScope] = None) -> None:
        self.mem = mem
        self.data: Any = mem.data if mem is not None else None
        self.realloc = realloc
        self.state = state
        # None when the call's types hold no handles (no borrow bookkeeping to do)
        self.scope = scope

    def alloc(self, old: int, old_size: int, align: int, new_size: int, what: str = "string") -> int:
        """Call ``realloc(old, old_size, align, new_size)`` in the instance, which may not call out
        meanwhile; trap unless the result is aligned and the ``new_size`` bytes fit in memory
        (``what`` the memory is for, ``string``, ``list`` or ``argument``, names the trap as
        wasmtime does)."""
        realloc = self.realloc
        if realloc is None:
            raise WasmError("canonical option `realloc` is required to lower this value")
        state = self.state
        state.may_leave = False
        try:
            p = realloc(old, old_size, align, new_size)
            if p.__class__ is not int:
                p = core_result(p)
        finally:
            state.may_leave = True
        if p & (align - 1):
            raise Trap("realloc return: result not aligned (unaligned pointer)", TrapCode.UNALIGNED_POINTER)
        if p + new_size > self.mem.size:
            raise Trap(f"realloc return: beyond end of memory ({what} content out-of-bounds)",
                       TrapCode.MEMORY_OUT_OF_BOUNDS)
        return int(p)


def check_range(cx: Cx, ptr: int, align: int, nbytes: int, what: str) -> None:
    """The checks before a spilled value or a list is read or written: aligned, in bounds."""
    if ptr & (align - 1):
        raise Trap("unaligned pointer", TrapCode.UNALIGNED_POINTER)
    if ptr + nbytes > cx.mem.size:
        code = TrapCode.LIST_OUT_OF_BOUNDS if what == "list" else TrapCode.MEMORY_OUT_OF_BOUNDS
        raise Trap(f"{what} content out-of-bounds" if what == "list" else "out of bounds memory access", code)
