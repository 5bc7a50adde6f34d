"""Decoding of the WebAssembly 2.0 binary format (spec chapter 5) into a :class:`Module`.

Error behaviour follows the reference interpreter, because the spec test suite's
``assert_malformed`` messages are defined by it:

* Every read goes against the whole binary, not just the current section.  A section is
  decoded, and only then is its declared size compared with what was consumed ("section size
  mismatch").  A vector length larger than the bytes left in the *binary* is "length out of
  bounds"; running off the end of the binary is "unexpected end of section or function".
* Function bodies are decoded the same way: a body missing its final ``end`` runs on into the
  next function (so the suite sees "END opcode expected" or "section size mismatch").

Function bodies are decoded eagerly for ordinary modules.  When the code section is large
(``LAZY_THRESHOLD``) each :class:`~wasmforge.module.Func` keeps the raw bytes of its body and
a decoder instead, so a module with tens of megabytes of code never holds every instruction
at once; the validator streams ``Func.iter_with_offsets()`` and a body that turns out to be
malformed raises :class:`DecodeError` at that point.
"""

from __future__ import annotations

import gc
import struct
from contextlib import contextmanager
from typing import Callable, FrozenSet, Optional

from ..errors import DecodeError
from ..features import DEFAULT as DEFAULT_FEATURES
from ..module import (ACTIVE, DECLARATIVE, FUNC, GLOBAL, MEMORY, PASSIVE, TABLE, TAG, Custom, Data, Elem,
                      Export, Func, Global, Import, Memory, Module, Names, Table, Tag)
from ..opcodes import (CATCH_ALL_OP, DELEGATE, ELSE, END, OPS, PREFIXED, SINGLE, TRY,
                       TRY_TABLE, op as _op_named)
from ..types import (BYTE_HEAP, BYTE_VALTYPE, EXTERNREF, FUNCREF, HEAP_SHORTHAND, ArrayType, FieldType, FuncType, StructType,
                     GlobalType, Limits, MemoryType, TableType, ref_type)
from .leb128 import TOO_LONG, read_s32, read_s33, read_s64, read_signed, read_u32, read_unsigned

#: Code sections at least this large are decoded lazily (one function body at a time).
LAZY_THRESHOLD = 1 << 20
#: Implementation limit on the locals a function may declare (parameters excluded).
MAX_LOCALS = 50000

UNEXPECTED_END = "unexpected end of section or function"

_unpack_u32 = struct.Struct("<I").unpack_from
_unpack_u64 = struct.Struct("<Q").unpack_from

_REF_FUNC = _op_named("ref.func")
_I32_CONST = _op_named("i32.const")
_END_INSTR = (END,)
_ELSE_INSTR = (ELSE,)

_MAGIC = b"\x00asm"
_VERSION = b"\x01\x00\x00\x00"

# Position of each known section id in the required order (spec 5.5.2): data count (12)
# sits between the element (9) and code (10) sections, the tag section (13, exception
# handling) between the memory (5) and global (6) sections.
_SECTION_RANK = {1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 13: 5.5, 6: 6, 7: 7, 8: 8, 9: 9, 12: 10, 10: 11, 11: 12}
_LAST_SECTION_ID = 13

_REF_TYPE_BYTE = {0x70: FUNCREF, 0x6F: EXTERNREF}

# Extended name section subsections (beyond module 0, functions 1, locals 2; 3 is labels).
_NAME_MAPS = {4: "types", 5: "tables", 6: "memories", 7: "globals", 8: "elems", 9: "datas"}


# ============================================================================================
# Instructions
# ============================================================================================

class _BodyContext:
    """What body decoding needs to know about the module around it.

    ``datacount`` says whether the module has a data count section; ``memory.init`` and
    ``data.drop`` need one (spec 5.5.16).  Eager decoding records the use in ``uses_data`` and
    the module decoder reports it after the reference interpreter's earlier checks; lazy
    decoding, running after ``decode_module`` returned, reports it at once.  ``kinds`` is
    the opcode dispatch table: every known instruction, or the 2.0 ones only (see
    ``decode_module``'s ``features``)."""

    __slots__ = ("datacount", "lazy", "uses_data", "offset_bits", "multi_memory", "kinds")

    def __init__(self, datacount: bool, lazy: bool, offset_bits: int = 64,
                 multi_memory: bool = True, kinds=None):
        self.datacount = datacount
        self.lazy = lazy
        self.uses_data = False
        # The binary format differs with two proposals switched off (as in wasmparser):
        # memarg offsets are u64 with memory64, u32 in 2.0; memory indexes of memory.size,
        # grow, fill, copy and init are u32 with multi-memory, reserved zero bytes in 2.0.
        self.offset_bits = offset_bits
        self.multi_memory = multi_memory
        # The single-byte opcode dispatch table (None: every known opcode; see decode_module's
        # ``strict``).
        self.kinds = kinds

    def data_index_used(self, pos: int) -> None:
        if not self.datacount:
            if self.lazy:
                raise DecodeError("data count section required", pos)
            self.uses_data = True


# Constant expressions never need the data count section.  (Set up below, with _KIND.)
_CONST_CONTEXT = _BodyContext(datacount=True, lazy=False)
_CONST_CONTEXT_20 = _BodyContext(datacount=True, lazy=False)


def _illegal(prefix: int, code: int, pos: int) -> DecodeError:
    if prefix:
        return DecodeError(f"illegal opcode {prefix:02x} {code:02x}", pos)
    return DecodeError(f"illegal opcode {code:02x}", pos)


def _value_type(buf, pos: int) -> tuple:
    """A value type: one byte in 2.0 (read as an s7 by the reference interpreter), or a
    typed reference ``0x63``/``0x64`` heaptype (function-references), or a shorthand
    reference type of a later proposal (the validator refuses a switched-off one)."""
    b = buf[pos]
    t = BYTE_VALTYPE.get(b)
    if t is None:
        if b == 0x63 or b == 0x64 or b in BYTE_HEAP:
            return _ref_type(buf, pos)
        if b & 0x80:
            raise DecodeError(TOO_LONG, pos + 1)
        raise DecodeError("malformed value type", pos)
    return t, pos + 1


def _heap_type(buf, pos: int) -> tuple:
    """A heap type: an abstract one (one negative s33 byte) or a type index (s33 >= 0)."""
    b = buf[pos]
    heap = BYTE_HEAP.get(b)
    if heap is not None:
        return heap, pos + 1
    x, end = read_s33(buf, pos)
    if x < 0:
        raise DecodeError("malformed heap type", pos)
    return x, end


