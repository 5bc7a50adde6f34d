"""How each non-control instruction becomes Python: expression templates for the pure
operations, statements for the ones with effects or traps.

Templates use ``{a}``, ``{b}``, ``{c}`` for the operands in stack order.  Names the generated
code calls (``N_i32_div_s``, ``U32``, ``mem0`` ...) are bound in the instance namespace built
by :mod:`wasmforge.interp.compiler`.
"""

from __future__ import annotations

from ..numerics.bits import f32_from_bits, f64_from_bits
from ..numerics.scalar import IMPL as SCALAR
from ..opcodes import memidx_of
from ..runtime.gc import default_of
from ..types import ref_parts

M32 = "0xFFFFFFFF"
M64 = "0xFFFFFFFFFFFFFFFF"

CONTROL = {
    "unreachable": "do_unreachable", "nop": "do_nop", "block": "do_block", "loop": "do_loop",
    "if": "do_if", "else": "do_else", "end": "do_end", "br": "do_br", "br_if": "do_br_if",
    "br_table": "do_br_table", "return": "do_return",
    "br_on_null": "do_br_on_null", "br_on_non_null": "do_br_on_non_null",
    "br_on_cast": "do_br_on_cast", "br_on_cast_fail": "do_br_on_cast",
    # exception handling (flat translation only, see FunctionTranslator.assemble_flat)
    "try_table": "do_try_table", "throw": "do_throw", "throw_ref": "do_throw_ref",
    "try": "do_try", "catch": "do_catch", "catch_all": "do_catch_all",
    "delegate": "do_delegate", "rethrow": "do_rethrow",
}


def helper_name(opname: str) -> str:
    """The namespace name of the numerics function implementing ``opname``."""
    return "N_" + opname.replace(".", "_")


# Pure value-producing templates.
PURE = {
    "i32.add": f"(({{a}} + {{b}}) & {M32})",
    "i32.sub": f"(({{a}} - {{b}}) & {M32})",
    "i32.mul": f"(({{a}} * {{b}}) & {M32})",
    "i32.and": "({a} & {b})",
    "i32.or": "({a} | {b})",
    "i32.xor": "({a} ^ {b})",
    "i32.shl": f"(({{a}} << ({{b}} & 31)) & {M32})",
    "i32.shr_u": "({a} >> ({b} & 31))",
    "i32.shr_s": f"(((({{a}} ^ 0x80000000) - 0x80000000) >> ({{b}} & 31)) & {M32})",
    "i32.clz": "(32 - ({a}).bit_length())",
    "i32.popcnt": "({a}).bit_count()",
    "i32.extend8_s": f"(((({{a}} & 0xFF) ^ 0x80) - 0x80) & {M32})",
    "i32.extend16_s": f"(((({{a}} & 0xFFFF) ^ 0x8000) - 0x8000) & {M32})",
    "i64.add": f"(({{a}} + {{b}}) & {M64})",
    "i64.sub": f"(({{a}} - {{b}}) & {M64})",
    "i64.mul": f"(({{a}} * {{b}}) & {M64})",
    "i64.and": "({a} & {b})",
    "i64.or": "({a} | {b})",
    "i64.xor": "({a} ^ {b})",
    "i64.shl": f"(({{a}} << ({{b}} & 63)) & {M64})",
    "i64.shr_u": "({a} >> ({b} & 63))",
    "i64.shr_s": f"(((({{a}} ^ 0x8000000000000000) - 0x8000000000000000) >> ({{b}} & 63)) & {M64})",
    "i64.clz": "(64 - ({a}).bit_length())",
    "i64.popcnt": "({a}).bit_count()",
    "i64.extend8_s": f"(((({{a}} & 0xFF) ^ 0x80) - 0x80) & {M64})",
    "i64.extend16_s": f"(((({{a}} & 0xFFFF) ^ 0x8000) - 0x8000) & {M64})",
    "i64.extend32_s": f"(((({{a}} & {M32}) ^ 0x80000000) - 0x80000000) & {M64})",
    "i32.wrap_i64": f"({{a}} & {M32})",
    "i64.extend_i32_s": f"((({{a}} ^ 0x80000000) - 0x80000000) & {M64})",
    "i64.extend_i32_u": "{a}",
    "f64.add": "({a} + {b})",
    "f64.sub": "({a} - {b})",
    "f64.mul": "({a} * {b})",
    "f64.neg": "(-{a})",
    "f64.abs": "fabs({a})",
    "f64.copysign": "copysign({a}, {b})",
    "f32.add": "f32r({a} + {b})",
    "f32.sub": "f32r({a} - {b})",
    "f32.mul": "f32r({a} * {b})",
    "f32.neg": "(-{a})",
    "f32.abs": "fabs({a})",
    "f32.copysign": "copysign({a}, {b})",
    "f64.convert_i32_s": "float(({a} ^ 0x80000000) - 0x80000000)",
    "f64.convert_i32_u": "float({a})",
    "f64.convert_i64_s": "float(({a} ^ 0x8000000000000000) - 0x8000000000000000)",
    "f64.convert_i64_u": "float({a})",
    "f32.convert_i32_s": "f32r(float(({a} ^ 0x80000000) - 0x80000000))",
    "f32.convert_i32_u": "f32r(float({a}))",
    "f32.demote_f64": "f32r({a})",
    "f64.promote_f32": "({a} * 1.0)",
    "ref.is_null": None,          # a condition, below
}

