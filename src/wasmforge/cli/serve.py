"""``wasmforge serve APP.wasm [--addr HOST:PORT]``: serve a ``wasi:http/proxy`` component over
HTTP/1.1, a fresh instance per request (``wasmforge.serve.ProxyApp``, run by uvicorn).

The first line on stderr is ``Serving HTTP on http://ADDR/`` once the socket listens (as
``wasmtime serve`` prints; with port 0 it names the port the system chose).  A file that
cannot be read or is not a valid proxy component, an address that cannot be bound, or
uvicorn missing: one line, exit 1.
"""

from __future__ import annotations

import socket
import sys

import click

from ..errors import WasmError
from ._component import describe_component
from ._load import die


def _parse_addr(addr: str) -> tuple:
    host, sep, port = addr.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise click.BadParameter(f"expected HOST:PORT, got {addr!r}", param_hint="--addr")
    return host.strip("[]") or "0.0.0.0", int(port)


@click.command("serve")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--addr", default="0.0.0.0:8080", show_default=True, metavar="HOST:PORT",
              help="The address to listen on (port 0: any free port).")
@click.option("--tier", type=click.Choice(["auto", "interp", "llvm"]), default=None,
              help="Execution tier (default: WASMFORGE_STRATEGY or auto).")
@click.option("--max-workers", type=click.IntRange(1, 1024), default=8, show_default=True,
              help="Requests whose handlers run at once (worker threads).")
@click.option("--max-queue", type=click.IntRange(0), default=64, show_default=True,
              help="Requests that may wait for a worker; past that a request gets 503.")
@click.option("--max-request-body", type=click.IntRange(0), default=None, metavar="BYTES",
              help="Refuse request bodies larger than this (the guest's read fails).")
@click.option("--timeout", type=click.FloatRange(0, min_open=True), default=None, metavar="SECONDS",
              help="Wall-clock limit per request (epoch interruption); past it the request gets 500.")
@click.option("--fuel", type=click.IntRange(0), default=None, metavar="N",
              help="Fuel per request (instructions, roughly); running out is a 500.")
@click.option("--max-memory", type=click.IntRange(0), default=None, metavar="BYTES",
              help="The most bytes each linear memory of a request's instance may grow to.")
@click.option("--allow-http", "allow_http", multiple=True, metavar="HOST[:PORT]",
              help="A destination the guest's outgoing HTTP requests may reach (repeatable; none by default).")
def command(file, addr, tier, max_workers, max_queue, max_request_body, timeout, fuel, max_memory, allow_http):
    """Serve FILE, a wasi:http/proxy component, over HTTP: one fresh instance per request."""
    host, port = _parse_addr(addr)
    try:
        import uvicorn   # an optional extra: wasmforge[serve]
    except ImportError:
        die("error: `wasmforge serve` needs uvicorn (pip install 'wasmforge[serve]')")
    # start-up speed: the runtime is loaded when the subcommand runs
    from ..api import Config, Engine
    from ..serve import ProxyApp, parse_allow

    for entry in allow_http:
        try:
            parse_allow(entry)
        except WasmError as exc:
            raise click.BadParameter(str(exc), param_hint="--allow-http") from None
    config = Config()
    if tier is not None:
        config.strategy = tier
    config.epoch_interruption = timeout is not None
    config.consume_fuel = fuel is not None
    try:
        app = ProxyApp(file, engine=Engine(config), max_workers=max_workers, max_queue=max_queue,
                       max_request_body=max_request_body, timeout=timeout, fuel=fuel, memory_limit=max_memory,
                       allow_http=allow_http)
    except OSError as exc:
        die(f"{file}: error: {exc.strerror or exc}")
    except WasmError as exc:
        die(describe_component(file, exc))
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as exc:
        die(f"error: cannot listen on {addr}: {exc.strerror or exc}")
    bound_host, bound_port = sock.getsockname()[:2]
    shown = f"[{bound_host}]" if family == socket.AF_INET6 else bound_host
    print(f"Serving HTTP on http://{shown}:{bound_port}/", file=sys.stderr, flush=True)
    # no Server or Date header of its own: the response headers are exactly the guest's
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on", access_log=False,
                                           server_header=False, date_header=False))
    try:
        server.run(sockets=[sock])
    finally:
        app.close()


__all__ = ["command"]
