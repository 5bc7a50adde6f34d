"""Resources at run time: handle tables, the host's handle objects, and the canonical
built-ins ``resource.new``, ``resource.drop`` and ``resource.rep`` (CanonicalABI.md,
"Table State", "Resource State", "canon resource.*").

Each component instance has one :class:`ComponentState`: its handle table, and the
``may_enter``/``may_leave`` flags the synchronous rules need.  A handle in a table is a
:class:`ResourceHandle` (``own`` or ``borrow``, with the count of borrows lent from it); a
handle held by the Python host is a :class:`Resource`.
"""

from __future__ import annotations

from typing import Any, Callable, List, Optional, Set

from ...errors import Trap, TrapCode, WasmTypeError
from ...runtime.memory import Unrecyclable
from ..types import ResourceType
from .layout import MAX_STRING_BYTE_LENGTH


def trap(message: str, code: Optional[TrapCode] = None) -> Trap:
    """A canonical-ABI trap (raise the result)."""
    return Trap(message, code)


class ResourceHandle:
    """A table entry for a resource: its type ``rt``, representation ``rep``, whether it owns the
    resource, the call ``scope`` (a :class:`CallScope`) a borrow belongs to, and ``num_lends``,
    the borrows currently lent out of it to calls in progress."""

    __slots__ = ("rt", "rep", "own", "scope", "num_lends")

    def __init__(self, rt: ResourceType, rep: int, own: bool, scope: "Optional[CallScope]" = None) -> None:
        self.rt = rt
        self.rep = rep
        self.own = own
        self.scope = scope
        self.num_lends = 0


class HandleTable:
    """A component instance's table of handles: index 0 is never used; freed indices are reused
    last-freed first (as the explainer's ``Table``)."""

    MAX_LENGTH = (1 << 28) - 1

    __slots__ = ("array", "free")

    def __init__(self) -> None:
        self.array: List[Any] = [None]
        self.free: List[int] = []

    def get(self, i: int) -> Any:
        if i <= 0 or i >= len(self.array) or self.array[i] is None:
            raise trap(f"unknown handle index {i}")
        return self.array[i]

    def add(self, e: Any) -> int:
        if self.free:
            i = self.free.pop()
            self.array[i] = e
            return i
        i = len(self.array)
        if i > self.MAX_LENGTH:
            raise trap("handle table is full")
        self.array.append(e)
        return i

    def remove(self, i: int) -> Any:
        e = self.get(i)
        self.array[i] = None
        self.free.append(i)
        return e

    def __len__(self) -> int:
        """The number of live entries."""
        return sum(1 for e in self.array if e is not None)


#: The largest string limit an embedder may set: wasmtime's (2**31 - 1 bytes).  Above the
#: spec's 2**28 - 1, a transcoding could ask ``realloc`` for more than 2**31 - 1 bytes; such an
#: allocation traps instead (``string content out-of-bounds``), as wasmtime's does.
MAX_STRING_LIMIT = (1 << 31) - 1


def check_string_limit(n: int) -> int:
    """``n`` if it is a valid implementation limit on string byte length: at least the spec's
    MAX_STRING_BYTE_LENGTH (every string the spec accepts must still lift), at most
    :data:`MAX_STRING_LIMIT`."""
    if type(n) is not int or not MAX_STRING_BYTE_LENGTH <= n <= MAX_STRING_LIMIT:
        raise ValueError(f"a string byte-length limit must be an int from {MAX_STRING_BYTE_LENGTH} "
                         f"to {MAX_STRING_LIMIT}, got {n!r}")
    return n