# Pure templates producing a Python truth value.
COND = {
    "i32.eqz": "{a} == 0", "i64.eqz": "{a} == 0", "ref.is_null": "{a} is None",
}
for _w, _s in (("i32", "0x80000000"), ("i64", "0x8000000000000000")):
    for _n, _o in (("eq", "=="), ("ne", "!=")):
        COND[f"{_w}.{_n}"] = f"{{a}} {_o} {{b}}"
    for _n, _o in (("lt", "<"), ("gt", ">"), ("le", "<="), ("ge", ">=")):
        COND[f"{_w}.{_n}_u"] = f"{{a}} {_o} {{b}}"
        COND[f"{_w}.{_n}_s"] = f"({{a}} ^ {_s}) {_o} ({{b}} ^ {_s})"
for _w in ("f32", "f64"):
    for _n, _o in (("eq", "=="), ("ne", "!="), ("lt", "<"), ("gt", ">"), ("le", "<="), ("ge", ">=")):
        COND[f"{_w}.{_n}"] = f"{{a}} {_o} {{b}}"
del PURE["ref.is_null"]

# Operations that can trap: evaluated at once, in order with other effects.
TRAPPING = {
    "i32.div_s", "i32.div_u", "i32.rem_s", "i32.rem_u",
    "i64.div_s", "i64.div_u", "i64.rem_s", "i64.rem_u",
    "i32.trunc_f32_s", "i32.trunc_f32_u", "i32.trunc_f64_s", "i32.trunc_f64_u",
    "i64.trunc_f32_s", "i64.trunc_f32_u", "i64.trunc_f64_s", "i64.trunc_f64_u",
}

# Loads: (struct name or None for a byte, access size, post-processing template on {v}).
LOADS = {
    "i32.load": ("U32", 4, "{v}"),
    "i64.load": ("U64", 8, "{v}"),
    "f64.load": ("UF64", 8, "{v}"),
    "i32.load8_u": (None, 1, "{v}"),
    "i32.load8_s": (None, 1, f"((({{v}} ^ 0x80) - 0x80) & {M32})"),
    "i32.load16_u": ("U16", 2, "{v}"),
    "i32.load16_s": ("S16", 2, f"({{v}} & {M32})"),
    "i64.load8_u": (None, 1, "{v}"),
    "i64.load8_s": (None, 1, f"((({{v}} ^ 0x80) - 0x80) & {M64})"),
    "i64.load16_u": ("U16", 2, "{v}"),
    "i64.load16_s": ("S16", 2, f"({{v}} & {M64})"),
    "i64.load32_u": ("U32", 4, "{v}"),
    "i64.load32_s": ("S32", 4, f"({{v}} & {M64})"),
}
# Stores: (struct name or None for a byte, access size, mask of the stored bits or None).
STORES = {
    "i32.store": ("P32", 4, None),
    "i64.store": ("P64", 8, None),
    "f64.store": ("PF64", 8, None),
    "i32.store8": (None, 1, 0xFF),
    "i32.store16": ("P16", 2, 0xFFFF),
    "i64.store8": (None, 1, 0xFF),
    "i64.store16": ("P16", 2, 0xFFFF),
    "i64.store32": ("P32", 4, 0xFFFFFFFF),
}


def _is_lit(e) -> bool:
    return not e.refs and e.expr.isdigit()


def emit_instr(tr, ins) -> None:
    """Translate the non-control instruction ``ins`` for the translator ``tr``."""
    op = ins[0]
    name = op.name
    tmpl = PURE.get(name)
    if tmpl is not None:
        _pure(tr, name, tmpl, len(op.params))
        return
    tmpl = COND.get(name)
    if tmpl is not None:
        n = 2 if op.family == "relop" else 1      # eqz and ref.is_null take one
        args = tr.pop_n(n)
        if _fold(tr, name, args):
            return
        refs = frozenset().union(*(a.refs for a in args))
        vals = [a.value() for a in args]
        if op.operator in ("lt_s", "gt_s", "le_s", "ge_s"):
            # Signed order is unsigned order with the sign bit flipped; flip literals now.
            sign = 0x80000000 if op.type == "i32" else 0x8000000000000000
            vals = [str(int(a.expr) ^ sign) if _is_lit(a) else f"({v} ^ {sign:#x})"
                    for a, v in zip(args, vals)]
            tmpl = "{a} " + COND[name].split()[3] + " {b}"
        tr.push(tmpl.format(**dict(zip("ab", vals))), refs, cond=True)
        return
    fn = _SPECIAL.get(name)
    if fn is not None:
        fn(tr, ins)
        return
    if name in LOADS:
        _load(tr, ins)
        return
    if name in STORES:
        _store(tr, ins)
        return
    if name in TRAPPING:
        args = tr.pop_n(len(op.params))
        if name in ("i32.div_u", "i64.div_u", "i32.rem_u", "i64.rem_u") and _is_lit(args[1]) \
                and int(args[1].expr):
            # A constant non-zero divisor cannot trap: inline and keep it symbolic.
            o = "//" if "div" in name else "%"
            tr.push(f"({args[0].value()} {o} {args[1].expr})", args[0].refs)
            return
        call = f"{helper_name(name)}({', '.join(a.value() for a in args)})"
        tr.result_to_slot(call)
        return
    if name in SCALAR:
        args = tr.pop_n(len(op.params))
        refs = frozenset().union(*(a.refs for a in args))
        tr.push(f"{helper_name(name)}({', '.join(a.value() for a in args)})", refs)
        return
    if op.prefix == 0xFD:
        _simd(tr, ins)
        return
    if op.family == "atomic":
        _atomic(tr, ins)
        return
    raise NotImplementedError(f"interp: no translation for {name}")


