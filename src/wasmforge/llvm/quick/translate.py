"""One pass over each function body, straight to x86-64 machine code.

The operand stack is resolved at compile time: each entry is a constant, a local (read when
used), a value in a register, or a value in the entry's *canonical slot* (a frame slot per
stack position), so an instruction reads its operands as immediates, registers or memory
operands and puts its result in a free register (its slot when none is free).  At every
control-flow merge (block, loop and if entries, branches) and before every call the entries
are spilled to their canonical slots, so the code at a label never depends on the path taken
and no value lives in a register a callee may change.

Registers (see :meth:`FunctionTranslator.allocate`): ``r15`` holds the vmctx, ``r14`` memory
0's base, ``r13`` its ``MemBlock``, ``rbx`` the result pointer of a function with more than
``prelude.REG_RESULTS`` results.  Locals live in registers by their uses weighted by loop
depth: the two busiest integer locals in ``r12``/``rbx`` (callee-saved), the next ones in
``r8``-``r11`` and the busiest floating-point ones in ``xmm8``-``xmm15`` — caller-saved, so
stored to their frame slots before each call and loaded after it, which is why a function
gets them only where their uses outweigh that.  Operand-stack values use ``rsi``, ``rdi``
and the caller-saved registers no local took, ``xmm2``-``xmm7`` and the free ``xmm8``+;
``rax``/``rcx``/``rdx`` and ``xmm0``/``xmm1`` are the instructions' scratch registers.

Frame of a function (``rbp``-based)::

    [rbp + 16 ...]      incoming stack arguments
    [rbp + 8]           return address
    [rbp]               saved rbp, then saved r15, r14, r13, r12, rbx
    [rbp - 48 - 8k]     local k (a local in a register: its place across calls)
    io area             u64 slots of callbacks, result buffers of calls
    stack slots         canonical slot of operand-stack position p
    [rsp ...]           outgoing stack arguments
"""

from __future__ import annotations

from ...errors import TrapCode as TC
from ...numerics.bits import f32_to_bits, f64_to_bits
from ...opcodes import BY_NAME, SELECT_T
from ...runtime.metering import frame_bytes
from ..layout import (CALLBACK, CB_CALL, CB_CALL_INDIRECT, CB_DATA_DROP, CB_ELEM_DROP,
                      CB_GLOBAL_GET, CB_GLOBAL_SET, CB_MEMORY_GROW, CB_MEMORY_INIT, CB_TABLE_COPY,
                      CB_TABLE_FILL, CB_TABLE_GET, CB_TABLE_GROW, CB_TABLE_INIT, CB_TABLE_SET,
                      CB_TABLE_SIZE, CB_CALL_LINK, CB_LINKED, CB_XTRAP, DEPTH, DEPTH_MAX, GLOBALS, IMPORT_SLOTS, IMPORTS,
                      INTERRUPT, IR_TYPE, LAZY, MEM, SHADOW, SIGS, STACK_MIN, TABLES, TRAP_ARG,
                      TRAP_HOST, TRAP_NUM, TRAP_SIGINT, cross_cells, native_signature)
from ..ops import _TRUNC_BOUNDS
from ..prelude import REG_RESULTS
from .scope import Refused
from .x64 import (A, AE, B, BE, E, G, GE, L, LE, NE, NP, P, R8, R9, R10, R11, R12, R13, R14, R15, RAX,
                  RBP, RBX, RCX, RDI, RDX, RSI, RSP, S)


INT_ARGS = (RSI, RDX, RCX, R8, R9)          # after the vmctx in rdi
FLOAT = frozenset(("f32", "f64"))
VALUE_TYPES = frozenset(("i32", "i64", "f32", "f64", "funcref", "externref"))
WIDE = {"i32": 0, "f32": 0, "i64": 1, "f64": 1, "funcref": 1, "externref": 1}
SIZE = {"i32": 4, "f32": 4, "i64": 8, "f64": 8, "funcref": 8, "externref": 8}

# Entries of the compile-time operand stack: (kind, type, value).  FLAGS: a comparison's
# result still in the flags (value: the condition code of "true"), made only when the next
# instruction is a br_if or an if, which branches on it at once (a fused compare + branch).
# REG: a value in a register (value: its number, XMM + n for xmm<n>); an integer value is
# always in a general register, a floating-point one in an XMM register.
SLOT, CONST, LOCAL, FLAGS, REG = 0, 1, 2, 3, 4
XMM = 16
# Caller-saved registers no instruction uses as a scratch except while it calls (rsi, rdi
# and r11 set calls up, r8/r9 pass arguments): the first four may hold locals, the others
# (and those no local took) operand-stack values.  xmm0/xmm1 are scratch, xmm0-xmm7 pass
# arguments.
LOCAL_GPRS = (R8, R9, R10, R11)
STACK_GPRS = (RSI, RDI)
LOCAL_XMMS = tuple(XMM + n for n in range(8, 16))
STACK_XMMS = tuple(XMM + n for n in range(2, 8))
# Instructions that call out (a function, the instance's callback or the C library): every
# caller-saved register is lost across them.
_CALLING = frozenset(("call", "call_indirect", "memory.grow", "memory.fill", "memory.copy",
                      "memory.init", "data.drop", "table.get", "table.set", "table.size",
                      "table.grow", "table.fill", "table.copy", "table.init", "elem.drop"))
_REFS = frozenset(("funcref", "externref"))
_FUSE = frozenset(("br_if", "if"))
_GLOBAL_OPS = frozenset(("global.get", "global.set"))
_CALLS = frozenset(("call", "call_indirect"))
_LOCAL_OPS = frozenset(("local.get", "local.set", "local.tee"))
# Callee-saved registers a function saves after rbp (r12 and rbx may hold locals).
SAVED = (R15, R14, R13, R12, RBX)


def results_layout(results) -> list:
    """Byte offsets of ``results`` in the literal struct LLVM lays out (natural alignment)."""
    out, off = [], 0
    for t in results:
        n = SIZE[t]
        off = (off + n - 1) // n * n
        out.append(off)
        off += n
    return out


def assign_args(types, start: int = 0) -> tuple:
    """The place of each argument of ``types``: ``("r", reg)`` for an integer register,
    ``("x", n)`` for xmm<n>, ``("s", k)`` for stack slot k; and the number of stack slots.
    ``start``: integer registers already taken after rdi (a result pointer)."""
    ni, nf, ns = start, 0, 0
    out = []
    for t in types:
        if t in FLOAT:
            if nf < 8:
                out.append(("x", nf))
                nf += 1
                continue
        elif ni < len(INT_ARGS):
            out.append(("r", INT_ARGS[ni]))
            ni += 1
            continue
        out.append(("s", ns))
        ns += 1
    return out, ns


def assign_results(results) -> list:
    """The register of each result (at most REG_RESULTS): integers in rax, rdx; floats in
    xmm0, xmm1 (each class counted apart, as LLVM returns a literal struct)."""
    ni = nf = 0
    out = []
    for t in results:
        if t in FLOAT:
            out.append(("x", nf))
            nf += 1
        else:
            out.append(("r", (RAX, RDX)[ni]))
            ni += 1
    return out


class Label:
    __slots__ = ("pos", "refs")

    def __init__(self):
        self.pos = -1
        self.refs = []


class Frame:
    __slots__ = ("kind", "params", "results", "height", "label", "end", "else_label",
                 "reached", "has_else")

    def __init__(self, kind, params, results, height):
        self.kind = kind
        self.params = params
        self.results = results
        self.height = height
        self.label = None
        self.end = None
        self.else_label = None
        self.reached = False
        self.has_else = False


_OPENERS = frozenset(("block", "loop", "if"))


