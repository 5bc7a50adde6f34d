"""The adapters of synchronous component functions: ``canon lift`` (a core function made
callable with component values) and ``canon lower`` (a component function made callable by
core code), each generated once per function type and set of canonical options.

The adapters take plain objects, so they do not depend on how the component runtime wires
them: a core function is any callable taking and returning core values in the runtime's
convention (``None``, one value or a tuple; i32 as an unsigned int), a memory is anything
with ``data`` (its bytes, which never move) and ``size`` (both tiers' memories are), and an
instance's run-time state is a :class:`~wasmforge.cm.abi.resources.ComponentState`.
"""

from __future__ import annotations

import re
from types import CodeType, FunctionType
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from ...errors import Trap, TrapCode, WasmError, WasmTypeError
from ..types import (BorrowType, FuncType, OwnType, ResourceType, children,
                     TupleType, ValType, contains_borrow)
from . import layout as L
from .codegen import Generator, generator
from .context import Cx, check_range
from .resources import CallScope, ComponentState
from .tasks import RETURNED
from .values import type_text


class CanonOptions:
    """The canonical options of a ``canon lift`` or ``canon lower``: ``string_encoding``
    (``"utf8"``, ``"utf16"`` or ``"latin1+utf16"``), ``memory``, ``realloc`` (a core function
    ``(old, old_size, align, new_size) -> ptr``), ``post_return`` (lift only) and ``ptr``, the
    memory's pointer type (``"i64"`` for a 64-bit memory; read from ``memory.type.is_64`` when
    not given) and ``async_``, the ``async`` option (a lift without ``callback``: see
    :mod:`~wasmforge.cm.abi.tasks`)."""

    __slots__ = ("string_encoding", "memory", "realloc", "post_return", "ptr", "async_")

    def __init__(self, string_encoding: str = "utf8", memory: Any = None,
                 realloc: Optional[Callable[..., Any]] = None, post_return: Optional[Callable[..., Any]] = None,
                 ptr: Optional[str] = None, async_: bool = False) -> None:
        if string_encoding not in ("utf8", "utf16", "latin1+utf16"):
            raise WasmError(f"unknown string encoding {string_encoding!r}")
        self.string_encoding = string_encoding
        self.memory = memory
        self.realloc = realloc
        self.post_return = post_return
        if ptr is None:
            ptr = "i64" if getattr(getattr(memory, "type", None), "is_64", False) else "i32"
        self.ptr = ptr
        self.async_ = async_


def _has_handles(t: Optional[ValType]) -> bool:
    """Whether ``t`` holds resource handles (a call then needs its borrow scope)."""
    if t is None:
        return False
    if isinstance(t, (OwnType, BorrowType)):
        return True
    return any(_has_handles(c) for c in children(t))


def _check_options(ft: FuncType, opts: CanonOptions, lift: bool) -> None:
    params = L.param_types(ft)
    results = L.result_types(ft)
    nparams = len(L.flatten_types(params, opts.ptr))
    if opts.async_ and lift:
        # the results come through task.return: flat up to MAX_FLAT_PARAMS
        spill = nparams > L.MAX_FLAT_PARAMS or len(L.flatten_types(results, opts.ptr)) > L.MAX_FLAT_PARAMS
    elif opts.async_:
        # an async lower stores the result through a pointer
        spill = nparams > L.MAX_FLAT_ASYNC_PARAMS or bool(results)
    else:
        spill = nparams > L.MAX_FLAT_PARAMS or len(L.flatten_types(results, opts.ptr)) > L.MAX_FLAT_RESULTS
    if opts.memory is None and (spill or any(L.needs_memory(t) for t in params + results)):
        raise WasmError("canonical option `memory` is required by this function type")
    # The side that lowers into memory allocates there: params when lifting, results when lowering.
    lowered = params if lift else results
    if opts.realloc is None and (any(L.needs_memory(t) for t in lowered)
                                 or (lift and len(L.flatten_types(params, opts.ptr)) > L.MAX_FLAT_PARAMS)):
        raise WasmError("canonical option `realloc` is required by this function type")
    if ft.result is not None and contains_borrow(ft.result):
        raise WasmError("function result cannot contain a `borrow` type")


