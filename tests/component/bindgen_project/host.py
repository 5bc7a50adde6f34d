"""The host of the bindings test project: runs kitchen.wat through the bindings that
`wasmforge bindgen wit/ -o kitchen_bindings.py` writes, implementing its imports and calling
its exports.  Checked with `mypy --strict` (tests/component/test_bindgen_project.py).

    python host.py kitchen.wat
"""

from __future__ import annotations

import dataclasses
import sys

from wasmforge import Engine, Store
from wasmforge.component import Component

import kitchen_bindings as kitchen
from kitchen_bindings import Err, Everything, Ok, Point, Result


class PrefixLogger(kitchen.Logger):
    """The host's implementation of the resource `logger`."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.logged: list[str] = []

    def log(self, msg: str) -> None:
        self.logged.append(self.prefix + msg)

    def lines(self) -> list[str]:
        return list(self.logged)

    def close(self) -> None:
        print(f"closed logger {self.prefix!r}")


class Host:
    """The imported interface `host` (kitchen.HostImports)."""

    def logger_new(self, prefix: str) -> kitchen.Logger:
        return PrefixLogger(prefix)

    def logger_make_default(self) -> kitchen.Logger:
        return PrefixLogger("")

    def transform(self, e: Everything) -> Everything:
        return dataclasses.replace(e, name=e.name.upper(), tags=[*e.tags, "seen"], maybe=len(e.tags))

    def check(self, p: Point) -> Result[Point, str]:
        return Ok(Point(p.y, p.x)) if p.x >= 0 else Err(f"x is negative: {p.x}")


class Imports:
    """Everything the world `kitchen` imports (kitchen.KitchenImports)."""

    def __init__(self) -> None:
        self.host = Host()


def main(path: str) -> None:
    store = Store(Engine())
    plugin = kitchen.instantiate(store, Component.from_file(store.engine, path), Imports())
    print(plugin.hello("world"))

    for point in (Point(3, 4), Point(-1, 0)):
        match plugin.api.check(point):
            case Ok(swapped):
                print("ok:", swapped)
            case Err(message):
                print("error:", message)

    e = Everything(name="kitchen", tags=["a", "b"], color=kitchen.Color.BLUE,
                   perms=kitchen.Perms.READ | kitchen.Perms.WRITE, shape=kitchen.ShapeCircle(2.5),
                   node=kitchen.NodeLeaf(1), maybe=None, nested=kitchen.Some(None), pair=("x", 1),
                   data=b"\x01", outcome=Ok(7), empty_ok=Err(kitchen.Color.RED), max_size=1 << 40)
    back = plugin.api.transform(e)
    print(back.name, back.tags, back.maybe, back.perms == e.perms)

    logger = plugin.api.new_logger("log: ")
    plugin.api.log_with(logger, "one")
    plugin.api.log_with(logger, "two")
    print(logger.lines())
    plugin.api.drop_logger(plugin.api.default_logger())

    counters = plugin.counters
    with counters.Counter(40) as counter, counters.Counter.zero() as zero:
        counter.add(2)
        zero.add(1)
        total: int = counters.total(counter, [zero])
        print("counter:", counter.get(), "total:", total)


if __name__ == "__main__":
    main(sys.argv[1])
