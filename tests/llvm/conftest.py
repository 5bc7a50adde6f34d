"""Fixtures of the llvm tier's tests; every test here skips when llvmlite is missing."""

import pytest

pytest.importorskip("llvmlite", reason="llvmlite is not installed: the llvm tier is unavailable")

from wasmforge import Engine, Instance, Module, Store  # noqa: E402
from wasmforge.api.engine import Config  # noqa: E402


def make_engine(strategy: str) -> Engine:
    config = Config()
    config.strategy = strategy
    return Engine(config)


@pytest.fixture(scope="session")
def llvm_engine():
    return make_engine("llvm")


@pytest.fixture
def run(llvm_engine):
    """``run(wat, imports=())`` -> (store, exports) of a fresh llvm-tier instance."""

    def instantiate(wat: str, imports=(), store=None):
        store = store or Store(llvm_engine)
        inst = Instance(store, Module(llvm_engine, wat), list(imports))
        return store, inst.exports(store)
    return instantiate
