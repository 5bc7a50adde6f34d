"""Recycled sandboxes (docs/serve.md, "Recycled sandboxes"): after a request whose guest call
ended cleanly, its store and instance are put back to their state right after instantiation
and serve a later request, which must not tell them from a new instance.

tests/serve/fixtures/state.wasm reports, in each response, the state it finds (memory size,
a global, a table slot, a memory byte, a passive data segment, the index of a new resource
handle) and then changes all of it (grows the memory, writes the global, the slot and the
byte, drops the segment, leaks the handle): a new instance answers "m1 g0 t1 ba dP h03".
tests/serve/fixtures/start.wasm's start function reads the clock: never recycled.
"""

from __future__ import annotations

import asyncio
import gc
import lzma
import shutil
import time
import weakref
from pathlib import Path

import pytest
from click.testing import CliRunner

from wasmforge import Config, Engine
from wasmforge.cli import cli
from wasmforge.serve import ProxyApp, Router, _app, load_manifest, make_app
from wasmforge.serve._observe import Metrics

from serve.test_ops import TINY, call, tier_param

ROOT = Path(__file__).resolve().parent.parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
STATE = FIXTURES / "state.wasm"
START = FIXTURES / "start.wasm"
COUNT = FIXTURES / "count.wasm"
NEW = b"m1 g0 t1 ba dP h03"
PAGE = 65536
TIERS = ["interp", "llvm"]


def engine(tier, **settings):
    config = Config()
    config.strategy = tier_param(tier)
    for k, v in settings.items():
        setattr(config, k, v)
    return Engine(config)


def stores_of(app) -> list:
    """The store of each request ``app`` runs from now on (its ``_instantiate`` wrapped)."""
    stores: list = []
    real = app._instantiate

    def instantiate(*a, **kw):
        store, handle = real(*a, **kw)
        stores.append(store)
        return store, handle
    app._instantiate = instantiate
    return stores


@pytest.mark.parametrize("tier", TIERS)
def test_nothing_a_request_changed_is_seen_by_the_next(tier):
    app = ProxyApp(str(STATE), engine=engine(tier), max_workers=2)
    try:
        stores = stores_of(app)
        assert [call(app, "GET", f"/r{k}")[2] for k in range(6)] == [NEW] * 6
        # one store served them all, put back to new after each
        assert len({id(s) for s in stores}) == 1 and (app.fresh, app.recycled) == (1, 5)
    finally:
        app.close()
    assert stores[0].closed          # close() released the idle sandbox


@pytest.mark.parametrize("tier", TIERS)
def test_recycling_turned_off_makes_an_instance_per_request(tier):
    app = ProxyApp(str(STATE), engine=engine(tier), recycle=False)
    try:
        stores = stores_of(app)
        assert [call(app, "GET", "/r")[2] for _ in range(3)] == [NEW] * 3
        assert len({id(s) for s in stores}) == 3 and all(s.closed for s in stores)
        assert (app.fresh, app.recycled) == (3, 0)
    finally:
        app.close()


@pytest.mark.parametrize("tier", TIERS)
def test_a_trapped_requests_sandbox_is_dropped(tier):
    app = ProxyApp(str(STATE), engine=engine(tier))
    try:
        stores = stores_of(app)
        assert call(app, "GET", "/a")[2] == NEW
        assert call(app, "GET", "/a/trap")[0] == 500
        assert call(app, "GET", "/b")[2] == NEW
        first, trapped, after = stores
        assert trapped is first                 # the first request's sandbox, recycled ...
        assert trapped.closed and after is not trapped          # ... then dropped: a new one
        assert (app.fresh, app.recycled) == (2, 1)
    finally:
        app.close()


