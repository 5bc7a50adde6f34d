"""Tail calls (the tail-call proposal): return_call and return_call_indirect run in constant
stack space on every tier, count fuel and see epoch deadlines like other calls, and a trap in
a tail callee has a backtrace without the frames the tail calls replaced."""

import ast
import os
import subprocess
import sys
import threading

import pytest
from support import engine_for, has_llvmlite, tier_params

from wasmforge.binary import decode_module, encode_module
from wasmforge.cli.inspect import features
from wasmforge.errors import Trap, TrapCode, ValidationError
from wasmforge.llvm import codegen as llvm_codegen
from wasmforge.llvm import compiler as llvm_compiler
from wasmforge.llvm.codegen import ModuleCompiler, uses_tail_calls
from wasmforge import Config, Engine, Func, FuncType, Instance, Module, Store, ValType
from wasmforge.text.parser import parse_module
from wasmforge.text.printer import print_module

TIERS = tier_params()

MILLION = 1_000_000

# even/odd with different signatures: odd takes an extra i32 and f64 and passes them on.
MUTUAL = """(module
  (type $sig (func (param i64) (result i32)))
  (table funcref (elem $even_i $odd_i))
  (func $even (export "even") (param i64) (result i32)
    (if (result i32) (i64.eqz (local.get 0))
      (then (i32.const 44))
      (else (return_call $odd (i64.sub (local.get 0) (i64.const 1)) (i32.const 7) (f64.const 2.5)))))
  (func $odd (export "odd") (param i64 i32 f64) (result i32)
    (if (result i32) (i64.eqz (local.get 0))
      (then (i32.add (i32.const 92) (local.get 1)))
      (else (return_call $even (i64.sub (local.get 0) (i64.const 1))))))
  (func $even_i (export "even_i") (param i64) (result i32)
    (if (result i32) (i64.eqz (local.get 0))
      (then (i32.const 44))
      (else (return_call_indirect (type $sig) (i64.sub (local.get 0) (i64.const 1)) (i32.const 1)))))
  (func $odd_i (param i64) (result i32)
    (if (result i32) (i64.eqz (local.get 0))
      (then (i32.const 99))
      (else (return_call_indirect (type $sig) (i64.sub (local.get 0) (i64.const 1)) (i32.const 0)))))
  ;; A tail callee with more parameters, then one with fewer, than its caller.
  (func $more (export "more") (param i32) (result i64)
    (return_call $three (local.get 0) (i64.const 10) (i64.const 100)))
  (func $three (param i32 i64 i64) (result i64)
    (return_call $none))
  (func $none (result i64) (i64.const 5))
  (func $fewer (export "fewer") (param i64 i64 i64 i64 i64 i64 i64 i64) (result i64)
    (return_call $one (i64.add (local.get 0) (local.get 7))))
  (func $one (param i64) (result i64) (local.get 0))
  ;; Multiple results through a tail call.
  (func $pair (export "pair") (param i32) (result i32 i64)
    (if (result i32 i64) (i32.eqz (local.get 0))
      (then (i32.const 1) (i64.const 2))
      (else (return_call $pair (i32.sub (local.get 0) (i32.const 1))))))
)"""


def instantiate(tier, wat, **settings):
    engine = engine_for(tier, **settings)
    store = Store(engine)
    return store, Instance(store, Module(engine, wat), []).exports(store)


@pytest.fixture(params=TIERS)
def tier(request):
    return request.param


def test_a_million_mutually_recursive_tail_calls_with_different_signatures(tier):
    store, ex = instantiate(tier, MUTUAL)
    assert ex["even"](store, MILLION) == 44
    assert ex["even"](store, MILLION + 1) == 99
    assert ex["odd"](store, 0, 5, 0.0) == 97
    assert ex["odd"](store, MILLION, 0, 0.0) == 99


def test_a_million_indirect_tail_calls(tier):
    store, ex = instantiate(tier, MUTUAL)
    assert ex["even_i"](store, MILLION) == 44
    assert ex["even_i"](store, MILLION + 1) == 99


