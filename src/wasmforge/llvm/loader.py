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

Object code is trusted input (it comes from the authenticated cache or from an artifact the
user chose to run, docs/security.md): the checks here catch malformed and foreign objects,
not hostile ones.
"""

from __future__ import annotations

import ctypes
import mmap
import platform
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
        _supported = sys.platform.startswith("linux") and platform.machine() in ("x86_64", "AMD64")
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


class Image:
    """One loaded object: its mapping (unmapped when the image is collected: keep it alive
    as long as its code may run) and its global symbols."""

    __slots__ = ("base", "size", "symbols", "__weakref__")

    def __init__(self, base: int, size: int, symbols: dict):
        self.base = base
        self.size = size
        self.symbols = symbols

    def __del__(self):
        # An image holds no references back, so reference counting frees it (no cycle to
        # wait for); __del__ rather than weakref.finalize: a tenth of the cost per image,
        # which matters for an artifact's cold start.  At interpreter exit the mapping may
        # outlive the module's globals: the process unmaps it anyway.
        munmap = _munmap
        if munmap is not None and self.size:
            munmap(self.base, self.size)
            self.size = 0

    def address(self, name: str) -> int:
        """The address of the global symbol ``name``, 0 when there is none."""
        return self.symbols.get(name, 0)

    # The names of an MCJIT engine's lookups, so that either can back a compiled module.
    get_function_address = get_global_value_address = address


def load(data) -> Image:
    """Map and relocate the object file ``data``; raise :class:`LoaderError` for anything
    this loader does not handle."""
    data = bytes(data)
    if not supported():
        raise LoaderError("the object loader supports Linux x86-64 only")
    try:
        return _load(data)
    except (struct.error, IndexError, ValueError):    # ValueError: a short section too
        raise LoaderError("malformed object code") from None


def _load(data: bytes) -> Image:
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
    nameoff = sections[shstrndx][4]

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
