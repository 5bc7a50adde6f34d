"""Ctrl-C for native code: SIGINT stops the llvm tier's code as it stops the interp tier's.

Python runs a signal handler only when the main thread is back in the interpreter, and native
wasm code may never come back (``loop br 0``).  So the generated code checks a native
*interrupt cell* at every function entry and loop header (one load and a branch, see
``codegen.FunctionCompiler.check_interrupt``) and traps with ``layout.TRAP_SIGINT`` when it
is set; the entry wrapper turns that trap into ``KeyboardInterrupt`` (unless the Python
handler, which runs as soon as the call returns, raised first: its exception wins).

Who sets the cell while native code runs?  Python's C-level handler writes the signal number
to the *wakeup fd* (``signal.set_wakeup_fd``) from any thread at any time, and ctypes calls
release the GIL: a small daemon thread reads our wakeup pipe and sets the main thread's cell
on SIGINT.  A wakeup fd already installed (asyncio's) is chained: every byte is forwarded to
it.  Only the main thread's cell is ever set, as only the main thread gets KeyboardInterrupt;
other threads point their vmctx at a cell that stays 0.  The cell is set only while SIGINT's
handler is Python's default one (``signal.default_int_handler``, which raises
KeyboardInterrupt): a program with a handler of its own gets it called when the wasm call
returns, as for any long-running C call.

The Python entry clears the cell just before it calls the entry trampoline
(llvm/instance.py): a SIGINT that arrived while Python code ran was already turned into
KeyboardInterrupt by the handler, and must not stop the next call.  (The trampoline did it
until native code of one instance called another's through its trampoline: a SIGINT that
arrived in the caller's loop was then cleared by the next such call, and the loop ran on.)
"""

from __future__ import annotations

import ctypes
import os
import signal
import threading
import time

from .forksafe import FORK_LOCK, helper_thread

# The main thread's cell, and the one every other thread uses (never set: shared is fine, the
# trampolines only ever store 0 into it).
MAIN_CELL = (ctypes.c_uint64 * 1)()
OTHER_CELL = (ctypes.c_uint64 * 1)()
MAIN_ADDR = ctypes.addressof(MAIN_CELL)
OTHER_ADDR = ctypes.addressof(OTHER_CELL)

_lock = threading.Lock()
_state = {"w": -1, "r": -1, "chain": -1, "thread": None}
# When ensure_watcher last asked for the wakeup fd (time.monotonic()), and how long its
# answer is trusted.
_checked = [float("-inf")]
RECHECK_SECONDS = 0.001


def cell_address() -> int:
    """The address of the calling thread's interrupt cell (what the entry puts in vm[INTERRUPT])."""
    return MAIN_ADDR if threading.current_thread() is threading.main_thread() else OTHER_ADDR


def cell():
    """The calling thread's interrupt cell (a one-element ctypes array, what the entry clears)."""
    return MAIN_CELL if threading.current_thread() is threading.main_thread() else OTHER_CELL


def _watch(r: int) -> None:
    while True:
        try:
            data = os.read(r, 512)
        except InterruptedError:
            continue
        except OSError:
            return
        if not data:
            return
        with FORK_LOCK:             # (llvm/forksafe.py)
            _forward(data)


def _forward(data: bytes) -> None:
    """Pass the wakeup bytes on to a chained wakeup fd; on SIGINT set the main thread's cell."""
    chain = _state["chain"]
    if chain >= 0:
        try:
            os.write(chain, data)
        except OSError:
            pass                    # full or closed: the owner's problem, as without us
    if signal.SIGINT in data and signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        MAIN_CELL[0] = 1


def ensure_watcher() -> None:
    """Install the wakeup pipe and its watcher thread (from the main thread; a no-op
    elsewhere).  Called at every llvm-tier instantiation, so that a wakeup fd installed later
    by someone else (then chained) does not cut Ctrl-C off for good."""
    # Asking whether our wakeup fd is still the one installed costs two system calls
    # (set_wakeup_fd checks the fd it is given), a twentieth of a small instantiation: once
    # the pipe is ours, asked at most once per RECHECK_SECONDS.  An fd installed by someone
    # else is then chained from the first instantiation that much after the last check.
    # (Asked first: any thread may return then, the main thread having checked lately.)
    now = time.monotonic()
    if now < _checked[0] + RECHECK_SECONDS and _state["thread"] is not None:
        return
    # (the thread's identity compared, not its Thread object: current_thread() looks it up
    # in a dict)
    if threading.get_ident() != threading.main_thread().ident:
        return
    _checked[0] = now
    with _lock:
        if _state["thread"] is None:
            r, w = os.pipe()
            os.set_blocking(w, False)
            try:
                old = signal.set_wakeup_fd(w, warn_on_full_buffer=False)
            except (ValueError, OSError):     # not the main interpreter: no signals here
                os.close(r)
                os.close(w)
                return
            _state.update(r=r, w=w, chain=old)
            t = helper_thread(_watch, (r,), "wasmforge-sigint")
            _state["thread"] = t
            t.start()
            return
        w = _state["w"]
        try:
            current = signal.set_wakeup_fd(w, warn_on_full_buffer=False)
        except (ValueError, OSError):
            return
        if current != w:
            # Someone installed their own wakeup fd (or removed ours) since: chain to theirs.
            _state["chain"] = current


def _after_fork_in_child() -> None:
    # The thread is gone and the pipe is shared with the parent: start afresh on the next
    # instantiation, chaining to what we chained to (not to our inherited pipe).
    for key in ("r", "w"):
        fd = _state[key]
        if fd >= 0:
            try:
                os.close(fd)
            except OSError:
                pass
    chain = _state["chain"]
    _state.update(r=-1, w=-1, thread=None)
    MAIN_CELL[0] = 0
    try:
        signal.set_wakeup_fd(chain, warn_on_full_buffer=False)
    except (ValueError, OSError):
        pass


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
