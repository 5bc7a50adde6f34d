"""Server start-up as a user meets it (docs/serve.md, "Precompiled code"; docs/performance.md,
"Serve start-up: from .wasm, warm cache, .cwasm"): whole processes of ``wasmforge serve FILE
--tier T --addr 127.0.0.1:0``, each timed from its launch to the ``Serving HTTP`` line and to
the end of its first response (``GET /``), the first with an empty compile cache of its own and
the rest with the cache it left; for each run it also says whether the process imported
llvmlite (it does when it compiles anything: the cache's code is loaded without LLVM)::

    python benchmarks/bench_serve_start.py --tier llvm -n 3 examples/serve/tiny.wasm
    python benchmarks/bench_serve_start.py --tier llvm -n 2 tests/fixtures/componentize_js_http/handler.wasm.xz

With ``--cwasm`` it also serves the component's artifact (``wasmforge compile --tier T``, made
here and timed, or the one given with ``--artifact``; ``--allow-precompiled``), with a cache of
its own, empty for the first run: loading an artifact compiles nothing, but with an empty cache
it asks llvmlite once for the host's description, which the artifact's header is checked
against (llvm/jit.py ``host_description``), and keeps it there; with ``--wasmtime PATH`` it runs ``wasmtime serve -S cli=y`` beside
it, from the ``.wasm`` (with a private cache of its own, ``-C cache-config``: empty for the first
run, warm after, as wasmforge's) and, with ``--cwasm``, from ``wasmtime compile``'s ``.cwasm``
(``--allow-precompiled``).  The engines alternate within each round, so load on the machine
falls on all of them::

    python benchmarks/bench_serve_start.py --tier llvm -n 5 --cwasm \\
        --wasmtime /work/tmp_tools/venv/bin/wasmtime examples/serve/tiny.wasm

A ``.xz`` file is decompressed to a temporary file first.  ``--artifact FILE`` reuses an
artifact made before (an O2 compile of a componentize-py handler takes minutes); ``--modes``
runs some of the four ways only (``wasmforge.wasm,wasmforge.cwasm,wasmtime.wasm,wasmtime.cwasm``).
"""

from __future__ import annotations

import argparse
import http.client
import lzma
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional, Tuple

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


