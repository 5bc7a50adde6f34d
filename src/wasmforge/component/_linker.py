"""wasmtime-py's ``component.Linker`` and ``LinkerInstance``: the host's definitions (functions,
instances, resources, core modules) by name, given to a component's imports on instantiation.

The definitions are a tree of dictionaries; ``instantiate`` turns it into the runtime's values
(:mod:`wasmforge.cm.instance`), which checks each import's type and names the one at fault.
As in wasmtime-py, a ``LinkerInstance`` locks its parent until it is closed (``with``).
"""

from __future__ import annotations

from functools import partial
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

from ..api.aio import blocking, is_async
from ..api.engine import Engine
from ..api.handles import Module
from ..api.store import Store
from ..cm import types as cm
from ..cm import valid as cm_valid
from ..cm.instance import ComponentInstance, HostFunction, instantiate_component, link
from ..errors import Handle, LinkError, Trap, WasmError
from ..wasip2 import host_instances, p2_ctx, unversioned
from ..wasip2.host import linked_instance
from ._component import Component
from ._func import from_abi, to_abi
from ._instance import Instance
from ._resource_type import ResourceType

ResourceDtor = Callable[[Any, int], None]
UserFunc = Callable[..., Optional[Any]]
_Defs = Dict[str, Any]


def _host_function(func: UserFunc, store: Any) -> HostFunction:
    """``func`` as the runtime's host function: called as wasmtime-py calls it, ``func(store,
    *args)``, with resource handles as ResourceAny and back."""
    def call(*args: Any) -> Any:
        return to_abi(func(store, *[from_abi(a) for a in args]), store)
    return HostFunction(None, call)
    # (the import's type is known only when linked, so values are always walked here: a
    # walk over values without handles returns each as it is)


def _trap_function(name: str) -> HostFunction:
    def call(*args: Any) -> Any:
        raise Trap(f"unknown import: `{name}` has not been defined")
    return HostFunction(None, call)


class _Func:
    __slots__ = ("func",)

    def __init__(self, func: UserFunc) -> None:
        self.func = func


class _Resource:
    __slots__ = ("type", "dtor")

    def __init__(self, type: cm.ResourceType, dtor: Optional[ResourceDtor]) -> None:
        self.type, self.dtor = type, dtor


def _runtime_values(defs: _Defs, store: Any) -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    for name, d in defs.items():
        if isinstance(d, _Func):
            out[name] = _host_function(d.func, store)
        elif isinstance(d, dict):
            out[name] = ComponentInstance(_runtime_values(d, store))
        elif isinstance(d, _Resource):
            dtor = d.dtor
            if dtor is not None and store is not None:      # (None: values only to type-check)
                d.type.dtor = (lambda rep, dtor=dtor: dtor(store, rep))
            out[name] = d.type
        else:
            out[name] = d
    return out


class _Definer(Handle):
    """What Linker and LinkerInstance share: the lock."""

    locked: bool

    def _assert_not_locked(self) -> None:
        if self.locked:
            raise WasmError("cannot use linker while it's in use by other instances")


