"""Resources across the canonical ABI: handle tables, own and borrow, resource.new/drop/rep,
destructors, the borrow-scope rules and the reentrance rules of synchronous calls."""

from __future__ import annotations

import struct

import pytest

from component.abi_support import Heap
from wasmforge.cm import abi
from wasmforge.cm.abi import CanonOptions, ComponentState, Resource
from wasmforge.cm.types import U32, BorrowType, FuncType, OptionType, OwnType, ResourceType, TupleType
from wasmforge.errors import Trap, TrapCode


def test_reference_handles_case():
    # run_tests.py test_handles: a host calls a lifted export with two owns and two borrows;
    # the core code reads reps, calls a host import with two borrows (getting an own back),
    # drops, creates, and returns three owns.
    dtor_value = []
    other = ComponentState(name="defines rt")
    inst = ComponentState(name="inst")
    rt = ResourceType("rt", dtor=dtor_value.append, impl=other)
    rt2 = ResourceType("rt2", dtor=dtor_value.append, impl=inst)
    heap = Heap(64, start=16)
    opts = heap.options()
    new, drop, rep = abi.resource_new(inst, rt), abi.resource_drop(inst, rt), abi.resource_rep(inst, rt)

    host_ft = FuncType((("a", BorrowType(rt)), ("b", BorrowType(rt))), OwnType(rt))

    def host(a, b):
        assert (a.rep, b.rep, a.owned) == (42, 44, False)
        return Resource(rt, 45)
    host_import = abi.lower_function(host_ft, host, CanonOptions(), inst)

    def core(h1, h2, h3, r13):
        assert [e is None for e in inst.handles.array] == [True, False, False, False]
        assert (h1, h2, h3, r13) == (1, 2, 3, 13)       # rt2 is inst's own: its borrow is the rep
        assert (rep(h1), rep(h2), rep(h3)) == (42, 43, 44)
        h4 = host_import(h1, h3)
        assert h4 == 4 and rep(h4) == 45
        assert inst.handles.array[1].num_lends == 0     # the lends ended with the call
        drop(h1)
        assert dtor_value == [42]
        assert inst.handles.free == [1]
        h = new(46)
        assert h == h1 and inst.handles.free == []
        drop(h3)                                        # a borrow: no destructor
        assert dtor_value == [42]
        retp = heap.realloc(0, 0, 4, 12)
        struct.pack_into("<III", heap.memory.data, retp, h, h2, h4)
        return retp

    ft = FuncType((("a", OwnType(rt)), ("b", OwnType(rt)), ("c", BorrowType(rt)), ("d", BorrowType(rt2))),
                  TupleType((OwnType(rt), OwnType(rt), OwnType(rt))))
    f = abi.lift_function(ft, core, opts, inst)
    a, b, c = Resource(rt, 42), Resource(rt, 43), Resource(rt, 44)
    got = f(a, b, c, Resource(rt2, 13))
    assert [(r.type, r.rep, r.owned) for r in got] == [(rt, 46, True), (rt, 43, True), (rt, 45, True)]
    assert all(e is None for e in inst.handles.array) and len(inst.handles.free) == 4
    assert a.state is Resource.MOVED and c.state is Resource.LIVE
    with pytest.raises(Trap, match="moved into a component"):
        f(a, Resource(rt, 1), c, Resource(rt2, 13))
    got[0].drop()
    assert dtor_value == [42, 46]


def _one_resource():
    inst = ComponentState()
    rt = ResourceType("r", impl=inst)
    return inst, rt, abi.resource_new(inst, rt), abi.resource_drop(inst, rt), abi.resource_rep(inst, rt)


def test_unknown_handles_trap():
    inst, rt, new, drop, rep = _one_resource()
    for bad in (0, 1, 5, 0xFFFFFFFF):
        with pytest.raises(Trap, match=f"unknown handle index {bad}$"):
            drop(bad)
        with pytest.raises(Trap, match=f"unknown handle index {bad}$"):
            rep(bad)
    h = new(7)
    drop(h)
    with pytest.raises(Trap, match=f"unknown handle index {h}"):
        drop(h)                                         # double drop


def test_handle_of_another_type_traps():
    inst, rt, new, drop, rep = _one_resource()
    rt2 = ResourceType("r2", impl=inst)
    h = new(1)
    with pytest.raises(Trap, match="handle index 1 used with the wrong type, expected guest-defined resource "
                                   "but found a different guest-defined resource"):
        abi.resource_drop(inst, rt2)(h)
    with pytest.raises(Trap, match="wrong type"):
        abi.resource_rep(inst, rt2)(h)
    with pytest.raises(Trap, match="wrong type"):
        abi.lift_flat(OwnType(rt2), [h], state=inst)


