"""The fast path of function body validation: decode and type a raw binary body in one pass.

:func:`check_body` reads a function body straight from the bytes of the binary and types it
with the algorithm of spec A.3, without building an instruction tuple per instruction (the
streaming decoder and the general loop of :mod:`.validate` cost about 1.6 us an instruction
between them; this loop about a fifth of that).

It is only a fast path.  It never reports an error itself: whatever it does not handle in
its tight loop (rare instructions, a malformed immediate, any rule broken) makes it give up
on the whole body and return ``None``, and the caller validates that body again with the
general loop, which produces the exact message and offset (decoding errors first, as the
streaming decoder would).  So this loop only needs to be *at least as strict* as the
general one, and agree with it on the maximum stack height of every body it accepts: it
keeps the same operand stack (value type strings, ``None`` for Unknown) and frames and
calls the same helpers for the unusual cases (pops under a polymorphic stack).

Type strings are compared with ``is``: a body whose types are equal but not identical
strings only fails the fast test and is then checked with ``==`` by the helpers.

The dispatch tables are derived from the one opcode table (:mod:`wasmforge.opcodes`).
"""

from __future__ import annotations

from ..binary.leb128 import read_signed, read_unsigned
from ..errors import DecodeError
from ..opcodes import CATCH_ALL, CATCH_ALL_REF, CATCH_REF, PREFIXED, SINGLE
from ..types import BYTE_VALTYPE, EXNREF, EXTERNREF, F32, F64, FUNCREF, I32, I64, V128

__all__ = ["check_body"]

# The canonical (interned) type strings, so that ``is`` works on types from the opcode table.
_CANON = {t: t for t in (I32, I64, F32, F64, V128, FUNCREF, EXTERNREF, EXNREF)}

# Dispatch kinds of the fused loop, numbered roughly by frequency in compiled code (the loop
# tests them in that order).  The exception-handling proposal's try_table, throw and
# throw_ref come last (only with the proposal on: ``_tables``).
(K_BAIL, K_LOCAL_GET, K_I32_CONST, K_BINARY, K_LOCAL_SET, K_LOCAL_TEE, K_END, K_BR_IF,
 K_BLOCK, K_LOAD, K_STORE, K_I64_CONST, K_BR, K_CALL, K_LOOP, K_UNARY, K_SELECT, K_IF,
 K_GLOBAL_GET, K_GLOBAL_SET, K_DROP, K_RETURN, K_CALL_INDIRECT, K_ELSE, K_FIXED, K_BR_TABLE,
 K_UNREACHABLE, K_F32_CONST, K_F64_CONST, K_MEMORY_SIZE, K_MEMORY_GROW, K_PREFIX_FC,
 K_TRY_TABLE, K_THROW, K_THROW_REF, K_PREFIX_FD) = range(36)
# The loop tests kinds as literals (faster than globals); they must keep these values.
if (K_BINARY, K_LOCAL_SET, K_LOCAL_TEE, K_END, K_BR_IF, K_BLOCK, K_LOAD, K_STORE, K_I64_CONST,
        K_BR, K_CALL, K_LOOP, K_UNARY, K_SELECT, K_IF, K_GLOBAL_GET, K_GLOBAL_SET, K_DROP,
        K_RETURN, K_CALL_INDIRECT, K_ELSE, K_FIXED, K_BR_TABLE, K_UNREACHABLE, K_F32_CONST,
        K_F64_CONST, K_MEMORY_SIZE, K_MEMORY_GROW, K_PREFIX_FC, K_TRY_TABLE, K_THROW,
        K_THROW_REF, K_PREFIX_FD) != tuple(range(3, 36)):
    raise ImportError("valid/fast.py: the kind numbers and the loop's literals disagree")

