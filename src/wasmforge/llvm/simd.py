"""Lowering of the 0xFD (SIMD) instructions to LLVM vector operations.

A v128 lives as ``<16 x i8>``; each instruction bitcasts it to the vector shape it works on
(``<4 x float>`` for f32x4 ...), which costs nothing in machine code.  Importing this module
registers its handlers in :data:`wasmforge.llvm.ops.HANDLERS`.
"""

from __future__ import annotations

from ..numerics.bits import MASK64
from ..opcodes import memidx_of
from . import ops as C
from .prelude import DECLS, MEM_TBAA

V = "<16 x i8>"
# shape -> (vector type, lane type, lanes, lane bits)
SHAPES = {
    "i8x16": ("<16 x i8>", "i8", 16, 8), "i16x8": ("<8 x i16>", "i16", 8, 16),
    "i32x4": ("<4 x i32>", "i32", 4, 32), "i64x2": ("<2 x i64>", "i64", 2, 64),
    "f32x4": ("<4 x float>", "float", 4, 32), "f64x2": ("<2 x double>", "double", 2, 64),
}
_SCALAR = {"i8x16": "i32", "i16x8": "i32", "i32x4": "i32", "i64x2": "i64", "f32x4": "f32", "f64x2": "f64"}
_SFX = {"<16 x i8>": "v16i8", "<8 x i16>": "v8i16", "<4 x i32>": "v4i32", "<2 x i64>": "v2i64",
        "<4 x float>": "v4f32", "<2 x double>": "v2f64", "<8 x i8>": "v8i8", "<4 x i16>": "v4i16",
        "<2 x i32>": "v2i32", "<16 x i1>": "v16i1", "<8 x i1>": "v8i1", "<4 x i1>": "v4i1",
        "<2 x i1>": "v2i1", "<2 x float>": "v2f32", "<8 x i32>": "v8i32", "<16 x i16>": "v16i16",
        "<4 x i64>": "v4i64"}

#: Instruction name -> handler, registered in ops.HANDLERS at the end of the module.
H: dict = {}


def decl(text: str) -> None:
    DECLS.add(text)


def vin(fc, vt: str) -> str:
    """Pop a v128 as a vector of type ``vt``."""
    v = fc.pop()
    if vt == V:
        return v
    r = fc.tmp()
    fc.emit(f"{r} = bitcast {V} {v} to {vt}")
    return r


def vout(fc, vt: str, v: str) -> None:
    if vt != V:
        r = fc.tmp()
        fc.emit(f"{r} = bitcast {vt} {v} to {V}")
        v = r
    fc.push("v128", v)


def splat_of(fc, vt: str, lt: str, n: int, s: str) -> str:
    a, r = fc.tmp(), fc.tmp()
    fc.emit(f"{a} = insertelement {vt} poison, {lt} {s}, i32 0")
    fc.emit(f"{r} = shufflevector {vt} {a}, {vt} poison, <{n} x i32> zeroinitializer")
    return r


def mask(idx) -> str:
    return "<" + ", ".join(f"i32 {k}" for k in idx) + ">"


def shuffle(fc, vt, a, b, idx) -> str:
    r = fc.tmp()
    fc.emit(f"{r} = shufflevector {vt} {a}, {vt} {b}, <{len(idx)} x i32> {mask(idx)}")
    return r


def call(fc, rt: str, fn: str, args) -> str:
    decl(f"declare {rt} @{fn}({', '.join(t for t, _ in args)})")
    r = fc.tmp()
    fc.emit(f"{r} = call {rt} @{fn}({', '.join(f'{t} {v}' for t, v in args)})")
    return r


def reg(name):
    def wrap(fn):
        H[name] = fn
        return fn
    return wrap


# ----- constants, shuffles, lanes -----

@reg("v128.const")
def _const(fc, ins):
    v = ins[1]
    r = fc.tmp()
    fc.emit(f"{r}.c = bitcast <2 x i64> <i64 {v & MASK64}, i64 {v >> 64}> to {V}")
    # Behind the barrier for the same reason as scalar float constants (ops._const).
    fc.emit(f"{r} = {C.opaque(V, r + '.c')}")
    fc.push("v128", r)


@reg("i8x16.shuffle")
def _shuffle(fc, ins):
    b = fc.pop()
    a = fc.pop()
    fc.push("v128", shuffle(fc, V, a, b, ins[1]))


def _swizzle_lanes(fc, keep):
    """Push the swizzle of the two popped v128: lane k = a[s[k] & 15] when the icmp
    ``keep`` (a template over ``{i}``, the i8 s[k]) holds, else 0."""
    s = fc.pop()
    a = fc.pop()
    cur = "zeroinitializer"
    for k in range(16):
        i, ok, m, e, sel, nxt = (fc.tmp() for _ in range(6))
        fc.emit(f"{i} = extractelement {V} {s}, i32 {k}")
        fc.emit(f"{ok} = icmp " + keep.format(i=i))
        fc.emit(f"{m} = and i8 {i}, 15")
        fc.emit(f"{e} = extractelement {V} {a}, i8 {m}")
        fc.emit(f"{sel} = select i1 {ok}, i8 {e}, i8 0")
        fc.emit(f"{nxt} = insertelement {V} {cur}, i8 {sel}, i32 {k}")
        cur = nxt
    fc.push("v128", cur)


