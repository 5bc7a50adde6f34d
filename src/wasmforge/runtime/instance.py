"""Module instances and instantiation (spec 4.2.5, 4.5.3 allocation, 4.5.4 instantiation).

:func:`instantiate` follows the order the specification prescribes for WebAssembly 2.0:

1. the imports are checked against the module's import types (external-type matching with
   limits subtyping, spec 4.5.2); a mismatch is a :class:`LinkError`;
2. global initialisers and element-segment initialisers are evaluated (they may read
   imported globals and refer to any function);
3. functions, tables, memories, globals, segments and exports are allocated;
4. active element segments, then active data segments, are copied in order, each as
   ``table.init`` / ``memory.init`` followed by a drop; declarative segments are dropped.  An
   out-of-bounds segment traps and the writes of the segments before it stay (bulk memory
   semantics);
5. the start function runs.

Everything about a module that does not differ between its instances is worked out once, on
its first instantiation, into an :class:`InstancePlan`: the defined functions' types and
names, the values of constant global initialisers, the exports, and — when every segment
provably fits (constant offsets into the module's own tables and memories, within their
initial sizes) — the data segments merged into runs of bytes and the element segments into
function-index lists.  A further instantiation then allocates only what is per instance and
copies each run once; a module whose segments depend on imports, or may trap, takes the
step-by-step path above, so the observable order of effects never changes.
"""

from __future__ import annotations

import mmap
import weakref
from operator import attrgetter, itemgetter
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from ..errors import InstantiationError, LinkError, Trap, TrapCode, WasmError
from ..module import ACTIVE, DECLARATIVE, FUNC, GLOBAL, MEMORY, PASSIVE, TABLE, TAG
from ..module import Module as ModuleData
from ..types import (PAGE_SIZE, ArrayType, GlobalType, StructType, TableType, close_type, func_type_matches,
                     limits_match, val_matches)
from .constexpr import (_END, _F32_CONST, _F64_CONST, _GLOBAL_GET, _I32_CONST, _I64_CONST,
                        _REF_FUNC, _REF_NULL, _V128_CONST, eval_const)
from .func import FuncInstance, FuncSpace, function_classes
from .glob import GlobalInstance
from .memory import MemoryImage, MemoryInstance, MemorySnapshot, Unrecyclable, snapshot_refusal
from .metering import max_call_depth
from .table import LazyTableElements, TableElements, TableInstance
from .tag import TagInstance

# A memory whose data segments hold fewer bytes copies them per instance rather than map an
# image (one mmap, then a page fault per page read, costs more than copying a few KiB).
_IMAGE_MIN = 64 * 1024

# The wasm call depth at which execution traps with "call stack exhausted".
DEFAULT_MAX_CALL_DEPTH = 20000


class ModuleInstance:
    """An instantiated module (spec 4.2.5).  The tiers read ``funcs``, ``tables``, ``mems``,
    ``globals``, ``elems``, ``datas`` (index spaces, imports first), ``module`` and
    ``store``.  ``exports`` maps each export name to its runtime object (a FuncInstance,
    TableInstance, MemoryInstance or GlobalInstance) in the module's export order."""

    __slots__ = ("module", "store", "funcs", "tables", "mems", "globals", "elems", "datas",
                 "exports", "max_call_depth", "name", "tags", "lazy_bind", "__weakref__")

    def __init__(self, module: ModuleData, store=None, name: Optional[str] = None):
        self.module = module
        self.store = store
        self.name = name if name is not None else module.names.module
        self.funcs: FuncSpace = FuncSpace()
        self.tables: List[TableInstance] = []
        self.mems: List[MemoryInstance] = []
        self.globals: List[GlobalInstance] = []
        self.elems: list = []
        self.datas: list = []
        self.exports: dict = {}
        self.tags: List[TagInstance] = []      # exception handling: the tag index space
        self.max_call_depth = DEFAULT_MAX_CALL_DEPTH
        # A tier that binds functions one at a time: FuncInstance -> its callable
        # (runtime/func.py LazyFuncInstance).
        self.lazy_bind = None

    def snapshot(self, seen: Optional[Dict[int, Any]] = None, like: Optional[List[Any]] = None
                 ) -> "InstanceSnapshot":
        """Its state now, to be put back later (:class:`InstanceSnapshot`; ``like``: memory
        images of another instance of the same module, shared where the contents are the
        same); Unrecyclable if some of it cannot be (:func:`instance_refusal`)."""
        return InstanceSnapshot(self, {} if seen is None else seen, like)

    def __repr__(self) -> str:
        name = f" {self.name}" if self.name else ""
        return f"<ModuleInstance{name} exports={list(self.exports)}>"


