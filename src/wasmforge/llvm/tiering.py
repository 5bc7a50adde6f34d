"""When an eagerly compiled module running quick code gets optimised code: the tier-up policy
of baseline code made by the quick compiler (llvm/quick) for a whole module.

Such a module starts on quick code (its first run compiles it, later runs load it from the
module cache entry, marked baseline), and its optimised (O2) recompile of the whole module
starts once the process has spent ``compiler.TIER_UP_CPU`` (0.2 s) of CPU — a forked child on
the first run, a fresh ``python`` process on a warm one (llvm/compiler.py, "Baseline first").
A process that ends sooner leaves nothing behind, so its next run starts on quick code again.
That CPU counts the process's own work too: graphviz's first run spends 1.7 s compiling quick
code *before* its child is forked, then renders six graphs in well under 0.2 s of CPU and
exits; its warm runs (about 0.3 s of CPU, most of it importing and loading) never spend 0.2 s
after the load.  So every process of a program whose guest computes for tens of milliseconds
ran quick code for ever (graphviz's renders: 1.7x wasmtime-py's CPU), and the whole module's
O2 compile would not have been a fix: graphviz's takes over 100 s of CPU.

So a module of more than :data:`WHOLE_BYTES` of code gets no whole-module recompile (the
corpus's programs, smaller, keep it: a few seconds), and the process measures what matters, the
CPU its guest spends in each function of the quick code, by sampling (:class:`HotWatch`: a
``perf_event_open`` task-clock event on the thread that loaded the module and on the
process's other threads, which may run it too — a server's workers: the module's share of the
process's one set of events, llvm/perfsample.py's
:class:`~wasmforge.llvm.perfsample.ProcessSampler`, every :data:`SAMPLE_NS` of their CPU). Once it has
seen :data:`HOT_CPU` seconds there (while the process runs, or at its exit) and the whole
module's recompile has not started, the *hot functions* — those with the most samples per byte
of code, up to :data:`HOT_SHARE` of the samples and :data:`HOT_BYTES` of wasm code — are
compiled at the engine's level as one batch (``ModuleCompiler.compile_batch``: direct calls and
inlining among them, calls to the others through the function table, ``vm[LAZY]``) by the
recompiling process of lazily compiled modules (llvm/lazytier.py ``main``: a fresh ``python``,
one of the cache folder's capped slots), which outlives this process and keeps the image in the
entry's pack (it is kept with no CPU budget: the first item after its parent's exit is compiled
whatever the budget, and it is sent one; what bounds its CPU is the batch's size,
:data:`HOT_BYTES`, and the child's cap on one compile, ``lazytier.ITEM_CPU``); the batch's
members are kept in the entry's ``hot`` part.
Meanwhile a reader thread swaps the image in when it arrives (the function table's slots: the
next call of each enters O2 code, as lazily compiled batches' tier-up does). The next process
loads the quick code and, before anything runs, the hot batches from the pack
(:func:`load_hot`): it starts on O2 code where its guest spends its time. If that process's
guest still spends :data:`HOT_CPU` in quick code, its hot functions become one more batch.

A process whose guest ran less than :data:`HOT_CPU` in quick code (a tool, a test, most WASI
programs' runs, graphviz's process of six renders) leaves its *heat* instead: its samples per
function and their total, added at its exit to the entry's ``heat`` part
(:data:`HEAT_PART`, ``modcache.add_heat``: under the part's lock, which the exit tries for
0.2 s at most; the hottest :data:`HEAT_FUNCS` functions; halved past :data:`HEAT_CAP` times
the samples of :data:`HOT_CPU`, which only runs that can send no batch reach).  The next
process's watch starts from that heat (less that of functions already in a hot batch), so a
program run again and again in short processes gets its hot functions recompiled once its
runs *together* have spent :data:`HOT_CPU` in quick code, as a JIT with a profile kept across
runs would; the batch takes the heat it was made of off the part.  A damaged part counts as
none.  A run that samples nothing reads and writes nothing.  Where there is no watch (the kernel refuses
the event: ``perf_event_paranoid`` 3, a container's seccomp profile; no module cache; the watch
switched off), the large module keeps the whole module's recompile by the CPU rule, as before
the watch (llvm/compiler.py ``_watch_hot``): bounded as ever, not quick code for ever.
``WASMFORGE_LLVM_HOT_CPU`` sets :data:`HOT_CPU` (seconds; ``0``/``off``: no watch).  Measured
in docs/performance.md, "When quick code gets optimised code".
"""

