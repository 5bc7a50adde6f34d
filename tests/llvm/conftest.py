"""Fixtures of the llvm tier's tests; every test here skips when llvmlite is missing."""

import os
import subprocess
import sys

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


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem):
    """A test of a module with ``RUN_ALONE`` (the quick compiler's forked translators: a process
    forks only while no thread but its own helpers runs) runs in a fresh pytest process of its
    own when earlier tests left threads behind in this one, and passes only if it passes there."""
    if not getattr(pyfuncitem.module, "RUN_ALONE", False) or os.environ.get("WASMFORGE_TEST_ALONE"):
        return None
    from wasmforge.llvm.forksafe import only_helper_threads
    if only_helper_threads():
        return None
    env = dict(os.environ, WASMFORGE_TEST_ALONE="1")
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           pyfuncitem.nodeid], cwd=str(pyfuncitem.config.rootpath), env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    return True
