"""Decode and encode the component binary format (component-model ``Binary.md``).

``decode_component(data)`` reads a component into the ``ast`` model, ``encode_component(c)``
writes one back.  Nested core modules are decoded by the core decoder (and keep their bytes, so
a component re-encodes byte for byte); every error is a ``DecodeError`` with the byte offset in
the outermost binary and the wording of wasm-tools where the component-model scripts check it
(``invalid leading byte (0x..) for ...``, ``unexpected end-of-file`` ...).
"""

from __future__ import annotations

from typing import Callable, Dict, Iterable, Iterator, List, Optional, Tuple, TypeVar, Union

from ..binary.decode import _Reader as _CoreReader
from ..binary.decode import decode_module
from ..binary.encode import _global_type, _limits, _table_type, _valtype, encode_module
from ..binary.leb128 import read_signed, read_unsigned, write_signed, write_unsigned
from ..errors import DecodeError
from ..module import FUNC as CORE_KIND_FUNC
from ..module import GLOBAL as CORE_KIND_GLOBAL
from ..module import MEMORY as CORE_KIND_MEMORY
from ..module import TABLE as CORE_KIND_TABLE
from ..module import TAG as CORE_KIND_TAG
from ..module import Import as CoreImport
from ..module import Module
from ..types import GlobalType, MemoryType, TableType
from . import ast
from .preamble import LAYER, MAGIC, PREAMBLE, VERSION, is_component

_CORE_VERSION = b"\x01\x00\x00\x00"

EOF = "unexpected end-of-file"

#: A core import's or export decl's description (as in ``module.Import``).
CoreDesc = Union[int, TableType, MemoryType, GlobalType]

T = TypeVar("T")


def _leading(byte: int, what: str, pos: int) -> DecodeError:
    return DecodeError(f"invalid leading byte ({byte:#x}) for {what}", pos)


# ----- tables of the binary format -----

_PRIMITIVE_BYTES: Dict[int, str] = {
    0x7F: "bool", 0x7E: "s8", 0x7D: "u8", 0x7C: "s16", 0x7B: "u16", 0x7A: "s32", 0x79: "u32",
    0x78: "s64", 0x77: "u64", 0x76: "f32", 0x75: "f64", 0x74: "char", 0x73: "string",
    0x64: "error-context",
}
_PRIMITIVE_BYTE = {name: b for b, name in _PRIMITIVE_BYTES.items()}
_CORE_SORT_BYTE = {s: b for b, s in ast.CORE_SORT_BYTES.items()}
_SORT_BYTE = {s: b for b, s in ast.SORT_BYTES.items()}
_CANONOPT_BYTE = {k: b for b, k in ast.CANONOPT_BYTES.items()}
_ATTRIBUTE_BYTE = {k: b for b, k in ast.ATTRIBUTE_BYTES.items()}
_EXTERN_BYTES = {0x01: ast.FUNC, 0x02: ast.VALUE, 0x03: ast.TYPE, 0x04: ast.COMPONENT,
                 0x05: ast.INSTANCE}
_EXTERN_BYTE = {s: b for b, s in _EXTERN_BYTES.items()}
_OUTER_SORTS = frozenset({ast.CORE_TYPE, ast.CORE_MODULE, ast.TYPE, ast.COMPONENT})
_CORE_KIND_BYTE = {CORE_KIND_FUNC: 0, CORE_KIND_TABLE: 1, CORE_KIND_MEMORY: 2,
                   CORE_KIND_GLOBAL: 3, CORE_KIND_TAG: 4}

# Immediates of the canonical built-ins other than lift/lower/resource.*: "idx" a u32,
# "opts" a canonopt vector, "async"/"cancel"/"shared" a boolean byte, "core" a core value
# type, "results" a resultlist.
_CANON_OTHER: Dict[int, Tuple[str, Tuple[str, ...]]] = {
    0x05: ("task.cancel", ()),
    0x06: ("subtask.cancel", ("async",)),
    0x09: ("task.return", ("results", "opts")),
    0x0A: ("context.get", ("core", "idx")),
    0x0B: ("context.set", ("core", "idx")),
    0x0C: ("thread.yield", ("cancel",)),
    0x0D: ("subtask.drop", ()),
    0x0E: ("stream.new", ("idx",)),
    0x0F: ("stream.read", ("idx", "opts")),
    0x10: ("stream.write", ("idx", "opts")),
    0x11: ("stream.cancel-read", ("idx", "async")),
    0x12: ("stream.cancel-write", ("idx", "async")),
    0x13: ("stream.drop-readable", ("idx",)),
    0x14: ("stream.drop-writable", ("idx",)),
    0x15: ("future.new", ("idx",)),
    0x16: ("future.read", ("idx", "opts")),
    0x17: ("future.write", ("idx", "opts")),
    0x18: ("future.cancel-read", ("idx", "async")),
    0x19: ("future.cancel-write", ("idx", "async")),
    0x1A: ("future.drop-readable", ("idx",)),
    0x1B: ("future.drop-writable", ("idx",)),
    0x1C: ("error-context.new", ("opts",)),
    0x1D: ("error-context.debug-message", ("opts",)),
    0x1E: ("error-context.drop", ()),
    0x1F: ("waitable-set.new", ()),
    0x20: ("waitable-set.wait", ("cancel", "idx")),
    0x21: ("waitable-set.poll", ("cancel", "idx")),
    0x22: ("waitable-set.drop", ()),
    0x23: ("waitable.join", ()),
    0x24: ("backpressure.inc", ()),
    0x25: ("backpressure.dec", ()),
    0x26: ("thread.index", ()),
    0x27: ("thread.new-indirect", ("idx", "idx")),
    0x28: ("thread.resume-later", ()),
    0x29: ("thread.suspend", ("cancel",)),
    0x2A: ("thread.suspend-then-resume", ("cancel",)),
    0x2B: ("thread.yield-then-resume", ("cancel",)),
    0x2C: ("thread.suspend-then-promote", ("cancel",)),
    0x2D: ("thread.yield-then-promote", ("cancel",)),
    0x40: ("thread.spawn-ref", ("shared", "idx")),
    0x41: ("thread.spawn-indirect", ("shared", "idx", "idx")),
    0x42: ("thread.available-parallelism", ("shared",)),
}
#: Canonical built-in name -> (opcode, immediate kinds), for the text parser.
CANON_OTHER_BY_NAME: Dict[str, Tuple[int, Tuple[str, ...]]] = {
    name: (op, imms) for op, (name, imms) in _CANON_OTHER.items()}