def _ref_type(buf, pos: int) -> tuple:
    b = buf[pos]
    t = _REF_TYPE_BYTE.get(b)
    if t is None:
        if b == 0x63 or b == 0x64:
            heap, end = _heap_type(buf, pos + 1)
            return ref_type(b == 0x63, heap), end
        heap = BYTE_HEAP.get(b)
        if heap is not None:
            return HEAP_SHORTHAND[heap], pos + 1
        if b & 0x80:
            raise DecodeError(TOO_LONG, pos + 1)
        raise DecodeError("malformed reference type", pos)
    return t, pos + 1


def _len32(buf, pos: int) -> tuple:
    """A vector length or byte count.  As in the reference interpreter, it may not exceed the
    bytes left in the binary counted from the start of the length itself."""
    n, end = read_u32(buf, pos)
    if n > len(buf) - pos:
        raise DecodeError("length out of bounds", pos)
    return n, end


def _zero(buf, pos: int) -> int:
    """A reserved byte that must be 0x00 (memory indexes in 2.0)."""
    if buf[pos] != 0:
        raise DecodeError("zero byte expected", pos)
    return pos + 1


def _memarg_align(buf, pos: int, ctx) -> tuple:
    """The memarg flags: the alignment exponent, and with bit 6 set (multi-memory) a memory
    index after them; return ``(align, memidx, pos)``."""
    flags, end = read_u32(buf, pos)
    memidx = 0
    if flags & 0x40 and ctx.multi_memory:
        memidx, end = read_u32(buf, end)
        flags &= ~0x40
    if flags >= 32:
        raise DecodeError("malformed memop flags", pos)
    return flags, memidx, end


def _blocktype(buf, pos: int) -> tuple:
    """``0x40`` (empty), a value type, or a non-negative s33 type index (spec 5.4.1)."""
    b = buf[pos]
    if b == 0x40:
        return None, pos + 1
    t = BYTE_VALTYPE.get(b)
    if t is not None:
        return t, pos + 1
    if b == 0x63 or b == 0x64 or b in BYTE_HEAP:
        return _ref_type(buf, pos)
    x, end = read_s33(buf, pos)
    if x < 0:
        raise DecodeError("malformed block type", pos)
    return x, end


# One reader per immediate kind of the opcode table: reader(op, buf, pos, ctx) -> (instr, pos).

def _r_none(op, buf, pos, ctx):
    return (op,), pos


def _r_index(op, buf, pos, ctx):
    x, pos = read_u32(buf, pos)
    return (op, x), pos


def _r_blocktype(op, buf, pos, ctx):
    bt, pos = _blocktype(buf, pos)
    return (op, bt), pos


def _r_br_table(op, buf, pos, ctx):
    n, pos = _len32(buf, pos)
    labels = []
    for _ in range(n):
        x, pos = read_u32(buf, pos)
        labels.append(x)
    default, pos = read_u32(buf, pos)
    return (op, tuple(labels), default), pos


def _r_call_indirect(op, buf, pos, ctx):
    typeidx, pos = read_u32(buf, pos)
    tableidx, pos = read_u32(buf, pos)
    return (op, typeidx, tableidx), pos


def _memidx(buf, pos: int, ctx) -> tuple:
    # A reserved zero byte in 2.0; a memory index with multi-memory.
    if not ctx.multi_memory:
        return 0, _zero(buf, pos)
    return read_u32(buf, pos)


def _r_memidx(op, buf, pos, ctx):
    x, pos = _memidx(buf, pos, ctx)
    return (op, x), pos


def _r_zero(op, buf, pos, ctx):
    # atomic.fence (threads): a reserved zero byte, nothing in the instruction.
    return (op,), _zero(buf, pos)


def _r_memarg(op, buf, pos, ctx):
    align, memidx, pos = _memarg_align(buf, pos, ctx)
    offset, pos = read_unsigned(buf, pos, ctx.offset_bits)
    return ((op, align, offset, memidx) if memidx else (op, align, offset)), pos


def _r_memarg_lane(op, buf, pos, ctx):
    align, memidx, pos = _memarg_align(buf, pos, ctx)
    offset, pos = read_unsigned(buf, pos, ctx.offset_bits)
    if memidx:
        return (op, align, offset, buf[pos], memidx), pos + 1
    return (op, align, offset, buf[pos]), pos + 1


def _r_laneidx(op, buf, pos, ctx):
    return (op, buf[pos]), pos + 1


def _r_i32(op, buf, pos, ctx):
    v, pos = read_s32(buf, pos)
    return (op, v), pos


def _r_i64(op, buf, pos, ctx):
    v, pos = read_s64(buf, pos)
    return (op, v), pos


def _r_f32(op, buf, pos, ctx):
    return (op, _unpack_u32(buf, pos)[0]), pos + 4


def _r_f64(op, buf, pos, ctx):
    return (op, _unpack_u64(buf, pos)[0]), pos + 8


def _bytes16(buf, pos: int) -> bytes:
    if pos + 16 > len(buf):
        raise DecodeError(UNEXPECTED_END, len(buf))
    return buf[pos:pos + 16]


def _r_v128(op, buf, pos, ctx):
    return (op, int.from_bytes(_bytes16(buf, pos), "little")), pos + 16


def _r_shuffle(op, buf, pos, ctx):
    return (op, tuple(_bytes16(buf, pos))), pos + 16


def _r_heaptype(op, buf, pos, ctx):
    # ref.null's immediate is the nullable reference type it pushes.
    heap, pos = _heap_type(buf, pos)
    return (op, ref_type(True, heap)), pos


def _r_valtypes(op, buf, pos, ctx):
    n, pos = _len32(buf, pos)
    types = []
    for _ in range(n):
        t, pos = _value_type(buf, pos)
        types.append(t)
    return (op, tuple(types)), pos


def _r_dataidx(op, buf, pos, ctx):
    ctx.data_index_used(pos)
    x, pos = read_u32(buf, pos)
    return (op, x), pos


def _r_memory_init(op, buf, pos, ctx):
    ctx.data_index_used(pos)
    x, pos = read_u32(buf, pos)
    mem, pos = _memidx(buf, pos, ctx)
    return (op, x, mem), pos


def _r_memory_copy(op, buf, pos, ctx):
    dst, pos = _memidx(buf, pos, ctx)
    src, pos = _memidx(buf, pos, ctx)
    return (op, dst, src), pos


