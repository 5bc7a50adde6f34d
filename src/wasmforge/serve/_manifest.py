"""The manifest of ``wasmforge serve --config apps.toml``: several apps, each routed by a path
prefix, with its own limits, and the server's settings.

The format (TOML; docs/serve.md, "The manifest", has a full example)::

    [server]                      # optional, every key optional
    addr = "127.0.0.1:8080"
    workers = 8                   # handlers that run at once, across all apps
    queue = 64                    # requests that may wait for a worker; past that 503
    drain_timeout = 30.0          # seconds a shutdown waits for requests in progress
    processes = 2                 # server processes (default: the CPUs), each with its workers
    reload = false                # reload an app when its file changes
    access_log = "-"              # a file, or "-" for stderr; absent: no access log
    metrics = "/metrics"          # the Prometheus endpoint's path; false: none

    [apps.hello]                  # one table per app; the name labels logs and metrics
    source = "hello.wasm"         # relative to the manifest's directory
    route = "/hello"              # a path prefix, matched on segment boundaries
    tier = "llvm"                 # auto (default), interp or llvm
    timeout = 5.0                 # seconds per request
    fuel = 10_000_000
    max_memory = 67108864         # bytes per linear memory
    max_request_body = 1048576    # bytes
    allow_http = ["api.example.com:443"]
    allow_precompiled = false     # true: source may be a `wasmforge compile` artifact (.cwasm)
    recycle = true                # false: a new instance per request, never a recycled sandbox
    replicas = 2                  # Ray Serve only (wasmforge serve --ray); ignored here
    num_cpus = 0.5                # Ray Serve only
    [apps.hello.autoscaling]      # Ray Serve only; exclusive with replicas
    min_replicas = 1
    max_replicas = 4

An unknown key anywhere is an error (a typo must not silently drop a limit), as is a value
of the wrong type or range; :class:`ManifestError` names the file, the line where it can be
found, and the key.
"""

from __future__ import annotations

import importlib
import math
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from ..errors import ConfigError
from ..runtime.store import MAX_FUEL
from ._app import parse_allow

if sys.version_info >= (3, 11):
    import tomllib
else:           # Python 3.10: the backport (the serve extra installs it there)
    tomllib = importlib.import_module("tomli")

TIERS = ("auto", "interp", "llvm")


class ManifestError(ConfigError):
    """The manifest cannot be used: ``str()`` is one line naming the file, the line (when it
    can be found) and the key."""

    def __init__(self, path: str, message: str, line: Optional[int] = None) -> None:
        where = f"{path}:{line}" if line is not None else path
        super().__init__(f"{where}: error: {message}")
        self.path = path
        self.line = line
        self.reason = message


@dataclass(frozen=True)
class Autoscaling:
    """Ray Serve's autoscaling bounds for an app's deployment (``[apps.NAME.autoscaling]``)."""

    min_replicas: int
    max_replicas: int


@dataclass(frozen=True)
class AppSpec:
    """One ``[apps.NAME]`` table of a manifest.

    ``source`` is absolute (resolved against the manifest's directory); ``route`` a path
    prefix without a trailing slash (``"/"`` for the root); ``tier`` is None for the default
    (``WASMFORGE_STRATEGY`` or auto).  The limits are :class:`~wasmforge.serve.ProxyApp`'s
    (None: none), and so are ``allow_precompiled`` (``source`` may be an artifact) and
    ``recycle`` (a request's sandbox put back to new for a later one, where safe).
    ``replicas``, ``autoscaling`` and ``num_cpus`` are for Ray Serve deployments; the
    single-node server ignores them."""

    name: str
    source: Path
    route: str
    tier: Optional[str] = None
    timeout: Optional[float] = None
    fuel: Optional[int] = None
    max_memory: Optional[int] = None
    max_request_body: Optional[int] = None
    allow_http: Tuple[str, ...] = ()
    allow_precompiled: bool = False
    recycle: bool = True
    replicas: int = 1
    autoscaling: Optional[Autoscaling] = None
    num_cpus: Optional[float] = None


@dataclass(frozen=True)
class ServerSpec:
    """The ``[server]`` table of a manifest (defaults: those of ``wasmforge serve``)."""

    addr: str = "0.0.0.0:8080"
    workers: int = 8
    queue: int = 64
    drain_timeout: float = 30.0
    reload: bool = False
    access_log: Optional[str] = None
    metrics: Optional[str] = "/metrics"
    processes: Optional[int] = None     # None: the CPUs the server may run on