# Core messages of a nested module in wasm-tools' words.
_CORE_MESSAGES = {"unexpected content after last section": "section out of order"}


# ----- decoding -----

class _Reader:
    """A position in the binary, bounded by ``end`` (the current section's end)."""

    __slots__ = ("buf", "pos", "end")

    def __init__(self, buf: bytes, pos: int, end: int) -> None:
        self.buf = buf
        self.pos = pos
        self.end = end

    def eof(self) -> bool:
        return self.pos >= self.end

    def byte(self) -> int:
        if self.pos >= self.end:
            raise DecodeError(EOF, self.pos)
        b = self.buf[self.pos]
        self.pos += 1
        return b

    def peek(self) -> int:
        if self.pos >= self.end:
            raise DecodeError(EOF, self.pos)
        return self.buf[self.pos]

    def _leb(self, signed: bool, bits: int) -> int:
        # Read from a bounded copy so a LEB running past the section end is an EOF.
        view = self.buf[self.pos:min(self.end, self.pos + 10)]
        try:
            if signed:
                v, n = read_signed(view, 0, bits)
            else:
                v, n = read_unsigned(view, 0, bits)
        except IndexError:
            raise DecodeError(EOF, self.end) from None
        except DecodeError as e:
            raise DecodeError(e.reason, self.pos + (e.offset or 0)) from None
        self.pos += n
        return int(v)

    def u32(self) -> int:
        b = self.peek()
        if b < 0x80:
            self.pos += 1
            return b
        return self._leb(False, 32)

    def s33(self) -> int:
        return self._leb(True, 33)

    def raw(self, n: int) -> bytes:
        if self.pos + n > self.end:
            raise DecodeError(EOF, self.end)
        start = self.pos
        self.pos += n
        return self.buf[start:self.pos]

    def name(self) -> str:
        n = self.u32()
        start = self.pos
        data = self.raw(n)
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise DecodeError("malformed UTF-8 encoding", start) from None

    def count(self) -> int:
        """A vector length: no more items than bytes left (each item takes one at least)."""
        pos = self.pos
        n = self.u32()
        if n > self.end - self.pos:
            raise DecodeError(EOF, pos)
        return n

    def vec(self, read: Callable[[], T]) -> List[T]:
        return [read() for _ in range(self.count())]

    def flag(self) -> bool:
        pos = self.pos
        b = self.byte()
        if b > 1:
            raise DecodeError("invalid boolean value", pos)
        return b == 1

    def core(self, read: Callable[[_CoreReader], T]) -> T:
        """Read a core production with the core decoder's reader (bounded by a copy)."""
        r = _CoreReader(self.buf[:self.end], self.pos)
        try:
            v = read(r)
        except IndexError:
            raise DecodeError(EOF, self.end) from None
        self.pos = r.pos
        return v


