"""The client role: ``connect()`` and the opening handshake a client starts
(MessageWebSocket and StreamWebSocket)."""

from __future__ import annotations

import contextlib
import re
from typing import TypeVar

import trio
from websockets.datastructures import Headers
from websockets.exceptions import InvalidMessage, InvalidStatus, WebSocketException
from websockets.http11 import Response, parse_headers
from websockets.streams import StreamReader

from .._core.checks import quoted, shown
from .._core.enums import SocketProtectionLevel
from .._core.lifecycle import Action
from .._core.web_errors import WebErrorStatus, WebSocketError, web_socket_error
from .._io.resolver import Resolver
from .._sockets.stream_socket import StreamSocket
from .base import WebSocketBase
from .control import WebSocketControl, offered_subprotocols, opening_settings, use_socket_control
from .handshake_read import read_handshake
from .information import WebSocketInformation, use_socket_information
from .peer_end import CloseCutsClientProtocol
from .session import _LOGGER, check_header
from .uri import WebSocketTarget, parse_websocket_uri
from .validation import WebSocketServerCustomValidationRequestedEventArgs, validate_server

__all__ = ["WebSocketClient"]

_Control = TypeVar("_Control", bound=WebSocketControl)
_Information = TypeVar("_Information", bound=WebSocketInformation)

#: A whole HTTP/1.0 or HTTP/1.1 status line (RFC 9112 4): a status code of three digits
#: from 100 to 599, then a reason phrase of visible characters, spaces and tabs.
_STATUS_LINE = re.compile(rb"HTTP/1\.[01] ([1-5][0-9][0-9]) ([\t\x20-\x7e\x80-\xff]*)\r\n")
#: The longest status line taken, its CRLF included (as in ``websockets``).
_STATUS_LINE_MAX = 8192


def _rejection_in(start: bytes | bytearray, error: Exception | None) -> InvalidStatus | None:
    """The refusal in an answer whose body was not read (*error* None), or that
    ``websockets`` could not read (*error*): an HTTP/1.0 answer (which it does not
    take), or one whose headers it refused. *start* is the first bytes of the answer,
    the status line in full among them. None unless that line is a whole HTTP/1.0 or
    HTTP/1.1 one with a status other than 101: a 101 is an upgrade that only HTTP/1.1
    carries, and it needs its headers."""
    match = _STATUS_LINE.match(start, 0, _STATUS_LINE_MAX)
    if match is None or match[1] == b"101":
        return None
    headers = _headers_in(start, match.end())
    rejection = InvalidStatus(Response(int(match[1]), match[2].decode("iso-8859-1"), headers))
    rejection.__cause__ = error
    return rejection


def _headers_in(start: bytes | bytearray, at: int) -> Headers:
    """The headers that begin at *at* in *start*, parsed as ``websockets`` parses a
    response's (those whose lines lie whole in *start*); none if it refuses them."""
    head = bytes(start[at:])
    end = head.find(b"\r\n\r\n")
    # Cut short (longer than what is kept): the whole lines it holds, as if they ended it.
    head = head[: end + 4] if end >= 0 else head[: head.rfind(b"\r\n") + 2] + b"\r\n"
    reader = StreamReader()
    reader.feed_data(head)
    reader.feed_eof()
    parsing = parse_headers(reader.read_line)
    try:
        parsing.send(None)  # all is fed: it returns or raises at once
    except StopIteration as done:
        headers: Headers = done.value
        return headers
    except (EOFError, ValueError, LookupError, WebSocketException):
        return Headers()
    parsing.close()  # pragma: no cover - it never waits for more
    return Headers()  # pragma: no cover