def translation_of(op) -> str | None:
    """How the translator handles ``op``, looked up in the order :func:`emit_instr` looks: the
    translator method of a control instruction (``do_...``), the table holding it (``"pure"``,
    ``"cond"``, ``"special"``, ``"load"``, ``"store"``, ``"trapping"``, ``"scalar"``; the last
    two call ``N_<name>``, bound from the scalar numerics), ``"simd"`` for the SIMD memory
    accesses translated inline, or the ``V_<name>`` that a SIMD instruction calls (bound from
    the SIMD numerics by interp.compiler).  None when nothing translates it: what
    tests/test_op_coverage.py checks for every instruction of the opcode table."""
    name = op.name
    if name in CONTROL:
        return CONTROL[name]
    for label, table in (("pure", PURE), ("cond", COND), ("special", _SPECIAL), ("load", LOADS),
                         ("store", STORES), ("trapping", TRAPPING), ("scalar", SCALAR)):
        if name in table:
            return label
    if op.prefix == 0xFD:
        if name == "v128.store" or op.imm == "memarg_lane":
            return "simd"
        return "V_" + name.replace(".", "_")
    if op.family == "atomic":
        return "atomic"
    return None


def _fold(tr, name, args) -> bool:
    """Push the result of an integer operation on literal operands, computed now."""
    if name[0] != "i" or not all(_is_lit(a) for a in args):
        return False
    tr.push(str(SCALAR[name](*(int(a.expr) for a in args))))
    return True


def _pure(tr, name, tmpl, n):
    args = tr.pop_n(n)
    if n and _fold(tr, name, args):
        return
    vals = [a.value() for a in args]
    if n == 2 and _is_lit(args[1]) and name.split(".")[1] in ("shl", "shr_u", "shr_s"):
        # A constant shift count: fold the modulo.
        k = int(args[1].expr) & (31 if name[1] == "3" else 63)
        tmpl = tmpl.replace("({b} & 31)", str(k)).replace("({b} & 63)", str(k))
    refs = frozenset().union(*(a.refs for a in args)) if n else frozenset()
    tr.push(tmpl.format(**dict(zip("ab", vals))), refs)


# ----- constants, variables, select -----

def _i32_const(tr, ins):
    tr.push(str(ins[1] & 0xFFFFFFFF))


def _i64_const(tr, ins):
    tr.push(str(ins[1] & 0xFFFFFFFFFFFFFFFF))


def _f32_const(tr, ins):
    tr.push(tr.float_literal(f32_from_bits(ins[1])))


def _f64_const(tr, ins):
    tr.push(tr.float_literal(f64_from_bits(ins[1])))


def _v128_const(tr, ins):
    tr.push(str(ins[1]))


def _drop(tr, ins):
    tr.pop()


def _select(tr, ins):
    a, b, c = tr.pop_n(3)
    refs = a.refs | b.refs | c.refs
    tr.push(f"({a.value()} if {c.test()} else {b.value()})", refs)


def _local_get(tr, ins):
    tr.push_var(f"l{ins[1]}")


def _local_set(tr, ins):
    e = tr.pop()
    tr.assign(f"l{ins[1]}", e.value(), keep=e)


def _local_tee(tr, ins):
    e = tr.pop()
    var = f"l{ins[1]}"
    tr.assign(var, e.value(), keep=e)
    tr.extra.clear()
    tr.push_var(var)


def _global_get(tr, ins):
    g = f"g{ins[1]}"
    tr.push(f"{g}.value", frozenset((g,)))


def _global_set(tr, ins):
    e = tr.pop()
    g = f"g{ins[1]}"
    tr.forget_globals(g)
    tr.emit(f"{g}.value = {e.value()}")


# ----- calls -----

def _call(tr, ins):
    idx = ins[1]
    ft = tr.func_types[idx]
    args = tr.pop_n(len(ft.params))
    tr.forget_globals()
    argstr = ", ".join(a.value() for a in args)
    if idx < tr.nimported_funcs:
        call = f"F{idx}.call({argstr})"
    else:
        call = f"f{idx}({argstr})"
    tr.results_to_slots(call, len(ft.results))
    tr.msz_stale = True


