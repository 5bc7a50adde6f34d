"""Several apps in one server: :class:`Router`, an ASGI application that hands each request
to the :class:`~wasmforge.serve.ProxyApp` whose route is the longest prefix of its path,
answers the metrics endpoint itself, logs every request, and reloads an app when its file
changes (:class:`Reloader`, polling).

Routes match on path segments: ``/api`` matches ``/api`` and ``/api/users``, not ``/apix``;
``/`` matches every path.  The app sees the request's full path, the route prefix included,
as Spin's components do (and as ``wasmtime serve`` does with its single app): nothing is
stripped, so a handler's links and redirects stay right under any route.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

from ..api.engine import Config, Engine
from ._app import ProxyApp, Receive, Scope, Send, WorkerPool, _plain, epochs_for, lifespan
from ._manifest import AppSpec, Manifest, read_manifest
from ._observe import CONTENT_TYPE, Metrics, RequestRecord, SharedCounters, log_access

log = logging.getLogger("wasmforge.serve")

#: how often :class:`Reloader` looks at the apps' files (seconds)
RELOAD_INTERVAL = 0.5


def make_app(spec: AppSpec, pool: Optional[WorkerPool] = None) -> ProxyApp:
    """The :class:`ProxyApp` of one manifest entry: its own engine (its tier, epochs on
    (:func:`epochs_for`), fuel only if it has fuel), its limits, sharing ``pool``.  Raises what
    loading the file raises (OSError, WasmError)."""
    config = Config()
    if spec.tier is not None:
        config.strategy = spec.tier
    config.epoch_interruption = epochs_for(spec.source, spec.timeout)
    config.consume_fuel = spec.fuel is not None
    return ProxyApp(str(spec.source), engine=Engine(config), name=spec.name, pool=pool,
                    max_request_body=spec.max_request_body, timeout=spec.timeout, fuel=spec.fuel,
                    memory_limit=spec.max_memory, allow_http=spec.allow_http,
                    allow_precompiled=spec.allow_precompiled, recycle=spec.recycle)


def _route_matches(route: str, path: str) -> bool:
    return route == "/" or path == route or path.startswith(route + "/")


class Router:
    """An ASGI application serving ``routes`` (``(route, app)`` pairs; the longest matching
    route wins; no match is a 404) with one :class:`~wasmforge.serve._observe.Metrics`:
    ``metrics_path`` (None: no endpoint) answers ``GET`` with the Prometheus text format.
    Every request is counted and written to the ``wasmforge.serve.access`` logger.
    ``reload_interval`` (seconds; None: never) polls the apps' files and reloads a changed
    one (:class:`Reloader`).  ``pool`` is the apps' shared :class:`WorkerPool`, shut down by
    :meth:`close` (and at the ASGI lifespan's shutdown).  ``shared`` and ``slot``: the metrics
    of a server of several processes, this one counting in ``slot`` (:class:`SharedCounters`)."""

    def __init__(self, routes: Sequence[Tuple[str, ProxyApp]], *, metrics_path: Optional[str] = "/metrics",
                 pool: Optional[WorkerPool] = None, reload_interval: Optional[float] = None,
                 shared: Optional[SharedCounters] = None, slot: int = 0) -> None:
        self.routes = sorted(routes, key=lambda r: len(r[0]), reverse=True)
        self.apps = [app for _, app in routes]
        self.metrics_path = metrics_path
        self.pool = pool
        self.shared = shared
        self.slot = slot
        self.metrics = Metrics([app.name for app in self.apps], self._in_flight, shared, slot)
        for app in self.apps:
            app.observer = self._observe
        self.reloader: Optional[Reloader] = None
        if reload_interval is not None:
            self.reloader = Reloader(self.apps, reload_interval, self.metrics.reloaded)
            self.reloader.start()

    @classmethod
    def from_manifest(cls, manifest: Union[str, "os.PathLike[str]", Manifest]) -> "Router":
        """The router of a manifest (a path, or a :class:`Manifest`): its apps made by
        :func:`make_app` with one pool of the server's ``workers`` and ``queue``, its metrics
        path and its reload setting."""
        if not isinstance(manifest, Manifest):
            manifest = read_manifest(manifest)
        server = manifest.server
        pool = WorkerPool(server.workers, server.queue)
        apps = [(spec.route, make_app(spec, pool)) for spec in manifest.apps]
        return cls(apps, metrics_path=server.metrics, pool=pool,
                   reload_interval=RELOAD_INTERVAL if server.reload else None)

    def route(self, path: str) -> Optional[ProxyApp]:
        """The app serving ``path``, or None."""
        for route, app in self.routes:
            if _route_matches(route, path):
                return app
        return None

    def _in_flight(self) -> Dict[str, int]:
        counts: Dict[str, int] = {}
        for app in self.apps:
            counts[app.name] = counts.get(app.name, 0) + app.active
        return counts

    def _observe(self, record: RequestRecord) -> None:
        if self.shared is not None:
            record.process = self.slot
        self.metrics.observe(record)
        log_access(record)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope.get("type")
        if kind == "lifespan":
            await lifespan(receive, send, self.close)
            return
        path = scope.get("path", "")
        if kind == "http" and self.metrics_path is not None and path == self.metrics_path:
            await self._scrape(scope, send)
            return
        app = self.route(path)
        if app is None:
            if kind != "http":
                return
            t = time.perf_counter()
            await _plain(send, 404, b"Not Found\n")
            self._observe(RequestRecord(None, scope.get("method", ""), path, time.time(), status=404,
                                        bytes_out=10, duration=time.perf_counter() - t, outcome="not-found"))
            return
        if self.shared is None:
            await app(scope, receive, send)
            return
        # the other processes see this one's requests in progress only through the shared cells
        self.metrics.entered(app.name)
        try:
            await app(scope, receive, send)
        finally:
            self.metrics.left(app.name)

    async def _scrape(self, scope: Scope, send: Send) -> None:
        if scope.get("method") not in ("GET", "HEAD"):
            await _plain(send, 405, b"Method Not Allowed\n")
            return
        body = self.metrics.render().encode()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", CONTENT_TYPE.encode()),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body if scope.get("method") == "GET" else b"",
                     "more_body": False})

    def close(self, wait: bool = True) -> None:
        """Stop the reloader, the apps' epoch tickers and the pool's threads (after the calls
        in progress if ``wait``)."""
        if self.reloader is not None:
            self.reloader.stop()
        # the pool first: the apps' tickers go on until a looping call reaches its deadline
        if self.pool is not None:
            self.pool.shutdown(wait=wait)
        for app in self.apps:
            app.close(wait)


def _signature(path: str) -> Optional[Tuple[int, int, int]]:
    # mtime alone misses a file replaced within the clock's resolution, or copied with its
    # times kept; size and inode catch those (a rename over the file is a new inode)
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size, st.st_ino


class Reloader(threading.Thread):
    """A daemon thread that polls the files of ``apps`` every ``interval`` seconds (modification
    time, size and inode) and calls :meth:`ProxyApp.reload` on an app whose file changed.  A
    file that fails to load leaves the app serving what it served, with one error line on the
    ``wasmforge.serve`` logger; it is tried again when it changes again.  ``on_reload(app, ok)``
    is told of each attempt."""

    def __init__(self, apps: Sequence[ProxyApp], interval: float = RELOAD_INTERVAL,
                 on_reload: Optional[Callable[[str, bool], Any]] = None) -> None:
        super().__init__(name="wasmforge-serve-reload", daemon=True)
        self.apps = [app for app in apps if app.source is not None]
        self.interval = interval
        self.on_reload = on_reload
        self._stop_event = threading.Event()
        self._seen: Dict[int, Optional[Tuple[int, int, int]]] = {
            id(app): _signature(app.source) for app in self.apps if app.source is not None}

    def run(self) -> None:
        while not self._stop_event.wait(self.interval):
            self.poll()

    def poll(self) -> List[ProxyApp]:
        """Look at every file once and reload the apps whose file changed; the apps reloaded."""
        done = []
        for app in self.apps:
            if app.source is None:
                continue
            signature = _signature(app.source)
            if signature == self._seen[id(app)]:
                continue
            self._seen[id(app)] = signature
            if signature is None:
                log.error("%s: error: cannot read the file of app %r; still serving the version loaded before",
                          app.source, app.name)
                continue
            try:
                app.reload()
            except Exception as exc:         # whatever the new file is, the old version keeps serving
                reason = " ".join(str(exc).split()) or type(exc).__name__
                log.error("%s: error: app %r not reloaded, still serving the version loaded before: %s",
                          app.source, app.name, reason)
                ok = False
            else:
                log.info("%s: reloaded app %r", app.source, app.name)
                done.append(app)
                ok = True
            if self.on_reload is not None:
                self.on_reload(app.name, ok)
        return done

    def stop(self) -> None:
        """End the polling (the thread exits within one interval)."""
        self._stop_event.set()


__all__ = ["RELOAD_INTERVAL", "Reloader", "Router", "make_app"]
