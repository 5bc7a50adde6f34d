"""path_* functions: success paths, error paths and their exact errno."""

import os

import pytest

from wasmforge.wasi import Errno, Rights
from wasmforge.wasi.abi import (FDFLAG_APPEND, FDFLAG_DSYNC, FDFLAG_NONBLOCK, FDFLAG_RSYNC,
                                FDFLAG_SYNC, FST_ATIM, FST_MTIM, OFLAG_CREAT, OFLAG_DIRECTORY, OFLAG_EXCL,
                                OFLAG_TRUNC)

NOT_OPEN = 77


# -- path_open ------------------------------------------------------------------------------

def test_open_existing_file(guest, sandbox):
    (sandbox / "f").write_text("data")
    err, fd = guest.open("f")
    assert err == 0 and fd == 4 and guest.read(fd) == (0, b"data")


def test_open_missing_file_is_enoent(guest):
    assert guest.open("missing")[0] == Errno.NOENT


def test_open_empty_path_is_enoent(guest):
    assert guest.open("")[0] == Errno.NOENT


def test_open_creat_creates_file(guest, sandbox):
    err, fd = guest.open("new", OFLAG_CREAT)
    assert err == 0 and (sandbox / "new").is_file()


def test_open_creat_excl_on_existing_is_eexist(guest, sandbox):
    (sandbox / "f").write_text("x")
    assert guest.open("f", OFLAG_CREAT | OFLAG_EXCL)[0] == Errno.EXIST


def test_open_trunc_empties_file(guest, sandbox):
    (sandbox / "f").write_text("content")
    assert guest.open("f", OFLAG_TRUNC)[0] == 0
    assert (sandbox / "f").read_text() == ""


def test_open_directory_flag_on_file_is_enotdir(guest, sandbox):
    (sandbox / "f").write_text("x")
    assert guest.open("f", OFLAG_DIRECTORY)[0] == Errno.NOTDIR


def test_open_directory_flag_on_directory(guest, sandbox):
    (sandbox / "d").mkdir()
    err, fd = guest.open("d", OFLAG_DIRECTORY)
    assert err == 0 and guest.fdstat(fd)[1][0] == 3


def test_open_directory_with_write_rights_without_directory_flag_is_eisdir(guest, sandbox):
    (sandbox / "d").mkdir()
    assert guest.open("d")[0] == Errno.ISDIR


def test_open_directory_read_only_without_directory_flag(guest, sandbox):
    (sandbox / "d").mkdir()
    err, fd = guest.open("d", base=int(Rights.FD_READDIR | Rights.PATH_OPEN))
    assert err == 0 and guest.fdstat(fd)[1][0] == 3


def test_open_creat_with_directory_is_einval(guest):
    assert guest.open("x", OFLAG_CREAT | OFLAG_DIRECTORY)[0] == Errno.INVAL


def test_open_unknown_oflags_is_einval(guest):
    assert guest.open("x", 1 << 4)[0] == Errno.INVAL


def test_open_unknown_fdflags_is_einval(guest):
    assert guest.open("x", OFLAG_CREAT, fdflags=1 << 5)[0] == Errno.INVAL


def test_open_relative_to_file_fd_is_enotdir(guest, sandbox):
    (sandbox / "f").write_text("x")
    _, fd = guest.open("f")
    assert guest.open("x", dirfd=fd)[0] == Errno.NOTDIR


def test_open_relative_to_bad_fd_is_ebadf(guest):
    assert guest.open("x", dirfd=NOT_OPEN)[0] == Errno.BADF


def test_open_through_file_component_is_enotdir(guest, sandbox):
    (sandbox / "f").write_text("x")
    assert guest.open("f/x")[0] == Errno.NOTDIR


def test_open_trailing_slash_on_file_is_enotdir(guest, sandbox):
    (sandbox / "f").write_text("x")
    assert guest.open("f/")[0] == Errno.NOTDIR


def test_open_trailing_slash_on_directory(guest, sandbox):
    (sandbox / "d").mkdir()
    assert guest.open("d/")[0] == 0


def test_open_dot_opens_the_directory_itself(guest):
    err, fd = guest.open(".", OFLAG_DIRECTORY)
    assert err == 0 and guest.fdstat(fd)[1][0] == 3


def test_open_invalid_utf8_path_is_eilseq(guest):
    assert guest.open(b"\xff\xfe")[0] == Errno.ILSEQ


def test_open_path_with_nul_is_einval(guest):
    assert guest.open(b"a\0b")[0] == Errno.INVAL


