"""Binding compiled code to a runtime instance: the ``vmctx``, the native views of memories,
globals and tables, the Python entry wrappers and the callback generated code calls.

Native views of shared runtime objects
--------------------------------------
Memories and numeric globals may be shared between instances (and tiers) and are read and
written by Python code too, so their state must have one home.  The llvm tier moves it into
native memory and keeps the Python objects working on top of it:

- a :class:`MemoryInstance` becomes a :class:`NativeMemory` (a subclass with no new slots,
  assigned to ``__class__``): its ``size`` slot then holds a :class:`MemBlock` and ``size``
  is a property reading and writing ``MemBlock.size``.  The block also keeps a buffer export
  of the mapping, so the mapping cannot be unmapped while compiled code may use it.
- a numeric :class:`GlobalInstance` likewise becomes a ``NativeGlobal*`` whose ``value`` slot
  holds a ctypes cell and whose ``value`` property converts to and from the internal form.

Both conversions happen once per object; every view (API, interp tier, other instances) stays
consistent because there is only one copy.  Reference globals stay Python objects (generated
code reaches them through the callback).

Tables stay Python lists (the interface lets anyone mutate them).  Each instance keeps a
:class:`TableMirror` per funcref table for ``call_indirect``: ``(signature id, native address
or 0)`` per slot.  The list (a :class:`~wasmforge.runtime.table.TableElements`) reports each
write to the mirrors watching it, which update the entries written and nothing else: the
cost of a table instruction does not depend on the table's size.

References are i64 handles into the instance's :class:`RefRegistry`: 0 is null, ``1 + i`` is
function ``i`` of the index space, later handles are assigned on first sight and dropped when
the entry that made them returns (only native frames hold handles: tables and reference
globals hold the objects), so the registry keeps no host object alive after the call.

Store-wide counters
-------------------
The wasm stack in use and the fuel belong to the store (its cells, runtime/tier.py, shared
with the interp tier's code).  Native code keeps them in ``vm[DEPTH]``/``vm[FUEL]``;
each entry copies them in and back out, each callback out and back in, so whichever side runs
sees the current value; a native call into another instance (``vm[IMPORTS]``,
:meth:`NativeInstance._link`) copies them into the callee's vmctx and back.  The backtrace of
a trap comes from the store's :class:`ShadowStack`.
"""

from __future__ import annotations

import ctypes
import mmap
import operator
from array import array
from itertools import compress, repeat
import struct
import sys
import _thread
import threading
import weakref
from functools import partial as _partial
from typing import Callable, NamedTuple, Optional

from ..binary.offsets import CodeOffsets
from ..errors import Trap, TrapCode, WasmError, WasmException
from ..module import GLOBAL, TABLE
from ..runtime import atomics, support
from ..runtime import gc as rgc
from ..numerics.bits import MASK32, MASK64, f32_from_bits, f32_to_bits, f64_from_bits, f64_to_bits
from ..runtime.func import LazyFuncInstance, set_call
from ..runtime.glob import GlobalInstance
from ..runtime.instance import instance_plan
from ..runtime.memory import MemoryInstance
from ..runtime.metering import FRAME_BYTES
from ..runtime.table import TableElements
from ..runtime.tag import Exn
from ..runtime.tier import store_cells
from ..types import ArrayType, FuncType, StructType, func_type_matches, heap_top, is_ref, ref_parts, storage_type
from . import gcheap
from . import layout as L
from .loader import entry_caller as _entry_caller
from . import sigint
from .gcheap import HANDLE_LIMIT, TAG_I31, NativeArray, NativeStruct
from .gcops import NULL_MESSAGES
from .copies import split
from .unwind import Backtrace, snapshot

DEFAULT_MAX_CALL_DEPTH = 20000
# The size of the jmp_buf in an entry trampoline's frame (trampolines.entry_trampoline): a
# trap's wasm frames are below its end.
_JMPBUF_BYTES = 64 * 8

# ----- native memories -----

_SIZE_SLOT = MemoryInstance.size


class NativeMemory(MemoryInstance):
    """A MemoryInstance whose current size lives in a :class:`MemBlock` shared with compiled
    code (see the module docstring)."""

    __slots__ = ()

    @property
    def size(self) -> int:
        return _SIZE_SLOT.__get__(self, MemoryInstance).size

    @size.setter
    def size(self, value: int) -> None:
        _SIZE_SLOT.__get__(self, MemoryInstance).size = value

    def _pin(self):
        # The block's ``export`` views the mapping, and comes back with it when recycled
        # (runtime/memory.py), so the next memory made native skips from_buffer.  Not the
        # block: the dead memory keeps its own (size 0), which no later memory shares.
        return _SIZE_SLOT.__get__(self, MemoryInstance).export


def native_memory(mem: MemoryInstance) -> L.MemBlock:
    """The MemBlock of ``mem``, converting it to a NativeMemory on first use."""
    if type(mem) is NativeMemory:
        return _SIZE_SLOT.__get__(mem, MemoryInstance)
    if type(mem) is not MemoryInstance:
        raise WasmError(f"the llvm tier cannot use a memory of type {type(mem).__name__}")
    export = mem.pinned
    if export is not None:
        # A recycled mapping's pin (runtime/memory.py): a view of this mapping.
        mem.pinned = None
    else:
        export = ctypes.c_char.from_buffer(mem.data)
    block = L.MemBlock()
    block.base = ctypes.addressof(export)
    block.size = mem.size
    block.export = export       # pins the mapping while compiled code may use it
    _SIZE_SLOT.__set__(mem, block)
    mem.__class__ = NativeMemory
    return block


# ----- native globals -----

_VALUE_SLOT = GlobalInstance.value


def _global_class(name, ctype, load, store):
    def get(self):
        return load(_VALUE_SLOT.__get__(self, GlobalInstance).value)

    def set_(self, v):
        _VALUE_SLOT.__get__(self, GlobalInstance).value = store(v)

    cls = type(name, (GlobalInstance,), {
        "__slots__": (), "value": property(get, set_),
        "__doc__": "A GlobalInstance whose value lives in a native cell shared with compiled code."})
    cls.ctype = ctype
    cls.encode = staticmethod(store)
    return cls


def _ident(v):
    return v


class _V128Cell(ctypes.Structure):
    _fields_ = [("lo", ctypes.c_uint64), ("hi", ctypes.c_uint64)]

    @property
    def value(self) -> int:
        return self.lo | (self.hi << 64)

    @value.setter
    def value(self, v: int) -> None:
        self.lo = v & MASK64
        self.hi = v >> 64


NATIVE_GLOBAL = {
    "v128": _global_class("NativeGlobalV128", _V128Cell, _ident, _ident),
    "i32": _global_class("NativeGlobalI32", ctypes.c_uint32, _ident, _ident),
    "i64": _global_class("NativeGlobalI64", ctypes.c_uint64, _ident, _ident),
    "f32": _global_class("NativeGlobalF32", ctypes.c_uint32, f32_from_bits, f32_to_bits),
    "f64": _global_class("NativeGlobalF64", ctypes.c_double, _ident, _ident),
}
_NATIVE_GLOBAL_TYPES = frozenset(NATIVE_GLOBAL.values())


def native_global(g: GlobalInstance) -> int:
    """The address of the native cell of numeric global ``g``, converting it on first use."""
    if type(g) in _NATIVE_GLOBAL_TYPES:
        return ctypes.addressof(_VALUE_SLOT.__get__(g, GlobalInstance))
    if type(g) is not GlobalInstance:
        raise WasmError(f"the llvm tier cannot use a global of type {type(g).__name__}")
    cls = NATIVE_GLOBAL[g.type.content]
    value = _VALUE_SLOT.__get__(g, GlobalInstance)
    encode = cls.encode
    if cls.ctype is _V128Cell:
        cell = cls.ctype()
        cell.value = value
    else:
        cell = cls.ctype(value if encode is _ident else encode(value))
    _VALUE_SLOT.__set__(g, cell)
    g.__class__ = cls
    return ctypes.addressof(cell)


# ----- signatures and references -----

_SIG_IDS: dict = {}
_sig_lock = threading.Lock()


# The id of each type object looked up lately: id(type) -> (the type, its id).  An instance
# encodes a table's entries and its module's signatures with the type objects of the
# module's plan, the same objects for every instance (and for every load of one artifact).
class _ByIdentity(dict):
    """What ``make`` gives for each type object looked up lately, found by the object's
    identity (a type hashes in Python): id(type) -> (the type, its value).  The type is held,
    so its id is not reused while it is a key; past ``kept`` entries all are forgotten."""

    __slots__ = ("make", "kept")

    def __init__(self, make, kept: int = 4096) -> None:
        super().__init__()
        self.make = make
        self.kept = kept

    def of(self, t):
        hit = self.get(id(t))
        if hit is not None and hit[0] is t:
            return hit[1]
        value = self.make(t)
        if len(self) >= self.kept:
            self.clear()
        self[id(t)] = (t, value)
        return value


_SIG_OF = _ByIdentity(lambda ft: _sig_id(ft))


def sig_id(ft) -> int:
    """A process-wide id per distinct function type (spec 4.4.7 call_indirect compares types
    structurally)."""
    return _SIG_OF.of(ft)


def _sig_id(ft) -> int:
    # Keyed by plain tuples of the type names: FuncTypes compare their ValTypes in Python
    # (a ValTypes also equals a list), and an instance of a new module looks every type up.
    if not isinstance(ft, FuncType):
        return -2       # a struct or array type (GC): no function has it
    key = (tuple(ft.params), tuple(ft.results))
    if ft.heap is not None:
        key += (ft.heap,)   # a type of a recursive group or with supertypes (GC): its identity
    k = _SIG_IDS.get(key)
    if k is None:
        with _sig_lock:
            k = _SIG_IDS.setdefault(key, len(_SIG_IDS))
    return k


