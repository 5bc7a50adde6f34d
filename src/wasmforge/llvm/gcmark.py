"""The marking phase of the llvm tier's GC collector as machine code (llvm/gcheap.py).

One small IR function, ``wf_gc_mark(ctx)``, compiled once per process (and cached on disk
like every IR module): from the roots (the root stack's slots and the handles Python holds)
it marks every object they reach, depth first with an explicit stack, setting in a bitmap
the bit of every 8-byte word of each live object, and the byte of every host value a field
refers to.  The heap then finds its free gaps as the runs of zero bytes of the bitmap.  In
Python the same walk costs about 2 µs per object; here about 10 ns, which is what makes a
collection cheap next to the allocation it serves.

``ctx`` is an array of u64: heap start, heap end, bitmap address, mark stack address, root
slots address, their count, handles address, their count, host map address, host count, and
the live bytes (written back).  A run-time type block (gcheap.RTT) is read as ``kind |
depth << 32``, the display, then the object size (struct) or element size (array), the
number of reference fields (struct) or whether elements are references (array), and the
byte offsets of the reference fields.
"""

from __future__ import annotations

import ctypes
import threading

from . import jit

#: The value tags of llvm/gcheap.py (a boxed host value, an i31); repeated here because the
#: heap imports this module.
TAG_I31 = 1 << 62
TAG_HOST = 1 << 61
M31 = 0x7FFFFFFF

