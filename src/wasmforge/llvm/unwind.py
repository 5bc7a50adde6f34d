"""The call site of each caller frame of a trap, from the native stack: what native
runtimes do with a return-address map, at no cost to the code that runs.

Running code records only the function of each frame (the shadow stack) and, for the
trapping frame, the instruction (``@wf_trap``'s argument).  The call a caller frame was
making is found after the trap, from three things the object code already carries or that
cost no instruction:

- the return address of each native frame, read from the stack while it is still there:
  ``@wf_trap`` hands the callback the address of its own return address
  (``CB_UNWIND``), and :func:`snapshot` copies the stack from there up to the entry
  trampoline before ``longjmp`` reuses it;
- the call frame information (``.eh_frame``, emitted because the functions are
  ``uwtable(sync)``): where each frame's return address is, relative to its stack pointer,
  at each call (no frame pointer needed);
- the debug information (prelude.DEBUG_INFO, read by llvm/dwarf.py): each call and trap
  site carries its function and instruction, and the inliner records through which calls
  it was inlined, so each code address maps to the chain of wasm frames its native frame
  holds there, innermost first.

All three are in the object file, so the module cache carries them with the code; a linked
image (artifacts) keeps them in a trailer (:func:`image_map`).  The object is parsed when a
trap's offsets are first read; the stack is walked then, in the copy.  Inlining (optimised
code) merges frames: a native frame then holds several wasm frames, and the chain at its
return address (the trap's call in the first) gives the call of each.
"""

from __future__ import annotations

import bisect
import ctypes
import re
import struct
import threading
import weakref

from . import dwarf, loader

_SYM = struct.Struct("<IBBHQQ")
_RELA = struct.Struct("<QQq")
_U64 = struct.Struct("<Q")

_SHT_SYMTAB, _SHT_RELA = 2, 4
_SHF_EXECINSTR = 4
_STT_FUNC = 2
_RSP = 7                    # DWARF register number of rsp on x86-64

#: The most native stack a trap copies (bytes): a deeper stack keeps the innermost part.
MAX_SNAPSHOT = 64 << 20

# f<i>: function i's code; t<i>: a thunk calling it through the function table; e<i>: the
# entry of a split function (codegen.ModuleCompiler.splittable), a jump: never on the stack.
_WASM_NAME = re.compile(r"([fte])(\d+)$")


# ----- the object file -----

# LEB128 as DWARF and the call frame information write it (also .eh_frame's)
_uleb, _sleb = dwarf.uleb, dwarf.sleb


