"""Ahead-of-time artifacts: Module.serialize / deserialize, `wasmforge compile`, and running a
`.cwasm` with `wasmforge run --allow-precompiled`."""

import hashlib
import json
import struct
import subprocess
import sys

import pytest

pytest.importorskip("llvmlite", reason="llvmlite is not installed: the llvm tier is unavailable")

from wasmforge import Instance, Module, Store, Trap, WasmError, wat2wasm  # noqa: E402
from wasmforge.api import aot  # noqa: E402
from wasmforge.api.engine import Config, Engine  # noqa: E402

WAT = """
(module
  (memory (export "mem") 1)
  (global $g (mut i32) (i32.const 5))
  (func $fac (export "fac") (param i64) (result i64)
    (if (result i64) (i64.eqz (local.get 0)) (then (i64.const 1))
      (else (i64.mul (local.get 0) (call $fac (i64.sub (local.get 0) (i64.const 1)))))))
  (func (export "bump") (result i32)
    (global.set $g (i32.add (global.get $g) (i32.const 1)))
    (i32.store (i32.const 8) (global.get $g))
    (i32.load (i32.const 8)))
  (func (export "div") (param f64 f64) (result f64) (f64.div (local.get 0) (local.get 1)))
  (func (export "crash") (unreachable)))
"""


def results(engine, module):
    store = Store(engine)
    ex = Instance(store, module, []).exports(store)
    return (ex["fac"](store, 20), ex["bump"](store), ex["bump"](store), ex["div"](store, 1.0, 4.0))


def make_engine(strategy: str) -> Engine:
    config = Config()
    config.strategy = strategy
    return Engine(config)


def fuel_engine():
    config = Config()
    config.strategy = "llvm"
    config.consume_fuel = True
    return Engine(config)


def rebuild(artifact: bytes, **changes) -> bytes:
    """``artifact`` with header fields changed and a valid checksum."""
    _, version, head_len = struct.unpack_from("<8sII", artifact)
    header = json.loads(artifact[16:16 + head_len])
    header.update(changes)
    head = json.dumps(header, sort_keys=True).encode()
    body = artifact[:8] + struct.pack("<II", version, len(head)) + head + artifact[16 + head_len:-32]
    return body + hashlib.sha256(body).digest()


@pytest.fixture(scope="module")
def artifact(llvm_engine):
    return Module(llvm_engine, WAT).serialize()


def test_round_trip_gives_the_same_results(llvm_engine, artifact):
    expected = results(llvm_engine, Module(llvm_engine, WAT))
    assert results(llvm_engine, Module.deserialize(llvm_engine, artifact)) == expected
    assert expected == (2432902008176640000, 6, 7, 0.25)


def test_artifact_starts_with_the_magic(artifact):
    assert aot.is_artifact(artifact) and artifact[:8] == aot.MAGIC


def test_deserialized_traps_like_the_original(llvm_engine, artifact):
    store = Store(llvm_engine)
    ex = Instance(store, Module.deserialize(llvm_engine, artifact), []).exports(store)
    with pytest.raises(Exception) as info:
        ex["crash"](store)
    assert "unreachable" in str(info.value)


def test_deserialize_neither_validates_nor_compiles(llvm_engine, artifact, monkeypatch):
    from wasmforge.llvm import codegen, jit
    from wasmforge.api import handles as api

    def forbidden(*a, **k):
        raise AssertionError("deserialize must not validate or compile")
    monkeypatch.setattr(jit, "compile_ir", forbidden)
    monkeypatch.setattr(codegen.ModuleCompiler, "compile", forbidden)
    monkeypatch.setattr(api, "_validate", forbidden)
    monkeypatch.setattr(llvm_engine, "compile", forbidden)
    module = Module.deserialize(llvm_engine, artifact)
    store = Store(llvm_engine)
    assert Instance(store, module, []).exports(store)["fac"](store, 5) == 120


def test_deserialize_file(llvm_engine, artifact, tmp_path):
    path = tmp_path / "m.cwasm"
    path.write_bytes(artifact)
    module = Module.deserialize_file(llvm_engine, path)
    assert [e.name for e in module.exports] == ["mem", "fac", "bump", "div", "crash"]