class _Decoder:
    def __init__(self, buf: bytes, core: Optional[Iterator[Module]] = None) -> None:
        self.buf = buf
        self.core = core

    # ----- the component -----

    def component(self, start: int, end: int, depth: int) -> ast.Component:
        buf = self.buf
        if end - start < 8:
            if buf[start:end] != MAGIC[:end - start]:
                raise DecodeError("magic header not detected", start)
            raise DecodeError(EOF, end)
        if buf[start:start + 4] != MAGIC:
            raise DecodeError("magic header not detected", start)
        version = int.from_bytes(buf[start + 4:start + 6], "little")
        layer = int.from_bytes(buf[start + 6:start + 8], "little")
        if layer != LAYER:
            if layer == 0:
                raise DecodeError("expected a version header for a component", start + 4)
            raise DecodeError(f"unknown layer {layer:#x}", start + 6)
        if version != VERSION:
            raise DecodeError(f"unknown binary version: {version:#x}", start + 4)
        c = ast.Component(offset=start)
        defs = c.definitions
        r = _Reader(buf, start + 8, end)
        while not r.eof():
            id_pos = r.pos
            sid = r.byte()
            if sid > ast.SECTION_VALUE:
                raise DecodeError("malformed section id", id_pos)
            size = r.u32()
            body = r.pos
            if size > end - body:
                raise DecodeError(EOF, end)
            s = _Reader(buf, body, body + size)
            c.section_starts.append(len(defs))
            if sid == ast.SECTION_CUSTOM:
                defs.append(self.custom(s))
            elif sid == ast.SECTION_CORE_MODULE:
                defs.append(self.core_module(body, body + size))
                s.pos = s.end
            elif sid == ast.SECTION_COMPONENT:
                nested = self.component(body, body + size, depth + 1)
                defs.append(nested)
                s.pos = s.end
            else:
                read = self.section_readers[sid]
                for _ in range(s.count()):
                    defs.append(read(self, s))
            if s.pos != s.end:
                raise DecodeError("section size mismatch: unexpected data at the end of the section",
                                  s.pos)
            r.pos = body + size
        return c

    def custom(self, r: _Reader) -> Union[ast.Custom, ast.ComponentNames]:
        start = r.pos
        name = r.name()
        data = r.raw(r.end - r.pos)
        if name == "component-name":
            names = self.names(data, r.pos - len(data))
            if names is not None:
                names.offset = start
                return names
        return ast.Custom(name, data, offset=start)

    def names(self, data: bytes, base: int) -> Optional[ast.ComponentNames]:
        """The ``component-name`` section, or None when it does not decode (engines must not
        reject a component for it, so it stays a plain custom section)."""
        out = ast.ComponentNames()
        r = _Reader(data, 0, len(data))
        try:
            first = True
            while not r.eof():
                sub = r.byte()
                size = r.u32()
                s = _Reader(data, r.pos, r.pos + size)
                if s.end > len(data) or sub > 1 or (sub == 0 and not first):
                    return None
                if sub == 0:
                    out.component = s.name()
                else:
                    sort = self.sort(s, "sort")
                    names: Dict[int, str] = {}
                    for _ in range(s.count()):
                        idx = s.u32()
                        names[idx] = s.name()
                    out.sorts.append((sort, names))
                if s.pos != s.end:
                    return None
                first = False
                r.pos = s.end
        except DecodeError:
            return None
        if encode_names(out) != data:
            return None          # kept verbatim unless it re-encodes exactly
        return out

    def core_module(self, start: int, end: int) -> ast.CoreModule:
        data = self.buf[start:end]
        if len(data) >= 8 and data[:4] == MAGIC and data[4:8] != _CORE_VERSION:
            raise DecodeError("expected a version header for a module", start + 4)
        if self.core is not None:
            # decoded already (an artifact's core modules: decode_component's ``core``; each
            # as its artifact holds it, its offsets those of its own re-encoded binary)
            known = next(self.core, None)
            if known is None:
                raise DecodeError("more core modules than the artifact holds", start)
            return ast.CoreModule(known, data, offset=start)
        try:
            module: Module = decode_module(data)
        except DecodeError as e:
            reason = _CORE_MESSAGES.get(e.reason, e.reason)
            raise DecodeError(reason, start + (e.offset or 0)) from None
        module.binary_offset = start
        return ast.CoreModule(module, data, offset=start)

    # ----- sorts -----

    def sort(self, r: _Reader, what: str) -> str:
        pos = r.pos
        b = r.byte()
        if b == 0x00:
            pos = r.pos
            cb = r.byte()
            core = ast.CORE_SORT_BYTES.get(cb)
            if core is None:
                raise _leading(cb, what, pos)
            return core
        s = ast.SORT_BYTES.get(b)
        if s is None:
            raise _leading(b, what, pos)
        return s

    def sortidx(self, r: _Reader, what: str) -> ast.SortIdx:
        pos = r.pos
        sort = self.sort(r, what)
        return ast.SortIdx(sort, r.u32(), offset=pos)

    def core_sortidx(self, r: _Reader) -> ast.SortIdx:
        pos = r.pos
        b = r.byte()
        sort = ast.CORE_SORT_BYTES.get(b)
        if sort is None:
            raise _leading(b, "core sort", pos)
        return ast.SortIdx(sort, r.u32(), offset=pos)

    # ----- core instances -----

    def core_instance(self, r: _Reader) -> ast.CoreInstance:
        pos = r.pos
        b = r.byte()
        if b == 0x00:
            module = r.u32()

            def arg() -> ast.CoreInstantiateArg:
                apos = r.pos
                name = r.name()
                kpos = r.pos
                k = r.byte()
                if k != 0x12:
                    raise _leading(k, "instantiation arg kind", kpos)
                return ast.CoreInstantiateArg(name, ast.SortIdx(ast.CORE_INSTANCE, r.u32(),
                                                                offset=kpos), offset=apos)
            return ast.CoreInstantiate(module, r.vec(arg), offset=pos)
        if b == 0x01:
            def export() -> ast.CoreInlineExport:
                epos = r.pos
                name = r.name()
                return ast.CoreInlineExport(name, self.core_sortidx(r), offset=epos)
            return ast.CoreInlineExports(r.vec(export), offset=pos)
        raise _leading(b, "core instance", pos)

    # ----- core types -----

    def core_valtype(self, r: _Reader) -> str:
        return r.core(lambda c: c.value_type())

    def core_field(self, r: _Reader) -> ast.CoreFieldType:
        pos = r.pos
        b = r.peek()
        if b == 0x78:
            r.pos += 1
            storage = "i8"
        elif b == 0x77:
            r.pos += 1
            storage = "i16"
        else:
            storage = self.core_valtype(r)
        mpos = r.pos
        m = r.byte()
        if m > 1:
            raise _leading(m, "mutability", mpos)
        return ast.CoreFieldType(storage, m == 1, offset=pos)

    def core_comptype(self, r: _Reader) -> ast.CoreCompType:
        pos = r.pos
        b = r.byte()
        if b == 0x60:
            params = r.vec(lambda: self.core_valtype(r))
            results = r.vec(lambda: self.core_valtype(r))
            return ast.CoreFuncType(params, results, offset=pos)
        if b == 0x5F:
            return ast.CoreStructType(r.vec(lambda: self.core_field(r)), offset=pos)
        if b == 0x5E:
            return ast.CoreArrayType(self.core_field(r), offset=pos)
        raise _leading(b, "type", pos)

    def core_subtype(self, r: _Reader, prefixed: bool) -> ast.CoreSubType:
        pos = r.pos
        b = r.peek()
        if prefixed and b == 0x00:
            r.pos += 1
            if r.peek() != 0x50:
                raise _leading(r.peek(), "non-final sub type", r.pos)
            b = 0x50
        if b in (0x50, 0x4F):
            r.pos += 1
            supers = r.vec(r.u32)
            comp = self.core_comptype(r)
            return ast.CoreSubType(comp, b == 0x4F, supers, explicit=True, offset=pos)
        return ast.CoreSubType(self.core_comptype(r), offset=pos)

    def core_type(self, r: _Reader) -> ast.CoreDefType:
        pos = r.pos
        b = r.peek()
        if b == 0x50:
            r.pos += 1
            return ast.CoreModuleType(r.vec(lambda: self.module_decl(r)), offset=pos)
        if b == 0x4E:
            r.pos += 1
            return ast.CoreRecType(r.vec(lambda: self.core_subtype(r, False)), offset=pos)
        sub = self.core_subtype(r, True)
        if not sub.explicit:
            return sub.comptype          # the abbreviation: a bare comptype
        return sub

    def core_type_def(self, r: _Reader) -> ast.CoreDefType:
        return self.core_type(r)

    def module_decl(self, r: _Reader) -> ast.CoreModuleDecl:
        pos = r.pos
        b = r.byte()
        if b == 0x00:
            return self.core_import(r, pos)
        if b == 0x01:
            # A module type declaring a module type is well-formed but invalid (validation
            # refuses it, as wasm-tools does).
            return self.core_type(r)
        if b == 0x02:
            spos = r.pos
            s = r.byte()
            if s != 0x10:
                raise _leading(s, "outer alias kind", spos)
            tpos = r.pos
            target = r.byte()
            if target != 0x01:
                raise _leading(target, "outer alias target", tpos)
            count = r.u32()
            return ast.CoreOuterAlias(count, r.u32(), offset=pos)
        if b == 0x03:
            name = r.name()
            kind, desc = self.core_externtype(r)
            return ast.CoreExportDecl(name, kind, desc, offset=pos)
        raise _leading(b, "type definition", pos)

    def core_import(self, r: _Reader, pos: int) -> CoreImport:
        module = r.name()
        name = r.name()
        kind, desc = self.core_externtype(r)
        return CoreImport(module, name, kind, desc)

    def core_externtype(self, r: _Reader) -> Tuple[str, CoreDesc]:
        pos = r.pos
        k = r.byte()
        if k == 0x00:
            return CORE_KIND_FUNC, r.u32()
        if k == 0x01:
            return CORE_KIND_TABLE, r.core(lambda c: c.table_type(True))
        if k == 0x02:
            return CORE_KIND_MEMORY, r.core(lambda c: c.memory_type(True, True))
        if k == 0x03:
            return CORE_KIND_GLOBAL, r.core(lambda c: c.global_type())
        if k == 0x04:
            return CORE_KIND_TAG, r.core(lambda c: c.tag_type())
        raise _leading(k, "external kind", pos)

    # ----- component types -----

    def valtype(self, r: _Reader) -> ast.ValType:
        pos = r.pos
        b = r.peek()
        prim = _PRIMITIVE_BYTES.get(b)
        if prim is not None:
            r.pos += 1
            return prim
        v = r.s33()
        if v < 0:
            raise _leading(b, "component value type", pos)
        return v

    def opt_valtype(self, r: _Reader) -> Optional[ast.ValType]:
        pos = r.pos
        b = r.byte()
        if b == 0x00:
            return None
        if b == 0x01:
            return self.valtype(r)
        raise _leading(b, "optional component value type", pos)

    def label(self, r: _Reader) -> str:
        return r.name()

    def defvaltype(self, r: _Reader, b: int, pos: int) -> Optional[ast.DefValType]:
        prim = _PRIMITIVE_BYTES.get(b)
        if prim is not None:
            return ast.PrimValTypeDef(prim, offset=pos)
        if b == 0x72:
            return ast.RecordDef(r.vec(lambda: (self.label(r), self.valtype(r))), offset=pos)
        if b == 0x71:
            def case() -> Tuple[str, Optional[ast.ValType]]:
                label = self.label(r)
                t = self.opt_valtype(r)
                zpos = r.pos
                z = r.byte()
                if z != 0x00:
                    raise _leading(z, "zero byte required", zpos)
                return label, t
            return ast.VariantDef(r.vec(case), offset=pos)
        if b == 0x70:
            return ast.ListDef(self.valtype(r), offset=pos)
        if b == 0x67:
            t = self.valtype(r)
            return ast.ListDef(t, r.u32(), offset=pos)
        if b == 0x6F:
            return ast.TupleDef(r.vec(lambda: self.valtype(r)), offset=pos)
        if b == 0x6E:
            return ast.FlagsDef(r.vec(lambda: self.label(r)), offset=pos)
        if b == 0x6D:
            return ast.EnumDef(r.vec(lambda: self.label(r)), offset=pos)
        if b == 0x6B:
            return ast.OptionDef(self.valtype(r), offset=pos)
        if b == 0x6A:
            ok = self.opt_valtype(r)
            return ast.ResultDef(ok, self.opt_valtype(r), offset=pos)
        if b == 0x69:
            return ast.OwnDef(r.u32(), offset=pos)
        if b == 0x68:
            return ast.BorrowDef(r.u32(), offset=pos)
        if b == 0x66:
            return ast.StreamDef(self.opt_valtype(r), offset=pos)
        if b == 0x65:
            return ast.FutureDef(self.opt_valtype(r), offset=pos)
        if b == 0x63:
            k = self.valtype(r)
            return ast.MapDef(k, self.valtype(r), offset=pos)
        return None

    def resultlist(self, r: _Reader) -> Optional[ast.ValType]:
        pos = r.pos
        b = r.byte()
        if b == 0x00:
            return self.valtype(r)
        if b == 0x01:
            zpos = r.pos
            z = r.byte()
            if z != 0x00:
                raise _leading(z, "number of results", zpos)
            return None
        raise _leading(b, "component function results", pos)

    def type_def(self, r: _Reader) -> ast.TypeDef:
        pos = r.pos
        b = r.byte()
        if b == 0x40 or b == 0x43:
            params = r.vec(lambda: (self.label(r), self.valtype(r)))
            return ast.FuncTypeDef(params, self.resultlist(r), b == 0x43, offset=pos)
        if b == 0x41:
            return ast.ComponentTypeDef(r.vec(lambda: self.decl(r, True)), offset=pos)
        if b == 0x42:
            return ast.InstanceTypeDef(r.vec(lambda: self.decl(r, False)), offset=pos)
        if b == 0x3F:
            rep = self.core_valtype(r)
            dtor = None
            fpos = r.pos
            f = r.byte()
            if f == 0x01:
                dtor = r.u32()
            elif f != 0x00:
                raise _leading(f, "optional destructor", fpos)
            return ast.ResourceTypeDef(rep, dtor, offset=pos)
        dvt = self.defvaltype(r, b, pos)
        if dvt is None:
            raise _leading(b, "component defined type", pos)
        return dvt

    def decl(self, r: _Reader, component: bool) -> ast.Decl:
        pos = r.pos
        b = r.byte()
        if b == 0x00:
            return self.core_type(r)
        if b == 0x01:
            return self.type_def(r)
        if b == 0x02:
            return self.alias(r)
        if b == 0x03 and component:
            name = self.extern_name(r)
            return ast.Import(name, self.externtype(r), offset=pos)
        if b == 0x04:
            name = self.extern_name(r)
            return ast.ExportDecl(name, self.externtype(r), offset=pos)
        raise _leading(b, "component or instance type declaration", pos)

    def externtype(self, r: _Reader) -> ast.ExternDesc:
        pos = r.pos
        b = r.byte()
        if b == 0x00:
            kpos = r.pos
            k = r.byte()
            if k != 0x11:
                raise _leading(k, "component external kind", kpos)
            return ast.ExternDesc(ast.CORE_MODULE, r.u32(), offset=pos)
        sort = _EXTERN_BYTES.get(b)
        if sort is None:
            raise _leading(b, "component external kind", pos)
        if sort == ast.TYPE:
            bpos = r.pos
            k = r.byte()
            if k == 0x00:
                return ast.ExternDesc(sort, bound=ast.Eq(r.u32(), offset=bpos), offset=pos)
            if k == 0x01:
                return ast.ExternDesc(sort, bound=ast.SubResource(offset=bpos), offset=pos)
            raise _leading(k, "type bound", bpos)
        if sort == ast.VALUE:
            bpos = r.pos
            k = r.byte()
            if k == 0x00:
                return ast.ExternDesc(sort, bound=ast.Eq(r.u32(), offset=bpos), offset=pos)
            if k == 0x01:
                return ast.ExternDesc(sort, bound=self.valtype(r), offset=pos)
            raise _leading(k, "value bound", bpos)
        return ast.ExternDesc(sort, r.u32(), offset=pos)

    def extern_name(self, r: _Reader) -> ast.ExternName:
        pos = r.pos
        form = r.byte()
        if form > 2:
            raise _leading(form, "component name", pos)
        name = r.name()
        attrs: List[Tuple[str, str]] = []
        if form == 2:
            for _ in range(r.count()):
                apos = r.pos
                k = r.byte()
                kind = ast.ATTRIBUTE_BYTES.get(k)
                if kind is None:
                    raise _leading(k, "name option", apos)
                attrs.append((kind, r.name()))
        return ast.ExternName(name, attrs, form, offset=pos)

    # ----- aliases -----

    def alias(self, r: _Reader) -> ast.Alias:
        pos = r.pos
        b = r.byte()
        core_byte: Optional[int] = None
        if b == 0x00:
            core_byte = r.byte()
            sort: Optional[str] = ast.CORE_SORT_BYTES.get(core_byte)
        else:
            sort = ast.SORT_BYTES.get(b)
        tpos = r.pos
        target = r.byte()
        if target == 0x02:
            if sort not in _OUTER_SORTS:
                raise _leading(b if core_byte is None else core_byte,
                               "component outer alias kind", pos if core_byte is None else pos + 1)
            assert sort is not None
            count = r.u32()
            return ast.AliasOuter(sort, count, r.u32(), offset=pos)
        if sort is None:
            raise _leading(b if core_byte is None else core_byte, "component external kind",
                           pos if core_byte is None else pos + 1)
        if target == 0x00:
            instance = r.u32()
            return ast.AliasExport(sort, instance, r.name(), offset=pos)
        if target == 0x01:
            instance = r.u32()
            return ast.AliasCoreExport(sort, instance, r.name(), offset=pos)
        raise _leading(target, "alias", tpos)

    # ----- instances -----

    def instance(self, r: _Reader) -> ast.Instance:
        pos = r.pos
        b = r.byte()
        if b == 0x00:
            component = r.u32()

            def arg() -> ast.InstantiateArg:
                apos = r.pos
                name = r.name()
                return ast.InstantiateArg(name, self.sortidx(r, "component external kind"),
                                          offset=apos)
            return ast.Instantiate(component, r.vec(arg), offset=pos)
        if b == 0x01:
            def export() -> ast.InlineExport:
                epos = r.pos
                name = self.extern_name(r)
                return ast.InlineExport(name, self.sortidx(r, "component external kind"),
                                        offset=epos)
            return ast.InlineExports(r.vec(export), offset=pos)
        raise _leading(b, "instance", pos)

    # ----- canon -----

    def canonopts(self, r: _Reader) -> List[ast.CanonOpt]:
        def opt() -> ast.CanonOpt:
            pos = r.pos
            b = r.byte()
            kind = ast.CANONOPT_BYTES.get(b)
            if kind is None:
                raise _leading(b, "canonical option", pos)
            idx = r.u32() if kind in ast.CANONOPTS_WITH_INDEX else None
            return ast.CanonOpt(kind, idx, offset=pos)
        return r.vec(opt)

    def canon(self, r: _Reader) -> ast.Canon:
        pos = r.pos
        b = r.byte()
        if b == 0x00:
            zpos = r.pos
            z = r.byte()
            if z != 0x00:
                raise _leading(z, "canonical function lift", zpos)
            f = r.u32()
            opts = self.canonopts(r)
            return ast.CanonLift(f, opts, r.u32(), offset=pos)
        if b == 0x01:
            zpos = r.pos
            z = r.byte()
            if z != 0x00:
                raise _leading(z, "canonical function lower", zpos)
            f = r.u32()
            return ast.CanonLower(f, self.canonopts(r), offset=pos)
        if b == 0x02:
            return ast.CanonResourceNew(r.u32(), offset=pos)
        if b == 0x03:
            return ast.CanonResourceDrop(r.u32(), offset=pos)
        if b == 0x04:
            return ast.CanonResourceRep(r.u32(), offset=pos)
        entry = _CANON_OTHER.get(b)
        if entry is None:
            raise _leading(b, "canonical function", pos)
        name, kinds = entry
        imms: List[object] = []
        for kind in kinds:
            if kind == "idx":
                imms.append(r.u32())
            elif kind == "opts":
                imms.append(self.canonopts(r))
            elif kind == "core":
                imms.append(self.core_valtype(r))
            elif kind == "results":
                imms.append(self.resultlist(r))
            else:
                imms.append(int(r.flag()))
        return ast.CanonOther(b, name, imms, offset=pos)

    # ----- start, import, export, value -----

    def start(self, r: _Reader) -> ast.Start:
        pos = r.pos
        f = r.u32()
        args = r.vec(r.u32)
        return ast.Start(f, args, r.u32(), offset=pos)

    def import_(self, r: _Reader) -> ast.Import:
        pos = r.pos
        name = self.extern_name(r)
        return ast.Import(name, self.externtype(r), offset=pos)

    def export(self, r: _Reader) -> ast.Export:
        pos = r.pos
        name = self.extern_name(r)
        si = self.sortidx(r, "component external kind")
        dpos = r.pos
        b = r.byte()
        desc = None
        if b == 0x01:
            desc = self.externtype(r)
        elif b != 0x00:
            raise _leading(b, "optional component export type", dpos)
        return ast.Export(name, si, desc, offset=pos)

    def value(self, r: _Reader) -> ast.ValueDef:
        pos = r.pos
        t = self.valtype(r)
        n = r.u32()
        return ast.ValueDef(t, r.raw(n), offset=pos)

    section_readers: Dict[int, Callable[["_Decoder", _Reader], ast.Definition]] = {
        ast.SECTION_CORE_INSTANCE: core_instance,
        ast.SECTION_CORE_TYPE: core_type_def,
        ast.SECTION_INSTANCE: instance,
        ast.SECTION_ALIAS: alias,
        ast.SECTION_TYPE: type_def,
        ast.SECTION_CANON: canon,
        ast.SECTION_IMPORT: import_,
        ast.SECTION_EXPORT: export,
        ast.SECTION_VALUE: value,
        ast.SECTION_START: start,
    }