def _emit_indirect_callee(tr, i, typeidx, tableidx) -> None:
    """Emit the lookup of table ``tableidx`` at the entry ``i`` into ``fi``, with the
    traps of call_indirect (out of bounds, null, signature mismatch)."""
    tr.forget_globals()
    v = tr.simple(i)
    t = f"T{tableidx}"
    tr.emit(f"fi = {t}[{v}] if {v} < len({t}) else undefined_element()")
    tr.emit(f"if fi is None: uninitialized_element({v})")
    # GC: a function of a declared subtype of the type passes too (spec 3.0 call_indirect)
    tr.emit(f"if fi.type is not TY{typeidx} and fi.type != TY{typeidx} "
            f"and not func_type_matches(fi.type, TY{typeidx}): type_mismatch()")


def _call_indirect(tr, ins):
    typeidx, tableidx = ins[1], ins[2]
    ft = tr.module.types[typeidx]
    i = tr.pop()
    args = tr.pop_n(len(ft.params))
    _emit_indirect_callee(tr, i, typeidx, tableidx)
    tr.results_to_slots(f"fi.call({', '.join(a.value() for a in args)})", len(ft.results))
    tr.msz_stale = True


def emit_tail_call(tr, callee: str, args) -> None:
    """End the function with a tail call of the Python callable ``callee`` (an expression)
    on the entries ``args``: the body returns the marker its trampoline runs (see
    runtime/support.py, "tail calls"), so the caller's frame is gone before the callee
    starts.  Shared by every tail-calling instruction."""
    tr.forget_globals()
    argstr = "".join(a.value() + ", " for a in args)
    tr.emit(f"return TCALL({callee}, ({argstr}))")
    tr.frames[-1].unreachable = True


def _return_call(tr, ins):
    idx = ins[1]
    args = tr.pop_n(len(tr.func_types[idx].params))
    emit_tail_call(tr, f"F{idx}.call" if idx < tr.nimported_funcs else f"f{idx}", args)


def _return_call_indirect(tr, ins):
    typeidx, tableidx = ins[1], ins[2]
    ft = tr.module.types[typeidx]
    i = tr.pop()
    args = tr.pop_n(len(ft.params))
    _emit_indirect_callee(tr, i, typeidx, tableidx)
    emit_tail_call(tr, "fi.call", args)


def _call_ref(tr, ins):
    # function-references: call the function reference on top of the stack (null traps).
    ft = tr.module.types[ins[1]]
    r = tr.pop()
    args = tr.pop_n(len(ft.params))
    tr.forget_globals()
    v = tr.simple(r)
    tr.emit(f"if {v} is None: null_func_reference()")
    if ins[0].name == "return_call_ref":
        emit_tail_call(tr, f"{v}.call", args)
    else:
        tr.results_to_slots(f"{v}.call({', '.join(a.value() for a in args)})", len(ft.results))
    tr.msz_stale = True


def _ref_as_non_null(tr, ins):
    v = tr.simple(tr.pop())
    tr.emit(f"if {v} is None: null_reference()")
    tr.push_var(v)


# ----- memory -----

def _address(tr, e, off: int, size: int, mem: int = 0):
    """(effective address expression, bounds condition) for an access at ``e + off`` into
    memory ``mem``.  Memory 0's size is kept in the local ``msz``; another memory's
    (multi-memory) is read at each access.  Addresses are Python ints, so a 64-bit address
    plus a 64-bit offset cannot wrap (memory64)."""
    if mem:
        bound = f"mem{mem}.size"
    else:
        tr.need_msz()
        bound = "msz"
    if _is_lit(e):
        ea = int(e.expr) + off
        return str(ea), f"{ea + size} <= {bound}"
    a = tr.simple(e)
    ea = f"{a} + {off}" if off else a
    if off + size == 1:
        return ea, f"{a} < {bound}"
    return ea, f"{a} + {off + size} <= {bound}"


def _mem64(tr, mem: int) -> bool:
    """Whether memory ``mem`` of the module is a 64-bit memory (memory64)."""
    return tr.module.mem_types()[mem].is_64


def _load(tr, ins):
    name = ins[0].name
    fmt, size, post = LOADS[name]
    e = tr.pop()
    k = memidx_of(ins)
    ea, ok = _address(tr, e, ins[2], size, k)
    raw = f"M{k}[{ea}]" if fmt is None else f"{fmt}(M{k}, {ea})[0]"
    tr.result_to_slot(f"{post.format(v=raw)} if {ok} else oob()")


def _store(tr, ins):
    name = ins[0].name
    fmt, size, mask = STORES[name]
    a, v = tr.pop_n(2)
    k = memidx_of(ins)
    ea, ok = _address(tr, a, ins[2], size, k)
    tr.emit(f"if not ({ok}): oob()")
    if mask is None:
        val = v.value()
    elif _is_lit(v):
        val = str(int(v.expr) & mask)
    else:
        val = f"{v.value()} & {mask:#x}"
    if fmt is None:
        tr.emit(f"M{k}[{ea}] = {val}")
    else:
        tr.emit(f"{fmt}(M{k}, {ea}, {val})")


