"""Function instances (spec 4.2.6): functions defined by a module and host functions.

Every function, whatever its origin, is called the same way by the tiers: ``f.call(*args)``
with arguments in the internal value form, returning ``None``, one value, or a tuple.  A
funcref value *is* a FuncInstance.
"""

from __future__ import annotations

import threading
from collections import deque
from itertools import repeat
from typing import Callable, Optional

from ..errors import WasmError
from ..types import FuncType


def _not_ready(*args):
    # A defined function is allocated before the tier binds its code (spec 4.5.4: the
    # instance's functions exist before the segments that reference them are evaluated).
    raise WasmError("function called before its module instance was initialised")


class FuncInstance:
    """A function: ``type`` (FuncType), ``call`` (the callable), ``name`` (from the name
    section, or None), ``inst`` (the defining ModuleInstance; None for host functions),
    ``index`` (its index in the defining module), ``host`` (the Python callable of a host
    function, else None) and ``store`` (the owning Store)."""

    __slots__ = ("type", "call", "name", "inst", "index", "host", "store", "__weakref__")

    def __init__(self, type: FuncType, call: Callable = _not_ready, name: Optional[str] = None,
                 inst=None, index: Optional[int] = None, host=None, store=None):
        self.type = type
        self.call = call
        self.name = name
        self.inst = inst
        self.index = index
        self.host = host
        self.store = store

    def __repr__(self) -> str:
        who = self.name or (f"func {self.index}" if self.index is not None else "host function")
        return f"<FuncInstance {who} {self.type}>"


# The slots of FuncInstance, written directly (past the class attributes of the
# per-function classes below, which shadow them for reading).
_SLOT = {n: getattr(FuncInstance, n) for n in ("type", "call", "name", "index", "host")}


class LazyFuncInstance(FuncInstance):
    """A defined function whose callable its tier makes on first use.

    An instance of a module often has dozens of functions of which a request calls one or
    two, so a tier that can bind one function at a time (``instantiate_lazily``,
    runtime/tier.py) makes no callable per function at instantiation.  On a module's first
    instantiation the functions are LazyFuncInstances with their slots set (but ``call``);
    from the second on, each is an object of a class made for that function of the module
    (:func:`function_classes`): ``type``, ``name``, ``index`` and ``host`` are class
    attributes shared by every instance, only ``inst`` and ``store`` are set per instance.
    Reading ``call`` asks the instance's ``lazy_bind`` for the callable; then,
    as on writing ``call``, the object becomes a plain FuncInstance (its slots filled,
    ``__class__`` assigned last, so another thread sees either form whole)."""

    __slots__ = ()

    @property
    def call(self) -> Callable:
        cls = type(self)
        if cls is FuncInstance:                 # made plain meanwhile by another thread
            return _SLOT["call"].__get__(self, FuncInstance)
        bind = self.inst.lazy_bind
        if bind is None:                        # the tier has not bound the instance (yet)
            return _not_ready
        return _materialize(self, cls, bind(self))

    @call.setter
    def call(self, value: Callable) -> None:
        cls = type(self)
        if cls is FuncInstance:
            _SLOT["call"].__set__(self, value)
        else:
            _materialize(self, cls, value)


# What the host sees of a function is a FuncInstance however it was bound: a value's type
# name (the spec runner's, a differential test's) must not depend on the tier.
LazyFuncInstance.__name__ = LazyFuncInstance.__qualname__ = "FuncInstance"


def _materialize(fi: FuncInstance, cls: type, call: Callable) -> Callable:
    if cls is not LazyFuncInstance:
        # A per-function class: its shared attributes go to the slots.
        _SET_TYPE(fi, cls.type)
        _SET_NAME(fi, cls.name)
        _SET_INDEX(fi, cls.index)
        _SET_HOST(fi, None)
    _SET_CALL(fi, call)
    fi.__class__ = FuncInstance
    return call


_SET_TYPE, _SET_NAME, _SET_INDEX, _SET_HOST, _SET_CALL = (
    _SLOT[n].__set__ for n in ("type", "name", "index", "host", "call"))
_SET_STORE = FuncInstance.store.__set__         # type: ignore[attr-defined]


def function_classes(funcs) -> list:
    """One :class:`LazyFuncInstance` subclass per ``(type, name, index)`` of ``funcs`` (a
    module's defined functions: runtime/instance.py's plan)."""
    return [type("FuncInstance", (LazyFuncInstance,),
                 {"__slots__": (), "type": t, "name": n, "index": i, "host": None,
                  "__module__": __name__})
            for t, n, i in funcs]


