"""Fixtures for the sandbox-limit tests: every test runs on both tiers (the llvm tier reported
as skipped where llvmlite is not installed)."""

import pytest

from support import tier_params


@pytest.fixture(params=tier_params())
def tier(request):
    return request.param


