"""The plugin host example (examples/plugins/): the demo runs end to end on both tiers, the
well-behaved plugins answer, the malicious one is contained call by call (fuel, deadline,
memory limit, a trap, a log flood) while the others go on, a plugin importing more than the
world offers is refused before it runs, and the committed bindings are what `wasmforge
bindgen` writes from the committed WIT and pass `mypy --strict` with the host."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from wasmforge import bindgen

ROOT = Path(__file__).resolve().parent.parent.parent
EXAMPLE = ROOT / "examples" / "plugins"


def run(*args: str, tier: str = "interp") -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]))
    return subprocess.run([sys.executable, "host.py", "--tier", tier, *args], cwd=EXAMPLE, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("tier", ["interp", "llvm"])
def test_the_demo_contains_the_malicious_plugin_and_serves_the_others(tier):
    if tier == "llvm":
        pytest.importorskip("llvmlite")
    done = run(tier=tier)
    assert done.returncode == 0, done.stderr
    out = done.stdout.splitlines()
    assert out[:4] == ["loaded evil", "loaded reverse",
                       f"rejected snoop: {EXAMPLE}/plugins/snoop.wasm: imports wasi:cli/environment@0.2.0, "
                       "which plugins may not use (they may import only: log)",
                       "loaded upper"]
    calls = [line for line in out[4:] if not line.startswith("    log: ")]
    assert calls == [
        "upper('hello, plugins'): ok: HELLO, PLUGINS",
        "upper(''): error: nothing to convert",
        "reverse('stressed'): ok: desserts",
        "reverse('naïve'): error: only ASCII text can be reversed",
        "evil('harmless'): ok: harmless",
        "evil('loop'): failed: ran out of fuel (10,000,000 units)",
        "evil('trap'): failed: trapped: unreachable",
        "evil('alloc'): failed: trapped: unreachable",
        "evil('flood'): failed: more than 100 log lines in one call",
        "upper('still fine'): ok: STILL FINE",
        calls[-1],
    ]
    assert calls[-1].startswith("evil('loop'): failed: ran past its deadline (0.5 s) (unlimited fuel; stopped after ")
    stopped = float(calls[-1].rsplit(" ", 2)[-2])
    assert 0.5 <= stopped < 3.0, stopped
    # what the plugins logged, line by line: the memory bomb got 16 MiB (the limit), no more
    text = done.stdout
    assert "upper('hello, plugins'): ok: HELLO, PLUGINS\n    log: converted to upper case\n" in text
    assert "evil('alloc'): failed: trapped: unreachable\n    log: memory.grow refused, pages: 241\n" in text
    assert "evil('flood'): failed: more than 100 log lines in one call\n" + "    log: all your base\n" * 3 \
        + "    log: ... 97 more lines\n" in text


def test_one_plugin_from_the_command_line():
    done = run("plugins/reverse.wasm", "abc")
    assert (done.returncode, done.stdout) == (0, "reverse('abc'): ok: cba\n    log: reversed some ASCII\n")
    done = run("plugins/snoop.wasm", "abc")
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr == ("error: plugins/snoop.wasm: imports wasi:cli/environment@0.2.0, which plugins may "
                           "not use (they may import only: log)\n")
    done = run("README.md", "abc")
    assert done.returncode == 1 and done.stderr.startswith("error: README.md: not a valid component: ")
    assert "Traceback" not in done.stderr


def test_a_smaller_memory_limit_stops_the_bomb_sooner():
    done = run("plugins/evil.wasm", "alloc", "--memory", str(4 * 1024 * 1024))
    assert done.returncode == 1
    assert done.stdout == "evil('alloc'): failed: trapped: unreachable\n    log: memory.grow refused, pages: 49\n"


def test_the_committed_bindings_are_what_bindgen_writes():
    assert (EXAMPLE / "plugin_api.py").read_text() == bindgen.generate(str(EXAMPLE / "wit"))


def test_the_host_and_its_bindings_pass_mypy_strict():
    pytest.importorskip("mypy")
    done = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--no-incremental", "host.py", "plugin_api.py"],
                          cwd=EXAMPLE, capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, MYPYPATH=str(ROOT / "src")))
    assert done.returncode == 0, done.stdout + done.stderr