_BY_NAME = {
    "local.get": K_LOCAL_GET, "i32.const": K_I32_CONST, "local.set": K_LOCAL_SET,
    "local.tee": K_LOCAL_TEE, "end": K_END, "br_if": K_BR_IF, "block": K_BLOCK,
    "i64.const": K_I64_CONST, "br": K_BR, "call": K_CALL, "loop": K_LOOP, "if": K_IF,
    "global.get": K_GLOBAL_GET, "global.set": K_GLOBAL_SET, "drop": K_DROP, "return": K_RETURN,
    "call_indirect": K_CALL_INDIRECT, "else": K_ELSE, "br_table": K_BR_TABLE,
    "unreachable": K_UNREACHABLE, "f32.const": K_F32_CONST, "f64.const": K_F64_CONST,
    "memory.size": K_MEMORY_SIZE, "memory.grow": K_MEMORY_GROW,
    "try_table": K_TRY_TABLE, "throw": K_THROW, "throw_ref": K_THROW_REF,
}
# The proposal's instructions the fused loop types when the proposal is on.
_EXCEPTION_KINDS = frozenset((K_TRY_TABLE, K_THROW, K_THROW_REF))


def _sig(o) -> tuple:
    """(p0, p1, r0, params, results) of a fixed-signature op, canonical strings, lists."""
    params = [_CANON[t] for t in o.params]
    results = [_CANON[t] for t in o.results]
    p0 = params[0] if params else None
    p1 = params[1] if len(params) > 1 else None
    r0 = results[0] if results else None
    return (p0, p1, r0, params, results)


def _kind(o) -> int:
    """The fused loop's kind for an instruction, K_BAIL for those it leaves to the general
    loop (table, reference and vector instructions, typed select, data segment access)."""
    if o.name == "select":
        return K_SELECT if o.imm == "-" else K_BAIL
    k = _BY_NAME.get(o.name)
    if k is not None:
        return k
    if o.params is None:
        return K_BAIL
    if o.imm == "memarg":
        if len(o.params) == 1 and len(o.results) == 1:
            return K_LOAD
        if len(o.params) == 2 and not o.results:
            return K_STORE
        return K_BAIL
    if o.imm != "-" or V128 in o.params or V128 in o.results:
        return K_BAIL
    if len(o.results) == 1 and len(o.params) == 1:
        return K_UNARY
    if len(o.results) == 1 and len(o.params) == 2 and o.params[0] == o.params[1]:
        return K_BINARY
    return K_FIXED


def _tables(with_memory: bool, with_exceptions: bool) -> list:
    """Per opcode byte: (kind, p0, p1, r0, params, results, align).  Without a memory, every
    instruction that needs one is left to the general loop (which reports it); so is every
    proposal's instruction, except exception handling's try_table, throw and throw_ref
    when ``with_exceptions`` (the proposal is switched on)."""
    table = []
    for o in SINGLE:
        if o is None:
            table.append((K_BAIL, None, None, None, None, None, 0))
            continue
        k = _kind(o)
        if not with_memory and (o.imm in ("memarg", "memidx")):
            k = K_BAIL
        if o.feature is not None and not (with_exceptions and k in _EXCEPTION_KINDS):
            k = K_BAIL      # a proposal's instruction: the general loop checks its switch
        if o.params is not None:
            table.append((k,) + _sig(o) + (o.align or 0,))
        else:
            table.append((k, None, None, None, None, None, 0))
    table[0xFC] = (K_PREFIX_FC, None, None, None, None, None, 0)
    table[0xFD] = (K_PREFIX_FD, None, None, None, None, None, 0)
    return table


# 0xFC sub-opcodes the fused loop types: fixed signatures without immediates (the
# saturating truncations), and memory.copy / memory.fill with their reserved zero bytes.
_FC_FIXED = {code: _sig(o) for code, o in PREFIXED[0xFC].items()
             if o.params is not None and o.imm == "-" and o.feature is None}
_FC_MEMORY = {code: 2 if o.imm == "memory.copy" else 1       # reserved zero bytes
              for code, o in PREFIXED[0xFC].items()
              if o.name in ("memory.copy", "memory.fill")}
# 0xFD sub-opcodes (the vector instructions of 2.0; relaxed-simd's are left to the general
# loop): (shape, params, results, alignment, lanes), shapes by immediate.
V_FIXED, V_MEMARG, V_MEMARG_LANE, V_LANE, V_CONST, V_SHUFFLE = range(6)
_V_SHAPES = {"-": V_FIXED, "memarg": V_MEMARG, "memarg_lane": V_MEMARG_LANE, "laneidx": V_LANE,
             "v128": V_CONST, "shuffle": V_SHUFFLE}
