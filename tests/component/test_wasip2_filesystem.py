"""``wasi:filesystem`` (WASI 0.2) driven through a real component (wasip2_fs_kit.wat: every
method of ``descriptor`` exported with plain u32 handles), on both tiers.

Each scenario runs the same calls under wasmtime-py (the reference: its results, error codes
and the directory tree it leaves) and under wasmforge, and the transcripts must be equal; the
escape attempts of the preview1 sandbox tests (tests/wasi/test_sandbox.py) are repeated
against ``wasi:filesystem`` with the error code each must get, and nothing outside the
preopened directory may change."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

import wasmforge
from wasmforge import component as C
from wasmforge.wasip2 import instance_of, io, p2_ctx
from wasmforge.wasip2._wit import interface
from wasmforge.wasip2.filesystem import MAX_OPEN, error_code_of_errno

from support import tier_params

KIT = (Path(__file__).parent / "wasip2_fs_kit.wat").read_text()
NONE: set = set()
RW, RO, RW_FILES_RO = "rw", "ro", "rw-files-ro"


def kit(engine_name, sandbox, perms=RW):
    """The kit instantiated by ``engine_name`` ("wasmtime", or a wasmforge tier) with
    ``sandbox`` preopened as "/": a function calling its exports by name."""
    if engine_name == "wasmtime":
        M = pytest.importorskip("wasmtime")
        CM = pytest.importorskip("wasmtime.component")
        engine = M.Engine()
    else:
        M, CM = wasmforge, C
        config = wasmforge.Config()
        config.strategy = engine_name
        engine = wasmforge.Engine(config)
    store = M.Store(engine)
    wasi = M.WasiConfig()
    if engine_name == "wasmtime":
        # wasmtime-py 50 has one switch: fs_mutable False is DirPerms and FilePerms READ_ONLY
        assert perms != RW_FILES_RO, "wasmtime-py cannot make files read-only in a mutable directory"
        wasi.preopen_dir(str(sandbox), "/", perms == RW)
    else:
        dir_perms = M.DirPerms.READ_ONLY if perms == RO else M.DirPerms.READ_WRITE
        file_perms = M.FilePerms.READ_WRITE if perms == RW else M.FilePerms.READ_ONLY
        wasi.preopen_dir(str(sandbox), "/", dir_perms, file_perms)
    store.set_wasi(wasi)
    linker = CM.Linker(engine)
    linker.add_wasip2()
    inst = linker.instantiate(store, CM.Component(engine, KIT))

    def call(name, *args):
        return inst.get_func(store, name)(store, *args)
    [(root, name)] = call("preopens")
    assert name == "/"
    call.root = root
    call.record = CM.Record
    call.variant = CM.Variant
    return call


def plain(v):
    """A result in a form both engines' values compare in: records as dicts, variants as
    (tag, payload), sets sorted."""
    if hasattr(v, "tag") and hasattr(v, "payload"):
        return (v.tag, plain(v.payload))
    if isinstance(v, (set, frozenset)):
        return sorted(v)
    if isinstance(v, (list, tuple)):
        return type(v)(plain(x) for x in v)
    if hasattr(v, "__dict__") and not isinstance(v, type):
        return {k.replace("_", "-"): plain(x) for k, x in vars(v).items()}
    return v


def ok(v):
    """The payload of an ok result (handles, sizes...): wasmtime-py's mapping is ours, so a
    result whose cases have distinct Python classes is the bare payload."""
    assert not isinstance(v, str), f"expected a success, got error {v!r}"
    return v.payload if hasattr(v, "tag") else v


def error(v):
    """The error code of a failed result (tagged when the ok case is a string too)."""
    if hasattr(v, "tag"):
        assert v.tag == "err", v
        return v.payload
    return v


def tree(path):
    """Every entry below ``path``: kind, and the contents of files and targets of links."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(path):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            rel = os.path.relpath(p, path)
            if os.path.islink(p):
                out[rel] = ("link", os.readlink(p))
            elif os.path.isdir(p):
                out[rel] = ("dir",)
            else:
                out[rel] = ("file", Path(p).read_bytes(), os.stat(p).st_nlink)
    return out


