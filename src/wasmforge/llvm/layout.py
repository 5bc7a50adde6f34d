"""The contract between generated code and the Python side of the llvm tier: the ``vmctx``
layout, the callback kinds, the trap codes and the native value representation.

``vmctx`` is an array of 64-bit slots, one per instance (the compiled code is shared by all
instances of a module; everything instance-specific is reached through it):

=============  ==========================================================================
``JMPBUF``     the ``jmp_buf`` of the innermost entry trampoline running for this instance
``TRAP_TOP``   the shadow stack height when the last trap was raised (for the backtrace)
``DEPTH``      wasm stack bytes in use (each frame adds ``metering.frame_bytes(nlocals)``)
``DEPTH_MAX``  the wasm stack budget in bytes (the engine's ``max_wasm_stack``)
``STACK_MIN``  lowest native stack address a wasm frame may use (0: not checked)
``MEM``        address of memory 0's :class:`MemBlock` (``base``, ``size``), or 0
``CALLBACK``   the instance's ctypes callback ``int cb(vmctx, kind, imm, io)`` (imports, helpers)
``GLOBALS``    address of an array of cell addresses, one per global (0 for reference globals,
               which go through the callback)
``TABLES``     address of an array of :class:`TableMirrorStruct` addresses (0 for externref tables)
``SIGS``       address of an array of canonical signature ids, one per module type index
``FUEL``       the store's fuel while native code runs (with ``Config.consume_fuel``)
``EPOCH``      address of the engine's epoch counter (a native u64; with ``Config.epoch_interruption``)
``TRAP_ARG``   detail of the last trap (the table index of an uninitialized element)
``SHADOW``     address of the store's shadow stack: an i64 height, then one i32 function
               index per active wasm frame (pushed after the prologue's checks; an inlined
               copy's may also name its call: llvm/copies.py)
``DEADLINE``   the store's epoch deadline while native code runs
``LAZY``       address of the module's function table (one native address per defined
               function, 0 until its batch is compiled) when it is compiled lazily, else 0
``INTERRUPT``  address of the calling thread's interrupt cell (:mod:`wasmforge.llvm.sigint`):
               non-zero once Ctrl-C asked the main thread's wasm code to stop
``MEMS``       address of an array of :class:`MemBlock` addresses, one per memory index
               (multi-memory); memory 0 is also reached through ``MEM``, so code for a
               module with one memory is what it was before multi-memory
``TRAP_POS``   the index in its function of the instruction the last trap was raised at,
               for the frame's code offsets; -2 - funcidx: the stack check at the entry of
               function funcidx (llvm/unwind.py); -1: none
``GCHEAP``     GC proposal (llvm/gcheap.py): address of the store's ``HeapBlock`` (allocation
               pointer and limit, root stack top and end)
``RTTS``       GC proposal: address of the run-time type address of each module type index
``EXN``        exception handling: the handle of the wasm exception being thrown, 0 when
               none.  Code of a module that uses exceptions checks it after every call and,
               when set, branches to the handlers of the enclosing try blocks or returns;
               the entry raises :class:`~wasmforge.errors.WasmException` for one left set
``IMPORTS``    address of the import records, :data:`IMPORT_SLOTS` u64s per imported function
               (``entry``, ``fnp``, ``vmctx``): when ``entry`` is not 0 the import is a
               function of another llvm instance of the same store, and a call of it is
               ``entry(vmctx, *fnp, io, io)`` (that instance's entry trampoline, its
               function table slot, its vmctx) instead of the callback; all zeros until the
               callback links the import (llvm/instance.py ``NativeInstance._link``)
=============  ==========================================================================
"""

from __future__ import annotations

import ctypes

from ..binary.decode import LAZY_THRESHOLD as _LAZY_THRESHOLD
from ..errors import TrapCode
from ..types import NUM_TYPES, VEC_TYPES, ByType, ref_parts

(JMPBUF, TRAP_TOP, DEPTH, DEPTH_MAX, STACK_MIN, MEM, CALLBACK, GLOBALS, TABLES, SIGS, FUEL, EPOCH,
 TRAP_ARG, SHADOW, DEADLINE, LAZY, INTERRUPT, MEMS, EXN, TRAP_POS, GCHEAP, RTTS, IMPORTS) = range(23)
VMCTX_SLOTS = 23
# An import record (vm[IMPORTS]): the callee's entry trampoline, the address of its slot of
# the callee's function table (vm[LAZY]: it follows a tier-up), the callee's vmctx.
IMPORT_SLOTS = 3


def cross_cells(fuel: bool, epoch: bool) -> tuple:
    """The vmctx slots a native call into another instance (``IMPORTS``) copies into the
    callee's vmctx before the call, and those it copies back after it (the callee's code and
    callbacks read and write the store's state there): the stack use, the thread's stack
    floor and interrupt cell, and with metering the fuel and the epoch deadline (a host
    function the callee calls may set either).  Caller and callee are compiled with the same
    ``fuel`` and ``epoch`` (llvm/instance.py links no other)."""
    cells_in, back = [DEPTH, STACK_MIN, INTERRUPT], [DEPTH]
    if fuel:
        cells_in.append(FUEL)
        back.append(FUEL)
    if epoch:
        cells_in.append(DEADLINE)
        back.append(DEADLINE)
    return tuple(cells_in), tuple(back)


