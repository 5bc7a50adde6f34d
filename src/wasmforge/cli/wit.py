"""``wasmforge wit FILE_OR_DIR [--json]``: parse and resolve a WIT package, print it back.

Like ``wasm-tools component wit``: a ``.wit`` file is one package (with any nested
``package x:y { }`` blocks), a directory is a package whose ``deps/`` folder holds its
dependencies, a ``.wasm`` (or ``.wat``) file a package in the component format.  The output is the resolved package as WIT (dependencies as nested package
blocks), or with ``--json`` the resolution in wasm-tools' JSON form.
"""

from __future__ import annotations

import json
import os

import click

from ..cm.wit import parse_path, print_wit, to_json
from ..errors import WasmError, WitError
from ._load import describe, die


@click.command("wit")
@click.argument("path", type=click.Path(exists=False))
@click.option("-j", "--json", "as_json", is_flag=True, help="Print the resolution as JSON (wasm-tools' form).")
@click.option("--features", multiple=True, metavar="NAME",
              help="Enable the `@unstable(feature = NAME)` items (repeatable; commas separate several).")
@click.option("--all-features", is_flag=True, help="Enable every `@unstable` item.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write here instead of stdout.")
def command(path, as_json, features, all_features, output):
    """Parse, resolve and print a WIT file or package directory."""
    names = [f for group in features for f in group.split(",") if f]
    if not os.path.exists(path):
        die(f"{path}: error: no such file or directory")
    try:
        resolve = parse_path(path, features=names, all_features=all_features)
    except WitError as exc:
        if exc.filename is not None and exc.line:
            die(f"{exc.filename}:{exc.line}:{exc.column}: error: {exc.reason}")
        die(f"{exc.filename or path}: error: {exc.reason}")
    except WasmError as exc:  # a package in the component format that does not decode or parse
        die(describe(path, exc))
    text = json.dumps(to_json(resolve), indent=2) + "\n" if as_json else print_wit(resolve, with_deps=True)
    if output is None:
        click.echo(text, nl=False)
        return
    try:
        with open(output, "w", encoding="utf-8") as fh:
            fh.write(text)
    except OSError as exc:
        die(f"{output}: error: {exc.strerror or exc}")