def undated(stat):
    """A descriptor-stat without its timestamps (they differ between two runs)."""
    return {k: v for k, v in plain(stat).items() if not k.endswith("timestamp")}


# -- the scenarios: each returns its transcript ---------------------------------------------
def files_scenario(f, sandbox):
    t = []
    root = f.root
    fd = ok(f("open-at", root, NONE, "a.txt", {"create"}, {"read", "write"}))
    t.append(f("write", fd, b"hello world", 0))
    t.append(f("read", fd, 5, 6))
    t.append(f("read", fd, 10, 100))
    t.append(f("set-size", fd, 5))
    t.append(undated(ok(f("stat", fd))))
    ws = ok(f("write-via-stream", fd, 5))
    t.append(f("blocking-write-and-flush", ws, b" there"))
    f("drop-output-stream", ws)
    rs = ok(f("read-via-stream", fd, 0))
    t.append(f("blocking-read", rs, 100))
    t.append(f("blocking-read", rs, 100)[0])             # err: case 1 is closed
    f("drop-input-stream", rs)
    ap = ok(f("append-via-stream", fd))
    t.append(f("blocking-write-and-flush", ap, b"!"))
    f("drop-output-stream", ap)
    t.append(f("read", fd, 100, 0))
    t += [plain(f("get-flags", fd)), plain(f("get-type", fd)), plain(f("get-flags", root)), plain(f("get-type", root))]
    t.append(f("advise", fd, 0, 100, "sequential"))
    t += [f("sync", fd), f("sync-data", fd), f("sync", root), f("sync-data", root)]
    # times: set, then read back through stat and stat-at
    ts = {"seconds": 1_000_000, "nanoseconds": 5}
    t.append(f("set-times", fd, f.variant("timestamp", _dt(f, ts)), f.variant("no-change")))
    st = plain(ok(f("stat", fd)))
    t.append((st["data-access-timestamp"], st["data-modification-timestamp"] != ts))
    t.append(f("set-times-at", root, NONE, "a.txt", f.variant("no-change"), f.variant("timestamp", _dt(f, ts))))
    t.append(plain(ok(f("stat-at", root, NONE, "a.txt")))["data-modification-timestamp"])
    # identity
    fd2 = ok(f("open-at", root, NONE, "a.txt", NONE, {"read"}))
    t.append(f("is-same-object", fd, fd2))
    t.append(f("is-same-object", fd, root))
    t.append(plain(f("metadata-hash", fd)) == plain(f("metadata-hash-at", root, NONE, "a.txt")))
    t.append(plain(f("metadata-hash", fd)) == plain(f("metadata-hash", root)))
    # a read-only descriptor: writing it through a stream fails with the errno's error-code
    ws = ok(f("write-via-stream", fd2, 0))
    case, err = f("blocking-write-and-flush", ws, b"x")
    t.append(case)
    t.append(f("filesystem-error-code", err))
    f("drop-error", err)
    f("drop-output-stream", ws)
    t.append(f("write", fd2, b"x", 0))
    f("drop-descriptor", fd2)
    f("drop-descriptor", fd)
    t.append(tree(sandbox))
    return t


def _dt(f, ts):
    """A datetime record in the calling engine's own Record class."""
    r = f.record()
    for k, v in ts.items():
        setattr(r, k, v)
    return r