class FunctionTranslator:
    """Translates one function into the module's code buffer."""

    def __init__(self, mt, funcidx: int, func, ftype):
        self.mt = mt
        self.a = mt.asm
        self.b = mt.asm.b
        self.funcidx = funcidx
        self.ftype = ftype
        self.local_types = list(ftype.params) + list(func.locals)
        for t in self.local_types:
            if t not in VALUE_TYPES:
                raise Refused(f"{t} locals")
        self.body = list(func.iter_body())
        nl = len(self.local_types)
        self.nl = nl
        self.io_base = -40 - 8 * (nl + mt.io_slots)
        self.allocate()
        self.stack_base = self.io_base - 8       # slot of position p: stack_base - 8p
        self.stack: list = []
        self.max_stack = 0
        self.out_slots = 0
        self.frames: list = []
        self.dead = False
        self.dead_depth = 0
        self.traps: dict = {}       # (id(code), index) -> Label of its stub
        self.stubs: list = []       # (code, index, Label) of each stub, as made
        self.index = 0
        self.ret = Label()
        self.rows: list = []
        self.all_labels: list = []
        self.skip = -1

    def allocate(self) -> None:
        """Choose the locals that live in registers and the registers left for the stack.

        A use in a loop counts 8 times one outside it (64 times two loops deep...), as does a
        call there; a local gets a caller-saved register only where its weighted uses
        outnumber the two memory accesses per weighted call that saving it costs.  The same
        pass finds the instructions that call out (caller-saved registers are lost across
        them: ``calling``), whether the function calls, and its loop headers (with the
        entry, where Ctrl-C is checked: ``heads``)."""
        uses: dict = {}
        calls = 0
        depth = 0
        weight = 1
        opened: list = []
        calling = self.calling = set()
        heads = self.heads = {0}
        self.has_calls = False
        global_types = self.mt.global_types
        for index, ins in enumerate(self.body):
            name = ins[0].name
            if name in _LOCAL_OPS:
                k = ins[1]
                uses[k] = uses.get(k, 0) + weight
            elif name in _OPENERS:
                opened.append(name)
                if name == "loop":
                    heads.add(index + 1)
                    depth += 1
                    weight = 8 ** min(depth, 4)
            elif name == "end":
                if opened and opened.pop() == "loop":
                    depth -= 1
                    weight = 8 ** min(depth, 4)
            elif name in _CALLING or (name in _GLOBAL_OPS and global_types[ins[1]].content in _REFS):
                calling.add(index)
                calls += weight
                if name in _CALLS:
                    self.has_calls = True
        by_use = sorted(uses, key=lambda k: -uses[k])
        ints = [k for k in by_use if self.local_types[k] not in FLOAT]
        floats = [k for k in by_use if self.local_types[k] in FLOAT]
        saved = [R12] if len(self.ftype.results) > REG_RESULTS else [R12, RBX]
        reg_of = dict(zip(ints, saved))
        volatile = [k for k in ints[len(saved):] if uses[k] > 2 * calls]
        volatile = list(zip(volatile, LOCAL_GPRS))
        volatile += zip([k for k in floats if uses[k] > 2 * calls], LOCAL_XMMS)
        reg_of.update(volatile)
        #: the register of each local that has one (outside an instruction that calls: all_of)
        self.reg_of = self.all_of = reg_of
        #: locals in caller-saved registers, saved around calls (reg_of without them then)
        self.volatile = volatile
        self.fixed_of = {k: r for k, r in reg_of.items() if r in saved}
        taken = set(reg_of.values())
        self.stack_gprs = STACK_GPRS + tuple(r for r in LOCAL_GPRS if r not in taken)
        self.stack_xmms = STACK_XMMS + tuple(r for r in LOCAL_XMMS if r not in taken)

    # ----- frame places -----

    def local_disp(self, k: int) -> int:
        return -48 - 8 * k

    def slot_disp(self, p: int) -> int:
        if p >= self.max_stack:
            self.max_stack = p + 1
        return self.stack_base - 8 * p

    def io_disp(self, k: int) -> int:
        return self.io_base + 8 * k

    # ----- labels and traps -----

    def bind(self, lab: Label) -> None:
        lab.pos = len(self.b)

    def jump(self, lab: Label, cc: int = -1) -> None:
        at = self.a.jmp() if cc < 0 else self.a.jcc(cc)
        lab.refs.append(at)

    def trap(self, code, cc: int = -1, index: int | None = None) -> None:
        """Jump (when ``cc``) to the stub that traps with ``code`` at the instruction."""
        if index is None:
            index = self.index
        # (by the code's identity: a TrapCode hashes in Python, and this runs at every
        # memory access)
        key = (id(code), index)
        lab = self.traps.get(key)
        if lab is None:
            lab = self.traps[key] = Label()
            self.stubs.append((code, index, lab))
        self.jump(lab, cc)

    # ----- operand stack -----

    def push_slot(self, t: str) -> int:
        """Push a value of type ``t`` that the caller stores into the returned slot's disp."""
        p = len(self.stack)
        self.stack.append((SLOT, t, 0))
        return self.slot_disp(p)

    def where(self, e) -> int | None:
        """The register holding entry ``e`` (a value or a local in a register), or None."""
        kind, _t, v = e
        if kind == REG:
            return v
        if kind == LOCAL:
            return self.reg_of.get(v)
        return None

    def fetch(self, reg: int, e, p: int, w: int | None = None) -> None:
        """Load entry ``e`` (stack position ``p``) into general register ``reg``."""
        kind, t, v = e
        if w is None:
            w = WIDE[t]
        if kind == CONST:
            self.a.imm(reg, v, w)
            return
        r = self.where(e)
        if r is None:
            self.a.load(reg, RBP, self.local_disp(v) if kind == LOCAL else self.slot_disp(p), w)
        elif r >= XMM:
            self.a.movx_to_gpr(reg, r - XMM, w)
        elif r != reg:
            self.a.mov(reg, r, w)

    def fetch_x(self, xmm: int, e, p: int) -> None:
        """Load float entry ``e`` into xmm<``xmm``>."""
        kind, t, v = e
        f64 = t == "f64"
        if kind == CONST:
            self.a.imm(RAX, v, f64)
            self.a.movx_from_gpr(xmm, RAX, f64)
            return
        r = self.where(e)
        if r is None:
            self.a.fload(xmm, RBP, self.local_disp(v) if kind == LOCAL else self.slot_disp(p), f64)
        elif r >= XMM:
            self.a.movaps(xmm, r - XMM)
        else:
            self.a.movx_from_gpr(xmm, r, f64)

    def operand(self, op: bytes, reg: int, e, p: int, w: int, pfx: bytes = b"") -> bool:
        """``op reg, <entry e>`` with e in memory or a register of its class; False when e
        is a constant (not done)."""
        kind, t, v = e
        if kind == CONST:
            return False
        r = self.where(e)
        if r is not None:
            self.a.r(op, reg, r & 15, w, pfx)
            return True
        self.a.m(op, reg, RBP, self.local_disp(v) if kind == LOCAL else self.slot_disp(p), w, pfx)
        return True

    def spill(self, p: int) -> None:
        """Put the entry at position ``p`` into its canonical slot."""
        kind, t, v = self.stack[p]
        if kind == SLOT:
            return
        d = self.slot_disp(p)
        r = self.where(self.stack[p])
        if kind == CONST:
            w = WIDE[t]
            if not w or -(1 << 31) <= (v - (1 << 64) if v >= 1 << 63 else v) < (1 << 31):
                self.a.store_imm(RBP, d, v if not w or v < 1 << 63 else v - (1 << 64), w)
            else:
                self.a.imm(RCX, v)
                self.a.store(RBP, d, RCX)
        elif r is None:
            # (rcx: a result in rax may be waiting to be stored, see put())
            self.a.load(RCX, RBP, self.local_disp(v))
            self.a.store(RBP, d, RCX)
        elif r >= XMM:
            self.a.fstore(RBP, d, r - XMM, 1)
        else:
            self.a.store(RBP, d, r)
        self.stack[p] = (SLOT, t, 0)

    def spill_all(self) -> None:
        for p in range(len(self.stack)):
            if self.stack[p][0] != SLOT:
                self.spill(p)

    def spill_regs(self) -> None:
        """Before a call: values in (caller-saved) registers to their slots."""
        for p in range(len(self.stack)):
            if self.stack[p][0] == REG:
                self.spill(p)

    def save_volatile(self) -> None:
        """Before a call: locals in caller-saved registers to their frame slots, where the
        instruction reads them (reg_of without them) until :meth:`load_volatile`."""
        for k, r in self.volatile:
            if r >= XMM:
                self.a.fstore(RBP, self.local_disp(k), r - XMM, 1)
            else:
                self.a.store(RBP, self.local_disp(k), r)
        self.reg_of = self.fixed_of

    def load_volatile(self) -> None:
        self.reg_of = self.all_of
        for k, r in self.volatile:
            if r >= XMM:
                self.a.fload(r - XMM, RBP, self.local_disp(k), 1)
            else:
                self.a.load(r, RBP, self.local_disp(k))

    def held(self) -> set:
        """The registers the operand stack's values are in."""
        return {v for kind, _t, v in self.stack if kind == REG}

    def free_reg(self, x: bool, other: int = -1) -> int | None:
        """A register for a new stack value (an XMM one when ``x``) no entry holds, not
        ``other``."""
        held = self.held()
        for r in self.stack_xmms if x else self.stack_gprs:
            if r not in held and r != other:
                return r
        return None

    def spill_local(self, k: int) -> None:
        """Before local ``k`` changes: entries that read it take its current value."""
        for p, (kind, _t, v) in enumerate(self.stack):
            if kind == LOCAL and v == k:
                self.spill(p)

    # ----- the body -----

    def translate(self) -> None:
        a, b = self.a, self.b
        mt = self.mt
        start = len(b)
        ft = self.ftype
        in_memory = len(ft.results) > REG_RESULTS
        # Prologue (the CFA rows of the unwinder follow each instruction that moves rsp).
        rows = self.rows
        rows.append((0, 8))
        a.push(RBP)
        rows.append((len(b) - start, 16))
        a.mov(RBP, RSP)
        for k, reg in enumerate(SAVED):
            a.push(reg)
            rows.append((len(b) - start, 24 + 8 * k))
        b += b"\x48\x81\xec\0\0\0\0"            # sub rsp, imm32: the frame size, patched
        frame_at = len(b) - 4
        frame_row = len(rows)
        rows.append((len(b) - start, 0))
        a.mov(R15, RDI)
        if in_memory:
            a.mov(RBX, RSI)
        if mt.has_memory:
            a.load(R13, R15, 8 * MEM)
            a.load(R14, R13, 0)
        # Parameters into their local slots, other locals zeroed.
        places, _ = assign_args(ft.params, 1 if in_memory else 0)
        reg_of = self.reg_of
        late = []
        for k, (t, (where, n)) in enumerate(zip(ft.params, places)):
            d = self.local_disp(k)
            r = reg_of.get(k)
            if where == "r":
                if r is None or r in LOCAL_GPRS:
                    # r8/r9 may still hold arguments: such locals are loaded after.
                    a.store(RBP, d, n)
                    if r is not None:
                        late.append((r, d))
                else:
                    a.mov(r, n)
            elif where == "x":
                if r is None:
                    a.fstore(RBP, d, n, 1)
                else:
                    a.movaps(r - XMM, n)
            elif r is None:
                a.load(RAX, RBP, 16 + 8 * n)
                a.store(RBP, d, RAX)
            elif r >= XMM:
                a.fload(r - XMM, RBP, 16 + 8 * n, 1)
            else:
                a.load(r, RBP, 16 + 8 * n)
        for r, d in late:
            a.load(r, RBP, d)
        if len(self.local_types) > len(ft.params):
            a.r(b"\x31", RAX, RAX)
            for k in range(len(ft.params), len(self.local_types)):
                r = reg_of.get(k)
                if r is None:
                    a.store(RBP, self.local_disp(k), RAX)
                elif r >= XMM:
                    a.r(b"\x0f\x57", r - XMM, r - XMM)         # xorps
                else:
                    a.mov(r, RAX)
        # The wasm stack budget and the native stack guard (llvm/codegen.py's checks).
        a.load(RAX, R15, 8 * DEPTH)
        a.alu_imm(0, RAX, frame_bytes(len(self.local_types)))
        a.m(b"\x3b", RAX, R15, 8 * DEPTH_MAX, 1)
        self.trap(TC.STACK_OVERFLOW, A, -1)
        a.m(b"\x3b", RSP, R15, 8 * STACK_MIN, 1)
        self.trap(TC.STACK_OVERFLOW, B, -1)
        a.store(R15, 8 * DEPTH, RAX)
        a.load(RCX, R15, 8 * SHADOW)
        a.load(RAX, RCX, 0)
        a.m(b"\xc7", 0, RCX, 8, 0, index=RAX, scale=2)
        b += self.funcidx.to_bytes(4, "little")
        a.m(b"\xff", 0, RCX, 0, 1)                # inc qword [rcx]
        top = Frame("func", (), tuple(ft.results), 0)
        top.label = top.end = self.ret
        self.frames.append(top)
        body = self.body
        # Ctrl-C (llvm/sigint.py) at loop headers, and at the entry of a function that calls.
        heads = self.heads if self.has_calls else self.heads - {0}
        calling = self.calling
        handlers = HANDLERS
        for index, ins in enumerate(body):
            if index == self.skip:
                continue            # a local.set done by the instruction before (put())
            self.index = index
            op = ins[0]
            name = op.name
            if self.dead:
                if name in _OPENERS:
                    self.dead_depth += 1
                    continue
                if name == "end" or name == "else":
                    if self.dead_depth:
                        if name == "end":
                            self.dead_depth -= 1
                        continue
                else:
                    continue
            elif index in heads:
                a.load(RAX, R15, 8 * INTERRUPT)
                a.alu_mem_imm(7, RAX, 0, 0)
                self.trap("sigint", NE)
            h = handlers.get(op)
            if h is None:
                raise Refused(f"instruction {name}")
            if index in calling:
                self.spill_regs()
                self.save_volatile()
                h(self, ins)
                self.load_volatile()
            else:
                h(self, ins)
        # The return: the results are in the slots of positions 0...
        self.bind(self.ret)
        a.alu_mem_imm(5, R15, 8 * DEPTH, frame_bytes(len(self.local_types)))
        a.load(RCX, R15, 8 * SHADOW)
        a.m(b"\xff", 1, RCX, 0, 1)                # dec qword [rcx]
        results = ft.results
        if in_memory:
            for k, (t, off) in enumerate(zip(results, results_layout(results))):
                w = WIDE[t]
                a.load(RAX, RBP, self.slot_disp(k), w)
                a.store(RBX, off, RAX, w)
        else:
            for k, (t, (where, n)) in enumerate(zip(results, assign_results(results))):
                if where == "r":
                    a.load(n, RBP, self.slot_disp(k), WIDE[t])
                else:
                    a.fload(n, RBP, self.slot_disp(k), t == "f64")
        a.lea(RSP, RBP, -8 * len(SAVED))
        for reg in reversed(SAVED):
            a.pop(reg)
        a.pop(RBP)
        mt.emit_ret(self)               # (ret, or ret imm16 under tailcc: quick/assemble.py)
        # The trap stubs: each calls @wf_trap from inside the function, so that the walk of
        # llvm/unwind.py finds this frame, and its call site names the instruction.
        for code, index, lab in self.stubs:
            self.bind(lab)
            num = TRAP_HOST if code == "host" else TRAP_SIGINT if code == "sigint" else TRAP_NUM[code]
            a.mov(RDI, R15)
            a.imm(RSI, num, 0)
            if index < 0 and code is TC.STACK_OVERFLOW:
                index = -2 - self.funcidx
            a.imm(RDX, index & 0xFFFFFFFF, 0)
            mt.piece(len(b), self.funcidx, max(index, 0))
            at = a.call_rel()
            mt.trap_calls.append(at)    # (re-pointed when moved: ModuleTranslator's join)
            a.patch(at, mt.trap_at)
        # Labels.
        for lab in self.all_labels:
            for at in lab.refs:
                a.patch(at, lab.pos)
        for lab in self.traps.values():
            for at in lab.refs:
                a.patch(at, lab.pos)
        for at in self.ret.refs:
            a.patch(at, self.ret.pos)
        size = 8 * (self.nl + mt.io_slots + self.max_stack + self.out_slots)
        # rsp 16-byte aligned at calls: the return address, rbp, SAVED and the frame.
        size += -(size + 8 * (len(SAVED) + 2)) % 16
        b[frame_at:frame_at + 4] = size.to_bytes(4, "little")
        rows[frame_row] = (rows[frame_row][0], 16 + 8 * len(SAVED) + size)
        mt.functions.append((start, len(b) - start, self.funcidx, rows))

    def label(self) -> Label:
        lab = Label()
        self.all_labels.append(lab)
        return lab

    # ----- control -----

    def blocktype(self, bt) -> tuple:
        if bt is None:
            return (), ()
        if isinstance(bt, int):
            t = self.mt.module.types[bt]
            params, results = tuple(t.params), tuple(t.results)
        else:
            params, results = (), (bt,)
        for t in params + results:
            if t not in VALUE_TYPES:
                raise Refused(f"{t} block values")
        return params, results

    def open(self, kind: str, bt) -> Frame:
        params, results = self.blocktype(bt)
        f = Frame(kind, params, results, len(self.stack) - len(params))
        f.end = self.label()
        if kind == "loop":
            f.label = self.label()
            self.bind(f.label)
        else:
            f.label = f.end
        self.frames.append(f)
        return f

    def move_values(self, f: Frame) -> None:
        """Copy the branch values for a jump to ``f`` into its slots (the stack keeps them)."""
        n = len(f.params if f.kind == "loop" else f.results)
        first = len(self.stack) - n
        for k in range(n):
            p = first + k
            e = self.stack[p]
            if e[0] == SLOT and p == f.height + k:
                continue
            self.fetch(RAX, e, p, 1)
            self.a.store(RBP, self.slot_disp(f.height + k), RAX)

    def branch(self, depth: int) -> None:
        f = self.frames[-1 - depth]
        self.move_values(f)
        if f.kind != "loop":
            f.reached = True
        self.jump(f.label)

    def go_dead(self) -> None:
        self.dead = True
        self.dead_depth = 0

    def copy(self, dst: int, src: int, w: int) -> None:
        """``dst = src``, registers of either class (XMM + n for xmm<n>)."""
        a = self.a
        if dst >= XMM:
            if src >= XMM:
                a.movaps(dst - XMM, src - XMM)
            else:
                a.movx_from_gpr(dst - XMM, src, w)
        elif src >= XMM:
            a.movx_to_gpr(dst, src - XMM, w)
        elif dst != src:
            a.mov(dst, src, w)

    def store_reg(self, d: int, r: int, t: str, w: int) -> None:
        """``[rbp + d] = r`` (a register of either class) for a value of type ``t``."""
        if r >= XMM:
            self.a.fstore(RBP, d, r - XMM, t == "f64")
        else:
            self.a.store(RBP, d, r, w)

    def _next_set(self):
        """The next instruction when it is ``local.set`` or ``local.tee``, else None."""
        k = self.index + 1
        if k < len(self.body):
            nxt = self.body[k]
            if nxt[0].name in ("local.set", "local.tee"):
                return nxt
        return None

    def swap_into(self, e1, e2) -> tuple:
        """The operands of a commutative instruction in the order that computes in place:
        ``x = y + x`` as ``x += y`` when the next instruction sets local x.  (Not for ``y`` in
        its slot: the callers read the second operand at the slot above the first's.)"""
        nxt = self._next_set()
        if (nxt is not None and e2[0] == LOCAL and e2[2] == nxt[1] and nxt[1] in self.reg_of
                and e1[0] != SLOT):
            return e2, e1
        return e1, e2

    def dest(self, x: bool, e1=None, e2=None) -> int:
        """The register an instruction computes its result in (XMM + n for xmm<n>; ``x``: a
        float result), so that :meth:`put` moves nothing: the register of the local the
        next instruction sets (unless operand ``e2`` reads that local), else the register
        of ``e1`` (its first operand, popped) when that is a stack value in one, else a free
        register (not ``e2``'s), else rax / xmm0."""
        nxt = self._next_set()
        if nxt is not None:
            r = self.reg_of.get(nxt[1])
            if r is not None and (r >= XMM) == x and not (e2 is not None and e2[0] == LOCAL and e2[2] == nxt[1]):
                self.spill_local(nxt[1])
                return r
        if e1 is not None and e1[0] == REG and (e1[2] >= XMM) == x:
            return e1[2]
        r = self.free_reg(x, e2[2] if e2 is not None and e2[0] == REG else -1)
        if r is None:
            return XMM if x else RAX
        return r

    def put(self, p: int, t: str, reg: int, w: int) -> None:
        """The result of the instruction, in register ``reg`` (XMM + n for xmm<n>; a float's
        bits may be in a general register), becomes the entry at position ``p`` (the new
        top): in a free register (``reg`` itself when it is one: see :meth:`dest`), else its
        slot; into local k directly when the next instruction is ``local.set k`` or
        ``local.tee k`` (which is then skipped)."""
        del self.stack[p:]
        nxt = self._next_set()
        if nxt is not None:
            k = nxt[1]
            self.spill_local(k)
            r = self.reg_of.get(k)
            if r is None:
                self.store_reg(self.local_disp(k), reg, t, w)
            elif r != reg:
                self.copy(r, reg, w)
            self.skip = self.index + 1
            if nxt[0].name == "local.tee":
                self.stack.append((LOCAL, t, k))
            return
        x = t in FLOAT
        if reg in (self.stack_xmms if x else self.stack_gprs) and reg not in self.held():
            self.stack.append((REG, t, reg))
            return
        r = self.free_reg(x)
        if r is None:
            self.store_reg(self.slot_disp(p), reg, t, w)
            self.stack.append((SLOT, t, 0))
            return
        self.copy(r, reg, w)
        self.stack.append((REG, t, r))

    def put_x(self, p: int, t: str, xmm: int) -> None:
        """:meth:`put` for a float result in xmm<``xmm``>."""
        self.put(p, t, XMM + xmm, 1)

    def fuses(self) -> bool:
        """Whether the next instruction branches on the comparison being compiled."""
        k = self.index + 1
        return k < len(self.body) and self.body[k][0].name in _FUSE

    def cond(self, e, p: int) -> int:
        """Compare the i32 entry ``e`` with 0; the condition code of "non-zero", or
        -2 / -3 for a constant false / true."""
        if e[0] == CONST:
            return -3 if e[2] & 0xFFFFFFFF else -2
        if e[0] == FLAGS:
            return e[2]
        self.operand(b"\x83", 7, e, p, 0)
        self.b.append(0)
        return NE


