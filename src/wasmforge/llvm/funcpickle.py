"""The pickling of a decoded module for the background recompile of baseline code
(llvm/compiler.py ``CompiledModule._spawn_recompile`` and ``recompile_main``): each function
with its body decoded, since a raw body is a view of the binary, which does not pickle.

A module of its own so that a warm run, which recompiles nothing until it has computed for a
while, does not import ``pickle`` with llvm/compiler.py (start-up time, docs/performance.md).
"""

from __future__ import annotations

import pickle

from ..module import Func

HIGHEST_PROTOCOL = pickle.HIGHEST_PROTOCOL


class FuncPickler(pickle.Pickler):
    """Pickles a decoded module for ``recompile_main``: each function with its body decoded."""

    def persistent_id(self, obj):
        if type(obj) is Func:
            return (obj.typeidx, obj.locals, list(obj.iter_body()))
        return None


class FuncUnpickler(pickle.Unpickler):
    """Reads what :class:`FuncPickler` wrote."""

    def persistent_load(self, pid):
        typeidx, locals_, body = pid
        return Func(typeidx, locals_, body)