_FD = {code: (_V_SHAPES[o.imm], *_sig(o)[3:], o.align or 0, o.lanes or 0)
       for code, o in PREFIXED[0xFD].items()
       if o.params is not None and o.feature is None and o.imm in _V_SHAPES}
_I32X3 = [I32, I32, I32]
_I32_LIST = [I32]
_EXNREF_LIST = [EXNREF]
_NUMERIC = frozenset((I32, I64, F32, F64, V128))

# Frame kinds and layout, shared with the general loop.
_F_BLOCK, _F_LOOP, _F_IF, _F_ELSE = range(4)


class _Bail(Exception):
    """Internal: leave this body to the general loop."""


# Per-byte columns of the tables, for the loop's locals.
def _column(table: list, i: int) -> list:
    return [row[i] for row in table]


# Keyed by (the module has a memory, the exception-handling proposal is on).
_COLUMNS = {(m, e): tuple(_column(_tables(m, e), i) for i in range(7))
            for m in (True, False) for e in (True, False)}
# The opcodes tested before the kind table (the commonest two in compiled code).
_LOCAL_GET_BYTE = next(o.code for o in SINGLE if o is not None and o.name == "local.get")
_I32_CONST_BYTE = next(o.code for o in SINGLE if o is not None and o.name == "i32.const")
_EMPTY_SIG: list = []
_FLOOR = object()               # the operand stack's marker under each frame's operands


def _leb(chunk: list, it, reader, bits: int) -> int:
    """The rest of a LEB128 number whose first bytes are ``chunk`` (the last read so far
    ``>= 0x80``): read up to its last byte, then decode it with the binary decoder's own
    reader, so the same encodings are accepted (any error bails)."""
    while chunk[-1] >= 0x80:
        if len(chunk) >= 10:
            raise _Bail
        chunk.append(next(it))
    return reader(bytes(chunk), 0, bits)[0]


def _last_bytes(reader, bits: int, n: int) -> frozenset:
    """The bytes allowed as the n-th (last possible) byte of a LEB128 number, asked of the
    decoder's reader: only that byte is constrained (unused bits, no continuation), and the
    constraint does not depend on the bytes before it."""
    ok = set()
    for b in range(256):
        try:
            reader(bytes([0x80] * (n - 1) + [b]), 0, bits)
        except (DecodeError, IndexError):
            continue
        ok.add(b)
    return frozenset(ok)


_U32_LAST = _last_bytes(read_unsigned, 32, 5)
_S32_LAST = _last_bytes(read_signed, 32, 5)
_S64_LAST = _last_bytes(read_signed, 64, 10)


def _u32(b: int, it) -> int:
    """A u32 whose first byte ``b`` is ``>= 0x80``, read inline (function indexes and
    addresses often take three bytes)."""
    c = next(it)
    if c < 0x80:
        return (b & 0x7F) | (c << 7)
    d = next(it)
    if d < 0x80:
        return (b & 0x7F) | ((c & 0x7F) << 7) | (d << 14)
    e = next(it)
    if e < 0x80:
        return (b & 0x7F) | ((c & 0x7F) << 7) | ((d & 0x7F) << 14) | (e << 21)
    f = next(it)
    if f not in _U32_LAST:
        raise _Bail
    return (b & 0x7F) | ((c & 0x7F) << 7) | ((d & 0x7F) << 14) | ((e & 0x7F) << 21) | (f << 28)


def _skip_s32(it) -> None:
    """Skip the rest of an s32 whose first byte was ``>= 0x80``: the value does not matter
    for typing, only that it is well formed."""
    for _ in range(3):
        if next(it) < 0x80:
            return
    if next(it) not in _S32_LAST:
        raise _Bail


def _skip_s64(it) -> None:
    """Like :func:`_skip_s32`, for an s64 (ten bytes at most)."""
    for _ in range(8):
        if next(it) < 0x80:
            return
    if next(it) not in _S64_LAST:
        raise _Bail


