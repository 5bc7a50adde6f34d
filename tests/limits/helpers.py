"""Helpers of the sandbox-limit tests.  TIERS lists the tiers available here, for the tests
that compare tiers with each other (they skip, saying so, with one tier only)."""

from support import has_llvmlite
from wasmforge import Config, Engine, Instance, Module, Store

TIERS = ["interp"] + (["llvm"] if has_llvmlite() else [])


def engine_for(tier, fuel=False, epoch=False, max_wasm_stack=None):
    config = Config()
    config.strategy = tier
    config.consume_fuel = fuel
    config.epoch_interruption = epoch
    if max_wasm_stack is not None:
        config.max_wasm_stack = max_wasm_stack
    return Engine(config)


def instantiate(engine, wat, imports=(), store=None):
    """(store, exports) of ``wat`` instantiated in ``store`` (a new one by default)."""
    store = store or Store(engine)
    inst = Instance(store, Module(engine, wat), list(imports))
    return store, inst.exports(store)
