"""Ctrl-C (SIGINT) stops running wasm code on every tier: the API caller gets
KeyboardInterrupt and the store stays usable; ``wasmforge run`` exits with status 130 and one
line.  Each test runs a child process that loops forever, waits for the marker line the guest
prints through a host function (or WASI) just before its loop, then sends SIGINT."""

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from limits.helpers import TIERS, engine_for, instantiate

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGINT") or os.name != "posix",
                                reason="POSIX signals")

# Generous: the bug was "never" (native code ignored SIGINT); a stop takes milliseconds.
STOP_WITHIN = 20.0

API_SCRIPT = """
import os, signal, sys
import wasmforge as api
from wasmforge.types import FuncType
# A wakeup fd installed before wasmforge's (as asyncio does) must keep getting the signals.
theirs_r, theirs_w = os.pipe()
os.set_blocking(theirs_w, False)
signal.set_wakeup_fd(theirs_w)
config = api.Config(); config.strategy = {tier!r}; config.consume_fuel = {fuel!r}
engine = api.Engine(config); store = api.Store(engine)
if {fuel!r}:
    store.set_fuel(10 ** 15)
module = api.Module(engine, '''(module (import "h" "ready" (func $ready))
  (func (export "spin") (call $ready) (loop $l (br $l)))
  (func $rec (export "rec") (param i32) (result i32)
    (if (result i32) (local.get 0) (then (call $rec (i32.sub (local.get 0) (i32.const 1))))
      (else (i32.const 7))))
  (func (export "add") (param i32 i32) (result i32) (i32.add (local.get 0) (local.get 1))))''')
ready = api.Func(store, FuncType([], []), lambda: print("ready", flush=True))
ex = api.Instance(store, module, [ready]).exports(store)
try:
    ex["spin"](store)
    print("returned")
except KeyboardInterrupt:
    print("interrupted")
print("depth", store._depth.cell_contents)
if {fuel!r}:
    print("fuel charged", 10 ** 15 - store.get_fuel() > 1000)
print("add", ex["add"](store, 2, 3), "rec", ex["rec"](store, 1000))
os.set_blocking(theirs_r, False)
print("chained", signal.SIGINT in os.read(theirs_r, 100))
"""


def _default_sigint():
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def interrupt(args, env=None):
    """Start ``args``, wait for its "ready" line, send SIGINT: (status, stdout lines, stderr)."""
    # The child gets Ctrl-C's default disposition, as a program started from a terminal has:
    # a test run started in the background (``cmd &`` in a script) ignores SIGINT, and a
    # child inherits that, so Python would install no handler and the signal would be lost.
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, preexec_fn=_default_sigint)
    try:
        assert proc.stdout.readline().strip() == "ready", proc.stderr.read()[-2000:]
        time.sleep(0.1)                     # well into the loop
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=STOP_WITHIN)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return proc.returncode, out.split("\n")[:-1], err


@pytest.mark.parametrize("fuel", [False, True], ids=["plain", "fuel"])
def test_sigint_stops_a_wasm_call_with_keyboard_interrupt(tier, fuel):
    script = textwrap.dedent(API_SCRIPT.format(tier=tier, fuel=fuel))
    status, lines, err = interrupt([sys.executable, "-c", script])
    assert status == 0, err[-2000:]
    expected = ["interrupted", "depth 0"] + (["fuel charged True"] if fuel else []) + \
        ["add 5 rec 7", "chained True"]
    assert lines == expected, err[-2000:]


LOOP_WAT = """(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "ready\\n")
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 16))
    (i32.store (i32.const 4) (i32.const 6))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
    (loop $l (br $l))))"""


def test_sigint_ends_wasmforge_run_with_status_130(tier, tmp_path):
    wat = tmp_path / "loop.wat"
    wat.write_text(LOOP_WAT)
    status, lines, err = interrupt([sys.executable, "-m", "wasmforge.cli", "run", "--tier", tier,
                                    str(wat)])
    assert status == 130
    assert err.strip() == "wasmforge: interrupted"


# ----- in process (llvm): where the interrupt cell stops code, and where it must not -----

llvm_only = pytest.mark.skipif("llvm" not in TIERS, reason="llvmlite is not installed")

# count(n) loops n times; its first iteration calls the host (which plays the watcher thread).
COUNT = """(module (import "h" "tick" (func $tick))
  (func (export "count") (param i32) (result i32) (local i32)
    (call $tick)
    (loop $l (local.set 1 (i32.add (local.get 1) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get 1) (local.get 0))))
    (local.get 1)))"""