def check_body(body: bytes, locals_: list, results: list, ctx,
               pop_types, pop_any, pop_keep) -> "int | None":
    """Validate ``body``, the bytes of a function body from its first instruction to its
    final ``end``; return its maximum operand stack height, or ``None`` if the body is to be
    validated by the general loop instead (it may well be valid: see the module docstring).

    ``ctx`` is the validator's context; ``pop_types``, ``pop_any`` and ``pop_keep`` its
    stack helpers (which raise on a broken rule)."""
    try:
        return _check(body, locals_, results, ctx, pop_types, pop_any, pop_keep)
    except Exception:
        # Deliberately broad: any failure here (a rule broken, an index out of range, a
        # malformed immediate, running off the body) only means "not proven valid by the
        # fast path"; the general loop then decides and reports with the exact message.
        return None


def _check(body, locals_, results, ctx, pop_types, pop_any, pop_keep):
    nmems = ctx.nmems
    kinds, p0s, p1s, r0s, plists, rlists, aligns = _COLUMNS[bool(nmems), "exceptions" in ctx.features]
    func_sigs, globals_, type_sigs = ctx.func_sigs, ctx.globals, ctx.type_sigs
    tables = ctx.tables
    blocktypes, blocktype = ctx.blocktypes, ctx.blocktype
    valtype = BYTE_VALTYPE
    i32 = I32
    floor = _FLOOR
    local_get, i32_const = _LOCAL_GET_BYTE, _I32_CONST_BYTE
    u32 = _u32
    nxt = next
    ln = len

    # The operand stack holds a floor marker under each frame's operands (frame[3], ``h``,
    # is the height just above it), so the fast tests ``vals[-1] is t`` fail at a frame's
    # bottom by themselves, without comparing heights.  ``raw`` is the greatest length of
    # ``vals`` since the number of floors (``depth``) last changed; the greatest operand
    # height is folded into ``maxh`` whenever it changes.
    vals: list = [floor]
    push = vals.append
    pop = vals.pop
    frame = [_F_BLOCK, results, results, 1, False, _EMPTY_SIG]
    ctrls = [frame]
    h = 1
    depth = 1
    raw = 1
    maxh = 0
    it = iter(body)
    # The kinds are tested as literals (numbers in comments), most frequent first.
    for b in it:
        if b == local_get:
            x = nxt(it)
            if x >= 0x80:
                x = u32(x, it)
            push(locals_[x])
            if ln(vals) > raw:
                raw = ln(vals)
            continue
        if b == i32_const:
            x = nxt(it)
            if x >= 0x80:
                _skip_s32(it)
            push(i32)
            if ln(vals) > raw:
                raw = ln(vals)
            continue
        k = kinds[b]
        if k == 3:                                              # K_BINARY
            p0 = p0s[b]
            if vals[-1] is p0 and vals[-2] is p0:
                pop()
                vals[-1] = r0s[b]
            else:
                pop_types(vals, frame, plists[b], "")
                push(r0s[b])
                if ln(vals) > raw:
                    raw = ln(vals)
        elif k == 4:                                            # K_LOCAL_SET
            x = nxt(it)
            if x >= 0x80:
                x = u32(x, it)
            t = locals_[x]
            if vals[-1] is t:
                pop()
            else:
                pop_types(vals, frame, [t], "")
        elif k == 5:                                            # K_LOCAL_TEE
            x = nxt(it)
            if x >= 0x80:
                x = u32(x, it)
            t = locals_[x]
            if vals[-1] is not t:
                pop_types(vals, frame, [t], "")
                push(t)
                if ln(vals) > raw:
                    raw = ln(vals)
        elif k == 6:                                            # K_END
            ends = frame[2]
            m = ln(ends)
            if ln(vals) != h + m or (m and vals[h:] != ends):
                if m:
                    pop_types(vals, frame, ends, "")
                if ln(vals) != h:
                    raise _Bail
                vals += ends
                if ln(vals) > raw:
                    raw = ln(vals)
            if frame[0] == _F_IF and frame[5] != ends:
                raise _Bail
            if raw - depth > maxh:
                maxh = raw - depth
            ctrls.pop()
            if not ctrls:
                # The body's own end must be its last byte (else the decoder has a say).
                for _ in it:
                    return None
                return maxh
            del vals[h - 1]             # this frame's floor
            depth -= 1
            raw = ln(vals)
            frame = ctrls[-1]
            h = frame[3]
        elif k == 7:                                            # K_BR_IF
            x = nxt(it)
            if x >= 0x80:
                x = u32(x, it)
            labels = ctrls[-1 - x][1]
            if vals[-1] is i32:
                pop()
            else:
                pop_types(vals, frame, _I32_LIST, "")
            m = ln(labels)
            if m and vals[-m:] != labels:
                pop_types(vals, frame, labels, "")
                vals += labels
                if ln(vals) > raw:
                    raw = ln(vals)
        elif k == 9:                                            # K_LOAD
            if nxt(it) > aligns[b]:
                raise _Bail             # also the multi-byte encodings: rare
            x = nxt(it)
            if x >= 0x80:
                u32(x, it)
            if vals[-1] is i32:
                vals[-1] = r0s[b]
            else:
                pop_types(vals, frame, plists[b], "")
                push(r0s[b])
                if ln(vals) > raw:
                    raw = ln(vals)
        elif k == 10:                                           # K_STORE
            if nxt(it) > aligns[b]:
                raise _Bail
            x = nxt(it)
            if x >= 0x80:
                u32(x, it)
            if vals[-1] is p1s[b] and vals[-2] is i32:
                del vals[-2:]
            else:
                pop_types(vals, frame, plists[b], "")
        elif k == 8 or k == 14 or k == 17 or k == 32:           # K_BLOCK, K_LOOP, K_IF, K_TRY_TABLE
            x = nxt(it)
            if x == 0x40:
                starts = ends = _EMPTY_SIG
                m = 0
            else:
                t = valtype.get(x)
                if t is None:
                    if x >= 0x80:
                        t = _leb([x], it, read_signed, 33)
                        if t < 0:
                            raise _Bail
                    elif x & 0x40:
                        raise _Bail     # a one-byte negative s33: not a type index
                    else:
                        t = x
                starts, ends = blocktypes.get(t) or blocktype(t)
                m = ln(starts)
            if k == 17:
                if vals[-1] is i32:
                    pop()
                else:
                    pop_types(vals, frame, _I32_LIST, "")
            elif k == 32:
                # try_table: a block whose catch clauses branch to enclosing labels.
                _catches(it, ctrls, ctx.tags)
            if m and vals[-m:] != starts:
                pop_types(vals, frame, starts, "")
                vals += starts
                if ln(vals) > raw:
                    raw = ln(vals)
            if raw - depth > maxh:
                maxh = raw - depth
            if m:
                vals.insert(ln(vals) - m, floor)
            else:
                push(floor)
            depth += 1
            raw = ln(vals)
            h = raw - m
            if k == 14:
                frame = [_F_LOOP, starts, ends, h, False, starts]
            else:
                frame = [_F_IF if k == 17 else _F_BLOCK, ends, ends, h, False, starts]
            ctrls.append(frame)
        elif k == 11:                                           # K_I64_CONST
            x = nxt(it)
            if x >= 0x80:
                _skip_s64(it)
            push(I64)
            if ln(vals) > raw:
                raw = ln(vals)
        elif k == 12 or k == 21:                                # K_BR, K_RETURN
            if k == 12:
                x = nxt(it)
                if x >= 0x80:
                    x = u32(x, it)
                labels = ctrls[-1 - x][1]
            else:
                labels = results
            m = ln(labels)
            if m and vals[-m:] != labels:
                pop_types(vals, frame, labels, "")
            del vals[h:]
            frame[4] = True
        elif k == 13:                                           # K_CALL
            x = nxt(it)
            if x >= 0x80:
                x = u32(x, it)
            cp, cn, cr = func_sigs[x]
            if cn:
                if vals[-cn:] == cp:
                    del vals[-cn:]
                else:
                    pop_types(vals, frame, cp, "")
            if cr:
                vals += cr
                if ln(vals) > raw:
                    raw = ln(vals)
        elif k == 15:                                           # K_UNARY
            if vals[-1] is p0s[b]:
                vals[-1] = r0s[b]
            else:
                pop_types(vals, frame, plists[b], "")
                push(r0s[b])
                if ln(vals) > raw:
                    raw = ln(vals)
        elif k == 16:                                           # K_SELECT
            # Only the plain case: [t t i32] with t numeric or vector (spec 3.3.4).
            if (ln(vals) - 3 >= h and vals[-1] is i32 and vals[-2] is vals[-3]
                    and vals[-2] in _NUMERIC):
                del vals[-2:]
            else:
                raise _Bail
        elif k == 18 or k == 19:                                # K_GLOBAL_GET, K_GLOBAL_SET
            x = nxt(it)
            if x >= 0x80:
                x = u32(x, it)
            t, mutable = globals_[x]
            if k == 18:
                push(t)
                if ln(vals) > raw:
                    raw = ln(vals)
            else:
                if not mutable:
                    raise _Bail
                if vals[-1] is t:
                    pop()
                else:
                    pop_types(vals, frame, [t], "")
        elif k == 20:                                           # K_DROP
            if ln(vals) > h:
                pop()
            else:
                pop_any(vals, frame, "")
        elif k == 22:                                           # K_CALL_INDIRECT
            y = nxt(it)
            if y >= 0x80:
                y = u32(y, it)
            x = nxt(it)
            if x >= 0x80:
                x = u32(x, it)
            if tables[x] is not FUNCREF:
                raise _Bail
            cp, cn, cr = type_sigs[y]
            if vals[-1] is i32 and (not cn or vals[-cn - 1:-1] == cp):
                del vals[-cn - 1:]
            else:
                pop_types(vals, frame, cp + _I32_LIST, "")
            if cr:
                vals += cr
                if ln(vals) > raw:
                    raw = ln(vals)
        elif k == 23:                                           # K_ELSE
            if frame[0] != _F_IF:
                raise _Bail
            ends = frame[2]
            m = ln(ends)
            if ln(vals) != h + m or (m and vals[h:] != ends):
                if m:
                    pop_types(vals, frame, ends, "")
                if ln(vals) != h:
                    raise _Bail
            del vals[h:]
            starts = frame[5]
            vals += starts
            frame = [_F_ELSE, ends, ends, h, False, starts]
            ctrls[-1] = frame
        elif k == 24:                                           # K_FIXED
            plist = plists[b]
            n = ln(plist)
            if n:
                if vals[-n:] == plist:
                    del vals[-n:]
                else:
                    pop_types(vals, frame, plist, "")
            res = rlists[b]
            if res:
                vals += res
                if ln(vals) > raw:
                    raw = ln(vals)
        elif k == 25:                                           # K_BR_TABLE
            raw = _br_table(it, vals, frame, ctrls, raw, pop_types, pop_keep)
        elif k == 26:                                           # K_UNREACHABLE
            del vals[h:]
            frame[4] = True
        elif k == 27 or k == 28:                                # K_F32_CONST, K_F64_CONST
            for _ in range(4 if k == 27 else 8):
                nxt(it)
            push(F32 if k == 27 else F64)
            if ln(vals) > raw:
                raw = ln(vals)
        elif k == 29 or k == 30:                                # K_MEMORY_SIZE, K_MEMORY_GROW
            if nxt(it):
                raise _Bail             # the reserved memory index byte must be zero
            if k == 29:
                push(i32)
                if ln(vals) > raw:
                    raw = ln(vals)
            elif vals[-1] is not i32:
                pop_types(vals, frame, _I32_LIST, "")
                push(i32)
                if ln(vals) > raw:
                    raw = ln(vals)
        elif k == 31:                                           # K_PREFIX_FC
            code = nxt(it)
            if code >= 0x80:
                code = u32(code, it)
            sig = _FC_FIXED.get(code)
            if sig is not None:
                pop_types(vals, frame, sig[3], "")
                vals += sig[4]
                if ln(vals) > raw:
                    raw = ln(vals)
            else:
                zeros = _FC_MEMORY.get(code)
                if zeros is None or not nmems:
                    raise _Bail
                for _ in range(zeros):
                    if nxt(it):
                        raise _Bail
                if vals[-3:] == _I32X3:
                    del vals[-3:]
                else:
                    pop_types(vals, frame, _I32X3, "")
        elif k == 35:                                           # K_PREFIX_FD
            code = nxt(it)
            if code >= 0x80:
                code = u32(code, it)
            shape, plist, res, align, lanes = _FD[code]
            if shape:
                if shape == 1 or shape == 2:                    # V_MEMARG, V_MEMARG_LANE
                    if not nmems or nxt(it) > align:
                        raise _Bail
                    x = nxt(it)
                    if x >= 0x80:
                        u32(x, it)
                    if shape == 2 and nxt(it) >= lanes:
                        raise _Bail
                elif shape == 3:                                # V_LANE
                    if nxt(it) >= lanes:
                        raise _Bail
                elif shape == 4:                                # V_CONST
                    for _ in range(16):
                        nxt(it)
                else:                                           # V_SHUFFLE
                    for _ in range(16):
                        if nxt(it) >= 32:
                            raise _Bail
            n = ln(plist)
            if n:
                if vals[-n:] == plist:
                    del vals[-n:]
                else:
                    pop_types(vals, frame, plist, "")
            vals += res
            if ln(vals) > raw:
                raw = ln(vals)
        elif k == 33 or k == 34:                                # K_THROW, K_THROW_REF
            if k == 33:
                x = nxt(it)
                if x >= 0x80:
                    x = u32(x, it)
                cp = ctx.tags[x]
            else:
                cp = _EXNREF_LIST
            n = ln(cp)
            if n and vals[-n:] != cp:
                pop_types(vals, frame, cp, "")
            del vals[h:]
            frame[4] = True
        else:
            raise _Bail
    return None                 # ran off the body before its end: the decoder has a say


