"""Encoding a :class:`Module` into the WebAssembly 2.0 binary format (spec chapter 5).

``decode_module(encode_module(m)) == m`` holds for every module: element segments use the
most compact of the eight encodings that represents the segment, the ``name`` section is
written from ``Module.names``, and each custom section goes back after the known section it
followed (``Custom.after``).
"""

from __future__ import annotations

import struct

from ..module import ACTIVE, DECLARATIVE, FUNC, GLOBAL, MEMORY, PASSIVE, TABLE, TAG, Module, Names
from ..opcodes import END, OPS, op as _op_named
from ..types import (FUNCREF, HEAP_BYTE, SHORTHAND_HEAP, VALTYPE_BYTE, ArrayType, FuncType, GlobalType, StructType,
                     Limits, TableType, ref_parts)
from .leb128 import write_signed, write_unsigned

_pack_u32 = struct.Struct("<I").pack
_pack_u64 = struct.Struct("<Q").pack

_REF_FUNC = _op_named("ref.func")
# The instructions with a data index, which need the data count section (spec 5.5.16):
# memory.init, data.drop and GC's array.new_data / array.init_data.
_DATA_OPS = frozenset(o for o in OPS if o.name == "memory.init" or o.imm in ("dataidx", "typeidx_data"))
_KIND_BYTE = {FUNC: 0, TABLE: 1, MEMORY: 2, GLOBAL: 3, TAG: 4}



def _heap(out, heap) -> None:
    if isinstance(heap, int):
        write_signed(out, heap)         # a type index, as a non-negative s33
    else:
        out.append(HEAP_BYTE[heap])


def _valtype(out, t: str) -> None:
    """A value type: one byte for the 2.0 ones and the shorthands, else 0x63/0x64 heaptype."""
    b = VALTYPE_BYTE.get(t)
    if b is not None:
        out.append(b)
        return
    heap = SHORTHAND_HEAP.get(t)
    if heap is not None:
        out.append(HEAP_BYTE[heap])
        return
    nullable, heap = ref_parts(t)
    out.append(0x63 if nullable else 0x64)
    _heap(out, heap)


def _valtypes(out, types) -> None:
    for t in types:
        _valtype(out, t)


# Known sections in the order they must appear (spec 5.5.2; the tag section 13 of the
# exception-handling proposal after the memory section).
_SECTION_ORDER = (1, 2, 3, 4, 5, 13, 6, 7, 8, 9, 12, 10, 11)


def _signed(value: int, bits: int) -> int:
    """``value`` as a signed ``bits``-bit integer (accepts the unsigned spelling too)."""
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


# One writer per immediate kind: writer(out, instr) appends the immediates of instr.

def _w_none(out, instr):
    pass


def _w_index(out, instr):
    write_unsigned(out, instr[1])


def _w_blocktype(out, instr):
    bt = instr[1]
    if bt is None:
        out.append(0x40)
    elif isinstance(bt, str):
        _valtype(out, bt)
    else:
        write_signed(out, bt)          # a type index, as a non-negative s33


def _w_br_table(out, instr):
    labels = instr[1]
    write_unsigned(out, len(labels))
    for x in labels:
        write_unsigned(out, x)
    write_unsigned(out, instr[2])


def _w_index_pair(out, instr):
    write_unsigned(out, instr[1])
    write_unsigned(out, instr[2])


def _w_memidx(out, instr):
    write_unsigned(out, instr[1])


def _w_zero(out, instr):
    out.append(0)


def _w_memarg_flags(out, align: int, memidx: int) -> None:
    # multi-memory: bit 6 of the flags says a memory index follows (omitted for memory 0).
    if memidx:
        write_unsigned(out, align | 0x40)
        write_unsigned(out, memidx)
    else:
        write_unsigned(out, align)


def _w_memarg(out, instr):
    _w_memarg_flags(out, instr[1], instr[3] if len(instr) > 3 else 0)
    write_unsigned(out, instr[2])


def _w_memarg_lane(out, instr):
    _w_memarg_flags(out, instr[1], instr[4] if len(instr) > 4 else 0)
    write_unsigned(out, instr[2])
    out.append(instr[3])


def _w_laneidx(out, instr):
    out.append(instr[1])


def _w_i32(out, instr):
    write_signed(out, _signed(instr[1], 32))


def _w_i64(out, instr):
    write_signed(out, _signed(instr[1], 64))


def _w_f32(out, instr):
    out += _pack_u32(instr[1])


def _w_f64(out, instr):
    out += _pack_u64(instr[1])


