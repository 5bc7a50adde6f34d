"""Linker: instantiate modules by resolving their imports by name (wasmtime-py's ``Linker``)."""

from __future__ import annotations

from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple, Union

from ..errors import Handle, LinkError, Trap, WasmError
from ..module import FUNC, GLOBAL, MEMORY, TABLE
from ..types import ByType, FuncType
from ..runtime.func import FuncInstance, HostFunc, _not_ready
from ..runtime.instance import instance_plan, instantiate, match_import, max_call_depth_of
from .engine import Engine
from .handles import (Extern, Func, Global, Instance, Memory, Module, SharedMemory, Table, _host_func,
                      _instantiate, _to_extern, _wrap_extern)
from ..module import Import
from ..runtime import store as _runtime
from .store import Storelike, resolve_store

#: A definition: a host function (usable in any store), or a store and a runtime object
#: (store None: a shared memory, usable in any store).
_Definition = Union[HostFunc, Tuple[Optional[_runtime.Store], Any]]


#: The value define_unknown_imports_as_default_values returns for each result type.
_DEFAULT_VALUES = ByType({"i32": 0, "i64": 0, "f32": 0.0, "f64": 0.0, "v128": 0, "funcref": None,
                          "externref": None, "exnref": None})


class Linker(Handle):
    """Definitions by ``(module, name)``: externs of one store (:meth:`define`,
    :meth:`define_instance`) and store-independent host functions (:meth:`define_func`)."""

    def __init__(self, engine: Engine) -> None:
        if not isinstance(engine, Engine):
            raise TypeError(f"expected an Engine, got {type(engine).__name__}")
        self.engine = engine
        self._defs: Dict[Tuple[str, str], _Definition] = {}
        self._allow_shadowing = False

    @property
    def allow_shadowing(self) -> bool:
        """Whether a later definition may replace an earlier one of the same name."""
        return self._allow_shadowing

    @allow_shadowing.setter
    def allow_shadowing(self, allow: bool) -> None:
        if not isinstance(allow, bool):
            raise TypeError("expected a boolean")
        self._allow_shadowing = allow

    def _add(self, module: str, name: str, entry: _Definition) -> None:
        if not isinstance(module, str) or not isinstance(name, str):
            raise TypeError("module and name must be strings")
        key = (module, name)
        if key in self._defs and not self._allow_shadowing:
            raise WasmError(f"import of `{module}::{name}` defined twice")
        self._defs[key] = entry

    def define(self, store: Storelike, module: str, name: str, item: Extern) -> None:
        """Define ``item`` (a Func, Table, Memory or Global of ``store``) as ``module::name``."""
        st = resolve_store(store)
        # A SharedMemory belongs to no store: its definition serves every store (wasi-threads
        # instantiates the module again in a new store per thread, on the same memory).
        owner = None if isinstance(item, SharedMemory) else st
        self._add(module, name, (owner, _to_extern(item, st)))

    def define_func(self, module: str, name: str, ty: FuncType, func: Callable[..., Any],
                    access_caller: bool = False) -> None:
        """Define a host function usable in any store."""
        self._add(module, name, _host_func(ty, func, access_caller))

    def define_instance(self, store: Storelike, name: str, instance: Instance) -> None:
        """Define every export of ``instance`` under the module name ``name``."""
        st = resolve_store(store)
        if not isinstance(instance, Instance):
            raise TypeError(f"expected an Instance, got {type(instance).__name__}")
        if instance._store is not st:
            raise WasmError("Instance belongs to a different store than the one passed")
        for export, obj in instance._inst.exports.items():
            self._add(name, export, (st, obj))

    def define_wasi(self) -> None:
        """Define every ``wasi_snapshot_preview1`` function, acting on the WASI context of
        the store each instance lives in (see ``Store.set_wasi``)."""
        # Imported on first use for start-up speed: `import wasmforge` does not load WASI.
        from ..wasi import define_wasi
        define_wasi(self)

    def __repr__(self) -> str:
        modules = sorted({m for m, _ in self._defs})
        return f"<Linker {len(self._defs)} definitions in {len(modules)} modules>"

    # ----- wasmtime-py's module-level helpers -----

    def define_module(self, store: Storelike, name: str, module: Module) -> None:
        """Instantiate ``module`` with this linker's definitions and define its exports under
        the module name ``name`` (wasmtime-py's ``define_module``).  The module is
        instantiated once, and its ``_initialize`` export, if any, is called first, as for a
        WASI reactor."""
        st = resolve_store(store)
        instance = self.instantiate(st, module)
        init = instance._inst.exports.get("_initialize")
        if isinstance(init, FuncInstance) and not init.type.params and not init.type.results:
            Func._wrap(init)(st)
        self.define_instance(st, name, instance)

    def get_default(self, store: Storelike, name: str) -> Func:
        """The default export of the module defined as ``name``: its export named ``""``,
        else ``_start``, else a function that does nothing (wasmtime-py's ``get_default``)."""
        st = resolve_store(store)
        for export in ("", "_start"):
            obj = self._resolve(st, name, export)
            if obj is not None:
                if not isinstance(obj, FuncInstance):
                    raise WasmError(f"default export in `{name}` is not a function")
                return Func._wrap(obj)
        return Func(st, FuncType([], []), lambda: None)

    def _unknown_imports(self, module: Module) -> Iterator[Tuple[Import, Any]]:
        if not isinstance(module, Module):
            raise TypeError(f"expected a Module, got {type(module).__name__}")
        data = module._data
        for imp, expected in zip(data.imports, instance_plan(data).import_types):
            if (imp.module, imp.name) not in self._defs:
                yield imp, expected

    def define_unknown_imports_as_traps(self, module: Module) -> None:
        """Define every function import of ``module`` that is not defined yet as a host
        function that traps when called.  Tables, memories and globals stay undefined, as in
        wasmtime (instantiating still reports them as unknown imports)."""
        for imp, ty in list(self._unknown_imports(module)):
            if imp.kind != FUNC:
                continue
            message = f"unknown import: `{imp.module}::{imp.name}` has not been defined"

            def trap(*args: Any, _message: str = message) -> None:
                raise Trap(_message)

            self.define_func(imp.module, imp.name, ty, trap)

    def define_unknown_imports_as_default_values(self, store: Storelike, module: Module) -> None:
        """Define every import of ``module`` that is not defined yet with a default, as
        wasmtime does: a function returning zeros (null for references) and ignoring its
        arguments; a global of the import's type holding zero (or null); a memory of the
        import's type (its minimum size, zeroed); a table of the import's type filled with
        null.  The globals, memories and tables are made in ``store``."""
        st = resolve_store(store)
        for imp, ty in list(self._unknown_imports(module)):
            if imp.kind == FUNC:
                zeros = tuple(_DEFAULT_VALUES[t] for t in ty.results)
                result: Any = None if not zeros else zeros[0] if len(zeros) == 1 else zeros

                def default(*args: Any, _result: Any = result) -> Any:
                    return _result

                self.define_func(imp.module, imp.name, ty, default)
            elif imp.kind == GLOBAL:
                self.define(st, imp.module, imp.name, Global(st, ty, _DEFAULT_VALUES[ty.content]))
            elif imp.kind == MEMORY:
                self.define(st, imp.module, imp.name, Memory(st, ty))
            elif imp.kind == TABLE:
                self.define(st, imp.module, imp.name, Table(st, ty, None))

    def _resolve(self, st: _runtime.Store, module: str, name: str) -> Any:
        entry = self._defs.get((module, name))
        if entry is None:
            return None
        return self._extern(st, entry, module, name)

    def _extern(self, st: _runtime.Store, entry: _Definition, module: str, name: str) -> Any:
        """The runtime object definition ``entry`` of ``module::name`` gives in store ``st``."""
        if isinstance(entry, HostFunc):
            # Instantiated once per store that uses it, and kept by the store (kept here, in
            # a table weak on the store, the function's own reference to its store kept
            # every such store alive as long as the linker).
            hit = st._host_funcs.get(id(entry))
            if hit is not None and hit[0] is entry:
                return hit[1]
            fi = st._own(FuncInstance(entry.type, entry.bind(st), name, host=entry, store=st))
            st._host_funcs[id(entry)] = (entry, fi)
            return fi
        owner, obj = entry
        if owner is not None and owner is not st:
            raise WasmError(f"`{module}::{name}` was defined in a different store")
        return obj

    def get(self, store: Storelike, module: str, name: str) -> Extern:
        """The extern defined as ``module::name``; WasmError if there is none."""
        st = resolve_store(store)
        obj = self._resolve(st, module, name)
        if obj is None:
            raise WasmError(f"`{module}::{name}` is not defined in the linker")
        return _wrap_extern(obj, st)

    def _check_module(self, module: Module) -> None:
        if not isinstance(module, Module):
            raise TypeError(f"expected a Module, got {type(module).__name__}")
        if module.engine is not self.engine:
            raise WasmError("the module was compiled by a different Engine than the linker's")

    def instantiate(self, store: Storelike, module: Module) -> Instance:
        """Instantiate ``module`` with its imports resolved by name."""
        st = resolve_store(store)
        self._check_module(module)
        externs: List[Any] = []
        for imp in module._data.imports:
            obj = self._resolve(st, imp.module, imp.name)
            if obj is None:
                raise LinkError(f"unknown import: `{imp.module}::{imp.name}` has not been defined")
            externs.append(obj)
        return Instance._wrap(st, _instantiate(st, module, externs))

    def instantiate_pre(self, module: Module) -> "InstancePre":
        """Resolve and type-check the imports of ``module`` now, once: the InstancePre then
        instantiates it in any store (of this engine) without doing so again.  LinkError
        (a WasmtimeError) when an import is undefined or of the wrong type."""
        self._check_module(module)
        data = module._data
        entries = []
        for imp, expected in zip(data.imports, instance_plan(data).import_types):
            entry = self._defs.get((imp.module, imp.name))
            if entry is None:
                raise LinkError(f"unknown import: `{imp.module}::{imp.name}` has not been defined")
            if isinstance(entry, HostFunc):
                if imp.kind != FUNC or entry.type != expected:
                    # match_import words the error; a FuncInstance stands for the definition.
                    match_import(imp, expected, FuncInstance(entry.type))
            else:
                match_import(imp, expected, entry[1])
            entries.append((entry, imp.module, imp.name))
        return InstancePre(self, module, entries)


