"""The settings (``control``) of a WebSocket, client or server, and what the session
reads from them."""

from __future__ import annotations

import datetime

from .._core.certificate import Certificate, IgnorableErrors
from .._core.checks import (
    Uncopyable,
    check_bool,
    check_enum,
    check_int,
    check_seconds,
    describe,
    shown,
)
from .._core.enums import ChainValidationResult, MessageWebSocketReceiveMode, SocketMessageType
from .._core.errors import WindowsOnlyError
from .._sockets.stream_control import StreamSocketControl
from .opening import OpeningSettings

__all__ = [
    "MessageWebSocketControl",
    "OpeningSettings",
    "ServerMessageWebSocketControl",
    "ServerStreamWebSocketControl",
    "SessionControl",
    "StreamWebSocketControl",
    "WebSocketControl",
    "mark_connected",
    "message_type_of",
    "offered_subprotocols",
    "opening_settings",
    "receive_mode_of",
    "use_socket_control",
]

#: WinRT's ``MaxMessageSize`` default, Win32 ``INFINITE``: no limit.
UNLIMITED = 0xFFFFFFFF
#: The default ``max_frame_size`` of the stream WebSockets, and their largest frame sent.
DEFAULT_MAX_FRAME_SIZE = 1024 * 1024
#: The default ``max_message_size`` of a server message WebSocket (as ``websockets``'
#: and trio-websocket's).
DEFAULT_SERVER_MAX_MESSAGE_SIZE = 1024 * 1024
# The largest payload length a frame header may carry (RFC 6455 section 5.2).
_LARGEST_LENGTH = (1 << 63) - 1
_MAX_INTERVAL = datetime.timedelta(days=1)
_CREDENTIAL_REASON = (
    "it takes a PasswordCredential from the Windows credential vault and lets the OS do "
    "HTTP authentication; set an Authorization header with set_request_header() instead"
)


def _check_subprotocol(value: object) -> str:
    # RFC 6455 §4.1: a subprotocol is an HTTP token.
    if not isinstance(value, str):
        raise TypeError(f"supported_protocols must hold str tokens, not {describe(value)}")
    if not value or not all(33 <= ord(c) <= 126 and c not in '()<>@,;:\\"/[]?={}' for c in value):
        raise ValueError(f"supported_protocols: {shown(value)} is not an HTTP token")
    return value


