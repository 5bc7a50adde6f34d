"""The package layering (docs/architecture.md, "Layers"): each package imports only packages
of lower layers, so there is no import cycle between packages; ``runtime/`` names no tier,
no tier imports another, nothing below ``api/`` imports it; and no import inside a function
hides a cycle.  Checked statically over the source (every import, wherever it is written)
and dynamically (each package imported alone in a fresh interpreter)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src"
PACKAGE = SRC / "wasmforge"

#: Every package (or top-level module) of wasmforge, by layer, lowest first.  A unit may
#: import units of lower layers only (and itself).
LAYERS = [
    {"_frozen"},
    {"_version", "errors", "features", "_cache", "_log"},
    {"types", "opcodes", "debuginfo"},
    {"module", "numerics"},
    {"binary", "_validcache"},
    {"text", "valid"},
    {"runtime"},
    {"interp", "llvm", "wasi"},
    {"tiering"},
    {"cm"},
    {"api", "wasip2"},
    {"component", "profile"},
    {"bindgen"},
    {"serve"},
    {"script", "_fuzz", "_difffuzz", "__init__"},
    {"cli"},
    {"__main__"},
]
LAYER = {unit: i for i, units in enumerate(LAYERS) for unit in units}
TIERS = {"interp", "llvm"}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts.pop()
    return ".".join(parts)


def _is_module(name: str) -> bool:
    path = SRC.joinpath(*name.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def _unit(module: str) -> str:
    """The layering unit of a wasmforge module: its subpackage or top-level module."""
    parts = module.split(".")
    return "__init__" if len(parts) == 1 else parts[1]


def _imports(path: Path):
    """(target module, line, inside a function) for each wasmforge import in ``path``."""
    name = _module_name(path)
    is_pkg = path.name == "__init__.py"
    tree = ast.parse(path.read_text(), str(path))
    functions = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    local = {id(s) for f in functions for s in ast.walk(f) if isinstance(s, (ast.Import, ast.ImportFrom))}
    # Imports for type checkers only (`if TYPE_CHECKING:`) never run.
    typing_only = {id(s) for n in ast.walk(tree) if isinstance(n, ast.If)
                   and "TYPE_CHECKING" in ast.dump(n.test) for b in n.body for s in ast.walk(b)}
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        targets = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")
                base = base[:len(base) - node.level + (1 if is_pkg else 0)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            # `from . import x` / `from .pkg import module`: the submodule is what is imported
            # (its package's __init__ runs too, but a package's own __init__ is that package).
            subs = [mod + "." + a.name for a in node.names if _is_module(mod + "." + a.name)]
            targets = subs if subs and len(subs) == len(node.names) else [mod] + subs
        for t in targets:
            if t == "wasmforge" or t.startswith("wasmforge."):
                yield t, node.lineno, id(node) in local


def _graph():
    """{module: [(target, line, local)]} over every module of the package."""
    return {_module_name(p): list(_imports(p)) for p in PACKAGE.rglob("*.py")}


def test_every_unit_has_a_layer():
    units = {_unit(m) for m in _graph()}
    assert units - set(LAYER) == set(), "add the new package to LAYERS"


def test_packages_import_only_lower_layers():
    wrong = []
    for module, imports in _graph().items():
        src = _unit(module)
        for target, line, _ in imports:
            dst = _unit(target)
            if dst != src and LAYER[dst] >= LAYER[src]:
                wrong.append(f"{module}:{line} imports {target} ({src} is layer {LAYER[src]}, "
                             f"{dst} layer {LAYER[dst]})")
    assert wrong == []


def test_runtime_names_no_tier_and_no_tier_imports_another():
    graph = _graph()
    wrong = [f"{m}:{line} imports {t}" for m, imports in graph.items() for t, line, _ in imports
             if (_unit(m) == "runtime" and _unit(t) in TIERS)
             or (_unit(m) in TIERS and _unit(t) in TIERS and _unit(t) != _unit(m))]
    assert wrong == []
    # Nor by name (through importlib, or a strategy compared with a tier's name): no string in
    # the runtime's code (docstrings aside) is a tier's name or module.
    named = []
    for path in (PACKAGE / "runtime").rglob("*.py"):
        tree = ast.parse(path.read_text())
        docs = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Expr)}
        for n in ast.walk(tree):
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docs:
                words = n.value.replace(".", " ").split()
                if any(w in TIERS for w in words):
                    named.append(f"{path.name}:{n.lineno}: {n.value!r}")
    assert named == []


def test_no_package_cycle():
    edges: dict = {}
    for module, imports in _graph().items():
        for target, _, _ in imports:
            if _unit(target) != _unit(module):
                edges.setdefault(_unit(module), set()).add(_unit(target))
    seen, stack, cycles = set(), [], []

    def visit(u):
        if u in stack:
            cycles.append(stack[stack.index(u):] + [u])
            return
        if u in seen:
            return
        seen.add(u)
        stack.append(u)
        for v in sorted(edges.get(u, ())):
            visit(v)
        stack.pop()

    for u in sorted(edges):
        visit(u)
    assert cycles == []


def test_no_function_local_import_hides_a_cycle():
    """An import written inside a function from A to B is allowed (for start-up speed) only
    when B does not import A back, at module level or anywhere: otherwise it hides a cycle."""
    graph = _graph()
    reach: dict = {}

    def reachable(start: str) -> set:
        if start not in reach:
            out, todo = set(), [start]
            while todo:
                m = todo.pop()
                for t, _, _ in graph.get(m, ()):
                    if t not in out:
                        out.add(t)
                        todo.append(t)
            reach[start] = out
        return reach[start]

    hidden = [f"{m}:{line} imports {t} inside a function, and {t} imports {m} back"
              for m, imports in graph.items() for t, line, local in imports
              if local and t != m and m in reachable(t) and not m.startswith(t + ".")]
    assert hidden == []


# Each package imported alone, in a fresh interpreter, without running wasmforge/__init__.py
# (which imports the public API): what it loads must be of its own package or lower layers.
PACKAGES = sorted(u for u in LAYER if u not in ("__init__", "__main__"))

_ALONE = """
import importlib, sys, types
top = types.ModuleType("wasmforge")
top.__path__ = [{path!r}]
sys.modules["wasmforge"] = top
importlib.import_module("wasmforge.{unit}")
print("\\n".join(m for m in sys.modules if m.startswith("wasmforge.")))
"""


@pytest.mark.parametrize("unit", PACKAGES)
def test_importing_a_package_alone_loads_nothing_above_it(unit):
    code = _ALONE.format(path=str(PACKAGE), unit=unit)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    if unit == "llvm" and "No module named 'llvmlite'" in out.stderr:
        pytest.skip("llvmlite is not installed")
    assert out.returncode == 0, out.stderr
    loaded = {_unit(m) for m in out.stdout.split()}
    assert loaded, "nothing was imported"
    above = sorted(u for u in loaded if u != unit and LAYER[u] >= LAYER[unit])
    assert above == [], f"importing wasmforge.{unit} loaded {above}"


def test_every_function_local_import_says_why():
    """An import inside a function (kept for start-up speed) carries a comment saying why: on
    its line, or on the line just above it or above the run of imports it belongs to."""
    silent = []
    for path in PACKAGE.rglob("*.py"):
        lines = path.read_text().splitlines()
        tree = ast.parse("\n".join(lines), str(path))
        for f in ast.walk(tree):
            if not isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(f):
                if not isinstance(node, (ast.Import, ast.ImportFrom)):
                    continue
                i = node.lineno - 1
                if "#" in lines[i]:
                    continue
                while i > 0 and lines[i - 1].strip().startswith(("import ", "from ")):
                    i -= 1
                if not lines[i - 1].strip().startswith("#"):
                    silent.append(f"{path.relative_to(SRC)}:{node.lineno}: {lines[node.lineno - 1].strip()}")
    assert silent == []
