"""Loggers that import :mod:`logging` only when a record could be emitted.

Importing :mod:`logging` costs a few milliseconds (it pulls in ``traceback``, ``string`` and
compiles regular expressions), which every ``wasmforge run`` paid for debug and info records
nobody had asked to see.  A process in which nothing has imported :mod:`logging` cannot have
configured a handler or a level, so the root logger's default level (WARNING) applies and a
DEBUG or INFO record would be dropped: :class:`Logger` drops it without importing anything.
Once :mod:`logging` is imported (by the embedder, by ``logging.basicConfig``...), every call
goes to the real logger of that name, so levels, handlers and filters behave as with
``logging.getLogger(name)``; WARNING and above always do (``logging.lastResort`` prints them).
A logger made while :mod:`logging` is loaded already (the usual embedder) is the real one at
once, as the module-level ``logging.getLogger`` it replaces was, so a later
``logging.config.dictConfig`` or ``fileConfig`` disables it with the other existing loggers
(their ``disable_existing_loggers``).  One difference is left, in a process that imports
:mod:`logging` only after wasmforge: such a configuration does not disable wasmforge's loggers
(they do not exist yet), where it did before they were made lazily.
"""

from __future__ import annotations

import sys
from typing import Any, Optional

#: :mod:`logging`'s levels, without importing it
DEBUG, INFO, WARNING = 10, 20, 30


class Logger:
    """``logging.getLogger(name)``, resolved on the first record that could be emitted."""

    __slots__ = ("name", "_logger")

    def __init__(self, name: str) -> None:
        self.name = name
        self._logger: Optional[Any] = None

    def _real(self) -> Any:
        logger = self._logger
        if logger is None:
            import logging  # start-up speed: only once a record can be emitted (module docstring)
            logger = self._logger = logging.getLogger(self.name)
        return logger

    def isEnabledFor(self, level: int) -> bool:  # noqa: N802 (logging's name)
        if level < WARNING and "logging" not in sys.modules:
            return False
        return bool(self._real().isEnabledFor(level))

    # stacklevel=2: the record names the caller's file and line, as a direct call would.
    def debug(self, msg: str, *args: Any) -> None:
        if "logging" in sys.modules:
            self._real().debug(msg, *args, stacklevel=2)

    def info(self, msg: str, *args: Any) -> None:
        if "logging" in sys.modules:
            self._real().info(msg, *args, stacklevel=2)

    def warning(self, msg: str, *args: Any) -> None:
        self._real().warning(msg, *args, stacklevel=2)


def get_logger(name: str) -> Logger:
    """The :class:`Logger` for ``name`` (a ``wasmforge.*`` logger name)."""
    logger = Logger(name)
    if "logging" in sys.modules:
        logger._real()      # registered now, as logging.getLogger(name) would be (docstring)
    return logger
