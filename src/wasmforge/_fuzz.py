"""Robustness fuzzer for the module-format front end: decoder, validator and text parser.

Seeds are real modules (the spec suite's binary and text modules, the benchmark corpus);
each round mutates one seed (bit flips, byte edits, truncation, splicing, LEB128 and token
edits) or makes random bytes, then runs it through ``decode_module`` + ``validate`` (binary)
or ``parse_module`` + ``validate`` (text).  The only acceptable outcomes are success or a
``WasmError``; anything else — another exception, or an input that takes longer than the
time limit — is a finding, printed with the seed and round that reproduce it.

    python -m wasmforge._fuzz --rounds 1000000 --seed 1 --suite ../shared/testsuite

The run is deterministic for a given seed and corpus.
"""

from __future__ import annotations

import argparse
import random
import signal
import sys
import time
import traceback
from pathlib import Path

from .errors import WasmError


class Hang(Exception):
    """Raised by the alarm when one input runs past the time limit."""


def _alarm(signum, frame):
    raise Hang()


def collect_seeds(suite: Path | None, extra: list[Path] = ()):
    """(binaries, texts) to mutate: every module of the suite scripts, plus extra .wasm files."""
    from .binary.encode import encode_module
    binaries: list[bytes] = []
    texts: list[str] = []
    if suite is not None and suite.is_dir():
        from .text import script as S
        from .text.wast import parse_script
        for path in sorted(suite.glob("*.wast")):
            source = path.read_text(encoding="utf-8")
            for cmd in parse_script(source, filename=str(path)):
                src = getattr(cmd, "source", None) or getattr(cmd, "module", None)
                if not isinstance(src, S.ModuleSource):
                    continue
                if src.kind == "binary":
                    binaries.append(src.data)
                elif src.kind == "quote":
                    texts.append(src.text)
                elif src.kind == "text" and src.module is not None:
                    try:
                        binaries.append(encode_module(src.module))
                    except WasmError:
                        pass
            # Whole scripts are good text seeds for the lexer and parser too.
            texts.append(source[:20000])
    for path in extra:
        binaries.append(Path(path).read_bytes())
    return binaries, texts


# ----- mutations -----

def _mutate_bytes(rng: random.Random, data: bytes, other: bytes) -> bytes:
    b = bytearray(data)
    for _ in range(rng.choice((1, 1, 1, 2, 3, 8))):
        if not b:
            b.extend(rng.randbytes(rng.randint(1, 16)))
            continue
        pos = rng.randrange(len(b))
        kind = rng.randrange(10)
        if kind == 0:
            b[pos] ^= 1 << rng.randrange(8)
        elif kind == 1:
            b[pos] = rng.randrange(256)
        elif kind == 2:
            b[pos] = rng.choice((0x00, 0x7F, 0x80, 0xFF, 0x40, 0x41, 0x0B, 0xFC, 0xFD))
        elif kind == 3:
            del b[pos:pos + rng.randint(1, 8)]
        elif kind == 4:
            b[pos:pos] = rng.randbytes(rng.randint(1, 8))
        elif kind == 5:
            del b[pos:]                                     # truncate
        elif kind == 6:
            end = min(len(b), pos + rng.randint(1, 64))
            b[pos:pos] = b[pos:end]                         # duplicate a chunk
        elif kind == 7 and other:
            q = rng.randrange(len(other))
            b[pos:] = other[q:]                             # splice another seed
        elif kind == 8:
            # A maximal or overlong LEB128 (size fields, counts, indices).
            b[pos:pos + 1] = rng.choice((b"\xff\xff\xff\xff\x0f", b"\x80\x80\x80\x80\x00",
                                         b"\xff\xff\xff\xff\x7f", b"\x80\x80\x80\x80\x80\x00"))
        else:
            b[pos] = (b[pos] + rng.choice((-1, 1))) & 0xFF
    return bytes(b)


_TOKENS = ["(", ")", "(module", "(func", "(param i32)", "(result i32)", "block", "loop", "end",
           "i32.const", "0x", "nan:0x", "inf", "-", "_", "$x", '"', "\\", ";;", "(;", ";)",
           "(@", "offset=", "align=", "0x1p+1000", "1e400", "4294967296", "(type 0)", "else",
           "v128.const", "i8x16", "(memory 1)", "(table 0 funcref)", "\u00ff", "\n"]