def open_errors_scenario(f, sandbox):
    (sandbox / "a.txt").write_text("a")
    (sandbox / "d").mkdir()
    root = f.root
    fd = ok(f("open-at", root, NONE, "a.txt", NONE, {"read"}))
    t = [
        f("open-at", root, NONE, "a.txt", {"create", "exclusive"}, {"write"}),
        f("open-at", root, NONE, "missing", NONE, {"read"}),
        f("open-at", root, NONE, "a.txt/", NONE, {"read"}),
        f("open-at", root, NONE, "a.txt", {"directory"}, {"read"}),
        f("open-at", root, NONE, "new", {"directory", "create"}, {"read"}),
        f("open-at", root, NONE, "a.txt", NONE, {"read", "data-integrity-sync"}),
        f("open-at", root, NONE, "d", NONE, {"read", "write"}),
        f("open-at", root, NONE, "missing/x", {"create"}, {"write"}),
        # file methods on a directory, directory methods on a file
        f("read", root, 1, 0), f("write", root, b"x", 0), f("set-size", root, 0),
        f("read-via-stream", root, 0), f("write-via-stream", root, 0), f("append-via-stream", root),
        f("advise", root, 0, 0, "normal"),
        f("stat-at", fd, NONE, "x"), f("create-directory-at", fd, "x"), f("open-at", fd, NONE, "x", NONE, {"read"}),
        f("read-directory", fd), f("unlink-file-at", fd, "x"), f("readlink-at", fd, "x"),
        f("rename-at", root, "a.txt", fd, "b"), f("link-at", root, NONE, "a.txt", fd, "b"),
    ]
    d = ok(f("open-at", root, NONE, "d", {"directory"}, {"read"}))
    t += [plain(f("get-type", d)), plain(f("get-flags", d)), f("is-same-object", d, root)]
    t.append(f("open-at", d, NONE, "../a.txt", NONE, {"read"}))       # its own root
    t.append(tree(sandbox))
    return t


def directories_scenario(f, sandbox):
    (sandbox / "a.txt").write_text("a")
    root = f.root
    t = [
        f("create-directory-at", root, "d"), f("create-directory-at", root, "d"),
        f("create-directory-at", root, "x/y"), f("create-directory-at", root, "d/e"),
        f("symlink-at", root, "a.txt", "ln"), f("symlink-at", root, "a.txt", "ln"),
        f("readlink-at", root, "ln"), f("readlink-at", root, "a.txt"), f("readlink-at", root, "nope"),
        undated(ok(f("stat-at", root, NONE, "ln")))["type"],
        undated(ok(f("stat-at", root, {"symlink-follow"}, "ln")))["type"],
        f("stat-at", root, NONE, "a.txt/"),
        f("link-at", root, NONE, "a.txt", root, "hard"),
        f("link-at", root, NONE, "a.txt", root, "hard"),
        f("link-at", root, {"symlink-follow"}, "ln", root, "hard2"),
        undated(ok(f("stat-at", root, NONE, "hard")))["link-count"],
        f("rename-at", root, "hard", root, "d/moved"), f("rename-at", root, "nope", root, "x"),
        f("unlink-file-at", root, "d/moved"), f("unlink-file-at", root, "d"), f("unlink-file-at", root, "nope"),
        f("unlink-file-at", root, "ln"),
        f("remove-directory-at", root, "d"), f("remove-directory-at", root, "a.txt"),
        f("remove-directory-at", root, "d/e"), f("remove-directory-at", root, "d"),
        f("remove-directory-at", root, "d"),
    ]
    for name in ("f1", "f2"):
        (sandbox / name).write_text(name)
    os.mkdir(sandbox / "sub")
    os.symlink("f1", sandbox / "l1")
    stream = ok(f("read-directory", root))
    entries = []
    while True:
        e = ok(f("read-directory-entry", stream))
        if e is None:
            break
        entries.append(plain(e))
    f("drop-dir-stream", stream)
    t.append(sorted(entries, key=lambda e: e["name"]))
    t.append(tree(sandbox))
    return t


def read_only_scenario(f, sandbox):
    root = f.root
    fd = ok(f("open-at", root, NONE, "a.txt", NONE, {"read"}))
    return [
        f("open-at", root, NONE, "new", {"create"}, {"read"}),
        f("open-at", root, NONE, "a.txt", {"truncate"}, {"read"}),
        f("open-at", root, NONE, "a.txt", NONE, {"read", "write"}),
        f("create-directory-at", root, "d"), f("remove-directory-at", root, "sub"),
        f("unlink-file-at", root, "a.txt"), f("rename-at", root, "a.txt", root, "b"),
        f("symlink-at", root, "a.txt", "l"), f("link-at", root, NONE, "a.txt", root, "h"),
        f("set-times-at", root, NONE, "a.txt", f.variant("now"), f.variant("now")),
        f("set-times", root, f.variant("now"), f.variant("no-change")),
        f("write", fd, b"x", 0), f("set-size", fd, 0), f("write-via-stream", fd, 0), f("append-via-stream", fd),
        f("set-times", fd, f.variant("now"), f.variant("now")),
        plain(f("get-flags", root)), plain(f("get-flags", fd)),
        f("read", fd, 10, 0), undated(ok(f("stat", fd))),
        ok(f("blocking-read", ok(f("read-via-stream", fd, 1)), 10)),
        tree(sandbox),
    ]


