"""Lazy compilation of large modules on the llvm tier (wasmforge/llvm/compiler.py)."""

import importlib.util
import time

import pytest

from wasmforge import Instance, Module, Store, Trap, wat2wasm
from wasmforge.llvm import compiler
from wasmforge.api.engine import Config, Engine

from support import ROOT

WAT = """
(module
  (type $t (func (param i32) (result i32)))
  (table 4 funcref)
  (elem (i32.const 0) $a $b $far)
  (func $a (param i32) (result i32) (i32.add (local.get 0) (i32.const 1)))
  (func $b (param i32) (result i32) (call $a (i32.mul (local.get 0) (i32.const 2))))
  (func $c (export "c") (param i32) (result i32) (call $b (local.get 0)))
  (func $far (param i32) (result i32) (i32.sub (local.get 0) (i32.const 100)))
  (func (export "ind") (param i32 i32) (result i32)
    (call_indirect (type $t) (local.get 1) (local.get 0)))
  (func $down (export "down") (param i32) (result i32)
    (if (i32.eqz (local.get 0)) (then unreachable))
    (call $down (i32.sub (local.get 0) (i32.const 1))))
  (func (export "fib") (param i64) (result i64)
    (if (result i64) (i64.lt_u (local.get 0) (i64.const 2)) (then (local.get 0))
      (else (i64.add (call $fib2 (i64.sub (local.get 0) (i64.const 1)))
                     (call $fib2 (i64.sub (local.get 0) (i64.const 2)))))))
  (func $fib2 (param i64) (result i64)
    (if (result i64) (i64.lt_u (local.get 0) (i64.const 2)) (then (local.get 0))
      (else (i64.add (call $fib2 (i64.sub (local.get 0) (i64.const 1)))
                     (call $fib2 (i64.sub (local.get 0) (i64.const 2))))))))
"""


@pytest.fixture
def engine(monkeypatch, tmp_path):
    monkeypatch.setenv("WASMFORGE_CACHE_DIR", str(tmp_path))
    config = Config()
    config.strategy = "llvm"
    return Engine(config)


def exports(engine, module):
    store = Store(engine)
    return store, Instance(store, module, []).exports(store)


def run_all(engine, module):
    store, ex = exports(engine, module)
    out = [ex["c"](store, 5), ex["fib"](store, 20)]
    out += [ex["ind"](store, k, 50) for k in range(3)]
    with pytest.raises(Trap) as info:
        ex["down"](store, 3)
    out.append((info.value.message, info.value.frames))
    return out


def lazy_module(engine, monkeypatch, wat=WAT):
    monkeypatch.setenv("WASMFORGE_LLVM_LAZY", "1")
    monkeypatch.setattr(compiler, "BATCH_CODE_BYTES", 1)    # one function per batch
    return Module(engine, wat)


def test_lazy_compilation_gives_the_eager_results(engine, monkeypatch):
    monkeypatch.setenv("WASMFORGE_LLVM_LAZY", "0")
    eager = run_all(engine, Module(engine, WAT))
    assert eager[:5] == [11, 6765, 51, 101, -50]
    assert run_all(engine, lazy_module(engine, monkeypatch)) == eager


def test_lazy_module_compiles_only_what_runs(engine, monkeypatch):
    module = lazy_module(engine, monkeypatch)
    store, ex = exports(engine, module)
    code = module._compiled()
    assert code.lazy and not any(code.func_addrs)
    assert ex["c"](store, 5) == 11
    # c, then b and a through the thunks; nothing else.
    assert [bool(a) for a in code.func_addrs] == [True, True, True, False, False, False, False, False]


def test_batch_holds_the_direct_callees_breadth_first(engine, monkeypatch):
    monkeypatch.setenv("WASMFORGE_LLVM_LAZY", "1")
    module = Module(engine, WAT)
    store, ex = exports(engine, module)
    assert ex["c"](store, 1) == 3
    assert [bool(a) for a in module._compiled().func_addrs[:4]] == [True, True, True, False]


