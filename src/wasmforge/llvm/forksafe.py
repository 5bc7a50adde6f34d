"""Which threads a fork may leave behind.

Baseline code's recompile and the tiered start's compile run in a forked child
(llvm/compiler.py, tiering.py).  A fork copies only the forking thread: a lock another thread
held at that moment (malloc's, the dynamic loader's, LLVM's, an import's) stays held forever
in the child.  So those forks are taken only when no *other* thread can hold such a lock.

wasmforge's own daemon threads (the tier-up readers and watchers, the tiered start's reader,
the SIGINT watcher) are made by :func:`helper_thread`: they wait on a pipe, a process or an
event, and take :data:`FORK_LOCK` for any other work (mapping code with the loader, spawning a
process), and the forks are taken under :data:`FORK_LOCK`.  So they do not count as other
threads (:func:`only_helper_threads`): a process that has compiled and instantiated modules —
a component's dozens of core modules, one after another — still compiles the next module as
the first one was compiled (baseline code first, or the tiered start), not at O2 while it
waits.
"""

from __future__ import annotations

import os
import sys
import threading
import weakref
from typing import Any, Callable, Tuple

#: Held by a helper thread for all its work besides waiting, and by a thread that forks.
FORK_LOCK = threading.Lock()

_helpers: "weakref.WeakSet[threading.Thread]" = weakref.WeakSet()


def helper_thread(target: Callable[..., Any], args: Tuple[Any, ...], name: str) -> threading.Thread:
    """A daemon thread (not started) that waits outside :data:`FORK_LOCK` and works under it."""
    t = threading.Thread(target=target, args=args, name=name, daemon=True)
    _helpers.add(t)
    return t


def is_helper(thread: threading.Thread) -> bool:
    """Whether ``thread`` was made by :func:`helper_thread` (it runs no guest code)."""
    return thread in _helpers


def only_helper_threads() -> bool:
    """Whether every thread of this process besides the calling one is a live helper thread
    (native threads included: ``/proc/self/task``)."""
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:
        return False
    if len(tasks) == 1:
        return True
    ours = {threading.get_native_id()}
    ours.update(t.native_id for t in list(_helpers) if t.is_alive() and t.native_id is not None)
    return all(int(task) in ours for task in tasks)


def die_with_parent(parent: int | None = None) -> None:
    """In a forked child: SIGKILL when the parent's forking thread exits (Linux's
    ``PR_SET_PDEATHSIG``); given the parent's pid, exit now if it is gone already (it may
    have gone before the request was made)."""
    try:
        import ctypes  # (loaded already wherever we fork: the loader maps images with it)
        ctypes.CDLL(None, use_errno=True).prctl(1, 9, 0, 0, 0)      # PR_SET_PDEATHSIG, SIGKILL
    except (OSError, AttributeError):
        pass
    if parent is not None and os.getppid() != parent:
        os._exit(0)


def detach_child(*keep: int) -> None:
    """In a forked child: standard input and output go to ``/dev/null`` (a parent's reader
    waits for EOF on its pipes) and every other inherited descriptor but ``keep`` is closed
    (a pipe given to the parent as fd 3 must see EOF when the parent exits, not when the
    child does)."""
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    kept = sorted(set(keep))
    for low, high in zip([2] + kept, kept + [1 << 16]):
        os.closerange(low + 1, high)


def spawn_python(code: str, env: dict | None = None, pass_fds: Tuple[int, ...] = ()):
    """A fresh ``python`` process running ``code`` (fork+exec: safe from a process with
    threads) with this wasmforge importable, ``env`` added to the environment, its stdin and
    stdout piped and its stderr discarded: the recompiling processes of llvm/compiler.py
    (``recompile_main``) and llvm/lazytier.py."""
    import subprocess  # start-up speed: only a run that computes long spawns one
    full = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    full["PYTHONPATH"] = os.pathsep.join(filter(None, [root, full.get("PYTHONPATH")]))
    full.update(env or {})
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, close_fds=True,
                            pass_fds=pass_fds, env=full)
    _widen_pipe(proc.stdin.fileno())
    return proc


#: fcntl's F_SETPIPE_SZ (Linux), and the size asked for the child's stdin: Linux's default
#: cap for an unprivileged process (/proc/sys/fs/pipe-max-size).
_F_SETPIPE_SZ = 1031
PIPE_BYTES = 1 << 20


def _widen_pipe(fd: int) -> None:
    """Let the parent write :data:`PIPE_BYTES` to the child before the child reads: a warm
    run of the Go benchmark program that spawns a recompiling child at its exit sends it the
    module without bodies (317 KB), and with the default 64 KiB pipe its exit waited for the
    child to start Python and import wasmforge: that send took 65-95 ms, 2-3 ms with this
    pipe (such warm runs took 0.41-0.56 s of wall-clock time for 0.34-0.41 s of CPU).  Where
    the system refuses (another kernel, a lower cap), the pipe stays as it is."""
    if not sys.platform.startswith("linux"):
        return
    import fcntl  # (POSIX only; this runs where a child is spawned)
    try:
        fcntl.fcntl(fd, _F_SETPIPE_SZ, PIPE_BYTES)
    except OSError:
        pass
