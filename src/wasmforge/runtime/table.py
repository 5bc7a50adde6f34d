"""Table instances (spec 4.2.7)."""

from __future__ import annotations

from ..errors import WasmError
from ..types import Limits, TableType

# Implementation limit on the elements of one table (spec 4.5.3.7 lets table.grow fail for any
# reason).  A table is a Python list of references, 8 bytes a slot: the limit bounds one table
# at 80 MB instead of letting `table.grow` ask for 2^32 slots.
MAX_TABLE_ELEMENTS = 10_000_000


class TableInstance:
    """A table: ``elements`` is a Python list of references (None for null, else a
    FuncInstance or an extern object).  The list object is never replaced, only mutated, so
    the tiers may keep it."""

    __slots__ = ("type", "elements", "max", "__weakref__")

    def __init__(self, type: TableType, init=None):
        limits = type.limits
        self.type = type
        self.max = MAX_TABLE_ELEMENTS if limits.max is None else min(limits.max, MAX_TABLE_ELEMENTS)
        if limits.min > self.max:
            raise WasmError(f"table size {limits.min} exceeds the limit of {self.max} elements")
        self.elements = [init] * limits.min

    def current_type(self) -> TableType:
        """The type as import matching sees it: growth raises the minimum (spec 4.5.3.7)."""
        return TableType(self.type.element, Limits(len(self.elements), self.type.limits.max))

    def grow(self, delta: int, init=None) -> int:
        """Grow by ``delta`` elements set to ``init``; return the old size, or -1 on failure."""
        old = len(self.elements)
        if delta < 0 or old + delta > self.max:
            return -1
        self.elements.extend([init] * delta)
        return old
