"""WebAssembly 3.0 proposals' official scripts on both execution tiers, like the 2.0 suite.

The scripts live in ``proposals/<name>/*.wast`` of the suite (``WASMFORGE_TESTSUITE``); each
runs through the project's runner exactly as ``wasmforge wast --tier TIER`` runs it and must
end with 0 failed and 0 skipped.  Only the proposals implemented so far are listed; without
the suite the tests are skipped with a loud reason.
"""

from __future__ import annotations

import pytest

from wasmforge.api.engine import Config, Engine
from wasmforge.script import run_script
from wasmforge.script.run import _ASSERTIONS as ASSERTIONS
from wasmforge.text.wast import parse_script

from support import TESTSUITE, tier_params

#: proposal -> number of top-level assertions in its scripts (issue 12's table); a script
#: that silently lost assertions (a parse failure counted as one) would not add up.
PROPOSALS = {"extended-const": 218, "annotations": 523, "tail-call": 113, "relaxed-simd": 84,
             "function-references": 1643, "memory64": 13712, "multi-memory": 1396,
             "exception-handling": 345, "threads": 444, "gc": 2422}

#: Proposals whose llvm tier is not done yet: their scripts run on the interp tier only (and
#: docs/features.md says so).  Empty once every listed proposal runs on both tiers.
LLVM_PENDING: set = set()


def _files():
    out = []
    for name in PROPOSALS:
        out += sorted((TESTSUITE / "proposals" / name).glob("*.wast"))
    return out


FILES = _files()

TIERS = tier_params()
_ENGINES: dict = {}


def _engine(tier: str) -> Engine:
    if tier not in _ENGINES:
        config = Config()
        config.strategy = tier
        _ENGINES[tier] = Engine(config)
    return _ENGINES[tier]


def _cases():
    out = []
    for tier in TIERS:
        name = getattr(tier, "values", (tier,))[0]
        for path in FILES:
            if name == "llvm" and path.parent.name in LLVM_PENDING:
                continue
            ident = f"{path.parent.name}/{path.name}-{name}"
            out.append(pytest.param(path, name, id=ident, marks=getattr(tier, "marks", ())))
    return out


@pytest.mark.skipif(bool(FILES), reason="the proposal scripts are present")
def test_proposal_scripts_are_present(testsuite_dir):
    pytest.fail(f"PROPOSAL SCRIPTS ABSENT: none of {sorted(PROPOSALS)} under {testsuite_dir / 'proposals'}")


@pytest.mark.parametrize("path, tier", _cases())
def test_proposal_wast(path, tier):
    engine = _engine(tier)
    result = run_script(path, engine)
    assert result.failed == 0 and result.skipped == 0, (
        f"{path.parent.name}/{path.name} on {engine.strategy}: {result.summary()}\n"
        + "\n".join(str(f) for f in result.failures))


@pytest.mark.parametrize("name", sorted(PROPOSALS))
def test_proposal_assertion_count(name, testsuite_dir):
    # The scripts parse whole and hold the count of top-level assertions, so the
    # per-script tests above (0 failed, 0 skipped) ran every one of them.
    files = sorted((testsuite_dir / "proposals" / name).glob("*.wast"))
    if not files:
        pytest.fail(f"PROPOSAL SCRIPTS ABSENT: {testsuite_dir / 'proposals' / name}")
    total = 0
    for path in files:
        commands = parse_script(path.read_text(encoding="utf-8"), filename=str(path))
        total += sum(isinstance(c, ASSERTIONS) for c in commands)
    assert total == PROPOSALS[name]
