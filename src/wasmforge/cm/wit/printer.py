"""Printing resolved packages back as WIT text.

The output parses back to the same resolution: types another interface defines are brought
in with ``use``, world-level resources carry their functions, an owned handle prints as the
resource's name, and identifiers that are keywords get their ``%``.  Documentation and the
feature gates are kept.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Set, Tuple

from .lexer import KEYWORDS
from .model import Function, Resolve, Stability, TypeDef, TypeRef, WorldItem, WorldKey


def _id(name: str) -> str:
    return f"%{name}" if name in KEYWORDS else name


def _string(text: str) -> str:
    out = []
    for c in text:
        if c in '"\\':
            out.append("\\" + c)
        elif c == "\n":
            out.append("\\n")
        elif c == "\t":
            out.append("\\t")
        elif c == "\r":
            out.append("\\r")
        elif not c.isprintable():
            out.append(f"\\u{{{ord(c):x}}}")
        else:
            out.append(c)
    return '"' + "".join(out) + '"'


class _Printer:
    def __init__(self, resolve: Resolve):
        self.r = resolve
        self.lines: List[str] = []

    # -- helpers --------------------------------------------------------------------------

    def emit(self, indent: int, text: str) -> None:
        self.lines.append("  " * indent + text if text else "")

    def docs(self, indent: int, docs: Optional[str]) -> None:
        if docs is None:
            return
        for line in docs.split("\n"):
            self.emit(indent, ("/// " + line).rstrip() if line else "///")

    def gates(self, indent: int, s: Stability, external_id: Optional[str] = None) -> None:
        if s.since is not None:
            self.emit(indent, f"@since(version = {s.since})")
        if s.unstable is not None:
            self.emit(indent, f"@unstable(feature = {_id(s.unstable)})")
        if s.deprecated is not None:
            self.emit(indent, f"@deprecated(version = {s.deprecated})")
        if external_id is not None:
            self.emit(indent, f"@external-id({_string(external_id)})")

    def package_path(self, pkg: Optional[int], here: int) -> str:
        if pkg is None or pkg == here:
            return ""
        p = self.r.packages[pkg].name
        return f"{_id(p.namespace)}:{_id(p.name)}"

    def interface_ref(self, iid: int, here: int) -> str:
        iface = self.r.interfaces[iid]
        assert iface.name is not None
        if iface.package == here:
            return _id(iface.name)
        assert iface.package is not None
        p = self.r.packages[iface.package].name
        path = ":".join(_id(x) for x in p.namespace.split(":"))
        return f"{path}:{_id(p.name)}/{_id(iface.name)}" + (f"@{p.version}" if p.version else "")

    def world_ref(self, wid: int, here: int) -> str:
        w = self.r.worlds[wid]
        if w.package == here:
            return _id(w.name)
        assert w.package is not None
        p = self.r.packages[w.package].name
        return f"{p.namespace}:{_id(p.name)}/{_id(w.name)}" + (f"@{p.version}" if p.version else "")

    def ty(self, ref: Optional[TypeRef]) -> str:
        if ref is None:
            return "_"
        if isinstance(ref, str):
            return ref
        t = self.r.types[ref]
        if t.name is not None:
            return _id(t.name)
        return self.anon(t)

    def anon(self, t: TypeDef) -> str:
        k, a = t.kind, t.args
        if k == "own":
            return self.ty(a[0])
        if k == "borrow":
            return f"borrow<{self.ty(a[0])}>"
        if k == "list":
            return f"list<{self.ty(a[0])}>"
        if k == "fixed-length-list":
            return f"list<{self.ty(a[0])}, {t.length}>"
        if k == "option":
            return f"option<{self.ty(a[0])}>"
        if k == "result":
            ok, err = a[0], a[1]
            if ok is None and err is None:
                return "result"
            if err is None:
                return f"result<{self.ty(ok)}>"
            return f"result<{self.ty(ok)}, {self.ty(err)}>"
        if k == "tuple":
            return "tuple<" + ", ".join(self.ty(x) for x in a) + ">"
        if k == "map":
            return f"map<{self.ty(a[0])}, {self.ty(a[1])}>"
        if k in ("future", "stream"):
            return k if a[0] is None else f"{k}<{self.ty(a[0])}>"
        if k == "type":
            return self.ty(a[0])
        raise AssertionError(f"not an anonymous type: {k}")

    def params(self, f: Function) -> str:
        ps = f.params[1:] if f.kind == "method" else f.params
        return ", ".join(f"{_id(p.name)}: {self.ty(p.type)}" for p in ps)

    def signature(self, f: Function) -> str:
        out = ("async " if f.is_async else "") + f"func({self.params(f)})"
        if f.result is not None:
            out += f" -> {self.ty(f.result)}"
        return out

    # -- type definitions -----------------------------------------------------------------

    def typedef(self, indent: int, tid: int, funcs: List[Function]) -> None:
        t = self.r.types[tid]
        assert t.name is not None
        self.docs(indent, t.docs)
        self.gates(indent, t.stability, t.external_id)
        name = _id(t.name)
        k = t.kind
        if k == "resource":
            mine = [f for f in funcs if f.resource == tid and f.kind in ("constructor", "method", "static")]
            if not mine:
                self.emit(indent, f"resource {name};")
                return
            self.emit(indent, f"resource {name} {{")
            for f in mine:
                self.docs(indent + 1, f.docs)
                self.gates(indent + 1, f.stability, f.external_id)
                if f.kind == "constructor":
                    res = f.result
                    own_self = isinstance(res, int) and self.r.types[res].kind == "own"
                    tail = "" if res is None or own_self else f" -> {self.ty(res)}"
                    self.emit(indent + 1, f"constructor({self.params(f)}){tail};")
                elif f.kind == "static":
                    self.emit(indent + 1, f"{_id(f.item_name)}: static {self.signature(f)};")
                else:
                    self.emit(indent + 1, f"{_id(f.item_name)}: {self.signature(f)};")
            self.emit(indent, "}")
            return
        if k in ("record", "variant", "enum", "flags"):
            self.emit(indent, f"{k} {name} {{")
            for fl in t.fields:
                self.docs(indent + 1, fl.docs)
                if k == "record":
                    self.emit(indent + 1, f"{_id(fl.name)}: {self.ty(fl.type)},")
                elif k == "variant" and fl.type is not None:
                    self.emit(indent + 1, f"{_id(fl.name)}({self.ty(fl.type)}),")
                else:
                    self.emit(indent + 1, f"{_id(fl.name)},")
            self.emit(indent, "}")
            return
        if k == "type":
            self.emit(indent, f"type {name} = {self.ty(t.args[0])};")
            return
        if k == "own":
            self.emit(indent, f"type {name} = own<{self.ty(t.args[0])}>;")
            return
        self.emit(indent, f"type {name} = {self.anon(t)};")

    def _use_source(self, tid: int, owner: Tuple[str, int]) -> Optional[Tuple[int, str]]:
        """For an alias of a type another interface owns: (that interface, its name)."""
        t = self.r.types[tid]
        if t.kind != "type" or not isinstance(t.args[0], int):
            return None
        target = self.r.types[t.args[0]]
        if target.owner is None or target.owner == owner or target.owner[0] != "interface" or target.name is None:
            return None
        return target.owner[1], target.name

    def type_items(self, indent: int, tids: List[int], owner: Tuple[str, int], here: int,
                   funcs: List[Function]) -> None:
        """``use`` statements for the types that come from elsewhere, then definitions."""
        uses: Dict[Tuple[int, Optional[str], Stability], List[str]] = {}
        defs: List[int] = []
        for tid in tids:
            src = self._use_source(tid, owner)
            t = self.r.types[tid]
            if src is None:
                defs.append(tid)
                continue
            iid, name = src
            assert t.name is not None
            entry = _id(name) if name == t.name else f"{_id(name)} as {_id(t.name)}"
            uses.setdefault((iid, t.external_id, t.stability), []).append(entry)
        for (iid, ext, stab), names in uses.items():
            self.gates(indent, stab, ext)
            self.emit(indent, f"use {self.interface_ref(iid, here)}.{{{', '.join(names)}}};")
        if uses:
            self.emit(0, "")
        for tid in defs:
            self.typedef(indent, tid, funcs)
            self.emit(0, "")

    # -- interfaces and worlds ------------------------------------------------------------

    def interface_body(self, indent: int, iid: int, here: int) -> None:
        iface = self.r.interfaces[iid]
        funcs = list(iface.functions.values())
        self.type_items(indent, list(iface.types.values()), ("interface", iid), here, funcs)
        for f in funcs:
            if f.kind != "freestanding":
                continue
            self.docs(indent, f.docs)
            self.gates(indent, f.stability, f.external_id)
            self.emit(indent, f"{_id(f.name)}: {self.signature(f)};")
            self.emit(0, "")   # wasm-tools separates an interface's functions by a blank line
        while self.lines and self.lines[-1] == "":
            self.lines.pop()

    def interface(self, indent: int, iid: int, here: int) -> None:
        iface = self.r.interfaces[iid]
        assert iface.name is not None
        self.docs(indent, iface.docs)
        self.gates(indent, iface.stability)
        self.emit(indent, f"interface {_id(iface.name)} {{")
        self.interface_body(indent + 1, iid, here)
        self.emit(indent, "}")

    def world_item(self, indent: int, direction: str, key: WorldKey, item: WorldItem, here: int) -> None:
        if item.kind == "interface":
            assert item.interface is not None
            iface = self.r.interfaces[item.interface]
            self.docs(indent, item.docs if iface.name is not None or item.docs else iface.docs)
            self.gates(indent, item.stability, item.external_id)
            if isinstance(key, int):
                self.emit(indent, f"{direction} {self.interface_ref(key, here)};")
            elif iface.name is None:
                self.emit(indent, f"{direction} {_id(key)}: interface {{")
                self.interface_body(indent + 1, item.interface, here)
                self.emit(indent, "}")
            else:
                self.emit(indent, f"{direction} {_id(key)}: {self.interface_ref(item.interface, here)};")
        elif item.kind == "function":
            f = item.function
            assert f is not None and isinstance(key, str)
            self.docs(indent, f.docs)
            self.gates(indent, f.stability, f.external_id)
            self.emit(indent, f"{direction} {_id(key)}: {self.signature(f)};")

    def world(self, indent: int, wid: int, here: int) -> None:
        w = self.r.worlds[wid]
        self.docs(indent, w.docs)
        self.gates(indent, w.stability)
        self.emit(indent, f"world {_id(w.name)} {{")
        inner = indent + 1
        funcs = [item.function for item in w.imports.values() if item.kind == "function" and item.function]
        for key, item in w.imports.items():
            if item.kind == "interface":
                self.world_item(inner, "import", key, item, here)
        tids = [item.type for item in w.imports.values() if item.kind == "type" and item.type is not None]
        if tids:
            start = len(self.lines)
            self.type_items(inner, tids, ("world", wid), here, funcs)
            while self.lines and self.lines[-1] == "":
                self.lines.pop()
            # wasm-tools: a blank line between imported interfaces and a type definition
            # (none before a `use`)
            if (any(item.kind == "interface" for item in w.imports.values()) and len(self.lines) > start
                    and not self.lines[start].lstrip().startswith("use ")):
                self.lines.insert(start, "")
        resource_funcs: Set[str] = {f.name for f in funcs if f.kind != "freestanding"}
        for key, item in w.imports.items():
            if item.kind == "function" and key not in resource_funcs:
                self.world_item(inner, "import", key, item, here)
        if w.imports and w.exports:   # as wasm-tools prints a world
            self.emit(0, "")
        for key, item in w.exports.items():
            self.world_item(inner, "export", key, item, here)
        self.emit(indent, "}")

    def package(self, pid: int, nested: bool) -> None:
        p = self.r.packages[pid]
        self.docs(0, p.docs)
        indent = 1 if nested else 0
        n = p.name
        name = ":".join(_id(x) for x in n.namespace.split(":")) + ":" + _id(n.name) + (f"@{n.version}" if n.version else "")
        self.emit(0, f"package {name}" + (" {" if nested else ";"))
        if not nested:
            self.emit(0, "")
        for name, iid in p.interfaces.items():
            self.interface(indent, iid, pid)
            if not nested:   # wasm-tools separates the items of a nested package by nothing
                self.emit(0, "")
        for name, wid in p.worlds.items():
            self.world(indent, wid, pid)   # wasm-tools puts no blank line between worlds
        while self.lines and self.lines[-1] == "":
            self.lines.pop()
        if nested:
            self.emit(0, "}")


def print_wit(resolve: Resolve, package: Optional[int] = None, with_deps: bool = False) -> str:
    """The WIT text of ``package`` (default: the resolve's main package).  With
    ``with_deps`` every other package follows as a nested ``package x:y { ... }`` block, so the
    text stands alone."""
    if package is None:
        package = resolve.main if resolve.main is not None else len(resolve.packages) - 1
    p = _Printer(resolve)
    p.package(package, nested=False)
    if with_deps:
        first = True
        for pid in range(len(resolve.packages)):
            if pid != package:
                if not first:   # two blank lines between nested packages, as wasm-tools
                    p.emit(0, "")
                    p.emit(0, "")
                first = False
                p.package(pid, nested=True)
    return "\n".join(p.lines) + "\n"
