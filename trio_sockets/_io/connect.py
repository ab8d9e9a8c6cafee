"""Connecting a TCP socket: happy eyeballs over the resolved addresses (RFC 8305).

Attempts start in the resolver's order, each 250 ms after the previous one unless that
one failed sooner; the first to connect wins and the others are cancelled. The structure
follows trio's ``open_tcp_stream`` (a chain of attempts in one nursery), but builds the
socket itself so that the ``control`` options apply *before* connect and a local
endpoint can be bound first -- neither is possible through ``open_tcp_stream``.
"""

from __future__ import annotations

import contextlib
import math
import socket
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, Protocol, TypeVar, cast

import trio

from .._core.errors import SocketError, SocketErrorStatus, SocketStatusError, socket_error
from .._core.scheduling import helper_nursery
from .._core.sockaddr import needs_scope, unmapped, with_scope
from . import sockio as _sockio
from .resolver import SockAddr

__all__ = ["HAPPY_EYEBALLS_DELAY", "Tried", "connect_first"]

#: Seconds between starting one connection attempt and the next (RFC 8305 default).
HAPPY_EYEBALLS_DELAY = 0.25
#: How many failed addresses the message of a failed connect names.
MAX_NAMED = 8


def format_sockaddr(sockaddr: SockAddr) -> str:
    """``host:port`` (``[host]:port`` for IPv6) for messages; an IPv4-mapped address as
    the IPv4 address it is, and a link-local one with its scope, as ``information``
    shows them."""
    host, port = unmapped(sockaddr[0]), sockaddr[1]
    if len(sockaddr) == 4 and needs_scope(host):
        host = with_scope(host, sockaddr[3])
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class Tried:
    """The addresses connects started, each with its error once it failed: what the
    message of a timeout that ends them names. *named*: the host is a name to look up
    (not an address)."""

    def __init__(self, *, named: bool) -> None:
        self.attempts: dict[SockAddr, OSError | None] = {}
        self._named = named

    def describe(self) -> str:
        """``tried [::1]:80 (Connection refused), 127.0.0.1:80 (no answer)``, the first
        few; or that no address was tried (the name was still being looked up)."""
        if not self.attempts:
            if self._named:
                return "no address was tried: looking the name up took the whole time"
            return "the attempt had not started"
        items = list(self.attempts.items())
        shown = ", ".join(
            f"{format_sockaddr(address)} ({_reason(exc)})" for address, exc in items[:MAX_NAMED]
        )
        more = f", and {len(items) - MAX_NAMED} more addresses" if len(items) > MAX_NAMED else ""
        return f"tried {shown}{more}"


def _reason(exc: OSError | None) -> str:
    if exc is None:
        return "no answer"
    return exc.message if isinstance(exc, SocketStatusError) else exc.strerror or str(exc)


class Closable(Protocol):
    """What :func:`connect_first` needs of a socket besides connecting it."""

    def close(self) -> None: ...


_S = TypeVar("_S", bound=Closable)


async def connect_first(
    addresses: Sequence[tuple[socket.AddressFamily, SockAddr]],
    make_socket: Callable[[socket.AddressFamily], _S],
    *,
    what: str,
    serialize: bool = False,
    connect: Callable[[_S, SockAddr], Awaitable[None]] | None = None,
    tried: Tried | None = None,
) -> tuple[_S, SockAddr]:
    """Connect to the first address that answers; return the socket and that address.

    The address is what the caller reports as the remote end: asking the kernel
    (``getpeername``) fails once the peer has reset the connection, which it may do
    before the caller gets to look.

    *make_socket* creates a configured (and possibly bound) non-blocking socket of the
    given family; *connect* connects it (None: the system call, for the
    ``socket.socket`` that *make_socket* then returns). Together they are the socket
    factory, which tests replace with fakes. With *serialize*, attempts never overlap.
    *tried*, if given, records each address started and the error of each that failed.

    Raises:
        SocketStatusError: every attempt failed; the message names each address with its
            error (in the order they failed), the status is the one they share, else the
            first classified one.

    Cancellation: no socket is left open.
    """
    if not addresses:
        raise socket_error(SocketErrorStatus.NO_ADDRESSES_FOUND, f"{what}: no address to try")
    # The default suits only real sockets, which is what make_socket makes without a
    # *connect* of its own; a TypeVar default cannot say so.
    attempt = _Attempts(
        make_socket,
        connect or cast("Callable[[_S, SockAddr], Awaitable[None]]", _sockio.connect),
        Tried(named=False) if tried is None else tried,
    )
    if len(addresses) == 1:
        # Nothing to race: connect in this task, without a nursery, a task and an event.
        family, sockaddr = addresses[0]
        with contextlib.suppress(OSError):
            return await attempt(family, sockaddr), sockaddr
        raise attempt.error(what)
    return await attempt.race(addresses, math.inf if serialize else HAPPY_EYEBALLS_DELAY, what)


