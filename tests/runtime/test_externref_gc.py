"""References handed to wasm are released once nothing in wasm can reach them (both tiers).

The llvm tier names a reference by an i64 handle into its instance's registry; the registry
must not keep an object alive after the wasm frames that could hold its handle have returned
(tables and reference globals hold the Python objects themselves)."""

import gc
import weakref

import pytest

from support import tier_params
from wasmforge import Engine, Func, FuncType, Instance, Module, Store, Trap, ValType
from wasmforge.api.engine import Config

TIERS = tier_params()


class Obj:
    """A fresh host object that weakrefs can watch."""


def _store(tier, fuel=False):
    config = Config()
    config.strategy = tier
    config.consume_fuel = fuel
    store = Store(Engine(config))
    if fuel:
        store.set_fuel(10 ** 12)
    return store


def _inst(store, wat, imports=()):
    inst = Instance(store, Module(store.engine, wat), list(imports))
    return inst, inst.exports(store)


def _registry(inst, name):
    """The llvm tier's reference registry behind export ``name`` (None on the interp tier)."""
    rt = inst._inst
    call = rt.funcs[rt.exports[name].index].call
    native = getattr(call, "args", (None,))[0]        # the stub before its first call
    return getattr(native, "refs", None)


def _registry_size(refs):
    return 0 if refs is None or refs._objs is None else len(refs._objs)


ID = '''(module
  (func (export "id") (param externref) (result externref) (local.get 0))
  (func (export "drop") (param externref)))'''


@pytest.mark.parametrize("fuel", [False, True], ids=["plain", "fuel"])
@pytest.mark.parametrize("tier", TIERS)
def test_fresh_objects_in_a_loop_are_released(tier, fuel):
    store = _store(tier, fuel)
    inst, ex = _inst(store, ID)
    refs = _registry(inst, "id")
    ident, drop = ex["id"], ex["drop"]
    watched = []
    for k in range(100_000 if tier == "llvm" and not fuel else 20_000):
        o = Obj()
        if k % 1000 == 0:
            watched.append(weakref.ref(o))
            assert ident(store, o) is o
        else:
            drop(store, o)
        del o
    assert len(watched) >= 20
    assert [w for w in watched if w() is not None] == []
    if refs is not None:
        assert _registry_size(refs) <= 1 + 2       # null and the two functions


@pytest.mark.parametrize("tier", TIERS)
def test_object_in_a_table_lives_until_overwritten(tier):
    store = _store(tier)
    inst, ex = _inst(store, '''(module
      (table $t 2 externref)
      (func (export "put") (param i32 externref) (table.set $t (local.get 0) (local.get 1)))
      (func (export "get") (param i32) (result externref) (table.get $t (local.get 0))))''')
    o = Obj()
    w = weakref.ref(o)
    ex["put"](store, 1, o)
    del o
    gc.collect()
    assert w() is not None
    assert ex["get"](store, 1) is w()
    assert ex["get"](store, 1) is w()
    ex["put"](store, 1, None)
    store.gc()
    assert w() is None
    assert ex["get"](store, 1) is None


@pytest.mark.parametrize("tier", TIERS)
def test_object_in_a_global_lives_until_overwritten(tier):
    store = _store(tier)
    inst, ex = _inst(store, '''(module
      (global $g (mut externref) (ref.null extern))
      (func (export "put") (param externref) (global.set $g (local.get 0)))
      (func (export "get") (result externref) (global.get $g)))''')
    o = Obj()
    w = weakref.ref(o)
    ex["put"](store, o)
    del o
    gc.collect()
    assert ex["get"](store) is w() is not None
    ex["put"](store, Obj())
    store.gc()
    assert w() is None


@pytest.mark.parametrize("tier", TIERS)
def test_table_get_of_fresh_objects_does_not_accumulate(tier):
    # Handles made inside wasm (table.get of objects the host keeps replacing) go too.
    store = _store(tier)
    inst, ex = _inst(store, '''(module
      (table $t (export "t") 1 externref)
      (func (export "peek") (result i32) (ref.is_null (table.get $t (i32.const 0)))))''')
    table, peek = ex["t"], ex["peek"]
    refs = _registry(inst, "peek")
    watched = []
    for k in range(2000):
        o = Obj()
        table.set(store, 0, o)
        if k % 100 == 0:
            watched.append(weakref.ref(o))
        del o
        assert peek(store) == 0
    table.set(store, 0, None)
    assert [w for w in watched if w() is not None] == []
    assert _registry_size(refs) <= 2 + 2


