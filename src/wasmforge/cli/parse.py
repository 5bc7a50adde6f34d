"""``wasmforge parse in.wat -o out.wasm``: text to binary."""

from __future__ import annotations

import sys

import click

from ..errors import WasmError
from ._component import describe_component, is_component, load_component, read_component
from ._load import InputError, describe, die, load_module, read_file


@click.command("parse")
@click.argument("input", type=click.Path(allow_dash=False))
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write the binary here (default: INPUT with .wasm).")
@click.option("--no-validate", is_flag=True, help="Encode without validating first.")
def command(input, output, no_validate):
    """Parse a .wat module (or component) and write its binary encoding."""
    from ..binary.encode import encode_module  # start-up speed: loaded when the subcommand runs

    try:
        source = read_file(input)
    except InputError as exc:
        die(describe(input, exc))
    if is_component(source):
        from ..cm.binary import encode_component  # start-up speed: loaded for components only
        try:
            component = load_component(source, input)[0] if not no_validate else read_component(source, input)
        except WasmError as exc:
            die(describe_component(input, exc))
        data = encode_component(component)
    else:
        data = encode_module(load_module(input, validate=not no_validate))
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
