"""How each instruction becomes LLVM IR: one handler per instruction, ``handler(fc, ins)``,
where ``fc`` is the :class:`~wasmforge.llvm.codegen.FunctionCompiler` of the function (its
operand stack, emission and control-flow helpers) and ``ins`` the decoded instruction (its
``Op``, then the immediates).

:data:`HANDLERS` maps each ``Op`` to its handler.  A new instruction is one handler function
and one entry in :data:`_BY_NAME`; the numeric instructions are made from their names on
first use (:func:`generic`), and :mod:`wasmforge.llvm.simd` registers the 0xFD ones.
"""

from __future__ import annotations

import os

from ..errors import TrapCode as TC
from ..numerics.bits import f64_to_bits
from ..opcodes import BY_NAME, SELECT_T, memidx_of
from ..types import is_ref
from .layout import (CB_GC_SIG_MATCH, CB_CALL_INDIRECT, CB_DATA_DROP, CB_ELEM_DROP, CB_GLOBAL_GET,
                     CB_GLOBAL_SET, CB_MEMORY_GROW, CB_MEMORY_INIT, CB_MEMORY_INIT_MEM,
                     CB_TABLE_COPY, CB_TABLE_FILL,
                     CB_TABLE_GET, CB_TABLE_GROW, CB_TABLE_INIT, CB_TABLE_SET, CB_TABLE_SIZE,
                     IR_TYPE, SIGS, TABLES, TRAP_ARG)
from .prelude import CTX_TBAA, MEM_TBAA, with_decl

_T_INT = {"i32": 32, "i64": 64}

_ICMP = {"eq": "eq", "ne": "ne", "lt_s": "slt", "lt_u": "ult", "gt_s": "sgt", "gt_u": "ugt",
         "le_s": "sle", "le_u": "ule", "ge_s": "sge", "ge_u": "uge"}
_IBIN = {"add": "add", "sub": "sub", "mul": "mul", "and": "and", "or": "or", "xor": "xor"}
_ISHIFT = {"shl": "shl", "shr_s": "ashr", "shr_u": "lshr"}
_FCMP = {"eq": "oeq", "ne": "une", "lt": "olt", "gt": "ogt", "le": "ole", "ge": "oge"}
_FBIN = {"add": "fadd", "sub": "fsub", "mul": "fmul", "div": "fdiv"}
# spec 4.3.3: fmin/fmax propagate NaN and order -0 below +0, which is llvm.minimum/maximum;
# fnearest rounds half to even (llvm.roundeven).
_FINTR2 = {"min": "minimum", "max": "maximum", "copysign": "copysign"}
_FINTR1 = {"abs": "fabs", "ceil": "ceil", "floor": "floor", "trunc": "trunc",
           "nearest": "roundeven", "sqrt": "sqrt"}
_LLVM_FLOAT_SUFFIX = {"float": "f32", "double": "f64"}
# The inline-asm register class of floating-point values (x86: SSE, AArch64: FP/SIMD).
# (The machine as platform.machine() reads it, without importing platform, which a warm run
# pays for otherwise: os.uname on POSIX, the variable Windows sets.)
_MACHINE = os.uname().machine if hasattr(os, "uname") else os.environ.get("PROCESSOR_ARCHITECTURE", "")
_FREG = "w" if _MACHINE.lower() in ("aarch64", "arm64") else "x"

# Loads and stores: name -> (IR type accessed, bytes, extension to the result type or None).
_LOADS = {
    "i32.load": ("i32", 4, None), "i64.load": ("i64", 8, None),
    "f32.load": ("float", 4, None), "f64.load": ("double", 8, None),
    "i32.load8_s": ("i8", 1, "sext"), "i32.load8_u": ("i8", 1, "zext"),
    "i32.load16_s": ("i16", 2, "sext"), "i32.load16_u": ("i16", 2, "zext"),
    "i64.load8_s": ("i8", 1, "sext"), "i64.load8_u": ("i8", 1, "zext"),
    "i64.load16_s": ("i16", 2, "sext"), "i64.load16_u": ("i16", 2, "zext"),
    "i64.load32_s": ("i32", 4, "sext"), "i64.load32_u": ("i32", 4, "zext"),
}
_STORES = {
    "i32.store": ("i32", 4), "i64.store": ("i64", 8), "f32.store": ("float", 4),
    "f64.store": ("double", 8), "i32.store8": ("i8", 1), "i32.store16": ("i16", 2),
    "i64.store8": ("i8", 1), "i64.store16": ("i16", 2), "i64.store32": ("i32", 4),
}

# Exclusive bounds of the float operand of a trapping truncation (spec 4.3.3 trunc: the
# truncated value must be representable).  Each bound is exact in the source type.
_TRUNC_BOUNDS = {
    ("i32", "float", True): (-2147483904.0, 2147483648.0),
    ("i32", "double", True): (-2147483649.0, 2147483648.0),
    ("i32", "float", False): (-1.0, 4294967296.0),
    ("i32", "double", False): (-1.0, 4294967296.0),
    ("i64", "float", True): (-9223373136366403584.0, 9223372036854775808.0),
    ("i64", "double", True): (-9223372036854777856.0, 9223372036854775808.0),
    ("i64", "float", False): (-1.0, 18446744073709551616.0),
    ("i64", "double", False): (-1.0, 18446744073709551616.0),
}


