"""Optimised code for lazily compiled modules: the batches a run used, recompiled in the
background and kept in one *pack* of the module cache entry.

A lazily compiled module's batches are compiled at :data:`jit.BASELINE` when they fill a
module cache entry (llvm/compiler.py: a batch's O2 compile costs about 7x its baseline
compile, and a first run waits for every batch it meets).  Without more, they stayed baseline
code forever: the QuickJS benchmark's script ran about 3x slower than on wasmtime on every
warm run, graphviz's renders 3.3x.  So, as eagerly compiled baseline code is (the module
docstring of llvm/compiler.py, "Baseline first"), these batches are recompiled at the
engine's level in the background:

- a run notes each batch it binds from baseline code (:meth:`LazyTierUp.note`); a helper
  thread waits until the process has spent :data:`compiler.TIER_UP_CPU` seconds of CPU since
  the module was made (a short run never needed optimised code: it costs one sleeping
  thread), then spawns a fresh ``python`` process (:func:`main`; fork+exec, safe from a
  process with threads) and sends it the decoded module without function bodies or data, then
  each noted batch with its functions' bodies, as it is noted;
- the child takes a token of the recompiling children's pipe (``compiler._recompile_tokens``:
  one recompile at a time beside the run) for each batch, compiles it at the engine's level
  from the same IR as the baseline batch, links it into an image (llvm/loader.py ``link``)
  and writes it back; a reader thread of the parent maps it and writes its functions'
  addresses into the module's function table (``vm[LAZY]``), so the next call of each through
  a thunk, and every entry made from then on, runs the optimised code (a frame already
  running, and the calls between the functions of a baseline batch, stay baseline code: no
  on-stack replacement; the baseline images stay mapped);
- the child stores the images in the entry's ``pack`` part — one file, authenticated as every
  cache file (``_cache``: HMAC; a tampered pack is refused and deleted, and the batches are
  loaded from their baseline parts and recompiled again), merged with the pack an earlier run
  left — when the parent's stream ends, and every :data:`STORE_EVERY` seconds besides;
- it ends with the parent (after the batch it is compiling) unless the parent had computed
  for :data:`KEEP_CPU` seconds when it exited: then it compiles what it was sent first (a
  long run's next run should find them), within :data:`compiler.TIER_UP_SECONDS` and a CPU
  budget of :data:`LEFT_CPU_FACTOR` times the run's own, and past that budget the items the
  run was seen hot in, within :data:`HOT_LEFT_CPU` (the next run should not meet its hot
  code as baseline code); the others, and every batch the run met outside the pack, go into
  the pack as baseline code;
- one item's compile is capped at :data:`ITEM_CPU` of CPU: past it the child ends and the
  item's batches are recorded (:data:`OVERRUN`); one recorded :data:`OVERRUN_TRIES` times is
  never sent again;
- children are capped per cache folder, so machine-wide for a user (:func:`max_children`:
  a child holds one of the folder's ``recompile-<k>.lock`` files while it lives; a parent
  that finds none free keeps its batches and tries again), and two children storing one
  pack merge under the pack's lock; ``WASMFORGE_LLVM_LAZY_TIERUP=0`` turns all of this off
  (a number caps the children instead).

The batches where the run spends its CPU (by the sampler's counts: :data:`UNIT_SHARE` of the
samples) go to the child together, as one *unit* (within :data:`UNIT_CODE_BYTES` of wasm
code): one LLVM module whose calls between its functions are direct and inlinable, where
calls between batches go through the function table's slots (an interpreter's dispatch loop
calls the functions of other batches all the time).  The pack keeps a unit under a name that
lists its batches (:func:`unit_part`), in place of their own images; a later run that meets
one of those batches binds the whole unit.  The child also optimises functions nested up to
:data:`RECOMPILE_NEST_LIMIT` deep, which the first compile leaves to baseline code as
pathological (an interpreter's dispatch switch: QuickJS's JS_CallInternal).

A later run loads the pack once (:func:`load_pack`: one read, one HMAC, no file per batch)
and takes each batch it meets from it, already linked; only batches missing from it are
loaded from their own parts (and recompiled in turn).

Stream formats: each message is an 8-byte little-endian length and a pickle.  Parent to
child: first ``(module, fuel, epoch, opt_level, entry, cache, pathological, tokens, idle)``
(``module`` with empty bodies, no data segments, no custom sections), then per batch or unit
``(batch, {j: (typeidx, locals, body)})`` (a unit: a list of batches), and
``(b"k", budget[, hot, met])`` at exit after a long run (``budget``: the CPU seconds the child
may spend after that, :data:`LEFT_CPU_FACTOR`; ``hot``: the part names of the items it may
compile past the budget, :data:`HOT_LEFT_CPU`; ``met``: the batches the run met outside the
pack, which the pack gets as baseline code at least).  Child to
parent: ``(batch, image)`` per batch or unit (the unit as compiled: without a batch found to
hold a pathological function).  Pack: magic ``wfpack1\\0``, u32 count, then per batch
u32 offset, u32 length and u16 name length + the part name (``compiler._batch_part``), then
the images.
"""

from __future__ import annotations

import array
import atexit
import bisect
import hashlib
import os
import signal
import struct
import sys
import threading
import time
import weakref

from . import jit, modcache
from .. import _cache
from ..binary.decode import decode_raw_body, raw_body_context
from ..module import Func
from .forksafe import FORK_LOCK, helper_thread, spawn_python
from .perfsample import SAMPLE_NS, ProcessSampler, Sampler  # noqa: F401 - (named in docs here)

