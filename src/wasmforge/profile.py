"""A sampling profiler of the guest functions running in a store.

::

    from wasmforge.profile import Profiler

    with Profiler(store) as profiler:         # samples ~1,000 times a second meanwhile
        instance.exports(store)["_start"](store)
    profiler.write("out.json")                # speedscope's file format: open it on
                                              # https://www.speedscope.app
    for name, self_time, total in profiler.functions()[:5]:
        print(f"{self_time:8.3f} s {total:8.3f} s  {name}")

A thread of the profiler's own wakes every ``interval`` seconds and reads the wasm call stack
the guest is running, from what each tier keeps anyway (runtime/tier.py ``stack_sampler``):
the interp tier's Python frames, the llvm tier's shadow stack (the one trap backtraces come
from).  Nothing is added to the code: with no profiler running, profiling costs nothing, and
a running one costs the guest only the GIL the sampler takes for each sample (docs/
observability.md has the numbers).  Functions are named from the module's DWARF when it has
some (with their source file and line), else from its name section, else
``<wasm function N>``.  ``wasmforge run --profile out.json`` profiles a command-line run.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

from ._version import __version__
from .api.engine import load_tier
from .api.store import Store
from .errors import WasmError, demangle

__all__ = ["Profiler", "SCHEMA"]

#: The ``$schema`` of speedscope's file format.
SCHEMA = "https://www.speedscope.app/file-format-schema.json"

_Key = Tuple[int, int]              # (id of the module's CodeOffsets, function index)


class Profiler:
    """Samples the wasm call stack of ``store`` every ``interval`` seconds (default 1 ms)
    between :meth:`start` and :meth:`stop` (or in a ``with`` block).  ``thread`` (a
    ``threading.Thread`` or a thread id; default: the thread that calls :meth:`start`) is
    the thread that runs the guest, whose frames the interp tier shows."""

    def __init__(self, store: Store, *, interval: float = 0.001,
                 thread: Union[threading.Thread, int, None] = None) -> None:
        if not isinstance(store, Store):
            raise TypeError(f"expected a Store, got {type(store).__name__}")
        try:
            positive = interval > 0
        except TypeError:               # not a number: said as a bad interval, not a bad comparison
            positive = False
        if not positive:
            raise ValueError(f"interval must be a positive number of seconds, got {interval!r}")
        if isinstance(thread, threading.Thread):
            if thread.ident is None:
                raise ValueError(f"thread {thread.name!r} has not started: it has no frames to sample")
            thread = thread.ident
        elif thread is not None and (not isinstance(thread, int) or isinstance(thread, bool)):
            raise TypeError(f"thread must be a threading.Thread or a thread id, got {type(thread).__name__}")
        self.store = store
        self.interval = float(interval)
        self._thread_id = thread
        #: ``{stack: weight}``: each distinct stack (a tuple of frame keys, outermost first)
        #: and the seconds of samples that saw it.
        self._stacks: Dict[Tuple[_Key, ...], float] = {}
        self._sources: Dict[_Key, Any] = {}
        self.samples = 0
        self.elapsed = 0.0
        self._stop = threading.Event()
        self._sampler: Optional[threading.Thread] = None
        self._switch: Optional[float] = None

    # ----- running -----

    def start(self) -> "Profiler":
        if self._sampler is not None:
            raise RuntimeError("the profiler is already running")
        tid = self._thread_id if self._thread_id is not None else threading.get_ident()
        engine = self.store.engine
        samplers: List[Callable[[], List[Tuple[Any, int]]]] = []
        # The interp tier's frames are also those of a module the llvm tier has not
        # compiled yet (tiering: it runs on interp meanwhile).
        for tier in dict.fromkeys([load_tier("interp"), engine.tier]):
            make = getattr(tier, "stack_sampler", None)
            if make is not None:
                samplers.append(make(self.store, tid))
        # The guest holds the GIL between samples for up to the switch interval (5 ms by
        # default), which would space the samples of interp code that far apart.
        self._switch = sys.getswitchinterval()
        if self._switch > self.interval:
            sys.setswitchinterval(self.interval)
        self._stop.clear()
        self._sampler = threading.Thread(target=self._run, args=(samplers,), name="wasmforge-profiler",
                                         daemon=True)
        try:
            self._sampler.start()
        except RuntimeError:
            # Python compiled to WebAssembly (Pyodide) cannot start the sampler's thread.
            self._sampler = None
            sys.setswitchinterval(self._switch)
            raise WasmError(f"the profiler samples from a thread of its own, which this Python ({sys.platform}) "
                            "cannot start") from None
        return self

    def stop(self) -> None:
        sampler, self._sampler = self._sampler, None
        if sampler is None:
            return
        self._stop.set()
        sampler.join()
        if self._switch is not None:
            sys.setswitchinterval(self._switch)

    def __enter__(self) -> "Profiler":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self, samplers: List[Callable[[], List[Tuple[Any, int]]]]) -> None:
        stacks, sources = self._stacks, self._sources
        clock = time.perf_counter
        start = last = clock()
        wait, interval = self._stop.wait, self.interval
        while not wait(interval):
            frames: List[Tuple[Any, int]] = []
            for sample in samplers:
                frames += sample()
            now = clock()
            # Each sample stands for the time since the one before: a late wake-up (the
            # guest held the GIL) is weighed as the time it covered.
            weight, last = now - last, now
            if not frames:
                continue
            key = []
            for offsets, funcidx in frames:
                k = (id(offsets), funcidx)
                if k not in sources:
                    sources[k] = offsets
                key.append(k)
            stack = tuple(key)
            stacks[stack] = stacks.get(stack, 0.0) + weight
            self.samples += 1
        self.elapsed += clock() - start

    # ----- results -----

    def _names(self) -> Dict[_Key, Dict[str, Any]]:
        """Each sampled function's speedscope frame: its name and, from the module's DWARF,
        its source file and the line of its first instruction."""
        out = {}
        for key, offsets in self._sources.items():
            funcidx = key[1]
            module = getattr(offsets, "module", None)
            name = module.names.funcs.get(funcidx) if module is not None else None
            frame: Dict[str, Any] = {}
            if offsets is not None and offsets.has_debug_info:
                where = offsets.locate(funcidx, 0)
                symbols = offsets.symbols(where[1]) if where is not None else ()
                if symbols:
                    outer = symbols[-1]         # the function itself (the rest: inlined code)
                    name = demangle(outer.name) if outer.name else name
                    if outer.file is not None:
                        frame["file"] = outer.file
                        if outer.line is not None:
                            frame["line"] = outer.line
                            if outer.column is not None:
                                frame["col"] = outer.column
            frame["name"] = name if name else f"<wasm function {funcidx}>"
            out[key] = frame
        return out

    def functions(self) -> List[Tuple[str, float, float]]:
        """``(name, self seconds, total seconds)`` of each sampled function, the most self
        time first: self time is that of samples where it was running, total time that of
        samples where it was on the stack."""
        names = self._names()
        own: Dict[_Key, float] = {}
        total: Dict[_Key, float] = {}
        for stack, weight in self._stacks.items():
            own[stack[-1]] = own.get(stack[-1], 0.0) + weight
            for key in set(stack):
                total[key] = total.get(key, 0.0) + weight
        rows = [(names[k]["name"], own.get(k, 0.0), total[k]) for k in total]
        rows.sort(key=lambda r: (-r[1], -r[2], r[0]))
        return rows

    def speedscope(self, name: str = "wasm guest") -> Dict[str, Any]:
        """The profile in speedscope's file format (``SCHEMA``): one ``sampled`` profile in
        seconds, each sample a stack of frame indexes, outermost first."""
        names = self._names()
        index: Dict[_Key, int] = {}
        frames: List[Dict[str, Any]] = []
        for key in sorted(names, key=lambda k: (names[k]["name"], k[1])):
            index[key] = len(frames)
            frames.append(names[key])
        samples = [[index[k] for k in stack] for stack in self._stacks]
        weights = list(self._stacks.values())
        return {
            "$schema": SCHEMA,
            "shared": {"frames": frames},
            "profiles": [{"type": "sampled", "name": name, "unit": "seconds", "startValue": 0,
                          "endValue": max(self.elapsed, sum(weights)), "samples": samples,
                          "weights": weights}],
            "name": name,
            "activeProfileIndex": 0,
            "exporter": f"wasmforge {__version__}",
        }

    def write(self, path: Union[str, Path], name: Optional[str] = None) -> None:
        """Write :meth:`speedscope` to ``path``."""
        data = self.speedscope(name if name is not None else Path(path).stem)
        Path(path).write_text(json.dumps(data))
