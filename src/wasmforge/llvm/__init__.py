"""The llvm execution tier: each wasm function lowered to LLVM IR, optimised (O2) and compiled
to machine code with llvmlite, run through ctypes.

``compile_module(module)`` makes an immutable :class:`CompiledModule` (one LLVM module, one
MCJIT engine) shared by all instances; ``compiled.instantiate(inst)`` returns one callable per
defined function, with the calling convention of the interp tier (see
``docs/architecture.md``, "llvm tier").

Importing this package fails with ImportError when llvmlite is missing.
"""

import importlib.util


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

from .compiler import CompiledModule, compile_module  # noqa: E402
from .codegen import UnsupportedError  # noqa: E402

__all__ = ["CompiledModule", "compile_module", "UnsupportedError"]
