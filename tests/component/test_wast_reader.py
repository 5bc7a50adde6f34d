"""The component forms of WAST scripts in the script reader (``wasmforge.text.wast``):
``(component ...)``, ``(component definition ...)``, ``(component instance ...)``, components in
assertions, and the component-model value constants (``str.const``, ``record.const`` ...)."""

import pytest

from component.cmscripts import SUITE, scripts
from wasmforge.errors import ParseError
from wasmforge.text import script as S
from wasmforge.text.wast import parse_script


def test_every_script_of_both_folders_reads():
    if not SUITE.is_dir():
        pytest.skip(f"COMPONENT SUITE ABSENT: {SUITE} does not exist")
    counts = {}
    names = scripts()
    assert len(names) == 63 + 96
    for name in names:
        for cmd in parse_script((SUITE / name).read_text(encoding="utf-8"), name):
            counts[type(cmd).__name__] = counts.get(type(cmd).__name__, 0) + 1
    # As many as the scripts' top-level forms of each kind.
    assert counts == {"ComponentCommand": 573, "ComponentInstanceCommand": 299, "AssertReturn": 586,
                      "AssertInvalid": 389, "AssertMalformed": 75, "AssertTrap": 337,
                      "AssertUnlinkable": 38, "ActionCommand": 1}


def test_component_commands_keep_their_source():
    (define, inst, ret) = parse_script('''
      (component definition $C (core module $m) (export "e" (core module $m)))
      (component instance $i $C)
      (assert_return (invoke $i "f" (u32.const 1)) (str.const "x"))''')
    assert isinstance(define, S.ComponentCommand)
    src = define.source
    assert (src.kind, src.name, src.definition, src.line) == ("text", "C", True, 2)
    assert src.text.startswith("(component definition $C") and src.text.endswith('(core module $m)))')
    assert inst == S.ComponentInstanceCommand(3, "i", "C")
    assert ret.action == S.Invoke(4, "i", "f", [S.CValue("u32", 1)])
    assert ret.expected == [S.CValue("str", "x")]


def test_binary_and_quoted_components_in_assertions():
    mal, inv = parse_script('''
      (assert_malformed (component binary "\\00asm" "\\0d\\00\\01\\00") "bad")
      (assert_invalid (component quote "(type u8)") "wrong")''')
    assert mal.module.kind == "binary" and mal.module.data == b"\0asm\x0d\x00\x01\x00"
    assert inv.module.kind == "quote" and inv.module.text == "(type u8)"
    assert (mal.message, inv.message) == ("bad", "wrong")


def test_value_constants():
    (cmd,) = parse_script('''(assert_return (invoke "f")
        (bool.const true) (s8.const -128) (u64.const 18446744073709551615) (char.const "☃")
        (list.const (u8.const 1) (u8.const 2)) (tuple.const (u16.const 3) (str.const ""))
        (record.const (field "a" u32.const 7) (field "b" (option.none)))
        (variant.const "c" (s32.const -1)) (variant.const "d") (enum.const "e") (flags.const "x" "y")
        (option.some (f32.const 1.5)) (result.ok) (result.err (str.const "no")))''')
    v = cmd.expected
    assert v[0] == S.CValue("bool", True)
    assert v[1] == S.CValue("s8", -128)
    assert v[2] == S.CValue("u64", 2**64 - 1)
    assert v[3] == S.CValue("char", "☃")
    assert v[4] == S.CValue("list", (S.CValue("u8", 1), S.CValue("u8", 2)))
    assert v[5] == S.CValue("tuple", (S.CValue("u16", 3), S.CValue("str", "")))
    assert v[6] == S.CValue("record", (("a", S.CValue("u32", 7)), ("b", S.CValue("option", None))))
    assert v[7] == S.CValue("variant", ("c", S.CValue("s32", -1)))
    assert v[8] == S.CValue("variant", ("d", None))
    assert v[9] == S.CValue("enum", "e")
    assert v[10] == S.CValue("flags", ("x", "y"))
    assert v[11] == S.CValue("option", S.Const("f32", 0x3FC00000))
    assert v[12] == S.CValue("result", (True, None))
    assert v[13] == S.CValue("result", (False, S.CValue("str", "no")))


@pytest.mark.parametrize("text, message", [
    ('(assert_return (invoke "f") (u8.const 256))', "constant out of range"),
    ('(assert_return (invoke "f") (u32.const -1))', "constant out of range"),
    ('(assert_return (invoke "f") (char.const "ab"))', "a char.const needs exactly one character"),
    ('(assert_return (invoke "f") (bool.const maybe))', "unknown operator maybe"),
    ('(component (type u8)', "unexpected token"),
])
def test_bad_constants_and_unclosed_components_are_parse_errors(text, message):
    with pytest.raises(ParseError) as info:
        parse_script(text)
    assert info.value.reason.startswith(message)


@pytest.mark.parametrize("text", [
    '(assert_return (invoke "f") ' + "(list.const " * 5000 + ")" * 5000 + ")",
    '(assert_return (invoke "f") (record.const ' + '(field "a" record.const ' * 3000 + ")" * 3001 + ")",
])
def test_deeply_nested_values_are_a_parse_error(text):
    with pytest.raises(ParseError) as info:
        parse_script(text)
    assert info.value.reason.startswith("value nesting too deep")
