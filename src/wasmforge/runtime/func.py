"""Function instances (spec 4.2.6): functions defined by a module and host functions.

Every function, whatever its origin, is called the same way by the tiers: ``f.call(*args)``
with arguments in the internal value form, returning ``None``, one value, or a tuple.  A
funcref value *is* a FuncInstance.
"""

from __future__ import annotations

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
    slot = _SLOT
    if cls is not LazyFuncInstance:
        # A per-function class: its shared attributes go to the slots.
        slot["type"].__set__(fi, cls.type)
        slot["name"].__set__(fi, cls.name)
        slot["index"].__set__(fi, cls.index)
        slot["host"].__set__(fi, None)
    slot["call"].__set__(fi, call)
    fi.__class__ = FuncInstance
    return call


def function_classes(funcs) -> list:
    """One :class:`LazyFuncInstance` subclass per ``(type, name, index)`` of ``funcs`` (a
    module's defined functions: runtime/instance.py's plan)."""
    return [type("FuncInstance", (LazyFuncInstance,),
                 {"__slots__": (), "type": t, "name": n, "index": i, "host": None,
                  "__module__": __name__})
            for t, n, i in funcs]


class HostFunc:
    """A host function as the runtime sees it: ``fn`` with a declared FuncType, and
    :meth:`bind`, which makes the callable of the tiers' calling convention.  The layers
    above implement ``bind``: the API's host functions take and return values in the API
    form, optionally with a leading Caller (api/handles.py); WASI's take the importing
    instance's memory (wasi/link.py).  ``access_caller`` true means: bound per importing
    instance (:meth:`instance_binding`)."""

    __slots__ = ("type", "fn", "access_caller")

    def __init__(self, type: FuncType, fn: Callable, access_caller: bool = False):
        self.type = type
        self.fn = fn
        self.access_caller = access_caller

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
        return FuncInstance(fi.type, self.bind(store, inst), fi.name, host=self, store=store)
