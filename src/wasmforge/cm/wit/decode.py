"""WIT packages in the component binary format (WIT.md "Package Format"): the component
``wasm-tools component wit --wasm`` writes (and ``wit-smith`` makes) read back into a
:class:`~.model.Resolve`.

Such a component defines, for each interface and world of the package, a component type
exported under the item's name: an interface's type imports the interfaces it uses and
exports ``ns:pkg/name@version`` as an instance type; a world's type wraps the world's own
component type.  Documentation and feature gates travel in the ``package-docs`` custom
section (a version byte, then JSON).  The types are read back by walking the declarations'
index spaces: a structural type exported under a name becomes that named type, an exported
type equal to another interface's type becomes a ``use``, any other structural type an
anonymous one.
"""

from __future__ import annotations

import json
from typing import Any, Dict, List, Optional, Tuple, Union

from ...errors import WitError
from .. import ast as cast
from ..binary import decode_component
from .model import (UNKNOWN, Field, Function, Interface, Package, PackageName, Param, Resolve, Stability,
                    TypeDef, TypeRef, World, WorldItem, WorldKey)

_STRUCT = (cast.RecordDef, cast.VariantDef, cast.ListDef, cast.TupleDef, cast.FlagsDef, cast.EnumDef,
           cast.OptionDef, cast.ResultDef, cast.OwnDef, cast.BorrowDef, cast.StreamDef, cast.FutureDef,
           cast.MapDef)


class _Pending:
    """A structural type declared but not yet named or used: it becomes a named type when
    exported under a name, an anonymous one when first referred to."""

    def __init__(self, node: object, scope: "_Scope"):
        self.node = node
        self.scope = scope
        self.ref: Optional[TypeRef] = None


class _Instance:
    """An instance in a component type's index space: its exports by name."""

    def __init__(self, exports: Dict[str, object]):
        self.exports = exports


class _Scope:
    """The index spaces of one component or instance type."""

    def __init__(self, parent: Optional["_Scope"]):
        self.parent = parent
        self.types: List[object] = []      # _Pending, a TypeRef, a func signature, a type node
        self.instances: List[_Instance] = []
        self.funcs: List[Function] = []

    def outer(self, count: int) -> "_Scope":
        s = self
        for _ in range(count):
            if s.parent is None:
                raise WitError("outer alias leaves the outermost scope")
            s = s.parent
        return s


def _err(message: str) -> WitError:
    return WitError(f"not a WIT package: {message}")


