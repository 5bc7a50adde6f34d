"""Fixtures of the wasmtime-py compatibility tests: ``tier`` runs a test on each tier."""

import pytest

from support import tier_params
from wasmforge import Config, Engine, Instance, Module, Store

TIERS = tier_params()


@pytest.fixture(params=TIERS)
def tier(request):
    return request.param


@pytest.fixture
def engine(tier):
    config = Config()
    config.strategy = tier
    return Engine(config)


@pytest.fixture
def instantiate(engine):
    """``instantiate(wat, imports=())`` -> (store, instance) on the test's tier."""
    def make(wat, imports=()):
        store = Store(engine)
        return store, Instance(store, Module(engine, wat), list(imports))
    return make
