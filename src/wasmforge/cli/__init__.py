"""The ``wasmforge`` command line: one command, one module per subcommand.

Each subcommand module exposes ``command`` (a click command); the group that dispatches to
them is ``cli`` (cli/_group.py, loaded on first use).  A user's mistake (a file that does not
exist, a malformed or invalid module) prints one line naming the file and position and exits
1; a usage error exits 2; nothing prints a Python traceback for bad input.

``wasmforge run FILE [ARGS...]`` with the common options starts without importing click
(cli/_run_module.py, :func:`~wasmforge.cli._run_module.parse_fast`): anything else goes
through the click group.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any, List

from . import _load
from ._commands import SUBCOMMANDS, interrupted
from ._run_module import parse_fast, run_fast

if TYPE_CHECKING:       # what __getattr__ gives, for type checkers
    from ._group import cli

#: click's shell completion is asked for through this variable (its name for the program)
_COMPLETE_VAR = "_WASMFORGE_COMPLETE"


def __getattr__(name: str) -> Any:
    # The click group (and click with it) is loaded on first use: `wasmforge run` of a
    # module usually needs neither (start-up time, docs/performance.md).
    if name == "cli":
        from ._group import cli  # start-up speed: the fast start of `run` has no click
        globals()["cli"] = cli
        return cli
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> List[str]:
    return sorted({*globals(), "cli"})


def _one_line_warning(message, category, filename, lineno, line=None):
    # On the command line a notice is one line, without the Python source location.
    return f"{message}\n"


def main(argv=None):
    """Console-script entry point."""
    import warnings  # start-up speed: loaded when the command runs
    warnings.formatwarning = _one_line_warning
    _load.OWN_PROCESS = True
    args = sys.argv[1:] if argv is None else list(argv)
    try:
        fast = None if _COMPLETE_VAR in os.environ else parse_fast(args, SUBCOMMANDS)
        if fast is not None:
            run_fast(fast)
        from ._group import cli  # start-up speed: the fast start of `run` has no click
        cli.main(args=args, prog_name="wasmforge", standalone_mode=True)
    except KeyboardInterrupt:
        interrupted()


__all__ = ["main", "cli", "SUBCOMMANDS"]