def run_once(cmd: List[str], env: dict) -> Tuple[float, float, int, Optional[bool]]:
    """Launch ``cmd`` (a server printing ``Serving HTTP on http://HOST:PORT/`` first on stderr),
    ask ``GET /``: (seconds to listening, seconds to the first response's end, its status,
    whether the process imported llvmlite (None: not a wasmforge process))."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stderr.readline()
        listening = time.perf_counter() - t0
        if not line.startswith("Serving HTTP on "):
            raise SystemExit(" ".join(cmd) + ": " + line + proc.stderr.read())
        port = int(line.split()[3].rstrip("/").rsplit(":", 1)[1])
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=3600)
        conn.request("GET", "/")
        resp = conn.getresponse()
        resp.read()
        answered = time.perf_counter() - t0
        conn.close()
        proc.terminate()
        out, _ = proc.communicate(timeout=120)
        compiled = out.strip().splitlines()[-1:] == ["True"] if cmd[1] == "-c" else None
        return listening, answered, resp.status, compiled
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def wasmforge_serve(path: str, tier: str, processes: Optional[int], *extra: str) -> List[str]:
    more = [] if processes is None else ["--processes", str(processes)]
    return [sys.executable, "-c", _SERVER, "serve", path, "--tier", tier, "--addr", "127.0.0.1:0", *more, *extra]


def timed(cmd: List[str], env: dict) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, env=env, check=True)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file")
    parser.add_argument("--tier", default="llvm", choices=["interp", "llvm"])
    parser.add_argument("-n", type=int, default=3, help="rounds (the first with empty caches)")
    parser.add_argument("--cwasm", action="store_true", help="also serve the precompiled artifacts")
    parser.add_argument("--artifact", default=None, help="wasmforge's artifact of FILE, made before")
    parser.add_argument("--wasmtime", default=None, metavar="PATH", help="run `wasmtime serve` beside it")
    parser.add_argument("--processes", type=int, default=None,
                        help="wasmforge serve's --processes (default: its own default, the CPUs)")
    parser.add_argument("--modes", default=None, help="comma-separated: wasmforge.wasm, wasmforge.cwasm, "
                        "wasmtime.wasm, wasmtime.cwasm (default: all that the other options allow)")
    args = parser.parse_args()
    wanted = None if args.modes is None else {m.strip().replace(".", " .", 1) for m in args.modes.split(",")}
    unknown = sorted((wanted or set()) - {"wasmforge .wasm", "wasmforge .cwasm", "wasmtime .wasm", "wasmtime .cwasm"})
    if unknown:
        parser.error(f"--modes: unknown {', '.join(m.replace(' .', '.') for m in unknown)}")
    if any(m.endswith(".cwasm") for m in wanted or ()) and not args.cwasm:
        parser.error("--modes: a .cwasm way needs --cwasm")
    if any(m.startswith("wasmtime") for m in wanted or ()) and not args.wasmtime:
        parser.error("--modes: a wasmtime way needs --wasmtime PATH")
    with tempfile.TemporaryDirectory() as tmp:
        path = args.file
        if path.endswith(".xz"):
            path = os.path.join(tmp, "app.wasm")
            Path(path).write_bytes(lzma.decompress(Path(args.file).read_bytes()))
        env = dict(os.environ, WASMFORGE_CACHE_DIR=os.path.join(tmp, "cache"),
                   PYTHONPATH=str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", ""))
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        modes: Dict[str, Tuple[List[str], dict]] = {}     # name -> (command, environment)
        modes["wasmforge .wasm"] = (wasmforge_serve(path, args.tier, args.processes), env)
        if args.cwasm and (wanted is None or "wasmforge .cwasm" in wanted):
            art = args.artifact
            if art is None:
                art = os.path.join(tmp, "app.cwasm")
                seconds = timed([sys.executable, "-m", "wasmforge", "compile", "--tier", args.tier, path, "-o", art],
                                dict(env, WASMFORGE_CACHE_DIR=os.path.join(tmp, "compile-cache")))
                print(f"wasmforge compile --tier {args.tier}: {seconds:.2f} s, {os.path.getsize(art)} bytes", flush=True)
            art_cache = os.path.join(tmp, "artifact-cache")
            modes["wasmforge .cwasm"] = (wasmforge_serve(art, args.tier, args.processes, "--allow-precompiled"),
                                         dict(env, WASMFORGE_CACHE_DIR=art_cache))
        if args.wasmtime:
            config = os.path.join(tmp, "wasmtime-cache.toml")
            Path(config).write_text(f'[cache]\ndirectory = "{os.path.join(tmp, "wasmtime-cache")}"\n')
            serve = [args.wasmtime, "serve", "--addr", "127.0.0.1:0", "-S", "cli=y"]
            modes["wasmtime .wasm"] = (serve + ["-C", "cache=y", "-C", f"cache-config={config}", path], env)
            if args.cwasm and (wanted is None or "wasmtime .cwasm" in wanted):
                wt_art = os.path.join(tmp, "app.wasmtime.cwasm")
                seconds = timed([args.wasmtime, "compile", path, "-o", wt_art], env)
                print(f"wasmtime compile: {seconds:.2f} s, {os.path.getsize(wt_art)} bytes", flush=True)
                modes["wasmtime .cwasm"] = (serve + ["--allow-precompiled", wt_art], env)
        if wanted is not None:
            modes = {name: mode for name, mode in modes.items() if name in wanted}
        results: Dict[str, List[Tuple[float, float]]] = {name: [] for name in modes}
        for i in range(args.n):
            for name, (cmd, run_env) in modes.items():
                listening, answered, status, compiled = run_once(cmd, run_env)
                results[name].append((listening, answered))
                cache_state = "empty cache" if i == 0 else "warm cache "
                note = "" if compiled is None else f", llvmlite imported: {compiled}"
                print(f"round {i + 1} {name:<17} ({cache_state}): listening after {listening:.2f} s, "
                      f"first response ({status}) after {answered:.2f} s{note}", flush=True)
        print("\nmedians, first response (listening):")
        summary: Dict[str, float] = {}
        for name, runs in results.items():
            for label, chosen in (("run 1", runs[:1]), ("runs 2+", runs[1:])):
                if not chosen:
                    continue
                first = statistics.median(r[1] for r in chosen)
                listen = statistics.median(r[0] for r in chosen)
                summary[f"{name} {label}"] = first
                print(f"  {name:<17} {label:<8} {first:8.2f} s ({listen:.2f} s)")
        for kind in (".wasm run 1", ".wasm runs 2+", ".cwasm run 1", ".cwasm runs 2+"):
            ours, theirs = summary.get(f"wasmforge {kind}"), summary.get(f"wasmtime {kind}")
            if ours is not None and theirs is not None:
                print(f"  ratio wasmforge/wasmtime, {kind}: {ours / theirs:.1f}x")
        if "wasmforge .cwasm" in modes:
            entries = [f for _, _, files in os.walk(os.path.join(tmp, "artifact-cache")) for f in files]
            print(f"the artifact runs' cache holds {len(entries)} files: {sorted(entries)[:6]}")


if __name__ == "__main__":
    main()
