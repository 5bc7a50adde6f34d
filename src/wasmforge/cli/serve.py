"""``wasmforge serve APP.wasm [--addr HOST:PORT]``: serve a ``wasi:http/proxy`` component over
HTTP/1.1, a fresh instance per request; ``wasmforge serve --config apps.toml``: several apps
routed by path, from a manifest (``wasmforge.serve.Router`` of ``ProxyApp``s, run by uvicorn).

The first line on stderr is ``Serving HTTP on http://ADDR/`` once the socket listens (as
``wasmtime serve`` prints; with port 0 it names the port the system chose), then one line per
app saying what it was loaded from.  A file that cannot be read or is not a valid proxy
component, an artifact (``wasmforge compile``) without ``--allow-precompiled`` (or the app's
``allow_precompiled = true``), a bad manifest, an address that cannot be bound, or uvicorn
missing: one line, exit 1.  SIGTERM or Ctrl-C: stop accepting, let the requests in progress
finish (up to ``--drain-timeout`` seconds), exit 0.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import socket
import sys
import time
import traceback
from pathlib import Path

import click

from ..errors import WasmError
from ..runtime.store import MAX_FUEL
from ._component import describe_component
from . import _load
from ._load import die

#: the options that set one app's limits: with --config they belong in the manifest
_APP_OPTIONS = ("tier", "max_request_body", "timeout", "fuel", "max_memory", "allow_http", "allow_precompiled",
                "recycle")

#: the signals that drain a server
_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def _parse_addr(addr: str) -> tuple:
    from ..serve._manifest import split_addr     # start-up speed: loaded when the command runs
    try:
        return split_addr(addr)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--addr") from None


@click.command("serve")
@click.argument("file", type=click.Path(dir_okay=False), required=False)
@click.option("--config", "config_file", type=click.Path(dir_okay=False), default=None, metavar="APPS.TOML",
              help="Serve the apps of this manifest, each on its route (instead of FILE).")
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
@click.option("--fuel", type=click.IntRange(0, MAX_FUEL), default=None, metavar="N",
              help="Fuel per request (instructions, roughly); running out is a 500.")
@click.option("--max-memory", type=click.IntRange(0), default=None, metavar="BYTES",
              help="The most bytes each linear memory of a request's instance may grow to.")
@click.option("--allow-http", "allow_http", multiple=True, metavar="HOST[:PORT]",
              help="A destination the guest's outgoing HTTP requests may reach (repeatable; none by default).")
@click.option("--allow-precompiled", is_flag=True, default=False,
              help="Allow FILE to be a precompiled artifact (`wasmforge compile`: native code, trusted as is).")
@click.option("--recycle/--no-recycle", default=True, show_default=True,
              help="Put a request's sandbox back to new after it ended cleanly and keep it for a later "
                   "request, where the component allows (--no-recycle: a new instance every request).")
@click.option("--reload/--no-reload", default=None,
              help="Reload an app when its file changes (default: off, or the manifest's [server] reload).")
@click.option("--access-log", default=None, metavar="FILE|-",
              help="Write one JSON line per request to FILE (appended), or to stderr with '-'.")
@click.option("--metrics", "metrics_path", default=None, metavar="PATH",
              help="The path of the Prometheus metrics endpoint (default /metrics).")
@click.option("--no-metrics", is_flag=True, default=False, help="No metrics endpoint.")
@click.option("--drain-timeout", type=click.FloatRange(0), default=None, metavar="SECONDS",
              help="On SIGTERM or Ctrl-C, how long requests in progress may take to finish (default 30).")
@click.option("--processes", type=click.IntRange(1, 256), default=None, metavar="N",
              help="Server processes sharing the socket, each with its own apps and worker threads "
                   "(default: the manifest's [server] processes, else the CPUs this process may use).")
@click.option("--ray", "on_ray", is_flag=True, default=False,
              help="Deploy on Ray Serve (a local cluster, or the one at RAY_ADDRESS) instead of serving here.")
@click.pass_context
def command(ctx, file, config_file, addr, tier, max_workers, max_queue, max_request_body, timeout, fuel,
            max_memory, allow_http, allow_precompiled, recycle, reload, access_log, metrics_path, no_metrics, drain_timeout,
            processes, on_ray):
    """Serve FILE, a wasi:http/proxy component, over HTTP: each request in a new instance (or a recycled one, put back to new).
    With --config, serve the apps of a manifest instead, each on its route."""
    if (file is None) == (config_file is None):
        raise click.UsageError("give either FILE or --config APPS.TOML")
    explicit = {name for name in ctx.params
                if ctx.get_parameter_source(name) is not click.core.ParameterSource.DEFAULT}
    if config_file is not None:
        clash = [name for name in _APP_OPTIONS if name in explicit]
        if clash:
            raise click.UsageError(f"--{clash[0].replace('_', '-')} sets one app's limit: with --config, "
                                   "set it in the manifest's [apps.NAME] table")
    if metrics_path is not None and not metrics_path.startswith("/"):
        raise click.BadParameter(f"expected a path starting with '/', got {metrics_path!r}", param_hint="--metrics")
    _parse_addr(addr)
    if on_ray:
        # Ray (the extra wasmforge[ray]) is imported only here
        from ._serve_ray import serve_on_ray
        serve_on_ray(file, config_file, addr, explicit, tier, max_workers, max_queue, max_request_body, timeout,
                     fuel, max_memory, allow_http, allow_precompiled, recycle)
        return
    try:
        import uvicorn   # an optional extra: wasmforge[serve]
    except ImportError:
        die("error: `wasmforge serve` needs uvicorn (pip install 'wasmforge[serve]')")
    # start-up speed: the runtime is loaded when the subcommand runs
    from ..serve import AppSpec, ManifestError, Router, WorkerPool, make_app, parse_allow, read_manifest
    from ..serve import SharedCounters
    from ..serve._pool import Collector
    from ..serve._router import RELOAD_INTERVAL

    for entry in allow_http:
        try:
            parse_allow(entry)
        except WasmError as exc:
            raise click.BadParameter(str(exc), param_hint="--allow-http") from None

    if config_file is not None:
        try:
            manifest = read_manifest(config_file)
        except ManifestError as exc:
            die(str(exc))
        server = manifest.server
        addr = addr if "addr" in explicit else server.addr
        max_workers = max_workers if "max_workers" in explicit else server.workers
        max_queue = max_queue if "max_queue" in explicit else server.queue
        reload = server.reload if reload is None else reload
        access_log = access_log if "access_log" in explicit else server.access_log
        metrics = server.metrics if metrics_path is None else metrics_path
        drain = server.drain_timeout if drain_timeout is None else drain_timeout
        processes = server.processes if processes is None else processes
        specs = list(manifest.apps)
    else:
        metrics = "/metrics" if metrics_path is None else metrics_path
        drain = 30.0 if drain_timeout is None else drain_timeout
        specs = [AppSpec(name=os.path.splitext(os.path.basename(file))[0], source=Path(file), route="/", tier=tier,
                         timeout=timeout, fuel=fuel, max_memory=max_memory, max_request_body=max_request_body,
                         allow_http=tuple(allow_http), allow_precompiled=allow_precompiled, recycle=recycle)]
    if no_metrics:
        metrics = None
    if processes is None:
        processes = default_processes()

    def build(shared=None, slot=0):
        """The router of the apps, loaded in this process (one line and exit 1 if one cannot be)."""
        pool = WorkerPool(max_workers, max_queue)
        routes = []
        for spec in specs:
            try:
                routes.append((spec.route, make_app(spec, pool)))
            except OSError as exc:
                if config_file is None:
                    die(f"{file}: error: {exc.strerror or exc}")
                die(f"{spec.source}: error: {exc.strerror or exc} (app {spec.name!r} of {config_file})")
            except WasmError as exc:
                die(describe_component(file if config_file is None else str(spec.source), exc))
        router = Router(routes, metrics_path=metrics, pool=pool, reload_interval=RELOAD_INTERVAL if reload else None,
                        shared=shared, slot=slot)
        # The loaded apps (compiled modules, adapters, prepared instances: hundreds of thousands of
        # objects for a componentize-py handler) live as long as the server: frozen, the
        # collector's full collections, which a request's garbage triggers every few requests, stop
        # scanning them (componentize-py handler, llvm tier: instantiation mean 67 -> 43 ms, worst
        # 187 -> 123 ms, benchmarks/bench_component_instantiate.py --gc-freeze).  Only in the
        # command's own process: a host running the command in process keeps its collector.  A
        # reloaded app's old version, if it holds cycles, stays until the server exits.  The
        # requests' garbage and what the first requests leave are the Collector's (serve/_pool.py).
        if _load.OWN_PROCESS:
            pool.collector = Collector()
            pool.collector.install()
        return router, pool

    if processes == 1:
        router, pool = build()
        _setup_logging(access_log)
        sock = _listen(addr)

        def ready():
            _announce(sock, _origins(router))
            return True
        _serve(uvicorn, router, pool, sock, drain, ready)
        return
    # Several processes: this one binds the address, then forks the servers, each loading its
    # own apps and listening on a socket of its own bound to the same address (SO_REUSEPORT:
    # the kernel spreads the connections over the servers by their addresses; one socket
    # shared instead goes mostly to whichever server wakes first, which takes every
    # connection waiting).  This process passes SIGTERM/SIGINT on to them and exits when they
    # have drained.  The access log is opened here, once, in append mode.
    _setup_logging(access_log)
    reuse_port = hasattr(socket, "SO_REUSEPORT")
    sock = _listen(addr, reuse_port=reuse_port)
    shared = SharedCounters([spec.name for spec in specs], processes)

    def serve(slot, ready):
        router, pool = build(shared, slot)
        own = _listen(addr, reuse_port=True, port=sock.getsockname()[1]) if reuse_port else sock
        _serve(uvicorn, router, pool, own, drain, lambda: ready(_origins(router)))
    _Supervisor(processes, shared, serve).run(sock)


def default_processes() -> int:
    """The CPUs this process may run on (a request's Python code holds the interpreter lock:
    one process uses about one core)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def _listen(addr, reuse_port=False, port=None):
    """A socket bound to ``addr`` (``port``: this port instead of the address's) and listening;
    with ``reuse_port``, one of a group (SO_REUSEPORT), and only bound when ``port`` is None:
    the supervisor's, which holds the address for the servers' sockets and accepts nothing."""
    host, addr_port = _parse_addr(addr)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        if reuse_port and port is None:
            # the address must be free, as for one process: with SO_REUSEPORT alone this
            # server would join another one already there (its user's) and share its connections
            with socket.socket(family, socket.SOCK_STREAM) as probe:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                probe.bind((host, addr_port))
                addr_port = probe.getsockname()[1]
        sock.bind((host, addr_port if port is None else port))
        if not reuse_port or port is not None:
            sock.listen(2048)
    except OSError as exc:
        die(f"error: cannot listen on {addr}: {exc.strerror or exc}")
    return sock


