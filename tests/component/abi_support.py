"""Shared set-up of the canonical ABI tests: a bump allocator over a test memory, as the
reference tests' ``Heap`` (its realloc grows by copying, shrinks in place)."""

from __future__ import annotations

from wasmforge.cm.abi import BytesMemory, CanonOptions
from wasmforge.errors import Trap


class Heap:
    def __init__(self, size_or_bytes, start: int = 0):
        self.memory = BytesMemory(size_or_bytes)
        self.last_alloc = start
        self.calls = []

    def realloc(self, old, old_size, align, new_size):
        self.calls.append((old, old_size, align, new_size))
        if old != 0 and new_size < old_size:
            return (old + align - 1) & -align
        ret = (self.last_alloc + align - 1) & -align
        self.last_alloc = ret + new_size
        if self.last_alloc > self.memory.size:
            raise Trap("heap exhausted")
        data = self.memory.data
        data[ret:ret + old_size] = data[old:old + old_size]
        return ret

    def options(self, encoding: str = "utf8", ptr: str = "i32", **kw) -> CanonOptions:
        return CanonOptions(encoding, self.memory, self.realloc, ptr=ptr, **kw)
