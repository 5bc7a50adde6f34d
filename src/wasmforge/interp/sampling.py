"""What a sampling profiler (``wasmforge.profile``) sees of this tier: the wasm frames a
thread is running, read from its Python frames.

Each translated function is a code object compiled under the file name ``<wasm function
N>`` (interp/compiler.py), and its globals are its instance's namespace, where ``LOC`` is
the module's ``CodeOffsets.locate``; so a thread's Python stack tells which wasm functions
it is in, and of which module, without anything recorded while the code runs.
"""

from __future__ import annotations

import sys
from typing import Callable, List, Tuple

_PREFIX = "<wasm function "


def stack_sampler(store, thread_id: int) -> Callable[[], List[Tuple[object, int]]]:
    """A callable returning the wasm frames thread ``thread_id`` is running, outermost
    first, as ``(CodeOffsets of the module, function index)``; called from another thread
    (the profiler's), it costs one walk of the thread's Python stack.  ``store`` is not
    needed: the frames of interp code are the thread's."""
    current_frames = sys._current_frames
    prefix, n = _PREFIX, len(_PREFIX)

    def sample() -> List[Tuple[object, int]]:
        frame = current_frames().get(thread_id)
        out = []
        while frame is not None:
            name = frame.f_code.co_filename
            if name.startswith(prefix):
                locate = frame.f_globals.get("LOC")
                out.append((getattr(locate, "__self__", None), int(name[n:-1])))
            frame = frame.f_back
        out.reverse()
        return out

    return sample
