"""The component-model scripts run on both tiers (component instantiation, linking and
execution): every assertion of the synchronous folders of the component-model repository, and
wasmtime's top-level component scripts against its test host, counted per folder.

The counts are pinned: an assertion that starts failing, or that is silently no longer run,
changes them.  Skips are allowed only with a reason naming what is not implemented (async and
GC components, a later issue); a failure is never allowed.
"""

from __future__ import annotations

import collections
from typing import Dict, Tuple

import pytest

from component.cmscripts import SUITE, SYNC_FOLDERS
from support import tier_params
from wasmforge.api.engine import Config, Engine
from wasmforge.script.run import run_script

#: folder -> (passed, failed, skipped) on each tier.  The 4 skipped of values/ are the
#: ``async`` lifts and lowers of variants.wast (async components are a later issue).
COUNTS: Dict[str, Tuple[int, int, int]] = {
    "binary": (88, 0, 0),
    "validation": (361, 0, 0),
    "linking": (207, 0, 0),
    "resources": (17, 0, 0),
    "values": (127, 0, 4),
}

#: What a skip may give as its reason: something not implemented, said so.
SKIP_PREFIX = "needs what is not implemented: "

_RESULTS: Dict[Tuple[str, str], list] = {}


def _engine(tier: str) -> Engine:
    config = Config()
    config.strategy = tier
    return Engine(config)


def _scripts(folder: str):
    return sorted((SUITE / "component-model" / folder).glob("*.wast"))


def _results(tier: str, folder: str) -> list:
    key = (tier, folder)
    if key not in _RESULTS:
        engine = _engine(tier)
        _RESULTS[key] = [run_script(p, engine) for p in _scripts(folder)]
    return _RESULTS[key]


@pytest.fixture(autouse=True)
def _suite():
    if not SUITE.is_dir():
        pytest.skip(f"COMPONENT SUITE ABSENT: {SUITE} does not exist")


@pytest.mark.parametrize("tier", tier_params())
@pytest.mark.parametrize("folder", SYNC_FOLDERS)
def test_synchronous_scripts(tier, folder):
    results = _results(tier, folder)
    failures = [str(f) for r in results for f in r.failures]
    assert not failures, "\n".join(failures)
    counts = (sum(r.passed for r in results), sum(r.failed for r in results), sum(r.skipped for r in results))
    assert counts == COUNTS[folder]
    reasons: collections.Counter = collections.Counter()
    for r in results:
        assert sum(r.skip_reasons.values()) == r.skipped
        reasons.update(r.skip_reasons)
    assert all(reason.startswith(SKIP_PREFIX) for reason in reasons), reasons


def test_the_synchronous_folders_hold_804_assertions():
    assert sum(sum(c) for c in COUNTS.values()) == 804
