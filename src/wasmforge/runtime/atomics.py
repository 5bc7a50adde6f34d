"""The threads proposal's atomic memory accesses and ``wait``/``notify``, for the execution
tiers and the API (``SharedMemory``).

Memory model: every atomic access (load, store, read-modify-write, compare-exchange) holds
one process-wide lock, so all atomic accesses of all memories happen in a single total order
that each thread's program order respects: they are sequentially consistent.  Ordinary
(non-atomic) accesses take no lock; on the interp tier the GIL still serialises them
instruction by instruction, but a racy non-atomic access gets no guarantee beyond the
proposal's (it may tear between the bytes of a value).

``wait``/``notify`` keep one FIFO queue of waiters per (memory, address).  A waiter checks
the value and enqueues itself under the same lock as the atomic accesses, so a ``notify``
that follows a store cannot miss a waiter that saw the old value; it then blocks on its own
event with the GIL released, so other Python threads (other instances on the memory) run.
"""

from __future__ import annotations

import threading

from ..errors import Trap, TrapCode

#: The lock of every atomic access and of the wait queues.
LOCK = threading.Lock()

_MASKS = {1: 0xFF, 2: 0xFFFF, 4: 0xFFFFFFFF, 8: 0xFFFFFFFFFFFFFFFF}
_QUEUES: dict = {}          # (memory, address) -> list of threading.Event, oldest first

_MEM = TrapCode.MEMORY_OUT_OF_BOUNDS
_UNALIGNED = TrapCode.HEAP_MISALIGNED
_UNSHARED = TrapCode.ATOMIC_WAIT_NON_SHARED_MEMORY


def _check(mem, ea: int, size: int) -> None:
    """Trap unless ``size`` bytes at ``ea`` are naturally aligned and inside ``mem``.  The
    alignment is checked first, as the reference interpreter and wasmtime do: an access both
    unaligned and out of bounds traps "unaligned atomic"."""
    if ea & (size - 1):
        raise Trap(_UNALIGNED.value, _UNALIGNED)
    if ea + size > mem.size:
        raise Trap(_MEM.value, _MEM)


def _read(data, ea: int, size: int) -> int:
    return int.from_bytes(data[ea:ea + size], "little")


def _write(data, ea: int, size: int, value: int) -> None:
    data[ea:ea + size] = (value & _MASKS[size]).to_bytes(size, "little")


def load(mem, ea: int, size: int) -> int:
    """An atomic load of ``size`` bytes (zero-extended)."""
    _check(mem, ea, size)
    with LOCK:
        return _read(mem.data, ea, size)


def store(mem, ea: int, size: int, value: int) -> None:
    """An atomic store of the low ``size`` bytes of ``value``."""
    _check(mem, ea, size)
    with LOCK:
        _write(mem.data, ea, size, value)


_RMW = {
    "add": lambda old, v: old + v,
    "sub": lambda old, v: old - v,
    "and": lambda old, v: old & v,
    "or": lambda old, v: old | v,
    "xor": lambda old, v: old ^ v,
    "xchg": lambda old, v: v,
}


def rmw(mem, ea: int, size: int, op: str, value: int) -> int:
    """An atomic read-modify-write (``op`` one of add sub and or xor xchg): store
    ``op(old, value)`` wrapped to ``size`` bytes, return the old value (zero-extended)."""
    _check(mem, ea, size)
    fn = _RMW[op]
    data = mem.data
    with LOCK:
        old = _read(data, ea, size)
        _write(data, ea, size, fn(old, value))
    return old


def cmpxchg(mem, ea: int, size: int, expected: int, replacement: int) -> int:
    """Store ``replacement`` if the ``size`` bytes at ``ea`` equal ``expected`` (wrapped to
    ``size`` bytes); return the old value either way."""
    _check(mem, ea, size)
    data = mem.data
    with LOCK:
        old = _read(data, ea, size)
        if old == expected & _MASKS[size]:
            _write(data, ea, size, replacement)
    return old


def wait(mem, ea: int, size: int, expected: int, timeout: int) -> int:
    """``memory.atomic.wait32/64``: 1 ("not-equal") if the value at ``ea`` is not
    ``expected``; else block until notified (0, "ok") or until ``timeout`` nanoseconds
    passed (2, "timed-out"); a negative timeout (as a signed i64) waits forever.  Traps on an
    unshared memory."""
    _check(mem, ea, size)
    if not mem.type.shared:
        raise Trap(_UNSHARED.value, _UNSHARED)
    if timeout >= 1 << 63:
        timeout -= 1 << 64
    key = (mem, ea)
    with LOCK:
        if _read(mem.data, ea, size) != expected & _MASKS[size]:
            return 1
        if timeout == 0:
            return 2
        event = threading.Event()
        _QUEUES.setdefault(key, []).append(event)
    event.wait(None if timeout < 0 else timeout / 1e9)
    with LOCK:
        if event.is_set():
            return 0
        queue = _QUEUES[key]
        queue.remove(event)
        if not queue:
            del _QUEUES[key]
    return 2


def notify(mem, ea: int, count: int) -> int:
    """``memory.atomic.notify``: wake up to ``count`` waiters on ``ea``, oldest first;
    return how many were woken (always 0 on an unshared memory, which has no waiters)."""
    _check(mem, ea, 4)
    key = (mem, ea)
    with LOCK:
        queue = _QUEUES.get(key)
        if not queue:
            return 0
        woken = queue[:count]
        del queue[:count]
        if not queue:
            del _QUEUES[key]
        for event in woken:
            event.set()
    return len(woken)


def waiters(mem, ea: int) -> int:
    """How many threads wait on ``ea`` of ``mem`` now (for tests and diagnostics)."""
    with LOCK:
        return len(_QUEUES.get((mem, ea), ()))


__all__ = ["LOCK", "load", "store", "rmw", "cmpxchg", "wait", "notify", "waiters"]
