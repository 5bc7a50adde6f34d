"""The network capability of WASI 0.2 sockets (``wasi:sockets``): which addresses and ports a
guest may bind, connect and send to, and whether it may resolve names.

Nothing is granted by default.  ``WasiConfig.allow_tcp`` / ``allow_udp`` grant a network (an
address or a CIDR block) and optionally ports, ``inherit_network`` grants every address (as
wasmtime's ``WasiCtxBuilder::inherit_network``), ``socket_addr_check`` is a Python callable
asked about every address no grant covers (wasmtime's ``socket_addr_check``), and
``allow_ip_name_lookup`` turns on ``wasi:sockets/ip-name-lookup``.  See docs/wasi.md.
"""

from __future__ import annotations

import enum
import ipaddress
from dataclasses import dataclass, field
from typing import Callable, FrozenSet, Iterable, List, Optional, Tuple, Union

from ..errors import WasmError

IPAddress = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]
IPNetwork = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]
#: what ``allow_tcp``/``allow_udp`` take as ports: one port, a ``range``, or several of these
PortSpec = Union[int, range, Iterable[Union[int, range]]]


class SocketAddrUse(enum.Enum):
    """What a guest wants to do with an address (wasmtime's ``SocketAddrUse``)."""

    TCP_BIND = "tcp-bind"
    TCP_CONNECT = "tcp-connect"
    UDP_BIND = "udp-bind"
    #: ``udp-socket.stream`` with a remote address
    UDP_CONNECT = "udp-connect"
    #: the destination of a datagram sent without a remote address fixed by ``stream``
    UDP_OUTGOING_DATAGRAM = "udp-outgoing-datagram"


TCP_USES = frozenset({SocketAddrUse.TCP_BIND, SocketAddrUse.TCP_CONNECT})
UDP_USES = frozenset({SocketAddrUse.UDP_BIND, SocketAddrUse.UDP_CONNECT, SocketAddrUse.UDP_OUTGOING_DATAGRAM})


@dataclass(frozen=True)
class NetworkGrant:
    """One entry of the allow-list: the addresses of ``network`` on ``ports`` (inclusive
    ``(low, high)`` ranges; None: every port, 0 included) for the ``uses`` listed."""

    network: IPNetwork
    ports: Optional[Tuple[Tuple[int, int], ...]]
    uses: FrozenSet[SocketAddrUse]

    def allows(self, address: IPAddress, port: int, use: SocketAddrUse) -> bool:
        # ``in`` is false across IP versions (an IPv4 address is in no IPv6 network)
        if use not in self.uses or address not in self.network:
            return False
        return self.ports is None or any(lo <= port <= hi for lo, hi in self.ports)


@dataclass
class NetworkPolicy:
    """A WasiConfig's network capability: the grants, the Python check and name lookup."""

    grants: List[NetworkGrant] = field(default_factory=list)
    check: Optional[Callable[[str, int, SocketAddrUse], bool]] = None
    ip_name_lookup: bool = False

    def allows(self, address: IPAddress, port: int, use: SocketAddrUse) -> bool:
        """Whether the guest may use ``address``:``port`` for ``use``: a grant covers it, or
        the check (asked only when none does) returns true."""
        if any(g.allows(address, port, use) for g in self.grants):
            return True
        return self.check is not None and bool(self.check(str(address), port, use))

    def grant(self, network: Union[str, IPAddress, IPNetwork], ports: Optional[PortSpec],
              uses: FrozenSet[SocketAddrUse]) -> None:
        self.grants.append(NetworkGrant(parse_network(network), parse_ports(ports), uses))


def parse_network(value: Union[str, IPAddress, IPNetwork]) -> IPNetwork:
    """``"127.0.0.1"``, ``"::1"``, ``"10.0.0.0/8"`` or an :mod:`ipaddress` object as a network
    (an address alone is a network of that one address).  Host names are not accepted: a
    grant names addresses, so what it grants does not change with the resolver."""
    if isinstance(value, (ipaddress.IPv4Network, ipaddress.IPv6Network)):
        return value
    if isinstance(value, (ipaddress.IPv4Address, ipaddress.IPv6Address)):
        return ipaddress.ip_network(value)
    if not isinstance(value, str):
        raise TypeError(f"a network is an IP address or CIDR string, not {type(value).__name__}")
    try:
        return ipaddress.ip_network(value.strip("[]"), strict=True)
    except ValueError as exc:
        raise WasmError(f"invalid network {value!r} (an IP address or CIDR block such as "
                        f"'127.0.0.1', '::1' or '10.0.0.0/8'): {exc}") from None


def parse_ports(ports: Optional[PortSpec]) -> Optional[Tuple[Tuple[int, int], ...]]:
    """``ports`` as inclusive ranges; None stays None (every port)."""
    if ports is None:
        return None
    items: Iterable[Union[int, range]] = [ports] if isinstance(ports, (int, range)) else ports
    out: List[Tuple[int, int]] = []
    for p in items:
        if isinstance(p, bool) or not isinstance(p, (int, range)):
            raise TypeError(f"a port is an int or a range, not {type(p).__name__}")
        if isinstance(p, range):
            if p.step != 1 or not p:
                raise WasmError(f"invalid port range {p!r}: a non-empty range with step 1")
            lo, hi = p.start, p.stop - 1
        else:
            lo = hi = p
        if not 0 <= lo <= hi <= 0xFFFF:
            raise WasmError(f"invalid port {p!r}: ports are 0 to 65535")
        out.append((lo, hi))
    return tuple(out)


__all__ = ["SocketAddrUse", "NetworkGrant", "NetworkPolicy", "TCP_USES", "UDP_USES", "parse_network",
           "parse_ports"]
