"""Fuel: the deterministic instruction budget (accounting rule in runtime/metering.py)."""

import pytest

from limits.helpers import engine_for, instantiate
from wasmforge.errors import Trap, TrapCode, WasmError
from wasmforge.interp import compile_module
from wasmforge import Store
from wasmforge.text.parser import parse_module

COUNTDOWN = """(module
  (func (export "count") (param i32) (result i32)
    (block (loop
      (br_if 1 (i32.eqz (local.get 0)))
      (local.set 0 (i32.sub (local.get 0) (i32.const 1)))
      (br 0)))
    (local.get 0))
  (func (export "spin") (loop (br 0)))
  (func (export "empty"))
  (func (export "free") nop (drop (i32.const 7)) (block (loop)))
  (func (export "rec") (call 4)))"""

# count(n) executes 4 costed instructions on the way out and 8 per iteration.
def count_cost(n):
    return 4 + 8 * n


def fueled(tier, fuel=10**6):
    store, ex = instantiate(engine_for(tier, fuel=True), COUNTDOWN)
    store.set_fuel(fuel)
    return store, ex


def test_infinite_loop_is_stopped_by_fuel(tier):
    store, ex = fueled(tier, 10_000)
    with pytest.raises(Trap) as info:
        ex["spin"](store)
    assert info.value.code is TrapCode.OUT_OF_FUEL
    assert store.get_fuel() == 0


def test_unbounded_recursion_is_stopped_by_fuel_or_stack(tier):
    store, ex = fueled(tier, 1000)
    with pytest.raises(Trap) as info:
        ex["rec"](store)
    assert info.value.code is TrapCode.OUT_OF_FUEL


@pytest.mark.parametrize("n", [0, 1, 5, 100])
def test_fuel_consumed_is_the_number_of_costed_instructions(tier, n):
    store, ex = fueled(tier)
    assert ex["count"](store, n) == 0
    assert store.get_fuel() == 10**6 - count_cost(n)


def test_structural_instructions_are_free(tier):
    store, ex = fueled(tier, 1)
    ex["empty"](store)
    ex["free"](store)           # nop, drop, block, loop, end cost nothing; i32.const costs 1
    assert store.get_fuel() == 0


def test_exact_fuel_suffices_and_one_less_traps(tier):
    cost = count_cost(3)
    store, ex = fueled(tier, cost)
    assert ex["count"](store, 3) == 0
    assert store.get_fuel() == 0
    store.set_fuel(cost - 1)
    with pytest.raises(Trap) as info:
        ex["count"](store, 3)
    assert info.value.code is TrapCode.OUT_OF_FUEL


def test_out_of_fuel_trap_carries_a_backtrace(tier):
    store, ex = fueled(tier, 50)
    with pytest.raises(Trap) as info:
        ex["spin"](store)
    assert info.value.frames and info.value.frames[0][0] == 1


def test_refuelled_store_runs_again(tier):
    store, ex = fueled(tier, 10)
    with pytest.raises(Trap):
        ex["count"](store, 100)
    store.set_fuel(count_cost(2))
    assert ex["count"](store, 2) == 0


def test_fuel_is_shared_by_all_instances_of_a_store(tier):
    engine = engine_for(tier, fuel=True)
    store = Store(engine)
    store.set_fuel(1000)
    _, a = instantiate(engine, COUNTDOWN, store=store)
    _, b = instantiate(engine, COUNTDOWN, store=store)
    a["count"](store, 10)
    b["count"](store, 10)
    assert store.get_fuel() == 1000 - 2 * count_cost(10)


def test_fuel_apis_need_the_config_setting(tier):
    store = Store(engine_for(tier))
    with pytest.raises(WasmError, match="consume_fuel"):
        store.set_fuel(10)
    with pytest.raises(WasmError, match="consume_fuel"):
        store.get_fuel()


def test_unmetered_translation_contains_no_fuel_code():
    module = parse_module(COUNTDOWN)
    plain, _ = compile_module(module).source(0)
    metered, _ = compile_module(module, fuel=True).source(0)
    assert "FUEL" not in plain and "interrupted" not in plain
    assert "FUEL -=" in metered


def test_translation_cache_key_includes_the_metering_settings():
    module = parse_module(COUNTDOWN)
    keys = {compile_module(module, fuel=f, epoch=e)._cache_key(0)
            for f in (False, True) for e in (False, True)}
    assert len(keys) == 4


def test_wasm_sees_no_difference_with_plenty_of_fuel(tier):
    store, ex = fueled(tier)
    plain_store, plain = instantiate(engine_for(tier), COUNTDOWN)
    assert ex["count"](store, 37) == plain["count"](plain_store, 37)


BRANCHY = """(module
  (func (export "f") (param i32) (result i32) (local i32)
    (block $out
      (loop $top
        (block $a (block $b (block $c
          (br_table $a $b $c $out (i32.and (local.get 0) (i32.const 3))))
          ;; $c
          (local.set 1 (i32.add (local.get 1) (i32.const 3)))
          (br $a))
          ;; $b
          (if (i32.gt_u (local.get 0) (i32.const 10))
            (then (local.set 1 (i32.add (local.get 1) (i32.const 1))))
            (else (local.set 1 (i32.sub (local.get 1) (i32.const 1))))))
        ;; $a
        (local.set 0 (i32.sub (local.get 0) (i32.const 1)))
        (br_if $top (i32.gt_s (local.get 0) (i32.const 0)))))
    (local.get 1)))"""


def fuel_used(tier, wat, name, arg, monkeypatch=None, flat=False):
    if flat:
        monkeypatch.setenv("WASMFORGE_INTERP_FLAT", "1")
    store, ex = instantiate(engine_for(tier, fuel=True), wat)
    store.set_fuel(10**9)
    result = ex[name](store, arg)
    return result, 10**9 - store.get_fuel()


@pytest.mark.parametrize("arg", [0, 1, 2, 3, 4, 13, 40])
def test_both_interp_translations_charge_the_same_fuel(monkeypatch, arg):
    structured = fuel_used("interp", BRANCHY, "f", arg)
    flat = fuel_used("interp", BRANCHY, "f", arg, monkeypatch, flat=True)
    assert structured == flat


def test_branchy_fuel_by_hand(tier):
    # f(3): br_table index 3 -> $out at once: local.get, i32.const, i32.and, br_table,
    # then local.get after the block: 5.
    assert fuel_used(tier, BRANCHY, "f", 3) == (0, 5)
    # f(4): index 0 -> $a: 4 (dispatch) + 4 (local.get, i32.const, i32.sub, local.set)
    # + 4 (local.get, i32.const, i32.gt_s, br_if); then 3 -> $out: 4 + 1.
    assert fuel_used(tier, BRANCHY, "f", 4)[1] == 4 + 4 + 4 + 4 + 1