def _unreachable(ft, ins):
    ft.trap(TC.UNREACHABLE_CODE_REACHED)
    ft.go_dead()


def _nop(ft, ins):
    pass


def _block(ft, ins):
    ft.spill_all()
    ft.open("block", ins[1])


def _loop(ft, ins):
    ft.spill_all()
    ft.open("loop", ins[1])


def _if(ft, ins):
    e = ft.stack.pop()
    ft.spill_all()
    f = ft.open("if", ins[1])
    f.else_label = ft.label()
    cc = ft.cond(e, len(ft.stack))
    if cc == -2:
        ft.jump(f.else_label)
    elif cc != -3:
        ft.jump(f.else_label, cc ^ 1)


def _else(ft, ins):
    f = ft.frames[-1]
    if not ft.dead:
        ft.move_values(f)
        f.reached = True
        ft.jump(f.end)
    del ft.stack[f.height:]
    for t in f.params:
        ft.stack.append((SLOT, t, 0))
    f.has_else = True
    ft.bind(f.else_label)
    ft.dead = False


def _end(ft, ins):
    f = ft.frames.pop()
    if f.kind == "loop":
        n = len(f.results)
        if not ft.dead:
            for p in range(len(ft.stack) - n, len(ft.stack)):
                ft.spill(p)
        ft.bind(f.end)
        return
    if not ft.dead:
        ft.move_values(f)
        f.reached = True
    if f.kind == "if" and not f.has_else:
        # An `if` without `else` passes its params (== results) on, already in place.
        ft.bind(f.else_label)
        f.reached = True
    del ft.stack[f.height:]
    if f.kind == "func":
        if not ft.dead:
            for k, t in enumerate(f.results):
                ft.stack.append((SLOT, t, 0))
        ft.dead = True
        return
    ft.bind(f.end)
    if f.reached:
        ft.dead = False
        for t in f.results:
            ft.stack.append((SLOT, t, 0))
    else:
        ft.go_dead()


