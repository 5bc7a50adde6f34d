"""Validation tells whether a module uses the GC proposal (``Module.uses_gc``, which the llvm
tier asks of every module it compiles), so that no body is read again for it: whichever way
the bodies were validated — the fast path over raw bytes or the general loop over decoded
instructions (text modules, binaries below the lazy-decoding threshold: graphviz's 1,205
bodies, whose second read was a tenth of its first run's load).  Checked against
``Module._uses_gc``, which reads every body, on every module of the spec suite's scripts that
validates, the GC and typed-reference proposals' included."""

import pytest

from support import TESTSUITE, suite_files
from wasmforge import wat2wasm
from wasmforge.binary import decode_module
from wasmforge.errors import WasmError
from wasmforge.features import DEFAULT
from wasmforge.module import Func
from wasmforge.script.run import suite_features
from wasmforge.text.script import AssertTrap, AssertUninstantiable, AssertUnlinkable, ModuleCommand
from wasmforge.text.wast import parse_script
from wasmforge.valid import validate

PROPOSALS = ["gc", "function-references", "exception-handling", "tail-call"]
SCRIPTS = suite_files() + sorted(p for name in PROPOSALS for p in (TESTSUITE / "proposals" / name).glob("*.wast"))


def _modules(path):
    """Every module of the script at ``path`` that the suite expects to validate."""
    features = suite_features(path, DEFAULT)
    for cmd in parse_script(path.read_text(encoding="utf-8", errors="surrogateescape"),
                            filename=path.name):
        if isinstance(cmd, ModuleCommand):
            source = cmd.source
        elif isinstance(cmd, (AssertUnlinkable, AssertUninstantiable)):
            source = cmd.module
        elif isinstance(cmd, AssertTrap) and cmd.module is not None:
            source = cmd.module
        else:
            continue
        try:
            yield cmd.line, source.load(features), features
        except WasmError:
            continue            # (not a core module this script loads: another test's concern)


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_validation_tells_whether_each_module_uses_gc(path):
    wrong = []
    for line, module, features in _modules(path):
        try:
            validate(module, features=features)
        except WasmError:
            continue
        told = module.__dict__.get("known_gc")
        truth = module._uses_gc()
        if told is not truth:
            wrong.append(f"line {line}: validation told {told}, the bodies say {truth}")
    assert not wrong, "\n".join(wrong)


def test_the_proposal_scripts_are_there():
    # (the parametrized test above must not pass by finding nothing to check)
    assert TESTSUITE.is_dir(), TESTSUITE
    assert len(SCRIPTS) > len(suite_files()) > 0


@pytest.mark.parametrize("wat, uses", [
    ('(module (func (export "f") (param i32) (result i32) (i32.add (local.get 0) (i32.const 1))))', False),
    ('(module (func (export "f") (drop (ref.i31 (i32.const 1)))))', True),
    ('(module (func (export "f") (drop (ref.null any))))', True),
    ('(module (func (export "f") (block (result anyref) (ref.null none)) (drop)))', True),
    ('(module (func (export "f") (drop (ref.null func))))', False),
    ('(module (func (export "f") (block (result funcref) (ref.null func)) (drop)))', False),
])
def test_eagerly_decoded_bodies_are_not_read_again(monkeypatch, wat, uses):
    # Below the lazy-decoding threshold the bodies are decoded and validated by the general
    # loop; before, Module.uses_gc then read them all once more.
    module = decode_module(wat2wasm(wat))
    assert all(f._body is not None for f in module.funcs)
    validate(module)

    def decoded(self):
        raise AssertionError("a body read again after validation")
    monkeypatch.setattr(Func, "iter_body", decoded)
    monkeypatch.setattr(Func, "iter_with_offsets", decoded)
    assert module.uses_gc() is uses


def test_the_ops_a_module_uses_are_read_once(monkeypatch):
    # The llvm tier's questions of the bodies (tail calls, exception handling, whether the
    # quick compiler translates every instruction) share one pass.
    from wasmforge.llvm.codegen import uses_tail_calls
    from wasmforge.llvm.layout import uses_exceptions
    module = decode_module(wat2wasm(
        '(module (func $g (result i32) (i32.const 1))'
        ' (func (export "f") (result i32) (return_call $g)))'))
    names = {o.name for o in module.ops_used()}
    assert {"i32.const", "return_call"} <= names and "call" not in names

    def decoded(self):
        raise AssertionError("a body read again")
    monkeypatch.setattr(Func, "iter_body", decoded)
    assert uses_tail_calls(module) is True
    assert uses_exceptions(module) is False
