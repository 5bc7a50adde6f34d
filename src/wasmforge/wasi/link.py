"""Wiring WASI preview1 into a :class:`~wasmforge.Linker`.

Two ways, mirroring wasmtime-py:

* ``define_wasi(linker, store, ctx)`` binds the functions to one :class:`WasiCtx`;
* ``set_wasi(store, config)`` gives a store its own context, and
  ``define_wasi(linker, None, None)`` defines functions that use the context of whichever
  store they are instantiated in (wasmtime-py's ``store.set_wasi()`` / ``linker.define_wasi()``).

Each preview1 function receives the memory the calling instance exports as ``"memory"``
(the WASI ABI's convention).  A module that exports no memory still links: its pointers all
fall outside an empty memory, so any call that passes one fails with ``EFAULT``.
"""

from __future__ import annotations

import weakref
from typing import Union

from ..errors import WasmError
from ..numerics.bits import MASK32, MASK64
from ..runtime.func import HostFunc
from . import abi
from .config import WasiConfig
from .ctx import WasiCtx

# A store's WasiCtx (set_wasi) is kept in the store (its __dict__, under this key), so it goes
# with the store; a store-like object without a __dict__ has it in a table weak on it.  (The
# weak table made a weak reference per store and per lookup: a store per request.)
_KEY = "_wasi_ctx"
_STORE_CTX: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def set_wasi(store, wasi: Union[WasiConfig, WasiCtx]) -> WasiCtx:
    """Give ``store`` a WASI context (built from a WasiConfig, or given); return it.

    Replacing a store's context closes the previous one."""
    ctx = wasi if isinstance(wasi, WasiCtx) else WasiCtx(wasi)
    old = wasi_ctx(store)
    if old is not None and old is not ctx:
        old.close()
    d = getattr(store, "__dict__", None)
    if d is not None:
        d[_KEY] = ctx
    else:
        _STORE_CTX[store] = ctx
    return ctx


def wasi_ctx(store) -> "WasiCtx | None":
    """The context :func:`set_wasi` gave ``store``, or None."""
    d = getattr(store, "__dict__", None)
    return d.get(_KEY) if d is not None else _STORE_CTX.get(store)


class _NoMemory:
    """Stands in for the memory of an instance that exports none."""

    data = b""
    size = 0


_NO_MEMORY = _NoMemory()


def _exported_memory(inst):
    mem = inst.exports.get("memory") if inst is not None else None
    return mem if mem is not None and hasattr(mem, "size") and hasattr(mem, "data") else _NO_MEMORY


def _ctx_for(fixed, store) -> WasiCtx:
    ctx = fixed if fixed is not None else wasi_ctx(store)
    if ctx is None:
        raise WasmError("this store has no WASI context: call set_wasi(store, WasiConfig()) first")
    return ctx


class WasiHostFunc(HostFunc):
    """One preview1 function as a runtime host function calling ``fn(mem, *internal_args)``
    with the importing instance's memory, bound per importing instance; ``ctx`` None means
    the context of the store it is instantiated in."""

    __slots__ = ("name", "ctx")

    def __init__(self, ty, name, ctx):
        # access_caller=True is what makes the runtime bind per importing instance
        # (HostFunc.instance_binding).
        super().__init__(ty, None, True)
        self.name = name
        self.ctx = ctx

    def bind(self, store, inst=None):
        name, fixed = self.name, self.ctx
        fn = mem = None

        def call(*args):
            nonlocal fn, mem
            if fn is None:
                # Exports exist only once instantiation has allocated them; an instance's
                # exported memory never changes afterwards.
                fn = _ctx_for(fixed, store).functions[name]
                mem = _exported_memory(inst)
            return fn(mem, *args)

        return call


def _api_adapter(ty, fn):
    """``fn(mem, *internal)`` as a public-API host function ``f(caller, *api_args)``."""
    masks = tuple(MASK32 if t == "i32" else MASK64 for t in ty.params)

    class _Mem:
        __slots__ = ("data", "size")

    def call(caller, *args):
        mem = _NO_MEMORY
        exported = caller.get("memory")
        if exported is not None:
            mem = _Mem()
            mem.data = exported.buffer(caller)
            mem.size = exported.data_len(caller)
        return fn(mem, *[a & m for a, m in zip(args, masks)])

    return call


# define_wasi's definitions without a context, made on first use (see there).
_unbound = None


def define_wasi(linker, store=None, ctx: "WasiCtx | None" = None) -> None:
    """Define every ``wasi_snapshot_preview1`` function in ``linker``.

    With ``ctx``, the functions act on that context.  Without it they act on the context
    :func:`set_wasi` gave the store each instance lives in (found at the first call).  Uses
    the runtime's host-function protocol (no argument conversion, no Caller object per call)
    with wasmforge's Linker, else the public ``define_func`` with a Caller; that fallback
    needs ``ctx`` or a ``store`` that has a context."""
    add = getattr(linker, "_add", None)
    if add is not None:
        if ctx is None:
            # Bound to no context, the definitions are the same for every linker: made once
            # (a server defining WASI per request makes no 46 objects each time).
            global _unbound
            if _unbound is None:
                _unbound = [(name, WasiHostFunc(ty, name, None))
                            for name, ty in abi.SIGNATURES.items()]
            for name, func in _unbound:
                add(abi.MODULE_NAME, name, func)
            return
        for name, ty in abi.SIGNATURES.items():
            add(abi.MODULE_NAME, name, WasiHostFunc(ty, name, ctx))
        return
    functions = _ctx_for(ctx, store).functions
    for name, ty in abi.SIGNATURES.items():
        linker.define_func(abi.MODULE_NAME, name, ty, _api_adapter(ty, functions[name]), access_caller=True)
