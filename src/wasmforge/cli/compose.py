"""``wasmforge compose ROOT -d DEP [-d DEP ...] [--semver] -o OUT``: plug components together.

Each import of ROOT (and of the dependencies, transitively) that a dependency exports is
wired to that export; the other imports become imports of OUT, which exports what ROOT
exports (``wasmforge.cm.compose``).  Inputs are component binaries or component text.
"""

from __future__ import annotations

import click

from ..cm.binary import encode_component
from ..cm.compose import compose
from ..errors import WasmError
from ._component import describe_component, is_component, read_component
from ._load import InputError, describe, die, read_file


def _component_bytes(path: str) -> bytes:
    """The component binary in ``path`` (component text is parsed and encoded)."""
    try:
        data = read_file(path)
    except InputError as exc:
        die(describe(path, exc))
    if not is_component(data):
        die(f"{path}: error: not a component")
    if data[:4] == b"\0asm":
        return data
    try:
        return encode_component(read_component(data, path))
    except WasmError as exc:
        die(describe_component(path, exc))


@click.command("compose")
@click.argument("root", type=click.Path(dir_okay=False))
@click.option("-d", "--dep", "deps", multiple=True, type=click.Path(dir_okay=False),
              metavar="DEP", help="A component whose exports satisfy imports (repeatable).")
@click.option("--semver", is_flag=True,
              help="Also wire an interface import to an export of a semver-compatible version.")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="Write the composed component here.")
def command(root, deps, semver, output):
    """Compose ROOT with the dependencies DEP into one component."""
    inputs = [_component_bytes(path) for path in (root, *deps)]
    try:
        out = compose(inputs[0], inputs[1:], labels=[root, *deps], semver=semver)
    except WasmError as exc:
        die(f"error: {exc}")
    try:
        with open(output, "wb") as fh:
            fh.write(out)
    except OSError as exc:
        die(f"{output}: error: {exc.strerror or exc}")
