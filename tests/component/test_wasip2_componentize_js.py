"""A componentize-js command component with the whole WASI 0.2 command world, nothing stubbed.

``tests/fixtures/componentize_js_wasi/app.wasm.xz`` is ``app.js`` built by componentize-js
0.23.0 (``build.sh``) for a world that includes ``wasi:cli/command``: it imports all 27 CLI,
io, clocks, random, filesystem and sockets interfaces (at 0.2.12, componentize-js's version)
and exports ``wasi:cli/run@0.2.9``.  Its ``run`` prints its arguments and environment, lists
and reads a file of the preopened directory (with three error paths), checks the wall and
monotonic clocks (WASI's and JavaScript's ``Date``/``performance``) and sizes of random
data (WASI's, ``crypto.getRandomValues``, ``Math.random``), and writes a line to stderr.

Run through ``Linker.add_wasip2()`` its stdout and stderr are wasmtime-py 50's, on each tier;
through ``wasmforge run`` too; with WasiConfig's virtual clocks the times it prints are exact.
The llvm tier is opt-in (``WASMFORGE_COMPONENTIZE_JS_LLVM=1``, as for
tests/component/test_componentize_js.py): the SpiderMonkey core module's cold compile takes
minutes here.
"""

from __future__ import annotations

import lzma
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable, Optional, Tuple

import pytest

import wasmforge
from wasmforge import component as C

from support import has_llvmlite

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "componentize_js_wasi" / "app.wasm.xz"
SRC = Path(__file__).resolve().parents[2] / "src"
ARGV = ["app", "x", "y\u00e9"]
ENV = [("A", "1"), ("B", "two")]
HELLO = "hello from the preopen\n"

TIERS = ["interp", pytest.param("llvm", marks=pytest.mark.skipif(
    not (has_llvmlite() and os.environ.get("WASMFORGE_COMPONENTIZE_JS_LLVM") == "1"),
    reason="opt-in: set WASMFORGE_COMPONENTIZE_JS_LLVM=1 (the SpiderMonkey core module's "
           "cold LLVM compile takes minutes on the shared 2-core machine)"))]


@pytest.fixture(scope="module")
def wasm_path(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("p2js") / "app.wasm"
    path.write_bytes(lzma.decompress(FIXTURE.read_bytes()))
    return path


def make_root(tmp: Path) -> Path:
    root = tmp / "root"
    (root / "sub").mkdir(parents=True)
    (root / "hello.txt").write_text(HELLO)
    return root


def run(M: Any, C_: Any, engine: Any, wasm_path: Path, tmp: Path,
        configure: Optional[Callable[[Any], None]] = None, env=ENV) -> Tuple[str, str]:
    """``wasi:cli/run`` called once: (stdout, stderr)."""
    store = M.Store(engine)
    w = M.WasiConfig()
    w.argv = ARGV
    w.env = env
    w.stdout_file = str(tmp / "out")
    w.stderr_file = str(tmp / "err")
    w.preopen_dir(str(make_root(tmp)), "/")
    if configure:
        configure(w)
    store.set_wasi(w)
    linker = C_.Linker(engine)
    linker.add_wasip2()
    inst = linker.instantiate(store, C_.Component.from_file(engine, str(wasm_path)))
    outer = inst.get_export_index(store, "wasi:cli/run@0.2.9")
    func = inst.get_func(store, inst.get_export_index(store, "run", outer))
    result = func(store)
    func.post_return(store)
    assert getattr(result, "tag", None) == "ok"       # result<_, _> (wasmtime-py's mapping)
    return (tmp / "out").read_text(), (tmp / "err").read_text()


def ours(tier: str) -> Any:
    config = wasmforge.Config()
    config.strategy = tier
    return wasmforge.Engine(config)


@pytest.fixture(scope="module")
def expected(wasm_path, tmp_path_factory) -> Tuple[str, str]:
    wasmtime = pytest.importorskip("wasmtime")
    W = pytest.importorskip("wasmtime.component")
    return run(wasmtime, W, wasmtime.Engine(), wasm_path, tmp_path_factory.mktemp("wasmtime"))


def test_the_component_imports_the_whole_command_world(wasm_path):
    engine = wasmforge.Engine()
    component = C.Component.from_file(engine, str(wasm_path))
    imports = set(component.type.imports(engine))
    for iface in ["cli/environment", "cli/exit", "cli/stdin", "cli/stdout", "cli/stderr",
                  "cli/terminal-stdout", "clocks/wall-clock", "clocks/monotonic-clock",
                  "filesystem/types", "filesystem/preopens", "random/random", "random/insecure",
                  "random/insecure-seed", "io/streams", "io/poll", "sockets/tcp",
                  "sockets/ip-name-lookup"]:
        assert f"wasi:{iface}@0.2.12" in imports
    assert len(imports) == 27
    assert list(component.type.exports(engine)) == ["wasi:cli/run@0.2.9"]


@pytest.mark.parametrize("tier", TIERS)
def test_output_identical_to_wasmtime_py(tier, wasm_path, expected, tmp_path):
    got = run(wasmforge, C, ours(tier), wasm_path, tmp_path)
    assert got == expected
    out, err = got
    assert err == "to stderr\n"
    lines = out.splitlines()
    assert lines[:2] == ['args: ["app","x","y\u00e9"]', 'env: ["A=1","B=two"]']
    assert 'hello.txt says: "hello from the preopen\\n" (eof false)' in lines
    assert "open ../escape: error not-permitted" in lines
    assert "open missing.txt: error no-entry" in lines
    assert "random bytes: 16" in lines
    assert not any(line.endswith("false") and "eof" not in line and "terminal" not in line
                   for line in lines), out


def test_virtual_clocks_are_what_javascript_sees(wasm_path, tmp_path):
    def configure(w):
        w.wall_clock = lambda: 1_700_000_000_250_000_000
        w.monotonic_clock = lambda: 5_000
        w.random_seed = 7
    out, _ = run(wasmforge, C, ours("interp"), wasm_path, tmp_path, configure,
                 env=ENV + [("WASMFORGE_JS_EXACT", "1")])
    lines = out.splitlines()
    assert "exact wall: 1700000000.250000000" in lines
    assert "exact monotonic: 5000" in lines
    assert "exact Date.now: 1700000000250" in lines
    assert "wall clock after 2020: true" in lines


def test_wasmforge_run_prints_the_same(wasm_path, expected, tmp_path):
    root = make_root(tmp_path)
    env = dict(os.environ, PYTHONPATH=str(SRC))
    proc = subprocess.run([sys.executable, "-m", "wasmforge", "run", "--tier", "interp",
                           "--env", "A=1", "--env", "B=two", "--dir", f"{root}::/",
                           str(wasm_path), "x", "y\u00e9"],
                          capture_output=True, text=True, env=env, timeout=900)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == "to stderr\n"
    # argv[0] is the path given, as under wasmtime run
    want = expected[0].replace('args: ["app",', f'args: [{str(wasm_path)!r},'.replace("'", '"'))
    assert proc.stdout == want
