"""Instances of one ``InstancePre`` made per request: each is fresh (resource handles, a trap
in one), and what does not depend on the store is made once per InstancePre, not per
instance (the WASI 0.2 host's function types, the lifts' adapters)."""

from __future__ import annotations

import gc

import pytest

import wasmforge
from wasmforge import component as C
from wasmforge.cm.abi import adapter
from wasmforge.cm.wit.ctypes import TypeMap
from wasmforge.runtime.glob import GlobalInstance

from support import engine_for, has_llvmlite, tier_params

# A resource of the component: `make` makes a handle to a new one (its rep counts up in a
# global), `rep` reads the rep of a handle (a trap for a handle this instance does not have).
HANDLES = '''(component
  (type $r (resource (rep i32)))
  (core func $new (canon resource.new $r))
  (core func $rep (canon resource.rep $r))
  (core module $m
    (import "" "new" (func $new (param i32) (result i32)))
    (import "" "rep" (func $rep (param i32) (result i32)))
    (global $n (mut i32) (i32.const 100))
    (func (export "make") (result i32)
      (global.set $n (i32.add (global.get $n) (i32.const 1))) (call $new (global.get $n)))
    (func (export "rep") (param i32) (result i32) (call $rep (local.get 0))))
  (core instance $i (instantiate $m (with "" (instance (export "new" (func $new)) (export "rep" (func $rep))))))
  (func (export "make") (result u32) (canon lift (core func $i "make")))
  (func (export "rep") (param "h" u32) (result u32) (canon lift (core func $i "rep"))))'''


@pytest.mark.parametrize("tier", tier_params())
def test_resource_handles_do_not_leak_between_instances_of_a_pre(tier):
    engine = engine_for(tier)
    pre = C.Linker(engine).instantiate_pre(C.Component(engine, HANDLES))
    s1 = wasmforge.Store(engine)
    i1 = pre.instantiate(s1)
    make1, rep1 = i1.get_func(s1, "make"), i1.get_func(s1, "rep")
    handles = [make1(s1), make1(s1), make1(s1)]
    assert [rep1(s1, h) for h in handles] == [101, 102, 103]
    # a second instance has none of them: the first handle it reads traps
    s2 = wasmforge.Store(engine)
    i2 = pre.instantiate(s2)
    with pytest.raises(wasmforge.Trap):
        i2.get_func(s2, "rep")(s2, handles[0])
    # a third makes its own, from its own rep counter and its own handle table
    s3 = wasmforge.Store(engine)
    i3 = pre.instantiate(s3)
    h = i3.get_func(s3, "make")(s3)
    assert h == handles[0]
    assert i3.get_func(s3, "rep")(s3, h) == 101
    # the first instance's handles are still its own
    assert rep1(s1, handles[2]) == 103


TRAPS = '''(component
  (core module $m
    (memory (export "mem") 1)
    (global $n (mut i32) (i32.const 0))
    (func (export "bump") (param i32) (result i32)
      (global.set $n (i32.add (global.get $n) (i32.const 1)))
      (i32.store (i32.const 0) (i32.add (i32.load (i32.const 0)) (i32.const 1)))
      (if (local.get 0) (then unreachable))
      (i32.add (i32.mul (global.get $n) (i32.const 100)) (i32.load (i32.const 0)))))
  (core instance $i (instantiate $m))
  (func (export "bump") (param "trap" bool) (result u32) (canon lift (core func $i "bump"))))'''


@pytest.mark.parametrize("tier", tier_params())
def test_a_trap_in_one_instance_of_a_pre_leaves_the_next_fresh(tier):
    engine = engine_for(tier)
    pre = C.Linker(engine).instantiate_pre(C.Component(engine, TRAPS))
    for _ in range(3):
        store = wasmforge.Store(engine)
        bump = pre.instantiate(store).get_func(store, "bump")
        assert bump(store, False) == 101
        with pytest.raises(wasmforge.Trap):
            bump(store, True)       # changed the global and the memory, then trapped
        with pytest.raises(wasmforge.Trap, match="cannot enter component instance"):
            bump(store, False)      # a trapped instance stays unusable
    store = wasmforge.Store(engine)
    assert pre.instantiate(store).get_func(store, "bump")(store, False) == 101


