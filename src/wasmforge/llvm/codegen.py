"""Lowering of a validated module to one LLVM IR module (textual IR).

Every wasm function ``i`` defined by the module becomes ``internal fastcc @f<i>(ptr %vm,
params...)`` returning ``void``, its single result, or a literal struct of its results.
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
- ``@wf_trap(vm, code, funcidx)``: records the function and ``longjmp``s to the innermost
  entry of the instance.

Traps never unwind through Python frames: host calls go through the instance's ctypes
callback, which catches every exception and returns a flag that the generated code turns into
a ``TRAP_HOST`` trap.
"""

from __future__ import annotations

import platform

from ..errors import WasmError
from ..errors import TrapCode as TC
from ..module import FUNC
from ..numerics.bits import f64_to_bits
from ..runtime.metering import frame_bytes, meter_points
from .layout import (CALLBACK, CB_CALL, CB_CALL_INDIRECT, CB_DATA_DROP, CB_ELEM_DROP,
                     CB_GLOBAL_GET, CB_GLOBAL_SET, CB_MEMORY_GROW, CB_MEMORY_INIT, CB_TABLE_COPY,
                     CB_TABLE_FILL, CB_TABLE_GET, CB_TABLE_GROW, CB_TABLE_INIT, CB_TABLE_SET,
                     CB_TABLE_SIZE, CB_COMPILE, DEADLINE, LAZY, DEPTH, DEPTH_MAX, EPOCH, FUEL, GLOBALS, IR_TYPE, JMPBUF, MEM, SIGS,
                     SHADOW, STACK_MIN, TABLES, TRAP_ARG, TRAP_HOST, TRAP_NUM, TRAP_TOP,
                     INTERRUPT, TRAP_SIGINT)


class UnsupportedError(WasmError):
    """The module uses a feature the llvm tier does not compile yet (use the interp tier)."""


_T_INT = {"i32": 32, "i64": 64}
_MEM_TBAA = "!tbaa !2"        # guest linear memory
_CTX_TBAA = "!tbaa !4"        # vmctx, memory size, global cells, table mirrors

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
_FREG = "w" if platform.machine().lower() in ("aarch64", "arm64") else "x"

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


def ret_type(results) -> str:
    if not results:
        return "void"
    if len(results) == 1:
        return IR_TYPE[results[0]]
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