def test_open_without_path_open_right_is_enotcapable(guest, sandbox):
    (sandbox / "f").write_text("x")
    guest.restrict(3, int(Rights.FD_READDIR))
    assert guest.open("f")[0] == Errno.NOTCAPABLE


def test_open_creat_without_create_right_is_enotcapable(guest, sandbox):
    guest.restrict(3, int(Rights.PATH_OPEN))
    assert guest.open("new", OFLAG_CREAT)[0] == Errno.NOTCAPABLE
    assert not (sandbox / "new").exists()


def test_open_trunc_without_set_size_right_is_enotcapable(guest, sandbox):
    (sandbox / "f").write_text("keep")
    guest.restrict(3, int(Rights.PATH_OPEN))
    assert guest.open("f", OFLAG_TRUNC)[0] == Errno.NOTCAPABLE
    assert (sandbox / "f").read_text() == "keep"


@pytest.mark.parametrize("flag", [FDFLAG_DSYNC, FDFLAG_SYNC, FDFLAG_RSYNC])
def test_open_sync_flags_are_honoured_without_extra_rights(guest, sandbox, flag):
    (sandbox / "f").write_text("x")
    err, fd = guest.open("f", base=int(Rights.FD_READ | Rights.FD_WRITE), fdflags=flag)
    assert err == 0 and guest.fdstat(fd)[1][1] == flag


def test_open_directory_flag_with_write_right_is_eisdir(guest, sandbox):
    (sandbox / "d").mkdir()
    assert guest.open("d", OFLAG_DIRECTORY, base=int(Rights.FD_READ | Rights.FD_WRITE))[0] == Errno.ISDIR


def test_open_directory_with_empty_rights(guest, sandbox):
    (sandbox / "d").mkdir()
    err, fd = guest.open("d", OFLAG_DIRECTORY, base=0, inheriting=0)
    assert err == 0 and guest.fdstat(fd)[1][2:] == (0, 0)


def test_open_append_flag_appends(guest, sandbox):
    (sandbox / "f").write_text("ab")
    err, fd = guest.open("f", fdflags=FDFLAG_APPEND)
    guest.write(fd, b"cd")
    assert (sandbox / "f").read_text() == "abcd"


def test_open_nonblock_flag_is_reported(guest, sandbox):
    (sandbox / "f").write_text("x")
    err, fd = guest.open("f", fdflags=FDFLAG_NONBLOCK)
    assert guest.fdstat(fd)[1][1] == FDFLAG_NONBLOCK


def test_open_rights_are_narrowed_to_inheriting(guest, sandbox):
    (sandbox / "d").mkdir()
    (sandbox / "d" / "f").write_text("x")
    _, d = guest.open("d", OFLAG_DIRECTORY, inheriting=int(Rights.FD_READ))
    _, f = guest.open("f", dirfd=d)
    assert guest.fdstat(f)[1][2] == Rights.FD_READ


def test_open_file_rights_exclude_directory_rights(guest, sandbox):
    (sandbox / "f").write_text("x")
    _, fd = guest.open("f")
    assert guest.fdstat(fd)[1][2] & Rights.PATH_OPEN == 0


def test_open_read_only_rights_open_host_file_read_only(guest, sandbox):
    (sandbox / "f").write_text("x")
    os.chmod(sandbox / "f", 0o444)
    err, fd = guest.open("f", base=int(Rights.FD_READ))
    assert err == 0
    assert guest.read(fd) == (0, b"x")


def test_open_symlink_to_directory_with_follow(guest, sandbox):
    (sandbox / "d").mkdir()
    os.symlink("d", sandbox / "ld")
    err, fd = guest.open("ld", OFLAG_DIRECTORY)
    assert err == 0 and guest.fdstat(fd)[1][0] == 3


def test_open_symlink_to_directory_nofollow_with_directory_flag_fails(guest, sandbox):
    (sandbox / "d").mkdir()
    os.symlink("d", sandbox / "ld")
    assert guest.open("ld", OFLAG_DIRECTORY, follow=False)[0] in (Errno.NOTDIR, Errno.LOOP)


def test_open_limits_descriptors(guest, sandbox, monkeypatch):
    import wasmforge.wasi.ctx as ctx_mod
    (sandbox / "f").write_text("x")
    monkeypatch.setattr(ctx_mod, "MAX_FDS", 6)
    assert [guest.open("f")[0] for _ in range(3)] == [0, 0, Errno.MFILE]


# -- path_create_directory / path_remove_directory ------------------------------------------

def test_create_directory(guest, sandbox):
    assert guest.path_call("path_create_directory", "d") == 0
    assert (sandbox / "d").is_dir()


