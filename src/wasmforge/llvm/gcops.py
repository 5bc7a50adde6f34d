"""The llvm tier's lowering of the GC proposal's instructions (values, objects and run-time
types: llvm/gcheap.py).

Allocation bumps the store heap's ``cur`` pointer up to its ``limit`` in line; only a full
heap calls back (``CB_GC_ALLOC``: collect, grow, or trap), around which the references on
the operand stack are spilled to the root stack (codegen.FunctionCompiler.spill_roots).
Field and element accesses, ``array.len/fill/copy``, ``ref.i31``/``i31.get_*``, ``ref.eq``,
the conversions between hierarchies, and ``ref.test``/``ref.cast``/``br_on_cast*`` against
abstract, struct and array types are machine code; the callback serves the rare rest
(casts to function types, ``array.new_data/new_elem/init_data/init_elem``, and boxing a
function or host reference stored in a field).

Each handler takes the function compiler and the instruction, as those of :mod:`.ops` do;
importing the module registers them in ``ops.HANDLERS``.
"""

from __future__ import annotations

from ..errors import TrapCode as TC
from ..opcodes import OPS
from ..types import FuncType, heap_top, ref_parts, ref_type
from .gcheap import (ARRAY_HEADER, HANDLE_LIMIT, KIND_ARRAY, KIND_STRUCT, TAG_HOST, TAG_I31,
                     rtt_depth, storage_size, struct_layout)
from .ops import HANDLERS
from .layout import (CB_GC_ALLOC, CB_GC_BOX, CB_GC_FUNC_TEST, CB_GC_INIT_DATA, CB_GC_INIT_ELEM,
                     CB_GC_NEW_DATA, CB_GC_NEW_ELEM, CB_GC_UNBOX, GCHEAP, RTTS, TRAP_ARG)
from .ops import register
from .prelude import CTX_TBAA

#: vm[TRAP_ARG] of a null-reference trap of a GC instruction: says which message it gets
#: (NativeInstance._fail).
NULL_STRUCT, NULL_ARRAY, NULL_I31 = (1 << 40) | 1, (1 << 40) | 2, (1 << 40) | 3
NULL_MESSAGES = {NULL_STRUCT: "null structure reference", NULL_ARRAY: "null array reference",
                 NULL_I31: "null i31 reference"}

#: The longest array (elements) an allocation may ask for, as on the interp tier.
MAX_ARRAY_LEN = 1 << 27

_FIELD_IR = {"i8": "i8", "i16": "i16", "i32": "i32", "i64": "i64", "f32": "float", "f64": "double",
             "v128": "<16 x i8>"}


def _fir(storage: str) -> str:
    return _FIELD_IR.get(storage, "i64")


def _closed_heaps(fc) -> list:
    mc = fc.mc
    heaps = mc.__dict__.get("_gc_heaps")
    if heaps is None:
        heaps = mc.__dict__["_gc_heaps"] = mc.module.close_types()[1]
    return heaps


def may_hold_host(fc, storage: str) -> bool:
    """Whether a field of this storage type may hold a function or host reference (boxed in
    the heap): a reference type outside ``eq`` and its subtypes (``any`` itself included)."""
    parts = ref_parts(storage)
    if parts is None:
        return False
    heap = parts[1]
    if isinstance(heap, int):
        return isinstance(fc.mc.module.types[heap], FuncType)
    return heap_top(heap) != "any" or heap == "any"


# ----- helpers -----

def _trap_with(fc, cond: str, code, arg: int) -> None:
    """Trap with ``code`` when ``cond``, leaving ``arg`` in vm[TRAP_ARG]."""
    lab, cont = fc.label(), fc.label()
    fc.emit(f"br i1 {cond}, label %{lab}, label %{cont}, !prof !5")
    fc.eh_tail += [f"{lab}:", f"  %{lab}.p = getelementptr i64, ptr %vm, i64 {TRAP_ARG}",
                   f"  store i64 {arg}, ptr %{lab}.p, {CTX_TBAA}",
                   f"  br label %{fc.trap_label(code)}"]
    fc.start_block(cont)


