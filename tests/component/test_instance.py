"""The component runtime (``wasmforge.cm.instance``): host imports, link-time checks naming
the import, nested instances, resources, traps poisoning an instance."""

from __future__ import annotations

import pytest

from wasmforge.api import Config, Engine, Store
from wasmforge.cm.abi.resources import Resource
from wasmforge.cm.instance import Component, ComponentInstance, HostFunction, instantiate_component
from wasmforge.cm.text import parse_component
from wasmforge.cm.types import FuncType, Primitive, ResourceType
from wasmforge.errors import LinkError, Trap

from support import tier_params

U32 = Primitive("u32")
STRING = Primitive("string")

DOUBLER = '''(component
  (import "double" (func $d (param "x" u32) (result u32)))
  (core func $dl (canon lower (func $d)))
  (core module $m (import "" "d" (func $d (param i32) (result i32)))
    (func (export "run") (param i32) (result i32) (i32.add (call $d (local.get 0)) (i32.const 1))))
  (core instance $i (instantiate $m (with "" (instance (export "d" (func $dl))))))
  (func (export "run") (param "x" u32) (result u32) (canon lift (core func $i "run"))))'''


def _store(tier: str = "interp"):
    config = Config()
    config.strategy = tier
    engine = Engine(config)
    return engine, Store(engine)


def _double() -> HostFunction:
    return HostFunction(FuncType((("x", U32),), U32), lambda x: 2 * x)


@pytest.mark.parametrize("tier", tier_params())
def test_a_host_function_import_is_called_with_python_values(tier):
    engine, store = _store(tier)
    inst = instantiate_component(store, Component(parse_component(DOUBLER)), {"double": _double()}, engine)
    assert inst.exports["run"](20) == 41


def test_a_missing_import_is_named():
    engine, store = _store()
    with pytest.raises(LinkError, match="import `double` was not found"):
        instantiate_component(store, Component(parse_component(DOUBLER)), {}, engine)


def test_a_mismatched_function_type_is_named():
    engine, store = _store()
    wrong = HostFunction(FuncType((("x", STRING),), U32), len)
    with pytest.raises(LinkError, match="import `double` has the wrong type: type mismatch in function parameter `x`"):
        instantiate_component(store, Component(parse_component(DOUBLER)), {"double": wrong}, engine)


def test_a_value_of_the_wrong_sort_is_named():
    engine, store = _store()
    with pytest.raises(LinkError, match="import `double`: expected function found instance"):
        instantiate_component(store, Component(parse_component(DOUBLER)), {"double": ComponentInstance({})}, engine)


def test_a_missing_export_of_an_imported_instance_is_named_by_its_path():
    engine, store = _store()
    c = Component(parse_component('(component (import "host" (instance (export "f" (func)))))'))
    with pytest.raises(LinkError, match="import `host.f` was not found"):
        instantiate_component(store, c, {"host": ComponentInstance({})}, engine)


def test_host_resources_own_handles_and_destructor():
    engine, store = _store()
    dropped = []
    rt = ResourceType("thing", "i32", dropped.append, host=True)
    c = Component(parse_component('''(component
      (import "host" (instance $h
        (export "thing" (type $t (sub resource)))
        (export "make" (func (param "rep" u32) (result (own $t))))))
      (alias export $h "thing" (type $t))
      (alias export $h "make" (func $make))
      (core func $make' (canon lower (func $make)))
      (core func $drop (canon resource.drop $t))
      (core module $m
        (import "" "make" (func $make (param i32) (result i32)))
        (import "" "drop" (func $drop (param i32)))
        (func (export "run") (param i32) (call $drop (call $make (local.get 0)))))
      (core instance $i (instantiate $m (with "" (instance (export "make" (func $make')) (export "drop" (func $drop))))))
      (func (export "run") (param "rep" u32) (canon lift (core func $i "run"))))'''))
    host = ComponentInstance({"thing": rt, "make": HostFunction(None, lambda rep: Resource(rt, rep, True))})
    inst = instantiate_component(store, c, {"host": host}, engine)
    inst.exports["run"](7)
    inst.exports["run"](9)
    assert dropped == [7, 9]            # the guest's resource.drop of an owned handle ran the host destructor
    with pytest.raises(LinkError, match="expected resource found function"):
        instantiate_component(store, c, {"host": ComponentInstance({"thing": host.exports["make"],
                                                                    "make": host.exports["make"]})}, engine)


def test_nested_instances_and_resource_types_are_fresh_per_instance():
    engine, store = _store()
    c = Component(parse_component('''(component
      (component $C
        (type $r (resource (rep i32)))
        (export "r" (type $r)))
      (instance $a (instantiate $C))
      (instance $b (instantiate $C))
      (export "a" (instance $a))
      (export "b" (instance $b)))'''))
    inst = instantiate_component(store, c, {}, engine)
    ra, rb = inst.exports["a"].exports["r"], inst.exports["b"].exports["r"]
    assert isinstance(ra, ResourceType) and isinstance(rb, ResourceType) and ra is not rb
    again = instantiate_component(store, c, {}, engine)
    assert again.exports["a"].exports["r"] is not ra


@pytest.mark.parametrize("tier", tier_params())
def test_a_trap_poisons_the_instance(tier):
    engine, store = _store(tier)
    c = Component(parse_component('''(component
      (core module $m (func (export "f") (param i32) (result i32)
        (if (local.get 0) (then unreachable)) (i32.const 5)))
      (core instance $i (instantiate $m))
      (func (export "f") (param "boom" bool) (result u32) (canon lift (core func $i "f"))))'''))
    inst = instantiate_component(store, c, {}, engine)
    assert inst.exports["f"](False) == 5
    with pytest.raises(Trap, match="unreachable"):
        inst.exports["f"](True)
    with pytest.raises(Trap, match="cannot enter component instance"):
        inst.exports["f"](False)
    assert instantiate_component(store, c, {}, engine).exports["f"](False) == 5   # a new instance runs


def test_an_instantiation_that_traps_raises_the_trap():
    engine, store = _store()
    c = Component(parse_component('''(component
      (core module $m (func $s unreachable) (start $s))
      (core instance $i (instantiate $m)))'''))
    with pytest.raises(Trap, match="unreachable"):
        instantiate_component(store, c, {}, engine)
