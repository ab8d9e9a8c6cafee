"""StreamWebSocket: a WebSocket client carrying a byte stream (WinRT
``StreamWebSocket``), also a :class:`trio.abc.Stream`.

Each ``send_all`` or ``output_stream.write`` is one binary message; received messages
are read as one stream of bytes, piece by piece as their frames arrive (a text message's
bytes included: WinRT leaves that case open, and dropping data would be worse).
"""

from __future__ import annotations

from typing import Any, TypeVar

import trio

from .._core.checks import check_int
from .._core.codec import check_input_stream_options
from .._core.enums import InputStreamOptions
from .._core.web_errors import WebSocketStatusError, web_socket_error
from .._data.interfaces import InputStream, OutputStream
from .._io.resolver import Resolver
from .._sockets.stream_socket import StreamSocket
from .base import WebSocketBase
from .client import WebSocketClient
from .control import (
    DEFAULT_MAX_FRAME_SIZE,
    ServerStreamWebSocketControl,
    SessionControl,
    StreamWebSocketControl,
)
from .information import (
    ServerStreamWebSocketInformation,
    SessionInformation,
    StreamWebSocketInformation,
)
from .sending import WebSocketOutputStream
from .server import WebSocketServerRole, accepted_socket
from .session import Args

_Control = TypeVar("_Control", bound=SessionControl)
_Information = TypeVar("_Information", bound=SessionInformation)

__all__ = [
    "ServerStreamWebSocket",
    "StreamMembers",
    "StreamWebSocket",
    "WebSocketInputStream",
]

#: What ``receive_some()`` returns at most without a size.
DEFAULT_RECEIVE_SIZE = 64 * 1024


