"""The contract between the runtime and an execution tier.

A tier is a module, registered under its strategy name in ``wasmforge.api.engine.TIERS``
(the pure-Python ``interp`` tier and the native ``llvm`` one).  The runtime names no tier
and no tier imports another; what they share is in ``runtime/`` (``support.py``:
traps and bulk operations, ``metering.py``: the metering points and frame costs).

What a tier module provides (:class:`Tier`):

``compile_module(module, *, fuel=False, epoch=False[, opt_level=None])``
    Translate a validated :class:`wasmforge.module.Module` into a :class:`CompiledModule`
    (validation hands a tier nothing: a cached module is not validated again).
    ``fuel``/``epoch`` ask for fuel metering and epoch checks at the points of
    ``runtime/metering.py``; a tier that cannot meter must not accept the keyword (the
    engine then refuses, rather than run unmetered code).  ``opt_level`` is optional.

``NATIVE_TABLE_VIEWS`` (default False)
    True when its code keeps native views of tables, updated on every write
    (``runtime/table.py`` ``TableElements``); else the store makes tables plain lists.

``snapshot_refusal(inst) -> str | None`` (optional)
    Why the tier's own state of a runtime instance cannot be snapshotted and put back
    (``runtime/instance.py`` ``InstanceSnapshot``, a sandbox recycled), or None.  A tier
    without it keeps no state of an instance beyond the runtime objects.

Optionally, a tier whose code is machine code that outlives the process provides:

``artifact_header(opt_level) -> dict``
    What its code depends on (compiler, CPU, ...): written into ahead-of-time artifacts
    and compared, key by key, when one is loaded (``api/aot.py``).
``from_artifact(module, object_code, entry_of, fuel, epoch, opt_level, key=None) -> CompiledModule``
    The compiled module of an artifact's :class:`ArtifactCode` fields, without compiling;
    ``key``, the artifact's checksum: equal keys mean equal code (what loading it needs may
    be kept under it).
``link_object(object_code) -> bytes`` (optional)
    The form an artifact stores the code in (the llvm tier: an image linked ahead of time);
    ``from_artifact`` takes it as well as ``object_code``.
``cached_module(wasm, engine) -> (key, decoded, compiled)`` and ``compile_cached(module,
key, engine) -> CompiledModule``
    The per-machine module cache: a hit gives the decoded module and its code without
    validating or compiling; a miss gives the key that ``compile_cached`` fills.

A tier without them runs artifacts from their module alone (compiled again on load).

Optionally, a compiled module binds functions one at a time:

``instantiate_lazily(inst) -> bind``
    Bind the code to ``inst`` as ``instantiate`` does but make no callable: ``bind(fi)``
    gives defined function ``fi``'s callable when it is first used.  The runtime then makes
    the instance's functions of per-function classes (``runtime/func.py``
    ``LazyFuncInstance``) from the module's second instantiation on.

Optionally, a tier shows a sampling profiler (``wasmforge.profile``) its running code:

``stack_sampler(store, thread_id) -> sample``
    ``sample()``, called from the profiler's thread about once a millisecond, returns the
    wasm frames ``store`` is running on thread ``thread_id``, outermost first, as ``(the
    module's binary/offsets.py CodeOffsets, function index)``.  Nothing may be added to the
    code for it: it reads what the tier keeps anyway.

What the runtime gives a tier: the :class:`~wasmforge.runtime.instance.ModuleInstance`
(``funcs``, ``tables``, ``mems``, ``globals``, ``elems``, ``datas``, ``store``) and, through
:func:`store_cells`, the cells shared by the code of every instance of a store — the only
store state a tier may touch (:class:`StoreCells`).
"""

from __future__ import annotations

import ctypes
import types
from typing import Any, Callable, List, NamedTuple, Optional, Protocol, runtime_checkable


@runtime_checkable
class CompiledModule(Protocol):
    """A module translated by a tier: immutable, shared by all instances of the module."""

    #: The wasmforge.module.Module it was compiled from.
    module: Any
    #: Whether its code charges the store's fuel / checks the store's epoch deadline.
    fuel: bool
    epoch: bool

    def instantiate(self, inst) -> List[Callable]:
        """One callable per function the module defines (``module.funcs`` order), with the
        runtime's calling convention (``FuncInstance.call``: internal values in, ``None``,
        one value or a tuple out), bound to instance ``inst``."""
        ...


@runtime_checkable
class ArtifactCode(CompiledModule, Protocol):
    """A compiled module of a tier with machine code: what an artifact stores of it."""

    #: The machine code of the whole module as an object file.
    object_code: bytes
    #: Per defined function, the index of its entry trampoline in the object.
    entry_of: list


class Tier(Protocol):
    """What a tier module provides (see the module docstring for the optional parts)."""

    def compile_module(self, module, *, fuel: bool = False,
                       epoch: bool = False) -> CompiledModule: ...


class StoreCells(NamedTuple):
    """The store state a tier reads and writes.  The cells are ``types.CellType`` so that
    the interp tier binds them as closure cells of its generated code; the llvm tier copies
    depth and fuel into its vmctx at entries and back at exits and callbacks."""

    #: Bytes of wasm stack in use (read and written: each frame adds its frame_bytes).
    depth: types.CellType
    #: Fuel left (read and written; below zero means run out: trap OUT_OF_FUEL).
    fuel: types.CellType
    #: True once the epoch deadline is reached (read; raised by the engine's ticks).
    interrupt: types.CellType
    #: The epoch at which the store is interrupted (read).
    deadline: types.CellType
    #: The engine's epoch counter, one u64 in native memory (read; another thread advances
    #: it while code runs).
    epoch: Any
    #: The wasm stack budget in bytes (``Config.max_wasm_stack``; None without a store:
    #: the tier budgets the instance's ``max_call_depth`` frames).
    max_wasm_stack: Optional[int]
    #: What a tier keeps per store, under its strategy name (read and written; it dies with
    #: the store).
    tiers: dict


def store_cells(store) -> StoreCells:
    """The cells of ``store`` (a runtime Store); fresh private ones for an instance that
    belongs to no store (``store`` None), as the spec harness's host instances."""
    if store is None:
        return StoreCells(types.CellType(0), types.CellType(0), types.CellType(False),
                          types.CellType(0), (ctypes.c_uint64 * 1)(), None, {})
    return store._cells
