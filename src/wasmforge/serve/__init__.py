"""``wasmforge serve``: serverless HTTP over ``wasi:http/proxy`` components.

:class:`ProxyApp` is an ASGI application: mount it in any ASGI server, or run it with the
command line (``wasmforge serve APP.wasm --addr 127.0.0.1:8080``, which uses uvicorn, the
optional extra ``wasmforge[serve]``).  Every request gets a fresh store and instance of the
component, made from imports resolved once.  :func:`load_manifest` reads the manifest of
``wasmforge serve --config apps.toml`` (several apps routed by path).  See docs/serve.md.
"""

from ._app import ProxyApp, ServeError, handler_index, load_component, parse_allow
from ._manifest import AppSpec, Autoscaling, Manifest, ManifestError, ServerSpec, load_manifest, read_manifest

__all__ = ["AppSpec", "Autoscaling", "Manifest", "ManifestError", "ProxyApp", "ServeError", "ServerSpec",
           "handler_index", "load_component", "load_manifest", "parse_allow", "read_manifest"]
