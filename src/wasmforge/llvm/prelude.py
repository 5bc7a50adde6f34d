"""What every LLVM IR module the llvm tier makes shares: the prelude (runtime declarations
and ``@wf_trap``), the epilogue (attributes and metadata), the intrinsic declarations the
instruction handlers ask for, and the calling convention of values between native code and
Python (u64 slots, :func:`ret_type`)."""

from __future__ import annotations

from .layout import CALLBACK, CB_UNWIND, IR_TYPE, JMPBUF, SHADOW, TRAP_POS, TRAP_SIGINT, TRAP_TOP

MEM_TBAA = "!tbaa !2"        # guest linear memory
CTX_TBAA = "!tbaa !4"        # vmctx, memory size, global cells, table mirrors

#: ``declare`` lines of the intrinsics the instruction handlers use (:func:`with_decl`); each
#: module's IR lists all of them.
DECLS: set = set()


def with_decl(decl: str, handler):
    DECLS.add(decl)
    return handler



#: The calling convention of the functions of a module that makes tail calls (every other
#: module keeps ``fastcc``: see codegen.ModuleCompiler.cc).  ``tailcc`` is LLVM's ``fastcc``
#: plus a guarantee: a call marked ``tail`` in tail position is compiled as a jump at every
#: optimisation level even when caller and callee have different parameters (the callee pops
#: its stack arguments; see :func:`tail_kind`).  So return_call and return_call_indirect
#: (codegen.FunctionCompiler.tail_call) run in constant native stack.  It is not the default
#: because callee-pops costs every call a little: x86-64 keeps the argument area 16-byte
#: aligned, so even a call without stack arguments reserves 8 bytes and returns with
#: ``ret $8`` (measured on fib: 12-21% slower calls).
TAIL_CC = "tailcc"


def tail_kind(results) -> str:
    """The marker of a tail call returning ``results`` under :data:`TAIL_CC`: ``tail``, at
    every optimisation level and for any results.  Under tailcc LLVM guarantees that a
    ``tail`` call in tail position is a jump, -O0 included, and lowers it with the stack
    adjustment the convention needs (the caller's stack-argument area is resized to the
    callee's, the return address moved with it).  ``musttail`` is not used: LLVM 22's x86
    backend lowers a ``musttail`` call like a sibling call, without that adjustment, so a
    callee with fewer stack arguments than its caller popped too little on return (a crash
    in -O0 code) and one with more wrote past the caller's argument area.  ``results`` stays
    a parameter for the callers' sake."""
    return "tail"


def ret_type(results) -> str:
    """The LLVM return type of a function returning ``results``: ``void`` also when they
    go through a result pointer (:func:`results_in_memory`)."""
    if not results or len(results) > REG_RESULTS:
        return "void"
    if len(results) == 1:
        return IR_TYPE[results[0]]
    return results_struct(results)


#: The most results a function returns as its LLVM return value.  A function with more takes
#: a result pointer after ``%vm`` (``ptr %res``, a :func:`results_struct` its caller owns)
#: and returns ``void``.  Not LLVM's own choice (it returns a large aggregate through
#: memory by itself, sret-style): an explicit pointer is an ordinary argument, which a tail
#: call passes on unchanged (the callee writes straight into the buffer of the frame the
#: chain returns to), so ``tail call`` + ``ret void`` is a jump at every optimisation level;
#: LLVM never makes a jump of a call whose results it returns through memory itself.
REG_RESULTS = 2


def results_in_memory(results) -> bool:
    """Whether a function returning ``results`` takes a result pointer (:data:`REG_RESULTS`)."""
    return len(results) > REG_RESULTS


def results_struct(results) -> str:
    """The literal struct type holding ``results`` (the return value of a function with two
    results, the buffer behind the result pointer of one with more)."""
    return "{" + ", ".join(IR_TYPE[r] for r in results) + "}"


def slot_offsets(types) -> tuple:
    """The u64 slot index of each value of ``types`` in an argument/result buffer (a v128
    takes two slots), and the number of slots."""
    offsets, k = [], 0
    for t in types:
        offsets.append(k)
        k += 2 if t == "v128" else 1
    return offsets, k


