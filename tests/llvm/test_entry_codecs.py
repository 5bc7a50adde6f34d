"""The conversions of a Python->wasm entry are kept per compiled module and defined function
(llvm/instance.py ``NativeInstance._entry``): two modules whose function of one index has
different types, a re-exported import beside a defined function, and functions taking and
giving references (converted through each instance's own registry) all get their own."""

import os
import struct
import subprocess
import sys

import pytest

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


# Each export's entry is generated for its type (llvm/instance.py, _entry_maker): the
# arguments stored and the results read in line for types of numbers.
NUMBERS = '''(module
  (func (export "none"))
  (func (export "i32") (param i32) (result i32) (i32.sub (i32.const 0) (local.get 0)))
  (func (export "i64") (param i64 i64) (result i64) (i64.mul (local.get 0) (local.get 1)))
  (func (export "floats") (param f32 f64) (result f64 f32)
    (f64.add (f64.promote_f32 (local.get 0)) (local.get 1)) (local.get 0))
  (func (export "mixed") (param i32 f64 i64 f32 i32 f64 i64) (result i64)
    (i64.add (i64.add (i64.extend_i32_s (local.get 0)) (i64.trunc_f64_s (local.get 1)))
             (i64.add (local.get 2) (i64.add (i64.trunc_f32_s (local.get 3))
                      (i64.add (i64.extend_i32_u (local.get 4))
                               (i64.add (i64.trunc_f64_s (local.get 5)) (local.get 6)))))))
  (func (export "nan") (result f32 f64) (f32.const nan:0x200001) (f64.const -nan:0x8000000000001)))'''

CALLS = [("none", ()), ("i32", (7,)), ("i32", (-(1 << 31),)), ("i32", (0xFFFFFFFF,)),
         ("i64", (-3, 1 << 40)), ("i64", (1 << 63, 1)), ("floats", (1.5, -2.25)),
         ("floats", (float("inf"), float("-inf"))),
         ("mixed", (-1, 2.9, -(1 << 62), 3.5, 0xFFFFFFFF, -7.9, 5)), ("nan", ())]


def _number_results(strategy, fuel=False):
    config = Config()
    config.strategy = strategy
    config.consume_fuel = fuel
    engine = Engine(config)
    store = Store(engine)
    if fuel:
        store.set_fuel(10**6)
    ex = Instance(store, Module(engine, NUMBERS), []).exports(store)
    out = []
    for name, args in CALLS:
        r = ex[name](store, *args)
        # NaNs by their bits (a payload must come back as it was)
        out.append([struct.pack("<d", x) if isinstance(x, float) and x != x else x
                    for x in (r if isinstance(r, list) else [r])])
    if fuel:
        out.append(store.get_fuel())
    return out


@pytest.mark.parametrize("fuel", [False, True], ids=["plain", "fuel"])
def test_generated_entries_of_number_types_give_what_the_interp_tier_gives(fuel):
    assert _number_results("llvm", fuel) == _number_results("interp", fuel)


def test_entries_without_the_entry_caller_call_the_trampoline_themselves(monkeypatch):
    # (where the loader is not supported: the fallback of NativeInstance._entry)
    from wasmforge.llvm import instance
    monkeypatch.setattr(instance, "_entry_caller", lambda: None)
    assert _number_results("llvm") == _number_results("interp")


def test_an_entry_without_arguments_keeps_its_buffer_alive():
    # The entry caller's block lies in the entry's buffer, which an entry of no arguments
    # and no results never reads: freed, its call would jump through freed memory.
    code = '''if 1:
        import gc
        from wasmforge import Engine, Instance, Module, Store
        from wasmforge.api.engine import Config
        config = Config(); config.strategy = "llvm"
        engine = Engine(config)
        store = Store(engine)
        f = Instance(store, Module(engine, '(module (func (export "f")))'), []).exports(store)["f"]
        f(store)
        import ctypes
        for _ in range(3):
            gc.collect()
            # (buffers of the entry's size, over any freed one)
            junk = [(ctypes.c_uint64 * n)(*[2 ** 64 - 1] * n) for n in range(1, 12) for _ in range(2000)]
            for _ in range(1000):
                assert f(store) is None
        print("ok")
    '''
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env=env)
    assert proc.returncode == 0 and proc.stdout == "ok\n", (proc.returncode, proc.stderr[-2000:])
