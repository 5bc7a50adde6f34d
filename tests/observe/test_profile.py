"""The sampling profiler (wasmforge.profile, ``wasmforge run --profile``): on both tiers it
finds the function a program spends its time in, names functions from DWARF where the
module has it, and writes speedscope's file format, checked here against the structure its
schema (https://www.speedscope.app/file-format-schema.json) requires."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from support import engine_for, tier_params
from wasmforge import ExitTrap, Instance, Linker, Module, Store, WasiConfig
from wasmforge.binary.decode import decode_module
from wasmforge.module import FUNC
from wasmforge.profile import SCHEMA, Profiler

FIXTURES = Path(__file__).resolve().parent / "fixtures"
SPIN = (FIXTURES / "spin.c").read_text().splitlines()

#: iterations of spin.c's hot loop: a few tenths of a second on each tier
SPIN_N = {"interp": 150_000, "llvm": 60_000_000}


def check_speedscope(data: dict) -> None:
    """What speedscope's schema requires of a file of sampled profiles (FileFormat.File,
    FileFormat.Frame, FileFormat.SampledProfile), and that each sample's frames exist."""
    assert set(data) >= {"$schema", "shared", "profiles"}
    assert data["$schema"] == SCHEMA
    frames = data["shared"]["frames"]
    assert isinstance(frames, list)
    for frame in frames:
        assert isinstance(frame["name"], str)
        assert set(frame) <= {"name", "file", "line", "col"}
        assert isinstance(frame.get("file", ""), str)
        for key in ("line", "col"):
            assert isinstance(frame.get(key, 0), (int, float))
    for key, kind in (("name", str), ("activeProfileIndex", (int, float)), ("exporter", str)):
        assert isinstance(data.get(key, kind() if kind is str else 0), kind)
    assert data["profiles"]
    for profile in data["profiles"]:
        assert set(profile) >= {"type", "name", "unit", "startValue", "endValue", "samples", "weights"}
        assert profile["type"] == "sampled"
        assert isinstance(profile["name"], str)
        assert profile["unit"] in ("bytes", "microseconds", "milliseconds", "nanoseconds", "none", "seconds")
        assert isinstance(profile["startValue"], (int, float)) and isinstance(profile["endValue"], (int, float))
        assert profile["startValue"] <= profile["endValue"]
        assert len(profile["samples"]) == len(profile["weights"])
        for stack, weight in zip(profile["samples"], profile["weights"]):
            assert stack and all(isinstance(k, int) and 0 <= k < len(frames) for k in stack)
            assert isinstance(weight, (int, float)) and weight >= 0
    json.dumps(data)                    # plain JSON values only


def self_recursive(path: Path) -> list:
    """The functions of a module that call themselves (fib's kernel)."""
    m = decode_module(path.read_bytes())
    n = m.num_imported(FUNC)
    return [n + j for j, f in enumerate(m.funcs)
            if any(ins[0].name == "call" and ins[1] == n + j for ins in f.iter_body())]


def run_wasi(engine, module, argv, profile=False, samples=20, seconds=3.0):
    """Run the WASI program ``module`` with ``argv``; with ``profile``, again and again in
    one store under a profiler until it has ``samples`` samples (or ``seconds`` passed: a
    run of the corpus's sizes takes milliseconds).  Returns the profiler and the output of
    the first run."""
    store = Store(engine)
    linker = Linker(engine)
    linker.define_wasi()
    wasi = WasiConfig()
    wasi.argv = argv
    out = bytearray()
    wasi.stdout_callback = out.extend
    store.set_wasi(wasi)
    profiler = Profiler(store)
    outputs = []
    if profile:
        profiler.start()
    start = time.monotonic()
    try:
        while True:
            try:
                linker.instantiate(store, module).exports(store)["_start"](store)
            except ExitTrap as exc:
                assert exc.code == 0
            outputs.append(bytes(out))
            out.clear()
            if not profile or profiler.samples >= samples or time.monotonic() - start > seconds:
                break
    finally:
        profiler.stop()
    return profiler, outputs[0]


@pytest.mark.parametrize("tier", tier_params())
def test_corpus_program_profile_names_its_kernel_hottest(tier, bench_dir):
    entry = json.loads((bench_dir / "manifest.json").read_text())["programs"]["fib"]
    wasm = bench_dir / entry["wasm"]
    (fib,) = self_recursive(wasm)
    # tiny on interp; on llvm that is microseconds, so small (baseline code: a quick compile)
    size = entry["sizes"]["tiny" if tier == "interp" else "small"]
    engine = engine_for(tier, opt_level=0) if tier == "llvm" else engine_for(tier)
    module = Module.from_file(engine, wasm)
    # A first run translates the functions (the interp tier does it on first call): the
    # profiled run is the program's own work.
    run_wasi(engine, module, ["fib"] + size["args"])
    profiler, out = run_wasi(engine, module, ["fib"] + size["args"], profile=True)
    assert out.decode() == size["stdout"]
    assert profiler.samples >= 3
    data = profiler.speedscope()
    check_speedscope(data)
    # the stripped corpus has no names: its functions are named by index
    assert profiler.functions()[0][0] == f"<wasm function {fib}>"
    frames = data["shared"]["frames"]
    assert any(frames[stack[-1]]["name"] == f"<wasm function {fib}>" for stack in data["profiles"][0]["samples"])


