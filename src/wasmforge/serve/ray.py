"""Scale-out on Ray Serve: each app is a Ray Serve deployment of :class:`ProxyApp` replicas.

A replica is a Ray actor (a process) that loads its component once, when it starts (decoded,
validated, compiled or taken from the compile cache, imports resolved by ``InstancePre``), and
then serves every request it is routed in a fresh store and instance, exactly as
``wasmforge serve`` does on one machine.  Ray Serve's HTTP proxy routes requests by path to the
apps and balances them over an app's replicas; the ASGI application each replica runs is
:class:`ProxyApp` itself, wrapped only to add the header ``x-wasmforge-replica`` naming the
replica that answered (plain ASGI, no FastAPI: ``serve.ingress`` accepts any ASGI callable).

Ray is the optional extra ``wasmforge[ray]``; importing this module imports it.  See
docs/serve.md, "Scale-out on Ray".
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import threading
from typing import Any, Callable, Dict, Iterable, List, Optional

import ray
from ray import serve

from ..errors import ConfigError
from ._app import Message, ProxyApp, Receive, Scope, Send, WorkerPool
from ._manifest import AppSpec
from ._router import make_app

#: the response header naming the replica that answered (``APP#REPLICA-ID``)
REPLICA_HEADER = "x-wasmforge-replica"


def deployment_options(app: AppSpec, max_workers: int = 8) -> Dict[str, Any]:
    """The keyword arguments of ``serve.deployment`` for ``app``: its name, a fixed number of
    replicas or autoscaling bounds, and the CPUs Ray reserves for each replica."""
    options: Dict[str, Any] = {"name": app.name}
    if app.num_cpus is not None:
        options["ray_actor_options"] = {"num_cpus": app.num_cpus}
    if app.autoscaling is not None:
        options["autoscaling_config"] = {"min_replicas": app.autoscaling.min_replicas,
                                         "max_replicas": app.autoscaling.max_replicas}
    else:
        options["num_replicas"] = app.replicas
    # Ray's router holds back what a replica cannot run at once: a burst then spreads over
    # the replicas instead of queueing in the first one (or being refused there with 503)
    options["max_ongoing_requests"] = max_workers
    return options


class ReplicaApp:
    """The ASGI application of one replica: :class:`ProxyApp` over ``app``'s component, made
    when the replica starts (ASGI lifespan startup; at its first request otherwise), adding
    the header :data:`REPLICA_HEADER` to each response.  Ray pickles it to the replicas before
    anything is loaded, so it carries only the :class:`AppSpec` and the worker counts."""

    def __init__(self, app: AppSpec, max_workers: int = 8, max_queue: int = 64) -> None:
        self.app = app
        self.max_workers = max_workers
        self.max_queue = max_queue
        self.proxy: Optional[ProxyApp] = None
        self.pool: Optional[WorkerPool] = None
        self.replica = ""

    def __getstate__(self) -> Dict[str, Any]:
        return {"app": self.app, "max_workers": self.max_workers, "max_queue": self.max_queue}

    def __setstate__(self, state: Dict[str, Any]) -> None:
        self.__dict__.update(state, proxy=None, pool=None, replica="")

    def load(self) -> ProxyApp:
        """Load the component (once per replica) and return the replica's :class:`ProxyApp`."""
        if self.proxy is None:
            app = self.app
            self.pool = WorkerPool(self.max_workers, self.max_queue)
            self.proxy = make_app(app, self.pool)
            self.replica = f"{app.name}#{_replica_id()}"
        return self.proxy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") == "lifespan":
            await self._lifespan(receive, send)
            return
        proxy = self.proxy if self.proxy is not None else await asyncio.to_thread(self.load)
        tag = (REPLICA_HEADER.encode(), self.replica.encode())

        async def tagged(message: Message) -> None:
            if message.get("type") == "http.response.start":
                message = dict(message)
                message["headers"] = [*message.get("headers", []), tag]
            await send(message)

        await proxy(scope, receive, tagged)

    def _close(self) -> None:
        if self.proxy is not None:
            self.proxy.close()
        if self.pool is not None:
            self.pool.shutdown(wait=True)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    # off the event loop: loading a large component takes seconds
                    await asyncio.to_thread(self.load)
                except Exception as exc:        # the replica fails to start, and says why
                    await send({"type": "lifespan.startup.failed", "message": f"{type(exc).__name__}: {exc}"})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.proxy is not None:
                    await asyncio.to_thread(self._close)
                await send({"type": "lifespan.shutdown.complete"})
                return


