"""Translation of one WebAssembly function to Python source.

The operand stack is resolved at translation time.  Values live in Python locals: wasm locals
are ``l0, l1, ...`` (parameters first), stack slot *k* is ``s<k>``.  Pure operations are not
executed on a slot at all: the translator keeps a *symbolic stack* of Python expressions and
only writes a value to its slot (*materialises* it) when it must — before a variable it reads
is overwritten, at a control-flow boundary, or when the operation has an effect or can trap.
So ``local.get 0; local.get 1; i32.add; local.set 2`` becomes ``l2 = (l0 + l1) & 0xFFFFFFFF``.

Control flow has two translations:

* **structured** (the default): a ``block``/``if`` that some branch targets becomes a
  ``while True:`` loop that ``break`` leaves; a targeted ``loop`` becomes ``while True:`` that
  ``continue`` repeats; untargeted blocks cost nothing.  A branch out of several Python loops
  stores the target's label in ``br`` and breaks; each loop it leaves checks ``br`` after
  itself.
* **flat** (the fallback): CPython rejects more than 20 statically nested loops and about 100
  indentation levels, and C compilers nest blocks deeper than that (``switch`` lowered to
  ``br_table``).  Such a function becomes a state machine: basic blocks numbered by ``pc``
  inside one ``while True:``, dispatched by a binary tree of comparisons.

Every generated function counts its call depth in the store's cell ``D`` and adds its
frame to a :class:`~wasmforge.errors.Trap` that passes through it.

Metering (only when the engine asks for it, so unmetered code pays nothing): before the first
instruction of each segment that :func:`~wasmforge.runtime.metering.meter_points` lists, the
translator emits the epoch check (``INT``: the store's flag that the engine raises when the
epoch reaches the deadline) and the fuel charge (``FUEL -= cost`` and the check), in
:meth:`meter`.  Emitting at the instruction itself puts the code where
control arrives in both translations: inside a loop's ``while True:`` / basic block, at the
top of an ``if`` or ``else`` arm, after a block's end.
"""

from __future__ import annotations

from ..types import EXNREF, EXTERNREF, FUNCREF, FuncType
from ..runtime.metering import frame_bytes, meter_points
from . import ops as O

MAX_PY_LOOPS = 17          # CPython allows 20 nested blocks; try/except and margin take 3
MAX_INDENT = 78            # CPython's parser stops at 100 indentation levels
MAX_EXPR = 400             # longest symbolic expression kept before it is materialised

_ZERO = {"i32": "0", "i64": "0", "f32": "0.0", "f64": "0.0", "v128": "0",
         FUNCREF: "None", EXTERNREF: "None", EXNREF: "None"}


class _Entry:
    """One symbolic stack value: a Python expression, the variables it reads, and whether it
    is a Python truth value (a comparison) rather than an i32."""

    __slots__ = ("expr", "refs", "cond")

    def __init__(self, expr: str, refs=frozenset(), cond: bool = False):
        self.expr = expr
        self.refs = refs
        self.cond = cond

    def value(self) -> str:
        return f"(1 if {self.expr} else 0)" if self.cond else self.expr

    def test(self) -> str:
        return self.expr


class _Frame:
    __slots__ = ("kind", "base", "nparams", "nresults", "targeted", "pyloop", "label",
                 "unreachable", "escapes", "then_live", "has_else",
                 "start_pc", "end_pc", "else_pc", "calls", "stale_at_start",
                 "branch_stale", "eh", "catches", "delegate")

    def __init__(self, kind, base, nparams, nresults, targeted, label):
        self.kind = kind
        self.base = base
        self.nparams = nparams
        self.nresults = nresults
        self.targeted = targeted
        self.pyloop = False
        self.label = label
        self.unreachable = False
        self.escapes = set()
        self.then_live = False
        self.has_else = False
        self.start_pc = self.end_pc = self.else_pc = None
        self.branch_stale = False       # some branch to the label may leave msz stale
        # Exception handling: "try_table" or "try" (legacy) for those blocks, else None;
        # their handlers (see do_try_table / do_catch), and the handler chain a legacy
        # `delegate` hands its exceptions to.
        self.eh = None
        self.catches = []
        self.delegate = None

    def arity(self) -> int:
        """The values a branch to this label carries (a function frame: its results)."""
        return self.nparams if self.kind == "loop" else self.nresults


def _blocktype(module, bt):
    if bt is None:
        return (), ()
    if isinstance(bt, str):
        return (), (bt,)
    t = module.types[bt]
    return t.params, t.results


