"""wasmforge inside Pyodide in a web page: headless Chromium loads ``browser.html`` from a
local HTTP server (127.0.0.1), which installs the wheel and runs the README's embedding
example, a WASI program on the in-memory filesystem and the limits script, as
test_pyodide.py does under node, then POSTs what they printed back to the server.

Opt-in by what is installed: it runs where a ``chromium`` binary is on PATH (Debian's
``apt-get install chromium``; CI's machine has one), and is skipped, saying so, elsewhere.
About 35 s, most of it loading Pyodide: ``python -m pytest tests/pyodide/test_browser.py``.
"""

from __future__ import annotations

import functools
import json
import os
import queue
import shutil
import signal
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


class _Site(SimpleHTTPRequestHandler):
    """Serves the page's folder; the page POSTs its output to ``/result`` when it is done."""

    results: "queue.Queue[str]"

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
        self.send_response(204)
        self.end_headers()
        self.results.put(body)

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
    results: "queue.Queue[str]" = queue.Queue()
    handler = type("Handler", (_Site,), {"results": results})
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(site)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    query = urlencode([("wheel", wasmforge_wheel.name), ("file", "wc.wasm=/work/wc.wasm"),
                       ("file", "poem.txt=/work/data/poem.txt"), ("script", "readme_example.py"),
                       ("script", "wasi_wc.py"), ("script", "runtime_limits.py")])
    url = f"http://127.0.0.1:{server.server_address[1]}/browser.html?{query}"
    # Real time, not --virtual-time-budget with --dump-dom: a page's virtual clock moves only
    # when Chromium lets it (a WASI sleep measured 0 ms under load), and the page says itself
    # when it is done by POSTing its output.
    browser = subprocess.Popen([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                                f"--user-data-dir={tmp_path_factory.mktemp('profile')}", url],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)
    try:
        output = results.get(timeout=600)
    except queue.Empty:
        output = None
    finally:
        os.killpg(browser.pid, signal.SIGKILL)
        _, stderr = browser.communicate()
        server.shutdown()
        server.server_close()
    assert output is not None, f"the page did not report within 600 s:\n{stderr[-2000:]}"
    sections: dict = {}
    current = None
    for line in output.splitlines():
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
