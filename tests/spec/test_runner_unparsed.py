"""A script that does not parse is counted by its assertions, not as one failure (issue 12:
"count assertions, not scripts"), and ``wasmforge wast`` says the script did not parse."""

from __future__ import annotations

from click.testing import CliRunner

from wasmforge.cli import cli
from wasmforge.script import run_script

# Three assertions and a module; the second module uses an instruction the parser does not
# know, so nothing of the script runs.  Parentheses inside strings and comments do not count.
SCRIPT = '''(module (func (export "f") (result i32) (i32.const 1)))
(assert_return (invoke "f") (i32.const 1))  ;; a comment with ( and (assert_trap
(; a block (; nested ;) comment (assert_return) ;)
(module $bad (func (no_such.instruction)))
(assert_return (invoke "f") (i32.const 1))
(assert_malformed (module quote "(func (i32.const 1") "unexpected token")
'''


def test_unparsed_script_counts_each_assertion_as_failed(tmp_path):
    path = tmp_path / "s.wast"
    path.write_text(SCRIPT)
    r = run_script(path)
    assert (r.passed, r.failed, r.skipped) == (0, 3, 0)
    assert len(r.failures) == 1
    message = str(r.failures[0])
    assert "does not parse" in message and "5 top-level commands" in message and "3 assertions" in message


def test_unparsed_script_without_assertions_is_still_one_failure(tmp_path):
    path = tmp_path / "s.wast"
    path.write_text("(module")
    assert run_script(path).failed == 1


def test_cli_reports_the_script_as_not_parsed(tmp_path):
    path = tmp_path / "s.wast"
    path.write_text(SCRIPT)
    result = CliRunner().invoke(cli, ["wast", "--tier", "interp", str(path)])
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[-1] == "wast: 0 passed, 3 failed, 0 skipped"
    assert any("does not parse" in line for line in lines[:-1]), result.output
