"""The wasm stack budget (Config.max_wasm_stack): deep recursion of every shape traps with
STACK_OVERFLOW — never a RecursionError, never a crashed process."""

import subprocess
import sys
import textwrap
import threading

import pytest

from limits.helpers import engine_for, instantiate
from wasmforge.errors import Trap, TrapCode
from wasmforge import Func
from wasmforge.runtime.metering import FRAME_BYTES, frame_bytes
from wasmforge.types import FuncType

RECURSIVE = """(module
  (type $t (func (param i32) (result i32)))
  (table 1 funcref) (elem (i32.const 0) $indirect)
  (func $depth (export "depth") (param i32) (result i32)
    (if (result i32) (i32.eqz (local.get 0)) (then (i32.const 0))
      (else (i32.add (i32.const 1) (call $depth (i32.sub (local.get 0) (i32.const 1)))))))
  (func $forever (export "forever") (param i32) (result i32)
    (call $forever (i32.add (local.get 0) (i32.const 1))))
  (func $big (export "big") (param i32) (result i32) (local i64 i64 i64 i64 i64 i64 i64 i64
      i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64)
    (local.set 30 (i64.extend_i32_u (local.get 0)))
    (call $big (i32.add (local.get 0) (i32.const 1))))
  (func $even (export "even") (param i32) (result i32)
    (call $odd (i32.add (local.get 0) (i32.const 1))))
  (func $odd (param i32) (result i32)
    (call $even (i32.add (local.get 0) (i32.const 1))))
  (func $indirect (export "indirect") (param i32) (result i32)
    (call_indirect (type $t) (i32.add (local.get 0) (i32.const 1)) (i32.const 0))))"""


def run(tier, name, arg, max_wasm_stack=None):
    store, ex = instantiate(engine_for(tier, max_wasm_stack=max_wasm_stack), RECURSIVE)
    return store, ex, ex[name]


def overflow(tier, name, max_wasm_stack=None):
    store, ex, f = run(tier, name, 0, max_wasm_stack)
    with pytest.raises(Trap) as info:
        f(store, 0)
    assert info.value.code is TrapCode.STACK_OVERFLOW
    return store, ex


@pytest.mark.parametrize("name", ["forever", "big", "even", "indirect"])
def test_unbounded_recursion_traps_with_stack_overflow(tier, name):
    store, ex = overflow(tier, name)
    assert ex["depth"](store, 1000) == 1000        # the store is usable afterwards


def test_the_budget_bounds_the_depth_exactly(tier):
    frames = 100
    store, ex, depth = run(tier, "depth", 0, max_wasm_stack=frame_bytes(1) * frames)
    assert depth(store, frames - 1) == frames - 1  # depth(n) uses n + 1 frames
    with pytest.raises(Trap) as info:
        depth(store, frames)
    assert info.value.code is TrapCode.STACK_OVERFLOW


def test_big_frames_nest_less_deeply(tier):
    budget = 1 << 16
    for name, nlocals in (("forever", 1), ("big", 31)):
        store, ex, f = run(tier, name, 0, max_wasm_stack=budget)
        with pytest.raises(Trap) as info:
            f(store, 0)
        assert len(info.value.frames) == budget // frame_bytes(nlocals)


def test_default_budget_allows_thousands_of_frames(tier):
    store, ex, depth = run(tier, "depth", 0)
    assert depth(store, 5000) == 5000
    assert (1 << 20) // FRAME_BYTES == 16384


def test_recursion_through_host_functions_traps(tier):
    engine = engine_for(tier)
    wat = """(module (import "host" "reenter" (func $h (param i32) (result i32)))
      (func (export "f") (param i32) (result i32) (call $h (i32.add (local.get 0) (i32.const 1)))))"""
    box = {}
    store_box = {}

    def reenter(n):
        return box["f"](store_box["s"], n)
    from wasmforge import Store
    store = store_box["s"] = Store(engine)
    host = Func(store, FuncType(["i32"], ["i32"]), reenter)
    _, ex = instantiate(engine, wat, [host], store=store)
    box["f"] = ex["f"]
    with pytest.raises(Trap) as info:
        ex["f"](store, 0)
    assert info.value.code is TrapCode.STACK_OVERFLOW


def test_recursion_in_a_thread_traps(tier):
    result = {}

    def work():
        try:
            overflow(tier, "even")
            result["ok"] = True
        except BaseException as exc:   # reported below
            result["error"] = exc
    t = threading.Thread(target=work)
    t.start()
    t.join()
    assert result == {"ok": True}


