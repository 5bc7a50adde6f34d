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