def native_signature(ft) -> bool:
    """Whether a call of a function of type ``ft`` may cross instances natively: no
    reference values (they are handles into one instance's registry)."""
    return all(t in _NUMERIC for t in ft.params) and all(t in _NUMERIC for t in ft.results)


_NUMERIC = frozenset(NUM_TYPES + VEC_TYPES)

# Trap codes passed to longjmp (never 0: setjmp's first return).  1.. index TrapCode.
TRAP_CODES = list(TrapCode)
TRAP_NUM = {code: i + 1 for i, code in enumerate(TRAP_CODES)}
# A callback raised a Python exception, stored by the instance; the entry re-raises it.
TRAP_HOST = 255
# The interrupt cell was set (SIGINT): the entry raises KeyboardInterrupt.
TRAP_SIGINT = 254

# Callback kinds: ``cb(vmctx, kind, imm, io)`` with operands in ``io[0..]`` (u64 slots, in
# stack order, then any second immediate) and results written back to ``io[0..]``.
# Returns 1, or 0 when it raised.
CB_CALL = 0            # imm = funcidx of an imported function; io = args -> results
CB_CALL_INDIRECT = 1   # imm = tableidx; io = [elem index, args...] -> results (foreign callee)
CB_MEMORY_GROW = 2     # imm = memidx; io = [delta] -> [old pages or -1]
CB_MEMORY_INIT = 3     # imm = dataidx; io = [d, s, n] (memory 0)
CB_DATA_DROP = 4       # imm = dataidx
CB_TABLE_GET = 5       # imm = tableidx; io = [i] -> [ref]
CB_TABLE_SET = 6       # imm = tableidx; io = [i, ref]
CB_TABLE_SIZE = 7      # imm = tableidx; -> [size]
CB_TABLE_GROW = 8      # imm = tableidx; io = [ref, n] -> [old size or -1]
CB_TABLE_FILL = 9      # imm = tableidx; io = [i, ref, n]
# 10 and 11 were table.copy and table.init with both indices packed into imm (16 bits each,
# so larger indices aliased): code that still makes them comes from an older artifact and is
# refused when it does.
CB_OBSOLETE = (10, 11)
CB_ELEM_DROP = 12      # imm = elemidx
CB_GLOBAL_GET = 13     # imm = globalidx (reference globals); -> [ref]
CB_GLOBAL_SET = 14     # imm = globalidx; io = [ref]
CB_COMPILE = 15        # imm = funcidx: compile the batch of a lazily compiled function
CB_TABLE_COPY = 16     # imm = dst tableidx; io = [d, s, n, src tableidx]
CB_TABLE_INIT = 17     # imm = tableidx; io = [d, s, n, elemidx]
CB_MEMORY_INIT_MEM = 18  # imm = memidx (multi-memory); io = [d, s, n, dataidx]
CB_THROW = 19          # imm = tagidx; io = payload: make the exception, put it in vm[EXN]
CB_EXN_MATCH = 20      # imm = tagidx; io = [exnref] -> [1 if the exception has that tag, else 0]
CB_EXN_PAYLOAD = 21    # imm = tagidx; io = [exnref] -> the payload
CB_CALL_REF = 22       # imm = typeidx; io = [ref, args...] -> results (function-references)
# Threads (llvm/atomics.py): imm = memidx; io = [ea, expected, timeout, size] -> [0 ok, 1
# not-equal, 2 timed-out], and io = [ea, count] -> [waiters woken].
CB_ATOMIC_WAIT = 23
CB_ATOMIC_NOTIFY = 24
# @wf_trap, before it longjmps: imm = trap code; io = the address of @wf_trap's own return
# address (the trapping frame's stack pointer is 8 above): the wasm frames' return addresses
# are read while they are still there (llvm/unwind.py).  Its result is ignored.
CB_UNWIND = 25
# The GC proposal (llvm/gcops.py, llvm/gcheap.py).
CB_GC_ALLOC = 26       # io = [bytes] -> [address]: the heap is full (collect, grow or trap)
CB_GC_BOX = 27         # io = [registry handle] -> [TAG_HOST | i]: a host value stored in a field
CB_GC_UNBOX = 28       # io = [TAG_HOST | i] -> [registry handle]
CB_GC_FUNC_TEST = 29   # imm = typeidx of the ref type; io = [ref, nullable, heap code] -> [0/1]
CB_GC_NEW_DATA = 30    # imm = typeidx; io = [s, n, dataidx] -> [array]
CB_GC_NEW_ELEM = 31    # imm = typeidx; io = [s, n, elemidx] -> [array]
CB_GC_INIT_DATA = 32   # imm = typeidx; io = [array, d, s, n, dataidx]
CB_GC_INIT_ELEM = 33   # imm = typeidx; io = [array, d, s, n, elemidx]
CB_GC_SIG_MATCH = 34   # imm = typeidx; io = [tableidx, elem index] -> [1 if the function's type
#                        is a subtype of the expected one (call_indirect in a GC module), else 0]
# A native call of another instance's function through an import record trapped: imm =
# funcidx of the import; io = [the callee's trap code].  The handler raises the callee's
# trap (or exception) as the callee's entry would have, so the caller traps with TRAP_HOST.
CB_XTRAP = 35
# A call of an import the code could call natively (codegen.FunctionCompiler.import_call)
# while its record is empty: imm = funcidx of the import; io = args -> results, as
# CB_CALL; but when the callback links the import instead (llvm/instance.py _link) it
# returns CB_LINKED without making the call, and the code makes it through the record.
CB_CALL_LINK = 36
CB_KINDS = 37
# What the callback returns for a call (CB_CALL, CB_CALL_INDIRECT) that threw a wasm exception
# in a module that uses exceptions: the exception is in vm[EXN].
CB_THREW = 2
# What the callback returns for CB_CALL_LINK when it has linked the import.
CB_LINKED = 3

