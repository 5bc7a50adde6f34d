"""The llvm tier's table mirrors filled from the image a module's previous instance left
(llvm/instance.py ``TableMirror._image``): a long shared table is encoded once per module, not
once per instance, and an instance's mirror still calls each entry's own instance."""

import pytest

from wasmforge import Global, GlobalType, Instance, Module, Store, ValType
from wasmforge.llvm import instance as native

SIZE = 600      # past native._IMAGE_MIN: filled from an image

TABLE = f'(module (table (export "t") {SIZE} funcref))'

# Each instance keeps its own value in $g; the table's slot `base` gets its $get.
USER = f"""
(module
  (import "env" "t" (table {SIZE} funcref))
  (import "env" "base" (global i32))
  (type $r (func (result i32)))
  (global $g (mut i32) (i32.const 0))
  (func $get (type $r) (global.get $g))
  (func $other (type $r) (i32.const -1))
  (func (export "set") (param i32) (global.set $g (local.get 0)))
  (func (export "call") (param i32) (result i32) (call_indirect (type $r) (local.get 0)))
  (elem (table 0) (global.get 0) func $get $other))
"""


@pytest.fixture
def modules(llvm_engine):
    return Module(llvm_engine, TABLE), Module(llvm_engine, USER)


def _store(engine, modules, bases):
    """A store with the table and one user instance per entry of ``bases``."""
    store = Store(engine)
    table = Instance(store, modules[0], []).exports(store)["t"]
    users = []
    for base in bases:
        g = Global(store, GlobalType(ValType.i32(), False), base)
        users.append(Instance(store, modules[1], [table, g]).exports(store))
    return store, users


@pytest.fixture
def encodes(monkeypatch):
    """The number of long runs TableMirror._encode encoded."""
    count = [0]
    real = native.TableMirror._encode

    def counted(self, values):
        if len(values) >= SIZE:
            count[0] += 1
        return real(self, values)
    monkeypatch.setattr(native.TableMirror, "_encode", counted)
    return count


def test_a_long_shared_table_is_encoded_once_for_the_instances_of_a_module(llvm_engine, modules, encodes):
    for k in range(2):      # the module's first instance, then its first of per-function classes
        store, (user,) = _store(llvm_engine, modules, [0])
        user["set"](store, 10 + k)
        assert user["call"](store, 0) == 10 + k
    before = encodes[0]
    for k in range(2, 6):
        store, (user,) = _store(llvm_engine, modules, [0])
        user["set"](store, 10 + k)
        assert user["call"](store, 0) == 10 + k       # its own $g: its own instance ran
        assert user["call"](store, 1) == -1
    assert encodes[0] == before         # each filled from the image, nothing encoded


def test_an_image_is_not_used_where_the_slot_holds_another_instances_function(llvm_engine, modules, encodes):
    for k in range(3):
        store, (user,) = _store(llvm_engine, modules, [0])
        user["set"](store, k)
        assert user["call"](store, 0) == k
    # The second instance overwrites slot 0 with its own $get, of the same class as the
    # first's: the first instance's mirror must not call it as its own code.
    store, (first, second) = _store(llvm_engine, modules, [0, 0])
    first["set"](store, 1)
    second["set"](store, 2)
    assert first["call"](store, 0) == 2
    assert second["call"](store, 0) == 2
    # Its table as an image elsewhere: slots 0 and 300 held by two instances.
    store, (a, b) = _store(llvm_engine, modules, [0, 300])
    a["set"](store, 5)
    b["set"](store, 6)
    assert (a["call"](store, 0), a["call"](store, 300)) == (5, 6)
    assert (b["call"](store, 0), b["call"](store, 300)) == (5, 6)
    store, (a, b) = _store(llvm_engine, modules, [0, 300])
    b["set"](store, 8)      # b enters first this time
    a["set"](store, 7)
    assert (b["call"](store, 0), b["call"](store, 300)) == (7, 8)
    assert (a["call"](store, 0), a["call"](store, 300)) == (7, 8)


def test_a_segment_of_a_module_without_functions_of_its_own_places_its_imports(llvm_engine):
    # The shape of a component's "fixup" module: it only imports functions and writes them
    # into the shared table (tiny.wasm's adapter shim): its segment's functions are all imports.
    store = Store(llvm_engine)
    table = Instance(store, Module(llvm_engine, TABLE), []).exports(store)["t"]
    f = Instance(store, Module(llvm_engine, '(module (func (export "f") (result i32) (i32.const 42)))'),
                 []).exports(store)["f"]
    fixup = '(module (import "env" "f" (func $f (result i32))) (import "env" "t" (table 1 funcref)) (elem (i32.const 0) func $f))'
    Instance(store, Module(llvm_engine, fixup), [f, table])
    g = Global(store, GlobalType(ValType.i32(), False), 300)
    user = Instance(store, Module(llvm_engine, USER), [table, g]).exports(store)
    assert user["call"](store, 0) == 42
