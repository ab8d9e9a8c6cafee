"""The server role, an extension of WinRT (whose server WebSockets only Windows Device
Portal makes): a WebSocket made from a connection a
:class:`~trio_sockets.StreamSocketListener` accepted, plain or TLS. The application
reads the opening request, then accepts it (choosing a subprotocol, adding headers) or
rejects it with an HTTP status."""

from __future__ import annotations

import dataclasses
import http
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

import trio
from websockets.exceptions import InvalidHeader
from websockets.headers import parse_subprotocol
from websockets.http11 import Request, Response
from websockets.server import ServerProtocol

from .._core.checks import check_int, describe, quoted, shown
from .._core.lifecycle import Action, Phase
from .._core.web_errors import WebErrorStatus, web_socket_error
from .._core.write_queue import WRITE_OVERHEAD
from .._sockets.stream_socket import StreamSocket
from .base import WebSocketBase
from .control import SessionControl, opening_settings
from .handshake_read import read_handshake
from .information import SessionInformation
from .peer_end import CloseCutsServerProtocol
from .request_target import resource_name
from .session import _LOGGER, check_header

__all__ = ["WebSocketRequest", "WebSocketServerRole", "accepted_socket"]

_Control = TypeVar("_Control", bound=SessionControl)
_Information = TypeVar("_Information", bound=SessionInformation)


class WebSocketRequest:
    """The opening request of a WebSocket client, as a server reads it before it
    accepts or rejects (not in WinRT)."""

    __slots__ = ("_headers", "_path", "_protocols")

    def __init__(self, path: str, headers: list[tuple[str, str]], protocols: list[str]) -> None:
        self._path = path
        self._headers = headers
        self._protocols = protocols

    def __repr__(self) -> str:
        return f"<WebSocketRequest {shown(self._path)} protocols={self._protocols}>"

    @property
    def path(self) -> str:
        """The resource the client asks for: the path and query of the URI
        (``"/chat?room=1"``), as sent (not percent-decoded), always starting with ``/``.

        It holds visible ASCII only (``!`` to ``~``, no ``#``): ``receive_request()``
        answers a target with other characters (control characters, a space) with 400
        Bad Request, and the application never sees it. A target in absolute-form
        (``ws://host/chat?room=1``, which RFC 9112 has servers accept) gives its path
        and query, if its authority is the ``Host`` header's; any other form (``*``)
        is answered with 400 too."""
        return self._path

    @property
    def headers(self) -> list[tuple[str, str]]:
        """Every request header as ``(name, value)``, in the order received."""
        return list(self._headers)

    def get_header(self, name: str) -> str | None:
        """The value of header *name* (any case), or ``None``; several are joined with
        ``", "``."""
        if not isinstance(name, str):
            raise TypeError(f"header name must be a str, not {describe(name)}")
        lower = name.lower()
        values = [value for key, value in self._headers if key.lower() == lower]
        return ", ".join(values) if values else None

    @property
    def requested_protocols(self) -> list[str]:
        """The subprotocols the client offers (``Sec-WebSocket-Protocol``), in its order
        (WinRT's ``WebSocketProtocolsRequested``)."""
        return list(self._protocols)


