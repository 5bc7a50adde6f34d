"""A fresh component instance per request, what ``wasmforge serve`` does: the CPU time of
``InstancePre.instantiate`` (a new Store each time) and, with ``--call``, of the first call
that follows, for a component of the tests or examples, side by side with wasmtime-py instantiating
the same component in a new Store (wasmtime-py 50 has no component ``InstancePre``: its
``Linker.instantiate``; the component is compiled once, before timing).  Medians of N after
two warm-up rounds::

    python benchmarks/bench_component_instantiate.py [--fixture greeter|http|js|tiny] [--tiers interp,llvm] [-n 20] [--call] [--gc-freeze] [--gc-off] [--recycle]

``greeter`` is tests/fixtures/componentize_py (imports ``log``, ``--call`` calls ``greet``),
``http`` the wasi:http handler of tests/fixtures/componentize_py_http, ``js`` the one of
tests/fixtures/componentize_js_http, ``tiny`` examples/serve/tiny.wasm (a 9 KB proxy written
in the text format), the three instantiation only.
Use a compile cache of its own (``WASMFORGE_CACHE_DIR``): the llvm tier's first call
compiles the CPython functions it reaches (minutes on the shared machine), later runs load
them from the cache.  CPU time (``time.process_time``) is quoted: wall time is noise on a
shared machine.  ``--gc-freeze`` moves every object alive after the warm-up rounds (the
decoded and compiled component) out of the cyclic garbage collector's reach
(``gc.freeze()``), as a server does once its apps are loaded: Python's full collections
otherwise traverse them again and again while instances are made.  ``--gc-off`` disables the
collector after the warm-up rounds (an in-process phase figure, without the collector's share).
``--recycle`` (the wasi:http fixtures) adds, per tier, a sandbox put back to new instead of a new
instance (component/_recycle.py ``Sandbox.reset`` and ``renew_wasi``, what ``wasmforge serve``
does between requests): with no call between, the floor of that cost (a request's own writes
add their pages: ``bench_serve_breakdown.py`` reports the cost after real requests).
"""

from __future__ import annotations

import argparse
import gc
import lzma
import statistics
import time
from pathlib import Path
from typing import Any, Callable, List, Tuple

import wasmforge
from wasmforge import component as C

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = {"greeter": ROOT / "tests" / "fixtures" / "componentize_py" / "greeter.wasm.xz",
            "http": ROOT / "tests" / "fixtures" / "componentize_py_http" / "handler.wasm.xz",
            "js": ROOT / "tests" / "fixtures" / "componentize_js_http" / "handler.wasm.xz",
            "tiny": ROOT / "examples" / "serve" / "tiny.wasm"}
#: the fixtures that are wasi:http proxies (instantiation only)
HTTP = ("http", "js", "tiny")


def median_cpu(one: Callable[[], Any], n: int, freeze: bool = False, off: bool = False) -> List[float]:
    for _ in range(2):
        one()
    if freeze:
        gc.collect()
        gc.freeze()
    if off:
        gc.collect()
        gc.disable()
    out = []
    for _ in range(n):
        c = time.process_time()
        one()
        out.append(time.process_time() - c)
    return out


def link(linker: Any, fixture: str) -> None:
    """What the fixture imports besides WASI 0.2, on a wasmforge or a wasmtime-py linker."""
    if fixture in HTTP:
        linker.add_wasi_http()
    else:
        with linker.root() as root:
            root.add_func("log", lambda store, message: 1)


def wasmforge_pre(data: bytes, tier: str, fixture: str) -> Tuple[Any, Any]:
    """The engine of ``tier`` and the fixture's component in it, its imports resolved."""
    config = wasmforge.Config()
    config.strategy = tier
    engine = wasmforge.Engine(config)
    linker = C.Linker(engine)
    linker.add_wasip2()
    link(linker, fixture)
    return engine, linker.instantiate_pre(C.Component(engine, data))