SCRIPT = """
import sys
from wasmforge import Config, Engine, Store, Module, Instance, Func
from wasmforge.types import FuncType
from wasmforge.errors import Trap
config = Config(); config.strategy = {tier!r}; config.max_wasm_stack = {stack}
engine = Engine(config); store = Store(engine)
module = Module(engine, '''(module (import "h" "f" (func $h (param i32) (result i32)))
  (func (export "g") (param i32) (result i32) (call $h (i32.add (local.get 0) (i32.const 1)))))''')
box = {{}}
host = Func(store, FuncType(["i32"], ["i32"]), lambda n: box["g"](store, n))
box["g"] = Instance(store, module, [host]).exports(store)["g"]
try:
    box["g"](store, 0)
except Trap as trap:
    print("trap", trap.code.name)
"""


@pytest.mark.parametrize("stack", [1 << 20, 1 << 30])
def test_host_recursion_never_crashes_the_process(tier, stack):
    # In a child process, so that a crash would fail the test instead of killing the run.
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(SCRIPT.format(tier=tier, stack=stack))],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "trap STACK_OVERFLOW"


# ----- the range of max_wasm_stack (a budget beyond it used to escape as OverflowError/OSError) -----

@pytest.mark.parametrize("budget", [(1 << 30) + 1, 1 << 40, 1 << 64, 10 ** 30])
def test_an_oversized_stack_budget_is_refused_by_config(budget):
    from wasmforge import Config
    config = Config()
    with pytest.raises(ValueError, match="max_wasm_stack"):
        config.max_wasm_stack = budget
    assert config.max_wasm_stack == 1 << 20          # unchanged


def test_the_largest_stack_budget_instantiates_and_runs(tier):
    store, ex = instantiate(engine_for(tier, max_wasm_stack=1 << 30), RECURSIVE)
    assert ex["depth"](store, 100) == 100


def test_cli_refuses_an_oversized_stack_budget(tmp_path):
    wat = tmp_path / "m.wat"
    wat.write_text('(module (func (export "_start")))')
    out = subprocess.run([sys.executable, "-m", "wasmforge.cli", "run", "--max-wasm-stack",
                          str(1 << 40), str(wat)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert "Traceback" not in out.stderr and "max-wasm-stack" in out.stderr


# ----- host re-entry on a thread with a small native stack -----

SMALL_THREAD_SCRIPT = """
import threading
from wasmforge import Config, Engine, Store, Module, Instance, Func
from wasmforge.types import FuncType
from wasmforge.errors import Trap
config = Config(); config.strategy = {tier!r}
engine = Engine(config); store = Store(engine)
module = Module(engine, '''(module (import "h" "f" (func $h (param i32) (result i32)))
  (func (export "g") (param i32) (result i32) (call $h (i32.add (local.get 0) (i32.const 1)))))''')
box = {{}}
host = Func(store, FuncType(["i32"], ["i32"]), lambda n: box["g"](store, n))
box["g"] = Instance(store, module, [host]).exports(store)["g"]
def work():
    try:
        box["g"](store, 0)
    except Trap as trap:
        print("trap", trap.code.name)
    print("after", box["g"].__class__.__name__, store._depth.cell_contents)
threading.stack_size({kib} * 1024)
t = threading.Thread(target=work)
t.start()
t.join()
"""


@pytest.mark.parametrize("kib", [512, 128])
def test_host_recursion_on_a_small_thread_stack_traps(tier, kib):
    # A child process: the bug was a segfault (500 re-entries need more than 512 KiB).
    script = textwrap.dedent(SMALL_THREAD_SCRIPT.format(tier=tier, kib=kib))
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["trap", "STACK_OVERFLOW", "after", "Func", "0"]


def test_the_reentry_cap_follows_the_thread_stack_size():
    from wasmforge.api import handles as api
    caps = {}

    def probe(kib):
        caps[kib] = api.reentry_cap()
    for kib in (256, 4096):
        old = threading.stack_size(kib * 1024)
        try:
            t = threading.Thread(target=probe, args=(kib,))
            t.start()
            t.join()
        finally:
            threading.stack_size(old)
    assert caps[256] == (256 * 1024 - api.REENTRY_STACK_RESERVE) // api.REENTRY_STACK_BYTES
    assert caps[4096] == api.MAX_HOST_REENTRY
