"""``wasmforge serve --ray``: deploy the app (FILE) or the apps of a manifest (--config) on Ray
Serve instead of serving them in this process (``wasmforge.serve.ray.run``).

Ray is started as a local cluster, or joined at ``RAY_ADDRESS`` (Ray's own variable); Ray
Serve's HTTP proxy listens on ``--addr``.  Once every replica has loaded its component, the
first line on stderr is ``Serving HTTP on http://ADDR/ (Ray Serve)``; SIGINT or SIGTERM
removes the apps and stops the cluster this command started.  Ray missing, a manifest or file
that cannot be read, or a deployment that fails: one line, exit 1.
"""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path
from typing import AbstractSet, Optional, Sequence

import click

from ..errors import WasmError
from ..serve import AppSpec, ManifestError, make_app, read_manifest
from ..serve._manifest import split_addr
from ._component import describe_component
from ._load import die


#: the options of `wasmforge serve` that have no meaning on Ray Serve (its proxy does the
#: serving: these belong to the single-node server)
_SINGLE_NODE_OPTIONS = ("reload", "access_log", "metrics_path", "no_metrics", "drain_timeout", "processes")


def _free_port(host: str) -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def serve_on_ray(file: Optional[str], config_file: Optional[str], addr: str, explicit: AbstractSet[str],
                 tier: Optional[str], max_workers: int, max_queue: int, max_request_body: Optional[int],
                 timeout: Optional[float], fuel: Optional[int], max_memory: Optional[int],
                 allow_http: Sequence[str], allow_precompiled: bool = False, recycle: bool = True) -> None:
    """Deploy and serve until interrupted.  ``explicit`` names the options given on the
    command line (the others may come from the manifest's ``[server]`` table)."""
    clash = [name for name in _SINGLE_NODE_OPTIONS if name in explicit]
    if clash:
        raise click.UsageError(f"--{clash[0].replace('_path', '').replace('_', '-')} applies to the single-node "
                               "server, not to --ray")
    try:
        from ..serve import ray as serve_ray    # the optional extra wasmforge[ray]
    except ImportError:
        die("error: `wasmforge serve --ray` needs Ray (pip install 'wasmforge[ray]')")
    if config_file is not None:
        try:
            manifest = read_manifest(config_file)
        except ManifestError as exc:
            die(str(exc))
        apps = list(manifest.apps)
        addr = addr if "addr" in explicit else manifest.server.addr
        max_workers = max_workers if "max_workers" in explicit else manifest.server.workers
        max_queue = max_queue if "max_queue" in explicit else manifest.server.queue
    elif file is not None:
        apps = [AppSpec(name=Path(file).stem or "app", source=Path(file).resolve(), route="/",
                        tier=None if tier in (None, "auto") else tier, timeout=timeout, fuel=fuel,
                        max_memory=max_memory, max_request_body=max_request_body, allow_http=tuple(allow_http),
                        allow_precompiled=allow_precompiled, recycle=recycle)]
    else:
        die("error: give FILE or --config APPS.TOML")
    # Each replica loads its component when it starts, where a bad file would only show as a
    # failed deployment after Ray's retries: load each here first, as a replica does (the
    # engine its limits need: which also fills this node's compile cache for the replicas
    # placed on it, and takes an artifact made for those limits), so a bad one is one line now.
    for app in apps:
        try:
            make_app(app).close()
        except OSError as exc:
            die(f"{app.source}: error: {exc.strerror or exc}")
        except WasmError as exc:
            die(describe_component(str(app.source), exc))
    host, port = split_addr(addr)       # checked already (by the command, or the manifest's reader)
    if port == 0:
        port = _free_port(host)
    shown = f"[{host}]" if ":" in host else host

    def ready() -> None:
        print(f"Serving HTTP on http://{shown}:{port}/ (Ray Serve)", file=sys.stderr, flush=True)

    try:
        serve_ray.run(apps, host=host, port=port, max_workers=max_workers, max_queue=max_queue,
                      address=os.environ.get("RAY_ADDRESS"), on_ready=ready)
    except (WasmError, RuntimeError, ConnectionError) as exc:     # a replica that cannot start, for one
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        die(f"error: the Ray Serve deployment failed: {first}")


__all__ = ["serve_on_ray"]
