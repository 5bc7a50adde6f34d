"""``wasmforge bindgen``: typed Python bindings from WIT, run against a real component.

The component (bindgen_project/kitchen.wat, built by bindgen_project/build.py) exports the
interface `api`, whose functions forward to the imported interface `host` of the same
types, so each value goes host -> component -> host through the canonical ABI twice and
the bindings' conversions four times; `hello` and the resource `counter` run in wasm."""

from __future__ import annotations

import lzma
import os
import subprocess
import sys
import types
from pathlib import Path
from typing import Any, List

import pytest

import wasmforge
from wasmforge import bindgen
from wasmforge.cm.wit import parse_path
from wasmforge.component import Component
from wasmforge.errors import ClosedError, NotSupportedError, WasmTypeError, WitError

from support import tier_params

PROJECT = Path(__file__).resolve().parent / "bindgen_project"
WIT = PROJECT / "wit"
COMPONENT_TEXT = (PROJECT / "kitchen.wat").read_text()

k: Any = bindgen.load(WIT, "kitchen", module_name="kitchen_bindings_test")


class Logger(k.Logger):
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.lines_logged: List[str] = []
        self.closed = 0

    def log(self, msg: str) -> None:
        self.lines_logged.append(self.prefix + msg)

    def lines(self) -> List[str]:
        return list(self.lines_logged)

    def close(self) -> None:
        self.closed += 1


class Host:
    """The imported interface `host`: records what it is given, answers what it is told."""

    def __init__(self) -> None:
        self.received: List[Any] = []
        self.reply: Any = None
        self.made: List[Logger] = []
        self.error: Exception | None = None

    def logger_new(self, prefix: str) -> Logger:
        self.made.append(Logger(prefix))
        return self.made[-1]

    def logger_make_default(self) -> Logger:
        return self.logger_new("default: ")

    def transform(self, e: Any) -> Any:
        if self.error is not None:
            raise self.error
        self.received.append(e)
        return self.reply

    def check(self, p: Any) -> Any:
        self.received.append(p)
        return self.reply


class Imports:
    def __init__(self) -> None:
        self.host = Host()


def instantiate(tier: str):
    config = wasmforge.Config()
    config.strategy = tier
    store = wasmforge.Store(wasmforge.Engine(config))
    imports = Imports()
    world = k.instantiate(store, Component(store.engine, COMPONENT_TEXT), imports)
    return world, imports.host


def everything(**changes: Any) -> Any:
    base = dict(name="wasm", tags=["a", "", "Zoë"], color=k.Color.GREEN, perms=k.Perms.READ | k.Perms.EXEC,
                shape=k.ShapeRect(k.Point(3, -4)), node=k.NodeShapes([k.ShapeCircle(1.5), k.ShapeNothing()]),
                maybe=None, nested=k.Some(None), pair=("p", 255), data=b"\x00\x01\xff", outcome=k.Err("bad"),
                empty_ok=k.Ok(None), max_size=2**64 - 1)
    base.update(changes)
    return k.Everything(**base)


#: values covering every case of every type in `everything`
VALUES = [
    everything(),
    everything(name="", tags=[], color=k.Color.RED, perms=k.Perms(0), shape=k.ShapeCircle(-0.25),
               node=k.NodeLeaf(7), maybe=0, nested=None, data=b"", outcome=k.Ok(4294967295),
               empty_ok=k.Err(k.Color.BLUE), max_size=0),
    everything(color=k.Color.BLUE, perms=k.Perms.READ | k.Perms.WRITE | k.Perms.EXEC, shape=k.ShapeNothing(),
               node=k.NodeNamed(("n", k.Color.RED)), maybe=123456, nested=k.Some("deep")),
    everything(node=k.NodeNamed(("", None)), tags=["x" * 1000] * 20, data=bytes(range(256))),
]


@pytest.mark.parametrize("tier", tier_params())
def test_values_cross_both_ways_exactly(tier):
    world, host = instantiate(tier)
    for i, sent in enumerate(VALUES):
        reply = VALUES[(i + 1) % len(VALUES)]
        host.reply = reply
        got = world.api.transform(sent)
        assert host.received[-1] == sent            # host -> component -> host: the import saw it
        assert got == reply                         # and the reply came back the other way
        assert type(got.node) is type(reply.node) and type(got.color) is k.Color and type(got.perms) is k.Perms


