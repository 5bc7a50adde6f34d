"""Instances of one ``InstancePre`` whose core modules share a memory, a table and globals the
way componentize-py's dynamically linked libraries do (one module defines them, the others
import them and write their element segments at an offset read from an imported global):
each instance has its own of each, and what the per-instance shortcuts defer (the llvm tier's
``call_indirect`` mirrors, the binding of lifted functions) is still right when first used."""

from __future__ import annotations

import pytest

import wasmforge
from wasmforge import component as C
from wasmforge.cm.types import OwnType, Primitive, RecordType, ResourceType, VariantType
from wasmforge.cm.valid import subst

from support import has_llvmlite, tier_params

SHARED = '''(component
  (core module $env
    (memory (export "memory") 1)
    (table (export "table") 8 funcref)
    (global (export "table_base") i32 (i32.const 2))
    (global (export "counter") (mut i32) (i32.const 0)))
  (core instance $e (instantiate $env))
  (core module $lib
    (import "env" "table" (table 8 funcref))
    (import "env" "table_base" (global $base i32))
    (func $seven (result i32) (i32.const 7))
    (func $eight (result i32) (i32.const 8))
    (elem (global.get $base) func $seven $eight))
  (core instance $l (instantiate $lib (with "env" (instance $e))))
  (core module $main
    (import "env" "table" (table 8 funcref))
    (import "env" "memory" (memory 1))
    (import "env" "counter" (global $n (mut i32)))
    (type $t (func (result i32)))
    (func (export "run") (param $slot i32) (result i32)
      (global.set $n (i32.add (global.get $n) (i32.const 1)))
      (i32.store (i32.const 64) (i32.add (i32.load (i32.const 64)) (i32.const 1)))
      (table.set (i32.const 0) (table.get (local.get $slot)))
      (i32.add (i32.mul (call_indirect (type $t) (local.get $slot)) (i32.const 100))
               (i32.add (i32.mul (global.get $n) (i32.const 10)) (i32.load (i32.const 64)))))
    (func (export "zero") (result i32) (call_indirect (type $t) (i32.const 0))))
  (core instance $m (instantiate $main (with "env" (instance $e))))
  (func (export "run") (param "slot" u32) (result u32) (canon lift (core func $m "run")))
  (func (export "zero") (result u32) (canon lift (core func $m "zero"))))'''


def _pre(tier):
    config = wasmforge.Config()
    config.strategy = tier
    engine = wasmforge.Engine(config)
    return engine, C.Linker(engine).instantiate_pre(C.Component(engine, SHARED))


@pytest.mark.parametrize("tier", tier_params())
def test_instances_of_a_pre_do_not_share_memory_table_or_globals(tier):
    engine, pre = _pre(tier)
    s1, s2 = wasmforge.Store(engine), wasmforge.Store(engine)
    i1, i2 = pre.instantiate(s1), pre.instantiate(s2)
    run1, run2 = i1.get_func(s1, "run"), i2.get_func(s2, "run")
    # 100 * the function in the slot + 10 * the global counter + the memory counter
    assert run1(s1, 2) == 711
    assert run1(s1, 3) == 822
    assert i1.get_func(s1, "zero")(s1) == 8     # instance 1's table.set of slot 0
    # instance 2 saw none of it: its counters start at 0
    assert run2(s2, 3) == 811
    assert i2.get_func(s2, "zero")(s2) == 8
    # and a third one's slot 0 is still null (a trap, which leaves the instance unusable)
    s3 = wasmforge.Store(engine)
    with pytest.raises(wasmforge.Trap, match="uninitialized element"):
        pre.instantiate(s3).get_func(s3, "zero")(s3)
    s4 = wasmforge.Store(engine)
    assert pre.instantiate(s4).get_func(s4, "run")(s4, 2) == 711


@pytest.mark.skipif(not has_llvmlite(), reason="LLVM TIER NOT TESTED: llvmlite is not installed")
def test_llvm_table_mirrors_are_encoded_on_the_first_call_not_per_instance(monkeypatch):
    from wasmforge.llvm import instance as native
    encoded = []
    encode = native.TableMirror._encode
    monkeypatch.setattr(native.TableMirror, "_encode",
                        lambda self, values: encoded.append(len(values)) or encode(self, values))
    engine, pre = _pre("llvm")
    pre.instantiate(wasmforge.Store(engine))          # (the first instance compiles the code)
    encoded.clear()
    store = wasmforge.Store(engine)
    inst = pre.instantiate(store)
    assert encoded == []        # neither the mirrors of $lib and $main nor the lifts' entries
    assert inst.get_func(store, "run")(store, 3) == 811
    assert encoded              # $main's mirror, filled by its first entry
    assert inst.get_func(store, "zero")(store) == 8