def _br(ft, ins):
    ft.branch(ins[1])
    ft.go_dead()


def _br_if(ft, ins):
    e = ft.stack.pop()
    f = ft.frames[-1 - ins[1]]
    n = len(f.params if f.kind == "loop" else f.results)
    first = len(ft.stack) - n
    for p in range(first, len(ft.stack)):
        ft.spill(p)
    cc = ft.cond(e, len(ft.stack))
    if cc == -2:
        return
    if cc == -3:
        ft.branch(ins[1])
        ft.go_dead()
        return
    if f.kind != "loop":
        f.reached = True
    if first == f.height:
        ft.jump(f.label, cc)
        return
    skip = Label()
    ft.jump(skip, cc ^ 1)
    ft.branch(ins[1])
    ft.bind(skip)
    for at in skip.refs:
        ft.a.patch(at, skip.pos)


def _br_table(ft, ins):
    labels, default = ins[1], ins[2]
    e = ft.stack.pop()
    p = len(ft.stack)
    a, b = ft.a, ft.b
    f = ft.frames[-1 - default]
    n = len(f.params if f.kind == "loop" else f.results)
    for q in range(len(ft.stack) - n, len(ft.stack)):
        ft.spill(q)
    ft.fetch(RAX, e, p, 0)
    stubs = {}
    for d in set(labels) | {default}:
        stubs[d] = Label()
    a.alu_imm(7, RAX, len(labels), 0)
    ft.jump(stubs[default], AE)
    if labels:
        # A table of rel32 offsets from the table's start, after the code of this jump.
        a.m(b"\x8d", RCX, RBP, 0)       # placeholder for lea rcx, [rip + table]
        del b[-3:]
        b += b"\x48\x8d\x0d\0\0\0\0"
        lea_at = len(b) - 4
        a.m(b"\x63", RAX, RCX, 0, 1, index=RAX, scale=2)    # movsxd rax, [rcx + rax*4]
        a.r(b"\x01", RCX, RAX, 1)                              # add rax, rcx
        b += b"\xff\xe0"                                       # jmp rax
        table = len(b)
        a.patch(lea_at, table)
        b += bytes(4 * len(labels))
    for d, lab in stubs.items():
        ft.bind(lab)
        ft.branch(d)
    if labels:
        for k, d in enumerate(labels):
            b[table + 4 * k:table + 4 * k + 4] = (stubs[d].pos - table).to_bytes(4, "little", signed=True)
    for lab in stubs.values():
        for at in lab.refs:
            a.patch(at, lab.pos)
    ft.go_dead()


def _return(ft, ins):
    ft.branch(len(ft.frames) - 1)
    ft.go_dead()


def _drop(ft, ins):
    ft.stack.pop()


def _select(ft, ins):
    c = ft.stack.pop()
    e2 = ft.stack.pop()
    p = len(ft.stack) - 1
    e1 = ft.stack[p]
    a = ft.a
    if c[0] == CONST:
        if not c[2] & 0xFFFFFFFF:
            ft.fetch(RAX, e2, p + 1, 1)
            a.store(RBP, ft.slot_disp(p), RAX)
            ft.stack[p] = (SLOT, e1[1], 0)
        return
    ft.fetch(RAX, e1, p, 1)
    ft.fetch(RCX, e2, p + 1, 1)
    ft.cond(c, p + 2)                                          # (moves keep the flags)
    a.r(b"\x0f\x44", RAX, RCX, 1)                              # cmove rax, rcx
    ft.put(p, e1[1], RAX, 1)


def _local_get(ft, ins):
    k = ins[1]
    ft.stack.append((LOCAL, ft.local_types[k], k))


def _set(ft, k: int, e, p: int) -> None:
    kind, t, v = e
    r = ft.reg_of.get(k)
    if r is not None:
        if not (kind == LOCAL and v == k):
            if r >= XMM:
                ft.fetch_x(r - XMM, e, p)
            else:
                ft.fetch(r, e, p, 1)
        return
    d = ft.local_disp(k)
    if kind == CONST:
        w = WIDE[t]
        sv = v - (1 << 64) if v >= 1 << 63 else v
        if not w or -(1 << 31) <= sv < 1 << 31:
            ft.a.store_imm(RBP, d, sv if w else v, w)
            return
    if kind == LOCAL and v == k:
        return
    r = ft.where(e)
    if r is None:
        ft.fetch(RAX, e, p, 1)
        r = RAX
    if r >= XMM:
        ft.a.fstore(RBP, d, r - XMM, 1)
    else:
        ft.a.store(RBP, d, r)


def _local_set(ft, ins):
    k = ins[1]
    e = ft.stack.pop()
    ft.spill_local(k)
    _set(ft, k, e, len(ft.stack))


def _local_tee(ft, ins):
    k = ins[1]
    e = ft.stack.pop()
    ft.spill_local(k)
    p = len(ft.stack)
    _set(ft, k, e, p)
    ft.stack.append(e)


def _global_cell(ft, idx: int) -> None:
    ft.a.load(RCX, R15, 8 * GLOBALS)
    ft.a.load(RCX, RCX, 8 * idx)


def _global_get(ft, ins):
    idx = ins[1]
    t = ft.mt.global_types[idx].content
    if t in ("funcref", "externref"):
        ft.callback(CB_GLOBAL_GET, idx, 0, [t])
        return
    _global_cell(ft, idx)
    w = WIDE[t]
    ft.a.load(RAX, RCX, 0, w)
    ft.put(len(ft.stack), t, RAX, w)


def _global_set(ft, ins):
    idx = ins[1]
    t = ft.mt.global_types[idx].content
    if t in ("funcref", "externref"):
        ft.callback(CB_GLOBAL_SET, idx, 1, [])
        return
    e = ft.stack.pop()
    w = WIDE[t]
    ft.fetch(RAX, e, len(ft.stack), w)
    _global_cell(ft, idx)
    ft.a.store(RCX, 0, RAX, w)


