"""Decoding each section of the binary format, and every error the decoder reports."""

import pytest

from binary.binhelpers import HEADER, ONE_FUNC, TYPE_VOID, code_entry, func_module, module, name, section, u32, vec
from wasmforge.binary import MAX_LOCALS, decode_module
from wasmforge.errors import DecodeError
from wasmforge.module import ACTIVE, DECLARATIVE, PASSIVE, Custom, Data, Elem, Export, Import
from wasmforge.opcodes import SELECT_T, op
from wasmforge.types import FuncType, GlobalType, Limits, MemoryType, TableType

END = (op("end"),)


def malformed(data: bytes, message: str, **kwargs) -> DecodeError:
    with pytest.raises(DecodeError) as exc:
        decode_module(data, **kwargs)
    assert exc.value.reason.startswith(message), exc.value.reason
    return exc.value


def body_of(body: bytes, extra: bytes = b"") -> list:
    return decode_module(func_module(body, extra=extra), lazy=False).funcs[0].body


# ----- header -----

def test_empty_module():
    m = decode_module(HEADER)
    assert m.types == [] and m.funcs == [] and m.customs == []


def test_empty_input_is_unexpected_end():
    assert malformed(b"", "unexpected end").offset == 0


def test_wrong_magic():
    assert malformed(b"\x00ASM\x01\x00\x00\x00", "magic header not detected").offset == 0


def test_truncated_version_is_unexpected_end():
    malformed(b"\x00asm\x01\x00", "unexpected end")


def test_wrong_version():
    assert malformed(b"\x00asm\x02\x00\x00\x00", "unknown binary version").offset == 4


def test_accepts_memoryview_and_bytearray():
    data = func_module(b"\x0b")
    assert decode_module(memoryview(data)) == decode_module(bytearray(data))


# ----- section framing -----

def test_malformed_section_id():
    # 0x0d is the tag section of the exception-handling proposal; 0x0e is the first unknown id,
    # as in the spec suite's binary.wast.
    assert malformed(module(b"\x0e\x00"), "malformed section id").offset == 8


def test_duplicate_section_is_unexpected_content():
    e = malformed(module(TYPE_VOID, TYPE_VOID), "unexpected content after last section")
    assert e.offset == 8 + len(TYPE_VOID)


def test_sections_out_of_order():
    malformed(module(ONE_FUNC, TYPE_VOID), "unexpected content after last section")


def test_data_count_goes_between_element_and_code_sections():
    m = decode_module(module(section(9, vec()), section(12, u32(0)), section(10, vec())))
    assert m.data_count == 0


def test_section_size_larger_than_content():
    # A type section claiming 4 bytes but holding 3, followed by one more byte.
    e = malformed(module(b"\x01\x05\x01\x60\x00\x00", b"\x00"), "section size mismatch")
    assert e.offset == 10


def test_section_size_beyond_end_of_binary():
    malformed(module(b"\x01\x10\x00"), "length out of bounds")


def test_vector_length_beyond_end_of_binary():
    malformed(module(b"\x01\x02\x05\x60"), "length out of bounds")


def test_truncated_section_is_unexpected_end():
    e = malformed(module(b"\x05\x01\x01"), "unexpected end of section or function")
    assert e.offset == 11


# ----- type, import, function, table, memory, global, export, start -----

def test_type_section():
    m = decode_module(module(section(1, vec(b"\x60\x02\x7f\x7b\x01\x6f", b"\x60\x00\x00"))))
    assert m.types == [FuncType(["i32", "v128"], ["externref"]), FuncType()]


def test_malformed_function_type_form():
    malformed(module(section(1, vec(b"\x61\x00\x00"))), "malformed function type")


def test_malformed_value_type():
    malformed(module(section(1, vec(b"\x60\x01\x55\x00"))), "malformed value type")


def test_import_section_all_kinds():
    imports = vec(
        name("m") + name("f") + b"\x00\x00",
        name("m") + name("t") + b"\x01\x70\x01\x01\x02",
        name("m") + name("mem") + b"\x02\x00\x03",
        name("m") + name("g") + b"\x03\x7e\x01",
    )
    m = decode_module(module(TYPE_VOID, section(2, imports)))
    assert m.imports == [
        Import("m", "f", "func", 0),
        Import("m", "t", "table", TableType("funcref", Limits(1, 2))),
        Import("m", "mem", "memory", MemoryType(Limits(3))),
        Import("m", "g", "global", GlobalType("i64", True)),
    ]