def _indent(lines: Sequence[str], n: int) -> List[str]:
    return [" " * n + s for s in lines]


class _Builder:
    """Source of one adapter function."""

    def __init__(self, gen: Generator) -> None:
        self.gen = gen
        self.lines: List[str] = []

    def slices(self, ts: Sequence[ValType], names: Sequence[str]) -> List[List[str]]:
        out, k = [], 0
        for t in ts:
            n = len(L.flatten_type(t, self.gen.ptr))
            out.append(list(names[k:k + n]))
            k += n
        return out


class _Consts:
    """The objects one adapter names (its instance's state, core function or callee, memory,
    ``realloc``, ``post-return`` ...), each under a fresh name.  They go to the adapter's own
    namespace (:func:`_compile_own`), not to the generator's shared one: that lives as long as
    the process, and would keep every instance, and its store, alive."""

    __slots__ = ("gen", "values")

    def __init__(self, gen: Generator) -> None:
        self.gen = gen
        self.values: Dict[str, Any] = {}

    def __call__(self, value: Any, hint: str = "k") -> str:
        name = self.gen.temp("_" + hint)
        self.values[name] = value
        return name


def _compile_own(gen: Generator, name: str, lines: Sequence[str], consts: Dict[str, Any]) -> Callable[..., Any]:
    """Compile the adapter ``name`` on a namespace of its own: ``consts`` and the names of the
    generator's namespace its code uses (helpers, the generated functions of its types).  With
    a generator of the adapter's own (:func:`_generator`), on that generator's namespace."""
    src = "\n".join(lines) + "\n"
    code = compile(src, f"<canonical ABI {name}>", "exec")
    shared = gen.ns
    if gen is not generator(gen.ptr, gen.encoding, gen.source):
        shared.update(consts)
        exec(code, shared)
        own: Callable[..., Any] = shared.pop(name)
        own.__doc__ = src
        return own
    ns: Dict[str, Any] = {}
    todo = [code]
    while todo:
        c = todo.pop()
        todo.extend(x for x in c.co_consts if isinstance(x, CodeType))
        for n in c.co_names:
            if n in shared:
                ns[n] = shared[n]
    ns.update(consts)
    exec(code, ns)
    fn: Callable[..., Any] = ns.pop(name)
    fn.__doc__ = src        # the source, for whoever debugs it
    return fn


def _generator(ft: FuncType, options: CanonOptions, source: bool) -> Generator:
    """The generator of an adapter of ``ft``: the shared one of its options, or, when ``ft``
    holds resource handles, one of the adapter's own.  The generated code of a type with
    handles names its resource types, which may be an instance's (its destructor, its state):
    in the shared generator, which lives as long as the process, they would keep that
    instance, and its store, alive."""
    if any(_has_handles(t) for t in L.param_types(ft) + L.result_types(ft)):
        return Generator(options.ptr, options.string_encoding, source)
    return generator(options.ptr, options.string_encoding, source)


