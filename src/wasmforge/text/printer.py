"""Module -> readable WAT (spec 6, the text format).

The output uses the flat instruction syntax, indented by block nesting, and the names from
the ``name`` section as ``$identifiers`` wherever they are valid and unique.  Parsing the
printed text gives back the same :class:`~wasmforge.module.Module`: constants are printed so
that they read back bit-exactly (NaN payloads included), and custom sections other than
``name`` are printed as ``(@custom ...)`` annotations.
"""

from __future__ import annotations

from typing import Callable, Dict, List

from ..module import (ACTIVE, DECLARATIVE, FUNC, GLOBAL, MEMORY, TABLE, TAG, Custom, Module, Names)
from ..opcodes import CATCH_NAMES
from ..numerics.bits import f32_from_bits, f64_from_bits
from ..opcodes import memidx_of
from ..types import ArrayType, FuncType, GlobalType, Limits, StructType, TableType, ref_parts
from .lexer import parse_float

#: Indentation stops growing at this many levels: indenting every line by its full depth
#: makes the text quadratic in the nesting (8,000 nested blocks, a 24 KB binary, printed as
#: 128 MB).
MAX_INDENT = 32

_IDCHARS = frozenset(chr(c) for c in range(0x21, 0x7F)) - set(' ",;()[]{}')

# Known section ids, for the `(after ...)` placement of custom sections.
_SECTION_NAMES = {1: "type", 2: "import", 3: "func", 4: "table", 5: "memory", 6: "global",
                  7: "export", 8: "start", 9: "elem", 10: "code", 11: "data", 12: "datacount",
                  13: "tag"}


def print_module(module: Module) -> str:
    """Return the module as WAT text."""
    out: List[str] = []
    _Printer(module, out.append).run()
    return "".join(out)


def write_module(module: Module, write: Callable[[str], object], *, lines: int = 4096) -> None:
    """Print the module as WAT text in pieces: ``write`` gets the text of about ``lines``
    lines at a time, so printing a large module holds neither its whole text nor its decoded
    bodies (a lazily decoded body is decoded again for printing, one function at a time)."""
    pending: List[str] = []

    def emit(line: str) -> None:
        pending.append(line)
        if len(pending) >= lines:
            write("".join(pending))
            pending.clear()

    _Printer(module, emit).run()
    if pending:
        write("".join(pending))


def _is_id(name: str) -> bool:
    return bool(name) and all(c in _IDCHARS for c in name)


def _ids(names: Dict[int, str]) -> Dict[int, str]:
    """The names that can be printed as identifiers: valid characters, unique in their space."""
    seen: Dict[str, int] = {}
    for idx, name in names.items():
        if _is_id(name):
            seen[name] = seen.get(name, 0) + 1
    return {idx: "$" + name for idx, name in names.items() if _is_id(name) and seen[name] == 1}


def quote(data: bytes) -> str:
    """A WAT string literal for ``data``: printable ASCII as is, everything else escaped."""
    out = ['"']
    for b in data:
        if b == 0x22:
            out.append('\\"')
        elif b == 0x5C:
            out.append("\\\\")
        elif 0x20 <= b < 0x7F:
            out.append(chr(b))
        else:
            out.append(f"\\{b:02x}")
    out.append('"')
    return "".join(out)


def name_string(name: str) -> str:
    return quote(name.encode("utf-8"))


def format_f32(bits: int) -> str:
    """The shortest decimal that reads back to the same binary32 value; NaNs with payload."""
    sign = "-" if bits >> 31 else ""
    exp = (bits >> 23) & 0xFF
    frac = bits & 0x7FFFFF
    if exp == 0xFF:
        return f"{sign}inf" if frac == 0 else f"{sign}nan:{frac:#x}"
    x = abs(f32_from_bits(bits))
    # The shortest decimal that the parser's own exact reader maps back to these bits.
    for digits in range(1, 10):
        text = f"{x:.{digits}g}"
        if parse_float(text, 32) == bits & 0x7FFFFFFF:
            return _float_text(text, sign)
    return sign + x.hex()       # exact; reached only if no decimal of <= 9 digits reads back


