"""What the server tells its operator: one :class:`RequestRecord` per request, written as a
JSON line to the ``wasmforge.serve.access`` logger (:func:`log_access`) and counted in
:class:`Metrics`, which renders the Prometheus text exposition format (version 0.0.4: the
format every Prometheus-compatible scraper reads)."""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from dataclasses import dataclass
from typing import Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

#: the access log's logger: one JSON object per line, at level INFO
access_log = logging.getLogger("wasmforge.serve.access")

#: what became of a request.  ``ok``: the guest answered; ``trap``: it trapped (or exited, or
#: a host call failed) before finishing; ``timeout``: its deadline passed; ``fuel``: it ran
#: out of fuel; ``oom``: it failed after its memory reached the memory limit (or a host
#: allocation failed); ``error``: it returned without a complete response or answered with an
#: error code, or the client went away; ``rejected``: refused with 503 (every worker busy and
#: the queue full); ``not-found``: no app's route matched (404).
OUTCOMES = ("ok", "trap", "timeout", "fuel", "oom", "error", "rejected", "not-found")

#: the bounds (seconds) of the histograms' buckets
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
INSTANTIATION_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)

#: the ``Content-Type`` of the exposition
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@dataclass
class RequestRecord:
    """One request as the access log and the metrics see it.  ``start`` is wall-clock time
    (``time.time()``); ``duration`` and ``instantiate`` are seconds (``instantiate`` None when
    no instance was made); ``bytes_out`` counts the response body's bytes sent; ``status`` is
    0 when no response started; ``error`` says why a request failed (one line)."""

    app: Optional[str]
    method: str
    path: str
    start: float
    status: int = 0
    bytes_out: int = 0
    duration: float = 0.0
    instantiate: Optional[float] = None
    outcome: str = "ok"
    error: Optional[str] = None

    def to_json(self) -> str:
        """The access log's line for this request."""
        fields = {
            "time": _iso(self.start), "app": self.app, "method": self.method, "path": self.path,
            "status": self.status, "bytes": self.bytes_out, "duration_ms": round(self.duration * 1000, 3),
            "instantiate_ms": None if self.instantiate is None else round(self.instantiate * 1000, 3),
            "outcome": self.outcome,
        }
        if self.error is not None:
            fields["error"] = self.error
        return json.dumps(fields, ensure_ascii=False, separators=(",", ":"))


def log_access(record: RequestRecord) -> None:
    """Write ``record`` as one JSON line to the ``wasmforge.serve.access`` logger."""
    if access_log.isEnabledFor(logging.INFO):
        access_log.info("%s", record.to_json())


def _iso(t: float) -> str:
    seconds = int(t)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{int((t - seconds) * 1000):03d}Z"


class _Histogram:
    __slots__ = ("bounds", "counts", "total", "count")

    def __init__(self, bounds: Sequence[float]) -> None:
        self.bounds = bounds
        self.counts = [0] * len(bounds)
        self.total = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        for i, bound in enumerate(self.bounds):
            if value <= bound:
                self.counts[i] += 1
                break
        self.total += value
        self.count += 1


