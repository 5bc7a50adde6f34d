"""WIT packages in the component format read back (``decode_package``), against the oracle:
the packages of wasm-tools' ui tests encoded by ``wasm-tools component wit --wasm``, and
random ones from ``wasm-tools wit-smith``, each compared with ``wasm-tools component wit
--json`` of the same binary (in the normal form of ``normal.py``: the arenas of a decoded
package are numbered in another order than those of a parsed one); then printed as WIT and
read back by the oracle."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from component.wit import oracle
from component.wit.normal import normalise
from component.wit.test_fuzz import CASES, CONFIGS
from component.wit.test_ui import POSITIVE, UI
from wasmforge.cm.text import parse_component
from wasmforge.cm.wit import decode_package, parse_file, parse_source, print_wit, to_json
from wasmforge.cm.wit.decode import package_from_component
from wasmforge.errors import DecodeError, WitError


def _check(wasm: Path, tmp_path: Path) -> None:
    want, err = oracle.wit_json(wasm)
    assert want is not None, err
    resolve = decode_package(wasm.read_bytes())
    assert normalise(to_json(resolve)) == normalise(want)
    printed = tmp_path / "printed.wit"
    printed.write_text(print_wit(resolve, with_deps=True))
    got, err = oracle.wit_json(printed, "--all-features")
    assert got is not None, err
    assert normalise(got) == normalise(want)


@pytest.mark.parametrize("name", [n for n in POSITIVE if not n.endswith(".wat")])
def test_encoded_ui_packages_read_back_as_the_oracle_reads_them(name, tmp_path):
    wasm = tmp_path / "package.wasm"
    made = oracle.run("component", "wit", "--wasm", "--features", "active", "-o", str(wasm), str(UI / name))
    if made.returncode != 0:
        pytest.skip("the oracle refuses the source (see test_ui)")
    _check(wasm, tmp_path)


@pytest.mark.parametrize("config", sorted(CONFIGS))
def test_random_encoded_packages_read_back_as_the_oracle_reads_them(config, tmp_path):
    oracle.require()
    checked = seed = 0
    while checked < CASES:
        seed += 1
        assert seed < CASES * 10, "wit-smith refused too many seeds"
        rng = random.Random(seed + (300_000 if config == "everything" else 200_000))
        data = bytes(rng.getrandbits(8) for _ in range(rng.randrange(64, 4096)))
        wasm = tmp_path / f"{seed}.wasm"
        if oracle.run("wit-smith", *CONFIGS[config], "-o", str(wasm), input=data).returncode != 0:
            continue
        _check(wasm, tmp_path)
        checked += 1


def test_a_package_given_as_component_text_reads_like_its_binary(tmp_path):
    wat = UI / "simple-wasm-text.wat"
    assert to_json(parse_file(str(wat))) == to_json(package_from_component(parse_component(wat.read_text())))


def test_a_package_prints_back_to_the_wit_it_came_from(tmp_path):
    src = "package demo:p@1.0.0;\n\ninterface i {\n  record r { a: u32 }\n  f: func(x: r) -> list<r>;\n}\n"
    wasm = tmp_path / "p.wasm"
    source = tmp_path / "p.wit"
    source.write_text(src)
    assert oracle.run("component", "wit", "--wasm", "-o", str(wasm), str(source)).returncode == 0
    decoded = decode_package(wasm.read_bytes())
    assert normalise(to_json(parse_source(print_wit(decoded)))) == normalise(to_json(parse_source(src)))


def test_a_component_that_is_not_a_wit_package_is_refused():
    comp = parse_component("(component (core module))")
    with pytest.raises(WitError, match="not a WIT package"):
        package_from_component(comp)
    with pytest.raises(DecodeError):
        decode_package(b"\0asm\x0d\0\x01\0garbage")
