# Runs inside Pyodide (tests/pyodide/run.mjs), on its event loop: Pyodide cannot start
# threads, so `call_async` runs the call on the loop's thread, and an async host function,
# which would need the guest on a thread of its own, is refused with a WasmError.
import json

from wasmforge import Engine, FuncType, Instance, Linker, Module, Store, ValType, WasmError


async def slow_answer():
    return 7


async def main():
    engine = Engine()
    store = Store(engine)
    add = Module(engine, '(module (func (export "add") (param i32 i32) (result i32)'
                         ' (i32.add (local.get 0) (local.get 1))))')
    result = {"call_async": await Instance(store, add, []).exports(store)["add"].call_async(store, 40, 2)}
    linker = Linker(engine)
    linker.define_func("env", "answer", FuncType([], [ValType.i32()]), slow_answer)
    asks = Module(engine, '(module (import "env" "answer" (func $a (result i32)))'
                          ' (func (export "ask") (result i32) (call $a)))')
    try:
        await linker.instantiate(store, asks).exports(store)["ask"].call_async(store)
    except WasmError as exc:
        result["async_host"] = str(exc)
    print(json.dumps(result))


await main()  # noqa: F704, PLE1142 (run.mjs runs scripts with top-level await, as Pyodide allows)
