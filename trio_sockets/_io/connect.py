"""Connecting a TCP socket: happy eyeballs over the resolved addresses (RFC 8305).

Attempts start in the resolver's order, each 250 ms after the previous one unless that
one failed sooner; the first to connect wins and the others are cancelled. The structure
follows trio's ``open_tcp_stream`` (a chain of attempts in one nursery), but builds the
socket itself so that the ``control`` options apply *before* connect and a local
endpoint can be bound first -- neither is possible through ``open_tcp_stream``.
"""

from __future__ import annotations

import math
import socket
from collections.abc import Callable, Sequence

import trio

from .._core.errors import SocketError, SocketErrorStatus, socket_error
from . import sockio as _sockio
from .resolver import SockAddr

__all__ = ["HAPPY_EYEBALLS_DELAY", "connect_first"]

#: Seconds between starting one connection attempt and the next (RFC 8305 default).
HAPPY_EYEBALLS_DELAY = 0.25
#: How many failed addresses the message of a failed connect names.
MAX_NAMED = 8


def format_sockaddr(sockaddr: SockAddr) -> str:
    host, port = sockaddr[0], sockaddr[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


async def connect_first(
    addresses: Sequence[tuple[socket.AddressFamily, SockAddr]],
    make_socket: Callable[[socket.AddressFamily], socket.socket],
    *,
    what: str,
    serialize: bool = False,
) -> tuple[socket.socket, SockAddr]:
    """Connect to the first address that answers; return the socket and that address.

    The address is what the caller reports as the remote end: asking the kernel
    (``getpeername``) fails once the peer has reset the connection, which it may do
    before the caller gets to look.

    *make_socket* creates a configured (and possibly bound) non-blocking socket of the
    given family. With *serialize*, attempts never overlap.

    Raises:
        SocketStatusError: every attempt failed; the message names each address with its
            error, the status is the one they share (or the first one's).

    Cancellation: no socket is left open.
    """
    if not addresses:
        raise socket_error(SocketErrorStatus.NO_ADDRESSES_FOUND, f"{what}: no address to try")
    winner: tuple[socket.socket, SockAddr] | None = None
    failures: list[tuple[SockAddr, OSError]] = []
    delay = math.inf if serialize else HAPPY_EYEBALLS_DELAY

    async def attempt(family: socket.AddressFamily, sockaddr: SockAddr, failed: trio.Event) -> None:
        nonlocal winner
        try:
            sock = make_socket(family)
        except OSError as exc:
            failures.append((sockaddr, exc))
            failed.set()
            return
        try:
            await _sockio.connect(sock, sockaddr)
        except OSError as exc:
            sock.close()
            failures.append((sockaddr, exc))
            failed.set()
            return
        except BaseException:
            sock.close()
            raise
        if winner is None:
            winner = (sock, sockaddr)
            nursery.cancel_scope.cancel()
        else:  # pragma: no cover - two attempts finishing in one scheduler pass
            sock.close()

    if len(addresses) == 1:
        # Nothing to race: connect in this task, without a nursery, a task and an event.
        family, sockaddr = addresses[0]
        try:
            sock = make_socket(family)
        except OSError as exc:
            failures.append((sockaddr, exc))
        else:
            try:
                await _sockio.connect(sock, sockaddr)
            except OSError as exc:
                sock.close()
                failures.append((sockaddr, exc))
            except BaseException:
                sock.close()
                raise
            else:
                return sock, sockaddr
    else:
        try:
            async with trio.open_nursery() as nursery:
                for family, sockaddr in addresses:
                    failed = trio.Event()
                    nursery.start_soon(attempt, family, sockaddr, failed)
                    with trio.move_on_after(delay):
                        await failed.wait()
        except BaseException:
            if winner is not None:
                winner[0].close()
            raise
        if winner is not None:
            return winner
    known = [
        status
        for status in (SocketError.get_status(exc) for _, exc in failures)
        if status != SocketErrorStatus.UNKNOWN
    ]
    status = known[0] if known else SocketErrorStatus.UNKNOWN
    # A hostile DNS answer can hold thousands of addresses: name the first few (the
    # ExceptionGroup in __cause__ keeps every error).
    detail = "; ".join(f"{format_sockaddr(addr)}: {exc}" for addr, exc in failures[:MAX_NAMED])
    if len(failures) > MAX_NAMED:
        detail += f"; and {len(failures) - MAX_NAMED} more addresses"
    first_errno = failures[0][1].errno
    error = socket_error(status, f"{what} failed: {detail}", errno=first_errno)
    raise error from (
        failures[0][1]
        if len(failures) == 1
        else ExceptionGroup(f"{what}: every attempt failed", [exc for _, exc in failures])
    )
