"""The benchmark harness: the corpus in ../shared/bench on any set of engines, side by side.

    python benchmarks/harness.py --size tiny --engines interp,pywasm,wasmtime --baseline pywasm
    python benchmarks/harness.py --size real --engines llvm,wasmtime,native --baseline wasmtime --write

Every measurement runs in a fresh process (so one engine's state cannot help or hurt another)
and engines alternate within each repeat, so slow drifts of a shared machine hit all of them
alike. Each run's stdout is checked against the manifest; a wrong output is reported and
excluded from the ratios. Reported per program: load time (everything before `_start`: decoding, validating, compiling,
instantiating) and run time (medians),
and each engine's run-time ratio to the baseline; the geometric mean comes last.
``--write`` puts the table and a plot (PNG) into docs/performance.md with the machine and date.

``--first-run`` gives each wasmforge run an empty cache folder of its own (cache on, default
settings: what a new user meets) and adds tables of whole-process wall-clock and CPU times:

    python benchmarks/harness.py --size small --engines llvm,wasmtime --first-run --repeat 3

``--cli`` runs wasmforge as a user types it, ``python -m wasmforge run FILE ARGS`` (whole process
only), and ``--old-src DIR`` adds engines ``llvm-old``/``interp-old`` that import wasmforge from
another tree (say ``git archive`` of an older commit's ``src/``), so old and new run side by side:

    python benchmarks/harness.py --size small --engines llvm-old,llvm,wasmtime --baseline wasmtime \
        --first-run --cli --old-src /tmp/old/src --repeat 3

Engines: ``interp`` and ``llvm`` (wasmforge's tiers), ``wasmtime`` (wasmtime-py), ``pywasm``,
``native`` (the corpus sources built here with ``gcc -O2``). Peers are optional extras:
``pip install wasmtime pywasm matplotlib``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(os.environ.get("WASMFORGE_BENCH", ROOT.parent / "shared" / "bench"))
NATIVE_DIR = ROOT / "benchmarks" / ".native"
DOC = ROOT / "docs" / "performance.md"

# One driver per engine, run as `python -c DRIVER wasm_path argv_json`; prints one JSON line.
_DRIVER_WASMFORGE = r"""
import json, os, sys, tempfile, time
tier = sys.argv[3]
import wasmforge
path, argv = sys.argv[1], json.loads(sys.argv[2])
t0 = time.perf_counter()
config = wasmforge.Config()
config.strategy = tier
engine = wasmforge.Engine(config)
module = wasmforge.Module.from_file(engine, path)
t1 = time.perf_counter()
out = tempfile.NamedTemporaryFile(delete=False); out.close()
linker = wasmforge.Linker(engine)
linker.define_wasi()
store = wasmforge.Store(engine)
cfg = wasmforge.WasiConfig()
cfg.argv = argv
cfg.stdout_file = out.name
store.set_wasi(cfg)
instance = linker.instantiate(store, module)
start = instance.exports(store)["_start"]
t2 = time.perf_counter()
try:
    start(store)
except wasmforge.ExitTrap as e:
    if e.code != 0:
        raise
t3 = time.perf_counter()
text = open(out.name).read(); os.unlink(out.name)
# "load" is everything before the program starts: reading, compiling, instantiating
# (wasmforge's llvm tier compiles at instantiation, wasmtime in Module.from_file).
print(json.dumps({"load_s": t2 - t0, "run_s": t3 - t2, "stdout": text}))
"""

# wasmtime-py takes the very same program: the API is the same, only the import differs.
_DRIVER_WASMTIME = _DRIVER_WASMFORGE.replace("tier = sys.argv[3]\nimport wasmforge", "import wasmtime as wasmforge") \
    .replace("config = wasmforge.Config()\nconfig.strategy = tier\n", "") \
    .replace("wasmforge.Engine(config)", "wasmforge.Engine()")

_DRIVER_PYWASM = r"""
import json, os, sys, tempfile, time
import pywasm
path, argv = sys.argv[1], json.loads(sys.argv[2])
t0 = time.perf_counter()
runtime = pywasm.core.Runtime()
wasi = pywasm.wasi.Preview1(argv, {}, {})
wasi.bind(runtime)
module = runtime.instance_from_file(path)
t1 = time.perf_counter()
with tempfile.TemporaryFile() as tmp:
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(tmp.fileno(), 1)
    try:
        code = wasi.main(runtime, module)
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
    t2 = time.perf_counter()
    tmp.seek(0)
    text = tmp.read().decode()
