"""WASI 0.2 streams, poll and the asyncio host, on wasmforge's two tiers, with the stream-test
component (tests/wasip2/streams_kit.wat): the round trip of a line fed to a running guest
through ``WasiConfig.stdin_pipe()`` and read back from ``stdout_pipe()``; 4 MiB written by a
guest that respects ``check-write``'s permits into a pipe the host drains; the CPU a 0.5 s
sleep in ``wasi:io/poll`` costs; a small call blocking and through ``call_async``; and how
often a 10 ms asyncio ticker runs while a guest sleeps 1 s in ``poll``.
Usage (from the repository root): python benchmarks/bench_wasip2_io.py"""

from __future__ import annotations

import asyncio
import statistics
import threading
import time
from pathlib import Path

import wasmforge
from wasmforge import component as C

KIT = (Path(__file__).resolve().parent.parent / "tests" / "wasip2" / "streams_kit.wat").read_text()


def guest(engine, linker):
    store = wasmforge.Store(engine)
    wasi = wasmforge.WasiConfig()
    stdin, stdout = wasi.stdin_pipe(), wasi.stdout_pipe()
    store.set_wasi(wasi)
    inst = linker.instantiate(store, C.Component(engine, KIT))
    return store, inst, stdin, stdout


def measure(tier: str) -> str:
    config = wasmforge.Config()
    config.strategy = tier
    engine = wasmforge.Engine(config)
    linker = C.Linker(engine)
    linker.add_wasip2()

    store, inst, stdin, stdout = guest(engine, linker)
    echo = threading.Thread(target=inst.get_func(store, "echo"), args=(store,))
    echo.start()
    n = 500
    t0 = time.perf_counter()
    for i in range(n):
        stdin.write(b"line %d\n" % i)
        assert stdout.readline(timeout=10) == b"line %d\n" % i
    round_trip = (time.perf_counter() - t0) / n
    stdin.close()
    echo.join()

    store, inst, stdin, stdout = guest(engine, linker)
    total = 4 << 20
    got = [0]

    def drain() -> None:
        while got[0] < total:
            got[0] += len(stdout.read(1 << 16, timeout=30))
    reader = threading.Thread(target=drain)
    reader.start()
    t0 = time.perf_counter()
    waits = inst.get_func(store, "pump")(store, total)
    pump = time.perf_counter() - t0
    reader.join()

    t0, c0 = time.monotonic(), time.process_time()
    inst.get_func(store, "poll-in")(store, 500_000_000)
    sleep_wall, sleep_cpu = time.monotonic() - t0, time.process_time() - c0

    small = inst.get_func(store, "poll-mixed")
    blocking = []
    for _ in range(200):
        t0 = time.perf_counter()
        small(store, 0)
        blocking.append(time.perf_counter() - t0)

    async def run_async():
        times = []
        for _ in range(200):
            t0 = time.perf_counter()
            await small.call_async(store, 0)
            times.append(time.perf_counter() - t0)
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1
        task = asyncio.create_task(ticker())
        await inst.get_func(store, "poll-in").call_async(store, 1_000_000_000)
        task.cancel()
        return times, ticks
    times, ticks = asyncio.run(run_async())
    return (f"{tier:6} echo round trip {round_trip * 1e6:.0f} us/line | pump 4 MiB {pump:.2f} s "
            f"({total / pump / 1e6:.1f} MB/s, {waits} waits on a permit of 0) | poll sleep 0.5 s: "
            f"{sleep_wall:.2f} s wall, {sleep_cpu * 1e3:.0f} ms CPU | small call: blocking median "
            f"{statistics.median(blocking) * 1e6:.0f} us, call_async median {statistics.median(times) * 1e6:.0f} us "
            f"| ticker during a 1 s guest poll: {ticks} ticks of 10 ms")


if __name__ == "__main__":
    for tier in ("interp", "llvm"):
        print(measure(tier))
