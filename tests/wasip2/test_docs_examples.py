"""The examples of docs/wasi.md's "Feeding a running guest from Python" and "The asyncio host"
run as written (from the repository root), so the documentation cannot drift from the API."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
DOC = (ROOT / "docs" / "wasi.md").read_text()


def example(after: str) -> str:
    """The first ```python block after the text ``after``."""
    start = DOC.index(after)
    m = re.compile(r"```python\n(.*?)```", re.S).search(DOC, start)
    assert m is not None, f"no python example after {after!r}"
    return m.group(1)


@pytest.mark.parametrize("after", ["**Feeding a running guest from Python.**", "## The asyncio host"])
def test_the_documented_example_runs(after, monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    code = example(after)
    exec(compile(code, f"docs/wasi.md: {after}", "exec"), {"__name__": "__doc_example__"})
    if "readline" in code:
        assert capsys.readouterr().out.splitlines() == ["b'one\\n'", "b'two\\n'"]