@pytest.mark.parametrize("limit", ["timeout", "fuel"])
def test_a_request_stopped_by_a_limit_drops_its_sandbox(limit):
    settings = {"epoch_interruption": True} if limit == "timeout" else {"consume_fuel": True}
    limits = {"timeout": 0.3} if limit == "timeout" else {"fuel": 2_000_000}
    app = ProxyApp(str(TINY), engine=engine("llvm", **settings), **limits)
    try:
        stores = stores_of(app)
        assert call(app, "GET", "/a")[2] == b"tiny-v1 /a"
        assert call(app, "GET", "/loop")[0] == 500
        while app.pool.running:         # (answered at its deadline: the guest traps at its next check)
            time.sleep(0.01)
        assert call(app, "GET", "/b")[2] == b"tiny-v1 /b"
        assert stores[1] is stores[0] and stores[1].closed and stores[2] is not stores[1]
    finally:
        app.close()


@pytest.mark.parametrize("tier", TIERS)
def test_a_request_refused_a_memory_growth_drops_its_sandbox(tier):
    # state.wasm grows its memory by a page per request: at a one-page limit that is refused
    # (memory.grow answers -1 and the request its 200), and the sandbox is not kept
    app = ProxyApp(str(STATE), engine=engine(tier), memory_limit=PAGE)
    try:
        stores = stores_of(app)
        assert [call(app, "GET", "/")[2] for _ in range(3)] == [NEW] * 3
        assert (app.fresh, app.recycled) == (3, 0) and all(s.closed for s in stores)
    finally:
        app.close()


def test_a_sandbox_taken_by_a_request_that_failed_before_its_call_is_released():
    # the app's WASI configuration fails for the second request, after it took the sandbox
    # the first left: a 500, and that sandbox's store closed, not lost open
    configs = iter([_app._default_wasi(), None, _app._default_wasi()])

    def wasi():
        config = next(configs)
        if config is None:
            raise OSError("no configuration")
        return config
    app = ProxyApp(str(STATE), engine=engine("interp"), wasi=wasi)
    try:
        assert call(app, "GET", "/")[2] == NEW
        kept = app._loaded.sandboxes.idle[0].store
        assert call(app, "GET", "/")[0] == 500
        assert kept.closed and not app._loaded.sandboxes.idle
        assert call(app, "GET", "/")[2] == NEW
    finally:
        app.close()


@pytest.mark.parametrize("tier", TIERS)
def test_a_component_whose_start_function_calls_the_host_is_never_recycled(tier):
    app = ProxyApp(str(START), engine=engine(tier))
    try:
        stores = stores_of(app)
        assert [call(app, "GET", "/")[2] for _ in range(3)] == [b"started 1"] * 3
        assert (app.fresh, app.recycled) == (3, 0) and all(s.closed for s in stores)
        assert "called the host" in (app._loaded.sandboxes.refusal or "")
    finally:
        app.close()


def test_a_reload_never_hands_out_a_sandbox_of_the_old_version(tmp_path):
    path = tmp_path / "app.wasm"
    shutil.copyfile(STATE, path)
    app = ProxyApp(str(path), engine=engine("interp"))
    try:
        stores = stores_of(app)
        assert call(app, "GET", "/")[2] == NEW
        old = app._loaded.sandboxes
        assert len(old.idle) == 1
        shutil.copyfile(COUNT, path)
        app.reload()
        assert old.closed and not old.idle and stores[0].closed
        assert [call(app, "GET", "/")[2] for _ in range(2)] == [b"count 1"] * 2
        assert stores[1] is not stores[0] and stores[2] is stores[1]
    finally:
        app.close()


async def _concurrently(app, paths):
    """The responses' bodies of requests for ``paths``, all in progress at once."""
    async def one(path):
        sent = []
        done = False

        async def receive():
            nonlocal done
            if not done:
                done = True
                return {"type": "http.request", "body": b"", "more_body": False}
            await asyncio.sleep(3600)

        async def send(message):
            sent.append(message)
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
                 "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
                 "headers": [(b"host", b"test.local")], "server": ("127.0.0.1", 80)}
        await app(scope, receive, send)
        return b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return await asyncio.gather(*[one(p) for p in paths])


