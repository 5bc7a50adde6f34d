"""``Module(engine, binary)`` validates the bodies it has just decoded from their bytes (the fast
path, ``validate(..., fresh=True)``), as it does bodies left raw: a binary below the
lazy-decoding threshold (graphviz's 0.9 MB) was validated by the general loop over its
decoded instructions, a third slower.  The verdicts and messages must not change, and a
module whose decoded bodies may have been edited (``validate`` without ``fresh``) must still
be validated from what its bodies now say."""

import importlib

import pytest

from support import suite_files
from wasmforge import Engine, Module, wat2wasm
from wasmforge.binary import decode_module, encode_module
from wasmforge.errors import ValidationError, WasmError
from wasmforge.features import DEFAULT
from wasmforge.opcodes import op
from wasmforge.script.run import suite_features
from wasmforge.text.script import AssertInvalid
from wasmforge.text.wast import parse_script
from wasmforge.valid import validate

V = importlib.import_module("wasmforge.valid.validate")

SCRIPTS = suite_files()


@pytest.fixture
def general_loop(monkeypatch):
    """How many bodies the general loop validated."""
    counts = {"n": 0}
    real = V._check_func

    def counted(*args):
        counts["n"] += 1
        return real(*args)
    monkeypatch.setattr(V, "_check_func", counted)
    return counts


WAT = '''(module
  (memory 1)
  (func $f (param i32) (result i32)
    (block (result i32) (i32.add (local.get 0) (i32.load (i32.const 8)))))
  (func (export "g") (result i32) (call $f (i32.const 2))))'''


def test_a_module_decoded_just_now_is_validated_from_its_bytes(general_loop):
    binary = wat2wasm(WAT)
    assert all(f._body is not None for f in decode_module(binary).funcs)    # (decoded eagerly)
    Module(Engine(), binary)
    assert general_loop["n"] == 0
    validate(decode_module(binary))     # (not fresh: the general loop, as before)
    assert general_loop["n"] == 2


def test_an_edited_body_is_validated_as_it_now_is(general_loop):
    module = decode_module(wat2wasm(WAT))
    module.funcs[1].body[0] = (op("f32.const"), 1.0)    # (in place: the bytes still say i32.const)
    with pytest.raises(ValidationError, match="type mismatch"):
        validate(module)


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: p.name)
def test_the_suites_invalid_modules_are_refused_as_binaries_with_its_messages(path):
    # Each assert_invalid module of the script, encoded and given to Module as a binary:
    # refused with the suite's message, whichever path found it.
    features = suite_features(path, DEFAULT)
    engine = Engine()
    engine.features = features
    wrong, seen = [], 0
    for cmd in parse_script(path.read_text(encoding="utf-8", errors="surrogateescape"),
                            filename=path.name):
        if not isinstance(cmd, AssertInvalid):
            continue
        try:
            binary = encode_module(cmd.module.load(features))
        except WasmError:
            continue
        seen += 1
        try:
            Module(engine, binary)
        except ValidationError as exc:
            if not exc.reason.startswith(cmd.message):
                wrong.append(f"line {cmd.line}: expected {cmd.message!r}, got {exc.reason!r}")
        except WasmError:
            pass        # (some invalid text modules don't encode to a decodable binary)
        else:
            wrong.append(f"line {cmd.line}: expected {cmd.message!r}, but the module was accepted")
    assert not wrong, "\n".join(wrong)
