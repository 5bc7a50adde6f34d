"""Start-up beside wasmtime-py, one figure: every measure of issue 10 as wasmforge's time (or
memory) over wasmtime-py's, each beside the bar it has to meet, from the JSON files the
benchmark scripts write.

    python benchmarks/plot_startup.py [--first-run small.json] [--warm real.json tiny.json]
                                      [--coldstart cold.json] [--big go.json graphviz.json ...]
                                      [--steady graphviz_steady.json]
                                      [--png docs/performance-startup.png] [--title TEXT]

- ``--first-run``: ``harness.py --size small --engines llvm,wasmtime --first-run --cli --json``
  (whole processes, each with an empty cache): the geometric mean over the programs of the
  median wall-clock time's ratio;
- ``--warm``: ``bench_startup.py --processes --size real|tiny --json`` (whole processes, warm
  cache): the same geomean, labelled by size;
- ``--coldstart``: ``bench_coldstart.py --json`` (in process, medians): the trivial export's
  ``deserialize`` (artifact + instantiate + call) and ``pre`` (InstancePre + call) cases;
- ``--big``: ``bench_big.py --json`` (first runs with an empty cache, one per round, then warm
  runs): per program, the median first run's wall-clock time, the warm runs' median and the
  peak RSS (the larger ratio of the first and the warm runs'); for graphviz the in-process
  first render and the median of the warm runs' steady renders, the figures its bar is about;
- ``--steady``: ``big/graphviz_steady.py --json`` (the engines alternating render by render in
  one process): the median render of each engine over the processes after the first.

Prints the same figures as a Markdown table (measure, wasmforge, wasmtime-py, ratio, bar, met)
and writes the PNG when matplotlib is installed.  A measure whose runs failed is left out and
named.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_big import Run, split_runs  # noqa: E402  (how bench_big.py's JSON reads)


@dataclass
class Measure:
    label: str
    ours: float         # wasmforge's figure (s, ms, µs or MB: see unit)
    peer: float         # wasmtime-py's, the same unit
    bar: float          # the ratio ours / peer must not exceed
    unit: str

    @property
    def ratio(self) -> float:
        return self.ours / self.peer

    @property
    def met(self) -> bool:
        return self.ratio <= self.bar


def _geomean(xs: list) -> float:
    return math.exp(sum(map(math.log, xs)) / len(xs))


def _paired_geomean(per_program: dict, ours: str, peer: str) -> tuple:
    """The geomeans of the two engines' per-program medians, over the programs both ran (their
    quotient is the geomean of the programs' ratios)."""
    a, b = [], []
    for engines in per_program.values():
        xs, ys = engines.get(ours), engines.get(peer)
        if xs and ys:
            a.append(statistics.median(xs))
            b.append(statistics.median(ys))
    if not a:
        raise ValueError("no program ran on both engines")
    return _geomean(a), _geomean(b)


def first_run(path: Path) -> list:
    data = json.loads(path.read_text())
    res = data["results"]
    per = {p: {e: [r["wall_s"] for r in res[e][p] if "wall_s" in r] for e in res} for p in data["programs"]}
    ours, peer = _paired_geomean(per, "llvm", "wasmtime")
    return [Measure(f"first run, corpus '{data.get('size', 'small')}' (geomean, whole process)",
                    ours, peer, 2.0, "s")]


def warm(path: Path) -> list:
    data = json.loads(path.read_text())
    wall = data["wall_s"]
    per = {p: {e: wall[e][p] for e in wall} for p in data["programs"]}
    ours, peer = _paired_geomean(per, "wasmforge", "wasmtime")
    bar = {"real": 1.1, "tiny": 1.5}.get(data["size"], 1.5)
    return [Measure(f"warm run, corpus '{data['size']}' (geomean, whole process)", ours, peer, bar, "s")]


def coldstart(path: Path) -> list:
    res = json.loads(path.read_text())["results"]["trivial"]
    out = []
    for case, label in (("deserialize", "artifact: deserialize + instantiate + call"),
                        ("pre", "InstancePre: instantiate + call")):
        if case in res:
            out.append(Measure(label + " (in process)", res[case]["wasmforge"]["median_us"],
                               res[case]["wasmtime"]["median_us"], 1.0, "µs"))
    return out


