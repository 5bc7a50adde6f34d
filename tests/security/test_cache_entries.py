"""Finding 2 and 11: cache entries are code the host runs, so only entries this user's key
signed, under their own name, owned by this user and writable by nobody else are executed;
anything else is deleted and compiled again.  Each tier's folder is bounded in size."""

import hashlib
import hmac
import os
import subprocess
import sys

import pytest

from wasmforge import Instance, Module, Store
from wasmforge import Config, Engine

try:
    from wasmforge import _cache
except ImportError:         # a wasmforge before the shared cache module: the tests must fail
    _cache = None

A = '(module (func (export "f") (param i32) (result i32) (i32.mul (local.get 0) (i32.const 3))))'
B = '(module (func (export "f") (param i32) (result i32) (i32.mul (local.get 0) (i32.const 5))))'


def engine(tier):
    config = Config()
    config.strategy = tier
    return Engine(config)


def f(tier, wat, x=2):
    """``f(x)`` of a fresh Module of ``wat``: its code comes from the cache when it is there."""
    eng = engine(tier)
    store = Store(eng)
    return Instance(store, Module(eng, wat), []).exports(store)["f"](store, x)


def files(root, tier):
    """The module entries of ``tier``'s folder: not the host description the llvm tier keeps
    beside them (``host-*.json``, written by the process's first LLVM compile in a folder,
    so a test run alone met it beside its first entry)."""
    folder = root / tier
    return set(p for p in folder.rglob("*") if p.is_file() and not p.name.endswith(".tmp")
               and not p.name.startswith("host-")) if folder.is_dir() else set()


def entry(root, tier, wat):
    """(path, payload) of the entry made for ``wat`` (compiled now, into the cache)."""
    before = files(root, tier)
    f(tier, wat)
    [path] = files(root, tier) - before
    raw = path.read_bytes()
    if _cache is not None:
        return path, raw[_cache.TAG_SIZE:]
    # The formats before the shared cache module: bare marshal data (interp), object code and
    # its SHA-256 (llvm).
    return path, raw if tier == "interp" else raw[:-32]


@pytest.fixture
def a_and_b(tier, cache_root):
    """A's entry path and B's payload: B's code stored under A's name must never run."""
    _, b_payload = entry(cache_root, tier, B)
    a_path, _ = entry(cache_root, tier, A)
    assert f(tier, A) == 6 and f(tier, B) == 10
    return a_path, b_payload


def assert_refused(tier, a_path):
    assert f(tier, A) == 6                  # A's own code, compiled again
    assert a_path.exists()                  # and stored again, authenticated
    assert f(tier, A) == 6


def test_an_entry_swapped_for_another_entry_is_refused(tier, cache_root):
    b_path, _ = entry(cache_root, tier, B)
    a_path, _ = entry(cache_root, tier, A)
    a_path.write_bytes(b_path.read_bytes())   # authentic, but for another name
    assert_refused(tier, a_path)


@pytest.mark.parametrize("forgery", ["bare", "sha256-trailer", "hmac-other-key"])
def test_an_entry_forged_without_the_key_is_refused(tier, a_and_b, forgery):
    a_path, payload = a_and_b
    if forgery == "bare":
        data = payload
    elif forgery == "sha256-trailer":       # what anyone could recompute
        data = payload + hashlib.sha256(payload).digest()
    else:
        data = hmac.new(os.urandom(32), payload, hashlib.sha256).digest() + payload
    a_path.write_bytes(data)
    assert_refused(tier, a_path)


@pytest.mark.parametrize("where", [0.0, 0.5, 0.99])
def test_an_entry_with_flipped_bytes_is_discarded_and_recompiled(tier, cache_root, where):
    a_path, _ = entry(cache_root, tier, A)
    data = bytearray(a_path.read_bytes())
    data[int(len(data) * where)] ^= 0x41
    a_path.write_bytes(bytes(data))
    assert f(tier, A) == 6
    assert a_path.read_bytes() != bytes(data)


def forge_with_the_key(tier, a_path, payload):
    """B's code under A's name, signed with this user's key: what only the user can do."""
    folder = _cache.folder(tier)
    a_path.write_bytes(folder._tag(a_path.name, payload) + payload)


def test_the_forgery_used_below_is_executed_when_its_file_is_private(tier, a_and_b):
    # The control of the next two tests: a signed entry in a private file is trusted.
    a_path, payload = a_and_b
    forge_with_the_key(tier, a_path, payload)
    a_path.chmod(0o600)
    assert f(tier, A) == 10


def test_an_entry_writable_by_others_is_refused(tier, a_and_b):
    a_path, payload = a_and_b
    forge_with_the_key(tier, a_path, payload)
    a_path.chmod(0o666)
    assert_refused(tier, a_path)
    assert a_path.stat().st_mode & 0o077 == 0


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0,
                    reason="giving a file to another user needs root")
