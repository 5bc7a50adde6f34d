"""Exception handling on the llvm tier: explicit propagation through ``vm[EXN]``.

Traps keep unwinding with ``longjmp`` (llvm/trampolines.py); a wasm exception does not.  It
is a value in the instance's reference registry (an :class:`~wasmforge.runtime.tag.Exn`)
whose handle sits in the vmctx slot ``EXN`` while it is being thrown:

- ``throw`` asks the callback to make the exception (``CB_THROW``), which puts it in
  ``vm[EXN]``; ``throw_ref`` and ``rethrow`` store their exnref there themselves;
- after every call, a function of a module that uses exceptions (``ModuleCompiler.eh``)
  checks ``vm[EXN]`` (a call through the callback returns ``CB_THREW`` instead, when the
  host or another instance threw) and branches to the *dispatch* of the innermost try block
  covering the call, or returns when there is none: its caller checks in turn;
- a dispatch block (placed after the function's body) tests the catch clauses in order
  (``CB_EXN_MATCH`` compares tags by identity; ``CB_EXN_PAYLOAD`` unpacks the payload),
  clears ``vm[EXN]`` and branches to the handler's label with its values, or passes the
  exception on to the next enclosing dispatch;
- an exception left in ``vm[EXN]`` when the entry returns is raised by the Python side as
  :class:`~wasmforge.errors.WasmException`; a host function's WasmException is put there by
  the callback.

Modules without exception handling compile exactly as before (no check after calls), and
fuel, epochs and traps are unchanged.
"""

from __future__ import annotations

from ..errors import TrapCode as TC
from . import ops as C
from .layout import CB_EXN_MATCH, CB_EXN_PAYLOAD, CB_THROW, EXN, IR_TYPE
from .prelude import CTX_TBAA


def _tag_params(fc, tagidx: int) -> tuple:
    return tuple(fc.mc.module.tag_types()[tagidx].params)


def _set_exn(fc, v: str) -> None:
    p = fc.tmp()
    fc.emit(f"{p} = getelementptr i64, ptr %vm, i64 {EXN}")
    fc.emit(f"store i64 {v}, ptr {p}, {CTX_TBAA}")


def _open_try(fc, ins, kind: str):
    f = fc.open("block", ins[1])
    f.eh = kind
    f.dispatch = fc.label()
    f.catches = []
    fc.exn_scopes.append(f)
    return f


def _leave_scope(fc, f) -> None:
    if fc.exn_scopes and fc.exn_scopes[-1] is f:
        fc.exn_scopes.pop()


def _try_table(fc, ins):
    f = _open_try(fc, ins, "try_table")
    f.catches = list(ins[2])        # (kind, tag or None, label depth outside the try_table)


def _try(fc, ins):
    f = _open_try(fc, ins, "try")
    f.caught = fc.alloca("i64")


def _catch(fc, ins):
    """A legacy catch / catch_all arm: the body (or the previous arm) ends, the arm starts in
    a block of its own that only the dispatch enters, with the payload in allocas."""
    f = fc.frames[-1]
    _leave_scope(fc, f)
    if not fc.dead:
        fc.store_branch(f)
        f.reached = True
        fc.emit(f"br label %{f.end}")
    del fc.stack[f.height:]
    arm = fc.label()
    if ins[0].name == "catch":
        params = _tag_params(fc, ins[1])
        slots = [fc.alloca(IR_TYPE[t]) for t in params]
        f.catches.append((0, ins[1], arm, slots))
    else:
        params, slots = (), []
        f.catches.append((2, None, arm, slots))
    fc.start_block(arm)
    for t, slot in zip(params, slots):
        v = fc.tmp()
        fc.emit(f"{v} = load {IR_TYPE[t]}, ptr {slot}")
        fc.push(t, v)
    fc.dead = False


def _delegate(fc, ins):
    f = fc.frames[-1]
    _leave_scope(fc, f)
    # The label is counted outside the try: its exceptions go to the try blocks covering
    # that label's block (it included, if it is one), not to those in between.
    target = len(fc.frames) - 2 - ins[1]
    position = {id(g): k for k, g in enumerate(fc.frames)}
    outer = [s for s in fc.exn_scopes if position[id(s)] <= target]
    f.delegate_to = outer[-1].dispatch if outer else "ret"
    fc.do_end()


