"""wasmtime-py's ``Store``: the runtime's store (runtime/store.py) with the public
constructor, WASI, and the helpers that accept a Store or a Caller wherever a store is asked."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional, Union

from ..errors import ClosedError, NotSupportedError, WasmError
from ..runtime import store as _runtime
from .engine import Engine

# wasi.set_wasi once Store.set_wasi has loaded it (an import statement run per call costs a
# store more than a microsecond).
_set_wasi: Any = None

if TYPE_CHECKING:
    from ..wasi.config import WasiConfig
    from .handles import Caller


class Store(_runtime.Store):
    """All mutable WebAssembly state: instances and the functions, tables, memories and
    globals they own or that the host created.  ``data`` is the embedder's, returned by
    :meth:`data` (as in wasmtime-py).  Usable as a context manager: leaving the block closes it."""

    def __init__(self, engine: Optional[Engine] = None, data: Any = None) -> None:
        if engine is None:
            engine = Engine()
        elif not isinstance(engine, Engine):
            raise TypeError(f"expected an Engine, got {type(engine).__name__}")
        super().__init__(engine, data)

    def set_wasi(self, wasi: WasiConfig) -> None:
        """Give this store a WASI preview1 context (from a ``WasiConfig``), used by the
        functions ``Linker.define_wasi()`` defines (wasmtime-py's shape)."""
        global _set_wasi
        if _set_wasi is None:
            # Imported on first use for start-up speed: `import wasmforge` does not load WASI.
            from ..wasi import set_wasi
            _set_wasi = set_wasi
        _set_wasi(self, wasi)

    def set_wasi_http(self) -> None:
        """wasmtime-py's WASI HTTP: not supported yet (it belongs to the component model)."""
        raise NotSupportedError("Store.set_wasi_http() is not supported yet: WASI HTTP needs the "
                                "component model, a later issue")

    def gc(self) -> None:
        """wasmtime-py's garbage collection: runs the collector of the store's GC heap (the
        llvm tier's, GC proposal: llvm/gcheap.py), which frees the objects and the host
        values stored in their fields that nothing reaches any more.  An ``externref`` held
        elsewhere is the host's Python object, freed by Python's own reference counting; the
        interp tier's GC objects are Python objects too."""
        if self._closed:
            raise ClosedError("the store is closed")
        for collect in list(self._collectors):
            collect()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


#: What every ``store`` parameter accepts (wasmtime-py's ``Storelike``).
Storelike = Union[_runtime.Store, "Caller"]


def resolve_store(storelike: Storelike, what: str = "store") -> _runtime.Store:
    """The store behind a Store or a Caller, checked to be open."""
    store: _runtime.Store
    if isinstance(storelike, _runtime.Store):
        store = storelike
    else:
        if not hasattr(storelike, "_caller_store"):
            raise TypeError(f"expected a Store or Caller as {what}, got {type(storelike).__name__}")
        caller_store: Optional[_runtime.Store] = storelike._caller_store
        if caller_store is None:
            raise WasmError("the Caller is no longer valid: its host call has returned")
        store = caller_store
    if store._closed:
        raise ClosedError("the store is closed")
    return store


def check_owner(obj_store: Optional[_runtime.Store], storelike: Storelike, kind: str) -> _runtime.Store:
    """Resolve ``storelike`` and check that it owns an object of ``kind``."""
    store = resolve_store(storelike)
    if obj_store is not store:
        raise WasmError(f"{kind} belongs to a different store than the one passed")
    return store
