"""Tiered start: a module that would make its first run wait seconds for LLVM runs on the
interp tier at once while a child process compiles its native code; each instance moves to the
native code at its next call boundary once the code is there.

Which modules: the default llvm tier, a module cache miss (``Module(engine, binary)`` with the
cache on, as ``wasmforge run`` does), in a single-threaded process (the compile runs in a
forked child), and code between :data:`MIN_CODE_BYTES` and the lazy-compilation threshold
(smaller modules compile in a fraction of a second; larger ones are compiled lazily, batch by
batch, instead) — unless the quick compiler takes the module (:func:`quick_takes`): its eager
compile (about 1 MB of wasm code per second of CPU) costs about what starting on interp does,
and the module then runs native code from its first call, where a run on interp is 10-100x
slower until the child's code arrives.  ``WASMFORGE_TIERING=1``/``0`` forces it on/off.

How:

1. The interp tier translates functions on their first call, so the module starts running
   after decoding and validation only.
2. A forked child generates the IR, compiles it at the baseline level (calls through the
   function table: see ``llvm/compiler.py``), stores it in the module cache (marked
   baseline, so a later run recompiles it optimised) and hands the object code back through
   a pipe.  The child dies with this process (it holds the read end of a pipe only this
   process writes to, and ends itself at its EOF): a program that ends
   before its code is ready (a test suite's programs run for milliseconds) leaves no compile
   behind, and its next run starts on interp again.  Unless the process has spent
   :data:`KEEP_CPU` seconds of CPU since the module started: then, at exit, it tells the
   child to outlive it, so that the next run of a program that computes for seconds finds
   the native code (without this, a program whose run is shorter than its compile never
   left interp, however often it ran).  A child kept so then compiles the optimised code
   too and replaces the baseline entry with it: the next runs of such a program (the zig
   c++ benchmark program's: 0.03 s of guest code) never compute for
   ``llvm_compiler.TIER_UP_CPU``, the CPU after which a run of baseline code has it
   recompiled, so they ran baseline code forever.  Kept or not, the child ends itself after
   ``llvm_compiler.TIER_UP_SECONDS`` (SIGALRM), as baseline code's recompiling child does.
3. A thread reads the object code and replaces every defined function of every instance, in
   the interp namespace (calls between wasm functions) and in its ``FuncInstance`` (tables,
   exports, the host), with a *switch*.  The first switch called binds the native code to
   the instance (our loader maps the object; memories and globals move to native cells once,
   as for any llvm instance) and puts the native entries in all those places, then calls the
   native function.  So the swap happens on the thread running wasm, at a call boundary,
   never under its feet.  Interp frames already running finish on interp (no on-stack
   replacement); their calls go to native code.

Both tiers work on the same runtime objects (memories, globals, tables) and the store's wasm
stack, fuel and epoch cells, and count fuel identically, so nothing the guest or the host sees
depends on when the swap happens.
"""

from __future__ import annotations

import atexit
import os
import pickle
import signal
import threading
import time
import weakref

from . import _cache
from .llvm import compiler as llvm_compiler, jit, modcache, quick
from .llvm.forksafe import FORK_LOCK, detach_child, die_with_parent, helper_thread
from .llvm.codegen import ModuleCompiler
from .module import FUNC
from .runtime.func import set_call

#: modules with less code than this compile in a fraction of a second: no tiering
MIN_CODE_BYTES = llvm_compiler.TIERED_START_BYTES

#: a process that has spent this much CPU (seconds) since a tiered module started lets the
#: module's compile outlive it (module docstring); ``WASMFORGE_TIERING_KEEP_CPU`` overrides
KEEP_CPU = 1.0

def keep_cpu() -> float:
    """:data:`KEEP_CPU`, or ``WASMFORGE_TIERING_KEEP_CPU`` when set to a number."""
    try:
        return float(os.environ["WASMFORGE_TIERING_KEEP_CPU"])
    except (KeyError, ValueError):
        return KEEP_CPU


def wants_tiering(module, engine) -> bool:
    """Whether ``module`` (a cache miss on the llvm tier) starts on interp (module docstring)."""
    forced = os.environ.get("WASMFORGE_TIERING", "").lower()
    if forced in ("0", "off", "no") or not hasattr(os, "fork") or not jit.use_loader():
        return False
    if engine.opt_level is not None and engine.opt_level <= 0:
        return False
    if forced in ("1", "on", "yes"):
        return True
    if llvm_compiler.wants_lazy(module) or not llvm_compiler._single_threaded():
        return False
    if module.uses_gc():
        return False        # the tiers' GC objects differ (llvm/gcheap.py): no switch midway
    total = 0
    for f in module.funcs:
        total += llvm_compiler.code_bytes(f)
        if total >= MIN_CODE_BYTES:
            # (asked last: it builds a ModuleCompiler and reads every body)
            return not quick_takes(module, engine)
    return False


