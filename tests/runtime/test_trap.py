"""Traps carry a TrapCode and a wasm backtrace named from the name section."""

import re
import time

import pytest

from support import tier_params
from wasmforge import Config, Engine, Instance, Module, Store, Trap, TrapCode
from wasmforge.binary.encode import encode_module
from wasmforge.text import parse_module


NESTED = ('(module (func $inner (param i32) (result i32) (i32.div_s (i32.const 1) (local.get 0)))'
          ' (func $outer (export "run") (param i32) (result i32) (call $inner (local.get 0))))')


def test_trap_has_code_and_message(instantiate):
    store, inst = instantiate(NESTED)
    with pytest.raises(Trap) as info:
        inst.exports(store)["run"](store, 0)
    assert info.value.code is TrapCode.INTEGER_DIVISION_BY_ZERO
    assert info.value.trap_code is TrapCode.INTEGER_DIVISION_BY_ZERO
    assert info.value.message == "integer divide by zero"


def test_trap_backtrace_names_functions_innermost_first(instantiate):
    store, inst = instantiate(NESTED)
    with pytest.raises(Trap) as info:
        inst.exports(store)["run"](store, 0)
    text = str(info.value)
    assert "wasm backtrace:" in text
    assert text.index("inner") < text.index("outer")
    assert [name for _, name in info.value.frames] == ["inner", "outer"]


def test_deep_recursion_traps_with_stack_overflow(instantiate):
    store, inst = instantiate('(module (func $f (export "f") (call $f)))')
    with pytest.raises(Trap) as info:
        inst.exports(store)["f"](store)
    assert info.value.code is TrapCode.STACK_OVERFLOW


def test_store_stays_usable_after_a_trap(instantiate):
    store, inst = instantiate(NESTED)
    with pytest.raises(Trap):
        inst.exports(store)["run"](store, 0)
    assert inst.exports(store)["run"](store, 1) == 1


# ----- names are escaped, long backtraces are cut (issue 9, findings 12c and 12d) -----

TIERS = tier_params()

# Names a hostile name section may carry: a terminal escape sequence (clear screen, red), a
# bidi override, a newline that would forge a backtrace line, a tag character, a backslash.
EVIL = "\x1b[2J\x1b[31mevil\u202e\nforged 9: func[0]\U000e0001\\x"
EVIL_SHOWN = "\\x1b[2J\\x1b[31mevil\\u202e\\x0aforged 9: func[0]\\U000e0001\\\\x"


def evil_binary() -> bytes:
    """A module whose trapping function is named EVIL in its name section."""
    m = parse_module('(module (func $f (export "f") unreachable)'
                     ' (func $g (export "g") (call $f)) (func $r (export "r") (call $r)))')
    m.names.funcs[0] = EVIL
    m.names.funcs[2] = EVIL
    return encode_module(m)


#: A backtrace line's code offset, where the frame has one.
OFFSET = "(?: *0x[0-9a-f]+ - )?"


def tier_store(tier, wasm):
    config = Config()
    config.strategy = tier
    engine = Engine(config)
    store = Store(engine)
    return store, Instance(store, Module(engine, wasm), []).exports(store)


@pytest.mark.parametrize("tier", TIERS)
def test_backtrace_escapes_control_and_bidi_characters_in_names(tier):
    store, exports = tier_store(tier, evil_binary())
    with pytest.raises(Trap) as info:
        exports["g"](store)
    text = str(info.value)
    assert info.value.frames[0][1] == EVIL          # the frames themselves stay unescaped
    # (after the frame's code offset, as wasmtime prints it: "    0:     0x28 - ")
    assert re.search(f"\n    0: {OFFSET}<unknown>!{re.escape(EVIL_SHOWN)}\n", text)
    assert "\x1b" not in text and "\u202e" not in text and "\U000e0001" not in text
    # header, two frames, a blank line, "Caused by:", the cause, wasmtime's final newline:
    # nothing forged
    assert text.count("\n") == 6


@pytest.mark.parametrize("tier", TIERS)
def test_stack_overflow_backtrace_shows_both_ends_and_counts_the_rest(tier):
    store, exports = tier_store(tier, evil_binary())
    started = time.perf_counter()
    with pytest.raises(Trap) as info:
        exports["r"](store)
    assert time.perf_counter() - started < 30       # collecting the frames is not quadratic
    trap = info.value
    assert trap.code is TrapCode.STACK_OVERFLOW
    n = len(trap.frames)
    assert n > 1000 and all(f[0] == 2 for f in trap.frames)     # Trap.frames stays complete
    lines = str(trap).split("\n")
    assert lines[0] == "error while executing at wasm backtrace:"
    assert re.fullmatch(f"    0: {OFFSET}<unknown>!{re.escape(EVIL_SHOWN)}", lines[1])
    assert lines[16].startswith("   15: ") and lines[18].startswith(f"  {n - 16}: ")
    assert lines[17] == f"... {n - 32:,} frames omitted ..."
    assert re.fullmatch(f"  {n - 1}: {OFFSET}<unknown>!{re.escape(EVIL_SHOWN)}", lines[-5])
    assert lines[-4:] == ["", "Caused by:", "    wasm trap: call stack exhausted", ""]
    assert len(lines) == 1 + 16 + 1 + 16 + 4


def test_printable_escapes_only_what_a_terminal_would_interpret():
    from wasmforge.errors import printable
    assert printable("plain name_1 $x é 漢字") == "plain name_1 $x é 漢字"
    assert printable("a\tb\x00\x7f\x9b\u2066\u200b\ud800") == "a\\x09b\\x00\\x7f\\x9b\\u2066\\u200b\\ud800"


def test_short_backtraces_are_shown_whole():
    frames = [(i, f"f{i}") for i in range(32)]
    text = str(Trap("unreachable", TrapCode.UNREACHABLE_CODE_REACHED, frames))
    # header, 32 frames, blank, "Caused by:", cause and its newline
    assert "omitted" not in text and text.count("\n") == 36
    text = str(Trap("unreachable", TrapCode.UNREACHABLE_CODE_REACHED, frames + [(32, None)]))
    assert "... 1 frame omitted ..." in text and "   32: <unknown>!<wasm function 32>" in text
    assert "   16: " not in text