#: The module cache part holding the optimised batches.
PACK = "pack"
_MAGIC = b"wfpack1\0"
_HEAD = struct.Struct("<I")
_ITEM = struct.Struct("<IIH")
_LEN = struct.Struct("<Q")
#: CPU seconds since the module was made after which a run's background recompile outlives
#: the run (as a tiered start's compile does, tiering.KEEP_CPU): a run that computed this long
#: is likely to be run again the same way.
KEEP_CPU = 1.0
#: seconds of compiling after which the child stores the pack so far (also at its end)
STORE_EVERY = 30.0
#: seconds without a batch to compile after which the child stores the pack and ends (a
#: process that keeps a module but runs no new code, a test suite's, keeps no idle child)
IDLE_SECONDS = 10.0
#: seconds between a parent's attempts to get a slot (:func:`max_children`) when all are taken
SLOT_RETRY = 1.0
#: CPU the child may spend after its parent's exit, as a multiple of the CPU the parent spent
#: since the module was made (at least :data:`MIN_LEFT_CPU`): a first run of the Go
#: benchmark program left 244 s of compiling behind it, five times its own run.
LEFT_CPU_FACTOR = 1.0
MIN_LEFT_CPU = 2.0
#: CPU seconds after its parent's exit within which the child still starts a *hot* item
#: (one the parent saw its guest spend :data:`HOT_SAMPLES` in, whatever the budget above), so
#: that the next run finds the pack complete where its guest spends its time: QuickJS's first
#: run left its interpreter's hot batches to its next three runs, each leaving 0.4-5 s of
#: recompiling behind and running them as baseline code meanwhile.
HOT_LEFT_CPU = 30.0
#: CPU seconds one item's compile may take in the child, on the thread compiling it (a watch
#: thread ends the child past it, and the entry's :data:`OVERRUN` part keeps the item's
#: batches from being sent again): so that one huge batch does not overrun every budget above.
#: QuickJS's JS_CallInternal unit at O2 takes 7-11 s.
ITEM_CPU = 20.0
#: The module cache part listing the batches whose compile took more than :data:`ITEM_CPU`
#: (``1,2,3;7,9``: defined function indexes), a batch once per overrun; their baseline code
#: stays.
OVERRUN = "overrun"
#: Overruns after which a batch is never sent again: one is not enough, as a machine loaded
#: enough (cores shared, caches thrashed) stretches a compile's CPU seconds, and QuickJS's
#: interpreter loop would have stayed baseline code for good after one unlucky first run.
OVERRUN_TRIES = 2


def max_children() -> int:
    """How many recompiling children may exist at once for one cache folder, i.e. machine-wide
    for a user (each waits with about 26 MB of memory; one per lazily compiled module with
    recent baseline batches before): ``WASMFORGE_LLVM_LAZY_TIERUP`` when it is a number
    (``0``, ``off``: no background recompile at all), else one fewer than the cores, at
    least two."""
    value = os.environ.get("WASMFORGE_LLVM_LAZY_TIERUP", "").strip().lower()
    if value in ("0", "off", "no"):
        return 0
    try:
        return max(0, int(value))
    except ValueError:
        return max(2, (os.cpu_count() or 2) - 1)


def wanted() -> bool:
    """Whether lazily compiled modules' baseline batches are recompiled in the background
    (``WASMFORGE_LLVM_LAZY_TIERUP=0`` turns it off)."""
    return max_children() > 0


def batch_part(batch: list) -> str:
    """The module cache part name of a batch of defined functions."""
    return "b" + hashlib.sha256(",".join(map(str, batch)).encode()).hexdigest()[:32]


def is_unit(item) -> bool:
    """Whether ``item`` (what the parent sends: a batch, a list of function indexes) is a
    *unit*: a list of batches recompiled as one LLVM module."""
    return bool(item) and isinstance(item[0], list)


def members(item) -> list:
    """The functions of a batch or unit, in the order of its image's ``@wf_funcs``."""
    return [k for batch in item for k in batch] if is_unit(item) else list(item)


def unit_part(batches: list) -> str:
    """The name under which the pack keeps the image of the unit of ``batches``: the
    batches themselves (``u3,4;17,20``), so that a warm run knows, from the pack's index
    alone, which batches the image holds and in which order (only the pack holds units:
    no file is named after one)."""
    return "u" + ";".join(",".join(map(str, batch)) for batch in batches)


def item_part(item) -> str:
    """The pack's name of the optimised image of a batch or unit."""
    return unit_part(item) if is_unit(item) else batch_part(item)


def parse_unit(name: str, n: int) -> list | None:
    """The batches of the unit part ``name`` of a module of ``n`` defined functions; None for
    a name that is not one (or names a function it does not have, or one twice)."""
    if not name.startswith("u"):
        return None
    try:
        batches = [[int(k) for k in batch.split(",")] for batch in name[1:].split(";")]
    except ValueError:
        return None
    flat = [k for batch in batches for k in batch]
    if len(batches) < 2 or len(set(flat)) != len(flat) or not all(0 <= k < n for k in flat):
        return None
    return batches


def units(pack: dict, n: int) -> dict:
    """The units of ``pack`` by the part name of each of their batches (a batch's code is
    taken from its unit, which holds the calls between its batches direct)."""
    out = {}
    for name in pack:
        for batch in parse_unit(name, n) or ():
            out[batch_part(batch)] = name
    return out


def baseline_part(part: str) -> str:
    """The name under which the pack keeps the baseline image of the batch part ``part``
    (one its child had no budget left to recompile)."""
    return "q" + part[1:]


def load_overrun(entry: str, cache=None) -> set:
    """The part names of the batches whose recompile took more than :data:`ITEM_CPU`
    :data:`OVERRUN_TRIES` times."""
    counts: dict = {}
    for b in modcache.parse_batches(modcache.load_part(entry, OVERRUN, cache=cache)):
        part = batch_part(b)
        counts[part] = counts.get(part, 0) + 1
    return {part for part, n in counts.items() if n >= OVERRUN_TRIES}


def _record_overrun(entry: str, cache, item) -> None:
    """Add an overrun of each batch of ``item`` to the entry's :data:`OVERRUN` part (under
    its lock)."""
    modcache.add_batches(entry, OVERRUN, cache, item if is_unit(item) else [item],
                         copies=OVERRUN_TRIES)


def format_pack(images: dict) -> bytes:
    """The ``pack`` part of the batches ``images`` (part name -> image)."""
    # (Images as they are, views of a pack read included: joined once, not copied first.)
    names = [(name.encode(), img) for name, img in sorted(images.items())]
    head = _HEAD.size + sum(_ITEM.size + len(n) for n, _ in names)
    out = [_MAGIC, _HEAD.pack(len(names))]
    at = len(_MAGIC) + head
    for name, img in names:
        out.append(_ITEM.pack(at, len(img), len(name)) + name)
        at += len(img)
    out.extend(img for _, img in names)
    return b"".join(out)