def bound_host_class(fi: FuncInstance, host) -> type:
    """A FuncInstance class for the per-instance bindings of host function ``host``
    (HostFunc.instance_binding) like ``fi``: ``type``, ``name``, ``host``, ``inst`` (None)
    and ``index`` are class attributes, so a binding sets only ``call`` and ``store``."""
    return type("FuncInstance", (FuncInstance,),
                {"__slots__": (), "type": fi.type, "name": fi.name, "inst": None, "index": None,
                 "host": host, "__module__": __name__})


class HostFunc:
    """A host function as the runtime sees it: ``fn`` with a declared FuncType, and
    :meth:`bind`, which makes the callable of the tiers' calling convention.  The layers
    above implement ``bind``: the API's host functions take and return values in the API
    form, optionally with a leading Caller (api/handles.py); WASI's take the importing
    instance's memory (wasi/link.py).  ``access_caller`` true means: bound per importing
    instance (:meth:`instance_binding`)."""

    __slots__ = ("type", "fn", "access_caller", "_bound")

    def __init__(self, type: FuncType, fn: Callable, access_caller: bool = False):
        self.type = type
        self.fn = fn
        self.access_caller = access_caller
        self._bound = None      # the class of its bindings (instance_binding)

    def bind(self, store, inst=None) -> Callable:
        """The internal-convention callable in ``store``; ``inst`` is the importing instance
        (None for a store-wide binding)."""
        raise NotImplementedError(f"{type(self).__name__} does not implement bind")

    def instance_binding(self, fi: FuncInstance, inst) -> FuncInstance:
        """A copy of host function ``fi`` whose Caller reaches ``inst`` (the importing
        instance, in the store the copy belongs to: ``fi`` may be an InstancePre's
        store-less placeholder); functions without Caller access are shared as they are."""
        if not self.access_caller:
            return fi
        store = inst.store if inst.store is not None else fi.store
        # An object of a class made for this function (kept while ``fi``'s name and type are
        # the same): its type, name and host are class attributes, so a binding sets two slots
        # instead of constructing a FuncInstance of seven (an instance made per request binds
        # every such import: a WASI program's seven and more).
        cls = self._bound
        if cls is None or cls.name != fi.name or cls.type is not fi.type:
            cls = self._bound = bound_host_class(fi, self)
        f = _new(cls)
        _SET_CALL(f, self.bind(store, inst))
        _SET_STORE(f, store)
        return f


_list_get = list.__getitem__
_list_set = list.__setitem__
_new = object.__new__
_drain = deque(maxlen=0).extend             # runs an iterator to its end in C
_made_lock = threading.Lock()


class ReadThroughList(list):
    """A list whose storage holds stand-ins for values made when first read
    (:class:`FuncSpace`, runtime/table.py LazyTableElements): iteration, copies and
    concatenation go through ``__getitem__``, so they give the made values."""

    __slots__ = ()

    def __iter__(self):
        return map(self.__getitem__, range(len(self)))

    def __reversed__(self):
        return map(self.__getitem__, range(len(self) - 1, -1, -1))

    def copy(self) -> list:
        return list(self)

    def __add__(self, other):
        return list(self) + list(other)


