"""A short, seeded run of the front-end fuzzer (the long run is `python -m wasmforge._fuzz`)."""

from __future__ import annotations

from wasmforge import _fuzz


def test_mutated_inputs_raise_only_wasm_errors(testsuite_dir, bench_dir):
    binaries, texts = _fuzz.collect_seeds(testsuite_dir, sorted((bench_dir / "wasm").glob("*.wasm")))
    assert len(binaries) > 1000 and len(texts) > 100
    counts = _fuzz.run(4000, seed=20261125, binaries=binaries, texts=texts, time_limit=10.0)
    assert counts["rounds"] == 4000
    findings = [f"round {f['round']}: {f['kind']}\n{f.get('traceback', '')}" for f in counts["findings"]]
    assert not findings, "\n".join(findings[:5])
    # The mutations must exercise both outcomes, or the run proves nothing.
    assert counts["rejected"] > 1000 and counts["accepted"] > 50
