"""Where a :class:`~trio_sockets.DatagramSocket`'s datagrams go and leave from: the
remote resolved for an output stream, the address families a socket reaches, the
largest datagram each family takes, and the control message that makes a datagram
leave from one address of a socket bound to every address (``IP_PKTINFO`` /
``IPV6_PKTINFO``), and whether routing lets it leave from there toward a remote."""

from __future__ import annotations

import errno
import ipaddress
import socket
import struct
from collections.abc import Collection
from typing import Final

from .._core.endpoint import EndpointPair
from .._core.errors import SocketErrorStatus, socket_error
from .._core.hostname import HostName
from .._core.linux import IP_PKTINFO
from .._core.sockaddr import ipv4_mapped, ipv4_of_mapped, is_multicast, unmapped
from .addresses import (
    Addresses,
    LocalSide,
    families_reached,
    of_reachable_family,
    target_addresses,
    with_link_scopes,
)
from .datagram_message import Ancillary
from .resolver import Resolver, ServiceTarget, SockAddr, all_targets_failed

__all__ = [
    "EVERY_ADDRESS",
    "MAX_IPV4_PAYLOAD",
    "MAX_IPV6_PAYLOAD",
    "families_of",
    "is_bound_to",
    "max_payload",
    "names_literals",
    "over_ipv4",
    "resolve_destination",
    "route_probe_target",
    "source_ancillary",
    "source_for",
    "source_reaches",
    "stream_name_key",
    "to_socket_address",
]

#: The unspecified addresses: a socket bound to one of them is bound to every address.
EVERY_ADDRESS: Final = frozenset({"::", "0.0.0.0"})

#: The largest UDP payload over IPv4 (65535 - 20 IP - 8 UDP) and over IPv6 (65535 - 8).
MAX_IPV4_PAYLOAD: Final = 65507
MAX_IPV6_PAYLOAD: Final = 65527


async def resolve_destination(
    resolver: Resolver,
    host: HostName,
    service: str,
    families: Collection[int],
    local: LocalSide,
    what: str,
) -> tuple[SockAddr, int]:
    """Resolve a remote to ``(sockaddr, family)``: its first usable address of one of
    *families*, those the sending socket (*local*) reaches. A link-local address from
    a name server is usable only where *local* has a scope for it to take.

    A DNS SRV service resolves to the first target, in RFC 2782 order, that has such an
    address: a datagram has no connection failure to fall through on. The targets are
    looked up together, so that the SRV query and the addresses take at most twice the
    resolver's lifetime.

    Raises:
        SocketStatusError: resolution failures, ``ADDRESS_FAMILY_NOT_SUPPORTED`` when no
            address is of a family the socket reaches, ``NO_ADDRESSES_FOUND`` when a
            name's addresses of those families are all link-local with no scope to take.

    Cancellation: nothing to undo.
    """

    def reachable(target: ServiceTarget, addresses: Addresses) -> Addresses:
        usable = of_reachable_family(addresses, families, f"{what} {target}", local.text)
        if target.host.ip_address is not None:  # the caller's literal: checked on opening
            return usable
        return with_link_scopes(usable, local.sockaddr, f"{what} {target}", named=target.host)

    targets = await resolver.resolve_targets(host, service, "udp")
    found = await target_addresses(resolver, targets, "udp", usable=reachable, first=True)
    last = found[-1]
    if not isinstance(last, OSError):
        family, sockaddr = last[0]
        return sockaddr, family
    if len(found) == 1:
        raise last
    failures = [(t, exc) for t, exc in zip(targets, found, strict=True) if isinstance(exc, OSError)]
    raise all_targets_failed(f"{what} {host.display_name}:{service}", failures)


def families_of(sock: socket.socket) -> frozenset[int]:
    """The address families *sock* can send to."""
    dual = sock.family == socket.AF_INET6 and not sock.getsockopt(
        socket.IPPROTO_IPV6, socket.IPV6_V6ONLY
    )
    return families_reached(sock.family, dual_stack=dual)


def source_for(sock: socket.socket, family: int, local: SockAddr, what: str) -> SockAddr | None:
    """The address of *sock*, bound to every address, to send from for an endpoint
    pair's local side *local* (of *family*): *local* on the socket's port; None when it
    cannot apply (the socket is bound to one address, *local* names another port, is
    of a family the socket does not reach, or is the unspecified address)."""
    bound = sock.getsockname()
    host = unmapped(str(local[0]))
    if (
        unmapped(str(bound[0])) not in EVERY_ADDRESS
        or local[1] not in (0, bound[1])
        or family not in families_of(sock)
        or host in EVERY_ADDRESS
    ):
        return None
    if is_multicast(host):
        raise socket_error(
            SocketErrorStatus.CANNOT_ASSIGN_REQUESTED_ADDRESS,
            f"{what}: {host} is a multicast group, which datagrams cannot leave from",
            errno=errno.EADDRNOTAVAIL,
        )
    if len(local) == 2:
        return (host, bound[1])
    return (host, bound[1], 0, local[3])


