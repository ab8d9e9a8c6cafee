"""MessageWebSocket: a WebSocket client of whole messages (or pieces), WinRT's
``MessageWebSocket``."""

from __future__ import annotations

from typing import TypeVar

from .._data.interfaces import OutputStream
from .._io.resolver import Resolver
from .._sockets.stream_socket import StreamSocket
from .base import WebSocketBase
from .channel import WebSocketMessageChannel
from .client import WebSocketClient
from .control import MessageWebSocketControl, ServerMessageWebSocketControl, SessionControl
from .information import (
    MessageWebSocketInformation,
    ServerMessageWebSocketInformation,
    SessionInformation,
)
from .receiving import DEFAULT_MESSAGE_QUEUE_SIZE
from .sending import MessageOutputStream
from .server import WebSocketServerRole, accepted_socket

_Control = TypeVar("_Control", bound=SessionControl)
_Information = TypeVar("_Information", bound=SessionInformation)

__all__ = ["MessageMembers", "MessageWebSocket", "ServerMessageWebSocket"]


class MessageMembers(WebSocketBase[_Control, _Information]):
    """The message members of MessageWebSocket and ServerMessageWebSocket."""

    _output: MessageOutputStream

    @property
    def output_stream(self) -> OutputStream:
        """The output stream (WinRT ``OutputStream``): each ``write()`` sends one message
        of ``control.message_type``; ``flush()`` waits until every write has been sent."""
        return self._output

    @property
    def message_received(self) -> WebSocketMessageChannel:
        """Received messages, or pieces in ``PARTIAL_MESSAGE`` mode (WinRT
        ``MessageReceived``). It exists from construction, so nothing is missed; it ends
        after the last message once the connection has closed, and messages that came
        before a remote close stay readable. A failure of the connection is its last
        event, whose ``get_data_reader()`` raises it."""
        return self._receiver.message_channel

    async def send_nonfinal_frame(self, data: bytes | bytearray | memoryview) -> int:
        """Send *data* as a frame of a message that goes on (FIN=0; WinRT
        ``SendNonfinalFrameAsync``). The first frame gives the message its type, from
        ``control.message_type``. Returns the number of bytes of *data* sent.

        Raises:
            TypeError: *data* is not bytes-like.
            ValueError: a ``UTF8`` message whose bytes so far are not valid UTF-8;
                the frame was not sent, and the message goes on as it was.
            RuntimeError: not connected yet.
            BufferError: the frame is too big for the connection's output ever to
                take (its ``max_pending_bytes``); nothing was sent. (A frame that
                only has to wait for earlier writes waits.)
            WebSocketStatusError: the connection failed or closed (its status).

        Cancellation: the frame may have been sent or not; it is never sent in part.
        """
        return await self._sender.send_when_room(data, False, "send_nonfinal_frame()")

    async def send_final_frame(self, data: bytes | bytearray | memoryview) -> int:
        """Send *data* as the last frame of a message (FIN=1; WinRT
        ``SendFinalFrameAsync``); alone, it is a whole message. Raises as
        :meth:`send_nonfinal_frame`."""
        return await self._sender.send_when_room(data, True, "send_final_frame()")


class MessageWebSocket(
    WebSocketClient[MessageWebSocketControl, MessageWebSocketInformation],
    MessageMembers[MessageWebSocketControl, MessageWebSocketInformation],
):
    """A WebSocket client of messages (WinRT ``MessageWebSocket``).

    Use it as ``async with MessageWebSocket() as ws:``: the reader and keepalive run in
    its own nursery and end with the block. Set ``control`` and request headers, then
    ``await ws.connect("wss://host/path")``; receive with ``async for args in
    ws.message_received``; send with ``await ws.output_stream.write(data)`` (one
    message of ``control.message_type`` per write) or frame by frame with
    :meth:`send_nonfinal_frame` / :meth:`send_final_frame`; close with
    ``await ws.aclose(code, reason)``. ``closed`` delivers the closing handshake.

    *message_queue_size* bounds ``message_received`` (events; default 16). When the
    consumer falls behind, the socket goes on reading, answering the pings and close
    frames among them, until the messages not yet taken (in the channel and beyond it)
    hold more than 4 MiB, the one that crosses it queued whole, and then stops reading
    from the connection (TCP then slows the server down). Leaving the block
    closes the WebSocket (with the closing handshake, bounded by
    ``control.close_timeout``); leaving it with an exception closes the connection at
    once.
    """

    def __init__(
        self,
        *,
        resolver: Resolver | None = None,
        message_queue_size: int = DEFAULT_MESSAGE_QUEUE_SIZE,
    ) -> None:
        super().__init__(
            MessageWebSocketControl,
            MessageWebSocketInformation,
            StreamSocket(resolver=resolver),
            message_queue_size=message_queue_size,
        )
        self._init_client(resolver)
        self._output = MessageOutputStream(self._sender)


class ServerMessageWebSocket(
    WebSocketServerRole[ServerMessageWebSocketControl, ServerMessageWebSocketInformation],
    MessageMembers[ServerMessageWebSocketControl, ServerMessageWebSocketInformation],
):
    """The server side of a message WebSocket, made from a connection a
    :class:`~trio_sockets.StreamSocketListener` accepted (WinRT's
    ``ServerMessageWebSocket``, which only Windows Device Portal can create: this
    constructor is an extension).

    ``async with ServerMessageWebSocket(args.socket) as ws:`` takes over the accepted
    socket (plain or TLS). ``request = await ws.receive_request()`` reads the client's
    opening request (path, headers, offered subprotocols); then ``await
    ws.accept(protocol, headers)`` or ``await ws.reject(404)``. Once accepted it has
    the members of a :class:`~trio_sockets.MessageWebSocket` that do not connect:
    ``output_stream``, the frame methods, ``message_received``, ``closed``,
    ``aclose()``. *message_queue_size* bounds ``message_received`` as there.
    """

    def __init__(
        self, socket: StreamSocket, *, message_queue_size: int = DEFAULT_MESSAGE_QUEUE_SIZE
    ) -> None:
        super().__init__(
            ServerMessageWebSocketControl,
            ServerMessageWebSocketInformation,
            accepted_socket(socket),
            message_queue_size=message_queue_size,
        )
        self._init_server()
        self._output = MessageOutputStream(self._sender)
