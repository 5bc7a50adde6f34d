"""``wasmforge run`` for a component (binary or text).

Without ``--invoke`` the component is a command: it exports ``wasi:cli/run@0.2.x`` and its
``run`` is called; ``err`` ends the process with status 1, ``wasi:cli/exit`` passes its code
through (as wasmtime does).  With ``--invoke 'name(args)'`` the export ``name`` (top level, or
``iface.func`` / ``iface#func`` for a function of an exported instance) is called with the
arguments written in WAVE (:mod:`wasmforge.cm.wave`) and its result printed in WAVE.
WASI 0.2 imports are given by ``Linker.add_wasip2()`` from the same ``--dir``, ``--env`` and
argument flags as for modules; an import nothing satisfies is a one-line error naming it.
"""

from __future__ import annotations

import re
import sys
from typing import List, Optional, Sequence, Tuple

from ..api import Store
from ..cm import types as cm
from ..cm.abi.values import Variant
from ..cm.wave import WaveError, format_value, parse_args, parse_call
from ..component import Component, Func, Instance, Linker
from ..errors import ExitTrap, Trap, WasmError
from ..wasi import WasiConfig
from ._component import describe_component, read_component
from ._load import die, echo, guest_exit_status, make_engine, make_store, start_timer

#: ``wasi:cli/run@0.2.x``: the export of a command component
_RUN_EXPORT = re.compile(r"wasi:cli/run@0\.2\.\d+(?:-[\w.]+)?$")


def _find_func(instance: Instance, store: Store, name: str) -> Optional[Func]:
    """The function export ``name``: top level, or ``iface.func`` / ``iface#func`` (the
    instance's name itself may contain dots, as in ``wasi:cli/run@0.2.0.run``)."""
    found = instance.get_func(store, name) if instance.get_export_index(store, name) else None
    if found is not None:
        return found
    for i in range(len(name) - 1, 0, -1):
        if name[i] not in ".#":
            continue
        outer = instance.get_export_index(store, name[:i])
        if outer is None:
            continue
        inner = instance.get_export_index(store, name[i + 1:], outer)
        if inner is not None:
            f = instance.get_func(store, inner)
            if f is not None:
                return f
    return None


def _func_type(f: Func) -> cm.FuncType:
    t = f._f.type
    assert isinstance(t, cm.FuncType)
    return t


def run_component(file: str, data: bytes, args: Sequence[str], invoke: Optional[str],
                  wasi: WasiConfig, tier: Optional[str], fuel: Optional[int], timeout: Optional[float],
                  max_wasm_stack: Optional[int], trap_unknown_imports: bool = False,
                  precompiled: bool = False) -> None:
    """Run the component in ``data`` (its artifact if ``precompiled``: the caller checked that
    the user allowed one) and exit the process with its status."""
    try:
        engine = make_engine(tier, fuel, timeout, max_wasm_stack)
        if precompiled:
            component = Component.deserialize(engine, data)
        else:
            read_component(data, file)      # parse errors with line and column
            component = Component(engine, data)
    except WasmError as exc:
        die(describe_component(file, exc))
    call: Optional[Tuple[str, str, int]] = None
    if invoke is not None:
        try:
            call = parse_call(invoke)
        except WaveError as exc:
            die(f"{file}: error: --invoke {invoke!r}: {exc}")
    store = make_store(engine, fuel, timeout)
    code = 0
    sys.stdout.flush()
    timer = start_timer(engine, timeout)
    try:
        linker = Linker(engine)
        if component._type.imports:
            _add_wasip2(linker, store, wasi)
            if trap_unknown_imports:
                # `-W unknown-imports-trap`: what neither WASI nor anything else gives traps
                # when called.
                linker.define_unknown_imports_as_traps(component)
        instance = linker.instantiate(store, component)
        if call is None:
            code = _run_command(instance, store)
        else:
            name, text, base = call
            func = _find_func(instance, store, name)
            if func is None:
                raise WasmError(f"the component exports no function named `{name}`")
            ftype = _func_type(func)
            try:
                values = parse_args(text, ftype, base)
            except WaveError as exc:
                raise WasmError(f"--invoke {invoke!r}: {exc}") from None
            result = func(store, *values)
            func.post_return(store)
            if ftype.result is None:
                echo("()")
            else:
                echo(format_value(result, ftype.result))
    except (ExitTrap, Trap) as exc:
        code = guest_exit_status(file, exc)
    except WasmError as exc:
        die(describe_component(file, exc))
    finally:
        if timer is not None:
            timer.cancel()
    sys.stdout.flush()
    sys.exit(code)


def _add_wasip2(linker: Linker, store: Store, wasi: WasiConfig) -> None:
    """WASI 0.2 for the component's imports, configured by ``wasi``; where WASI 0.2 is not
    available the imports stay undefined and instantiation names the first one."""
    try:
        linker.add_wasip2()
    except WasmError:
        return
    store.set_wasi(wasi)


def _run_command(instance: Instance, store: Store) -> int:
    names: List[str] = [n for n in instance._i.exports if _RUN_EXPORT.match(n)]
    if not names:
        raise WasmError("the component exports no `wasi:cli/run@0.2.x` instance (it is not a "
                        "command); name a function with --invoke")
    func = _find_func(instance, store, names[0] + "#run")
    if func is None:
        raise WasmError(f"`{names[0]}` exports no `run` function")
    result = func(store)
    func.post_return(store)
    if isinstance(result, Variant):
        return 1 if result.tag == "err" else 0
    return 0


__all__ = ["run_component"]
