"""The recompiling children's pipes (llvm/forksafe.py ``spawn_python``)."""

import os
import sys

import pytest

from wasmforge.llvm import forksafe


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="F_SETPIPE_SZ is Linux's")
def test_a_child_takes_a_big_first_message_before_it_has_started():
    # A run that spawns a child at its exit writes the module without bodies (317 KB for the
    # Go benchmark program) before the child has imported anything: with the default 64 KiB
    # pipe that write waited for the child.  Here the child sleeps before reading, and a
    # non-blocking write of 600 KB must go through whole.
    try:
        with open("/proc/sys/fs/pipe-max-size") as f:
            cap = int(f.read())
    except OSError:
        pytest.skip("no /proc/sys/fs/pipe-max-size")
    if cap < forksafe.PIPE_BYTES:
        pytest.skip("this system caps pipes below PIPE_BYTES")
    proc = forksafe.spawn_python("import sys, time; time.sleep(2); sys.stdin.buffer.read()")
    try:
        fd = proc.stdin.fileno()
        os.set_blocking(fd, False)
        data = b"x" * 600_000
        assert os.write(fd, data) == len(data)
    finally:
        proc.kill()
        proc.wait()
