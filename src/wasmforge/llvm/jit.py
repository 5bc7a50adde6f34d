"""LLVM setup and the optimisation pipeline: IR text in, machine code (an MCJIT engine) out."""

from __future__ import annotations

import ctypes
import os
import threading

import llvmlite.binding as llvm

_lock = threading.Lock()
_ready = False

# O2 through the new pass manager (llvmlite >= 0.44).  WASMFORGE_LLVM_OPT=0..3 overrides it.
OPT_LEVEL = int(os.environ.get("WASMFORGE_LLVM_OPT", "2"))


def _init() -> None:
    global _ready
    with _lock:
        if _ready:
            return
        llvm.initialize_native_target()
        llvm.initialize_native_asmprinter()
        # The entry trampolines and the trap helper call libc's _setjmp/longjmp; resolve them
        # explicitly instead of relying on the JIT's process-wide symbol search.
        libc = ctypes.CDLL(None)
        for name in ("_setjmp", "longjmp"):
            llvm.add_symbol(name, ctypes.cast(getattr(libc, name), ctypes.c_void_p).value)
        _ready = True


def _target_machine():
    target = llvm.Target.from_default_triple()
    return target.create_target_machine(cpu=llvm.get_host_cpu_name(),
                                        features=llvm.get_host_cpu_features().flatten(),
                                        opt=min(OPT_LEVEL, 3), jit=True)


def compile_ir(text: str, name: str = "wasm"):
    """Parse, verify, optimise and compile one IR module; return its execution engine (keep
    it alive as long as any code from it may run)."""
    _init()
    mod = llvm.parse_assembly(text)
    mod.name = name
    mod.verify()
    tm = _target_machine()
    if OPT_LEVEL > 0:
        pto = llvm.create_pipeline_tuning_options(speed_level=OPT_LEVEL)
        pb = llvm.create_pass_builder(tm, pto)
        pb.getModulePassManager().run(mod, pb)
    engine = llvm.create_mcjit_compiler(mod, _target_machine())
    engine.finalize_object()
    return engine, mod


def optimized_ir(text: str) -> str:
    """The optimised IR of ``text`` (a debugging aid: ``WASMFORGE_LLVM_DUMP``)."""
    _init()
    mod = llvm.parse_assembly(text)
    tm = _target_machine()
    pb = llvm.create_pass_builder(tm, llvm.create_pipeline_tuning_options(speed_level=max(OPT_LEVEL, 1)))
    pb.getModulePassManager().run(mod, pb)
    return str(mod)