@pytest.mark.parametrize("tier", tier_params())
def test_results_are_ok_and_err(tier):
    world, host = instantiate(tier)
    host.reply = k.Ok(k.Point(-1, 2**31 - 1))
    assert world.api.check(k.Point(5, 6)) == k.Ok(k.Point(-1, 2**31 - 1))
    assert host.received[-1] == k.Point(5, 6)
    host.reply = k.Err("no")
    result = world.api.check(k.Point(0, 0))
    assert result == k.Err("no")
    with pytest.raises(k.ResultError) as info:
        result.unwrap()
    assert info.value.value == "no"


@pytest.mark.parametrize("tier", tier_params())
def test_world_function_runs_in_wasm(tier):
    world, _ = instantiate(tier)
    assert world.hello("wörld") == "hello, wörld"


@pytest.mark.parametrize("tier", tier_params())
def test_exported_resource_constructor_methods_static_borrow_and_drop(tier):
    world, _ = instantiate(tier)
    Counter = world.counters.Counter
    with Counter(5) as c:
        c.add(3)
        z = Counter.zero()
        z.add(2)
        assert isinstance(c, k.Counter) and isinstance(z, k.Counter)
        assert (c.get(), z.get()) == (8, 2)
        assert world.counters.total(c, [z, z, c]) == 8 + 2 + 2 + 8     # borrows: both stay usable
        assert c.get() == 8 and z.get() == 2
    assert c.dropped and not z.dropped
    with pytest.raises(ClosedError):
        c.get()
    z.drop()
    z.drop()                                        # twice is harmless
    assert z.dropped


@pytest.mark.parametrize("tier", tier_params())
def test_host_resource_implemented_in_python(tier):
    world, host = instantiate(tier)
    tables = world._cx.tables()
    logger = world.api.new_logger("> ")             # the component calls the host's constructor
    assert logger is host.made[-1]                  # ... and hands the same object back
    assert len(tables.logger) == 0                  # owned by the host again
    world.api.log_with(logger, "one")               # lent for a call: the method runs on it
    world.api.log_with(logger, "two")
    assert logger.lines() == ["> one", "> two"]
    default = world.api.default_logger()            # the static function
    assert default.prefix == "default: "
    world.api.drop_logger(default)                  # moved into the component, which drops it
    assert default.closed == 1 and logger.closed == 0
    assert len(tables.logger) == 0


@pytest.mark.parametrize("tier", tier_params())
def test_exception_in_an_import_reaches_the_caller(tier):
    world, host = instantiate(tier)
    host.error = ValueError("the host failed")
    with pytest.raises(ValueError) as info:
        world.api.transform(VALUES[0])
    assert info.value is host.error


def test_wrong_values_are_typed_errors():
    world, host = instantiate("interp")
    with pytest.raises(WasmTypeError, match="point"):
        world.api.check("not a point")
    with pytest.raises(WasmTypeError, match="color"):
        world.api.transform(everything(color="green"))
    host.reply = "not a result"
    with pytest.raises(WasmTypeError, match="result<point, string>"):
        world.api.check(k.Point(1, 1))


def test_ok_err_some():
    assert k.Ok(3).unwrap() == 3
    with pytest.raises(bindgen.ResultError):
        k.Err("e").unwrap()
    assert k.Some(None) != k.Some(0) and k.Some(None).value is None
    match k.Ok(k.Point(1, 2)):
        case k.Ok(k.Point(x, y)):
            assert (x, y) == (1, 2)
        case _:
            raise AssertionError("pattern match on Ok failed")


def test_flags_with_many_members_convert_both_ways(tmp_path):
    labels = [f"m{i}" for i in range(40)]
    (tmp_path / "f.wit").write_text("package a:b;\ninterface i {\n  flags many { " + ", ".join(labels) + " }\n"
                                    "  f: func(x: many) -> many;\n}\nworld w {\n  export i;\n}\n")
    m: Any = bindgen.load(tmp_path / "f.wit", module_name="many_flags")
    value = m.Many.M0 | m.Many.M7 | m.Many.M39
    assert m._many_to_wasm(value) == {"m0", "m7", "m39"}
    assert m._many_from_wasm({"m0", "m7", "m39"}) == value
    assert m._many_from_wasm(set()) == m.Many(0) and m._many_to_wasm(m.Many(0)) == set()
    assert max(len(line) for line in bindgen.generate(tmp_path / "f.wit").splitlines()) <= 100