def _null_check(fc, v: str, arg: int) -> None:
    c = fc.tmp()
    fc.emit(f"{c} = icmp eq i64 {v}, 0")
    _trap_with(fc, c, TC.NULL_REFERENCE, arg)


def _heap(fc) -> str:
    p, h = fc.tmp(), fc.tmp()
    fc.emit(f"{p} = getelementptr i64, ptr %vm, i64 {GCHEAP}")
    fc.emit(f"{h} = load ptr, ptr {p}, {CTX_TBAA}, !invariant.load !6")
    return h


def _rtt(fc, x: int) -> str:
    p, a, s, r = fc.tmp(), fc.tmp(), fc.tmp(), fc.tmp()
    fc.emit(f"{p} = getelementptr i64, ptr %vm, i64 {RTTS}")
    fc.emit(f"{a} = load ptr, ptr {p}, {CTX_TBAA}, !invariant.load !6")
    fc.emit(f"{s} = getelementptr i64, ptr {a}, i64 {x}")
    fc.emit(f"{r} = load i64, ptr {s}, {CTX_TBAA}, !invariant.load !6")
    return r


def _ptr(fc, v: str, off) -> str:
    """A pointer to byte ``off`` (an int or an i64 value) of the object at address ``v``."""
    b, p = fc.tmp(), fc.tmp()
    fc.emit(f"{b} = inttoptr i64 {v} to ptr")
    fc.emit(f"{p} = getelementptr i8, ptr {b}, i64 {off}")
    return p


def alloc(fc, size: str) -> str:
    """The address of ``size`` (an i64 value or constant, a multiple of 8) fresh zeroed bytes
    of the heap.  The operands on the stack are live across the slow path (spilled there)."""
    h = _heap(fc)
    cur, new, lp, lim, full, slot = (fc.tmp() for _ in range(6))
    slot = fc.alloca("i64")
    fc.emit(f"{cur} = load i64, ptr {h}, {CTX_TBAA}")
    fc.emit(f"{new} = add i64 {cur}, {size}")
    fc.emit(f"{lp} = getelementptr i64, ptr {h}, i64 1")
    fc.emit(f"{lim} = load i64, ptr {lp}, {CTX_TBAA}")
    fc.emit(f"{full} = icmp ugt i64 {new}, {lim}")
    fast, slow, join = fc.label(), fc.label(), fc.label()
    fc.emit(f"br i1 {full}, label %{slow}, label %{fast}, !prof !5")
    fc.start_block(fast)
    fc.emit(f"store i64 {new}, ptr {h}, {CTX_TBAA}")
    fc.emit(f"store i64 {cur}, ptr {slot}")
    fc.emit(f"br label %{join}")
    fc.start_block(slow)
    (r,) = fc.callback(CB_GC_ALLOC, 0, [("i64", size)], ["i64"])     # spills the stack's refs
    fc.emit(f"store i64 {r}, ptr {slot}")
    fc.emit(f"br label %{join}")
    fc.start_block(join)
    p = fc.tmp()
    fc.emit(f"{p} = load i64, ptr {slot}")
    return p


def _box(fc, v: str) -> str:
    """``v`` as a field stores it: a registry handle (function or host value) is boxed."""
    d, c = fc.tmp(), fc.tmp()
    fc.emit(f"{d} = sub i64 {v}, 1")
    fc.emit(f"{c} = icmp ult i64 {d}, {HANDLE_LIMIT - 1}")
    return _callback_if(fc, c, CB_GC_BOX, v, "")


def _unbox(fc, v: str) -> str:
    t, c = fc.tmp(), fc.tmp()
    fc.emit(f"{t} = and i64 {v}, {TAG_HOST | TAG_I31}")
    fc.emit(f"{c} = icmp eq i64 {t}, {TAG_HOST}")
    return _callback_if(fc, c, CB_GC_UNBOX, v, ", !prof !5")