def _r_try_table(op, buf, pos, ctx):
    # blocktype, then vec(catch): kind byte 0..3, a tag index for catch/catch_ref, a label.
    bt, pos = _blocktype(buf, pos)
    n, pos = _len32(buf, pos)
    catches = []
    for _ in range(n):
        kind = buf[pos]
        if kind > 3:
            raise DecodeError("malformed catch clause", pos)
        pos += 1
        tag = None
        if kind < 2:
            tag, pos = read_u32(buf, pos)
        label, pos = read_u32(buf, pos)
        catches.append((kind, tag, label))
    return (op, bt, tuple(catches)), pos


def _r_index_pair(op, buf, pos, ctx):
    # table.init: elemidx, tableidx; table.copy: destination, source -- both in binary order.
    x, pos = read_u32(buf, pos)
    y, pos = read_u32(buf, pos)
    return (op, x, y), pos


def _r_typeidx_data(op, buf, pos, ctx):
    x, pos = read_u32(buf, pos)
    ctx.data_index_used(pos)
    y, pos = read_u32(buf, pos)
    return (op, x, y), pos


def _r_castref(op, buf, pos, ctx):
    # GC ref.test / ref.cast: the opcode says whether the target type is nullable.
    heap, pos = _heap_type(buf, pos)
    return (op, ref_type(op.code & 1 == 1, heap)), pos


def _r_br_on_cast(op, buf, pos, ctx):
    # GC br_on_cast(_fail): castflags (bit 0: source nullable, bit 1: target), label, ht ht.
    flags = buf[pos]
    if flags > 3:
        raise DecodeError("malformed cast flags", pos)
    label, pos = read_u32(buf, pos + 1)
    h1, pos = _heap_type(buf, pos)
    h2, pos = _heap_type(buf, pos)
    return (op, label, ref_type(bool(flags & 1), h1), ref_type(bool(flags & 2), h2)), pos


_READERS = {
    "-": _r_none, "blocktype": _r_blocktype, "labelidx": _r_index, "br_table": _r_br_table,
    "funcidx": _r_index, "call_indirect": _r_call_indirect, "localidx": _r_index,
    "globalidx": _r_index, "tableidx": _r_index, "memidx": _r_memidx, "memarg": _r_memarg,
    "memarg_lane": _r_memarg_lane, "laneidx": _r_laneidx, "i32": _r_i32, "i64": _r_i64,
    "f32": _r_f32, "f64": _r_f64, "v128": _r_v128, "shuffle": _r_shuffle,
    "heaptype": _r_heaptype, "valtypes": _r_valtypes, "dataidx": _r_dataidx,
    "elemidx": _r_index, "memory.init": _r_memory_init, "memory.copy": _r_memory_copy,
    "table.init": _r_index_pair, "table.copy": _r_index_pair, "typeidx": _r_index,
    "tagidx": _r_index, "try_table": _r_try_table, "zero": _r_zero,
    "typeidx_field": _r_index_pair, "typeidx_n": _r_index_pair, "typeidx_data": _r_typeidx_data,
    "typeidx_elem": _r_index_pair, "typeidx_pair": _r_index_pair, "castref": _r_castref,
    "br_on_cast": _r_br_on_cast,
}

# Dispatch classes of single-byte opcodes for the decoding loop.  The frequent immediate
# kinds get an inlined fast path there; everything else calls its reader above.
_K_PLAIN, _K_INDEX, _K_END, _K_MEMARG, _K_I32, _K_BLOCK, _K_IF, _K_ELSE, _K_READER, \
    _K_PREFIX, _K_ILLEGAL, _K_EXCEPTIONS = range(12)

_KIND = [_K_ILLEGAL] * 256
_PLAIN = [None] * 256                  # the shared instruction tuple of immediate-free opcodes
_READER = [None] * 256
_INLINE_INDEX = ("labelidx", "funcidx", "localidx", "globalidx", "tableidx", "elemidx")
for _b, _o in enumerate(SINGLE):
    if _o is None:
        continue
    _READER[_b] = _READERS[_o.imm]
    if _o.name in ("try", "catch", "catch_all", "delegate", "try_table"):
        _KIND[_b] = _K_EXCEPTIONS           # blocks and arms of exception handling
    elif _o is END:
        _KIND[_b] = _K_END
    elif _o is ELSE:
        _KIND[_b] = _K_ELSE
    elif _o.imm == "-":
        _KIND[_b] = _K_PLAIN
        _PLAIN[_b] = (_o,)
    elif _o.imm in _INLINE_INDEX:
        _KIND[_b] = _K_INDEX
    elif _o.imm == "memarg":
        _KIND[_b] = _K_MEMARG
    elif _o.imm == "i32":
        _KIND[_b] = _K_I32
    elif _o.imm == "blocktype":
        _KIND[_b] = _K_IF if _o.name == "if" else _K_BLOCK
    else:
        _KIND[_b] = _K_READER
for _b in PREFIXED:
    _KIND[_b] = _K_PREFIX

# The WebAssembly 2.0 binary format alone: the single-byte opcodes of later proposals
# (exception handling's 0x06-0x0A, 0x18, 0x19, 0x1F; tail calls' 0x12, 0x13) are illegal.
_KIND_20 = [_K_ILLEGAL if o is not None and o.feature is not None else k
            for o, k in zip(SINGLE, _KIND)]
_CONST_CONTEXT.kinds = _KIND
_CONST_CONTEXT_20.kinds = _KIND_20

# Shared instruction tuples for one-byte immediates of the commonest kinds: a list indexed
# by that byte for u32 indexes 0..127 and i32.const -64..63, and the tuple of block/loop/if
# with the empty block type.  Saves allocating most tuples of a body.
_SMALL = [None] * 256
for _b, _k in enumerate(_KIND):
    if _k == _K_BLOCK or _k == _K_IF:
        _SMALL[_b] = (SINGLE[_b], None)
    elif _k == _K_INDEX:
        _SMALL[_b] = [(SINGLE[_b], _x) for _x in range(128)]
    elif _k == _K_I32:
        _SMALL[_b] = [(SINGLE[_b], _x - 0x80 if _x & 0x40 else _x) for _x in range(128)]

# Prefixed opcodes, by Op.id: the shared tuple when there is no immediate, else the reader.
_PLAIN_BY_ID = [(o,) if o.imm == "-" else None for o in OPS]
_READER_BY_ID = [None if o.imm == "-" else _READERS[o.imm] for o in OPS]
del _b, _o, _k


