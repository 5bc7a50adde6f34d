"""The component text format's abbreviations and identifiers (``wasmforge.cm.text``), one
behaviour per test, checked on the component AST the parser produces."""

import random

import pytest

from wasmforge.cm import ast
from wasmforge.cm.binary import decode_component, encode_component
from wasmforge.cm.text import parse_component, print_component
from wasmforge.errors import ParseError, WasmError

LIFT = '''(component
  (core module $M (func (export "f") (param i32) (result i32) local.get 0))
  (core instance $m (instantiate $M))
  (func $f (export "f") (param "x" (list u8)) (result u32) (canon lift (core func $m "f")))
)'''


def kinds(component):
    return [type(d).__name__ for d in component.definitions]


def test_inline_canon_lift_expands_in_wasm_tools_order():
    # The inline types first (inner before outer), the alias the `(core func $m "f")`
    # reference needs, the lift, and the inline export at the end, then the names.
    c = parse_component(LIFT)
    assert kinds(c) == ["CoreModule", "CoreInstantiate", "ListDef", "FuncTypeDef", "AliasCoreExport",
                        "CanonLift", "Export", "ComponentNames"]
    listdef, functype, alias, lift, export = c.definitions[2:7]
    assert listdef == ast.ListDef("u8")
    assert functype == ast.FuncTypeDef([("x", 0)], "u32")
    assert alias == ast.AliasCoreExport(ast.CORE_FUNC, 0, "f")
    assert lift == ast.CanonLift(0, [], 1)
    assert export == ast.Export(ast.ExternName("f"), ast.SortIdx(ast.FUNC, 0))


def test_identifiers_name_their_definitions_in_the_name_section():
    c = parse_component(LIFT)
    names = c.names
    assert names.names(ast.CORE_MODULE) == {0: "M"}
    assert names.names(ast.CORE_INSTANCE) == {0: "m"}
    assert names.names(ast.FUNC) == {0: "f"}
    # Made-up identifiers (inline types, aliases) get no name.
    assert names.names(ast.TYPE) == {}


def test_the_encoding_decodes_back_to_the_same_component():
    c = parse_component(LIFT)
    again = decode_component(encode_component(c))
    assert [type(d) for d in again.definitions] == [type(d) for d in c.definitions]
    assert again.definitions[2:7] == c.definitions[2:7]


def test_an_export_path_becomes_a_chain_of_aliases():
    c = parse_component('''(component
      (import "i" (instance $i (export "j" (instance (export "f" (func))))))
      (export "g" (func $i "j" "f")))''')
    aliases = [d for d in c.definitions if isinstance(d, ast.AliasExport)]
    assert aliases == [ast.AliasExport(ast.INSTANCE, 0, "j"), ast.AliasExport(ast.FUNC, 1, "f")]
    assert c.exports[0].sortidx == ast.SortIdx(ast.FUNC, 0)


def test_an_outer_identifier_becomes_an_outer_alias_at_each_use():
    c = parse_component('''(component
      (type $t u8)
      (component
        (type (list $t))
        (type (option $t))))''')
    inner = c.definitions[1]
    assert isinstance(inner, ast.Component)
    assert inner.definitions[:4] == [ast.AliasOuter(ast.TYPE, 1, 0), ast.ListDef(0),
                                     ast.AliasOuter(ast.TYPE, 1, 0), ast.OptionDef(2)]


def test_explicit_outer_alias_by_identifiers():
    c = parse_component('''(component $C
      (core type $ft (func))
      (type $t u32)
      (component (alias outer $C $t (type $u)) (export "u" (type $u))))''')
    inner = c.definitions[2]
    assert inner.definitions[0] == ast.AliasOuter(ast.TYPE, 1, 0)
    assert inner.exports[0].sortidx == ast.SortIdx(ast.TYPE, 0)


def test_inline_import_is_the_import_definition():
    c = parse_component('(component (func $f (import "f") (param "a" u32)) (export "g" (func $f)))')
    assert kinds(c) == ["FuncTypeDef", "Import", "Export", "ComponentNames"]
    imp = c.definitions[1]
    assert imp == ast.Import(ast.ExternName("f"), ast.ExternDesc(ast.FUNC, idx=0))