class InstancePre(Handle):
    """A module with its imports resolved and type-checked by a :class:`Linker`
    (wasmtime-py's ``InstancePre``, made by :meth:`Linker.instantiate_pre`).

    :meth:`instantiate` makes a fresh instance in a store, doing only the work that differs
    per instance: host functions are bound to the store (a WASI function to that store's
    WASI context), memories and tables allocated and initialised from the module's prepared
    segment images, globals set, the start function run.  The definitions are the linker's
    at ``instantiate_pre`` time: later changes to the linker do not affect it.  An import
    defined through :meth:`Linker.define` belongs to one store, so an InstancePre using one
    instantiates in that store only."""

    def __init__(self, linker: Linker, module: Module,
                 entries: List[Tuple[_Definition, str, str]]) -> None:
        self._linker = linker
        self._module = module
        self._entries = entries
        data = module._data
        # Everything per module is made now, none of it per instance: the tier's code and
        # the instantiation plan (runtime/instance.py).
        self._code = module._compiled() if data.funcs else None
        self._plan = instance_plan(data)
        self._depth: Optional[int] = None      # the engine's call depth (max_call_depth_of)
        # A host function bound per importing instance (HostFunc.instance_binding: WASI's)
        # is represented by one placeholder made now, not one per instantiation: the binding
        # takes the store from the instance.
        self._placeholders = [
            FuncInstance(entry.type, _not_ready, n, host=entry)
            if isinstance(entry, HostFunc) and entry.access_caller else None
            for entry, m, n in entries]

    @property
    def module(self) -> Module:
        """The module this InstancePre instantiates."""
        return self._module

    def instantiate(self, store: Storelike) -> Instance:
        """A new instance of the module in ``store``.  Trap when its initialisation traps
        (a segment out of bounds, the start function); WasmError when the store is of another
        engine or an import was defined in another store."""
        st = resolve_store(store)
        module = self._module
        if st.engine is not module.engine:
            raise WasmError("the module was compiled by a different Engine than the store's")
        extern = self._linker._extern
        externs: List[Any] = []
        for (entry, m, n), placeholder in zip(self._entries, self._placeholders):
            if placeholder is not None:
                # Bound per importing instance by instantiate (HostFunc.instance_binding):
                # a store-wide binding made first would be thrown away (WASI's functions).
                externs.append(placeholder)
            else:
                externs.append(extern(st, entry, m, n))
        depth = self._depth
        if depth is None:
            depth = self._depth = max_call_depth_of(st)
        return Instance._wrap(st, instantiate(st, module._data, self._code, externs, checked=True,
                                              plan=self._plan, store_depth=depth))

    def __repr__(self) -> str:
        return f"<InstancePre of {self._module!r}>"
