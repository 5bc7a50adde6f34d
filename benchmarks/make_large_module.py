"""Make a large, valid module out of real compiler output, for front-end benchmarks.

Takes a module (by default the biggest program of the benchmark corpus) and repeats its
code section entries K times.  The copies keep their call targets, which all stay inside the
original index range, so the result validates; it has K times the functions and about K times
the code.  Works on the raw bytes, so it needs no more memory than the output.

    python benchmarks/make_large_module.py --target-mb 40 -o /tmp/large.wasm
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from wasmforge.binary.leb128 import encode_unsigned, read_u32

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT.parent / "shared" / "bench" / "wasm"


def sections(data: bytes):
    pos = 8
    while pos < len(data):
        sid = data[pos]
        size, body = read_u32(data, pos + 1)
        yield sid, data[pos:body + size], data[body:body + size]
        pos = body + size


def _vec_items(payload: bytes, sized: bool):
    """Split a vector payload into the raw bytes of its items (code entries are size-prefixed;
    the function section holds plain u32 type indices)."""
    count, pos = read_u32(payload, 0)
    items = []
    for _ in range(count):
        start = pos
        n, pos = read_u32(payload, pos)
        if sized:
            pos += n
        items.append(payload[start:pos])
    return items


def _section(sid: int, payload: bytes) -> bytes:
    return bytes([sid]) + encode_unsigned(len(payload)) + payload


def enlarge(data: bytes, copies: int) -> bytes:
    out = [data[:8]]
    for sid, raw, payload in sections(data):
        if sid == 3:
            items = _vec_items(payload, sized=False) * copies
            out.append(_section(3, encode_unsigned(len(items)) + b"".join(items)))
        elif sid == 10:
            items = _vec_items(payload, sized=True)
            out.append(bytes([10]))
            body_len = len(encode_unsigned(len(items) * copies)) + sum(map(len, items)) * copies
            out.append(encode_unsigned(body_len))
            out.append(encode_unsigned(len(items) * copies))
            out.extend(items * copies)
        elif sid == 0:
            continue            # drop custom sections (a name section would no longer match)
        else:
            out.append(raw)
    return b"".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--source", type=Path, help="module to enlarge (default: largest corpus program)")
    ap.add_argument("--target-mb", type=float, default=40.0, help="approximate output size in MB")
    ap.add_argument("-o", "--output", type=Path, required=True)
    args = ap.parse_args(argv)
    source = args.source or max(BENCH.glob("*.wasm"), key=lambda p: p.stat().st_size)
    data = source.read_bytes()
    code = next(payload for sid, _, payload in sections(data) if sid == 10)
    copies = max(1, int(args.target_mb * 1e6 / len(code)))
    big = enlarge(data, copies)
    args.output.write_bytes(big)
    nfuncs = read_u32(next(p for sid, _, p in sections(big) if sid == 3), 0)[0]
    print(f"{args.output}: {len(big) / 1e6:.1f} MB, {nfuncs} functions ({copies} copies of {source.name})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
