"""wasi:io streams and poll over real descriptors, and the pipes a Python host feeds and reads
while the guest runs (``WasiConfig.stdin_pipe()`` / ``stdout_pipe()``): a component
(streams_kit.wat) on both tiers, with every wait bounded in time."""

from __future__ import annotations

import gc
import os
import threading
import time
import weakref
from pathlib import Path

import pytest

import wasmforge
from wasmforge import component as C
from wasmforge.errors import ClosedError, Trap
from wasmforge.wasi import OutputPipe, StdinPipe, WasiCtx
from wasmforge.wasip2 import io

from support import tier_params

KIT = (Path(__file__).parent / "streams_kit.wat").read_text()


class Guest:
    """The kit instantiated with a stdin pipe and a stdout pipe (or ``configure``'s stdio)."""

    def __init__(self, tier, configure=None):
        config = wasmforge.Config()
        config.strategy = tier
        engine = wasmforge.Engine(config)
        self.store = wasmforge.Store(engine)
        wasi = wasmforge.WasiConfig()
        if configure is None:
            self.stdin = wasi.stdin_pipe()
            self.stdout = wasi.stdout_pipe()
        else:
            configure(wasi)
        self.store.set_wasi(wasi)
        linker = C.Linker(engine)
        linker.add_wasip2()
        self.inst = linker.instantiate(self.store, C.Component(engine, KIT))

    def __call__(self, name, *args):
        return self.inst.get_func(self.store, name)(self.store, *args)

    def in_thread(self, name, *args):
        """Run an export in a thread: join() gives its result (or raises its exception)."""
        out = {}

        def run():
            try:
                out["value"] = self(name, *args)
            except BaseException as exc:        # handed to the test's thread
                out["error"] = exc
        t = threading.Thread(target=run, daemon=True)
        t.start()

        def join(timeout=10):
            t.join(timeout)
            assert not t.is_alive(), f"{name} still running after {timeout} s"
            if "error" in out:
                raise out["error"]
            return out["value"]
        return join


def fill(fd):
    """Fill the pipe whose write end is ``fd``: the bytes it took."""
    os.set_blocking(fd, False)
    n = 0
    try:
        while True:
            n += os.write(fd, b"x" * 65536)
    except BlockingIOError:
        pass
    finally:
        os.set_blocking(fd, True)
    return n


# -- the host's pipes: a guest fed and read line by line while it runs ----------------------

@pytest.mark.parametrize("tier", tier_params())
def test_a_guest_echoes_lines_fed_from_a_python_thread_one_at_a_time(tier):
    g = Guest(tier)
    result = g.in_thread("echo")
    lines = [f"line {i}: {'x' * i}\n".encode() for i in range(20)]
    for line in lines:
        g.stdin.write(line)
        # each answer is read before the next line is written: the guest runs concurrently
        assert g.stdout.readline(timeout=10) == line
    g.stdin.close()                             # end of file: the guest's loop ends
    assert result() == sum(map(len, lines))
    g.stdout.close()
    assert g.stdout.read(timeout=5) == b""      # nothing more, and the end is seen


def test_the_pipes_read_and_time_out_as_documented():
    out = OutputPipe()
    with pytest.raises(TimeoutError):
        out.read(timeout=0.05)
    os.write(out.guest_fd, b"ab\ncd")
    assert out.readline(timeout=1) == b"ab\n"
    with pytest.raises(TimeoutError):
        out.readline(timeout=0.05)              # "cd" is not a whole line yet
    out.close()
    assert out.readline(timeout=1) == b"cd"     # the rest, at the end
    assert out.read(timeout=1) == b""
    with pytest.raises(BrokenPipeError):
        os.write(out.guest_fd, b"late")         # the guest's end now names a pipe nobody reads
    stdin = StdinPipe()
    assert stdin.write("h\u00e9") == 3          # text as UTF-8
    stdin.close()
    assert os.read(stdin.guest_fd, 10) == "h\u00e9".encode() and os.read(stdin.guest_fd, 10) == b""
    with pytest.raises(ClosedError):
        stdin.write(b"more")


