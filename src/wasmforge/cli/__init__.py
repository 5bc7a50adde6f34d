"""The ``wasmforge`` command line: one command, one module per subcommand.

Each subcommand module exposes ``command`` (a click command).  A user's mistake (a file that
does not exist, a malformed or invalid module) prints one line naming the file and position
and exits 1; a usage error exits 2; nothing prints a Python traceback for bad input.
"""

from __future__ import annotations

import importlib
import sys

import click

from . import _load

# subcommand name -> module under wasmforge.cli
SUBCOMMANDS = {
    "parse": "parse",
    "print": "print_",
    "validate": "validate",
    "inspect": "inspect",
    "wast": "wast",
    "run": "run",
    "compile": "compile",
    "wit": "wit",
    "compose": "compose",
    "bindgen": "bindgen",
    "serve": "serve",
}


class _LazyGroup(click.Group):
    """Imports a subcommand's module only when it runs, so ``wasmforge --help`` stays fast."""

    def list_commands(self, ctx):
        return [name for name in SUBCOMMANDS if self._load(name) is not None]

    def get_command(self, ctx, name):
        return self._load(name)

    def invoke(self, ctx):
        # Ctrl-C ends any subcommand the same way, on every tier: one line and the status of
        # a process killed by SIGINT (128 + 2), not click's "Aborted!" and status 1.
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            _interrupted()

    @staticmethod
    def _load(name):
        modname = SUBCOMMANDS.get(name)
        if modname is None:
            return None
        try:
            mod = importlib.import_module(f"{__name__}.{modname}")
        except ModuleNotFoundError as exc:
            if exc.name == f"{__name__}.{modname}":
                return None
            raise
        return getattr(mod, "command", None)


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="wasmforge")
def cli():
    """wasmforge: read, check, print and run WebAssembly modules."""


def _one_line_warning(message, category, filename, lineno, line=None):
    # On the command line a notice is one line, without the Python source location.
    return f"{message}\n"


def main(argv=None):
    """Console-script entry point."""
    import warnings  # start-up speed: loaded when the command runs
    warnings.formatwarning = _one_line_warning
    _load.OWN_PROCESS = True
    try:
        cli.main(args=argv, prog_name="wasmforge", standalone_mode=True)
    except KeyboardInterrupt:
        _interrupted()


def _interrupted():
    try:
        sys.stdout.flush()
    except (OSError, ValueError):
        pass
    sys.stderr.write("wasmforge: interrupted\n")
    sys.exit(130)
