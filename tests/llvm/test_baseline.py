"""Baseline first (llvm/compiler.py): a first compile that fills a module cache entry runs
baseline code at once while a child process compiles the optimised code; instances made after
that get the optimised code, the entry is overwritten with it, and both behave identically
(results, traps, fuel), also compared with the interp tier."""

import os
import subprocess
import sys
import textwrap
import time

import pytest

from wasmforge import Config, Engine, Instance, Module, Store, Trap, wat2wasm
from wasmforge.llvm import compiler, jit, modcache
from wasmforge.features import DEFAULT as DEFAULT_FEATURES

WAT = """(module
  (memory 1)
  (func $sum (export "sum") (param $n i32) (result i64) (local $acc i64)
    (block $done (loop $next
      (br_if $done (i32.eqz (local.get $n)))
      (local.set $acc (i64.add (local.get $acc) (i64.extend_i32_u (local.get $n))))
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br $next)))
    (local.get $acc))
  (func (export "twice") (param i32) (result i64) (i64.mul (call $sum (local.get 0)) (i64.const 2)))
  (func (export "div") (param i32 i32) (result i32) (i32.div_s (local.get 0) (local.get 1)))
  (func (export "load") (param i32) (result i32) (i32.load (local.get 0))))"""
WASM = wat2wasm(WAT)