def is_bound_to(sock: socket.socket, local: SockAddr) -> bool:
    """Whether *sock* is bound where *local* asks (its port 0: any port)."""
    bound = sock.getsockname()
    same_host = unmapped(str(bound[0])) == unmapped(str(local[0]))
    return same_host and local[1] in (0, bound[1])


def to_socket_address(sock: socket.socket, sockaddr: SockAddr) -> SockAddr:
    """*sockaddr* as *sock* takes it: IPv4 as IPv4-mapped IPv6 on a dual-stack socket."""
    if sock.family == socket.AF_INET6 and len(sockaddr) == 2:
        return (ipv4_mapped(sockaddr[0]), sockaddr[1], 0, 0)
    return sockaddr


def over_ipv4(sockaddr: SockAddr | None, family: int) -> bool:
    """Whether datagrams to *sockaddr* go over IPv4 (IPv4-mapped counts as IPv4)."""
    if family == socket.AF_INET:
        return True
    return sockaddr is not None and ipv4_of_mapped(sockaddr[0]) is not None


def max_payload(sockaddr: SockAddr | None, family: int) -> int:
    """The largest datagram that can go to *sockaddr* (IPv4-mapped counts as IPv4)."""
    return MAX_IPV4_PAYLOAD if over_ipv4(sockaddr, family) else MAX_IPV6_PAYLOAD


def source_ancillary(source: SockAddr | None) -> Ancillary:
    """The control message of a ``sendmsg`` that makes the datagram leave from
    *source*, an address of this host, on a socket bound to every address: for an
    IPv4 address (also on a dual-stack socket, to an IPv4-mapped remote) an
    ``IP_PKTINFO`` whose ``ipi_spec_dst`` it is, for an IPv6 one an ``IPV6_PKTINFO``
    with its scope as the interface (a link-local source needs one). None: no message.
    """
    if source is None:
        return []
    if len(source) == 2:
        packed = socket.inet_pton(socket.AF_INET, str(source[0]))
        return [(socket.IPPROTO_IP, IP_PKTINFO, struct.pack("@i4s4s", 0, packed, bytes(4)))]
    address = socket.inet_pton(socket.AF_INET6, str(source[0]).partition("%")[0])
    scope = source[3] if len(source) == 4 else 0
    return [(socket.IPPROTO_IPV6, socket.IPV6_PKTINFO, address + struct.pack("@I", scope))]


def stream_name_key(host: object, service: object) -> tuple[object, ...] | None:
    """The key of a datagram output stream asked for by *host* and *service*, or by an
    endpoint pair (*service* None), in its socket's cache of streams by name
    (``StreamCache``); None: neither form."""
    if type(host) is HostName and type(service) is str:
        return (host, service)
    if type(host) is EndpointPair and service is None:
        return (
            host.remote_host_name,
            host.remote_service_name,
            host.local_host_name,
            host.local_service_name,
        )
    return None


def names_literals(key: tuple[object, ...]) -> bool:
    """Whether *key* names only IP literals and decimal ports (or, on an endpoint pair's
    local side, none): what resolves the same way every time."""
    remote, service, *local = key
    if not (_is_ip(remote) and _is_port(service)):
        return False
    if not local:
        return True
    host, port = local
    return (host is None or _is_ip(host)) and (port == "" or _is_port(port))


def _is_ip(host: object) -> bool:
    return isinstance(host, HostName) and host.ip_address is not None


def _is_port(service: object) -> bool:
    return isinstance(service, str) and service.isdigit() and service.isascii()


def route_probe_target(target: SockAddr, family: int) -> SockAddr | None:
    """*target* as a socket of *family* connects to it (an IPv4-mapped one as IPv4 for
    an IPv4 probe); None when that family cannot, or for a multicast group, which
    leaves by the socket's ``control.multicast_interface``, not by the probe's route."""
    if is_multicast(str(target[0])):
        return None
    if family == socket.AF_INET6:
        return target if len(target) == 4 else None
    host = unmapped(str(target[0]))
    return (host, target[1]) if ":" not in host else None


def source_reaches(probe: socket.socket, remote: SockAddr, source: SockAddr) -> bool:
    """Whether datagrams from *source*, to which *probe* is bound, may go to *remote*:
    False when routing refuses that source there, and not every source (a ``blackhole``
    route, whose writes fail each, as a stream without a source's do). ``connect`` of
    a UDP socket only routes. IPv6 routes a loopback source anywhere, but a datagram
    to a remote of a link's scope must leave from an address of that link."""
    try:
        probe.connect(remote)
    except OSError as exc:
        if exc.errno != errno.EINVAL:
            return True  # no route, a prohibit route...: for the writes to report
        try:
            with socket.socket(probe.family, socket.SOCK_DGRAM) as anyone:
                anyone.connect(remote)
        except OSError:
            return True  # every source is refused (or nothing tells): for the writes
        return False
    scope = remote[3] if len(remote) == 4 else 0
    loopback = ipaddress.ip_address(str(source[0]).partition("%")[0]).is_loopback
    return not (scope and loopback and scope != socket.if_nametoindex("lo"))