def files_read_only_scenario(f, sandbox):
    root = f.root
    return [
        f("open-at", root, NONE, "new", {"create"}, {"read"}),
        f("open-at", root, NONE, "a.txt", NONE, {"write"}),
        f("create-directory-at", root, "d"),             # the tree may change, files not be written
        plain(f("get-flags", root)),
        plain(f("get-flags", ok(f("open-at", root, NONE, "a.txt", NONE, {"read"})))),
        tree(sandbox),
    ]


SCENARIOS = {
    "files": (files_scenario, RW),
    "open-errors": (open_errors_scenario, RW),
    "directories": (directories_scenario, RW),
    "read-only": (read_only_scenario, RO),
    "files-read-only": (files_read_only_scenario, RW_FILES_RO),     # no wasmtime-py reference
}


def run_scenario(engine_name, name, tmp_path):
    fn, perms = SCENARIOS[name]
    sandbox = tmp_path / engine_name
    sandbox.mkdir(parents=True)
    if perms != RW:
        (sandbox / "a.txt").write_text("read me")
        (sandbox / "sub").mkdir()
    return fn(kit(engine_name, sandbox, perms), sandbox)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """wasmtime-py's transcript of each scenario."""
    pytest.importorskip("wasmtime.component")
    cache = {}

    def get(name):
        if name not in cache:
            cache[name] = run_scenario("wasmtime", name, tmp_path_factory.mktemp("wasmtime"))
        return cache[name]
    return get


@pytest.mark.parametrize("tier", tier_params())
@pytest.mark.parametrize("name", [n for n, (_, perms) in SCENARIOS.items() if perms != RW_FILES_RO])
def test_scenario_matches_wasmtime(tier, name, reference, tmp_path):
    ours = run_scenario(tier, name, tmp_path)
    expected = reference(name)
    assert [plain(x) for x in ours] == [plain(x) for x in expected]


def test_the_scenarios_see_real_results(tmp_path):
    """Spot checks that the transcripts compared above are what they should be, not merely
    equal between the engines."""
    t = run_scenario("interp", "files", tmp_path)
    assert t[0] == 11 and t[1] == (b"world", False) and t[2] == (b"", True)
    assert t[4] == {"type": "regular-file", "link-count": 1, "size": 5}
    assert t[6] == b"hello there" and t[7] == 1                     # then closed
    assert t[9] == (b"hello there!", False)                         # appended
    assert [plain(x) for x in t[10:14]] == [["read", "write"], ("ok", "regular-file"),
                                             ["mutate-directory", "read"], ("ok", "directory")]
    assert plain(t[20]) == ({"seconds": 1_000_000, "nanoseconds": 5}, True)
    assert t[23:27] == [True, False, True, False]
    assert t[27:30] == [0, "bad-descriptor", "bad-descriptor"]     # EBADF: opened for reading
    assert t[-1] == {"a.txt": ("file", b"hello there!", 1)}
    ro = run_scenario("interp", "read-only", tmp_path / "ro")
    assert ro[:16] == ["not-permitted"] * 16
    assert ro[-1] == {"a.txt": ("file", b"read me", 1), "sub": ("dir",)}
    fro = run_scenario("interp", "files-read-only", tmp_path / "fro")
    assert fro[:3] == ["not-permitted", "not-permitted", None]
    assert [plain(x) for x in fro[3:5]] == [["mutate-directory", "read"], ["read"]]
    assert fro[-1] == {"a.txt": ("file", b"read me", 1), "sub": ("dir",), "d": ("dir",)}


