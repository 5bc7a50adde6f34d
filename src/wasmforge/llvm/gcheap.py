"""The llvm tier's GC heap (the GC proposal): object layout, run-time types, the store's
heap and root stack, the references Python holds, and the collector.

**Values.**  In the code of a module that uses GC every reference is an i64:

- ``0`` is null;
- ``TAG_I31 | v`` (bit 62) is the unboxed ``i31`` ``v``: ``ref.i31`` allocates nothing;
- below ``HANDLE_LIMIT`` (2^32): a handle of the instance's reference registry (functions,
  host values), as in every other module (llvm/instance.py);
- anything else is the address of a heap object (the heap is mapped above 2^32).

``any.convert_extern`` and ``extern.convert_any`` change nothing: the two hierarchies share
the representation, the static type says how a value crosses to Python (a heap object as
``externref`` is an :class:`~wasmforge.runtime.gc.ExternAny`, a host value as ``anyref`` a
:class:`~wasmforge.runtime.gc.HostAny`).  Registry handles die with the entry that made
them, so a field of a heap object never holds one: storing a function or host reference in
a field *boxes* it as ``TAG_HOST | i`` (bit 61), an index into the heap's table of host
values (kept while a field refers to it: the collector traces the table), and reading it
back unboxes it into a registry handle.  Fields whose type cannot hold such a value
(``eqref`` and below) pay nothing for this.

**Objects** are 8-byte aligned.  A struct is an 8-byte header (the address of its run-time
type, :class:`RTT`) and its fields at natural alignment (at most 8); an array a 16-byte
header (RTT address, u32 length) and its elements.  A reference field takes 8 bytes.

**Run-time types** are one native block per canonical type of the process (the closed heap
form of :func:`wasmforge.types.close_types`, so equal types of different modules share it):
``u32 kind, u32 depth, u64 display[depth + 1]``, the display listing the addresses of its
supertypes from the root down to itself.  ``ref.test``/``ref.cast`` against a defined type of
depth ``d`` compare ``display[d]`` with the target's address: O(1), whatever the hierarchy.

**The heap** of a store is one reserved mapping, used from its start up to ``size``;
generated code bumps ``cur`` up to ``limit`` (the current free gap) and calls back
(``CB_GC_ALLOC``) when the gap is full: the next gap large enough is taken, else the
collector (:meth:`NativeHeap.collect`, mark and sweep, non-moving) marks what the roots
reach and makes the space between live objects the new gaps (zeroed), so cycles die like any
other garbage; the heap grows when more than a quarter of it is live.  Objects never move, so
references in registers stay valid across a collection and need not be reloaded.  Roots:
the store's root stack (each function of a GC module keeps its reference locals in its frame
there, and spills the references of its operand stack to it before every call and
allocation) and the handles of the objects Python holds (:class:`NativeStruct`,
:class:`NativeArray`, released when the Python object dies); globals, tables and exceptions
hold Python objects, so they reach the heap through those handles.
"""

from __future__ import annotations

import ctypes
import functools
import mmap
import re
import struct as _struct
import sys
import weakref
from typing import Any, Dict, List

from ..errors import Trap, TrapCode, WasmError
from ..numerics.bits import f32_from_bits, f32_to_bits, f64_from_bits, f64_to_bits
from ..runtime.gc import Array, ExternAny, HostAny, I31, Struct
from . import gcmark
from ..types import DEFINED, ArrayType, StructType, heap_top, ref_parts

TAG_I31 = 1 << 62
TAG_HOST = 1 << 61
HANDLE_LIMIT = 1 << 32
M31 = 0x7FFFFFFF

KIND_STRUCT, KIND_ARRAY = 1, 2
STRUCT_HEADER = 8
ARRAY_HEADER = 16

#: Bytes of each storage type in an object (references: 8).
_SIZES = {"i8": 1, "i16": 2, "i32": 4, "f32": 4, "i64": 8, "f64": 8, "v128": 16}


def storage_size(storage: str) -> int:
    return _SIZES.get(storage, 8)


