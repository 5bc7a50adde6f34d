"""The official WASI testsuite's 72 preview1 programs as WASI 0.2 command components.

Opt-in: set WASMFORGE_WASI_TESTSUITE to a wasi-testsuite checkout (branch
``prod/testsuite-base``) and WASMFORGE_WASI_P2_ADAPTER to the preview1 command adapter
(``lib/wasi_snapshot_preview1.command.wasm`` of npm ``@bytecodealliance/jco``; 1.35.0 was
measured).  Each program is turned into a component with ``wasm-tools component new P1.wasm
--adapt wasi_snapshot_preview1=ADAPTER`` (``benchmarks/wasi_testsuite/components.py build``
does the same from the command line) and its ``wasi:cli/run`` called through
``wasmforge.component`` with ``Linker.add_wasip2()``, on each tier, as the suite's runner runs
it: its JSON spec's ``args`` and ``env``, its ``root`` (copied) preopened as ``/``; the exit
status and, where the spec gives one, stdout must be the spec's.

Four AssemblyScript programs trip the adapter itself (``ADAPTER_TRIPS``): there the expected
outcome is the adapter's, and wasmtime-py 50 (``wasmtime.component``, its own WASI 0.2 host)
must give that same outcome, which ``test_wasmtime_py_gives_the_expected_outcome`` checks for
all 72.  The llvm tier compiles each 2 MB Rust component cold: about half an hour on the
shared machine, so it runs only with WASMFORGE_WASI_P2_LLVM=1 too.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, NamedTuple, Optional

import pytest

import wasmforge
from wasmforge import component as C
from wasmforge.errors import ExitTrap, Trap

from support import has_llvmlite

SUITE = os.environ.get("WASMFORGE_WASI_TESTSUITE")
ADAPTER = os.environ.get("WASMFORGE_WASI_P2_ADAPTER")
WASM_TOOLS = shutil.which("wasm-tools")

pytestmark = pytest.mark.skipif(
    not (SUITE and ADAPTER and WASM_TOOLS),
    reason="opt-in: set WASMFORGE_WASI_TESTSUITE (a wasi-testsuite checkout, branch "
           "prod/testsuite-base) and WASMFORGE_WASI_P2_ADAPTER (jco's "
           "lib/wasi_snapshot_preview1.command.wasm); needs wasm-tools on PATH")


class Outcome(NamedTuple):
    """How a run ended: its exit status (None: a trap) and what it wrote to stdout."""
    code: Optional[int]
    stdout: str


#: programs whose expected outcome is the adapter's, not the spec's: the preview1 command
#: adapter (jco 1.35.0) asserts on AssemblyScript's argument and environment buffers (they
#: are not laid out as it requires: a trap), fd_write of no iovecs to fd -31337 gets another
#: answer than BADF (the program's assert aborts: exit 1), and proc_exit(33) becomes
#: wasi:cli/exit's err, status 1.  wasmtime-py gives these same outcomes.
ADAPTER_TRIPS: Dict[str, Outcome] = {
    "assemblyscript/args_get-multiple-arguments": Outcome(None, ""),
    "assemblyscript/environ_get-multiple-variables": Outcome(None, ""),
    "assemblyscript/fd_write-to-invalid-fd": Outcome(1, ""),
    "assemblyscript/proc_exit-failure": Outcome(1, ""),
}


def _programs() -> list:
    if not SUITE:
        return []
    return sorted(Path(SUITE).glob("tests/*/testsuite/wasm32-wasip1/*.wasm"))


def _name(program: Path) -> str:
    return f"{program.parents[2].name}/{program.stem}"


PROGRAMS = _programs()
TIERS = ["interp", pytest.param("llvm", marks=pytest.mark.skipif(
    not (has_llvmlite() and os.environ.get("WASMFORGE_WASI_P2_LLVM") == "1"),
    reason="opt-in (WASMFORGE_WASI_P2_LLVM=1): each component's LLVM compile, ~30 s cold"))]


def _spec(program: Path) -> Dict[str, Any]:
    spec_file = program.with_suffix(".json")
    return json.loads(spec_file.read_text()) if spec_file.is_file() else {}


def expected(program: Path) -> Outcome:
    trip = ADAPTER_TRIPS.get(_name(program))
    if trip is not None:
        return trip
    spec = _spec(program)
    return Outcome(spec.get("exit_code", 0), spec.get("stdout", ""))


def matches(got: Outcome, program: Path) -> bool:
    """Whether ``got`` is the expected outcome (stdout compared where the spec gives one)."""
    want = expected(program)
    if got.code != want.code:
        return False
    return "stdout" not in _spec(program) or got.stdout == want.stdout


@pytest.fixture(scope="module")
def components(tmp_path_factory) -> Dict[str, Path]:
    out = tmp_path_factory.mktemp("p2components")
    built = {}
    for program in PROGRAMS:
        target = out / f"{_name(program).replace('/', '__')}.wasm"
        subprocess.run([WASM_TOOLS, "component", "new", str(program), "--adapt",
                        f"wasi_snapshot_preview1={ADAPTER}", "-o", str(target)],
                       check=True, capture_output=True)
        built[_name(program)] = target
    return built


def run(M: Any, C_: Any, engine: Any, exit_trap: type, trap: type, component: Path,
        program: Path, tmp: Path) -> Outcome:
    """``wasi:cli/run`` of ``component`` on one engine (``M`` wasmforge or wasmtime)."""
    spec = _spec(program)
    store = M.Store(engine)
    w = M.WasiConfig()
    w.argv = [program.name, *spec.get("args", [])]
    w.env = list(spec.get("env", {}).items())
    w.stdout_file = str(tmp / "stdout")
    w.stderr_file = str(tmp / "stderr")
    if spec.get("root"):
        root = tmp / "root"
        shutil.copytree(program.parent / spec["root"], root, symlinks=True)
        w.preopen_dir(str(root), "/")
    store.set_wasi(w)
    linker = C_.Linker(engine)
    linker.add_wasip2()
    comp = C_.Component.from_file(engine, str(component))
    code: Optional[int] = 0
    try:
        instance = linker.instantiate(store, comp)
        [iface] = [n for n in comp.type.exports(engine) if n.startswith("wasi:cli/run@0.2.")]
        outer = instance.get_export_index(store, iface)
        func = instance.get_func(store, instance.get_export_index(store, "run", outer))
        result = func(store)
        func.post_return(store)
        code = 1 if getattr(result, "tag", None) == "err" or isinstance(result, Exception) else 0
    except exit_trap as exc:
        code = exc.code
    except trap:
        code = None
    return Outcome(code, (tmp / "stdout").read_text(errors="replace"))


def ours(tier: str) -> Any:
    config = wasmforge.Config()
    config.strategy = tier
    return wasmforge.Engine(config)


@pytest.mark.parametrize("tier", TIERS)
@pytest.mark.parametrize("program", PROGRAMS, ids=_name)
def test_program(program, tier, components, tmp_path):
    got = run(wasmforge, C, ours(tier), ExitTrap, Trap, components[_name(program)], program, tmp_path)
    assert matches(got, program), f"{got} expected {expected(program)}"


@pytest.mark.parametrize("program", PROGRAMS, ids=_name)
def test_wasmtime_py_gives_the_expected_outcome(program, components, tmp_path):
    """The reference: wasmtime-py 50 passes the other 68 and fails the four as we expect."""
    wasmtime = pytest.importorskip("wasmtime")
    W = pytest.importorskip("wasmtime.component")
    got = run(wasmtime, W, wasmtime.Engine(), wasmtime.ExitTrap, (wasmtime.Trap, wasmtime.WasmtimeError),
              components[_name(program)], program, tmp_path)
    assert matches(got, program), f"{got} expected {expected(program)}"


def test_the_suite_has_the_72_programs():
    assert len(PROGRAMS) == 72, f"{len(PROGRAMS)} wasm32-wasip1 programs under {SUITE}"
    assert set(ADAPTER_TRIPS) <= {_name(p) for p in PROGRAMS}


RUNNER_PYTHON = os.environ.get("WASMFORGE_WASI_RUNNER_PYTHON")
HERE = Path(__file__).resolve().parents[2] / "benchmarks" / "wasi_testsuite"


@pytest.mark.skipif(not RUNNER_PYTHON, reason="set WASMFORGE_WASI_RUNNER_PYTHON (Python >= 3.12 "
                                              "with colorama) to run the suite's own runner too")
def test_official_runner_passes_the_components(tmp_path):
    """``run-tests`` with adapter.py and WASMFORGE_WASI_COMPONENTS: each component a
    ``python -m wasmforge run`` process (interp: no minutes of LLVM compiles per program),
    120 s timeout; the four programs of ADAPTER_TRIPS are its expected failures
    (components_expectations.toml)."""
    out = tmp_path / "components"
    subprocess.run([sys.executable, str(HERE / "components.py"), "build", SUITE, str(out),
                    "--adapter", ADAPTER], check=True, capture_output=True)
    env = dict(os.environ, RUNNER_PYTHON=RUNNER_PYTHON, WASMFORGE_PYTHON=sys.executable,
               WASMFORGE_WASI_COMPONENTS=str(out), WASMFORGE_WASI_TIMEOUT="120",
               WASMFORGE_STRATEGY="interp")
    proc = subprocess.run(["sh", str(HERE / "run.sh"), SUITE, "-e",
                           str(HERE / "components_expectations.toml"),
                           "--json-output-location", str(tmp_path / "results.json")],
                          capture_output=True, text=True, env=env, timeout=7200)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert runner_outcomes(json.loads((tmp_path / "results.json").read_text())) == {
        _name(p): "xfail" if _name(p) in ADAPTER_TRIPS else "pass" for p in PROGRAMS}


def runner_outcomes(results: Dict[str, Any]) -> Dict[str, str]:
    """``{"lang/program": outcome}`` from the runner's JSON report (its wasm32-wasip1 suites;
    the suite names are "WASI Rust tests [wasm32-wasip1]" and the like)."""
    out = {}
    for suite in results["results"]:
        if suite["name"].endswith("[wasm32-wasip1]"):
            lang = suite["name"].split()[1].lower()
            for test in suite["tests"]:
                out[f"{lang}/{test['name']}"] = test["outcome"]
    return out
