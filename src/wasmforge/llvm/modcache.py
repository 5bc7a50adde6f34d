"""The module cache: a compiled module's machine code keyed by the module's *bytes*, so that a
warm run neither validates, nor generates IR, nor imports llvmlite.

The key is a SHA-256 of the module's binary's SHA-256 and of everything else the machine code depends
on: the engine settings that change generated code (``consume_fuel``, ``epoch_interruption``,
the optimisation level), the wasmforge version and the files of the code generator (their
sizes and times, so that an edited checkout never runs stale code), whether baseline code
comes from the quick compiler (``quick.wanted()``), and the compiler and host
(:func:`jit.host_key`: no llvmlite).  The entry holds the object code and the entry trampoline of each defined function; on a hit the module is decoded again
(without validation: the entry is only there because this user's process validated and
compiled that very binary, and ``_cache`` authenticates it with an HMAC), and the object code
is mapped by :mod:`loader`.

Entry payload: ``u32`` length + UTF-8 JSON (``entry_of``), then the object code, linked
into an image (``jit.linked``) where our loader is used.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import time
from typing import Iterable

from .. import _cache
from .._version import __version__
from . import jit, quick
from ..errors import WasmError

_LEN = struct.Struct("<I")
_RUN = struct.Struct("<IQQ")
_DATA_MAGIC = b"wfdata1\0"
_DOMAIN = b"wasmforge-module-cache-v1\0"
# The files whose code decides the machine code of a module (besides the compiler and host).
_CODEGEN_FILES = ("codegen.py", "ops.py", "prelude.py", "trampolines.py", "simd.py", "layout.py",
                  "exceptions.py", "atomics.py", "typedrefs.py", "gcops.py", "gcheap.py",
                  "compiler.py", "jit.py", "unwind.py", "dwarf.py",
                  os.path.join("quick", "__init__.py"), os.path.join("quick", "x64.py"),
                  os.path.join("quick", "translate.py"), os.path.join("quick", "assemble.py"),
                  os.path.join("quick", "scope.py"),
                  os.path.join("..", "runtime", "metering.py"))
_sources = None


def _sources_stamp() -> bytes:
    global _sources
    if _sources is None:
        _sources = _cache.files_stamp(os.path.dirname(os.path.abspath(__file__)),
                                      _CODEGEN_FILES, __version__)
    return _sources


def key(wasm: bytes, fuel: bool, epoch: bool, opt_level: int | None,
        features: Iterable[str] = ()) -> str | None:
    """The cache entry name of ``wasm`` compiled with these settings on this host, or None
    when the cache is off or the host cannot be described.  ``features`` (the proposals
    switched on) is part of the key because a hit skips validation."""
    if not _cache.enabled():
        return None             # (and no llvmlite import just to describe the host)
    level = jit.DEFAULT_OPT_LEVEL if opt_level is None else opt_level
    try:
        # The llvmlite install and the CPU, which determine jit.host_description(), without
        # asking llvmlite: a first run whose baseline code comes from the quick compiler
        # (llvm/quick) never imports it.
        host = jit.host_key(level)
    except (ImportError, OSError, WasmError):
        return None
    lazy = os.environ.get("WASMFORGE_LLVM_LAZY", "")
    # Which compiler makes baseline code (llvm/quick or LLVM): WASMFORGE_LLVM_QUICK=0 must
    # not be served the quick compiler's code an earlier run stored.
    h = hashlib.sha256(_DOMAIN)
    h.update(_sources_stamp() + b"\0")
    h.update(json.dumps([bool(fuel), bool(epoch), level, lazy, quick.wanted(), host,
                         sorted(features)], sort_keys=True).encode() + b"\0")
    # The module's own SHA-256 (``wasmforge run`` has it computed while it imports the rest
    # of its code: ``_cache.prefetch_digest``).
    h.update(_cache.digest(wasm))
    return "mod-" + h.hexdigest() + ".o"


def load(entry: str):
    """``(header, object code)`` stored as ``entry``, or None.  The header holds
    ``entry_of`` and, for a module compiled lazily, ``lazy`` (its code is then cached per
    part: :func:`load_part`), for baseline code ``baseline``."""
    cache = _cache.folder("llvm")
    if not cache:
        return None
    raw = cache.load(entry)
    if raw is None or len(raw) < _LEN.size:
        return None
    (n,) = _LEN.unpack_from(raw)
    try:
        head = json.loads(raw[_LEN.size:_LEN.size + n])
    except ValueError:
        return None
    if not isinstance(head, dict):
        return None
    obj = raw[_LEN.size + n:]
    if head.get("lazy") is True:
        return head, obj
    if not isinstance(head.get("entry_of"), list) or not obj:
        return None
    return head, obj


#: What the code generator finds out about a module as a whole by reading every body, kept
#: in ``Module.__dict__`` (llvm/codegen.py ``uses_tail_calls``, llvm/layout.py
#: ``uses_exceptions``): a lazily compiled module's entry keeps them (``facts``), so that a
#: warm run, which decodes the module with raw bodies, decodes none of them to ask again
#: (QuickJS: all 1,512 bodies on every warm run, an eighth of it).
MODULE_FACTS = ("_llvm_uses_tail_calls", "_llvm_uses_exceptions")


def store(entry: str, entry_of: list, obj: bytes, lazy: bool = False,
          baseline: bool = False, cache=None, facts: dict | None = None,
          quick: bool = False) -> None:
    """Keep the object code ``obj`` of a whole compiled module as ``entry`` (or, for a lazily
    compiled one, only that it is, with its ``facts`` (:data:`MODULE_FACTS`): its parts are
    stored as they are compiled).  ``baseline`` marks baseline code (llvm/compiler.py): a
    run that loads it recompiles it optimised; ``quick`` marks it the quick compiler's (its
    tier-up is llvm/tiering.py's).  ``cache``: the folder (default: the current one,
    ``_cache.folder("llvm")``)."""
    cache = cache or _cache.folder("llvm")
    if cache:
        if obj:
            # Linked ahead of time (llvm/loader.py ``link``), as an artifact's and the pack's
            # code is: a warm run then maps it with a few patches instead of relocating the
            # object (the zig c++ benchmark program's 4 MB: 10 ms, linked 2-3 ms).
            obj = jit.linked(obj)
        head = {"entry_of": list(entry_of)}
        if lazy:
            head["lazy"] = True
            head["facts"] = {k: bool(v) for k, v in (facts or {}).items() if k in MODULE_FACTS}
        elif baseline:
            head["baseline"] = True
            if quick:
                head["quick"] = True
        head = json.dumps(head).encode()
        cache.store(entry, _LEN.pack(len(head)) + head + obj)


def _part_entry(entry: str, part: str) -> str:
    return entry[:-len(".o")] + "-" + part + ".o"


def load_part(entry: str, part: str, cache=None, mapped: bool = False):
    """The object code of ``part`` (the entry trampolines, a batch) of the lazily compiled
    module of ``entry``, or None.  ``cache``: the folder (default: the current one);
    ``mapped``: a large part may come as a view of its file mapped (``_cache.Folder.load``)."""
    cache = cache or _cache.folder("llvm")
    return cache.load(_part_entry(entry, part), mapped=mapped) if cache else None


def store_part(entry: str, part: str, obj: bytes, cache=None) -> None:
    cache = cache or _cache.folder("llvm")
    if cache:
        cache.store(_part_entry(entry, part), obj)


def parse_batches(data) -> list:
    """The batches of a part listing them (``1,2,3;7,9``: sorted function indexes, batches
    apart by ``;``), or none for one that does not parse (a cache file is not trusted)."""
    batches = []
    for text in bytes(data or b"").decode("ascii", "replace").split(";"):
        try:
            batch = sorted({int(k) for k in text.split(",") if k})
        except ValueError:
            return []
        if batch:
            batches.append(batch)
    return batches


def format_batches(batches) -> bytes:
    """The part listing ``batches``, as :func:`parse_batches` reads it."""
    return ";".join(",".join(map(str, b)) for b in batches).encode()


def add_batches(entry: str, part: str, cache, batches, copies: int = 1) -> None:
    """Add each of ``batches`` to the entry's part ``part`` listing batches, unless it is
    listed ``copies`` times already, under the part's lock (several processes add to it)."""
    lock = cache.lock(entry[:-len(".o")] + "-" + part)
    try:
        listed = parse_batches(load_part(entry, part, cache=cache))
        for batch in batches:
            batch = sorted(batch)
            if listed.count(batch) < copies:
                listed.append(batch)
        store_part(entry, part, format_batches(listed), cache=cache)
    finally:
        if lock is not None:
            os.close(lock)


