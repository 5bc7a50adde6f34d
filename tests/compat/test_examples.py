"""wasmtime-py's published examples run unchanged, with ``import wasmtime`` resolving to
wasmforge, and print exactly what they print on wasmtime-py (examples/NOTICE.md)."""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).parent / "examples"
NAMES = ["gcd", "hello", "linking", "memory", "multi", "readme"]


def run_examples(*flags, env=None):
    """The output of every example in one interpreter (one start-up, not one per example)."""
    done = subprocess.run([sys.executable, str(EXAMPLES / "run_all.py"), *flags, *NAMES],
                          capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_examples_print_what_wasmtime_py_prints(tier):
    env = dict(os.environ, WASMFORGE_STRATEGY=tier)
    assert run_examples("--shim", env=env) == (EXAMPLES / "expected.txt").read_text()


@pytest.mark.skipif(importlib.util.find_spec("wasmtime") is None, reason="wasmtime-py not installed")
def test_expected_output_is_wasmtime_pys():
    assert run_examples() == (EXAMPLES / "expected.txt").read_text()