def _origins(router):
    """What each app was loaded from: a precompiled artifact, or its binary with the compile
    cache's code (one line each)."""
    route_of = {id(app): route for route, app in router.routes}
    return [f"app {app.name!r} on {route_of[id(app)]}: {app.source} ({app.origin})" for app in router.apps]


def _announce(sock, origins):
    bound_host, bound_port = sock.getsockname()[:2]
    shown = f"[{bound_host}]" if sock.family == socket.AF_INET6 else bound_host
    print(f"Serving HTTP on http://{shown}:{bound_port}/", file=sys.stderr, flush=True)
    # after the first line, which wasmtime's users parse
    for line in origins:
        logging.getLogger("wasmforge.serve").info("%s", line)


def _serve(uvicorn, router, pool, sock, drain, ready):
    """Run ``router`` with uvicorn on ``sock`` until a signal has drained it, after
    ``ready()``, which announces the server (False: a server of a :class:`_Supervisor`
    stopped while loading, do not serve)."""
    # no Server or Date header of its own: the response headers are exactly the guest's;
    # timeout_graceful_shutdown: how long a shutdown waits for the requests in progress
    server = uvicorn.Server(uvicorn.Config(router, log_level="warning", lifespan="on", access_log=False,
                                           server_header=False, date_header=False,
                                           timeout_graceful_shutdown=drain))

    # A SIGTERM/SIGINT once the server is announced, before uvicorn has its own handlers (it
    # installs them inside run(), after loading its protocol modules), asks uvicorn to stop
    # as its handlers would: run() then starts and drains at once.  (Ignored instead, the
    # server served on; left to the default action, it died of the signal.)  uvicorn also
    # raises the signal again after its drain, for the handler that was there before it: this
    # one then does nothing, and a shutdown asked for by a signal is a normal end, exit 0.
    def stop(signum, frame):
        server.should_exit = True
    for sig in _STOP_SIGNALS:
        signal.signal(sig, stop)
    if not ready():
        return
    try:
        server.run(sockets=[sock])
    finally:
        router.close(wait=False)
    if pool.running:
        # a guest still computing past the drain timeout (no deadline of its own): its thread
        # cannot be stopped, and the interpreter would wait for it at exit
        logging.getLogger("wasmforge.serve").warning(
            "exiting with %d request(s) still running after the drain timeout of %s s", pool.running, drain)
        logging.shutdown()
        sys.stderr.flush()
        os._exit(0)


