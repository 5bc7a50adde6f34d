"""The WIT of a compiled component (one with core modules and ``canon lift``), in the shape
``wasm-tools component wit`` gives it: one synthesized package ``root:component`` whose world
``root`` holds the component's imports and exports.

An import or export named by interface (``ns:pkg/iface@ver``) becomes an interface import or
export of that package's interface; a plain-named function a world function; a plain-named
instance an interface of the world alone.  Type names come from the ``(export "name" (type
...))`` items the exported instances carry.  Those instances are usually made by
instantiating a nested "shim" component whose exports ascribe the types, so the definitions
are walked: each index space entry is kept as what the WIT needs (a type as the decoder of
WIT packages keeps it, a lifted function as its signature, an instance as its exports by
name), and a nested component is walked again for each instantiation with its imports bound
to the arguments.  Identity, not structure, decides which named type a function refers to,
as in wasm-tools.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Tuple, Union

from ...errors import WitError
from .. import ast as cast
from ..binary import decode_component
from .decode import _apply_docs, _Decoder, _Instance, _Pending, _Scope
from .model import Function, Interface, Param, Resolve, TypeDef, TypeRef, World, WorldItem, WorldKey


class _Named:
    """``(export "name" (type T))`` of a component body: a new type named ``name``, equal to
    ``T``; ``ref`` is its WIT type once an exported interface names it."""

    def __init__(self, name: str, target: object):
        self.name = name
        self.target = target
        self.ref: Optional[int] = None


class _Resource:
    """A resource type the component defines (``(type (resource (rep i32)))``)."""

    def __init__(self) -> None:
        self.ref: Optional[int] = None


class _Sig:
    """A component function: its signature, read in the scope that declared it."""

    def __init__(self, node: cast.FuncTypeDef, scope: _Scope):
        self.node = node
        self.scope = scope


class _Body(_Scope):
    """The index spaces of a component body."""

    def __init__(self, parent: Optional[_Scope]):
        super().__init__(parent)
        self.components: List[Tuple[cast.Component, _Scope]] = []
        self.sigs: List[object] = []        # a _Sig or an imported Function, per func index


def _err(message: str) -> WitError:
    return WitError(f"cannot extract the WIT of this component: {message}")


_IGNORED = (cast.CoreModule, cast.CoreInstantiate, cast.CoreInlineExports, cast.CoreFuncType,
            cast.CoreStructType, cast.CoreArrayType, cast.CoreSubType, cast.CoreRecType,
            cast.CoreModuleType, cast.AliasCoreExport, cast.CanonLower, cast.CanonResourceNew,
            cast.CanonResourceDrop, cast.CanonResourceRep, cast.CanonOther, cast.Start,
            cast.ValueDef, cast.ComponentNames)


class _ComponentDecoder(_Decoder):
    def __init__(self, resolve: Resolve):
        super().__init__(resolve)
        self.docs: Optional[bytes] = None
        self.anonymous: List[int] = []

    # -- references to types, with the entries only a component body has ----------------------

    def ref(self, scope: _Scope, vt: cast.ValType) -> TypeRef:
        if isinstance(vt, str):
            return vt
        return self.entry_ref(self.type_entry(scope, vt))

    def entry_ref(self, entry: object) -> TypeRef:
        if isinstance(entry, (str, int)):
            return entry
        if isinstance(entry, _Pending):
            return self.materialise(entry)
        if isinstance(entry, _Named):
            if entry.ref is not None:
                return entry.ref
            return self.entry_ref(entry.target)
        if isinstance(entry, _Resource):
            if entry.ref is None:
                raise _err("a resource type is used but exported by no interface")
            return entry.ref
        raise _err("a type index refers to something that is not a value type")

    def materialise(self, p: _Pending) -> TypeRef:
        """An anonymous type per definition, not per shape: wasm-tools keys a component's
        types by their definitions (two `(own 0)` of one instance type are two types)."""
        if p.ref is None:
            kind, args, fields, length = self.structural(p)
            if fields:
                raise _err("a record, variant, enum or flags type must be exported under a name")
            p.ref = self.new_type(TypeDef(None, kind, None, args, length=length))
        return p.ref

    def named(self, entry: object, name: str, owner: Tuple[str, int], existing: Optional[int]) -> int:
        """A type exported as ``name`` by an interface (or the world): a new named type, or
        ``existing`` where the interface was read before."""
        target = entry.target if isinstance(entry, _Named) else entry
        if existing is not None:
            tid = existing
            for e in (entry, target):
                if isinstance(e, (_Named, _Resource, _Pending)) and e.ref is None:
                    e.ref = existing
        elif isinstance(target, _Resource) and target.ref is None:
            tid = self.new_type(TypeDef(name, "resource", owner))
            target.ref = tid
        elif isinstance(target, _Pending) and target.ref is None:
            kind, args, fields, length = self.structural(target)
            tid = self.new_type(TypeDef(name, kind, owner, args, fields, length))
            target.ref = tid
        else:
            tid = self.new_type(TypeDef(name, "type", owner, [self.entry_ref(target)]))
        if isinstance(entry, _Named) and entry.ref is None:
            entry.ref = tid
        return tid

    def sig_function(self, sig: object, name: str, names: Dict[str, int]) -> Function:
        if isinstance(sig, Function):
            return Function(name, sig.kind, list(sig.params), sig.result, sig.resource, sig.is_async)
        if not isinstance(sig, _Sig):
            raise _err(f"function `{name}` has no function type")
        s = sig.scope
        params = [Param(p, self.ref(s, t)) for p, t in sig.node.params]
        result = None if sig.node.result is None else self.ref(s, sig.node.result)
        kind, resource = "freestanding", None
        for prefix in ("[constructor]", "[method]", "[static]"):
            if name.startswith(prefix):
                kind = prefix[1:-1]
                resource = names.get(name[len(prefix):].split(".", 1)[0])
                if resource is None:
                    raise _err(f"function `{name}` names no resource of its interface")
        return Function(name, kind, params, result, resource, sig.node.is_async)

    # -- walking a component body ------------------------------------------------------------

    def lookup(self, scope: _Body, si: cast.SortIdx) -> object:
        spaces: Dict[str, List[object]] = {cast.TYPE: scope.types, cast.FUNC: scope.sigs,
                                           cast.INSTANCE: scope.instances,  # type: ignore[dict-item]
                                           cast.COMPONENT: scope.components}  # type: ignore[dict-item]
        space = spaces.get(si.sort)
        if space is None:
            return None   # core items and values carry no WIT
        if si.idx >= len(space):
            raise _err(f"{si.sort} index {si.idx} out of bounds")
        return space[si.idx]

    def push(self, scope: _Body, sort: str, entry: object) -> None:
        if sort == cast.TYPE:
            scope.types.append(entry)
        elif sort == cast.FUNC:
            scope.sigs.append(entry)
        elif sort == cast.INSTANCE:
            assert isinstance(entry, _Instance)
            scope.instances.append(entry)
        elif sort == cast.COMPONENT:
            assert isinstance(entry, tuple)
            scope.components.append(entry)

    def walk(self, comp: cast.Component, scope: _Body, args: Optional[Dict[str, object]],
             world: Optional[World] = None, wid: int = -1) -> Dict[str, object]:
        """Walk a component body; return its exports by name.  ``args`` binds the imports of
        a nested component; the root component (``args`` None) fills ``world``."""
        exports: Dict[str, object] = {}
        for d in comp.definitions:
            if isinstance(d, _IGNORED):
                continue
            if isinstance(d, cast.Custom):
                if args is None and d.name == "package-docs":
                    self.docs = d.data
            elif isinstance(d, cast.Component):
                scope.components.append((d, scope))
            elif isinstance(d, cast.ResourceTypeDef):
                scope.types.append(_Resource())
            elif isinstance(d, cast.AliasOuter) and d.sort in (cast.CORE_MODULE, cast.CORE_TYPE):
                continue
            elif isinstance(d, cast.AliasOuter) and d.sort == cast.COMPONENT:
                outer = scope.outer(d.count)
                if not isinstance(outer, _Body) or d.idx >= len(outer.components):
                    raise _err("outer alias of a component out of bounds")
                scope.components.append(outer.components[d.idx])
            elif isinstance(d, cast.AliasExport):
                if d.instance >= len(scope.instances):
                    raise _err(f"instance index {d.instance} out of bounds")
                inst = scope.instances[d.instance]
                if d.name not in inst.exports:
                    raise _err(f"alias of `{d.name}`, which the instance does not export")
                self.push(scope, d.sort, inst.exports[d.name])
            elif isinstance(d, cast.CanonLift):
                sig = self.type_entry(scope, d.type)
                if not isinstance(sig, cast.FuncTypeDef):
                    raise _err("`canon lift` with a type that is not a function type")
                scope.sigs.append(_Sig(sig, scope))
            elif isinstance(d, cast.Instantiate):
                if d.component >= len(scope.components):
                    raise _err(f"component index {d.component} out of bounds")
                node, outer_scope = scope.components[d.component]
                bound = {a.name: self.lookup(scope, a.sortidx) for a in d.args}
                inner = self.walk(node, _Body(outer_scope), bound)
                scope.instances.append(_Instance(inner))
            elif isinstance(d, cast.InlineExports):
                scope.instances.append(_Instance({e.name.name: self.lookup(scope, e.sortidx)
                                                  for e in d.exports}))
            elif isinstance(d, cast.Import):
                if args is None:
                    assert world is not None
                    self.root_import(scope, d, world, wid)
                else:
                    if d.name.name not in args:
                        raise _err(f"nested component import `{d.name.name}` is not supplied")
                    self.push(scope, d.desc.sort, args[d.name.name])
            elif isinstance(d, cast.Export):
                entry = self.lookup(scope, d.sortidx)
                if d.sortidx.sort == cast.TYPE:
                    entry = _Named(d.name.name, entry)
                elif d.sortidx.sort == cast.FUNC and d.desc is not None and d.desc.idx is not None:
                    ascribed = self.type_entry(scope, d.desc.idx)
                    if isinstance(ascribed, cast.FuncTypeDef):
                        entry = _Sig(ascribed, scope)
                if args is None:
                    assert world is not None
                    self.root_export(d, entry, world, wid)
                self.push(scope, d.sortidx.sort, entry)
                exports[d.name.name] = entry
            else:
                self.declare(scope, d)
        return exports

    # -- the root component's imports and exports: the world ---------------------------------

    def item_interface(self, name: cast.ExternName, world: World) -> Tuple[int, bool]:
        """The interface an instance import or export describes, and whether the world keys it
        by the interface (else by its plain name: a label, or an interface of its own)."""
        implements = name.attribute(cast.IMPLEMENTS)
        if "/" in name.name:
            return self.interface(name.name), True
        if implements is not None:   # `import label: ns:pkg/iface;`
            return self.interface(implements), False
        self.r.interfaces.append(Interface(None, None))   # its package: set at the end
        self.anonymous.append(len(self.r.interfaces) - 1)
        return len(self.r.interfaces) - 1, False

    def world_types(self, world: World) -> Dict[str, int]:
        return {n: i.type for n, i in world.imports.items()
                if isinstance(n, str) and i.kind == "type" and i.type is not None}

    def root_import(self, scope: _Body, d: cast.Import, world: World, wid: int) -> None:
        name, desc = d.name.name, d.desc
        ext = d.name.attribute(cast.EXTERNAL_ID)
        if desc.sort == cast.INSTANCE:
            iid, named = self.item_interface(d.name, world)
            inst = self.instance(self.instance_type(scope, desc.idx), scope, iid)
            scope.instances.append(inst)
            key: WorldKey = iid if named else name
            world.imports[key] = WorldItem("interface", interface=iid, external_id=ext)
        elif desc.sort == cast.TYPE:
            tid = self.export_type(scope, desc, name, ("world", wid), None)
            scope.types.append(tid)
            world.imports[name] = WorldItem("type", type=tid)
        elif desc.sort == cast.FUNC:
            f = self.function(scope, desc, name, self.world_types(world))
            f.external_id = ext
            scope.sigs.append(f)
            world.imports[name] = WorldItem("function", function=f)
        elif desc.sort == cast.CORE_MODULE:
            pass   # a core module import has no WIT: wasm-tools leaves it out of the world
        else:
            raise _err(f"import `{name}` is a {desc.sort}, which WIT cannot describe")

    def root_export(self, d: cast.Export, entry: object, world: World, wid: int) -> None:
        name, sort = d.name.name, d.sortidx.sort
        ext = d.name.attribute(cast.EXTERNAL_ID)
        if sort == cast.INSTANCE:
            if not isinstance(entry, _Instance):
                raise _err(f"export `{name}` is not an instance")
            iid, named = self.item_interface(d.name, world)
            self.export_interface(iid, entry)
            key: WorldKey = iid if named else name
            world.exports[key] = WorldItem("interface", interface=iid, external_id=ext)
        elif sort == cast.FUNC:
            f = self.sig_function(entry, name, self.world_types(world))
            f.external_id = ext
            world.exports[name] = WorldItem("function", function=f)
        else:   # wasm-tools' words
            raise WitError(f"component export `{name}` was not a function or instance")

    def export_interface(self, iid: int, inst: _Instance) -> None:
        iface = self.r.interfaces[iid]
        owner = ("interface", iid)
        for name, entry in inst.exports.items():
            if isinstance(entry, (_Sig, Function)):
                if name not in iface.functions:   # else known from the import of the interface
                    iface.functions[name] = self.sig_function(entry, name, iface.types)
            elif isinstance(entry, (_Named, _Resource, _Pending, int, str)):
                tid = self.named(entry, name, owner, iface.types.get(name))
                iface.types.setdefault(name, tid)
            else:
                raise _err(f"an exported instance exports `{name}`, which is neither a type nor "
                           "a function")


def is_wit_package(comp: cast.Component) -> bool:
    """Whether a decoded component is a WIT package (types only) rather than a compiled one."""
    for d in comp.definitions:
        if isinstance(d, cast.Export) and d.sortidx.sort != cast.TYPE:
            return False
        if not isinstance(d, (cast.ComponentTypeDef, cast.Export, cast.Custom, cast.ComponentNames)):
            return False
    return True


def world_from_component(comp: cast.Component, resolve: Optional[Resolve] = None) -> Resolve:
    """:func:`component_wit` for a component already decoded."""
    r = resolve if resolve is not None else Resolve()
    dec = _ComponentDecoder(r)
    for p in r.packages:
        for _name, iid in p.interfaces.items():
            dec.iface_by_name[r.interface_path(iid)] = iid
    world = World("root", None)
    r.worlds.append(world)
    wid = len(r.worlds) - 1
    try:
        dec.walk(comp, _Body(None), None, world, wid)
    except RecursionError:
        raise _err("components nested too deeply") from None
    # the synthesized package comes after the packages it uses, as when reading WIT text
    pid = dec.package("root", "component", None)
    world.package = pid
    for iid in dec.anonymous:
        r.interfaces[iid].package = pid
    r.packages[pid].worlds["root"] = wid
    r.main = pid
    if dec.docs is not None:
        _apply_docs(r, pid, dec.docs)
    return r


def component_wit(data: Union[bytes, bytearray, memoryview], resolve: Optional[Resolve] = None) -> Resolve:
    """The WIT world of a compiled component, as ``wasm-tools component wit`` derives it: the
    world ``root`` of the package ``root:component`` (``resolve.main``).  A malformed binary
    raises :class:`~wasmforge.errors.DecodeError`, one whose imports or exports WIT cannot
    describe :class:`~wasmforge.errors.WitError`."""
    return world_from_component(decode_component(data), resolve)
