"""The component runtime: instantiate a validated component in a store (Explainer.md
"Instance Definitions", CanonicalABI.md "canon lift", "canon lower", "canon resource.*").

:func:`instantiate_component` walks the component's definitions in order, growing one index
space per sort as validation did, so that index ``i`` of a sort here is index ``i`` of the
validator's scope (which holds the resolved, static types).  Resource types are generative:
each instance gets fresh ones, and a per-instance map (``resmap``) takes every static
resource type of the validator to the run-time one (defined here, supplied by an import, or
exported by a nested instance); a run-time type is the static one with that map applied.

Core modules are compiled by the engine's tier and instantiated through the normal runtime
path, so a component runs on either tier.
"""

from __future__ import annotations

from operator import itemgetter
from typing import Any, Callable, Dict, FrozenSet, List, Mapping, Optional, Set, Tuple, cast

from ..errors import LinkError, NotSupportedError, Trap, TrapCode, WasmError, WasmException
from ..module import TAG
from ..module import Module as ModuleData
from ..runtime.func import FuncInstance
from ..runtime.instance import instantiate as instantiate_module, tuple_picker
from ..runtime.memory import Unrecyclable
from ..types import FuncType as CoreFuncType
from . import ast
from .abi.adapter import CanonOptions, LiftedFunction, LiftTemplate, LowerTemplate
from .abi.tasks import async_lifted, task_return
from .abi.resources import ComponentState, check_string_limit, resource_drop, resource_new, resource_rep, trap
from .types import ComponentType, Extern, FuncType, InstanceType, Primitive, ResourceType, ValType
from .abi.layout import flatten_functype
from .valuedef import read_value
from .valid import (ResMap, _Mismatch, _Scope, check_core_extern, check_extern, check_functype, module_type,
                    resolve_component, subst)


class HostFunction:
    """A component function the host implements: ``fn`` called with Python values (the
    mapping of :mod:`wasmforge.cm.abi.values`), of component type ``type``."""

    __slots__ = ("_type", "fn", "_resmap")

    def __init__(self, type: Optional[FuncType], fn: Callable[..., Any], resmap: Optional[ResMap] = None) -> None:
        """``type`` None: the function takes the type of whatever import it is linked to;
        ``resmap``: ``type`` is the static type of an import, its run-time type that with
        the resource types of ``resmap`` (made when first read: an instance per request
        reads it seldom, and substituting the types of its ~200 imported functions was ~10%
        of instantiating componentize-py's handler)."""
        self._type = type
        self.fn = fn
        self._resmap = resmap

    @property
    def type(self) -> Optional[FuncType]:
        resmap = self._resmap
        if resmap is not None:
            ft = subst(self._type, resmap)
            assert isinstance(ft, FuncType)
            self._type, self._resmap = ft, None
        return self._type

    def __call__(self, *args: Any) -> Any:
        return self.fn(*args)


class ComponentInstance:
    """An instance of a component (or an instance made of inline exports): ``exports``, name
    -> run-time value (a :class:`LiftedFunction` or :class:`HostFunction`, a
    ComponentInstance, a resource or value type, a core module, a :class:`Closure`), and
    ``state``, the canonical ABI's per-instance state (None for inline-export instances)."""

    def __init__(self, exports: Dict[str, Any], state: Optional[ComponentState] = None) -> None:
        self.exports = exports
        self.state = state
        #: a root instance's (:func:`instantiate_component`): the run-time state of every
        #: component instance made with it, its own included: (state, context slots,
        #: backpressure counter), what :class:`ComponentSnapshot` puts back
        self.parts: Optional[List[Tuple[ComponentState, List[int], List[int]]]] = None

    def snapshot(self) -> "ComponentSnapshot":
        """The canonical ABI state of this root instance and the instances inside it now, to
        be put back later (:class:`ComponentSnapshot`)."""
        return ComponentSnapshot(self)

    def __repr__(self) -> str:
        return f"<ComponentInstance exports={list(self.exports)}>"


class ComponentSnapshot:
    """The canonical ABI's state of a component instance and every instance made inside it,
    at a moment no call is in them (right after instantiation): their handle tables and flags
    (abi/resources.py :class:`StateSnapshot`), context slots and backpressure counters.
    :meth:`reset` puts them back.  The core instances' state is the store's
    (runtime/store.py ``StoreSnapshot``)."""

    __slots__ = ("states", "slots")

    def __init__(self, inst: ComponentInstance) -> None:
        parts = inst.parts
        if parts is None:
            raise Unrecyclable("not a component instance made by instantiate_component")
        self.states = [state.snapshot() for state, _, _ in parts]
        self.slots = [(context, list(context), counter, list(counter)) for _, context, counter in parts]

    def reset(self) -> None:
        for snap in self.states:
            snap.reset()
        for context, c0, counter, n0 in self.slots:
            context[:] = c0
            counter[:] = n0


class Closure:
    """A component definition with the environment it was defined in (outer aliases inside
    it reach that environment)."""

    __slots__ = ("component", "env", "owner")

    def __init__(self, component: ast.Component, env: "Optional[_Env]", owner: "Component") -> None:
        self.component = component
        self.env = env
        self.owner = owner


