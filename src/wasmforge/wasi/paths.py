"""Capability-safe path resolution: the only way a guest path reaches the host file system.

Every guest path is resolved *relative to a directory file descriptor* that the guest holds
(a preopen, or a directory opened through one), and can never name anything outside that
directory.  The host kernel is never asked to resolve more than one path component at a
time and never follows a symbolic link by itself:

* the path is split on ``/`` and walked component by component with
  ``openat(dirfd, component, O_DIRECTORY | O_NOFOLLOW)``;
* ``..`` pops the walk's own stack of opened directories (never the host's notion of the
  parent), so it cannot rise above the starting directory: trying to is ``EPERM``;
* an absolute path, or a symbolic link whose target is absolute, is ``EPERM``;
* a symbolic link met on the way (or as the last component when the caller follows links) is
  read with ``readlinkat`` and its target spliced into the components still to walk, at most
  :data:`MAX_SYMLINKS` times (``ELOOP``);
* the caller then acts on the last component with a ``*at`` call on the final directory fd
  and a single name, with ``AT_SYMLINK_NOFOLLOW`` / ``O_NOFOLLOW``.

Because each step opens with ``O_NOFOLLOW`` relative to an fd already inside the sandbox, a
directory swapped for a symbolic link between two steps (a race) is seen as a link and
resolved by the rules above, never by the kernel.  This is the discipline of cap-std, which
wasmtime uses, and of the WASI filesystem path-resolution document.

**The cache is out of reach.**  wasmforge's cache holds code the host will execute
(``_cache.py``), so no guest may enter it, whatever directories it was granted: a walk that
starts in, or opens, a directory whose identity ``(st_dev, st_ino)`` is a cache root
(:func:`wasmforge._cache.guarded_dirs`), or whose last component is one, fails with
``EACCES``; so does renaming a directory on the way to a cache root, or renaming, deleting or
otherwise acting on a symbolic link on the way to one (``~/.cache`` a link elsewhere), which
would let a guest move the cache away and plant its own.  Identities, not names, are compared, so
symbolic links, hard-to-spot spellings and a root moved by ``WASMFORGE_CACHE_DIR`` are all
covered (not a second mount of the cache's file system, or a bind mount of the cache, which
only an administrator can make).  ``EACCES`` ("permission denied") rather than the ``EPERM`` used above for escapes:
the path does lie inside the granted directory, and the host denies access to it, as file
permissions would.
"""

from __future__ import annotations

import errno as _errno
import os
import stat as _stat

from .. import _cache
from .._log import get_logger
from .abi import Errno

#: WASI capability denials (docs/observability.md): a path refused for leaving its
#: preopened directory or reaching the cache, a descriptor used without the rights it needs.
#: At INFO, so silent unless the host configures logging.
log = get_logger("wasmforge.wasi")

#: symbolic links expanded while resolving one path before giving up with ELOOP (Linux's limit)
MAX_SYMLINKS = 40

_WALK_FLAGS = getattr(os, "O_PATH", os.O_RDONLY) | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class WasiErrno(Exception):
    """Internal: a preview1 function fails with ``errno`` (an :class:`Errno`)."""

    __slots__ = ("errno",)

    def __init__(self, errno: int):
        super().__init__(errno)
        self.errno = errno


def decode_path(raw: bytes) -> str:
    """A guest path as the host's ``str`` (``EILSEQ`` if not UTF-8, ``EINVAL`` for a NUL)."""
    if b"\0" in raw:
        raise WasiErrno(Errno.INVAL)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise WasiErrno(Errno.ILSEQ) from None


def _readlink(name: str, dirfd: int):
    """The target of ``name`` if it is a symbolic link, else None."""
    try:
        return os.readlink(name, dir_fd=dirfd)
    except OSError:
        return None


class Resolved:
    """The outcome of resolving a path: a directory fd inside the sandbox and one name in it.

    ``name`` is a single component (``"."`` when the path names the directory itself);
    ``must_dir`` says the path ended with ``/``, so it may only name a directory.  Use as a
    context manager: the directories opened on the way are closed on exit."""

    __slots__ = ("dirfd", "name", "must_dir", "_opened")

    def __init__(self, dirfd: int, name: str, must_dir: bool, opened: list):
        self.dirfd = dirfd
        self.name = name
        self.must_dir = must_dir
        self._opened = opened

    def __enter__(self) -> "Resolved":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        opened, self._opened = self._opened, []
        for fd in opened:
            os.close(fd)


# Directory identity -> whether it is or lies below a cache root (see _inside_guarded).
_inside: dict = {}


def _inside_guarded(fd: int, ident: tuple, guarded: frozenset) -> bool:
    """Whether the directory ``fd`` (identity ``ident``) is a cache root or lies below one (a
    preopen granted inside the cache).  Walks ``..`` up to ``/`` once per directory, then
    remembers."""
    if ident in guarded:
        return True
    known = _inside.get((guarded, ident))
    if known is not None:
        return known
    inside = False
    cur = os.open("..", _WALK_FLAGS, dir_fd=fd)
    try:
        here = ident
        while True:
            pst = os.fstat(cur)
            parent = (pst.st_dev, pst.st_ino)
            if parent in guarded:
                inside = True
                break
            if parent == here:              # "/" is its own parent
                break
            here = parent
            up = os.open("..", _WALK_FLAGS, dir_fd=cur)
            os.close(cur)
            cur = up
    finally:
        os.close(cur)
    _inside[(guarded, ident)] = inside
    return inside