def count_instance(on_tick):
    from wasmforge import Func, Store
    from wasmforge.types import FuncType
    engine = engine_for("llvm")
    store = Store(engine)
    return instantiate(engine, COUNT, [Func(store, FuncType([], []), on_tick)], store=store)


@llvm_only
def test_the_interrupt_cell_stops_the_main_threads_loop():
    from wasmforge.llvm import sigint
    store, ex = count_instance(lambda: sigint.MAIN_CELL.__setitem__(0, 1))
    with pytest.raises(KeyboardInterrupt):
        ex["count"](store, 10 ** 9)            # seconds of work without the interrupt
    assert store._depth.cell_contents == 0
    sigint.MAIN_CELL[0] = 0


@llvm_only
def test_a_sigint_handled_before_the_call_does_not_stop_it():
    from wasmforge.llvm import sigint
    store, ex = count_instance(lambda: None)
    sigint.MAIN_CELL[0] = 1            # what the watcher leaves after a Ctrl-C in Python code
    try:
        assert ex["count"](store, 100000) == 100000
    finally:
        sigint.MAIN_CELL[0] = 0


@llvm_only
def test_the_main_threads_interrupt_does_not_stop_other_threads():
    # Only the main thread gets KeyboardInterrupt, so only its wasm code is stopped.
    from wasmforge.llvm import sigint
    store, ex = count_instance(lambda: sigint.MAIN_CELL.__setitem__(0, 1))
    result = {}

    def work():
        try:
            result["n"] = ex["count"](store, 100000)
        except BaseException as exc:       # reported below
            result["error"] = exc
    try:
        t = threading.Thread(target=work)
        t.start()
        t.join()
    finally:
        sigint.MAIN_CELL[0] = 0
    assert result == {"n": 100000}


RECHECK_SCRIPT = """
import os, signal, time
import wasmforge as api
from wasmforge.llvm import sigint
config = api.Config(); config.strategy = "llvm"
engine = api.Engine(config)
module = api.Module(engine, '(module (func (export "f") (result i32) (i32.const 42)))')
def instance():
    store = api.Store(engine)
    return api.Instance(store, module, []).exports(store)["f"](store)
instance()                                  # the watcher installed, its fd asked once
asked = []
real = signal.set_wakeup_fd
def counting(*args, **kwargs):
    asked.append(args)
    return real(*args, **kwargs)
signal.set_wakeup_fd = counting
# The clock stopped where the last check was (on a tree without the interval: now).
now = [getattr(sigint, "_checked", [time.monotonic()])[0]]
class Clock:
    @staticmethod
    def monotonic():
        return now[0]
sigint.time = Clock
for _ in range(200):
    instance()
print("asked within the interval", len(asked))
# Someone else's wakeup fd, installed after the watcher's: chained by the first instantiation
# once the interval has passed, and Ctrl-C's bytes reach it.
theirs_r, theirs_w = os.pipe()
os.set_blocking(theirs_w, False)
real(theirs_w, warn_on_full_buffer=False)
now[0] += 2 * getattr(sigint, "RECHECK_SECONDS", 0.001)
instance()
print("asked after it", len(asked))
print("ours again", real(sigint._state["w"], warn_on_full_buffer=False) == sigint._state["w"])
signal.signal(signal.SIGINT, lambda *a: None)
signal.raise_signal(signal.SIGINT)
os.set_blocking(theirs_r, False)
got = b""
for _ in range(200):
    try:
        got += os.read(theirs_r, 100)
    except BlockingIOError:
        pass
    if got:
        break
    time.sleep(0.01)
print("chained", signal.SIGINT in got)
"""


@llvm_only
def test_the_wakeup_fd_is_asked_for_once_per_interval_and_a_later_one_still_chained(tmp_path):
    # Asking whether the watcher's wakeup fd is still installed costs two system calls; an
    # instantiation per request asked at every one.  Now once per RECHECK_SECONDS (the clock
    # is the script's), and an fd installed meanwhile by someone else is still chained.
    script = tmp_path / "recheck.py"
    script.write_text(RECHECK_SCRIPT)
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         timeout=120, preexec_fn=_default_sigint)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split("\n")[:-1] == ["asked within the interval 0", "asked after it 1",
                                           "ours again True", "chained True"]