class Component:
    """A validated component ready to instantiate: its AST, its type and the validator's
    resolved scopes (kept with the AST, which they are keyed by)."""

    def __init__(self, component: ast.Component, *, features: Optional[FrozenSet[str]] = None,
                 component_features: Optional[FrozenSet[str]] = None, engine: Any = None,
                 core_code: Optional[Mapping[int, Callable[[], Any]]] = None,
                 validated: FrozenSet[int] = frozenset()) -> None:
        """``core_code`` (with ``engine``) gives, by ``id`` of a decoded core module of the
        component, what returns that module's compiled code for ``engine`` (the API passes its
        core ``Module``s, which take the module cache, lazy compilation and tiered start a
        ``Module`` of those bytes takes); ``validated`` are the ids of the core modules known
        valid already (not validated again).  Other core modules, and all for another engine,
        are compiled by :meth:`compiled` with ``engine.compile``."""
        self.ast = component
        self.type, self.scopes = resolve_component(component, features=features,
                                                   component_features=component_features,
                                                   validated=validated)
        self._modules: Dict[Any, Any] = {}
        self._engine = engine
        self._core_code: Mapping[int, Callable[[], Any]] = core_code or {}
        #: by ``id`` of a ``canon lower`` definition of the AST: its adapter's template (made
        #: by the first instance) and core function type
        self.lowered: Dict[int, Tuple[LowerTemplate, CoreFuncType]] = {}
        #: by ``id`` of a ``canon lift`` definition of the AST: its adapter's template (made
        #: by the first instance)
        self.lifted: Dict[int, LiftTemplate] = {}
        #: by ``id`` of a core instantiation of the AST: the core module it last instantiated
        #: and that module's imports grouped by module name (:func:`_import_runs`)
        self.import_runs: Dict[int, Tuple[ModuleData, Any]] = {}
        #: by ``id`` of a component of the AST: whether a core module of it may throw, and
        #: whether it uses ``context.*`` (:class:`_Env`), found once, not per instance
        self.traits: Dict[int, Tuple[bool, bool]] = {}
        #: by ``id`` of a component of the AST: by ``id`` of each of its core instantiations,
        #: the names of the exports its definitions read of that instance (:func:`_core_reads`)
        self.reads: Dict[int, Dict[int, FrozenSet[str]]] = {}
        #: by ``id`` of a component of the AST: what instantiating it runs (:func:`_steps`)
        self.steps: Dict[int, List[Tuple[Callable[..., None], Any]]] = {}
        #: by ``id`` of a list of canonical options of the AST: its key (:func:`_options`)
        self.option_keys: Dict[int, Tuple[Tuple[str, Optional[int]], ...]] = {}

    def core_reads(self, c: ast.Component) -> Dict[int, FrozenSet[str]]:
        """See :func:`_core_reads` (found once per component)."""
        got = self.reads.get(id(c))
        if got is None:
            got = self.reads[id(c)] = _core_reads(c)
        return got

    def scope(self, c: ast.Component) -> _Scope:
        return self.scopes[id(c)]

    def compiled(self, engine: Any, data: ModuleData) -> Any:
        """The engine's compiled code of the core module ``data`` (compiled once)."""
        if not data.funcs:
            return None
        if engine is self._engine:
            code_of = self._core_code.get(id(data))
            if code_of is not None:
                return code_of()
        key = (id(data), id(engine))
        got = self._modules.get(key)
        if got is None:
            # the module and engine are kept with the code, so that their ids stay theirs
            got = self._modules[key] = (data, engine, engine.compile(data))
        return got[2]


def _core_reads(c: ast.Component) -> Dict[int, FrozenSet[str]]:
    """By ``id`` of each core instantiation of ``c``: the names of its instance's exports that
    ``c``'s definitions surely read, its aliases and the imports of the modules of ``c``
    instantiated with it (modules defined in ``c``; one supplied otherwise is not known
    before it comes).  An instance per request makes the exported functions of these
    together and the others only if read (runtime/instance.py LazyExports): componentize-py's
    libraries export ~3,400 functions, of which the component reads ~1,000."""
    instances: List[Optional[ast.CoreInstantiate]] = []
    modules: List[Optional[ModuleData]] = []
    reads: Dict[int, Set[str]] = {}
    for d in c.definitions:
        if isinstance(d, ast.CoreModule):
            modules.append(d.module)
        elif isinstance(d, ast.CoreInstantiate):
            data = modules[d.module] if d.module < len(modules) else None
            if data is not None:
                wanted: Dict[str, List[str]] = {}
                for imp in data.imports:
                    wanted.setdefault(imp.module, []).append(imp.name)
                for a in d.args:
                    k = a.sortidx.idx
                    src = instances[k] if k < len(instances) else None
                    if src is not None:
                        reads[id(src)].update(wanted.get(a.name, ()))
            instances.append(d)
            reads[id(d)] = set()
        elif isinstance(d, ast.CoreInlineExports):
            instances.append(None)
        elif isinstance(d, ast.AliasCoreExport):
            src = instances[d.instance] if d.instance < len(instances) else None
            if src is not None:
                reads[id(src)].add(d.name)
        elif isinstance(d, (ast.AliasExport, ast.AliasOuter)) and d.sort == ast.CORE_MODULE:
            modules.append(None)
        elif isinstance(d, ast.Import) and d.desc.sort == ast.CORE_MODULE:
            modules.append(None)
        elif isinstance(d, ast.Export) and d.sortidx.sort == ast.CORE_MODULE:
            modules.append(None)
    return {k: frozenset(v) for k, v in reads.items()}


#: the definitions an instantiation acts on (:meth:`_Runner.definition`); the others (type
#: definitions, custom sections, names) are the validator's alone
_ACTED_ON = (ast.CoreModule, ast.CoreInstantiate, ast.CoreInlineExports, ast.Component, ast.Instantiate,
             ast.InlineExports, ast.AliasCoreExport, ast.AliasExport, ast.AliasOuter, ast.CanonLift,
             ast.CanonLower, ast.CanonResourceNew, ast.CanonResourceDrop, ast.CanonResourceRep,
             ast.CanonOther, ast.ResourceTypeDef, ast.Import, ast.Export, ast.Start, ast.ValueDef)


def _steps(c: ast.Component) -> List[Tuple[Callable[..., None], Any]]:
    """What instantiating ``c`` runs, found once per component (an instance per request walks
    the same ~470 definitions of componentize-js's handler, ~2,000 of componentize-py's, every
    time): per definition the method that acts on it, without the walk through the
    definition kinds; definitions no instance acts on (types: a fifth of them) left out; a
    run of aliases of one core instance's exports of one sort (componentize-py's 1,232 are
    102 runs) picked by one C call; a core instance of inline exports as a list of what it
    picks; an alias of a function directly."""
    steps: List[Tuple[Callable[..., None], Any]] = []
    defs: List[Any] = list(c.definitions)
    i = 0
    while i < len(defs):
        d = defs[i]
        i += 1
        if not isinstance(d, _ACTED_ON):
            continue
        if type(d) is ast.AliasCoreExport:
            names = [d.name]
            while i < len(defs) and type(defs[i]) is ast.AliasCoreExport and \
                    defs[i].instance == d.instance and defs[i].sort == d.sort:
                names.append(defs[i].name)
                i += 1
            if len(names) > 1:
                steps.append((_Runner.alias_core_run, (d.sort, d.instance, itemgetter(*names))))
                continue
        elif _in_func_run(d):
            # aliases of instances' functions and canon lowers, by turns in componentize-js's
            # handler: one step; type definitions between them, which no instance acts on,
            # do not end the run
            run: List[Tuple[Any, Any]] = []
            i -= 1
            while i < len(defs) and (_in_func_run(defs[i]) or not isinstance(defs[i], _ACTED_ON)):
                e = defs[i]
                if type(e) is ast.CanonLower:
                    run.append((e, _options_key_of(e.opts)))
                elif type(e) is ast.AliasExport:
                    run.append((e, None))
                i += 1
            steps.append((_Runner.func_run, run))
            continue
        elif type(d) is ast.CoreInlineExports:
            steps.append((_Runner.core_inline, _inline_plan(d)))
            continue
        steps.append((_METHODS.get(type(d), _Runner.definition), d))
    return steps