def _read_expr(buf, pos: int, offsets: Optional[list], ctx: _BodyContext) -> tuple:
    """Decode instructions from ``pos`` up to and including the ``end`` that closes the
    expression; return ``(instrs, position after it)``.  When ``offsets`` is a list, the
    position of each instruction is appended to it.

    Reading past the end of ``buf`` raises IndexError or struct.error; callers convert it.
    Structure follows the reference interpreter: ``else`` is accepted only directly inside an
    ``if`` (once), anything else where ``end`` must come is "END opcode expected"."""
    out = []
    append = out.append
    record = None if offsets is None else offsets.append
    kinds = ctx.kinds or _KIND
    plain = _PLAIN
    small = _SMALL
    single = SINGLE
    end_instr = _END_INSTR
    # One entry per open block/loop/if: True while it is an `if` that may still take `else`;
    # _TRY_OPEN for a legacy `try` (exception handling) that may still take `catch`.
    open_blocks = []
    push = open_blocks.append
    while True:
        b = buf[pos]
        if record is not None:
            record(pos)
        pos += 1
        k = kinds[b]
        # Tests ordered by frequency in compiled code: indexes, plain, i32.const, memarg, end.
        if k == 1:                                      # _K_INDEX: one u32
            x = buf[pos]
            if x < 0x80:
                pos += 1
                append(small[b][x])
            else:
                x, pos = read_unsigned(buf, pos, 32)
                append((single[b], x))
        elif k == 0:                                    # _K_PLAIN
            append(plain[b])
        elif k == 4:                                    # _K_I32
            v = buf[pos]
            if v < 0x80:
                pos += 1
                append(small[b][v])
            else:
                v, pos = read_signed(buf, pos, 32)
                append((single[b], v))
        elif k == 3:                                    # _K_MEMARG
            align = buf[pos]
            if align < 32:
                pos += 1
                memidx = 0
            else:
                align, memidx, pos = _memarg_align(buf, pos, ctx)
            offset = buf[pos]
            if offset < 0x80:
                pos += 1
            else:
                offset, pos = read_unsigned(buf, pos, ctx.offset_bits)
            append((single[b], align, offset, memidx) if memidx else (single[b], align, offset))
        elif k == 2:                                    # _K_END
            append(end_instr)
            if not open_blocks:
                return out, pos
            open_blocks.pop()
        elif k == 5 or k == 6:                          # _K_BLOCK / _K_IF
            if buf[pos] == 0x40:                        # the empty block type
                pos += 1
                append(small[b])
            else:
                bt, pos = _blocktype(buf, pos)
                append((single[b], bt))
            push(k == 6)
        elif k == 7:                                    # _K_ELSE
            if not open_blocks or not open_blocks[-1]:
                raise DecodeError("END opcode expected", pos - 1)
            open_blocks[-1] = False
            append(_ELSE_INSTR)
        elif k == 8:                                    # _K_READER
            instr, pos = _READER[b](single[b], buf, pos, ctx)
            append(instr)
        elif k == 9:                                    # _K_PREFIX
            code, pos2 = read_unsigned(buf, pos, 32)
            o = PREFIXED[b].get(code)
            if o is None:
                raise _illegal(b, code, pos - 1)
            reader = _READER_BY_ID[o.id]
            if reader is None:
                append(_PLAIN_BY_ID[o.id])
                pos = pos2
            else:
                instr, pos = reader(o, buf, pos2, ctx)
                append(instr)
        elif k == 11:                                   # _K_EXCEPTIONS
            o = single[b]
            instr, pos = _READER[b](o, buf, pos, ctx)
            if o is TRY_TABLE:
                push(False)
            elif o is TRY:
                push(_TRY_OPEN)
            elif o is DELEGATE:
                # `delegate` ends a try block that has no catch arm yet.
                if not open_blocks or open_blocks[-1] is not _TRY_OPEN:
                    raise DecodeError("END opcode expected", pos - 1)
                open_blocks.pop()
            else:                                       # catch, catch_all
                if not open_blocks or open_blocks[-1] is not _TRY_OPEN:
                    raise DecodeError("END opcode expected", pos - 1)
                if o is CATCH_ALL_OP:
                    open_blocks[-1] = False
            append(instr)
        else:
            raise _illegal(0, b, pos - 1)


_TRY_OPEN = 2       # a legacy `try` in open_blocks of _read_expr


@contextmanager
def _gc_paused():
    """Pause the cyclic garbage collector while decoding.  Decoding allocates millions of
    tuples that all survive; each collection would rescan them (halving decode speed)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _streaming_decoder(buf: bytes, ctx: _BodyContext) -> Callable:
    """The ``decode(code, code_offset)`` function of the lazily decoded :class:`Func` objects
    of the binary ``buf``."""

    def decode(code, code_offset: int):
        """Decode one function body and return an iterator of ``(absolute offset, instr)``.

        ``code`` is the view of ``buf`` that holds the body, starting at ``code_offset``.
        Decoding reads ``buf`` itself, so offsets come out absolute, and a body that lacks its
        final ``end`` behaves exactly as in eager decoding."""
        offsets = []
        try:
            with _gc_paused():
                instrs, pos = _read_expr(buf, code_offset, offsets, ctx)
        except (IndexError, struct.error):
            raise DecodeError(UNEXPECTED_END, len(buf)) from None
        if pos != code_offset + len(code):
            raise DecodeError("section size mismatch", code_offset)
        return zip(offsets, instrs)

    # What decode_raw_body needs to decode these bodies elsewhere (the llvm tier's background
    # recompile is sent raw bodies: decoding and pickling instructions cost a warm run more
    # than the child's compile of them, llvm/lazytier.py).
    decode.context = ctx
    return decode


def raw_body_context(func) -> Optional[_BodyContext]:
    """The decoding context of ``func``'s raw body (a :class:`Func` of a binary decoded with
    its bodies left raw), or None when its body is not raw: with the body's bytes, what
    :func:`decode_raw_body` needs (it pickles)."""
    if func._body is not None or func._code is None:
        return None
    return getattr(func._decode, "context", None)


def decode_raw_body(code, context: _BodyContext) -> list:
    """The instructions of a raw function body ``code`` (the bytes after its locals), decoded
    with the ``context`` of :func:`raw_body_context`, as that function's ``body`` is."""
    buf = bytes(code)
    try:
        with _gc_paused():
            instrs, pos = _read_expr(buf, 0, None, context)
    except (IndexError, struct.error):
        raise DecodeError(UNEXPECTED_END, len(buf)) from None
    if pos != len(buf):
        raise DecodeError("section size mismatch", 0)
    return instrs