def is_ref_storage(storage: str) -> bool:
    return storage not in _SIZES


@functools.lru_cache(maxsize=4096)
def traceable(t: str) -> bool:
    """Whether a value of type ``t`` may be the address of a heap object (so a root): the
    references of the any and extern hierarchies."""
    parts = ref_parts(t)
    if parts is None:
        return False
    heap = parts[1]
    if isinstance(heap, int):
        return True
    if heap in ("i31", "none", "noextern", "nofunc", "noexn"):
        return False
    return heap_top(heap) in ("any", "extern")


def struct_layout(fields) -> tuple:
    """(offset of each field, object size) of a struct with these FieldTypes."""
    off, offsets = STRUCT_HEADER, []
    for f in fields:
        size = storage_size(f.storage)
        align = min(size, 8)
        off = (off + align - 1) // align * align
        offsets.append(off)
        off += size
    return offsets, (off + 7) // 8 * 8


# ----- run-time types (process-wide) -----

class RTT:
    """The run-time type of the objects of one canonical struct or array type."""

    __slots__ = ("heap", "kind", "depth", "block", "addr", "storages", "offsets", "size",
                 "ref_offsets", "esize", "storage", "elem_ref")

    def __init__(self, heap: str):
        d = DEFINED[heap]
        comp = d.comp
        self.heap = heap
        chain = [heap]
        while DEFINED[chain[-1]].supers:
            chain.append(DEFINED[chain[-1]].supers[0])
        chain.reverse()
        self.depth = len(chain) - 1
        supers = [rtt_of(h) for h in chain[:-1]]
        if isinstance(comp, StructType):
            self.kind = KIND_STRUCT
            self.storages = [f.storage for f in comp.fields]
            self.offsets, self.size = struct_layout(comp.fields)
            self.ref_offsets = [o for o, s in zip(self.offsets, self.storages) if is_ref_storage(s)]
        else:
            self.kind = KIND_ARRAY
            self.storage = comp.field.storage
            self.esize = storage_size(self.storage)
            self.elem_ref = is_ref_storage(self.storage)
        # kind | depth << 32, the display, then what the collector reads (llvm/gcmark.py):
        # the size (struct) or element size (array), the number of reference fields (struct)
        # or whether the elements are references (array), the reference fields' offsets.
        n = self.depth + 1
        refs = self.ref_offsets if self.kind == KIND_STRUCT else []
        self.block = (ctypes.c_uint64 * (3 + n + len(refs)))()
        self.addr = ctypes.addressof(self.block)
        self.block[0] = self.kind | (self.depth << 32)
        for k, s in enumerate(supers):
            self.block[1 + k] = s.addr
        self.block[n] = self.addr
        if self.kind == KIND_STRUCT:
            self.block[n + 1], self.block[n + 2] = self.size, len(refs)
        else:
            self.block[n + 1], self.block[n + 2] = self.esize, int(self.elem_ref)
        for k, o in enumerate(refs):
            self.block[n + 3 + k] = o


_RTTS: Dict[str, RTT] = {}
_RTT_AT: Dict[int, RTT] = {}


def rtt_of(heap: str) -> RTT:
    """The run-time type of the closed heap type ``heap`` (made once per process)."""
    r = _RTTS.get(heap)
    if r is None:
        r = RTT(heap)
        _RTTS[heap] = _RTT_AT[r.addr] = r
    return r


def rtt_depth(heap: str) -> int:
    d, n = DEFINED[heap], 0
    while d.supers:
        n += 1
        d = DEFINED[d.supers[0]]
    return n


def module_rtts(module) -> List[int]:
    """The RTT address of each type index of ``module`` (0 for a function type)."""
    heaps = module.close_types()[1]
    return [rtt_of(h).addr if isinstance(t, (StructType, ArrayType)) else 0
            for t, h in zip(module.types, heaps)]


# ----- the heap of a store -----