def _lift_adapter(ft: FuncType, core: Callable[..., Any], opts: CanonOptions, state: ComponentState,
                  gen: Generator) -> Callable[..., Any]:
    params = L.param_types(ft)
    result = ft.result
    ptr = opts.ptr
    flat_params = L.flatten_types(params, ptr)
    flat_results = L.flatten_types(L.result_types(ft), ptr)
    k = _Consts(gen)
    S, C, M, R = k(state, "state"), k(core, "core"), k(opts.memory, "mem"), k(opts.realloc, "realloc")
    cx_cls, check, leave = k(Cx, "Cx"), k(check_range, "check"), k(ComponentState.leave, "leave")
    handles = any(_has_handles(t) for t in params)
    scope = k(CallScope, "CallScope") + "()" if handles else "None"
    args = [f"v{i}" for i in range(len(params))]
    name = gen.temp("lifted")
    lines = [f"def {name}(caller, {''.join(a + ', ' for a in args)}):",
             f"    if caller is None and {S}.parent is None:",
             f"        if not {S}.may_enter: raise _trap('cannot enter component instance', {k(TrapCode.CANNOT_ENTER_COMPONENT)})",
             f"        {S}.may_enter = False",
             "        entered = None",
             # a call from the instance itself is recursive (CanonicalABI.md, call_might_be_recursive)
             f"    elif caller is {S}: raise _trap('cannot enter component instance', {k(TrapCode.CANNOT_ENTER_COMPONENT)})",
             "    else:",
             f"        entered = {S}.enter(caller)",
             "    trapped = False",
             "    try:",
             f"        cx = {cx_cls}({M}, {R}, {S}, {scope})"]
    body: List[str] = []
    if len(flat_params) <= L.MAX_FLAT_PARAMS:
        outs = [f"o{i}" for i in range(len(flat_params))]
        for t, a, o in zip(params, args, _Builder(gen).slices(params, outs)):
            body += gen.lower_stmts(t, a, o)
        body.append(f"r = {C}({', '.join(outs)})")
    else:
        tup = TupleType(params)
        body.append(f"sp = cx.alloc(0, 0, {L.alignment(tup, ptr)}, {L.elem_size(tup, ptr)}, 'argument')")
        body.append("d = cx.data")
        for t, a, off in zip(params, args, L.field_offsets(tup, ptr)):
            body += gen.store_stmts(t, a, f"sp + {off}")
        body.append(f"r = {C}(sp)")
    if opts.async_:
        # C is tasks.async_lifted: r is the tuple of flat values task.return was given
        if result is None:
            body.append("res = None")
        elif len(flat_results) <= L.MAX_FLAT_PARAMS:
            outs = [f"t{i}" for i in range(len(flat_results))]
            body.append(f"{''.join(o + ', ' for o in outs)}= r")
            body.append(f"res = {gen.lift_expr(result, outs)}")
        else:
            align, size = L.alignment(result, ptr), L.elem_size(result, ptr)
            body.append("r, = r")
            body.append(_checked(check, "r", align, size, "result"))
            body.append("d = cx.data")
            body.append(f"res = {gen.load_expr(result, 'r')}")
    elif flat_results:
        body.append("if r.__class__ is tuple or r.__class__ is list: r, = r")
    if opts.async_:
        pass
    elif result is None:
        body.append("res = None")
    elif len(flat_results) <= L.MAX_FLAT_RESULTS:
        body.append(f"res = {gen.lift_expr(result, ['r'])}")
    else:
        align, size = L.alignment(result, ptr), L.elem_size(result, ptr)
        body.append(_checked(check, "r", align, size, "result"))
        body.append("d = cx.data")
        body.append(f"res = {gen.load_expr(result, 'r')}")
    if handles:
        body.append("if cx.scope.num_borrows: raise _trap('borrow handles still remain at the end of the call')")
    if opts.post_return is not None and not opts.async_:
        P = k(opts.post_return, "post")
        body += [f"{S}.may_leave = False", "try:",
                 f"    {P}({'r' if flat_results else ''})",
                 "finally:", f"    {S}.may_leave = True"]
    body.append("return res")
    lines += _indent(body, 8)
    # A trap poisons the instances the call entered: they stay entered, so a later call traps
    # with "cannot enter component instance" (Explainer.md: no state is observable after a trap).
    lines += [f"    except {k(Trap, 'Trap')}:",
              "        trapped = True",
              "        raise",
              "    finally:",
              "        if trapped:",
              "            pass",
              "        elif entered is None:",
              f"            {S}.may_enter = True",
              "        else:",
              f"            {leave}(entered)"]
    return _compile_own(gen, name, lines, k.values)


