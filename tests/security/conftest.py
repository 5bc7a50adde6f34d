"""Fixtures of the cache and artifact trust-boundary tests: every test gets a cache of its own
(``<tmp>/home/.cache/wasmforge``, as under a home directory) and a fresh view of it."""

import pytest

from support import tier_params

try:
    from wasmforge import _cache
except ImportError:         # a wasmforge before the shared cache module: the tests must fail
    _cache = None

TIERS = tier_params()


@pytest.fixture
def home(tmp_path):
    path = tmp_path / "home"
    path.mkdir()
    return path


@pytest.fixture
def cache_root(home, monkeypatch):
    root = home / ".cache" / "wasmforge"
    monkeypatch.setenv("WASMFORGE_CACHE_DIR", str(root))
    monkeypatch.delenv("WASMFORGE_CACHE", raising=False)
    monkeypatch.delenv("WASMFORGE_CACHE_MAX_MB", raising=False)
    if _cache is not None:
        _cache.reset()
    yield root
    if _cache is not None:
        _cache.reset()


@pytest.fixture(params=TIERS)
def tier(request):
    return request.param