def _plain_locals(buf: bytes, pos: int) -> Optional[tuple]:
    """``(locals, end)`` of the locals declaration at ``pos`` when it is of the common form
    (a count below 128, each entry's count below 16,384 and a one-byte value type, within
    :data:`MAX_LOCALS`), else None: :meth:`_ModuleDecoder.locals` then reads it, with its
    errors.  Only ever gives what that method gives."""
    n = buf[pos]
    if n >= 0x80 or 2 * n > len(buf) - pos:
        return None
    pos += 1
    out: list = []
    valtype = BYTE_VALTYPE.get
    for _ in range(n):
        count = buf[pos]
        if count < 0x80:
            pos += 1
        elif buf[pos + 1] < 0x80:
            count = (count & 0x7F) | buf[pos + 1] << 7
            pos += 2
        else:
            return None
        t = valtype(buf[pos])
        if t is None:
            return None
        pos += 1
        out += [t] * count
        if len(out) > MAX_LOCALS:
            return None
    return out, pos


# ============================================================================================
# Module structure
# ============================================================================================

class _Reader:
    """A position in a buffer, with readers for the binary format's non-instruction syntax."""

    __slots__ = ("buf", "pos", "const_ctx")

    def __init__(self, buf: bytes, pos: int = 0, const_ctx: _BodyContext = _CONST_CONTEXT):
        self.buf = buf
        self.pos = pos
        self.const_ctx = const_ctx

    def byte(self) -> int:
        b = self.buf[self.pos]
        self.pos += 1
        return b

    def u32(self) -> int:
        v, self.pos = read_u32(self.buf, self.pos)
        return v

    def len32(self) -> int:
        n, self.pos = _len32(self.buf, self.pos)
        return n

    def raw(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.buf):
            raise DecodeError(UNEXPECTED_END, len(self.buf))
        start = self.pos
        self.pos = start + n
        return self.buf[start:self.pos]

    def name(self) -> str:
        start = self.pos
        raw = self.raw(self.len32())
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise DecodeError("malformed UTF-8 encoding", start) from None

    def value_type(self) -> str:
        t, self.pos = _value_type(self.buf, self.pos)
        return t

    def ref_type(self) -> str:
        t, self.pos = _ref_type(self.buf, self.pos)
        return t

    def limits(self, memory64: bool, bits: int = 32, shared: bool = False) -> tuple:
        """``(Limits, is_64, is_shared)``.  With memory64 the flags are a byte, 0x04 marking a
        64-bit memory or table (whose bounds are u64) and 0x01 a maximum; ``bits`` is the
        width of the other bounds.  ``shared`` (threads, memories only) allows flag 0x02, a
        shared memory.  In 2.0 the flag is a u1 LEB128."""
        buf = self.buf
        if memory64 or shared:
            pos = self.pos
            flags = buf[pos]
            if flags & ~((0x05 if memory64 else 0x01) | (0x02 if shared else 0)):
                raise DecodeError("malformed limits flags", pos)
            self.pos = pos + 1
            has_max = flags & 1
            is_64 = bool(flags & 4)
            if is_64:
                bits = 64
        else:
            # The flag is a u1 LEB128 (so 0x02 is "integer too large", 0x81 0x00 "too long").
            has_max, self.pos = read_unsigned(buf, self.pos, 1)
            is_64 = False
            flags = 0
        lo, self.pos = read_unsigned(buf, self.pos, bits)
        hi = None
        if has_max:
            hi, self.pos = read_unsigned(buf, self.pos, bits)
        return Limits(lo, hi), is_64, bool(flags & 2)

    def memory_type(self, memory64: bool, threads: bool = False) -> MemoryType:
        # With memory64 the bounds of 32-bit memories are u64 too (checked by validation).
        limits, is_64, shared = self.limits(memory64, 64 if memory64 else 32, threads)
        return MemoryType(limits, is_64=is_64, shared=shared)

    def table_type(self, memory64: bool) -> TableType:
        t = self.ref_type()
        limits, is_64, _ = self.limits(memory64)
        return TableType(t, limits, is_64=is_64)

    def tag_type(self) -> int:
        """A tag type (exception handling): attribute byte 0 (an exception), type index."""
        pos = self.pos
        if self.byte() != 0x00:
            raise DecodeError("malformed tag attribute", pos)
        return self.u32()

    def global_type(self) -> GlobalType:
        t = self.value_type()
        pos = self.pos
        mut = self.byte()
        if mut > 1:
            raise DecodeError("malformed mutability", pos)
        return GlobalType(t, mut == 1)

    def const_expr(self) -> list:
        buf, pos = self.buf, self.pos
        # The commonest constant expression, `i32.const n end` (segment offsets: a Go module
        # has ~100,000 data segments), read without the general instruction loop; it reads
        # the same bytes with the same reader, so errors are the same.
        if buf[pos] == 0x41:
            v, end = read_s32(buf, pos + 1)
            if buf[end] == 0x0B:
                self.pos = end + 1
                return [(_I32_CONST, v), _END_INSTR]
        instrs, self.pos = _read_expr(buf, pos, None, self.const_ctx)
        return instrs

    def funcidx_expr(self) -> list:
        x = self.u32()
        return [(_REF_FUNC, x), _END_INSTR]

    def funcidx_exprs(self) -> list:
        """A vector of :meth:`funcidx_expr` (an element segment's functions), the short
        LEB128s read inline: yosys's 10,265 on every warm run."""
        buf, pos = self.buf, self.pos
        n, pos = _len32(buf, pos)
        out = []
        for _ in range(n):
            b = buf[pos]
            if b < 0x80:
                x = b
                pos += 1
            elif buf[pos + 1] < 0x80:
                x = (b & 0x7F) | buf[pos + 1] << 7
                pos += 2
            elif buf[pos + 2] < 0x80:
                x = (b & 0x7F) | (buf[pos + 1] & 0x7F) << 7 | buf[pos + 2] << 14
                pos += 3
            else:
                x, pos = read_u32(buf, pos)
            out.append([(_REF_FUNC, x), _END_INSTR])
        self.pos = pos
        return out

    def vec(self, read) -> list:
        return [read() for _ in range(self.len32())]

    def namemap(self) -> dict:
        out = {}
        buf = self.buf
        total = len(buf)
        for _ in range(self.len32()):
            # An entry as nearly every one is (an index of one or two bytes, a name shorter
            # than 128 bytes within the buffer) is read inline, any other by the readers, with
            # their errors: the Go benchmark program's 5,168 function names took a warm run
            # 6 ms in their calls.
            pos = self.pos
            b = buf[pos]
            if b < 0x80:
                idx, at = b, pos + 1
            elif buf[pos + 1] < 0x80:
                idx, at = (b & 0x7F) | buf[pos + 1] << 7, pos + 2
            else:
                idx = at = -1
            n = buf[at] if at >= 0 else 0x80
            if n < 0x80 and at + 1 + n <= total:
                try:
                    out[idx] = buf[at + 1:at + 1 + n].decode("utf-8")
                except UnicodeDecodeError:
                    raise DecodeError("malformed UTF-8 encoding", at) from None
                self.pos = at + 1 + n
                continue
            idx = self.u32()
            out[idx] = self.name()
        return out