if code:
    raise SystemExit(f"exit code {code}")
print(json.dumps({"load_s": t1 - t0, "run_s": t2 - t1, "stdout": text}))
"""


def build_native(programs) -> None:
    """Build the corpus sources with gcc -O2 (as the corpus's build.sh does) into benchmarks/.native."""
    NATIVE_DIR.mkdir(parents=True, exist_ok=True)
    for name, entry in programs.items():
        exe = NATIVE_DIR / name
        src = BENCH / entry["source"]
        if not exe.exists() or exe.stat().st_mtime < src.stat().st_mtime:
            subprocess.run(["gcc", "-O2", str(src), "-o", str(exe), "-lm"], check=True)


def child_env(cold: bool, cache_dir: str | None = None) -> dict:
    """The engines' environment: a user's usual one.  Python's bytecode cache is allowed (a
    shell here may set PYTHONDONTWRITEBYTECODE, which would make every engine recompile its
    own Python sources on every run); ``cold`` turns wasmforge's translation cache off;
    ``cache_dir`` points it at that (empty) folder instead."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    if cold:
        env["WASMFORGE_CACHE"] = "off"
    if cache_dir:
        env["WASMFORGE_CACHE_DIR"] = cache_dir
    return env


def measure(engine: str, program: str, entry: dict, case: dict, timeout: float, cold: bool = False,
            first_run: bool = False) -> dict:
    """One run of one program on one engine, in a fresh process.  ``wall_s`` is the whole
    process (interpreter start-up and imports included); ``first_run`` gives wasmforge an
    empty cache folder of its own, cache on: a new user's first run with default settings."""
    wasm = str(BENCH / entry["wasm"])
    argv = [program] + case["args"]
    if engine == "native":
        import time
        t0 = time.perf_counter()
        proc = subprocess.run([str(NATIVE_DIR / program)] + case["args"], capture_output=True,
                              text=True, timeout=timeout)
        elapsed = time.perf_counter() - t0
        return {"load_s": 0.0, "run_s": elapsed, "ok": proc.stdout == case["stdout"],
                "error": proc.stderr.strip()[-300:] if proc.returncode else None}
    env = child_env(cold, None)
    tier = engine.removesuffix("-old")
    if tier != engine:
        # The same engine from another wasmforge tree (--old-src), for side-by-side runs.
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [OPTIONS["old_src"], env.get("PYTHONPATH")]))
    if tier in ("interp", "llvm") and OPTIONS["cli"]:
        # What a user types: `python -m wasmforge run` (default tier unless interp asked for).
        cmd = [sys.executable, "-m", "wasmforge", "run", *(["--tier", tier] if tier != "llvm" else []),
               wasm, *case["args"]]
    elif tier in ("interp", "llvm"):
        cmd = [sys.executable, "-c", _DRIVER_WASMFORGE, wasm, json.dumps(argv), tier]
    elif engine == "wasmtime":
        cmd = [sys.executable, "-c", _DRIVER_WASMTIME, wasm, json.dumps(argv)]
    elif engine == "pywasm":
        cmd = [sys.executable, "-c", _DRIVER_PYWASM, wasm, json.dumps(argv)]
    else:
        raise SystemExit(f"unknown engine {engine!r}")
    import tempfile
    import time
    import resource
    with tempfile.TemporaryDirectory(prefix="wf-first-run-") as empty:
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        # A session of its own: what the run leaves running after it exits (the llvm tier's
        # optimised recompile of a first run finishes in the background and fills the cache)
        # is waited for before the next measurement, so it does not slow that one down.
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=dict(env, **({"WASMFORGE_CACHE_DIR": empty} if first_run else {})),
                                start_new_session=True)
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            return {"ok": False, "error": f"timed out after {timeout:.0f} s"}
        wall = time.perf_counter() - t0
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        # The process's own CPU (what it leaves running after it exits is not counted).
        cpu = (r1.ru_utime + r1.ru_stime) - (r0.ru_utime + r0.ru_stime)
        background = _wait_group(proc.pid)
        proc = subprocess.CompletedProcess(cmd, proc.returncode, out, err)
    if proc.returncode != 0:
        return {"ok": False, "error": (proc.stderr.strip().splitlines() or ["exit %d" % proc.returncode])[-1]}
    if tier in ("interp", "llvm") and OPTIONS["cli"]:
        # The command line reports no phases: the whole process is all there is.
        result = {"load_s": 0.0, "run_s": wall, "stdout": proc.stdout}
    else:
        result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["wall_s"] = wall
    result["cpu_s"] = cpu
    result["background_s"] = background
    result["ok"] = result.pop("stdout") == case["stdout"]
    if not result["ok"]:
        result["error"] = "stdout differs from the manifest"
    return result