class _Decoder:
    def __init__(self, resolve: Resolve):
        self.r = resolve
        self.anon: Dict[Tuple[object, ...], int] = {}
        self.iface_by_name: Dict[str, int] = {}
        self.populated: Dict[int, bool] = {}

    # -- packages and interfaces by name ---------------------------------------------------

    def package(self, namespace: str, name: str, version: Optional[str]) -> int:
        pname = PackageName(namespace, name, version)
        for i, p in enumerate(self.r.packages):
            if p.name == pname:
                return i
        self.r.packages.append(Package(pname))
        return len(self.r.packages) - 1

    @staticmethod
    def split(full: str) -> Tuple[str, str, str, Optional[str]]:
        """``ns:pkg/name@version`` -> (namespace, package, name, version)."""
        path, _, version = full.partition("@")
        pkg, slash, name = path.rpartition("/")
        if not slash or ":" not in pkg:
            raise _err(f"`{full}` is not an interface or world name")
        ns, _, pname = pkg.rpartition(":")
        return ns, pname, name, version or None

    def interface(self, full: str) -> int:
        if full in self.iface_by_name:
            return self.iface_by_name[full]
        ns, pname, name, version = self.split(full)
        pid = self.package(ns, pname, version)
        self.r.interfaces.append(Interface(name, pid))
        iid = len(self.r.interfaces) - 1
        self.r.packages[pid].interfaces[name] = iid
        self.iface_by_name[full] = iid
        return iid

    # -- types ----------------------------------------------------------------------------

    def new_type(self, td: TypeDef) -> int:
        self.r.types.append(td)
        return len(self.r.types) - 1

    def ref(self, scope: _Scope, vt: cast.ValType) -> TypeRef:
        """A value type written in ``scope``: a primitive, or the type at an index."""
        if isinstance(vt, str):
            return vt
        entry = self.type_entry(scope, vt)
        if isinstance(entry, _Pending):
            return self.materialise(entry)
        if isinstance(entry, (str, int)):
            return entry
        raise _err(f"type index {vt} is not a value type")

    def type_entry(self, scope: _Scope, idx: int) -> object:
        if idx >= len(scope.types):
            raise _err(f"type index {idx} out of bounds")
        return scope.types[idx]

    def structural(self, p: _Pending) -> Tuple[str, List[Optional[TypeRef]], List[Field], Optional[int]]:
        n, s = p.node, p.scope

        def opt(v: Optional[cast.ValType]) -> Optional[TypeRef]:
            return None if v is None else self.ref(s, v)

        if isinstance(n, cast.RecordDef):
            return "record", [], [Field(f, self.ref(s, t)) for f, t in n.fields], None
        if isinstance(n, cast.VariantDef):
            return "variant", [], [Field(c, opt(t)) for c, t in n.cases], None
        if isinstance(n, cast.EnumDef):
            return "enum", [], [Field(x) for x in n.labels], None
        if isinstance(n, cast.FlagsDef):
            return "flags", [], [Field(x) for x in n.labels], None
        if isinstance(n, cast.ListDef):
            if n.length is not None:
                return "fixed-length-list", [self.ref(s, n.element)], [], n.length
            return "list", [self.ref(s, n.element)], [], None
        if isinstance(n, cast.TupleDef):
            return "tuple", [self.ref(s, t) for t in n.types], [], None
        if isinstance(n, cast.OptionDef):
            return "option", [self.ref(s, n.type)], [], None
        if isinstance(n, cast.ResultDef):
            return "result", [opt(n.ok), opt(n.err)], [], None
        if isinstance(n, (cast.OwnDef, cast.BorrowDef)):
            return ("own" if isinstance(n, cast.OwnDef) else "borrow"), [self.ref(s, n.type)], [], None
        if isinstance(n, (cast.StreamDef, cast.FutureDef)):
            return ("stream" if isinstance(n, cast.StreamDef) else "future"), [opt(n.type)], [], None
        if isinstance(n, cast.MapDef):
            return "map", [self.ref(s, n.key), self.ref(s, n.value)], [], None
        raise _err(f"unexpected type definition {type(n).__name__}")

    def materialise(self, p: _Pending) -> TypeRef:
        """A structural type referred to without a name: an anonymous type (one per shape)."""
        if p.ref is None:
            kind, args, fields, length = self.structural(p)
            if fields:
                raise _err("a record, variant, enum or flags type must be exported under a name")
            key = (kind, length, *args)
            if key not in self.anon:
                self.anon[key] = self.new_type(TypeDef(None, kind, None, args, length=length))
            p.ref = self.anon[key]
        return p.ref

    # -- instance types (interfaces) ---------------------------------------------------------

    def instance(self, node: cast.InstanceTypeDef, parent: _Scope, iid: int) -> _Instance:
        """An instance type describing interface ``iid``.  An interface is described more than
        once (where it is defined, and again where another item uses it, with what that item
        needs); the descriptions are merged by name."""
        iface = self.r.interfaces[iid]
        scope = _Scope(parent)
        exports: Dict[str, object] = {}
        owner = ("interface", iid)
        for d in node.decls:
            if isinstance(d, cast.ExportDecl):
                name = d.name.name
                ext = d.name.attribute(cast.EXTERNAL_ID)
                if d.desc.sort == cast.TYPE:
                    known = iface.types.get(name)
                    tid = self.export_type(scope, d.desc, name, owner, known)
                    if known is None:
                        self.r.types[tid].external_id = ext
                    scope.types.append(tid)
                    iface.types.setdefault(name, tid)
                    exports[name] = tid
                elif d.desc.sort == cast.FUNC:
                    f = self.function(scope, d.desc, name, iface.types)
                    f.external_id = ext
                    iface.functions.setdefault(name, f)
                    exports[name] = iface.functions[name]
                else:
                    raise _err(f"an interface exports a {d.desc.sort}")
            else:
                self.declare(scope, d)
        return _Instance(exports)

    def export_type(self, scope: _Scope, desc: cast.ExternDesc, name: str, owner: Tuple[str, int],
                    existing: Optional[int]) -> int:
        """``(export "name" (type ...))``: a named type of the interface or world."""
        if existing is not None:
            # the interface was read before: its named types are known
            if isinstance(desc.bound, cast.Eq):
                entry = self.type_entry(scope, desc.bound.idx)
                if isinstance(entry, _Pending) and entry.ref is None:
                    entry.ref = existing
            return existing
        if isinstance(desc.bound, cast.SubResource):
            return self.new_type(TypeDef(name, "resource", owner))
        if not isinstance(desc.bound, cast.Eq):
            raise _err(f"type export `{name}` has no bound")
        entry = self.type_entry(scope, desc.bound.idx)
        if isinstance(entry, _Pending) and entry.ref is None:
            kind, args, fields, length = self.structural(entry)
            tid = self.new_type(TypeDef(name, kind, owner, args, fields, length))
            entry.ref = tid
            return tid
        target = self.materialise(entry) if isinstance(entry, _Pending) else entry
        if not isinstance(target, (str, int)):
            raise _err(f"type export `{name}` is not a value type")
        return self.new_type(TypeDef(name, "type", owner, [target]))

    def function(self, scope: _Scope, desc: cast.ExternDesc, name: str, names: Dict[str, int]) -> Function:
        if desc.idx is None:
            raise _err(f"function `{name}` has no type")
        sig = self.type_entry(scope, desc.idx)
        if not isinstance(sig, cast.FuncTypeDef):
            raise _err(f"function `{name}` has a type that is not a function type")
        params = [Param(p, self.ref(scope, t)) for p, t in sig.params]
        result = None if sig.result is None else self.ref(scope, sig.result)
        kind, resource = "freestanding", None
        for prefix in ("[constructor]", "[method]", "[static]"):
            if name.startswith(prefix):
                kind = prefix[1:-1]
                rname = name[len(prefix):].split(".", 1)[0]
                resource = names.get(rname)
                if resource is None:
                    raise _err(f"function `{name}` names no resource of its interface")
        return Function(name, kind, params, result, resource, sig.is_async)

    def declare(self, scope: _Scope, d: object) -> None:
        """A declaration that is not an export: a type, an alias, or (in a component type)
        an import."""
        if isinstance(d, _STRUCT):
            scope.types.append(_Pending(d, scope))
        elif isinstance(d, (cast.FuncTypeDef, cast.InstanceTypeDef, cast.ComponentTypeDef)):
            scope.types.append(d)
        elif isinstance(d, cast.PrimValTypeDef):
            scope.types.append(d.name)
        elif isinstance(d, cast.AliasOuter):
            if d.sort != cast.TYPE:
                raise _err(f"outer alias of a {d.sort}")
            scope.types.append(self.type_entry(scope.outer(d.count), d.idx))
        elif isinstance(d, cast.AliasExport):
            inst = scope.instances[d.instance]
            if d.name not in inst.exports:
                raise _err(f"alias of `{d.name}`, which the instance does not export")
            if d.sort == cast.TYPE:
                scope.types.append(inst.exports[d.name])
            elif d.sort == cast.FUNC:
                f = inst.exports[d.name]
                assert isinstance(f, Function)
                scope.funcs.append(f)
            else:
                raise _err(f"alias of a {d.sort}")
        else:
            raise _err(f"unexpected declaration {type(d).__name__}")

    def instance_type(self, scope: _Scope, idx: Optional[int]) -> cast.InstanceTypeDef:
        node = self.type_entry(scope, idx if idx is not None else -1)
        if not isinstance(node, cast.InstanceTypeDef):
            raise _err("an instance import or export without an instance type")
        return node

    # -- component types: an interface's or a world's ------------------------------------------

    def component(self, node: cast.ComponentTypeDef, parent: _Scope, world: Optional[World],
                  wid: int = -1) -> Dict[str, Tuple[str, object]]:
        """Walk a component type; return its exports (name -> (sort, what)).  For a world's
        own type, its imports and exports become the world's items."""
        scope = _Scope(parent)
        out: Dict[str, Tuple[str, object]] = {}
        for d in node.decls:
            if isinstance(d, (cast.Import, cast.ExportDecl)):
                direction = "import" if isinstance(d, cast.Import) else "export"
                name = d.name.name
                desc = d.desc
                ext = d.name.attribute(cast.EXTERNAL_ID)
                implements = d.name.attribute(cast.IMPLEMENTS)
                if desc.sort == cast.INSTANCE:
                    named = "/" in name
                    if named:
                        iid = self.interface(name)
                    elif implements is not None:
                        iid = self.interface(implements)
                    else:
                        if world is None:
                            raise _err(f"plain-named instance `{name}` outside a world")
                        self.r.interfaces.append(Interface(None, world.package))
                        iid = len(self.r.interfaces) - 1
                    inst = self.instance(self.instance_type(scope, desc.idx), scope, iid)
                    if direction == "import":
                        scope.instances.append(inst)
                    if world is not None:
                        key: WorldKey = iid if named else name
                        target = world.imports if direction == "import" else world.exports
                        target[key] = WorldItem("interface", interface=iid, external_id=ext)
                    if direction == "export":
                        out[name] = ("instance", iid)
                elif desc.sort == cast.TYPE:
                    if world is None:
                        raise _err(f"type `{name}` outside a world")
                    tid = self.export_type(scope, desc, name, ("world", wid), None)
                    self.r.types[tid].external_id = ext
                    scope.types.append(tid)
                    world.imports[name] = WorldItem("type", type=tid)
                elif desc.sort == cast.FUNC:
                    if world is None:
                        raise _err(f"function `{name}` outside a world")
                    names = {n: i.type for n, i in world.imports.items()
                             if isinstance(n, str) and i.kind == "type" and i.type is not None}
                    f = self.function(scope, desc, name, names)
                    f.external_id = ext
                    target = world.imports if direction == "import" else world.exports
                    target[name] = WorldItem("function", function=f)
                elif desc.sort == cast.COMPONENT:
                    inner = self.type_entry(scope, desc.idx if desc.idx is not None else -1)
                    if not isinstance(inner, cast.ComponentTypeDef):
                        raise _err(f"`{name}` is not a component type")
                    out[name] = ("component", (inner, scope))
                else:
                    raise _err(f"unexpected {desc.sort} `{name}`")
            else:
                self.declare(scope, d)
        return out