def _lower_adapter(ft: FuncType, callee: Callable[..., Any], opts: CanonOptions, state: ComponentState,
                   gen: Generator, pass_caller: bool) -> Callable[..., Any]:
    params = L.param_types(ft)
    result = ft.result
    ptr = opts.ptr
    core_params, core_results = L.flatten_functype(ft, "lower", ptr, opts.async_)
    flat_params = L.flatten_types(params, ptr)
    max_flat = L.MAX_FLAT_ASYNC_PARAMS if opts.async_ else L.MAX_FLAT_PARAMS
    k = _Consts(gen)
    S, F, M, R = k(state, "state"), k(callee, "callee"), k(opts.memory, "mem"), k(opts.realloc, "realloc")
    cx_cls, check = k(Cx, "Cx"), k(check_range, "check")
    # Only a borrow among the parameters needs the call's scope (the handles lent, released
    # when the call returns): an owned handle moves for good, and a result holds no borrow.
    borrows = any(contains_borrow(t) for t in params)
    args = [f"a{i}" for i in range(len(core_params))]
    name = gen.temp("lowered")
    lines = [f"def {name}({', '.join(args)}):",
             f"    if not {S}.may_leave: raise _trap('cannot leave component instance', {k(TrapCode.CANNOT_LEAVE_COMPONENT)})"]
    body: List[str] = []
    vals = [f"v{i}" for i in range(len(params))]
    if len(flat_params) <= max_flat:
        for t, v, a in zip(params, vals, _Builder(gen).slices(params, args)):
            body.append(f"{v} = {gen.lift_expr(t, a)}")
    else:
        tup = TupleType(params)
        body.append(_checked(check, "a0", L.alignment(tup, ptr), L.elem_size(tup, ptr), "argument"))
        body.append("d = cx.data")
        for t, v, off in zip(params, vals, L.field_offsets(tup, ptr)):
            body.append(f"{v} = {gen.load_expr(t, f'a0 + {off}')}")
    call_args = ([S] if pass_caller else []) + vals
    body.append(f"res = {F}({', '.join(call_args)})")
    if opts.async_:
        # the callee ran to completion: the subtask returned, its result goes to the pointer
        if result is not None:
            retp = args[-1]
            body.append(_checked(check, retp, L.alignment(result, ptr), L.elem_size(result, ptr), "result"))
            body.append("d = cx.data")
            body += gen.store_stmts(result, "res", retp)
        body.append(f"return {RETURNED}")
    elif result is not None:
        if core_results:
            outs = [f"o{i}" for i in range(len(core_results))]
            body += gen.lower_stmts(result, "res", outs)
            body.append(f"return {outs[0]}")
        else:
            retp = args[-1]
            body.append(_checked(check, retp, L.alignment(result, ptr), L.elem_size(result, ptr), "result"))
            body.append("d = cx.data")
            body += gen.store_stmts(result, "res", retp)
    # The state and the scope named directly, not read from the context, which is made only
    # where the code reads memory or allocates (a host call per request of a small handler
    # made a context and a scope per call, and released the empty scope).
    body = [b.replace("cx.state", S).replace("cx.scope", "scope") for b in body]
    if any(_CX.search(b) for b in body):
        body.insert(0, f"cx = {cx_cls}({M}, {R}, {S}, {'scope' if borrows else 'None'})")
    if borrows:
        lines.append(f"    scope = {k(CallScope, 'CallScope')}()")
        lines += ["    try:"] + _indent(body, 8) + ["    finally:", "        scope.release()"]
    else:
        lines += _indent(body, 4)
    return _compile_own(gen, name, lines, k.values)


def _checked(check: str, p: str, align: int, size: int, what: str) -> str:
    """The statement that checks the pointer ``p`` to ``size`` bytes aligned to ``align``:
    ``check`` (:func:`~wasmforge.cm.abi.context.check_range`) called only to raise."""
    bad = f"{p} + {size} > cx.mem.size" if align == 1 else f"{p} & {align - 1} or {p} + {size} > cx.mem.size"
    return f"if {bad}: {check}(cx, {p}, {align}, {size}, '{what}')"


#: a use of the call's context in an adapter's code
_CX = re.compile(r"\bcx\b")


