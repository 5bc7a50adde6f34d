"""What the server tells its operator: one :class:`RequestRecord` per request, written as a
JSON line to the ``wasmforge.serve.access`` logger (:func:`log_access`) and counted in
:class:`Metrics`, which renders the Prometheus text exposition format (version 0.0.4: the
format every Prometheus-compatible scraper reads)."""

from __future__ import annotations

import ctypes
import json
import logging
import math
import mmap
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
    0 when no response started; ``error`` says why a request failed (one line); ``process``
    is the server process that answered (its slot, 0 to N-1) under ``--processes N`` with N > 1,
    else None (and not in the log line)."""

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
    process: Optional[int] = None
    #: True: the request ran in a recycled sandbox (ProxyApp ``recycle``), False: in an
    #: instance made for it, None: in none
    recycled: Optional[bool] = None

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
        if self.process is not None:
            fields["process"] = self.process
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


#: the instances a request runs in (RequestRecord.recycled False, True)
_INSTANCE_KINDS = ("fresh", "recycled")

#: the status codes a :class:`SharedCounters` counts in cells of their own (0: no response)
_STATUSES = 1000
_OUTCOME_AT = _STATUSES
_LATENCY_AT = _OUTCOME_AT + len(OUTCOMES)
_INSTANTIATION_AT = _LATENCY_AT + len(LATENCY_BUCKETS) + 2       # the buckets, the sum, the count
_RELOADS_AT = _INSTANTIATION_AT + len(INSTANTIATION_BUCKETS) + 2
_IN_FLIGHT_AT = _RELOADS_AT + 2
_INSTANCES_AT = _IN_FLIGHT_AT + 1        # made new, recycled
_CELLS = _INSTANCES_AT + 2


class SharedCounters:
    """The metrics of a server of several processes (``wasmforge serve --processes N``), in
    memory the processes share: made before they are forked, one slot of cells per process
    and app (``apps``, and ``""`` for requests no app's route matched).  Each process writes
    only its own slot (:class:`Metrics` with ``slot``), and a scrape, whichever process
    answers it, sums every slot: the exposition is the whole server's, exact at the moment
    of the scrape, with nothing sent between processes per request.  A slot outlives its
    process, so a process started again in the same slot keeps the counters monotonic.

    Counts are stored as doubles (exact to 2**53); an 8-byte aligned store is atomic, so a
    reader sees each cell either before or after a write (a histogram's count and sum may be
    one request apart, as in any scrape racing a request)."""

    def __init__(self, apps: Iterable[str], processes: int) -> None:
        self.apps: List[str] = list(dict.fromkeys([*apps, ""]))
        self.index = {app: i for i, app in enumerate(self.apps)}
        self.processes = processes
        # anonymous and MAP_SHARED: forked children write to the very same pages
        count = max(1, processes * len(self.apps) * _CELLS)
        self._memory = mmap.mmap(-1, count * ctypes.sizeof(ctypes.c_double))
        self.cells: "ctypes.Array[ctypes.c_double]" = (ctypes.c_double * count).from_buffer(self._memory)

    def base(self, slot: int, app: str) -> int:
        """The first cell of ``app`` in the slot of process ``slot``."""
        return (slot * len(self.apps) + self.index[app]) * _CELLS

    def clear_in_flight(self, slot: int) -> None:
        """Zero the in-flight gauge of a slot whose process ended (its requests ended with it)."""
        for app in self.apps:
            self.cells[self.base(slot, app) + _IN_FLIGHT_AT] = 0.0


class Metrics:
    """Counters and histograms of the requests, per app, in the Prometheus text format.

    ``in_flight`` gives the requests in progress per app at scrape time (a gauge is read, not
    counted).  :meth:`observe` takes each finished request; :meth:`reloaded` counts reloads.
    Safe to call from several threads.

    With ``shared`` (a :class:`SharedCounters` made before the server's processes were
    forked), this process counts its known apps' requests in the cells of its ``slot`` and
    :meth:`render` shows the sum over every process; the in-flight gauge is then the cells
    :meth:`entered` and :meth:`left` keep, ``in_flight`` being one process's view only."""

    def __init__(self, apps: Iterable[str] = (), in_flight: Optional[Callable[[], Mapping[str, int]]] = None,
                 shared: Optional[SharedCounters] = None, slot: int = 0) -> None:
        self._lock = threading.Lock()
        self._shared = shared
        self._slot = slot
        if shared is not None and not 0 <= slot < shared.processes:
            raise ValueError(f"slot {slot} of {shared.processes} processes")
        self._requests: Dict[Tuple[str, str], int] = {}
        self._outcomes: Dict[Tuple[str, str], int] = {}
        self._latency: Dict[str, _Histogram] = {}
        self._instantiation: Dict[str, _Histogram] = {}
        self._reloads: Dict[Tuple[str, str], int] = {}
        self._instances: Dict[Tuple[str, str], int] = {}
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
            for kind in _INSTANCE_KINDS:
                self._instances.setdefault((app, kind), 0)

    def _cells(self, app: str) -> Optional[int]:
        """The first of this process's shared cells of ``app`` (None: counted locally)."""
        shared = self._shared
        if shared is None or app not in shared.index:
            return None
        return shared.base(self._slot, app)

    def observe(self, record: RequestRecord) -> None:
        """Count one finished request."""
        app = record.app if record.app is not None else ""
        at = self._cells(app)
        if at is not None and self._shared is not None and 0 <= record.status < _STATUSES:
            cells = self._shared.cells
            with self._lock:
                cells[at + record.status] += 1
                cells[at + _OUTCOME_AT + OUTCOMES.index(record.outcome)] += 1
                _observe_cells(cells, at + _LATENCY_AT, LATENCY_BUCKETS, record.duration)
                if record.instantiate is not None:
                    _observe_cells(cells, at + _INSTANTIATION_AT, INSTANTIATION_BUCKETS, record.instantiate)
                if record.recycled is not None:
                    cells[at + _INSTANCES_AT + record.recycled] += 1
            return
        with self._lock:
            self._app(app)
            key = (app, str(record.status))
            self._requests[key] = self._requests.get(key, 0) + 1
            self._outcomes[(app, record.outcome)] = self._outcomes.get((app, record.outcome), 0) + 1
            self._latency[app].observe(record.duration)
            if record.instantiate is not None:
                self._instantiation[app].observe(record.instantiate)
            if record.recycled is not None:
                key = (app, _INSTANCE_KINDS[record.recycled])
                self._instances[key] = self._instances.get(key, 0) + 1

    def reloaded(self, app: str, ok: bool) -> None:
        """Count a reload of ``app`` (``ok`` False: the new file failed to load)."""
        at = self._cells(app)
        with self._lock:
            if at is not None and self._shared is not None:
                self._shared.cells[at + _RELOADS_AT + (0 if ok else 1)] += 1
                return
            self._app(app)
            key = (app, "ok" if ok else "failed")
            self._reloads[key] += 1

    def entered(self, app: str) -> None:
        """A request of ``app`` started (the shared in-flight gauge; nothing without one)."""
        at = self._cells(app)
        if at is not None and self._shared is not None:
            self._shared.cells[at + _IN_FLIGHT_AT] += 1

    def left(self, app: str) -> None:
        """A request of ``app`` ended (after :meth:`entered`)."""
        at = self._cells(app)
        if at is not None and self._shared is not None:
            self._shared.cells[at + _IN_FLIGHT_AT] -= 1

    def _tables(self) -> Tuple[Dict[Tuple[str, str], int], Dict[Tuple[str, str], int], Dict[str, _Histogram],
                               Dict[str, _Histogram], Dict[Tuple[str, str], int], Dict[str, int],
                               Dict[Tuple[str, str], int]]:
        """What :meth:`render` shows: this process's tables, plus every process's shared cells."""
        requests, outcomes, reloads = dict(self._requests), dict(self._outcomes), dict(self._reloads)
        instances = dict(self._instances)
        latency, instantiation = dict(self._latency), dict(self._instantiation)
        in_flight = dict(self._in_flight()) if self._in_flight is not None else {}
        shared = self._shared
        if shared is None:
            return requests, outcomes, latency, instantiation, reloads, in_flight, instances
        cells = shared.cells
        for app in shared.apps:
            sums = [0.0] * _CELLS
            for slot in range(shared.processes):
                at = shared.base(slot, app)
                row = cells[at:at + _CELLS]
                sums = [a + b for a, b in zip(sums, row)]
            # the 404s' app appears once it has a request, as in one process
            if app == "" and not any(sums[:_OUTCOME_AT]):
                continue
            for status in range(_STATUSES):
                if sums[status]:
                    requests[(app, str(status))] = requests.get((app, str(status)), 0) + int(sums[status])
            for i, outcome in enumerate(OUTCOMES):
                if outcome != "not-found" or sums[_OUTCOME_AT + i] or app == "":
                    outcomes[(app, outcome)] = outcomes.get((app, outcome), 0) + int(sums[_OUTCOME_AT + i])
            latency[app] = _summed(latency.get(app), LATENCY_BUCKETS, sums[_LATENCY_AT:_INSTANTIATION_AT])
            instantiation[app] = _summed(instantiation.get(app), INSTANTIATION_BUCKETS,
                                         sums[_INSTANTIATION_AT:_RELOADS_AT])
            for i, result in enumerate(("ok", "failed")):
                reloads[(app, result)] = reloads.get((app, result), 0) + int(sums[_RELOADS_AT + i])
            for i, kind in enumerate(_INSTANCE_KINDS):
                instances[(app, kind)] = instances.get((app, kind), 0) + int(sums[_INSTANCES_AT + i])
            if app != "":       # the 404s are never in flight
                in_flight[app] = int(sums[_IN_FLIGHT_AT])
        return requests, outcomes, latency, instantiation, reloads, in_flight, instances

    def render(self) -> str:
        """The exposition: ``# HELP``/``# TYPE`` lines and one sample per line."""
        out: List[str] = []
        with self._lock:
            requests, outcomes, latency, instantiation, reloads, in_flight, instances = self._tables()
        _family(out, "wasmforge_requests_total", "counter", "HTTP requests answered, by app and status code.",
                [((("app", a), ("status", s)), n) for (a, s), n in sorted(requests.items())])
        _family(out, "wasmforge_request_outcomes_total", "counter",
                "Requests by outcome: ok, trap, timeout, fuel, oom, error, rejected (503), not-found (404).",
                [((("app", a), ("outcome", o)), n) for (a, o), n in sorted(outcomes.items())])
        _histograms(out, "wasmforge_request_duration_seconds",
                    "Time from the request's arrival to the end of its response.", latency)
        _histograms(out, "wasmforge_instantiation_seconds",
                    "Time to make a request's store and instance.", instantiation)
        _family(out, "wasmforge_instances_total", "counter",
                "Instances requests ran in: made for the request (fresh) or a sandbox put back to new (recycled).",
                [((("app", a), ("kind", k)), n) for (a, k), n in sorted(instances.items())])
        _family(out, "wasmforge_reloads_total", "counter", "Reloads of an app after its file changed.",
                [((("app", a), ("result", r)), n) for (a, r), n in sorted(reloads.items())])
        _family(out, "wasmforge_requests_in_flight", "gauge", "Requests in progress (running or queued).",
                [((("app", a),), n) for a, n in sorted(in_flight.items())])
        return "\n".join(out) + "\n"


def _observe_cells(cells: "ctypes.Array[ctypes.c_double]", at: int, bounds: Sequence[float], value: float) -> None:
    # a _Histogram laid out in cells: a count per bucket (not cumulative), the sum, the count
    for i, bound in enumerate(bounds):
        if value <= bound:
            cells[at + i] += 1
            break
    n = len(bounds)
    cells[at + n] += value
    cells[at + n + 1] += 1


def _summed(local: Optional[_Histogram], bounds: Sequence[float], cells: Sequence[float]) -> _Histogram:
    h = _Histogram(bounds)
    n = len(bounds)
    h.counts = [int(c) for c in cells[:n]]
    h.total, h.count = cells[n], int(cells[n + 1])
    if local is not None:
        h.counts = [a + b for a, b in zip(h.counts, local.counts)]
        h.total += local.total
        h.count += local.count
    return h


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
           "SharedCounters", "access_log", "log_access"]
