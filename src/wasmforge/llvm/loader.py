"""Our own loader of the llvm tier's object code: an ELF64 x86-64 relocatable object, as
LLVM emits it for the JIT (large code model), mapped into memory and relocated without LLVM.

Warm runs (the module cache) and ahead-of-time artifacts load their machine code through
here, so they need neither llvmlite nor LLVM's JIT linker: read the sections, ``mmap`` one
private anonymous region, copy the allocated sections in, apply the relocations, then make
the code read+execute and the constants read-only (``mprotect``).

Only what our code generation produces is handled.  With the large code model every
reference is absolute (``R_X86_64_64``: calls to libc's ``memset``/``memmove``/``_setjmp``/
``longjmp``, the function table ``wf_funcs``, constant pools) or, in ``.eh_frame``,
PC-relative 64-bit (``R_X86_64_PC64``); ``PC32``/``PLT32`` are accepted when the target is
within reach.  Anything else (a GOT relocation, TLS, another machine) is refused with a
:class:`LoaderError`: the caller falls back to LLVM's JIT.  ``.eh_frame`` is not loaded:
no C++ unwinding ever crosses our code (traps ``longjmp``).

An object can also be *linked* ahead of time (:func:`link`): the layout, the symbol table and
every relocation that does not depend on where the image lands are resolved once, and what
is stored (an artifact's code, a module cache entry) is the image itself, the offsets of
the absolute relocations still to be moved by the load address, the few C library
references and the global symbols.  Loading a linked image (:func:`load` tells it by its
magic) is one ``mmap``, one copy, those patches and one ``mprotect``: no section headers, no
symbol table, no string lookups.  Its layout puts the read-only sections in the code
pages (read+execute, as constant pools in code are), so a small module maps one page.

Object code is trusted input (it comes from the authenticated cache or from an artifact the
user chose to run, docs/security.md): the checks here catch malformed and foreign objects,
not hostile ones.
"""

from __future__ import annotations

import array
import ctypes
import mmap
import os
import struct
import sys

from ..errors import WasmError


class LoaderError(WasmError):
    """The object code cannot be loaded by this loader (format, machine or relocation)."""


_EHDR = struct.Struct("<16sHHIQQQIHHHHHH")
_SHDR = struct.Struct("<IIQQQQIIQQ")
_SYM = struct.Struct("<IBBHQQ")
_RELA = struct.Struct("<QQq")

_EM_X86_64 = 62
_ET_REL = 1
_SHT_SYMTAB, _SHT_RELA, _SHT_NOBITS, _SHT_REL = 2, 4, 8, 9
_SHF_WRITE, _SHF_ALLOC, _SHF_EXECINSTR = 1, 2, 4
_SHN_UNDEF, _SHN_ABS, _SHN_COMMON = 0, 0xFFF1, 0xFFF2
_STB_LOCAL = 0

_R_64, _R_PC32, _R_PLT32, _R_PC64 = 1, 2, 4, 24
_R_NAMES = {_R_64: "R_X86_64_64", _R_PC32: "R_X86_64_PC32", _R_PLT32: "R_X86_64_PLT32",
            _R_PC64: "R_X86_64_PC64"}

_PAGE = mmap.PAGESIZE
_PROT_READ, _PROT_WRITE, _PROT_EXEC = 1, 2, 4

_libc = None
_mprotect = None
_munmap = None
_mmap = None
_symbol_cache: dict = {}


_supported = None


def supported() -> bool:
    """Whether this host can run what the loader produces (Linux on x86-64)."""
    global _supported
    if _supported is None:
        # (os.uname, which platform.machine() reads: platform costs a warm run its import)
        _supported = sys.platform.startswith("linux") and os.uname().machine in ("x86_64", "AMD64")
    return _supported


def _libc_init():
    global _libc, _mprotect, _munmap, _mmap
    if _libc is None:
        libc = ctypes.CDLL(None, use_errno=True)
        _mmap = libc.mmap
        _mmap.restype = ctypes.c_void_p
        _mmap.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                          ctypes.c_int, ctypes.c_long)
        _mprotect = libc.mprotect
        _mprotect.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
        _munmap = libc.munmap
        _munmap.argtypes = (ctypes.c_void_p, ctypes.c_size_t)
        _libc = libc
    return _libc


def external(name: str) -> int:
    """The address of the C library symbol ``name`` (libc, else libm): the JIT path resolves
    the same names through the process's symbols."""
    addr = _symbol_cache.get(name)
    if addr is None:
        libc = _libc_init()
        addr = 0
        for lib in (libc, None):
            if lib is None:
                try:
                    lib = ctypes.CDLL("libm.so.6")
                except OSError:
                    break
            try:
                addr = ctypes.cast(getattr(lib, name), ctypes.c_void_p).value or 0
            except AttributeError:
                continue
            if addr:
                break
        if not addr:
            raise LoaderError(f"object code needs the symbol {name!r}, which this process lacks")
        _symbol_cache[name] = addr
    return addr


