"""Server start-up as a user meets it (docs/serve.md, "Precompiled code"): whole processes of
``wasmforge serve FILE --tier T --addr 127.0.0.1:0``, each timed from its launch to the
``Serving HTTP`` line and to the end of its first response (``GET /``), the first with an
empty compile cache of its own and the rest with the cache it left.  For each run it also
says whether the process imported llvmlite (it does when it compiles anything: the cache's
code is loaded without LLVM)::

    python benchmarks/bench_serve_start.py --tier llvm -n 3 examples/serve/tiny.wasm
    python benchmarks/bench_serve_start.py --tier llvm -n 2 tests/fixtures/componentize_js_http/handler.wasm.xz

A ``.xz`` file is decompressed to a temporary file first.
"""

from __future__ import annotations

import argparse
import http.client
import lzma
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# The server, with a note on stdout of whether llvmlite is loaded once it has answered: run
# under the same interpreter as `python -m wasmforge serve`.
_SERVER = """
import atexit, sys
atexit.register(lambda: print("llvmlite" in sys.modules, flush=True))
from wasmforge.cli import main
sys.argv = ["wasmforge"] + sys.argv[1:]
main()
"""


def run_once(path: str, tier: str, env: dict) -> tuple:
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", _SERVER, "serve", path, "--tier", tier, "--addr", "127.0.0.1:0"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stderr.readline()
        listening = time.perf_counter() - t0
        if not line.startswith("Serving HTTP on "):
            raise SystemExit(line + proc.stderr.read())
        port = int(line.rstrip().rstrip("/").rsplit(":", 1)[1])
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=3600)
        conn.request("GET", "/")
        status = conn.getresponse().status
        answered = time.perf_counter() - t0
        conn.close()
        proc.terminate()
        out, _ = proc.communicate(timeout=120)
        return listening, answered, status, out.strip().splitlines()[-1:] == ["True"]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file")
    parser.add_argument("--tier", default="llvm", choices=["interp", "llvm"])
    parser.add_argument("-n", type=int, default=3, help="runs (the first with an empty cache)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = args.file
        if path.endswith(".xz"):
            path = os.path.join(tmp, "app.wasm")
            Path(path).write_bytes(lzma.decompress(Path(args.file).read_bytes()))
        env = dict(os.environ, WASMFORGE_CACHE_DIR=os.path.join(tmp, "cache"),
                   PYTHONPATH=str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", ""))
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        for i in range(args.n):
            listening, answered, status, compiled = run_once(path, args.tier, env)
            cache = "empty cache" if i == 0 else "warm cache "
            print(f"run {i + 1} ({cache}): listening after {listening:.2f} s, first response ({status}) after "
                  f"{answered:.2f} s, llvmlite imported: {compiled}", flush=True)


if __name__ == "__main__":
    main()
