"""``wasi:sockets`` (WASI 0.2): TCP and UDP over non-blocking host sockets, and name lookup,
behind the network capability of the store's ``WasiConfig`` (:mod:`wasmforge.wasi.network`).

Nothing is reachable by default: binding, connecting or sending to an address no grant covers
fails with ``access-denied`` before any system call, and ``resolve-addresses`` with
``permanent-resolver-failure`` (wasmtime's answer) unless name lookup is allowed.  Accepted
connections and received datagrams are not filtered: they arrive on a socket the guest was
allowed to bind.

The operations follow the WIT's two-phase protocol: ``start-*`` makes the system call (bind,
connect, listen; a connect that does not finish at once is in progress), ``finish-*`` reports
``not-in-progress`` without a start, ``would-block`` while the connection is still pending,
then the result.  Each socket's ``subscribe`` pollable (reusable for its whole life) waits on
what the socket's state waits for: writability while connecting, a pending connection while
listening; :func:`wasmforge.wasip2.io.poll` waits on it with every other pollable.
Errors are mapped from ``errno`` as wasmtime maps them.
"""

from __future__ import annotations

import ctypes
import errno
import ipaddress
import os
import queue
import socket
import struct
import sys
import threading
import weakref
from typing import Any, Callable, Dict, List, Optional, Tuple, TypeVar

from ..cm import types as ct
from ..cm.abi.resources import Resource
from ..cm.abi.values import Record, Variant
from ..errors import Trap
from ..wasi.network import IPAddress, NetworkPolicy, SocketAddrUse
from . import io
from ._wit import interface
from .ctx import P2Ctx

Impl = Dict[str, Callable[..., Any]]
T = TypeVar("T")

#: what ``check-write`` permits on a connected TCP stream that poll() reports writable
TCP_PERMIT = 1 << 16
#: the most datagrams one ``check-send`` permits (and one ``receive`` returns)
MAX_DATAGRAMS = 64
#: the largest UDP payload received (IPv4's and IPv6's limit without jumbograms)
MAX_DATAGRAM = 65535
#: the listen backlog until ``set-listen-backlog-size`` changes it
DEFAULT_BACKLOG = 128
#: keep-alive idle time and interval, in whole seconds, as Linux accepts them
_KEEPALIVE_MAX_SECS = 32767
#: keep-alive probes, as Linux accepts them
_KEEPALIVE_MAX_COUNT = 127
_NS = 1_000_000_000


class SocketError(Exception):
    """An operation's ``error-code`` (the WIT's enum label)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


#: errno -> error-code, as wasmtime maps them (its ``From<std::io::Error> for ErrorCode``)
_ERRNO: Dict[int, str] = {
    errno.EACCES: "access-denied",
    errno.EPERM: "access-denied",
    errno.EOPNOTSUPP: "not-supported",
    errno.EAFNOSUPPORT: "not-supported",
    errno.EPROTONOSUPPORT: "not-supported",
    errno.EINVAL: "invalid-argument",
    errno.EDESTADDRREQ: "invalid-argument",
    errno.ENOMEM: "out-of-memory",
    errno.ENOBUFS: "out-of-memory",
    errno.ETIMEDOUT: "timeout",
    errno.EALREADY: "concurrency-conflict",
    errno.EWOULDBLOCK: "would-block",
    errno.EAGAIN: "would-block",
    errno.EINPROGRESS: "would-block",
    errno.EISCONN: "invalid-state",
    errno.ENOTCONN: "invalid-state",
    errno.EMFILE: "new-socket-limit",
    errno.ENFILE: "new-socket-limit",
    errno.EADDRINUSE: "address-in-use",
    errno.EADDRNOTAVAIL: "address-not-bindable",
    errno.EHOSTUNREACH: "remote-unreachable",
    errno.EHOSTDOWN: "remote-unreachable",
    errno.ENETUNREACH: "remote-unreachable",
    errno.ENETDOWN: "remote-unreachable",
    errno.ECONNREFUSED: "connection-refused",
    errno.ECONNRESET: "connection-reset",
    errno.ECONNABORTED: "connection-aborted",
    errno.EMSGSIZE: "datagram-too-large",
}
if hasattr(errno, "ENONET"):
    _ERRNO[errno.ENONET] = "remote-unreachable"


def error_code(err: Optional[int], **overrides: str) -> str:
    """The ``error-code`` of ``errno`` ``err`` (``overrides`` by errno name, for operations the
    WIT documents differently)."""
    if err is None:
        return "unknown"
    name = errno.errorcode.get(err)
    if name is not None and name in overrides:
        return overrides[name]
    return _ERRNO.get(err, "unknown")


def _os(exc: OSError, **overrides: str) -> SocketError:
    return SocketError(error_code(exc.errno, **overrides))


def _result(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn``'s value as ``ok``; a SocketError (or an unexpected OSError) as ``err``."""
    def call(*args: Any) -> Variant:
        try:
            return Variant("ok", fn(*args))
        except SocketError as exc:
            return Variant("err", exc.code)
        except OSError as exc:
            return Variant("err", error_code(exc.errno))
    return call


class NetworkError(io.IoError):
    """A stream error from a socket: ``network-error-code`` maps its errno."""


