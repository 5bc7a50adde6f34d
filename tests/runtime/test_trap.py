"""Traps carry a TrapCode and a wasm backtrace named from the name section."""

import pytest

from wasmforge import Trap, TrapCode


NESTED = ('(module (func $inner (param i32) (result i32) (i32.div_s (i32.const 1) (local.get 0)))'
          ' (func $outer (export "run") (param i32) (result i32) (call $inner (local.get 0))))')


def test_trap_has_code_and_message(instantiate):
    store, inst = instantiate(NESTED)
    with pytest.raises(Trap) as info:
        inst.exports(store)["run"](store, 0)
    assert info.value.code is TrapCode.INTEGER_DIVISION_BY_ZERO
    assert info.value.trap_code is TrapCode.INTEGER_DIVISION_BY_ZERO
    assert info.value.message == "integer divide by zero"


def test_trap_backtrace_names_functions_innermost_first(instantiate):
    store, inst = instantiate(NESTED)
    with pytest.raises(Trap) as info:
        inst.exports(store)["run"](store, 0)
    text = str(info.value)
    assert "wasm backtrace:" in text
    assert text.index("inner") < text.index("outer")
    assert [name for _, name in info.value.frames] == ["inner", "outer"]


def test_deep_recursion_traps_with_stack_overflow(instantiate):
    store, inst = instantiate('(module (func $f (export "f") (call $f)))')
    with pytest.raises(Trap) as info:
        inst.exports(store)["f"](store)
    assert info.value.code is TrapCode.STACK_OVERFLOW


def test_store_stays_usable_after_a_trap(instantiate):
    store, inst = instantiate(NESTED)
    with pytest.raises(Trap):
        inst.exports(store)["run"](store, 0)
    assert inst.exports(store)["run"](store, 1) == 1