class ComponentState:
    """The run-time state the canonical ABI keeps per component instance: ``handles`` (its
    :class:`HandleTable`), ``may_leave`` (false while the instance runs code that must not call
    out: ``realloc``, ``post-return``, a destructor's caller), ``may_enter`` (false while a call
    into it, or into a component it contains, is in progress: sync reentrance traps) and
    ``parent`` (the enclosing instance, None at the root).  ``max_string_bytes`` is the
    longest string, in bytes, its lifts accept: the spec's MAX_STRING_BYTE_LENGTH unless the
    root instance was given a larger implementation limit (see :func:`check_string_limit`);
    nested instances inherit it."""

    __slots__ = ("handles", "may_enter", "may_leave", "parent", "name", "max_string_bytes", "tasks", "__weakref__")
    max_string_bytes: int

    def __init__(self, parent: "Optional[ComponentState]" = None, name: str = "",
                 max_string_bytes: Optional[int] = None) -> None:
        self.handles = HandleTable()
        self.may_enter = True
        self.may_leave = True
        self.parent = parent
        self.name = name
        if max_string_bytes is None:
            max_string_bytes = parent.max_string_bytes if parent is not None else MAX_STRING_BYTE_LENGTH
        self.max_string_bytes = check_string_limit(max_string_bytes)
        #: the tasks of async-lifted exports in progress, innermost last (see ``tasks.py``)
        self.tasks: List[Any] = []

    def self_and_ancestors(self) -> Set["ComponentState"]:
        out = {self}
        p = self.parent
        while p is not None:
            out.add(p)
            p = p.parent
        return out

    def entering_set(self, caller: "Optional[ComponentState]") -> List["ComponentState"]:
        """The instances a call from ``caller`` (None: the host) into this one enters: this one
        and its ancestors, minus those the caller is already inside."""
        if caller is None and self.parent is None:
            return [self]
        mine = self.self_and_ancestors()
        if caller is not None:
            mine -= caller.self_and_ancestors()
        return list(mine)

    def enter(self, caller: "Optional[ComponentState]" = None) -> List["ComponentState"]:
        """Enter for a synchronous call (trap if any instance entered is already in a call);
        return what :meth:`leave` takes."""
        entered = self.entering_set(caller)
        for s in entered:
            if not s.may_enter:
                raise trap("cannot enter component instance", TrapCode.CANNOT_ENTER_COMPONENT)
        for s in entered:
            s.may_enter = False
        return entered

    @staticmethod
    def leave(entered: List["ComponentState"]) -> None:
        for s in entered:
            s.may_enter = True

    def snapshot(self) -> "StateSnapshot":
        """Its handle table and flags now, to be put back later (:class:`StateSnapshot`)."""
        return StateSnapshot(self)

    def __repr__(self) -> str:
        return f"<ComponentState {self.name or hex(id(self))}>"


class StateSnapshot:
    """A :class:`ComponentState` at a moment when no call is in it (right after
    instantiation): its handle table (the entries, their lends, the free list) and flags.
    :meth:`reset` puts them back: a handle a guest made or took since (and leaked) is gone,
    one it dropped is back, as in a new instance; the flags and the tasks are those of an
    instance no call is in."""

    __slots__ = ("state", "array", "lends", "free")

    def __init__(self, state: ComponentState) -> None:
        if not (state.may_enter and state.may_leave) or state.tasks:
            raise Unrecyclable(f"a call is in progress in component instance {state!r}")
        self.state = state
        self.array = list(state.handles.array)
        self.lends = [0 if h is None else h.num_lends for h in self.array]
        self.free = list(state.handles.free)

    def reset(self) -> None:
        state = self.state
        handles = state.handles
        if handles.array != self.array or handles.free != self.free:
            handles.array[:] = self.array
            handles.free[:] = self.free
        for h, n in zip(self.array, self.lends):
            if h is not None:
                h.num_lends = n
        state.may_enter = state.may_leave = True
        state.tasks.clear()


class CallScope:
    """The borrow bookkeeping of one synchronous call.  For a lifted function being called
    (the explainer's ``Task``): ``num_borrows``, the borrow handles the callee holds, which
    must all be dropped before it returns.  For a lowered call going out (its ``Subtask``):
    ``lenders``, the handles of the caller that lent a borrow to the callee, and ``given``,
    the :class:`Resource` borrows handed to the host, both released when the call returns."""

    __slots__ = ("num_borrows", "lenders", "given")

    def __init__(self) -> None:
        self.num_borrows = 0
        self.lenders: List[ResourceHandle] = []
        self.given: List[Resource] = []

    def release(self) -> None:
        for h in self.lenders:
            h.num_lends -= 1
        self.lenders.clear()
        for r in self.given:
            r.state = Resource.EXPIRED
        self.given.clear()


def run_destructor(rt: ResourceType, rep: int, caller: Optional[ComponentState]) -> None:
    """Run ``rt``'s destructor on ``rep`` (nothing if it has none), entering the instance that
    implements the resource as a synchronous call from ``caller`` does."""
    dtor = rt.dtor
    if dtor is None:
        return
    impl = rt.impl
    entered = impl.enter(caller) if isinstance(impl, ComponentState) else None
    try:
        dtor(rep)       # type: ignore[operator]
    finally:
        if entered is not None:
            ComponentState.leave(entered)


class Resource:
    """A resource handle held by the Python host (wasmtime-py's ``ResourceAny`` and
    ``ResourceHost`` in one): ``type`` (the :class:`~wasmforge.cm.types.ResourceType`), ``rep``
    (its representation) and ``owned``.  An owned handle passed to a component as ``own`` moves
    there and may not be used again; :meth:`drop` runs the destructor.  A borrow handed to a
    host function is valid until that function returns."""

    LIVE, MOVED, DROPPED, EXPIRED = "live", "moved into a component", "dropped", "expired (the call it was lent to returned)"

    __slots__ = ("type", "rep", "owned", "state")

    def __init__(self, type: ResourceType, rep: int, owned: bool = True) -> None:
        if not isinstance(rep, int) or not 0 <= rep <= 0xFFFFFFFF:
            raise WasmTypeError(f"a resource representation is a u32, not {rep!r}")
        self.type = type
        self.rep = rep
        self.owned = owned
        self.state = Resource.LIVE

    def check(self, what: str) -> None:
        if self.state is not Resource.LIVE:
            raise trap(f"cannot {what} a resource handle that was {self.state}")

    def drop(self, caller: Optional[ComponentState] = None) -> None:
        """Drop the handle: an owned one runs the resource's destructor."""
        self.check("drop")
        self.state = Resource.DROPPED
        if self.owned:
            run_destructor(self.type, self.rep, caller)

    def __repr__(self) -> str:
        kind = "own" if self.owned else "borrow"
        return f"<Resource {kind} {self.type.name or '?'} rep={self.rep} {self.state}>"