class _Supervisor:
    """The parent of ``wasmforge serve --processes N``: forks the N servers (the first alone,
    so that it fills the compile cache the others then load from; each reports on a pipe once
    its apps are loaded), prints the ``Serving HTTP`` line when all are ready, passes SIGTERM
    and SIGINT on to them as SIGTERM (each drains), starts a server again in its slot if one
    fails (a status other than 0, or a signal) after running a while, and exits when they have
    all ended: 0, or 1 if a server failed to start (it wrote its own one-line error) or failed
    soon after starting."""

    #: a server that dies sooner than this after its start is not started again (seconds)
    MIN_LIFE = 5.0

    def __init__(self, processes, shared, serve):
        self.processes = processes
        self.shared = shared
        self.serve = serve
        self.children = {}          # pid -> (slot, start time)
        self.stopping = False
        self.origins = None         # the first server's _origins

    def _stop_all(self, sig):
        self.stopping = True
        for pid in list(self.children):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass

    def _on_signal(self, signum, frame):
        self._stop_all(signal.SIGTERM)

    def _fork(self, slot):
        """Start the server of ``slot``; its pipe's read end (``ready`` and the server's
        :func:`_origins` once it has loaded its apps, nothing if it failed to)."""
        r, w = os.pipe()
        parent = os.getpid()
        sys.stderr.flush()
        # SIGTERM/SIGINT wait until the new server is in self.children here (else it would not
        # be passed on) and has its own handler there (else the supervisor's, inherited, would
        # run in it)
        held = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                os.close(r)
                _die_with(parent)
                self.stopping = False

                def stop(signum, frame):         # a stop while loading: do not serve
                    self.stopping = True

                def ready(origins):
                    with os.fdopen(w, "w", encoding="utf-8") as out:
                        out.write("\n".join(["ready", *origins]))
                    return not self.stopping
                for sig in _STOP_SIGNALS:
                    signal.signal(sig, stop)
                signal.pthread_sigmask(signal.SIG_SETMASK, held)
                self.serve(slot, ready)
                code = 0
            except SystemExit as exc:        # die(): its line is written
                code = exc.code if isinstance(exc.code, int) else 1
            except BaseException:            # noqa: BLE001 - reported, then this process ends
                traceback.print_exc()
            finally:
                logging.shutdown()
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        os.close(w)
        self.children[pid] = (slot, time.monotonic())
        signal.pthread_sigmask(signal.SIG_SETMASK, held)
        return r

    def _await_ready(self, fds):
        """Whether the servers of ``fds`` all loaded their apps (the first one's origin lines
        in ``self.origins``)."""
        ok = True
        for fd in fds:
            with os.fdopen(fd, encoding="utf-8") as pipe:
                lines = pipe.read().split("\n")
            if lines[0] == "ready":
                if self.origins is None:
                    self.origins = lines[1:]
            else:
                ok = False
        return ok

    def _fail_start(self):
        # a server could not load the apps (its error line is out): end the others, exit 1
        self._stop_all(signal.SIGKILL)
        for pid in list(self.children):
            os.waitpid(pid, 0)
        sys.exit(1)

    def run(self, sock):
        for sig in _STOP_SIGNALS:
            signal.signal(sig, self._on_signal)
        if not self._await_ready([self._fork(0)]):
            self._fail_start()
        if not self._await_ready([self._fork(slot) for slot in range(1, self.processes)]):
            self._fail_start()
        if not self.stopping:
            _announce(sock, self.origins or [])
        log = logging.getLogger("wasmforge.serve")
        failed = False
        while self.children:
            pid, status = os.wait()
            slot, started = self.children.pop(pid, (None, 0.0))
            if slot is None:
                continue
            self.shared.clear_in_flight(slot)
            code = os.waitstatus_to_exitcode(status)
            if self.stopping or code == 0:
                continue        # drained after a signal (its own, or passed on from here)
            if time.monotonic() - started < self.MIN_LIFE:
                log.error("error: server process %d (pid %d) ended with status %d soon after starting; "
                          "not started again", slot, pid, code)
                failed = True
                continue
            log.error("error: server process %d (pid %d) ended with status %d; starting another", slot, pid, code)
            self._await_ready([self._fork(slot)])
        sock.close()
        if failed and not self.stopping:
            sys.exit(1)