def _callback_if(fc, c: str, cb: int, v: str, prof: str) -> str:
    """``v``, or where ``c`` holds what callback ``cb`` makes of it."""
    slot = fc.alloca("i64")
    fc.emit(f"store i64 {v}, ptr {slot}")
    slow, join = fc.label(), fc.label()
    fc.emit(f"br i1 {c}, label %{slow}, label %{join}{prof}")
    fc.start_block(slow)
    (b,) = fc.callback(cb, 0, [("i64", v)], ["i64"])
    fc.emit(f"store i64 {b}, ptr {slot}")
    fc.emit(f"br label %{join}")
    fc.start_block(join)
    r = fc.tmp()
    fc.emit(f"{r} = load i64, ptr {slot}")
    return r


def _stored(fc, storage: str, v: str) -> str:
    """Value ``v`` (its stack form) as a field of ``storage`` holds it."""
    if storage in ("i8", "i16"):
        r = fc.tmp()
        fc.emit(f"{r} = trunc i32 {v} to {storage}")
        return r
    if may_hold_host(fc, storage):
        return _box(fc, v)
    return v


def _loaded(fc, storage: str, p: str, signed: bool) -> str:
    """Load a field of ``storage`` type at pointer ``p`` as its stack form."""
    ir = _fir(storage)
    v = fc.tmp()
    fc.emit(f"{v} = load {ir}, ptr {p}, align {min(storage_size(storage), 8)}")
    if storage in ("i8", "i16"):
        r = fc.tmp()
        fc.emit(f"{r} = {'sext' if signed else 'zext'} {ir} {v} to i32")
        return r
    if may_hold_host(fc, storage):
        return _unbox(fc, v)
    return v


def _store(fc, storage: str, p: str, v: str) -> None:
    fc.emit(f"store {_fir(storage)} {v}, ptr {p}, align {min(storage_size(storage), 8)}")


def _loop(fc, n: str, body) -> None:
    """``for k in 0..n (i64): body(k)``."""
    head, loop, done = fc.label(), fc.label(), fc.label()
    pre = fc.label()
    k = fc.alloca("i64")
    fc.emit(f"store i64 0, ptr {k}")
    fc.emit(f"br label %{head}")
    fc.start_block(head)
    kv, c = fc.tmp(), fc.tmp()
    fc.emit(f"{kv} = load i64, ptr {k}")
    fc.emit(f"{c} = icmp ult i64 {kv}, {n}")
    fc.emit(f"br i1 {c}, label %{loop}, label %{done}")
    fc.start_block(loop)
    body(kv)
    k1 = fc.tmp()
    fc.emit(f"{k1} = add i64 {kv}, 1")
    fc.emit(f"store i64 {k1}, ptr {k}")
    fc.emit(f"br label %{head}")
    del pre
    fc.start_block(done)


# ----- structs -----

def struct_new(fc, ins):
    x = ins[1]
    st = fc.mc.module.types[x]
    offsets, size = struct_layout(st.fields)
    default = ins[0].name == "struct.new_default"
    a = alloc(fc, str(size))
    vals = [] if default else [v for _, v in fc.popn(len(st.fields))]
    stored = [_stored(fc, f.storage, v) for f, v in zip(st.fields, vals)]
    r = _rtt(fc, x)
    p0 = _ptr(fc, a, 0)
    fc.emit(f"store i64 {r}, ptr {p0}, align 8")
    for f, off, v in zip(st.fields, offsets, stored):
        _store(fc, f.storage, _ptr(fc, a, off), v)
    fc.push(ref_type(False, x), a)


def struct_get(fc, ins):
    x, i = ins[1], ins[2]
    f = fc.mc.module.types[x].fields[i]
    offsets, _ = struct_layout(fc.mc.module.types[x].fields)
    v = fc.pop()
    _null_check(fc, v, NULL_STRUCT)
    r = _loaded(fc, f.storage, _ptr(fc, v, offsets[i]), ins[0].name == "struct.get_s")
    fc.push(f.unpacked if f.storage in ("i8", "i16") else f.storage, r)


def struct_set(fc, ins):
    x, i = ins[1], ins[2]
    f = fc.mc.module.types[x].fields[i]
    offsets, _ = struct_layout(fc.mc.module.types[x].fields)
    (_, v), (_, s) = fc.stack.pop(), fc.stack.pop()
    _null_check(fc, s, NULL_STRUCT)
    val = _stored(fc, f.storage, v)
    _store(fc, f.storage, _ptr(fc, s, offsets[i]), val)