def test_concurrent_requests_each_get_a_sandbox_of_their_own():
    # count.wasm's /print waits 20 ms (a wasi:io poll) while the others run: four at once,
    # each in its own sandbox, each answering "count 1"; the sandboxes then serve the next
    app = ProxyApp(str(COUNT), engine=engine("llvm"), max_workers=4)
    try:
        stores = stores_of(app)
        for _ in range(3):
            assert asyncio.run(_concurrently(app, [f"/print{k}" for k in range(4)])) == [b"count 1"] * 4
        assert app.recycled > 0 and len({id(s) for s in stores}) <= 5     # a worker's each, and inline
        assert len(app._loaded.sandboxes.idle) <= app._loaded.sandboxes.keep
    finally:
        app.close()


def test_the_metrics_count_recycled_and_fresh_instances():
    app = ProxyApp(str(STATE), engine=engine("interp"), name="state")
    router = Router([("/", app)], metrics_path="/metrics")
    try:
        for _ in range(3):
            assert call(router, "GET", "/x")[2] == NEW
        text = call(router, "GET", "/metrics")[2].decode()
        assert 'wasmforge_instances_total{app="state",kind="fresh"} 1' in text
        assert 'wasmforge_instances_total{app="state",kind="recycled"} 2' in text
    finally:
        router.close()


def test_a_sandbox_freed_after_close_when_nothing_froze_it():
    app = ProxyApp(str(STATE), engine=engine("interp"))
    stores = stores_of(app)
    assert call(app, "GET", "/")[2] == NEW
    app.close()
    app._instantiate = None         # (the wrapper holds the app, not the store)
    ref = weakref.ref(stores.pop())
    gc.collect()
    assert ref() is None


def test_metrics_without_instances_show_zero_counts():
    text = Metrics(["a"]).render()
    assert 'wasmforge_instances_total{app="a",kind="fresh"} 0' in text


@pytest.mark.parametrize("name", ["componentize_py_http", "componentize_js_http"])
def test_the_componentize_handlers_count_1_in_recycled_sandboxes(name, tmp_path):
    # their /counter increments a global of the guest's language: 1 in a new instance
    path = tmp_path / "handler.wasm"
    path.write_bytes(lzma.decompress((ROOT / "tests" / "fixtures" / name / "handler.wasm.xz").read_bytes()))
    app = ProxyApp(str(path), engine=engine("interp"), max_workers=2)
    try:
        assert [call(app, "GET", "/counter")[2] for _ in range(8)] == [b"1"] * 8
        assert (app.fresh, app.recycled) == (1, 7), app._loaded.sandboxes.refusal
    finally:
        app.close()


def test_the_manifest_and_the_command_turn_recycling_off(tmp_path):
    manifest = tmp_path / "apps.toml"
    manifest.write_text(f'[apps.a]\nsource = "{STATE}"\nroute = "/"\ntier = "interp"\nrecycle = false\n'
                        f'[apps.b]\nsource = "{STATE}"\nroute = "/b"\ntier = "interp"\n')
    specs = load_manifest(manifest)
    assert [s.recycle for s in specs] == [False, True]
    app = make_app(specs[0])
    try:
        assert [call(app, "GET", "/")[2] for _ in range(2)] == [NEW] * 2
        assert (app.fresh, app.recycled) == (2, 0)
    finally:
        app.close()
    # an app's setting: with --config it belongs in the manifest
    r = CliRunner().invoke(cli, ["serve", "--config", str(manifest), "--no-recycle"])
    assert r.exit_code == 2 and "--recycle sets one app's limit" in r.output


def test_an_inline_call_given_up_drops_its_sandbox(monkeypatch):
    # every call counts as short (inline), with a long bound: count.wasm's /print waits (a
    # wasi:io poll), so its inline call is given up and run again in a worker
    monkeypatch.setattr(_app, "INLINE_MAX", 10.0)
    monkeypatch.setattr(_app, "INLINE_TICKS", 30)
    app = ProxyApp(str(COUNT), engine=engine("interp", epoch_interruption=True), max_workers=2)
    try:
        stores = stores_of(app)
        assert call(app, "GET", "/warm")[2] == b"count 1"           # (in a worker)
        assert call(app, "GET", "/print")[2] == b"count 1"
        assert app.given_up == 1
        warm, given_up, worker = stores
        assert given_up is warm and given_up.closed              # taken inline, then dropped
        assert worker is not given_up and not worker.closed      # the worker's run: kept
    finally:
        app.close()