# ----- memory -----

_LOADS = {
    # name -> (opcode bytes, REX.W, size)
    "i32.load": (b"\x8b", 0, 4), "i64.load": (b"\x8b", 1, 8),
    "f32.load": (b"\x8b", 0, 4), "f64.load": (b"\x8b", 1, 8),
    "i32.load8_s": (b"\x0f\xbe", 0, 1), "i32.load8_u": (b"\x0f\xb6", 0, 1),
    "i32.load16_s": (b"\x0f\xbf", 0, 2), "i32.load16_u": (b"\x0f\xb7", 0, 2),
    "i64.load8_s": (b"\x0f\xbe", 1, 1), "i64.load8_u": (b"\x0f\xb6", 0, 1),
    "i64.load16_s": (b"\x0f\xbf", 1, 2), "i64.load16_u": (b"\x0f\xb7", 0, 2),
    "i64.load32_s": (b"\x63", 1, 4), "i64.load32_u": (b"\x8b", 0, 4),
}
_STORES = {
    # name -> (opcode bytes, REX.W, prefix, size)
    "i32.store": (b"\x89", 0, b"", 4), "i64.store": (b"\x89", 1, b"", 8),
    "f32.store": (b"\x89", 0, b"", 4), "f64.store": (b"\x89", 1, b"", 8),
    "i32.store8": (b"\x88", 0, b"", 1), "i32.store16": (b"\x89", 0, b"\x66", 2),
    "i64.store8": (b"\x88", 0, b"", 1), "i64.store16": (b"\x89", 0, b"\x66", 2),
    "i64.store32": (b"\x89", 0, b"", 4),
}


def _address(ft, e, p: int, offset: int, size: int) -> tuple:
    """Bounds-check an access of ``size`` bytes at entry ``e`` + ``offset``; return the
    memory operand ``(index register or -1, disp)`` relative to r14 (the base)."""
    a = ft.a
    end = offset + size
    if e[0] == CONST:
        ea = (e[2] & 0xFFFFFFFF) + offset
        if ea + size < 1 << 31:
            a.alu_mem_imm(7, R13, 8, ea + size)      # cmp [memblock.size], end
            ft.trap(TC.MEMORY_OUT_OF_BOUNDS, B)
            return -1, ea
    ft.fetch(RAX, e, p, 0)
    if end < 1 << 31:
        a.lea(RCX, RAX, end)
    else:
        a.imm(RCX, end)
        a.r(b"\x01", RAX, RCX, 1)
    a.m(b"\x3b", RCX, R13, 8, 1)
    ft.trap(TC.MEMORY_OUT_OF_BOUNDS, A)
    if offset < 1 << 31:
        return RAX, offset
    a.imm(RCX, offset)
    a.r(b"\x01", RCX, RAX, 1)
    return RAX, 0


def _load(ft, ins):
    op, w, size = _LOADS[ins[0].name]
    e = ft.stack.pop()
    p = len(ft.stack)
    idx, disp = _address(ft, e, p, ins[2], size)
    t = ins[0].type
    # (the address is in rax: dest() gives a register that is not)
    d = ft.dest(t in FLOAT)
    if d >= XMM:
        ft.a.m(b"\x0f\x10", d - XMM, R14, disp, 0, b"\xf2" if w else b"\xf3", index=idx)
    else:
        ft.a.m(op, d, R14, disp, w, index=idx)
    ft.put(p, t, d, WIDE[t])


def _store(ft, ins):
    op, w, pfx, size = _STORES[ins[0].name]
    v = ft.stack.pop()
    e = ft.stack.pop()
    p = len(ft.stack)
    idx, disp = _address(ft, e, p, ins[2], size)
    r = ft.where(v)
    if r is not None and r >= XMM:
        ft.a.m(b"\x0f\x11", r - XMM, R14, disp, 0, b"\xf2" if w else b"\xf3", index=idx)
        return
    ft.fetch(RDX, v, p + 1, w)
    ft.a.m(op, RDX, R14, disp, w, pfx, index=idx)


def _memory_size(ft, ins):
    a = ft.a
    a.load(RAX, R13, 8)
    b = ft.b
    b += b"\x48\xc1\xe8\x10"                    # shr rax, 16
    ft.put(len(ft.stack), "i32", RAX, 0)


def _memory_grow(ft, ins):
    ft.callback(CB_MEMORY_GROW, ins[1], 1, ["i32"])


def _memory_fill(ft, ins):
    a = ft.a
    n, val, d = ft.stack.pop(), ft.stack.pop(), ft.stack.pop()
    p = len(ft.stack)
    ft.fetch(RAX, d, p, 0)
    ft.fetch(RDX, n, p + 2, 0)
    a.lea(RCX, RAX, 0, RDX)
    a.m(b"\x3b", RCX, R13, 8, 1)
    ft.trap(TC.MEMORY_OUT_OF_BOUNDS, A)
    a.lea(RDI, R14, 0, RAX)
    ft.fetch(RSI, val, p + 1, 0)
    ft.mt.call_extern("memset")


def _memory_copy(ft, ins):
    a = ft.a
    n, s, d = ft.stack.pop(), ft.stack.pop(), ft.stack.pop()
    p = len(ft.stack)
    ft.fetch(RAX, d, p, 0)
    ft.fetch(RSI, s, p + 1, 0)
    ft.fetch(RDX, n, p + 2, 0)
    a.lea(RCX, RAX, 0, RDX)
    a.m(b"\x3b", RCX, R13, 8, 1)
    ft.trap(TC.MEMORY_OUT_OF_BOUNDS, A)
    a.lea(RCX, RSI, 0, RDX)
    a.m(b"\x3b", RCX, R13, 8, 1)
    ft.trap(TC.MEMORY_OUT_OF_BOUNDS, A)
    a.lea(RDI, R14, 0, RAX)
    a.r(b"\x01", R14, RSI, 1)                  # add rsi, r14
    ft.mt.call_extern("memmove")


def _memory_init(ft, ins):
    ft.callback(CB_MEMORY_INIT, ins[1], 3, [])


def _data_drop(ft, ins):
    ft.callback(CB_DATA_DROP, ins[1], 0, [])


def _table_get(ft, ins):
    ft.callback(CB_TABLE_GET, ins[1], 1, [ft.mt.table_types[ins[1]].element])


def _table_set(ft, ins):
    ft.callback(CB_TABLE_SET, ins[1], 2, [])


def _table_size(ft, ins):
    ft.callback(CB_TABLE_SIZE, ins[1], 0, ["i32"])


def _table_grow(ft, ins):
    ft.callback(CB_TABLE_GROW, ins[1], 2, ["i32"])


def _table_fill(ft, ins):
    ft.callback(CB_TABLE_FILL, ins[1], 3, [])


def _table_copy(ft, ins):
    ft.stack.append((CONST, "i64", ins[2]))
    ft.callback(CB_TABLE_COPY, ins[1], 4, [])


def _table_init(ft, ins):
    ft.stack.append((CONST, "i64", ins[1]))
    ft.callback(CB_TABLE_INIT, ins[2], 4, [])


def _elem_drop(ft, ins):
    ft.callback(CB_ELEM_DROP, ins[1], 0, [])


def _ref_null(ft, ins):
    ft.stack.append((CONST, "externref" if "extern" in str(ins[1]) else "funcref", 0))


def _ref_is_null(ft, ins):
    e = ft.stack.pop()
    p = len(ft.stack)
    if e[0] == CONST:
        ft.stack.append((CONST, "i32", int(e[2] == 0)))
        return
    ft.operand(b"\x83", 7, e, p, 1)
    ft.b.append(0)
    ft.a.setcc(E)
    ft.put(p, "i32", RAX, 0)


def _ref_func(ft, ins):
    ft.stack.append((CONST, "funcref", ins[1] + 1))


def _const(ft, ins):
    t = ins[0].type
    ft.stack.append((CONST, t, ins[1] & (0xFFFFFFFF if t in ("i32", "f32") else 0xFFFFFFFFFFFFFFFF)))


# ----- calls -----

def _to_io(ft, nargs: int, args=None) -> None:
    """Store the top ``nargs`` entries in io[0..] (``args``: the (entry, position) pairs to
    store instead, in that order) and pop them."""
    a = ft.a
    first = len(ft.stack) - nargs
    if args is None:
        args = [(e, first + k) for k, e in enumerate(ft.stack[first:])]
    for k, (e, p) in enumerate(args):
        ft.fetch(RAX, e, p)
        a.store(RBP, ft.io_disp(k), RAX)
    del ft.stack[first:]


def _call_callback(ft, kind: int, imm: int) -> None:
    """Call the instance's callback ``(vmctx, kind, imm, io)``; its answer is in eax."""
    a = ft.a
    a.mov(RDI, R15)
    a.imm(RSI, kind, 0)
    a.imm(RDX, imm, 0)
    a.lea(RCX, RBP, ft.io_disp(0))
    a.call_mem(R15, 8 * CALLBACK)


def _from_io(ft, results) -> None:
    """Push ``results`` read from io[0..]."""
    a = ft.a
    for k, t in enumerate(results):
        a.load(RAX, RBP, ft.io_disp(k))
        a.store(RBP, ft.push_slot(t), RAX)


def _callback(ft, kind: int, imm: int, nargs: int, results, args=None) -> None:
    """Call the instance's callback with the top ``nargs`` entries in io[0..] (``args``:
    the (entry, position) pairs to pass instead, in that order); push ``results`` read back
    from io[0..]."""
    _to_io(ft, nargs, args)
    _call_callback(ft, kind, imm)
    ft.a.alu_imm(7, RAX, 1, 0)
    ft.trap("host", NE)
    _from_io(ft, results)


