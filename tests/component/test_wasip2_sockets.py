"""wasi:sockets (WASI 0.2) through the host instances ``Linker.add_wasip2()`` links, called
as a lifted guest calls them (the values of wasmforge.component: Variant, Record, Resource),
with the store's WasiConfig granting the network.  Loopback addresses only; every wait is
bounded."""

from __future__ import annotations

import socket
import struct
import threading
import time
from pathlib import Path

import pytest

import wasmforge
from wasmforge import component as C
from wasmforge.component import Record, Variant
from wasmforge.errors import Trap, WasmError
from wasmforge.wasi import SocketAddrUse
from wasmforge.wasip2 import instance_of, io, p2_ctx, sockets
from wasmforge.wasip2._wit import interface
from wasmforge.wasip2.sockets import IMPLEMENTATIONS

from support import tier_params

LOOP6 = (0, 0, 0, 0, 0, 0, 0, 1)


def v4(port, address=(127, 0, 0, 1)):
    return Variant("ipv4", Record(port=port, address=address))


def v6(port, address=LOOP6):
    return Variant("ipv6", Record(**{"port": port, "flow-info": 0, "address": address, "scope-id": 0}))


class Host:
    """One store's wasi:sockets host functions, called by WIT name."""

    def __init__(self, configure=None):
        store = wasmforge.Store(wasmforge.Engine())
        wasi = wasmforge.WasiConfig()
        if configure:
            configure(wasi)
        store.set_wasi(wasi)
        self.store = store                      # the context lives as long as its store
        self.ctx = p2_ctx(store)
        self.net = self.fn("instance-network", "instance-network")()

    def fn(self, iface, name):
        return instance_of(self.ctx, f"wasi:sockets/{iface}").exports[name].fn

    def tcp(self, method, *args):
        return self.fn("tcp", f"[method]tcp-socket.{method}")(*args)

    def udp(self, method, *args):
        return self.fn("udp", f"[method]{method}")(*args)

    def new_tcp(self, family="ipv4"):
        return self.fn("tcp-create-socket", "create-tcp-socket")(family)

    def new_udp(self, family="ipv4"):
        return self.fn("udp-create-socket", "create-udp-socket")(family)

    def wait(self, handle, timeout=5.0):
        """Poll the pollable ``handle`` together with a timer: whether it became ready first."""
        timer = io.timer(time.monotonic_ns() + int(timeout * 1e9))
        return io.poll([self.ctx.get(handle, io.Pollable), timer]) == [0]

    def connect(self, sock, addr):
        assert self.tcp("start-connect", sock, self.net, addr) is None
        assert self.wait(self.tcp("subscribe", sock))
        return self.tcp("finish-connect", sock)

    def listen(self, sock, addr):
        assert self.tcp("start-bind", sock, self.net, addr) is None
        assert self.tcp("finish-bind", sock) is None
        assert self.tcp("start-listen", sock) is None
        assert self.tcp("finish-listen", sock) is None

    def streams(self, pair):
        i, o = pair
        return self.ctx.get(i, io.InputStream), self.ctx.get(o, io.OutputStream)


def loopback_tcp():
    return lambda w: w.allow_tcp("127.0.0.1")


@pytest.fixture
def server():
    """A Python TCP listener on 127.0.0.1: (its socket, its port)."""
    srv = socket.create_server(("127.0.0.1", 0))
    srv.settimeout(5)
    yield srv, srv.getsockname()[1]
    srv.close()


def upper_echo(srv):
    """Serve one connection of ``srv`` on a thread (returned, started): up to 100 bytes back
    upper-cased."""
    def echo():
        conn, _ = srv.accept()
        with conn:
            conn.sendall(conn.recv(100).upper())
    t = threading.Thread(target=echo)
    t.start()
    return t