def _wait_group(pgid: int, limit: float = 120.0) -> float:
    """Wait (up to ``limit`` seconds) until no process of the process group ``pgid`` is
    left; return how long that took."""
    import time
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < limit:
        try:
            os.killpg(pgid, 0)
        except (ProcessLookupError, PermissionError):
            break
        time.sleep(0.02)
    return time.perf_counter() - t0


#: set by main(): --cli (wasmforge runs as `python -m wasmforge run`), --old-src (the tree
#: the engines named ``<engine>-old`` import)
OPTIONS = {"cli": False, "old_src": None}


def geomean(values):
    values = [v for v in values if v and v > 0]
    return math.exp(sum(map(math.log, values)) / len(values)) if values else None


def machine_line() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}")


def run(args) -> dict:
    manifest = json.loads((BENCH / "manifest.json").read_text())
    programs = manifest["programs"]
    if args.programs:
        programs = {k: v for k, v in programs.items() if k in args.programs.split(",")}
    engines = args.engines.split(",")
    if "native" in engines:
        build_native(programs)
    results = {e: {p: [] for p in programs} for e in engines}
    errors = {}
    for rep in range(args.repeat):
        for program, entry in programs.items():
            case = entry["sizes"][args.size]
            for engine in engines:               # alternate engines within one repeat
                if (engine, program) in errors:
                    continue
                r = measure(engine, program, entry, case, args.timeout, args.cold,
                            getattr(args, "first_run", False))
                if not r["ok"]:
                    errors[(engine, program)] = r.get("error")
                    print(f"  {engine:9} {program:8} FAILED: {r.get('error')}", file=sys.stderr)
                    continue
                results[engine][program].append(r)
                print(f"  [{rep + 1}/{args.repeat}] {engine:9} {program:8} load {r['load_s']:.4f} s  "
                      f"run {r['run_s']:.4f} s  whole {r.get('wall_s', 0):.4f} s"
                      f"  (background after exit {r.get('background_s', 0):.2f} s)",
                      file=sys.stderr, flush=True)
    return {"programs": list(programs), "engines": engines, "results": results, "errors": errors}


