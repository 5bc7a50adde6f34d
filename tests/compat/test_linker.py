"""Linker.define_module, get_default, define_unknown_imports_as_traps and
define_unknown_imports_as_default_values."""

import gc
import weakref

import pytest

from wasmforge import (Func, FuncType, Global, GlobalType, LinkError, Linker, Module, Store, Trap,
                       ValType, WasiConfig, WasmtimeError)

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


EVERY_KIND = ('(module (import "a" "f" (func (param i32) (result i32 f64 externref)))'
              ' (import "a" "g" (global i32)) (import "a" "gm" (global (mut i64)))'
              ' (import "a" "r" (global funcref))'
              ' (import "a" "m" (memory 1 3)) (import "a" "t" (table 2 4 funcref))'
              ' (import "a" "te" (table 2 externref))'
              ' (func (export "size") (result i32) (memory.size)))')


def test_default_values_for_every_import_kind(engine):
    # As wasmtime 50: globals hold zero (null), memories and tables have the import's type.
    linker = Linker(engine)
    module = Module(engine, EVERY_KIND)
    store = Store(engine)
    linker.define_unknown_imports_as_default_values(store, module)
    assert linker.get(store, "a", "f")(store, 3) == [0, 0.0, None]
    g, gm, r = (linker.get(store, "a", n) for n in ("g", "gm", "r"))
    assert (g.value(store), g.type(store).mutable, g.type(store).content) == (0, False, "i32")
    assert (gm.value(store), gm.type(store).mutable, gm.type(store).content) == (0, True, "i64")
    assert r.value(store) is None
    memory = linker.get(store, "a", "m")
    assert memory.size(store) == 1 and memory.type(store).limits.max == 3
    assert memory.read(store, 0, 65536) == bytes(65536)
    table = linker.get(store, "a", "t")
    assert (table.size(store), table.type(store).limits.max, table.get(store, 1)) == (2, 4, None)
    assert linker.get(store, "a", "te").type(store).element == "externref"
    inst = linker.instantiate(store, module)
    assert inst.exports(store)["size"](store) == 1


def test_traps_define_functions_only(engine):
    # wasmtime leaves the other kinds undefined: instantiation names the first one missing.
    linker = Linker(engine)
    module = Module(engine, EVERY_KIND)
    linker.define_unknown_imports_as_traps(module)
    store = Store(engine)
    assert isinstance(linker.get(store, "a", "f"), Func)
    with pytest.raises(WasmtimeError, match="not defined"):
        linker.get(store, "a", "g")
    with pytest.raises(LinkError, match="unknown import: `a::g`"):
        linker.instantiate(store, module)


def test_defaults_keep_what_is_defined(engine):
    linker = Linker(engine)
    store = Store(engine)
    mine = Global(store, GlobalType(ValType.i32(), False), 7)
    linker.define(store, "a", "g", mine)
    module = Module(engine, EVERY_KIND)
    linker.define_unknown_imports_as_default_values(store, module)
    assert linker.get(store, "a", "g").value(store) == 7


def test_a_store_instantiated_through_a_linker_with_host_functions_can_be_freed(engine):
    # The linker outlives the stores it instantiates in (one per request): the host
    # functions it makes per store must not keep those stores alive.
    linker = Linker(engine)
    linker.define_func("env", "f", FuncType([ValType.i32()], [ValType.i32()]), lambda x: x + 1)
    linker.define_wasi()
    module = Module(engine, '(module (import "env" "f" (func $f (param i32) (result i32)))'
                            ' (import "wasi_snapshot_preview1" "proc_exit" (func (param i32)))'
                            ' (func (export "run") (result i32) (call $f (i32.const 41))))')
    store = Store(engine)
    store.set_wasi(WasiConfig())
    assert linker.instantiate(store, module).exports(store)["run"](store) == 42
    gone = weakref.ref(store)
    del store
    gc.collect()
    assert gone() is None
