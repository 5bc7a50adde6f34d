"""The component-model test scripts as binaries, for the binary-format and validation tests.

``wasm-tools json-from-wast`` (a test extra, never used at run time) turns each ``.wast`` of
``../shared/testsuite-component`` into its modules' binaries and a JSON list of commands with
the outcome each assertion expects; those are the oracle here.  The suite's location comes from
WASMFORGE_TESTSUITE_COMPONENT (default: ``testsuite-component`` beside the spec suite).
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional

from support import TESTSUITE

SUITE = Path(os.environ.get("WASMFORGE_TESTSUITE_COMPONENT", TESTSUITE.parent / "testsuite-component"))
#: The synchronous part of the component-model scripts (the issue's conformance bar).
SYNC_FOLDERS = ("binary", "validation", "linking", "resources", "values")


def wasm_tools() -> Optional[str]:
    beside = Path(sys.executable).parent / "wasm-tools"
    return str(beside) if beside.exists() else shutil.which("wasm-tools")


def scripts() -> List[str]:
    """Every script, relative to SUITE: component-model (sync, then async), wasmtime-misc."""
    if not SUITE.is_dir():
        return []
    cm = SUITE / "component-model"
    out = [p for f in SYNC_FOLDERS for p in sorted((cm / f).glob("*.wast"))]
    out += sorted((cm / "async").glob("*.wast"))
    out += sorted((SUITE / "wasmtime-misc").rglob("*.wast"))
    return [str(p.relative_to(SUITE)) for p in out]


@dataclass
class Binary:
    """One binary of a script: the command (``module``, ``module_definition``,
    ``assert_invalid``, ``assert_malformed`` ...), its line, the expected message and bytes."""

    kind: str
    line: int
    text: str
    data: bytes

    @property
    def is_component(self) -> bool:
        return len(self.data) >= 8 and self.data[6:8] == b"\x01\x00"


_CACHE: Dict[str, Optional[List[Binary]]] = {}
_DIR: List[str] = []


def binaries(script: str) -> Optional[List[Binary]]:
    """The binaries of ``script`` (None when wasm-tools cannot convert it), cached per run."""
    if script in _CACHE:
        return _CACHE[script]
    tool = wasm_tools()
    if tool is None:
        return None
    if not _DIR:
        _DIR.append(tempfile.mkdtemp(prefix="cm-wast-"))
    out = Path(_DIR[0]) / script.replace("/", "_")
    out.mkdir(parents=True, exist_ok=True)
    done = subprocess.run([tool, "json-from-wast", str(SUITE / script), "-o", str(out / "t.json"),
                           "--wasm-dir", str(out)], capture_output=True, timeout=120)
    result: Optional[List[Binary]] = None
    if done.returncode == 0:
        result = []
        for cmd in json.loads((out / "t.json").read_text())["commands"]:
            name = cmd.get("filename")
            if name and name.endswith(".wasm") and cmd.get("module_type", "binary") == "binary":
                result.append(Binary(cmd["type"], cmd["line"], cmd.get("text", ""),
                                     (out / name).read_bytes()))
    _CACHE[script] = result
    return result
