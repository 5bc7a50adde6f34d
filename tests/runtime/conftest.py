"""Fixtures of the runtime tests."""

import pytest

from wasmforge import Engine, Instance, Module, Store


def _instantiate(wat: str, imports=(), store=None):
    """Instantiate a WAT module with positional imports; return (store, instance)."""
    store = store or Store(Engine())
    module = Module(store.engine, wat)
    return store, Instance(store, module, list(imports))


@pytest.fixture
def instantiate():
    return _instantiate
