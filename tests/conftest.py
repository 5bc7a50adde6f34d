"""Shared test fixtures: where the spec suite and the benchmark corpus live."""

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TESTSUITE = Path(os.environ.get("WASMFORGE_TESTSUITE", ROOT.parent / "shared" / "testsuite"))
BENCH = Path(os.environ.get("WASMFORGE_BENCH", ROOT.parent / "shared" / "bench"))


def suite_files():
    """The WebAssembly 2.0 spec scripts: the top-level *.wast files of the suite."""
    if not TESTSUITE.is_dir():
        return []
    return sorted(TESTSUITE.glob("*.wast"))


@pytest.fixture(scope="session")
def testsuite_dir():
    if not TESTSUITE.is_dir():
        pytest.skip(f"SPEC SUITE ABSENT: {TESTSUITE} does not exist; set WASMFORGE_TESTSUITE")
    return TESTSUITE
