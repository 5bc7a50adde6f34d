"""The public API is fully annotated: ``mypy --strict`` passes on it (configuration in
pyproject.toml, ``[tool.mypy]``), and the package ships ``py.typed``."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_py_typed_is_shipped():
    assert (ROOT / "src" / "wasmforge" / "py.typed").is_file()
    assert '"py.typed"' in (ROOT / "pyproject.toml").read_text()


def test_mypy_strict_passes_on_the_public_api():
    pytest.importorskip("mypy")
    done = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--config-file", "pyproject.toml"],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Success: no issues found" in done.stdout


USER_CODE = '''
from wasmforge import (Caller, Engine, Func, FuncType, Instance, Linker, Memory, Module, Store, Trap,
                       ValType, WasiConfig)


def log(caller: Caller, n: int) -> None:
    memory = caller.get("memory")
    assert isinstance(memory, Memory)
    print(memory.read(caller, 0, n))


def run(wat: str) -> int:
    engine = Engine()
    store = Store(engine)
    module = Module(engine, wat)
    linker = Linker(engine)
    linker.define_func("env", "log", FuncType([ValType.i32()], []), log, access_caller=True)
    linker.define_wasi()
    store.set_wasi(WasiConfig())
    instance: Instance = linker.instantiate(store, module)
    run = instance.exports(store)["run"]
    assert isinstance(run, Func)
    try:
        result = run(store, 7)
    except Trap as trap:
        print(trap.trap_code, [frame.func_name for frame in trap.frames])
        return -1
    assert isinstance(result, int)
    return result
'''


def test_user_code_type_checks_against_the_annotations(tmp_path):
    # What a user's strictly typed program sees: the annotations are usable, not only
    # consistent with themselves (a wrong call below would be reported).
    pytest.importorskip("mypy")
    (tmp_path / "user.py").write_text(USER_CODE)
    (tmp_path / "bad.py").write_text("from wasmforge import Store\nStore().set_fuel('many')\n")
    env = dict(os.environ, MYPYPATH=str(ROOT / "src"))
    for name, clean in (("user.py", True), ("bad.py", False)):
        done = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--no-incremental",
                               "--follow-imports=silent", name],
                              cwd=tmp_path, capture_output=True, text=True, timeout=600, env=env)
        assert (done.returncode == 0) is clean, done.stdout + done.stderr
