"""The conversions of a Python->wasm entry are kept per compiled module and defined function
(llvm/instance.py ``NativeInstance._entry``): two modules whose function of one index has
different types, a re-exported import beside a defined function, and functions taking and
giving references (converted through each instance's own registry) all get their own."""

from wasmforge import Engine, Instance, Module, Store
from wasmforge.api.engine import Config

# Function 0 of each module: the same index, different types.
INTS = '''(module (func (export "f") (param i32 i64) (result i64)
  (i64.add (i64.extend_i32_s (local.get 0)) (local.get 1))))'''
FLOATS = '''(module (func (export "f") (param f64 v128) (result f64 v128 f32)
  (f64.mul (local.get 0) (f64.const 2)) (local.get 1) (f32.const 1.5)))'''
# Imports INTS's f and re-exports it; its own function 0 (index 1) is another type.
REEXPORT = '''(module (import "ints" "f" (func $f (param i32 i64) (result i64)))
  (export "g" (func $f))
  (func (export "h") (param f32) (result f32) (f32.neg (local.get 0))))'''
REFS = '''(module (func (export "f") (param externref i32) (result i32 externref)
  (local.get 1) (local.get 0)))'''

V = (1 << 127) | 0x0123456789ABCDEF


def _engine(strategy):
    config = Config()
    config.strategy = strategy
    return Engine(config)


def _results(engine):
    ints, floats, reexport, refs = (Module(engine, w) for w in (INTS, FLOATS, REEXPORT, REFS))
    shared = Store(engine)
    got = []
    for store in (shared, Store(engine), shared):
        i = Instance(store, ints, []).exports(store)
        fl = Instance(store, floats, []).exports(store)
        re = Instance(store, reexport, [i["f"]]).exports(store)
        got += [i["f"](store, -3, 1 << 40), fl["f"](store, 1.25, V), re["g"](store, 7, -9),
                re["h"](store, 2.5), i["f"](store, 2, 3)]
        for obj in (object(), None):
            r = Instance(store, refs, []).exports(store)["f"](store, obj, 5)
            assert r[0] == 5 and r[1] is obj
    return got


def test_entries_of_one_function_index_in_different_modules_convert_their_own_types():
    expected = [(1 << 40) - 3, [2.5, V, 1.5], -2, -2.5, 5] * 3
    assert _results(_engine("interp")) == expected
    assert _results(_engine("llvm")) == expected
