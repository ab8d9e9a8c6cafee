"""Where a ``StreamSocketListener`` listens: one socket per local address, on one port.

A host with several addresses (``"localhost"``: ``::1`` and ``127.0.0.1``) is listened
on at each of them, on one port. With a fixed port every address binds it. With port 0
("any free port") the first address binds port 0 and every other one the port the
kernel gave the first; when that port is in use at a later address (another program
listens on ``127.0.0.1`` alone), the bind starts again with a new port, up to
:data:`PORT_ATTEMPTS` times. The first socket of each failed attempt stays bound (not
listening) until the bind ends, so that the kernel cannot hand out its port again:
Linux's ``bind`` to port 0 prefers odd ports, for every family, so the ports it gives
one address are the very ones other servers hold on another.

Every socket is bound before any listens, so that a failed attempt has taken no
connection.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Sequence
from typing import Final

from .._io.addresses import has_ipv6, require_local_scope
from .._io.connect import format_sockaddr
from .._io.resolver import SockAddr
from .._io.translate import translating
from .stream_control import StreamSocketListenerControl, apply_options

__all__ = ["PORT_ATTEMPTS", "bound_address", "listening_sockets", "wildcard_addresses"]

#: How many ports chosen for "0" a listener on several addresses tries before it gives up.
PORT_ATTEMPTS: Final = 16
# The kernel clamps the backlog to net.core.somaxconn.
_BACKLOG: Final = 65535

Targets = Sequence[tuple[socket.AddressFamily, SockAddr]]


def wildcard_addresses(port: int) -> list[tuple[socket.AddressFamily, SockAddr]]:
    """Every local address: one dual-stack IPv6 socket, or IPv4 where IPv6 is missing."""
    if has_ipv6():
        return [(socket.AF_INET6, ("::", port, 0, 0))]
    return [(socket.AF_INET, ("0.0.0.0", port))]


def bound_address(sock: socket.socket) -> SockAddr:
    """The address *sock* is bound to."""
    address: SockAddr = sock.getsockname()
    return address


def listening_sockets(
    targets: Targets, port: int, control: StreamSocketListenerControl
) -> list[socket.socket]:
    """A socket listening at each of *targets*, all on *port* (0: one the kernel picks).

    Raises:
        ValueError: a link-local IPv6 address without a scope (before any socket is
            made).
        SocketStatusError: the failure to open, bind or listen, naming the address;
            ``ADDRESS_ALREADY_IN_USE`` for port 0 when each of :data:`PORT_ATTEMPTS`
            ports the system chose was in use at a later address (the message says
            the port was chosen for "0", and how many attempts were made). Nothing
            is left open.
    """
    for _, sockaddr in targets:
        require_local_scope(sockaddr, f"bind a listener to {format_sockaddr(sockaddr)}")
    if port == 0 and len(targets) > 1:
        socks = _bind_any_port(targets, control)
    else:
        socks = []
        try:
            _bind_each(targets, port, control, socks, 1)
        except BaseException:
            _close_all(socks)
            raise
    try:
        for sock in socks:
            with translating(f"listen on {format_sockaddr(bound_address(sock))}"):
                sock.listen(_BACKLOG)
    except BaseException:
        _close_all(socks)
        raise
    return socks


def _bind_any_port(targets: Targets, control: StreamSocketListenerControl) -> list[socket.socket]:
    """Sockets bound to each of *targets* on one port the kernel picks for the first."""
    held: list[socket.socket] = []  # the first socket of each failed attempt
    try:
        for attempt in range(1, PORT_ATTEMPTS + 1):
            socks: list[socket.socket] = []
            try:
                _bind_each(targets, 0, control, socks, attempt)
            except BaseException as exc:
                # Only the port chosen for the first address being in use at a later
                # one calls for another port; the rest is the caller's to hear.
                retry = (
                    attempt < PORT_ATTEMPTS
                    and len(socks) > 1
                    and isinstance(exc, OSError)
                    and exc.errno == errno.EADDRINUSE
                )
                if retry:
                    held.append(socks.pop(0))
                _close_all(socks)
                if not retry:
                    raise
            else:
                return socks
    finally:
        _close_all(held)
    raise AssertionError("the last attempt returns or raises")  # pragma: no cover


def _bind_each(
    targets: Targets,
    port: int,
    control: StreamSocketListenerControl,
    socks: list[socket.socket],
    attempt: int,
) -> None:
    """Bind a new socket at each of *targets*, adding it to *socks* before it binds (the
    caller closes them); with *port* 0 the later ones take the first one's port."""
    for family, requested in targets:
        sockaddr = requested
        note: list[str] = []
        if socks and port == 0:
            first = bound_address(socks[0])
            sockaddr = _with_port(requested, first[1])
            note.append(f'the port the system chose for "0" at {first[0]}')
        if attempt > 1:
            note.append(f"{attempt} attempts, each with a new port")
        where = format_sockaddr(sockaddr)
        with translating(f"open a socket to listen on {where}", opening=True):
            sock = socket.socket(family, socket.SOCK_STREAM)
        socks.append(sock)
        sock.setblocking(False)
        # SO_REUSEADDR lets a restarted server bind past TIME_WAIT; on Linux it never
        # lets two listeners share a TCP port.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            dual = sockaddr[0] == "::" and len(targets) == 1
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, not dual)
        apply_options(control, sock, family)
        why = f" ({'; '.join(note)})" if note else ""
        with translating(f"bind a listener to {where}{why}"):
            sock.bind(sockaddr)


def _with_port(sockaddr: SockAddr, port: int) -> SockAddr:
    if len(sockaddr) == 2:
        return (sockaddr[0], port)
    return (sockaddr[0], port, sockaddr[2], sockaddr[3])


def _close_all(socks: list[socket.socket]) -> None:
    for sock in socks:
        sock.close()
