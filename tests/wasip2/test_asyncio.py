"""The asyncio host (wasmforge.api.aio): ``await func.call_async(store, ...)`` for component
and core functions, ``async def`` host functions run on the event loop, the loop kept
responsive while a guest sleeps in wasi:io/poll, one thread per store at a time, and
cancellation.  Every test is bounded in time (asyncio.wait_for)."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from pathlib import Path

import pytest

import wasmforge
from wasmforge import component as C
from wasmforge.errors import StoreBusyError, Trap, WasmError

from support import tier_params

KIT = (Path(__file__).parent / "streams_kit.wat").read_text()

#: a component calling its host import once: run(x) = host-add(x) + 1
HOST_CALLER = """
(component
  (import "host-add" (func $h (param "x" u32) (result u32)))
  (core func $hl (canon lower (func $h)))
  (core module $m
    (import "" "h" (func $h (param i32) (result i32)))
    (func (export "run") (param i32) (result i32) (i32.add (call $h (local.get 0)) (i32.const 1)))
    (func (export "boom") unreachable))
  (core instance $i (instantiate $m (with "" (instance (export "h" (func $hl))))))
  (func (export "run") (param "x" u32) (result u32) (canon lift (core func $i "run")))
  (func (export "boom") (canon lift (core func $i "boom"))))
"""

#: a core module calling its host import: run(x) = env.f(x) * 2
CORE_CALLER = """
(module
  (import "env" "f" (func $f (param i32) (result i32)))
  (func (export "run") (param i32) (result i32) (i32.mul (call $f (local.get 0)) (i32.const 2)))
  (func (export "id") (param i32) (result i32) (local.get 0)))
