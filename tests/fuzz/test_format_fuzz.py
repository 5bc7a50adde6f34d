"""A short, seeded run of the front-end fuzzer (the long run is `python -m wasmforge._fuzz`)."""

from __future__ import annotations

import random
import time

from wasmforge import _fuzz
from wasmforge.text.parser import parse_module


def test_mutated_inputs_raise_only_wasm_errors(testsuite_dir, bench_dir, tmp_path):
    binaries, texts = _fuzz.collect_seeds(testsuite_dir, sorted((bench_dir / "wasm").glob("*.wasm")))
    assert len(binaries) > 1000 and len(texts) > 100
    counts = _fuzz.run(4000, seed=20261125, binaries=binaries, texts=texts, time_limit=10.0,
                       save=tmp_path)
    assert counts["rounds"] == 4000
    findings = [f"round {f['round']}: {f['kind']} ({f['file']})\n{f.get('traceback', '')}"
                for f in counts["findings"]]
    assert not findings, "\n".join(findings[:5])
    # The mutations must exercise both outcomes, or the run proves nothing.
    assert counts["rejected"] > 1000 and counts["accepted"] > 50


def test_an_input_over_its_budget_is_a_finding_saved_to_a_file(tmp_path, monkeypatch):
    def slow(text):
        time.sleep(5)
    monkeypatch.setattr(_fuzz, "check_text", slow)
    monkeypatch.setattr(_fuzz, "check_binary", slow)
    counts = _fuzz.run(1, seed=1, binaries=[], texts=["(module)"], time_limit=0.05,
                       time_per_kb=0.0, save=tmp_path)
    [finding] = counts["findings"]
    assert finding["kind"].startswith("hang")
    saved = tmp_path / f"round{finding['round']}.{'wasm' if isinstance(finding['input'], bytes) else 'wat'}"
    assert finding["file"] == str(saved) and saved.exists()


def test_budget_grows_with_the_input():
    assert _fuzz.budget(b"") == _fuzz.TIME_LIMIT
    assert _fuzz.budget("x" * 512 * 1024) == _fuzz.TIME_LIMIT + 512 * _fuzz.TIME_PER_KB


def test_label_bombs_parse_well_within_their_budget():
    # The strategy that would have caught the quadratic label lookup: thousands of nested
    # labelled blocks and branch targets naming them.  The parser must read the largest ones
    # far inside the fuzzer's budget (the quadratic one took ~20 s on 350 KiB).
    rng = random.Random(7)
    bombs = sorted((_fuzz._label_bomb(rng) for _ in range(6)), key=len)[-1:]
    for text in bombs:
        assert "$l0" in text and len(text) > 100_000
        started = time.perf_counter()
        try:
            parse_module(text)
        except _fuzz.WasmError:
            pass
        assert time.perf_counter() - started < _fuzz.budget(text) / 2
