"""Fuzzing the WIT reader and printer against the oracle: ``wasm-tools wit-smith`` makes a
random WIT package set from seed bytes; ``wasm-tools component wit`` prints it as WIT text
(dependencies as nested packages).  For each case:

1. our resolution of that text is exactly the oracle's JSON of it;
2. the oracle's JSON of the text we print back is the oracle's JSON of the original, in the
   normal form of ``normal.py``.

``WASMFORGE_WIT_FUZZ`` sets the number of cases per configuration (default 10); seeds are
fixed (``random.Random(seed)``), so a failure names a reproducible case.
"""

from __future__ import annotations

import os
import random

import pytest

from component.wit import oracle
from component.wit.normal import normalise
from wasmforge.cm.wit import parse_source, print_wit, to_json

CASES = int(os.environ.get("WASMFORGE_WIT_FUZZ", "10"))

#: wit-smith configurations: the default language, and every optional construct on.
CONFIGS = {
    "default": [],
    "everything": ["--async", "--futures", "--streams", "--error-context", "--fixed-length-lists",
                   "--world-include", "--implements"],
}


def _case(seed: int, flags, tmp_path):
    rng = random.Random(seed)
    data = bytes(rng.getrandbits(8) for _ in range(rng.randrange(64, 4096)))
    wasm = tmp_path / f"{seed}.wasm"
    made = oracle.run("wit-smith", *flags, "-o", str(wasm), input=data)
    if made.returncode != 0:
        return None  # these bytes do not make a package set (wit-smith says so); not a case
    text = oracle.run("component", "wit", str(wasm)).stdout.decode()
    source = tmp_path / f"{seed}.wit"
    source.write_text(text)
    return source


@pytest.mark.parametrize("config", sorted(CONFIGS))
def test_random_packages_agree_with_the_oracle(config, tmp_path):
    oracle.require()
    checked = 0
    seed = 0
    while checked < CASES:
        seed += 1
        assert seed < CASES * 10, "wit-smith refused too many seeds"
        source = _case(seed + (100_000 if config == "everything" else 0), CONFIGS[config], tmp_path)
        if source is None:
            continue
        want, err = oracle.wit_json(source, "--all-features")
        if want is None:
            continue  # the oracle does not read back its own text for this case (reported upstream)
        text = source.read_text()
        resolve = parse_source(text, source.name, all_features=True)
        assert to_json(resolve) == want, f"seed {seed}: resolution differs\n{text}"
        printed = tmp_path / "printed.wit"
        printed.write_text(print_wit(resolve, with_deps=True))
        got, err = oracle.wit_json(printed, "--all-features")
        assert got is not None, f"seed {seed}: the oracle refuses our printed WIT: {err}\n{printed.read_text()}"
        assert normalise(got) == normalise(want), f"seed {seed}: printed WIT means something else\n{text}"
        checked += 1
