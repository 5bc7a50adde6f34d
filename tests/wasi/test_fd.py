"""fd_* functions: success paths, error paths and their exact errno."""

import os

import pytest

from support import descriptors_under

from wasmforge.wasi import Errno, Rights
from wasmforge.wasi.abi import (DIRENT, FDFLAG_APPEND, FDFLAG_NONBLOCK, FDFLAG_SYNC, FILESTAT,
                                FST_ATIM, FST_ATIM_NOW, FST_MTIM, FST_MTIM_NOW, OFLAG_CREAT, PRESTAT)

NOT_OPEN = 77


@pytest.fixture
def file_fd(guest, sandbox):
    (sandbox / "f").write_bytes(b"0123456789")
    err, fd = guest.open("f")
    assert err == 0
    return fd


# -- fd_write / fd_read ---------------------------------------------------------------------

def test_fd_write_gathers_iovecs_into_file(guest, sandbox):
    err, fd = guest.open("out", OFLAG_CREAT)
    assert guest.write(fd, b"ab", b"", b"cd") == (0, 4)
    assert (sandbox / "out").read_bytes() == b"abcd"


def test_fd_read_scatters_into_iovecs(guest, file_fd):
    assert guest.read(file_fd, 3, 4) == (0, b"0123456")


def test_fd_read_at_end_of_file_reads_nothing(guest, file_fd):
    guest.read(file_fd, 64)
    assert guest.read(file_fd, 8) == (0, b"")


def test_fd_read_bad_fd_is_ebadf(guest):
    assert guest.read(NOT_OPEN)[0] == Errno.BADF


def test_fd_write_bad_fd_is_ebadf(guest):
    assert guest.write(NOT_OPEN, b"x")[0] == Errno.BADF


def test_fd_read_without_read_right_is_enotcapable(guest, sandbox):
    (sandbox / "f").write_text("x")
    err, fd = guest.open("f", base=int(Rights.FD_WRITE))
    assert guest.read(fd)[0] == Errno.NOTCAPABLE


def test_fd_write_without_write_right_is_enotcapable(guest, file_fd, sandbox):
    guest.call("fd_fdstat_set_rights", file_fd, int(Rights.FD_READ), 0)
    assert guest.write(file_fd, b"x")[0] == Errno.NOTCAPABLE
    assert (sandbox / "f").read_bytes() == b"0123456789"


def test_fd_read_on_directory_is_ebadf(guest):
    # wasmtime's answer (tests/wasi/test_dir_fd_errno.py compares every such call with it)
    assert guest.read(3)[0] == Errno.BADF


def test_stdout_callback_receives_writes(make_guest):
    from wasmforge.wasi import WasiConfig
    got = []
    c = WasiConfig()
    c.stdout_callback = got.append
    g = make_guest(c)
    assert g.write(1, b"hello ", b"world") == (0, 11)
    assert got == [b"hello world"]


def test_stderr_callback_receives_writes(make_guest):
    from wasmforge.wasi import WasiConfig
    got = []
    c = WasiConfig()
    c.stderr_callback = got.append
    g = make_guest(c)
    g.write(2, b"oops")
    assert got == [b"oops"]


def test_stdout_callback_exception_propagates_unchanged(make_guest):
    from wasmforge.wasi import WasiConfig

    class Boom(Exception):
        pass

    def cb(data):
        raise Boom("from callback")

    c = WasiConfig()
    c.stdout_callback = cb
    g = make_guest(c)
    with pytest.raises(Boom, match="from callback"):
        g.write(1, b"x")


def test_default_stdout_discards_and_reports_full_write(make_guest):
    g = make_guest()
    assert g.write(1, b"gone") == (0, 4)


def test_default_stdin_is_empty(make_guest):
    assert make_guest().read(0) == (0, b"")


def test_stdin_bytes_are_read_then_eof(make_guest):
    from wasmforge.wasi import WasiConfig
    c = WasiConfig()
    c.stdin_bytes = b"line1\nline2\n"
    g = make_guest(c)
    assert g.read(0, 4) == (0, b"line")
    assert g.read(0, 64) == (0, b"1\nline2\n")
    assert g.read(0, 64) == (0, b"")


