"""The host implementations of the WASI 0.2 interfaces, and the instances a component's
imports are given.

Each interface is a function ``(ctx) -> {WIT function name: Python callable}``; the callables
take and return the Python values of :mod:`wasmforge.cm.abi.values` (a resource handle is a
:class:`~wasmforge.cm.abi.resources.Resource`).  :func:`host_instances` builds, for each import
named ``wasi:pkg/iface@0.2.x`` (any x), an instance of that interface typed from the vendored
WIT; a function of the WIT this host does not implement yet traps when called, naming itself.
"""

from __future__ import annotations

import weakref
from functools import lru_cache, partial
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from ..cm.abi.resources import Resource
from ..cm.abi.values import Record, Variant, is_tagged, python_cases
from ..cm.instance import ComponentInstance, HostFunction, link
from ..cm.valid import ResMap, _plain
from ..cm import types as ct
from ..cm.wit import Function
from ..cm.wit.ctypes import TypeMap
from ..errors import ExitTrap, LinkError, Trap
from . import http, io, sockets
from ._wit import interface, unversioned, wasi_resolve
from .ctx import P2Ctx, is_terminal, p2_ctx
from .filesystem import filesystem_preopens, filesystem_types

Impl = Dict[str, Callable[..., Any]]

#: the most bytes one call of ``get-random-bytes`` (or the insecure one) returns
MAX_RANDOM = 1 << 26


def _stream_error(ctx: P2Ctx, exc: io.StreamError) -> Variant:
    """``err(stream-error)`` for ``exc``."""
    if exc.error is None:
        return Variant("err", Variant("closed"))
    error = ctx.push(_rt(ctx, "wasi:io/error", "error"), exc.error)
    return Variant("err", Variant("last-operation-failed", error))


def pythonic(t: Optional[ct.ValType], v: Any) -> Any:
    """The value ``v`` of type ``t``, written by the implementations with every result and
    variant a :class:`Variant` (and options as the payload or None), in the mapping host
    functions return (:mod:`wasmforge.cm.abi.values`: a bare payload where wasmtime-py's rule
    says so)."""
    if t is None:
        return v
    if isinstance(t, ct.OptionType):
        if isinstance(v, Variant):
            v = v.payload if v.tag == "some" else None
        if v is None:
            return Variant("none") if is_tagged(t) else None
        inner = pythonic(t.inner, v)
        return Variant("some", inner) if is_tagged(t) else inner
    if isinstance(t, (ct.ResultType, ct.VariantType)):
        if not isinstance(v, Variant):
            return v
        cases = dict(python_cases(t))
        payload = pythonic(cases.get(v.tag), v.payload)
        return Variant(v.tag, payload) if is_tagged(t) else payload
    if isinstance(t, ct.ListType) and isinstance(v, list):
        return [pythonic(t.element, x) for x in v]
    if isinstance(t, ct.TupleType) and isinstance(v, tuple):
        return tuple(pythonic(e, x) for e, x in zip(t.elements, v))
    return v


Converter = Callable[[Any], Any]


def converter(t: Optional[ct.ValType]) -> Optional[Converter]:
    """``lambda v: pythonic(t, v)`` as one function made for ``t`` (the type's walk and its
    case lookups done once, not at every call), or None where :func:`pythonic` gives every
    value back as it is (lists and tuples of such values: their copy is not made)."""
    if isinstance(t, ct.OptionType):
        inner, tagged = converter(t.inner), is_tagged(t)

        def option(v: Any) -> Any:
            if isinstance(v, Variant):
                v = v.payload if v.tag == "some" else None
            if v is None:
                return Variant("none") if tagged else None
            if inner is not None:
                v = inner(v)
            return Variant("some", v) if tagged else v
        return option
    if isinstance(t, (ct.ResultType, ct.VariantType)):
        cases = {tag: converter(c) for tag, c in python_cases(t)}
        tagged_case = is_tagged(t)

        def variant(v: Any) -> Any:
            if not isinstance(v, Variant):
                return v
            conv = cases.get(v.tag)
            payload = v.payload if conv is None else conv(v.payload)
            return Variant(v.tag, payload) if tagged_case else payload
        return variant
    if isinstance(t, ct.ListType):
        element = converter(t.element)
        if element is None:
            return None
        elem: Converter = element

        def each(v: Any) -> Any:
            return [elem(x) for x in v] if isinstance(v, list) else v
        return each
    if isinstance(t, ct.TupleType):
        parts = [converter(e) for e in t.elements]
        if all(c is None for c in parts):
            return None

        def tup(v: Any) -> Any:
            if not isinstance(v, tuple):
                return v
            return tuple(x if c is None else c(x) for c, x in zip(parts, v))
        return tup
    return None


