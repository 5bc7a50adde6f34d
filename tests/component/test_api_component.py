"""wasmforge.component's Component, ExportIndex, the type classes and the resource handles,
called as wasmtime-py 50's ``wasmtime.component`` is, side by side with it where it is installed."""

from __future__ import annotations

import pytest

import wasmforge
from wasmforge import Config, Engine, WasmtimeError
from wasmforge import component as C

W = pytest.importorskip("wasmtime.component")
wasmtime = pytest.importorskip("wasmtime")

TYPES = """(component
  (type $r (record (field "a" u32) (field "long-name" string)))
  (export "r" (type $r))
  (type $v (variant (case "none") (case "some" u64) (case "many" (list s8))))
  (export "v" (type $v))
  (type $e (enum "red" "green" "blue"))
  (export "e" (type $e))
  (type $f (flags "read" "write"))
  (export "f" (type $f))
  (import "h" (func (param "a" (list string)) (param "b" (option (tuple u8 char)))
                    (result (result (list f32) (error f64)))))
  (import "g" (func (param "x" bool) (param "y" s16) (param "z" u16)))
  (import "i" (instance (export "k" (func (result u32)))))
  (import "m" (core module (import "x" "y" (func (param i32))) (export "mem" (memory 1))))
  (core module $m (func (export "id") (param i32) (result i32) local.get 0))
  (core instance $ci (instantiate $m))
  (func (export "id") (param "x" u32) (result u32) (canon lift (core func $ci "id")))
  (instance (export "nested") (export "id2" (func 2)))
)"""


def describe(t):
    """A structure of plain values describing a type through wasmtime-py's public accessors
    only (so that ours and wasmtime-py's can be compared)."""
    name = type(t).__name__
    if name == "FuncType":
        return ("func", [(n, describe(p)) for n, p in t.params], describe(t.result) if t.result else None)
    if name == "ListType":
        return ("list", describe(t.element))
    if name == "RecordType":
        return ("record", [(n, describe(f)) for n, f in t.fields])
    if name == "TupleType":
        return ("tuple", [describe(e) for e in t.elements])
    if name == "VariantType":
        return ("variant", [(n, describe(c) if c is not None else None) for n, c in t.cases])
    if name == "EnumType":
        return ("enum", t.names, t.names_count, t.name(1))
    if name == "FlagsType":
        return ("flags", t.names)
    if name == "OptionType":
        return ("option", describe(t.payload))
    if name == "ResultType":
        return ("result", describe(t.ok) if t.ok else None, describe(t.err) if t.err else None)
    if name == "ComponentInstanceType":
        return ("instance", None)
    if name == "ModuleType":
        return ("module", None)
    return name


def both(wat):
    ours_engine, theirs_engine = Engine(), wasmtime.Engine()
    return ((C.Component(ours_engine, wat), ours_engine), (W.Component(theirs_engine, wat), theirs_engine))


def test_component_type_imports_and_exports_as_wasmtime_py():
    (ours, oe), (theirs, te) = both(TYPES)
    for which in ("imports", "exports"):
        o = getattr(ours.type, which)(oe)
        t = getattr(theirs.type, which)(te)
        assert list(o) == list(t)
        assert {n: describe(x.ty) for n, x in o.items()} == {n: describe(x.ty) for n, x in t.items()}
    assert describe(ours.type.exports(oe)["r"].ty) == ("record", [("a", "U32"), ("long-name", "String")])


def test_imports_of_non_resource_types_are_not_listed_as_wasmtime_py():
    """A compiled component's type imports bound to a record (componentize-js writes one per
    world type) are not imports to wasmtime; resource type imports are, and inside an
    imported instance's type the record stays."""
    wat = """(component
      (import "r" (type $r (sub resource)))
      (import "r2" (type (eq $r)))
      (type $t (record (field "a" u32)))
      (import "t" (type (eq $t)))
      (import "f" (func))
      (import "i" (instance (type $t (record (field "a" u32))) (export "t" (type (eq $t)))))
      (export "t2" (type $t)))"""
    (ours, oe), (theirs, te) = both(wat)
    assert list(ours.type.imports(oe)) == list(theirs.type.imports(te)) == ["r", "r2", "f", "i"]
    assert list(ours.type.exports(oe)) == list(theirs.type.exports(te)) == ["t2"]
    assert list(ours.type.imports(oe)["i"].ty.exports(oe)) == ["t"]


def test_instance_and_module_types():
    (ours, oe), (theirs, te) = both(TYPES)
    oi = ours.type.imports(oe)
    ti = theirs.type.imports(te)
    o_inst, t_inst = oi["i"].ty, ti["i"].ty
    assert {n: describe(x.ty) for n, x in o_inst.exports(oe).items()} == \
        {n: describe(x.ty) for n, x in t_inst.exports(te).items()}
    om, tm = oi["m"].ty, ti["m"].ty
    assert [(i.module, i.name, [str(p) for p in i.type.params]) for i in om.imports(oe)] == \
        [(i.module, i.name, [str(p) for p in i.type.params]) for i in tm.imports(te)] == [("x", "y", ["i32"])]
    assert [e.name for e in om.exports(oe)] == [e.name for e in tm.exports(te)] == ["mem"]
    assert om.exports(oe)[0].type.limits.min == 1