def test_stdin_file_and_stdout_file(make_guest, tmp_path):
    from wasmforge.wasi import WasiConfig
    (tmp_path / "in").write_bytes(b"input")
    c = WasiConfig()
    c.stdin_file = tmp_path / "in"
    c.stdout_file = tmp_path / "out"
    c.stderr_file = tmp_path / "err"
    g = make_guest(c)
    assert g.read(0) == (0, b"input")
    g.write(1, b"to out")
    g.write(2, b"to err")
    g.ctx.close()
    assert (tmp_path / "out").read_bytes() == b"to out"
    assert (tmp_path / "err").read_bytes() == b"to err"


def test_writing_to_stdin_is_enotcapable(make_guest):
    assert make_guest().write(0, b"x")[0] == Errno.NOTCAPABLE


def test_inherited_stdout_writes_to_host_fd_1(make_guest, capfd):
    from wasmforge.wasi import WasiConfig
    c = WasiConfig()
    c.inherit_stdout()
    g = make_guest(c)
    g.write(1, b"to the host\n")
    assert capfd.readouterr().out == "to the host\n"


# -- fd_pread / fd_pwrite -------------------------------------------------------------------

def test_fd_pread_reads_at_offset_without_moving_position(guest, file_fd):
    arr, n, bufs = guest.iovs([3], True)
    out = guest.alloc(4)
    assert guest.call("fd_pread", file_fd, arr, n, 5, out) == 0
    assert guest.u32(out) == 3 and guest.get(bufs[0][0], 3) == b"567"
    assert guest.read(file_fd, 2) == (0, b"01")


def test_fd_pwrite_writes_at_offset_without_moving_position(guest, file_fd, sandbox):
    arr, n, _ = guest.iovs([b"XY"], False)
    out = guest.alloc(4)
    assert guest.call("fd_pwrite", file_fd, arr, n, 8, out) == 0
    assert guest.u32(out) == 2
    assert (sandbox / "f").read_bytes() == b"01234567XY"
    assert guest.read(file_fd, 1) == (0, b"0")


def test_fd_pread_on_stream_is_espipe(make_guest):
    g = make_guest()
    arr, n, _ = g.iovs([4], True)
    assert g.call("fd_pread", 0, arr, n, 0, g.alloc(4)) == Errno.SPIPE


def test_fd_pwrite_on_stream_is_espipe(make_guest):
    g = make_guest()
    arr, n, _ = g.iovs([b"x"], False)
    assert g.call("fd_pwrite", 1, arr, n, 0, g.alloc(4)) == Errno.SPIPE


def test_fd_pread_without_seek_right_is_enotcapable(guest, file_fd):
    guest.call("fd_fdstat_set_rights", file_fd, int(Rights.FD_READ), 0)
    arr, n, _ = guest.iovs([4], True)
    assert guest.call("fd_pread", file_fd, arr, n, 0, guest.alloc(4)) == Errno.NOTCAPABLE


def test_fd_pread_offset_beyond_signed_range_is_einval(guest, file_fd):
    arr, n, _ = guest.iovs([4], True)
    assert guest.call("fd_pread", file_fd, arr, n, 1 << 63, guest.alloc(4)) == Errno.INVAL


def test_fd_pread_bad_fd_is_ebadf(guest):
    arr, n, _ = guest.iovs([4], True)
    assert guest.call("fd_pread", NOT_OPEN, arr, n, 0, guest.alloc(4)) == Errno.BADF


# -- fd_seek / fd_tell ----------------------------------------------------------------------

def seek(g, fd, offset, whence):
    out = g.alloc(8)
    err = g.call("fd_seek", fd, offset & 0xFFFFFFFFFFFFFFFF, whence, out)
    return err, (g.u64(out) if err == 0 else None)


def test_fd_seek_set_cur_end(guest, file_fd):
    assert seek(guest, file_fd, 4, 0) == (0, 4)
    assert seek(guest, file_fd, 2, 1) == (0, 6)
    assert seek(guest, file_fd, -3, 2) == (0, 7)
    assert guest.read(file_fd, 8) == (0, b"789")


def test_fd_seek_negative_result_is_einval(guest, file_fd):
    assert seek(guest, file_fd, -1, 0)[0] == Errno.INVAL


def test_fd_seek_bad_whence_is_einval(guest, file_fd):
    assert seek(guest, file_fd, 0, 3)[0] == Errno.INVAL


