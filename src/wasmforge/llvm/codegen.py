"""Lowering of a validated module to one LLVM IR module (textual IR).

Every wasm function ``i`` defined by the module becomes ``internal fastcc @f<i>(ptr %vm,
params...)`` returning ``void``, its single result, or a literal struct of its two results;
with more than two results it is ``void @f<i>(ptr %vm, ptr %res, params...)`` and stores
them through ``%res`` (prelude.REG_RESULTS: why).
Locals live in allocas (``mem2reg``/SROA turn them into SSA values); the operand stack is
resolved at compile time to SSA names.  Block results and loop parameters travel through
per-label allocas, which the same passes turn into phi nodes.

Besides the functions the module holds:

- ``@wf_funcs``: the addresses of the functions, in ``module.funcs`` order;
- ``@wf_entry<k>``: one entry trampoline per distinct signature ``k`` (see
  :data:`ENTRY_SIGS`), ``i32 (ptr vm, ptr fn, ptr args, ptr results)``: it installs a
  ``jmp_buf`` (``_setjmp``), unpacks the u64 argument slots, calls ``fn``, packs the results
  and returns 0 — or, when a trap ``longjmp``s back to it, restores the instance's state and
  returns the trap code (a lazily compiled module has these in a module of their own);
- ``@wf_trap(vm, code, pos)``: records the trapping instruction, hands the callback the
  native stack of the trap's frames (``CB_UNWIND``: llvm/unwind.py finds each caller's call
  from its return address and the debug location of every call, prelude.location), and
  ``longjmp``s to the innermost entry of the instance.

Traps never unwind through Python frames: host calls go through the instance's ctypes
callback, which catches every exception and returns a flag that the generated code turns into
a ``TRAP_HOST`` trap.
"""

from __future__ import annotations

import re

from ..binary.decode import LAZY_THRESHOLD
from ..errors import WasmError
from ..errors import TrapCode as TC
from ..module import FUNC
from ..runtime.metering import frame_bytes, meter_points
from . import exceptions
from . import simd  # noqa: F401  (registers the SIMD handlers in ops.HANDLERS)
from . import typedrefs  # noqa: F401  (registers the function-references handlers)
from . import atomics  # noqa: F401  (registers the threads handlers in ops.HANDLERS)
from . import gcops  # noqa: F401  (registers the GC handlers in ops.HANDLERS)
from .gcheap import traceable
from .layout import (CALLBACK, CB_CALL, CB_CALL_INDIRECT, CB_CALL_LINK, CB_GC_BOX, CB_GC_FUNC_TEST,
                     CB_GC_SIG_MATCH, CB_GC_UNBOX, CB_LINKED, CB_THREW, CB_XTRAP, DEADLINE, DEPTH, DEPTH_MAX,
                     GCHEAP, EPOCH, EXN, FUEL, GLOBALS, IMPORT_SLOTS, IMPORTS, INTERRUPT, IR_TYPE,
                     MEM, MEMS, SHADOW, STACK_MIN, TRAP_HOST, TRAP_NUM, TRAP_SIGINT, cross_cells,
                     native_signature, uses_exceptions)
from .ops import HANDLERS, generic
from .prelude import (CTX_TBAA, DEBUG_INFO, DECLS, EPILOGUE, LABEL_AFTER, LABEL_BEFORE, PRELUDE,
                      TAIL_CC, call_label, load_slot, location, results_in_memory, results_struct,
                      ret_type, shadow_entry, slot_offsets, store_slot, SUBPROGRAM, subprogram,
                      tail_kind)
from .trampolines import entry_trampoline, lazy_thunk


class UnsupportedError(WasmError):
    """The module uses a feature the llvm tier does not compile yet (use the interp tier)."""


class _Frame:
    __slots__ = ("kind", "params", "results", "height", "label", "end", "slots", "else_label",
                 "else_args", "reached", "has_else", "eh", "catches", "dispatch", "caught",
                 "delegate_to")

    def __init__(self, kind, params, results, height):
        self.kind = kind
        self.params = params
        self.results = results
        self.height = height
        self.label = None        # branch target: loop header, else the end label
        self.end = None
        self.slots = []          # allocas carrying the branch values (loop: params)
        self.else_label = None
        self.else_args = None
        self.reached = False     # whether a branch targets the end label
        self.has_else = False
        # Exception handling (llvm/exceptions.py): "try_table" or "try" for those blocks; the
        # catch clauses (try_table) or arms (legacy try); the label of the handler dispatch;
        # the alloca of the caught exception (legacy, for rethrow); a delegate's target.
        self.eh = None
        self.catches = None
        self.dispatch = None
        self.caught = None
        self.delegate_to = None

    @property
    def branch_types(self):
        return self.params if self.kind == "loop" else self.results


# Basic-block length limits (see FunctionCompiler.split).
SPLIT_LINES = 400
HUGE_RUN = 4000
# Control-flow limits above which LLVM's O2 pipeline is superlinear (measured with llvmlite
# 0.44 / LLVM 15: 16,000 nested `if`s took 15 s, 4,000 `if`s in a row 17 s, a 500-case switch
# whose cases fall through 19 s, mostly in InstCombine).  A function nested deeper than
# NEST_LIMIT, or with more than BLOCK_LIMIT blocks, loops and ifs, is compiled ``optnone`` and
# on its own at -O0 (llvm/compiler.py): seconds at most, never minutes.
NEST_LIMIT = 256
BLOCK_LIMIT = 2000