def test_callee_with_more_or_fewer_params_than_the_caller(tier):
    store, ex = instantiate(tier, MUTUAL)
    assert ex["more"](store, 3) == 5
    assert ex["fewer"](store, 1, 2, 3, 4, 5, 6, 7, 8) == 9


def test_multiple_results_through_a_long_tail_call_chain(tier):
    store, ex = instantiate(tier, MUTUAL)
    assert ex["pair"](store, 100_000) == [1, 2]


MANY = """(module
  (func $many (export "many") (param i32) (result i64 i64 i64 i64 i64 i64 f64 f64 i32)
    (if (result i64 i64 i64 i64 i64 i64 f64 f64 i32) (i32.eqz (local.get 0))
      (then (i64.const 1) (i64.const 2) (i64.const 3) (i64.const 4) (i64.const 5)
            (i64.const 6) (f64.const 7) (f64.const 8) (i32.const 9))
      (else (return_call $other (i32.sub (local.get 0) (i32.const 1)) (i64.const 0)
              (i64.const 0) (i64.const 0) (i64.const 0) (i64.const 0) (i64.const 0)
              (i64.const 0) (local.get 0)))))
  (func $other (param i32 i64 i64 i64 i64 i64 i64 i64 i32)
               (result i64 i64 i64 i64 i64 i64 f64 f64 i32)
    (return_call $many (local.get 0))))"""


def test_results_in_memory_and_arguments_on_the_stack(tier):
    # Nine results do not fit in registers and nine parameters spill to the native stack:
    # the tail calls between the two shapes still run in constant space.
    store, ex = instantiate(tier, MANY)
    assert ex["many"](store, MILLION) == [1, 2, 3, 4, 5, 6, 7.0, 8.0, 9]


def test_tail_calls_do_not_use_the_wasm_stack_budget(tier):
    # 4 KiB of budget is a few dozen frames: far fewer than the chain is long.
    store, ex = instantiate(tier, MUTUAL, max_wasm_stack=4096)
    assert ex["even"](store, 10_000) == 44


COUNT = """(module
  (func $tail (export "tail") (param i32) (result i32)
    (if (i32.eqz (local.get 0)) (then (return (i32.const 0))))
    (return_call $tail (i32.sub (local.get 0) (i32.const 1))))
  (func $plain (export "plain") (param i32) (result i32)
    (if (i32.eqz (local.get 0)) (then (return (i32.const 0))))
    (call $plain (i32.sub (local.get 0) (i32.const 1))))
  (func $spin (export "spin") (return_call $spin))
)"""


def test_a_tail_call_costs_the_fuel_of_a_call(tier):
    # The two functions execute the same costed instructions (call and return_call cost 1).
    store, ex = instantiate(tier, COUNT, consume_fuel=True)
    store.set_fuel(10**6)
    assert ex["tail"](store, 100) == 0
    used_tail = 10**6 - store.get_fuel()
    store.set_fuel(10**6)
    assert ex["plain"](store, 100) == 0
    used_plain = 10**6 - store.get_fuel()
    # Per level: local.get, i32.eqz, if; then local.get, i32.const, i32.sub and the call;
    # at the bottom the i32.const and return instead.
    assert used_tail == used_plain == 100 * 7 + 5


def test_an_endless_tail_call_loop_runs_out_of_fuel(tier):
    store, ex = instantiate(tier, COUNT, consume_fuel=True)
    store.set_fuel(50_000)
    with pytest.raises(Trap) as info:
        ex["spin"](store)
    assert info.value.code is TrapCode.OUT_OF_FUEL
    assert store.get_fuel() == 0