def _in_func_run(d: object) -> bool:
    """Whether a definition is one :meth:`_Runner.func_run` takes: an alias of a component
    instance's function or a ``canon lower``."""
    return type(d) is ast.CanonLower or (type(d) is ast.AliasExport and d.sort == ast.FUNC)


def _options_key_of(opts: List[ast.CanonOpt]) -> Tuple[Tuple[str, Optional[int]], ...]:
    """The key of a set of canonical options (:func:`_options`)."""
    return tuple([(o.kind, o.idx) for o in opts])


def _inline_plan(d: ast.CoreInlineExports) -> Tuple[Tuple[str, ...], List[Tuple[str, Callable[[List[Any]], Any]]]]:
    """A core instance of inline exports as its names, in order, and runs of their values
    of one sort each picked by one C call (componentize-py's inline instances pass ~2,000
    functions between its core instances per instance)."""
    runs: List[Tuple[str, List[int]]] = []
    for e in d.exports:
        sort = e.sortidx.sort
        if runs and runs[-1][0] == sort:
            runs[-1][1].append(e.sortidx.idx)
        else:
            runs.append((sort, [e.sortidx.idx]))
    return (tuple(e.name for e in d.exports),
            [(sort, tuple_picker(idx)) for sort, idx in runs])


def _core_type(ft: FuncType, ptr: str, is_async: bool = False) -> CoreFuncType:
    params, results = flatten_functype(ft, "lower", ptr, is_async)
    return CoreFuncType(list(params), list(results))


def extern_of(value: Any) -> Extern:
    """The extern type of a run-time value (for link-time checks)."""
    if isinstance(value, (LiftedFunction, HostFunction)):
        return Extern("func", value.type)
    if isinstance(value, ComponentInstance):
        return Extern("instance", InstanceType(tuple((n, extern_of(v)) for n, v in value.exports.items())))
    if isinstance(value, (ResourceType, ValType)):
        return Extern("type", value)
    if isinstance(value, ModuleData):
        return Extern("core module", module_type(value))
    if isinstance(value, Closure):
        return Extern("component", _closure_type(value))
    raise LinkError(f"{type(value).__name__} is not a component-level value")


def _closure_type(c: Closure) -> ComponentType:
    s = c.owner.scope(c.component)
    return ComponentType(tuple(s.imports), tuple(s.exports), tuple(s.imported_resources), ())


def bind(static: Extern, value: Any, resmap: ResMap) -> None:
    """Record in ``resmap`` the run-time resource types ``value`` gives to the static
    resource types of its extern type ``static``."""
    if static.sort == "type":
        if isinstance(static.type, ResourceType) and isinstance(value, ResourceType):
            resmap.setdefault(static.type, value)
    elif static.sort == "instance" and isinstance(value, ComponentInstance):
        assert isinstance(static.type, InstanceType)
        exports = value.exports
        for n, e in _binding_exports(static.type):
            if n in exports:
                bind(e, exports[n], resmap)


# id(instance type) -> (the type, its exports that may give resource types)
_BINDING: Dict[int, Tuple[InstanceType, List[Tuple[str, Extern]]]] = {}
_BINDING_KEPT = 1 << 14


def _binding_exports(it: InstanceType) -> List[Tuple[str, Extern]]:
    """The exports of ``it`` that :func:`bind` may find resource types in (resource types,
    instances), found once per type: a WASI import of componentize-js names ~90 functions
    and a few resource types, bound per instance."""
    hit = _BINDING.get(id(it))
    if hit is not None and hit[0] is it:
        return hit[1]
    found = [(n, e) for n, e in it.exports
             if (e.sort == "type" and isinstance(e.type, ResourceType)) or e.sort == "instance"]
    if len(_BINDING) >= _BINDING_KEPT:
        _BINDING.clear()
    _BINDING[id(it)] = (it, found)
    return found


