"""Prints the toolchain table of docs/toolchains.md: each probe run whole-process by
``wasmforge run`` on the interp tier and on the llvm tier (first run with an empty compile
cache, then warm), and by the wasmtime CLI beside it, with whether stdout, stderr and the exit
code are the expected ones (test_toolchains.expected()), the CPU seconds (user + system) of
the process and of the children it waited for (on the shared machine wall-clock time mostly
measures the other jobs) and the wall-clock seconds (which include what the llvm tier's
forked optimising recompile costs the run, when it is not waited for).

    python tests/toolchains/matrix.py /path/to/wasmtime [PROGRAM...]
"""

from __future__ import annotations

import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))     # tests/: support.py
from test_toolchains import FULL, HERE, PROGRAMS, command, expected, run  # noqa: E402


def timed(argv):
    """run(argv) and what it cost: "CPU seconds (user + system, waited-for children included)
    / wall-clock seconds"."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    got = run(argv)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return got, f"{cpu:.2f} / {wall:.2f} s"


def main() -> None:
    wasmtime = shutil.which(sys.argv[1]) if len(sys.argv) > 1 else None
    names = sys.argv[2:] or list(PROGRAMS)
    if wasmtime is None or set(names) - set(PROGRAMS):
        print(f"usage: python tests/toolchains/matrix.py /path/to/wasmtime [{' '.join(PROGRAMS)}]",
              file=sys.stderr)
        sys.exit(2)
    print("| program | size | interp | llvm, empty cache | llvm, warm | wasmtime, no cache "
          "| wasmtime, warm |")
    print("|---|---:|---|---|---|---|---|")
    for name in names:
        wasm = HERE / f"{name}.wasm"
        want = expected(name, FULL)
        cells = []
        with tempfile.TemporaryDirectory() as cache:
            os.environ["WASMFORGE_CACHE_DIR"] = cache      # run() passes it on
            for tier in ("interp", "llvm", "llvm"):
                argv = [sys.executable, "-m", "wasmforge", "run", "--tier", tier,
                        *command(FULL), str(wasm), *FULL[0]]
                got, secs = timed(argv)
                cells.append(f"{'same' if got == want else 'DIFFERENT'}, {secs}")
        flags = PROGRAMS[name][2]
        # wasmtime's CLI caches compiled modules by default: once without its cache (a first
        # run), then warm (after a run that fills the cache).
        if flags is None:
            cells += ["cannot run it"] * 2
        else:
            base = [wasmtime, "run"]
            rest = [*flags, *command(FULL), str(wasm), *FULL[0]]
            cold, cold_secs = timed([*base, "-Ccache=n", *rest])
            timed([*base, "-Ccache=y", *rest])
            warm, warm_secs = timed([*base, "-Ccache=y", *rest])
            for got, secs in ((cold, cold_secs), (warm, warm_secs)):
                cells.append(f"{'expected' if got == want else 'DIFFERENT'}, {secs}")
        size = f"{wasm.stat().st_size / 1024:.0f} KiB"
        print(f"| {name} | {size} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
