# Runs inside Pyodide (tests/pyodide/run.mjs), with click and tqdm installed: the command
# line as a user would type it, on files in Pyodide's in-memory filesystem.
from wasmforge.cli import main

for argv in (["run", "--dir", "/work/data::data", "/work/wc.wasm", "data/poem.txt"],
             ["/work/hello.wat"],
             ["run", "--invoke", "add", "/work/add.wat", "2", "3"],
             # a component: WASI 0.2 (wasi:random) from the host, an unknown interface stubbed
             ["run", "-W", "unknown-imports-trap", "/work/wasi_and_unknown.wat"],
             ["run", "--timeout", "5", "/work/hello.wat"]):
    try:
        main(argv)
        code = 0
    except SystemExit as exc:
        code = exc.code
    print(f"--- exit {code}")