class _Env:
    """The index spaces of one component instance being built."""

    def __init__(self, owner: Component, c: ast.Component, parent: "Optional[_Env]",
                 state: ComponentState, resmap: ResMap) -> None:
        self.owner = owner
        self.c = c
        self.scope = owner.scope(c)
        self.parent = parent
        self.state = state
        self.resmap = resmap
        self.core_modules: List[ModuleData] = []
        self.core_instances: List[Mapping[str, Any]] = []
        self.core_spaces: Dict[str, List[Any]] = {k: [] for k in (
            ast.CORE_FUNC, ast.CORE_TABLE, ast.CORE_MEMORY, ast.CORE_GLOBAL, ast.CORE_TAG)}
        self.funcs: List[Any] = []
        self.values: List[Any] = []
        self.components: List[Closure] = []
        self.instances: List[ComponentInstance] = []
        self.nimports = 0
        self.nexports = 0
        self.exports: Dict[str, Any] = {}
        #: the context slots of the call in progress (CanonicalABI.md ``context.get``): a
        #: synchronous call is one task, whose slots start at 0; post-return sees them still
        self.context = [0, 0]
        #: a core module here may throw (it has or imports a tag): an exception that leaves a
        #: lifted function traps at the boundary, as in wasmtime
        traits = owner.traits.get(id(c))
        if traits is None:
            traits = owner.traits[id(c)] = (
                any(isinstance(d, ast.CoreModule) and bool(d.module.tags or any(
                    i.kind == TAG for i in d.module.imports)) for d in c.definitions),
                any(isinstance(d, ast.CanonOther) and d.name.startswith("context.") for d in c.definitions))
        self.throws, self.uses_context = traits
        self.backpressure = [0]
        #: the exports of each core instantiation read here (:func:`_core_reads`)
        self.reads = owner.core_reads(c)
        #: (kind, index) of each option -> the CanonOptions (:func:`_options`)
        self.options: Dict[Tuple[Tuple[str, Optional[int]], ...], CanonOptions] = {}
        #: what this instance's lowers share (:class:`_Lowering`), made with the first
        self.lowering: Optional[_Lowering] = None

    def type_at(self, idx: int) -> Any:
        return subst(self.scope.types[idx].type, self.resmap)

    def item(self, si: ast.SortIdx) -> Any:
        sort = si.sort
        if sort in self.core_spaces:
            return self.core_spaces[sort][si.idx]
        if sort == ast.FUNC:
            return self.funcs[si.idx]
        if sort == ast.INSTANCE:
            return self.instances[si.idx]
        if sort == ast.COMPONENT:
            return self.components[si.idx]
        if sort == ast.CORE_MODULE:
            return self.core_modules[si.idx]
        if sort == ast.TYPE:
            return self.type_at(si.idx)
        if sort == ast.VALUE:
            return self.values[si.idx]
        if sort == ast.CORE_INSTANCE:
            return self.core_instances[si.idx]
        raise NotSupportedError(f"a {sort} cannot be used here")

    def add(self, sort: str, value: Any) -> None:
        if sort in ("func",):
            self.funcs.append(value)
        elif sort == "instance":
            self.instances.append(value)
        elif sort == "component":
            self.components.append(value)
        elif sort in ("core module", ast.CORE_MODULE):
            self.core_modules.append(value)
        elif sort == "value":
            self.values.append(value)
        # types: the validator's scope holds them; resmap gives their run-time form


def _import_runs(data: ModuleData) -> Tuple[List[Tuple[str, Callable[[Mapping[str, Any]], Tuple[Any, ...]]]],
                                            Optional[Callable[[List[Any]], Tuple[Any, ...]]]]:
    """The imports of core module ``data`` grouped by module name, each group with what
    picks its values, in order, from the exports of the core instance given for that name
    (one C call per module name: componentize-py's libraries import ~2,400 items per
    instance, from ``env`` and ``GOT.func``/``GOT.mem`` by turns, ~500 runs of one name), and
    what puts the groups' values back in the imports' order (None: they are in order)."""
    groups: Dict[str, List[Tuple[int, str]]] = {}
    for k, imp in enumerate(data.imports):
        groups.setdefault(imp.module, []).append((k, imp.name))
    out: List[Tuple[str, Callable[[Mapping[str, Any]], Tuple[Any, ...]]]] = []
    positions: List[int] = []
    for module_name, items in groups.items():
        names = [n for _, n in items]
        out.append((module_name, tuple_picker(names)))
        positions.extend(k for k, _ in items)
    if positions == sorted(positions):
        return out, None
    where = [0] * len(positions)
    for j, k in enumerate(positions):
        where[k] = j
    return out, itemgetter(*where)


def _options(env: _Env, opts: List[ast.CanonOpt]) -> CanonOptions:
    """The canonical options ``opts`` in ``env``: made once per instance for each set of them
    (componentize-py's ~190 lowers share a few: the same memory and ``realloc``)."""
    keys = env.owner.option_keys
    key = keys.get(id(opts))
    if key is None:
        # (the list is the AST's, which lives as long as the component: its id stays its own)
        key = keys[id(opts)] = _options_key_of(opts)
    got = env.options.get(key)
    if got is None:
        got = env.options[key] = _make_options(env, opts)
    return got


def _make_options(env: _Env, opts: List[ast.CanonOpt]) -> CanonOptions:
    enc, memory, realloc, post, is_async = "utf8", None, None, None, False
    for o in opts:
        if o.kind in (ast.UTF8, ast.UTF16, ast.LATIN1_UTF16):
            enc = o.kind
        elif o.kind == ast.MEMORY:
            memory = env.core_spaces[ast.CORE_MEMORY][o.idx or 0]
        elif o.kind == ast.REALLOC:
            realloc = _call_of(env.core_spaces[ast.CORE_FUNC][o.idx or 0])
        elif o.kind == ast.POST_RETURN:
            post = _call_of(env.core_spaces[ast.CORE_FUNC][o.idx or 0])
        elif o.kind == ast.ASYNC:
            is_async = True
        elif o.kind == ast.CALLBACK:
            raise NotSupportedError("the canonical option `callback` is not supported (an async lift with a "
                                    "callback needs the event loop, which is not implemented)")
        elif o.kind in (ast.GC, ast.CORE_TYPE_OPT):
            raise NotSupportedError(f"the canonical option `{o.kind}` is not supported (async and GC "
                                    "components are a later issue)")
    if env.throws:
        realloc = realloc and _no_exceptions_out(realloc)
        post = post and _no_exceptions_out(post)
    return CanonOptions(enc, memory, realloc, post, async_=is_async)


def _options_key(env: _Env, opts: List[ast.CanonOpt]) -> Tuple[Any, ...]:
    """What ``task.return`` compares with the lift's options: the string encoding and the
    memory and realloc instances (by identity)."""
    enc, memory, realloc = "utf8", None, None
    for o in opts:
        if o.kind in (ast.UTF8, ast.UTF16, ast.LATIN1_UTF16):
            enc = o.kind
        elif o.kind == ast.MEMORY:
            memory = env.core_spaces[ast.CORE_MEMORY][o.idx or 0]
        elif o.kind == ast.REALLOC:
            realloc = env.core_spaces[ast.CORE_FUNC][o.idx or 0]
    return (enc, memory, realloc)


def _call_of(fi: FuncInstance) -> Callable[..., Any]:
    """What calls core function ``fi``, without binding it now: reading ``call`` of a
    function its tier binds lazily (runtime/func.py LazyFuncInstance) makes its entry, and on
    the llvm tier the first entry of an instance fills its table mirrors, work an instance
    made per request must not do for the lifts, reallocs and destructors it never calls."""
    if type(fi) is FuncInstance:
        return fi.call

    def call(*args: Any) -> Any:
        return fi.call(*args)
    return call


