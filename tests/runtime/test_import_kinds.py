"""A module's imports of several kinds in any order: each kind's index space gets that kind's
objects in import order (runtime/instance.py picks each kind's objects from the import list
at once, ``InstancePlan.import_picks``), and a host function taking a Caller among them
reaches the importing instance."""

from __future__ import annotations

import pytest

from wasmforge import (Func, FuncType, Global, GlobalType, Instance, Limits, Memory, MemoryType, Module, Store,
                       ValType)

from support import engine_for, tier_params

WAT = '''(module
  (import "h" "one" (func $one (result i32)))
  (import "h" "g1" (global $g1 i32))
  (import "h" "mem" (memory 1))
  (import "h" "two" (func $two (result i32)))
  (import "h" "g2" (global $g2 i32))
  (import "h" "poke" (func $poke (param i32)))
  (import "h" "three" (func $three (result i32)))
  (func (export "run") (result i32)
    (call $poke (i32.const 8))
    (i32.add
      (i32.add (i32.mul (call $one) (i32.const 1)) (i32.mul (call $two) (i32.const 10)))
      (i32.add (i32.mul (call $three) (i32.const 100))
        (i32.add (i32.mul (global.get $g1) (i32.const 1000))
          (i32.add (i32.mul (global.get $g2) (i32.const 10000)) (i32.load8_u (i32.const 8))))))))'''


@pytest.mark.parametrize("tier", tier_params())
def test_imports_of_mixed_kinds_land_in_their_index_spaces_in_order(tier):
    engine = engine_for(tier)
    module = Module(engine, WAT)
    for round_ in range(2):
        store = Store(engine)
        i32 = ValType.i32()
        konst = FuncType([], [i32])
        mem = Memory(store, MemoryType(Limits(1, None)))
        callers = []

        def poke(caller, addr):
            callers.append(caller.get("run") is not None)
            mem.write(caller, bytes([round_ + 1]), addr)
        imports = [Func(store, konst, lambda: 1), Global(store, GlobalType(i32, False), 2), mem,
                   Func(store, konst, lambda: 3), Global(store, GlobalType(i32, False), 4),
                   Func(store, FuncType([i32], []), poke, access_caller=True), Func(store, konst, lambda: 5)]
        inst = Instance(store, module, imports)
        # 1 + 3*10 + 5*100 + 2*1000 + 4*10000 + the byte poke wrote
        assert inst.exports(store)["run"](store) == 42531 + round_ + 1
        assert callers == [True]


@pytest.mark.parametrize("tier", tier_params())
def test_an_import_named_twice_gets_each_object_given_at_its_position(tier):
    engine = engine_for(tier)
    module = Module(engine, '''(module
      (import "h" "f" (func $a (result i32)))
      (import "h" "g" (global $g i32))
      (import "h" "f" (func $b (result i32)))
      (import "h" "g" (global $h i32))
      (func (export "run") (result i32)
        (i32.add (i32.add (call $a) (i32.mul (call $b) (i32.const 10)))
                 (i32.add (i32.mul (global.get $g) (i32.const 100)) (i32.mul (global.get $h) (i32.const 1000))))))''')
    store = Store(engine)
    i32 = ValType.i32()
    konst = FuncType([], [i32])
    imports = [Func(store, konst, lambda: 1), Global(store, GlobalType(i32, False), 2),
               Func(store, konst, lambda: 3), Global(store, GlobalType(i32, False), 4)]
    assert Instance(store, module, imports).exports(store)["run"](store) == 4231
