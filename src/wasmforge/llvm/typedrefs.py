"""The llvm tier's lowering of the function-references proposal's instructions.

References are i64 handles into the instance's reference registry, 0 for null (see
:mod:`wasmforge.llvm.instance`), so a typed reference is lowered exactly as a ``funcref``:
``ref.as_non_null`` and the two branches test the handle against 0, and ``call_ref`` goes
through the instance's callback (``CB_CALL_REF``), which finds the function of the handle and
calls it (a null handle traps there with "null function reference", as on the interp tier).

``return_call_ref`` is a tail call: it is left to the tail-call lowering (refused with
``UnsupportedError`` naming its proposal until the llvm tier has tail calls).

Each handler takes the function compiler and the instruction, as those of :mod:`.ops` do;
importing the module registers them in ``ops.HANDLERS`` (as :mod:`.simd` does).
"""

from __future__ import annotations

from ..errors import TrapCode as TC
from .layout import CB_CALL_REF
from .ops import register


def ref_as_non_null(fc, ins) -> None:
    t, v = fc.stack[-1]
    c = fc.tmp()
    fc.emit(f"{c} = icmp eq i64 {v}, 0")
    fc.trap_if(c, TC.NULL_REFERENCE)


def br_on_null(fc, ins) -> None:
    # Branch when the reference is null (it is dropped), else keep it on the stack.
    t, v = fc.stack.pop()
    c = fc.tmp()
    fc.emit(f"{c} = icmp eq i64 {v}, 0")
    taken, cont = fc.label(), fc.label()
    fc.emit(f"br i1 {c}, label %{taken}, label %{cont}")
    fc.start_block(taken)
    fc.branch(ins[1])
    fc.start_block(cont)
    fc.push(t, v)


def br_on_non_null(fc, ins) -> None:
    # Branch with the reference when it is not null, else drop it.
    t, v = fc.stack.pop()
    c = fc.tmp()
    fc.emit(f"{c} = icmp ne i64 {v}, 0")
    taken, cont = fc.label(), fc.label()
    fc.emit(f"br i1 {c}, label %{taken}, label %{cont}")
    fc.start_block(taken)
    fc.push(t, v)
    fc.branch(ins[1])
    fc.stack.pop()
    fc.start_block(cont)


def call_ref(fc, ins) -> None:
    ft = fc.mc.module.types[ins[1]]
    ref = fc.stack.pop()
    args = fc.popn(len(ft.params))
    vals = fc.callback(CB_CALL_REF, ins[1], [ref] + list(args), ft.results)
    for t, v in zip(ft.results, vals):
        fc.push(t, v)


#: Handlers by instruction name, registered in ops.HANDLERS.
BY_NAME = {"ref.as_non_null": ref_as_non_null, "br_on_null": br_on_null,
           "br_on_non_null": br_on_non_null, "call_ref": call_ref}
register(BY_NAME)

__all__ = ["BY_NAME"]
