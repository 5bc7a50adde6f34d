"""``wasmforge bindgen WORLD.wit|DIR|COMPONENT.wasm [--world W] [-o OUT]``: typed Python
bindings for a WIT world (``wasmforge.bindgen``).

The input is what ``wasmforge wit`` reads: a ``.wit`` file, a package directory (with its
``deps/``), or a compiled component (``.wasm``/``.wat``), whose world is derived from it.
Without ``-o`` the module is printed; ``-o x.py`` writes a module, ``-o DIR`` a package
(``DIR/__init__.py``).
"""

from __future__ import annotations

import os

import click

from ..bindgen import generate
from ..errors import NotSupportedError, WasmError, WitError
from ._load import describe, die


@click.command("bindgen")
@click.argument("source", type=click.Path(exists=False))
@click.option("-w", "--world", help="The world to bind: `name` or `ns:pkg/name` (default: the package's only one).")
@click.option("-o", "--output", type=click.Path(),
              help="Write a module (`x.py`) or a package (a directory) instead of printing.")
@click.option("--features", multiple=True, metavar="NAME",
              help="Enable the `@unstable(feature = NAME)` items (repeatable; commas separate several).")
def command(source, world, output, features):
    """Generate typed Python bindings (dataclasses, enums, resources, the exports' class and
    the imports' Protocols) for a WIT world."""
    names = [f for group in features for f in group.split(",") if f]
    if not os.path.exists(source):
        die(f"{source}: error: no such file or directory")
    try:
        text = generate(source, world, features=names)
    except WitError as exc:
        if exc.filename is not None and exc.line:
            die(f"{exc.filename}:{exc.line}:{exc.column}: error: {exc.reason}")
        die(f"{exc.filename or source}: error: {exc.reason}")
    except NotSupportedError as exc:
        die(f"{source}: error: {exc}")
    except WasmError as exc:     # a component that does not decode or validate
        die(describe(source, exc))
    if output is None:
        click.echo(text, nl=False)
        return
    path = output if output.endswith(".py") else os.path.join(output, "__init__.py")
    try:
        if not output.endswith(".py"):
            os.makedirs(output, exist_ok=True)
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)
    except OSError as exc:
        die(f"{output}: error: {exc.strerror or exc}")