def test_malformed_import_kind():
    # Kind 4 is a tag (exception handling), except in the 2.0 format alone.
    e = malformed(module(section(2, vec(name("a") + name("b") + b"\x05"))), "malformed import kind")
    assert e.offset == 15
    with pytest.raises(DecodeError, match="malformed import kind"):
        decode_module(module(section(2, vec(name("a") + name("b") + b"\x04\x00\x00"))),
                      features=frozenset(), strict=True)


def test_import_name_must_be_utf8():
    e = malformed(module(section(2, vec(b"\x01\xff" + name("b") + b"\x00\x00"))),
                  "malformed UTF-8 encoding")
    assert e.offset == 11


def test_table_and_memory_sections():
    m = decode_module(module(section(4, vec(b"\x6f\x00\x05")), section(5, vec(b"\x01\x01\x80\x80\x04"))))
    assert m.tables[0].type == TableType("externref", Limits(5))
    assert m.mems[0].type == MemoryType(Limits(1, 65536))


def test_limits_flag_is_a_u1_in_2_0():
    malformed(module(section(5, vec(b"\x02\x00"))), "integer too large", features=frozenset())


def test_limits_flags_are_a_byte_with_memory64():
    # memory64: the flags are a byte; bit 2 marks a 64-bit memory, other bits are malformed
    # (bit 1, a shared memory, only with the threads proposal: see the next test).
    malformed(module(section(5, vec(b"\x08\x00"))), "malformed limits flags")
    malformed(module(section(5, vec(b"\x81\x00\x00"))), "malformed limits flags")
    m = decode_module(module(section(5, vec(b"\x05\x01\x80\x80\x80\x80\x20"))))
    assert m.mems[0].type == MemoryType(Limits(1, 1 << 33), is_64=True)


def test_limits_shared_flag_with_threads():
    data = module(section(5, vec(b"\x03\x01\x02")))
    malformed(data, "malformed limits flags", features=frozenset(("memory64",)), strict=True)
    malformed(data, "integer too large", features=frozenset())
    # Read whatever is switched on (the validator refuses a switched-off threads by name).
    assert decode_module(data).mems[0].type.shared
    m = decode_module(data, features=frozenset(("threads",)))
    assert m.mems[0].type == MemoryType(Limits(1, 2), shared=True)
    m = decode_module(module(section(5, vec(b"\x07\x01\x02"))),
                      features=frozenset(("threads", "memory64")))
    assert m.mems[0].type == MemoryType(Limits(1, 2), is_64=True, shared=True)
    # A table is never shared.
    malformed(module(section(4, vec(b"\x70\x03\x01\x02"))), "malformed limits flags",
              features=frozenset(("threads", "memory64")))


def test_table_element_type_must_be_a_reference_type():
    malformed(module(section(4, vec(b"\x7f\x00\x00"))), "malformed reference type")


def test_global_section():
    m = decode_module(module(section(6, vec(b"\x7f\x01\x41\x2a\x0b"))))
    g = m.globals[0]
    assert g.type == GlobalType("i32", True)
    assert g.init == [(op("i32.const"), 42), END]


def test_malformed_mutability():
    e = malformed(module(section(6, vec(b"\x7f\x02\x41\x00\x0b"))), "malformed mutability")
    assert e.offset == 12


def test_export_section():
    m = decode_module(module(section(7, vec(name("x") + b"\x02\x00", name("y") + b"\x03\x81\x01"))))
    assert m.exports == [Export("x", "memory", 0), Export("y", "global", 129)]


def test_malformed_export_kind():
    # Kind 4 is a tag (exception handling); 5 is the first unknown kind.
    malformed(module(section(7, vec(name("x") + b"\x05\x00"))), "malformed export kind")


def test_start_section():
    m = decode_module(module(TYPE_VOID, ONE_FUNC, section(8, u32(0)), section(10, vec(code_entry(b"\x0b")))))
    assert m.start == 0


