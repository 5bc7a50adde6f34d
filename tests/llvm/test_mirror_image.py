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


# A module with its own long table, whose every instance changes it at run time: the next
# instance (filled from the image the previous left) must see the module's initial contents,
# call its own functions as its own and an imported one as the import's instance.
PROVIDER = '(module (global $v (mut i32) (i32.const 0)) (func (export "v") (result i32) (global.get $v)) (func (export "setv") (param i32) (global.set $v (local.get 0))))'
MUTATOR = f"""
(module
  (import "env" "wasm" (func $wasm (result i32)))
  (import "env" "host" (func $host (result i32)))
  (type $r (func (result i32)))
  (table $t {SIZE} funcref)
  (global $g (mut i32) (i32.const 0))
  (func $get (type $r) (global.get $g))
  (func $seven (type $r) (i32.const 7))
  (elem (i32.const 0) func $get $seven $wasm $host)
  (elem (i32.const 300) func $get $seven $wasm $host)
  (func (export "set") (param i32) (global.set $g (local.get 0)))
  (func (export "call") (param i32) (result i32) (call_indirect (type $r) (local.get 0)))
  (func (export "size") (result i32) (table.size $t))
  (func (export "mutate")
    (table.set $t (i32.const 0) (ref.func $seven))
    (table.set $t (i32.const 1) (ref.func $wasm))
    (table.set $t (i32.const 2) (ref.func $host))
    (table.set $t (i32.const 3) (ref.null func))
    (table.set $t (i32.const 4) (ref.func $get))
    (table.copy $t $t (i32.const 300) (i32.const 0) (i32.const 4))
    (drop (table.grow $t (ref.func $get) (i32.const 10)))))
"""


def test_an_instance_sees_its_modules_table_whatever_the_previous_instance_wrote(llvm_engine, encodes):
    from wasmforge import Func, FuncType, Trap
    provider, mutator = Module(llvm_engine, PROVIDER), Module(llvm_engine, MUTATOR)
    r = FuncType([], [ValType.i32()])
    initial = {0: "g", 1: 7, 2: "wasm", 3: "host", 4: None, 300: "g", 301: 7, 302: "wasm", 303: "host"}
    mutated = {0: 7, 1: "wasm", 2: "host", 3: None, 4: "g", 300: 7, 301: "wasm", 302: "host", 303: None,
               600: "g", 609: "g"}
    for k in range(6):
        store = Store(llvm_engine)
        p = Instance(store, provider, []).exports(store)
        p["setv"](store, 1000 + k)
        host = Func(store, r, lambda k=k: 2000 + k)
        m = Instance(store, mutator, [p["v"], host]).exports(store)
        m["set"](store, k)
        if k == 2:
            before = encodes[0]
        values = {"g": k, "wasm": 1000 + k, "host": 2000 + k}
        for expected, size in ((initial, SIZE), (mutated, SIZE + 10)):
            assert m["size"](store) == size
            for i, v in expected.items():
                if v is None:
                    with pytest.raises(Trap):
                        m["call"](store, i)
                else:
                    assert m["call"](store, i) == values.get(v, v), (k, i)
            m["mutate"](store)
    assert encodes[0] == before     # the later instances were filled from the image


def test_an_image_is_not_used_once_the_modules_code_changed(llvm_engine, modules, monkeypatch):
    natives = []
    real = native.TableMirror.fill

    def fill(self):
        natives.append(self.own.__self__)
        real(self)
    monkeypatch.setattr(native.TableMirror, "fill", fill)
    for k in range(3):
        store, (user,) = _store(llvm_engine, modules, [0])
        user["set"](store, k)
        assert (user["call"](store, 0), user["call"](store, 1)) == (k, -1)
    # A tier-up puts new code's addresses in place of the old (llvm/compiler.py _swap_batch,
    # _swap_in): here $other's code in $get's place, as if it were $get's new code.
    addrs = natives[-1].compiled.func_addrs
    get, other = addrs[0], addrs[1]         # $get, $other: the module's first functions
    assert get and other
    addrs[0] = other
    try:
        store, (user,) = _store(llvm_engine, modules, [0])
        user["set"](store, 9)
        assert user["call"](store, 0) == -1     # the new code, not the image's address
    finally:
        addrs[0] = get
