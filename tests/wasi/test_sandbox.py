"""Capability confinement: no guest path reaches outside its preopened directory."""

import os

import pytest

from support import descriptors_under
from wasmforge.wasi import Errno
from wasmforge.wasi.abi import OFLAG_CREAT, OFLAG_DIRECTORY, OFLAG_EXCL, OFLAG_TRUNC
from wasmforge.wasi import paths


def test_dotdot_above_preopen_is_eperm(guest):
    assert guest.open("../outside/secret")[0] == Errno.PERM


def test_dotdot_after_descending_still_cannot_escape(guest, sandbox):
    (sandbox / "a").mkdir()
    assert guest.open("a/../../outside/secret")[0] == Errno.PERM


def test_dotdot_within_sandbox_is_allowed(guest, sandbox):
    (sandbox / "a").mkdir()
    (sandbox / "f").write_text("in")
    err, fd = guest.open("a/../f")
    assert err == 0 and guest.read(fd)[1] == b"in"


def test_absolute_path_is_eperm(guest):
    assert guest.open("/etc/passwd")[0] == Errno.PERM


def test_absolute_path_naming_the_preopen_itself_is_eperm(guest, sandbox):
    (sandbox / "f").write_text("x")
    assert guest.open("/sandbox/f")[0] == Errno.PERM


def test_symlink_to_absolute_outside_path_is_not_followed(guest, sandbox, tmp_path):
    os.symlink(tmp_path / "outside" / "secret", sandbox / "link")
    assert guest.open("link")[0] == Errno.PERM


def test_symlink_with_dotdot_target_outside_is_eperm(guest, sandbox):
    os.symlink("../outside/secret", sandbox / "link")
    assert guest.open("link")[0] == Errno.PERM


def test_symlink_to_outside_directory_used_as_intermediate_component(guest, sandbox):
    os.symlink("../outside", sandbox / "out")
    assert guest.open("out/secret")[0] == Errno.PERM


def test_symlink_chain_leading_outside_is_eperm(guest, sandbox):
    (sandbox / "d").mkdir()
    os.symlink("../l2", sandbox / "d" / "l1")
    os.symlink("d/l3", sandbox / "l2")
    os.symlink("../../outside/secret", sandbox / "d" / "l3")
    assert guest.open("d/l1")[0] == Errno.PERM


def test_symlink_chain_inside_sandbox_resolves(guest, sandbox):
    (sandbox / "d").mkdir()
    (sandbox / "target").write_text("ok")
    os.symlink("../l2", sandbox / "d" / "l1")
    os.symlink("target", sandbox / "l2")
    err, fd = guest.open("d/l1")
    assert err == 0 and guest.read(fd)[1] == b"ok"


def test_symlink_loop_is_eloop(guest, sandbox):
    os.symlink("b", sandbox / "a")
    os.symlink("a", sandbox / "b")
    assert guest.open("a")[0] == Errno.LOOP


def test_symlink_loop_in_intermediate_component_is_eloop(guest, sandbox):
    os.symlink("self", sandbox / "self")
    assert guest.open("self/x")[0] == Errno.LOOP


def test_guest_created_symlink_with_escaping_target_cannot_be_followed(guest):
    target = guest.put("../outside/secret")
    link = guest.put("link")
    assert guest.call("path_symlink", *target, 3, *link) == 0
    assert guest.open("link")[0] == Errno.PERM
    assert guest.filestat("link")[0] == Errno.PERM


def test_guest_cannot_create_absolute_symlink(guest, sandbox):
    target = guest.put("/etc/passwd")
    link = guest.put("link")
    assert guest.call("path_symlink", *target, 3, *link) == Errno.PERM
    assert not os.path.lexists(sandbox / "link")


def test_guest_created_dangling_symlink_is_not_created_through_outside(guest, tmp_path):
    target = guest.put("../outside/new")
    link = guest.put("link")
    assert guest.call("path_symlink", *target, 3, *link) == 0
    assert guest.open("link", OFLAG_CREAT)[0] == Errno.PERM
    assert not (tmp_path / "outside" / "new").exists()


def test_creat_through_dangling_symlink_inside_sandbox_creates_target(guest, sandbox):
    os.symlink("made", sandbox / "link")
    err, fd = guest.open("link", OFLAG_CREAT)
    assert err == 0 and (sandbox / "made").is_file()


def test_nofollow_open_of_symlink_is_eloop(guest, sandbox):
    (sandbox / "f").write_text("x")
    os.symlink("f", sandbox / "link")
    assert guest.open("link", follow=False)[0] == Errno.LOOP


def test_creat_excl_on_dangling_symlink_is_eexist(guest, sandbox):
    os.symlink("nowhere", sandbox / "link")
    assert guest.open("link", OFLAG_CREAT | OFLAG_EXCL)[0] == Errno.EXIST
    assert not (sandbox / "nowhere").exists()


