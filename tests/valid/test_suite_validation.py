"""The spec suite's verdicts on validity (WebAssembly 2.0, the top-level *.wast files).

For each script: every ``assert_invalid`` module must fail validation with the suite's
message as the prefix of ``ValidationError.reason``, and every module the suite expects to
get past validation (``module`` commands and the modules of ``assert_trap``,
``assert_unlinkable`` and ``assert_uninstantiable``) must validate.  One test per script;
a failure lists every offending command by line.
"""

import pytest

from support import suite_files
from wasmforge.errors import ValidationError, WasmError
from wasmforge.features import DEFAULT
from wasmforge.script.run import suite_features
from wasmforge.text.script import (AssertInvalid, AssertTrap, AssertUninstantiable, AssertUnlinkable,
                                   ModuleCommand)
from wasmforge.text.wast import parse_script
from wasmforge.valid import validate

SCRIPTS = suite_files()


def _check_script(path) -> list:
    """Return one line per command whose validation verdict differs from the suite's."""
    failures = []
    # The proposals the suite's scripts are written for (2.0: no multi-memory, memory64).
    features = suite_features(path, DEFAULT)
    for cmd in parse_script(path.read_text(encoding="utf-8", errors="surrogateescape"),
                            filename=path.name):
        if isinstance(cmd, AssertInvalid):
            try:
                module = cmd.module.load(features)
            except WasmError as exc:
                failures.append(f"line {cmd.line}: assert_invalid module did not load: {exc}")
                continue
            try:
                validate(module, features=features)
            except ValidationError as exc:
                if not exc.reason.startswith(cmd.message):
                    failures.append(f"line {cmd.line}: expected {cmd.message!r}, got {exc.reason!r}")
            else:
                failures.append(f"line {cmd.line}: expected {cmd.message!r}, but the module validated")
            continue
        if isinstance(cmd, ModuleCommand):
            source, what = cmd.source, "module"
        elif isinstance(cmd, (AssertUnlinkable, AssertUninstantiable)):
            source, what = cmd.module, type(cmd).__name__
        elif isinstance(cmd, AssertTrap) and cmd.module is not None:
            source, what = cmd.module, "assert_trap module"
        else:
            continue
        try:
            validate(source.load(features), features=features)
        except WasmError as exc:
            failures.append(f"line {cmd.line}: {what} expected to validate: {exc}")
    return failures


def test_suite_present(testsuite_dir):
    assert SCRIPTS, f"no *.wast files in {testsuite_dir}"


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: p.name)
def test_script_validation_verdicts(path):
    failures = _check_script(path)
    assert not failures, f"{path.name}: {len(failures)} wrong verdict(s):\n" + "\n".join(failures)