class WebSocketServerRole(WebSocketBase[_Control, _Information]):
    """A WebSocket on an accepted connection (see ServerMessageWebSocket)."""

    def _init_server(self) -> None:
        self._request: Request | None = None
        self._offered: list[str] = []
        # What came after the request, for the protocol once the request is answered.
        self._early = b""
        self._chosen: str | None = None

    async def receive_request(self) -> WebSocketRequest:
        """Read the client's opening request, bounded by ``control.handshake_timeout``.

        The settings may still change until ``accept()``, which uses them as they are
        then: a server can set ``max_message_size`` (or ``max_frame_size``),
        ``permessage_deflate``, ``receive_mode`` or the keepalive for the endpoint the
        request names.

        Raises:
            RuntimeError: not entered with ``async with``, or called twice.
            trio.ClosedResourceError: the WebSocket was closed, as for ``accept()``.
            WebSocketStatusError: the client sent no valid HTTP request
                (``ERROR_HTTP_INVALID_SERVER_RESPONSE``), closed the connection, or was
                too slow (``TIMEOUT``); or its request target is no path and query
                (see :attr:`~trio_sockets.WebSocketRequest.path`): it is answered with 400 Bad
                Request, and ``BAD_REQUEST`` is raised. The connection is closed.

        Cancellation: the connection is closed.
        """
        self._refuse_closed("receive_request()")
        nursery = self._require_nursery("receive_request()")
        if not self._is_new():
            raise RuntimeError("receive_request() can be called once, before accept()")
        self._lifecycle.begin(Action.ACCEPT)
        # The settings that steer the connection are read at accept(): the application
        # may set them for the endpoint the request names.
        protocol = CloseCutsServerProtocol(
            select_subprotocol=lambda _protocol, _offered: self._chosen,  # type: ignore[arg-type,return-value]
            logger=_LOGGER,
        )
        self._session.protocol = protocol
        what = "receive the opening request"
        try:
            await self._session.start_socket(nursery)
            events, self._early = await read_handshake(self._session, protocol, what)
            if not events or not isinstance(events[0], Request):
                error = protocol.handshake_exc
                raise web_socket_error(
                    WebErrorStatus.ERROR_HTTP_INVALID_SERVER_RESPONSE,
                    f"{what}: {error or 'the client closed the connection'}",
                ) from error
        except BaseException:
            self._close_now()
            raise
        request = events[0]
        try:
            path = resource_name(request.path, request.headers.get_all("Host"))
        except ValueError as exc:
            reason = f"Failed to open a WebSocket connection: {exc}.\n"
            await self._answer_and_close(protocol, protocol.reject(400, reason), what)
            raise web_socket_error(
                WebErrorStatus.BAD_REQUEST, f"receive_request(): not a valid request: {exc}"
            ) from None
        self._request = request
        self._offered = [
            str(p)
            for value in request.headers.get_all("Sec-WebSocket-Protocol")
            for p in _parse_protocols(value)
        ]
        return WebSocketRequest(path, list(request.headers.raw_items()), self._offered)

    def _require_request(self, what: str) -> tuple[ServerProtocol, Request, trio.Nursery]:
        self._refuse_closed(what)
        nursery = self._require_nursery(what)
        life = self._lifecycle
        if life.phase is not Phase.NEW or life.changing is None or self._request is None:
            raise RuntimeError(f"{what} needs receive_request() first, and can be called once")
        protocol = self._session.protocol
        assert isinstance(protocol, ServerProtocol)
        return protocol, self._request, nursery

    def _refuse_closed(self, what: str) -> None:
        if self._lifecycle.closed:  # as every member of a closed WebSocket
            raise web_socket_error(
                WebErrorStatus.OPERATION_CANCELED, f"{what}: this WebSocket was closed", closed=True
            )

    async def accept(
        self,
        protocol: str | None = None,
        headers: Mapping[str, str] | Iterable[tuple[str, str]] = (),
    ) -> None:
        """Accept the request: answer 101, choosing subprotocol *protocol* (one the
        client offered; ``None`` for none) and adding *headers*.

        Raises:
            TypeError / ValueError: a subprotocol the client did not offer, or a bad
                header (a value outside ISO-8859-1 included) or one the handshake sets
                itself (``Upgrade``, ``Connection``, ``Date``, ``Sec-WebSocket-Accept``,
                ``-Protocol``, ``-Extensions``, ``-Version``, ``Content-Length``... in
                any case), named; nothing was answered, so ``accept()`` or ``reject()``
                may follow.
            RuntimeError: no request was received, or it was answered already.
            trio.ClosedResourceError: the WebSocket was closed (``aclose()``, a failed
                ``receive_request()``, the end of its block): a
                :exc:`~trio_sockets.WebSocketStatusError` ``OPERATION_CANCELED``.
            WebSocketStatusError: the request is not a valid WebSocket handshake: it is
                answered with the HTTP status that says why (426 Upgrade Required
                without a WebSocket upgrade, or with ``Sec-WebSocket-Version: 13`` for
                a version other than 13 or none, 405 for a method other than GET, 505
                for HTTP/1.0, 400 for any other fault, such as a bad key or not exactly
                one Host header), the connection is closed, and ``BAD_REQUEST`` is
                raised. Or the connection failed.
        """
        server, request, nursery = self._require_request("accept()")
        if protocol is not None:
            if not isinstance(protocol, str):
                raise TypeError(f"protocol must be a str or None, not {describe(protocol)}")
            if protocol not in self._offered:
                raise ValueError(
                    f"protocol {shown(protocol)} was not offered by the client: "
                    f"{shown(self._offered)}"
                )
        extra = [check_header(*pair, answer=True) for pair in _header_pairs(headers)]
        self._chosen = protocol
        hosts = len(request.headers.get_all("Host"))
        if hosts != 1:  # RFC 9112 section 3.2: such a request gets 400
            reason = f"the request has {hosts} Host headers, not one"
            await self._answer_and_close(server, server.reject(400, reason), "accept()")
            raise web_socket_error(
                WebErrorStatus.BAD_REQUEST, f"accept(): not a valid WebSocket request: {reason}"
            )
        settings = opening_settings(self._control)  # as they are now, set for this request
        server.available_extensions = settings.server_extensions()
        server.max_message_size, server.max_fragment_size = settings.max_size
        response = server.accept(request)
        error = server.handshake_exc
        if isinstance(error, InvalidHeader) and error.name == "Sec-WebSocket-Version":
            # RFC 6455 4.2.2 (4) and 4.4: a version this server does not speak (or none)
            # is answered with the one it speaks, for the client to retry with.
            response = server.reject(426, f"Failed to open a WebSocket connection: {error}.\n")
            response.headers["Sec-WebSocket-Version"] = "13"
        if error is not None:
            await self._answer_and_close(server, response, "accept()")
            raise web_socket_error(  # its text may quote the client's headers
                WebErrorStatus.BAD_REQUEST,
                f"accept(): not a valid WebSocket request: {quoted(error)}",
            ) from error
        for name, value in extra:
            response.headers[name] = value
        server.send_response(response)
        self._write_handshake("accept()")
        # Frames that came with the request count from now on, as if they came later.
        early, self._early = self._early, b""
        self._start_session(nursery, early)

    async def reject(
        self,
        status: int,
        text: str = "",
        headers: Mapping[str, str] | Iterable[tuple[str, str]] = (),
    ) -> None:
        """Reject the request with HTTP *status* (300 to 599) and a plain-text body
        (none with 304, which has no content), adding *headers* (a ``Location`` with a
        redirect, a ``WWW-Authenticate`` with a 401, a ``Retry-After`` with a 503...),
        then close the connection (within ``control.close_timeout``).

        Raises:
            TypeError / ValueError: a bad status, text or header (a value outside
                ISO-8859-1 included), or one the rejection sets itself
                (``Content-Length``, ``Content-Type``, ``Transfer-Encoding``,
                ``Connection``, ``Date``) or that has no place in it (``Host``,
                ``Sec-WebSocket-Key``, ``-Accept``, ``-Protocol``, ``-Extensions``), in
                any case, named; or an answer larger than the connection's output takes
                (``output_stream.max_pending_bytes``, 64 MiB by default); nothing was
                answered, so ``accept()`` or ``reject()`` may follow.
            RuntimeError: no request was received, or it was answered already.
            trio.ClosedResourceError: the WebSocket was closed, as for ``accept()``.
            WebSocketStatusError: the connection could not take the answer (it failed);
                it is closed.
        """
        check_int("status", status, 300, 599)
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, not {describe(text)}")
        try:
            text.encode()
        except UnicodeEncodeError:
            raise ValueError(f"text {shown(text)} is not valid text (a lone surrogate)") from None
        if status == 304 and text:  # RFC 9110 15.4.5
            raise ValueError(f"a 304 answer has no content, so no text: {shown(text)}")
        extra = [check_header(*pair, rejection=True) for pair in _header_pairs(headers)]
        server, _, _ = self._require_request("reject()")
        response = _rejection(server, status, text)
        for name, value in extra:
            response.headers[name] = value  # added, as a repeated header may be
        output = self._session.output()
        size = len(response.serialize())
        if size + WRITE_OVERHEAD > output.room_bytes:
            raise ValueError(
                f"reject(): the answer of {size} bytes does not fit in the connection's "
                f"output (output_stream.max_pending_bytes={output.max_pending_bytes}); "
                "nothing was answered: send a shorter text, or raise the bound"
            )
        await self._answer_and_close(server, response, "reject()")

    async def _answer_and_close(self, server: ServerProtocol, response: Any, what: str) -> None:
        """Send *response* and close the connection once it is sent (within the close
        timeout); raise if the connection cannot take it."""
        server.send_response(response)
        sent = False
        try:
            self._write_handshake(what)
            await self._receiver.finish_sending()
            sent = True
        finally:
            self._close_now(graceful=sent)  # with TLS's close_notify once it is sent
        await self._session.wait_socket_closed()


