"""Robustness fuzzer for the module-format front end: decoder, validator and text parser.

Seeds are real modules (the spec suite's binary and text modules, the benchmark corpus);
each round mutates one seed (bit flips, byte edits, truncation, splicing, LEB128 and token
edits, and now and then a text built to be expensive: thousands of nested labelled blocks
branching to their outer labels) or makes random bytes, then runs it through
``decode_module`` + ``validate`` (binary) or ``parse_module`` + ``validate`` (text).  The only
acceptable outcomes are success or a ``WasmError``; anything else — another exception, or an
input that runs past its time budget — is a finding, printed with the seed and round that
reproduce it and saved to a file (``--save``, default ``$TMPDIR/wasmforge-fuzz-<seed>/``).

Each input's budget is ``--time-limit`` seconds plus ``--time-per-kb`` seconds per KiB of
input (2 s + 20 ms/KiB by default).  The front end handles well over 50 KiB/s, so an honest
input never comes near its budget even on a loaded machine, while super-linear work on a
few hundred KiB overruns it: the budget is what catches quadratic paths.

    python -m wasmforge._fuzz --rounds 1000000 --seed 1 --suite ../shared/testsuite

The run is deterministic for a given seed and corpus.
"""

from __future__ import annotations

import argparse
import random
import signal
import sys
import tempfile
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
    from .binary.encode import encode_module  # loaded by the check that uses it
    binaries: list[bytes] = []
    texts: list[str] = []
    if suite is not None and suite.is_dir():
        from .text import script as S  # loaded by the check that uses it
        from .text.wast import parse_script  # loaded by the check that uses it
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


#: Share of text inputs that are label bombs (see :func:`_label_bomb`): rare, as each is a
#: few hundred KiB, but a 1,000,000-input run still makes a few hundred.
BOMB_RATE = 0.001


def _label_bomb(rng: random.Random) -> str:
    """A text that is cheap to read only if label lookup is: up to 12,000 nested labelled
    blocks (folded or flat), then up to 60,000 branch targets naming an outer, the innermost
    or an unknown label.  A parser that scans the label stack per lookup is quadratic here
    (~20 s for 350 KiB, which overruns the budget)."""
    depth = rng.randint(2000, 12000)
    targets = rng.randint(depth, 5 * depth)
    folded = rng.random() < 0.5
    target = rng.choice(("$l0", f"$l{depth // 2}", f"$l{depth - 1}", "$nope", "0"))
    opener = "(block $l{} " if folded else "block $l{} "
    parts = ["(module (func "]
    parts.extend(opener.format(i) for i in range(depth))
    # With its operand, so that a bomb naming labels in scope also validates (and exercises
    # the validator's control stack at that depth).
    parts.append("(br_table" if folded else "i32.const 0 br_table")
    parts.append(f" {target}" * targets)
    parts.append(" (i32.const 0))" if folded else " ")
    if folded:
        parts.append(")" * depth)
    else:
        parts.extend(f"end $l{i} " for i in range(depth - 1, -1, -1))
    parts.append("))")
    return "".join(parts)


def _mutate_text(rng: random.Random, text: str, other: str) -> str:
    if rng.random() < BOMB_RATE:
        return _label_bomb(rng)
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
    from .binary.decode import decode_module  # loaded by the check that uses it
    from .valid.validate import validate  # loaded by the check that uses it
    module = decode_module(data)
    validate(module)


def check_text(text: str) -> None:
    from .text.parser import parse_module  # loaded by the check that uses it
    from .valid.validate import validate  # loaded by the check that uses it
    module = parse_module(text)
    validate(module)


#: Default time budget of one input: this many seconds ...
TIME_LIMIT = 2.0
#: ... plus this many per KiB of input.
TIME_PER_KB = 0.02


def budget(item, time_limit: float = TIME_LIMIT, time_per_kb: float = TIME_PER_KB) -> float:
    """Seconds one input may take before it counts as a hang (grows with its size, so only
    super-linear work overruns it)."""
    return time_limit + time_per_kb * len(item) / 1024


def save_finding(folder: Path, finding: dict) -> Path:
    """Write a finding's input (``round<N>.wasm`` or ``.wat``, plus its traceback if any) into
    ``folder``; return the input's path."""
    folder.mkdir(parents=True, exist_ok=True)
    item = finding["input"]
    binary = isinstance(item, bytes)
    path = folder / f"round{finding['round']}.{'wasm' if binary else 'wat'}"
    path.write_bytes(item if binary else item.encode("utf-8", "surrogateescape"))
    if finding.get("traceback"):
        path.with_suffix(".txt").write_text(finding["traceback"])
    return path


def run(rounds: int, seed: int, binaries: list, texts: list, *, time_limit: float = TIME_LIMIT,
        time_per_kb: float = TIME_PER_KB, save: Path | None = None, report_every: int = 0,
        out=sys.stdout) -> dict:
    """Run ``rounds`` inputs; return counts and the list of findings (non-WasmError outcomes,
    or inputs that ran past their :func:`budget`).  With ``save``, each finding's input is
    written into that folder as soon as it is found (its path in the finding's ``"file"``)."""
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
            limit = budget(item, time_limit, time_per_kb)
            finding = None
            signal.setitimer(signal.ITIMER_REAL, limit)
            try:
                check(item)
                counts["accepted"] += 1
            except WasmError:
                counts["rejected"] += 1
            except Hang:
                finding = {"round": i, "kind": f"hang (over {limit:.1f} s for {len(item)} bytes)",
                           "input": item}
            except BaseException as exc:  # noqa: BLE001 - any other outcome is the finding
                if isinstance(exc, KeyboardInterrupt):
                    raise
                finding = {"round": i, "kind": type(exc).__name__, "input": item,
                           "traceback": traceback.format_exc()}
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
            if finding is not None:
                if save is not None:
                    finding["file"] = str(save_finding(save, finding))
                counts["findings"].append(finding)
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
    ap.add_argument("--time-limit", type=float, default=TIME_LIMIT,
                    help="seconds per input before it counts as a hang (plus --time-per-kb)")
    ap.add_argument("--time-per-kb", type=float, default=TIME_PER_KB,
                    help="extra seconds of budget per KiB of input")
    ap.add_argument("--save", type=Path, default=None,
                    help="folder to write findings into (default: $TMPDIR/wasmforge-fuzz-SEED)")
    args = ap.parse_args(argv)
    if args.save is None:
        args.save = Path(tempfile.gettempdir()) / f"wasmforge-fuzz-{args.seed}"
    binaries, texts = collect_seeds(args.suite, args.wasm)
    print(f"fuzz: {len(binaries)} binary seeds, {len(texts)} text seeds, seed {args.seed}", flush=True)
    started = time.monotonic()
    counts = run(args.rounds, args.seed, binaries, texts, time_limit=args.time_limit,
                 time_per_kb=args.time_per_kb, save=args.save,
                 report_every=max(1, args.rounds // 20))
    elapsed = time.monotonic() - started
    for f in counts["findings"][:20]:
        print(f"finding at round {f['round']}: {f['kind']}, input saved to {f['file']}\n"
              f"{f.get('traceback', '')}")
    print(f"fuzz: {counts['rounds']} inputs in {elapsed:.0f}s: {counts['accepted']} accepted, "
          f"{counts['rejected']} rejected with WasmError, {len(counts['findings'])} findings")
    return 1 if counts["findings"] else 0


if __name__ == "__main__":
    sys.exit(main())
