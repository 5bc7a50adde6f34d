"""Whether llvm code carries exceptions is read from the code, not found again per instance.

Code that checks for thrown exceptions after calls is marked (``@wf_eh``); code loaded from an
artifact says so itself, and instantiating never decodes the module's bodies to find out."""

from __future__ import annotations

import pytest

from wasmforge import Config, Engine, FuncType, Linker, Module, Store, Tag, TagType, ValType
from wasmforge.llvm import layout

from support import has_llvmlite

pytestmark = pytest.mark.skipif(not has_llvmlite(), reason="LLVM TIER NOT TESTED: no llvmlite")

CATCHER = """(module
  (import "host" "tag" (tag $t (param i32)))
  (import "host" "throw" (func $throw (param i32)))
  (func (export "f") (param i32) (result i32)
    (block $h (result i32)
      (try_table (catch $t $h) (call $throw (local.get 0)))
      (i32.const -1))))"""


def _engine() -> Engine:
    config = Config()
    config.strategy = "llvm"
    return Engine(config)


def _run(engine: Engine, module: Module) -> int:
    store = Store(engine)
    tag = Tag(store, TagType(FuncType([ValType.i32()], [])))
    linker = Linker(engine)
    linker.define(store, "host", "tag", tag)

    def throw(x):
        raise tag.exception([x * 2])

    linker.define_func("host", "throw", FuncType([ValType.i32()], []), throw)
    return linker.instantiate(store, module).exports(store)["f"](store, 21)


def test_an_artifact_of_exception_code_catches_after_loading(monkeypatch):
    engine = _engine()
    artifact = Module(engine, CATCHER).serialize()
    scans = []
    real = layout._scan_exceptions
    monkeypatch.setattr(layout, "_scan_exceptions", lambda m: scans.append(m) or real(m))
    loaded = Module.deserialize(engine, artifact)
    assert _run(engine, loaded) == 42
    assert _run(engine, loaded) == 42
    assert scans == []          # the code said it carries exceptions


def test_instances_do_not_scan_the_bodies_again(monkeypatch):
    engine = _engine()
    module = Module(engine, CATCHER)
    scans = []
    real = layout._scan_exceptions
    monkeypatch.setattr(layout, "_scan_exceptions", lambda m: scans.append(m) or real(m))
    for _ in range(3):
        assert _run(engine, module) == 42
    assert len(scans) <= 1
