"""Optimised code for lazily compiled modules (llvm/lazytier.py) and what a warm run of one
loads from the module cache without decoding (llvm/modcache.py: the pack, the module's
facts, the initial memory)."""

import os
import pickle
import time

import pytest

from wasmforge import Instance, Module, Store, Trap, _cache, wat2wasm
from wasmforge.api.engine import Config, Engine
from wasmforge.binary.decode import SKIPPED_DATA, decode_module
from wasmforge.llvm import compiler, jit, lazytier, modcache, perfsample
from wasmforge.runtime.instance import initial_data_runs

WAT = """
(module
  (type $t (func (param i32) (result i32)))
  (memory (export "mem") 1)
  (data (i32.const 100) "abc")
  (data (i32.const 103) "def")
  (data (i32.const 120) "xyz")
  (data (i32.const 101) "Q")
  (table 2 funcref)
  (elem (i32.const 0) $a $b)
  (func $a (param i32) (result i32) (i32.add (local.get 0) (i32.const 1)))
  (func $b (param i32) (result i32) (call $a (i32.mul (local.get 0) (i32.const 2))))
  (func $c (export "c") (param i32) (result i32) (call $b (local.get 0)))
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
WASM = wat2wasm(WAT)

pytestmark = pytest.mark.skipif(not jit.use_loader(), reason="our loader: Linux x86-64 only")


@pytest.fixture
def engine(monkeypatch, tmp_path):
    # Every background recompile a test starts is over when it ends (a later test may count
    # what its reader thread maps: tests/llvm/test_lazy.py counts jit.load_object).
    tiers = []

    class Recorded(lazytier.LazyTierUp):
        def __init__(self, *args):
            super().__init__(*args)
            tiers.append(self)

    monkeypatch.setattr(lazytier, "LazyTierUp", Recorded)
    yield _engine(monkeypatch, tmp_path)
    for tier in tiers:
        tier.wait(180)


def _engine(monkeypatch, tmp_path):
    monkeypatch.setenv("WASMFORGE_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("WASMFORGE_LLVM_LAZY", "1")
    monkeypatch.delenv("WASMFORGE_LLVM_BASELINE", raising=False)
    config = Config()
    config.strategy = "llvm"
    return Engine(config)


def run_all(store, ex):
    out = [ex["c"](store, 5), ex["fib"](store, 20)]
    out += [ex["ind"](store, k, 50) for k in range(2)]
    with pytest.raises(Trap) as info:
        ex["down"](store, 3)
    out.append((info.value.message, info.value.frames))
    out.append(ex["mem"].read(store, 100, 123))
    return out


def instance(engine, module):
    store = Store(engine)
    return store, Instance(store, module, []).exports(store)


def spend_cpu(seconds):
    start = time.process_time()
    while time.process_time() - start < seconds:
        sum(range(1000))


def pack_path(tmp_path):
    names = [n for n in os.listdir(tmp_path / "llvm") if n.endswith("-pack.o")]
    assert len(names) == 1
    return tmp_path / "llvm" / names[0]


def cold_run_then_tier_up(engine):
    module = Module(engine, WASM)
    store, ex = instance(engine, module)
    expected = run_all(store, ex)
    assert expected[:4] == [11, 6765, 51, 101]
    assert expected[5] == b"aQcdef" + bytes(14) + b"xyz"
    code = module._compiled()
    assert code.lazy and code.lazy_tier is not None
    baseline = list(code.func_addrs)
    # Nobody asks for the code: the recompile starts once the run has spent TIER_UP_CPU.
    spend_cpu(compiler.TIER_UP_CPU * 1.5)
    assert code.lazy_tier.wait(180)
    return module, store, ex, expected, baseline


def test_a_lazily_compiled_run_that_computes_long_gets_its_batches_optimised(engine, tmp_path):
    module, store, ex, expected, baseline = cold_run_then_tier_up(engine)
    code = module._compiled()
    compiled = [k for k, a in enumerate(baseline) if a]
    assert code.lazy_tier.swapped >= 1
    # Every function compiled so far now runs optimised code from the background compile:
    # the function table (vm[LAZY]) and func_addrs hold its addresses.
    assert all(code.func_addrs[k] != baseline[k] for k in compiled)
    assert all(code.lazy_table[k] == code.func_addrs[k] for k in compiled)
    # The same results, trap and all, on the running instance and on a new one.
    assert run_all(store, ex) == expected
    assert run_all(*instance(engine, module)) == expected
    # The pack holds them: a warm run loads optimised batches and recompiles nothing.
    warm = Module(engine, WASM)
    warm_code = warm._compiled()
    assert warm_code is not code
    assert set(lazytier.load_pack(warm_code.cache_key)) == \
        {compiler._batch_part(b) for b in code._plan.values()}
    assert run_all(*instance(engine, warm)) == expected
    assert warm_code.lazy_tier is None, "a warm run of optimised batches recompiled some"


def test_a_short_run_starts_no_recompile(engine):
    module = Module(engine, WASM)
    store, ex = instance(engine, module)
    assert ex["c"](store, 5) == 11
    code = module._compiled()
    time.sleep(0.3)                 # (sleeping costs no CPU)
    assert code.lazy_tier is not None and code.lazy_tier._proc is None


@pytest.mark.parametrize("mapped", [False, True], ids=["read", "mapped"])
def test_a_tampered_pack_is_refused_and_the_batches_recompiled(engine, tmp_path, monkeypatch,
                                                               mapped):
    # (A warm run reads and authenticates the pack on a thread while it decodes the binary,
    # llvm/lazytier.py prefetch_pack; a pack from _cache.MAP_BYTES on is mapped, not read.)
    if mapped:
        monkeypatch.setattr(_cache, "MAP_BYTES", 1)
    module, _, _, expected, _ = cold_run_then_tier_up(engine)
    path = pack_path(tmp_path)
    data = bytearray(path.read_bytes())
    data[-5] ^= 0xFF                # inside the last image: only the HMAC can tell
    path.write_bytes(bytes(data))
    warm = Module(engine, WASM)
    code = warm._compiled()
    assert code._pack == {} and not path.exists()
    assert run_all(*instance(engine, warm)) == expected
    # Its batches came from their baseline parts, so they are recompiled again.
    assert code.lazy_tier is not None
    assert code.lazy_tier.wait(180) and code.lazy_tier.swapped >= 1
    assert run_all(*instance(engine, warm)) == expected


def test_a_prefetched_pack_is_the_pack_loaded(engine, tmp_path, monkeypatch):
    monkeypatch.setattr(_cache, "MAP_BYTES", 1)
    cold_run_then_tier_up(engine)
    key = Module(engine, WASM)._compiled().cache_key
    direct = {name: bytes(image) for name, image in lazytier.load_pack(key).items()}
    assert direct and not lazytier._prefetched
    lazytier.prefetch_pack(key)
    lazytier.prefetch_pack(key)             # (once per entry and folder)
    assert len(lazytier._prefetched) == 1
    got = lazytier.load_pack(key)
    assert not lazytier._prefetched         # (taken)
    assert all(isinstance(image, memoryview) for image in got.values())
    assert {name: bytes(image) for name, image in got.items()} == direct


def test_the_pack_format_round_trips():
    images = {"b1": b"\x00wfimage one", "b2": b"two" * 100}
    packed = lazytier.format_pack(images)
    assert {k: bytes(v) for k, v in lazytier.parse_pack(packed).items()} == images
    assert lazytier.parse_pack(packed[:20]) == {}
    assert lazytier.parse_pack(b"garbage") == {}


def test_a_warm_run_decodes_no_body_and_no_data_segment(engine):
    # QuickJS (1.0 MB of code, under the decoder's lazy threshold) decoded all of its bodies
    # on every warm run, then read them all again for the calling convention and exceptions;
    # a Go program decoded 86,137 data segments.
    cold = Module(engine, WASM)
    expected = run_all(*instance(engine, cold))
    warm = Module(engine, WASM)
    module = warm._compiled().module
    assert all(d is SKIPPED_DATA for d in module.datas)
    assert run_all(*instance(engine, warm)) == expected
    assert all(f._body is None for f in module.funcs), "a body decoded on a warm run"


def test_initial_data_runs_merge_a_dense_memory_and_keep_the_order_of_writes():
    module = decode_module(WASM)
    runs = initial_data_runs(module)
    # One run for the memory (24 bytes of 23 held), the later "Q" over the first "b".
    assert runs == [(0, 100, b"aQcdef" + bytes(14) + b"xyz")]
    sparse = decode_module(wat2wasm(
        '(module (memory 2) (data (i32.const 0) "a") (data (i32.const 70000) "b"))'))
    assert initial_data_runs(sparse) == [(0, 0, b"a"), (0, 70000, b"b")]
    passive = decode_module(wat2wasm('(module (memory 1) (data "p") (data (i32.const 0) "a"))'))
    assert initial_data_runs(passive) is None
    oob = decode_module(wat2wasm('(module (memory 1) (data (i32.const 65535) "ab"))'))
    assert initial_data_runs(oob) is None


def test_the_data_part_round_trips_and_a_tampered_one_is_refused(engine, tmp_path):
    key = modcache.key(WASM, False, False, None, engine.features)
    runs = [(0, 100, b"abc"), (1, 7, b"")]
    modcache.store_data(key, runs)
    assert [(k, o, bytes(d)) for k, o, d in modcache.load_data(key)] == runs
    path = tmp_path / "llvm" / ("data-" + key[len("mod-"):])
    data = bytearray(path.read_bytes())
    data[-1] ^= 1
    path.write_bytes(bytes(data))
    assert modcache.load_data(key) is None and not path.exists()


def test_a_warm_run_reaching_a_function_in_another_order_takes_the_cached_batch_holding_it(
        engine, monkeypatch):
    # The Go program's runtime does not reach its functions in the same order on every run:
    # a function first called on its own, where the run that planned the batches reached it
    # from a caller, made a new batch (and compiled it, importing LLVM) on a warm run.
    cold = Module(engine, WASM)
    store, ex = instance(engine, cold)
    assert ex["c"](store, 5) == 11          # one batch: c and, through it, b and a
    assert ex["ind"](store, 0, 50) == 51    # ind's batch ($a is compiled already)
    monkeypatch.setenv("WASMFORGE_LLVM_BASELINE", "0")    # (no background recompile here)

    def compiled(*args, **kwargs):
        raise AssertionError("a warm run compiled a batch")
    monkeypatch.setattr(jit, "compile_ir", compiled)
    warm = Module(engine, WASM)
    store, ex = instance(engine, warm)
    assert ex["ind"](store, 1, 50) == 101   # $b first, through the table
    assert ex["c"](store, 5) == 11


def test_an_idle_recompiling_child_ends_and_a_new_one_takes_later_batches(engine, monkeypatch):
    # A process that keeps a module but runs no new code (a test suite's) kept an idle child
    # per module until it exited.
    monkeypatch.setattr(lazytier, "IDLE_SECONDS", 0.5)
    module = Module(engine, WASM)
    store, ex = instance(engine, module)
    assert ex["c"](store, 5) == 11
    code = module._compiled()
    assert code.lazy_tier.wait(180) and code.lazy_tier.swapped >= 1
    first = code.lazy_tier._proc
    deadline = time.monotonic() + 60
    while first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert first.poll() is not None, "the idle child is still there"
    swapped = code.lazy_tier.swapped
    assert ex["fib"](store, 20) == 6765     # a batch not compiled yet
    assert code.lazy_tier.wait(180) and code.lazy_tier.swapped > swapped
    assert code.lazy_tier._proc is not first
    assert ex["fib"](store, 20) == 6765 and ex["c"](store, 5) == 11


def test_a_child_queued_for_a_token_ends_with_its_parent(engine):
    # Its "parent" pipe for take_token was one nobody wrote to or closed: a child waiting for
    # a token (other children's compiles holding them all) outlived its parent until a token
    # came or its alarm (TIER_UP_SECONDS) went off.
    import types
    module = Module(engine, WASM)
    store, ex = instance(engine, module)
    assert ex["c"](store, 5) == 11
    code = module._compiled()
    tokens_r, tokens_w = os.pipe()          # no token in it
    os.set_blocking(tokens_r, False)
    try:
        holder = types.SimpleNamespace(_tokens=(tokens_r, tokens_w), _cache=code.lazy_tier._cache)
        proc = lazytier.LazyTierUp._spawn(holder, code)
        assert proc is not None
        f = code.module.funcs[0]
        lazytier._send(proc.stdin, ([0], {0: (f.typeidx, f.locals, list(f.iter_body()))}))
        time.sleep(2)                       # (it waits for a token by now)
        proc.stdin.close()                  # the parent ends (as at its SIGKILL)
        try:
            proc.wait(30)
        except Exception:
            proc.kill()
            proc.wait()
            raise
        assert lazytier._receive(proc.stdout) in (None, ([0], None))    # nothing compiled
    finally:
        os.close(tokens_r)
        os.close(tokens_w)


def test_the_feeding_thread_ends_with_its_module(engine, monkeypatch):
    # It waited for batches forever: a process making module after module (a server) kept a
    # sleeping thread for each.
    import gc
    monkeypatch.setattr(lazytier, "IDLE_SECONDS", 0.2)
    module = Module(engine, WASM)
    store, ex = instance(engine, module)
    assert ex["c"](store, 5) == 11
    tier = module._compiled().lazy_tier
    assert tier.wait(180)
    del module, store, ex
    gc.collect()
    tier._thread.join(30)
    assert not tier._thread.is_alive()


def test_the_background_recompile_has_an_off_switch(engine, monkeypatch, tmp_path):
    monkeypatch.setenv("WASMFORGE_LLVM_LAZY_TIERUP", "0")
    module = Module(engine, WASM)
    store, ex = instance(engine, module)
    assert ex["c"](store, 5) == 11 and ex["fib"](store, 20) == 6765
    code = module._compiled()
    assert code.lazy and code._lazy_baseline        # baseline batches, as by default
    spend_cpu(compiler.TIER_UP_CPU * 1.5)
    assert code.lazy_tier is None
    assert not [n for n in os.listdir(tmp_path / "llvm") if n.endswith("-pack.o")]


def _hold(path):
    import fcntl
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def test_recompiling_children_are_capped_for_the_cache_folder(engine, monkeypatch, tmp_path):
    # One child per lazily compiled module with recent baseline batches, in every process of
    # the user, each waiting with about 26 MB: now as many at once as there are slots (lock
    # files in the cache folder), here one, held by "another process".
    monkeypatch.setenv("WASMFORGE_LLVM_LAZY_TIERUP", "1")
    monkeypatch.setattr(lazytier, "SLOT_RETRY", 0.1, raising=False)
    (tmp_path / "llvm").mkdir(mode=0o700, exist_ok=True)
    held = _hold(tmp_path / "llvm" / "recompile-0.lock")
    try:
        module = Module(engine, WASM)
        store, ex = instance(engine, module)
        assert ex["c"](store, 5) == 11
        tier = module._compiled().lazy_tier
        assert not tier.wait(1.0)
        assert tier._proc is None, "a recompiling child beyond the cap"
    finally:
        os.close(held)
    # The slot is free: the batches noted meanwhile are recompiled.
    assert tier.wait(180) and tier.swapped >= 1
    assert ex["c"](store, 5) == 11


def test_two_children_storing_one_pack_keep_each_others_batches(engine, monkeypatch, tmp_path):
    # Each read the pack, added its batches and wrote it: one that read it before the other
    # wrote dropped the other's batches.
    import threading
    key = modcache.key(WASM, False, False, None, engine.features)
    cache = modcache._cache.folder("llvm")
    real = modcache.store_part

    def slow_store_part(*args, **kwargs):
        time.sleep(0.3)             # (a big pack takes a while to write)
        real(*args, **kwargs)
    monkeypatch.setattr(modcache, "store_part", slow_store_part)
    threads = [threading.Thread(target=lazytier._store, args=(key, cache, {f"b{k}": b"image%d" % k}))
               for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert {k: bytes(v) for k, v in lazytier.load_pack(key, cache).items()} == \
        {f"b{k}": b"image%d" % k for k in range(4)}


def test_a_kept_child_stops_at_its_cpu_budget(engine, monkeypatch):
    # After a long run the child compiled everything it was sent, however long that took
    # (the Go program's first run left 244 s of CPU behind); now within the budget the run
    # gives it (LEFT_CPU_FACTOR times its own CPU): here none, so only the batch in hand.
    # The batches left go into the pack as their baseline code: a warm run reads one file.
    import types
    monkeypatch.setenv("WASMFORGE_LLVM_LAZY_TIERUP", "0")     # (this run's own child: none)
    module = Module(engine, WASM)
    expected = run_all(*instance(engine, module))
    code = module._compiled()
    assert code.lazy_tier is None
    monkeypatch.setenv("WASMFORGE_LLVM_LAZY_TIERUP", "2")
    holder = types.SimpleNamespace(_tokens=compiler._recompile_tokens(),
                                   _cache=modcache._cache.folder("llvm"))
    proc = lazytier.LazyTierUp._spawn(holder, code)
    assert proc not in (None, lazytier.BUSY)
    funcs = code.module.funcs
    batches = sorted(code._plan.values())
    assert len(batches) >= 3
    for b in batches:
        lazytier._send(proc.stdin, (b, {j: (funcs[j].typeidx, funcs[j].locals,
                                            list(funcs[j].iter_body())) for j in b}))
    lazytier._send(proc.stdin, (b"k", 0.0))
    proc.stdin.close()
    try:
        proc.wait(120)
    except Exception:
        proc.kill()
        proc.wait()
        raise
    got = []
    while (msg := lazytier._receive(proc.stdout)) is not None:
        got.append(msg)
    assert 1 <= len(got) < len(batches)
    pack = lazytier.load_pack(code.cache_key)
    optimised = [b for b in batches if lazytier.batch_part(b) in pack]
    baseline = [b for b in batches if lazytier.baseline_part(lazytier.batch_part(b)) in pack]
    assert optimised and sorted(optimised + baseline) == batches
    # A warm run takes every batch from the pack (no file of its own read), the optimised
    # ones as such, and has the others recompiled.
    monkeypatch.setenv("WASMFORGE_LLVM_LAZY_TIERUP", "0")
    reads = []
    real_load_part = modcache.load_part

    def load_part(entry, part, cache=None, mapped=False):
        reads.append(part)
        return real_load_part(entry, part, cache, mapped=mapped)
    monkeypatch.setattr(modcache, "load_part", load_part)
    warm = Module(engine, WASM)
    assert run_all(*instance(engine, warm)) == expected
    assert not [p for p in reads if p.startswith("b")], reads
    assert warm._compiled()._pack == {}


def test_the_hottest_baseline_batch_is_recompiled_first(engine, monkeypatch):
    # The child compiled batches in the order the run first called them (start-up code
    # first); with a CPU budget after the run's exit, the hot ones must come first.
    sampler = getattr(lazytier, "Sampler", None)
    if sampler is not None:
        probe = sampler.open()
        if probe is None:
            pytest.skip("the kernel refuses perf_event_open here: batches go in noted order")
        probe.close()
    sent = []
    real_send = lazytier._send

    def send(out, msg):
        if isinstance(msg, tuple) and len(msg) == 2 and isinstance(msg[1], dict):
            sent.append(sorted(msg[0]))
        real_send(out, msg)
    monkeypatch.setattr(lazytier, "_send", send)
    module = Module(engine, WASM)
    store, ex = instance(engine, module)
    assert ex["c"](store, 5) == 11          # noted first, cold from now on
    start = time.process_time()
    while time.process_time() - start < compiler.TIER_UP_CPU * 3:
        assert ex["fib"](store, 20) == 6765     # noted second, where the run spends its CPU
    tier = module._compiled().lazy_tier
    assert tier.wait(180)
    assert sent[:2] == [[5, 6], [0, 1, 2]], sent   # fib's batch (fib, $fib2), then c's


def test_a_cache_folder_without_locks_neither_blocks_nor_caps_the_recompile(engine, monkeypatch):
    # flock failing with ENOLCK (a network filesystem) must not read as "every slot taken":
    # the batches would wait for a slot forever and stay baseline code.
    import errno
    import fcntl

    def no_locks(fd, op):
        raise OSError(errno.ENOLCK, "no locks")
    monkeypatch.setattr(fcntl, "flock", no_locks)
    module = Module(engine, WASM)
    store, ex = instance(engine, module)
    assert ex["c"](store, 5) == 11
    tier = module._compiled().lazy_tier
    assert tier.wait(180) and tier.swapped >= 1


def test_a_short_runs_module_collected_closes_its_sampler(monkeypatch, tmp_path):
    # The feeding thread, ended before the run had spent TIER_UP_CPU (a module collected
    # after a short run: a server's, a test suite's), left its perf event open: a file
    # descriptor and a mapped ring per module, and the kernel still sampling the thread.
    # (Not the engine fixture: its tier.wait would wait out its timeout for the batch noted
    # and never sent; the thread is over when this test ends.)
    import gc
    engine = _engine(monkeypatch, tmp_path)
    module = Module(engine, WASM)
    store, ex = instance(engine, module)
    assert ex["c"](store, 5) == 11
    tier = module._compiled().lazy_tier
    sampler = tier._sampler
    if sampler is None:
        pytest.skip("the kernel refuses perf_event_open here: no sampler to close")
    del module, store, ex
    gc.collect()
    tier._thread.join(30)
    assert not tier._thread.is_alive() and tier._sampler is None
    assert sampler.closed and sampler not in sampler._samplers.shares


def test_a_refused_perf_event_open_gives_no_sampler_and_leaks_nothing(monkeypatch):
    # perf_event_paranoid 3, a container's seccomp profile (EACCES, EPERM, ENOSYS): no
    # sampler, silently; a ring the kernel will not map (perf_event_mlock_kb): its fd closed.
    class Refusing:
        def __init__(self, *args, **kwargs):
            pass

        def syscall(self, *args):
            return -1
    monkeypatch.setattr(perfsample.ctypes, "CDLL", Refusing)
    assert lazytier.Sampler.open() is None
    monkeypatch.undo()

    def no_map(*args, **kwargs):
        raise OSError(1, "Operation not permitted")
    monkeypatch.setattr(perfsample.mmap, "mmap", no_map)
    fds = set(os.listdir("/proc/self/fd"))
    assert lazytier.Sampler.open() is None
    assert set(os.listdir("/proc/self/fd")) == fds


def test_a_malformed_ring_buffer_does_not_crash_the_drain():
    # The parent reads what the kernel wrote; records of size 0 or past the head, or a head
    # far beyond the tail, end the drain instead of raising or looping.
    import mmap
    import struct
    page = mmap.PAGESIZE
    size = lazytier.Sampler._PAGES * page

    def drain(head, tail, records):
        ring = mmap.mmap(-1, page + size)
        struct.pack_into("<QQ", ring, 1024, head, tail)
        at = page
        for rec in records:
            ring[at:at + len(rec)] = rec
            at += len(rec)
        sampler = lazytier.Sampler(os.open(os.devnull, os.O_RDONLY), ring)
        try:
            return sampler.drain(), struct.unpack_from("<Q", ring, 1032)[0]
        finally:
            sampler.close()
    sample = struct.pack("<IHHQ", 9, 0, 16, 0x1234)
    assert drain(16, 0, [sample]) == ([0x1234], 16)
    assert drain(32, 0, [sample, struct.pack("<IHHQ", 9, 0, 0, 0)]) == ([0x1234], 32)
    assert drain(24, 0, [struct.pack("<IHH", 9, 0, 8), struct.pack("<IHH", 9, 0, 65535)]) \
        == ([], 24)
    assert drain(2**63, 0, [sample]) == ([], 2**63)
    assert drain(0, 64, [sample]) == ([], 0)


def _pack_of_baseline_batches(engine, monkeypatch):
    """A cold run without a recompile, then the pack an earlier run's child leaves when it has
    no budget for any batch: every batch as its baseline image (``baseline_part``)."""
    monkeypatch.setenv("WASMFORGE_LLVM_LAZY_TIERUP", "0")
    module = Module(engine, WASM)
    expected = run_all(*instance(engine, module))
    code = module._compiled()
    images = {}
    for batch in code._plan.values():
        part = lazytier.batch_part(batch)
        images[lazytier.baseline_part(part)] = bytes(modcache.load_part(code.cache_key, part))
    modcache.store_part(code.cache_key, lazytier.PACK, lazytier.format_pack(images))
    monkeypatch.delenv("WASMFORGE_LLVM_LAZY_TIERUP")
    return expected


def _need_sampler():
    probe = lazytier.Sampler.open()
    if probe is None:
        pytest.skip("the kernel refuses perf_event_open here: cold batches are noted as any")
    probe.close()


def test_a_warm_run_spawns_no_recompile_for_cold_batches_of_the_pack(engine, monkeypatch):
    # Batches an earlier run's child left baseline code in the pack (no budget left for them:
    # the coldest) were noted, shipped to a new child and recompiled by every warm run that
    # computed for TIER_UP_CPU: the Go program's warm runs met 481 of them, yosys's 3,578.
    # Now only those this run is seen to spend its time in are.
    _need_sampler()
    expected = _pack_of_baseline_batches(engine, monkeypatch)
    warm = Module(engine, WASM)
    store, ex = instance(engine, warm)
    assert run_all(store, ex) == expected
    code = warm._compiled()
    assert code._pack == {} and code.lazy_tier is not None
    spend_cpu(compiler.TIER_UP_CPU * 2)         # (in Python: no sample in a batch)
    time.sleep(2 * lazytier.COLD_POLL)
    tier = code.lazy_tier
    assert tier._proc is None and tier._sent == 0, "cold batches were sent to a child"
    assert len(tier._cold) == len({tuple(b) for b in code._plan.values()})
    # Where the run then spends its CPU (fib's batch), the batch is hot: recompiled.
    start = time.process_time()
    while tier._proc is None and time.process_time() - start < 20:
        assert ex["fib"](store, 20) == 6765
    assert tier._proc is not None, "a hot batch of the pack was not recompiled"
    assert tier.wait(180) and tier.swapped >= 1
    assert [5, 6] in tier.order and [0, 1, 2] not in tier.order, tier.order
    assert run_all(store, ex) == expected


def test_cold_batches_run_hot_on_another_thread_than_the_loaders_are_recompiled(engine, monkeypatch):
    # A server loads its app on one thread and runs the requests on its workers: the sampler
    # of the loading thread alone never saw a sample, so the pack's cold batches stayed
    # baseline code for the server's whole life (the componentize-js handler: 138 batches,
    # none promoted after 400 requests).  The other threads are sampled too now.
    import threading
    _need_sampler()
    expected = _pack_of_baseline_batches(engine, monkeypatch)
    warm = Module(engine, WASM)
    store, ex = instance(engine, warm)
    tier = warm._compiled().lazy_tier
    assert tier is not None and tier._cold
    done = threading.Event()
    answers = []

    def worker():
        start = time.process_time()
        while not done.is_set() and time.process_time() - start < 20:
            answers.append(ex["fib"](store, 20))

    thread = threading.Thread(target=worker)
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while tier._proc is None and time.monotonic() < deadline and thread.is_alive():
            time.sleep(lazytier.COLD_POLL)
    finally:
        done.set()
        thread.join()
    assert set(answers) == {6765}
    assert tier.promoted and tier._proc is not None, "a batch hot on a worker thread was not recompiled"
    assert tier.wait(180) and tier.swapped >= 1
    assert [5, 6] in tier.order and [0, 1, 2] not in tier.order, tier.order
    assert run_all(store, ex) == expected
    # (the worker's event is closed once the thread has ended)
    with tier._cond:
        tier._drain()
        assert tier._sampler is None or thread.native_id not in tier._sampler._samplers.threads


def test_a_warm_run_sends_its_batches_raw_bodies_to_the_child(engine):
    # Decoded and pickled as instructions, yosys's batches took its warm run about a second
    # of CPU at its exit (_keep_at_exit); the child decodes the raw bytes itself.
    cold = Module(engine, WASM)
    expected = run_all(*instance(engine, cold))
    warm = Module(engine, WASM)
    assert run_all(*instance(engine, warm)) == expected
    code = warm._compiled()
    batch = sorted(code._plan.values())[0]
    [(sent, bodies)] = lazytier._messages(code, [batch])
    assert sent == batch and all(isinstance(body, bytes) for _, _, body in bodies.values())
    assert all(code.module.funcs[j]._body is None for j in batch), "a body decoded to send it"
    light = pickle.loads(pickle.dumps(lazytier._bodiless(code.module)))    # (as the child gets it)
    reference = decode_module(WASM, lazy=False)
    for j, (_, _, body) in bodies.items():
        assert lazytier._body(light, body) == reference.funcs[j].body


def test_a_warm_run_binds_the_packs_batches_before_the_first_call(engine, monkeypatch):
    # Each batch was bound on its first call: through the compile callback, or through a
    # call_indirect made in Python (its table slot empty until then) — yosys's warm run made
    # 1,234 of the one and 2,590 of the other for the 3,600 batches its pack held.
    _, _, _, expected, _ = cold_run_then_tier_up(engine)
    warm = Module(engine, WASM)
    code = warm._compiled()
    planned = {k for b in code._plan.values() for k in b}
    assert planned and all(code.func_addrs[k] for k in planned)
    assert code._pack == {}

    def ensure(self, j):
        raise AssertionError(f"function {j} was bound on its first call")
    monkeypatch.setattr(compiler.CompiledModule, "ensure", ensure)
    assert run_all(*instance(engine, warm)) == expected
    assert code.lazy_tier is None       # (all of them optimised: nothing to recompile)


def test_a_short_warm_run_puts_the_batches_it_met_outside_the_pack_into_it(engine, monkeypatch):
    # The Go program's warm runs each met the same 14 batches outside the pack: read from
    # files of their own, noted as new, a child spawned for them and ended with the run
    # (too short to keep it) before it compiled anything, every time.
    import weakref
    _pack_of_baseline_batches(engine, monkeypatch)
    key = modcache.key(WASM, False, False, None, engine.features)
    pack = {k: bytes(v) for k, v in lazytier.load_pack(key).items()}
    missing = sorted(pack)[0]
    del pack[missing]
    modcache.store_part(key, lazytier.PACK, lazytier.format_pack(pack))
    warm = Module(engine, WASM)
    store, ex = instance(engine, warm)
    run_all(store, ex)
    tier = warm._compiled().lazy_tier
    assert tier is not None and tier._proc is None
    # The run does not write the pack itself (reading and writing all of it took the Go
    # program's warm run 0.05 s of CPU and 29 MB): a child it keeps does.
    stores = []
    monkeypatch.setattr(lazytier, "_store", lambda *args: stores.append(args))
    lazytier._keep_at_exit(weakref.ref(tier))       # (the run's exit, short)
    assert stores == [] and tier._proc is not None
    assert _finish(tier._proc) == []                # (it compiles nothing: none was hot)
    assert missing in lazytier.load_pack(key)
    # The next run binds every batch from the pack, before its first call.
    again = Module(engine, WASM)
    code = again._compiled()
    assert all(code.func_addrs[k] for b in code._plan.values() for k in b)


def test_a_short_warm_run_keeps_its_child_for_the_cold_batches_it_found_hot(engine, monkeypatch):
    # A run too short to keep its child (the Go program's warm runs: 0.3 s of CPU) never had
    # the pack's cold batches recompiled, however much of its time they took; now its exit
    # hands the hot ones to a child, within MIN_LEFT_CPU.
    import weakref
    _need_sampler()
    expected = _pack_of_baseline_batches(engine, monkeypatch)
    monkeypatch.setattr(compiler, "TIER_UP_CPU", 1000.0)     # (no child during the run)
    warm = Module(engine, WASM)
    store, ex = instance(engine, warm)
    tier = warm._compiled().lazy_tier
    start = time.process_time()
    while time.process_time() - start < 0.8:
        assert ex["fib"](store, 20) == 6765
        with tier._cond:
            tier._drain()
            if tier.promoted_samples() >= lazytier.EXIT_HOT_SAMPLES:
                break
    assert tier.promoted and tier._proc is None
    lazytier._keep_at_exit(weakref.ref(tier))       # (the run's exit, short)
    proc = tier._proc
    assert proc is not None, "no child kept for the hot batch"
    proc.stdin.close()                              # (the process ends)
    try:
        proc.wait(120)
    except Exception:
        proc.kill()
        proc.wait()
        raise
    # (Its answers, which the ended process would never read: read here, as a running one's
    # reader thread does, so that the fixture's wait for this tier ends now, not after 180 s.)
    tier._read(proc)
    assert lazytier.batch_part([5, 6]) in lazytier.load_pack(warm._compiled().cache_key)
    assert run_all(*instance(engine, Module(engine, WASM))) == expected


def _switch_wat(depth):
    """A function ``deep`` that switches on its argument over ``depth`` nested blocks, as a C
    compiler lowers an interpreter's dispatch (QuickJS's JS_CallInternal nests 282 deep):
    case ``c`` returns ``3 * c``, case 7 traps, any other value is the last case."""
    labels = " ".join(f"$b{depth - 1 - c}" for c in range(depth))
    text = f"(br_table {labels} $b0 (local.get 0))"
    for m in range(depth - 1, -1, -1):
        case = depth - 1 - m
        code = "unreachable" if case == 7 else f"(return (i32.const {3 * case}))"
        text = f"(block $b{m} {text}) {code}"
    return f'(module (func $deep (export "deep") (param i32) (result i32) {text} (i32.const -1)))'


def test_a_function_nested_beyond_the_optimisers_limit_is_recompiled_optimised(engine):
    # An interpreter's dispatch loop nests deeper than codegen.NEST_LIMIT: the child refused
    # it as pathological, so QuickJS's JS_CallInternal (44% of a warm run's CPU) ran
    # baseline code on every run.  The background recompile optimises it now.
    from wasmforge.llvm import codegen
    depth = codegen.NEST_LIMIT + 44
    assert depth < lazytier.RECOMPILE_NEST_LIMIT
    wasm = wat2wasm(_switch_wat(depth))
    module = Module(engine, wasm)
    store, ex = instance(engine, module)
    cases = [0, 1, 150, depth - 1, 100000]
    expected = [ex["deep"](store, c) for c in cases]
    assert expected == [0, 3, 450, 3 * (depth - 1), 3 * (depth - 1)]
    with pytest.raises(Trap) as info:
        ex["deep"](store, 7)
    trap = (info.value.message, info.value.frames)
    code = module._compiled()
    baseline = code.func_addrs[0]
    spend_cpu(compiler.TIER_UP_CPU * 1.5)
    assert code.lazy_tier.wait(180)
    assert code.lazy_tier.swapped == 1 and code.func_addrs[0] != baseline
    assert lazytier.batch_part([0]) in lazytier.load_pack(code.cache_key)
    for store, ex in ((store, ex), instance(engine, module)):
        assert [ex["deep"](store, c) for c in cases] == expected
        with pytest.raises(Trap) as info:
            ex["deep"](store, 7)
        assert (info.value.message, info.value.frames) == trap


UNIT_WAT = """
(module
  (func $inner (export "inner") (param i32) (result i32)
    (local i32 i32)
    (if (i32.eq (local.get 0) (i32.const -1)) (then unreachable))
    (loop $l
      (local.set 2 (i32.add (local.get 2) (i32.mul (local.get 1) (local.get 0))))
      (local.set 1 (i32.add (local.get 1) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get 1) (i32.const 200))))
    (local.get 2))
  (func $other (export "other") (param i32) (result i32) (i32.const 7))
  (func $outer (export "outer") (param i32) (result i32)
    (local i32 i32 i32)
    (loop $l
      (local.set 2 (i32.xor (i32.add (local.get 2)
                                     (call $inner (i32.add (local.get 0) (local.get 1))))
                            (local.get 1)))
      (local.set 3 (i32.const 0))
      (loop $m
        (local.set 2 (i32.add (i32.rotl (local.get 2) (i32.const 5)) (local.get 3)))
        (local.set 3 (i32.add (local.get 3) (i32.const 1)))
        (br_if $m (i32.lt_u (local.get 3) (i32.const 100))))
      (local.set 1 (i32.add (local.get 1) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get 1) (i32.const 300))))
    (local.get 2)))
