"""The llvm tier's compiled module: machine code for a module's functions, made once and
shared by every instance.

Debug aid: ``WASMFORGE_LLVM_DUMP=dir`` writes each module's IR (before and after
optimisation) to ``dir/<n>.ll`` / ``dir/<n>.opt.ll``.
"""

from __future__ import annotations

import ctypes
import itertools
import os

from ..errors import WasmError
from ..module import FUNC
from . import jit
from .codegen import ModuleCompiler
from .instance import NativeInstance
from .layout import ENTRY_TYPE

_dump_counter = itertools.count()


class CompiledModule:
    """A module compiled by the llvm tier.  Immutable; :meth:`instantiate` binds it to a
    runtime instance (each instance gets its own vmctx, the machine code is shared).

    ``object_code`` (the machine code as an object file) and ``entry_of`` (per defined
    function, the index of its entry trampoline ``wf_entry<k>``) are what an ahead-of-time
    artifact stores; :meth:`from_object` rebuilds the compiled module from them."""

    def __init__(self, module, info=None, fuel: bool = False, epoch: bool = False):
        self._init(module, info, fuel, epoch)
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
        engine, self._llmod, self.object_code = jit.compile_ir(ir)
        self._bind(engine, mc.entry_of, len(mc.signatures))

    @classmethod
    def from_object(cls, module, object_code: bytes, entry_of: list, fuel: bool = False,
                    epoch: bool = False) -> "CompiledModule":
        """The compiled module whose machine code is ``object_code`` (from a compiled module's
        ``object_code`` with the same ``module``, ``fuel`` and ``epoch``, on a host with the
        same :func:`~wasmforge.llvm.jit.host_description`): no IR generation, no LLVM
        compilation."""
        self = cls.__new__(cls)
        self._init(module, None, fuel, epoch)
        self._llmod = None
        self.object_code = object_code
        self._bind(jit.load_object(object_code), entry_of, max(entry_of, default=-1) + 1)
        return self

    def _init(self, module, info, fuel: bool, epoch: bool) -> None:
        self.module = module
        self.info = info
        self.fuel = fuel            # code charges the store's fuel (runtime/metering.py)
        self.epoch = epoch          # code checks the store's epoch deadline
        self.func_types = module.func_types()
        self.nimported = module.num_imported(FUNC)

    def _bind(self, engine, entry_of: list, nentries: int) -> None:
        """Look up the function table and the entry trampolines in ``engine``'s code."""
        self._engine = engine
        self.entry_of = entry_of
        n = len(self.module.funcs)
        table = engine.get_global_value_address("wf_funcs")
        entries = [engine.get_function_address(f"wf_entry{k}") for k in range(nentries)]
        if (n and not table) or not all(entries):
            # Only reachable with object code that does not belong to this module.
            raise WasmError("the machine code does not match the module (missing symbols)")
        self.func_addrs = [ctypes.c_void_p.from_address(table + 8 * j).value for j in range(n)]
        self.entries = [ENTRY_TYPE(addr) for addr in entries]

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
