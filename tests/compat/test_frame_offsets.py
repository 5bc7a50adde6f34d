"""Trap frames' code offsets (``Frame.func_offset``, ``Frame.module_offset`` and the
``0x..`` of each backtrace line) against the installed wasmtime-py: the trapping
instruction in the innermost frame, the call instruction in each caller."""

import pytest

from support import tier_params
from wasmforge import Config, Engine, Func, FuncType, Instance, Module, Store, Trap
from wasmforge.binary import decode_module

wasmtime = pytest.importorskip("wasmtime")

TIERS = tier_params()

# Traps of several kinds, deep in blocks and loops, behind direct and indirect calls.
WAT = '''(module $offs
  (import "host" "fail" (func $fail))
  (memory 1) (table 2 funcref) (type $t (func (param i32) (result i32)))
  (elem (i32.const 0) $load $div)
  (func $load (param i32) (result i32)
    (local $k i32)
    (loop $l
      (local.set $k (i32.add (local.get $k) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $k) (i32.const 3))))
    (i32.add (local.get $k) (i32.load offset=8 (local.get 0))))
  (func $div (param i32) (result i32)
    (block (result i32)
      (i32.const 7) (drop)
      (i32.div_u (i32.const 100) (i32.sub (local.get 0) (i32.const 65536)))))
  (func $two (param i32) (result i32)
    ;; two calls: the frame tells which one was running
    (drop (call $div (i32.const 1)))
    (i32.add (call $div (local.get 0)) (i32.const 1)))
  (func (export "load") (param i32) (result i32) (call $load (local.get 0)))
  (func (export "div") (param i32) (result i32) (nop) (call $two (local.get 0)))
  (func (export "indirect") (param i32 i32) (result i32)
    (call_indirect (type $t) (local.get 0) (local.get 1)))
  (func (export "unreach") (param i32) (result i32)
    (drop (local.get 0)) (i32.const 0) (unreachable))
  (func (export "host") (param i32) (result i32) (call $fail) (i32.const 0)))'''

CASES = [("load", [65534]), ("div", [65536]), ("indirect", [65536, 1]),
         ("indirect", [70000, 0]), ("indirect", [0, 5]), ("unreach", [1])]


def _theirs(wasm, export, args):
    store = wasmtime.Store(wasmtime.Engine())
    module = wasmtime.Module(store.engine, wasm)

    def fail():
        raise wasmtime.Trap("host failed")
    host = wasmtime.Func(store, wasmtime.FuncType([], []), fail)
    inst = wasmtime.Instance(store, module, [host])
    with pytest.raises(wasmtime.Trap) as info:
        inst.exports(store)[export](store, *args)
    return info.value


def _ours(engine, wasm, export, args):
    store = Store(engine)

    def fail():
        raise Trap("host failed")
    host = Func(store, FuncType([], []), fail)
    inst = Instance(store, Module(engine, wasm), [host])
    with pytest.raises(Trap) as info:
        inst.exports(store)[export](store, *args)
    return info.value


def _backtrace(trap):
    # The backtrace part of the text (the causes differ where docs/api.md says so).
    return str(trap).split("\n\nCaused by:")[0]


def _frames(trap):
    return [(f.func_index, f.func_name, f.func_offset, f.module_offset) for f in trap.frames]


def _expected(engine, theirs):
    """wasmtime's frames, as the engine's tier gives them: the llvm tier does not record a
    caller's call site and finds it only where the caller has one call that can reach the
    callee, so $two (two calls of $div) has no offsets there (docs/api.md, Frame)."""
    frames = _frames(theirs)
    if engine.strategy == "llvm":
        frames = [f if k == 0 or f[1] != "two" else f[:2] + (None, None) for k, f in enumerate(frames)]
    return frames


@pytest.fixture(params=TIERS)
def engine(request):
    config = Config()
    config.strategy = request.param
    return Engine(config)


@pytest.mark.parametrize("export, args", CASES)
def test_offsets_of_a_binary_module_match_wasmtime(engine, export, args):
    wasm = wasmtime.wat2wasm(WAT)
    theirs, ours = _theirs(wasm, export, args), _ours(engine, bytes(wasm), export, args)
    assert _frames(ours) == _expected(engine, theirs)
    if engine.strategy == "interp":
        assert all(f.module_offset is not None for f in ours.frames)
        assert _backtrace(ours) == _backtrace(theirs)


