"""``wasmforge compose ROOT -d DEP [-d DEP ...] [--semver] [--no-imports] [--skip-validation]
[-t] -o OUT``: plug components together.

Each import of ROOT (and of the dependencies, transitively) that a dependency exports is
wired to that export; the other imports become imports of OUT, which exports what ROOT
exports (``wasmforge.cm.compose``).  Inputs are component binaries or component text.  As in
``wasm-tools compose``: ``--no-imports`` refuses a composition that would import an instance,
``--skip-validation`` does not validate the result, ``-t`` writes the component text format
(to standard output without ``-o``).
"""

from __future__ import annotations

import click

from ..cm.binary import decode_component, encode_component
from ..cm.compose import compose
from ..cm.text.printer import print_component
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
@click.option("--no-imports", is_flag=True,
              help="Refuse a composition that would import an instance (every interface wired).")
@click.option("--skip-validation", is_flag=True, help="Do not validate the composed component.")
@click.option("-t", "--wat", is_flag=True, help="Write the component text format.")
@click.option("-o", "--output", type=click.Path(dir_okay=False),
              help="Write the composed component here (required for the binary format; "
                   "with -t, standard output by default).")
def command(root, deps, semver, no_imports, skip_validation, wat, output):
    """Compose ROOT with the dependencies DEP into one component."""
    if output is None and not wat:
        die("error: the binary format needs -o OUT (or -t for text on standard output)")
    inputs = [_component_bytes(path) for path in (root, *deps)]
    try:
        out = compose(inputs[0], inputs[1:], labels=[root, *deps], semver=semver,
                      validate=not skip_validation)
        composed = decode_component(out) if no_imports or wat else None
    except WasmError as exc:
        die(f"error: {exc}")
    left = [i.name.name for i in composed.imports if i.desc.sort == "instance"] \
        if no_imports and composed is not None else []
    if left:
        names = ", ".join(f"`{name}`" for name in left)
        die(f"error: {root}: no dependency supplies {names}, and --no-imports allows no "
            "instance import")
    data = print_component(composed).encode() if wat and composed is not None else out
    if output is None:
        click.echo(data.decode(), nl=False)
        return
    try:
        with open(output, "wb") as fh:
            fh.write(data)
    except OSError as exc:
        die(f"{output}: error: {exc.strerror or exc}")