def test_instances_of_a_pre_make_no_wasi_function_types(monkeypatch):
    engine = wasmforge.Engine()
    component = C.Component(engine, '''(component
      (import "wasi:cli/environment@0.2.0" (instance $env
        (export "get-arguments" (func (result (list string))))))
      (import "wasi:io/poll@0.2.0" (instance $poll
        (export "pollable" (type $p (sub resource)))
        (export "[method]pollable.ready" (func (param "self" (borrow $p)) (result bool))))))''')
    linker = C.Linker(engine)
    linker.add_wasip2()
    pre = linker.instantiate_pre(component)
    made = []
    function = TypeMap.function
    monkeypatch.setattr(TypeMap, "function", lambda self, f: made.append(f) or function(self, f))
    pre.instantiate(wasmforge.Store(engine))
    assert made == []
    linker.instantiate(wasmforge.Store(engine), component)        # a Linker types them per store
    assert made


def test_an_instance_of_a_pre_with_wasi_gets_its_stores_context():
    engine = wasmforge.Engine()
    component = C.Component(engine, '''(component
      (import "wasi:cli/environment@0.2.0" (instance $env
        (export "get-arguments" (func (result (list string))))))
      (alias export $env "get-arguments" (func $args))
      (core module $mem (memory (export "mem") 1)
        (global $top (mut i32) (i32.const 1024))
        (func (export "realloc") (param i32 i32 i32 i32) (result i32)
          (global.get $top) (global.set $top (i32.add (global.get $top) (local.get 3)))))
      (core instance $mi (instantiate $mem))
      (alias core export $mi "mem" (core memory $m))
      (alias core export $mi "realloc" (core func $ra))
      (core func $argsl (canon lower (func $args) (memory $m) (realloc $ra)))
      (core module $code (import "" "mem" (memory 1)) (import "" "args" (func $args (param i32)))
        (func (export "count") (result i32) (call $args (i32.const 0)) (i32.load (i32.const 4))))
      (core instance $ci (instantiate $code (with "" (instance
        (export "mem" (memory $m)) (export "args" (func $argsl))))))
      (func (export "count") (result u32) (canon lift (core func $ci "count"))))''')
    linker = C.Linker(engine)
    linker.add_wasip2()
    pre = linker.instantiate_pre(component)
    for argv in (["a"], ["a", "b", "c"], []):
        store = wasmforge.Store(engine)
        config = wasmforge.WasiConfig()
        config.argv = argv
        store.set_wasi(config)
        inst = pre.instantiate(store)
        assert inst.get_func(store, "count")(store) == len(argv)


@pytest.mark.parametrize("tier", tier_params())
def test_later_instances_of_a_pre_generate_no_lift_adapter(tier, monkeypatch):
    engine = engine_for(tier)
    component = C.Component(engine, HANDLES)
    pre = C.Linker(engine).instantiate_pre(component)
    first = wasmforge.Store(engine)
    pre.instantiate(first)                      # makes the templates
    generated = []
    lift = adapter._lift_adapter
    monkeypatch.setattr(adapter, "_lift_adapter", lambda *a: generated.append(a) or lift(*a))
    stores = [wasmforge.Store(engine) for _ in range(3)]
    instances = [pre.instantiate(s) for s in stores]
    assert generated == []
    # each instance's lifts reach its own core instance and state
    for k, (s, inst) in enumerate(zip(stores, instances)):
        for _ in range(k + 1):
            h = inst.get_func(s, "make")(s)
        assert (h, inst.get_func(s, "rep")(s, h)) == (k + 1, 101 + k)
    assert generated == []


