"""Evaluating constant expressions (spec 4.4.10), for both execution tiers.

Global initialisers, segment offsets and element items are evaluated once per instance, at
instantiation (``runtime/instance.py``); the llvm tier instantiates through the same code, so
this is the only evaluator.  The instructions allowed are 2.0's (``t.const``, ``ref.null``,
``ref.func``, ``global.get``) and the extended-const proposal's integer ``add``/``sub``/``mul``
(``opcodes.EXTENDED_CONST``), which wrap like their function-body counterparts.

Expressions are validated first (``valid/validate.py``), so operands are always there and of
the right type; an instruction that is not constant is an internal error, not a trap.
"""

from __future__ import annotations

from typing import Sequence

from .. import opcodes
from ..errors import WasmError
from ..numerics.bits import MASK32, MASK64, f32_from_bits, f64_from_bits

_I32_CONST = opcodes.op("i32.const")
_I64_CONST = opcodes.op("i64.const")
_F32_CONST = opcodes.op("f32.const")
_F64_CONST = opcodes.op("f64.const")
_V128_CONST = opcodes.op("v128.const")
_REF_NULL = opcodes.op("ref.null")
_REF_FUNC = opcodes.op("ref.func")
_GLOBAL_GET = opcodes.op("global.get")
_END = opcodes.END

# Integers are held unsigned (internal form), so the result is masked to the width.
_BINARY = {
    opcodes.op("i32.add"): (lambda a, b: a + b, MASK32),
    opcodes.op("i32.sub"): (lambda a, b: a - b, MASK32),
    opcodes.op("i32.mul"): (lambda a, b: a * b, MASK32),
    opcodes.op("i64.add"): (lambda a, b: a + b, MASK64),
    opcodes.op("i64.sub"): (lambda a, b: a - b, MASK64),
    opcodes.op("i64.mul"): (lambda a, b: a * b, MASK64),
}
assert set(_BINARY) == opcodes.EXTENDED_CONST


def eval_const(expr, globals: Sequence, funcs: Sequence):
    """Evaluate a validated constant expression to its value (internal form).

    ``globals`` and ``funcs`` are the index spaces visible to it (spec 4.5.4: the imported
    globals and all functions of the instance being created)."""
    stack = []
    push = stack.append
    for instr in expr:
        op = instr[0]
        if op is _END:
            break
        if op is _I32_CONST:
            push(instr[1] & MASK32)
        elif op is _I64_CONST:
            push(instr[1] & MASK64)
        elif op is _F32_CONST:
            push(f32_from_bits(instr[1]))
        elif op is _F64_CONST:
            push(f64_from_bits(instr[1]))
        elif op is _V128_CONST:
            push(instr[1])
        elif op is _REF_NULL:
            push(None)
        elif op is _REF_FUNC:
            push(funcs[instr[1]])
        elif op is _GLOBAL_GET:
            push(globals[instr[1]].value)
        else:
            binary = _BINARY.get(op)
            if binary is None:
                raise WasmError(f"{op.name} is not allowed in a constant expression")
            fn, mask = binary
            b = stack.pop()
            stack[-1] = fn(stack[-1], b) & mask
    return stack[-1] if stack else None


def uses_extended_const(expr) -> bool:
    """Whether a constant expression uses an instruction of the extended-const proposal."""
    ext = opcodes.EXTENDED_CONST
    return any(instr[0] in ext for instr in expr)


__all__ = ["eval_const", "uses_extended_const"]
