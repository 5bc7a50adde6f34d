"""wasm-tools' own WIT tests (``crates/wit-parser/tests/ui``, copied in ``ui/``, see
``ui/SOURCE.md``) against the oracle ``wasm-tools component wit --json``:

- every positive case resolves to exactly the oracle's JSON (same ids, same order);
- printed back as WIT (with its dependencies as nested packages), it means the same to the
  oracle (compared in the normal form of ``normal.py``);
- every ``parse-fail`` case is refused with a positioned :class:`WitError`.

The test runner of wit-parser enables the feature ``active``; so do these tests.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from component.wit import oracle
from component.wit.normal import normalise
from wasmforge.cm.wit import parse_path, parse_source, print_wit, to_json
from wasmforge.cm.wit.ctypes import TypeMap
from wasmforge.errors import NotSupportedError, WitError

UI = Path(__file__).resolve().parent / "ui"
FAIL = UI / "parse-fail"
FEATURES = {"active"}

#: Cases left out, with the reason.
UNSUPPORTED: dict = {}


def _positive():
    out = []
    for entry in sorted(os.listdir(UI)):
        path = UI / entry
        if entry == "parse-fail" or not (entry.endswith((".wit", ".wat")) or path.is_dir()):
            continue
        out.append(entry)
    return out


def _negative():
    return sorted(e for e in os.listdir(FAIL) if not e.endswith(".result"))


POSITIVE = _positive()
NEGATIVE = _negative()


def test_the_copied_suite_is_complete():
    # the numbers of the copied suite (ui/SOURCE.md); a lost file would silently shrink it
    assert len(POSITIVE) == 74
    assert len(NEGATIVE) == 150


@pytest.mark.parametrize("name", POSITIVE)
def test_resolution_equals_the_oracles_json(name):
    if name in UNSUPPORTED:
        pytest.skip(UNSUPPORTED[name])
    path = UI / name
    want, err = oracle.wit_json(path, "--features", "active")
    if want is None:
        # The oracle is newer than the copied test data and refuses a few of its old
        # positive cases (empty records); so must we.
        with pytest.raises(WitError):
            parse_path(str(path), features=FEATURES)
        return
    assert to_json(parse_path(str(path), features=FEATURES)) == want


@pytest.mark.parametrize("name", POSITIVE)
def test_printed_wit_means_the_same_to_the_oracle(name, tmp_path):
    if name in UNSUPPORTED:
        pytest.skip(UNSUPPORTED[name])
    path = UI / name
    try:
        resolve = parse_path(str(path), features=FEATURES)
    except WitError:
        return  # refused (see above): nothing to print
    printed = tmp_path / "printed.wit"
    printed.write_text(print_wit(resolve, with_deps=True))
    want, _ = oracle.wit_json(path, "--features", "active")
    got, err = oracle.wit_json(printed, "--features", "active")
    assert got is not None, err
    assert normalise(got) == normalise(want)
    # and to us
    again = parse_source(printed.read_text(), "printed.wit", features=FEATURES)
    assert normalise(to_json(again)) == normalise(to_json(resolve))


@pytest.mark.parametrize("name", NEGATIVE)
def test_parse_fail_cases_are_refused_with_a_positioned_message(name):
    path = FAIL / name
    with pytest.raises(WitError) as info:
        parse_path(str(path), features=FEATURES)
    err = info.value
    assert err.reason and "\n" not in err.reason.split(". known packages")[0]
    assert err.filename is not None
    assert str(err).startswith(err.filename)


def _expected_position(name):
    """The ``--> file:line:column`` of a parse-fail case's expected output, if it has one."""
    result = FAIL / (name if name.endswith(".wit") else name + ".wit")
    text = result.with_name(result.name + ".result").read_text()
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("--> "):
            where = line[4:]
            file, ln, col = where.rsplit(":", 2)
            return os.path.basename(file), int(ln), int(col)
    return None


def test_parse_fail_positions_mostly_agree_with_wasm_tools():
    # Our messages are our own words, but they point where wasm-tools points: the same file,
    # line and column for nearly every case (the rest name another token of the same error,
    # e.g. the other end of a cycle).
    same = total = 0
    for name in NEGATIVE:
        want = _expected_position(name)
        if want is None:
            continue
        total += 1
        try:
            parse_path(str(FAIL / name), features=FEATURES)
        except WitError as err:
            if err.filename and (os.path.basename(err.filename), err.line, err.column) == want:
                same += 1
    assert total >= 120
    assert same / total >= 0.85, (same, total)


@pytest.mark.parametrize("name", POSITIVE)
def test_every_world_maps_onto_component_types(name):
    try:
        resolve = parse_path(str(UI / name), features=FEATURES)
    except WitError:
        return
    tm = TypeMap(resolve)
    for wid in range(len(resolve.worlds)):
        try:
            ty = tm.world(wid)
        except NotSupportedError as err:
            assert "map<K, V>" in str(err)
            continue
        world = resolve.worlds[wid]
        assert [n for n, _ in ty.imports] == [resolve.key_name(k) for k in world.imports]
        assert [n for n, _ in ty.exports] == [resolve.key_name(k) for k in world.exports]