# A host resource and functions taking it, lowered (so their types name the store's resource
# type), and one re-exported as it is (so its type can be read from outside).
HOST_TYPES = '''(component
  (import "host" (instance $h
    (export "thing" (type $t (sub resource)))
    (export "make" (func (param "n" u32) (result (own $t))))
    (export "peek" (func (param "x" (borrow $t)) (result u32)))))
  (alias export $h "thing" (type $thing))
  (alias export $h "make" (func $make))
  (alias export $h "peek" (func $peek))
  (core func $makel (canon lower (func $make)))
  (core func $peekl (canon lower (func $peek)))
  (core func $drop (canon resource.drop $thing))
  (core module $m
    (import "" "make" (func $make (param i32) (result i32)))
    (import "" "peek" (func $peek (param i32) (result i32)))
    (import "" "drop" (func $drop (param i32)))
    (func (export "run") (param i32) (result i32) (local $h i32)
      (local.set $h (call $make (local.get 0)))
      (call $peek (local.get $h))
      (call $drop (local.get $h))))
  (core instance $i (instantiate $m (with "" (instance
    (export "make" (func $makel)) (export "peek" (func $peekl)) (export "drop" (func $drop))))))
  (func (export "run") (param "n" u32) (result u32) (canon lift (core func $i "run")))
  (export "peek2" (func $peek)))'''


def _host_types_pre(engine):
    linker = C.Linker(engine)
    thing = C.ResourceType.host(7)
    with linker.root() as root:
        with root.add_instance("host") as h:
            h.add_resource("thing", thing, lambda store, rep: None)
            h.add_func("make", lambda store, n: C.ResourceHost.own(n * 3, 7))
            h.add_func("peek", lambda store, x: x.to_host(store).rep + 1)
    return linker, linker.instantiate_pre(C.Component(engine, HOST_TYPES))


@pytest.mark.parametrize("tier", tier_params())
def test_instances_of_a_pre_type_imported_functions_when_first_used(tier, monkeypatch):
    from wasmforge.cm import instance as cm_instance
    from wasmforge.cm.types import FuncType
    engine = engine_for(tier)
    linker, pre = _host_types_pre(engine)
    store = wasmforge.Store(engine)
    assert pre.instantiate(store).get_func(store, "run")(store, 2) == 7      # makes the templates
    typed = []
    subst = cm_instance.subst
    # (the types with handles: `make`'s and `peek`'s; `run`'s lift has none)
    monkeypatch.setattr(cm_instance, "subst", lambda t, m: (
        typed.append(t) if isinstance(t, FuncType) and adapter.resources_in(t) else None) or subst(t, m))
    stores = [wasmforge.Store(engine) for _ in range(2)]
    instances = [pre.instantiate(s) for s in stores]
    assert typed == []          # neither the imports' types nor the lowers' are made yet
    for k, (s, inst) in enumerate(zip(stores, instances)):
        assert inst.get_func(s, "run")(s, k + 4) == (k + 4) * 3 + 1
    # nor by the lowers' first calls: their adapters are remade from the static type's
    # resource types mapped (adapter.LowerTemplate.rebind_static), no type is substituted
    assert typed == []
    # the re-exported import's type, when read, names the instance's resource type: the one
    # `run`'s import bound, as the type a Linker gives it
    s = stores[0]
    lazily = instances[0].get_func(s, "peek2").type(s)
    assert typed                # (made now: the patch above sees the substitutions)
    fresh = wasmforge.Store(engine)
    eager = linker.instantiate(fresh, pre.component).get_func(fresh, "peek2").type(fresh)
    assert str(lazily) == str(eager)



# Host resources kept in the component's handle table across calls (`make` returns its
# handle, `peek` and `drop` take one): the lowers of later instances are remade from the
# first instance's template (rebind_static), and each must reach its own instance's handle
# table, resource type and store, never the first instance's.
HOST_HANDLES = '''(component
  (import "host" (instance $h
    (export "thing" (type $t (sub resource)))
    (export "make" (func (param "n" u32) (result (own $t))))
    (export "peek" (func (param "x" (borrow $t)) (result u32)))))
  (alias export $h "thing" (type $thing))
  (alias export $h "make" (func $make))
  (alias export $h "peek" (func $peek))
  (core func $makel (canon lower (func $make)))
  (core func $peekl (canon lower (func $peek)))
  (core func $drop (canon resource.drop $thing))
  (core module $m
    (import "" "make" (func $make (param i32) (result i32)))
    (import "" "peek" (func $peek (param i32) (result i32)))
    (import "" "drop" (func $drop (param i32)))
    (func (export "make") (param i32) (result i32) (call $make (local.get 0)))
    (func (export "peek") (param i32) (result i32) (call $peek (local.get 0)))
    (func (export "drop") (param i32) (call $drop (local.get 0))))
  (core instance $i (instantiate $m (with "" (instance
    (export "make" (func $makel)) (export "peek" (func $peekl)) (export "drop" (func $drop))))))
  (func (export "make") (param "n" u32) (result u32) (canon lift (core func $i "make")))
  (func (export "peek") (param "h" u32) (result u32) (canon lift (core func $i "peek")))
  (func (export "drop") (param "h" u32) (canon lift (core func $i "drop"))))'''


