"""The trampolines around a module's functions: the entry of each signature (Python calls
wasm through it, and traps ``longjmp`` back to it) and the thunks of lazy compilation."""

from __future__ import annotations

from .layout import CALLBACK, CB_COMPILE, DEPTH, IR_TYPE, JMPBUF, LAZY, SHADOW, TRAP_HOST
from .prelude import (CTX_TBAA, TAIL_CC, load_slot, results_in_memory, results_struct, ret_type,
                      slot_offsets, store_slot, tail_kind)


def entry_trampoline(k: int, ft, cc: str = "fastcc") -> str:
    """``i32 @wf_entry<k>(vm, fn, args, results)`` for functions of type ``ft``.

    The previous ``jmp_buf``, stack use and shadow stack height are kept in volatile stack slots so that they
    survive the ``longjmp`` (C11 7.13.2.1: non-volatile locals changed after setjmp are
    indeterminate; these are written before it, but volatile makes that explicit).  It
    leaves the thread's interrupt cell alone: the Python entry clears it (llvm/sigint.py),
    and another instance's code calling in natively (``vm[IMPORTS]``) must not lose a
    SIGINT that arrived while it ran."""
    lines = [
        f"define i32 @wf_entry{k}(ptr %vm, ptr %fn, ptr %args, ptr %res) noinline {{",
        "entry:",
        "  %buf = alloca [64 x i64], align 16",
        "  %saved = alloca [3 x i64], align 8",
        f"  %bp = getelementptr i64, ptr %vm, i64 {JMPBUF}",
        f"  %dp = getelementptr i64, ptr %vm, i64 {DEPTH}",
        "  %prev = load i64, ptr %bp",
        "  %depth = load i64, ptr %dp",
        "  %s1 = getelementptr i64, ptr %saved, i64 1",
        "  %s2 = getelementptr i64, ptr %saved, i64 2",
        f"  %shp = getelementptr i64, ptr %vm, i64 {SHADOW}",
        "  %sh = load ptr, ptr %shp",
        "  %shtop = load i64, ptr %sh",
        "  store volatile i64 %prev, ptr %saved",
        "  store volatile i64 %depth, ptr %s1",
        "  store volatile i64 %shtop, ptr %s2",
        "  store ptr %buf, ptr %bp",
        "  %r = call i32 @_setjmp(ptr %buf) returns_twice",
        "  %z = icmp eq i32 %r, 0",
        "  br i1 %z, label %run, label %trapped",
        "run:",
    ]
    args = []
    offsets, _ = slot_offsets(ft.params)
    for j, (t, k) in enumerate(zip(ft.params, offsets)):
        load_slot(lines, f"%a{j}", "%args", k, t)
        args.append(f"{IR_TYPE[t]} %a{j}")
    argtext = "".join(", " + a for a in args)
    rt = ret_type(ft.results)
    in_memory = results_in_memory(ft.results)
    if in_memory:
        # The function writes its results into this buffer (prelude.REG_RESULTS).
        st = results_struct(ft.results)
        lines.insert(4, f"  %rbuf = alloca {st}, align 16")
        lines.append(f"  call {cc} void %fn(ptr %vm, ptr %rbuf{argtext})")
    elif ft.results:
        lines.append(f"  %rv = call {cc} {rt} %fn(ptr %vm{argtext})")
    else:
        lines.append(f"  call {cc} void %fn(ptr %vm{argtext})")
    offsets, _ = slot_offsets(ft.results)
    for j, (t, k) in enumerate(zip(ft.results, offsets)):
        v = "%rv"
        if in_memory:
            lines.append(f"  %rp{j} = getelementptr {st}, ptr %rbuf, i32 0, i32 {j}")
            lines.append(f"  %re{j} = load {IR_TYPE[t]}, ptr %rp{j}")
            v = f"%re{j}"
        elif len(ft.results) > 1:
            lines.append(f"  %re{j} = extractvalue {rt} %rv, {j}")
            v = f"%re{j}"
        store_slot(lines, f"%rs{j}", "%res", k, t, v)
    lines += [
        "  %p1 = load volatile i64, ptr %saved",
        "  store i64 %p1, ptr %bp",
        "  ret i32 0",
        "trapped:",
        "  %p2 = load volatile i64, ptr %saved",
        "  %d2 = load volatile i64, ptr %s1",
        "  %t2 = load volatile i64, ptr %s2",
        "  store i64 %p2, ptr %bp",
        "  store i64 %d2, ptr %dp",
        "  store i64 %t2, ptr %sh",
        "  ret i32 %r",
        "}",
        "",
    ]
    return "\n".join(lines)