# Instructions that open a structured block, and those that end an arm of one (exception
# handling adds `try_table`, the legacy `try` and its `catch`/`catch_all`/`delegate`).
_OPENERS = frozenset(("block", "loop", "if", "try_table", "try"))
_ARMS = frozenset(("else", "end", "catch", "catch_all", "delegate"))


def _prescan(body):
    """Facts about the structured instructions (keyed by index) that translation needs up
    front: which ones a branch targets, which contain a call (after which the memory size
    must be re-read) or a memory access, and the deepest nesting of targeted frames and of
    all frames, to choose between the two translations."""
    targeted = set()
    has_call = set()
    has_mem = set()
    stack = []
    max_depth = 0
    for i, ins in enumerate(body):
        op = ins[0]
        name = op.name
        if name == "try_table":
            for _, _, d in ins[2]:
                if d < len(stack):
                    targeted.add(stack[-1 - d])
        if name in _OPENERS:
            stack.append(i)
            max_depth = max(max_depth, len(stack))
        elif name == "end" or name == "delegate":
            if stack:
                j = stack.pop()
                if stack:
                    if j in has_call:
                        has_call.add(stack[-1])
                    if j in has_mem:
                        has_mem.add(stack[-1])
        elif name in ("br", "br_if", "br_on_null", "br_on_non_null", "br_on_cast", "br_on_cast_fail"):
            d = ins[1]
            if d < len(stack):
                targeted.add(stack[-1 - d])
        elif name == "br_table":
            for d in set(ins[1]) | {ins[2]}:
                if d < len(stack):
                    targeted.add(stack[-1 - d])
        elif name in ("call", "call_indirect", "memory.grow", "call_ref"):
            if stack:
                has_call.add(stack[-1])
        elif op.imm in ("memarg", "memarg_lane") or name == "memory.size":
            if stack:
                has_mem.add(stack[-1])
    # The loop nesting, now that the targets are known.
    loops = max_loops = 0
    stack = []
    for i, ins in enumerate(body):
        name = ins[0].name
        if name in _OPENERS:
            stack.append(i in targeted)
            if stack[-1]:
                loops += 1
                max_loops = max(max_loops, loops)
        elif (name == "end" or name == "delegate") and stack:
            if stack.pop():
                loops -= 1
    return targeted, has_call, has_mem, max_loops, max_depth