def test_create_nested_directory_with_trailing_slash(guest, sandbox):
    (sandbox / "a").mkdir()
    assert guest.path_call("path_create_directory", "a/b/") == 0
    assert (sandbox / "a" / "b").is_dir()


def test_create_existing_directory_is_eexist(guest, sandbox):
    (sandbox / "d").mkdir()
    assert guest.path_call("path_create_directory", "d") == Errno.EXIST


def test_create_directory_missing_parent_is_enoent(guest):
    assert guest.path_call("path_create_directory", "no/d") == Errno.NOENT


def test_create_directory_dot_is_eexist(guest):
    assert guest.path_call("path_create_directory", ".") == Errno.EXIST


def test_create_directory_without_right_is_enotcapable(guest, sandbox):
    guest.call("fd_fdstat_set_rights", 3, int(Rights.PATH_OPEN), 0)
    assert guest.path_call("path_create_directory", "d") == Errno.NOTCAPABLE


def test_create_directory_relative_to_file_is_enotdir(guest, sandbox):
    (sandbox / "f").write_text("x")
    _, fd = guest.open("f")
    assert guest.path_call("path_create_directory", "d", fd) == Errno.NOTDIR


def test_remove_directory(guest, sandbox):
    (sandbox / "d").mkdir()
    assert guest.path_call("path_remove_directory", "d") == 0
    assert not (sandbox / "d").exists()


def test_remove_non_empty_directory_is_enotempty(guest, sandbox):
    (sandbox / "d").mkdir()
    (sandbox / "d" / "f").write_text("x")
    assert guest.path_call("path_remove_directory", "d") == Errno.NOTEMPTY


def test_remove_directory_on_file_is_enotdir(guest, sandbox):
    (sandbox / "f").write_text("x")
    assert guest.path_call("path_remove_directory", "f") == Errno.NOTDIR


def test_remove_missing_directory_is_enoent(guest):
    assert guest.path_call("path_remove_directory", "d") == Errno.NOENT


def test_remove_directory_dot_is_einval(guest):
    assert guest.path_call("path_remove_directory", ".") == Errno.INVAL


def test_remove_directory_symlink_to_directory_is_enotdir(guest, sandbox):
    (sandbox / "d").mkdir()
    os.symlink("d", sandbox / "ld")
    assert guest.path_call("path_remove_directory", "ld") == Errno.NOTDIR
    assert (sandbox / "d").is_dir()


# -- path_unlink_file -----------------------------------------------------------------------

def test_unlink_file(guest, sandbox):
    (sandbox / "f").write_text("x")
    assert guest.path_call("path_unlink_file", "f") == 0
    assert not (sandbox / "f").exists()


def test_unlink_directory_is_eisdir(guest, sandbox):
    (sandbox / "d").mkdir()
    assert guest.path_call("path_unlink_file", "d") == Errno.ISDIR


def test_unlink_missing_is_enoent(guest):
    assert guest.path_call("path_unlink_file", "f") == Errno.NOENT


def test_unlink_file_with_trailing_slash_is_enotdir(guest, sandbox):
    (sandbox / "f").write_text("x")
    assert guest.path_call("path_unlink_file", "f/") == Errno.NOTDIR
    assert (sandbox / "f").exists()


def test_unlink_without_right_is_enotcapable(guest, sandbox):
    (sandbox / "f").write_text("x")
    guest.call("fd_fdstat_set_rights", 3, int(Rights.PATH_OPEN), 0)
    assert guest.path_call("path_unlink_file", "f") == Errno.NOTCAPABLE


# -- path_filestat_get / path_filestat_set_times --------------------------------------------

def test_path_filestat_get_of_file(guest, sandbox):
    (sandbox / "f").write_bytes(b"12345")
    err, st = guest.filestat("f")
    assert err == 0 and st[1] == os.stat(sandbox / "f").st_ino and st[2] == 4 and st[4] == 5


def test_path_filestat_get_follows_symlink_when_asked(guest, sandbox):
    (sandbox / "f").write_bytes(b"12345")
    os.symlink("f", sandbox / "l")
    assert guest.filestat("l", follow=True)[1][2] == 4
    assert guest.filestat("l", follow=False)[1][2] == 7


def test_path_filestat_get_missing_is_enoent(guest):
    assert guest.filestat("nope")[0] == Errno.NOENT


def test_path_filestat_get_trailing_slash_on_file_is_enotdir(guest, sandbox):
    (sandbox / "f").write_text("x")
    assert guest.filestat("f/")[0] == Errno.NOTDIR


