"""The on-disk cache shared by both tiers, and the trust boundary around it.

A cache entry is code this process will execute: a marshalled Python code object (interp tier)
or machine code (llvm tier).  Whoever can write an entry can run code as the user, so the
cache is guarded (docs/security.md, "Caches and artifacts"):

* **Location.**  ``$WASMFORGE_CACHE_DIR``, else ``$XDG_CACHE_HOME/wasmforge``, else
  ``~/.cache/wasmforge``; ``WASMFORGE_CACHE=off`` (or ``0``, ``no``) disables it.  One folder
  per tier below the root (``interp/``, ``llvm/``).
* **Private folders.**  The root and the tier folders are created with mode 0700.  A root or
  folder that is not owned by this user, or that group or others may write, is not used: the
  cache is off for this process (one warning line on stderr says why and how to fix it).
* **Authenticated entries.**  Each entry starts with an HMAC-SHA256 of the folder name, the
  entry's name and its contents under a per-user secret key (``<root>/key``, 32 random bytes,
  mode 0600).  An entry that was changed, truncated, written without the key, or moved under
  another name does not verify; an entry not owned by this user or writable by group or others
  is refused before it is read.  A refused entry is deleted and its code made again: it is
  never executed.  The key file itself must be a 32-byte regular file owned by this user with
  no group or other permission bits; otherwise the cache is off (with a warning).
* **Atomic writes.**  An entry is written under a temporary name in its folder and renamed
  into place, so concurrent processes see either nothing or a whole entry; the key is made
  the same way with ``os.link`` (which fails if the name exists), so racing processes agree
  on the first key written.
* **Locks.**  ``<name>.lock`` files of a folder hold nothing; ``flock`` on them serialises
  what several processes do to one entry (:meth:`Folder.lock`: the llvm tier's pack of
  optimised batches, read, merged and written again) or caps how many processes do
  something at once (the background recompiles: a few numbered locks).
* **Size bound.**  Each tier's folder is kept under ``WASMFORGE_CACHE_MAX_MB`` megabytes
  (default 512): when a process's writes bring the folder above it, the least recently used
  entries (by access time, which a hit refreshes when it is over a minute old) are deleted.

What this does not protect against: the user themself (or anyone who can act as the user,
read the key and write the folder) can always run code as that user.  The WASI layer keeps
guests out of the cache directory whatever directories they were granted
(:func:`guarded_dirs`, ``wasi/paths.py``).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import stat as _stat
import sys
import threading
import time
from typing import Optional

try:
    import fcntl
except ImportError:         # (Emscripten: one process, nothing to lock against)
    fcntl = None  # type: ignore[assignment]
try:
    import mmap
except ImportError:         # (a platform without it: entries are read)
    mmap = None  # type: ignore[assignment]

#: bytes of the HMAC-SHA256 tag that starts every entry
TAG_SIZE = 32
# Payloads from this size on are authenticated without being copied behind the tag's prefix.
_STREAM_BYTES = 1 << 16
#: entries from this size on are mapped, not read, by ``Folder.load(entry, mapped=True)``
MAP_BYTES = 1 << 20
#: bytes of the secret key
KEY_SIZE = 32
KEY_NAME = "key"
#: default of WASMFORGE_CACHE_MAX_MB, per tier folder
DEFAULT_MAX_MB = 512
#: seconds after which a leftover temporary file (of a process that died) is deleted
STALE_TMP = 3600
#: seconds after which the WASI guard looks at the cache roots again (guarded_dirs)
GUARD_RECHECK = 1.0
# Bumped when the entry format changes: older entries then fail to verify and are replaced.
_DOMAIN = b"wasmforge-cache-v1\0"

_lock = threading.Lock()
# Emscripten's os module (Pyodide) has getuid but no geteuid: one user, no setuid programs,
# so the real uid is the effective one there.
_geteuid = getattr(os, "geteuid", None) or os.getuid


def _new_lock_after_fork() -> None:
    # A forked child (llvm/compiler.py's optimising recompile) has only the forking thread;
    # a lock another thread held at the fork would stay held forever in the child.
    global _lock
    _lock = threading.Lock()


os.register_at_fork(after_in_child=_new_lock_after_fork)
_roots: dict = {}           # root path -> (key bytes or None, reason it is unusable or None)
_folders: dict = {}         # folder path -> whether it is usable
_sizes: dict = {}           # folder path -> bytes this process believes the folder holds
_warned = False


def enabled() -> bool:
    """Whether the cache is on (``WASMFORGE_CACHE`` is not ``off``/``0``/``no``)."""
    return os.environ.get("WASMFORGE_CACHE", "").lower() not in ("off", "0", "no")


def default_root() -> str:
    """Where the cache lives when ``WASMFORGE_CACHE_DIR`` is not set."""
    return os.path.join(os.environ.get("XDG_CACHE_HOME")
                        or os.path.join(os.path.expanduser("~"), ".cache"), "wasmforge")


def root_path() -> str:
    """The configured cache root (whether or not the cache is on or usable)."""
    return os.path.abspath(os.environ.get("WASMFORGE_CACHE_DIR") or default_root())


def max_bytes() -> int:
    """The size bound of each tier's folder (``WASMFORGE_CACHE_MAX_MB``, default 512)."""
    try:
        return max(0, int(float(os.environ.get("WASMFORGE_CACHE_MAX_MB", DEFAULT_MAX_MB))
                          * 1024 * 1024))
    except ValueError:
        return DEFAULT_MAX_MB * 1024 * 1024