def parse_pack(data) -> dict:
    """What :func:`format_pack` wrote, as part name -> image (a view of ``data``); an empty
    dict for anything that does not parse."""
    if data is None or bytes(data[:len(_MAGIC)]) != _MAGIC:
        return {}
    view = memoryview(data)
    try:
        (count,) = _HEAD.unpack_from(view, len(_MAGIC))
        pos = len(_MAGIC) + _HEAD.size
        images = {}
        for _ in range(count):
            at, n, m = _ITEM.unpack_from(view, pos)
            pos += _ITEM.size
            name = bytes(view[pos:pos + m]).decode("ascii")
            pos += m
            if at + n > len(view):
                return {}
            images[name] = view[at:at + n]
        return images
    except (struct.error, UnicodeDecodeError):
        return {}


def load_pack(entry: str, cache=None) -> dict:
    """The optimised batches of the lazily compiled module of ``entry`` (part name -> image:
    views of the pack's file mapped, ``_cache.Folder.load``); what :func:`prefetch_pack`
    began for it, when it did, in the same folder."""
    if cache is None and _prefetched:
        cache = _cache.folder("llvm")
        pending = _prefetched.pop((entry, cache.path), None)
        if pending is not None:
            pending[0].join()
            if pending[1]:
                return pending[1][0]
    return parse_pack(modcache.load_part(entry, PACK, cache=cache, mapped=True))


#: (entry, folder) -> (the thread loading its pack, [the pack] once it has)
_prefetched: dict = {}


def prefetch_pack(entry: str) -> None:
    """Begin :func:`load_pack` of ``entry`` on a thread of its own, for the next call of
    :func:`load_pack` to take.  Authenticating a pack is an HMAC over all of it (the Go
    benchmark program's 15 MB: 12 ms), which releases the GIL: a warm run decodes the module
    (llvm/__init__.py ``cached_module``) meanwhile, on the other core where there is one."""
    cache = _cache.folder("llvm")
    if not cache or (entry, cache.path) in _prefetched:
        return
    got: list = []

    def load() -> None:
        try:
            got.append(parse_pack(modcache.load_part(entry, PACK, cache=cache, mapped=True)))
        except BaseException:       # (load_pack then loads it itself, and sees why)
            pass

    thread = threading.Thread(target=load, name="wasmforge-pack", daemon=True)
    try:
        thread.start()
    except RuntimeError:        # (no thread to be had: load_pack loads it when asked)
        return
    _prefetched[entry, cache.path] = (thread, got)


def _send(out, obj) -> None:
    import pickle  # start-up speed: a warm run whose pack is complete sends nothing
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    out.write(_LEN.pack(len(data)) + data)
    out.flush()


def _receive(src):
    """The next message of ``src`` (a binary file), or None at its end."""
    head = src.read(_LEN.size)
    if len(head) < _LEN.size:
        return None
    (n,) = _LEN.unpack(head)
    data = src.read(n)
    if len(data) < n:
        return None
    import pickle  # start-up speed: a warm run whose pack is complete reads nothing
    return pickle.loads(data)


def _bodiless(module):
    """A shallow copy of ``module`` with what compiling batches never reads left out: the
    function bodies (each batch brings its own), the data segments (the Go benchmark
    program's 86,137) and the custom sections (debug information: 4.6 MB of the C++ one).
    What the module's code depends on as a whole (its calling convention, exceptions, the GC
    proposal) was found by the parent's compiler and is kept in the module's ``__dict__``."""
    import copy  # start-up speed: only for a child's setup message
    light = copy.copy(module)
    light.funcs = _FuncTypes(array.array("I", [f.typeidx for f in module.funcs]))
    # How the raw bodies the batches bring are decoded (:func:`_messages`), when they are raw.
    # (One decoder per binary: the first function's tells, whether its body is raw or not.)
    context = getattr(module.funcs[0]._decode, "context", None) if module.funcs else None
    if context is not None:
        light.__dict__[_RAW_CONTEXT] = context
    light.datas = []
    light.customs = []
    light.__dict__.pop("known_data_runs", None)     # (the initial memory: runtime/instance.py)
    return light


class _FuncTypes:
    """The bodiless functions of :func:`_bodiless`'s module as it pickles: their type indexes
    only, made into :class:`Func` objects again by the child.  34,004 Funcs pickled (yosys)
    took a warm run 0.2 s of CPU each time it spawned a child; an array of their types 2 ms."""

    __slots__ = ("types",)

    def __init__(self, types) -> None:
        self.types = types

    def __reduce__(self):
        return _bodiless_funcs, (self.types,)


def _bodiless_funcs(types) -> list:
    return [Func(t) for t in types]


#: batches sent to the child and not back yet: the next one sent is the hottest noted by then
IN_FLIGHT = 2
#: samples (each :data:`SAMPLE_NS` of the guest's CPU) a *cold* batch — one an earlier run's
#: child left baseline code in the pack, having had no budget for it — must get in a run before
#: the run has it recompiled: a warm run of the Go benchmark program met 481 such batches (of
#: 495), and noting, shipping and recompiling them all cost it more than running them.
HOT_SAMPLES = 5
#: samples the cold batches a run found hot (:data:`HOT_SAMPLES`) must hold together for a
#: run too short to keep its child (:data:`KEEP_CPU`) to fork one at its exit for them: the Go
#: benchmark program's warm runs (~0.08 s of its guest's CPU) found one or two batches at 5
#: samples in one run of three by chance (each 2-6% of the run, 2-5 in the others), and each
#: time forked a child (~12 ms of the run's wall-clock time to import subprocess) that left
#: 0.4-2.5 s of recompiling behind to save a few milliseconds a run.  A run whose guest spends
#: this long in baseline code (20 ms) still has it recompiled.
EXIT_HOT_SAMPLES = 20
# The key in the child's module copy of the raw bodies' decoding context (binary/decode.py).
_RAW_CONTEXT = "_lazytier_raw_body_context"
#: A noted batch with at least this share of the samples counted so far (and
#: :data:`UNIT_MIN_SAMPLES`) is *hot*: the hot batches noted and not sent yet go to the child
#: together, as one *unit*, compiled as one LLVM module whose calls between them are direct
#: (and inlinable) instead of through the function table's slots, within
#: :data:`UNIT_CODE_BYTES` of wasm code (its O2 compile: about 0.2 s per KB, measured on
#: QuickJS's; the hottest batch goes whatever its size).
UNIT_SHARE = 0.02
UNIT_MIN_SAMPLES = 10
UNIT_CODE_BYTES = 64 * 1024
#: The nesting up to which the recompiling child optimises a function (codegen.NEST_LIMIT
#: elsewhere): an interpreter's dispatch loop, a C switch of a few hundred cases, nests
#: about that deep (QuickJS's JS_CallInternal 282: 11 s of O2, once per machine).
RECOMPILE_NEST_LIMIT = 1024
#: seconds between two looks at the samples while only cold batches are noted
COLD_POLL = 0.25