@pytest.mark.parametrize("tier", tier_params())
def test_remade_lowers_reach_their_own_instances_handles_and_store(tier, monkeypatch):
    engine = engine_for(tier)
    stores = [wasmforge.Store(engine) for _ in range(3)]
    # the host's state per store, which its functions close over: a store's resources
    # carry its number, and `peek` answers only for a resource of the store it is called in
    number = {id(s): k for k, s in enumerate(stores)}
    dropped = []
    linker = C.Linker(engine)
    with linker.root() as root:
        with root.add_instance("host") as h:
            h.add_resource("thing", C.ResourceType.host(7), lambda store, rep: dropped.append(rep))
            h.add_func("make", lambda store, n: C.ResourceHost.own(1000 * number[id(store)] + n, 7))

            def peek(store, x):
                rep = x.to_host(store).rep
                assert rep // 1000 == number[id(store)], "a resource of another store"
                return rep
            h.add_func("peek", peek)
    pre = linker.instantiate_pre(C.Component(engine, HOST_HANDLES))
    remade = []
    rebind = adapter.LowerTemplate.rebind_static
    monkeypatch.setattr(adapter.LowerTemplate, "rebind_static",
                        lambda self, *a: remade.append(self) or rebind(self, *a))
    instances = [pre.instantiate(s) for s in stores]

    def call(k, name, *args):
        return instances[k].get_func(stores[k], name)(stores[k], *args)

    # the first instance makes the templates; the others' lowers are remade, by turns
    first = [call(0, "make", 1), call(0, "make", 2)]
    assert remade == []
    second = call(1, "make", 1)
    third = [call(2, "make", 1), call(2, "make", 2), call(2, "make", 3)]
    assert remade                               # the later instances' lowers were remade
    # each instance's handle table is its own: its first handle is the same index in each
    assert second == first[0] == third[0]
    assert first[1] == third[1]
    assert [call(k, "peek", h) for k, h in ((2, third[2]), (0, first[1]), (1, second), (2, third[0]))] == [
        2003, 2, 1001, 2001]
    # a drop in one instance drops that instance's resource, not another's
    call(2, "drop", third[1])
    assert dropped == [2002]
    assert call(0, "peek", first[1]) == 2
    call(1, "drop", second)
    assert dropped == [2002, 1001]
    assert call(0, "peek", first[0]) == 1 and call(2, "peek", third[0]) == 2001
    # a handle only the third instance has is no handle in the others (a trap, which
    # leaves an instance unusable: last)
    for k in (0, 1):
        with pytest.raises(wasmforge.Trap, match="handle"):
            call(k, "peek", third[2])

# Lifts whose types name the component's own resource type: each instance's adapters (made
# from one template) must lift and lower handles of that instance's resource type.
OWN_HANDLES = '''(component
  (type $r (resource (rep i32)))
  (core func $new (canon resource.new $r))
  (core func $rep (canon resource.rep $r))
  (core module $m
    (import "" "new" (func $new (param i32) (result i32)))
    (import "" "rep" (func $rep (param i32) (result i32)))
    (func (export "make") (param i32) (result i32) (call $new (local.get 0)))
    (func (export "read") (param i32) (result i32) (local.get 0)))
  (core instance $i (instantiate $m (with "" (instance (export "new" (func $new)) (export "rep" (func $rep))))))
  (export $t "thing" (type $r))
  (func (export "make") (param "n" u32) (result (own $t)) (canon lift (core func $i "make")))
  (func (export "read") (param "x" (borrow $t)) (result u32) (canon lift (core func $i "read"))))'''


