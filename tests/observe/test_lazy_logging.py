"""wasmforge's loggers (``wasmforge._log``) import :mod:`logging` only when a record could be
emitted: in a process that never imported it, DEBUG and INFO records are dropped as the
unconfigured root logger would drop them; once it is imported, records reach the real logger
(levels, handlers, the caller's file and line) as with ``logging.getLogger(name)``."""

from __future__ import annotations

import logging
import os
import subprocess
import sys

from wasmforge._log import INFO, get_logger

DROP = """
import sys
from wasmforge._log import INFO, WARNING, get_logger
log = get_logger("wasmforge.test")
log.debug("not shown %d", 1)
log.info("not shown %d", 2)
assert not log.isEnabledFor(INFO)
assert "logging" not in sys.modules, "a dropped record imported logging"
log.warning("shown %d", 3)            # logging's last resort prints warnings to stderr
assert "logging" in sys.modules
"""


def test_an_unconfigured_process_drops_debug_and_info_without_importing_logging():
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    done = subprocess.run([sys.executable, "-c", DROP], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stderr == "shown 3\n"


def test_records_reach_the_real_logger_with_the_callers_line(caplog):
    log = get_logger("wasmforge.test.lazy")
    with caplog.at_level(logging.DEBUG, logger="wasmforge.test.lazy"):
        assert log.isEnabledFor(INFO)
        line = sys._getframe().f_lineno + 1
        log.debug("d %s", "x")
        log.info("i %d", 7)
    records = [r for r in caplog.records if r.name == "wasmforge.test.lazy"]
    assert [(r.levelno, r.getMessage()) for r in records] == [(logging.DEBUG, "d x"), (logging.INFO, "i 7")]
    assert records[0].pathname == __file__ and records[0].lineno == line


def test_a_level_set_on_the_real_logger_applies():
    log = get_logger("wasmforge.test.level")
    logging.getLogger("wasmforge.test.level").setLevel(logging.ERROR)
    try:
        assert not log.isEnabledFor(logging.WARNING)
    finally:
        logging.getLogger("wasmforge.test.level").setLevel(logging.NOTSET)


def test_a_logger_made_once_logging_is_loaded_exists_for_a_later_configuration():
    # logging.config's disable_existing_loggers (dictConfig's default) acts on the loggers that
    # exist: made at once when logging is loaded, a wasmforge logger is one of them, as the
    # logging.getLogger(name) at module level it replaces was.
    name = "wasmforge.test.registered"
    assert name not in logging.Logger.manager.loggerDict
    get_logger(name)
    assert name in logging.Logger.manager.loggerDict