# ----- arrays -----

def _array_size(fc, n32: str, esize: int) -> tuple:
    """(n as i64, the object's size in bytes) for ``n32`` elements; traps past the limit."""
    n, big, b, s = fc.tmp(), fc.tmp(), fc.tmp(), fc.tmp()
    fc.emit(f"{n} = zext i32 {n32} to i64")
    fc.emit(f"{big} = icmp ugt i64 {n}, {MAX_ARRAY_LEN}")
    fc.trap_if(big, TC.ALLOCATION_TOO_LARGE)
    fc.emit(f"{b} = mul i64 {n}, {esize}")
    fc.emit(f"{s} = add i64 {b}, {ARRAY_HEADER + 7}")
    s2 = fc.tmp()
    fc.emit(f"{s2} = and i64 {s}, -8")
    return n, s2


def _init_array(fc, x: int, a: str, n: str) -> None:
    r = _rtt(fc, x)
    fc.emit(f"store i64 {r}, ptr {_ptr(fc, a, 0)}, align 8")
    n32 = fc.tmp()
    fc.emit(f"{n32} = trunc i64 {n} to i32")
    fc.emit(f"store i32 {n32}, ptr {_ptr(fc, a, 8)}, align 8")


def _elem_ptr(fc, a: str, i64: str, esize: int) -> str:
    o, o2 = fc.tmp(), fc.tmp()
    fc.emit(f"{o} = mul i64 {i64}, {esize}")
    fc.emit(f"{o2} = add i64 {o}, {ARRAY_HEADER}")
    return _ptr(fc, a, o2)


def _fill(fc, a: str, d64: str, n64: str, storage: str, v: str) -> None:
    esize = storage_size(storage)
    _loop(fc, n64, lambda k: _store_at(fc, a, d64, k, esize, storage, v))


def _store_at(fc, a, d64, k, esize, storage, v):
    i = fc.tmp()
    fc.emit(f"{i} = add i64 {d64}, {k}")
    _store(fc, storage, _elem_ptr(fc, a, i, esize), v)


def array_new(fc, ins):
    x = ins[1]
    at = fc.mc.module.types[x]
    storage = at.field.storage
    esize = storage_size(storage)
    name = ins[0].name
    if name == "array.new_fixed":
        count = ins[2]
        size = (ARRAY_HEADER + count * esize + 7) & ~7
        if fc.mc.fuel and count:
            fc.charge(count)        # the elements too (runtime/metering.py, BULK_ARRAY)
        a = alloc(fc, str(size))
        vals = [v for _, v in fc.popn(count)]
        _init_array(fc, x, a, str(count))
        for k, v in enumerate(vals):
            _store(fc, storage, _ptr(fc, a, ARRAY_HEADER + k * esize), _stored(fc, storage, v))
        fc.push(ref_type(False, x), a)
        return
    n32 = fc.stack[-1][1]
    n, size = _array_size(fc, n32, esize)
    if fc.mc.fuel:
        fc.charge(n)
    a = alloc(fc, size)
    fc.pop()
    _init_array(fc, x, a, n)
    if name == "array.new":
        v = _stored(fc, storage, fc.pop())
        _fill(fc, a, "0", n, storage, v)
    fc.push(ref_type(False, x), a)


def array_new_segment(fc, ins):
    x = ins[1]
    (_, n), (_, s) = fc.stack.pop(), fc.stack.pop()
    kind = CB_GC_NEW_DATA if ins[0].name == "array.new_data" else CB_GC_NEW_ELEM
    (a,) = fc.callback(kind, x, [("i32", s), ("i32", n), ("i32", str(ins[2]))], ["i64"])
    fc.push(ref_type(False, x), a)


def array_init_segment(fc, ins):
    x = ins[1]
    (_, n), (_, s), (_, d), (_, a) = (fc.stack.pop() for _ in range(4))
    kind = CB_GC_INIT_DATA if ins[0].name == "array.init_data" else CB_GC_INIT_ELEM
    fc.callback(kind, x, [("i64", a), ("i32", d), ("i32", s), ("i32", n), ("i32", str(ins[2]))], [])