def test_primitive_types_are_dataclasses_as_in_wasmtime_py():
    for name in ("Bool", "U8", "S64", "F32", "Char", "String"):
        assert getattr(C, name)() == getattr(C, name)()
        assert getattr(C, name)() != C.U16()
    f = C.Component(Engine(), TYPES).type.exports(Engine())["id"].ty
    assert f.params == [("x", C.U32())] and f.result == C.U32()


def test_type_equality_is_structural():
    e = Engine()
    a = C.Component(e, TYPES).type.exports(e)
    b = C.Component(e, TYPES).type.exports(e)
    assert a["r"].ty == b["r"].ty and a["e"].ty != a["f"].ty
    assert hash(a["v"].ty) == hash(b["v"].ty)


def test_from_file_binary_and_text(tmp_path):
    e = Engine()
    binary = bytes(C.Component(e, TYPES).serialize())      # an artifact, not a component binary
    text_path = tmp_path / "c.wat"
    text_path.write_text(TYPES)
    c = C.Component.from_file(e, text_path)
    assert list(c.type.exports(e)) == ["r", "v", "e", "f", "id", "nested"]
    wasm_path = tmp_path / "c.wasm"
    wasm_path.write_bytes(c._wasm)
    assert list(C.Component.from_file(e, str(wasm_path)).type.exports(e)) == list(c.type.exports(e))
    with pytest.raises(WasmtimeError, match="Component.deserialize"):
        C.Component(e, binary)


def test_bad_input_raises_what_wasmtime_py_raises():
    for M, E in ((C, Engine), (W, wasmtime.Engine)):
        with pytest.raises(TypeError):
            M.Component("not an engine", TYPES)
        with pytest.raises(wasmtime.WasmtimeError if M is W else WasmtimeError):
            M.Component(E(), "(component (export \"x\" (func 0)))")      # no func 0
        with pytest.raises(wasmtime.WasmtimeError if M is W else WasmtimeError):
            M.Component(E(), b"\0asm\x01\0\0\0")                         # a core module
        with pytest.raises(wasmtime.WasmtimeError if M is W else WasmtimeError):
            M.Component(E(), "(component")
    assert issubclass(wasmforge.ValidationError, WasmtimeError)


def test_validate_is_static():
    C.Component.validate(Engine(), TYPES)
    with pytest.raises(wasmforge.ValidationError, match="func"):
        C.Component.validate(Engine(), "(component (export \"x\" (func 0)))")


def test_get_export_index_as_wasmtime_py():
    (ours, _), (theirs, _) = both(TYPES)
    for c in (ours, theirs):
        assert c.get_export_index("id") is not None
        assert c.get_export_index("missing") is None
        nested = c.get_export_index("nested")
        assert nested is not None
        assert c.get_export_index("id2", nested) is not None
        assert c.get_export_index("id", nested) is None
    assert ours.get_export_index("id2", ours.get_export_index("nested"))._path == ("nested", "id2")
    assert ours.get_export_index("x", ours.get_export_index("id")) is None     # not an instance
    with pytest.raises(WasmtimeError):
        C.ExportIndex()


def test_serialize_round_trip():
    e = Engine()
    c = C.Component(e, TYPES)
    art = c.serialize()
    assert isinstance(art, bytearray)
    back = C.Component.deserialize(e, art)
    assert {n: describe(x.ty) for n, x in back.type.exports(e).items()} == \
        {n: describe(x.ty) for n, x in c.type.exports(e).items()}
    assert back._wasm == c._wasm
    assert C.Component.deserialize(e, bytes(art)).serialize() == art


def test_deserialize_file(tmp_path):
    e = Engine()
    path = tmp_path / "c.cwasm"
    path.write_bytes(C.Component(e, TYPES).serialize())
    assert "nested" in C.Component.deserialize_file(e, str(path)).type.exports(e)