#: The first word of a part of heat (:func:`parse_heat`): another format is not read as this one
_HEAT_MAGIC = "heat1"


def parse_heat(data) -> tuple:
    """``(total, counts)`` of a part of heat (``heat1 <total> <funcidx>:<samples> ...``): the
    samples counted in a module's quick code and those of each function (at most ``total``
    in all: a bounded part keeps the hottest functions only).  ``(0, {})`` for a part missing
    or that does not parse (a cache file is not trusted)."""
    words = bytes(data or b"").decode("ascii", "replace").split()
    if len(words) < 2 or words[0] != _HEAT_MAGIC:
        return 0, {}
    counts: dict = {}
    try:
        total = int(words[1])
        for word in words[2:]:
            k, _, n = word.partition(":")
            k, n = int(k), int(n)
            if k < 0 or n <= 0 or k in counts:
                return 0, {}
            counts[k] = n
    except ValueError:
        return 0, {}
    if total < sum(counts.values()):
        return 0, {}
    return total, counts


def format_heat(total: int, counts: dict) -> bytes:
    """The part :func:`parse_heat` reads as ``(total, counts)``."""
    words = [_HEAT_MAGIC, str(total)]
    words.extend(f"{k}:{n}" for k, n in sorted(counts.items()) if n > 0)
    return " ".join(words).encode()