def _fconst(x: float) -> str:
    """An LLVM float/double literal for a value exact in the type (hex of the double)."""
    return f"0x{f64_to_bits(x):016X}"



# ----- instruction handlers -----

def _unreachable(fc, ins):
    fc.emit(f"br label %{fc.trap_label(TC.UNREACHABLE_CODE_REACHED)}")
    fc.go_dead()


def _nop(fc, ins):
    pass


def _block(fc, ins):
    fc.open("block", ins[1])


def _loop(fc, ins):
    fc.open("loop", ins[1])


def _if(fc, ins):
    # The condition is on top of the block's params: take it first.
    cond = fc.pop()
    fc.open("if", ins[1], cond)


def _else(fc, ins):
    fc.do_else()


def _end(fc, ins):
    fc.do_end()


def _br(fc, ins):
    fc.branch(ins[1])
    fc.go_dead()


def _br_if(fc, ins):
    c = fc.pop()
    b = fc.tmp()
    fc.emit(f"{b} = icmp ne i32 {c}, 0")
    taken, cont = fc.label(), fc.label()
    fc.emit(f"br i1 {b}, label %{taken}, label %{cont}")
    fc.start_block(taken)
    fc.branch(ins[1])
    fc.start_block(cont)


def _br_table(fc, ins):
    labels, default = ins[1], ins[2]
    idx = fc.pop()
    blocks = {}
    for d in set(labels) | {default}:
        blocks[d] = fc.label()
    cases = " ".join(f"i32 {k}, label %{blocks[d]}" for k, d in enumerate(labels))
    fc.emit(f"switch i32 {idx}, label %{blocks[default]} [ {cases} ]")
    for d, lab in blocks.items():
        fc.start_block(lab)
        fc.branch(d)
    fc.go_dead()


def _return(fc, ins):
    fc.branch(len(fc.frames) - 1)
    fc.go_dead()


def _call(fc, ins):
    i = ins[1]
    mc = fc.mc
    ft = mc.func_types[i]
    if i < mc.nimported:
        # Natively when the import is another llvm instance's function, else the callback.
        for t, v in zip(ft.results, fc.import_call(i, ft)):
            fc.push(t, v)
    else:
        args = fc.popn(len(ft.params))
        # Baseline code calls through the function table (ModuleCompiler.compile), so that a
        # running baseline function's next call enters the optimised code once it is there.
        fc.direct_call(mc.target(i), ft, args)


def _indirect_target(fc, typeidx: int, tableidx: int) -> tuple:
    """The checks of call_indirect and return_call_indirect (spec 4.4.7): pops the index and
    the arguments, traps on an index out of range, a null entry or another type; returns
    ``(ft, idx, args, fn, isnative)``: ``fn`` the entry's native code, ``isnative`` the i1
    saying it has any (else the callback must make the call)."""
    ft = fc.mc.module.types[typeidx]
    idx = fc.pop()
    args = fc.popn(len(ft.params))
    fc.leaf = False
    t = fc.tmp
    tp, mir, size, idx64, oob, ents, ep, sig, sigp, sigs, exp, isnull, bad, fnp, fn, isnative = (
        t() for _ in range(16))
    fc.emit(f"{tp} = getelementptr i64, ptr %vm, i64 {TABLES}")
    fc.emit(f"{tp}.a = load ptr, ptr {tp}, {CTX_TBAA}, !invariant.load !6")
    fc.emit(f"{tp}.m = getelementptr ptr, ptr {tp}.a, i64 {tableidx}")
    fc.emit(f"{mir} = load ptr, ptr {tp}.m, {CTX_TBAA}, !invariant.load !6")
    fc.emit(f"{size} = load i64, ptr {mir}, {CTX_TBAA}")
    if fc.mc.table_types[tableidx].is_64:
        fc.emit(f"{idx64} = add i64 {idx}, 0")          # memory64: a 64-bit table's index
    else:
        fc.emit(f"{idx64} = zext i32 {idx} to i64")
    fc.emit(f"{oob} = icmp uge i64 {idx64}, {size}")
    fc.trap_if(oob, TC.UNDEFINED_ELEMENT)
    fc.emit(f"{ents}.p = getelementptr i64, ptr {mir}, i64 1")
    fc.emit(f"{ents} = load ptr, ptr {ents}.p, {CTX_TBAA}")
    fc.emit(f"{ep} = getelementptr {{i64, ptr}}, ptr {ents}, i64 {idx64}")
    fc.emit(f"{sig} = load i64, ptr {ep}, {CTX_TBAA}")
    fc.emit(f"{isnull} = icmp eq i64 {sig}, -1")
    # The reference interpreter's message names the index: keep it for the trap.
    uninit, cont = fc.label(), fc.label()
    fc.emit(f"br i1 {isnull}, label %{uninit}, label %{cont}, !prof !5")
    fc.start_block(uninit)
    fc.emit(f"{isnull}.p = getelementptr i64, ptr %vm, i64 {TRAP_ARG}")
    fc.emit(f"store i64 {idx64}, ptr {isnull}.p")
    fc.emit(f"br label %{fc.trap_label(TC.UNINITIALIZED_ELEMENT)}")
    fc.start_block(cont)
    fc.emit(f"{sigp} = getelementptr i64, ptr %vm, i64 {SIGS}")
    fc.emit(f"{sigs} = load ptr, ptr {sigp}, {CTX_TBAA}, !invariant.load !6")
    fc.emit(f"{exp}.p = getelementptr i64, ptr {sigs}, i64 {typeidx}")
    fc.emit(f"{exp} = load i64, ptr {exp}.p, {CTX_TBAA}, !invariant.load !6")
    fc.emit(f"{bad} = icmp ne i64 {sig}, {exp}")
    if fc.mc.gc:
        # GC: a function of a declared subtype of the type passes too (asked of the callback).
        sub, cont = fc.label(), fc.label()
        fc.emit(f"br i1 {bad}, label %{sub}, label %{cont}, !prof !5")
        fc.start_block(sub)
        (m,) = fc.callback(CB_GC_SIG_MATCH, typeidx, [("i64", str(tableidx)), ("i64", idx64)], ["i32"])
        fc.emit(f"{bad}.no = icmp eq i32 {m}, 0")
        fc.trap_if(f"{bad}.no", TC.INDIRECT_CALL_TYPE_MISMATCH)
        fc.emit(f"br label %{cont}")
        fc.start_block(cont)
    else:
        fc.trap_if(bad, TC.INDIRECT_CALL_TYPE_MISMATCH)
    fc.emit(f"{fnp} = getelementptr {{i64, ptr}}, ptr {ep}, i64 0, i32 1")
    fc.emit(f"{fn} = load ptr, ptr {fnp}, {CTX_TBAA}")
    fc.emit(f"{isnative} = icmp ne ptr {fn}, null")
    return ft, idx, args, fn, isnative


