"""The bindings test project (bindgen_project/): a host program typed through the bindings
`wasmforge bindgen` writes for the component's world passes `mypy --strict` and runs; wrong
variants of it (an import implemented with a wrong parameter type, an export called with a
wrong argument, a result used as the wrong type) make mypy fail with the expected error, so
the types are real."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
PROJECT = Path(__file__).resolve().parent / "bindgen_project"
HOST = (PROJECT / "host.py").read_text()

EXPECTED_OUTPUT = """\
hello, world
ok: Point(x=4, y=3)
error: x is negative: -1
KITCHEN ['a', 'b', 'seen'] 2 True
['log: one', 'log: two']
closed logger ''
counter: 42 total: 43
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """The project with its bindings written by the command line."""
    where = tmp_path_factory.mktemp("bindgen_project")
    done = subprocess.run([sys.executable, "-m", "wasmforge", "bindgen", str(PROJECT / "wit"), "-o",
                           str(where / "kitchen_bindings.py")], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    shutil.copy(PROJECT / "host.py", where / "host.py")
    return where


def mypy(where: Path, *files: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, MYPYPATH=str(ROOT / "src"))
    return subprocess.run([sys.executable, "-m", "mypy", "--strict", "--no-incremental", "--follow-imports=silent",
                           "--cache-dir", os.devnull, *files], cwd=where, capture_output=True, text=True,
                          timeout=900, env=env)


def test_host_and_bindings_pass_mypy_strict(project):
    pytest.importorskip("mypy")
    done = mypy(project, "host.py", "kitchen_bindings.py")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Success: no issues found in 2 source files" in done.stdout


def test_host_runs_the_component(project):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "src"), str(project)]))
    done = subprocess.run([sys.executable, "host.py", str(PROJECT / "kitchen.wat")], cwd=project,
                          capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr
    assert done.stdout == EXPECTED_OUTPUT


WRONG = {
    # an import implemented with a wrong parameter type: Imports no longer fits the Protocol
    "wrong_import.py": (
        "    def check(self, p: Point) -> Result[Point, str]:",
        "    def check(self, p: str) -> Result[Point, str]:",
        ['Argument 3 to "instantiate" has incompatible type "Imports"; expected "KitchenImports"',
         'host: expected "HostImports", got "Host"']),
    # an export called with a wrong argument type
    "wrong_call.py": (
        'plugin.api.log_with(logger, "one")',
        "plugin.api.log_with(logger, 1)",
        ['Argument 2 to "log_with" of "ApiExports" has incompatible type "int"; expected "str"']),
    # a resource method's result used as the wrong type
    "wrong_result.py": (
        "total: int = counters.total(counter, [zero])",
        "total: str = counters.total(counter, [zero])",
        ['Incompatible types in assignment (expression has type "int", variable has type "str")']),
    # a variant case that does not exist, and a record built with a wrong field type
    "wrong_value.py": (
        "shape=kitchen.ShapeCircle(2.5)",
        "shape=kitchen.Point(2, 5)",
        ['Argument "shape" to "Everything" has incompatible type "Point"']),
}


@pytest.mark.parametrize("name", sorted(WRONG))
def test_a_wrong_program_fails_mypy(project, name):
    pytest.importorskip("mypy")
    old, new, messages = WRONG[name]
    assert HOST.count(old) == 1
    (project / name).write_text(HOST.replace(old, new))
    done = mypy(project, name)
    assert done.returncode == 1, done.stdout
    for message in messages:
        assert message in done.stdout, done.stdout


DOCS = (ROOT / "docs" / "components.md").read_text()


def _blocks_after(marker: str, lang: str | None = None) -> list:
    """The fenced code blocks (of language ``lang``, or any) of docs/components.md after
    ``marker``, in order."""
    blocks, current, kind = [], None, ""
    for line in DOCS[DOCS.index(marker):].splitlines(keepends=True):
        if line.startswith("```"):
            if current is None:
                current, kind = [], line[3:].strip()
            else:
                if lang is None or kind == lang:
                    blocks.append("".join(current))
                current = None
        elif current is not None:
            current.append(line)
    return blocks


def test_the_tutorial_shows_the_tested_host_and_its_output():
    host, output = _blocks_after("<!-- bindgen-tutorial-host")[:2]
    assert host == HOST
    assert output == EXPECTED_OUTPUT


def test_the_tutorial_wit_is_the_project_wit():
    wit = _blocks_after("## Tutorial: from a WIT file", "wit")[0]
    project = {line.strip() for line in (PROJECT / "wit" / "kitchen.wit").read_text().splitlines()}
    for line in wit.splitlines():
        code = line.split("//")[0].strip()
        if code:
            assert code in project, line


def test_the_python_api_snippet_runs(tmp_path):
    snippet = next(b for b in _blocks_after("## Bindings (`wasmforge bindgen`)", "python")
                   if "from wasmforge import bindgen" in b)
    shutil.copytree(PROJECT / "wit", tmp_path / "wit")
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    check = "\nassert source == open('kitchen_bindings.py').read() and kitchen.Point(1, 2).y == 2\n"
    done = subprocess.run([sys.executable, "-c", snippet + check], cwd=tmp_path, capture_output=True, text=True,
                          env=env, timeout=300)
    assert done.returncode == 0, done.stderr
