"""Where a :class:`~trio_sockets.DatagramSocket`'s datagrams go and leave from: the
remote resolved for an output stream, the address families a socket reaches, the
largest datagram each family takes, and the control message that makes a datagram
leave from one address of a socket bound to every address (``IP_PKTINFO`` /
``IPV6_PKTINFO``)."""

from __future__ import annotations

import socket
import struct
from collections.abc import Collection
from typing import Final

from .._core.hostname import HostName
from .._core.linux import IP_PKTINFO
from .._core.sockaddr import ipv4_mapped, ipv4_of_mapped
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
    "MAX_IPV4_PAYLOAD",
    "MAX_IPV6_PAYLOAD",
    "families_of",
    "max_payload",
    "over_ipv4",
    "resolve_destination",
    "source_ancillary",
    "to_socket_address",
]

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
