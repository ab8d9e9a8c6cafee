"""The state (``information``) of a WebSocket, client or server, and what the session
records in it."""

from __future__ import annotations

from .._core.certificate import Certificate
from .._core.enums import ChainValidationResult, SocketSslErrorSeverity
from .._core.hostname import HostName
from .._core.tcp_info import BandwidthStatistics
from .._sockets.stream_information import StreamSocketInformation

__all__ = [
    "MessageWebSocketInformation",
    "ServerMessageWebSocketInformation",
    "ServerStreamWebSocketInformation",
    "SessionInformation",
    "StreamWebSocketInformation",
    "WebSocketInformation",
    "record_handshake",
    "use_socket_information",
]


class SessionInformation:
    """The state of every WebSocket, client or server (WinRT ``IWebSocketInformation``),
    readable at any time."""

    def __init__(self, socket_information: StreamSocketInformation) -> None:
        self._socket_information = socket_information
        self._protocol: str | None = None
        self._deflate = False

    @property
    def local_address(self) -> HostName | None:
        """The local IP address of the connection (``None`` before connect)."""
        return self._socket_information.local_address

    @property
    def protocol(self) -> str | None:
        """The subprotocol the server chose; ``None`` before connect, ``""`` when the
        server chose none."""
        return self._protocol

    @property
    def bandwidth_statistics(self) -> BandwidthStatistics:
        """The connection's bandwidth estimates (from ``TCP_INFO``), as on a StreamSocket."""
        return self._socket_information.bandwidth_statistics

    @property
    def permessage_deflate(self) -> bool:
        """Whether permessage-deflate was negotiated (not in WinRT)."""
        return self._deflate


class WebSocketInformation(SessionInformation):
    """The state of a WebSocket client (WinRT ``IWebSocketInformation2``), readable at
    any time. The certificate members describe the last ``wss://`` connect, a failed one
    included."""

    @property
    def server_certificate(self) -> Certificate | None:
        """The server's certificate of a ``wss://`` connection."""
        return self._socket_information.server_certificate

    @property
    def server_certificate_errors(self) -> list[ChainValidationResult]:
        """The errors found with the server certificate (after a failed connect too)."""
        return self._socket_information.server_certificate_errors

    @property
    def server_certificate_error_severity(self) -> SocketSslErrorSeverity:
        """How bad those errors are."""
        return self._socket_information.server_certificate_error_severity

    @property
    def server_intermediate_certificates(self) -> list[Certificate]:
        """The intermediate certificates the server sent."""
        return self._socket_information.server_intermediate_certificates


class MessageWebSocketInformation(WebSocketInformation):
    """The state of a :class:`~trio_sockets.MessageWebSocket` (WinRT
    ``MessageWebSocketInformation``), readable at any time. The certificate members
    describe the last ``wss://`` connect, a failed one included."""


class StreamWebSocketInformation(WebSocketInformation):
    """The state of a :class:`~trio_sockets.StreamWebSocket` (WinRT
    ``StreamWebSocketInformation``), readable at any time. The certificate members
    describe the last ``wss://`` connect, a failed one included."""


class ServerMessageWebSocketInformation(SessionInformation):
    """The state of a :class:`~trio_sockets.ServerMessageWebSocket` (WinRT
    ``ServerMessageWebSocketInformation``)."""


class ServerStreamWebSocketInformation(SessionInformation):
    """The state of a :class:`~trio_sockets.ServerStreamWebSocket` (WinRT
    ``ServerStreamWebSocketInformation``)."""


# -- what the session records in its information ---------------------------------------


def use_socket_information(
    information: SessionInformation, socket_information: StreamSocketInformation
) -> None:
    """A fresh StreamSocket carries the next connect: describe it from now on."""
    information._socket_information = socket_information


def record_handshake(information: SessionInformation, protocol: str | None, deflate: bool) -> None:
    """The opening handshake succeeded: the subprotocol chosen and whether
    permessage-deflate was negotiated."""
    information._protocol = protocol
    information._deflate = deflate