def _create_tmp(folder: str):
    """(fd, path) of a new private file (mode 0600) with a unique temporary name in
    ``folder``.  Not tempfile.mkstemp: importing tempfile costs more than a warm cache hit."""
    while True:
        path = os.path.join(folder, f"{os.getpid()}-{os.urandom(6).hex()}.tmp")
        try:
            return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                           | os.O_CLOEXEC, 0o600), path
        except FileExistsError:
            continue


def _warn(message: str) -> None:
    # One line per process: a user running many modules wants to know once, not per module.
    global _warned
    if not _warned:
        _warned = True
        print(f"wasmforge: warning: {message}", file=sys.stderr)


def _unsafe(st, path: str) -> Optional[str]:
    """Why the directory with status ``st`` may not hold cache entries, or None."""
    if not _stat.S_ISDIR(st.st_mode):
        return f"{path} is not a directory"
    if st.st_uid != _geteuid():
        return f"{path} is owned by uid {st.st_uid}, not by this user"
    if st.st_mode & 0o022:
        return f"{path} is writable by group or others (chmod go-w {path})"
    return None


def _make_dir(path: str) -> Optional[str]:
    """Create ``path`` (mode 0700) unless it exists; why it is unusable, or None."""
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    except FileNotFoundError:
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            os.mkdir(path, 0o700)
        except FileExistsError:
            pass
        except OSError as exc:
            return f"cannot create {path}: {exc.strerror or exc}"
    except OSError as exc:
        return f"cannot create {path}: {exc.strerror or exc}"
    try:
        return _unsafe(os.stat(path), path)
    except OSError as exc:
        return f"cannot use {path}: {exc.strerror or exc}"


def _read_key(path: str):
    """The key stored at ``path``; None if there is none; raise ValueError if it is unsafe."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ValueError(f"cannot read the cache key {path}: {exc.strerror or exc}") from None
    try:
        st = os.fstat(fd)
        if not _stat.S_ISREG(st.st_mode) or st.st_uid != _geteuid() or st.st_mode & 0o077:
            raise ValueError(f"the cache key {path} must be a file owned by this user with mode "
                             "0600 (delete it to make a new one)")
        key = os.read(fd, KEY_SIZE + 1)
    finally:
        os.close(fd)
    if len(key) != KEY_SIZE:
        raise ValueError(f"the cache key {path} is damaged (delete it to make a new one)")
    return key


def _link(src: str, dst: str) -> None:
    """``os.link(src, dst)`` where the OS has it.  Emscripten (Pyodide) has no link(); its
    filesystem belongs to this one process, so nothing races for ``dst``, and copying ``src``
    into a new file made with O_EXCL keeps link()'s rule that an existing ``dst`` wins."""
    if hasattr(os, "link"):
        os.link(src, dst)
        return
    with open(src, "rb") as fh:
        data = fh.read()
    fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)