from __future__ import annotations

import atexit
import bisect
import math
import os
import threading
import weakref

from .. import _cache
from . import jit, modcache
from .forksafe import FORK_LOCK, helper_thread, spawn_python
from .perfsample import ProcessSampler

#: Seconds of the guest's CPU in the module's quick code, in one process or in several runs
#: together (their heat), after which its hot functions are recompiled (module docstring).
#: A run of the official WASI testsuite's programs spends a few milliseconds there;
#: graphviz's warm process of six renders 15-30 ms (91 samples), so with the heat its runs
#: leave, every second or third run sends a batch (docs/performance.md, "Heat across runs";
#: 0.015 measured too: twice the batches and background CPU, no steady render measurably
#: faster on the shared machine).
HOT_CPU = 0.03
#: CPU nanoseconds of the guest's thread between two samples (0.03 s: 120 samples)
SAMPLE_NS = 250_000
#: seconds of wall-clock time between two looks at the samples while the guest runs...
LOOK_EVERY = 0.05
#: ...and at most while it does not
IDLE_LOOK = 1.0
#: the hot functions: those with the most samples per byte of code until they hold this share
#: of the samples...
HOT_SHARE = 0.9
#: ...and at most this much wasm code (an O2 compile costs about 200 us of CPU per instruction;
#: graphviz: 0.2 s per KB)...
HOT_BYTES = 32 * 1024
#: ...each with at least this many samples (graphviz's profile is flat: of 120 samples, most
#: functions that ran have one)
MIN_SAMPLES = 1
#: A module with more wasm code than this gets no recompile of the whole module (module
#: docstring): the corpus's programs (20-33 KB) do, graphviz (0.8 MB: over 100 s of CPU at
#: O2) and the zig c++ program (0.3 MB) do not.
WHOLE_BYTES = 64 * 1024
#: The module cache part listing the hot batches (``1,2,3;7,9``: defined function indexes)
HOT_PART = "hot"
#: The module cache part of the heat runs left behind: the samples counted in quick code by
#: processes whose watch had not fired yet, per function (modcache ``parse_heat``), which the
#: next process's watch starts from
HEAT_PART = "heat"
#: The part keeps at most this many functions, the hottest (graphviz's runs sample 40-80)...
HEAT_FUNCS = 512
#: ...and at most this many times :func:`hot_cpu`'s samples (halved past it: heat grows there
#: only while no batch can be sent, every recompiling slot taken or the tier-up off)
HEAT_CAP = 4


def recompiles_whole(module) -> bool:
    """Whether quick code of ``module`` is recompiled whole once the process has computed
    for ``compiler.TIER_UP_CPU`` (a module of at most :data:`WHOLE_BYTES` of code), else
    only its hot functions are."""
    total = 0
    for f in module.funcs:
        total += _code_bytes(f)
        if total > WHOLE_BYTES:
            return False
    return True


def _lazytier():
    """llvm/lazytier.py (which imports the IR generator) on first use, as llvm/compiler.py
    does: a warm run that loads optimised code needs none of it."""
    from . import lazytier  # start-up speed: only quick code's tier-up uses it
    return lazytier


def hot_cpu() -> float | None:
    """:data:`HOT_CPU`, or ``WASMFORGE_LLVM_HOT_CPU`` when set (None: never, for ``off``,
    zero or less, or infinity; an unreadable value is ignored)."""
    value = os.environ.get("WASMFORGE_LLVM_HOT_CPU", "").strip().lower()
    if value in ("off", "no"):
        return None
    try:
        seconds = float(value) if value else HOT_CPU
    except ValueError:
        return HOT_CPU
    if math.isnan(seconds):
        return HOT_CPU      # (a NaN made Module() raise: no sample count comes of it)
    return seconds if 0 < seconds < math.inf else None