class LazyExports(dict):
    """An instance's exports (``ModuleInstance.exports``) whose exported functions are made
    when first read, for an instantiation told which exports are surely read
    (:func:`instantiate`'s ``read``: what a component's definitions read of its core
    instances): componentize-py's libraries export ~3,400 functions per component instance
    of which the component reads ~1,000, and making the others was ~a tenth of an instance
    per request.

    The dict holds what is made (the other kinds, and the functions read); a function not
    made is in ``_lazy`` (name -> function index) until read.  A read by key (``[]``, C
    callers such as ``operator.itemgetter`` included, through ``__missing__``) makes it and
    keeps it, so every read gives the same object, of the instance's function index space.
    Whatever reads the whole mapping (iteration, ``items``, ``dict(...)``, a comparison) or
    writes it sees every export, in the module's export order, all made; ``len`` and ``in``
    count the ones not made without making them."""

    __slots__ = ("_funcs", "_lazy", "_order")

    def __init__(self, made: dict, funcs, lazy: dict, order: list) -> None:
        super().__init__(made)
        self._funcs = funcs
        self._lazy = lazy
        self._order = order

    def __missing__(self, name):
        lazy = self._lazy
        i = lazy.get(name) if lazy else None
        if i is None:
            raise KeyError(name)
        f = self._funcs[i]
        dict.__setitem__(self, name, f)
        lazy.pop(name, None)
        return f

    def _whole(self) -> None:
        """Make every export, and put them in export order."""
        lazy = self._lazy
        if lazy:
            funcs = self._funcs
            funcs.make(list(lazy.values()))
            got = {n: dict.get(self, n) for n in self._order}
            for n, i in list(lazy.items()):
                got[n] = funcs[i]
            self._lazy = {}
            dict.clear(self)
            dict.update(self, got)

    def made(self, name):
        """The export ``name`` if it is made (or not a function), else None (none is made)."""
        return dict.get(self, name)

    def get(self, name, default=None):
        try:
            return self[name]
        except KeyError:
            return default

    def __contains__(self, name) -> bool:
        return dict.__contains__(self, name) or bool(self._lazy) and name in self._lazy

    def __len__(self) -> int:
        return dict.__len__(self) + len(self._lazy)

    def copy(self) -> dict:
        self._whole()
        return dict(dict.items(self))

    def _whole_first(name):      # (a helper of the class body)
        base = getattr(dict, name)

        def method(self, *args, **kwargs):
            self._whole()
            return base(self, *args, **kwargs)
        method.__name__ = name
        return method

    # Every other reader of the whole mapping and every writer sees it whole (a write of a
    # name not made yet would otherwise be counted twice by len, or lost by _whole).
    __iter__ = _whole_first("__iter__")
    __reversed__ = _whole_first("__reversed__")
    keys = _whole_first("keys")
    values = _whole_first("values")
    items = _whole_first("items")
    __eq__ = _whole_first("__eq__")
    __ne__ = _whole_first("__ne__")
    __repr__ = _whole_first("__repr__")
    __setitem__ = _whole_first("__setitem__")
    __delitem__ = _whole_first("__delitem__")
    pop = _whole_first("pop")
    popitem = _whole_first("popitem")
    setdefault = _whole_first("setdefault")
    update = _whole_first("update")
    __ior__ = _whole_first("__ior__")
    clear = _whole_first("clear")
    del _whole_first
    __hash__ = None     # type: ignore[assignment]

    def __reduce__(self):
        self._whole()
        return dict, (dict(dict.items(self)),)


# ----- constant expressions (spec 3.3.10, 4.4.10) -----

# eval_const (runtime/constexpr.py) is the one evaluator: the llvm tier instantiates through
# this module too.  Its opcode constants serve the instantiation plan's shortcuts below.


# ----- import matching (spec 4.5.2) -----

def _describe(kind: str, t) -> str:
    if kind == FUNC:
        return f"func {t}"
    if kind == TABLE:
        return f"table {'i64 ' if t.is_64 else ''}{t.limits} {t.element}"
    if kind == MEMORY:
        return f"memory {'i64 ' if t.is_64 else ''}{t.limits}"
    if kind == TAG:
        return f"tag {t}"
    return f"global {'mut ' if t.mutable else ''}{t.content}"


def extern_kind(obj) -> str:
    """The external kind of a runtime object ('func', 'table', 'memory' or 'global')."""
    if isinstance(obj, FuncInstance):
        return FUNC
    if isinstance(obj, TableInstance):
        return TABLE
    if isinstance(obj, MemoryInstance):
        return MEMORY
    if isinstance(obj, GlobalInstance):
        return GLOBAL
    if isinstance(obj, TagInstance):
        return TAG
    raise TypeError(f"{type(obj).__name__} is not an external value")


def extern_type(obj):
    """The current external type of a runtime object (limits reflect growth)."""
    if isinstance(obj, FuncInstance):
        return obj.type
    if isinstance(obj, (TableInstance, MemoryInstance)):
        return obj.current_type()
    if isinstance(obj, TagInstance):
        return obj.functype
    return obj.type


