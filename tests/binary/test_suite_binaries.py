"""The spec suite's binary modules (WebAssembly 2.0, the top-level *.wast files).

Every ``(module binary ...)`` the suite expects to decode does, and survives encode/decode;
every ``assert_malformed`` binary fails with the suite's message as the prefix of
``DecodeError.reason``; every ``assert_invalid`` binary decodes (validation rejects it).
"""

import re

import pytest

from support import suite_files
from wasmforge.binary import decode_module, encode_module
from wasmforge.errors import DecodeError
from wasmforge.features import DEFAULT
from wasmforge.script.run import suite_features
from wasmforge.text import script as S
from wasmforge.text.wast import parse_script

_BINARY_MODULE = re.compile(r"\(module\s+(?:\$\S+\s+)?binary")
SCRIPTS = [p for p in suite_files() if _BINARY_MODULE.search(p.read_text(encoding="utf-8"))]


def binary_cases(path) -> list:
    """``(line, command kind, bytes, expected message or None)`` for each binary module."""
    out = []
    for cmd in parse_script(path.read_text(encoding="utf-8"), filename=str(path)):
        source = cmd.source if isinstance(cmd, S.ModuleCommand) else getattr(cmd, "module", None)
        if isinstance(source, S.ModuleSource) and source.kind == "binary":
            out.append((cmd.line, type(cmd).__name__, source.data, getattr(cmd, "message", None)))
    return out


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: p.name)
def test_suite_binary_modules(path, testsuite_dir):
    failures = []
    cases = binary_cases(path)
    assert cases, f"{path.name}: no binary modules found"
    # The 2.0 suite's binary format (u32 offsets, reserved zero bytes, no exception-handling
    # encodings): see suite_features.
    features = suite_features(path, DEFAULT)
    for line, kind, data, message in cases:
        try:
            m = decode_module(data, features=features, strict=True)
        except DecodeError as exc:
            if kind != "AssertMalformed" or not exc.reason.startswith(message):
                failures.append(f"line {line}: {kind} {message!r}: {exc}")
            continue
        if kind == "AssertMalformed":
            failures.append(f"line {line}: expected {message!r}, but the module decoded")
        elif decode_module(encode_module(m), features=features, strict=True) != m:
            failures.append(f"line {line}: {kind} changed by encode -> decode")
    assert not failures, "\n".join(failures)


def test_suite_has_binary_scripts(testsuite_dir):
    names = {p.name for p in SCRIPTS}
    assert {"binary.wast", "binary-leb128.wast", "custom.wast"} <= names