def test_path_filestat_get_without_right_is_enotcapable(guest, sandbox):
    (sandbox / "f").write_text("x")
    guest.call("fd_fdstat_set_rights", 3, int(Rights.PATH_OPEN), 0)
    assert guest.filestat("f")[0] == Errno.NOTCAPABLE


def test_path_filestat_set_times(guest, sandbox):
    (sandbox / "f").write_text("x")
    p = guest.put("f")
    assert guest.call("path_filestat_set_times", 3, 0, *p, 3_000_000_000, 4_000_000_000, FST_ATIM | FST_MTIM) == 0
    st = os.stat(sandbox / "f")
    assert (st.st_atime_ns, st.st_mtime_ns) == (3_000_000_000, 4_000_000_000)


def test_path_filestat_set_times_nofollow_changes_the_link(guest, sandbox):
    (sandbox / "f").write_text("x")
    os.symlink("f", sandbox / "l")
    before = os.stat(sandbox / "f").st_mtime_ns
    p = guest.put("l")
    assert guest.call("path_filestat_set_times", 3, 0, *p, 0, 7_000_000_000, FST_MTIM) == 0
    assert os.lstat(sandbox / "l").st_mtime_ns == 7_000_000_000
    assert os.stat(sandbox / "f").st_mtime_ns == before


def test_path_filestat_set_times_invalid_flags_is_einval(guest, sandbox):
    (sandbox / "f").write_text("x")
    p = guest.put("f")
    assert guest.call("path_filestat_set_times", 3, 0, *p, 0, 0, 1 << 4) == Errno.INVAL


def test_path_filestat_set_times_missing_is_enoent(guest):
    p = guest.put("nope")
    assert guest.call("path_filestat_set_times", 3, 0, *p, 0, 0, FST_MTIM) == Errno.NOENT


# -- path_link ------------------------------------------------------------------------------

def test_path_link_creates_hard_link(guest, sandbox):
    (sandbox / "f").write_text("x")
    a, b = guest.put("f"), guest.put("g")
    assert guest.call("path_link", 3, 0, *a, 3, *b) == 0
    assert os.stat(sandbox / "g").st_ino == os.stat(sandbox / "f").st_ino


def test_path_link_to_existing_is_eexist(guest, sandbox):
    (sandbox / "f").write_text("x")
    (sandbox / "g").write_text("y")
    a, b = guest.put("f"), guest.put("g")
    assert guest.call("path_link", 3, 0, *a, 3, *b) == Errno.EXIST


def test_path_link_missing_source_is_enoent(guest):
    a, b = guest.put("f"), guest.put("g")
    assert guest.call("path_link", 3, 0, *a, 3, *b) == Errno.NOENT


def test_path_link_of_directory_is_eperm(guest, sandbox):
    (sandbox / "d").mkdir()
    a, b = guest.put("d"), guest.put("e")
    assert guest.call("path_link", 3, 0, *a, 3, *b) == Errno.PERM


def test_path_link_to_new_name_with_trailing_slash_is_enoent(guest, sandbox):
    (sandbox / "f").write_text("x")
    a, b = guest.put("f"), guest.put("g/")
    assert guest.call("path_link", 3, 0, *a, 3, *b) == Errno.NOENT


def test_path_link_between_preopens(make_guest, tmp_path):
    from wasmforge.wasi import WasiConfig
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "f").write_text("x")
    c = WasiConfig()
    c.preopen_dir(tmp_path / "a", "a")
    c.preopen_dir(tmp_path, "root")
    g = make_guest(c)
    src, dst = g.put("f"), g.put("g")
    assert g.call("path_link", 3, 0, *src, 4, *dst) == 0
    assert (tmp_path / "g").read_text() == "x"


def test_path_link_needs_source_and_target_rights(guest, sandbox):
    (sandbox / "f").write_text("x")
    a, b = guest.put("f"), guest.put("g")
    guest.call("fd_fdstat_set_rights", 3, int(Rights.PATH_LINK_SOURCE), 0)
    assert guest.call("path_link", 3, 0, *a, 3, *b) == Errno.NOTCAPABLE


def test_path_link_bad_fd_is_ebadf(guest):
    a, b = guest.put("f"), guest.put("g")
    assert guest.call("path_link", NOT_OPEN, 0, *a, 3, *b) == Errno.BADF
    assert guest.call("path_link", 3, 0, *a, NOT_OPEN, *b) == Errno.BADF


# -- path_rename ----------------------------------------------------------------------------

def test_path_rename_file(guest, sandbox):
    (sandbox / "f").write_text("x")
    a, b = guest.put("f"), guest.put("g")
    assert guest.call("path_rename", 3, *a, 3, *b) == 0
    assert (sandbox / "g").read_text() == "x" and not (sandbox / "f").exists()


