"""The llvm tier's compiled module: machine code for a module's functions, made once and
shared by every instance.

Debug aid: ``WASMFORGE_LLVM_DUMP=dir`` writes each module's IR (before and after
optimisation) to ``dir/<n>.ll`` / ``dir/<n>.opt.ll``.
"""

from __future__ import annotations

import ctypes
import itertools
import os

from ..module import FUNC
from . import jit
from .codegen import ModuleCompiler
from .instance import NativeInstance
from .layout import ENTRY_TYPE

_dump_counter = itertools.count()


class CompiledModule:
    """A module compiled by the llvm tier.  Immutable; :meth:`instantiate` binds it to a
    runtime instance (each instance gets its own vmctx, the machine code is shared)."""

    def __init__(self, module, info=None, fuel: bool = False, epoch: bool = False):
        self.module = module
        self.info = info
        self.fuel = fuel            # code charges the store's fuel (runtime/metering.py)
        self.epoch = epoch          # code checks the store's epoch deadline
        self.func_types = module.func_types()
        self.nimported = module.num_imported(FUNC)
        mc = ModuleCompiler(module, fuel, epoch)
        ir = mc.compile()
        dump = os.environ.get("WASMFORGE_LLVM_DUMP")
        if dump:
            os.makedirs(dump, exist_ok=True)
            n = next(_dump_counter)
            with open(os.path.join(dump, f"{n}.ll"), "w") as fh:
                fh.write(ir)
            with open(os.path.join(dump, f"{n}.opt.ll"), "w") as fh:
                fh.write(jit.optimized_ir(ir))
        self.entry_of = mc.entry_of
        self._engine, self._llmod = jit.compile_ir(ir)
        n = len(module.funcs)
        table = self._engine.get_global_value_address("wf_funcs")
        self.func_addrs = [ctypes.c_void_p.from_address(table + 8 * j).value for j in range(n)]
        self.entries = [ENTRY_TYPE(self._engine.get_function_address(f"wf_entry{k}"))
                        for k in range(len(mc.signatures))]

    def instantiate(self, inst) -> list:
        """Bind the compiled code to the runtime instance ``inst``; return one callable per
        defined function, in ``module.funcs`` order."""
        native = NativeInstance(self, inst)
        return native.funcs


def compile_module(module, info=None, fuel: bool = False, epoch: bool = False) -> CompiledModule:
    """Compile the validated ``module`` for the llvm tier (see :class:`CompiledModule`);
    ``fuel=True`` meters execution with the store's fuel and ``epoch=True`` checks the store's
    epoch deadline, at the same points as the interp tier (runtime/metering.py).
    Raises :class:`~wasmforge.llvm.UnsupportedError` for a feature not compiled yet."""
    return CompiledModule(module, info, fuel, epoch)