def close_try(fc, f) -> None:
    """At the end (or delegate) of try block ``f`` (already popped: ``fc.frames`` is the
    context outside it): emit its dispatch after the body."""
    _leave_scope(fc, f)
    saved, saved_lines = fc.out, fc.block_lines
    # The dispatch runs with the operand stack of the try block's entry: the values the body
    # pushed do not reach it (a callback there spills only those to the GC root stack).
    saved_stack = fc.stack
    fc.stack = fc.stack[:f.height]
    fc.out = []
    try:
        fc.start_block(f.dispatch)
        if f.delegate_to is not None:
            fc.emit(f"br label %{f.delegate_to}")
        else:
            _dispatch(fc, f)
        fc.eh_tail.extend(fc.out)
    finally:
        fc.out, fc.block_lines = saved, saved_lines
        fc.stack = saved_stack


def _dispatch(fc, f) -> None:
    p, h = fc.tmp(), fc.tmp()
    fc.emit(f"{p} = getelementptr i64, ptr %vm, i64 {EXN}")
    fc.emit(f"{h} = load i64, ptr {p}, {CTX_TBAA}")
    for clause in f.catches:
        kind, tag = clause[0], clause[1]
        nxt = fc.label()
        if tag is not None:
            (m,) = fc.callback(CB_EXN_MATCH, tag, [("exnref", h)], ["i32"])
            c = fc.tmp()
            fc.emit(f"{c} = icmp ne i32 {m}, 0")
            hit = fc.label()
            fc.emit(f"br i1 {c}, label %{hit}, label %{nxt}")
            fc.start_block(hit)
            params = _tag_params(fc, tag)
            payload = fc.callback(CB_EXN_PAYLOAD, tag, [("exnref", h)], list(params)) if params else []
        else:
            params, payload = (), []
        fc.emit(f"store i64 0, ptr {p}, {CTX_TBAA}")
        if f.eh == "try":
            arm, slots = clause[2], clause[3]
            for t, v, slot in zip(params, payload, slots):
                fc.emit(f"store {IR_TYPE[t]} {v}, ptr {slot}")
            fc.emit(f"store i64 {h}, ptr {f.caught}")
            fc.emit(f"br label %{arm}")
        else:
            target = fc.frames[-1 - clause[2]]
            values = list(zip(params, payload))
            if kind == 1 or kind == 3:          # catch_ref, catch_all_ref: the exnref too
                values.append(("exnref", h))
            for (t, v), slot in zip(values, target.slots):
                fc.emit(f"store {IR_TYPE[t]} {v}, ptr {slot}")
            if target.kind != "loop":
                target.reached = True
            fc.emit(f"br label %{target.label}")
        fc.start_block(nxt)
    # No clause matched: on to the enclosing try block, or out of the function.
    fc.emit(f"br label %{fc.exn_target()}")


def _throw(fc, ins):
    args = fc.popn(len(_tag_params(fc, ins[1])))
    fc.callback(CB_THROW, ins[1], args, [])
    fc.emit(f"br label %{fc.exn_target()}")
    fc.go_dead()


def _throw_ref(fc, ins):
    v = fc.pop()
    c = fc.tmp()
    fc.emit(f"{c} = icmp eq i64 {v}, 0")
    fc.trap_if(c, TC.NULL_REFERENCE)
    _set_exn(fc, v)
    fc.emit(f"br label %{fc.exn_target()}")
    fc.go_dead()


def _rethrow(fc, ins):
    f = fc.frames[-1 - ins[1]]
    v = fc.tmp()
    fc.emit(f"{v} = load i64, ptr {f.caught}")
    _set_exn(fc, v)
    fc.emit(f"br label %{fc.exn_target()}")
    fc.go_dead()


C.register({"try_table": _try_table, "try": _try, "catch": _catch, "catch_all": _catch,
            "delegate": _delegate, "throw": _throw, "throw_ref": _throw_ref,
            "rethrow": _rethrow})