FunctionTranslator.callback = _callback     # type: ignore[attr-defined]


def _import_call(ft, i: int, ftype) -> None:
    """Call imported function ``i``: natively when its import record (``vm[IMPORTS]``)
    holds another llvm instance's function, else through the callback, as LLVM's code does
    (codegen.FunctionCompiler.import_call: the contract).  The arguments go to io[0..]
    either way and the results come back there; the path of a linked record copies the
    store's cells into the callee's vmctx and back (quick code has no fuel or epochs) and
    calls the callee's entry trampoline, which returns its trap code, raised by the
    callback (``CB_XTRAP``) before this frame traps as after a failed callback.  The
    callback's path (``CB_CALL_LINK``) comes back to the native one when it has linked the
    record instead of making the call (``CB_LINKED``)."""
    if not native_signature(ftype):
        ft.callback(CB_CALL, i, len(ftype.params), ftype.results)
        return
    a = ft.a
    _to_io(ft, len(ftype.params))
    rec = 8 * IMPORT_SLOTS * i
    cells_in, cells_back = cross_cells(False, False)
    slow, join, native, relink = Label(), Label(), Label(), Label()
    a.load(R11, R15, 8 * IMPORTS)
    a.load(RAX, R11, rec)
    a.r(b"\x85", RAX, RAX, 1)                 # test rax, rax: linked?
    ft.jump(slow, E)
    ft.bind(native)                           # (r11: the records, rax: the entry)
    a.load(RDI, R11, rec + 16)                # the callee's vmctx
    a.load(RSI, R11, rec + 8)
    a.load(RSI, RSI, 0)                       # its code, from its function table
    for c in cells_in:
        a.load(RCX, R15, 8 * c)
        a.store(RDI, 8 * c, RCX)
    a.lea(RDX, RBP, ft.io_disp(0))
    a.mov(RCX, RDX)
    a.call_reg(RAX)                           # entry(vmctx, fn, io, io)
    a.load(R11, R15, 8 * IMPORTS)
    a.load(RDI, R11, rec + 16)
    for c in cells_back:
        a.load(RCX, RDI, 8 * c)
        a.store(R15, 8 * c, RCX)
    a.r(b"\x85", RAX, RAX, 0)                 # test eax, eax: 0, or the callee's trap code
    ft.jump(join, E)
    a.mov(RAX, RAX, 0)                        # (zero-extended)
    a.store(RBP, ft.io_disp(0), RAX)
    _call_callback(ft, CB_XTRAP, i)
    ft.trap("host")
    ft.bind(slow)
    _call_callback(ft, CB_CALL_LINK, i)
    a.alu_imm(7, RAX, CB_LINKED, 0)
    ft.jump(relink, E)                        # linked rather than called: call natively
    a.alu_imm(7, RAX, 1, 0)
    ft.trap("host", NE)
    ft.jump(join)
    ft.bind(relink)
    a.load(R11, R15, 8 * IMPORTS)
    a.load(RAX, R11, rec)
    ft.jump(native)
    ft.bind(join)
    for lab in (slow, join, native, relink):
        for at in lab.refs:
            a.patch(at, lab.pos)
    _from_io(ft, ftype.results)


def _native_call(ft, ftype, target, to_regs: bool = True) -> None:
    """Call a function of type ``ftype`` natively, its arguments the top entries; ``target``
    loads the callee into r11 or calls it: ``target()`` emits the call instruction.  The
    results go to free registers when ``to_regs`` (else their slots)."""
    a = ft.a
    params, results = ftype.params, ftype.results
    n = len(params)
    first = len(ft.stack) - n
    args = ft.stack[first:]
    in_memory = len(results) > REG_RESULTS
    places, nstack = assign_args(params, 1 if in_memory else 0)
    if nstack > ft.out_slots:
        ft.out_slots = nstack
    for k, (e, (where, m)) in enumerate(zip(args, places)):
        if where == "s":
            ft.fetch(RAX, e, first + k, 1)
            a.store(RSP, 8 * m, RAX)
    for k, (e, (where, m)) in enumerate(zip(args, places)):
        if where == "x":
            ft.fetch_x(m, e, first + k)
    for k, (e, (where, m)) in enumerate(zip(args, places)):
        if where == "r":
            ft.fetch(m, e, first + k, WIDE[e[1]])
    if in_memory:
        a.lea(RSI, RBP, ft.io_disp(0))
    a.mov(RDI, R15)
    ft.mt.piece(len(ft.b), ft.funcidx, ft.index)
    target()
    ft.mt.after_call(ft, ftype)     # (tailcc: the callee popped its area, quick/assemble.py)
    del ft.stack[first:]
    if in_memory:
        for t, off in zip(results, results_layout(results)):
            w = WIDE[t]
            a.load(RAX, RBP, ft.io_disp(0) + off, w)
            a.store(RBP, ft.push_slot(t), RAX, w)
    else:
        for t, (where, m) in zip(results, assign_results(results)):
            r = ft.free_reg(t in FLOAT) if to_regs else None
            if r is not None:
                ft.stack.append((REG, t, r))
                if where == "r":
                    a.mov(r, m, WIDE[t])
                else:
                    a.movaps(r - XMM, m)
                continue
            d = ft.push_slot(t)
            if where == "r":
                a.store(RBP, d, m, WIDE[t])
            else:
                a.fstore(RBP, d, m, t == "f64")


def _call(ft, ins):
    i = ins[1]
    mt = ft.mt
    ftype = mt.func_types[i]
    if i < mt.nimported:
        _import_call(ft, i, ftype)
        return
    j = i - mt.nimported
    mt.callee_compiled(ft, i)       # (lazily compiled code: quick/assemble.py)
    # Through the module's function table (vm[LAZY]), as LLVM's baseline code calls: the
    # optimised code, once there, is what the next call enters.
    ft.a.load(R11, R15, 8 * LAZY)
    _native_call(ft, ftype, lambda: ft.a.call_mem(R11, 8 * j))



def _call_indirect(ft, ins):
    typeidx, tableidx = ins[1], ins[2]
    mt = ft.mt
    ftype = mt.module.types[typeidx]
    a = ft.a
    e = ft.stack[-1]
    p = len(ft.stack) - 1
    ft.fetch(RDX, e, p, 0)
    a.load(RCX, R15, 8 * TABLES)
    a.load(RCX, RCX, 8 * tableidx)
    a.m(b"\x3b", RDX, RCX, 0, 1)
    ft.trap(TC.UNDEFINED_ELEMENT, AE)
    a.load(RCX, RCX, 8)
    a.mov(RAX, RDX)
    ft.b.extend(b"\x48\xc1\xe0\x04")          # shl rax, 4
    a.r(b"\x01", RAX, RCX, 1)                 # add rcx, rax: the entry
    a.load(RAX, RCX, 0)
    a.alu_imm(7, RAX, -1)
    uninit = Label()
    ft.jump(uninit, E)
    a.load(RSI, R15, 8 * SIGS)
    a.m(b"\x3b", RAX, RSI, 8 * typeidx, 1)
    ft.trap(TC.INDIRECT_CALL_TYPE_MISMATCH, NE)
    a.load(R11, RCX, 8)
    a.r(b"\x85", R11, R11, 1)                 # test r11, r11
    foreign = Label()
    join = Label()
    ft.jump(foreign, E)
    saved = list(ft.stack)
    ft.stack.pop()
    # (results in their slots: the callback's path below joins this one)
    _native_call(ft, ftype, lambda: a.call_reg(R11), False)
    ft.jump(join)
    # The callee has no native code here (a host function, another instance's): the callback.
    ft.bind(foreign)
    ft.stack[:] = saved
    # The index first, then the arguments (io[0] = index).
    n = len(ftype.params)
    first = len(saved) - 1 - n
    args = [(saved[-1], len(saved) - 1)] + [(saved[first + k], first + k) for k in range(n)]
    ft.callback(CB_CALL_INDIRECT, tableidx, n + 1, ftype.results, args)
    ft.bind(join)
    # An uninitialized element: the trap names the index (vm[TRAP_ARG]).
    skip = Label()
    ft.jump(skip)
    ft.bind(uninit)
    a.store(R15, 8 * TRAP_ARG, RDX)
    ft.trap(TC.UNINITIALIZED_ELEMENT)
    ft.bind(skip)
    for lab in (uninit, foreign, join, skip):
        for at in lab.refs:
            a.patch(at, lab.pos)


# ----- numeric instructions -----

_ALU = {"add": (b"\x03", 0), "sub": (b"\x2b", 5), "and": (b"\x23", 4), "or": (b"\x0b", 1),
        "xor": (b"\x33", 6)}
_ICC = {"eq": E, "ne": NE, "lt_s": L, "lt_u": B, "gt_s": G, "gt_u": A, "le_s": LE, "le_u": BE,
        "ge_s": GE, "ge_u": AE}
_SHIFT = {"shl": 4, "shr_s": 7, "shr_u": 5, "rotl": 0, "rotr": 1}


def _signed32(v: int, w: int) -> int | None:
    """``v`` (bits of a w-wide constant) as an imm32 operand, or None."""
    if not w:
        return v - (1 << 32) if v >= 1 << 31 else v
    sv = v - (1 << 64) if v >= 1 << 63 else v
    return sv if -(1 << 31) <= sv < 1 << 31 else None


