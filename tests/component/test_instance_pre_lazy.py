"""What an instance of an ``InstancePre`` makes only when it is used: the exported functions
of a core instance that the component does not read (runtime/instance.py LazyExports), and
the store's WASI 0.2 implementations, bound per interface on its first call
(wasip2/host.py ``implementation``).  What is made late is what would have been made early.
And what is found once for all instances: the WASI imports linked straight from their types
(wasip2/host.py ``linked_instance``), the definitions an instance runs (cm/instance.py
``_steps``)."""

from __future__ import annotations

import pytest

import wasmforge
from wasmforge import component as C
from wasmforge.runtime import instance as runtime_instance
from wasmforge.wasip2.ctx import p2_ctx

from support import engine_for, tier_params

# A core module of four exports (two functions, a memory, a global); the component reads one
# function of it, and passes the memory to a second module.
READS_ONE = '''(component
  (core module $m
    (memory (export "mem") 1)
    (global (export "g") i32 (i32.const 7))
    (func (export "used") (result i32) (i32.const 41))
    (func (export "unused") (result i32) (i32.const 99)))
  (core instance $i (instantiate $m))
  (core module $n (import "m" "mem" (memory 1))
    (func (export "peek") (result i32) (i32.load8_u (i32.const 0))))
  (core instance $j (instantiate $n (with "m" (instance $i))))
  (func (export "used") (result u32) (canon lift (core func $i "used")))
  (func (export "peek") (result u32) (canon lift (core func $j "peek"))))'''


def _core_instance(store, export):
    [mi] = [mi for mi in store._instances if any(e.name == export for e in mi.module.exports)]
    return mi


@pytest.mark.parametrize("tier", tier_params())
def test_an_export_the_component_does_not_read_is_never_made(tier):
    engine = engine_for(tier)
    pre = C.Linker(engine).instantiate_pre(C.Component(engine, READS_ONE))
    for _ in range(3):
        store = wasmforge.Store(engine)
        inst = pre.instantiate(store)
        mi = _core_instance(store, "unused")
        unused = {e.name: e.index for e in mi.module.exports}["unused"]
        assert mi.funcs.made(unused) is None
        assert inst.get_func(store, "used")(store) == 41
        assert inst.get_func(store, "peek")(store) == 0
        assert mi.funcs.made(unused) is None
        # read late, it is the instance's function, the same object at every read
        late = mi.exports["unused"]
        assert late is mi.funcs[unused] is mi.exports["unused"] is mi.exports.get("unused")
        assert late.call() == 99


@pytest.mark.parametrize("tier", tier_params())
def test_a_late_read_export_equals_an_early_one(tier):
    engine = engine_for(tier)
    module = wasmforge.Module(engine, '''(module
      (table (export "tab") 2 funcref) (memory (export "mem") 1)
      (func (export "a") (result i32) (i32.const 1))
      (func (export "b") (result i32) (i32.const 2))
      (func (export "c") (result i32) (i32.const 3))
      (export "a2" (func 0)))''')
    data = module._data
    code = engine.compile(data)
    early = runtime_instance.instantiate(wasmforge.Store(engine), data, code, [])
    lazy = runtime_instance.instantiate(wasmforge.Store(engine), data, code, [], read=frozenset({"a"}))
    assert isinstance(lazy.exports, runtime_instance.LazyExports) and type(early.exports) is dict
    b = {e.name: e.index for e in data.exports}["b"]
    assert lazy.funcs.made(b) is None and lazy.exports.made("b") is None
    assert len(lazy.exports) == len(early.exports) == 6
    assert "b" in lazy.exports and "nope" not in lazy.exports
    assert lazy.exports.get("nope") is None
    with pytest.raises(KeyError):
        lazy.exports["nope"]
    # the export read by key is the function of its index, made once
    got = lazy.exports["b"]
    assert got is lazy.funcs[b] and got.call() == 2 and got.index == early.exports["b"].index
    assert lazy.exports["a2"] is lazy.exports["a"]      # one function, two names
    # the whole mapping: every export, in the module's order, of the same kinds and types
    assert list(lazy.exports) == list(early.exports) == ["tab", "mem", "a", "b", "c", "a2"]
    for (n1, v1), (n2, v2) in zip(lazy.exports.items(), early.exports.items()):
        assert n1 == n2 and type(v1).__name__ == type(v2).__name__
        assert getattr(v1, "index", None) == getattr(v2, "index", None)
    assert [f.call() for f in (lazy.exports[n] for n in ("a", "b", "c", "a2"))] == [1, 2, 3, 1]
    assert dict(lazy.exports)["c"] is lazy.exports["c"] is lazy.funcs[b + 1]
    assert runtime_instance.instance_plan(data).export_split(frozenset({"a"}))[0] == {"a": 0}