def load_hot(compiled, entry: str) -> int:
    """Bind the hot batches an earlier run left for the module cache entry ``entry`` (quick
    code loaded from it by ``compiled``): their O2 images from the entry's pack, in place of
    their quick code (``compiled._swap_hot``).  Return how many were bound."""
    batches = modcache.parse_batches(modcache.load_part(entry, HOT_PART))
    if not batches:
        return 0            # (and llvm/lazytier.py, with the IR generator, is not imported)
    lazytier = _lazytier()
    pack = lazytier.load_pack(entry)
    n = len(compiled.func_addrs)
    bound = 0
    for batch in batches:
        image = pack.get(lazytier.batch_part(batch))
        if image is None or batch[-1] >= n:
            continue        # (its compile did not finish, or it was refused)
        try:
            engine = jit.load_object(bytes(image))
        except Exception:   # noqa: BLE001 - a damaged image: that batch stays quick code
            continue
        compiled._swap_hot(batch, engine, bytes(image))
        bound += 1
    return bound


def _store_hot(entry: str, cache, batch: list) -> None:
    """Add ``batch`` to the entry's list of hot batches (under its lock)."""
    modcache.add_batches(entry, HOT_PART, cache, [batch])


class HotWatch:
    """Where the guest's threads (the one that makes the watch: it compiled or loaded the
    module; and the process's others, a server's workers) spend their CPU in the quick code
    of ``compiled``, per function; once :func:`hot_cpu` seconds add up there, the hot
    functions are recompiled (module docstring).  :meth:`start` is None where sampling is
    refused or switched off."""

    def __init__(self, compiled, entry: str, cache, code, sampler, samples_needed: int,
                 tokens) -> None:
        self._compiled = weakref.ref(compiled)
        self._entry, self._cache, self._tokens = entry, cache, tokens
        self._lo, self._hi = code.base, code.base + code.size
        # The quick code of each defined function: from its start to the next one's.
        lo, hi = self._lo, self._hi
        ranges = sorted((a, j) for j, a in enumerate(compiled.func_addrs) if lo <= a < hi)
        self._starts = [a for a, _ in ranges]
        self._funcs = [j for _, j in ranges]
        self._sampler = sampler
        self._needed = samples_needed
        self.samples = 0                # in the quick code so far, this run's and earlier's
        self.heat: dict = {}            # defined function -> its samples (the same)
        self._own = 0                   # this process's samples since the last batch...
        self._own_heat: dict = {}       # ...by function: what it leaves at exit
        self._taken = None              # the entry's heat as read: (total, by function)
        self._stale = (0, {})           # what of it is no longer quick code's
        self._keep_heat = True          # whether a batch may still come of the heat
        self._pid = os.getpid()         # (a forked child leaves none of its parent's heat)
        self.fired = 0                  # batches sent to be recompiled
        self.batch: list = []           # the last one
        self._pending = None            # the thread waiting for it (its swap)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = helper_thread(self._run, (), "wasmforge-hot-watch")
        self._thread.start()
        atexit.register(_at_exit, weakref.ref(self))

    @classmethod
    def start(cls, compiled, entry: str | None, tokens):
        """The watch of ``compiled``'s quick code (its code now: ``compiled._engine``), which
        came from or fills the module cache entry ``entry``."""
        seconds = hot_cpu()
        code = compiled._engine
        if seconds is None or not entry or not getattr(code, "size", 0):
            return None
        cache = _cache.folder("llvm")
        if not cache:
            return None
        sampler = ProcessSampler.open(SAMPLE_NS)
        if sampler is None:
            return None
        sampler.watch(code.base, code.base + code.size)
        return cls(compiled, entry, cache, code, sampler, max(1, round(seconds * 1e9 / SAMPLE_NS)),
                   tokens)

    def look(self) -> bool:
        """Count the samples taken since the last look; recompile the hot functions once
        there are enough, with the heat earlier runs left (:meth:`_take_heat`).  Return
        whether the watch is done."""
        with self._lock:
            if self._sampler is None:
                return True
            lo, hi, starts, funcs = self._lo, self._hi, self._starts, self._funcs
            heat, own_heat, own = self.heat, self._own_heat, 0
            for ip in self._sampler.drain():
                if lo <= ip < hi:
                    k = bisect.bisect_right(starts, ip) - 1
                    if k >= 0:
                        j = funcs[k]
                        heat[j] = heat.get(j, 0) + 1
                        own_heat[j] = own_heat.get(j, 0) + 1
                        own += 1
            self.samples += own
            self._own += own
            compiled = self._compiled()
            if compiled is None or compiled.tier != "baseline" or compiled.recompiling():
                if compiled is not None:
                    self._keep_heat = False     # (optimised, or the whole module is coming)
                else:
                    self._save_heat()           # (dropped: its heat counts for the next run)
                self._close()
                return True
            if self._taken is None:
                if not self._own:
                    return False        # (a run that samples nothing reads no heat either)
                self._take_heat(compiled)
            if self.samples < self._needed or (self._pending is not None and self._pending.is_alive()):
                return False            # (one batch at a time: the next without this one)
            batch = self.hot_functions(compiled)
            if batch and not self._recompile(compiled, batch):
                self._close()           # no slot: the heat stays for a later run
                return True
            # The heat is spent: the batch's, or nothing hot enough is left in it.
            total, counts = self._taken
            if total:
                self._add_heat(0, {}, total, counts)
            self._taken, self._stale = (0, {}), (0, {})
            self.samples, self.heat, self._own, self._own_heat = 0, {}, 0, {}
            if not batch:
                self._keep_heat = False
                self._close()
                return True
            self.fired += 1
            self.batch = batch
            return False

    def _take_heat(self, compiled) -> None:
        """(Under ``_lock``.)  Start from the heat earlier runs left in the entry (a part that
        does not parse counts as none), less that of functions no longer on quick code: the
        hot batches bound at load (:func:`load_hot`) or listed to come."""
        total, counts = modcache.parse_heat(
            modcache.load_part(self._entry, HEAT_PART, cache=self._cache))
        self._taken = (total, counts)
        if not total:
            return
        listed = {k for batch in modcache.parse_batches(
            modcache.load_part(self._entry, HOT_PART, cache=self._cache)) for k in batch}
        addrs, lo, hi = compiled.func_addrs, self._lo, self._hi
        stale, gone = {}, 0
        for k, n in counts.items():
            if k >= len(addrs) or k in listed or not lo <= addrs[k] < hi:
                stale[k] = n
                gone += n
            else:
                self.heat[k] = self.heat.get(k, 0) + n
        self._stale = (gone, stale)
        self.samples += total - gone

    def _save_heat(self) -> None:
        """(Under ``_lock``, or at exit.)  Add this process's samples since its last batch to
        the entry's heat, and take off what of it is no longer quick code's, for the next run
        to start from; once only."""
        own, own_heat, (gone, stale) = self._own, self._own_heat, self._stale
        self._own, self._own_heat, self._stale = 0, {}, (0, {})
        if self._keep_heat and os.getpid() == self._pid and (own or gone):
            self._add_heat(own, own_heat, gone, stale)

    def _add_heat(self, total: int, counts: dict, taken_total: int, taken: dict) -> None:
        # (under FORK_LOCK: a process forked meanwhile would hold the part's lock with it)
        with FORK_LOCK:
            try:
                modcache.add_heat(self._entry, HEAT_PART, self._cache, total, counts,
                                  taken_total=taken_total, taken=taken, keep=HEAT_FUNCS,
                                  cap=HEAT_CAP * self._needed)
            except OSError:
                pass            # (the cache is an optimisation only)

    def hot_functions(self, compiled) -> list:
        """The functions still on quick code with the most samples per byte of code (what
        their O2 compile costs), at least :data:`MIN_SAMPLES` each, until they hold
        :data:`HOT_SHARE` of the samples or :data:`HOT_BYTES` of code."""
        funcs = compiled.module.funcs
        on_quick = [(n, j, _code_bytes(funcs[j])) for j, n in self.heat.items()
                    if self._lo <= compiled.func_addrs[j] < self._hi]
        total = sum(n for n, _, _ in on_quick)
        chosen, seen, size = [], 0, 0
        for n, j, nbytes in sorted(on_quick, key=lambda c: (-c[0] / max(c[2], 1), c[1])):
            if seen >= HOT_SHARE * total:
                break
            if n < MIN_SAMPLES or size + nbytes > HOT_BYTES:
                continue        # (a smaller one further down may fit)
            chosen.append(j)
            seen += n
            size += nbytes
        return sorted(chosen)

    def _recompile(self, compiled, batch: list) -> bool:
        """(Under ``_lock``.)  Send ``batch`` to a recompiling process that outlives this one
        (llvm/lazytier.py ``main``, kept at once) and swap its image in when it comes back;
        return whether it was sent."""
        cache = self._cache
        lazytier = _lazytier()
        if not lazytier.wanted():
            self._keep_heat = False
            return False            # (WASMFORGE_LLVM_LAZY_TIERUP=0: no background recompile)
        light = lazytier._bodiless(compiled.module)
        # What the compiler would read every body to ask (the child has none): quick code is
        # only made of a module under fastcc, without exceptions or GC.
        light.__dict__.update(_llvm_uses_tail_calls=False, _llvm_uses_exceptions=False,
                              known_gc=False)
        # (the bodies as they are, raw where the module's are: the child decodes them)
        msgs = [(light, compiled.fuel, compiled.epoch, compiled.opt_level, self._entry, cache,
                 [], tuple(self._tokens), lazytier.IDLE_SECONDS)]
        msgs += lazytier._messages(compiled, [batch])
        # Kept with no budget: the child compiles the first item after its parent's exit
        # whatever the budget, and it has one (graphviz's: 3.4-4.9 s of CPU, bounded by
        # HOT_BYTES and lazytier.ITEM_CPU); a budget here would bound nothing.
        msgs.append((b"k", 0.0))
        with FORK_LOCK:             # (llvm/forksafe.py)
            # One hot recompile of a module at a time, across processes (two processes of it
            # running hot at once would each compile nearly the same batch): the child holds
            # the module's lock, as it holds its slot, until it ends.
            mine = cache.lock(self._entry[:-len(".o")] + "-" + HOT_PART + "-recompile", wait=False)
            if mine is None:
                return False        # another process's child is on it: a later run binds it
            slot = lazytier._slot(cache)
            if slot is None:
                os.close(mine)
                return False        # every slot taken: a later run tries again
            try:
                proc = spawn_python(lazytier.CHILD_CODE, env={"WASMFORGE_CACHE": "off"},
                                    pass_fds=(*self._tokens, slot, mine))
            except Exception:   # noqa: BLE001 - the quick code stays
                return False
            finally:
                os.close(slot)
                os.close(mine)
            try:
                for msg in msgs:
                    lazytier._send(proc.stdin, msg)
                proc.stdin.close()
            except Exception:   # noqa: BLE001 - the quick code stays
                proc.kill()
                proc.wait()
                return False
            _store_hot(self._entry, cache, batch)
        self._pending = helper_thread(_read, (weakref.ref(compiled), proc), "wasmforge-hot-reader")
        self._pending.start()
        return True

    def _close(self) -> None:
        # (under _lock)
        if self._sampler is not None:
            self._sampler.close()
            self._sampler = None

    def _run(self) -> None:
        # A look every LOOK_EVERY seconds drains a few dozen records, less often while the
        # guest is not running (up to IDLE_LOOK: a module kept but not called, a server's
        # between requests); the thread ends once the watch is done.
        wait = LOOK_EVERY
        while not self._stop.wait(wait):
            before = self.samples
            if self.look():
                return
            wait = LOOK_EVERY if self.samples != before else min(2 * wait, IDLE_LOOK)


def _code_bytes(func) -> int:
    # (as compiler.code_bytes, which imports this module)
    code = func._code
    return len(code) if code is not None else 3 * len(func.body)


def _read(ref, proc) -> None:
    """Swap in the hot batch's image when the recompiling process sends it (if this process
    still runs by then)."""
    try:
        msg = _lazytier()._receive(proc.stdout)
        compiled = ref()
        if msg is not None and compiled is not None:
            batch, image = msg
            if image is not None:
                with FORK_LOCK:
                    engine = jit.load_object(image)
                compiled._swap_hot(batch, engine, image)
    except Exception:   # noqa: BLE001 - that batch stays quick code
        pass
    finally:
        try:
            proc.stdout.close()
        except OSError:
            pass
        proc.wait()


def _at_exit(ref) -> None:
    """At this process's exit: a last look (a run shorter than :data:`LOOK_EVERY`, or whose
    last samples came after the thread's last look), then the heat it leaves."""
    watch = ref()
    if watch is not None:
        watch._stop.set()
        watch.look()
        with watch._lock:
            watch._save_heat()


__all__ = ["HotWatch", "HEAT_PART", "HOT_CPU", "HOT_PART", "SAMPLE_NS", "hot_cpu", "load_hot"]