# -- escape attempts (tests/wasi/test_sandbox.py, against wasi:filesystem) -------------------
@pytest.fixture
def jail(tmp_path):
    """A sandbox next to an ``outside`` directory holding a secret: (sandbox, outside)."""
    sandbox, outside = tmp_path / "sandbox", tmp_path / "outside"
    sandbox.mkdir(parents=True)
    outside.mkdir()
    (outside / "secret").write_text("secret")
    (outside / "dir").mkdir()
    os.symlink("secret", outside / "l")
    return sandbox, outside


def confined(tier, jail, attempt, perms=RW):
    """Run ``attempt(f, sandbox, outside)`` and check nothing outside the sandbox changed."""
    sandbox, outside = jail
    before = tree(outside), os.stat(outside / "secret").st_mtime_ns
    result = attempt(kit(tier, sandbox, perms), sandbox, outside)
    assert (tree(outside), os.stat(outside / "secret").st_mtime_ns) == before
    return result


def _open(f, path, oflags=NONE, flags=frozenset({"read"}), follow=True):
    return f("open-at", f.root, {"symlink-follow"} if follow else NONE, path, oflags, set(flags))


ESCAPES = {
    "dotdot above the preopen": lambda f, s, o: _open(f, "../outside/secret"),
    "dotdot after descending": lambda f, s, o: (os.mkdir(s / "a"), _open(f, "a/../../outside/secret"))[1],
    "absolute path": lambda f, s, o: _open(f, "/etc/passwd"),
    "absolute path naming the preopen": lambda f, s, o: ((s / "f").write_text("x"), _open(f, "/f"))[1],
    "symlink to an absolute path": lambda f, s, o: (os.symlink(o / "secret", s / "l"), _open(f, "l"))[1],
    "symlink with a dotdot target": lambda f, s, o: (os.symlink("../outside/secret", s / "l"), _open(f, "l"))[1],
    "symlink as intermediate component": lambda f, s, o: (os.symlink("../outside", s / "out"),
                                                          _open(f, "out/secret"))[1],
    "create through a symlinked directory": lambda f, s, o: (os.symlink("../outside", s / "out"),
                                                             _open(f, "out/new", {"create"}, {"write"}))[1],
    "create through a dangling symlink outside": lambda f, s, o: (os.symlink("../outside/new", s / "l"),
                                                                  _open(f, "l", {"create"}, {"write"}))[1],
    "truncate through a symlink": lambda f, s, o: (os.symlink("../outside/secret", s / "l"),
                                                   _open(f, "l", {"truncate"}, {"write"}))[1],
    "guest-made escaping symlink": lambda f, s, o: (ok(f("symlink-at", f.root, "../outside/secret", "l")) is None
                                                    and _open(f, "l")),
    "absolute symlink made by the guest": lambda f, s, o: f("symlink-at", f.root, str(o / "secret"), "l"),
    "rename out": lambda f, s, o: ((s / "f").write_text("x"), f("rename-at", f.root, "f", f.root, "../outside/f"))[1],
    "rename from outside": lambda f, s, o: f("rename-at", f.root, "../outside/secret", f.root, "stolen"),
    "rename into a symlinked outside directory": lambda f, s, o: (
        (s / "f").write_text("x"), os.symlink("../outside", s / "out"),
        f("rename-at", f.root, "f", f.root, "out/f"))[2],
    "hard link to an outside file": lambda f, s, o: f("link-at", f.root, NONE, "../outside/secret", f.root, "h"),
    "hard link out": lambda f, s, o: ((s / "f").write_text("x"),
                                      f("link-at", f.root, NONE, "f", f.root, "../outside/h"))[1],
    "unlink through a symlinked directory": lambda f, s, o: (os.symlink("../outside", s / "out"),
                                                             f("unlink-file-at", f.root, "out/secret"))[1],
    "rmdir outside": lambda f, s, o: f("remove-directory-at", f.root, "../outside/dir"),
    "stat through an escaping symlink": lambda f, s, o: (os.symlink("../outside/secret", s / "l"),
                                                         f("stat-at", f.root, {"symlink-follow"}, "l"))[1],
    "metadata hash through an escaping symlink": lambda f, s, o: (
        os.symlink("../outside/secret", s / "l"), f("metadata-hash-at", f.root, {"symlink-follow"}, "l"))[1],
    "set times following an escaping symlink": lambda f, s, o: (
        os.symlink("../outside/secret", s / "l"),
        f("set-times-at", f.root, {"symlink-follow"}, "l", f.variant("now"), f.variant("now")))[1],
    "mkdir through an escaping symlink": lambda f, s, o: (os.symlink("../outside", s / "out"),
                                                          f("create-directory-at", f.root, "out/d"))[1],
    "readlink outside": lambda f, s, o: f("readlink-at", f.root, "../outside/l"),
    "symlink created outside": lambda f, s, o: f("symlink-at", f.root, "x", "../outside/l"),
    "subdirectory is its own root": lambda f, s, o: (
        os.mkdir(s / "a"),
        f("open-at", ok(_open(f, "a", {"directory"})), NONE, "../../outside/secret", NONE, {"read"}))[1],
}
LOOPS = {
    "symlink loop": lambda f, s, o: (os.symlink("l2", s / "l1"), os.symlink("l1", s / "l2"), _open(f, "l1"))[2],
    "symlink loop as intermediate": lambda f, s, o: (os.symlink("l2", s / "l1"), os.symlink("l1", s / "l2"),
                                                     _open(f, "l1/x"))[2],
    "nofollow open of a symlink": lambda f, s, o: ((s / "t").write_text("x"), os.symlink("t", s / "l"),
                                                   _open(f, "l", follow=False))[2],
}