class Linker(_Definer):
    """Definitions for a component's imports, for ``instantiate(store, component)``."""

    def __init__(self, engine: Engine) -> None:
        if not isinstance(engine, Engine):
            raise TypeError("expected an Engine")
        self.engine = engine
        self.locked = False
        self._defs: _Defs = {}
        self._shadowing = False
        self._wasip2 = False
        self._wasi_http = False

    @property
    def allow_shadowing(self) -> bool:
        return self._shadowing

    @allow_shadowing.setter
    def allow_shadowing(self, allow: bool) -> None:
        self._assert_not_locked()
        self._shadowing = bool(allow)

    def root(self) -> "LinkerInstance":
        """The top level, to define items in; locks this linker until closed (``with``)."""
        self._assert_not_locked()
        return LinkerInstance._make(self, self._defs)

    def add_wasip2(self) -> None:
        """Define WASI 0.2 (``wasi:cli``, ``wasi:io``, ``wasi:clocks``, ``wasi:random``, ...):
        every import named ``wasi:pkg/iface@0.2.x`` (any minor release) that this linker does
        not define otherwise is given the host's implementation, configured by the WasiConfig
        of the store it is instantiated in (``Store.set_wasi``)."""
        self._assert_not_locked()
        if self._wasip2 and not self._shadowing:
            raise WasmError("WASI preview 2 is already defined in this linker")
        self._wasip2 = True

    def add_wasi_http(self) -> None:
        """Define ``wasi:http`` 0.2 (``types``, and ``outgoing-handler``, which reaches only
        the destinations the store's WASI context allows: none unless the embedder grants
        some).  wasi:http is part of wasmforge's WASI 0.2 host, so :meth:`add_wasip2` defines
        it too; this defines it alone (calling both is allowed)."""
        self._assert_not_locked()
        self._wasi_http = True

    def _wasi_answers(self, name: str) -> bool:
        """Whether the WASI host is to answer the import ``name`` in this linker."""
        u = unversioned(name)
        if u is None:
            return False
        return self._wasip2 or (self._wasi_http and u.startswith("wasi:http/"))

    def _wasi_imports(self, component: Component, defs: _Defs) -> List[str]:
        """The imports of ``component`` that ``defs`` lacks and the WASI host answers."""
        return [n for n, _ in component._type.imports if n not in defs and self._wasi_answers(n)]

    def instantiate(self, store: Store, component: Component) -> Instance:
        """Instantiate ``component`` in ``store`` with this linker's definitions; LinkError
        naming the import that is missing or of the wrong type."""
        self._assert_not_locked()
        if not isinstance(component, Component):
            raise TypeError("expected a Component")
        return _instantiate(self.engine, store, component, self._defs, self._wasi_imports(component, self._defs))

    def instantiate_pre(self, component: Component) -> "InstancePre":
        """Resolve ``component``'s imports against this linker once (a LinkError names the
        first import neither this linker nor the WASI 0.2 host it enables provides): the result makes
        instances in new stores without looking again (wasmtime's ``InstancePre``; an extension
        of wasmtime-py's API).  Later changes to this linker do not affect it."""
        self._assert_not_locked()
        if not isinstance(component, Component):
            raise TypeError("expected a Component")
        defs = _snapshot(self._defs)
        wasi = self._wasi_imports(component, defs)
        # The imports are checked now, once, on the values a store would get (the WASI
        # host's are the same for every store): a LinkError names the one missing or of the
        # wrong type; a type import fixed by an equality bound needs no definition.
        values = _runtime_values(defs, None)
        if wasi:
            # The WASI host's instances are made per store, always of the same types: those
            # of a store made for the check stand for every store's.
            values.update(host_instances(Store(self.engine), wasi))
        m: cm_valid.ResMap = {}
        for name, expected in component._type.imports:
            link(expected, values.get(name), name, m)
        return InstancePre._of(self.engine, component, defs, wasi)

    def define_unknown_imports_as_traps(self, component: Component) -> None:
        """Define every function import of ``component`` (also inside imported instances) that
        this linker lacks as a function that traps when called (what the WASI 0.2 host it
        enables answers is not lacking)."""
        self._assert_not_locked()
        if not isinstance(component, Component):
            raise TypeError("expected a Component")

        def fill(defs: _Defs, exports: Any, prefix: str) -> None:
            for name, e in exports:
                if e.sort == "func" and name not in defs:
                    defs[name] = _trap_function(prefix + name)
                elif e.sort == "instance":
                    inner = defs.setdefault(name, {})
                    if isinstance(inner, dict):
                        fill(inner, e.type.exports, f"{prefix}{name}#")
        fill(self._defs, [(name, e) for name, e in component._type.imports
                          if name in self._defs or not self._wasi_answers(name)], "")


def _snapshot(defs: _Defs) -> _Defs:
    """A copy of the tree of definitions (its leaves shared)."""
    return {k: _snapshot(v) if isinstance(v, dict) else v for k, v in defs.items()}


class InstancePre(Handle):
    """A component whose imports a Linker resolved (:meth:`Linker.instantiate_pre`):
    :meth:`instantiate` makes a new instance in a store, as often as wanted (a fresh instance
    per request is what ``wasmforge.serve`` does)."""

    __slots__ = ("_engine", "_component", "_defs", "_wasi")
    _engine: Engine
    _component: Component
    _defs: _Defs
    #: the imports the WASI host answers, each with its interface (unversioned), found once
    _wasi: List[Tuple[str, str]]

    def __init__(self) -> None:
        raise WasmError("Cannot directly construct an `InstancePre`: use Linker.instantiate_pre")

    @classmethod
    def _of(cls, engine: Engine, component: Component, defs: _Defs, wasi: List[str]) -> "InstancePre":
        self = cls.__new__(cls)
        self._engine, self._component, self._defs = engine, component, defs
        self._wasi = []
        for n in wasi:
            u = unversioned(n)
            if u is not None:       # (always: the imports the WASI host answers)
                self._wasi.append((n, u))
        return self

    @property
    def component(self) -> Component:
        return self._component

    def instantiate(self, store: Store) -> Instance:
        """A new instance of the component in ``store``."""
        return _instantiate(self._engine, store, self._component, self._defs, [], pre_wasi=self._wasi)