def _die_with(parent):
    """In a forked server: end with the parent, however it ends (SIGKILL included), so that no
    server is left holding the port."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)     # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:       # the parent ended before the line above
        os._exit(1)


def _setup_logging(access_log):
    """Errors and reloads (logger ``wasmforge.serve``) on stderr; the access log (JSON lines,
    logger ``wasmforge.serve.access``) to ``access_log`` (a file, '-' for stderr, None: off)."""
    serve_log = logging.getLogger("wasmforge.serve")
    serve_log.setLevel(logging.INFO)
    stderr = logging.StreamHandler(sys.stderr)
    stderr.setFormatter(logging.Formatter("%(message)s"))
    serve_log.addHandler(stderr)
    serve_log.propagate = False
    access = logging.getLogger("wasmforge.serve.access")
    access.propagate = False
    if access_log is None:
        access.setLevel(logging.WARNING)        # the JSON is not even formatted
        return
    if access_log == "-":
        handler = logging.StreamHandler(sys.stderr)
    else:
        try:
            handler = logging.FileHandler(access_log, encoding="utf-8")
        except OSError as exc:
            die(f"{access_log}: error: cannot open the access log: {exc.strerror or exc}")
    handler.setFormatter(logging.Formatter("%(message)s"))
    access.addHandler(handler)
    access.setLevel(logging.INFO)


__all__ = ["command"]