# The entry caller (entry_caller): rdi = a block of five u64s; calls block[4] (an entry
# trampoline, layout.ENTRY_TYPE) with block[0..3] as its four arguments, by a tail jump.
_ENTRY_CALLER_CODE = bytes.fromhex(
    "4889f8"        # mov rax, rdi
    "488b7008"      # mov rsi, [rax + 8]
    "488b5010"      # mov rdx, [rax + 16]
    "488b4818"      # mov rcx, [rax + 24]
    "488b38"        # mov rdi, [rax]
    "ff6020")       # jmp [rax + 32]
_entry_caller = None


def entry_caller():
    """``call(block)``, a ctypes function of one pointer: it calls the entry trampoline at
    ``block[4]`` (a u64 array) with ``block[0]``-``block[3]`` (vmctx, function, arguments,
    results) and returns its answer.  A Python->wasm call converts one ctypes argument
    instead of four (about 0.3 us of its 2 us).  Mapped once per process, read+execute; None
    where the loader is not supported (the caller then calls the trampoline itself)."""
    global _entry_caller
    if _entry_caller is None:
        if not supported():
            return None
        _libc_init()
        base = _mmap(None, _PAGE, _PROT_READ | _PROT_WRITE, mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS, -1, 0)
        if base is None or base == _MAP_FAILED:
            raise MemoryError("mmap failed while mapping the entry caller")
        _memmove(base, _ENTRY_CALLER_CODE, len(_ENTRY_CALLER_CODE))
        if _mprotect(base, _PAGE, _PROT_READ | _PROT_EXEC) != 0:
            raise OSError(ctypes.get_errno(), "mprotect failed while mapping the entry caller")
        _entry_caller = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_void_p)(base)
    return _entry_caller


class Image:
    """One loaded object: its mapping (unmapped when the image is collected: keep it alive
    as long as its code may run) and its global symbols."""

    __slots__ = ("base", "size", "symbols", "pooled", "key", "__weakref__")

    def __init__(self, base: int, size: int, symbols: dict, pooled: bool = False,
                 key: bytes | None = None):
        self.base = base
        self.size = size
        self.symbols = symbols
        self.pooled = pooled        # a linked image's mapping: may go to the pool when freed
        # The content key of a linked image mapped read+execute whole (load's ``key``):
        # its region, pooled, is known to hold that image as mapped at this base.
        self.key = key

    def __del__(self):
        # An image holds no references back, so reference counting frees it (no cycle to
        # wait for); __del__ rather than weakref.finalize: a tenth of the cost per image,
        # which matters for an artifact's cold start.  At interpreter exit the mapping may
        # outlive the module's globals: the process unmaps it anyway.
        # A small mapping goes to the pool of code regions for the next image of its size
        # (_load_image): a load then costs no mmap, no page faults and no munmap.
        global _pooled_bytes
        munmap = _munmap
        size = self.size
        if munmap is not None and size:
            self.size = 0
            if self.pooled:
                try:
                    if size + _pooled_bytes <= _POOL_BYTES:
                        free = _pool.setdefault(size, [])
                        if len(free) < _POOL_PER_SIZE:
                            _pooled_bytes += size
                            if self.key is not None:
                                _holds[self.base] = self.key
                            else:
                                _holds.pop(self.base, None)
                            free.append(self.base)
                            return
                    _holds.pop(self.base, None)
                except (TypeError, AttributeError):
                    pass            # at interpreter exit, with this module's globals cleared
            munmap(self.base, size)

    def address(self, name: str) -> int:
        """The address of the global symbol ``name``, 0 when there is none."""
        return self.symbols.get(name, 0)

    # The names of an MCJIT engine's lookups, so that either can back a compiled module.
    get_function_address = get_global_value_address = address


def load(data, key: bytes | None = None) -> Image:
    """Map and relocate the object file ``data``; raise :class:`LoaderError` for anything
    this loader does not handle.  ``key``, for a linked image: a digest of its content
    (an artifact's checksum), under which what loading it needs is kept, and by which a
    pooled region still holding that image as mapped is taken again as it is."""
    data = bytes(data)
    if not supported():
        raise LoaderError("the object loader supports Linux x86-64 only")
    try:
        if data[:len(IMAGE_MAGIC)] == IMAGE_MAGIC:
            return _load_image(data, key)
        return _load(data)
    except (struct.error, IndexError, ValueError):    # ValueError: a short section too
        raise LoaderError("malformed object code") from None