def _f32_load(tr, ins):
    e = tr.pop()
    k = memidx_of(ins)
    ea, ok = _address(tr, e, ins[2], 4, k)
    tr.result_to_slot(f"f32_load(M{k}, {ea}) if {ok} else oob()")


def _f32_store(tr, ins):
    a, v = tr.pop_n(2)
    k = memidx_of(ins)
    ea, ok = _address(tr, a, ins[2], 4, k)
    tr.emit(f"if not ({ok}): oob()")
    tr.emit(f"P32(M{k}, {ea}, f32_bits({v.value()}))")


def _memory_size(tr, ins):
    k = ins[1]
    if k:
        tr.result_to_slot(f"mem{k}.size >> 16")
        return
    tr.need_msz()
    tr.result_to_slot("msz >> 16")


def _memory_grow(tr, ins):
    e = tr.pop()
    k = ins[1]
    mask = M64 if _mem64(tr, k) else M32
    tr.result_to_slot(f"mem{k}.grow({e.value()}) & {mask}")
    tr.msz_stale = True


def _memory_fill(tr, ins):
    d, v, n = tr.pop_n(3)
    tr.emit(f"memory_fill(mem{ins[1]}, {d.value()}, {v.value()}, {n.value()})")


def _memory_copy(tr, ins):
    d, s, n = tr.pop_n(3)
    dst, src = ins[1], ins[2]
    if dst == src:
        tr.emit(f"memory_copy(mem{dst}, {d.value()}, {s.value()}, {n.value()})")
    else:
        tr.emit(f"memory_copy_between(mem{dst}, mem{src}, {d.value()}, {s.value()}, {n.value()})")


def _memory_init(tr, ins):
    d, s, n = tr.pop_n(3)
    tr.emit(f"memory_init(mem{ins[2]}, DATAS, {ins[1]}, {d.value()}, {s.value()}, {n.value()})")


def _data_drop(tr, ins):
    tr.emit(f"DATAS[{ins[1]}] = b''")


# ----- tables and references -----

def _fdiv(tr, ins):
    # Inline except for a zero divisor, where Python raises instead of returning inf/NaN.
    name = ins[0].name
    a, b = tr.pop_n(2)
    bv = tr.simple(b)
    expr = f"({a.value()} / {bv} if {bv} else {helper_name(name)}({a.value()}, {bv}))"
    if name == "f32.div":
        expr = f"f32r{expr}"
    tr.push(expr, a.refs | frozenset((bv,)))


def _fsqrt(tr, ins):
    # Inline for non-negative operands; NaNs and negatives go to the helper.
    name = ins[0].name
    a = tr.simple(tr.pop())
    expr = f"(sqrt({a}) if {a} >= 0.0 else {helper_name(name)}({a}))"
    if name == "f32.sqrt":
        expr = f"f32r{expr}"
    tr.push(expr, frozenset((a,)))


def _ref_null(tr, ins):
    tr.push("None")


def _ref_func(tr, ins):
    tr.push(f"FI[{ins[1]}]")


def _table_get(tr, ins):
    e = tr.pop()
    t = f"T{ins[1]}"
    v = tr.simple(e)
    tr.result_to_slot(f"{t}[{v}] if {v} < len({t}) else table_oob()")


def _table_set(tr, ins):
    i, r = tr.pop_n(2)
    t = f"T{ins[1]}"
    v = tr.simple(i)
    tr.emit(f"if {v} >= len({t}): table_oob()")
    tr.emit(f"{t}[{v}] = {r.value()}")


def _table64(tr, x: int) -> bool:
    """Whether table ``x`` of the module is a 64-bit table (memory64)."""
    return tr.module.table_types()[x].is_64


def _table_size(tr, ins):
    tr.result_to_slot(f"len(T{ins[1]})")


# With fuel, the bulk instructions also cost the elements they write (runtime/metering.py),
# charged after their bounds check and before they write anything.

def _charge(tr, cost: str) -> None:
    tr.emit(f"FUEL -= {cost}")
    tr.emit("if FUEL < 0: out_of_fuel()")


def _table_grow(tr, ins):
    r, n = tr.pop_n(2)
    if tr.fuel:
        tr.simple(n)
        _charge(tr, f"TAB{ins[1]}.grow_cost({n.value()})")
    mask = M64 if _table64(tr, ins[1]) else M32
    tr.result_to_slot(f"TAB{ins[1]}.grow({n.value()}, {r.value()}) & {mask}")


def _table_fill(tr, ins):
    i, r, n = tr.pop_n(3)
    if tr.fuel:
        tr.simple(i), tr.simple(n)
        _charge(tr, f"table_fill_n(T{ins[1]}, {i.value()}, {n.value()})")
    tr.emit(f"table_fill(T{ins[1]}, {i.value()}, {r.value()}, {n.value()})")


