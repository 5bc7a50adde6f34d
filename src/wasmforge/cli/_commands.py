"""The subcommands of the command line and how its first argument is read: shared by the click
group (cli/_group.py) and the fast start of ``wasmforge run`` (cli/_run_module.py), which
must not import click to know them."""

from __future__ import annotations

import os
import sys
from typing import NoReturn

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

#: file name endings that make a first argument a module to run, even before it exists (so
#: that a missing one is reported as a missing file, not as an unknown command)
MODULE_SUFFIXES = (".wasm", ".wat", ".cwasm")

#: the group's own options: anything else that starts with `-` is left to `run`
GROUP_OPTIONS = ("-h", "--help", "--version")


def names_a_module(first: str) -> bool:
    """Whether a first argument that is no subcommand and no option names a module to run: a
    file (or a module name, before it exists)."""
    return first.endswith(MODULE_SUFFIXES) or os.path.exists(first) or os.path.sep in first


def interrupted() -> NoReturn:
    """How Ctrl-C ends any subcommand, on every tier: one line and the status of a process
    killed by SIGINT (128 + 2), not click's "Aborted!" and status 1."""
    try:
        sys.stdout.flush()
    except (OSError, ValueError):
        pass
    sys.stderr.write("wasmforge: interrupted\n")
    sys.exit(130)