#: What the recompiling child runs (:func:`main`)
CHILD_CODE = "from wasmforge.llvm.compiler import lazy_recompile_main; lazy_recompile_main()"

#: :meth:`LazyTierUp._spawn`'s answer when every slot is taken
BUSY = object()


def _slot(cache):
    """The descriptor of a free slot lock of the cache folder (``recompile-<k>.lock``, ``k``
    below :func:`max_children`), held; None when every slot is taken."""
    for k in range(max_children()):
        fd = cache.lock(f"recompile-{k}", wait=False)
        if fd is not None:
            return fd
    return None


class LazyTierUp:
    """The background recompile of one lazily compiled module's baseline batches (see the
    module docstring), made by the module's first baseline batch."""

    def __init__(self, compiled, cache, tier_up_cpu: float, tokens) -> None:
        self._compiled = weakref.ref(compiled)
        self._cache = cache
        self._tier_up_cpu = tier_up_cpu
        self._tokens = tokens       # compiler._recompile_tokens(): (read end, write end)
        self._cpu_start = time.process_time()
        self._cond = threading.Condition()
        self._queue: list = []          # batches noted, not sent yet
        # Cold batches noted (see HOT_SAMPLES): sent once sampled hot, else never.
        self._cold: list = []
        self._fresh: list = []          # batches noted from their own parts (not the pack's)
        self.promoted = 0               # cold batches sampled hot...
        self._promoted: list = []       # ...those batches
        self._feeding = False           # the feeding thread waits for the queue: notify it
        self._sent = 0                  # batches sent to the child
        self._bound = 0                 # of them, bound here (or failed)
        self._hurry = False
        self._proc = None
        self._write_lock = threading.Lock()     # one message at a time on the child's stdin
        self._closed = False
        self.swapped = 0                # batches whose optimised code runs here now
        # Where the guest's threads spend their CPU, per noted batch: the code ranges of the
        # batches, sorted, and their samples.  This thread (it binds the first baseline
        # batch), and the process's other threads as the drains find them
        # (perfsample.ProcessSampler): a server loads its apps on one thread and runs their
        # requests on others, so a sampler of the loading thread alone saw no sample, and the
        # pack's cold batches were never recompiled in a server however hot they ran.
        self._sampler = ProcessSampler.open()
        self._ranges: list = []         # (start, end, batch as a tuple)
        self._heat: dict = {}           # batch as a tuple -> samples in its code
        self._sizes: dict = {}          # batch as a tuple -> its wasm code bytes
        self.order: list = []           # the batches as sent to children
        # The batches whose recompile overran ITEM_CPU in an earlier process: never sent.
        self._overrun = load_overrun(compiled.cache_key, cache) if compiled.cache_key else set()
        self._thread = helper_thread(self._run, (), "wasmforge-lazy-tier-up")
        self._thread.start()
        atexit.register(_keep_at_exit, weakref.ref(self))

    def note(self, batch: list, cold: bool = False, size: int = 0) -> None:
        """``batch`` (of ``size`` bytes of wasm code) was bound from baseline code: recompile
        it — if ``cold`` (an earlier run's child left it baseline code, :data:`HOT_SAMPLES`),
        only once this run is seen to spend its time there (without a sampler, as any
        other)."""
        if self._overrun and batch_part(batch) in self._overrun:
            return          # (its baseline code stays: OVERRUN)
        compiled = self._compiled()
        # (Its code is the batch just bound: llvm/compiler.py ``_compile_batch``.)
        code = compiled._batches[-1] if compiled is not None and compiled._batches else None
        with self._cond:
            if cold and self._sampler is not None:
                self._cold.append(list(batch))
            else:
                self._queue.append(list(batch))
            if not cold:
                self._fresh.append(list(batch))
            self._sizes[tuple(batch)] = size
            if self._sampler is not None and getattr(code, "size", 0):
                bisect.insort(self._ranges, (code.base, code.base + code.size, tuple(batch)))
                self._sampler.watch(code.base, code.base + code.size)
            # Only the feeding thread waits for batches: waking the other waits (for the
            # run's CPU, for the child) per batch cost a warm run a thread switch each (the
            # Go program binds ~500).
            if self._feeding and not cold:
                self._cond.notify_all()

    def note_cold(self, items) -> None:
        """:meth:`note` (``cold``) of each ``(batch, size, code)`` of ``items``: the pack's
        cold batches, bound together (llvm/compiler.py ``_bind_pack``, ``code`` the batch's
        loaded image), under one taking of the lock and with the code ranges sorted once
        (the Go program's ~480, one call each, were about 2% of its warm run)."""
        overrun, sampler = self._overrun, self._sampler
        with self._cond:
            for batch, size, code in items:
                if overrun and batch_part(batch) in overrun:
                    continue    # (its baseline code stays: OVERRUN)
                (self._cold if sampler is not None else self._queue).append(list(batch))
                self._sizes[tuple(batch)] = size
                if sampler is not None and getattr(code, "size", 0):
                    self._ranges.append((code.base, code.base + code.size, tuple(batch)))
                    sampler.watch(code.base, code.base + code.size)
            if sampler is not None:
                self._ranges.sort()

    def _drain(self) -> None:
        """(Under ``_cond``.)  Count the samples taken since the last drain, and move the
        cold batches now hot enough to the queue."""
        if self._sampler is None:
            return
        ranges, heat = self._ranges, self._heat
        for ip in self._sampler.drain():
            k = bisect.bisect_right(ranges, (ip, float("inf"))) - 1
            if k >= 0 and ip < ranges[k][1]:
                key = ranges[k][2]
                heat[key] = heat.get(key, 0) + 1
        if self._cold:
            hot = [b for b in self._cold if heat.get(tuple(b), 0) >= HOT_SAMPLES]
            if hot:
                self._cold = [b for b in self._cold if heat.get(tuple(b), 0) < HOT_SAMPLES]
                self._queue.extend(hot)
                self._promoted.extend(hot)
                self.promoted += len(hot)

    def promoted_samples(self) -> int:
        """(Under ``_cond``.)  The samples counted so far in the cold batches sampled hot."""
        heat = self._heat
        return sum(heat.get(tuple(b), 0) for b in self._promoted)

    def _take(self, n: int) -> list:
        """(Under ``_cond``.)  The ``n`` hottest batches of the queue, taken from it: by the
        samples in their code so far, else in the order noted; the hot ones among them
        (:data:`UNIT_SHARE`) as one unit."""
        heat = self._heat
        if self._sampler is not None:
            self._drain()
            heat = self._heat
            if heat:
                order = sorted(range(len(self._queue)),
                               key=lambda i: -heat.get(tuple(self._queue[i]), 0))
                self._queue = [self._queue[i] for i in order]
        hot = max(UNIT_MIN_SAMPLES, UNIT_SHARE * sum(heat.values()))
        taken: list = []
        while self._queue and len(taken) < n:
            first = self._queue.pop(0)
            unit, size, rest = [first], self._sizes.get(tuple(first), 0), []
            if heat.get(tuple(first), 0) >= hot:
                for batch in self._queue:
                    more = self._sizes.get(tuple(batch), 0)
                    if heat.get(tuple(batch), 0) >= hot and size + more <= UNIT_CODE_BYTES:
                        unit.append(batch)
                        size += more
                    else:
                        rest.append(batch)
                self._queue = rest
            taken.append(unit if len(unit) > 1 else first)
        self.order.extend(taken)
        return taken

    def wait(self, timeout: float | None = None) -> bool:
        """Start now (whatever the CPU spent) and wait until every batch noted so far runs
        optimised code here; return whether they all do."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            self._hurry = True
            self._cond.notify_all()
            while self._queue or self._bound < self._sent:
                if self._closed:
                    break
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    break
                self._cond.wait(left)
            return not self._queue and self._bound == self._sent and not self._closed

    # ----- the parent's threads -----

    def _run(self) -> None:
        """Wait for :data:`compiler.TIER_UP_CPU` of CPU, then feed the noted batches to a
        child, spawned when there is none (the first time, and after one ended idle)."""
        try:
            with self._cond:
                while not self._hurry:
                    left = self._tier_up_cpu - (time.process_time() - self._cpu_start)
                    if left <= 0:
                        break
                    if self._compiled() is None:
                        return      # (a short run's module collected: its sampler closed too)
                    # CPU time grows no faster than wall-clock time times the cores busy.
                    self._cond.wait(max(left / 2, 0.02))
            self._feed()
        finally:
            with self._cond:
                if self._sampler is not None:
                    self._sampler.close()
                    self._sampler = None
                # Nothing more is sent (the module is gone, or no child could start): a
                # waiter for the batches left in the queue gets its answer now.
                self._closed = True
                self._cond.notify_all()

    def _feed(self) -> None:
        proc = None
        while True:
            with self._cond:
                # A few batches ahead of the child at most, so that the next one sent is the
                # hottest by then (the child compiles what it is sent in order).
                self._feeding = True
                self._drain()
                while not self._queue or (proc is not None and proc.poll() is None
                                          and self._sent - self._bound >= IN_FLIGHT):
                    # The thread ends with the module (a process that makes module after
                    # module, a server's, kept one sleeping thread for each), and so does
                    # its child, now (EOF): not after IDLE_SECONDS, holding its slot.
                    if self._compiled() is None:
                        self._end(proc)
                        return
                    # (Cold batches become hot only by samples: looked at now and then.)
                    self._cond.wait(IDLE_SECONDS if not self._queue and not self._cold
                                    else COLD_POLL if not self._queue else 1.0)
                    self._drain()
                self._feeding = False
            compiled = self._compiled()
            if compiled is None:
                self._end(proc)
                return
            if proc is None or proc.poll() is not None:
                with FORK_LOCK:
                    proc = self._spawn(compiled)
                if proc is BUSY:
                    # Every slot taken (other modules', other processes'): try again later;
                    # the batches wait here (a run that ends first leaves them baseline code,
                    # and its next run notes them again).
                    proc = None
                    del compiled
                    with self._cond:
                        self._cond.wait(SLOT_RETRY)
                    continue
                if proc is None:
                    with self._cond:
                        self._closed = True
                        self._cond.notify_all()
                    return
                self._proc = proc
                helper_thread(self._read, (proc,), "wasmforge-lazy-tier-up-reader").start()
            with self._cond:
                batches = self._take(max(1, IN_FLIGHT - (self._sent - self._bound)))
                self._sent += len(batches)      # (counted before a waiter can look again)
            msgs = _messages(compiled, batches)
            del compiled
            try:
                for msg in msgs:
                    with self._write_lock:
                        _send(proc.stdin, msg)
            except (OSError, ValueError):
                with self._cond:        # it ended (idle, just now): those stay baseline code
                    self._bound = self._sent
                    self._cond.notify_all()

    def _end(self, proc) -> None:
        """Close the child's stream: it ends after the batch in hand (unless kept)."""
        if proc is not None:
            with self._write_lock:
                try:
                    proc.stdin.close()
                except OSError:
                    pass

    def _spawn(self, compiled):
        """The recompiling child (:func:`main`), sent its setup message; None if it cannot
        start, :data:`BUSY` when every slot is taken (by this or other processes)."""
        slot = _slot(self._cache)
        if slot is None:
            return BUSY
        try:
            tokens = self._tokens
            # Its code goes to the pack only (the folder is passed on): not to the IR-keyed
            # cache too, where a batch's IR would meet it only if the pack were lost.  It
            # inherits the slot's lock, and holds it until it ends (also after this process).
            proc = spawn_python(CHILD_CODE, env={"WASMFORGE_CACHE": "off"},
                                pass_fds=(*tokens, slot))
        except Exception:       # noqa: BLE001 - the baseline code stays
            return None
        finally:
            os.close(slot)
        try:
            _send(proc.stdin, (_bodiless(compiled.module), compiled.fuel, compiled.epoch,
                               compiled.opt_level, compiled.cache_key, self._cache,
                               sorted(compiled._mc.pathological), tuple(tokens), IDLE_SECONDS))
        except Exception:       # noqa: BLE001 - the baseline code stays
            proc.kill()
            proc.wait()
            return None
        return proc

    def _read(self, proc) -> None:
        """Bind each optimised batch the child sends."""
        import pickle  # start-up speed: only once a child runs
        try:
            while True:
                msg = _receive(proc.stdout)
                if msg is None:
                    break
                batch, image = msg
                compiled = self._compiled()
                if compiled is None:
                    break
                if image is not None:
                    try:
                        with FORK_LOCK:
                            engine = jit.load_object(image)
                        compiled._swap_batch(members(batch), engine, image)
                        self.swapped += 1
                    except Exception:   # noqa: BLE001 - that batch stays baseline code
                        pass
                del compiled
                with self._cond:
                    self._bound += 1
                    self._cond.notify_all()
        except (OSError, ValueError, EOFError, pickle.UnpicklingError):
            pass
        finally:
            with self._cond:
                # What it was sent and did not send back stays baseline code.
                self._bound = self._sent
                self._cond.notify_all()
            try:
                proc.stdout.close()
                proc.stdin.close()
            except OSError:
                pass
            proc.wait()             # (it has written all it will: it is ending)