def call_native_or_callback(fc, ft, fn, args, native, slow, callback):
    """Emit the two paths of a call through a table or reference, from blocks ``native``
    (a direct call of ``fn``) and ``slow`` (``callback()``, returning the result values),
    and push the results, left by both paths in allocas and read at the join."""
    join = fc.label()
    slots = [fc.alloca(IR_TYPE[r]) for r in ft.results]
    fc.start_block(native)
    height = len(fc.stack)
    fc.direct_call(fn, ft, args)
    for (rt_, v), slot in zip(fc.stack[height:], slots):
        fc.emit(f"store {IR_TYPE[rt_]} {v}, ptr {slot}")
    del fc.stack[height:]
    fc.emit(f"br label %{join}")
    fc.start_block(slow)
    for r, v, slot in zip(ft.results, callback(), slots):
        fc.emit(f"store {IR_TYPE[r]} {v}, ptr {slot}")
    fc.emit(f"br label %{join}")
    fc.start_block(join)
    for r, slot in zip(ft.results, slots):
        v = fc.tmp()
        fc.emit(f"{v} = load {IR_TYPE[r]}, ptr {slot}")
        fc.push(r, v)


def _call_indirect(fc, ins):
    typeidx, tableidx = ins[1], ins[2]
    ft, idx, args, fn, isnative = _indirect_target(fc, typeidx, tableidx)
    native, foreign = fc.label(), fc.label()
    fc.emit(f"br i1 {isnative}, label %{native}, label %{foreign}")
    call_native_or_callback(fc, ft, fn, args, native, foreign, lambda: fc.callback(
        CB_CALL_INDIRECT, tableidx,
        [(_table_index_type(fc, tableidx), idx)] + list(args), ft.results))


def _return_call(fc, ins):
    i = ins[1]
    mc = fc.mc
    ft = mc.func_types[i]
    if i < mc.nimported:
        # An imported function runs behind the instance's callback: call, then return.
        _call(fc, ins)
        fc.return_results(fc.popn(len(ft.results)))
    else:
        args = fc.popn(len(ft.params))
        fc.tail_call(mc.target(i), ft, args)
    fc.go_dead()


def _return_call_indirect(fc, ins):
    ft, idx, args, fn, isnative = _indirect_target(fc, ins[1], ins[2])
    native, foreign = fc.label(), fc.label()
    fc.emit(f"br i1 {isnative}, label %{native}, label %{foreign}")
    fc.start_block(native)
    fc.tail_call(fn, ft, args)
    # A function the table holds without native code (a host function, another instance's)
    # runs behind the callback: call, then return.
    fc.start_block(foreign)
    vals = fc.callback(CB_CALL_INDIRECT, ins[2],
                       [(_table_index_type(fc, ins[2]), idx)] + list(args), ft.results)
    fc.return_results(list(zip(ft.results, vals)))
    fc.go_dead()


def _drop(fc, ins):
    fc.pop()


def _select(fc, ins):
    c = fc.pop()
    b = fc.pop()
    t, a = fc.stack.pop()
    cc, r = fc.tmp(), fc.tmp()
    fc.emit(f"{cc} = icmp ne i32 {c}, 0")
    fc.emit(f"{r} = select i1 {cc}, {IR_TYPE[t]} {a}, {IR_TYPE[t]} {b}")
    fc.push(t, r)


def _local_get(fc, ins):
    t = fc.local_types[ins[1]]
    v = fc.tmp()
    fc.emit(f"{v} = load {IR_TYPE[t]}, ptr {fc.locals[ins[1]]}")
    fc.push(t, v)


