# Runs inside Pyodide (tests/pyodide/run.mjs): what differs from CPython there.  Prints one
# JSON object: the tier "auto" chose, traps of the limits, memory growth, the cache folder.
import json
import os
import stat
import time

import wasmforge
from wasmforge import Config, Engine, Instance, Linker, Module, Store, Trap, WasiConfig, _cache

result = {"file": wasmforge.__file__}

engine = Engine()
result["tier"] = engine.strategy
store = Store(engine)
# Unbounded recursion: each nested call of the interp tier is a Python frame on the
# JavaScript engine's stack, which must trap as STACK_OVERFLOW, not kill Pyodide.
rec = Module(engine, '(module (func $r (export "r") (param i32) (result i32)'
                     ' (i32.add (call $r (local.get 0)) (i32.const 1))))')
try:
    Instance(store, rec, []).exports(store)["r"](store, 1)
except Trap as exc:
    result["recursion"] = str(exc.trap_code)

# An unbounded memory: CPython reserves 4 GiB of address space for it; a 32-bit Pyodide
# cannot, and grows a buffer in place instead.
mem = Module(engine, '(module (memory (export "m") 1) (func (export "grow") (param i32) (result i32)'
                     ' (memory.grow (local.get 0)))'
                     ' (func (export "peek") (param i32) (result i32) (i32.load8_u (local.get 0))))')
inst = Instance(store, mem, [])
ex = inst.exports(store)
ex["m"].write(store, b"kept", 65532)
result["grow"] = [ex["grow"](store, 2), ex["grow"](store, 70000), ex["m"].size(store)]
ex["m"].write(store, b"\x2a", 3 * 65536 - 1)
result["after_grow"] = [bytes(ex["m"].read(store, 65532, 65536)).decode(), ex["peek"](store, 3 * 65536 - 1)]

config = Config()
config.consume_fuel = True
fuel_engine = Engine(config)
fuel_store = Store(fuel_engine)
fuel_store.set_fuel(10_000)
spin = Module(fuel_engine, '(module (func (export "spin") (loop (br 0))))')
try:
    Instance(fuel_store, spin, []).exports(fuel_store)["spin"](fuel_store)
except Trap as exc:
    result["fuel"] = str(exc.trap_code)

config = Config()
config.epoch_interruption = True
epoch_engine = Engine(config)
epoch_store = Store(epoch_engine)
epoch_store.set_epoch_deadline(1)
spin = Module(epoch_engine, '(module (func (export "spin") (loop (br 0))))')
epoch_engine.increment_epoch()
try:
    Instance(epoch_store, spin, []).exports(epoch_store)["spin"](epoch_store)
except Trap as exc:
    result["epoch"] = str(exc.trap_code)

# A WASI clock sleep (poll_oneoff): no thread needed, the call waits in place.
sleeper = Module(engine, """(module
 (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
 (memory (export "memory") 1)
 (func (export "sleep") (result i32)
   (i64.store (i32.const 0) (i64.const 7))              ;; userdata
   (i32.store (i32.const 16) (i32.const 1))             ;; a monotonic clock subscription
   (i64.store (i32.const 24) (i64.const 20000000))      ;; 20 ms
   (call $poll (i32.const 0) (i32.const 100) (i32.const 1) (i32.const 200))))""")
wasi_linker = Linker(engine)
wasi_linker.define_wasi()
sleep_store = Store(engine)
sleep_store.set_wasi(WasiConfig())
sleep_ex = wasi_linker.instantiate(sleep_store, sleeper).exports(sleep_store)
t0 = time.monotonic_ns()
errno = sleep_ex["sleep"](sleep_store)
result["sleep"] = [errno, time.monotonic_ns() - t0 >= 20_000_000, bytes(sleep_ex["memory"].read(sleep_store, 100, 101))[0]]

# The translation cache lives in Pyodide's filesystem, private as on CPython.
root = _cache.root_path()
result["cache_root"] = root
result["cache_mode"] = oct(stat.S_IMODE(os.stat(root).st_mode))
result["cache_entries"] = sorted(os.listdir(os.path.join(root, "interp")))[:1] != []
print(json.dumps(result))