def _stability(data: Any) -> Stability:
    if not isinstance(data, dict):
        return UNKNOWN
    if "stable" in data:
        s = data["stable"]
        return Stability(since=s.get("since"), deprecated=s.get("deprecated"))
    if "unstable" in data:
        s = data["unstable"]
        return Stability(unstable=s.get("feature"), deprecated=s.get("deprecated"))
    return UNKNOWN


def _apply_type_docs(r: Resolve, tid: int, meta: Any) -> None:
    t = r.types[tid]
    t.docs = meta.get("docs")
    t.stability = _stability(meta.get("stability"))
    items = meta.get("items", {})
    for f in t.fields:
        f.docs = items.get(f.name)


def _apply_funcs(funcs: Dict[str, Function], meta: Any) -> None:
    for name, m in meta.items():
        f = funcs.get(name)
        if f is not None:
            f.docs = m.get("docs")
            f.stability = _stability(m.get("stability"))


def _apply_interface(r: Resolve, iid: int, meta: Any) -> None:
    iface = r.interfaces[iid]
    iface.docs = meta.get("docs")
    iface.stability = _stability(meta.get("stability"))
    for name, m in meta.get("types", {}).items():
        if name in iface.types:
            _apply_type_docs(r, iface.types[name], m)
    _apply_funcs(iface.functions, meta.get("funcs", {}))