def decode_component(data: Union[bytes, bytearray, memoryview],
                     core: Optional[Iterable[Module]] = None) -> ast.Component:
    """Decode a component binary.  Raises ``DecodeError`` (with the byte offset) when it is
    malformed.  ``core``: its core modules decoded already, in the order of the binary (an
    artifact's, loaded from their descriptions): taken instead of decoding each again."""
    buf = bytes(data)
    if len(buf) >= 8 and buf[:4] == MAGIC and buf[4:8] == _CORE_VERSION:
        raise DecodeError("expected a version header for a component, found a core module", 4)
    d = _Decoder(buf, None if core is None else iter(core))
    return d.component(0, len(buf), 0)


# ----- encoding -----

def _u32(out: bytearray, v: int) -> None:
    write_unsigned(out, v)


def _name(out: bytearray, s: str) -> None:
    raw = s.encode("utf-8")
    write_unsigned(out, len(raw))
    out += raw


def _vec(out: bytearray, items: List[T], write: Callable[[bytearray, T], None]) -> None:
    write_unsigned(out, len(items))
    for item in items:
        write(out, item)


def _sort(out: bytearray, sort: str) -> None:
    core = _CORE_SORT_BYTE.get(sort)
    if core is not None:
        out.append(0x00)
        out.append(core)
    else:
        out.append(_SORT_BYTE[sort])