@pytest.mark.parametrize("tier", tier_params())
def test_lifts_of_later_instances_use_their_own_resource_types(tier, monkeypatch):
    engine = engine_for(tier)
    pre = C.Linker(engine).instantiate_pre(C.Component(engine, OWN_HANDLES))
    first = wasmforge.Store(engine)
    pre.instantiate(first)                      # makes the templates
    generated = []
    lift = adapter._lift_adapter
    monkeypatch.setattr(adapter, "_lift_adapter", lambda *a: generated.append(a) or lift(*a))
    stores = [wasmforge.Store(engine) for _ in range(2)]
    instances = [pre.instantiate(s) for s in stores]
    made = []
    for k, (s, inst) in enumerate(zip(stores, instances)):
        h = inst.get_func(s, "make")(s, 40 + k)
        made.append(h)
        assert inst.get_func(s, "read")(s, h) == 40 + k     # the rep, through the borrow
    assert generated == []
    assert made[0].type != made[1].type       # each instance's own resource type
    # a handle of the first instance is refused by the second's lift
    s = stores[1]
    with pytest.raises(wasmforge.Trap, match="another resource type"):
        instances[1].get_func(s, "read")(s, made[0])


@pytest.mark.skipif(not has_llvmlite(), reason="LLVM TIER NOT TESTED: llvmlite is not installed")
def test_llvm_globals_get_native_cells_on_the_first_entry():
    engine = engine_for("llvm")
    pre = C.Linker(engine).instantiate_pre(C.Component(engine, TRAPS))
    pre.instantiate(wasmforge.Store(engine))        # (the first instance compiles the code)
    store = wasmforge.Store(engine)
    inst = pre.instantiate(store)
    [core] = store._instances
    [counter] = core.globals
    assert type(counter) is GlobalInstance          # no native cell while no code has run
    counter.value = 41                  # what the host writes before the first call is kept
    assert inst.get_func(store, "bump")(store, False) == 42 * 100 + 1
    assert type(counter) is not GlobalInstance and counter.value == 42


# A core module the host gives, instantiated with imports "a" and "b" from which it takes one.
GIVEN_MODULE = '''(component
  (import "m" (core module $m
    (import "" "a" (global i32)) (import "" "b" (global i32))
    (export "g" (global i32))))
  (core module $src (global (export "a") i32 (i32.const 1)) (global (export "b") i32 (i32.const 2)))
  (core instance $s (instantiate $src))
  (core instance $i (instantiate $m (with "" (instance $s))))
  (core module $read (import "" "g" (global i32)) (func (export "get") (result i32) (global.get 0)))
  (core instance $r (instantiate $read (with "" (instance $i))))
  (func (export "get") (result u32) (canon lift (core func $r "get"))))'''


def test_a_module_given_per_instantiation_gets_its_own_imports():
    # What picks a core instantiation's arguments is kept per definition, not by the id of
    # the module: a freed module's id is soon another's (here one importing the other
    # global), and was given the freed one's arguments.
    engine = wasmforge.Engine()
    component = C.Component(engine, GIVEN_MODULE)
    got = []
    for k in range(60):
        name = "ab"[k % 2]
        linker = C.Linker(engine)
        with linker.root() as root:
            root.add_module("m", wasmforge.Module(
                engine, f'(module (import "" "{name}" (global $g i32)) (export "g" (global $g)))'))
        store = wasmforge.Store(engine)
        got.append(linker.instantiate(store, component).get_func(store, "get")(store))
        del linker, store
        gc.collect(1)           # (the module and its instance are in cycles)
    assert got == [1, 2] * 30


def test_instantiating_in_what_is_not_a_store_is_a_typed_error():
    engine = wasmforge.Engine()
    component = C.Component(engine, TRAPS)
    linker = C.Linker(engine)
    pre = linker.instantiate_pre(component)
    for bad in ("store", None):
        with pytest.raises(TypeError, match="expected a Store, got"):
            pre.instantiate(bad)
        with pytest.raises(TypeError, match="expected a Store, got"):
            linker.instantiate(bad, component)