class WebSocketClient(WebSocketBase[_Control, _Information]):
    """A WebSocket that connects (see MessageWebSocket)."""

    def _init_client(self, resolver: Resolver | None) -> None:
        self._resolver = resolver
        self._socket_used = False
        self._headers: dict[str, tuple[str, str]] = {}
        # Unbuffered: a connect hands its event to a receiving task or to nobody, so a
        # cancelled connect leaves no stale event behind.
        self._send_validation, self._validation_requests = trio.open_memory_channel[
            WebSocketServerCustomValidationRequestedEventArgs
        ](0)
        self._validation_scope: trio.CancelScope | None = None

    @property
    def server_custom_validation_requested(
        self,
    ) -> trio.MemoryReceiveChannel[WebSocketServerCustomValidationRequestedEventArgs]:
        """The server certificate of each ``wss://`` connect, once the system's checks
        passed (honouring ``control.ignorable_server_certificate_errors``), for the
        application to check too (WinRT ``ServerCustomValidationRequested``). Only with
        ``control.server_custom_validation`` on: then ``connect()`` waits until a task
        receives the event and answers (see
        :class:`~trio_sockets.WebSocketServerCustomValidationRequestedEventArgs`), at
        most ``control.handshake_timeout`` (``TIMEOUT`` then). It ends when the socket
        closes."""
        return self._validation_requests

    def set_request_header(self, name: str, value: str) -> None:
        """Add a header to the opening handshake (WinRT ``SetRequestHeader``); a second
        call for the same name (any case) replaces the first.

        Raises:
            TypeError / ValueError: a name that is not an HTTP token, a value with control
                characters or characters outside ISO-8859-1 (which HTTP headers cannot
                carry), or a header the handshake sets itself
                (``Sec-WebSocket-Extensions`` included, as in WinRT), named.
            RuntimeError: the socket is connected or closed.
        """
        name, value = check_header(name, value)
        if not self._is_new():
            raise RuntimeError("set_request_header() must be called before connect()")
        self._headers[name.lower()] = (name, value)

    async def connect(self, uri: str) -> None:
        """Connect to *uri*, ``ws://`` or ``wss://``, and run the opening handshake
        (WinRT ``ConnectAsync``).

        For ``wss://`` the TLS settings of ``control`` apply as on a StreamSocket, and
        ``information`` tells the certificate and its errors, after a failure too: add
        them to ``control.ignorable_server_certificate_errors`` and connect again. A
        failed connect leaves the socket usable for another one.

        Raises:
            TypeError / ValueError: *uri* is not an absolute ``ws://`` or ``wss://`` URI
                the request can send (control characters, a fragment, a port outside 1
                to 65535, user info other than ``user:password`` or whose user name
                holds ":"), or a supported protocol is not a token; named, before
                anything is sent, the password hidden.
            InvalidHostNameError: the URI's host is one :class:`~trio_sockets.HostName`
                refuses, or is in brackets but no IPv6 address.
            RuntimeError: the socket was not entered with ``async with``, or is already
                connected.
            trio.BusyResourceError: another task is connecting.
            trio.ClosedResourceError: the socket was closed.
            WebSocketStatusError: the connection or the handshake failed, with its
                status: ``CANNOT_CONNECT``, ``HOST_NAME_NOT_RESOLVED``, ``TIMEOUT``, a
                ``CERTIFICATE_*`` status (``CERTIFICATE_IS_INVALID`` when the handler of
                ``server_custom_validation_requested`` rejected the server), the HTTP
                status the server answered with (``NOT_FOUND``...; HTTP/1.0 or 1.1),
                ``ERROR_HTTP_INVALID_SERVER_RESPONSE``, or ``OPERATION_CANCELED`` when the
                socket was closed meanwhile.

        Cancellation: nothing is left half open (a server validation under way is over);
        the socket can connect again.
        """
        target = parse_websocket_uri(uri)
        if target.user_info is not None and "authorization" in self._headers:
            raise ValueError(
                "connect: the URI's user:password makes the Authorization header, and "
                "set_request_header() set one too: use one or the other"
            )
        self._lifecycle.check(Action.CONNECT)
        nursery = self._require_nursery("connect()")
        subprotocols = offered_subprotocols(self._control)
        self._lifecycle.begin(Action.CONNECT)
        self._uri = target.shown
        try:
            await self._connect(nursery, target, subprotocols)
        except BaseException:
            self._lifecycle.abandon(Action.CONNECT)
            raise

    async def _connect(
        self, nursery: trio.Nursery, target: WebSocketTarget, subprotocols: tuple[str, ...]
    ) -> None:
        what = f"connect to {shown(self._uri)}"
        if self._socket_used or self._session.socket_ended:
            # The last attempt got as far as the handshake, or was cancelled as it
            # started: its socket is closed.
            fresh = StreamSocket(resolver=self._resolver)
            use_socket_control(self._control, fresh.control)
            use_socket_information(self._information, fresh.information)
            self._session.replace_socket(fresh)
            self._socket_used = False
        sock = self._session.socket
        await self._session.start_socket(nursery)
        level = SocketProtectionLevel.SSL if target.secure else SocketProtectionLevel.PLAIN_SOCKET
        if target.secure:
            # The TLS handshake opens the connection as much as the HTTP one does.
            sock.control.tls_handshake_timeout = self._control.handshake_timeout
        try:
            await sock.connect(target.host, str(target.port), level)
        except (OSError, trio.ClosedResourceError) as exc:
            raise self._session.error_from(exc, what) from exc
        self._socket_used = True
        try:
            if target.secure and self._control.server_custom_validation:
                await self._validate_server(what)
            await self._handshake(nursery, target, subprotocols, what)
        except BaseException:
            self._session.close_socket()
            raise

    async def _validate_server(self, what: str) -> None:
        """Ask the application about the server certificate; raise unless it agrees."""
        information = self._information
        certificate = information.server_certificate
        if certificate is None:  # a TLS session without a certificate: nothing vouches
            raise web_socket_error(
                WebErrorStatus.CERTIFICATE_IS_INVALID, f"{what}: the server sent no certificate"
            )
        args = WebSocketServerCustomValidationRequestedEventArgs(
            certificate,
            information.server_intermediate_certificates,
            information.server_certificate_errors,
            information.server_certificate_error_severity,
        )
        timeout = self._control.handshake_timeout
        # A closed channel, as a cancelled scope, means the socket closed: reported below.
        try:
            with (
                trio.CancelScope() as self._validation_scope,
                contextlib.suppress(trio.ClosedResourceError),
            ):
                await validate_server(self._send_validation, args, timeout, what)
        finally:
            self._validation_scope = None
        if self._lifecycle.closed:
            raise web_socket_error(
                WebErrorStatus.OPERATION_CANCELED,
                f"{what}: the WebSocket was closed during the server validation",
                closed=True,
            )

    def _close_now(self, *, graceful: bool = False) -> None:
        super()._close_now(graceful=graceful)
        self._send_validation.close()
        if self._validation_scope is not None:
            self._validation_scope.cancel()

    async def _handshake(
        self,
        nursery: trio.Nursery,
        target: WebSocketTarget,
        subprotocols: tuple[str, ...],
        what: str,
    ) -> None:
        settings = opening_settings(self._control)
        protocol = CloseCutsClientProtocol(
            target.protocol_uri(),
            extensions=settings.client_extensions(),
            subprotocols=list(subprotocols) or None,  # type: ignore[arg-type]
            max_size=settings.max_size,
            logger=_LOGGER,
        )
        request = protocol.connect()
        for name, value in self._headers.values():
            request.headers[name] = value
        protocol.send_request(request)
        self._session.protocol = protocol
        self._write_handshake(what)
        start = bytearray()
        events, early = await read_handshake(self._session, protocol, what, kept=start)
        error = protocol.handshake_exc
        if isinstance(error, InvalidMessage):
            error = _rejection_in(start, error) or error
        elif error is None and not events:  # a refusal, its body not read
            error = _rejection_in(start, None) or InvalidMessage("no whole HTTP status line")
        if error is not None:
            refused = error.response.headers if isinstance(error, InvalidStatus) else Headers()
            # Its text may quote the server's header values: bounded and escaped.
            raise web_socket_error(
                WebSocketError.get_status(error),
                f"{what}: {quoted(error)}",
                response_headers=tuple(refused.raw_items()),
            ) from error
        assert isinstance(events[0], Response)
        self._start_session(nursery, early)
