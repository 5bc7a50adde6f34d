"""The ``wasmforge`` command line: one command, one module per subcommand.

Each subcommand module exposes ``command`` (a click command).  A user's mistake (a file that
does not exist, a malformed or invalid module) prints one line naming the file and position
and exits 1; a usage error exits 2; nothing prints a Python traceback for bad input.
"""

from __future__ import annotations

import importlib
import os
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


#: file name endings that make a first argument a module to run, even before it exists (so
#: that a missing one is reported as a missing file, not as an unknown command)
_MODULE_SUFFIXES = (".wasm", ".wat", ".cwasm")

#: the group's own options: anything else that starts with `-` is left to `run`
_GROUP_OPTIONS = ("-h", "--help", "--version")


def _runs_implicitly(first: str) -> bool:
    """Whether ``wasmforge FIRST ...`` means ``wasmforge run FIRST ...``: FIRST is no
    subcommand and names a file (or a module name), or is an option of ``run``."""
    if first in SUBCOMMANDS:
        return False
    if first.startswith("-"):
        if first in _GROUP_OPTIONS:
            return False
        from .run import command as run  # start-up speed: only for an implicit run
        name = first.partition("=")[0]
        return any(name in p.opts or name in p.secondary_opts for p in run.params)
    return first.endswith(_MODULE_SUFFIXES) or os.path.exists(first) or os.path.sep in first


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="wasmforge")
def cli():
    """wasmforge: read, check, print and run WebAssembly modules.

    `wasmforge FILE [ARGS...]` runs FILE, as `wasmforge run FILE [ARGS...]` does."""


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
