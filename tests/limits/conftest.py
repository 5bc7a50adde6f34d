"""Fixtures for the sandbox-limit tests: every test runs on each tier listed in TIERS (the llvm
tier joins once it implements the accounting of runtime/metering.py)."""

import pytest

from limits.helpers import TIERS


@pytest.fixture(params=TIERS)
def tier(request):
    return request.param