class FunctionTranslator:
    """Translates function ``funcidx`` of ``module`` to the source of ``def f<funcidx>``.

    ``translate()`` returns ``(source, consts)``: ``consts`` maps names the source uses for
    constants that have no literal (NaNs, infinities) to their values."""

    def __init__(self, module, funcidx: int, func, functype: FuncType, func_types, flat=None,
                 fuel: bool = False, epoch: bool = False):
        self.module = module
        self.funcidx = funcidx
        self.func = func
        self.type = functype
        self.func_types = func_types
        self.nimported_funcs = module.num_imported("func")
        self.body = func.body
        self.fuel = fuel
        self.epoch = epoch
        self.meter_at = meter_points(self.body, fuel, epoch) if fuel or epoch else None
        self.targeted, self.has_call, self.has_mem, max_loops, max_depth = _prescan(self.body)
        # Exception handlers are dispatched by basic block (see assemble_flat), so a function
        # using exception handling always takes the state machine translation.
        self.uses_eh = any(ins[0].feature == "exceptions" for ins in self.body)
        if self.uses_eh:
            flat = True
        if flat is None:
            flat = max_loops > MAX_PY_LOOPS or 2 * max_depth + 8 > MAX_INDENT
        self.flat = flat
        self.consts = {}
        self.lines = []
        self._index = -1           # the instruction being translated (tags the lines, see emit)
        self.indent = 2
        self.stack = []
        self.extra = []            # entries popped but still to be used by the instruction
        self.ntemps = 0
        # Whether the local ``msz`` may differ from the memory's size: true at entry and
        # after anything that can grow the memory (a call, memory.grow).
        self.msz_stale = True
        self.uses_br = False
        self.frames = []
        self.npc = 0               # flat translation: next basic block number
        self.blocks = []           # flat translation: (pc, lines) of finished basic blocks
        self.try_chain = ()        # the try frames whose handlers cover the current code
        self.block_chain = {}      # basic block -> its try_chain

    # ----- output -----

    def emit(self, line: str) -> None:
        # Each line carries the index of the instruction it was emitted for (after a NUL,
        # split off in assemble): a trap maps the line it passed through back to the wasm
        # instruction (a trapping operation and a call are emitted at their instruction).
        self.lines.append(f"{'    ' * self.indent}{line}\0{self._index}")

    def const_name(self, value) -> str:
        name = f"K{self.funcidx}_{len(self.consts)}"
        self.consts[name] = value
        return name

    def float_literal(self, x: float) -> str:
        if x != x or x in (float("inf"), float("-inf")):
            return self.const_name(x)
        r = repr(x)
        return f"({r})" if r.startswith("-") else r

    # ----- the symbolic stack -----

    def push(self, expr: str, refs=frozenset(), cond=False) -> None:
        if len(expr) > MAX_EXPR:
            self.stack.append(_Entry(expr, refs, cond))
            self.materialize(len(self.stack) - 1)
        else:
            self.stack.append(_Entry(expr, refs, cond))

    def push_var(self, name: str) -> None:
        self.stack.append(_Entry(name, frozenset((name,))))

    def pop(self) -> _Entry:
        e = self.stack.pop()
        self.extra.append(e)
        return e

    def pop_n(self, n: int):
        if n == 0:
            return []
        es = self.stack[-n:]
        del self.stack[-n:]
        self.extra.extend(es)
        return es

    def temp(self) -> str:
        self.ntemps += 1
        return f"t{self.ntemps}"

    def _free(self, var: str, keep=None) -> None:
        """Before ``var`` is assigned: move every other pending value that reads it out of
        the way (to its own slot, or a fresh temporary for popped operands)."""
        for k, e in enumerate(self.stack):
            if e is not keep and var in e.refs and e.expr != f"s{k}":
                self.materialize(k)
        for j, e in enumerate(self.extra):
            if e is not keep and var in e.refs:
                t = self.temp()
                self.emit(f"{t} = {e.expr}")
                e.expr, e.refs = t, frozenset((t,))

    def assign(self, var: str, expr: str, keep=None) -> None:
        self._free(var, keep)
        self.emit(f"{var} = {expr}")

    def materialize(self, k: int) -> None:
        e = self.stack[k]
        var = f"s{k}"
        if e.expr == var:
            return
        self._free(var, e)
        self.emit(f"{var} = {e.value()}")
        self.stack[k] = _Entry(var, frozenset((var,)))

    def flush(self) -> None:
        for k in range(len(self.stack)):
            self.materialize(k)

    def simple(self, e: _Entry) -> str:
        """A variable or literal holding ``e``'s value (so it can be read twice)."""
        if e.refs and len(e.refs) == 1 and e.expr in e.refs:
            return e.expr
        if e.expr.lstrip("-").isdigit():
            return e.expr
        t = self.temp()
        self.emit(f"{t} = {e.value()}")
        e.expr, e.refs, e.cond = t, frozenset((t,)), False
        return t

    def result_to_slot(self, expr: str) -> None:
        """Assign an effectful expression (built from the popped operands, which it
        consumes) to the next slot and push it."""
        k = len(self.stack)
        self.extra.clear()
        self.assign(f"s{k}", expr)
        self.push_var(f"s{k}")

    def results_to_slots(self, call: str, n: int) -> None:
        h = len(self.stack)
        self.extra.clear()
        if n == 0:
            self.emit(call)
        elif n == 1:
            self.assign(f"s{h}", call)
        else:
            for k in range(h, h + n):
                self._free(f"s{k}")
            self.emit(", ".join(f"s{k}" for k in range(h, h + n)) + f" = {call}")
        for k in range(h, h + n):
            self.push_var(f"s{k}")

    def forget_globals(self, only=None) -> None:
        """Materialise pending ``global.get`` values before globals may change."""
        for k, e in enumerate(self.stack):
            if any(r[0] == "g" and (only is None or r == only) for r in e.refs):
                self.materialize(k)

    # ----- driver -----

    def translate(self):
        ft = self.type
        nparams = len(ft.params)
        locals_ = list(ft.params) + list(self.func.locals)
        self.local_types = locals_
        fr = _Frame("func", 0, 0, len(ft.results), False, 0)
        self.frames.append(fr)
        if self.flat:
            self.begin_block(self.new_pc())
        skip = 0
        for self._index, ins in enumerate(self.body):
            op = ins[0]
            name = op.name
            if self.frames[-1].unreachable or skip:
                # Dead code (spec 3.3.5: the stack is polymorphic) is not translated.
                if name in _OPENERS:
                    skip += 1
                    continue
                if (name == "end" or name == "delegate") and skip:
                    skip -= 1
                    continue
                if name not in _ARMS or skip:
                    continue
            if self.meter_at is not None and self._index in self.meter_at:
                self.meter(*self.meter_at[self._index])
            handler = O.CONTROL.get(name)
            if handler is not None:
                getattr(self, handler)(ins)
            else:
                O.emit_instr(self, ins)
            self.extra.clear()
            if not self.frames:
                break
        body = self.lines
        if self.flat:
            body = self.assemble_flat()
        return self.assemble(nparams, locals_, body), self.consts

    def assemble(self, nparams, locals_, body_lines):
        """The whole source.  The function is nested in ``_outer`` only to make the call
        depth ``D`` a closure variable (a cell is cheaper to update than a global); the
        instance binds the inner code object to its own cell."""
        name = f"f{self.funcidx}"
        names = self.module.names.funcs
        # (index, name, module name, instruction index, locator): see FrameList.
        table_name = f"LN{self.funcidx}"
        frame = (f"({self.funcidx}, {names.get(self.funcidx)!r}, {self.module.names.module or None!r}, "
                 f"{table_name}[e.__traceback__.tb_lineno], LOC)")
        cells = ["D"] + ["FUEL"] * self.fuel + ["INT"] * self.epoch
        frame_size = frame_bytes(len(locals_))
        out = ["def _outer():"]
        out.extend(f"    {c} = 0" for c in cells)
        out += [# Named apart from f<i> so that calls to f<i> stay global lookups.
               f"    def _{name}({', '.join(f'l{i}' for i in range(nparams))}):",
               f"        nonlocal {', '.join(cells)}",
               # D and LIM count bytes of the wasm stack budget (runtime/metering.py).
               f"        if D > LIM - {frame_size}: stack_overflow()",
               f"        D += {frame_size}",
               "        try:"]
        for i in range(nparams, len(locals_)):
            # Reference locals start null (a non-defaultable one is set before it is read).
            out.append(f"            l{i} = {_ZERO.get(locals_[i], 'None')}")
        if self.uses_br:
            out.append("            br = -1")
        out.extend("    " + ln for ln in body_lines)
        # A trap records the instruction it passed through in this function: the line of
        # this frame's traceback entry, mapped by the table LN<i> to the instruction index
        # (turned into byte offsets only when a Frame's offset is read, by LOC).
        out.append("        except Trap as e:")
        out.append(f"            e.frames.append({frame})")
        out.append("            raise")
        out.append("        except RecursionError as e:")
        out.append(f"            raise overflow_trap({frame}) from None")
        out.append("        finally:")
        out.append(f"            D -= {frame_size}")
        # Split the instruction tags off the lines (emit) into the line table.
        table = [-1] * (len(out) + 1)
        for k, line in enumerate(out):
            text, sep, tag = line.partition("\0")
            if sep:
                out[k] = text
                table[k + 1] = int(tag)
        self.consts[table_name] = tuple(table)
        return "\n".join(out) + "\n"

    def need_msz(self) -> None:
        """Make ``msz`` hold the memory's current size before an access uses it."""
        if self.msz_stale:
            self.emit("msz = mem0.size")
            self.msz_stale = False

    # ----- metering (see module docstring) -----

    def meter(self, check_epoch: bool, cost: int) -> None:
        """Emit the epoch check and the fuel charge of the segment starting here."""
        if check_epoch:
            self.emit("if INT: interrupted()")
        if cost:
            self.emit(f"FUEL -= {cost}")
            self.emit("if FUEL < 0: out_of_fuel()")

    # ----- returns and branches shared by both translations -----

    def emit_return(self):
        n = len(self.type.results)
        vals = self.stack[len(self.stack) - n:] if n else []
        if n == 0:
            self.emit("return")
        elif n == 1:
            self.emit(f"return {vals[0].value()}")
        else:
            self.emit("return (" + ", ".join(v.value() for v in vals) + ",)")

    def move_to(self, target: _Frame, values) -> None:
        """Assign ``values`` (entries) to the target label's slots."""
        dst = [f"s{target.base + i}" for i in range(len(values))]
        src = [v.value() for v in values]
        pairs = [(d, s) for d, s in zip(dst, src) if d != s]
        if pairs:
            self.emit(", ".join(d for d, _ in pairs) + " = " + ", ".join(s for _, s in pairs))

    def target(self, depth: int) -> _Frame:
        return self.frames[-1 - depth]

    def branch(self, depth: int) -> None:
        """Emit an unconditional branch to label ``depth`` with the stack's top values."""
        t = self.target(depth)
        if t.kind == "func":
            self.emit_return()
            return
        if self.msz_stale and t.kind != "loop":
            t.branch_stale = True
        n = t.arity()
        self.move_to(t, self.stack[len(self.stack) - n:] if n else [])
        if self.flat:
            self.emit(f"pc = {self.label_pc(t)}")
            self.emit("continue")
        else:
            self.jump_structured(t)

    def jump_structured(self, t: _Frame) -> None:
        for f in reversed(self.frames):
            if f.pyloop:
                inner = f
                break
        if inner is t:
            self.emit("continue" if t.kind == "loop" else "break")
        else:
            self.uses_br = True
            inner.escapes.add(t.label)
            self.emit(f"br = {t.label}")
            self.emit("break")

    # ----- control instructions -----

    def do_unreachable(self, ins):
        self.emit("raise Trap('unreachable', UNREACHABLE)")
        self.frames[-1].unreachable = True

    def do_nop(self, ins):
        pass

    def open_frame(self, kind, ins, index, cond_entry=None):
        params, results = _blocktype(self.module, ins[1])
        # Values below the new frame must sit in their slots: the frame's code may write
        # variables they read, and branches leave them in place.
        self.flush()
        cond = cond_entry.test() if cond_entry is not None else None
        base = len(self.stack) - len(params)
        fr = _Frame(kind, base, len(params), len(results), index in self.targeted,
                    len(self.frames))
        fr.calls = index in self.has_call
        fr.stale_at_start = self.msz_stale
        if kind == "loop" and not self.flat:
            if fr.calls:
                self.msz_stale = True
            elif self.msz_stale and index in self.has_mem:
                # Read the size once before a loop that cannot change it.
                self.need_msz()
        self.frames.append(fr)
        if self.flat:
            self.open_flat(fr, cond)
            return
        if fr.targeted:
            fr.pyloop = True
            self.emit("while True:")
            self.indent += 1
        if kind == "if":
            self.emit(f"if {cond}:")
            self.indent += 1

    def do_block(self, ins):
        self.open_frame("block", ins, self._index)

    def do_loop(self, ins):
        self.open_frame("loop", ins, self._index)

    def do_if(self, ins):
        self.open_frame("if", ins, self._index, self.pop())

    def end_of_arm(self, fr: _Frame) -> None:
        """Put the arm's results in the frame's slots (unless the arm cannot end)."""
        if not fr.unreachable:
            n = fr.nresults
            vals = self.stack[len(self.stack) - n:] if n else []
            self.move_to(fr, vals)

    def reset_stack(self, fr: _Frame, n: int) -> None:
        del self.stack[fr.base:]
        for k in range(fr.base, fr.base + n):
            self.push_var(f"s{k}")

    def do_else(self, ins):
        fr = self.frames[-1]
        self.end_of_arm(fr)
        fr.then_live = not fr.unreachable
        fr.has_else = True
        if self.flat:
            self.else_flat(fr)
        else:
            self.pad()
            self.indent -= 1
            self.emit("else:")
            self.indent += 1
        if not fr.unreachable and self.msz_stale:
            fr.branch_stale = True      # the then arm falls through to the end
        fr.unreachable = False
        if not self.flat:
            self.msz_stale = fr.stale_at_start
        self.reset_stack(fr, fr.nparams)

    def pad(self):
        """Give an empty Python suite a body."""
        if self.lines[-1].partition("\0")[0].endswith(":"):
            self.emit("pass")

    def do_end(self, ins):
        fr = self.frames[-1]
        if fr.eh is not None:
            self.close_try(fr)
        if fr.kind == "func":
            if not fr.unreachable:
                self.emit_return()
            self.frames.pop()
            if self.flat:
                self.end_block()
            return
        self.end_of_arm(fr)
        live_after = (not fr.unreachable or (fr.kind != "loop" and fr.targeted)
                      or (fr.kind == "if" and (not fr.has_else or fr.then_live))
                      or (fr.eh == "try" and fr.then_live))
        if self.flat:
            self.end_flat(fr, live_after)
        else:
            if fr.kind == "if":
                self.pad()
                self.indent -= 1
            if fr.pyloop:
                if not fr.unreachable or fr.kind == "if":
                    self.emit("break")
                self.pad()
                self.indent -= 1
            self.frames.pop()
            if fr.escapes:
                self.escape_check(fr)
        if not self.flat:
            # The size is known at the end if it is on every path that arrives there.
            stale = (not fr.unreachable and self.msz_stale) or fr.branch_stale
            if fr.kind == "if" and not fr.has_else:
                stale = stale or fr.stale_at_start
            self.msz_stale = stale or not live_after
        self.reset_stack(fr, fr.nresults)
        if not live_after:
            self.frames[-1].unreachable = True

    def escape_check(self, fr: _Frame) -> None:
        """After the Python loop of ``fr``: continue a branch to an outer label."""
        outer = None
        for f in reversed(self.frames):
            if f.pyloop:
                outer = f
                break
        esc = fr.escapes
        self.emit("if br != -1:")
        self.indent += 1
        if outer.label in esc:
            go = "continue" if outer.kind == "loop" else "break"
            rest = esc - {outer.label}
            if rest:
                self.emit(f"if br == {outer.label}:")
                self.indent += 1
                self.emit("br = -1")
                self.emit(go)
                self.indent -= 1
                self.emit("break")
                outer.escapes |= rest
            else:
                self.emit("br = -1")
                self.emit(go)
        else:
            self.emit("break")
            outer.escapes |= esc
        self.indent -= 1

    def do_br(self, ins):
        self.branch(ins[1])
        self.frames[-1].unreachable = True

    def do_br_if(self, ins):
        c = self.pop()
        t = self.target(ins[1])
        n = t.arity()
        h = len(self.stack)
        for k in range(h - n, h):
            self.materialize(k)
        self.emit(f"if {c.test()}:")
        self.indent += 1
        self.branch(ins[1])
        self.indent -= 1

    def do_br_on_null(self, ins):
        # function-references: branch when the reference is null (dropping it), else keep it.
        r = self.simple(self.pop())
        t = self.target(ins[1])
        n = t.arity()
        h = len(self.stack)
        for k in range(h - n, h):
            self.materialize(k)
        self.emit(f"if {r} is None:")
        self.indent += 1
        self.branch(ins[1])
        self.indent -= 1
        self.push_var(r)

    def do_br_on_non_null(self, ins):
        # function-references: branch with the reference when it is not null, else drop it.
        r = self.simple(self.pop())
        t = self.target(ins[1])
        n = t.arity()
        h = len(self.stack)
        for k in range(h - n + 1, h):
            self.materialize(k)
        self.emit(f"if {r} is not None:")
        self.indent += 1
        self.push_var(r)
        self.branch(ins[1])
        self.stack.pop()
        self.indent -= 1

    def do_br_on_cast(self, ins):
        # GC: branch with the reference when the cast succeeds (br_on_cast) or fails
        # (br_on_cast_fail); otherwise keep it on the stack.
        heap, nullable = O.heap_expr(ins[3])
        r = self.simple(self.pop())
        t = self.target(ins[1])
        n = t.arity()
        h = len(self.stack)
        for k in range(h - n + 1, h):
            self.materialize(k)
        neg = "" if ins[0].name == "br_on_cast" else "not "
        self.emit(f"if {neg}GC_ref_test({r}, {heap}, {nullable}):")
        self.indent += 1
        self.push_var(r)
        self.branch(ins[1])
        self.stack.pop()
        self.indent -= 1
        self.push_var(r)

    def do_br_table(self, ins):
        labels, default = ins[1], ins[2]
        idx = self.pop()
        t = self.target(default)
        n = t.arity()
        h = len(self.stack)
        for k in range(h - n, h):
            self.materialize(k)
        # Ranges of consecutive indexes with the same target; the last one takes the default.
        ranges = []
        for i, d in enumerate(labels):
            if ranges and ranges[-1][1] == d:
                continue
            ranges.append((i, d))
        if ranges and ranges[-1][1] == default:
            pass
        else:
            ranges.append((len(labels), default))
        if len(ranges) == 1:
            self.branch(ranges[0][1])
        elif self.flat and n == 0 and all(self.target(d).kind != "func" for _, d in ranges):
            v = self.simple(idx)
            pcs = tuple(self.label_pc(self.target(d)) for d in labels)
            name = self.const_name(pcs)
            self.emit(f"pc = {name}[{v}] if {v} < {len(labels)} else "
                      f"{self.label_pc(self.target(default))}")
            self.emit("continue")
        else:
            v = self.simple(idx)
            self.br_tree(v, ranges)
        self.frames[-1].unreachable = True

    def br_tree(self, v, ranges):
        if len(ranges) == 1:
            self.branch(ranges[0][1])
            return
        if len(ranges) <= 3:
            # A short chain: test from the top range down.
            for j in range(len(ranges) - 1, 0, -1):
                self.emit(f"if {v} >= {ranges[j][0]}:")
                self.indent += 1
                self.branch(ranges[j][1])
                self.indent -= 1
            self.branch(ranges[0][1])
            return
        mid = len(ranges) // 2
        self.emit(f"if {v} < {ranges[mid][0]}:")
        self.indent += 1
        self.br_tree(v, ranges[:mid])
        self.indent -= 1
        self.emit("else:")
        self.indent += 1
        self.br_tree(v, ranges[mid:])
        self.indent -= 1

    def do_return(self, ins):
        self.emit_return()
        self.frames[-1].unreachable = True

    # ----- the flat (state machine) translation -----

    def new_pc(self) -> int:
        self.npc += 1
        return self.npc - 1

    def begin_block(self, pc: int) -> None:
        if self.try_chain:
            self.block_chain[pc] = self.try_chain
        self.cur_pc = pc
        self.cur_lines = self.lines = []
        self.indent = 0
        self.msz_stale = True

    def end_block(self) -> None:
        self.blocks.append((self.cur_pc, self.lines))

    def goto_new_block(self, pc: int, live: bool) -> None:
        """End the current basic block (falling through to ``pc`` if ``live``), start ``pc``."""
        if live:
            self.emit(f"pc = {pc}")
            self.emit("continue")
        self.end_block()
        self.begin_block(pc)

    def label_pc(self, fr: _Frame) -> int:
        if fr.kind == "loop":
            return fr.start_pc
        if fr.end_pc is None:
            fr.end_pc = self.new_pc()
        return fr.end_pc

    def open_flat(self, fr: _Frame, cond) -> None:
        if fr.kind == "loop":
            fr.start_pc = self.new_pc()
            self.goto_new_block(fr.start_pc, True)
        elif fr.kind == "if":
            fr.else_pc = self.new_pc()
            self.emit(f"if not ({cond}):")
            self.emit(f"    pc = {fr.else_pc}")
            self.emit("    continue")

    def else_flat(self, fr: _Frame) -> None:
        live = not fr.unreachable
        if live:
            self.emit(f"pc = {self.label_pc(fr)}")
            self.emit("continue")
        self.goto_new_block(fr.else_pc, False)
        fr.else_pc = None

    def end_flat(self, fr: _Frame, live_after: bool) -> None:
        live = not fr.unreachable
        if fr.kind == "if" and fr.else_pc is not None:
            # An if without else: the false condition lands at the end.
            end = self.label_pc(fr)
            if live:
                self.emit(f"pc = {end}")
                self.emit("continue")
            self.end_block()
            self.begin_block(fr.else_pc)
            self.emit(f"pc = {end}")
            self.emit("continue")
            self.goto_new_block(end, False)
        elif fr.end_pc is not None:
            self.goto_new_block(fr.end_pc, live)
        self.frames.pop()

    def assemble_flat(self):
        """The state machine: ``while True`` around a binary dispatch tree on ``pc``.

        With exception handling, the tree runs inside ``try``: a wasm exception raised in
        basic block ``pc`` is matched against the handlers covering that block (known
        statically per block), which set the handler's operands and ``pc`` and continue."""
        blocks = sorted(self.blocks)
        out = ["        pc = 0", "        while True:"]
        base = 3
        if self.uses_eh:
            out.append("            try:")
            base = 4

        def tree(bs, ind):
            pad = "    " * ind
            if len(bs) == 1:
                pc, lines = bs[0]
                if not lines:
                    out.append(pad + "raise AssertionError('empty block')")
                for ln in lines:
                    out.append(pad + ln)
                return
            mid = len(bs) // 2
            out.append(f"{pad}if pc < {bs[mid][0]}:")
            tree(bs[:mid], ind + 1)
            out.append(f"{pad}else:")
            tree(bs[mid:], ind + 1)

        # Unreachable basic blocks (nothing falls or jumps into them) come out empty.
        blocks = [(pc, lines) for pc, lines in blocks if lines]
        tree(blocks, base)
        if self.uses_eh:
            out.extend(self.handler_dispatch())
        return out

    # ----- exception handling (flat translation only) -----

    def handler_dispatch(self):
        """The ``except`` clause of the state machine (see assemble_flat)."""
        out = ["            except WasmException as x:", "                e = x.exn"]
        chains = {}
        which = {}
        for pc, chain in self.block_chain.items():
            handlers = _resolve_chain(chain)
            if not any(f.catches for f in handlers):
                continue
            key = tuple(id(f) for f in handlers)
            if key not in chains:
                chains[key] = (len(chains), handlers)
            which[pc] = chains[key][0]
        if chains:
            out.append(f"                h = {self.const_name(which)}.get(pc, -1)")
            for n, handlers in chains.values():
                out.append(f"                if h == {n}:")
                for f in handlers:
                    for kind, tag, target in f.catches:
                        out.extend(self.handler_lines(f, kind, tag, target))
        out.append("                raise")
        return out

    def handler_lines(self, f, kind, tag, target):
        pad = "                    "
        lines = []
        if kind < 2:                     # catch / catch_ref: the tag must match
            lines.append(f"{pad}if e.tag is TG{tag}:")
        else:
            lines.append(f"{pad}if True:")
        pad += "    "
        if f.eh == "try":
            # A legacy catch arm: its payload in the try's slots, the exception kept for
            # `rethrow`, then the arm's basic block.
            n = len(self.module.tag_types()[tag].params) if kind < 2 else 0
            lines.append(f"{pad}x{f.label} = e")
            if n:
                lines.append(f"{pad}{', '.join(f's{f.base + i}' for i in range(n))}, = e.values")
            lines.append(f"{pad}pc = {target}")
            lines.append(f"{pad}continue")
            return lines
        n = len(self.module.tag_types()[tag].params) if kind < 2 else 0
        vals = [f"e.values[{i}]" for i in range(n)]
        if kind == 1 or kind == 3:       # catch_ref / catch_all_ref: the exnref too
            vals.append("e")
        if target.kind == "func":
            if not vals:
                lines.append(f"{pad}return")
            elif len(vals) == 1:
                lines.append(f"{pad}return {vals[0]}")
            else:
                lines.append(f"{pad}return ({', '.join(vals)},)")
            return lines
        if vals:
            lines.append(f"{pad}{', '.join(f's{target.base + i}' for i in range(len(vals)))} = "
                         f"{', '.join(vals)}")
        lines.append(f"{pad}pc = {self.label_pc(target)}")
        lines.append(f"{pad}continue")
        return lines

    def open_try(self, fr: _Frame) -> None:
        """Start the covered code of a try block in a basic block of its own."""
        self.label_pc(fr)               # its end starts a new basic block too
        self.try_chain = self.try_chain + (fr,)
        self.goto_new_block(self.new_pc(), True)

    def close_try(self, fr: _Frame) -> None:
        """Leave the code covered by ``fr`` (at its first arm, delegate or end)."""
        if self.try_chain and self.try_chain[-1] is fr:
            self.try_chain = self.try_chain[:-1]

    def do_try_table(self, ins):
        # The catch clauses' labels are resolved outside the try_table (spec 3.3.8).
        catches = []
        for kind, tag, depth in ins[2]:
            t = self.target(depth)
            if t.kind != "func":
                self.label_pc(t)
            catches.append((kind, tag, t))
        self.open_frame("block", ins, self._index)
        fr = self.frames[-1]
        fr.eh = "try_table"
        fr.catches = catches
        self.open_try(fr)

    def do_try(self, ins):
        self.open_frame("block", ins, self._index)
        fr = self.frames[-1]
        fr.eh = "try"
        self.open_try(fr)

    def do_catch(self, ins):
        fr = self.frames[-1]
        self.close_try(fr)
        self.end_of_arm(fr)
        if not fr.unreachable:
            fr.then_live = True         # an arm falls through to the end
            self.emit(f"pc = {self.label_pc(fr)}")
            self.emit("continue")
        pc = self.new_pc()
        name = ins[0].name
        if name == "catch":
            fr.catches.append((0, ins[1], pc))
            n = len(self.module.tag_types()[ins[1]].params)
        else:
            fr.catches.append((2, None, pc))
            n = 0
        self.end_block()
        self.begin_block(pc)
        fr.unreachable = False
        self.reset_stack(fr, n)

    do_catch_all = do_catch

    def do_delegate(self, ins):
        fr = self.frames[-1]
        self.close_try(fr)
        # Exceptions of the body go to the handlers around label ins[1] (counted outside
        # the try): the try frames of the chain at or outside that label's frame.
        target_index = len(self.frames) - 2 - ins[1]
        position = {id(f): k for k, f in enumerate(self.frames)}
        fr.delegate = tuple(f for f in self.try_chain if position[id(f)] <= target_index)
        self.do_end(ins)

    def do_throw(self, ins):
        params = self.module.tag_types()[ins[1]].params
        args = self.pop_n(len(params))
        vals = ", ".join(a.value() for a in args)
        self.emit(f"raise WasmException(Exn(TG{ins[1]}, ({vals}{',' if len(args) == 1 else ''})))")
        self.frames[-1].unreachable = True

    def do_throw_ref(self, ins):
        e = self.pop()
        v = self.simple(e)
        self.emit(f"raise WasmException({v} if {v} is not None else null_exnref())")
        self.frames[-1].unreachable = True

    def do_rethrow(self, ins):
        fr = self.target(ins[1])
        self.emit(f"raise WasmException(x{fr.label})")
        self.frames[-1].unreachable = True


def _resolve_chain(chain) -> list:
    """The try frames whose handlers see an exception raised under ``chain`` (outermost
    first), innermost first: a frame that delegates hands over to its delegate chain."""
    out = []
    i = len(chain) - 1
    while i >= 0:
        f = chain[i]
        if f.delegate is not None:
            return out + _resolve_chain(f.delegate)
        out.append(f)
        i -= 1
    return out
