"""Source lines in trap backtraces (issue 17, observability): a C program built with ``-g``
(tests/observe/fixtures/trap.c, built by build.sh with DWARF 4 and DWARF 5) traps, and the
backtrace names its C file, line and column for each frame, on both tiers, as wasmtime does
with ``WASMTIME_BACKTRACE_DETAILS=1``.  The expected positions are found in the C source
itself; wasmtime-py's text is compared where it is installed."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from support import engine_for, tier_params
from wasmforge import Config, Engine, Instance, Module, Store, Trap
from wasmforge.binary.leb128 import read_u32
from wasmforge.debuginfo import DebugInfo

FIXTURES = Path(__file__).resolve().parent / "fixtures"
SOURCE = (FIXTURES / "trap.c").read_text().splitlines()
BINARIES = ["trap-dwarf4.wasm", "trap-dwarf5.wasm"]


def where(text: str, token: str) -> str:
    """``./trap.c:LINE:COLUMN`` of ``token`` on the one line of trap.c holding ``text``."""
    hits = [k for k, line in enumerate(SOURCE) if text in line]
    assert len(hits) == 1, text
    return f"./trap.c:{hits[0] + 1}:{SOURCE[hits[0]].index(token) + 1}"


#: per entry point: the source frames of each wasm frame, innermost first (name, position)
EXPECTED = {
    "_start": [[("divide", where("return a / b;", "/"))],
               [("middle", where("return divide(y, zero) + 1;", "divide"))],
               [("_start", where("middle(21, 0);", "middle"))]],
    "trap_inlined": [[("scale", where("return x * 1000 / zero;", "/")),
                      ("middle", where("y = scale(y);", "scale"))],
                     [("trap_inlined", where("return middle(21, 1);", "middle"))]],
}


def trap_of(tier: str, binary: str, entry: str, **settings) -> Trap:
    engine = engine_for(tier, **settings)
    store = Store(engine)
    instance = Instance(store, Module.from_file(engine, FIXTURES / binary), [])
    with pytest.raises(Trap) as info:
        instance.exports(store)[entry](store)
    return info.value


def positions(trap: Trap) -> list:
    return [[(s.name, f"{s.file}:{s.line}:{s.column}") for s in frame.symbols] for frame in trap.frames]


@pytest.mark.parametrize("tier", tier_params())
@pytest.mark.parametrize("binary", BINARIES)
@pytest.mark.parametrize("entry", sorted(EXPECTED))
def test_frames_have_the_c_source_positions(tier, binary, entry):
    trap = trap_of(tier, binary, entry, wasm_backtrace_details=True)
    assert positions(trap) == EXPECTED[entry]


@pytest.mark.parametrize("tier", tier_params())
@pytest.mark.parametrize("binary", BINARIES)
def test_trap_text_shows_file_and_line_under_each_frame(tier, binary):
    text = str(trap_of(tier, binary, "trap_inlined", wasm_backtrace_details=True))
    lines = text.splitlines()
    assert lines[1].endswith(" - scale")
    assert lines[2] == f"                    at {EXPECTED['trap_inlined'][0][0][1]}"
    assert lines[3] == "                - middle"
    assert lines[4] == f"                    at {EXPECTED['trap_inlined'][0][1][1]}"
    assert lines[5].endswith(" - trap_inlined")
    assert "note:" not in text


def _wasmtime_text(binary: str, entry: str, details: bool, monkeypatch) -> str:
    wasmtime = pytest.importorskip("wasmtime")
    # wasmtime reads the variable when its Config is made.
    monkeypatch.setenv("WASMTIME_BACKTRACE_DETAILS", "1" if details else "0")
    engine = wasmtime.Engine()
    store = wasmtime.Store(engine)
    instance = wasmtime.Instance(store, wasmtime.Module.from_file(engine, str(FIXTURES / binary)), [])
    with pytest.raises(wasmtime.Trap) as info:
        instance.exports(store)[entry](store)
    return str(info.value)


@pytest.mark.parametrize("tier", tier_params())
@pytest.mark.parametrize("binary", BINARIES)
@pytest.mark.parametrize("entry", sorted(EXPECTED))
@pytest.mark.parametrize("details", [True, False], ids=["details", "hint"])
def test_text_equals_wasmtime_py(tier, binary, entry, details, monkeypatch):
    expected = _wasmtime_text(binary, entry, details, monkeypatch)
    monkeypatch.delenv("WASMFORGE_BACKTRACE_DETAILS", raising=False)
    # Config's default comes from the same variable, read when the Config is made.
    config = Config()
    config.strategy = tier
    assert config.wasm_backtrace_details is details
    engine = Engine(config)
    store = Store(engine)
    instance = Instance(store, Module.from_file(engine, FIXTURES / binary), [])
    with pytest.raises(Trap) as info:
        instance.exports(store)[entry](store)
    assert str(info.value) == expected


@pytest.mark.parametrize("tier", tier_params())
def test_details_set_off_explicitly_drop_the_hint(tier):
    text = str(trap_of(tier, "trap-dwarf5.wasm", "_start", wasm_backtrace_details=False))
    assert "trap-dwarf5.wasm!divide" in text
    assert "note:" not in text and "trap.c" not in text


def test_module_without_dwarf_has_no_symbols_and_no_hint():
    engine = engine_for("interp", wasm_backtrace_details=True)
    store = Store(engine)
    module = Module(engine, '(module (func (export "f") unreachable))')
    with pytest.raises(Trap) as info:
        Instance(store, module, []).exports(store)["f"](store)
    assert info.value.frames[0].symbols == ()
    assert "note:" not in str(info.value) and "\n                    at " not in str(info.value)


def test_debug_info_is_read_only_when_asked_for():
    trap = trap_of("interp", "trap-dwarf5.wasm", "_start", wasm_backtrace_details=True)
    source = trap.frames[0]._source
    assert source._debug is None            # trapping parsed nothing
    str(trap)
    assert source._debug is not None


# ----- malformed debug sections: the trap is intact, without lines -----

def _sections(data: bytes):
    """``(name, start, end)`` of each custom section's contents after its name."""
    pos, out = 8, []
    while pos < len(data):
        sid = data[pos]
        size, pos = read_u32(data, pos + 1)
        end = pos + size
        if sid == 0:
            n = data[pos]           # the fixtures' names are shorter than 128 bytes
            out.append((data[pos + 1:pos + 1 + n].decode(), pos + 1 + n, end))
        pos = end
    return out


