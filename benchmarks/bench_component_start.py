"""Start-up of a real component, wasmforge's tiers beside wasmtime-py (docs/components.md,
"Compilation, the module cache and artifacts").

Each case runs in a fresh process: ``Component(engine, bytes)`` (or ``deserialize_file``), a
``Linker`` defining the host's ``log``, ``instantiate``, a first call of ``greet``, then a
second ``instantiate`` in a new ``Store`` and a call.  Each phase is printed as wall-clock
and CPU seconds (``time.process_time``: the process's threads, not its children).  The
wasmforge cases use a cache folder of their own, empty for the ``cold`` run::

    python benchmarks/bench_component_start.py [tests/fixtures/componentize_py/greeter.wasm.xz]
"""

from __future__ import annotations

import json
import lzma
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "fixtures" / "componentize_py" / "greeter.wasm.xz"


def one(which: str, path: str, mode: str, artifact: str) -> dict:
    """The phases of one process (``--one``)."""
    wasm = lzma.decompress(Path(path).read_bytes()) if path.endswith(".xz") else Path(path).read_bytes()
    if which == "wasmtime":
        import wasmtime as M
        from wasmtime import component as C
        engine = M.Engine()
    else:
        import wasmforge as M
        from wasmforge import component as C
        config = M.Config()
        config.strategy = which
        engine = M.Engine(config)
    phases = {}
    t0, c0 = time.perf_counter(), time.process_time()

    def mark(name):
        nonlocal t0, c0
        t1, c1 = time.perf_counter(), time.process_time()
        phases[name] = [round(t1 - t0, 3), round(c1 - c0, 3)]
        t0, c0 = t1, c1
    component = C.Component.deserialize_file(engine, artifact) if mode == "deserialize" else C.Component(engine, wasm)
    mark("component")
    if mode == "serialize":
        Path(artifact).write_bytes(component.serialize())
        mark("serialize")

    def instantiate():
        store = M.Store(engine)
        linker = C.Linker(engine)
        with linker.root() as root:
            root.add_func("log", lambda store, message: 0)
        return store, linker.instantiate(store, component)

    def greet(store, instance, name):
        f = instance.get_func(store, "greet")
        result = f(store, name)
        f.post_return(store)
        return result
    store, instance = instantiate()
    mark("instantiate")
    assert greet(store, instance, "x") == "Hello, x!"
    mark("first call")
    store, instance = instantiate()
    mark("re-instantiate")
    greet(store, instance, "y")
    mark("call")
    return phases


def main() -> None:
    if sys.argv[1:2] == ["--one"]:
        print(json.dumps(one(*sys.argv[2:6])))
        return
    path = sys.argv[1] if len(sys.argv) > 1 else str(FIXTURE)
    tmp = tempfile.mkdtemp()
    llvm_cache, interp_cache = tempfile.mkdtemp(), tempfile.mkdtemp()
    cases = [("wasmforge llvm, empty cache", "llvm", "load", llvm_cache),
             ("wasmforge llvm, warm cache", "llvm", "load", llvm_cache),
             ("wasmforge interp, empty cache", "interp", "load", interp_cache),
             ("wasmforge interp, warm cache", "interp", "load", interp_cache),
             ("wasmforge interp, serialize", "interp", "serialize", interp_cache),
             ("wasmforge interp, deserialize", "interp", "deserialize", interp_cache),
             ("wasmtime-py, compile + serialize", "wasmtime", "serialize", None),
             ("wasmtime-py, deserialize", "wasmtime", "deserialize", None)]
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "src"), env.get("PYTHONPATH")]))
    print(f"load {os.getloadavg()[0]:.1f}; phases as [wall s, CPU s]")
    for label, which, mode, cache in cases:
        artifact = os.path.join(tmp, f"{which}.cwasm")
        if cache:
            env["WASMFORGE_CACHE_DIR"] = cache
        out = subprocess.run([sys.executable, __file__, "--one", which, path, mode, artifact],
                             capture_output=True, text=True, env=env, check=True)
        print(f"{label}: {out.stdout.strip()}", flush=True)


if __name__ == "__main__":
    main()
