"""Functions whose control flow makes LLVM's optimiser superlinear (codegen.NEST_LIMIT,
BLOCK_LIMIT) compile in seconds, apart from the others, and still compute the right thing.

Before the rule, each module here took LLVM's O2 pipeline more than 30 seconds (measured on
the development machine: 21,000 nested ifs ~35 s, a 600-case fall-through switch ~35 s)."""

import os
import subprocess
import sys
import textwrap
import time

import pytest

from wasmforge import Instance, Module, Store
from wasmforge.binary.leb128 import encode_signed, encode_unsigned as encode_u32
from wasmforge.llvm import codegen
from wasmforge.api.engine import Config, Engine

# Generous upper bounds: they guard against the minutes the old code took, not for speed.
WITHIN = 20.0


def module_bytes(body: bytes) -> bytes:
    """A module with one function ``f: (i32) -> i32`` with one i32 local and ``body``."""
    def section(sid, payload):
        return bytes([sid]) + encode_u32(len(payload)) + payload
    code = b"\x01\x01\x7f" + body + b"\x20\x01\x0b"    # 1 local i32; ...; local.get 1; end
    return (b"\0asm\x01\0\0\0"
            + section(1, b"\x01\x60\x01\x7f\x01\x7f")
            + section(3, b"\x01\x00")
            + section(7, b"\x01\x01f\x00\x00")
            + section(10, b"\x01" + encode_u32(len(code)) + code))


def add_to_local1(k: int) -> bytes:
    # local.get 1; i32.const k; i32.add; local.set 1
    return b"\x20\x01\x41" + encode_signed(k) + b"\x6a\x21\x01"


def nested_ifs(n: int) -> bytes:
    """``if (p) { x += 1; if (p) { x += 1; ... x += 100 } }``: f(1) = n + 100."""
    step = add_to_local1(1) + b"\x20\x00\x04\x40"       # ...; local.get 0; if (no result)
    return module_bytes(step * n + add_to_local1(100) + b"\x0b" * n)


def fallthrough_switch(n: int) -> bytes:
    """``switch (p) { case 0: x += 1; case 1: x += 2; ... }`` with every case falling through:
    n + 1 nested blocks left by one br_table.  f(k) = sum of k+1 .. n."""
    targets = b"".join(encode_u32(i) for i in range(n + 1))
    body = b"\x02\x40" * (n + 1) + b"\x20\x00\x0e" + encode_u32(n) + targets
    for i in range(n):
        body += b"\x0b" + add_to_local1(i + 1)
    return module_bytes(body + b"\x0b")


def call(data: bytes, arg: int):
    config = Config()
    config.strategy = "llvm"
    engine = Engine(config)
    store = Store(engine)
    f = Instance(store, Module(engine, data), []).exports(store)["f"]
    return f(store, arg)


@pytest.fixture(autouse=True)
def no_cache(monkeypatch):
    monkeypatch.setenv("WASMFORGE_CACHE", "off")      # measure compilation, not a cache hit


def test_deeply_nested_ifs_compile_in_seconds():
    n = 21000
    start = time.monotonic()
    assert call(nested_ifs(n), 1) == n + 100
    assert time.monotonic() - start < WITHIN


def test_a_long_fallthrough_switch_compiles_in_seconds():
    n = 600
    start = time.monotonic()
    assert call(fallthrough_switch(n), 0) == n * (n + 1) // 2
    assert time.monotonic() - start < WITHIN


def test_the_limits_leave_ordinary_functions_optimised():
    # A function just inside both limits is compiled like any other (with optimisation).
    from wasmforge.binary.decode import decode_module
    mc = codegen.ModuleCompiler(decode_module(nested_ifs(codegen.NEST_LIMIT)))
    ir = mc.compile()
    assert mc.pathological == set() and "optnone" not in ir.split("define internal fastcc i32 @f0")[1].split("\n")[0]
    mc = codegen.ModuleCompiler(decode_module(nested_ifs(codegen.NEST_LIMIT + 1)))
    mc.compile()
    assert mc.pathological == {0}


def test_a_warm_run_of_a_lazy_module_with_a_pathological_function_compiles_nothing(tmp_path):
    # The first run's batch of `g` held `p` until `p` was found pathological and set apart;
    # the module cache remembers that, so the next run makes the same batches and finds
    # them all cached: no IR, no LLVM (llvmlite is never imported).
    n = codegen.NEST_LIMIT + 44
    nested = "(local.set 1 (i32.add (local.get 1) (i32.const 1))) (if (local.get 0) (then " * n
    wat = ('(module (func (export "g") (param i32) (result i32) (call $p (local.get 0)))'
           ' (func $p (param i32) (result i32) (local i32) ' + nested
           + "(local.set 1 (i32.add (local.get 1) (i32.const 100)))" + "))" * n + " (local.get 1)))")
    script = textwrap.dedent(f"""
        import sys
        from wasmforge import Config, Engine, Instance, Module, Store, wat2wasm
        config = Config(); config.strategy = "llvm"
        eng = Engine(config)
        store = Store(eng)
        g = Instance(store, Module(eng, wat2wasm({wat!r})), []).exports(store)["g"]
        print(g(store, 1), "llvmlite" in sys.modules)
    """)
    # LLVM's batches, whose pathological functions this is about: the quick compiler would
    # make the first run's batches without LLVM (tests/llvm/test_quick_lazy.py).
    env = dict(os.environ, WASMFORGE_CACHE_DIR=str(tmp_path), WASMFORGE_LLVM_LAZY="1", WASMFORGE_LLVM_QUICK="0")
    env.pop("WASMFORGE_CACHE", None)
    runs = []
    for _ in range(2):
        out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, env=env)
        assert out.returncode == 0, out.stderr
        runs.append(out.stdout.split())
    assert runs == [[str(n + 100), "True"], [str(n + 100), "False"]]