def _header_pairs(headers: object) -> list[tuple[object, object]]:
    """The (name, value) pairs of accept()'s or reject()'s *headers*: a mapping, or an
    iterable of pairs; a string where a pair should be is refused (``"XY"`` is no pair)."""
    if isinstance(headers, Mapping):
        return list(headers.items())
    if isinstance(headers, (str, bytes)) or not isinstance(headers, Iterable):
        raise TypeError(f"headers must be a mapping or (name, value) pairs, not {shown(headers)}")
    pairs = list(headers)
    for pair in pairs:
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise TypeError(f"headers must hold (name, value) pairs, not {shown(pair)}")
    return [(name, value) for name, value in pairs]


def _rejection(server: ServerProtocol, status: int, text: str) -> Response:
    """The answer of reject(): websockets makes it for the statuses ``http.HTTPStatus``
    names; any other of 300 to 599 gets its class's answer with its own number and no
    reason phrase (RFC 9112 allows none; clients go by the number)."""
    try:
        http.HTTPStatus(status)
    except ValueError:
        response = server.reject(status // 100 * 100, text)
        return dataclasses.replace(response, status_code=status, reason_phrase="")
    response = server.reject(status, text)
    if status == 304:  # no content, so nothing to say of it either
        del response.headers["Content-Length"], response.headers["Content-Type"]
    return response


def _parse_protocols(value: str) -> list[str]:
    try:
        return [str(p) for p in parse_subprotocol(value)]
    except InvalidHeader:  # a malformed offer offers nothing
        return []


def accepted_socket(socket: object) -> StreamSocket:
    if not isinstance(socket, StreamSocket):
        raise TypeError(
            f"a server WebSocket is made from an accepted StreamSocket, not {describe(socket)}"
        )
    return socket