# ``imm`` is unsigned: every immediate is a u32 index, never a negative (Python would index
# from the end with it).
CALLBACK_TYPE = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_void_p, ctypes.c_int32, ctypes.c_uint32,
                                 ctypes.POINTER(ctypes.c_uint64))
# int entry(vmctx, fn, args, results): 0, or the trap code.
ENTRY_TYPE = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
                              ctypes.c_void_p)

# ctypes keeps array types (``c_uint64 * n``) only weakly, and a type is a reference cycle:
# each garbage collection frees the types no live object uses, and the next instance pays
# about 10 µs per type to make them again (the vmctx, its cell tables, entry buffers).  The
# array types of the sizes in use are kept here instead (a bounded number of them).
_array_types: dict = {}


def array_of(ctype, n: int):
    """The array type ``ctype * n``, kept once made (see above)."""
    t = _array_types.get((ctype, n))
    if t is None:
        t = ctype * n
        if len(_array_types) < 1024:
            _array_types[(ctype, n)] = t
    return t


# Native representation of each value type.  References are i64 handles into the instance's
# reference registry (0 = null), see :mod:`wasmforge.llvm.instance`.
# A typed reference (function-references) is a handle too (types.ByType finds its entry).
class _IRTypes(ByType):
    """ByType that also gives the GC proposal's reference types (any hierarchy): i64."""

    def __missing__(self, t: str):
        try:
            return ByType.__missing__(self, t)
        except KeyError:
            if ref_parts(t) is None:
                raise
            self[t] = "i64"
            return "i64"

    def __contains__(self, t: object) -> bool:
        return ByType.__contains__(self, t) or (isinstance(t, str) and ref_parts(t) is not None)


IR_TYPE = _IRTypes({"i32": "i32", "i64": "i64", "f32": "float", "f64": "double", "v128": "<16 x i8>",
                    "funcref": "i64", "externref": "i64", "exnref": "i64"})


def uses_exceptions(module) -> bool:
    """Whether ``module``'s code must carry exceptions (llvm/exceptions.py): it has tags, or
    (bodies read as for :func:`uses_tail_calls`) an instruction of exception handling.  Like
    the calling convention, the answer depends on the module alone, so every part of a
    lazily compiled module agrees."""
    known = module.__dict__.get("_llvm_uses_exceptions")
    if known is None:
        # Once per module: the answer reads every body (llvm/instance.py asks per instance).
        known = module.__dict__["_llvm_uses_exceptions"] = _scan_exceptions(module)
    return known


def _scan_exceptions(module) -> bool:
    if module.tags or any(imp.kind == "tag" for imp in module.imports):
        return True
    funcs = module.funcs
    raw = [f._code for f in funcs if f._code is not None]
    if raw and sum(map(len, raw)) >= _LAZY_THRESHOLD:
        return False      # no tag: nothing in it can throw; imports' exceptions pass as traps
    return any(o.feature == "exceptions" for o in module.ops_used())


class MemBlock(ctypes.Structure):
    """What generated code knows of a linear memory: its fixed base address and current size
    in bytes (the size is the authoritative one: the Python ``MemoryInstance.size`` reads it)."""

    _fields_ = [("base", ctypes.c_void_p), ("size", ctypes.c_uint64)]


class TableEntry(ctypes.Structure):
    """One funcref table slot as generated code sees it: ``sig`` is -1 for null, else the
    canonical signature id; ``fn`` the native address when the callee is a function of the
    same instance, else 0 (the call goes through the callback)."""

    _fields_ = [("sig", ctypes.c_int64), ("fn", ctypes.c_void_p)]


class TableMirrorStruct(ctypes.Structure):
    """A funcref table as ``call_indirect`` reads it: the size and an array of TableEntry."""

    _fields_ = [("size", ctypes.c_uint64), ("entries", ctypes.c_void_p)]
