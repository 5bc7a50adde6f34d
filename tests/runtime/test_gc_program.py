"""A program from a real GC-targeting compiler runs as under wasmtime (issue 13).

``tests/fixtures/gc_programs/moonbit/main.wasm`` is ``main.mbt`` compiled by the MoonBit
compiler's wasm-gc backend (``build.sh`` beside it rebuilds it from npm packages, byte for
byte).  It uses the GC proposal throughout: structs for records, enum variants, closures and
strings (mutable i16 arrays), subtyping, `ref.cast` and `call_ref` for the variants and closures, ``array`` for
``Array``/``FixedArray``, and allocates a few thousand tree nodes.  Its only import is
``spectest.print_char``, called with one UTF-16 code unit at a time; the host below is the
same Python function for wasmtime-py and for both wasmforge tiers."""

from pathlib import Path

import pytest

import wasmforge
from support import tier_params
from wasmforge.api.engine import Config
from wasmforge.errors import ValidationError

TIERS = tier_params()
WASM = Path(__file__).resolve().parent.parent / "fixtures" / "gc_programs" / "moonbit" / "main.wasm"

EXPECTED = """\
point: (3, 4)
Circle((3, 4), r=2) has area 12
Rect((0, 0), (5, 7)) has area 35
sum of squares 1..10 = 385
joined: w1-w2-w3-w4-w5
counter: 3
fib: [0, 1, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 233, 377, 610, 987, 1597, 2584, 4181]
tree nodes: 4044
h\u00e9llo, w\u00f6rld has 12 UTF-16 units
float sum: 8.25
"""


def run_program(api, store) -> str:
    """Instantiate the program in ``store`` with ``api`` (wasmtime or wasmforge), run ``_start``
    and return what it printed."""
    units = []
    print_char = api.Func(store, api.FuncType([api.ValType.i32()], []), units.append)
    module = api.Module(store.engine, WASM.read_bytes())
    instance = api.Instance(store, module, [print_char])
    instance.exports(store)["_start"](store)
    return b"".join(u.to_bytes(2, "little") for u in units).decode("utf-16-le")


def wasmforge_store(tier: str, fuel: bool = False):
    config = Config()
    config.strategy = tier
    config.consume_fuel = fuel
    store = wasmforge.Store(wasmforge.Engine(config))
    if fuel:
        store.set_fuel(10 ** 9)
    return store


@pytest.fixture(scope="module")
def wasmtime_output():
    wasmtime = pytest.importorskip("wasmtime")
    return run_program(wasmtime, wasmtime.Store(wasmtime.Engine()))


def test_the_module_uses_gc_types():
    """The fixture really is a GC program: wasmforge refuses it with the GC proposal off."""
    config = Config()
    config.wasm_gc = False
    with pytest.raises(ValidationError, match="uses the gc proposal"):
        wasmforge.Module(wasmforge.Engine(config), WASM.read_bytes())


def test_wasmtime_prints_the_expected_output(wasmtime_output):
    assert wasmtime_output == EXPECTED


@pytest.mark.parametrize("tier", TIERS)
def test_output_is_identical_to_wasmtime(tier, wasmtime_output):
    out = run_program(wasmforge, wasmforge_store(tier))
    assert out == EXPECTED
    assert out == wasmtime_output


@pytest.mark.parametrize("tier", TIERS)
def test_runs_under_fuel_and_twice_in_one_store(tier):
    """With fuel metering on, and a second instance in the same store, the output is the same
    (the second run allocates into a heap that already holds the first run's objects)."""
    store = wasmforge_store(tier, fuel=True)
    assert run_program(wasmforge, store) == EXPECTED
    used = 10 ** 9 - store.get_fuel()
    assert used > 10_000
    assert run_program(wasmforge, store) == EXPECTED