def test_a_warm_run_makes_the_cold_runs_batches_without_decoding_bodies(engine, monkeypatch):
    # The module cache keeps which batch each call made (its "plan"): finding a batch's
    # callees decodes every body in it, a quarter of a warm run of a Go program before.
    monkeypatch.setenv("WASMFORGE_LLVM_LAZY", "1")
    wasm = wat2wasm(WAT)
    cold = Module(engine, wasm)
    expected = run_all(engine, cold)
    assert expected[:5] == [11, 6765, 51, 101, -50]

    def decoded(*args):
        raise AssertionError("a body decoded for its callees on a warm run")
    monkeypatch.setattr(compiler, "callees", decoded)
    warm = Module(engine, wasm)
    assert warm._compiled() is not cold._compiled() and warm._compiled().lazy
    assert run_all(engine, warm) == expected


def test_a_freshly_compiled_batch_is_mapped_by_our_loader(engine, monkeypatch):
    # Not kept in an MCJIT engine, which holds the batch's whole LLVM module in memory.
    from wasmforge.llvm import jit, loader
    if not jit.use_loader():
        pytest.skip("our loader handles Linux x86-64 only")
    loaded = []
    real = jit.load_object
    monkeypatch.setattr(jit, "load_object", lambda *a, **k: loaded.append(a) or real(*a, **k))
    monkeypatch.setenv("WASMFORGE_LLVM_LAZY", "1")
    module = Module(engine, WAT)    # (whole batches: $c's inlines $b and $a, llvm/copies.py)
    store, ex = exports(engine, module)
    assert ex["c"](store, 5) == 11
    assert ex["fib"](store, 20) == 6765
    batches = module._compiled()._batches[1:]           # (the first: the entry trampolines)
    assert batches and all(isinstance(b, loader.Image) for b in batches)
    assert len(loaded) == len(batches), "a batch's object code mapped twice"


def test_call_indirect_reaches_a_function_compiled_later(engine, monkeypatch):
    module = lazy_module(engine, monkeypatch)
    store, ex = exports(engine, module)
    assert ex["ind"](store, 2, 150) == 50        # $far, not compiled yet: through Python
    assert ex["ind"](store, 2, 150) == 50        # now native (the mirror was rebuilt)
    assert module._compiled().func_addrs[3]


def test_instances_share_the_batches(engine, monkeypatch):
    module = lazy_module(engine, monkeypatch)
    s1, ex1 = exports(engine, module)
    s2, ex2 = exports(engine, module)
    assert ex1["fib"](s1, 10) == 55
    assert ex2["fib"](s2, 11) == 89


def test_auto_threshold_counts_functions(engine, monkeypatch):
    monkeypatch.delenv("WASMFORGE_LLVM_LAZY", raising=False)
    monkeypatch.setattr(compiler, "LAZY_FUNCS", 7)
    assert Module(engine, WAT)._compiled().lazy
    monkeypatch.setattr(compiler, "LAZY_FUNCS", 8)
    assert not Module(engine, WAT)._compiled().lazy