def _table_copy(tr, ins):
    d, s, n = tr.pop_n(3)
    if tr.fuel:
        tr.simple(d), tr.simple(s), tr.simple(n)
        _charge(tr, f"table_copy_n(T{ins[1]}, T{ins[2]}, {d.value()}, {s.value()}, {n.value()})")
    tr.emit(f"table_copy(T{ins[1]}, T{ins[2]}, {d.value()}, {s.value()}, {n.value()})")


def _table_init(tr, ins):
    d, s, n = tr.pop_n(3)
    if tr.fuel:
        tr.simple(d), tr.simple(s), tr.simple(n)
        _charge(tr, f"table_init_n(T{ins[2]}, ELEMS, {ins[1]}, {d.value()}, {s.value()}, "
                    f"{n.value()})")
    tr.emit(f"table_init(T{ins[2]}, ELEMS, {ins[1]}, {d.value()}, {s.value()}, {n.value()})")


def _elem_drop(tr, ins):
    tr.emit(f"ELEMS[{ins[1]}] = []")


# ----- SIMD: calls into wasmforge.numerics.simd -----

_LANE_BITS = {"8": 8, "16": 16, "32": 32, "64": 64}


def _simd(tr, ins):
    op = ins[0]
    name = op.name
    ident = "V_" + name.replace(".", "_")
    if op.imm == "memarg":
        k = memidx_of(ins)
        if name == "v128.store":
            a, v = tr.pop_n(2)
            ea, ok = _address(tr, a, ins[2], 16, k)
            tr.emit(f"if not ({ok}): oob()")
            tr.emit(f"M{k}[{ea}:{ea} + 16] = ({v.value()}).to_bytes(16, 'little')")
            return
        size = 1 << op.align
        e = tr.pop()
        ea, ok = _address(tr, e, ins[2], size, k)
        tr.result_to_slot(f"{ident}(M{k}[{ea}:{ea} + {size}]) if {ok} else oob()")
        return
    if op.imm == "memarg_lane":
        bits = 8 << op.align
        size = bits // 8
        lane, k = ins[3], memidx_of(ins)
        a, v = tr.pop_n(2)
        vv = tr.simple(v)
        ea, ok = _address(tr, a, ins[2], size, k)
        if "load" in name:
            tr.result_to_slot(f"lane_set({vv}, {bits}, {lane}, "
                              f"from_le(M{k}[{ea}:{ea} + {size}])) if {ok} else oob()")
        else:
            tr.emit(f"if not ({ok}): oob()")
            tr.emit(f"M{k}[{ea}:{ea} + {size}] = lane_get({vv}, {bits}, {lane})"
                    f".to_bytes({size}, 'little')")
        return
    args = tr.pop_n(len(op.params))
    vals = [a.value() for a in args]
    if op.imm == "laneidx":
        vals.append(str(ins[1]))
    elif op.imm == "shuffle":
        vals.append(repr(tuple(ins[1])))
    refs = frozenset().union(*(a.refs for a in args)) if args else frozenset()
    tr.push(f"{ident}({', '.join(vals)})", refs)


# ----- threads: atomic accesses through wasmforge.runtime.atomics (bound as A_*) -----

def _atomic(tr, ins):
    op = ins[0]
    rest = op.operator[len("atomic."):]          # load8_u, rmw16.add_u, wait32, notify ...
    size = 1 << op.align
    k = memidx_of(ins)
    args = [a.value() for a in tr.pop_n(len(op.params))]
    ea = f"{args[0]} + {ins[2]}" if ins[2] else args[0]
    if rest.startswith("load"):
        tr.result_to_slot(f"A_load(mem{k}, {ea}, {size})")
    elif rest.startswith("store"):
        tr.emit(f"A_store(mem{k}, {ea}, {size}, {args[1]})")
    elif rest == "notify":
        tr.result_to_slot(f"A_notify(mem{k}, {ea}, {args[1]})")
    elif rest.startswith("wait"):
        tr.result_to_slot(f"A_wait(mem{k}, {ea}, {size}, {args[1]}, {args[2]})")
        tr.msz_stale = True          # another thread may have grown the memory meanwhile
    elif rest.endswith(("cmpxchg", "cmpxchg_u")):
        tr.result_to_slot(f"A_cmpxchg(mem{k}, {ea}, {size}, {args[1]}, {args[2]})")
    else:                                        # rmw[N].<op>[_u]
        rmw_op = rest.split(".")[1].removesuffix("_u")
        tr.result_to_slot(f"A_rmw(mem{k}, {ea}, {size}, {rmw_op!r}, {args[1]})")


def _atomic_fence(tr, ins):
    # Every atomic access is sequentially consistent already (runtime/atomics.py).
    pass


# ----- GC: objects of wasmforge.runtime.gc (bound as GC_*, Struct, Array, I31) -----
#
# Field and element reads are evaluated where they stand (result_to_slot): a later
# struct.set or array.set must not change a value already on the stack.

