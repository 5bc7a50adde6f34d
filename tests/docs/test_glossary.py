"""docs/glossary.md runs: every code block of every entry is executed and its shown output
checked, and every term of the WebAssembly vocabulary the glossary promises has an entry.

The conventions the page follows (its introduction states them too):

- an entry is a ``### Term`` heading and the text up to the next heading;
- a code block is ``python`` (run in a fresh namespace) or ``sh`` (one ``wasmforge ...``
  command per line, run as a separate process); any other fence is refused, so nothing on the
  page escapes execution;
- the blocks of one entry run in order in one fresh temporary directory holding a copy of the
  repository's ``examples/`` (and its ``tests/toolchains/``, the compilers' output), so paths
  read as at the repository root and a later block may use a file an earlier one wrote;
- an ``output`` block right after a code block is everything that block prints (for ``sh``,
  standard output and standard error as a terminal shows them); ``...`` alone on a line stands
  for any number of lines, and inside a line for any text; a code block without an ``output``
  block must print nothing;
- a command ends with ``# exits N`` when its exit status is not 0.

Examples run on the interp tier (``WASMFORGE_STRATEGY=interp``) unless they choose a tier, so
the whole page runs in seconds (``WASMFORGE_GLOSSARY_TIER=llvm`` runs them on the llvm tier,
slower: every example module is compiled); an entry choosing the llvm tier is skipped, saying so, where
llvmlite is not installed.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional

import pytest

from support import has_llvmlite

ROOT = Path(__file__).resolve().parent.parent.parent
GLOSSARY = ROOT / "docs" / "glossary.md"

#: The vocabulary of issue 17 (Build item 2): each must keep an entry. A heading names the
#: entry; the sub-terms after ":" must appear in its text (the kinds of section, the three
#: WASI generations).
TERMS = [
    "binary format", "WAT", "module",
    "section: type, function, memory, export, import, custom",
    "stack machine", "linear memory", "sandbox", "instantiation", "import", "export",
    "host function", "WASI", "capability-based security", "preopened directory",
    "wasi_unstable / preview1 / preview2: wasi_unstable, wasi_snapshot_preview1, WASI 0.2",
    "component", "WIT", "world", "interface", "resource", "canonical ABI", "bindings",
    "composition", "JIT", "AOT", "cold start", "isolate", "serverless", "instant-on",
    "module validation", "Emscripten", "wasi-sdk", "Pyodide",
]

FENCE = re.compile(r"^```([^\n`]*)\n(.*?)^```[ \t]*$", re.S | re.M)
HEADING = re.compile(r"^(#{1,3}) (.+)$", re.M)
EXITS = re.compile(r"#\s*exits\s+(\d+)\s*$")


@dataclass
class Block:
    lang: str
    code: str
    line: int                       # where the block starts in the page (1-based)
    output: Optional[str] = None    # the ``output`` block that follows it, if any


@dataclass
class Entry:
    term: str
    line: int
    text: str
    blocks: List[Block] = field(default_factory=list)


def parse(page: str) -> List[Entry]:
    """The page's ``###`` entries with their code blocks, each paired with the ``output`` block
    right after it.  Raises ``ValueError`` for a fence of another language, an ``output`` block
    with no code block before it, or code outside any entry."""
    heads = [(m.start(), len(m.group(1)), m.group(2).strip()) for m in HEADING.finditer(page)]
    entries: List[Entry] = []
    bounds = [pos for pos, _, _ in heads] + [len(page)]
    for (pos, level, title), end in zip(heads, bounds[1:]):
        if level == 3:
            entries.append(Entry(title, page.count("\n", 0, pos) + 1, page[pos:end]))
    for m in FENCE.finditer(page):
        line = page.count("\n", 0, m.start()) + 1
        lang = m.group(1).strip()
        owner = [e for e in entries if e.line <= line and line < e.line + e.text.count("\n") + 1]
        if lang not in ("python", "sh", "output"):
            raise ValueError(f"glossary.md:{line}: a ```{lang} block would not be executed: "
                             "use python, sh or output")
        if not owner:
            raise ValueError(f"glossary.md:{line}: a code block outside any ### entry")
        entry = owner[-1]
        if lang == "output":
            before = page[:m.start()].rstrip()
            last = entry.blocks[-1] if entry.blocks else None
            if last is None or last.output is not None or not before.endswith("```"):
                raise ValueError(f"glossary.md:{line}: an output block must follow a code block")
            last.output = m.group(2)
        else:
            entry.blocks.append(Block(lang, m.group(2), line))
    return entries


def matches(expected: str, actual: str) -> bool:
    """Whether ``actual`` is what ``expected`` shows: equal, but for ``...`` (a whole line: any
    number of lines; inside a line: any text on that line)."""
    pattern = []
    for line in expected.splitlines():
        if line.strip() == "...":
            pattern.append(r"(?:[^\n]*\n)*?")
        else:
            parts = [re.escape(p) for p in line.split("...")]
            pattern.append("[^\n]*".join(parts) + r"\n")
    return re.fullmatch("".join(pattern), actual if actual.endswith("\n") or not actual else actual + "\n") \
        is not None


def run_python(block: Block, capfd) -> str:
    code = compile(block.code, f"docs/glossary.md:{block.line}", "exec")
    exec(code, {"__name__": "__glossary__"})
    sys.stdout.flush()
    sys.stderr.flush()
    out, err = capfd.readouterr()
    assert err == "", f"glossary.md:{block.line}: the example wrote to stderr:\n{err}"
    return out


def run_sh(block: Block, cwd: Path, env: dict) -> str:
    out = []
    for n, line in enumerate(block.code.splitlines()):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        where = f"glossary.md:{block.line + 1 + n}"
        status = EXITS.search(line)
        argv = shlex.split(line, comments=True)
        assert argv[0] == "wasmforge", f"{where}: only wasmforge commands run here: {line!r}"
        r = subprocess.run([sys.executable, "-m", "wasmforge", *argv[1:]], cwd=cwd, env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120)
        want = int(status.group(1)) if status else 0
        assert r.returncode == want, f"{where}: exit status {r.returncode}, not {want}:\n{r.stdout}"
        out.append(r.stdout)
    return "".join(out)


PAGE = GLOSSARY.read_text(encoding="utf-8")
ENTRIES = parse(PAGE)


def missing_terms(entries: List[Entry]) -> List[str]:
    """The terms of ``TERMS`` without an entry (or whose entry does not mention a sub-term)."""
    titles = {e.term.lower(): e for e in entries}
    missing = []
    for spec in TERMS:
        term, _, subterms = spec.partition(": ")
        entry = titles.get(term.lower())
        if entry is None:
            missing.append(term)
            continue
        missing += [f"{term} -> {s}" for s in subterms.split(", ") if subterms and s not in entry.text]
    return missing


def test_every_term_has_an_entry():
    assert not missing_terms(ENTRIES), f"docs/glossary.md lacks entries for: {missing_terms(ENTRIES)}"


def test_losing_an_entry_is_noticed():
    without_wit = [e for e in ENTRIES if e.term != "WIT"]
    assert missing_terms(without_wit) == ["WIT"]
    section = next(e for e in ENTRIES if e.term == "Section")
    blind = Entry(section.term, section.line, re.sub(r"\bcustom\b", "other", section.text))
    assert missing_terms([blind if e is section else e for e in ENTRIES]) == ["section -> custom"]


def test_every_entry_explains_and_shows():
    for entry in ENTRIES:
        prose = FENCE.sub("", entry.text).split("\n", 1)[1].strip()
        assert len(prose) > 200, f"glossary.md:{entry.line}: {entry.term!r} needs its paragraph"
        assert entry.blocks, f"glossary.md:{entry.line}: {entry.term!r} has no example"


@pytest.fixture
def sandbox(tmp_path, monkeypatch):
    """An entry's working directory (with examples/ and tests/toolchains/) and the environment
    its blocks run with: the interp tier and a private cache."""
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    (tmp_path / "tests").mkdir()                  # compilers' output, read only: linked, not copied
    (tmp_path / "tests" / "toolchains").symlink_to(ROOT / "tests" / "toolchains")
    cache = tmp_path.parent / (tmp_path.name + "-cache")
    monkeypatch.setenv("WASMFORGE_STRATEGY", os.environ.get("WASMFORGE_GLOSSARY_TIER", "interp"))
    monkeypatch.setenv("WASMFORGE_CACHE_DIR", str(cache))
    # commands, and processes an example starts, import this tree's wasmforge
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.chdir(tmp_path)
    return tmp_path, dict(os.environ)


@pytest.mark.parametrize("entry", ENTRIES, ids=[e.term for e in ENTRIES])
def test_the_entry_runs_as_shown(entry, sandbox, capfd):
    cwd, env = sandbox
    if not has_llvmlite() and any('"llvm"' in b.code or "--tier llvm" in b.code for b in entry.blocks):
        pytest.skip(f"LLVM TIER NOT TESTED: the {entry.term!r} example needs llvmlite (pip install '.[llvm]')")
    capfd.readouterr()
    for block in entry.blocks:
        out = run_python(block, capfd) if block.lang == "python" else run_sh(block, cwd, env)
        if block.output is None:
            assert out == "", f"glossary.md:{block.line}: prints output the page does not show:\n{out}"
        else:
            assert matches(block.output, out), (
                f"glossary.md:{block.line}: printed\n{out}\n-- the page shows --\n{block.output}")


# -- the checker itself: it must be able to fail --------------------------------------------

def test_the_checker_compares_output_exactly_but_for_ellipses():
    assert matches("5\n", "5\n")
    assert not matches("5\n", "6\n")
    assert not matches("5\n", "5\n6\n")            # unshown lines fail
    assert matches("a\n...\nz\n", "a\nb\nc\nz\n")
    assert matches("a\n...\nz\n", "a\nz\n")
    assert matches("took ... ms\n", "took 0.5 ms\n")
    assert not matches("took ... ms\n", "took 0.5\nms\n")


def test_the_checker_refuses_unexecuted_and_orphan_blocks():
    with pytest.raises(ValueError, match="would not be executed"):
        parse("### X\n\n```wit\nworld w {}\n```\n")
    with pytest.raises(ValueError, match="must follow a code block"):
        parse("### X\n\ntext\n\n```output\n5\n```\n")
    with pytest.raises(ValueError, match="outside any"):
        parse("# Title\n\n```python\nprint(1)\n```\n")
    (entry,) = parse("### X\n\n```python\nprint(1)\n```\n\n```output\n1\n```\n")
    assert [(b.lang, b.output) for b in entry.blocks] == [("python", "1\n")]


def test_a_block_printing_what_the_page_does_not_show_fails(tmp_path, capfd):
    (entry,) = parse("### X\n\n```python\nprint(2 + 2)\n```\n\n```output\n5\n```\n")
    out = run_python(entry.blocks[0], capfd)
    assert out == "4\n" and not matches(entry.blocks[0].output, out)


def test_a_command_with_an_unexpected_exit_status_fails(tmp_path):
    (entry,) = parse("### X\n\n```sh\nwasmforge validate missing.wat\n```\n")
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    with pytest.raises(AssertionError, match="exit status 1, not 0"):
        run_sh(entry.blocks[0], tmp_path, env)