class _LowerFunc(FuncInstance):
    """The core function of a ``canon lower`` whose template another instance made, until
    its first call its own ``call``: that call makes this instance's adapter (``rebind_static``, or
    a new template when that cannot swap) for the definition ``d``'s function type with the
    resource types of the instance (``lowering``: see :class:`_Lowering`), puts it in
    ``call`` and calls it; a caller that kept the old ``call`` (this object) keeps reaching
    the adapter through it.  One object per lower per instance, with slots (componentize-py
    has ~190, componentize-js ~108): a FuncInstance and a first-call object beside it were
    two for the collector to track, and the second a call more to make."""

    __slots__ = ("d", "callee", "opts", "lowering", "made")

    def __init__(self, core_type: CoreFuncType, d: ast.CanonLower, callee: Any, opts: CanonOptions,
                 lowering: "_Lowering", store: Any) -> None:
        self.type = core_type
        self.call = self
        self.name = "canon lower"
        self.inst = self.index = self.host = None
        self.store = store
        self.d, self.callee, self.opts, self.lowering = d, callee, opts, lowering
        self.made: Optional[Callable[..., Any]] = None

    def __call__(self, *args: Any) -> Any:
        fn = self.made
        if fn is None:
            fn = self._make()
        return fn(*args)

    def _make(self) -> Callable[..., Any]:
        d, lowering = self.d, self.lowering
        owner = lowering.owner
        static = lowering.scope.funcs[d.func].type
        template, core_type = owner.lowered[id(d)]
        fn = template.rebind_static(static, lowering.resmap, self.callee, self.opts, lowering.state)
        if fn is None:
            ft = subst(static, lowering.resmap)
            assert isinstance(ft, FuncType)
            template = LowerTemplate(ft, self.callee, self.opts, lowering.state)
            owner.lowered[id(d)] = (template, core_type)
            fn = template.take_first()
        self.made = fn
        self.call = fn
        return fn


class _Lowering:
    """What the ``canon lower`` functions of one component instance share (:class:`_LowerFunc`):
    the component, the validator's scope, the instance's resource map (complete for the
    types a lower names by the time it is defined; later definitions only add others) and
    its canonical ABI state."""

    __slots__ = ("owner", "scope", "resmap", "state")

    def __init__(self, env: "_Env") -> None:
        self.owner, self.scope, self.resmap, self.state = env.owner, env.scope, env.resmap, env.state


def _no_exceptions_out(call: Callable[..., Any]) -> Callable[..., Any]:
    """``call`` where a wasm exception that no handler in the component caught becomes a trap
    at the component's boundary."""
    def lifted(*args: Any) -> Any:
        try:
            return call(*args)
        except WasmException:
            raise Trap("uncaught exception propagated out of component", TrapCode.UNCAUGHT_EXCEPTION) from None
    return lifted


def _new_task(call: Callable[..., Any], context: List[int]) -> Callable[..., Any]:
    """``call`` starting a task: the context slots are zeroed first."""
    def task(*args: Any) -> Any:
        context[0] = context[1] = 0
        return call(*args)
    return task


def _builtin(env: "_Env", d: ast.CanonOther) -> Callable[..., Any]:
    """The synchronous meaning of a built-in that has one (``context.get``/``set`` on the
    current call's context slots, ``backpressure.inc``/``dec``, which only count here), else
    :func:`_unsupported_builtin`."""
    name = d.name
    if name in ("context.get", "context.set"):
        slot = int(d.immediates[1]) if len(d.immediates) > 1 else 0     # type: ignore[call-overload]
        if not 0 <= slot < len(env.context):
            raise WasmError(f"context slot {slot} out of range")
        ctx = env.context
        if name == "context.get":
            return lambda: ctx[slot]
        def context_set(v: int) -> None:
            ctx[slot] = v
        return context_set
    if name in ("backpressure.inc", "backpressure.dec"):
        counter = env.backpressure
        step = 1 if name.endswith("inc") else -1
        def backpressure() -> None:
            if not 0 <= counter[0] + step < 1 << 16:
                raise trap("backpressure counter overflow" if step > 0 else "backpressure counter underflow")
            counter[0] += step
        return backpressure
    return _unsupported_builtin(name, env.state)


def _task_return(env: "_Env", d: ast.CanonOther) -> Callable[..., Any]:
    """``canon task.return (result t)? opts``: see :func:`wasmforge.cm.abi.tasks.task_return`."""
    res = d.immediates[0] if d.immediates else None
    rt: Optional[ValType] = None
    if isinstance(res, str):
        rt = Primitive(res)
    elif isinstance(res, int):
        rt = cast(ValType, env.type_at(res))
    opts = d.immediates[1] if len(d.immediates) > 1 else []
    return task_return(env.state, rt, _options_key(env, cast(List[ast.CanonOpt], opts)))


def _unsupported_builtin(name: str, state: ComponentState) -> Callable[..., Any]:
    def builtin(*args: Any) -> Any:
        if not state.may_leave:
            raise trap("cannot leave component instance", TrapCode.CANNOT_LEAVE_COMPONENT)
        raise NotSupportedError(f"the canonical built-in `{name}` is not supported (async components are a "
                                "later issue)")
    return builtin


_I32_I32 = CoreFuncType(["i32"], ["i32"])
_I32_NONE = CoreFuncType(["i32"], [])


def _core_func(store: Any, ft: CoreFuncType, fn: Callable[..., Any], name: str) -> FuncInstance:
    return FuncInstance(ft, fn, name, store=store)