def test_subst_returns_a_type_without_resources_as_it_is():
    r, fresh = ResourceType("r", "i32"), ResourceType("r", "i32")
    plain = RecordType((("a", Primitive("string")), ("b", VariantType((("x", None), ("y", Primitive("u8")))))))
    assert subst(plain, {r: fresh}) is plain
    mixed = RecordType((("p", plain), ("h", OwnType(r))))
    got = subst(mixed, {r: fresh})
    assert got == RecordType((("p", plain), ("h", OwnType(fresh))))
    assert got.fields[0][1] is plain


LOWERED = '''(component
  (import "one" (func $one (result u32)))
  (import "two" (func $two (result u32)))
  (core func $l1 (canon lower (func $one)))
  (core func $l2 (canon lower (func $two)))
  (core module $m (import "" "one" (func $one (result i32))) (import "" "two" (func $two (result i32)))
    (func (export "first") (result i32) (call $one)))
  (core instance $i (instantiate $m (with "" (instance (export "one" (func $l1)) (export "two" (func $l2))))))
  (func (export "first") (result u32) (canon lift (core func $i "first"))))'''


@pytest.mark.parametrize("tier", tier_params())
def test_later_instances_make_a_lower_adapter_when_it_is_first_called(tier, monkeypatch):
    from wasmforge.cm.abi import adapter
    config = wasmforge.Config()
    config.strategy = tier
    engine = wasmforge.Engine(config)
    linker = C.Linker(engine)
    with linker.root() as root:
        root.add_func("one", lambda store: 1)
        root.add_func("two", lambda store: 2)
    pre = linker.instantiate_pre(C.Component(engine, LOWERED))
    store = wasmforge.Store(engine)
    assert pre.instantiate(store).get_func(store, "first")(store) == 1     # makes the templates
    remade = []
    rebind = adapter.LowerTemplate.rebind_static
    monkeypatch.setattr(adapter.LowerTemplate, "rebind_static",
                        lambda self, *a: remade.append(self) or rebind(self, *a))
    stores = [wasmforge.Store(engine) for _ in range(2)]
    instances = [pre.instantiate(s) for s in stores]
    assert remade == []
    for s, inst in zip(stores, instances):
        assert inst.get_func(s, "first")(s) == 1
        assert inst.get_func(s, "first")(s) == 1
    assert len(remade) == 2         # `one`'s, once per instance; `two` never called


def test_instances_of_a_pre_do_not_compare_import_types_again(monkeypatch):
    from wasmforge.cm import instance as cm_instance
    engine = wasmforge.Engine()
    component = C.Component(engine, '''(component
      (import "wasi:cli/environment@0.2.0" (instance $env
        (export "get-arguments" (func (result (list string))))))
      (import "one" (func $one (result u32))))''')
    linker = C.Linker(engine)
    linker.add_wasip2()
    with linker.root() as root:
        root.add_func("one", lambda store: 1)
    pre = linker.instantiate_pre(component)
    compared = []
    check = cm_instance.check_functype
    monkeypatch.setattr(cm_instance, "check_functype", lambda *a: compared.append(a) or check(*a))
    pre.instantiate(wasmforge.Store(engine))
    assert compared == []
    C.Linker.instantiate(linker, wasmforge.Store(engine), component)     # a Linker still does
    assert compared


def test_instantiate_pre_checks_the_wasi_imports_types():
    engine = wasmforge.Engine()
    component = C.Component(engine, '''(component
      (import "wasi:cli/environment@0.2.0" (instance $env
        (export "get-arguments" (func (result (list u8)))))))''')
    linker = C.Linker(engine)
    linker.add_wasip2()
    with pytest.raises(wasmforge.LinkError, match="get-arguments"):
        linker.instantiate_pre(component)


@pytest.mark.parametrize("tier", tier_params())
def test_a_later_instances_lower_is_its_own_call_until_first_called(tier):
    config = wasmforge.Config()
    config.strategy = tier
    engine = wasmforge.Engine(config)
    linker = C.Linker(engine)
    with linker.root() as root:
        root.add_func("one", lambda store: 1)
        root.add_func("two", lambda store: 2)
    pre = linker.instantiate_pre(C.Component(engine, LOWERED))
    store = wasmforge.Store(engine)
    assert pre.instantiate(store).get_func(store, "first")(store) == 1     # makes the templates
    for _ in range(2):
        store = wasmforge.Store(engine)
        inst = pre.instantiate(store)
        [mi] = [mi for mi in store._instances if mi.module.imports]
        one, two = mi.funcs[0], mi.funcs[1]
        # one object per lower: the core function, whose call makes the adapter
        assert one.call is one and two.call is two and one.store is store
        kept = one.call
        assert inst.get_func(store, "first")(store) == 1
        assert one.call is not one and kept() == 1 and one.call() == 1
        assert two.call is two and two.call() == 2 and two.call is not two