def _local_set(fc, ins):
    t, v = fc.stack.pop()
    fc.emit(f"store {IR_TYPE[t]} {v}, ptr {fc.locals[ins[1]]}")


def _local_tee(fc, ins):
    t, v = fc.stack[-1]
    fc.emit(f"store {IR_TYPE[t]} {v}, ptr {fc.locals[ins[1]]}")


def _global_get(fc, ins):
    idx = ins[1]
    gt = fc.mc.global_types[idx]
    t = gt.content
    if is_ref(t):
        (v,) = fc.callback(CB_GLOBAL_GET, idx, [], [t])
        fc.push(t, v)
        return
    cell = fc.global_cell(idx)
    v = fc.tmp()
    fc.emit(f"{v} = load {IR_TYPE[t]}, ptr {cell}, {CTX_TBAA}")
    fc.push(t, v)


def _global_set(fc, ins):
    idx = ins[1]
    t, v = fc.stack.pop()
    gt = fc.mc.global_types[idx].content
    if is_ref(gt):
        fc.callback(CB_GLOBAL_SET, idx, [(gt, v)], [])
        return
    fc.emit(f"store {IR_TYPE[gt]} {v}, ptr {fc.global_cell(idx)}, {CTX_TBAA}")


def address(fc, addr: str, offset: int, size: int, k: int = 0) -> str:
    """Bounds-check an access of ``size`` bytes at ``addr + offset`` in memory ``k``; return
    the pointer.  spec 4.4.7: the effective address is computed without wrapping (33 bits fit
    in i64; a 64-bit memory's i64 address plus a u64 offset is checked in i128)."""
    mem, base = fc.mem(k)
    ea, end, sz, ok, p = (fc.tmp() for _ in range(5))
    if fc.mc.mem_types[k].is_64:
        fc.emit(f"{ea}.w = zext i64 {addr} to i128")
        fc.emit(f"{end} = add i128 {ea}.w, {offset + size}")
        fc.emit(f"{sz}.p = getelementptr i64, ptr {mem}, i64 1")
        fc.emit(f"{sz} = load i64, ptr {sz}.p, {CTX_TBAA}")
        fc.emit(f"{sz}.w = zext i64 {sz} to i128")
        fc.emit(f"{ok} = icmp ugt i128 {end}, {sz}.w")
        fc.trap_if(ok, TC.MEMORY_OUT_OF_BOUNDS)
        signed = offset - (1 << 64) if offset >= 1 << 63 else offset     # IR literals are signed
        fc.emit(f"{ea} = add i64 {addr}, {signed}")
        fc.emit(f"{p} = getelementptr i8, ptr {base}, i64 {ea}")
        return p
    fc.emit(f"{ea}.z = zext i32 {addr} to i64")
    fc.emit(f"{ea} = add i64 {ea}.z, {offset}")
    fc.emit(f"{end} = add i64 {ea}, {size}")
    fc.emit(f"{sz}.p = getelementptr i64, ptr {mem}, i64 1")
    fc.emit(f"{sz} = load i64, ptr {sz}.p, {CTX_TBAA}")
    fc.emit(f"{ok} = icmp ugt i64 {end}, {sz}")
    fc.trap_if(ok, TC.MEMORY_OUT_OF_BOUNDS)
    fc.emit(f"{p} = getelementptr i8, ptr {base}, i64 {ea}")
    return p


def _load(fc, ins):
    irt, size, ext = _LOADS[ins[0].name]
    rt = ins[0].type
    p = address(fc, fc.pop(), ins[2], size, memidx_of(ins))
    v = fc.tmp()
    fc.emit(f"{v} = load {irt}, ptr {p}, align 1, {MEM_TBAA}")
    if ext:
        w = fc.tmp()
        fc.emit(f"{w} = {ext} {irt} {v} to {IR_TYPE[rt]}")
        v = w
    fc.push(rt, v)


def _store(fc, ins):
    name = ins[0].name
    irt, size = _STORES[name]
    t, v = fc.stack.pop()
    p = address(fc, fc.pop(), ins[2], size, memidx_of(ins))
    if irt != IR_TYPE[t]:
        w = fc.tmp()
        fc.emit(f"{w} = trunc {IR_TYPE[t]} {v} to {irt}")
        v = w
    fc.emit(f"store {irt} {v}, ptr {p}, align 1, {MEM_TBAA}")


def _memory_size(fc, ins):
    k = ins[1]
    mem, _ = fc.mem(k)
    sz, pages, r = fc.tmp(), fc.tmp(), fc.tmp()
    fc.emit(f"{sz}.p = getelementptr i64, ptr {mem}, i64 1")
    fc.emit(f"{sz} = load i64, ptr {sz}.p, {CTX_TBAA}")
    fc.emit(f"{pages} = lshr i64 {sz}, 16")
    if fc.mc.mem_types[k].is_64:
        fc.push("i64", pages)
        return
    fc.emit(f"{r} = trunc i64 {pages} to i32")
    fc.push("i32", r)


def _memory_grow(fc, ins):
    k = ins[1]
    at = "i64" if fc.mc.mem_types[k].is_64 else "i32"
    (v,) = fc.callback(CB_MEMORY_GROW, k, [fc.stack.pop()], [at])
    fc.push(at, v)