def test_fd_seek_on_stream_is_espipe(make_guest):
    assert seek(make_guest(), 1, 0, 0)[0] == Errno.SPIPE


def test_fd_seek_bad_fd_is_ebadf(guest):
    assert seek(guest, NOT_OPEN, 0, 0)[0] == Errno.BADF


def test_fd_seek_with_only_tell_right_may_only_query(guest, file_fd):
    guest.call("fd_fdstat_set_rights", file_fd, int(Rights.FD_TELL | Rights.FD_READ), 0)
    assert seek(guest, file_fd, 0, 1) == (0, 0)
    assert seek(guest, file_fd, 1, 0)[0] == Errno.NOTCAPABLE


def test_fd_tell_reports_position(guest, file_fd):
    guest.read(file_fd, 3)
    out = guest.alloc(8)
    assert guest.call("fd_tell", file_fd, out) == 0 and guest.u64(out) == 3


def test_fd_tell_without_rights_is_enotcapable(guest, file_fd):
    guest.call("fd_fdstat_set_rights", file_fd, int(Rights.FD_READ), 0)
    assert guest.call("fd_tell", file_fd, guest.alloc(8)) == Errno.NOTCAPABLE


def test_fd_tell_on_stream_is_espipe(make_guest):
    g = make_guest()
    assert g.call("fd_tell", 0, g.alloc(8)) == Errno.SPIPE


# -- fd_close / fd_renumber -----------------------------------------------------------------

def test_fd_close_then_use_is_ebadf(guest, file_fd):
    assert guest.call("fd_close", file_fd) == 0
    assert guest.read(file_fd)[0] == Errno.BADF
    assert guest.call("fd_close", file_fd) == Errno.BADF


def test_fd_close_releases_host_descriptor(guest, sandbox):
    (sandbox / "f").write_text("x")
    before = descriptors_under(sandbox)
    err, fd = guest.open("f")
    assert descriptors_under(sandbox) == before + 1
    guest.call("fd_close", fd)
    assert descriptors_under(sandbox) == before


def test_closed_numbers_are_reused_lowest_first(guest, sandbox):
    (sandbox / "f").write_text("x")
    fds = [guest.open("f")[1] for _ in range(3)]
    guest.call("fd_close", fds[0])
    assert guest.open("f")[1] == fds[0]


def test_fd_renumber_moves_and_closes_target(guest, sandbox):
    (sandbox / "a").write_text("A")
    (sandbox / "b").write_text("B")
    _, a = guest.open("a")
    _, b = guest.open("b")
    assert guest.call("fd_renumber", a, b) == 0
    assert guest.read(b) == (0, b"A")
    assert guest.read(a)[0] == Errno.BADF


def test_fd_renumber_to_unopened_fd_is_ebadf(guest, file_fd):
    assert guest.call("fd_renumber", file_fd, NOT_OPEN) == Errno.BADF


def test_fd_renumber_from_unopened_fd_is_ebadf(guest, file_fd):
    assert guest.call("fd_renumber", NOT_OPEN, file_fd) == Errno.BADF


def test_fd_renumber_to_itself_is_noop(guest, file_fd):
    assert guest.call("fd_renumber", file_fd, file_fd) == 0
    assert guest.read(file_fd, 1) == (0, b"0")


# -- fd_fdstat ------------------------------------------------------------------------------

def test_fd_fdstat_get_of_preopen(guest):
    err, (ftype, flags, base, inheriting) = guest.fdstat(3)
    assert err == 0 and ftype == 3 and flags == 0
    assert base & Rights.PATH_OPEN and inheriting & Rights.FD_WRITE


def test_fd_fdstat_get_of_file_reports_type_flags_and_rights(guest, sandbox):
    (sandbox / "f").write_text("x")
    err, fd = guest.open("f", base=int(Rights.FD_READ | Rights.FD_SEEK), fdflags=FDFLAG_APPEND)
    err, (ftype, flags, base, inheriting) = guest.fdstat(fd)
    assert (ftype, flags, base, inheriting) == (4, FDFLAG_APPEND, int(Rights.FD_READ | Rights.FD_SEEK), 0)


