"""``wasmtime run`` for a WASI 0.2 command component, through wasmtime-py's API.

    python wasmtime_p2.py run [--env K=V]... [--dir HOST::GUEST]... COMPONENT [ARGS...]

The reference engine of ``components.py``: the same command line as ``wasmforge run`` (so
the suite's runner adapter, ``adapter.py``, drives either), run with wasmtime-py's
``wasmtime.component.Linker.add_wasip2()``; stdio inherited, the program's name and ARGS as
its arguments.  Exit status: the guest's ``wasi:cli/exit`` code, 1 when ``run`` returns
``err``, 134 (as ``wasmtime run``, an abort) on a trap.
"""

import re
import sys
from importlib.metadata import version
from typing import List, Tuple

import wasmtime
from wasmtime import component as W

_RUN = re.compile(r"wasi:cli/run@0\.2\.\d+$")
_EXIT = re.compile(r"[Ee]xited with i32 exit status (\d+)")


def parse(argv: List[str]) -> Tuple[List[Tuple[str, str]], List[Tuple[str, str]], str, List[str]]:
    if argv == ["--version"]:
        print(f"wasmtime-py {version('wasmtime')}")
        sys.exit(0)
    if not argv or argv[0] != "run":
        sys.exit(__doc__)
    env: List[Tuple[str, str]] = []
    dirs: List[Tuple[str, str]] = []
    i = 1
    while i < len(argv) and argv[i].startswith("--"):
        flag, value = argv[i], argv[i + 1]
        i += 2
        if flag == "--env":
            key, _, val = value.partition("=")
            env.append((key, val))
        elif flag == "--dir":
            host, _, guest = value.partition("::")
            dirs.append((host, guest or host))
        else:
            sys.exit(f"unknown flag {flag}")
    return env, dirs, argv[i], argv[i + 1:]


def main() -> int:
    env, dirs, path, args = parse(sys.argv[1:])
    engine = wasmtime.Engine()
    store = wasmtime.Store(engine)
    wasi = wasmtime.WasiConfig()
    wasi.argv = [path, *args]
    wasi.env = env
    wasi.inherit_stdin()
    wasi.inherit_stdout()
    wasi.inherit_stderr()
    for host, guest in dirs:
        wasi.preopen_dir(host, guest)
    store.set_wasi(wasi)
    linker = W.Linker(engine)
    linker.add_wasip2()
    component = W.Component.from_file(engine, path)
    try:
        instance = linker.instantiate(store, component)
        names = [n for n in component.type.exports(engine) if _RUN.match(n)]
        if not names:
            sys.exit(f"{path}: not a command component (no wasi:cli/run export)")
        outer = instance.get_export_index(store, names[0])
        func = instance.get_func(store, instance.get_export_index(store, "run", outer))
        result = func(store)
        func.post_return(store)
    except wasmtime.ExitTrap as exc:
        return exc.code
    except (wasmtime.Trap, wasmtime.WasmtimeError) as exc:
        found = _EXIT.search(str(exc))
        if found:
            return int(found.group(1))
        print(f"Error: {exc}", file=sys.stderr)
        return 134
    if isinstance(result, W.Variant):
        return 1 if result.tag == "err" else 0
    return 1 if isinstance(result, Exception) else 0


if __name__ == "__main__":
    sys.stdout.flush()
    sys.exit(main())
