"""Table instances (spec 4.2.7)."""

from __future__ import annotations

import weakref
from operator import index as _index

from ..errors import WasmError
from .func import ReadThroughList
from ..types import Limits, TableType

# Implementation limit on the elements of one table (spec 4.5.3.7 lets table.grow fail for any
# reason).  A table is a Python list of references, 8 bytes a slot: the limit bounds one table
# at 80 MB instead of letting `table.grow` ask for 2^32 slots.
MAX_TABLE_ELEMENTS = 10_000_000


class TableElements(list):
    """The elements of a table: a list that reports every write to its *watchers*, the native
    views a tier keeps of it (the llvm tier's ``call_indirect`` mirror), so that a view is
    updated for the elements written, never rebuilt or compared whole.

    Reads are a plain list's.  A watcher has ``table_set(i, value)``, ``table_written(lo,
    values)`` (a range rewritten in place), ``table_grown(old_len, values)`` (appended) and
    ``table_reset()`` (anything else: insertions, deletions, reordering); it is held weakly."""

    __slots__ = ("watchers", "sources")

    def __init__(self, iterable=()):
        super().__init__(iterable)
        self.watchers = []
        self.sources = None     # see place()

    def place(self, lo: int, space, refs) -> None:
        """Write the functions ``refs`` (indexes into the function index space ``space``, a
        runtime/func.py FuncSpace; None for null) at ``lo``, without making their
        FuncInstances: a defined function is held as a *placeholder*, the int
        ``source << 32 | index`` (``sources[source]`` is ``space``), until the slot is read
        (the list becomes a :class:`LazyTableElements`).  A funcref table holds no other int.
        What watchers are told is what the list holds: placeholders included
        (:meth:`function_of` describes one).  The caller has checked the bounds."""
        sources = self.sources
        if sources is None:
            sources = self.sources = []
        for s, sp in enumerate(sources):
            if sp is space:
                break
        else:
            s = len(sources)
            sources.append(space)
        base = s << _SOURCE_SHIFT
        nimported = space.nimported
        if not refs:
            return
        if not space.plan.defined_only(refs):
            made = space.made       # an imported function is a FuncInstance already
            values = [None if r is None else made(r) if r < nimported else base + r for r in refs]
        else:
            values = space.plan.placeholders(refs, base)
        if type(self) is TableElements:
            self.__class__ = LazyTableElements
        self[lo:lo + len(values)] = values

    def function_of(self, placeholder: int) -> tuple:
        """``(type, defining ModuleInstance, function index)`` of the function a placeholder
        stands for (see :meth:`place`), without making it."""
        space = self.sources[placeholder >> _SOURCE_SHIFT]
        index = placeholder & _INDEX_MASK
        t = space.plan.funcs[index - space.nimported][0]
        return t, space.inst, index

    def raw(self) -> list:
        """The elements as the list holds them, placeholders included (a copy)."""
        return list.__getitem__(self, slice(None))

    def watch(self, watcher) -> None:
        self.watchers.append(weakref.ref(watcher))

    def _live(self) -> list:
        live = [w for w in (r() for r in self.watchers) if w is not None]
        if len(live) != len(self.watchers):
            self.watchers = [weakref.ref(w) for w in live]
        return live

    def __setitem__(self, key, value):
        if not self.watchers:
            list.__setitem__(self, key, value)
            return
        if isinstance(key, slice):
            if not isinstance(value, (list, tuple)):
                value = list(value)
            start, stop, step = key.indices(len(self))
            list.__setitem__(self, key, value)
            if step == 1 and stop - start == len(value):
                for w in self._live():
                    w.table_written(start, value)
            else:
                for w in self._live():
                    w.table_reset()
            return
        list.__setitem__(self, key, value)
        i = _index(key)
        if i < 0:
            i += len(self)
        for w in self._live():
            w.table_set(i, value)

    def extend(self, iterable) -> None:
        old = len(self)
        if self.watchers and not isinstance(iterable, (list, tuple)):
            iterable = list(iterable)
        list.extend(self, iterable)
        if self.watchers:
            for w in self._live():
                w.table_grown(old, iterable)

    def append(self, value) -> None:
        self.extend((value,))

    def __iadd__(self, other):
        self.extend(other)
        return self

    def _reset(name):
        base = getattr(list, name)

        def method(self, *args, **kwargs):
            r = base(self, *args, **kwargs)
            if self.watchers:
                for w in self._live():
                    w.table_reset()
            return self if name == "__imul__" else r
        method.__name__ = name
        return method

    __delitem__ = _reset("__delitem__")
    insert = _reset("insert")
    pop = _reset("pop")
    remove = _reset("remove")
    clear = _reset("clear")
    sort = _reset("sort")
    reverse = _reset("reverse")
    __imul__ = _reset("__imul__")
    del _reset


