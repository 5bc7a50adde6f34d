"""Differential testing on real programs: every program of the benchmark corpus runs on the
interp tier and on the llvm tier with the same arguments; exit status, stdout (which must
also be the manifest's) and the final contents of linear memory must be identical."""

from __future__ import annotations

import hashlib
import json

import pytest

from wasmforge import Config, Engine, ExitTrap, Linker, Module, Store, WasiConfig

from support import BENCH

MANIFEST = json.loads((BENCH / "manifest.json").read_text()) if (BENCH / "manifest.json").exists() else None
PROGRAMS = sorted(MANIFEST["programs"]) if MANIFEST else []


def run_program(tier: str, name: str, tmp_path) -> tuple:
    entry = MANIFEST["programs"][name]
    case = entry["sizes"]["tiny"]
    config = Config()
    config.strategy = tier
    engine = Engine(config)
    module = Module.from_file(engine, str(BENCH / entry["wasm"]))
    linker = Linker(engine)
    linker.define_wasi()
    store = Store(engine)
    config = WasiConfig()
    config.argv = [name] + case["args"]
    out = tmp_path / f"{tier}-{name}.out"
    config.stdout_file = str(out)
    store.set_wasi(config)
    exports = linker.instantiate(store, module).exports(store)
    try:
        exports["_start"](store)
        status = 0
    except ExitTrap as exc:
        status = exc.code
    memory = exports["memory"]
    digest = hashlib.sha256(memory.read(store, 0, memory.data_len(store))).hexdigest()
    return status, out.read_text(), digest, case["stdout"]


@pytest.mark.parametrize("name", PROGRAMS)
def test_program_behaves_identically_on_both_tiers(name, bench_dir, tmp_path):
    status_i, out_i, mem_i, expected = run_program("interp", name, tmp_path)
    status_l, out_l, mem_l, _ = run_program("llvm", name, tmp_path)
    assert (status_i, out_i) == (0, expected)
    assert (status_l, out_l) == (status_i, out_i)
    assert mem_l == mem_i, "final linear memory differs between the tiers"
