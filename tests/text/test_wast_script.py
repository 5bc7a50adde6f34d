"""WAST scripts: every command form and value form of the spec suite's format."""

import pytest

from wasmforge.errors import ParseError
from wasmforge.opcodes import END
from wasmforge.text import script as S
from wasmforge.text.wast import parse_script


def one(text):
    cmds = parse_script(text)
    assert len(cmds) == 1
    return cmds[0]


def test_text_module_is_parsed_at_once():
    cmd = one("(module $m (func))")
    assert isinstance(cmd, S.ModuleCommand)
    src = cmd.source
    assert (src.kind, src.name, src.line) == ("text", "m", 1)
    assert len(src.module.funcs) == 1 and src.module.names.module == "m"
    assert src.load() is src.module


def test_binary_module_is_kept_as_bytes():
    src = one('(module $b binary "\\00asm" "\\01\\00\\00\\00")').source
    assert (src.kind, src.name, src.data) == ("binary", "b", b"\x00asm\x01\x00\x00\x00")
    assert src.load().funcs == []


def test_quoted_module_is_kept_as_text_and_parsed_on_load():
    src = one('(module quote "(func" " $f)")').source
    assert (src.kind, src.text) == ("quote", "(func $f)")
    assert src.load().names.funcs == {0: "f"}


def test_malformed_quoted_module_fails_only_on_load():
    cmd = one('(assert_malformed (module quote "(func (i32.const0))") "unknown operator")')
    assert isinstance(cmd, S.AssertMalformed) and cmd.message == "unknown operator"
    with pytest.raises(ParseError) as info:
        cmd.module.load()
    assert info.value.reason.startswith("unknown operator")


def test_quoted_bytes_that_are_not_utf8_reach_the_lexer():
    src = one('(module quote "(func) ;; \\ff")').source
    with pytest.raises(ParseError) as info:
        src.load()
    assert info.value.reason == "malformed UTF-8 encoding"


def test_register_with_and_without_module_name():
    assert one('(register "M" $m)') == S.Register(1, "M", "m")
    assert one('(register "M")') == S.Register(1, "M", None)


def test_invoke_and_get_actions():
    cmd = one('(invoke $m "f" (i32.const -1) (i64.const 0xffffffffffffffff) (f32.const 1.5) '
              '(f64.const -0) (ref.null func) (ref.extern 7) (ref.null extern))')
    assert isinstance(cmd, S.ActionCommand)
    assert cmd.action == S.Invoke(1, "m", "f", [
        S.Const("i32", -1), S.Const("i64", -1), S.Const("f32", 0x3FC00000),
        S.Const("f64", 1 << 63), S.RefNull("funcref"), S.RefExtern(7), S.RefNull("externref")])
    assert one('(get "g")').action == S.Get(1, None, "g")


def test_assert_return_results():
    cmd = one('(assert_return (invoke "f") (f32.const nan:canonical) (f64.const nan:arithmetic) '
              '(ref.func) (ref.extern 1) (i32.const 3))')
    assert cmd.expected == [S.NanPattern("f32", "canonical"), S.NanPattern("f64", "arithmetic"),
                            S.RefFunc(), S.RefExtern(1), S.Const("i32", 3)]


def test_assert_return_v128_plain_and_with_nan_lanes():
    cmd = one('(assert_return (invoke "f") (v128.const i32x4 1 2 3 4) '
              '(v128.const f32x4 1.0 nan:canonical -0 nan:arithmetic))')
    assert cmd.expected[0] == S.Const("v128", 1 | 2 << 32 | 3 << 64 | 4 << 96)
    assert cmd.expected[1] == S.V128Pattern("f32x4", (
        0x3F800000, S.NanPattern("f32", "canonical"), 0x80000000, S.NanPattern("f32", "arithmetic")))


def test_nan_pattern_is_not_an_argument():
    with pytest.raises(ParseError):
        parse_script('(invoke "f" (f32.const nan:canonical))')


def test_assert_trap_on_action_and_on_module():
    a = one('(assert_trap (invoke "f") "unreachable")')
    assert (a.action.name, a.module, a.message) == ("f", None, "unreachable")
    b = one('(assert_trap (module (func unreachable) (start 0)) "unreachable")')
    assert b.action is None and b.module.kind == "text"


@pytest.mark.parametrize("kind,cls", [
    ("assert_invalid", S.AssertInvalid), ("assert_malformed", S.AssertMalformed),
    ("assert_unlinkable", S.AssertUnlinkable), ("assert_uninstantiable", S.AssertUninstantiable)])
def test_module_assertions(kind, cls):
    cmd = one(f'({kind} (module binary "") "msg")')
    assert isinstance(cmd, cls) and cmd.message == "msg" and cmd.module.kind == "binary"


def test_assert_invalid_module_parses_without_validation():
    cmd = one('(assert_invalid (module (func (result i32))) "type mismatch")')
    assert cmd.module.module.funcs[0].body == [(END,)]


def test_assert_exhaustion():
    cmd = one('(assert_exhaustion (invoke "f" (i32.const 1)) "call stack exhausted")')
    assert isinstance(cmd, S.AssertExhaustion) and cmd.action.args == [S.Const("i32", 1)]


def test_lines_are_recorded():
    cmds = parse_script('(module)\n\n(assert_return\n  (invoke "f"))')
    assert [c.line for c in cmds] == [1, 3]
    assert cmds[1].action.line == 4


def test_script_of_bare_module_fields_is_one_module():
    cmd = one("(func) (memory 0)")
    assert isinstance(cmd, S.ModuleCommand) and len(cmd.source.module.mems) == 1


def test_errors_are_positioned_in_the_script():
    with pytest.raises(ParseError) as info:
        parse_script('(module)\n(assert_return (invoke "f") (i32.const 1.5))', filename="t.wast")
    err = info.value
    assert (err.filename, err.line, err.column, err.reason) == ("t.wast", 2, 40, "constant out of range")


def test_unknown_command_is_rejected():
    with pytest.raises(ParseError) as info:
        parse_script("(assert_bogus)")
    assert info.value.reason.startswith("unknown operator")