def test_fd_fdstat_get_bad_fd_is_ebadf(guest):
    assert guest.fdstat(NOT_OPEN)[0] == Errno.BADF


def test_fd_fdstat_set_flags_append_makes_writes_append(guest, file_fd, sandbox):
    assert guest.call("fd_fdstat_set_flags", file_fd, FDFLAG_APPEND) == 0
    guest.write(file_fd, b"!")
    assert (sandbox / "f").read_bytes() == b"0123456789!"
    assert guest.fdstat(file_fd)[1][1] == FDFLAG_APPEND


def test_fd_fdstat_set_flags_nonblock(guest, file_fd):
    assert guest.call("fd_fdstat_set_flags", file_fd, FDFLAG_NONBLOCK) == 0
    assert guest.fdstat(file_fd)[1][1] == FDFLAG_NONBLOCK


def test_fd_fdstat_set_flags_cannot_change_sync(guest, file_fd):
    assert guest.call("fd_fdstat_set_flags", file_fd, FDFLAG_SYNC) == Errno.NOTSUP


def test_fd_fdstat_set_flags_unknown_bits_are_einval(guest, file_fd):
    assert guest.call("fd_fdstat_set_flags", file_fd, 1 << 5) == Errno.INVAL


def test_fd_fdstat_set_flags_without_right_is_enotcapable(guest, file_fd):
    guest.call("fd_fdstat_set_rights", file_fd, int(Rights.FD_READ), 0)
    assert guest.call("fd_fdstat_set_flags", file_fd, FDFLAG_APPEND) == Errno.NOTCAPABLE


def test_fd_fdstat_set_rights_can_only_drop(guest, file_fd):
    assert guest.call("fd_fdstat_set_rights", file_fd, int(Rights.FD_READ), 0) == 0
    assert guest.call("fd_fdstat_set_rights", file_fd, int(Rights.FD_READ | Rights.FD_WRITE), 0) \
        == Errno.NOTCAPABLE
    assert guest.fdstat(file_fd)[1][2] == Rights.FD_READ


def test_fd_fdstat_set_rights_bad_fd_is_ebadf(guest):
    assert guest.call("fd_fdstat_set_rights", NOT_OPEN, 0, 0) == Errno.BADF


# -- fd_filestat ----------------------------------------------------------------------------

def filestat(g, fd):
    out = g.alloc(FILESTAT.size)
    err = g.call("fd_filestat_get", fd, out)
    return err, (FILESTAT.unpack_from(g.mem.data, out) if err == 0 else None)


def test_fd_filestat_get_of_file(guest, file_fd, sandbox):
    err, (dev, ino, ftype, nlink, size, atim, mtim, ctim) = filestat(guest, file_fd)
    st = os.stat(sandbox / "f")
    assert err == 0 and (ino, ftype, nlink, size, mtim) == (st.st_ino, 4, 1, 10, st.st_mtime_ns)


def test_fd_filestat_get_of_directory(guest):
    assert filestat(guest, 3)[1][2] == 3


def test_fd_filestat_get_of_in_process_stream_is_zeroed(make_guest):
    err, st = filestat(make_guest(), 1)
    assert err == 0 and st == (0, 0, 0, 0, 0, 0, 0, 0)


def test_fd_filestat_get_bad_fd_is_ebadf(guest):
    assert filestat(guest, NOT_OPEN)[0] == Errno.BADF


def test_fd_filestat_set_size_truncates_and_extends(guest, file_fd, sandbox):
    assert guest.call("fd_filestat_set_size", file_fd, 4) == 0
    assert (sandbox / "f").read_bytes() == b"0123"
    assert guest.call("fd_filestat_set_size", file_fd, 6) == 0
    assert (sandbox / "f").read_bytes() == b"0123\0\0"


def test_fd_filestat_set_size_without_right_is_enotcapable(guest, file_fd):
    guest.call("fd_fdstat_set_rights", file_fd, int(Rights.FD_READ), 0)
    assert guest.call("fd_filestat_set_size", file_fd, 0) == Errno.NOTCAPABLE


def test_fd_filestat_set_size_on_directory_is_ebadf(guest):
    assert guest.call("fd_filestat_set_size", 3, 0) == Errno.BADF


