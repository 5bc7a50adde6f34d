"""The ``spectest`` host module the spec test suite imports (spec interpreter,
``host/spectest.ml``): print functions, four globals, a table and a memory."""

from __future__ import annotations

from typing import Optional, TextIO

from ..module import Module as ModuleData
from ..numerics.bits import f32_round
from ..runtime.func import FuncInstance
from ..runtime.glob import GlobalInstance
from ..runtime.instance import ModuleInstance
from ..runtime.memory import MemoryInstance
from ..runtime.table import TableInstance
from ..types import F32, F64, FUNCREF, I32, I64, FuncType, GlobalType, Limits, MemoryType, TableType

_PRINTS = {
    "print": (),
    "print_i32": (I32,),
    "print_i64": (I64,),
    "print_f32": (F32,),
    "print_f64": (F64,),
    "print_i32_f32": (I32, F32),
    "print_f64_f64": (F64, F64),
}


def _printer(params: tuple, out: Optional[TextIO]):
    if out is None:
        return lambda *args: None

    def call(*args):
        out.write(" ".join(f"{a} : {t}" for a, t in zip(args, params)) + "\n")
    return call


def spectest_instance(store, out: Optional[TextIO] = None) -> ModuleInstance:
    """A fresh ``spectest`` instance in ``store``; the print functions write to ``out``
    (nothing when it is None)."""
    inst = ModuleInstance(ModuleData(), store, name="spectest")
    exports = {}
    for name, params in _PRINTS.items():
        fi = FuncInstance(FuncType(params, ()), _printer(params, out), name, store=store)
        inst.funcs.append(fi)
        exports[name] = fi
    for name, t, value in (("global_i32", I32, 666), ("global_i64", I64, 666),
                           ("global_f32", F32, f32_round(666.6)), ("global_f64", F64, 666.6)):
        g = GlobalInstance(GlobalType(t, False), value)
        inst.globals.append(g)
        exports[name] = g
    table = TableInstance(TableType(FUNCREF, Limits(10, 20)))
    # memory64's scripts import a 64-bit table as well (the reference interpreter's spectest).
    table64 = TableInstance(TableType(FUNCREF, Limits(10, 20), is_64=True))
    memory = MemoryInstance(MemoryType(Limits(1, 2)))
    inst.tables.append(table)
    inst.tables.append(table64)
    inst.mems.append(memory)
    # The threads proposal's scripts import a shared memory (the reference interpreter's).
    shared_memory = MemoryInstance(MemoryType(Limits(1, 2), shared=True))
    inst.mems.append(shared_memory)
    exports["shared_memory"] = shared_memory
    exports["table"] = table
    exports["table64"] = table64
    exports["memory"] = memory
    inst.exports = exports
    store._instances.append(inst)
    return inst