class _Region:
    """One mapping shared by the images of a group (:func:`load_group`): unmapped when the
    last of them is collected (each holds it)."""

    __slots__ = ("base", "size", "__weakref__")

    def __init__(self, base: int, size: int) -> None:
        self.base = base
        self.size = size

    def __del__(self):
        munmap, size = _munmap, self.size
        if munmap is not None and size:
            self.size = 0
            munmap(self.base, size)


class _Member(Image):
    """A linked image loaded by :func:`load_group`: its part of the group's :class:`_Region`,
    which it keeps mapped."""

    __slots__ = ("region",)

    def __init__(self, base: int, size: int, symbols: dict, region: _Region) -> None:
        super().__init__(base, size, symbols)
        self.region = region

    def __del__(self):
        pass                    # (the region unmaps itself with its last member)


def load_group(images: list) -> list:
    """Load the linked images ``images`` (:func:`link`) into one mapping: per image its
    :class:`Image` (a part of the mapping, which stays mapped while any of them lives), or
    None for one that is not a linked image or is malformed (the caller loads it alone).

    A warm run of a lazily compiled module binds every batch of the module cache's pack
    before it runs (llvm/compiler.py ``_bind_pack``): yosys's 3,644 images one ``mmap``,
    ``mprotect`` and copy each cost 0.1 s; here one ``mmap``, one copy per image into it,
    the patches, and one ``mprotect`` per stretch of read+execute pages."""
    if not supported():
        raise LoaderError("the object loader supports Linux x86-64 only")
    layouts: list = []
    total = 0
    for data in images:
        try:
            layout = _member_layout(data)
            if layout is not None:
                # The C library's addresses now: an image needing one this process lacks
                # is left to load alone (and fail alone), not the group.
                layout = layout[:6] + ([external(name) for name in layout[6]],) + layout[7:]
        except (LoaderError, struct.error, IndexError, ValueError, TypeError):
            layout = None
        layouts.append(layout)
        if layout is not None:
            total += layout[0]
    if not total:
        return [None] * len(layouts)
    if _libc is None:
        _libc_init()
    base = _mmap(None, total, _PROT_READ | _PROT_WRITE,
                 mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | _MAP_POPULATE, -1, 0)
    if base is None or base == _MAP_FAILED:
        raise MemoryError("mmap failed while loading object code")
    region = _Region(base, total)
    out: list = []
    try:
        # The patches are written into the mapping itself, through a buffer over it.
        view = memoryview((ctypes.c_char * total).from_address(base)).cast("B")
        pack, mask = _U64.pack_into, 0xFFFFFFFFFFFFFFFF
        spans: list = []            # (start, end) of read+execute stretches
        at = base
        for layout in layouts:
            if layout is None:
                out.append(None)
                continue
            size, exec_len, code, offs, targets, externs, ext_addrs, symbols = layout
            if code:
                # (copied out of the pack here, one image at a time, straight into the
                # mapping: all of them copied first held a second copy of the pack's code
                # at once, 25 MB for yosys, and each copied to bytes first copied it twice)
                view[at - base:at - base + len(code)] = code
            # Each image's patches through a view of its own bytes: a slot past them is
            # refused (struct.error), as by _load_image's buffer, instead of patching the
            # next image of the region.
            mine = view[at - base:at - base + len(code)]
            try:
                for slot, target in zip(offs, targets):
                    pack(mine, slot, at + target)
                for slot, k, addend in externs:
                    pack(mine, slot, (ext_addrs[k] + addend) & mask)
            except (struct.error, IndexError):
                ctypes.memset(at, 0, size)      # (the next image takes its place)
                out.append(None)
                continue
            if exec_len:
                if spans and spans[-1][1] == at:
                    spans[-1] = (spans[-1][0], at + exec_len)
                else:
                    spans.append((at, at + exec_len))
            out.append(_Member(at, size, {name: at + o for name, o in symbols}, region))
            at += size
        del view, mine
        for start, end in spans:
            if _mprotect(start, end - start, _PROT_READ | _PROT_EXEC) != 0:
                raise OSError(ctypes.get_errno(), "mprotect failed while loading object code")
    except BaseException:
        out.clear()
        region.size = 0
        _munmap(base, total)
        raise
    return out