def test_serialize_twice_is_identical(llvm_engine):
    module = Module(llvm_engine, WAT)
    assert module.serialize() == module.serialize()


def test_module_without_functions_round_trips(llvm_engine):
    module = Module.deserialize(llvm_engine, Module(llvm_engine, '(module (memory (export "m") 2))').serialize())
    store = Store(llvm_engine)
    assert Instance(store, module, []).exports(store)["m"].size(store) == 2


def test_interp_artifact_round_trips():
    engine = make_engine("interp")
    module = Module.deserialize(engine, Module(engine, WAT).serialize())
    assert results(engine, module) == (2432902008176640000, 6, 7, 0.25)


def test_fuel_artifact_keeps_metering():
    engine = fuel_engine()
    module = Module.deserialize(engine, Module(engine, WAT).serialize())
    store = Store(engine)
    store.set_fuel(1_000_000)
    Instance(store, module, []).exports(store)["fac"](store, 10)
    assert store.get_fuel() < 1_000_000


@pytest.mark.parametrize("field, value", [
    ("cpu", "some-other-cpu"), ("cpu_features", "+nothing"), ("llvm", "1.0.0"),
    ("llvmlite", "0.0.1"), ("opt_level", 0), ("wasmforge", "0.0.0")])
def test_changed_header_field_is_named(llvm_engine, artifact, field, value):
    with pytest.raises(WasmError, match=f"incompatible artifact: {field} is "):
        Module.deserialize(llvm_engine, rebuild(artifact, **{field: value}))


def test_fuel_setting_mismatch_is_refused(artifact):
    with pytest.raises(WasmError, match="consume_fuel is False in the artifact but True here"):
        Module.deserialize(fuel_engine(), artifact)


def test_tier_mismatch_is_refused(llvm_engine):
    interp_artifact = Module(make_engine("interp"), WAT).serialize()
    with pytest.raises(WasmError, match="tier is 'interp' in the artifact but 'llvm' here"):
        Module.deserialize(llvm_engine, interp_artifact)


def test_module_hash_mismatch_is_refused(llvm_engine, artifact):
    with pytest.raises(WasmError, match="module does not match its hash"):
        Module.deserialize(llvm_engine, rebuild(artifact, module_sha256="0" * 64))


def test_entry_table_of_wrong_length_is_refused(llvm_engine, artifact):
    with pytest.raises(WasmError, match="no machine code for the module's functions"):
        Module.deserialize(llvm_engine, rebuild(artifact, entry_of=[0, 0]))


def test_object_code_lacking_a_symbol_is_refused(llvm_engine, artifact):
    from wasmforge.llvm.compiler import CompiledModule
    compiled = Module(llvm_engine, WAT)._compiled()
    with pytest.raises(WasmError, match="missing symbols"):
        CompiledModule.from_object(compiled.module, compiled.object_code, [0, 1, 2, 9])


@pytest.mark.parametrize("size", [0, 5, 12, 16, 100, -1])
def test_truncated_artifact_is_refused(llvm_engine, artifact, size):
    with pytest.raises(WasmError, match="truncated|not a wasmforge artifact"):
        Module.deserialize(llvm_engine, artifact[:size])


@pytest.mark.parametrize("where", [0.01, 0.3, 0.6, 0.9, 0.999])
def test_flipped_bit_is_refused(llvm_engine, artifact, where):
    data = bytearray(artifact)
    data[max(16, int(len(data) * where))] ^= 0x10
    with pytest.raises(WasmError, match="checksum mismatch"):
        Module.deserialize(llvm_engine, bytes(data))


def test_bad_magic_is_refused(llvm_engine, artifact):
    with pytest.raises(WasmError, match="not a wasmforge artifact"):
        Module.deserialize(llvm_engine, b"\0asm" + artifact[4:])


def test_other_format_version_is_refused(llvm_engine, artifact):
    data = artifact[:8] + struct.pack("<I", 99) + artifact[12:]
    with pytest.raises(WasmError, match="format version 99 is not supported"):
        Module.deserialize(llvm_engine, data)