def test_fd_filestat_set_times_sets_given_times(guest, file_fd, sandbox):
    assert guest.call("fd_filestat_set_times", file_fd, 1_000_000_000, 2_000_000_000, FST_ATIM | FST_MTIM) == 0
    st = os.stat(sandbox / "f")
    assert (st.st_atime_ns, st.st_mtime_ns) == (1_000_000_000, 2_000_000_000)


def test_fd_filestat_set_times_leaves_unselected_time(guest, file_fd, sandbox):
    os.utime(sandbox / "f", ns=(5_000_000_000, 6_000_000_000))
    assert guest.call("fd_filestat_set_times", file_fd, 0, 9_000_000_000, FST_MTIM) == 0
    st = os.stat(sandbox / "f")
    assert (st.st_atime_ns, st.st_mtime_ns) == (5_000_000_000, 9_000_000_000)


def test_fd_filestat_set_times_now(guest, file_fd, sandbox):
    os.utime(sandbox / "f", ns=(0, 0))
    assert guest.call("fd_filestat_set_times", file_fd, 0, 0, FST_ATIM_NOW | FST_MTIM_NOW) == 0
    assert os.stat(sandbox / "f").st_mtime_ns > 0


def test_fd_filestat_set_times_time_and_now_together_is_einval(guest, file_fd):
    assert guest.call("fd_filestat_set_times", file_fd, 0, 0, FST_ATIM | FST_ATIM_NOW) == Errno.INVAL
    assert guest.call("fd_filestat_set_times", file_fd, 0, 0, FST_MTIM | FST_MTIM_NOW) == Errno.INVAL


def test_fd_filestat_set_times_bad_fd_is_ebadf(guest):
    assert guest.call("fd_filestat_set_times", NOT_OPEN, 0, 0, FST_MTIM) == Errno.BADF


# -- fd_advise / fd_allocate / fd_sync / fd_datasync ----------------------------------------

def test_fd_advise_accepts_every_advice(guest, file_fd):
    assert [guest.call("fd_advise", file_fd, 0, 10, a) for a in range(6)] == [0] * 6


def test_fd_advise_unknown_advice_is_einval(guest, file_fd):
    assert guest.call("fd_advise", file_fd, 0, 10, 6) == Errno.INVAL


def test_fd_advise_bad_fd_is_ebadf(guest):
    assert guest.call("fd_advise", NOT_OPEN, 0, 0, 0) == Errno.BADF


def test_fd_allocate_extends_file(guest, file_fd, sandbox):
    assert guest.call("fd_allocate", file_fd, 0, 100) == 0
    assert os.path.getsize(sandbox / "f") == 100


def test_fd_allocate_never_shrinks(guest, file_fd, sandbox):
    assert guest.call("fd_allocate", file_fd, 0, 2) == 0
    assert os.path.getsize(sandbox / "f") == 10


def test_fd_allocate_without_right_is_enotcapable(guest, file_fd):
    guest.call("fd_fdstat_set_rights", file_fd, int(Rights.FD_READ), 0)
    assert guest.call("fd_allocate", file_fd, 0, 100) == Errno.NOTCAPABLE


def test_fd_sync_and_datasync_on_file(guest, file_fd):
    assert guest.call("fd_sync", file_fd) == 0
    assert guest.call("fd_datasync", file_fd) == 0


def test_fd_sync_bad_fd_is_ebadf(guest):
    assert guest.call("fd_sync", NOT_OPEN) == Errno.BADF
    assert guest.call("fd_datasync", NOT_OPEN) == Errno.BADF


def test_fd_sync_without_right_is_enotcapable(guest, file_fd):
    guest.call("fd_fdstat_set_rights", file_fd, int(Rights.FD_READ), 0)
    assert guest.call("fd_sync", file_fd) == Errno.NOTCAPABLE
    assert guest.call("fd_datasync", file_fd) == Errno.NOTCAPABLE


# -- fd_prestat -----------------------------------------------------------------------------

def test_fd_prestat_get_of_preopen(guest):
    out = guest.alloc(PRESTAT.size)
    assert guest.call("fd_prestat_get", 3, out) == 0
    assert PRESTAT.unpack_from(guest.mem.data, out) == (0, len("/sandbox"))


