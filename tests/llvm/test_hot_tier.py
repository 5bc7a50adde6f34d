"""Quick code's tier-up by where the guest spends its time (llvm/tiering.py): a large module on
quick code whose guest ran hot has its hot functions compiled optimised by a process that
outlives it, and the next process starts on that code; a cold run leaves nothing; and the swap
changes no result or trap."""

import os
import subprocess
import sys
import textwrap
import time

import pytest

from wasmforge import Config, Engine, Instance, Module, Store, Trap, wat2wasm
from wasmforge.llvm import lazytier, modcache, perfsample, tiering
from wasmforge.features import DEFAULT as DEFAULT_FEATURES

# Filler: enough code (over tiering.WHOLE_BYTES, 64 KiB) that the module gets no whole-module
# recompile, only its hot functions' (`work` and `step`).  `work`'s loop divides too: with only
# a call in it, `step` (a division) took over HOT_SHARE of the samples in some runs, and the hot
# batch was `step` alone.
_FILLER = "\n".join(
    f"  (func $fill{k} (export \"fill{k}\") (param i32) (result i32) (local.get 0)"
    + " (i32.const 1) (i32.add)" * 80 + ")" for k in range(300))
WAT = f"""(module
  (memory 1)
  (func $step (param $x i32) (param $d i32) (result i32)
    (i32.add (i32.div_s (i32.mul (local.get $x) (i32.const 7)) (local.get $d)) (i32.const 1)))
  (func $work (export "work") (param $n i32) (param $d i32) (result i32) (local $acc i32)
    (block $done (loop $next
      (br_if $done (i32.eqz (local.get $n)))
      (local.set $acc (i32.add (i32.div_u (local.get $acc) (i32.const 3))
                               (call $step (local.get $n) (local.get $d))))
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br $next)))
    (local.get $acc))
  (func (export "load") (param i32) (result i32) (i32.load (local.get 0)))
{_FILLER})"""
WASM = wat2wasm(WAT)
STEP, WORK = 0, 1           # defined function indexes


def _has_sampler() -> bool:
    s = perfsample.Sampler.open()
    if s is None:
        return False
    s.close()
    return True


needs_sampler = pytest.mark.skipif(not _has_sampler(),
                                   reason="perf_event_open refused here: no sampling, no hot tier-up")


def outcomes(store, ex):
    """Results and traps (message and frames) of the module's exports."""
    out = [ex["work"](store, 20000, 3), ex["fill7"](store, 5)]
    for args in (("work", 10, 0), ("load", 70000)):
        try:
            ex[args[0]](store, *args[1:])
            out.append("no trap")
        except Trap as t:
            out.append((str(t).splitlines()[0], [f.func_name for f in t.frames]))
    return out


def _env(cache):
    env = dict(os.environ)
    env.update(WASMFORGE_CACHE_DIR=str(cache), WASMFORGE_LLVM_HOT_CPU="0.02",
               PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    for name in ("WASMFORGE_CACHE", "WASMFORGE_LLVM_BASELINE", "WASMFORGE_LLVM_QUICK",
                 "WASMFORGE_LLVM_LAZY", "WASMFORGE_LLVM_LAZY_TIERUP"):
        env.pop(name, None)
    return env


def _instance_script(tmp_path) -> str:
    """The start of a process's script: the module made (from the cache when it can) as
    ``code`` (its compiled module) and instantiated (``store``, its exports ``ex``)."""
    path = tmp_path / "m.wasm"
    path.write_bytes(WASM)
    return textwrap.dedent(f"""
        from wasmforge import Engine, Module, Store, Instance
        eng = Engine()
        module = Module(eng, open({str(path)!r}, "rb").read())
        code = module._compiled()
        store = Store(eng)
        ex = Instance(store, module, []).exports(store)
    """)


def _run(cache, calls: int, tmp_path, on_thread: bool = False):
    """A process that makes the module (from the cache when it can) and calls ``work``
    ``calls`` times (``on_thread``: on a thread of its own, as a server's worker runs an app
    its main thread loaded); it prints the compiled module's tier and whether ``work`` runs
    code outside its quick image (the optimised code of its hot batch)."""
    script = _instance_script(tmp_path) + textwrap.dedent(f"""
        def calls():
            for _ in range({calls}):
                ex["work"](store, 20000, 3)
        if {on_thread!r}:
            import threading
            worker = threading.Thread(target=calls)
            worker.start()
            worker.join()
        else:
            calls()
        quick = code._engine
        addr = code.func_addrs[{WORK}]
        print(code.tier, quick.base <= addr < quick.base + quick.size)
    """)
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=_env(cache), timeout=300)