def _alu_rax(ft, code: bytes, ext: int, e, p: int, w: int, reg: int = RAX) -> None:
    """``op reg, <entry e>`` (position ``p``): ``code`` is the operation's register/memory
    form, ``ext`` its imm32 form's opcode extension (:meth:`Asm.alu_imm`)."""
    if not ft.operand(code, reg, e, p, w):
        imm = _signed32(e[2], w)
        if imm is None:
            ft.a.imm(RCX, e[2], w)
            ft.a.r(code, reg, RCX, w)
        else:
            ft.a.alu_imm(ext, reg, imm, w)


def _int_binary(t, op):
    w = WIDE[t]
    if op in _ALU:
        code, ext = _ALU[op]

        def alu(ft, ins):
            e2 = ft.stack.pop()
            e1 = ft.stack.pop()
            p = len(ft.stack)
            if op != "sub":
                e1, e2 = ft.swap_into(e1, e2)
            d = ft.dest(False, e1, e2)
            ft.fetch(d, e1, p, w)
            _alu_rax(ft, code, ext, e2, p + 1, w, d)
            ft.put(p, t, d, w)
        return alu
    if op == "mul":
        def mul(ft, ins):
            e2 = ft.stack.pop()
            e1 = ft.stack.pop()
            p = len(ft.stack)
            e1, e2 = ft.swap_into(e1, e2)
            d = ft.dest(False, e1, e2)
            ft.fetch(d, e1, p, w)
            if not ft.operand(b"\x0f\xaf", d, e2, p + 1, w):
                ft.fetch(RCX, e2, p + 1, w)
                ft.a.r(b"\x0f\xaf", d, RCX, w)
            ft.put(p, t, d, w)
        return mul
    if op in _SHIFT:
        ext = _SHIFT[op]

        def shift(ft, ins):
            e2 = ft.stack.pop()
            e1 = ft.stack.pop()
            p = len(ft.stack)
            d = ft.dest(False, e1, e2)
            ft.fetch(d, e1, p, w)
            if e2[0] == CONST:
                ft.a.r(b"\xc1", ext, d, w)
                ft.b.append(e2[2] & (63 if w else 31))
            else:
                ft.fetch(RCX, e2, p + 1, 0)
                ft.a.r(b"\xd3", ext, d, w)
            ft.put(p, t, d, w)
        return shift
    if op in _ICC:
        cc = _ICC[op]

        def compare(ft, ins):
            e2 = ft.stack.pop()
            p = len(ft.stack) - 1
            e1 = ft.stack[p]
            r = ft.where(e1)
            if r is None or r >= XMM:
                ft.fetch(RAX, e1, p, w)
                r = RAX
            _alu_rax(ft, b"\x3b", 7, e2, p + 1, w, r)           # cmp
            if ft.fuses():
                ft.stack[p] = (FLAGS, "i32", cc)
                return
            ft.a.setcc(cc)
            ft.put(p, "i32", RAX, 0)
        return compare
    if op in ("div_s", "div_u", "rem_s", "rem_u"):
        return _division(t, op)
    return None


def _division(t, op):
    w = WIDE[t]
    signed = op.endswith("_s")
    rem = op.startswith("rem")

    def divide(ft, ins):
        a = ft.a
        e2 = ft.stack.pop()
        p = len(ft.stack) - 1
        ft.fetch(RAX, ft.stack[p], p, w)
        ft.fetch(RCX, e2, p + 1, w)
        a.r(b"\x85", RCX, RCX, w)
        ft.trap(TC.INTEGER_DIVISION_BY_ZERO, E)
        done = Label()
        if signed:
            a.alu_imm(7, RCX, -1, w)
            go = Label()
            ft.jump(go, NE)
            if rem:
                # spec 4.3.2 irem_s: x rem -1 is 0 (INT_MIN rem -1 would fault in idiv).
                a.r(b"\x31", RDX, RDX)
                ft.jump(done)
            else:
                a.imm(RDX, 1 << (63 if w else 31), w)
                a.r(b"\x3b", RAX, RDX, w)
                ft.trap(TC.INTEGER_OVERFLOW, E)
            ft.bind(go)
            for at in go.refs:
                a.patch(at, go.pos)
            if w:
                ft.b.extend(b"\x48\x99")       # cqo
            else:
                ft.b.append(0x99)              # cdq
            a.r(b"\xf7", 7, RCX, w)            # idiv
        else:
            a.r(b"\x31", RDX, RDX)
            a.r(b"\xf7", 6, RCX, w)            # div
        ft.bind(done)
        for at in done.refs:
            a.patch(at, done.pos)
        ft.put(p, t, RDX if rem else RAX, w)
    return divide


def _int_unary(t, op):
    w = WIDE[t]
    if op == "eqz":
        def eqz(ft, ins):
            e = ft.stack.pop()
            p = len(ft.stack)
            if e[0] == CONST:
                ft.stack.append((CONST, "i32", int(e[2] == 0)))
                return
            ft.operand(b"\x83", 7, e, p, w)
            ft.b.append(0)
            if ft.fuses():
                ft.stack.append((FLAGS, "i32", E))
                return
            ft.a.setcc(E)
            ft.put(p, "i32", RAX, 0)
        return eqz
    if op in ("clz", "ctz", "popcnt"):
        code = {"clz": b"\x0f\xbd", "ctz": b"\x0f\xbc", "popcnt": b"\x0f\xb8"}[op]

        def count(ft, ins):
            e = ft.stack.pop()
            p = len(ft.stack)
            ft.fetch(RCX, e, p, w)
            ft.a.r(code, RAX, RCX, w, b"\xf3")
            ft.put(len(ft.stack), t, RAX, w)
        return count
    if op in ("extend8_s", "extend16_s", "extend32_s"):
        code = {"extend8_s": b"\x0f\xbe", "extend16_s": b"\x0f\xbf", "extend32_s": b"\x63"}[op]

        def extend(ft, ins):
            e = ft.stack.pop()
            p = len(ft.stack)
            ft.fetch(RCX, e, p, w)
            ft.a.r(code, RAX, RCX, w, byte=True)
            ft.put(len(ft.stack), t, RAX, w)
        return extend
    if op == "wrap_i64" or op.startswith("reinterpret_"):
        def retype(ft, ins):
            e = ft.stack.pop()
            kind, _t, v = e
            if kind == CONST and t in ("i32", "f32"):
                v &= 0xFFFFFFFF
            r = ft.where(e)
            if r is not None and (r >= XMM) != (t in FLOAT):
                # An entry's register has its type's class: the bits move to the other one.
                p = len(ft.stack)
                if r >= XMM:
                    ft.a.movx_to_gpr(RAX, r - XMM, 1)
                    ft.put(p, t, RAX, 1)
                else:
                    ft.put(p, t, r, 1)
                return
            ft.stack.append((kind, t, v))
        return retype
    if op == "extend_i32_s":
        def sext(ft, ins):
            e = ft.stack.pop()
            p = len(ft.stack)
            ft.fetch(RCX, e, p, 0)
            ft.a.r(b"\x63", RAX, RCX, 1)
            ft.put(len(ft.stack), "i64", RAX, 1)
        return sext
    if op == "extend_i32_u":
        def zext(ft, ins):
            e = ft.stack.pop()
            p = len(ft.stack)
            if e[0] == CONST:
                ft.stack.append((CONST, "i64", e[2] & 0xFFFFFFFF))
                return
            ft.fetch(RAX, e, p, 0)
            ft.put(len(ft.stack), "i64", RAX, 1)
        return zext
    if op.startswith("trunc_sat_"):
        return _truncate(t, op[10:13], op[-1] == "s", True)
    if op.startswith("trunc_"):
        return _truncate(t, op[6:9], op[-1] == "s", False)
    return None


def _truncate(t, src, signed, saturating):
    w = WIDE[t]
    f64 = int(src == "f64")
    pfx = b"\xf2" if f64 else b"\xf3"
    upfx = b"\x66" if f64 else b""
    # The exclusive bounds of the operand (llvm/ops.py's, exact in the source type), as bits.
    to_bits = f64_to_bits if f64 else f32_to_bits
    lo, hi = map(to_bits, _TRUNC_BOUNDS[(t, IR_TYPE[src], signed)])
    # 2^63 in the source type (unsigned 64-bit truncation of large values).
    two63 = to_bits(2.0 ** 63)

    def truncate(ft, ins):
        a = ft.a
        e = ft.stack.pop()
        p = len(ft.stack)
        ft.fetch_x(0, e, p)
        a.r(b"\x0f\x2e", 0, 0, 0, upfx)                   # ucomis xmm0, xmm0
        labs = []
        if saturating:
            zero, low, high, done = Label(), Label(), Label(), Label()
            labs = [zero, low, high, done]
            ft.jump(zero, P)
        else:
            ft.trap(TC.BAD_CONVERSION_TO_INTEGER, P)
        a.imm(RAX, lo, f64)
        a.movx_from_gpr(1, RAX, f64)
        a.r(b"\x0f\x2e", 0, 1, 0, upfx)
        if saturating:
            ft.jump(low, BE)
        else:
            ft.trap(TC.INTEGER_OVERFLOW, BE)
        a.imm(RAX, hi, f64)
        a.movx_from_gpr(1, RAX, f64)
        a.r(b"\x0f\x2e", 0, 1, 0, upfx)
        if saturating:
            ft.jump(high, AE)
        else:
            ft.trap(TC.INTEGER_OVERFLOW, AE)
        if signed or not w:
            a.r(b"\x0f\x2c", RAX, 0, 1 if (w or not signed) else 0, pfx)   # cvtts*2si
        else:
            big, end = Label(), Label()
            a.imm(RAX, two63, f64)
            a.movx_from_gpr(1, RAX, f64)
            a.r(b"\x0f\x2e", 0, 1, 0, upfx)
            ft.jump(big, AE)
            a.r(b"\x0f\x2c", RAX, 0, 1, pfx)
            ft.jump(end)
            ft.bind(big)
            a.r(b"\x0f\x5c", 0, 1, 0, pfx)                # subs xmm0, xmm1
            a.r(b"\x0f\x2c", RAX, 0, 1, pfx)
            ft.b.extend(b"\x48\x0f\xba\xf8\x3f")         # btc rax, 63
            ft.bind(end)
            labs += [big, end]
        if saturating:
            ft.jump(done)
            ft.bind(zero)
            a.r(b"\x31", RAX, RAX)
            ft.jump(done)
            ft.bind(low)
            a.imm(RAX, (1 << (63 if w else 31)) if signed else 0, w)
            ft.jump(done)
            ft.bind(high)
            a.imm(RAX, ((1 << (63 if w else 31)) - 1) if signed else (1 << (64 if w else 32)) - 1, w)
            ft.bind(done)
        for lab in labs:
            for at in lab.refs:
                a.patch(at, lab.pos)
        ft.put(p, t, RAX, w)
    return truncate


