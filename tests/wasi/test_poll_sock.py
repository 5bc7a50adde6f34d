"""poll_oneoff (clock and fd subscriptions) and the sock_* functions."""

import socket
import struct
import time

import pytest

from wasmforge.wasi import Errno, WasiConfig
from wasmforge.wasi.abi import (EVENT, EVENT_CLOCK, EVENT_FD_READ, EVENT_FD_WRITE,
                                SUBSCRIPTION_CLOCK_ABSTIME, SUBSCRIPTION_SIZE)


def clock_sub(userdata, timeout, clock=1, flags=0):
    return struct.pack("<QB7xI4xQQH6x", userdata, EVENT_CLOCK, clock, timeout, 0, flags)


def fd_sub(userdata, kind, fd):
    return struct.pack("<QB7xI28x", userdata, kind, fd)


def poll(g, *subs):
    data = b"".join(subs)
    assert all(len(s) == SUBSCRIPTION_SIZE for s in subs)
    inp, _ = g.put(data)
    out = g.alloc(EVENT.size * len(subs))
    n = g.alloc(4)
    err = g.call("poll_oneoff", inp, out, len(subs), n)
    if err:
        return err, None
    return err, [EVENT.unpack_from(g.mem.data, out + EVENT.size * i) for i in range(g.u32(n))]


def test_poll_relative_clock_sleeps_then_fires(make_guest):
    g = make_guest()
    start = time.monotonic()
    err, events = poll(g, clock_sub(7, 20_000_000))
    assert time.monotonic() - start >= 0.019
    assert err == 0 and events == [(7, 0, EVENT_CLOCK, 0, 0)]