def test_rename_out_of_sandbox_is_eperm(guest, sandbox, tmp_path):
    (sandbox / "f").write_text("x")
    old, new = guest.put("f"), guest.put("../outside/f")
    assert guest.call("path_rename", 3, *old, 3, *new) == Errno.PERM
    assert (sandbox / "f").exists() and not (tmp_path / "outside" / "f").exists()


def test_rename_from_outside_is_eperm(guest, tmp_path):
    old, new = guest.put("../outside/secret"), guest.put("stolen")
    assert guest.call("path_rename", 3, *old, 3, *new) == Errno.PERM
    assert (tmp_path / "outside" / "secret").exists()


def test_rename_into_symlinked_outside_directory_is_eperm(guest, sandbox, tmp_path):
    (sandbox / "f").write_text("x")
    os.symlink("../outside", sandbox / "out")
    old, new = guest.put("f"), guest.put("out/f")
    assert guest.call("path_rename", 3, *old, 3, *new) == Errno.PERM
    assert not (tmp_path / "outside" / "f").exists()


def test_hard_link_to_outside_file_is_eperm(guest, sandbox):
    old, new = guest.put("../outside/secret"), guest.put("copy")
    assert guest.call("path_link", 3, 0, *old, 3, *new) == Errno.PERM
    assert not (sandbox / "copy").exists()


def test_hard_link_following_symlink_to_outside_is_eperm(guest, sandbox):
    os.symlink("../outside/secret", sandbox / "link")
    old, new = guest.put("link"), guest.put("copy")
    assert guest.call("path_link", 3, 1, *old, 3, *new) == Errno.PERM
    assert not (sandbox / "copy").exists()


def test_hard_link_without_follow_links_the_symlink_itself(guest, sandbox):
    os.symlink("../outside/secret", sandbox / "link")
    old, new = guest.put("link"), guest.put("copy")
    assert guest.call("path_link", 3, 0, *old, 3, *new) == 0
    assert os.path.islink(sandbox / "copy")
    assert guest.open("copy")[0] == Errno.PERM


def test_unlink_through_symlinked_directory_outside_is_eperm(guest, sandbox, tmp_path):
    os.symlink("../outside", sandbox / "out")
    p = guest.put("out/secret")
    assert guest.call("path_unlink_file", 3, *p) == Errno.PERM
    assert (tmp_path / "outside" / "secret").exists()


def test_unlink_of_symlink_removes_the_link_not_its_target(guest, sandbox, tmp_path):
    os.symlink("../outside/secret", sandbox / "link")
    p = guest.put("link")
    assert guest.call("path_unlink_file", 3, *p) == 0
    assert not os.path.lexists(sandbox / "link")
    assert (tmp_path / "outside" / "secret").exists()


def test_stat_through_escaping_symlink_is_eperm(guest, sandbox):
    os.symlink("../outside/secret", sandbox / "link")
    assert guest.filestat("link")[0] == Errno.PERM


def test_stat_nofollow_of_escaping_symlink_describes_the_link(guest, sandbox):
    os.symlink("../outside/secret", sandbox / "link")
    err, st = guest.filestat("link", follow=False)
    assert err == 0 and st[2] == 7        # filetype symbolic_link


def test_set_times_following_escaping_symlink_is_eperm(guest, sandbox, tmp_path):
    os.symlink("../outside/secret", sandbox / "link")
    before = os.stat(tmp_path / "outside" / "secret").st_mtime_ns
    p = guest.put("link")
    assert guest.call("path_filestat_set_times", 3, 1, *p, 0, 5, 4) == Errno.PERM
    assert os.stat(tmp_path / "outside" / "secret").st_mtime_ns == before


def test_mkdir_through_escaping_symlink_is_eperm(guest, sandbox, tmp_path):
    os.symlink("../outside", sandbox / "out")
    p = guest.put("out/newdir")
    assert guest.call("path_create_directory", 3, *p) == Errno.PERM
    assert not (tmp_path / "outside" / "newdir").exists()


def test_directory_fd_opened_below_preopen_is_its_own_root(guest, sandbox):
    (sandbox / "sub").mkdir()
    (sandbox / "f").write_text("x")
    err, sub = guest.open("sub", OFLAG_DIRECTORY)
    assert err == 0
    assert guest.open("../f", dirfd=sub)[0] == Errno.PERM


def test_directory_swapped_for_symlink_between_steps_is_still_confined(guest, sandbox, monkeypatch):
    """Race: after the walk checked `d` is a directory, it becomes a symlink to outside.

    The swap happens inside the resolver, right before it opens `d`; the open uses
    O_NOFOLLOW, sees a link, and resolves it by the sandbox rules."""
    (sandbox / "d").mkdir()
    (sandbox / "d" / "secret").write_text("inside")
    real_open = os.open
    swapped = []

    def racing_open(path, flags, *args, **kw):
        if path == "d" and not swapped:
            swapped.append(True)
            os.rename(sandbox / "d", sandbox / "d.old")
            os.symlink("../outside", sandbox / "d")
        return real_open(path, flags, *args, **kw)

    monkeypatch.setattr(paths.os, "open", racing_open)
    assert guest.open("d/secret")[0] == Errno.PERM
    assert swapped


