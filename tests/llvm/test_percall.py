"""The per-call work of optimised code: a recursive function keeps the store's shadow-stack
height in a register (codegen.ModuleCompiler.splittable) and stores it only where something
reads it from memory — a callback, an entry from code that keeps it in memory, a trap, a
profiler.  What a trap, a host function or another entry sees stays exactly as before."""

import pytest

from wasmforge import Func, FuncType, Instance, Module, Store, Trap, TrapCode, ValType
from wasmforge.binary import decode_module
from wasmforge.llvm.codegen import ModuleCompiler
from wasmforge.text import parse_module, wat2wasm

# $down recurses to 0, then calls the host (or traps); $even/$odd recurse through each other;
# $leaf and $caller do not recurse; "viatable" enters $down through the table.
RECURSION = '''(module
  (import "host" "bottom" (func $bottom (param i32)))
  (type $t (func (param i32 i32) (result i32)))
  (table 1 funcref) (elem (i32.const 0) $down)
  (func $down (export "down") (param $n i32) (param $trap i32) (result i32)
    (if (result i32) (i32.eqz (local.get $n))
      (then
        (if (local.get $trap) (then (unreachable)))
        (call $bottom (local.get $n))
        (i32.const 0))
      (else (i32.add (i32.const 1)
              (call $down (i32.sub (local.get $n) (i32.const 1)) (local.get $trap))))))
  (func $even (export "even") (param i32) (result i32)
    (if (result i32) (i32.eqz (local.get 0)) (then (i32.div_u (i32.const 1) (local.get 0)))
      (else (call $odd (i32.sub (local.get 0) (i32.const 1))))))
  (func $odd (param i32) (result i32)
    (call $even (i32.sub (local.get 0) (i32.const 1))))
  (func $leaf (param i32) (result i32) (i32.add (local.get 0) (i32.const 1)))
  (func $caller (export "caller") (param i32) (result i32) (call $leaf (local.get 0)))
  (func (export "viatable") (param i32 i32) (result i32)
    (call_indirect (type $t) (local.get 0) (local.get 1) (i32.const 0)))
  (func $fail (export "fail") (unreachable)))'''


def _ir(wat: str) -> str:
    return ModuleCompiler(parse_module(wat)).compile()


def test_recursive_functions_take_the_height_in_a_register_and_are_entered_through_e():
    ir = _ir(RECURSION)
    # $down (1), $even (2), $odd (3): the height is a parameter; their own callers pass it
    assert "@f1(ptr %vm, i64 %shtop, i32 %p0, i32 %p1)" in ir
    assert "@f2(ptr %vm, i64 %shtop, i32 %p0)" in ir and "@f3(ptr %vm, i64 %shtop, i32 %p0)" in ir
    assert "@f1(ptr %vm, i64 %shtop1, " in ir and "@f3(ptr %vm, i64 %shtop1, " in ir
    # everything else reaches them through @e<i>, which reads the height from memory
    table = next(line for line in ir.splitlines() if line.startswith("@wf_funcs"))
    assert "ptr @e1, ptr @e2, ptr @e3, ptr @f4, ptr @f5" in table
    assert "define internal fastcc i32 @e1(ptr %vm, i32 %p0, i32 %p1)" in ir
    # functions that do not recurse keep their code (and so what LLVM inlines) as it was
    assert "@f4(ptr %vm, i32 %p0)" in ir and "@f5(ptr %vm, i32 %p0)" in ir
    assert "@e4" not in ir and "@e5" not in ir


def test_baseline_code_and_tail_calling_modules_keep_the_height_in_memory():
    module = parse_module(RECURSION)
    assert "%shtop, i32" not in ModuleCompiler(module).compile(through_table=True)
    tail = RECURSION.replace('(func $fail (export "fail") (unreachable))',
                             '(func (export "tail") (param i32) (result i32) (return_call $odd (local.get 0)))')
    assert tail != RECURSION
    ir = _ir(tail)
    assert "tailcc" in ir and "@e" not in ir.split("@wf_funcs")[1].split("\n")[0]


@pytest.fixture
def instance(llvm_engine):
    def make(bottom=lambda n: None):
        store = Store(llvm_engine)
        host = Func(store, FuncType([ValType.i32()], []), bottom)
        inst = Instance(store, Module(llvm_engine, RECURSION), [host])
        return store, inst.exports(store)
    return make


def _names(trap):
    return [f.func_name for f in trap.frames]