def big(path: Path) -> list:
    data = json.loads(path.read_text())
    out = []
    for program, by_engine in data.items():
        mine = [Run(**r) for r in by_engine.get("wasmforge", ())]
        theirs = [Run(**r) for r in by_engine.get("wasmtime", ())]
        if not mine or not theirs:
            continue
        if any(r.error for r in mine + theirs):
            print(f"{program}: failed runs, left out: "
                  + "; ".join(sorted({r.error for r in mine + theirs if r.error})), file=sys.stderr)
            continue
        first_mine, warm_mine = split_runs(mine)
        first_theirs, warm_theirs = split_runs(theirs)
        med = statistics.median
        if program == "graphviz":
            out.append(Measure("graphviz: first render (in process)",
                               med(r.phases["first_render"] for r in first_mine),
                               med(r.phases["first_render"] for r in first_theirs), 3.0, "s"))
            if warm_mine and warm_theirs:
                steady = lambda rs: 1e3 * med(r.phases["steady_render"] for r in rs)  # noqa: E731
                out.append(Measure("graphviz: steady render (median of warm runs)", steady(warm_mine),
                                   steady(warm_theirs), 1.5, "ms"))
            continue
        out.append(Measure(f"{program}: first run (whole process)", med(r.wall for r in first_mine),
                           med(r.wall for r in first_theirs), 3.0, "s"))
        if warm_mine and warm_theirs:
            out.append(Measure(f"{program}: warm run (median, whole process)",
                               med(r.wall for r in warm_mine), med(r.wall for r in warm_theirs), 1.5, "s"))
            rss = [(med(r.rss_mb for r in first_mine), med(r.rss_mb for r in first_theirs)),
                   (med(r.rss_mb for r in warm_mine), med(r.rss_mb for r in warm_theirs))]
            a, b = max(rss, key=lambda pair: pair[0] / pair[1])
            out.append(Measure(f"{program}: peak RSS (first or warm run, the larger ratio)", a, b, 2.0, "MB"))
    return out


def steady(path: Path) -> list:
    """``big/graphviz_steady.py --json``: every render of the warm processes (the second on;
    the first compiles), each engine's median."""
    processes = json.loads(path.read_text())
    warm = processes[1:] or processes
    ours = [t for p in warm for t in p["renders"]["wasmforge"]]
    peer = [t for p in warm for t in p["renders"]["wasmtime"]]
    label = f"graphviz: steady render, alternating in one process ({len(warm)} warm processes)"
    return [Measure(label, 1e3 * statistics.median(ours), 1e3 * statistics.median(peer), 1.5, "ms")]


def table(measures: list) -> str:
    lines = ["| measure | wasmforge | wasmtime-py | ratio | bar | met |", "|---|---|---|---|---|---|"]
    for m in measures:
        fmt = {"µs": "{:.0f}", "MB": "{:.0f}", "ms": "{:.2f}"}.get(m.unit, "{:.3f}")
        lines.append(f"| {m.label} | {fmt.format(m.ours)} {m.unit} | {fmt.format(m.peer)} {m.unit} "
                     f"| {m.ratio:.2f}x | {m.bar:g}x | {'yes' if m.met else '**no**'} |")
    return "\n".join(lines)


def plot(measures: list, png: Path, title: str) -> bool:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import matplotlib.ticker
    except ImportError:
        return False
    labels = [m.label for m in measures][::-1]
    ratios = [m.ratio for m in measures][::-1]
    bars = [m.bar for m in measures][::-1]
    colours = ["#2e7d32" if m.met else "#c62828" for m in measures][::-1]
    fig, ax = plt.subplots(figsize=(10, 0.38 * len(measures) + 1.4))
    ys = range(len(measures))
    ax.barh(ys, ratios, color=colours, height=0.6)
    ax.scatter(bars, ys, marker="|", s=300, color="black", zorder=3, label="the bar (at most)")
    ax.axvline(1.0, color="grey", linewidth=0.8, linestyle="--")
    ax.set_xscale("log")
    lo, hi = min(ratios + bars + [1.0]), max(ratios + bars)
    ticks = [t for t in (0.25, 0.5, 0.75, 1, 1.5, 2, 3, 4, 6, 8, 12) if lo / 1.5 <= t <= hi * 1.5]
    ax.set_xticks(ticks)
    ax.set_xticklabels([f"{t:g}x" for t in ticks])
    ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    ax.set_yticks(list(ys))
    ax.set_yticklabels(labels, fontsize=8)
    ax.set_xlabel("wasmforge / wasmtime-py (lower is better; 1 = the same)")
    ax.set_title(title, fontsize=10)
    ax.legend(loc="lower right", fontsize=8)
    for y, r in zip(ys, ratios):
        ax.text(r, y, f" {r:.2f}x", va="center", fontsize=7)
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    plt.close(fig)
    return True


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--first-run", type=Path, action="append", default=[])
    ap.add_argument("--warm", type=Path, nargs="*", default=[])
    ap.add_argument("--coldstart", type=Path, action="append", default=[])
    ap.add_argument("--big", type=Path, nargs="*", default=[])
    ap.add_argument("--steady", type=Path, action="append", default=[])
    ap.add_argument("--png", type=Path, default=ROOT / "docs" / "performance-startup.png")
    ap.add_argument("--title", default="Start-up beside wasmtime-py (issue 10's bars)")
    args = ap.parse_args(argv)
    measures = []
    for reader, paths in ((first_run, args.first_run), (warm, args.warm),
                          (coldstart, args.coldstart), (big, args.big), (steady, args.steady)):
        for path in paths:
            measures += reader(path)
    if not measures:
        ap.error("no measures: give at least one JSON file")
    print(table(measures))
    if plot(measures, args.png, args.title):
        print(f"\n![{args.title}]({args.png.name})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
