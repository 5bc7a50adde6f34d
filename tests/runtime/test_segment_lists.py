"""An instance's data segments as ``memory.init`` and ``data.drop`` see them
(``ModuleInstance.datas``): instances of a module whose segments are all active share one
list, every entry empty (runtime/instance.py ``InstancePlan.datas_empty``: nothing can change
it); a passive segment's list is each instance's own, so one instance dropping it leaves the
next with the bytes."""

from __future__ import annotations

import pytest

from wasmforge import Linker, Module, Store, Trap

from support import engine_for, tier_params

INIT = ('(func (export "init") (param i32) (result i32)'
        ' (memory.init {seg} (i32.const 16) (i32.const 0) (local.get 0)) (i32.load8_u (i32.const 16)))'
        ' (func (export "drop") (data.drop {seg}))')
ACTIVE = '(module (memory 1) (data (i32.const 0) "ab") (data (i32.const 8) "cd") ' + INIT.format(seg=1) + ')'
PASSIVE = '(module (memory 1) (data (i32.const 0) "ab") (data "xyz") ' + INIT.format(seg=1) + ')'


def _instances(tier, wat, n):
    engine = engine_for(tier)
    module = Module(engine, wat)
    out = []
    for _ in range(n):
        store = Store(engine)
        ex = Linker(engine).instantiate(store, module).exports(store)
        out.append((store, ex))
    return out


@pytest.mark.parametrize("tier", tier_params())
def test_instances_of_a_module_of_active_segments_share_one_empty_list(tier):
    made = _instances(tier, ACTIVE, 3)
    lists = [store._instances[0].datas for store, _ in made]
    assert lists[0] is lists[1] is lists[2] and lists[0] == [b"", b""]
    for store, ex in made:
        assert ex["init"](store, 0) == 0                # an empty copy of a dropped segment
        with pytest.raises(Trap):
            ex["init"](store, 1)
        ex["drop"](store)
        assert lists[0] == [b"", b""]


@pytest.mark.parametrize("tier", tier_params())
def test_a_passive_segment_dropped_by_one_instance_is_whole_in_the_next(tier):
    (s1, e1), (s2, e2) = _instances(tier, PASSIVE, 2)
    assert s1._instances[0].datas is not s2._instances[0].datas
    assert e1["init"](s1, 3) == ord("x")
    e1["drop"](s1)
    with pytest.raises(Trap):
        e1["init"](s1, 3)
    assert e2["init"](s2, 3) == ord("x")
    (s3, e3), = _instances(tier, PASSIVE, 1)
    assert e3["init"](s3, 3) == ord("x")