def test_destructor_runs_on_drop_of_own_only():
    seen = []
    inst = ComponentState()
    rt = ResourceType("r", dtor=seen.append, impl=inst)
    h = abi.resource_new(inst, rt)(9)
    abi.resource_drop(inst, rt)(h)
    assert seen == [9]


def test_lent_handle_cannot_be_dropped_or_moved_during_the_call():
    inst, rt, new, drop, rep = _one_resource()
    h = new(5)
    outcomes = []

    def host(b):
        for attempt in (lambda: drop(h), lambda: abi.lift_flat(OwnType(rt), [h], state=inst)):
            with pytest.raises(Trap, match="cannot remove owned resource while borrowed"):
                attempt()
            outcomes.append("trapped")
        return b.rep
    imp = abi.lower_function(FuncType((("b", BorrowType(rt)),), U32), host, CanonOptions(), inst)
    assert imp(h) == 5
    assert outcomes == ["trapped", "trapped"]
    drop(h)                                             # after the call the lend is over


def test_borrow_given_to_the_host_expires_with_the_call():
    inst, rt, new, drop, rep = _one_resource()
    kept = []
    imp = abi.lower_function(FuncType((("b", BorrowType(rt)),)), kept.append, CanonOptions(), inst)
    imp(new(3))
    assert kept[0].state is Resource.EXPIRED
    with pytest.raises(Trap, match="expired"):
        abi.lower_flat(BorrowType(rt), kept[0], state=ComponentState())


def test_borrow_lent_to_a_callee_must_be_dropped_before_it_returns():
    owner = ComponentState()
    callee = ComponentState()
    rt = ResourceType("r", impl=owner)
    ft = FuncType((("b", BorrowType(rt)),))
    r = Resource(rt, 11)

    def forgets(h):
        assert callee.handles.get(h).rep == 11

    with pytest.raises(Trap, match="borrow handles still remain at the end of the call"):
        abi.lift_function(ft, forgets, CanonOptions(), callee)(r)
    assert not callee.may_enter                         # the trap poisoned the callee
    callee = ComponentState()

    def drops(h):
        abi.resource_drop(callee, rt)(h)
    abi.lift_function(ft, drops, CanonOptions(), callee)(r)
    assert r.state is Resource.LIVE                     # lending does not consume the host's handle


def test_own_result_moves_out_of_the_table():
    inst, rt, new, drop, rep = _one_resource()
    f = abi.lift_function(FuncType((), OwnType(rt)), lambda: new(77), CanonOptions(), inst)
    r = f()
    assert (r.rep, r.owned) == (77, True)
    assert len(inst.handles) == 0
    r2 = f()
    abi.lower_flat(OwnType(rt), r2, state=ComponentState())
    with pytest.raises(Trap, match="moved"):
        r2.drop()


def test_a_borrow_passed_where_own_is_expected_traps():
    inst, rt, new, drop, rep = _one_resource()
    with pytest.raises(Trap, match="borrowed resource handle"):
        abi.lower_flat(OwnType(rt), Resource(rt, 1, owned=False), state=inst)
    with pytest.raises(Trap, match="a borrow, where an owned handle was expected"):
        caller = ComponentState()
        i = abi.lower_flat(BorrowType(rt), Resource(rt, 1), state=caller)[0]
        abi.lift_flat(OwnType(rt), [i], state=caller)
    with pytest.raises(Trap, match="resource types are not the same"):
        abi.lower_flat(OwnType(rt), Resource(ResourceType("other"), 1), state=inst)


def test_sync_reentrance_traps():
    inst = ComponentState()
    calls = []

    def core():
        calls.append(1)
        return reenter()            # a host import whose Python code calls the export again
    f = abi.lift_function(FuncType((), U32), core, CanonOptions(), inst)
    reenter = abi.lower_function(FuncType((), U32), lambda: f(), CanonOptions(), inst)
    with pytest.raises(Trap, match="cannot enter component instance") as info:
        f()
    assert info.value.code is TrapCode.CANNOT_ENTER_COMPONENT
    assert calls == [1] and not inst.may_enter   # the trap poisons the instance: it stays entered
    with pytest.raises(Trap, match="cannot enter component instance"):
        f()
    assert calls == [1]


def test_child_cannot_reenter_a_parent_in_a_call():
    parent = ComponentState(name="parent")
    child = ComponentState(parent, name="child")
    entered = []
    f_child = abi.lift_function(FuncType(()), lambda: entered.append("child"), CanonOptions(), child)
    call_child_from_parent = abi.lower_function(FuncType(()), f_child, CanonOptions(), parent)
    f_parent = abi.lift_function(FuncType(()), lambda: call_child_from_parent(), CanonOptions(), parent)
    f_parent()          # parent -> child: entering the child only
    assert entered == ["child"]
    call_parent_from_child = abi.lower_function(FuncType(()), f_parent, CanonOptions(), child)
    f_child2 = abi.lift_function(FuncType(()), lambda: call_parent_from_child(), CanonOptions(), child)
    with pytest.raises(Trap, match="cannot enter component instance"):
        f_child2()      # the child is inside the parent, which is entered by this call already