def test_final_component_swapped_for_symlink_after_resolution_is_not_followed(guest, sandbox, monkeypatch):
    """Race: the last component is checked, then replaced by a link to outside before open."""
    (sandbox / "f").write_text("inside")
    real_resolve = paths.resolve

    def racing_resolve(base, path, follow):
        r = real_resolve(base, path, follow)
        os.unlink(sandbox / "f")
        os.symlink("../outside/secret", sandbox / "f")
        return r

    import wasmforge.wasi.ctx as ctx_mod
    monkeypatch.setattr(ctx_mod, "resolve", racing_resolve)
    assert guest.open("f")[0] == Errno.LOOP


def test_read_only_preopen_refuses_file_creation(ro_guest, sandbox):
    assert ro_guest.open("new", OFLAG_CREAT)[0] == Errno.NOTCAPABLE
    assert not (sandbox / "new").exists()


def test_read_only_preopen_refuses_truncation(ro_guest, sandbox):
    (sandbox / "f").write_text("keep")
    assert ro_guest.open("f", OFLAG_TRUNC)[0] == Errno.NOTCAPABLE
    assert (sandbox / "f").read_text() == "keep"


def test_read_only_preopen_opens_files_without_write_right(ro_guest, sandbox):
    (sandbox / "f").write_text("keep")
    err, fd = ro_guest.open("f")
    assert err == 0
    assert ro_guest.write(fd, b"x")[0] == Errno.NOTCAPABLE
    assert ro_guest.read(fd)[1] == b"keep"
    assert (sandbox / "f").read_text() == "keep"


@pytest.mark.parametrize("call", ["path_create_directory", "path_unlink_file", "path_remove_directory"])
def test_read_only_preopen_refuses_tree_changes(ro_guest, sandbox, call):
    (sandbox / "f").write_text("keep")
    (sandbox / "d").mkdir()
    target = {"path_create_directory": "new", "path_unlink_file": "f", "path_remove_directory": "d"}[call]
    p = ro_guest.put(target)
    assert ro_guest.call(call, 3, *p) == Errno.NOTCAPABLE
    assert (sandbox / "f").exists() and (sandbox / "d").exists() and not (sandbox / "new").exists()


def test_read_only_preopen_refuses_rename_symlink_and_link(ro_guest, sandbox):
    (sandbox / "f").write_text("keep")
    a, b = ro_guest.put("f"), ro_guest.put("g")
    assert ro_guest.call("path_rename", 3, *a, 3, *b) == Errno.NOTCAPABLE
    assert ro_guest.call("path_symlink", *a, 3, *b) == Errno.NOTCAPABLE
    assert ro_guest.call("path_link", 3, 0, *a, 3, *b) == Errno.NOTCAPABLE
    assert sorted(os.listdir(sandbox)) == ["f"]


def test_read_only_subdirectory_inherits_read_only_rights(ro_guest, sandbox):
    (sandbox / "sub").mkdir()
    err, sub = ro_guest.open("sub", OFLAG_DIRECTORY)
    assert err == 0
    assert ro_guest.open("new", OFLAG_CREAT, dirfd=sub)[0] == Errno.NOTCAPABLE
    assert ro_guest.fdstat(sub)[1][2] & ~ro_guest.fdstat(3)[1][3] == 0


def test_no_preopen_means_no_file_access(make_guest):
    g = make_guest()
    assert g.open("anything")[0] == Errno.BADF
    assert g.call("fd_prestat_get", 3, g.alloc(8)) == Errno.BADF


def test_forty_symlinks_resolve_and_forty_one_are_eloop(guest, sandbox):
    (sandbox / "target").write_text("end")
    os.symlink("target", sandbox / "l0")
    for i in range(1, 41):
        os.symlink(f"l{i - 1}", sandbox / f"l{i}")
    err, fd = guest.open("l39")           # 40 links
    assert err == 0 and guest.read(fd)[1] == b"end"
    assert guest.open("l40")[0] == Errno.LOOP


def test_long_dotdot_walk_inside_sandbox_closes_its_descriptors(guest, sandbox):
    (sandbox / "a" / "b" / "c").mkdir(parents=True)
    (sandbox / "f").write_text("x")
    before = descriptors_under(sandbox)
    assert before >= 1                  # the preopen: the walk starts from a descriptor here
    assert guest.filestat("a/b/c/../../../f")[0] == 0
    assert guest.filestat("a/b/c/../../../../f")[0] == Errno.PERM
    assert descriptors_under(sandbox) == before
