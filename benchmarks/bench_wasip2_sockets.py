"""wasi:sockets throughput and round trips on loopback (docs/wasi.md, "Sockets").

    PYTHONPATH=src python benchmarks/bench_wasip2_sockets.py [MiB]

1. A TCP output stream of the WASI 0.2 host (called as a lifted guest calls it: check-write,
   write, subscribe/block) sends MiB to a Python reader thread; an input stream reads MiB from a
   Python writer.
2. The test component (tests/component/wasip2_sockets_kit.wat) calls ``echo`` 200 times
   against a Python echo server thread, on each tier: create, connect, write, read, drop.
"""

from __future__ import annotations

import socket
import sys
import threading
import time
from pathlib import Path

import wasmforge
from wasmforge import component as C
from wasmforge.component import Record, Variant
from wasmforge.wasip2 import instance_of, io, p2_ctx

KIT = Path(__file__).resolve().parent.parent / "tests" / "component" / "wasip2_sockets_kit.wat"


def host(port_grant):
    store = wasmforge.Store(wasmforge.Engine())
    wasi = wasmforge.WasiConfig()
    wasi.allow_tcp("127.0.0.1", port_grant)
    store.set_wasi(wasi)
    ctx = p2_ctx(store)

    def fn(iface, name):
        return instance_of(ctx, f"wasi:sockets/{iface}").exports[name].fn
    return store, ctx, fn


def connect(ctx, fn, port):
    net = fn("instance-network", "instance-network")()
    sock = fn("tcp-create-socket", "create-tcp-socket")("ipv4")
    fn("tcp", "[method]tcp-socket.start-connect")(sock, net, Variant("ipv4", Record(port=port, address=(127, 0, 0, 1))))
    ctx.get(fn("tcp", "[method]tcp-socket.subscribe")(sock), io.Pollable).block()
    i, o = fn("tcp", "[method]tcp-socket.finish-connect")(sock)
    return sock, ctx.get(i, io.InputStream), ctx.get(o, io.OutputStream)


def streams(mib: int) -> None:
    size = mib << 20
    srv = socket.create_server(("127.0.0.1", 0))
    port = srv.getsockname()[1]
    got = []

    def sink():
        conn, _ = srv.accept()
        n = 0
        while True:
            data = conn.recv(1 << 20)
            if not data:
                break
            n += len(data)
        got.append(n)
    reader = threading.Thread(target=sink)
    reader.start()
    _store, ctx, fn = host(None)
    sock, _, out = connect(ctx, fn, port)
    chunk = b"x" * (1 << 16)
    sent = 0
    t0, c0 = time.perf_counter(), time.process_time()
    while sent < size:
        n = out.check_write()
        if n == 0:
            out.subscribe().block()
            continue
        out.write(chunk[:n])
        sent += n
    out.blocking_flush()
    fn("tcp", "[method]tcp-socket.shutdown")(sock, "send")
    reader.join()
    wall = time.perf_counter() - t0
    print(f"TCP output stream -> Python: {sent >> 20} MiB in {wall:.2f} s = {sent / wall / 2**20:.0f} MiB/s "
          f"({time.process_time() - c0:.2f} s CPU); the reader got {got[0] >> 20} MiB")

    def source():
        conn, _ = srv.accept()
        conn.sendall(b"y" * size)
        conn.close()
    writer = threading.Thread(target=source)
    writer.start()
    _, inp, _ = connect(ctx, fn, port)
    n = 0
    t0 = time.perf_counter()
    try:
        while True:
            n += len(inp.read(1 << 20, True))
    except io.StreamError:
        pass
    wall = time.perf_counter() - t0
    writer.join()
    srv.close()
    print(f"Python -> TCP input stream: {n >> 20} MiB in {wall:.2f} s = {n / wall / 2**20:.0f} MiB/s")


def echo(calls: int = 200) -> None:
    srv = socket.create_server(("127.0.0.1", 0))
    port = srv.getsockname()[1]

    def serve():
        while True:
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            with conn:
                conn.sendall(conn.recv(100).upper())
    threading.Thread(target=serve, daemon=True).start()
    for tier in ("interp", "llvm"):
        config = wasmforge.Config()
        config.strategy = tier
        engine = wasmforge.Engine(config)
        store = wasmforge.Store(engine)
        wasi = wasmforge.WasiConfig()
        wasi.allow_tcp("127.0.0.1", port)
        store.set_wasi(wasi)
        linker = C.Linker(engine)
        linker.add_wasip2()
        f = linker.instantiate(store, C.Component(engine, KIT.read_text())).get_func(store, "echo")
        assert f(store, port, b"warm") == b"WARM"
        t0 = time.perf_counter()
        for _ in range(calls):
            f(store, port, b"hello")
        print(f"{tier}: {(time.perf_counter() - t0) / calls * 1e3:.2f} ms per echo (create, connect, write, "
              f"read, drop)")
    srv.close()


if __name__ == "__main__":
    streams(int(sys.argv[1]) if len(sys.argv) > 1 else 64)
    echo()