# ----- elements (all eight encodings) -----

OFFSET = b"\x41\x03\x0b"
OFFSET_EXPR = [(op("i32.const"), 3), END]


def ref_func(x):
    return [(op("ref.func"), x), END]


def elem_of(payload: bytes) -> Elem:
    return decode_module(module(section(9, vec(payload)))).elems[0]


@pytest.mark.parametrize("payload, expected", [
    (b"\x00" + OFFSET + vec(b"\x01", b"\x02"),
     Elem("funcref", [ref_func(1), ref_func(2)], ACTIVE, 0, OFFSET_EXPR)),
    (b"\x01\x00" + vec(b"\x07"), Elem("funcref", [ref_func(7)], PASSIVE)),
    (b"\x02\x01" + OFFSET + b"\x00" + vec(b"\x04"), Elem("funcref", [ref_func(4)], ACTIVE, 1, OFFSET_EXPR)),
    (b"\x03\x00" + vec(b"\x05"), Elem("funcref", [ref_func(5)], DECLARATIVE)),
    (b"\x04" + OFFSET + vec(b"\xd2\x01\x0b", b"\xd0\x70\x0b"),
     Elem("funcref", [ref_func(1), [(op("ref.null"), "funcref"), END]], ACTIVE, 0, OFFSET_EXPR)),
    (b"\x05\x6f" + vec(b"\xd0\x6f\x0b"), Elem("externref", [[(op("ref.null"), "externref"), END]], PASSIVE)),
    (b"\x06\x02" + OFFSET + b"\x70" + vec(b"\xd2\x00\x0b"), Elem("funcref", [ref_func(0)], ACTIVE, 2, OFFSET_EXPR)),
    (b"\x07\x70" + vec(b"\xd2\x03\x0b"), Elem("funcref", [ref_func(3)], DECLARATIVE)),
], ids=[f"kind{i}" for i in range(8)])
def test_element_segment_encodings(payload, expected):
    assert elem_of(payload) == expected


def test_malformed_elements_segment_kind():
    malformed(module(section(9, vec(b"\x08"))), "malformed elements segment kind")


def test_malformed_element_kind():
    malformed(module(section(9, vec(b"\x01\x01\x00"))), "malformed element kind")


# ----- data and data count -----

def test_data_segments():
    m = decode_module(module(section(11, vec(b"\x00" + OFFSET + name("ab"), b"\x01" + name("c"),
                                             b"\x02\x01" + OFFSET + name("")))))
    assert m.datas == [Data(b"ab", ACTIVE, 0, OFFSET_EXPR), Data(b"c", PASSIVE),
                       Data(b"", ACTIVE, 1, OFFSET_EXPR)]
    assert m.data_count is None


def test_malformed_data_segment_kind():
    malformed(module(section(11, vec(b"\x03"))), "malformed data segment kind")


def test_data_count_must_match_data_section():
    malformed(module(section(12, u32(2)), section(11, vec(b"\x01\x00"))),
              "data count and data section have inconsistent lengths")


def test_memory_init_requires_data_count():
    malformed(func_module(b"\x41\x00\x41\x00\x41\x00\xfc\x08\x00\x00\x0b"), "data count section required")


def test_data_drop_with_data_count_decodes():
    body = decode_module(module(TYPE_VOID, ONE_FUNC, section(12, u32(1)),
                                section(10, vec(code_entry(b"\xfc\x09\x00\x0b"))),
                                section(11, vec(b"\x01\x00"))), lazy=False).funcs[0].body
    assert body == [(op("data.drop"), 0), END]


# ----- code -----

def test_function_and_code_counts_must_match():
    malformed(module(TYPE_VOID, ONE_FUNC), "function and code section have inconsistent lengths")


def test_locals_are_expanded():
    m = decode_module(func_module(b"\x0b", locals_=vec(b"\x02\x7f", b"\x01\x7c")))
    assert m.funcs[0].locals == ["i32", "i32", "f64"]