_IR = f"""
define internal void @visit(ptr %ctx, ptr %spp, ptr %livep, i64 %v) alwaysinline {{
entry:
  %lo = load i64, ptr %ctx
  %hip = getelementptr i64, ptr %ctx, i64 1
  %hi = load i64, ptr %hip
  %ge = icmp uge i64 %v, %lo
  %lt = icmp ult i64 %v, %hi
  %in = and i1 %ge, %lt
  br i1 %in, label %heap, label %other
other:
  %t = and i64 %v, {TAG_HOST | TAG_I31}
  %ish = icmp eq i64 %t, {TAG_HOST}
  br i1 %ish, label %host, label %done
host:
  %idx = and i64 %v, {M31}
  %nhp = getelementptr i64, ptr %ctx, i64 9
  %nh = load i64, ptr %nhp
  %ok = icmp ult i64 %idx, %nh
  br i1 %ok, label %sethost, label %done
sethost:
  %hmp = getelementptr i64, ptr %ctx, i64 8
  %hm = load ptr, ptr %hmp
  %hb = getelementptr i8, ptr %hm, i64 %idx
  store i8 1, ptr %hb
  br label %done
heap:
  %off = sub i64 %v, %lo
  %w = lshr i64 %off, 3
  %byte = lshr i64 %w, 3
  %bit = and i64 %w, 7
  %bmp = getelementptr i64, ptr %ctx, i64 2
  %bm = load ptr, ptr %bmp
  %bp = getelementptr i8, ptr %bm, i64 %byte
  %b = load i8, ptr %bp
  %bit8 = trunc i64 %bit to i8
  %mask = shl i8 1, %bit8
  %has = and i8 %b, %mask
  %seen = icmp ne i8 %has, 0
  br i1 %seen, label %done, label %mark
mark:
  %op = inttoptr i64 %v to ptr
  %rtt = load ptr, ptr %op
  %hdr = load i64, ptr %rtt
  %kind = and i64 %hdr, 4294967295
  %depth = lshr i64 %hdr, 32
  %ii = add i64 %depth, 2
  %szp = getelementptr i64, ptr %rtt, i64 %ii
  %sz0 = load i64, ptr %szp
  %isarr = icmp eq i64 %kind, 2
  br i1 %isarr, label %arr, label %sized
arr:
  %lenp = getelementptr i8, ptr %op, i64 8
  %len = load i32, ptr %lenp
  %len64 = zext i32 %len to i64
  %eb = mul i64 %len64, %sz0
  %eb2 = add i64 %eb, 23
  %asz = and i64 %eb2, -8
  br label %sized
sized:
  %size = phi i64 [%sz0, %mark], [%asz, %arr]
  %nw = lshr i64 %size, 3
  br label %bits
bits:
  %k = phi i64 [0, %sized], [%k1, %bits]
  %wk = add i64 %w, %k
  %byk = lshr i64 %wk, 3
  %bik = and i64 %wk, 7
  %bpk = getelementptr i8, ptr %bm, i64 %byk
  %bk = load i8, ptr %bpk
  %bik8 = trunc i64 %bik to i8
  %mk = shl i8 1, %bik8
  %nbk = or i8 %bk, %mk
  store i8 %nbk, ptr %bpk
  %k1 = add i64 %k, 1
  %more = icmp ult i64 %k1, %nw
  br i1 %more, label %bits, label %pushit
pushit:
  %lv = load i64, ptr %livep
  %lv1 = add i64 %lv, %size
  store i64 %lv1, ptr %livep
  %spv = load i64, ptr %spp
  %stp = getelementptr i64, ptr %ctx, i64 3
  %stk = load ptr, ptr %stp
  %slot = getelementptr i64, ptr %stk, i64 %spv
  store i64 %v, ptr %slot
  %sp1 = add i64 %spv, 1
  store i64 %sp1, ptr %spp
  br label %done
done:
  ret void
}}

define internal void @roots(ptr %ctx, ptr %spp, ptr %livep, ptr %arr, i64 %n) alwaysinline {{
entry:
  br label %head
head:
  %i = phi i64 [0, %entry], [%i1, %body]
  %c = icmp ult i64 %i, %n
  br i1 %c, label %body, label %done
body:
  %p = getelementptr i64, ptr %arr, i64 %i
  %v = load i64, ptr %p
  call void @visit(ptr %ctx, ptr %spp, ptr %livep, i64 %v)
  %i1 = add i64 %i, 1
  br label %head
done:
  ret void
}}

define void @wf_gc_mark(ptr %ctx) {{
entry:
  %spp = alloca i64
  %livep = alloca i64
  store i64 0, ptr %spp
  store i64 0, ptr %livep
  %r1p = getelementptr i64, ptr %ctx, i64 4
  %r1 = load ptr, ptr %r1p
  %n1p = getelementptr i64, ptr %ctx, i64 5
  %n1 = load i64, ptr %n1p
  call void @roots(ptr %ctx, ptr %spp, ptr %livep, ptr %r1, i64 %n1)
  %r2p = getelementptr i64, ptr %ctx, i64 6
  %r2 = load ptr, ptr %r2p
  %n2p = getelementptr i64, ptr %ctx, i64 7
  %n2 = load i64, ptr %n2p
  call void @roots(ptr %ctx, ptr %spp, ptr %livep, ptr %r2, i64 %n2)
  %stp = getelementptr i64, ptr %ctx, i64 3
  %stk = load ptr, ptr %stp
  br label %scan
scan:
  %spv = load i64, ptr %spp
  %empty = icmp eq i64 %spv, 0
  br i1 %empty, label %finish, label %pop
pop:
  %sp1 = sub i64 %spv, 1
  store i64 %sp1, ptr %spp
  %slot = getelementptr i64, ptr %stk, i64 %sp1
  %v = load i64, ptr %slot
  %op = inttoptr i64 %v to ptr
  %rtt = load ptr, ptr %op
  %hdr = load i64, ptr %rtt
  %kind = and i64 %hdr, 4294967295
  %depth = lshr i64 %hdr, 32
  %i3 = add i64 %depth, 3
  %infop = getelementptr i64, ptr %rtt, i64 %i3
  %info = load i64, ptr %infop
  %offs = getelementptr i64, ptr %infop, i64 1
  %isarr = icmp eq i64 %kind, 2
  br i1 %isarr, label %arrays, label %fields
fields:
  %j = phi i64 [0, %pop], [%j1, %field]
  %cj = icmp ult i64 %j, %info
  br i1 %cj, label %field, label %scan
field:
  %ofp = getelementptr i64, ptr %offs, i64 %j
  %of = load i64, ptr %ofp
  %fp = getelementptr i8, ptr %op, i64 %of
  %fv = load i64, ptr %fp
  call void @visit(ptr %ctx, ptr %spp, ptr %livep, i64 %fv)
  %j1 = add i64 %j, 1
  br label %fields
arrays:
  %isref = icmp ne i64 %info, 0
  br i1 %isref, label %elems0, label %scan
elems0:
  %lenp = getelementptr i8, ptr %op, i64 8
  %len = load i32, ptr %lenp
  %len64 = zext i32 %len to i64
  %ep0 = getelementptr i8, ptr %op, i64 16
  br label %elems
elems:
  %e = phi i64 [0, %elems0], [%e1, %elem]
  %ce = icmp ult i64 %e, %len64
  br i1 %ce, label %elem, label %scan
elem:
  %ep = getelementptr i64, ptr %ep0, i64 %e
  %ev = load i64, ptr %ep
  call void @visit(ptr %ctx, ptr %spp, ptr %livep, i64 %ev)
  %e1 = add i64 %e, 1
  br label %elems
finish:
  %lv = load i64, ptr %livep
  %outp = getelementptr i64, ptr %ctx, i64 10
  store i64 %lv, ptr %outp
  ret void
}}
"""

_lock = threading.Lock()
_marker = None      # (engine kept alive, the ctypes function)


def marker():
    """The compiled ``wf_gc_mark`` (``void (u64 *ctx)``), or None where it cannot be made
    (no llvmlite: the collector then marks in Python)."""
    global _marker
    if _marker is None:
        with _lock:
            if _marker is None:
                try:
                    engine, _, _ = jit.compile_ir(_IR, "gcmark", 2)
                    addr = engine.get_function_address("wf_gc_mark")
                    fn = ctypes.CFUNCTYPE(None, ctypes.c_void_p)(addr)
                    _marker = (engine, fn)
                except ImportError:
                    _marker = (None, None)
    return _marker[1]


__all__ = ["marker"]
