"""``wasmforge serve``: serverless HTTP over ``wasi:http/proxy`` components.

:class:`ProxyApp` is an ASGI application: mount it in any ASGI server, or run it with the
command line (``wasmforge serve APP.wasm --addr 127.0.0.1:8080``, which uses uvicorn, the
optional extra ``wasmforge[serve]``).  Every request gets a fresh store and instance of the
component, made from imports resolved once.  :func:`load_manifest` reads the manifest of
``wasmforge serve --config apps.toml`` (several apps routed by path), which :class:`Router`
serves (with metrics, access logs and hot reload).  See docs/serve.md.
"""

from ._app import ProxyApp, ServeError, WorkerPool, handler_index, load_component, parse_allow
from ._manifest import AppSpec, Autoscaling, Manifest, ManifestError, ServerSpec, load_manifest, read_manifest
from ._observe import Metrics, RequestRecord, SharedCounters, log_access
from ._router import Reloader, Router, make_app

__all__ = ["AppSpec", "Autoscaling", "Manifest", "ManifestError", "Metrics", "ProxyApp", "Reloader",
           "RequestRecord", "Router", "ServeError", "ServerSpec", "SharedCounters", "WorkerPool", "handler_index", "load_component",
           "load_manifest", "log_access", "make_app", "parse_allow", "read_manifest"]
