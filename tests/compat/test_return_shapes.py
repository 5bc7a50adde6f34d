"""The same calls on wasmforge and on the installed wasmtime-py return the same shapes (the
type of each result, and of each item of a list), except where docs/api.md records a
difference."""

import pytest

import wasmforge

WAT = ('(module $n (import "a" "b" (func)) (memory (export "m") 1 2) (table (export "t") 1 funcref)'
       ' (global (export "g") (mut i32) (i32.const 0))'
       ' (func (export "f") (result i32 i64) i32.const 1 i64.const 2)'
       ' (func (export "one") (result f32) f32.const 1.5))')

#: Recorded in docs/api.md ("Other differences"): bytes for bytearray; type names (equal to
#: ValTypes) in a tuple that equals a list; None for a null table element.
DIFFERENT = {"wat2wasm": ("bytearray", "bytes"), "serialize": ("bytearray", "bytes"),
             "ftype.params": ("list", "ValTypes"), "ftype.results": ("list", "ValTypes"),
             "t.get": ("Val", "NoneType")}


def results(m):
    config = m.Config()
    config.consume_fuel = True
    config.epoch_interruption = True
    engine = m.Engine(config)
    store = m.Store(engine)
    store.set_fuel(1000)
    store.set_epoch_deadline(100)
    module = m.Module(engine, WAT)
    host = m.Func(store, m.FuncType([], []), lambda: None)
    ex = m.Instance(store, module, [host]).exports(store)
    mem, table, glob = ex["m"], ex["t"], ex["g"]
    linker = m.Linker(engine)
    pre = linker.define(store, "a", "b", host)
    out = {
        "wat2wasm": m.wat2wasm(WAT), "imports": module.imports, "exports": module.exports,
        "serialize": module.serialize(), "f": ex["f"](store), "one": ex["one"](store), "host": host(store),
        "ftype": ex["f"].type(store), "ftype.params": list(ex["f"].type(store).params),
        "ftype.results": ex["f"].type(store).results,
        "mem.read": mem.read(store, 0, 4), "mem.write": mem.write(store, b"ab", 0),
        "mem.grow": mem.grow(store, 1), "mem.size": mem.size(store), "mem.data_len": mem.data_len(store),
        "mem.type": mem.type(store), "mem.limits": mem.type(store).limits,
        "t.get": table.get(store, 0), "t.size": table.size(store), "t.grow": table.grow(store, 1, None),
        "t.set": table.set(store, 0, None), "t.type": table.type(store),
        "g.value": glob.value(store), "g.set": glob.set_value(store, 3), "g.type": glob.type(store),
        "fuel": store.get_fuel(), "set_fuel": store.set_fuel(50),
        "names": list(ex), "by_index": list(ex.by_index), "values": list(ex.values()),
        "items": [tuple(i) for i in ex.items()], "get missing": ex.get("zz"), "len": len(ex),
        "define": pre, "linker.get": linker.get(store, "a", "b"),
        "instantiate": linker.instantiate(store, module),
        "pre": linker.instantiate_pre(module).instantiate(store),
        "validate": m.Module.validate(engine, m.wat2wasm(WAT)),
        "val": m.Val.i32(3), "val.value": m.Val.i32(3).value, "val.type": m.Val.i32(3).type,
        "as_i64": m.Val.i32(3).as_i64(), "increment_epoch": engine.increment_epoch(), "gc": store.gc(),
        "set_limits": store.set_limits(memory_size=1 << 20), "data": store.data(),
    }
    return out


def shape(value):
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, [shape(v) for v in value])
    return type(value).__name__


def test_results_have_wasmtime_py_shapes():
    wasmtime = pytest.importorskip("wasmtime")
    theirs, ours = results(wasmtime), results(wasmforge)
    assert theirs.keys() == ours.keys()
    differ = {}
    for key in theirs:
        a, b = shape(theirs[key]), shape(ours[key])
        if a != b and DIFFERENT.get(key) != (a if isinstance(a, str) else a[0], b if isinstance(b, str) else b[0]):
            differ[key] = (a, b)
    assert not differ