def wasmforge(*args):
    proc = subprocess.run([sys.executable, "-m", "wasmforge", *map(str, args)],
                          capture_output=True, text=True, timeout=300)
    return proc.returncode, proc.stdout, proc.stderr


@pytest.mark.parametrize("name", ["fib", "sha256"])
def test_cli_compile_then_run(bench_dir, tmp_path, name):
    program = json.loads((bench_dir / "manifest.json").read_text())["programs"][name]
    tiny = program["sizes"]["tiny"]
    out = tmp_path / f"{name}.cwasm"
    assert wasmforge("compile", "--tier", "llvm", bench_dir / program["wasm"], "-o", out) == (0, "", "")
    assert wasmforge("run", "--allow-precompiled", "--tier", "llvm", out, *tiny["args"]) == (0, tiny["stdout"], "")


def test_cli_run_refuses_a_mismatched_artifact(tmp_path, artifact):
    path = tmp_path / "m.cwasm"
    path.write_bytes(artifact)
    code, out, err = wasmforge("run", "--allow-precompiled", "--tier", "llvm", "--fuel", "10", path)
    assert (code, out) == (1, "")
    assert err == f"{path}: error: incompatible artifact: consume_fuel is False in the artifact but True here\n"


def test_cli_run_refuses_a_corrupted_artifact(tmp_path, artifact):
    path = tmp_path / "m.cwasm"
    path.write_bytes(artifact[:-7])
    code, out, err = wasmforge("run", "--allow-precompiled", "--tier", "llvm", path)
    assert (code, out, err) == (1, "", f"{path}: error: corrupted or truncated artifact (checksum mismatch)\n")


def test_cli_compile_reports_an_invalid_module_in_one_line(tmp_path):
    src = tmp_path / "bad.wat"
    src.write_text("(module (func (result i32)))")
    code, out, err = wasmforge("compile", src)
    assert (code, out) == (1, "")
    assert err.count("\n") == 1 and "type mismatch" in err
    assert not (tmp_path / "bad.cwasm").exists()


def test_cli_compile_default_output_name(tmp_path):
    src = tmp_path / "m.wat"
    src.write_text(WAT)
    assert wasmforge("compile", "--tier", "llvm", src) == (0, "", "")
    assert aot.is_artifact((tmp_path / "m.cwasm").read_bytes())


def test_call_indirect_across_deserialized_artifacts_matches_types_structurally(llvm_engine):
    """Two artifacts loaded separately (fresh modules, fresh FuncType objects): a function of
    one called through the other's table passes the signature check when the types are equal
    and traps when they differ (signature ids are keyed by the type names)."""
    callee = Module(llvm_engine, wat2wasm('''(module
      (func (export "add") (param i32 i32) (result i32) (i32.add (local.get 0) (local.get 1)))
      (func (export "neg") (param i64) (result i64) (i64.sub (i64.const 0) (local.get 0))))'''))
    caller = Module(llvm_engine, wat2wasm('''(module
      (import "m" "f" (func $f (param i32 i32) (result i32)))
      (import "m" "g" (func $g (param i64) (result i64)))
      (type $t (func (param i32 i32) (result i32)))
      (table 2 funcref) (elem (i32.const 0) $f $g)
      (func (export "via") (param i32) (result i32)
        (call_indirect (type $t) (i32.const 20) (i32.const 22) (local.get 0))))'''))
    callee_art, caller_art = callee.serialize(), caller.serialize()
    store = Store(llvm_engine)
    lib = Instance(store, Module.deserialize(llvm_engine, callee_art), []).exports(store)
    inst = Instance(store, Module.deserialize(llvm_engine, caller_art), [lib["add"], lib["neg"]])
    via = inst.exports(store)["via"]
    assert via(store, 0) == 42
    with pytest.raises(Trap, match="indirect call type mismatch"):
        via(store, 1)