def test_a_trap_deep_in_register_height_recursion_lists_every_frame(instance):
    store, ex = instance()
    for _ in range(3):      # the same each time: the height in memory is given back
        with pytest.raises(Trap) as info:
            ex["down"](store, 40, 1)
        assert info.value.code is TrapCode.UNREACHABLE
        assert _names(info.value) == ["down"] * 41
        assert ex["down"](store, 40, 0) == 40
    with pytest.raises(Trap) as info:
        ex["even"](store, 32)       # odd, even, ... then $even divides by 0
    assert info.value.code is TrapCode.INTEGER_DIVISION_BY_ZERO
    assert _names(info.value) == ["even", "odd"] * 16 + ["even"]


def test_an_entry_through_the_table_reaches_register_height_code(instance):
    store, ex = instance()
    assert ex["viatable"](store, 25, 0) == 25
    with pytest.raises(Trap) as info:
        ex["viatable"](store, 7, 1)
    assert _names(info.value)[:8] == ["down"] * 8 and len(info.value.frames) == 9


def test_a_host_call_from_register_height_recursion_sees_the_height_in_memory(instance):
    # The host function enters wasm again; that entry's frames go above the recursion's, so
    # the recursion's height must be in memory when it calls out: else the nested frames
    # would overwrite its entries, and the outer trap would name the nested functions.
    nested = []

    def bottom(n):
        with pytest.raises(Trap) as info:
            ex["fail"](store)
        nested.append(_names(info.value))
        with pytest.raises(Trap) as info:
            ex["even"](store, 4)
        nested.append(_names(info.value))
        raise Trap("from the host")

    store, ex = instance(bottom)
    with pytest.raises(Trap) as info:
        ex["down"](store, 30, 0)
    assert nested == [["fail"], ["even", "odd", "even", "odd", "even"]]
    assert _names(info.value) == ["down"] * 31


def test_a_stack_overflow_in_register_height_recursion_is_clean(instance):
    store, ex = instance()
    with pytest.raises(Trap) as info:
        ex["down"](store, 10_000_000, 0)
    assert info.value.code is TrapCode.STACK_OVERFLOW
    assert set(_names(info.value)) == {"down"}
    with pytest.raises(Trap) as again:
        ex["down"](store, 10_000_000, 0)
    assert len(again.value.frames) == len(info.value.frames)


def test_decoded_binaries_split_the_same_functions():
    ir = ModuleCompiler(decode_module(wat2wasm(RECURSION))).compile()
    assert "ptr @e1, ptr @e2, ptr @e3, ptr @f4, ptr @f5" in ir


def _pathological(n: int) -> str:
    """$p nested deeper than NEST_LIMIT (compiled apart, in a batch of its own: the text made
    for the whole module is reused), calling $h; $r recurses; p(1) = n + 103."""
    step = "(local.set 1 (i32.add (local.get 1) (call $h (i32.const 1)))) (if (local.get 0) (then "
    return ('(module (func $h (param i32) (result i32) (local.get 0))'
            ' (func $r (param i32) (result i32) (if (result i32) (local.get 0)'
            '   (then (i32.add (i32.const 1) (call $r (i32.sub (local.get 0) (i32.const 1)))))'
            '   (else (i32.const 0))))'
            ' (func $p (export "p") (param i32) (result i32) (local i32) ' + step * n
            + "(local.set 1 (i32.add (local.get 1) (call $h (i32.const 3))))"
            + "(local.set 1 (i32.add (local.get 1) (i32.const 100)))" + "))" * n + " (local.get 1)))")


def test_a_pathological_function_compiled_apart_calls_the_others_through_their_thunks(llvm_engine, monkeypatch):
    from wasmforge.llvm.codegen import NEST_LIMIT
    monkeypatch.setenv("WASMFORGE_CACHE", "off")
    n = NEST_LIMIT + 44
    mc = ModuleCompiler(parse_module(_pathological(n)))
    mc.compile()
    # ($r keeps its height in a register; $p does not call it: its text is kept)
    assert mc.split == {1} and mc.pathological == {2} and 2 in mc.pathological_ir
    store = Store(llvm_engine)
    p = Instance(store, Module(llvm_engine, _pathological(n)), []).exports(store)["p"]
    assert p(store, 1) == n + 103


