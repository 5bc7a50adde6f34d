"""The execution limits every tier implements the same way: fuel, epoch checks, stack depth.

These rules are defined on the WebAssembly instruction stream, not on any tier's translation,
so a program consumes exactly the same fuel, and is interrupted at the same kind of point, on
every tier (see docs/security.md).

**Fuel.**  Each executed instruction costs 1 unit, except the structural instructions that do
no work: ``nop``, ``drop``, ``block``, ``loop``, ``else`` and ``end`` cost 0.  Fuel is charged
per *segment*, in advance: a function body is cut into segments after every ``loop``, ``if``,
``else``, ``end``, ``br_if``, ``br_on_null`` and ``br_on_non_null`` (the points where control may arrive other than by falling
through, and the fall-through of a conditional branch); a segment's cost is the cost of its
instructions up to the first unconditional transfer (``br``, ``br_table``, ``return``, the
tail calls ``return_call``/``return_call_indirect``/``return_call_ref``,
``unreachable``), after which the rest of the segment is dead code.  When control enters a
segment of cost *c*, the store's fuel drops by *c*; if it is then below zero the call traps
with ``TrapCode.OUT_OF_FUEL`` before any instruction of the segment runs.  So a run that
completes consumes exactly the number of costed instructions it executed, and a run given
less fuel traps at the first segment it cannot pay for in full.

The bulk table instructions cost **1 + n**: the 1 above, in their segment, and *n* more
(:data:`BULK_TABLE`), charged when they execute, after their bounds check and before they
write: the delta of a ``table.grow`` that succeeds (0 when it returns -1), the length
operand of ``table.fill``, ``table.copy`` and ``table.init``.  If the fuel is then below
zero the instruction traps with ``OUT_OF_FUEL`` and the table is unchanged, so work
proportional to a table's size is paid for like the instructions a loop would need.

The GC proposal's array instructions likewise cost **1 + n** (:data:`BULK_ARRAY`), *n* the
elements they allocate or write: the length of ``array.new``, ``array.new_default``,
``array.new_data`` and ``array.new_elem``, the count of ``array.new_fixed``, the length
operand of ``array.fill``, ``array.copy``, ``array.init_data`` and ``array.init_elem``;
charged after the instruction's checks (null, bounds, size limit) and before it allocates or
writes, so an allocation bomb runs out of fuel like the loop that would fill the array.

**Epochs.**  The epoch deadline is checked on entry to every function and at every loop
header (each iteration of a ``loop``, before its segment is charged), so code that runs
forever — which must loop or recurse — sees a check within a bounded number of instructions.

**Stack.**  Every active wasm frame takes :func:`frame_bytes` of the store's
``max_wasm_stack`` budget: :data:`FRAME_BYTES` plus 8 bytes per parameter and local, whatever
its type.  A call that would exceed the budget traps with ``TrapCode.STACK_OVERFLOW``.  So at
most ``max_wasm_stack // FRAME_BYTES`` frames nest (16384 by default), and functions with big
frames nest less deeply, as their real frames would on a native stack.
"""

from __future__ import annotations

import sys

#: Instructions that cost no fuel (exception handling: the block-like ``try_table``/``try``
#: and the arm markers ``catch``/``catch_all``/``delegate``, like ``block``/``else``/``end``).
FUEL_FREE = frozenset({"nop", "drop", "block", "loop", "else", "end",
                       "try_table", "try", "catch", "catch_all", "delegate"})

#: A new segment starts after each of these (a legacy ``catch`` arm is entered from a throw).
SEGMENT_END = frozenset({"loop", "if", "else", "end", "br_if", "br_on_null", "br_on_non_null",
                         "catch", "catch_all", "delegate", "br_on_cast", "br_on_cast_fail"})

#: After these, the rest of the segment is never executed.
UNCONDITIONAL = frozenset({"br", "br_table", "return", "unreachable",
                           "return_call", "return_call_indirect", "return_call_ref",
                           "throw", "throw_ref", "rethrow"})

#: Instructions that also cost the number of table elements they write (see above); each
#: tier charges it in its implementation of the instruction.
BULK_TABLE = frozenset({"table.grow", "table.fill", "table.copy", "table.init"})
#: The GC array instructions that also cost the elements they allocate or write (see above).
BULK_ARRAY = frozenset({"array.new", "array.new_default", "array.new_fixed", "array.new_data",
                        "array.new_elem", "array.fill", "array.copy", "array.init_data",
                        "array.init_elem"})

#: The nominal size of one wasm frame in the ``max_wasm_stack`` accounting.
FRAME_BYTES = 64

#: The default ``Config.max_wasm_stack`` (1 MiB: 16384 nested wasm calls).  Under Emscripten
#: (Pyodide) 256 KiB (4096): there each nested call of the interp tier is a Python frame on
#: the JavaScript engine's stack, which overflows (a fatal error for Pyodide, not a
#: RecursionError) between 7,000 and 8,000 Python frames under node 20 (docs/pyodide.md).
DEFAULT_MAX_WASM_STACK = 1 << 18 if sys.platform == "emscripten" else 1 << 20


def frame_bytes(nlocals: int) -> int:
    """The stack budget one frame of a function with ``nlocals`` parameters and locals takes."""
    return FRAME_BYTES + 8 * nlocals


def max_call_depth(max_wasm_stack: int) -> int:
    """The number of nested wasm frames a stack budget of ``max_wasm_stack`` bytes allows."""
    return max(1, max_wasm_stack // FRAME_BYTES)


def meter_points(body, fuel: bool, epoch: bool) -> dict:
    """Where a function body is metered: ``{instruction index: (check_epoch, fuel_cost)}``
    for every segment start that needs code (a non-zero cost, or an epoch check at function
    entry, index 0, and after each ``loop``).  Segments in dead code appear too; they are
    never entered."""
    points = {}
    start, cost, dead = 0, 0, False
    epoch_at = {0} if epoch else set()
    for i, ins in enumerate(body):
        name = ins[0].name
        if not dead and name not in FUEL_FREE:
            cost += 1
        if name in SEGMENT_END:
            if fuel and cost:
                points[start] = (start in epoch_at, cost)
            elif start in epoch_at:
                points[start] = (True, 0)
            start, cost, dead = i + 1, 0, False
            if epoch and name == "loop":
                epoch_at.add(start)
        elif name in UNCONDITIONAL:
            dead = True
    if start < len(body) and ((fuel and cost) or start in epoch_at):
        points[start] = (start in epoch_at, cost if fuel else 0)
    return points


__all__ = ["FUEL_FREE", "SEGMENT_END", "UNCONDITIONAL", "BULK_TABLE", "FRAME_BYTES",
           "DEFAULT_MAX_WASM_STACK", "frame_bytes", "max_call_depth", "meter_points"]
