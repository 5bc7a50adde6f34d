"""The llvm execution tier: each wasm function lowered to LLVM IR, optimised (O2) and compiled
to machine code with llvmlite, run through ctypes.

``compile_module(module)`` makes an immutable :class:`CompiledModule` (one LLVM module, one
MCJIT engine) shared by all instances; ``compiled.instantiate(inst)`` returns one callable per
defined function, with the calling convention of the interp tier (see
``docs/architecture.md``, "llvm tier").

Importing this package fails with ImportError when llvmlite is missing.
"""

import importlib.util
from typing import TYPE_CHECKING, Any, List


def llvmlite_installed() -> bool:
    """Whether llvmlite is installed, found without importing it: importing costs 100+ ms,
    and a warm run or an artifact never needs it (llvm/loader.py)."""
    try:
        return importlib.util.find_spec("llvmlite") is not None
    except (ImportError, ValueError):
        return False


# llvmlite itself is imported only when something is compiled (llvm/jit.py); a missing one
# is still found here, so that asking for this tier fails at once.
if not llvmlite_installed():
    raise ImportError("No module named 'llvmlite'", name="llvmlite")

from ..binary.decode import decode_module  # noqa: E402
from ..errors import WasmError  # noqa: E402
from ..runtime.instance import initial_data_runs  # noqa: E402
from . import jit, modcache  # noqa: E402
from .compiler import CompiledModule, compile_module  # noqa: E402
from .instance import snapshot_refusal  # noqa: E402
from .sampling import stack_sampler  # noqa: E402

if TYPE_CHECKING:       # what __getattr__ gives, for type checkers
    from .codegen import UnsupportedError


def __getattr__(name: str) -> Any:
    # The IR generator (llvm/codegen.py) loads with the first compile: a warm run, which maps
    # cached machine code, generates no IR and does not import it.
    if name == "UnsupportedError":
        from .codegen import UnsupportedError  # start-up speed: only a compile needs it
        return UnsupportedError
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> List[str]:
    return sorted({*globals(), "UnsupportedError"})


# ----- the tier contract (runtime/tier.py) beyond compile_module -----

#: Native code keeps views of tables, told of every write (runtime/table.py TableElements).
NATIVE_TABLE_VIEWS = True


def artifact_header(opt_level: int | None) -> dict:
    """What this tier's machine code depends on: llvmlite and LLVM versions, the
    optimisation level, the host CPU and its features (llvm/jit.py)."""
    return jit.host_description(jit.DEFAULT_OPT_LEVEL if opt_level is None else opt_level)


def from_artifact(module, object_code: bytes, entry_of: list, fuel: bool, epoch: bool,
                  opt_level: int | None, key: bytes | None = None) -> CompiledModule:
    """The compiled module of an artifact's machine code: mapped by our loader, no llvmlite.
    ``key``: the artifact's checksum (what the loader keeps of the code is kept under it)."""
    return CompiledModule.from_object(module, object_code, entry_of, fuel, epoch, opt_level,
                                      key=key)


def link_object(object_code: bytes) -> bytes:
    """The machine code as an artifact stores it: linked ahead of time into an image by our
    loader where it runs (llvm/loader.py ``link``), else the object file itself;
    :func:`from_artifact` takes either."""
    return jit.linked(object_code)


def cached_module(wasm: bytes, fuel: bool, epoch: bool, opt_level: int | None, features, decoded=None):
    """The module cache (llvm/modcache.py) for binary ``wasm`` with these settings:
    ``(key, decoded module, compiled module)``.  On a hit the binary is decoded again (unless
    the caller has it ``decoded`` already: a component's core module) but not validated and
    its machine code is mapped by our loader, without llvmlite; on a miss the last two are
    None and :func:`compile_cached` fills the entry ``key``; ``key`` is None when the cache
    is off."""
    key = modcache.key(wasm, fuel, epoch, opt_level, features)
    if key is None:
        return None, None, None
    hit = modcache.load(key)
    if hit is None:
        return key, None, None
    head, obj = hit
    if decoded is not None:
        data = decoded
    else:
        # Bodies raw (decoded on use: a lazily compiled module's batches come from the cache,
        # a whole module's code needs none of them; a module of 1 MB of code decoded every
        # body on every warm run); the data segments not read when the initial memory is
        # kept beside the entry (modcache.load_data).
        if head.get("lazy"):
            # (its optimised batches read and authenticated while the binary is decoded)
            from . import lazytier  # start-up speed: what the pack needs, on a lazy hit only
            lazytier.prefetch_pack(key)
        runs = modcache.load_data(key)
        data = decode_module(wasm, features=features, lazy=True, skip_data=runs is not None)
        if runs is not None:
            data.known_data_runs = runs
    facts = head.get("facts")
    if isinstance(facts, dict):
        for name, value in facts.items():
            if name in modcache.MODULE_FACTS:
                data.__dict__.setdefault(name, bool(value))
    gc = modcache.load_gc(key)
    if gc is not None:
        data.known_gc = gc             # (found by the run that compiled it: no body decoded)
    try:
        if head.get("lazy"):
            # Compiled lazily: the entries and each batch are cached parts of the entry.
            code = compile_module(data, fuel=fuel, epoch=epoch, lazy=True, opt_level=opt_level,
                                  cache_key=key)
        else:
            code = CompiledModule.from_object(data, obj, head["entry_of"], fuel, epoch, opt_level,
                                              key if head.get("baseline") else None,
                                              quick=bool(head.get("quick")))
    except WasmError:
        return key, None, None      # an entry that does not fit (cannot happen unless edited)
    return key, data, code


def compile_cached(module, key: str, fuel: bool, epoch: bool,
                   opt_level: int | None) -> CompiledModule:
    """Compile ``module`` and keep its code as module cache entry ``key``, so that a later
    :func:`cached_module` of the same binary loads it (a lazily compiled module: each part
    as it is compiled)."""
    code = compile_module(module, fuel=fuel, epoch=epoch, opt_level=opt_level, cache_key=key)
    code.cache_store(key)
    modcache.store_gc(key, module)
    modcache.store_data(key, initial_data_runs(module))
    return code


__all__ = ["CompiledModule", "compile_module", "UnsupportedError", "NATIVE_TABLE_VIEWS",
           "artifact_header", "from_artifact", "link_object", "cached_module", "compile_cached",
           "stack_sampler", "snapshot_refusal"]
