"""A plugin host: runs user-submitted WebAssembly components that implement the WIT world
`plugin` (wit/plugin.wit: export `transform: func(input: string) -> result<string, string>`,
import `log: func(message: string)`), safely.

- **Nothing but the world.**  A plugin gets its `log` import and nothing else: no WASI, so no
  files, network, clock, randomness or environment.  A component that imports anything more
  is refused when it is loaded (`PluginRejected`), before any of its code runs.
- **Limits on every call.**  Each call runs in a fresh store and instance (nothing survives
  from one call to the next), with its own fuel, a wall-clock deadline (epoch interruption,
  a ticker thread advancing the engine's epoch), a cap on its linear memory and one on the
  lines it may log.  A plugin that loops, traps, exhausts its memory or floods the log fails
  that call alone; the host and the other plugins go on.
- **Typed bindings.**  `plugin_api.py` is written by `wasmforge bindgen wit/ -o plugin_api.py`:
  `transform` returns `Ok(str) | Err(str)`, and `Host` below is checked against the bindings'
  `PluginImports` protocol by mypy.

    python host.py                                   # the demo: every sample plugin, every attack
    python host.py plugins/upper.wasm "some text"    # one plugin, one input
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional, Sequence

from wasmforge import Config, Engine, Store, Trap, TrapCode
from wasmforge.component import Component, InstancePre, Linker
from wasmforge.errors import WasmError

import plugin_api
from plugin_api import Err, Ok

HERE = Path(__file__).resolve().parent
#: what the world `plugin` lets a component import
ALLOWED_IMPORTS = frozenset({"log"})
#: the period of the epoch ticker (seconds): the deadline's resolution
TICK = 0.01


class PluginRejected(Exception):
    """A submitted component the host will not run (not a valid component, or not of the
    world `plugin`)."""


class LogFlood(Exception):
    """Raised into a plugin that logs more lines in one call than the host allows (the call
    fails; the exception crosses the component and reaches the host's caller unchanged)."""


@dataclass(frozen=True)
class Limits:
    """What one call of a plugin may use."""

    fuel: int = 10_000_000              # wasm instructions, roughly
    timeout: float = 2.0                # seconds of wall-clock time
    memory: int = 16 * 1024 * 1024      # bytes of linear memory
    log_lines: int = 100


@dataclass
class Outcome:
    """What one call gave: ``status`` is "ok" or "error" (the plugin's own result) or
    "failed" (the host stopped it: a trap, a limit; ``value`` says why)."""

    plugin: str
    input: str
    status: str
    value: str
    log: List[str] = field(default_factory=list)
    seconds: float = 0.0

    def __str__(self) -> str:
        lines = "".join(f"\n    log: {line}" for line in self.log[:3])
        more = f"\n    log: ... {len(self.log) - 3} more lines" if len(self.log) > 3 else ""
        return f"{self.plugin}({self.input!r}): {self.status}: {self.value}{lines}{more}"


class Host:
    """The host side of the world `plugin` (it implements ``plugin_api.PluginImports``):
    collects the lines the plugin logs during one call, up to the limit."""

    def __init__(self, name: str, max_lines: int) -> None:
        self.name = name
        self.max_lines = max_lines
        self.lines: List[str] = []

    def log(self, message: str) -> None:
        if len(self.lines) >= self.max_lines:
            raise LogFlood(f"more than {self.max_lines} log lines in one call")
        self.lines.append(message)


@dataclass
class Plugin:
    """A loaded plugin: its component with imports resolved once (``InstancePre``)."""

    name: str
    pre: InstancePre
    host: Host
    tables: plugin_api.ImportState


class PluginHost:
    """Loads plugins and calls them under ``limits``.  Calls of one plugin run one at a time
    (its log is per call); ``tier`` picks the execution tier (None: the default)."""

    def __init__(self, limits: Limits = Limits(), tier: Optional[str] = None) -> None:
        config = Config()
        config.consume_fuel = True
        config.epoch_interruption = True
        if tier is not None:
            config.strategy = tier
        self.engine = Engine(config)
        self.limits = limits
        self.tier = tier
        self._stop = threading.Event()
        self._ticker = threading.Thread(target=self._tick, name="plugin-epoch", daemon=True)
        self._ticker.start()

    def _tick(self) -> None:
        while not self._stop.wait(TICK):
            self.engine.increment_epoch()

    def close(self) -> None:
        self._stop.set()
        self._ticker.join()

    def load(self, path: Path) -> Plugin:
        """Check and prepare the component at ``path``; PluginRejected if it is not a valid
        component of the world `plugin`."""
        name = path.stem
        try:
            component = Component.from_file(self.engine, str(path))
        except (OSError, WasmError) as exc:
            raise PluginRejected(f"{path}: not a valid component: {exc}") from None
        wanted = sorted(set(component.type.imports(self.engine)) - ALLOWED_IMPORTS)
        if wanted:
            raise PluginRejected(f"{path}: imports {', '.join(wanted)}, which plugins may not use "
                                 f"(they may import only: {', '.join(sorted(ALLOWED_IMPORTS))})")
        host = Host(name, self.limits.log_lines)
        linker = Linker(self.engine)
        tables = plugin_api.add_to_linker(linker, host)
        try:
            pre = linker.instantiate_pre(component)
        except WasmError as exc:        # `log` imported with another type, for one
            raise PluginRejected(f"{path}: does not fit the world `plugin`: {exc}") from None
        if "transform" not in component.type.exports(self.engine):
            raise PluginRejected(f"{path}: does not export `transform`")
        return Plugin(name, pre, host, tables)

    def transform(self, plugin: Plugin, text: str) -> Outcome:
        """Call ``plugin``'s `transform` on ``text`` in a fresh instance, under the limits."""
        store = Store(self.engine)
        store.set_fuel(self.limits.fuel)
        store.set_epoch_deadline(max(1, math.ceil(self.limits.timeout / TICK)))
        store.set_limits(memory_size=self.limits.memory)
        plugin.host.lines = []
        start = time.perf_counter()
        try:
            exports = plugin_api.Plugin(store, plugin.pre.instantiate(store), plugin.tables)
            match exports.transform(text):
                case Ok(value):
                    status, message = "ok", value
                case Err(error):
                    status, message = "error", error
        except Trap as trap:
            status, message = "failed", _why(trap, self.limits)
        except LogFlood as exc:
            status, message = "failed", str(exc)
        finally:
            store.close()       # the instance's memory is released now, not at the next GC
        return Outcome(plugin.name, text, status, message, plugin.host.lines, time.perf_counter() - start)


def _why(trap: Trap, limits: Limits) -> str:
    if trap.code is TrapCode.OUT_OF_FUEL:
        return f"ran out of fuel ({limits.fuel:,} units)"
    if trap.code is TrapCode.INTERRUPT:
        return f"ran past its deadline ({limits.timeout} s)"
    cause = trap.code.value if trap.code is not None else str(trap).splitlines()[-1]
    return f"trapped: {cause}"


#: the demo: (plugin, input) in order
DEMO = [("upper", "hello, plugins"), ("upper", ""), ("reverse", "stressed"), ("reverse", "naïve"),
        ("evil", "harmless"), ("evil", "loop"), ("evil", "trap"), ("evil", "alloc"), ("evil", "flood"),
        ("upper", "still fine")]


def demo(host: PluginHost, folder: Path) -> int:
    plugins = {}
    for path in sorted(folder.glob("*.wasm")):
        try:
            plugins[path.stem] = host.load(path)
            print(f"loaded {path.stem}")
        except PluginRejected as exc:
            print(f"rejected {path.stem}: {exc}")
    for name, text in DEMO:
        print(host.transform(plugins[name], text))
    # fuel stops a loop first under the default limits; with fuel to spare, the deadline does
    patient = PluginHost(dataclasses.replace(host.limits, fuel=1 << 62, timeout=0.5), tier=host.tier)
    try:
        outcome = patient.transform(patient.load(folder / "evil.wasm"), "loop")
        print(f"{outcome} (unlimited fuel; stopped after {outcome.seconds:.2f} s)")
    finally:
        patient.close()
    return 0


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(description="Run WebAssembly plugins of the world `plugin` safely.")
    parser.add_argument("plugin", nargs="?", type=Path, help="a plugin component (.wasm); none: the demo")
    parser.add_argument("input", nargs="?", default="", help="the text to transform")
    parser.add_argument("--tier", choices=["interp", "llvm"], default=None)
    parser.add_argument("--fuel", type=int, default=Limits.fuel)
    parser.add_argument("--timeout", type=float, default=Limits.timeout)
    parser.add_argument("--memory", type=int, default=Limits.memory)
    args = parser.parse_args(argv)
    host = PluginHost(Limits(fuel=args.fuel, timeout=args.timeout, memory=args.memory), tier=args.tier)
    try:
        if args.plugin is None:
            return demo(host, HERE / "plugins")
        try:
            plugin = host.load(args.plugin)
        except PluginRejected as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        outcome = host.transform(plugin, args.input)
        print(outcome)
        return 0 if outcome.status == "ok" else 1
    finally:
        host.close()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