class _Frame:
    __slots__ = ("kind", "params", "results", "height", "label", "end", "slots", "else_label",
                 "else_args", "reached", "has_else")

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
        self.io_slots = 0
        self.leaf = True
        self.block_lines = 0      # instructions emitted since the last label
        self.forced = 0           # consecutive block splits made only for length
        self.huge = False         # a straight-line run too long for the optimiser, see split()
        self.blocks = 0           # block, loop and if instructions compiled
        self.nest = 0             # the deepest nesting of them
        self.uses_mem = False
        self.global_cells: dict = {}
        self.local_types = list(ftype.params) + list(func.locals)
        self.locals: list = []    # the alloca of each local
        self.top = None           # the function's own frame
        # Decoded for this compilation only: a large module keeps its bodies raw (module.Func).
        self.body = list(func.iter_body())
        # Fuel charges and epoch checks, per segment start (runtime/metering.py); the epoch
        # points (function entry, loop headers) always get the interrupt check (llvm/sigint.py).
        self.meter_at = meter_points(self.body, mc.fuel, True)
        self.calls = any(ins[0].name in ("call", "call_indirect") for ins in self.body)

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

    def trap_label(self, code) -> str:
        lab = self.trap_blocks.get(code)
        if lab is None:
            num = TRAP_HOST if code == "host" else TRAP_SIGINT if code == "sigint" else TRAP_NUM[code]
            lab = self.trap_blocks[code] = f"trap{num}"
        return lab

    def trap_if(self, cond: str, code) -> None:
        """Branch to the trap block for ``code`` when ``cond`` (an i1) holds."""
        cont = self.label()
        self.emit(f"br i1 {cond}, label %{self.trap_label(code)}, label %{cont}, !prof !5")
        self.start_block(cont)

    def mem(self) -> tuple:
        self.uses_mem = True
        return "%mem", "%membase"

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
        for t in self.local_types:
            self.locals.append(self.alloca(IR_TYPE[t]))
        top = _Frame("func", (), tuple(ft.results), 0)
        top.label = top.end = "ret"
        top.slots = [self.alloca(IR_TYPE[t]) for t in ft.results]
        self.frames.append(top)
        self.top = top
        self.start_block("body")
        body = self.body
        dispatch = _DISPATCH
        meter_at = self.meter_at
        for index, ins in enumerate(body):
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
                if name in ("block", "loop", "if"):
                    self.dead_depth += 1
                    continue
                if name == "end" or name == "else":
                    if self.dead_depth:
                        if name == "end":
                            self.dead_depth -= 1
                        continue
                else:
                    continue
            handler = dispatch.get(name)
            if handler is None:
                handler = _generic(name)
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
        if self.nest > NEST_LIMIT + 1 or self.blocks > BLOCK_LIMIT:
            # Pathological control flow (see NEST_LIMIT): no optimisation, compiled apart.
            self.huge = True
            self.mc.pathological.add(self.funcidx - self.mc.nimported)
        params = ", ".join(f"{IR_TYPE[t]} %p{k}" for k, t in enumerate(ft.params))
        rt = ret_type(ft.results)
        head = [f"define internal fastcc {rt} @f{self.funcidx}(ptr %vm{', ' if params else ''}{params}) "
                f"{'#1' if self.huge else '#0'} {{", "entry:"]
        head.extend(self.allocas)
        if self.io_slots:
            head.append(f"  %io = alloca [{self.io_slots} x i64], align 8")
        for k in range(len(ft.params)):
            head.append(f"  store {IR_TYPE[ft.params[k]]} %p{k}, ptr {self.locals[k]}")
        for k in range(len(ft.params), len(self.local_types)):
            t = IR_TYPE[self.local_types[k]]
            zero = "0.0" if t in ("float", "double") else "zeroinitializer" if t[0] == "<" else "0"
            head.append(f"  store {t} {zero}, ptr {self.locals[k]}")
        if self.uses_mem:
            head.append(f"  %memp = getelementptr i64, ptr %vm, i64 {MEM}")
            head.append(f"  %mem = load ptr, ptr %memp, {_CTX_TBAA}, !invariant.load !6")
            head.append(f"  %membase = load ptr, ptr %mem, {_CTX_TBAA}, !invariant.load !6")
        if self.global_cells:
            head.append(f"  %gp = getelementptr i64, ptr %vm, i64 {GLOBALS}")
            head.append(f"  %garr = load ptr, ptr %gp, {_CTX_TBAA}, !invariant.load !6")
            for idx, cell in self.global_cells.items():
                head.append(f"  {cell}.p = getelementptr ptr, ptr %garr, i64 {idx}")
                head.append(f"  {cell} = load ptr, ptr {cell}.p, {_CTX_TBAA}, !invariant.load !6")
        # The wasm stack budget (runtime/metering.py: each frame costs frame_bytes(nlocals) of
        # the store's max_wasm_stack) and, in functions that call, the native stack guard:
        # a leaf function adds one bounded frame, so only callers check the real stack.
        frame = frame_bytes(len(self.local_types))
        head += [
            f"  %dp = getelementptr i64, ptr %vm, i64 {DEPTH}",
            f"  %depth = load i64, ptr %dp, {_CTX_TBAA}",
            f"  %depth1 = add i64 %depth, {frame}",
            f"  %dmp = getelementptr i64, ptr %vm, i64 {DEPTH_MAX}",
            f"  %dmax = load i64, ptr %dmp, {_CTX_TBAA}",
            "  %over = icmp ugt i64 %depth1, %dmax",
        ]
        if not self.leaf:
            head += [
                f"  %smp = getelementptr i64, ptr %vm, i64 {STACK_MIN}",
                f"  %smin = load i64, ptr %smp, {_CTX_TBAA}",
                "  %sp = call ptr @llvm.stacksave.p0()",
                "  %spi = ptrtoint ptr %sp to i64",
                "  %sover = icmp ult i64 %spi, %smin",
                "  %dover = or i1 %over, %sover",
            ]
        head += [
            f"  br i1 %{'dover' if not self.leaf else 'over'}, label %{self.trap_label(TC.STACK_OVERFLOW)}, "
            "label %enter, !prof !5",
            "enter:",
            f"  store i64 %depth1, ptr %dp, {_CTX_TBAA}",
            # Push the function on the shadow stack (the backtrace of a trap).
            f"  %shp = getelementptr i64, ptr %vm, i64 {SHADOW}",
            f"  %sh = load ptr, ptr %shp, {_CTX_TBAA}, !invariant.load !6",
            f"  %shtop = load i64, ptr %sh, {_CTX_TBAA}",
            "  %shents = getelementptr i8, ptr %sh, i64 8",
            "  %shslot = getelementptr i32, ptr %shents, i64 %shtop",
            f"  store i32 {self.funcidx}, ptr %shslot, {_CTX_TBAA}",
            "  %shtop1 = add i64 %shtop, 1",
            f"  store i64 %shtop1, ptr %sh, {_CTX_TBAA}",
        ]
        head.append("  br label %body")
        tail = []
        # The function's end: fall through into the return block.
        top = self.top
        ret = ["ret:", f"  store i64 %depth, ptr %dp, {_CTX_TBAA}", f"  store i64 %shtop, ptr %sh, {_CTX_TBAA}"]
        if not ft.results:
            ret.append("  ret void")
        elif len(ft.results) == 1:
            ret.append(f"  %rv = load {IR_TYPE[ft.results[0]]}, ptr {top.slots[0]}")
            ret.append(f"  ret {IR_TYPE[ft.results[0]]} %rv")
        else:
            agg = "undef"
            rt = ret_type(ft.results)
            for k, t in enumerate(ft.results):
                ret.append(f"  %rv{k} = load {IR_TYPE[t]}, ptr {top.slots[k]}")
                ret.append(f"  %ra{k} = insertvalue {rt} {agg}, {IR_TYPE[t]} %rv{k}, {k}")
                agg = f"%ra{k}"
            ret.append(f"  ret {rt} {agg}")
        for code, lab in self.trap_blocks.items():
            num = lab[4:]
            tail += [f"{lab}:", f"  call void @wf_trap(ptr %vm, i32 {num})",
                     "  unreachable"]
        return "\n".join(head + self.out + ret + tail + ["}", ""])

    def check_epoch(self) -> None:
        """Trap when the engine's epoch has reached the store's deadline.  The counter is
        read with an atomic load: another thread advances it, and a plain load could be
        hoisted out of the very loop the check is there to interrupt."""
        p, cell, e, dp, dl, hit = (self.tmp() for _ in range(6))
        self.emit(f"{p} = getelementptr i64, ptr %vm, i64 {EPOCH}")
        self.emit(f"{cell} = load ptr, ptr {p}, {_CTX_TBAA}, !invariant.load !6")
        self.emit(f"{e} = load atomic i64, ptr {cell} monotonic, align 8")
        self.emit(f"{dp} = getelementptr i64, ptr %vm, i64 {DEADLINE}")
        self.emit(f"{dl} = load i64, ptr {dp}, {_CTX_TBAA}")
        self.emit(f"{hit} = icmp uge i64 {e}, {dl}")
        self.trap_if(hit, TC.INTERRUPT)

    def check_interrupt(self) -> None:
        """Trap when Ctrl-C asked this thread's wasm code to stop (llvm/sigint.py): the cell
        is set by another thread, hence the atomic load (a plain one could be hoisted)."""
        p, cell, v, hit = (self.tmp() for _ in range(4))
        self.emit(f"{p} = getelementptr i64, ptr %vm, i64 {INTERRUPT}")
        self.emit(f"{cell} = load ptr, ptr {p}, {_CTX_TBAA}, !invariant.load !6")
        self.emit(f"{v} = load atomic i64, ptr {cell} monotonic, align 8")
        self.emit(f"{hit} = icmp ne i64 {v}, 0")
        self.trap_if(hit, "sigint")

    def charge(self, cost: int) -> None:
        """Take ``cost`` units of fuel; trap before the segment runs when it goes below 0."""
        p, f, f2, neg = self.tmp(), self.tmp(), self.tmp(), self.tmp()
        self.emit(f"{p} = getelementptr i64, ptr %vm, i64 {FUEL}")
        self.emit(f"{f} = load i64, ptr {p}, {_CTX_TBAA}")
        self.emit(f"{f2} = sub i64 {f}, {cost}")
        self.emit(f"store i64 {f2}, ptr {p}, {_CTX_TBAA}")
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
        in_off, nin = slot_offsets([t for t, _ in args])
        out_off, nout = slot_offsets(results)
        self.io_reserve(max(nin, nout))
        for k, (t, v) in zip(in_off, args):
            store_slot(self.out, self.tmp(), "%io", k, t, v)
        cbp = self.tmp()
        self.emit(f"{cbp}.p = getelementptr i64, ptr %vm, i64 {CALLBACK}")
        self.emit(f"{cbp} = load ptr, ptr {cbp}.p, {_CTX_TBAA}")
        rc = self.tmp()
        self.emit(f"{rc} = call i32 {cbp}(ptr %vm, i32 {kind}, i32 {imm}, ptr %io)")
        bad = self.tmp()
        # 1 is success (instance.NativeInstance._callback explains why not 0).
        self.emit(f"{bad} = icmp ne i32 {rc}, 1")
        self.trap_if(bad, "host")
        vals = []
        for k, t in zip(out_off, results):
            v = self.tmp()
            load_slot(self.out, v, "%io", k, t)
            vals.append(v)
        return vals

    def push_results(self, results, v: str) -> None:
        if len(results) == 1:
            self.push(results[0], v)
        elif results:
            rt = ret_type(results)
            for k, t in enumerate(results):
                e = self.tmp()
                self.emit(f"{e} = extractvalue {rt} {v}, {k}")
                self.push(t, e)

    def direct_call(self, target: str, ft, args) -> None:
        self.leaf = False
        argtext = "".join(f", {IR_TYPE[t]} {v}" for t, v in args)
        rt = ret_type(ft.results)
        if ft.results:
            r = self.tmp()
            self.emit(f"{r} = call fastcc {rt} {target}(ptr %vm{argtext})")
            self.push_results(ft.results, r)
        else:
            self.emit(f"call fastcc void {target}(ptr %vm{argtext})")


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
    args = fc.popn(len(ft.params))
    if i < mc.nimported:
        for t, v in zip(ft.results, fc.callback(CB_CALL, i, args, ft.results)):
            fc.push(t, v)
    else:
        # Baseline code calls through the function table (ModuleCompiler.compile), so that a
        # running baseline function's next call enters the optimised code once it is there.
        if mc.through_table:
            mc.called.add(i)
        fc.direct_call(f"@t{i}" if mc.through_table else f"@f{i}", ft, args)