def test_no_calls_out_during_realloc_post_return_or_resource_new():
    inst = ComponentState()
    heap = Heap(256, start=8)
    imp = abi.lower_function(FuncType(()), lambda: None, CanonOptions(), inst)
    new = abi.resource_new(inst, ResourceType("r", impl=inst))

    def bad_realloc(*args):
        imp()
    opts = CanonOptions(memory=heap.memory, realloc=bad_realloc)
    from wasmforge.cm.types import STRING
    with pytest.raises(Trap, match="cannot leave component instance") as info:
        abi.lift_function(FuncType((("s", STRING),)), lambda p, n: None, opts, inst)("x")
    assert info.value.code is TrapCode.CANNOT_LEAVE_COMPONENT
    assert inst.may_leave and not inst.may_enter     # poisoned by the trap
    inst = ComponentState()
    new = abi.resource_new(inst, ResourceType("r", impl=inst))

    def bad_post_return(r):
        new(1)
    f = abi.lift_function(FuncType((), U32), lambda: 3, CanonOptions(post_return=bad_post_return), inst)
    with pytest.raises(Trap, match="cannot leave component instance"):
        f()
    inst = ComponentState()
    seen = []
    f = abi.lift_function(FuncType((), U32), lambda: 3, CanonOptions(post_return=seen.append), inst)
    assert f() == 3 and seen == [3]                  # post-return gets the flat results


def test_resources_between_two_components():
    # B defines the resource; A holds an own handle to one, lends it to B's `peek` (B gets its
    # own representation) and to C's `look` (C gets a borrow handle it must drop), then gives
    # it to B's `consume` (the handle moves out of A's table; B's destructor runs on drop).
    dropped = []
    a, b, c = ComponentState(name="A"), ComponentState(name="B"), ComponentState(name="C")
    rt = ResourceType("blob", dtor=dropped.append, impl=b)
    h = abi.lower_flat(OwnType(rt), Resource(rt, 99), state=a)[0]

    peek = abi.lift_function(FuncType((("x", BorrowType(rt)),), U32), lambda rep: rep + 1, CanonOptions(), b)
    peek_from_a = abi.lower_function(peek.type, peek, CanonOptions(), a)
    assert peek_from_a(h) == 100

    def look(handle):
        assert c.handles.get(handle).rep == 99 and a.handles.get(h).num_lends == 1
        abi.resource_drop(c, rt)(handle)
        return 7
    look_from_a = abi.lower_function(FuncType((("x", BorrowType(rt)),), U32),
                                     abi.lift_function(FuncType((("x", BorrowType(rt)),), U32), look,
                                                       CanonOptions(), c), CanonOptions(), a)
    assert look_from_a(h) == 7 and a.handles.get(h).num_lends == 0

    def consume(handle):
        abi.resource_drop(b, rt)(handle)
    consume_from_a = abi.lower_function(FuncType((("x", OwnType(rt)),)),
                                        abi.lift_function(FuncType((("x", OwnType(rt)),)), consume,
                                                          CanonOptions(), b), CanonOptions(), a)
    consume_from_a(h)
    assert dropped == [99] and len(a.handles) == 0 and len(b.handles) == 0
    with pytest.raises(Trap, match=f"unknown handle index {h}"):
        peek_from_a(h)


def test_a_borrow_inside_a_parameter_is_lent_for_the_call_only():
    # a lowered adapter makes its call's borrow scope only where a parameter holds a borrow,
    # at any depth (here in a tuple and in an option); an owned handle moves for good
    inst, rt, new, drop, rep = _one_resource()
    kept = []

    def host(pair, maybe, owned):
        assert inst.handles.get(h1).num_lends == 1 and inst.handles.get(h2).num_lends == 1
        kept.extend([pair[0], maybe, owned])
    ft = FuncType((("p", TupleType((BorrowType(rt), U32))), ("m", OptionType(BorrowType(rt))),
                   ("o", OwnType(rt))))
    imp = abi.lower_function(ft, host, CanonOptions(), inst)
    h1, h2, h3 = new(1), new(2), new(3)
    imp(h1, 7, 1, h2, h3)
    assert [r.rep for r in kept] == [1, 2, 3]
    assert kept[0].state is Resource.EXPIRED and kept[1].state is Resource.EXPIRED
    assert kept[2].state is Resource.LIVE and kept[2].owned
    assert inst.handles.get(h1).num_lends == 0 and inst.handles.get(h2).num_lends == 0
    drop(h1)
    drop(h2)                                            # no lend left: both can go
    with pytest.raises(Trap, match="unknown handle index"):
        rep(h3)                                         # moved to the host with the call
