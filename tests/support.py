"""Helpers shared by the tests: where the spec suite and the benchmark corpus live.

The suite's location comes from WASMFORGE_TESTSUITE (default: ../shared/testsuite beside the
repository); the corpus's from WASMFORGE_BENCH (default: ../shared/bench).
"""

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TESTSUITE = Path(os.environ.get("WASMFORGE_TESTSUITE", ROOT.parent / "shared" / "testsuite"))
BENCH = Path(os.environ.get("WASMFORGE_BENCH", ROOT.parent / "shared" / "bench"))


def suite_files():
    """The WebAssembly 2.0 spec scripts: the top-level *.wast files of the suite."""
    if not TESTSUITE.is_dir():
        return []
    return sorted(TESTSUITE.glob("*.wast"))


def descriptors_under(path) -> int:
    """How many of this process's open descriptors name ``path`` or something below it (Linux).
    Counting every descriptor would be racy: other threads (a tier-up compile, a subprocess's
    pipes freed by the garbage collector) open and close theirs meanwhile."""
    root = str(Path(path).resolve())
    n = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue            # closed meanwhile (or the listing's own descriptor)
        n += target == root or target.startswith(root + "/")
    return n


def has_llvmlite() -> bool:
    """Whether the llvm tier can load here (llvmlite installed)."""
    try:
        import llvmlite.binding  # noqa: F401
    except ImportError:
        return False
    return True


def tier_params():
    """Both execution tiers as pytest parameters; llvm skipped, saying so, without llvmlite."""
    import pytest
    return ["interp", pytest.param("llvm", marks=pytest.mark.skipif(
        not has_llvmlite(),
        reason="LLVM TIER NOT TESTED: llvmlite is not installed (pip install '.[llvm]')"))]


def hide_llvmlite(monkeypatch) -> None:
    """Make llvmlite unimportable for one test, as on a machine without the `llvm` extra."""
    import sys
    for name in [n for n in sys.modules if n == "llvmlite" or n.startswith(("llvmlite.", "wasmforge.llvm"))]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "llvmlite", None)
    monkeypatch.setitem(sys.modules, "llvmlite.binding", None)


def engine_for(tier, **settings):
    """An Engine on `tier` with the given Config settings (attribute name -> value)."""
    from wasmforge import Config, Engine
    config = Config()
    config.strategy = tier
    for name, value in settings.items():
        setattr(config, name, value)
    return Engine(config)


def peek_linker(tier):
    """An engine on `tier` and a linker defining host.peek, a caller-bound import that records
    the first byte of the calling instance's exported "mem"; returns (engine, linker, seen)."""
    from wasmforge import FuncType, Linker
    engine = engine_for(tier)
    linker = Linker(engine)
    seen = []
    linker.define_func("host", "peek", FuncType([], []),
                       lambda caller: seen.append(caller["mem"].read(caller, 0, 1)), access_caller=True)
    return engine, linker, seen
