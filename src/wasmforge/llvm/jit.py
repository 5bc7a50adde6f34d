"""LLVM setup, the optimisation pipeline and the object cache: IR text in, machine code (an
MCJIT engine) out.

Object cache: the machine code of each IR module is kept in the ``llvm`` folder of
:mod:`wasmforge._cache` (default ``~/.cache/wasmforge/llvm/<key>.o``), the key being a
SHA-256 of the IR text, the LLVM and llvmlite versions, the host CPU name and features and
the optimisation level.  On a hit the IR is parsed but neither optimised nor compiled: MCJIT
loads the object.  ``WASMFORGE_CACHE=off`` disables the cache; cache failures are ignored (it
is an optimisation only).

The object is native code this process will run, so the cache module guards it: a private
folder, entries authenticated with an HMAC under the user's secret key (a missing, truncated,
forged or foreign entry is deleted and compiled again), atomic writes, and the folder kept
under ``WASMFORGE_CACHE_MAX_MB`` megabytes (default 512) by least-recently-used eviction.

llvmlite is imported on first need only: a warm run (the module cache, ``llvm/cache.py``) and
an ahead-of-time artifact load their object code with our own loader (``llvm/loader.py``) and
take the host description from the cache (:func:`host_description`), so they never import it.
"""

from __future__ import annotations

import ctypes
import hashlib
import importlib.util
import json
import os
import threading

from .. import _cache
from . import copies, loader, unwind
from .prelude import TAIL_CC

# llvmlite and llvmlite.binding, set by _init() (importing them costs 100+ ms).
llvmlite = None
llvm = None

_lock = threading.Lock()
_ready = False


def _new_lock_after_fork() -> None:
    # The optimising recompile runs in a forked child (compiler.py), which has only the
    # forking thread: a lock another thread held at the fork would never be released there.
    global _lock
    _lock = threading.Lock()


os.register_at_fork(after_in_child=_new_lock_after_fork)

# O2 through the new pass manager (llvmlite >= 0.44) unless the engine's Config.opt_level or
# the environment (WASMFORGE_LLVM_OPT=0..3) says otherwise.
DEFAULT_OPT_LEVEL = int(os.environ.get("WASMFORGE_LLVM_OPT", "2"))

# The baseline level of a first compile (llvm/compiler.py, "Baseline first"): only SROA (the
# IR keeps wasm locals in allocas) and CFG simplification, then LLVM's fast instruction
# selection and register allocation (codegen at O0).  About 9x cheaper than O2 on the corpus,
# for code a few times slower; the optimised recompile replaces it.
BASELINE = -1

# The blocks from which CodeGenPrepare treats a function as huge (see _init).
HUGE_FUNC_BLOCKS = 2000


def _init() -> None:
    global _ready, llvm, llvmlite
    with _lock:
        if _ready:
            return
        try:
            import llvmlite as _llvmlite  # 100+ ms: only when something is compiled
            import llvmlite.binding as _binding  # (idem)
        except (ImportError, OSError) as exc:
            # Installed (Engine found it) but not loadable, say without its libLLVM.
            from ..errors import WasmError
            raise WasmError(f"the llvm execution tier is not available ({exc}); "
                            f"use strategy 'interp'") from None
        llvmlite, llvm = _llvmlite, _binding
        llvm.initialize_native_target()
        llvm.initialize_native_asmprinter()
        # The call labels are inline assembly (prelude.call_label): without the parser,
        # LLVM aborts the process on them.
        llvm.initialize_native_asmparser()
        # CodeGenPrepare revisits every block of a function until nothing changes, and for
        # each unsigned compare walks all users of its operand (combineToUSubWithOverflow):
        # quadratic in a function whose bounds checks all compare with one memory size.
        # From this many blocks on it works through a list of the blocks it changed instead
        # (LLVM's own switch for huge functions, default 10,000): QuickJS's JS_CallInternal
        # (7,452 blocks at O2) took 12.5 s of code generation, 4.2 s with it, for code of the
        # same size (292,712 bytes of object).
        llvm.set_option("", f"-cgpp-huge-func={HUGE_FUNC_BLOCKS}")
        # The entry trampolines and the trap helper call libc's _setjmp/longjmp; resolve them
        # explicitly instead of relying on the JIT's process-wide symbol search.
        libc = ctypes.CDLL(None)
        for name in ("_setjmp", "longjmp"):
            llvm.add_symbol(name, ctypes.cast(getattr(libc, name), ctypes.c_void_p).value)
        _ready = True


def _target_machine(opt_level: int = DEFAULT_OPT_LEVEL):
    # A fresh one each time: an MCJIT engine takes ownership of its target machine.
    target = llvm.Target.from_default_triple()
    return target.create_target_machine(cpu=llvm.get_host_cpu_name(),
                                        features=llvm.get_host_cpu_features().flatten(),
                                        opt=max(0, min(opt_level, 3)), jit=True)