def test_writing_a_full_stdin_pipe_blocks_until_the_guest_reads():
    stdin = StdinPipe()
    fill(stdin.fileno())
    stream = io.FdInput(stdin.guest_fd)
    done = threading.Event()
    threading.Thread(target=lambda: (stdin.write(b"tail"), done.set()), daemon=True).start()
    assert not done.wait(0.2)                   # held back: the guest has not read
    got = 0
    while not done.is_set() or got == 0:
        got += len(stream.read(1 << 16, True))
        done.wait(0.01)
    assert done.is_set()


# -- poll over mixed pollables ---------------------------------------------------------------

@pytest.mark.parametrize("tier", tier_params())
def test_poll_reports_the_ready_ones_in_list_order(tier):
    g = Guest(tier)
    # stdin empty, a zero timer, stdout with room: the timer and stdout
    assert g("poll-mixed", 0) == [1, 2]
    g.stdin.write(b"x")
    assert g("poll-mixed", 0) == [0, 1, 2]
    assert g("poll-in", 10**10) == [0]          # data waiting: no wait for the 10 s timer
    fill(g.stdout.guest_fd)
    t0 = time.monotonic()
    assert g("poll-mixed", 10**10) == [0]       # stdout full: not ready
    assert time.monotonic() - t0 < 5


@pytest.mark.parametrize("tier", tier_params())
def test_poll_with_only_a_timeout_ready_sleeps_without_spinning(tier):
    g = Guest(tier)
    t0, c0 = time.monotonic(), time.process_time()
    assert g("poll-in", 200_000_000) == [1]     # nothing on stdin: the timer fires
    wall, cpu = time.monotonic() - t0, time.process_time() - c0
    assert 0.2 <= wall < 5
    assert cpu < wall / 2 + 0.05


@pytest.mark.parametrize("tier", tier_params())
def test_poll_wakes_when_a_python_thread_writes_stdin(tier):
    g = Guest(tier)
    threading.Timer(0.2, g.stdin.write, (b"late",)).start()
    t0, c0 = time.monotonic(), time.process_time()
    assert g("poll-in", 10**10) == [0]
    wall, cpu = time.monotonic() - t0, time.process_time() - c0
    assert 0.15 <= wall < 5 and cpu < wall / 2 + 0.05
    assert g("read", 100) == b"late"


@pytest.mark.parametrize("tier", tier_params())
def test_end_of_input_makes_stdin_ready_and_then_closed(tier):
    g = Guest(tier)
    g.stdin.write(b"ab")
    g.stdin.close()
    assert g("read", 0) == b""                  # a read of 0 while open: nothing, no error
    assert g("read", 1) == b"a"
    assert g("poll-in", 10**10) == [0]
    assert g("read", 10) == b"b"
    assert g("poll-in", 10**10) == [0]          # the end is "ready" too
    assert g("read", 10) == 1                   # err(closed)
    assert g("read", 0) == 1                    # closed for good
    assert g("skip", 1) == -1


def test_poll_of_stdin_a_pipe_and_a_timer_from_the_host_side():
    a, b = OutputPipe(), StdinPipe()
    left, right = io.FdInput(b.guest_fd), io.FdInput(a.fileno())
    never = io.timer(time.monotonic_ns() + 10**10)
    soon = io.timer(time.monotonic_ns() + 50_000_000)
    assert io.poll([left.subscribe(), right.subscribe(), soon, never]) == [2]
    threading.Timer(0.1, os.write, (a.guest_fd, b"!")).start()
    assert io.poll([left.subscribe(), right.subscribe(), never]) == [1]
    b.write(b"?")
    assert io.poll([left.subscribe(), right.subscribe(), never]) == [0, 1]
    with pytest.raises(Trap, match="deadlock"):
        io.poll([io.Pollable(lambda: False)])