class _Runner:
    def __init__(self, store: Any, engine: Any, max_string_bytes: Optional[int] = None) -> None:
        self.store = store
        self.engine = engine
        self.max_string_bytes = max_string_bytes
        #: each component instance's state made (ComponentInstance.parts)
        self.parts: List[Tuple[ComponentState, List[int], List[int]]] = []

    def instantiate(self, owner: Component, c: ast.Component, parent: Optional[_Env], args: Mapping[str, Any],
                    state_parent: Optional[ComponentState], name: str = "") -> ComponentInstance:
        resmap: ResMap = dict(parent.resmap) if parent is not None else {}
        state = ComponentState(state_parent, name,
                               self.max_string_bytes if state_parent is None else None)
        env = _Env(owner, c, parent, state, resmap)
        self.parts.append((state, env.context, env.backpressure))
        steps = owner.steps.get(id(c))
        if steps is None:
            steps = owner.steps[id(c)] = _steps(c)
        for step, d in steps:
            step(self, env, d, args)
        return ComponentInstance(env.exports, state)

    def alias_core_run(self, env: _Env, run: Tuple[str, int, Callable[[Any], Any]], args: Mapping[str, Any]) -> None:
        """A run of aliases of one core instance's exports of one sort (:func:`_steps`)."""
        sort, instance, pick = run
        env.core_spaces[sort].extend(pick(env.core_instances[instance]))

    def core_inline(self, env: _Env, plan: Tuple[Tuple[str, ...], List[Tuple[str, Callable[[List[Any]], Any]]]],
                    args: Mapping[str, Any]) -> None:
        """``CoreInlineExports``: its names and runs of values of one sort (:func:`_inline_plan`)."""
        names, runs = plan
        spaces = env.core_spaces
        if len(runs) == 1:
            sort, pick = runs[0]
            env.core_instances.append(dict(zip(names, pick(spaces[sort]))))
            return
        values: List[Any] = []
        for sort, pick in runs:
            values += pick(spaces[sort])
        env.core_instances.append(dict(zip(names, values)))

    def definition(self, env: _Env, d: object, args: Mapping[str, Any]) -> None:
        """A definition of :data:`_ACTED_ON` that :func:`_steps` gives no method of its own."""
        # the aliases first: componentize-py's handler has ~1,500 of its ~2,000 definitions
        kind = type(d)
        if kind is ast.AliasCoreExport:
            env.core_spaces[d.sort].append(env.core_instances[d.instance][d.name])      # type: ignore[attr-defined]
            return
        if kind is ast.AliasExport:
            env.add(d.sort, env.instances[d.instance].exports[d.name])          # type: ignore[attr-defined]
            return
        _METHODS[kind](self, env, d, args)

    def core_module(self, env: _Env, d: ast.CoreModule, args: Mapping[str, Any]) -> None:
        env.core_modules.append(d.module)

    def core_instantiate(self, env: _Env, d: ast.CoreInstantiate, args: Mapping[str, Any]) -> None:
        store = self.store
        data = env.core_modules[d.module]
        given = {a.name: env.core_instances[a.sortidx.idx] for a in d.args}
        # (by the definition, its module kept and compared: a module given by the host
        # may be another per instantiation, and a freed one's id another module's)
        last = env.owner.import_runs.get(id(d))
        if last is None or last[0] is not data:
            last = env.owner.import_runs[id(d)] = (data, _import_runs(data))
        runs, order = last[1]
        picked: List[Any] = []
        externs: Optional[List[Any]] = picked
        try:
            for module_name, pick in runs:
                picked += pick(given[module_name])
        except KeyError:
            externs = None
        else:
            if order is not None:
                externs = list(order(picked))
        if externs is None or None in externs:
            for imp in data.imports:
                inst = given.get(imp.module)
                if inst is None or inst.get(imp.name) is None:
                    raise LinkError(f"missing module instantiation argument `{imp.module}` export `{imp.name}`")
            assert externs is not None          # (a KeyError or a None above names its import)
        code = env.owner.compiled(self.engine, data)
        # The validator matched these arguments against the module's imports already
        # (valid.py core_instantiate, exact types; a memory or table grown since only
        # matches better): not again per instance (componentize-py's have ~2,400).
        mi = instantiate_module(store, data, code, externs, checked=True, read=env.reads.get(id(d)))
        env.core_instances.append(mi.exports)

    def component(self, env: _Env, d: ast.Component, args: Mapping[str, Any]) -> None:
        env.components.append(Closure(d, env, env.owner))

    def instantiate_def(self, env: _Env, d: ast.Instantiate, args: Mapping[str, Any]) -> None:
        s = env.scope
        closure = env.components[d.component]
        given = {a.name: env.item(a.sortidx) for a in d.args}
        child = self.instantiate(closure.owner, closure.component, closure.env, given, env.state)
        env.instances.append(child)
        k = len(env.instances) - 1
        bind(Extern("instance", s.instances[k].type), child, env.resmap)

    def inline_exports(self, env: _Env, d: ast.InlineExports, args: Mapping[str, Any]) -> None:
        env.instances.append(ComponentInstance({e.name.name: env.item(e.sortidx) for e in d.exports}))

    def alias_outer(self, env: _Env, d: ast.AliasOuter, args: Mapping[str, Any]) -> None:
        target: Optional[_Env] = env
        for _ in range(d.count):
            assert target is not None
            target = target.parent
        assert target is not None
        if d.sort == ast.CORE_MODULE:
            env.core_modules.append(target.core_modules[d.idx])
        elif d.sort == ast.COMPONENT:
            env.components.append(target.components[d.idx])

    def canon_lift(self, env: _Env, d: ast.CanonLift, args: Mapping[str, Any]) -> None:
        ft = env.type_at(d.type)
        call = _call_of(env.core_spaces[ast.CORE_FUNC][d.core_func])
        if env.uses_context:
            call = _new_task(call, env.context)
        if env.throws:
            call = _no_exceptions_out(call)
        options = _options(env, d.opts)
        if options.async_:
            assert isinstance(ft, FuncType)
            call = async_lifted(call, env.state, ft.result, _options_key(env, d.opts))
        # The adapter is generated once per definition and remade for later instances by
        # swapping the objects it names (adapter.LiftTemplate)
        template = env.owner.lifted.get(id(d))
        lifted = template.lift(ft, call, options, env.state) if template is not None else None
        if lifted is None:
            lifted = LiftedFunction(ft, call, options, env.state)
            env.owner.lifted[id(d)] = LiftTemplate(lifted)
        env.funcs.append(lifted)

    def canon_resource(self, env: _Env, d: Any, args: Mapping[str, Any]) -> None:
        store = self.store
        # (the core types are the same for every definition: made once, shared)
        rt = env.type_at(d.type)
        if isinstance(d, ast.CanonResourceNew):
            f = _core_func(store, _I32_I32, resource_new(env.state, rt), "resource.new")
        elif isinstance(d, ast.CanonResourceRep):
            f = _core_func(store, _I32_I32, resource_rep(env.state, rt), "resource.rep")
        else:
            if d.is_async:
                raise NotSupportedError("async resource.drop is not supported")
            f = _core_func(store, _I32_NONE, resource_drop(env.state, rt), "resource.drop")
        env.core_spaces[ast.CORE_FUNC].append(f)

    def canon_other(self, env: _Env, d: ast.CanonOther, args: Mapping[str, Any]) -> None:
        s = env.scope
        store = self.store
        # async, stream, future, error-context and thread built-ins: linked (so that a
        # component defining them instantiates), refused when called
        funcs = env.core_spaces[ast.CORE_FUNC]
        t = s.core_funcs[len(funcs)]
        fn = _task_return(env, d) if d.name == "task.return" else _builtin(env, d)
        funcs.append(_core_func(store, CoreFuncType(list(t.params), list(t.results)), fn, d.name))

    def resource_type_def(self, env: _Env, d: ast.ResourceTypeDef, args: Mapping[str, Any]) -> None:
        local = self._next_type(env, d)
        dtor = None
        if d.dtor is not None:
            dtor = _call_of(env.core_spaces[ast.CORE_FUNC][d.dtor])
            if env.throws:
                dtor = _no_exceptions_out(dtor)
        env.resmap[local] = ResourceType(local.name, d.rep, dtor, False, env.state)

    def import_def(self, env: _Env, d: ast.Import, args: Mapping[str, Any]) -> None:
        s = env.scope
        name = d.name.name
        imported = s.imports[env.nimports][1]
        env.nimports += 1
        if name not in args:
            raise LinkError(f"missing import named `{name}`")
        value = args[name]
        bind(imported, value, env.resmap)
        env.add(imported.sort, value)

    def export_def(self, env: _Env, d: ast.Export, args: Mapping[str, Any]) -> None:
        s = env.scope
        exported = s.exports[env.nexports][1]
        env.nexports += 1
        value = env.item(d.sortidx)
        bind(exported, value, env.resmap)
        if exported.sort == "type" and not isinstance(value, ResourceType):
            value = subst(exported.type, env.resmap)
        env.exports[d.name.name] = value
        env.add(exported.sort, value)

    def start(self, env: _Env, d: ast.Start, args: Mapping[str, Any]) -> None:
        # 🪙 the start function runs now, on values of the value index space (each
        # consumed, as the validator checked); its result is a new value
        result = env.funcs[d.func](*[env.values[i] for i in d.args])
        if d.results:
            env.add("value", result)

    def value_def(self, env: _Env, d: ast.ValueDef, args: Mapping[str, Any]) -> None:
        vt = cast(ValType, subst(env.scope.values[len(env.values)][0], env.resmap))
        env.add("value", read_value(vt, d.data))

    def func_run(self, env: _Env, run: List[Tuple[Any, Any]], args: Mapping[str, Any]) -> None:
        """A run of aliases of component instances' functions (``(d, None)``) and ``canon
        lower`` definitions (``(d, the key of its options)``), :func:`_steps`.  A lower's
        adapter is generated once per definition and remade for later instances by swapping
        the objects it names (adapter.LowerTemplate): 1/3 of instantiating a componentize-py
        component was generating and compiling its ~190 adapters.  Later instances remake it
        when it is first called (:class:`_LowerFunc`): a request calls a few."""
        store = self.store
        funcs = env.funcs
        instances = env.instances
        out = env.core_spaces[ast.CORE_FUNC]
        lowered = env.owner.lowered
        options = env.options
        lowering = env.lowering
        for d, key in run:
            if key is None:
                funcs.append(instances[d.instance].exports[d.name])
                continue
            callee = funcs[d.func]
            opts = options.get(key)
            if opts is None:
                opts = options[key] = _make_options(env, d.opts)
            made = lowered.get(id(d))
            if made is not None:
                if lowering is None:
                    lowering = env.lowering = _Lowering(env)
                out.append(_LowerFunc(made[1], d, callee, opts, lowering, store))
                continue
            ft = subst(env.scope.funcs[d.func].type, env.resmap)
            assert isinstance(ft, FuncType)
            made = lowered[id(d)] = (LowerTemplate(ft, callee, opts, env.state), _core_type(ft, opts.ptr, opts.async_))
            out.append(_core_func(store, made[1], made[0].take_first(), "canon lower"))

    @staticmethod
    def _next_type(env: _Env, d: ast.ResourceTypeDef) -> ResourceType:
        for e in env.scope.types:
            t = e.type
            if isinstance(t, ResourceType) and t in env.scope.local_resources and t not in env.resmap:
                return t
        raise WasmError("resource type definition not found in the validated component")


