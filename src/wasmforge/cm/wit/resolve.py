"""Name resolution: syntax trees of one or more packages to a :class:`~.model.Resolve`.

WIT.md "Name resolution": names may be used before they are defined, but nothing may depend
on itself.  Within a package the interfaces are resolved in dependency order (a depth-first
walk in declaration order, each item after the items it uses), then the worlds (each after
the worlds it includes); within an interface or world the ``use`` statements first, then the
type definitions in dependency order, then the functions in source order.  Packages are
resolved after the packages they refer to.  Identical anonymous types (``list<u32>``, handles)
of one package are one type definition.  The numbering of everything therefore matches
wasm-tools', whose ``Resolve`` is the reference for this form.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Dict, List, Optional, Set, Tuple, Union

from ...errors import WitError
from . import ast
from .lexer import Pos
from .model import (UNKNOWN, Field, Function, Interface, Package, PackageName, Param, Resolve,
                    Stability, TypeDef, TypeRef, World, WorldItem, WorldKey)


def _err(message: str, pos: Optional[Pos]) -> WitError:
    if pos is None:
        return WitError(message)
    return WitError(message, pos.file, pos.line, pos.column)


def _item_pos(w: Union[ast.Extern, ast.Use, ast.TypeDef, ast.Include]) -> Optional[Pos]:
    """Where a world item is named (what an error about the whole item points at)."""
    if isinstance(w, ast.TypeDef):
        return w.name.pos
    if isinstance(w, ast.Include):
        return w.path.name.pos
    if isinstance(w, ast.Extern):
        if w.name is not None:
            return w.name.pos
        return w.path.name.pos if w.path is not None else w.pos
    return w.pos


def _stability(gate: ast.Gate) -> Stability:
    if gate.empty():
        return UNKNOWN
    return Stability(gate.since, gate.unstable, gate.deprecated)


@dataclass
class PackageGroup:
    """The sources of one package: every file (or nested block) that names it."""

    name: PackageName
    docs: Optional[str]
    sources: List[ast.PackageSource]


def _pkg_name(n: ast.PackageName) -> PackageName:
    return PackageName(n.namespace, n.name, n.version)


def group_files(files: List[ast.File], where: str) -> List[PackageGroup]:
    """Split parsed files into packages: the files' main parts form one package (a
    directory's files must agree on its name), each nested block its own."""
    groups: List[PackageGroup] = []
    mains = [f.main for f in files]
    named = [m for m in mains if m.name is not None]
    if named:
        first = named[0]
        assert first.name is not None
        for m in named[1:]:
            assert m.name is not None
            if str(m.name) != str(first.name):
                raise _err(f"package identifier `{m.name}` does not match previous package name of "
                           f"`{first.name}`", m.name.pos)
        with_docs = [m for m in named if m.docs is not None]
        if len(with_docs) > 1:
            assert with_docs[1].name is not None
            raise _err("found doc comments on multiple 'package' items", with_docs[1].name.pos)
        groups.append(PackageGroup(_pkg_name(first.name), with_docs[0].docs if with_docs else None, mains))
    elif any(m.items for m in mains) or not any(f.nested for f in files):
        raise WitError("no `package` header was found in any WIT file for this package", where)
    for f in files:
        for n in f.nested:
            assert n.name is not None
            groups.append(PackageGroup(_pkg_name(n.name), n.docs, [n]))
    return groups


def _foreign_refs(group: PackageGroup) -> List[Tuple[str, Optional[str], Pos]]:
    """(namespace:name, version, position) of every package a group's sources refer to."""
    out: List[Tuple[str, Optional[str], Pos]] = []

    def path(p: ast.UsePath) -> None:
        if p.package is not None:
            out.append((p.package.unversioned, p.package.version, p.package.pos))

    def iface_items(items: List[Union[ast.Use, ast.TypeDef, ast.Func]]) -> None:
        for it in items:
            if isinstance(it, ast.Use):
                path(it.path)

    for src in group.sources:
        for item in src.items:
            if isinstance(item, ast.TopUse):
                path(item.path)
            elif isinstance(item, ast.Interface):
                iface_items(item.items)
            else:
                for w in item.items:
                    if isinstance(w, (ast.Use, ast.Include)):
                        path(w.path)
                    elif isinstance(w, ast.Extern):
                        if w.path is not None:
                            path(w.path)
                        if w.interface is not None:
                            iface_items(w.interface.items)
    return out


def _matches(name: PackageName, unversioned: str, version: Optional[str]) -> bool:
    return f"{name.namespace}:{name.name}" == unversioned and (version is None or version == name.version)


def sort_groups(groups: List[PackageGroup], resolve: Resolve) -> List[PackageGroup]:
    """The groups in dependency order (depth first, in the given order); a cycle is an
    error.  References to packages already in ``resolve`` need no ordering."""
    order: List[PackageGroup] = []
    state: Dict[int, int] = {}

    def visit(i: int, via: Optional[Pos]) -> None:
        if state.get(i) == 2:
            return
        if state.get(i) == 1:
            raise _err(f"package `{groups[i].name}` creates a dependency cycle", via)
        state[i] = 1
        for unv, ver, pos in _foreign_refs(groups[i]):
            for j, g in enumerate(groups):
                if _matches(g.name, unv, ver):
                    if j == i:
                        raise _err(f"package `{g.name}` creates a dependency cycle", pos)
                    visit(j, pos)
                    break
        state[i] = 2
        order.append(groups[i])

    for i in sorted(range(len(groups)), key=lambda i: _sort_key(groups[i].name)):
        visit(i, None)
    return order