#: How long :func:`add_heat` tries for its part's lock (it runs at a process's exit)
HEAT_LOCK_SECONDS = 0.2


def add_heat(entry: str, part: str, cache, total: int, counts: dict, taken_total: int = 0,
             taken: dict | None = None, keep: int = 1024, cap: int = 1 << 20) -> bool:
    """Add ``total`` samples (``counts`` of them by function) to the entry's part of heat
    ``part`` and take ``taken_total`` (``taken``) off it, under the part's lock (processes of
    the module add to it as they exit).  The part keeps at most ``keep`` functions, the
    hottest; past ``cap`` samples every count is halved (what is recent weighs more).  An
    empty result removes the part.  Return False when the lock was not had within
    :data:`HEAT_LOCK_SECONDS` (a process's exit does not wait longer for heat)."""
    name = entry[:-len(".o")] + "-" + part
    lock = cache.lock(name, wait=False)
    deadline = time.monotonic() + HEAT_LOCK_SECONDS
    while lock is None and cache and time.monotonic() < deadline:
        time.sleep(0.005)
        lock = cache.lock(name, wait=False)
    if lock is None:
        return False
    try:
        have, listed = parse_heat(load_part(entry, part, cache=cache))
        have = max(0, have + total - taken_total)
        for k, n in counts.items():
            listed[k] = listed.get(k, 0) + n
        for k, n in (taken or {}).items():
            if k in listed:
                listed[k] -= n
        listed = {k: n for k, n in listed.items() if n > 0}
        if len(listed) > keep:
            listed = dict(sorted(listed.items(), key=lambda c: (-c[1], c[0]))[:keep])
        while have > cap:
            have //= 2
            listed = {k: n // 2 for k, n in listed.items() if n > 1}
        have = max(have, sum(listed.values()))
        if have:
            store_part(entry, part, format_heat(have, listed), cache=cache)
        else:
            cache.discard(_part_entry(entry, part))
    finally:
        os.close(lock)
    return True


def _gc_entry(entry: str) -> str:
    # Beside the entry, not one of its parts (``mod-<key>-<part>.o``: code only).
    return "gc-" + entry[len("mod-"):]


def store_gc(entry: str, module) -> None:
    """Keep whether ``module`` uses the GC proposal beside ``entry``: a run that loads the
    entry then need not decode every function body to find out (:func:`load_gc`)."""
    cache = _cache.folder("llvm")
    if cache:
        cache.store(_gc_entry(entry), b"1" if module.uses_gc() else b"0")


def load_gc(entry: str):
    """What :func:`store_gc` kept for ``entry``: True, False, or None when unknown."""
    cache = _cache.folder("llvm")
    got = cache.load(_gc_entry(entry)) if cache else None
    return {b"1": True, b"0": False}.get(got) if got is not None else None


def _data_entry(entry: str) -> str:
    return "data-" + entry[len("mod-"):]


def store_data(entry: str, runs) -> None:
    """Keep a module's initial memory contents beside ``entry``: ``runs`` of
    ``runtime.instance.initial_data_runs`` (memory index, offset, bytes).  A run that loads
    the entry then decodes the module without its data section (:func:`load_data`)."""
    cache = _cache.folder("llvm")
    if cache and runs is not None:
        head = [_DATA_MAGIC, _LEN.pack(len(runs))]
        head.extend(_RUN.pack(k, offset, len(data)) for k, offset, data in runs)
        head.extend(bytes(data) for _, _, data in runs)
        cache.store(_data_entry(entry), b"".join(head))


def load_data(entry: str):
    """The runs :func:`store_data` kept for ``entry`` (the file mapped, each run copied out
    of it once), or None."""
    cache = _cache.folder("llvm")
    raw = cache.load(_data_entry(entry), mapped=True) if cache else None
    if raw is None or bytes(raw[:len(_DATA_MAGIC)]) != _DATA_MAGIC:
        return None
    try:
        (count,) = _LEN.unpack_from(raw, len(_DATA_MAGIC))
        pos = len(_DATA_MAGIC) + _LEN.size
        at = pos + count * _RUN.size
        runs = []
        for k, offset, n in _RUN.iter_unpack(raw[pos:at]):
            runs.append((k, offset, bytes(raw[at:at + n])))
            at += n
    except struct.error:
        return None
    return runs if at == len(raw) else None