class LiftedFunction:
    """``canon lift``: the core function ``core`` of the instance whose state is ``state``, as
    a component function of type ``ft``.  Called with Python values (``f(*args)``), it lowers
    them into the instance, calls ``core``, lifts the result, checks that every borrow lent to
    the instance was dropped, and runs ``post-return``.  The adapter is generated once, here."""

    __slots__ = ("type", "core", "options", "state", "_host", "_fused", "_nparams")

    def __init__(self, ft: FuncType, core: Callable[..., Any], options: CanonOptions,
                 state: ComponentState, host: Optional[Callable[..., Any]] = None) -> None:
        """``host``: the adapter, made by a :class:`LiftTemplate` (which checked the options)."""
        if host is None:
            _check_options(ft, options, lift=True)
            host = _lift_adapter(ft, core, options, state, _generator(ft, options, False))
        self.type = ft
        self.core = core
        self.options = options
        self.state = state
        self._nparams = len(ft.params)
        self._host = host
        self._fused: Optional[Callable[..., Any]] = None

    def __call__(self, *args: Any) -> Any:
        if len(args) != self._nparams:
            raise WasmTypeError(f"wrong number of parameters provided: given {len(args)}, expected {self._nparams}")
        return self._host(None, *args)

    def call_from(self, caller: Optional[ComponentState], *args: Any) -> Any:
        """Call from the component instance ``caller`` (its reentrance rules apply); strings
        are lifted keeping their source encoding, for the caller's side to transcode."""
        fused = self._fused
        if fused is None:
            fused = self._fused = _lift_adapter(self.type, self.core, self.options, self.state,
                                                _generator(self.type, self.options, True))
        return fused(caller, *args)


def lower_function(ft: FuncType, callee: Callable[..., Any], options: CanonOptions,
                   state: ComponentState) -> Callable[..., Any]:
    """``canon lower`` of a host function: a core function (taking and returning flat core
    values) for the instance whose state is ``state``, which lifts its arguments, calls
    ``callee`` with Python values, and lowers what it returns.  A :class:`LiftedFunction` of
    another component instance as ``callee`` gives the fused component-to-component call,
    with strings transcoded between the two instances' encodings."""
    _check_options(ft, options, lift=False)
    if isinstance(callee, LiftedFunction):
        gen = _generator(ft, options, True)
        return _lower_adapter(ft, callee.call_from, options, state, gen, pass_caller=True)
    gen = _generator(ft, options, False)
    return _lower_adapter(ft, callee, options, state, gen, pass_caller=False)


def resources_in(t: object, out: Optional[List[ResourceType]] = None) -> List[ResourceType]:
    """The resource types of the handles in ``t`` (a value or function type), in a fixed
    order: two instances' substitutions of one static type give lists that pair up."""
    if out is None:
        out = []
    if isinstance(t, (OwnType, BorrowType)):
        out.append(t.resource)
    for c in children(t):
        resources_in(c, out)
    return out


