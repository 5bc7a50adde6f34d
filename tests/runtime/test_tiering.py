"""Tiered start (wasmforge/tiering.py): a module cache miss on the llvm tier runs on interp at
once while a child compiles it; each instance moves to the native code at a call boundary.
Results, traps and fuel are the same whichever code ran, and the same as the interp tier's."""

import os
import subprocess
import sys
import textwrap
import time

import pytest

from wasmforge import Config, Engine, Func, FuncType, Instance, Module, Store, Trap, wat2wasm
from wasmforge.llvm import modcache
from wasmforge.tiering import MIN_CODE_BYTES, TieredModule, wants_tiering

WAT = """(module
  (import "host" "sync" (func $sync))
  (memory 1)
  (global $count (mut i32) (i32.const 0))
  (func $g (param i32) (result i32)
    (global.set $count (i32.add (global.get $count) (i32.const 1)))
    (i32.store (i32.const 16) (local.get 0))
    (i32.mul (local.get 0) (i32.const 3)))
  (func $div (export "div") (param i32 i32) (result i32) (i32.div_s (local.get 0) (local.get 1)))
  (func (export "count") (result i32) (global.get $count))
  (func (export "run") (param i32) (result i32) (local $r i32)
    (local.set $r (call $g (local.get 0)))
    (call $sync)
    (local.set $r (i32.add (local.get $r) (call $g (i32.add (local.get 0) (i32.const 1)))))
    (i32.add (local.get $r) (i32.load (i32.const 16)))))"""