@pytest.mark.parametrize("tier", tier_params())
@pytest.mark.parametrize("name", list(ESCAPES))
def test_escape_is_not_permitted(tier, name, jail):
    assert error(confined(tier, jail, ESCAPES[name])) == "not-permitted"


@pytest.mark.parametrize("tier", tier_params())
@pytest.mark.parametrize("name", list(LOOPS))
def test_symlink_loops_are_loop(tier, name, jail):
    assert error(confined(tier, jail, LOOPS[name])) == "loop"


@pytest.mark.parametrize("name", list(ESCAPES) + list(LOOPS))
def test_escapes_get_wasmtimes_error_codes(name, tmp_path):
    """The error codes asserted above are wasmtime-py's own, for every attempt."""
    attempt = {**ESCAPES, **LOOPS}[name]
    got = {}
    for engine in ("wasmtime", "interp"):
        sandbox, outside = tmp_path / engine / "sandbox", tmp_path / engine / "outside"
        sandbox.mkdir(parents=True)
        outside.mkdir()
        (outside / "secret").write_text("secret")
        (outside / "dir").mkdir()
        os.symlink("secret", outside / "l")
        got[engine] = plain(confined(engine, (sandbox, outside), attempt))
    assert got["interp"] == got["wasmtime"]


@pytest.mark.parametrize("tier", tier_params())
def test_hard_link_following_a_symlink_is_invalid_and_without_links_the_link(tier, jail):
    sandbox, outside = jail

    def attempt(f, s, o):
        os.symlink("../outside/secret", s / "l")
        return (f("link-at", f.root, {"symlink-follow"}, "l", f.root, "h"),
                f("link-at", f.root, NONE, "l", f.root, "h2"))
    assert confined(tier, jail, attempt) == ("invalid", None)     # wasmtime: follow is invalid
    assert os.readlink(sandbox / "h2") == "../outside/secret"      # a second link, inert
    assert (outside / "secret").stat().st_nlink == 1


@pytest.mark.parametrize("tier", tier_params())
def test_forty_symlinks_resolve_and_forty_one_are_loop(tier, jail):
    sandbox, _ = jail
    (sandbox / "t").write_text("x")
    os.symlink("t", sandbox / "s0")
    for i in range(1, 41):
        os.symlink(f"s{i - 1}", sandbox / f"s{i}")
    f = kit(tier, sandbox)
    assert not isinstance(_open(f, "s39"), str)
    assert _open(f, "s40") == "loop"


@pytest.mark.parametrize("tier", tier_params())
def test_read_only_preopen_refuses_every_change(tier, jail):
    sandbox, _ = jail
    (sandbox / "a.txt").write_text("read me")
    (sandbox / "sub").mkdir()
    before = tree(sandbox)
    t = confined(tier, jail, lambda f, s, o: read_only_scenario(f, s), RO)
    assert t[:16] == ["not-permitted"] * 16
    assert tree(sandbox) == before