def test_an_entry_owned_by_another_user_is_refused(tier, a_and_b):
    a_path, payload = a_and_b
    forge_with_the_key(tier, a_path, payload)
    a_path.chmod(0o600)
    os.chown(a_path, 12345, 12345)
    assert_refused(tier, a_path)
    assert a_path.stat().st_uid == os.geteuid()


def test_folders_and_key_are_private(tier, cache_root):
    entry(cache_root, tier, A)
    assert cache_root.stat().st_mode & 0o777 == 0o700
    assert (cache_root / tier).stat().st_mode & 0o777 == 0o700
    key = cache_root / "key"
    assert key.stat().st_mode & 0o777 == 0o600 and key.stat().st_size == 32
    assert all(p.stat().st_mode & 0o077 == 0 for p in files(cache_root, tier))


@pytest.mark.parametrize("mode", [0o777, 0o720])
def test_a_root_others_may_write_is_not_used(tier, cache_root, capfd, mode):
    cache_root.mkdir(parents=True)
    cache_root.chmod(mode)
    assert f(tier, A) == 6 and f(tier, B) == 10
    assert files(cache_root, tier) == set()
    err = capfd.readouterr().err
    assert err.count("\n") == 1 and "writable by group or others" in err and str(cache_root) in err


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0,
                    reason="giving a folder to another user needs root")
def test_a_root_owned_by_another_user_is_not_used(tier, cache_root, capfd):
    cache_root.mkdir(parents=True, mode=0o700)
    os.chown(cache_root, 12345, 12345)
    assert f(tier, A) == 6
    assert files(cache_root, tier) == set()
    assert "owned by uid 12345" in capfd.readouterr().err


def test_a_key_others_may_read_turns_the_cache_off(cache_root, capfd):
    f("interp", A)
    (cache_root / "key").chmod(0o644)
    _cache.reset()
    assert f("interp", B) == 10
    assert len(files(cache_root, "interp")) == 1          # B was not stored
    assert "cache key" in capfd.readouterr().err


def test_racing_processes_agree_on_one_key(cache_root):
    script = ("from wasmforge import _cache; _cache.folder('interp');"
              "import os; print(open(os.path.join(_cache.root_path(), 'key'), 'rb').read().hex())")
    env = dict(os.environ, WASMFORGE_CACHE_DIR=str(cache_root))
    procs = [subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.PIPE,
                              text=True) for _ in range(4)]
    keys = {p.communicate(timeout=60)[0].strip() for p in procs}
    assert len(keys) == 1 and len(keys.pop()) == 64
    assert not list(cache_root.glob("*.tmp"))


MANY = "(module " + " ".join(
    f'(func (export "f{i}") (result i32) (i32.add (i32.const {i}) (i32.const {i * 7})))'
    for i in range(40)) + ")"


@pytest.mark.parametrize("max_mb, bound", [("0", 0), ("0.004", 4194)])
def test_the_interp_folder_stays_under_its_size_bound(cache_root, monkeypatch, max_mb, bound):
    monkeypatch.setenv("WASMFORGE_CACHE_MAX_MB", max_mb)
    eng = engine("interp")
    store = Store(eng)
    exports = Instance(store, Module(eng, MANY), []).exports(store)
    assert [exports[f"f{i}"](store) for i in range(40)] == [8 * i for i in range(40)]
    sizes = [p.stat().st_size for p in files(cache_root, "interp")]
    assert sum(sizes) <= bound
    if bound:
        assert sizes                        # bounded, not disabled


def test_entries_of_the_old_unauthenticated_layout_are_removed(cache_root):
    old = cache_root / "interp" / "ab"
    old.mkdir(parents=True)
    (old / ("ab" + "0" * 62)).write_bytes(b"marshal data, no HMAC")
    assert f("interp", A) == 6                  # a first write scans the folder
    assert not old.exists()


@pytest.mark.parametrize("size", [_cache._STREAM_BYTES - 1, _cache._STREAM_BYTES, 3 << 20]
                         if _cache is not None else [0])