def store_slot(lines, name, base, k, t, v):
    """Append IR storing value ``v`` of wasm type ``t`` to slot ``k`` of the u64 buffer
    ``base``: integers zero-extended, floats as their bit patterns, v128 over two slots."""
    lines.append(f"  {name}.p = getelementptr i64, ptr {base}, i64 {k}")
    if t == "v128":
        lines.append(f"  store {IR_TYPE[t]} {v}, ptr {name}.p, align 8")
        return
    if t == "i32":
        lines.append(f"  {name} = zext i32 {v} to i64")
    elif t == "f32":
        lines.append(f"  {name}.b = bitcast float {v} to i32")
        lines.append(f"  {name} = zext i32 {name}.b to i64")
    elif t == "f64":
        lines.append(f"  {name} = bitcast double {v} to i64")
    else:
        lines.append(f"  {name} = add i64 {v}, 0")
    lines.append(f"  store i64 {name}, ptr {name}.p")


def load_slot(lines, name, base, k, t):
    """Append IR loading a value ``name`` of wasm type ``t`` from slot ``k`` of ``base``."""
    lines.append(f"  {name}.p = getelementptr i64, ptr {base}, i64 {k}")
    if t == "v128":
        lines.append(f"  {name} = load {IR_TYPE[t]}, ptr {name}.p, align 8")
        return
    lines.append(f"  {name}.s = load i64, ptr {name}.p")
    if t == "i32":
        lines.append(f"  {name} = trunc i64 {name}.s to i32")
    elif t == "f32":
        lines.append(f"  {name}.b = trunc i64 {name}.s to i32")
        lines.append(f"  {name} = bitcast i32 {name}.b to float")
    elif t == "f64":
        lines.append(f"  {name} = bitcast i64 {name}.s to double")
    else:
        lines.append(f"  {name} = add i64 {name}.s, 0")



PRELUDE = """\
declare i32 @_setjmp(ptr) returns_twice
declare void @longjmp(ptr, i32) noreturn nounwind
declare ptr @llvm.stacksave.p0()
declare void @llvm.memset.p0.i64(ptr, i8, i64, i1)
declare void @llvm.memmove.p0.p0.i64(ptr, ptr, i64, i1)
declare ptr @llvm.addressofreturnaddress.p0()

define internal void @wf_trap(ptr %vm, i32 %code, i32 %pos) noinline noreturn cold nounwind {
  %pp = getelementptr i64, ptr %vm, i64 TRAP_POS
  %pos64 = sext i32 %pos to i64
  store i64 %pos64, ptr %pp
  %shp = getelementptr i64, ptr %vm, i64 SHADOW
  %sh = load ptr, ptr %shp
  %top = load i64, ptr %sh
  %tp = getelementptr i64, ptr %vm, i64 TRAP_TOP
  store i64 %top, ptr %tp
  ; The wasm frames are still on the native stack: the callback reads their return
  ; addresses now (llvm/unwind.py), from where this function's own one is kept.
  ; Not for Ctrl-C: Python code run now would meet the pending KeyboardInterrupt inside a
  ; ctypes callback, which can only print it (llvm/sigint.py raises it after the longjmp).
  %ra = call ptr @llvm.addressofreturnaddress.p0()
  %sigint = icmp eq i32 %code, SIGINT_CODE
  br i1 %sigint, label %jump, label %unwind
unwind:
  %cbp = getelementptr i64, ptr %vm, i64 CALLBACK
  %cb = load ptr, ptr %cbp
  %unused = call i32 %cb(ptr %vm, i32 CB_UNWIND, i32 %code, ptr %ra)
  br label %jump
jump:
  %bp = getelementptr i64, ptr %vm, i64 JMPBUF
  %buf = load ptr, ptr %bp
  call void @longjmp(ptr %buf, i32 %code)
  unreachable
}
""".replace("TRAP_TOP", str(TRAP_TOP)).replace("JMPBUF", str(JMPBUF)).replace("SHADOW", str(SHADOW)) \
    .replace("TRAP_POS", str(TRAP_POS)).replace("CB_UNWIND", str(CB_UNWIND)).replace("CALLBACK", str(CALLBACK)) \
    .replace("SIGINT_CODE", str(TRAP_SIGINT))

#: The kinds of a call label (prelude.call_label), in the low two bits of its index word.
LABEL_BEFORE, LABEL_AFTER = 0, 1


