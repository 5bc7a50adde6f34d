"""A whole module's quick code as a linked image (llvm/loader.py ``load``): ``@wf_trap``,
the functions, the entry trampolines, the C library slots and ``wf_funcs``, plus the
trailer llvm/unwind.py reads a trap's call sites from.

A lazily compiled module (llvm/compiler.py) gets the same image in parts: its entry
trampolines alone (:meth:`ModuleTranslator.compile_entries`) and each batch's functions with
their own ``@wf_trap`` and ``wf_funcs`` (:meth:`ModuleTranslator.compile_batch`), as LLVM's
``compile_entries``/``compile_batch`` make them.  In such code a call checks the callee's slot
of the function table first and, while it is null, has the callback compile the callee's
batch (``CB_COMPILE``, what ``trampolines.lazy_thunk`` does in IR).

A big module's whole image is translated on two cores (:meth:`ModuleTranslator.compile`,
:func:`default_jobs`): forked children translate the later functions into images of their own, which
this process appends to its own and relocates, so that the image is the one a single process
makes, byte for byte."""

from __future__ import annotations

import array
import collections
import itertools
import marshal
import os
import struct

from .. import loader, unwind
from ..forksafe import FORK_LOCK, detach_child, die_with_parent, only_helper_threads
from ..layout import (CALLBACK, CB_COMPILE, CB_UNWIND, DEPTH, JMPBUF, LAZY, SHADOW,
                      TRAP_POS, TRAP_SIGINT, TRAP_TOP)
from ..prelude import REG_RESULTS, TAIL_CC
from .scope import Refused, cpu_supported
from .translate import (FLOAT, VALUE_TYPES, WIDE, FunctionTranslator, assign_args,
                        assign_results, results_layout)
from .x64 import (NE, R11, R12, R13, R14, R15, RAX, RBP, RBX, RCX, RDI, RDX, RSI, RSP, Asm)

_IMAGE = struct.Struct("<8sIIIIIIII")
_EXTERN = struct.Struct("<IIq")
_REL32 = struct.Struct("<i")
EXTERNS = ("_setjmp", "longjmp", "memset", "memmove")
_PAGE = 4096

#: Wasm code bytes (of the defined functions' bodies) from which :meth:`ModuleTranslator.compile`
#: splits the translation between processes: below it, the fork and the hand-over (a few ms)
#: are not paid back (docs/performance.md, "The quick compiler on two cores").
FORK_MIN = 128 * 1024

#: Tests only: called in a forked child, with its functions, before it translates them.
_child_hook = None


def default_jobs() -> int:
    """How many processes translate a big module's quick code (:meth:`ModuleTranslator.compile`):
    ``WASMFORGE_LLVM_QUICK_JOBS`` when set (``1``: this process alone), else 2 where this
    process may run on two CPUs or more and one of the machine's CPUs is idle at this moment
    (else 1).  Two, as measured on two cores: a module's later functions in a forked child
    while this process translates the first ones.  An idle CPU, because a child that only
    shares this process's CPU makes the compile slower, not faster (the fork, the hand-over
    and two processes' caches on one core: 0.40 -> 0.48 s for 256 KB of graphviz's code with
    another session's process busy on the second core)."""
    forced = os.environ.get("WASMFORGE_LLVM_QUICK_JOBS", "").strip()
    if forced:
        try:
            return max(1, int(forced))
        except ValueError:
            pass
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    if cpus < 2:
        return 1
    try:
        # The tasks running or runnable right now, this one included, of the whole machine.
        with open("/proc/loadavg", "rb") as f:
            running = int(f.read().split()[3].split(b"/")[0])
    except (OSError, ValueError, IndexError):
        return 2
    return 2 if running < (os.cpu_count() or cpus) else 1


def _code_size(func) -> int:
    """The work of translating ``func``, in wasm code bytes (as compiler.code_bytes, which
    imports this package)."""
    code = func._code
    return len(code) if code is not None else 3 * len(func.body)