class FunctionCompiler:
    """Lowers one function body to the text of an LLVM function definition."""

    def __init__(self, mc: "ModuleCompiler", funcidx: int, func, ftype):
        self.mc = mc
        self.funcidx = funcidx
        self.func = func
        self.ftype = ftype
        self.n = 0
        self.allocas: list = []
        self.out: list = []
        self.stack: list = []     # (ir type, value text)
        self.frames: list = []
        self.dead = False
        self.dead_depth = 0
        self.trap_blocks: dict = {}
        self.index = -1                 # the instruction being compiled (its trap sites)
        self.io_slots = 0
        self.leaf = True
        self.block_lines = 0      # instructions emitted since the last label
        self.forced = 0           # consecutive block splits made only for length
        self.huge = False         # a straight-line run too long for the optimiser, see split()
        self.blocks = 0           # block, loop and if instructions compiled
        self.nest = 0             # the deepest nesting of them
        self.uses_mem = False
        self.other_mems: set = set()    # memory indexes other than 0 used (multi-memory)
        self.global_cells: dict = {}
        self.local_types = list(ftype.params) + list(func.locals)
        # Exception handling: the try blocks whose handlers cover the code being compiled
        # (innermost last), and the handler dispatch code, placed after the body.
        self.exn_scopes: list = []
        self.eh_tail: list = []
        self.locals: list = []    # the alloca of each local
        # GC (llvm/gcheap.py): reference locals live in the function's frame of the store's
        # root stack (slots 0..), the operand stack's references are spilled above them
        # around calls and allocations; root_slots is the frame's size.
        self.gc = mc.gc
        self.root_locals: dict = {}
        self.root_slots = 0
        # Per results struct type, the buffer this function's calls returning more than
        # REG_RESULTS results pass (prelude.results_in_memory): one alloca shared by them.
        self.result_buffers: dict = {}
        self.top = None           # the function's own frame
        # Decoded for this compilation only: a large module keeps its bodies raw (module.Func).
        self.body = list(func.iter_body())
        # Fuel charges and epoch checks, per segment start (runtime/metering.py); the epoch
        # points (function entry, loop headers) always get the interrupt check (llvm/sigint.py).
        self.meter_at = meter_points(self.body, mc.fuel, True)
        self.calls = any(ins[0].name in ("call", "call_indirect", "return_call",
                                         "return_call_indirect") for ins in self.body)
        # Its shadow-stack height comes in a register (ModuleCompiler.split): whether it
        # stores it to memory before anything else could read it (a callback, a call of code
        # that keeps the height in memory), and the functions of that kind it calls directly.
        self.reg_height = funcidx in mc.split
        self.syncs = False
        self.split_calls: set = set()

    # ----- emission helpers -----

    def tmp(self) -> str:
        self.n += 1
        return f"%t{self.n}"

    def label(self) -> str:
        self.n += 1
        return f"L{self.n}"

    def emit(self, line: str) -> None:
        self.out.append("  " + line)
        self.block_lines += 1

    def start_block(self, label: str) -> None:
        self.out.append(f"{label}:")
        self.block_lines = 0
        self.forced = 0

    def split(self) -> None:
        """Cut a long straight-line run into basic blocks of at most SPLIT_LINES instructions.

        LLVM's instruction selection and scheduling are superlinear in the size of a basic
        block: a guest function made of one 100,000-instruction expression would take minutes
        to compile.  Short runs are merged back by SimplifyCFG, so this costs nothing in
        ordinary code; a function with a run longer than HUGE_RUN is compiled ``optnone``
        (no optimisation, fast instruction selection) so that its blocks stay small."""
        forced = self.forced + 1
        label = self.label()
        self.emit(f"br label %{label}")
        self.start_block(label)
        self.forced = forced
        if forced * SPLIT_LINES > HUGE_RUN:
            self.huge = True

    def push(self, t: str, v: str) -> None:
        self.stack.append((t, v))

    def pop(self) -> str:
        return self.stack.pop()[1]

    def popn(self, n: int) -> list:
        if not n:
            return []
        vals = self.stack[-n:]
        del self.stack[-n:]
        return vals

    def alloca(self, irt: str) -> str:
        self.n += 1
        name = f"%a{self.n}"
        self.allocas.append(f"  {name} = alloca {irt}")
        return name

    def trap_label(self, code, index: "int | None" = None) -> str:
        """The block that traps with ``code`` at instruction ``index`` (default: the one
        being compiled), which ``@wf_trap`` records for the frame's code offsets: a cold
        block per trap site."""
        if index is None:
            index = self.index
        lab = self.trap_blocks.get((code, index))
        if lab is None:
            num = TRAP_HOST if code == "host" else TRAP_SIGINT if code == "sigint" else TRAP_NUM[code]
            lab = self.trap_blocks[code, index] = f"trap{num}.{index}" if index >= 0 else f"trap{num}"
        return lab

    def trap_if(self, cond: str, code) -> None:
        """Branch to the trap block for ``code`` when ``cond`` (an i1) holds."""
        cont = self.label()
        self.emit(f"br i1 {cond}, label %{self.trap_label(code)}, label %{cont}, !prof !5")
        self.start_block(cont)

    def mem(self, k: int = 0) -> tuple:
        """The MemBlock pointer and base address of memory ``k``: memory 0 through the
        vmctx's MEM slot, the others (multi-memory) through its MEMS array."""
        if k == 0:
            self.uses_mem = True
            return "%mem", "%membase"
        self.other_mems.add(k)
        return f"%mem{k}", f"%membase{k}"

    def global_cell(self, idx: int) -> str:
        cell = self.global_cells.get(idx)
        if cell is None:
            cell = self.global_cells[idx] = f"%gcell{idx}"
        return cell

    # ----- block types -----

    def blocktype(self, bt) -> tuple:
        if bt is None:
            return (), ()
        if isinstance(bt, int):
            t = self.mc.module.types[bt]
            params, results = tuple(t.params), tuple(t.results)
        else:
            params, results = (), (bt,)
        for t in params + results:
            if t not in IR_TYPE:
                raise UnsupportedError(f"{t} values are not supported by the llvm tier yet "
                                       f"(function {self.funcidx}); use the interp tier")
        return params, results

    # ----- the body -----

    def compile(self) -> str:
        ft = self.ftype
        for t in self.local_types + list(ft.results):
            if t not in IR_TYPE:
                raise UnsupportedError(f"{t} values are not supported by the llvm tier yet "
                                       f"(function {self.funcidx}); use the interp tier")
        for k, t in enumerate(self.local_types):
            if self.gc and traceable(t):
                j = self.root_locals[k] = len(self.root_locals)
                self.locals.append(f"%rl{j}")
            else:
                self.locals.append(self.alloca(IR_TYPE[t]))
        self.root_slots = len(self.root_locals)
        top = _Frame("func", (), tuple(ft.results), 0)
        top.label = top.end = "ret"
        top.slots = [self.alloca(IR_TYPE[t]) for t in ft.results]
        self.frames.append(top)
        self.top = top
        self.start_block("body")
        body = self.body
        dispatch = HANDLERS
        meter_at = self.meter_at
        for index, ins in enumerate(body):
            self.index = index
            op = ins[0]
            name = op.name
            if meter_at and index in meter_at and not self.dead:
                check_epoch, cost = meter_at[index]
                if check_epoch:
                    if self.mc.epoch:
                        self.check_epoch()
                    if index or self.calls:
                        # A function that calls no other cannot recurse: its loop headers
                        # are enough (this check costs hot leaf functions the most).
                        self.check_interrupt()
                if cost:
                    self.charge(cost)
            if self.dead:
                if name in _OPENERS:
                    self.dead_depth += 1
                    continue
                if name in _ARMS:
                    if self.dead_depth:
                        if name == "end" or name == "delegate":
                            self.dead_depth -= 1
                        continue
                else:
                    continue
            handler = dispatch.get(op)
            if handler is None:
                handler = generic(op)
                if handler is None:
                    of = f" (the {op.feature} proposal)" if op.feature else ""
                    raise UnsupportedError(f"instruction {name}{of} is not supported by the llvm "
                                           f"tier yet (function {self.funcidx}); use the interp tier")
            if self.block_lines > SPLIT_LINES and not self.dead:
                self.split()
            handler(self, ins)
        return self.finish()

    def finish(self) -> str:
        ft = self.ftype
        if self.nest > self.mc.nest_limit + 1 or self.blocks > BLOCK_LIMIT:
            # Pathological control flow (see NEST_LIMIT): no optimisation, compiled apart.
            self.huge = True
            self.mc.pathological.add(self.funcidx - self.mc.nimported)
        params = ", ".join(f"{IR_TYPE[t]} %p{k}" for k, t in enumerate(ft.params))
        rt = ret_type(ft.results)
        res = ", ptr %res" if results_in_memory(ft.results) else ""
        if self.reg_height:
            res = ", i64 %shtop"
        head = [f"define internal {self.mc.cc} {rt} @f{self.funcidx}(ptr %vm{res}{', ' if params else ''}{params}) "
                f"{'#1' if self.huge else '#0'} !dbg !{SUBPROGRAM + self.funcidx} {{", "entry:"]
        head.extend(self.allocas)
        for st, buf in self.result_buffers.items():
            head.append(f"  {buf} = alloca {st}")
        if self.io_slots:
            head.append(f"  %io = alloca [{self.io_slots} x i64], align 8")
        roots = self.root_locals
        for k in range(len(ft.params)):
            if k not in roots:
                head.append(f"  store {IR_TYPE[ft.params[k]]} %p{k}, ptr {self.locals[k]}")
        for k in range(len(ft.params), len(self.local_types)):
            if k in roots:
                continue        # the root frame is zeroed
            t = IR_TYPE[self.local_types[k]]
            zero = "0.0" if t in ("float", "double") else "zeroinitializer" if t[0] == "<" else "0"
            head.append(f"  store {t} {zero}, ptr {self.locals[k]}")
        if self.uses_mem:
            head.append(f"  %memp = getelementptr i64, ptr %vm, i64 {MEM}")
            head.append(f"  %mem = load ptr, ptr %memp, {CTX_TBAA}, !invariant.load !6")
            head.append(f"  %membase = load ptr, ptr %mem, {CTX_TBAA}, !invariant.load !6")
        if self.other_mems:
            head.append(f"  %memsp = getelementptr i64, ptr %vm, i64 {MEMS}")
            head.append(f"  %mems = load ptr, ptr %memsp, {CTX_TBAA}, !invariant.load !6")
            for k in sorted(self.other_mems):
                head.append(f"  %mem{k}.p = getelementptr ptr, ptr %mems, i64 {k}")
                head.append(f"  %mem{k} = load ptr, ptr %mem{k}.p, {CTX_TBAA}, !invariant.load !6")
                head.append(f"  %membase{k} = load ptr, ptr %mem{k}, {CTX_TBAA}, !invariant.load !6")
        if self.global_cells:
            head.append(f"  %gp = getelementptr i64, ptr %vm, i64 {GLOBALS}")
            head.append(f"  %garr = load ptr, ptr %gp, {CTX_TBAA}, !invariant.load !6")
            for idx, cell in self.global_cells.items():
                head.append(f"  {cell}.p = getelementptr ptr, ptr %garr, i64 {idx}")
                head.append(f"  {cell} = load ptr, ptr {cell}.p, {CTX_TBAA}, !invariant.load !6")
        # The wasm stack budget (runtime/metering.py: each frame costs frame_bytes(nlocals) of
        # the store's max_wasm_stack) and, in functions that call, the native stack guard:
        # a leaf function adds one bounded frame, so only callers check the real stack.
        frame = frame_bytes(len(self.local_types))
        head += [
            f"  %dp = getelementptr i64, ptr %vm, i64 {DEPTH}",
            f"  %depth = load i64, ptr %dp, {CTX_TBAA}",
            f"  %depth1 = add i64 %depth, {frame}",
            f"  %dmp = getelementptr i64, ptr %vm, i64 {DEPTH_MAX}",
            f"  %dmax = load i64, ptr %dmp, {CTX_TBAA}",
            "  %over = icmp ugt i64 %depth1, %dmax",
        ]
        if not self.leaf:
            head += [
                f"  %smp = getelementptr i64, ptr %vm, i64 {STACK_MIN}",
                f"  %smin = load i64, ptr %smp, {CTX_TBAA}",
                "  %sp = call ptr @llvm.stacksave.p0()",
                "  %spi = ptrtoint ptr %sp to i64",
                "  %sover = icmp ult i64 %spi, %smin",
                "  %dover = or i1 %over, %sover",
            ]
        over = "dover" if not self.leaf else "over"
        if self.gc:
            # The function's frame of the root stack (llvm/gcheap.py); a full root stack is a
            # stack overflow.
            head += [
                f"  %gch.p = getelementptr i64, ptr %vm, i64 {GCHEAP}",
                f"  %gch = load ptr, ptr %gch.p, {CTX_TBAA}, !invariant.load !6",
                "  %rtp = getelementptr i64, ptr %gch, i64 2",
                f"  %rtop = load i64, ptr %rtp, {CTX_TBAA}",
                f"  %rnew = add i64 %rtop, {8 * self.root_slots}",
                "  %rendp = getelementptr i64, ptr %gch, i64 3",
                f"  %rend = load i64, ptr %rendp, {CTX_TBAA}",
                "  %rover = icmp ugt i64 %rnew, %rend",
                f"  %gover = or i1 %{over}, %rover",
            ]
            over = "gover"
        shadow = [f"  %shp = getelementptr i64, ptr %vm, i64 {SHADOW}",
                  f"  %sh = load ptr, ptr %shp, {CTX_TBAA}, !invariant.load !6"]
        if self.reg_height:
            # (the stack overflow's trap block stores the height: %sh before the check)
            head += shadow
            shadow = []
        head += [
            f"  br i1 %{over}, label %{self.trap_label(TC.STACK_OVERFLOW, -1)}, "
            "label %enter, !prof !5",
            "enter:",
            f"  store i64 %depth1, ptr %dp, {CTX_TBAA}",
            # Push the function on the shadow stack (the backtrace of a trap).
            *shadow,
            *([] if self.reg_height else [f"  %shtop = load i64, ptr %sh, {CTX_TBAA}"]),
            "  %shents = getelementptr i8, ptr %sh, i64 8",
            "  %shslot = getelementptr i32, ptr %shents, i64 %shtop",
            f"  store i32 {self.funcidx}, ptr %shslot, {CTX_TBAA}"
            f"{shadow_entry(self.funcidx, len(self.mc.func_types))}",
            "  %shtop1 = add i64 %shtop, 1",
        ]
        if self.reg_height:
            # The height stays in registers (ModuleCompiler.split); in memory only while a
            # profiler samples this store's shadow stack (its flag, the word before the
            # height: llvm/sampling.py) or before code that reads it there.
            head += ["  %sflagp = getelementptr i8, ptr %sh, i64 -8",
                     f"  %sflag = load i64, ptr %sflagp, {CTX_TBAA}",
                     "  %sampled = icmp ne i64 %sflag, 0",
                     "  br i1 %sampled, label %enter.sync, label %enter.go, !prof !5",
                     "enter.sync:",
                     f"  store i64 %shtop1, ptr %sh, {CTX_TBAA}",
                     "  br label %enter.go",
                     "enter.go:"]
        else:
            head.append(f"  store i64 %shtop1, ptr %sh, {CTX_TBAA}")
        if self.gc:
            head += [f"  store i64 %rnew, ptr %rtp, {CTX_TBAA}",
                     "  %rframe = inttoptr i64 %rtop to ptr"]
            if self.root_slots:
                head.append(f"  call void @llvm.memset.p0.i64(ptr align 8 %rframe, i8 0, "
                            f"i64 {8 * self.root_slots}, i1 false)")
            for k, j in roots.items():
                head.append(f"  %rl{j} = getelementptr i64, ptr %rframe, i64 {j}")
                if k < len(ft.params):
                    head.append(f"  store i64 %p{k}, ptr %rl{j}")
        head.append("  br label %body")
        tail = []
        # The function's end: fall through into the return block.
        top = self.top
        ret = ["ret:", f"  store i64 %depth, ptr %dp, {CTX_TBAA}", f"  store i64 %shtop, ptr %sh, {CTX_TBAA}"]
        if self.reg_height:
            # Give the caller's height back in memory only where something may have stored
            # this frame's there: ModuleCompiler.split replaces the branch (_RESTORE) by a
            # plain one to the store for a function that syncs or calls one that does.
            # What the return needs is read again here, not kept across the body's calls
            # (each kept value costs a spill, a store, per call): the stack use is this
            # frame's less its charge (callees, callbacks and nested entries give back what
            # they took); %sh comes from the vmctx again (volatile: not the entry's load);
            # the flag only goes from 0 to 1 while code runs (llvm/sampling.py); the caller's
            # height is %shtop1 - 1, behind an empty asm so that it is not %shtop again.
            ret[1:] = [f"  %rdepth1 = load i64, ptr %dp, {CTX_TBAA}",
                       f"  %rdepth = sub i64 %rdepth1, {frame}",
                       f"  store i64 %rdepth, ptr %dp, {CTX_TBAA}",
                       f"  %rsh.p = getelementptr i64, ptr %vm, i64 {SHADOW}",
                       "  %rsh = load volatile ptr, ptr %rsh.p",
                       "  %rflagp = getelementptr i8, ptr %rsh, i64 -8",
                       f"  %rflag = load i64, ptr %rflagp, {CTX_TBAA}",
                       "  %rsampled = icmp ne i64 %rflag, 0",
                       f"  br i1 %rsampled, label %ret.sync, label %ret.go, !prof !5{_RESTORE}",
                       "ret.sync:",
                       '  %rtop1 = call i64 asm "", "=r,0"(i64 %shtop1)',
                       "  %rtop = sub i64 %rtop1, 1",
                       f"  store i64 %rtop, ptr %rsh, {CTX_TBAA}",
                       "  br label %ret.go",
                       "ret.go:"]
        if self.gc:
            ret.append(f"  store i64 %rtop, ptr %rtp, {CTX_TBAA}")
        if not ft.results:
            ret.append("  ret void")
        elif len(ft.results) == 1:
            ret.append(f"  %rv = load {IR_TYPE[ft.results[0]]}, ptr {top.slots[0]}")
            ret.append(f"  ret {IR_TYPE[ft.results[0]]} %rv")
        elif results_in_memory(ft.results):
            # Into the caller's buffer (prelude.REG_RESULTS).
            st = results_struct(ft.results)
            for k, t in enumerate(ft.results):
                ret.append(f"  %rv{k} = load {IR_TYPE[t]}, ptr {top.slots[k]}")
                ret.append(f"  %rp{k} = getelementptr {st}, ptr %res, i32 0, i32 {k}")
                ret.append(f"  store {IR_TYPE[t]} %rv{k}, ptr %rp{k}")
            ret.append("  ret void")
        else:
            agg = "undef"
            rt = ret_type(ft.results)
            for k, t in enumerate(ft.results):
                ret.append(f"  %rv{k} = load {IR_TYPE[t]}, ptr {top.slots[k]}")
                ret.append(f"  %ra{k} = insertvalue {rt} {agg}, {IR_TYPE[t]} %rv{k}, {k}")
                agg = f"%ra{k}"
            ret.append(f"  ret {rt} {agg}")
        tail += self.eh_tail
        for (code, index), lab in self.trap_blocks.items():
            num = lab[4:].partition(".")[0]
            if index < 0 and code is TC.STACK_OVERFLOW:
                # The position -2 - funcidx says whose entry check this is, also where the
                # function was inlined into another (llvm/unwind.py).
                index = -2 - self.funcidx
            # (The site's location: the chain of calls it was inlined through, llvm/unwind.py;
            # a stack overflow's is the function's first instruction.)
            tail.append(f"{lab}:")
            if self.reg_height:
                # wf_trap records the height from memory: the caller's for a frame that
                # could not start, else this frame's.
                # (%sh read again: kept across the calls, it would cost the hot path a spill)
                # (located as the trap's call: the native stack's map of the site)
                top = "%shtop" if index < -1 else "%shtop1"
                here = location(self.funcidx, max(index, 0))
                tail += [f"  %{lab}.shp = getelementptr i64, ptr %vm, i64 {SHADOW}{here}",
                         f"  %{lab}.sh = load volatile ptr, ptr %{lab}.shp{here}",
                         f"  store i64 {top}, ptr %{lab}.sh, {CTX_TBAA}{here}",
                         # Distinct per site (emits nothing): with the store, the blocks'
                         # common tail would be long enough for LLVM to merge them into
                         # one, whose location names no site.
                         f'  call void asm sideeffect "# wasm trap {self.funcidx} {lab}", ""() #2']
            tail += [f"  call void @wf_trap(ptr %vm, i32 {num}, i32 {index})"
                     f"{location(self.funcidx, max(index, 0))}",
                     "  unreachable"]
        return "\n".join(head + self.out + ret + tail + ["}", subprogram(self.funcidx), ""])

    def check_epoch(self) -> None:
        """Trap when the engine's epoch has reached the store's deadline.  The counter is
        read with an atomic load: another thread advances it, and a plain load could be
        hoisted out of the very loop the check is there to interrupt."""
        p, cell, e, dp, dl, hit = (self.tmp() for _ in range(6))
        self.emit(f"{p} = getelementptr i64, ptr %vm, i64 {EPOCH}")
        self.emit(f"{cell} = load ptr, ptr {p}, {CTX_TBAA}, !invariant.load !6")
        self.emit(f"{e} = load atomic i64, ptr {cell} monotonic, align 8")
        self.emit(f"{dp} = getelementptr i64, ptr %vm, i64 {DEADLINE}")
        self.emit(f"{dl} = load i64, ptr {dp}, {CTX_TBAA}")
        self.emit(f"{hit} = icmp uge i64 {e}, {dl}")
        self.trap_if(hit, TC.INTERRUPT)

    def check_interrupt(self) -> None:
        """Trap when Ctrl-C asked this thread's wasm code to stop (llvm/sigint.py): the cell
        is set by another thread, hence the atomic load (a plain one could be hoisted)."""
        p, cell, v, hit = (self.tmp() for _ in range(4))
        self.emit(f"{p} = getelementptr i64, ptr %vm, i64 {INTERRUPT}")
        self.emit(f"{cell} = load ptr, ptr {p}, {CTX_TBAA}, !invariant.load !6")
        self.emit(f"{v} = load atomic i64, ptr {cell} monotonic, align 8")
        self.emit(f"{hit} = icmp ne i64 {v}, 0")
        self.trap_if(hit, "sigint")

    def charge(self, cost: int) -> None:
        """Take ``cost`` units of fuel; trap before the segment runs when it goes below 0."""
        p, f, f2, neg = self.tmp(), self.tmp(), self.tmp(), self.tmp()
        self.emit(f"{p} = getelementptr i64, ptr %vm, i64 {FUEL}")
        self.emit(f"{f} = load i64, ptr {p}, {CTX_TBAA}")
        self.emit(f"{f2} = sub i64 {f}, {cost}")
        self.emit(f"store i64 {f2}, ptr {p}, {CTX_TBAA}")
        self.emit(f"{neg} = icmp slt i64 {f2}, 0")
        self.trap_if(neg, TC.OUT_OF_FUEL)

    # ----- control -----

    def open(self, kind, bt, cond=None) -> _Frame:
        params, results = self.blocktype(bt)
        args = self.popn(len(params))
        f = _Frame(kind, params, results, len(self.stack))
        f.end = self.label()
        f.slots = [self.alloca(IR_TYPE[t]) for t in f.branch_types]
        if kind == "loop":
            f.label = self.label()
            for (t, v), slot in zip(args, f.slots):
                self.emit(f"store {IR_TYPE[t]} {v}, ptr {slot}")
            self.emit(f"br label %{f.label}")
            self.start_block(f.label)
            for t, slot in zip(params, f.slots):
                v = self.tmp()
                self.emit(f"{v} = load {IR_TYPE[t]}, ptr {slot}")
                self.push(t, v)
        else:
            f.label = f.end
            if kind == "if":
                then = self.label()
                f.else_label = self.label()
                f.else_args = args
                c = self.tmp()
                self.emit(f"{c} = icmp ne i32 {cond}, 0")
                self.emit(f"br i1 {c}, label %{then}, label %{f.else_label}")
                self.start_block(then)
            self.stack.extend(args)
        self.frames.append(f)
        self.blocks += 1
        if len(self.frames) > self.nest:
            self.nest = len(self.frames)
        return f

    def store_branch(self, f: _Frame) -> None:
        """Store the branch values for a jump to ``f`` (the stack keeps them)."""
        types = f.branch_types
        if types:
            for (t, v), slot in zip(self.stack[-len(types):], f.slots):
                self.emit(f"store {IR_TYPE[t]} {v}, ptr {slot}")

    def branch(self, depth: int) -> None:
        f = self.frames[-1 - depth]
        self.store_branch(f)
        if f.kind != "loop":
            f.reached = True
        self.emit(f"br label %{f.label}")

    def go_dead(self) -> None:
        self.dead = True
        self.dead_depth = 0

    def do_else(self) -> None:
        f = self.frames[-1]
        if not self.dead:
            self.store_branch(f)
            f.reached = True
            self.emit(f"br label %{f.end}")
        del self.stack[f.height:]
        f.has_else = True
        self.start_block(f.else_label)
        self.stack.extend(f.else_args)
        self.dead = False

    def do_end(self) -> None:
        f = self.frames.pop()
        if f.eh is not None:
            exceptions.close_try(self, f)
        if f.kind == "loop":
            # Only falling out of the body reaches a loop's end; its results are on the stack.
            results = [] if self.dead else self.popn(len(f.results))
            del self.stack[f.height:]
            if not self.dead:
                self.emit(f"br label %{f.end}")
            self.start_block(f.end)
            if self.dead:
                self.emit("unreachable")
            self.stack.extend(results)
            return
        if not self.dead:
            self.store_branch(f)
            f.reached = True
            self.emit(f"br label %{f.end}")
        if f.kind == "if" and not f.has_else:
            # spec 3.3.8: an `if` without `else` has params == results; the else arm passes them on.
            self.start_block(f.else_label)
            for (t, v), slot in zip(f.else_args, f.slots):
                self.emit(f"store {IR_TYPE[t]} {v}, ptr {slot}")
            f.reached = True
            self.emit(f"br label %{f.end}")
        del self.stack[f.height:]
        if f.kind == "func":
            self.dead = True
            return
        self.start_block(f.end)
        if f.reached:
            self.dead = False
            for t, slot in zip(f.results, f.slots):
                v = self.tmp()
                self.emit(f"{v} = load {IR_TYPE[t]}, ptr {slot}")
                self.push(t, v)
        else:
            self.emit("unreachable")
            self.go_dead()

    # ----- calls -----

    def io_reserve(self, n: int) -> None:
        self.io_slots = max(self.io_slots, n, 1)

    def callback(self, kind: int, imm: int, args, results) -> list:
        """Call the instance's Python callback; ``args`` are (type, value) pairs stored from
        io[0] on; return the result values (read from io[0] on)."""
        self.leaf = False
        if self.gc and kind not in _NO_COLLECTION:
            self.spill_roots()
        out_off = self.to_io(args, results)
        cbp = self.tmp()
        self.emit(f"{cbp}.p = getelementptr i64, ptr %vm, i64 {CALLBACK}")
        self.emit(f"{cbp} = load ptr, ptr {cbp}.p, {CTX_TBAA}")
        rc = self.tmp()
        self.emit(f"{rc} = call i32 {cbp}(ptr %vm, i32 {kind}, i32 {imm}, ptr %io)")
        if self.mc.eh and (kind == CB_CALL or kind == CB_CALL_INDIRECT):
            # The callee threw a wasm exception (llvm/exceptions.py): to the handlers.
            threw = self.tmp()
            self.emit(f"{threw} = icmp eq i32 {rc}, {CB_THREW}")
            cont = self.label()
            self.emit(f"br i1 {threw}, label %{self.exn_target()}, label %{cont}, !prof !5")
            self.start_block(cont)
        bad = self.tmp()
        # 1 is success (instance.NativeInstance._callback explains why not 0).
        self.emit(f"{bad} = icmp ne i32 {rc}, 1")
        self.trap_if(bad, "host")
        return self.from_io(out_off, results)

    def to_io(self, args, results) -> list:
        """Before a call through ``%io`` (the callback, an import record): the shadow-stack
        height stored, ``args`` ((type, value) pairs) stored from io[0] on, room for them and
        ``results``; return the results' slot offsets (:meth:`from_io`)."""
        self.sync()
        in_off, nin = slot_offsets([t for t, _ in args])
        out_off, nout = slot_offsets(results)
        self.io_reserve(max(nin, nout))
        for k, (t, v) in zip(in_off, args):
            store_slot(self.out, self.tmp(), "%io", k, t, v)
        return out_off

    def from_io(self, out_off, results) -> list:
        """The values of ``results``, read from their io slots ``out_off`` after the call."""
        vals = []
        for k, t in zip(out_off, results):
            v = self.tmp()
            load_slot(self.out, v, "%io", k, t)
            vals.append(v)
        return vals

    def import_call(self, i: int, ft) -> list:
        """Call imported function ``i`` (type ``ft``), its arguments popped; return its
        results.  When the instance's import record ``i`` (``vm[IMPORTS]``) holds another
        llvm instance's function, the call is native: that instance's entry trampoline,
        with the store's cells (stack use, thread, fuel, deadline) copied into its vmctx and
        back, so its code counts them as through the callback; a trap there comes back to
        the trampoline, and the callback (``CB_XTRAP``) raises it as that instance's entry
        would have, so this frame traps as after a failed callback.  Otherwise (no record:
        host functions, other tiers and stores) the callback makes it (``CB_CALL_LINK``);
        the first call, finding the record empty, has the callback link it if it can
        (``CB_LINKED``), and is then native too.
        Modules with exceptions or GC, and signatures with references (handles are per
        instance), always use the callback."""
        args = self.popn(len(ft.params))
        if self.mc.eh or self.gc or not native_signature(ft):
            return self.callback(CB_CALL, i, args, ft.results)
        self.leaf = False
        out_off = self.to_io(args, ft.results)
        t = self.tmp()
        self.emit(f"{t}.hp = getelementptr i64, ptr %vm, i64 {IMPORTS}")
        # Not an invariant load: the first call links the record (a new array) in the callback.
        self.emit(f"{t}.h = load ptr, ptr {t}.hp, {CTX_TBAA}")
        self.emit(f"{t}.hq = getelementptr i64, ptr {t}.h, i64 {IMPORT_SLOTS * i}")
        self.emit(f"{t}.he = load ptr, ptr {t}.hq, {CTX_TBAA}")
        self.emit(f"{t}.n = icmp ne ptr {t}.he, null")
        native, slow, join, failed = self.label(), self.label(), self.label(), self.label()
        self.emit(f"br i1 {t}.n, label %{native}, label %{slow}")
        # (reached from the callback's path too, once it has linked the record: read again)
        self.start_block(native)
        self.emit(f"{t}.xp = getelementptr i64, ptr %vm, i64 {IMPORTS}")
        self.emit(f"{t}.x = load ptr, ptr {t}.xp, {CTX_TBAA}")
        self.emit(f"{t}.ep = getelementptr i64, ptr {t}.x, i64 {IMPORT_SLOTS * i}")
        self.emit(f"{t}.e = load ptr, ptr {t}.ep, {CTX_TBAA}")
        self.emit(f"{t}.fp = getelementptr i64, ptr {t}.x, i64 {IMPORT_SLOTS * i + 1}")
        self.emit(f"{t}.fs = load ptr, ptr {t}.fp, {CTX_TBAA}")
        self.emit(f"{t}.f = load ptr, ptr {t}.fs, {CTX_TBAA}")
        self.emit(f"{t}.vp = getelementptr i64, ptr {t}.x, i64 {IMPORT_SLOTS * i + 2}")
        self.emit(f"{t}.v = load ptr, ptr {t}.vp, {CTX_TBAA}")
        cells_in, cells_back = cross_cells(self.mc.fuel, self.mc.epoch)
        for s in cells_in:
            self.emit(f"{t}.i{s}p = getelementptr i64, ptr %vm, i64 {s}")
            self.emit(f"{t}.i{s} = load i64, ptr {t}.i{s}p, {CTX_TBAA}")
            self.emit(f"{t}.i{s}q = getelementptr i64, ptr {t}.v, i64 {s}")
            self.emit(f"store i64 {t}.i{s}, ptr {t}.i{s}q, {CTX_TBAA}")
        self.emit(f"{t}.rc = call i32 {t}.e(ptr {t}.v, ptr {t}.f, ptr %io, ptr %io)")
        for s in cells_back:
            self.emit(f"{t}.b{s}p = getelementptr i64, ptr {t}.v, i64 {s}")
            self.emit(f"{t}.b{s} = load i64, ptr {t}.b{s}p, {CTX_TBAA}")
            self.emit(f"{t}.b{s}q = getelementptr i64, ptr %vm, i64 {s}")
            self.emit(f"store i64 {t}.b{s}, ptr {t}.b{s}q, {CTX_TBAA}")
        self.emit(f"{t}.tr = icmp ne i32 {t}.rc, 0")
        self.emit(f"br i1 {t}.tr, label %{failed}, label %{join}, !prof !5")
        self.start_block(failed)
        # The callee's trap code to the callback, which raises the callee's trap.
        self.emit(f"{t}.rz = zext i32 {t}.rc to i64")
        self.emit(f"store i64 {t}.rz, ptr %io")
        self.emit(f"{t}.cp = getelementptr i64, ptr %vm, i64 {CALLBACK}")
        self.emit(f"{t}.c = load ptr, ptr {t}.cp, {CTX_TBAA}")
        self.emit(f"{t}.xr = call i32 {t}.c(ptr %vm, i32 {CB_XTRAP}, i32 {i}, ptr %io)")
        self.emit(f"br label %{self.trap_label('host')}")
        self.start_block(slow)
        self.emit(f"{t}.cq = getelementptr i64, ptr %vm, i64 {CALLBACK}")
        self.emit(f"{t}.cb = load ptr, ptr {t}.cq, {CTX_TBAA}")
        self.emit(f"{t}.sr = call i32 {t}.cb(ptr %vm, i32 {CB_CALL_LINK}, i32 {i}, ptr %io)")
        # The callback linked the import rather than call it: the call is native.
        self.emit(f"{t}.ln = icmp eq i32 {t}.sr, {CB_LINKED}")
        made = self.label()
        self.emit(f"br i1 {t}.ln, label %{native}, label %{made}")
        self.start_block(made)
        # 1 is success (instance.NativeInstance._callback explains why not 0).
        self.emit(f"{t}.bad = icmp ne i32 {t}.sr, 1")
        self.trap_if(f"{t}.bad", "host")
        self.emit(f"br label %{join}")
        self.start_block(join)
        return self.from_io(out_off, ft.results)

    def result_buffer(self, results) -> str:
        """The alloca a call returning ``results`` (more than REG_RESULTS) passes as its
        result pointer: one per struct type, read right after each call."""
        st = results_struct(results)
        buf = self.result_buffers.get(st)
        if buf is None:
            buf = self.result_buffers[st] = f"%rbuf{len(self.result_buffers)}"
        return buf

    def push_buffer(self, results, buf: str) -> None:
        """Push ``results``, read from the result buffer ``buf`` a call has just filled."""
        st = results_struct(results)
        for k, t in enumerate(results):
            p, v = self.tmp(), self.tmp()
            self.emit(f"{p} = getelementptr {st}, ptr {buf}, i32 0, i32 {k}")
            self.emit(f"{v} = load {IR_TYPE[t]}, ptr {p}")
            self.push(t, v)

    def push_results(self, results, v: str) -> None:
        if len(results) == 1:
            self.push(results[0], v)
        elif results:
            rt = ret_type(results)
            for k, t in enumerate(results):
                e = self.tmp()
                self.emit(f"{e} = extractvalue {rt} {v}, {k}")
                self.push(t, e)

    def sync(self) -> None:
        """Store this frame's shadow-stack height, kept in a register by a function of
        ModuleCompiler.split, before something that may read it from memory runs."""
        if self.reg_height:
            self.emit(f"store i64 %shtop1, ptr %sh, {CTX_TBAA}")
            self.syncs = True

    def tail_call(self, target: str, ft, args) -> None:
        """End the function with a tail call of ``target`` (a function of type ``ft``): give
        back this frame's stack budget and shadow-stack entry, then ``tail call`` under
        TAIL_CC (prelude.py), which LLVM compiles as a jump whatever the callee's parameters,
        so a chain of tail calls of any length runs in one native frame.  A callee with more
        than REG_RESULTS results gets this function's own result pointer (the callee's
        results are this function's): the call stays ``tail call void`` + ``ret void``.
        Shared by every tail-calling instruction (return_call, return_call_indirect,
        return_call_ref)."""
        self.leaf = False
        self.emit(f"store i64 %depth, ptr %dp, {CTX_TBAA}")
        self.emit(f"store i64 %shtop, ptr %sh, {CTX_TBAA}")
        if self.gc:
            self.emit(f"store i64 %rtop, ptr %rtp, {CTX_TBAA}")
        argtext = "".join(f", {IR_TYPE[t]} {v}" for t, v in args)
        rt = ret_type(ft.results)
        kind = tail_kind(ft.results)
        loc = location(self.funcidx, self.index)
        if results_in_memory(ft.results):
            # Validation made the callee's results this function's: it has %res too.
            self.emit(f"{kind} call {TAIL_CC} void {target}(ptr %vm, ptr %res{argtext}){loc}")
            self.emit("ret void")
        elif ft.results:
            r = self.tmp()
            self.emit(f"{r} = {kind} call {TAIL_CC} {rt} {target}(ptr %vm{argtext}){loc}")
            self.emit(f"ret {rt} {r}")
        else:
            self.emit(f"{kind} call {TAIL_CC} void {target}(ptr %vm{argtext}){loc}")
            self.emit("ret void")

    def return_results(self, values) -> None:
        """Return ``values`` (the function's results, (type, value) pairs) from here."""
        for (t, v), slot in zip(values, self.top.slots):
            self.emit(f"store {IR_TYPE[t]} {v}, ptr {slot}")
        self.emit("br label %ret")

    def direct_call(self, target: str, ft, args) -> None:
        """Call ``target`` (a function of this module or a native table entry) and push its
        results.  The call has its debug location (prelude.location: how a trap's
        backtrace finds this call) and stands between its labels (prelude.call_label), which
        keep it from being merged with another."""
        self.leaf = False
        argtext = "".join(f", {IR_TYPE[t]} {v}" for t, v in args)
        callee = int(target[2:]) if target.startswith("@f") else -1
        if callee in self.mc.split:
            # The callee takes the shadow-stack height in a register (ModuleCompiler.split).
            argtext = ", i64 %shtop1" + argtext
            self.split_calls.add(callee)
        else:
            self.sync()     # (code that reads the height from memory)
        rt = ret_type(ft.results)
        # The instruction's index makes each call distinct: LLVM never merges two calls
        # (sinking them out of the arms of an `if`), which would leave one call whose debug
        # location names neither.  (Inlining stays free: a call site made `noinline` changed
        # the register allocation of the corpus's `vm` loop, 1.6x slower.)
        attrs = f' "wasm-call"="{self.index}"{location(self.funcidx, self.index)}'
        if self.gc:
            self.spill_roots()
        self.out.append(call_label(self.funcidx, self.index, LABEL_BEFORE))
        if results_in_memory(ft.results):
            buf = self.result_buffer(ft.results)
            self.emit(f"call {self.mc.cc} void {target}(ptr %vm, ptr {buf}{argtext}){attrs}")
            self.out.append(call_label(self.funcidx, self.index, LABEL_AFTER))
            if self.mc.eh:
                self.check_exn()
            self.push_buffer(ft.results, buf)
        elif ft.results:
            r = self.tmp()
            self.emit(f"{r} = call {self.mc.cc} {rt} {target}(ptr %vm{argtext}){attrs}")
            self.out.append(call_label(self.funcidx, self.index, LABEL_AFTER))
            if self.mc.eh:
                self.check_exn()
            self.push_results(ft.results, r)
        else:
            self.emit(f"call {self.mc.cc} void {target}(ptr %vm{argtext}){attrs}")
            self.out.append(call_label(self.funcidx, self.index, LABEL_AFTER))
            if self.mc.eh:
                self.check_exn()

    # ----- GC roots (llvm/gcheap.py) -----

    def spill_roots(self) -> None:
        """Before a call or allocation that may collect: store the references of the operand
        stack in the frame's root slots above the locals (slot of stack position i:
        locals + i), so the collector finds them.  Objects never move, so the values in
        registers stay valid and nothing is reloaded; a slot left holding an older value
        only keeps that object alive until the frame returns."""
        base = len(self.root_locals)
        for i, (t, v) in enumerate(self.stack):
            if v != "0" and traceable(t):
                k = base + i
                if k >= self.root_slots:
                    self.root_slots = k + 1
                p = self.tmp()
                self.emit(f"{p} = getelementptr i64, ptr %rframe, i64 {k}")
                self.emit(f"store i64 {v}, ptr {p}")

    # ----- exception handling (see llvm/exceptions.py) -----

    def exn_target(self) -> str:
        """Where an exception raised here goes: the handler dispatch of the innermost try
        block covering this code, else the function's return (the caller checks vm[EXN])."""
        return self.exn_scopes[-1].dispatch if self.exn_scopes else "ret"

    def check_exn(self) -> None:
        """After a call, in a module that uses exceptions: branch to the handlers when the
        callee left an exception in vm[EXN]."""
        p, h, c = self.tmp(), self.tmp(), self.tmp()
        self.emit(f"{p} = getelementptr i64, ptr %vm, i64 {EXN}")
        self.emit(f"{h} = load i64, ptr {p}, {CTX_TBAA}")
        self.emit(f"{c} = icmp ne i64 {h}, 0")
        cont = self.label()
        self.emit(f"br i1 {c}, label %{self.exn_target()}, label %{cont}, !prof !5")
        self.start_block(cont)