def test_tampered_or_foreign_artifacts_are_refused():
    e = Engine()
    art = C.Component(e, TYPES).serialize()
    bad = bytearray(art)
    bad[len(bad) // 2] ^= 1
    with pytest.raises(WasmtimeError, match="checksum"):
        C.Component.deserialize(e, bad)
    with pytest.raises(WasmtimeError, match="truncated|checksum"):
        C.Component.deserialize(e, art[:-40])
    with pytest.raises(WasmtimeError, match="not a wasmforge artifact"):
        C.Component.deserialize(e, b"garbage" * 10)
    with pytest.raises(TypeError):
        C.Component.deserialize(e, "text")
    module_art = wasmforge.Module(e, "(module)").serialize()
    with pytest.raises(WasmtimeError, match="core module, not a component"):
        C.Component.deserialize(e, module_art)
    with pytest.raises(WasmtimeError, match="component, not a core module"):
        wasmforge.Module.deserialize(e, art)


def test_artifact_of_another_engine_setting_is_refused():
    fuel = Config()
    fuel.consume_fuel = True
    art = C.Component(Engine(fuel), TYPES).serialize()
    with pytest.raises(WasmtimeError, match="incompatible artifact: consume_fuel"):
        C.Component.deserialize(Engine(), art)


def test_resource_type_host_equality_as_wasmtime_py():
    for M in (C, W):
        assert M.ResourceType.host(1) == M.ResourceType.host(1)
        assert M.ResourceType.host(1) != M.ResourceType.host(2)
        assert M.ResourceType.host(1) != "x"
    with pytest.raises(WasmtimeError):
        C.ResourceType()


def test_resource_host_and_any_as_wasmtime_py():
    stores = ((C, wasmforge.Store(Engine())), (W, wasmtime.Store(wasmtime.Engine())))
    seen = []
    for M, store in stores:
        h = M.ResourceHost.own(5, 7)
        b = M.ResourceHost.borrow(6, 7)
        a = h.to_any(store)
        back = a.to_host(store)
        seen.append((h.rep, h.type, h.owned, b.owned, a.owned, a.type == M.ResourceType.host(7),
                     a.type == M.ResourceType.host(8), back.rep, back.type, back.owned))
    assert seen[0] == seen[1] == (5, 7, True, False, True, True, False, 5, 7, True)
    with pytest.raises(WasmtimeError):
        C.ResourceAny()
    with pytest.raises(WasmtimeError):
        C.ResourceHost()
    with pytest.raises(TypeError):
        C.ResourceHost.own(-1, 0)


def test_dropping_a_handle_twice_traps():
    store = wasmforge.Store(Engine())
    a = C.ResourceHost.own(1, 9).to_any(store)
    a.drop(store)
    with pytest.raises(wasmforge.Trap, match="dropped"):
        a.drop(store)
    with pytest.raises(wasmforge.Trap, match="dropped"):
        a.to_host(store)


_MOVES = """(component
  (core module $M (global $n (mut i32) (i32.const 0))
    (func (export "dtor") (param i32) (global.set $n (i32.add (global.get $n) (i32.const 1))))
    (func (export "drops") (result i32) (global.get $n))
    (func (export "two") (param i32 i32 i32)) (func (export "rep") (param i32) (result i32) (local.get 0))
    (memory (export "mem") 1) (func (export "realloc") (param i32 i32 i32 i32) (result i32) (i32.const 64)))
  (core instance $m (instantiate $M))
  (type $gr (resource (rep i32) (dtor (core func $m "dtor"))))
  (export $g "gr" (type $gr))
  (core func $new (canon resource.new $gr))
  (func (export "make") (param "rep" u32) (result (own $g)) (canon lift (core func $new)))
  (func (export "two") (param "a" (own $g)) (param "b" (list (own $g)))
    (canon lift (core func $m "two") (memory (core memory $m "mem")) (realloc (core func $m "realloc"))))
  (func (export "rep") (param "a" (borrow $g)) (result u32) (canon lift (core func $m "rep")))
  (func (export "drops") (result u32) (canon lift (core func $m "drops"))))"""


def test_an_owned_handle_moves_once_and_a_second_use_is_refused_before_the_call():
    # As wasmtime-py converts arguments: an `own` argument consumes the handle, so the same
    # one twice (or one already given) is a ValueError before the component is entered,
    # which stays usable (it used to trap inside the call, and the instance could not be
    # entered again).
    e = Engine()
    store = wasmforge.Store(e)
    inst = C.Linker(e).instantiate(store, C.Component(e, _MOVES))
    f = {n: inst.get_func(store, n) for n in ("make", "two", "rep", "drops")}
    a, b = f["make"](store, 5), f["make"](store, 6)
    with pytest.raises(ValueError, match="already consumed"):
        f["two"](store, a, [b, a])
    assert f["rep"](store, a) == 5 and f["rep"](store, b) == 6      # still usable
    f["two"](store, a, [b])                                        # both move into the guest
    with pytest.raises(ValueError, match="already consumed"):
        f["rep"](store, a)
    assert f["drops"](store) == 0


def test_a_guest_resource_is_not_a_host_one():
    e = Engine()
    c = C.Component(e, '(component (type $r (resource (rep i32))) (export "r" (type $r)))')
    rt = c.type.exports(e)["r"].ty
    assert isinstance(rt, C.ResourceType) and rt != C.ResourceType.host(0)
    guest = C.ResourceAny._of(wasmforge.cm.abi.Resource(rt._cm, 3))
    with pytest.raises(WasmtimeError, match="not a host-defined resource"):
        guest.to_host(wasmforge.Store(e))


def test_own_and_borrow_types():
    rt = C.ResourceType.host(3)
    assert C.OwnType(rt) == C.OwnType(C.ResourceType.host(3))
    assert C.OwnType(rt) != C.BorrowType(rt)
    assert C.BorrowType(rt).ty == rt


def test_record_and_variant_are_the_abi_values():
    assert C.Variant("some", 3) == C.Variant("some", 3)
    r = C.Record(a=1)
    assert r.a == 1
