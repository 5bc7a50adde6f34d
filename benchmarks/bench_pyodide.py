"""wasmforge's interp tier inside Pyodide beside the same tier on CPython, in one run.

    python benchmarks/bench_pyodide.py [--node-modules DIR] [--repeat N]

Builds the wheel, installs the npm package ``pyodide`` pinned in tests/pyodide/package.json
(unless ``--node-modules`` names a folder that has it), and runs the same timing script
(``--inner``) in Pyodide under node and in this CPython, with ``WASMFORGE_STRATEGY=interp``
and the translation cache off (each figure includes translating the functions it runs).
Phase figures, in process, best of N: loading Pyodide and the wheel is reported apart.
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

FIB = ('(module (func $fib (export "fib") (param i32) (result i32)'
       ' (if (result i32) (i32.lt_u (local.get 0) (i32.const 2)) (then (local.get 0))'
       ' (else (i32.add (call $fib (i32.sub (local.get 0) (i32.const 1)))'
       ' (call $fib (i32.sub (local.get 0) (i32.const 2))))))))')


def inner(examples: str, repeat: int) -> dict:
    """The timings, in milliseconds (best of ``repeat``), in whichever Python runs this."""
    from wasmforge import Config, Engine, ExitTrap, Instance, Linker, Module, Store, WasiConfig

    def best(fn):
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t0) * 1000)
        return round(min(times), 2)

    config = Config()
    config.strategy = "interp"
    engine = Engine(config)
    wc_bytes = Path(examples, "wc.wasm").read_bytes()

    def wc():
        module = Module(engine, wc_bytes)
        linker = Linker(engine)
        linker.define_wasi()
        store = Store(engine)
        wasi = WasiConfig()
        wasi.argv = ["wc", "data/poem.txt"]
        wasi.preopen_dir(examples, "data")
        wasi.stdout_callback = lambda data: None
        store.set_wasi(wasi)
        try:
            linker.instantiate(store, module).exports(store)["_start"](store)
        except ExitTrap as exc:
            assert exc.code == 0

    def fib():
        store = Store(engine)
        assert Instance(store, Module(engine, FIB), []).exports(store)["fib"](store, 20) == 6765

    return {"python": sys.version.split()[0], "platform": sys.platform,
            "wc.wasm poem.txt (decode, validate, translate, run)": best(wc),
            "fib(20) (21,891 calls)": best(fib)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--node-modules", help="a node_modules folder holding the npm package pyodide")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--inner", help=argparse.SUPPRESS)
    args = parser.parse_args()
    root = Path(__file__).resolve().parent.parent
    if args.inner:
        print(json.dumps(inner(args.inner, args.repeat)))
        return
    env = {**os.environ, "WASMFORGE_CACHE": "off", "WASMFORGE_STRATEGY": "interp",
           "PYTHONPATH": str(root / "src")}
    with tempfile.TemporaryDirectory() as tmp:
        modules = args.node_modules
        if not modules:
            for name in ("package.json", "package-lock.json"):
                shutil.copy(root / "tests" / "pyodide" / name, Path(tmp, name))
            subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=tmp, check=True)
            modules = str(Path(tmp, "node_modules"))
        # Built from a copy: setuptools would leave build/ and an egg-info in the checkout.
        source = Path(tmp, "source")
        shutil.copytree(root / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        for name in ("pyproject.toml", "README.md"):
            shutil.copy(root / name, source / name)
        subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", str(source), "-w", tmp],
                       check=True)
        (wheel,) = Path(tmp).glob("wasmforge-*.whl")
        script = Path(tmp, "bench.py")
        # The same function, run inside Pyodide on files copied into its in-memory filesystem.
        script.write_text(Path(__file__).read_text().replace("\nif __name__ == \"__main__\":\n    main()\n", "")
                          + f"\nimport json, os\nos.environ['WASMFORGE_CACHE'] = 'off'\n"
                            f"print(json.dumps(inner('/bench', {args.repeat})))\n")
        here = subprocess.run([sys.executable, __file__, "--inner", str(root / "examples"),
                               "--repeat", str(args.repeat)], env=env, check=True, capture_output=True, text=True)
        t0 = time.perf_counter()
        there = subprocess.run(["node", str(root / "tests" / "pyodide" / "run.mjs"), modules, "--wheel", str(wheel),
                                "--file", f"{root / 'examples' / 'wc.wasm'}=/bench/wc.wasm",
                                "--file", f"{root / 'examples' / 'poem.txt'}=/bench/poem.txt", str(script)],
                               check=True, capture_output=True, text=True)
        whole = time.perf_counter() - t0
    cpython = json.loads(here.stdout.strip().splitlines()[-1])
    lines = there.stdout.splitlines()
    pyodide = json.loads(next(line for line in lines if line.startswith("{")))
    print(f"node process, whole: {whole:.1f} s; " + "; ".join(line[4:] for line in lines[:2]))
    print(f"{'ms, best of ' + str(args.repeat):50} {'CPython ' + cpython['python']:>16} "
          f"{'Pyodide ' + pyodide['python']:>16} {'ratio':>7}")
    for key, value in cpython.items():
        if key not in ("python", "platform"):
            print(f"{key:50} {value:16.2f} {pyodide[key]:16.2f} {pyodide[key] / value:6.2f}x")


if __name__ == "__main__":
    main()