@pytest.mark.parametrize("export, args", CASES[:3])
def test_a_text_module_is_placed_as_its_binary_encoding(engine, export, args):
    # wasmtime-py converts text to a binary first: the offsets are that binary's.
    theirs, ours = _theirs(WAT, export, args), _ours(engine, WAT, export, args)
    assert _frames(ours) == _expected(engine, theirs)
    if engine.strategy == "interp":
        assert _backtrace(ours) == _backtrace(theirs)


def test_a_host_trap_records_the_call_of_the_host(engine):
    # wasmtime-py gives no wasm frames for a trap its host function raises; wasmforge gives
    # the caller, at its call: the body is 00 (no locals), then call $fail at offset 1.
    ours = _ours(engine, bytes(wasmtime.wat2wasm(WAT)), "host", [0])
    frame = ours.frames[0]
    assert frame.func_offset == 1
    assert frame.module_offset == decode_module(bytes(wasmtime.wat2wasm(WAT))).funcs[-1].body_offset + 1


def test_the_running_call_of_two_is_told_apart():
    config = Config()
    config.strategy = "interp"
    engine = Engine(config)
    ours = _ours(engine, wasmtime.wat2wasm(WAT), "div", [65536])
    first_call_would_be = _ours(engine, wasmtime.wat2wasm(WAT.replace("(i32.const 1)))", "(local.get 0)))")),
                                "div", [65536])
    # The caller frame of $two points at its second call, then (in the edited module) at its first.
    assert ours.frames[1].func_name == "two" and first_call_would_be.frames[1].func_name == "two"
    assert ours.frames[1].func_offset > first_call_would_be.frames[1].func_offset


def test_offsets_survive_the_translation_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("WASMFORGE_CACHE_DIR", str(tmp_path))
    wasm = bytes(wasmtime.wat2wasm(WAT))
    texts = []
    for _ in range(2):      # the second engine's functions come from the cache
        config = Config()
        config.strategy = "interp"
        texts.append(str(_ours(Engine(config), wasm, "div", [65536])))
    assert texts[0] == texts[1] == str(_theirs(wasm, "div", [65536])).rstrip("\n")
    assert "0x" in texts[0]


def test_the_flat_translation_keeps_the_offsets(monkeypatch):
    # Functions too deep for nested Python blocks become a state machine (interp/translate.py).
    monkeypatch.setenv("WASMFORGE_INTERP_FLAT", "1")
    monkeypatch.setenv("WASMFORGE_CACHE", "off")
    config = Config()
    config.strategy = "interp"
    wasm = wasmtime.wat2wasm(WAT)
    for export, args in CASES:
        ours = _ours(Engine(config), bytes(wasm), export, args)
        assert _frames(ours) == _frames(_theirs(wasm, export, args))


def test_lazily_decoded_bodies_give_the_same_offsets():
    wasm = bytes(wasmtime.wat2wasm(WAT))
    eager, lazy = decode_module(wasm, lazy=False), decode_module(wasm, lazy=True)
    for f, g in zip(eager.funcs, lazy.funcs):
        assert f.instruction_offsets() == g.instruction_offsets()
        assert f.body_offset == g.body_offset < f.code_offset
        assert len(f.instruction_offsets()) == len(f.body)


def test_a_caller_with_one_call_of_the_callee_gets_its_offsets_on_every_tier(engine):
    # $two calls $div twice (ambiguous for the llvm tier); the export calls $two once, and
    # $load is called once: those caller frames have wasmtime's offsets on both tiers.
    wasm = wasmtime.wat2wasm(WAT)
    for export, args, caller in [("div", [65536], 2), ("load", [65534], 1)]:
        theirs, ours = _theirs(wasm, export, args), _ours(engine, bytes(wasm), export, args)
        assert _frames(ours)[0] == _frames(theirs)[0]
        assert _frames(ours)[caller] == _frames(theirs)[caller]
        assert ours.frames[caller].module_offset is not None


def test_a_module_from_an_artifact_keeps_the_offsets(engine):
    # An artifact stores the decoded module beside the binary (api/aot.py): where each body
    # starts travels with it, so the offsets are the binary's, not a re-encoding's.
    wasm = bytes(wasmtime.wat2wasm(WAT))
    module = Module.deserialize(engine, Module(engine, wasm).serialize())
    binary = decode_module(wasm)
    assert [f.body_offset for f in module._data.funcs] == [f.body_offset for f in binary.funcs]
    store = Store(engine)
    host = Func(store, FuncType([], []), lambda: None)
    inst = Instance(store, module, [host])
    with pytest.raises(Trap) as info:
        inst.exports(store)["load"](store, 65534)
    assert _frames(info.value) == _expected(engine, _theirs(wasm, "load", [65534]))
