"""Artifact format version 8 (api/aot.py; 2 on): the decoded module travels pickled beside its
binary, so loading an artifact decodes nothing; a version-1 artifact (no description) is
refused with a clear "recompile" error.  Both tiers."""

import hashlib
import struct

import pytest

from support import engine_for, tier_params
from wasmforge import Instance, Module, Store, WasmError
from wasmforge.api import aot

TIERS = tier_params()

WAT = """(module
  (memory (export "mem") 1)
  (data (i32.const 8) "hi")
  (global $g (mut i32) (i32.const 40))
  (func $add (param i32) (result i32) (i32.add (local.get 0) (global.get $g)))
  (func (export "f") (param i32) (result i32) (call $add (local.get 0))))"""


def _parts(data: bytes):
    """(header bytes, module, object) of a version-8 artifact, by its documented layout (version
    2's, the llvm tier's code now linked ahead of time, with its call sites since 4, the
    inline chains since 5, results through a pointer since 6, marking its use of the GC
    proposal since 7, inlined copies' shadow-stack entries naming their calls since 8)."""
    _, version, head_len = struct.unpack_from("<8sII", data)
    assert version == 8
    pos = 16
    head = data[pos:pos + head_len]
    pos += head_len
    (n,) = struct.unpack_from("<Q", data, pos)
    wasm = data[pos + 8:pos + 8 + n]
    pos += 8 + n
    (n,) = struct.unpack_from("<Q", data, pos)
    obj = data[pos + 8:pos + 8 + n]
    return head, wasm, obj


@pytest.mark.parametrize("tier", TIERS)
def test_a_version_1_artifact_is_refused_with_recompile(tier):
    engine = engine_for(tier)
    head, wasm, obj = _parts(Module(engine, WAT).serialize())
    # Version 1's layout: no module description after the object code.
    body = b"".join((struct.pack("<8sII", aot.MAGIC, 1, len(head)), head,
                     struct.pack("<Q", len(wasm)), wasm, struct.pack("<Q", len(obj)), obj))
    old = body + hashlib.sha256(body).digest()
    with pytest.raises(WasmError, match="format version 1 is not supported.*recompile"):
        Module.deserialize(engine, old)


@pytest.mark.parametrize("tier", TIERS)
@pytest.mark.parametrize("version", [2, 3, 4, 5, 6, 7])
def test_an_older_artifact_is_refused_with_recompile(tier, version):
    # Version 2 held the llvm tier's object file where version 3 holds a linked image; 4's
    # image has a trailer with its call sites (version 3 code could not read it), 5's
    # trailer has the inline chains of the code instead of call labels; from 6 on a function
    # with more than two results takes a result pointer (5's code returned them as LLVM chose).
    # 7's code says whether it uses the GC proposal (older code of a GC module does not);
    # 8's inlined copies push tagged shadow-stack entries (llvm/copies.py), which 7 misreads.
    data = Module(engine_for(tier), WAT).serialize()
    body = data[:8] + struct.pack("<I", version) + data[12:-32]
    with pytest.raises(WasmError, match=f"format version {version} is not supported.*recompile"):
        Module.deserialize(engine_for(tier), body + hashlib.sha256(body).digest())


@pytest.mark.parametrize("tier", TIERS)
def test_loading_an_artifact_decodes_nothing(tier, monkeypatch):
    engine = engine_for(tier)
    data = Module(engine, WAT).serialize()
    import wasmforge.binary.decode as decode

    def refuse(*args, **kwargs):
        raise AssertionError("the artifact's module was decoded again")

    monkeypatch.setattr(decode, "decode_module", refuse)
    module = Module.deserialize(engine, data)
    assert [e.name for e in module.exports] == ["mem", "f"]
    store = Store(engine)
    inst = Instance(store, module, [])
    assert inst.exports(store)["f"](store, 2) == 42
    assert inst.exports(store)["mem"].read(store, 8, 10) == b"hi"
    # Bodies still decode on use (the interp tier translates them on first call), and
    # the module serializes again to the same artifact (which describes it anew).
    monkeypatch.undo()
    assert module.serialize() == data


@pytest.mark.parametrize("tier", TIERS)
def test_a_description_naming_foreign_classes_is_refused(tier):
    engine = engine_for(tier)
    data = Module(engine, WAT).serialize()
    head, wasm, obj = _parts(data)
    import fractions
    import pickle
    desc = pickle.dumps(fractions.Fraction(1, 3))       # a class outside wasmforge
    body = b"".join((struct.pack("<8sII", aot.MAGIC, aot.FORMAT_VERSION, len(head)), head,
                     struct.pack("<Q", len(wasm)), wasm, struct.pack("<Q", len(obj)), obj,
                     struct.pack("<Q", len(desc)), desc))
    with pytest.raises(WasmError, match="foreign class fractions.Fraction"):
        Module.deserialize(engine, body + hashlib.sha256(body).digest())


@pytest.mark.parametrize("tier", TIERS)
def test_a_description_that_is_not_a_module_is_refused(tier):
    import pickle
    engine = engine_for(tier)
    head, wasm, obj = _parts(Module(engine, WAT).serialize())
    for desc, message in ((pickle.dumps([1, 2]), "is not a module"),
                          (b"\x80\x05garbage", "does not load"),
                          (pickle.dumps(struct.pack), "foreign class")):
        body = b"".join((struct.pack("<8sII", aot.MAGIC, aot.FORMAT_VERSION, len(head)), head,
                         struct.pack("<Q", len(wasm)), wasm, struct.pack("<Q", len(obj)), obj,
                         struct.pack("<Q", len(desc)), desc))
        with pytest.raises(WasmError, match=message):
            Module.deserialize(engine, body + hashlib.sha256(body).digest())