def _call_indirect(fc, ins):
    typeidx, tableidx = ins[1], ins[2]
    ft = fc.mc.module.types[typeidx]
    idx = fc.pop()
    args = fc.popn(len(ft.params))
    fc.leaf = False
    t = fc.tmp
    tp, mir, size, idx64, oob, ents, ep, sig, sigp, sigs, exp, isnull, bad, fnp, fn, isnative = (
        t() for _ in range(16))
    fc.emit(f"{tp} = getelementptr i64, ptr %vm, i64 {TABLES}")
    fc.emit(f"{tp}.a = load ptr, ptr {tp}, {_CTX_TBAA}, !invariant.load !6")
    fc.emit(f"{tp}.m = getelementptr ptr, ptr {tp}.a, i64 {tableidx}")
    fc.emit(f"{mir} = load ptr, ptr {tp}.m, {_CTX_TBAA}, !invariant.load !6")
    fc.emit(f"{size} = load i64, ptr {mir}, {_CTX_TBAA}")
    fc.emit(f"{idx64} = zext i32 {idx} to i64")
    fc.emit(f"{oob} = icmp uge i64 {idx64}, {size}")
    fc.trap_if(oob, TC.UNDEFINED_ELEMENT)
    fc.emit(f"{ents}.p = getelementptr i64, ptr {mir}, i64 1")
    fc.emit(f"{ents} = load ptr, ptr {ents}.p, {_CTX_TBAA}")
    fc.emit(f"{ep} = getelementptr {{i64, ptr}}, ptr {ents}, i64 {idx64}")
    fc.emit(f"{sig} = load i64, ptr {ep}, {_CTX_TBAA}")
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
    fc.emit(f"{sigs} = load ptr, ptr {sigp}, {_CTX_TBAA}, !invariant.load !6")
    fc.emit(f"{exp}.p = getelementptr i64, ptr {sigs}, i64 {typeidx}")
    fc.emit(f"{exp} = load i64, ptr {exp}.p, {_CTX_TBAA}, !invariant.load !6")
    fc.emit(f"{bad} = icmp ne i64 {sig}, {exp}")
    fc.trap_if(bad, TC.INDIRECT_CALL_TYPE_MISMATCH)
    fc.emit(f"{fnp} = getelementptr {{i64, ptr}}, ptr {ep}, i64 0, i32 1")
    fc.emit(f"{fn} = load ptr, ptr {fnp}, {_CTX_TBAA}")
    fc.emit(f"{isnative} = icmp ne ptr {fn}, null")
    native, foreign, join = fc.label(), fc.label(), fc.label()
    fc.emit(f"br i1 {isnative}, label %{native}, label %{foreign}")
    # Both paths leave the results in allocas, read at the join.
    slots = [fc.alloca(IR_TYPE[r]) for r in ft.results]
    fc.start_block(native)
    height = len(fc.stack)
    fc.direct_call(fn, ft, args)
    for (rt_, v), slot in zip(fc.stack[height:], slots):
        fc.emit(f"store {IR_TYPE[rt_]} {v}, ptr {slot}")
    del fc.stack[height:]
    fc.emit(f"br label %{join}")
    fc.start_block(foreign)
    vals = fc.callback(CB_CALL_INDIRECT, tableidx, [("i32", idx)] + list(args), ft.results)
    for r, v, slot in zip(ft.results, vals, slots):
        fc.emit(f"store {IR_TYPE[r]} {v}, ptr {slot}")
    fc.emit(f"br label %{join}")
    fc.start_block(join)
    for r, slot in zip(ft.results, slots):
        v = fc.tmp()
        fc.emit(f"{v} = load {IR_TYPE[r]}, ptr {slot}")
        fc.push(r, v)


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
    if t in ("funcref", "externref"):
        (v,) = fc.callback(CB_GLOBAL_GET, idx, [], [t])
        fc.push(t, v)
        return
    cell = fc.global_cell(idx)
    v = fc.tmp()
    fc.emit(f"{v} = load {IR_TYPE[t]}, ptr {cell}, {_CTX_TBAA}")
    fc.push(t, v)