def _member_layout(data):
    """What loading the linked image ``data`` needs of it, read without copying (views of
    ``data``): ``(size, exec_len, code, relocation slots, their targets, C library
    references, their names, symbols)``; None when ``data`` is no linked image,
    :class:`LoaderError` when it is a malformed one (:func:`load_group` and :class:`_Layout`).
    A slot past the code is refused where it is patched: in the buffer of the code alone."""
    view = memoryview(data)
    if bytes(view[:len(IMAGE_MAGIC)]) != IMAGE_MAGIC:
        return None
    end = len(view)
    if end >= _TRAILER.size and bytes(view[-8:]) == TRAILER_MAGIC:
        n = _TRAILER.unpack_from(view, end - _TRAILER.size)[0]
        if n > end - _TRAILER.size:
            raise LoaderError("malformed linked image (trailer)")
        end -= _TRAILER.size + n
    (_, size, exec_len, nbytes, nrel, next_, nnames, nsym, names_len) = _IMAGE.unpack_from(view)
    pos = _IMAGE.size
    rel_at = pos + nbytes
    ext_at = rel_at + 12 * nrel
    sym_at = ext_at + _EXTERN.size * next_
    names_at = sym_at + 8 * nsym
    if names_at + names_len != end or nbytes > size or exec_len > size or not size \
            or size % _PAGE or exec_len % _PAGE:
        raise LoaderError("malformed linked image")
    names = bytes(view[names_at:end]).decode().split("\0") if names_len else []
    if len(names) != nnames + nsym:
        raise LoaderError("malformed linked image (names)")
    return (size, exec_len, view[pos:rel_at],
            view[rel_at:rel_at + 4 * nrel].cast("I"), view[rel_at + 4 * nrel:ext_at].cast("Q"),
            _EXTERN.iter_unpack(view[ext_at:sym_at]), names[:nnames],
            zip(names[nnames:], view[sym_at:names_at].cast("Q")))


def is_image(data) -> bool:
    """Whether ``data`` is a linked image (:func:`link`), which only this loader loads."""
    return bytes(data[:len(IMAGE_MAGIC)]) == IMAGE_MAGIC


def _load(data: bytes) -> Image:
    sections, nameoff = elf_sections(data)

    # Layout: code pages, then read-only pages, then writable pages, each group page-aligned
    # so that one mprotect per group sets its protection.  Only the names of the sections
    # loaded are read (to leave out .eh_frame).
    groups = ([], [], [])
    find = data.index
    for i, sh in enumerate(sections):
        flags = sh[2]
        if not flags & _SHF_ALLOC or sh[5] == 0:
            continue
        start = nameoff + sh[0]
        if data[start:find(b"\0", start)] == b".eh_frame":
            continue
        groups[0 if flags & _SHF_EXECINSTR else 2 if flags & _SHF_WRITE else 1].append(i)
    offsets = {}
    spans = []
    pos = 0
    for g in groups:
        start = pos
        for i in g:
            align = max(sections[i][8], 1)
            pos = (pos + align - 1) // align * align
            offsets[i] = pos
            pos += sections[i][5]
        pos = (pos + _PAGE - 1) // _PAGE * _PAGE
        spans.append((start, pos - start))
    size = max(pos, _PAGE)
    if _libc is None:
        _libc_init()
    base = _mmap(None, size, _PROT_READ | _PROT_WRITE,
                 mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS, -1, 0)
    if base is None or base == _MAP_FAILED:
        raise MemoryError("mmap failed while loading object code")
    image = None
    try:
        # The image is built in a bytearray (slice copies and struct.pack_into, not a
        # ctypes call per section and per relocation: a module has hundreds of relocations,
        # and a ctypes call costs a microsecond), then copied into the mapping at once.
        buf = bytearray(size)
        for i, off in offsets.items():
            sh = sections[i]
            if sh[1] != _SHT_NOBITS:          # .bss stays zero (anonymous pages)
                chunk = data[sh[4]:sh[4] + sh[5]]
                if len(chunk) != sh[5]:
                    raise LoaderError("malformed object code (a section runs past its end)")
                buf[off:off + sh[5]] = chunk
        symbols, addrs = _symbols(data, sections, offsets, base)
        image = Image(base, size, symbols)
        for sh in sections:
            kind = sh[1]
            if kind == _SHT_RELA:
                if sh[7] in offsets:
                    _relocate(data, sh, buf, offsets[sh[7]], base, addrs)
            elif kind == _SHT_REL:
                raise LoaderError("object code has REL relocations (only RELA is handled)")
        _memmove(base, bytes(buf), size)
        # Two protection changes at most (code, then constants); the writable group (if
        # any) keeps the mapping's read+write.
        for (start, length), prot in zip(spans[:2], (_PROT_READ | _PROT_EXEC, _PROT_READ)):
            if length and _mprotect(base + start, length, prot) != 0:
                raise OSError(ctypes.get_errno(), "mprotect failed while loading object code")
    except BaseException:
        if image is None:
            _munmap(base, size)
        raise
    return image


_MAP_FAILED = ctypes.c_void_p(-1).value
_memmove = ctypes.memmove


