"""``wasmforge print in.wasm``: binary (or text) to readable WAT."""

from __future__ import annotations

import click

from ..errors import WasmError
from ._component import describe_component, is_component, read_component
from ._load import InputError, describe, die, load_module, read_file


@click.command("print")
@click.argument("input", type=click.Path(dir_okay=False))
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write the text here instead of stdout.")
def command(input, output):
    """Print a module (or a component) as WebAssembly text, with names from its name section."""
    from ..text.printer import write_module  # start-up speed: loaded when the subcommand runs

    try:
        data = read_file(input)
    except InputError as exc:
        die(describe(input, exc))
    if is_component(data):
        try:
            component = read_component(data, input)
        except WasmError as exc:
            die(describe_component(input, exc))
        _print_component(input, component, output)
        return

    module = load_module(input)
    # Streamed a few thousand lines at a time: the text of a large module is many times
    # its binary, and is never held whole.
    # A large module's bodies are decoded only now, so a malformed one is reported here.
    try:
        if output is None:
            write_module(module, lambda text: click.echo(text, nl=False))
            return
        with open(output, "w", encoding="utf-8") as fh:
            write_module(module, fh.write)
    except WasmError as exc:
        die(describe(input, exc))
    except OSError as exc:
        die(f"{output}: error: {exc.strerror or exc}")


def _print_component(input, component, output):
    from ..cm.text.printer import print_component  # start-up speed: loaded for components only
    text = print_component(component)
    if output is None:
        click.echo(text, nl=False)
        return
    try:
        with open(output, "w", encoding="utf-8") as fh:
            fh.write(text)
    except OSError as exc:
        die(f"{output}: error: {exc.strerror or exc}")