_PACK = {"i8": " & 0xFF", "i16": " & 0xFFFF"}
_SEXT = {"i8": "GC_sext8", "i16": "GC_sext16"}


def _stored(f, e) -> str:
    """The operand ``e`` as a field of ``f`` stores it (packed ones wrapped)."""
    mask = _PACK.get(f.storage)
    return f"({e.value()}{mask})" if mask else e.value()


def _loaded(name: str, f, expr: str) -> str:
    if name.endswith("_s"):
        return f"{_SEXT[f.storage]}({expr})"
    return expr


def heap_expr(t: str):
    """(heap expression, nullable) of a reference type immediate: a type index is the
    namespace's closed heap form ``HP<x>``, an abstract heap type its name."""
    nullable, heap = ref_parts(t)
    return (f"HP{heap}" if isinstance(heap, int) else repr(heap)), nullable


def _struct_new(tr, ins):
    x = ins[1]
    st = tr.module.types[x]
    args = tr.pop_n(len(st.fields))
    vals = ", ".join(_stored(f, a) for f, a in zip(st.fields, args))
    tr.result_to_slot(f"Struct(HP{x}, [{vals}])")


def _struct_new_default(tr, ins):
    x = ins[1]
    st = tr.module.types[x]
    tr.result_to_slot(f"Struct(HP{x}, {[default_of(f.storage) for f in st.fields]!r})")


def _struct_get(tr, ins):
    x, i = ins[1], ins[2]
    f = tr.module.types[x].fields[i]
    r = tr.simple(tr.pop())
    tr.extra.clear()
    tr.emit(f"if {r} is None: GC_null_struct()")
    tr.result_to_slot(_loaded(ins[0].name, f, f"{r}.fields[{i}]"))


def _struct_set(tr, ins):
    x, i = ins[1], ins[2]
    f = tr.module.types[x].fields[i]
    r, v = tr.pop_n(2)
    rv = tr.simple(r)
    tr.emit(f"if {rv} is None: GC_null_struct()")
    tr.emit(f"{rv}.fields[{i}] = {_stored(f, v)}")


def _array_new(tr, ins):
    # With fuel, an array costs its elements too (runtime/metering.py, BULK_ARRAY), charged
    # after the instruction's checks and before it allocates.
    x = ins[1]
    f = tr.module.types[x].field
    name = ins[0].name
    if name == "array.new":
        v, n = tr.pop_n(2)
        if tr.fuel:
            tr.simple(n)
            _charge(tr, f"GC_array_new_n({n.value()})")
        tr.result_to_slot(f"GC_array_new(HP{x}, {_stored(f, v)}, {n.value()})")
    elif name == "array.new_default":
        n = tr.pop()
        if tr.fuel:
            tr.simple(n)
            _charge(tr, f"GC_array_new_n({n.value()})")
        tr.result_to_slot(f"GC_array_new(HP{x}, {default_of(f.storage)!r}, {n.value()})")
    elif name == "array.new_fixed":
        args = tr.pop_n(ins[2])
        if tr.fuel and ins[2]:
            _charge(tr, str(ins[2]))
        tr.result_to_slot(f"Array(HP{x}, [{', '.join(_stored(f, a) for a in args)}])")
    elif name == "array.new_data":
        s, n = tr.pop_n(2)
        if tr.fuel:
            tr.simple(s), tr.simple(n)
            _charge(tr, f"GC_array_new_data_n({f.storage!r}, DATAS, {ins[2]}, {s.value()}, {n.value()})")
        tr.result_to_slot(f"GC_array_new_data(HP{x}, {f.storage!r}, DATAS, {ins[2]}, {s.value()}, "
                          f"{n.value()})")
    else:
        s, n = tr.pop_n(2)
        if tr.fuel:
            tr.simple(s), tr.simple(n)
            _charge(tr, f"GC_array_new_elem_n(ELEMS, {ins[2]}, {s.value()}, {n.value()})")
        tr.result_to_slot(f"GC_array_new_elem(HP{x}, ELEMS, {ins[2]}, {s.value()}, {n.value()})")


def _array_get(tr, ins):
    f = tr.module.types[ins[1]].field
    a, i = tr.pop_n(2)
    tr.result_to_slot(_loaded(ins[0].name, f, f"GC_array_get({a.value()}, {i.value()})"))


def _array_set(tr, ins):
    f = tr.module.types[ins[1]].field
    a, i, v = tr.pop_n(3)
    tr.emit(f"GC_array_set({a.value()}, {i.value()}, {_stored(f, v)})")


def _array_len(tr, ins):
    a = tr.pop()
    tr.result_to_slot(f"GC_array_len({a.value()})")


def _array_fill(tr, ins):
    f = tr.module.types[ins[1]].field
    a, d, v, n = tr.pop_n(4)
    if tr.fuel:
        tr.simple(a), tr.simple(d), tr.simple(n)
        _charge(tr, f"GC_array_fill_n({a.value()}, {d.value()}, {n.value()})")
    tr.emit(f"GC_array_fill({a.value()}, {d.value()}, {_stored(f, v)}, {n.value()})")


