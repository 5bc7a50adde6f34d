"""The inline chains of an object file's code, read from the DWARF that code generation asks
for (prelude.DEBUG_INFO): for each address, the wasm functions whose code it is, innermost
first, each with the instruction it is at.

Only what LLVM emits for ``emissionKind: LineTablesOnly`` in DWARF 4 is read (DWARF 4,
sections 6.2 and 7): the line program (``.debug_line``: the line of an address is its wasm
instruction's index + 1, in the innermost function), and the tree of subprograms and
inlined subroutines (``.debug_info`` with ``.debug_abbrev``, ``.debug_str`` and
``.debug_ranges``): an inlined subroutine covers the addresses of a function's code inlined
into its parent, and its ``DW_AT_call_line`` is the parent's call instruction (index + 1).
Addresses are places ``(section index, offset)`` taken from the relocations, as in
llvm/unwind.py.
"""

from __future__ import annotations

import bisect
import re
import struct

from ..debuginfo import sleb, uleb
from .prelude import PUSH_LINE

_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")

# Tags, attributes and forms (DWARF 4, 7.5)
_TAG_SUBPROGRAM, _TAG_INLINED = 0x2E, 0x1D
_AT_NAME, _AT_LOW_PC, _AT_HIGH_PC, _AT_RANGES = 0x03, 0x11, 0x12, 0x55
_AT_ABSTRACT_ORIGIN, _AT_SPECIFICATION, _AT_CALL_LINE = 0x31, 0x47, 0x59
_FORM_ADDR, _FORM_STRP, _FORM_STRING = 0x01, 0x0E, 0x08
_FORM_REF4, _FORM_REF_UDATA = 0x13, 0x15
_FIXED = {0x0B: 1, 0x05: 2, 0x06: 4, 0x07: 8, 0x0C: 1, 0x11: 1, 0x12: 2, 0x13: 4, 0x14: 8,
          0x17: 4, 0x10: 4, 0x0E: 4, 0x20: 8, 0x19: 0}
_FUNC_NAME = re.compile(r"f(\d+)$")


class DwarfError(ValueError):
    """The debug information has a form this reader does not know."""


class _Node:
    """A subprogram (``call_line`` None) or an inlined subroutine of the tree."""
    __slots__ = ("func", "call_line", "parent", "places", "callers")

    def __init__(self, func, call_line, parent):
        self.func, self.call_line, self.parent = func, call_line, parent
        self.places: list = []      # [(section, start, end)]
        self.callers = None


def chains(data: bytes, sections: list, by_name: dict, relocs: dict, pushes=None) -> dict:
    """``{section: (starts, chains)}``: from ``starts[k]`` on (up to the next start), the code
    of ``section`` belongs to the wasm frames ``chains[k]`` = ``((funcidx, index), ...)``,
    innermost first (``index`` -1: not known; ``funcidx`` -1 in the outermost: the function
    whose code it is; ``()``: not known).  ``sections``,
    ``by_name`` (name -> section index) and ``relocs`` (section -> {offset: place}) are the
    object's, as llvm/unwind.py reads them.  Empty without debug information.  ``pushes``
    (a list) receives ``(section, address, funcidx, callers)`` for each row of line
    ``prelude.PUSH_LINE`` in inlined code: an inlined copy's push on the shadow stack
    (llvm/copies.py)."""
    def section(name):
        k = by_name.get(name)
        if k is None:
            return None, {}
        sh = sections[k]
        return data[sh[4]:sh[4] + sh[5]], relocs.get(k, {})
    info, info_rel = section(b".debug_info")
    abbrev, _ = section(b".debug_abbrev")
    line, line_rel = section(b".debug_line")
    if info is None or abbrev is None or line is None:
        return {}
    strs, _ = section(b".debug_str")
    ranges, ranges_rel = section(b".debug_ranges")
    nodes = _tree(info, info_rel, abbrev, strs or b"", ranges or b"", ranges_rel)
    rows = _line_rows(line, line_rel)
    return _sweep(nodes, rows, pushes)


