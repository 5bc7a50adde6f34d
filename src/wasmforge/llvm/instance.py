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
or 0)`` per slot.  Python code only runs before an entry and inside a callback, so the mirrors
are re-checked (one list comparison, C speed) at those two points, never in native code.

References are i64 handles into the instance's :class:`RefRegistry`: 0 is null, ``1 + i`` is
function ``i`` of the index space, later handles are assigned on first sight and kept (the
registry holds the objects, so a handle never dangles).
"""

from __future__ import annotations

import ctypes
import sys
import threading

from ..errors import Trap, TrapCode, WasmError
from ..interp import support
from ..numerics.bits import MASK32, f32_from_bits, f32_to_bits, f64_from_bits, f64_to_bits
from ..runtime.glob import GlobalInstance
from ..runtime.memory import MemoryInstance
from . import layout as L

DEFAULT_MAX_CALL_DEPTH = 20000

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


def native_memory(mem: MemoryInstance) -> L.MemBlock:
    """The MemBlock of ``mem``, converting it to a NativeMemory on first use."""
    if type(mem) is NativeMemory:
        return _SIZE_SLOT.__get__(mem, MemoryInstance)
    if type(mem) is not MemoryInstance:
        raise WasmError(f"the llvm tier cannot use a memory of type {type(mem).__name__}")
    block = L.MemBlock()
    export = ctypes.c_char.from_buffer(mem.data)
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
    return cls


def _ident(v):
    return v


NATIVE_GLOBAL = {
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
    value = g.value
    cell = cls.ctype()
    _VALUE_SLOT.__set__(g, cell)
    g.__class__ = cls
    g.value = value
    return ctypes.addressof(cell)


# ----- signatures and references -----

_SIG_IDS: dict = {}
_sig_lock = threading.Lock()


def sig_id(ft) -> int:
    """A process-wide id per distinct function type (spec 4.4.7 call_indirect compares types
    structurally)."""
    k = _SIG_IDS.get(ft)
    if k is None:
        with _sig_lock:
            k = _SIG_IDS.setdefault(ft, len(_SIG_IDS))
    return k


class RefRegistry:
    """Handles for reference values seen by one instance's native code (0 = null)."""

    __slots__ = ("objs", "ids")

    def __init__(self, funcs):
        # ref.func i compiles to the constant handle 1 + i.
        self.objs = [None] + list(funcs)
        self.ids = {}
        for k, f in enumerate(funcs):
            self.ids.setdefault(id(f), k + 1)

    def intern(self, x) -> int:
        if x is None:
            return 0
        h = self.ids.get(id(x))
        if h is None:
            h = self.ids[id(x)] = len(self.objs)
            self.objs.append(x)
        return h


class TableMirror:
    """The ``call_indirect`` view of one funcref table for one instance."""

    __slots__ = ("elements", "snap", "struct", "array", "own")

    def __init__(self, table, own: dict):
        self.elements = table.elements
        self.snap = None
        self.struct = L.TableMirrorStruct()
        self.array = None
        self.own = own          # id(FuncInstance) -> native address, this instance's functions

    def refresh(self) -> None:
        if self.snap == self.elements:
            return
        els = self.elements
        arr = (L.TableEntry * max(len(els), 1))()
        own = self.own
        for k, e in enumerate(els):
            if e is None:
                arr[k].sig = -1
            else:
                arr[k].sig = sig_id(e.type)
                arr[k].fn = own.get(id(e), 0)
        self.array = arr
        self.struct.entries = ctypes.addressof(arr)
        self.struct.size = len(els)
        self.snap = list(els)


# ----- the native stack guard -----

_tls = threading.local()
# Room left below the guard for the Python code of host calls made from deep wasm frames.
_STACK_RESERVE = 256 * 1024


def _stack_min() -> int:
    """The lowest stack address wasm frames may use on this thread (0 when unknown)."""
    lim = getattr(_tls, "limit", None)
    if lim is None:
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
        _tls.limit = lim
    return lim


# ----- value conversion between u64 slots and the internal form -----