@dataclass(frozen=True)
class Manifest:
    """A whole manifest: the server's settings and the apps, in the file's order."""

    path: Path
    server: ServerSpec
    apps: Tuple[AppSpec, ...]


def load_manifest(path: Union[str, "os.PathLike[str]"]) -> List[AppSpec]:
    """The apps of the manifest at ``path``, in the file's order (:class:`AppSpec` each).

    Raises :class:`ManifestError` (a ``ConfigError``) naming the file, line and key if the file
    cannot be read, is not TOML, has an unknown key, or a value of the wrong type or range;
    ``OSError`` is turned into a ManifestError too.  :func:`read_manifest` gives the
    ``[server]`` settings as well."""
    return list(read_manifest(path).apps)


def read_manifest(path: Union[str, "os.PathLike[str]"]) -> Manifest:
    """The manifest at ``path`` (server settings and apps); see :func:`load_manifest`."""
    name = os.fspath(path)
    try:
        with open(name, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise ManifestError(name, exc.strerror or str(exc)) from None
    try:
        text = data.decode("utf-8")
        doc = tomllib.loads(text)
    except UnicodeDecodeError as exc:
        raise ManifestError(name, "malformed UTF-8 encoding", data.count(b"\n", 0, exc.start) + 1) from None
    except tomllib.TOMLDecodeError as exc:
        raise ManifestError(name, *_toml_message(str(exc))) from None
    return _Reader(name, text).manifest(doc)


def split_addr(addr: str) -> Tuple[str, int]:
    """``HOST:PORT`` (``[V6]:PORT``; no host: every interface) as ``(host, port)``; ValueError
    if it is not one."""
    host, sep, port = addr.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"expected HOST:PORT, got {addr!r}")
    return host.strip("[]") or "0.0.0.0", int(port)


def _toml_message(message: str) -> Tuple[str, Optional[int]]:
    # tomllib says "Invalid value (at line 3, column 9)": the line moves to the front
    m = re.search(r"\s*\(at line (\d+), column \d+\)$", message)
    if m is None:
        return f"invalid TOML: {message}", None
    return f"invalid TOML: {message[:m.start()]}", int(m.group(1))


_SERVER_KEYS = ("addr", "workers", "queue", "drain_timeout", "reload", "access_log", "metrics", "processes")
_APP_KEYS = ("source", "route", "tier", "timeout", "fuel", "max_memory", "max_request_body", "allow_http",
             "allow_precompiled", "recycle", "replicas", "autoscaling", "num_cpus")
_AUTOSCALING_KEYS = ("min_replicas", "max_replicas")