def _len(fc, a: str) -> str:
    n = fc.tmp()
    fc.emit(f"{n} = load i32, ptr {_ptr(fc, a, 8)}, align 8")
    return n


def _index(fc, a: str, i32: str) -> str:
    """``i32`` as an i64 index checked against the length of array ``a``."""
    n, i, bad = _len(fc, a), fc.tmp(), fc.tmp()
    fc.emit(f"{bad} = icmp uge i32 {i32}, {n}")
    fc.trap_if(bad, TC.ARRAY_OUT_OF_BOUNDS)
    fc.emit(f"{i} = zext i32 {i32} to i64")
    return i


def _range(fc, a: str, d32: str, n32: str) -> tuple:
    """(d, n) as i64 after checking ``d + n <= len(a)``."""
    ln, d, n, e, ln64, bad = (fc.tmp() for _ in range(6))
    fc.emit(f"{ln} = load i32, ptr {_ptr(fc, a, 8)}, align 8")
    fc.emit(f"{d} = zext i32 {d32} to i64")
    fc.emit(f"{n} = zext i32 {n32} to i64")
    fc.emit(f"{e} = add i64 {d}, {n}")
    fc.emit(f"{ln64} = zext i32 {ln} to i64")
    fc.emit(f"{bad} = icmp ugt i64 {e}, {ln64}")
    fc.trap_if(bad, TC.ARRAY_OUT_OF_BOUNDS)
    return d, n


def array_get(fc, ins):
    f = fc.mc.module.types[ins[1]].field
    (_, i), (_, a) = fc.stack.pop(), fc.stack.pop()
    _null_check(fc, a, NULL_ARRAY)
    k = _index(fc, a, i)
    r = _loaded(fc, f.storage, _elem_ptr(fc, a, k, storage_size(f.storage)),
                ins[0].name == "array.get_s")
    fc.push(f.unpacked if f.storage in ("i8", "i16") else f.storage, r)


def array_set(fc, ins):
    f = fc.mc.module.types[ins[1]].field
    (_, v), (_, i), (_, a) = fc.stack.pop(), fc.stack.pop(), fc.stack.pop()
    _null_check(fc, a, NULL_ARRAY)
    k = _index(fc, a, i)
    _store(fc, f.storage, _elem_ptr(fc, a, k, storage_size(f.storage)), _stored(fc, f.storage, v))


def array_len(fc, ins):
    a = fc.pop()
    _null_check(fc, a, NULL_ARRAY)
    fc.push("i32", _len(fc, a))


def array_fill(fc, ins):
    f = fc.mc.module.types[ins[1]].field
    (_, n), (_, v), (_, d), (_, a) = (fc.stack.pop() for _ in range(4))
    _null_check(fc, a, NULL_ARRAY)
    d64, n64 = _range(fc, a, d, n)
    if fc.mc.fuel:
        fc.charge(n64)
    _fill(fc, a, d64, n64, f.storage, _stored(fc, f.storage, v))


def array_copy(fc, ins):
    esize = storage_size(fc.mc.module.types[ins[1]].field.storage)
    (_, n), (_, s), (_, b), (_, d), (_, a) = (fc.stack.pop() for _ in range(5))
    _null_check(fc, a, NULL_ARRAY)
    _null_check(fc, b, NULL_ARRAY)
    d64, n64 = _range(fc, a, d, n)
    s64, _ = _range(fc, b, s, n)
    if fc.mc.fuel:
        fc.charge(n64)
    nb = fc.tmp()
    fc.emit(f"{nb} = mul i64 {n64}, {esize}")
    pd = _elem_ptr(fc, a, d64, esize)
    ps = _elem_ptr(fc, b, s64, esize)
    fc.emit(f"call void @llvm.memmove.p0.p0.i64(ptr align 1 {pd}, ptr align 1 {ps}, i64 {nb}, i1 false)")


# ----- i31, eq, conversions -----

