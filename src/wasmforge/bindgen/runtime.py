"""What the code written by ``wasmforge bindgen`` imports: the result and option wrappers, the
base classes of resources, and the table of host resources handed to a component.

Generated modules import these names; user code meets ``Ok``, ``Err``, ``Result``, ``Some``
and ``ResultError`` in signatures, and subclasses the generated subclasses of
:class:`HostResource`.
"""

from __future__ import annotations

import itertools
import weakref
from dataclasses import dataclass
from typing import Any, Dict, Generic, Iterator, NoReturn, Optional, TypeVar, Union

from ..component import Func, Instance, ResourceAny, ResourceHost
from ..errors import ClosedError, LinkError, WasmError, WasmTypeError

T = TypeVar("T")
E = TypeVar("E")
R = TypeVar("R", bound="HostResource")
_X = TypeVar("_X", bound="ExportedResource")
_H = TypeVar("_H", bound="HostResource")


class ResultError(WasmError, Generic[E]):
    """Raised by :meth:`Err.unwrap`: ``value`` is the error payload of the result."""

    def __init__(self, value: E) -> None:
        super().__init__(f"the result is an error: {value!r}")
        self.value = value


@dataclass(frozen=True)
class Ok(Generic[T]):
    """The ``ok`` case of a WIT ``result`` (``value`` is None for ``result<_, E>``)."""

    value: T

    def unwrap(self) -> T:
        """The value (an :class:`Err` raises :class:`ResultError` instead)."""
        return self.value


@dataclass(frozen=True)
class Err(Generic[E]):
    """The ``error`` case of a WIT ``result`` (``value`` is None for ``result<T>``)."""

    value: E

    def unwrap(self) -> NoReturn:
        """Raise :class:`ResultError` carrying the error value."""
        raise ResultError(self.value)


#: A WIT ``result<T, E>``: ``match r: case Ok(v): ... case Err(e): ...``.
Result = Union[Ok[T], Err[E]]


@dataclass(frozen=True)
class Some(Generic[T]):
    """The ``some`` case of an ``option`` whose payload may itself be None
    (``option<option<u32>>`` is ``Some[int | None] | None``)."""

    value: T


def unexpected(value: object, wit: str) -> NoReturn:
    """A value that fits no case of the WIT type ``wit``."""
    raise WasmTypeError(f"expected a value of WIT type `{wit}`, got {type(value).__name__}: {value!r}")


class ExportedResource:
    """A resource the component defines and exports, held by the host through an own handle.

    Dropping it (``drop()``, ``close()``, or leaving a ``with`` block) runs the component's
    destructor; passing it to a function taking an ``own`` parameter moves it into the
    component, after which it cannot be used here."""

    __slots__ = ("_handle", "_store")
    _handle: Optional[ResourceAny]
    _store: Any

    def __init__(self, store: Any, handle: ResourceAny) -> None:
        self._store = store
        self._handle = handle

    def _borrow(self) -> ResourceAny:
        if self._handle is None:
            raise ClosedError(f"this {type(self).__name__} was dropped or moved into the component")
        return self._handle

    def _take(self) -> ResourceAny:
        handle = self._borrow()
        self._handle = None
        return handle

    @property
    def dropped(self) -> bool:
        """Whether the handle is gone (dropped, or moved into the component)."""
        return self._handle is None

    def drop(self) -> None:
        """Drop the handle now (the component's destructor runs); twice is harmless."""
        if self._handle is not None:
            handle, self._handle = self._handle, None
            handle.drop(self._store)

    def close(self) -> None:
        """The same as :meth:`drop`."""
        self.drop()

    def __enter__(self: _X) -> _X:
        return self

    def __exit__(self, *exc: object) -> None:
        self.drop()

    def __repr__(self) -> str:
        state = "dropped" if self._handle is None else "live"
        return f"<{type(self).__name__} ({state})>"