def match_import(imp, expected, obj) -> None:
    """Raise LinkError unless runtime object ``obj`` matches the import's type ``expected``."""
    kind = imp.kind
    actual_kind = extern_kind(obj)
    ok = actual_kind == kind
    if ok:
        actual = extern_type(obj)
        if kind == FUNC:
            ok = actual == expected or func_type_matches(actual, expected)
        elif kind == TAG:
            ok = actual == expected
        elif kind == TABLE:
            ok = (actual.element == expected.element and actual.is_64 == expected.is_64
                  and limits_match(actual.limits, expected.limits))
        elif kind == MEMORY:
            # memory64: a 64-bit memory never matches a 32-bit one, either way.
            ok = (actual.is_64 == expected.is_64 and actual.shared == expected.shared
                  and limits_match(actual.limits, expected.limits))
        else:
            # An immutable global may be of a subtype (function-references: a (ref $t)
            # global matches a funcref import); a mutable one must be of the same type.
            ok = actual == expected or (
                not actual.mutable and not expected.mutable
                and val_matches(actual.content, expected.content))
    if not ok:
        raise LinkError(f"incompatible import type for `{imp.module}::{imp.name}`: expected "
                        f"{_describe(kind, expected)}, found {_describe(actual_kind, extern_type(obj))}")


# ----- the per-module instantiation plan -----

_NO_VALUE = object()


def _constant(expr):
    """The value of a constant expression that reads no global and refers to no function
    (its value is then the same in every instance), else ``_NO_VALUE``."""
    # (GC's allocating instructions make a new object per instance: not a shared value.)
    if len(expr) == 2 and expr[1][0] is _END and expr[0][0] not in (_REF_FUNC, _GLOBAL_GET) \
            and expr[0][0].feature != "gc":
        return eval_const(expr, (), ())
    if len(expr) == 1 and expr[0][0] in (_I32_CONST, _I64_CONST, _F32_CONST, _F64_CONST,
                                         _V128_CONST, _REF_NULL):
        return eval_const(expr, (), ())
    return _NO_VALUE


def _func_ref(expr):
    """The function index of ``ref.func i`` (or None for ``ref.null``) as a constant
    element expression; ``_NO_VALUE`` for anything else (``global.get``)."""
    if len(expr) == 2 and expr[1][0] is _END:
        # (the common form, ``ref.func i`` and ``end``, without the list below)
        op = expr[0]
        return op[1] if op[0] is _REF_FUNC else None if op[0] is _REF_NULL else _NO_VALUE
    ops = [instr for instr in expr if instr[0] is not _END]
    if len(ops) == 1:
        if ops[0][0] is _REF_FUNC:
            return ops[0][1]
        if ops[0][0] is _REF_NULL:
            return None
    return _NO_VALUE