def _llvm_host() -> dict:
    """llvmlite's own description of the compiler and the host (imports llvmlite)."""
    _init()
    return {"llvmlite": llvmlite.__version__,
            "llvm": ".".join(map(str, llvm.llvm_version_info)),
            "cpu": llvm.get_host_cpu_name(),
            "cpu_features": llvm.get_host_cpu_features().flatten()}


_host = None
# The /proc/cpuinfo fields that identify the CPU (not its clock, which changes all the time).
_CPU_FIELDS = ("vendor_id", "cpu family", "model", "model name", "stepping", "microcode", "flags")


def _fingerprint() -> str:
    """A cheap stand-in for :func:`_llvm_host` that needs no llvmlite: the installed
    llvmlite's files (path, size and time of its native library) and the CPU as the kernel
    describes it.  When either changes, the description is asked of llvmlite again."""
    h = hashlib.sha256(b"wasmforge-host-v1\0")
    spec = importlib.util.find_spec("llvmlite")
    if spec is None or not spec.origin:
        raise ImportError("llvmlite is not installed")
    lib = os.path.join(os.path.dirname(spec.origin), "binding", "libllvmlite.so")
    st = os.stat(lib if os.path.exists(lib) else spec.origin)
    h.update(f"{spec.origin}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_ino}\0".encode())
    with open("/proc/cpuinfo", "rb") as fh:
        lines = {ln.strip() for ln in fh.read().split(b"\n")
                 if ln.split(b":")[0].strip().decode("latin-1") in _CPU_FIELDS}
    for ln in sorted(lines):
        h.update(ln + b"\n")
    return h.hexdigest()


def host_description(opt_level: int = DEFAULT_OPT_LEVEL) -> dict:
    """What the machine code depends on besides the IR: the compiler (llvmlite and LLVM
    versions), the host CPU name and features, and the optimisation level.  Keys the object
    cache, the module cache and the header of ahead-of-time artifacts (api/aot.py).

    Asking llvmlite means importing it (100+ ms), so the answer is kept in the cache folder
    (authenticated like any entry) under a :func:`_fingerprint` of the llvmlite install and
    the CPU: warm runs and artifacts read it from there."""
    global _host
    if _host is None:
        host = None
        cache = _cache.folder("llvm") if os.path.exists("/proc/cpuinfo") else None
        entry = None
        if cache:
            try:
                entry = "host-" + _fingerprint() + ".json"
            except (ImportError, OSError):
                entry = None
        if entry:
            raw = cache.load(entry)
            if raw is not None:
                try:
                    host = json.loads(raw)
                except ValueError:
                    host = None
        if not isinstance(host, dict):
            host = _llvm_host()
            if entry:
                cache.store(entry, json.dumps(host, sort_keys=True).encode())
        _host = host
    return dict(_host, opt_level=opt_level)


def host_key(opt_level: int = DEFAULT_OPT_LEVEL) -> str:
    """What machine code made on this host depends on, as :func:`host_description`, but
    without importing llvmlite even on an empty cache: the fingerprint of the llvmlite
    install and of the CPU (:func:`_fingerprint`, from which the description follows) and
    the optimisation level.  Keys the module cache (llvm/modcache.py)."""
    return f"{_fingerprint()}:{opt_level}"


def _cache_name(text: str, opt_level: int) -> str:
    """The cache entry of the object code of ``text`` at ``opt_level`` on this host."""
    h = hashlib.sha256()
    for part in (llvmlite.__version__, str(llvm.llvm_version_info), llvm.get_host_cpu_name(),
                 llvm.get_host_cpu_features().flatten(), str(opt_level)):
        h.update(part.encode() + b"\0")
    h.update(text.encode())
    return h.hexdigest() + ".o"


def max_cache_bytes() -> int:
    """The size bound of the cache folder (``WASMFORGE_CACHE_MAX_MB``, default 512)."""
    return _cache.max_bytes()