def format_f64(bits: int) -> str:
    sign = "-" if bits >> 63 else ""
    exp = (bits >> 52) & 0x7FF
    frac = bits & 0xFFFFFFFFFFFFF
    if exp == 0x7FF:
        return f"{sign}inf" if frac == 0 else f"{sign}nan:{frac:#x}"
    return _float_text(repr(f64_from_bits(bits)), sign)


def _float_text(text: str, sign: str) -> str:
    # Python writes -0.0 with its sign; keep exactly one sign in front.
    text = text.lstrip("-")
    if "e" not in text and "." not in text and text not in ("inf", "nan"):
        text += ".0"
    return sign + text


class _Printer:
    def __init__(self, module: Module, write: Callable[[str], object]):
        self.m = module
        names = module.names or Names()
        self.names = names
        self.func_ids = _ids(names.funcs)
        self.type_ids = _ids(names.types)
        self.table_ids = _ids(names.tables)
        self.mem_ids = _ids(names.memories)
        self.global_ids = _ids(names.globals)
        self.elem_ids = _ids(names.elems)
        self.data_ids = _ids(names.datas)
        self.write = write          # called with each line, newline included

    # ----- helpers -----

    def emit(self, depth: int, text: str) -> None:
        self.write("  " * min(depth, MAX_INDENT) + text + "\n")

    def ref(self, ids: Dict[int, str], idx: int) -> str:
        return ids.get(idx, str(idx))

    def bind(self, ids: Dict[int, str], idx: int) -> str:
        """The binder written after a field keyword: ``$name`` or an index comment."""
        name = ids.get(idx)
        return f"{name} (;{idx};)" if name else f"(;{idx};)"

    @staticmethod
    def limits(lim: Limits) -> str:
        return str(lim.min) if lim.max is None else f"{lim.min} {lim.max}"

    @staticmethod
    def functype(ft: FuncType) -> str:
        parts = ["func"]
        if ft.params:
            parts.append(f"(param {' '.join(ft.params)})")
        if ft.results:
            parts.append(f"(result {' '.join(ft.results)})")
        return "(" + " ".join(parts) + ")"

    def subtype(self, m, k: int) -> str:
        """A type definition: its composite type, inside ``(sub final? supers...)`` when
        declared so (GC proposal)."""
        ct = m.types[k]
        text = str(ct) if isinstance(ct, (StructType, ArrayType)) else self.functype(ct)
        sub = m.subtypes.get(k)
        if sub is None:
            return text
        supers = "".join(self.ref(self.type_ids, x) + " " for x in sub[1])
        return f"(sub {'final ' if sub[0] else ''}{supers}{text})"

    def memtype(self, mt) -> str:
        return f"{'i64 ' if mt.is_64 else ''}{self.limits(mt.limits)}{' shared' if mt.shared else ''}"

    def tabletype(self, tt: TableType) -> str:
        return f"{'i64 ' if tt.is_64 else ''}{self.limits(tt.limits)} {tt.element}"

    @staticmethod
    def globaltype(gt: GlobalType) -> str:
        return f"(mut {gt.content})" if gt.mutable else gt.content

    def customs_after(self, section: int, depth: int) -> None:
        for c in self.m.customs:
            if c.after == section:
                self.custom(c, depth)

    def custom(self, c: Custom, depth: int) -> None:
        place = f" (after {_SECTION_NAMES[c.after]})" if c.after in _SECTION_NAMES else " (before first)"
        self.emit(depth, f"(@custom {name_string(c.name)}{place} {quote(c.data)})")

    # ----- the module -----

    def run(self) -> None:
        m = self.m
        head = "(module"
        if m.names.module is not None and _is_id(m.names.module):
            head += f" ${m.names.module}"
        self.emit(0, head)
        self.customs_after(0, 1)
        groups = dict(m.rec_groups)
        i = 0
        while i < len(m.types):
            count = groups.get(i, 1)
            if count > 1:
                self.emit(1, "(rec")
            for k in range(i, i + count):
                self.emit(1 + (count > 1), f"(type {self.bind(self.type_ids, k)} {self.subtype(m, k)})")
            if count > 1:
                self.emit(1, ")")
            i += count
        self.customs_after(1, 1)
        counters = {FUNC: 0, TABLE: 0, MEMORY: 0, GLOBAL: 0, TAG: 0}
        for imp in m.imports:
            idx = counters[imp.kind]
            counters[imp.kind] += 1
            where = f"(import {name_string(imp.module)} {name_string(imp.name)}"
            if imp.kind == FUNC:
                desc = f"(func {self.bind(self.func_ids, idx)} (type {self.ref(self.type_ids, imp.desc)}))"
            elif imp.kind == TABLE:
                desc = f"(table {self.bind(self.table_ids, idx)} {self.tabletype(imp.desc)})"
            elif imp.kind == MEMORY:
                desc = f"(memory {self.bind(self.mem_ids, idx)} {self.memtype(imp.desc)})"
            elif imp.kind == TAG:
                desc = f"(tag (;{idx};) (type {self.ref(self.type_ids, imp.desc)}))"
            else:
                desc = f"(global {self.bind(self.global_ids, idx)} {self.globaltype(imp.desc)})"
            self.emit(1, f"{where} {desc})")
        self.customs_after(2, 1)
        self.customs_after(3, 1)
        base = counters[TABLE]
        for i, t in enumerate(m.tables):
            init = "" if t.init is None else " " + self.inline_expr(t.init)
            self.emit(1, f"(table {self.bind(self.table_ids, base + i)} {self.tabletype(t.type)}{init})")
        self.customs_after(4, 1)
        base = counters[MEMORY]
        for i, mem in enumerate(m.mems):
            self.emit(1, f"(memory {self.bind(self.mem_ids, base + i)} {self.memtype(mem.type)})")
        self.customs_after(5, 1)
        base = counters[TAG]
        for i, t in enumerate(m.tags):
            self.emit(1, f"(tag (;{base + i};) (type {self.ref(self.type_ids, t.typeidx)}))")
        self.customs_after(13, 1)
        base = counters[GLOBAL]
        for i, g in enumerate(m.globals):
            self.emit(1, f"(global {self.bind(self.global_ids, base + i)} {self.globaltype(g.type)} "
                         f"{self.inline_expr(g.init)})")
        self.customs_after(6, 1)
        for e in m.exports:
            ids = {FUNC: self.func_ids, TABLE: self.table_ids, MEMORY: self.mem_ids, GLOBAL: self.global_ids,
                   TAG: {}}[e.kind]
            self.emit(1, f"(export {name_string(e.name)} ({e.kind} {self.ref(ids, e.index)}))")
        self.customs_after(7, 1)
        if m.start is not None:
            self.emit(1, f"(start {self.ref(self.func_ids, m.start)})")
        self.customs_after(8, 1)
        for i, e in enumerate(m.elems):
            self.elem(i, e)
        self.customs_after(9, 1)
        self.customs_after(12, 1)
        base = counters[FUNC]
        for i, f in enumerate(m.funcs):
            self.func(base + i, f)
        self.customs_after(10, 1)
        for i, d in enumerate(m.datas):
            self.data(i, d)
        self.customs_after(11, 1)
        self.emit(0, ")")

    def inline_expr(self, expr) -> str:
        """A constant expression on one line, as ``(instr) (instr)``, without its final end."""
        return " ".join(f"({self.instr(ins, {})})" for ins in expr[:-1])

    def elem(self, i: int, e) -> None:
        parts = [f"(elem {self.bind(self.elem_ids, i)}"]
        if e.mode == ACTIVE:
            parts.append(f"(table {self.ref(self.table_ids, e.table)})")
            parts.append(f"(offset {self.inline_expr(e.offset)})")
        elif e.mode == DECLARATIVE:
            parts.append("declare")
        parts.append(e.type)
        for item in e.init:
            parts.append(f"(item {self.inline_expr(item)})")
        self.emit(1, " ".join(parts) + ")")

    def data(self, i: int, d) -> None:
        parts = [f"(data {self.bind(self.data_ids, i)}"]
        if d.mode == ACTIVE:
            parts.append(f"(memory {self.ref(self.mem_ids, d.memory)})")
            parts.append(f"(offset {self.inline_expr(d.offset)})")
        parts.append(quote(d.init))
        self.emit(1, " ".join(parts) + ")")

    def func(self, idx: int, f) -> None:
        ft = self.m.types[f.typeidx] if f.typeidx < len(self.m.types) else None
        local_ids = _ids(self.names.locals.get(idx, {}))
        head = [f"(func {self.bind(self.func_ids, idx)} (type {self.ref(self.type_ids, f.typeidx)})"]
        nparams = len(ft.params) if ft else 0
        if ft:
            for j, t in enumerate(ft.params):
                head.append(f"(param {local_ids[j]} {t})" if j in local_ids else f"(param {t})")
            if ft.results:
                head.append(f"(result {' '.join(ft.results)})")
        for j, t in enumerate(f.locals, nparams):
            head.append(f"(local {local_ids[j]} {t})" if j in local_ids else f"(local {t})")
        self.emit(1, " ".join(head))
        depth = 2
        # iter_body, not body: a lazily decoded body is not kept once printed.  Each
        # instruction is printed when the next one is seen, so that the body's final end
        # (implicit in the text) is known as the last.
        prev = None
        for ins in f.iter_body():
            if prev is not None:
                depth = self.body_instr(depth, prev, local_ids)
            prev = ins
        if prev is not None and prev[0].name != "end":
            self.body_instr(depth, prev, local_ids)
        self.emit(1, ")")

    def body_instr(self, depth: int, ins: tuple, local_ids: Dict[int, str]) -> int:
        """Print one instruction of a body at its nesting ``depth``; return the next depth."""
        name = ins[0].name
        if name in ("end", "else", "catch", "catch_all", "delegate"):
            depth -= 1
        self.emit(depth, self.instr(ins, local_ids))
        if name in ("block", "loop", "if", "else", "try", "try_table", "catch", "catch_all"):
            depth += 1
        return depth

    # ----- instructions -----

    def instr(self, ins: tuple, local_ids: Dict[int, str]) -> str:
        op = ins[0]
        kind = op.imm
        name = op.name
        if kind == "-" or kind == "zero":
            return name
        a = ins[1:]
        if kind == "blocktype":
            bt = a[0]
            if bt is None:
                return name
            if isinstance(bt, int):
                return f"{name} (type {self.ref(self.type_ids, bt)})"
            return f"{name} (result {bt})"
        if kind == "try_table":
            bt = a[0]
            parts = [name]
            if isinstance(bt, int):
                parts.append(f"(type {self.ref(self.type_ids, bt)})")
            elif bt is not None:
                parts.append(f"(result {bt})")
            for ckind, tag, label in a[1]:
                parts.append(f"({CATCH_NAMES[ckind]} {label})" if tag is None
                             else f"({CATCH_NAMES[ckind]} {tag} {label})")
            return " ".join(parts)
        if kind == "tagidx":
            return f"{name} {a[0]}"
        if kind in ("labelidx",):
            return f"{name} {a[0]}"
        if kind == "br_table":
            return " ".join([name, *map(str, a[0]), str(a[1])])
        if kind == "funcidx":
            return f"{name} {self.ref(self.func_ids, a[0])}"
        if kind == "call_indirect":
            table = "" if a[1] == 0 else f" {self.ref(self.table_ids, a[1])}"
            return f"{name}{table} (type {self.ref(self.type_ids, a[0])})"
        if kind == "localidx":
            return f"{name} {local_ids.get(a[0], a[0])}"
        if kind == "globalidx":
            return f"{name} {self.ref(self.global_ids, a[0])}"
        if kind == "tableidx":
            return f"{name} {self.ref(self.table_ids, a[0])}"
        if kind == "memidx":
            return name if a[0] == 0 else f"{name} {self.ref(self.mem_ids, a[0])}"
        if kind in ("memarg", "memarg_lane"):
            memidx = memidx_of(ins)
            text = name if memidx == 0 else f"{name} {self.ref(self.mem_ids, memidx)}"
            text += self.memarg(op, a[0], a[1])
            return f"{text} {a[2]}" if kind == "memarg_lane" else text
        if kind == "laneidx":
            return f"{name} {a[0]}"
        if kind in ("i32", "i64"):
            return f"{name} {a[0]}"
        if kind == "f32":
            return f"{name} {format_f32(a[0])}"
        if kind == "f64":
            return f"{name} {format_f64(a[0])}"
        if kind == "v128":
            v = a[0]
            lanes = " ".join(f"{(v >> (32 * k)) & 0xFFFFFFFF:#010x}" for k in range(4))
            return f"{name} i32x4 {lanes}"
        if kind == "shuffle":
            return f"{name} {' '.join(map(str, a[0]))}"
        if kind == "heaptype":
            return f"{name} {ref_parts(a[0])[1]}"
        if kind == "typeidx":
            return f"{name} {self.ref(self.type_ids, a[0])}"
        if kind in ("typeidx_field", "typeidx_n"):
            return f"{name} {self.ref(self.type_ids, a[0])} {a[1]}"
        if kind == "typeidx_data":
            return f"{name} {self.ref(self.type_ids, a[0])} {self.ref(self.data_ids, a[1])}"
        if kind == "typeidx_elem":
            return f"{name} {self.ref(self.type_ids, a[0])} {self.ref(self.elem_ids, a[1])}"
        if kind == "typeidx_pair":
            return f"{name} {self.ref(self.type_ids, a[0])} {self.ref(self.type_ids, a[1])}"
        if kind == "castref":
            return f"{name} {a[0]}"
        if kind == "br_on_cast":
            return f"{name} {a[0]} {a[1]} {a[2]}"
        if kind == "valtypes":
            return f"{name} (result {' '.join(a[0])})" if a[0] else f"{name} (result)"
        if kind == "dataidx":
            return f"{name} {self.ref(self.data_ids, a[0])}"
        if kind == "elemidx":
            return f"{name} {self.ref(self.elem_ids, a[0])}"
        if kind == "memory.init":
            if a[1]:
                return f"{name} {self.ref(self.mem_ids, a[1])} {self.ref(self.data_ids, a[0])}"
            return f"{name} {self.ref(self.data_ids, a[0])}"
        if kind == "memory.copy":
            if a[0] or a[1]:
                return f"{name} {self.ref(self.mem_ids, a[0])} {self.ref(self.mem_ids, a[1])}"
            return name
        if kind == "table.init":
            return f"{name} {self.ref(self.table_ids, a[1])} {self.ref(self.elem_ids, a[0])}"
        if kind == "table.copy":
            return f"{name} {self.ref(self.table_ids, a[0])} {self.ref(self.table_ids, a[1])}"
        raise ValueError(f"cannot print immediate kind {kind!r} of {name}")

    @staticmethod
    def memarg(op, align: int, offset: int) -> str:
        text = ""
        if offset:
            text += f" offset={offset}"
        if align != op.align:
            text += f" align={1 << align}"
        return text


__all__ = ["print_module", "quote", "format_f32", "format_f64"]