def _symbols(data: bytes, sections: list, offsets: dict, base: int):
    """(global name -> address, per symbol index its address) of the object's symbol table.
    Only the names of undefined and global symbols are read: local ones (sections, labels)
    are found by index."""
    symtab = next((sh for sh in sections if sh[1] == _SHT_SYMTAB), None)
    if symtab is None:
        raise LoaderError("object code has no symbol table")
    strtab = sections[symtab[6]][4]
    count = symtab[5] // _SYM.size
    entries = data[symtab[4]:symtab[4] + count * _SYM.size]
    if len(entries) != count * _SYM.size:
        raise LoaderError("malformed object code (symbol table)")
    symbols, addrs = {}, []
    add = addrs.append
    find = data.index
    for name_off, info, _other, shndx, value, _size in _SYM.iter_unpack(entries):
        local = info >> 4 == _STB_LOCAL
        if local and shndx in offsets:
            add(base + offsets[shndx] + value)
            continue
        start = strtab + name_off
        name = data[start:find(b"\0", start)].decode()
        if shndx == _SHN_UNDEF:
            addr = external(name) if name else 0
        elif shndx == _SHN_ABS:
            addr = value
        elif shndx == _SHN_COMMON:
            raise LoaderError(f"object code has a common symbol {name!r}")
        elif shndx in offsets:
            addr = base + offsets[shndx] + value
        else:
            addr = 0                        # a section not loaded (.eh_frame): unused
        add(addr)
        if not local and shndx != _SHN_UNDEF and name:
            symbols[name] = addr
    return symbols, addrs


_U64 = struct.Struct("<Q")
_I32 = struct.Struct("<i")


def _relocate(data: bytes, sh, view, target: int, base: int, addrs: list) -> None:
    """Apply the RELA section ``sh`` to the section loaded at offset ``target`` of the
    image being built (``view``, to be mapped at address ``base``)."""
    off, size = sh[4], sh[5]
    pack64, pack32 = _U64.pack_into, _I32.pack_into
    mask = 0xFFFFFFFFFFFFFFFF
    for r_off, r_info, addend in _RELA.iter_unpack(data[off:off + size]):
        kind = r_info & 0xFFFFFFFF
        if kind == _R_64:           # nearly all of them: the fewest steps
            pack64(view, target + r_off, (addrs[r_info >> 32] + addend) & mask)
            continue
        s = addrs[r_info >> 32]
        at = target + r_off
        if kind == _R_PC64:
            pack64(view, at, (s + addend - base - at) & mask)
        elif kind in (_R_PC32, _R_PLT32):
            v = s + addend - base - at
            if not -(1 << 31) <= v < (1 << 31):
                raise LoaderError(f"{_R_NAMES[kind]} relocation out of range")
            pack32(view, at, v)
        else:
            raise LoaderError(f"object code has relocation type {kind}, which this loader "
                              f"does not handle")


# ----- linked images -----

# Freed mappings of linked images by size, reused by the next image of that size (a server
# loading artifacts over and over); a bounded pool of small regions: read+execute while
# pooled, made read+write only while the next image is copied in (never both at once).
_pool: dict = {}
# Instances are freed by the cyclic garbage collector, a few at a time: a pool of a few
# regions per size would run dry between two collections (a fresh mapping per load again).
_POOL_PER_SIZE = 16
_POOL_BYTES = 4 << 20       # in all
_pooled_bytes = 0
# Pooled regions that still hold, read+execute and unchanged since, a linked image loaded
# with a key (load): base -> that key.  The same image loaded again at the same base is the
# same bytes (its relocations are the base plus fixed offsets, its C library addresses the
# process's), so such a region is taken as it is: no copy, no relocation, no mprotect.
_holds: dict = {}

#: What a linked image starts with (:func:`link`).
IMAGE_MAGIC = b"\0wfimage"
# magic; the mapping's size; its first bytes made read+execute (the rest stays read+write);
# the image bytes stored (the rest of the mapping is zero); the counts of base relocations,
# C library references, their names, global symbols; the length of the names.
_IMAGE = struct.Struct("<8sIIIIIIII")
_EXTERN = struct.Struct("<IIq")      # offset, name index, addend
_MAP_POPULATE = getattr(mmap, "MAP_POPULATE", 0)


def link(data, layout: dict | None = None) -> bytes:
    """The object file ``data`` linked ahead of time into an image for :func:`load` (a linked
    image is returned as is).  Raises :class:`LoaderError` for what the loader does not
    handle, and for a relocation whose value depends on the load address in a way an image
    cannot record (a PC-relative reference to the C library): the caller keeps the object.
    ``layout``, when given, receives the offset in the image of each section placed there
    (by section index)."""
    data = bytes(data)
    if data[:len(IMAGE_MAGIC)] == IMAGE_MAGIC:
        return data
    if not supported():
        raise LoaderError("the object loader supports Linux x86-64 only")
    try:
        return _link(data, layout)
    except (struct.error, IndexError, ValueError):
        raise LoaderError("malformed object code") from None