def _messages(compiled, batches: list) -> list:
    """The child's messages of ``batches``: each with its functions' bodies, raw where the
    module's are (bytes, which the child decodes: :func:`_body`).  Decoded here and pickled
    as instructions, yosys's took a warm run about a second of CPU at its exit."""
    with FORK_LOCK:     # (pickling allocates: llvm/forksafe.py)
        funcs = compiled.module.funcs
        return [(b, {j: (funcs[j].typeidx, funcs[j].locals, _raw_or_decoded(funcs[j]))
                     for j in members(b)}) for b in batches]


def _raw_or_decoded(func):
    if raw_body_context(func) is not None:
        return bytes(func._code)
    return list(func.iter_body())


def _body(module, body) -> list:
    """In the child: the instructions of a body as :func:`_messages` sent it."""
    if isinstance(body, bytes):
        return decode_raw_body(body, module.__dict__[_RAW_CONTEXT])
    return body


def _keep_at_exit(ref) -> None:
    """At this process's exit: let the child finish what it was sent when the process has
    computed for :data:`KEEP_CPU` since the module was made (else it ends with us)."""
    tier = ref()
    if tier is None:
        return
    short = time.process_time() - tier._cpu_start < KEEP_CPU
    if short:
        # A short run keeps its child only for the pack's cold batches it found hot, within
        # MIN_LEFT_CPU: the Go benchmark program's warm runs (0.3 s of CPU) spent most of
        # their guest's time in them and, too short to keep a child, never had them
        # recompiled; a few runs leave the hot ones optimised in the pack.  Only when they
        # hold EXIT_HOT_SAMPLES together: once those few runs had, the Go program's warm
        # runs still found a batch at HOT_SAMPLES now and then by chance.  And for the
        # batches it met outside the pack (:func:`_pack_fresh_batches`), which the child
        # puts into the pack: doing it here, reading and writing the whole pack, took the Go
        # program's first warm run 0.05 s of CPU and 29 MB (it met 5 batches its first run
        # had not).
        with tier._cond:
            tier._drain()
            # (A child already running gets them whatever their samples: it is there.)
            promoted = tier.promoted if tier._proc is not None or \
                tier.promoted_samples() >= EXIT_HOT_SAMPLES else 0
        met = _fresh_to_pack(tier)
        if not promoted and not met:
            return
        if tier._proc is None:
            compiled = tier._compiled()
            if compiled is None:
                return
            with FORK_LOCK:
                proc = tier._spawn(compiled)
            del compiled
            if proc is None or proc is BUSY:
                _pack_fresh_batches(tier)
                return
            tier._proc = proc
    elif tier._proc is None:
        _pack_fresh_batches(tier)
        return
    else:
        promoted, met = 0, list(tier._fresh)
    # (Not while the feeding thread is in the middle of a message: a second long enough
    # to finish it, else the child ends with us.)
    if not tier._write_lock.acquire(timeout=1.0):
        if short:
            _pack_fresh_batches(tier)
    else:
        try:
            # The batches noted since the feeding thread last woke go too (its next run
            # would otherwise meet them as baseline code).
            compiled = tier._compiled()
            with tier._cond:
                tier._drain()       # (cold batches not sampled hot stay baseline code)
                # (A short run that found no cold batch hot sends none: the batches it met
                # go into the pack as baseline code, cold, as its own exit put them.)
                batches = tier._take(len(tier._queue)) if promoted or not short else []
                tier._sent += len(batches)
                # What the child compiles beyond the budget after a long run (HOT_LEFT_CPU):
                # the items this run spent HOT_SAMPLES in, sent now or earlier.  And what it
                # puts into the pack as baseline code if it does not compile it: every batch
                # this run met outside the pack (after a long run, a batch whose message the
                # exit cut, or that could not be compiled, was in none, and the next run read
                # its file, noted it and wrote the whole pack again at its exit).
                heat = tier._heat
                hot = [] if short else [
                    item_part(item) for item in tier.order
                    if max(heat.get(tuple(b), 0) for b in (item if is_unit(item) else [item]))
                    >= HOT_SAMPLES]
            for msg in _messages(compiled, batches) if compiled is not None else ():
                _send(tier._proc.stdin, msg)
            spent = time.process_time() - tier._cpu_start
            _send(tier._proc.stdin, (b"k", MIN_LEFT_CPU if short else
                                     max(MIN_LEFT_CPU, LEFT_CPU_FACTOR * spent), hot, met))
        except (OSError, ValueError):
            if short:
                _pack_fresh_batches(tier)     # (its child had ended: idle)
        finally:
            tier._write_lock.release()