def _load_size(fc, sz: str, mem: str) -> None:
    fc.emit(f"{sz}.p = getelementptr i64, ptr {mem}, i64 1")
    fc.emit(f"{sz} = load i64, ptr {sz}.p, {CTX_TBAA}")


def _to_i64(fc, w: str, t: str, v: str) -> str:
    """An address or length ``v`` of type ``t`` (i32 or i64) as an unsigned i64 (in ``w``
    when it must be extended)."""
    if t == "i64":
        return v
    fc.emit(f"{w} = zext i32 {v} to i64")
    return w


def _range_check(fc, start: str, n64: str, limit: str, code, t: str = "i32") -> str:
    s64, end, bad = fc.tmp(), fc.tmp(), fc.tmp()
    if t == "i64":
        # memory64: start + n may pass 2^64, so the sum is taken in i128.
        sw, nw, lw = fc.tmp(), fc.tmp(), fc.tmp()
        fc.emit(f"{sw} = zext i64 {start} to i128")
        fc.emit(f"{nw} = zext i64 {n64} to i128")
        fc.emit(f"{end} = add i128 {sw}, {nw}")
        fc.emit(f"{lw} = zext i64 {limit} to i128")
        fc.emit(f"{bad} = icmp ugt i128 {end}, {lw}")
        fc.trap_if(bad, code)
        return start
    fc.emit(f"{s64} = zext i32 {start} to i64")
    fc.emit(f"{end} = add i64 {s64}, {n64}")
    fc.emit(f"{bad} = icmp ugt i64 {end}, {limit}")
    fc.trap_if(bad, code)
    return s64


def _memory_fill(fc, ins):
    # spec 4.4.8 memory.fill: the whole range is checked first; n = 0 at the end is fine.
    # (Temporaries are made in the order of the code before multi-memory, so a module with
    # one 32-bit memory compiles to the same IR.)
    (nt, n), (_, val), (dt, d) = fc.stack.pop(), fc.stack.pop(), fc.stack.pop()
    mem, base = fc.mem(ins[1])
    sz, n64, b, p = fc.tmp(), fc.tmp(), fc.tmp(), fc.tmp()
    _load_size(fc, sz, mem)
    n64 = _to_i64(fc, n64, nt, n)
    d64 = _range_check(fc, d, n64, sz, TC.MEMORY_OUT_OF_BOUNDS, dt)
    fc.emit(f"{b} = trunc i32 {val} to i8")
    fc.emit(f"{p} = getelementptr i8, ptr {base}, i64 {d64}")
    fc.emit(f"call void @llvm.memset.p0.i64(ptr align 1 {p}, i8 {b}, i64 {n64}, i1 false), {MEM_TBAA}")


def _memory_copy(fc, ins):
    # multi-memory: from memory ins[2] to memory ins[1]; memory64: each address has its
    # memory's type, the length the narrower one.
    (nt, n), (st, s), (dt, d) = fc.stack.pop(), fc.stack.pop(), fc.stack.pop()
    dmem, dbase = fc.mem(ins[1])
    dsz, n64, pd, ps = fc.tmp(), fc.tmp(), fc.tmp(), fc.tmp()
    _load_size(fc, dsz, dmem)
    ssz, sbase = dsz, dbase
    if ins[2] != ins[1]:
        smem, sbase = fc.mem(ins[2])
        ssz = fc.tmp()
        _load_size(fc, ssz, smem)
    n64 = _to_i64(fc, n64, nt, n)
    d64 = _range_check(fc, d, n64, dsz, TC.MEMORY_OUT_OF_BOUNDS, dt)
    s64 = _range_check(fc, s, n64, ssz, TC.MEMORY_OUT_OF_BOUNDS, st)
    fc.emit(f"{pd} = getelementptr i8, ptr {dbase}, i64 {d64}")
    fc.emit(f"{ps} = getelementptr i8, ptr {sbase}, i64 {s64}")
    fc.emit(f"call void @llvm.memmove.p0.p0.i64(ptr align 1 {pd}, ptr align 1 {ps}, i64 {n64}, "
            f"i1 false), {MEM_TBAA}")


def _memory_init(fc, ins):
    args = fc.popn(3)
    if ins[2]:
        # multi-memory: the memory index is the immediate, the segment an io slot.
        fc.callback(CB_MEMORY_INIT_MEM, ins[2], args + [("i64", str(ins[1]))], [])
        return
    fc.callback(CB_MEMORY_INIT, ins[1], args, [])


def _data_drop(fc, ins):
    fc.callback(CB_DATA_DROP, ins[1], [], [])


def _table_type(fc, idx) -> str:
    return fc.mc.table_types[idx].element


def _table_get(fc, ins):
    (v,) = fc.callback(CB_TABLE_GET, ins[1], fc.popn(1), [_table_type(fc, ins[1])])
    fc.push(_table_type(fc, ins[1]), v)


def _table_set(fc, ins):
    fc.callback(CB_TABLE_SET, ins[1], fc.popn(2), [])


def _table_index_type(fc, idx) -> str:
    return "i64" if fc.mc.table_types[idx].is_64 else "i32"


def _table_size(fc, ins):
    it = _table_index_type(fc, ins[1])
    (v,) = fc.callback(CB_TABLE_SIZE, ins[1], [], [it])
    fc.push(it, v)


