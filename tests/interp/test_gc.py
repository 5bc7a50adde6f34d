"""GC proposal on the interp tier: structs, arrays, i31, casts, and GC references across the
API (Python objects that keep their identity and are type-checked on the way in)."""

from __future__ import annotations

import pytest

from wasmforge import Engine, Instance, Module, Store, Trap
from wasmforge.api.engine import Config
from wasmforge.errors import WasmTypeError
from wasmforge.runtime.gc import Array, I31, Struct

WAT = """
(module
  (type $point (sub (struct (field $x (mut i32)) (field $y i8))))
  (type $point3 (sub $point (struct (field $x (mut i32)) (field $y i8) (field $z f64))))
  (type $bytes (array (mut i8)))
  (type $list (struct (field $head i32) (field $tail (ref null $list))))
  (data $d "\\01\\02\\ff")
  (global $origin (ref $point) (struct.new_default $point))
  (func (export "point") (param i32 i32) (result (ref $point))
    (struct.new $point (local.get 0) (local.get 1)))
  (func (export "point3") (result (ref $point3))
    (struct.new $point3 (i32.const 1) (i32.const 2) (f64.const 3)))
  (func (export "y_s") (param (ref null $point)) (result i32) (struct.get_s $point $y (local.get 0)))
  (func (export "y_u") (param (ref null $point)) (result i32) (struct.get_u $point $y (local.get 0)))
  (func (export "set_x") (param (ref $point) i32) (struct.set $point $x (local.get 0) (local.get 1)))
  (func (export "x") (param (ref $point)) (result i32) (struct.get $point $x (local.get 0)))
  (func (export "origin") (result (ref $point)) (global.get $origin))
  (func (export "bytes") (result (ref $bytes)) (array.new_data $bytes $d (i32.const 0) (i32.const 3)))
  (func (export "byte_s") (param (ref $bytes) i32) (result i32)
    (array.get_s $bytes (local.get 0) (local.get 1)))
  (func (export "len") (param (ref $bytes)) (result i32) (array.len (local.get 0)))
  (func (export "is_point3") (param anyref) (result i32) (ref.test (ref $point3) (local.get 0)))
  (func (export "as_point3") (param anyref) (result (ref $point3)) (ref.cast (ref $point3) (local.get 0)))
  (func (export "i31") (param i32) (result i32) (i31.get_s (ref.i31 (local.get 0))))
  (func (export "eq") (param eqref eqref) (result i32) (ref.eq (local.get 0) (local.get 1)))
  (func (export "sum") (param $n i32) (result i32)
    (local $l (ref null $list)) (local $c (ref null $list)) (local $s i32)
    (block $done
      (loop $build
        (br_if $done (i32.eqz (local.get $n)))
        (local.set $l (struct.new $list (local.get $n) (local.get $l)))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $build)))
    (block $end
      (loop $walk
        (local.set $c (br_on_null $end (local.get $l)))
        (local.set $s (i32.add (local.get $s) (struct.get $list $head (local.get $c))))
        (local.set $l (struct.get $list $tail (local.get $c)))
        (br $walk)))
    (local.get $s))
)
"""


@pytest.fixture(scope="module")
def gc():
    config = Config()
    config.strategy = "interp"
    config.wasm_gc = True
    engine = Engine(config)
    store = Store(engine)
    return store, Instance(store, Module(engine, WAT), []).exports(store)


def test_struct_fields_and_packing(gc):
    store, ex = gc
    p = ex["point"](store, 7, 0x1FF)
    assert isinstance(p, Struct)
    assert ex["y_s"](store, p) == -1 and ex["y_u"](store, p) == 0xFF
    ex["set_x"](store, p, 42)
    assert ex["x"](store, p) == 42


def test_global_initialiser_allocates_a_default_struct(gc):
    store, ex = gc
    o = ex["origin"](store)
    assert ex["x"](store, o) == 0 and ex["origin"](store) is o


def test_array_from_data_and_bounds(gc):
    store, ex = gc
    a = ex["bytes"](store)
    assert isinstance(a, Array) and ex["len"](store, a) == 3
    assert [ex["byte_s"](store, a, i) for i in range(3)] == [1, 2, -1]
    with pytest.raises(Trap, match="out of bounds array access"):
        ex["byte_s"](store, a, 3)


def test_casts_follow_declared_subtyping(gc):
    store, ex = gc
    p3, p = ex["point3"](store), ex["point"](store, 1, 1)
    assert ex["is_point3"](store, p3) == 1 and ex["is_point3"](store, p) == 0
    assert ex["as_point3"](store, p3) is p3
    assert ex["x"](store, p3) == 1            # a point3 is a point
    with pytest.raises(Trap, match="cast failure"):
        ex["as_point3"](store, p)


def test_i31_and_ref_eq(gc):
    store, ex = gc
    assert ex["i31"](store, 0x7FFFFFFF) == -1 and ex["i31"](store, 5) == 5
    p = ex["point"](store, 1, 1)
    assert ex["eq"](store, p, p) == 1 and ex["eq"](store, p, ex["point"](store, 1, 1)) == 0
    assert ex["eq"](store, I31(3), I31(3)) == 1 and ex["eq"](store, None, None) == 1


def test_linked_list_of_structs(gc):
    store, ex = gc
    assert ex["sum"](store, 100) == 5050


def test_wrong_references_are_refused_at_the_api(gc):
    store, ex = gc
    with pytest.raises(WasmTypeError):
        ex["x"](store, "not a struct")
    with pytest.raises(WasmTypeError):
        ex["x"](store, ex["bytes"](store))        # an array where a $point is wanted
    with pytest.raises(WasmTypeError):
        ex["x"](store, None)                      # (ref $point) is not nullable
    with pytest.raises(Trap, match="null structure reference"):
        ex["y_s"](store, None)


def test_gc_is_refused_when_switched_off():
    config = Config()
    config.strategy = "interp"
    config.wasm_gc = False
    with pytest.raises(Exception, match="gc proposal"):
        Module(Engine(config), WAT)