def test_fd_prestat_get_of_non_preopen_is_ebadf(guest):
    assert guest.call("fd_prestat_get", 1, guest.alloc(8)) == Errno.BADF
    assert guest.call("fd_prestat_get", 4, guest.alloc(8)) == Errno.BADF


def test_fd_prestat_dir_name(guest):
    buf = guest.alloc(32)
    assert guest.call("fd_prestat_dir_name", 3, buf, 32) == 0
    assert guest.get(buf, 9) == b"/sandbox\0"


def test_fd_prestat_dir_name_short_buffer_is_enametoolong(guest):
    assert guest.call("fd_prestat_dir_name", 3, guest.alloc(4), 4) == Errno.NAMETOOLONG


def test_fd_prestat_dir_name_of_non_preopen_is_ebadf(guest):
    assert guest.call("fd_prestat_dir_name", 0, guest.alloc(8), 8) == Errno.BADF


def test_preopens_are_numbered_in_grant_order(make_guest, tmp_path):
    from wasmforge.wasi import WasiConfig
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    c = WasiConfig()
    c.preopen_dir(tmp_path / "a", "first")
    c.preopen_dir(tmp_path / "b", "second")
    g = make_guest(c)
    names = []
    for fd in (3, 4):
        buf = g.alloc(16)
        g.call("fd_prestat_dir_name", fd, buf, 16)
        names.append(g.get(buf, 6))
    assert names == [b"first\0", b"second"]


# -- fd_readdir -----------------------------------------------------------------------------

def readdir(g, fd, cookie=0, size=4096):
    buf = g.alloc(size)
    used = g.alloc(4)
    err = g.call("fd_readdir", fd, buf, size, cookie, used)
    return err, g.get(buf, g.u32(used)) if err == 0 else None


def parse_dirents(data):
    out = []
    pos = 0
    while pos + DIRENT.size <= len(data):
        d_next, ino, namlen, dtype = DIRENT.unpack_from(data, pos)
        name = data[pos + DIRENT.size:pos + DIRENT.size + namlen]
        out.append((d_next, name, dtype))
        pos += DIRENT.size + namlen
    return out


def test_fd_readdir_lists_entries_with_types(guest, sandbox):
    (sandbox / "file").write_text("x")
    (sandbox / "dir").mkdir()
    os.symlink("file", sandbox / "link")
    err, data = readdir(guest, 3)
    entries = {name: dtype for _, name, dtype in parse_dirents(data)}
    assert err == 0
    assert entries == {b".": 3, b"..": 3, b"file": 4, b"dir": 3, b"link": 7}


def test_fd_readdir_cookies_resume_listing(guest, sandbox):
    for i in range(5):
        (sandbox / f"f{i}").write_text("x")
    _, data = readdir(guest, 3)
    full = parse_dirents(data)
    cookie = full[2][0]
    _, rest = readdir(guest, 3, cookie)
    assert [n for _, n, _ in parse_dirents(rest)] == [n for _, n, _ in full[3:]]


def test_fd_readdir_small_buffer_is_filled_and_truncated(guest, sandbox):
    (sandbox / "a_rather_long_file_name").write_text("x")
    err, data = readdir(guest, 3, size=30)
    assert err == 0 and len(data) == 30


def test_fd_readdir_cookie_past_end_returns_nothing(guest):
    assert readdir(guest, 3, cookie=1000) == (0, b"")


def test_fd_readdir_on_file_is_enotdir(guest, file_fd):
    assert readdir(guest, file_fd)[0] == Errno.NOTDIR


def test_fd_readdir_bad_fd_is_ebadf(guest):
    assert readdir(guest, NOT_OPEN)[0] == Errno.BADF


def test_fd_readdir_without_right_is_enotcapable(guest):
    guest.call("fd_fdstat_set_rights", 3, int(Rights.PATH_OPEN), 0)
    assert readdir(guest, 3)[0] == Errno.NOTCAPABLE


def test_fd_seek_and_tell_on_directory_are_ebadf(guest):
    assert seek(guest, 3, 0, 1)[0] == Errno.BADF
    assert guest.call("fd_tell", 3, guest.alloc(8)) == Errno.BADF


def test_fd_pread_on_directory_is_ebadf(guest):
    arr, n, _ = guest.iovs([4], True)
    assert guest.call("fd_pread", 3, arr, n, 0, guest.alloc(4)) == Errno.BADF
