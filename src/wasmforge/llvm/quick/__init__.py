"""The quick compiler: a validated module straight to x86-64 machine code, without LLVM.

Baseline code for a first run (llvm/compiler.py, "Baseline first"): one pass over each
function body (llvm/quick/translate.py), the whole module linked into an image our loader
maps (llvm/quick/assemble.py), drop-in for LLVM's baseline object (same symbols, vmctx,
callbacks, traps, shadow stack and calls through the function table, so the optimised
recompile swaps in the same way); for a lazily compiled module, the entries and each batch
as images of their own (:func:`lazy_translator`).  A module using what it does not compile (see
:class:`ModuleTranslator`) raises :class:`Refused`; the caller then uses LLVM's baseline.
``WASMFORGE_LLVM_QUICK=1``/``0`` forces it on/off.  A big module's whole image is translated
by two processes where a CPU is idle (assemble.py, ``ModuleTranslator.compile``: the same
bytes); ``WASMFORGE_LLVM_QUICK_JOBS=1`` keeps it to this one.
"""

from __future__ import annotations

import os

from .. import loader
from .scope import Refused, cpu_supported

#: Whether the quick compiler makes baseline code when nothing forces either way.
DEFAULT = True


def wanted() -> bool:
    """Whether baseline code comes from the quick compiler (``WASMFORGE_LLVM_QUICK``)."""
    forced = os.environ.get("WASMFORGE_LLVM_QUICK", "").lower()
    if forced in ("1", "on", "yes"):
        return loader.supported()
    if forced in ("0", "off", "no"):
        return False
    return DEFAULT and loader.supported()


def compile_image(mc) -> bytes:
    """The linked image of the whole module of ``mc`` (a codegen.ModuleCompiler); raises
    :class:`Refused` for a module it does not compile."""
    # Imported here: the translator's tables are built by a process that compiles, not by
    # every warm run (the module cache key asks wanted(), compiler.py imports this package).
    from .assemble import ModuleTranslator
    return ModuleTranslator(mc).compile()


def takes_whole(mc) -> bool:
    """Whether the quick compiler makes the eager baseline code of ``mc``'s module (a
    codegen.ModuleCompiler), told without translating it: its module-level checks pass, the
    module makes no tail call (an eagerly compiled module is under tailcc only when a body
    makes one, which quick code does not), no function has a local of a type it does not
    compile (``v128``) and every instruction has a translation (a SIMD instruction on the
    operand stack alone refuses too; one pass over the bodies, decoded already below the
    lazy-compilation threshold).  Only a ``v128`` block around no SIMD instruction still
    refuses later (LLVM's baseline code then)."""
    if not wanted() or mc.cc != "fastcc":
        return False
    from .assemble import ModuleTranslator  # (see compile_image)
    from .translate import HANDLERS, VALUE_TYPES  # (see compile_image)
    try:
        ModuleTranslator(mc)
    except Refused:
        return False
    module = mc.module
    return (all(VALUE_TYPES.issuperset(f.locals) for f in module.funcs)
            and all(o in HANDLERS for o in module.ops_used()))


def lazy_translator(mc):
    """The translator of ``mc``'s lazily compiled module (a codegen.ModuleCompiler): its
    ``compile_entries()`` and ``compile_batch(batch)`` make the images of the parts LLVM's
    ``compile_entries``/``compile_batch`` would (llvm/compiler.py); raises :class:`Refused`
    for a module it does not compile (a batch may still refuse a function it holds)."""
    from .assemble import ModuleTranslator  # (see compile_image)
    return ModuleTranslator(mc, lazy=True)


__all__ = ["DEFAULT", "Refused", "compile_image", "cpu_supported", "lazy_translator", "takes_whole",
           "wanted"]