def _slot_to_value(t: str, refs: RefRegistry):
    if t == "f32":
        return lambda v: f32_from_bits(v & MASK32)
    if t == "f64":
        return f64_from_bits
    if t in ("funcref", "externref"):
        objs = refs.objs
        return objs.__getitem__
    return None


def _value_to_slot(t: str, refs: RefRegistry):
    if t == "f32":
        return f32_to_bits
    if t == "f64":
        return f64_to_bits
    if t in ("funcref", "externref"):
        return refs.intern
    return None


_STACK_OVERFLOW = TrapCode.STACK_OVERFLOW


class NativeInstance:
    """The native state of one instance: its vmctx and everything it points to."""

    def __init__(self, compiled, inst):
        self.compiled = compiled        # keeps the machine code alive
        self.inst = inst
        module = compiled.module
        self.nimported = compiled.nimported
        self.pending = None
        vm = self.vm = (ctypes.c_uint64 * L.VMCTX_SLOTS)()
        self.vm_addr = ctypes.addressof(vm)
        vm[L.DEPTH_MAX] = getattr(inst, "max_call_depth", DEFAULT_MAX_CALL_DEPTH)
        if inst.mems:
            self.mem_block = native_memory(inst.mems[0])
            vm[L.MEM] = ctypes.addressof(self.mem_block)
        self.global_cells = (ctypes.c_void_p * max(len(inst.globals), 1))()
        for k, g in enumerate(inst.globals):
            if g.type.content in NATIVE_GLOBAL:
                self.global_cells[k] = native_global(g)
        vm[L.GLOBALS] = ctypes.addressof(self.global_cells)
        self.refs = RefRegistry(inst.funcs)
        own = {}
        for j, addr in enumerate(compiled.func_addrs):
            own[id(inst.funcs[self.nimported + j])] = addr
        self.mirrors = []
        self.table_ptrs = (ctypes.c_void_p * max(len(inst.tables), 1))()
        for k, t in enumerate(inst.tables):
            if t.type.element == "funcref":
                m = TableMirror(t, own)
                self.mirrors.append(m)
                self.table_ptrs[k] = ctypes.addressof(m.struct)
        vm[L.TABLES] = ctypes.addressof(self.table_ptrs)
        self.sigs = (ctypes.c_int64 * max(len(module.types), 1))(*[sig_id(t) for t in module.types])
        vm[L.SIGS] = ctypes.addressof(self.sigs)
        self.cb = L.CALLBACK_TYPE(self._callback)
        vm[L.CALLBACK] = ctypes.cast(self.cb, ctypes.c_void_p).value
        self.handlers = self._handlers()
        names = module.names.funcs
        self.frame_names = names
        self.funcs = [self._entry(j) for j in range(len(module.funcs))]
        limit = vm[L.DEPTH_MAX]
        if sys.getrecursionlimit() < 2000 + limit // 8:
            # Host calls made from deep wasm recursion nest Python frames too.
            sys.setrecursionlimit(2000 + limit // 8)

    # ----- entry: Python -> native -----

    def _entry(self, j: int):
        compiled = self.compiled
        i = self.nimported + j
        ft = compiled.func_types[i]
        np_, nr = len(ft.params), len(ft.results)
        args = (ctypes.c_uint64 * max(np_, 1))()
        res = (ctypes.c_uint64 * max(nr, 1))()
        a_addr, r_addr = ctypes.addressof(args), ctypes.addressof(res)
        entry = compiled.entries[compiled.entry_of[j]]
        fn = compiled.func_addrs[j]
        vm, vm_addr = self.vm, self.vm_addr
        to = [_value_to_slot(t, self.refs) for t in ft.params]
        fr = [_slot_to_value(t, self.refs) for t in ft.results]
        mirrors = self.mirrors
        fail = self._fail
        STACK_MIN = L.STACK_MIN
        conv_args = [(k, c) for k, c in enumerate(to)]
        plain_args = all(c is None for c in to)

        def call(*a):
            if plain_args:
                for k in range(np_):
                    args[k] = a[k]
            else:
                for k, c in conv_args:
                    args[k] = a[k] if c is None else c(a[k])
            vm[STACK_MIN] = _stack_min()
            for m in mirrors:
                if m.snap != m.elements:
                    m.refresh()
            rc = entry(vm_addr, fn, a_addr, r_addr)
            if rc:
                fail(rc, i)
            if nr == 1:
                c = fr[0]
                return res[0] if c is None else c(res[0])
            if nr == 0:
                return None
            return tuple(res[k] if c is None else c(res[k]) for k, c in enumerate(fr))

        call.__name__ = self.frame_names.get(i) or f"f{i}"
        return call

    def _fail(self, rc: int, entry_func: int):
        inner = self.vm[L.TRAP_FUNC]
        names = self.frame_names
        frames = [(inner, names.get(inner))]
        if entry_func != inner:
            frames.append((entry_func, names.get(entry_func)))
        if rc == L.TRAP_HOST:
            exc, self.pending = self.pending, None
            if isinstance(exc, Trap):
                exc.frames.extend(frames)
            raise exc
        code = L.TRAP_CODES[rc - 1]
        message = code.value
        if code is TrapCode.UNINITIALIZED_ELEMENT:
            message = f"{message} {self.vm[L.TRAP_ARG]}"
        raise Trap(message, code, frames)

    # ----- callback: native -> Python -----

    def _callback(self, vm, kind, imm, io):
        try:
            self.handlers[kind](imm, io)
        except RecursionError:
            self.pending = Trap(_STACK_OVERFLOW.value, _STACK_OVERFLOW)
            return 1
        except BaseException as exc:  # noqa: B902 - everything crosses back as the trap path
            self.pending = exc
            return 1
        try:
            for m in self.mirrors:
                if m.snap != m.elements:
                    m.refresh()
        except BaseException as exc:
            self.pending = exc
            return 1
        return 0

    def _invoke(self, f, io, first: int) -> None:
        """Call FuncInstance ``f`` with the arguments in ``io[first..]``; results to ``io[0..]``."""
        ft = f.type
        refs = self.refs
        args = []
        for k, t in enumerate(ft.params):
            c = _slot_to_value(t, refs)
            v = io[first + k]
            args.append(v if c is None else c(v))
        r = f.call(*args)
        results = ft.results
        if not results:
            return
        if len(results) == 1:
            r = (r,)
        for k, t in enumerate(results):
            c = _value_to_slot(t, refs)
            io[k] = r[k] if c is None else c(r[k])

    def _handlers(self) -> list:
        inst = self.inst
        refs = self.refs
        tables = inst.tables
        funcs = inst.funcs

        def call(imm, io):
            self._invoke(funcs[imm], io, 0)

        def call_indirect(imm, io):
            self._invoke(tables[imm].elements[io[0]], io, 1)

        def memory_grow(imm, io):
            io[0] = inst.mems[0].grow(io[0]) & MASK32

        def memory_init(imm, io):
            support.memory_init(inst.mems[0], inst.datas, imm, io[0], io[1], io[2])

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

        def table_grow(imm, io):
            io[0] = tables[imm].grow(io[1], refs.objs[io[0]]) & MASK32

        def table_fill(imm, io):
            support.table_fill(tables[imm].elements, io[0], refs.objs[io[1]], io[2])

        def table_copy(imm, io):
            support.table_copy(tables[imm >> 16].elements, tables[imm & 0xFFFF].elements,
                               io[0], io[1], io[2])

        def table_init(imm, io):
            support.table_init(tables[imm & 0xFFFF].elements, inst.elems, imm >> 16,
                               io[0], io[1], io[2])

        def elem_drop(imm, io):
            inst.elems[imm] = []

        def global_get(imm, io):
            io[0] = refs.intern(inst.globals[imm].value)

        def global_set(imm, io):
            inst.globals[imm].value = refs.objs[io[0]]

        out = [None] * 15
        out[L.CB_CALL] = call
        out[L.CB_CALL_INDIRECT] = call_indirect
        out[L.CB_MEMORY_GROW] = memory_grow
        out[L.CB_MEMORY_INIT] = memory_init
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
        return out