WASM = wat2wasm(WAT)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("WASMFORGE_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("WASMFORGE_CACHE", raising=False)
    # Forced on: by default it needs a single-threaded process and a large module (the
    # default is tested in a child process below).
    monkeypatch.setenv("WASMFORGE_TIERING", "1")
    monkeypatch.delenv("WASMFORGE_LLVM_LAZY", raising=False)
    return tmp_path


def engine(tier="llvm", fuel=False):
    config = Config()
    config.strategy = tier
    config.consume_fuel = fuel
    return Engine(config)


def run_with_swap(eng, fuel=None):
    """Run "run" on a fresh module; its host call waits for the native code (when tiered)."""
    module = Module(eng, WASM)
    code = module._compiled()
    seen = {}

    def sync():
        if isinstance(code, TieredModule):
            seen["before"] = code.tier
            assert code.wait_native(60)

    store = Store(eng)
    if fuel is not None:
        store.set_fuel(fuel)
    ex = Instance(store, module, [Func(store, FuncType([], []), sync)]).exports(store)
    result = ex["run"](store, 5)
    out = [result, ex["count"](store)]
    if fuel is not None:
        out.append(store.get_fuel())
    with pytest.raises(Trap) as info:
        ex["div"](store, 1, 0)
    out.append(str(info.value).splitlines()[0])
    return code, seen, out


def test_starts_on_interp_and_moves_to_native_code_at_a_call(cache):
    code, seen, out = run_with_swap(engine())
    assert isinstance(code, TieredModule)
    assert seen["before"] == "interp" and code.tier == "native"
    _, _, expected = run_with_swap(engine("interp"))
    assert out == expected
    assert out[:2] == [15 + 18 + 6, 2]


def test_fuel_counts_the_same_across_the_swap(cache):
    _, _, out = run_with_swap(engine(fuel=True), fuel=10**6)
    _, _, expected = run_with_swap(engine("interp", fuel=True), fuel=10**6)
    assert out == expected and out[2] < 10**6


def test_instances_made_after_the_swap_run_native_code_and_the_entry_is_cached(cache):
    eng = engine()
    code, _, _ = run_with_swap(eng)
    store = Store(eng)
    module = Module(eng, WASM)        # a cache hit now: baseline code from the child
    assert not isinstance(module._compiled(), TieredModule)
    ex = Instance(store, module, [Func(store, FuncType([], []), lambda: None)]).exports(store)
    assert ex["run"](store, 5) == 39
    head, _ = modcache.load(modcache.key(WASM, False, False, None, eng.features))
    assert head["entry_of"] == list(code.entry_of)


def test_an_artifact_of_a_tiered_module_holds_native_code(cache):
    eng = engine()
    module = Module(eng, WASM)
    assert isinstance(module._compiled(), TieredModule)
    data = module.serialize()
    store = Store(eng)
    ex = Instance(store, Module.deserialize(eng, data),
                  [Func(store, FuncType([], []), lambda: None)]).exports(store)
    assert ex["run"](store, 1) == 3 + 6 + 2


def test_an_artifact_is_made_here_when_the_child_fails(cache, monkeypatch):
    from wasmforge import tiering

    def broken(*args, **kwargs):
        raise RuntimeError("the compile fails in the child")
    real = tiering.jit.compile_ir
    monkeypatch.setattr(tiering.jit, "compile_ir", broken)   # the forked child inherits it
    eng = engine()
    module = Module(eng, WASM)
    code = module._compiled()
    assert not code.wait_native(60)             # nothing came from the child
    monkeypatch.setattr(tiering.jit, "compile_ir", real)
    data = module.serialize()
    store = Store(eng)
    ex = Instance(store, Module.deserialize(eng, data),
                  [Func(store, FuncType([], []), lambda: None)]).exports(store)
    assert ex["run"](store, 1) == 3 + 6 + 2


def test_a_child_whose_compile_never_ends_ends_itself(cache, monkeypatch):
    # Kept past its parent (KEEP_CPU), a child stuck in its compile would live on: it has
    # the safety net of baseline code's recompiling child (TIER_UP_SECONDS, here 1 s).
    from wasmforge import tiering
    monkeypatch.setattr(tiering.llvm_compiler, "TIER_UP_SECONDS", 1)
    monkeypatch.setattr(tiering.ModuleCompiler, "compile",     # the forked child inherits it
                        lambda *args, **kwargs: time.sleep(120))
    code = Module(engine(), WASM)._compiled()
    assert isinstance(code, TieredModule)
    assert not code.wait_native(60)             # nothing came from the child
    assert not code._thread.is_alive(), "the child still compiles"


def test_the_code_made_here_when_the_child_fails_keeps_the_settings(cache, monkeypatch):
    # The in-process compile must meter like the interp code it replaces (fuel on, epoch off).
    from wasmforge import tiering

    def broken(*args, **kwargs):
        raise RuntimeError("the compile fails in the child")
    real = tiering.jit.compile_ir
    monkeypatch.setattr(tiering.jit, "compile_ir", broken)   # the forked child inherits it
    module = Module(engine(fuel=True), WASM)
    code = module._compiled()
    assert not code.wait_native(60)
    monkeypatch.setattr(tiering.jit, "compile_ir", real)
    native = code._native()
    assert (native.fuel, native.epoch) == (True, False)


def big_module(nfuncs: int, steps: int = 3) -> bytes:
    """``nfuncs`` functions of about 10 + 10 * ``steps`` bytes of code each (``f7(3)`` is 1008
    for ``steps`` 3, 16, 24 and 48)."""
    step = (' (local.set 1 (i32.add (local.get 1) (i32.mul (local.get 0)'
            ' (i32.const {k}))))')
    funcs = "".join(f'(func (export "f{k}") (param i32) (result i32) (local i32)'
                    f' (loop{step.format(k=k) * steps} (br_if 0 (i32.lt_u (local.get 1)'
                    f' (i32.const 1000)))) (local.get 1))' for k in range(nfuncs))
    return wat2wasm(f"(module {funcs})")


def test_the_default_is_large_modules_only(monkeypatch):
    monkeypatch.delenv("WASMFORGE_TIERING", raising=False)
    from wasmforge.binary.decode import decode_module
    eng = engine()
    small = decode_module(WASM)
    assert not wants_tiering(small, eng)
    large = decode_module(big_module(1500))
    assert sum(len(f._code) for f in large.funcs) >= MIN_CODE_BYTES
    # (pytest's process may have threads: the single-threaded case runs in a child below)


def run_large_module(tmp_path, wasm: bytes | None = None, **env_vars):
    """Run ``f7`` of a large module (``wasm``, else ``big_module(1500)``) in a fresh process
    with tiering by default and the module cache in ``tmp_path/cache``; return the module's
    path, the environment, and the compiling child's pid and whether its code was still to
    come when the process ended."""
    path = tmp_path / "m.wasm"
    path.write_bytes(big_module(1500) if wasm is None else wasm)
    # Without the quick compiler, whose eager compile a module it takes gets instead (below).
    env = dict(os.environ, WASMFORGE_CACHE_DIR=str(tmp_path / "cache"), WASMFORGE_LLVM_QUICK="0")
    env.update(env_vars)
    env.pop("WASMFORGE_TIERING", None)
    if "WASMFORGE_TIERING_KEEP_CPU" not in env_vars:
        env.pop("WASMFORGE_TIERING_KEEP_CPU", None)
    script = textwrap.dedent(f"""
        from wasmforge import Config, Engine, Instance, Module, Store
        from wasmforge.tiering import TieredModule
        c = Config(); c.strategy = "llvm"; e = Engine(c)
        m = Module.from_file(e, {str(path)!r}); s = Store(e)
        code = m._compiled()
        assert isinstance(code, TieredModule), code
        assert Instance(s, m, []).exports(s)["f7"](s, 3) == 1008, "result"
        print(code.child_pid, code._object is None)
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120, env=env)
    assert (proc.returncode, proc.stderr) == (0, "")
    child, unfinished = proc.stdout.split()
    return path, env, int(child), unfinished == "True"


def test_a_short_run_of_a_large_module_leaves_no_compile_behind(tmp_path):
    # The child compiling the native code dies with the process: a test suite running many
    # short programs does not pile compiles up on the other core.
    t = time.monotonic()
    _, _, child, _ = run_large_module(tmp_path)
    while os.path.exists(f"/proc/{child}") and time.monotonic() - t < 60:
        time.sleep(0.05)
    assert not os.path.exists(f"/proc/{child}")


def test_a_long_run_of_a_large_module_leaves_its_native_code_to_the_next_run(tmp_path):
    # A process that computed for KEEP_CPU (here 0 s: any run) lets the compile outlive it,
    # so the next run starts on native code; before, a program whose run was shorter than its
    # compile restarted on interp every time.
    # Fewer, longer functions than big_module(1500)'s (51 KB of code, as large by the tiered
    # start's measure): the kept child's optimised compile costs 0.9 s of CPU, not 8.8 s
    # (LLVM's O2 cost there is per function), and the test ~8 s of wall time, not 30-45.
    t = time.monotonic()
    path, env, child, unfinished = run_large_module(tmp_path, big_module(100, steps=48),
                                                    WASMFORGE_TIERING_KEEP_CPU="0")
    assert unfinished, "the compile ended before the process: nothing to check"
    while os.path.exists(f"/proc/{child}") and time.monotonic() - t < 300:
        time.sleep(0.05)
    assert list((tmp_path / "cache" / "llvm").glob("mod-*.o")), "the child did not store the code"
    check = textwrap.dedent(f"""
        from wasmforge import Config, Engine, Module
        from wasmforge.tiering import TieredModule
        c = Config(); c.strategy = "llvm"; e = Engine(c)
        code = Module.from_file(e, {str(path)!r})._compiled()
        print(type(code).__name__, code.tier)
    """)
    again = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True,
                           timeout=120, env=env)
    # Optimised code: the kept child compiled it after the baseline code (a warm run of
    # baseline code that never computes for TIER_UP_CPU had it recompiled by no run).
    assert (again.returncode, again.stdout.strip()) == (0, "CompiledModule optimised"), again.stderr


def test_a_large_module_the_quick_compiler_takes_starts_on_quick_code(tmp_path):
    # Its eager compile costs about what the interp tier's start does, and then the module
    # runs native code from its first call (docs/performance.md, "Tiered start or quick
    # code"); the tiered start stays for a module quick code cannot be made for (fuel here).
    path = tmp_path / "m.wasm"
    path.write_bytes(big_module(1500))
    env = dict(os.environ, WASMFORGE_CACHE_DIR=str(tmp_path / "cache"), WASMFORGE_LLVM_QUICK="1")
    for name in ("WASMFORGE_TIERING", "WASMFORGE_LLVM_BASELINE", "WASMFORGE_LLVM_LAZY"):
        env.pop(name, None)
    script = textwrap.dedent(f"""
        from wasmforge import Config, Engine, Instance, Module, Store
        from wasmforge.llvm import loader
        from wasmforge.llvm.compiler import CompiledModule
        from wasmforge.tiering import TieredModule
        for fuel in (False, True):
            c = Config(); c.strategy = "llvm"; c.consume_fuel = fuel; e = Engine(c)
            m = Module.from_file(e, {str(path)!r}); s = Store(e)
            if fuel:
                s.set_fuel(10**6)
            code = m._compiled()
            assert Instance(s, m, []).exports(s)["f7"](s, 3) == 1008, "result"
            if fuel:
                assert isinstance(code, TieredModule), code
            else:
                assert isinstance(code, CompiledModule) and code.tier == "baseline", code
                assert loader.is_image(code._object_code), "not quick code"
        print("ok")
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120, env=env)
    assert (proc.returncode, proc.stderr, proc.stdout) == (0, "", "ok\n")


def test_a_module_with_an_instruction_quick_code_lacks_keeps_its_tiered_start(monkeypatch):
    # A SIMD instruction on the operand stack alone (no v128 local): the quick compiler
    # refuses the function, so the eager compile would be LLVM's baseline code; the module
    # keeps the tiered start instead.
    from wasmforge.binary.decode import decode_module
    from wasmforge.tiering import quick_takes
    monkeypatch.setenv("WASMFORGE_LLVM_QUICK", "1")
    monkeypatch.setenv("WASMFORGE_LLVM_BASELINE", "1")     # (pytest's process may have threads)
    simd = decode_module(wat2wasm("""(module
      (func (export "f") (param i32) (result i32)
        (i32x4.extract_lane 1 (i32x4.splat (local.get 0)))))"""))
    eng = engine()
    assert quick_takes(decode_module(WASM), eng)
    assert not quick_takes(simd, eng)
