"""InstanceExports is a Mapping of names, as in wasmtime-py."""

from collections.abc import Mapping

from wasmforge import Func, Global, Memory

WAT = ('(module (func (export "f")) (memory (export "mem") 1)'
       ' (global (export "g") i32 (i32.const 7)))')


def test_iteration_yields_names(instantiate):
    store, inst = instantiate(WAT)
    exports = inst.exports(store)
    assert isinstance(exports, Mapping)
    assert list(exports) == ["f", "mem", "g"]
    assert list(exports.keys()) == ["f", "mem", "g"]
    assert dict(exports) == {"f": exports["f"], "mem": exports["mem"], "g": exports["g"]}


def test_values_items_and_by_index(instantiate):
    store, inst = instantiate(WAT)
    exports = inst.exports(store)
    values = list(exports.values())
    assert [type(v) for v in values] == [Func, Memory, Global]
    assert list(exports.by_index) == values
    assert exports.by_index[2].value(store) == 7
    assert [name for name, _ in exports.items()] == ["f", "mem", "g"]
    assert exports.get("missing") is None and "mem" in exports and len(exports) == 3


def test_position_is_still_accepted(instantiate):
    store, inst = instantiate(WAT)
    exports = inst.exports(store)
    assert exports[1] == exports["mem"]


def test_an_export_is_one_handle_whether_looked_up_by_name_or_position(instantiate):
    # Exports are wrapped on first lookup: every way to reach one gives the same handle.
    store, inst = instantiate(WAT)
    exports = inst.exports(store)
    g = exports["g"]
    assert exports.get("g") is g and exports.by_index[2] is g and exports[2] is g
    assert exports.by_index[0] is exports["f"] and exports.get(1) is exports["mem"]
    assert exports["mem"] is exports["mem"] and list(exports.values())[1] is exports["mem"]
    try:
        exports["missing"]
    except KeyError as exc:
        assert "no export named 'missing'" in str(exc)
    else:
        raise AssertionError("a missing export was found")
