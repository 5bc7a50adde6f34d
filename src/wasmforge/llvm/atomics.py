"""Lowering of the threads proposal's instructions (prefix 0xFE) to LLVM IR.

Atomic loads, stores, read-modify-writes and compare-exchanges are LLVM atomic instructions
with ``seq_cst`` ordering (sequentially consistent, the memory model docs/features.md gives),
after an alignment check of the effective address ("unaligned atomic", first, as in the
reference interpreter and wasmtime) and the ordinary bounds check
(:func:`wasmforge.llvm.ops.address`).  ``atomic.fence`` is ``fence seq_cst``.
``memory.atomic.wait32/64`` and ``notify`` call into the host (CB_ATOMIC_WAIT,
CB_ATOMIC_NOTIFY), which blocks and wakes in :mod:`wasmforge.runtime.atomics`.  Code without
these instructions is unchanged.
"""

from __future__ import annotations

from ..errors import TrapCode as TC
from ..opcodes import OPS, memidx_of
from . import ops as C
from .layout import CB_ATOMIC_NOTIFY, CB_ATOMIC_WAIT, IR_TYPE

_RMW_OPS = {"add": "add", "sub": "sub", "and": "and", "or": "or", "xor": "xor", "xchg": "xchg"}


def _check_alignment(fc, addr: str, offset: int, size: int, k: int) -> None:
    """Trap "unaligned atomic" unless ``addr + offset`` is a multiple of ``size``.  Checked
    before the bounds, as the reference interpreter and wasmtime do: an access both unaligned
    and out of bounds reports the alignment.  Only the low bits of the sum matter, so the
    address's own width suffices (wrapping cannot change them)."""
    if size == 1:
        return
    irt = "i64" if fc.mc.mem_types[k].is_64 else "i32"
    a, m, bad = fc.tmp(), fc.tmp(), fc.tmp()
    fc.emit(f"{a} = add {irt} {addr}, {offset % size}")
    fc.emit(f"{m} = and {irt} {a}, {size - 1}")
    fc.emit(f"{bad} = icmp ne {irt} {m}, 0")
    fc.trap_if(bad, TC.HEAP_MISALIGNED)


def _pointer(fc, ins, size: int) -> str:
    """Alignment- then bounds-checked pointer of an atomic access of ``size`` bytes."""
    k = memidx_of(ins)
    addr = fc.pop()
    _check_alignment(fc, addr, ins[2], size, k)
    return C.address(fc, addr, ins[2], size, k)


def _narrow(fc, t: str, irt: str, v: str) -> str:
    if irt == IR_TYPE[t]:
        return v
    w = fc.tmp()
    fc.emit(f"{w} = trunc {IR_TYPE[t]} {v} to {irt}")
    return w


def _widen(fc, t: str, irt: str, v: str) -> str:
    if irt == IR_TYPE[t]:
        return v
    w = fc.tmp()
    fc.emit(f"{w} = zext {irt} {v} to {IR_TYPE[t]}")
    return w


def _atomic(fc, ins):
    op = ins[0]
    rest = op.operator[len("atomic."):]          # load8_u, rmw16.add_u, cmpxchg ...
    t = op.type
    size = 1 << op.align
    irt = f"i{8 * size}"
    if rest.startswith("load"):
        p = _pointer(fc, ins, size)
        v = fc.tmp()
        fc.emit(f"{v} = load atomic {irt}, ptr {p} seq_cst, align {size}")
        fc.push(t, _widen(fc, t, irt, v))
        return
    if rest.startswith("store"):
        _, v = fc.stack.pop()
        p = _pointer(fc, ins, size)
        fc.emit(f"store atomic {irt} {_narrow(fc, t, irt, v)}, ptr {p} seq_cst, align {size}")
        return
    if rest.endswith(("cmpxchg", "cmpxchg_u")):
        _, new = fc.stack.pop()
        _, expected = fc.stack.pop()
        p = _pointer(fc, ins, size)
        e, n = _narrow(fc, t, irt, expected), _narrow(fc, t, irt, new)
        pair, old = fc.tmp(), fc.tmp()
        fc.emit(f"{pair} = cmpxchg ptr {p}, {irt} {e}, {irt} {n} seq_cst seq_cst, align {size}")
        fc.emit(f"{old} = extractvalue {{ {irt}, i1 }} {pair}, 0")
        fc.push(t, _widen(fc, t, irt, old))
        return
    # rmw[N].<op>[_u]
    kind = _RMW_OPS[rest.split(".")[1].removesuffix("_u")]
    _, v = fc.stack.pop()
    p = _pointer(fc, ins, size)
    old = fc.tmp()
    fc.emit(f"{old} = atomicrmw {kind} ptr {p}, {irt} {_narrow(fc, t, irt, v)} seq_cst, align {size}")
    fc.push(t, _widen(fc, t, irt, old))


def _effective_address(fc, ins, size: int) -> str:
    """The i64 effective address of a wait/notify, after the alignment and bounds checks
    (the host checks that the memory is shared)."""
    k = memidx_of(ins)
    addr = fc.pop()
    _check_alignment(fc, addr, ins[2], size, k)
    p = C.address(fc, addr, ins[2], size, k)
    _, base = fc.mem(k)
    a, b, ea = fc.tmp(), fc.tmp(), fc.tmp()
    fc.emit(f"{a} = ptrtoint ptr {p} to i64")
    fc.emit(f"{b} = ptrtoint ptr {base} to i64")
    fc.emit(f"{ea} = sub i64 {a}, {b}")
    return ea


def _wait(fc, ins):
    op = ins[0]
    size = 1 << op.align
    timeout = fc.stack.pop()
    expected = fc.stack.pop()
    ea = _effective_address(fc, ins, size)
    (r,) = fc.callback(CB_ATOMIC_WAIT, memidx_of(ins),
                       [("i64", ea), expected, timeout, ("i32", str(size))], ["i32"])
    fc.push("i32", r)


def _notify(fc, ins):
    count = fc.stack.pop()
    ea = _effective_address(fc, ins, 4)
    (r,) = fc.callback(CB_ATOMIC_NOTIFY, memidx_of(ins), [("i64", ea), count], ["i32"])
    fc.push("i32", r)


def _fence(fc, ins):
    fc.emit("fence seq_cst")


_HANDLERS = {o.name: _atomic for o in OPS if o.feature == "threads" and o.imm == "memarg"}
_HANDLERS.update({"memory.atomic.wait32": _wait, "memory.atomic.wait64": _wait,
                  "memory.atomic.notify": _notify, "atomic.fence": _fence})
C.register(_HANDLERS)