class RefRegistry:
    """Handles for reference values seen by one instance's native code (0 = null).

    Handles ``1 .. len(funcs)`` name the instance's function index space for its whole life
    (``ref.func`` compiles to a constant).  Any other object gets the next handle when it is
    converted for native code, and keeps it only while a native frame may hold it: generated
    code keeps handles in locals and on the operand stack only, because reference globals and
    tables hold the Python objects (they are reached through the callback) and linear memory
    cannot hold references.  So each entry notes :attr:`top` and, when it returns or traps,
    :meth:`release` drops the handles made since: those made by a nested entry are dropped
    when it returns, while the outer frames' older handles stay.  The same object keeps one
    handle while it is registered; it may get another in a later call, which no native state
    can notice."""

    __slots__ = ("funcs", "base", "top", "_objs", "_ids", "__weakref__")

    def __init__(self, funcs):
        # Made on first use: most short-lived instances never convert a reference.
        self.funcs = funcs
        self.base = 1 + len(funcs)      # the first handle that is not a function's
        self.top = 0                    # len(objs) once made; compared by every entry
        self._objs = self._ids = None

    @property
    def objs(self) -> list:
        """Handle -> object.  ``ref.func i`` compiles to the constant handle 1 + i."""
        if self._objs is None:
            self._objs = [None] + list(self.funcs)
            self.top = len(self._objs)
        return self._objs

    @property
    def ids(self) -> dict:
        """id(object) -> handle.  A function imported twice keeps its first handle: the dict
        is built from the end, so earlier entries win."""
        if self._ids is None:
            funcs = self.objs[1:]
            self._ids = dict(zip(map(id, reversed(funcs)), range(len(funcs), 0, -1)))
        return self._ids

    def intern(self, x) -> int:
        if x is None:
            return 0
        ids = self._ids
        if ids is None:
            ids = self.ids
        k = id(x)
        h = ids.get(k)
        if h is None:
            objs = self._objs
            h = ids[k] = len(objs)
            objs.append(x)
            self.top = h + 1
        return h

    def release(self, mark: int) -> None:
        """Forget the handles made since :attr:`top` was ``mark`` (never the functions'),
        so the registry no longer keeps their objects alive.  The list shrinks in place:
        the conversions hold its bound ``__getitem__``."""
        objs, ids = self._objs, self._ids
        if mark < self.base:
            mark = self.base
        if len(objs) == mark + 1:       # the usual case (one object passed in): no loop
            ids.pop(id(objs[mark]), None)
            objs.pop()
            self.top = mark
            return
        while len(objs) > mark:
            # The id goes first: if a KeyboardInterrupt lands between the two, the registry
            # keeps an object it no longer finds (dropped by a later release), never an id
            # that could name a later object.
            ids.pop(id(objs[-1]), None)
            objs.pop()
        self.top = len(objs)


class _GCObjs(list):
    """The registry's handle -> object list of a GC module's instance, which also decodes
    the values that are no handle (llvm/gcheap.py): an i31, a heap object's address."""

    __slots__ = ("heap",)

    def __getitem__(self, h):
        if type(h) is int and h >= HANDLE_LIMIT:
            return self.heap.to_python(h)
        return list.__getitem__(self, h)


class GCRefRegistry(RefRegistry):
    """The reference registry of an instance of a module that uses GC: GC objects are
    heap addresses and i31 values tagged integers (llvm/gcheap.py), everything else gets a
    handle as in :class:`RefRegistry`."""

    __slots__ = ("heap", "types")

    def __init__(self, funcs, heap, types):
        super().__init__(funcs)
        self.heap = heap
        self.types = types

    @property
    def objs(self) -> list:
        if self._objs is None:
            objs = _GCObjs([None] + list(self.funcs))
            objs.heap = self.heap
            self._objs = objs
            self.top = len(objs)
        return self._objs

    def intern(self, x) -> int:
        t = type(x)
        if t is rgc.I31:
            return TAG_I31 | x.value
        if t is NativeStruct or t is NativeArray:
            return self.heap.address_of(x)
        if t is rgc.Struct or t is rgc.Array:
            return self.heap.adopt(x)
        if t is rgc.HostAny or t is rgc.ExternAny:
            return self.intern(x.value)
        return RefRegistry.intern(self, x)

    def from_native(self, t: str):
        """The conversion of a native value of type ``t`` for Python: the static type says
        how a value crosses (a heap object as an externref is an ExternAny, a host value as
        an anyref a HostAny), as the interp tier holds them."""
        heap = ref_parts(t)[1]
        if isinstance(heap, int):
            top = "any" if isinstance(self.types[heap], (StructType, ArrayType)) else "func"
        else:
            top = heap_top(heap)
        objs = self.objs
        if top == "any":
            def any_(v):
                if v == 0:
                    return None
                if v >= HANDLE_LIMIT:
                    return objs[v]
                return rgc.HostAny(objs[v])
            return any_
        if top == "extern":
            def extern(v):
                if v >= HANDLE_LIMIT:
                    return rgc.ExternAny(objs[v])
                return objs[v]
            return extern
        return objs.__getitem__


_ENTRY = struct.Struct("<qQ")         # L.TableEntry: sig, fn
_NULL_ENTRY = _ENTRY.pack(-1, 0)
_NO_TYPE = object()                     # the type column's mark of a null entry (TableMirror._encode)
#: a table at least this long is filled from the image its mirror's module kept
#: (TableMirror._image): shorter ones are encoded at once
_IMAGE_MIN = 256
_get_inst = operator.attrgetter("inst")


class _Image(NamedTuple):
    """A mirror's encoded table, kept by its compiled module for the next instance's mirror
    of the same table (TableMirror._image): valid for a table whose entries have the same
    classes position by position, while the module's function addresses are the same."""

    classes: list               # type(entry) per position
    data: bytes                 # the entries as encoded
    own: Optional[Callable]     # picks the entries encoded with a native address (None: none)
    special: list               # positions of entries whose class does not name the function
    addrs: list                 # the module's function addresses when encoded (0: not compiled)
    placeholders: list          # the table's placeholders (runtime/table.py TableElements.place), in order
    sources: list               # the module of each placeholder source, and which one is the instance's


class TableMirror:
    """The ``call_indirect`` view of one funcref table for one instance: a native array of
    :class:`~layout.TableEntry`, kept right element by element.  It watches the table's
    :class:`~wasmforge.runtime.table.TableElements`, so every write — by either tier, the API
    or instantiation — updates the entries written: one for ``table.set``, the range for
    ``table.fill``/``copy``/``init`` (a uniform range is one repeated byte string), and the
    new slots for ``table.grow``, whose array grows by doubling (amortised, as ``list``).
    Nothing is compared or rebuilt whole, whatever the table's size.

    Only native code reads a mirror, and native code of an instance runs only behind one of
    its entries (:meth:`NativeInstance._entry`): so the mirror is filled, and starts watching,
    when the instance makes its first entry (:meth:`fill`), not when it is made.  A component
    instance per request made ~15 mirrors of one shared table and re-encoded it for every
    element segment written into it (~50,000 entries, half its instantiation); most of those
    instances are never entered before the request ends."""

    __slots__ = ("table", "elements", "struct", "array", "capacity", "own", "key", "__weakref__")

    def __init__(self, table, own, key: int = 0):
        if not isinstance(table.elements, TableElements):
            raise WasmError(f"the llvm tier cannot use a table whose elements are a "
                            f"{type(table.elements).__name__}")
        self.table = table
        self.elements = table.elements
        self.struct = L.TableMirrorStruct()     # size 0 until filled
        self.array = None
        self.capacity = 0
        self.own = own          # FuncInstance -> native address (0: not this instance's, or not compiled)
        self.key = key          # the table's index in the instance (the image it is filled from)

    def fill(self) -> None:
        """Encode the whole table and follow its writes from now on (once)."""
        self.table_reset()
        self.elements.watch(self)

    def entry(self, e) -> bytes:
        if e is None:
            return _NULL_ENTRY
        if e.__class__ is int:
            # A function not made yet (runtime/table.py TableElements.place): described by
            # its source, never made here.
            t, inst, index = self.elements.function_of(e)
            native = getattr(self.own, "__self__", None)
            own = (native.compiled.func_addrs[index - native.nimported]
                   if isinstance(native, NativeInstance) and native.inst is inst else 0)
            return _ENTRY.pack(sig_id(t), own)
        return _ENTRY.pack(sig_id(e.type), self.own(e))

    def _reserve(self, n: int) -> None:
        if n <= self.capacity:
            return
        cap = max(n, min(2 * self.capacity, self.table.max), 16)
        arr = L.array_of(ctypes.c_char, _ENTRY.size * cap)()
        if self.array is not None:
            ctypes.memmove(arr, self.array, _ENTRY.size * min(self.struct.size, self.capacity))
        # Native code reloads the array address at every call_indirect and holds none across
        # a callback, so the old array may go.
        self.array, self.capacity = arr, cap
        self.struct.entries = ctypes.addressof(arr)

    def table_set(self, i: int, e) -> None:
        k = _ENTRY.size * i
        self.array[k:k + _ENTRY.size] = self.entry(e)

    def _encode(self, values) -> bytes:
        """The entries of ``values`` (a non-empty run of the table), as bytes."""
        if isinstance(values, TableElements):
            values = values.raw()       # placeholders stay placeholders (entry, below)
        n = len(values)
        first = values[0]
        if values.count(first) == n:        # table.fill, table.grow: one entry repeated
            return self.entry(first) * n
        entry = self.entry
        if n <= 32:                         # a table a module fills at instantiation
            return b"".join([entry(e) for e in values])
        native = getattr(self.own, "__self__", None)
        if not isinstance(native, NativeInstance):
            return b"".join([entry(e) for e in values])
        # A long run (a module's element segment, written into a table every instance of a
        # component shares: componentize-py's libpython writes ~10,000): the two columns of
        # the entries are made apart, a lookup per distinct type for the signature ids, and
        # interleaved by one strided assignment instead of a pack per entry.
        me, addrs, nimported = native.inst, native.compiled.func_addrs, native.nimported
        sources = self.elements.sources
        if sources:
            # Placeholders of functions not made (runtime/table.py TableElements.place):
            # ``source << 32 | index``, described by their source's plan, none made.
            fts = [sp.plan.func_types() for sp in sources]
            mine = next((s for s, sp in enumerate(sources) if sp.inst is me), -1)
            types = [_NO_TYPE if e is None else fts[e >> 32][e & 0xFFFFFFFF] if e.__class__ is int
                     else e.type for e in values]
            own = [0 if e is None else (addrs[(e & 0xFFFFFFFF) - nimported] if e >> 32 == mine else 0)
                   if e.__class__ is int else (addrs[e.index - nimported] if e.inst is me else 0)
                   for e in values]
        else:
            types = [_NO_TYPE if e is None else e.type for e in values]
            own = [addrs[e.index - nimported] if e is not None and e.inst is me else 0
                   for e in values]
        sig_of = {id(t): sig_id(t) for t in {id(t): t for t in types}.values() if t is not _NO_TYPE}
        sig_of[id(_NO_TYPE)] = -1
        out = array("q", bytes(_ENTRY.size * n))
        out[0::2] = array("q", [sig_of[id(t)] for t in types])
        out[1::2] = array("q", own)
        if sys.byteorder != "little":
            out.byteswap()
        return out.tobytes()

    def _image(self, els) -> bytes:
        """The encoded entries of the whole table ``els``, from the image the previous
        instance's mirror of this table left with the compiled module, when it applies.

        A component instance per request fills the same shared table the same way every
        time (componentize-py: ~20,000 entries, re-encoded by each of ~5 mirrors per request,
        a fifth of a request's CPU).  From a module's second instance on, its functions are
        objects of per-function classes (runtime/func.py ``function_classes``) that name the
        function, its type and so its signature id: a table whose entries have the same
        classes position by position encodes the same, but for the native addresses of this
        instance's own functions and the few entries whose class names no function (a
        function called already, a host function: encoded again).  The native addresses are
        the module's (its code is shared by its instances), given only to positions whose
        function is checked to be this instance's (else another instance's code would run
        with this vmctx); a position encoded without an address is always safe (the call
        goes through the callback, which fills the slot in).  An image is kept while the
        module's function addresses are the same (lazy compilation fills them in, a tier-up
        puts optimised code's in place of baseline code's)."""
        native = getattr(self.own, "__self__", None)
        if not isinstance(native, NativeInstance):
            return self._encode(els)
        images = native.compiled.__dict__.setdefault("mirror_images", {})
        me = native.inst
        # Read as held: a placeholder of a function not made (runtime/table.py
        # TableElements.place) names it by its value, ``source << 32 | index``, which encodes
        # the same while the sources are instances of the same modules, the same one this
        # instance (picked by C loops: reading the slots would make every function).
        if isinstance(els, TableElements):
            els = els.raw()
        classes = list(map(type, els))
        placeholders = list(compress(els, map(operator.is_, classes, repeat(int))))
        sources = self.elements.sources or ()
        sources = [sp.inst.module for sp in sources] + [
            next((s for s, sp in enumerate(sources) if sp.inst is me), -1)]
        # (compiled lazily, or optimised in place of baseline code: either changes them)
        addrs = native.compiled.func_addrs
        image = images.get(self.key)
        if image is not None and image.addrs == addrs and image.classes == classes \
                and image.placeholders == placeholders and image.sources == sources:
            picked = image.own(els) if image.own is not None else ()
            if all(map(operator.is_, map(_get_inst, picked), repeat(me))):
                if not image.special:
                    return image.data
                data = bytearray(image.data)
                size = _ENTRY.size
                for i in image.special:
                    data[size * i:size * (i + 1)] = self.entry(els[i])
                return bytes(data)
        data = self._encode(els)
        special, own = [], []
        for i, (c, e) in enumerate(zip(classes, els)):
            if e is None or c is int:
                continue
            if c is LazyFuncInstance or not issubclass(c, LazyFuncInstance):
                special.append(i)
            elif e.inst is me:
                own.append(i)
        if len(special) <= len(els) // 8:       # not a module's first instance
            pick = operator.itemgetter(*own) if len(own) > 1 else (
                (lambda xs, i=own[0]: (xs[i],)) if own else None)
            images[self.key] = _Image(classes, data, pick, special, list(addrs), placeholders, sources)
        return data

    def table_written(self, lo: int, values) -> None:
        if not values:
            return
        data = self._encode(values)
        ctypes.memmove(ctypes.addressof(self.array) + _ENTRY.size * lo, data, len(data))

    def table_grown(self, old: int, values) -> None:
        self._reserve(old + len(values))
        self.table_written(old, values)
        self.struct.size = len(self.elements)

    def table_reset(self) -> None:
        els = self.elements
        if self.array is None and els:
            # The first fill (each instance's, for each table): the array is made from the
            # entries' bytes in one step, with the capacity _reserve would give it.
            n = len(els)
            cap = max(n, 16)
            size = _ENTRY.size * cap
            data = self._image(els) if n >= _IMAGE_MIN else self._encode(els)
            self.array = L.array_of(ctypes.c_char, size).from_buffer_copy(data.ljust(size, b"\0"))
            self.capacity = cap
            self.struct.entries = ctypes.addressof(self.array)
            self.struct.size = n
            return
        self._reserve(max(len(els), 1))
        self.struct.size = 0
        self.table_written(0, els)
        self.struct.size = len(els)


