"""Linker.define_module, get_default, define_unknown_imports_as_traps and
define_unknown_imports_as_default_values."""

import pytest

from wasmforge import Func, Linker, Module, Store, Trap

LIB = ('(module (global $n (mut i32) (i32.const 0))'
       ' (func (export "_initialize") (global.set $n (i32.const 40)))'
       ' (func (export "get") (result i32) (i32.add (global.get $n) (i32.const 2))))')
USER = '(module (import "lib" "get" (func $get (result i32))) (func (export "run") (result i32) (call $get)))'
UNKNOWN = ('(module (import "env" "f" (func $f (param i32) (result i32)))'
           ' (import "env" "g" (func $g (result i32 f64)))'
           ' (func (export "f") (result i32) (call $f (i32.const 5)))'
           ' (func (export "g") (result f64) (local f64) (call $g) (local.set 0) (drop) (local.get 0)))')


def test_define_module_instantiates_and_initializes(engine):
    linker = Linker(engine)
    store = Store(engine)
    linker.define_module(store, "lib", Module(engine, LIB))
    inst = linker.instantiate(store, Module(engine, USER))
    assert inst.exports(store)["run"](store) == 42


def test_get_default(engine):
    linker = Linker(engine)
    store = Store(engine)
    linker.define_module(store, "cmd", Module(engine, '(module (func (export "_start")))'))
    default = linker.get_default(store, "cmd")
    assert isinstance(default, Func) and default(store) is None
    # No "" or _start export: a function that does nothing.
    linker.define_module(store, "lib", Module(engine, LIB))
    assert linker.get_default(store, "lib")(store) is None


def test_define_unknown_imports_as_traps(engine):
    linker = Linker(engine)
    module = Module(engine, UNKNOWN)
    linker.define_unknown_imports_as_traps(module)
    store = Store(engine)
    inst = linker.instantiate(store, module)
    with pytest.raises(Trap, match="unknown import: `env::f`"):
        inst.exports(store)["f"](store)


def test_define_unknown_imports_as_default_values(engine):
    linker = Linker(engine)
    module = Module(engine, UNKNOWN)
    store = Store(engine)
    linker.define_unknown_imports_as_default_values(store, module)
    inst = linker.instantiate(store, module)
    assert inst.exports(store)["f"](store) == 0
    assert inst.exports(store)["g"](store) == 0.0