class SessionControl(Uncopyable):
    """The settings of every WebSocket, client or server: keepalive, compression and
    the handshake bounds.

    They are set before the connection opens (``connect()``, or ``accept()`` on a
    server, which uses them as they are then, set after ``receive_request()`` for the
    endpoint the request names included; ``handshake_timeout`` bounds
    ``receive_request()``): afterwards the setters raise :class:`RuntimeError`. Bad
    values raise :class:`TypeError` or :class:`ValueError` naming the setter and the value.
    """

    def __init__(self, socket_control: StreamSocketControl) -> None:
        self._socket_control = socket_control
        self._connected = False
        self._message_type = SocketMessageType.BINARY
        self._max_message_size = UNLIMITED
        # The bound of each frame received (stream kinds); None: max_message_size's.
        self._max_frame_size: int | None = None
        self._receive_mode = MessageWebSocketReceiveMode.FULL_MESSAGE
        self._pong_interval = datetime.timedelta(0)
        self._permessage_deflate = False
        self._deflate_max_window_bits = 15
        self._close_timeout = 10.0
        self._handshake_timeout = 60.0

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} permessage_deflate={self._permessage_deflate} "
            f"pong_interval={self._pong_interval}>"
        )

    # -- the socket's side ---------------------------------------------------------------

    def _refuse_late(self, name: str) -> None:
        if self._connected:
            raise RuntimeError(f"{name} can only be set before the connection opens")

    # -- WinRT members -------------------------------------------------------------------

    @property
    def desired_unsolicited_pong_interval(self) -> datetime.timedelta:
        """The keepalive interval; ``timedelta(0)`` (default) turns it off.

        Every interval the socket sends a ping, which an RFC 6455 peer must answer; when
        no pong has come back an interval after the ping left (longer while the peer's
        TCP acknowledges the data sent before it, or the reader waits for the
        application), or the peer has taken none of what waits to be sent for a whole
        interval, the connection fails: it is closed with 1011 and the last event of
        ``message_received`` raises ``TIMEOUT``. (An
        unsolicited pong, which WinRT's name suggests, asks for no answer and so could
        not find out that the peer stopped answering.) From 1 ms to one day.
        """
        return self._pong_interval

    @desired_unsolicited_pong_interval.setter
    def desired_unsolicited_pong_interval(self, value: datetime.timedelta) -> None:
        self._refuse_late("desired_unsolicited_pong_interval")
        if not isinstance(value, datetime.timedelta):
            raise TypeError(
                f"desired_unsolicited_pong_interval must be a timedelta, not {describe(value)}"
            )
        if value and not (datetime.timedelta(milliseconds=1) <= value <= _MAX_INTERVAL):
            raise ValueError(
                "desired_unsolicited_pong_interval must be 0 (off) or from 1 ms to one day, "
                f"not {value}"
            )
        self._pong_interval = value

    @property
    def actual_unsolicited_pong_interval(self) -> datetime.timedelta:
        """The keepalive interval in effect: the desired one once connected, else 0."""
        return self._pong_interval if self._connected else datetime.timedelta(0)

    # -- extensions (not in WinRT) -------------------------------------------------------

    @property
    def permessage_deflate(self) -> bool:
        """Offer permessage-deflate compression (RFC 7692); default False. Used only if
        the server accepts it (``information.permessage_deflate`` says)."""
        return self._permessage_deflate

    @permessage_deflate.setter
    def permessage_deflate(self, value: bool) -> None:
        self._refuse_late("permessage_deflate")
        self._permessage_deflate = check_bool("permessage_deflate", value)

    @property
    def deflate_max_window_bits(self) -> int:
        """The LZ77 window of permessage-deflate, both directions, 9 to 15 (default 15):
        each step down halves the memory a connection's compressor and decompressor take."""
        return self._deflate_max_window_bits

    @deflate_max_window_bits.setter
    def deflate_max_window_bits(self, value: int) -> None:
        self._refuse_late("deflate_max_window_bits")
        self._deflate_max_window_bits = check_int("deflate_max_window_bits", value, 9, 15)

    @property
    def close_timeout(self) -> float:
        """Seconds ``aclose()`` waits for the closing handshake (default 10) before it
        closes the connection anyway."""
        return self._close_timeout

    @close_timeout.setter
    def close_timeout(self, value: float) -> None:
        seconds = check_seconds("close_timeout", value, optional=False)
        assert seconds is not None
        self._close_timeout = seconds

    @property
    def handshake_timeout(self) -> float:
        """Seconds the opening handshake may take once connected (default 60, WinRT's).

        On a client it bounds each of its steps: the TLS handshake of a ``wss://``
        connect (it is the socket's ``tls_handshake_timeout``, which the error then
        names), the server validation if requested, and the HTTP upgrade; on a server,
        ``receive_request()``."""
        return self._handshake_timeout

    @handshake_timeout.setter
    def handshake_timeout(self, value: float) -> None:
        self._refuse_late("handshake_timeout")
        seconds = check_seconds("handshake_timeout", value, optional=False)
        assert seconds is not None
        self._handshake_timeout = seconds