def _hot(cache):
    key = modcache.key(WASM, False, False, None, DEFAULT_FEATURES)
    from wasmforge import _cache
    folder = _cache.folder("llvm")
    return key, modcache.load_part(key, "hot", cache=folder), lazytier.load_pack(key, cache=folder)


def _in_process_env(monkeypatch, cache) -> None:
    """The settings of a hot watch in this process: a 20 ms threshold, baseline code forced
    (by default baseline code needs a single-threaded process, pytest's may not be)."""
    monkeypatch.setenv("WASMFORGE_CACHE_DIR", str(cache))
    monkeypatch.setenv("WASMFORGE_LLVM_HOT_CPU", "0.02")
    monkeypatch.setenv("WASMFORGE_LLVM_BASELINE", "1")
    for name in ("WASMFORGE_CACHE", "WASMFORGE_LLVM_QUICK", "WASMFORGE_LLVM_LAZY",
                 "WASMFORGE_LLVM_LAZY_TIERUP"):
        monkeypatch.delenv(name, raising=False)


@needs_sampler
def test_a_module_that_ran_hot_leaves_optimised_code_the_next_process_starts_on(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("WASMFORGE_CACHE_DIR", str(cache))
    first = _run(cache, 400, tmp_path)
    assert first.returncode == 0, first.stderr
    assert first.stdout.split()[0] == "baseline"          # quick code, no whole recompile
    # The hot functions' recompile outlives the process: its image lands in the pack.
    deadline = time.monotonic() + 240
    while True:
        key, hot, pack = _hot(cache)
        if hot and pack:
            break
        assert time.monotonic() < deadline, "no hot batch was left behind"
        time.sleep(0.2)
    batches = [sorted(map(int, b.split(b","))) for b in hot.split(b";")]
    assert any(STEP in b and WORK in b for b in batches)
    assert lazytier.batch_part(batches[0]) in pack
    # The next process starts on it: `work` runs outside the quick image, from its first call.
    second = _run(cache, 1, tmp_path)
    assert second.returncode == 0, second.stderr
    assert second.stdout.split() == ["baseline", "False"]


@needs_sampler
def test_a_module_hot_on_another_thread_than_its_loaders_is_recompiled(tmp_path, monkeypatch):
    # A server loads its app on one thread and runs the requests on its workers: the watch
    # sampled the loading thread only, saw nothing, and the quick code stayed for good (the
    # watch also keeps the whole module's recompile away).  The other threads are sampled too.
    cache = tmp_path / "cache"
    monkeypatch.setenv("WASMFORGE_CACHE_DIR", str(cache))
    first = _run(cache, 1200, tmp_path, on_thread=True)   # (sampled from the watch's first look on)
    assert first.returncode == 0, first.stderr
    assert first.stdout.split()[0] == "baseline"
    deadline = time.monotonic() + 240
    while True:
        key, hot, pack = _hot(cache)
        if hot and pack:
            break
        assert time.monotonic() < deadline, "nothing hot was seen on the worker thread"
        time.sleep(0.2)
    batches = [sorted(map(int, b.split(b","))) for b in hot.split(b";")]
    assert batches[0] and set(batches[0]) <= {STEP, WORK}, batches     # (what the worker ran)
    assert lazytier.batch_part(batches[0]) in pack


@needs_sampler
def test_a_cold_run_leaves_nothing_behind(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("WASMFORGE_CACHE_DIR", str(cache))
    run = _run(cache, 1, tmp_path)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["baseline", "True"]
    time.sleep(1.0)
    _, hot, pack = _hot(cache)
    assert hot is None and pack == {}
    assert _run(cache, 1, tmp_path).stdout.split() == ["baseline", "True"]


class _FakeSampler:
    """Samples only at ``ips`` (set once the module is compiled): the hot watch's attribution,
    batch, recompile and swap where the kernel refuses ``perf_event_open``."""

    ips: list = []

    def drain(self) -> list:
        return list(self.ips)

    def set_period(self, period_ns: int) -> bool:
        return True

    def close(self) -> None:
        pass


def _kernel_opens(monkeypatch, opener) -> None:
    """The process's perf events opened by ``opener`` from now on (a set of samplers the
    modules of earlier tests still hold stays theirs)."""
    monkeypatch.setattr(perfsample, "_SET", None)
    monkeypatch.setattr(perfsample.Sampler, "open", opener)


@pytest.mark.parametrize("sampler", [pytest.param("kernel", marks=needs_sampler), "fake"])
def test_the_swap_of_hot_functions_changes_no_result_or_trap(tmp_path, monkeypatch, sampler):
    _in_process_env(monkeypatch, tmp_path)
    fake = _FakeSampler()
    if sampler == "fake":
        _kernel_opens(monkeypatch, classmethod(lambda cls, period_ns=0: fake))
    config = Config()
    config.strategy = "llvm"
    eng = Engine(config)
    module = Module(eng, WASM)
    code = module._compiled()
    assert code.tier == "baseline" and code._hot is not None
    fake.ips = [code.func_addrs[STEP], code.func_addrs[WORK]] * 40     # (per look)
    store = Store(eng)
    ex = Instance(store, module, []).exports(store)
    before = outcomes(store, ex)
    quick = code._engine
    deadline = time.monotonic() + 240
    while quick.base <= code.func_addrs[WORK] < quick.base + quick.size:
        ex["work"](store, 20000, 3)         # hot, until its optimised code is swapped in
        assert time.monotonic() < deadline, "the hot functions were not swapped in"
    assert not quick.base <= code.func_addrs[STEP] < quick.base + quick.size
    # The running instance's calls into them now run the optimised code; so does a new one's.
    assert outcomes(store, ex) == before
    store2 = Store(eng)
    assert outcomes(store2, Instance(store2, module, []).exports(store2)) == before
    interp = Config()
    interp.strategy = "interp"
    ieng = Engine(interp)
    istore = Store(ieng)
    assert outcomes(istore, Instance(istore, Module(ieng, WASM), []).exports(istore)) == before


# Where the kernel refuses perf_event_open (a container's default seccomp profile,
# perf_event_paranoid 3) there is no hot watch: quick code of a large module must still reach
# optimised code, by the whole module's recompile after TIER_UP_CPU as before the watch.
# (A small module, its code counted large: the whole module's O2 compile is the same path
# and takes seconds less.)
SMALL_WASM = wat2wasm(WAT.replace(_FILLER, "\n".join(_FILLER.splitlines()[:8])))
_REFUSE = "classmethod(lambda cls, period_ns=0: None)"


def test_quick_code_of_a_large_module_is_recompiled_whole_where_sampling_is_refused(
        tmp_path, monkeypatch):
    monkeypatch.setenv("WASMFORGE_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("WASMFORGE_LLVM_BASELINE", "1")      # (as in the swap's test)
    for name in ("WASMFORGE_CACHE", "WASMFORGE_LLVM_QUICK", "WASMFORGE_LLVM_LAZY",
                 "WASMFORGE_LLVM_HOT_CPU"):
        monkeypatch.delenv(name, raising=False)
    _kernel_opens(monkeypatch, eval(_REFUSE))
    monkeypatch.setattr(tiering, "WHOLE_BYTES", 0)
    config = Config()
    config.strategy = "llvm"
    eng = Engine(config)
    module = Module(eng, SMALL_WASM)
    code = module._compiled()
    assert code.tier == "baseline" and code.quick and code._hot is None
    store = Store(eng)
    ex = Instance(store, module, []).exports(store)
    before = outcomes(store, ex)
    deadline = time.monotonic() + 240
    while code.tier != "optimised":
        ex["work"](store, 20000, 3)         # the process's CPU: TIER_UP_CPU starts the recompile
        assert time.monotonic() < deadline, "quick code was never recompiled"
    assert outcomes(store, ex) == before


def test_a_warm_run_of_a_large_quick_entry_is_recompiled_whole_where_sampling_is_refused(
        tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("WASMFORGE_CACHE_DIR", str(cache))
    path = tmp_path / "m.wasm"
    path.write_bytes(SMALL_WASM)
    script = textwrap.dedent(f"""
        import sys, time
        from wasmforge import Engine, Module, Store, Instance
        from wasmforge.llvm import perfsample, tiering
        perfsample.Sampler.open = {_REFUSE}
        tiering.WHOLE_BYTES = 0
        eng = Engine()
        module = Module(eng, open({str(path)!r}, "rb").read())
        code = module._compiled()
        store = Store(eng)
        ex = Instance(store, module, []).exports(store)
        ex["work"](store, 20000, 3)
        deadline = time.monotonic() + 240
        while sys.argv[1] == "hot" and code.tier != "optimised" and time.monotonic() < deadline:
            ex["work"](store, 20000, 3)
        print(code.tier, code.quick, code._hot)
    """)

    def run(mode):
        done = subprocess.run([sys.executable, "-c", script, mode], capture_output=True,
                              text=True, env=_env(cache), timeout=300)
        assert done.returncode == 0, done.stderr
        return done.stdout.split()

    # A first run too short for the CPU rule leaves the quick entry; a warm run that computes
    # gets optimised code (the whole module's), not quick code for ever.
    assert run("cold") == ["baseline", "True", "None"]
    assert run("hot") == ["optimised", "True", "None"]


@pytest.mark.parametrize("value, seconds", [
    ("", tiering.HOT_CPU), ("0.5", 0.5), ("off", None), ("0", None), ("0.0", None), ("-1", None),
    ("inf", None), ("nan", tiering.HOT_CPU), ("soon", tiering.HOT_CPU)])
def test_the_hot_cpu_setting_is_read_without_failing(monkeypatch, value, seconds):
    monkeypatch.setenv("WASMFORGE_LLVM_HOT_CPU", value)
    assert tiering.hot_cpu() == seconds


def test_no_second_hot_recompile_of_a_module_while_another_process_has_one(tmp_path, monkeypatch):
    # (the lock another process's recompiling child holds, held here)
    _in_process_env(monkeypatch, tmp_path)
    fake = _FakeSampler()
    _kernel_opens(monkeypatch, classmethod(lambda cls, period_ns=0: fake))
    from wasmforge import _cache
    key = modcache.key(WASM, False, False, None, DEFAULT_FEATURES)
    folder = _cache.folder("llvm")
    held = folder.lock(key[:-len(".o")] + "-hot-recompile", wait=False)
    assert held is not None
    try:
        config = Config()
        config.strategy = "llvm"
        eng = Engine(config)
        module = Module(eng, WASM)
        code = module._compiled()
        watch = code._hot
        assert watch is not None and watch._entry == key
        fake.ips = [code.func_addrs[STEP], code.func_addrs[WORK]] * 40
        deadline = time.monotonic() + 60
        while watch._sampler is not None:       # (the watch gives up: it was not sent)
            assert time.monotonic() < deadline, "the hot watch never decided"
            time.sleep(0.05)
        assert watch.fired == 0 and modcache.load_part(key, "hot", cache=folder) is None
        quick = code._engine
        assert quick.base <= code.func_addrs[WORK] < quick.base + quick.size
    finally:
        os.close(held)


@needs_sampler
def test_a_sampler_closed_twice_closes_its_descriptor_once():
    # (the number may be another file's by the second close: that file stays open)
    sampler = perfsample.Sampler.open()
    sampler.close()
    other = os.open(os.devnull, os.O_RDONLY)
    try:
        sampler.close()
        os.fstat(other)
        assert sampler.drain() == []
    finally:
        os.close(other)


def _perf_fds() -> set:
    """This process's descriptors of perf events."""
    fds = set()
    for name in os.listdir("/proc/self/fd"):
        try:
            if "perf_event" in os.readlink(f"/proc/self/fd/{name}"):
                fds.add(int(name))
        except OSError:
            pass        # (the listing's own descriptor, closed by now)
    return fds


def _interpreter_code() -> list:
    """The code ranges of the Python interpreter (its executable, libpython)."""
    ranges = []
    with open("/proc/self/maps") as maps:
        for line in maps:
            fields = line.split()
            if len(fields) >= 6 and fields[1] == "r-xp" and (
                    "python" in os.path.basename(fields[5])):
                start, end = (int(a, 16) for a in fields[0].split("-"))
                ranges.append((start, end))
    return ranges


@needs_sampler
def test_a_forked_child_holds_no_live_sampler_of_its_parent():
    # A fork copies the perf events' descriptors and their rings, which still sample the
    # parent's threads: the child closes its copies (a drain there would move the tail of a
    # ring the parent shares) and samples nothing; the parent's sampler goes on.
    sampler = perfsample.ProcessSampler.open()
    for start, end in _interpreter_code():  # (where this thread's loop below runs)
        sampler.watch(start, end)
    assert _perf_fds()
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        ok = False
        try:
            ok = not _perf_fds() and sampler.drain() == [] and perfsample.open_events() == 0
            os.write(w, b"1" if ok else b"0")
        finally:
            os._exit(0)
    os.close(w)
    try:
        answer = os.read(r, 1)
        os.waitpid(pid, 0)
        assert answer == b"1", "the child kept its parent's perf event or ring open"
        start = time.process_time()
        while time.process_time() - start < 0.05:
            pass
        assert sampler.drain(), "the parent's sampler stopped"
    finally:
        os.close(r)
        sampler.close()


def _variants(n: int) -> list:
    """``n`` distinct modules (each its own cache entry and code), the same functions."""
    return [wat2wasm(WAT.replace('(export "work")', f'(export "work") (export "work{k}")'))
            for k in range(n)]


@needs_sampler
def test_many_modules_watched_in_one_process_share_one_set_of_perf_events(tmp_path):
    # Each watched module opened a set of perf events of its own (an event and a locked ring
    # per thread sampled): past the fourth module of a process the user's perf_event_mlock_kb
    # was spent and the next module's open was refused (a server of ten apps).  The process
    # holds one set now: one event per thread sampled, whatever the number of modules.
    paths = []
    for k, wasm in enumerate(_variants(6)):
        paths.append(str(tmp_path / f"m{k}.wasm"))
        (tmp_path / f"m{k}.wasm").write_bytes(wasm)
    script = textwrap.dedent(f"""
        import os, threading
        from wasmforge import Config, Engine, Module
        from wasmforge.llvm.forksafe import is_helper
        config = Config()
        config.strategy = "llvm"
        eng = Engine(config)
        modules = [Module(eng, open(p, "rb").read()) for p in {paths!r}]
        watches = [m._compiled()._hot for m in modules]
        for w in watches:
            w.look()            # (each drain opens events for the threads started since)
        perf = 0
        for name in os.listdir("/proc/self/fd"):
            try:
                perf += "perf_event" in os.readlink("/proc/self/fd/" + name)
            except OSError:
                pass
        threads = [t for t in threading.enumerate() if not is_helper(t)]
        print(sum(w is not None for w in watches), perf, len(threads))
    """)
    env = _env(tmp_path / "cache")
    env["WASMFORGE_LLVM_BASELINE"] = "1"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    watched, perf, threads = map(int, done.stdout.split())
    # (an event is two descriptors: its own, and the one its ring's mapping keeps)
    assert watched == 6 and 2 <= perf <= 2 * threads < 2 * 6, (watched, perf, threads)


def test_each_module_sharing_the_set_gets_the_samples_of_its_own_code(tmp_path, monkeypatch):
    # The set's samples are split by code range: a module running hot gets its own hot
    # functions recompiled and swapped in; the other modules' watches see none of it.
    _in_process_env(monkeypatch, tmp_path)
    fake = _FakeSampler()
    _kernel_opens(monkeypatch, classmethod(lambda cls, period_ns=0: fake))
    config = Config()
    config.strategy = "llvm"
    eng = Engine(config)
    modules = [Module(eng, wasm) for wasm in _variants(4)]
    codes = [module._compiled() for module in modules]
    watches = [code._hot for code in codes]
    assert all(w is not None for w in watches)
    assert len({id(w._sampler._samplers) for w in watches}) == 1
    for k in (1, 2):
        code = codes[k]
        fake.ips = [code.func_addrs[STEP], code.func_addrs[WORK]] * 40     # (per look)
        quick = code._engine
        deadline = time.monotonic() + 240
        while quick.base <= code.func_addrs[WORK] < quick.base + quick.size:
            assert time.monotonic() < deadline, f"module {k}'s hot functions were not swapped in"
            time.sleep(0.05)
        assert watches[k].fired == 1 and sorted(watches[k].batch) == [STEP, WORK]
    fake.ips = []
    assert [w.fired for w in watches] == [0, 1, 1, 0]
    assert [w.heat for w in (watches[0], watches[3])] == [{}, {}]


class _FakeEvent:
    """A thread's perf event whose samples are set by the test, taken once by a drain."""

    def __init__(self) -> None:
        self.ips: list = []
        self.periods: list = []
        self.closed = False

    def drain(self) -> list:
        ips, self.ips = self.ips, []
        return ips

    def set_period(self, period_ns: int) -> bool:
        self.periods.append(period_ns)
        return True

    def close(self) -> None:
        self.closed = True


def test_shares_of_the_set_take_their_own_ranges_and_the_last_to_leave_closes_it(monkeypatch):
    opened: list = []

    def open_event(cls, period_ns=perfsample.SAMPLE_NS):
        opened.append(_FakeEvent())
        return opened[-1]

    _kernel_opens(monkeypatch, classmethod(open_event))
    # (the process's other threads not sampled here: this thread's event alone)
    monkeypatch.setattr(perfsample.Sampler, "open_thread", classmethod(lambda cls, *a: None))
    fine = perfsample.ProcessSampler.open(1_000_000)
    coarse = perfsample.ProcessSampler.open(4_000_000)
    assert len(opened) == 1
    event = opened[0]
    fine.watch(100, 200)
    coarse.watch(300, 400)
    event.ips = [150, 350, 350, 350, 350, 999]
    assert fine.drain() == [150]
    assert coarse.drain() == [350]      # (one sample kept in four: its period is 4x)
    # A share leaving takes its ranges with it, and the set samples at the finest period left.
    fine.close()
    assert event.periods[-1] == 4_000_000 and not event.closed
    event.ips = [150, 350]
    assert coarse.drain() == [350]      # (one in one now) and 150 is no one's
    assert fine.drain() == []
    # The last share to leave closes the events; the next share opens them again.
    coarse.close()
    assert event.closed
    again = perfsample.ProcessSampler.open()
    assert len(opened) == 2 and not opened[1].closed
    again.close()
    assert opened[1].closed


# Heat across runs: a program run again and again in short processes (a CLI tool, graphviz's
# renders) never spent HOT_CPU in quick code in any one of them, so none left a batch and every
# run ran quick code for ever.  A process whose watch did not fire leaves its samples in the
# entry's `heat` part; the next one starts from them.

class _OnceSampler:
    """Samples at ``ips`` once each (a drain takes them), as a kernel event's ring does."""

    def __init__(self) -> None:
        self.ips: list = []

    def drain(self) -> list:
        ips, self.ips = self.ips, []
        return ips

    def set_period(self, period_ns: int) -> bool:
        return True

    def close(self) -> None:
        pass


def _watched(wasm=WASM):
    config = Config()
    config.strategy = "llvm"
    code = Module(Engine(config), wasm)._compiled()
    assert code.tier == "baseline" and code._hot is not None
    return code, code._hot


def _exit(watch) -> None:
    """What the process's exit does for ``watch`` (its last look, then the heat it leaves)."""
    import weakref
    tiering._at_exit(weakref.ref(watch))


def _heat(key):
    from wasmforge import _cache
    return modcache.parse_heat(modcache.load_part(key, tiering.HEAT_PART,
                                                  cache=_cache.folder("llvm")))


def test_heat_left_by_processes_under_hot_cpu_adds_up_to_a_batch(tmp_path, monkeypatch):
    _in_process_env(monkeypatch, tmp_path)          # (HOT_CPU 0.02 s: 80 samples)
    fake = _OnceSampler()
    _kernel_opens(monkeypatch, classmethod(lambda cls, period_ns=0: fake))
    # Two runs of 30 samples each: neither fires, both leave their heat.
    for _ in range(2):
        code, watch = _watched()
        fake.ips = [code.func_addrs[STEP], code.func_addrs[WORK], code.func_addrs[WORK]] * 10
        watch.look()
        _exit(watch)
        assert watch.fired == 0
    key = watch._entry
    assert _heat(key) == (60, {STEP: 20, WORK: 40})
    assert modcache.load_part(key, tiering.HOT_PART, cache=watch._cache) is None
    # A third run of 30 more crosses 80 samples: its batch is the heat's hot functions, and
    # the heat it spent leaves the part.
    code, watch = _watched()
    fake.ips = [code.func_addrs[STEP], code.func_addrs[WORK], code.func_addrs[WORK]] * 10
    watch.look()
    assert watch.fired == 1 and watch.batch == [STEP, WORK]
    assert modcache.parse_batches(modcache.load_part(key, tiering.HOT_PART, cache=watch._cache)) \
        == [[STEP, WORK]]
    assert _heat(key) == (0, {})
    _exit(watch)                                    # (nothing left since the batch)
    assert _heat(key) == (0, {})


def test_heat_of_functions_bound_optimised_is_not_counted_again(tmp_path, monkeypatch):
    _in_process_env(monkeypatch, tmp_path)
    fake = _OnceSampler()
    _kernel_opens(monkeypatch, classmethod(lambda cls, period_ns=0: fake))
    code, watch = _watched()
    key, cache = watch._entry, watch._cache
    # Heat of `work` and `step` (70 samples), and their batch listed as made already: what is
    # left of the heat is `fill3`'s 5, short of the 80 samples (no batch of it), and the
    # stale 70 leave the part with this run's exit.
    modcache.store_part(key, tiering.HEAT_PART,
                        modcache.format_heat(75, {STEP: 30, WORK: 40, 5: 5}), cache=cache)
    modcache.add_batches(key, tiering.HOT_PART, cache, [[STEP, WORK]])
    fake.ips = [code.func_addrs[5]] * 10
    watch.look()
    assert watch.fired == 0 and watch.samples == 15 and watch.heat == {5: 15}
    _exit(watch)
    assert _heat(key) == (15, {5: 15})


@pytest.mark.parametrize("garbage", [b"\xff\xfe junk", b"heat1 -4 1:2", b"heat1 3 1:2 2:9",
                                     b"heat1 9 1:2 1:3", b"heat1 9 x:y", b"heat2 9 1:2", b""])
def test_a_damaged_heat_part_counts_as_none(tmp_path, monkeypatch, garbage):
    _in_process_env(monkeypatch, tmp_path)
    fake = _OnceSampler()
    _kernel_opens(monkeypatch, classmethod(lambda cls, period_ns=0: fake))
    code, watch = _watched()
    modcache.store_part(watch._entry, tiering.HEAT_PART, garbage, cache=watch._cache)
    assert modcache.parse_heat(garbage) == (0, {})
    fake.ips = [code.func_addrs[WORK]] * 12
    watch.look()
    _exit(watch)
    assert watch.fired == 0 and _heat(watch._entry) == (12, {WORK: 12})


def test_the_heat_part_stays_bounded(tmp_path, monkeypatch):
    monkeypatch.setenv("WASMFORGE_CACHE_DIR", str(tmp_path))
    from wasmforge import _cache
    cache, key = _cache.folder("llvm"), "mod-" + "0" * 64 + ".o"
    for run in range(50):       # (runs that never fire: every slot taken, say)
        counts = {k: 1 + (k % 7) for k in range(run * 40, run * 40 + 40)}
        assert modcache.add_heat(key, "heat", cache, sum(counts.values()) + 3, counts,
                                 keep=100, cap=1000)
    total, counts = modcache.parse_heat(modcache.load_part(key, "heat", cache=cache))
    assert len(counts) <= 100 and sum(counts.values()) <= total <= 1000
    assert len(modcache.load_part(key, "heat", cache=cache)) < 1200
    # Taking off more than is there empties it: the part goes.
    modcache.add_heat(key, "heat", cache, 0, {}, taken_total=total, taken=counts)
    assert modcache.load_part(key, "heat", cache=cache) is None


def _burn(cache, tmp_path, seconds: float, hot_cpu: str):
    """A process that makes the module from the cache and calls ``work`` for ``seconds`` of
    its CPU (under HOT_CPU ``hot_cpu``); it prints its watch's batches sent and samples."""
    script = _instance_script(tmp_path) + textwrap.dedent(f"""
        import time
        start = time.process_time()
        while time.process_time() - start < {seconds!r}:
            ex["work"](store, 2000, 3)
        watch = code._hot
        print(code.tier, watch.fired if watch else None)
    """)
    env = _env(cache)
    env["WASMFORGE_LLVM_HOT_CPU"] = hot_cpu
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=env, timeout=300)
    assert done.returncode == 0 and not done.stderr, done.stderr
    return done.stdout.split()


@needs_sampler
def test_short_processes_together_get_their_hot_functions_recompiled(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("WASMFORGE_CACHE_DIR", str(cache))
    key = modcache.key(WASM, False, False, None, DEFAULT_FEATURES)
    # HOT_CPU 0.1 s; each process computes for 0.04 s: two stay under it...
    assert _burn(cache, tmp_path, 0.04, "0.1") == ["baseline", "0"]     # (the compiling run)
    assert _burn(cache, tmp_path, 0.04, "0.1") == ["baseline", "0"]
    total, counts = _heat(key)
    assert 0 < total < 0.1e9 / tiering.SAMPLE_NS and WORK in counts
    assert _hot(cache)[1] is None
    # ...and the runs after them cross it with the heat the first ones left (the last look,
    # at a process's exit, may be the one that sends the batch).
    for _ in range(4):
        assert _burn(cache, tmp_path, 0.04, "0.1")[0] == "baseline"
        hot = modcache.parse_batches(_hot(cache)[1])
        if hot:
            break
    assert hot and WORK in hot[0], hot
    assert _heat(key)[0] < total        # (what the batch took is gone from the part)


@needs_sampler
def test_a_process_with_the_watch_off_leaves_no_heat(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("WASMFORGE_CACHE_DIR", str(cache))
    key = modcache.key(WASM, False, False, None, DEFAULT_FEATURES)
    for _ in range(2):
        assert _burn(cache, tmp_path, 0.04, "off") == ["baseline", "None"]
    assert _heat(key) == (0, {}) and _hot(cache)[1] is None
    assert _burn(cache, tmp_path, 0.04, "1") == ["baseline", "0"]     # (the watch on: heat)
    assert _heat(key)[0] > 0
