"""Linker: instantiate modules by resolving their imports by name (wasmtime-py's ``Linker``)."""

from __future__ import annotations

import weakref
from typing import Callable

from ..errors import LinkError, WasmError
from ..types import FuncType
from .api import Instance, Module, _check_functype, _instantiate, _to_extern, _wrap_extern
from .engine import Engine
from .func import FuncInstance, HostFunc
from .store import resolve_store


class Linker:
    """Definitions by ``(module, name)``: externs of one store (:meth:`define`,
    :meth:`define_instance`) and store-independent host functions (:meth:`define_func`)."""

    def __init__(self, engine: Engine):
        if not isinstance(engine, Engine):
            raise TypeError(f"expected an Engine, got {type(engine).__name__}")
        self.engine = engine
        self._defs: dict = {}
        self._allow_shadowing = False
        # Host functions of define_func, instantiated once per store that uses them.
        self._host_funcs: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()

    @property
    def allow_shadowing(self) -> bool:
        """Whether a later definition may replace an earlier one of the same name."""
        return self._allow_shadowing

    @allow_shadowing.setter
    def allow_shadowing(self, allow: bool) -> None:
        if not isinstance(allow, bool):
            raise TypeError("expected a boolean")
        self._allow_shadowing = allow

    def _add(self, module: str, name: str, entry) -> None:
        if not isinstance(module, str) or not isinstance(name, str):
            raise TypeError("module and name must be strings")
        key = (module, name)
        if key in self._defs and not self._allow_shadowing:
            raise WasmError(f"import of `{module}::{name}` defined twice")
        self._defs[key] = entry

    def define(self, store, module: str, name: str, item) -> None:
        """Define ``item`` (a Func, Table, Memory or Global of ``store``) as ``module::name``."""
        st = resolve_store(store)
        self._add(module, name, (st, _to_extern(item, st)))

    def define_func(self, module: str, name: str, ty: FuncType, func: Callable,
                    access_caller: bool = False) -> None:
        """Define a host function usable in any store."""
        _check_functype(ty)
        if not callable(func):
            raise TypeError(f"expected a callable, got {type(func).__name__}")
        self._add(module, name, HostFunc(ty, func, bool(access_caller)))

    def define_instance(self, store, name: str, instance: Instance) -> None:
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
        from ..wasi import define_wasi
        define_wasi(self)

    def _resolve(self, st, module: str, name: str):
        entry = self._defs.get((module, name))
        if entry is None:
            return None
        if isinstance(entry, HostFunc):
            per_store = self._host_funcs.setdefault(st, {})
            fi = per_store.get(id(entry))
            if fi is None:
                fi = st._own(FuncInstance(entry.type, entry.bind(st), name, host=entry, store=st))
                per_store[id(entry)] = fi
            return fi
        owner, obj = entry
        if owner is not st:
            raise WasmError(f"`{module}::{name}` was defined in a different store")
        return obj

    def get(self, store, module: str, name: str):
        """The extern defined as ``module::name``; WasmError if there is none."""
        st = resolve_store(store)
        obj = self._resolve(st, module, name)
        if obj is None:
            raise WasmError(f"`{module}::{name}` is not defined in the linker")
        return _wrap_extern(obj, st)

    def instantiate(self, store, module: Module) -> Instance:
        """Instantiate ``module`` with its imports resolved by name."""
        st = resolve_store(store)
        if not isinstance(module, Module):
            raise TypeError(f"expected a Module, got {type(module).__name__}")
        if module.engine is not self.engine:
            raise WasmError("the module was compiled by a different Engine than the linker's")
        externs = []
        for imp in module._data.imports:
            obj = self._resolve(st, imp.module, imp.name)
            if obj is None:
                raise LinkError(f"unknown import: `{imp.module}::{imp.name}` has not been defined")
            externs.append(obj)
        return Instance._wrap(st, _instantiate(st, module, externs))
