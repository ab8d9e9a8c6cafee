"""Echo servers for tests: TCP, UDP and WebSocket echo servers on loopback, built on the
library.

Each is an async context manager that runs the server in its own nursery for as long as
the block lasts, and counts what it echoed::

    async with TcpEchoServer() as server:
        async with StreamSocket() as sock:
            await sock.connect(server.host, server.port)
"""

from __future__ import annotations

import ipaddress
import socket
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from types import TracebackType
from typing import Self

import trio

from .._core.certificate import Certificate
from .._core.checks import describe, shown
from .._core.enums import HostNameType, SocketProtectionLevel
from .._core.hostname import HostName, coerce_host_name
from .._sockets.datagram_answer import answer_stream
from .._sockets.datagram_socket import DatagramSocket
from .._sockets.listener import StreamSocketListener
from .._sockets.stream_socket import StreamSocket
from .._websockets.echo import EchoCounts, echo_messages

__all__ = ["TcpEchoServer", "UdpEchoServer", "WebSocketEchoServer", "free_port"]


def free_port(kind: socket.SocketKind = socket.SOCK_STREAM, host: str = "127.0.0.1") -> str:
    """A port nothing is bound to right now on *host* (an IP address, or
    ``"localhost"`` for 127.0.0.1), as a service string.

    The port is bound and released, so another program may still take it before the
    caller binds it; prefer service ``"0"`` where the code under test allows it.

    Raises:
        TypeError: *kind* is not a socket type (``"udp"``, say: pass
            ``socket.SOCK_DGRAM``), or *host* is not a str; the message names the value.
        ValueError: *kind* is another socket type (``SOCK_RAW``, any other int), or
            *host* is no IP address (no name is looked up).
        OSError: *host* cannot be bound (an address this host does not have); the
            message names it.
    """
    given: object = kind  # checked as the caller's value, whatever the annotation says
    if isinstance(given, bool) or not isinstance(given, int):
        raise TypeError(
            f"free_port: kind must be socket.SOCK_STREAM or socket.SOCK_DGRAM, not {describe(kind)}"
        )
    if kind not in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        raise ValueError(
            f"free_port: kind must be socket.SOCK_STREAM or socket.SOCK_DGRAM, not {describe(kind)}"
        )
    if not isinstance(host, str):
        raise TypeError(f"free_port: host must be a str, not {describe(host)}")
    try:
        # Parsed here, so that a typo is not handed to the system resolver by bind().
        address = ipaddress.ip_address("127.0.0.1" if host == "localhost" else host)
    except ValueError:
        raise ValueError(
            f"free_port: host must be an IP address or 'localhost', not {describe(host)}"
        ) from None
    family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
    with socket.socket(family, kind) as probe:
        try:
            probe.bind((str(address), 0))
        except OSError as error:
            raise OSError(
                error.errno, f"free_port: cannot bind {shown(host)}: {error.strerror}"
            ) from None
        return str(probe.getsockname()[1])


@dataclass
class _EchoServer:
    host: HostName = field(default_factory=lambda: HostName("127.0.0.1"))
    #: The port the server listens on, once the block has been entered: a free one, which
    #: the server picks (it cannot be given: a freed port may be taken in the meantime).
    port: str = field(default="", init=False)
    _manager: AbstractAsyncContextManager[trio.Nursery] | None = field(
        default=None, init=False, repr=False
    )
    _nursery: trio.Nursery | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        # A str host is served as HostName(host) is: one type to read back in .host.
        self.host = coerce_host_name(self.host, f"{type(self).__name__} host")

    async def __aenter__(self) -> Self:
        if self._manager is not None:
            raise RuntimeError(
                f"this {type(self).__name__} is already running (port {self.port}): "
                "enter it once at a time"
            )
        manager = trio.open_nursery()
        nursery = await manager.__aenter__()
        try:
            self.port = await nursery.start(self._serve)
        except BaseException:
            nursery.cancel_scope.cancel()
            await manager.__aexit__(None, None, None)
            raise
        self._manager = manager
        self._nursery = nursery
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._manager is None or self._nursery is None:
            raise RuntimeError(f"this {type(self).__name__} is not running: enter it first")
        self._nursery.cancel_scope.cancel()
        await self._manager.__aexit__(None, None, None)
        self._manager = self._nursery = None

    async def _serve(self, *, task_status: trio.TaskStatus[str]) -> None:
        raise NotImplementedError  # pragma: no cover - every subclass overrides it


@dataclass
class TcpEchoServer(_EchoServer):
    """A TCP echo server on *host* (a HostName or a str, default 127.0.0.1) at a free port.

    Every connection gets back each byte it sends; the server closes its side when the
    client closes its sending side. ``connections`` and ``bytes_echoed`` count what it
    served: bytes are counted before they are sent back, so a client that has its echo
    finds them counted; a connection is counted when the server accepts it, which may
    be after the client's ``connect()`` returned, and before its first echo.
    """

    connections: int = field(default=0, init=False)
    bytes_echoed: int = field(default=0, init=False)

    @trio.lowlevel.enable_ki_protection
    async def _serve(self, *, task_status: trio.TaskStatus[str]) -> None:
        async with StreamSocketListener() as listener:
            await listener.bind_endpoint(self.host, "0")
            task_status.started(listener.information.local_port)
            async with trio.open_nursery() as handlers:
                async for args in listener.connection_received:
                    self.connections += 1
                    handlers.start_soon(self._echo, args.socket)

    @trio.lowlevel.enable_ki_protection
    async def _echo(self, sock: StreamSocket) -> None:
        async with sock:
            try:
                while data := await sock.receive_some():
                    # Counted before the send: the client may read its echo before
                    # this task runs again, and must find it counted.
                    self.bytes_echoed += len(data)
                    try:
                        await sock.send_all(data)
                    except BaseException:
                        self.bytes_echoed -= len(data)
                        raise
            except (OSError, trio.BrokenResourceError):
                return  # the client went away: nothing to echo to