def lazy_thunk(i: int, j: int, ft, name: str = "f", cc: str = "fastcc") -> str:
    """``@f<i>`` for a batch that does not hold function ``i`` (lazy compilation, see
    :mod:`wasmforge.llvm.compiler`): it calls the function through slot ``j`` (its index in
    ``module.funcs``) of the module's function table (``vm[LAZY]``), first asking the
    instance's callback (``CB_COMPILE``) to compile the function's batch when the slot is
    still null.  ``name="t"`` makes ``@t<i>``, what baseline code calls (the table then holds
    the baseline code's own functions until the optimised ones replace them).

    The thunk has no alloca (the callback gets a null ``io``: compiling reads and writes
    none): optimised code inlines the thunk, and an inlined alloca leaves a
    ``llvm.lifetime.end`` after the thunk's tail call, which then stops being one where the
    function returns ``void`` (CodeGenPrepare duplicates a ``ret void`` only into a block
    that ends with the call): a chain of tail calls across lazily compiled batches grew the
    native stack at -O2."""
    params = ", ".join(f"{IR_TYPE[t]} %p{k}" for k, t in enumerate(ft.params))
    argtext = "".join(f", {IR_TYPE[t]} %p{k}" for k, t in enumerate(ft.params))
    rt = ret_type(ft.results)
    # A function with more than REG_RESULTS results: the result pointer is passed on.
    res = ", ptr %res" if results_in_memory(ft.results) else ""
    returns = ft.results and not res
    # In a module that makes tail calls, a tail call through the thunk stays a jump.
    marker = f"{tail_kind(ft.results)} " if cc == TAIL_CC else ""
    call = f"{marker}call {cc} {rt} %fn(ptr %vm{res}{argtext})"
    return "\n".join([
        f"define internal {cc} {rt} @{name}{i}(ptr %vm{res}{', ' if params else ''}{params}) #0 {{",
        "entry:",
        f"  %tp = getelementptr i64, ptr %vm, i64 {LAZY}",
        f"  %tab = load ptr, ptr %tp, {CTX_TBAA}, !invariant.load !6",
        f"  %slot = getelementptr ptr, ptr %tab, i64 {j}",
        f"  %fn0 = load ptr, ptr %slot, {CTX_TBAA}",
        "  %missing = icmp eq ptr %fn0, null",
        "  br i1 %missing, label %compile, label %go, !prof !5",
        "compile:",
        f"  %cbp = getelementptr i64, ptr %vm, i64 {CALLBACK}",
        f"  %cb = load ptr, ptr %cbp, {CTX_TBAA}",
        f"  %rc = call i32 %cb(ptr %vm, i32 {CB_COMPILE}, i32 {i}, ptr null)",
        "  %bad = icmp ne i32 %rc, 1",
        "  br i1 %bad, label %trap, label %go",
        "trap:",
        f"  call void @wf_trap(ptr %vm, i32 {TRAP_HOST}, i32 -1)",
        "  unreachable",
        "go:",
        f"  %fn = load ptr, ptr %slot, {CTX_TBAA}",
        f"  {'%r = ' if returns else ''}{call}",
        f"  ret {rt} %r" if returns else "  ret void",
        "}",
        "",
    ])