def _make_key(root: str) -> bytes:
    path = os.path.join(root, KEY_NAME)
    key = _read_key(path)
    if key is not None:
        return key
    # Written whole under a temporary name (mode 0600), then linked into place:
    # link() fails if the name exists, so of racing processes the first one wins and the
    # others read its key, never a partial one.
    fd, tmp = _create_tmp(root)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(os.urandom(KEY_SIZE))
            fh.flush()
            os.fsync(fh.fileno())
        try:
            _link(tmp, path)
        except FileExistsError:
            pass
    finally:
        os.unlink(tmp)
    key = _read_key(path)
    if key is None:
        raise ValueError(f"the cache key {path} vanished while it was made")
    return key


def _root_key(root: str):
    """(key, root) for the usable cache root ``root``; (None, None) when it is unusable."""
    state = _roots.get(root)
    if state is None:
        with _lock:
            state = _roots.get(root)
            if state is None:
                reason = _make_dir(root)
                key = None
                if reason is None:
                    try:
                        key = _make_key(root)
                    except ValueError as exc:
                        reason = str(exc)
                    except OSError as exc:
                        reason = f"cannot make the cache key in {root}: {exc.strerror or exc}"
                state = _roots[root] = (key, reason)
    if state[1] is not None:
        _warn(f"not using the cache: {state[1]}")
        return None, None
    return state[0], root