# ----- per store: one thread at a time, the shadow stack -----

class ShadowStack:
    """The function index of every active wasm frame of a store, pushed and popped by the
    generated code, read when a trap unwinds (``int64 sampled; int64 height; int32
    funcidx[]``, ``addr`` the height's address: what ``vm[SHADOW]`` holds).  Optimised code
    keeps the height in registers between the moments something reads it
    (codegen.ModuleCompiler.splittable), and in memory at all times while ``sampled`` is
    set (a profiler reads it: llvm/sampling.py).  An anonymous mapping: only the pages a
    deep recursion touches cost memory."""

    def __init__(self, budget: int):
        # Each frame takes at least FRAME_BYTES of the budget, so the depth is bounded.
        self.capacity = budget // FRAME_BYTES + 2
        self.map = mmap.mmap(-1, 16 + 4 * self.capacity)
        self.export = ctypes.c_char.from_buffer(self.map)
        self.addr = ctypes.addressof(self.export) + 8
        self.height = ctypes.c_int64.from_address(self.addr)
        self.sampled = ctypes.c_int64.from_address(self.addr - 8)

    def frames(self, lo: int, hi: int) -> list:
        """The function indexes of frames ``lo..hi``, innermost first."""
        n = max(0, min(hi, self.capacity) - lo)
        return list((ctypes.c_int32 * n).from_address(self.addr + 8 + 4 * lo))[::-1]


# The shadow stacks of stores that are gone, for the next stores: a store per request then
# costs neither the mapping nor the page fault of its first frame.  Only frames a trap has
# just written are ever read from a stack (ShadowStack.frames), so reuse shows nothing of
# the store before.
_shadow_pool: list = []
_SHADOW_POOL_MAX = 32


class _StoreNative:
    """What this tier keeps per store (in the store's ``StoreCells.tiers``): ``lock``,
    serialising native execution in the store — entries release the GIL, and the instances of one store
    share tables, memories and the vmctx ``jmp_buf`` slot, so two threads must not run one
    store's code at once (a store is single-threaded, as in wasmtime); re-entrant for host
    calls that call back into wasm — and ``shadows``, the shadow stacks given to its
    instances (the last one current; a later instance with a larger budget gets a larger
    one).

    Since native code of one instance calls another's directly (``NativeInstance._link``),
    the state its instances' entries and callbacks hand across is the store's too:
    ``fuel_reserve``, the fuel above :data:`NATIVE_FUEL_MAX` waiting while native code
    runs (the callee's callback must add what the caller's entry set aside), and
    ``linked``, (weak reference, top when linked) of the reference registries of the
    instances other instances call natively: handles such a callee's callbacks make die with
    its frames, which no entry of its own surrounds, so every entry of the store drops those
    made during it — back to a registry's top when the entry began, or when it was linked if
    that was during the entry.  (Weak: a registry reaches its instance's store, which holds
    this object; while a table weak on the store held it, strong references here kept every
    served request's store alive.)"""

    __slots__ = ("lock", "shadows", "fuel_reserve", "linked")

    def __init__(self) -> None:
        self.lock = _RLock()
        self.shadows: list = []
        self.fuel_reserve = 0
        self.linked: list = []

    def __del__(self) -> None:
        # The store is gone, and its instances with it: its stacks serve the next stores.
        # (Possibly run by the garbage collector inside store_native's lock: no lock taken
        # here; list.append is atomic.)
        try:
            for sh in self.shadows:
                if len(_shadow_pool) < _SHADOW_POOL_MAX:
                    _shadow_pool.append(sh)
        except TypeError:           # at interpreter exit, with this module's globals cleared
            pass


# (the C lock threading.RLock makes, without its Python frame: a store per request)
_RLock = getattr(_thread, "RLock", threading.RLock)

# Each store's _StoreNative is kept in the store (its StoreCells.tiers, runtime/tier.py,
# under this key): it dies with the store as a value of a table weak on the store would, and
# finding it is a dict read instead of making a weak reference per instantiation (a store
# made per request paid two, and a callback when it died).
TIER_KEY = "llvm"
_natives_guard = threading.Lock()


def native_of_store(store) -> "Optional[_StoreNative]":
    """The :class:`_StoreNative` of ``store`` (a runtime Store), None before its first
    instance of this tier."""
    return store_cells(store).tiers.get(TIER_KEY)


def store_native(store, budget: int) -> tuple:
    """(the lock of ``store``, its shadow stack for a wasm stack ``budget``, its
    :class:`_StoreNative`)."""
    if store is None:
        return threading.RLock(), ShadowStack(budget), _StoreNative()
    need = budget // FRAME_BYTES + 2
    tiers = store_cells(store).tiers
    native = tiers.get(TIER_KEY)
    if native is not None:
        shadows = native.shadows
        if shadows and shadows[-1].capacity >= need:
            return native.lock, shadows[-1], native
    with _natives_guard:
        native = tiers.get(TIER_KEY)
        if native is None:
            native = tiers[TIER_KEY] = _StoreNative()
        shadows = native.shadows
        if not shadows or shadows[-1].capacity < need:
            sh = None
            for k in range(len(_shadow_pool) - 1, -1, -1):
                if _shadow_pool[k].capacity >= need:
                    sh = _shadow_pool.pop(k)
                    sh.height.value = 0
                    sh.sampled.value = 0
                    break
            shadows.append(sh if sh is not None else ShadowStack(budget))
        return native.lock, shadows[-1], native


# ----- the native stack guard -----

_tls = threading.local()
# Room left below the guard for the Python code of host calls made from deep wasm frames.
_STACK_RESERVE = 256 * 1024