class StreamMembers(WebSocketBase[_Control, _Information], trio.abc.Stream):
    """The byte-stream members of StreamWebSocket and ServerStreamWebSocket."""

    def _init_stream(self) -> None:
        self._buffer = bytearray()
        self._eof = False
        self._error: WebSocketStatusError | None = None
        self._receiving = False
        self._sending = False
        # The input stream's own handle on the received messages while a read goes
        # through it, waited on instead of the receiver's: closing the stream closes it,
        # which ends that wait at once (a cancel scope per wait would cost more).
        self._read_through: trio.MemoryReceiveChannel[Args] | None = None
        self._input = WebSocketInputStream(self, self._receiver.messages.clone())
        self._output = WebSocketOutputStream(self._sender)
        # What a peer of the same kind accepts by default, whatever this side accepts.
        self._sender.max_frame = DEFAULT_MAX_FRAME_SIZE

    @property
    def input_stream(self) -> InputStream:
        """The received bytes as an input stream (WinRT ``InputStream``)."""
        return self._input

    @property
    def output_stream(self) -> OutputStream:
        """The output stream (WinRT ``OutputStream``): each ``write()`` is one binary
        message; ``flush()`` waits until every write has been sent."""
        return self._output

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        """Send *data* as one binary message, waiting for room in the connection's
        output. Data more than the output can ever hold at once (its
        ``max_pending_bytes``, 64 MiB, less room kept for control frames) goes in pieces
        of whole frames, each sent before the next is made, so any size is sent and
        what waits in the output stays bounded.

        Raises:
            TypeError: *data* is not bytes-like.
            RuntimeError: not connected yet.
            trio.BusyResourceError: another task is sending.
            BufferError: only for an output bound too small for one frame of it; nothing
                was sent.
            WebSocketStatusError: the connection failed or closed (its status); also a
                :class:`trio.BrokenResourceError`, or once this side began closing
                it (another task's ``aclose()`` included) a
                :class:`trio.ClosedResourceError`.

        Cancellation: data the output can hold at once may have been sent or not,
        never in part; larger data may have been sent in part, and the message then
        stays open: the next send goes on with it, so the peer's bytes stay in order.
        """
        if self._sending:
            raise trio.BusyResourceError("another task is sending on this WebSocket")
        self._sending = True
        try:
            await self._sender.send_stream(data, "send_all()")
        finally:
            self._sending = False

    async def wait_send_all_might_not_block(self) -> None:
        """Wait until what was sent so far has left (as ``output_stream.flush()``).

        Raises as :meth:`send_all` does.
        """
        if self._sending:
            raise trio.BusyResourceError("another task is sending on this WebSocket")
        self._sending = True
        try:
            await self._sender.flush()
        finally:
            self._sending = False

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        """Receive at most *max_bytes* (default 64 KiB) of the messages received;
        ``b""`` once the peer closed the connection (after everything it sent). A peer's
        close frame in the middle of a message raises instead (``DISCONNECTED``, with
        its code and reason), once the bytes of the message that came are read.

        Raises:
            TypeError / ValueError: *max_bytes* is not an int of 1 or more (named).
            RuntimeError: not connected yet.
            trio.BusyResourceError: another task is receiving.
            WebSocketStatusError: the connection failed (its status; also a
                :class:`trio.BrokenResourceError`), or this side closed the socket
                (also a :class:`trio.ClosedResourceError`).

        Cancellation: nothing is lost; the bytes stay for the next call.
        """
        if max_bytes is None:
            max_bytes = DEFAULT_RECEIVE_SIZE
        else:
            check_int("max_bytes", max_bytes, 1)
        if self._receiving:
            raise trio.BusyResourceError("another task is receiving on this WebSocket")
        self._session.check_connected("receive_some()")
        self._receiving = True
        try:
            if self._buffer:
                await trio.lowlevel.checkpoint_if_cancelled()
                data = bytes(self._buffer[:max_bytes])
                del self._buffer[:max_bytes]
                await trio.lowlevel.cancel_shielded_checkpoint()
                return data
            while not self._buffer:
                if self._error is not None:
                    raise web_socket_error(
                        self._error.status,
                        f"receive_some(): {self._error.message}",
                        close_code=self._error.close_code,
                        close_reason=self._error.close_reason,
                        broken=True,
                    ) from self._error
                if self._eof:
                    await trio.lowlevel.checkpoint()
                    return b""
                messages = self._read_through
                if messages is None:
                    messages = self._receiver.messages
                try:
                    args = await messages.receive()
                except trio.EndOfChannel:
                    self._session.check_connected("receive_some()")  # a local close ends it too
                    self._eof = True
                    continue
                self._receiver.untaken.taken(args)
                if args.error is not None:
                    self._error = args.error
                    continue
                self._buffer += args.data
            data = bytes(self._buffer[:max_bytes])
            del self._buffer[:max_bytes]
            return data
        finally:
            self._receiving = False


class StreamWebSocket(
    WebSocketClient[StreamWebSocketControl, StreamWebSocketInformation],
    StreamMembers[StreamWebSocketControl, StreamWebSocketInformation],
):
    """A WebSocket client of bytes (WinRT ``StreamWebSocket``), and a
    :class:`trio.abc.Stream`.

    Use it as ``async with StreamWebSocket() as ws:``, then
    ``await ws.connect("ws://host/path")``. Send with ``await ws.send_all(data)`` or
    ``ws.output_stream`` (a :class:`~trio_sockets.DataWriter` works over it): each is
    one binary message. Receive with ``await ws.receive_some()`` or ``ws.input_stream``
    (a :class:`~trio_sockets.DataReader`): the bytes of every message received, in
    order, as they arrive; ``b""`` once the peer has closed. ``closed`` delivers the
    closing handshake; ``await ws.aclose(code, reason)`` closes, bounded by
    ``control.close_timeout``. Connecting, TLS, keepalive and errors are those of
    :class:`~trio_sockets.MessageWebSocket`.
    """

    def __init__(self, *, resolver: Resolver | None = None) -> None:
        super().__init__(
            StreamWebSocketControl, StreamWebSocketInformation, StreamSocket(resolver=resolver)
        )
        self._init_client(resolver)
        self._init_stream()