def call_label(funcidx: int, index: int, kind: int) -> str:
    """An inline-assembly line that emits nothing (an assembler comment naming the call):
    a call stands between its LABEL_BEFORE and LABEL_AFTER lines, which keep its debug
    location (:func:`location`, how a trap's backtrace finds the call, llvm/unwind.py) its
    own.  LLVM's tail merging (machine code) makes one call of two calls whose code ends
    alike, and hoists alike beginnings out of the arms of a branch, giving the merged call a
    location that names neither: a call with a distinct line on each side is never merged.
    (The line after a call of a function that never returns is deleted with the code after
    it: two such calls may be merged, and that frame's call is then not known.)

    ``sideeffect`` keeps the line in place (no other call moves across it);
    ``memory(inaccessiblemem: readwrite)`` tells the optimiser it touches no memory the
    module can see (``memory(none)`` would let fast instruction selection, baseline code,
    drop it)."""
    return f'  call void asm sideeffect "# wasm call {funcidx} {index << 2 | kind}", ""() #2'


#: Debug information (llvm/unwind.py, "Caller frames' call sites"): each function
#: ``@f<i>`` has a ``DISubprogram`` named ``f<i>`` (metadata ``!<SUBPROGRAM + i>``), and each
#: call and trap site a ``DILocation`` whose line is its instruction's index + 1 (0 means "no
#: line" to DWARF).  Line tables only: no variables, no types.  The inliner then records, for
#: each inlined call, the chain of calls it was inlined through, which the object's DWARF
#: keeps (``DW_TAG_inlined_subroutine``, ``DW_AT_call_line``); code generation is the same
#: with or without it.
SUBPROGRAM = 1000
DEBUG_INFO = """\
!llvm.dbg.cu = !{!100}
!llvm.module.flags = !{!101, !102}
!100 = distinct !DICompileUnit(language: DW_LANG_C, file: !103, producer: "wasmforge", isOptimized: true, runtimeVersion: 0, emissionKind: LineTablesOnly, nameTableKind: None)
!101 = !{i32 7, !"Dwarf Version", i32 4}
!102 = !{i32 2, !"Debug Info Version", i32 3}
!103 = !DIFile(filename: "wasm", directory: "")
!104 = !DISubroutineType(types: !6)
"""


def subprogram(funcidx: int) -> str:
    """The ``DISubprogram`` of function ``funcidx`` (see :data:`DEBUG_INFO`)."""
    return (f"!{SUBPROGRAM + funcidx} = distinct !DISubprogram(name: \"f{funcidx}\", scope: !103, "
            "file: !103, type: !104, spFlags: DISPFlagDefinition | DISPFlagOptimized, unit: !100)")


def location(funcidx: int, index: int) -> str:
    """The ``, !dbg`` attachment of a call or trap site at instruction ``index`` of function
    ``funcidx`` (see :data:`DEBUG_INFO`)."""
    return f", !dbg !DILocation(line: {index + 1}, scope: !{SUBPROGRAM + funcidx})"


#: The line of each function's push on the shadow stack (no instruction's: instruction
#: indexes stay below the 7,654,321 bytes a body may have).  Not 0: a row of line 0 after
#: another is not emitted.
PUSH_LINE = 1 << 24


def shadow_entry(funcidx: int, nfuncs: int) -> str:
    """The attachments of function ``funcidx``'s push on the shadow stack: marked
    ``!wf.shadow`` with the module's number of functions (the radix of an inlined copy's
    entry) and located in the function at :data:`PUSH_LINE`, so that the debug information
    says where each inlined copy of the push is and at which call (llvm/copies.py)."""
    return (f", !wf.shadow !{{i32 {nfuncs}}}, "
            f"!dbg !DILocation(line: {PUSH_LINE}, scope: !{SUBPROGRAM + funcidx})")


EPILOGUE = """\
attributes #0 = { nounwind uwtable(sync) }
attributes #1 = { nounwind optnone noinline uwtable(sync) }
attributes #2 = { nounwind memory(inaccessiblemem: readwrite) }
attributes #3 = { noinline }
!0 = !{!"wasmforge"}
!1 = !{!"linear memory", !0, i64 0}
!2 = !{!1, !1, i64 0}
!3 = !{!"vmctx", !0, i64 0}
!4 = !{!3, !3, i64 0}
!5 = !{!"branch_weights", i32 1, i32 2000}
!6 = !{}
"""