@pytest.mark.parametrize("locals_", [
    vec(b"\x05\x7e"),                                     # one entry: read inline
    vec(u32(200) + b"\x7d"),                               # one entry, a two-byte count
    vec(b"\x02\x7f", b"\x01\x7c"),                      # one-byte counts: read inline
    vec(u32(200) + b"\x7e", u32(16383) + b"\x7f"),         # two-byte counts: inline too
    vec(u32(16384) + b"\x7f"),                            # a longer count: by the reader
    vec(b"\x80\x00\x7f", b"\x01\x70"),                  # an over-long count, a reference
    vec(*[b"\x01\x7f"] * 130),                             # a long vector: by the reader
    vec(b"\x01\x63\x70"),                                 # a typed reference: by the reader
])
def test_locals_read_inline_are_those_the_reader_gives(locals_, monkeypatch):
    from wasmforge.binary.decode import _ModuleDecoder
    # A body longer than 127 bytes too (its entry size a two-byte LEB128).
    data = func_module(b"\x01" * 200 + b"\x0b", locals_=locals_)
    inline = decode_module(data, features=frozenset({"function-references"}))
    monkeypatch.setattr(_ModuleDecoder, "inline", False)
    read = decode_module(data, features=frozenset({"function-references"}))
    assert inline.funcs[0].locals == read.funcs[0].locals
    assert inline.funcs[0].body == read.funcs[0].body


@pytest.mark.parametrize("lazy", [False, True])
def test_a_decoded_function_has_every_slot_its_constructor_sets(lazy):
    from wasmforge.module import Func
    got = decode_module(func_module(b"\x01\x0b", locals_=vec(b"\x02\x7f")), lazy=lazy).funcs[0]
    made = Func(got.typeidx, got.locals, got._body, code=got._code, code_offset=got.code_offset,
                decode=got._decode, body_offset=got.body_offset)
    for slot in Func.__slots__:
        assert getattr(got, slot) is getattr(made, slot) or getattr(got, slot) == getattr(made, slot), slot
    assert got.locals == ["i32", "i32"] and got.body == [(op("nop"),), END]


def _decoded(data: bytes, lazy: bool) -> tuple:
    """What decoding ``data`` gives, to compare: the error (its message has the offset), or
    each function's parts and the element segments."""
    try:
        m = decode_module(data, lazy=lazy)
    except DecodeError as e:
        return "error", str(e)
    return "module", [(f.typeidx, f.locals, f._body, bytes(f._code), f.code_offset, f.body_offset)
                      for f in m.funcs], m.elems


def _mutants(data: bytes, start: int, stop: int):
    """``data`` with each byte from ``start`` to ``stop`` replaced by values that make or
    break the forms the decoder reads inline (LEB128 ends and continuations, 5-byte
    LEB128s' high bits, value types, vector counts, one more or less), and ``data`` cut
    short at each of those bytes."""
    for at in range(start, stop):
        was = data[at]
        for b in {0x00, 0x01, 0x02, 0x10, 0x40, 0x63, 0x70, 0x7B, 0x7F, 0x80, 0x81, 0xFF,
                  was ^ 0x80, (was + 1) & 0xFF, (was - 1) & 0xFF}:
            yield data[:at] + bytes([b]) + data[at + 1:]
        yield data[:at]


# Code entries of every form the section's loop reads inline and of forms it leaves to the
# readers; element segments of function indexes of one to five bytes.
_ENTRIES = [
    code_entry(b"\x0b", vec()),                                   # no locals
    code_entry(b"\x01\x0b", vec(b"\x05\x7e")),                    # one entry, one-byte count
    code_entry(b"\x0b", vec(u32(200) + b"\x7d")),                   # a two-byte count
    code_entry(b"\x0b", vec(*[b"\x01\x7f"] * 64)),                  # 64 entries, a two-byte size
    code_entry(b"\x0b", vec(b"\x02\x7f", b"\x01\x7c")),            # two entries
    code_entry(b"\x0b", vec(b"\x80\x00\x7f", b"\x01\x70")),        # an over-long count
    code_entry(b"\x0b", vec(b"\x01\x63\x70")),                     # a typed reference
    b"\x83\x80\x80\x80\x00" + vec() + b"\x01\x0b",                # a five-byte size
]
_ELEMS = section(9, vec(b"\x00\x41\x00\x0b" + vec(b"\x00", b"\x81\x00", b"\x81\x80\x00",
                                                        b"\x81\x80\x80\x00", b"\x81\x80\x80\x80\x00")))


