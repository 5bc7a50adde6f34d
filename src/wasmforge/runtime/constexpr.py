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
from . import gc

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


def eval_const(expr, globals: Sequence, funcs: Sequence, module=None):
    """Evaluate a validated constant expression to its value (internal form).

    ``globals`` and ``funcs`` are the index spaces visible to it (spec 4.5.4: the imported
    globals and all functions of the instance being created); ``module`` (the decoded
    module) gives the GC proposal's allocating instructions their types."""
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
        elif op.feature == "gc":
            _eval_gc(instr, stack, module)
        else:
            binary = _BINARY.get(op)
            if binary is None:
                raise WasmError(f"{op.name} is not allowed in a constant expression")
            fn, mask = binary
            b = stack.pop()
            stack[-1] = fn(stack[-1], b) & mask
    return stack[-1] if stack else None


def _eval_gc(instr, stack: list, module) -> None:
    """The GC proposal's constant instructions (spec 3.0: struct.new*, array.new*, ref.i31,
    any.convert_extern, extern.convert_any), allocating a new object each time."""
    name = instr[0].name
    if name == "ref.i31":
        stack[-1] = gc.I31(stack[-1] & 0x7FFFFFFF)
        return
    if name == "any.convert_extern":
        stack[-1] = gc.any_convert_extern(stack[-1])
        return
    if name == "extern.convert_any":
        stack[-1] = gc.extern_convert_any(stack[-1])
        return
    if module is None:
        raise WasmError(f"{name} needs the module's types")
    x = instr[1]
    ct = module.types[x]
    heap = module.close_types()[1][x]
    if name == "struct.new":
        n = len(ct.fields)
        vals = [gc.pack(f.storage, v) for f, v in zip(ct.fields, stack[len(stack) - n:])]
        del stack[len(stack) - n:]
        stack.append(gc.Struct(heap, vals))
    elif name == "struct.new_default":
        stack.append(gc.Struct(heap, [gc.default_of(f.storage) for f in ct.fields]))
    elif name == "array.new":
        n = stack.pop()
        stack[-1] = gc.array_new(heap, gc.pack(ct.field.storage, stack[-1]), n)
    elif name == "array.new_default":
        stack[-1] = gc.array_new(heap, gc.default_of(ct.field.storage), stack[-1])
    elif name == "array.new_fixed":
        n = instr[2]
        vals = [gc.pack(ct.field.storage, v) for v in stack[len(stack) - n:]]
        del stack[len(stack) - n:]
        stack.append(gc.Array(heap, vals))
    else:
        raise WasmError(f"{name} is not allowed in a constant expression")


def uses_extended_const(expr) -> bool:
    """Whether a constant expression uses an instruction of the extended-const proposal."""
    ext = opcodes.EXTENDED_CONST
    return any(instr[0] in ext for instr in expr)


__all__ = ["eval_const", "uses_extended_const"]
