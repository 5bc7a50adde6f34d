"""The Python examples of docs/observability.md run, and print what the page says."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGE = (ROOT / "docs" / "observability.md").read_text()
BLOCKS = re.findall(r"```python\n(.*?)```", PAGE, re.S)


@pytest.mark.parametrize("k", range(len(BLOCKS)))
def test_example_runs(k, tmp_path):
    # Run where its output files may go; its fixtures named from the repository's root.
    code = BLOCKS[k].replace('"tests/observe/fixtures/', f'"{ROOT}/tests/observe/fixtures/')
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), WASMFORGE_CACHE_DIR=str(tmp_path / "cache"))
    env.pop("WASMTIME_BACKTRACE_DETAILS", None)
    env.pop("WASMFORGE_BACKTRACE_DETAILS", None)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    out = done.stdout + done.stderr
    if "wasm_backtrace_details = True" in code:
        # the text the page shows, line for line
        marker = "prints\n\n```\n"
        shown = PAGE[PAGE.index(marker, PAGE.index(BLOCKS[k])) + len(marker):]
        assert done.stdout == shown[:shown.index("```")]
    if "Profiler" in code:
        assert (tmp_path / "spin.json").exists() and out.startswith("hot ")
    if "stdout_buffer" in code:
        assert out == "b'hello\\n' 'hello\\n'\n"
    if "basicConfig" in code:
        assert "wasmforge.trap INFO trap in calc!div: integer divide by zero" in out