class ObjectInfo:
    """What the unwinder needs of one object file, in section-relative places
    ``(section index, offset)``: the functions (symbols), the inline chains of the code,
    the call frame information, and where each entry of ``wf_funcs`` points."""

    def __init__(self, data: bytes, pushes=None):
        sections, names = loader.elf_sections(data)
        #: (file offset, size) of each section
        self.places = [(sh[4], sh[5]) for sh in sections]

        def name_of(off):
            start = names + off
            return data[start:data.index(b"\0", start)]
        by_name = {name_of(sh[0]): i for i, sh in enumerate(sections)}
        symtab = next(sh for sh in sections if sh[1] == _SHT_SYMTAB)
        strtab = sections[symtab[6]][4]
        symbols = []
        for name_off, info, _o, shndx, value, size in _SYM.iter_unpack(
                data[symtab[4]:symtab[4] + symtab[5]]):
            start = strtab + name_off
            symbols.append((data[start:data.index(b"\0", start)].decode(), info, shndx, value, size))
        relocs: dict = {}           # target section -> {offset: (section, offset)}
        for sh in sections:
            if sh[1] == _SHT_RELA:
                out = relocs.setdefault(sh[7], {})
                for r_off, r_info, addend in _RELA.iter_unpack(data[sh[4]:sh[4] + sh[5]]):
                    _n, _i, shndx, value, _s = symbols[r_info >> 32]
                    out[r_off] = (shndx, value + addend)
        exec_sections = {i for i, sh in enumerate(sections) if sh[2] & _SHF_EXECINSTR}
        #: (section, offset, size, name) of each function symbol in code
        self.functions = [(shndx, value, size, name) for name, info, shndx, value, size in symbols
                          if info & 0xF == _STT_FUNC and shndx in exec_sections]
        #: the place each wf_funcs entry points to (a defined function's code)
        self.table = []
        for name, info, shndx, value, size in symbols:
            if name == "wf_funcs":
                rel = relocs.get(shndx, {})
                self.table = [rel.get(value + 8 * k) for k in range(size // 8)]
        #: section -> (starts, chains): the wasm frames of each piece of code (llvm/dwarf.py)
        try:
            self.chains = dwarf.chains(data, sections, by_name, relocs, pushes)
        except (ValueError, IndexError, KeyError, struct.error):
            self.chains = {}
        #: place of a function's start -> (size, [(offset, cfa offset or None)])
        self.cfi = {}
        k = by_name.get(b".eh_frame")
        if k is not None:
            sh = sections[k]
            _parse_eh_frame(data[sh[4]:sh[4] + sh[5]], relocs.get(k, {}), self.cfi)


def _parse_eh_frame(eh: bytes, rel: dict, out: dict) -> None:
    cies = {}
    pos = 0
    while pos + 4 <= len(eh):
        (length,) = struct.unpack_from("<I", eh, pos)
        if length == 0 or length == 0xFFFFFFFF:
            break                   # the terminator (a 64-bit length never comes from LLVM)
        start, end = pos + 4, pos + 4 + length
        (cie_id,) = struct.unpack_from("<I", eh, start)
        if cie_id == 0:
            p = start + 5           # id, version
            aug_end = eh.index(b"\0", p)
            aug = eh[p:aug_end]
            p = aug_end + 1
            code_align, p = _uleb(eh, p)
            data_align, p = _sleb(eh, p)
            if eh[start + 4] == 1:
                p += 1              # return address register
            else:
                _ra, p = _uleb(eh, p)
            enc = 0
            if aug[:1] == b"z":
                n, p = _uleb(eh, p)
                q = p
                for c in aug[1:]:
                    if c == ord("R"):
                        enc = eh[q]
                        q += 1
                    elif c == ord("P"):
                        q = len(eh)     # a personality routine: not made by our code
                    elif c == ord("L"):
                        q += 1
                p += n
            cies[pos] = (code_align, data_align, enc, aug, eh[p:end])
        else:
            cie = cies.get(start - cie_id)
            if cie is not None:
                code_align, data_align, enc, aug, initial = cie
                size = 4 if enc & 0x0F in (0x03, 0x0B) else 8
                place = rel.get(start + 4)
                fmt = "<I" if size == 4 else "<Q"
                (pc_range,) = struct.unpack_from(fmt, eh, start + 4 + size)
                p = start + 4 + 2 * size
                if aug[:1] == b"z":
                    n, p = _uleb(eh, p)
                    p += n
                if place is not None:
                    out[place] = (pc_range, _cfa_rows(initial + eh[p:end], code_align, data_align))
        pos = end


def _cfa_rows(ins: bytes, code_align: int, data_align: int) -> list:
    """The CFA rule from each code offset on, ``[(offset, cfa - rsp or None)]``, of the call
    frame instructions ``ins`` (DWARF 5, 6.4.2).  A rule on another register than rsp (a frame
    pointer, an expression) is None: the walk stops there."""
    rows = [(0, None)]
    loc, reg, off = 0, _RSP, 0
    saved = []
    p, n = 0, len(ins)

    def row():
        value = off if reg == _RSP else None
        if rows[-1][0] == loc:
            rows[-1] = (loc, value)
        else:
            rows.append((loc, value))
    while p < n:
        op = ins[p]
        p += 1
        high, low = op & 0xC0, op & 0x3F
        if high == 0x40:
            loc += low * code_align
        elif high == 0x80:
            _, p = _uleb(ins, p)
        elif high == 0xC0:
            pass
        elif op == 0x00:
            pass
        elif op in (0x02, 0x03, 0x04):
            size = {0x02: 1, 0x03: 2, 0x04: 4}[op]
            loc += int.from_bytes(ins[p:p + size], "little") * code_align
            p += size
        elif op in (0x05, 0x09, 0x14, 0x2F):
            _, p = _uleb(ins, p)
            _, p = _uleb(ins, p)
        elif op in (0x06, 0x07, 0x08, 0x2E):
            _, p = _uleb(ins, p)
        elif op in (0x11, 0x15):
            _, p = _uleb(ins, p)
            _, p = _sleb(ins, p)
        elif op == 0x0A:
            saved.append((reg, off))
        elif op == 0x0B:
            if saved:
                reg, off = saved.pop()
            row()
        elif op == 0x0C:
            reg, p = _uleb(ins, p)
            off, p = _uleb(ins, p)
            row()
        elif op == 0x0D:
            reg, p = _uleb(ins, p)
            row()
        elif op == 0x0E:
            off, p = _uleb(ins, p)
            row()
        elif op == 0x12:
            reg, p = _uleb(ins, p)
            v, p = _sleb(ins, p)
            off = v * data_align
            row()
        elif op == 0x13:
            v, p = _sleb(ins, p)
            off = v * data_align
            row()
        elif op == 0x0F:
            n2, p = _uleb(ins, p)
            p += n2
            reg = -1
            row()
        elif op in (0x10, 0x16):
            _, p = _uleb(ins, p)
            n2, p = _uleb(ins, p)
            p += n2
        else:
            return [(0, None)]      # not understood: no rule anywhere in this function
    return rows


# ----- the same in a linked image's trailer (llvm/loader.py link) -----

_MAP_MAGIC = b"wfcalls2"
_MAP_HEAD = struct.Struct("<8sIIIII")       # magic, functions, rows, table entries, pieces, links
_MAP_FUNC = struct.Struct("<QIiII")         # offset, size, f<i>: i / t<i>: -1 - i, rows from, count
_MAP_ROW = struct.Struct("<Ii")             # code offset, cfa - rsp (-1: none)
_MAP_PLACE = struct.Struct("<q")            # a wf_funcs entry's offset (-1: none)
_MAP_PIECE = struct.Struct("<II")           # code offset, chain's first link << 8 | its length
_MAP_LINK = struct.Struct("<ii")            # funcidx, instruction index (-1: unknown)


def image_map(obj: bytes, layout: dict) -> bytes:
    """What :class:`ObjectInfo` finds in the object ``obj``, at the offsets its sections have
    in the image linked from it (``layout``: section index -> offset), for the image's
    trailer: an image keeps neither symbols, nor ``.eh_frame``, nor debug information."""
    try:
        info = ObjectInfo(obj)
    except (loader.LoaderError, ValueError, IndexError, struct.error, StopIteration):
        return b""

    def at(place):
        return layout[place[0]] + place[1] if place is not None and place[0] in layout else -1
    funcs, rows = [], []
    for shndx, value, size, name in info.functions:
        m = _WASM_NAME.match(name)
        if m is None or at((shndx, value)) < 0:
            continue        # (the entry trampolines: a walk stops there anyway)
        code = int(m.group(2))
        cfi = info.cfi.get((shndx, value))
        fn_rows = cfi[1] if cfi is not None else []
        funcs.append(_MAP_FUNC.pack(at((shndx, value)), size, code if m.group(1) == "f" else -1 - code,
                                    len(rows), len(fn_rows)))
        rows += [_MAP_ROW.pack(off, -1 if cfa is None else cfa) for off, cfa in fn_rows]
    table = [_MAP_PLACE.pack(at(place)) for place in info.table]
    pieces, links, interned = [], [], {}
    for shndx, (starts, chains) in sorted(info.chains.items()):
        if shndx not in layout:
            continue
        base = layout[shndx]
        for start, chain in zip(starts, chains):
            if len(chain) > 0xFF:
                chain = ()      # (deeper than any inlining: not known)
            first = interned.get(chain)
            if first is None:
                first = interned[chain] = len(links)
                links += [_MAP_LINK.pack(func, index) for func, index in chain]
            pieces.append((base + start, first << 8 | len(chain)))
    pieces.sort()
    return b"".join([_MAP_HEAD.pack(_MAP_MAGIC, len(funcs), len(rows), len(table), len(pieces),
                                    len(links))]
                    + funcs + rows + table + [_MAP_PIECE.pack(*p) for p in pieces] + links)


def call_map(functions, table, sites) -> bytes:
    """:func:`image_map`'s bytes for code made without LLVM (llvm/quick): ``functions``
    ``[(offset, size, funcidx, [(code offset, cfa - rsp)])]``, ``table`` the offset of each
    ``wf_funcs`` entry's function, ``sites`` ``[(offset, funcidx, instruction index)]`` of
    each call (the chain from there to the next site is that one frame)."""
    funcs, rows = [], []
    for off, size, funcidx, fn_rows in functions:
        funcs.append(_MAP_FUNC.pack(off, size, funcidx, len(rows), len(fn_rows)))
        rows += [_MAP_ROW.pack(at, cfa) for at, cfa in fn_rows]
    pieces, links, interned = [], [], {}
    for off, funcidx, index in sorted(sites):
        first = interned.get((funcidx, index))
        if first is None:
            first = interned[funcidx, index] = len(links)
            links.append(_MAP_LINK.pack(funcidx, index))
        pieces.append(_MAP_PIECE.pack(off, first << 8 | 1))
    return b"".join([_MAP_HEAD.pack(_MAP_MAGIC, len(funcs), len(rows), len(table), len(pieces),
                                    len(links))]
                    + funcs + rows + [_MAP_PLACE.pack(t) for t in table] + pieces + links)


class MapInfo:
    """:class:`ObjectInfo` read back from :func:`image_map`'s bytes (one section, 0: the
    image)."""

    def __init__(self, data: bytes):
        magic, nfuncs, nrows, ntable, npieces, nlinks = _MAP_HEAD.unpack_from(data)
        if magic != _MAP_MAGIC:
            raise ValueError("not a call map")
        pos = _MAP_HEAD.size
        funcs = list(_MAP_FUNC.iter_unpack(data[pos:pos + nfuncs * _MAP_FUNC.size]))
        pos += nfuncs * _MAP_FUNC.size
        rows = [(off, None if cfa < 0 else cfa)
                for off, cfa in _MAP_ROW.iter_unpack(data[pos:pos + nrows * _MAP_ROW.size])]
        pos += nrows * _MAP_ROW.size
        self.table = [None if off < 0 else (0, off)
                      for (off,) in _MAP_PLACE.iter_unpack(data[pos:pos + ntable * _MAP_PLACE.size])]
        pos += ntable * _MAP_PLACE.size
        pieces = list(_MAP_PIECE.iter_unpack(data[pos:pos + npieces * _MAP_PIECE.size]))
        pos += npieces * _MAP_PIECE.size
        links = list(_MAP_LINK.iter_unpack(data[pos:pos + nlinks * _MAP_LINK.size]))
        if pos + nlinks * _MAP_LINK.size != len(data):
            raise ValueError("malformed call map")
        self.chains = {0: ([off for off, _ in pieces],
                           [tuple(links[w >> 8:(w >> 8) + (w & 0xFF)]) for _, w in pieces])}
        self.functions, self.cfi = [], {}
        for off, size, code, first, count in funcs:
            name = f"f{code}" if code >= 0 else f"t{-1 - code}"
            self.functions.append((0, off, size, name))
            if count:
                self.cfi[0, off] = (size, rows[first:first + count])


# ----- the code of a compiled module in memory -----

class _Function:
    __slots__ = ("start", "end", "funcidx", "wasm", "rows", "row_locs")

    def __init__(self, start, end, funcidx, wasm):
        self.start, self.end = start, end
        self.funcidx = funcidx      # its wasm function (a thunk @t<i>/@f<i>: None)
        self.wasm = wasm            # a wasm function or thunk (else: the walk ends there)
        self.rows = None
        self.row_locs = None

    def cfa_offset(self, pc: int):
        rows = self.rows
        if not rows:
            return None
        return rows[bisect.bisect_right(self.row_locs, pc - self.start) - 1][1]


class CodeMap:
    """The functions, call frame information and inline chains of every piece of machine
    code a compiled module has bound (``CompiledModule.code_images``: its whole-module code,
    its lazily compiled batches, baseline code replaced by optimised code), at their
    addresses in this process."""

    def __init__(self):
        self.done = 0
        self.functions: list = []
        self.starts: list = []
        self.pieces: list = []          # (address, chain), sorted
        self.piece_at: list = []
        # pc -> (function, cfa offset) or None: a deep recursion meets the same few return
        # addresses thousands of times.
        self.frames: dict = {}

    def update(self, images: list) -> None:
        """Add the images not seen yet: ``(object code, address of its wf_funcs)``."""
        if self.done >= len(images):
            return
        new = images[self.done:]
        self.done = len(images)
        for obj, table_addr in new:
            functions, pieces = _image_code(obj, table_addr)
            self.functions.extend(functions)
            self.pieces.extend(pieces)
        self.functions.sort(key=lambda f: f.start)
        self.starts = [f.start for f in self.functions]
        self.pieces.sort(key=lambda piece: piece[0])
        self.piece_at = [a for a, _ in self.pieces]
        self.frames.clear()

    def function_at(self, pc: int):
        """The function whose code holds address ``pc``, or None."""
        k = bisect.bisect_right(self.starts, pc) - 1
        if k >= 0:
            f = self.functions[k]
            if pc < f.end:
                return f
        return None

    def chain_at(self, pc: int) -> tuple:
        """The wasm frames the code at address ``pc`` belongs to, innermost first:
        ``((funcidx, instruction index or -1), ...)``, or ``()``."""
        k = bisect.bisect_right(self.piece_at, pc) - 1
        return self.pieces[k][1] if k >= 0 else ()


def _image_code(obj: bytes, table_addr: int) -> tuple:
    """The functions and the inline chains (``[(address, chain)]``) of one image."""
    try:
        if loader.is_image(obj):
            trailer = loader.trailer_of(obj)
            if not trailer:
                return [], []   # linked without a call map: no call sites
            info = MapInfo(trailer)
        else:
            info = ObjectInfo(obj)
    except (loader.LoaderError, ValueError, IndexError, struct.error, StopIteration):
        return [], []
    if not info.table or not table_addr:
        return [], []
    # Where each code section is: from the addresses wf_funcs holds (the only code
    # addresses that are known however the object was loaded, by our loader or LLVM's).
    addrs = (ctypes.c_uint64 * len(info.table)).from_address(table_addr)
    bases = {}
    for place, addr in zip(info.table, addrs):
        if place is not None and addr:
            bases[place[0]] = addr - place[1]
    out = []
    ends: dict = {}
    for shndx, value, size, name in info.functions:
        base = bases.get(shndx)
        if base is None or not size:
            continue
        m = _WASM_NAME.match(name)
        wasm = m is not None
        funcidx = int(m.group(2)) if wasm and m.group(1) == "f" else None
        f = _Function(base + value, base + value + size, funcidx, wasm)
        cfi = info.cfi.get((shndx, value))
        if cfi is not None:
            f.rows = cfi[1]
            f.row_locs = [r[0] for r in f.rows]
        out.append(f)
        ends[shndx] = max(ends.get(shndx, 0), value + size)
    out.sort(key=lambda f: f.start)
    pieces = []
    for shndx, (starts, chains) in info.chains.items():
        base = bases.get(shndx)
        if base is None:
            continue
        pieces += [(base + start, chain) for start, chain in zip(starts, chains)]
        # (no chain after the section's code: the next image's code may follow)
        pieces.append((base + ends.get(shndx, starts[-1] if starts else 0), ()))
    return out, pieces


# ----- at the trap: the stack -----

def snapshot(slot: int, top: int):
    """``(slot, the bytes from slot to top)``: the native stack of a trap's frames, copied
    while they are there (``slot`` holds @wf_trap's return address; ``top`` is above the
    outermost wasm frame: the entry trampoline's jmp_buf)."""
    if not slot or top <= slot:
        return None
    return slot, ctypes.string_at(slot, min(top - slot, MAX_SNAPSHOT))


def walk(code: CodeMap, stack) -> list:
    """The native frames of the snapshot ``stack``, innermost first: ``(function, pc)``,
    ``pc`` the address the frame's code was at (the call of @wf_trap in the first, a
    return address in the others), up to the first frame that is not wasm code."""
    slot, raw = stack
    top = slot + len(raw) - 8
    (pc,) = _U64.unpack_from(raw, 0)
    sp = slot + 8
    out = []
    frames = code.frames
    while True:
        known = frames.get(pc, False)
        if known is False:
            f = code.function_at(pc - 1)      # pc - 1: a noreturn call may end the function
            known = frames[pc] = None if f is None or not f.wasm else (f, f.cfa_offset(pc - 1))
        if known is None or known[1] is None:
            break
        f, off = known
        cfa = sp + off
        if not sp < cfa <= top:
            break
        out.append((f, pc))
        (pc,) = _U64.unpack_from(raw, cfa - 8 - slot)
        sp = cfa
    return out


# ----- matching native frames with the wasm frames -----

def call_sites(indexes: list, pos: int, native: list, chain_at, is_tail_call=None) -> list:
    """The instruction each wasm frame ``indexes[k]`` (innermost first) was at, from the
    chains (``chain_at(address)``, :meth:`CodeMap.chain_at`) of the native frames
    ``native`` (:func:`walk`'s): the instruction index, or None where it is not known.  Each
    native frame holds the wasm frames of its chain at its return address (less 1: the call
    instruction; in the first frame the call of ``@wf_trap``).  ``pos`` is the trap's
    position: ``pos = -2 - f`` is a stack overflow in the entry check of function ``f``,
    which had not started (the first chain begins with it: dropped).  A frame of the chain
    that is not on the shadow stack made a tail call (``is_tail_call(func, index)``: a
    ``return_call`` inlined; or its call is not known) and is no wasm frame any more:
    skipped.  Any doubt ends the matching: the frames left are None,
    never a wrong call."""
    n = len(indexes)
    out: list = [None] * n
    k = 0                       # the first wasm frame not placed yet
    for j, (f, pc) in enumerate(native):
        if k >= n:
            break
        if f.funcidx is None:
            continue            # a thunk (lazy or baseline code) between two wasm frames
        chain = chain_at(pc - 1)
        if chain and chain[-1][0] == -1:
            chain = chain[:-1] + ((f.funcidx, chain[-1][1]),)
        if j == 0 and pos <= -2 and chain and chain[0][0] == -2 - pos:
            if len(chain) == 1:
                continue        # the frame of the function that could not start
            chain = chain[1:]
        if not chain or chain[-1][0] != f.funcidx:
            break               # (the outermost of a native frame's wasm frames is its own)
        for func, index in chain:
            if k < n and indexes[k] != func and is_tail_call is not None \
                    and (index < 0 or is_tail_call(func, index)):
                continue        # (where a merged trap block's chain does not tell the call)
            if k >= n or indexes[k] != func:
                return out
            if index >= 0:
                out[k] = index
            k += 1
    return out


# ----- a trap's frames -----

_code_maps: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
_code_maps_lock = threading.Lock()


class Backtrace:
    """The call sites of one trap's wasm frames, found when an offset is first read
    (``Frame``'s ``locate``): ``indexes`` the frames' functions (innermost first), ``pos``
    the trapping instruction (or -1), ``stack`` the :func:`snapshot` taken at the trap,
    ``lines`` (or None) what the shadow-stack entries of inlined copies tell: for frame
    ``k``, the instruction index + 1 of frame ``k + 1``'s call of it, else 0
    (llvm/copies.py)."""

    __slots__ = ("compiled", "offsets", "indexes", "pos", "stack", "lines", "sites")

    def __init__(self, compiled, offsets, indexes: list, pos: int, stack, lines=None):
        self.compiled, self.offsets = compiled, offsets
        self.indexes, self.pos, self.stack = indexes, pos, stack
        self.lines = lines
        self.sites = None

    def source(self):
        """The module's :class:`CodeOffsets` (its DWARF source lines: ``Frame.symbols``)."""
        return self.offsets

    def locate(self, funcidx: int, k: int):
        """``(func_offset, module_offset)`` of the call wasm frame ``k`` was making."""
        sites = self.sites
        if sites is None:
            sites = self.sites = self._resolve()
            self.stack = None
        index = sites[k]
        if index is None:
            # Unknown: still exact where the function has one call that can make it.
            return self.offsets.locate_call(funcidx, self.indexes[k - 1] if k else -1)
        return self.offsets.locate(funcidx, index)

    def _resolve(self) -> list:
        compiled = self.compiled
        with _code_maps_lock:
            code = _code_maps.get(compiled)
            if code is None:
                code = _code_maps[compiled] = CodeMap()
            code.update(list(getattr(compiled, "code_images", ())))
            native = walk(code, self.stack)
        sites = call_sites(self.indexes, self.pos, native, code.chain_at,
                           getattr(self.offsets, "is_tail_call", None))
        if self.lines is not None:
            # A call the native stack does not tell (the trap block of several inlined
            # copies, merged) is named by the copy's entry.
            for k, line in enumerate(self.lines[:-1]):
                if line and sites[k + 1] is None:
                    sites[k + 1] = line - 1
        return sites
