"""A WebSocket echo service on an accepted connection: what ``trio-sockets echo-server
--websocket`` and :class:`trio_sockets.testing.WebSocketEchoServer` serve."""

from __future__ import annotations

from dataclasses import dataclass

from .._core.web_errors import WebSocketStatusError
from .._io.output import DEFAULT_MAX_PENDING_BYTES
from .._sockets.stream_socket import StreamSocket
from .message_socket import ServerMessageWebSocket
from .sending import largest_payload

__all__ = ["EchoCounts", "echo_messages"]


@dataclass
class EchoCounts:
    """What an echo service sent back: messages, and the bytes of their payloads; and
    the messages a client's close frame came in the middle of (dropped: not messages)."""

    messages: int = 0
    bytes: int = 0
    cut: int = 0


async def echo_messages(sock: StreamSocket, counts: EchoCounts) -> int | None:
    """Accept the WebSocket request on *sock* (any path, no subprotocol) and send each
    message back with its type until the client closes; *counts* grows as messages go
    back, each counted by the time the client can read it. Returns the client's close
    code (1005 for a close frame without one), or ``None`` when this side ended the
    connection.

    Messages still queued when the client's close frame arrived cannot be answered any
    more (the close was answered at once); they are read and dropped. A close frame in
    the middle of a message (RFC 6455 allows it) is the client's close all the same: the
    unfinished message is dropped and counted in ``counts.cut``. A message too big
    for the connection's output ever to take back (``max_pending_bytes``, 64 MiB less
    the room kept for control frames) is refused as it arrives: its frame header, or
    the frame that takes it past that size, closes the connection with 1009.

    Raises:
        WebSocketStatusError: the handshake failed, or the connection did (its status).

    Cancellation: the connection is closed at once.
    """
    async with ServerMessageWebSocket(sock) as ws:
        # What the connection's output can take back (it keeps its default bound).
        ws.control.max_message_size = largest_payload(
            DEFAULT_MAX_PENDING_BYTES, ws.control.permessage_deflate
        )
        await ws.receive_request()
        await ws.accept()
        async for args in ws.message_received:
            try:
                data = args.data
            except WebSocketStatusError:
                if ws.closed.statistics().current_buffer_used:
                    counts.cut += 1  # the client's close came inside this message
                    break
                # The connection failed (a message too big, refused as it arrived):
                # close as aclose() does, so that the client reads the close frame
                # before the connection ends, rather than a reset.
                await ws.aclose()
                raise
            ws.control.message_type = args.message_type
            try:
                await _send_counted(ws, data, counts)
            except BufferError:
                await ws.aclose(1009, "message too big to echo")
                return None
            except WebSocketStatusError:
                if ws.closed.statistics().current_buffer_used:
                    continue  # the client closed first: nowhere to send it
                raise
        async for closed in ws.closed:
            return closed.code
    return None


async def _send_counted(ws: ServerMessageWebSocket, data: bytes, counts: EchoCounts) -> None:
    """Send *data* back as one message, counted before it goes: the client may read it
    before this task runs again, and must find it counted. A send that fails is taken
    back out of *counts*."""
    counts.messages += 1
    counts.bytes += len(data)
    try:
        # As a write, but waiting for room rather than refused for the bound.
        await ws.send_final_frame(data)
    except BaseException:
        counts.messages -= 1
        counts.bytes -= len(data)
        raise
