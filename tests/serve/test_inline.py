"""Where a request runs (docs/serve.md, "Where a request runs"): a short request's guest call
on the event loop's own thread (``ProxyApp._inline``), bounded and speculative: given up and
run again in a worker thread when it reaches its bound or would wait, with nothing it did
seen twice; the other requests in the worker threads as before.  tests/serve/fixtures/count.wasm
answers ``count N`` (its global request counter: 1 in a fresh instance) and, for ``/print``,
writes a line to stderr and waits 20 ms first."""

from __future__ import annotations

import asyncio
import gc
import time
from pathlib import Path

import pytest

import wasmforge
from wasmforge.serve import ProxyApp, _app, _pool
from wasmforge.serve._router import make_app

from support import engine_for
from serve.test_ops import TIERS, TINY, call, spec, tier_param

COUNT = Path(__file__).resolve().parent / "fixtures" / "count.wasm"


def messages(app, path):
    """One GET through the ASGI app: the messages it sent."""
    sent: list = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)
    scope = {"type": "http", "method": "GET", "path": path, "raw_path": path.encode(), "query_string": b"",
             "headers": [(b"host", b"test.local")], "scheme": "http", "extensions": {}}
    asyncio.run(asyncio.wait_for(app(scope, receive, send), 60))
    return sent


@pytest.fixture
def quick(monkeypatch):
    # every call counts as short here, and its bound is long (0.3 s): what runs inline is not
    # the machine's speed, nor a preemption past a bound of 50 ms on a busy machine
    monkeypatch.setattr(_app, "INLINE_MAX", 10.0)
    monkeypatch.setattr(_app, "INLINE_TICKS", 30)


@pytest.mark.parametrize("tier", TIERS)
def test_short_requests_run_inline_each_in_a_fresh_instance(tier, quick):
    app = ProxyApp(COUNT, engine=engine_for(tier_param(tier), epoch_interruption=True), max_workers=2)
    try:
        sent, inline = [], []
        for _ in range(12):
            before = app.inlined
            sent.append(messages(app, "/n"))
            inline.append(app.inlined > before)
        # the first call runs in a worker; the others inline, but for one given up now and then
        # because a busy machine preempted it past its bound (then run again in a worker)
        assert not inline[0] and sum(inline) >= 9 and sum(inline) + app.given_up == 11
        for got in sent:
            assert got[0]["type"] == "http.response.start" and got[0]["status"] == 200
            assert b"".join(m.get("body", b"") for m in got) == b"count 1"
        # an inline call's response is whole when it is sent: its two chunks in one message,
        # with its end
        for got, was_inline in zip(sent, inline):
            if was_inline:
                assert got[1:] == [{"type": "http.response.body", "body": b"count 1", "more_body": False}]
    finally:
        app.close()


def test_a_call_that_would_wait_is_run_again_in_a_worker_and_seen_once(quick, capfd):
    app = ProxyApp(COUNT, engine=engine_for("interp", epoch_interruption=True), max_workers=2)
    try:
        assert call(app, "GET", "/warm")[::2] == (200, b"count 1")
        capfd.readouterr()
        assert call(app, "GET", "/print")[::2] == (200, b"count 1")
        # the inline call wrote its line (held) and then waited: given up, its line dropped;
        # the worker's run wrote it to the server's stderr, once
        assert (app.inlined, app.given_up) == (0, 1)
        assert capfd.readouterr().err == "count printed\n"
        # the path goes to the worker threads for a while: not tried inline again
        assert call(app, "GET", "/print")[::2] == (200, b"count 1")
        assert app.given_up == 1
        assert capfd.readouterr().err == "count printed\n"
        assert call(app, "GET", "/other")[::2] == (200, b"count 1")
        assert app.inlined == 1
    finally:
        app.close()


@pytest.mark.parametrize("tier", TIERS)
def test_a_looping_call_is_given_up_inline_and_the_others_go_on(tier, quick):
    app = ProxyApp(TINY, engine=engine_for(tier_param(tier), epoch_interruption=True), max_workers=2,
                   timeout=1.0)

    async def get(path):
        sent: list = []

        async def receive():
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message):
            sent.append(message)
        scope = {"type": "http", "method": "GET", "path": path, "raw_path": path.encode(), "query_string": b"",
                 "headers": [], "scheme": "http", "extensions": {}}
        t = time.monotonic()
        await app(scope, receive, send)
        return sent[0]["status"], b"".join(m.get("body", b"") for m in sent), time.monotonic() - t

    async def run():
        first = await get("/warm")
        loop = asyncio.create_task(get("/loop"))
        await asyncio.sleep(0)
        others = [await get(f"/n{k}") for k in range(5)]
        return first, await loop, others
    try:
        first, looped, others = asyncio.run(run())
        assert first[:2] == (200, b"tiny-v1 /warm")
        # bounded inline (a few ticks), then in a worker until its deadline: a 500 at 1 s
        assert looped[0] == 500 and 0.9 <= looped[2] < 1.5
        assert app.given_up == 1
        # the short ones ran inline meanwhile, answered long before the loop's deadline
        assert [o[:2] for o in others] == [(200, f"tiny-v1 /n{k}".encode()) for k in range(5)]
        assert max(o[2] for o in others) < 0.5
        assert app.inlined == 5
    finally:
        app.close()