def _semver_key(v: str) -> Tuple[object, ...]:
    core, _, _build = v.partition("+")
    main, dash, pre = core.partition("-")
    nums = tuple(int(x) for x in main.split("."))
    if not dash:
        return (nums, 1, ())
    ids = tuple((0, int(x), "") if x.isdigit() else (1, 0, x) for x in pre.split("."))
    return (nums, 0, ids)


def _sort_key(n: PackageName) -> Tuple[object, ...]:
    return (n.namespace, n.name, 0 if n.version is None else 1,
            _semver_key(n.version) if n.version is not None else ())


# -- resolving one package ----------------------------------------------------------------------


@dataclass
class _Decl:
    kind: str  # "interface" or "world"
    node: Union[ast.Interface, ast.World]
    source: ast.PackageSource
    excluded: bool


class _Scope:
    """The type names visible in one interface or world."""

    def __init__(self) -> None:
        self.names: Dict[str, int] = {}
        self.excluded: Set[str] = set()


class PackageResolver:
    """Resolves one :class:`PackageGroup` into ``resolve``."""

    def __init__(self, resolve: Resolve, group: PackageGroup):
        self.r = resolve
        self.group = group
        self.features = resolve.features
        self.anon: Dict[Tuple[object, ...], int] = {}
        self.pkg = len(resolve.packages)
        self.package = Package(group.name, group.docs)
        self.decls: Dict[str, _Decl] = {}
        self.file_uses: Dict[int, Dict[str, Tuple[str, int]]] = {}
        self.iface_ids: Dict[str, int] = {}
        self.world_ids: Dict[str, int] = {}
        #: functions whose parameter and result types await their second step
        self.pending: List[Tuple[Function, ast.Func]] = []
        #: per source: top-level `use` of a local interface under another name
        self._local_alias: Dict[int, Dict[str, ast.Name]] = {}
        #: interface id -> interfaces it uses types from (for world elaboration)
        self.stability_ctx: Stability = UNKNOWN

    # -- entry ----------------------------------------------------------------------------

    def run(self) -> int:
        r = self.r
        r.packages.append(self.package)
        self._collect()
        self._check_gates()
        self._top_uses()
        for name in self._order("interface"):
            self._interface(name)
        for name in self._order("world"):
            self._world(name)
        # owned handles in function signatures are made last, in the order of the functions
        self._finish_funcs()
        return self.pkg

    def _check_gates(self) -> None:
        """``@since`` may not name a version after the package's own; in an item left out by
        a feature gate, what is not gated itself is an error (it would refer to nothing)."""
        version = self.group.name.version

        def check(gate: ast.Gate, at: Optional[Pos] = None) -> None:
            if gate.since is None:
                return
            at = at or gate.pos
            if version is None:
                raise _err(f"package [{self.group.name}] contains a feature gate with a version specifier, so it "
                           f"must have a version", at)
            if _semver_key(gate.since) > _semver_key(version):
                raise _err(f"feature gate cannot reference unreleased version {gate.since} of package "
                           f"[{self.group.name}] (current version {version})", at)

        def funcs(td: ast.TypeDef) -> None:
            for f in td.funcs:
                check(f.gate, f.name.pos)
                if self.gated_out(td.gate) and f.gate.unstable is None:
                    raise _err("found a reference to a type which is excluded due to its feature not being "
                               "activated", f.name.pos)

        def iface_items(items: List[Union[ast.Use, ast.TypeDef, ast.Func]], excluded: bool) -> None:
            for it in items:
                check(it.gate, it.pos if isinstance(it, ast.Use) else it.name.pos)
                if isinstance(it, ast.TypeDef):
                    if excluded and it.gate.unstable is None:
                        raise _err("found a reference to a interface which is excluded due to its feature not "
                                   "being activated; this type is not gated by a feature but its interface is",
                                   it.name.pos)
                    funcs(it)

        for src in self.group.sources:
            for item in src.items:
                if isinstance(item, ast.TopUse):
                    continue
                check(item.gate, item.name.pos if item.name else None)
                if isinstance(item, ast.Interface):
                    iface_items(item.items, self.gated_out(item.gate))
                    continue
                for w in item.items:
                    check(w.gate, _item_pos(w))
                    if isinstance(w, ast.TypeDef):
                        funcs(w)
                    elif isinstance(w, ast.Extern) and w.interface is not None:
                        iface_items(w.interface.items, False)

    def gated_out(self, gate: ast.Gate) -> bool:
        return gate.unstable is not None and not self.r.all_features and gate.unstable not in self.features

    def _collect(self) -> None:
        for src in self.group.sources:
            for item in src.items:
                if isinstance(item, ast.TopUse):
                    continue
                assert item.name is not None
                name = item.name.text
                kind = "interface" if isinstance(item, ast.Interface) else "world"
                if name in self.decls:
                    raise _err(f"duplicate item named `{name}`", item.name.pos)
                self.decls[name] = _Decl(kind, item, src, self.gated_out(item.gate))

    def _top_uses(self) -> None:
        for src in self.group.sources:
            uses: Dict[str, Tuple[str, int]] = {}
            for item in src.items:
                if not isinstance(item, ast.TopUse):
                    continue
                alias = item.alias or item.path.name
                same_file = alias.text in self.decls and self.decls[alias.text].source is src
                if same_file or alias.text in uses:
                    raise _err(f"name `{alias.text}` is defined more than once", alias.pos)
                if item.path.package is None:
                    # a local interface under another name; resolved when used
                    target = self.decls.get(item.path.name.text)
                    if target is None:
                        raise _err(f"interface or world `{item.path.name.text}` does not exist", item.path.name.pos)
                    if target.kind != "interface":
                        raise _err(f"name `{item.path.name.text}` is defined as a world, not an interface",
                                   item.path.name.pos)
                    uses[alias.text] = ("local", -1)
                    self._local_alias.setdefault(id(src), {})[alias.text] = item.path.name
                else:
                    kind, idx = self._foreign(item.path, "interface")
                    uses[alias.text] = (kind, idx)
            self.file_uses[id(src)] = uses

    # -- references to interfaces and worlds ---------------------------------------------------

    def _foreign(self, path: ast.UsePath, want: Optional[str]) -> Tuple[str, int]:
        pkg = path.package
        assert pkg is not None
        candidates = [i for i, p in enumerate(self.r.packages[:self.pkg]) if _matches(p.name, pkg.unversioned, pkg.version)]
        if not candidates:
            known = sorted(str(p.name) for p in self.r.packages[:self.pkg])
            listing = "".join(f"\n    {k}" for k in known)
            raise _err(f"package '{pkg}' not found. known packages:{listing}" if known else f"package '{pkg}' not found. no known packages.", pkg.pos)
        if len(candidates) > 1:
            raise _err(f"package '{pkg.unversioned}' is ambiguous: give a version", pkg.pos)
        p = self.r.packages[candidates[0]]
        name = path.name.text
        if want != "world" and name in p.interfaces:
            return "interface", p.interfaces[name]
        if want != "interface" and name in p.worlds:
            return "world", p.worlds[name]
        what = want or "interface"
        raise _err(f"{what} '{name}' not found in package '{p.name}'", path.name.pos)

    def _local(self, src: ast.PackageSource, name: ast.Name) -> Tuple[str, Union[str, int]]:
        """A bare name: ("decl", name) for an item of this package, or a foreign item
        brought in by a top-level ``use``."""
        uses = self.file_uses.get(id(src), {})
        if name.text in uses:
            kind, idx = uses[name.text]
            if kind == "local":
                target = self._local_alias[id(src)][name.text]
                return self._local(src, target)
            return kind, idx
        if name.text in self.decls:
            return "decl", name.text
        raise _err(f"interface or world `{name.text}` does not exist", name.pos)

    def _deps(self, decl: _Decl) -> List[ast.Name]:
        """The names of local interfaces/worlds a declaration refers to."""
        out: List[ast.Name] = []

        def path(p: ast.UsePath) -> None:
            if p.package is None:
                kind, what = self._local(decl.source, p.name)
                if kind == "decl":
                    assert isinstance(what, str)
                    out.append(ast.Name(what, p.name.pos))

        def iface_items(items: List[Union[ast.Use, ast.TypeDef, ast.Func]]) -> None:
            for it in items:
                if isinstance(it, ast.Use) and not self.gated_out(it.gate):
                    path(it.path)

        node = decl.node
        if isinstance(node, ast.Interface):
            iface_items(node.items)
        else:
            # worlds come after every interface; among worlds only `include` orders them
            for w in node.items:
                if isinstance(w, ast.Include) and not self.gated_out(w.gate):
                    path(w.path)
        return out

    def _order(self, kind: str) -> List[str]:
        order: List[str] = []
        state: Dict[str, int] = {}

        def visit(name: str, pos: Optional[Pos]) -> None:
            d = self.decls[name]
            if state.get(name) == 2:
                return
            state[name] = 1
            for dep in self._deps(d):
                if self.decls[dep.text].kind == kind:
                    if state.get(dep.text) == 1:
                        # the item whose reference closes the cycle, at its name
                        raise _err(f"interface or world `{name}` depends on itself", pos)
                    dep_name = self.decls[dep.text].node.name
                    visit(dep.text, dep_name.pos if dep_name is not None else None)
            state[name] = 2
            order.append(name)

        for name, d in self.decls.items():
            if d.kind == kind:
                visit(name, d.node.name.pos if d.node.name else None)
        return [n for n in order if not self.decls[n].excluded]

    def _interface_ref(self, src: ast.PackageSource, path: ast.UsePath) -> int:
        """The id of the interface a path names (an error if it names a world)."""
        if path.package is not None:
            kind, idx = self._foreign(path, "interface")
            return idx
        kind, what = self._local(src, path.name)
        if kind == "decl":
            assert isinstance(what, str)
            d = self.decls[what]
            if d.kind != "interface":
                raise _err(f"name `{what}` is defined as a world, not an interface", path.name.pos)
            if d.excluded:
                raise _err("found a reference to a interface which is excluded due to its feature not being activated",
                           path.name.pos)
            return self.iface_ids[what]
        if kind != "interface":
            raise _err(f"name `{path.name.text}` is a world, not an interface", path.name.pos)
        assert isinstance(what, int)
        return what

    def _world_ref(self, src: ast.PackageSource, path: ast.UsePath) -> int:
        if path.package is not None:
            kind, idx = self._foreign(path, "world")
            return idx
        kind, what = self._local(src, path.name)
        if kind == "decl":
            assert isinstance(what, str)
            d = self.decls[what]
            if d.kind != "world":
                raise _err(f"name `{what}` is not a world", path.name.pos)
            if d.excluded:
                raise _err("found a reference to a world which is excluded due to its feature not being activated",
                           path.name.pos)
            return self.world_ids[what]
        if kind != "world":
            raise _err(f"name `{path.name.text}` is not a world", path.name.pos)
        assert isinstance(what, int)
        return what

    # -- types ------------------------------------------------------------------------------

    def _new_type(self, td: TypeDef) -> int:
        self.r.types.append(td)
        return len(self.r.types) - 1

    def _intern(self, key: Tuple[object, ...], kind: str, args: List[Optional[TypeRef]],
                length: Optional[int] = None, ctx: Optional[Stability] = None) -> int:
        """The anonymous type ``key``, made on first use.  Its stability (as wasm-tools gives
        it): the type definition being resolved, else that of the first of its parts that has
        one; an owned handle made for a value position has none."""
        if key in self.anon:
            return self.anon[key]
        stab = self.stability_ctx if ctx is None else ctx
        if ctx is None and not stab.known() and kind != "own":
            for a in args:
                stab = self._stability_of(a, 0)
                if stab.known():
                    break
        tid = self._new_type(TypeDef(None, kind, None, args, length=length, stability=stab))
        self.anon[key] = tid
        return tid

    def _stability_of(self, ref: Optional[TypeRef], depth: int) -> Stability:
        if not isinstance(ref, int) or depth > 100:
            return UNKNOWN
        t = self.r.types[ref]
        if t.stability.known() or t.name is not None:
            return t.stability
        for a in t.args:
            s = self._stability_of(a, depth + 1)
            if s.known():
                return s
        return UNKNOWN

    def _dealias(self, tid: int) -> int:
        seen = 0
        t = self.r.types[tid]
        while t.kind == "type" and isinstance(t.args[0], int) and seen < 10000:
            tid = t.args[0]
            t = self.r.types[tid]
            seen += 1
        return tid

    def _is_resource(self, ref: TypeRef) -> bool:
        return isinstance(ref, int) and self.r.types[self._dealias(ref)].kind == "resource"

    def _lookup(self, scope: _Scope, name: ast.Name) -> int:
        if name.text in scope.names:
            return scope.names[name.text]
        if name.text in scope.excluded:
            raise _err("found a reference to a type which is excluded due to its feature not being activated", name.pos)
        if name.text in ("float32", "float64"):
            raise _err(f"type `{name.text}` does not exist; the `{name.text}` type has been renamed to "
                       f"`f{name.text[5:]}`", name.pos)
        raise _err(f"type `{name.text}` does not exist", name.pos)

    def _structural(self, scope: _Scope, ty: ast.Ty) -> Tuple[str, List[Optional[TypeRef]], Optional[int]]:
        """The kind and arguments of a structural type expression (``list<T>``, ``own<r>`` ...)."""
        k = ty.kind
        if ty.name is not None:  # own / borrow
            tid = self._lookup(scope, ty.name)
            if not self._is_resource(tid):
                raise _err(f"type `{ty.name.text}` used in a handle must be a resource", ty.name.pos)
            return k, [tid], None
        # every argument first, then a bare resource name among them becomes its owned handle
        raws = [None if a is None else self._raw(scope, a) for a in ty.args]
        args = [None if a is None else self._own(a) for a in raws]
        if k == "list" and ty.length is not None:
            return "fixed-length-list", args, ty.length
        if k == "map":
            key = args[0]
            if not isinstance(key, str) or key not in _MAP_KEYS:
                raise _err("map keys must be a primitive integer, `char`, `bool` or `string`", ty.pos)
        return k, args, None

    def _raw(self, scope: _Scope, ty: ast.Ty) -> TypeRef:
        """A type expression, leaving a bare name of a resource as the resource."""
        k = ty.kind
        if k == "named":
            assert ty.name is not None
            return self._lookup(scope, ty.name)
        if k not in _STRUCTURAL:
            return k  # a primitive
        if k == "own":
            # like a bare resource name: the handle is made when the value position is final
            assert ty.name is not None
            tid = self._lookup(scope, ty.name)
            if not self._is_resource(tid):
                raise _err(f"type `{ty.name.text}` used in a handle must be a resource", ty.name.pos)
            return tid
        kind, args, length = self._structural(scope, ty)
        return self._intern((kind, length, *args), kind, args, length=length)

    def _handle(self, kind: str, rid: int) -> int:
        return self._intern((kind, None, rid), kind, [rid])

    def _own(self, ref: TypeRef) -> TypeRef:
        """A bare resource name in a value position stands for an owned handle."""
        if isinstance(ref, int) and self._is_resource(ref):
            return self._handle("own", ref)
        return ref

    def _ty(self, scope: _Scope, ty: ast.Ty) -> TypeRef:
        return self._own(self._raw(scope, ty))

    def _type_deps(self, ty: Optional[ast.Ty], out: List[ast.Name]) -> None:
        if ty is None:
            return
        if ty.name is not None:
            out.append(ty.name)
        for a in ty.args:
            self._type_deps(a, out)

    def _typedefs(self, scope: _Scope, defs: List[ast.TypeDef], owner: Tuple[str, int],
                  on_resource: Optional[object] = None) -> List[Tuple[ast.TypeDef, int]]:
        """Define the named types of an interface or world in dependency order."""
        by_name: Dict[str, ast.TypeDef] = {}
        for td in defs:
            if td.name.text in by_name or td.name.text in scope.names:
                raise _err(f"name `{td.name.text}` is defined more than once", td.name.pos)
            by_name[td.name.text] = td
        state: Dict[str, int] = {}
        done: List[Tuple[ast.TypeDef, int]] = []

        def visit(td: ast.TypeDef, via: Optional[Pos] = None) -> None:
            name = td.name.text
            if state.get(name) == 2:
                return
            state[name] = 1
            deps: List[ast.Name] = []
            self._type_deps(td.alias, deps)
            for c in td.cases:
                self._type_deps(c.ty, deps)
            for d in deps:
                if d.text in by_name and d.text not in scope.names:
                    if state.get(d.text) == 1:
                        # the type whose reference closes the cycle, where it was referred to
                        raise _err(f"type `{name}` depends on itself", via or d.pos)
                    visit(by_name[d.text], d.pos)
            state[name] = 2
            scope.names[name] = self._define(scope, td, owner)
            done.append((td, scope.names[name]))

        for td in defs:
            visit(td)
        return done

    def _define(self, scope: _Scope, td: ast.TypeDef, owner: Tuple[str, int]) -> int:
        stab = _stability(td.gate)
        self.stability_ctx = stab
        out = TypeDef(td.name.text, td.kind, owner, docs=td.docs, stability=stab, external_id=td.gate.external_id)
        if td.kind == "type":
            assert td.alias is not None
            a = td.alias
            if a.kind in _STRUCTURAL:
                # `type x = list<T>` is itself the list type, not an alias of one
                out.kind, out.args, out.length = self._structural(scope, a)
            else:
                out.args = [self._raw(scope, a)]
        elif td.kind in ("record", "variant"):
            raws = [None if c.ty is None else self._raw(scope, c.ty) for c in td.cases]
            seen: Set[str] = set()
            for c, raw in zip(td.cases, raws):
                if c.name.text in seen:
                    what = "field" if td.kind == "record" else "case"
                    raise _err(f"{what} `{c.name.text}` is defined more than once", c.name.pos)
                seen.add(c.name.text)
                out.fields.append(Field(c.name.text, None if raw is None else self._own(raw), c.docs))
        elif td.kind in ("enum", "flags"):
            seen = set()
            for c in td.cases:
                if c.name.text in seen:
                    raise _err(f"{td.kind} case `{c.name.text}` is defined more than once", c.name.pos)
                seen.add(c.name.text)
                out.fields.append(Field(c.name.text, None, c.docs))
        self.stability_ctx = UNKNOWN
        return self._new_type(out)

    # -- functions --------------------------------------------------------------------------

    def _func(self, scope: _Scope, f: ast.Func, resource: Optional[Tuple[str, int]]) -> Function:
        # anonymous types made for a function carry no stability (those made for a type
        # definition carry the definition's; a method's `self` handle its resource's)
        stab = _stability(f.gate)
        self.stability_ctx = UNKNOWN
        ft = f.type
        kind = f.kind
        if resource is None:
            name = f.name.text
        elif kind == "constructor":
            name = f"[constructor]{resource[0]}"
        else:
            name = f"[{kind}]{resource[0]}.{f.name.text}"
        raws: List[Tuple[str, TypeRef, Pos]] = []
        if kind == "method":
            assert resource is not None
            self.stability_ctx = self.r.types[resource[1]].stability
            raws.append(("self", self._handle("borrow", resource[1]), f.name.pos))
            self.stability_ctx = UNKNOWN
        seen: Set[str] = set()
        for p in ft.params:
            if p.name.text in seen or (kind == "method" and p.name.text == "self"):
                raise _err(f"param `{p.name.text}` is defined more than once", p.name.pos)
            seen.add(p.name.text)
            raws.append((p.name.text, self._raw(scope, p.ty), p.name.pos))
        result_raw = None if ft.result is None else self._raw(scope, ft.result)
        func = Function(name, kind, [Param(n, t) for n, t, _ in raws], result_raw,
                        None if resource is None else resource[1], ft.is_async, f.docs, stab, f.gate.external_id)
        self.stability_ctx = UNKNOWN
        self.pending.append((func, f))
        return func

    def _finish_funcs(self) -> None:
        """Second step for the functions of an interface or world: a bare resource name (or
        ``own<r>``) in a parameter or result becomes its owned handle."""
        pending, self.pending = self.pending, []
        for func, f in pending:
            ft = f.type
            self.stability_ctx = UNKNOWN
            for p in func.params:
                p.type = self._own(p.type)
            result = None if func.result is None else self._own(func.result)
            func.result = result
            self.stability_ctx = UNKNOWN
            if result is not None and self._contains_borrow(result):
                raise _err(f"function `{func.name}` returns a type which contains a `borrow<T>` which is not "
                           f"supported", f.name.pos)
            if func.kind == "constructor":
                rid = func.resource
                assert rid is not None
                if result is None:
                    func.result = self._intern(("own", None, rid), "own", [rid], ctx=UNKNOWN)
                    continue
                if not (isinstance(result, int) and self.r.types[result].kind == "result"):
                    assert ft.result is not None
                    raise _err("if a constructor return type is declared it must be a `result`", ft.result.pos)
                ok = self.r.types[result].args[0]
                target = self.r.types[ok].args[0] if isinstance(ok, int) else None
                if not (isinstance(ok, int) and self.r.types[ok].kind == "own" and isinstance(target, int)
                        and self._dealias(target) == self._dealias(rid)):
                    assert ft.result is not None
                    raise _err("the `ok` type must be the resource being constructed", ft.result.pos)

    def _contains_borrow(self, ref: TypeRef, depth: int = 0) -> bool:
        if not isinstance(ref, int) or depth > 200:
            return False
        t = self.r.types[ref]
        if t.kind == "borrow":
            return True
        if t.kind in ("own", "resource", "future", "stream"):
            return False
        for a in t.args:
            if a is not None and self._contains_borrow(a, depth + 1):
                return True
        return any(fl.type is not None and self._contains_borrow(fl.type, depth + 1) for fl in t.fields)

    def _resource_funcs(self, scope: _Scope, td: ast.TypeDef, tid: int) -> List[Function]:
        out: List[Function] = []
        names: Set[str] = set()
        for f in td.funcs:
            if self.gated_out(f.gate):
                continue
            if f.kind == "constructor":
                if "constructor" in names:
                    raise _err("duplicate constructors", f.name.pos)
            elif f.name.text in names:
                raise _err(f"duplicate function name `{f.name.text}`", f.name.pos)
            names.add(f.name.text)
            out.append(self._func(scope, f, (td.name.text, tid)))
        return out

    # -- use --------------------------------------------------------------------------------

    def _use(self, scope: _Scope, src: ast.PackageSource, use: ast.Use, owner: Tuple[str, int]) -> Tuple[int, List[str]]:
        iid = self._interface_ref(src, use.path)
        iface = self.r.interfaces[iid]
        made: List[str] = []
        for name, alias in use.names:
            local = alias or name
            if name.text not in iface.types:
                if self._excluded_type(iid, name.text):
                    raise _err("found a reference to a type which is excluded due to its feature not being activated",
                               name.pos)
                raise _err(f"type `{name.text}` not defined in interface", name.pos)
            if local.text in scope.names:
                raise _err(f"name `{local.text}` is defined more than once", local.pos)
            target = iface.types[name.text]
            tid = self._new_type(TypeDef(local.text, "type", owner, [target], stability=_stability(use.gate),
                                         external_id=use.gate.external_id))
            scope.names[local.text] = tid
            made.append(local.text)
        return iid, made

    def _excluded_type(self, iid: int, name: str) -> bool:
        return name in self.r.excluded_types.get(iid, set())

    # -- interfaces -----------------------------------------------------------------------

    def _interface(self, name: str) -> None:
        d = self.decls[name]
        node = d.node
        assert isinstance(node, ast.Interface)
        iid = self._new_interface(name, node.docs, _stability(node.gate))
        self.iface_ids[name] = iid
        self.package.interfaces[name] = iid
        self._interface_body(iid, node.items, d.source)

    def _new_interface(self, name: Optional[str], docs: Optional[str], stab: Stability) -> int:
        self.r.interfaces.append(Interface(name, self.pkg, docs=docs, stability=stab))
        return len(self.r.interfaces) - 1

    def _interface_body(self, iid: int, items: List[Union[ast.Use, ast.TypeDef, ast.Func]],
                        src: ast.PackageSource) -> None:
        iface = self.r.interfaces[iid]
        scope = _Scope()
        owner = ("interface", iid)
        uses: Set[int] = set()
        for it in items:
            if isinstance(it, ast.Use) and not self.gated_out(it.gate):
                used, _ = self._use(scope, src, it, owner)
                uses.add(used)
        self.r.interface_uses[iid] = uses
        defs = []
        for it in items:
            if isinstance(it, ast.TypeDef):
                if self.gated_out(it.gate):
                    scope.excluded.add(it.name.text)
                    self.r.excluded_types.setdefault(iid, set()).add(it.name.text)
                else:
                    defs.append(it)
        done = self._typedefs(scope, defs, owner)
        for td, tid in done:
            iface.types[td.name.text] = tid
        # the interface's types map lists `use`d names first, then definitions in order
        ordered = {n: scope.names[n] for n in scope.names}
        iface.types = ordered
        tids = {td.name.text: tid for td, tid in done}
        for it in items:
            if isinstance(it, ast.Func):
                if self.gated_out(it.gate):
                    continue
                if it.name.text in iface.functions:
                    raise _err(f"duplicate function name `{it.name.text}`", it.name.pos)
                if it.name.text in scope.names:
                    raise _err(f"name `{it.name.text}` is defined more than once", it.name.pos)
                iface.functions[it.name.text] = self._func(scope, it, None)
            elif isinstance(it, ast.TypeDef) and it.kind == "resource" and it.name.text in tids:
                for f in self._resource_funcs(scope, it, tids[it.name.text]):
                    iface.functions[f.name] = f

    # -- worlds ---------------------------------------------------------------------------

    def _world(self, name: str) -> None:
        d = self.decls[name]
        node = d.node
        assert isinstance(node, ast.World)
        wid = len(self.r.worlds)
        world = World(name, self.pkg, docs=node.docs, stability=_stability(node.gate))
        self.r.worlds.append(world)
        self.world_ids[name] = wid
        self.package.worlds[name] = wid
        WorldBuilder(self, world, wid, node, d.source).build()