class Folder:
    """One tier's folder of the cache (``<root>/<name>``), or a disabled stand-in.

    Get one with :func:`folder` whenever an entry is looked up or stored: it follows the
    environment (``WASMFORGE_CACHE``, ``WASMFORGE_CACHE_DIR``) of the moment."""

    __slots__ = ("name", "path", "_key")

    def __init__(self, name: str, path: Optional[str], key: Optional[bytes]):
        self.name = name
        self.path = path
        self._key = key

    def __bool__(self) -> bool:
        return self.path is not None

    def _tag(self, entry: str, payload: bytes) -> bytes:
        # Bound to the folder and the entry's name: an authentic entry copied under another
        # name (another function, another tier) does not verify.  hmac.digest is OpenSSL's
        # one-shot HMAC: a few microseconds, where hmac.new costs several times that.
        prefix = _DOMAIN + self.name.encode() + b"\0" + entry.encode() + b"\0"
        if len(payload) >= _STREAM_BYTES:
            # The same tag without a copy of the payload behind the prefix (a pack of
            # yosys's batches is 31 MB: read, then copied twice, on every warm run).
            mac = hmac.new(self._key, prefix, "sha256")
            mac.update(payload)
            return mac.digest()
        return hmac.digest(self._key, prefix + payload, "sha256")

    def load(self, entry: str, mapped: bool = False):
        """The payload stored as ``entry``, or None (missing, or refused and deleted).

        ``mapped``: a large payload (from :data:`MAP_BYTES`) comes as a read-only
        ``memoryview`` of the entry's file mapped into memory instead of ``bytes`` read from
        it: no copy of it is made, nor memory of its size taken (the Go benchmark program's
        pack is 15 MB, read on every warm run: its copy and the page faults of fresh memory
        for it were about a tenth of the run's CPU).  The payload is authenticated in the
        mapping, as read; where the file cannot be mapped (a filesystem without ``mmap``, no
        address space left) it is read.

        What the HMAC covers is the file's content at the check: the view's pages are read
        from the file whenever they are used afterwards (the pack's batches bound on their
        first call, its images read again to walk a trap's stack, for as long as the module
        lives), and a private mapping would not keep them either (Linux shows a private
        mapping's unwritten pages as the file is now).  The cache itself never writes an entry
        in place (:meth:`store` writes a new file and renames it over the old one; eviction
        and :meth:`discard` unlink), so a mapping keeps the inode it authenticated.  A process
        that writes the file in place changes code after its check, and one that truncates it
        kills a process using the view (SIGBUS): both take write access to a file of a 0700
        folder owned by the user, that is the user or someone acting as them, which the HMAC
        is not a defence against anyway (see above)."""
        if self.path is None:
            return None
        try:
            fd = os.open(os.path.join(self.path, entry), os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            return None
        raw = None
        try:
            st = os.fstat(fd)
            # Refused before a byte is read: another user's entry, or one others may change.
            if _stat.S_ISREG(st.st_mode) and st.st_uid == _geteuid() \
                    and not st.st_mode & 0o022:
                whole = None
                if mapped and st.st_size >= MAP_BYTES and mmap is not None:
                    # (its pages mapped at once: cheaper than a fault for each stretch of them)
                    flags = mmap.MAP_SHARED | getattr(mmap, "MAP_POPULATE", 0)
                    try:
                        whole = memoryview(mmap.mmap(fd, st.st_size, flags, mmap.PROT_READ))
                    except (OSError, ValueError):
                        pass        # (read instead: a miss here would recompile every run)
                if whole is not None:
                    tag, raw = bytes(whole[:TAG_SIZE]), whole[TAG_SIZE:]
                else:
                    # The tag apart from the payload, so that the payload is read as it is
                    # returned (slicing it off a whole read copied it: 31 MB for a big pack).
                    tag = os.read(fd, TAG_SIZE)
                    chunks = []
                    while True:
                        chunk = os.read(fd, max(st.st_size + 1 - len(tag), 65536))
                        if not chunk:
                            break
                        chunks.append(chunk)
                    raw = b"".join(chunks) if len(chunks) != 1 else chunks[0]
                # Mark it used (LRU eviction), keeping the modification time; a minute's
                # precision is plenty and saves an inode write on most hits.
                now = time.time_ns()
                if now - st.st_atime_ns > 60_000_000_000:
                    os.utime(fd, ns=(now, st.st_mtime_ns))
        except OSError:
            return None
        finally:
            os.close(fd)
        if raw is not None and len(tag) == TAG_SIZE:
            if hmac.compare_digest(self._tag(entry, raw), tag):
                return raw
        self.discard(entry)
        return None

    def discard(self, entry: str) -> None:
        """Delete ``entry`` (a refused one: never executed, made again by the caller)."""
        try:
            os.unlink(os.path.join(self.path, entry))
        except OSError:
            pass

    def lock(self, name: str, wait: bool = True) -> Optional[int]:
        """A file descriptor holding an exclusive ``flock`` of ``<folder>/<name>.lock`` (made
        if need be), or None: the cache is off, the lock cannot be made, or (``wait=False``)
        another process holds it.  Closing the descriptor releases it — in every process
        that has it: a child given it keeps the lock after this one closes its copy.  On a
        filesystem without locks the descriptor comes unlocked (nothing is serialised or
        capped there, as before there were locks)."""
        if self.path is None or fcntl is None:
            return None
        try:
            fd = os.open(os.path.join(self.path, name + ".lock"),
                         os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        except OSError:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            os.close(fd)
            return None
        except OSError:
            # A filesystem without locks (ENOLCK, some network ones): nothing can be
            # serialised or capped there, so the caller goes on as if it held the lock.
            pass
        return fd

    def store(self, entry: str, payload: bytes) -> None:
        """Store ``payload`` as ``entry`` (atomically), then keep the folder under its bound.
        Failures are ignored: the cache is an optimisation only."""
        if self.path is None:
            return
        try:
            fd, tmp = _create_tmp(self.path)
        except FileNotFoundError:
            # The folder was deleted (say, `rm -rf ~/.cache/wasmforge`): make it again, and
            # the key with it, on the next lookup.
            reset()
            return
        except OSError:
            return
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(self._tag(entry, payload))
                fh.write(payload)
            os.replace(tmp, os.path.join(self.path, entry))
        except OSError:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            return
        limit = max_bytes()
        # The folder is scanned on this process's first write and whenever its own count
        # passes the bound, not on every write (a module stores one entry per function).
        with _lock:
            size = _sizes.get(self.path)
            if size is not None:
                size = _sizes[self.path] = size + len(payload) + TAG_SIZE
        if size is None or size > limit:
            try:
                total = evict(self.path, limit)
            except OSError:
                return
            with _lock:
                _sizes[self.path] = total


def folder(name: str) -> Folder:
    """The tier folder ``name`` of the cache, created if need be; a false :class:`Folder`
    when the cache is off or unusable."""
    if not enabled():
        return Folder(name, None, None)
    key, root = _root_key(root_path())
    if key is None:
        return Folder(name, None, None)
    path = os.path.join(root, name)
    ok = _folders.get(path)
    if ok is None:
        reason = _make_dir(path)
        if reason is not None:
            _warn(f"not using the {name} cache: {reason}")
        ok = _folders[path] = reason is None
    return Folder(name, path if ok else None, key)


def evict(path: str, limit: int) -> int:
    """Delete the least recently used entries of the folder ``path`` until it holds at most
    ``limit`` bytes, and temporary files older than an hour (left by a process that died);
    return the bytes it still holds."""
    entries, total, now = [], 0, time.time()
    with os.scandir(path) as it:
        for e in it:
            try:
                st = e.stat(follow_symlinks=False)
                if e.name.endswith(".tmp"):
                    if now - st.st_mtime > STALE_TMP:
                        os.unlink(e.path)
                elif e.name.endswith(".lock"):
                    continue        # empty; deleting one held would let two processes in
                elif _stat.S_ISREG(st.st_mode):
                    entries.append((st.st_atime, st.st_size, e.path))
                    total += st.st_size
                elif _stat.S_ISDIR(st.st_mode) and len(e.name) == 2:
                    _remove_old_layout(e.path)
            except OSError:
                continue            # removed by another process meanwhile
    entries.sort()
    for _, size, entry in entries:
        if total <= limit:
            break
        try:
            os.unlink(entry)
        except OSError:
            pass
        total -= size
    return total


def _remove_old_layout(path: str) -> None:
    """Delete a ``<2 hex digits>/`` folder of the interp tier's layout before the shared
    cache (unauthenticated entries, never read again)."""
    with os.scandir(path) as it:
        for e in it:
            if e.is_file(follow_symlinks=False) or e.is_symlink():
                os.unlink(e.path)
    os.rmdir(path)


def guarded_dirs() -> tuple:
    """``(guarded, ancestors)``: the identities ``(st_dev, st_ino)`` of the cache roots no
    guest may enter (the configured root and the default one), and of the directories and
    symbolic links on the way to them (which no guest may rename, nor delete a link of, lest
    it move the cache away and plant another where a later run would look).

    The roots are created (empty, mode 0700) if missing, even with the cache off: a directory
    a guest could create there would otherwise be trusted by a later run."""
    # Called on every WASI path resolution: keyed by the raw settings, so that a hit costs a
    # few dictionary lookups (the paths below need expanduser and abspath).
    env = os.environ
    settings = (env.get("WASMFORGE_CACHE_DIR"), env.get("XDG_CACHE_HOME"), env.get("HOME"))
    if not all(os.path.isabs(v) for v in settings if v):
        settings += (os.getcwd(),)
    state = _guards.get(settings)
    now = time.monotonic()
    # Looked at again every second: another process may delete the cache and make it anew
    # (a new identity) while this one runs guests.
    if state is None or now - state[2] > GUARD_RECHECK:
        paths = tuple(dict.fromkeys((root_path(), os.path.abspath(default_root()))))
        guarded, ancestors = set(), set()
        for root in paths:
            try:
                if not os.path.isdir(root):
                    _make_dir(root)
                st = os.stat(root)
            except OSError:
                continue
            guarded.add((st.st_dev, st.st_ino))
            # Every directory on the way to the root, as written and as resolved, and every
            # symbolic link on the way (renaming or deleting one moves the cache away too).
            for start in (root, os.path.realpath(root)):
                here = start
                while True:
                    for follow in (False, True):
                        try:
                            pst = os.stat(here, follow_symlinks=follow)
                        except OSError:
                            continue
                        if (pst.st_dev, pst.st_ino) not in guarded:
                            ancestors.add((pst.st_dev, pst.st_ino))
                    parent = os.path.dirname(here)
                    if parent == here:
                        break
                    here = parent
        state = _guards[settings] = (frozenset(guarded), frozenset(ancestors), now)
    return state[0], state[1]


_guards: dict = {}


def reset() -> None:
    """Forget what this process learnt about cache folders (for tests that change them)."""
    global _warned
    with _lock:
        _roots.clear()
        _folders.clear()
        _sizes.clear()
        _guards.clear()
        _warned = False



#: what :func:`prefetch_digest` began: (the bytes, the thread, [their digest])
_pending_digest: Optional[tuple] = None
#: binaries from this size on are hashed on a thread of their own by :func:`prefetch_digest`
PREFETCH_DIGEST_BYTES = 1 << 20


def prefetch_digest(data: bytes) -> None:
    """Begin :func:`digest` of ``data`` (a ``bytes`` of :data:`PREFETCH_DIGEST_BYTES` or more)
    on a thread of its own, for the next :func:`digest` of this very object to take.
    ``wasmforge run`` begins it as soon as it has read a module, so that the module's SHA-256
    (the module cache's key: 6.5 ms for the Go benchmark program's 8 MB, in C, without the
    GIL) is computed while the rest of the run's code is imported."""
    global _pending_digest
    if type(data) is not bytes or len(data) < PREFETCH_DIGEST_BYTES:
        return
    out: list = []
    thread = threading.Thread(target=lambda: out.append(hashlib.sha256(data).digest()),
                              name="wasmforge-digest", daemon=True)
    try:
        thread.start()
    except RuntimeError:        # (no thread to be had: digest computes it when asked)
        return
    _pending_digest = (data, thread, out)


def digest(data) -> bytes:
    """The SHA-256 of ``data``: what :func:`prefetch_digest` began for this very object when
    it did (``bytes`` cannot change), else computed now."""
    global _pending_digest
    pending = _pending_digest
    if pending is not None and pending[0] is data:
        _pending_digest = None
        pending[1].join()
        if pending[2]:
            return pending[2][0]
    return hashlib.sha256(data).digest()


def files_stamp(folder: str, names, *extra: str) -> bytes:
    """The size and modification time of each file ``names`` (relative to ``folder``), with
    ``extra`` strings first: part of a cache key, so that an entry made by other code (another
    version of the files that produced it) is never used."""
    parts = list(extra)
    for name in names:
        try:
            st = os.stat(os.path.join(folder, name))
            parts.append(f"{name}:{st.st_size}:{st.st_mtime_ns}")
        except OSError:
            parts.append(f"{name}:-")
    return "\0".join(parts).encode()

__all__ = ["Folder", "folder", "enabled", "root_path", "default_root", "max_bytes", "evict", "files_stamp",
           "digest", "prefetch_digest",
           "guarded_dirs", "reset", "TAG_SIZE", "KEY_SIZE", "DEFAULT_MAX_MB"]