def _wrong_type(i: int, want: ResourceType, got: ResourceType) -> Trap:
    def who(rt: ResourceType) -> str:
        return "host-defined resource" if rt.host else "guest-defined resource"
    other = "a different " + who(got) if who(got) == who(want) else who(got)
    return trap(f"handle index {i} used with the wrong type, expected {who(want)} but found {other}")


def _handle(state: ComponentState, i: int, rt: ResourceType) -> ResourceHandle:
    h = state.handles.get(i)
    if not isinstance(h, ResourceHandle):
        raise trap(f"handle index {i} is not a resource handle")
    if h.rt is not rt:
        raise _wrong_type(i, rt, h.rt)
    return h


def lift_own(state: ComponentState, i: int, rt: ResourceType) -> Resource:
    """Take the owned handle ``i`` out of ``state``'s table (it moves to the receiver)."""
    h = _handle(state, i, rt)
    if h.num_lends:
        raise trap("cannot remove owned resource while borrowed")
    if not h.own:
        raise trap(f"handle index {i} is a borrow, where an owned handle was expected")
    state.handles.remove(i)
    return Resource(rt, h.rep, True)


def lift_borrow(state: ComponentState, i: int, rt: ResourceType, scope: CallScope) -> Resource:
    """Lend the handle ``i`` of ``state``'s table for the call of ``scope``."""
    h = _handle(state, i, rt)
    h.num_lends += 1
    scope.lenders.append(h)
    r = Resource(rt, h.rep, False)
    scope.given.append(r)
    return r


def _resource_arg(v: Any, rt: ResourceType, what: str) -> Resource:
    if not isinstance(v, Resource):
        raise WasmTypeError(f"expected a resource handle of {rt.name or 'the resource type'}, got {type(v).__name__}")
    if v.type is not rt:
        raise trap(f"resource types are not the same: {what} of {rt.name or '?'} given a handle of "
                   f"{v.type.name or 'another resource type'}")
    return v


def lower_own(state: ComponentState, v: Any, rt: ResourceType) -> int:
    """Move the host's owned handle ``v`` into ``state``'s table; return its index."""
    r = _resource_arg(v, rt, "own")
    r.check("pass")
    if not r.owned:
        raise trap("a borrowed resource handle cannot be passed where an owned one is expected")
    r.state = Resource.MOVED
    return state.handles.add(ResourceHandle(rt, r.rep, True))


def lower_borrow(state: ComponentState, v: Any, rt: ResourceType, scope: CallScope) -> int:
    """Lend ``v`` to ``state`` for the call of ``scope``: the instance implementing the resource
    gets the representation itself, any other a borrow handle it must drop before returning."""
    r = _resource_arg(v, rt, "borrow")
    r.check("lend")
    if rt.impl is state:
        return r.rep
    scope.num_borrows += 1
    return state.handles.add(ResourceHandle(rt, r.rep, False, scope))


def resource_new(state: ComponentState, rt: ResourceType) -> Callable[[int], int]:
    """``canon resource.new rt`` for the instance ``state``: a core function rep -> handle."""
    def new(rep: int) -> int:
        if not state.may_leave:
            raise trap("cannot leave component instance", TrapCode.CANNOT_LEAVE_COMPONENT)
        return state.handles.add(ResourceHandle(rt, rep, True))
    return new


def resource_drop(state: ComponentState, rt: ResourceType) -> Callable[[int], None]:
    """``canon resource.drop rt``: drop handle ``i``; dropping an owned handle runs the
    destructor, dropping a borrow ends it."""
    def drop(i: int) -> None:
        if not state.may_leave:
            raise trap("cannot leave component instance", TrapCode.CANNOT_LEAVE_COMPONENT)
        h = _handle(state, i, rt)
        if h.num_lends:
            raise trap("cannot remove owned resource while borrowed")
        state.handles.remove(i)
        if h.own:
            run_destructor(rt, h.rep, state)
        elif h.scope is not None:
            h.scope.num_borrows -= 1
    return drop


def resource_rep(state: ComponentState, rt: ResourceType) -> Callable[[int], int]:
    """``canon resource.rep rt``: the representation behind handle ``i``."""
    def rep(i: int) -> int:
        return _handle(state, i, rt).rep
    return rep
