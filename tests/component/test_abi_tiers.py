"""The canonical ABI adapters over real core code on both tiers: the memory is the runtime's
(the interp tier's or the llvm tier's), realloc and post-return are wasm functions."""

from __future__ import annotations

from pathlib import Path

import pytest

from support import engine_for, tier_params
from wasmforge import FuncType as CoreFuncType
from wasmforge import Linker, Module, Store, ValType
from wasmforge.cm import abi
from wasmforge.cm.types import STRING, FuncType
from wasmforge.errors import Trap

WAT = (Path(__file__).parent / "abi_core.wat").read_text()
STR_TO_STR = FuncType((("s", STRING),), STRING)


def instantiate(tier, upper=None):
    engine = engine_for(tier)
    store = Store(engine)
    linker = Linker(engine)
    box = {}

    def host_upper(*args):     # the API gives i32s signed; the adapter takes the runtime's form
        return box["upper"](*(a & 0xFFFFFFFF for a in args))
    linker.define_func("host", "upper", CoreFuncType([ValType.i32()] * 3, []), host_upper)
    exports = linker.instantiate(store, Module(engine, WAT)).exports(store)
    core = {name: exports[name]._fi.call for name in ("realloc", "greet", "echo", "shout", "post")}
    return exports["memory"]._obj, core, box


@pytest.mark.parametrize("tier", tier_params())
def test_string_function_lifted_over_both_tiers(tier):
    memory, core, _ = instantiate(tier)
    opts = abi.CanonOptions("utf8", memory, core["realloc"], post_return=core["post"])
    greet = abi.lift_function(STR_TO_STR, core["greet"], opts, abi.ComponentState())
    assert greet("world") == "hi world"
    assert greet("wörld ✓") == "hi wörld ✓"
    assert greet("") == "hi "


@pytest.mark.parametrize("tier", tier_params())
@pytest.mark.parametrize("encoding", ["utf8", "utf16", "latin1+utf16"])
def test_echo_in_each_encoding(tier, encoding):
    memory, core, _ = instantiate(tier)
    opts = abi.CanonOptions(encoding, memory, core["realloc"], post_return=core["post"])
    echo = abi.lift_function(STR_TO_STR, core["echo"], opts, abi.ComponentState())
    for s in ["", "abc", "café", "日本語", "a\U0001f600b"]:
        assert echo(s) == s


@pytest.mark.parametrize("tier", tier_params())
def test_host_function_lowered_into_core_code(tier):
    memory, core, box = instantiate(tier)
    state = abi.ComponentState()
    opts = abi.CanonOptions("utf8", memory, core["realloc"], post_return=core["post"])
    seen = []

    def upper(s):
        seen.append(s)
        return s.upper()
    box["upper"] = abi.lower_function(STR_TO_STR, upper, opts, state)
    shout = abi.lift_function(STR_TO_STR, core["shout"], opts, state)
    assert shout("quiet ß") == "QUIET SS"
    assert seen == ["quiet ß"]


@pytest.mark.parametrize("tier", tier_params())
def test_out_of_bounds_result_traps_on_both_tiers(tier):
    memory, core, _ = instantiate(tier)
    opts = abi.CanonOptions("utf8", memory, core["realloc"])
    echo = abi.lift_function(STR_TO_STR, core["echo"], opts, abi.ComponentState())
    bad = abi.LiftedFunction(STR_TO_STR, lambda p, n: core["echo"](memory.size - 4, 100), opts,
                             abi.ComponentState())
    with pytest.raises(Trap, match="string content out-of-bounds"):
        bad("x")
    assert echo("still fine") == "still fine"