def _w_v128(out, instr):
    out += instr[1].to_bytes(16, "little")


def _w_shuffle(out, instr):
    out += bytes(instr[1])


def _w_heaptype(out, instr):
    _heap(out, ref_parts(instr[1])[1])


def _w_valtypes(out, instr):
    types = instr[1]
    write_unsigned(out, len(types))
    _valtypes(out, types)


def _w_memory_init(out, instr):
    write_unsigned(out, instr[1])
    write_unsigned(out, instr[2])


def _w_try_table(out, instr):
    _w_blocktype(out, instr)
    catches = instr[2]
    write_unsigned(out, len(catches))
    for kind, tag, label in catches:
        out.append(kind)
        if tag is not None:
            write_unsigned(out, tag)
        write_unsigned(out, label)


def _w_castref(out, instr):
    _heap(out, ref_parts(instr[1])[1])


def _w_br_on_cast(out, instr):
    p1 = ref_parts(instr[2])
    p2 = ref_parts(instr[3])
    out.append(int(p1[0]) | int(p2[0]) << 1)
    write_unsigned(out, instr[1])
    _heap(out, p1[1])
    _heap(out, p2[1])


_WRITERS = {
    "-": _w_none, "blocktype": _w_blocktype, "labelidx": _w_index, "br_table": _w_br_table,
    "funcidx": _w_index, "call_indirect": _w_index_pair, "localidx": _w_index,
    "globalidx": _w_index, "tableidx": _w_index, "memidx": _w_memidx, "memarg": _w_memarg,
    "memarg_lane": _w_memarg_lane, "laneidx": _w_laneidx, "i32": _w_i32, "i64": _w_i64,
    "f32": _w_f32, "f64": _w_f64, "v128": _w_v128, "shuffle": _w_shuffle,
    "heaptype": _w_heaptype, "valtypes": _w_valtypes, "dataidx": _w_index, "elemidx": _w_index,
    "memory.init": _w_memory_init, "memory.copy": _w_index_pair,
    "table.init": _w_index_pair, "table.copy": _w_index_pair,
    "typeidx": _w_index,
    "tagidx": _w_index, "try_table": _w_try_table, "zero": _w_zero,
    "typeidx_field": _w_index_pair, "typeidx_n": _w_index_pair, "typeidx_data": _w_index_pair,
    "typeidx_elem": _w_index_pair, "typeidx_pair": _w_index_pair, "castref": _w_castref,
    "br_on_cast": _w_br_on_cast,
}

_OPCODE_BYTES = [o.opcode_bytes for o in OPS]
_WRITER_BY_ID = [None if o.imm == "-" else _WRITERS[o.imm] for o in OPS]


def _write_instrs(out: bytearray, instrs) -> None:
    opcode_bytes = _OPCODE_BYTES
    writers = _WRITER_BY_ID
    for instr in instrs:
        i = instr[0].id
        out += opcode_bytes[i]
        w = writers[i]
        if w is not None:
            w(out, instr)


def encode_instr(instr: tuple) -> bytes:
    """The binary encoding of one instruction ``(op, *immediates)``."""
    out = bytearray()
    _write_instrs(out, (instr,))
    return bytes(out)


def encode_expr(expr) -> bytes:
    """The binary encoding of an instruction sequence (include its final ``end``)."""
    out = bytearray()
    _write_instrs(out, expr)
    return bytes(out)


# ----- module structure -----

def _name(out: bytearray, s: str) -> None:
    raw = s.encode("utf-8")
    write_unsigned(out, len(raw))
    out += raw


def _limits(out: bytearray, lim: Limits, is_64: bool = False, shared: bool = False) -> None:
    # Flags: bit 0 a maximum follows, bit 1 a shared memory (threads), bit 2 a 64-bit memory
    # or table (memory64).
    flags = (4 if is_64 else 0) | (2 if shared else 0)
    if lim.max is None:
        out.append(flags)
        write_unsigned(out, lim.min)
    else:
        out.append(flags | 1)
        write_unsigned(out, lim.min)
        write_unsigned(out, lim.max)


def _table_type(out: bytearray, tt: TableType) -> None:
    _valtype(out, tt.element)
    _limits(out, tt.limits, tt.is_64)


def _table(out: bytearray, t) -> None:
    if t.init is not None:
        out += b"\x40\x00"          # function-references: a table with an initialiser
        _table_type(out, t.type)
        _write_instrs(out, t.init)
    else:
        _table_type(out, t.type)