def test_a_deadline_within_the_inline_bound_is_the_answer(quick):
    # a timeout shorter than the inline bound: reaching it inline is the request's 500, not a
    # call run again
    app = ProxyApp(TINY, engine=engine_for("interp", epoch_interruption=True), max_workers=2, timeout=0.02)
    app._costs.append(0.001)        # as if a short call had run: this one runs inline
    try:
        assert call(app, "GET", "/loop")[0] == 500
        assert (app.inlined, app.given_up) == (1, 0)
    finally:
        app.close()


def test_requests_with_a_body_or_apps_with_their_own_wasi_run_in_workers(quick):
    app = ProxyApp(COUNT, engine=engine_for("interp", epoch_interruption=True), max_workers=2)
    try:
        assert call(app, "POST", "/a", b"data")[::2] == (200, b"count 1")     # no content-length: read first
        assert app.inlined == 0
    finally:
        app.close()
    own = ProxyApp(COUNT, engine=engine_for("interp", epoch_interruption=True), max_workers=2,
                   wasi=wasmforge.WasiConfig)
    try:
        assert not own.inline
        assert [call(own, "GET", "/a")[2] for _ in range(3)] == [b"count 1"] * 3
    finally:
        own.close()
    # no epochs, no bound: never inline
    plain = ProxyApp(COUNT, engine=engine_for("interp"), max_workers=2)
    try:
        assert not plain.inline
    finally:
        plain.close()


def test_an_app_follows_its_artifacts_epoch_setting_when_it_has_no_timeout(tmp_path):
    config = wasmforge.Config()
    config.strategy = "interp"
    artifact = tmp_path / "tiny.cwasm"
    artifact.write_bytes(wasmforge.component.Component.from_file(wasmforge.Engine(config), str(TINY)).serialize())
    app = make_app(spec("aot", "/", source=artifact, allow_precompiled=True))
    try:
        assert not app.engine.epoch_interruption and not app.inline
        assert call(app, "GET", "/a")[2] == b"tiny-v1 /a"
    finally:
        app.close()
    app = make_app(spec("wasm", "/"))
    try:
        assert app.engine.epoch_interruption and app.inline
    finally:
        app.close()
    # a big component's requests are never short: no epoch checks for nothing
    big = tmp_path / "big.wasm"
    big.write_bytes(TINY.read_bytes())
    assert _app.epochs_for(big, None)
    with open(big, "ab") as f:      # a custom section of 4 MiB at its end
        f.write(b"\x00" + bytes([0x80, 0x80, 0x80, 0x02]) + b"\x03pad" + bytes((4 << 20) - 4))
    assert _app.epochs_for(big, None) is False and _app.epochs_for(big, 5.0)
    app = make_app(spec("big", "/", source=big))
    try:
        assert not app.engine.epoch_interruption and not app.inline
        assert call(app, "GET", "/a")[2] == b"tiny-v1 /a"
    finally:
        app.close()


def test_small_apps_collect_the_young_generations_when_idle(monkeypatch):
    threshold = gc.get_threshold()
    frozen = gc.get_freeze_count()
    try:
        small = _pool.Collector(big=10 ** 9)
        small.install()
        big = _pool.Collector((12345, 4, 2), big=0)
        big.install()
    finally:
        gc.set_threshold(*threshold)
        if gc.get_freeze_count() != frozen:
            gc.unfreeze()
    assert small.young and not big.young
    done: list = []
    monkeypatch.setattr(_pool.gc, "freeze", lambda: done.append("freeze"))
    monkeypatch.setattr(_pool.gc, "collect", lambda *a: done.append(a) or 0)
    small.until = big.until = 1
    for c in (small, big):
        c.request_ended(0)          # the first: a freeze
        c.request_ended(1)          # another request in progress: nothing
        c.request_ended(0)
    assert done == [(), "freeze", (1,), (), "freeze"]
