"""Tail calls (the tail-call proposal): return_call and return_call_indirect run in constant
stack space on every tier, count fuel and see epoch deadlines like other calls, and a trap in
a tail callee has a backtrace without the frames the tail calls replaced."""

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
    engine = engine_for("llvm")
    module = Module(engine, MUTUAL)
    assert module._compiled().tier == "baseline"
    # Baseline code calls through the function table (@t<i> thunks): tail calls too.
    assert _outcomes(engine, module) == [44, 99, 5, [1, 2]]
    again = Module.deserialize(engine, module.serialize())
    assert _outcomes(engine, again) == [44, 99, 5, [1, 2]]


@needs_llvm
def test_llvm_tail_calls_returning_through_memory_skip_baseline_code(monkeypatch, tmp_path):
    # Nine results are returned through memory, where LLVM makes a tail call a jump only in
    # optimised code: such a module is compiled optimised at once, so it never runs out of
    # stack, even on its first run.
    monkeypatch.setenv("WASMFORGE_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("WASMFORGE_LLVM_BASELINE", "1")
    monkeypatch.delenv("WASMFORGE_LLVM_LAZY", raising=False)
    engine = engine_for("llvm")
    module = Module(engine, encode_module(parse_module(MANY)))
    assert module._compiled().tier != "baseline"
    store = Store(engine)
    ex = Instance(store, module, []).exports(store)
    assert ex["many"](store, MILLION) == [1, 2, 3, 4, 5, 6, 7.0, 8.0, 9]
    # Two results or fewer: a jump at -O0 too, and baseline code as usual.
    assert Module(engine, encode_module(parse_module(MUTUAL)))._compiled().tier == "baseline"


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
