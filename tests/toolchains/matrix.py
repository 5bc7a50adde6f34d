"""Prints the toolchain table of docs/toolchains.md: each probe run whole-process by
``wasmforge run`` on the interp tier and on the llvm tier (first run with an empty compile
cache, then warm), and by the wasmtime CLI beside it, with the seconds each took and whether
stdout, stderr and the exit code are the expected ones (test_toolchains.expected()).

    python tests/toolchains/matrix.py /path/to/wasmtime [PROGRAM...]
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))     # tests/: support.py
from test_toolchains import FULL, HERE, PROGRAMS, command, expected, run  # noqa: E402


def timed(argv):
    start = time.perf_counter()
    got = run(argv)
    return got, time.perf_counter() - start


def main() -> None:
    wasmtime = sys.argv[1]
    names = sys.argv[2:] or list(PROGRAMS)
    print("| program | size | interp | llvm, empty cache | llvm, warm | wasmtime CLI |")
    print("|---|---:|---|---|---|---|")
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
                cells.append(f"{'same' if got == want else 'DIFFERENT'}, {secs:.1f} s")
        flags = PROGRAMS[name][2]
        if flags is None:
            cells.append("cannot run it")
        else:
            got, secs = timed([wasmtime, "run", *flags, *command(FULL), str(wasm), *FULL[0]])
            cells.append(f"{'expected' if got == want else 'DIFFERENT'}, {secs:.1f} s")
        size = f"{wasm.stat().st_size / 1024:.0f} KiB"
        print(f"| {name} | {size} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
