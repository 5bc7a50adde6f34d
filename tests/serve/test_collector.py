"""The garbage collector's settings in a served process (serve/_pool.py ``Collector``): a
higher threshold for the youngest generation, and what the first requests leave alive frozen
at idle moments only, never a request's own objects."""

from __future__ import annotations

import gc
import threading
import weakref

import pytest

from wasmforge import Config, Engine
from wasmforge.serve import ProxyApp, _pool

from serve.test_ops import TINY, call, record_stores


@pytest.fixture
def collector_state():
    """The collector's threshold and frozen objects as they were, after the test."""
    threshold = gc.get_threshold()
    frozen = gc.get_freeze_count()
    yield
    gc.set_threshold(*threshold)
    if gc.get_freeze_count() != frozen:
        gc.unfreeze()


def test_it_freezes_after_doubling_request_counts_and_only_when_idle(monkeypatch):
    done = []
    monkeypatch.setattr(_pool.gc, "freeze", lambda: done.append("freeze"))
    monkeypatch.setattr(_pool.gc, "collect", lambda *a: done.append("collect") or 0)
    c = _pool.Collector(until=8)
    frozen_at = []
    # requests 1-12 end; 3 and 4 with another still in progress
    for k in range(1, 13):
        before = c.freezes
        c.request_ended(1 if k in (3, 4) else 0)
        if c.freezes != before:
            frozen_at.append(k)
    # 4 was busy: at the next idle end, 5; the next would be 2 x 5 = 10, past 8: none
    assert frozen_at == [1, 2, 5]
    assert done == ["collect", "freeze"] * 3


def test_a_small_apps_idle_ends_collect_young_and_now_and_then_everything(monkeypatch):
    # The young collections keep the youngest generation's count low, so the collector never
    # starts on its own: without a full one now and then, what reached the oldest
    # generation would never be collected (a served tiny.wasm grew ~125 objects a request).
    done = []
    monkeypatch.setattr(_pool.gc, "freeze", lambda: None)
    monkeypatch.setattr(_pool.gc, "collect", lambda *a: done.append(a) or 0)
    c = _pool.Collector(until=0)
    c.young = True
    for _ in range(2 * _pool.FULL_EVERY):
        c.request_ended(0)
    c.request_ended(1)          # not idle: nothing
    fulls = [k for k, a in enumerate(done) if a == (2,)]
    assert fulls == [_pool.FULL_EVERY - 1, 2 * _pool.FULL_EVERY - 1]
    assert len(done) == 2 * _pool.FULL_EVERY and all(a in ((1,), (2,)) for a in done)


def test_install_freezes_and_sets_the_thresholds_for_big_apps_only(collector_state):
    frozen = gc.get_freeze_count()
    keep = [[] for _ in range(1000)]         # objects alive now
    before = gc.get_threshold()
    _pool.Collector((12345, 4, 2), big=10 ** 9).install()
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() >= frozen + len(keep)
    _pool.Collector((12345, 4, 2), big=len(keep)).install()
    assert gc.get_threshold() == (12345, 4, 2)


def test_a_served_process_never_freezes_a_requests_store(collector_state):
    config = Config()
    config.strategy = "interp"          # the collector is the same on both tiers
    # (an instance per request: a recycled sandbox outlives its requests by design, kept in
    # the app's pool, and is alive, so frozen, at the idle moments: tests/serve/test_recycle.py)
    app = ProxyApp(str(TINY), engine=Engine(config), max_workers=2, recycle=False)
    app.pool.collector = _pool.Collector()
    app.pool.collector.install()
    stores = record_stores(app)
    try:
        for k in range(8):
            assert call(app, "GET", f"/n{k}")[::2] == (200, f"tiny-v1 /n{k}".encode())
    finally:
        app.close()
    assert app.pool.collector.freezes == 4          # after requests 1, 2, 4 and 8
    gc.collect()
    # frozen, a store's cycles would outlive it
    assert [r for r in stores if r() is not None] == []


def test_a_request_answered_at_its_deadline_while_its_guest_runs_is_not_frozen(collector_state):
    # The request is over for the event loop (500 at its deadline, none in progress) while
    # its guest call still runs in a worker: not an idle moment.
    config = Config()
    config.strategy = "interp"
    config.epoch_interruption = True
    app = ProxyApp(str(TINY), engine=Engine(config), max_workers=2, timeout=0.2, recycle=False)   # (above)
    app.pool.collector = _pool.Collector()
    app.pool.collector.install()
    stores: list = []
    release = threading.Event()
    real = app._instantiate

    def instantiate(*a, **kw):
        store, handle = real(*a, **kw)
        stores.append(weakref.ref(store))
        if len(stores) == 1:
            release.wait(10)        # the first request's guest call outlives its deadline
        return store, handle
    app._instantiate = instantiate       # type: ignore[method-assign]
    try:
        assert call(app, "GET", "/late")[0] == 500
        assert app.pool.collector.freezes == 0
        release.set()
        while app.pool.running:
            threading.Event().wait(0.01)
        assert call(app, "GET", "/next")[::2] == (200, b"tiny-v1 /next")
    finally:
        release.set()
        app.close()
    assert app.pool.collector.freezes == 1
    gc.collect()
    assert [r for r in stores if r() is not None] == []