def elf_sections(data: bytes):
    """(section headers, offset of the section names) of an ELF64 x86-64 object; LoaderError
    when it is not one."""
    (ident, etype, machine, _v, _entry, _phoff, shoff, _flags, _ehsize, _phentsize, _phnum,
     shentsize, shnum, shstrndx) = _EHDR.unpack_from(data)
    if ident[:4] != b"\x7fELF" or ident[4] != 2 or ident[5] != 1:
        raise LoaderError("object code is not a little-endian ELF64 file")
    if etype != _ET_REL or machine != _EM_X86_64:
        raise LoaderError(f"object code is not an x86-64 relocatable object "
                          f"(type {etype}, machine {machine})")
    if shentsize != _SHDR.size:
        raise LoaderError("malformed object code (section header size)")
    table = data[shoff:shoff + shnum * shentsize]
    if len(table) != shnum * shentsize:
        raise LoaderError("malformed object code (section headers)")
    sections = list(_SHDR.iter_unpack(table))
    return sections, sections[shstrndx][4]


def _cstr(data: bytes, start: int) -> str:
    return data[start:data.index(b"\0", start)].decode()


# A 3-byte NOP (nopl (%rax)) and its place after a 7-byte lea in the 10 bytes of a movabs.
_NOP3 = b"\x0f\x1f\x00"


def _movabs_to_lea(buf: bytearray, at: int, value: int) -> bool:
    """Rewrite ``movabs $<image offset value>, %reg`` whose 64-bit immediate is at ``at``
    into ``lea value(%rip), %reg`` padded with a NOP to the same 10 bytes, so that the
    instruction needs no relocation when the image loads; return whether it was one.

    The large code model (llvm/jit.py) reaches every symbol through a movabs, so nearly all
    of an image's absolute relocations are these (699 of fib.wasm's 991 load @wf_trap's
    address at trap sites; most others are calls between functions): each cost a patch at
    every load.  Between two places of one image the distance is known at link time and
    fits in 32 bits (an image is far smaller than 2 GB).  In code an R_X86_64_64 can only
    be a movabs immediate: REX.W (0x48, or 0x49 with REX.B for r8-r15) and 0xB8 + register
    just before it.  The instruction keeps its length and end, so nothing after it moves
    (the call labels and call frame rows of llvm/unwind.py stay right); lea, like movabs,
    leaves the flags alone."""
    if at < 2:
        return False
    rex, op = buf[at - 2], buf[at - 1]
    if rex not in (0x48, 0x49) or not 0xB8 <= op <= 0xBF:
        return False
    disp = value - (at + 5)                 # relative to the end of the 7-byte lea
    if not -(1 << 31) <= disp < (1 << 31):
        return False
    reg = op - 0xB8
    # REX.W, with REX.R instead of REX.B for r8-r15 (the register moves to ModRM.reg);
    # opcode 0x8D; ModRM mod=00 rm=101: RIP-relative with a 32-bit displacement.
    buf[at - 2:at + 8] = (bytes((0x48 | (rex & 1) << 2, 0x8D, reg << 3 | 5))
                          + _I32.pack(disp) + _NOP3)
    return True


