"""A wasm module with many small functions, and the time to its first result on the llvm tier.

``python benchmarks/make_many_funcs.py --funcs 50000 --mode lazy`` builds the module (function
``k`` adds, multiplies and calls ``k + 1`` unless ``k`` ends a chain of 10; ``main`` is
function 0), then in a fresh process with the object cache off measures the time from
``Module(...)`` to the result of ``main`` and the peak RSS, and prints them as JSON.
``--mode eager`` compiles the whole module first (``WASMFORGE_LLVM_LAZY=0``);
``--write FILE`` only writes the binary.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

CHAIN = 10


def _uleb(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _sleb(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        done = (n == 0 and not b & 0x40) or (n == -1 and b & 0x40)
        out.append(b | (0 if done else 0x80))
        if done:
            return bytes(out)


def _section(sid: int, payload: bytes) -> bytes:
    return bytes([sid]) + _uleb(len(payload)) + payload


def _vec(items) -> bytes:
    items = list(items)
    return _uleb(len(items)) + b"".join(items)


def _name(s: str) -> bytes:
    return _uleb(len(s)) + s.encode()


def expected(k: int, x: int) -> int:
    """What function ``k`` returns for ``x`` (i32 arithmetic)."""
    v = ((x + k) * 3 ^ k) & 0xFFFFFFFF
    if k % CHAIN != CHAIN - 1:
        v = expected(k + 1, v)
    return v


def make_module(n: int) -> bytes:
    """The binary of the test module with ``n`` functions of type ``(i32) -> i32``."""
    types = _section(1, _vec([b"\x60\x01\x7f\x01\x7f"]))
    funcs = _section(3, _vec([b"\x00"] * n))
    exports = [_name("main") + b"\x00" + _uleb(0)]
    exports += [_name(f"f{k}") + b"\x00" + _uleb(k) for k in range(CHAIN, n, 1000)]
    exps = _section(7, _vec(exports))
    bodies = []
    for k in range(n):
        code = (b"\x20\x00" + b"\x41" + _sleb(k) + b"\x6a"          # local.get 0; i32.const k; add
                + b"\x41\x03\x6c" + b"\x41" + _sleb(k) + b"\x73")   # i32.const 3; mul; const k; xor
        if k % CHAIN != CHAIN - 1 and k + 1 < n:
            code += b"\x10" + _uleb(k + 1)                           # call k + 1
        body = b"\x00" + code + b"\x0b"
        bodies.append(_uleb(len(body)) + body)
    code_sec = _section(10, _vec(bodies))
    return b"\0asm\x01\0\0\0" + types + funcs + exps + code_sec


def measure(path: str) -> dict:
    """Time from ``Module(...)`` to ``main``'s result, in this process."""
    from wasmforge import Engine, Instance, Module, Store
    from wasmforge.api.engine import Config
    config = Config()
    config.strategy = "llvm"
    engine = Engine(config)
    with open(path, "rb") as fh:
        wasm = fh.read()
    start = time.perf_counter()
    module = Module(engine, wasm)
    store = Store(engine)
    main = Instance(store, module, []).exports(store)["main"]
    result = main(store, 7)
    elapsed = time.perf_counter() - start
    assert result == expected(0, 7), (result, expected(0, 7))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"seconds_to_first_result": round(elapsed, 3), "peak_rss_mb": round(rss / 1024, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--funcs", type=int, default=50000)
    ap.add_argument("--mode", choices=("lazy", "eager"), default="lazy")
    ap.add_argument("--write", help="only write the module to this file")
    ap.add_argument("--measure", help=argparse.SUPPRESS)   # the child process
    args = ap.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure)))
        return
    path = args.write or f"/tmp/many_funcs_{args.funcs}.wasm"
    with open(path, "wb") as fh:
        fh.write(make_module(args.funcs))
    if args.write:
        return
    env = dict(os.environ, WASMFORGE_CACHE="off",
               WASMFORGE_LLVM_LAZY="1" if args.mode == "lazy" else "0")
    out = subprocess.run([sys.executable, __file__, "--measure", path], env=env, check=True,
                         capture_output=True, text=True).stdout
    result = json.loads(out)
    result.update(funcs=args.funcs, mode=args.mode)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