def _sortidx(out: bytearray, si: ast.SortIdx) -> None:
    _sort(out, si.sort)
    _u32(out, si.idx)


def _core_sortidx(out: bytearray, si: ast.SortIdx) -> None:
    out.append(_CORE_SORT_BYTE[si.sort])
    _u32(out, si.idx)


def _valtype_c(out: bytearray, t: ast.ValType) -> None:
    # A type index is a non-negative s33, as in core block types (0x40..0x7f are negative
    # one-byte s33s, so the u32 encoding would not do).
    if isinstance(t, str):
        out.append(_PRIMITIVE_BYTE[t])
    else:
        write_signed(out, t)


def _opt_valtype(out: bytearray, t: Optional[ast.ValType]) -> None:
    if t is None:
        out.append(0x00)
    else:
        out.append(0x01)
        _valtype_c(out, t)


def _extern_name(out: bytearray, n: ast.ExternName) -> None:
    form = n.form if not n.attributes else 2
    out.append(form)
    _name(out, n.name)
    if form == 2:
        write_unsigned(out, len(n.attributes))
        for kind, value in n.attributes:
            out.append(_ATTRIBUTE_BYTE[kind])
            _name(out, value)


def _externtype(out: bytearray, d: ast.ExternDesc) -> None:
    if d.sort == ast.CORE_MODULE:
        out += b"\x00\x11"
        _u32(out, d.idx or 0)
        return
    out.append(_EXTERN_BYTE[d.sort])
    if d.sort == ast.TYPE:
        if isinstance(d.bound, ast.Eq):
            out.append(0x00)
            _u32(out, d.bound.idx)
        else:
            out.append(0x01)
    elif d.sort == ast.VALUE:
        if isinstance(d.bound, ast.Eq):
            out.append(0x00)
            _u32(out, d.bound.idx)
        else:
            out.append(0x01)
            assert d.bound is not None and not isinstance(d.bound, ast.SubResource)
            _valtype_c(out, d.bound)
    else:
        _u32(out, d.idx or 0)