#: What a data segment not read is (decode_module's ``skip_data``): active, empty, no offset.
SKIPPED_DATA = Data(b"", ACTIVE, 0, None)


class _ModuleDecoder:
    """Decodes the sections of one binary, in order, into a :class:`Module`."""

    #: Whether the commonest forms of a code entry's size and locals and of an element
    #: segment's function indexes are read inline; False reads them all by the readers
    #: (tests/binary/test_decode.py compares the two on mutated bytes).
    inline = True

    def __init__(self, buf: bytes, progress, lazy: Optional[bool], features=DEFAULT_FEATURES,
                 strict: bool = False):
        self.memory64 = "memory64" in features
        self.multi_memory = "multi-memory" in features
        # threads: the shared flag (0x02) of memory limits, read with threads on and, unless
        # strict, wherever the flags are a byte (the validator names a switched-off threads).
        self.threads = "threads" in features or (not strict and self.memory64)
        self.buf = buf
        # With ``features`` given, the encodings of the proposals not in it are malformed.
        # ``strict``: the encodings of the proposals not in ``features`` are malformed.
        self.kinds, const_ctx = _formats(features if strict else None)
        self.v20 = strict and "exceptions" not in features      # no tags
        self.r = _Reader(buf, 0, const_ctx)
        self.progress = progress
        self.lazy = lazy
        self.m = Module()
        self.func_types: list = []
        self.bodies: list = []          # (locals, body, code, code_offset, body_offset) per entry
        self.body_ctx: Optional[_BodyContext] = None
        self.names_done = False
        self.skip_data = False          # decode_module(skip_data=True)

    # ----- the module (spec 5.5.16) -----

    def module(self) -> Module:
        buf = self.buf
        if len(buf) < 4:
            raise DecodeError("unexpected end", len(buf))
        if buf[:4] != _MAGIC:
            raise DecodeError("magic header not detected", 0)
        if len(buf) < 8:
            raise DecodeError("unexpected end", len(buf))
        if buf[4:8] != _VERSION:
            raise DecodeError("unknown binary version", 4)
        r = self.r
        r.pos = 8
        last_rank = 0
        last_id = 0
        handlers = {
            1: self.type_section, 2: self.import_section, 3: self.function_section,
            4: self.table_section, 5: self.memory_section, 6: self.global_section,
            7: self.export_section, 8: self.start_section, 9: self.element_section,
            10: self.code_section, 11: self.data_section, 12: self.data_count_section,
            13: self.tag_section,
        }
        n = len(buf)
        while r.pos < n:
            id_pos = r.pos
            sid = buf[id_pos]
            if sid > _LAST_SECTION_ID or (sid == 13 and self.v20):
                raise DecodeError("malformed section id", id_pos)
            r.pos += 1
            if sid:
                rank = _SECTION_RANK[sid]
                if rank <= last_rank:
                    raise DecodeError("unexpected content after last section", id_pos)
                last_rank = rank
            size = r.len32()
            start = r.pos
            if sid:
                handlers[sid](size)
                last_id = sid
            else:
                self.custom_section(size, last_id)
            if r.pos != start + size:
                raise DecodeError("section size mismatch", start)
        return self.finish()

    def finish(self) -> Module:
        m = self.m
        n = len(self.buf)
        if len(self.func_types) != len(self.bodies):
            raise DecodeError("function and code section have inconsistent lengths", n)
        if m.data_count is not None and m.data_count != len(m.datas):
            raise DecodeError("data count and data section have inconsistent lengths", n)
        if self.body_ctx is not None and self.body_ctx.uses_data:
            raise DecodeError("data count section required", n)
        decode = _streaming_decoder(self.buf, self.body_ctx) if self.body_ctx is not None else None
        funcs, new = m.funcs, Func.__new__
        for typeidx, (locals_, body, code, offset, start) in zip(self.func_types, self.bodies):
            # Eagerly decoded bodies keep the view of their bytes too (it costs no copy), so
            # a validation error can be reported at its byte offset (Func.source_offset).
            # Func.__init__'s assignments made here (``locals_`` is this function's own list):
            # half the cost of the call with keywords, for yosys's 34,004 functions on every
            # warm run (tests/binary/test_decode.py checks every slot against __init__'s).
            f = new(Func)
            f.typeidx, f.locals, f._body, f._code = typeidx, locals_, body, code
            f.code_offset, f._decode, f.body_offset = offset, decode, start
            funcs.append(f)
        return m

    # ----- sections (spec 5.5.3 - 5.5.15) -----

    def custom_section(self, size: int, after: int) -> None:
        r = self.r
        start = r.pos
        name = r.name()
        data = r.raw(size - (r.pos - start))
        if name == "name" and not self.names_done:
            names = _decode_names(data)
            if names is not None:
                self.m.names = names
                self.names_done = True
                return
        self.m.customs.append(Custom(name, data, after))

    def type_section(self, size: int) -> None:
        r = self.r
        m = self.m
        for _ in range(r.len32()):
            if r.buf[r.pos] == 0x4E:
                # GC proposal: a recursive group ``0x4e vec(subtype)`` (spec 5.3.8)
                r.pos += 1
                start = len(m.types)
                for _ in range(r.len32()):
                    self._subtype()
                if len(m.types) - start > 1:
                    m.rec_groups.append((start, len(m.types) - start))
            else:
                self._subtype()

    def _subtype(self) -> None:
        r = self.r
        b = r.buf[r.pos]
        if b == 0x50 or b == 0x4F:
            # ``sub`` (0x50) / ``sub final`` (0x4f) vec(typeidx) comptype
            r.pos += 1
            supers = tuple(r.vec(r.u32))
            self.m.subtypes[len(self.m.types)] = (b == 0x4F, supers)
        self.m.types.append(self._comptype())

    def _comptype(self):
        r = self.r
        pos = r.pos
        form = r.byte()
        if form == 0x60:
            params = r.vec(r.value_type)
            results = r.vec(r.value_type)
            return FuncType(params, results)
        if form == 0x5F:
            return StructType(r.vec(self._fieldtype))
        if form == 0x5E:
            return ArrayType(self._fieldtype())
        if form & 0x80:
            raise DecodeError(TOO_LONG, pos + 1)
        raise DecodeError("malformed function type", pos)

    def _fieldtype(self) -> FieldType:
        r = self.r
        b = r.buf[r.pos]
        if b == 0x78 or b == 0x77:
            r.pos += 1
            storage = "i8" if b == 0x78 else "i16"
        else:
            storage = r.value_type()
        pos = r.pos
        mut = r.byte()
        if mut > 1:
            raise DecodeError("malformed mutability", pos)
        return FieldType(storage, mut == 1)

    def import_section(self, size: int) -> None:
        r = self.r
        imports = self.m.imports
        for _ in range(r.len32()):
            module = r.name()
            name = r.name()
            pos = r.pos
            kind = r.byte()
            if kind == 0:
                imports.append(Import(module, name, FUNC, r.u32()))
            elif kind == 1:
                imports.append(Import(module, name, TABLE, r.table_type(self.memory64)))
            elif kind == 2:
                imports.append(Import(module, name, MEMORY, r.memory_type(self.memory64, self.threads)))
            elif kind == 3:
                imports.append(Import(module, name, GLOBAL, r.global_type()))
            elif kind == 4 and not self.v20:
                imports.append(Import(module, name, TAG, r.tag_type()))   # exception handling
            else:
                raise DecodeError("malformed import kind", pos)

    def function_section(self, size: int) -> None:
        self.func_types = self.r.vec(self.r.u32)

    def table_section(self, size: int) -> None:
        r = self.r
        tables = []
        for _ in range(r.len32()):
            if r.buf[r.pos] == 0x40:
                # function-references: 0x40 0x00 tabletype expr, a table with an initialiser.
                r.pos += 1
                pos = r.pos
                if r.byte() != 0:
                    raise DecodeError("malformed table", pos)
                tt = r.table_type(self.memory64)
                tables.append(Table(tt, r.const_expr()))
            else:
                tables.append(Table(r.table_type(self.memory64)))
        self.m.tables = tables

    def memory_section(self, size: int) -> None:
        r = self.r
        self.m.mems = [Memory(r.memory_type(self.memory64, self.threads)) for _ in range(r.len32())]

    def global_section(self, size: int) -> None:
        r = self.r
        out = self.m.globals
        for _ in range(r.len32()):
            gt = r.global_type()
            out.append(Global(gt, r.const_expr()))

    def export_section(self, size: int) -> None:
        r = self.r
        out = self.m.exports
        for _ in range(r.len32()):
            name = r.name()
            pos = r.pos
            kind = r.byte()
            if kind > 4 or (kind == 4 and self.v20):
                raise DecodeError("malformed export kind", pos)
            out.append(Export(name, (FUNC, TABLE, MEMORY, GLOBAL, TAG)[kind], r.u32()))

    def tag_section(self, size: int) -> None:
        r = self.r
        self.m.tags = [Tag(r.tag_type()) for _ in range(r.len32())]

    def start_section(self, size: int) -> None:
        self.m.start = self.r.u32()

    def element_section(self, size: int) -> None:
        # Eight encodings (spec 5.5.12): bit 0 = passive or declarative, bit 1 = explicit
        # table index (active) or declarative, bit 2 = expressions instead of function indexes.
        r = self.r
        out = self.m.elems
        for _ in range(r.len32()):
            pos = r.pos
            kind = r.u32()
            if kind > 7:
                raise DecodeError("malformed elements segment kind", pos)
            table = 0
            offset = None
            if kind & 1:
                mode = DECLARATIVE if kind & 2 else PASSIVE
            else:
                mode = ACTIVE
                if kind & 2:
                    table = r.u32()
                offset = r.const_expr()
            if kind & 4:
                etype = r.ref_type() if kind & 3 else FUNCREF
                init = r.vec(r.const_expr)
            else:
                if kind & 3:
                    pos = r.pos
                    if r.byte() != 0x00:
                        raise DecodeError("malformed element kind", pos)
                etype = FUNCREF
                init = r.funcidx_exprs() if self.inline else r.vec(r.funcidx_expr)
            out.append(Elem(etype, init, mode, table, offset, not kind & 4))

    def data_count_section(self, size: int) -> None:
        self.m.data_count = self.r.u32()

    def data_section(self, size: int) -> None:
        r = self.r
        if self.skip_data:
            start = r.pos
            self.m.datas = [SKIPPED_DATA] * r.len32()
            r.pos = start + size
            return
        out = self.m.datas
        for _ in range(r.len32()):
            pos = r.pos
            kind = r.u32()
            if kind == 0:
                offset = r.const_expr()
                out.append(Data(r.raw(r.len32()), ACTIVE, 0, offset))
            elif kind == 1:
                out.append(Data(r.raw(r.len32()), PASSIVE))
            elif kind == 2:
                mem = r.u32()
                offset = r.const_expr()
                out.append(Data(r.raw(r.len32()), ACTIVE, mem, offset))
            else:
                raise DecodeError("malformed data segment kind", pos)

    def code_section(self, size: int) -> None:
        r = self.r
        self.m.code_section_offset = r.pos
        buf = self.buf
        lazy = self.lazy if self.lazy is not None else size >= LAZY_THRESHOLD
        ctx = self.body_ctx = _BodyContext(self.m.data_count is not None, lazy,
                                           64 if self.memory64 else 32, self.multi_memory, self.kinds)
        view = memoryview(buf)
        progress = self.progress
        total = len(buf)
        next_report = r.pos + LAZY_THRESHOLD
        bodies = self.bodies
        inline = self.inline
        for _ in range(r.len32()):
            # An entry's size and locals as nearly every entry has them (short LEB128s,
            # plain value types) are read inline, anything else by the readers: a warm run
            # of yosys (34,004 entries, bodies left raw) spent 0.1 s in their calls.
            pos = r.pos
            b = buf[pos]
            if not inline:
                entry_size = -1
            elif b < 0x80:
                entry_size, entry = b, pos + 1
            elif buf[pos + 1] < 0x80:
                entry_size, entry = (b & 0x7F) | buf[pos + 1] << 7, pos + 2
            elif buf[pos + 2] < 0x80:
                entry_size = (b & 0x7F) | (buf[pos + 1] & 0x7F) << 7 | buf[pos + 2] << 14
                entry = pos + 3
            else:
                entry_size = -1
            if 0 <= entry_size <= total - pos:
                r.pos = entry
            else:
                entry_size = r.len32()
                entry = r.pos
            end = entry + entry_size
            n = buf[entry]
            if not inline:
                plain = None
            elif n == 0:
                plain = [], entry + 1
            elif n == 1 and buf[entry + 1] < 0x80 and buf[entry + 2] in BYTE_VALTYPE:
                # (one entry of fewer than 128 locals: yosys's 24,704 of 34,004)
                plain = [BYTE_VALTYPE[buf[entry + 2]]] * buf[entry + 1], entry + 3
            else:
                plain = _plain_locals(buf, entry)
            if plain is None:
                locals_ = self.locals()
            else:
                locals_, r.pos = plain
            pos = r.pos
            if lazy:
                if pos > end:
                    raise DecodeError("section size mismatch", entry)
                bodies.append((locals_, None, view[pos:end], pos, entry))
                r.pos = end
            else:
                body, r.pos = _read_expr(buf, pos, None, ctx)
                if r.pos != end:
                    raise DecodeError("section size mismatch", entry)
                bodies.append((locals_, body, view[pos:end], pos, entry))
            if progress is not None and r.pos >= next_report:
                progress(r.pos, total)
                next_report = r.pos + LAZY_THRESHOLD
        if progress is not None:
            progress(r.pos, total)

    def locals(self) -> list:
        """The locals of a code section entry (spec 5.5.13), at the reader's position."""
        r = self.r
        start = r.pos
        entries = [(r.u32(), r.value_type()) for _ in range(r.len32())]
        if sum(n for n, _ in entries) > MAX_LOCALS:
            raise DecodeError("too many locals", start)
        out = []
        for n, t in entries:
            out += [t] * n
        return out


