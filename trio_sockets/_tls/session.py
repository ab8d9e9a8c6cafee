"""A TLS session: what a ``StreamSocket`` holds while it speaks TLS.

A :class:`TlsSession` wraps the connected socket, as anyio's ``TLSStream`` wraps its
transport: it owns the :class:`~trio_sockets._tls.transport.SocketTransport` over the
socket, the :class:`trio.SSLStream`, the :class:`~trio_sockets._tls.handshake.TlsReport`
of its handshake and the end-of-stream flag. The socket calls its methods (handshake,
receive, close_notify) and keeps the session, established or failed, for what its
``information`` reports; the session knows nothing of the socket class.

Cancellation and ``cancel_io()`` are the socket's: it runs these methods inside the
cancel scopes it registers, and turns a cancelled scope into ``OPERATION_ABORTED``.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
from collections.abc import Callable, Iterator
from functools import partial

import trio

from .._core.enums import ChainValidationResult, HostNameType, SocketProtectionLevel
from .._core.errors import SocketErrorStatus, socket_error, translate_os_error
from .._core.hostname import HostName
from .arrived import application_data_arrived, salvage_more
from .context import check_protection_level
from .handshake import TlsReport, handshake, tls_error
from .transport import SocketTransport

__all__ = ["TlsSession", "client_hello_within", "refuse_unread_plaintext", "upgrade_level"]


class TlsSession:
    """TLS over one connected socket (see the module docstring).

    Made for a handshake; :attr:`established` once it succeeded. A failed session
    keeps its :attr:`report` (what was found with the peer's certificates).
    """

    __slots__ = ("_checks_here", "_eof", "_host", "_ignorable", "established", "report", "stream")

    def __init__(
        self,
        sock: socket.socket,
        context: tuple[ssl.SSLContext, bool],
        what: str,
        *,
        host: HostName | None = None,
        ignorable: frozenset[ChainValidationResult] = frozenset(),
        server_side: bool = False,
    ) -> None:
        ssl_context, self._checks_here = context
        self._host = host
        self._ignorable = ignorable
        server_hostname = None if server_side or host is None else _certificate_name(host)
        self.stream = trio.SSLStream(
            SocketTransport(sock, what),
            ssl_context,
            server_side=server_side,
            server_hostname=server_hostname,
        )
        self.report = TlsReport()
        self.established = False
        self._eof = False

    @property
    def level(self) -> SocketProtectionLevel:
        """The TLS version in force; ``PLAIN_SOCKET`` until the handshake succeeded."""
        return self.report.level

    async def handshake(self, deadline: float, deadline_reason: str, what: str) -> None:
        """Run the handshake and fill in :attr:`report`.

        Raises the classified failure (see
        :func:`~trio_sockets._tls.handshake.handshake`); ``CONNECTION_TIMED_OUT`` at
        *deadline*, which *deadline_reason* names. Cancellation: the session is
        unusable (a handshake cannot resume).
        """
        await handshake(
            self.stream,
            self.report,
            host=self._host,
            checks_here=self._checks_here,
            ignorable=self._ignorable,
            deadline=deadline,
            deadline_reason=deadline_reason,
            what=what,
        )
        self.established = True

    async def receive(self, max_bytes: int, where: Callable[[], str]) -> bytes:
        """Receive up to *max_bytes* of plain text; ``b""`` at the end of the stream.

        Only the peer's close_notify ends the stream. A connection closed without it
        (a "ragged EOF") is a failure, as in :class:`trio.SSLStream`'s default: the
        bytes may have been cut short by anyone on the path, and a clean end would hide
        that. *where* names the socket in a failure's message (called only then: this
        is a hot path).

        Raises:
            SocketStatusError: the classified failure (``CONNECTION_RESET_BY_PEER`` for a
                ragged EOF), also a :class:`trio.BrokenResourceError`.
        """
        if self._eof:
            await trio.lowlevel.checkpoint()
            return b""
        try:
            data = await self.stream.receive_some(max_bytes)
        except trio.BrokenResourceError as exc:
            salvaged = self.stream.transport_stream.salvaged
            if not salvaged:  # what more came before a send broke the stream
                salvaged += salvage_more(self.stream)
            if salvaged:  # what came whole before a send broke the stream comes first
                await trio.lowlevel.checkpoint()
                data = salvaged[:max_bytes]
                del salvaged[:max_bytes]
                return bytes(data)
            if isinstance(exc.__cause__, ssl.SSLZeroReturnError):
                self._eof = True
                return b""
            if isinstance(exc.__cause__, ssl.SSLEOFError):
                raise socket_error(
                    SocketErrorStatus.CONNECTION_RESET_BY_PEER,
                    f"receive on {where()}: the peer closed the connection without TLS's "
                    "close_notify, so what came may be cut short (a truncation attack "
                    "looks the same)",
                    broken=True,
                ) from exc
            raise tls_error(exc, f"receive on {where()}") from exc
        except OSError as exc:
            raise translate_os_error(exc, f"receive on {where()}", broken=True) from exc
        except trio.ClosedResourceError as exc:  # the close under way sent close_notify
            raise socket_error(
                SocketErrorStatus.OPERATION_ABORTED,
                f"receive on {where()}: the socket is closing",
                closed=True,
            ) from exc
        if not data:
            self._eof = True
        return bytes(data)

    async def close_notify(self) -> None:
        """Send close_notify if the socket takes it at once, then end the connection
        with a FIN, not a reset.

        A TLS 1.3 peer sends messages right after the handshake that no application
        reads (session tickets), and Linux resets a connection closed with bytes unread,
        dropping what it has not sent yet: the end of what was written. So what has
        arrived is read off, and so is what arrives until the kernel has sent all of it
        (:meth:`SocketTransport.linger`: a ticket may come one round trip late).
        Application data nobody read still makes the close a reset, at once, as on a
        plain socket.
        """
        transport = self.stream.transport_stream
        transport.closing = True
        # The peer may be gone or not reading: the connection then closes without it.
        with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            await self.stream.aclose()
        if application_data_arrived(self.stream):
            transport.reset_on_close()  # as on a plain socket: no wait for the peer
        else:
            await transport.linger(partial(application_data_arrived, self.stream))
            if transport.unread_data:  # it came while the close waited: as it had before
                transport.reset_on_close()


def _certificate_name(host: HostName) -> str:
    """What *host*'s server certificate must be valid for: its name, and for an IPv6
    address the address without its ``%scope`` (the interface the socket goes out on,
    no part of the certificate's IP entry). So given, :mod:`ssl` takes it for an IP
    address: only IP entries match it, and no SNI is sent (RFC 6066 allows no address
    there, and a scoped one is no host name either)."""
    if host.type == HostNameType.IPV6:
        return host.canonical_name.partition("%")[0]
    return host.canonical_name


def upgrade_level(protection_level: object) -> SocketProtectionLevel:
    """*protection_level* checked for ``upgrade_to_ssl``: a TLS level this platform has.

    Raises:
        TypeError / ValueError: not a level, one OpenSSL cannot provide, or
            ``PLAIN_SOCKET``.
    """
    level = check_protection_level(protection_level)
    if level == SocketProtectionLevel.PLAIN_SOCKET:
        raise ValueError("upgrade_to_ssl() needs a TLS protection level, not PLAIN_SOCKET")
    return level


def refuse_unread_plaintext(buffered: int, sock: socket.socket, where: str) -> None:
    """Raise if received plain text waits unread: *buffered* bytes read ahead, or bytes
    in the kernel's buffer (the TLS handshake would take them for TLS)."""
    unread = buffered
    if not unread:
        try:
            unread = len(sock.recv(65536, socket.MSG_PEEK))
        except OSError:  # nothing waiting (BlockingIOError) or a failure the handshake meets
            unread = 0
    if unread:
        raise RuntimeError(
            f"upgrade_to_ssl(): {unread} bytes of received plain text are still unread "
            f"on {where}; read them first (the TLS handshake would take "
            "them for TLS and they would be lost)"
        )


@contextlib.contextmanager
def client_hello_within(
    session: TlsSession, hello_timeout: float | None, deadline: float, what: str
) -> Iterator[None]:
    """Run the server side of *session*'s handshake in the block, and end it with
    ``CONNECTION_TIMED_OUT`` unless the client's whole ClientHello came within
    *hello_timeout* seconds from now, and each later flight of its handshake within
    *hello_timeout* seconds of the server's answer before it.

    The server's first answer (its hello, or an alert) goes out only once it has read
    the ClientHello whole, so the limit holds until the server first sends: a client
    that sends part of a ClientHello and stalls holds its slot no longer than one that
    sends nothing. Each send of the server starts the limit again, for the client's
    answer: a client that sends a whole ClientHello and then stalls holds its slot no
    longer either (the server sends two or three times in a handshake, so a client that
    answers each at the last moment holds it a few times as long). Nothing changes when
    the handshake's *deadline* comes first (the handshake then times out itself).
    """
    start = trio.current_time()
    if hello_timeout is None or start + hello_timeout >= deadline:
        yield
        return
    transport = session.stream.transport_stream
    answers = 0
    with trio.CancelScope(deadline=start + hello_timeout) as waiting:

        def answered() -> None:
            nonlocal answers
            answers += 1
            waiting.deadline = trio.current_time() + hello_timeout

        transport.on_send = answered
        try:
            yield
        finally:
            transport.on_send = None
    if waiting.cancelled_caught:
        limit = f"control.tls_hello_timeout={hello_timeout} s"
        raise socket_error(
            SocketErrorStatus.CONNECTION_TIMED_OUT,
            f"{what}: the client did not go on with its handshake within {limit} of the "
            "server's answer"
            if answers
            else f"{what}: no complete ClientHello within {limit}",
        )
