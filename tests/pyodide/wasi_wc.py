# Runs inside Pyodide (tests/pyodide/run.mjs): the C program examples/wc.wasm through WASI
# preview1, reading a file from Pyodide's in-memory filesystem (MEMFS) through a preopen.
# Prints one JSON line per run: exit code, stdout, stderr.
import json

from wasmforge import Engine, ExitTrap, Linker, Module, Store, WasiConfig

engine = Engine()
linker = Linker(engine)
linker.define_wasi()
module = Module.from_file(engine, "/work/wc.wasm")


def run(*args):
    store = Store(engine)
    out, err = [], []
    wasi = WasiConfig()
    wasi.argv = ["wc", *args]
    wasi.preopen_dir("/work/data", "data")
    wasi.stdout_callback = out.append
    wasi.stderr_callback = err.append
    store.set_wasi(wasi)
    start = linker.instantiate(store, module).exports(store)["_start"]
    try:
        start(store)
        code = 0
    except ExitTrap as exc:
        code = exc.code
    return {"args": list(args), "code": code, "stdout": b"".join(out).decode(), "stderr": b"".join(err).decode()}


for argv in (["data/poem.txt"], ["data/missing.txt"], ["/work/wc.wasm"]):
    print(json.dumps(run(*argv)))
