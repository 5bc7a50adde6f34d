"""Composition: plug components together into one component (what ``wasm-tools compose`` and
wac do).

Given a root component and dependency components, ``compose`` builds a component that

- embeds the root and every dependency the root needs (directly or transitively) as nested
  components, in dependency order;
- instantiates each, wiring every import to the export of another component of the same name
  (optionally, an interface name's version may differ where semver allows: ``_compatible``);
- imports what nothing supplies (an import wanted by several components is imported once),
  copying the import's type (and the types and imported instances it refers to) from the
  component that wants it;
- exports what the root exports.

The wiring is type-checked first, as the validator checks an instantiation (``valid``'s
subtyping, resource types substituted), so that a mismatch names the import, the component
that wants it and the one that supplies it; the result is then encoded and validated.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from ..errors import DecodeError, LinkError, ValidationError
from . import ast
from .binary import decode_component, encode_component
from .types import ComponentType, Extern, InstanceType
from .valid import ResMap, _Mismatch, check_extern, fresh, resources_in, subst, validate_component

#: (sort, index) in one component's index spaces.
_Key = Tuple[str, int]

_SEMVER = re.compile(r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$")


def _split_version(name: str) -> Tuple[str, Optional[str]]:
    """``"a:b/c@1.2.3"`` -> ``("a:b/c", "1.2.3")``; a plain name has no version."""
    if "/" in name and "@" in name:
        base, _, version = name.rpartition("@")
        return base, version
    return name, None


def _compatible(wanted: str, offered: str) -> bool:
    """Whether an export of version ``offered`` may satisfy an import of version ``wanted``:
    both plain ``major.minor.patch`` on the same compatibility track (the same major version
    from 1.0.0 on, the same minor below it, the same patch below 0.1.0), ``offered`` not
    older.  Pre-release and build versions only match exactly."""
    a, b = _SEMVER.match(wanted), _SEMVER.match(offered)
    if a is None or b is None:
        return False
    va = tuple(int(x) for x in a.groups())
    vb = tuple(int(x) for x in b.groups())
    track = 1 if va[0] else 2 if va[1] else 3
    return va[:track] == vb[:track] and vb >= va


class _Node:
    """One input component: its label (for messages), AST, type, and how its imports are
    wired (import name -> (supplying node, export name)); unwired imports pass through."""

    def __init__(self, label: str, component: ast.Component, ctype: ComponentType) -> None:
        self.label = label
        self.component = component
        self.ctype = ctype
        self.wiring: Dict[str, Tuple[int, str]] = {}


def _load(data: bytes, label: str) -> _Node:
    try:
        c = decode_component(data)
    except DecodeError as exc:
        raise DecodeError(f"{label}: malformed component: {exc.reason}", exc.offset) from None
    try:
        ctype = validate_component(c)
    except ValidationError as exc:
        raise ValidationError(f"{label}: invalid component: {exc.reason}", exc.func,
                              exc.offset) from None
    return _Node(label, c, ctype)


def _supplier(nodes: List[_Node], me: int, name: str,
              semver: bool) -> Optional[Tuple[int, str]]:
    """The dependency (never the root, never ``me``) whose export satisfies the import
    ``name``: an export of the same name, else (with ``semver``) one of a compatible
    version."""
    exact = [(j, name) for j in range(1, len(nodes))
             if j != me and nodes[j].ctype.export(name) is not None]
    found = exact
    if not exact and semver:
        base, version = _split_version(name)
        found = []
        if version is not None:
            for j in range(1, len(nodes)):
                if j == me:
                    continue
                for ename, _ in nodes[j].ctype.exports:
                    ebase, eversion = _split_version(ename)
                    if ebase == base and eversion is not None and _compatible(version,
                                                                              eversion):
                        found.append((j, ename))
    if len(found) > 1:
        which = ", ".join(f"{nodes[j].label} (`{e}`)" for j, e in found)
        raise LinkError(f"{nodes[me].label}: import `{name}` is exported by more than one "
                        f"dependency: {which}")
    return found[0] if found else None


def _order(nodes: List[_Node], semver: bool) -> List[int]:
    """The nodes the root needs, dependencies first; a cycle is a ``LinkError`` naming it."""
    order: List[int] = []
    state: Dict[int, int] = {}          # 1: on the path, 2: done
    path: List[Tuple[int, str]] = []    # (node, import it follows)

    def visit(i: int) -> None:
        state[i] = 1
        for name, _ in nodes[i].ctype.imports:
            wired = _supplier(nodes, i, name, semver)
            if wired is None:
                continue
            nodes[i].wiring[name] = wired
            j = wired[0]
            path.append((i, name))
            if state.get(j) == 1:
                start = next(k for k, (n, _) in enumerate(path) if n == j)
                steps = ", which ".join(f"{nodes[n].label} imports `{imp}`"
                                        for n, imp in path[start:])
                raise LinkError(f"dependency cycle: {steps} from {nodes[j].label}")
            if j not in state:
                visit(j)
            path.pop()
        state[i] = 2
        order.append(i)

    visit(0)
    return order


def _typecheck(nodes: List[_Node], order: List[int]) -> None:
    """Check every wire as instantiation would (``valid._Validator.instantiate``), in order;
    a mismatch is a ``LinkError`` naming the import and both components."""
    instances: Dict[int, InstanceType] = {}
    passed: Dict[str, Tuple[int, Extern]] = {}     # import of the composite -> first wanter
    for i in order:
        node = nodes[i]
        m: ResMap = {}
        abstract = set(node.ctype.imported)
        for name, expected in node.ctype.imports:
            wired = node.wiring.get(name)
            if wired is not None:
                j, ename = wired
                actual = instances[j].export(ename)
                assert actual is not None
                source = f"export `{ename}` of {nodes[j].label}"
            elif name in passed:
                first, actual = passed[name]
                source = f"the same import of {nodes[first].label}"
            else:
                # the composite imports it with this type: every resource type it uses must be
                # one an import introduces, not one a dependency supplies
                if any(m.get(r, r) is not r for r in resources_in(expected)):
                    raise LinkError(f"{node.label}: import `{name}` cannot be passed through: "
                                    "its type uses a resource type that a dependency "
                                    "supplies")
                passed[name] = (i, expected)
                actual = expected
                source = "itself"
            try:
                check_extern(actual, expected, m, abstract)
            except _Mismatch as e:
                raise LinkError(f"{node.label}: import `{name}` does not match {source}: "
                                f"{e}") from None
        m.update(fresh(node.ctype.defined))
        instances[i] = InstanceType(tuple((n, _extern(subst(e, m)))
                                          for n, e in node.ctype.exports))


def _extern(e: object) -> Extern:
    assert isinstance(e, Extern)
    return e


# ----- copying an import's type into the composite -----

def _index(c: ast.Component) -> Dict[_Key, ast.Definition]:
    """(sort, index) -> the definition that added it, for the top level of ``c``."""
    out: Dict[_Key, ast.Definition] = {}
    counts: Dict[str, int] = {}
    for d in c.definitions:
        sort = ast.sort_defined(d)
        if sort is not None:
            n = counts.get(sort, 0)
            out[(sort, n)] = d
            counts[sort] = n + 1
        elif isinstance(d, ast.Start):
            counts[ast.VALUE] = counts.get(ast.VALUE, 0) + d.results
    return out


#: f(sort, index in the source component) -> index in the composite.
_Remap = Callable[[str, int], int]


def _vt(t: ast.ValType, f: _Remap) -> ast.ValType:
    return f(ast.TYPE, t) if isinstance(t, int) else t


def _ovt(t: Optional[ast.ValType], f: _Remap) -> Optional[ast.ValType]:
    return None if t is None else _vt(t, f)


def _desc(d: ast.ExternDesc, f: _Remap) -> ast.ExternDesc:
    if d.sort == ast.CORE_MODULE:
        return dataclasses.replace(d, idx=f(ast.CORE_TYPE, d.idx or 0))
    if d.sort == ast.TYPE:
        if isinstance(d.bound, ast.Eq):
            return dataclasses.replace(d, bound=ast.Eq(f(ast.TYPE, d.bound.idx)))
        return d
    if d.sort == ast.VALUE:
        if isinstance(d.bound, ast.Eq):
            return dataclasses.replace(d, bound=ast.Eq(f(ast.VALUE, d.bound.idx)))
        assert not isinstance(d.bound, ast.SubResource)
        return dataclasses.replace(d, bound=_ovt(d.bound, f))
    return dataclasses.replace(d, idx=f(ast.TYPE, d.idx or 0))


def _decls(decls: List[Any], depth: int, f: _Remap) -> List[Any]:
    """Declarators of a type ``depth`` levels inside the source component: only the outer
    aliases that reach the component itself change."""
    out: List[Any] = []
    for d in decls:
        if isinstance(d, (ast.AliasOuter, ast.CoreOuterAlias)) and d.count == depth:
            d = dataclasses.replace(d, idx=f(d.sort, d.idx))
        elif isinstance(d, ast.ComponentTypeDef):
            d = dataclasses.replace(d, decls=_decls(d.decls, depth + 1, f))
        elif isinstance(d, ast.InstanceTypeDef):
            d = dataclasses.replace(d, decls=_decls(d.decls, depth + 1, f))
        elif isinstance(d, ast.CoreModuleType):
            d = dataclasses.replace(d, decls=_decls(d.decls, depth + 1, f))
        out.append(d)
    return out


def _remap(d: ast.Definition, f: _Remap) -> ast.Definition:
    """A copy of the type-level definition ``d`` with its references to the source component's
    index spaces mapped by ``f``."""
    r = dataclasses.replace
    if isinstance(d, ast.Import):
        return r(d, desc=_desc(d.desc, f))
    if isinstance(d, ast.AliasExport):
        return r(d, instance=f(ast.INSTANCE, d.instance))
    if isinstance(d, ast.ComponentTypeDef):
        return r(d, decls=_decls(d.decls, 1, f))
    if isinstance(d, ast.InstanceTypeDef):
        return r(d, decls=_decls(d.decls, 1, f))
    if isinstance(d, ast.CoreModuleType):
        return r(d, decls=_decls(d.decls, 1, f))
    if isinstance(d, ast.RecordDef):
        return r(d, fields=[(n, _vt(t, f)) for n, t in d.fields])
    if isinstance(d, ast.VariantDef):
        return r(d, cases=[(n, _ovt(t, f)) for n, t in d.cases])
    if isinstance(d, (ast.ListDef, ast.StreamDef, ast.FutureDef, ast.OptionDef)):
        name = "element" if isinstance(d, ast.ListDef) else "type"
        return r(d, **{name: _ovt(getattr(d, name), f)})
    if isinstance(d, ast.TupleDef):
        return r(d, types=[_vt(t, f) for t in d.types])
    if isinstance(d, ast.ResultDef):
        return r(d, ok=_ovt(d.ok, f), err=_ovt(d.err, f))
    if isinstance(d, (ast.OwnDef, ast.BorrowDef)):
        return r(d, type=f(ast.TYPE, d.type))
    if isinstance(d, ast.MapDef):
        return r(d, key=_vt(d.key, f), value=_vt(d.value, f))
    if isinstance(d, ast.FuncTypeDef):
        return r(d, params=[(n, _vt(t, f)) for n, t in d.params], result=_ovt(d.result, f))
    return d       # primitives, flags, enums, core types: no references


def _refs(d: ast.Definition) -> Optional[List[_Key]]:
    """The source component's entries that ``d`` refers to, or None if ``d`` is not a
    definition an import's type can be made of (a type, an alias, an import)."""
    found: List[_Key] = []

    def f(sort: str, idx: int) -> int:
        found.append((sort, idx))
        return idx

    if isinstance(d, (ast.Import, ast.PrimValTypeDef, ast.RecordDef, ast.VariantDef,
                      ast.ListDef, ast.TupleDef, ast.FlagsDef, ast.EnumDef, ast.OptionDef,
                      ast.ResultDef, ast.OwnDef, ast.BorrowDef, ast.StreamDef, ast.FutureDef,
                      ast.MapDef, ast.FuncTypeDef, ast.ComponentTypeDef, ast.InstanceTypeDef,
                      ast.CoreModuleType, ast.CoreFuncType, ast.CoreStructType,
                      ast.CoreArrayType, ast.CoreSubType, ast.CoreRecType)):
        _remap(d, f)
        return found
    if isinstance(d, ast.AliasExport) and d.sort in (ast.TYPE, ast.INSTANCE):
        _remap(d, f)
        return found
    return None