def compile_ir(text: str, name: str = "wasm", opt_level: int = DEFAULT_OPT_LEVEL, load: bool = True):
    """Parse, verify, optimise and compile one IR module (or load its machine code from the
    cache); return its execution engine (keep it alive as long as any code from it may run),
    the LLVM module and the object code (bytes, what :func:`load_object` takes).  With
    ``load=False`` (a process that only passes the object on) the engine may be None."""
    _init()
    # llvmlite is loaded now: leave the host description in the cache folder (once per
    # process; the module cache keys by host_key and never asks for it), so that a later
    # process loading an artifact, whose header names the host, needs no llvmlite.
    host_description()
    # Baseline code is kept by the module cache only (until its optimised code replaces it).
    cache = _cache.folder("llvm") if opt_level != BASELINE else None
    entry = _cache_name(text, opt_level) if cache else None
    cached = cache.load(entry) if cache else None
    mod = llvm.parse_assembly(text)
    mod.name = name
    if cached is None:
        mod.verify()
        if opt_level == BASELINE:
            tm = _target_machine(0)
            pb = llvm.create_pass_builder(tm, llvm.create_pipeline_tuning_options(speed_level=0))
            pm = llvm.create_new_module_pass_manager()
            pm.add_sroa_pass()
            # SimplifyCFG merges a function's returns into one block, which leaves a tail
            # call (prelude.tail_kind) followed by a branch, no longer in tail position: an
            # ordinary call at -O0, where no CodeGenPrepare duplicates the return back.
            if f"tail call {TAIL_CC}" not in text:
                pm.add_simplify_cfg_pass()
            pm.run(mod, pb)
        elif opt_level > 0:
            tm = _target_machine(opt_level)
            pto = llvm.create_pipeline_tuning_options(speed_level=opt_level)
            pb = llvm.create_pass_builder(tm, pto)
            pb.getModulePassManager().run(mod, pb)
    engine = llvm.create_mcjit_compiler(mod, _target_machine(opt_level))

    emitted = [cached]

    def notify(module, data):
        if cached is None:
            emitted[0] = bytes(data)

    def getbuffer(module):
        return cached

    engine.set_object_cache(notify, getbuffer)
    engine.finalize_object()
    if cached is None:
        # Each inlined copy's shadow-stack entry names its call (llvm/copies.py): four
        # bytes of the object changed, so the code is loaded from the object.
        tagged = copies.tag_object(emitted[0], text) \
            if opt_level > 0 and emitted[0] is not None else None
        if tagged is not None:
            emitted[0] = tagged
            engine = load_object(tagged) if load else None
        if cache and emitted[0] is not None:
            cache.store(entry, emitted[0])
    if os.environ.get("WASMFORGE_LLVM_LOADER", "").lower() == "always" and use_loader():
        # Testing aid: run freshly compiled code through our loader too, as a warm run would
        # (the whole spec suite passes this way); MCJIT's copy is dropped.
        # (through a linked image, as a warm run and an artifact load theirs)
        return loader.load(linked(emitted[0])), mod, emitted[0]
    return engine, mod, emitted[0]


def use_loader() -> bool:
    """Whether object code is loaded by our loader (Linux x86-64; ``WASMFORGE_LLVM_LOADER=0``
    sends it through LLVM's JIT instead, and ``=always`` loads even freshly compiled code with
    ours: debugging and testing aids)."""
    return loader.supported() and os.environ.get("WASMFORGE_LLVM_LOADER", "1").lower() \
        not in ("0", "off", "no")


def load_object(data: bytes, key: bytes | None = None):
    """The code of the object file ``data`` (from :func:`compile_ir`, made on a host with the
    same :func:`host_description`), loaded and relocated: by our own loader (no llvmlite)
    where it can, else by an MCJIT engine.  Either way the result has
    ``get_function_address``/``get_global_value_address`` and must be kept alive as long as
    its code may run.  ``key``: a digest of ``data``'s content (loader.load)."""
    if loader.is_image(data):
        return loader.load(data, key)   # linked ahead of time: only our loader loads it
    if use_loader():
        try:
            return loader.load(data)
        except loader.LoaderError:
            pass                # something our loader does not handle: LLVM's JIT does
    _init()
    engine = llvm.create_mcjit_compiler(llvm.parse_assembly(""), _target_machine())
    engine.add_object_file(llvm.ObjectFileRef.from_data(bytes(data)))
    engine.finalize_object()
    return engine


def load_group(images: list) -> list:
    """The linked images ``images`` loaded by our loader into one mapping
    (:func:`loader.load_group`): per image what :func:`load_object` gives, or None for one
    to be loaded alone (every one where our loader does not run)."""
    if not images or not loader.supported():
        return [None] * len(images)
    return loader.load_group(images)


def linked(data: bytes) -> bytes:
    """The object file ``data`` as an artifact or the module cache keeps it: linked ahead of
    time into an image (:func:`loader.link`, loaded with a few patches) where our loader is
    used, else (or when it cannot be linked) the object file itself."""
    if use_loader():
        try:
            layout: dict = {}
            image = loader.link(data, layout)
        except loader.LoaderError:
            pass
        else:
            # The image has neither the call frame information nor the debug information of
            # the object: its trailer keeps what a trap's backtrace needs of them
            # (llvm/unwind.py).
            return loader.with_trailer(image, unwind.image_map(data, layout)) if layout else image
    return data


def optimized_ir(text: str) -> str:
    """The optimised IR of ``text`` (a debugging aid: ``WASMFORGE_LLVM_DUMP``)."""
    _init()
    mod = llvm.parse_assembly(text)
    tm = _target_machine()
    pb = llvm.create_pass_builder(tm, llvm.create_pipeline_tuning_options(speed_level=max(DEFAULT_OPT_LEVEL, 1)))
    pb.getModulePassManager().run(mod, pb)
    return str(mod)