#: Callbacks that never run guest code nor allocate, so never collect (no spill before them).
_NO_COLLECTION = frozenset((CB_GC_BOX, CB_GC_UNBOX, CB_GC_SIG_MATCH, CB_GC_FUNC_TEST))

_TAIL_CALLS = ("return_call", "return_call_indirect", "return_call_ref")
# The mark of the branch in a split function's return block that ModuleCompiler.split
# makes unconditional (an IR comment).
_RESTORE = " ; wf.restore"
_RESTORE_LINE = re.compile(r"  br i1 %rsampled, label %ret\.sync, label %ret\.go, !prof !5 ; wf\.restore")
# A direct call's callee in a function's IR (ModuleCompiler.target).
_DIRECT_CALL = re.compile(r"@f(\d+)\(")
# Structured instructions that open a block, and those that end an arm of one.
_OPENERS = frozenset(("block", "loop", "if", "try_table", "try"))
_ARMS = frozenset(("end", "else", "catch", "catch_all", "delegate"))


_XMM = ("float", "double", "<16 x i8>")


def _recursive(funcs, calls: dict, nimported: int) -> list:
    """The functions of ``funcs`` (indexes into ``module.funcs``) on a cycle of the direct
    calls between them (``calls[j]``: function indexes): Tarjan's strongly connected
    components, iteratively (a call chain may be thousands deep)."""
    inside = set(funcs)
    index: dict = {}
    low: dict = {}
    stack: list = []
    on: set = set()
    out: list = []
    counter = 0
    for root in funcs:
        if root in index:
            continue
        work = [(root, iter(sorted(c - nimported for c in calls.get(root, ()))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            for w in it:
                if w not in inside:
                    continue
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(c - nimported for c in calls.get(w, ())))))
                    break
                if w in on:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    u = work[-1][0]
                    low[u] = min(low[u], low[v])
                if low[v] == index[v]:
                    comp = []
                    while True:
                        w = stack.pop()
                        on.discard(w)
                        comp.append(w)
                        if w == v:
                            break
                    if len(comp) > 1 or v + nimported in calls.get(v, ()):
                        out += comp
    return sorted(out)