class _Attempts(Generic[_S]):
    """The attempts of one :func:`connect_first`, and the errors of those that failed."""

    def __init__(
        self,
        make_socket: Callable[[socket.AddressFamily], _S],
        connect: Callable[[_S, SockAddr], Awaitable[None]],
        tried: Tried,
    ) -> None:
        self._make_socket = make_socket
        self._connect = connect
        self._tried = tried.attempts
        self.failures: list[tuple[SockAddr, OSError]] = []

    async def __call__(self, family: socket.AddressFamily, sockaddr: SockAddr) -> _S:
        """One connected socket, or the ``OSError`` of the attempt (recorded, and the
        socket closed).

        Cancellation: the socket is closed.
        """
        self._tried[sockaddr] = None
        try:
            sock = self._make_socket(family)
        except OSError as exc:
            self.failures.append((sockaddr, exc))
            self._tried[sockaddr] = exc
            raise
        try:
            await self._connect(sock, sockaddr)
        except OSError as exc:
            sock.close()
            self.failures.append((sockaddr, exc))
            self._tried[sockaddr] = exc
            raise
        except BaseException:
            sock.close()
            raise
        return sock

    async def race(
        self, addresses: Sequence[tuple[socket.AddressFamily, SockAddr]], delay: float, what: str
    ) -> tuple[_S, SockAddr]:
        """Happy eyeballs: start the attempts *delay* seconds apart, or at once when the
        previous one failed; the first to connect wins and cancels the others."""
        winner: tuple[_S, SockAddr] | None = None

        @trio.lowlevel.enable_ki_protection
        async def one(family: socket.AddressFamily, sockaddr: SockAddr, failed: trio.Event) -> None:
            nonlocal winner
            try:
                sock = await self(family, sockaddr)
            except OSError:
                failed.set()
                return
            if winner is None:
                winner = (sock, sockaddr)
                nursery.cancel_scope.cancel()
            else:  # pragma: no cover - two attempts finishing in one scheduler pass
                sock.close()

        try:
            async with helper_nursery() as nursery:
                for family, sockaddr in addresses:
                    failed = trio.Event()
                    nursery.start_soon(one, family, sockaddr, failed)
                    with trio.move_on_after(delay):
                        await failed.wait()
        except BaseException:
            if winner is not None:
                winner[0].close()
            raise
        if winner is not None:
            return winner
        raise self.error(what)

    def error(self, what: str) -> SocketStatusError:
        """The exception once every attempt failed: it names the first addresses with
        their errors; its status is that of their group (``SocketError.get_status``),
        the errors are its ``__cause__``."""
        failures = self.failures
        cause: BaseException = (
            failures[0][1]
            if len(failures) == 1
            else ExceptionGroup(f"{what}: every attempt failed", [exc for _, exc in failures])
        )
        # A hostile DNS answer can hold thousands of addresses: name the first few (the
        # ExceptionGroup in __cause__ keeps every error).
        detail = "; ".join(
            f"{format_sockaddr(addr)}: {exc.message if isinstance(exc, SocketStatusError) else exc}"
            for addr, exc in failures[:MAX_NAMED]
        )
        if len(failures) > MAX_NAMED:
            detail += f"; and {len(failures) - MAX_NAMED} more addresses"
        error = socket_error(
            SocketError.get_status(cause), f"{what} failed: {detail}", errno=failures[0][1].errno
        )
        error.__cause__ = cause
        return error