@pytest.mark.parametrize("tier", TIERS)
def test_handles_cross_instances_of_one_store(tier):
    store = _store(tier)
    a, exa = _inst(store, '''(module
      (table $t (export "t") 1 externref)
      (func (export "id") (param externref) (result externref) (local.get 0)))''')
    b, exb = _inst(store, '''(module
      (import "a" "id" (func $id (param externref) (result externref)))
      (import "a" "t" (table $t 1 externref))
      (func (export "via") (param externref) (result externref) (call $id (local.get 0)))
      (func (export "put") (param externref) (table.set $t (i32.const 0) (local.get 0)))
      (func (export "get") (result externref) (table.get $t (i32.const 0))))''',
                   [exa["id"], exa["t"]])
    o = Obj()
    assert exb["via"](store, o) is o
    exb["put"](store, o)
    assert exa["t"].get(store, 0) is o and exb["get"](store) is o
    w = weakref.ref(o)
    del o
    assert w() is not None
    exa["t"].set(store, 0, None)
    store.gc()
    assert w() is None
    assert exb["get"](store) is None


@pytest.mark.parametrize("tier", TIERS)
def test_same_object_same_reference_within_a_call(tier):
    store = _store(tier)
    seen = []
    ext = ValType.externref()
    host = Func(store, FuncType([ext, ext], []), lambda x, y: seen.append((x, y)))
    inst, ex = _inst(store, '''(module
      (import "h" "f" (func $f (param externref externref)))
      (func (export "twice") (param externref externref) (result externref externref)
        (call $f (local.get 0) (local.get 1))
        (call $f (local.get 1) (local.get 0))
        (local.get 1) (local.get 0)))''', [host])
    o, p = Obj(), Obj()
    assert list(ex["twice"](store, o, o)) == [o, o]
    assert ex["twice"](store, o, p)[0] is p
    assert seen == [(o, o), (o, o), (o, p), (p, o)]
    assert all(x is y for pair in seen[:2] for x, y in [pair])


@pytest.mark.parametrize("tier", TIERS)
def test_reentrant_calls_keep_the_outer_frames_references(tier):
    # wasm -> host -> the same instance's wasm, many times: the inner calls' references go
    # when they return, the outer frame's stay valid, and a reference made in an inner call
    # and handed back out through the host function reaches the outer frame intact.
    store = _store(tier)
    ext = ValType.externref()
    box = {}
    watched = []

    def host(x):
        for _ in range(50):
            o = Obj()
            watched.append(weakref.ref(o))
            assert box["id"](store, o) is o
        r = Obj()
        box["last"] = weakref.ref(r)
        return box["id"](store, r)
    f = Func(store, FuncType([ext], [ext]), host)
    inst, ex = _inst(store, '''(module
      (import "h" "f" (func $f (param externref) (result externref)))
      (func (export "id") (param externref) (result externref) (local.get 0))
      (func (export "outer") (param externref) (result externref externref)
        (call $f (local.get 0)) (local.get 0)))''', [f])
    box["id"] = ex["id"]
    refs = _registry(inst, "outer")
    o = Obj()
    got, same = ex["outer"](store, o)
    assert same is o
    assert got is box["last"]()
    del got
    assert box["last"]() is None
    assert [w for w in watched if w() is not None] == []
    assert _registry_size(refs) <= 3 + 2


@pytest.mark.parametrize("tier", TIERS)
def test_references_of_a_trapping_call_are_released(tier):
    store = _store(tier)
    inst, ex = _inst(store, '''(module
      (func (export "boom") (param externref) unreachable))''')
    refs = _registry(inst, "boom")
    watched = []
    for _ in range(100):
        o = Obj()
        watched.append(weakref.ref(o))
        with pytest.raises(Trap):
            ex["boom"](store, o)
        del o
    gc.collect()    # the traceback of the last Trap
    assert [w for w in watched if w() is not None] == []
    assert _registry_size(refs) <= 2 + 1


@pytest.mark.parametrize("tier", TIERS)
def test_foreign_funcrefs_are_not_accumulated(tier):
    # A function of another instance passed as a funcref is registered for the call only.
    store = _store(tier)
    inst, ex = _inst(store, '''(module
      (func (export "id") (param funcref) (result funcref) (local.get 0)))''')
    refs = _registry(inst, "id")
    _, other = _inst(store, '(module ' + ' '.join(
        f'(func (export "f{k}"))' for k in range(200)) + ')')
    for k in range(200):
        f = other[f"f{k}"]
        assert ex["id"](store, f)._fi is f._fi
    assert _registry_size(refs) <= 2 + 1


@pytest.mark.parametrize("tier", TIERS)
def test_objects_made_during_a_long_call_go_when_it_returns(tier):
    # Inside one call wasm may still hold any reference a host function gave it; once the
    # call has returned, none.
    store = _store(tier)
    watched = []

    def make():
        o = Obj()
        if len(watched) < 50:
            watched.append(weakref.ref(o))
        return o
    f = Func(store, FuncType([], [ValType.externref()]), make)
    inst, ex = _inst(store, '''(module
      (import "h" "make" (func $make (result externref)))
      (func (export "run") (param i32) (result i32)
        (loop $l
          (drop (call $make))
          (br_if $l (local.tee 0 (i32.sub (local.get 0) (i32.const 1)))))
        (ref.is_null (call $make))))''', [f])
    refs = _registry(inst, "run")
    assert ex["run"](store, 5000) == 0
    assert len(watched) == 50 and [w for w in watched if w() is not None] == []
    assert _registry_size(refs) <= 2 + 1