#: the method of :class:`_Runner` that acts on a definition of each kind but the aliases
#: (:func:`_steps` gives each definition its method once per component)
_METHODS: Dict[type, Callable[..., None]] = {
    ast.CoreModule: _Runner.core_module,
    ast.CoreInstantiate: _Runner.core_instantiate,
    ast.Component: _Runner.component,
    ast.Instantiate: _Runner.instantiate_def,
    ast.InlineExports: _Runner.inline_exports,
    ast.AliasOuter: _Runner.alias_outer,
    ast.CanonLift: _Runner.canon_lift,
    ast.CanonResourceNew: _Runner.canon_resource,
    ast.CanonResourceDrop: _Runner.canon_resource,
    ast.CanonResourceRep: _Runner.canon_resource,
    ast.CanonOther: _Runner.canon_other,
    ast.ResourceTypeDef: _Runner.resource_type_def,
    ast.Import: _Runner.import_def,
    ast.Export: _Runner.export_def,
    ast.Start: _Runner.start,
    ast.ValueDef: _Runner.value_def,
}


_SORT_WORDS = {"func": "function", "instance": "instance", "core module": "module", "component": "component",
               "type": "type", "value": "value"}


def _found(value: Any) -> str:
    if isinstance(value, (LiftedFunction, HostFunction)):
        return "function"
    if isinstance(value, ComponentInstance):
        return "instance"
    if isinstance(value, ModuleData):
        return "module"
    if isinstance(value, Closure):
        return "component"
    if isinstance(value, ResourceType):
        return "resource"
    if isinstance(value, ValType):
        return "type"
    return type(value).__name__


