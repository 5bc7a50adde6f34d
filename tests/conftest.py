"""Shared fixtures.  Paths live in support.py so test modules can import them too."""

import pytest

from support import BENCH, TESTSUITE, suite_files  # noqa: F401  (re-exported for old imports)


@pytest.fixture(scope="session")
def testsuite_dir():
    """The spec suite folder; tests that need it are skipped LOUDLY when it is absent."""
    if not TESTSUITE.is_dir():
        pytest.skip(f"SPEC SUITE ABSENT: {TESTSUITE} does not exist; set WASMFORGE_TESTSUITE")
    return TESTSUITE


@pytest.fixture(scope="session")
def bench_dir():
    if not BENCH.is_dir():
        pytest.skip(f"BENCHMARK CORPUS ABSENT: {BENCH} does not exist; set WASMFORGE_BENCH")
    return BENCH
