"""``wasmforge serve --processes N`` (docs/serve.md, "Several processes"): N server processes
share the listening socket, each with its own apps and worker threads, and one set of
metrics in memory they share (:class:`wasmforge.serve.SharedCounters`), so that a scrape
answered by any of them shows the whole server.

The app is examples/serve/tiny.wasm on the interp tier (a request costs milliseconds).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from wasmforge.serve import Metrics, RequestRecord, SharedCounters

from .test_ops import TINY, parse_metrics, request, sample, start, stop, wait_in_flight, wasmforge_cmd


def records():
    """A mix of requests of two apps and the 404s, with durations exact in binary."""
    out = []
    for i in range(40):
        app = ("a", "b", None)[i % 3]
        status, outcome = (200, "ok") if i % 5 else (500, "trap")
        if app is None:
            status, outcome = 404, "not-found"
        out.append(RequestRecord(app, "GET", f"/{i}", 0.0, status=status, duration=(i % 7) / 8,
                                 instantiate=None if app is None else (i % 4) / 1024, outcome=outcome))
    return out


def test_shared_metrics_of_several_processes_render_as_one_process_would():
    # the same requests counted by one Metrics, or spread over three slots of shared
    # counters (one per process): the same exposition, whichever slot renders it
    alone = Metrics(["a", "b"], lambda: {"a": 0, "b": 0})     # a router's gauge: nothing in flight
    shared = SharedCounters(["a", "b"], 3)
    slots = [Metrics(["a", "b"], shared=shared, slot=i) for i in range(3)]
    for i, record in enumerate(records()):
        alone.observe(record)
        slots[i % 3].observe(record)
    alone.reloaded("a", True)
    slots[2].reloaded("a", True)
    alone.reloaded("b", False)
    slots[1].reloaded("b", False)
    expected = alone.render()
    assert 'wasmforge_requests_total{app="",status="404"} 13' in expected
    assert [s.render() for s in slots] == [expected] * 3


def test_the_shared_counters_are_seen_across_a_fork_and_in_flight_adds_up():
    shared = SharedCounters(["a"], 2)
    parent = Metrics(["a"], shared=shared, slot=0)
    parent.observe(RequestRecord("a", "GET", "/", 0.0, status=200, duration=0.5))
    pid = os.fork()
    if pid == 0:           # the other server process: counts in its own slot
        child = Metrics(["a"], shared=shared, slot=1)
        for _ in range(3):
            child.observe(RequestRecord("a", "GET", "/", 0.0, status=201, duration=0.25))
        child.entered("a")
        os._exit(0)
    os.waitpid(pid, 0)
    parent.entered("a")
    samples = parse_metrics(parent.render())
    assert sample(samples, "wasmforge_requests_total", app="a", status="200") == 1
    assert sample(samples, "wasmforge_requests_total", app="a", status="201") == 3
    assert sample(samples, "wasmforge_request_duration_seconds_count", app="a") == 4
    assert sample(samples, "wasmforge_request_duration_seconds_sum", app="a") == 1.25
    assert sample(samples, "wasmforge_requests_in_flight", app="a") == 2
    shared.clear_in_flight(1)                  # what the supervisor does when a process ends
    assert sample(parse_metrics(parent.render()), "wasmforge_requests_in_flight", app="a") == 1


def test_a_slot_out_of_range_is_refused():
    with pytest.raises(ValueError):
        Metrics(["a"], shared=SharedCounters(["a"], 2), slot=2)


def _children(pid):
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        return [int(p) for p in f.read().split()]


def _age(pid):
    """Seconds since process ``pid`` started (Linux: its start time, in clock ticks since boot)."""
    with open(f"/proc/{pid}/stat") as f:
        started = int(f.read().rsplit(")", 1)[1].split()[19])
    with open("/proc/uptime") as f:
        return float(f.read().split()[0]) - started / os.sysconf("SC_CLK_TCK")


def test_several_processes_answer_and_the_metrics_add_up(tmp_path):
    log = tmp_path / "access.log"
    proc, port = start(str(TINY), "--tier", "interp", "--processes", "2", "--access-log", str(log))
    try:
        servers = _children(proc.pid)
        assert len(servers) == 2, servers
        # new connections from 4 threads at once: the two processes accept from one socket
        with ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(lambda i: request(port, "GET", f"/n{i}"), range(60)))
        assert answers == [(200, f"tiny-v1 /n{i}".encode()) for i in range(60)]
        deadline = time.monotonic() + 30        # a line is written just after its response
        while len(log.read_text().splitlines()) < 60 and time.monotonic() < deadline:
            time.sleep(0.05)
        lines = [json.loads(line) for line in log.read_text().splitlines()]
        assert len(lines) == 60 and {r["process"] for r in lines} == {0, 1}, [r.get("process") for r in lines]
        # every scrape, answered by either process, counts all 60 (and the 404-free app only)
        for _ in range(6):
            samples = parse_metrics(request(port, "GET", "/metrics")[1].decode())
            assert sample(samples, "wasmforge_requests_total", app="tiny", status="200") == 60
            assert sample(samples, "wasmforge_request_duration_seconds_count", app="tiny") == 60
            assert sample(samples, "wasmforge_instantiation_seconds_count", app="tiny") == 60

        # a request in progress in one process is in flight for a scrape in any; SIGTERM to
        # the parent drains every process: the request gets its answer, all exit 0
        result: list = []
        slow = threading.Thread(target=lambda: result.append(request(port, "GET", "/slow")))
        slow.start()
        wait_in_flight(port, "tiny")
        for _ in range(6):
            assert 'wasmforge_requests_in_flight{app="tiny"} 1' in request(port, "GET", "/metrics")[1].decode()
        proc.send_signal(signal.SIGTERM)
        slow.join(30)
        assert result == [(200, b"tiny-v1 /slow")]
        assert proc.wait(30) == 0
        assert not any(os.path.exists(f"/proc/{pid}") for pid in servers)     # reaped by the parent
        with pytest.raises(OSError):
            request(port, "GET", "/n0", timeout=5)
        assert "Traceback" not in proc.stderr.read()
    finally:
        stop(proc)


def test_a_server_process_that_dies_is_started_again():
    proc, port = start(str(TINY), "--tier", "interp", "--processes", "2")
    try:
        first = _children(proc.pid)
        time.sleep(max(0.0, 5.5 - _age(first[0])))      # past the supervisor's MIN_LIFE
        os.kill(first[0], signal.SIGKILL)
        deadline = time.monotonic() + 60
        while True:
            now = _children(proc.pid)
            if len(now) == 2 and first[0] not in now:
                break
            assert time.monotonic() < deadline, now
            time.sleep(0.1)
        for i in range(10):
            assert request(port, "GET", f"/again{i}") == (200, f"tiny-v1 /again{i}".encode())
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        assert "ended with status -9; starting another" in proc.stderr.read()
    finally:
        stop(proc)


def test_killing_the_parent_ends_the_servers():
    proc, port = start(str(TINY), "--tier", "interp", "--processes", "2")
    servers = _children(proc.pid)
    proc.kill()
    proc.wait()
    deadline = time.monotonic() + 30
    while any(os.path.exists(f"/proc/{pid}") for pid in servers):
        assert time.monotonic() < deadline, "a server outlived its parent"
        time.sleep(0.05)
    with pytest.raises(OSError):
        request(port, "GET", "/x", timeout=5)


def test_a_bad_app_with_several_processes_is_one_line_and_exit_1(tmp_path):
    (tmp_path / "bad.wat").write_text("(nonsense)")
    cmd, env = wasmforge_cmd("serve", str(tmp_path / "bad.wat"), "--addr", "127.0.0.1:0", "--processes", "3")
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 1, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "bad.wat:1:2: error:" in r.stderr, r.stderr


@pytest.mark.parametrize("processes, servers", [(1, 0), (3, 3)])
def test_the_manifest_sets_the_processes(tmp_path, processes, servers):
    (tmp_path / "apps.toml").write_text(f'[server]\nprocesses = {processes}\n'
                                        f'[apps.t]\nsource = "{TINY}"\nroute = "/"\ntier = "interp"\n')
    proc, port = start("--config", str(tmp_path / "apps.toml"))
    try:
        assert len(_children(proc.pid)) == servers      # one process serves alone: no children
        assert request(port, "GET", "/m") == (200, b"tiny-v1 /m")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        stop(proc)


def test_processes_do_not_apply_to_ray():
    # Ray Serve's replicas are its processes: the option is a usage error there, not ignored
    cmd, env = wasmforge_cmd("serve", "--ray", "--processes", "2", str(TINY))
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "--processes applies to the single-node server, not to --ray" in r.stderr, r.stderr


@pytest.mark.parametrize("processes", ["1", "2"])
def test_a_sigterm_as_soon_as_the_server_is_announced_ends_it(processes):
    # the "Serving HTTP" line comes before uvicorn has its signal handlers: a SIGTERM sent on
    # reading it (a server's own, or passed on by the supervisor) still drains and ends it
    proc, port = start(str(TINY), "--tier", "interp", "--processes", processes)
    try:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        assert "Traceback" not in proc.stderr.read()
    finally:
        stop(proc)


def test_an_address_another_server_holds_is_refused():
    # another server's socket in a SO_REUSEPORT group (the user's own): with SO_REUSEPORT
    # alone, --processes would join that group and take part of its connections; it is
    # refused, as with one process
    other = socket.socket()
    other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    with other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        cmd, env = wasmforge_cmd("serve", str(TINY), "--tier", "interp", "--addr", f"127.0.0.1:{port}",
                                 "--processes", "2")
        r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 1 and r.stderr == f"error: cannot listen on 127.0.0.1:{port}: Address already in use\n", r
