"""Every core module inside a component built by componentize-py validates.

``tests/fixtures/componentize_py/greeter.wasm.xz`` is a Python component (``app.py`` for the
world in ``wit/``, built by ``build.sh`` with componentize-py 0.25.1 and ``--stub-wasi``).
Its core modules (libpython, its adapters and shims; nested core module sections, id 1, of
the component and of every nested component) are taken out by the component decoder
(``wasmforge.cm.binary``), cross-checked by a plain section walker written here, and each is
validated by ``Module.validate``; the largest (libpython) also by ``wasmforge validate``.
componentize-py's libpython uses the extended-const proposal (``i32.add`` in a global's
initialiser): with it switched off, that module is refused naming the proposal.
"""

import lzma
import subprocess
import sys
from pathlib import Path

import pytest

import wasmforge as wf
from wasmforge.binary.decode import decode_module
from wasmforge.binary.leb128 import read_unsigned
from wasmforge.cm import ast
from wasmforge.cm.binary import decode_component, is_component

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "componentize_py" / "greeter.wasm.xz"
#: the component binary's section ids that hold a core module / a nested component
CORE_MODULE_SECTION, COMPONENT_SECTION = 1, 4


@pytest.fixture(scope="module")
def component():
    return lzma.decompress(FIXTURE.read_bytes())


@pytest.fixture(scope="module")
def core_modules(component):
    """(offset in the component binary, bytes) of every core module, in binary order."""
    found = []

    def walk(c):
        for d in c.definitions:
            if isinstance(d, ast.CoreModule):
                found.append((d.offset, bytes(d.data)))
            elif isinstance(d, ast.Component):
                walk(d)

    walk(decode_component(component))
    return found


def _walk_sections(data, start, end, found):
    """The offsets of the core modules between ``start`` and ``end`` (a component's sections,
    after its 8-byte preamble), nested components included: the plain section walk."""
    pos = start + 8
    while pos < end:
        sid = data[pos]
        size, pos = read_unsigned(data, pos + 1, 32)
        if sid == CORE_MODULE_SECTION:
            found.append(pos)
        elif sid == COMPONENT_SECTION:
            _walk_sections(data, pos, pos + size, found)
        pos += size
    assert pos == end
    return found


def test_the_fixture_is_a_component_of_many_core_modules(component, core_modules):
    assert is_component(component)
    assert [offset for offset, _ in core_modules] == _walk_sections(component, 0, len(component), [])
    assert len(core_modules) == 38
    assert all(data[:8] == b"\0asm\x01\0\0\0" for _, data in core_modules)


def test_every_core_module_validates(core_modules):
    engine = wf.Engine()
    for offset, data in core_modules:
        wf.Module.validate(engine, data)      # raises on the first invalid one


def test_libpython_needs_extended_const(core_modules):
    offset, libpython = _largest_code(core_modules)
    config = wf.Config()
    config.wasm_extended_const = False
    with pytest.raises(wf.WasmError, match="extended-const"):
        wf.Module.validate(wf.Engine(config), libpython)


def test_wasmforge_validate_accepts_libpython(core_modules, tmp_path):
    offset, libpython = _largest_code(core_modules)
    path = tmp_path / "libpython.wasm"
    path.write_bytes(libpython)
    proc = subprocess.run([sys.executable, "-m", "wasmforge", "validate", str(path)],
                          capture_output=True, text=True, timeout=600)
    assert (proc.returncode, proc.stderr) == (0, ""), proc.stderr
    assert proc.stdout == f"{path}: valid\n"


def _largest_code(core_modules):
    """The core module with the most code (libpython: the largest module is a memory image)."""
    def code_size(data):
        return sum(len(f._code or b"") for f in decode_module(data).funcs)
    return max(core_modules, key=lambda item: code_size(item[1]))