class WebSocketControl(SessionControl):
    """The settings both WebSocket client classes have (WinRT ``IWebSocketControl`` and
    ``IWebSocketControl2``, with the members both Control classes add).

    They are set before ``connect()``: afterwards the setters raise
    :class:`RuntimeError` (``outbound_buffer_size_in_bytes`` is accepted and has no
    effect, as in WinRT). Bad values raise :class:`TypeError` or :class:`ValueError`
    naming the setter and the value.

    The TLS members (``ignorable_server_certificate_errors``, ``client_certificate``,
    ``trusted_certificates``) are those of :class:`~trio_sockets.StreamSocketControl`,
    with the same rules: they apply to ``wss://`` connections.
    """

    def __init__(self, socket_control: StreamSocketControl) -> None:
        super().__init__(socket_control)
        self._supported_protocols: list[str] = []
        self._server_custom_validation = False

    @property
    def supported_protocols(self) -> list[str]:
        """The subprotocols to offer (``Sec-WebSocket-Protocol``), a mutable list; the
        server's pick is ``information.protocol``. Read at ``connect()``: changes after a
        successful connect are ignored, and after a failed one apply to the next
        attempt. An entry that is not an HTTP token fails ``connect()`` with
        :class:`ValueError`."""
        return self._supported_protocols

    @property
    def outbound_buffer_size_in_bytes(self) -> int | None:
        """The TCP send buffer asked for (``SO_SNDBUF``); ``None`` (default) keeps the
        kernel's auto-tuning. Set after connect, it has no effect."""
        return self._socket_control.outbound_buffer_size_in_bytes

    @outbound_buffer_size_in_bytes.setter
    def outbound_buffer_size_in_bytes(self, value: int | None) -> None:
        if value is not None:
            check_int("outbound_buffer_size_in_bytes", value, 1, 2**31 - 1)
        if not self._connected:  # WinRT: set after connect, it has no effect
            self._socket_control.outbound_buffer_size_in_bytes = value

    @property
    def ignorable_server_certificate_errors(self) -> IgnorableErrors:
        """The server-certificate errors to accept on ``wss://`` (a mutable set of
        :class:`~trio_sockets.ChainValidationResult`), as on a StreamSocket. After a
        failed connect, add ``information.server_certificate_errors`` and connect again."""
        return self._socket_control.ignorable_server_certificate_errors

    @ignorable_server_certificate_errors.setter
    def ignorable_server_certificate_errors(
        self, value: IgnorableErrors | set[ChainValidationResult]
    ) -> None:
        self._refuse_late("ignorable_server_certificate_errors")
        self._socket_control.ignorable_server_certificate_errors = value

    @property
    def client_certificate(self) -> Certificate | None:
        """The certificate (with its key) offered when a ``wss://`` server asks for one."""
        return self._socket_control.client_certificate

    @client_certificate.setter
    def client_certificate(self, value: Certificate | None) -> None:
        self._refuse_late("client_certificate")
        self._socket_control.client_certificate = value

    @property
    def trusted_certificates(self) -> list[Certificate]:
        """Root certificates trusted for ``wss://`` besides the system's (a mutable list)."""
        return self._socket_control.trusted_certificates

    @trusted_certificates.setter
    def trusted_certificates(self, value: list[Certificate]) -> None:
        self._refuse_late("trusted_certificates")
        self._socket_control.trusted_certificates = value

    @property
    def server_custom_validation(self) -> bool:
        """Deliver each ``wss://`` server certificate that passed the system's checks on
        ``server_custom_validation_requested`` and make ``connect()`` wait for the
        answer (default False: no event). What registering a handler for WinRT's
        ``ServerCustomValidationRequested`` does; set it before ``connect()``."""
        return self._server_custom_validation

    @server_custom_validation.setter
    def server_custom_validation(self, value: bool) -> None:
        self._refuse_late("server_custom_validation")
        self._server_custom_validation = check_bool("server_custom_validation", value)

    @property
    def server_credential(self) -> None:
        """Windows-only: always ``None``; setting it raises
        :class:`~trio_sockets.WindowsOnlyError`."""
        return None

    @server_credential.setter
    def server_credential(self, value: object) -> None:
        raise WindowsOnlyError(f"{type(self).__name__}.server_credential", _CREDENTIAL_REASON)

    @property
    def proxy_credential(self) -> None:
        """Windows-only: always ``None``; setting it raises
        :class:`~trio_sockets.WindowsOnlyError`."""
        return None

    @proxy_credential.setter
    def proxy_credential(self, value: object) -> None:
        raise WindowsOnlyError(f"{type(self).__name__}.proxy_credential", _CREDENTIAL_REASON)


