"""Damaged WIT: wasm-tools' test inputs with random edits (cut, inserted tokens, swapped
spans).  Whatever the damage, reading gives a resolution or a WitError, never another
exception; and what still resolves prints back to WIT that resolves to the same thing."""

from __future__ import annotations

import os
import random
from pathlib import Path

from component.wit.normal import normalise
from wasmforge.cm.wit import parse_source, print_wit, to_json
from wasmforge.errors import WitError

UI = Path(__file__).resolve().parent / "ui"
CASES = int(os.environ.get("WASMFORGE_WIT_MUTATIONS", "600"))
TOKENS = ["{", "}", "<", ">", "(", ")", ";", ",", ":", "/", "@", ".", "->", "_", "use ", "type ", "resource ",
          "func", "own<", "borrow<", "interface ", "world ", "import ", "export ", "include ", "with ", "as ",
          "package a:b;", "package a:c {", "%", '"', "x", "list<", "@since(version = 1.0.0)",
          "@unstable(feature = x)", "@deprecated(version = 0.1.0)", "static ", "constructor", "async ",
          "1.0.0", "///d\n", "/*", "*/", "\u202e", "\x00"]


def _sources():
    out = []
    for root, _, files in os.walk(UI):
        out.extend(Path(root, f).read_text() for f in sorted(files) if f.endswith(".wit"))
    return out


def _mutate(rng: random.Random, text: str) -> str:
    for _ in range(rng.randint(1, 4)):
        p = rng.randrange(len(text) + 1)
        op = rng.random()
        if op < 0.3:
            text = text[:p] + text[p + rng.randint(1, 20):]
        elif op < 0.7:
            text = text[:p] + rng.choice(TOKENS) + text[p:]
        else:
            q = rng.randrange(len(text) + 1)
            a, b = min(p, q), max(p, q)
            text = text[:a] + text[b:] + text[a:b]
    return text


def test_damaged_wit_gives_a_resolution_or_a_wit_error():
    rng = random.Random(2026)
    sources = _sources()
    resolved = refused = 0
    for _ in range(CASES):
        text = _mutate(rng, rng.choice(sources))
        try:
            r = parse_source(text, "damaged.wit", all_features=rng.random() < 0.5)
        except WitError as err:
            assert err.reason
            refused += 1
            continue
        resolved += 1
        again = parse_source(print_wit(r, with_deps=True), "printed.wit", all_features=True)
        assert normalise(to_json(again)) == normalise(to_json(r)), text
    assert refused > CASES // 2 and resolved > 10