def link(expected: Extern, value: Any, path: str, m: ResMap, checked: bool = False) -> Any:
    """Check the run-time ``value`` supplied for the import ``path`` against its expected extern
    type (``m`` maps the component's abstract resource types to the supplied ones as they are
    met); return the value to bind (a host function typed as the import expects).  Raises
    LinkError naming the import, in wasmtime's words.  ``checked``: values of these types
    passed the checks already (an InstancePre's, for another store): only the resource types
    are mapped and the values made, the types are not compared again (the comparisons only
    read ``m``)."""
    if value is None:
        value = _implied(expected, m)
        if value is None:
            raise LinkError(f"import `{path}` was not found")
    want = expected.sort
    if want == "value":
        # 🪙 a value import takes a Python value (the host's mapping), checked when used
        kind = _found(value)
        if kind in _SORT_WORDS.values() or kind == "resource":
            raise LinkError(f"import `{path}`: expected value found {kind}")
        return value
    if want == "type" and isinstance(expected.type, ResourceType):
        if not isinstance(value, ResourceType):
            raise LinkError(f"import `{path}`: expected resource found {_found(value)}")
        got = m.setdefault(expected.type, value)
        if got is not value:
            raise LinkError(f"import `{path}`: mismatched resource types")
        return value
    kind = _found(value)
    if not (kind == _SORT_WORDS[want] or (want == "type" and kind == "resource")):
        raise LinkError(f"import `{path}`: expected {_SORT_WORDS[want]} found {kind}")
    try:
        if want == "instance":
            assert isinstance(expected.type, InstanceType)
            exports = {}
            for n, e in expected.type.exports:
                exports[n] = link(e, value.exports.get(n), f"{path}.{n}" if path else n, m, checked)
            return ComponentInstance(dict(value.exports, **exports), value.state)
        if want == "func":
            if checked:
                # typed when its type is first read (the map is complete for the resource
                # types of this import by then: an import's are bound before its functions)
                if isinstance(value, HostFunction):
                    return HostFunction(cast(FuncType, expected.type), value.fn, m)
                return value
            ft = subst(expected.type, m)
            assert isinstance(ft, FuncType)
            if isinstance(value, HostFunction) and value.type is None:
                return HostFunction(ft, value.fn)
            check_functype(value.type, ft, m)
            if isinstance(value, HostFunction):
                return HostFunction(ft, value.fn)
            return value
        if checked:
            return value
        if want == "core module":
            _check_module(module_type(value), expected.type, path)
            return value
        check_extern(extern_of(value), Extern(want, subst(expected.type, m)), m, set())
        return value
    except _Mismatch as e:
        raise LinkError(f"import `{path}` has the wrong type: {e}") from None


def _implied(expected: Extern, m: ResMap) -> Any:
    """The value of an import the host need not supply (wasmtime's rule): a type fixed by an
    equality bound, or an instance whose exports are all such (recursively); else None."""
    if expected.sort == "type":
        t = expected.type
        if isinstance(t, ResourceType):
            return m.get(t)
        return subst(t, m)
    if expected.sort == "instance":
        assert isinstance(expected.type, InstanceType)
        exports = {}
        for n, e in expected.type.exports:
            v = _implied(e, m)
            if v is None:
                return None
            exports[n] = v
        return ComponentInstance(exports)
    return None


def _core_text(e: Any) -> str:
    if e.kind == "func":
        ps, rs = " ".join(e.type.params), " ".join(e.type.results)
        return "(func" + (f" (param {ps})" if ps else "") + (f" (result {rs})" if rs else "") + ")"
    return str(e.kind)


def _check_module(actual: Any, expected: Any, path: str) -> None:
    """A supplied core module against the module type an import declares: it may import less,
    and must export at least what is declared, with the same types (wasmtime's words)."""
    declared = {(mod, name): e for mod, name, e in expected.imports}
    for mod, name, need in actual.imports:
        given = declared.get((mod, name))
        if given is None:
            raise LinkError(f"import `{path}`: module import `{mod}::{name}` not defined")
        _check_core(given, need, path, f"module import `{mod}::{name}`")
    exports = dict(actual.exports)
    for name, want in expected.exports:
        got = exports.get(name)
        if got is None:
            raise LinkError(f"import `{path}`: module export `{name}` not defined")
        _check_core(got, want, path, f"export `{name}`")


def _check_core(got: Any, want: Any, path: str, what: str) -> None:
    if got.kind != want.kind:
        raise LinkError(f"import `{path}`: expected {want.kind} found {got.kind}")
    if got.kind in ("func", "tag") and (tuple(got.type.params), tuple(got.type.results)) != (
            tuple(want.type.params), tuple(want.type.results)):
        raise LinkError(f"import `{path}`: {what} has the wrong type: expected type `{_core_text(want)}`, "
                        f"found type `{_core_text(got)}`")
    try:
        check_core_extern(got, want)
    except _Mismatch as e:
        raise LinkError(f"import `{path}`: {what} has the wrong type: {e}") from None


def instantiate_component(store: Any, component: Component, imports: Optional[Mapping[str, Any]] = None,
                          engine: Any = None, name: str = "",
                          max_string_bytes: Optional[int] = None, checked: bool = False,
                          linkers: Optional[Mapping[str, Callable[[Extern, ResMap, str], Any]]] = None
                          ) -> ComponentInstance:
    """Instantiate ``component`` in ``store`` with ``imports`` (name -> run-time value: a
    :class:`HostFunction`, a :class:`ComponentInstance`, a resource type, a core module ...),
    checked against the component's import types first (LinkError naming the import).
    ``max_string_bytes`` raises the longest string its lifts accept above the spec's
    MAX_STRING_BYTE_LENGTH (2**28 - 1, the default) as an implementation limit (wasmtime's is
    2**31 - 1; ValueError outside that range).  ``checked``: an InstancePre checked imports of
    the same types already (see :func:`link`).  ``linkers``: by import name, what links that
    import instead of :func:`link` (called with its expected type, the resource map and its
    name; wasip2/host.py ``linked_instance``)."""
    given = dict(imports or {})
    m: ResMap = {}
    args = {}
    for iname, expected in component.type.imports:
        linker = linkers.get(iname) if linkers else None
        args[iname] = (link(expected, given.get(iname), iname, m, checked) if linker is None
                       else linker(expected, m, iname))
    runner = _Runner(store, engine if engine is not None else store.engine,
                     None if max_string_bytes is None else check_string_limit(max_string_bytes))
    inst = runner.instantiate(component, component.ast, None, args, None, name)
    inst.parts = runner.parts
    return inst


__all__ = ["Component", "ComponentInstance", "ComponentSnapshot", "Closure", "HostFunction", "bind", "extern_of",
           "instantiate_component", "link"]
