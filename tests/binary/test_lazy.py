"""Lazy decoding of function bodies, for modules with large code sections."""

import pytest

from binary.binhelpers import TYPE_VOID, code_entry, func_module, module, section, u32, vec
from wasmforge.binary import LAZY_THRESHOLD, decode_module
from wasmforge.errors import DecodeError
from wasmforge.opcodes import op

BODY = b"\x41\x01\x04\x7f\x41\x02\x05\x41\x03\x0b\x1a\x0b"


def test_lazy_body_equals_eager_body():
    data = func_module(BODY)
    assert decode_module(data, lazy=True).funcs[0].body == decode_module(data, lazy=False).funcs[0].body


def test_lazy_offsets_are_absolute_byte_offsets():
    data = func_module(BODY)
    f = decode_module(data, lazy=True).funcs[0]
    pairs = list(f.iter_with_offsets())
    assert pairs[0][0] == f.code_offset
    for offset, instr in pairs:
        assert data[offset] == instr[0].code


def test_lazy_locals_are_decoded_up_front():
    data = func_module(b"\x0b", locals_=vec(b"\x03\x7e"))
    assert decode_module(data, lazy=True).funcs[0].locals == ["i64"] * 3


def test_lazy_malformed_body_fails_on_use():
    data = func_module(b"\x01\x27\x0b")      # 0x27 is unassigned (0x06 is now `try`)
    f = decode_module(data, lazy=True).funcs[0]
    with pytest.raises(DecodeError, match="illegal opcode 27") as exc:
        list(f.iter_with_offsets())
    assert exc.value.offset == f.code_offset + 1


def test_lazy_body_ending_early_is_size_mismatch():
    data = func_module(b"\x0b\x01")
    with pytest.raises(DecodeError, match="section size mismatch"):
        decode_module(data, lazy=True).funcs[0].body


def test_lazy_body_without_end_is_unexpected_end():
    data = module(TYPE_VOID, section(3, vec(b"\x00")), section(10, vec(code_entry(b"\x01"))))
    with pytest.raises(DecodeError, match="unexpected end of section or function"):
        decode_module(data, lazy=True).funcs[0].body


def test_lazy_data_index_without_data_count_fails_on_use():
    data = module(TYPE_VOID, section(3, vec(b"\x00")), section(10, vec(code_entry(b"\xfc\x09\x00\x0b"))),
                  section(11, vec(b"\x01\x00")))
    f = decode_module(data, lazy=True).funcs[0]
    with pytest.raises(DecodeError, match="data count section required"):
        f.body


def big_module(tail: bytes) -> bytes:
    """One function whose body is LAZY_THRESHOLD nops followed by ``tail``."""
    return func_module(b"\x01" * LAZY_THRESHOLD + tail)


def test_small_modules_decode_bodies_eagerly():
    with pytest.raises(DecodeError, match="illegal opcode"):
        decode_module(func_module(b"\x27\x0b"))


def test_large_code_sections_decode_lazily_by_default():
    f = decode_module(big_module(b"\x27\x0b")).funcs[0]
    with pytest.raises(DecodeError, match="illegal opcode 27"):
        next(iter(f.iter_with_offsets()))


def test_progress_is_reported_for_large_code_sections():
    calls = []
    decode_module(big_module(b"\x0b"), progress=lambda done, total: calls.append((done, total)))
    assert calls
    assert all(done <= total for done, total in calls)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)
    assert calls[-1][0] == calls[-1][1]          # the code section ends the binary


def test_many_functions_stream_one_at_a_time():
    n = 300
    data = module(TYPE_VOID, section(3, vec(*[b"\x00"] * n)),
                  section(10, vec(*[code_entry(b"\x41" + u32(i % 64) + b"\x1a\x0b") for i in range(n)])))
    m = decode_module(data, lazy=True)
    assert [f.body[0] for f in m.funcs] == [(op("i32.const"), i % 64) for i in range(n)]