def _stream_error(exc: OSError) -> io.StreamError:
    """A connection's failure: ``last-operation-failed`` (``network-error-code`` tells a
    reset from a timeout); a write after the peer went away (``EPIPE``) is ``closed``."""
    if exc.errno == errno.EPIPE:
        return io.StreamError()
    return io.StreamError(NetworkError(exc.strerror or str(exc), exc.errno))


class Network:
    """A ``wasi:sockets/network.network``: the store's network capability."""

    def __init__(self, policy: NetworkPolicy) -> None:
        self.policy = policy

    def check(self, address: IPAddress, port: int, use: SocketAddrUse) -> None:
        if not self.policy.allows(address, port, use):
            raise SocketError("access-denied")


# -- addresses ---------------------------------------------------------------------------
_FAMILY: Dict[str, int] = {"ipv4": socket.AF_INET, "ipv6": socket.AF_INET6}
_LABEL: Dict[int, str] = {socket.AF_INET: "ipv4", socket.AF_INET6: "ipv6"}


class SocketAddress:
    """An ``ip-socket-address`` taken apart: the family, the address, the port, and the
    address as the ``socket`` module takes it."""

    def __init__(self, value: Any) -> None:
        if not isinstance(value, Variant) or value.tag not in _FAMILY:
            raise Trap(f"wasi:sockets: {value!r} is not an ip-socket-address")
        rec: Any = value.payload
        self.family = _FAMILY[value.tag]
        self.port = int(rec.port)
        self.ip: IPAddress
        if self.family == socket.AF_INET:
            self.ip = ipaddress.IPv4Address(bytes(rec.address))
            self.sockaddr: Tuple[Any, ...] = (str(self.ip), self.port)
        else:
            self.ip = ipaddress.IPv6Address(struct.pack("!8H", *rec.address))
            self.sockaddr = (str(self.ip), self.port, int(rec.flow_info), int(rec.scope_id))

    def unicast(self) -> None:
        """``invalid-argument`` for a multicast, broadcast or IPv4-mapped IPv6 address (the
        last would reach IPv4 addresses through an IPv6 socket, past the IPv4 grants)."""
        ip = self.ip
        if ip.is_multicast or ip == ipaddress.IPv4Address("255.255.255.255"):
            raise SocketError("invalid-argument")
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            raise SocketError("invalid-argument")

    def remote(self) -> None:
        """What a remote address must also be: not the unspecified address, not port 0."""
        self.unicast()
        if self.ip.is_unspecified or self.port == 0:
            raise SocketError("invalid-argument")


def socket_address(family: int, sa: Tuple[Any, ...]) -> Variant:
    """The ``ip-socket-address`` of a ``getsockname``/``getpeername``/``recvfrom`` result."""
    if family == socket.AF_INET:
        return Variant("ipv4", Record(port=sa[1], address=tuple(ipaddress.IPv4Address(sa[0]).packed)))
    ip = ipaddress.IPv6Address(str(sa[0]).split("%", 1)[0])
    return Variant("ipv6", Record(**{"port": sa[1], "flow-info": sa[2], "address": struct.unpack("!8H", ip.packed),
                                     "scope-id": sa[3]}))


def ip_address(ip: IPAddress) -> Variant:
    """The ``ip-address`` of ``ip``."""
    if isinstance(ip, ipaddress.IPv4Address):
        return Variant("ipv4", tuple(ip.packed))
    return Variant("ipv6", struct.unpack("!8H", ip.packed))


def _family(label: str) -> int:
    if label not in _FAMILY:
        raise Trap(f"wasi:sockets: {label!r} is not an ip-address-family")
    return _FAMILY[label]


class _OsSocket:
    """The host socket shared by a socket resource and its streams, closed when the last of
    them is dropped."""

    def __init__(self, sock: socket.socket) -> None:
        sock.setblocking(False)
        self.sock = sock

    def __del__(self) -> None:
        self.sock.close()


def _new_socket(family: int, kind: int) -> _OsSocket:
    try:
        sock = socket.socket(family, kind)
    except OSError as exc:
        raise _os(exc) from None
    if family == socket.AF_INET6:
        # The WIT: IPV6_V6ONLY is on and cannot be changed (no IPv4 through an IPv6 socket).
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    return _OsSocket(sock)


def _readable(sock: socket.socket) -> bool:
    """Whether a receive (or an accept) would not block: data, a connection, an end or an
    error to report."""
    return io.wait_fd(sock.fileno(), False, 0)


def _writable(sock: socket.socket) -> bool:
    return io.wait_fd(sock.fileno(), True, 0)


def _positive(value: int) -> int:
    if value == 0:
        raise SocketError("invalid-argument")
    return value


