"""Opening a TCP connection to a host and service: resolution, DNS SRV, happy eyeballs.

What ``StreamSocket.connect`` does below the WinRT surface: resolve the service
(a port, a services-database name or a DNS SRV service) and the optional local
endpoint, then try each target's addresses with happy eyeballs
(:func:`~trio_sockets._io.connect.connect_first`). The caller bounds it in time and
holds the cancel scope that ``cancel_io()`` ends.
"""

from __future__ import annotations

import socket
from collections.abc import Callable

from .._core.hostname import HostName
from .addresses import (
    Addresses,
    of_reachable_family,
    require_local_scope,
    target_addresses,
    with_link_scopes,
)
from .connect import Tried, connect_first, format_sockaddr
from .resolver import Resolver, ServiceTarget, SockAddr, all_targets_failed

__all__ = ["open_tcp"]

_IPV6_WILDCARD = HostName("::")

#: Sets a new socket's options before it binds or connects.
Prepare = Callable[[socket.socket, socket.AddressFamily], None]


async def _local_endpoints(
    resolver: Resolver, local_host: HostName | None, local_service: str
) -> dict[socket.AddressFamily, SockAddr]:
    """Where to bind before connecting, per family; empty: let the system choose.

    The IPv6 wildcard ``::`` is every address of both families, as it is to a datagram
    socket and a listener (WinRT's dual-mode wildcard): both families' wildcards are
    bound, as for a local port without a local host.
    """
    if local_host is None and not local_service:
        return {}
    local_port = await resolver.resolve_port(local_service, "tcp", local=True)
    if local_host is None or local_host == _IPV6_WILDCARD:
        return {
            socket.AF_INET: ("0.0.0.0", local_port),
            socket.AF_INET6: ("::", local_port, 0, 0),
        }
    local: dict[socket.AddressFamily, SockAddr] = {}
    for family, sockaddr in await resolver.resolve_addresses(
        local_host, local_port, "tcp", passive=True
    ):
        local.setdefault(family, sockaddr)
    return local


async def open_tcp(
    resolver: Resolver,
    host: HostName,
    service: str,
    local_host: HostName | None,
    local_service: str,
    *,
    prepare: Prepare,
    serialize: bool,
    what: str,
    tried: Tried | None = None,
) -> tuple[socket.socket, SockAddr]:
    """A connected non-blocking socket to *host* and *service*, and the address reached.

    DNS SRV targets are tried in RFC 2782 order, each only when the one before failed;
    their addresses are looked up together first, so that the lookups take no longer
    than one (the resolver's lifetime) however many targets there are. *serialize*
    tries one address at a time instead of racing them. *tried* records the attempts
    (:class:`~trio_sockets._io.connect.Tried`).

    Raises:
        ValueError: a link-local IPv6 local address without a ``%scope``, or a remote
            literal not usable by the link-local rules
            (:func:`~trio_sockets._io.addresses.with_link_scopes`); the addresses of a
            name fail those rules with ``NO_ADDRESSES_FOUND`` instead.
        SocketStatusError: resolution or every connection attempt failed (the message
            starts with *what*).

    Cancellation: no socket is left open.
    """
    targets = await resolver.resolve_targets(host, service, "tcp")
    local = await _local_endpoints(resolver, local_host, local_service)
    for sockaddr in local.values():
        require_local_scope(sockaddr, f"{what}: bind to the local {format_sockaddr(sockaddr)}")

    # A local port without a local host binds both families' wildcards to it: the IPv6
    # attempt's socket is then IPv6-only, or it would hold the IPv4 side of the port too
    # and the IPv4 attempt racing it could not bind (happy eyeballs could not fall back).
    both = len(local) == 2
    # Attempts racing to addresses of one family bind the same fixed port: SO_REUSEADDR
    # on each lets them (Linux lets sockets that all set it share a port while none
    # listens; connect still refuses a second connection of one 4-tuple). See
    # design.rst, "A fixed local port".
    shared = any(sockaddr[1] for sockaddr in local.values())

    def make_socket(family: socket.AddressFamily) -> socket.socket:
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setblocking(False)
            prepare(sock, family)
            if family in local:
                if both and family == socket.AF_INET6:
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                if shared:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    sock.bind(local[family])
                except OSError as exc:  # named by the local side (the attempt names the remote)
                    where = format_sockaddr(local[family])
                    raise OSError(
                        exc.errno, f"bind to the local {where}: {exc.strerror or exc}"
                    ) from exc
        except BaseException:
            sock.close()
            raise
        return sock

    async def connect_to(
        addresses: Addresses, target: ServiceTarget, what: str
    ) -> tuple[socket.socket, SockAddr]:
        if local:
            addresses = of_reachable_family(addresses, local, what, f"local host {local_host}")
        named = target.host if target.host.ip_address is None else None
        addresses = with_link_scopes(addresses, local.get(socket.AF_INET6), what, named=named)
        return await connect_first(
            addresses, make_socket, what=what, serialize=serialize, tried=tried
        )

    if len(targets) == 1:
        target = targets[0]
        return await connect_to(
            await resolver.resolve_addresses(target.host, target.port, "tcp"), target, what
        )
    failures: list[tuple[ServiceTarget, OSError]] = []
    for target, found in zip(
        targets, await target_addresses(resolver, targets, "tcp"), strict=True
    ):
        if isinstance(found, OSError):
            failures.append((target, found))
            continue
        try:
            return await connect_to(found, target, f"{what} (SRV target {target})")
        except OSError as exc:
            failures.append((target, exc))
    raise all_targets_failed(what, failures)
