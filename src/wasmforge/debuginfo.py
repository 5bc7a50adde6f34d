"""Source locations of a module's code, read from the DWARF in its custom sections.

A module compiled with debug information (``clang -g``, ``zig cc -g``, ``rustc -g``) carries
DWARF in custom sections named ``.debug_info``, ``.debug_abbrev``, ``.debug_line``,
``.debug_str``, ``.debug_line_str``, ``.debug_ranges``/``.debug_rnglists``,
``.debug_addr`` and ``.debug_str_offsets``.  Addresses in it are byte offsets from the start
of the code section's contents (the WebAssembly tool conventions, "Debugging"), so a trap
frame's ``module_offset`` less that start is an address here.

:meth:`DebugInfo.symbols` maps such an address to its source frames as wasmtime does with
``WASMTIME_BACKTRACE_DETAILS=1`` (which reads them with the ``addr2line`` crate): the
function whose code it is and, where code was inlined, each inlined function, innermost
first, each with its file, line and column.  DWARF 2 to 5, 32- and 64-bit, address sizes 4
(wasm32) and 8 (wasm64) are read.  Nothing is parsed until the first lookup, and then only
the compilation unit that holds the address.  Debug sections are not part of a module's
validity: anything malformed in them makes :meth:`DebugInfo.symbols` return no symbols,
never an error.
"""

from __future__ import annotations

import bisect
import struct
import threading
from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple

from .errors import FrameSymbol

__all__ = ["DebugInfo", "has_debug_info", "sleb", "uleb"]

# Tags, attributes, forms and line-program opcodes (DWARF 5, section 7.5)
_TAG_COMPILE_UNIT, _TAG_PARTIAL_UNIT, _TAG_SKELETON_UNIT = 0x11, 0x3C, 0x4A
_TAG_SUBPROGRAM, _TAG_INLINED = 0x2E, 0x1D
_AT_NAME, _AT_STMT_LIST, _AT_LOW_PC, _AT_HIGH_PC, _AT_COMP_DIR = 0x03, 0x10, 0x11, 0x12, 0x1B
_AT_ABSTRACT_ORIGIN, _AT_SPECIFICATION, _AT_RANGES = 0x31, 0x47, 0x55
_AT_CALL_COLUMN, _AT_CALL_FILE, _AT_CALL_LINE = 0x57, 0x58, 0x59
_AT_STR_OFFSETS_BASE, _AT_ADDR_BASE, _AT_RNGLISTS_BASE = 0x72, 0x73, 0x74
_AT_LINKAGE_NAME, _AT_MIPS_LINKAGE_NAME = 0x6E, 0x2007
_AT_GNU_ADDR_BASE, _AT_GNU_RANGES_BASE = 0x2133, 0x2132

_FORM_ADDR, _FORM_STRING = 0x01, 0x08

#: How far DW_AT_abstract_origin / DW_AT_specification chains are followed for a name
#: (addr2line's limit).
_MAX_NAME_DEPTH = 16