def test_a_waker_lets_python_state_wake_a_poll():
    waker = io.Waker()
    box = []
    pollable = io.Pollable(lambda: bool(box), read_fd=waker.fd)

    def produce():
        box.append(1)
        waker.wake()
    threading.Timer(0.1, produce).start()
    t0, c0 = time.monotonic(), time.process_time()
    assert io.poll([pollable, io.timer(time.monotonic_ns() + 10**10)]) == [0]
    assert 0.05 <= time.monotonic() - t0 < 5 and time.process_time() - c0 < 0.1
    waker.clear()
    assert not io._readable(waker.fd)
    waker.close()


# -- output: permits and backpressure ----------------------------------------------------------

@pytest.mark.parametrize("tier", tier_params())
def test_a_slow_reader_holds_back_a_guest_that_respects_the_permits(tier):
    g = Guest(tier)
    n = 1 << 20
    result = g.in_thread("pump", n)
    got = bytearray()
    while len(got) < n:
        time.sleep(0.002)                       # a slow consumer
        got += g.stdout.read(timeout=10)
    assert len(got) == n
    waits = result()
    assert waits > 0                            # check-write gave 0 and the guest waited


@pytest.mark.parametrize("tier", tier_params())
def test_blocking_write_and_flush_waits_for_the_reader(tier):
    g = Guest(tier)
    filled = fill(g.stdout.guest_fd)
    result = g.in_thread("echo")
    g.stdin.write(b"after the backlog\n")
    g.stdin.close()
    time.sleep(0.2)
    assert len(g.stdout.read(filled, timeout=5)) > 0      # drains some of the backlog
    rest = b""
    while not rest.endswith(b"after the backlog\n"):
        rest += g.stdout.read(timeout=10)
    assert result() == len(b"after the backlog\n")


@pytest.mark.parametrize("tier", tier_params())
def test_a_write_beyond_the_permit_traps(tier):
    g = Guest(tier)
    with pytest.raises(Trap, match="exceeds the permit of 4096"):
        g("overrun", 1)
    g = Guest(tier)                             # (a trap poisons the instance)
    g("overrun", 0)                             # exactly the permit is fine
    assert len(g.stdout.read(timeout=5)) > 0


@pytest.mark.parametrize("tier", tier_params())
def test_a_reader_that_went_away_closes_the_stream(tier):
    g = Guest(tier)
    g.stdout.close()
    g.stdin.write(b"nobody reads this\n")
    g.stdin.close()
    assert g("echo") == -1                      # blocking-write-and-flush: err(closed)
    assert g("pump", 10) == -1                  # check-write: closed


def test_stream_errors_close_the_stream():
    stream = io.FdOutput(os.open("/dev/full", os.O_WRONLY))
    try:
        with pytest.raises(io.StreamError) as failed:
            stream.blocking_write_and_flush(b"x")
        assert failed.value.error is not None and failed.value.error.errno is not None
        with pytest.raises(io.StreamError) as closed:
            stream.flush()
        assert closed.value.error is None
        assert stream.pollable().ready()        # a closed stream's pollable is ready at once
    finally:
        os.close(stream.fd)
    with pytest.raises(io.StreamError) as eof:
        io.EmptyInput().skip(1)
    assert eof.value.error is None


# -- splice and skip ---------------------------------------------------------------------------

@pytest.mark.parametrize("tier", tier_params())
def test_blocking_splice_moves_stdin_to_stdout_until_closed(tier):
    g = Guest(tier)
    data = bytes(range(256)) * 64
    result = g.in_thread("splice", 1000)
    g.stdin.write(data)
    g.stdin.close()
    assert result() == len(data)
    g.stdout.close()
    assert g.stdout.read(-1, timeout=5) == data