@pytest.mark.parametrize("lazy", [False, True])
def test_what_is_read_inline_is_read_as_the_readers_read_it(lazy, monkeypatch):
    from wasmforge.binary.decode import UNEXPECTED_END, _ModuleDecoder
    n = len(_ENTRIES)
    # Bytes after the code section that read as plain locals: a misread count or size
    # meets no end of the buffer.
    after = section(0, name("x") + b"\x01\x7f" * 200)
    data = module(TYPE_VOID, section(3, vec(*[b"\x00"] * n)), section(4, vec(b"\x70\x00\x08")),
                  _ELEMS, section(10, vec(*_ENTRIES)), after)
    # MAX_LOCALS in all, in two-byte counts (a mutant has one more, or fewer).
    assert MAX_LOCALS == 3 * 16383 + 851
    most = func_module(b"\x0b", vec(u32(16383) + b"\x7f", u32(16383) + b"\x7e",
                                    u32(16383) + b"\x7d", u32(851) + b"\x7c"))
    # 130 entries, a two-byte count: read from its second byte, as a one-byte count would
    # be, the bytes still read as entries.
    many = func_module(b"\x0b", vec(*[b"\x7f\x7f"] * 130))
    mutants = [*_mutants(data, data.index(_ELEMS), len(data) - len(after)),
               *_mutants(most, len(most) - len(section(10, b"")) - 16, len(most)),
               *_mutants(many, many.index(b"\x82\x01\x7f"), many.index(b"\x82\x01\x7f") + 4)]
    inline = [_decoded(x, lazy) for x in mutants]
    monkeypatch.setattr(_ModuleDecoder, "inline", False)
    read = [_decoded(x, lazy) for x in mutants]
    assert inline == read
    # The mutants reach what is refused and what is not, in each form.
    messages = {x[1].split(" (")[0] for x in read if x[0] == "error"}
    assert {"integer too large", "integer representation too long", "malformed value type",
            "too many locals", UNEXPECTED_END, "length out of bounds",
            "section size mismatch"} <= messages
    assert sum(x[0] == "module" for x in read) > 100
    assert _decoded(data, lazy)[0] == _decoded(most, lazy)[0] == _decoded(many, lazy)[0] == "module"


def test_too_many_locals():
    malformed(func_module(b"\x0b", locals_=vec(u32(MAX_LOCALS) + b"\x7f", b"\x01\x7e")), "too many locals")


def test_local_count_is_a_u32():
    malformed(func_module(b"\x0b", locals_=vec(b"\x80\x80\x80\x80\x10\x7f")), "integer too large")


def test_code_entry_size_mismatch():
    # The entry claims one byte more than the body uses.
    data = module(TYPE_VOID, ONE_FUNC, section(10, vec(b"\x03\x00\x0b\x01")))
    malformed(data, "section size mismatch")


def test_code_offset_points_at_first_instruction():
    data = func_module(b"\x01\x0b")
    f = decode_module(data, lazy=False).funcs[0]
    assert data[f.code_offset] == 0x01


# ----- instructions -----

def test_illegal_opcode():
    # (0x06 is the legacy `try` of exception handling; 0x27 is unassigned.)
    e = malformed(func_module(b"\x27\x0b"), "illegal opcode 27")
    assert e.offset == len(func_module(b"\x27\x0b")) - 2


def test_illegal_prefixed_opcode():
    malformed(func_module(b"\xfc\x12\x0b"), "illegal opcode fc 12")


def test_missing_end_runs_into_next_function():
    data = module(TYPE_VOID, section(3, vec(b"\x00", b"\x00")),
                  section(10, vec(b"\x04\x00\x41\x01\x1a", b"\x05\x00\x41\x01\x1a\x0b")))
    malformed(data, "END opcode expected")


def test_missing_end_at_end_of_binary():
    malformed(module(TYPE_VOID, ONE_FUNC, section(10, vec(b"\x04\x00\x41\x01\x1a"))),
              "unexpected end of section or function")