class FuncSpace(ReadThroughList):
    """A module instance's function index space (``ModuleInstance.funcs``): its imported
    functions, then its defined ones, each defined function's :class:`FuncInstance` made
    when its index is first read.

    An instance made per request has thousands of functions (componentize-js's engine
    12,743, componentize-py's libpython ~10,000) of which a request reaches a few: making
    an object per function was half of such an instantiation.  The list holds None for a
    function not made yet; every read (an index, a slice, iteration) gives the made object,
    the same one every time (a funcref's identity), so a reader sees a plain list of
    FuncInstances.  Only C code reading the list's storage directly (``list.__add__``,
    ``list.copy``) could see a None: the runtime and the tiers do not.  :meth:`made` reads
    without making; :meth:`set_call` binds a function's callable with or without its
    object.

    How a function is made (:meth:`define`): of its per-function class (``classes``,
    runtime/func.py :func:`function_classes`) or a :class:`LazyFuncInstance`, whose ``call``
    its tier binds on first use (``lazy``), else a plain FuncInstance calling ``calls[j]``
    (the tier's bound callables, set by :meth:`bind`, ``_not_ready`` before)."""

    __slots__ = ("inst", "store", "nimported", "plan", "classes", "lazy", "calls")

    def __init__(self, iterable=()):
        super().__init__(iterable)
        self.inst = self.store = self.plan = self.classes = self.calls = None
        self.nimported = 0
        self.lazy = False

    def define(self, inst, store, plan, classes, lazy: bool) -> None:
        """Append the defined functions of instance ``inst`` (``plan.funcs``: ``(type, name,
        index)`` each, runtime/instance.py InstancePlan), none made yet."""
        self.inst, self.store, self.plan, self.classes, self.lazy = inst, store, plan, classes, lazy
        self.nimported = len(self)
        list.extend(self, repeat(None, len(plan.funcs)))

    def bind(self, calls: list) -> None:
        """The tier bound the defined functions: ``calls[j]`` is defined function j's."""
        self.calls = calls
        n = self.nimported
        for j, fi in enumerate(_list_get(self, slice(n, None))):
            if fi is not None:
                fi.call = calls[j]

    def make(self, indexes) -> None:
        """Make the FuncInstances of ``indexes`` (a sized collection) not made yet, together:
        ~3x cheaper per function than one at a time (C loops), for what is surely read (an
        instance's exports, componentize-py's libraries export ~1,600 functions each)."""
        classes = self.classes
        if classes is None:
            for i in indexes:
                self[i]
            return
        n = self.nimported
        if len(indexes) <= 4:
            # A few (a request handler's module exports one or two): a plain loop costs
            # less than setting up the C loops below.
            inst, store = self.inst, self.store
            with _made_lock:
                for i in indexes:
                    if _list_get(self, i) is None:
                        fi = _new(classes[i - n])
                        _SET_INST(fi, inst)
                        _SET_STORE(fi, store)
                        _list_set(self, i, fi)
            return
        with _made_lock:
            missing = list(dict.fromkeys(i for i in indexes if _list_get(self, i) is None))
            if not missing:
                return
            made = list(map(_new, [classes[i - n] for i in missing]))
            _drain(map(_SET_INST, made, repeat(self.inst)))
            _drain(map(_SET_STORE, made, repeat(self.store)))
            _drain(map(_list_set.__get__(self), missing, made))

    def raw(self) -> list:
        """The list as it holds the functions, None for one not made (a copy)."""
        return _list_get(self, slice(None))

    def made(self, i: int):
        """The FuncInstance of index ``i`` if it is made, else None (none is made)."""
        return _list_get(self, i)

    def set_call(self, i: int, call: Callable, old: Optional[Callable] = None) -> None:
        """Make ``call`` function ``i``'s callable (a defined function of an eagerly bound
        instance); with ``old``, only where its callable is ``old`` still."""
        fi = _list_get(self, i)
        if fi is None:
            calls, j = self.calls, i - self.nimported
            if calls is None:           # before bind(), which will overwrite it
                calls = self.calls = [_not_ready] * (len(self) - self.nimported)
            if old is None or calls[j] is old:
                calls[j] = call
            fi = _list_get(self, i)     # made meanwhile by another thread
            if fi is None:
                return
        if old is None or fi.call is old:
            fi.call = call

    def _make(self, i: int) -> FuncInstance:
        if i < 0:
            i += len(self)
        j = i - self.nimported
        classes = self.classes
        if classes is not None:
            fi = _new(classes[j])
            _SET_INST(fi, self.inst)
            _SET_STORE(fi, self.store)
        else:
            t, n, index = self.plan.funcs[j]
            if self.lazy:
                fi = _new(LazyFuncInstance)
                fi.type, fi.name, fi.inst, fi.index, fi.host, fi.store = t, n, self.inst, index, None, self.store
            else:
                calls = self.calls
                fi = _new(FuncInstance)
                fi.type, fi.call, fi.name, fi.inst, fi.index, fi.host, fi.store = \
                    t, _not_ready if calls is None else calls[j], n, self.inst, index, None, self.store
        with _made_lock:
            # Two threads reading an unmade index: one object wins, for both.
            other = _list_get(self, i)
            if other is not None:
                return other
            _list_set(self, i, fi)
        return fi

    def __getitem__(self, i):
        f = _list_get(self, i)
        if f is None:
            return self._make(i)
        if f.__class__ is list:         # a slice
            if None not in f:
                return f
            return [self[k] for k in range(*i.indices(len(self)))]
        return f

    def __contains__(self, x) -> bool:
        return x is not None and list.__contains__(self, x)

    def index(self, x, *args) -> int:
        if x is None:
            raise ValueError("None is not in the function index space")
        return list.index(self, x, *args)

    def __repr__(self) -> str:
        n = sum(f is None for f in list.__iter__(self))
        return f"<FuncSpace of {len(self)} functions, {n} not made>"


_SET_INST = FuncInstance.inst.__set__
_SET_STORE = FuncInstance.store.__set__


def set_call(funcs, i: int, call: Callable, old: Optional[Callable] = None) -> None:
    """Make ``call`` the callable of function ``i`` of the index space ``funcs`` (with ``old``,
    only where it is ``old`` still): :meth:`FuncSpace.set_call`, which makes no FuncInstance,
    or on a plain list of FuncInstances (an instance a tier is given by a test)."""
    if type(funcs) is FuncSpace:
        funcs.set_call(i, call, old)
        return
    fi = funcs[i]
    if old is None or fi.call is old:
        fi.call = call