@reg("i8x16.swizzle")
def _swizzle(fc, ins):
    _swizzle_lanes(fc, "ult i8 {i}, 16")


def _splat(shape):
    vt, lt, n, bits = SHAPES[shape]

    def h(fc, ins):
        s = fc.pop()
        if lt in ("i8", "i16"):
            t = fc.tmp()
            fc.emit(f"{t} = trunc i32 {s} to {lt}")
            s = t
        vout(fc, vt, splat_of(fc, vt, lt, n, s))
    return h


def _extract(shape, ext):
    vt, lt, n, bits = SHAPES[shape]

    def h(fc, ins):
        v = vin(fc, vt)
        r = fc.tmp()
        fc.emit(f"{r} = extractelement {vt} {v}, i32 {ins[1]}")
        if ext:
            w = fc.tmp()
            fc.emit(f"{w} = {ext} {lt} {r} to i32")
            r = w
        fc.push(_SCALAR[shape], r)
    return h


def _replace(shape):
    vt, lt, n, bits = SHAPES[shape]

    def h(fc, ins):
        s = fc.pop()
        v = vin(fc, vt)
        if lt in ("i8", "i16"):
            t = fc.tmp()
            fc.emit(f"{t} = trunc i32 {s} to {lt}")
            s = t
        r = fc.tmp()
        fc.emit(f"{r} = insertelement {vt} {v}, {lt} {s}, i32 {ins[1]}")
        vout(fc, vt, r)
    return h


for _sh in SHAPES:
    H[f"{_sh}.splat"] = _splat(_sh)
    H[f"{_sh}.replace_lane"] = _replace(_sh)
    if _sh in ("i8x16", "i16x8"):
        H[f"{_sh}.extract_lane_s"] = _extract(_sh, "sext")
        H[f"{_sh}.extract_lane_u"] = _extract(_sh, "zext")
    else:
        H[f"{_sh}.extract_lane"] = _extract(_sh, None)


# ----- bitwise -----

def _bitwise(op):
    def h(fc, ins):
        b = vin(fc, "<2 x i64>")
        a = vin(fc, "<2 x i64>")
        r = fc.tmp()
        if op == "andnot":
            nb = fc.tmp()
            fc.emit(f"{nb} = xor <2 x i64> {b}, <i64 -1, i64 -1>")
            fc.emit(f"{r} = and <2 x i64> {a}, {nb}")
        else:
            fc.emit(f"{r} = {op} <2 x i64> {a}, {b}")
        vout(fc, "<2 x i64>", r)
    return h


for _op in ("and", "or", "xor", "andnot"):
    H[f"v128.{_op}"] = _bitwise(_op)


@reg("v128.not")
def _not(fc, ins):
    a = vin(fc, "<2 x i64>")
    r = fc.tmp()
    fc.emit(f"{r} = xor <2 x i64> {a}, <i64 -1, i64 -1>")
    vout(fc, "<2 x i64>", r)


@reg("v128.bitselect")
def _bitselect(fc, ins):
    c = vin(fc, "<2 x i64>")
    b = vin(fc, "<2 x i64>")
    a = vin(fc, "<2 x i64>")
    x, y, nc, r = fc.tmp(), fc.tmp(), fc.tmp(), fc.tmp()
    fc.emit(f"{x} = and <2 x i64> {a}, {c}")
    fc.emit(f"{nc} = xor <2 x i64> {c}, <i64 -1, i64 -1>")
    fc.emit(f"{y} = and <2 x i64> {b}, {nc}")
    fc.emit(f"{r} = or <2 x i64> {x}, {y}")
    vout(fc, "<2 x i64>", r)


@reg("v128.any_true")
def _any_true(fc, ins):
    a = vin(fc, "i128")
    c, r = fc.tmp(), fc.tmp()
    fc.emit(f"{c} = icmp ne i128 {a}, 0")
    fc.emit(f"{r} = zext i1 {c} to i32")
    fc.push("i32", r)


# ----- integer lanes -----

def _ibin(shape, op):
    vt = SHAPES[shape][0]

    def h(fc, ins):
        b = vin(fc, vt)
        a = vin(fc, vt)
        r = fc.tmp()
        fc.emit(f"{r} = {op} {vt} {a}, {b}")
        vout(fc, vt, r)
    return h


def _iintr2(shape, fn):
    vt = SHAPES[shape][0]

    def h(fc, ins):
        b = vin(fc, vt)
        a = vin(fc, vt)
        vout(fc, vt, call(fc, vt, f"llvm.{fn}.{_SFX[vt]}", [(vt, a), (vt, b)]))
    return h