def quick_takes(module, engine) -> bool:
    """Whether the eager compile of ``module`` makes quick code (llvm/quick: baseline code
    without LLVM, about 1 MB of wasm code per second of CPU), which starts the module
    natively sooner than the interp tier gets through its run: no tiered start then
    (docs/performance.md, "Tiered start or quick code").  Only where the eager compile would
    be baseline first (single-threaded, an optimising level, our loader)."""
    if engine.consume_fuel or engine.epoch_interruption:
        return False        # (quick code meters neither)
    opt = jit.DEFAULT_OPT_LEVEL if engine.opt_level is None else engine.opt_level
    if not llvm_compiler.wants_baseline("(a cache entry: the tiered start needs one)", opt):
        return False
    return quick.takes_whole(ModuleCompiler(module))


def _die_with_parent_unless_kept(keep_r: int) -> threading.Event:
    """In the child: end this process when the parent exits, unless the parent wrote ``k``
    on ``keep_r`` first (it is exiting after a long run: :func:`_keep_child_at_exit`).  A
    thread waits for that (the child's main thread is inside LLVM, whose calls release the
    GIL), not ``PR_SET_PDEATHSIG``, which belongs to the thread that sets it and cannot be
    taken back for the compiling thread from another one.  The event returned is set once
    the parent has asked."""
    kept_event = threading.Event()

    def wait() -> None:
        try:
            kept = os.read(keep_r, 1) == b"k"
        except OSError:
            kept = False
        if not kept:                # EOF: the parent is gone without asking us to stay
            os.kill(os.getpid(), signal.SIGKILL)
        kept_event.set()
    try:
        threading.Thread(target=wait, daemon=True).start()
    except RuntimeError:
        die_with_parent()
    return kept_event


def _keep_child_at_exit(ref) -> None:
    """At this process's exit: let a tiered module's unfinished compile outlive the process
    when the process has computed for :data:`KEEP_CPU` since the module started."""
    tiered = ref()
    if tiered is None or time.process_time() - tiered._cpu_start < keep_cpu():
        return                      # a short run: the child ends with us
    with tiered._lock:              # (the reader thread closes the pipe under it)
        if tiered._keep is None or tiered._object is not None:
            return
        try:
            os.write(tiered._keep, b"k")
        except OSError:
            pass