@dataclass
class UdpEchoServer(_EchoServer):
    """A UDP echo server on *host* (a HostName or a str, default 127.0.0.1) at a free port.

    Every datagram goes back to its sender unchanged, from the address it was sent to
    (with *host* ``::`` or ``0.0.0.0``, every address: a connected client accepts only
    an answer from the address it sent to); ``datagrams_echoed`` counts them, each
    before it is sent back, so a client that has its echo finds it counted.
    One that cannot be answered (from port 0, which UDP allows, or one whose answer
    fails) is left unanswered, and the server goes on.
    """

    datagrams_echoed: int = field(default=0, init=False)

    @trio.lowlevel.enable_ki_protection
    async def _serve(self, *, task_status: trio.TaskStatus[str]) -> None:
        async with DatagramSocket() as sock:
            await sock.bind_endpoint(self.host, "0")
            task_status.started(sock.information.local_port)
            async for message in sock.message_received:
                if message.error is not None or message.remote_address is None:
                    continue
                if message.remote_port == "0":  # nothing can be sent to port 0
                    continue
                # Counted before the send, as TcpEchoServer counts.
                self.datagrams_echoed += 1
                try:
                    out = await answer_stream(sock, message)
                    await out.write(message.data)
                except BaseException as error:
                    self.datagrams_echoed -= 1
                    if isinstance(error, OSError):
                        continue  # one sender that cannot be answered stops nothing
                    raise


@dataclass
class WebSocketEchoServer(_EchoServer):
    """A WebSocket echo server on *host* (a HostName or a str, default 127.0.0.1) at a
    free port: every message comes back with its type (text or binary), on any path.

    ``uri`` is where to connect: ``ws://127.0.0.1:PORT/``. With *certificate* (a server
    certificate with its key, such as ``TlsCertificates.server``) it serves TLS and
    ``uri`` is ``wss://localhost:PORT/`` (:attr:`uri` tells for other hosts).
    ``connections``, ``messages_echoed`` and ``bytes_echoed`` count what it served (a
    message before it is sent back, so a client that has its echo finds it counted);
    ``close_codes`` lists the close code each client sent, in the order the connections
    ended (once the server has ended the connection, which may be after the client's
    ``aclose()`` returned).
    """

    certificate: Certificate | None = field(default=None, kw_only=True)
    connections: int = field(default=0, init=False)
    close_codes: list[int] = field(default_factory=list, init=False)
    _counts: EchoCounts = field(default_factory=EchoCounts, init=False, repr=False)

    @property
    def messages_echoed(self) -> int:
        """The messages sent back so far, over every connection."""
        return self._counts.messages

    @property
    def bytes_echoed(self) -> int:
        """The bytes of the payloads of those messages."""
        return self._counts.bytes

    @property
    def uri(self) -> str:
        """The URI of the server, once the block has been entered.

        Its host is *host*, but for a server on every address (``::``, ``0.0.0.0``),
        where it is the loopback address of that family (``[::1]``, ``127.0.0.1``);
        with a *certificate*, a server on the default loopback address or on every
        address is ``localhost``, the name certificates for tests carry.
        """
        ip = self.host.ip_address
        every_address = ip is not None and ip.is_unspecified
        if self.certificate is not None and (
            every_address or self.host.canonical_name in ("127.0.0.1", "::1", "localhost")
        ):
            host = "localhost"
        elif every_address:
            host = "::1" if self.host.type is HostNameType.IPV6 else "127.0.0.1"
        else:
            host = self.host.canonical_name
        if ":" in host:
            host = f"[{host.replace('%', '%25')}]"  # RFC 6874: a zone is %25zone
        scheme = "ws" if self.certificate is None else "wss"
        return f"{scheme}://{host}:{self.port}/"

    @trio.lowlevel.enable_ki_protection
    async def _serve(self, *, task_status: trio.TaskStatus[str]) -> None:
        async with StreamSocketListener() as listener:
            level = SocketProtectionLevel.PLAIN_SOCKET
            if self.certificate is not None:
                listener.control.server_certificate = self.certificate
                level = SocketProtectionLevel.SSL
            await listener.bind_endpoint(self.host, "0", level)
            task_status.started(listener.information.local_port)
            async with trio.open_nursery() as handlers:
                async for args in listener.connection_received:
                    self.connections += 1
                    handlers.start_soon(self._echo, args.socket)

    @trio.lowlevel.enable_ki_protection
    async def _echo(self, sock: StreamSocket) -> None:
        try:
            code = await echo_messages(sock, self._counts)
        except OSError:
            return  # the client went away or spoke no WebSocket: nothing to echo to
        if code is not None:
            self.close_codes.append(code)
