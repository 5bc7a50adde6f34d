"""The WAST script runner (the spec test suite's format) and the ``spectest`` host module."""

from .run import Failure, ScriptResult, WastRunner, run_script
from .spectest import spectest_instance

__all__ = ["WastRunner", "ScriptResult", "Failure", "run_script", "spectest_instance"]