class _Reader:
    """Checks a parsed manifest, locating each problem's line in ``text``."""

    def __init__(self, path: str, text: str) -> None:
        self.path = path
        self.text = text

    def fail(self, table: Sequence[str], key: Optional[str], message: str) -> ManifestError:
        where = _table_name(table)
        subject = f"{where} key {key!r}".lstrip() if key is not None else where or "the manifest"
        return ManifestError(self.path, f"{subject}: {message}", _find_line(self.text, table, key))

    def table(self, value: Any, table: Sequence[str], keys: Sequence[str]) -> Mapping[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(table[:-1], table[-1], f"must be a table, not {_kind(value)}")
        for key in value:
            if key not in keys:
                raise self.fail(table, key, "unknown key (expected one of: " + ", ".join(keys) + ")")
        return value

    def manifest(self, doc: Dict[str, Any]) -> Manifest:
        for key in doc:
            if key not in ("server", "apps"):
                raise self.fail((), key, "unknown key (expected [server] and [apps.NAME] tables)")
        server = self.server(self.table(doc.get("server", {}), ("server",), _SERVER_KEYS))
        apps_table = doc.get("apps")
        if apps_table is None:
            raise self.fail((), None, "no apps (add an [apps.NAME] table with source and route)")
        if not isinstance(apps_table, dict) or not apps_table:
            raise self.fail((), "apps", "must hold one table per app ([apps.NAME])")
        apps = tuple(self.app(name, value) for name, value in apps_table.items())
        seen: Dict[str, str] = {}
        for app in apps:
            if app.route in seen:
                raise self.fail(("apps", app.name), "route",
                                f"{app.route!r} is already the route of app {seen[app.route]!r}")
            if server.metrics is not None and app.route == server.metrics:
                raise self.fail(("apps", app.name), "route",
                                f"{app.route!r} is the metrics endpoint's path ([server] metrics)")
            seen[app.route] = app.name
        return Manifest(Path(self.path), server, apps)

    def server(self, t: Mapping[str, Any]) -> ServerSpec:
        where = ("server",)
        kw: Dict[str, Any] = {}
        if "addr" in t:
            addr = self.string(t, where, "addr")
            try:
                split_addr(addr)
            except ValueError:
                raise self.fail(where, "addr", f"expected \"HOST:PORT\", got {addr!r}")
            kw["addr"] = addr
        if "workers" in t:
            kw["workers"] = self.integer(t, where, "workers", 1)
        if "queue" in t:
            kw["queue"] = self.integer(t, where, "queue", 0)
        if "processes" in t:
            kw["processes"] = self.integer(t, where, "processes", 1, high=256)
        if "drain_timeout" in t:
            kw["drain_timeout"] = self.number(t, where, "drain_timeout", positive=False)
        if "reload" in t:
            kw["reload"] = self.boolean(t, where, "reload")
        if "access_log" in t:
            log = self.string(t, where, "access_log")
            kw["access_log"] = log if log == "-" else str(self.relative(log))
        if "metrics" in t:
            metrics = t["metrics"]
            if metrics is False:
                kw["metrics"] = None
            elif isinstance(metrics, str) and metrics.startswith("/"):
                kw["metrics"] = _route(metrics)
            else:
                raise self.fail(where, "metrics", f"must be a path starting with '/' or false, not {metrics!r}")
        return ServerSpec(**kw)

    def app(self, name: str, value: Any) -> AppSpec:
        where = ("apps", name)
        t = self.table(value, where, _APP_KEYS)
        for required in ("source", "route"):
            if required not in t:
                raise self.fail(where, None, f"missing key {required!r}")
        route = self.string(t, where, "route")
        if not route.startswith("/") or "?" in route or "#" in route:
            raise self.fail(where, "route", f"must be a path starting with '/' (no query), not {route!r}")
        kw: Dict[str, Any] = {"name": name, "source": self.relative(self.string(t, where, "source")),
                              "route": _route(route)}
        if "tier" in t:
            tier = self.string(t, where, "tier")
            if tier not in TIERS:
                raise self.fail(where, "tier", f"must be one of {', '.join(TIERS)}, not {tier!r}")
            kw["tier"] = None if tier == "auto" else tier
        if "timeout" in t:
            kw["timeout"] = self.number(t, where, "timeout", positive=True)
            if kw["timeout"] == math.inf:
                raise self.fail(where, "timeout", "must be a finite number of seconds, not inf")
        for key in ("fuel", "max_memory", "max_request_body"):
            if key in t:
                kw[key] = self.integer(t, where, key, 0, MAX_FUEL if key == "fuel" else None)
        if "allow_http" in t:
            entries = t["allow_http"]
            if not isinstance(entries, list) or not all(isinstance(e, str) for e in entries):
                raise self.fail(where, "allow_http", "must be a list of \"HOST[:PORT]\" strings")
            for entry in entries:
                try:
                    parse_allow(entry)
                except ConfigError as exc:
                    raise self.fail(where, "allow_http", str(exc)) from None
            kw["allow_http"] = tuple(entries)
        if "allow_precompiled" in t:
            kw["allow_precompiled"] = self.boolean(t, where, "allow_precompiled")
        if "recycle" in t:
            kw["recycle"] = self.boolean(t, where, "recycle")
        if "replicas" in t:
            kw["replicas"] = self.integer(t, where, "replicas", 1)
        if "num_cpus" in t:
            kw["num_cpus"] = self.number(t, where, "num_cpus", positive=False)
        if "autoscaling" in t:
            if "replicas" in t:
                raise self.fail(where, "autoscaling", "replicas and autoscaling exclude each other "
                                "(Ray Serve: a fixed count or autoscaling bounds)")
            inner = where + ("autoscaling",)
            a = self.table(t["autoscaling"], inner, _AUTOSCALING_KEYS)
            for required in _AUTOSCALING_KEYS:
                if required not in a:
                    raise self.fail(inner, None, f"missing key {required!r}")
            low = self.integer(a, inner, "min_replicas", 0)
            high = self.integer(a, inner, "max_replicas", 1)
            if low > high:
                raise self.fail(inner, "min_replicas", f"{low} is above max_replicas ({high})")
            kw["autoscaling"] = Autoscaling(low, high)
        return AppSpec(**kw)

    # -- values ---------------------------------------------------------------------------
    def relative(self, name: str) -> Path:
        return (Path(self.path).resolve().parent / name).resolve()

    def string(self, t: Mapping[str, Any], where: Sequence[str], key: str) -> str:
        value = t[key]
        if not isinstance(value, str) or not value:
            raise self.fail(where, key, f"must be a non-empty string, not {_kind(value)}")
        return value

    def boolean(self, t: Mapping[str, Any], where: Sequence[str], key: str) -> bool:
        value = t[key]
        if not isinstance(value, bool):
            raise self.fail(where, key, f"must be true or false, not {_kind(value)}")
        return value

    def integer(self, t: Mapping[str, Any], where: Sequence[str], key: str, low: int,
                high: Optional[int] = None) -> int:
        value = t[key]
        if not isinstance(value, int) or isinstance(value, bool):
            raise self.fail(where, key, f"must be an integer, not {_kind(value)}")
        if value < low:
            raise self.fail(where, key, f"must be at least {low}, not {value}")
        if high is not None and value > high:
            raise self.fail(where, key, f"must be at most {high}, not {value}")
        return value

    def number(self, t: Mapping[str, Any], where: Sequence[str], key: str, positive: bool) -> float:
        value = t[key]
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value != value:
            raise self.fail(where, key, f"must be a number, not {_kind(value)}")
        if value < 0 or (positive and value == 0):
            raise self.fail(where, key, f"must be {'positive' if positive else 'at least 0'}, not {value}")
        return float(value)


def _route(route: str) -> str:
    """A route without its trailing slash (the root stays ``/``)."""
    return route.rstrip("/") or "/"


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    return f"{type(value).__name__} {value!r}"


def _table_name(table: Sequence[str]) -> str:
    return "[" + ".".join(_key_text(k) for k in table) + "]" if table else ""


def _key_text(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else '"' + key.replace('"', '\\"') + '"'


_HEADER = re.compile(r"^\s*\[\[?\s*([^\]]*?)\s*\]\]?\s*(#.*)?$")


def _split_dotted(text: str) -> List[str]:
    """The keys of a dotted TOML key as written in a header (bare or quoted parts)."""
    parts = re.findall(r'\s*("(?:[^"\\]|\\.)*"|\'[^\']*\'|[A-Za-z0-9_-]+)\s*(?:\.|$)', text)
    return [p[1:-1] if p[:1] in "\"'" else p for p in parts]


def _find_line(text: str, table: Sequence[str], key: Optional[str]) -> Optional[int]:
    """The line where ``key`` of ``table`` is written (or the table's header when ``key`` is
    None), for the usual layouts: ``[table]`` headers with ``key = value`` lines, or dotted
    keys.  None when it is written some other way (an inline table, for one)."""
    current: List[str] = []
    wanted = list(table)
    header_line = None
    for number, line in enumerate(text.splitlines(), 1):
        m = _HEADER.match(line)
        if m is not None:
            current = _split_dotted(m.group(1))
            if key is not None and current[:len(wanted) + 1] == wanted + [key]:
                return number           # [key] or [key.sub]: a table the key names
            if current == wanted:
                if key is None:
                    return number
                header_line = number
            continue
        if key is None:
            continue
        k = re.match(r'^\s*((?:"(?:[^"\\]|\\.)*"|\'[^\']*\'|[A-Za-z0-9_-]+)(?:\s*\.\s*(?:"(?:[^"\\]|\\.)*"|'
                     r'\'[^\']*\'|[A-Za-z0-9_-]+))*)\s*=', line)
        if k is not None and current + _split_dotted(k.group(1)) == wanted + [key]:
            return number
    return header_line


__all__ = ["AppSpec", "Autoscaling", "Manifest", "ManifestError", "ServerSpec", "TIERS", "load_manifest",
           "read_manifest", "split_addr"]