def ref_i31(fc, ins):
    v = fc.pop()
    w, m, r = fc.tmp(), fc.tmp(), fc.tmp()
    fc.emit(f"{w} = zext i32 {v} to i64")
    fc.emit(f"{m} = and i64 {w}, 2147483647")
    fc.emit(f"{r} = or i64 {m}, {TAG_I31}")
    fc.push("(ref i31)", r)


def i31_get(fc, ins):
    v = fc.pop()
    _null_check(fc, v, NULL_I31)
    t, r = fc.tmp(), fc.tmp()
    fc.emit(f"{t} = trunc i64 {v} to i32")
    if ins[0].name == "i31.get_u":
        fc.emit(f"{r} = and i32 {t}, 2147483647")
    else:
        s = fc.tmp()
        fc.emit(f"{s} = shl i32 {t}, 1")
        fc.emit(f"{r} = ashr i32 {s}, 1")
    fc.push("i32", r)


def ref_eq(fc, ins):
    b, a = fc.pop(), fc.pop()
    c, r = fc.tmp(), fc.tmp()
    fc.emit(f"{c} = icmp eq i64 {a}, {b}")
    fc.emit(f"{r} = zext i1 {c} to i32")
    fc.push("i32", r)


def any_convert_extern(fc, ins):
    _, v = fc.stack.pop()
    fc.push("anyref", v)


def extern_convert_any(fc, ins):
    _, v = fc.stack.pop()
    fc.push("externref", v)


# ----- casts -----

def _test(fc, v: str, target: str) -> str:
    """An i1: whether reference ``v`` is of type ``target`` (module index space)."""
    nullable, heap = ref_parts(target)
    res = fc.alloca("i1")
    isnull = fc.tmp()
    fc.emit(f"{isnull} = icmp eq i64 {v}, 0")
    lnull, lval, done, lfalse = fc.label(), fc.label(), fc.label(), fc.label()
    fc.emit(f"br i1 {isnull}, label %{lnull}, label %{lval}")
    fc.start_block(lnull)
    fc.emit(f"store i1 {'true' if nullable else 'false'}, ptr {res}")
    fc.emit(f"br label %{done}")
    fc.start_block(lfalse)
    fc.emit(f"store i1 false, ptr {res}")
    fc.emit(f"br label %{done}")
    fc.start_block(lval)
    module = fc.mc.module
    if isinstance(heap, int) and isinstance(module.types[heap], FuncType):
        (r,) = fc.callback(CB_GC_FUNC_TEST, heap, [("i64", v), ("i32", "1" if nullable else "0")],
                           ["i32"])
        c = fc.tmp()
        fc.emit(f"{c} = icmp ne i32 {r}, 0")
        fc.emit(f"store i1 {c}, ptr {res}")
    elif heap in ("any", "func", "extern", "exn"):
        fc.emit(f"store i1 true, ptr {res}")
    elif heap in ("none", "nofunc", "noextern", "noexn"):
        fc.emit(f"store i1 false, ptr {res}")
    elif heap == "i31":
        t, c = fc.tmp(), fc.tmp()
        fc.emit(f"{t} = and i64 {v}, {TAG_I31}")
        fc.emit(f"{c} = icmp ne i64 {t}, 0")
        fc.emit(f"store i1 {c}, ptr {res}")
    elif heap == "eq":
        c = fc.tmp()
        fc.emit(f"{c} = icmp uge i64 {v}, {HANDLE_LIMIT}")
        fc.emit(f"store i1 {c}, ptr {res}")
    else:
        # A heap object: at or above 2^32 and below the i31 tag.
        lo, hi, isp, lobj = fc.tmp(), fc.tmp(), fc.tmp(), fc.label()
        fc.emit(f"{lo} = icmp uge i64 {v}, {HANDLE_LIMIT}")
        fc.emit(f"{hi} = icmp ult i64 {v}, {TAG_HOST}")
        fc.emit(f"{isp} = and i1 {lo}, {hi}")
        fc.emit(f"br i1 {isp}, label %{lobj}, label %{lfalse}")
        fc.start_block(lobj)
        rp, rtt, hp, hdr = fc.tmp(), fc.tmp(), fc.tmp(), fc.tmp()
        fc.emit(f"{rp} = inttoptr i64 {v} to ptr")
        fc.emit(f"{rtt} = load i64, ptr {rp}, align 8")
        fc.emit(f"{hp} = inttoptr i64 {rtt} to ptr")
        fc.emit(f"{hdr} = load i64, ptr {hp}, align 8")
        if heap in ("struct", "array"):
            kind, c = fc.tmp(), fc.tmp()
            fc.emit(f"{kind} = and i64 {hdr}, 4294967295")
            fc.emit(f"{c} = icmp eq i64 {kind}, {KIND_STRUCT if heap == 'struct' else KIND_ARRAY}")
            fc.emit(f"store i1 {c}, ptr {res}")
        else:
            closed = _closed_heaps(fc)[heap]
            depth = rtt_depth(closed)
            dep, ok, ldisp = fc.tmp(), fc.tmp(), fc.label()
            fc.emit(f"{dep} = lshr i64 {hdr}, 32")
            fc.emit(f"{ok} = icmp uge i64 {dep}, {depth}")
            fc.emit(f"br i1 {ok}, label %{ldisp}, label %{lfalse}")
            fc.start_block(ldisp)
            dp, dv, c = fc.tmp(), fc.tmp(), fc.tmp()
            fc.emit(f"{dp} = getelementptr i64, ptr {hp}, i64 {1 + depth}")
            fc.emit(f"{dv} = load i64, ptr {dp}, align 8")
            want = _rtt(fc, heap)
            fc.emit(f"{c} = icmp eq i64 {dv}, {want}")
            fc.emit(f"store i1 {c}, ptr {res}")
    fc.emit(f"br label %{done}")
    fc.start_block(done)
    r = fc.tmp()
    fc.emit(f"{r} = load i1, ptr {res}")
    return r