def _corrupted(binary: str, seed: int) -> bytes:
    data = bytearray((FIXTURES / binary).read_bytes())
    rng = random.Random(seed)
    debug = [s for s in _sections(bytes(data)) if s[0].startswith(".debug_")]
    name, start, end = debug[seed % len(debug)]
    # Overwrite a random stretch of one debug section (its size unchanged, so the module
    # stays valid): the parser meets garbage where it expects DWARF.
    a = rng.randrange(start, end)
    b = min(end, a + rng.randrange(1, 64))
    data[a:b] = bytes(rng.randrange(256) for _ in range(b - a))
    return bytes(data)


@pytest.mark.parametrize("tier", tier_params())
@pytest.mark.parametrize("binary", BINARIES)
def test_malformed_debug_sections_never_break_the_trap(tier, binary):
    for seed in range(40 if tier == "interp" else 6):   # the parsing is the same on both tiers
        engine = engine_for(tier, wasm_backtrace_details=True)
        store = Store(engine)
        instance = Instance(store, Module(engine, _corrupted(binary, seed)), [])
        with pytest.raises(Trap) as info:
            instance.exports(store)["_start"](store)
        text = str(info.value)          # never raises, whatever the debug sections hold
        assert text.startswith("error while executing at wasm backtrace:")
        assert text.endswith("wasm trap: integer divide by zero\n")
        assert [f.func_name for f in info.value.frames] == ["divide", "middle", "_start"]


