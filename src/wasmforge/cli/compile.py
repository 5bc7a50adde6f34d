"""``wasmforge compile FILE [-o OUT]``: compile a module ahead of time into an artifact
(``.cwasm``) that ``wasmforge run`` and ``Module.deserialize`` load without validating or
compiling it again.

The artifact only loads with the same tier, fuel and epoch settings (``--consume-fuel`` for
``run --fuel``, ``--epoch-interruption`` for ``run --timeout``), on a host with the same CPU
and compiler (format and checks: api/aot.py).  Errors: one line, exit 1.
"""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import WasmError
from ._load import InputError, describe, die, load, read_file


@click.command("compile")
@click.argument("file", type=click.Path())
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None, metavar="OUT",
              help="Where to write the artifact (default: FILE with the suffix .cwasm).")
@click.option("--tier", type=click.Choice(["auto", "interp", "llvm"]), default=None,
              help="Execution tier (default: WASMFORGE_STRATEGY or auto).")
@click.option("--consume-fuel", is_flag=True,
              help="Compile with fuel metering (for `run --fuel`).")
@click.option("--epoch-interruption", is_flag=True,
              help="Compile with epoch deadline checks (for `run --timeout`).")
def command(file, output, tier, consume_fuel, epoch_interruption):
    """Compile FILE (.wasm or .wat) into an ahead-of-time artifact."""
    from ..api import Config, Engine, Module  # start-up speed: loaded when the subcommand runs

    out = Path(output) if output is not None else Path(file).with_suffix(".cwasm")
    try:
        moddata = load(file, read_file(file))
        config = Config()
        if tier is not None:
            config.strategy = tier
        config.consume_fuel = consume_fuel
        config.epoch_interruption = epoch_interruption
        artifact = Module._from_data(Engine(config), moddata).serialize()
    except (WasmError, InputError) as exc:
        die(describe(file, exc))
    try:
        out.write_bytes(artifact)
    except OSError as exc:
        die(f"{out}: error: {exc.strerror or exc}")


__all__ = ["command"]