class TieredModule:
    """The compiled code of a tiered module: interp code now, native code when the child
    hands it over (see the module docstring).  Quacks like the tiers' compiled modules
    (``instantiate``, ``object_code``, ``entry_of``)."""

    def __init__(self, module, engine, cache_key: str):
        self.module = module
        self.fuel = bool(engine.consume_fuel)
        self.epoch = bool(engine.epoch_interruption)
        self.opt_level = engine.opt_level
        self.cache_key = cache_key
        self.nimported = module.num_imported(FUNC)
        from .interp import compiler as interp  # start-up speed: only a tiered start runs on interp
        self.interp = interp.compile_module(module, fuel=self.fuel, epoch=self.epoch)
        self.native = None          # the llvm CompiledModule, once bound
        self._object = None         # (entry_of, object code) from the child
        self._lock = threading.RLock()
        # Per instance still on interp: its namespace (weakly: an instance may die first).
        self._pending = weakref.WeakKeyDictionary()
        self.tier = "interp"
        if cache_key and _cache.folder("llvm"):
            modcache.store_gc(cache_key, module)
        self._start_child()

    # ----- the compile in the child -----

    def _start_child(self) -> None:
        cache = _cache.folder("llvm")
        key = self.cache_key if cache else None
        rfd, wfd = os.pipe()
        keep_r, keep_w = os.pipe()       # EOF on it: the parent is gone (_die_with_parent_unless_kept)
        with FORK_LOCK:         # no helper thread is mid-work (llvm/forksafe.py)
            pid = os.fork()
        if pid == 0:
            try:
                # The safety net of baseline code's recompiling child (llvm/compiler.py): a
                # child kept past this process (KEEP_CPU) that never finishes dies anyway.
                signal.signal(signal.SIGALRM, signal.SIG_DFL)
                signal.alarm(llvm_compiler.TIER_UP_SECONDS)
                os.close(rfd)
                os.close(keep_w)
                detach_child(wfd, keep_r)
                kept = _die_with_parent_unless_kept(keep_r)
                mc = ModuleCompiler(self.module, self.fuel, self.epoch)
                ir = mc.compile(None, through_table=True)
                obj = jit.compile_ir(ir, "wasm", jit.BASELINE)[2]
                if key and obj:
                    modcache.store(key, mc.entry_of, obj, baseline=True, cache=cache)
                payload = pickle.dumps((list(mc.entry_of), obj), protocol=pickle.HIGHEST_PROTOCOL)
                try:
                    with os.fdopen(wfd, "wb") as out:
                        out.write(len(payload).to_bytes(8, "little") + payload)
                except OSError:
                    pass            # the parent is gone
                if key and obj and kept.is_set():
                    # Kept past a long run: its warm runs would load this baseline code and
                    # never compute long enough (llvm_compiler.TIER_UP_CPU) to have it
                    # recompiled (the zig c++ benchmark program's: 0.03 s of guest code), so
                    # the optimised code is made now, within the same alarm.
                    mc = ModuleCompiler(self.module, self.fuel, self.epoch)
                    level = jit.DEFAULT_OPT_LEVEL if self.opt_level is None else self.opt_level
                    opt = jit.compile_ir(mc.compile(), "wasm", level, load=False)[2]
                    if opt:
                        modcache.store(key, mc.entry_of, opt, cache=cache)
            except BaseException:   # noqa: BLE001 - the parent stays on interp
                pass
            finally:
                os._exit(0)
        os.close(wfd)
        os.close(keep_r)
        self.child_pid = pid
        self._keep = keep_w
        self._cpu_start = time.process_time()
        atexit.register(_keep_child_at_exit, weakref.ref(self))
        self._thread = helper_thread(self._receive, (rfd, pid), "wasmforge-tiering")
        self._thread.start()

    def _receive(self, rfd: int, pid: int) -> None:
        """Read the child's code, then put a switch in every instance (module docstring)."""
        try:
            with os.fdopen(rfd, "rb") as src:
                data = src.read()
            os.waitpid(pid, 0)
            with self._lock:        # not closed under an exiting process's write of `k`,
                keep, self._keep = self._keep, None     # which could reach a reused number
            if keep is not None:
                os.close(keep)
            n = int.from_bytes(data[:8], "little")
            if len(data) < 8 or not n or len(data) != 8 + n:
                return              # the child failed: interp it stays
            with FORK_LOCK:         # (llvm/forksafe.py)
                entry_of, obj = pickle.loads(data[8:])
        except Exception:           # noqa: BLE001 - interp it stays
            return
        with FORK_LOCK, self._lock:
            self._object = (entry_of, obj)
            for inst, ns in list(self._pending.items()):
                self._install_switches(inst, ns)

    # ----- instances -----

    def instantiate(self, inst) -> list:
        """Bind to the runtime instance ``inst``: native code if it is there, else interp code
        with the switch to native code to come."""
        with self._lock:
            if self._object is not None:
                return self._native().instantiate(inst)
            from .interp import compiler as interp  # start-up speed: only a tiered start runs on interp
            bound = self.interp.instantiate(inst)
            self._pending[inst] = interp.namespace_of(bound)
            return bound

    def _install_switches(self, inst, ns) -> None:
        n = self.nimported
        funcs = inst.funcs
        for j in range(len(self.module.funcs)):
            switch = _Switch(self, inst, n + j)
            ns[f"f{n + j}"] = switch
            set_call(funcs, n + j, switch)

    def _native(self):
        """The llvm compiled module of the child's code (bound on first use: our loader), or,
        when the child failed or was killed, compiled here."""
        with self._lock:
            if self.native is None:
                if self._object is None:
                    self.native = llvm_compiler.compile_module(
                        self.module, fuel=self.fuel, epoch=self.epoch, opt_level=self.opt_level)
                else:
                    entry_of, obj = self._object
                    self.native = llvm_compiler.CompiledModule.from_object(
                        self.module, obj, entry_of, self.fuel, self.epoch, self.opt_level,
                        baseline_of=self.cache_key if _cache.folder("llvm") else None)
                self.tier = "native"
            return self.native

    def switch(self, inst) -> None:
        """Move ``inst`` to native code (on the thread that runs it, at a call boundary)."""
        with self._lock:
            ns = self._pending.pop(inst, None)
            if ns is None:
                return              # switched already
            bound = self._native().instantiate(inst)
            n = self.nimported
            funcs = inst.funcs
            for j, call in enumerate(bound):
                ns[f"f{n + j}"] = call
                set_call(funcs, n + j, call)

    def wait_native(self, timeout: float | None = None) -> bool:
        """Wait for the child's code; return whether it is there."""
        self._thread.join(timeout)
        return self._object is not None

    # ----- what an artifact needs -----

    @property
    def object_code(self) -> bytes:
        self.wait_native()
        return self._native().object_code

    @property
    def entry_of(self) -> list:
        self.wait_native()
        return self._native().entry_of


class _Switch:
    """Stands for one function of an instance until the instance moves to native code."""

    __slots__ = ("owner", "inst", "index", "__weakref__")

    def __init__(self, owner: TieredModule, inst, index: int):
        self.owner, self.inst, self.index = owner, inst, index

    def __call__(self, *args):
        self.owner.switch(self.inst)
        return self.inst.funcs[self.index].call(*args)