def _core_field(out: bytearray, f: ast.CoreFieldType) -> None:
    if f.storage == "i8":
        out.append(0x78)
    elif f.storage == "i16":
        out.append(0x77)
    else:
        _valtype(out, f.storage)
    out.append(1 if f.mutable else 0)


def _core_comptype(out: bytearray, t: ast.CoreCompType) -> None:
    if isinstance(t, ast.CoreFuncType):
        out.append(0x60)
        _vec(out, t.params, _valtype)
        _vec(out, t.results, _valtype)
    elif isinstance(t, ast.CoreStructType):
        out.append(0x5F)
        _vec(out, t.fields, _core_field)
    else:
        out.append(0x5E)
        _core_field(out, t.element)


def _core_subtype(out: bytearray, s: ast.CoreSubType, prefixed: bool) -> None:
    if s.final and not s.supertypes and not s.explicit:
        _core_comptype(out, s.comptype)
        return
    if s.final:
        out.append(0x4F)
    else:
        if prefixed:
            out.append(0x00)
        out.append(0x50)
    _vec(out, s.supertypes, _u32)
    _core_comptype(out, s.comptype)


def _core_externtype(out: bytearray, kind: str, desc: object) -> None:
    out.append(_CORE_KIND_BYTE[kind])
    if kind == CORE_KIND_FUNC:
        assert isinstance(desc, int)
        _u32(out, desc)
    elif kind == CORE_KIND_TABLE:
        assert isinstance(desc, TableType)
        _table_type(out, desc)
    elif kind == CORE_KIND_MEMORY:
        assert isinstance(desc, MemoryType)
        _limits(out, desc.limits, desc.is_64, desc.shared)
    elif kind == CORE_KIND_GLOBAL:
        assert isinstance(desc, GlobalType)
        _global_type(out, desc)
    else:
        assert isinstance(desc, int)
        out.append(0x00)
        _u32(out, desc)