def test_path_rename_replaces_existing_file(guest, sandbox):
    (sandbox / "f").write_text("new")
    (sandbox / "g").write_text("old")
    a, b = guest.put("f"), guest.put("g")
    assert guest.call("path_rename", 3, *a, 3, *b) == 0
    assert (sandbox / "g").read_text() == "new"


def test_path_rename_directory_over_file_is_enotdir(guest, sandbox):
    (sandbox / "d").mkdir()
    (sandbox / "f").write_text("x")
    a, b = guest.put("d"), guest.put("f")
    assert guest.call("path_rename", 3, *a, 3, *b) == Errno.NOTDIR


def test_path_rename_file_over_directory_is_eisdir(guest, sandbox):
    (sandbox / "d").mkdir()
    (sandbox / "f").write_text("x")
    a, b = guest.put("f"), guest.put("d")
    assert guest.call("path_rename", 3, *a, 3, *b) == Errno.ISDIR


def test_path_rename_onto_non_empty_directory_is_enotempty(guest, sandbox):
    (sandbox / "d").mkdir()
    (sandbox / "e").mkdir()
    (sandbox / "e" / "x").write_text("x")
    a, b = guest.put("d"), guest.put("e")
    assert guest.call("path_rename", 3, *a, 3, *b) == Errno.NOTEMPTY


def test_path_rename_missing_is_enoent(guest):
    a, b = guest.put("f"), guest.put("g")
    assert guest.call("path_rename", 3, *a, 3, *b) == Errno.NOENT


def test_path_rename_file_with_trailing_slash_is_enotdir(guest, sandbox):
    (sandbox / "f").write_text("x")
    a, b = guest.put("f/"), guest.put("g")
    assert guest.call("path_rename", 3, *a, 3, *b) == Errno.NOTDIR


def test_path_rename_needs_target_right(guest, sandbox):
    (sandbox / "f").write_text("x")
    guest.call("fd_fdstat_set_rights", 3, int(Rights.PATH_RENAME_SOURCE), 0)
    a, b = guest.put("f"), guest.put("g")
    assert guest.call("path_rename", 3, *a, 3, *b) == Errno.NOTCAPABLE


# -- path_symlink / path_readlink -----------------------------------------------------------

def test_path_symlink_and_readlink(guest, sandbox):
    t, link = guest.put("some/target"), guest.put("link")
    assert guest.call("path_symlink", *t, 3, *link) == 0
    assert os.readlink(sandbox / "link") == "some/target"
    buf, used = guest.alloc(64), guest.alloc(4)
    assert guest.call("path_readlink", 3, *link, buf, 64, used) == 0
    assert guest.get(buf, guest.u32(used)) == b"some/target"


def test_path_readlink_truncates_to_buffer(guest, sandbox):
    os.symlink("abcdefgh", sandbox / "link")
    link = guest.put("link")
    buf, used = guest.alloc(4), guest.alloc(4)
    assert guest.call("path_readlink", 3, *link, buf, 4, used) == 0
    assert guest.u32(used) == 4 and guest.get(buf, 4) == b"abcd"


def test_path_readlink_of_file_is_einval(guest, sandbox):
    (sandbox / "f").write_text("x")
    link = guest.put("f")
    assert guest.call("path_readlink", 3, *link, guest.alloc(8), 8, guest.alloc(4)) == Errno.INVAL


def test_path_readlink_missing_is_enoent(guest):
    link = guest.put("nope")
    assert guest.call("path_readlink", 3, *link, guest.alloc(8), 8, guest.alloc(4)) == Errno.NOENT


def test_path_symlink_existing_is_eexist(guest, sandbox):
    (sandbox / "f").write_text("x")
    t, link = guest.put("x"), guest.put("f")
    assert guest.call("path_symlink", *t, 3, *link) == Errno.EXIST


def test_path_symlink_with_trailing_slash_is_enoent(guest, sandbox):
    t, link = guest.put("x"), guest.put("link/")
    assert guest.call("path_symlink", *t, 3, *link) == Errno.NOENT


def test_path_symlink_without_right_is_enotcapable(guest):
    guest.call("fd_fdstat_set_rights", 3, int(Rights.PATH_OPEN), 0)
    t, link = guest.put("x"), guest.put("link")
    assert guest.call("path_symlink", *t, 3, *link) == Errno.NOTCAPABLE


def test_path_symlink_bad_fd_is_ebadf(guest):
    t, link = guest.put("x"), guest.put("link")
    assert guest.call("path_symlink", *t, NOT_OPEN, *link) == Errno.BADF