def _apply_docs(r: Resolve, pid: int, data: bytes) -> None:
    """The ``package-docs`` section: documentation and feature gates of the main package."""
    if not data or data[0] != 1:
        return  # an unknown version: leave the package undocumented
    try:
        meta = json.loads(data[1:].decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise _err("malformed `package-docs` section") from None
    pkg = r.packages[pid]
    pkg.docs = meta.get("docs")
    for name, m in meta.get("interfaces", {}).items():
        if name in pkg.interfaces:
            _apply_interface(r, pkg.interfaces[name], m)
    for name, m in meta.get("worlds", {}).items():
        if name not in pkg.worlds:
            continue
        w = r.worlds[pkg.worlds[name]]
        w.docs = m.get("docs")
        w.stability = _stability(m.get("stability"))
        for tname, tm in m.get("types", {}).items():
            item = w.imports.get(tname)
            if item is not None and item.type is not None:
                _apply_type_docs(r, item.type, tm)
        for section, items in (("funcs", w.imports), ("func_exports", w.exports)):
            funcs = {k: v.function for k, v in items.items()
                     if isinstance(k, str) and v.kind == "function" and v.function is not None}
            _apply_funcs(funcs, m.get(section, {}))
        for side, items in (("interfaces", w.imports), ("interface_exports", w.exports)):
            for iname, im in m.get(side, {}).items():
                item = items.get(iname)
                if item is None or item.interface is None:
                    continue
                if r.interfaces[item.interface].name is not None:
                    # `import label: ns:pkg/iface;` names an interface documented elsewhere
                    item.stability = _stability(im.get("stability"))
                    item.docs = im.get("docs")
                else:
                    _apply_interface(r, item.interface, im)
                    item.stability = r.interfaces[item.interface].stability
        for side, items in (("import", w.imports), ("export", w.exports)):
            # keyed by the interface's name, or by the label of `import label: ns:pkg/iface;`
            for full, st in m.get(f"interface_{side}_stability", {}).items():
                for key, item in items.items():
                    if item.kind == "interface" and full == (key if isinstance(key, str) else r.interface_path(key)):
                        item.stability = _stability(st)
            for full, doc in m.get(f"interface_{side}_docs", {}).items():
                for key, item in items.items():
                    if item.kind == "interface" and full == (key if isinstance(key, str) else r.interface_path(key)):
                        item.docs = doc


def decode_package(data: Union[bytes, bytearray, memoryview], resolve: Optional[Resolve] = None) -> Resolve:
    """Read a WIT package from its component encoding (binary); its package becomes
    ``resolve.main`` (the packages it uses, as far as it uses them, come first).  A
    malformed binary raises :class:`~wasmforge.errors.DecodeError`, a component that is not
    a WIT package :class:`~wasmforge.errors.WitError`."""
    return package_from_component(decode_component(data), resolve)


def package_from_component(comp: cast.Component, resolve: Optional[Resolve] = None) -> Resolve:
    """:func:`decode_package` for a component already decoded (or parsed from text)."""
    r = resolve if resolve is not None else Resolve()
    dec = _Decoder(r)
    for i, p in enumerate(r.packages):
        for name, iid in p.interfaces.items():
            dec.iface_by_name[r.interface_path(iid)] = iid
            dec.populated[iid] = True
    top = _Scope(None)
    exported: List[Tuple[str, object]] = []
    docs: Optional[bytes] = None
    for d in comp.definitions:
        if isinstance(d, cast.ComponentTypeDef):
            top.types.append(d)
        elif isinstance(d, cast.Export):
            if d.sortidx.sort != cast.TYPE:
                raise _err("a WIT package exports only types (is this a component? extracting a "
                           "component's own WIT is not supported)")
            node = dec.type_entry(top, d.sortidx.idx)
            top.types.append(node)
            exported.append((d.name.name, node))
        elif isinstance(d, cast.Custom):
            if d.name == "package-docs":
                docs = d.data
        elif isinstance(d, cast.ComponentNames):
            continue
        else:
            raise _err(f"unexpected {type(d).__name__} (extracting a component's own WIT is not supported)")
    if not exported:
        # nothing but custom sections: wasm-tools reads this as a component with no imports
        # and no exports, the world `root` of the package `root:component`
        pid = dec.package("root", "component", None)
        r.worlds.append(World("root", pid))
        r.packages[pid].worlds["root"] = len(r.worlds) - 1
        r.main = pid
        return r
    main: Optional[int] = None
    for name, node in exported:
        if not isinstance(node, cast.ComponentTypeDef):
            raise _err(f"`{name}` is not a component type")
        items = dec.component(node, top, None)
        for full, (sort, what) in items.items():
            if sort == "instance":
                assert isinstance(what, int)
                main = r.interfaces[what].package
            elif sort == "component":
                assert isinstance(what, tuple)
                inner, scope = what
                ns, pname, wname, version = dec.split(full)
                pid = dec.package(ns, pname, version)
                world = World(wname, pid)
                r.worlds.append(world)
                wid = len(r.worlds) - 1
                r.packages[pid].worlds[wname] = wid
                dec.component(inner, scope, world, wid)
                main = pid
    if main is None:
        raise _err("it defines no interface or world")
    # the package's dependencies first, as when reading WIT text
    r.main = main
    if docs is not None:
        _apply_docs(r, main, docs)
    return r