def _global_type(out: bytearray, gt: GlobalType) -> None:
    _valtype(out, gt.content)
    out.append(1 if gt.mutable else 0)


def _vec(out: bytearray, items, write) -> None:
    write_unsigned(out, len(items))
    for item in items:
        write(out, item)


def _func_indexes(init) -> list | None:
    """The function indexes of an element list made only of ``ref.func x`` expressions."""
    out = []
    for expr in init:
        if len(expr) != 2 or expr[0][0] is not _REF_FUNC or expr[1][0] is not END:
            return None
        out.append(expr[0][1])
    return out


def _elem(out: bytearray, e) -> None:
    # Pick the most compact of the eight encodings (spec 5.5.12).
    funcs = _func_indexes(e.init) if e.type == FUNCREF else None
    implicit_table = e.mode == ACTIVE and e.table == 0 and e.type == FUNCREF
    if e.mode == ACTIVE:
        kind = 0 if implicit_table else 2
    elif e.mode == PASSIVE:
        kind = 1
    elif e.mode == DECLARATIVE:
        kind = 3
    else:
        raise ValueError(f"unknown element segment mode {e.mode!r}")
    if funcs is None:
        kind |= 4
    write_unsigned(out, kind)
    if kind & 2 and not kind & 1:
        write_unsigned(out, e.table)
    if not kind & 1:
        _write_instrs(out, e.offset)
    if kind & 3:
        if funcs is not None:
            out.append(0x00)
        else:
            _valtype(out, e.type)
    if funcs is not None:
        _vec(out, funcs, write_unsigned)
    else:
        write_unsigned(out, len(e.init))
        for expr in e.init:
            _write_instrs(out, expr)


def _data(out: bytearray, d) -> None:
    if d.mode == PASSIVE:
        out.append(1)
    elif d.memory == 0:
        out.append(0)
        _write_instrs(out, d.offset)
    else:
        out.append(2)
        write_unsigned(out, d.memory)
        _write_instrs(out, d.offset)
    write_unsigned(out, len(d.init))
    out += d.init


def _code(out: bytearray, f) -> bool:
    """Append one code section entry; return whether the body uses a data index."""
    entry = bytearray()
    groups = []
    for t in f.locals:
        if groups and groups[-1][1] == t:
            groups[-1][0] += 1
        else:
            groups.append([1, t])
    write_unsigned(entry, len(groups))
    for n, t in groups:
        write_unsigned(entry, n)
        _valtype(entry, t)
    body = list(f.iter_body())
    _write_instrs(entry, body)
    write_unsigned(out, len(entry))
    out += entry
    return any(instr[0] in _DATA_OPS for instr in body)


def _namemap(out: bytearray, m: dict) -> None:
    write_unsigned(out, len(m))
    for idx in sorted(m):
        write_unsigned(out, idx)
        _name(out, m[idx])


def _names(names: Names) -> bytes:
    out = bytearray()
    _name(out, "name")

    def sub(sid: int, payload: bytearray) -> None:
        out.append(sid)
        write_unsigned(out, len(payload))
        out.extend(payload)

    if names.module is not None:
        p = bytearray()
        _name(p, names.module)
        sub(0, p)
    if names.funcs:
        p = bytearray()
        _namemap(p, names.funcs)
        sub(1, p)
    if names.locals:
        p = bytearray()
        write_unsigned(p, len(names.locals))
        for idx in sorted(names.locals):
            write_unsigned(p, idx)
            _namemap(p, names.locals[idx])
        sub(2, p)
    for sid, attr in ((4, "types"), (5, "tables"), (6, "memories"), (7, "globals"),
                      (8, "elems"), (9, "datas")):
        m = getattr(names, attr)
        if m:
            p = bytearray()
            _namemap(p, m)
            sub(sid, p)
    return bytes(out)