def test_else_outside_if():
    malformed(func_module(b"\x02\x40\x05\x0b\x0b"), "END opcode expected")


def test_second_else_in_if():
    malformed(func_module(b"\x41\x00\x04\x40\x05\x05\x0b\x0b"), "END opcode expected")


def test_if_else_structure():
    assert [i[0].name for i in body_of(b"\x41\x01\x04\x7f\x41\x02\x05\x41\x03\x0b\x1a\x0b")] == [
        "i32.const", "if", "i32.const", "else", "i32.const", "end", "drop", "end"]


def test_reserved_memory_byte_must_be_zero_in_2_0():
    malformed(func_module(b"\x3f\x01\x1a\x0b"), "zero byte expected", features=frozenset())


def test_reserved_memory_byte_must_not_be_a_long_zero_in_2_0():
    malformed(func_module(b"\x3f\x80\x00\x1a\x0b"), "zero byte expected", features=frozenset())


def test_memory_indexes_with_multi_memory():
    # The 2.0 reserved byte is a u32 memory index; memarg flag bit 6 adds one after the flags.
    assert body_of(b"\x3f\x80\x00\x1a\x0b")[0] == (op("memory.size"), 0)
    assert body_of(b"\x3f\x03\x1a\x0b")[0] == (op("memory.size"), 3)
    assert body_of(b"\x41\x00\x28\x42\x02\x07\x1a\x0b")[1] == (op("i32.load"), 2, 7, 2)
    assert body_of(b"\x41\x00\x28\x02\x07\x1a\x0b")[1] == (op("i32.load"), 2, 7)
    assert body_of(b"\x41\x00\x41\x00\x41\x00\xfc\x0a\x01\x02\x0b")[3] == (op("memory.copy"), 1, 2)


def test_memarg_offsets_are_u64_with_memory64():
    big = b"\x80\x80\x80\x80\x80\x80\x01"            # 2^42
    assert body_of(b"\x41\x00\x28\x02" + big + b"\x1a\x0b")[1] == (op("i32.load"), 2, 1 << 42)
    malformed(func_module(b"\x41\x00\x28\x02" + big + b"\x1a\x0b"),
              "integer representation too long", features=frozenset())


def test_alignment_of_32_or_more_is_malformed():
    malformed(func_module(b"\x41\x00\x28\x20\x00\x1a\x0b"), "malformed memop flags")


def test_immediates_decode_to_the_documented_values():
    body = body_of(
        b"\x41\x7f"                                 # i32.const -1
        b"\x42\x80\x80\x80\x80\x80\x80\x80\x80\x80\x7f"  # i64.const -2^63
        b"\x43\x01\x00\xa0\x7f"                     # f32.const sNaN with payload
        b"\x44\x00\x00\x00\x00\x00\x00\xf0\x3f"     # f64.const 1.0
        b"\xfd\x0c" + bytes(range(16)) +            # v128.const
        b"\x28\x02\x10"                             # i32.load align=2 offset=16
        b"\x0e\x02\x00\x01\x02"                     # br_table 0 1 2
        b"\x1c\x01\x7e"                             # select (result i64)
        b"\xd0\x6f"                                 # ref.null extern
        b"\x02\x00\x0b"                             # block (type 0)
        b"\x0b")
    assert body[:-1] == [
        (op("i32.const"), -1),
        (op("i64.const"), -(1 << 63)),
        (op("f32.const"), 0x7FA00001),
        (op("f64.const"), 0x3FF0000000000000),
        (op("v128.const"), int.from_bytes(bytes(range(16)), "little")),
        (op("i32.load"), 2, 16),
        (op("br_table"), (0, 1), 2),
        (SELECT_T, ("i64",)),
        (op("ref.null"), "externref"),
        (op("block"), 0),
        END,
    ]


def test_negative_block_type_is_malformed():
    malformed(func_module(b"\x02\x41\x0b\x0b"), "malformed block type")


def test_constant_expression_missing_end():
    # The expression runs on past its section (as in the reference interpreter).  Every
    # section id that may follow a global section is an opcode since exception handling
    # (0x07-0x0a catch/throw/rethrow/throw_ref), so the binary ends there instead.
    malformed(module(TYPE_VOID, b"\x06\x05\x01\x7f\x00\x41\x00"), "unexpected end")


