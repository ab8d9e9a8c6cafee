"""Socket addresses as WinRT names: the HostName of an address, and endpoint pairs."""

from __future__ import annotations

import functools
import ipaddress
import socket

from ._enums import HostNameSortOptions
from ._hostname import EndpointPair, HostName, coerce_host_name
from ._resolver import Protocol, Resolver, ServiceTarget, SockAddr, all_targets_failed

__all__ = ["endpoint_pairs", "host_of"]


def host_of(sockaddr: SockAddr) -> HostName:
    """The :class:`HostName` of a socket address; IPv4-mapped IPv6 reads as IPv4."""
    return _host_of_address(sockaddr[0])


# Every received datagram names its sender: parsing the same few addresses over and over
# was a measurable share of a UDP echo. HostName is immutable, so sharing is safe.
@functools.lru_cache(maxsize=1024)
def _host_of_address(text: str) -> HostName:
    address = ipaddress.ip_address(text.split("%")[0])
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return HostName(str(address.ipv4_mapped))
    return HostName(text)


async def endpoint_pairs(
    remote_host_name: HostName | str,
    remote_service_name: str,
    sort_options: HostNameSortOptions,
    resolver: Resolver | None,
    protocol: Protocol,
) -> list[EndpointPair]:
    """``get_endpoint_pairs`` for both socket classes."""
    host = coerce_host_name(remote_host_name, "remote_host_name")
    if not isinstance(sort_options, HostNameSortOptions):
        raise TypeError(f"sort_options must be a HostNameSortOptions, not {sort_options!r}")
    resolver = resolver if resolver is not None else Resolver()
    targets = await resolver.resolve_targets(host, remote_service_name, protocol)
    pairs = []
    failures: list[tuple[ServiceTarget, OSError]] = []
    for target in targets:
        try:
            addresses = await resolver.resolve_addresses(target.host, target.port, protocol)
        except OSError as exc:
            # An SRV target that does not resolve is left out, as a connect would skip it.
            failures.append((target, exc))
            continue
        for family, sockaddr in addresses:
            probe = socket.socket(family, socket.SOCK_DGRAM)
            try:
                probe.connect(sockaddr)  # a UDP connect picks the route and sends nothing
                local = host_of(probe.getsockname())
            except OSError:
                local = None
            finally:
                probe.close()
            pairs.append(EndpointPair(local, "", host_of(sockaddr), str(target.port)))
    if not pairs:
        if len(failures) == 1:
            raise failures[0][1]
        raise all_targets_failed(f"resolve {host.display_name}:{remote_service_name}", failures)
    return pairs