def _array_copy(tr, ins):
    a, d, b, s, n = tr.pop_n(5)
    if tr.fuel:
        for e in (a, d, b, s, n):
            tr.simple(e)
        _charge(tr, f"GC_array_copy_n({a.value()}, {d.value()}, {b.value()}, {s.value()}, {n.value()})")
    tr.emit(f"GC_array_copy({a.value()}, {d.value()}, {b.value()}, {s.value()}, {n.value()})")


def _array_init(tr, ins):
    f = tr.module.types[ins[1]].field
    a, d, s, n = tr.pop_n(4)
    if tr.fuel:
        for e in (a, d, s, n):
            tr.simple(e)
        if ins[0].name == "array.init_data":
            _charge(tr, f"GC_array_init_data_n({a.value()}, {f.storage!r}, DATAS, {ins[2]}, "
                        f"{d.value()}, {s.value()}, {n.value()})")
        else:
            _charge(tr, f"GC_array_init_elem_n({a.value()}, ELEMS, {ins[2]}, {d.value()}, "
                        f"{s.value()}, {n.value()})")
    if ins[0].name == "array.init_data":
        tr.emit(f"GC_array_init_data({a.value()}, {f.storage!r}, DATAS, {ins[2]}, {d.value()}, "
                f"{s.value()}, {n.value()})")
    else:
        tr.emit(f"GC_array_init_elem({a.value()}, ELEMS, {ins[2]}, {d.value()}, {s.value()}, "
                f"{n.value()})")


def _ref_i31(tr, ins):
    a = tr.pop()
    tr.push(f"I31({a.value()} & 0x7FFFFFFF)", a.refs)


def _i31_get(tr, ins):
    v = tr.simple(tr.pop())
    tr.extra.clear()
    get = "GC_i31_get_s(" + v + ".value)" if ins[0].name == "i31.get_s" else v + ".value"
    tr.result_to_slot(f"{get} if {v} is not None else GC_null_i31()")


def _ref_eq(tr, ins):
    a, b = tr.pop_n(2)
    tr.result_to_slot(f"GC_ref_eq({a.value()}, {b.value()})")


def _ref_test(tr, ins):
    heap, nullable = heap_expr(ins[1])
    v = tr.pop()
    if ins[0].name == "ref.test":
        tr.result_to_slot(f"int(GC_ref_test({v.value()}, {heap}, {nullable}))")
    else:
        tr.result_to_slot(f"GC_cast({v.value()}, {heap}, {nullable})")


def _convert(tr, ins):
    v = tr.pop()
    fn = "GC_any_convert_extern" if ins[0].name == "any.convert_extern" else "GC_extern_convert_any"
    tr.result_to_slot(f"{fn}({v.value()})")


_SPECIAL = {
    "i32.const": _i32_const, "i64.const": _i64_const, "f32.const": _f32_const,
    "f64.const": _f64_const, "v128.const": _v128_const,
    "drop": _drop, "select": _select,
    "local.get": _local_get, "local.set": _local_set, "local.tee": _local_tee,
    "global.get": _global_get, "global.set": _global_set,
    "call": _call, "call_indirect": _call_indirect,
    "return_call": _return_call, "return_call_indirect": _return_call_indirect,
    "f32.load": _f32_load, "f32.store": _f32_store,
    "f32.div": _fdiv, "f64.div": _fdiv, "f32.sqrt": _fsqrt, "f64.sqrt": _fsqrt,
    "memory.size": _memory_size, "memory.grow": _memory_grow, "memory.fill": _memory_fill,
    "memory.copy": _memory_copy, "memory.init": _memory_init, "data.drop": _data_drop,
    "ref.null": _ref_null, "ref.func": _ref_func,
    "call_ref": _call_ref, "return_call_ref": _call_ref, "ref.as_non_null": _ref_as_non_null,
    "table.get": _table_get, "table.set": _table_set, "table.size": _table_size,
    "table.grow": _table_grow, "table.fill": _table_fill, "table.copy": _table_copy,
    "table.init": _table_init, "elem.drop": _elem_drop,
    "atomic.fence": _atomic_fence,
    # GC
    "struct.new": _struct_new, "struct.new_default": _struct_new_default,
    "struct.get": _struct_get, "struct.get_s": _struct_get, "struct.get_u": _struct_get,
    "struct.set": _struct_set,
    "array.new": _array_new, "array.new_default": _array_new, "array.new_fixed": _array_new,
    "array.new_data": _array_new, "array.new_elem": _array_new,
    "array.get": _array_get, "array.get_s": _array_get, "array.get_u": _array_get,
    "array.set": _array_set, "array.len": _array_len, "array.fill": _array_fill,
    "array.copy": _array_copy, "array.init_data": _array_init, "array.init_elem": _array_init,
    "ref.i31": _ref_i31, "i31.get_s": _i31_get, "i31.get_u": _i31_get, "ref.eq": _ref_eq,
    "ref.test": _ref_test, "ref.cast": _ref_test,
    "any.convert_extern": _convert, "extern.convert_any": _convert,
}