class _MessageSettings(SessionControl):
    """The message settings of both MessageWebSocket kinds."""

    @property
    def message_type(self) -> SocketMessageType:
        """The type of the messages ``output_stream`` writes and the frame methods send:
        ``BINARY`` (the default) or ``UTF8``. May change at any time; a message under way
        (``send_nonfinal_frame``) keeps the type it started with."""
        return self._message_type

    @message_type.setter
    def message_type(self, value: SocketMessageType) -> None:
        self._message_type = check_enum("message_type", value, SocketMessageType)

    @property
    def max_message_size(self) -> int:
        """The largest message accepted, in bytes. A larger one closes the connection
        with 1009 and arrives as an event whose ``get_data_reader()`` raises
        ``REQUEST_ENTITY_TOO_LARGE``. In ``PARTIAL_MESSAGE`` mode it bounds the whole
        message, not each piece.

        The default on a :class:`~trio_sockets.MessageWebSocket` is ``0xFFFFFFFF``,
        WinRT's ``INFINITE``: no limit, so a server can make the socket hold as much as
        it sends (with ``permessage_deflate``, about a thousand times that); set a bound
        for a server you do not trust. On a
        :class:`~trio_sockets.ServerMessageWebSocket` it is 1 MiB (1,048,576, as in
        ``websockets`` and trio-websocket), so that no client can make a server
        hold more unless the application raises it. A frame header whose 64-bit length
        has its top bit set (RFC 6455 forbids it) is refused with 1009 at any setting."""
        return self._max_message_size

    @max_message_size.setter
    def max_message_size(self, value: int) -> None:
        self._refuse_late("max_message_size")
        self._max_message_size = check_int("max_message_size", value, 1, UNLIMITED)

    @property
    def receive_mode(self) -> MessageWebSocketReceiveMode:
        """``FULL_MESSAGE`` (default): one event per message. ``PARTIAL_MESSAGE``: an event
        for each piece as it arrives, the last with ``is_message_complete`` true."""
        return self._receive_mode

    @receive_mode.setter
    def receive_mode(self, value: MessageWebSocketReceiveMode) -> None:
        self._refuse_late("receive_mode")
        self._receive_mode = check_enum("receive_mode", value, MessageWebSocketReceiveMode)


class MessageWebSocketControl(WebSocketControl, _MessageSettings):
    """The settings of a :class:`~trio_sockets.MessageWebSocket` (WinRT
    ``MessageWebSocketControl``).

    Only :attr:`message_type` may change once connected; the other setters raise
    :class:`RuntimeError` then (``outbound_buffer_size_in_bytes`` is accepted and has no
    effect, as in WinRT). Bad values raise :class:`TypeError` or :class:`ValueError`
    naming the setter and the value.

    The TLS members (``ignorable_server_certificate_errors``, ``client_certificate``,
    ``trusted_certificates``) are those of :class:`~trio_sockets.StreamSocketControl`,
    with the same rules: they apply to ``wss://`` connections.
    """


class _NoDelay(SessionControl):
    """The TCP setting and the frame bound of both StreamWebSocket kinds."""

    def _init_stream(self) -> None:  # a byte stream takes each piece as it arrives
        self._receive_mode = MessageWebSocketReceiveMode.PARTIAL_MESSAGE
        self._max_frame_size = DEFAULT_MAX_FRAME_SIZE

    @property
    def max_frame_size(self) -> int:
        """The largest frame accepted, in bytes once inflated (default 1 MiB; not in
        WinRT). A frame is held whole until it has arrived, so this bounds what a peer
        makes the socket hold; a larger one closes the connection with 1009 and the
        stream fails with ``REQUEST_ENTITY_TOO_LARGE``. Messages are unbounded (their
        frames are delivered as they arrive); this socket sends frames of 1 MiB at most."""
        return self._max_frame_size or DEFAULT_MAX_FRAME_SIZE

    @max_frame_size.setter
    def max_frame_size(self, value: int) -> None:
        self._refuse_late("max_frame_size")
        self._max_frame_size = check_int("max_frame_size", value, 1, UNLIMITED)

    @property
    def no_delay(self) -> bool:
        """Disable Nagle's algorithm (``TCP_NODELAY``); default True, as in WinRT."""
        return self._socket_control.no_delay

    @no_delay.setter
    def no_delay(self, value: bool) -> None:
        self._refuse_late("no_delay")
        self._socket_control.no_delay = value