class InstancePlan:
    """What every instance of one module shares (see the module docstring).

    ``funcs``: ``(type, name, index)`` per defined function; ``globals``: ``(type, value)``
    per defined global, value ``_NO_VALUE`` when its initialiser reads globals or functions;
    ``exports``: ``(name, kind, index)``; ``datas``: the instance's initial segment list
    (active segments already dropped); ``data_runs``: ``(memory index, offset, bytes)`` to
    copy, or None when the data segments need the step-by-step path; ``elem_runs`` likewise
    ``(table index, offset, [function index or None])`` for the active element segments
    (passive ones are evaluated per instance: they may be read by ``table.init`` later);
    ``mem_types``, ``table_types``: of the module's own memories and tables; ``types``: every
    type definition closed (``Module.closed_types``); ``elem_funcs``: per element segment, its
    function indexes if it holds only ``ref.func`` items, else None.  What an instance's
    tables and memories start from: :meth:`table_images`, :meth:`memory_init`."""

    __slots__ = ("funcs", "globals", "exports", "datas", "data_runs", "elem_runs", "mem_types",
                 "table_types", "import_types", "tag_types", "types", "uses", "func_classes",
                 "_memory_init", "_image_uses", "elem_funcs", "nimported", "_func_types", "export_funcs", "_defined_only",
                 "export_names", "_splits", "_table_images", "_table_init", "datas_empty", "import_picks",
                 "__weakref__")

    def __init__(self, module: ModuleData):
        # The runtime's types are closed over the type indices (types.close_types), so that
        # typed references compare across modules; a 2.0 module's types are unchanged.
        types, heaps = module.close_types()
        self.types = types      # all of them (Module.closed_types), for the tiers
        names = module.names.funcs
        self.import_types = [types[imp.desc] if imp.kind in (FUNC, TAG) else _closed_extern(imp.desc, heaps)
                             for imp in module.imports]
        self.tag_types = [types[t.typeidx] for t in module.tags]
        nfuncs = nmems = ntables = 0
        for imp in module.imports:
            nfuncs += imp.kind == FUNC
            nmems += imp.kind == MEMORY
            ntables += imp.kind == TABLE
        self.nimported = nfuncs     # the imported functions (defined ones' indexes start here)
        self.import_picks = _import_picks([imp.kind for imp in module.imports])
        self.funcs = [(types[f.typeidx], names.get(i), i)
                      for i, f in enumerate(module.funcs, nfuncs)]
        self.globals = [(_closed_extern(g.type, heaps), _constant(g.init)) for g in module.globals]
        self.exports = [(e.name, e.kind, e.index) for e in module.exports]
        self.export_funcs = [e.index for e in module.exports if e.kind == FUNC]
        self.export_names = [e.name for e in module.exports]
        self._splits: Dict[frozenset, tuple] = {}
        self.mem_types = [m.type for m in module.mems]
        self.table_types = [_closed_extern(t.type, heaps) for t in module.tables]
        self.datas = [b"" if d.mode == ACTIVE else d.init for d in module.datas]
        #: every segment is empty once the instance is made (active ones are dropped): the
        #: instances share one list (nothing changes it: ``data.drop`` writes b"" over b"";
        #: componentize-js's engine has 10,000 segments, a list per instance the collector
        #: walks)
        self.datas_empty = not any(self.datas)
        # A module decoded without its data section (decode_module's skip_data) carries its
        # runs, kept by the llvm tier's module cache (initial_data_runs).
        known = module.__dict__.get("known_data_runs")
        self.data_runs = known if known is not None else self._data_runs(module, nmems)
        # Each element segment's items read once, for both (the Go benchmark program's table
        # segment: 5,107 items, read twice on every warm run).
        refs = [[_func_ref(e) for e in seg.init] for seg in module.elems]
        self.elem_runs = self._elem_runs(module, ntables, refs)
        self._table_images: Optional[Dict[int, list]] = None
        # the imported tables, and per table of its own whether it has an initialiser
        # (function-references), for table_images
        self._table_init = (ntables, [t.init is not None for t in module.tables])
        # Per element segment: its function indexes when every item is a ``ref.func``, else
        # None (evaluated item by item).
        self.elem_funcs = [None if _NO_VALUE in r or None in r else r for r in refs]
        self.uses = 0
        self.func_classes = None
        self._func_types = None
        self._defined_only: Dict[int, tuple] = {}
        self._memory_init: Optional[Tuple[Dict[int, MemoryImage], list]] = None
        self._image_uses = 0

    def export_split(self, read: frozenset) -> tuple:
        """The exports as ``(eager, lazy, others)`` for the set of names ``read``
        (:func:`instantiate`): the exported functions read (name -> index), the others (name
        -> index), and the exports of other kinds (``(name, kind, index)``); found once per
        set (a component's core instantiation gives the same set every time)."""
        got = self._splits.get(read)
        if got is None:
            eager: Dict[str, int] = {}
            lazy: Dict[str, int] = {}
            others = []
            for n, kind, index in self.exports:
                if kind == FUNC:
                    (eager if n in read else lazy)[n] = index
                else:
                    others.append((n, kind, index))
            if len(self._splits) > 8:       # (a module given several sets: keep a few)
                self._splits.clear()
            got = self._splits[read] = (eager, lazy, others)
        return got

    def table_images(self) -> Dict[int, list]:
        """Table index -> the elements an instance's active segments leave in that table of
        its own, as placeholders (runtime/table.py TableElements.place, the instance's
        function space the table's first source), for the tables whose segments are
        ``elem_runs`` of defined functions only and that start null; found once (an instance
        per request of componentize-js's engine places 7,784 functions in its table: one
        copy of a list instead of a list made and written).  Empty for a module whose
        segments need the step-by-step path."""
        images = self._table_images
        if images is not None:
            return images
        images = self._table_images = {}
        if self.elem_runs:
            nt = len(self.table_types)
            first = self._table_init[0]
            for k in {run[0] for run in self.elem_runs}:
                own = k - first
                if not 0 <= own < nt or self._table_init[1][own]:
                    continue
                runs = [(offset, refs) for j, offset, refs in self.elem_runs if j == k]
                if not all(self.defined_only(refs) for _, refs in runs):
                    continue
                image: list = [None] * self.table_types[own].limits.min
                for offset, refs in runs:
                    image[offset:offset + len(refs)] = refs
                images[k] = image
        return images

    def defined_only(self, refs: list) -> bool:
        """Whether the function indexes ``refs`` (a segment's, held by this plan) are all of
        defined functions (no null, no import): found once per segment, not per instance
        (componentize-js's engine writes 7,784)."""
        got = self._defined_only.get(id(refs))
        if got is None or got[0] is not refs:
            # (the list kept with its answer: its id names no other list while kept)
            got = self._defined_only[id(refs)] = (
                refs, bool(refs) and None not in refs and min(refs) >= self.nimported, {})
        return got[1]

    def placeholders(self, refs: list, base: int) -> list:
        """``refs`` (a segment's defined functions, :meth:`defined_only`) as the
        placeholders ``base + index`` (runtime/table.py TableElements.place), made once per
        ``base`` and shared (ints: nobody changes them): componentize-py's libraries place
        ~5,000 functions per instance in the shared table at offsets read from a global."""
        self.defined_only(refs)
        made = self._defined_only[id(refs)][2]
        values = made.get(base)
        if values is None:
            values = made[base] = list(map(base.__add__, refs)) if base else list(refs)
        return values

    def func_types(self) -> list:
        """The type of each defined function by its function index (None for the imported
        ones): how a table's placeholder of a function not made is described
        (runtime/table.py TableElements.function_of)."""
        fts = self._func_types
        if fts is None:
            fts = self._func_types = [None] * self.nimported + [t for t, _, _ in self.funcs]
        return fts

    def lazy_classes(self) -> list:
        """The per-function classes of runtime/func.py (LazyFuncInstance), made on the
        module's second instantiation: a module instantiated once (an artifact loaded per
        request) does not pay for classes it would use once."""
        classes = self.func_classes
        if classes is None:
            self.uses += 1
            if self.uses < 2:
                return None
            classes = self.func_classes = function_classes(self.funcs)
        return classes

    def memory_init(self) -> Tuple[Dict[int, MemoryImage], list]:
        """What a new instance's memories start from, when ``data_runs`` is not None: memory
        index -> the :class:`MemoryImage` to map, for the memories whose runs hold at least
        ``_IMAGE_MIN`` bytes, and the runs to copy, those of the other memories.  The images
        are made on the module's second instantiation (a module instantiated once copies its
        runs, without making an image it would use once); from then on the answer is found
        once (componentize-js's engine has 10,000 runs, all in its memory's image: looping
        over them per instance was a fifth of its instantiation)."""
        got = self._memory_init
        if got is not None:
            return got
        runs = self.data_runs or []
        self._image_uses += 1
        if self._image_uses < 2:
            return {}, runs
        images = self._images(runs)
        got = self._memory_init = (images, [r for r in runs if r[0] not in images])
        return got

    @staticmethod
    def _images(data_runs) -> Dict[int, MemoryImage]:
        ends: Dict[int, int] = {}
        held: Dict[int, int] = {}
        for k, offset, data in data_runs:
            ends[k] = max(ends.get(k, 0), offset + len(data))
            held[k] = held.get(k, 0) + len(data)
        images = {}
        for k, end in ends.items():
            if held[k] < _IMAGE_MIN:
                continue
            # Whole OS pages (the memory's size is whole 64 KiB pages, so they fit).
            buf = bytearray(-(-end // mmap.PAGESIZE) * mmap.PAGESIZE)
            for j, offset, data in data_runs:
                if j == k:
                    buf[offset:offset + len(data)] = data
            images[k] = MemoryImage(bytes(buf))
        return images

    @staticmethod
    def _data_runs(module: ModuleData, nimported: int):
        sizes = {}
        for k, m in enumerate(module.mems, nimported):
            sizes[k] = m.type.limits.min * PAGE_SIZE
        runs: list = []
        for d in module.datas:
            if d.mode != ACTIVE:
                continue
            expr = d.offset
            if len(expr) == 2 and expr[0][0] is _I32_CONST and expr[1][0] is _END:
                # `i32.const n end`, read as eval_const does (a Go module has ~86,000 such
                # segments: evaluating each was a tenth of its warm run)
                offset = expr[0][1] & 0xFFFFFFFF
            else:
                offset = _constant(expr)
            if d.memory not in sizes or offset is _NO_VALUE or offset + len(d.init) > sizes[d.memory]:
                return None         # an imported memory or a possible trap: step by step
            if not d.init:
                continue
            last = runs[-1] if runs else None
            if last is not None and last[0] == d.memory and last[1] + len(last[2]) == offset:
                last[2] += d.init   # adjacent segments: one copy
            else:
                runs.append([d.memory, offset, bytearray(d.init)])
        return [(k, offset, bytes(data)) for k, offset, data in runs]

    @staticmethod
    def _elem_runs(module: ModuleData, nimported: int, items: list):
        """``items``: per element segment, :func:`_func_ref` of each of its items."""
        sizes = {}
        for k, t in enumerate(module.tables, nimported):
            sizes[k] = t.type.limits.min
        runs = []
        for seg, refs in zip(module.elems, items):
            if seg.mode == ACTIVE:
                offset = _constant(seg.offset)
                if seg.table not in sizes or offset is _NO_VALUE or _NO_VALUE in refs \
                        or offset + len(refs) > sizes[seg.table]:
                    return None
                runs.append((seg.table, offset, refs))
        return runs


def initial_data_runs(module: ModuleData):
    """The runs of ``module``'s data segments as :class:`InstancePlan` copies them, for a
    module whose segments are all active and provably in bounds of its own fresh memories
    (else None): what a warm run keeps instead of decoding the segments again (the llvm
    tier's module cache, which then decodes the module with ``skip_data``).  The runs of one
    memory become one run when they cover at least a quarter of its span (zeros between
    them: the memory is fresh), so a Go program's 86,137 segments are one 3.6 MB copy."""
    if any(d.mode != ACTIVE for d in module.datas):
        return None
    nmems = sum(imp.kind == MEMORY for imp in module.imports)
    runs = InstancePlan._data_runs(module, nmems)
    if runs is None:
        return None
    out = []
    for k in sorted({k for k, _, _ in runs}):
        mine = [(offset, data) for j, offset, data in runs if j == k]
        lo = min(offset for offset, _ in mine)
        hi = max(offset + len(data) for offset, data in mine)
        if len(mine) > 1 and 4 * sum(len(data) for _, data in mine) >= hi - lo:
            buf = bytearray(hi - lo)
            for offset, data in mine:       # in order: a later segment overwrites
                buf[offset - lo:offset - lo + len(data)] = data
            out.append((k, lo, bytes(buf)))
        else:
            out.extend((k, offset, data) for offset, data in mine)
    return out


def _import_picks(kinds: List[str]) -> list:
    """``(kind, pick)`` for each kind of import of a module, ``pick(externvals)`` giving that
    kind's objects in order (one C call: componentize-py's libraries import ~2,400 objects
    per component instance, which a loop took one by one)."""
    out = []
    for kind in dict.fromkeys(kinds):
        idx = [i for i, k in enumerate(kinds) if k == kind]
        if len(idx) == len(kinds):
            out.append((kind, tuple))
        else:
            out.append((kind, tuple_picker(idx)))
    return out


def tuple_picker(keys: Sequence) -> Callable[[Any], tuple]:
    """What gives ``x[k]`` for each of ``keys`` (one or more), in order, as a tuple, by one
    C call (``itemgetter``, whose answer for one key is the item, not a tuple)."""
    if len(keys) > 1:
        return itemgetter(*keys)
    key = keys[0]

    def pick(x):
        return (x[key],)
    return pick


_HOST = attrgetter("host")


def _closed_extern(t, heaps):
    """A table or global type with its reference type closed (see InstancePlan)."""
    if isinstance(t, GlobalType):
        c = close_type(t.content, heaps)
        return t if c is t.content else GlobalType(c, t.mutable)
    if isinstance(t, TableType):
        c = close_type(t.element, heaps)
        return t if c is t.element else TableType(c, t.limits)
    return t


_plans: dict = {}


def instance_plan(module: ModuleData) -> InstancePlan:
    """The plan of ``module``, made on first use and kept as long as the module lives."""
    key = id(module)
    entry = _plans.get(key)
    if entry is not None and entry[0]() is module:
        return entry[1]
    plan = InstancePlan(module)
    _plans[key] = (weakref.ref(module, lambda _r, key=key: _plans.pop(key, None)), plan)
    return plan


# ----- instantiation (spec 4.5.4) -----



def instantiate(store, module: ModuleData, code, externvals: Sequence, name: Optional[str] = None,
                max_call_depth: int = DEFAULT_MAX_CALL_DEPTH, checked: bool = False,
                read: Optional[frozenset] = None, plan: Optional[InstancePlan] = None,
                store_depth: Optional[int] = None) -> ModuleInstance:
    """Instantiate the validated ``module`` in ``store`` with the runtime objects
    ``externvals`` (one per import, in order), running its code with ``code`` (the tier's
    compiled module, see ``wasmforge.interp.compile_module``).  ``checked``: the caller has
    matched ``externvals`` against the import types already (an InstancePre did, once).
    ``read``: the names of the exports surely read (a component's core instance): the
    exported functions are made together for those only, the others when first read
    (:class:`LazyExports`); None: all exported functions are made.  ``plan``: the module's
    :class:`InstancePlan` and ``store_depth``: :func:`max_call_depth_of` of ``store``, when the
    caller has them (an InstancePre keeps both).

    Raises LinkError when the imports do not match, InstantiationError when a table or memory
    cannot be allocated, Trap when a segment is out of bounds or the start function traps.  Writes done before a trap stay visible in imported objects,
    and the functions of the failed instance stay callable from tables they were stored in."""
    imports = module.imports
    if len(externvals) != len(imports):
        raise LinkError(f"wrong number of imports: the module needs {len(imports)}, "
                        f"{len(externvals)} were given")
    if plan is None:
        plan = instance_plan(module)
    if not checked:
        for imp, expected, obj in zip(imports, plan.import_types, externvals):
            match_import(imp, expected, obj)

    if store is not None:
        # Store.set_limits: refuse before anything is allocated.
        store._admit(1, plan.mem_types, plan.table_types)
        max_call_depth = max_call_depth_of(store, max_call_depth) if store_depth is None else store_depth
    inst = ModuleInstance(module, store, name)
    inst.max_call_depth = max_call_depth
    funcs, tables, mems, globs = inst.funcs, inst.tables, inst.mems, inst.globals
    by_kind = {FUNC: funcs, TABLE: tables, MEMORY: mems, TAG: inst.tags, GLOBAL: globs}
    for kind, pick in plan.import_picks:
        objs = pick(externvals)
        if kind == FUNC:
            hosts = list(map(_HOST, objs))
            if hosts.count(None) != len(hosts):
                # A host function asking for a Caller reaches the instance importing it.
                objs = [obj if obj.host is None else obj.host.instance_binding(obj, inst) for obj in objs]
        list.extend(by_kind[kind], objs)
    # The defined functions' FuncInstances are made when their index is first read
    # (runtime/func.py FuncSpace): a funcref is one, and they exist, as far as anyone can
    # tell, before the segments are evaluated.  A tier that binds one function at a time
    # gets objects of per-function classes whose shared attributes are class attributes, and
    # makes the callable of a function on its first use (runtime/func.py LazyFuncInstance).
    lazily = getattr(code, "instantiate_lazily", None) if module.funcs else None
    funcs.define(inst, store, plan, (plan.func_classes or plan.lazy_classes()) if lazily is not None else None,
                 lazily is not None)

    # Global initialisers may read imported globals (2.0) and, harmlessly, earlier ones.
    for (gtype, value), g in zip(plan.globals, module.globals):
        globs.append(GlobalInstance(gtype, eval_const(g.init, globs, funcs, module)
                                    if value is _NO_VALUE else value))
    elem_runs = plan.elem_runs
    if elem_runs is None:
        # A passive segment of plain ``ref.func``s is its functions; an active or declarative
        # one is written from its function indexes (below) and dropped.
        get = funcs.__getitem__
        inst.elems = [[eval_const(e, globs, funcs, module) for e in seg.init] if refs is None
                      else list(map(get, refs)) if seg.mode == PASSIVE else []
                      for seg, refs in zip(module.elems, plan.elem_funcs)]
    else:
        # Active and declarative segments are dropped at once (below); only passive ones
        # keep their references.
        inst.elems = [[eval_const(e, globs, funcs, module) for e in seg.init] if seg.mode == PASSIVE
                      else [] for seg in module.elems]
    try:
        for t, tt in zip(module.tables, plan.table_types):
            table = TableInstance(tt)
            if t.init is not None:
                # function-references: every element starts as the initialiser's value.
                table.elements[:] = [eval_const(t.init, globs, funcs, module)] * len(table.elements)
            tables.append(table)
        limit_pages = store.memory_reservation() if store is not None else None
        for m in module.mems:
            mems.append(MemoryInstance(m.type, limit_pages))
    except Trap:
        # A table initialiser that traps (a GC array too large to allocate) traps
        # instantiation, as a global's or a segment's does.
        raise
    except (WasmError, OSError) as exc:
        # An implementation limit, or the OS refusing the address-space reservation.
        raise InstantiationError(f"cannot allocate the module's tables and memories: {exc}") from None
    if store is not None:
        store._adopt(mems[len(mems) - len(module.mems):], tables[len(tables) - len(module.tables):])
    data_runs = plan.data_runs
    # The tiers keep this list object: it is updated in place from here on.
    inst.datas = ([d.init for d in module.datas] if data_runs is None else plan.datas if plan.datas_empty
                  else list(plan.datas))
    if plan.tag_types:
        inst.tags.extend(TagInstance._new(ft, store) for ft in plan.tag_types)
    spaces = {TABLE: tables, MEMORY: mems, GLOBAL: globs, TAG: inst.tags}
    if read is None or not plan.export_funcs:
        # The exported functions are read surely: made together (FuncSpace.make).
        funcs.make(plan.export_funcs)
        spaces[FUNC] = funcs.raw()
        inst.exports = {n: spaces[kind][index] for n, kind, index in plan.exports}
    else:
        eager, lazy, others = plan.export_split(read)
        funcs.make(eager.values())
        raw = funcs.raw()
        made = {n: raw[i] for n, i in eager.items()}
        for n, kind, index in others:
            made[n] = spaces[kind][index]
        inst.exports = LazyExports(made, funcs, dict(lazy), plan.export_names)

    if elem_runs is not None:
        # Every segment fits in a table of this instance that nobody else sees yet: fill them
        # before the tier binds its code, so a tier's view of a table is built once, whole.
        # A table the tier watches, filled only with this instance's defined functions, is
        # its plan's image of placeholders copied whole (InstancePlan.table_images).
        imaged = None
        for k, image in plan.table_images().items():
            els = tables[k].elements
            if type(els) is TableElements and els.sources is None and not els.watchers:
                list.__setitem__(els, slice(None), image)
                els.sources = [funcs]
                els.__class__ = LazyTableElements
                if imaged is None:
                    imaged = set()
                imaged.add(k)
        for k, offset, refs in elem_runs:
            if imaged is None or k not in imaged:
                _place(tables[k], offset, refs, funcs)
    if lazily is not None:
        inst.lazy_bind = lazily(inst)
    elif module.funcs:
        funcs.bind(code.instantiate(inst))
    if store is not None:
        store._instances.append(inst)

    if elem_runs is None:
        for i, seg in enumerate(module.elems):
            if seg.mode == ACTIVE:
                offset = eval_const(seg.offset, globs, funcs, module)
                refs = plan.elem_funcs[i]
                if refs is None:
                    _table_init(tables[seg.table], inst.elems[i], offset)
                else:
                    # spec 4.4.7 table.init: the whole range is checked before anything is written.
                    if offset + len(refs) > len(tables[seg.table].elements):
                        raise Trap(TrapCode.TABLE_OUT_OF_BOUNDS.value, TrapCode.TABLE_OUT_OF_BOUNDS)
                    _place(tables[seg.table], offset, refs, funcs)
                inst.elems[i] = []
            elif seg.mode == DECLARATIVE:
                inst.elems[i] = []
    if data_runs is None:
        for i, seg in enumerate(module.datas):
            if seg.mode == ACTIVE:
                offset = eval_const(seg.offset, globs, funcs, module)
                _memory_init(mems[seg.memory], seg.init, offset)
                inst.datas[i] = b""
    else:
        # Proven in bounds of fresh memories: one copy per run of adjacent segments, or the
        # prepared image of a memory's runs mapped copy-on-write.
        images, copied = plan.memory_init()
        for k, image in images.items():
            mems[k].map_image(image)
        for k, offset, data in copied:
            mems[k].data[offset:offset + len(data)] = data

    if module.start is not None:
        funcs[module.start].call()
    return inst


def max_call_depth_of(store, default: int = DEFAULT_MAX_CALL_DEPTH) -> int:
    """The wasm call depth a store's engine allows (``Config.max_wasm_stack``)."""
    stack = getattr(store.engine, "max_wasm_stack", None)
    return default if stack is None else max_call_depth(stack)


def _place(table: TableInstance, offset: int, refs: list, funcs: FuncSpace) -> None:
    """Write functions ``refs`` (indexes into ``funcs``, None for null) at ``offset`` (in
    bounds): a table a tier watches holds the functions not made yet as placeholders
    (runtime/table.py TableElements.place); a plain list (the interp tier's) gets them made."""
    els = table.elements
    if isinstance(els, TableElements):
        els.place(offset, funcs, refs)
    else:
        get = funcs.__getitem__
        els[offset:offset + len(refs)] = [None if r is None else get(r) for r in refs]


def _table_init(table: TableInstance, refs: list, offset: int) -> None:
    # spec 4.4.7 table.init: the whole range is checked before anything is written.
    n = len(refs)
    if offset + n > len(table.elements):
        raise Trap(TrapCode.TABLE_OUT_OF_BOUNDS.value, TrapCode.TABLE_OUT_OF_BOUNDS)
    table.elements[offset:offset + n] = refs


def _memory_init(mem: MemoryInstance, data: bytes, offset: int) -> None:
    # spec 4.4.8 memory.init: the whole range is checked before anything is written.
    n = len(data)
    if offset + n > mem.size:
        raise Trap(TrapCode.MEMORY_OUT_OF_BOUNDS.value, TrapCode.MEMORY_OUT_OF_BOUNDS)
    mem.data[offset:offset + n] = data


class InstanceSnapshot:
    """The state of one module instance at a moment (:meth:`ModuleInstance.snapshot`): its
    mutable globals' values, its tables' elements and sizes, its memories' contents and
    sizes (the ones it defines and the ones it imports: ``seen`` has what another snapshot of
    the same store took already, by id, so each is taken once), its dropped data and element
    segments.  :meth:`reset` puts all of it back."""

    __slots__ = ("inst", "globals", "tables", "mems", "datas", "elems")

    def __init__(self, inst: ModuleInstance, seen: Dict[int, Any], like: Optional[List[Any]] = None) -> None:
        reason = instance_refusal(inst)
        if reason is not None:
            raise Unrecyclable(reason)
        self.inst = inst
        self.globals = [(g, g.value) for g in inst.globals if g.type.mutable and _first(seen, g)]
        self.tables = [t.snapshot() for t in inst.tables if _first(seen, t)]
        images = like if like is not None else []
        mems: List[MemorySnapshot] = []
        for m in inst.mems:
            if _first(seen, m):
                mems.append(MemorySnapshot(m, images[len(mems)] if len(mems) < len(images) else None))
        self.mems = mems
        self.datas = list(inst.datas)
        self.elems = [list(e) for e in inst.elems]

    def reset(self) -> None:
        for g, value in self.globals:
            g.value = value
        for t in self.tables:
            t.reset()
        for m in self.mems:
            m.reset()
        inst = self.inst
        datas = inst.datas
        if datas != self.datas:
            datas[:] = self.datas       # (in place: the tiers keep the list)
        elems = inst.elems
        for i, e in enumerate(self.elems):
            if elems[i] != e:
                elems[i] = list(e)


def _first(seen: Dict[int, Any], obj: Any) -> bool:
    """Whether ``obj`` is seen for the first time (and note it, kept alive in ``seen``)."""
    if id(obj) in seen:
        return False
    seen[id(obj)] = obj
    return True


def instance_refusal(inst: ModuleInstance) -> Optional[str]:
    """Why the state of ``inst`` cannot be snapshotted and put back (None: it can): exception
    tags (a thrown exception's payload), the GC proposal's heap, shared memories, memories
    that are not mappings, tables of another kind, and whatever the tier says of its own
    state (the tier module's optional ``snapshot_refusal(inst)``)."""
    if inst.tags:
        return f"module {inst.name or '?'} uses exception tags"
    plan = instance_plan(inst.module)
    if any(isinstance(getattr(t, "comp", t), (StructType, ArrayType)) for t in plan.types):
        return f"module {inst.name or '?'} uses the GC proposal's heap"
    for m in inst.mems:
        reason = snapshot_refusal(m)
        if reason is not None:
            return f"module {inst.name or '?'}: {reason}"
    for t in inst.tables:
        if type(t.elements) not in (list, TableElements, LazyTableElements):
            return f"module {inst.name or '?'}: a table of {type(t.elements).__name__}"
    store = inst.store
    tier = getattr(getattr(store, "engine", None), "tier", None)
    refusal = getattr(tier, "snapshot_refusal", None)
    return refusal(inst) if refusal is not None else None


__all__ = ["ModuleInstance", "LazyExports", "InstanceSnapshot", "Unrecyclable", "instance_refusal", "InstancePlan", "instance_plan", "eval_const", "instantiate", "match_import", "extern_kind",
           "extern_type", "DEFAULT_MAX_CALL_DEPTH"]