def _table_grow(fc, ins):
    it = _table_index_type(fc, ins[1])
    (v,) = fc.callback(CB_TABLE_GROW, ins[1], fc.popn(2), [it])
    fc.push(it, v)


def _table_fill(fc, ins):
    fc.callback(CB_TABLE_FILL, ins[1], fc.popn(3), [])


# The callback takes one 32-bit immediate; an instruction's second index goes in an io slot
# (both are full u32 indices: packing two into 32 bits would alias indices past 2^16).

def _table_copy(fc, ins):
    fc.callback(CB_TABLE_COPY, ins[1], fc.popn(3) + [("i64", str(ins[2]))], [])


def _table_init(fc, ins):
    fc.callback(CB_TABLE_INIT, ins[2], fc.popn(3) + [("i64", str(ins[1]))], [])


def _elem_drop(fc, ins):
    fc.callback(CB_ELEM_DROP, ins[1], [], [])


def _ref_null(fc, ins):
    fc.push(ins[1], "0")


def _ref_is_null(fc, ins):
    v = fc.pop()
    c, r = fc.tmp(), fc.tmp()
    fc.emit(f"{c} = icmp eq i64 {v}, 0")
    fc.emit(f"{r} = zext i1 {c} to i32")
    fc.push("i32", r)


def _ref_func(fc, ins):
    # Handles 1..n are the instance's function index space (see instance.RefRegistry).
    fc.push("funcref", str(ins[1] + 1))


def _const(fc, ins):
    t = ins[0].type
    if t == "i32":
        fc.push("i32", str(ins[1]))
    elif t == "i64":
        fc.push("i64", str(ins[1]))
    else:
        # Through a bitcast so that NaN payloads (even signalling ones) stay exact, then
        # through an empty asm so that LLVM cannot fold `x - 0.0`, `x * 1.0`, ... to `x`:
        # wasm requires those to quiet a signalling NaN (spec 4.3.3, "nans").
        v = fc.tmp()
        it = "i32" if t == "f32" else "i64"
        fc.emit(f"{v}.c = bitcast {it} {ins[1]} to {IR_TYPE[t]}")
        fc.emit(f"{v} = {opaque(IR_TYPE[t], v + '.c')}")
        fc.push(t, v)


def opaque(irt: str, v: str) -> str:
    """An instruction (right-hand side) giving ``v`` through an optimisation barrier."""
    return f'call {irt} asm "", "={_FREG},0"({irt} {v})'


def _quiet(fc, t: str, r: str) -> str:
    """``r`` with the quiet bit set when it is a NaN (spec 4.3.3: arithmetic NaNs)."""
    it, bit = ("i32", 0x400000) if t == "f32" else ("i64", 0x8000000000000)
    ty = IR_TYPE[t]
    b, q, qf, nan, out = (fc.tmp() for _ in range(5))
    fc.emit(f"{b} = bitcast {ty} {r} to {it}")
    fc.emit(f"{q} = or {it} {b}, {bit}")
    fc.emit(f"{qf} = bitcast {it} {q} to {ty}")
    fc.emit(f"{nan} = fcmp uno {ty} {r}, {r}")
    fc.emit(f"{out} = select i1 {nan}, {ty} {qf}, {ty} {r}")
    return out


#: Instruction name -> handler: a new instruction is its handler above and one entry here.
_BY_NAME = {
    "unreachable": _unreachable, "nop": _nop, "block": _block, "loop": _loop, "if": _if,
    "else": _else, "end": _end, "br": _br, "br_if": _br_if, "br_table": _br_table,
    "return": _return, "call": _call, "call_indirect": _call_indirect, "drop": _drop,
    "return_call": _return_call, "return_call_indirect": _return_call_indirect,
    "select": _select, "local.get": _local_get, "local.set": _local_set,
    "local.tee": _local_tee, "global.get": _global_get, "global.set": _global_set,
    "memory.size": _memory_size, "memory.grow": _memory_grow, "memory.fill": _memory_fill,
    "memory.copy": _memory_copy, "memory.init": _memory_init, "data.drop": _data_drop,
    "table.get": _table_get, "table.set": _table_set, "table.size": _table_size,
    "table.grow": _table_grow, "table.fill": _table_fill, "table.copy": _table_copy,
    "table.init": _table_init, "elem.drop": _elem_drop, "ref.null": _ref_null,
    "ref.is_null": _ref_is_null, "ref.func": _ref_func,
    "i32.const": _const, "i64.const": _const, "f32.const": _const, "f64.const": _const,
}
for _n in _LOADS:
    _BY_NAME[_n] = _load
for _n in _STORES:
    _BY_NAME[_n] = _store

#: ``Op`` -> handler, for every instruction the llvm tier lowers (the numeric ones join on
#: first use, see :func:`generic`).
HANDLERS: dict = {}


def register(by_name: dict) -> None:
    """Make ``by_name[name]`` the handler of the instruction called ``name``.  Names that are
    no instruction are passed over (the SIMD tables are made per shape, and not every shape
    has every operator); tests/test_op_coverage.py checks that every instruction has one."""
    for name, handler in by_name.items():
        o = BY_NAME.get(name)
        if o is not None:
            HANDLERS[o] = handler


register(_BY_NAME)
HANDLERS[SELECT_T] = _select    # typed `select` shares the name of the plain one