def _mutate_text(rng: random.Random, text: str, other: str) -> str:
    s = text
    for _ in range(rng.choice((1, 1, 2, 4))):
        if not s:
            s = rng.choice(_TOKENS)
            continue
        pos = rng.randrange(len(s))
        kind = rng.randrange(7)
        if kind == 0:
            s = s[:pos] + s[pos + rng.randint(1, 10):]
        elif kind == 1:
            s = s[:pos] + rng.choice(_TOKENS) + s[pos:]
        elif kind == 2:
            s = s[:pos]
        elif kind == 3 and other:
            q = rng.randrange(len(other))
            s = s[:pos] + other[q:q + rng.randint(1, 200)]
        elif kind == 4:
            s = s[:pos] + "(" * rng.randint(1, 3000) + s[pos:]  # deep nesting
        elif kind == 5:
            s = s[:pos] + chr(rng.randrange(0x20, 0x7F)) + s[pos + 1:]
        else:
            s = s[:pos] + str(rng.choice((0, -1, 2**32, 2**64, 2**31, 10**40))) + s[pos:]
    return s


# ----- running -----

def check_binary(data: bytes) -> None:
    from .binary.decode import decode_module
    from .valid.validate import validate
    module = decode_module(data)
    validate(module)


def check_text(text: str) -> None:
    from .text.parser import parse_module
    from .valid.validate import validate
    module = parse_module(text)
    validate(module)


def run(rounds: int, seed: int, binaries: list, texts: list, *, time_limit: float = 5.0,
        report_every: int = 0, out=sys.stdout) -> dict:
    """Run ``rounds`` inputs; return counts and the list of findings (non-WasmError outcomes)."""
    rng = random.Random(seed)
    counts = {"rounds": 0, "accepted": 0, "rejected": 0, "findings": []}
    old = signal.signal(signal.SIGALRM, _alarm)
    started = time.monotonic()
    try:
        for i in range(rounds):
            choice = rng.random()
            if choice < 0.03 or not (binaries or texts):
                item = b"\0asm\x01\0\0\0" + rng.randbytes(rng.randint(0, 64))
                check = check_binary
            elif choice < 0.65 and binaries:
                item = _mutate_bytes(rng, rng.choice(binaries), rng.choice(binaries))
                check = check_binary
            elif texts:
                item = _mutate_text(rng, rng.choice(texts), rng.choice(texts))
                check = check_text
            else:
                item = _mutate_bytes(rng, rng.choice(binaries), b"")
                check = check_binary
            signal.setitimer(signal.ITIMER_REAL, time_limit)
            try:
                check(item)
                counts["accepted"] += 1
            except WasmError:
                counts["rejected"] += 1
            except Hang:
                counts["findings"].append({"round": i, "kind": "hang", "input": item})
            except BaseException as exc:  # noqa: BLE001 - any other outcome is the finding
                if isinstance(exc, KeyboardInterrupt):
                    raise
                counts["findings"].append({"round": i, "kind": type(exc).__name__, "input": item,
                                           "traceback": traceback.format_exc()})
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
            counts["rounds"] += 1
            if report_every and (i + 1) % report_every == 0:
                rate = (i + 1) / (time.monotonic() - started)
                print(f"fuzz: {i + 1} rounds, {len(counts['findings'])} findings, {rate:.0f}/s",
                      file=out, flush=True)
    finally:
        signal.signal(signal.SIGALRM, old)
    return counts


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m wasmforge._fuzz", description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--suite", type=Path, default=Path(__file__).resolve().parents[3] / "shared" / "testsuite")
    ap.add_argument("--wasm", type=Path, nargs="*", default=[], help="extra seed binaries")
    ap.add_argument("--time-limit", type=float, default=5.0, help="seconds per input before it counts as a hang")
    ap.add_argument("--save", type=Path, help="folder to write findings into")
    args = ap.parse_args(argv)
    binaries, texts = collect_seeds(args.suite, args.wasm)
    print(f"fuzz: {len(binaries)} binary seeds, {len(texts)} text seeds, seed {args.seed}", flush=True)
    started = time.monotonic()
    counts = run(args.rounds, args.seed, binaries, texts, time_limit=args.time_limit,
                 report_every=max(1, args.rounds // 20))
    elapsed = time.monotonic() - started
    for f in counts["findings"][:20]:
        print(f"finding at round {f['round']}: {f['kind']}\n{f.get('traceback', '')}")
    if args.save and counts["findings"]:
        args.save.mkdir(parents=True, exist_ok=True)
        for f in counts["findings"]:
            ext = "wasm" if isinstance(f["input"], bytes) else "wat"
            data = f["input"] if isinstance(f["input"], bytes) else f["input"].encode()
            (args.save / f"round{f['round']}.{ext}").write_bytes(data)
    print(f"fuzz: {counts['rounds']} inputs in {elapsed:.0f}s: {counts['accepted']} accepted, "
          f"{counts['rejected']} rejected with WasmError, {len(counts['findings'])} findings")
    return 1 if counts["findings"] else 0


if __name__ == "__main__":
    sys.exit(main())
