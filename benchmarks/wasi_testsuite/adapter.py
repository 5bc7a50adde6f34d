"""wasi-testsuite runtime adapter for wasmforge (the suite's runner loads this file).

The suite's runner (``run-tests`` of WebAssembly/wasi-testsuite, branch
``prod/testsuite-base``) imports an adapter per runtime and runs each test program as a
separate process with the command line ``compute_argv`` returns, under its default 5 s
timeout.  This adapter mirrors the suite's own ``adapters/wasmtime.py``: ``--env K=V`` per
variable, ``--dir ROOT::/`` for the test's directory, then the program and its arguments.

``WASMFORGE`` names the command to run (shell-quoted, like the suite's ``WASMTIME``); by
default ``python3 -m wasmforge``.  ``run.sh`` beside this file sets it to the project's
interpreter.

With ``WASMFORGE_WASI_COMPONENTS`` set to the output folder of ``components.py build``, each
program runs as its WASI 0.2 command component instead (``tests/LANG/testsuite/wasm32-wasip1/
NAME.wasm`` -> ``$WASMFORGE_WASI_COMPONENTS/LANG/NAME.wasm``), same flags and arguments.
``WASMFORGE_WASI_TIMEOUT`` (seconds) replaces the runner's default timeout of 5 s per program.
"""

import os
import shlex
import subprocess
from pathlib import Path
from typing import Dict, List, Optional, Tuple

WASMFORGE = shlex.split(os.getenv("WASMFORGE", "python3 -m wasmforge"))
COMPONENTS = os.getenv("WASMFORGE_WASI_COMPONENTS")


def get_name() -> str:
    return "wasmforge"


def get_version() -> str:
    result = subprocess.run(WASMFORGE + ["--version"], encoding="UTF-8",
                            capture_output=True, check=True)
    # "wasmforge, version 0.1.0"
    return result.stdout.split()[-1]


def get_timeout_seconds() -> float:
    return float(os.getenv("WASMFORGE_WASI_TIMEOUT", "5"))


def get_wasi_versions() -> List[str]:
    return ["wasm32-wasip1"]


def get_wasi_worlds() -> List[str]:
    return ["wasi:cli/command"]


def compute_argv(test_path: str,
                 args_env_root: Tuple[List[str], Dict[str, str], Optional[str]],
                 proposals: List[str],
                 wasi_world: str,
                 wasi_version: str) -> List[str]:
    args, env, root = args_env_root
    argv = WASMFORGE + ["run"]
    for key, value in env.items():
        argv += ["--env", f"{key}={value}"]
    if root:
        argv += ["--dir", f"{root}::/"]
    if COMPONENTS:
        parts = Path(test_path).parts
        test_path = str(Path(COMPONENTS, parts[-4], parts[-1]))
    # Everything after the program goes to the guest verbatim (as with wasmtime).
    return argv + [test_path] + list(args)
