"""Real C programs built by zig cc (checked in, rebuilt by ``tests/wasi/programs/build.sh``):
``tail_call.wasm`` (``-mtail-call``: 3,000,000 mutually recursive ``return_call``s) and
``wasi_threads.wasm`` (``thread-spawn``, a shared memory, a mutex on ``memory.atomic.wait`` /
``notify``), run with ``wasmforge run`` on both tiers.

The tail-call program is compared with wasmtime-py running the same file.  wasmtime-py has
no wasi-threads (its ``Linker`` cannot even define a ``SharedMemory``: a ctypes type error in
wasmtime-py's ``_as_extern``), so the threads program is compared with the output it
computes: 4 threads adding ``id * 2000 + i`` for ``i`` in 1..2000 give 32004000.

``zig_threads.wasm`` is the same sum from Zig's own ``std.Thread`` (``spawn``/``join`` over
``thread-spawn`` and its ``wasi_thread_start``, a lock on an atomic compare-exchange): the
threads of a real toolchain's standard library rather than hand-written ones.  zig cc's
bundled wasi-libc has only the single-threaded pthread stub, and wasmtime 49 dropped
wasi-threads (``-S threads`` is refused), so it too is compared with the sum it computes."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest

import wasmforge as wf
from support import tier_params
from wasmforge.api.wasi_threads import (MAX_TID, define_wasi_threads, imports_thread_spawn,
                                        shared_memory_for)
from wasmforge.wasi import WasiConfig, WasiCtx, define_wasi

PROGRAMS = Path(__file__).resolve().parent / "programs"
TAIL_CALL = PROGRAMS / "tail_call.wasm"
THREADS = PROGRAMS / "wasi_threads.wasm"
ZIG_THREADS = PROGRAMS / "zig_threads.wasm"
TIERS = tier_params()
THREADS_OUT = "threads=4 total=32004000 tids positive, unique, matching\n"


def wasmforge_run(tier, *args):
    proc = subprocess.run([sys.executable, "-m", "wasmforge", "run", "--tier", tier, *map(str, args)],
                          capture_output=True, text=True, timeout=300)
    return proc.returncode, proc.stdout, proc.stderr


def wasmtime_run(path, *args, tmp_path):
    """(exit code, stdout) of wasmtime-py running the WASI command ``path``."""
    wasmtime = pytest.importorskip("wasmtime")
    config = wasmtime.Config()
    config.wasm_tail_call = True
    engine = wasmtime.Engine(config)
    store = wasmtime.Store(engine)
    wasi = wasmtime.WasiConfig()
    wasi.argv = [str(path), *args]
    out = tmp_path / "wasmtime.out"
    wasi.stdout_file = str(out)
    store.set_wasi(wasi)
    linker = wasmtime.Linker(engine)
    linker.define_wasi()
    instance = linker.instantiate(store, wasmtime.Module.from_file(engine, str(path)))
    try:
        instance.exports(store)["_start"](store)
        code = 0
    except wasmtime.ExitTrap as exc:
        code = exc.code
    return code, out.read_text()


def test_the_tail_call_program_needs_tail_calls():
    """It really is made of return_calls: with tail calls switched off, both refuse it."""
    wasmtime = pytest.importorskip("wasmtime")
    config = wasmtime.Config()
    config.wasm_tail_call = False
    with pytest.raises(wasmtime.WasmtimeError, match="tail calls"):
        wasmtime.Module.from_file(wasmtime.Engine(config), str(TAIL_CALL))
    ours = wf.Config()
    ours.wasm_tail_call = False
    with pytest.raises(wf.WasmError, match="tail-call"):
        wf.Module(wf.Engine(ours), TAIL_CALL.read_bytes())


@pytest.mark.parametrize("tier", TIERS)
@pytest.mark.parametrize("args", [(), ("1000001",)], ids=["3000000", "1000001"])
def test_tail_call_program_matches_wasmtime(tier, args, tmp_path):
    expected = wasmtime_run(TAIL_CALL, *args, tmp_path=tmp_path)
    assert expected[1].startswith("even(")
    code, out, err = wasmforge_run(tier, TAIL_CALL, *args)
    assert (code, out) == expected, err
    assert err == ""


@pytest.mark.parametrize("tier", TIERS)
def test_wasi_threads_program_prints_the_total(tier):
    assert wasmforge_run(tier, THREADS) == (0, THREADS_OUT, "")


def test_zig_threads_program_is_a_wasi_threads_program():
    module = wf.Module(wf.Engine(), ZIG_THREADS.read_bytes())
    assert imports_thread_spawn(module)
    assert shared_memory_for(module) is not None
    assert {e.name for e in module.exports} >= {"_start", "wasi_thread_start"}


@pytest.mark.parametrize("tier", TIERS)
def test_zig_std_thread_program_prints_the_total(tier):
    # 4 threads adding id * 2000 + i (i in 1..2000) under one lock; join hands back id * 10
    assert wasmforge_run(tier, ZIG_THREADS) == (0, "threads=4 total=32004000 joined=60\n", "")


@pytest.mark.parametrize("tier", TIERS)
def test_proc_exit_in_a_spawned_thread_ends_the_program(tier):
    # The main thread is blocked in memory.atomic.wait for ever: the exit must end it.
    assert wasmforge_run(tier, THREADS, "exit") == (7, "", "")


@pytest.mark.parametrize("tier", TIERS)
def test_a_trap_in_a_spawned_thread_ends_the_program(tier):
    code, out, err = wasmforge_run(tier, THREADS, "trap")
    assert (code, out) == (134, "")
    assert "wasm trap: unreachable" in err and "Traceback" not in err


@pytest.mark.parametrize("tier", TIERS)
def test_wasi_threads_through_the_api(tier):
    engine = wf.Engine(_config(tier))
    module = wf.Module(engine, THREADS.read_bytes())
    assert imports_thread_spawn(module)
    store = wf.Store(engine)
    out = []
    config = WasiConfig()
    config.stdout_callback = out.append
    ctx = WasiCtx(config)
    linker = wf.Linker(engine)
    define_wasi(linker, store, ctx)
    memory = shared_memory_for(module)
    linker.define(store, "env", "memory", memory)
    threads = define_wasi_threads(linker, module)
    linker.instantiate(store, module).exports(store)["_start"](store)
    threads.join(timeout=60)
    assert b"".join(out).decode() == THREADS_OUT
    assert threads.outcome is None
    assert len(threads.threads) == 4 and not any(t.is_alive() for t in threads.threads)


def _config(tier):
    config = wf.Config()
    config.strategy = tier
    return config


def test_thread_ids_are_positive_unique_and_bounded():
    engine = wf.Engine()
    module = wf.Module(engine, THREADS.read_bytes())
    threads = define_wasi_threads(wf.Linker(engine), module)
    threads._next_tid = MAX_TID            # the last id the ABI allows
    started = threading.Event()
    threads._run = lambda tid, arg: started.set()
    assert threads.spawn(0) == MAX_TID
    assert started.wait(10)
    assert threads.spawn(0) < 0            # no id left: thread-spawn fails, negative


def test_a_shared_memory_defined_in_a_linker_serves_every_store():
    engine = wf.Engine()
    module = wf.Module(engine, '(module (import "env" "memory" (memory 1 1 shared)) '
                               '(func (export "put") (param i32) (i32.atomic.store (i32.const 0) (local.get 0))) '
                               '(func (export "get") (result i32) (i32.atomic.load (i32.const 0))))')
    memory = shared_memory_for(module)
    linker = wf.Linker(engine)
    linker.define(wf.Store(engine), "env", "memory", memory)
    one, two = wf.Store(engine), wf.Store(engine)
    linker.instantiate(one, module).exports(one)["put"](one, 42)
    assert linker.instantiate(two, module).exports(two)["get"](two) == 42


SPIN = """(module
  (import "wasi" "thread-spawn" (func $spawn (param i32) (result i32)))
  (import "env" "memory" (memory 1 1 shared))
  (func (export "wasi_thread_start") (param i32 i32) (loop $l (br $l)))
  (func (export "_start")
    (drop (call $spawn (i32.const 0)))
    (drop (memory.atomic.wait32 (i32.const 0) (i32.const 0) (i64.const -1)))))"""


@pytest.mark.parametrize("tier", TIERS)
@pytest.mark.parametrize("limit", [("--timeout", "1"), ("--fuel", "100000")], ids=["timeout", "fuel"])
def test_run_limits_reach_spawned_threads(tier, limit, tmp_path):
    """A spawned thread that spins for ever is stopped by --timeout / --fuel (its store gets
    the main store's limits), and its trap ends the run while the main thread waits."""
    path = tmp_path / "spin.wat"
    path.write_text(SPIN)
    code, out, err = wasmforge_run(tier, *limit, path)
    assert (code, out) == (134, ""), err
    assert "wasm trap:" in err and "Traceback" not in err


@pytest.mark.parametrize("tier", TIERS)
@pytest.mark.parametrize("limit", [("--timeout", "200"), ("--fuel", "1000000000")], ids=["timeout", "fuel"])
def test_threads_program_runs_under_limits(tier, limit):
    """Spawned threads get the limits, not a store without fuel or past its epoch deadline
    (which would trap at their first instruction)."""
    assert wasmforge_run(tier, *limit, THREADS) == (0, THREADS_OUT, "")
