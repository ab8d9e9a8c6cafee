"""What a failed DNS lookup (dnspython) is, as the socket error a lookup raises."""

from __future__ import annotations

import dns.exception
import dns.resolver

from .._core.errors import (
    SocketError,
    SocketErrorStatus,
    SocketStatusError,
    out_of_resources,
    socket_error,
)

__all__ = ["dns_error", "no_configuration"]

_S = SocketErrorStatus


def dns_error(exc: dns.exception.DNSException, what: str, lifetime: float) -> SocketStatusError:
    """The exception for a failed DNS lookup, classified as ``SocketError.get_status``
    classifies *exc* (a name server that never answered: ``CONNECTION_TIMED_OUT``), or
    ``TOO_MANY_OPEN_FILES`` when a server could not be asked for want of a socket
    (dnspython counts that as the server failing)."""
    if isinstance(exc, dns.resolver.NoNameservers):
        for server, _tcp, _port, error, _answer in exc.kwargs.get("errors", ()):
            if isinstance(error, OSError):
                shortage = out_of_resources(error, f"{what}: ask the name server {server}")
                if shortage is not None:
                    return shortage
    status = SocketError.get_status(exc)
    if status is _S.UNKNOWN:
        # NoResolverConfiguration, YXDOMAIN, a malformed answer...: no usable answer.
        status = _S.NON_AUTHORITATIVE_HOST_NOT_FOUND
    if isinstance(exc, dns.exception.Timeout):
        detail = f"no DNS answer within {lifetime:g} s"
    elif isinstance(exc, dns.resolver.NXDOMAIN):
        detail = "no such DNS name"
    elif isinstance(exc, dns.resolver.NoAnswer):
        detail = "no record of the requested type"
    else:
        detail = str(exc) or type(exc).__name__
    return socket_error(status, f"{what}: {detail}")


def no_configuration(exc: dns.exception.DNSException, what: str) -> SocketStatusError:
    """The exception for the system's DNS configuration not read: ``TOO_MANY_OPEN_FILES``
    when resolv.conf could not be opened for want of a descriptor (dnspython says there
    is no configuration), else ``NON_AUTHORITATIVE_HOST_NOT_FOUND``: no name server."""
    cause = exc.__cause__ or exc.__context__
    if isinstance(cause, OSError):
        shortage = out_of_resources(cause, f"{what}: read /etc/resolv.conf")
        if shortage is not None:
            return shortage
    return socket_error(
        _S.NON_AUTHORITATIVE_HOST_NOT_FOUND, f"{what}: no DNS name server is configured ({exc})"
    )