class LowerTemplate:
    """The adapter of a ``canon lower`` (:func:`lower_function`), made for one instance and
    made again for another instance of the same definition without generating or compiling
    anything (:meth:`rebind_static`): the generated code is the same, only the objects it
    names that belong to an instance differ (its state, the callee, the memory and
    ``realloc``, the resource types in the function type), and those are swapped in a copy of
    the adapter's namespace.  :meth:`take_first` gives the adapter of the instance the template was made
    in, once; the template itself holds placeholders, not that instance's objects (it lives
    as long as the component: it must not keep that instance, and its store, alive)."""

    __slots__ = ("first", "fn", "names", "slots", "fused", "shape", "remake", "static", "static_resources")

    def __init__(self, ft: FuncType, callee: Callable[..., Any], options: CanonOptions,
                 state: ComponentState) -> None:
        _check_options(ft, options, lift=False)
        self.fused = isinstance(callee, LiftedFunction)
        target = _target(callee)
        gen = _generator(ft, options, self.fused)
        first = _lower_adapter(ft, target, options, state, gen, pass_caller=self.fused)
        self.first: Optional[Callable[..., Any]] = first
        objects = _objects(ft, target, options, state)
        self.shape = [o is None for o in objects]
        self.slots = [_Slot() for _ in objects]
        self.names = _referenced(first)
        # a namespace naming an instance's object that is not among the known ones cannot be
        # rebound by swapping: checked once, here (the template's namespace is then the same
        # for every later instance, its known objects placeholders)
        unknown = _names_unknown_instance_object(first, self.names, objects)
        self.fn = None if unknown else _swapped(first, self.names, objects, self.slots)
        self.remake = None if self.fn is None else _Remake(self.fn, self.names, self.slots)
        #: the static function type (before resource substitution) and the resource types
        #: its handles name, in :func:`resources_in`'s order (:meth:`rebind_static`)
        self.static: object = None
        self.static_resources: List[ResourceType] = []

    def take_first(self) -> Callable[..., Any]:
        """The adapter of the instance the template was made in (once: then forgotten)."""
        first = self.first
        assert first is not None, "the first adapter was already taken"
        self.first = None
        return first

    def rebind_static(self, static: object, resmap: Dict[ResourceType, ResourceType], callee: Callable[..., Any],
                      options: CanonOptions, state: ComponentState) -> Optional[Callable[..., Any]]:
        """The adapter for another instance: the same definition's function type ``static``
        with that instance's resource types (``resmap``'s), its callee, options and state;
        None when that cannot be done by swapping (then the caller generates the adapter
        anew): a callee of another kind, or a namespace naming an instance's object that is
        not among the known ones.  The substituted type is not made: its handles name
        ``resmap``'s images of ``static``'s resource types at the same places, so its
        :func:`resources_in` is ``static``'s mapped (found once per template: a definition has
        one static type; walking the type per instance was a third of a tiny wasi:http
        request's first calls)."""
        if self.fn is None or isinstance(callee, LiftedFunction) != self.fused:
            return None
        if self.static is not static:
            self.static_resources = resources_in(static)
            self.static = static
        get = resmap.get
        return self._remade([state, _target(callee), options.memory, options.realloc,
                             *[get(r, r) for r in self.static_resources]])

    def _remade(self, objects: List[Any]) -> Optional[Callable[..., Any]]:
        if [o is None for o in objects] != self.shape:
            return None
        remake = self.remake
        assert remake is not None
        return remake(objects)


class LiftTemplate:
    """The adapter of a ``canon lift`` made for another instance of the same definition by
    swapping the objects it names (as :class:`LowerTemplate` does for lowers): ``first`` is
    the lifted function of the instance the template is made from; the template keeps
    placeholders, not that instance's objects.  Generating and compiling a lift's adapter
    per instance was ~12% of instantiating a small wasi:http component."""

    __slots__ = ("fn", "names", "slots", "shape", "remake")

    def __init__(self, first: LiftedFunction) -> None:
        fn = first._host
        objects = _lift_objects(first.type, first.core, first.options, first.state)
        self.shape = [o is None for o in objects]
        self.slots = [_Slot() for _ in objects]
        self.names = _referenced(fn)
        unknown = _names_unknown_instance_object(fn, self.names, objects)
        self.fn = None if unknown else _swapped(fn, self.names, objects, self.slots)
        self.remake = None if self.fn is None else _Remake(self.fn, self.names, self.slots)

    def lift(self, ft: FuncType, core: Callable[..., Any], options: CanonOptions,
             state: ComponentState) -> Optional[LiftedFunction]:
        """The lifted function of another instance (the definition's function type with that
        instance's resource types, its core function, options and state); None when that
        cannot be made by swapping (the caller makes it anew)."""
        if self.fn is None:
            return None
        objects = _lift_objects(ft, core, options, state)
        if [o is None for o in objects] != self.shape:
            return None
        remake = self.remake
        assert remake is not None
        return LiftedFunction(ft, core, options, state, remake(objects))


def _lift_objects(ft: FuncType, core: Callable[..., Any], options: CanonOptions, state: ComponentState) -> List[Any]:
    return [state, core, options.memory, options.realloc, options.post_return, *resources_in(ft)]


class _Slot:
    """A placeholder in a :class:`LowerTemplate`'s namespace for an instance's object."""

    __slots__ = ()


