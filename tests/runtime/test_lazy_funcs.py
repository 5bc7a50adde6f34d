"""A module instance's function index space and its tables make a defined function's
FuncInstance when it is first read (runtime/func.py FuncSpace, runtime/table.py
TableElements.place), on both tiers: what an instance per request does not reach costs it
nothing, and what it reaches is the same function it always was."""

import pytest

from wasmforge import Func, Instance, Linker, Module, Store
from wasmforge.runtime.func import FuncInstance
from wasmforge.runtime.table import LazyTableElements

from support import engine_for, tier_params

TIERS = tier_params()

# Twenty functions; $f3 and $f7 in the table (slot 0 null), only $f5 exported.
MANY = "(module (type $t (func (result i32))) (type $u (func (param i32) (result i32)))\n" + "\n".join(
    f'  (func $f{k} (type $t) (i32.const {k}))' for k in range(20)) + '''
  (func $twice (type $u) (i32.mul (local.get 0) (i32.const 2)))
  (table (export "tab") 8 funcref)
  (elem (i32.const 1) $f3 $f7 $twice)
  (func (export "via") (param i32) (result i32) (call_indirect (type $t) (local.get 0)))
  (func (export "via_u") (param i32 i32) (result i32) (call_indirect (type $u) (local.get 0) (local.get 1)))
  (export "f5" (func $f5)))'''


def _instances(tier, n=2):
    """``n`` instances of MANY in their own stores (a module's second instance takes the
    per-function classes of the llvm tier's lazy binding), with the runtime instance of each."""
    engine = engine_for(tier)
    module = Module(engine, MANY)
    out = []
    for _ in range(n):
        store = Store(engine)
        inst = Instance(store, module, [])
        [mi] = store._instances
        out.append((store, inst, mi))
    return out


def _made(mi) -> list:
    return [i for i in range(len(mi.funcs)) if mi.funcs.made(i) is not None]


@pytest.mark.parametrize("tier", TIERS)
def test_an_instances_unread_functions_are_never_made(tier):
    for store, inst, mi in _instances(tier):
        # Only the exports are made at instantiation; the table's functions are not made on
        # the tier that watches its tables (llvm), made into the plain list of the interp tier.
        exported = {mi.module.exports[k].index for k in range(len(mi.module.exports))
                    if mi.module.exports[k].kind == "func"}
        in_table = {3, 7, 20} if tier == "interp" else set()
        assert set(_made(mi)) == exported | in_table
        assert len(mi.funcs) == 23
        assert inst.exports(store)["via"](store, 2) == 7
        assert mi.funcs.made(11) is None and mi.funcs.made(0) is None


@pytest.mark.parametrize("tier", TIERS)
def test_a_function_read_late_is_the_same_object_every_time(tier):
    for store, inst, mi in _instances(tier):
        f = mi.funcs[11]
        assert isinstance(f, FuncInstance) and f.index == 11 and f.inst is mi
        assert mi.funcs[11] is f and mi.funcs[-12] is f and mi.funcs[10:12][1] is f
        assert list(mi.funcs)[11] is f and f in mi.funcs
        assert f.call() == 11


@pytest.mark.parametrize("tier", TIERS)
def test_a_table_entry_read_late_is_the_right_function_with_the_right_type(tier):
    for store, inst, mi in _instances(tier):
        table = inst.exports(store)["tab"]
        assert table.get(store, 0) is None
        g = table.get(store, 2)
        assert isinstance(g, Func) and g(store) == 7
        assert str(g.type(store)) == str(inst.exports(store)["f5"].type(store))
        h = table.get(store, 3)
        assert h(store, 21) == 42
        # the slot now holds the function made for it, the same one the index space has
        assert mi.tables[0].elements[2] is mi.funcs[7] is mi.funcs.made(7)
        assert mi.tables[0].elements[1] is mi.funcs[3]