@pytest.mark.parametrize("where", [None, 0, 0.5, -1])
def test_a_big_entry_is_authenticated_whole(cache_root, size, where):
    # From _cache._STREAM_BYTES on, load reads the tag apart and authenticates the payload
    # with a streaming HMAC (a lazily compiled module's pack: tens of MB): the same tag as
    # the one-shot HMAC below that size, over every byte of the payload.
    folder = _cache.folder("llvm")
    payload = os.urandom(size)
    folder.store("big", payload)
    path = cache_root / "llvm" / "big"
    raw = path.read_bytes()
    key = (cache_root / _cache.KEY_NAME).read_bytes()
    assert raw[:_cache.TAG_SIZE] == hmac.digest(
        key, _cache._DOMAIN + b"llvm\0big\0" + payload, "sha256")
    if where is None:
        assert folder.load("big") == payload
        return
    data = bytearray(raw)
    data[_cache.TAG_SIZE + int((size - 1) * where) if where >= 0 else -1] ^= 0x41
    path.write_bytes(bytes(data))
    path.chmod(0o600)
    assert folder.load("big") is None
    assert not path.exists()


@pytest.mark.parametrize("damage", ["flip", "truncate", "swap"])
def test_a_mapped_entry_is_authenticated_as_a_read_one(cache_root, damage):
    # Large entries (the llvm tier's pack, its initial memory) are mapped, not read: the
    # payload comes back as a view of the file, authenticated in the mapping; a changed,
    # truncated or renamed entry is refused and deleted as a read one is.
    folder = _cache.folder("llvm")
    payload = os.urandom(_cache.MAP_BYTES + 12345)
    folder.store("big", payload)
    folder.store("other", payload[::-1])
    got = folder.load("big", mapped=True)
    assert isinstance(got, memoryview) and got == payload
    assert folder.load("big") == payload            # (read, the same)
    del got
    path = cache_root / "llvm" / "big"
    raw = bytearray(path.read_bytes())
    if damage == "flip":
        raw[len(raw) // 2] ^= 1
    elif damage == "truncate":
        del raw[-1]
    else:
        raw = bytearray((cache_root / "llvm" / "other").read_bytes())
    # (a new file renamed over it, as the cache itself writes: a mapping keeps its file)
    tmp = cache_root / "llvm" / "big.new"
    tmp.write_bytes(bytes(raw))
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    assert folder.load("big", mapped=True) is None
    assert not path.exists()


def test_a_prefetched_digest_is_given_to_the_very_bytes_it_hashed_only():
    # `wasmforge run` hashes a big module on a thread while it imports the rest of its code
    # (the module cache's key): that digest is never given to other bytes, equal or not.
    data = os.urandom(_cache.PREFETCH_DIGEST_BYTES)
    _cache.prefetch_digest(data)
    other = bytearray(data)
    other[0] ^= 1
    assert _cache.digest(bytes(other)) == hashlib.sha256(other).digest()
    assert _cache._pending_digest is not None           # (still there for `data`)
    assert _cache.digest(data) == hashlib.sha256(data).digest()
    assert _cache._pending_digest is None               # (taken)
    _cache.prefetch_digest(data[:100])                  # (small: hashed when asked)
    assert _cache._pending_digest is None


def test_an_entry_that_cannot_be_mapped_is_read(cache_root, monkeypatch):
    # A filesystem that cannot map files (or no address space left): the entry is read, not
    # taken for a miss (the pack would then be compiled again, and replaced, on every run).
    folder = _cache.folder("llvm")
    payload = os.urandom(_cache.MAP_BYTES + 7)
    folder.store("big", payload)

    def refuse(*args, **kwargs):
        raise OSError(19, "No such device")

    monkeypatch.setattr(_cache.mmap, "mmap", refuse)
    got = folder.load("big", mapped=True)
    assert isinstance(got, bytes) and got == payload
    assert (cache_root / "llvm" / "big").exists()


def test_a_mapped_entry_keeps_what_was_authenticated_when_replaced_or_deleted(cache_root):
    # A view's pages are read from the file as they are used: the cache's own writes must
    # never change them (a new file renamed over the old, eviction and discard unlinking),
    # nor take the file away under the mapping (a truncated file's pages raise SIGBUS).
    folder = _cache.folder("llvm")
    first, second = os.urandom(_cache.MAP_BYTES + 3), os.urandom(_cache.MAP_BYTES + 5)
    folder.store("big", first)
    got = folder.load("big", mapped=True)
    assert isinstance(got, memoryview)
    folder.store("big", second)
    assert folder.load("big") == second
    assert got == first
    folder.discard("big")
    assert not (cache_root / "llvm" / "big").exists()
    folder.store("big", second)
    _cache.evict(str(cache_root / "llvm"), 0)
    assert not (cache_root / "llvm" / "big").exists()
    assert got == first


def test_a_digest_is_computed_when_no_thread_can_be_started(monkeypatch):
    data = os.urandom(_cache.PREFETCH_DIGEST_BYTES)

    def refuse(self):
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr(_cache.threading.Thread, "start", refuse)
    _cache.prefetch_digest(data)
    assert _cache._pending_digest is None
    assert _cache.digest(data) == hashlib.sha256(data).digest()
