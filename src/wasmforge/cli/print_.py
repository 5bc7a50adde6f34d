"""``wasmforge print in.wasm``: binary (or text) to readable WAT."""

from __future__ import annotations

import click

from ._load import die, load_module


@click.command("print")
@click.argument("input", type=click.Path(dir_okay=False))
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write the text here instead of stdout.")
def command(input, output):
    """Print a module as WebAssembly text, with names from its name section."""
    from ..text.printer import print_module

    text = print_module(load_module(input))
    if output is None:
        click.echo(text, nl=False)
        return
    try:
        with open(output, "w", encoding="utf-8") as fh:
            fh.write(text)
    except OSError as exc:
        die(f"{output}: error: {exc.strerror or exc}")
