"""Run-time helpers that both tiers' code calls: traps, the bulk memory and table instructions,
and the f32 memory accesses that must keep NaN payloads.

Bulk instructions check the whole range before writing anything (spec 4.4.7 table.*, 4.4.8
memory.*): a range reaching past the end traps and writes nothing, and an empty range traps
only when it starts past the end.
"""

from __future__ import annotations

import struct

from ..errors import Trap, TrapCode
from ..numerics.bits import f32_from_bits, f32_to_bits

_U32 = struct.Struct("<I").unpack_from
_F32 = struct.Struct("<f").unpack_from

_MEM = TrapCode.MEMORY_OUT_OF_BOUNDS
_TAB = TrapCode.TABLE_OUT_OF_BOUNDS


def oob():
    """Trap: a memory access outside the memory's current size."""
    raise Trap(_MEM.value, _MEM)


def table_oob():
    """Trap: a table access outside the table's current size."""
    raise Trap(_TAB.value, _TAB)


def undefined_element():
    """Trap: call_indirect with an index past the end of the table."""
    raise Trap(TrapCode.UNDEFINED_ELEMENT.value, TrapCode.UNDEFINED_ELEMENT)


def uninitialized_element(i: int):
    """Trap: call_indirect on the null table entry ``i`` (the reference interpreter's wording
    names the index)."""
    raise Trap(f"{TrapCode.UNINITIALIZED_ELEMENT.value} {i}", TrapCode.UNINITIALIZED_ELEMENT)


def null_exnref():
    """Trap: throw_ref of a null exception reference."""
    raise Trap("null exception reference", TrapCode.NULL_REFERENCE)


def type_mismatch():
    """Trap: call_indirect on a function of another type."""
    raise Trap(TrapCode.INDIRECT_CALL_TYPE_MISMATCH.value, TrapCode.INDIRECT_CALL_TYPE_MISMATCH)


def null_reference():
    """Trap: ref.as_non_null or call_ref on a null reference (function-references)."""
    raise Trap(TrapCode.NULL_REFERENCE.value, TrapCode.NULL_REFERENCE)


def null_func_reference():
    """Trap: call_ref / return_call_ref on a null function reference (function-references;
    the reference interpreter's wording)."""
    raise Trap("null function reference", TrapCode.NULL_REFERENCE)


def stack_overflow():
    """Trap: the call depth limit was reached."""
    raise Trap(TrapCode.STACK_OVERFLOW.value, TrapCode.STACK_OVERFLOW)


def out_of_fuel():
    """Trap: the store's fuel cannot pay for the next segment (runtime/metering.py)."""
    raise Trap(TrapCode.OUT_OF_FUEL.value, TrapCode.OUT_OF_FUEL)


def interrupted():
    """Trap: the engine's epoch reached the store's deadline."""
    raise Trap(TrapCode.INTERRUPT.value, TrapCode.INTERRUPT)


def overflow_trap(frame) -> Trap:
    """The stack overflow trap for a Python RecursionError caught in wasm frame ``frame``."""
    t = Trap(TrapCode.STACK_OVERFLOW.value, TrapCode.STACK_OVERFLOW)
    t.frames.append(frame)
    return t


def f32_load(buf, ea: int) -> float:
    """An f32 read from memory, keeping a signalling NaN's bits (struct's 'f' quiets it)."""
    x = _F32(buf, ea)[0]
    if x != x:
        return f32_from_bits(_U32(buf, ea)[0])
    return x


f32_bits = f32_to_bits


#: Largest bulk-memory operation done the direct way (through a temporary of ``n`` bytes);
#: longer ones stream, so a guest's ``memory.fill`` of 4 GiB costs no host memory beyond this.
BULK_CHUNK = 1 << 16
#: The pattern a long ``memory.fill`` repeats: big enough that the Python loop is short.
_FILL_PATTERN = 1 << 20


def memory_fill(mem, d: int, val: int, n: int) -> None:
    """spec 4.4.8 memory.fill"""
    if d + n > mem.size:
        oob()
    if n <= 0x10000:        # BULK_CHUNK, as a constant: this is every small memset
        if n:
            mem.data[d:d + n] = bytes((val & 0xFF,)) * n
    else:
        fill_bytes(mem.data, d, val & 0xFF, n)


def memory_copy(mem, d: int, s: int, n: int) -> None:
    """spec 4.4.8 memory.copy (overlapping ranges copy as if through a buffer)"""
    size = mem.size
    if d + n > size or s + n > size:
        oob()
    if n <= 0x10000:        # BULK_CHUNK
        if n:
            data = mem.data
            data[d:d + n] = data[s:s + n]
    else:
        move_bytes(mem.data, d, s, n)


def memory_copy_between(dst, src, d: int, s: int, n: int) -> None:
    """spec 4.4.8 memory.copy between two memories (multi-memory): no overlap to handle."""
    if d + n > dst.size or s + n > src.size:
        oob()
    if n:
        with memoryview(src.data) as view:
            dst.data[d:d + n] = view[s:s + n]