def _module_decl(out: bytearray, d: ast.CoreModuleDecl) -> None:
    if isinstance(d, CoreImport):
        out.append(0x00)
        _name(out, d.module)
        _name(out, d.name)
        _core_externtype(out, d.kind, d.desc)
    elif isinstance(d, ast.CoreOuterAlias):
        out += b"\x02\x10\x01"
        _u32(out, d.count)
        _u32(out, d.idx)
    elif isinstance(d, ast.CoreExportDecl):
        out.append(0x03)
        _name(out, d.name)
        _core_externtype(out, d.kind, d.desc)
    else:
        out.append(0x01)
        _core_type(out, d)


def _core_type(out: bytearray, t: ast.CoreDefType) -> None:
    if isinstance(t, ast.CoreModuleType):
        out.append(0x50)
        _vec(out, t.decls, _module_decl)
    elif isinstance(t, ast.CoreRecType):
        out.append(0x4E)
        _vec(out, t.subtypes, lambda o, s: _core_subtype(o, s, False))
    elif isinstance(t, ast.CoreSubType):
        _core_subtype(out, t, True)
    else:
        _core_comptype(out, t)


def _canonopts(out: bytearray, opts: List[ast.CanonOpt]) -> None:
    write_unsigned(out, len(opts))
    for o in opts:
        out.append(_CANONOPT_BYTE[o.kind])
        if o.kind in ast.CANONOPTS_WITH_INDEX:
            _u32(out, o.idx or 0)


def _resultlist(out: bytearray, t: Optional[ast.ValType]) -> None:
    if t is None:
        out += b"\x01\x00"
    else:
        out.append(0x00)
        _valtype_c(out, t)


def _type_def(out: bytearray, t: ast.TypeDef) -> None:
    if isinstance(t, ast.PrimValTypeDef):
        out.append(_PRIMITIVE_BYTE[t.name])
    elif isinstance(t, ast.RecordDef):
        out.append(0x72)
        write_unsigned(out, len(t.fields))
        for label, ft in t.fields:
            _name(out, label)
            _valtype_c(out, ft)
    elif isinstance(t, ast.VariantDef):
        out.append(0x71)
        write_unsigned(out, len(t.cases))
        for label, ct in t.cases:
            _name(out, label)
            _opt_valtype(out, ct)
            out.append(0x00)
    elif isinstance(t, ast.ListDef):
        if t.length is None:
            out.append(0x70)
            _valtype_c(out, t.element)
        else:
            out.append(0x67)
            _valtype_c(out, t.element)
            _u32(out, t.length)
    elif isinstance(t, ast.TupleDef):
        out.append(0x6F)
        _vec(out, t.types, _valtype_c)
    elif isinstance(t, ast.FlagsDef):
        out.append(0x6E)
        _vec(out, t.labels, _name)
    elif isinstance(t, ast.EnumDef):
        out.append(0x6D)
        _vec(out, t.labels, _name)
    elif isinstance(t, ast.OptionDef):
        out.append(0x6B)
        _valtype_c(out, t.type)
    elif isinstance(t, ast.ResultDef):
        out.append(0x6A)
        _opt_valtype(out, t.ok)
        _opt_valtype(out, t.err)
    elif isinstance(t, ast.OwnDef):
        out.append(0x69)
        _u32(out, t.type)
    elif isinstance(t, ast.BorrowDef):
        out.append(0x68)
        _u32(out, t.type)
    elif isinstance(t, ast.StreamDef):
        out.append(0x66)
        _opt_valtype(out, t.type)
    elif isinstance(t, ast.FutureDef):
        out.append(0x65)
        _opt_valtype(out, t.type)
    elif isinstance(t, ast.MapDef):
        out.append(0x63)
        _valtype_c(out, t.key)
        _valtype_c(out, t.value)
    elif isinstance(t, ast.FuncTypeDef):
        out.append(0x43 if t.is_async else 0x40)
        write_unsigned(out, len(t.params))
        for label, pt in t.params:
            _name(out, label)
            _valtype_c(out, pt)
        _resultlist(out, t.result)
    elif isinstance(t, ast.ComponentTypeDef):
        out.append(0x41)
        _vec(out, t.decls, _decl)
    elif isinstance(t, ast.InstanceTypeDef):
        out.append(0x42)
        _vec(out, t.decls, _decl)
    elif isinstance(t, ast.ResourceTypeDef):
        out.append(0x3F)
        _valtype(out, t.rep)
        if t.dtor is None:
            out.append(0x00)
        else:
            out.append(0x01)
            _u32(out, t.dtor)
    else:
        raise TypeError(f"not a component type definition: {t!r}")


_CORE_TYPE_CLASSES = (ast.CoreFuncType, ast.CoreStructType, ast.CoreArrayType, ast.CoreSubType,
                      ast.CoreRecType, ast.CoreModuleType)
_ALIAS_CLASSES = (ast.AliasExport, ast.AliasCoreExport, ast.AliasOuter)


def _decl(out: bytearray, d: ast.Decl) -> None:
    if isinstance(d, _CORE_TYPE_CLASSES):
        out.append(0x00)
        _core_type(out, d)
    elif isinstance(d, _ALIAS_CLASSES):
        out.append(0x02)
        _alias(out, d)
    elif isinstance(d, ast.Import):
        out.append(0x03)
        _extern_name(out, d.name)
        _externtype(out, d.desc)
    elif isinstance(d, ast.ExportDecl):
        out.append(0x04)
        _extern_name(out, d.name)
        _externtype(out, d.desc)
    else:
        out.append(0x01)
        _type_def(out, d)


