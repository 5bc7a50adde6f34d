"""Sandboxes: a store and a component instance in it that can be put back to their state
right after instantiation, to serve another call as a new instance would (what wasmtime's
pooling allocator and copy-on-write memory images give ``wasmtime serve``).

A :class:`Sandbox` instantiates an :class:`~wasmforge.component.InstancePre` in a new store
and snapshots what the instance can change: every core instance's memories (contents, copy-on-write
from an image of them, and size), mutable globals, tables and dropped segments
(runtime/store.py ``StoreSnapshot``), and every component instance's handle table and flags
(cm/instance.py ``ComponentSnapshot``).  :meth:`Sandbox.reset` puts all of it back;
:meth:`Sandbox.renew_wasi` gives the store a new WASI context (a new ``WasiConfig``, an
empty resource table) in place of the one the instance's WASI functions are bound to.

A sandbox is refused (:attr:`Sandbox.refusal`, and the caller instantiates anew per call)
where a snapshot could not stand for a new instance:

- the component imports something other than the WASI host's interfaces (the embedder's
  functions: whether instantiation called them cannot be seen);
- its instantiation called the host (a start function that read the clock or drew random
  bytes: a snapshot would replay them for every call);
- some state has no snapshot: exception tags, the GC heap, shared memories, host-created
  objects in the store, a tier's own state it refuses (runtime/instance.py
  ``instance_refusal``).

Resetting is the caller's to decide: only after a call that ended cleanly (a trap, an
exit, a deadline or an abandoned call leave state half-changed that a caller should not
trust even put back; dropping costs only a new instance).
"""

from __future__ import annotations

from typing import Any, List, Optional

from ..api.store import Store
from ..cm.instance import ComponentSnapshot
from ..errors import WasmError
from ..runtime.memory import Unrecyclable
from ..runtime.store import StoreSnapshot
from ..wasi.config import WasiConfig
from ..wasip2 import p2_ctx
from ..wasip2.ctx import renew_p2_ctx
from ._instance import Instance
from ._linker import InstancePre


def pre_refusal(pre: InstancePre) -> Optional[str]:
    """Why the instances of ``pre`` are never recycled whatever they do (None: they may be)."""
    wasi = {n for n, _ in pre._wasi}
    others = [n for n, _ in pre._component._type.imports if n not in wasi]
    if others:
        return f"it imports {others[0]!r}, which the WASI host does not answer (calls to it cannot be seen)"
    return None


class Sandbox:
    """A new instance of ``pre`` in ``store`` (given its settings: limits, WASI), with the
    snapshots that put it back (``like``: :attr:`images` of an earlier sandbox of the same
    ``pre``, shared where its memories' contents are the same).  ``refusal``
    says why it cannot be put back (None: it can); the instance serves one call then."""

    __slots__ = ("store", "instance", "refusal", "_store_snap", "_comp_snap", "uses", "handle")

    def __init__(self, pre: InstancePre, store: Store, like: Optional[List[List[Any]]] = None) -> None:
        self.store = store
        self.refusal: Optional[str] = pre_refusal(pre)
        ctx = p2_ctx(store)
        self.instance: Instance = pre.instantiate(store)
        self._store_snap: Optional[StoreSnapshot] = None
        self._comp_snap: Optional[ComponentSnapshot] = None
        #: the times it was put back to new
        self.uses = 0
        #: the caller's to keep with it (wasmforge serve: the handler function)
        self.handle: Any = None
        if self.refusal is not None:
            return
        if ctx.called:
            # (a context called before, by an earlier use of the store, hides whether this
            # instantiation called it: refused too)
            self.refusal = "its instantiation called the host (a start function: a snapshot would replay it)"
            return
        try:
            self._comp_snap = self.instance._i.snapshot()
            self._store_snap = store.snapshot(like)
        except (WasmError, OSError) as exc:
            # (Unrecyclable; or the snapshot's file could not be made: the memories' bytes
            # are the same whichever mapping holds them, the instance serves its call)
            self.refusal = str(exc) if isinstance(exc, Unrecyclable) else f"no snapshot: {exc}"
            self._comp_snap = self._store_snap = None
            return
        store._sandbox = self

    @property
    def images(self) -> Optional[List[List[Any]]]:
        """Its memory images (runtime/store.py ``StoreSnapshot.images``), for ``like`` (None:
        refused)."""
        return self._store_snap.images if self._store_snap is not None else None

    def reset(self) -> Optional[str]:
        """Put the store and the instance back to their state right after instantiation;
        None, or why that could not be done (then the sandbox must be dropped)."""
        snap, comp = self._store_snap, self._comp_snap
        if snap is None or comp is None:
            return self.refusal or "no snapshot"
        reason = snap.reset()
        if reason is not None:
            return reason
        comp.reset()
        self.uses += 1
        return None

    def renew_wasi(self, config: WasiConfig) -> Any:
        """Give the store a new WASI context of ``config``, the one its instance is bound to
        made new (wasip2/ctx.py ``renew_p2_ctx``); the WASI 0.2 context."""
        self.store.set_wasi(config)
        return renew_p2_ctx(self.store)

    def close(self) -> None:
        """Release the store (its memories go back to the reservation pool)."""
        self.store.close()
        self.store._sandbox = self._store_snap = self._comp_snap = None


__all__ = ["Sandbox", "pre_refusal"]