@pytest.mark.parametrize("tier", TIERS)
def test_call_indirect_through_a_lazily_filled_table(tier):
    for store, inst, mi in _instances(tier):
        via, via_u = inst.exports(store)["via"], inst.exports(store)["via_u"]
        assert via(store, 1) == 3 and via(store, 2) == 7
        assert via_u(store, 5, 3) == 10
        with pytest.raises(Exception, match="indirect call type mismatch"):
            via(store, 3)
        with pytest.raises(Exception, match="uninitialized element"):
            via(store, 4)
        if tier == "llvm":
            # native code called through the table without making its functions
            assert mi.funcs.made(3) is None and mi.funcs.made(7) is None


def test_llvm_tables_hold_placeholders_until_read():
    [(store, inst, mi)] = _instances("llvm", 1)
    els = mi.tables[0].elements
    assert type(els) is LazyTableElements
    assert els.raw()[:5] == [None, 3, 7, 20, None]
    assert els.function_of(7)[1:] == (mi, 7)
    # a table copy reads the functions: what it wrote are made objects
    assert [type(e) for e in els[1:3]] == [type(mi.funcs[3]), type(mi.funcs[7])]


def test_llvm_instances_copy_their_plans_table_image():
    # Every instance's table is the plan's one image of placeholders (made once), its own
    # functions behind them: reads and native calls reach each instance's function.
    from wasmforge.runtime.instance import instance_plan
    made = _instances("llvm", 3)
    image = instance_plan(made[0][2].module).table_images()[0]
    assert image[:5] == [None, 3, 7, 20, None] and len(image) == 8
    for store, inst, mi in made:
        els = mi.tables[0].elements
        assert type(els) is LazyTableElements and els.raw() == image and els.raw() is not image
        assert els.sources == [mi.funcs]
        assert inst.exports(store)["via"](store, 2) == 7
        assert els[2] is mi.funcs[7] and els[2].inst is mi
    assert image[:5] == [None, 3, 7, 20, None]      # the image itself stays placeholders


@pytest.mark.parametrize("tier", TIERS)
def test_a_table_shared_by_two_instances_gets_each_ones_functions(tier):
    # The second module writes its functions into the first one's table (an imported table,
    # the step-by-step path), as componentize-py's libraries do into one shared table.
    engine = engine_for(tier)
    store = Store(engine)
    a = Instance(store, Module(engine, '''(module (type $t (func (result i32)))
        (table (export "tab") 4 funcref) (func $a (result i32) (i32.const 100)) (elem (i32.const 0) $a)
        (func (export "via") (param i32) (result i32) (call_indirect (type $t) (local.get 0))))'''), [])
    tab = a.exports(store)["tab"]
    linker = Linker(engine)
    linker.define(store, "m", "tab", tab)
    b = linker.instantiate(store, Module(engine, '''(module (type $t (func (result i32)))
        (import "m" "tab" (table 4 funcref))
        (func $b1 (result i32) (i32.const 201)) (func $b2 (result i32) (i32.const 202))
        (elem (i32.const 2) $b2 $b1)
        (func (export "via") (param i32) (result i32) (call_indirect (type $t) (local.get 0))))'''))
    for via in (a.exports(store)["via"], b.exports(store)["via"]):
        assert [via(store, i) for i in (0, 2, 3)] == [100, 202, 201]
    ma, mb = store._instances
    assert tab.get(store, 2)(store) == 202
    assert mb.tables[0].elements[3] is mb.funcs[0] and mb.funcs[0].inst is mb and mb.funcs[0].index == 0


# A table long enough to be filled from its mirror's image (llvm/instance.py TableMirror._image).
LONG = "(module (type $t (func (result i32)))\n" + "\n".join(
    f"  (func $g{k} (type $t) (i32.const {k}))" for k in range(300)) + f'''
  (table 300 funcref)
  (elem (i32.const 0) {" ".join(f"$g{k}" for k in range(300))})
  (func (export "via") (param i32) (result i32) (call_indirect (type $t) (local.get 0))))'''


