"""Functions bound on first use (runtime/func.py LazyFuncInstance, docs/performance.md
"Cold start, third pass"): from a module's second instantiation on, the llvm tier makes a
defined function's entry only when something asks for its ``call``; everything observable
must stay as with functions bound at instantiation."""

import pytest

from support import engine_for, has_llvmlite
from wasmforge import Caller, FuncType, Linker, Module, Store, Trap, ValType
from wasmforge.runtime.func import FuncInstance, LazyFuncInstance

pytestmark = pytest.mark.skipif(not has_llvmlite(), reason="llvmlite is not installed")

WAT = """(module
  (import "host" "note" (func $note (param i32)))
  (memory (export "mem") 1)
  (table $t 3 funcref)
  (elem (i32.const 0) $double $triple $fail)
  (func $double (export "double") (param i32) (result i32) (i32.mul (local.get 0) (i32.const 2)))
  (func $triple (param i32) (result i32) (i32.mul (local.get 0) (i32.const 3)))
  (func $fail (param i32) (result i32) unreachable)
  (func (export "apply") (param i32 i32) (result i32)
    (call $note (local.get 1))
    (call_indirect (param i32) (result i32) (local.get 0) (local.get 1)))
  (func (export "get") (param i32) (result funcref) (table.get $t (local.get 0))))"""


def _instances(n):
    engine = engine_for("llvm")
    linker = Linker(engine)
    notes = []

    def note(caller: Caller, x):
        notes.append((x, caller["mem"].data_len(caller)))

    linker.define_func("host", "note", FuncType([ValType.i32()], []), note, access_caller=True)
    pre = linker.instantiate_pre(Module(engine, WAT))
    out = []
    for _ in range(n):
        store = Store(engine)
        out.append((store, pre.instantiate(store)))
    return out, notes


def _runtime_funcs(store, instance):
    return store._instances[-1].funcs


def test_instances_bind_their_functions_on_first_use():
    (first, second), _ = _instances(2)
    # The first instance's functions carry their attributes in their slots; from the second
    # on, in per-function classes.
    assert [type(f) for f in _runtime_funcs(*first)][1:] == [LazyFuncInstance] * 5
    funcs = _runtime_funcs(*second)
    lazy = [f for f in funcs if isinstance(f, LazyFuncInstance)]
    assert len(lazy) == 5 and all(type(f) is not LazyFuncInstance for f in lazy)
    for store, inst in (first, second):
        funcs = _runtime_funcs(store, inst)
        assert inst.exports(store)["double"](store, 21) == 42
        # Calling it made that one plain; the others wait.
        assert type(funcs[1]) is FuncInstance
        assert sum(isinstance(f, LazyFuncInstance) for f in funcs) == 4


def test_lazy_functions_look_like_bound_ones():
    (first, second), _ = _instances(2)
    plain, lazy = _runtime_funcs(*first), _runtime_funcs(*second)
    assert all(callable(p.call) for p in plain)
    for p, q in zip(plain[1:], lazy[1:]):
        assert isinstance(q, FuncInstance)
        assert (q.type, q.name, q.index, q.host) == (p.type, p.name, p.index, p.host)
        assert q.inst is second[0]._instances[-1] and q.store is second[0]
        assert callable(q.call)
        assert type(q) is FuncInstance     # reading call bound it
        assert (q.type, q.name, q.index, q.host) == (p.type, p.name, p.index, p.host)


def test_call_indirect_and_host_calls_reach_the_right_instance():
    instances, notes = _instances(3)
    for k, (store, inst) in enumerate(instances):
        inst.exports(store)["mem"].grow(store, k)
        apply = inst.exports(store)["apply"]
        assert apply(store, 5, 0) == 10
        assert apply(store, 5, 1) == 15
        with pytest.raises(Trap):
            apply(store, 5, 2)
    # Each host call saw the memory of the instance that made it.
    assert notes == [(i, 65536 * (k + 1)) for k in range(3) for i in (0, 1, 2)]


def test_a_funcref_of_a_lazy_function_is_the_same_object_and_callable():
    (_, (store, inst)), _ = _instances(2)
    funcs = _runtime_funcs(store, inst)
    get = inst.exports(store)["get"]
    ref = get(store, 1)
    assert ref is not None and ref(store, 4) == 12
    assert isinstance(funcs[2], FuncInstance) and type(funcs[2]) is FuncInstance


def test_writing_call_makes_the_function_plain():
    # The tiered start puts a switch in place of each function this way (tiering.py).
    for store, inst in _instances(2)[0]:
        fi = _runtime_funcs(store, inst)[3]
        assert isinstance(fi, LazyFuncInstance)
        fi.call = lambda x: x + 1000
        assert type(fi) is FuncInstance and fi.index == 3 and fi.call(1) == 1001
        assert fi.name == "fail" and fi.host is None and fi.type.params == ["i32"]


def test_a_lazy_function_is_a_funcinstance_to_the_host_and_to_ref_test():
    from wasmforge.runtime.gc import ref_test
    for store, inst in _instances(2)[0]:
        fi = _runtime_funcs(store, inst)[2]
        assert isinstance(fi, LazyFuncInstance)
        assert type(fi).__name__ == "FuncInstance"       # the spec runner's view of a value
        assert ref_test(fi, "func", False) and not ref_test(fi, "extern", False)
