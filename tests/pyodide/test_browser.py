"""wasmforge inside Pyodide in a web page: headless Chromium loads ``browser.html`` from a
local HTTP server (127.0.0.1), which installs the wheel and runs the README's embedding
example, a WASI program on the in-memory filesystem and the limits script, as
test_pyodide.py does under node.

Opt-in by what is installed: it runs where a ``chromium`` binary is on PATH (Debian's
``apt-get install chromium``; CI's machine has one), and is skipped, saying so, elsewhere.
About 35 s, most of it loading Pyodide: ``python -m pytest tests/pyodide/test_browser.py``.
"""

from __future__ import annotations

import functools
import html
import json
import re
import shutil
import subprocess
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlencode

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
EXAMPLES = ROOT / "examples"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium on PATH: the browser test did not run")


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


@pytest.fixture(scope="module")
def page_output(tmp_path_factory, pyodide_modules, wasmforge_wheel, readme_example):
    site = tmp_path_factory.mktemp("site")
    (site / "pyodide").symlink_to(Path(pyodide_modules, "pyodide"))
    shutil.copy(wasmforge_wheel, site / wasmforge_wheel.name)
    for path in (HERE / "browser.html", HERE / "wasi_wc.py", HERE / "runtime_limits.py",
                 EXAMPLES / "wc.wasm", EXAMPLES / "poem.txt"):
        shutil.copy(path, site / path.name)
    (site / "readme_example.py").write_text(readme_example)
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(site)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        query = urlencode([("wheel", wasmforge_wheel.name), ("file", "wc.wasm=/work/wc.wasm"),
                           ("file", "poem.txt=/work/data/poem.txt"), ("script", "readme_example.py"),
                           ("script", "wasi_wc.py"), ("script", "runtime_limits.py")])
        url = f"http://127.0.0.1:{server.server_address[1]}/browser.html?{query}"
        # --virtual-time-budget lets the page's promises settle before the DOM is dumped.
        proc = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=300000",
                               "--dump-dom", url], capture_output=True, text=True, timeout=600)
    finally:
        server.shutdown()
        server.server_close()
    match = re.search(r'<pre id="out">(.*?)</pre>', proc.stdout, re.S)
    assert match, f"no output in the page:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
    sections: dict = {}
    current = None
    for line in html.unescape(match.group(1)).splitlines():
        if line.startswith("=== "):
            current = sections.setdefault(line[4:], [])
        elif current is not None:
            current.append(line)
    return sections


def test_every_script_ran_in_the_page(page_output):
    assert "end" in page_output
    assert not [name for name in page_output if name.endswith("FAILED")], page_output


def test_readme_example_in_the_page(page_output):
    assert page_output["readme_example.py"] == ["42", r"bytearray(b'\x07\x00\x00\x00')"]


def test_wasi_program_in_the_page(page_output):
    runs = [json.loads(line) for line in page_output["wasi_wc.py"]]
    poem = (EXAMPLES / "poem.txt").read_bytes()
    lines = poem.count(b"\n")
    assert runs[0] == {"args": ["data/poem.txt"], "code": 0, "stderr": "",
                       "stdout": f"{lines:7d} {len(poem.split()):7d} {len(poem):7d} data/poem.txt\n"}
    assert runs[1]["code"] == 1 and runs[2]["code"] == 1


def test_limits_in_the_page(page_output):
    (line,) = page_output["runtime_limits.py"]
    got = json.loads(line)
    # The browser's JavaScript stack holds the default 4,096 nested calls and traps after.
    assert got["recursion"] == "TrapCode.STACK_OVERFLOW"
    assert (got["grow"], got["after_grow"]) == ([1, -1, 3], ["kept", 42])
    assert (got["fuel"], got["epoch"], got["sleep"]) == ("TrapCode.OUT_OF_FUEL", "TrapCode.INTERRUPT", [0, True, 7])