def test_instantiation_bundle_becomes_an_instance_before_it():
    c = parse_component('''(component
      (core module $M (func (export "f")))
      (core instance $a (instantiate $M))
      (core module $N (import "x" "f" (func)))
      (core instance (instantiate $N (with "x" (instance (export "f" (func $a "f")))))))''')
    assert kinds(c)[3:6] == ["AliasCoreExport", "CoreInlineExports", "CoreInstantiate"]
    bundle, inst = c.definitions[4:6]
    assert bundle.exports[0].sortidx == ast.SortIdx(ast.CORE_FUNC, 0)
    assert inst.args == [ast.CoreInstantiateArg("x", ast.SortIdx(ast.CORE_INSTANCE, 1))]


def test_core_module_type_declares_inline_function_types():
    c = parse_component('(component (core type (module (import "" "f" (func (param i32))) (export "g" (func)))))')
    (mt,) = c.definitions
    assert mt.decls[0] == ast.CoreFuncType(["i32"], [])
    assert mt.decls[1].desc == 0
    assert mt.decls[2] == ast.CoreFuncType([], [])
    assert mt.decls[3] == ast.CoreExportDecl("g", "func", 1)


def test_resource_and_canon_builtins():
    c = parse_component('''(component
      (type $r (resource (rep i32)))
      (core func $new (canon resource.new $r))
      (core func $drop (canon resource.drop $r))
      (core func $rep (canon resource.rep $r)))''')
    assert c.definitions[:4] == [ast.ResourceTypeDef("i32"), ast.CanonResourceNew(0),
                                 ast.CanonResourceDrop(0), ast.CanonResourceRep(0)]
    assert c.names.names(ast.CORE_FUNC) == {0: "new", 1: "drop", 2: "rep"}


def test_extern_name_attributes():
    c = parse_component('(component (import "a:b/c" (implements "x:y/z") (instance)))')
    assert c.imports[0].name == ast.ExternName("a:b/c", [(ast.IMPLEMENTS, "x:y/z")])


@pytest.mark.parametrize("text, message", [
    ("(component (export \"f\" (func $nope)))", "unknown func: failed to find name `$nope`"),
    ("(component (type $t u8) (type $t u8))", "duplicate type identifier"),
    ("(component (type (list)))", "unexpected token"),
    ("(component (frob))", "unexpected token"),
    ("(component", "unexpected end of input"),
    ("(component (alias outer $X $t (type)))", "outer component `X` not found"),
    ("(component (core module $m) (component (core instance (instantiate $m))) (func $m))",
     "unexpected token"),
])
def test_malformed_text_is_a_positioned_parse_error(text, message):
    with pytest.raises(ParseError) as info:
        parse_component(text)
    assert info.value.reason.startswith(message)
    assert info.value.line == 1 and info.value.column > 1


def test_identifiers_are_per_index_space():
    c = parse_component('(component (type $x u8) (core module $x) (export "t" (type $x)) (export "m" (core module $x)))')
    assert [e.sortidx for e in c.exports] == [ast.SortIdx(ast.TYPE, 0), ast.SortIdx(ast.CORE_MODULE, 0)]


def test_quoted_identifiers():
    c = parse_component('(component (type $"a b" u8) (export "t" (type $"a b")))')
    assert c.names.names(ast.TYPE) == {0: "a b"}


@pytest.mark.parametrize("text", [
    "(component " * 3000 + ")" * 3000,
    "(component (type " + "(list " * 3000 + "u8" + ")" * 3001 + ")",
    "(component (type (instance " + "(type (instance " * 2000 + "))" * 2000 + ")))",
])
def test_deep_nesting_is_a_parse_error_not_a_crash(text):
    with pytest.raises(ParseError) as info:
        parse_component(text)
    assert info.value.reason.startswith("item nesting too deep")


def test_nesting_below_the_limit_parses():
    c = parse_component("(component (type " + "(list " * 90 + "u8" + ")" * 91 + ")")
    assert len(c.definitions) == 90


def test_damaged_text_gives_parse_errors_only():
    # Deterministic mutations of a component: every outcome is a component or a WasmError.
    rnd = random.Random(7)
    pieces = ["(", ")", "$x", "0", '"a"', "u8", "func", "type", "core", "instance", "export",
              "(type", "(core func", "4294967296", '$"q"', "(alias outer 9 9 (type))"]
    for _ in range(400):
        s = LIFT
        for _ in range(rnd.randint(1, 4)):
            i = rnd.randrange(len(s) + 1)
            if rnd.random() < 0.5:
                s = s[:i] + s[i + rnd.randint(1, 10):]
            else:
                s = s[:i] + " " + rnd.choice(pieces) + " " + s[i:]
        try:
            print_component(parse_component(s))
        except WasmError:
            pass