class StreamWebSocketControl(WebSocketControl, _NoDelay):
    """The settings of a :class:`~trio_sockets.StreamWebSocket` (WinRT
    ``StreamWebSocketControl``): all of them are set before ``connect()``.

    The TLS members are those of :class:`~trio_sockets.StreamSocketControl`, with the
    same rules.
    """

    def __init__(self, socket_control: StreamSocketControl) -> None:
        super().__init__(socket_control)
        self._init_stream()


class ServerMessageWebSocketControl(_MessageSettings):
    """The settings of a :class:`~trio_sockets.ServerMessageWebSocket` (WinRT
    ``ServerMessageWebSocketControl``, whose only member is ``MessageType``; the others
    are the creation parameters Device Portal takes, and the session settings). Only
    :attr:`message_type` may change once accepted."""

    def __init__(self, socket_control: StreamSocketControl) -> None:
        super().__init__(socket_control)
        # A server takes messages from clients it does not know: bounded by default.
        self._max_message_size = DEFAULT_SERVER_MAX_MESSAGE_SIZE


class ServerStreamWebSocketControl(_NoDelay):
    """The settings of a :class:`~trio_sockets.ServerStreamWebSocket` (WinRT has none:
    ``no_delay`` is a creation parameter there), set before ``accept()``."""

    def __init__(self, socket_control: StreamSocketControl) -> None:
        super().__init__(socket_control)
        self._init_stream()


# -- what the WebSocket reads from its control -----------------------------------------


def opening_settings(control: SessionControl) -> OpeningSettings:
    """The frozen settings of the protocol of a connection opening under *control*."""
    size = control._max_message_size
    return OpeningSettings(
        # The protocol bounds what a frame inflates to as well (zlib's max_length).
        # "No limit" is the largest length RFC 6455 allows: websockets then refuses a
        # header whose 64-bit length has the top bit set, which the RFC forbids.
        max_size=(_LARGEST_LENGTH if size == UNLIMITED else size, control._max_frame_size),
        deflate_window_bits=control._deflate_max_window_bits
        if control._permessage_deflate
        else None,
    )


def offered_subprotocols(control: WebSocketControl) -> tuple[str, ...]:
    """The subprotocols a connect offers, read when it starts.

    Raises:
        TypeError / ValueError: an entry that is not an HTTP token (named).
    """
    return tuple(_check_subprotocol(p) for p in control._supported_protocols)


def use_socket_control(control: WebSocketControl, socket_control: StreamSocketControl) -> None:
    """Move the TLS and buffer settings onto the control of a fresh StreamSocket, which
    carries the next connect."""
    old = control._socket_control
    socket_control.ignorable_server_certificate_errors = set(
        old.ignorable_server_certificate_errors
    )
    socket_control.client_certificate = old.client_certificate
    socket_control.trusted_certificates = list(old.trusted_certificates)
    socket_control.outbound_buffer_size_in_bytes = old.outbound_buffer_size_in_bytes
    socket_control.no_delay = old.no_delay
    control._socket_control = socket_control


def mark_connected(control: SessionControl) -> None:
    """The opening handshake succeeded: the settings that steer it can no longer change."""
    control._connected = True


def message_type_of(control: SessionControl) -> SocketMessageType:
    """The type of the next message sent (it may change at any time; a stream WebSocket
    sends binary messages only)."""
    return control._message_type


def receive_mode_of(control: SessionControl) -> MessageWebSocketReceiveMode:
    """How received messages are delivered (fixed once connected)."""
    return control._receive_mode