def _fresh_to_pack(tier) -> list:
    """The batches a warm run met outside the pack, to be put into it (:func:`_pack_fresh_batches`)."""
    compiled = tier._compiled()
    if compiled is None or not compiled.cache_key or not getattr(compiled, "_packed", False):
        return []
    return list(tier._fresh)


def _pack_fresh_batches(tier) -> None:
    """At the exit of a warm run too short to keep its child: put the baseline images of the
    batches it met outside the pack into the pack (cold, :data:`HOT_SAMPLES`), so that the
    next run finds the pack complete.  The Go benchmark program's warm runs each met the
    same 14 batches outside it, read 14 files more, had them noted as new and spawned a
    child for them that the run's exit ended before it compiled anything."""
    met = _fresh_to_pack(tier)
    compiled = tier._compiled()
    if not met or compiled is None:
        return
    try:
        images = {}
        for batch in met:
            part = batch_part(batch)
            image = modcache.load_part(compiled.cache_key, part, cache=tier._cache)
            if image is not None:
                images[baseline_part(part)] = bytes(image)
        if images:
            _store(compiled.cache_key, tier._cache, images)
    except Exception:   # noqa: BLE001 - the cache is an optimisation only
        pass


# ----- the child -----

def main(seconds: int, take_token) -> None:
    """The recompiling process (see the module docstring; ``compiler.lazy_recompile_main``):
    reads the stream of :class:`LazyTierUp` on stdin, writes ``(batch, image)`` per batch on
    stdout (``image`` None for a batch it does not compile) and keeps the images in the
    entry's pack.  It ends itself after ``seconds``; ``take_token(tokens, alive)`` is
    ``compiler._take_token``."""
    import queue  # start-up speed: the child's alone
    from .codegen import ModuleCompiler  # start-up speed: the IR generator, the child's
    signal.alarm(seconds)               # a safety net (SIGALRM's default action ends it)
    src, out = sys.stdin.buffer, sys.stdout.buffer
    done: dict = {}
    entry = cache = None
    # ``stored``: whether ``done`` is in the pack; ``item``/``since``: the item compiling and
    # the compiling thread's CPU when it began (the watch thread's); ``token``: whether it
    # holds a token; ``guard``: held while ``done``, the pack or the token is written, so
    # that the watch ends the process between two writes.
    st: dict = {"stored": True, "item": None, "since": 0.0, "token": False}
    guard = threading.Lock()
    cpu = _thread_clock()
    try:
        setup = _receive(src)
        if setup is None:
            return
        module, fuel, epoch, opt_level, entry, cache, pathological, tokens, idle = setup
        tokens_r, tokens_w = tokens
        inbox: queue.Queue = queue.Queue()
        state: dict = {"keep": False, "eof": False, "budget": 0.0, "hot": set(), "fresh": [],
                       "eof_cpu": 0.0}
        # take_token's "parent" pipe: closed by the listening thread when the parent ends
        # without asking us to stay, so that a child queued for a token ends with it.
        parent_r, parent_w = os.pipe()

        def listen() -> None:
            # The parent's batches as they come; its end (EOF) stops the compiling after the
            # batch in hand, unless it asked us to stay ("k").
            try:
                while True:
                    msg = _receive(src)
                    if msg is None:
                        break
                    if isinstance(msg, tuple) and msg[0] == b"k":
                        state["keep"], state["budget"] = True, float(msg[1])
                        state["hot"] = set(msg[2]) if len(msg) > 2 else set()
                        state["fresh"] = list(msg[3]) if len(msg) > 3 else []
                        continue
                    inbox.put(msg)
            except Exception:   # noqa: BLE001 - treated as the parent's end
                pass
            state["eof_cpu"] = time.process_time()
            state["eof"] = True
            if not state["keep"]:
                os.close(parent_w)
            inbox.put(None)

        def take(tokens_r: int, alive: int):
            got = take_token(tokens_r, alive)
            st["token"] = bool(got)
            return got

        def give() -> None:
            with guard:
                if st["token"]:
                    st["token"] = False
                    os.write(tokens_w, b"t")

        def watch() -> None:
            # An item compiling for more than ITEM_CPU of CPU (LLVM cannot be stopped inside
            # a compile): its batches are recorded so that no process sends them again (after
            # OVERRUN_TRIES), its token is given back (the parent's later children would
            # otherwise wait TOKEN_WAIT for it, each), what is done is stored, and the
            # process ends.
            while True:
                time.sleep(WATCH_EVERY)
                item = st["item"]
                if item is None or cpu() - st["since"] <= ITEM_CPU:
                    continue
                with guard:
                    if st["item"] is not item:
                        continue
                    try:
                        if st["token"]:
                            st["token"] = False
                            try:
                                os.write(tokens_w, b"t")
                            except OSError:
                                pass
                        _record_overrun(entry, cache, item)
                        if done and not st["stored"]:
                            _store(entry, cache, done)
                    finally:
                        os._exit(0)

        threading.Thread(target=listen, daemon=True).start()
        if entry and cache:
            threading.Thread(target=watch, daemon=True).start()
        mc = ModuleCompiler(module, fuel, epoch)
        mc.nest_limit = RECOMPILE_NEST_LIMIT
        mc.pathological.update(pathological)
        known = set(load_pack(entry, cache)) if entry and cache else set()
        overrun = load_overrun(entry, cache) if entry and cache else set()
        last_store = time.monotonic()
        deadline = None
        left: list = []         # the items left baseline code (no budget for them)
        while True:
            try:
                msg = inbox.get(timeout=idle)
            except queue.Empty:
                break           # idle: the parent spawns another for its next batches
            if msg is None:
                break
            if state["eof"]:
                # The parent is gone: what it sent is compiled only after a long run, and
                # then within ``seconds``, the CPU budget it gave (in proportion to the run's
                # CPU: what it sent first goes first) and, for the items it found hot, within
                # HOT_LEFT_CPU (what the next run should find optimised).
                if not state["keep"]:
                    break
                # (The first item after it goes whatever the budget: the hottest it sent.)
                first = deadline is None
                if first:
                    deadline = time.monotonic() + seconds
                spent = time.process_time() - state["eof_cpu"]
                if not first and (time.monotonic() > deadline
                                  or spent >= max(state["budget"], HOT_LEFT_CPU)):
                    left.append(msg[0])
                    while (msg := inbox.get()) is not None:
                        left.append(msg[0])
                    break
                if not first and spent >= state["budget"] and item_part(msg[0]) not in state["hot"]:
                    left.append(msg[0])
                    continue
            # The safety net is per batch: a first run of a big program may stream batches
            # for longer than that (a Go program's: 14 minutes on a loaded machine).
            signal.alarm(seconds)
            batch, bodies = msg
            for j, (typeidx, locals_, body) in bodies.items():
                module.funcs[j] = Func(typeidx, locals_, _body(module, body))
            st["since"] = cpu()
            st["item"] = batch
            try:
                item, image = _compile(mc, batch, opt_level, known, done, take, tokens_r, give,
                                       parent_r, overrun)
            finally:
                st["item"] = None
            with guard:
                if image is not None:
                    done[item_part(item)] = image
                    st["stored"] = False
                    batch = item
                for k in members(msg[0]):
                    module.funcs[k] = Func(module.funcs[k].typeidx)     # the body is done with
                # Stored when caught up with the parent (a warm run meets a few new batches:
                # the pack has them before the parent hears of the last), and now and then
                # besides (and by the watch, if it ends the process).
                if not st["stored"] and (inbox.empty() or time.monotonic() - last_store > STORE_EVERY):
                    _store(entry, cache, done)
                    last_store, st["stored"] = time.monotonic(), True
            try:
                _send(out, (batch, image))
            except (OSError, ValueError):
                pass                # the parent is gone: the pack still gets it
        # What is left stays baseline code: its images go into the pack as they are, so that
        # a warm run reads one file, not one per batch (the Go program's: about 500), and
        # knows them for baseline code.
        with guard:
            if state["eof"] and state["keep"]:
                left.extend(state["fresh"])
            for batch in [b for item in left for b in (item if is_unit(item) else [item])]:
                part = batch_part(batch)
                if part not in known and part not in done and baseline_part(part) not in known \
                        and baseline_part(part) not in done:
                    image = modcache.load_part(entry, part, cache=cache)
                    if image is not None:
                        done[baseline_part(part)] = bytes(image)
                        st["stored"] = False
    except BaseException:   # noqa: BLE001 - what is done is stored below
        pass
    finally:
        try:
            with guard:
                if entry and cache and done and not st["stored"]:
                    _store(entry, cache, done)
        finally:
            os._exit(0)