def test_instantiating_a_loaded_artifact_decodes_no_function_body(llvm_engine, monkeypatch):
    # Whether the code uses the GC proposal (or exceptions) is marked in the code itself
    # (@wf_gc, @wf_eh): a scan of every body cost a loaded fib.wasm ~40 ms per instance.
    from wasmforge.module import Func
    data = Module(llvm_engine, """(module
      (memory (export "mem") 1)
      (func $sq (param i32) (result i32) (i32.mul (local.get 0) (local.get 0)))
      (func (export "f") (param i32) (result i32) (i32.add (call $sq (local.get 0)) (i32.const 1))))""").serialize()

    def refuse(self):
        raise AssertionError("a function body was decoded")

    monkeypatch.setattr(Func, "iter_body", refuse)
    monkeypatch.setattr(Func, "iter_with_offsets", refuse)
    module = Module.deserialize(llvm_engine, data)
    for _ in range(2):
        store = Store(llvm_engine)
        assert Instance(store, module, []).exports(store)["f"](store, 6) == 37


def test_a_loaded_artifact_of_a_gc_module_gets_the_gc_heap():
    from support import engine_for
    engine = engine_for("llvm")
    try:
        module = Module(engine, """(module (type $s (struct (field i32)))
          (func (export "f") (param i32) (result i32) (struct.get $s 0 (struct.new $s (local.get 0)))))""")
    except WasmError as exc:
        pytest.skip(f"GC modules are not enabled here: {exc}")
    loaded = Module.deserialize(engine, module.serialize())
    assert loaded._compiled().gc and not Module.deserialize(
        engine, Module(engine, '(module (func (export "g")))').serialize())._compiled().gc
    store = Store(engine)
    assert Instance(store, loaded, []).exports(store)["f"](store, 41) == 41


def test_an_artifact_loaded_again_is_described_once_and_runs(llvm_engine, artifact, monkeypatch):
    # A server loads the same artifact per request, each time as a bytes object of its own.
    monkeypatch.setattr(aot, "_modules", {})
    loads = []
    real = aot._load_module
    monkeypatch.setattr(aot, "_load_module", lambda *a: loads.append(1) or real(*a))
    first = Module.deserialize(llvm_engine, bytes(bytearray(artifact)))
    second = Module.deserialize(llvm_engine, bytes(bytearray(artifact)))
    assert len(loads) == 1
    assert second._code is not first._code          # code of its own, mapped again
    assert results(llvm_engine, first) == results(llvm_engine, second) \
        == (2432902008176640000, 6, 7, 0.25)
    # What instances read of the module alone (signature ids, code offsets) is made once.
    assert second._code.sig_table is first._code.sig_table
    assert second._code.code_offsets is first._code.code_offsets


@pytest.mark.parametrize("where", [0.3, 0.6, 0.9])
def test_a_corrupted_copy_of_a_loaded_artifact_is_still_refused(llvm_engine, artifact, where):
    Module.deserialize(llvm_engine, artifact)
    data = bytearray(artifact)
    data[int(len(data) * where)] ^= 0x10
    with pytest.raises(WasmError, match="checksum mismatch"):
        Module.deserialize(llvm_engine, bytes(data))
    with pytest.raises(WasmError, match="module does not match its hash"):
        Module.deserialize(llvm_engine, rebuild(artifact, module_sha256="0" * 64))


def test_what_is_kept_of_loaded_artifacts_is_bounded(llvm_engine, artifact, monkeypatch):
    monkeypatch.setattr(aot, "_modules", {})
    copies = [rebuild(artifact, note=k) for k in range(6)]     # six artifacts, six checksums
    size = len(copies[0])
    monkeypatch.setattr(aot, "_MODULES_BYTES", 4 * size)
    for data in copies:
        Module.deserialize(llvm_engine, data)
    assert list(aot._modules) == [data[-32:] for data in copies[2:]]   # the last four fit
    monkeypatch.setattr(aot, "_MODULES_BYTES", 3 * size)
    Module.deserialize(llvm_engine, rebuild(artifact, note="big"))   # over a quarter: not kept
    assert list(aot._modules) == [data[-32:] for data in copies[2:]]
