"""Every non-SIMD numeric instruction of WebAssembly 2.0 by its text name.

``IMPL["i32.add"](a, b)`` applies the instruction to operands in stack order (the first
pushed first) in the value model of :mod:`wasmforge.numerics.bits` and returns the result.
Used for constant folding, differential tests, and by the interp tier for the operations it
does not inline.
"""

from __future__ import annotations

import re

from ..opcodes import OPS
from . import conversions, floats, ints

_MODULES = (ints, floats, conversions)


def _lookup(name: str):
    fname = name.replace(".", "_")
    # One implementation serves both float widths of a truncation: i32.trunc_f64_s -> i32_trunc_f_s.
    fname = re.sub(r"trunc(_sat)?_f(32|64)", r"trunc\1_f", fname)
    for mod in _MODULES:
        fn = getattr(mod, fname, None)
        if fn is not None:
            return fn
    return None


IMPL: dict = {}
for _op in OPS:
    if _op.prefix != 0xFD and _op.params is not None and _op.imm == "-":
        _fn = _lookup(_op.name)
        if _fn is not None:
            IMPL[_op.name] = _fn

__all__ = ["IMPL"]