def generic(o):
    """The handler of the numeric instruction ``o`` (an ``Op``), made from its name, or None."""
    t, op = o.type, o.operator
    if t in ("i32", "i64"):
        h = _int_handler(t, op)
    elif t in ("f32", "f64"):
        h = _float_handler(t, op)
    else:
        return None
    if h is not None:
        HANDLERS[o] = h
    return h


def handler_of(o):
    """The handler of ``o`` (an ``Op``), or None when the llvm tier does not lower it: what
    FunctionCompiler.compile looks up, and tests/test_op_coverage.py checks for every
    instruction of the opcode table."""
    h = HANDLERS.get(o)
    return h if h is not None else generic(o)


def _binop(fc, tmpl):
    b = fc.pop()
    a = fc.pop()
    r = fc.tmp()
    fc.emit(tmpl.format(r=r, a=a, b=b))
    return r


def _compare(cmp):
    """The handler of a comparison: ``cmp`` (as ``icmp slt i32``) of the two popped
    operands, pushed as an i32 0 or 1."""
    def compare(fc, i):
        c = _binop(fc, f"{{r}} = {cmp} {{a}}, {{b}}")
        r = fc.tmp()
        fc.emit(f"{r} = zext i1 {c} to i32")
        fc.push("i32", r)
    return compare


def _int_handler(t, op):
    ty = t
    bits = _T_INT[t]
    if op in _IBIN:
        ins = _IBIN[op]
        return lambda fc, i: fc.push(t, _binop(fc, f"{{r}} = {ins} {ty} {{a}}, {{b}}"))
    if op in _ISHIFT:
        ins = _ISHIFT[op]

        def shift(fc, i):
            b = fc.pop()
            m = fc.tmp()
            fc.emit(f"{m} = and {ty} {b}, {bits - 1}")
            fc.push(t, m)
            fc.push(t, _binop(fc, f"{{r}} = {ins} {ty} {{a}}, {{b}}"))
        return shift
    if op in ("rotl", "rotr"):
        fn = "fshl" if op == "rotl" else "fshr"
        fc_decl = f"declare {ty} @llvm.{fn}.{ty}({ty}, {ty}, {ty})"
        return with_decl(fc_decl, lambda fc, i: fc.push(
            t, _binop(fc, f"{{r}} = call {ty} @llvm.{fn}.{ty}({ty} {{a}}, {ty} {{a}}, {ty} {{b}})")))
    if op in _ICMP:
        return _compare(f"icmp {_ICMP[op]} {ty}")
    if op == "eqz":
        def eqz(fc, i):
            a = fc.pop()
            c, r = fc.tmp(), fc.tmp()
            fc.emit(f"{c} = icmp eq {ty} {a}, 0")
            fc.emit(f"{r} = zext i1 {c} to i32")
            fc.push("i32", r)
        return eqz
    if op in ("clz", "ctz", "popcnt"):
        fn = {"clz": "ctlz", "ctz": "cttz", "popcnt": "ctpop"}[op]
        extra = ", i1 false" if op != "popcnt" else ""
        decl = f"declare {ty} @llvm.{fn}.{ty}({ty}{', i1' if extra else ''})"

        def count(fc, i):
            a = fc.pop()
            r = fc.tmp()
            fc.emit(f"{r} = call {ty} @llvm.{fn}.{ty}({ty} {a}{extra})")
            fc.push(t, r)
        return with_decl(decl, count)
    if op in ("div_u", "rem_u", "div_s", "rem_s"):
        return _division(t, op)
    if op in ("extend8_s", "extend16_s", "extend32_s"):
        nb = int(op[6:8].rstrip("_"))

        def extend(fc, i):
            a = fc.pop()
            w, r = fc.tmp(), fc.tmp()
            fc.emit(f"{w} = trunc {ty} {a} to i{nb}")
            fc.emit(f"{r} = sext i{nb} {w} to {ty}")
            fc.push(t, r)
        return extend
    if op == "wrap_i64":
        return _cast("trunc", "i64", "i32")
    if op == "extend_i32_s":
        return _cast("sext", "i32", "i64")
    if op == "extend_i32_u":
        return _cast("zext", "i32", "i64")
    if op.startswith("reinterpret_"):
        return _cast("bitcast", op[-3:], t)
    if op.startswith("trunc_sat_"):
        src, sign = op[10:13], op[-1]
        fn = f"llvm.fpto{'s' if sign == 's' else 'u'}i.sat.{ty}.{_LLVM_FLOAT_SUFFIX[IR_TYPE[src]]}"
        decl = f"declare {ty} @{fn}({IR_TYPE[src]})"

        def trunc_sat(fc, i):
            a = fc.pop()
            r = fc.tmp()
            fc.emit(f"{r} = call {ty} @{fn}({IR_TYPE[src]} {a})")
            fc.push(t, r)
        return with_decl(decl, trunc_sat)
    if op.startswith("trunc_"):
        return _trunc(t, op[6:9], op[-1] == "s")
    return None


