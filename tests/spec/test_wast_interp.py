"""The WebAssembly 2.0 spec suite on the interp tier, one test per script.

Each top-level ``*.wast`` of the suite (``WASMFORGE_TESTSUITE``, default
``../shared/testsuite``) runs through the project's runner (``wasmforge.script``) exactly as
``wasmforge wast --tier interp`` runs it; a test fails listing every failed command with its
line, expected and actual.  Without the suite the test is skipped with a loud reason.
"""

from __future__ import annotations

import pytest

from wasmforge.runtime.engine import Config, Engine
from wasmforge.script import run_script

from support import suite_files

FILES = suite_files()


@pytest.fixture(scope="module")
def engine():
    config = Config()
    config.strategy = "interp"
    return Engine(config)


@pytest.mark.skipif(bool(FILES), reason="the suite is present")
def test_spec_suite_is_present(testsuite_dir):
    # Reached only when the folder exists but holds no scripts: that is a broken checkout.
    pytest.fail(f"SPEC SUITE EMPTY: no *.wast files in {testsuite_dir}")


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_wast_interp(path, engine):
    result = run_script(path, engine)
    assert result.failed == 0 and result.skipped == 0, (
        f"{path.name}: {result.summary()}\n" + "\n".join(str(f) for f in result.failures))