def encode_module(module: Module) -> bytes:
    """Encode ``module`` as a binary module."""
    m = module
    sections: dict = {}
    customs_after: dict = {}
    for c in m.customs:
        after = c.after if c.after == 0 or c.after in _SECTION_ORDER else -1
        customs_after.setdefault(after, []).append(c)

    def vec_section(sid: int, items, write) -> None:
        # An empty vector section is left out unless a custom section must follow it.
        if items or sid in customs_after:
            out = bytearray()
            _vec(out, items, write)
            sections[sid] = out

    def write_import(out, imp):
        _name(out, imp.module)
        _name(out, imp.name)
        out.append(_KIND_BYTE[imp.kind])
        if imp.kind == FUNC:
            write_unsigned(out, imp.desc)
        elif imp.kind == TABLE:
            _table_type(out, imp.desc)
        elif imp.kind == MEMORY:
            _limits(out, imp.desc.limits, imp.desc.is_64, imp.desc.shared)
        elif imp.kind == TAG:
            out.append(0x00)               # attribute: exception
            write_unsigned(out, imp.desc)
        else:
            _global_type(out, imp.desc)

    def write_global(out, g):
        _global_type(out, g.type)
        _write_instrs(out, g.init)

    def write_export(out, e):
        _name(out, e.name)
        out.append(_KIND_BYTE[e.kind])
        write_unsigned(out, e.index)

    if m.rec_groups or m.subtypes or not all(isinstance(t, FuncType) for t in m.types):
        sections[1] = _type_section(m)
    else:
        vec_section(1, m.types, _write_functype)
    vec_section(2, m.imports, write_import)
    vec_section(3, [f.typeidx for f in m.funcs], write_unsigned)
    vec_section(4, m.tables, _table)
    vec_section(5, m.mems, lambda out, mem: _limits(out, mem.type.limits, mem.type.is_64, mem.type.shared))
    vec_section(13, m.tags, lambda out, t: (out.append(0x00), write_unsigned(out, t.typeidx)))
    vec_section(6, m.globals, write_global)
    vec_section(7, m.exports, write_export)
    vec_section(9, m.elems, _elem)
    vec_section(11, m.datas, _data)

    code = bytearray()
    write_unsigned(code, len(m.funcs))
    uses_data = False
    for f in m.funcs:
        uses_data |= _code(code, f)
    if m.funcs or 10 in customs_after:
        sections[10] = code

    if m.start is not None:
        start = bytearray()
        write_unsigned(start, m.start)
        sections[8] = start
    data_count = m.data_count
    if data_count is None and uses_data:
        data_count = len(m.datas)      # spec 5.5.16: required when code uses data indexes
    if data_count is not None:
        dc = bytearray()
        write_unsigned(dc, data_count)
        sections[12] = dc

    out = bytearray(b"\x00asm\x01\x00\x00\x00")

    def emit(sid: int, payload) -> None:
        out.append(sid)
        write_unsigned(out, len(payload))
        out.extend(payload)

    def emit_customs(after: int) -> None:
        for c in customs_after.get(after, ()):
            payload = bytearray()
            _name(payload, c.name)
            payload += c.data
            emit(0, payload)

    emit_customs(0)
    for sid in _SECTION_ORDER:
        payload = sections.get(sid)
        if payload is not None:
            emit(sid, payload)
        if sid == 11 and not m.names.is_empty():
            emit(0, _names(m.names))
        emit_customs(sid)
    emit_customs(-1)
    return bytes(out)


def _type_section(m) -> bytearray:
    """The type section with GC's recursive groups, subtypes, struct and array types."""
    body = bytearray()
    starts = dict(m.rec_groups)
    i = 0
    ngroups = 0
    while i < len(m.types):
        count = starts.get(i, 1)
        if count > 1:
            body.append(0x4E)
            write_unsigned(body, count)
        for k in range(i, i + count):
            sub = m.subtypes.get(k)
            if sub is not None:
                body.append(0x4F if sub[0] else 0x50)
                write_unsigned(body, len(sub[1]))
                for s in sub[1]:
                    write_unsigned(body, s)
            _write_comptype(body, m.types[k])
        i += count
        ngroups += 1
    section = bytearray()
    write_unsigned(section, ngroups)
    section += body
    return section


def _write_fieldtype(out: bytearray, f) -> None:
    if f.storage == "i8":
        out.append(0x78)
    elif f.storage == "i16":
        out.append(0x77)
    else:
        _valtypes(out, (f.storage,))
    out.append(1 if f.mutable else 0)


def _write_comptype(out: bytearray, ct) -> None:
    if isinstance(ct, StructType):
        out.append(0x5F)
        write_unsigned(out, len(ct.fields))
        for f in ct.fields:
            _write_fieldtype(out, f)
    elif isinstance(ct, ArrayType):
        out.append(0x5E)
        _write_fieldtype(out, ct.field)
    else:
        _write_functype(out, ct)


def _write_functype(out: bytearray, ft) -> None:
    out.append(0x60)
    write_unsigned(out, len(ft.params))
    _valtypes(out, ft.params)
    write_unsigned(out, len(ft.results))
    _valtypes(out, ft.results)


__all__ = ["encode_module", "encode_instr", "encode_expr"]