def _global_set(fc, ins):
    idx = ins[1]
    t, v = fc.stack.pop()
    gt = fc.mc.global_types[idx].content
    if gt in ("funcref", "externref"):
        fc.callback(CB_GLOBAL_SET, idx, [(gt, v)], [])
        return
    fc.emit(f"store {IR_TYPE[gt]} {v}, ptr {fc.global_cell(idx)}, {_CTX_TBAA}")


def _address(fc, addr: str, offset: int, size: int) -> str:
    """Bounds-check an access of ``size`` bytes at ``addr + offset``; return the pointer.
    spec 4.4.7: the effective address is computed without wrapping (33 bits fit in i64)."""
    mem, base = fc.mem()
    ea, end, sz, ok, p = (fc.tmp() for _ in range(5))
    fc.emit(f"{ea}.z = zext i32 {addr} to i64")
    fc.emit(f"{ea} = add i64 {ea}.z, {offset}")
    fc.emit(f"{end} = add i64 {ea}, {size}")
    fc.emit(f"{sz}.p = getelementptr i64, ptr {mem}, i64 1")
    fc.emit(f"{sz} = load i64, ptr {sz}.p, {_CTX_TBAA}")
    fc.emit(f"{ok} = icmp ugt i64 {end}, {sz}")
    fc.trap_if(ok, TC.MEMORY_OUT_OF_BOUNDS)
    fc.emit(f"{p} = getelementptr i8, ptr {base}, i64 {ea}")
    return p


