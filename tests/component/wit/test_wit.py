"""The WIT reader's behaviour, one case each: the API, errors, documentation, gates, the
printer, the command line."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from wasmforge.cli import cli
from wasmforge.cm import types as ct
from wasmforge.cm.wit.ctypes import TypeMap, component_type
from wasmforge.cm.wit import parse_dir, parse_file, parse_source, print_wit, to_json
from wasmforge.errors import WasmError, WitError

SHAPES = """package demo:shapes@1.2.0;

/// Geometry.
interface types {
  record point { x: f64, y: f64 }
  variant shape { circle(f64), polygon(list<point>), empty }
  enum unit { mm, cm }
  flags style { bold, italic }
  resource canvas {
    constructor(width: u32, height: u32);
    draw: func(s: shape) -> result<_, string>;
    open: static func(name: string) -> option<canvas>;
  }
}

world app {
  import types;
  use types.{canvas};
  export render: func(c: borrow<canvas>) -> list<u8>;
}
"""


def test_parse_source_resolves_packages_interfaces_worlds_and_types():
    r = parse_source(SHAPES, "shapes.wit")
    [pkg] = r.packages
    assert str(pkg.name) == "demo:shapes@1.2.0"
    types = r.interfaces[pkg.interfaces["types"]]
    assert types.docs == "Geometry."
    assert [r.types[t].kind for t in types.types.values()] == ["record", "variant", "enum", "flags", "resource"]
    assert list(types.functions) == ["[constructor]canvas", "[method]canvas.draw", "[static]canvas.open"]
    app = r.worlds[pkg.worlds["app"]]
    assert [r.key_name(k) for k in app.imports] == ["demo:shapes/types@1.2.0", "canvas"]
    assert list(app.exports) == ["render"]


def test_a_method_takes_a_borrowed_self_and_a_constructor_returns_an_owned_handle():
    r = parse_source(SHAPES, "shapes.wit")
    funcs = r.interfaces[0].functions
    self_type = r.types[funcs["[method]canvas.draw"].params[0].type]  # type: ignore[index]
    assert (funcs["[method]canvas.draw"].params[0].name, self_type.kind) == ("self", "borrow")
    result = funcs["[constructor]canvas"].result
    assert isinstance(result, int) and r.types[result].kind == "own"


def test_errors_name_file_line_and_column_and_what_was_expected():
    with pytest.raises(WitError) as info:
        parse_source("package a:b;\ninterface i {\n  type t = list<u8;\n}\n", "bad.wit")
    err = info.value
    assert isinstance(err, WasmError)
    assert (err.filename, err.line, err.column) == ("bad.wit", 3, 19)
    assert str(err) == "bad.wit:3:19: expected '>', found ';'"


def test_an_unknown_type_is_an_error_at_its_use():
    with pytest.raises(WitError, match=r"x.wit:2:26: type `nope` does not exist"):
        parse_source("package a:b;\ninterface i { f: func(a: nope); }\n", "x.wit")


def test_types_may_be_used_before_their_definition_but_not_recursively():
    r = parse_source("package a:b;\ninterface i { type a = b; type b = u32; }\n")
    assert [t.name for t in r.types] == ["b", "a"]
    with pytest.raises(WitError, match="depends on itself"):
        parse_source("package a:b;\ninterface i { record r { x: list<r> } }\n")


def test_keywords_are_identifiers_with_a_percent_sign_and_print_with_it():
    r = parse_source("package a:b;\ninterface %interface { %type: func(%list: u8); }\n")
    assert r.interfaces[0].name == "interface"
    text = print_wit(r)
    assert "interface %interface {" in text and "%type: func(%list: u8);" in text
    with pytest.raises(WitError, match="expected an identifier or string, found .:."):
        parse_source("package a:b;\ninterface i { type: func(); }\n")


def test_doc_comments_are_kept_and_plain_comments_too_as_wasm_tools_does():
    r = parse_source("package a:b;\n/// first\n/// second\ninterface i {\n  /** block */\n  type t = u8;\n}\n")
    assert r.interfaces[0].docs == "first\nsecond"
    assert r.types[0].docs == "block"


def test_unstable_items_are_left_out_unless_their_feature_is_enabled():
    src = "package a:b;\ninterface i {\n  @unstable(feature = fancy)\n  f: func();\n  g: func();\n}\n"
    assert list(parse_source(src).interfaces[0].functions) == ["g"]
    assert list(parse_source(src, features={"fancy"}).interfaces[0].functions) == ["f", "g"]
    assert list(parse_source(src, all_features=True).interfaces[0].functions) == ["f", "g"]


def test_since_may_not_name_a_later_version_than_the_package():
    with pytest.raises(WitError, match="unreleased version 2.0.0"):
        parse_source("package a:b@1.0.0;\n@since(version = 2.0.0)\ninterface i {}\n")


def test_include_with_renames_the_included_names():
    r = parse_source("package a:b;\nworld base { import f: func(); }\nworld top { include base with { f as g } }\n")
    top = r.worlds[1]
    assert list(top.imports) == ["g"] and top.imports["g"].function.name == "g"  # type: ignore[union-attr]


def test_a_directory_is_one_package_with_its_deps(tmp_path):
    (tmp_path / "deps" / "clock").mkdir(parents=True)
    (tmp_path / "deps" / "clock" / "clock.wit").write_text("package x:clock;\ninterface now { type t = u64; }\n")
    (tmp_path / "a.wit").write_text("package x:app;\ninterface i { use x:clock/now.{t}; }\n")
    (tmp_path / "b.wit").write_text("package x:app;\nworld w { import i; }\n")
    r = parse_dir(str(tmp_path))
    assert [str(p.name) for p in r.packages] == ["x:clock", "x:app"]
    assert r.main == 1
    assert r.worlds[0].imports  # `import i` pulled in `now` too
    assert [r.key_name(k) for k in r.worlds[0].imports] == ["x:clock/now", "x:app/i"]


def test_files_of_one_directory_must_agree_on_the_package(tmp_path):
    (tmp_path / "a.wit").write_text("package x:one;\n")
    (tmp_path / "b.wit").write_text("package x:two;\n")
    with pytest.raises(WitError, match="does not match previous package name"):
        parse_dir(str(tmp_path))


def test_a_missing_file_is_a_wit_error(tmp_path):
    with pytest.raises(WitError, match="failed to read file"):
        parse_file(str(tmp_path / "absent.wit"))


def test_hostile_input_is_refused_without_a_python_error():
    deep = "package a:b;\ninterface i { type t = " + "list<" * 5000 + "u8" + ">" * 5000 + "; }\n"
    with pytest.raises(WitError, match="type nesting too deep"):
        parse_source(deep)
    with pytest.raises(WitError, match="invalid character"):
        parse_source("package a:b;\ninterface i { type t\u202e = u8; }\n")
    with pytest.raises(WitError, match="unterminated block comment"):
        parse_source("package a:b; /* never closed")


def test_printing_then_parsing_gives_the_same_resolution():
    r = parse_source(SHAPES, "shapes.wit")
    again = parse_source(print_wit(r), "printed.wit")
    assert to_json(again) == to_json(r)


def _run(*args):
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_cli_prints_the_resolved_wit_and_its_json(tmp_path):
    path = tmp_path / "shapes.wit"
    path.write_text(SHAPES)
    code, out, _ = _run("wit", str(path))
    assert code == 0 and out.startswith("package demo:shapes@1.2.0;\n")
    assert to_json(parse_source(out)) == to_json(parse_source(SHAPES))
    code, out, _ = _run("wit", str(path), "--json")
    assert code == 0 and json.loads(out) == to_json(parse_source(SHAPES))


def test_cli_reports_a_bad_file_in_one_line_and_exits_1(tmp_path):
    path = tmp_path / "bad.wit"
    path.write_text("package a:b;\ninterface i {\n")
    code, out, err = _run("wit", str(path))
    assert code == 1 and out == ""
    assert err == f"{path}:3:1: error: expected `type`, `resource`, `record`, `variant`, `enum`, `flags`, " \
                  f"`use`, a function or '}}', found eof\n"


def test_wit_types_map_onto_the_component_model_types():
    r = parse_source(SHAPES, "shapes.wit")
    tm = TypeMap(r)
    iface = r.interfaces[0]
    point = tm.value(iface.types["point"])
    assert point == ct.RecordType((("x", ct.F64), ("y", ct.F64)))
    assert tm.value(iface.types["shape"]) == ct.VariantType(
        (("circle", ct.F64), ("polygon", ct.ListType(point)), ("empty", None)))
    assert tm.value(iface.types["unit"]) == ct.EnumType(("mm", "cm"))
    assert tm.value(iface.types["style"]) == ct.FlagsType(("bold", "italic"))
    draw = tm.function(iface.functions["[method]canvas.draw"])
    canvas = tm.resource(iface.types["canvas"])
    assert draw.params[0] == ("self", ct.BorrowType(canvas))
    assert draw.result == ct.ResultType(None, ct.STRING)
    assert component_type(r, 0).exports[0][0] == "render"
    world = tm.world(r.packages[0].worlds["app"])
    assert [n for n, _ in world.imports] == ["demo:shapes/types@1.2.0", "canvas"]
    types_instance = world.import_("demo:shapes/types@1.2.0")
    assert types_instance is not None and types_instance.sort == "instance"
    assert types_instance.type.defined == (canvas,)  # type: ignore[attr-defined]
    # the world's `use`d canvas is the interface's resource, not a new one
    assert world.import_("canvas") == ct.Extern("type", canvas)
    render = world.export("render")
    assert render is not None and render.type == ct.FuncType((("c", ct.BorrowType(canvas)),), ct.ListType(ct.U8))


def test_select_world_by_name_path_or_as_the_only_one():
    r = parse_source(SHAPES, "shapes.wit")
    assert r.select_world() == r.select_world("app") == r.select_world("demo:shapes/app") \
        == r.select_world("demo:shapes/app@1.2.0") == 0
    with pytest.raises(WitError, match="world `nope` not found"):
        r.select_world("nope")
    two = parse_source("package a:b;\nworld x {}\nworld y {}\n")
    with pytest.raises(WitError, match=r"has 2 worlds \(x, y\); name the one to use"):
        two.select_world()


def test_cli_reads_a_package_in_the_component_format(tmp_path):
    wat = tmp_path / "p.wat"
    wat.write_text('(component (type (component (type (instance (export "t" (type (sub resource)))))'
                   ' (export "demo:p/i" (instance (type 0))))) (export "i" (type 0)))')
    code, out, _ = _run("wit", str(wat))
    assert code == 0 and out == "package demo:p;\n\ninterface i {\n  resource t;\n}\n"
    bad = tmp_path / "bad.wasm"
    bad.write_bytes(b"\0asm\x0d\0\x01\0\xff")
    code, out, err = _run("wit", str(bad))
    assert code == 1 and out == "" and err.startswith(f"{bad}: error: malformed") and err.count("\n") == 1