def test_splice_takes_the_smaller_of_len_and_the_permit():
    src = io.BytesInput(b"abcdefgh")
    out = []
    dst = io.CallbackOutput(out.append)
    assert dst.splice(src, 3, False) == 3 and out == [b"abc"]
    assert dst.splice(src, 100, True) == 5
    with pytest.raises(io.StreamError):
        dst.splice(src, 1, False)               # the source's end ends the splice: closed
    stdout = OutputPipe()
    fill(stdout.guest_fd)
    full = io.FdOutput(stdout.guest_fd)
    assert full.splice(io.BytesInput(b"zz"), 2, False) == 0     # no permit: nothing moved


@pytest.mark.parametrize("tier", tier_params())
def test_blocking_skip_waits_for_data_and_counts_it(tier):
    g = Guest(tier)
    threading.Timer(0.1, g.stdin.write, (b"12345",)).start()
    assert g("skip", 3) == 3
    assert g("skip", 10) == 2
    g.stdin.close()
    assert g("skip", 10) == -1


# -- preview1 modules get the same pipes -------------------------------------------------------

ECHO_P1 = """
(module
  (import "wasi_snapshot_preview1" "fd_read" (func $read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  ;; copies stdin to stdout until end of file: the bytes copied
  (func (export "echo") (result i32) (local $n i32) (local $total i32)
    (block $done (loop $next
      (i32.store (i32.const 0) (i32.const 64))
      (i32.store (i32.const 4) (i32.const 1024))
      (br_if $done (call $read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)))
      (local.set $n (i32.load (i32.const 8)))
      (br_if $done (i32.eqz (local.get $n)))
      (i32.store (i32.const 4) (local.get $n))
      (drop (call $write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
      (local.set $total (i32.add (local.get $total) (local.get $n)))
      (br $next)))
    (local.get $total)))
"""


@pytest.mark.parametrize("tier", tier_params())
def test_a_preview1_module_reads_and_writes_the_same_pipes(tier):
    config = wasmforge.Config()
    config.strategy = tier
    engine = wasmforge.Engine(config)
    store = wasmforge.Store(engine)
    wasi = wasmforge.WasiConfig()
    stdin, stdout = wasi.stdin_pipe(), wasi.stdout_pipe()
    store.set_wasi(wasi)
    linker = wasmforge.Linker(engine)
    linker.define_wasi()
    echo = linker.instantiate(store, wasmforge.Module(engine, ECHO_P1)).exports(store)["echo"]
    out = {}
    t = threading.Thread(target=lambda: out.setdefault("n", echo(store)), daemon=True)
    t.start()
    for i in range(5):
        stdin.write(f"p1 line {i}\n")
        assert stdout.readline(timeout=10) == f"p1 line {i}\n".encode()
    stdin.close()
    t.join(10)
    assert out["n"] == sum(len(f"p1 line {i}\n") for i in range(5))


def test_a_context_keeps_its_pipes_alive_when_the_config_changes():
    config = wasmforge.WasiConfig()
    pipe = config.stdin_pipe()
    ctx = WasiCtx(config)
    fd = ctx.fds[0].host
    gone = weakref.ref(pipe)
    config.stdin_bytes = b"other"               # the config no longer names the pipe
    del pipe
    gc.collect()
    assert gone() is not None                   # the context still reads its descriptor
    os.fstat(fd)
    del ctx
    gc.collect()
    assert gone() is None


def test_blocking_write_and_flush_waits_for_a_buffering_stream_to_flush():
    class Buffering(io.CallbackOutput):
        """Holds writes until blocking_flush (as a socket's stream holds what the kernel did
        not take)."""

        def __init__(self, sink):
            super().__init__(sink)
            self.held = []

        def _write(self, data):
            self.held.append(data)

        def blocking_flush(self):
            super().blocking_flush()
            for data in self.held:
                self.sink(data)
            self.held.clear()
    out = []
    stream = Buffering(out.append)
    stream.blocking_write_and_flush(b"abc")
    assert out == [b"abc"]
