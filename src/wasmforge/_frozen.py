"""Immutable values equal by their fields: what ``@dataclass(frozen=True)`` made of the
classes of types.py, features.py and wasi/config.py, written out once (the decorator generated
and compiled each class's methods when ``wasmforge`` was imported: with module.py's records,
about a tenth of a warm ``wasmforge run``'s start, docs/performance.md, "Start-up, sixth
pass")."""

from __future__ import annotations

from typing import Any, NoReturn, Tuple


class Frozen:
    """Immutable (assigning or deleting an attribute raises AttributeError, as a frozen
    dataclass's ``FrozenInstanceError`` is one); equal, when of the same class, and hashed by
    :meth:`_key`, the values of the fields :attr:`_fields` names, which ``repr`` shows.  A
    subclass sets its fields in ``__init__`` with ``object.__setattr__``."""

    __slots__ = ()
    _fields: Tuple[str, ...] = ()

    def _key(self) -> Tuple[Any, ...]:
        return tuple([getattr(self, name) for name in self._fields])

    def __eq__(self, other: object) -> bool:
        if other.__class__ is self.__class__:
            return self._key() == other._key()
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._fields)
        return f"{self.__class__.__qualname__}({shown})"

    def __setattr__(self, name: str, value: object) -> NoReturn:
        raise AttributeError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> NoReturn:
        raise AttributeError(f"cannot delete field {name!r}")