def _abbrevs(abbrev: bytes, pos: int) -> dict:
    out = {}
    while True:
        code, pos = uleb(abbrev, pos)
        if code == 0:
            return out
        tag, pos = uleb(abbrev, pos)
        children = abbrev[pos]
        pos += 1
        specs = []
        while True:
            at, pos = uleb(abbrev, pos)
            form, pos = uleb(abbrev, pos)
            if at == 0 and form == 0:
                break
            if form == 0x21:            # DW_FORM_implicit_const (DWARF 5): its value is here
                value, pos = sleb(abbrev, pos)
                specs.append((at, form, value))
            else:
                specs.append((at, form, None))
        out[code] = (tag, children, specs)


def _unit_end(data: bytes, pos: int, what: str) -> tuple:
    """Where the unit (of .debug_info or .debug_line) starting at ``pos`` ends, after checking
    its header is the 32-bit DWARF 2-4 this reader knows; and its version."""
    (length,) = _U32.unpack_from(data, pos)
    if length >= 0xFFFFFFF0:
        raise DwarfError("64-bit DWARF")
    (version,) = _U16.unpack_from(data, pos + 4)
    if version not in (2, 3, 4):
        raise DwarfError(f"{what} {version}")
    return pos + 4 + length, version


def _tree(info: bytes, rel: dict, abbrev: bytes, strs: bytes, ranges: bytes, ranges_rel: dict) -> list:
    """Every subprogram and inlined subroutine with code, with its places."""
    nodes = []
    pos = 0
    while pos + 11 <= len(info):
        end, _ = _unit_end(info, pos, "DWARF version")
        abbrev_off = _offset(info, rel, pos + 6)
        if info[pos + 10] != 8:
            raise DwarfError("address size")
        codes = _abbrevs(abbrev, abbrev_off)
        cu = pos
        pos += 11
        names: dict = {}            # DIE offset -> function index
        pending = []                # (node, DIE offset of its origin)
        stack: list = [None]        # the node of each open DIE with children
        base = (None, 0)            # the unit's base address (its low_pc)
        first = True
        while pos < end:
            die = pos - cu
            code, pos = uleb(info, pos)
            if code == 0:
                stack.pop()
                if not stack:
                    break
                continue
            tag, children, specs = codes[code]
            name = origin = call_line = low = high = rng = None
            high_is_offset = False
            for at, form, implicit in specs:
                at_pos = pos
                value, pos = _value(info, pos, form, implicit, cu)
                if at == _AT_NAME:
                    name = _string(strs, _offset(info, rel, at_pos)) if form == _FORM_STRP else value
                elif at == _AT_ABSTRACT_ORIGIN or at == _AT_SPECIFICATION:
                    origin = value
                elif at == _AT_CALL_LINE:
                    call_line = value
                elif at == _AT_LOW_PC:
                    low = rel.get(at_pos, (None, value))
                elif at == _AT_HIGH_PC:
                    high_is_offset = form != _FORM_ADDR
                    high = value if high_is_offset else rel.get(at_pos, (None, value))
                elif at == _AT_RANGES:
                    rng = _offset(info, rel, at_pos) if form == 0x17 or form == 0x06 else value
            if first:
                first = False
                if low is not None:
                    base = low
            node = None
            if tag == _TAG_SUBPROGRAM or tag == _TAG_INLINED:
                if name is not None and isinstance(name, str):
                    m = _FUNC_NAME.match(name)
                    if m is not None:
                        names[die] = int(m.group(1))
                parent = stack[-1] if tag == _TAG_INLINED else None
                node = _Node(names.get(die), call_line, parent)
                if origin is not None:
                    pending.append((node, origin))
                if low is not None and high is not None:
                    hi = (low[0], low[1] + high) if high_is_offset else high
                    if hi[0] == low[0]:
                        node.places.append((low[0], low[1], hi[1]))
                elif rng is not None:
                    node.places.extend(_ranges(ranges, ranges_rel, rng, base))
                if node.places:
                    nodes.append(node)
            if children:
                stack.append(node if node is not None else stack[-1])
        for node, origin in pending:
            if node.func is None:
                node.func = names.get(origin)
        pos = end
    return nodes