class _Options:
    """What TCP and UDP socket resources share: binding (``start-bind``/``finish-bind``),
    ``local-address`` and the socket options (get and set)."""

    os: _OsSocket
    family: int
    state: str
    network: Optional[Network]
    #: the use a bind asks the network capability for
    bind_use: SocketAddrUse

    def __init__(self) -> None:
        #: options set explicitly, (level, name) -> value: an accepted socket inherits them
        self.set_options: Dict[Tuple[int, int], int] = {}

    def _goto(self, state: str) -> None:
        self.state = state

    def start_bind(self, network: Network, value: Any) -> None:
        addr = SocketAddress(value)
        if self.state != "unbound":
            raise SocketError("invalid-state")
        if addr.family != self.family:
            raise SocketError("invalid-argument")
        addr.unicast()
        network.check(addr.ip, addr.port, self.bind_use)
        sock = self.os.sock
        if self.bind_use is SocketAddrUse.TCP_BIND and sys.platform != "win32":
            # The WIT's implementors note: a recent connection's TIME_WAIT must not block a bind.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(addr.sockaddr)
        except OSError as exc:
            raise _os(exc) from None
        self.network = network
        self._goto("bind-in-progress")

    def finish_bind(self) -> None:
        if self.state != "bind-in-progress":
            raise SocketError("not-in-progress")
        self._goto("bound")

    def local_address(self) -> Variant:
        if self.state == "bind-in-progress":
            raise SocketError("concurrency-conflict")
        if self.state in ("unbound", "closed"):     # only TCP is ever closed
            raise SocketError("invalid-state")
        return socket_address(self.family, self.os.sock.getsockname())

    def _get(self, level: int, name: int) -> int:
        return self.os.sock.getsockopt(level, name)

    def _set(self, level: int, name: int, value: int) -> None:
        self.os.sock.setsockopt(level, name, value)
        self.set_options[(level, name)] = value

    def _hop_option(self) -> Tuple[int, int]:
        if self.family == socket.AF_INET:
            return socket.IPPROTO_IP, socket.IP_TTL
        return socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS

    def hop_limit(self) -> int:
        return self._get(*self._hop_option())

    def set_hop_limit(self, value: int) -> None:
        self._set(*self._hop_option(), _positive(value))

    def receive_buffer_size(self) -> int:
        return self._get(socket.SOL_SOCKET, socket.SO_RCVBUF)

    def set_receive_buffer_size(self, value: int) -> None:
        self._set(socket.SOL_SOCKET, socket.SO_RCVBUF, min(_positive(value), 0x7FFFFFFF))

    def send_buffer_size(self) -> int:
        return self._get(socket.SOL_SOCKET, socket.SO_SNDBUF)

    def set_send_buffer_size(self, value: int) -> None:
        self._set(socket.SOL_SOCKET, socket.SO_SNDBUF, min(_positive(value), 0x7FFFFFFF))


# -- TCP -----------------------------------------------------------------------------------
class TcpInput(io.InputStream):
    """The input stream of a connected TCP socket."""

    def __init__(self, os_sock: _OsSocket) -> None:
        self.os = os_sock

    def subscribe(self) -> io.Pollable:
        sock = self.os.sock
        return io.Pollable(lambda: self.closed or _readable(sock), read_fd=sock.fileno())

    def _read(self, n: int, blocking: bool) -> bytes:
        while True:
            try:
                data = self.os.sock.recv(n)
            except BlockingIOError:
                if not blocking:
                    return b""
                io.poll([self.subscribe()])
                continue
            except OSError as exc:
                raise _stream_error(exc) from None
            if not data:
                raise io.StreamError()          # the peer shut its side down: closed
            return data


class TcpOutput(io.OutputStream):
    """The output stream of a connected TCP socket.  A write the kernel does not take at once
    waits in a buffer of its own; ``check-write`` permits nothing until it has drained
    (backpressure), ``flush`` sends what it can and ``blocking-flush`` waits for all of it.
    A write beyond the permit traps (``bounded``, the WIT's rule)."""

    bounded = True

    def __init__(self, os_sock: _OsSocket) -> None:
        self.os = os_sock
        self.pending = b""

    def _drain(self) -> None:
        sock = self.os.sock
        while self.pending:
            try:
                n = sock.send(self.pending, getattr(socket, "MSG_NOSIGNAL", 0))
            except BlockingIOError:
                return
            except OSError as exc:
                self.closed = True
                raise _stream_error(exc) from None
            self.pending = self.pending[n:]

    def _permit(self) -> int:
        self._drain()
        if self.pending:
            return 0
        return TCP_PERMIT if _writable(self.os.sock) else 0

    def _ready(self) -> bool:
        try:
            return self.closed or self._permit() > 0
        except io.StreamError:
            return True                         # check-write reports the error

    def subscribe(self) -> io.Pollable:
        return io.Pollable(self._ready, write_fd=self.os.sock.fileno())

    def _write(self, data: bytes) -> None:
        self.pending += data
        self._drain()

    def flush(self) -> None:
        super().flush()
        self._drain()

    def blocking_flush(self) -> None:
        self.flush()
        while self.pending:
            io.poll([self.subscribe()])
            self._drain()


