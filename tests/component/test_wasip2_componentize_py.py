"""A real WASI 0.2 component: componentize-py's CPython built *without* ``--stub-wasi``
(``tests/fixtures/componentize_py_wasi``: it imports 25 WASI 0.2.9 interfaces) run through
``Linker.add_wasip2()``: its stdout, stderr and result are wasmtime-py's (same arguments,
environment; the wall-clock line is compared as a time), and with the virtual clock and the
random seed of WasiConfig its output is exact.

The interp tier runs by default (about 6 s here, plus wasmtime-py's compile for the expected
output); the llvm tier with an empty cache takes minutes on the loaded shared machine: opt-in
with ``WASMFORGE_GREETER_LLVM=1`` as for the greeter (tests/component/test_componentize_py_run.py).
"""

from __future__ import annotations

import lzma
import os
import time
from pathlib import Path

import pytest

import wasmforge
from wasmforge import component as C

from support import has_llvmlite

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "componentize_py_wasi" / "tool.wasm.xz"
ARGV = ["tool", "x", "y\u00e9"]
ENV = [("A", "1"), ("B", "two")]

TIERS = ["interp", pytest.param("llvm", marks=pytest.mark.skipif(
    not (has_llvmlite() and os.environ.get("WASMFORGE_GREETER_LLVM")),
    reason="opt-in (WASMFORGE_GREETER_LLVM=1): minutes of LLVM compiles with an empty cache"))]


@pytest.fixture(scope="module")
def wasm_path(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("p2py") / "tool.wasm"
    path.write_bytes(lzma.decompress(FIXTURE.read_bytes()))
    return str(path)


def run(M, C_, engine, wasm_path, tmp, configure=None):
    """``report()`` called once; (its result, stdout, stderr)."""
    store = M.Store(engine)
    w = M.WasiConfig()
    w.argv = ARGV
    w.env = ENV
    w.stdout_file = str(tmp / "out")
    w.stderr_file = str(tmp / "err")
    if configure:
        configure(w)
    store.set_wasi(w)
    linker = C_.Linker(engine)
    linker.add_wasip2()
    inst = linker.instantiate(store, C_.Component.from_file(engine, wasm_path))
    result = inst.get_func(store, "report")(store)
    return result, (tmp / "out").read_text(), (tmp / "err").read_text()


def ours(tier):
    config = wasmforge.Config()
    config.strategy = tier
    return wasmforge.Engine(config)


def split_time(text):
    """The text without its ``time:`` line, and that line's number."""
    lines = text.splitlines()
    [t] = [int(x[6:]) for x in lines if x.startswith("time: ")]
    return [x for x in lines if not x.startswith("time: ")], t


@pytest.fixture(scope="module")
def expected(wasm_path, tmp_path_factory):
    wasmtime = pytest.importorskip("wasmtime")
    W = pytest.importorskip("wasmtime.component")
    return run(wasmtime, W, wasmtime.Engine(), wasm_path, tmp_path_factory.mktemp("wasmtime"))


@pytest.mark.parametrize("tier", TIERS)
def test_output_identical_to_wasmtime_py(tier, wasm_path, expected, tmp_path):
    before = int(time.time())
    got = run(wasmforge, C, ours(tier), wasm_path, tmp_path)
    assert got[2] == expected[2] == "to stderr\n"
    assert got[0] + "\n" == got[1]               # what it returns is what it printed
    (lines, t), (want_lines, _) = split_time(got[1]), split_time(expected[1])
    assert lines == want_lines
    assert lines[0] == "args: tool x y\u00e9" and lines[1] == "env: A=1,B=two"
    assert before <= t <= time.time() + 1


@pytest.mark.parametrize("tier", TIERS)
def test_virtual_clock_and_seed(tier, wasm_path, tmp_path):
    def configure(w):
        w.wall_clock = lambda: 1_700_000_000_250_000_000
        w.monotonic_clock = lambda: 5
        w.random_seed = 1
    result, out, _ = run(wasmforge, C, ours(tier), wasm_path, tmp_path, configure)
    assert "time: 1700000000\n" in out
    assert result + "\n" == out
