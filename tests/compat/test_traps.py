"""TrapCode members have wasmtime-py's names; Trap.frames are Frame objects."""

import pytest

from wasmforge import Frame, Func, FuncType, Instance, Module, Store, Trap, TrapCode

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
    assert all(f.module_name == "mm" for f in frames)
    # (The offsets against wasmtime-py: test_frame_offsets.py.)
    assert isinstance(frames[0].module_offset, int) and isinstance(frames[0].func_offset, int)
    assert repr(frames[0]) == "<Frame func[0] 'inner' in module 'mm'>"


def test_frames_cost_nothing_while_the_trap_unwinds(instantiate):
    # The tiers append plain pairs; they become Frame objects only when read.
    store, inst = instantiate('(module (func $r (export "r") (call $r)))')
    with pytest.raises(Trap) as info:
        inst.exports(store)["r"](store)
    frames = info.value.frames
    assert type(list.__getitem__(frames, 0)) is tuple
    assert isinstance(frames[0], Frame) and frames[-1].func_name == "r"
    assert all(isinstance(f, Frame) for f in frames) and len(frames) > 1000


# ----- str(trap) and Frame against the installed wasmtime-py -----

TRAPS = ('(module $m (memory 1) (table 2 funcref) (type $t (func)) (elem (i32.const 0) $u)'
         ' (func $u (export "u") unreachable)'
         ' (func $div (export "div") (drop (i32.div_s (i32.const 1) (i32.const 0))))'
         ' (func (export "conv") (drop (i32.trunc_f32_s (f32.const nan))))'
         ' (func (export "tbl") (call_indirect (type $t) (i32.const 5)))'
         ' (func (export "null") (call_indirect (type $t) (i32.const 1)))'
         ' (func (export "sig") (call_indirect (param i32) (i32.const 0) (i32.const 0)))'
         ' (func $mid (export "nested") (call $div))'
         ' (func (export "anon") (call $mid)))')


def _wasmtime_trap(wasmtime, wasm, export):
    store = wasmtime.Store(wasmtime.Engine())
    inst = wasmtime.Instance(store, wasmtime.Module(store.engine, wasm), [])
    with pytest.raises(wasmtime.Trap) as info:
        inst.exports(store)[export](store)
    return info.value


@pytest.mark.parametrize("export", ["u", "div", "conv", "null", "sig", "nested", "anon"])
def test_str_and_frames_match_wasmtime_py(instantiate, export):
    wasmtime = pytest.importorskip("wasmtime")
    theirs = _wasmtime_trap(wasmtime, TRAPS, export)
    store, inst = instantiate(TRAPS)
    with pytest.raises(Trap) as info:
        inst.exports(store)[export](store)
    ours = info.value
    assert ours.trap_code.name == theirs.trap_code.name
    assert [(f.func_index, f.func_name, f.module_name) for f in ours.frames] == \
        [(f.func_index, f.func_name, f.module_name) for f in theirs.frames]
    assert [(f.func_offset, f.module_offset) for f in ours.frames] == \
        [(f.func_offset, f.module_offset) for f in theirs.frames]
    # The same text, code offsets and the final newline included.
    assert str(ours) == str(theirs)


def test_call_indirect_beyond_the_table_has_its_own_code(instantiate):
    # wasmforge's extension (docs/api.md): the spec's "undefined element", which wasmtime
    # reports as TABLE_OUT_OF_BOUNDS.
    store, inst = instantiate(TRAPS)
    with pytest.raises(Trap) as info:
        inst.exports(store)["tbl"](store)
    assert info.value.trap_code is TrapCode.UNDEFINED_ELEMENT
    assert str(info.value).endswith("Caused by:\n    wasm trap: undefined element\n")


def test_module_name_is_none_without_a_name_section(instantiate):
    store, inst = instantiate('(module (func (export "f") unreachable))')
    with pytest.raises(Trap) as info:
        inst.exports(store)["f"](store)
    frame = info.value.frames[0]
    assert (frame.func_index, frame.func_name, frame.module_name) == (0, None, None)
    assert str(info.value).split("\n")[1] == "    0:     0x1e - <unknown>!<wasm function 0>"


def test_a_trap_raised_by_the_host_keeps_its_message(engine):
    def boom():
        raise Trap("custom")
    store = Store(engine)
    host = Func(store, FuncType([], []), boom)
    module = Module(engine, '(module $m (import "a" "b" (func $b)) (func $f (export "f") call $b))')
    inst = Instance(store, module, [host])
    with pytest.raises(Trap) as info:
        inst.exports(store)["f"](store)
    assert info.value.message == "custom" and info.value.trap_code is None
    assert str(info.value).endswith("\n\nCaused by:\n    custom\n")
    assert str(Trap("custom")) == "custom"


def test_frames_are_converted_once(instantiate):
    # Reading a frame converts the whole list once; later reads do not walk it again.
    store, inst = instantiate('(module $m (func $r (export "r") (call $r)))')
    with pytest.raises(Trap) as info:
        inst.exports(store)["r"](store)
    frames = info.value.frames
    assert frames[0].module_name == "m"
    assert frames._done == len(frames) > 1000
    assert type(list.__getitem__(frames, len(frames) - 1)) is Frame


def test_frame_lists_compare_by_their_frames(instantiate):
    # The tiers' tuples carry the offsets' locator too: equality looks at the frames only,
    # whichever side has been read.
    store, inst = instantiate(WAT)
    traps = []
    for _ in range(2):
        with pytest.raises(Trap) as info:
            inst.exports(store)["outer"](store)
        traps.append(info.value.frames)
    assert traps[0][0].func_name == "inner"         # the first list is read, the second not
    assert traps[1] == traps[0] and traps[0] == traps[1]
    assert traps[0] == [(0, "inner"), (1, "outer")] and not traps[0] != traps[1]
