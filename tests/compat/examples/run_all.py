"""Run each example named on the command line as ``__main__``, from this folder (they open
``examples/*.wat``), printing ``=== name`` before its output.  With ``--shim`` the module
``wasmtime`` is wasmforge.  Used by test_examples.py."""

import os
import runpy
import sys

here = os.path.dirname(os.path.abspath(__file__))
if sys.argv[1] == "--shim":
    import wasmforge
    sys.modules["wasmtime"] = wasmforge
    del sys.argv[1]
os.chdir(os.path.dirname(here))
for name in sys.argv[1:]:
    print(f"=== {name}", flush=True)
    runpy.run_path(os.path.join(here, f"{name}.py"), run_name="__main__")
    sys.stdout.flush()
