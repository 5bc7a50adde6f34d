"""Differential testing: the llvm tier against the interp tier (the reference) on the spec
suite's modules (every script but the SIMD float ones) and on the scripts of every
implemented WebAssembly 3.0 proposal (``proposals/<name>/``: tail calls, exceptions, typed
function references, memory64, multi-memory, extended-const, relaxed SIMD, threads...).

Every action of a script (``invoke``/``get``, including those inside ``assert_trap`` and
``assert_return``) runs on both tiers; the outcomes — result values (bit patterns; any NaN
counts as equal to any NaN, since both tiers may pick a different arithmetic NaN) or the trap
code — must be identical.  A v128 result is compared as a whole, so only SIMD scripts without
float NaN results are listed.
"""

from __future__ import annotations

import math

import pytest

from wasmforge.errors import Trap
from wasmforge.numerics.bits import f64_to_bits
from wasmforge.runtime.gc import Array, Struct
from wasmforge.script.run import WastRunner
from wasmforge.text.wast import parse_script

from wasmforge.api.engine import Config, Engine

from wasmforge.features import FEATURES

from support import TESTSUITE, suite_files

# Every script of the suite except the SIMD float ones (a v128 result is compared whole, and
# the tiers may pick different NaN payloads in its lanes), plus SIMD scripts without NaNs.
SIMD_WITHOUT_NANS = ["simd_i16x8_arith2.wast", "simd_i32x4_arith2.wast", "simd_load_extend.wast",
                     "simd_lane.wast"]
SCRIPTS = [p.name for p in suite_files() if not p.name.startswith("simd_")] + SIMD_WITHOUT_NANS

# The folder of each implemented proposal (exceptions are "exception-handling" in the suite),
# all of its scripts: relaxed SIMD's too, whose results the tiers must choose alike bit for bit.
_FOLDERS = {"exceptions": "exception-handling"}
PROPOSAL_SCRIPTS = [str(p.relative_to(TESTSUITE))
                    for name, f in sorted(FEATURES.items()) if f.implemented
                    for p in sorted((TESTSUITE / "proposals" / _FOLDERS.get(name, name)).glob("*.wast"))]


def make_engine(strategy: str) -> Engine:
    config = Config()
    config.strategy = strategy
    return Engine(config)


def _norm(v):
    if isinstance(v, float):
        return "nan" if math.isnan(v) else ("f", f64_to_bits(v))
    if v is None or isinstance(v, int):
        return v
    if isinstance(v, (Struct, Array)):
        # The llvm tier's heap objects are subclasses (llvm/gcheap.py): compare the kind.
        return Struct.__name__ if isinstance(v, Struct) else Array.__name__
    return type(v).__name__


def outcomes(path, strategy: str) -> list:
    """The outcome of every action of the script at ``path`` on the given tier."""
    runner = WastRunner(make_engine(strategy), filename=path.name)
    log = []
    perform = runner._perform

    def logged(action):
        try:
            values = perform(action)
        except Trap as t:
            log.append((action.line, "trap", t.code))
            raise
        log.append((action.line, [_norm(v) for v in values]))
        return values

    runner._perform = logged
    runner.run(parse_script(path.read_text(), filename=str(path)))
    return log


@pytest.mark.parametrize("name", SCRIPTS + PROPOSAL_SCRIPTS)
def test_llvm_matches_interp(name, testsuite_dir):
    path = testsuite_dir / name
    if not path.exists():
        pytest.skip(f"{name} is not in the suite at {testsuite_dir}")
    expected = outcomes(path, "interp")
    actual = outcomes(path, "llvm")
    assert len(actual) == len(expected)
    diffs = [(e, a) for e, a in zip(expected, actual) if e != a]
    assert not diffs, f"{len(diffs)} actions differ, first: interp {diffs[0][0]} vs llvm {diffs[0][1]}"