def _identity(fd: int) -> tuple:
    st = os.fstat(fd)
    return (st.st_dev, st.st_ino)


def _refuse_guarded(dirfd: int, name: str, guarded: frozenset, ancestors: frozenset,
                    moving: bool) -> None:
    """EACCES if the last component ``name`` (in ``dirfd``, a directory on the way to a
    cache root) is a cache root, a symbolic link on the way to one, or, when the caller is
    ``moving`` it, a directory on the way to one."""
    if name == ".":
        return
    try:
        st = os.stat(name, dir_fd=dirfd, follow_symlinks=False)
    except OSError:
        return                  # nothing there: the caller reports what it finds
    ident = (st.st_dev, st.st_ino)
    if ident in guarded or (ident in ancestors and (moving or _stat.S_ISLNK(st.st_mode))):
        log.info("denied: %r is, or leads to, wasmforge's cache", name)
        raise WasiErrno(Errno.ACCES)


def refuse_cache_dir(fd: int) -> None:
    """EACCES if the directory ``fd`` is a cache root or lies below one: a preopen granted
    there may not even list the cache (``fd_readdir``); paths below it are refused by
    :func:`resolve`."""
    guarded, _ = _cache.guarded_dirs()
    if guarded and _inside_guarded(fd, _identity(fd), guarded):
        log.info("denied: a preopened directory inside wasmforge's cache")
        raise WasiErrno(Errno.ACCES)


def resolve(base: int, path: str, follow: bool, moving: bool = False) -> Resolved:
    """Resolve ``path`` below the directory fd ``base``.

    ``follow``: whether a symbolic link in the last component is followed.  Every other
    component must be (or link to) a directory.  ``moving``: the caller renames the last
    component (a directory holding the cache may not be moved).  Raises :class:`WasiErrno`
    or ``OSError``; ``EACCES`` for any path into the cache (see the module's docstring)."""
    if not path:
        raise WasiErrno(Errno.NOENT)
    if path[0] == "/":
        log.info("denied: absolute path %r (a path is relative to a preopened directory)", path)
        raise WasiErrno(Errno.PERM)
    guarded, ancestors = _cache.guarded_dirs()
    if guarded:
        here = _identity(base)
        if _inside_guarded(base, here, guarded):
            log.info("denied: %r below a directory inside wasmforge's cache", path)
            raise WasiErrno(Errno.ACCES)
        # For base and each directory of the stack: its identity while the walk is on the way
        # to a cache root (a directory in `ancestors`), else None.  A walk enters a directory
        # only from its parent, so only a step from a directory on the way can enter a root,
        # and below a directory off the way there is nothing to check: ordinary walks cost
        # one fstat (of base), not one per component.
        idents = [here if here in ancestors else None]
    must_dir = path[-1] == "/"
    if must_dir:
        follow = True           # POSIX: a trailing slash resolves a final symlink
    pending = [c for c in reversed(path.split("/")) if c and c != "."]
    stack: list[int] = []       # directories opened by this walk, innermost last
    cur = base
    links = 0
    try:
        while pending:
            comp = pending.pop()
            if comp == "..":
                if not stack:
                    log.info("denied: %r leaves its preopened directory", path)
                    raise WasiErrno(Errno.PERM)     # would leave the capability's directory
                os.close(stack.pop())
                cur = stack[-1] if stack else base
                if guarded:
                    idents.pop()
                continue
            if not pending:
                target = _readlink(comp, cur) if follow else None
                if target is None:
                    # Only a directory on the way to a cache root can hold one, or a link
                    # or directory on the way to one: look at the last component only then.
                    if guarded and idents[-1] is not None:
                        _refuse_guarded(cur, comp, guarded, ancestors, moving)
                    return Resolved(cur, comp, must_dir, stack)
            else:
                try:
                    fd = os.open(comp, _WALK_FLAGS, dir_fd=cur)
                except OSError as exc:
                    if exc.errno not in (_errno.ENOTDIR, _errno.ELOOP):
                        raise
                    target = _readlink(comp, cur)
                    if target is None:
                        raise
                else:
                    stack.append(fd)
                    cur = fd
                    if guarded:
                        here = None
                        if idents[-1] is not None:
                            here = _identity(fd)
                            if here in guarded:
                                log.info("denied: %r enters wasmforge's cache", path)
                                raise WasiErrno(Errno.ACCES)    # the walk entered the cache
                            if here not in ancestors:
                                here = None
                        idents.append(here)
                    continue
            # `comp` is a symbolic link to expand: splice its target into the walk.
            links += 1
            if links > MAX_SYMLINKS:
                raise WasiErrno(Errno.LOOP)
            if not target or target[0] == "/":
                if target:
                    log.info("denied: %r follows a symbolic link to the absolute path %r", path, target)
                raise WasiErrno(Errno.PERM if target else Errno.NOENT)
            if target[-1] == "/" and not pending:
                must_dir = True
            pending.extend(c for c in reversed(target.split("/")) if c and c != ".")
        return Resolved(cur, ".", must_dir, stack)
    except BaseException:
        for fd in stack:
            os.close(fd)
        raise