def _load(fc, ins):
    name = ins[0].name
    irt, size, ext = _LOADS[name]
    rt = name.split(".")[0]
    p = _address(fc, fc.pop(), ins[2], size)
    v = fc.tmp()
    fc.emit(f"{v} = load {irt}, ptr {p}, align 1, {_MEM_TBAA}")
    if ext:
        w = fc.tmp()
        fc.emit(f"{w} = {ext} {irt} {v} to {IR_TYPE[rt]}")
        v = w
    fc.push(rt, v)


def _store(fc, ins):
    name = ins[0].name
    irt, size = _STORES[name]
    t, v = fc.stack.pop()
    p = _address(fc, fc.pop(), ins[2], size)
    if irt != IR_TYPE[t]:
        w = fc.tmp()
        fc.emit(f"{w} = trunc {IR_TYPE[t]} {v} to {irt}")
        v = w
    fc.emit(f"store {irt} {v}, ptr {p}, align 1, {_MEM_TBAA}")


def _memory_size(fc, ins):
    mem, _ = fc.mem()
    sz, pages, r = fc.tmp(), fc.tmp(), fc.tmp()
    fc.emit(f"{sz}.p = getelementptr i64, ptr {mem}, i64 1")
    fc.emit(f"{sz} = load i64, ptr {sz}.p, {_CTX_TBAA}")
    fc.emit(f"{pages} = lshr i64 {sz}, 16")
    fc.emit(f"{r} = trunc i64 {pages} to i32")
    fc.push("i32", r)


def _memory_grow(fc, ins):
    (v,) = fc.callback(CB_MEMORY_GROW, 0, [fc.stack.pop()], ["i32"])
    fc.push("i32", v)


def _range_check(fc, start: str, n64: str, limit: str, code) -> str:
    s64, end, bad = fc.tmp(), fc.tmp(), fc.tmp()
    fc.emit(f"{s64} = zext i32 {start} to i64")
    fc.emit(f"{end} = add i64 {s64}, {n64}")
    fc.emit(f"{bad} = icmp ugt i64 {end}, {limit}")
    fc.trap_if(bad, code)
    return s64


def _memory_fill(fc, ins):
    # spec 4.4.8 memory.fill: the whole range is checked first; n = 0 at the end is fine.
    n, val, d = fc.pop(), fc.pop(), fc.pop()
    mem, base = fc.mem()
    sz, n64, b, p = fc.tmp(), fc.tmp(), fc.tmp(), fc.tmp()
    fc.emit(f"{sz}.p = getelementptr i64, ptr {mem}, i64 1")
    fc.emit(f"{sz} = load i64, ptr {sz}.p, {_CTX_TBAA}")
    fc.emit(f"{n64} = zext i32 {n} to i64")
    d64 = _range_check(fc, d, n64, sz, TC.MEMORY_OUT_OF_BOUNDS)
    fc.emit(f"{b} = trunc i32 {val} to i8")
    fc.emit(f"{p} = getelementptr i8, ptr {base}, i64 {d64}")
    fc.emit(f"call void @llvm.memset.p0.i64(ptr align 1 {p}, i8 {b}, i64 {n64}, i1 false), {_MEM_TBAA}")


