"""Finding 1: a guest with a writable preopen over the cache must not be able to overwrite its
own cached translation (which a later run would execute as host code).

The guest is a real WASI program: ``write DST`` writes what it reads on stdin to DST (created
or truncated) with ``path_open`` + ``fd_read`` + ``fd_write``; ``read SRC`` copies SRC to
stdout; ``rename SRC DST`` calls ``path_rename``.  Its exit status is the errno of the first call that failed, 0 if none did.
The test computes the path of the guest's cache entry, as an attacker could.
"""

import os

import pytest

from wasmforge import Linker, Module, Store
from wasmforge.errors import ExitTrap
from wasmforge import Config, Engine
from wasmforge.wasi import Errno, WasiConfig, WasiCtx, define_wasi

GUEST = """
(module
  (import "wasi_snapshot_preview1" "args_sizes_get" (func $args_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_get" (func $args_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_open"
    (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_rename"
    (func $path_rename (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 2)
  ;; 0: argc, 4: argv buffer size, 16: argv pointers, 64: argv strings,
  ;; 2000: opened fd, 2008: iovec, 2016: byte count, 4096: data buffer
  (func $arg (param $i i32) (result i32) (i32.load (i32.add (i32.const 16) (i32.shl (local.get $i) (i32.const 2)))))
  (func $strlen (param $p i32) (result i32) (local $n i32)
    (block $done (loop $next
      (br_if $done (i32.eqz (i32.load8_u (i32.add (local.get $p) (local.get $n)))))
      (local.set $n (i32.add (local.get $n) (i32.const 1)))
      (br $next)))
    (local.get $n))
  (func $check (param $err i32) (if (local.get $err) (then (call $proc_exit (local.get $err)))))
  (func $open (param $path i32) (param $oflags i32) (param $rights i64) (result i32)
    (call $check (call $path_open (i32.const 3) (i32.const 0) (local.get $path) (call $strlen (local.get $path))
                                  (local.get $oflags) (local.get $rights) (i64.const 0) (i32.const 0) (i32.const 2000)))
    (i32.load (i32.const 2000)))
  (func (export "_start") (local $fd i32)
    (call $check (call $args_sizes_get (i32.const 0) (i32.const 4)))
    (call $check (call $args_get (i32.const 16) (i32.const 64)))
    (if (i32.eq (i32.load8_u (call $arg (i32.const 1))) (i32.const 114))   ;; "rename"
      (then
        (call $check (call $path_rename (i32.const 3) (call $arg (i32.const 2)) (call $strlen (call $arg (i32.const 2)))
                                        (i32.const 3) (call $arg (i32.const 3)) (call $strlen (call $arg (i32.const 3)))))
        (return)))
    (if (i32.eq (i32.load8_u (call $arg (i32.const 1))) (i32.const 119))   ;; "write": stdin to DST
      (then (local.set $fd (call $open (call $arg (i32.const 2)) (i32.const 9) (i64.const 64))))  ;; CREAT|TRUNC, FD_WRITE
      (else (local.set $fd (call $open (call $arg (i32.const 2)) (i32.const 0) (i64.const 2)))))  ;; "read": FD_READ
    (i32.store (i32.const 2008) (i32.const 4096))
    (i32.store (i32.const 2012) (i32.const 60000))
    (call $check (call $fd_read (select (i32.const 0) (local.get $fd) (i32.eq (i32.load8_u (call $arg (i32.const 1))) (i32.const 119)))
                                (i32.const 2008) (i32.const 1) (i32.const 2016)))
    (i32.store (i32.const 2012) (i32.load (i32.const 2016)))
    (call $check (call $fd_write (select (local.get $fd) (i32.const 1) (i32.eq (i32.load8_u (call $arg (i32.const 1))) (i32.const 119)))
                                 (i32.const 2008) (i32.const 1) (i32.const 2016)))))
"""

START = GUEST.index('(func (export "_start")')
# The same module with another `_start`: what an attacker would like the next run to execute.
EVIL = GUEST[:START] + '(func (export "_start") (call $proc_exit (i32.const 42))))'


def engine(tier):
    config = Config()
    config.strategy = tier
    return Engine(config)


