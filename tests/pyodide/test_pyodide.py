"""wasmforge inside Pyodide (CPython compiled to WebAssembly), under node.

The interp tier is pure Python, so wasmforge's wheel must install and run in Pyodide: a
WebAssembly runtime running inside WebAssembly.  The test builds the wheel from this checkout
(``pip wheel``), installs the npm package ``pyodide`` pinned in ``tests/pyodide/package.json``
into a temporary folder (``npm ci``), loads the wheel into Pyodide and runs there, in one
Pyodide session (``run.mjs``): the README's embedding example, a WASI program (examples/wc.wasm)
reading a file from Pyodide's in-memory filesystem, the limits that differ from CPython (no
threads, no address-space reservation, a small JavaScript stack), asyncio on Pyodide's event
loop, and the command line (with click and tqdm, ``pip download``-ed as pure wheels).  About 30-60 s on a
loaded 2-core machine, most of it loading Pyodide; docs/pyodide.md has the numbers.

``WASMFORGE_PYODIDE_NODE_MODULES=DIR`` uses a ``node_modules`` that already holds ``pyodide``
instead of running ``npm ci``.  Without node and npm the tests are skipped, saying so.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
EXAMPLES = ROOT / "examples"


def _sections(output: str) -> dict:
    """run.mjs's output split at its ``=== NAME`` lines: {NAME: [lines]}; a failed script's
    section is named ``NAME FAILED``."""
    sections: dict = {}
    current = None
    for line in output.splitlines():
        if line.startswith("=== "):
            head = line[4:]
            if head.endswith(" FAILED") or " " not in head:
                current = sections.setdefault(head, [])
            continue
        if current is not None:
            current.append(line)
    return sections


@pytest.fixture(scope="module")
def pyodide_run(tmp_path_factory, request, readme_example):
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is needed to run Pyodide (the Pyodide test did not run)")
    modules = request.getfixturevalue("pyodide_modules")
    wheel = request.getfixturevalue("wasmforge_wheel")
    tmp = tmp_path_factory.mktemp("pyodide")
    # The command line's dependencies, pure wheels too (the embedding API needs neither).
    deps = tmp / "deps"
    proc = subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
                           "click>=8.1", "tqdm>=4.60", "-d", str(deps)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"pip download failed:\n{proc.stdout}\n{proc.stderr}"
    readme = tmp / "readme_example.py"
    readme.write_text(readme_example)
    files = [f"{EXAMPLES / 'wc.wasm'}=/work/wc.wasm", f"{EXAMPLES / 'poem.txt'}=/work/data/poem.txt",
             f"{EXAMPLES / 'hello.wat'}=/work/hello.wat", f"{EXAMPLES / 'add.wat'}=/work/add.wat",
             f"{HERE.parent / 'cli' / 'fixtures' / 'wasi_and_unknown.wat'}=/work/wasi_and_unknown.wat"]
    scripts = [readme] + [HERE / name for name in ("wasi_wc.py", "runtime_limits.py", "asyncio_host.py",
                                                    "cli_run.py")]
    proc = subprocess.run([node, str(HERE / "run.mjs"), modules,
                           *[arg for dep in sorted(deps.glob("*.whl")) for arg in ("--wheel", str(dep))],
                           "--wheel", str(wheel), *[arg for f in files for arg in ("--file", f)],
                           *map(str, scripts)],
                          capture_output=True, text=True, timeout=600)
    return wheel, proc, _sections(proc.stdout)


def test_wheel_is_pure_python(pyodide_run):
    wheel, _, _ = pyodide_run
    # Pyodide installs only pure wheels (or ones built for Emscripten): a py3-none-any tag.
    assert wheel.name.endswith("-py3-none-any.whl")


def test_every_script_ran_in_pyodide(pyodide_run):
    _, proc, sections = pyodide_run
    failed = [name for name in sections if name.endswith(" FAILED")]
    assert proc.returncode == 0 and not failed, f"{failed}\n{proc.stdout}\n{proc.stderr}"


def test_readme_example_prints_what_it_says(pyodide_run, readme_example):
    _, proc, sections = pyodide_run
    assert "readme_example.py" in sections, proc.stdout + proc.stderr
    # The same lines as on CPython (the README's comments say them too).
    here = subprocess.run([sys.executable, "-c", readme_example], capture_output=True, text=True,
                          env={**os.environ, "WASMFORGE_STRATEGY": "interp", "PYTHONPATH": str(ROOT / "src")},
                          timeout=120)
    assert here.returncode == 0, here.stderr
    assert sections["readme_example.py"] == here.stdout.splitlines()
    assert sections["readme_example.py"] == ["42", r"bytearray(b'\x07\x00\x00\x00')"]
    # "auto" chose interp without the notice that advises installing llvmlite: no native
    # tier can load in Pyodide.
    assert "TierNotice" not in proc.stderr and "llvmlite" not in proc.stderr


def test_wasi_program_reads_the_in_memory_filesystem(pyodide_run):
    _, proc, sections = pyodide_run
    runs = [json.loads(line) for line in sections.get("wasi_wc.py", [])]
    assert len(runs) == 3, proc.stdout + proc.stderr
    poem = (EXAMPLES / "poem.txt").read_bytes()
    lines = poem.count(b"\n")
    counts = f"{lines:7d} {len(poem.split()):7d} {len(poem):7d}"
    assert runs[0] == {"args": ["data/poem.txt"], "code": 0, "stdout": f"{counts} data/poem.txt\n", "stderr": ""}
    assert runs[1] == {"args": ["data/missing.txt"], "code": 1, "stdout": "",
                       "stderr": "wc: data/missing.txt: No such file or directory\n"}
    # The module's own file exists in MEMFS but was not preopened: the guest cannot reach it.
    assert runs[2]["code"] == 1 and runs[2]["stdout"] == ""
    assert "No such file or directory" in runs[2]["stderr"]


def test_limits_and_cache_in_pyodide(pyodide_run):
    _, proc, sections = pyodide_run
    lines = sections.get("runtime_limits.py", [])
    assert len(lines) == 1, proc.stdout + proc.stderr
    got = json.loads(lines[0])
    # Installed from the wheel, not read from this checkout.
    assert "/site-packages/wasmforge/" in got["file"]
    assert got["tier"] == "interp"
    assert got["recursion"] == "TrapCode.STACK_OVERFLOW"
    # memory.grow by 2 from 1 page returns 1; beyond 65536 pages -1; the bytes written before
    # the growth are still there, and the new pages are usable from wasm.
    assert got["grow"] == [1, -1, 3]
    assert got["after_grow"] == ["kept", 42]
    assert got["fuel"] == "TrapCode.OUT_OF_FUEL"
    assert got["epoch"] == "TrapCode.INTERRUPT"
    # errno 0, it waited at least the 20 ms asked, and the event names the subscription
    assert got["sleep"] == [0, True, 7]
    assert got["cache_root"] == "/home/pyodide/.cache/wasmforge"
    assert got["cache_mode"] == "0o700" and got["cache_entries"] is True


def test_asyncio_without_threads(pyodide_run):
    _, proc, sections = pyodide_run
    lines = sections.get("asyncio_host.py", [])
    assert len(lines) == 1, proc.stdout + proc.stderr
    got = json.loads(lines[0])
    # call_async runs the call on the event loop's thread (Pyodide cannot start one)...
    assert got["call_async"] == 42
    # ...so an async host function cannot be awaited, and says why instead of hanging.
    assert got["async_host"] == ("an async host function cannot be awaited here: the guest runs on the event "
                                 "loop's own thread, as this Python (emscripten) cannot start threads")


def test_command_line_in_pyodide(pyodide_run):
    _, proc, sections = pyodide_run
    poem = (EXAMPLES / "poem.txt").read_bytes()
    lines = poem.count(b"\n")
    assert sections.get("cli_run.py") == [
        f"{lines:7d} {len(poem.split()):7d} {len(poem):7d} data/poem.txt", "--- exit 0",
        "Hello, world!", "--- exit 0",
        "5", "--- exit 0",
        "--- exit 0",
        # --timeout needs a timer thread: a usage error naming the way out, not a traceback
        "--- exit 2"], proc.stdout + proc.stderr
    assert ("Error: --timeout needs a timer thread, which this Python (emscripten) cannot start; "
            "bound the run with --fuel instead") in proc.stderr