class Metrics:
    """Counters and histograms of the requests, per app, in the Prometheus text format.

    ``in_flight`` gives the requests in progress per app at scrape time (a gauge is read, not
    counted).  :meth:`observe` takes each finished request; :meth:`reloaded` counts reloads.
    Safe to call from several threads."""

    def __init__(self, apps: Iterable[str] = (), in_flight: Optional[Callable[[], Mapping[str, int]]] = None) -> None:
        self._lock = threading.Lock()
        self._requests: Dict[Tuple[str, str], int] = {}
        self._outcomes: Dict[Tuple[str, str], int] = {}
        self._latency: Dict[str, _Histogram] = {}
        self._instantiation: Dict[str, _Histogram] = {}
        self._reloads: Dict[Tuple[str, str], int] = {}
        self._in_flight = in_flight
        for app in apps:
            self._app(app)

    def _app(self, app: str) -> None:
        # every series of a known app exists from the start, at 0, so rates see its first event
        if app not in self._latency:
            self._latency[app] = _Histogram(LATENCY_BUCKETS)
            self._instantiation[app] = _Histogram(INSTANTIATION_BUCKETS)
            for outcome in OUTCOMES[:-1]:
                self._outcomes.setdefault((app, outcome), 0)
            for result in ("ok", "failed"):
                self._reloads.setdefault((app, result), 0)

    def observe(self, record: RequestRecord) -> None:
        """Count one finished request."""
        app = record.app if record.app is not None else ""
        with self._lock:
            self._app(app)
            key = (app, str(record.status))
            self._requests[key] = self._requests.get(key, 0) + 1
            self._outcomes[(app, record.outcome)] = self._outcomes.get((app, record.outcome), 0) + 1
            self._latency[app].observe(record.duration)
            if record.instantiate is not None:
                self._instantiation[app].observe(record.instantiate)

    def reloaded(self, app: str, ok: bool) -> None:
        """Count a reload of ``app`` (``ok`` False: the new file failed to load)."""
        with self._lock:
            self._app(app)
            key = (app, "ok" if ok else "failed")
            self._reloads[key] += 1

    def render(self) -> str:
        """The exposition: ``# HELP``/``# TYPE`` lines and one sample per line."""
        out: List[str] = []
        with self._lock:
            _family(out, "wasmforge_requests_total", "counter", "HTTP requests answered, by app and status code.",
                    [((("app", a), ("status", s)), n) for (a, s), n in sorted(self._requests.items())])
            _family(out, "wasmforge_request_outcomes_total", "counter",
                    "Requests by outcome: ok, trap, timeout, fuel, oom, error, rejected (503), not-found (404).",
                    [((("app", a), ("outcome", o)), n) for (a, o), n in sorted(self._outcomes.items())])
            _histograms(out, "wasmforge_request_duration_seconds",
                        "Time from the request's arrival to the end of its response.", self._latency)
            _histograms(out, "wasmforge_instantiation_seconds",
                        "Time to make a request's store and instance.", self._instantiation)
            _family(out, "wasmforge_reloads_total", "counter", "Reloads of an app after its file changed.",
                    [((("app", a), ("result", r)), n) for (a, r), n in sorted(self._reloads.items())])
            in_flight = dict(self._in_flight()) if self._in_flight is not None else {}
        _family(out, "wasmforge_requests_in_flight", "gauge", "Requests in progress (running or queued).",
                [((("app", a),), n) for a, n in sorted(in_flight.items())])
        return "\n".join(out) + "\n"


def _family(out: List[str], name: str, kind: str, text: str,
            samples: Iterable[Tuple[Tuple[Tuple[str, str], ...], float]]) -> None:
    out.append(f"# HELP {name} {text}")
    out.append(f"# TYPE {name} {kind}")
    for labels, value in samples:
        out.append(_sample(name, labels, value))


def _histograms(out: List[str], name: str, text: str, per_app: Mapping[str, _Histogram]) -> None:
    out.append(f"# HELP {name} {text}")
    out.append(f"# TYPE {name} histogram")
    for app, h in sorted(per_app.items()):
        cumulative = 0
        for bound, n in zip(h.bounds, h.counts):
            cumulative += n
            out.append(_sample(name + "_bucket", (("app", app), ("le", _number(bound))), cumulative))
        out.append(_sample(name + "_bucket", (("app", app), ("le", "+Inf")), h.count))
        out.append(_sample(name + "_sum", (("app", app),), h.total))
        out.append(_sample(name + "_count", (("app", app),), h.count))


def _sample(name: str, labels: Tuple[Tuple[str, str], ...], value: float) -> str:
    inner = ",".join(f'{k}="{_escape(v)}"' for k, v in labels)
    return f"{name}{{{inner}}} {_number(value)}"


def _escape(value: str) -> str:
    # the exposition format's label value escapes: backslash, double quote, line feed
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    if isinstance(value, int):
        return str(value)
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


__all__ = ["CONTENT_TYPE", "INSTANTIATION_BUCKETS", "LATENCY_BUCKETS", "Metrics", "OUTCOMES", "RequestRecord",
           "access_log", "log_access"]
