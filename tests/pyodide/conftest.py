"""Shared by the Pyodide tests: the npm package ``pyodide`` installed once per session,
wasmforge's wheel built once from this checkout, and the README example they run."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent


@pytest.fixture(scope="session")
def pyodide_modules(tmp_path_factory) -> str:
    """A ``node_modules`` folder holding ``pyodide`` as pinned in package-lock.json (``npm ci``),
    or ``$WASMFORGE_PYODIDE_NODE_MODULES``."""
    modules = os.environ.get("WASMFORGE_PYODIDE_NODE_MODULES")
    if modules:
        return modules
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is needed to install Pyodide (the Pyodide test did not run)")
    tmp = tmp_path_factory.mktemp("npm")
    for name in ("package.json", "package-lock.json"):
        shutil.copy(HERE / name, tmp / name)
    proc = subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=tmp,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"npm ci failed:\n{proc.stdout}\n{proc.stderr}"
    return str(tmp / "node_modules")


@pytest.fixture(scope="session")
def wasmforge_wheel(tmp_path_factory) -> Path:
    """wasmforge's wheel, built by pip from a copy of this checkout's sources: setuptools builds
    in the source folder, and a ``build/`` left there by an earlier build would add files
    since deleted from ``src``."""
    source = tmp_path_factory.mktemp("source")
    shutil.copytree(ROOT / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for path in ROOT.iterdir():
        if path.name in ("pyproject.toml", "README.md") or path.name.startswith(("LICENSE", "LICENCE", "NOTICE")):
            shutil.copy(path, source / path.name)
    wheels = tmp_path_factory.mktemp("wheels")
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", str(source),
                           "-w", str(wheels)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"pip wheel failed:\n{proc.stdout}\n{proc.stderr}"
    (wheel,) = wheels.glob("wasmforge-*.whl")
    return wheel


@pytest.fixture(scope="session")
def readme_example() -> str:
    """The Python block of the README's "Embedding" section, as a user would paste it."""
    section = (ROOT / "README.md").read_text().split("## Embedding", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "README.md has no python block under '## Embedding'"
    return match.group(1)