def ref_test(fc, ins):
    _, v = fc.stack.pop()
    c = _test(fc, v, ins[1])
    if ins[0].name == "ref.test":
        r = fc.tmp()
        fc.emit(f"{r} = zext i1 {c} to i32")
        fc.push("i32", r)
        return
    bad = fc.tmp()
    fc.emit(f"{bad} = xor i1 {c}, true")
    fc.trap_if(bad, TC.CAST_FAILURE)
    fc.push(ins[1], v)


def br_on_cast(fc, ins):
    label, target = ins[1], ins[3]
    t, v = fc.stack.pop()
    c = _test(fc, v, target)
    taken, cont = fc.label(), fc.label()
    fail = ins[0].name == "br_on_cast_fail"
    fc.emit(f"br i1 {c}, label %{cont if fail else taken}, label %{taken if fail else cont}")
    fc.start_block(taken)
    fc.push(t if fail else target, v)
    fc.branch(label)
    fc.stack.pop()
    fc.start_block(cont)
    fc.push(target if fail else t, v)


#: Handlers by instruction name, registered in ops.HANDLERS.
BY_NAME = {
    "struct.new": struct_new, "struct.new_default": struct_new,
    "struct.get": struct_get, "struct.get_s": struct_get, "struct.get_u": struct_get,
    "struct.set": struct_set,
    "array.new": array_new, "array.new_default": array_new, "array.new_fixed": array_new,
    "array.new_data": array_new_segment, "array.new_elem": array_new_segment,
    "array.get": array_get, "array.get_s": array_get, "array.get_u": array_get,
    "array.set": array_set, "array.len": array_len, "array.fill": array_fill,
    "array.copy": array_copy, "array.init_data": array_init_segment,
    "array.init_elem": array_init_segment,
    "ref.i31": ref_i31, "i31.get_s": i31_get, "i31.get_u": i31_get, "ref.eq": ref_eq,
    "ref.test": ref_test, "ref.cast": ref_test, "br_on_cast": br_on_cast,
    "br_on_cast_fail": br_on_cast,
    "any.convert_extern": any_convert_extern, "extern.convert_any": extern_convert_any,
}
register(BY_NAME)
for _o in OPS:      # ref.test and ref.cast have two encodings each (nullable or not)
    if _o.name in ("ref.test", "ref.cast"):
        HANDLERS[_o] = ref_test

__all__ = ["BY_NAME", "NULL_MESSAGES"]