def _split_entry(i: int, ft, cc: str) -> str:
    """``@e<i>``, the entry of split function ``i`` from code that keeps the shadow-stack
    height in memory (ModuleCompiler.splittable): a sibling call, which LLVM makes a jump
    (``noinline`` at the call: one copy of the body)."""
    params = ", ".join(f"{IR_TYPE[t]} %p{k}" for k, t in enumerate(ft.params))
    argtext = "".join(f", {IR_TYPE[t]} %p{k}" for k, t in enumerate(ft.params))
    rt = ret_type(ft.results)
    call = f"tail call {cc} {rt} @f{i}(ptr %vm, i64 %shtop{argtext}) #3"
    return "\n".join([
        f"define internal {cc} {rt} @e{i}(ptr %vm{', ' if params else ''}{params}) #0 {{",
        "entry:",
        f"  %shp = getelementptr i64, ptr %vm, i64 {SHADOW}",
        f"  %sh = load ptr, ptr %shp, {CTX_TBAA}, !invariant.load !6",
        f"  %shtop = load i64, ptr %sh, {CTX_TBAA}",
        f"  %r = {call}" if ft.results else f"  {call}",
        f"  ret {rt} %r" if ft.results else "  ret void",
        "}",
        "",
    ])


def uses_tail_calls(module) -> bool:
    """Whether ``module`` may make tail calls, and so is compiled under TAIL_CC (prelude.py).

    The answer depends on the module's bytes alone (never on which bodies happen to be
    decoded), so that every part of a lazily compiled module, in any run, agrees on the
    convention.  Up to LAZY_THRESHOLD bytes of binary code the bodies are read (they are
    decoded anyway); beyond, a body counts if it holds the opcode byte 0x12, 0x13 or 0x15
    anywhere (an over-approximation that keeps a big module from being decoded whole: it then
    only pays tailcc's small cost on its calls).  Text modules are read exactly."""
    known = module.__dict__.get("_llvm_uses_tail_calls")
    if known is None:
        # Once per module (each batch of a lazily compiled module asks again).
        known = module.__dict__["_llvm_uses_tail_calls"] = _scan_tail_calls(module)
    return known