class _CoarseClock:
    """A clock like a browser's under Pyodide: it stands still while code runs, moves only in
    sleeps, in 100 µs steps, and a sleep may end one step short of what it was asked."""

    def __init__(self, short_by=100_000):
        self.now = 5_000_000_000
        self.short_by = short_by
        self.sleeps = []

    def monotonic_ns(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += max(0, round(seconds * 1e9) - self.short_by)
        self.short_by = 0


@pytest.mark.parametrize("short_by", [0, 100_000])
def test_poll_clock_fires_where_a_sleep_ends_a_tick_short(make_guest, monkeypatch, short_by):
    from wasmforge.wasi import ctx
    clock = _CoarseClock(short_by)
    monkeypatch.setattr(ctx.time, "monotonic_ns", clock.monotonic_ns)
    monkeypatch.setattr(ctx.time, "sleep", clock.sleep)
    g = make_guest()
    start = clock.now
    err, events = poll(g, clock_sub(7, 20_000_000))
    assert err == 0 and events == [(7, 0, EVENT_CLOCK, 0, 0)]
    assert clock.now - start >= 20_000_000
    assert clock.sleeps == ([0.02] if not short_by else [0.02, 0.001])


def test_poll_clock_standing_still_ends_the_wait_without_an_event(make_guest, monkeypatch):
    from wasmforge.wasi import ctx
    clock = _CoarseClock(short_by=10**12)
    monkeypatch.setattr(ctx.time, "monotonic_ns", clock.monotonic_ns)
    monkeypatch.setattr(ctx.time, "sleep", lambda seconds: clock.sleeps.append(seconds))
    g = make_guest()
    err, events = poll(g, clock_sub(7, 20_000_000))
    assert err == 0 and events == []
    assert len(clock.sleeps) == 4


def test_poll_absolute_clock_in_the_past_fires_at_once(make_guest):
    g = make_guest()
    start = time.monotonic()
    err, events = poll(g, clock_sub(1, 1, clock=0, flags=SUBSCRIPTION_CLOCK_ABSTIME))
    assert time.monotonic() - start < 0.5
    assert events == [(1, 0, EVENT_CLOCK, 0, 0)]


def test_poll_reports_only_the_earliest_clock(make_guest):
    g = make_guest()
    err, events = poll(g, clock_sub(1, 10_000_000), clock_sub(2, 60_000_000_000))
    assert [e[0] for e in events] == [1]


def test_poll_unknown_clock_is_einval_in_event(make_guest):
    err, events = poll(make_guest(), clock_sub(5, 0, clock=9))
    assert err == 0 and events == [(5, Errno.INVAL, EVENT_CLOCK, 0, 0)]


def test_poll_cputime_clock_is_enotsup_in_event(make_guest):
    err, events = poll(make_guest(), clock_sub(5, 0, clock=2))
    assert events == [(5, Errno.NOTSUP, EVENT_CLOCK, 0, 0)]


def test_poll_regular_file_is_ready_with_bytes_left(guest, sandbox):
    (sandbox / "f").write_bytes(b"12345")
    _, fd = guest.open("f")
    guest.read(fd, 2)
    err, events = poll(guest, fd_sub(9, EVENT_FD_READ, fd), clock_sub(1, 60_000_000_000))
    assert events == [(9, 0, EVENT_FD_READ, 3, 0)]


def test_poll_stdout_is_writable(make_guest):
    err, events = poll(make_guest(), fd_sub(4, EVENT_FD_WRITE, 1))
    assert events == [(4, 0, EVENT_FD_WRITE, 0, 0)]


def test_poll_stdin_bytes_readable_count(make_guest):
    c = WasiConfig()
    c.stdin_bytes = b"abc"
    err, events = poll(make_guest(c), fd_sub(4, EVENT_FD_READ, 0))
    assert events == [(4, 0, EVENT_FD_READ, 3, 0)]


def test_poll_bad_fd_is_ebadf_in_event(make_guest):
    err, events = poll(make_guest(), fd_sub(4, EVENT_FD_READ, 99))
    assert err == 0 and events == [(4, Errno.BADF, EVENT_FD_READ, 0, 0)]


def test_poll_without_rights_is_enotcapable_in_event(make_guest):
    err, events = poll(make_guest(), fd_sub(4, EVENT_FD_WRITE, 0))
    assert events == [(4, Errno.NOTCAPABLE, EVENT_FD_WRITE, 0, 0)]


def test_poll_unknown_event_type_is_einval_in_event(make_guest):
    sub = struct.pack("<QB39x", 3, 7)
    err, events = poll(make_guest(), sub)
    assert events == [(3, Errno.INVAL, 7, 0, 0)]


def test_poll_zero_subscriptions_is_einval(make_guest):
    g = make_guest()
    assert g.call("poll_oneoff", 0, 100, 0, 200) == Errno.INVAL


def test_poll_out_of_bounds_is_efault(make_guest):
    g = make_guest()
    assert g.call("poll_oneoff", 65536 - 47, 0, 1, 200) == Errno.FAULT
    assert g.call("poll_oneoff", 0, 65536 - 31, 1, 200) == Errno.FAULT
    assert g.call("poll_oneoff", 0, 100, 1, 65533) == Errno.FAULT
    assert g.call("poll_oneoff", 0, 100, 0x10000000, 200) == Errno.FAULT


# -- sockets --------------------------------------------------------------------------------

@pytest.fixture
def listener():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    s.listen(4)
    yield s
    s.close()


@pytest.fixture
def sock_guest(make_guest, listener):
    c = WasiConfig()
    c.preopen_socket(listener)
    return make_guest(c)          # the listener is fd 3


def accept(g, flags=0):
    out = g.alloc(4)
    err = g.call("sock_accept", 3, flags, out)
    return err, (g.u32(out) if err == 0 else None)


def test_sock_accept_recv_send_shutdown(sock_guest, listener):
    client = socket.create_connection(listener.getsockname(), timeout=5)
    err, conn = accept(sock_guest)
    assert err == 0 and sock_guest.fdstat(conn)[1][0] == 6
    client.sendall(b"ping")
    arr, n, bufs = sock_guest.iovs([2, 8], True)
    dl, fl = sock_guest.alloc(4), sock_guest.alloc(2)
    assert sock_guest.call("sock_recv", conn, arr, n, 0, dl, fl) == 0
    assert sock_guest.u32(dl) == 4 and sock_guest.get(bufs[0][0], 2) + sock_guest.get(bufs[1][0], 2) == b"ping"
    arr, n, _ = sock_guest.iovs([b"po", b"ng"], False)
    out = sock_guest.alloc(4)
    assert sock_guest.call("sock_send", conn, arr, n, 0, out) == 0 and sock_guest.u32(out) == 4
    assert client.recv(16) == b"pong"
    assert sock_guest.call("sock_shutdown", conn, 2) == 0
    assert client.recv(16) == b""
    client.close()


def test_sock_recv_peek_leaves_data(sock_guest, listener):
    client = socket.create_connection(listener.getsockname(), timeout=5)
    _, conn = accept(sock_guest)
    client.sendall(b"abc")
    arr, n, bufs = sock_guest.iovs([8], True)
    dl, fl = sock_guest.alloc(4), sock_guest.alloc(2)
    assert sock_guest.call("sock_recv", conn, arr, n, 1, dl, fl) == 0
    assert sock_guest.read(conn, 8) == (0, b"abc")
    client.close()


def test_fd_read_and_write_work_on_sockets(sock_guest, listener):
    client = socket.create_connection(listener.getsockname(), timeout=5)
    _, conn = accept(sock_guest)
    assert sock_guest.write(conn, b"hi") == (0, 2)
    assert client.recv(8) == b"hi"
    client.close()


def test_poll_waits_for_socket_readable(sock_guest, listener):
    client = socket.create_connection(listener.getsockname(), timeout=5)
    _, conn = accept(sock_guest)
    err, events = poll(sock_guest, fd_sub(1, EVENT_FD_READ, conn), clock_sub(2, 20_000_000))
    assert [e[0] for e in events] == [2]
    client.sendall(b"xyz")
    err, events = poll(sock_guest, fd_sub(1, EVENT_FD_READ, conn), clock_sub(2, 5_000_000_000))
    assert events == [(1, 0, EVENT_FD_READ, 3, 0)]
    client.close()


def test_sock_accept_nonblocking_without_pending_is_eagain(sock_guest, listener):
    listener.setblocking(False)
    sock_guest.ctx.fds[3].sock.setblocking(False)
    assert accept(sock_guest)[0] == Errno.AGAIN


def test_sock_accept_invalid_flags_is_einval(sock_guest):
    assert accept(sock_guest, flags=1)[0] == Errno.INVAL


def test_sock_recv_on_listener_is_enotcapable(sock_guest):
    arr, n, _ = sock_guest.iovs([8], True)
    assert sock_guest.call("sock_recv", 3, arr, n, 0, sock_guest.alloc(4), sock_guest.alloc(2)) \
        == Errno.NOTCAPABLE


def test_sock_send_nonzero_flags_is_einval(sock_guest, listener):
    client = socket.create_connection(listener.getsockname(), timeout=5)
    _, conn = accept(sock_guest)
    arr, n, _ = sock_guest.iovs([b"x"], False)
    assert sock_guest.call("sock_send", conn, arr, n, 1, sock_guest.alloc(4)) == Errno.INVAL
    client.close()


def test_sock_shutdown_invalid_how_is_einval(sock_guest, listener):
    client = socket.create_connection(listener.getsockname(), timeout=5)
    _, conn = accept(sock_guest)
    assert sock_guest.call("sock_shutdown", conn, 0) == Errno.INVAL
    assert sock_guest.call("sock_shutdown", conn, 4) == Errno.INVAL
    client.close()


def test_closing_guest_socket_leaves_embedder_socket_open(sock_guest, listener):
    assert sock_guest.call("fd_close", 3) == 0
    assert listener.fileno() >= 0
    listener.getsockname()


@pytest.mark.parametrize("call,args", [
    ("sock_accept", (0, 100)),
    ("sock_recv", (100, 0, 0, 200, 204)),
    ("sock_send", (100, 0, 0, 200)),
    ("sock_shutdown", (3,)),
])
def test_sock_functions_on_unknown_fd_are_ebadf(make_guest, call, args):
    g = make_guest()
    assert g.call(call, 42, *args) == Errno.BADF


@pytest.mark.parametrize("call,args", [
    ("sock_accept", (0, 100)),
    ("sock_recv", (100, 0, 0, 200, 204)),
    ("sock_send", (100, 0, 0, 200)),
    ("sock_shutdown", (3,)),
])
def test_sock_functions_on_non_socket_are_enotsock(guest, call, args):
    assert guest.call(call, 3, *args) == Errno.NOTSOCK
    assert guest.call(call, 1, *args) == Errno.NOTSOCK


def test_poll_reports_host_descriptors_ready_alongside_immediate_events(sock_guest, listener):
    client = socket.create_connection(listener.getsockname(), timeout=5)
    _, conn = accept(sock_guest)
    client.sendall(b"x")
    time.sleep(0.05)
    err, events = poll(sock_guest, fd_sub(1, EVENT_FD_WRITE, 1), fd_sub(2, EVENT_FD_READ, conn),
                       fd_sub(3, EVENT_FD_WRITE, conn))
    assert sorted(e[0] for e in events) == [1, 2, 3]
    client.close()