def memory_init(mem, datas, x: int, d: int, s: int, n: int) -> None:
    """spec 4.4.8 memory.init from data segment ``x`` (``b""`` once dropped)"""
    seg = datas[x]
    if s + n > len(seg) or d + n > mem.size:
        oob()
    if n > 0x10000:         # BULK_CHUNK
        # A view of the segment, not a slice: a slice would copy up to the whole segment.
        with memoryview(seg) as view:
            mem.data[d:d + n] = view[s:s + n]
    elif n:
        mem.data[d:d + n] = seg[s:s + n]


def fill_bytes(buf, d: int, byte: int, n: int) -> None:
    """Set ``buf[d:d + n]`` to ``byte`` using at most a 1 MiB temporary (the caller has checked
    the range)."""
    pattern = bytes((byte,)) * min(n, _FILL_PATTERN)
    step = len(pattern)
    end = d + n
    while end - d >= step:
        buf[d:d + step] = pattern
        d += step
    if d < end:
        with memoryview(pattern) as tail:
            buf[d:end] = tail[:end - d]


def move_bytes(buf, d: int, s: int, n: int) -> None:
    """``buf[d:d + n] = buf[s:s + n]`` with no temporary, correct when the ranges overlap (the
    caller has checked them).  Assigning one slice of a memoryview to another of the same
    buffer is a single ``memmove`` in CPython; an ``mmap`` slice assignment would copy the
    source out first (or, fed a view of itself, ``memcpy`` overlapping bytes)."""
    with memoryview(buf) as view:
        view[d:d + n] = view[s:s + n]


def table_fill(elements: list, i: int, ref, n: int) -> None:
    """spec 4.4.7 table.fill"""
    if i + n > len(elements):
        table_oob()
    elements[i:i + n] = [ref] * n


def table_copy(dst: list, src: list, d: int, s: int, n: int) -> None:
    """spec 4.4.7 table.copy (overlap-safe: the source slice is copied first)"""
    if d + n > len(dst) or s + n > len(src):
        table_oob()
    if n:
        dst[d:d + n] = src[s:s + n]


def table_init(elements: list, elems, x: int, d: int, s: int, n: int) -> None:
    """spec 4.4.7 table.init from element segment ``x`` (``[]`` once dropped)"""
    seg = elems[x]
    if s + n > len(seg) or d + n > len(elements):
        table_oob()
    if n:
        elements[d:d + n] = seg[s:s + n]


# The elements a bulk table instruction writes, after the bounds check it would make (so an
# out-of-bounds one traps here, having written nothing): the fuel it costs beyond its 1
# (runtime/metering.py), charged before it runs.

def table_fill_n(elements: list, i: int, n: int) -> int:
    if i + n > len(elements):
        table_oob()
    return n


def table_copy_n(dst: list, src: list, d: int, s: int, n: int) -> int:
    if d + n > len(dst) or s + n > len(src):
        table_oob()
    return n


def table_init_n(elements: list, elems, x: int, d: int, s: int, n: int) -> int:
    if s + n > len(elems[x]) or d + n > len(elements):
        table_oob()
    return n


def charge(fuel, n: int) -> None:
    """Take ``n`` units from the fuel cell ``fuel``; trap when it goes below 0."""
    if n:
        fuel.cell_contents -= n
        if fuel.cell_contents < 0:
            out_of_fuel()


# ----- tail calls (tail-call proposal) -----
#
# A Python call cannot replace its caller's frame, so the interp tier runs tail calls on a
# trampoline.  A function whose body holds a tail call is translated to a *body* that ends
# such a call by returning ``TailCall(callee, args)`` instead of calling (its own frame, with
# its stack budget and its place in a backtrace, is gone once it returns), and the callable
# the instance binds is ``trampoline(body)``, which calls the body and then each returned
# callee in turn until a real result comes back.  A callee that is itself a trampolined
# function is entered through its body (``wf_tail``), so a chain of tail calls of any length
# runs in two Python frames.  Functions without tail calls are untouched: ordinary calls
# cost what they cost before.  interp/ops.py: ``emit_tail_call`` emits the return of the
# marker (return_call, return_call_indirect, and return_call_ref of typed function
# references all end there).

class TailCall:
    """What a translated body returns instead of making the tail call ``fn(*args)``."""

    __slots__ = ("fn", "args")

    def __init__(self, fn, args):
        self.fn = fn
        self.args = args


def trampoline(body):
    """The callable of a function whose translated ``body`` may return :class:`TailCall`."""

    def run(*args):
        r = body(*args)
        while r.__class__ is TailCall:
            fn = r.fn
            # Enter a trampolined callee through its body, so the chain stays in this loop.
            r = getattr(fn, "wf_tail", fn)(*r.args)
        return r

    run.wf_tail = body
    return run
