"""String lowering calls ``realloc`` exactly as the explainer's algorithms do: one allocation
when the size is known, else the likely size, a grow to the worst case at the first character
that needs it, and a shrink to the size used."""

from __future__ import annotations

import pytest

from component.abi_support import Heap
from wasmforge.cm import abi
from wasmforge.cm.abi import SourceString
from wasmforge.cm.abi.resources import ComponentState
from wasmforge.cm.types import ERROR_CONTEXT, STRING, StreamType
from wasmforge.errors import NotSupportedError, Trap

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
    # the shrinking realloc keeps the block's alignment, 2 (wasmtime; component-model#54)
    assert heap.calls == [(0, 0, 2, 6), (16, 6, 2, 3)]
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


# ----- the string length limit: the spec's by default, an embedder's larger one on request -----

SPEC_MAX = (1 << 28) - 1
WASMTIME_MAX = (1 << 31) - 1


def test_the_default_limit_is_the_specs():
    assert abi.layout.MAX_STRING_BYTE_LENGTH == SPEC_MAX
    assert ComponentState().max_string_bytes == SPEC_MAX
    heap = Heap(64)
    with pytest.raises(Trap, match="exceeds maximum byte size"):        # before any memory check
        abi.lift_flat(STRING, (0, SPEC_MAX + 1), heap.options("utf8"))


def test_a_larger_implementation_limit_lets_a_longer_string_through_the_length_check():
    state = ComponentState(max_string_bytes=WASMTIME_MAX)
    assert ComponentState(state).max_string_bytes == WASMTIME_MAX        # nested instances inherit it
    heap = Heap(64)
    # past the length check, the next one: the bytes are not in this 64-byte memory
    with pytest.raises(Trap, match="out of bounds of memory"):
        abi.lift_flat(STRING, (0, SPEC_MAX + 1), heap.options("utf8"), state)
    with pytest.raises(Trap, match="exceeds maximum byte size"):
        abi.lift_flat(STRING, (0, WASMTIME_MAX + 1), heap.options("utf8"), state)


def test_under_a_larger_limit_an_allocation_beyond_it_traps_before_realloc():
    state = ComponentState(max_string_bytes=WASMTIME_MAX)
    heap = Heap(64)
    big = from_component("ab", "utf8", 0x4000_0000)        # 2**30 UTF-8 bytes: 2**31 as UTF-16
    with pytest.raises(Trap, match="string content out-of-bounds"):
        abi.lower_flat(STRING, big, heap.options("utf16"), state, source=True)
    assert heap.calls == []
    # under the spec's limit the same sizes are the spec's to make (it asserts they fit)
    heap = Heap(64)
    with pytest.raises(Trap, match="heap exhausted"):
        abi.lower_flat(STRING, big, heap.options("utf16"), source=True)
    assert heap.calls == [(0, 0, 2, 0x8000_0000)]


@pytest.mark.parametrize("bad", [SPEC_MAX - 1, WASMTIME_MAX + 1, 2.0 ** 30, "big"])
def test_a_limit_outside_the_range_is_refused(bad):
    with pytest.raises(ValueError, match="string byte-length limit"):
        ComponentState(max_string_bytes=bad)