def _referenced(fn: Callable[..., Any]) -> List[str]:
    """The global names ``fn`` (a generated function) uses, directly or through the generated
    functions it calls (the generator's namespace is shared by every adapter of its options,
    so the rest of it is other adapters')."""
    assert isinstance(fn, FunctionType)
    ns = fn.__globals__
    seen: Dict[str, None] = {}
    todo = [fn.__code__]
    while todo:
        code = todo.pop()
        todo.extend(c for c in code.co_consts if isinstance(c, CodeType))
        for name in code.co_names:
            if name in seen or name not in ns:
                continue
            seen[name] = None
            v = ns[name]
            if type(v) is FunctionType and v.__globals__ is ns:
                todo.append(v.__code__)
    return list(seen)


def _names_unknown_instance_object(fn: Callable[..., Any], names: Sequence[str], known: Sequence[Any]) -> bool:
    """Whether one of the ``names`` ``fn`` uses (:func:`_referenced`) is an instance's state,
    resource type or lifted function (or a method of one) that ``known`` does not list."""
    assert isinstance(fn, FunctionType)
    ns: Dict[str, Any] = fn.__globals__
    ids = {id(o) for o in known if o is not None}
    for k in names:
        v = ns[k]
        if id(v) not in ids and (isinstance(v, (ComponentState, ResourceType, LiftedFunction)) or isinstance(
                getattr(v, "__self__", None), (ComponentState, LiftedFunction))):
            return True
    return False


def _swapped(fn: Callable[..., Any], names: Sequence[str], old: Sequence[Any],
             new: Sequence[Any]) -> Callable[..., Any]:
    """``fn`` (a generated function) on a namespace of its own holding the ``names`` it uses
    (:func:`_referenced`), where the objects ``old`` (None: none) are replaced by ``new`` (the
    generated functions it calls remade on that namespace)."""
    return _Remake(fn, names, old)(new)


class _Remake:
    """:func:`_swapped` of a template's function (its instance's objects placeholders,
    ``slots``) with what does not depend on the objects found once: the namespace's fixed
    entries, where each placeholder goes, and the generated functions to remake on the new
    namespace.  Calling it with an instance's objects (in the slots' order) gives the
    function for that instance."""

    __slots__ = ("code", "name", "defaults", "closure", "doc", "fixed", "places", "funcs")

    def __init__(self, fn: Callable[..., Any], names: Sequence[str], slots: Sequence[Any]) -> None:
        assert isinstance(fn, FunctionType)
        ns: Dict[str, Any] = fn.__globals__
        where = {id(o): i for i, o in enumerate(slots) if o is not None}
        self.code, self.name, self.defaults, self.closure = fn.__code__, fn.__name__, fn.__defaults__, fn.__closure__
        self.doc = fn.__doc__
        self.fixed: Dict[str, Any] = {"__builtins__": ns.get("__builtins__", __builtins__)}
        self.places: List[Tuple[str, int]] = []
        self.funcs: List[Tuple[str, CodeType, str, Any, Any]] = []
        for k in names:
            v = ns[k]
            if id(v) in where:
                self.places.append((k, where[id(v)]))
            elif type(v) is FunctionType and v.__globals__ is ns:
                self.funcs.append((k, v.__code__, v.__name__, v.__defaults__, v.__closure__))
            else:
                self.fixed[k] = v

    def __call__(self, objects: Sequence[Any]) -> Callable[..., Any]:
        out = self.fixed.copy()
        for k, i in self.places:
            out[k] = objects[i]
        for k, code, name, defaults, closure in self.funcs:
            out[k] = FunctionType(code, out, name, defaults, closure)
        made = FunctionType(self.code, out, self.name, self.defaults, self.closure)
        made.__doc__ = self.doc
        return made


def _target(callee: Callable[..., Any]) -> Callable[..., Any]:
    """What a lower adapter calls: a lifted function of another instance through its fused
    entry (one bound method, named by the adapter and by the template)."""
    return callee.call_from if isinstance(callee, LiftedFunction) else callee


def _objects(ft: FuncType, target: Callable[..., Any], options: CanonOptions, state: ComponentState) -> List[Any]:
    return [state, target, options.memory, options.realloc, *resources_in(ft)]