# ----- building the composite -----

class _Builder:
    def __init__(self, nodes: List[_Node]) -> None:
        self.nodes = nodes
        self.out = ast.Component()
        self.counts: Dict[str, int] = {}
        self.instance: Dict[int, int] = {}                  # node -> its instance
        self.aliases: Dict[Tuple[int, str], int] = {}       # (node, export) -> alias index
        self.imported: Dict[str, int] = {}                  # composite import -> index

    def add(self, d: ast.Definition) -> int:
        sort = ast.sort_defined(d)
        assert sort is not None
        n = self.counts.get(sort, 0)
        self.out.definitions.append(d)
        self.counts[sort] = n + 1
        return n

    def export_of(self, node: int, name: str, sort: str) -> int:
        key = (node, name)
        if key not in self.aliases:
            self.aliases[key] = self.add(ast.AliasExport(sort, self.instance[node], name))
        return self.aliases[key]

    def instantiate(self, i: int) -> None:
        node = self.nodes[i]
        entries = _index(node.component)
        mapping: Dict[_Key, int] = {}

        def ensure(key: _Key) -> int:
            if key in mapping:
                return mapping[key]
            d = entries.get(key)
            refs = None if d is None else _refs(d)
            if refs is None:
                raise LinkError(f"{node.label}: cannot pass an import through: its type "
                                f"refers to {key[0]} {key[1]}, which is not a type or an "
                                "import")
            assert d is not None
            if isinstance(d, ast.Import):
                name = d.name.name
                wired = node.wiring.get(name)
                if wired is not None:
                    mapping[key] = self.export_of(wired[0], wired[1], d.desc.sort)
                    return mapping[key]
                if name in self.imported:
                    mapping[key] = self.imported[name]
                    return mapping[key]
            for ref in refs:
                ensure(ref)
            mapping[key] = self.add(_remap(d, lambda s, x: mapping[(s, x)]))
            if isinstance(d, ast.Import):
                self.imported[d.name.name] = mapping[key]
            return mapping[key]

        args = []
        for key, d in entries.items():
            if isinstance(d, ast.Import):
                args.append(ast.InstantiateArg(d.name.name, ast.SortIdx(key[0], ensure(key))))
        component = self.add(node.component)
        self.instance[i] = self.add(ast.Instantiate(component, args))

    def export_root(self) -> None:
        for d in self.nodes[0].component.exports:
            idx = self.export_of(0, d.name.name, d.sortidx.sort)
            self.add(ast.Export(ast.ExternName(d.name.name, list(d.name.attributes)),
                                ast.SortIdx(d.sortidx.sort, idx)))


