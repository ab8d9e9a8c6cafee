"""Host and service resolution for the sockets.

A service name resolves, as in WinRT, to a decimal port first, then through the
services database of the socket's protocol (``/etc/services`` plays Windows'
``drivers\\etc\\services``). Host names go through trio's ``getaddrinfo``, which runs the
system resolver in a worker thread; IP literals never touch the resolver.
"""

from __future__ import annotations

import socket
from typing import Literal

import trio

from ._errors import SocketErrorStatus, socket_error, translate_os_error
from ._hostname import HostName, parse_service_name

__all__ = ["Protocol", "Resolver", "SockAddr"]

Protocol = Literal["tcp", "udp"]
SockAddr = tuple[str, int] | tuple[str, int, int, int]
_KIND = {"tcp": socket.SOCK_STREAM, "udp": socket.SOCK_DGRAM}


class Resolver:
    """Resolves host names and service names for the sockets that use it.

    ``Resolver()`` uses the system's configuration: the services database and the
    system resolver (``/etc/hosts``, ``/etc/resolv.conf``). Every socket class takes
    ``resolver=``; ``None`` means a ``Resolver()``.
    """

    def __repr__(self) -> str:
        return "Resolver()"

    async def resolve_port(self, service: str, protocol: Protocol, *, local: bool) -> int:
        """The port a service name stands for: a decimal port or a services-database name.

        Raises:
            ValueError / TypeError: *service* is not a valid service string.
            SocketStatusError: ``CLASS_TYPE_NOT_FOUND`` when the name is not known.
        """
        parsed = parse_service_name(
            service, "local_service_name" if local else "remote_service_name", local=local
        )
        if isinstance(parsed, int):
            await trio.lowlevel.checkpoint()
            return parsed
        try:
            return await trio.to_thread.run_sync(socket.getservbyname, parsed, protocol)
        except OSError as exc:
            raise socket_error(
                SocketErrorStatus.CLASS_TYPE_NOT_FOUND,
                f"service {service!r} is neither a port number nor a {protocol} service in "
                "the services database",
            ) from exc

    async def resolve_addresses(
        self, host: HostName, port: int, protocol: Protocol, *, passive: bool = False
    ) -> list[tuple[socket.AddressFamily, SockAddr]]:
        """Socket addresses for *host*, in the order the system resolver prefers.

        Raises:
            SocketStatusError: ``HOST_NOT_FOUND``, ``NO_ADDRESSES_FOUND``, … from the
                resolver's answer.
        """
        address = host.ip_address
        if address is not None:
            await trio.lowlevel.checkpoint()
            if address.version == 4:
                return [(socket.AF_INET, (str(address), port))]
            scope = _scope_id(host)
            return [(socket.AF_INET6, (host.canonical_name.split("%")[0], port, 0, scope))]
        try:
            infos = await trio.socket.getaddrinfo(
                host.canonical_name,
                port,
                type=_KIND[protocol],
                flags=socket.AI_PASSIVE if passive else 0,
            )
        except OSError as exc:
            raise translate_os_error(exc, f"resolve {host.display_name!r}") from exc
        result: list[tuple[socket.AddressFamily, SockAddr]] = []
        for family, _kind, _proto, _canon, sockaddr in infos:
            if family in (socket.AF_INET, socket.AF_INET6):
                entry = (family, tuple(sockaddr))
                if entry not in result:
                    result.append(entry)  # type: ignore[arg-type]
        if not result:
            raise socket_error(
                SocketErrorStatus.NO_ADDRESSES_FOUND,
                f"resolve {host.display_name!r}: no IPv4 or IPv6 address",
            )
        return result


def _scope_id(host: HostName) -> int:
    if "%" not in host.canonical_name:
        return 0
    scope = host.canonical_name.split("%", 1)[1]
    if scope.isdigit():
        return int(scope)
    try:
        return socket.if_nametoindex(scope)
    except OSError as exc:
        raise socket_error(
            SocketErrorStatus.CANNOT_ASSIGN_REQUESTED_ADDRESS,
            f"{host.raw_name!r}: no network interface named {scope!r}",
        ) from exc