_SOURCE_SHIFT = 32
_INDEX_MASK = (1 << _SOURCE_SHIFT) - 1
_list_get = list.__getitem__
_list_set = list.__setitem__


class LazyTableElements(ReadThroughList, TableElements):
    """The elements of a table that holds placeholders (:meth:`TableElements.place`): every
    read gives the FuncInstance (made on the first read, then kept in the slot), so a reader
    sees the same list a table of made functions is.  A slot read is the only slot a request
    pays for: componentize-js's engine puts 7,784 of its functions in its table."""

    __slots__ = ()

    def _resolve(self, i, p):
        space = self.sources[p >> _SOURCE_SHIFT]
        f = space[p & _INDEX_MASK]
        if _list_get(self, i) is p:
            # The same function, for watchers too: nothing to report.
            _list_set(self, i, f)
        return f

    def __getitem__(self, i):
        v = _list_get(self, i)
        cls = v.__class__
        if cls is int:
            return self._resolve(i, v)
        if cls is list:                 # a slice
            if any(e.__class__ is int for e in v):
                return [self[k] for k in range(*i.indices(len(self)))]
        return v

    def __contains__(self, x) -> bool:
        return any(x is e or x == e for e in self)

    def index(self, x, *args) -> int:
        return list(self).index(x, *args)

    def count(self, x) -> int:
        return list(self).count(x)

    def pop(self, i=-1):
        v = self[i]
        TableElements.pop(self, i)
        return v

    def remove(self, x) -> None:
        del self[self.index(x)]


class TableInstance:
    """A table: ``elements`` is a :class:`TableElements` list of references (None for null,
    else a FuncInstance or an extern object), or a plain list in a store of the interp tier
    (:meth:`unwatch`).  Once adopted by a store the list object is never replaced, only
    mutated, so the tiers may keep it."""

    __slots__ = ("type", "elements", "max", "__weakref__")

    def __init__(self, type: TableType, init=None):
        limits = type.limits
        self.type = type
        self.max = MAX_TABLE_ELEMENTS if limits.max is None else min(limits.max, MAX_TABLE_ELEMENTS)
        if limits.min > self.max:
            raise WasmError(f"table size {limits.min} exceeds the limit of {self.max} elements")
        self.elements = TableElements([init] * limits.min)

    def unwatch(self) -> None:
        """Make ``elements`` a plain list, for a store whose tier keeps no view of its tables
        (CPython reads a plain list faster: a subclass misses its specialised subscript).
        Only while no code holds the list yet: when the store adopts the table."""
        if type(self.elements) is not list:
            self.elements = list(self.elements)

    def snapshot(self) -> "TableSnapshot":
        """Its elements and size now, to be put back later (:class:`TableSnapshot`)."""
        return TableSnapshot(self)

    def current_type(self) -> TableType:
        """The type as import matching sees it: growth raises the minimum (spec 4.5.3.7)."""
        return TableType(self.type.element, Limits(len(self.elements), self.type.limits.max),
                         is_64=self.type.is_64)

    def grow_cost(self, delta: int) -> int:
        """The elements ``grow(delta)`` would add: ``delta``, or 0 when it would fail (the
        fuel table.grow charges beyond the instruction, runtime/metering.py)."""
        return delta if 0 <= delta and len(self.elements) + delta <= self.max else 0

    def grow(self, delta: int, init=None) -> int:
        """Grow by ``delta`` elements set to ``init``; return the old size, or -1 on failure."""
        old = len(self.elements)
        if delta < 0 or old + delta > self.max:
            return -1
        self.elements.extend([init] * delta)
        return old


class TableSnapshot:
    """A table's elements and size at a moment (:meth:`TableInstance.snapshot`), and
    :meth:`reset`, which puts them back.  A table the tier watches (``TableElements``) is
    watched by the snapshot too, so an unwritten table costs nothing to put back; a plain
    list (the interp tier's) is compared with the copy."""

    __slots__ = ("table", "elements", "saved", "dirty", "__weakref__")

    def __init__(self, table: TableInstance) -> None:
        self.table = table
        els = self.elements = table.elements
        watched = isinstance(els, TableElements)
        self.saved = els.raw() if watched else list(els)
        self.dirty = False
        if watched:
            els.watch(self)

    # the watcher's interface (TableElements): any write makes the table dirty
    def table_set(self, i: int, value) -> None:
        self.dirty = True

    def table_written(self, lo: int, values) -> None:
        self.dirty = True

    def table_grown(self, old: int, values) -> None:
        self.dirty = True

    def table_reset(self) -> None:
        self.dirty = True

    def reset(self) -> None:
        els = self.elements
        if isinstance(els, TableElements):
            if not self.dirty and len(els) == len(self.saved):
                return
            # (the watchers, the tier's views included, are told; placeholders stay such)
            els[:] = self.saved
            self.dirty = False
        elif els != self.saved:
            els[:] = self.saved