_STRUCTURAL = frozenset(("list", "option", "result", "tuple", "map", "future", "stream", "own", "borrow"))
_MAP_KEYS = frozenset(("u8", "u16", "u32", "u64", "s8", "s16", "s32", "s64", "char", "bool", "string"))

def interface_uses(r: Resolve, iid: int) -> Set[int]:
    """The interfaces whose types interface ``iid`` uses."""
    if iid in r.interface_uses:
        return r.interface_uses[iid]
    # computed from the types for a Resolve built another way
    out: Set[int] = set()
    for tid in r.interfaces[iid].types.values():
        t = r.types[tid]
        if t.kind == "type" and isinstance(t.args[0], int):
            o = r.types[t.args[0]].owner
            if o is not None and o[0] == "interface" and o[1] != iid:
                out.add(o[1])
    return out


class WorldBuilder:
    """Resolves one world: its items, its includes, then elaboration (every interface a
    world's interfaces use is imported, in dependency order, before what uses it)."""

    def __init__(self, pr: PackageResolver, world: World, wid: int, node: ast.World, src: ast.PackageSource):
        self.pr = pr
        self.r = pr.r
        self.world = world
        self.wid = wid
        self.node = node
        self.src = src
        #: interfaces named by `import x;` / `export x;` (each at most once)
        self.explicit: Set[Tuple[str, int]] = set()
        #: interfaces a `use` in the world names (imported unless imported otherwise)
        self.used: Dict[int, WorldItem] = {}

    def _add(self, direction: str, key: WorldKey, item: WorldItem, pos: Optional[Pos]) -> None:
        w = self.world
        target = w.imports if direction == "import" else w.exports
        if key in target:
            prev = target[key]
            if isinstance(key, int):
                if item.kind == "interface" and prev.kind == "interface":
                    return
            name = self.r.key_name(key)
            raise _err(f"{direction} `{name}` conflicts with prior {prev.kind if prev.kind != 'function' else 'func'} "
                       f"of same name", pos)
        target[key] = item

    def build(self) -> None:
        pr = self.pr
        node = self.node
        scope = _Scope()
        owner = ("world", self.wid)
        for it in node.items:
            if isinstance(it, ast.Use) and not pr.gated_out(it.gate):
                iid, made = pr._use(scope, self.src, it, owner)
                # the interface is imported too, after the world's other interfaces
                if iid not in self.used:
                    self.used[iid] = WorldItem("interface", interface=iid, stability=_stability(it.gate))
                for n in made:
                    self._add("import", n, WorldItem("type", type=scope.names[n]), it.pos)
        defs = []
        for it in node.items:
            if isinstance(it, ast.TypeDef):
                if pr.gated_out(it.gate):
                    scope.excluded.add(it.name.text)
                else:
                    defs.append(it)
        done = pr._typedefs(scope, defs, owner)
        for td, tid in done:
            self._add("import", td.name.text, WorldItem("type", type=tid), td.name.pos)
        # resource functions are resolved first but listed after the world's other functions
        resource_funcs: List[Tuple[Function, ast.TypeDef]] = []
        for td, tid in done:
            if td.kind == "resource":
                resource_funcs.extend((f, td) for f in pr._resource_funcs(scope, td, tid))
        for it in node.items:
            if isinstance(it, ast.Extern) and not pr.gated_out(it.gate):
                self._extern(scope, it)
        for f, td in resource_funcs:
            self._add("import", f.name, WorldItem("function", function=f, stability=f.stability), td.name.pos)
        for it in node.items:
            if isinstance(it, ast.Include) and not pr.gated_out(it.gate):
                self._include(it)
        self._elaborate()

    def _extern(self, scope: _Scope, ex: ast.Extern) -> None:
        pr = self.pr
        stab = _stability(ex.gate)
        if ex.func is not None:
            assert ex.name is not None
            f = pr._func(scope, ast.Func(ex.name, ex.func, "freestanding", ex.docs, ex.gate), None)
            self._check_name(ex.direction, ex.name)
            self._add(ex.direction, ex.name.text, WorldItem("function", function=f, stability=stab), ex.name.pos)
        elif ex.interface is not None:
            assert ex.name is not None
            self._check_name(ex.direction, ex.name)
            iid = pr._new_interface(None, ex.docs, stab)
            pr._interface_body(iid, ex.interface.items, self.src)
            # an inline interface's documentation is the interface's, not the item's
            self._add(ex.direction, ex.name.text, WorldItem("interface", interface=iid, stability=stab,
                                                            external_id=ex.gate.external_id), ex.name.pos)
        else:
            assert ex.path is not None
            iid = pr._interface_ref(self.src, ex.path)
            key: WorldKey = iid if ex.name is None else ex.name.text
            if ex.name is not None:
                self._check_name(ex.direction, ex.name)
            if isinstance(key, int):
                if (ex.direction, key) in self.explicit:
                    raise _err(f"interface cannot be {ex.direction}ed more than once", ex.path.name.pos)
                self.explicit.add((ex.direction, key))
                target = self.world.imports if ex.direction == "import" else self.world.exports
                if key in target:
                    return
            self._add(ex.direction, key, WorldItem("interface", interface=iid, stability=stab, docs=ex.docs,
                                                   external_id=ex.gate.external_id), ex.path.name.pos)

    def _check_name(self, direction: str, name: ast.Name) -> None:
        w = self.world
        # kebab-case names are case-insensitive: `get-user` and `GET-USER` are one name
        for d, items in (("import", w.imports), ("export", w.exports)):
            for key in items:
                if isinstance(key, str) and key != name.text and key.lower() == name.text.lower():
                    raise _err(f"{direction} `{name.text}` in world `{w.name}` conflicts with {d} `{key}` "
                               f"(kebab-case identifiers are case-insensitive)", name.pos)
        mine = w.imports if direction == "import" else w.exports
        if name.text in mine:
            prev = mine[name.text]
            raise _err(f"{direction} `{name.text}` conflicts with prior "
                       f"{'func' if prev.kind == 'function' else prev.kind} of same name", name.pos)

    def _include(self, inc: ast.Include) -> None:
        """Union the included world into this one.  Types the included world defines itself
        are copied (each world owns its own), renamed by ``with { a as b }``, and the
        functions using them are copied to refer to the copies."""
        src_wid = self.pr._world_ref(self.src, inc.path)
        if src_wid == self.wid:
            raise _err(f"world `{self.world.name}` includes itself", inc.path.name.pos)
        other = self.r.worlds[src_wid]
        renames = {old.text: new.text for old, new in inc.renames}
        used: Set[str] = set()
        tmap: Dict[int, int] = {}
        types = self.r.types
        foreign = other.package != self.pr.pkg
        for direction, items in (("import", other.imports), ("export", other.exports)):
            for key, item in items.items():
                if isinstance(key, str) and key in renames:
                    used.add(key)
                    key = renames[key]
                if foreign and item.stability.since is not None:
                    # a `@since` names a version of the package that wrote it, not of this one
                    item = replace(item, stability=UNKNOWN)
                if item.kind == "type":
                    assert item.type is not None
                    t = types[item.type]
                    if t.owner == ("world", src_wid):
                        assert isinstance(key, str)
                        copy = replace(t, name=key, owner=("world", self.wid), args=[self._map(a, tmap) for a in t.args],
                                       fields=[replace(f, type=self._map(f.type, tmap)) for f in t.fields])
                        tmap[item.type] = self.pr._new_type(copy)
                        item = replace(item, type=tmap[item.type])
                elif item.kind == "function":
                    f = item.function
                    assert f is not None
                    resource = f.resource
                    name = key if isinstance(key, str) else f.name
                    if resource is not None and resource in tmap:
                        rname = types[tmap[resource]].name
                        resource = tmap[resource]
                        name = f"[{f.kind}]{rname}" if f.kind == "constructor" else f"[{f.kind}]{rname}.{f.item_name}"
                        key = name
                    copied = replace(f, name=name, resource=resource,
                                     params=[Param(p.name, self._map(p.type, tmap) or p.type) for p in f.params],
                                     result=self._map(f.result, tmap))
                    for pf, node in self.pr.pending:
                        if pf is f:
                            self.pr.pending.append((copied, node))
                            break
                    item = replace(item, function=copied)
                target = self.world.imports if direction == "import" else self.world.exports
                if key in target:
                    prev = target[key]
                    if isinstance(key, int) or (prev.kind == item.kind and self._same(prev, item)):
                        if isinstance(key, int) and not prev.stability.known():
                            target[key] = replace(prev, stability=item.stability)
                        continue
                    raise _err(f"{direction} of `{self.r.key_name(key)}` shadows previously {direction}ed items",
                               inc.path.name.pos)
                target[key] = item
        for old, _new in inc.renames:
            if old.text not in used:
                raise _err(f"no import or export kebab-name `{old.text}`. Note that an ID does not support renaming",
                           inc.path.name.pos)

    def _map(self, ref: Optional[TypeRef], tmap: Dict[int, int]) -> Optional[TypeRef]:
        """A type reference of an included world, pointing at this world's copies."""
        if not isinstance(ref, int) or not tmap:
            return ref
        if ref in tmap:
            return tmap[ref]
        t = self.r.types[ref]
        if t.owner is not None:
            return ref
        args = [self._map(a, tmap) for a in t.args]
        if args == t.args:
            return ref
        return self.pr._intern((t.kind, t.length, *args), t.kind, args, length=t.length, ctx=t.stability)

    def _same(self, a: WorldItem, b: WorldItem) -> bool:
        return (a.interface, a.type, a.function is b.function) == (b.interface, b.type, True)

    def _elaborate(self) -> None:
        w = self.world
        r = self.r
        imports: Dict[WorldKey, WorldItem] = {}

        def add_iface(key: WorldKey, item: WorldItem, seen: Set[int]) -> None:
            iid = item.interface
            assert iid is not None
            for dep in sorted(interface_uses(r, iid)):
                if dep not in imports and dep not in seen:
                    seen.add(dep)
                    add_iface(dep, w.imports.get(dep) or WorldItem("interface", interface=dep), seen)
            if key not in imports:
                imports[key] = item

        for key, item in w.imports.items():
            if item.kind == "interface":
                add_iface(key, item, set())
        for iid, item in self.used.items():
            if iid not in imports:
                add_iface(iid, item, set())
        # exports' dependencies that are not exported themselves are imported
        exported = {item.interface for item in w.exports.values() if item.kind == "interface"}
        for key, item in w.exports.items():
            if item.kind == "interface":
                assert item.interface is not None
                for dep in self._closure(item.interface):
                    if dep not in exported and dep not in imports:
                        add_iface(dep, WorldItem("interface", interface=dep), set())
        for key, item in w.imports.items():
            if item.kind == "type":
                imports[key] = item
        for key, item in w.imports.items():
            if item.kind == "function":
                imports[key] = item
        w.imports = imports
        # spec: an exported interface may use exported interfaces or imported ones, but an
        # imported interface cannot use an exported one
        for key, item in w.exports.items():
            if item.kind != "interface":
                continue
            assert item.interface is not None
            todo = [(d, False) for d in sorted(interface_uses(r, item.interface))]
            seen: Set[Tuple[int, bool]] = set()
            while todo:
                dep, via_import = todo.pop()
                if (dep, via_import) in seen:
                    continue
                seen.add((dep, via_import))
                if dep in exported:
                    if via_import:
                        name = key if isinstance(key, str) else r.key_name(key)
                        raise _err(f"interface `{name}` transitively depends on an interface in incompatible ways",
                                   self.node.name.pos)
                    todo.extend((d, False) for d in interface_uses(r, dep))
                else:
                    todo.extend((d, True) for d in interface_uses(r, dep))

    def _closure(self, iid: int) -> List[int]:
        out: List[int] = []
        todo = sorted(interface_uses(self.r, iid))
        while todo:
            d = todo.pop(0)
            if d not in out:
                out.append(d)
                todo.extend(sorted(interface_uses(self.r, d)))
        return out


def resolve_groups(resolve: Resolve, groups: List[PackageGroup]) -> List[int]:
    """Resolve each group (in dependency order) into ``resolve``; the package ids."""
    ids = []
    seen: Dict[str, PackageGroup] = {str(p.name): PackageGroup(p.name, None, []) for p in resolve.packages}
    for g in groups:
        if str(g.name) in seen:
            pos = next((src.name.pos for src in g.sources if src.name is not None), None)
            raise _err(f"package `{g.name}` is defined in two different locations", pos)
        seen[str(g.name)] = g
    for g in sort_groups(groups, resolve):
        ids.append(PackageResolver(resolve, g).run())
    return ids
