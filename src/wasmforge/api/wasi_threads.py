"""wasi-threads: the ``wasi`` ``thread-spawn`` import (programs built for
``wasm32-wasip1-threads``).

A module that imports ``(import "wasi" "thread-spawn" (func (param i32) (result i32)))`` and a
shared memory (``env.memory``) asks the host for a thread with ``thread-spawn(start_arg)``.
The host answers with a fresh thread id (positive, unique, at most ``MAX_TID``) and, on a
new Python thread, instantiates the same module again in a new store of the same engine,
with the same linker (so the same shared memory and WASI context), then calls its export
``wasi_thread_start(tid, start_arg)``.  ``thread-spawn`` returns a negative value when no
thread can be started.

A trap or ``proc_exit`` in any thread ends the whole program (wasmtime's rule): the first
one is recorded as :attr:`WasiThreads.outcome` and handed to the ``on_exit`` callback,
which ``wasmforge run`` uses to end the process with that status.  Without a callback the
other threads keep running; the embedder decides.
"""

from __future__ import annotations

import threading
from typing import Any, Callable, List, Optional, Union

from ..errors import ExitTrap, Trap, WasmError
from ..types import FuncType, MemoryType
from .handles import Module, SharedMemory
from .linker import Linker
from .store import Store

#: the import module and name of wasi-threads' one function
MODULE_NAME = "wasi"
FUNC_NAME = "thread-spawn"
#: the export a spawned thread runs
START_EXPORT = "wasi_thread_start"
#: thread ids are positive and fit in 29 bits (the wasi-threads ABI)
MAX_TID = 0x1FFFFFFF
#: thread-spawn's result when no thread can be started (a negative errno, EAGAIN)
SPAWN_FAILED = -6


def imports_thread_spawn(module: Module) -> bool:
    """Whether ``module`` imports ``wasi::thread-spawn``."""
    return any(imp.module == MODULE_NAME and imp.name == FUNC_NAME for imp in module.imports)


def shared_memory_for(module: Module) -> Optional[SharedMemory]:
    """A SharedMemory of the type of the shared memory ``module`` imports (None if it
    imports none)."""
    for imp in module.imports:
        ty = imp.type
        if isinstance(ty, MemoryType) and ty.is_shared:
            return SharedMemory(module.engine, ty)
    return None


class WasiThreads:
    """Spawns the threads of one module: ``thread-spawn`` defined in ``linker`` (see
    :func:`define_wasi_threads`).  :attr:`outcome` is None, or the first thread's ending
    that ends the program: an :class:`~wasmforge.errors.ExitTrap` or a
    :class:`~wasmforge.errors.Trap`."""

    def __init__(self, linker: Linker, module: Module,
                 on_exit: Optional[Callable[[Union[ExitTrap, Trap, WasmError]], Any]] = None,
                 setup_store: Optional[Callable[[Store], Any]] = None) -> None:
        self.linker = linker
        self.module = module
        self.on_exit = on_exit
        self.setup_store = setup_store
        self.outcome: Optional[WasmError] = None
        self.threads: List[threading.Thread] = []
        self._lock = threading.Lock()
        self._next_tid = 1

    def spawn(self, start_arg: int) -> int:
        """``thread-spawn``: start a thread running ``wasi_thread_start(tid, start_arg)``;
        its id, or a negative value."""
        with self._lock:
            if self._next_tid > MAX_TID or self.outcome is not None:
                return SPAWN_FAILED
            tid = self._next_tid
            self._next_tid += 1
        thread = threading.Thread(target=self._run, args=(tid, start_arg & 0xFFFFFFFF),
                                  name=f"wasi-thread-{tid}", daemon=True)
        try:
            thread.start()
        except RuntimeError:            # the host cannot start another thread
            return SPAWN_FAILED
        self.threads.append(thread)
        return tid

    def _run(self, tid: int, start_arg: int) -> None:
        try:
            store = Store(self.module.engine)
            if self.setup_store is not None:
                self.setup_store(store)
            instance = self.linker.instantiate(store, self.module)
            start = instance.exports(store).get(START_EXPORT)
            if start is None:
                raise WasmError(f"the module exports no `{START_EXPORT}` function for thread {tid}")
            start(store, tid, start_arg)    # an i32 argument: Func takes any int modulo 2**32
        except WasmError as exc:        # ExitTrap and Trap included
            self._finish(exc)

    def _finish(self, exc: WasmError) -> None:
        with self._lock:
            if self.outcome is not None:
                return
            self.outcome = exc
        if self.on_exit is not None:
            self.on_exit(exc)

    def join(self, timeout: Optional[float] = None) -> None:
        """Wait for every thread spawned so far (each for at most ``timeout`` seconds)."""
        for thread in list(self.threads):
            thread.join(timeout)


def define_wasi_threads(linker: Linker, module: Module,
                        on_exit: Optional[Callable[[WasmError], Any]] = None,
                        setup_store: Optional[Callable[[Store], Any]] = None) -> WasiThreads:
    """Define ``wasi::thread-spawn`` in ``linker`` for threads of ``module``; return the
    :class:`WasiThreads` that spawns them.  ``linker`` must also define the module's other
    imports (its shared memory, e.g. ``linker.define(store, "env", "memory",
    shared_memory_for(module))``, and WASI with a fixed context) for every store: each
    thread instantiates ``module`` with it in a new store, which ``setup_store`` (if given)
    prepares first (say, its fuel or epoch deadline)."""
    threads = WasiThreads(linker, module, on_exit, setup_store)

    def thread_spawn(start_arg: int) -> int:
        return threads.spawn(start_arg)

    linker.define_func(MODULE_NAME, FUNC_NAME, FuncType(["i32"], ["i32"]), thread_spawn)
    return threads


__all__ = ["WasiThreads", "define_wasi_threads", "imports_thread_spawn", "shared_memory_for",
           "MODULE_NAME", "FUNC_NAME", "START_EXPORT", "MAX_TID", "SPAWN_FAILED"]