def test_the_depth_budget_is_whole_again_after_returns_and_traps_of_register_height_code(instance):
    # Its return gives back its frame's charge by subtraction (no value kept across its
    # calls): a return that gave back too little, or a trap that left the budget charged,
    # would make the same recursion overflow sooner each time.
    def bottom(n):
        with pytest.raises(Trap):
            ex["down"](store, 50, 1)     # a nested entry traps deep; the host goes on

    store, ex = instance(bottom)
    with pytest.raises(Trap) as info:
        ex["down"](store, 10_000_000, 0)
    depth = len(info.value.frames)
    for _ in range(1000):
        with pytest.raises(Trap):
            ex["down"](store, 200, 1)
        assert ex["down"](store, 30, 0) == 30
        with pytest.raises(Trap):
            ex["even"](store, 64)        # mutual recursion, then a division by zero
    with pytest.raises(Trap) as again:
        ex["down"](store, 10_000_000, 0)
    assert again.value.code is TrapCode.STACK_OVERFLOW
    assert len(again.value.frames) == depth


def _backtraces(engine) -> list:
    """The frames (names and offsets) of traps in and below register-height recursion."""
    out = []

    def bottom(n):
        with pytest.raises(Trap) as info:
            ex["even"](store, 6)
        out.append(info.value)

    store = Store(engine)
    host = Func(store, FuncType([ValType.i32()], []), bottom)
    ex = Instance(store, Module(engine, RECURSION), [host]).exports(store)
    assert ex["down"](store, 5, 0) == 5
    for name, args in (("down", (5, 1)), ("viatable", (3, 1)), ("even", (4,)), ("fail", ())):
        with pytest.raises(Trap) as info:
            ex[name](store, *args)
        out.append(info.value)
    return [[(f.func_name, f.func_offset) for f in trap.frames] for trap in out]


@pytest.mark.parametrize("opt_level", [0, 2])
def test_register_height_backtraces_are_the_interp_tiers_frame_for_frame(opt_level, monkeypatch):
    # (-O0 keeps @e<i>'s frame on the stack: tests/compat/test_frame_offsets.py runs -O2 only)
    from support import engine_for
    monkeypatch.setenv("WASMFORGE_CACHE", "off")
    assert _backtraces(engine_for("llvm", opt_level=opt_level)) == _backtraces(engine_for("interp"))


# $deep recurses without calling out (its returns give the height back only while profiled),
# then spins; "run" calls the host, $deep, then $leaf, which divides by zero.
PROFILED = '''(module
  (import "host" "ready" (func $ready))
  (func $deep (param $n i32) (param $spin i32) (result i32) (local $x i32)
    (if (result i32) (i32.eqz (local.get $n))
      (then
        (loop $l
          (local.set $x (i32.add (i32.mul (local.get $x) (i32.const 1103515245)) (i32.const 12345)))
          (local.set $spin (i32.sub (local.get $spin) (i32.const 1)))
          (br_if $l (local.get $spin)))
        (i32.and (local.get $x) (i32.const 0)))
      (else (i32.add (i32.const 1)
              (call $deep (i32.sub (local.get $n) (i32.const 1)) (local.get $spin))))))
  (func $leaf (param i32) (result i32) (i32.div_u (i32.const 1) (local.get 0)))
  (func $run (export "run") (param i32) (result i32)
    (call $ready)
    (drop (call $deep (i32.const 40) (local.get 0)))
    (call $leaf (i32.const 0))))'''


def test_a_profiler_stopped_while_register_height_code_runs_leaves_the_height_right(llvm_engine):
    # Started before $deep's frames enter, stopped while they run: they stored their height
    # on entry, so they must give their caller's back on return although the profiler is
    # gone (its flag stays set for the store's life); else $leaf, reading the height from
    # memory, would push above $deep's dead frames and its trap would list them.
    import threading
    import time

    from wasmforge.profile import Profiler

    store = Store(llvm_engine)
    profiler = Profiler(store)
    running = threading.Event()
    caught = []

    def ready():
        profiler.start()
        deadline = time.monotonic() + 10
        while profiler.samples == 0 and time.monotonic() < deadline:
            time.sleep(0.001)
        running.set()

    run = Instance(store, Module(llvm_engine, PROFILED),
                   [Func(store, FuncType([], []), ready)]).exports(store)["run"]

    def guest():
        try:
            run(store, 400_000_000)
        except Trap as trap:
            caught.append(trap)

    thread = threading.Thread(target=guest)
    thread.start()
    assert running.wait(30)
    time.sleep(0.05)                # (while $deep spins)
    profiler.stop()
    thread.join(60)
    assert profiler.samples > 0
    assert [t.code for t in caught] == [TrapCode.INTEGER_DIVISION_BY_ZERO]
    assert _names(caught[0]) == ["leaf", "run"]