def _alias(out: bytearray, a: ast.Alias) -> None:
    _sort(out, a.sort)
    if isinstance(a, ast.AliasExport):
        out.append(0x00)
        _u32(out, a.instance)
        _name(out, a.name)
    elif isinstance(a, ast.AliasCoreExport):
        out.append(0x01)
        _u32(out, a.instance)
        _name(out, a.name)
    else:
        out.append(0x02)
        _u32(out, a.count)
        _u32(out, a.idx)


def _canon(out: bytearray, c: ast.Canon) -> None:
    if isinstance(c, ast.CanonLift):
        out += b"\x00\x00"
        _u32(out, c.core_func)
        _canonopts(out, c.opts)
        _u32(out, c.type)
    elif isinstance(c, ast.CanonLower):
        out += b"\x01\x00"
        _u32(out, c.func)
        _canonopts(out, c.opts)
    elif isinstance(c, ast.CanonResourceNew):
        out.append(0x02)
        _u32(out, c.type)
    elif isinstance(c, ast.CanonResourceDrop):
        out.append(0x03)
        _u32(out, c.type)
    elif isinstance(c, ast.CanonResourceRep):
        out.append(0x04)
        _u32(out, c.type)
    else:
        out.append(c.opcode)
        _, kinds = _CANON_OTHER[c.opcode]
        for kind, imm in zip(kinds, c.immediates):
            if kind == "opts":
                assert isinstance(imm, list)
                _canonopts(out, imm)
            elif kind == "core":
                assert isinstance(imm, str)
                _valtype(out, imm)
            elif kind == "results":
                assert imm is None or isinstance(imm, (int, str))
                _resultlist(out, imm)
            else:
                assert isinstance(imm, int)
                _u32(out, imm)


def _definition(out: bytearray, d: ast.Definition) -> None:
    """One item of a vector section."""
    if isinstance(d, ast.CoreInstantiate):
        out.append(0x00)
        _u32(out, d.module)
        write_unsigned(out, len(d.args))
        for a in d.args:
            _name(out, a.name)
            out.append(0x12)
            _u32(out, a.sortidx.idx)
    elif isinstance(d, ast.CoreInlineExports):
        out.append(0x01)
        write_unsigned(out, len(d.exports))
        for e in d.exports:
            _name(out, e.name)
            _core_sortidx(out, e.sortidx)
    elif isinstance(d, _CORE_TYPE_CLASSES):
        _core_type(out, d)
    elif isinstance(d, ast.Instantiate):
        out.append(0x00)
        _u32(out, d.component)
        write_unsigned(out, len(d.args))
        for arg in d.args:
            _name(out, arg.name)
            _sortidx(out, arg.sortidx)
    elif isinstance(d, ast.InlineExports):
        out.append(0x01)
        write_unsigned(out, len(d.exports))
        for ie in d.exports:
            _extern_name(out, ie.name)
            _sortidx(out, ie.sortidx)
    elif isinstance(d, _ALIAS_CLASSES):
        _alias(out, d)
    elif isinstance(d, (ast.CanonLift, ast.CanonLower, ast.CanonResourceNew,
                        ast.CanonResourceDrop, ast.CanonResourceRep, ast.CanonOther)):
        _canon(out, d)
    elif isinstance(d, ast.Start):
        _u32(out, d.func)
        _vec(out, d.args, _u32)
        _u32(out, d.results)
    elif isinstance(d, ast.Import):
        _extern_name(out, d.name)
        _externtype(out, d.desc)
    elif isinstance(d, ast.Export):
        _extern_name(out, d.name)
        _sortidx(out, d.sortidx)
        if d.desc is None:
            out.append(0x00)
        else:
            out.append(0x01)
            _externtype(out, d.desc)
    elif isinstance(d, ast.ValueDef):
        _valtype_c(out, d.type)
        _u32(out, len(d.data))
        out += d.data
    else:
        _type_def(out, d)  # type: ignore[arg-type]


def encode_names(n: ast.ComponentNames) -> bytes:
    """The payload of a ``component-name`` custom section (after its name)."""
    out = bytearray()
    if n.component is not None:
        sub = bytearray()
        _name(sub, n.component)
        out.append(0x00)
        _u32(out, len(sub))
        out += sub
    for sort, names in n.sorts:
        sub = bytearray()
        _sort(sub, sort)
        write_unsigned(sub, len(names))
        for idx, name in names.items():
            _u32(sub, idx)
            _name(sub, name)
        out.append(0x01)
        _u32(out, len(sub))
        out += sub
    return bytes(out)


def _section(out: bytearray, sid: int, payload: Union[bytes, bytearray]) -> None:
    out.append(sid)
    write_unsigned(out, len(payload))
    out += payload


def encode_component(c: ast.Component) -> bytes:
    """Encode a component to its binary format.  Consecutive definitions of one section kind
    share a section (split where ``c.section_starts`` says the decoded binary split them)."""
    out = bytearray(MAGIC)
    out += bytes([c.version & 0xFF, c.version >> 8, c.layer & 0xFF, c.layer >> 8])
    starts = set(c.section_starts)
    defs = c.definitions
    i = 0
    n = len(defs)
    while i < n:
        d = defs[i]
        sid = ast.SECTION_OF[type(d)]
        if isinstance(d, ast.Custom):
            payload = bytearray()
            _name(payload, d.name)
            payload += d.data
            _section(out, sid, payload)
            i += 1
        elif isinstance(d, ast.ComponentNames):
            payload = bytearray()
            _name(payload, "component-name")
            payload += encode_names(d)
            _section(out, sid, payload)
            i += 1
        elif isinstance(d, ast.CoreModule):
            _section(out, sid, d.data if d.data is not None else encode_module(d.module))
            i += 1
        elif isinstance(d, ast.Component):
            _section(out, sid, encode_component(d))
            i += 1
        else:
            j = i + 1
            while j < n and ast.SECTION_OF[type(defs[j])] == sid and j not in starts:
                j += 1
            payload = bytearray()
            write_unsigned(payload, j - i)
            for item in defs[i:j]:
                _definition(payload, item)
            _section(out, sid, payload)
            i = j
    return bytes(out)


__all__ = ["decode_component", "encode_component", "is_component", "encode_names",
           "CANON_OTHER_BY_NAME", "PREAMBLE"]