def _icmp(shape, cond):
    vt, lt, n, bits = SHAPES[shape]

    def h(fc, ins):
        b = vin(fc, vt)
        a = vin(fc, vt)
        c, r = fc.tmp(), fc.tmp()
        fc.emit(f"{c} = icmp {cond} {vt} {a}, {b}")
        fc.emit(f"{r} = sext <{n} x i1> {c} to {vt}")
        vout(fc, vt, r)
    return h


def _shift(shape, op):
    vt, lt, n, bits = SHAPES[shape]

    def h(fc, ins):
        s = fc.pop()
        a = vin(fc, vt)
        m = fc.tmp()
        fc.emit(f"{m} = and i32 {s}, {bits - 1}")
        if lt != "i32":
            t = fc.tmp()
            fc.emit(f"{t} = {'trunc' if bits < 32 else 'zext'} i32 {m} to {lt}")
            m = t
        sv = splat_of(fc, vt, lt, n, m)
        r = fc.tmp()
        fc.emit(f"{r} = {op} {vt} {a}, {sv}")
        vout(fc, vt, r)
    return h


def _iunary(shape, kind):
    vt, lt, n, bits = SHAPES[shape]

    def h(fc, ins):
        a = vin(fc, vt)
        if kind == "neg":
            r = fc.tmp()
            fc.emit(f"{r} = sub {vt} zeroinitializer, {a}")
        elif kind == "abs":
            r = call(fc, vt, f"llvm.abs.{_SFX[vt]}", [(vt, a), ("i1", "false")])
        else:
            r = call(fc, vt, f"llvm.ctpop.{_SFX[vt]}", [(vt, a)])
        vout(fc, vt, r)
    return h


def _all_true(shape):
    vt, lt, n, bits = SHAPES[shape]

    def h(fc, ins):
        a = vin(fc, vt)
        c, r = fc.tmp(), fc.tmp()
        fc.emit(f"{c} = icmp ne {vt} {a}, zeroinitializer")
        red = call(fc, "i1", f"llvm.vector.reduce.and.v{n}i1", [(f"<{n} x i1>", c)])
        fc.emit(f"{r} = zext i1 {red} to i32")
        fc.push("i32", r)
    return h


def _bitmask(shape):
    vt, lt, n, bits = SHAPES[shape]

    def h(fc, ins):
        a = vin(fc, vt)
        c, b, r = fc.tmp(), fc.tmp(), fc.tmp()
        fc.emit(f"{c} = icmp slt {vt} {a}, zeroinitializer")
        fc.emit(f"{b} = bitcast <{n} x i1> {c} to i{n}")
        fc.emit(f"{r} = zext i{n} {b} to i32")
        fc.push("i32", r)
    return h


def _avgr(shape):
    vt, lt, n, bits = SHAPES[shape]
    wt = f"<{n} x i{bits * 2}>"

    def h(fc, ins):
        b = vin(fc, vt)
        a = vin(fc, vt)
        za, zb, s, s1, sh, r = (fc.tmp() for _ in range(6))
        fc.emit(f"{za} = zext {vt} {a} to {wt}")
        fc.emit(f"{zb} = zext {vt} {b} to {wt}")
        fc.emit(f"{s} = add {wt} {za}, {zb}")
        one = splat_const(wt, n, 1)
        fc.emit(f"{s1} = add {wt} {s}, {one}")
        fc.emit(f"{sh} = lshr {wt} {s1}, {one}")
        fc.emit(f"{r} = trunc {wt} {sh} to {vt}")
        vout(fc, vt, r)
    return h


def splat_const(vt_or_wt: str, n: int, value) -> str:
    lt = vt_or_wt.split(" x ")[1].rstrip(">")
    return "<" + ", ".join(f"{lt} {value}" for _ in range(n)) + ">"


_ICMPS = {"eq": "eq", "ne": "ne", "lt_s": "slt", "lt_u": "ult", "gt_s": "sgt", "gt_u": "ugt",
          "le_s": "sle", "le_u": "ule", "ge_s": "sge", "ge_u": "uge"}

for _sh in ("i8x16", "i16x8", "i32x4", "i64x2"):
    for _op, _ins in (("add", "add"), ("sub", "sub"), ("mul", "mul")):
        if not (_sh == "i8x16" and _op == "mul"):
            H[f"{_sh}.{_op}"] = _ibin(_sh, _ins)
    for _op, _c in _ICMPS.items():
        H[f"{_sh}.{_op}"] = _icmp(_sh, _c)
    H[f"{_sh}.shl"] = _shift(_sh, "shl")
    H[f"{_sh}.shr_s"] = _shift(_sh, "ashr")
    H[f"{_sh}.shr_u"] = _shift(_sh, "lshr")
    H[f"{_sh}.neg"] = _iunary(_sh, "neg")
    H[f"{_sh}.abs"] = _iunary(_sh, "abs")
    H[f"{_sh}.all_true"] = _all_true(_sh)
    H[f"{_sh}.bitmask"] = _bitmask(_sh)
    if _sh != "i64x2":
        for _op, _fn in (("min_s", "smin"), ("min_u", "umin"), ("max_s", "smax"), ("max_u", "umax")):
            H[f"{_sh}.{_op}"] = _iintr2(_sh, _fn)
    if _sh in ("i8x16", "i16x8"):
        for _op, _fn in (("add_sat_s", "sadd.sat"), ("add_sat_u", "uadd.sat"),
                         ("sub_sat_s", "ssub.sat"), ("sub_sat_u", "usub.sat")):
            H[f"{_sh}.{_op}"] = _iintr2(_sh, _fn)
        H[f"{_sh}.avgr_u"] = _avgr(_sh)
