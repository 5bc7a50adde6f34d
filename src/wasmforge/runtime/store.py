"""The store: owner of all runtime state (spec 4.2.3).

Every function, table, memory, global and module instance belongs to exactly one store; the
API refuses to mix objects of different stores, and a closed store refuses all use.  The
public ``wasmforge.Store`` (api/store.py) is this class with wasmtime-py's constructor and
WASI; the cells the tiers share are listed in runtime/tier.py.
"""

from __future__ import annotations

import types as _pytypes
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Sequence, TypeVar

from ..errors import ClosedError, Handle, InstantiationError, WasmError
from ..types import PAGE_SIZE
from .memory import Unrecyclable
from .table import MAX_TABLE_ELEMENTS
from .tier import StoreCells

if TYPE_CHECKING:
    from ..types import MemoryType, TableType
    from .instance import ModuleInstance
    from .memory import MemoryInstance
    from .table import TableInstance

_T = TypeVar("_T")

_new_tuple = tuple.__new__

#: The most fuel a store holds (wasmtime's: a u64).
MAX_FUEL = (1 << 64) - 1


def is_fuel(value: object) -> bool:
    """Whether ``value`` is an amount of fuel a store takes: an integer (not a bool) from 0 to
    :data:`MAX_FUEL`."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_FUEL

#: wasmtime's default for the count limits of ``set_limits``.
DEFAULT_COUNT_LIMIT = 10_000


class Store(Handle):
    """All mutable WebAssembly state: instances and the functions, tables, memories and
    globals they own or that the host created.  ``engine`` gives the settings the store
    obeys (``consume_fuel``, ``epoch_interruption``, ``max_wasm_stack``, ``strategy``, the
    epoch counter); ``data`` is the embedder's, returned by :meth:`data` (as in
    wasmtime-py)."""

    #: the sandbox this store is part of (component/_recycle.py ``Sandbox``: put back to new
    #: and used again), or None
    _sandbox: Any = None

    def __init__(self, engine: Any, data: Any = None) -> None:
        self.engine = engine
        self._user_data = data
        self._closed = False
        # The thread running guest code in this store, while an asyncio call or a component
        # call runs (api/aio.py): calls from any other thread are refused (StoreBusyError).
        self._guest_thread: Optional[int] = None
        self._instances: List[ModuleInstance] = []
        self._externs: List[Any] = []   # host-created functions, tables, memories, globals
        # The functions of linkers' host definitions made for this store (api/linker.py):
        # id(definition) -> (definition, its FuncInstance here).
        self._host_funcs: Dict[int, Any] = {}
        # Shared by the code of every instance in this store (the interp tier binds them as
        # closure cells): the wasm stack in use, the fuel left, and whether the epoch
        # deadline is reached (raised by Engine.increment_epoch, so that the check in wasm
        # code is one test of a flag).  As in wasmtime the deadline starts at the current
        # epoch: reached.
        self._depth = _pytypes.CellType(0)
        self._fuel = _pytypes.CellType(0)
        self._interrupt = _pytypes.CellType(True)
        self._deadline = _pytypes.CellType(engine.epoch)   # the epoch that interrupts this store
        # What the tiers may read and write (runtime/tier.py), with the engine's epoch counter
        # and stack budget.
        # (tuple.__new__: the NamedTuple's own __new__ is a Python function, a store per request)
        self._cells = _new_tuple(StoreCells, (self._depth, self._fuel, self._interrupt, self._deadline,
                                              engine.epoch_counter, engine.max_wasm_stack, {}))
        if engine.epoch_interruption:
            engine._watch(self)
        self._memory_size: Optional[int] = None
        self._table_elements: Optional[int] = None
        # What Store.gc() runs: the collectors of the tiers' heaps of this store (GC proposal).
        self._collectors: List[Callable[[], None]] = []
        self._max_instances = self._max_tables = self._max_memories = DEFAULT_COUNT_LIMIT
        self._ntables = 0
        self._nmemories = 0

    def _own(self, obj: _T) -> _T:
        """Record a host-created runtime object as owned by this store; return it."""
        self._externs.append(obj)
        return obj

    # ----- fuel and epochs (docs/security.md) -----

    def set_fuel(self, fuel: int) -> None:
        """Set the fuel left for wasm code in this store (``Config.consume_fuel`` must be on):
        0 to 2^64 - 1, as in wasmtime.  Running out traps with ``TrapCode.OUT_OF_FUEL``."""
        self._need(self.engine.consume_fuel, "fuel is not enabled: set Config.consume_fuel")
        if not is_fuel(fuel):
            raise ValueError(f"fuel must be an integer from 0 to 2**64 - 1, got {fuel!r}")
        self._fuel.cell_contents = fuel

    def get_fuel(self) -> int:
        """The fuel left (0 after running out)."""
        self._need(self.engine.consume_fuel, "fuel is not enabled: set Config.consume_fuel")
        fuel: int = self._fuel.cell_contents
        return max(0, fuel)

    def set_epoch_deadline(self, ticks_after_current: int) -> None:
        """Interrupt wasm code in this store once the engine's epoch has advanced
        ``ticks_after_current`` ticks past its current value (``Config.epoch_interruption``
        must be on).  Until it is called the deadline is the current epoch, as in wasmtime:
        wasm code traps at its first check."""
        self._need(self.engine.epoch_interruption,
                   "epoch interruption is not enabled: set Config.epoch_interruption")
        if not isinstance(ticks_after_current, int) or ticks_after_current < 0:
            raise ValueError(f"expected a non-negative number of ticks, got {ticks_after_current!r}")
        self.engine._set_deadline(self, ticks_after_current)

    def _need(self, enabled: bool, message: str) -> None:
        if self._closed:
            raise ClosedError("the store is closed")
        if not enabled:
            raise WasmError(message)

    # ----- resource limits -----

    def set_limits(self, memory_size: Optional[int] = None, table_elements: Optional[int] = None,
                   instances: Optional[int] = None, tables: Optional[int] = None,
                   memories: Optional[int] = None) -> None:
        """Limit the resources of this store (wasmtime-py's ``Store.set_limits``): the bytes
        of any one linear memory, the elements of any one table, and the number of instances,
        tables and memories the store may hold.  ``None`` keeps a limit as it is.

        Growing a memory or table beyond its limit fails (``memory.grow``/``table.grow``
        return -1; the API raises), and so does instantiating a module whose memories or
        tables start above the limits or that would exceed a count (InstantiationError).
        Memories and tables already in the store obey new size limits from their next growth.
        As in wasmtime-py, -1 restores a limit's default (no size limit; 10000 of each kind)."""
        for name, value in (("memory_size", memory_size), ("table_elements", table_elements),
                            ("instances", instances), ("tables", tables), ("memories", memories)):
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < -1):
                raise ValueError(f"{name} must be a non-negative integer (or -1), got {value!r}")
        if memory_size is not None:
            self._memory_size = None if memory_size == -1 else memory_size
        if table_elements is not None:
            self._table_elements = None if table_elements == -1 else table_elements
        if instances is not None:
            self._max_instances = DEFAULT_COUNT_LIMIT if instances == -1 else instances
        if tables is not None:
            self._max_tables = DEFAULT_COUNT_LIMIT if tables == -1 else tables
        if memories is not None:
            self._max_memories = DEFAULT_COUNT_LIMIT if memories == -1 else memories
        for inst in self._instances:
            for mem in inst.mems:
                self._limit_memory(mem)
            for table in inst.tables:
                self._limit_table(table)
        for obj in self._externs:
            if hasattr(obj, "max_pages"):
                self._limit_memory(obj)
            elif hasattr(obj, "elements"):
                self._limit_table(obj)

    def _limit_memory(self, mem: MemoryInstance) -> None:
        """Set ``mem``'s growth limit from the store's ``memory_size`` (never above what its
        mapping reserved: the type's maximum, or a lower store limit in force when it was made)."""
        limit = mem.reserved_pages
        if self._memory_size is not None:
            limit = min(limit, self._memory_size // PAGE_SIZE)
        mem.max_pages = limit

    def memory_reservation(self) -> Optional[int]:
        """The most pages a memory made in this store now may ever grow to (None: no limit)."""
        return None if self._memory_size is None else self._memory_size // PAGE_SIZE

    def _limit_table(self, table: TableInstance) -> None:
        declared = table.type.limits.max
        limit = MAX_TABLE_ELEMENTS if declared is None else min(declared, MAX_TABLE_ELEMENTS)
        if self._table_elements is not None:
            limit = min(limit, self._table_elements)
        table.max = limit

    def _admit(self, ninstances: int, mem_types: Sequence[MemoryType],
               table_types: Sequence[TableType]) -> None:
        """Raise InstantiationError unless the store can take ``ninstances`` more instances
        and memories and tables of these types."""
        if len(self._instances) + ninstances > self._max_instances:
            raise InstantiationError(f"resource limit exceeded: the store already holds "
                                     f"{len(self._instances)} instances (limit {self._max_instances})")
        if self._nmemories + len(mem_types) > self._max_memories:
            raise InstantiationError(f"resource limit exceeded: the store already holds "
                                     f"{self._nmemories} memories (limit {self._max_memories})")
        if self._ntables + len(table_types) > self._max_tables:
            raise InstantiationError(f"resource limit exceeded: the store already holds "
                                     f"{self._ntables} tables (limit {self._max_tables})")
        if self._memory_size is not None:
            for t in mem_types:
                if t.limits.min * PAGE_SIZE > self._memory_size:
                    raise InstantiationError(
                        f"resource limit exceeded: memory minimum size of {t.limits.min} pages "
                        f"exceeds the store's memory limit of {self._memory_size} bytes")
        if self._table_elements is not None:
            for tt in table_types:
                if tt.limits.min > self._table_elements:
                    raise InstantiationError(
                        f"resource limit exceeded: table minimum size of {tt.limits.min} elements "
                        f"exceeds the store's table limit of {self._table_elements} elements")

    def _adopt(self, mems: Sequence[MemoryInstance] = (), tables: Sequence[TableInstance] = ()) -> None:
        """Count and limit memories and tables newly allocated in this store."""
        if mems:
            self._nmemories += len(mems)
            limit = self._memory_size
            for mem in mems:
                # (Store._limit_memory, inline: a memory per instance)
                mem.max_pages = (mem.reserved_pages if limit is None
                                 else min(mem.reserved_pages, limit // PAGE_SIZE))
        if not tables:
            return
        self._ntables += len(tables)
        for table in tables:
            self._limit_table(table)
            if not getattr(self.engine.tier, "NATIVE_TABLE_VIEWS", False):
                # No native views of tables to keep right (runtime/table.py TableElements,
                # runtime/tier.py).
                table.unwatch()

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Release everything the store owns; any later use of it or its objects is an error."""
        self._closed = True
        for obj in self._externs:
            _release(obj)
        for inst in self._instances:
            for mem in inst.mems:
                _release(mem)
        self._instances = []
        self._externs = []

    def snapshot(self, like: "Optional[List[List[Any]]]" = None) -> "StoreSnapshot":
        """The state of every instance in the store now, to be put back later
        (:class:`StoreSnapshot`; ``like``: :attr:`StoreSnapshot.images` of a store where the
        same instances were made the same way, shared where the contents are the same).
        runtime/memory.py ``Unrecyclable`` if some state cannot be put back."""
        return StoreSnapshot(self, like)

    def data(self) -> Any:
        """The ``data`` given to the constructor (wasmtime-py's ``Store.data()``)."""
        return self._user_data

    def __repr__(self) -> str:
        return f"<Store {'closed' if self._closed else 'open'}, {len(self._instances)} instances>"


class StoreSnapshot:
    """The state of a store's instances at a moment (:meth:`Store.snapshot`): each instance's
    (runtime/instance.py ``InstanceSnapshot``: globals, tables, memories, dropped segments).
    :meth:`reset` puts them back where the store is as a call that ended cleanly leaves it;
    the fuel, the epoch deadline and the limits are the owner's to set again (as for a new
    store).  Taken only where nothing else holds state: no host-created objects in the store,
    no GC heap; the instances refuse what they cannot put back."""

    __slots__ = ("store", "instances", "count")

    def __init__(self, store: Store, like: "Optional[List[List[Any]]]" = None) -> None:
        if store._closed:
            raise ClosedError("the store is closed")
        if store._externs:
            raise Unrecyclable("the store holds host-created tables, memories, globals or functions")
        if store._collectors:
            raise Unrecyclable("the store has a GC heap")
        if store._depth.cell_contents:
            raise Unrecyclable("wasm code of the store is running")
        seen: Dict[int, Any] = {}
        likes = like if like is not None and len(like) == len(store._instances) else None
        self.store = store
        self.instances = [inst.snapshot(seen, likes[k] if likes is not None else None)
                          for k, inst in enumerate(store._instances)]
        self.count = len(store._instances)

    @property
    def images(self) -> List[List[Any]]:
        """The memory images of the snapshot, per instance (what ``like`` takes: another
        store's snapshot shares them, without keeping this store)."""
        return [[m.image for m in snap.mems] for snap in self.instances]

    def reset(self) -> Optional[str]:
        """Put the store's instances back to the snapshot; None, or why it could not be (the
        store is closed, runs code, or holds other instances: then it is left as it is)."""
        store = self.store
        if store._closed:
            return "the store is closed"
        if store._depth.cell_contents or store._guest_thread is not None:
            return "wasm code of the store is running"
        if len(store._instances) != self.count or store._externs or store._collectors:
            return "the store holds objects the snapshot does not know"
        for snap in self.instances:
            snap.reset()
        return None


def _release(obj: object) -> None:
    data = getattr(obj, "data", None)
    if data is not None and hasattr(data, "close"):
        try:
            data.close()
        except BufferError:
            # A memoryview handed out by the API still points into the mapping; the mapping is
            # unmapped when that view is released.
            pass