def _memory_copy(fc, ins):
    n, s, d = fc.pop(), fc.pop(), fc.pop()
    mem, base = fc.mem()
    sz, n64, pd, ps = fc.tmp(), fc.tmp(), fc.tmp(), fc.tmp()
    fc.emit(f"{sz}.p = getelementptr i64, ptr {mem}, i64 1")
    fc.emit(f"{sz} = load i64, ptr {sz}.p, {_CTX_TBAA}")
    fc.emit(f"{n64} = zext i32 {n} to i64")
    d64 = _range_check(fc, d, n64, sz, TC.MEMORY_OUT_OF_BOUNDS)
    s64 = _range_check(fc, s, n64, sz, TC.MEMORY_OUT_OF_BOUNDS)
    fc.emit(f"{pd} = getelementptr i8, ptr {base}, i64 {d64}")
    fc.emit(f"{ps} = getelementptr i8, ptr {base}, i64 {s64}")
    fc.emit(f"call void @llvm.memmove.p0.p0.i64(ptr align 1 {pd}, ptr align 1 {ps}, i64 {n64}, "
            f"i1 false), {_MEM_TBAA}")


def _memory_init(fc, ins):
    args = fc.popn(3)
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


def _table_size(fc, ins):
    (v,) = fc.callback(CB_TABLE_SIZE, ins[1], [], ["i32"])
    fc.push("i32", v)


def _table_grow(fc, ins):
    (v,) = fc.callback(CB_TABLE_GROW, ins[1], fc.popn(2), ["i32"])
    fc.push("i32", v)


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
    name = ins[0].name
    t = name.split(".")[0]
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


