"""Calls through a typed function reference (``call_ref``) beside ``call_indirect``, per
call, on both tiers and wasmtime-py, in one run:

    python benchmarks/bench_call_ref.py [N]

Each engine runs a loop of N (default 200,000) calls of a one-instruction function, once
through ``call_ref`` on a ``(ref $t)`` local and once through ``call_indirect`` on a table,
and prints nanoseconds per call (loop overhead included).  Numbers on shared machines are
noisy: compare the rows of one run.
"""

from __future__ import annotations

import sys
import time

import wasmforge as wf

try:
    import wasmtime as wt
except ImportError:         # the peer is optional
    wt = None
WAT = """(module
  (type $t (func (param i32) (result i32)))
  (func $inc (type $t) (i32.add (local.get 0) (i32.const 1)))
  (table 1 funcref) (elem (i32.const 0) $inc)
  (elem declare func $inc)
  (func (export "via_ref") (param $n i32) (result i32) (local $acc i32) (local $f (ref $t))
    (local.set $f (ref.func $inc))
    (block $done (loop $l
      (br_if $done (i32.eqz (local.get $n)))
      (local.set $acc (call_ref $t (local.get $acc) (local.get $f)))
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br $l)))
    (local.get $acc))
  (func (export "via_table") (param $n i32) (result i32) (local $acc i32)
    (block $done (loop $l
      (br_if $done (i32.eqz (local.get $n)))
      (local.set $acc (call_indirect (type $t) (local.get $acc) (i32.const 0)))
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br $l)))
    (local.get $acc)))"""
N = int(sys.argv[1]) if len(sys.argv) > 1 else 200000


def run_wf(tier):
    c = wf.Config(); c.strategy = tier
    e = wf.Engine(c); s = wf.Store(e)
    i = wf.Instance(s, wf.Module(e, WAT), [])
    out = {}
    for name in ("via_ref", "via_table"):
        f = i.exports(s)[name]
        f(s, 10)
        t0 = time.perf_counter(); r = f(s, N); out[name] = time.perf_counter() - t0
        assert r == N
    return out


def run_wt():
    c = wt.Config(); c.wasm_function_references = True
    e = wt.Engine(c); s = wt.Store(e)
    i = wt.Instance(s, wt.Module(e, WAT), [])
    out = {}
    for name in ("via_ref", "via_table"):
        f = i.exports(s)[name]
        t0 = time.perf_counter(); r = f(s, N); out[name] = time.perf_counter() - t0
        assert r == N
    return out


def main() -> None:
    engines = [("interp", lambda: run_wf("interp")), ("llvm", lambda: run_wf("llvm"))]
    if wt is not None:
        engines.append(("wasmtime-py", run_wt))
    for label, fn in engines:
        o = fn()
        print(f"{label:12s} call_ref {o['via_ref'] * 1e9 / N:9.1f} ns/call   "
              f"call_indirect {o['via_table'] * 1e9 / N:9.1f} ns/call")


if __name__ == "__main__":
    main()
