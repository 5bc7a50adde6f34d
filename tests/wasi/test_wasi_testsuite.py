"""The official WASI test suite (WebAssembly/wasi-testsuite), preview1 programs, when present.

Point WASMFORGE_WASI_TESTSUITE at a checkout of its ``prod/testsuite-base`` branch (the one
holding the prebuilt ``tests/*/testsuite/wasm32-wasip1/*.wasm``).  With
WASMFORGE_WASI_RUNNER_PYTHON also set (a Python >= 3.12 with ``colorama``, which the suite's
runner needs), the suite also runs through its own runner, a process per program, default
tier, 5 s timeout, empty cache (``benchmarks/wasi_testsuite/run.sh``; minutes: opt-in).  Each program runs as the
suite's wasmtime adapter runs it: its JSON spec's ``args`` and ``env``, its ``root``
directory (copied, since tests write to it) preopened as ``/``; exit code and, where the spec
gives one, stdout must match.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from wasmforge.errors import ExitTrap
from wasmforge import Engine, Linker, Module, Store
from wasmforge.wasi import WasiConfig, WasiCtx, define_wasi

SUITE = os.environ.get("WASMFORGE_WASI_TESTSUITE")


def _programs():
    if not SUITE:
        return []
    return sorted(Path(SUITE).glob("tests/*/testsuite/wasm32-wasip1/*.wasm"))


@pytest.mark.skipif(not SUITE, reason="WASI TESTSUITE ABSENT: set WASMFORGE_WASI_TESTSUITE to a "
                                      "wasi-testsuite checkout (branch prod/testsuite-base)")
@pytest.mark.parametrize("program", _programs(), ids=lambda p: f"{p.parents[2].name}/{p.stem}")
def test_wasi_testsuite_program(program, tmp_path):
    spec_file = program.with_suffix(".json")
    spec = json.loads(spec_file.read_text()) if spec_file.is_file() else {}
    config = WasiConfig()
    config.argv = [program.name, *spec.get("args", [])]
    config.env = list(spec.get("env", {}).items())
    out = []
    config.stdout_callback = out.append
    if spec.get("root"):
        root = tmp_path / "root"
        shutil.copytree(program.parent / spec["root"], root, symlinks=True)
        config.preopen_dir(root, "/")
    engine = Engine()
    store = Store(engine)
    linker = Linker(engine)
    ctx = WasiCtx(config)
    define_wasi(linker, store, ctx)
    code = 0
    try:
        linker.instantiate(store, Module(engine, program.read_bytes())).exports(store)["_start"](store)
    except ExitTrap as exc:
        code = exc.code
    finally:
        ctx.close()
    assert code == spec.get("exit_code", 0)
    if "stdout" in spec:
        assert b"".join(out).decode() == spec["stdout"]


def test_suite_location_is_reported():
    """Says loudly (as a skip) when the suite is absent instead of passing silently."""
    if not SUITE:
        pytest.skip("WASI TESTSUITE ABSENT: set WASMFORGE_WASI_TESTSUITE")
    assert _programs(), f"no wasm32-wasip1 programs under {SUITE}"


RUNNER_PYTHON = os.environ.get("WASMFORGE_WASI_RUNNER_PYTHON")
RUN_SH = Path(__file__).resolve().parents[2] / "benchmarks" / "wasi_testsuite" / "run.sh"


@pytest.mark.skipif(not (SUITE and RUNNER_PYTHON),
                    reason="set WASMFORGE_WASI_TESTSUITE and WASMFORGE_WASI_RUNNER_PYTHON to run "
                           "the suite through its own runner")
def test_official_runner_passes_every_preview1_program():
    env = dict(os.environ, RUNNER_PYTHON=RUNNER_PYTHON,
               WASMFORGE_PYTHON=os.environ.get("WASMFORGE_PYTHON", sys.executable))
    env.pop("WASMFORGE_STRATEGY", None)     # the default tier
    proc = subprocess.run(["sh", str(RUN_SH), SUITE], capture_output=True, text=True, env=env,
                          timeout=3600)
    summary = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else proc.stderr
    assert proc.returncode == 0 and "PASS" in summary, summary