"""


def engine_for(tier):
    config = wasmforge.Config()
    config.strategy = tier
    return wasmforge.Engine(config)


def streams_guest(tier, stdout=None):
    """The kit with a stdin pipe: its store, instance and pipe; ``stdout``, a list, receives
    a stdout pipe."""
    engine = engine_for(tier)
    store = wasmforge.Store(engine)
    wasi = wasmforge.WasiConfig()
    stdin = wasi.stdin_pipe()
    if stdout is not None:
        stdout.append(wasi.stdout_pipe())
    store.set_wasi(wasi)
    linker = C.Linker(engine)
    linker.add_wasip2()
    inst = linker.instantiate(store, C.Component(engine, KIT))
    return store, inst, stdin


def host_caller(tier, host_add):
    engine = engine_for(tier)
    store = wasmforge.Store(engine)
    linker = C.Linker(engine)
    with linker.root() as root:
        root.add_func("host-add", host_add)
    inst = linker.instantiate(store, C.Component(engine, HOST_CALLER))
    return store, inst


def run(coro, timeout=20):
    return asyncio.run(asyncio.wait_for(coro, timeout))


class Ticker:
    """A task of the running loop counting the ``period``s that pass (a loop blocked by a
    guest counts none)."""

    def __init__(self, period):
        self.ticks = 0
        self._task = asyncio.create_task(self._count(period))

    async def _count(self, period):
        while True:
            await asyncio.sleep(period)
            self.ticks += 1

    def stop(self):
        self._task.cancel()
        return self.ticks


@pytest.mark.parametrize("tier", tier_params())
def test_the_loop_keeps_running_while_a_guest_sleeps_in_poll(tier):
    store, inst, _ = streams_guest(tier)
    poll_in = inst.get_func(store, "poll-in")

    async def main():
        ticker = Ticker(0.01)
        t0 = time.monotonic()
        ready = await poll_in.call_async(store, 300_000_000)     # stdin empty: the timer
        elapsed = time.monotonic() - t0
        return ready, elapsed, ticker.stop()
    ready, elapsed, ticks = run(main())
    assert ready == [1] and elapsed >= 0.3
    assert ticks >= 5                   # the ticker ran all along (30 at best; a blocked loop: 0)


@pytest.mark.parametrize("tier", tier_params())
def test_a_guest_waiting_on_stdin_is_fed_by_another_task(tier):
    store, inst, stdin = streams_guest(tier)

    async def main():
        async def feed():
            await asyncio.sleep(0.1)
            stdin.write(b"from a task")
        feeder = asyncio.create_task(feed())
        ready = await inst.get_func(store, "poll-in").call_async(store, 10**10)
        await feeder
        return ready, await inst.get_func(store, "read").call_async(store, 100)
    assert run(main()) == ([0], b"from a task")


@pytest.mark.parametrize("tier", tier_params())
def test_async_host_functions_run_on_the_event_loop(tier):
    seen = {}

    async def host_add(store, x):
        seen["thread"] = threading.get_ident()
        await asyncio.sleep(0.05)
        item = await seen["queue"].get()        # served by another task of the loop
        return x + item
    store, inst = host_caller(tier, host_add)

    async def main():
        seen["loop"] = threading.get_ident()
        seen["queue"] = asyncio.Queue()

        async def producer():
            await asyncio.sleep(0.1)
            await seen["queue"].put(100)
        asyncio.create_task(producer())
        return await inst.get_func(store, "run").call_async(store, 5)
    assert run(main()) == 106
    assert seen["thread"] == seen["loop"]


@pytest.mark.parametrize("tier", tier_params())
def test_core_functions_and_async_host_functions(tier):
    engine = engine_for(tier)
    store = wasmforge.Store(engine)
    linker = wasmforge.Linker(engine)
    i32 = wasmforge.ValType.i32()

    async def f(x):
        await asyncio.sleep(0.01)
        return x + 1
    linker.define_func("env", "f", wasmforge.FuncType([i32], [i32]), f)
    exports = linker.instantiate(store, wasmforge.Module(engine, CORE_CALLER)).exports(store)
    assert run(exports["run"].call_async(store, 20)) == 42
    # called synchronously outside any event loop, the coroutine runs in a loop of its own
    assert exports["run"](store, 1) == 4

    async def on_the_loop():
        return exports["run"](store, 1)         # a blocking call on the loop's own thread
    with pytest.raises(WasmError, match="call_async"):
        run(on_the_loop())


@pytest.mark.parametrize("tier", tier_params())
def test_exceptions_propagate_typed_and_unchanged(tier):
    async def host_add(store, x):
        raise KeyError("from the host coroutine")
    store, inst = host_caller(tier, host_add)
    with pytest.raises(KeyError, match="from the host coroutine"):
        run(inst.get_func(store, "run").call_async(store, 1))
    store, inst = host_caller(tier, host_add)
    with pytest.raises(Trap, match="unreachable"):
        run(inst.get_func(store, "boom").call_async(store))


@pytest.mark.parametrize("tier", tier_params())
def test_a_store_busy_in_one_thread_refuses_calls_from_others(tier):
    store, inst, stdin = streams_guest(tier)
    poll_in = inst.get_func(store, "poll-in")

    async def main():
        first = asyncio.create_task(poll_in.call_async(store, 10**10))
        await asyncio.sleep(0.1)
        with pytest.raises(StoreBusyError, match="single-threaded"):
            await poll_in.call_async(store, 0)
        with pytest.raises(StoreBusyError):
            poll_in(store, 0)                   # a blocking call from the loop's thread
        errors = []

        def other_thread():
            try:
                poll_in(store, 0)
            except StoreBusyError as exc:
                errors.append(exc)
        t = threading.Thread(target=other_thread)
        t.start()
        t.join(5)
        assert len(errors) == 1
        stdin.write(b"x")
        assert await first == [0]
        return await poll_in.call_async(store, 0)       # free again
    assert run(main()) == [0, 1]


@pytest.mark.parametrize("tier", tier_params())
def test_a_core_store_busy_with_an_async_call_refuses_a_blocking_call(tier):
    engine = engine_for(tier)
    store = wasmforge.Store(engine)
    linker = wasmforge.Linker(engine)
    i32 = wasmforge.ValType.i32()
    release = threading.Event()

    async def f(x):
        await asyncio.get_running_loop().run_in_executor(None, release.wait, 5)
        return x
    linker.define_func("env", "f", wasmforge.FuncType([i32], [i32]), f)
    exports = linker.instantiate(store, wasmforge.Module(engine, CORE_CALLER)).exports(store)

    async def main():
        task = asyncio.create_task(exports["run"].call_async(store, 3))
        await asyncio.sleep(0.1)
        with pytest.raises(StoreBusyError):
            exports["id"](store, 1)
        release.set()
        return await task, exports["id"](store, 7)
    assert run(main()) == (6, 7)


@pytest.mark.parametrize("tier", tier_params())
def test_cancelling_the_task_wakes_a_guest_sleeping_in_poll(tier):
    store, inst, _ = streams_guest(tier)
    poll_in = inst.get_func(store, "poll-in")

    async def main():
        task = asyncio.create_task(poll_in.call_async(store, 10**10))
        await asyncio.sleep(0.1)
        t0 = time.monotonic()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        while store._guest_thread is not None:  # the guest's thread ends promptly
            assert time.monotonic() - t0 < 5
            await asyncio.sleep(0.01)
    run(main())
    other, inst2, _ = streams_guest(tier)
    assert run(inst2.get_func(other, "poll-in").call_async(other, 0)) == [1]


@pytest.mark.parametrize("tier", tier_params())
def test_an_async_host_function_may_call_back_into_its_store(tier):
    engine = engine_for(tier)
    store = wasmforge.Store(engine)
    linker = wasmforge.Linker(engine)
    i32 = wasmforge.ValType.i32()
    helper = linker.instantiate(store, wasmforge.Module(engine, CORE_CALLER.replace(
        '(import "env" "f" (func $f (param i32) (result i32)))', '(func $f (param i32) (result i32) (local.get 0))')))
    ident = helper.exports(store)["id"]

    async def f(x):
        return await ident.call_async(store, x + 10)    # served by the waiting guest's thread
    linker.define_func("env", "f", wasmforge.FuncType([i32], [i32]), f)
    exports = linker.instantiate(store, wasmforge.Module(engine, CORE_CALLER)).exports(store)
    assert run(exports["run"].call_async(store, 1)) == 22


@pytest.mark.parametrize("tier", tier_params())
def test_guests_in_separate_stores_wait_concurrently(tier):
    guests = [streams_guest(tier) for _ in range(4)]

    async def main():
        t0 = time.monotonic()
        results = await asyncio.gather(*(inst.get_func(store, "poll-in").call_async(store, 300_000_000)
                                         for store, inst, _ in guests))
        return results, time.monotonic() - t0
    results, elapsed = run(main())
    assert results == [[1]] * 4
    assert elapsed < 1.2                # four 0.3 s sleeps at once, not one after another


@pytest.mark.parametrize("tier", tier_params())
def test_an_async_host_feeds_and_reads_a_running_guest_line_by_line(tier):
    outs = []
    store, inst, stdin = streams_guest(tier, stdout=outs)
    stdout = outs[0]
    echo = inst.get_func(store, "echo")

    async def main():
        ticker = Ticker(0.005)
        guest = asyncio.create_task(echo.call_async(store))
        answers = []
        for i in range(10):
            await stdin.write_async(f"async line {i}\n")
            answers.append(await stdout.readline_async(timeout=10))    # before the next line
        with pytest.raises(TimeoutError):
            await stdout.read_async(timeout=0.05)                      # nothing more yet
        await stdin.write_async(b"tail")
        stdin.close()
        total = await guest
        stdout.close()
        rest = [line async for line in stdout]
        return answers, total, rest, ticker.stop()
    answers, total, rest, ticks = run(main())
    assert answers == [f"async line {i}\n".encode() for i in range(10)]
    assert rest == [b"tail"] and total == sum(len(a) for a in answers) + 4
    assert ticks > 0                    # the loop ran other tasks meanwhile


#: a preview1 module waiting in poll_oneoff on stdin (userdata 7) and a clock of `ns` (userdata 9)
POLL_P1 = """
(module
  (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "wait") (param $ns i64) (result i64)
    (i64.store (i32.const 0) (i64.const 7))
    (i32.store8 (i32.const 8) (i32.const 1))            ;; fd_read
    (i32.store (i32.const 16) (i32.const 0))            ;; of fd 0
    (i64.store (i32.const 48) (i64.const 9))
    (i32.store8 (i32.const 56) (i32.const 0))           ;; clock
    (i32.store (i32.const 64) (i32.const 1))            ;; monotonic
    (i64.store (i32.const 72) (local.get $ns))          ;; relative timeout
    (drop (call $poll (i32.const 0) (i32.const 256) (i32.const 2) (i32.const 512)))
    (i64.load (i32.const 256))))                        ;; the first event's userdata