class ModuleTranslator:
    """Compiles every defined function of ``mc``'s module (a codegen.ModuleCompiler) and
    the entries of its signatures into one image (:meth:`compile`), or, for a lazily compiled
    module (``lazy``), its entries and its batches into an image each."""

    def __init__(self, mc, lazy: bool = False):
        module = mc.module
        if mc.fuel or mc.epoch:
            raise Refused("fuel or epoch metering")
        if mc.cc not in ("fastcc", TAIL_CC) or mc.eh or mc.gc:
            raise Refused("exceptions or GC")
        if len(mc.mem_types) > 1 or any(m.is_64 or m.shared for m in mc.mem_types):
            raise Refused("multi-memory, memory64 or threads")
        if any(t.is_64 or t.element not in ("funcref", "externref") for t in mc.table_types):
            raise Refused("table type")
        for t in mc.func_types:
            if any(v not in VALUE_TYPES for v in t.params + t.results):
                raise Refused(f"value type {t}")
        if any(g.content not in VALUE_TYPES for g in mc.global_types):
            raise Refused("global type")
        if not cpu_supported():
            raise Refused("host CPU")
        self.mc = mc
        self.module = module
        self.func_types = mc.func_types
        self.global_types = mc.global_types
        self.table_types = mc.table_types
        self.nimported = mc.nimported
        self.has_memory = bool(mc.mem_types)
        self.io_slots = max([5] + [max(len(t.params) + 1, len(t.results))
                                   for t in module.types if hasattr(t, "params")])
        # Calls may find their callee's slot of the function table still null (lazy
        # compilation: see the module docstring).
        self.lazy = lazy
        # A module that may make tail calls is compiled under LLVM's tailcc (prelude.TAIL_CC;
        # a lazily compiled one whenever a body holds a tail call's opcode byte anywhere, as
        # the Go program's and yosys's do without making any).  On x86-64 it places arguments
        # and results as fastcc does, but the callee pops its stack argument area, rounded up
        # so that the area and the return address keep 16-byte alignment (8 bytes for no
        # stack argument: `ret 8`), and the caller lowers rsp again after the call (checked
        # with llvmlite's code at -O0 and -O2).  The tail calls themselves are not compiled
        # (a function making one is refused: LLVM's baseline code).
        self.tail_cc = mc.cc == TAIL_CC
        self._start()

    def _start(self) -> None:
        """A new, empty image."""
        self.asm = Asm(bytearray())
        self.functions: list = []       # (offset, size, funcidx, CFA rows)
        self.pieces: list = []          # (offset, funcidx, instruction index)
        self.extern_refs: list = []     # (place of a rip-relative disp32, name)
        self.trap_calls: list = []      # places of the rel32 of each call of @wf_trap
        self.trap_at = 0
        self.split = None               # how compile() translated (see there)

    def piece(self, at: int, funcidx: int, index: int) -> None:
        self.pieces.append((at, funcidx, index))

    def call_extern(self, name: str) -> None:
        """``call [rip + slot of name]`` (a C library function)."""
        b = self.asm.b
        b += b"\xff\x15\0\0\0\0"
        self.extern_refs.append((len(b) - 4, name))

    def align(self, n: int) -> None:
        b = self.asm.b
        pad = -len(b) % n
        if pad:
            b += b"\xcc" * pad

    def callee_compiled(self, ft, i: int) -> None:
        """Lazily compiled code, before calling defined function ``i`` through the function
        table: while its slot is null, have the callback compile its batch (``CB_COMPILE``,
        no ``io``, as ``trampolines.lazy_thunk``), trapping as the callback says.  Emitted
        before the arguments are loaded (the callback's call clobbers their registers), after
        the translator spilled the operand stack's registers and saved the locals kept in
        caller-saved ones (``spill_regs``, ``save_volatile``: a call's instruction)."""
        if not self.lazy:
            return
        a = ft.a
        a.load(R11, R15, 8 * LAZY)
        a.load(RAX, R11, 8 * (i - self.nimported))
        a.r(b"\x85", RAX, RAX, 1)                 # test rax, rax
        compiled = a.jcc(NE)
        a.mov(RDI, R15)
        a.imm(RSI, CB_COMPILE, 0)
        a.imm(RDX, i, 0)
        a.r(b"\x31", RCX, RCX, 1)                 # xor rcx, rcx: no io
        a.call_mem(R15, 8 * CALLBACK)
        a.alu_imm(7, RAX, 1, 0)
        ft.trap("host", NE)
        a.patch(compiled, len(a.b))

    def popped(self, ft) -> int:
        """The bytes a function of type ``ft`` pops besides its return address: its stack
        arguments, under tailcc their area rounded to 16n + 8 (see ``tail_cc``)."""
        if not self.tail_cc:
            return 0
        nstack = assign_args(ft.params, 1 if len(ft.results) > REG_RESULTS else 0)[1]
        return 8 * nstack + (0 if nstack % 2 else 8)

    def emit_ret(self, ft) -> None:
        """A function's return: ``ret``, or under tailcc ``ret imm16`` popping its area."""
        n = self.popped(ft.ftype)
        if n:
            ft.b += b"\xc2" + n.to_bytes(2, "little")
        else:
            ft.b.append(0xC3)

    def after_call(self, ft, callee) -> None:
        """After a native call of a function of type ``callee``: under tailcc the callee
        popped its area (the bottom of this frame, which holds it whole) and rsp goes back."""
        n = self.popped(callee)
        if n:
            if n // 8 > ft.out_slots:
                # An optimised callee may store into all of it (a tail call's arguments).
                ft.out_slots = n // 8
            ft.a.alu_imm(5, RSP, n)

    def compile(self, jobs: int | None = None, fork_min: int | None = None) -> bytes:
        """The image of the whole module: every defined function and the entries.

        With ``jobs`` processes (default :func:`default_jobs`) and at least ``fork_min``
        bytes of wasm code (default :data:`FORK_MIN`), the functions are cut into ``jobs``
        runs of consecutive functions of about as many code bytes each; forked children
        translate all runs but the first, which this process translates meanwhile, and their
        code is joined in order (:meth:`_join`).  The image is the one a single process
        makes: functions start on 16-byte boundaries, and besides their own code (relative
        jumps, jump tables relative to themselves, calls through the function table) a
        function's code refers only to ``@wf_trap`` and the C library slots, whose places
        are re-pointed.  A child that fails in any way leaves its run to this process; a
        function it refuses makes this compile refuse it (:class:`Refused`), as a single
        process would.  No fork where another thread than wasmforge's helpers runs
        (llvm/forksafe.py).  ``self.split`` tells what happened: None (one process), else
        per child run ``"child"`` (joined) or ``"parent"`` (translated here after the child
        failed)."""
        funcs = range(len(self.module.funcs))
        parts = self._parts(default_jobs() if jobs is None else jobs,
                            FORK_MIN if fork_min is None else fork_min)
        return self._link(funcs, self.mc.signatures, parts)

    def compile_batch(self, batch) -> bytes:
        """The image of the defined functions ``batch`` (indexes into ``module.funcs``):
        their ``wf_funcs`` in ``batch`` order, no entries (codegen's ``compile_batch``)."""
        return self._link(batch, ())

    def compile_entries(self) -> bytes:
        """The image of the entry trampolines alone (``wf_entry<k>``, one per signature:
        codegen's ``compile_entries``)."""
        return self._link((), self.mc.signatures)

    def _link(self, funcs, signatures, parts=None) -> bytes:
        self._start()
        b = self.asm.b
        self.trap_at = len(b)
        if funcs:
            self.emit_trap()
        starts = []
        if parts is None:
            self._translate(funcs, starts)
        else:
            self._translate_parts(parts, starts)
        entries = []
        for ft in signatures:
            self.align(16)
            entries.append(len(b))
            self.emit_entry(ft)
        self.align(8)
        slots = {}
        for name in EXTERNS:
            slots[name] = len(b)
            b += bytes(8)
        for at, name in self.extern_refs:
            b[at:at + 4] = (slots[name] - at - 4).to_bytes(4, "little", signed=True)
        table = len(b)
        b += bytes(8 * max(len(starts), 1))
        nbytes = len(b)
        size = max(_PAGE, (nbytes + _PAGE - 1) // _PAGE * _PAGE)
        rels = [(table + 8 * k, start) for k, start in enumerate(starts)]
        symbols = {"wf_funcs": table}
        for k, off in enumerate(entries):
            symbols[f"wf_entry{k}"] = off
        names = "\0".join(list(EXTERNS) + list(symbols)).encode()
        image = b"".join([
            _IMAGE.pack(loader.IMAGE_MAGIC, size, size, nbytes, len(rels), len(EXTERNS),
                        len(EXTERNS), len(symbols), len(names)),
            bytes(b),
            array.array("I", [at for at, _ in rels]).tobytes(),
            array.array("Q", [t for _, t in rels]).tobytes(),
            b"".join(_EXTERN.pack(slots[name], k, 0) for k, name in enumerate(EXTERNS)),
            array.array("Q", symbols.values()).tobytes(),
            names])
        trailer = unwind.call_map(self.functions, starts, self.pieces)
        return loader.with_trailer(image, trailer)

    def _translate(self, funcs, starts: list) -> None:
        """Append the code of the defined functions ``funcs``, each at a 16-byte boundary
        whose place goes to ``starts``."""
        b = self.asm.b
        for j in funcs:
            self.align(16)
            i = self.nimported + j
            starts.append(len(b))
            FunctionTranslator(self, i, self.module.funcs[j], self.func_types[i]).translate()

    def _parts(self, njobs: int, fork_min: int):
        """``njobs`` runs of consecutive functions of about as many wasm code bytes each, or
        None when one process translates them all (see :meth:`compile`)."""
        funcs = self.module.funcs
        if njobs < 2 or len(funcs) < 2 or not hasattr(os, "fork"):
            return None
        sizes = [_code_size(f) for f in funcs]
        total = sum(sizes)
        if total < fork_min:
            return None
        cuts = [0]
        done = 0
        for j, size in enumerate(sizes):
            if len(cuts) < njobs and j > cuts[-1] and done * njobs >= total * len(cuts):
                cuts.append(j)
            done += size
        cuts.append(len(funcs))
        if len(cuts) < 3:
            return None
        return [range(lo, hi) for lo, hi in zip(cuts, cuts[1:])]

    def _translate_parts(self, parts, starts: list) -> None:
        """:meth:`compile`'s translation of ``parts``: the first here, the others in forked
        children (each its own pipe), joined in order."""
        children = self._fork(parts[1:])
        if children is None:
            for part in parts:
                self._translate(part, starts)
            return
        self.split = []
        try:
            self._translate(parts[0], starts)
            for k, part in enumerate(parts[1:]):
                child, children[k] = children[k], None
                msg = _receive(child)
                if msg is not None and msg[0] == "refused":
                    raise Refused(msg[1])
                if msg is None:
                    self.split.append("parent")
                    self._translate(part, starts)
                else:
                    self.split.append("child")
                    self._join(msg, starts)
        finally:
            for child in children:
                if child is not None:
                    _reap(child, kill=True)

    def _fork(self, parts):
        """A ``(pid, read end of its pipe)`` per part, translating it in a forked child (None
        for a part whose fork failed: this process translates it), or None when this process
        must not fork."""
        children = []
        parent = os.getpid()
        with FORK_LOCK:         # no helper thread is mid-work (llvm/forksafe.py)
            if not only_helper_threads():
                return None
            for part in parts:
                try:
                    rfd, wfd = os.pipe()
                except OSError:
                    children.append(None)
                    continue
                try:
                    pid = os.fork()
                except OSError:
                    os.close(rfd)
                    os.close(wfd)
                    children.append(None)
                    continue
                if pid == 0:
                    self._child(part, wfd, parent)      # (never returns)
                os.close(wfd)
                children.append((pid, rfd))
        return children

    def _child(self, part, wfd: int, parent: int) -> None:
        """In a forked child: translate ``part`` into an image of its own, its first function
        at 0 and its calls of ``@wf_trap`` aimed at 0, and write what :meth:`_join` needs on
        ``wfd``; then exit, whatever happens (a child never returns into its parent's code)."""
        try:
            die_with_parent(parent)
            detach_child(wfd)
            if _child_hook is not None:
                _child_hook(part)
            self._start()
            starts: list = []
            try:
                self._translate(part, starts)
                # The long lists as arrays: the parent moves them without a loop of its own.
                pieces = array.array("I", [v for piece in self.pieces for v in piece])
                msg = ("ok", starts, bytes(self.asm.b), self.functions, pieces.tobytes(),
                       self.extern_refs, array.array("I", self.trap_calls).tobytes())
            except Refused as e:
                msg = ("refused", str(e))
            data = marshal.dumps(msg)
            with os.fdopen(wfd, "wb") as out:
                out.write(data)
        except BaseException:   # noqa: BLE001 - the parent translates the part itself
            pass
        finally:
            os._exit(0)

    def _join(self, msg, starts: list) -> None:
        """Append a child's code (:meth:`_child`) at the next 16-byte boundary (its own
        alignment is kept: both are multiples of 16) and move what it recorded there."""
        _, child_starts, code, functions, pieces, extern_refs, trap_calls = msg
        self.align(16)
        b = self.asm.b
        delta = len(b)
        b += code
        move = delta.__add__
        starts += map(move, child_starts)
        self.functions += [(at + delta, size, funcidx, rows)
                           for at, size, funcidx, rows in functions]
        flat = array.array("I")
        flat.frombytes(pieces)
        self.pieces += zip(map(move, flat[0::3]), flat[1::3], flat[2::3])
        self.extern_refs += [(at + delta, name) for at, name in extern_refs]
        # Each call of @wf_trap, aimed at the child's 0, aimed at ours: rel32 = trap_at -
        # (place + 4).  Tens of thousands of them in a big module, hence loops in C (maps,
        # consumed by a deque that keeps nothing).
        calls = array.array("I")
        calls.frombytes(trap_calls)
        places = list(map(move, calls))
        disps = map((self.trap_at - 4).__sub__, places)
        collections.deque(map(_REL32.pack_into, itertools.repeat(b), places, disps), maxlen=0)
        self.trap_calls += places

    def emit_trap(self) -> None:
        """``void wf_trap(vm, code, pos)`` (prelude.PRELUDE's, in machine code): record the
        position and the shadow stack height, hand the callback the stack of the trap's
        frames (CB_UNWIND; not for Ctrl-C), and ``longjmp`` to the innermost entry."""
        a = self.asm
        a.mov(RCX, RSP)                         # the address of our return address
        a.push(RBX)
        a.push(R12)
        a.alu_imm(5, RSP, 8)
        a.mov(RBX, RDI)
        a.mov(R12, RSI, 0)
        a.r(b"\x63", RDX, RDX, 1)               # movsxd rdx, edx
        a.store(RBX, 8 * TRAP_POS, RDX)
        a.load(RAX, RBX, 8 * SHADOW)
        a.load(RAX, RAX, 0)
        a.store(RBX, 8 * TRAP_TOP, RAX)
        a.alu_imm(7, R12, TRAP_SIGINT, 0)
        at = a.jcc(4)                           # je: no unwinding for Ctrl-C
        a.mov(RDI, RBX)
        a.imm(RSI, CB_UNWIND, 0)
        a.mov(RDX, R12, 0)
        a.call_mem(RBX, 8 * CALLBACK)
        a.patch(at, len(a.b))
        a.load(RDI, RBX, 8 * JMPBUF)
        a.mov(RSI, R12, 0)
        self.call_extern("longjmp")
        a.b += b"\x0f\x0b"                      # ud2

    def emit_entry(self, ft) -> None:
        """``int wf_entry<k>(vm, fn, u64 *args, u64 *results)`` (C convention) for functions
        of type ``ft``, as trampolines.entry_trampoline makes it in IR."""
        a = self.asm
        params, results = ft.params, ft.results
        in_memory = len(results) > REG_RESULTS
        places, nstack = assign_args(params, 1 if in_memory else 0)
        popped = self.popped(ft)
        res_at = max(8 * nstack, popped)
        jbuf = (res_at + 8 * len(results) + 15) & ~15
        saved = jbuf + 512
        frame = saved + 24
        if frame % 16 != 8:
            frame += 8
        a.push(RBP)
        a.mov(RBP, RSP)
        for reg in (RBX, R12, R13, R14, R15):
            a.push(reg)
        a.alu_imm(5, RSP, frame)
        a.mov(RBX, RDI)
        a.mov(R12, RSI)
        a.mov(R13, RDX)
        a.mov(R14, RCX)
        a.load(RAX, RBX, 8 * JMPBUF)
        a.store(RSP, saved, RAX)
        a.load(RAX, RBX, 8 * DEPTH)
        a.store(RSP, saved + 8, RAX)
        # (the interrupt cell is left alone: trampolines.entry_trampoline says why)
        a.load(RAX, RBX, 8 * SHADOW)
        a.load(RAX, RAX, 0)
        a.store(RSP, saved + 16, RAX)
        a.lea(RDI, RSP, jbuf)
        a.store(RBX, 8 * JMPBUF, RDI)
        self.call_extern("_setjmp")
        a.r(b"\x85", RAX, RAX, 0)
        trapped = a.jcc(NE)
        for k, (t, (where, n)) in enumerate(zip(params, places)):
            if where == "r":
                a.load(n, R13, 8 * k, WIDE[t])
            elif where == "x":
                a.fload(n, R13, 8 * k, t == "f64")
            else:
                a.load(RAX, R13, 8 * k)
                a.store(RSP, 8 * n, RAX)
        if in_memory:
            a.lea(RSI, RSP, res_at)
        a.mov(RDI, RBX)
        a.call_reg(R12)
        if popped:
            a.alu_imm(5, RSP, popped)           # (tailcc: the callee popped its area)
        if in_memory:
            for k, (t, off) in enumerate(zip(results, results_layout(results))):
                a.load(RCX, RSP, res_at + off, WIDE[t])
                a.store(R14, 8 * k, RCX)
        else:
            for k, (t, (where, n)) in enumerate(zip(results, assign_results(results))):
                if where == "r":
                    a.mov(RCX, n, WIDE[t])      # (an i32 zero-extended)
                else:
                    a.movx_to_gpr(RCX, n, t == "f64")
                a.store(R14, 8 * k, RCX)
        a.load(RAX, RSP, saved)
        a.store(RBX, 8 * JMPBUF, RAX)
        a.r(b"\x31", RAX, RAX)
        out = a.jmp()
        a.patch(trapped, len(a.b))
        a.load(RCX, RSP, saved)
        a.store(RBX, 8 * JMPBUF, RCX)
        a.load(RCX, RSP, saved + 8)
        a.store(RBX, 8 * DEPTH, RCX)
        a.load(RCX, RSP, saved + 16)
        a.load(RDX, RBX, 8 * SHADOW)
        a.store(RDX, 0, RCX)
        a.patch(out, len(a.b))
        a.lea(RSP, RBP, -40)
        for reg in (R15, R14, R13, R12, RBX, RBP):
            a.pop(reg)
        a.b.append(0xC3)


def _receive(child):
    """What a child of :meth:`ModuleTranslator._fork` wrote (its pipe read to the end, the
    child reaped), or None when it failed."""
    if child is None:
        return None
    pid, rfd = child
    try:
        with os.fdopen(rfd, "rb") as src:
            data = src.read()
    except OSError:
        data = b""
    finally:
        _reap((pid, None))
    try:
        msg = marshal.loads(data)
    except (EOFError, ValueError, TypeError):
        return None
    if isinstance(msg, tuple) and len(msg) == 2 and msg[0] == "refused":
        return msg
    if isinstance(msg, tuple) and len(msg) == 7 and msg[0] == "ok":
        return msg
    return None


def _reap(child, kill: bool = False) -> None:
    """Wait for a child of :meth:`ModuleTranslator._fork` (killed first when ``kill``: this
    compile ended without its code) and close its pipe if still open."""
    pid, rfd = child
    if kill:
        try:
            os.kill(pid, 9)
        except OSError:
            pass
    if rfd is not None:
        os.close(rfd)
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass                # (reaped by someone else: SIGCHLD ignored)


__all__ = ["FORK_MIN", "ModuleTranslator", "Refused", "cpu_supported", "FLOAT", "default_jobs"]
