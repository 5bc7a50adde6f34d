"""``wasmforge wast [--tier T] [-v] FILE...``: run spec test scripts.

The last line printed is always ``wast: N passed, M failed, K skipped`` (assertions, summed
over the files; see wasmforge.script.run for what counts: a script that does not parse counts
each of its assertions as failed, and its failure line is printed even without -v).  Before it,
one ``skipped N: reason`` line per reason assertions were skipped for (a component assertion
that needs what is not implemented yet says so).  A file that cannot be read is one line on
stderr saying why (``FILE: error: No such file or directory``).  Exit status 1 if anything
failed or a file could not be read.
"""

from __future__ import annotations

import sys

import click

from ..errors import WasmError


@click.command("wast")
@click.argument("files", nargs=-1, required=True, type=click.Path())
@click.option("--tier", type=click.Choice(["auto", "interp", "llvm"]), default=None,
              help="Execution tier (default: WASMFORGE_STRATEGY, else auto).")
@click.option("-v", "--verbose", is_flag=True,
              help="List every failure (file:line, expected vs actual) and a line per file.")
def command(files, tier, verbose):
    """Run WAST scripts (the WebAssembly spec test format) and count their assertions."""
    from ..api.engine import Config, Engine  # start-up speed: loaded when the subcommand runs
    from ..script import run_script  # start-up speed: loaded when the subcommand runs

    config = Config()
    if tier is not None:
        config.strategy = tier
    try:
        engine = Engine(config)
    except WasmError as exc:
        click.echo(f"wasmforge wast: error: {exc}", err=True)
        sys.exit(2)
    passed = failed = skipped = 0
    reasons: dict = {}
    unreadable = 0
    for path in files:
        try:
            with open(path, "rb"):
                pass
        except OSError as exc:
            # Why, on one line and without -v: the script cannot even be read.
            click.echo(f"{path}: error: {exc.strerror or exc}", err=True)
            unreadable += 1
            continue
        result = run_script(path, engine)
        passed += result.passed
        failed += result.failed
        skipped += result.skipped
        for reason, n in result.skip_reasons.items():
            reasons[reason] = reasons.get(reason, 0) + n
        if verbose or result.unparsed:
            # A script that does not parse is always named: its assertions are all failures.
            for failure in result.failures:
                click.echo(str(failure))
        if verbose or len(files) > 1:
            why = "".join(f"; {n} skipped: {reason}" for reason, n in result.skip_reasons.items())
            click.echo(f"{path}: {result.summary()}{why}")
    for reason, n in reasons.items():
        click.echo(f"skipped {n}: {reason}")
    click.echo(f"wast: {passed} passed, {failed} failed, {skipped} skipped")
    sys.exit(1 if failed or unreadable else 0)