def _instantiate(engine: Engine, store: Store, component: Component, defs: _Defs, wasi: List[str],
                 pre_wasi: Optional[List[Tuple[str, str]]] = None) -> Instance:
    """``component`` instantiated in ``store`` on the definitions ``defs`` and the WASI host's
    instances of the imports ``wasi``; ``pre_wasi``: an InstancePre's, which checked the
    imports' types (cm/instance.py ``link``), its WASI imports as (import name, interface)."""
    if not isinstance(store, Store):        # (not the TypeError of a weak reference to it)
        raise TypeError(f"expected a Store, got {type(store).__name__}")
    runtime = component._runtime()
    values = _runtime_values(defs, store)
    linkers = None
    if pre_wasi:
        # an InstancePre checked the WASI imports on typed host instances: a store's are made
        # straight from the imports' types (making their types from the WIT per store was
        # ~45% of instantiating a small wasi:http component), bound per interface when called
        ctx = p2_ctx(store)
        linkers = {n: partial(linked_instance, ctx, u) for n, u in pre_wasi}
    elif wasi:
        values.update(host_instances(store, wasi))
    return Instance._of(instantiate_component(store, runtime, values, engine, checked=pre_wasi is not None,
                                              linkers=linkers), store)


class LinkerInstance(_Definer):
    """A level of a Linker's definitions (its root or a nested instance)."""

    parent: Optional[Union[Linker, "LinkerInstance"]]
    _defs: _Defs
    _linker: Linker

    def __init__(self) -> None:
        raise WasmError("Cannot directly construct a `LinkerInstance`")

    @classmethod
    def _make(cls, parent: Union[Linker, "LinkerInstance"], defs: _Defs) -> "LinkerInstance":
        self = cls.__new__(cls)
        self.parent, self.locked, self._defs = parent, False, defs
        self._linker = parent if isinstance(parent, Linker) else parent._linker
        parent.locked = True
        return self

    def close(self) -> None:
        """Release the parent (``with`` does this)."""
        if self.parent is not None:
            self._assert_not_locked()
            self.parent.locked = False
            self.parent = None

    def _define(self, name: str, value: Any) -> None:
        self._assert_not_locked()
        if self.parent is None:
            raise WasmError("this linker instance is closed")
        if not isinstance(name, str):
            raise TypeError(f"expected a str name, got {type(name).__name__}")
        if name in self._defs and not self._linker._shadowing:
            raise WasmError(f"import of `{name}` defined twice")
        self._defs[name] = value

    def add_instance(self, name: str) -> "LinkerInstance":
        """A nested instance ``name`` to define items in (an existing one is extended); locks
        this one until closed."""
        self._assert_not_locked()
        inner = self._defs.get(name)
        if not isinstance(inner, dict):
            inner = {}
            self._define(name, inner)
        return LinkerInstance._make(self, inner)

    def add_module(self, name: str, module: Module) -> None:
        if not isinstance(module, Module):
            raise TypeError("expected a Module")
        self._define(name, module._data)

    def add_resource(self, name: str, ty: ResourceType, dtor: ResourceDtor) -> None:
        """The resource type ``ty`` (``ResourceType.host(n)``) under ``name``; ``dtor(store,
        rep)`` runs when an owned handle of it is dropped."""
        if not isinstance(ty, ResourceType):
            raise TypeError("expected a ResourceType")
        self._define(name, _Resource(ty._cm, dtor))

    def add_func(self, name: str, func: UserFunc) -> None:
        """The host function ``func``, called as ``func(store, *args)`` with Python values; it
        takes the type of the import it is linked to.  An ``async def`` runs on the event
        loop of the ``call_async`` that entered the guest."""
        if not callable(func):
            raise TypeError("expected a callable")
        if is_async(func):
            func = blocking(func)       # an async def runs on the event loop (api/aio.py)
        self._define(name, _Func(func))


__all__ = ["Linker", "LinkerInstance", "InstancePre", "LinkError"]
