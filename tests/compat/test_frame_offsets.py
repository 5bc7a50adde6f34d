"""Trap frames' code offsets (``Frame.func_offset``, ``Frame.module_offset`` and the
``0x..`` of each backtrace line) against the installed wasmtime-py: the trapping
instruction in the innermost frame, the call instruction in each caller."""

import pytest

from support import has_llvmlite, tier_params
from wasmforge import Config, Engine, Func, FuncType, Instance, Module, Store, Trap, TrapCode
from wasmforge.binary import decode_module

try:
    from wasmforge.llvm import unwind
except ImportError:         # no llvmlite: the llvm tier's tests skip
    unwind = None

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
    return _ours_and_code(engine, wasm, export, args)[0]


def _ours_and_code(engine, wasm, export, args):
    """Our trap, and which code raised it: "interp", or the llvm tier's "baseline" (no
    inlining) or "optimised" code (llvm/compiler.py; read after the trap: baseline code that
    is still bound then is what ran)."""
    store = Store(engine)

    def fail():
        raise Trap("host failed")
    host = Func(store, FuncType([], []), fail)
    module = Module(engine, wasm)
    inst = Instance(store, module, [host])
    with pytest.raises(Trap) as info:
        inst.exports(store)[export](store, *args)
    return info.value, getattr(module._compiled(), "tier", engine.strategy)


def _backtrace(trap):
    # The backtrace part of the text (the causes differ where docs/api.md says so).
    return str(trap).split("\n\nCaused by:")[0]


def _frames(trap):
    return [(f.func_index, f.func_name, f.func_offset, f.module_offset) for f in trap.frames]


def _direct_calls(wasm, caller: int, callee: int) -> int:
    body = decode_module(bytes(wasm)).funcs[caller - 1].iter_body()     # (one import: $fail)
    return sum(1 for ins in body if ins[0].name == "call" and ins[1] == callee)


def _check(ours, theirs) -> None:
    """Our frames are wasmtime's: every frame's function and offsets on both tiers, in every
    way the llvm tier compiles code (its caller frames' calls come from their return
    addresses and the inline chains the debug information records, and where LLVM merged
    the trap blocks of inlined copies, from the copies' shadow-stack entries: llvm/unwind.py,
    llvm/copies.py), and the backtrace text with them."""
    mine, right = _frames(ours), _frames(theirs)
    assert mine == right
    assert all(f[2] is not None and f[3] is not None for f in mine)
    assert _backtrace(ours) == _backtrace(theirs)


@pytest.fixture(params=TIERS)
def engine(request):
    config = Config()
    config.strategy = request.param
    return Engine(config)


@pytest.mark.parametrize("export, args", CASES)
def test_offsets_of_a_binary_module_match_wasmtime(engine, export, args):
    wasm = wasmtime.wat2wasm(WAT)
    theirs, ours = _theirs(wasm, export, args), _ours(engine, bytes(wasm), export, args)
    _check(ours, theirs)


@pytest.mark.parametrize("export, args", CASES[:3])
def test_a_text_module_is_placed_as_its_binary_encoding(engine, export, args):
    # wasmtime-py converts text to a binary first: the offsets are that binary's.
    theirs, ours = _theirs(WAT, export, args), _ours(engine, WAT, export, args)
    _check(ours, theirs)


def test_a_host_trap_records_the_call_of_the_host(engine):
    # wasmtime-py gives no wasm frames for a trap its host function raises; wasmforge gives
    # the caller, at its call: the body is 00 (no locals), then call $fail at offset 1.
    ours = _ours(engine, bytes(wasmtime.wat2wasm(WAT)), "host", [0])
    frame = ours.frames[0]
    assert frame.func_offset == 1
    assert frame.module_offset == decode_module(bytes(wasmtime.wat2wasm(WAT))).funcs[-1].body_offset + 1