def _link(data: bytes, layout: dict | None = None) -> bytes:
    sections, nameoff = elf_sections(data)
    # Layout: code and read-only sections first (one read+execute group), then the writable
    # ones, each group page-aligned.  .eh_frame is left out, as by _load.
    groups: tuple = ([], [])
    for i, sh in enumerate(sections):
        flags = sh[2]
        if not flags & _SHF_ALLOC or sh[5] == 0 or _cstr(data, nameoff + sh[0]) == ".eh_frame":
            continue
        groups[1 if flags & _SHF_WRITE else 0].append(i)
    offsets: dict = {}
    pos = 0
    ends = []
    for g in groups:
        for i in g:
            align = max(sections[i][8], 1)
            pos = (pos + align - 1) // align * align
            offsets[i] = pos
            pos += sections[i][5]
        pos = (pos + _PAGE - 1) // _PAGE * _PAGE
        ends.append(pos)
    size = max(pos, _PAGE)
    if layout is not None:
        layout.update(offsets)
    buf = bytearray(size)
    for i, off in offsets.items():
        sh = sections[i]
        if sh[1] != _SHT_NOBITS:
            chunk = data[sh[4]:sh[4] + sh[5]]
            if len(chunk) != sh[5]:
                raise LoaderError("malformed object code (a section runs past its end)")
            buf[off:off + sh[5]] = chunk

    # Symbols: per index ("base", offset in the image) | ("abs", value) | ("ext", name).
    symtab = next((sh for sh in sections if sh[1] == _SHT_SYMTAB), None)
    if symtab is None:
        raise LoaderError("object code has no symbol table")
    strtab = sections[symtab[6]][4]
    count = symtab[5] // _SYM.size
    entries = data[symtab[4]:symtab[4] + count * _SYM.size]
    if len(entries) != count * _SYM.size:
        raise LoaderError("malformed object code (symbol table)")
    syms: list = []
    exported: dict = {}
    for name_off, info, _other, shndx, value, _size in _SYM.iter_unpack(entries):
        local = info >> 4 == _STB_LOCAL
        name = _cstr(data, strtab + name_off)
        if shndx == _SHN_UNDEF:
            sym = ("ext", name) if name else ("abs", 0)
        elif shndx == _SHN_ABS:
            sym = ("abs", value)
        elif shndx == _SHN_COMMON:
            raise LoaderError(f"object code has a common symbol {name!r}")
        elif shndx in offsets:
            sym = ("base", offsets[shndx] + value)
        else:
            sym = ("abs", 0)                # a section not loaded (.eh_frame): unused
        syms.append(sym)
        if not local and shndx != _SHN_UNDEF and name:
            if sym[0] != "base":
                raise LoaderError(f"object code has an absolute global symbol {name!r}")
            exported[name] = sym[1]

    mask = 0xFFFFFFFFFFFFFFFF
    rels: list = []                         # (offset, target offset) to move by the base
    externs: list = []                      # (offset, name, addend)
    for sh in sections:
        if sh[1] == _SHT_REL:
            raise LoaderError("object code has REL relocations (only RELA is handled)")
        if sh[1] != _SHT_RELA or sh[7] not in offsets:
            continue
        target = offsets[sh[7]]
        in_code = bool(sections[sh[7]][2] & _SHF_EXECINSTR)
        for r_off, r_info, addend in _RELA.iter_unpack(data[sh[4]:sh[4] + sh[5]]):
            kind, (how, s) = r_info & 0xFFFFFFFF, syms[r_info >> 32]
            at = target + r_off
            if kind == _R_64:
                if how == "base":
                    if in_code and _movabs_to_lea(buf, at, s + addend):
                        continue
                    rels.append((at, (s + addend) & mask))
                    _U64.pack_into(buf, at, 0)
                elif how == "ext":
                    externs.append((at, s, addend))
                    _U64.pack_into(buf, at, 0)
                else:
                    _U64.pack_into(buf, at, (s + addend) & mask)
            elif kind in (_R_PC64, _R_PC32, _R_PLT32):
                if how != "base":
                    raise LoaderError(f"object code has a {_R_NAMES[kind]} relocation to "
                                      f"{s!r}, which cannot be linked ahead of loading")
                v = s + addend - at
                if kind == _R_PC64:
                    _U64.pack_into(buf, at, v & mask)
                elif not -(1 << 31) <= v < (1 << 31):
                    raise LoaderError(f"{_R_NAMES[kind]} relocation out of range")
                else:
                    _I32.pack_into(buf, at, v)
            else:
                raise LoaderError(f"object code has relocation type {kind}, which this loader "
                                  f"does not handle")

    nbytes = len(bytes(buf).rstrip(b"\0"))
    nbytes = max([nbytes] + [at + 8 for at, _ in rels] + [at + 8 for at, _n, _a in externs])
    ext_names = sorted({name for _at, name, _a in externs})
    index = {name: k for k, name in enumerate(ext_names)}
    names = "\0".join(ext_names + list(exported)).encode()
    return b"".join([
        _IMAGE.pack(IMAGE_MAGIC, size, ends[0], nbytes, len(rels), len(externs), len(ext_names),
                    len(exported), len(names)),
        bytes(buf[:nbytes]),
        array.array("I", [at for at, _ in rels]).tobytes(),
        array.array("Q", [t for _, t in rels]).tobytes(),
        b"".join(_EXTERN.pack(at, index[name], addend) for at, name, addend in externs),
        array.array("Q", exported.values()).tobytes(),
        names])


#: What a linked image may end with: data about its code that loading does not read (the
#: call sites of llvm/unwind.py), then its length and this magic (:func:`with_trailer`).
TRAILER_MAGIC = b"wftrailr"
_TRAILER = struct.Struct("<Q8s")


def with_trailer(image: bytes, trailer: bytes) -> bytes:
    """The linked image ``image`` carrying ``trailer`` (read back by :func:`trailer_of`)."""
    return image + trailer + _TRAILER.pack(len(trailer), TRAILER_MAGIC)


def trailer_of(data) -> bytes | None:
    """The trailer of the linked image ``data`` (:func:`with_trailer`), or None."""
    if len(data) < _TRAILER.size or bytes(data[-8:]) != TRAILER_MAGIC:
        return None
    n, _ = _TRAILER.unpack_from(data, len(data) - _TRAILER.size)
    if n > len(data) - _TRAILER.size:
        return None
    return bytes(data[len(data) - _TRAILER.size - n:len(data) - _TRAILER.size])