def test_lazy_exports_read_backwards_compared_or_written_behave_as_a_dict():
    engine = wasmforge.Engine()
    module = wasmforge.Module(engine, '''(module (memory (export "mem") 1)
      (func (export "a") (result i32) (i32.const 1))
      (func (export "b") (result i32) (i32.const 2)))''')
    data, code = module._data, engine.compile(module._data)

    def lazy():
        exports = runtime_instance.instantiate(wasmforge.Store(engine), data, code, [], read=frozenset({"a"})).exports
        assert exports.made("b") is None
        return exports
    assert list(reversed(lazy())) == ["b", "a", "mem"]
    exports = lazy()
    assert not exports != dict(exports.items())
    exports = lazy()
    exports["z"] = 0            # a new name: counted once, kept by the whole mapping
    assert len(exports) == 4 and list(exports) == ["mem", "a", "b", "z"]
    exports = lazy()
    exports["b"] = 0            # a name not made yet: replaced, not counted twice
    assert len(exports) == 3 and exports["b"] == 0
    exports = lazy()
    exports.update(b=5)
    assert len(exports) == 3 and exports["b"] == 5
    exports = lazy()
    exports |= {"b": 6}
    assert len(exports) == 3 and exports["b"] == 6
    exports = lazy()
    exports.clear()
    assert len(exports) == 0 and "b" not in exports and exports.get("b") is None

WASI_ARGS = '''(component
  (import "wasi:cli/environment@0.2.0" (instance $env
    (export "get-arguments" (func (result (list string))))
    (export "initial-cwd" (func (result (option string))))))
  (import "wasi:random/random@0.2.0" (instance $rnd
    (export "get-random-u64" (func (result u64)))))
  (alias export $env "get-arguments" (func $args))
  (core module $mem (memory (export "mem") 1)
    (global $top (mut i32) (i32.const 1024))
    (func (export "realloc") (param i32 i32 i32 i32) (result i32)
      (global.get $top)
      (global.set $top (i32.and (i32.add (i32.add (global.get $top) (local.get 3)) (i32.const 7))
                                (i32.const -8)))))
  (core instance $mi (instantiate $mem))
  (alias core export $mi "mem" (core memory $m))
  (alias core export $mi "realloc" (core func $ra))
  (core func $argsl (canon lower (func $args) (memory $m) (realloc $ra)))
  (core module $code (import "" "mem" (memory 1)) (import "" "args" (func $args (param i32)))
    (func (export "count") (result i32) (call $args (i32.const 0)) (i32.load (i32.const 4))))
  (core instance $ci (instantiate $code (with "" (instance
    (export "mem" (memory $m)) (export "args" (func $argsl))))))
  (func (export "count") (result u32) (canon lift (core func $ci "count"))))'''


@pytest.mark.parametrize("tier", tier_params())
def test_a_stores_wasi_interface_is_bound_on_its_first_call(tier):
    engine = engine_for(tier)
    linker = C.Linker(engine)
    linker.add_wasip2()
    pre = linker.instantiate_pre(C.Component(engine, WASI_ARGS))
    for argv in (["a", "b"], ["x"]):
        store = wasmforge.Store(engine)
        config = wasmforge.WasiConfig()
        config.argv = argv
        store.set_wasi(config)
        inst = pre.instantiate(store)
        ctx = p2_ctx(store)
        assert ctx.impls == {}          # no interface's implementation built yet
        assert inst.get_func(store, "count")(store) == len(argv)
        assert set(ctx.impls) == {"wasi:cli/environment"}
        assert inst.get_func(store, "count")(store) == len(argv)
    # a Linker's instance (no InstancePre) binds late as well, and answers the same
    store = wasmforge.Store(engine)
    config = wasmforge.WasiConfig()
    config.argv = ["p", "q", "r"]
    store.set_wasi(config)
    inst = linker.instantiate(store, C.Component(engine, WASI_ARGS))
    assert p2_ctx(store).impls == {}
    assert inst.get_func(store, "count")(store) == 3