def test_the_running_call_of_two_is_told_apart(engine, monkeypatch, tmp_path):
    # (llvm: baseline code, which does not inline $div into $two)
    monkeypatch.setenv("WASMFORGE_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("WASMFORGE_LLVM_BASELINE", "1")
    monkeypatch.setenv("WASMFORGE_TIERING", "0")
    ours, code = _ours_and_code(engine, wasmtime.wat2wasm(WAT), "div", [65536])
    first_call_would_be, code2 = _ours_and_code(
        engine, wasmtime.wat2wasm(WAT.replace("(i32.const 1)))", "(local.get 0)))")), "div", [65536])
    if "optimised" in (code, code2):
        pytest.skip("no baseline code here (it needs our loader: WASMFORGE_LLVM_LOADER)")
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
    assert texts[0] == texts[1] == str(_theirs(wasm, "div", [65536]))
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
    _check(info.value, _theirs(wasm, "load", [65534]))


# ----- the llvm tier's caller frames: every way code is compiled and loaded -----

#: How the llvm tier may compile a module: optimised at once (inlining: a native frame may
#: hold several wasm frames), baseline code (calls through thunks), lazily in batches.
LLVM_MODES = {"optimised": {"WASMFORGE_LLVM_BASELINE": "0", "WASMFORGE_LLVM_LAZY": "0"},
              "baseline": {"WASMFORGE_LLVM_BASELINE": "1", "WASMFORGE_LLVM_LAZY": "0"},
              "lazy": {"WASMFORGE_LLVM_LAZY": "1"}}

# Recursion through two call sites of one callee, chosen by a bit of $path per level; a
# helper called twice by one caller (not inlined there) and once by another (inlined);
# two call_indirect sites and a direct call of the same function.
CALLS = '''(module $calls
  (import "host" "fail" (func $fail))
  (type $t (func (param i32) (result i32)))
  (table 1 funcref) (elem (i32.const 0) $inv)
  (func $inv (param i32) (result i32) (i32.div_u (i32.const 100) (local.get 0)))
  (func $walk (export "walk") (param $path i32) (param $depth i32) (result i32)
    (if (result i32) (i32.eqz (local.get $depth))
      (then (i32.div_u (i32.const 1) (local.get $depth)))
      (else
        (if (result i32) (i32.and (local.get $path) (i32.const 1))
          (then (call $walk (i32.shr_u (local.get $path) (i32.const 1))
                            (i32.sub (local.get $depth) (i32.const 1))))
          (else (i32.add (i32.const 1)
                  (call $walk (i32.shr_u (local.get $path) (i32.const 1))
                              (i32.sub (local.get $depth) (i32.const 1)))))))))
  (func $fib (export "fib") (param $n i32) (param $t i32) (result i32)
    (if (result i32) (i32.lt_u (local.get $n) (i32.const 2))
      (then (i32.div_u (i32.const 1) (i32.sub (local.get $n) (local.get $t))))
      (else (i32.add (call $fib (i32.sub (local.get $n) (i32.const 1)) (local.get $t))
                     (call $fib (i32.sub (local.get $n) (i32.const 2)) (local.get $t))))))
  (func $pair (export "pair") (param i32) (result i32)
    (i32.add (call $inv (local.get 0)) (call $inv (i32.sub (local.get 0) (i32.const 1)))))
  (func (export "once") (param i32) (result i32) (i32.add (i32.const 1) (call $inv (local.get 0))))
  (func $ind (export "ind") (param $i i32) (param $x i32) (result i32)
    (drop (call $inv (i32.const 3)))
    (drop (call_indirect (type $t) (i32.const 5) (i32.const 0)))
    (call_indirect (type $t) (local.get $x) (local.get $i)))
  (func $hostwalk (export "hostwalk") (param $path i32) (param $depth i32)
    (if (i32.eqz (local.get $depth)) (then (call $fail) (return)))
    (if (i32.and (local.get $path) (i32.const 1))
      (then (call $hostwalk (i32.shr_u (local.get $path) (i32.const 1))
                            (i32.sub (local.get $depth) (i32.const 1))))
      (else (call $hostwalk (i32.shr_u (local.get $path) (i32.const 1))
                            (i32.sub (local.get $depth) (i32.const 1)))
            (nop))))
  (func $so (export "so") (param $path i32) (result i32)
    (if (result i32) (i32.and (local.get $path) (i32.const 1))
      (then (call $so (i32.rotr (local.get $path) (i32.const 1))))
      (else (i32.add (i32.const 1) (call $so (i32.rotr (local.get $path) (i32.const 1))))))))'''

CALL_CASES = [("walk", [0b1011001110, 10]), ("walk", [0, 3]), ("fib", [7, 0]), ("fib", [6, 1]),
              ("pair", [1]), ("pair", [0]), ("once", [0]), ("ind", [0, 0]), ("ind", [3, 7])]


def _llvm_engine(monkeypatch, tmp_path, mode):
    """An llvm engine compiling in ``mode`` (of LLVM_MODES), no tiering, its cache in
    ``tmp_path``; the test is skipped without llvmlite."""
    if not has_llvmlite():
        pytest.skip("LLVM TIER NOT TESTED: llvmlite is not installed (pip install '.[llvm]')")
    monkeypatch.setenv("WASMFORGE_TIERING", "0")
    monkeypatch.setenv("WASMFORGE_CACHE_DIR", str(tmp_path))
    for name, value in LLVM_MODES[mode].items():
        monkeypatch.setenv(name, value)
    config = Config()
    config.strategy = "llvm"
    return Engine(config)


@pytest.fixture(params=list(LLVM_MODES))
def llvm_engine(request, monkeypatch, tmp_path):
    return _llvm_engine(monkeypatch, tmp_path, request.param)


@pytest.mark.parametrize("export, args", CALL_CASES)
def test_llvm_caller_frames_match_wasmtime(llvm_engine, export, args):
    wasm = bytes(wasmtime.wat2wasm(CALLS))
    theirs = _theirs(wasm, export, args)
    # ($pair calls $inv twice: optimised code may merge the trap blocks of the two copies)
    _check(_ours(llvm_engine, wasm, export, args), theirs)


def test_the_recursion_frames_really_differ():
    # The walk case above is a real test of call sites: its frames use both calls of $walk.
    wasm = bytes(wasmtime.wat2wasm(CALLS))
    offsets = {f.func_offset for f in _theirs(wasm, "walk", [0b1011001110, 10]).frames[1:]}
    assert len(offsets) == 2


def _host_frames(engine, wasm, path, depth):
    store = Store(engine)

    def fail():
        raise Trap("host failed")
    inst = Instance(store, Module(engine, wasm), [Func(store, FuncType([], []), fail)])
    with pytest.raises(Trap) as info:
        inst.exports(store)["hostwalk"](store, path, depth)
    return _frames(info.value)


def test_a_host_trap_under_several_frames_has_every_call(llvm_engine):
    # wasmtime-py gives no wasm frames for a host function's trap: the interp tier (exact,
    # checked against wasmtime above) is the reference.
    wasm = bytes(wasmtime.wat2wasm(CALLS))
    config = Config()
    config.strategy = "interp"
    for path, depth in [(0b0110101, 7), (0, 2), (1, 1)]:
        ours = _host_frames(llvm_engine, wasm, path, depth)
        assert ours == _host_frames(Engine(config), wasm, path, depth)
        assert len(ours) == depth + 1 and all(f[2] is not None for f in ours)
    assert len({f[2] for f in _host_frames(llvm_engine, wasm, 0b0110101, 7)[1:]}) == 2


def test_a_stack_overflow_has_every_call(llvm_engine):
    # $so recurses for ever, level d through the call chosen by bit d % 32 of $path.  The
    # stack overflows at another depth than wasmtime's (which keeps 20 frames): every frame
    # is checked against the pattern, whose two offsets are wasmtime's, and the outermost
    # ones against the interp tier.
    wasm = bytes(wasmtime.wat2wasm(CALLS))
    path = 0b10110011100011110000101010110001
    theirs, ours = _theirs(wasm, "so", [path]), _ours(llvm_engine, wasm, "so", [path])
    assert ours.trap_code == TrapCode.STACK_OVERFLOW
    assert theirs.trap_code == wasmtime.TrapCode.STACK_OVERFLOW
    taken, not_taken = sorted({f[2:] for f in _frames(theirs)[1:]})     # then-arm call first
    frames = _frames(ours)
    assert len(frames) > 1000
    expected = [(8, "so") + (taken if path >> (d % 32) & 1 else not_taken)
                for d in reversed(range(len(frames)))]          # innermost first
    assert frames == expected
    config = Config()
    config.strategy = "interp"
    assert frames[-200:] == _frames(_ours(Engine(config), wasm, "so", [path]))[-200:]


@pytest.mark.parametrize("export, args", [("walk", [0b1011001110, 10]), ("fib", [7, 0]), ("ind", [0, 0])])
def test_llvm_caller_frames_survive_an_artifact(llvm_engine, export, args):
    wasm = bytes(wasmtime.wat2wasm(CALLS))
    module = Module.deserialize(llvm_engine, Module(llvm_engine, wasm).serialize())
    store = Store(llvm_engine)
    inst = Instance(store, module, [Func(store, FuncType([], []), lambda: None)])
    with pytest.raises(Trap) as info:
        inst.exports(store)[export](store, *args)
    _check(info.value, _theirs(wasm, export, args))


def test_llvm_caller_frames_survive_the_module_cache(tmp_path, monkeypatch):
    if not has_llvmlite():
        pytest.skip("LLVM TIER NOT TESTED: llvmlite is not installed (pip install '.[llvm]')")
    monkeypatch.setenv("WASMFORGE_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("WASMFORGE_LLVM_BASELINE", "0")
    monkeypatch.setenv("WASMFORGE_TIERING", "0")
    wasm = bytes(wasmtime.wat2wasm(CALLS))
    expected = _frames(_theirs(wasm, "walk", [0b1011001110, 10]))
    config = Config()
    config.strategy = "llvm"
    hits = []
    for _ in range(2):      # the second engine's module comes from the cache
        engine = Engine(config)
        module = Module(engine, wasm)
        hits.append(module._cache_entry is None)
        store = Store(engine)
        inst = Instance(store, module, [Func(store, FuncType([], []), lambda: None)])
        with pytest.raises(Trap) as info:
            inst.exports(store)["walk"](store, 0b1011001110, 10)
        assert _frames(info.value) == expected
    assert hits == [False, True]


# $abort never returns: optimised code deletes what follows a call of it, the call's line
# after it too (prelude.call_label).  $mid calls it twice; $top calls $mid (never returns
# either) twice, the second call deleted; $once calls it once; $pick three times with the
# same argument (calls alike: tail merging would make one of them).
NORETURN = '''(module (import "host" "fail" (func $fail))
  (func $abort (param i32) (drop (i32.div_u (i32.const 1) (local.get 0))) (unreachable))
  (func $mid (param i32)
    (if (i32.and (local.get 0) (i32.const 1))
      (then (call $abort (i32.shr_u (local.get 0) (i32.const 1))))
      (else (call $abort (i32.shr_u (local.get 0) (i32.const 2))))))
  (func $once (param i32) (call $abort (local.get 0)))
  (func $top (export "a") (param i32) (call $mid (local.get 0)) (call $mid (local.get 0)))
  (func (export "b") (param i32) (call $once (local.get 0)) (call $top (local.get 0)))
  (func $pick (export "c") (param i32) (param i32)
    (if (i32.eq (local.get 1) (i32.const 1)) (then (call $abort (local.get 0))))
    (if (i32.eq (local.get 1) (i32.const 2)) (then (call $abort (local.get 0))))
    (call $abort (local.get 0))))'''


@pytest.mark.parametrize("export, args", [("a", [1]), ("a", [2]), ("b", [0]), ("b", [5]),
                                          ("c", [0, 1]), ("c", [0, 2]), ("c", [0, 3])])
def test_calls_of_a_function_that_never_returns(llvm_engine, export, args):
    wasm = bytes(wasmtime.wat2wasm(NORETURN))
    _check(_ours(llvm_engine, wasm, export, args), _theirs(wasm, export, args))


# Inlined calls: $inner divides by its argument, $middle calls it twice; $top calls $outer
# twice, "run" $top twice.  Optimised code inlines both calls of $inner into $middle and
# both of $outer into $top (a native frame holds two wasm frames, each call one of two);
# the trap blocks of the two copies of $inner are merged into one by LLVM (tail merging),
# whose location names neither call: the copies' shadow-stack entries tell them apart
# (llvm/copies.py).  (Not one-letter names: wasmtime demangles them.)
DEEP = '''(module $deep (import "host" "fail" (func $fail))
  (func $inner (param i32) (result i32) (i32.div_u (i32.const 1000) (local.get 0)))
  (func $middle (param i32) (result i32)
    (i32.add (call $inner (i32.sub (local.get 0) (i32.const 1)))
             (call $inner (i32.sub (local.get 0) (i32.const 2)))))
  (func $outer (param i32) (result i32)
    (i32.mul (call $middle (local.get 0)) (i32.const 3)))
  (func $top (param i32) (result i32)
    (i32.add (call $outer (i32.sub (local.get 0) (i32.const 10)))
             (call $outer (i32.sub (local.get 0) (i32.const 20)))))
  (func (export "run") (param i32) (result i32)
    (i32.add (call $top (local.get 0)) (call $top (i32.add (local.get 0) (i32.const 100))))))'''

# (first or second call of $top, of $outer, of $inner)
DEEP_CASES = [11, 12, 21, 22, -89, -88, -79, -78]


@pytest.mark.parametrize("arg", DEEP_CASES)
def test_inlined_calls_have_their_call_sites(llvm_engine, arg):
    wasm = bytes(wasmtime.wat2wasm(DEEP))
    ours = _ours(llvm_engine, wasm, "run", [arg])
    _check(ours, _theirs(wasm, "run", [arg]))
    # The callers of the inlined $outer are exact in every mode ($top calls it twice: the
    # two copies hold calls, which the call labels keep apart, not trap blocks).
    assert _frames(ours)[2:] == _frames(_theirs(wasm, "run", [arg]))[2:]


def test_the_inlined_cases_are_what_they_claim(monkeypatch, tmp_path):
    # Each caller but $outer calls its callee twice, the cases take every combination, and
    # optimised code runs the five wasm frames in three native frames.
    wasm = bytes(wasmtime.wat2wasm(DEEP))
    assert [_direct_calls(wasm, caller, caller - 1) for caller in (2, 3, 4, 5)] == [2, 1, 2, 2]
    sites = {tuple(f[2] for f in _frames(_theirs(wasm, "run", [arg]))) for arg in DEEP_CASES}
    assert len(sites) == 8
    engine = _llvm_engine(monkeypatch, tmp_path, "optimised")
    native = []
    walk = unwind.walk
    monkeypatch.setattr(unwind, "walk", lambda code, stack: native.append(walk(code, stack)) or native[-1])
    ours = _ours(engine, wasm, "run", [12])
    assert [f.func_name for f in ours.frames] == ["inner", "middle", "outer", "top", None]
    assert _frames(ours)[2:] == _frames(_theirs(wasm, "run", [12]))[2:]    # (walks the stack)
    assert [f.funcidx for f, _ in native[0]] == [2, 4, 5]


@pytest.mark.parametrize("wat, export, args", [(DEEP, "run", [-78]), (DEEP, "run", [12]),
                                               (NORETURN, "c", [0, 2]), (WAT, "div", [65536])])
def test_inlined_call_sites_survive_artifacts_and_the_module_cache(llvm_engine, wat, export, args):
    wasm = bytes(wasmtime.wat2wasm(wat))
    theirs = _theirs(wasm, export, args)
    module = Module.deserialize(llvm_engine, Module(llvm_engine, wasm).serialize())
    store = Store(llvm_engine)
    inst = Instance(store, module, [Func(store, FuncType([], []), lambda: None)])
    with pytest.raises(Trap) as info:
        inst.exports(store)[export](store, *args)
    _check(info.value, theirs)
    config = Config()
    config.strategy = "llvm"
    for _ in range(2):      # the second engine's module comes from the module cache
        _check(_ours(Engine(config), wasm, export, args), theirs)


# Trap blocks merged at two levels: $leaf traps (two ways), $mid calls it twice, $top calls
# $mid twice, all inlined into $top; a return_call inlined, in a function not inlined
# ($tail, its frame replaced by $leaf's) and in one inlined twice ($hop into $hops).
TWICE = '''(module $twice (import "host" "fail" (func $fail))
  (memory 1)
  (func $leaf (param i32) (result i32)
    (i32.add (i32.div_s (i32.const 7) (local.get 0))
             (i32.load (i32.mul (local.get 0) (i32.const 4096)))))
  (func $mid (param i32) (result i32)
    (i32.xor (call $leaf (i32.sub (local.get 0) (i32.const 1)))
             (call $leaf (i32.sub (local.get 0) (i32.const 2)))))
  (func $top (param i32) (result i32)
    (i32.or (call $mid (i32.sub (local.get 0) (i32.const 10)))
            (call $mid (i32.sub (local.get 0) (i32.const 20)))))
  (func $tail (param i32) (result i32)
    (if (i32.eqz (local.get 0)) (then (return_call $leaf (i32.const 0))))
    (return_call $leaf (i32.sub (local.get 0) (i32.const 5))))
  (func $tails (param i32) (result i32)
    (i32.add (call $tail (local.get 0)) (call $tail (i32.sub (local.get 0) (i32.const 1)))))
  (func $hop (param i32) (result i32) (return_call $leaf (i32.sub (local.get 0) (i32.const 3))))
  (func $hops (param i32) (result i32)
    (i32.add (call $hop (local.get 0)) (call $hop (i32.sub (local.get 0) (i32.const 7)))))
  (func (export "run") (param i32) (result i32) (call $top (local.get 0)))
  (func (export "tails") (param i32) (result i32) (call $tails (local.get 0)))
  (func (export "hops") (param i32) (result i32) (call $hops (local.get 0))))'''

# (which call of $top, of $mid and the trap; then which call of $tail / $hop and the trap)
TWICE_CASES = [("run", [11]), ("run", [12]), ("run", [21]), ("run", [22]), ("run", [111]),
               ("run", [212]), ("run", [122]), ("tails", [5]), ("tails", [6]), ("tails", [0]),
               ("tails", [1]), ("tails", [200]), ("hops", [3]), ("hops", [10]), ("hops", [203]),
               ("hops", [210])]


@pytest.mark.parametrize("export, args", TWICE_CASES)
def test_merged_trap_blocks_of_inlined_copies_on_every_tier(engine, export, args):
    wasm = bytes(wasmtime.wat2wasm(TWICE))
    _check(_ours(engine, wasm, export, args), _theirs(wasm, export, args))


@pytest.mark.parametrize("export, args", TWICE_CASES)
def test_merged_trap_blocks_of_inlined_copies_in_every_mode(llvm_engine, export, args):
    wasm = bytes(wasmtime.wat2wasm(TWICE))
    _check(_ours(llvm_engine, wasm, export, args), _theirs(wasm, export, args))


@pytest.mark.parametrize("wat, export, args", [(DEEP, "run", [12]), (DEEP, "run", [-89]),
                                               (TWICE, "run", [12]), (TWICE, "run", [212])])
def test_the_merged_cases_are_what_they_claim(monkeypatch, tmp_path, wat, export, args):
    # In optimised code the native stack does not tell these calls (the trap ran in a block
    # merged from several inlined copies): the copies' shadow-stack entries do.
    engine = _llvm_engine(monkeypatch, tmp_path, "optimised")
    from_stack = []
    call_sites = unwind.call_sites
    monkeypatch.setattr(unwind, "call_sites",
                        lambda *a: from_stack.append(list(call_sites(*a))) or list(from_stack[-1]))
    wasm = bytes(wasmtime.wat2wasm(wat))
    ours = _ours(engine, wasm, export, args)
    _check(ours, _theirs(wasm, export, args))
    assert None in from_stack[0][1:]