def wasmforge_round(data: bytes, tier: str, fixture: str, call: bool) -> Callable[[], Any]:
    engine, pre = wasmforge_pre(data, tier, fixture)

    def one() -> Any:
        store = wasmforge.Store(engine)
        store.set_wasi(wasmforge.WasiConfig())
        inst = pre.instantiate(store)
        if call:
            return inst.get_func(store, "greet")(store, "x")
        return inst
    return one


def recycle_round(data: bytes, tier: str, fixture: str) -> Callable[[], Any]:
    from wasmforge.component._recycle import Sandbox
    engine, pre = wasmforge_pre(data, tier, fixture)
    store = wasmforge.Store(engine)
    store.set_wasi(wasmforge.WasiConfig())
    sandbox = Sandbox(pre, store)
    if sandbox.refusal is not None:
        raise SystemExit(f"{fixture}: not recycled: {sandbox.refusal}")

    def one() -> Any:
        sandbox.reset()
        return sandbox.renew_wasi(wasmforge.WasiConfig())
    return one


def wasmtime_round(data: bytes, fixture: str, call: bool) -> Callable[[], Any]:
    import wasmtime
    import wasmtime.component as wc
    engine = wasmtime.Engine()
    component = wc.Component(engine, data)
    linker = wc.Linker(engine)
    linker.add_wasip2()
    link(linker, fixture)

    def one() -> Any:
        store = wasmtime.Store(engine)
        store.set_wasi(wasmtime.WasiConfig())
        inst = linker.instantiate(store, component)
        if call:
            return inst.get_func(store, "greet")(store, "x")
        return inst
    return one


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fixture", choices=sorted(FIXTURES), default="greeter")
    ap.add_argument("--tiers", default="interp,llvm")
    ap.add_argument("-n", type=int, default=20)
    ap.add_argument("--call", action="store_true")
    ap.add_argument("--no-wasmtime", action="store_true")
    ap.add_argument("--gc-freeze", action="store_true", help="gc.freeze() after the warm-up rounds")
    ap.add_argument("--recycle", action="store_true", help="also a sandbox put back to new per round (wasi:http fixtures)")
    ap.add_argument("--gc-off", action="store_true",
                    help="gc.disable() after the warm-up rounds (a phase figure: the collector's share left out)")
    args = ap.parse_args()
    if args.call and args.fixture != "greeter":
        ap.error("--call calls the greeter's greet")
    raw = FIXTURES[args.fixture].read_bytes()
    data = lzma.decompress(raw) if FIXTURES[args.fixture].suffix == ".xz" else raw
    rounds = {f"wasmforge {t}": wasmforge_round(data, t, args.fixture, args.call) for t in args.tiers.split(",")}
    if args.recycle:
        if args.fixture not in HTTP or args.call:
            ap.error("--recycle takes a wasi:http fixture, without --call")
        for t in args.tiers.split(","):
            rounds[f"wasmforge {t} recycled (reset + WASI renewed)"] = recycle_round(data, t, args.fixture)
    if not args.no_wasmtime:
        rounds["wasmtime-py"] = wasmtime_round(data, args.fixture, args.call)
    what = "instantiate + first call" if args.call else "instantiate"
    results = {}
    for name, one in rounds.items():
        results[name] = median_cpu(one, args.n, args.gc_freeze, args.gc_off)
        gc.enable()
    for name, cpu in results.items():
        print(f"{args.fixture} {what}{', gc frozen' if args.gc_freeze else ''}{', gc off' if args.gc_off else ''}, {name}: median {statistics.median(cpu) * 1e3:.2f} ms CPU "
              f"(min {min(cpu) * 1e3:.2f}, mean {statistics.mean(cpu) * 1e3:.2f}, max {max(cpu) * 1e3:.2f}, "
              f"n={args.n})")


if __name__ == "__main__":
    main()