def _catches(it, ctrls, tags) -> None:
    """Read and check try_table's catch clauses (exception handling): each names a tag
    (``catch``, ``catch_ref``) and an enclosing label, whose types must be exactly what the
    clause provides -- the tag's payload, then an exnref for the ``_ref`` forms (the general
    loop also accepts subtypes; anything else bails)."""
    n = next(it)
    if n >= 0x80:
        n = _u32(n, it)
    for _ in range(n):          # a bogus huge n stops at the body's end (StopIteration)
        kind = next(it)
        if kind > CATCH_ALL_REF:
            raise _Bail         # malformed: the decoder reports it
        if kind < CATCH_ALL:
            x = next(it)
            if x >= 0x80:
                x = _u32(x, it)
            given = tags[x]
        else:
            given = _EMPTY_SIG
        label = next(it)
        if label >= 0x80:
            label = _u32(label, it)
        if label >= len(ctrls):
            raise _Bail
        if kind == CATCH_REF or kind == CATCH_ALL_REF:
            given = given + _EXNREF_LIST
        if ctrls[-1 - label][1] != given:
            raise _Bail


def _br_table(it, vals, frame, ctrls, raw, pop_types, pop_keep):
    """br_table (spec 3.3.8), as the general loop types it; returns the new ``raw``."""
    n = next(it)
    if n >= 0x80:
        n = _u32(n, it)
    depth = len(ctrls)
    targets = []
    for _ in range(n):          # a bogus huge n stops at the body's end (StopIteration)
        x = next(it)
        if x >= 0x80:
            x = _u32(x, it)
        if x >= depth:
            raise _Bail
        targets.append(x)
    default = next(it)
    if default >= 0x80:
        default = _u32(default, it)
    if default >= depth:
        raise _Bail
    h = frame[3]
    if vals[-1] is I32:
        vals.pop()
    else:
        pop_types(vals, frame, _I32_LIST, "")
    dlabels = ctrls[-1 - default][1]
    arity = len(dlabels)
    for x in targets:
        labels = ctrls[-1 - x][1]
        if len(labels) != arity:
            raise _Bail
        if labels is not dlabels and labels != dlabels:
            vals += pop_keep(vals, frame, labels, "")
            if len(vals) > raw:
                raw = len(vals)
    if arity and vals[-arity:] != dlabels:
        pop_types(vals, frame, dlabels, "")
    del vals[h:]
    frame[4] = True
    return raw