class HeapBlock(ctypes.Structure):
    """What generated code reads and writes: the allocation pointer and its limit, and the
    root stack's top and end (addresses)."""

    _fields_ = [("cur", ctypes.c_uint64), ("limit", ctypes.c_uint64),
                ("roots_top", ctypes.c_uint64), ("roots_end", ctypes.c_uint64)]


#: Address space reserved per heap (untouched pages cost nothing: MAP_NORESERVE).
HEAP_RESERVE = 1 << 33
# Python's mmap module exports MAP_NORESERVE from 3.12 only: without it each heap's 8 GiB
# counted against the commit limit, and a process with three heaps alive could not fork
# (ENOMEM: the tier-up's compiling child).  Linux's value, as runtime/memory.py does.
_MAP_NORESERVE = getattr(mmap, "MAP_NORESERVE", 0x4000 if sys.platform.startswith("linux") else 0)
INITIAL_SPACE = 4 << 20
#: The heap grows until at least this many quarters of it are free after a collection (so
#: a collection comes at most every 3x the live data allocated).
FREE_SHARE = 3
#: Free gaps smaller than this between live objects are not reused until they merge.
_MIN_GAP = 64
_ZEROS = memoryview(bytes(1 << 20))
_ZERO_RUNS = re.compile(rb"\x00+")
ROOT_SLOTS = 1 << 20
_U64 = _struct.Struct("<Q")
_U32 = _struct.Struct("<I")