def _scan_tail_calls(module) -> bool:
    funcs = module.funcs
    raw = [f._code for f in funcs if f._code is not None]
    if raw and sum(map(len, raw)) >= LAZY_THRESHOLD:
        return any(b"\x12" in code or b"\x13" in code or b"\x15" in code
                   for code in map(bytes, raw))
    return any(o.name in _TAIL_CALLS for o in module.ops_used())


def callees(func, nimported: int) -> set:
    """The defined functions ``func`` calls directly (indexes in the function index space)."""
    out = set()
    for ins in func.iter_body():
        if ins[0].name in ("call", "return_call") and ins[1] >= nimported:
            out.add(ins[1])
    return out


class ModuleCompiler:
    """Builds the LLVM IR text of a whole module, or of a batch of its functions plus the
    entry trampolines apart (lazy compilation)."""

    def __init__(self, module, fuel: bool = False, epoch: bool = False):
        self.module = module
        self.fuel = fuel
        self.epoch = epoch
        self.func_types = module.func_types()
        self.global_types = module.global_types()
        self.table_types = module.table_types()
        self.mem_types = module.mem_types()
        self.nimported = module.num_imported(FUNC)
        self.signatures: list = []      # distinct FuncTypes of defined functions, entry order
        self.pathological: set = set()  # defined functions found beyond NEST_LIMIT/BLOCK_LIMIT
        # The nesting above which a function is pathological: NEST_LIMIT, except in the
        # background recompile of lazily compiled batches (llvm/lazytier.py), where an
        # interpreter's dispatch loop (QuickJS's JS_CallInternal: a switch 282 deep) is worth
        # its seconds of O2 once per machine rather than running baseline code for ever.
        self.nest_limit = NEST_LIMIT
        self.pathological_ir: dict = {} # their IR, made by compile() for compile_batch()
        self.entry_of: list = []        # per defined function: index into signatures
        self.through_table = False      # calls go through @t<i> thunks (baseline code)
        self.called: set = set()        # the functions those calls reach
        self.unit = None                # the functions whose code is being made (None: all)
        self.split: set = set()         # those taking their shadow-stack height in a register
        # The calling convention of every function, thunk and entry of this module's code.
        self.cc = TAIL_CC if uses_tail_calls(module) else "fastcc"
        # Calls check for a thrown exception (llvm/exceptions.py) only in such modules.
        self.eh = uses_exceptions(module)
        # The GC proposal (llvm/gcops.py): references may be heap objects (roots).
        self.gc = module.uses_gc()
        # By type index first: a FuncType hashes in Python, a type index does not (a warm
        # run of yosys makes this for 34,004 functions); equal types of different indexes
        # still share their signature, in the order of first use.
        sig_index: dict = {}
        by_typeidx: dict = {}
        types = module.types
        entry_of = self.entry_of
        for f in module.funcs:
            k = by_typeidx.get(f.typeidx)
            if k is None:
                ft = types[f.typeidx]
                k = sig_index.get(ft)
                if k is None:
                    k = sig_index[ft] = len(self.signatures)
                    self.signatures.append(ft)
                by_typeidx[f.typeidx] = k
            entry_of.append(k)

    def compile(self, progress=None, through_table: bool = False) -> str:
        """The IR of the whole module: every function, the entry trampolines and
        ``@wf_funcs``.  ``progress(n)`` is called after every ``n`` functions lowered.
        ``through_table`` (baseline code, llvm/compiler.py): direct calls go through the
        module's function table (``vm[LAZY]``, :func:`lazy_thunk` named ``@t<i>``)."""
        parts = [PRELUDE]
        self.through_table, self.called, self.unit = through_table, set(), None
        n = len(self.module.funcs)
        self.split = set() if through_table else self.splittable(
            range(n), {j: callees(f, self.nimported) for j, f in enumerate(self.module.funcs)})
        fcs = []
        try:
            for j, f in enumerate(self.module.funcs):
                i = self.nimported + j
                fc = FunctionCompiler(self, i, f, self.func_types[i])
                text = fc.compile()
                if j in self.pathological and not through_table and not fc.reg_height \
                        and not fc.split_calls:
                    # Compiled apart next, in a batch of its own (llvm/compiler.py), where
                    # the other functions it calls are their thunks @t<c> (compile_batch);
                    # (a text that passes the height in a register is made again there)
                    self.pathological_ir[j] = _DIRECT_CALL.sub(
                        lambda m: m[0] if int(m[1]) == i else f"@t{m[1]}(", text)
                parts.append(text)
                fcs.append(fc)
                if progress is not None and j % 256 == 255:
                    progress(256)
        finally:
            self.through_table = False
        self.finish_split(fcs, parts, 1)
        for i in sorted(self.called):
            parts.append(lazy_thunk(i, i - self.nimported, self.func_types[i], "t", self.cc))
        for k, ft in enumerate(self.signatures):
            parts.append(entry_trampoline(k, ft, self.cc))
        refs = ", ".join(f"ptr @{self.symbol(self.nimported + j)}" for j in range(n))
        parts.append(f"@wf_funcs = constant [{n} x ptr] [{refs}]\n")
        if self.eh:
            # Marks code that carries exceptions, so that code loaded from the module cache or
            # an artifact says so itself (CompiledModule.from_object) without a scan.
            parts.append("@wf_eh = constant i8 1\n")
        if self.gc:
            # Likewise for the GC proposal's heap and run-time types (llvm/instance.py): whether
            # a module uses it can otherwise only be known by decoding every body.
            parts.append("@wf_gc = constant i8 1\n")
        parts.extend(sorted(DECLS))
        parts.append(EPILOGUE)
        parts.append(DEBUG_INFO)
        return "\n".join(parts)

    def target(self, i: int) -> str:
        """What a direct call of function ``i`` calls: ``@f<i>``, its code, or ``@t<i>``,
        the thunk through the function table (baseline code; a lazily compiled batch
        without ``i``)."""
        if self.through_table or (self.unit is not None and i not in self.unit):
            self.called.add(i)
            return f"@t{i}"
        return f"@f{i}"

    def symbol(self, i: int) -> str:
        """The symbol ``@wf_funcs`` lists for defined function ``i``: the entry that reads
        the shadow-stack height from memory (``e<i>`` for a function of :attr:`split`)."""
        return f"e{i}" if i in self.split else f"f{i}"

    def splittable(self, funcs, calls: dict) -> set:
        """The recursive functions of the code being made (``funcs``, indexes into
        ``module.funcs``; ``calls[j]``: :func:`callees` of ``j``) that take their shadow-stack
        height in a register (the set :attr:`split` of function indexes).

        Each such ``@f<i>(ptr %vm, i64 %shtop, params...)`` pushes itself at ``%shtop`` and
        passes ``%shtop + 1`` to the functions of this set it calls directly, but stores the
        height in memory (``sh[0]``) only before code that reads it there runs: a callback
        (host calls, the runtime's helpers), a call through a table or reference or of a
        function outside the set, a trap (``@wf_trap`` records it), and while a profiler
        samples the store (the flag before the height).  A function that may have stored its
        height there (itself or a callee of the set) gives the caller's back on return;
        others leave memory as they found it.  Storing the height twice per call was the
        largest part of the per-call cost (fib 39's ``_start``: 0.373-0.391 -> 0.331-0.339 s
        in process, docs/performance.md "Per-call cost").
        ``@e<i>(ptr %vm, params...)``, in ``@wf_funcs`` (entries, tables, the function
        table of tier-up and lazy compilation, quick code), reads the height from memory
        and jumps to ``@f<i>``: the contract everything else sees is unchanged.

        Only in code calling directly (never baseline code, whose calls go through the
        function table), without tail calls (``tailcc``), exception handling or the GC
        proposal; only functions on a cycle of direct calls (recursion: where calls are the
        work, and which the inliner cannot make go away; the code of other functions, and
        so what LLVM inlines, stays as it was), and only those whose arguments stay in
        registers with the height (at most four integer and eight float parameters, results
        in registers), so that ``@e<i>``'s call is a jump (a sibling call) and leaves no
        frame."""
        if self.cc != "fastcc" or self.eh or self.gc:
            return set()
        out = set()
        for j in _recursive(funcs, calls, self.nimported):
            i = self.nimported + j
            ft = self.func_types[i]
            if results_in_memory(ft.results):
                continue
            ints = sum(1 for t in ft.params if IR_TYPE.get(t) not in _XMM)
            if ints <= 4 and len(ft.params) - ints <= 8:
                out.add(i)
        return out

    def finish_split(self, fcs: list, parts: list, first: int) -> None:
        """After the functions of the unit are made (``fcs``, their texts ``parts[first:]``):
        the return of each function of :attr:`split` that may have stored its height stores
        the caller's (a fixed point over the direct calls), and each gets its ``@e<i>``."""
        split = self.split
        if not split:
            return
        by_index = {fc.funcidx: fc for fc in fcs if fc is not None}
        syncs = {i for i in split if i in by_index and by_index[i].syncs}
        changed = True
        while changed:
            changed = False
            for i in split - syncs:
                fc = by_index.get(i)
                if fc is not None and fc.split_calls & syncs:
                    syncs.add(i)
                    changed = True
        for k, fc in enumerate(fcs):
            if fc is not None and fc.reg_height and fc.funcidx in syncs:
                parts[first + k] = _RESTORE_LINE.sub("  br label %ret.sync", parts[first + k], count=1)
        for i in sorted(split):
            parts.append(_split_entry(i, self.func_types[i], self.cc))

    def compile_entries(self) -> str:
        """The IR of the entry trampolines alone (``@wf_entry<k>``, one per signature)."""
        parts = [PRELUDE]
        parts.extend(entry_trampoline(k, ft, self.cc) for k, ft in enumerate(self.signatures))
        parts.append(EPILOGUE)
        return "\n".join(parts)

    def compile_batch(self, batch: list, calls: dict) -> str:
        """The IR of the defined functions ``batch`` (indexes into ``module.funcs``), with
        ``@wf_funcs`` listing their addresses in ``batch`` order; calls to functions outside
        the batch go through :func:`lazy_thunk`.  ``calls[j]`` is :func:`callees` of ``j``."""
        parts = [PRELUDE]
        inside = set(batch)
        outside = set()
        self.unit = {self.nimported + j for j in batch}
        self.split = self.splittable(batch, calls)
        fcs = []
        try:
            for j in batch:
                i = self.nimported + j
                text = self.pathological_ir.pop(j, None)
                fc = None
                if text is None:
                    fc = FunctionCompiler(self, i, self.module.funcs[j], self.func_types[i])
                    text = fc.compile()
                parts.append(text)
                fcs.append(fc)
                outside.update(c for c in calls[j] if c - self.nimported not in inside)
            self.finish_split(fcs, parts, 1)
        finally:
            self.unit = None
        # (named @t<i> like baseline code's: a symbol @f<i> is always function i's code)
        for i in sorted(outside):
            parts.append(lazy_thunk(i, i - self.nimported, self.func_types[i], "t", self.cc))
        refs = ", ".join(f"ptr @{self.symbol(self.nimported + j)}" for j in batch)
        parts.append(f"@wf_funcs = constant [{len(batch)} x ptr] [{refs}]\n")
        parts.extend(sorted(DECLS))
        parts.append(EPILOGUE)
        parts.append(DEBUG_INFO)
        return "\n".join(parts)
