"""``wasmforge print in.wasm``: binary (or text) to readable WAT."""

from __future__ import annotations

import click

from ..cm.binary import encode_component
from ..cm.wit import component_wit, print_wit
from ..errors import WasmError
from ._component import describe_component, is_component, read_component
from ._load import InputError, describe, die, load_module, read_file


@click.command("print")
@click.argument("input", type=click.Path())
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write the text here instead of stdout.")
@click.option("--wit", is_flag=True,
              help="Print a component's WIT instead (its world, or the package it encodes), as `wasmforge wit`.")
def command(input, output, wit):
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
        if wit:
            _print_wit(input, data if data[:4] == b"\0asm" else encode_component(component), output)
            return
        _print_component(input, component, output)
        return
    if wit:
        die(f"{input}: error: --wit needs a component: a core module has no WIT")

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


def _print_wit(input, binary, output):
    try:
        text = print_wit(component_wit(binary), with_deps=True)
    except WasmError as exc:        # WitError: a component whose WIT cannot be derived
        die(describe_component(input, exc))
    _write(text, output)


def _write(text, output):
    if output is None:
        click.echo(text, nl=False)
        return
    try:
        with open(output, "w", encoding="utf-8") as fh:
            fh.write(text)
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