@pytest.mark.parametrize("tier", tier_params())
def test_dwarf_names_functions_with_their_file_and_line(tier):
    engine = engine_for(tier)
    store = Store(engine)
    run = Instance(store, Module.from_file(engine, FIXTURES / "spin.wasm"), []).exports(store)["run"]
    run(store, 10)
    with Profiler(store) as profiler:
        run(store, SPIN_N[tier])
    data = profiler.speedscope()
    check_speedscope(data)
    frames = {f["name"]: f for f in data["shared"]["frames"]}
    hot_line = next(k for k, line in enumerate(SPIN) if "unsigned hot(" in line) + 1
    assert frames["hot"]["file"] == "./spin.c" and frames["hot"]["line"] == hot_line
    name, own, total = profiler.functions()[0]
    assert name == "hot" and own > 0.5 * sum(w for w in data["profiles"][0]["weights"])
    # every sample is under run (the export called): stacks are outermost first
    names = [f["name"] for f in data["shared"]["frames"]]
    assert all(names[stack[0]] == "run" for stack in data["profiles"][0]["samples"])


def test_profiler_leaves_nothing_running():
    engine = engine_for("interp")
    store = Store(engine)
    run = Instance(store, Module.from_file(engine, FIXTURES / "spin.wasm"), []).exports(store)["run"]
    switch = sys.getswitchinterval()
    before = threading.active_count()
    with Profiler(store, interval=0.0005):
        assert threading.active_count() == before + 1
        run(store, 1000)
    assert threading.active_count() == before
    assert sys.getswitchinterval() == switch


def test_profiler_refuses_bad_arguments():
    with pytest.raises(TypeError):
        Profiler(object())      # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Profiler(Store(engine_for("interp")), interval=0)
    with pytest.raises(ValueError, match="interval must be a positive number"):
        Profiler(Store(engine_for("interp")), interval="1ms")     # type: ignore[arg-type]
    with pytest.raises(TypeError, match="thread must be a threading.Thread or a thread id"):
        Profiler(Store(engine_for("interp")), thread="main")      # type: ignore[arg-type]
    with pytest.raises(ValueError, match="has not started"):
        Profiler(Store(engine_for("interp")), thread=threading.Thread(target=print))


def test_wasmforge_run_profile_writes_speedscope_json(tmp_path, bench_dir):
    entry = json.loads((bench_dir / "manifest.json").read_text())["programs"]["fib"]
    size = entry["sizes"]["tiny"]
    out = tmp_path / "out.json"
    env = dict(os.environ, WASMFORGE_STRATEGY="interp", WASMFORGE_CACHE_DIR=str(tmp_path / "cache"))
    done = subprocess.run([sys.executable, "-m", "wasmforge", "run", "--profile", str(out),
                           str(bench_dir / entry["wasm"]), *size["args"]],
                          capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout == size["stdout"]
    data = json.loads(out.read_text())
    check_speedscope(data)
    assert data["profiles"][0]["samples"]


def test_wasmforge_run_refuses_a_profile_path_it_cannot_write_before_running(tmp_path):
    # A long run's profile must not be lost at the end: the path is tried first, and the guest
    # (which would print) never runs.
    wat = tmp_path / "hello.wat"
    wat.write_text('''(module (import "wasi_snapshot_preview1" "fd_write"
        (func $w (param i32 i32 i32 i32) (result i32)))
      (memory (export "memory") 1) (data (i32.const 8) "ran\\n")
      (func (export "_start") (i32.store (i32.const 0) (i32.const 8)) (i32.store (i32.const 4) (i32.const 4))
        (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 20)))))''')
    bad = tmp_path / "no" / "such" / "dir" / "out.json"
    env = dict(os.environ, WASMFORGE_STRATEGY="interp", WASMFORGE_CACHE_DIR=str(tmp_path / "cache"))
    done = subprocess.run([sys.executable, "-m", "wasmforge", "run", "--profile", str(bad), str(wat)],
                          capture_output=True, text=True, env=env)
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr == f"{bad}: error: cannot write the profile: No such file or directory\n"