def test_generated_source_is_deterministic():
    first = bindgen.generate(WIT, "kitchen")
    assert bindgen.generate(WIT, "kitchen") == first
    assert bindgen.generate(WIT / "kitchen.wit", "test:kitchen/kitchen") == first
    compile(first, "kitchen_bindings.py", "exec")


def test_source_reads_like_hand_written_code():
    text = bindgen.generate(WIT)
    assert "@dataclass(frozen=True)\nclass Point:\n" in text
    assert "class Color(enum.Enum):" in text and "class Perms(enum.Flag):" in text
    assert "Shape = Union[ShapeCircle, ShapeRect, ShapeNothing]" in text
    assert "    nested: Some[str | None] | None\n" in text
    assert "    outcome: Result[int, str]\n" in text and "    data: bytes\n" in text
    assert "class HostImports(Protocol):" in text and "class Logger(HostResource, abc.ABC):" in text
    assert "def transform(self, e: Everything) -> Everything:" in text
    assert "getattr(" not in text.split("def _everything_from_wasm")[0]     # no reflection in the classes
    assert max(len(line) for line in text.splitlines()) <= 100


def test_bindings_of_a_compiled_component():
    # the world is derived from the component itself (`root`), types named as it exports them
    module = bindgen.load(PROJECT / "kitchen.wat", module_name="kitchen_from_component")
    assert isinstance(module, types.ModuleType)
    assert {"Point", "Everything", "Counter", "Logger", "Root", "instantiate"} <= set(module.__all__)
    world = module.instantiate(wasmforge.Store(), Component(wasmforge.Engine(), COMPONENT_TEXT), _RootImports())
    assert world.hello("x") == "hello, x"


class _RootImports:
    def __init__(self) -> None:
        self.host = Host()


def test_wit_errors_are_positioned(tmp_path):
    bad = tmp_path / "bad.wit"
    bad.write_text("package a:b;\n\nworld w {\n  export f: func(x: u32) -> strin;\n}\n")
    with pytest.raises(WitError) as info:
        bindgen.generate(bad)
    assert (info.value.line, info.value.column) == (4, 29)
    assert str(info.value).startswith(f"{bad}:4:29: ")
    with pytest.raises(WitError, match="no such file"):
        bindgen.generate(tmp_path / "missing.wit")
    with pytest.raises(WitError, match="world `nope` not found"):
        bindgen.generate(WIT, "nope")


def test_async_functions_are_refused_clearly(tmp_path):
    wit = tmp_path / "a.wit"
    wit.write_text("package a:b;\nworld w {\n  export f: async func();\n}\n")
    with pytest.raises(NotSupportedError, match="async function `f`"):
        bindgen.generate(wit)


def test_world_without_imports_and_keyword_names(tmp_path):
    wit = tmp_path / "w.wit"
    wit.write_text("package a:b;\ninterface i {\n  record r { class: u8, max-size: u32, %type: string }\n"
                   "  enum e { %none, %from }\n  flags f { %import }\n  g: func(%from: r, %in: e) -> f;\n"
                   "  record none { store: u8 }\n  variant %true { %false, name, value(none) }\n"
                   "  h: func(store: none, %func: %true, %result: string, cx: u8) -> none;\n}\n"
                   "world w {\n  export i;\n}\n")
    module: Any = bindgen.load(wit, module_name="keyword_bindings")
    r = module.R(class_=1, max_size=2, type=("s"))
    assert (r.class_, r.max_size, r.type) == (1, 2, "s")
    assert [m.name for m in module.E] == ["NONE", "FROM"] and [m.value for m in module.E] == ["none", "from"]
    assert list(module.F) == [module.F.IMPORT]
    assert "def g(self, from_: R, in_: E) -> F:" in bindgen.generate(wit)
    assert "add_to_linker" not in module.__all__
    assert module.True_Value(module.None_(3)) == module.True_Value(module.None_(store=3))
    assert {"True_False", "True_Name", "True_Value", "True_", "None_"} <= set(module.__all__)
    assert "def h(self, store_: None_, func_: True_, result_: str, cx_: int) -> None_:" in bindgen.generate(wit)