_FBIN = {"add": b"\x0f\x58", "sub": b"\x0f\x5c", "mul": b"\x0f\x59", "div": b"\x0f\x5e"}
# ucomis operands (swapped: a < b is b > a) and the condition of "true".
_FCC = {"lt": (True, A), "gt": (False, A), "le": (True, AE), "ge": (False, AE)}
_ROUND = {"nearest": 0, "floor": 1, "ceil": 2, "trunc": 3}


def _float_handler(t, op):
    f64 = int(t == "f64")
    pfx = b"\xf2" if f64 else b"\xf3"
    upfx = b"\x66" if f64 else b""
    sign = 1 << (63 if f64 else 31)

    def binary_setup(ft):
        e2 = ft.stack.pop()
        p = len(ft.stack) - 1
        ft.fetch_x(0, ft.stack[p], p)
        return e2, p

    def second(ft, e2, p, op_bytes, prefix, d=0):
        if e2[0] == CONST:
            ft.fetch_x(1, e2, p + 1)
            ft.a.r(op_bytes, d, 1, 0, prefix)
        else:
            ft.operand(op_bytes, d, e2, p + 1, 0, prefix)

    def result(ft, p):
        ft.put_x(p, t, 0)

    if op in _FBIN:
        code = _FBIN[op]

        def binary(ft, ins):
            e2 = ft.stack.pop()
            e1 = ft.stack.pop()
            p = len(ft.stack)
            if op in ("add", "mul"):
                e1, e2 = ft.swap_into(e1, e2)
            d = ft.dest(True, e1, e2) - XMM
            ft.fetch_x(d, e1, p)
            second(ft, e2, p, code, pfx, d)
            ft.put_x(p, t, d)
        return binary
    if op in ("min", "max"):
        def minmax(ft, ins):
            # spec 4.3.3: a NaN operand gives a NaN (the sum quiets it); -0 < +0 (equal
            # operands combine their sign bits); else minss/maxss.
            a = ft.a
            e2, p = binary_setup(ft)
            ft.fetch_x(1, e2, p + 1)
            nan, ne, done = Label(), Label(), Label()
            a.r(b"\x0f\x2e", 0, 1, 0, upfx)
            ft.jump(nan, P)
            ft.jump(ne, NE)
            a.r(b"\x0f\x56" if op == "min" else b"\x0f\x54", 0, 1)    # orps / andps
            ft.jump(done)
            ft.bind(nan)
            a.r(b"\x0f\x58", 0, 1, 0, pfx)
            ft.jump(done)
            ft.bind(ne)
            a.r(b"\x0f\x5d" if op == "min" else b"\x0f\x5f", 0, 1, 0, pfx)
            ft.bind(done)
            for lab in (nan, ne, done):
                for at in lab.refs:
                    a.patch(at, lab.pos)
            result(ft, p)
        return minmax
    if op == "copysign":
        def copysign(ft, ins):
            a = ft.a
            e2 = ft.stack.pop()
            p = len(ft.stack) - 1
            ft.fetch(RAX, ft.stack[p], p, f64)
            ft.fetch(RDX, e2, p + 1, f64)
            a.imm(RCX, sign - 1, f64)
            a.r(b"\x21", RCX, RAX, f64)                   # and rax, rcx
            a.r(b"\xf7", 2, RCX, f64)                     # not rcx
            a.r(b"\x21", RCX, RDX, f64)                   # and rdx, rcx
            a.r(b"\x09", RDX, RAX, f64)                   # or rax, rdx
            ft.put(p, t, RAX, f64)
        return copysign
    if op in ("abs", "neg"):
        def bits(ft, ins):
            a = ft.a
            e = ft.stack.pop()
            p = len(ft.stack)
            if e[0] == CONST:
                ft.stack.append((CONST, t, e[2] & (sign - 1) if op == "abs" else e[2] ^ sign))
                return
            ft.fetch(RAX, e, p, f64)
            if op == "abs":
                a.imm(RCX, sign - 1, f64)
                a.r(b"\x21", RCX, RAX, f64)
            else:
                a.imm(RCX, sign, f64)
                a.r(b"\x31", RCX, RAX, f64)
            ft.put(p, t, RAX, f64)
        return bits
    if op == "sqrt" or op in _ROUND:
        def unary(ft, ins):
            e = ft.stack.pop()
            p = len(ft.stack)
            ft.fetch_x(0, e, p)
            if op == "sqrt":
                ft.a.r(b"\x0f\x51", 0, 0, 0, pfx)
            else:
                ft.a.r(b"\x0f\x3a\x0b" if f64 else b"\x0f\x3a\x0a", 0, 0, 0, b"\x66")
                ft.b.append(_ROUND[op] | 8)
            ft.put_x(p, t, 0)
        return unary
    if op in ("eq", "ne"):
        def equal(ft, ins):
            a = ft.a
            e2, p = binary_setup(ft)
            ft.fetch_x(1, e2, p + 1)
            a.r(b"\x0f\x2e", 0, 1, 0, upfx)
            if op == "eq":
                a.setcc(E, RAX)
                a.setcc(NP, RCX)
                a.r(b"\x21", RCX, RAX, 0)
            else:
                a.setcc(NE, RAX)
                a.setcc(P, RCX)
                a.r(b"\x09", RCX, RAX, 0)
            ft.put(p, "i32", RAX, 0)
        return equal
    if op in _FCC:
        swap, cc = _FCC[op]

        def compare(ft, ins):
            a = ft.a
            e2, p = binary_setup(ft)
            ft.fetch_x(1, e2, p + 1)
            if swap:
                a.r(b"\x0f\x2e", 1, 0, 0, upfx)
            else:
                a.r(b"\x0f\x2e", 0, 1, 0, upfx)
            if ft.fuses():
                ft.stack[p] = (FLAGS, "i32", cc)
                return
            a.setcc(cc, RAX)
            ft.put(p, "i32", RAX, 0)
        return compare
    if op.startswith("convert_"):
        src, signed = op[8:11], op[-1] == "s"
        sw = WIDE[src]

        def convert(ft, ins):
            a = ft.a
            e = ft.stack.pop()
            p = len(ft.stack)
            a.r(b"\x0f\x57", 0, 0)                        # xorps: no false dependency
            if sw and not signed:
                ft.fetch(RAX, e, p, 1)
                big, done = Label(), Label()
                a.r(b"\x85", RAX, RAX, 1)
                ft.jump(big, S)
                a.r(b"\x0f\x2a", 0, RAX, 1, pfx)
                ft.jump(done)
                ft.bind(big)
                a.mov(RCX, RAX)
                ft.b.extend(b"\x48\xd1\xe9")             # shr rcx, 1
                a.alu_imm(4, RAX, 1, 0)
                a.r(b"\x09", RAX, RCX, 1)                 # or rcx, rax
                a.r(b"\x0f\x2a", 0, RCX, 1, pfx)
                a.r(b"\x0f\x58", 0, 0, 0, pfx)
                ft.bind(done)
                for lab in (big, done):
                    for at in lab.refs:
                        a.patch(at, lab.pos)
            else:
                # i32 unsigned: zero-extended to 64 bits, converted as signed (exact).
                ft.fetch(RAX, e, p, sw)
                if not sw and signed:
                    a.r(b"\x0f\x2a", 0, RAX, 0, pfx)
                else:
                    a.r(b"\x0f\x2a", 0, RAX, 1, pfx)
            ft.put_x(p, t, 0)
        return convert
    if op in ("demote_f64", "promote_f32"):
        def change(ft, ins):
            e = ft.stack.pop()
            p = len(ft.stack)
            ft.fetch_x(0, e, p)
            ft.a.r(b"\x0f\x5a", 0, 0, 0, b"\xf2" if op == "demote_f64" else b"\xf3")
            ft.put_x(p, t, 0)
        return change
    if op.startswith("reinterpret_"):
        return _int_unary(t, op)
    return None


_BY_NAME = {
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
    _BY_NAME[_n] = _load
for _n in _STORES:
    _BY_NAME[_n] = _store


HANDLERS: dict = {}


def _register() -> None:
    for name, o in BY_NAME.items():
        h = _BY_NAME.get(name)
        if h is None and o.feature is None and name[:4] in ("i32.", "i64.", "f32.", "f64."):
            if o.type in ("i32", "i64"):
                h = _int_binary(o.type, o.operator) or _int_unary(o.type, o.operator)
            elif o.type in ("f32", "f64"):
                h = _float_handler(o.type, o.operator)
        if h is not None:
            HANDLERS[o] = h
    HANDLERS[SELECT_T] = _select


_register()
