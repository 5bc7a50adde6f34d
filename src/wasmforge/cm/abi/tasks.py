"""The part of the canonical ABI's async machinery that runs without an event loop
(CanonicalABI.md, "canon lift" with ``async`` and no ``callback``, "canon task.return",
"canon lower" with ``async``).

A call to an ``async``-lifted export (stackful: no ``callback``) is a :class:`Task` of the
instance it enters, current while its core function runs.  The core function hands its
result over with ``task.return`` (:func:`task_return`), which checks the result type and the
options against the lifted function's and traps when the task already returned.  When the
core function returns, the task must have returned: the wait for a result that could come
later (from another task the event loop would run) is not implemented, so it traps, as the
spec's ``Task.exit`` does for a task that neither returned nor can still run.  An ``async``
lower whose callee completes before it returns reports ``RETURNED`` (:data:`RETURNED`) with
the result stored; nothing here blocks, so every other status is left to the event loop.
"""

from __future__ import annotations

from typing import Any, Callable, List, Optional, Tuple

from ...errors import TrapCode
from ..types import ValType
from .resources import ComponentState, trap

#: ``Subtask.State.RETURNED``: what an ``async`` lower returns when the callee finished.
RETURNED = 2


class Task:
    """One call of an ``async``-lifted export: the lifted function's ``result`` type and
    ``options`` (a tuple the caller builds: string encoding, memory, realloc, compared by
    identity), and, once ``task.return`` ran, the flat core values it was given (``flat``)."""

    __slots__ = ("result", "options", "flat")

    def __init__(self, result: Optional[ValType], options: Tuple[Any, ...]) -> None:
        self.result = result
        self.options = options
        self.flat: Optional[Tuple[Any, ...]] = None


def async_lifted(core: Callable[..., Any], state: ComponentState, result: Optional[ValType],
                 options: Tuple[Any, ...]) -> Callable[..., Tuple[Any, ...]]:
    """The core function ``core`` of an ``async`` lift without ``callback``, run as a task
    of ``state``'s instance: returns the flat values its ``task.return`` gave."""
    tasks = state.tasks

    def run(*args: Any) -> Tuple[Any, ...]:
        task = Task(result, options)
        tasks.append(task)
        try:
            core(*args)
        finally:
            tasks.pop()
        if task.flat is None:
            raise trap("async-lifted export failed to produce a result", TrapCode.NO_ASYNC_RESULT)
        return task.flat
    return run


def task_return(state: ComponentState, result: Optional[ValType], options: Tuple[Any, ...]) -> Callable[..., None]:
    """``canon task.return (result ...)`` with these options, for ``state``'s instance."""
    tasks: List[Task] = state.tasks

    def builtin(*flat: Any) -> None:
        if not state.may_leave:
            raise trap("cannot leave component instance", TrapCode.CANNOT_LEAVE_COMPONENT)
        if not tasks:
            raise trap("task.return invoked outside an async-lifted export's task",
                       TrapCode.TASK_RETURN_INVALID)
        task = tasks[-1]
        if task.result != result:
            raise trap("task.return invoked with an invalid type: the result type differs from the "
                       "lifted function's", TrapCode.TASK_RETURN_INVALID)
        if task.options != options:       # (tuple equality: identity first, per item)
            raise trap("task.return invoked with an invalid type: its options differ from the "
                       "lifted function's", TrapCode.TASK_RETURN_INVALID)
        if task.flat is not None:
            raise trap("task.cancel or task.return called more than once", TrapCode.TASK_CANCEL_OR_RETURN_TWICE)
        task.flat = flat
    return builtin