"""


@pytest.mark.parametrize("tier", tier_params())
def test_a_preview1_guest_in_poll_oneoff_on_a_stdin_pipe_under_asyncio(tier):
    engine = engine_for(tier)
    store = wasmforge.Store(engine)
    wasi = wasmforge.WasiConfig()
    stdin = wasi.stdin_pipe()
    store.set_wasi(wasi)
    linker = wasmforge.Linker(engine)
    linker.define_wasi()
    wait = linker.instantiate(store, wasmforge.Module(engine, POLL_P1)).exports(store)["wait"]

    async def main():
        assert await wait.call_async(store, 50_000_000) == 9             # the clock: stdin is empty
        feeder = asyncio.get_running_loop().call_later(0.1, stdin.write, b"!")
        assert await wait.call_async(store, 10**10) == 7                 # woken by the pipe
        feeder.cancel()
        os.read(stdin.guest_fd, 10)
        task = asyncio.create_task(wait.call_async(store, 10**10))       # nothing will come
        await asyncio.sleep(0.1)
        t0 = time.monotonic()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        while store._guest_thread is not None:  # the cancelled guest's thread ends promptly
            assert time.monotonic() - t0 < 5
            await asyncio.sleep(0.01)
        return await wait.call_async(store, 0)  # the store is usable again (a core module)
    assert run(main()) == 9


@pytest.mark.parametrize("tier", tier_params())
def test_nested_async_host_functions_in_one_store(tier):
    # A.run -> async f -> call_async(B.run) -> async g: the guest's thread serves B.run while
    # it waits for f, and waits for g inside it
    engine = engine_for(tier)
    store = wasmforge.Store(engine)
    i32 = wasmforge.ValType.i32()
    ty = wasmforge.FuncType([i32], [i32])
    threads = set()

    async def g(x):
        await asyncio.sleep(0.01)
        threads.add(threading.get_ident())
        return x + 1
    inner = wasmforge.Linker(engine)
    inner.define_func("env", "f", ty, g)
    b_run = inner.instantiate(store, wasmforge.Module(engine, CORE_CALLER)).exports(store)["run"]

    async def f(x):
        threads.add(threading.get_ident())
        return await b_run.call_async(store, x)
    outer = wasmforge.Linker(engine)
    outer.define_func("env", "f", ty, f)
    a_run = outer.instantiate(store, wasmforge.Module(engine, CORE_CALLER)).exports(store)["run"]

    async def main():
        return await a_run.call_async(store, 1), threading.get_ident()
    result, loop_thread = run(main())
    assert result == 8 and threads == {loop_thread}