def wasmforge_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "wasmforge", *args], capture_output=True, text=True)


def test_cli_writes_the_module_and_the_package(tmp_path):
    done = wasmforge_cli("bindgen", str(WIT), "--world", "kitchen", "-o", str(tmp_path / "kb.py"))
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "kb.py").read_text() == bindgen.generate(WIT, "kitchen")
    done = wasmforge_cli("bindgen", str(WIT / "kitchen.wit"), "-o", str(tmp_path / "pkg"))
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "pkg" / "__init__.py").read_text() == bindgen.generate(WIT)
    done = wasmforge_cli("bindgen", str(WIT))
    assert done.returncode == 0 and done.stdout == bindgen.generate(WIT)
    # a compiled component's binary: the bindings of the world it implements
    assert wasmforge_cli("parse", str(PROJECT / "kitchen.wat"), "-o", str(tmp_path / "k.wasm")).returncode == 0
    done = wasmforge_cli("bindgen", str(tmp_path / "k.wasm"), "-o", str(tmp_path / "root.py"))
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "root.py").read_text() == bindgen.generate(PROJECT / "kitchen.wat")


def test_cli_errors_are_one_line(tmp_path):
    bad = tmp_path / "bad.wit"
    bad.write_text("package a:b;\nworld w { export f: func() -> strin; }\n")
    done = wasmforge_cli("bindgen", str(bad))
    assert done.returncode == 1
    assert done.stderr.strip() == f"{bad}:2:31: error: type `strin` does not exist"
    done = wasmforge_cli("bindgen", str(tmp_path / "none.wit"))
    assert done.returncode == 1 and "no such file or directory" in done.stderr and "Traceback" not in done.stderr


def test_cli_help():
    done = wasmforge_cli("bindgen", "--help")
    assert done.returncode == 0
    assert "Usage: wasmforge bindgen [OPTIONS] SOURCE" in done.stdout and "--world" in done.stdout
    assert "bindgen" in wasmforge_cli("--help").stdout


UI = Path(__file__).resolve().parent / "wit" / "ui"


def _ui_worlds():
    """(name, resolve, world id) of every world of wasm-tools' positive WIT tests."""
    for entry in sorted(UI.iterdir()):
        if entry.suffix in (".json", ".md") or entry.name == "parse-fail":
            continue
        try:
            resolve = parse_path(str(entry), all_features=True)
        except WitError:
            continue            # refused by the parser too (see tests/component/wit/test_ui.py)
        for wid, world in enumerate(resolve.worlds):
            yield f"ui_{entry.stem.replace('-', '_')}_{wid}", resolve, wid


def test_every_ui_world_gets_bindings_that_load_and_pass_mypy_strict(tmp_path):
    if not UI.is_dir():
        pytest.skip("wasm-tools' WIT tests are not in tests/component/wit/ui")
    written, refused = [], []
    for name, resolve, wid in _ui_worlds():
        try:
            text = bindgen.generate_source(resolve, wid)
        except NotSupportedError as exc:
            refused.append(str(exc))
            continue
        module = types.ModuleType(name)
        sys.modules[name] = module
        try:
            exec(compile(text, name, "exec"), module.__dict__)
        finally:
            del sys.modules[name]
        (tmp_path / f"{name}.py").write_text(text)
        written.append(name)
    assert len(written) >= 90
    assert len(refused) == 2 and all("async" in r or "map" in r for r in refused), refused
    pytest.importorskip("mypy")
    root = Path(__file__).resolve().parent.parent.parent
    env = dict(os.environ, MYPYPATH=str(root / "src"))
    done = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--no-incremental", "--follow-imports=silent",
                           "--cache-dir", os.devnull, "."], cwd=tmp_path, capture_output=True, text=True,
                          timeout=900, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"Success: no issues found in {len(written)} source files" in done.stdout


WORLD_FUNCTIONS_WIT = """package t:w;

world w {
  import log: func(msg: string);
  export run: func(x: u32) -> u32;
}
"""

