"""Python bindings for the WIT world `example:plugins/plugin`, written by `wasmforge bindgen`.

Do not edit: generate them again from the WIT instead.
"""

from __future__ import annotations

from typing import Any, Protocol

from wasmforge import Store
from wasmforge.bindgen.runtime import Err, Ok, Result, ResultError, Some, export_func, unexpected
from wasmforge.component import Component, Instance, Linker
from wasmforge.errors import WasmError

__all__ = ['Ok', 'Err', 'Result', 'ResultError', 'Some', 'PluginImports', 'ImportState',
           'add_to_linker', 'Plugin', 'instantiate']


class ImportState:
    """The host resources the component holds handles to: one table per imported resource
    (`add_to_linker` makes it).
    """

    def __init__(self) -> None:
        pass


class _Context:
    """What the conversions of resource handles need: the store, the host's tables, the world's
    exports.
    """

    __slots__ = ('store', '_tables', 'world')

    def __init__(self, store: Store, tables: ImportState | None, world: Plugin | None) -> None:
        self.store = store
        self._tables = tables
        self.world = world

    def tables(self) -> ImportState:
        if self._tables is None:
            raise WasmError('the host resources are unknown here: create the exports with the '
                            'ImportState that add_to_linker returned')
        return self._tables

    def exports(self) -> Plugin:
        if self.world is None:
            raise WasmError('the exports are unknown here')
        return self.world


# ------------------------------ conversions (the component runtime's values <-> these classes)


def _result_string_string_from_wasm(v: Any) -> Result[str, str]:
    tag = v.tag
    if tag == 'ok':
        return Ok(v.payload)
    if tag == 'err':
        return Err(v.payload)
    unexpected(v, 'result<string, string>')


# ------------------------------ imports: what the host implements


class PluginImports(Protocol):
    """What the host implements for the imported world `plugin`."""

    def log(self, message: str) -> None:
        """A line for the host's log (the host prefixes it with the plugin's name)."""
        ...


def add_to_linker(linker: Linker, imports: PluginImports) -> ImportState:
    """Define the world's imports in `linker`, implemented by `imports`; returns the tables of
    host resources (give them to the exports' class).
    """
    tables = ImportState()
    with linker.root() as root:

        def _log(store: Store, message: Any) -> Any:
            imports.log(message)
            return None

        root.add_func('log', _log)
    return tables


# ------------------------------ exports: what the host calls


class Plugin:
    """What a text-transforming plugin may do, and all it may do: log through its host."""

    def __init__(self, store: Store, instance: Instance, host: ImportState | None = None) -> None:
        self._cx = _Context(store, host, self)
        self._transform = export_func(instance, store, None, 'transform')

    def transform(self, input: str) -> Result[str, str]:
        """Transform one text: the new text, or a message saying why not."""
        func = self._transform
        store = self._cx.store
        result = func(store, input)
        func.post_return(store)
        return _result_string_string_from_wasm(result)


def instantiate(store: Store, component: Component, imports: PluginImports,
                linker: Linker | None = None) -> Plugin:
    """Instantiate `component` with `imports` (added to `linker`, or to a new one) and return its
    typed exports.
    """
    linker = linker if linker is not None else Linker(store.engine)
    tables = add_to_linker(linker, imports)
    return Plugin(store, linker.instantiate(store, component), tables)