def _division(t, op):
    ty = t
    bits = _T_INT[t]
    signed = op.endswith("_s")
    ins = {"div_u": "udiv", "rem_u": "urem", "div_s": "sdiv", "rem_s": "srem"}[op]
    int_min = -(1 << (bits - 1))

    def divide(fc, i):
        b = fc.pop()
        a = fc.pop()
        z = fc.tmp()
        fc.emit(f"{z} = icmp eq {ty} {b}, 0")
        fc.trap_if(z, TC.INTEGER_DIVISION_BY_ZERO)
        if signed and op == "div_s":
            # spec 4.3.2 idiv_s: the quotient 2^(N-1) is not representable.
            m1, mn, both = fc.tmp(), fc.tmp(), fc.tmp()
            fc.emit(f"{m1} = icmp eq {ty} {b}, -1")
            fc.emit(f"{mn} = icmp eq {ty} {a}, {int_min}")
            fc.emit(f"{both} = and i1 {m1}, {mn}")
            fc.trap_if(both, TC.INTEGER_OVERFLOW)
        elif signed:
            # spec 4.3.2 irem_s: INT_MIN rem -1 is 0; LLVM's srem is undefined there, and
            # x rem -1 == x rem 1 == 0 for every x.
            m1, b2 = fc.tmp(), fc.tmp()
            fc.emit(f"{m1} = icmp eq {ty} {b}, -1")
            fc.emit(f"{b2} = select i1 {m1}, {ty} 1, {ty} {b}")
            b = b2
        r = fc.tmp()
        fc.emit(f"{r} = {ins} {ty} {a}, {b}")
        fc.push(t, r)
    return divide


def _cast(ins, src, dst):
    s, d = IR_TYPE[src], IR_TYPE[dst]

    def cast(fc, i):
        a = fc.pop()
        r = fc.tmp()
        fc.emit(f"{r} = {ins} {s} {a} to {d}")
        fc.push(dst, r)
    return cast


def _trunc(t, src, signed):
    s = IR_TYPE[src]
    lo, hi = _TRUNC_BOUNDS[(t, s, signed)]
    ins = "fptosi" if signed else "fptoui"

    def trunc(fc, i):
        a = fc.pop()
        nan, gt, lt, ok, bad, r = (fc.tmp() for _ in range(6))
        fc.emit(f"{nan} = fcmp uno {s} {a}, {a}")
        fc.trap_if(nan, TC.BAD_CONVERSION_TO_INTEGER)
        fc.emit(f"{gt} = fcmp ogt {s} {a}, {_fconst(lo)}")
        fc.emit(f"{lt} = fcmp olt {s} {a}, {_fconst(hi)}")
        fc.emit(f"{ok} = and i1 {gt}, {lt}")
        fc.emit(f"{bad} = xor i1 {ok}, true")
        fc.trap_if(bad, TC.INTEGER_OVERFLOW)
        fc.emit(f"{r} = {ins} {s} {a} to {t}")
        fc.push(t, r)
    return trunc


def _float_handler(t, op):
    ty = IR_TYPE[t]
    sfx = _LLVM_FLOAT_SUFFIX[ty]
    if op in _FBIN:
        ins = _FBIN[op]
        return lambda fc, i: fc.push(t, _binop(fc, f"{{r}} = {ins} {ty} {{a}}, {{b}}"))
    if op in ("min", "max"):
        # llvm.minimum/maximum return a signalling NaN operand as it is; wasm quiets it.
        fn = f"llvm.{_FINTR2[op]}.{sfx}"
        return with_decl(f"declare {ty} @{fn}({ty}, {ty})", lambda fc, i: fc.push(
            t, _quiet(fc, t, _binop(fc, f"{{r}} = call {ty} @{fn}({ty} {{a}}, {ty} {{b}})"))))
    if op in _FINTR2:
        fn = f"llvm.{_FINTR2[op]}.{sfx}"
        return with_decl(f"declare {ty} @{fn}({ty}, {ty})", lambda fc, i: fc.push(
            t, _binop(fc, f"{{r}} = call {ty} @{fn}({ty} {{a}}, {ty} {{b}})")))
    if op in _FINTR1:
        fn = f"llvm.{_FINTR1[op]}.{sfx}"

        def unary(fc, i):
            a = fc.pop()
            r = fc.tmp()
            fc.emit(f"{r} = call {ty} @{fn}({ty} {a})")
            fc.push(t, r)
        return with_decl(f"declare {ty} @{fn}({ty})", unary)
    if op == "neg":
        def neg(fc, i):
            a = fc.pop()
            r = fc.tmp()
            fc.emit(f"{r} = fneg {ty} {a}")
            fc.push(t, r)
        return neg
    if op in _FCMP:
        return _compare(f"fcmp {_FCMP[op]} {ty}")
    if op.startswith("convert_"):
        src, sign = op[8:11], op[-1]
        return _cast("sitofp" if sign == "s" else "uitofp", src, t)
    if op == "demote_f64":
        return _cast("fptrunc", "f64", "f32")
    if op == "promote_f32":
        def promote(fc, i):
            # Behind a barrier: LLVM folds demote(promote(x)) to x, keeping a signalling NaN.
            a = fc.pop()
            r = fc.tmp()
            fc.emit(f"{r}.e = fpext float {a} to double")
            fc.emit(f"{r} = {opaque('double', r + '.e')}")
            fc.push(t, r)
        return promote
    if op.startswith("reinterpret_"):
        return _cast("bitcast", op[-3:], t)
    return None