_DISPATCH = {
    "unreachable": _unreachable, "nop": _nop, "block": _block, "loop": _loop, "if": _if,
    "else": _else, "end": _end, "br": _br, "br_if": _br_if, "br_table": _br_table,
    "return": _return, "call": _call, "call_indirect": _call_indirect, "drop": _drop,
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
    _DISPATCH[_n] = _load
for _n in _STORES:
    _DISPATCH[_n] = _store


def _generic(name: str):
    """The handler of a numeric instruction, made from its name, or None."""
    t, _, op = name.partition(".")
    if t in ("i32", "i64"):
        h = _int_handler(t, op)
    elif t in ("f32", "f64"):
        h = _float_handler(t, op)
    else:
        return None
    if h is not None:
        _DISPATCH[name] = h
    return h


def _binop(fc, tmpl):
    b = fc.pop()
    a = fc.pop()
    r = fc.tmp()
    fc.emit(tmpl.format(r=r, a=a, b=b))
    return r


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
        return _with_decl(fc_decl, lambda fc, i: fc.push(
            t, _binop(fc, f"{{r}} = call {ty} @llvm.{fn}.{ty}({ty} {{a}}, {ty} {{a}}, {ty} {{b}})")))
    if op in _ICMP:
        cmp = _ICMP[op]

        def compare(fc, i):
            c = _binop(fc, f"{{r}} = icmp {cmp} {ty} {{a}}, {{b}}")
            r = fc.tmp()
            fc.emit(f"{r} = zext i1 {c} to i32")
            fc.push("i32", r)
        return compare
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
        return _with_decl(decl, count)
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
        return _with_decl(decl, trunc_sat)
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
        return _with_decl(f"declare {ty} @{fn}({ty}, {ty})", lambda fc, i: fc.push(
            t, _quiet(fc, t, _binop(fc, f"{{r}} = call {ty} @{fn}({ty} {{a}}, {ty} {{b}})"))))
    if op in _FINTR2:
        fn = f"llvm.{_FINTR2[op]}.{sfx}"
        return _with_decl(f"declare {ty} @{fn}({ty}, {ty})", lambda fc, i: fc.push(
            t, _binop(fc, f"{{r}} = call {ty} @{fn}({ty} {{a}}, {ty} {{b}})")))
    if op in _FINTR1:
        fn = f"llvm.{_FINTR1[op]}.{sfx}"

        def unary(fc, i):
            a = fc.pop()
            r = fc.tmp()
            fc.emit(f"{r} = call {ty} @{fn}({ty} {a})")
            fc.push(t, r)
        return _with_decl(f"declare {ty} @{fn}({ty})", unary)
    if op == "neg":
        def neg(fc, i):
            a = fc.pop()
            r = fc.tmp()
            fc.emit(f"{r} = fneg {ty} {a}")
            fc.push(t, r)
        return neg
    if op in _FCMP:
        cmp = _FCMP[op]

        def compare(fc, i):
            c = _binop(fc, f"{{r}} = fcmp {cmp} {ty} {{a}}, {{b}}")
            r = fc.tmp()
            fc.emit(f"{r} = zext i1 {c} to i32")
            fc.push("i32", r)
        return compare
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


_DECLS: set = set()


def _with_decl(decl: str, handler):
    _DECLS.add(decl)
    return handler


_PRELUDE = """\
declare i32 @_setjmp(ptr) returns_twice
declare void @longjmp(ptr, i32) noreturn nounwind
declare ptr @llvm.stacksave.p0()
declare void @llvm.memset.p0.i64(ptr, i8, i64, i1)
declare void @llvm.memmove.p0.p0.i64(ptr, ptr, i64, i1)

define internal void @wf_trap(ptr %vm, i32 %code) noinline noreturn cold nounwind {
  %shp = getelementptr i64, ptr %vm, i64 SHADOW
  %sh = load ptr, ptr %shp
  %top = load i64, ptr %sh
  %tp = getelementptr i64, ptr %vm, i64 TRAP_TOP
  store i64 %top, ptr %tp
  %bp = getelementptr i64, ptr %vm, i64 JMPBUF
  %buf = load ptr, ptr %bp
  call void @longjmp(ptr %buf, i32 %code)
  unreachable
}
""".replace("TRAP_TOP", str(TRAP_TOP)).replace("JMPBUF", str(JMPBUF)).replace("SHADOW", str(SHADOW))

_EPILOGUE = """\
attributes #0 = { nounwind }
attributes #1 = { nounwind optnone noinline }
!0 = !{!"wasmforge"}
!1 = !{!"linear memory", !0, i64 0}
!2 = !{!1, !1, i64 0}
!3 = !{!"vmctx", !0, i64 0}
!4 = !{!3, !3, i64 0}
!5 = !{!"branch_weights", i32 1, i32 2000}
!6 = !{}
"""


def entry_trampoline(k: int, ft) -> str:
    """``i32 @wf_entry<k>(vm, fn, args, results)`` for functions of type ``ft``.

    The previous ``jmp_buf``, stack use and shadow stack height are kept in volatile stack slots so that they
    survive the ``longjmp`` (C11 7.13.2.1: non-volatile locals changed after setjmp are
    indeterminate; these are written before it, but volatile makes that explicit)."""
    lines = [
        f"define i32 @wf_entry{k}(ptr %vm, ptr %fn, ptr %args, ptr %res) noinline {{",
        "entry:",
        "  %buf = alloca [64 x i64], align 16",
        "  %saved = alloca [3 x i64], align 8",
        f"  %bp = getelementptr i64, ptr %vm, i64 {JMPBUF}",
        f"  %dp = getelementptr i64, ptr %vm, i64 {DEPTH}",
        "  %prev = load i64, ptr %bp",
        "  %depth = load i64, ptr %dp",
        # A SIGINT handled while Python code ran must not stop this call (llvm/sigint.py).
        f"  %icp = getelementptr i64, ptr %vm, i64 {INTERRUPT}",
        "  %ic = load ptr, ptr %icp",
        "  store atomic i64 0, ptr %ic monotonic, align 8",
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
    if ft.results:
        lines.append(f"  %rv = call fastcc {rt} %fn(ptr %vm{argtext})")
    else:
        lines.append(f"  call fastcc void %fn(ptr %vm{argtext})")
    offsets, _ = slot_offsets(ft.results)
    for j, (t, k) in enumerate(zip(ft.results, offsets)):
        v = "%rv"
        if len(ft.results) > 1:
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


def lazy_thunk(i: int, j: int, ft, name: str = "f") -> str:
    """``@f<i>`` for a batch that does not hold function ``i`` (lazy compilation, see
    :mod:`wasmforge.llvm.compiler`): it calls the function through slot ``j`` (its index in
    ``module.funcs``) of the module's function table (``vm[LAZY]``), first asking the
    instance's callback (``CB_COMPILE``) to compile the function's batch when the slot is
    still null.  ``name="t"`` makes ``@t<i>``, what baseline code calls (the table then holds
    the baseline code's own functions until the optimised ones replace them)."""
    params = ", ".join(f"{IR_TYPE[t]} %p{k}" for k, t in enumerate(ft.params))
    argtext = "".join(f", {IR_TYPE[t]} %p{k}" for k, t in enumerate(ft.params))
    rt = ret_type(ft.results)
    call = f"call fastcc {rt} %fn(ptr %vm{argtext})"
    return "\n".join([
        f"define internal fastcc {rt} @{name}{i}(ptr %vm{', ' if params else ''}{params}) #0 {{",
        "entry:",
        "  %io = alloca [1 x i64], align 8",
        f"  %tp = getelementptr i64, ptr %vm, i64 {LAZY}",
        f"  %tab = load ptr, ptr %tp, {_CTX_TBAA}, !invariant.load !6",
        f"  %slot = getelementptr ptr, ptr %tab, i64 {j}",
        f"  %fn0 = load ptr, ptr %slot, {_CTX_TBAA}",
        "  %missing = icmp eq ptr %fn0, null",
        "  br i1 %missing, label %compile, label %go, !prof !5",
        "compile:",
        f"  %cbp = getelementptr i64, ptr %vm, i64 {CALLBACK}",
        f"  %cb = load ptr, ptr %cbp, {_CTX_TBAA}",
        f"  %rc = call i32 %cb(ptr %vm, i32 {CB_COMPILE}, i32 {i}, ptr %io)",
        "  %bad = icmp ne i32 %rc, 1",
        "  br i1 %bad, label %trap, label %go",
        "trap:",
        f"  call void @wf_trap(ptr %vm, i32 {TRAP_HOST})",
        "  unreachable",
        "go:",
        f"  %fn = load ptr, ptr %slot, {_CTX_TBAA}",
        f"  {'%r = ' if ft.results else ''}{call}",
        f"  ret {rt} %r" if ft.results else "  ret void",
        "}",
        "",
    ])


def callees(func, nimported: int) -> set:
    """The defined functions ``func`` calls directly (indexes in the function index space)."""
    out = set()
    for ins in func.iter_body():
        if ins[0].name == "call" and ins[1] >= nimported:
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
        self.nimported = module.num_imported(FUNC)
        self.signatures: list = []      # distinct FuncTypes of defined functions, entry order
        self.pathological: set = set()  # defined functions found beyond NEST_LIMIT/BLOCK_LIMIT
        self.pathological_ir: dict = {} # their IR, made by compile() for compile_batch()
        self.entry_of: list = []        # per defined function: index into signatures
        self.through_table = False      # calls go through @t<i> thunks (baseline code)
        self.called: set = set()        # the functions those calls reach
        sig_index: dict = {}
        for j in range(len(module.funcs)):
            ft = self.func_types[self.nimported + j]
            k = sig_index.get(ft)
            if k is None:
                k = sig_index[ft] = len(self.signatures)
                self.signatures.append(ft)
            self.entry_of.append(k)

    def compile(self, progress=None, through_table: bool = False) -> str:
        """The IR of the whole module: every function, the entry trampolines and
        ``@wf_funcs``.  ``progress(n)`` is called after every ``n`` functions lowered.
        ``through_table`` (baseline code, llvm/compiler.py): direct calls go through the
        module's function table (``vm[LAZY]``, :func:`lazy_thunk` named ``@t<i>``)."""
        parts = [_PRELUDE]
        self.through_table, self.called = through_table, set()
        try:
            for j, f in enumerate(self.module.funcs):
                i = self.nimported + j
                text = FunctionCompiler(self, i, f, self.func_types[i]).compile()
                if j in self.pathological and not through_table:
                    self.pathological_ir[j] = text  # compiled apart next (llvm/compiler.py)
                parts.append(text)
                if progress is not None and j % 256 == 255:
                    progress(256)
        finally:
            self.through_table = False
        for i in sorted(self.called):
            parts.append(lazy_thunk(i, i - self.nimported, self.func_types[i], "t"))
        for k, ft in enumerate(self.signatures):
            parts.append(entry_trampoline(k, ft))
        n = len(self.module.funcs)
        refs = ", ".join(f"ptr @f{self.nimported + j}" for j in range(n))
        parts.append(f"@wf_funcs = constant [{n} x ptr] [{refs}]\n")
        parts.extend(sorted(_DECLS))
        parts.append(_EPILOGUE)
        return "\n".join(parts)

    def compile_entries(self) -> str:
        """The IR of the entry trampolines alone (``@wf_entry<k>``, one per signature)."""
        parts = [_PRELUDE]
        parts.extend(entry_trampoline(k, ft) for k, ft in enumerate(self.signatures))
        parts.append(_EPILOGUE)
        return "\n".join(parts)

    def compile_batch(self, batch: list, calls: dict) -> str:
        """The IR of the defined functions ``batch`` (indexes into ``module.funcs``), with
        ``@wf_funcs`` listing their addresses in ``batch`` order; calls to functions outside
        the batch go through :func:`lazy_thunk`.  ``calls[j]`` is :func:`callees` of ``j``."""
        parts = [_PRELUDE]
        inside = set(batch)
        outside = set()
        for j in batch:
            i = self.nimported + j
            text = self.pathological_ir.pop(j, None)
            if text is None:
                text = FunctionCompiler(self, i, self.module.funcs[j], self.func_types[i]).compile()
            parts.append(text)
            outside.update(c for c in calls[j] if c - self.nimported not in inside)
        for i in sorted(outside):
            parts.append(lazy_thunk(i, i - self.nimported, self.func_types[i]))
        refs = ", ".join(f"ptr @f{self.nimported + j}" for j in batch)
        parts.append(f"@wf_funcs = constant [{len(batch)} x ptr] [{refs}]\n")
        parts.extend(sorted(_DECLS))
        parts.append(_EPILOGUE)
        return "\n".join(parts)


# The SIMD handlers register themselves in _DISPATCH.
from . import simd  # noqa: E402,F401
