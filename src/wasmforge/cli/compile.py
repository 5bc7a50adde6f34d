"""``wasmforge compile FILE [-o OUT]``: compile a module or a component ahead of time into an
artifact (``.cwasm``) that ``wasmforge run --allow-precompiled`` (and, for a component,
``wasmforge serve --allow-precompiled``), ``Module.deserialize`` or ``Component.deserialize``
load without validating or compiling it again.

FILE is a core module or a component, binary or text (a text whose first form is
``(component``).  A component's artifact holds each of its core modules compiled as
``Component.serialize`` compiles them (at the engine's optimisation level on the llvm tier).
The artifact only loads with the same tier, fuel and epoch settings (``--consume-fuel`` for
``run --fuel`` and an app's ``fuel``, ``--epoch-interruption`` for ``run --timeout`` and an
app's ``timeout``), on a host with the same CPU and compiler (format and checks: api/aot.py).
Errors: one line, exit 1.
"""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import WasmError
from ._load import InputError, describe, die, is_component, load, read_file


@click.command("compile")
@click.argument("file", type=click.Path())
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None, metavar="OUT",
              help="Where to write the artifact (default: FILE with the suffix .cwasm).")
@click.option("--tier", type=click.Choice(["auto", "interp", "llvm"]), default=None,
              help="Execution tier (default: WASMFORGE_STRATEGY or auto).")
@click.option("--consume-fuel", is_flag=True,
              help="Compile with fuel metering (for `run --fuel`, or a served app's fuel).")
@click.option("--epoch-interruption", is_flag=True,
              help="Compile with epoch deadline checks (for `run --timeout`, or a served app's timeout).")
def command(file, output, tier, consume_fuel, epoch_interruption):
    """Compile FILE (a module or a component, .wasm or .wat) into an ahead-of-time artifact."""
    from ..api import Config, Engine, Module  # start-up speed: loaded when the subcommand runs
    from ..api.aot import is_artifact  # start-up speed: loaded when the subcommand runs

    out = Path(output) if output is not None else Path(file).with_suffix(".cwasm")
    # before compiling, which for a big component takes minutes: not after, at the write
    if not out.parent.is_dir():
        die(f"{out}: error: no such directory: {out.parent}")
    component = False
    try:
        data = read_file(file)
        if is_artifact(data):
            raise WasmError("is already a precompiled artifact (`wasmforge compile` output); "
                            "compile the .wasm or .wat it was made from")
        config = Config()
        if tier is not None:
            config.strategy = tier
        config.consume_fuel = consume_fuel
        config.epoch_interruption = epoch_interruption
        engine = Engine(config)
        component = is_component(data)
        if component:
            artifact = _compile_component(engine, data)
        else:
            artifact = Module._from_data(engine, load(file, data)).serialize()
    except (WasmError, InputError) as exc:
        if component:
            from ._component import describe_component  # start-up speed: only for a component
            die(describe_component(file, exc))
        die(describe(file, exc))
    try:
        out.write_bytes(artifact)
    except OSError as exc:
        die(f"{out}: error: {exc.strerror or exc}")


def _compile_component(engine, data: bytes) -> bytearray:
    """The artifact of the component in ``data`` (binary or text): decoded or parsed,
    validated, each core module compiled (module cache first)."""
    from ..component import Component  # start-up speed: only for a component
    return Component(engine, data).serialize()


__all__ = ["command"]