def table(data: dict, baseline: str, size: str) -> str:
    engines = data["engines"]
    res = data["results"]

    def med(engine, program, key):
        runs = res[engine][program]
        return statistics.median(r[key] for r in runs) if runs else None

    head = ["program"]
    for e in engines:
        head += [f"{e} load (s)", f"{e} run (s)"]
    head += [f"{e} / {baseline}" for e in engines if e != baseline]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    ratios = {e: [] for e in engines}
    for p in data["programs"]:
        row = [p]
        for e in engines:
            load, runt = med(e, p, "load_s"), med(e, p, "run_s")
            row += ["—" if load is None else f"{load:.4f}", "FAILED" if runt is None else f"{runt:.4f}"]
        base = med(baseline, p, "run_s")
        for e in engines:
            if e == baseline:
                continue
            t = med(e, p, "run_s")
            if t is None or base is None:
                row.append("—")
            else:
                ratios[e].append(t / base)
                row.append(_ratio(t / base))
        lines.append("| " + " | ".join(row) + " |")
    row = ["**geomean**"] + ["", ""] * len(engines)
    for e in engines:
        if e != baseline:
            g = geomean(ratios[e])
            row.append("—" if g is None else f"**{_ratio(g)}**")
    lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def wall_table(data: dict, baseline: str, key: str = "wall_s") -> str:
    """Whole-process wall time (median) per program and engine, and the ratios to
    ``baseline``: what ``--first-run`` is about.  ``key="cpu_s"``: the processes' CPU time
    instead (user + system, the figure that holds on a machine shared with other work)."""
    engines, res = data["engines"], data["results"]

    def med(e, p):
        runs = [r[key] for r in res[e][p] if key in r]
        return statistics.median(runs) if runs else None

    what = "CPU" if key == "cpu_s" else "whole process"
    others = [e for e in engines if e != baseline]
    head = ["program"] + [f"{e} {what} (s)" for e in engines] + [f"{e} / {baseline}" for e in others]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    ratios = {e: [] for e in others}
    for p in data["programs"]:
        row = [p] + ["FAILED" if med(e, p) is None else f"{med(e, p):.3f}" for e in engines]
        base = med(baseline, p)
        for e in others:
            t = med(e, p)
            if t is None or not base:
                row.append("—")
            else:
                ratios[e].append(t / base)
                row.append(_ratio(t / base))
        lines.append("| " + " | ".join(row) + " |")
    row = ["**geomean**"] + [""] * len(engines)
    for e in others:
        g = geomean(ratios[e])
        row.append("—" if g is None else f"**{_ratio(g)}**")
    lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def _ratio(r: float) -> str:
    # Ratios are engine time / baseline time: below 1 means faster than the baseline.
    return f"{r:.3g}x"