# ----- custom sections and names -----

def test_custom_sections_remember_their_place():
    data = module(section(0, name("a") + b"1"), TYPE_VOID, section(0, name("b") + b"22"))
    assert decode_module(data).customs == [Custom("a", b"1", 0), Custom("b", b"22", 1)]


def test_custom_section_name_must_be_utf8():
    malformed(module(section(0, b"\x02\xc0\x80")), "malformed UTF-8 encoding")


def test_custom_section_name_longer_than_section():
    malformed(module(b"\x00\x01\x05abcde"), "unexpected end")


def namemap(*pairs) -> bytes:
    return vec(*(u32(i) + name(s) for i, s in pairs))


def test_name_section_is_decoded():
    payload = name("name") + b"".join([
        section(0, name("mod")),
        section(1, namemap((0, "f"), (1, "g"))),
        section(2, vec(u32(1) + namemap((0, "x")))),
        section(3, b"\x00"),                      # labels: skipped
        section(4, namemap((0, "t"))), section(5, namemap((0, "tab"))),
        section(6, namemap((0, "mem"))), section(7, namemap((2, "glob"))),
        section(8, namemap((0, "e"))), section(9, namemap((0, "d"))),
    ])
    m = decode_module(module(section(0, payload)))
    n = m.names
    assert (n.module, n.funcs, n.locals) == ("mod", {0: "f", 1: "g"}, {1: {0: "x"}})
    assert (n.types, n.tables, n.memories, n.globals, n.elems, n.datas) == (
        {0: "t"}, {0: "tab"}, {0: "mem"}, {2: "glob"}, {0: "e"}, {0: "d"})
    assert m.customs == []


def test_malformed_name_section_is_kept_as_raw_custom_section():
    payload = name("name") + section(1, b"\x05\x00")        # vector runs past the subsection
    m = decode_module(module(section(0, payload)))
    assert m.names.is_empty()
    assert m.customs == [Custom("name", payload[5:], 0)]


def test_name_maps_of_every_entry_form_decode_alike():
    # Entries read inline (an index of one or two bytes, a name under 128 bytes) and those
    # left to the readers (a three-byte index, a long or non-minimally encoded name length)
    # give the same map; a malformed name or a truncated map makes the section raw.
    pairs = [(0, "a"), (127, "b" * 127), (128, "c"), (16383, "d" * 128), (16384, "é"),
             (2 ** 32 - 1, "")]
    padded = b"\x81\x00" + b"\x81\x00" + b"x"         # index 1 and a 1-byte name, padded LEB128s
    payload = name("name") + section(1, vec(*(u32(i) + name(s) for i, s in pairs), padded))
    assert decode_module(module(section(0, payload))).names.funcs == {**dict(pairs), 1: "x"}
    for bad in (u32(5) + b"\x02\xc0\x80", u32(5) + b"\x05ab", u32(200) + b"\x01"):
        payload = name("name") + section(1, vec(bad))
        m = decode_module(module(section(0, payload)))
        assert m.names.is_empty() and m.customs[0].name == "name"


def test_name_subsections_out_of_order_make_the_section_raw():
    payload = name("name") + section(1, namemap((0, "f"))) + section(0, name("m"))
    m = decode_module(module(section(0, payload)))
    assert m.names.is_empty() and m.customs[0].name == "name"


# ----- robustness -----

def test_every_truncation_raises_decode_error():
    data = func_module(b"\x41\x01\x04\x7f\x41\x02\x05\x41\x03\x0b\x1a\x0b",
                       extra=section(6, vec(b"\x7f\x00\x41\x00\x0b")))
    complete = {8, 8 + len(TYPE_VOID)}          # cuts that leave a well-formed module
    for n in range(len(data)):
        if n not in complete:
            with pytest.raises(DecodeError):
                decode_module(data[:n])


def test_huge_declared_counts_fail_fast():
    malformed(module(b"\x01\x06\xff\xff\xff\xff\x0f\x60"), "length out of bounds")
    malformed(func_module(b"\x0b", locals_=vec(b"\xff\xff\xff\xff\x0f\x7f")), "too many locals")