def _offset(data: bytes, rel: dict, pos: int) -> int:
    """A 4-byte section offset, relocated."""
    place = rel.get(pos)
    return place[1] if place is not None else _U32.unpack_from(data, pos)[0]


def _value(info: bytes, pos: int, form: int, implicit, cu: int):
    size = _FIXED.get(form)
    if size is not None:
        if size == 0:
            return True, pos
        value = int.from_bytes(info[pos:pos + size], "little")
        if form in (_FORM_REF4, 0x11, 0x12, 0x14):
            value += cu             # a reference inside the unit: to a DIE offset
        return value, pos + size
    if form == _FORM_ADDR:
        return _U64.unpack_from(info, pos)[0], pos + 8
    if form == 0x0F:                # udata
        return uleb(info, pos)
    if form == 0x0D:                # sdata
        return sleb(info, pos)
    if form == _FORM_REF_UDATA:
        value, pos = uleb(info, pos)
        return value + cu, pos
    if form == _FORM_STRING:
        end = info.index(b"\0", pos)
        return info[pos:end].decode("utf-8", "replace"), end + 1
    if form in (0x0A, 0x03, 0x04, 0x09, 0x18):       # block1, block2, block4, block, exprloc
        if form == 0x0A:
            n, pos = info[pos], pos + 1
        elif form == 0x03:
            n, pos = _U16.unpack_from(info, pos)[0], pos + 2
        elif form == 0x04:
            n, pos = _U32.unpack_from(info, pos)[0], pos + 4
        else:
            n, pos = uleb(info, pos)
        return None, pos + n
    if form == 0x21:
        return implicit, pos
    raise DwarfError(f"form {form:#x}")


def _string(strs: bytes, off) -> str:
    end = strs.index(b"\0", off)
    return strs[off:end].decode("utf-8", "replace")


def _ranges(ranges: bytes, rel: dict, pos: int, base) -> list:
    """The places of a range list (DWARF 4, 2.17.3): pairs of addresses, relocated, else
    offsets from the base address (the unit's, or a base address selection entry's)."""
    out = []
    while pos + 16 <= len(ranges):
        (a,) = _U64.unpack_from(ranges, pos)
        (b,) = _U64.unpack_from(ranges, pos + 8)
        pa, pb = rel.get(pos), rel.get(pos + 8)
        pos += 16
        if pa is None and pb is None and a == 0 and b == 0:
            break
        if pa is None and a == 0xFFFFFFFFFFFFFFFF:
            base = pb if pb is not None else (None, b)
            continue
        start = pa if pa is not None else (base[0], base[1] + a)
        stop = pb if pb is not None else (base[0], base[1] + b)
        if start[0] == stop[0] and start[1] < stop[1]:
            out.append((start[0], start[1], stop[1]))
    return out


