"""The click group of the command line: one command, one module per subcommand (cli/__init__.py
says what each does on bad input).  Loaded by every command line but the fast start of
``wasmforge run`` (cli/_run_module.py), and by ``from wasmforge.cli import cli``."""

from __future__ import annotations

import importlib

import click

from ._commands import GROUP_OPTIONS, SUBCOMMANDS, interrupted, names_a_module


class _LazyGroup(click.Group):
    """Imports a subcommand's module only when it runs, so ``wasmforge --help`` stays fast."""

    def list_commands(self, ctx):
        return [name for name in SUBCOMMANDS if self._load(name) is not None]

    def get_command(self, ctx, name):
        return self._load(name)

    def parse_args(self, ctx, args):
        # `wasmforge FILE [ARGS...]` (and `wasmforge --dir . FILE`) is `wasmforge run ...`, as
        # `wasmtime FILE` is `wasmtime run FILE`.
        if args and _runs_implicitly(args[0]):
            args = ["run", *args]
        return super().parse_args(ctx, args)

    def invoke(self, ctx):
        # Ctrl-C ends any subcommand the same way, on every tier: one line and the status of
        # a process killed by SIGINT (128 + 2), not click's "Aborted!" and status 1.
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            interrupted()

    @staticmethod
    def _load(name):
        modname = SUBCOMMANDS.get(name)
        if modname is None:
            return None
        try:
            mod = importlib.import_module(f"{__package__}.{modname}")
        except ModuleNotFoundError as exc:
            if exc.name == f"{__package__}.{modname}":
                return None
            raise
        return getattr(mod, "command", None)


def _runs_implicitly(first: str) -> bool:
    """Whether ``wasmforge FIRST ...`` means ``wasmforge run FIRST ...``: FIRST is no
    subcommand and names a file (or a module name), or is an option of ``run``."""
    if first in SUBCOMMANDS:
        return False
    if first.startswith("-"):
        if first in GROUP_OPTIONS:
            return False
        from .run import command as run  # start-up speed: only for an implicit run
        name = first.partition("=")[0]
        return any(name in p.opts or name in p.secondary_opts for p in run.params)
    return names_a_module(first)


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="wasmforge")
def cli():
    """wasmforge: read, check, print and run WebAssembly modules.

    `wasmforge FILE [ARGS...]` runs FILE, as `wasmforge run FILE [ARGS...]` does."""