def _decode_names(data: bytes) -> Optional[Names]:
    """Decode the payload of a ``name`` custom section (spec 7.4.1 and the extended name
    section), or return ``None`` when it is malformed: custom section contents are not part
    of a module's well-formedness, so a bad name section is kept as a plain custom section."""
    r = _Reader(data)
    names = Names()
    last = -1
    try:
        while r.pos < len(data):
            sid = r.byte()
            size = r.len32()
            end = r.pos + size
            if sid <= last:
                return None         # subsections come at most once, in increasing order
            last = sid
            if sid == 0:
                names.module = r.name()
            elif sid == 1:
                names.funcs = r.namemap()
            elif sid == 2:
                for _ in range(r.len32()):
                    func = r.u32()
                    names.locals[func] = r.namemap()
            elif sid in _NAME_MAPS:
                setattr(names, _NAME_MAPS[sid], r.namemap())
            else:
                r.pos = end         # labels (3) and subsections of later proposals
            if r.pos != end:
                return None
    except (DecodeError, IndexError):
        return None
    return names


_FORMATS: dict = {None: (_KIND, _CONST_CONTEXT), frozenset(): (_KIND_20, _CONST_CONTEXT_20)}


def _formats(features):
    """(opcode dispatch table, constant-expression context) of the binary format with the
    single-byte opcodes of ``features`` only (every known one for ``None``)."""
    entry = _FORMATS.get(features)
    if entry is None:
        kinds = [_K_ILLEGAL if o is not None and o.feature is not None and o.feature not in features
                 else k for o, k in zip(SINGLE, _KIND)]
        entry = _FORMATS[features] = (kinds, _BodyContext(True, False, kinds=kinds))
    return entry


