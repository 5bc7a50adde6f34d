"""Which inlined copy of a function a trap ran in, told by its shadow-stack entry.

Inlining copies a function into each call of it, and LLVM's tail merging may then make one
block of the copies' trap blocks (``call @wf_trap(vm, code, pos)`` is the same in each):
the code address of such a trap says which function trapped, not through which call, so
the caller's frame would have no call site (llvm/unwind.py).  Keeping the copies apart, or
even printing the optimised IR and parsing it again, changes the machine code around them;
this changes four bytes per copy, in the object code.

Each function pushes its index on the store's shadow stack in its prologue, one
``store i32 <funcidx>`` marked ``!wf.shadow`` (with the module's number of functions) and
located at line ``prelude.PUSH_LINE`` of the function (prelude.shadow_entry).  After
inlining, each copy of that store is located in the copy, and the object's debug information
says where: a row of that line inside the copy's inlined subroutine, whose call line is the
caller's instruction index + 1.  :func:`tag_object` finds the store's instruction there (``movl $funcidx,
8(base,index,4)``) and rewrites its immediate to ``funcidx + nfuncs * line``: the same
instruction, the same size.  At a trap, :func:`split` reads an entry back as the function
and, for a tagged copy, the instruction its caller's frame (the next frame of the shadow
stack) was calling it from.

A copy's entry is exact only if the copy's own store ran, so copies are tagged only where
every call of their callee from the same caller (from the IR code generation wrote) is
still a call or has a copy with its own store; otherwise their entries stay plain function
indexes and the frame keeps what the native stack tells.  A copy inlined at a
``return_call`` is never tagged: its frame replaced its caller's.
"""

from __future__ import annotations

import bisect
import re
import struct

from . import loader, unwind
from .prelude import SUBPROGRAM

#: An entry must stay a non-negative 32-bit integer.
_LIMIT = 1 << 31

#: ``movl $imm32, d(base,index,4)``: the push (an optional REX prefix, opcode C7 /0, a SIB
#: byte of scale 4, displacement 8 + 4k), its immediate last.  (k > 0: a copy inlined into
#: a function that has the height in a register, codegen.ModuleCompiler.splittable, indexes
#: from the caller's height: ``sh + 8 + 4 * (h + k)`` is ``sh + 8 + 4k + 4h``.)
_PUSH = re.compile(rb"[\x40-\x4f]?\xc7\x44[\x80-\xbf][\x08\x0c\x10\x14\x18\x1c\x20\x24\x28\x2c\x30\x34\x38\x3c]....",
                   re.S)
#: The most bytes searched from a push's row.
_REGION = 64
_SOURCE_RADIX = re.compile(r"!wf\.shadow !\{i32 (\d+)\}")
# A call in the IR code generation made (prelude.location): callee, attributes, line, scope.
_SOURCE_CALL = re.compile(r"call [^@(\n]*@f(\d+)\(([^\n]*)!dbg !DILocation\(line: (\d+), scope: !(\d+)\)")


def split(value: int, nfuncs: int) -> tuple[int, int]:
    """A shadow-stack entry as ``(funcidx, line)``: ``line`` is the instruction index + 1 of
    the call the caller's frame made, for an inlined copy :func:`tag` tagged, else 0."""
    if value < nfuncs or nfuncs <= 0:
        return value, 0
    return value % nfuncs, value // nfuncs


def _source_calls(source: str, subprograms: int) -> dict:
    """``(caller, callee) -> ({line of each direct call}, {line of each tail call})`` in the
    IR as code generation wrote it (``subprograms``: prelude.SUBPROGRAM)."""
    out: dict = {}
    for m in _SOURCE_CALL.finditer(source):
        callee, attrs, line, scope = int(m.group(1)), m.group(2), int(m.group(3)), int(m.group(4))
        lines = out.setdefault((scope - subprograms, callee), (set(), set()))
        lines[0].add(line)
        if '"wasm-call"' not in attrs:
            lines[1].add(line)      # a return_call (FunctionCompiler.tail_call)
    return out


def tag_object(obj: bytes, source: str) -> bytes | None:
    """The object code ``obj`` compiled from the IR ``source``, with each inlined copy's
    shadow-stack entry tagged with its call (see the module docstring), or None when there
    is nothing to tag."""
    radix = _SOURCE_RADIX.search(source)
    if radix is None:
        return None
    nfuncs = int(radix.group(1))
    pushes: list = []
    try:
        info = unwind.ObjectInfo(obj, pushes)
    except (ValueError, IndexError, KeyError, struct.error, StopIteration, loader.LoaderError):
        return None
    if not pushes:
        return None
    # Where each caller still makes a call: (caller, line, its callers).
    located = {(chain[0][0], chain[0][1] + 1, chain[1:])
               for _starts, chains in info.chains.values() for chain in chains if chain}
    stores: dict = {}           # (callee, caller, its callers) -> {line: [(section, address)]}
    for section, address, callee, callers in pushes:
        (caller, index), outer = callers[0], callers[1:]
        stores.setdefault((callee, caller, outer), {}).setdefault(index + 1, []).append(
            (section, address))
    expected = _source_calls(source, SUBPROGRAM)
    out = bytearray(obj)
    changed = False
    for (callee, caller, outer), copies in stores.items():
        direct, tail = expected.get((caller, callee), (set(), set()))
        if not direct or not all(line in copies or (caller, line, outer) in located
                                 for line in direct):
            continue            # a copy without its own store: none of them is told apart
        plain = struct.pack("<I", callee)
        for line, places in copies.items():
            value = callee + nfuncs * line
            if line in tail or line not in direct or value >= _LIMIT:
                continue
            for section, address in places:
                starts = info.chains[section][0]
                k = bisect.bisect_right(starts, address)
                end = starts[k] if k < len(starts) else address + _REGION
                base, size = info.places[section]
                lo, hi = base + address, base + min(end, address + _REGION, size)
                found = [m for m in _PUSH.finditer(obj, lo, hi) if obj[m.end() - 4:m.end()] == plain]
                if len(found) == 1:
                    out[found[0].end() - 4:found[0].end()] = struct.pack("<I", value)
                    changed = True
    return bytes(out) if changed else None
