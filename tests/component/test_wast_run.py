"""Component scripts through ``wasmforge wast`` (``wasmforge.script.run``): every script reads,
``assert_malformed`` components are refused with the script's message, ``assert_invalid`` ones
by the validator, components are instantiated and run, and what needs what is not implemented
(async components) is skipped with that reason, never counted as passed."""

import subprocess
import sys

import pytest

from component.cmscripts import SUITE, SYNC_FOLDERS
from wasmforge.features import FEATURES
from wasmforge.script.run import header_features, header_missing_features, run_script

SKIP_PREFIX = "needs what is not implemented: "


def _sync_scripts():
    return [p for f in SYNC_FOLDERS for p in sorted((SUITE / "component-model" / f).glob("*.wast"))]


@pytest.fixture(scope="module")
def sync_results():
    if not SUITE.is_dir():
        pytest.skip(f"COMPONENT SUITE ABSENT: {SUITE} does not exist")
    return [run_script(p) for p in _sync_scripts()]


def test_the_synchronous_scripts_count_their_804_assertions(sync_results):
    assert not any(r.unparsed for r in sync_results)
    # A component command that fails counts as a failure of its own, not as an assertion.
    failed_assertions = sum(f.kind.startswith("assert_") for r in sync_results for f in r.failures)
    total = sum(r.passed + r.skipped for r in sync_results) + failed_assertions
    assert total == 804


def test_every_assertion_passes_and_nothing_fails(sync_results):
    # All 75 assert_malformed and 376 assert_invalid, and all 353 that run components
    # (variants.wast's 4 async lift/lower assertions included).
    failures = [str(f) for r in sync_results for f in r.failures]
    assert not failures, "\n".join(failures)
    assert sum(r.passed for r in sync_results) == 804


def test_skips_say_why(sync_results):
    for r in sync_results:
        assert sum(r.skip_reasons.values()) == r.skipped
        assert all(reason.startswith(SKIP_PREFIX) for reason in r.skip_reasons), r.skip_reasons


def test_a_component_that_does_not_parse_fails_its_command(tmp_path):
    script = tmp_path / "bad.wast"
    script.write_text('(component (type $t u8) (type $t u8))\n(assert_return (invoke "f") (u32.const 1))\n'
                      '(assert_malformed (component quote "(type (list))") "unexpected token")\n')
    r = run_script(script)
    assert (r.passed, r.failed, r.skipped) == (1, 1, 1)
    assert "duplicate type identifier" in r.failures[0].message
    assert r.skip_reasons == {"depends on a module that failed to load": 1}


def test_a_well_formed_component_in_assert_malformed_fails(tmp_path):
    script = tmp_path / "ok.wast"
    script.write_text('(assert_malformed (component quote "(type u8)") "unexpected token")\n')
    r = run_script(script)
    assert (r.passed, r.failed) == (0, 1)


def test_wast_command_runs_a_component(tmp_path):
    script = tmp_path / "run.wast"
    script.write_text('(component (core module $m (func (export "f") (result i32) i32.const 7))\n'
                      '  (core instance $i (instantiate $m))\n'
                      '  (func (export "f") (result u32) (canon lift (core func $i "f"))))\n'
                      '(assert_return (invoke "f") (u32.const 7))\n'
                      '(assert_return (invoke "f") (u32.const 8))\n')
    done = subprocess.run([sys.executable, "-m", "wasmforge", "wast", "--tier", "interp", str(script)],
                          capture_output=True, text=True, timeout=120)
    assert done.stdout.strip().endswith("wast: 1 passed, 1 failed, 0 skipped"), done.stdout + done.stderr


def test_wast_command_prints_the_skip_reasons(tmp_path):
    script = tmp_path / "skips.wast"
    # an async lift with a callback needs the event loop, which is not implemented
    script.write_text('(component (core module $m (func (export "f") (result i32) (i32.const 0))\n'
                      '    (func (export "cb") (param i32 i32 i32) (result i32) (i32.const 0)))\n'
                      '  (core instance $i (instantiate $m))\n'
                      '  (func (export "f") async (canon lift (core func $i "f") async (callback (func $i "cb")))))\n'
                      '(assert_return (invoke "f"))\n')
    done = subprocess.run([sys.executable, "-m", "wasmforge", "wast", "--tier", "interp", str(script)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"skipped 1: {SKIP_PREFIX}the canonical option `callback`" in done.stdout
    assert done.stdout.strip().endswith("wast: 0 passed, 0 failed, 1 skipped")


def test_assert_invalid_is_met_by_a_decode_error_with_its_message(tmp_path):
    # As wasm-tools' runner: decoding and validation are one step for these scripts.
    script = tmp_path / "inv.wast"
    script.write_text('(assert_invalid (component binary "\\00asm" "\\0d\\00\\01\\00" "\\07\\02\\01\\50")\n'
                      '  "invalid leading byte")\n'
                      '(assert_invalid (component binary "\\00asm" "\\0d\\00\\01\\00" "\\07\\02\\01\\50")\n'
                      '  "type mismatch")\n')
    r = run_script(script)
    assert (r.passed, r.failed) == (1, 1)
    assert "malformed" in r.failures[0].message


@pytest.mark.parametrize("name", ["restrictions.wast", "simple.wast", "import.wast", "implements-disabled.wast",
                                  "implements.wast"])
def test_wasmtime_scripts_run_under_wasmtimes_embedding_rules(name):
    # Root-component restrictions for wasmtime's scripts, and their `;;!` feature headers.
    path = SUITE / "wasmtime-misc" / "component-model" / name
    if not path.exists():
        pytest.skip(f"COMPONENT SUITE ABSENT: {path}")
    r = run_script(path)
    assert not r.failures, "\n".join(map(str, r.failures))
    if name != "implements.wast":          # that one only defines components
        assert r.passed >= 1


def test_header_features():
    from wasmforge.script.run import header_component_features
    assert "cm-implements" in header_component_features(";;! component_model_implements = true\n")
    assert "cm-implements" not in header_component_features(";;! component_model_implements = false\n")
    assert "cm-implements" in header_component_features("(component)")


def test_header_proposals_run_where_the_tier_has_them():
    text = ";;! gc = true\n;;! multi_memory = true\n;;! hogs_memory = true\n"
    assert header_features(text) == {"gc", "multi-memory"}          # hogs_memory is no proposal
    assert header_missing_features(text, "interp") == ()               # the interp tier has GC
    assert header_missing_features(text, "llvm") == (() if FEATURES["gc"].implemented else ("gc",))
    assert header_features(";;! gc = false\n") == frozenset()


def test_a_gc_headed_wasmtime_script_runs_its_gc_components_on_interp():
    path = SUITE / "wasmtime-misc" / "component-model" / "alias-region-known-imported-entities.wast"
    if not path.exists():
        pytest.skip(f"COMPONENT SUITE ABSENT: {path}")
    r = run_script(path)          # interp; its components hold (ref i31) tables
    assert not r.failures, "\n".join(map(str, r.failures))
    assert (r.passed, r.skipped) == (3, 0)
