"""The WebAssembly 2.0 spec suite on both execution tiers, one test per script and tier.

Each top-level ``*.wast`` of the suite (``WASMFORGE_TESTSUITE``, default
``../shared/testsuite``) runs through the project's runner (``wasmforge.script``) exactly as
``wasmforge wast --tier TIER`` runs it; a test fails listing every failed command with its
line, expected and actual.  Without the suite the tests are skipped with a loud reason; the
llvm tier's are skipped, saying so, where llvmlite is not installed.
"""

from __future__ import annotations

import pytest

from wasmforge.api.engine import Config, Engine
from wasmforge.script import run_script

from support import suite_files, tier_params

FILES = suite_files()


TIERS = tier_params()


@pytest.fixture(scope="module", params=TIERS)
def engine(request):
    config = Config()
    config.strategy = request.param
    return Engine(config)


@pytest.mark.skipif(bool(FILES), reason="the suite is present")
def test_spec_suite_is_present(testsuite_dir):
    # Reached only when the folder exists but holds no scripts: that is a broken checkout.
    pytest.fail(f"SPEC SUITE EMPTY: no *.wast files in {testsuite_dir}")


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_wast(path, engine):
    result = run_script(path, engine)
    assert result.failed == 0 and result.skipped == 0, (
        f"{path.name} on {engine.strategy}: {result.summary()}\n" + "\n".join(str(f) for f in result.failures))