def engine(tier="llvm", fuel=False):
    config = Config()
    config.strategy = tier
    config.consume_fuel = fuel
    return Engine(config)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("WASMFORGE_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("WASMFORGE_CACHE", raising=False)
    # Forced on: by default it needs a single-threaded process, and pytest's may not be
    # (the default is tested in a child process below).
    monkeypatch.setenv("WASMFORGE_LLVM_BASELINE", "1")
    monkeypatch.delenv("WASMFORGE_LLVM_LAZY", raising=False)
    return tmp_path


def exports(module, eng, fuel=None):
    store = Store(eng)
    if fuel is not None:
        store.set_fuel(fuel)
    return store, Instance(store, module, []).exports(store)


def outcomes(store, ex):
    """What each export does, traps included (type and message)."""
    out = [ex["sum"](store, 1000), ex["twice"](store, 10), ex["div"](store, 7, 2)]
    for name, args in (("div", (1, 0)), ("div", (-2**31, -1)), ("load", (65535,))):
        with pytest.raises(Trap) as info:
            ex[name](store, *args)
        out.append((type(info.value), info.value.message))
    return out


def test_first_compile_runs_baseline_code_then_the_optimised_code(cache):
    eng = engine()
    module = Module(eng, WASM)
    code = module._compiled()
    assert code.tier == "baseline"
    store, early = exports(module, eng)
    before = outcomes(store, early)
    assert code.wait_optimised(60)
    assert code.tier == "optimised"
    store2, late = exports(module, eng)
    assert outcomes(store2, late) == before
    # An instance made on the baseline code keeps running it after the swap.
    assert outcomes(store, early) == before
    assert before[:3] == [500500, 110, 3]


def test_a_recompile_someone_waits_for_does_not_queue_behind_the_others(cache, monkeypatch):
    """The recompiling children share a few tokens (one fewer than the cores); a test suite
    or a component compiling many modules queues dozens of them.  A child its parent waits
    for (wait_optimised, serialize) compiles at once instead of after all of those: here
    every token is taken, and the code still arrives."""
    r, w = os.pipe()
    os.set_blocking(r, False)
    monkeypatch.setattr(compiler, "_tokens", [r, w])     # none left: all held elsewhere
    try:
        module = Module(engine(), WASM)
        code = module._compiled()
        assert code.tier == "baseline"
        assert code.wait_optimised(60)
        with pytest.raises(BlockingIOError):
            os.read(r, 1)       # and it took none it would give back
    finally:
        os.close(r)
        os.close(w)


def test_the_cache_entry_ends_optimised_and_a_warm_run_loads_it(cache):
    eng = engine()
    code = Module(eng, WASM)._compiled()
    assert code.wait_optimised(60)
    entry = modcache.key(WASM, False, False, None, eng.features)
    head, obj = modcache.load(entry)
    # (kept linked ahead of time: modcache.store)
    assert "baseline" not in head and obj == jit.linked(code.object_code)
    warm = Module(eng, WASM)._compiled()
    assert warm.tier == "optimised" and warm._tier_thread is None


def test_a_baseline_entry_is_recompiled_and_replaced(cache):
    eng = engine()
    code = Module(eng, WASM)._compiled()
    assert code.wait_optimised(60)
    entry = modcache.key(WASM, False, False, None, eng.features)
    # A run that exited before its recompile finished leaves baseline code in the entry.
    from wasmforge.llvm import jit
    from wasmforge.llvm.codegen import ModuleCompiler
    mc = ModuleCompiler(code.module, False, False)
    ir = mc.compile(None, through_table=True)
    obj = jit.compile_ir(ir, "wasm", jit.BASELINE)[2]
    modcache.store(entry, mc.entry_of, obj, baseline=True)
    module = Module(eng, WASM)
    warm = module._compiled()
    assert warm.tier == "baseline"
    store, ex = exports(module, eng)
    assert ex["sum"](store, 100) == 5050
    assert warm.wait_optimised(60)
    head, _ = modcache.load(entry)
    assert "baseline" not in head


def test_an_artifact_of_a_baseline_module_holds_the_optimised_code(cache):
    eng = engine()
    module = Module(eng, WASM)
    code = module._compiled()
    assert code.tier == "baseline"
    data = module.serialize()
    assert code.tier == "optimised"
    store, ex = exports(Module.deserialize(eng, data), eng)
    assert ex["twice"](store, 4) == 20


@pytest.mark.parametrize("tier", ["interp", "llvm"])
def test_fuel_counts_the_same_in_baseline_and_optimised_code(cache, tier):
    eng = engine(tier, fuel=True)
    module = Module(eng, WASM)
    if tier == "llvm":
        assert module._compiled().tier == "baseline"
    left = []
    for _ in range(2):
        store, ex = exports(module, eng, fuel=10**6)
        assert ex["sum"](store, 300) == 45150
        left.append(store.get_fuel())
        if tier == "llvm":
            assert module._compiled().wait_optimised(60)
    assert left[0] == left[1]
    interp = engine("interp", fuel=True)
    store, ex = exports(Module(interp, WASM), interp, fuel=10**6)
    ex["sum"](store, 300)
    assert store.get_fuel() == left[0]


def test_it_can_be_turned_off(cache, monkeypatch):
    monkeypatch.setenv("WASMFORGE_LLVM_BASELINE", "0")
    code = Module(engine(), WASM)._compiled()
    assert code.tier == "optimised" and code._tier_thread is None


def test_a_process_exiting_during_the_recompile_exits_cleanly(cache):
    # With the recompile on a thread, LLVM's static destructors crashed the process (abort,
    # signal 6) when it exited mid-compile.  Many functions: the O2 compile takes a while.
    funcs = "".join(f'(func (export "f{k}") (param i32) (result i32) (local i32)'
                    f' (loop (local.set 1 (i32.add (local.get 1) (i32.mul (local.get 0)'
                    f' (i32.const {k})))) (br_if 0 (i32.lt_u (local.get 1) (i32.const 1000))))'
                    f' (local.get 1))' for k in range(300))
    path = cache / "m.wasm"
    path.write_bytes(wat2wasm(f"(module {funcs})"))
    script = textwrap.dedent(f"""
        from wasmforge import Config, Engine, Instance, Module, Store
        c = Config(); c.strategy = "llvm"; e = Engine(c)
        m = Module.from_file(e, {str(path)!r}); s = Store(e)
        assert m._compiled().tier == "baseline"
        print(Instance(s, m, []).exports(s)["f7"](s, 3))
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120, env=dict(os.environ))
    assert (proc.returncode, proc.stderr, proc.stdout) == (0, "", "1008\n")


def test_a_process_that_exits_at_once_leaves_no_recompile_behind(cache):
    # Each short run (a test suite's programs: milliseconds each) used to leave a child
    # compiling at O2 for seconds; now the child waits for TIER_UP_CPU seconds of the
    # process's CPU time and gives up when the process is gone: the entry stays baseline code (a longer run recompiles it).
    path = cache / "m.wasm"
    path.write_bytes(WASM)
    script = textwrap.dedent(f"""
        from wasmforge import Config, Engine, Module
        c = Config(); c.strategy = "llvm"; e = Engine(c)
        code = Module.from_file(e, {str(path)!r})._compiled()
        assert code.tier == "baseline"
        print(code.tier_up_pid)
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120, env=dict(os.environ))
    assert (proc.returncode, proc.stderr) == (0, "")
    child = int(proc.stdout)
    deadline = time.monotonic() + 60
    while os.path.exists(f"/proc/{child}") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not os.path.exists(f"/proc/{child}")
    head, _ = modcache.load(modcache.key(WASM, False, False, None, DEFAULT_FEATURES))
    assert head.get("baseline") is True


SWITCH = """(module
  (import "host" "sync" (func $sync))
  (func $g (param i32) (result i32) (i32.mul (local.get 0) (i32.const 3)))
  (func (export "run") (param i32) (result i32) (local $r i32)
    (local.set $r (call $g (local.get 0)))
    (call $sync)
    (i32.add (local.get $r) (call $g (i32.add (local.get 0) (i32.const 1))))))"""


@pytest.mark.parametrize("tier", ["interp", "llvm"])
def test_running_baseline_code_calls_the_optimised_code_once_it_is_there(cache, tier):
    from wasmforge import Func, FuncType
    eng = engine(tier, fuel=True)
    module = Module(eng, wat2wasm(SWITCH))
    code = module._compiled() if tier == "llvm" else None
    seen = {}

    def sync():
        # The middle of a baseline call: wait for the optimised code, note the table.
        if code is not None:
            seen["before"] = list(code.lazy_table)
            assert code.wait_optimised(60)
            seen["after"] = list(code.lazy_table)

    store = Store(eng)
    store.set_fuel(10**6)
    run = Instance(store, module, [Func(store, FuncType([], []), sync)]).exports(store)["run"]
    assert run(store, 5) == 33
    seen["fuel"] = store.get_fuel()
    if tier == "llvm":
        # The calls after the swap went through a table that now names the optimised code.
        assert seen["after"] == code.func_addrs != seen["before"]
    interp = engine("interp", fuel=True)
    store = Store(interp)
    store.set_fuel(10**6)
    run = Instance(store, Module(interp, wat2wasm(SWITCH)),
                   [Func(store, FuncType([], []), lambda: None)]).exports(store)["run"]
    assert run(store, 5) == 33 and store.get_fuel() == seen["fuel"]


def test_the_recompile_holds_no_descriptor_of_the_process_open(cache):
    # A reader of a pipe the process was given sees EOF when the process exits, not when its
    # background recompile ends (the corpus-sized module keeps the child busy for a while).
    funcs = "".join(f'(func (export "f{k}") (param i32) (result i32) (local i32)'
                    f' (loop (local.set 1 (i32.add (local.get 1) (i32.mul (local.get 0)'
                    f' (i32.const {k})))) (br_if 0 (i32.lt_u (local.get 1) (i32.const 1000))))'
                    f' (local.get 1))' for k in range(1000))
    wasm = wat2wasm(f"(module {funcs})")
    path = cache / "m.wasm"
    path.write_bytes(wasm)
    rfd, wfd = os.pipe()
    script = textwrap.dedent(f"""
        import os
        from wasmforge import Config, Engine, Module
        c = Config(); c.strategy = "llvm"; e = Engine(c)
        m = Module.from_file(e, {str(path)!r})
        assert m._compiled().tier == "baseline"
        os.write({wfd}, b"done")
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], pass_fds=(wfd,))
    os.close(wfd)
    with os.fdopen(rfd, "rb") as src:
        data = src.read()               # EOF: every holder of the write end has closed it
    code = proc.wait(timeout=120)
    assert (code, data) == (0, b"done")
    # The read ended before the recompile did: the entry still holds the baseline code.
    head, _ = modcache.load(modcache.key(wasm, False, False, None, DEFAULT_FEATURES))
    assert head.get("baseline") is True


def test_baseline_is_not_the_default_in_a_process_with_threads():
    # The recompile forks; a fork taken while another thread holds a lock can hang the child,
    # so by default only a single-threaded process (as `wasmforge run` when it compiles) forks.
    script = textwrap.dedent("""
        import os, threading
        os.environ.pop("WASMFORGE_LLVM_BASELINE", None)
        from wasmforge.llvm import compiler
        alone = compiler.wants_baseline("entry", 2)
        done = threading.Event()
        threading.Thread(target=done.wait, daemon=True).start()
        with_thread = compiler.wants_baseline("entry", 2)
        os.environ["WASMFORGE_LLVM_BASELINE"] = "1"
        forced = compiler.wants_baseline("entry", 2)
        print(alone, with_thread, forced)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "False", "True"]



def test_wasmforges_own_threads_do_not_keep_the_next_module_from_baseline_code(tmp_path):
    # A first module's tier-up thread and the SIGINT watcher of its instance are wasmforge's
    # helper threads (llvm/forksafe.py): the next module still compiles baseline first (a
    # component's dozens of core modules are compiled one after another), a foreign thread
    # still stops it.
    script = textwrap.dedent(f"""
        import os, threading
        from wasmforge import Config, Engine, Instance, Module, Store, wat2wasm
        from wasmforge.llvm import compiler
        config = Config(); config.strategy = "llvm"
        eng = Engine(config)
        store = Store(eng)
        a = Module(eng, wat2wasm({WAT!r}))
        Instance(store, a, [])
        b = Module(eng, wat2wasm({WAT!r}.replace("(memory 1)", "(memory 2)")))
        Instance(store, b, [])
        names = sorted(t.name for t in threading.enumerate())
        print(hasattr(a._code, "tier_up_pid"), hasattr(b._code, "tier_up_pid"), *names)
        threading.Thread(target=threading.Event().wait, daemon=True).start()
        print(compiler.wants_baseline("entry", 2))
    """)
    env = dict(os.environ, WASMFORGE_CACHE_DIR=str(tmp_path))
    for k in ("WASMFORGE_CACHE", "WASMFORGE_LLVM_BASELINE", "WASMFORGE_LLVM_LAZY", "WASMFORGE_TIERING"):
        env.pop(k, None)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 0, out.stderr
    first, second = out.stdout.splitlines()
    assert first.split()[:2] == ["True", "True"]
    assert "wasmforge-sigint" in first and "wasmforge-tier-up" in first
    assert second == "False"


@pytest.mark.parametrize("lock", ["wasmforge._cache", "wasmforge.llvm.jit"])
def test_a_lock_held_by_another_thread_at_the_fork_is_free_in_the_child(lock):
    # The recompiling child has only the forking thread: a module lock another thread held at
    # that moment (a tier-up thread storing code, say) must be new in the child, or the
    # child's compile or cache store waits forever.
    script = textwrap.dedent(f"""
        import importlib, os, threading
        mod = importlib.import_module({lock!r})
        held, release = threading.Event(), threading.Event()
        def hold():
            with mod._lock:
                held.set()
                release.wait()
        threading.Thread(target=hold, daemon=True).start()
        held.wait()
        pid = os.fork()
        if pid == 0:
            os._exit(0 if mod._lock.acquire(timeout=5) else 1)
        release.set()
        print(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["0"]


def _baseline_entry(cache):
    """A module cache entry holding baseline code, as a run that exits before its recompile
    leaves it; the binary's path."""
    from wasmforge.llvm import jit
    from wasmforge.llvm.codegen import ModuleCompiler
    eng = engine()
    code = Module(eng, WASM)._compiled()
    assert code.wait_optimised(60)
    mc = ModuleCompiler(code.module, False, False)
    obj = jit.compile_ir(mc.compile(None, through_table=True), "wasm", jit.BASELINE)[2]
    modcache.store(modcache.key(WASM, False, False, None, eng.features), mc.entry_of, obj,
                   baseline=True)
    path = cache / "m.wasm"
    path.write_bytes(WASM)
    return path


def test_a_warm_run_of_a_baseline_entry_that_ends_soon_starts_no_process(cache, monkeypatch):
    # Loading a baseline entry forked a recompiling child at once, so every warm run of a
    # short program paid for a child that waited and exited.  Now only a thread waits for
    # the process's CPU time; nothing else starts, llvmlite is not imported, and the entry
    # stays baseline code.
    path = _baseline_entry(cache)
    monkeypatch.delenv("WASMFORGE_LLVM_BASELINE")
    script = textwrap.dedent(f"""
        import os, sys
        from wasmforge import Config, Engine, Instance, Module, Store
        c = Config(); c.strategy = "llvm"; e = Engine(c)
        m = Module.from_file(e, {str(path)!r}); s = Store(e)
        code = m._compiled()
        assert code.tier == "baseline"
        print(Instance(s, m, []).exports(s)["sum"](s, 100))
        kids = [open(f"/proc/self/task/{{t}}/children").read().split()
                for t in os.listdir("/proc/self/task")]
        print(sum(map(len, kids)), hasattr(code, "tier_up_pid"), "llvmlite" in sys.modules)
    """)
    # (The first run also keeps the host description in this cache folder: pytest's process
    # knew it already.)
    for _ in range(2):
        proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                              timeout=120, env=dict(os.environ))
        assert (proc.returncode, proc.stderr) == (0, "")
    assert proc.stdout.split() == ["5050", "0", "False", "False"]
    head, _ = modcache.load(modcache.key(WASM, False, False, None, DEFAULT_FEATURES))
    assert head.get("baseline") is True


def test_a_warm_run_that_computes_long_recompiles_its_baseline_entry(cache):
    # No one waits for the optimised code: the recompile starts once the process has spent
    # TIER_UP_CPU seconds of CPU, swaps the code in and replaces the entry.
    from wasmforge.llvm import compiler
    _baseline_entry(cache)
    eng = engine()
    module = Module(eng, WASM)
    code = module._compiled()
    assert code.tier == "baseline"
    store, ex = exports(module, eng)
    before = outcomes(store, ex)
    assert not hasattr(code, "tier_up_pid")
    start = time.process_time()
    while time.process_time() - start < compiler.TIER_UP_CPU * 1.5:
        sum(range(1000))
    code._tier_thread.join(120)
    assert code.tier == "optimised" and code.tier_up_pid
    assert outcomes(store, ex) == before == outcomes(*exports(module, eng))
    head, _ = modcache.load(modcache.key(WASM, False, False, None, eng.features))
    assert "baseline" not in head


def test_a_recompile_that_finds_no_token_compiles_after_token_wait(cache, monkeypatch):
    """A token whose holder died or hangs is never given back: the next recompiles wait
    TOKEN_WAIT seconds for one, then compile without it (before, they waited for ever)."""
    from wasmforge.llvm import compiler
    r, w = os.pipe()
    os.set_blocking(r, False)
    monkeypatch.setattr(compiler, "_tokens", [r, w])     # none left: the holder is gone
    monkeypatch.setattr(compiler, "TOKEN_WAIT", 0.5)
    try:
        module = Module(engine(), WASM)
        code = module._compiled()
        assert code.tier == "baseline"
        start = time.process_time()
        while time.process_time() - start < compiler.TIER_UP_CPU * 1.5:
            sum(range(1000))
        code._tier_thread.join(120)         # nobody hurries it: it starts after TIER_UP_CPU
        assert code.tier == "optimised"
    finally:
        os.close(r)
        os.close(w)


def test_llvmlites_lock_held_by_another_thread_at_the_fork_is_free_in_the_child(cache):
    # A thread inside an llvmlite call at the moment of the recompile's fork left the child's
    # copy of llvmlite's lock held: the child hung for ever (holding a token).  The fork now
    # waits for the call to end.
    script = textwrap.dedent(f"""
        import threading, time
        import llvmlite.binding.ffi as ffi
        from wasmforge import Engine, Module
        from wasmforge.llvm import jit
        jit._init()                 # (else the parent's own _init waits for the lock first)
        lock = ffi.lib._lock
        held = threading.Event()
        def hold():
            with lock:
                held.set()
                time.sleep(1.0)
        threading.Thread(target=hold, daemon=True).start()
        held.wait()
        code = Module(Engine(), {WASM!r})._compiled()
        print(code.tier, code.wait_optimised(60), code.tier)
    """)
    env = dict(os.environ, WASMFORGE_CACHE_DIR=str(cache), WASMFORGE_LLVM_BASELINE="1", WASMFORGE_STRATEGY="llvm")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=120, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["baseline", "True", "optimised"]