def test_an_endless_tail_call_loop_is_interrupted_by_the_epoch(tier):
    engine = engine_for(tier, epoch_interruption=True)
    store = Store(engine)
    ex = Instance(store, Module(engine, COUNT), []).exports(store)
    store.set_epoch_deadline(1)
    timer = threading.Timer(0.2, engine.increment_epoch)
    timer.start()
    try:
        with pytest.raises(Trap) as info:
            ex["spin"](store)
    finally:
        timer.cancel()
    assert info.value.code is TrapCode.INTERRUPT


TRAPS = """(module
  (func $outer (export "outer") (result i32) (i32.add (i32.const 1) (call $middle)))
  (func $middle (result i32) (return_call $inner (i32.const 0)))
  (func $inner (param i32) (result i32) (i32.div_u (i32.const 1) (local.get 0)))
)"""


def test_a_trap_in_a_tail_callee_has_the_callee_and_the_real_caller_in_its_backtrace(tier):
    store, ex = instantiate(tier, TRAPS)
    with pytest.raises(Trap) as info:
        ex["outer"](store)
    assert info.value.code is TrapCode.INTEGER_DIVISION_BY_ZERO
    # $middle was replaced by $inner: it is no longer on the stack.
    assert [(f.func_index, f.func_name) for f in info.value.frames] == [(2, "inner"), (0, "outer")]


def test_ordinary_recursion_through_a_tail_calling_function_still_overflows(tier):
    wat = """(module (func $f (export "f") (param i32) (result i32)
      (if (i32.eqz (local.get 0)) (then (return_call $f (i32.const 0))))
      (i32.add (i32.const 1) (call $f (local.get 0)))))"""
    store, ex = instantiate(tier, wat)
    with pytest.raises(Trap) as info:
        ex["f"](store, 1)
    assert info.value.code is TrapCode.STACK_OVERFLOW


def test_switched_off_the_proposal_is_refused_by_name():
    config = Config()
    config.wasm_tail_call = False
    with pytest.raises(ValidationError, match=r"uses the tail-call proposal \(return_call\), which is disabled"):
        Module(Engine(config), COUNT)


def test_the_callee_must_return_the_callers_results():
    with pytest.raises(ValidationError, match="type mismatch"):
        Module(Engine(), """(module (func $g (result i64) (i64.const 0))
          (func (result i32) (return_call $g)))""")


def test_text_and_binary_round_trip():
    m = parse_module(MUTUAL)
    data = encode_module(m)
    assert bytes([0x12]) in data and bytes([0x13]) in data
    again = parse_module(print_module(decode_module(data)))
    assert encode_module(again) == data
    text = print_module(decode_module(data))
    assert "return_call " in text and "return_call_indirect " in text


def test_inspect_lists_the_proposal():
    assert features(parse_module(COUNT)) == ["tail-call"]
    assert features(parse_module("(module (func (call 0)))")) == []


# ----- the llvm tier's other ways to compile: lazily, baseline first, from an artifact -----

needs_llvm = pytest.mark.skipif(not has_llvmlite(),
                                reason="LLVM TIER NOT TESTED: llvmlite is not installed")


def _outcomes(engine, module):
    store = Store(engine)
    ex = Instance(store, module, []).exports(store)
    return [ex["even"](store, MILLION), ex["even_i"](store, MILLION + 1),
            ex["more"](store, 3), ex["pair"](store, 1000)]