# get-random-bytes asked for more than the host's limit: the first call binds, then traps.
WASI_TRAPS = '''(component
  (import "wasi:random/random@0.2.0" (instance $rnd
    (export "get-random-bytes" (func (param "len" u64) (result (list u8))))))
  (alias export $rnd "get-random-bytes" (func $grb))
  (core module $mem (memory (export "mem") 1)
    (func (export "realloc") (param i32 i32 i32 i32) (result i32) (i32.const 64)))
  (core instance $mi (instantiate $mem))
  (alias core export $mi "mem" (core memory $m))
  (alias core export $mi "realloc" (core func $ra))
  (core func $grbl (canon lower (func $grb) (memory $m) (realloc $ra)))
  (core module $code (import "" "grb" (func $g (param i64 i32)))
    (func (export "run") (call $g (i64.const 0x10000000) (i32.const 0))))
  (core instance $ci (instantiate $code (with "" (instance (export "grb" (func $grbl))))))
  (func (export "run") (canon lift (core func $ci "run"))))'''


@pytest.mark.parametrize("tier", tier_params())
def test_a_trap_in_a_wasi_function_bound_on_its_first_call_is_the_hosts_trap(tier):
    engine = engine_for(tier)
    linker = C.Linker(engine)
    linker.add_wasip2()
    component = C.Component(engine, WASI_TRAPS)
    pre = linker.instantiate_pre(component)
    for make in (pre.instantiate, lambda store: linker.instantiate(store, component)):
        store = wasmforge.Store(engine)
        inst = make(store)
        assert p2_ctx(store).impls == {}
        with pytest.raises(wasmforge.Trap) as e:
            inst.get_func(store, "run")(store)
        assert "wasi:random/random: 268435456 bytes requested, more than the host's limit" in e.value.message
        assert set(p2_ctx(store).impls) == {"wasi:random/random"}

def test_instances_of_a_pre_link_wasi_straight_from_the_import_types(monkeypatch):
    from wasmforge.wasip2 import host
    engine = wasmforge.Engine()
    linker = C.Linker(engine)
    linker.add_wasip2()
    pre = linker.instantiate_pre(C.Component(engine, WASI_ARGS))
    made = []
    instance_of = host.instance_of
    monkeypatch.setattr(host, "instance_of", lambda *a, **k: made.append(a[1]) or instance_of(*a, **k))
    store = wasmforge.Store(engine)
    config = wasmforge.WasiConfig()
    config.argv = ["1", "2", "3", "4"]
    store.set_wasi(config)
    inst = pre.instantiate(store)
    # no host instance of a whole interface is made per store: only what the imports name
    assert made == []
    assert inst.get_func(store, "count")(store) == 4


# Five functions of one core instance aliased in a run, a record type, two more aliases.
ALIASES = '''(component
  (core module $m
    (func (export "a") (result i32) (i32.const 1)) (func (export "b") (result i32) (i32.const 2))
    (func (export "c") (result i32) (i32.const 3)) (func (export "d") (result i32) (i32.const 4))
    (func (export "e") (result i32) (i32.const 5)))
  (core instance $i (instantiate $m))
  (alias core export $i "e" (core func $e))
  (alias core export $i "d" (core func $d))
  (alias core export $i "c" (core func $c))
  (alias core export $i "b" (core func $b))
  (alias core export $i "a" (core func $a))
  (type $pt (record (field "x" u32)))
  (alias core export $i "c" (core func $c2))
  (func (export "e") (result u32) (canon lift (core func $e)))
  (func (export "b") (result u32) (canon lift (core func $b)))
  (func (export "a") (result u32) (canon lift (core func $a)))
  (func (export "c2") (result u32) (canon lift (core func $c2))))'''


@pytest.mark.parametrize("tier", tier_params())
def test_an_instance_runs_its_components_definitions_as_found_once(tier, monkeypatch):
    from wasmforge.cm import instance as cm_instance
    engine = engine_for(tier)
    pre = C.Linker(engine).instantiate_pre(C.Component(engine, ALIASES))
    seen = []
    definition = cm_instance._Runner.definition
    monkeypatch.setattr(cm_instance._Runner, "definition",
                        lambda self, env, d, args: seen.append(type(d).__name__) or definition(self, env, d, args))
    for _ in range(2):
        store = wasmforge.Store(engine)
        inst = pre.instantiate(store)
        # each alias reads the export of its name, the run's in their order
        assert [inst.get_func(store, n)(store) for n in ("e", "b", "a", "c2")] == [5, 2, 1, 3]
    # the run of five aliases is one step, the type definition none, each walk the same
    assert "RecordDef" not in seen and seen.count("AliasCoreExport") == 2


