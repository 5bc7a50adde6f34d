"""The text front end against the whole WebAssembly 2.0 spec suite.

- every top-level script parses, and the commands of each kind are counted;
- every ``assert_malformed (module quote ...)`` fails to parse with the expected message
  (the expected text is a prefix of ours, as the reference runner compares);
- every other quoted module parses;
- every text module survives ``encode -> decode`` unchanged, i.e. the parser produces the
  same instructions and segments the binary decoder does.
"""

from __future__ import annotations

import collections
import time

import pytest

from wasmforge.errors import ParseError
from wasmforge.features import DEFAULT
from wasmforge.script.run import suite_features
from wasmforge.text import script as S
from wasmforge.text.wast import parse_script

from support import TESTSUITE, suite_files

FILES = suite_files()

# Command totals of the suite at the commit SOURCE.md names (WebAssembly/testsuite f3f0486).
PINNED_COMMIT = "f3f048661dc1686d556a27d522df901cb747ab4a"
PINNED_TOTALS = {"AssertReturn": 45660, "AssertTrap": 2442, "AssertInvalid": 2143,
                 "AssertMalformed": 1782, "ModuleCommand": 1591, "ActionCommand": 155,
                 "AssertUnlinkable": 83, "Register": 20, "AssertExhaustion": 15}


@pytest.fixture(scope="module")
def scripts(testsuite_dir):
    start = time.perf_counter()
    parsed = {p.name: parse_script(p.read_text(encoding="utf-8"), filename=str(p)) for p in FILES}
    elapsed = time.perf_counter() - start
    assert elapsed < 30, f"parsing the suite took {elapsed:.1f} s"
    return parsed


def _module_sources(commands):
    for cmd in commands:
        if isinstance(cmd, S.ModuleCommand):
            yield cmd, cmd.source
        elif isinstance(cmd, (S.AssertInvalid, S.AssertMalformed, S.AssertUnlinkable,
                              S.AssertUninstantiable)):
            yield cmd, cmd.module
        elif isinstance(cmd, S.AssertTrap) and cmd.module is not None:
            yield cmd, cmd.module


def test_every_script_parses_and_commands_are_counted(scripts):
    totals = collections.Counter()
    for name, commands in scripts.items():
        assert commands, name
        totals.update(type(c).__name__ for c in commands)
    source = TESTSUITE / "SOURCE.md"
    if source.exists() and PINNED_COMMIT in source.read_text(encoding="utf-8"):
        assert dict(totals) == PINNED_TOTALS
    else:
        assert totals["AssertReturn"] > 0 and totals["AssertMalformed"] > 0


def test_every_quoted_malformed_module_fails_with_the_expected_message(scripts):
    failures = []
    checked = 0
    for name, commands in scripts.items():
        for cmd in commands:
            if not isinstance(cmd, S.AssertMalformed) or cmd.module.kind != "quote":
                continue
            checked += 1
            try:
                # The 2.0 text format (u32 limits and offsets): see suite_features.
                cmd.module.load(suite_features(TESTSUITE / name, DEFAULT))
                failures.append(f"{name}:{cmd.line}: parsed, expected {cmd.message!r}")
            except ParseError as exc:
                if not exc.reason.startswith(cmd.message):
                    failures.append(f"{name}:{cmd.line}: {exc.reason!r}, expected {cmd.message!r}")
            except Exception as exc:  # noqa: BLE001 - any other exception is a bug
                failures.append(f"{name}:{cmd.line}: {type(exc).__name__}: {exc}")
    assert checked > 1000
    assert not failures, f"{len(failures)} of {checked} failed:\n" + "\n".join(failures[:50])


def test_every_other_quoted_module_parses(scripts):
    failures = []
    for name, commands in scripts.items():
        for cmd, src in _module_sources(commands):
            if src.kind == "quote" and not isinstance(cmd, S.AssertMalformed):
                try:
                    src.load()
                except Exception as exc:  # noqa: BLE001
                    failures.append(f"{name}:{cmd.line}: {type(exc).__name__}: {exc}")
    assert not failures, "\n".join(failures[:50])


def test_text_modules_match_the_binary_decoder(scripts):
    decode = pytest.importorskip("wasmforge.binary.decode").decode_module
    encode = pytest.importorskip("wasmforge.binary.encode").encode_module
    failures = []
    checked = 0
    for name, commands in scripts.items():
        for cmd, src in _module_sources(commands):
            if src.kind != "text":
                continue
            checked += 1
            try:
                again = decode(encode(src.module), lazy=False)
            except Exception as exc:  # noqa: BLE001
                failures.append(f"{name}:{cmd.line}: {type(exc).__name__}: {exc}")
                continue
            if again != src.module:
                failures.append(f"{name}:{cmd.line}: encode -> decode changed the module")
    assert checked > 3000
    assert not failures, f"{len(failures)} failures:\n" + "\n".join(failures[:50])
