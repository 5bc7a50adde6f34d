"""What `wasmforge run` of a core module loads: only what running it needs (start-up time of
first and warm runs, issue 10; docs/performance.md, "First runs: what the process pays for")."""

from __future__ import annotations

import importlib
import importlib.util
import os
import subprocess
import sys

import pytest

from wasmforge import wat2wasm

EXIT7 = '''(module
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (func (export "_start") (call $exit (i32.const 7))))'''


def _imported(tmp_path, *extra_env):
    wasm = tmp_path / "exit.wasm"
    wasm.write_bytes(wat2wasm(EXIT7))
    env = dict(os.environ, WASMFORGE_CACHE_DIR=str(tmp_path / "cache"))
    for name in ("WASMFORGE_STRATEGY", "WASMFORGE_LLVM_LAZY"):
        env.pop(name, None)
    env.update(extra_env)
    cmd = [sys.executable, "-X", "importtime", "-m", "wasmforge", "run", str(wasm)]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 7, done.stderr[-2000:]
    return {line.split("|")[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}


def test_running_a_core_module_loads_no_component_machinery(tmp_path):
    for run in (1, 2):          # a first run (compiles) and a warm one (from the module cache)
        modules = _imported(tmp_path)
        assert "wasmforge.cli._load" in modules
        loaded = sorted(m for m in modules if m.startswith(("wasmforge.cm.", "wasmforge.component",
                                                              "wasmforge.wasip2")))
        assert loaded == ["wasmforge.cm.preamble"], f"run {run}: {loaded}"


def test_running_a_core_module_loads_no_asyncio_logging_sockets_or_pathlib(tmp_path):
    # What a synchronous WASI run has no use for (docs/performance.md, "Start-up, fifth
    # pass"): asyncio (with ssl, subprocess, concurrent.futures) for async calls, logging for
    # records nobody configured, socket for preopened sockets, pathlib for reading a file,
    # the network capability of WASI 0.2 sockets (a first run's compile by LLVM imports
    # llvmlite, which loads pathlib and with it ipaddress itself; the quick compiler's does not).
    from wasmforge.llvm import quick
    llvm_first_run = not (quick.wanted() and quick.cpu_supported())
    for run in (1, 2):          # a first run (compiles) and a warm one (from the module cache)
        modules = _imported(tmp_path)
        assert "wasmforge.wasi.ctx" in modules
        unwanted = {"asyncio", "ssl", "logging", "socket", "concurrent.futures", "wasmforge.wasi.network"}
        if run == 2 or not llvm_first_run:
            unwanted |= {"pathlib", "ipaddress"}
        assert sorted(modules & unwanted) == [], f"run {run}"


def test_a_short_compile_imports_no_progress_bar(tmp_path):
    # tqdm costs ~30 ms to import; a bar only shows once compiling has taken a second.
    modules = _imported(tmp_path)
    assert "wasmforge.llvm.compiler" in modules or "wasmforge.interp" in modules
    assert "tqdm" not in modules


def test_a_first_run_below_the_tiering_threshold_loads_no_interp_tier(tmp_path):
    # The module compiles at once (baseline first): the interp tier is loaded only for a
    # tiered start (40 KiB of code or more, tiering.py).
    modules = _imported(tmp_path)
    assert "wasmforge.llvm.compiler" in modules
    assert not any(m == "wasmforge.interp" or m.startswith("wasmforge.interp.") for m in modules)


def test_running_in_process_leaves_the_collector_alone(tmp_path):
    # `wasmforge run` freezes the collector's objects in its own process only (cli.main);
    # a host running the command in process (here click's CliRunner) keeps its collector.
    import gc

    from click.testing import CliRunner

    from wasmforge.cli import cli
    wasm = tmp_path / "exit.wasm"
    wasm.write_bytes(wat2wasm(EXIT7))
    frozen = gc.get_freeze_count()
    result = CliRunner().invoke(cli, ["run", "--tier", "interp", str(wasm)])
    assert result.exit_code == 7, result.output
    assert gc.get_freeze_count() == frozen


def test_a_warm_run_loads_no_click_no_ir_generator_and_no_artifact_format(tmp_path):
    # What a warm `wasmforge run FILE` of a cached module has no use for (docs/performance.md,
    # "Start-up, sixth pass"): click (the fast start of `run` parses the command line
    # itself), the IR generator and the lazily compiled modules' recompiler (a cache hit
    # generates no IR), the artifact format (the encoder: a wasm binary is no artifact),
    # dataclasses (whose decorator compiled generated methods for each class at import),
    # inspect (with ast, dis, tokenize) and pickle (for a background recompile only).  The exit
    # status is the same as through click.
    _imported(tmp_path)                 # a first run fills the module cache
    modules = _imported(tmp_path)
    assert "wasmforge.llvm.modcache" in modules or "wasmforge.interp" in modules
    unwanted = {"click", "wasmforge.llvm.codegen", "wasmforge.llvm.lazytier", "wasmforge.api.aot",
                "wasmforge.binary.encode", "wasmforge.cli._group", "wasmforge.cli.run", "dataclasses",
                "inspect", "ast", "dis", "tokenize", "pickle"}
    assert sorted(modules & unwanted) == []


def test_the_fast_start_of_run_leaves_to_click_what_it_does_not_parse(tmp_path):
    # A bad option value, an option the fast start does not take, or none of FILE: click
    # reports it as it always did (a usage error, status 2).
    wasm = tmp_path / "exit.wasm"
    wasm.write_bytes(wat2wasm(EXIT7))
    env = dict(os.environ, WASMFORGE_CACHE_DIR=str(tmp_path / "cache"))
    for args, status, says in ((["run", "--tier", "bogus", str(wasm)], 2, "Invalid value for '--tier'"),
                               (["run", "--fuel", "-1", str(wasm)], 2, "--fuel"),
                               (["run", "--fuel", str(2**64), str(wasm)], 2, "Invalid value for '--fuel'"),
                               (["run", "--dir", "::x", str(wasm)], 2, "expected HOST[::GUEST][:ro]"),
                               (["run"], 2, "Missing argument 'FILE'"),
                               (["--fuel=1000", str(wasm)], 7, ""),
                               (["run", "--env", "A=1", "--dir=.", str(wasm), "--help"], 7, "")):
        done = subprocess.run([sys.executable, "-m", "wasmforge", *args], env=env, capture_output=True,
                              text=True, timeout=120)
        assert done.returncode == status, (args, done.stderr)
        assert says in done.stderr, (args, done.stderr)


_GC_PROBE = """
import gc, runpy, sys
from wasmforge.api import handles, linker
seen = []
for cls, name in ((handles.Module, "_from_cache"), (linker.Linker, "instantiate")):
    def wrap(real, name=name):
        def probe(*args, **kwargs):
            seen.append((name, gc.isenabled()))
            return real(*args, **kwargs)
        return probe
    setattr(cls, name, wrap(getattr(cls, name)))
import atexit
atexit.register(lambda: sys.stderr.write("GC %r %r\\n" % (seen, gc.isenabled())))
sys.argv = ["wasmforge", "run", sys.argv[1]]
runpy.run_module("wasmforge", run_name="__main__", alter_sys=True)
"""


def _gc_states(tmp_path, prelude=""):
    """The probe's line of a first and a warm run of EXIT7 (``prelude`` run before the CLI)."""
    wasm = tmp_path / "exit.wasm"
    wasm.write_bytes(wat2wasm(EXIT7))
    env = dict(os.environ, WASMFORGE_CACHE_DIR=str(tmp_path / "cache"))
    for name in ("WASMFORGE_STRATEGY", "WASMFORGE_LLVM_LAZY"):
        env.pop(name, None)
    states = []
    for run in (1, 2):
        done = subprocess.run([sys.executable, "-c", prelude + _GC_PROBE, str(wasm)], env=env,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 7, done.stderr[-2000:]
        states.append([line for line in done.stderr.splitlines() if line.startswith("GC ")][-1])
    return states


def test_a_warm_run_loads_and_instantiates_without_the_collector(tmp_path):
    # What a module cache hit makes lives until the exit (frozen after instantiation): yosys's
    # warm run spent 0.09 s of CPU in 117 collections of it, one of them full.
    states = _gc_states(tmp_path)
    # A first run compiles with the collector on, as before; a warm one loads and
    # instantiates without it, and has it back for the guest's run.
    assert states[0] == "GC [('_from_cache', False), ('instantiate', True)] True", states
    assert states[1] == "GC [('_from_cache', False), ('instantiate', False)] True", states


def test_a_run_leaves_a_collector_turned_off_off(tmp_path):
    # A site hook (sitecustomize) may have turned the collector off: the run's pause during
    # the load does not turn it back on.
    states = _gc_states(tmp_path, "import gc; gc.disable()\n")
    assert states == ["GC [('_from_cache', False), ('instantiate', False)] False"] * 2, states


def test_the_names_loaded_on_first_use_are_still_the_packages():
    # wasmforge.binary's encoder, wasmforge.llvm's UnsupportedError and the click group load on
    # first use (a module __getattr__, for the warm run above): still imported, listed and
    # starred as before.
    packages = [("wasmforge.binary", "wasmforge.binary.encode", ("encode_module", "encode_instr", "encode_expr")),
                ("wasmforge.cli", "wasmforge.cli._group", ("cli",))]
    if importlib.util.find_spec("llvmlite") is not None:
        packages.append(("wasmforge.llvm", "wasmforge.llvm.codegen", ("UnsupportedError",)))
    for package_name, source, names in packages:
        package = importlib.import_module(package_name)
        for name in names:
            assert name in dir(package) and name in package.__all__
            assert getattr(package, name) is getattr(importlib.import_module(source), name)
        starred: dict = {}
        exec(f"from {package_name} import *", starred)
        assert set(names) <= set(starred)
        with pytest.raises(AttributeError):
            getattr(package, "no_such_name")