# A WASI import naming a resource type, a type that names none, and functions.
WASI_TYPES = '''(component
  (import "wasi:io/poll@0.2.0" (instance $poll
    (export "pollable" (type (sub resource)))))
  (alias export $poll "pollable" (type $pollable))
  (import "wasi:clocks/monotonic-clock@0.2.0" (instance $clock
    (export "pollable" (type (eq $pollable)))
    (type $u64 u64)
    (export "instant" (type (eq $u64)))
    (export "now" (func (result u64)))
    (export "subscribe-instant" (func (param "when" u64) (result (own $pollable))))))
  (alias export $clock "now" (func $now))
  (core func $now_core (canon lower (func $now)))
  (core module $m (import "" "now" (func $now (result i64)))
    (func (export "later") (result i32) (i64.ge_u (call $now) (i64.const 0))))
  (core instance $i (instantiate $m (with "" (instance (export "now" (func $now_core))))))
  (func (export "later") (result bool) (canon lift (core func $i "later"))))'''


def test_a_wasi_imports_link_plan_is_found_once_per_import_type(monkeypatch):
    from wasmforge.component import _linker
    from wasmforge.wasip2 import host
    engine = wasmforge.Engine()
    linker = C.Linker(engine)
    linker.add_wasip2()
    pre = linker.instantiate_pre(C.Component(engine, WASI_TYPES))
    linked = []
    link = _linker.linked_instance
    monkeypatch.setattr(_linker, "linked_instance", lambda *a: linked.append(link(*a)) or linked[-1])
    stores = [wasmforge.Store(engine) for _ in range(3)]
    insts = [pre.instantiate(stores[0])]
    shapes = []
    shape = host._shape
    monkeypatch.setattr(host, "_shape", lambda name: shapes.append(name) or shape(name))
    insts += [pre.instantiate(s) for s in stores[1:]]
    assert shapes == []         # the plans of the first instance's imports serve the others
    assert [inst.get_func(s, "later")(s) for s, inst in zip(stores, insts)] == [True] * 3
    clocks = [i.exports for i in linked if "now" in i.exports]
    polls = [i.exports for i in linked if "now" not in i.exports]
    assert len(clocks) == len(polls) == 3
    # a store's resource types are its own, the same in both imports that name them; a type
    # that names no resource is the import's; functions are typed per instance, equally
    assert len({id(p["pollable"]) for p in polls}) == 3
    assert [c["pollable"] for c in clocks] == [p["pollable"] for p in polls]
    assert clocks[0]["instant"] is clocks[1]["instant"] is clocks[2]["instant"]
    assert clocks[0]["now"].type == clocks[2]["now"].type
    ft = clocks[1]["subscribe-instant"].type
    assert ft.result.resource is polls[1]["pollable"]


# An inline core instance passing functions, a memory and a global in mixed order, and one
# passing a single function.
INLINE_MIXED = '''(component
  (core module $m
    (memory (export "mem") 1)
    (global (export "g") i32 (i32.const 7))
    (func (export "f1") (result i32) (i32.const 1))
    (func (export "f2") (result i32) (i32.const 2)))
  (core instance $i (instantiate $m))
  (alias core export $i "f1" (core func $f1))
  (alias core export $i "mem" (core memory $mem))
  (alias core export $i "f2" (core func $f2))
  (alias core export $i "g" (core global $g))
  (core module $n
    (import "x" "a" (func $a (result i32)))
    (import "x" "m" (memory 1))
    (import "x" "b" (func $b (result i32)))
    (import "x" "g" (global $g i32))
    (import "y" "one" (func $one (result i32)))
    (func (export "sum") (result i32)
      (i32.store (i32.const 0) (i32.add (i32.load (i32.const 0)) (i32.const 1000)))
      (i32.add (i32.add (call $a) (i32.mul (call $b) (i32.const 10)))
               (i32.add (i32.add (global.get $g) (i32.load (i32.const 0))) (i32.mul (call $one) (i32.const 100))))))
  (core instance $j (instantiate $n
    (with "x" (instance (export "a" (func $f1)) (export "m" (memory $mem)) (export "b" (func $f2))
                        (export "g" (global $g))))
    (with "y" (instance (export "one" (func $f2))))))
  (func (export "sum") (result u32) (canon lift (core func $j "sum"))))'''


@pytest.mark.parametrize("tier", tier_params())
def test_inline_core_instances_of_mixed_sorts_pass_each_value_by_its_name(tier):
    engine = engine_for(tier)
    pre = C.Linker(engine).instantiate_pre(C.Component(engine, INLINE_MIXED))
    for _ in range(2):
        store = wasmforge.Store(engine)
        inst = pre.instantiate(store)
        # 1 + 2*10 + 7 + 1000 (a fresh memory each instance) + 2*100
        assert inst.get_func(store, "sum")(store) == 1228
        assert inst.get_func(store, "sum")(store) == 2228