def uleb(data: bytes, pos: int) -> Tuple[int, int]:
    """``(value, position after it)`` of the unsigned LEB128 at ``pos`` (DWARF 5, 7.6: of
    any length, unlike the WebAssembly binary's; llvm/dwarf.py and llvm/unwind.py read
    their object files' DWARF with it too)."""
    result = shift = 0
    while True:
        b = data[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            return result, pos


def sleb(data: bytes, pos: int) -> Tuple[int, int]:
    """``(value, position after it)`` of the signed LEB128 at ``pos``."""
    result = shift = 0
    while True:
        b = data[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            if b & 0x40:
                result -= 1 << shift
            return result, pos


def has_debug_info(section_names: Iterable[str]) -> bool:
    """Whether a module with custom sections named ``section_names`` carries DWARF
    (wasmtime's test for its ``WASMTIME_BACKTRACE_DETAILS`` hint: a ``.debug_`` section)."""
    return any(name.startswith(".debug_") for name in section_names)


class _Malformed(Exception):
    """The debug information is not what DWARF allows (caught by :meth:`DebugInfo.symbols`)."""


class _Ref(int):
    """A reference form's value: the ``.debug_info`` offset of the DIE it names."""


class _Index(Tuple[str, int]):
    """A value to look up once the unit's bases are known: ``(kind, index)`` of a ``strx``,
    ``addrx`` or ``rnglistx`` form."""


class _Reader:
    __slots__ = ("data", "pos")

    def __init__(self, data: bytes, pos: int = 0) -> None:
        self.data, self.pos = data, pos

    def u8(self) -> int:
        b = self.data[self.pos]
        self.pos += 1
        return b

    def uint(self, size: int) -> int:
        end = self.pos + size
        if end > len(self.data):
            raise _Malformed("unexpected end of section")
        value = int.from_bytes(self.data[self.pos:end], "little")
        self.pos = end
        return value

    def sint(self, size: int) -> int:
        value = self.uint(size)
        return value - (1 << (8 * size)) if value >> (8 * size - 1) else value

    def uleb(self) -> int:
        value, self.pos = uleb(self.data, self.pos)
        return value

    def sleb(self) -> int:
        value, self.pos = sleb(self.data, self.pos)
        return value

    def cstring(self) -> bytes:
        end = self.data.index(b"\0", self.pos)
        s = self.data[self.pos:end]
        self.pos = end + 1
        return s

    def initial_length(self) -> Tuple[int, int]:
        """``(length, offset size)`` of a unit header (DWARF 5, 7.4: 32- or 64-bit)."""
        length = self.uint(4)
        if length == 0xFFFFFFFF:
            return self.uint(8), 8
        if length >= 0xFFFFFFF0:
            raise _Malformed("reserved unit length")
        return length, 4


class _Die:
    """One debugging information entry: its tag, whether it has children, its attributes."""
    __slots__ = ("offset", "tag", "children", "attrs", "high_is_address")

    def __init__(self, offset: int, tag: int, children: bool, attrs: Dict[int, Any],
                 high_is_address: bool) -> None:
        self.offset, self.tag, self.children, self.attrs = offset, tag, children, attrs
        # DW_AT_high_pc of an address form is an address; of a constant form, an offset
        # from DW_AT_low_pc (DWARF 5, 2.17.2).
        self.high_is_address = high_is_address


class _Func:
    """A subprogram or inlined subroutine with code: its address ranges, the DIE that names
    it, where it was inlined from (``call``: file index, line, column) and its inlined
    children."""
    __slots__ = ("ranges", "die", "call", "inlined")

    def __init__(self, ranges: List[Tuple[int, int]], die: int, call: Tuple[Any, Any, Any]) -> None:
        self.ranges, self.die, self.call = ranges, die, call
        self.inlined: List["_Func"] = []

    def contains(self, address: int) -> bool:
        return any(lo <= address < hi for lo, hi in self.ranges)


class _Lines:
    """The line program of a unit: its file names and sorted sequences of rows."""
    __slots__ = ("files", "starts", "sequences")

    def __init__(self, files: List[Optional[str]], sequences: List[Tuple[int, int, List[Any]]]) -> None:
        sequences.sort(key=lambda s: s[0])
        self.files = files
        self.sequences = sequences
        self.starts = [s[0] for s in sequences]

    def find(self, address: int) -> Optional[Tuple[Optional[str], Optional[int], Optional[int]]]:
        """``(file, line, column)`` of ``address`` (addr2line's ``find_location``: the row at
        or before it in the sequence holding it), None when no sequence holds it."""
        k = bisect.bisect_right(self.starts, address) - 1
        if k < 0:
            return None
        start, end, rows = self.sequences[k]
        if not start <= address < end:
            return None
        j = bisect.bisect_right(rows, (address, float("inf"))) - 1
        if j < 0:
            return None
        _, file, line, column = rows[j]
        return self.file(file), line or None, column or None

    def file(self, index: Any) -> Optional[str]:
        return self.files[index] if isinstance(index, int) and 0 <= index < len(self.files) else None


class _Unit:
    """A compilation unit of ``.debug_info``: its header, its root DIE's attributes, and
    (parsed on first use) its line program and functions."""

    def __init__(self, info: "DebugInfo", offset: int) -> None:
        r = _Reader(info.sections[".debug_info"], offset)
        length, self.offset_size = r.initial_length()
        self.offset = offset
        self.end = r.pos + length
        self.version = r.uint(2)
        if not 2 <= self.version <= 5:
            raise _Malformed(f"DWARF version {self.version}")
        if self.version >= 5:
            self.unit_type = r.u8()
            self.addr_size = r.u8()
            abbrev_offset = r.uint(self.offset_size)
            if self.unit_type in (4, 5):        # DW_UT_skeleton, DW_UT_split_compile: a dwo id
                r.pos += 8
            elif self.unit_type in (2, 6):      # DW_UT_type, DW_UT_split_type: no code
                r.pos += 8 + self.offset_size
        else:
            self.unit_type = 1
            abbrev_offset = r.uint(self.offset_size)
            self.addr_size = r.u8()
        if self.addr_size not in (4, 8):
            raise _Malformed(f"address size {self.addr_size}")
        self.info = info
        self.abbrevs = info.abbrevs(abbrev_offset)
        self.first_die = r.pos
        self.str_offsets_base = 8 if self.offset_size == 4 else 16
        self.addr_base = 8
        self.rnglists_base = 12 if self.offset_size == 4 else 20
        self.comp_dir: Optional[str] = None
        self.low_pc = 0
        self.ranges: List[Tuple[int, int]] = []
        self.stmt_list: Optional[int] = None
        self.is_code = False
        self._lines: Optional[_Lines] = None
        self._funcs: Optional[List[_Func]] = None
        if r.pos >= self.end:
            return
        root = self.die(r)
        if root is None or root.tag not in (_TAG_COMPILE_UNIT, _TAG_PARTIAL_UNIT, _TAG_SKELETON_UNIT):
            return
        a = root.attrs
        # The bases come first: the unit's other attributes may be indexes into them.
        for at, attr in ((_AT_STR_OFFSETS_BASE, "str_offsets_base"), (_AT_ADDR_BASE, "addr_base"),
                         (_AT_GNU_ADDR_BASE, "addr_base"), (_AT_RNGLISTS_BASE, "rnglists_base"),
                         (_AT_GNU_RANGES_BASE, "rnglists_base")):
            if isinstance(a.get(at), int):
                setattr(self, attr, a[at])
        self.is_code = True
        comp_dir = self.resolve(a.get(_AT_COMP_DIR))
        self.comp_dir = comp_dir if isinstance(comp_dir, str) else None
        low = self.resolve(a.get(_AT_LOW_PC))
        self.low_pc = low if isinstance(low, int) else 0
        stmt = a.get(_AT_STMT_LIST)
        self.stmt_list = stmt if isinstance(stmt, int) else None
        self.ranges = self.die_ranges(root)

    # ----- entries -----

    def die(self, r: _Reader) -> Optional[_Die]:
        """The entry at ``r`` (None for a null entry, the end of a list of siblings)."""
        offset = r.pos
        code = r.uleb()
        if code == 0:
            return None
        spec = self.abbrevs.get(code)
        if spec is None:
            raise _Malformed(f"unknown abbreviation {code}")
        tag, children, attributes = spec
        attrs = {}
        high_is_address = False
        for at, form, implicit in attributes:
            attrs[at] = self.value(r, form, implicit)
            if at == _AT_HIGH_PC:
                high_is_address = form == _FORM_ADDR or form == 0x1B or 0x29 <= form <= 0x2C
        return _Die(offset, tag, children, attrs, high_is_address)

    def value(self, r: _Reader, form: int, implicit: Any) -> Any:
        """The value of one attribute of form ``form`` (DWARF 5, 7.5.6)."""
        osz, asz = self.offset_size, self.addr_size
        if form == _FORM_ADDR:
            return r.uint(asz)
        if form in (0x0B, 0x0C, 0x11):          # data1, flag, ref1
            v = r.u8()
            return _Ref(self.offset + v) if form == 0x11 else v
        if form in (0x05, 0x12):                # data2, ref2
            v = r.uint(2)
            return _Ref(self.offset + v) if form == 0x12 else v
        if form in (0x06, 0x13):                # data4, ref4
            v = r.uint(4)
            return _Ref(self.offset + v) if form == 0x13 else v
        if form in (0x07, 0x14):                # data8, ref8
            v = r.uint(8)
            return _Ref(self.offset + v) if form == 0x14 else v
        if form == 0x0F:                        # udata
            return r.uleb()
        if form == 0x0D:                        # sdata
            return r.sleb()
        if form == 0x15:                        # ref_udata
            return _Ref(self.offset + r.uleb())
        if form == 0x10:                        # ref_addr: an offset in .debug_info
            return _Ref(r.uint(asz if self.version == 2 else osz))
        if form == _FORM_STRING:
            return r.cstring().decode("utf-8", "replace")
        if form == 0x0E:                        # strp
            return self.info.string(".debug_str", r.uint(osz))
        if form == 0x1F:                        # line_strp
            return self.info.string(".debug_line_str", r.uint(osz))
        if form == 0x17:                        # sec_offset
            return r.uint(osz)
        if form == 0x19:                        # flag_present
            return True
        if form == 0x21:                        # implicit_const
            return implicit
        if form in (0x1A, 0x1F02):              # strx, GNU_str_index
            return _Index(("str", r.uleb()))
        if 0x25 <= form <= 0x28:                # strx1-4
            return _Index(("str", r.uint(form - 0x24)))
        if form in (0x1B, 0x1F01):              # addrx, GNU_addr_index
            return _Index(("addr", r.uleb()))
        if 0x29 <= form <= 0x2C:                # addrx1-4
            return _Index(("addr", r.uint(form - 0x28)))
        if form == 0x23:                        # rnglistx
            return _Index(("rnglist", r.uleb()))
        if form == 0x22:                        # loclistx
            r.uleb()
            return None
        if form == 0x18 or form == 0x09:        # exprloc, block
            n = r.uleb()
            r.pos += n
            return None
        if form in (0x0A, 0x03, 0x04):          # block1, block2, block4
            n = r.uint({0x0A: 1, 0x03: 2, 0x04: 4}[form])
            r.pos += n
            return None
        if form == 0x1E:                        # data16
            r.pos += 16
            return None
        if form in (0x20, 0x24):                # ref_sig8, ref_sup8: outside this file
            r.pos += 8
            return None
        if form == 0x1C:                        # ref_sup4
            r.pos += 4
            return None
        if form in (0x1D, 0x1F20, 0x1F21):      # strp_sup, GNU_ref_alt, GNU_strp_alt
            r.pos += osz
            return None
        if form == 0x16:                        # indirect: the form comes first
            return self.value(r, r.uleb(), implicit)
        raise _Malformed(f"unknown form {form:#x}")

    def resolve(self, value: Any) -> Any:
        """A ``strx``/``addrx`` value looked up in ``.debug_str_offsets``/``.debug_addr``."""
        if not isinstance(value, _Index):
            return value
        kind, index = value
        if kind == "str":
            r = _Reader(self.info.section(".debug_str_offsets"), self.str_offsets_base + index * self.offset_size)
            return self.info.string(".debug_str", r.uint(self.offset_size))
        if kind == "addr":
            r = _Reader(self.info.section(".debug_addr"), self.addr_base + index * self.addr_size)
            return r.uint(self.addr_size)
        return value

    # ----- address ranges -----

    def die_ranges(self, die: _Die) -> List[Tuple[int, int]]:
        """The code ranges of ``die`` (``DW_AT_low_pc``/``high_pc`` or ``DW_AT_ranges``),
        without those of code the linker dropped (tombstones: address 0, where the code
        section's function count is, or the last addresses)."""
        a = die.attrs
        out: List[Tuple[int, int]] = []
        low = self.resolve(a.get(_AT_LOW_PC))
        high = a.get(_AT_HIGH_PC)
        ranges = a.get(_AT_RANGES)
        if isinstance(low, int) and high is not None:
            high = self.resolve(high)
            if isinstance(high, int):
                # DW_FORM_addr (and addrx) are addresses; every other form an offset from low.
                out.append((low, high if die.high_is_address else low + high))
        elif ranges is not None:
            out = self.range_list(ranges)
        top = (1 << (8 * self.addr_size)) - 2
        return [(lo, hi) for lo, hi in out if 0 < lo < hi and lo < top]

    def range_list(self, value: Any) -> List[Tuple[int, int]]:
        if self.version < 5:
            if not isinstance(value, int):
                return []
            return self._ranges_v4(value)
        if isinstance(value, _Index):
            # DW_FORM_rnglistx: an index into the offsets after rnglists_base.
            r = _Reader(self.info.section(".debug_rnglists"), self.rnglists_base + value[1] * self.offset_size)
            return self._rnglist(self.rnglists_base + r.uint(self.offset_size))
        return self._rnglist(value) if isinstance(value, int) else []

    def _ranges_v4(self, offset: int) -> List[Tuple[int, int]]:
        """A ``.debug_ranges`` list (DWARF 4, 2.17.3): pairs of offsets from the base address,
        a base address selection entry (first address all ones), ended by two zeros."""
        r = _Reader(self.info.section(".debug_ranges"), offset)
        asz = self.addr_size
        ones = (1 << (8 * asz)) - 1
        base = self.low_pc
        out: List[Tuple[int, int]] = []
        while True:
            a, b = r.uint(asz), r.uint(asz)
            if a == 0 and b == 0:
                return out
            if a == ones:
                base = b
            else:
                out.append((base + a, base + b))

    def _rnglist(self, offset: int) -> List[Tuple[int, int]]:
        """A ``.debug_rnglists`` list (DWARF 5, 2.17.3)."""
        r = _Reader(self.info.section(".debug_rnglists"), offset)
        asz = self.addr_size
        base = self.low_pc
        out: List[Tuple[int, int]] = []

        def addrx(index: int) -> int:
            return int(self.resolve(_Index(("addr", index))))

        while True:
            kind = r.u8()
            if kind == 0:                       # end_of_list
                return out
            if kind == 1:                       # base_addressx
                base = addrx(r.uleb())
            elif kind == 2:                     # startx_endx
                lo = addrx(r.uleb())
                out.append((lo, addrx(r.uleb())))
            elif kind == 3:                     # startx_length
                lo = addrx(r.uleb())
                out.append((lo, lo + r.uleb()))
            elif kind == 4:                     # offset_pair
                lo = r.uleb()
                out.append((base + lo, base + r.uleb()))
            elif kind == 5:                     # base_address
                base = r.uint(asz)
            elif kind == 6:                     # start_end
                lo = r.uint(asz)
                out.append((lo, r.uint(asz)))
            elif kind == 7:                     # start_length
                lo = r.uint(asz)
                out.append((lo, lo + r.uleb()))
            else:
                raise _Malformed(f"range list entry kind {kind}")

    # ----- the line program -----

    def lines(self) -> Optional[_Lines]:
        if self._lines is None and self.stmt_list is not None:
            self._lines = self._line_program(self.stmt_list)
        return self._lines

    def _line_program(self, offset: int) -> _Lines:
        """The line program at ``offset`` of ``.debug_line`` (DWARF 5, 6.2), run: the unit's
        file names (as addr2line renders them) and its sequences of rows."""
        data = self.info.section(".debug_line")
        r = _Reader(data, offset)
        length, osz = r.initial_length()
        end = r.pos + length
        version = r.uint(2)
        if not 2 <= version <= 5:
            raise _Malformed(f"line table version {version}")
        asz = self.addr_size
        if version >= 5:
            asz = r.u8()
            r.u8()                              # segment selector size
        header_length = r.uint(osz)
        program = r.pos + header_length
        min_inst = r.u8()
        if version >= 4:
            r.u8()                              # maximum operations per instruction
        r.u8()                                  # default_is_stmt
        line_base = r.sint(1)
        line_range = r.u8()
        opcode_base = r.u8()
        if line_range == 0:
            raise _Malformed("line_range 0")
        lengths = [r.u8() for _ in range(opcode_base - 1)]
        dirs: List[Optional[str]] = []
        files: List[Tuple[Optional[str], int]] = []     # (name, directory index)
        if version >= 5:
            for entries, out in ((dirs, True), (files, False)):
                formats = [(r.uleb(), r.uleb()) for _ in range(r.u8())]
                for _ in range(r.uleb()):
                    name, directory = None, 0
                    for content, form in formats:
                        v = self.resolve(self.value(r, form, None))
                        if content == 1 and isinstance(v, str):         # DW_LNCT_path
                            name = v
                        elif content == 2 and isinstance(v, int):       # DW_LNCT_directory_index
                            directory = v
                    if out:
                        entries.append(name)    # type: ignore[arg-type]
                    else:
                        entries.append((name, directory))   # type: ignore[arg-type]
        else:
            dirs.append(self.comp_dir)          # directory 0: the unit's
            while True:
                d = r.cstring()
                if not d:
                    break
                dirs.append(d.decode("utf-8", "replace"))
            files.append((None, 0))             # file 0 does not exist before DWARF 5
            while True:
                f = r.cstring()
                if not f:
                    break
                directory = r.uleb()
                r.uleb()
                r.uleb()
                files.append((f.decode("utf-8", "replace"), directory))
        r.pos = program
        sequences: List[Tuple[int, int, List[Any]]] = []
        rows: List[Any] = []
        address, file, line, column = 0, 1, 1, 0
        top = (1 << (8 * asz)) - 2

        def row() -> None:
            # A row at the address of the one before replaces it (addr2line keeps the last).
            if rows and rows[-1][0] == address:
                rows[-1] = (address, file, line, column)
            else:
                rows.append((address, file, line, column))

        while r.pos < end:
            op = r.u8()
            if op >= opcode_base:
                adj = op - opcode_base
                address += (adj // line_range) * min_inst
                line += line_base + adj % line_range
                row()
            elif op == 0:
                n = r.uleb()
                sub_end = r.pos + n
                sub = r.u8() if n else 0
                if sub == 1:                    # end_sequence
                    # Code the linker dropped keeps its sequence at a tombstone address.
                    if rows and 0 < rows[0][0] < top:
                        sequences.append((rows[0][0], address, rows))
                    rows = []
                    address, file, line, column = 0, 1, 1, 0
                elif sub == 2:                  # set_address
                    address = r.uint(n - 1)
                elif sub == 3 and version <= 4:     # define_file
                    name = r.cstring().decode("utf-8", "replace")
                    files.append((name, r.uleb()))
                r.pos = sub_end
            elif op == 1:                       # copy
                row()
            elif op == 2:                       # advance_pc
                address += r.uleb() * min_inst
            elif op == 3:                       # advance_line
                line += r.sleb()
            elif op == 4:                       # set_file
                file = r.uleb()
            elif op == 5:                       # set_column
                column = r.uleb()
            elif op == 8:                       # const_add_pc
                address += ((255 - opcode_base) // line_range) * min_inst
            elif op == 9:                       # fixed_advance_pc
                address += r.uint(2)
            elif op in (6, 7, 10, 11):          # flags: negate_stmt, basic_block, prologue, epilogue
                pass
            else:                               # set_isa and opcodes this reader does not know
                for _ in range(lengths[op - 1] if op - 1 < len(lengths) else 0):
                    r.uleb()
        paths = [self._render(name, directory, dirs) for name, directory in files]
        return _Lines(paths, sequences)

    def _render(self, name: Optional[str], directory: int, dirs: List[Optional[str]]) -> Optional[str]:
        """A file's path as addr2line renders it: the unit's directory, then the file's
        directory unless it is directory 0, then its name (an absolute part replaces what
        came before)."""
        if name is None:
            return None
        path = self.comp_dir or ""
        if directory != 0 and 0 <= directory < len(dirs) and dirs[directory] is not None:
            path = _path_push(path, dirs[directory])    # type: ignore[arg-type]
        return _path_push(path, name)

    # ----- functions -----

    def funcs(self) -> List[_Func]:
        """The subprograms of the unit that have code, each with its inlined subroutines."""
        if self._funcs is None:
            funcs: List[_Func] = []
            r = _Reader(self.info.sections[".debug_info"], self.first_die)
            stack: List[Optional[_Func]] = []   # per open entry with children: the function it is in
            current: Optional[_Func] = None
            while r.pos < self.end:
                die = self.die(r)
                if die is None:
                    if not stack:
                        break
                    current = stack.pop()
                    continue
                node = None
                if die.tag == _TAG_SUBPROGRAM or die.tag == _TAG_INLINED:
                    ranges = self.die_ranges(die)
                    if ranges:
                        a = die.attrs
                        node = _Func(ranges, die.offset,
                                     (a.get(_AT_CALL_FILE), a.get(_AT_CALL_LINE), a.get(_AT_CALL_COLUMN)))
                        if die.tag == _TAG_INLINED and current is not None:
                            current.inlined.append(node)
                        else:
                            funcs.append(node)
                if die.children:
                    stack.append(current)
                    if node is not None:
                        current = node
            self._funcs = funcs
        return self._funcs

    def name(self, offset: int, depth: int = 0) -> Optional[str]:
        """The name of the DIE at ``offset`` as addr2line gives it: its linkage name, else
        its name, else that of its abstract origin or specification."""
        unit = self if self.offset <= offset < self.end else self.info.unit_at(offset)
        if unit is None:
            return None
        die = unit.die(_Reader(unit.info.sections[".debug_info"], offset))
        if die is None:
            return None
        a = die.attrs
        for at in (_AT_LINKAGE_NAME, _AT_MIPS_LINKAGE_NAME):
            name = unit.resolve(a.get(at))
            if isinstance(name, str):
                return name
        name = unit.resolve(a.get(_AT_NAME))
        if isinstance(name, str):
            return name
        origin = a.get(_AT_ABSTRACT_ORIGIN, a.get(_AT_SPECIFICATION))
        if isinstance(origin, _Ref) and depth < _MAX_NAME_DEPTH:
            return unit.name(origin, depth + 1)
        return None

    def covers(self, address: int) -> bool:
        if self.ranges:
            return any(lo <= address < hi for lo, hi in self.ranges)
        # A unit without ranges: those of its line program (as addr2line falls back to).
        lines = self.lines() if self.stmt_list is not None else None
        return lines is not None and lines.find(address) is not None


def _path_push(path: str, part: str) -> str:
    if part.startswith("/") or part.startswith("\\") or part[1:3] == ":\\":
        return part
    sep = "\\" if path[1:3] == ":\\" or path.startswith("\\") else "/"
    if path and not path.endswith(sep):
        path += sep
    return path + part


class DebugInfo:
    """The DWARF of one module, from its custom sections (``{name: contents}``), read
    lazily: nothing is parsed until :meth:`symbols` is first called."""

    def __init__(self, sections: Mapping[str, bytes]) -> None:
        self.sections: Dict[str, bytes] = {name: bytes(data) for name, data in sections.items()
                                           if name.startswith(".debug_")}
        self._units: Optional[List[_Unit]] = None
        self._unit_starts: List[int] = []
        self._abbrevs: Dict[int, Dict[int, Tuple[int, bool, List[Any]]]] = {}
        self._broken = False
        self._lock = threading.Lock()

    def symbols(self, address: int) -> Tuple[FrameSymbol, ...]:
        """The source frames of code address ``address`` (an offset from the start of the
        code section's contents), innermost first: the inlined functions whose code it is,
        then the function that holds them, each with its file, line and column (None where
        not known).  Empty when the DWARF does not describe the address, or is malformed."""
        if self._broken or ".debug_info" not in self.sections:
            return ()
        with self._lock:
            try:
                return self._symbols(address)
            except (_Malformed, IndexError, ValueError, KeyError, struct.error, RecursionError,
                    UnicodeDecodeError, OverflowError, TypeError):
                # A debug section is not part of the module's validity: a malformed one costs
                # the trap its source lines, nothing else.  Not tried again.
                self._broken = True
                return ()

    # ----- sections -----

    def section(self, name: str) -> bytes:
        data = self.sections.get(name)
        if data is None:
            raise _Malformed(f"no {name} section")
        return data

    def string(self, section: str, offset: int) -> str:
        data = self.section(section)
        end = data.index(b"\0", offset)
        return data[offset:end].decode("utf-8", "replace")

    def abbrevs(self, offset: int) -> Dict[int, Tuple[int, bool, List[Any]]]:
        """The abbreviation table at ``offset`` of ``.debug_abbrev``: code -> (tag, has
        children, [(attribute, form, implicit value)])."""
        table = self._abbrevs.get(offset)
        if table is None:
            table = {}
            r = _Reader(self.section(".debug_abbrev"), offset)
            while True:
                code = r.uleb()
                if code == 0:
                    break
                tag = r.uleb()
                children = r.u8() == 1
                specs = []
                while True:
                    at, form = r.uleb(), r.uleb()
                    if at == 0 and form == 0:
                        break
                    specs.append((at, form, r.sleb() if form == 0x21 else None))
                table[code] = (tag, children, specs)
            self._abbrevs[offset] = table
        return table

    # ----- units -----

    def units(self) -> List[_Unit]:
        if self._units is None:
            units = []
            info = self.sections[".debug_info"]
            pos = 0
            while pos + 11 <= len(info):
                unit = _Unit(self, pos)
                units.append(unit)
                if unit.end <= pos:
                    raise _Malformed("empty unit")
                pos = unit.end
            self._units = units
            self._unit_starts = [u.offset for u in units]
        return self._units

    def unit_at(self, offset: int) -> Optional[_Unit]:
        """The unit holding the entry at ``offset`` of ``.debug_info``."""
        units = self.units()
        k = bisect.bisect_right(self._unit_starts, offset) - 1
        return units[k] if k >= 0 and offset < units[k].end else None

    def _symbols(self, address: int) -> Tuple[FrameSymbol, ...]:
        for unit in self.units():
            if not unit.is_code or not unit.covers(address):
                continue
            lines = unit.lines()
            location = lines.find(address) if lines is not None else None
            func = next((f for f in unit.funcs() if f.contains(address)), None)
            if func is None:
                if location is None:
                    continue
                return (FrameSymbol(None, *location),)
            chain = [func]
            while True:
                inner = next((f for f in chain[-1].inlined if f.contains(address)), None)
                if inner is None:
                    break
                chain.append(inner)
            out = []
            where = location
            for node in reversed(chain):
                out.append(FrameSymbol(unit.name(node.die), *(where or (None, None, None))))
                # The function it was inlined into is at the call.
                file, line, column = node.call
                where = (lines.file(file) if lines is not None else None,
                         line or None if isinstance(line, int) else None,
                         column or None if isinstance(column, int) else None)
            return tuple(out)
        return ()