def _line_rows(line: bytes, rel: dict) -> list:
    """``[(section, address, line)]`` of every row of every sequence of the line program
    (DWARF 4, 6.2); the end of a sequence is a row of line 0."""
    rows = []
    pos = 0
    while pos + 4 <= len(line):
        end, version = _unit_end(line, pos, "line table version")
        (header_length,) = _U32.unpack_from(line, pos + 6)
        p = pos + 10
        program = p + header_length
        min_inst = line[p]
        p += 1
        if version >= 4:
            p += 1                  # maximum operations per instruction (1 on x86)
        p += 1                      # default_is_stmt
        line_base = line[p] - 256 if line[p] >= 128 else line[p]
        line_range, opcode_base = line[p + 1], line[p + 2]
        lengths = list(line[p + 3:p + 3 + opcode_base - 1])
        p = program
        section, address, ln = None, 0, 1
        while p < end:
            op = line[p]
            p += 1
            if op >= opcode_base:
                adj = op - opcode_base
                address += (adj // line_range) * min_inst
                ln += line_base + adj % line_range
                rows.append((section, address, ln))
            elif op == 0:
                n, p = uleb(line, p)
                sub = line[p]
                if sub == 1:                # DW_LNE_end_sequence
                    rows.append((section, address, 0))
                    section, address, ln = None, 0, 1
                elif sub == 2:              # DW_LNE_set_address
                    place = rel.get(p + 1)
                    section, address = place if place is not None else (None, _U64.unpack_from(line, p + 1)[0])
                p += n
            elif op == 1:                   # DW_LNS_copy
                rows.append((section, address, ln))
            elif op == 2:                   # advance_pc
                v, p = uleb(line, p)
                address += v * min_inst
            elif op == 3:                   # advance_line
                v, p = sleb(line, p)
                ln += v
            elif op == 8:                   # const_add_pc
                address += ((255 - opcode_base) // line_range) * min_inst
            elif op == 9:                   # fixed_advance_pc
                address += _U16.unpack_from(line, p)[0]
                p += 2
            else:                           # operands we do not need (file, column, ...)
                for _ in range(lengths[op - 1]):
                    _, p = uleb(line, p)
        pos = end
    return rows


def _callers(node: _Node) -> tuple:
    """The frames ``node``'s code was inlined into, innermost first."""
    if node.callers is None:
        parent = node.parent
        if parent is None:
            node.callers = ()
        else:
            node.callers = ((parent.func if parent.func is not None else -1,
                             node.call_line - 1 if node.call_line else -1),) + _callers(parent)
    return node.callers


def _sweep(nodes: list, rows: list, pushes=None) -> dict:
    # Per section: the places where the line or the innermost node changes.  The nodes'
    # places nest (an inlined subroutine lies inside its parent's), so a stack of the open
    # ones has the innermost on top.
    events: dict = {}
    for node in nodes:
        for section, start, stop in node.places:
            ev = events.setdefault(section, [])
            ev.append((start, 1, -stop, id(node), node))
            ev.append((stop, 0, 0, id(node), node))
    for section, address, ln in rows:
        events.setdefault(section, []).append((address, 2, 0, ln, None))
    out = {}
    for section, ev in events.items():
        if section is None:
            continue
        ev.sort(key=lambda e: e[:4])
        stack: list = []
        ln = 0
        starts: list = []
        result: list = []
        k, n = 0, len(ev)
        while k < n:
            at = ev[k][0]
            row = False
            while k < n and ev[k][0] == at:
                _, kind, _s, key, node = ev[k]
                if kind == 0:
                    if node in stack:
                        stack.remove(node)
                elif kind == 1:
                    stack.append(node)
                else:
                    ln, row = key, True
                k += 1
            if pushes is not None and row and ln == PUSH_LINE and stack and stack[-1].parent is not None \
                    and stack[-1].func is not None and stack[-1].call_line:
                pushes.append((section, at, stack[-1].func, _callers(stack[-1])))
            if ln <= 0:
                chain = ()          # no location (or one merged from two: names neither)
            elif stack:
                top = stack[-1]
                chain = ((top.func if top.func is not None else -1, ln - 1),) + _callers(top)
            else:
                # Code of no subprogram: line-tables-only DWARF describes a function only
                # when it holds inlined code; -1 is then the function the code belongs to.
                chain = ((-1, ln - 1),)
            if not result or result[-1] != chain:
                starts.append(at)
                result.append(chain)
        out[section] = (starts, result)
    return out


def chain_at(table, offset: int):
    """The chain of ``(starts, chains)`` (one section of :func:`chains`) at ``offset``."""
    starts, result = table
    k = bisect.bisect_right(starts, offset) - 1
    return result[k] if k >= 0 else ()