def free_port(kind=socket.SOCK_STREAM, host="127.0.0.1"):
    """A port nothing listens on (bound then closed at once)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, kind) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


# -- the capability --------------------------------------------------------------------------
def test_every_function_of_the_wit_is_implemented():
    h = Host()
    for name, build in IMPLEMENTATIONS.items():
        assert set(build(h.ctx)) == set(interface(name).functions), name


def test_everything_is_refused_by_default(server):
    _, port = server
    h = Host()
    s = h.new_tcp()
    assert h.tcp("start-bind", s, h.net, v4(0)) == "access-denied"
    assert h.tcp("local-address", s) == "invalid-state"             # nothing was bound
    assert h.tcp("start-connect", s, h.net, v4(port)) == "access-denied"
    assert h.tcp("finish-connect", s) == "not-in-progress"          # nothing was attempted
    assert h.tcp("start-bind", h.new_tcp("ipv6"), h.net, v6(0)) == "access-denied"
    u = h.new_udp()
    assert h.udp("udp-socket.start-bind", u, h.net, v4(0)) == "access-denied"
    assert h.fn("ip-name-lookup", "resolve-addresses")(h.net, "localhost") == "permanent-resolver-failure"
    assert h.fn("ip-name-lookup", "resolve-addresses")(h.net, "127.0.0.1") == "permanent-resolver-failure"


def test_the_allow_list_grants_addresses_ports_and_uses(server):
    _, port = server
    other = free_port()

    def configure(w):
        w.allow_tcp("127.0.0.1", port, bind=False)                  # connect to that port only
        w.allow_tcp("::1/128", range(other, other + 1), connect=False)
    h = Host(configure)
    assert h.tcp("start-connect", h.new_tcp(), h.net, v4(other)) == "access-denied"
    assert h.tcp("start-connect", h.new_tcp(), h.net, v4(port, (127, 0, 0, 2))) == "access-denied"
    assert h.tcp("start-bind", h.new_tcp(), h.net, v4(0)) == "access-denied"
    assert isinstance(h.connect(h.new_tcp(), v4(port)), tuple)
    assert h.tcp("start-connect", h.new_tcp("ipv6"), h.net, v6(other)) == "access-denied"
    assert h.tcp("start-bind", h.new_tcp("ipv6"), h.net, v6(0)) == "access-denied"   # port 0 is not `other`
    six = h.new_tcp("ipv6")
    assert h.tcp("start-bind", six, h.net, v6(other)) is None
    assert h.tcp("finish-bind", six) is None
    assert h.tcp("local-address", six) == v6(other)
    # TCP grants are not UDP grants
    assert h.udp("udp-socket.start-bind", h.new_udp("ipv6"), h.net, v6(other)) == "access-denied"


def test_a_cidr_block_grants_its_addresses_only():
    h = Host(lambda w: w.allow_tcp("127.0.0.0/30"))
    assert h.tcp("start-bind", h.new_tcp(), h.net, v4(0, (127, 0, 0, 3))) is None
    assert h.tcp("start-bind", h.new_tcp(), h.net, v4(0, (127, 0, 0, 4))) == "access-denied"
    # an IPv4-mapped IPv6 address never reaches IPv4 through an IPv6 socket
    mapped = (0, 0, 0, 0, 0, 0xFFFF, 0x7F00, 1)
    every = Host(lambda w: w.inherit_network())
    assert every.tcp("start-bind", every.new_tcp("ipv6"), every.net, v6(0, mapped)) == "invalid-argument"


def test_socket_addr_check_decides_what_no_grant_covers():
    asked = []

    def check(address, port, use):
        asked.append((address, port, use))
        return use is SocketAddrUse.UDP_BIND
    h = Host(lambda w: setattr(w, "socket_addr_check", check))
    assert h.tcp("start-bind", h.new_tcp(), h.net, v4(0)) == "access-denied"
    assert h.udp("udp-socket.start-bind", h.new_udp(), h.net, v4(0)) is None
    assert asked == [("127.0.0.1", 0, SocketAddrUse.TCP_BIND), ("127.0.0.1", 0, SocketAddrUse.UDP_BIND)]

    def boom(address, port, use):
        raise KeyError("from the check")
    h = Host(lambda w: setattr(w, "socket_addr_check", boom))
    with pytest.raises(KeyError, match="from the check"):
        h.tcp("start-bind", h.new_tcp(), h.net, v4(0))


def test_inherit_network_per_protocol():
    h = Host(lambda w: w.inherit_network(udp=False))
    assert h.tcp("start-bind", h.new_tcp(), h.net, v4(0)) is None
    assert h.udp("udp-socket.start-bind", h.new_udp(), h.net, v4(0)) == "access-denied"


def test_bad_grants_are_rejected_when_configured():
    w = wasmforge.WasiConfig()
    for bad in ("localhost", "127.0.0.1/8", "300.1.1.1"):
        with pytest.raises(WasmError, match="invalid network"):
            w.allow_tcp(bad)
    with pytest.raises(WasmError, match="0 to 65535"):
        w.allow_udp("127.0.0.1", 70000)
    with pytest.raises(TypeError):
        w.allow_tcp("127.0.0.1", "80")
    with pytest.raises(TypeError):
        w.socket_addr_check = 42
    assert w.network.grants == []


# -- TCP ---------------------------------------------------------------------------------------
def test_tcp_echo_with_a_python_server(server):
    srv, port = server
    t = upper_echo(srv)
    h = Host(loopback_tcp())
    s = h.new_tcp()
    assert h.tcp("address-family", s) == "ipv4"
    inp, out = h.streams(h.connect(s, v4(port)))
    permit = out.check_write()
    assert permit > 0
    with pytest.raises(Trap, match="permit"):
        out.write(b"x" * (permit + 1))              # the WIT: beyond check-write's permit traps
    out.write(b"hello")
    out.blocking_flush()
    assert inp.read(100, True) == b"HELLO"
    t.join(5)
    with pytest.raises(io.StreamError) as closed:      # the server closed: end of stream
        inp.read(100, True)
    assert closed.value.error is None
    assert h.tcp("remote-address", s) == v4(port)
    local = h.tcp("local-address", s)
    assert local.tag == "ipv4" and local.payload.address == (127, 0, 0, 1) and local.payload.port > 0
    assert h.tcp("is-listening", s) is False


def test_tcp_guest_listens_and_accepts_a_python_client():
    h = Host(loopback_tcp())
    listener = h.new_tcp()
    assert h.tcp("accept", listener) == "invalid-state"
    h.listen(listener, v4(0))
    assert h.tcp("is-listening", listener) is True
    port = h.tcp("local-address", listener).payload.port
    assert h.tcp("accept", listener) == "would-block"
    ready = h.tcp("subscribe", listener)
    assert not h.ctx.get(ready, io.Pollable).ready()
    client = socket.create_connection(("127.0.0.1", port), timeout=5)
    with client:
        assert h.wait(ready)
        conn, i, o = h.tcp("accept", listener)
        assert h.tcp("remote-address", conn) == v4(client.getsockname()[1])
        assert h.tcp("local-address", conn) == v4(port)
        inp, out = h.streams((i, o))
        client.sendall(b"ping")
        assert inp.read(10, True) == b"ping"
        out.blocking_write_and_flush(b"pong")
        assert client.recv(10) == b"pong"
    assert h.tcp("accept", listener) == "would-block"


def test_the_two_phase_protocol_and_its_errors(server):
    _, port = server
    h = Host(lambda w: w.allow_tcp("127.0.0.1"))
    s = h.new_tcp()
    assert h.tcp("finish-bind", s) == "not-in-progress"
    assert h.tcp("finish-listen", s) == "not-in-progress"
    assert h.tcp("start-listen", s) == "invalid-state"                  # not bound
    assert h.tcp("shutdown", s, "both") == "invalid-state"              # not connected
    assert h.tcp("remote-address", s) == "invalid-state"
    assert h.tcp("start-bind", s, h.net, v6(0)) == "invalid-argument"   # wrong family
    assert h.tcp("start-bind", s, h.net, v4(0, (224, 0, 0, 1))) == "invalid-argument"   # multicast
    assert h.tcp("start-bind", s, h.net, v4(0)) is None
    assert h.tcp("local-address", s) == "concurrency-conflict"          # bind-in-progress
    assert h.tcp("start-bind", s, h.net, v4(0)) == "invalid-state"
    assert h.tcp("finish-bind", s) is None
    assert h.tcp("finish-bind", s) == "not-in-progress"
    assert h.tcp("start-listen", s) is None
    assert h.tcp("start-connect", s, h.net, v4(port)) == "concurrency-conflict"
    assert h.tcp("finish-listen", s) is None
    assert h.tcp("start-listen", s) == "invalid-state"
    assert h.tcp("start-connect", s, h.net, v4(port)) == "invalid-state"   # listening

    c = h.new_tcp()
    for bad in (v4(0), v4(port, (0, 0, 0, 0)), v6(port), v4(port, (255, 255, 255, 255))):
        assert h.tcp("start-connect", c, h.net, bad) == "invalid-argument"
    assert h.tcp("start-connect", c, h.net, v4(port)) is None
    assert h.tcp("start-connect", c, h.net, v4(port)) == "concurrency-conflict"
    assert h.wait(h.tcp("subscribe", c))
    assert isinstance(h.tcp("finish-connect", c), tuple)
    assert h.tcp("finish-connect", c) == "not-in-progress"
    assert h.tcp("start-connect", c, h.net, v4(port)) == "invalid-state"   # connected
    assert h.tcp("start-bind", c, h.net, v4(0)) == "invalid-state"
    assert h.tcp("set-listen-backlog-size", c, 10) == "invalid-state"

    # connect with another network than bind's
    b = h.new_tcp()
    assert h.tcp("start-bind", b, h.net, v4(0)) is None and h.tcp("finish-bind", b) is None
    other = h.fn("instance-network", "instance-network")()
    assert h.tcp("start-connect", b, other, v4(port)) == "invalid-argument"


def test_connection_refused_then_the_socket_is_closed():
    h = Host(loopback_tcp())
    s = h.new_tcp()
    port = free_port()
    assert h.tcp("start-connect", s, h.net, v4(port)) is None
    assert h.wait(h.tcp("subscribe", s))
    assert h.tcp("finish-connect", s) == "connection-refused"
    assert h.tcp("start-connect", s, h.net, v4(port)) == "invalid-state"
    assert h.tcp("local-address", s) == "invalid-state"


def test_address_in_use():
    h = Host(loopback_tcp())
    a = h.new_tcp()
    h.listen(a, v4(0))
    port = h.tcp("local-address", a).payload.port
    b = h.new_tcp()
    assert h.tcp("start-bind", b, h.net, v4(port)) == "address-in-use"
    assert h.tcp("start-bind", b, h.net, v4(0)) is None                 # a failed bind may be retried


def test_tcp_socket_options_and_their_inheritance():
    h = Host(loopback_tcp())
    s = h.new_tcp()
    assert h.tcp("set-keep-alive-enabled", s, True) is None and h.tcp("keep-alive-enabled", s) is True
    assert h.tcp("set-keep-alive-idle-time", s, 0) == "invalid-argument"
    assert h.tcp("set-keep-alive-idle-time", s, 1_500_000_000) is None
    assert h.tcp("keep-alive-idle-time", s) == 2_000_000_000                  # rounded up to seconds
    assert h.tcp("set-keep-alive-interval", s, 0) == "invalid-argument"
    assert h.tcp("set-keep-alive-interval", s, 10**18) is None               # clamped, not an error
    assert 0 < h.tcp("keep-alive-interval", s) <= 10**18
    assert h.tcp("set-keep-alive-count", s, 0) == "invalid-argument"
    assert h.tcp("set-keep-alive-count", s, 3) is None and h.tcp("keep-alive-count", s) == 3
    assert h.tcp("set-hop-limit", s, 0) == "invalid-argument"
    assert h.tcp("set-hop-limit", s, 42) is None and h.tcp("hop-limit", s) == 42
    for which in ("receive", "send"):
        assert h.tcp(f"set-{which}-buffer-size", s, 0) == "invalid-argument"
        assert h.tcp(f"set-{which}-buffer-size", s, 1 << 62) is None
        assert h.tcp(f"set-{which}-buffer-size", s, 16384) is None
        assert h.tcp(f"{which}-buffer-size", s) >= 16384
    assert h.tcp("set-listen-backlog-size", s, 0) == "invalid-argument"
    assert h.tcp("set-listen-backlog-size", s, 1 << 40) is None
    h.listen(s, v4(0))
    assert h.tcp("set-listen-backlog-size", s, 5) is None                 # while listening too
    port = h.tcp("local-address", s).payload.port
    with socket.create_connection(("127.0.0.1", port), timeout=5):
        assert h.wait(h.tcp("subscribe", s))
        conn, _, _ = h.tcp("accept", s)
        assert h.tcp("keep-alive-enabled", conn) is True
        assert h.tcp("keep-alive-count", conn) == 3
        assert h.tcp("hop-limit", conn) == 42
        assert h.tcp("keep-alive-idle-time", conn) == 2_000_000_000
    six = h.new_tcp("ipv6")
    assert h.tcp("address-family", six) == "ipv6"
    assert h.tcp("set-hop-limit", six, 7) is None and h.tcp("hop-limit", six) == 7


def test_shutdown_closes_the_streams_and_sends_eof(server):
    srv, port = server
    h = Host(loopback_tcp())
    s = h.new_tcp()
    inp, out = h.streams(h.connect(s, v4(port)))
    conn, _ = srv.accept()
    with conn:
        assert out.check_write() >= 10
        out.write(b"last words")
        assert h.tcp("shutdown", s, "send") is None
        assert h.tcp("shutdown", s, "send") is None                       # idempotent
        assert conn.recv(100) == b"last words" and conn.recv(100) == b""  # then the FIN
        with pytest.raises(io.StreamError):
            out.check_write()
        conn.sendall(b"still open")
        assert inp.read(100, True) == b"still open"
        assert h.tcp("shutdown", s, "receive") is None
        with pytest.raises(io.StreamError) as closed:
            inp.read(100)
        assert closed.value.error is None


def test_a_reset_connection_is_a_network_error(server):
    srv, port = server
    h = Host(loopback_tcp())
    inp, _ = h.streams(h.connect(h.new_tcp(), v4(port)))
    conn, _ = srv.accept()
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()                                                          # RST, not FIN
    with pytest.raises(io.StreamError) as failed:
        inp.read(100, True)
    err = failed.value.error
    assert err is not None
    rt = h.ctx.types.resource(interface("wasi:io/error").types["error"])
    code = h.fn("network", "network-error-code")
    assert code(h.ctx.push(rt, err)) == "connection-reset"
    assert code(h.ctx.push(rt, io.IoError("not from a socket", 104))) is None


def test_backpressure_on_a_peer_that_does_not_read(server):
    srv, port = server
    h = Host(loopback_tcp())
    s = h.new_tcp()
    assert h.tcp("set-send-buffer-size", s, 4096) is None
    inp, out = h.streams(h.connect(s, v4(port)))
    conn, _ = srv.accept()
    with conn:
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sent = 0
        deadline = time.monotonic() + 10
        while out.check_write() > 0 and time.monotonic() < deadline:
            n = out.check_write()
            out.write(b"x" * n)
            sent += n
        assert out.check_write() == 0                                     # the kernel buffers are full
        ready = out.subscribe()
        assert not ready.ready()
        got = []
        drain = threading.Thread(target=lambda: got.append(_recv_all(conn, sent)))
        drain.start()
        assert io.poll([ready, io.timer(time.monotonic_ns() + 5 * 10**9)]) == [0]
        out.blocking_flush()
        drain.join(10)
        assert got == [sent]


def _recv_all(conn, n):
    total = 0
    conn.settimeout(5)
    while total < n:
        chunk = conn.recv(1 << 16)
        if not chunk:
            break
        total += len(chunk)
    return total


# -- UDP ---------------------------------------------------------------------------------------
def loopback_udp():
    return lambda w: w.allow_udp("127.0.0.1")


def test_udp_round_trip_with_a_python_peer():
    h = Host(loopback_udp())
    u = h.new_udp()
    assert h.udp("udp-socket.stream", u, None) == "invalid-state"        # not bound
    assert h.udp("udp-socket.local-address", u) == "invalid-state"
    assert h.udp("udp-socket.start-bind", u, h.net, v4(0)) is None
    assert h.udp("udp-socket.local-address", u) == "concurrency-conflict"
    assert h.udp("udp-socket.finish-bind", u) is None
    assert h.udp("udp-socket.finish-bind", u) == "not-in-progress"
    port = h.udp("udp-socket.local-address", u).payload.port
    assert h.udp("udp-socket.remote-address", u) == "invalid-state"
    incoming, outgoing = h.udp("udp-socket.stream", u, None)
    assert h.udp("incoming-datagram-stream.receive", incoming, 10) == []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer:
        peer.bind(("127.0.0.1", 0))
        peer.settimeout(5)
        peer.sendto(b"one", ("127.0.0.1", port))
        peer.sendto(b"two", ("127.0.0.1", port))
        assert h.wait(h.udp("incoming-datagram-stream.subscribe", incoming))
        got = []
        deadline = time.monotonic() + 5
        while len(got) < 2 and time.monotonic() < deadline:
            got += h.udp("incoming-datagram-stream.receive", incoming, 10)
        source = v4(peer.getsockname()[1])
        assert [(d.data, getattr(d, "remote-address")) for d in got] == [(b"one", source), (b"two", source)]
        assert h.udp("incoming-datagram-stream.receive", incoming, 0) == []
        assert h.wait(h.udp("outgoing-datagram-stream.subscribe", outgoing))
        assert h.udp("outgoing-datagram-stream.check-send", outgoing) > 0
        reply = Record(**{"data": b"three", "remote-address": source})
        assert h.udp("outgoing-datagram-stream.send", outgoing, [reply]) == 1
        assert peer.recvfrom(100) == (b"three", ("127.0.0.1", port))


def test_udp_send_rules():
    h = Host(lambda w: w.allow_udp("127.0.0.1", bind=True, connect=False))
    u = h.new_udp()
    assert h.udp("udp-socket.start-bind", u, h.net, v4(0)) is None and h.udp("udp-socket.finish-bind", u) is None
    _, out = h.udp("udp-socket.stream", u, None)
    send = lambda ds: h.udp("outgoing-datagram-stream.send", out, ds)     # noqa: E731
    d = lambda addr: Record(**{"data": b"x", "remote-address": addr})    # noqa: E731
    assert send([]) == 0
    with pytest.raises(Trap, match="check-send"):
        send([d(v4(9))])
    permit = h.udp("outgoing-datagram-stream.check-send", out)
    with pytest.raises(Trap, match="permitted"):
        send([d(v4(9))] * (permit + 1))
    for addr, code in ((None, "invalid-argument"), (v4(0), "invalid-argument"), (v6(9), "invalid-argument"),
                       (v4(9, (0, 0, 0, 0)), "invalid-argument"), (v4(9), "access-denied")):
        h.udp("outgoing-datagram-stream.check-send", out)
        assert send([d(addr)]) == code, addr
    assert h.udp("udp-socket.stream", u, v4(free_port(socket.SOCK_DGRAM))) == "access-denied"


def test_udp_connected_streams():
    h = Host(loopback_udp())
    u = h.new_udp()
    assert h.udp("udp-socket.start-bind", u, h.net, v4(0)) is None and h.udp("udp-socket.finish-bind", u) is None
    port = h.udp("udp-socket.local-address", u).payload.port
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as stranger:
        peer.bind(("127.0.0.1", 0))
        peer.settimeout(5)
        there = v4(peer.getsockname()[1])
        old_in, old_out = h.udp("udp-socket.stream", u, None)
        incoming, outgoing = h.udp("udp-socket.stream", u, there)
        assert h.udp("udp-socket.remote-address", u) == there
        assert h.udp("incoming-datagram-stream.receive", old_in, 1) == "invalid-state"   # superseded
        assert h.udp("outgoing-datagram-stream.check-send", old_out) == "invalid-state"
        h.udp("outgoing-datagram-stream.check-send", outgoing)
        d = lambda addr: Record(**{"data": b"hi", "remote-address": addr})    # noqa: E731
        assert h.udp("outgoing-datagram-stream.send", outgoing, [d(None), d(there)]) == 2
        assert peer.recv(10) == b"hi" and peer.recv(10) == b"hi"
        h.udp("outgoing-datagram-stream.check-send", outgoing)
        assert h.udp("outgoing-datagram-stream.send", outgoing, [d(v4(port))]) == "invalid-argument"
        stranger.sendto(b"not for you", ("127.0.0.1", port))                 # filtered by connect
        peer.sendto(b"for you", ("127.0.0.1", port))
        assert h.wait(h.udp("incoming-datagram-stream.subscribe", incoming))
        got = h.udp("incoming-datagram-stream.receive", incoming, 5)
        assert [x.data for x in got] == [b"for you"]
        # streaming to any address again
        incoming, outgoing = h.udp("udp-socket.stream", u, None)
        assert h.udp("udp-socket.remote-address", u) == "invalid-state"
        stranger.sendto(b"now for you", ("127.0.0.1", port))
        assert h.wait(h.udp("incoming-datagram-stream.subscribe", incoming))
        assert [x.data for x in h.udp("incoming-datagram-stream.receive", incoming, 5)] == [b"now for you"]


def test_udp_connection_refused_on_a_connected_stream():
    h = Host(loopback_udp())
    u = h.new_udp()
    assert h.udp("udp-socket.start-bind", u, h.net, v4(0)) is None and h.udp("udp-socket.finish-bind", u) is None
    incoming, outgoing = h.udp("udp-socket.stream", u, v4(free_port(socket.SOCK_DGRAM)))
    h.udp("outgoing-datagram-stream.check-send", outgoing)
    assert h.udp("outgoing-datagram-stream.send", outgoing, [Record(**{"data": b"?", "remote-address": None})]) == 1
    assert h.wait(h.udp("incoming-datagram-stream.subscribe", incoming))   # the ICMP error wakes it
    assert h.udp("incoming-datagram-stream.receive", incoming, 1) == "connection-refused"


def test_udp_options():
    h = Host()
    u = h.new_udp("ipv6")
    assert h.udp("udp-socket.address-family", u) == "ipv6"
    assert h.udp("udp-socket.set-unicast-hop-limit", u, 0) == "invalid-argument"
    assert h.udp("udp-socket.set-unicast-hop-limit", u, 9) is None
    assert h.udp("udp-socket.unicast-hop-limit", u) == 9
    assert h.udp("udp-socket.set-receive-buffer-size", u, 0) == "invalid-argument"
    assert h.udp("udp-socket.set-send-buffer-size", u, 8192) is None
    assert h.udp("udp-socket.send-buffer-size", u) >= 8192
    assert h.ctx.get(h.udp("udp-socket.subscribe", u), io.Pollable).ready()


def test_create_socket_with_a_bad_family_traps():
    h = Host()
    with pytest.raises(Trap, match="ip-address-family"):
        h.new_tcp("ipv5")


# -- name lookup ---------------------------------------------------------------------------------
def lookup_all(h, name):
    stream = h.fn("ip-name-lookup", "resolve-addresses")(h.net, name)
    if isinstance(stream, str):
        return stream
    nxt = h.fn("ip-name-lookup", "[method]resolve-address-stream.resolve-next-address")
    out = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        got = nxt(stream)
        if got == "would-block":
            assert h.wait(h.fn("ip-name-lookup", "[method]resolve-address-stream.subscribe")(stream))
            continue
        if got is None:
            return out
        if isinstance(got, str):
            return got                          # an error-code
        out.append(got)
    raise AssertionError("the lookup did not end")


def test_name_lookup_when_allowed():
    h = Host(lambda w: setattr(w, "allow_ip_name_lookup", True))
    found = lookup_all(h, "localhost")
    assert found and all(a in (Variant("ipv4", (127, 0, 0, 1)), Variant("ipv6", LOOP6)) for a in found)
    assert lookup_all(h, "127.0.0.1") == [Variant("ipv4", (127, 0, 0, 1))]
    assert lookup_all(h, "::1") == [Variant("ipv6", LOOP6)]
    for bad in ("", "a..b", "x" * 64 + ".example", "host:80", "a b"):
        assert lookup_all(h, bad) == "invalid-argument", bad


# -- poll -----------------------------------------------------------------------------------------
def test_poll_over_a_socket_and_timers_without_spinning():
    h = Host(loopback_tcp())
    listener = h.new_tcp()
    h.listen(listener, v4(0))
    port = h.tcp("local-address", listener).payload.port
    pending = h.ctx.get(h.tcp("subscribe", listener), io.Pollable)
    short = io.timer(time.monotonic_ns() + 100_000_000)
    t0 = time.monotonic()
    assert io.poll([pending, short]) == [1]                 # nobody connects: the timer
    assert 0.09 <= time.monotonic() - t0 < 5
    client = []
    threading.Timer(0.2, lambda: client.append(socket.create_connection(("127.0.0.1", port)))).start()
    long = io.timer(time.monotonic_ns() + 10 * 10**9)
    t0, c0 = time.monotonic(), time.process_time()
    assert io.poll([long, pending]) == [1]
    wall = time.monotonic() - t0
    assert 0.15 <= wall < 5 and time.process_time() - c0 < wall / 2 + 0.05
    time.sleep(0.05)
    client[0].close()


# -- a guest ---------------------------------------------------------------------------------------
KIT = (Path(__file__).parent / "wasip2_sockets_kit.wat").read_text()


def guest(tier, configure=None):
    config = wasmforge.Config()
    config.strategy = tier
    engine = wasmforge.Engine(config)
    store = wasmforge.Store(engine)
    wasi = wasmforge.WasiConfig()
    if configure:
        configure(wasi)
    store.set_wasi(wasi)
    linker = C.Linker(engine)
    linker.add_wasip2()
    inst = linker.instantiate(store, C.Component(engine, KIT))
    return lambda *args, name="echo": inst.get_func(store, name)(store, *args)


@pytest.mark.parametrize("tier", tier_params())
def test_a_guest_tcp_client_echoes_through_a_python_server(tier, server):
    srv, port = server
    t = upper_echo(srv)
    assert guest(tier, loopback_tcp())(port, b"hello from the guest") == b"HELLO FROM THE GUEST"
    t.join(5)
    assert guest(tier)(port, b"x") == "access-denied"                   # nothing granted
    assert guest(tier, loopback_tcp())(free_port(), b"x") == "connection-refused"


@pytest.mark.parametrize("tier", tier_params())
def test_a_guest_udp_socket_exchanges_datagrams_with_a_python_peer(tier):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer:
        peer.bind(("127.0.0.1", 0))
        peer.settimeout(10)
        port = peer.getsockname()[1]
        seen = []

        def echo():
            data, source = peer.recvfrom(100)
            seen.append(source)
            peer.sendto(data.upper(), source)
        t = threading.Thread(target=echo)
        t.start()
        f = guest(tier, loopback_udp())
        assert f(port, b"datagram", name="udp-echo") == b"DATAGRAM"
        t.join(10)
        assert seen and seen[0][0] == "127.0.0.1"
        assert guest(tier, loopback_tcp())(port, b"x", name="udp-echo") == "access-denied"
        # bind granted, the destination not
        f = guest(tier, lambda w: w.allow_udp("127.0.0.1", 0))
        assert f(port, b"x", name="udp-echo") == "access-denied"


def test_the_default_denial_is_wasmtime_pys():
    wasmtime = pytest.importorskip("wasmtime", reason="wasmtime-py is not installed: no reference to compare with")
    wc = pytest.importorskip("wasmtime.component")
    engine = wasmtime.Engine()
    store = wasmtime.Store(engine)
    store.set_wasi(wasmtime.WasiConfig())               # wasmtime-py cannot grant a network
    linker = wc.Linker(engine)
    linker.add_wasip2()
    inst = linker.instantiate(store, wc.Component(engine, KIT))
    ours = guest("interp")
    for name in ("echo", "udp-echo"):
        theirs = inst.get_func(store, name)(store, free_port(), b"x")
        assert theirs == ours(free_port(), b"x", name=name) == "access-denied"


def test_a_granted_address_that_is_not_local_is_not_bindable():
    # 192.0.2.0/24 is TEST-NET-1 (documentation only): no host has it, and a bind sends nothing
    h = Host(lambda w: w.allow_tcp("192.0.2.0/24"))
    assert h.tcp("start-bind", h.new_tcp(), h.net, v4(0, (192, 0, 2, 1))) == "address-not-bindable"


@pytest.mark.parametrize("failure, code", [("EAI_NONAME", "name-unresolvable"), ("EAI_AGAIN", "temporary-resolver-failure"),
                                           ("EAI_FAIL", "permanent-resolver-failure")])
def test_resolver_failures_are_mapped(monkeypatch, failure, code):
    def fail(*args, **kwargs):
        raise socket.gaierror(getattr(socket, failure), "from the resolver")
    monkeypatch.setattr(socket, "getaddrinfo", fail)
    h = Host(lambda w: setattr(w, "allow_ip_name_lookup", True))
    assert lookup_all(h, "example.test") == code


def test_resolver_results_drop_ipv4_mapped_addresses_and_duplicates(monkeypatch):
    infos = [(socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("::ffff:127.0.0.1", 0, 0, 0)),
             (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", 0)),
             (socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("::1", 0, 0, 0)),
             (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", 0))]
    monkeypatch.setattr(socket, "getaddrinfo", lambda *args, **kwargs: infos)
    h = Host(lambda w: setattr(w, "allow_ip_name_lookup", True))
    assert lookup_all(h, "example.test") == [Variant("ipv4", (127, 0, 0, 1)), Variant("ipv6", LOOP6)]
    monkeypatch.setattr(socket, "getaddrinfo", lambda *args, **kwargs: infos[:1])
    assert lookup_all(h, "example.test") == "name-unresolvable"     # nothing left


def test_a_lookup_not_finished_is_would_block_and_its_pollable_waits(monkeypatch):
    release = threading.Event()
    real = socket.getaddrinfo

    def slow(*args, **kwargs):
        release.wait(5)
        return real("127.0.0.1", None, type=socket.SOCK_STREAM)
    h = Host(lambda w: setattr(w, "allow_ip_name_lookup", True))
    monkeypatch.setattr(socket, "getaddrinfo", slow)
    try:
        stream = h.fn("ip-name-lookup", "resolve-addresses")(h.net, "slow.test")
        nxt = h.fn("ip-name-lookup", "[method]resolve-address-stream.resolve-next-address")
        assert nxt(stream) == "would-block"
        pollable = h.fn("ip-name-lookup", "[method]resolve-address-stream.subscribe")(stream)
        assert not h.ctx.get(pollable, io.Pollable).ready()
        threading.Timer(0.1, release.set).start()
        t0 = time.monotonic()
        assert h.wait(pollable)
        assert time.monotonic() - t0 < 5
        assert nxt(stream) == Variant("ipv4", (127, 0, 0, 1))
    finally:
        release.set()


def test_many_lookups_share_a_few_resolver_threads(monkeypatch):
    release = threading.Event()
    calls = []

    def slow(name, *args, **kwargs):
        calls.append(name)
        release.wait(5)
        if name == "boom.test":
            raise RuntimeError("a broken resolver")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", 0))]
    monkeypatch.setattr(socket, "getaddrinfo", slow)
    h = Host(lambda w: setattr(w, "allow_ip_name_lookup", True))
    resolve = h.fn("ip-name-lookup", "resolve-addresses")
    before = threading.active_count()
    streams = [resolve(h.net, "boom.test")] + [resolve(h.net, f"n{i}.test") for i in range(50)]
    assert threading.active_count() - before <= sockets.MAX_RESOLVERS
    release.set()
    nxt = h.fn("ip-name-lookup", "[method]resolve-address-stream.resolve-next-address")
    sub = h.fn("ip-name-lookup", "[method]resolve-address-stream.subscribe")
    for s in streams:
        assert h.wait(sub(s), timeout=10)
    assert nxt(streams[0]) == "unknown"                 # the resolver's exception, not a dead thread
    assert all(nxt(s) == Variant("ipv4", (127, 0, 0, 1)) for s in streams[1:])
    assert len(calls) == 51
