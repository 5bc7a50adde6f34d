"""The Store: owner of all runtime state (spec 4.2.3).

Every function, table, memory, global and module instance belongs to exactly one Store; the
API refuses to mix objects of different stores, and a closed store refuses all use.
"""

from __future__ import annotations

from typing import Any, Optional

from ..errors import WasmError


class Store:
    """All mutable WebAssembly state: instances and the functions, tables, memories and
    globals they own or that the host created.  ``data`` is free for the embedder's use
    (as in wasmtime-py).  Usable as a context manager: leaving the block closes it."""

    def __init__(self, engine=None, data: Any = None):
        from .engine import Engine
        if engine is None:
            engine = Engine()
        elif not isinstance(engine, Engine):
            raise TypeError(f"expected an Engine, got {type(engine).__name__}")
        self.engine = engine
        self.data = data
        self._closed = False
        self._instances: list = []
        self._externs: list = []        # host-created functions, tables, memories, globals

    def _own(self, obj):
        """Record a host-created runtime object as owned by this store; return it."""
        self._externs.append(obj)
        return obj

    def set_wasi(self, wasi) -> None:
        """Give this store a WASI preview1 context (from a ``WasiConfig``), used by the
        functions ``Linker.define_wasi()`` defines (wasmtime-py's shape)."""
        from ..wasi import set_wasi
        set_wasi(self, wasi)

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

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Store {'closed' if self._closed else 'open'}, {len(self._instances)} instances>"


def _release(obj) -> None:
    data = getattr(obj, "data", None)
    if data is not None and hasattr(data, "close"):
        try:
            data.close()
        except BufferError:
            # A memoryview handed out by the API still points into the mapping; the mapping is
            # unmapped when that view is released.
            pass


def resolve_store(storelike, what: str = "store") -> Store:
    """The Store behind a Store or a Caller, checked to be open."""
    if isinstance(storelike, Store):
        store = storelike
    else:
        if not hasattr(storelike, "_caller_store"):
            raise TypeError(f"expected a Store or Caller as {what}, got {type(storelike).__name__}")
        store = storelike._caller_store
        if store is None:
            raise WasmError("the Caller is no longer valid: its host call has returned")
    if store._closed:
        raise WasmError("the store is closed")
    return store


def check_owner(obj_store: Optional[Store], storelike, kind: str) -> Store:
    """Resolve ``storelike`` and check that it owns an object of ``kind``."""
    store = resolve_store(storelike)
    if obj_store is not store:
        raise WasmError(f"{kind} belongs to a different store than the one passed")
    return store