class TcpSocket(_Options):
    """A ``wasi:sockets/tcp.tcp-socket`` in one of the WIT's states."""

    bind_use = SocketAddrUse.TCP_BIND

    def __init__(self, family: int, os_sock: Optional[_OsSocket] = None, state: str = "unbound") -> None:
        super().__init__()
        self.family = family
        self.os = os_sock if os_sock is not None else _new_socket(family, socket.SOCK_STREAM)
        self.state = state
        self.network: Optional[Network] = None
        self.backlog = DEFAULT_BACKLOG
        self.input: Optional[TcpInput] = None
        self.output: Optional[TcpOutput] = None
        self._pollables: "weakref.WeakSet[io.Pollable]" = weakref.WeakSet()

    # -- state and readiness -------------------------------------------------------------
    def _goto(self, state: str) -> None:
        self.state = state
        for p in self._pollables:
            self._arm(p)

    def _arm(self, p: io.Pollable) -> None:
        fd = self.os.sock.fileno()
        p.read_fd = fd if self.state == "listening" else None
        p.write_fd = fd if self.state == "connect-in-progress" else None

    def _ready(self) -> bool:
        if self.state == "connect-in-progress":
            return _writable(self.os.sock)
        if self.state == "listening":
            return _readable(self.os.sock)
        return True

    def subscribe(self) -> io.Pollable:
        p = io.Pollable(self._ready)
        self._arm(p)
        self._pollables.add(p)
        return p

    def _streams(self) -> Tuple[TcpInput, TcpOutput]:
        self.input, self.output = TcpInput(self.os), TcpOutput(self.os)
        return self.input, self.output

    # -- bind, connect, listen, accept ----------------------------------------------------
    def start_connect(self, network: Network, value: Any) -> None:
        addr = SocketAddress(value)
        if self.state in ("connect-in-progress", "bind-in-progress", "listen-in-progress"):
            raise SocketError("concurrency-conflict")
        if self.state not in ("unbound", "bound"):
            raise SocketError("invalid-state")
        if addr.family != self.family or (self.network is not None and network is not self.network):
            raise SocketError("invalid-argument")
        addr.remote()
        network.check(addr.ip, addr.port, SocketAddrUse.TCP_CONNECT)
        err = self.os.sock.connect_ex(addr.sockaddr)
        if err not in (0, errno.EINPROGRESS, errno.EWOULDBLOCK):
            self._goto("closed")
            # on Linux an implicit bind out of ephemeral ports is EADDRNOTAVAIL
            raise SocketError(error_code(err, EADDRNOTAVAIL="address-in-use"))
        self.network = network
        self._goto("connect-in-progress")

    def finish_connect(self) -> Tuple[TcpInput, TcpOutput]:
        if self.state != "connect-in-progress":
            raise SocketError("not-in-progress")
        sock = self.os.sock
        if not _writable(sock):
            raise SocketError("would-block")
        err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            self._goto("closed")
            raise SocketError(error_code(err, EADDRNOTAVAIL="address-in-use"))
        self._goto("connected")
        return self._streams()

    def start_listen(self) -> None:
        if self.state == "listen-in-progress":
            raise SocketError("concurrency-conflict")
        if self.state != "bound":
            raise SocketError("invalid-state")
        try:
            self.os.sock.listen(self.backlog)
        except OSError as exc:
            raise _os(exc) from None
        self._goto("listen-in-progress")

    def finish_listen(self) -> None:
        if self.state != "listen-in-progress":
            raise SocketError("not-in-progress")
        self._goto("listening")

    def accept(self) -> Tuple["TcpSocket", TcpInput, TcpOutput]:
        if self.state != "listening":
            raise SocketError("invalid-state")
        try:
            conn, _ = self.os.sock.accept()
        except BlockingIOError:
            raise SocketError("would-block") from None
        except OSError as exc:
            raise _os(exc) from None
        client = TcpSocket(self.family, _OsSocket(conn), "connected")
        # The WIT: the client inherits the listener's keep-alive, hop-limit and buffer sizes
        # (set again, where the OS does not copy them itself).
        for (level, name), value in self.set_options.items():
            client._set(level, name, value)
        streams = client._streams()
        return client, streams[0], streams[1]

    # -- addresses and options -------------------------------------------------------------
    def remote_address(self) -> Variant:
        if self.state != "connected":
            raise SocketError("invalid-state")
        try:
            return socket_address(self.family, self.os.sock.getpeername())
        except OSError as exc:
            raise _os(exc) from None

    def set_listen_backlog_size(self, value: int) -> None:
        _positive(value)
        if self.state in ("connect-in-progress", "connected"):
            raise SocketError("invalid-state")
        self.backlog = min(value, 0x7FFFFFFF)
        if self.state == "listening":
            self.os.sock.listen(self.backlog)     # Linux takes a new backlog on a listening socket

    def keep_alive_enabled(self) -> bool:
        return bool(self._get(socket.SOL_SOCKET, socket.SO_KEEPALIVE))

    def set_keep_alive_enabled(self, value: bool) -> None:
        self._set(socket.SOL_SOCKET, socket.SO_KEEPALIVE, int(bool(value)))

    def _keep_alive_secs(self, name: str) -> int:
        return self._get(socket.IPPROTO_TCP, getattr(socket, name)) * _NS

    def _set_keep_alive_secs(self, name: str, ns: int) -> None:
        secs = min(max(1, -(-_positive(ns) // _NS)), _KEEPALIVE_MAX_SECS)
        self._set(socket.IPPROTO_TCP, getattr(socket, name), secs)

    def keep_alive_count(self) -> int:
        return self._get(socket.IPPROTO_TCP, socket.TCP_KEEPCNT)

    def set_keep_alive_count(self, value: int) -> None:
        self._set(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, min(_positive(value), _KEEPALIVE_MAX_COUNT))

    def shutdown(self, how: str) -> None:
        if self.state != "connected":
            raise SocketError("invalid-state")
        flag = {"receive": socket.SHUT_RD, "send": socket.SHUT_WR, "both": socket.SHUT_RDWR}.get(how)
        if flag is None:
            raise Trap(f"wasi:sockets/tcp: {how!r} is not a shutdown-type")
        if how != "receive" and self.output is not None and not self.output.closed:
            try:
                self.output._drain()            # what the guest wrote goes out before the FIN
            except io.StreamError:
                pass
        try:
            self.os.sock.shutdown(flag)
        except OSError as exc:
            if exc.errno != errno.ENOTCONN:     # the peer is gone already: nothing to shut
                raise _os(exc) from None
        if how != "send" and self.input is not None:
            self.input.closed = True
        if how != "receive" and self.output is not None:
            self.output.closed = True


# -- UDP -----------------------------------------------------------------------------------
def _disconnect(sock: socket.socket) -> None:
    """Dissolve a UDP socket's association (``connect`` with ``AF_UNSPEC``, which the socket
    module cannot spell)."""
    libc = ctypes.CDLL(None, use_errno=True)
    if sys.platform.startswith("linux"):
        sa = struct.pack("=H14x", socket.AF_UNSPEC)
    else:
        sa = struct.pack("=BB14x", 16, socket.AF_UNSPEC)       # BSD: sa_len, sa_family
    if libc.connect(sock.fileno(), sa, len(sa)) != 0:
        err = ctypes.get_errno()
        if err != errno.EAFNOSUPPORT:           # some BSDs report it yet disconnect
            raise OSError(err, os.strerror(err))


class UdpSocket(_Options):
    """A ``wasi:sockets/udp.udp-socket``: ``unbound``, ``bind-in-progress`` or ``bound``, and
    then streaming to one remote address or to any."""

    bind_use = SocketAddrUse.UDP_BIND

    def __init__(self, family: int) -> None:
        super().__init__()
        self.family = family
        self.os = _new_socket(family, socket.SOCK_DGRAM)
        self.state = "unbound"
        self.network: Optional[Network] = None
        self.remote: Optional[SocketAddress] = None
        #: which call of ``stream`` made the streams that work (older ones are invalid-state)
        self.generation = 0

    def stream(self, remote: Any) -> Tuple["IncomingDatagrams", "OutgoingDatagrams"]:
        if self.state != "bound":
            raise SocketError("invalid-state")
        addr = None if remote is None else SocketAddress(remote)
        if addr is not None:
            if addr.family != self.family:
                raise SocketError("invalid-argument")
            addr.remote()
            assert self.network is not None
            self.network.check(addr.ip, addr.port, SocketAddrUse.UDP_CONNECT)
        sock = self.os.sock
        try:
            if self.remote is not None and addr is None:
                local = sock.getsockname()
                _disconnect(sock)
                if sock.getsockname()[1] != local[1]:
                    # Linux unbinds a port the OS chose when the association dissolves: the
                    # WIT keeps the socket bound where it was.
                    sock.bind(local)
            if addr is not None:
                sock.connect(addr.sockaddr)     # a connected UDP socket may connect elsewhere
        except OSError as exc:
            raise _os(exc, ECONNRESET="remote-unreachable", EADDRNOTAVAIL="address-in-use") from None
        self.remote = addr
        self.generation += 1
        return IncomingDatagrams(self, self.generation), OutgoingDatagrams(self, self.generation)

    def remote_address(self) -> Variant:
        if self.remote is None:
            raise SocketError("invalid-state")
        return socket_address(self.family, self.os.sock.getpeername())


class _Datagrams:
    def __init__(self, udp: UdpSocket, generation: int) -> None:
        self.udp = udp
        self.generation = generation

    def _current(self) -> socket.socket:
        if self.generation != self.udp.generation:
            raise SocketError("invalid-state")   # the WIT: only the latest pair of streams works
        return self.udp.os.sock


class IncomingDatagrams(_Datagrams):
    """A ``udp.incoming-datagram-stream``."""

    def receive(self, max_results: int) -> List[Record]:
        sock = self._current()
        out: List[Record] = []
        while len(out) < min(max_results, MAX_DATAGRAMS):
            try:
                data, sa = sock.recvfrom(MAX_DATAGRAM)
            except BlockingIOError:
                break
            except OSError as exc:
                if out:
                    break
                raise _os(exc, ECONNRESET="remote-unreachable") from None
            out.append(Record(**{"data": data, "remote-address": socket_address(self.udp.family, sa)}))
        return out

    def subscribe(self) -> io.Pollable:
        sock = self.udp.os.sock
        return io.Pollable(lambda: _readable(sock), read_fd=sock.fileno())


class OutgoingDatagrams(_Datagrams):
    """A ``udp.outgoing-datagram-stream``: ``send`` must follow a ``check-send`` that
    permitted at least as many datagrams (else it traps, as the WIT requires)."""

    def __init__(self, udp: UdpSocket, generation: int) -> None:
        super().__init__(udp, generation)
        self.permit: Optional[int] = None

    def check_send(self) -> int:
        sock = self._current()
        self.permit = MAX_DATAGRAMS if _writable(sock) else 0
        return self.permit

    def send(self, datagrams: List[Any]) -> int:
        if not datagrams:
            return 0
        if self.permit is None:
            raise Trap("wasi:sockets/udp: outgoing-datagram-stream.send without a check-send before it")
        if len(datagrams) > self.permit:
            raise Trap(f"wasi:sockets/udp: send of {len(datagrams)} datagrams, more than the "
                       f"{self.permit} check-send permitted")
        self.permit = None
        sock = self._current()
        udp = self.udp
        sent = 0
        for d in datagrams:
            try:
                self._send_one(sock, udp, d)
            except (SocketError, OSError) as exc:
                if sent:
                    return sent                 # the WIT: an error after a success is not reported
                if isinstance(exc, BlockingIOError):
                    return 0
                raise exc if isinstance(exc, SocketError) else _os(exc, ECONNRESET="remote-unreachable")
            sent += 1
        return sent

    @staticmethod
    def _send_one(sock: socket.socket, udp: UdpSocket, d: Any) -> None:
        data = bytes(d.data)
        remote = getattr(d, "remote-address", None) if isinstance(d, Record) else d.remote_address
        if remote is None:
            if udp.remote is None:
                raise SocketError("invalid-argument")
            sock.send(data)
            return
        addr = SocketAddress(remote)
        if udp.remote is not None:
            if (addr.ip, addr.port) != (udp.remote.ip, udp.remote.port):
                raise SocketError("invalid-argument")
            sock.send(data)
            return
        if addr.family != udp.family:
            raise SocketError("invalid-argument")
        addr.remote()
        assert udp.network is not None
        udp.network.check(addr.ip, addr.port, SocketAddrUse.UDP_OUTGOING_DATAGRAM)
        sock.sendto(data, addr.sockaddr)

    def subscribe(self) -> io.Pollable:
        sock = self.udp.os.sock
        return io.Pollable(lambda: _writable(sock), write_fd=sock.fileno())


# -- name lookup ------------------------------------------------------------------------------
#: getaddrinfo's failures -> error-code (the WIT's resolve-next-address errors)
_EAI: Dict[int, str] = {}
for _name, _code in (("EAI_NONAME", "name-unresolvable"), ("EAI_NODATA", "name-unresolvable"),
                     ("EAI_ADDRFAMILY", "name-unresolvable"), ("EAI_AGAIN", "temporary-resolver-failure"),
                     ("EAI_FAIL", "permanent-resolver-failure"), ("EAI_MEMORY", "out-of-memory")):
    if hasattr(socket, _name):
        _EAI[getattr(socket, _name)] = _code


def parse_host(name: str) -> Optional[IPAddress]:
    """The IP address ``name`` spells, None for a domain name; ``invalid-argument`` when it
    is neither (IDNA-encoded domain names of at most 253 characters, labels of 1 to 63)."""
    try:
        return ipaddress.ip_address(name.strip("[]") if name.startswith("[") else name)
    except ValueError:
        pass
    try:
        ascii_name = name.encode("idna").decode("ascii")
    except (UnicodeError, ValueError):
        raise SocketError("invalid-argument") from None
    labels = ascii_name.rstrip(".").split(".")
    if not ascii_name or len(ascii_name) > 253 or any(
            not 0 < len(label) <= 63 or not all(c.isalnum() or c in "-_" for c in label) for label in labels):
        raise SocketError("invalid-argument")
    return None


#: the threads that run name lookups (getaddrinfo blocks): at most this many, whatever the
#: number of lookups guests start; the others wait their turn in a queue
MAX_RESOLVERS = 4
_lookups: "queue.SimpleQueue[Tuple[ResolveAddressStream, str]]" = queue.SimpleQueue()
_resolvers: List[threading.Thread] = []
_resolvers_lock = threading.Lock()


def _resolver() -> None:
    while True:
        stream, name = _lookups.get()
        stream._lookup(name)


def _submit(stream: "ResolveAddressStream", name: str) -> None:
    with _resolvers_lock:
        if len(_resolvers) < MAX_RESOLVERS:
            # daemon threads: a lookup hanging in the resolver never holds the process at exit
            t = threading.Thread(target=_resolver, daemon=True, name=f"wasi-resolve-{len(_resolvers)}")
            try:
                t.start()
                _resolvers.append(t)
            except RuntimeError:
                pass
        inline = not _resolvers
    if inline:
        # Python compiled to WebAssembly (Pyodide) cannot start a resolver thread: the lookup
        # runs here, in the guest's call, which getaddrinfo then blocks.
        stream._lookup(name)
        return
    _lookups.put((stream, name))


class ResolveAddressStream:
    """A ``ip-name-lookup.resolve-address-stream``: the lookup runs on one of the resolver
    threads (``getaddrinfo`` blocks); an :class:`io.Waker` woken when it ends wakes a poll
    waiting on the stream."""

    def __init__(self, name: Optional[str], literal: Optional[IPAddress] = None) -> None:
        self.addresses: List[IPAddress] = [] if literal is None else [literal]
        self.error: Optional[str] = None
        self.done = threading.Event()
        self.waker: Optional[io.Waker] = None
        if name is None:
            self.done.set()
            return
        self.waker = io.Waker()
        _submit(self, name)

    def _lookup(self, name: str) -> None:
        try:
            infos = socket.getaddrinfo(name, None, type=socket.SOCK_STREAM)
            seen: Dict[IPAddress, None] = {}
            for family, _, _, _, sa in infos:
                if family not in (socket.AF_INET, socket.AF_INET6):
                    continue
                ip = ipaddress.ip_address(str(sa[0]).split("%", 1)[0])
                if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
                    continue                    # the WIT: never an IPv4-mapped IPv6 address
                seen.setdefault(ip, None)
            self.addresses = list(seen)
            if not self.addresses:
                self.error = "name-unresolvable"
        except socket.gaierror as exc:
            self.error = _EAI.get(exc.errno or 0, "permanent-resolver-failure")
        except (OSError, UnicodeError):
            self.error = "permanent-resolver-failure"
        except Exception:                       # noqa: BLE001 -- a resolver thread never dies
            self.error = "unknown"
        finally:
            self.done.set()
            assert self.waker is not None
            self.waker.wake()

    def next(self) -> Variant:
        if not self.done.is_set():
            raise SocketError("would-block")
        if self.error is not None:
            raise SocketError(self.error)
        if not self.addresses:
            return Variant("none")
        return Variant("some", ip_address(self.addresses.pop(0)))

    def subscribe(self) -> io.Pollable:
        waker = self.waker
        fd = waker.fd if waker is not None and not self.done.is_set() else None
        return io.Pollable(self.done.is_set, read_fd=fd)


# -- the interfaces ---------------------------------------------------------------------------
def _rt(ctx: P2Ctx, iface: str, name: str) -> ct.ResourceType:
    return ctx.resource_type(ctx.types.resource(interface(iface).types[name]))


def _get(ctx: P2Ctx, cls: type[T]) -> Callable[[Resource], T]:
    return lambda h: ctx.get(h, cls)


def network(ctx: P2Ctx) -> Impl:
    def network_error_code(h: Resource) -> Variant:
        err = ctx.get(h, io.IoError)
        if not isinstance(err, NetworkError) or err.errno is None:
            return Variant("none")
        return Variant("some", error_code(err.errno))
    return {"network-error-code": network_error_code}


def instance_network(ctx: P2Ctx) -> Impl:
    rt = _rt(ctx, "wasi:sockets/network", "network")
    return {"instance-network": lambda: ctx.push(rt, Network(ctx.config.network))}


def tcp_create_socket(ctx: P2Ctx) -> Impl:
    rt = _rt(ctx, "wasi:sockets/tcp", "tcp-socket")
    return {"create-tcp-socket": _result(lambda family: ctx.push(rt, TcpSocket(_family(family))))}


def udp_create_socket(ctx: P2Ctx) -> Impl:
    rt = _rt(ctx, "wasi:sockets/udp", "udp-socket")
    return {"create-udp-socket": _result(lambda family: ctx.push(rt, UdpSocket(_family(family))))}


def _stream_pushers(ctx: P2Ctx) -> Tuple[Callable[[io.InputStream], Resource], Callable[[io.OutputStream], Resource]]:
    inp = _rt(ctx, "wasi:io/streams", "input-stream")
    out = _rt(ctx, "wasi:io/streams", "output-stream")
    return (lambda s: ctx.push(inp, s)), (lambda s: ctx.push(out, s))


def tcp(ctx: P2Ctx) -> Impl:
    me = _rt(ctx, "wasi:sockets/tcp", "tcp-socket")
    pollable = _rt(ctx, "wasi:io/poll", "pollable")
    push_in, push_out = _stream_pushers(ctx)
    sock = _get(ctx, TcpSocket)
    net = _get(ctx, Network)

    def finish_connect(h: Resource) -> Tuple[Resource, Resource]:
        i, o = sock(h).finish_connect()
        return push_in(i), push_out(o)

    def accept(h: Resource) -> Tuple[Resource, Resource, Resource]:
        client, i, o = sock(h).accept()
        return ctx.push(me, client), push_in(i), push_out(o)

    m = "[method]tcp-socket."
    return {
        m + "start-bind": _result(lambda h, n, addr: sock(h).start_bind(net(n), addr)),
        m + "finish-bind": _result(lambda h: sock(h).finish_bind()),
        m + "start-connect": _result(lambda h, n, addr: sock(h).start_connect(net(n), addr)),
        m + "finish-connect": _result(finish_connect),
        m + "start-listen": _result(lambda h: sock(h).start_listen()),
        m + "finish-listen": _result(lambda h: sock(h).finish_listen()),
        m + "accept": _result(accept),
        m + "local-address": _result(lambda h: sock(h).local_address()),
        m + "remote-address": _result(lambda h: sock(h).remote_address()),
        m + "is-listening": lambda h: sock(h).state == "listening",
        m + "address-family": lambda h: _LABEL[sock(h).family],
        m + "set-listen-backlog-size": _result(lambda h, v: sock(h).set_listen_backlog_size(v)),
        m + "keep-alive-enabled": _result(lambda h: sock(h).keep_alive_enabled()),
        m + "set-keep-alive-enabled": _result(lambda h, v: sock(h).set_keep_alive_enabled(v)),
        m + "keep-alive-idle-time": _result(lambda h: sock(h)._keep_alive_secs("TCP_KEEPIDLE")),
        m + "set-keep-alive-idle-time": _result(lambda h, v: sock(h)._set_keep_alive_secs("TCP_KEEPIDLE", v)),
        m + "keep-alive-interval": _result(lambda h: sock(h)._keep_alive_secs("TCP_KEEPINTVL")),
        m + "set-keep-alive-interval": _result(lambda h, v: sock(h)._set_keep_alive_secs("TCP_KEEPINTVL", v)),
        m + "keep-alive-count": _result(lambda h: sock(h).keep_alive_count()),
        m + "set-keep-alive-count": _result(lambda h, v: sock(h).set_keep_alive_count(v)),
        m + "hop-limit": _result(lambda h: sock(h).hop_limit()),
        m + "set-hop-limit": _result(lambda h, v: sock(h).set_hop_limit(v)),
        m + "receive-buffer-size": _result(lambda h: sock(h).receive_buffer_size()),
        m + "set-receive-buffer-size": _result(lambda h, v: sock(h).set_receive_buffer_size(v)),
        m + "send-buffer-size": _result(lambda h: sock(h).send_buffer_size()),
        m + "set-send-buffer-size": _result(lambda h, v: sock(h).set_send_buffer_size(v)),
        m + "subscribe": lambda h: ctx.push(pollable, sock(h).subscribe()),
        m + "shutdown": _result(lambda h, how: sock(h).shutdown(how)),
    }


def udp(ctx: P2Ctx) -> Impl:
    pollable = _rt(ctx, "wasi:io/poll", "pollable")
    incoming = _rt(ctx, "wasi:sockets/udp", "incoming-datagram-stream")
    outgoing = _rt(ctx, "wasi:sockets/udp", "outgoing-datagram-stream")
    sock = _get(ctx, UdpSocket)
    net = _get(ctx, Network)
    inc = _get(ctx, IncomingDatagrams)
    out = _get(ctx, OutgoingDatagrams)

    def stream(h: Resource, remote: Any) -> Tuple[Resource, Resource]:
        i, o = sock(h).stream(remote)
        return ctx.push(incoming, i), ctx.push(outgoing, o)

    m = "[method]udp-socket."
    return {
        m + "start-bind": _result(lambda h, n, addr: sock(h).start_bind(net(n), addr)),
        m + "finish-bind": _result(lambda h: sock(h).finish_bind()),
        m + "stream": _result(stream),
        m + "local-address": _result(lambda h: sock(h).local_address()),
        m + "remote-address": _result(lambda h: sock(h).remote_address()),
        m + "address-family": lambda h: _LABEL[sock(h).family],
        m + "unicast-hop-limit": _result(lambda h: sock(h).hop_limit()),
        m + "set-unicast-hop-limit": _result(lambda h, v: sock(h).set_hop_limit(v)),
        m + "receive-buffer-size": _result(lambda h: sock(h).receive_buffer_size()),
        m + "set-receive-buffer-size": _result(lambda h, v: sock(h).set_receive_buffer_size(v)),
        m + "send-buffer-size": _result(lambda h: sock(h).send_buffer_size()),
        m + "set-send-buffer-size": _result(lambda h, v: sock(h).set_send_buffer_size(v)),
        m + "subscribe": lambda h: ctx.push(pollable, io.always_ready()),
        "[method]incoming-datagram-stream.receive": _result(lambda h, n: inc(h).receive(n)),
        "[method]incoming-datagram-stream.subscribe": lambda h: ctx.push(pollable, inc(h).subscribe()),
        "[method]outgoing-datagram-stream.check-send": _result(lambda h: out(h).check_send()),
        "[method]outgoing-datagram-stream.send": _result(lambda h, ds: out(h).send(ds)),
        "[method]outgoing-datagram-stream.subscribe": lambda h: ctx.push(pollable, out(h).subscribe()),
    }


def ip_name_lookup(ctx: P2Ctx) -> Impl:
    rt = _rt(ctx, "wasi:sockets/ip-name-lookup", "resolve-address-stream")
    pollable = _rt(ctx, "wasi:io/poll", "pollable")
    stream = _get(ctx, ResolveAddressStream)

    def resolve_addresses(h: Resource, name: str) -> Resource:
        network = ctx.get(h, Network)
        literal = parse_host(name)
        if not network.policy.ip_name_lookup:
            raise SocketError("permanent-resolver-failure")     # wasmtime's answer
        if literal is not None:
            return ctx.push(rt, ResolveAddressStream(None, literal))
        return ctx.push(rt, ResolveAddressStream(name))

    return {
        "resolve-addresses": _result(resolve_addresses),
        "[method]resolve-address-stream.resolve-next-address": _result(lambda h: stream(h).next()),
        "[method]resolve-address-stream.subscribe": lambda h: ctx.push(pollable, stream(h).subscribe()),
    }


#: unversioned interface name -> its implementation (merged into host.IMPLEMENTATIONS)
IMPLEMENTATIONS: Dict[str, Callable[[P2Ctx], Impl]] = {
    "wasi:sockets/network": network,
    "wasi:sockets/instance-network": instance_network,
    "wasi:sockets/tcp-create-socket": tcp_create_socket,
    "wasi:sockets/tcp": tcp,
    "wasi:sockets/udp-create-socket": udp_create_socket,
    "wasi:sockets/udp": udp,
    "wasi:sockets/ip-name-lookup": ip_name_lookup,
}

__all__ = ["IMPLEMENTATIONS", "Network", "TcpSocket", "UdpSocket", "ResolveAddressStream", "SocketError",
           "error_code", "socket_address", "ip_address"]