class _Layout:
    """What loading a linked image needs of it, read from its header once per content key."""

    __slots__ = ("size", "exec_len", "nbytes", "code", "offs", "targets", "externs",
                 "symbols")

    def __init__(self, data: bytes):
        layout = _member_layout(data)
        if layout is None:
            raise LoaderError("malformed linked image")
        size, exec_len, code, offs, targets, externs, ext_names, symbols = layout
        self.size, self.exec_len, self.nbytes = size, exec_len, len(code)
        self.code = bytes(code)
        # Base relocations: each slot gets the load address plus its target's offset.
        self.offs = array.array("I", offs.tobytes())
        self.targets = array.array("Q", targets.tobytes())
        # C library references: (slot, name, addend).
        self.externs = [(at, ext_names[k], addend) for at, k, addend in externs]
        self.symbols = list(symbols)


# Layouts of the linked images loaded with a key (load), by key; bounded.
_layouts: dict = {}
_LAYOUTS_KEPT = 32
_LAYOUT_BYTES = 4 << 20     # (the image's bytes are kept: only those of smaller images)


def _take_holding(size: int, key: bytes):
    """A pooled region of ``size`` bytes holding the image of ``key`` (see _holds), taken
    out of the pool, or None."""
    global _pooled_bytes
    free = _pool.get(size)
    if free:
        for base in free:
            if _holds.get(base) == key:
                try:
                    free.remove(base)
                except ValueError:      # taken by another thread meanwhile
                    return None
                _pooled_bytes -= size
                return base
    return None


def _load_image(data: bytes, key: bytes | None = None) -> Image:
    layout = _layouts.get(key) if key is not None else None
    if layout is None:
        layout = _Layout(data)
        if key is not None and len(layout.code) <= _LAYOUT_BYTES:
            try:
                while len(_layouts) >= _LAYOUTS_KEPT:
                    del _layouts[next(iter(_layouts))]      # the oldest
            except (KeyError, RuntimeError, StopIteration):
                pass            # another thread made room meanwhile
            _layouts[key] = layout
    size, exec_len, nbytes = layout.size, layout.exec_len, layout.nbytes
    # Only an image mapped read+execute whole stays unchanged while it runs.
    held = key if key is not None and exec_len == size else None
    if _libc is None:
        _libc_init()
    global _pooled_bytes
    if held is not None:
        base = _take_holding(size, held)
        if base is not None:
            # (an entry of _holds is current only while its region is pooled)
            return Image(base, size, {name: base + off for name, off in layout.symbols}, True, held)
    free = _pool.get(size)
    try:
        base = free.pop() if free else None
    except IndexError:          # taken by another thread meanwhile
        base = None
    if base is not None:
        _pooled_bytes -= size
        _holds.pop(base, None)
    if base is None:
        base = _mmap(None, size, _PROT_READ | _PROT_WRITE, mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS
                     | (_MAP_POPULATE if size > _PAGE else 0), -1, 0)
        if base is None or base == _MAP_FAILED:
            raise MemoryError("mmap failed while loading object code")
    elif _mprotect(base, size, _PROT_READ | _PROT_WRITE) != 0:
        _munmap(base, size)
        raise OSError(ctypes.get_errno(), "mprotect failed while loading object code")
    else:
        # A region of the pool still holds the code of the image it served: zero what this
        # image does not overwrite (its zero tail).
        ctypes.memset(base + nbytes, 0, size - nbytes)
    try:
        buf = bytearray(layout.code)
        if layout.offs:
            # The one loop over relocations: each slot gets the load address plus its
            # target's offset (a struct call per slot; everything else was done by link).
            pack = _U64.pack_into
            for at, t in zip(layout.offs, map(base.__add__, layout.targets)):
                pack(buf, at, t)
        if layout.externs:
            mask = 0xFFFFFFFFFFFFFFFF
            for at, name, addend in layout.externs:
                _U64.pack_into(buf, at, (external(name) + addend) & mask)
        if nbytes:
            # (the buffer's address through one c_char: an array type per size would be
            # made again after each garbage collection, llvm/layout.py array_of)
            _memmove(base, ctypes.addressof(ctypes.c_char.from_buffer(buf)), nbytes)
        if exec_len and _mprotect(base, exec_len, _PROT_READ | _PROT_EXEC) != 0:
            raise OSError(ctypes.get_errno(), "mprotect failed while loading object code")
    except BaseException:
        _munmap(base, size)
        raise
    return Image(base, size, {name: base + off for name, off in layout.symbols}, True, held)
