"""What the generated bindings add per call, beside the untyped API they wrap, in process.

    python benchmarks/bench_bindgen.py [--calls 1000] [--rounds 9] [--tier interp]

Over the bindings test project's component (tests/component/bindgen_project/kitchen.wat):
``hello(string) -> string`` (no conversion: the bindings pass the values through) and
``api.transform(everything) -> everything`` (a record of 13 fields: enums, flags, variants,
options, results, lists, tuples; its conversions run four times per call, since the component
forwards it to the host's import and back).  Each is timed through the bindings and through
``Instance.get_func`` with the runtime's values (``Record``/``Variant``/label sets) built by
hand, the rounds of the two interleaved (the two instances warm up apart, so single calls of
``hello`` vary between runs; the first row times the wrapper alone over a stub function); prints the median per call over the rounds and the
ratio.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from wasmforge import Config, Engine, Store  # noqa: E402
from wasmforge import bindgen  # noqa: E402
from wasmforge.component import Component, Linker, Record, ResourceType, Variant  # noqa: E402

PROJECT = ROOT / "tests" / "component" / "bindgen_project"


def timed_pair(a, b, calls: int, rounds: int):
    """Median per-call time (µs) of ``a`` and of ``b``, their rounds interleaved so that both
    see the same machine load."""
    samples = ([], [])
    for _ in range(rounds):
        for fn, out in ((a, samples[0]), (b, samples[1])):
            start = time.perf_counter()
            for _ in range(calls):
                fn()
            out.append((time.perf_counter() - start) / calls)
    return statistics.median(samples[0]) * 1e6, statistics.median(samples[1]) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--tier", default="interp")
    args = parser.parse_args()
    k = bindgen.load(PROJECT / "wit", "kitchen")
    config = Config()
    config.strategy = args.tier
    text = (PROJECT / "kitchen.wat").read_text()

    class Host:
        def logger_new(self, prefix):
            raise NotImplementedError

        logger_make_default = logger_new

        def transform(self, e):
            return e

        def check(self, p):
            return k.Ok(p)

    class Imports:
        host = Host()

    store = Store(Engine(config))
    typed = k.instantiate(store, Component(store.engine, text), Imports())
    value = k.Everything(name="kitchen", tags=["a", "b"], color=k.Color.BLUE, perms=k.Perms.READ | k.Perms.WRITE,
                         shape=k.ShapeRect(k.Point(1, 2)), node=k.NodeShapes([k.ShapeCircle(2.5)]), maybe=3,
                         nested=k.Some("x"), pair=("x", 1), data=b"\x01", outcome=k.Ok(7),
                         empty_ok=k.Err(k.Color.RED), max_size=1 << 40)

    # the same component through the untyped API, its host function echoing the runtime's value
    raw_store = Store(Engine(config))
    linker = Linker(raw_store.engine)
    with linker.root() as root:
        with root.add_instance("test:kitchen/types"):
            pass
        with root.add_instance("test:kitchen/host") as host:
            host.add_resource("logger", ResourceType.host(7), lambda store, rep: None)
            for name in ("[constructor]logger", "[method]logger.log", "[method]logger.lines",
                         "[static]logger.make-default", "check"):
                host.add_func(name, lambda store, *a: None)
            host.add_func("transform", lambda store, e: e)
    instance = linker.instantiate(raw_store, Component(raw_store.engine, text))
    hello = instance.get_func(raw_store, "hello")
    api = instance.get_export_index(raw_store, "test:kitchen/api")
    transform = instance.get_func(raw_store, instance.get_export_index(raw_store, "transform", api))
    raw_value = Record(**{
        "name": "kitchen", "tags": ["a", "b"], "color": "blue", "perms": {"read", "write"},
        "shape": Variant("rect", Record(x=1, y=2)), "node": Variant("shapes", [Variant("circle", 2.5)]), "maybe": 3,
        "nested": Variant("some", "x"), "pair": ("x", 1), "data": b"\x01", "outcome": Variant("ok", 7),
        "empty-ok": Variant("err", "red"), "max-size": 1 << 40})

    def raw_hello():
        hello(raw_store, "world")
        hello.post_return(raw_store)

    def raw_transform():
        transform(raw_store, raw_value)
        transform.post_return(raw_store)

    assert typed.api.transform(value) == value

    class StubFunc:
        """Stands for the component function: isolates what the bindings' wrapper costs."""

        def __call__(self, store, name):
            return name

        def post_return(self, store):
            pass

    stub = StubFunc()
    stubbed = k.Kitchen.__new__(k.Kitchen)
    stubbed._cx, stubbed._hello = typed._cx, stub

    def raw_stub():
        stub(store, "world")
        stub.post_return(store)
    rows = [("wrapper alone (stub Func)", *timed_pair(lambda: stubbed.hello("world"), raw_stub, args.calls * 10,
                                                      args.rounds)),
            ("hello(string) -> string", *timed_pair(lambda: typed.hello("world"), raw_hello, args.calls, args.rounds)),
            ("api.transform(everything)", *timed_pair(lambda: typed.api.transform(value), raw_transform, args.calls,
                                                      args.rounds))]
    print(f"tier {args.tier}, median of {args.rounds} rounds of {args.calls} calls")
    print(f"{'function':28} {'bindings':>12} {'untyped API':>12} {'ratio':>7}")
    for name, ours, raw in rows:
        print(f"{name:28} {ours:10.1f} us {raw:10.1f} us {ours / raw:6.2f}x")


if __name__ == "__main__":
    main()