"""


def test_the_hot_batches_are_recompiled_as_one_unit_calling_each_other_directly(
        engine, monkeypatch):
    # QuickJS's warm run is its interpreter loop calling functions of other batches, each
    # call through the function table's slot.  Batches where the run spends its CPU go to
    # the child together and come back as one LLVM module: calls between them are direct,
    # with the same results, traps and backtraces; a warm run binds the unit whole.
    probe = lazytier.Sampler.open()
    if probe is None:
        pytest.skip("the kernel refuses perf_event_open here: no heat, no units")
    probe.close()
    monkeypatch.setattr(compiler, "TIER_UP_CPU", 0.5)     # (samples of the loop below first)
    wasm = wat2wasm(UNIT_WAT)
    module = Module(engine, wasm)
    store, ex = instance(engine, module)

    def observe(store, ex):
        out = [ex["inner"](store, 3), ex["other"](store, 0), ex["outer"](store, 1)]
        with pytest.raises(Trap) as info:
            ex["outer"](store, -1)      # inner(-1) traps: a backtrace through the call
        return out + [(info.value.message, info.value.frames)]
    expected = observe(store, ex)       # batches [0] (inner), [1] (other), [2] (outer)
    start = time.process_time()
    while time.process_time() - start < 1.0:
        assert ex["outer"](store, 1) == expected[2]
    code = module._compiled()
    tier = code.lazy_tier
    assert tier.wait(180)
    units = [item for item in tier.order if lazytier.is_unit(item)]
    assert units == [[[0], [2]]] or units == [[[2], [0]]], tier.order
    assert observe(store, ex) == expected
    assert observe(*instance(engine, module)) == expected
    # outer calls inner directly: a slot pointing elsewhere changes nothing (in an instance
    # made since: an entry made before keeps the baseline code it was given).
    store, ex = instance(engine, module)
    saved = code.lazy_table[0]
    code.lazy_table[0] = code.func_addrs[1]         # (other: the same type, returns 7)
    try:
        assert ex["outer"](store, 1) == expected[2]
    finally:
        code.lazy_table[0] = saved
    # The pack keeps the unit in place of its batches; a warm run binds it (its calls direct
    # too), has the same results, traps and backtraces, and recompiles nothing.
    pack = lazytier.load_pack(code.cache_key)
    assert lazytier.unit_part(units[0]) in pack
    assert lazytier.batch_part([0]) not in pack and lazytier.batch_part([2]) not in pack
    warm = Module(engine, wasm)
    warm_code = warm._compiled()
    assert warm_code._units == {} and warm_code._pack == {}
    wstore, wex = instance(engine, warm)
    saved = warm_code.lazy_table[0]
    warm_code.lazy_table[0] = warm_code.func_addrs[1]
    try:
        assert wex["outer"](wstore, 1) == expected[2]
    finally:
        warm_code.lazy_table[0] = saved
    assert observe(wstore, wex) == expected
    assert warm_code.lazy_tier is None


# WAT with three more functions, each a batch of its own once called (``e0`` .. ``e2``)
MORE_WASM = wat2wasm(WAT.rstrip()[:-1] + "".join(
    f'(func (export "e{k}") (param i32) (result i32) (i32.mul (local.get 0) (i32.const {k + 3})))'
    for k in range(3)) + ")")


def _kept_child(engine, monkeypatch, wasm=WASM):
    """A module run with no background recompile, its code, its planned batches, and a
    recompiling child spawned for it (the parent's part played by the test)."""
    import types
    monkeypatch.setenv("WASMFORGE_LLVM_LAZY_TIERUP", "0")     # (this run's own child: none)
    module = Module(engine, wasm)
    store, ex = instance(engine, module)
    run_all(store, ex)
    for name in ("e0", "e1", "e2"):
        if name in ex:
            ex[name](store, 1)
    code = module._compiled()
    monkeypatch.setenv("WASMFORGE_LLVM_LAZY_TIERUP", "2")
    holder = types.SimpleNamespace(_tokens=compiler._recompile_tokens(),
                                   _cache=modcache._cache.folder("llvm"))
    proc = lazytier.LazyTierUp._spawn(holder, code)
    assert proc not in (None, lazytier.BUSY)
    return code, sorted(code._plan.values()), proc


def _send_batches(proc, code, batches):
    funcs = code.module.funcs
    for b in batches:
        lazytier._send(proc.stdin, (b, {j: (funcs[j].typeidx, funcs[j].locals,
                                            list(funcs[j].iter_body())) for j in b}))


def _finish(proc):
    proc.stdin.close()
    try:
        proc.wait(120)
    except Exception:
        proc.kill()
        proc.wait()
        raise
    got = []
    while (msg := lazytier._receive(proc.stdout)) is not None:
        got.append(msg)
    return got


def test_a_kept_child_compiles_the_hot_items_beyond_its_budget_and_packs_every_batch_met(
        engine, monkeypatch):
    # After a long run the child compiled what the budget allowed, in the order sent, and put
    # only the batches it was sent into the pack as baseline code: the next runs met the hot
    # batches past the budget as baseline code (QuickJS's three warm runs each left seconds
    # of recompiling behind), and a batch the child never received (a message lost at the
    # exit, one it could not compile) in no pack at all.  And the cold batches between stay
    # baseline code (no budget left for them): a child that ignored its budget compiled them.
    code, batches, proc = _kept_child(engine, monkeypatch, MORE_WASM)
    assert len(batches) >= 6
    sent = batches[:-1]         # (the last one: in the list of batches met only)
    _send_batches(proc, code, sent)
    hot = [lazytier.batch_part(sent[-1])]
    lazytier._send(proc.stdin, (b"k", 0.0, hot, batches))
    got = _finish(proc)
    compiled = [b for b, image in got if image is not None]
    # The first after the exit (or, if it came before the child heard of the exit, the one
    # after it too), and the hot one, past the budget; none of the cold ones after those.
    assert compiled[0] == sent[0] and sent[-1] in compiled and len(compiled) <= 3, compiled
    assert not [b for b in sent[2:-1] if b in compiled], compiled
    pack = lazytier.load_pack(code.cache_key)
    for b in batches:
        part = lazytier.batch_part(b)
        if b in compiled:
            assert part in pack and lazytier.baseline_part(part) not in pack
        else:
            assert lazytier.baseline_part(part) in pack and part not in pack, b


def _free_tokens() -> int:
    """How many of this process's recompile tokens no child holds now."""
    r, w = compiler._recompile_tokens()
    n = 0
    try:
        while os.read(r, 1):
            n += 1
    except BlockingIOError:
        pass
    os.write(w, b"t" * n)
    return n


def _wait_for_tokens(n: int) -> None:
    deadline = time.monotonic() + 30
    while _free_tokens() < n:
        assert time.monotonic() < deadline, "a recompile token was lost"
        time.sleep(0.1)


def test_a_compile_past_its_cpu_cap_ends_the_child_and_is_never_sent_again(engine, monkeypatch):
    # One item's compile was bounded by nothing but the child's alarm (QuickJS's
    # JS_CallInternal: 11 s of O2, past every budget): past ITEM_CPU the child ends, records
    # the item's batches, and once they overran OVERRUN_TRIES times no later process sends
    # them again (nor compiles them).
    slow = ("import time, wasmforge.llvm.jit as jit, wasmforge.llvm.lazytier as lt\n"
            "lt.ITEM_CPU, lt.WATCH_EVERY, real = 0.2, 0.02, jit.compile_ir\n"
            "def compile_ir(*args, **kwargs):\n"
            "    start = time.process_time()\n"
            "    while time.process_time() - start < 5: sum(range(1000))\n"
            "    return real(*args, **kwargs)\n"
            "jit.compile_ir = compile_ir\n") + lazytier.CHILD_CODE
    monkeypatch.setattr(lazytier, "CHILD_CODE", slow)
    tokens = _free_tokens()
    for tries in range(1, lazytier.OVERRUN_TRIES + 1):
        code, batches, proc = _kept_child(engine, monkeypatch)
        start = time.monotonic()
        _send_batches(proc, code, batches[:1])
        lazytier._send(proc.stdin, (b"k", 100.0))
        got = _finish(proc)
        assert got == [] and time.monotonic() - start < 60
        assert lazytier.batch_part(batches[0]) not in lazytier.load_pack(code.cache_key)
        # The token it held is given back: the parent's later children would each wait
        # TOKEN_WAIT for it.
        _wait_for_tokens(tokens)
        # One overrun is not final (a loaded machine stretches a compile's CPU seconds).
        final = tries == lazytier.OVERRUN_TRIES
        assert lazytier.load_overrun(code.cache_key) == (
            {lazytier.batch_part(batches[0])} if final else set()), tries
    # A child sent it again does not compile it (its baseline code stays)...
    monkeypatch.setattr(lazytier, "CHILD_CODE", lazytier.CHILD_CODE.split("\n")[-1])
    _, _, proc = _kept_child(engine, monkeypatch)
    _send_batches(proc, code, batches[:2])
    lazytier._send(proc.stdin, (b"k", 100.0))
    got = dict((tuple(b), image) for b, image in _finish(proc))
    assert got[tuple(batches[0])] is None and got[tuple(batches[1])] is not None
    # ...and a run does not send it.
    tier = lazytier.LazyTierUp(code, modcache._cache.folder("llvm"), 1e9,
                               compiler._recompile_tokens())
    tier.note(batches[0])
    tier.note(batches[1])
    assert tier._queue == [batches[1]]


def test_the_cap_on_one_compile_counts_the_compiling_threads_cpu_alone():
    # The process's CPU counted the thread receiving the parent's batches too, and so could
    # end a compile below ITEM_CPU (and record its batches) while a first run streamed them.
    import threading
    clock = lazytier._thread_clock()
    start = clock()

    def busy():
        begin = time.thread_time()
        while time.thread_time() - begin < 0.3:
            sum(range(1000))

    thread = threading.Thread(target=busy)
    thread.start()
    thread.join()
    assert clock() - start < 0.15


def test_a_pack_is_loaded_when_no_thread_can_be_started(tmp_path, monkeypatch):
    # (prefetch_pack's thread is a head start, never a requirement: load_pack loads it)
    monkeypatch.setenv("WASMFORGE_CACHE_DIR", str(tmp_path))
    _cache.reset()

    def refuse(self):
        raise RuntimeError("can't start new thread")

    images = {"b1": b"\x01" * 100, "b2": b"\x02" * 50}
    modcache.store_part("mod-x.o", lazytier.PACK, lazytier.format_pack(images))
    monkeypatch.setattr(lazytier.threading.Thread, "start", refuse)
    lazytier.prefetch_pack("mod-x.o")
    assert not lazytier._prefetched
    assert {name: bytes(v) for name, v in lazytier.load_pack("mod-x.o").items()} == images


def test_a_short_warm_run_forks_no_child_for_cold_batches_barely_hot(engine, monkeypatch):
    # The Go program's warm runs found a cold batch at HOT_SAMPLES now and then by chance
    # (a few milliseconds of an 0.08 s run), and forked a child at their exit for it each
    # time: under EXIT_HOT_SAMPLES together, the exit forks none, and the batch stays cold.
    import weakref
    _need_sampler()
    _pack_of_baseline_batches(engine, monkeypatch)
    monkeypatch.setattr(compiler, "TIER_UP_CPU", 1000.0)     # (no child during the run)
    monkeypatch.setattr(lazytier, "EXIT_HOT_SAMPLES", 10 ** 9)
    warm = Module(engine, WASM)
    store, ex = instance(engine, warm)
    tier = warm._compiled().lazy_tier
    start = time.process_time()
    while not tier.promoted and time.process_time() - start < 0.8:
        assert ex["fib"](store, 20) == 6765
        with tier._cond:
            tier._drain()
    assert tier.promoted and tier._proc is None
    spawned = []
    monkeypatch.setattr(lazytier.LazyTierUp, "_spawn", lambda self, c: spawned.append(c))
    lazytier._keep_at_exit(weakref.ref(tier))       # (the run's exit, short)
    assert spawned == [] and tier._proc is None, "a child forked for a barely hot batch"
