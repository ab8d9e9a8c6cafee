"""What the WebSocket classes deliver through their channels: received messages (or
pieces of them) and the closing handshake."""

from __future__ import annotations

from .._core.enums import SocketMessageType
from .._core.web_errors import WebSocketStatusError
from .._data.bytes_stream import BytesInputStream
from .._data.interfaces import InputStream
from .._data.reader import DataReader, ReceivedMessageReader
from .._data.stream_owner import is_closed

__all__ = [
    "EVENT_COST",
    "MessageWebSocketMessageReceivedEventArgs",
    "WebSocketClosedEventArgs",
    "queued_size",
]

#: What a received event counts for in a queue besides its data, so that empty messages
#: (and failures) are bounded too.
EVENT_COST = 256


class MessageWebSocketMessageReceivedEventArgs:
    """A received message, or a piece of one (WinRT
    ``MessageWebSocketMessageReceivedEventArgs``).

    The data is already loaded: ``args.get_data_reader()`` returns a
    :class:`~trio_sockets.DataReader` whose ``unconsumed_buffer_length`` is the size, so
    ``reader.read_string(reader.unconsumed_buffer_length)`` works without ``load``. In
    ``PARTIAL_MESSAGE`` mode a piece of a ``UTF8`` message always ends on a character
    boundary: a character split between frames is delivered whole with the next piece.

    A failure of the connection (abrupt loss, a message over ``max_message_size``,
    invalid data from the server, an unanswered keepalive), or the loss of a message
    the peer's close frame came in the middle of (``DISCONNECTED``, with its close code
    and reason; ``closed`` has the close), arrives as args whose
    :meth:`get_data_reader` and :meth:`get_data_stream` raise it, a
    :class:`~trio_sockets.WebSocketStatusError` classified by
    :meth:`WebSocketError.get_status <trio_sockets.WebSocketError.get_status>`; it is the
    last event of the channel.
    """

    __slots__ = ("_complete", "_data", "_error", "_message_type", "_reader")

    def __init__(
        self,
        message_type: SocketMessageType,
        data: bytes,
        *,
        complete: bool = True,
        error: WebSocketStatusError | None = None,
    ) -> None:
        self._message_type = message_type
        self._data = data
        self._complete = complete
        self._error = error
        self._reader: DataReader | None = None

    def __repr__(self) -> str:
        if self._error is not None:
            return f"<MessageReceived error {self._error}>"
        piece = "" if self._complete else " (partial)"
        return f"<MessageReceived {self._message_type.name} {len(self._data)} bytes{piece}>"

    @property
    def message_type(self) -> SocketMessageType:
        """``UTF8`` for a text message, ``BINARY`` for a binary one (informative only)."""
        return self._message_type

    @property
    def is_message_complete(self) -> bool:
        """True for a whole message, and for the last piece of one in ``PARTIAL_MESSAGE``
        mode (WinRT ``IsMessageComplete``)."""
        return self._complete

    @property
    def error(self) -> WebSocketStatusError | None:
        """The failure this event reports, or ``None`` for data."""
        return self._error

    @property
    def data(self) -> bytes:
        """The bytes of the message or piece (raises the event's failure, as
        :meth:`get_data_reader` does)."""
        if self._error is not None:
            raise self._error
        return self._data

    def get_data_reader(self) -> DataReader:
        """A :class:`~trio_sockets.DataReader` over the data (WinRT ``GetDataReader``).

        Calling it again returns the same reader, so reads go on where the previous call
        left off, as in WinRT (one reader per message); once that reader is closed, a
        new one starts from the beginning (as a datagram's does).

        Raises:
            WebSocketStatusError: the failure this event reports.
        """
        if self._error is not None:
            raise self._error
        reader = self._reader
        if reader is None or is_closed(reader):
            reader = self._reader = ReceivedMessageReader(self._data)
        return reader

    def get_data_stream(self) -> InputStream:
        """The data as an input stream (WinRT ``GetDataStream``); a new stream from the
        start on each call.

        Raises:
            WebSocketStatusError: the failure this event reports.
        """
        if self._error is not None:
            raise self._error
        return BytesInputStream(self._data, "message")


def queued_size(args: MessageWebSocketMessageReceivedEventArgs) -> int:
    """What *args* counts for while it waits for the application: its bytes, and
    :data:`EVENT_COST`."""
    return len(args._data) + EVENT_COST


class WebSocketClosedEventArgs:
    """The closing handshake (WinRT ``WebSocketClosedEventArgs``): the close code and
    reason of the peer's close frame (1005 and ``""`` for an empty one), or, when this
    side closed and the peer did not answer in time, the ones this side sent."""

    __slots__ = ("_code", "_reason")

    def __init__(self, code: int, reason: str) -> None:
        self._code = code
        self._reason = reason

    def __repr__(self) -> str:
        return f"WebSocketClosedEventArgs(code={self._code}, reason={self._reason!r})"

    @property
    def code(self) -> int:
        """The close code (WinRT ``Code``)."""
        return self._code

    @property
    def reason(self) -> str:
        """The close reason (WinRT ``Reason``), ``""`` if none."""
        return self._reason