#: seconds between two looks of the child's watch thread at the item compiling
WATCH_EVERY = 0.25


def _thread_clock():
    """A function giving the calling thread's CPU seconds, readable from another thread (the
    watch's): not the process's, which count the thread receiving the parent's batches too
    while the item compiles; the process's where there is no such clock."""
    try:
        clock = time.pthread_getcpuclockid(threading.get_ident())
        time.clock_gettime(clock)
    except (AttributeError, OSError):
        return time.process_time
    return lambda: time.clock_gettime(clock)


def _compile(mc, item: list, opt_level: int, known: set, done: dict, take_token,
             tokens_r: int, give_token, parent_r: int, overrun: frozenset | set = frozenset()):
    """In the child: ``(item, image)``, the image of the batch or unit ``item`` compiled at
    ``opt_level`` (one LLVM module: calls between its functions are direct), or None (in the
    pack already, holding a pathological function or a batch of ``overrun`` (part names:
    :data:`OVERRUN`): its baseline code stays, or the parent ended while it waited for a
    token: EOF on ``parent_r``).  A unit holding a pathological function or an overrun batch
    is made without the batch that holds it (the ``item`` returned).  ``take_token(tokens_r,
    parent_r)`` is ``compiler._take_token``; ``give_token()`` gives back the token it got."""
    part = item_part(item)
    if part in known or part in done:
        return item, None
    batches = item if is_unit(item) else [item]
    if overrun and any(batch_part(b) in overrun for b in batches):
        rest = [b for b in batches if batch_part(b) not in overrun]
        if not rest:
            return item, None
        return _compile(mc, rest if len(rest) > 1 else rest[0], opt_level, known, done,
                        take_token, tokens_r, give_token, parent_r, overrun)
    from .codegen import callees  # start-up speed: the child's alone
    flat = members(item)
    calls = {k: callees(mc.module.funcs[k], mc.nimported) for k in flat}
    ir = mc.compile_batch(flat, calls)
    if mc.pathological.intersection(flat):
        if not is_unit(item):
            return item, None
        rest = [batch for batch in item if not mc.pathological.intersection(batch)]
        if not rest:
            return item, None
        return _compile(mc, rest if len(rest) > 1 else rest[0], opt_level, known, done,
                        take_token, tokens_r, give_token, parent_r, overrun)
    token = take_token(tokens_r, parent_r)
    if token is None:
        return item, None
    try:
        obj = jit.compile_ir(ir, f"wasm-batch-o{opt_level}", opt_level, load=False)[2]
    finally:
        if token:
            give_token()
    return item, (jit.linked(obj) if obj else None)


def _store(entry: str, cache, done: dict) -> None:
    """Merge ``done`` into the entry's pack as it is now (another run may have written it).
    Under the pack's lock: two children that read the pack before either wrote it each
    wrote it without the other's batches."""
    lock = cache.lock(entry[:-len(".o")] + "-" + PACK)
    try:
        images = dict(load_pack(entry, cache))     # (views of the pack read: format_pack joins)
        images.update(done)
        for name in [n for n in images if n.startswith("b")]:
            images.pop(baseline_part(name), None)      # optimised now
        for name in [n for n in images if n.startswith("u")]:
            for batch in parse_unit(name, 1 << 31) or ():     # in a unit now
                images.pop(batch_part(batch), None)
                images.pop(baseline_part(batch_part(batch)), None)
        modcache.store_part(entry, PACK, format_pack(images), cache=cache)
    finally:
        if lock is not None:
            os.close(lock)


__all__ = ["LazyTierUp", "PACK", "batch_part", "baseline_part", "format_pack", "parse_pack", "load_pack", "main",
           "is_unit", "members", "unit_part", "item_part", "parse_unit", "units"]