# -- host-level details ---------------------------------------------------------------------
def host(tmp_path, **perms):
    store = wasmforge.Store(wasmforge.Engine())
    wasi = wasmforge.WasiConfig()
    wasi.preopen_dir(str(tmp_path), "/", **perms)
    store.set_wasi(wasi)
    ctx = p2_ctx(store)
    fns = instance_of(ctx, "wasi:filesystem/types").exports
    [(root, _)] = instance_of(ctx, "wasi:filesystem/preopens").exports["get-directories"].fn()
    return ctx, (lambda name, *a: fns[name].fn(*a)), root


def test_error_codes_follow_wasmtimes_errno_table():
    assert error_code_of_errno(errno.ENOENT) == "no-entry"
    assert error_code_of_errno(errno.EACCES) == "access"
    assert error_code_of_errno(errno.EPERM) == "not-permitted"
    assert error_code_of_errno(errno.ENOTEMPTY) == "not-empty"
    assert error_code_of_errno(errno.EROFS) == "io"          # not in wasmtime's table
    assert error_code_of_errno(None) == "io"


def test_filesystem_error_code_of_stream_errors(tmp_path):
    ctx, fn, _ = host(tmp_path)
    rt = ctx.types.resource(interface("wasi:io/error").types["error"])
    enospc = ctx.push(rt, io.IoError("full", 28))
    plain_error = ctx.push(rt, io.IoError("no errno"))
    assert fn("filesystem-error-code", enospc) == "insufficient-space"
    assert fn("filesystem-error-code", plain_error) is None


def test_open_descriptors_are_bounded_and_closed_when_dropped(tmp_path):
    (tmp_path / "f").write_text("x")
    ctx, fn, root = host(tmp_path)
    handles = [fn("[method]descriptor.open-at", root, NONE, "f", NONE, {"read"}) for _ in range(MAX_OPEN)]
    assert fn("[method]descriptor.open-at", root, NONE, "f", NONE, {"read"}) == "insufficient-memory"
    fds_before = len(os.listdir("/proc/self/fd"))
    for h in handles[:10]:
        ctx._drop(h.rep)
    assert len(os.listdir("/proc/self/fd")) == fds_before - 10
    assert not isinstance(fn("[method]descriptor.open-at", root, NONE, "f", NONE, {"read"}), str)


def test_a_stream_keeps_its_file_open_after_the_descriptor_is_dropped(tmp_path):
    (tmp_path / "f").write_bytes(b"abcdef")
    ctx, fn, root = host(tmp_path)
    fd = fn("[method]descriptor.open-at", root, NONE, "f", NONE, {"read", "write"})
    rs = ctx.get(fn("[method]descriptor.read-via-stream", fd, 2), io.InputStream)
    ws = ctx.get(fn("[method]descriptor.append-via-stream", fd), io.OutputStream)
    ctx._drop(fd.rep)
    ws.write(b"gh")
    assert (tmp_path / "f").read_bytes() == b"abcdefgh"
    assert rs.read(10) == b"cdefgh"
    with pytest.raises(io.StreamError) as closed:
        rs.read(10)
    assert closed.value.error is None


def test_a_non_utf8_name_is_an_illegal_byte_sequence_entry(tmp_path):
    os.close(os.open(os.fsencode(str(tmp_path)) + b"/bad\xff", os.O_CREAT | os.O_WRONLY, 0o644))
    ctx, fn, root = host(tmp_path)
    stream = fn("[method]descriptor.read-directory", root)
    assert fn("[method]directory-entry-stream.read-directory-entry", stream) == "illegal-byte-sequence"


def test_a_path_too_long_or_with_nul_is_refused(tmp_path):
    _, fn, root = host(tmp_path)
    assert fn("[method]descriptor.stat-at", root, NONE, "a" * 5000) == "name-too-long"
    assert fn("[method]descriptor.stat-at", root, NONE, "a\0b") == "invalid"
