"""String lowering calls ``realloc`` exactly as the explainer's algorithms do: one allocation
when the size is known, else the likely size, a grow to the worst case at the first character
that needs it, and a shrink to the size used."""

from __future__ import annotations

import pytest

from component.abi_support import Heap
from wasmforge.cm import abi
from wasmforge.cm.abi import SourceString
from wasmforge.cm.types import ERROR_CONTEXT, STRING, StreamType
from wasmforge.errors import NotSupportedError

TAG = 1 << 31


def lower(s, encoding, source=False):
    heap = Heap(256, start=16)
    ptr, units = abi.lower_flat(STRING, s, heap.options(encoding), source=source)
    return heap, ptr, units


def from_component(s, encoding, units, compact=False):
    out = SourceString(s)
    out.encoding, out.units, out.compact = encoding, units, compact
    return out


def test_host_string_to_utf8_is_one_allocation():
    heap, ptr, units = lower("héllo", "utf8")
    assert heap.calls == [(0, 0, 1, 6)] and units == 6
    assert bytes(heap.memory.data[ptr:ptr + 6]) == "héllo".encode()


def test_utf8_to_utf16_allocates_the_worst_case_then_shrinks():
    heap, ptr, units = lower("héllo", "utf16")          # 6 UTF-8 bytes: at most 12 UTF-16 bytes
    assert heap.calls == [(0, 0, 2, 12), (16, 12, 2, 10)]
    assert units == 5 and bytes(heap.memory.data[ptr:ptr + 10]) == "héllo".encode("utf-16-le")
    heap, ptr, units = lower("ab", "utf16")              # worst case used exactly: no shrink
    assert heap.calls == [(0, 0, 2, 4)]


def test_utf8_to_latin1_or_utf16():
    heap, ptr, units = lower("café", "latin1+utf16")     # Latin-1 fits: shrink 5 -> 4 bytes
    assert heap.calls == [(0, 0, 2, 5), (16, 5, 2, 4)]
    assert units == 4 and bytes(heap.memory.data[ptr:ptr + 4]) == "café".encode("latin-1")
    heap, ptr, units = lower("a\u1234", "latin1+utf16")  # 4 UTF-8 bytes; 'a' written, then widened
    assert heap.calls == [(0, 0, 2, 4), (16, 4, 2, 8), (20, 8, 2, 4)]     # the grow moved it to 20
    assert units == 2 | TAG and bytes(heap.memory.data[ptr:ptr + 4]) == "a\u1234".encode("utf-16-le")
    heap, ptr, units = lower("ab", "latin1+utf16")       # all Latin-1, size exact
    assert heap.calls == [(0, 0, 2, 2)] and units == 2


def test_utf16_source_to_utf8_grows_at_the_first_non_ascii_character():
    s = from_component("ab\u00e9", "utf16", 3)
    heap, ptr, units = lower(s, "utf8", source=True)
    # 3 code units: 3 bytes if ASCII; at 'é' grow to the worst case 9, then shrink to 4
    assert heap.calls == [(0, 0, 1, 3), (16, 3, 1, 9), (19, 9, 1, 4)]
    assert units == 4 and bytes(heap.memory.data[ptr:ptr + 4]) == "abé".encode()


def test_latin1_source_to_utf8_and_utf16():
    s = from_component("abé", "latin1", 3, compact=True)
    heap, _, units = lower(s, "utf8", source=True)
    assert heap.calls == [(0, 0, 1, 3), (16, 3, 1, 6), (19, 6, 1, 4)] and units == 4
    heap, _, units = lower(s, "utf16", source=True)      # a plain copy, 2 bytes a unit
    assert heap.calls == [(0, 0, 2, 6)] and units == 3
    heap, _, units = lower(s, "latin1+utf16", source=True)
    assert heap.calls == [(0, 0, 2, 3)] and units == 3


def test_compact_utf16_source_to_latin1_or_utf16():
    s = from_component("abc", "utf16", 3, compact=True)  # tagged UTF-16 that fits Latin-1
    heap, ptr, units = lower(s, "latin1+utf16", source=True)
    assert heap.calls == [(0, 0, 2, 6), (16, 6, 1, 3)]
    assert units == 3 and bytes(heap.memory.data[ptr:ptr + 3]) == b"abc"
    s = from_component("a\u1234", "utf16", 2, compact=True)
    heap, ptr, units = lower(s, "latin1+utf16", source=True)
    assert heap.calls == [(0, 0, 2, 4)] and units == 2 | TAG


def test_plain_utf16_source_to_latin1_or_utf16():
    s = from_component("abc", "utf16", 3)
    heap, _, units = lower(s, "latin1+utf16", source=True)
    assert heap.calls == [(0, 0, 2, 3)] and units == 3


def test_empty_strings_still_allocate_as_the_spec_does():
    heap, _, units = lower("", "utf16")
    assert heap.calls == [(0, 0, 2, 0)] and units == 0


def test_error_context_and_async_values_are_not_supported_yet():
    for t in (ERROR_CONTEXT, StreamType(None)):
        with pytest.raises(NotSupportedError):
            abi.lower_flat(t, 1)