def test_debug_info_of_garbage_is_empty_not_an_error():
    assert DebugInfo({".debug_info": b"\xff" * 40, ".debug_abbrev": b"\x01"}).symbols(10) == ()
    assert DebugInfo({".debug_info": b"\x07\x00\x00\x00\x05\x00"}).symbols(0) == ()
    assert DebugInfo({}).symbols(5) == ()


def test_wasmforge_run_shows_the_source_lines(tmp_path):
    env = dict(os.environ, WASMTIME_BACKTRACE_DETAILS="1", WASMFORGE_STRATEGY="interp",
               WASMFORGE_CACHE_DIR=str(tmp_path))
    done = subprocess.run([sys.executable, "-m", "wasmforge", "run", str(FIXTURES / "trap-dwarf4.wasm")],
                          capture_output=True, text=True, env=env)
    assert done.returncode == 134
    lines = done.stderr.splitlines()
    assert lines[2:4] == ["    0: divide (func 0)", f"         divide at {EXPECTED['_start'][0][0][1]}"]
    assert f"         _start at {EXPECTED['_start'][2][0][1]}" in lines
    env["WASMTIME_BACKTRACE_DETAILS"] = "0"
    done = subprocess.run([sys.executable, "-m", "wasmforge", "run", str(FIXTURES / "trap-dwarf4.wasm")],
                          capture_output=True, text=True, env=env)
    assert "trap.c" not in done.stderr
    assert done.stderr.splitlines()[-1].startswith("note: using the `WASMTIME_BACKTRACE_DETAILS=1`")


#: Rust symbols (rustc 1.63's legacy mangling, from a `rustc -g` program's DWARF) and the
#: names wasmtime-py 50 shows for them with WASMTIME_BACKTRACE_DETAILS=1
RUST_NAMES = {
    "_ZN4core9panicking5panic17h0e3d223f43db58cfE": "core::panicking::panic::h0e3d223f43db58cf",
    "_ZN1t5inner10S$LT$T$GT$2go17hd61c23a0832ab93eE": "t::inner::S<T>::go::hd61c23a0832ab93e",
    "_ZN3std2rt10lang_start28_$u7b$$u7b$closure$u7d$$u7d$17hf0d936d435344f82E":
        "std::rt::lang_start::{{closure}}::hf0d936d435344f82",
    "_ZN4core3ops8function5impls72_$LT$impl$u20$core..ops..function..FnOnce$LT$A$GT$$u20$for$u20$$RF$F$GT$"
    "9call_once17ha67ccfc67d47b1b8E":
        "core::ops::function::impls::<impl core::ops::function::FnOnce<A> for &F>::call_once::ha67ccfc67d47b1b8",
}


@pytest.mark.parametrize("mangled", sorted(RUST_NAMES))
def test_rust_names_are_demangled_as_wasmtime_shows_them(mangled):
    from wasmforge.errors import demangle
    assert demangle(mangled) == RUST_NAMES[mangled]


@pytest.mark.parametrize("name", ["main", "_ZN3foo3barEv", "_ZN3foo", "_ZNxE", "__original_main", "process.abort"])
def test_other_names_are_shown_as_they_are(name):
    from wasmforge.errors import demangle
    assert demangle(name) == name


@pytest.mark.parametrize("tier", tier_params())
def test_an_artifact_gives_no_source_lines_rather_than_wrong_ones(tier):
    # An artifact holds the module re-encoded (lld pads sizes and indexes that the encoder
    # writes minimally): its code offsets no longer match the DWARF.
    engine = engine_for(tier, wasm_backtrace_details=True)
    module = Module.deserialize(engine, Module.from_file(engine, FIXTURES / "trap-dwarf5.wasm").serialize())
    store = Store(engine)
    with pytest.raises(Trap) as info:
        Instance(store, module, []).exports(store)["_start"](store)
    assert [f.symbols for f in info.value.frames] == [(), (), ()]
    assert "trap.c" not in str(info.value)
