"""The module-format front end against the whole WebAssembly 2.0 spec suite.

For every top-level ``*.wast`` of the suite:
- every ``assert_malformed`` module fails to decode/parse with the expected message;
- every ``assert_invalid`` module decodes/parses and then fails validation with the expected message;
- every module the suite expects to load (``module``, and the modules of ``assert_trap``,
  ``assert_unlinkable``, ``assert_uninstantiable``) decodes or parses and validates;
- every such valid module survives ``encode -> decode`` and ``print -> parse`` unchanged.

Messages compare as the reference interpreter's runner does: the expected text must be a
prefix of ours.  Failures are listed by file:line with the exception that occurred.
"""

from __future__ import annotations

import pytest

from wasmforge.binary.decode import decode_module
from wasmforge.binary.encode import encode_module
from wasmforge.errors import DecodeError, ParseError, ValidationError
from wasmforge.features import DEFAULT
from wasmforge.script.run import suite_features
from wasmforge.text import script as S
from wasmforge.text.parser import parse_module
from wasmforge.text.printer import print_module
from wasmforge.text.wast import parse_script
from wasmforge.valid.validate import validate

from support import suite_files

FILES = suite_files()


def _name(path):
    return path.name


def _modules_to_load(commands):
    for cmd in commands:
        if isinstance(cmd, S.ModuleCommand):
            yield cmd.line, cmd.source
        elif isinstance(cmd, (S.AssertUnlinkable, S.AssertUninstantiable)):
            yield cmd.line, cmd.module
        elif isinstance(cmd, S.AssertTrap) and cmd.module is not None:
            yield cmd.line, cmd.module


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


@pytest.fixture(scope="module")
def scripts(testsuite_dir):
    return {p.name: parse_script(p.read_text(encoding="utf-8"), filename=str(p)) for p in FILES}


@pytest.mark.parametrize("path", FILES, ids=_name)
def test_malformed_and_invalid_modules_are_rejected(path, scripts):
    failures = []
    checked = 0
    features = suite_features(path, DEFAULT)      # the formats the 2.0 suite is written for
    for cmd in scripts[path.name]:
        if isinstance(cmd, S.AssertMalformed):
            checked += 1
            try:
                cmd.module.load(features)
            except (DecodeError, ParseError) as exc:
                if not exc.reason.startswith(cmd.message):
                    failures.append(f"{path.name}:{cmd.line}: expected {cmd.message!r}, got {exc.reason!r}")
            except BaseException as exc:  # noqa: BLE001 - any other outcome is a failure to report
                failures.append(f"{path.name}:{cmd.line}: expected {cmd.message!r}, raised {_describe(exc)}")
            else:
                failures.append(f"{path.name}:{cmd.line}: expected malformed {cmd.message!r}, but it loaded")
        elif isinstance(cmd, S.AssertInvalid):
            checked += 1
            try:
                validate(cmd.module.load(features), features=features)
            except ValidationError as exc:
                if not exc.reason.startswith(cmd.message):
                    failures.append(f"{path.name}:{cmd.line}: expected {cmd.message!r}, got {exc.reason!r}")
            except BaseException as exc:  # noqa: BLE001
                failures.append(f"{path.name}:{cmd.line}: expected invalid {cmd.message!r}, raised {_describe(exc)}")
            else:
                failures.append(f"{path.name}:{cmd.line}: expected invalid {cmd.message!r}, but it validated")
    assert not failures, f"{len(failures)} of {checked} rejections wrong:\n" + "\n".join(failures[:60])


@pytest.mark.parametrize("path", FILES, ids=_name)
def test_valid_modules_load_and_round_trip(path, scripts):
    failures = []
    features = suite_features(path, DEFAULT)
    for line, source in _modules_to_load(scripts[path.name]):
        where = f"{path.name}:{line}"
        try:
            module = source.load(features)
            validate(module, features=features)
        except BaseException as exc:  # noqa: BLE001
            failures.append(f"{where}: should load, raised {_describe(exc)}")
            continue
        try:
            again = decode_module(encode_module(module), features=features)
            if again != module:
                failures.append(f"{where}: encode -> decode changed the module")
        except BaseException as exc:  # noqa: BLE001
            failures.append(f"{where}: encode -> decode raised {_describe(exc)}")
        try:
            text = print_module(module)
            reparsed = parse_module(text, features=features)
            if reparsed != module:
                failures.append(f"{where}: print -> parse changed the module")
        except BaseException as exc:  # noqa: BLE001
            failures.append(f"{where}: print -> parse raised {_describe(exc)}")
    assert not failures, f"{len(failures)} failures:\n" + "\n".join(failures[:60])
