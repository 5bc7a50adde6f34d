"""The llvm tier's lowering of the function-references proposal's instructions.

References are i64 handles into the instance's reference registry, 0 for null (see
:mod:`wasmforge.llvm.instance`), so a typed reference is lowered exactly as a ``funcref``:
``ref.as_non_null`` and the two branches test the handle against 0.  ``call_ref`` calls a
defined function of the instance natively, through the module's function table; any other
reference goes through the instance's callback (``CB_CALL_REF``), which finds the function
of the handle and calls it (a null handle traps there with "null function reference", as on
the interp tier).

``return_call_ref`` is a tail call (``FunctionCompiler.tail_call``, shared with
``return_call`` and ``return_call_indirect``) to an own function, a call then a return
through the callback for any other.

Each handler takes the function compiler and the instruction, as those of :mod:`.ops` do;
importing the module registers them in ``ops.HANDLERS`` (as :mod:`.simd` does).
"""

from __future__ import annotations

from ..errors import TrapCode as TC
from .layout import CB_CALL_REF, LAZY
from .ops import call_native_or_callback, register
from .prelude import CTX_TBAA


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


def _ref_target(fc, ins):
    """Pop the reference and the arguments of ``call_ref``/``return_call_ref`` and branch to
    the label ``native`` with the callee's code address in ``fn`` when a native call is
    possible, else to ``slow``.  A handle 1 + i names function i of the instance
    (RefRegistry): a defined function's code is in the module's function table (vm[LAZY])
    once compiled, and the typing rules make its signature the instruction's.  Anything else
    (null, an imported or another instance's function, code not compiled yet) takes the
    callback."""
    ft = fc.mc.module.types[ins[1]]
    ref = fc.stack.pop()
    args = fc.popn(len(ft.params))
    fc.leaf = False
    mc = fc.mc
    j, inside, tp, tab, slot, fn, isnative = (fc.tmp() for _ in range(7))
    fc.emit(f"{j} = sub i64 {ref[1]}, {mc.nimported + 1}")
    fc.emit(f"{inside} = icmp ult i64 {j}, {len(mc.module.funcs)}")
    look, native, slow = fc.label(), fc.label(), fc.label()
    fc.emit(f"br i1 {inside}, label %{look}, label %{slow}")
    fc.start_block(look)
    fc.emit(f"{tp} = getelementptr i64, ptr %vm, i64 {LAZY}")
    fc.emit(f"{tab} = load ptr, ptr {tp}, {CTX_TBAA}, !invariant.load !6")
    fc.emit(f"{slot} = getelementptr ptr, ptr {tab}, i64 {j}")
    fc.emit(f"{fn} = load ptr, ptr {slot}, {CTX_TBAA}")
    fc.emit(f"{isnative} = icmp ne ptr {fn}, null")
    fc.emit(f"br i1 {isnative}, label %{native}, label %{slow}")
    return ft, ref, args, fn, native, slow


def call_ref(fc, ins) -> None:
    ft, ref, args, fn, native, slow = _ref_target(fc, ins)
    call_native_or_callback(fc, ft, fn, args, native, slow, lambda: fc.callback(
        CB_CALL_REF, ins[1], [ref] + list(args), ft.results))


def return_call_ref(fc, ins) -> None:
    # A tail call (FunctionCompiler.tail_call, as return_call_indirect): a jump to an own
    # function's code; anything else runs behind the callback: call, then return.
    ft, ref, args, fn, native, slow = _ref_target(fc, ins)
    fc.start_block(native)
    fc.tail_call(fn, ft, args)
    fc.start_block(slow)
    vals = fc.callback(CB_CALL_REF, ins[1], [ref] + list(args), ft.results)
    fc.return_results(list(zip(ft.results, vals)))
    fc.go_dead()


#: Handlers by instruction name, registered in ops.HANDLERS.
BY_NAME = {"ref.as_non_null": ref_as_non_null, "br_on_null": br_on_null,
           "br_on_non_null": br_on_non_null, "call_ref": call_ref,
           "return_call_ref": return_call_ref}
register(BY_NAME)

__all__ = ["BY_NAME"]