def test_llvm_a_long_tables_mirror_image_keeps_its_functions_unmade():
    engine = engine_for("llvm")
    module = Module(engine, LONG)
    for k in range(4):
        store = Store(engine)
        via = Instance(store, module, []).exports(store)["via"]
        assert [via(store, i) for i in (0, 123, 299)] == [0, 123, 299]
        [mi] = store._instances
        # the exported "via" alone is made: the mirror was encoded (or taken from the image
        # of the instance before) from the placeholders
        assert _made(mi) == [300]
        assert mi.tables[0].elements.raw()[123] == 123


@pytest.mark.parametrize("tier", TIERS)
def test_a_segment_of_imported_functions_in_a_module_that_defines_none(tier):
    # (a component's "fixup" module: it only puts the functions it imports in a table)
    engine = engine_for(tier)
    store = Store(engine)
    a = Instance(store, Module(engine, '''(module (table (export "tab") 2 funcref)
        (func (export "one") (result i32) (i32.const 1)) (func (export "two") (result i32) (i32.const 2))
        (type $t (func (result i32)))
        (func (export "via") (param i32) (result i32) (call_indirect (type $t) (local.get 0))))'''), [])
    ex = a.exports(store)
    linker = Linker(engine)
    for name in ("tab", "one", "two"):
        linker.define(store, "a", name, ex[name])
    linker.instantiate(store, Module(engine, '''(module (import "a" "tab" (table 2 funcref))
        (import "a" "two" (func $two (result i32))) (import "a" "one" (func $one (result i32)))
        (elem (i32.const 0) func $two $one))'''))
    assert [ex["via"](store, i) for i in (0, 1)] == [2, 1]
    assert ex["tab"].get(store, 1)(store) == 1


@pytest.mark.parametrize("tier", TIERS)
def test_table_copy_and_grow_between_two_instances_tables_carry_functions_not_placeholders(tier):
    # A placeholder means a function only in the table it was placed in (its sources): what
    # table.copy, table.get and table.grow take out of one instance's table and put into
    # another's is the function itself.  Three rounds: a module's later instances take the
    # per-function classes and the mirrors' images.
    engine = engine_for(tier)
    ma = Module(engine, '''(module (type $t (func (result i32)))
        (func $a1 (type $t) (i32.const 11)) (func $a2 (type $t) (i32.const 12))
        (table (export "tab") 4 funcref) (elem (i32.const 0) $a1 $a2))''')
    mb = Module(engine, '''(module (type $t (func (result i32)))
        (import "a" "tab" (table $imp 4 funcref))
        (func $b1 (type $t) (i32.const 21)) (func $b2 (type $t) (i32.const 22))
        (table $own 4 funcref) (elem (table $own) (i32.const 2) func $b1 $b2)
        (func (export "copy") (table.copy $own $imp (i32.const 0) (i32.const 0) (i32.const 2)))
        (func (export "back") (table.copy $imp $own (i32.const 2) (i32.const 2) (i32.const 2)))
        (func (export "grow") (result i32) (table.grow $own (table.get $imp (i32.const 1)) (i32.const 1)))
        (func (export "via") (param i32) (result i32) (call_indirect $own (type $t) (local.get 0)))
        (func (export "via_imp") (param i32) (result i32) (call_indirect $imp (type $t) (local.get 0))))''')
    for _ in range(3):
        store = Store(engine)
        tab = Instance(store, ma, []).exports(store)["tab"]
        ex = Instance(store, mb, [tab]).exports(store)
        ex["copy"](store)
        ex["back"](store)
        assert ex["grow"](store) == 4
        assert [ex["via"](store, i) for i in range(5)] == [11, 12, 21, 22, 12]
        assert [ex["via_imp"](store, i) for i in range(4)] == [11, 12, 21, 22]
        assert tab.get(store, 0) == tab.get(store, 0) and tab.get(store, 0)(store) == 11
        assert tab.get(store, 3)(store) == 22
        [ia, ib] = store._instances
        assert ib.tables[1].elements[0] is ia.funcs[0] and ia.tables[0].elements[3] is ib.funcs[1]