class ServerStreamWebSocket(
    WebSocketServerRole[ServerStreamWebSocketControl, ServerStreamWebSocketInformation],
    StreamMembers[ServerStreamWebSocketControl, ServerStreamWebSocketInformation],
):
    """The server side of a byte-stream WebSocket, made from a connection a
    :class:`~trio_sockets.StreamSocketListener` accepted (WinRT's
    ``ServerStreamWebSocket``, which only Windows Device Portal can create: this
    constructor is an extension).

    ``receive_request()``, then ``accept()`` or ``reject()``, as on
    :class:`~trio_sockets.ServerMessageWebSocket`; once accepted it is a
    :class:`trio.abc.Stream` with the stream members of
    :class:`~trio_sockets.StreamWebSocket`.
    """

    def __init__(self, socket: StreamSocket) -> None:
        super().__init__(
            ServerStreamWebSocketControl,
            ServerStreamWebSocketInformation,
            accepted_socket(socket),
        )
        self._init_server()
        self._init_stream()


class WebSocketInputStream(InputStream):
    """``StreamWebSocket.input_stream``: the received bytes."""

    __slots__ = ("_closed", "_messages", "_owner")

    def __init__(
        self, owner: StreamMembers[Any, Any], messages: trio.MemoryReceiveChannel[Args]
    ) -> None:
        self._owner = owner
        self._closed = False
        # Its own handle on the received messages (see StreamMembers._read_through).
        self._messages = messages

    async def read(
        self, count: int, options: InputStreamOptions = InputStreamOptions.NONE
    ) -> bytes:
        """Read up to *count* bytes: with ``InputStreamOptions.NONE`` until there are
        *count* or the stream ended, with ``PARTIAL`` as soon as there are any; ``b""``
        at the end.

        Raises as :meth:`StreamWebSocket.receive_some` does, and
        :exc:`trio.ClosedResourceError` once this stream is closed (a read under way
        when it closes ends at once, its bytes kept for ``receive_some``).
        Cancellation: nothing is lost; bytes a ``NONE`` read received before the
        cancellation (or a failure) stay for the next read.
        """
        if self._closed:
            raise trio.ClosedResourceError("this input stream was closed")
        check_int("count", count, 0)
        check_input_stream_options(options, "options")
        if count == 0:
            await trio.lowlevel.checkpoint()
            return b""
        owner = self._owner
        partial = options & InputStreamOptions.PARTIAL
        parts: list[bytes] = []
        got = 0
        # Set for the whole read, nothing else receiving meanwhile; put back as it was,
        # for a read refused because another task's read (or receive_some) is under way.
        through = owner._read_through
        owner._read_through = self._messages
        try:
            while True:
                try:
                    data = await owner.receive_some(count - got)
                except trio.ClosedResourceError:
                    if self._closed_meanwhile():  # aclose() closed the handle it waited on
                        raise self._closed_during_read() from None
                    raise
                if self._closed_meanwhile():  # closed as it returned: the bytes stay
                    parts.append(data)
                    raise self._closed_during_read()
                if partial:
                    return data
                if not data:
                    break
                parts.append(data)
                got += len(data)
                if got >= count:
                    break
        except BaseException:
            # Whatever arrived before the cancellation, failure or close stays readable.
            owner._buffer[:0] = b"".join(parts)
            raise
        finally:
            owner._read_through = through
        return b"".join(parts)

    def _closed_meanwhile(self) -> bool:
        """Whether this stream was closed while a read awaited (a call, where the read
        checks the attribute again: type checkers take it for what it was before)."""
        return self._closed

    @staticmethod
    def _closed_during_read() -> trio.ClosedResourceError:
        return trio.ClosedResourceError(
            "input_stream.read(): the input stream of this WebSocket was closed during the read"
        )

    async def aclose(self) -> None:
        """Stop reading through this stream object, as a ``StreamSocket``'s input stream
        does: a read under way through it ends at once, it and later reads raising
        :exc:`trio.ClosedResourceError`. The WebSocket stays open (close it with its
        own ``aclose()``), and the bytes received and not yet read stay its own:
        ``receive_some()`` reads them."""
        self._closed = True
        self._messages.close()  # wakes a read waiting through it
        await trio.lowlevel.checkpoint()