def _replica_id() -> str:
    try:
        return str(serve.get_replica_context().replica_id.unique_id)
    except Exception:       # not in a Ray Serve replica (the app mounted elsewhere)
        return f"{socket.gethostname()}:{os.getpid()}"


def deployment(app: AppSpec, max_workers: int = 8, max_queue: int = 64) -> Any:
    """The Ray Serve application (``Deployment.bind()``) serving ``app``; each replica runs
    ``max_workers`` handlers at once and queues ``max_queue`` more."""
    ingress = serve.ingress(ReplicaApp(app, max_workers, max_queue))()
    return serve.deployment(**deployment_options(app, max_workers))(ingress).bind()


def deploy(apps: Iterable[AppSpec], *, host: str = "127.0.0.1", port: int = 8000, max_workers: int = 8,
           max_queue: int = 64, address: Optional[str] = None, **init: Any) -> List[Any]:
    """Deploy ``apps`` (from :func:`~wasmforge.serve.load_manifest`, or made by hand) on Ray
    Serve, each routed by its path prefix, and return their deployment handles once every
    replica has loaded its component.

    Connects to the cluster at ``address`` (or ``RAY_ADDRESS``), or starts a local one
    (``init`` goes to ``ray.init``: ``num_cpus``, ``object_store_memory`` ...), unless Ray is
    initialised already.  Ray Serve's HTTP proxy listens on ``host:port``.  Each replica runs
    ``max_workers`` handlers at once and queues ``max_queue`` more.  An app's ``source`` must
    be readable at the same path on every node.  The apps stay up until :func:`shutdown`."""
    apps = list(apps)
    for what, values in (("name", [a.name for a in apps]), ("route", [a.route for a in apps])):
        dup = next((x for x in values if values.count(x) > 1), None)
        if dup is not None:
            raise ConfigError(f"two apps have the {what} {dup!r}")
    if not ray.is_initialized():
        ray.init(address=address, **init)
    serve.start(http_options={"host": host, "port": port})
    return [serve.run(deployment(a, max_workers, max_queue), name=a.name, route_prefix=a.route) for a in apps]


def shutdown() -> None:
    """Remove every app from Ray Serve and stop it (the cluster itself stays up)."""
    serve.shutdown()


def run(apps: Iterable[AppSpec], *, host: str = "127.0.0.1", port: int = 8000, max_workers: int = 8,
        max_queue: int = 64, address: Optional[str] = None, on_ready: Optional[Callable[[], None]] = None,
        **init: Any) -> None:
    """:func:`deploy` ``apps``, call ``on_ready``, and serve until SIGINT or SIGTERM; then
    remove the apps and disconnect from the cluster (stopping it if this call started it)."""
    stop = threading.Event()
    previous = {}
    try:
        deploy(apps, host=host, port=port, max_workers=max_workers, max_queue=max_queue, address=address, **init)
        # only now: ray.init installs a SIGTERM handler of its own that aborts the process
        previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
        if on_ready is not None:
            on_ready()
        stop.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if ray.is_initialized():
            shutdown()
            ray.shutdown()


__all__ = ["REPLICA_HEADER", "ReplicaApp", "deploy", "deployment", "deployment_options", "run", "shutdown"]
