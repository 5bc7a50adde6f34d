"""What a sampling profiler (``wasmforge.profile``) sees of this tier: the wasm frames a
store is running, read from its shadow stack (llvm/instance.py ``ShadowStack``), which the
generated code keeps for trap backtraces anyway.  Optimised code keeps the stack's height in
registers between the moments something else reads it; the sampler sets the stack's
``sampled`` flag, and while it is set the code stores the height at every call and return
too (codegen.ModuleCompiler.splittable), which costs what it did before registers.

Native code runs with the GIL released, so the profiler's thread reads the stack while the
guest runs; a read races with the pushes and pops, and may see a frame that has just
returned: a sample, not a record.
"""

from __future__ import annotations

from typing import Callable, List, Tuple

from ..binary.offsets import CodeOffsets
from ..module import FUNC
from .copies import split
from .instance import native_of_store


def stack_sampler(store, thread_id: int) -> Callable[[], List[Tuple[object, int]]]:
    """A callable returning the wasm frames running in ``store``, outermost first, as
    ``(CodeOffsets of the module, function index)``.  The shadow stack holds function
    indexes only: they are taken to be those of the store's last instance of a module with
    code (the program; a store running code of several modules on this tier has their
    frames named after that one's functions)."""
    known: list = [None, None, 0]      # the module named last, its CodeOffsets, its function count

    def module_of_store():
        # Looked for from the store's last instance back (per sample: no list of them made).
        module = next((inst.module for inst in reversed(getattr(store, "_instances", ())) if inst.module.funcs),
                      None)
        if module is None:
            return None, 0
        if known[0] is not module:
            known[:] = [module, CodeOffsets(module), module.num_imported(FUNC) + len(module.funcs)]
        return known[1], known[2]

    def sample() -> List[Tuple[object, int]]:
        native = native_of_store(store)
        if native is None or not native.shadows:
            return []
        shadow = native.shadows[-1]
        if not shadow.sampled.value:
            # From the next call and return on, the height is in memory (frames running
            # already show from their next call: a sample, not a record).
            # The flag stays set for the store's life: code running when it would be
            # cleared could return leaving a height its caller does not expect in memory
            # (a store made again from the pool starts without it).
            for sh in native.shadows:
                sh.sampled.value = 1
        height = shadow.height.value
        if height <= 0:
            return []
        offsets, nfuncs = module_of_store()
        entries = shadow.frames(0, height)
        entries.reverse()
        # An inlined copy's entry also names its call (llvm/copies.py): the function is
        # the entry modulo the function count.
        return [(offsets, split(v, nfuncs)[0]) for v in entries]

    return sample