class HostResource:
    """Base of a resource the host implements for the component (subclass the generated
    class).  :meth:`close` runs when the component drops its last handle (the resource's
    destructor); using the object in a ``with`` block closes it at the end too."""

    def close(self) -> None:
        """Release what the object holds.  The default does nothing."""

    def __enter__(self: _H) -> _H:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


#: Host resource type numbers (``ResourceType.host(n)``): a fresh one per table, so that two
#: bindings, or two linkers, never share a resource type by accident.
_TYPE_NUMBERS: Iterator[int] = itertools.count(0x62670000)


class HostTable(Generic[R]):
    """The objects of one host resource the component holds handles to, by representation
    (the u32 the component sees in its handle table's entry).  An object the component owns is
    kept alive here until the component drops it (then :meth:`HostResource.close` runs) or
    gives it back; one only lent for a call is known weakly, so lending never leaks."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.type_number = next(_TYPE_NUMBERS)
        self._owned: Dict[int, R] = {}
        self._known: "weakref.WeakValueDictionary[int, R]" = weakref.WeakValueDictionary()
        self._next = 1

    def _rep(self, obj: R, cls: type) -> int:
        if not isinstance(obj, cls):
            raise WasmTypeError(f"expected a {cls.__name__} for resource `{self.name}`, got {type(obj).__name__}")
        reps: Dict[int, int] = obj.__dict__.setdefault("_bindgen_reps", {})
        rep = reps.get(self.type_number)
        if rep is None or self._known.get(rep) is not obj:
            rep = reps[self.type_number] = self._next
            self._next += 1
            self._known[rep] = obj
        return rep

    def own(self, obj: R, cls: type) -> ResourceHost:
        """The own handle giving ``obj`` to the component."""
        rep = self._rep(obj, cls)
        self._owned[rep] = obj
        return ResourceHost.own(rep, self.type_number)

    def borrow(self, obj: R, cls: type) -> ResourceHost:
        """A borrow handle lending ``obj`` to the component for a call."""
        return ResourceHost.borrow(self._rep(obj, cls), self.type_number)

    def _lookup(self, rep: int) -> R:
        obj = self._known.get(rep)
        if obj is None:
            raise WasmError(f"unknown `{self.name}` resource (representation {rep})")
        return obj

    def get(self, store: Any, handle: Any) -> R:
        """The object a borrow handle the component passed stands for."""
        if isinstance(handle, ResourceHost):
            return self._lookup(handle.rep)
        return self._lookup(handle.to_host(store).rep)

    def take(self, store: Any, handle: Any) -> R:
        """The object an own handle the component passed back stands for (the host owns it
        again: the component's handle is gone)."""
        rep = handle.rep if isinstance(handle, ResourceHost) else handle.to_host(store).rep
        obj = self._lookup(rep)
        self._owned.pop(rep, None)
        return obj

    def destroy(self, store: Any, rep: int) -> None:
        """The destructor: the component dropped its handle; the object is closed."""
        obj = self._owned.pop(rep, None)
        if obj is not None:
            obj.close()

    def __len__(self) -> int:
        """How many objects the component owns."""
        return len(self._owned)


def export_func(instance: Instance, store: Any, interface: Optional[str], name: str) -> Func:
    """The exported function ``name`` (of the exported instance ``interface``); LinkError
    when the component does not export it."""
    index = None
    if interface is not None:
        index = instance.get_export_index(store, interface)
        if index is None:
            raise LinkError(f"the component does not export the interface `{interface}`")
    found = instance.get_export_index(store, name, index)
    func = None if found is None else instance.get_func(store, found)
    if func is None:
        where = f" in `{interface}`" if interface is not None else ""
        raise LinkError(f"the component does not export the function `{name}`{where}")
    return func


__all__ = ["Ok", "Err", "Result", "ResultError", "Some", "ExportedResource", "HostResource", "HostTable",
           "export_func", "unexpected"]