def _rid(iface: str, name: str) -> int:
    return interface(iface).types[name]


def _rt(ctx: P2Ctx, iface: str, name: str) -> ct.ResourceType:
    return ctx.resource_type(ctx.types.resource(_rid(iface, name)))


def _io_error(ctx: P2Ctx) -> Impl:
    return {"[method]error.to-debug-string": lambda h: ctx.get(h, io.IoError).to_debug_string()}


def _io_poll(ctx: P2Ctx) -> Impl:
    def poll(handles: List[Resource]) -> List[int]:
        return io.poll([ctx.get(h, io.Pollable) for h in handles])
    return {
        "[method]pollable.ready": lambda h: ctx.get(h, io.Pollable).ready(),
        "[method]pollable.block": lambda h: ctx.get(h, io.Pollable).block(),
        "poll": poll,
    }


def _io_streams(ctx: P2Ctx) -> Impl:
    pollable = _rt(ctx, "wasi:io/poll", "pollable")

    def guarded(fn: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any) -> Any:
            try:
                return Variant("ok", fn(*args))
            except io.StreamError as exc:
                return _stream_error(ctx, exc)
        return call

    def inp(h: Resource) -> io.InputStream:
        return ctx.get(h, io.InputStream)

    def out(h: Resource) -> io.OutputStream:
        return ctx.get(h, io.OutputStream)

    def write_zeroes(h: Resource, n: int) -> None:
        out(h).write(bytes(n) if n <= io.MAX_WRITE else b"\0" * (io.MAX_WRITE + 1))

    def blocking_write_zeroes(h: Resource, n: int) -> None:
        out(h).blocking_write_and_flush(bytes(min(n, io.BLOCKING_WRITE + 1)))

    def blocking_write_and_flush(h: Resource, data: bytes) -> Variant:
        # (a response body's usual write: guarded's work written out, one call)
        try:
            ctx.get(h, io.OutputStream).blocking_write_and_flush(data)
        except io.StreamError as exc:
            return _stream_error(ctx, exc)
        return Variant("ok", None)

    return {
        "[method]input-stream.read": guarded(lambda h, n: inp(h).read(n)),
        "[method]input-stream.blocking-read": guarded(lambda h, n: inp(h).read(n, True)),
        "[method]input-stream.skip": guarded(lambda h, n: inp(h).skip(n)),
        "[method]input-stream.blocking-skip": guarded(lambda h, n: inp(h).skip(n, True)),
        "[method]input-stream.subscribe": lambda h: ctx.push(pollable, inp(h).pollable()),
        "[method]output-stream.check-write": guarded(lambda h: out(h).check_write()),
        "[method]output-stream.write": guarded(lambda h, data: out(h).write(data)),
        "[method]output-stream.blocking-write-and-flush": blocking_write_and_flush,
        "[method]output-stream.flush": guarded(lambda h: out(h).flush()),
        "[method]output-stream.blocking-flush": guarded(lambda h: out(h).blocking_flush()),
        "[method]output-stream.subscribe": lambda h: ctx.push(pollable, out(h).pollable()),
        "[method]output-stream.write-zeroes": guarded(write_zeroes),
        "[method]output-stream.blocking-write-zeroes-and-flush": guarded(blocking_write_zeroes),
        "[method]output-stream.splice": guarded(lambda h, src, n: out(h).splice(inp(src), n, False)),
        "[method]output-stream.blocking-splice": guarded(lambda h, src, n: out(h).splice(inp(src), n, True)),
    }


