"""wasmtime-py's ``component.Instance``: an instantiated component's exports."""

from __future__ import annotations

from typing import Any, Optional, Union

from ..cm.abi.adapter import LiftedFunction
from ..cm.instance import ComponentInstance, HostFunction, extern_of
from ..errors import Handle, WasmError
from ._component import ExportIndex
from ._func import Func


class Instance(Handle):
    """An instance of a component (made by ``Linker.instantiate``)."""

    __slots__ = ("_i", "_store")
    _i: ComponentInstance
    _store: Any

    def __init__(self) -> None:
        raise WasmError("Cannot directly construct an `Instance`")

    @classmethod
    def _of(cls, inst: ComponentInstance, store: Any) -> "Instance":
        self = cls.__new__(cls)
        self._i, self._store = inst, store
        return self

    def _at(self, path: tuple) -> Any:      # type: ignore[type-arg]
        value: Any = self._i
        for name in path:
            if not isinstance(value, ComponentInstance) or name not in value.exports:
                return None
            value = value.exports[name]
        return value

    def get_export_index(self, store: Any, name: str, instance: Optional[ExportIndex] = None) -> Optional[ExportIndex]:
        """The index of export ``name`` (of the nested instance ``instance``), or None."""
        inner = self._i if instance is None else self._at(instance._path)
        if not isinstance(inner, ComponentInstance):
            return None
        if not isinstance(name, str):
            raise TypeError(f"expected a str export name, got {type(name).__name__}")
        value = inner.exports.get(name)
        if value is None:
            return None
        path = () if instance is None else instance._path
        return ExportIndex._of(path + (name,), extern_of(value))

    def get_func(self, store: Any, index: Union[ExportIndex, str]) -> Optional[Func]:
        """The function export at ``index`` (an ExportIndex or a top-level name), or None if
        it is not a function."""
        if isinstance(index, str):
            found = self.get_export_index(store, index)
            if found is None:
                return None
            index = found
        elif not isinstance(index, ExportIndex):
            raise TypeError(f"expected an ExportIndex or a str, got {type(index).__name__}")
        value = self._at(index._path)
        if isinstance(value, (LiftedFunction, HostFunction)):
            return Func._of(value, self._store)     # the instance's store (its busy check)
        return None

    def __repr__(self) -> str:
        return f"<component Instance exports={list(self._i.exports)}>"


__all__ = ["Instance"]
