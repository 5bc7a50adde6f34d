"""The wasmtime-py peer of ``python -m wasmforge run`` for the big command programs.

    python benchmarks/big/wasmtime_run.py CACHE_TOML [--dir HOST::GUEST]... PROGRAM [ARGS...]

Engine (with wasmtime's own compile cache, configured by CACHE_TOML, so that a first run
compiles and a warm run loads, as with wasmforge's module cache), ``Module.from_file``, WASI
with the arguments, inherited stdio and the preopened directories, then ``_start``; exits
with the guest's status.
"""

import sys

import wasmtime as wt

cache_toml, rest = sys.argv[1], sys.argv[2:]
dirs = []
while rest[0] == "--dir":
    host, _, guest = rest[1].partition("::")
    dirs.append((host, guest or host))
    rest = rest[2:]
config = wt.Config()
config.cache = cache_toml
engine = wt.Engine(config)
module = wt.Module.from_file(engine, rest[0])
store = wt.Store(engine)
wasi = wt.WasiConfig()
wasi.argv = rest
wasi.inherit_stdout()
wasi.inherit_stderr()
wasi.inherit_stdin()
for host, guest in dirs:
    wasi.preopen_dir(host, guest)
store.set_wasi(wasi)
linker = wt.Linker(engine)
linker.define_wasi()
instance = linker.instantiate(store, module)
try:
    instance.exports(store)["_start"](store)
except wt.ExitTrap as exit_trap:
    sys.exit(exit_trap.code)