def _cli_environment(ctx: P2Ctx) -> Impl:
    return {
        "get-environment": lambda: [tuple(kv) if len(kv) == 2 else (kv[0], "") for kv in ctx.env],
        "get-arguments": lambda: list(ctx.args),
        "initial-cwd": lambda: None,
    }


def _cli_exit(ctx: P2Ctx) -> Impl:
    def exit(status: Any) -> None:
        ok = status is None or (isinstance(status, Variant) and status.tag == "ok")
        raise ExitTrap(0 if ok else 1)

    def exit_with_code(code: int) -> None:
        raise ExitTrap(code)
    return {"exit": exit, "exit-with-code": exit_with_code}


def _cli_stdio(which: str, iface: str, resource: str) -> Callable[[P2Ctx], Impl]:
    def build(ctx: P2Ctx) -> Impl:
        rt = _rt(ctx, "wasi:io/streams", resource)
        return {f"get-{which}": lambda: ctx.push(rt, getattr(ctx, which))}
    return build


def _cli_terminal(which: str) -> Callable[[P2Ctx], Impl]:
    kind = "input" if which == "stdin" else "output"

    def build(ctx: P2Ctx) -> Impl:
        rt = _rt(ctx, f"wasi:cli/terminal-{kind}", f"terminal-{kind}")

        def get() -> Optional[Resource]:
            stream = getattr(ctx, which)
            return ctx.push(rt, stream) if is_terminal(stream) else None
        return {f"get-terminal-{which}": get}
    return build


def _clocks_monotonic(ctx: P2Ctx) -> Impl:
    pollable = _rt(ctx, "wasi:io/poll", "pollable")
    return {
        "now": ctx.monotonic_now,
        "resolution": lambda: 1,
        "subscribe-instant": lambda when: ctx.push(pollable, ctx.timer_at(when)),
        "subscribe-duration": lambda d: ctx.push(pollable, ctx.timer_at(ctx.monotonic_now() + d)),
    }