def lift_function(ft: FuncType, core: Callable[..., Any], options: CanonOptions,
                  state: ComponentState) -> LiftedFunction:
    """``canon lift``: see :class:`LiftedFunction`."""
    return LiftedFunction(ft, core, options, state)


# ---- single values, for tools, tests and the script runner ----

def _cx(options: CanonOptions, state: Optional[ComponentState]) -> Cx:
    return Cx(options.memory, options.realloc, state if state is not None else ComponentState(), CallScope())


def _single(gen: Generator, kind: str, t: ValType) -> Callable[..., Any]:
    """The compiled single-value entry ``kind`` of ``t`` (made once per generator and type)."""
    key = ("entry_" + kind, t)
    name = gen.made.get(key)
    if name is None:
        name = gen.made[key] = gen.temp("one")
        n = len(L.flatten_type(t, gen.ptr))
        if kind == "lift":
            args = [f"a{i}" for i in range(n)]
            lines = [f"def {name}(cx, {''.join(a + ', ' for a in args)}):", f"    return {gen.lift_expr(t, args)}"]
        elif kind == "lower":
            outs = [f"o{i}" for i in range(n)]
            lines = ([f"def {name}(cx, v):"] + _indent(gen.lower_stmts(t, "v", outs), 4)
                     + [f"    return ({''.join(o + ', ' for o in outs)})"])
        elif kind == "load":
            lines = [f"def {name}(cx, p):", "    d = cx.data", f"    return {gen.load_expr(t, 'p')}"]
        else:
            lines = [f"def {name}(cx, v, p):", "    d = cx.data"] + _indent(gen.store_stmts(t, "v", "p"), 4)
        gen.compile(name, lines)
    fn: Callable[..., Any] = gen.ns[name]
    return fn


def lift_flat(t: ValType, values: Sequence[Any], options: Optional[CanonOptions] = None,
              state: Optional[ComponentState] = None, source: bool = False) -> Any:
    """Lift one value of type ``t`` from its flat core values.  With ``source``, in the form
    values have between components: strings are ``SourceString`` objects (they keep their
    encoding for the transcoding) and every variant-like value is a Variant (lossless)."""
    options = options or CanonOptions()
    n = len(L.flatten_type(t, options.ptr))
    if len(values) != n:
        raise WasmTypeError(f"{type_text(t)} flattens to {n} core values, not {len(values)}")
    fn = _single(generator(options.ptr, options.string_encoding, source), "lift", t)
    return fn(_cx(options, state), *values)


def lower_flat(t: ValType, value: Any, options: Optional[CanonOptions] = None,
               state: Optional[ComponentState] = None, source: bool = False) -> Tuple[Any, ...]:
    """Lower one value of type ``t`` to its flat core values.  With ``source``, ``value`` is in
    the lossless form values have between components (every variant-like value a Variant)."""
    options = options or CanonOptions()
    fn = _single(generator(options.ptr, options.string_encoding, source), "lower", t)
    result: Tuple[Any, ...] = fn(_cx(options, state), value)
    return result


def load(t: ValType, ptr: int, options: CanonOptions, state: Optional[ComponentState] = None,
         source: bool = False) -> Any:
    """Lift one value of type ``t`` from memory at ``ptr`` (checked: aligned and in bounds)."""
    fn = _single(generator(options.ptr, options.string_encoding, source), "load", t)
    cx = _cx(options, state)
    check_range(cx, ptr, L.alignment(t, options.ptr), L.elem_size(t, options.ptr), "value")
    return fn(cx, ptr)


def store(t: ValType, value: Any, ptr: int, options: CanonOptions, state: Optional[ComponentState] = None,
          source: bool = False) -> None:
    """Lower one value of type ``t`` into memory at ``ptr`` (checked: aligned and in bounds)."""
    fn = _single(generator(options.ptr, options.string_encoding, source), "store", t)
    cx = _cx(options, state)
    check_range(cx, ptr, L.alignment(t, options.ptr), L.elem_size(t, options.ptr), "value")
    fn(cx, value, ptr)