class NativeHeap:
    """The GC heap of one store (see the module docstring)."""

    def __init__(self, store_ref=None):
        # The store's limits (Store.set_limits: memory_size bounds the heap too), read when
        # the heap grows.
        self.store_ref = store_ref
        self.reserve = HEAP_RESERVE
        self.map = mmap.mmap(-1, self.reserve, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS
                             | _MAP_NORESERVE)
        self.export = ctypes.c_char.from_buffer(self.map)
        self.base = ctypes.addressof(self.export)
        if self.base < HANDLE_LIMIT:
            raise WasmError("the GC heap could not be mapped above 4 GiB")
        self.view = memoryview(self.map)
        self.size = INITIAL_SPACE           # bytes of the reserve in use
        self.block = HeapBlock()
        self.addr = ctypes.addressof(self.block)
        lo = self.base
        self.block.cur, self.block.limit = lo, lo + self.size
        self.roots_map = mmap.mmap(-1, 8 * ROOT_SLOTS)
        self.roots_export = ctypes.c_char.from_buffer(self.roots_map)
        self.roots_base = ctypes.addressof(self.roots_export)
        self.roots_view = memoryview(self.roots_map).cast("Q")
        self.block.roots_top = self.roots_base
        self.block.roots_end = self.roots_base + 8 * ROOT_SLOTS
        # Objects Python holds: handle index -> address (0: free), and one proxy per object.
        self.handles: List[int] = []
        self.free_handles: List[int] = []
        self.proxies: "weakref.WeakValueDictionary[int, Any]" = weakref.WeakValueDictionary()
        # Host values referred to from fields: index -> object (None: free).
        self.hosts: List[Any] = []
        self.host_index: Dict[int, int] = {}
        self.free_hosts: List[int] = []
        self.collections = 0
        self.live = 0                   # bytes live after the last collection
        # The free gaps of the heap (start, end) allocation moves through, in address order.
        self.gaps: List[tuple] = []
        self.gap_index = 0

    @property
    def max_bytes(self) -> "int | None":
        store = self.store_ref() if self.store_ref is not None else None
        return getattr(store, "_memory_size", None)

    # ----- memory access -----

    def u64(self, addr: int) -> int:
        return _U64.unpack_from(self.view, addr - self.base)[0]

    def set_u64(self, addr: int, v: int) -> None:
        _U64.pack_into(self.view, addr - self.base, v)

    def array_len(self, addr: int) -> int:
        return _U32.unpack_from(self.view, addr - self.base + 8)[0]

    # ----- allocation (the slow path of generated code, and Python's) -----

    def alloc(self, n: int) -> int:
        """The address of ``n`` zeroed bytes (a multiple of 8): the next free gap that holds
        them, else after a collection, else in the grown heap; traps "GC heap out of memory"
        when the store's limit forbids more."""
        b = self.block
        p = b.cur
        if p + n <= b.limit:
            b.cur = p + n
            return p
        p = self._next_gap(n)
        if p is None:
            self.collect(n)
            p = self._next_gap(n)
            if p is None:
                self._grow(n)
                p = self._next_gap(n)
        return p

    def _next_gap(self, n: int):
        gaps, b = self.gaps, self.block
        while self.gap_index < len(gaps):
            s, e = gaps[self.gap_index]
            self.gap_index += 1
            if e - s >= n:
                b.cur, b.limit = s + n, e
                return s
        return None

    def _grow(self, need: int) -> None:
        """Extend the heap so that its free part is at least FREE_SHARE quarters of it and holds
        ``need``."""
        old = self.size
        size = old
        while size - self.live < max(size * FREE_SHARE // 4, need + 8) and size < self.reserve:
            size *= 2
        size = min(size, self.reserve)
        limit = self.max_bytes
        if limit is not None and size > limit:
            size = max(limit, old)
        if size - old < need and not self._fits(need):
            raise Trap("GC heap out of memory", TrapCode.ALLOCATION_TOO_LARGE)
        if size > old:
            self.gaps.append((self.base + old, self.base + size))
            self.size = size

    def _fits(self, need: int) -> bool:
        return any(e - s >= need for s, e in self.gaps[self.gap_index:])

    # ----- collection -----

    def collect(self, need: int = 0) -> None:
        """Mark what the roots reach, then make the space between live objects the free
        gaps, zeroed, that allocation bumps through (objects never move, so values in
        registers stay valid and cycles die like any other garbage).  Grows the heap when
        more than a quarter of it is live."""
        self.collections += 1
        mark = gcmark.marker()
        if mark is not None:
            gaps = self._mark_native(mark)
        else:
            gaps = self._mark_python()
        # The free gaps, zeroed (allocation hands out zeroed memory).
        base, view, zero = self.base, self.view, _ZEROS
        for s, e in gaps:
            k = s - base
            while k < e - base:
                m = min(len(zero), e - base - k)
                view[k:k + m] = zero[:m]
                k += m
        self.gaps, self.gap_index = gaps, 0
        self.block.cur = self.block.limit = base
        if self.size - self.live < self.size * FREE_SHARE // 4 or not self._fits(need):
            self._grow(need)

    def _mark_native(self, mark) -> list:
        """Mark with the machine code of llvm/gcmark.py; the gaps from the bitmap's runs of
        zero bytes (64 heap bytes each)."""
        lo, size = self.base, self.size
        bitmap = bytearray(size // 64 + 1)
        stack = mmap.mmap(-1, max(size, mmap.PAGESIZE), flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS
                          | _MAP_NORESERVE)
        handles = [v for v in self.handles if v]
        harr = (ctypes.c_uint64 * max(len(handles), 1))(*handles)
        hostmap = bytearray(max(len(self.hosts), 1))
        bm = (ctypes.c_char * len(bitmap)).from_buffer(bitmap)
        hm = (ctypes.c_char * len(hostmap)).from_buffer(hostmap)
        st = ctypes.c_char.from_buffer(stack)
        ctx = (ctypes.c_uint64 * 11)(
            lo, lo + size, ctypes.addressof(bm), ctypes.addressof(st), self.roots_base,
            (self.block.roots_top - self.roots_base) // 8, ctypes.addressof(harr), len(handles),
            ctypes.addressof(hm), len(self.hosts), 0)
        try:
            mark(ctypes.addressof(ctx))
        finally:
            del st, bm, hm
            stack.close()
        self.live = ctx[10]
        self._sweep_hosts(hostmap)
        gaps = []
        for m in _ZERO_RUNS.finditer(bitmap):
            s, e = lo + 64 * m.start(), min(lo + 64 * m.end(), lo + size)
            if e > s:
                gaps.append((s, e))
        return gaps

    def _sweep_hosts(self, live) -> None:
        """Drop the host values no field refers to any more (``live[i]``: index i is)."""
        for k, obj in enumerate(self.hosts):
            if obj is not None and not live[k]:
                self.host_index.pop(id(obj), None)
                self.hosts[k] = None
                self.free_hosts.append(k)

    def _mark_python(self) -> list:
        """The same marking in Python (no llvmlite to make the machine code); the gaps
        between the live objects, sorted."""
        base, lo, hi = self.base, self.base, self.base + self.size
        view = self.view
        u64_from = _U64.unpack_from
        u32_from = _U32.unpack_from
        rtt_at = _RTT_AT
        live: Dict[int, int] = {}
        hosts_live = set()
        stack: List[int] = []
        push = stack.append
        roots = self.roots_view
        for k in range((self.block.roots_top - self.roots_base) // 8):
            v = roots[k]
            if lo <= v < hi:
                push(v)
        for v in self.handles:
            if v:
                push(v)
        pop = stack.pop
        while stack:
            v = pop()
            if v in live:
                continue
            r = rtt_at[u64_from(view, v - base)[0]]
            if r.kind == KIND_STRUCT:
                live[v] = r.size
                at = v - base
                for o in r.ref_offsets:
                    w = u64_from(view, at + o)[0]
                    if lo <= w < hi:
                        if w not in live:
                            push(w)
                    elif w & TAG_HOST and not w & TAG_I31:
                        hosts_live.add(w & M31)
            else:
                n = u32_from(view, v - base + 8)[0]
                live[v] = (ARRAY_HEADER + n * r.esize + 7) & ~7
                if r.elem_ref and n:
                    for w in _struct.unpack_from(f"<{n}Q", view, v - base + ARRAY_HEADER):
                        if lo <= w < hi:
                            if w not in live:
                                push(w)
                        elif w & TAG_HOST and not w & TAG_I31:
                            hosts_live.add(w & M31)
        self._sweep_hosts([k in hosts_live for k in range(len(self.hosts))])
        gaps = []
        at = lo
        for v in sorted(live):
            if v - at >= _MIN_GAP:
                gaps.append((at, v))
            at = v + live[v]
        if hi - at >= 8:
            gaps.append((at, hi))
        self.live = sum(live.values())
        return gaps

    # ----- handles: the objects Python holds -----

    def proxy(self, addr: int):
        """The Python object standing for the heap object at ``addr`` (one per object while
        it lives, so identity holds across calls)."""
        p = self.proxies.get(addr)
        if p is not None:
            return p
        r = _RTT_AT[self.u64(addr)]
        if self.free_handles:
            k = self.free_handles.pop()
            self.handles[k] = addr
        else:
            k = len(self.handles)
            self.handles.append(addr)
        if r.kind == KIND_STRUCT:
            p = NativeStruct.__new__(NativeStruct)
            _STRUCT_TYPE.__set__(p, r.heap)
            _STRUCT_FIELDS.__set__(p, _Handle(self, k))
        else:
            p = NativeArray.__new__(NativeArray)
            _ARRAY_TYPE.__set__(p, r.heap)
            _ARRAY_ELEMS.__set__(p, _Handle(self, k))
        self.proxies[addr] = p
        return p

    def release(self, k: int) -> None:
        if k < len(self.handles):
            self.handles[k] = 0
            self.free_handles.append(k)

    def box(self, obj) -> int:
        """``TAG_HOST | i``: host value ``obj`` as a field holds it."""
        k = self.host_index.get(id(obj))
        if k is not None and self.hosts[k] is obj:
            return TAG_HOST | k
        if self.free_hosts:
            k = self.free_hosts.pop()
            self.hosts[k] = obj
        else:
            k = len(self.hosts)
            self.hosts.append(obj)
        self.host_index[id(obj)] = k
        return TAG_HOST | k

    def unbox(self, v: int):
        return self.hosts[v & M31]

    # ----- objects made or read by Python -----

    def store_value(self, at: int, storage: str, v, to_native) -> None:
        """Write value ``v`` (internal form) of ``storage`` type at address ``at``."""
        off = at - self.base
        view = self.view
        if storage == "i8":
            view[off] = v & 0xFF
        elif storage == "i16":
            _struct.pack_into("<H", view, off, v & 0xFFFF)
        elif storage == "i32":
            _struct.pack_into("<I", view, off, v)
        elif storage == "i64":
            _struct.pack_into("<Q", view, off, v)
        elif storage == "f32":
            _struct.pack_into("<I", view, off, f32_to_bits(v))
        elif storage == "f64":
            _struct.pack_into("<Q", view, off, f64_to_bits(v))
        elif storage == "v128":
            view[off:off + 16] = v.to_bytes(16, "little")
        else:
            _struct.pack_into("<Q", view, off, to_native(v))

    def load_value(self, at: int, storage: str):
        off = at - self.base
        view = self.view
        if storage == "i8":
            return view[off]
        if storage == "i16":
            return _struct.unpack_from("<H", view, off)[0]
        if storage == "i32":
            return _struct.unpack_from("<I", view, off)[0]
        if storage == "i64":
            return _struct.unpack_from("<Q", view, off)[0]
        if storage == "f32":
            return f32_from_bits(_struct.unpack_from("<I", view, off)[0])
        if storage == "f64":
            return f64_from_bits(_struct.unpack_from("<Q", view, off)[0])
        if storage == "v128":
            return int.from_bytes(view[off:off + 16], "little")
        return self.to_python(_struct.unpack_from("<Q", view, off)[0])

    def to_python(self, v: int):
        """A stored reference as Python sees it (host values unboxed)."""
        if v == 0:
            return None
        if v & TAG_I31:
            return I31(v & M31)
        if v & TAG_HOST:
            return self.unbox(v)
        return self.proxy(v)

    def to_stored(self, x) -> int:
        """A Python reference as a field stores it."""
        if x is None:
            return 0
        t = type(x)
        if t is I31:
            return TAG_I31 | x.value
        if t is NativeStruct or t is NativeArray:
            return self.address_of(x)
        if t is Struct or t is Array:
            return self.adopt(x)
        if t is HostAny or t is ExternAny:
            return self.to_stored(x.value)
        return self.box(x)

    def address_of(self, p) -> int:
        h = _raw_handle(p)
        if h.heap is not self:
            raise WasmError("a GC object of another store (or of the llvm tier's other heap) "
                            "cannot be used here")
        return self.handles[h.index]

    def adopt(self, obj) -> int:
        """Move an interp-tier object (made by a constant expression of an instance of this
        tier) into the heap: the object becomes the proxy of its native copy, so everything
        that holds it sees the same object.  It becomes the proxy before its fields are
        converted, so a cycle leading back to it finds its address (and the handle keeps the
        new object alive while converting a field allocates)."""
        if type(obj) is Struct:
            r = rtt_of(obj.type)
            fields = list(obj.fields)
            addr = self.alloc(r.size)
            self.view[addr - self.base:addr - self.base + r.size] = bytes(r.size)
            self.set_u64(addr, r.addr)
            self._become(obj, addr, r)
            for o, s, v in zip(r.offsets, r.storages, fields):
                self.store_value(addr + o, s, v, self.to_stored)
            return addr
        r = rtt_of(obj.type)
        elems = list(obj.elems)
        n = (ARRAY_HEADER + len(elems) * r.esize + 7) & ~7
        addr = self.alloc(n)
        self.view[addr - self.base:addr - self.base + n] = bytes(n)
        self.set_u64(addr, r.addr)
        _U32.pack_into(self.view, addr - self.base + 8, len(elems))
        self._become(obj, addr, r)
        for k, v in enumerate(elems):
            self.store_value(addr + ARRAY_HEADER + k * r.esize, r.storage, v, self.to_stored)
        return addr

    def _become(self, obj, addr: int, r: RTT) -> None:
        if self.free_handles:
            k = self.free_handles.pop()
            self.handles[k] = addr
        else:
            k = len(self.handles)
            self.handles.append(addr)
        if type(obj) is Struct:
            obj.__class__ = NativeStruct
            _STRUCT_FIELDS.__set__(obj, _Handle(self, k))
        else:
            obj.__class__ = NativeArray
            _ARRAY_ELEMS.__set__(obj, _Handle(self, k))
        self.proxies[addr] = obj


class _Handle:
    """A proxy's entry in its heap's handle table, released when the proxy dies."""

    __slots__ = ("heap", "index", "__weakref__")

    def __init__(self, heap: NativeHeap, index: int):
        self.heap = heap
        self.index = index

    def __del__(self):
        try:
            self.heap.release(self.index)
        except Exception:       # noqa: BLE001 - interpreter shutdown
            pass


_STRUCT_TYPE = Struct.__dict__["type"]
_STRUCT_FIELDS = Struct.__dict__["fields"]
_ARRAY_TYPE = Array.__dict__["type"]
_ARRAY_ELEMS = Array.__dict__["elems"]


def _raw_handle(p) -> _Handle:
    if isinstance(p, Struct):
        return _STRUCT_FIELDS.__get__(p)
    return _ARRAY_ELEMS.__get__(p)


_CROSS_TIER = ("a GC object of the llvm tier's heap cannot be used by interp-tier code (the "
               "instances that share GC objects must run on one tier)")


class NativeStruct(Struct):
    """A struct of the llvm tier's heap as Python sees it: its type (``type``), identity
    kept across calls, its fields readable with :meth:`values`.  Interp-tier code refuses
    it (``fields`` raises): GC objects do not cross between the tiers."""

    __slots__ = ()

    @property
    def fields(self):       # type: ignore[override]
        raise WasmError(_CROSS_TIER)

    def values(self) -> tuple:
        """The field values (read from native memory now)."""
        h = _STRUCT_FIELDS.__get__(self)
        heap = h.heap
        addr = heap.handles[h.index]
        r = rtt_of(self.type)
        return tuple(heap.load_value(addr + o, s) for o, s in zip(r.offsets, r.storages))

    def __repr__(self) -> str:
        return f"<struct {self.type}>"


class NativeArray(Array):
    """An array of the llvm tier's heap as Python sees it (elements: :meth:`values`)."""

    __slots__ = ()

    @property
    def elems(self):        # type: ignore[override]
        raise WasmError(_CROSS_TIER)

    def values(self) -> tuple:
        """The elements (read from native memory now)."""
        h = _ARRAY_ELEMS.__get__(self)
        heap = h.heap
        addr = heap.handles[h.index]
        r = rtt_of(self.type)
        n = _U32.unpack_from(heap.view, addr - heap.base + 8)[0]
        return tuple(heap.load_value(addr + ARRAY_HEADER + k * r.esize, r.storage) for k in range(n))

    def __repr__(self) -> str:
        return f"<array {self.type}>"


# ----- one heap per store -----

_heaps: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def heap_of(store, lock=None) -> NativeHeap:
    """The GC heap of ``store`` (made on first use; ``None``: a heap of its own), whose
    collector ``Store.gc()`` runs (under ``lock``, the store's native-execution lock)."""
    if store is None:
        return NativeHeap()
    h = _heaps.get(store)
    if h is None:
        h = _heaps[store] = NativeHeap(weakref.ref(store))
        collectors = getattr(store, "_collectors", None)
        if collectors is not None:
            collectors.append(functools.partial(_collect_locked, weakref.ref(h), lock))
    return h


def _collect_locked(heap_ref, lock) -> None:
    heap = heap_ref()
    if heap is None:
        return
    if lock is None:
        heap.collect()
        return
    with lock:
        heap.collect()


__all__ = ["NativeHeap", "NativeStruct", "NativeArray", "RTT", "rtt_of", "heap_of",
           "TAG_I31", "TAG_HOST", "HANDLE_LIMIT", "struct_layout", "storage_size"]