def _clocks_wall(ctx: P2Ctx) -> Impl:
    def now() -> Record:
        ns = ctx.wall_now()
        return Record(seconds=ns // 1_000_000_000 % (1 << 64), nanoseconds=ns % 1_000_000_000)
    return {"now": now, "resolution": lambda: Record(seconds=0, nanoseconds=1)}


def _random_len(n: int, what: str) -> int:
    if n > MAX_RANDOM:
        raise Trap(f"wasi:random/{what}: {n} bytes requested, more than the host's limit of {MAX_RANDOM}")
    return n


def _random(ctx: P2Ctx) -> Impl:
    return {
        "get-random-bytes": lambda n: ctx.random_bytes(_random_len(n, "random")),
        "get-random-u64": lambda: int.from_bytes(ctx.random_bytes(8), "little"),
    }


def _random_insecure(ctx: P2Ctx) -> Impl:
    return {
        "get-insecure-random-bytes": lambda n: ctx.insecure.randbytes(_random_len(n, "insecure")),
        "get-insecure-random-u64": lambda: ctx.insecure.getrandbits(64),
    }


def _random_insecure_seed(ctx: P2Ctx) -> Impl:
    return {"insecure-seed": lambda: ctx.insecure_seed}


#: unversioned interface name -> its implementation
IMPLEMENTATIONS: Mapping[str, Callable[[P2Ctx], Impl]] = {
    "wasi:io/error": _io_error,
    "wasi:io/poll": _io_poll,
    "wasi:io/streams": _io_streams,
    "wasi:cli/environment": _cli_environment,
    "wasi:cli/exit": _cli_exit,
    "wasi:cli/stdin": _cli_stdio("stdin", "wasi:cli/stdin", "input-stream"),
    "wasi:cli/stdout": _cli_stdio("stdout", "wasi:cli/stdout", "output-stream"),
    "wasi:cli/stderr": _cli_stdio("stderr", "wasi:cli/stderr", "output-stream"),
    "wasi:cli/terminal-stdin": _cli_terminal("stdin"),
    "wasi:cli/terminal-stdout": _cli_terminal("stdout"),
    "wasi:cli/terminal-stderr": _cli_terminal("stderr"),
    "wasi:clocks/monotonic-clock": _clocks_monotonic,
    "wasi:clocks/wall-clock": _clocks_wall,
    "wasi:random/random": _random,
    "wasi:random/insecure": _random_insecure,
    "wasi:random/insecure-seed": _random_insecure_seed,
    "wasi:filesystem/preopens": filesystem_preopens,
    "wasi:filesystem/types": filesystem_types,
    **sockets.IMPLEMENTATIONS,
    "wasi:http/types": http.http_types,
    "wasi:http/outgoing-handler": http.http_outgoing_handler,
}


def _not_implemented(name: str) -> Callable[..., Any]:
    def call(*args: Any) -> Any:
        raise Trap(f"{name} is not implemented by wasmforge's WASI 0.2 host yet")
    return call


def _typed(fn: Callable[..., Any], result: Optional[Converter]) -> Callable[..., Any]:
    if result is None:
        return fn

    def call(*args: Any) -> Any:
        return result(fn(*args))
    return call


class _Shape:
    """What the host instance of one WASI interface is made of that no store changes: the
    names and ids of its resource types, and per function its name, WIT function and the
    :func:`converter` that makes its values pythonic (None: returned as they are).  Made once
    per process (:func:`_shape`): building the functions' types from the WIT per store was
    ~45% of instantiating a small wasi:http component."""

    __slots__ = ("resources", "functions", "resource_ids", "results")

    def __init__(self, name: str) -> None:
        iface = interface(name)
        types = _shape_types()
        self.resources: List[Tuple[str, int]] = []
        for tname, tid in iface.types.items():
            try:
                types.resource(tid)
            except ValueError:
                continue        # a value type: the component's import fixes it
            self.resources.append((tname, tid))
        self.functions: List[Tuple[str, Function, Optional[Converter]]] = [
            (fname, f, converter(types.function(f).result)) for fname, f in iface.functions.items()]
        #: resource name -> its id; function name -> the converter of its results (or None)
        self.resource_ids: Dict[str, int] = dict(self.resources)
        self.results: Dict[str, Optional[Converter]] = {fname: r for fname, _, r in self.functions}


@lru_cache(maxsize=1)
def _shape_types() -> TypeMap:
    """The WIT's types with resource types of their own, only read for their structure."""
    return TypeMap(wasi_resolve())


@lru_cache(maxsize=None)
def _shape(name: str) -> _Shape:
    return _Shape(name)


def implementation(ctx: P2Ctx, name: str) -> Impl:
    """The implementation of the WASI interface ``name`` (unversioned) for ``ctx``, built on
    its first use and kept (``P2Ctx.impls``)."""
    impls = ctx.impls
    impl = impls.get(name)
    if impl is None:
        build = IMPLEMENTATIONS.get(name)
        impl = impls[name] = build(ctx) if build is not None else {}
    return impl


#: the interfaces whose functions are bound to a context one at a time (interface -> (its
#: IMPLEMENTATIONS entry, (ctx, function name) -> the function, or None)), not all together by
#: that entry: only while IMPLEMENTATIONS still has that entry (one replaced there is used)
ONE_AT_A_TIME: Mapping[str, Tuple[Callable[[P2Ctx], Impl], Callable[[P2Ctx, str], Optional[Callable[..., Any]]]]] = {
    "wasi:http/types": (http.http_types, http.http_types_function),
}


def _implementation_of(ctx: P2Ctx, name: str, fname: str) -> Callable[..., Any]:
    """The function ``fname`` of the WASI interface ``name`` bound to ``ctx``'s implementation
    (built now if it is not yet), its results as the implementation writes them."""
    one = ONE_AT_A_TIME.get(name)
    if one is not None and IMPLEMENTATIONS.get(name) is one[0]:
        fn = one[1](ctx, fname)
    else:
        fn = implementation(ctx, name).get(fname)
    return fn or _not_implemented(f"{name}.{fname}")


def _bind(ctx: P2Ctx, name: str, fname: str, result: Optional[Converter]) -> Callable[..., Any]:
    """:func:`_implementation_of`, its results made pythonic by ``result`` (None: as they are)."""
    return _typed(_implementation_of(ctx, name, fname), result)


class _Late:
    """A WASI function of one store, its implementation bound on the first call: a request
    calls a few of the ~116 functions of a wasi:http component's 18 interfaces, and building
    every interface's closures per store was ~a tenth of instantiating componentize-js's
    handler.  One object with slots, not a closure (fewer objects for the collector)."""

    __slots__ = ("ctx", "name", "fname", "result", "fn")

    def __init__(self, ctx: P2Ctx, name: str, fname: str, result: Optional[Converter]) -> None:
        self.ctx, self.name, self.fname, self.result = ctx, name, fname, result
        self.fn: Optional[Callable[..., Any]] = None

    def bound(self) -> Callable[..., Any]:
        """The implementation this calls (bound now if it is not yet)."""
        fn = self.fn
        if fn is None:
            ctx = self.ctx
            ctx.called = True
            fn = self.fn = _bind(ctx, self.name, self.fname, self.result)
        return fn

    def __call__(self, *args: Any) -> Any:
        fn = self.fn
        if fn is None:
            fn = self.bound()
        return fn(*args)


class _LateFunction(HostFunction):
    """A WASI function of one store as an import of a checked InstancePre links it
    (:func:`linked_instance`): typed when its type is first read, bound to its implementation
    on the first call (as :class:`_Late`), in one object where a :class:`HostFunction` over a
    :class:`_Late` is two (a wasi:http component imports ~116 functions per store).  A call
    makes the implementation's results pythonic itself (``result``), with no function between
    it and the implementation (a request's every host call passes here)."""

    __slots__ = ("ctx", "name", "fname", "result", "bound")

    def __init__(self, type: ct.FuncType, resmap: ResMap, ctx: P2Ctx, name: str, fname: str,
                 result: Optional[Converter]) -> None:
        self._type, self._resmap = type, resmap
        self.ctx, self.name, self.fname, self.result = ctx, name, fname, result
        #: the implementation, bound on the first call (its results not made pythonic yet)
        self.bound: Optional[Callable[..., Any]] = None

    def _implementation(self) -> Callable[..., Any]:
        """The implementation this calls (bound now if it is not yet)."""
        fn = self.bound
        if fn is None:
            ctx = self.ctx
            ctx.called = True
            fn = self.bound = _implementation_of(ctx, self.name, self.fname)
        return fn

    @property
    def fn(self) -> Callable[..., Any]:     # type: ignore[override]    # (HostFunction's slot, read-only here)
        return _typed(self._implementation(), self.result)

    def __call__(self, *args: Any) -> Any:
        fn = self.bound
        if fn is None:
            fn = self._implementation()
        result = self.result
        if result is None:
            return fn(*args)
        return result(fn(*args))


def instance_of(ctx: P2Ctx, name: str) -> ComponentInstance:
    """The instance of the WASI interface ``name`` (unversioned) for ``ctx``: its resource
    types (shared by every version's import) and its functions, typed from the WIT with
    ``ctx``'s resource types (an InstancePre's stores link theirs from the import types
    instead: :func:`linked_instance`).  The functions' implementations are bound to ``ctx``
    when one of the interface is first called (:class:`_Late`)."""
    shape = _shape(name)
    types = ctx.types
    exports: Dict[str, Any] = {tname: ctx.resource_type(types.resource(tid)) for tname, tid in shape.resources}
    for fname, f, result in shape.functions:
        exports[fname] = HostFunction(types.function(f), _Late(ctx, name, fname, result))
    return ComponentInstance(exports)


def linked_instance(ctx: P2Ctx, name: str, expected: ct.Extern, m: ResMap, path: str) -> ComponentInstance:
    """The instance of the WASI interface ``name`` (unversioned) for ``ctx`` as linking it to
    the import ``path`` of type ``expected`` gives it (cm/instance.py ``link``, with the
    resource types it names recorded in ``m``), for an InstancePre that checked the import
    against a typed host instance already: made straight from the import's type, its
    functions typed when first read and bound to ``ctx`` on their first call, and only the
    exports the import names (a store's host instance, then its linked copy, were made
    before: ~116 functions each, per store of a wasi:http component).  What each export
    needs is found once per import type (:func:`_link_plan`)."""
    assert isinstance(expected.type, ct.InstanceType)
    exports: Dict[str, Any] = {}
    types = ctx.types
    for kind, n, e, extra in _link_plan(name, expected.type):
        if kind is _FUNC:
            exports[n] = _LateFunction(e, m, ctx, name, n, extra)
        elif kind is _CONSTANT:
            exports[n] = e
        elif kind is _RESOURCE:
            rt = ctx.resource_type(types.resource(extra))
            if m.setdefault(e, rt) is not rt:
                raise LinkError(f"import `{path}.{n}`: mismatched resource types")
            exports[n] = rt
        else:
            value = None if extra is None else ctx.resource_type(types.resource(extra))
            exports[n] = link(e, value, f"{path}.{n}", m, True)
    return ComponentInstance(exports)


# what linked_instance does for an export of the import's type (_link_plan)
_FUNC, _CONSTANT, _RESOURCE, _LINK = "func", "constant", "resource", "link"
_LinkPlan = List[Tuple[str, str, Any, Any]]
_LINK_PLANS: Dict[Tuple[str, int], Tuple["weakref.ref[ct.InstanceType]", _LinkPlan]] = {}


def _link_plan(name: str, it: ct.InstanceType) -> _LinkPlan:
    """For each export of the type ``it`` of an import of the WASI interface ``name``, in
    order: ``(kind, export name, x, extra)``: a function (``x`` its static type, ``extra``
    the :func:`converter` of its results), a type that names no resource type (``x`` the type itself,
    the same for every instance: ``link`` would substitute nothing), a resource type of the
    interface (``x`` the static type the run-time one is mapped from, ``extra`` its WIT id),
    or anything else (``x`` the extern type, linked by ``link``; ``extra`` a WIT resource id
    or None).  Found once per import type and kept while the type lives: an instance per
    request linked ~92 exports of componentize-js's WASI imports, ~250 of componentize-py's,
    each asking the interface's shape and, for a type, walking it for resource types."""
    key = (name, id(it))
    hit = _LINK_PLANS.get(key)
    if hit is not None and hit[0]() is it:
        return hit[1]
    shape = _shape(name)
    results, resource_ids = shape.results, shape.resource_ids
    plan: _LinkPlan = []
    for n, e in it.exports:
        tid = resource_ids.get(n)
        if e.sort == "func" and n in results:
            plan.append((_FUNC, n, e.type, results[n]))
        elif e.sort == "type" and tid is not None and isinstance(e.type, ct.ResourceType):
            plan.append((_RESOURCE, n, e.type, tid))
        elif (e.sort == "type" and tid is None and isinstance(e.type, ct.ValType)
              and not isinstance(e.type, ct.ResourceType) and _plain(e.type)):
            plan.append((_CONSTANT, n, e.type, None))
        else:
            plan.append((_LINK, n, e, tid))
    _LINK_PLANS[key] = (weakref.ref(it, partial(_forget_plan, key)), plan)
    return plan


def _forget_plan(key: Tuple[str, int], _ref: Any) -> None:
    _LINK_PLANS.pop(key, None)


def host_instances(store: Any, names: Sequence[str]) -> Dict[str, ComponentInstance]:
    """For each import name of ``names`` that is a WASI 0.2.x interface, its host instance
    (the store's :class:`P2Ctx`); other names are left out."""
    out: Dict[str, ComponentInstance] = {}
    wanted = [(n, unversioned(n)) for n in names]
    if not any(u for _, u in wanted):
        return out
    ctx = p2_ctx(store)
    for n, u in wanted:
        if u is not None:
            out[n] = instance_of(ctx, u)
    return out