def test_a_module_with_an_interpreter_sized_function_compiles_lazily(engine, monkeypatch):
    # One function of LAZY_FUNC_BYTES or more (an interpreter's dispatch loop, where a run
    # stays in one frame) makes the module lazy, so it never starts on interp (tiering.py),
    # where that frame would stay to its end.
    from wasmforge import tiering
    from wasmforge.binary.decode import decode_module
    monkeypatch.delenv("WASMFORGE_LLVM_LAZY", raising=False)
    monkeypatch.delenv("WASMFORGE_TIERING", raising=False)
    monkeypatch.setattr(compiler, "_single_threaded", lambda: True)
    step = "(local.set 0 (i32.add (local.get 0) (i32.const 1)))"
    big = wat2wasm(f'(module (func (export "f") (param i32) (result i32) {step * 10000} (local.get 0)))')
    module = decode_module(big)
    assert compiler.code_bytes(module.funcs[0]) >= max(compiler.LAZY_FUNC_BYTES, tiering.MIN_CODE_BYTES)
    assert compiler.wants_lazy(module)
    assert not tiering.wants_tiering(module, engine)
    assert Module(engine, big)._compiled().lazy
    small = decode_module(wat2wasm(f'(module (func (param i32) (result i32) {step * 100} (local.get 0)))'))
    assert not compiler.wants_lazy(small)
    # A module below the tiered start's floor takes no tiered start: one function of
    # LAZY_FUNC_BYTES there keeps the eager compile (and its optimised recompile).
    alone = decode_module(wat2wasm(f'(module (func (param i32) (result i32) {step * 5700} (local.get 0)))'))
    assert compiler.LAZY_FUNC_BYTES <= compiler.code_bytes(alone.funcs[0]) < tiering.MIN_CODE_BYTES
    assert not compiler.wants_lazy(alone)


def test_serializing_a_lazy_module_compiles_all_of_it(engine, monkeypatch):
    module = lazy_module(engine, monkeypatch)
    data = module.serialize()
    monkeypatch.setenv("WASMFORGE_LLVM_LAZY", "0")
    restored = Module.deserialize(engine, data)
    assert not restored._compiled().lazy
    assert run_all(engine, restored)[:2] == [11, 6765]


def _many_funcs():
    spec = importlib.util.spec_from_file_location("make_many_funcs",
                                                  ROOT / "benchmarks" / "make_many_funcs.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_five_thousand_functions_start_fast(engine, monkeypatch):
    monkeypatch.delenv("WASMFORGE_LLVM_LAZY", raising=False)
    monkeypatch.setenv("WASMFORGE_CACHE", "off")
    gen = _many_funcs()
    wasm = gen.make_module(5000)
    start = time.perf_counter()
    module = Module(engine, wasm)
    store, ex = exports(engine, module)
    assert ex["main"](store, 7) & 0xFFFFFFFF == gen.expected(0, 7)
    # Eager compilation of these 5,000 functions takes tens of seconds.
    assert time.perf_counter() - start < 5
    code = module._compiled()
    assert code.lazy and sum(map(bool, code.func_addrs)) == gen.CHAIN
    assert ex["f4010"](store, 3) & 0xFFFFFFFF == gen.expected(4010, 3)


def test_a_big_plan_is_stored_now_and_then_and_whole_at_exit(engine, monkeypatch):
    # Stored whole at every batch, a plan costs quadratic time (yosys: 3,647 batches,
    # 107 MB of plan formatted and written); past PLAN_EVERY batches it is stored once the
    # batches made since are a quarter of it, and what is left at the process's exit.
    from wasmforge.llvm import modcache
    monkeypatch.setattr(compiler, "PLAN_EVERY", 2)
    stored, at_exit = [], []
    real_store = modcache.store_part
    monkeypatch.setattr(modcache, "store_part", lambda key, part, data: (
        stored.append(data) if part == "plan" else None, real_store(key, part, data))[1])
    monkeypatch.setattr(compiler.atexit, "register", lambda fn, *args: at_exit.append((fn, args)))
    module = lazy_module(engine, monkeypatch, wat2wasm(WAT))
    expected = run_all(engine, module)
    code = module._compiled()
    made = len(code._plan)
    assert made >= 6
    assert 2 <= len(stored) < made
    hooks = [args for fn, args in at_exit if fn is compiler._save_plan_at_exit]
    assert len(hooks) == 1
    compiler._save_plan_at_exit(*hooks[0])
    assert compiler._parse_plan(stored[-1], len(code.func_addrs)) == code._plan
    # The next run takes the plan's batches as they are (no body decoded for its callees).
    monkeypatch.setattr(compiler, "callees", lambda *a: pytest.fail("a body decoded for its callees"))
    assert run_all(engine, Module(engine, wat2wasm(WAT))) == expected