def _stack_min() -> int:
    """The lowest stack address wasm frames may use on this thread (0 when unknown)."""
    lim = 0
    try:
        libc = ctypes.CDLL(None)
        libc.pthread_self.restype = ctypes.c_void_p
        attr = ctypes.create_string_buffer(256)
        if libc.pthread_getattr_np(ctypes.c_void_p(libc.pthread_self()), attr) == 0:
            addr, size = ctypes.c_void_p(), ctypes.c_size_t()
            libc.pthread_attr_getstack(attr, ctypes.byref(addr), ctypes.byref(size))
            libc.pthread_attr_destroy(attr)
            lim = (addr.value or 0) + min(_STACK_RESERVE * 4, size.value // 4)
    except (AttributeError, OSError):
        lim = 0
    return lim


def _call_entry(entry, vm_addr: int, fn: int, a_addr: int, r_addr: int, _block) -> int:
    """An entry's call where the loader's entry caller is not available."""
    return entry(vm_addr, fn, a_addr, r_addr)


def _thread_cells() -> tuple:
    """This thread's (stack floor, interrupt cell address, interrupt cell) for vm[STACK_MIN]
    and vm[INTERRUPT] (see llvm/sigint.py; the entry clears the cell): computed once per
    thread, read at every entry."""
    cells = getattr(_tls, "cells", None)
    if cells is None:
        cells = _tls.cells = (_stack_min(), sigint.cell_address(), sigint.cell())
    return cells


# ----- value conversion between u64 slots and the internal form -----
# Slots follow prelude.slot_offsets: one u64 per value, two (low half first) for a v128.

def _to_slot(t: str, refs: RefRegistry):
    if t == "f32":
        return f32_to_bits
    if t == "f64":
        return f64_to_bits
    if is_ref(t):
        return refs.intern
    return None


def _from_slot(t: str, refs: RefRegistry):
    if t == "f32":
        return f32_from_bits
    if t == "f64":
        return f64_from_bits
    if is_ref(t):
        if type(refs) is GCRefRegistry:
            return refs.from_native(t)
        return refs.objs.__getitem__
    return None


def _packer(types, refs: RefRegistry):
    """``pack(buf, first, values)`` storing ``values`` from slot ``first``; and the slot count."""
    plan, k = [], 0
    for t in types:
        plan.append((k, t == "v128", _to_slot(t, refs)))
        k += 2 if t == "v128" else 1
    if all(not wide and c is None for _, wide, c in plan):
        n = len(plan)

        def pack_plain(buf, first, values):
            for j in range(n):
                buf[first + j] = values[j]
        return pack_plain, k

    def pack(buf, first, values):
        for (off, wide, c), v in zip(plan, values):
            if wide:
                buf[first + off] = v & MASK64
                buf[first + off + 1] = v >> 64
            else:
                buf[first + off] = v if c is None else c(v)
    return pack, k


def _unpacker(types, refs: RefRegistry, tuple_always: bool = False):
    """``unpack(buf, first=0)`` giving the values stored from slot ``first`` in the interface's
    result convention (None, the value, or a tuple; always a tuple with ``tuple_always``)."""
    plan, k = [], 0
    for t in types:
        plan.append((k, t == "v128", _from_slot(t, refs)))
        k += 2 if t == "v128" else 1

    def values(buf, first):
        out = []
        for off, wide, c in plan:
            if wide:
                out.append(buf[first + off] | (buf[first + off + 1] << 64))
            else:
                v = buf[first + off]
                out.append(v if c is None else c(v))
        return out

    if tuple_always:
        return (lambda buf, first=0: values(buf, first)), k
    if not plan:
        return (lambda buf, first=0: None), k
    if len(plan) == 1:
        off, wide, c = plan[0]
        if not wide:
            if c is None:
                return (lambda buf, first=0: buf[first]), k
            return (lambda buf, first=0: c(buf[first])), k
        return (lambda buf, first=0: values(buf, first)[0]), k
    return (lambda buf, first=0: tuple(values(buf, first))), k


# ----- host calls from the callback: invokers per function type of numbers -----

# The invokers (``_invokers``, by the type's identity): ``inv(f, io, first)`` calls FuncInstance ``f``
# with the arguments in ``io[first..]`` and stores its results from ``io[0]``, what
# NativeInstance._invoke does, generated once per function type whose values are all numbers
# (i32, i64, f32, f64; no reference, whose conversion is an instance's, nor v128).  Every host
# call of native code takes this path (a component's lowered imports, called through the
# shared table, ~10 per wasi:http request): the type found by identity (a function type
# hashes in Python), one frame, no loop over the values.
_NUMBERS = frozenset(("i32", "i64", "f32", "f64"))
_SLOT_FROM = {"i32": "", "i64": "", "f32": "_f32_from", "f64": "_f64_from"}
_SLOT_TO = {"i32": "", "i64": "", "f32": "_f32_to", "f64": "_f64_to"}


def _make_invoker(ft):
    """The invoker of ``ft`` (see _invokers), or None if a value is not a number."""
    params, results = list(ft.params), list(ft.results)
    if not all(t in _NUMBERS for t in params + results):
        return None
    args = ", ".join(f"{_SLOT_FROM[t]}(io[first + {k}])" if _SLOT_FROM[t] else f"io[first + {k}]"
                     for k, t in enumerate(params))
    call = f"f.call({args})"
    if not results:
        body = [f"    {call}"]
    elif len(results) == 1:
        t = results[0]
        body = [f"    io[0] = {_SLOT_TO[t]}({call})" if _SLOT_TO[t] else f"    io[0] = {call}"]
    else:
        body = [f"    r = {call}"]
        body += [f"    io[{k}] = {_SLOT_TO[t]}(r[{k}])" if _SLOT_TO[t] else f"    io[{k}] = r[{k}]"
                 for k, t in enumerate(results)]
    ns = {"_f32_from": f32_from_bits, "_f64_from": f64_from_bits, "_f32_to": f32_to_bits, "_f64_to": f64_to_bits}
    exec(compile("\n".join(["def invoke(f, io, first):"] + body) + "\n", f"<invoker {ft}>", "exec"), ns)
    return ns["invoke"]


_invokers = _ByIdentity(_make_invoker)


def _invoker(ft):
    """The invoker of ``ft`` (made now if it is not yet), or None (see _invokers)."""
    return _invokers.of(ft)


_STACK_OVERFLOW = TrapCode.STACK_OVERFLOW


def _signed64(v: int) -> int:
    return v - (1 << 64) if v >> 63 else v


# The native fuel cell is a signed i64 (it goes below 0 to trap), but a store holds up to
# 2^64 - 1: the part above NATIVE_FUEL_MAX waits in ``NativeInstance.fuel_reserve`` while
# native code runs and rejoins the store's count at every exit and callback.  Native code
# would have to run 2^63 instructions between two callbacks to miss it.
NATIVE_FUEL_MAX = (1 << 63) - 1


# The entry of a function, generated per function type and metering (_entry_maker): the
# arguments stored and the results read in line for a type of numbers (i32, i64, f32, f64),
# else through the codecs of _packer and _unpacker; fuel and the epoch deadline moved in and
# out only where the instance meters them.
_ENTRY_SRC = """
def make(lock, refs, linked, args, vm, used, caller, block, fail, eh, raise_exn, pack, unpack, roff,
         fuel, deadline, sn):
    def entry({params}):
        with lock:
            mark = refs.top
            marks = _linked_marks(linked) if linked else None
            try:
{stores}
                vm[{STACK_MIN}], vm[{INTERRUPT}], icell = _thread_cells()
                # A SIGINT Python handled already must not stop this call (llvm/sigint.py).
                icell[0] = 0{meter_in}
                vm[{DEPTH}] = used.cell_contents
                try:
                    rc = caller(block)
                finally:
                    # Also when Python's SIGINT handler raised as the call returned.
                    used.cell_contents = vm[{DEPTH}]{meter_out}
                if rc:
                    fail(rc)
                if eh and vm[{EXN}]:
                    raise_exn()
                return {results}
            finally:
                # This entry's frames are gone: so are the handles they made.
                if refs.top != mark:
                    refs.release(mark)
                if linked:
                    _release_linked(linked, marks)
    return entry
"""
_FUEL_IN = """
                f = fuel.cell_contents
                if f > NATIVE_FUEL_MAX:
                    sn.fuel_reserve, f = f - NATIVE_FUEL_MAX, NATIVE_FUEL_MAX
                else:
                    sn.fuel_reserve = 0
                vm[{FUEL}] = f & MASK64"""
_FUEL_OUT = """
                    fuel.cell_contents = sn.fuel_reserve + _signed64(vm[{FUEL}])"""
_DEADLINE_IN = """
                vm[{DEADLINE}] = deadline.cell_contents & MASK64"""
_IN_LINE = {"i32": "{}", "i64": "{}", "f32": "f32_to_bits({})", "f64": "f64_to_bits({})"}
_OUT_LINE = {"i32": "{}", "i64": "{}", "f32": "f32_from_bits({})", "f64": "f64_from_bits({})"}
_entry_makers: dict = {}


def _entry_maker(ft, fuel: bool = False, deadline: bool = False):
    """``make(lock, refs, linked, args, vm, used, caller, block, fail, eh, raise_exn, pack,
    unpack, roff, fuel, deadline, sn)`` -> the entry of a function of type ``ft`` (see
    _ENTRY_SRC), metering fuel and the deadline where asked."""
    key = (tuple(ft.params), tuple(ft.results), fuel, deadline)
    maker = _entry_makers.get(key)
    if maker is None:
        params, results = key[:2]
        if all(t in _IN_LINE for t in params + results):
            names = [f"a{k}" for k in range(len(params))]
            stores = [f"args[{k}] = " + _IN_LINE[t].format(n) for k, (n, t) in enumerate(zip(names, params))]
            # (the buffer holds the caller's block: the closure keeps it alive)
            stores = stores or ["args"]
            roff = max(len(params), 1)
            outs = [_OUT_LINE[t].format(f"args[{roff + k}]") for k, t in enumerate(results)]
            out = "None" if not outs else outs[0] if len(outs) == 1 else "(" + ", ".join(outs) + ",)"
            params_src = ", ".join(names)
        else:
            stores, out, params_src = ["pack(args, 0, a)"], "unpack(args, roff)", "*a"
        meter_in = ((_FUEL_IN.format(FUEL=L.FUEL) if fuel else "")
                    + (_DEADLINE_IN.format(DEADLINE=L.DEADLINE) if deadline else ""))
        src = _ENTRY_SRC.format(params=params_src, results=out,
                            stores="".join(" " * 16 + line + "\n" for line in stores).rstrip("\n"),
                            meter_in=meter_in, meter_out=_FUEL_OUT.format(FUEL=L.FUEL) if fuel else "",
                            STACK_MIN=L.STACK_MIN, INTERRUPT=L.INTERRUPT, DEPTH=L.DEPTH, EXN=L.EXN)
        namespace = {"_linked_marks": _linked_marks, "_release_linked": _release_linked,
                     "_thread_cells": _thread_cells, "f32_to_bits": f32_to_bits,
                     "f64_to_bits": f64_to_bits, "f32_from_bits": f32_from_bits,
                     "f64_from_bits": f64_from_bits, "NATIVE_FUEL_MAX": NATIVE_FUEL_MAX,
                     "MASK64": MASK64, "_signed64": _signed64}
        exec(compile(src, f"<entry {params} -> {results}>", "exec"), namespace)
        maker = _entry_makers[key] = namespace["make"]
    return maker


# Per function type without reference types: (pack, slots, unpack, slots, the maker of the
# unmetered entry: _entry_maker) of its entries.
_plain_codecs: dict = {}


class _PerModule:
    """What the compiled modules of one decoded module share: an artifact loaded again is a
    new compiled module (code mapped again) of the same description (api/aot.py), whose
    first instance would otherwise make these again.  ``sigs``: the signature ids of its
    types (vm[SIGS]); ``offsets``: its trap frames' code offsets; ``rtts``: its GC run-time
    types (vm[RTTS]), None when its code does not use the GC heap, False until known;
    ``template``: the :class:`_Template` of its instances (what it holds is the module's);
    ``entry_statics``: the argument and result conversions of its functions' entries
    (NativeInstance._entry), by defined function index."""

    __slots__ = ("sigs", "offsets", "rtts", "template", "entry_statics")

    def __init__(self) -> None:
        self.sigs = self.offsets = self.template = None
        self.rtts = False
        self.entry_statics: dict = {}


# id(module) -> (a weak reference to the module, its _PerModule)
_per_module: dict = {}


def _shared(module) -> _PerModule:
    key = id(module)
    entry = _per_module.get(key)
    if entry is not None and entry[0]() is module:
        return entry[1]
    shared = _PerModule()
    _per_module[key] = (weakref.ref(module, _partial(_forget_module, key)), shared)
    return shared


def _forget_module(key: int, ref) -> None:
    table = _per_module
    if table is None:           # at interpreter exit, with this module's globals cleared
        return
    entry = table.get(key)
    if entry is not None and entry[0] is ref:
        del table[key]


def _uses_gc(compiled, module) -> bool:
    # Known from the code (the compiler's answer, or the @wf_gc marker of code loaded from
    # the module cache or an artifact); decoding every body to find out cost a freshly
    # loaded artifact of fib.wasm ~40 ms per instantiation.
    gc_code = getattr(compiled, "gc", None)
    return module.uses_gc() if gc_code is None else gc_code


def _first_entry(native, j, *args):
    # The stub of defined function j (NativeInstance.funcs).
    return native._entry_of(j)(*args)




# vmctx address -> weak reference to its NativeInstance, for the shared callback thunk.
_by_vm: dict = {}


def _forget_vm(addr: int, ref) -> None:
    # The instance is going (a weakref callback, before its vmctx is freed): a later
    # instance whose vmctx has the same address has replaced the entry already or will.
    if _by_vm.get(addr) is ref:
        del _by_vm[addr]


def _dispatch(vm, kind, imm, io):
    # The callback generated code calls (vm[CALLBACK]): the instance of that vmctx handles it.
    return _by_vm[vm]()._callback(vm, kind, imm, io)


_CALLBACK = L.CALLBACK_TYPE(_dispatch)
_CALLBACK_ADDR = ctypes.c_void_p.from_buffer(_CALLBACK).value


# ----- native calls between instances (vm[IMPORTS]) -----

# An import's state (NativeInstance.link_state): not asked yet (its next call through the
# callback tries to link it), linked (its record calls the callee natively), or never
# (a host function, another store...: the callback makes every call).
_UNTRIED, _LINKED, _NEVER = 0, 1, 2

# The records of instances that have linked nothing yet: zeros, shared (the largest made
# so far; the smaller ones stay, instances point to them).
_zero_records: list = []


def _no_links(n: int) -> int:
    """The address of ``n`` import records that all read 0 (never written)."""
    n = max(n, 1) * L.IMPORT_SLOTS
    if not _zero_records or len(_zero_records[-1]) < n:
        _zero_records.append(L.array_of(ctypes.c_uint64, max(n, 3 * 256))())
    return ctypes.addressof(_zero_records[-1])


# id(ModuleInstance) -> weak reference to its NativeInstance, for instances bound eagerly
# (NativeInstance(stubs=True): the tiered start's, tiering.py); a lazily bound one is found
# through its ``lazy_bind`` (bind_function).
_eager: dict = {}


def _forget_eager(key: int, ref) -> None:
    table = _eager
    if table is not None and table.get(key) is ref:
        del table[key]


def native_of(inst) -> "NativeInstance | None":
    """The NativeInstance binding this tier's code to runtime instance ``inst``, if any."""
    native = getattr(inst.lazy_bind, "__self__", None)
    if type(native) is NativeInstance:
        return native
    ref = _eager.get(id(inst))
    native = ref() if ref is not None else None
    return native if native is not None and native.inst is inst else None


def snapshot_refusal(inst) -> Optional[str]:
    """Why the state this tier keeps of runtime instance ``inst`` cannot be snapshotted and put
    back (runtime/instance.py ``instance_refusal``; None: it can).  What a NativeInstance
    keeps beyond the runtime objects (memories, globals, tables, which the snapshot puts back
    and its views follow) is made once and kept (entries, links, mirrors, handlers) or lives
    for one call (references, a pending trap); code with exceptions or the GC heap keeps
    more (a thrown exception, heap objects), refused."""
    native = native_of(inst)
    if native is None:
        return None
    name = inst.name or "?"
    if native.eh:
        return f"module {name}: its code uses exception handling"
    if native.gc is not None:
        return f"module {name}: its code uses the GC heap"
    if native.pending is not None or native.thrown is not None:
        return f"module {name}: a trap or an exception is pending"
    return None


def _linked_marks(linked: list) -> list:
    # (an entry's start: see _StoreNative) each registry's top, in the order of ``linked``
    marks = []
    for ref, _ in linked:
        r = ref()
        marks.append(r.top if r is not None else 0)
    return marks


def _release_linked(linked: list, marks: "list | None") -> None:
    # (an entry's end: see _StoreNative) each registry back to its top at the entry's start
    # (``marks``), or when it was linked if that was during the entry.
    n = len(marks) if marks else 0
    for k, (ref, top) in enumerate(linked):
        r = ref()
        if r is not None:
            m = marks[k] if k < n else top     # type: ignore[index]
            if r.top != m:
                r.release(m)


class _Template:
    """What every :class:`NativeInstance` of one decoded module starts with, made by its
    first instance and kept with the module (_PerModule) and in each of its compiled
    modules: the attributes that are the module's (signature ids, trap offsets, names,
    whether its code uses exceptions) or start empty, and the vmctx with the
    slots that are the same in every instance (the callback, the signatures, the other
    threads' interrupt cell, the run-time types, no links, no trap site).  An instance copies
    both and fills in its own slots: a vmctx is made in one copy instead of a dozen writes."""

    __slots__ = ("attrs", "vm", "vm_type", "globals_type", "tables_type", "gc_rtts", "ndefined",
                 "no_tables", "no_tables_addr")

    @staticmethod
    def _eh(compiled) -> bool:
        # Exception handling (llvm/exceptions.py): whether the code carries wasm exceptions,
        # known from the code (llvm/compiler.py).
        eh = getattr(compiled, "eh", None)
        return bool(L.uses_exceptions(compiled.module) if eh is None else eh)

    def fits(self, compiled) -> bool:
        """Whether another compiled module of the same decoded module agrees with the one
        this was made from on what its code does (exceptions, the GC heap)."""
        gc_rtts = compiled.__dict__.get("gc_rtts", False)
        if gc_rtts is False:
            if _uses_gc(compiled, compiled.module) != (self.gc_rtts is not None):
                return False
            gc_rtts = compiled.__dict__["gc_rtts"] = self.gc_rtts
        return gc_rtts is self.gc_rtts and self._eh(compiled) == self.attrs["eh"]

    def __init__(self, compiled) -> None:
        module = compiled.module
        eh = self._eh(compiled)
        gc_rtts = compiled.__dict__.get("gc_rtts", False)
        if gc_rtts is False:
            shared = _shared(module)
            gc_rtts = shared.rtts
            if gc_rtts is False:
                gc_rtts = shared.rtts = (
                    L.array_of(ctypes.c_uint64, max(len(module.types), 1))(*gcheap.module_rtts(module))
                    if _uses_gc(compiled, module) else None)
            compiled.__dict__["gc_rtts"] = gc_rtts
        self.gc_rtts = gc_rtts
        # Read-only for native code, the same for every instance: made once per compiled
        # module, kept in it (llvm/compiler.py).
        sigs = compiled.sig_table
        if sigs is None:
            shared = _shared(module)
            sigs = shared.sigs
            if sigs is None:
                sigs = shared.sigs = L.array_of(ctypes.c_int64, max(len(module.types), 1))(
                    *[sig_id(t) for t in instance_plan(module).types])
            compiled.sig_table = sigs
        # The trap frames' code offsets (binary/offsets.py), one per compiled module.
        offsets = compiled.code_offsets
        if offsets is None:
            shared = _shared(module)
            offsets = shared.offsets
            if offsets is None:
                offsets = shared.offsets = CodeOffsets(module)
            compiled.code_offsets = offsets
        self.ndefined = len(module.funcs)
        self.attrs = {      # (not the compiled module: no cycle through it)
            "nimported": compiled.nimported,
            # The radix of an inlined copy's shadow-stack entry (llvm/copies.py).
            "nfuncs": compiled.nimported + len(module.funcs),
            "pending": None,
            "eh": eh,
            "thrown": None,     # (the exception the last throw made, its backtrace)
            "unwound": None,    # the native stack of the last trap (CB_UNWIND), for _fail
            "fuel": None,
            "deadline": None,
            # Imports that are other llvm instances' functions are called natively once the
            # first call has linked them (_link); until then, every record reads 0 (one
            # shared array of zeros: most instances link nothing).
            "links": None,      # per import: the NativeInstance its record calls, or None
            "link_state": None,  # per import: _UNTRIED, _LINKED or _NEVER (made on first call)
            "records": None,    # the instance's own import records, once one is linked
            "gc": None,
            "mirrors_filled": False,    # TableMirror.fill: on the first entry (_entry)
            "sigs": sigs,
            # The callback's handlers are made on the first callback: many short-lived
            # instances never make one.
            "handlers": None,
            "frame_names": module.names.funcs,
            "module_name": module.names.module,
            "offsets": offsets,
            "funcs": None,
        }
        self.vm_type = L.array_of(ctypes.c_uint64, L.VMCTX_SLOTS)
        vm = self.vm_type()
        vm[L.INTERRUPT] = sigint.OTHER_ADDR
        vm[L.IMPORTS] = _no_links(compiled.nimported)
        # No trap site yet: machine code from an artifact made before @wf_trap recorded its
        # site leaves it so, and its frames get no offsets rather than wrong ones.
        vm[L.TRAP_POS] = (1 << 64) - 1
        vm[L.SIGS] = ctypes.addressof(sigs)
        vm[L.CALLBACK] = _CALLBACK_ADDR
        if gc_rtts is not None:
            vm[L.RTTS] = ctypes.addressof(gc_rtts)
        self.vm = bytes(vm)
        kinds = [imp.kind for imp in module.imports]
        self.globals_type = L.array_of(ctypes.c_void_p, max(kinds.count(GLOBAL) + len(module.globals), 1))
        self.tables_type = L.array_of(ctypes.c_void_p, max(kinds.count(TABLE) + len(module.tables), 1))
        self.no_tables = self.tables_type()
        self.no_tables_addr = ctypes.addressof(self.no_tables)


class NativeInstance:
    """The native state of one instance: its vmctx and everything it points to."""

    def __init__(self, compiled, inst, stubs: bool = True):
        # What is the same for every instance of the compiled module, attributes and vmctx
        # slots, comes from its template (_Template) in one update and one copy.
        tmpl = compiled.__dict__.get("native_template")
        if tmpl is None:
            # (shared by the compiled modules of one decoded module: an artifact loaded per
            # request is a new compiled module each time)
            shared = _shared(compiled.module)
            tmpl = shared.template
            if tmpl is None or not tmpl.fits(compiled):
                tmpl = shared.template = _Template(compiled)
            elif compiled.sig_table is None or compiled.code_offsets is None:
                # (what the compiled module's other readers find in it)
                compiled.sig_table = tmpl.attrs["sigs"]
                compiled.code_offsets = tmpl.attrs["offsets"]
            compiled.__dict__["native_template"] = tmpl
        self.__dict__.update(tmpl.attrs)
        self.compiled = compiled        # keeps the machine code alive
        self.inst = inst
        self.entry_wrappers = {}
        self.convs = {}
        store = getattr(inst, "store", None)
        cells = store_cells(store)      # the store state this tier may use (runtime/tier.py)
        # With fuel metering, the store's fuel cell is the truth while Python runs and
        # vm[FUEL] while native code runs; entries and callbacks copy it across.
        if compiled.fuel:
            self.fuel = cells.fuel
        vm = self.vm = tmpl.vm_type.from_buffer_copy(tmpl.vm)
        self.vm_addr = ctypes.addressof(vm)
        # Ctrl-C: the entries point vm[INTERRUPT] at the calling thread's cell (llvm/sigint.py;
        # the template's is the other threads' cell).
        sigint.ensure_watcher()
        # With epoch interruption, native code reads the engine's counter itself (another
        # thread advances it while wasm runs) and the store's deadline from vm[DEADLINE].
        if compiled.epoch:
            counter = cells.epoch
            if not isinstance(counter, ctypes.Array):
                raise WasmError("epoch interruption on the llvm tier needs the engine's epoch "
                                "counter in native memory (a ctypes array)")
            self.epoch_counter = counter
            vm[L.EPOCH] = ctypes.addressof(counter)
            self.deadline = cells.deadline
        # The wasm stack budget in bytes and the bytes in use, the store's (runtime/metering.py),
        # copied in and out at entries and callbacks like the fuel.
        budget = cells.max_wasm_stack
        depth = getattr(inst, "max_call_depth", DEFAULT_MAX_CALL_DEPTH)
        vm[L.DEPTH_MAX] = budget if budget is not None else depth * FRAME_BYTES
        self.stack_used = cells.depth
        self.lock, self.shadow, self.sn = store_native(store, vm[L.DEPTH_MAX])
        vm[L.SHADOW] = self.shadow.addr
        mems = inst.mems
        if mems:
            self.mem_block = native_memory(mems[0])
            vm[L.MEM] = ctypes.addressof(self.mem_block)
            if len(mems) > 1:
                # multi-memory: every memory's block, by index (memory 0 included).
                self.mem_blocks = [native_memory(m) for m in mems]
                self.mem_array = L.array_of(ctypes.c_void_p, len(mems))(
                    *(ctypes.addressof(b) for b in self.mem_blocks))
                vm[L.MEMS] = ctypes.addressof(self.mem_array)
        # The numeric globals get their native cells on the instance's first entry (_entry),
        # as the mirrors are filled: only its native code reads them, and it runs only behind
        # an entry; an instance made per request whose code never runs (most of
        # componentize-py's 14) converts none of its ~900.
        self.global_cells = tmpl.globals_type()
        vm[L.GLOBALS] = ctypes.addressof(self.global_cells)
        if tmpl.gc_rtts is not None:
            # The GC proposal (llvm/gcheap.py): the store's heap and the run-time types.
            self.gc = gcheap.heap_of(store, self.lock)
            vm[L.GCHEAP] = self.gc.addr
            self.refs = GCRefRegistry(inst.funcs, self.gc, compiled.module.types)
        else:
            self.refs = RefRegistry(inst.funcs)
        lazy_table = compiled.lazy_table
        if lazy_table is not None:
            vm[L.LAZY] = ctypes.addressof(lazy_table)
        else:
            # call_ref finds a defined function's code in this table (llvm/typedrefs.py); a
            # whole-module compile has no lazy table, so it gets one of its addresses.
            vm[L.LAZY] = compiled.function_table_address()
        # A lazily compiled function enters a mirror slot when call_indirect first reaches it
        # through the callback after its batch is compiled; until then it goes through the
        # callback and its Python entry.
        tables = inst.tables
        if tables:
            self.mirrors = [None] * len(tables)     # per table index, None for externref
            self.table_ptrs = tmpl.tables_type()
            own = self.own
            for k, t in enumerate(tables):
                if storage_type(t.type.element) == "funcref":     # typed function tables too
                    m = self.mirrors[k] = TableMirror(t, own, k)
                    self.table_ptrs[k] = ctypes.addressof(m.struct)
            vm[L.TABLES] = ctypes.addressof(self.table_ptrs)
        else:
            # No tables: nothing reads the template's (empty) mirrors and (zero) pointers.
            self.mirrors = ()
            self.table_ptrs = tmpl.no_tables
            vm[L.TABLES] = tmpl.no_tables_addr
        # One callback thunk for all instances, finding this one by its vmctx address: a
        # thunk per instance cost its making and tied the instance in a cycle with itself.
        _by_vm[self.vm_addr] = weakref.ref(self, _partial(_forget_vm, self.vm_addr))
        # A partial per function, not a closure: cheaper to make, and most functions are
        # never called from Python (see _stub).  Without ``stubs`` the runtime asks
        # bind_function for a function's entry on its first use (runtime/func.py
        # LazyFuncInstance) and there is nothing to make per function now.
        if stubs:
            self.funcs = [_partial(_first_entry, self, j) for j in range(tmpl.ndefined)]
            # (a lazily bound instance is found through its lazy_bind: native_of)
            key = id(inst)
            _eager[key] = weakref.ref(self, _partial(_forget_eager, key))
        if sys.getrecursionlimit() < 2000 + depth // 8:
            # Host calls made from deep wasm recursion nest Python frames too.
            sys.setrecursionlimit(2000 + depth // 8)

    def own(self, f) -> int:
        """The native address of ``f`` if it is one of this instance's functions and compiled
        (``compiled.func_addrs`` is filled in place by lazy compilation), else 0."""
        if f.inst is self.inst:
            return self.compiled.func_addrs[f.index - self.nimported]
        return 0

    def _link(self, i: int, f) -> bool:
        """Make import ``i`` (function ``f``) a native call when ``f`` is a defined function
        of another instance of this tier in the same store that can run on this instance's
        store cells: its record (``vm[IMPORTS]``) gets the callee's entry trampoline for
        ``f``'s type, the address of ``f``'s slot in the callee's function table (so a
        tier-up's or lazy compilation's code is what the next call runs) and the callee's
        vmctx, and this instance's code calls it without Python from the next call on
        (codegen.FunctionCompiler.import_call).  Refused (the callback keeps making the
        calls) for host functions, other tiers, other stores, code with exceptions or GC,
        references in the signature, and metering or stack budgets that differ.  Whether
        the import is linked now."""
        state = self.link_state
        if f.inst is None or not L.native_signature(f.type) or self.eh or self.gc is not None:
            state[i] = _NEVER
            return False
        callee = native_of(f.inst)
        if callee is None:
            # An instance of the interp tier, or one whose native code is not bound yet (the
            # tiered start): asked again at the next call.
            if f.inst.lazy_bind is not None or f.inst.store is not self.inst.store:
                state[i] = _NEVER
            return False
        compiled = callee.compiled
        j = f.index - callee.nimported
        if (j < 0 or callee.sn is not self.sn or callee.shadow is not self.shadow
                or callee.vm[L.DEPTH_MAX] != self.vm[L.DEPTH_MAX]
                or compiled.fuel != self.compiled.fuel or compiled.epoch != self.compiled.epoch
                or callee.vm[L.EPOCH] != self.vm[L.EPOCH] or callee.eh or callee.gc is not None):
            state[i] = _NEVER
            return False
        # What the callee's first entry would do: its code compiled, its mirrors and
        # global cells ready.
        if not compiled.func_addrs[j]:
            compiled.ensure(j)
        if not callee.mirrors_filled:
            callee._first_entry()
        records = self.records
        if records is None:
            records = self.records = L.array_of(ctypes.c_uint64, L.IMPORT_SLOTS * max(self.nimported, 1))()
            self.links = [None] * self.nimported
            self.vm[L.IMPORTS] = ctypes.addressof(records)
        entry = compiled.entries[compiled.entry_of[j]]
        k = L.IMPORT_SLOTS * i
        records[k + 1] = callee.vm[L.LAZY] + 8 * j
        records[k + 2] = callee.vm_addr
        records[k] = ctypes.cast(entry, ctypes.c_void_p).value or 0
        self.links[i] = callee          # (keeps the callee's vmctx and code alive)
        linked, refs = self.sn.linked, callee.refs
        if not any(ref() is refs for ref, _ in linked):
            linked.append((weakref.ref(refs), refs.top))
        state[i] = _LINKED
        return True

    def compiled_batch(self, batch: list) -> None:
        """Lazy compilation compiled the defined functions ``batch``: ``call_indirect`` reaches
        them natively from now on (:meth:`own` sees their addresses; a mirror slot still
        holding 0 for one of them is filled in by the callback call_indirect makes through
        it)."""

    # ----- entry: Python -> native -----

    def _entry_of(self, j: int):
        """The entry wrapper of defined function ``j``, made on the first call through its
        stub (most functions are never called from Python), and put in the FuncInstance."""
        real = self.entry_wrappers.get(j)
        if real is None:
            real = self.entry_wrappers[j] = self._entry(j)
            if self.funcs is not None:
                # (without making its FuncInstance: runtime/func.py FuncSpace)
                set_call(self.inst.funcs, self.nimported + j, real, self.funcs[j])
        return real

    def bind_function(self, fi):
        """The entry of this instance's defined function ``fi`` (the instance's
        ``lazy_bind``: the runtime puts it in ``fi``)."""
        return self._entry_of(fi.index - self.nimported)

    def _first_entry(self) -> None:
        # Native code may run from now on, and read the mirrors and the globals' cells.  Under
        # the store's lock, the flag set last: another thread entering this instance meanwhile
        # (a store may be called from several) must not run its code on a NULL global cell.
        with self.lock:
            if self.mirrors_filled:
                return
            cells = self.global_cells
            for k, g in enumerate(self.inst.globals):
                if g.type.content in NATIVE_GLOBAL:
                    cells[k] = native_global(g)
            for m in self.mirrors:
                if m is not None:
                    m.fill()
            self.mirrors_filled = True

    def _entry(self, j: int):
        if not self.mirrors_filled:
            self._first_entry()
        compiled = self.compiled
        i = self.nimported + j
        # What the entry of function j needs that is the same in every instance of the
        # compiled module (kept in it: an instance made per request makes one entry, and
        # looking its conversions up by the signature's types cost more than the rest).
        statics = compiled.__dict__.get("entry_statics")
        if statics is None:
            # (the module's: the same functions' types in every compiled module of it)
            statics = compiled.__dict__["entry_statics"] = _shared(compiled.module).entry_statics
        codecs = statics.get(j)
        if codecs is None:
            ft = compiled.func_types[i]
            if any(is_ref(t) for t in ft.params + ft.results):
                # References convert through this instance's registry: its own conversions.
                codecs = (_packer(ft.params, self.refs) + _unpacker(ft.results, self.refs)
                          + (None,))
            else:
                # No reference types: the same conversions serve every instance, and so does
                # the maker of its unmetered entry.
                key = (tuple(ft.params), tuple(ft.results))     # plain tuples: see sig_id
                codecs = _plain_codecs.get(key)
                if codecs is None:
                    codecs = _plain_codecs[key] = (_packer(ft.params, self.refs)
                                                   + _unpacker(ft.results, self.refs)
                                                   + (_entry_maker(ft),))
                statics[j] = codecs
        pack, nargs, unpack, nres, maker = codecs
        # One buffer for the arguments, after them the results, then the block of the
        # entry caller (loader.entry_caller): the trampoline's four arguments and address.
        roff = max(nargs, 1)
        boff = roff + max(nres, 1)
        args = L.array_of(ctypes.c_uint64, boff + 5)()
        a_addr = ctypes.addressof(args)
        r_addr = a_addr + 8 * roff
        entry = compiled.entries[compiled.entry_of[j]]
        fn = compiled.func_addrs[j] or compiled.ensure(j)
        caller = _entry_caller()
        if caller is not None:
            args[boff:boff + 5] = (self.vm_addr, fn, a_addr, r_addr,
                                   ctypes.cast(entry, ctypes.c_void_p).value)
            entry_block = a_addr + 8 * boff
        else:
            caller, entry_block = _partial(_call_entry, entry, self.vm_addr, fn, a_addr, r_addr), None
        lock = self.lock
        fuel = self.fuel
        used = self.stack_used
        deadline = self.deadline
        refs = self.refs
        linked = self.sn.linked

        # Only what this instance meters is generated in.
        if fuel is None and deadline is None and maker is not None:
            make = maker
        else:
            make = _entry_maker(compiled.func_types[i], fuel is not None, deadline is not None)
        call = make(lock, refs, linked, args, self.vm, used, caller, entry_block, self._fail,
                    self.eh, self._raise_exn, pack, unpack, roff, fuel, deadline, self.sn)
        if self.gc is not None:
            # A trap longjmps past the frames' root-stack pops (llvm/gcheap.py): the entry
            # puts the root stack's top back where it found it.
            inner, block = call, self.gc.block

            def gc_call(*a):
                with lock:
                    top = block.roots_top
                    try:
                        return inner(*a)
                    finally:
                        block.roots_top = top
            call = gc_call
        call.__name__ = self.frame_names.get(i) or f"f{i}"
        return call

    def _raise_exn(self):
        """The entry's function returned with a wasm exception in vm[EXN] (llvm/exceptions.py):
        raise it to the caller."""
        vm = self.vm
        h, vm[L.EXN] = vm[L.EXN], 0
        exn = self.refs.objs[h]
        thrown = self.thrown
        raise WasmException(exn, thrown[1] if thrown is not None and thrown[0] is exn else None)

    def _fail(self, rc: int):
        self.vm[L.EXN] = 0        # a trap ends whatever exception was being thrown
        names = self.frame_names
        # The trampoline has restored the height the entry started at; the frames above it
        # when the trap was raised are this entry's part of the backtrace.
        entries = self.shadow.frames(self.shadow.height.value, self.vm[L.TRAP_TOP])
        # An inlined copy's entry also names the call its caller's frame was making.
        nfuncs = self.nfuncs
        lines = None
        if entries and max(entries) >= nfuncs:
            pairs = [split(v, nfuncs) for v in entries]
            entries = [f for f, _ in pairs]
            lines = [line for _, line in pairs]
        indexes = entries
        module_name, offsets = self.module_name, self.offsets
        pos = ctypes.c_int64(self.vm[L.TRAP_POS]).value
        stack, self.unwound = self.unwound, None
        if stack is not None:
            # A caller's call site is not recorded (a store per call would cost the calls):
            # it is found from the native stack @wf_trap had copied (llvm/unwind.py) when
            # an offset is first read.
            locate = Backtrace(self.compiled, offsets, indexes, pos, stack, lines).locate
            frames = [(f, names.get(f), module_name, k, locate) for k, f in enumerate(indexes)]
        else:
            # Machine code from before the call sites were read from the native stack: the
            # offsets are found where the caller has one call that can reach the callee
            # (CodeOffsets.locate_call).
            frames = [(f, names.get(f), module_name, callee, offsets.locate_call)
                      for f, callee in zip(indexes, [-1] + indexes)]
            if lines is not None:
                for k in range(1, len(frames)):
                    if lines[k - 1]:
                        frames[k] = frames[k][:3] + (lines[k - 1] - 1, offsets.locate)
        if frames:
            # The innermost frame's instruction, recorded by @wf_trap (llvm/prelude.py).  A
            # stack overflow is trapped in a prologue, before its frame was pushed (pos -1):
            # the innermost entry is then the caller, at a call of itself or another.
            if pos >= 0:
                frames[0] = frames[0][:3] + (pos, offsets.locate)
        if rc == L.TRAP_SIGINT:
            # Ctrl-C (llvm/sigint.py).  Python's handler normally raised KeyboardInterrupt
            # already, as the call returned; this covers a handler that has not run yet.  (One
            # that ran in @wf_trap's callback left its exception here: dropped.)
            self.pending = None
            raise KeyboardInterrupt
        if rc == L.TRAP_HOST:
            exc, self.pending = self.pending, None
            if exc is None:
                # The callback could not even start (see _callback): Python's own stack.
                exc = Trap(_STACK_OVERFLOW.value, _STACK_OVERFLOW)
            if isinstance(exc, Trap):
                exc.frames.extend(frames)
            raise exc
        code = L.TRAP_CODES[rc - 1]
        message = code.value
        if code is TrapCode.UNINITIALIZED_ELEMENT:
            message = f"{message} {self.vm[L.TRAP_ARG]}"
        elif code is TrapCode.NULL_REFERENCE and self.gc is not None:
            # GC instructions name the kind of reference (llvm/gcops.py).
            message = NULL_MESSAGES.get(self.vm[L.TRAP_ARG], message)
            self.vm[L.TRAP_ARG] = 0
        elif code is TrapCode.ARRAY_OUT_OF_BOUNDS:
            message = "out of bounds array access"
        raise Trap(message, code, frames)

    # ----- callback: native -> Python -----

    def _callback(self, vm, kind, imm, io):
        # Returns 1 on success.  ctypes turns an exception escaping this function (one raised
        # before the try, such as a RecursionError on entry) into a return of 0, which the
        # generated code must then treat as a failure: hence 1, not 0, means success.
        fuel, used, vmc, sn = self.fuel, self.stack_used, self.vm, self.sn
        used.cell_contents = vmc[L.DEPTH]
        if fuel is not None:
            fuel.cell_contents = sn.fuel_reserve + _signed64(vmc[L.FUEL])
        try:
            handlers = self.handlers
            if handlers is None:
                handlers = self.handlers = self._handlers()
            # (None from every handler but CB_CALL_LINK's, which may answer CB_LINKED)
            ok = handlers[kind](imm, io) or 1
        except WasmException as exc:
            if self.eh and (kind == L.CB_CALL or kind == L.CB_CALL_INDIRECT):
                # Thrown by the callee: the generated code dispatches it (llvm/exceptions.py).
                vmc[L.EXN] = self.refs.intern(exc.exn)
                ok = L.CB_THREW
            else:
                self.pending = exc
                ok = 0
        except RecursionError:
            self.pending = Trap(_STACK_OVERFLOW.value, _STACK_OVERFLOW)
            ok = 0
        except BaseException as exc:  # noqa: B902 - everything crosses back as the trap path
            self.pending = exc
            ok = 0
        vmc[L.DEPTH] = used.cell_contents
        if fuel is not None:
            f = fuel.cell_contents
            if f > NATIVE_FUEL_MAX:
                sn.fuel_reserve, f = f - NATIVE_FUEL_MAX, NATIVE_FUEL_MAX
            else:
                sn.fuel_reserve = 0
            vmc[L.FUEL] = f & MASK64
        if self.deadline is not None:
            vmc[L.DEADLINE] = self.deadline.cell_contents & MASK64
        return ok

    def _invoke(self, f, io, first: int) -> None:
        """Call FuncInstance ``f`` with the arguments in ``io[first..]``; results to ``io[0..]``."""
        ft = f.type
        entry = _invokers.get(id(ft))
        inv = entry[1] if entry is not None and entry[0] is ft else _invoker(ft)
        if inv is not None:
            inv(f, io, first)
            return
        convs = self.convs.get(ft)
        if convs is None:
            convs = self.convs[ft] = (_unpacker(ft.params, self.refs, tuple_always=True)[0],
                                      _packer(ft.results, self.refs)[0])
        r = f.call(*convs[0](io, first))
        if len(ft.results) == 1:
            r = (r,)
        convs[1](io, 0, r)

    def _handlers(self) -> list:
        inst = self.inst
        refs = self.refs
        tables = inst.tables
        funcs = inst.funcs

        link_state = self.link_state = bytearray(self.nimported)
        link = self._link

        invoke = self._invoke

        def call(imm, io):
            # (code from before vm[IMPORTS], or one that cannot call the import natively)
            invoke(funcs[imm], io, 0)

        def call_link(imm, io):
            # The import's record is empty: link it if its function is another llvm
            # instance's, and the code calls it natively, this call included.  (A host
            # function is never linked: each of its calls comes here.)
            f = funcs[imm]
            if link_state[imm] == _UNTRIED and link(imm, f):
                return L.CB_LINKED
            invoke(f, io, 0)
            return None

        def xtrap(imm, io):
            # A native call of import imm trapped in the callee (a linked record): raise
            # what its entry would have raised.
            self.links[imm]._fail(io[0])

        own, mirrors = self.own, self.mirrors

        def call_indirect(imm, io):
            i = io[0]
            f = tables[imm].elements[i]
            if f is not None and own(f):
                # Compiled since the slot was written (lazy compilation): call natively from now on.
                mirrors[imm].table_set(i, f)
            invoke(f, io, 1)

        def memory_grow(imm, io):
            mem = inst.mems[imm]
            io[0] = mem.grow(io[0]) & (MASK64 if mem.type.is_64 else MASK32)

        def memory_init(imm, io):
            support.memory_init(inst.mems[0], inst.datas, imm, io[0], io[1], io[2])

        def memory_init_mem(imm, io):
            support.memory_init(inst.mems[imm], inst.datas, io[3], io[0], io[1], io[2])

        def data_drop(imm, io):
            inst.datas[imm] = b""

        def table_get(imm, io):
            els = tables[imm].elements
            i = io[0]
            if i >= len(els):
                support.table_oob()
            io[0] = refs.intern(els[i])

        def table_set(imm, io):
            els = tables[imm].elements
            i = io[0]
            if i >= len(els):
                support.table_oob()
            els[i] = refs.objs[io[1]]

        def table_size(imm, io):
            io[0] = len(tables[imm].elements)

        # With fuel, the bulk instructions also cost the elements they write
        # (runtime/metering.py), charged after their bounds check and before any write; the
        # callback has put the store's whole fuel in its cell.
        fuel = self.fuel
        charge = support.charge

        def table_grow(imm, io):
            t = tables[imm]
            if fuel is not None:
                charge(fuel, t.grow_cost(io[1]))
            io[0] = t.grow(io[1], refs.objs[io[0]]) & (MASK64 if t.type.is_64 else MASK32)

        def table_fill(imm, io):
            els = tables[imm].elements
            if fuel is not None:
                charge(fuel, support.table_fill_n(els, io[0], io[2]))
            support.table_fill(els, io[0], refs.objs[io[1]], io[2])

        def table_copy(imm, io):
            dst, src = tables[imm].elements, tables[io[3]].elements
            if fuel is not None:
                charge(fuel, support.table_copy_n(dst, src, io[0], io[1], io[2]))
            support.table_copy(dst, src, io[0], io[1], io[2])

        def table_init(imm, io):
            els = tables[imm].elements
            if fuel is not None:
                charge(fuel, support.table_init_n(els, inst.elems, io[3], io[0], io[1], io[2]))
            support.table_init(els, inst.elems, io[3], io[0], io[1], io[2])

        def elem_drop(imm, io):
            inst.elems[imm] = []

        def call_ref(imm, io):
            f = refs.objs[io[0]]
            if f is None:
                support.null_func_reference()
            self._invoke(f, io, 1)

        def global_get(imm, io):
            io[0] = refs.intern(inst.globals[imm].value)

        def global_set(imm, io):
            inst.globals[imm].value = refs.objs[io[0]]

        def compile_(imm, io):
            self.compiled.ensure(imm - self.nimported)

        def obsolete(imm, io):
            raise WasmError("this machine code uses the callback ABI of an older wasmforge "
                            "(table.copy/table.init): compile the module again")

        out = [obsolete] * L.CB_KINDS
        out[L.CB_CALL] = call
        out[L.CB_CALL_INDIRECT] = call_indirect
        out[L.CB_MEMORY_GROW] = memory_grow
        out[L.CB_MEMORY_INIT] = memory_init
        out[L.CB_MEMORY_INIT_MEM] = memory_init_mem
        out[L.CB_DATA_DROP] = data_drop
        out[L.CB_TABLE_GET] = table_get
        out[L.CB_TABLE_SET] = table_set
        out[L.CB_TABLE_SIZE] = table_size
        out[L.CB_TABLE_GROW] = table_grow
        out[L.CB_TABLE_FILL] = table_fill
        out[L.CB_TABLE_COPY] = table_copy
        out[L.CB_TABLE_INIT] = table_init
        out[L.CB_ELEM_DROP] = elem_drop
        out[L.CB_GLOBAL_GET] = global_get
        out[L.CB_GLOBAL_SET] = global_set
        out[L.CB_COMPILE] = compile_
        out[L.CB_XTRAP] = xtrap
        out[L.CB_CALL_LINK] = call_link

        def unwind(imm, io):
            # @wf_trap, before its longjmp (not for Ctrl-C): keep the trap's native frames
            # (llvm/unwind.py).  Never fails: an exception here would replace a host
            # function's in `pending`.
            try:
                self.unwound = snapshot(ctypes.cast(io, ctypes.c_void_p).value,
                                        self.vm[L.JMPBUF] + _JMPBUF_BYTES)
            except Exception:       # noqa: BLE001 - the frames then have no call sites
                self.unwound = None
        out[L.CB_UNWIND] = unwind

        # Exception handling (llvm/exceptions.py).
        tags = inst.tags
        tag_types = [t.functype for t in tags]
        payload_codecs: dict = {}

        def codec(imm):
            c = payload_codecs.get(imm)
            if c is None:
                params = tag_types[imm].params
                c = payload_codecs[imm] = (_unpacker(params, refs, tuple_always=True)[0],
                                           _packer(params, refs)[0])
            return c

        shadow, names, nfuncs = self.shadow, self.frame_names, self.nfuncs

        def throw(imm, io):
            exn = Exn(tags[imm], tuple(codec(imm)[0](io, 0)))
            self.vm[L.EXN] = refs.intern(exn)
            # The backtrace an uncaught exception shows: the throwing function (the top of
            # the store's shadow stack; the frames below may be other instances').
            top = shadow.height.value
            self.thrown = (exn, [(f, names.get(f), self.module_name)
                                 for f, _ in (split(v, nfuncs) for v in shadow.frames(top - 1, top))])

        def exn_match(imm, io):
            io[0] = 1 if refs.objs[io[0]].tag is tags[imm] else 0

        def exn_payload(imm, io):
            codec(imm)[1](io, 0, refs.objs[io[0]].values)

        # Threads (llvm/atomics.py): block and wake in runtime/atomics.py.
        def atomic_wait(imm, io):
            io[0] = atomics.wait(inst.mems[imm], io[0], io[3], io[1], io[2])

        def atomic_notify(imm, io):
            io[0] = atomics.notify(inst.mems[imm], io[0], io[1] & MASK32)

        out[L.CB_ATOMIC_WAIT] = atomic_wait
        out[L.CB_ATOMIC_NOTIFY] = atomic_notify
        out[L.CB_THROW] = throw
        out[L.CB_EXN_MATCH] = exn_match
        out[L.CB_EXN_PAYLOAD] = exn_payload
        out[L.CB_CALL_REF] = call_ref
        if self.gc is not None:
            self._gc_handlers(out)
        return out

    def _gc_handlers(self, out: list) -> None:
        """The callbacks of the GC instructions (llvm/gcops.py)."""
        heap, refs, inst = self.gc, self.refs, self.inst
        module = self.compiled.module
        types = module.types
        heaps = module.close_types()[1]

        def alloc(imm, io):
            io[0] = heap.alloc(io[0])

        def box(imm, io):
            io[0] = heap.box(refs.objs[io[0]])

        def unbox(imm, io):
            io[0] = refs.intern(heap.unbox(io[0]))

        def func_test(imm, io):
            io[0] = int(rgc.ref_test(refs.objs[io[0]], heaps[imm], bool(io[1])))

        # With fuel, the elements are charged after the checks (runtime/metering.py); the
        # callback has put the store's whole fuel in its cell.
        fuel = self.fuel
        charge = support.charge

        def new_data(imm, io):
            storage = types[imm].field.storage
            if fuel is not None:
                charge(fuel, rgc.array_new_data_n(storage, inst.datas, io[2], io[0], io[1]))
            io[0] = heap.adopt(rgc.array_new_data(heaps[imm], storage, inst.datas, io[2], io[0], io[1]))

        def new_elem(imm, io):
            if fuel is not None:
                charge(fuel, rgc.array_new_elem_n(inst.elems, io[2], io[0], io[1]))
            io[0] = heap.adopt(rgc.array_new_elem(heaps[imm], inst.elems, io[2], io[0], io[1]))

        def init(values, imm, io, d, n):
            storage = types[imm].field.storage
            a = io[0]
            keep = heap.proxy(a)    # a root while the elements are converted (they may allocate)
            r = gcheap.rtt_of(heaps[imm])
            for k, v in enumerate(values):
                heap.store_value(a + gcheap.ARRAY_HEADER + (d + k) * r.esize, storage, v,
                                 heap.to_stored)
            del keep

        def check(io):
            a, d, n = io[0], io[1], io[3]
            if a == 0:
                rgc.null_array()
            if d + n > heap.array_len(a):
                rgc.array_oob()

        def init_data(imm, io):
            check(io)
            storage = types[imm].field.storage
            data = inst.datas[io[4]]
            s, n = io[2], io[3]
            if s + n * gcheap.storage_size(storage) > len(data):
                raise Trap(TrapCode.MEMORY_OUT_OF_BOUNDS.value, TrapCode.MEMORY_OUT_OF_BOUNDS)
            if fuel is not None:
                charge(fuel, n)
            init(rgc._read_data(storage, data, s, n), imm, io, io[1], n)

        def init_elem(imm, io):
            check(io)
            seg = inst.elems[io[4]]
            s, n = io[2], io[3]
            if s + n > len(seg):
                raise Trap(TrapCode.TABLE_OUT_OF_BOUNDS.value, TrapCode.TABLE_OUT_OF_BOUNDS)
            if fuel is not None:
                charge(fuel, n)
            init(seg[s:s + n], imm, io, io[1], n)

        def sig_match(imm, io):
            f = inst.tables[io[0]].elements[io[1]]
            io[0] = int(f is not None and func_type_matches(f.type, instance_plan(module).types[imm]))

        out[L.CB_GC_SIG_MATCH] = sig_match
        out[L.CB_GC_ALLOC] = alloc
        out[L.CB_GC_BOX] = box
        out[L.CB_GC_UNBOX] = unbox
        out[L.CB_GC_FUNC_TEST] = func_test
        out[L.CB_GC_NEW_DATA] = new_data
        out[L.CB_GC_NEW_ELEM] = new_elem
        out[L.CB_GC_INIT_DATA] = init_data
        out[L.CB_GC_INIT_ELEM] = init_elem
