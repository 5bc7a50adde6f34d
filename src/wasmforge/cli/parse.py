"""``wasmforge parse in.wat -o out.wasm``: text to binary."""

from __future__ import annotations

import sys

import click

from ._load import die, load_module


@click.command("parse")
@click.argument("input", type=click.Path(dir_okay=False, allow_dash=False))
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write the binary here (default: INPUT with .wasm).")
@click.option("--no-validate", is_flag=True, help="Encode without validating first.")
def command(input, output, no_validate):
    """Parse a .wat module and write its binary encoding."""
    from ..binary.encode import encode_module  # start-up speed: loaded when the subcommand runs

    module = load_module(input, validate=not no_validate)
    data = encode_module(module)
    if output is None:
        output = (input[:-4] if input.endswith(".wat") else input) + ".wasm"
    if output == "-":
        sys.stdout.buffer.write(data)
        return
    try:
        with open(output, "wb") as fh:
            fh.write(data)
    except OSError as exc:
        die(f"{output}: error: {exc.strerror or exc}")