def compose(root: bytes, deps: Sequence[bytes], *, labels: Optional[Sequence[str]] = None,
            semver: bool = False, validate: bool = True) -> bytes:
    """The component made of ``root`` with its imports satisfied by the exports of ``deps``
    (component binaries), as ``wasm-tools compose ROOT -d DEP ...`` makes it.

    ``labels`` name the root and each dependency in error messages (default ``root``,
    ``dependency 1`` ...).  An import is wired to an export of exactly its name, as
    ``wasm-tools compose`` wires it; with ``semver``, an import of an interface of version
    ``v`` also to an export of a semver-compatible version (``_compatible``) when no export
    has its exact name, as wasmtime's linker resolves imports.  Dependencies nothing needs are left out.  Raises ``DecodeError`` /
    ``ValidationError`` for an input that is not a valid component, ``LinkError`` for an
    import exported by two dependencies, a dependency cycle or an import whose supplier's
    type does not match; with ``validate`` (the default) the result is validated too."""
    names = list(labels) if labels is not None else (
        ["root"] + [f"dependency {k}" for k in range(1, len(deps) + 1)])
    if len(names) != len(deps) + 1:
        raise ValueError("compose: labels must name the root and every dependency")
    nodes = [_load(data, label) for data, label in zip([root, *deps], names)]
    order = _order(nodes, semver)
    _typecheck(nodes, order)
    builder = _Builder(nodes)
    for i in order:
        builder.instantiate(i)
    builder.export_root()
    out = encode_component(builder.out)
    if validate:
        validate_component(decode_component(out))
    return out


__all__ = ["compose"]