@needs_llvm
def test_llvm_lazy_compilation_one_function_per_batch(monkeypatch, tmp_path):
    monkeypatch.setenv("WASMFORGE_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("WASMFORGE_LLVM_LAZY", "1")
    monkeypatch.setattr(llvm_compiler, "BATCH_CODE_BYTES", 1)
    engine = engine_for("llvm")
    module = Module(engine, MUTUAL)
    assert module._compiled().lazy
    # Each tail call of a function not compiled yet goes through its thunk, also a tail call.
    assert _outcomes(engine, module) == [44, 99, 5, [1, 2]]


@needs_llvm
def test_llvm_baseline_code_and_artifacts(monkeypatch, tmp_path):
    monkeypatch.setenv("WASMFORGE_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("WASMFORGE_LLVM_BASELINE", "1")
    monkeypatch.delenv("WASMFORGE_LLVM_LAZY", raising=False)
    engine = engine_for("llvm", opt_level=2)    # baseline code is made at optimising levels
    module = Module(engine, MUTUAL)
    assert module._compiled().tier == "baseline"
    # Baseline code calls through the function table (@t<i> thunks): tail calls too.
    assert _outcomes(engine, module) == [44, 99, 5, [1, 2]]
    again = Module.deserialize(engine, module.serialize())
    assert _outcomes(engine, again) == [44, 99, 5, [1, 2]]


@needs_llvm
def test_llvm_tail_calls_returning_through_memory_run_in_baseline_code(monkeypatch, tmp_path):
    # Nine results go through the result pointer, which the tail call passes on: a jump in
    # baseline code too, so such a module starts on baseline code like any other.
    monkeypatch.setenv("WASMFORGE_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("WASMFORGE_LLVM_BASELINE", "1")
    monkeypatch.delenv("WASMFORGE_LLVM_LAZY", raising=False)
    engine = engine_for("llvm", opt_level=2)
    module = Module(engine, encode_module(parse_module(MANY)))
    assert module._compiled().tier == "baseline"
    store = Store(engine)
    ex = Instance(store, module, []).exports(store)
    assert ex["many"](store, MILLION) == [1, 2, 3, 4, 5, 6, 7.0, 8.0, 9]


@needs_llvm
def test_more_than_two_results_go_through_a_result_pointer_the_tail_call_passes_on():
    ir = ModuleCompiler(parse_module(MANY)).compile()
    shape = "{i64, i64, i64, i64, i64, i64, double, double, i32}"
    assert "define internal tailcc void @f0(ptr %vm, ptr %res, i32 %p0)" in ir
    assert "tail call tailcc void @f0(ptr %vm, ptr %res, " in ir
    assert f"getelementptr {shape}, ptr %res, i32 0, i32 8" in ir
    # The entry trampoline passes a buffer of its own and copies the results out.
    assert f"%rbuf = alloca {shape}" in ir


@needs_llvm
def test_only_modules_making_tail_calls_pay_for_the_tail_call_convention():
    # Callee-pops (tailcc) costs every call a little, so a module without tail calls keeps
    # fastcc and its code is what it was before the proposal.
    plain = parse_module("(module (func $f (result i32) (call $g)) (func $g (result i32) (i32.const 1)))")
    assert ModuleCompiler(plain).cc == "fastcc"
    assert "tailcc" not in ModuleCompiler(plain).compile()
    tail = parse_module(COUNT)
    assert ModuleCompiler(tail).cc == "tailcc"
    ir = ModuleCompiler(tail).compile()
    assert "fastcc" not in ir.replace("fastcc void @wf_trap", "")
    assert "tail call tailcc" in ir and "musttail" not in ir


@needs_llvm
def test_the_convention_of_a_big_binary_does_not_depend_on_decoding(monkeypatch):
    # Past LAZY_THRESHOLD of code the bodies stay raw and are not decoded for this: the
    # opcode bytes decide (an over-approximation), the same in every run.
    monkeypatch.setattr(llvm_codegen, "LAZY_THRESHOLD", 1)

    def binary(wat):
        return decode_module(encode_module(parse_module(wat)), lazy=True)

    assert uses_tail_calls(binary(COUNT))
    assert not uses_tail_calls(binary("(module (func (result i32) (i32.const 1)))"))
    assert uses_tail_calls(binary("(module (func (result i32) (i32.const 18)))"))   # 0x12
    monkeypatch.undo()
    assert not uses_tail_calls(binary("(module (func (result i32) (i32.const 18)))"))


def test_a_tail_call_of_an_imported_host_function(tier):
    engine = engine_for(tier)
    store = Store(engine)
    seen = []

    def host(x):
        seen.append(x)
        return x * 2

    wat = """(module (import "env" "h" (func $h (param i32) (result i32)))
      (func (export "f") (param i32) (result i32) (return_call $h (i32.add (local.get 0) (i32.const 1)))))"""
    h = Func(store, FuncType([ValType.i32()], [ValType.i32()]), host)
    ex = Instance(store, Module(engine, wat), [h]).exports(store)
    assert ex["f"](store, 20) == 42
    assert seen == [21]


# Tail calls between functions whose stack-argument areas differ (nine i64 parameters do not
# fit in registers; one does): the callee pops a different amount than the caller's caller
# pushed, so the tail call must move the return address.  A million of them.
STACK_ARGS = """(module
  (func $small (export "small") (param i64) (result i64)
    (if (result i64) (i64.eqz (local.get 0))
      (then (i64.const 7))
      (else (return_call $big (i64.sub (local.get 0) (i64.const 1)) (i64.const 1) (i64.const 2)
              (i64.const 3) (i64.const 4) (i64.const 5) (i64.const 6) (i64.const 7)
              (local.get 0)))))
  (func $big (export "big") (param i64 i64 i64 i64 i64 i64 i64 i64 i64) (result i64)
    (if (result i64) (i64.eqz (local.get 0))
      (then (i64.add (local.get 7) (local.get 8)))
      (else (return_call $small (i64.sub (local.get 0) (i64.const 1)))))))"""

# Run in a child process: code that gets a tail call wrong crashes (a segfault), which must be
# a failed test, not a dead pytest.
_CHILD = """
import sys
from wasmforge import Engine, Instance, Module, Store
from wasmforge.binary import encode_module
from wasmforge.text.parser import parse_module
from wasmforge import Config
config = Config()
config.strategy = "llvm"
engine = Engine(config)
out = []
for wat in (sys.argv[1], sys.argv[2]):
    module = Module(engine, encode_module(parse_module(wat)))
    compiled = module._compiled()
    out.append((compiled.tier, compiled.lazy, getattr(compiled, "_lazy_baseline", False)))
    store = Store(engine)
    ex = Instance(store, module, []).exports(store)
    if "even" in ex:
        out += [ex["even"](store, 1_000_000), ex["even_i"](store, 1_000_001),
                ex["odd"](store, 0, 5, 0.0), ex["more"](store, 3),
                ex["fewer"](store, 1, 2, 3, 4, 5, 6, 7, 8), ex["pair"](store, 100_000)]
    else:
        out += [ex["small"](store, 1_000_000), ex["small"](store, 1_000_001),
                ex["big"](store, 1_000_000, 0, 0, 0, 0, 0, 0, 1, 2)]
print(repr(out))
"""

LEVELS = {
    "O0": {"WASMFORGE_LLVM_OPT": "0", "WASMFORGE_LLVM_BASELINE": "0"},
    "baseline": {"WASMFORGE_LLVM_BASELINE": "1"},
    "lazy-baseline": {"WASMFORGE_LLVM_BASELINE": "1", "WASMFORGE_LLVM_LAZY": "1"},
    "O2": {"WASMFORGE_LLVM_OPT": "2", "WASMFORGE_LLVM_BASELINE": "0"},
}


@needs_llvm
@pytest.mark.parametrize("level", sorted(LEVELS))
def test_llvm_tail_calls_with_other_stack_arguments_at_every_level(level, tmp_path):
    env = {k: v for k, v in os.environ.items()
           if k not in ("WASMFORGE_LLVM_OPT", "WASMFORGE_LLVM_BASELINE", "WASMFORGE_LLVM_LAZY")}
    env.update(LEVELS[level], WASMFORGE_CACHE_DIR=str(tmp_path))
    child = subprocess.run([sys.executable, "-c", _CHILD, MUTUAL, STACK_ARGS], env=env,
                           capture_output=True, text=True, timeout=600)
    assert child.returncode == 0, f"exit {child.returncode}: {child.stderr[-2000:]}"
    # How the code was compiled: (tier, lazily, lazy batches at the baseline level).
    tier = {"baseline": ("baseline", False, False),
            "lazy-baseline": ("optimised", True, True)}.get(level, ("optimised", False, False))
    assert child.stdout.strip() == repr(
        [tier, 44, 99, 97, 5, 9, [1, 2], tier, 7, 8, 8]), child.stdout


# Mutual tail calls between functions with 3, 4 and 6 results (more than two: they go through
# a result pointer the tail call passes on, prelude.REG_RESULTS), i32/i64/f64/v128 mixed,
# made directly, through return_call_indirect and through return_call_ref.  $a<k> takes two
# parameters, $b<k> nine (some on the native stack), so each tail call also changes the
# stack-argument area.  Both add n to the accumulator and count n down; whichever reaches 0
# returns results made of the accumulator ($b adds 1000 first).  Four integer results do
# not fit in x86-64's three integer return registers: before the result pointer, LLVM
# returned the 4- and 6-result shapes through memory of its own and never made such a tail
# call a jump at -O0 or in baseline code ("call stack exhausted"); the 3-result one fits.
RESULT_SHAPES = {3: ("i32", "v128", "f64"), 4: ("i64", "i32", "i64", "i32"),
                 6: ("i64", "v128", "i32", "f64", "i64", "i32")}
TAIL_MODES = ("direct", "indirect", "ref")


def _results_wat(shape, acc):
    make = {"i32": "(i32.add (i32.wrap_i64 {a}) (i32.const {k}))",
            "i64": "(i64.mul {a} (i64.const {k1}))",
            "f64": "(f64.add (f64.convert_i64_u {a}) (f64.const {k}.5))",
            "v128": "(i64x2.replace_lane 1 (i64x2.splat {a}) (i64.const {k}))"}
    return " ".join(make[t].format(a=acc, k=k, k1=k + 1) for k, t in enumerate(shape))


def _results_py(shape, acc):
    out = []
    for k, t in enumerate(shape):
        if t == "i32":
            v = (acc + k) & 0xFFFFFFFF
            out.append(v - (1 << 32) if v >> 31 else v)
        elif t == "i64":
            out.append(acc * (k + 1))
        elif t == "f64":
            out.append(float(acc) + k + 0.5)
        else:
            out.append(acc | k << 64)
    return out


def many_results_module() -> str:
    parts, elems = [], []
    for n, shape in RESULT_SHAPES.items():
        res = " ".join(shape)
        parts.append(f"(type $ta{n} (func (param i32 i64) (result {res})))")
        parts.append(f"(type $tb{n} (func (param i64 i32 f64 i32 i64 i64 i64 i64 i64) (result {res})))")
        for mode in TAIL_MODES:
            a, b = f"$a{n}_{mode}", f"$b{n}_{mode}"
            elems += [a, b]
            ia, ib = len(elems) - 2, len(elems) - 1
            to_b = ("(i64.add (local.get 1) (i64.extend_i32_u (local.get 0))) "
                    "(i32.sub (local.get 0) (i32.const 1)) (f64.const 1.5) (i32.const 7) "
                    "(i64.const 1) (i64.const 2) (i64.const 3) (i64.const 4) (i64.const 1000)")
            to_a = ("(i32.sub (local.get 1) (i32.const 1)) "
                    "(i64.add (local.get 0) (i64.extend_i32_u (local.get 1)))")
            call_b, call_a = {
                "direct": (f"(return_call {b} {to_b})", f"(return_call {a} {to_a})"),
                "indirect": (f"(return_call_indirect (type $tb{n}) {to_b} (i32.const {ib}))",
                             f"(return_call_indirect (type $ta{n}) {to_a} (i32.const {ia}))"),
                "ref": (f"(return_call_ref $tb{n} {to_b} (ref.func {b}))",
                        f"(return_call_ref $ta{n} {to_a} (ref.func {a}))"),
            }[mode]
            parts.append(
                f'(func {a} (export "a{n}_{mode}") (type $ta{n}) (param i32 i64) (result {res})\n'
                f"  (if (result {res}) (i32.eqz (local.get 0))\n"
                f"    (then {_results_wat(shape, '(local.get 1)')})\n"
                f"    (else {call_b})))")
            parts.append(
                f"(func {b} (type $tb{n}) (param i64 i32 f64 i32 i64 i64 i64 i64 i64) (result {res})\n"
                f"  (if (result {res}) (i32.eqz (local.get 1))\n"
                f"    (then {_results_wat(shape, '(i64.add (local.get 0) (local.get 8))')})\n"
                f"    (else {call_a})))")
    parts.append(f"(table {len(elems)} funcref)")
    parts.append(f"(elem (i32.const 0) func {' '.join(elems)})")
    return "(module\n" + "\n".join(parts) + ")"


def many_results_expected(n: int, count: int) -> list:
    """The model of many_results_module's chain started at $a<n> with count."""
    acc = count * (count + 1) // 2
    return _results_py(RESULT_SHAPES[n], acc if count % 2 == 0 else acc + 1000)


def test_mutual_tail_calls_with_more_than_two_results(tier):
    store, ex = instantiate(tier, many_results_module())
    for n in RESULT_SHAPES:
        for mode in TAIL_MODES:
            for count in (0, 1, 10_000, 10_001):
                assert ex[f"a{n}_{mode}"](store, count, 0) == many_results_expected(n, count), (
                    n, mode, count)


VOID_CHAIN = """(module (global $g (export "g") (mut i64) (i64.const 0))
  (func $a (export "a") (param i32 i64)
    (if (i32.eqz (local.get 0)) (then (global.set $g (local.get 1)) (return)))
    (return_call $b (i64.add (local.get 1) (i64.extend_i32_u (local.get 0)))
                    (i32.sub (local.get 0) (i32.const 1))))
  (func $b (param i64 i32)
    (if (i32.eqz (local.get 1)) (then (global.set $g (local.get 0)) (return)))
    (return_call $a (i32.sub (local.get 1) (i32.const 1))
                    (i64.add (local.get 0) (i64.extend_i32_u (local.get 1))))))"""


@needs_llvm
@pytest.mark.parametrize("baseline", ["0", "1"])
def test_llvm_lazy_batches_pass_the_result_pointer_on(monkeypatch, tmp_path, baseline):
    # One function per batch: every tail call goes through the thunk of a function of another
    # batch (trampolines.lazy_thunk), which passes the result pointer on in a tail call too.
    # Optimised batches inline the thunk: a void tail call (a result pointer's, or of a
    # function without results) stayed a call there while the thunk had an alloca.
    monkeypatch.setenv("WASMFORGE_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("WASMFORGE_LLVM_LAZY", "1")
    monkeypatch.setenv("WASMFORGE_LLVM_BASELINE", baseline)
    monkeypatch.setattr(llvm_compiler, "BATCH_CODE_BYTES", 1)
    engine = engine_for("llvm", opt_level=2)
    module = Module(engine, many_results_module())
    assert module._compiled().lazy
    assert module._compiled()._lazy_baseline == (baseline == "1")
    store = Store(engine)
    ex = Instance(store, module, []).exports(store)
    for n in RESULT_SHAPES:
        for mode in TAIL_MODES:
            assert ex[f"a{n}_{mode}"](store, MILLION + 1, 0) == many_results_expected(n, MILLION + 1)
    store = Store(engine)
    ex = Instance(store, Module(engine, VOID_CHAIN), []).exports(store)
    ex["a"](store, MILLION, 0)
    assert ex["g"].value(store) == MILLION * (MILLION + 1) // 2


FOUR = "i32 i64 f64 i64"
RESULTS_ACROSS = f"""(module
  (import "env" "h" (func $h (param i32) (result {FOUR})))
  (type $t4 (func (param i32) (result {FOUR})))
  (tag $e (param i32))
  (table funcref (elem $four $thrower))
  (elem declare func $four)
  (func $four (param i32) (result {FOUR})
    (local.get 0) (i64.const -2) (f64.const 2.5) (i64.extend_i32_s (local.get 0)))
  (func $thrower (param i32) (result {FOUR})
    (if (local.get 0) (then (throw $e (local.get 0))))
    (return_call $four (i32.const 1)))
  (func (export "catch") (param i32) (result {FOUR})
    (block $c (result i32)
      (try_table (catch $e $c) (return (call $thrower (local.get 0))))
      (unreachable))
    (i64.const 0) (f64.const 0) (i64.const 0))
  (func (export "host") (param i32) (result {FOUR}) (return_call $h (local.get 0)))
  (func (export "indirect") (param i32) (result {FOUR})
    (call_indirect (type $t4) (local.get 0) (i32.const 0)))
  (func (export "ref") (param i32) (result {FOUR})
    (call_ref $t4 (local.get 0) (ref.func $four)))
)"""


def test_more_than_two_results_across_exceptions_hosts_tables_and_references(tier):
    # The result buffer is read only after the exception check; a tail call of a host
    # function and calls through a table or a reference agree on it with the callee.
    engine = engine_for(tier)
    store = Store(engine)
    i32, i64, f64 = ValType.i32(), ValType.i64(), ValType.f64()
    h = Func(store, FuncType([i32], [i32, i64, f64, i64]), lambda x: (x + 1, x * 3, x / 4, -x))
    ex = Instance(store, Module(engine, RESULTS_ACROSS), [h]).exports(store)
    assert ex["catch"](store, 0) == [1, -2, 2.5, 1]
    assert ex["catch"](store, 9) == [9, 0, 0.0, 0]
    assert ex["host"](store, 8) == [9, 24, 2.0, -8]
    assert ex["indirect"](store, -5) == [-5, -2, 2.5, -5]
    assert ex["ref"](store, 6) == [6, -2, 2.5, 6]


_MANY_CHILD = """
import sys
from wasmforge import Config, Engine, Instance, Module, Store
from wasmforge.binary import encode_module
from wasmforge.text.parser import parse_module
config = Config()
config.strategy = "llvm"
engine = Engine(config)
module = Module(engine, encode_module(parse_module(sys.argv[1])))
compiled = module._compiled()
store = Store(engine)
ex = Instance(store, module, []).exports(store)
out = {"how": (compiled.tier, compiled.lazy, getattr(compiled, "_lazy_baseline", False))}
for name in sorted(ex):
    out[name] = [ex[name](store, count, 0) for count in (1_000_000, 1_000_001)]
print(repr(out))
"""


@needs_llvm
@pytest.mark.parametrize("level", sorted(LEVELS))
def test_llvm_a_million_tail_calls_with_more_than_two_results_at_every_level(level, tmp_path):
    # Before the result pointer, such a chain grew the native stack at -O0 and through a
    # table or reference: "call stack exhausted" (or a crash, hence the child process).
    env = {k: v for k, v in os.environ.items()
           if k not in ("WASMFORGE_LLVM_OPT", "WASMFORGE_LLVM_BASELINE", "WASMFORGE_LLVM_LAZY")}
    env.update(LEVELS[level], WASMFORGE_CACHE_DIR=str(tmp_path))
    child = subprocess.run([sys.executable, "-c", _MANY_CHILD, many_results_module()], env=env,
                           capture_output=True, text=True, timeout=600)
    assert child.returncode == 0, f"exit {child.returncode}: {child.stderr[-2000:]}"
    tier = {"baseline": ("baseline", False, False),
            "lazy-baseline": ("optimised", True, True)}.get(level, ("optimised", False, False))
    expected = {"how": tier}
    for n in RESULT_SHAPES:
        for mode in TAIL_MODES:
            expected[f"a{n}_{mode}"] = [many_results_expected(n, c) for c in (1_000_000, 1_000_001)]
    assert ast.literal_eval(child.stdout.strip()) == expected, child.stdout[-2000:]