def decode_module(data, *, progress: Optional[Callable[[int, int], None]] = None,
                  lazy: Optional[bool] = None, features: FrozenSet[str] = DEFAULT_FEATURES,
                  strict: bool = False, skip_data: bool = False) -> Module:
    """Decode a binary module (spec 5.5.16).

    ``data`` is ``bytes`` or any buffer (``bytearray``, ``memoryview``).  ``lazy`` chooses how
    function bodies are held: ``False`` decodes every body now, ``True`` keeps each body's raw
    bytes and decodes it on use, ``None`` (default) decodes eagerly unless the code section is
    at least ``LAZY_THRESHOLD`` bytes.  ``progress(done_bytes, total_bytes)`` is called now
    and then while a large code section is read.  ``features`` (wasmforge.features) choose
    between the 2.0 binary format and the memory64 / multi-memory one where they differ
    (memarg offsets and memory bounds u32 or u64, memory indexes or reserved zero bytes).

    Every encoding the decoder knows is read whatever proposals are switched on (the
    validator refuses a switched-off proposal, by name).  Only ``features`` given (a set of
    proposal names) makes the decoder read the binary format of those proposals alone: the
    single-byte opcodes of the others are illegal opcodes and, without "exceptions", the tag
    section and import/export kind 4 are malformed, as the spec scripts written before those
    proposals expect (``frozenset()``: the WebAssembly 2.0 format, for the 2.0 suite).

    ``skip_data``: the data section is not read, only its count: ``datas`` holds that many
    references to :data:`SKIPPED_DATA` (an active segment with no bytes and no offset).  Only
    for a module known valid whose segments were all active and whose initial memory the
    caller has from elsewhere (the llvm tier's module cache: a Go program's 86,137 segments
    took a tenth of its warm run to decode).

    Raises :class:`DecodeError` with the spec test suite's message and the byte offset.
    """
    buf = data if type(data) is bytes else bytes(data)
    try:
        with _gc_paused():
            decoder = _ModuleDecoder(buf, progress, lazy, features, strict)
            decoder.skip_data = skip_data
            return decoder.module()
    except (IndexError, struct.error):
        raise DecodeError(UNEXPECTED_END, len(buf)) from None


__all__ = ["decode_module", "LAZY_THRESHOLD", "MAX_LOCALS", "SKIPPED_DATA", "raw_body_context",
           "decode_raw_body"]