H["i8x16.popcnt"] = _iunary("i8x16", "popcnt")


def _half(n, high):
    return list(range(n // 2, n)) if high else list(range(n // 2))


def _extend(dst, src, high, ext):
    svt, slt, sn, sbits = SHAPES[src]
    dvt = SHAPES[dst][0]
    hvt = f"<{sn // 2} x {slt}>"

    def h(fc, ins):
        a = vin(fc, svt)
        half = shuffle(fc, svt, a, "poison", _half(sn, high))
        r = fc.tmp()
        fc.emit(f"{r} = {ext} {hvt} {half} to {dvt}")
        vout(fc, dvt, r)
    return h


def _extmul(dst, src, high, ext):
    svt, slt, sn, sbits = SHAPES[src]
    dvt = SHAPES[dst][0]
    hvt = f"<{sn // 2} x {slt}>"

    def h(fc, ins):
        b = vin(fc, svt)
        a = vin(fc, svt)
        ha = shuffle(fc, svt, a, "poison", _half(sn, high))
        hb = shuffle(fc, svt, b, "poison", _half(sn, high))
        ea, eb, r = fc.tmp(), fc.tmp(), fc.tmp()
        fc.emit(f"{ea} = {ext} {hvt} {ha} to {dvt}")
        fc.emit(f"{eb} = {ext} {hvt} {hb} to {dvt}")
        fc.emit(f"{r} = mul {dvt} {ea}, {eb}")
        vout(fc, dvt, r)
    return h


def _extadd(dst, src, ext):
    svt, slt, sn, sbits = SHAPES[src]
    dvt = SHAPES[dst][0]
    hvt = f"<{sn // 2} x {slt}>"

    def h(fc, ins):
        a = vin(fc, svt)
        ev = shuffle(fc, svt, a, "poison", list(range(0, sn, 2)))
        od = shuffle(fc, svt, a, "poison", list(range(1, sn, 2)))
        ee, eo, r = fc.tmp(), fc.tmp(), fc.tmp()
        fc.emit(f"{ee} = {ext} {hvt} {ev} to {dvt}")
        fc.emit(f"{eo} = {ext} {hvt} {od} to {dvt}")
        fc.emit(f"{r} = add {dvt} {ee}, {eo}")
        vout(fc, dvt, r)
    return h


def _narrow(dst, src, signed):
    svt, slt, sn, sbits = SHAPES[src]
    dvt, dlt, dn, dbits = SHAPES[dst]
    wt = f"<{dn} x {slt}>"

    def h(fc, ins):
        b = vin(fc, svt)
        a = vin(fc, svt)
        both = shuffle(fc, svt, a, b, list(range(dn)))
        lo = -(1 << (dbits - 1)) if signed else 0
        hi = (1 << (dbits - 1)) - 1 if signed else (1 << dbits) - 1
        c1 = call(fc, wt, f"llvm.smax.{_SFX[wt]}", [(wt, both), (wt, splat_const(wt, dn, lo))])
        c2 = call(fc, wt, f"llvm.smin.{_SFX[wt]}", [(wt, c1), (wt, splat_const(wt, dn, hi))])
        r = fc.tmp()
        fc.emit(f"{r} = trunc {wt} {c2} to {dvt}")
        vout(fc, dvt, r)
    return h


_WIDER = {"i16x8": "i8x16", "i32x4": "i16x8", "i64x2": "i32x4"}
for _dst, _src in _WIDER.items():
    for _hl, _high in (("low", False), ("high", True)):
        for _su, _ext in (("s", "sext"), ("u", "zext")):
            H[f"{_dst}.extend_{_hl}_{_src}_{_su}"] = _extend(_dst, _src, _high, _ext)
            H[f"{_dst}.extmul_{_hl}_{_src}_{_su}"] = _extmul(_dst, _src, _high, _ext)
for _dst, _src in (("i16x8", "i8x16"), ("i32x4", "i16x8")):
    for _su, _ext in (("s", "sext"), ("u", "zext")):
        H[f"{_dst}.extadd_pairwise_{_src}_{_su}"] = _extadd(_dst, _src, _ext)
for _dst, _src in (("i8x16", "i16x8"), ("i16x8", "i32x4")):
    H[f"{_dst}.narrow_{_src}_s"] = _narrow(_dst, _src, True)
    H[f"{_dst}.narrow_{_src}_u"] = _narrow(_dst, _src, False)


@reg("i32x4.dot_i16x8_s")
def _dot(fc, ins):
    b = vin(fc, "<8 x i16>")
    a = vin(fc, "<8 x i16>")
    ea, eb, m, r = fc.tmp(), fc.tmp(), fc.tmp(), fc.tmp()
    fc.emit(f"{ea} = sext <8 x i16> {a} to <8 x i32>")
    fc.emit(f"{eb} = sext <8 x i16> {b} to <8 x i32>")
    fc.emit(f"{m} = mul <8 x i32> {ea}, {eb}")
    ev = shuffle(fc, "<8 x i32>", m, "poison", [0, 2, 4, 6])
    od = shuffle(fc, "<8 x i32>", m, "poison", [1, 3, 5, 7])
    fc.emit(f"{r} = add <4 x i32> {ev}, {od}")
    vout(fc, "<4 x i32>", r)


@reg("i16x8.q15mulr_sat_s")
def _q15(fc, ins):
    b = vin(fc, "<8 x i16>")
    a = vin(fc, "<8 x i16>")
    wt = "<8 x i32>"
    ea, eb, m, s, sh, r = (fc.tmp() for _ in range(6))
    fc.emit(f"{ea} = sext <8 x i16> {a} to {wt}")
    fc.emit(f"{eb} = sext <8 x i16> {b} to {wt}")
    fc.emit(f"{m} = mul {wt} {ea}, {eb}")
    fc.emit(f"{s} = add {wt} {m}, {splat_const(wt, 8, 16384)}")
    fc.emit(f"{sh} = ashr {wt} {s}, {splat_const(wt, 8, 15)}")
    c1 = call(fc, wt, "llvm.smin.v8i32", [(wt, sh), (wt, splat_const(wt, 8, 32767))])
    fc.emit(f"{r} = trunc {wt} {c1} to <8 x i16>")
    vout(fc, "<8 x i16>", r)


# ----- float lanes -----

def _quiet_vec(fc, vt, n, bits, r):
    """Set the quiet bit of every NaN lane (spec 4.3.3: arithmetic NaNs)."""
    it = f"<{n} x i{bits}>"
    q = (1 << 22) if bits == 32 else (1 << 51)
    b, o, of, nan, out = (fc.tmp() for _ in range(5))
    fc.emit(f"{b} = bitcast {vt} {r} to {it}")
    fc.emit(f"{o} = or {it} {b}, {splat_const(it, n, q)}")
    fc.emit(f"{of} = bitcast {it} {o} to {vt}")
    fc.emit(f"{nan} = fcmp uno {vt} {r}, {r}")
    fc.emit(f"{out} = select <{n} x i1> {nan}, {vt} {of}, {vt} {r}")
    return out


def _fbin(shape, op):
    vt, lt, n, bits = SHAPES[shape]

    def h(fc, ins):
        b = vin(fc, vt)
        a = vin(fc, vt)
        if op in ("minimum", "maximum"):
            r = _quiet_vec(fc, vt, n, bits, call(fc, vt, f"llvm.{op}.{_SFX[vt]}", [(vt, a), (vt, b)]))
        elif op in ("pmin", "pmax"):
            # spec 4.3.3 fpmin: b < a ? b : a; fpmax: a < b ? b : a
            c, r = fc.tmp(), fc.tmp()
            if op == "pmin":
                fc.emit(f"{c} = fcmp olt {vt} {b}, {a}")
            else:
                fc.emit(f"{c} = fcmp olt {vt} {a}, {b}")
            fc.emit(f"{r} = select <{n} x i1> {c}, {vt} {b}, {vt} {a}")
        else:
            r = fc.tmp()
            fc.emit(f"{r} = {op} {vt} {a}, {b}")
        vout(fc, vt, r)
    return h


def _funary(shape, fn):
    vt, lt, n, bits = SHAPES[shape]

    def h(fc, ins):
        a = vin(fc, vt)
        if fn == "neg":
            r = fc.tmp()
            fc.emit(f"{r} = fneg {vt} {a}")
        else:
            r = call(fc, vt, f"llvm.{fn}.{_SFX[vt]}", [(vt, a)])
        vout(fc, vt, r)
    return h


def _fcmp(shape, cond):
    vt, lt, n, bits = SHAPES[shape]
    it = SHAPES["i32x4" if bits == 32 else "i64x2"][0]

    def h(fc, ins):
        b = vin(fc, vt)
        a = vin(fc, vt)
        c, r = fc.tmp(), fc.tmp()
        fc.emit(f"{c} = fcmp {cond} {vt} {a}, {b}")
        fc.emit(f"{r} = sext <{n} x i1> {c} to {it}")
        vout(fc, it, r)
    return h


_FCMPS = {"eq": "oeq", "ne": "une", "lt": "olt", "gt": "ogt", "le": "ole", "ge": "oge"}
for _sh in ("f32x4", "f64x2"):
    for _op, _ins in (("add", "fadd"), ("sub", "fsub"), ("mul", "fmul"), ("div", "fdiv"),
                      ("min", "minimum"), ("max", "maximum"), ("pmin", "pmin"), ("pmax", "pmax")):
        H[f"{_sh}.{_op}"] = _fbin(_sh, _ins)
    for _op, _fn in (("abs", "fabs"), ("neg", "neg"), ("sqrt", "sqrt"), ("ceil", "ceil"),
                     ("floor", "floor"), ("trunc", "trunc"), ("nearest", "roundeven")):
        H[f"{_sh}.{_op}"] = _funary(_sh, _fn)
    for _op, _c in _FCMPS.items():
        H[f"{_sh}.{_op}"] = _fcmp(_sh, _c)


def _convert(dst, src_vt, ins_, low):
    dvt = SHAPES[dst][0]

    def h(fc, ins):
        a = vin(fc, src_vt)
        if low:
            a = shuffle(fc, src_vt, a, "poison", [0, 1])
            srct = "<2 x i32>"
        else:
            srct = src_vt
        r = fc.tmp()
        fc.emit(f"{r} = {ins_} {srct} {a} to {dvt}")
        vout(fc, dvt, r)
    return h


H["f32x4.convert_i32x4_s"] = _convert("f32x4", "<4 x i32>", "sitofp", False)
H["f32x4.convert_i32x4_u"] = _convert("f32x4", "<4 x i32>", "uitofp", False)
H["f64x2.convert_low_i32x4_s"] = _convert("f64x2", "<4 x i32>", "sitofp", True)
H["f64x2.convert_low_i32x4_u"] = _convert("f64x2", "<4 x i32>", "uitofp", True)


def _trunc_sat(src, sign, zero):
    svt = SHAPES[src][0]

    def h(fc, ins):
        a = vin(fc, svt)
        if zero:
            r = call(fc, "<2 x i32>", f"llvm.fpto{sign}i.sat.v2i32.v2f64", [(svt, a)])
            r = shuffle(fc, "<2 x i32>", r, "zeroinitializer", [0, 1, 2, 3])
        else:
            r = call(fc, "<4 x i32>", f"llvm.fpto{sign}i.sat.v4i32.v4f32", [(svt, a)])
        vout(fc, "<4 x i32>", r)
    return h


H["i32x4.trunc_sat_f32x4_s"] = _trunc_sat("f32x4", "s", False)
H["i32x4.trunc_sat_f32x4_u"] = _trunc_sat("f32x4", "u", False)
H["i32x4.trunc_sat_f64x2_s_zero"] = _trunc_sat("f64x2", "s", True)
H["i32x4.trunc_sat_f64x2_u_zero"] = _trunc_sat("f64x2", "u", True)


@reg("f32x4.demote_f64x2_zero")
def _demote(fc, ins):
    a = vin(fc, "<2 x double>")
    r = fc.tmp()
    fc.emit(f"{r} = fptrunc <2 x double> {a} to <2 x float>")
    vout(fc, "<4 x float>", shuffle(fc, "<2 x float>", r, "zeroinitializer", [0, 1, 2, 3]))


@reg("f64x2.promote_low_f32x4")
def _promote(fc, ins):
    a = vin(fc, "<4 x float>")
    lo = shuffle(fc, "<4 x float>", a, "poison", [0, 1])
    r = fc.tmp()
    fc.emit(f"{r}.e = fpext <2 x float> {lo} to <2 x double>")
    fc.emit(f"{r} = {C.opaque('<2 x double>', r + '.e')}")
    vout(fc, "<2 x double>", r)


# ----- memory -----

def _load_vec(fc, ins, size, lt_or_vt):
    p = C.address(fc, fc.pop(), ins[2], size, memidx_of(ins))
    v = fc.tmp()
    fc.emit(f"{v} = load {lt_or_vt}, ptr {p}, align 1, {MEM_TBAA}")
    return v


@reg("v128.load")
def _v128_load(fc, ins):
    fc.push("v128", _load_vec(fc, ins, 16, V))


@reg("v128.store")
def _v128_store(fc, ins):
    v = fc.pop()
    p = C.address(fc, fc.pop(), ins[2], 16, memidx_of(ins))
    fc.emit(f"store {V} {v}, ptr {p}, align 1, {MEM_TBAA}")


def _load_ext(n, lt, dst, ext):
    def h(fc, ins):
        v = _load_vec(fc, ins, 8, f"<{n} x {lt}>")
        r = fc.tmp()
        fc.emit(f"{r} = {ext} <{n} x {lt}> {v} to {SHAPES[dst][0]}")
        vout(fc, SHAPES[dst][0], r)
    return h


for _n, _lt, _dst, _nm in ((8, "i8", "i16x8", "8x8"), (4, "i16", "i32x4", "16x4"), (2, "i32", "i64x2", "32x2")):
    H[f"v128.load{_nm}_s"] = _load_ext(_n, _lt, _dst, "sext")
    H[f"v128.load{_nm}_u"] = _load_ext(_n, _lt, _dst, "zext")


def _load_splat(shape):
    vt, lt, n, bits = SHAPES[shape]
    ilt = f"i{bits}"

    def h(fc, ins):
        v = _load_vec(fc, ins, bits // 8, ilt)
        ivt = f"<{n} x {ilt}>"
        vout(fc, ivt, splat_of(fc, ivt, ilt, n, v))
    return h


for _b, _sh in ((8, "i8x16"), (16, "i16x8"), (32, "i32x4"), (64, "i64x2")):
    H[f"v128.load{_b}_splat"] = _load_splat(_sh)


def _load_zero(bits):
    n = 128 // bits
    vt = f"<{n} x i{bits}>"

    def h(fc, ins):
        v = _load_vec(fc, ins, bits // 8, f"i{bits}")
        r = fc.tmp()
        fc.emit(f"{r} = insertelement {vt} zeroinitializer, i{bits} {v}, i32 0")
        vout(fc, vt, r)
    return h


H["v128.load32_zero"] = _load_zero(32)
H["v128.load64_zero"] = _load_zero(64)


def _lane_mem(bits, store):
    n = 128 // bits
    vt, lt = f"<{n} x i{bits}>", f"i{bits}"

    def h(fc, ins):
        vec = vin(fc, vt)
        p = C.address(fc, fc.pop(), ins[2], bits // 8, memidx_of(ins))
        lane = ins[3]
        if store:
            e = fc.tmp()
            fc.emit(f"{e} = extractelement {vt} {vec}, i32 {lane}")
            fc.emit(f"store {lt} {e}, ptr {p}, align 1, {MEM_TBAA}")
            return
        v, r = fc.tmp(), fc.tmp()
        fc.emit(f"{v} = load {lt}, ptr {p}, align 1, {MEM_TBAA}")
        fc.emit(f"{r} = insertelement {vt} {vec}, {lt} {v}, i32 {lane}")
        vout(fc, vt, r)
    return h


for _b in (8, 16, 32, 64):
    H[f"v128.load{_b}_lane"] = _lane_mem(_b, False)
    H[f"v128.store{_b}_lane"] = _lane_mem(_b, True)


# ----- relaxed SIMD (the relaxed-simd proposal) -----
#
# The choices of numerics/simd.py ("relaxed SIMD"): what wasmtime does on x86-64, written in
# portable IR so that both tiers give the same bits on any host.

@reg("i8x16.relaxed_swizzle")
def _relaxed_swizzle(fc, ins):
    # pshufb: lane k = 0 when bit 7 of s[k] is set, else a[s[k] & 15].
    _swizzle_lanes(fc, "sge i8 {i}, 0")


def _relaxed_trunc_s(src):
    """cvttps2dq / cvttpd2dq: the saturating truncation, except that NaN and values at or
    above 2**31 give 0x80000000 too (below -2**31 both give it)."""
    svt, _, n, _ = SHAPES[src]
    rt = f"<{n} x i32>"

    def h(fc, ins):
        a = vin(fc, svt)
        sat = call(fc, rt, f"llvm.fptosi.sat.v{n}i32.{_SFX[svt]}", [(svt, a)])
        bad, r = fc.tmp(), fc.tmp()
        fc.emit(f"{bad} = fcmp uge {svt} {a}, {splat_const(svt, n, C._fconst(2147483648.0))}")
        fc.emit(f"{r} = select <{n} x i1> {bad}, {rt} {splat_const(rt, n, -2147483648)}, "
                f"{rt} {sat}")
        if n == 2:
            r = shuffle(fc, rt, r, "zeroinitializer", [0, 1, 2, 3])
        vout(fc, "<4 x i32>", r)
    return h


def _relaxed_madd(shape, negate):
    """Fused multiply-add (llvm.fma: one rounding on every host); a NaN result is the
    canonical NaN, so that the tiers agree bit for bit whatever the hardware propagates."""
    vt, _, n, bits = SHAPES[shape]
    it = f"<{n} x i{bits}>"
    canonical = 0x7FC00000 if bits == 32 else 0x7FF8000000000000

    def h(fc, ins):
        c = vin(fc, vt)
        b = vin(fc, vt)
        a = vin(fc, vt)
        if negate:
            na = fc.tmp()
            fc.emit(f"{na} = fneg {vt} {a}")
            a = na
        r = call(fc, vt, f"llvm.fma.{_SFX[vt]}", [(vt, a), (vt, b), (vt, c)])
        nan, ri, out = fc.tmp(), fc.tmp(), fc.tmp()
        fc.emit(f"{nan} = fcmp uno {vt} {r}, {r}")
        fc.emit(f"{ri} = bitcast {vt} {r} to {it}")
        fc.emit(f"{out} = select <{n} x i1> {nan}, {it} {splat_const(it, n, canonical)}, {it} {ri}")
        vout(fc, it, out)
    return h


def _relaxed_laneselect(shape):
    """blendv: lane k of a where the top bit of c's lane k is set, else b's."""
    vt, _, n, bits = SHAPES[shape]

    def h(fc, ins):
        c = vin(fc, vt)
        b = vin(fc, vt)
        a = vin(fc, vt)
        m, x, nm, y, r = (fc.tmp() for _ in range(5))
        fc.emit(f"{m} = ashr {vt} {c}, {splat_const(vt, n, bits - 1)}")
        fc.emit(f"{x} = and {vt} {a}, {m}")
        fc.emit(f"{nm} = xor {vt} {m}, {splat_const(vt, n, -1)}")
        fc.emit(f"{y} = and {vt} {b}, {nm}")
        fc.emit(f"{r} = or {vt} {x}, {y}")
        vout(fc, vt, r)
    return h


@reg("i16x8.relaxed_q15mulr_s")
def _relaxed_q15(fc, ins):
    # pmulhrsw: (a * b + 2**14) >> 15, truncated (-32768 * -32768 wraps to -32768).
    b = vin(fc, "<8 x i16>")
    a = vin(fc, "<8 x i16>")
    wt = "<8 x i32>"
    ea, eb, m, s, sh, r = (fc.tmp() for _ in range(6))
    fc.emit(f"{ea} = sext <8 x i16> {a} to {wt}")
    fc.emit(f"{eb} = sext <8 x i16> {b} to {wt}")
    fc.emit(f"{m} = mul {wt} {ea}, {eb}")
    fc.emit(f"{s} = add {wt} {m}, {splat_const(wt, 8, 16384)}")
    fc.emit(f"{sh} = ashr {wt} {s}, {splat_const(wt, 8, 15)}")
    fc.emit(f"{r} = trunc {wt} {sh} to <8 x i16>")
    vout(fc, "<8 x i16>", r)


def _relaxed_dot16(fc, a, b) -> str:
    """pmaddubsw with a's bytes signed and b's unsigned: adjacent products summed with
    signed saturation to i16 (a <8 x i16>)."""
    wt = "<16 x i16>"
    ea, eb, m = fc.tmp(), fc.tmp(), fc.tmp()
    fc.emit(f"{ea} = sext {V} {a} to {wt}")
    fc.emit(f"{eb} = zext {V} {b} to {wt}")
    fc.emit(f"{m} = mul {wt} {ea}, {eb}")
    ev = shuffle(fc, wt, m, "poison", list(range(0, 16, 2)))
    od = shuffle(fc, wt, m, "poison", list(range(1, 16, 2)))
    return call(fc, "<8 x i16>", "llvm.sadd.sat.v8i16", [("<8 x i16>", ev), ("<8 x i16>", od)])


@reg("i16x8.relaxed_dot_i8x16_i7x16_s")
def _relaxed_dot(fc, ins):
    b = vin(fc, V)
    a = vin(fc, V)
    vout(fc, "<8 x i16>", _relaxed_dot16(fc, a, b))


@reg("i32x4.relaxed_dot_i8x16_i7x16_add_s")
def _relaxed_dot_add(fc, ins):
    c = vin(fc, "<4 x i32>")
    b = vin(fc, V)
    a = vin(fc, V)
    d = _relaxed_dot16(fc, a, b)
    e, s, r = fc.tmp(), fc.tmp(), fc.tmp()
    fc.emit(f"{e} = sext <8 x i16> {d} to <8 x i32>")
    ev = shuffle(fc, "<8 x i32>", e, "poison", [0, 2, 4, 6])
    od = shuffle(fc, "<8 x i32>", e, "poison", [1, 3, 5, 7])
    fc.emit(f"{s} = add <4 x i32> {ev}, {od}")
    fc.emit(f"{r} = add <4 x i32> {s}, {c}")
    vout(fc, "<4 x i32>", r)


H["i32x4.relaxed_trunc_f32x4_s"] = _relaxed_trunc_s("f32x4")
H["i32x4.relaxed_trunc_f64x2_s_zero"] = _relaxed_trunc_s("f64x2")
H["i32x4.relaxed_trunc_f32x4_u"] = H["i32x4.trunc_sat_f32x4_u"]
H["i32x4.relaxed_trunc_f64x2_u_zero"] = H["i32x4.trunc_sat_f64x2_u_zero"]
for _sh in ("f32x4", "f64x2"):
    H[f"{_sh}.relaxed_madd"] = _relaxed_madd(_sh, False)
    H[f"{_sh}.relaxed_nmadd"] = _relaxed_madd(_sh, True)
    H[f"{_sh}.relaxed_min"] = H[f"{_sh}.pmin"]
    H[f"{_sh}.relaxed_max"] = H[f"{_sh}.pmax"]
for _sh in ("i8x16", "i32x4", "i64x2"):
    H[f"{_sh}.relaxed_laneselect"] = _relaxed_laneselect(_sh)
H["i16x8.relaxed_laneselect"] = H["v128.bitselect"]

C.register(H)
