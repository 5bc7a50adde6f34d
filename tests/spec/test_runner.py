"""The WAST runner itself: how each assertion is judged and counted."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from wasmforge.cli import cli
from wasmforge.script import WastRunner
from wasmforge.text.wast import parse_script


def run(text: str):
    return WastRunner(filename="t.wast").run(parse_script(text))


F32_ID = '(module (func (export "id") (param f32) (result f32) (local.get 0)))\n'
V_ID = '(module (func (export "id") (param v128) (result v128) (local.get 0)))\n'


def test_assert_return_passes_on_equal_value():
    r = run('(module (func (export "f") (result i32) (i32.const -1)))\n'
            '(assert_return (invoke "f") (i32.const 0xffffffff))')
    assert (r.passed, r.failed, r.skipped) == (1, 0, 0)


def test_assert_return_failure_names_line_and_values():
    r = run('(module (func (export "f") (result i32) (i32.const 1)))\n'
            '(assert_return (invoke "f") (i32.const 2))')
    assert r.failed == 1
    text = str(r.failures[0])
    assert text.startswith("t.wast:2: assert_return:") and "i32:2" in text and "i32:1" in text


def test_assert_return_checks_the_number_of_results():
    r = run('(module (func (export "f")))\n(assert_return (invoke "f") (i32.const 0))')
    assert r.failed == 1


def test_float_results_compare_bit_exactly():
    r = run(F32_ID + '(assert_return (invoke "id" (f32.const -0)) (f32.const 0))')
    assert r.failed == 1


def test_canonical_nan_pattern_rejects_a_payload():
    r = run(F32_ID + '(assert_return (invoke "id" (f32.const nan)) (f32.const nan:canonical))\n'
                     '(assert_return (invoke "id" (f32.const -nan)) (f32.const nan:canonical))\n'
                     '(assert_return (invoke "id" (f32.const nan:0x400001)) (f32.const nan:canonical))')
    assert (r.passed, r.failed) == (2, 1)


def test_arithmetic_nan_pattern_needs_the_quiet_bit():
    r = run(F32_ID + '(assert_return (invoke "id" (f32.const nan:0x400001)) (f32.const nan:arithmetic))\n'
                     '(assert_return (invoke "id" (f32.const nan:0x1)) (f32.const nan:arithmetic))')
    assert (r.passed, r.failed) == (1, 1)


def test_v128_lane_patterns():
    r = run(V_ID + '(assert_return (invoke "id" (v128.const f32x4 1 nan 2 -nan))'
                   ' (v128.const f32x4 1 nan:canonical 2 nan:arithmetic))\n'
                   '(assert_return (invoke "id" (v128.const i32x4 1 2 3 4)) (v128.const i32x4 1 2 3 5))')
    assert (r.passed, r.failed) == (1, 1)


def test_ref_results():
    r = run('(module (func (export "n") (result externref) (ref.null extern))'
            ' (func (export "e") (param externref) (result externref) (local.get 0))'
            ' (func $f) (elem declare func $f) (func (export "f") (result funcref) (ref.func $f)))\n'
            '(assert_return (invoke "n") (ref.null extern))\n'
            '(assert_return (invoke "e" (ref.extern 3)) (ref.extern 3))\n'
            '(assert_return (invoke "e" (ref.extern 3)) (ref.extern 4))\n'
            '(assert_return (invoke "f") (ref.func))')
    assert (r.passed, r.failed) == (3, 1)


def test_assert_trap_compares_the_message_prefix():
    r = run('(module (func (export "f") unreachable))\n'
            '(assert_trap (invoke "f") "unreachable")\n'
            '(assert_trap (invoke "f") "integer overflow")')
    assert (r.passed, r.failed) == (1, 1)


def test_assert_exhaustion_needs_a_stack_overflow():
    r = run('(module (func $f (export "f") (call $f)) (func (export "u") unreachable))\n'
            '(assert_exhaustion (invoke "f") "call stack exhausted")\n'
            '(assert_exhaustion (invoke "u") "call stack exhausted")')
    assert (r.passed, r.failed) == (1, 1)


def test_assertions_on_a_module_that_failed_to_load_are_skipped():
    r = run('(module (import "nowhere" "f" (func)) (func (export "f")))\n'
            '(assert_return (invoke "f"))\n(assert_trap (invoke "f") "unreachable")')
    assert (r.passed, r.failed, r.skipped) == (0, 1, 2)
    assert "unknown import" in r.failures[0].message


def test_register_makes_exports_importable():
    r = run('(module $a (func (export "f") (result i32) (i32.const 7)))\n(register "a" $a)\n'
            '(module (import "a" "f" (func $f (result i32))) (export "g" (func $f)))\n'
            '(assert_return (invoke "g") (i32.const 7))\n'
            '(assert_return (invoke $a "f") (i32.const 7))')
    assert (r.passed, r.failed) == (2, 0)


def test_assert_unlinkable_messages():
    r = run('(assert_unlinkable (module (import "spectest" "nope" (func))) "unknown import")\n'
            '(assert_unlinkable (module (import "spectest" "print_i32" (func (param i64))))'
            ' "incompatible import type")\n'
            '(assert_unlinkable (module (import "spectest" "print_i32" (func (param i32)))) "unknown import")')
    assert (r.passed, r.failed) == (2, 1)


def test_assert_invalid_and_malformed():
    r = run('(assert_invalid (module (func (result i32))) "type mismatch")\n'
            '(assert_invalid (module (func)) "type mismatch")\n'
            '(assert_malformed (module binary "\\00asm\\02\\00\\00\\00") "unknown binary version")\n'
            '(assert_malformed (module quote "(func (result i32) (i32.const 0))") "type mismatch")')
    assert (r.passed, r.failed) == (2, 2)


def test_assert_trap_on_instantiation():
    r = run('(assert_trap (module (memory 1) (data (i32.const 65536) "a")) "out of bounds memory access")\n'
            '(assert_trap (module (memory 1)) "out of bounds memory access")')
    assert (r.passed, r.failed) == (1, 1)


def test_spectest_globals_and_memory():
    r = run('(module (import "spectest" "global_i32" (global i32)) (import "spectest" "memory" (memory 1 2))'
            ' (import "spectest" "table" (table 10 20 funcref))'
            ' (import "spectest" "global_f64" (global f64))'
            ' (func (export "g") (result i32) (global.get 0)) (func (export "h") (result f64) (global.get 1))'
            ' (func (export "s") (result i32) (memory.size)))\n'
            '(assert_return (invoke "g") (i32.const 666))\n(assert_return (invoke "h") (f64.const 666.6))\n'
            '(assert_return (invoke "s") (i32.const 1))')
    assert (r.passed, r.failed) == (3, 0)


def test_get_action_reads_a_global():
    r = run('(module (global (export "g") i64 (i64.const -2)))\n(assert_return (get "g") (i64.const -2))')
    assert (r.passed, r.failed) == (1, 0)


# ----- the command -----

@pytest.fixture
def script(tmp_path):
    def write(text):
        path = tmp_path / "s.wast"
        path.write_text(text)
        return str(path)
    return write


def test_cli_last_line_counts_and_exit_status_zero(script):
    path = script('(module (func (export "f") (result i32) (i32.const 1)))\n(assert_return (invoke "f") (i32.const 1))')
    result = CliRunner().invoke(cli, ["wast", "--tier", "interp", path])
    assert result.exit_code == 0
    assert result.output.splitlines()[-1] == "wast: 1 passed, 0 failed, 0 skipped"


def test_cli_verbose_lists_failures_and_exits_one(script):
    path = script('(module (func (export "f") (result i32) (i32.const 1)))\n(assert_return (invoke "f") (i32.const 2))')
    result = CliRunner().invoke(cli, ["wast", "-v", path])
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[-1] == "wast: 0 passed, 1 failed, 0 skipped"
    assert any(line.startswith(f"{path}:2: assert_return: expected") for line in lines)


def test_cli_script_that_does_not_parse_is_a_failure(script):
    path = script('(module')
    result = CliRunner().invoke(cli, ["wast", path])
    assert result.exit_code == 1
    assert result.output.splitlines()[-1] == "wast: 0 passed, 1 failed, 0 skipped"


def test_cli_llvm_tier_is_refused_clearly_without_llvmlite(script, monkeypatch):
    from support import hide_llvmlite
    hide_llvmlite(monkeypatch)
    result = CliRunner().invoke(cli, ["wast", "--tier", "llvm", script("")])
    assert result.exit_code == 2
    assert "llvm execution tier is not available" in result.output


def test_modules_importing_from_a_failed_registered_module_are_skipped_not_failed():
    r = run('(module $m (import "nowhere" "f" (func)) (func (export "f")))\n(register "m" $m)\n'
            '(module (import "m" "f" (func)) (func (export "g")))\n(assert_return (invoke "g"))\n'
            '(assert_unlinkable (module (import "m" "f" (func (param i32)))) "incompatible import type")')
    assert (r.passed, r.failed, r.skipped) == (0, 1, 2)
