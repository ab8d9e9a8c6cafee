"""The sender of a WebSocket session: messages and frames, flushing, and the output
streams of both kinds of WebSocket over it. The sender knows its WebSocket only through
the :class:`~.session.Session` it is given."""

from __future__ import annotations

import codecs
from collections.abc import Awaitable, Callable, Generator
from typing import Any

import trio

from .._core.checks import describe, shown
from .._core.enums import SocketMessageType
from .._core.web_errors import WebSocketStatusError
from .._data.interfaces import OutputStream, WriteOperationLike
from .control import message_type_of
from .session import Session

__all__ = ["MessageOutputStream", "MessageWriteOperation", "Sender", "WebSocketOutputStream"]


class Sender:
    """Sending on a session: whole messages, frame by frame, flushing."""

    def __init__(self, session: Session[Any, Any]) -> None:
        self._session = session
        self._control = session.control
        self._check_open = session.check_open
        self._write_pending = session.write_pending
        self._error_from = session.error_from
        # The connection's, from start() on (a client's changes with each connect).
        self._socket = session.socket
        # The message being sent frame by frame, and its UTF-8 check.
        self._sending_type: SocketMessageType | None = None
        self._send_decoder: codecs.IncrementalDecoder | None = None

    def start(self) -> None:
        """The opening handshake succeeded: send on this connection."""
        self._socket = self._session.socket

    def send(self, data: object, fin: bool, what: str) -> MessageWriteOperation:
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"{what} takes bytes, bytearray or memoryview, not {describe(data)}")
        payload = bytes(data)
        protocol = self._check_open(what)
        continuing = self._sending_type is not None
        message_type = self._sending_type if continuing else message_type_of(self._control)
        assert message_type is not None
        if message_type is SocketMessageType.UTF8:
            if self._send_decoder is None:
                self._send_decoder = codecs.getincrementaldecoder("utf-8")()
            try:
                self._send_decoder.decode(payload, final=fin)
            except UnicodeDecodeError as exc:
                self._send_decoder.reset()
                raise ValueError(
                    f"{what}: a UTF8 message must be valid UTF-8 ({exc.reason} at byte "
                    f"{exc.start}): {shown(payload)}"
                ) from None
        if continuing:
            protocol.send_continuation(payload, fin=fin)
        elif message_type is SocketMessageType.UTF8:
            protocol.send_text(payload, fin=fin)
        else:
            protocol.send_binary(payload, fin=fin)
        self._sending_type = None if fin else message_type
        if fin:
            self._send_decoder = None
        try:
            operation = self._write_pending(raising=True)
        except (OSError, trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            raise self._error_from(exc, what) from exc
        return MessageWriteOperation(self._error_from, operation, len(payload), what)

    def write_message(self, data: object) -> MessageWriteOperation:
        if self._sending_type is not None:
            raise RuntimeError(
                "write(): a message sent with send_nonfinal_frame() is under way; end it "
                "with send_final_frame() first"
            )
        return self.send(data, True, "write()")

    async def flush(self) -> None:
        self._check_open("flush()")
        try:
            await self._socket.output_stream.flush()
        except (OSError, trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            raise self._error_from(exc, "flush()") from exc


class MessageWriteOperation(WriteOperationLike):
    """A message write under way; awaiting it gives the message's size in bytes once
    the connection has taken it, or raises its failure (a WebSocketStatusError)."""

    __slots__ = ("_operation", "_size", "_translate", "_what")

    def __init__(
        self,
        translate: Callable[[BaseException, str], WebSocketStatusError],
        operation: WriteOperationLike | None,
        size: int,
        what: str,
    ) -> None:
        # The session's translation of a connection failure into its WebSocket error.
        self._translate = translate
        self._operation = operation
        self._size = size
        self._what = what

    @property
    def done(self) -> bool:
        """True once the connection has taken the message (or failed to)."""
        return self._operation is None or self._operation.done

    def __await__(self) -> Generator[Any, None, int]:
        return self._wait().__await__()

    async def _wait(self) -> int:
        if self._operation is None:
            await trio.lowlevel.checkpoint()
            return self._size
        try:
            await self._operation
        except (OSError, trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            raise self._translate(exc, self._what) from exc
        return self._size


class MessageOutputStream(OutputStream):
    """``MessageWebSocket.output_stream``: each write is one message."""

    def __init__(self, owner: Sender, close: Callable[[], Awaitable[None]]) -> None:
        self._owner = owner
        self._close = close

    def write(self, data: bytes | bytearray | memoryview) -> MessageWriteOperation:
        """Send *data* as one message of ``control.message_type``, starting at once.

        The data is copied. Await the result for the message's size once sent.

        Raises:
            TypeError: *data* is not bytes-like.
            ValueError: a ``UTF8`` message that is not valid UTF-8.
            RuntimeError: not connected yet, or a message sent frame by frame is under way.
            WebSocketStatusError: the connection failed or closed (its status; after
                this side closed it, ``OPERATION_CANCELED``, also a
                :class:`trio.ClosedResourceError`).
        """
        return self._owner.write_message(data)

    async def flush(self) -> bool:
        """Wait until every message written so far has been sent; returns True.

        Raises:
            RuntimeError: not connected yet (WinRT ``E_ILLEGAL_METHOD_CALL``).
            WebSocketStatusError: a write failed, or the WebSocket is closed.

        Cancellation: the messages are still sent in the background.
        """
        await self._owner.flush()
        return True

    async def aclose(self) -> None:
        """Close the WebSocket, as ``MessageWebSocket.aclose()`` does."""
        await self._close()


class WebSocketOutputStream(OutputStream):
    """``StreamWebSocket.output_stream``: each write is one binary message."""

    def __init__(self, owner: Sender, close: Callable[[], Awaitable[None]]) -> None:
        self._owner = owner
        self._close = close

    def write(self, data: bytes | bytearray | memoryview) -> MessageWriteOperation:
        """Send *data* as one binary message, starting at once; await the result for
        its size once sent. Raises as :meth:`StreamWebSocket.send_all` does."""
        return self._owner.send(data, True, "write()")

    async def flush(self) -> bool:
        """Wait until every write so far has been sent; returns True.

        Raises:
            RuntimeError: not connected yet.
            WebSocketStatusError: a write failed, or the WebSocket is closed.
        """
        await self._owner.flush()
        return True

    async def aclose(self) -> None:
        """Close the WebSocket, as ``StreamWebSocket.aclose()`` does."""
        await self._close()