def run(tier, preopen, *args, wat=GUEST, stdin=b"", stdout=None):
    """The exit status of one run of ``wat`` (a fresh Module: code comes from the cache)."""
    eng = engine(tier)
    wasi = WasiConfig()
    wasi.argv = ["guest", *args]
    wasi.preopen_dir(str(preopen), "/dir")
    wasi.stdin_bytes = stdin
    if stdout is not None:
        wasi.stdout_callback = stdout.append
    store = Store(eng)
    with WasiCtx(wasi) as ctx:
        linker = Linker(eng)
        define_wasi(linker, store, ctx)
        instance = linker.instantiate(store, Module(eng, wat))
        try:
            instance.exports(store)["_start"](store)
        except ExitTrap as exc:
            return exc.code
    return 0


def entries(root, tier):
    return sorted(p for p in (root / tier).rglob("*") if p.is_file() and not p.name.endswith(".tmp"))


def start_entry(root, tier, wat):
    """The cache entry holding the code of ``wat``'s `_start`: its translation (interp, the
    last function) or the module's object (llvm, alone in a fresh cache)."""
    if tier == "interp":
        code = Module(engine(tier), wat)._compiled()
        [path] = list((root / tier).rglob(code._cache_key(len(code.module.funcs) - 1)))
        return path
    [path] = entries(root, tier)
    return path


@pytest.fixture
def workdir(tmp_path):
    """A harmless directory for the runs that must work."""
    path = tmp_path / "work"
    path.mkdir()
    return path


def assert_original_code_runs(tier, workdir):
    (workdir / "out.txt").unlink(missing_ok=True)
    assert run(tier, workdir, "write", "out.txt", stdin=b"original code ran\n") == 0
    assert (workdir / "out.txt").read_bytes() == b"original code ran\n"


@pytest.mark.parametrize("grant", ["root", "parent", "home", "inside", "symlink"])
def test_guest_cannot_overwrite_its_cached_code(tier, cache_root, home, workdir, grant):
    if tier == "interp":
        # What the attacker writes: the cached code of a `_start` that exits with 42.
        assert run(tier, workdir, wat=EVIL) == 42
        payload = start_entry(cache_root, tier, EVIL).read_bytes()
        assert_original_code_runs(tier, workdir)
    else:
        assert_original_code_runs(tier, workdir)
        payload = b"\x7fELF not an object"
    target = start_entry(cache_root, tier, GUEST)
    good = target.read_bytes()
    rel = target.relative_to(cache_root)
    if grant == "root":             # --dir ~/.cache/wasmforge
        preopen, path = cache_root, str(rel)
    elif grant == "parent":         # --dir ~/.cache
        preopen, path = cache_root.parent, f"wasmforge/{rel}"
    elif grant == "home":           # --dir ~ (the attack of the review)
        preopen, path = home, f".cache/wasmforge/{rel}"
    elif grant == "inside":         # --dir ~/.cache/wasmforge/<tier>
        preopen, path = cache_root / tier, str(rel.relative_to(tier))
    else:                           # a symbolic link the guest could have made
        os.symlink(".cache/wasmforge", home / "innocent")
        preopen, path = home, f"innocent/{rel}"
    assert run(tier, preopen, "write", path, stdin=payload) == Errno.ACCES
    assert target.read_bytes() == good
    assert_original_code_runs(tier, workdir)      # not 42, not a crash


@pytest.mark.parametrize("what", [".cache/wasmforge", ".cache"])
def test_guest_cannot_move_the_cache_away(cache_root, home, what):
    # Moving the cache (or a folder holding it) would let the guest plant a cache of its own.
    assert run("interp", home, "rename", what, "moved") == Errno.ACCES
    assert cache_root.is_dir() and not (home / "moved").exists()


def test_guest_cannot_read_the_key(cache_root, home):
    assert_original_code_runs("interp", home)       # makes the cache and its key
    out = []
    assert run("interp", home, "read", ".cache/wasmforge/key", stdout=out) == Errno.ACCES
    assert out == []


def test_other_directories_stay_reachable(cache_root, home):
    (home / ".cache" / "other").mkdir(parents=True)
    assert run("interp", home, "write", ".cache/other/out.txt", stdin=b"fine") == 0
    assert (home / ".cache" / "other" / "out.txt").read_bytes() == b"fine"
