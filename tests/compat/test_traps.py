"""TrapCode members have wasmtime-py's names; Trap.frames are Frame objects."""

import pytest

from wasmforge import Frame, Trap, TrapCode

WAT = ('(module $mm (table 2 funcref) (type $t (func))'
       ' (func $inner (export "unreachable") unreachable)'
       ' (func $outer (export "outer") (call $inner))'
       ' (func (export "null") (call_indirect (type $t) (i32.const 1)))'
       ' (func (export "sig") (call_indirect (param i32) (i32.const 0) (i32.const 0)))'
       ' (elem (i32.const 0) $inner))')


@pytest.mark.parametrize("name", [
    "STACK_OVERFLOW", "MEMORY_OUT_OF_BOUNDS", "HEAP_MISALIGNED", "TABLE_OUT_OF_BOUNDS",
    "INDIRECT_CALL_TO_NULL", "BAD_SIGNATURE", "INTEGER_OVERFLOW", "INTEGER_DIVISION_BY_ZERO",
    "BAD_CONVERSION_TO_INTEGER", "UNREACHABLE", "INTERRUPT", "OUT_OF_FUEL",
    "ATOMIC_WAIT_NON_SHARED_MEMORY", "NULL_REFERENCE", "ARRAY_OUT_OF_BOUNDS", "CAST_FAILURE",
    "UNCAUGHT_EXCEPTION"])
def test_wasmtime_trap_code_names(name):
    assert isinstance(TrapCode[name], TrapCode)


def test_every_trap_code_of_the_installed_wasmtime_py():
    wasmtime = pytest.importorskip("wasmtime")
    assert not [c.name for c in wasmtime.TrapCode if c.name not in TrapCode.__members__]


def test_old_names_are_aliases():
    assert TrapCode.UNREACHABLE_CODE_REACHED is TrapCode.UNREACHABLE
    assert TrapCode.UNINITIALIZED_ELEMENT is TrapCode.INDIRECT_CALL_TO_NULL
    assert TrapCode.INDIRECT_CALL_TYPE_MISMATCH is TrapCode.BAD_SIGNATURE


@pytest.mark.parametrize("export, code", [("unreachable", TrapCode.UNREACHABLE),
                                          ("null", TrapCode.INDIRECT_CALL_TO_NULL),
                                          ("sig", TrapCode.BAD_SIGNATURE)])
def test_traps_carry_wasmtime_codes(instantiate, export, code):
    store, inst = instantiate(WAT)
    with pytest.raises(Trap) as info:
        inst.exports(store)[export](store)
    assert info.value.trap_code is code


def test_frames_are_frame_objects(instantiate):
    store, inst = instantiate(WAT)
    with pytest.raises(Trap) as info:
        inst.exports(store)["outer"](store)
    frames = info.value.frames
    assert all(isinstance(f, Frame) for f in frames)
    assert [(f.func_index, f.func_name) for f in frames] == [(0, "inner"), (1, "outer")]
    # The frames are still the (index, name) pairs they were.
    assert [name for _, name in frames] == ["inner", "outer"]
    assert frames[0].module_offset is None and frames[0].func_offset is None
    assert "Frame" in repr(frames[0]) and "inner" in repr(frames[0])


def test_frames_cost_nothing_while_the_trap_unwinds(instantiate):
    # The tiers append plain pairs; they become Frame objects only when read.
    store, inst = instantiate('(module (func $r (export "r") (call $r)))')
    with pytest.raises(Trap) as info:
        inst.exports(store)["r"](store)
    frames = info.value.frames
    assert type(list.__getitem__(frames, 0)) is tuple
    assert isinstance(frames[0], Frame) and frames[-1].func_name == "r"
    assert all(isinstance(f, Frame) for f in frames) and len(frames) > 1000