def plot(data: dict, baseline: str, path: Path, title: str) -> bool:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    res = data["results"]
    engines = [e for e in data["engines"] if e != baseline]
    programs = data["programs"]
    fig, ax = plt.subplots(figsize=(10, 4.5))
    width = 0.8 / max(1, len(engines))
    base = {p: statistics.median(r["run_s"] for r in res[baseline][p]) if res[baseline][p] else None
            for p in programs}
    for i, e in enumerate(engines):
        ys = []
        for p in programs:
            runs = res[e][p]
            ys.append(statistics.median(r["run_s"] for r in runs) / base[p] if runs and base[p] else 0)
        ax.bar([k + i * width for k in range(len(programs))], ys, width, label=e)
    ax.set_xticks([k + width * (len(engines) - 1) / 2 for k in range(len(programs))], programs)
    ax.set_yscale("log")
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_ylabel(f"run time / {baseline} (log scale, lower is faster)")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def write_doc(section_id: str, markdown: str) -> None:
    """Replace (or append) the section between markers for ``section_id`` in performance.md."""
    begin, end = f"<!-- harness:{section_id}:begin -->", f"<!-- harness:{section_id}:end -->"
    text = DOC.read_text() if DOC.exists() else "# Performance\n"
    block = f"{begin}\n{markdown}\n{end}"
    if begin in text and end in text:
        text = text[:text.index(begin)] + block + text[text.index(end) + len(end):]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    DOC.write_text(text)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", default="tiny", choices=("tiny", "small", "real"))
    ap.add_argument("--engines", default="interp,pywasm", help="comma-separated: interp,llvm,wasmtime,pywasm,native")
    ap.add_argument("--baseline", help="engine the ratios divide by (default: the last engine)")
    ap.add_argument("--programs", help="comma-separated subset of the corpus")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--timeout", type=float, default=600.0, help="seconds per run")
    ap.add_argument("--cold", action="store_true",
                    help="run wasmforge with its translation cache off (every run translates from scratch)")
    ap.add_argument("--first-run", action="store_true",
                    help="each wasmforge run gets an empty cache folder (cache on: a first run with "
                         "default settings); also prints whole-process times side by side")
    ap.add_argument("--cli", action="store_true",
                    help="run wasmforge as `python -m wasmforge run FILE ARGS` (whole process only) "
                         "instead of the API script")
    ap.add_argument("--old-src", metavar="SRC",
                    help="engines named llvm-old / interp-old import wasmforge from this folder "
                         "(say a `git archive` of an older tree's src/): old and new side by side")
    ap.add_argument("--write", action="store_true", help="record the table and plot in docs/performance.md")
    ap.add_argument("--json", type=Path, help="also save raw results here")
    args = ap.parse_args(argv)
    OPTIONS.update(cli=args.cli, old_src=os.path.abspath(args.old_src) if args.old_src else None)
    if any(e.endswith("-old") for e in args.engines.split(",")) and not args.old_src:
        ap.error("engines named *-old need --old-src")
    baseline = args.baseline or args.engines.split(",")[-1]
    if baseline not in args.engines.split(","):
        ap.error("--baseline must be one of --engines")
    data = run(args)
    # (the command line reports no load/run split: only whole processes then)
    md = wall_table(data, baseline) if args.cli else table(data, baseline, args.size)
    print(md)
    if args.first_run and not args.cli:
        print()
        print(wall_table(data, baseline))
    if args.first_run:
        print()
        print(wall_table(data, baseline, "cpu_s"))
    if args.json:
        args.json.write_text(json.dumps({k: (v if k != "errors" else {f"{a}/{b}": e for (a, b), e in v.items()})
                                         for k, v in data.items()}, indent=1))
    if args.write:
        section = f"{args.size}-{'-'.join(data['engines'])}" + ("-cold" if args.cold else "")
        png = DOC.parent / f"performance-{section}.png"
        title = f"corpus '{args.size}' sizes: run time relative to {baseline}"
        has_plot = plot(data, baseline, png, title)
        stamp = datetime.date.today().isoformat()
        cache = ("wasmforge's translation cache off (`--cold`): every run translates from scratch" if args.cold
                 else "wasmforge's on-disk translation cache on, so runs after the first reuse translations")
        body = [f"### {args.size} sizes: {', '.join(data['engines'])} (baseline {baseline})"
                + (", cold" if args.cold else ""), "",
                f"Measured {stamp} on {machine_line()}; median of {args.repeat} runs per engine, "
                f"engines alternating, each run a fresh process. Command: "
                f"`python benchmarks/harness.py --size {args.size} --engines {args.engines} "
                f"--baseline {baseline} --repeat {args.repeat}{' --cold' if args.cold else ''} --write`; "
                f"{cache}. Times are seconds; ratios are engine time / {baseline} time (below 1 is faster).",
                "", md, ""]
        if data["errors"]:
            body += ["Failures: " + "; ".join(f"{e}/{p}: {msg}" for (e, p), msg in data["errors"].items()), ""]
        if has_plot:
            body.append(f"![{title}]({png.name})")
        write_doc(section, "\n".join(body))
        print(f"wrote {DOC}" + (f" and {png}" if has_plot else ""), file=sys.stderr)
    return 1 if data["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