WORLD_FUNCTIONS_COMPONENT = """(component
  (import "log" (func $log (param "msg" string)))
  (core module $memory (memory (export "memory") 1))
  (core module $m
    (import "host" "log" (func $log (param i32 i32)))
    (import "host" "memory" (memory 1))
    (data (i32.const 0) "hi!")
    (func (export "run") (param i32) (result i32)
      (call $log (i32.const 0) (i32.const 3))
      (i32.add (local.get 0) (i32.const 1))))
  (core instance $mi (instantiate $memory))
  (alias core export $mi "memory" (core memory $mem))
  (core func $log_lowered (canon lower (func $log) (memory $mem)))
  (core instance $i (instantiate $m (with "host" (instance (export "log" (func $log_lowered))
                                                           (export "memory" (memory $mem))))))
  (func (export "run") (param "x" u32) (result u32) (canon lift (core func $i "run"))))
"""


@pytest.mark.parametrize("tier", tier_params())
@pytest.mark.parametrize("names", [("msg", "x"), ("store", "%result")])
def test_world_level_imports_and_exports(tmp_path, tier, names):
    # parameters named like the wrappers' locals (store, result) are renamed, never shadowing them
    wit = WORLD_FUNCTIONS_WIT.replace("msg:", f"{names[0]}:").replace("x:", f"{names[1]}:")
    (tmp_path / "w.wit").write_text(wit)
    w: Any = bindgen.load(tmp_path / "w.wit", module_name=f"world_functions_{tier}_{names[0]}")
    names = tuple(n.lstrip("%") for n in names)
    assert "class WImports(Protocol):" in bindgen.generate(tmp_path / "w.wit")

    class Imports:
        def __init__(self) -> None:
            self.logged: List[str] = []

        def log(self, message: str) -> None:
            self.logged.append(message)

    config = wasmforge.Config()
    config.strategy = tier
    store = wasmforge.Store(wasmforge.Engine(config))
    imports = Imports()
    text = WORLD_FUNCTIONS_COMPONENT.replace('"msg"', f'"{names[0]}"').replace('"x"', f'"{names[1]}"')
    world = w.instantiate(store, Component(store.engine, text), imports)
    assert isinstance(world, w.W)
    assert world.run(41) == 42
    assert imports.logged == ["hi!"]


def test_a_componentize_py_component_through_bindings(tmp_path):
    """Bindings written from the WIT a componentize-py component was built for, and from the
    component itself, call it (tests/fixtures/componentize_py: app.py, records, lists, an
    option, a tuple, and the imported host function `log`)."""
    fixture = Path(__file__).resolve().parent.parent / "fixtures" / "componentize_py"
    data = lzma.decompress((fixture / "greeter.wasm.xz").read_bytes())
    (tmp_path / "greeter.wasm").write_bytes(data)
    from_wit: Any = bindgen.load(fixture / "wit", module_name="greeter_from_wit")
    from_component: Any = bindgen.load(tmp_path / "greeter.wasm", module_name="greeter_from_component")
    text = bindgen.generate(fixture / "wit")
    assert "def oldest(self, people: list[Person]) -> Person | None:" in text
    assert "def stats(self, values: list[int]) -> tuple[int, int, list[int]]:" in text
    assert "    def log(self, message: str) -> int:" in text

    class Imports:
        def __init__(self) -> None:
            self.messages: List[str] = []

        def log(self, message: str) -> int:
            self.messages.append(message)
            return len(self.messages)

    config = wasmforge.Config()
    config.strategy = "interp"          # (libpython: compiling it natively takes minutes)
    store = wasmforge.Store(wasmforge.Engine(config))
    component = Component(store.engine, data)
    imports = Imports()
    greeter = from_wit.instantiate(store, component, imports)
    Person = from_wit.Person
    assert isinstance(greeter, from_wit.Greeter)
    assert greeter.greet("wasm") == "Hello, wasm!"
    assert greeter.greet_all(["a", "Zoë"]) == ["1: Hello, a!", "2: Hello, Zoë!"]
    assert greeter.describe(Person("Ann", 30, ["x", "y"])) == "#2 Ann (30): x, y"
    assert greeter.oldest([Person("a", 1, []), Person("b", 5, ["t"])]) == Person("B", 6, ["t", "2"])
    assert greeter.oldest([]) is None
    assert greeter.stats([3, -1, 2]) == (3, 4, [-1, 2, 3])
    assert imports.messages == ["greet-all 2", "describe Ann", "oldest of 2", "oldest of 0", "stats 3 -1 2"]
    other = from_component.instantiate(store, component, Imports())
    assert other.describe(from_component.Person("Bo", 7, [])) == "#1 Bo (7): no tags"
