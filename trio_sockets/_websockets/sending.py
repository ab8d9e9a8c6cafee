"""The sender of a WebSocket session: messages and frames, flushing, and the output
streams of both kinds of WebSocket over it. The sender knows its WebSocket only through
the :class:`~.session.Session` it is given.

A message is refused (:exc:`BufferError`) before the protocol encodes it unless its
framed size, at most, fits in the connection's output with the session's reserve for
control frames left over: once encoded it cannot be taken back, since permessage-deflate
has already compressed it into the context of the messages after it. The awaited sends
wait for that room instead.
"""

from __future__ import annotations

import codecs
import contextlib
import sys
from collections.abc import Callable, Generator
from typing import Any

import trio
from websockets.protocol import Protocol

from .._core.checks import describe, shown
from .._core.enums import SocketMessageType
from .._core.web_errors import WebSocketStatusError
from .._core.write_queue import WRITE_OVERHEAD
from .._data.interfaces import OutputStream, WriteOperation
from .control import message_type_of
from .session import Session, reserve_of

__all__ = [
    "MessageOutputStream",
    "MessageWriteOperation",
    "Sender",
    "WebSocketOutputStream",
    "framed_bound",
    "largest_payload",
    "largest_write",
]

# The longest frame header: 2 bytes, a 64-bit length and a mask.
_FRAME_HEADER = 14


def framed_bound(size: int, compressed: bool, frames: int = 1) -> int:
    """The most bytes *size* payload bytes take on the wire in *frames* frames;
    *compressed*, with permessage-deflate (zlib's conservative bound for any window and
    memory level, 1/8 + 1/256 + 1/512 more, rounded up, plus a flush per frame)."""
    if compressed:
        size += (size >> 3) + (size >> 7) + 64 * frames
    return size + _FRAME_HEADER * frames


def largest_payload(bound: int, compressed: bool) -> int:
    """The largest payload a frame may carry to fit an empty output bounded by *bound*
    (``max_pending_bytes``), the session's reserve left over: the largest message a
    WebSocket can send back whole."""
    room = bound - reserve_of(bound) - WRITE_OVERHEAD - _FRAME_HEADER
    if compressed:  # the inverse of framed_bound's, rounded down
        room = (room - 64) * 256 // (256 + 32 + 2)
    return max(room, 0)


def largest_write(bound: int, compressed: bool, step: int) -> int:
    """The largest payload one write may carry, as frames of *step* payload bytes at
    most, to fit an empty output bounded by *bound*, the session's reserve left over."""
    room = bound - reserve_of(bound) - WRITE_OVERHEAD
    size = largest_payload(bound, compressed)
    while size > 0:
        over = framed_bound(size, compressed, -(-size // step)) - room
        if over <= 0:
            break
        size -= over  # each frame's header and flush more: converges in a step or two
    return max(size, 0)


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
        #: The largest frame sent, on the wire: a longer payload goes as several
        #: frames, in one write (the stream kinds', whose peers bound each frame).
        self.max_frame = sys.maxsize
        # The most payload bytes per frame, from start() on.
        self._frame_step = sys.maxsize

    def start(self) -> None:
        """The opening handshake succeeded: send on this connection."""
        self._socket = self._session.socket
        protocol = self._session.protocol
        # Compressed, a frame may outgrow its payload (by 1/8 + 1/128 + 64 at most).
        compressed = protocol is not None and bool(protocol.extensions)
        self._frame_step = self.max_frame * 7 // 8 if compressed else self.max_frame

    def send(self, data: object, fin: bool, what: str) -> MessageWriteOperation:
        """Send *data* as a frame (*fin*: the last of its message) at once, or refuse it
        with :exc:`BufferError`, before anything is encoded, when the output has no
        room for it."""
        payload = _payload(data, what)
        protocol = self._check_open(what)
        step = self._frame_step
        frames = 1 if len(payload) <= step else -(-len(payload) // step)
        self._check_room(len(payload), bool(protocol.extensions), what, frames)
        continuing = self._sending_type is not None
        message_type = self._sending_type if continuing else message_type_of(self._control)
        assert message_type is not None
        if message_type is SocketMessageType.UTF8:
            self._check_text(payload, fin, what)
        if frames > 1:
            _send_in_frames(protocol, payload, fin, message_type, continuing, step)
        else:
            _send_frame(protocol, payload, fin, message_type, continuing)
        self._sending_type = None if fin else message_type
        if fin:
            self._send_decoder = None
        try:
            operation = self._write_pending(raising=True)
        except (OSError, trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            raise self._error_from(exc, what) from exc
        return MessageWriteOperation(self._error_from, operation, len(payload), what)

    def _check_text(self, payload: bytes, fin: bool, what: str) -> None:
        """Raise :exc:`ValueError` unless *payload* goes on the text message under way
        as valid UTF-8 (*fin*: and ends it)."""
        decoder = self._send_decoder
        if decoder is None:
            decoder = self._send_decoder = codecs.getincrementaldecoder("utf-8")()
        state = decoder.getstate()
        try:
            decoder.decode(payload, final=fin)
        except UnicodeDecodeError as exc:
            # A refused frame changes nothing: the message goes on from the bytes its
            # earlier frames sent, which the check must still hold.
            decoder.setstate(state)
            at = exc.start - len(state[0])  # the decoder held the start of a character
            where = f"at byte {at}" if at >= 0 else "in a character an earlier frame began"
            raise ValueError(
                f"{what}: a UTF8 message must be valid UTF-8 ({exc.reason} {where}): "
                f"{shown(payload)}"
            ) from None

    async def send_when_room(self, data: object, fin: bool, what: str) -> int:
        """Send as :meth:`send` does once the output has room for the frame, and wait
        until it is sent; :exc:`BufferError` only for a frame that never fits."""
        payload = _payload(data, what)
        try:
            operation = self.send(payload, fin, what)
        except BufferError:
            # Refused before anything was encoded: wait for the earlier writes to leave,
            # then try once more, which refuses only a frame too big ever to fit.
            # (Failures of the connection are the send's to report.)
            with contextlib.suppress(OSError, trio.BrokenResourceError, trio.ClosedResourceError):
                await self._session.output().drain()
            operation = self.send(payload, fin, what)
        return await operation

    async def send_stream(self, data: object, what: str) -> None:
        """Send *data* as one binary message, as :meth:`send_when_room` does. Data more
        than one write can ever carry goes in pieces that each fit, as frames of the
        message, each sent before the next is made: the output holds one piece at most.
        Cancelled between pieces, the message stays open and the next send goes on
        with it, so the peer's stream of bytes stays whole."""
        view = _byte_view(data, what)
        if len(view) <= self._session.output().max_pending_bytes // 4:
            # Well within the bound: one write, with no sizes to work out per call (a
            # bound too small for even that refuses it in send_when_room, as before).
            await self.send_when_room(view, True, what)
            return
        start = 0
        while True:
            whole, piece = self._write_sizes()
            if len(view) - start <= whole:
                await self.send_when_room(view[start:], True, what)
                return
            await self.send_when_room(view[start : start + piece], False, what)
            start += piece

    def _write_sizes(self) -> tuple[int, int]:
        """The most payload one write may carry, and the pieces (whole frames, a
        quarter of that at most) that larger data goes in."""
        protocol = self._session.protocol
        compressed = protocol is not None and bool(protocol.extensions)
        step = self._frame_step
        whole = largest_write(self._session.output().max_pending_bytes, compressed, step)
        piece = whole // 4 // step * step or min(step, whole)
        return whole, max(piece, 1)  # a piece that cannot fit raises as it should

    def _check_room(self, size: int, compressed: bool, what: str, frames: int) -> None:
        output = self._session.output()
        bound = output.max_pending_bytes
        reserve = reserve_of(bound)
        room = output.room_bytes - reserve
        framed = framed_bound(size, compressed, frames)
        if framed + WRITE_OVERHEAD <= room:
            return
        frame = (
            f"{what}: a frame of {size} bytes ({framed} at most with its header"
            f"{' and compression' if compressed else ''})"
        )
        if framed + WRITE_OVERHEAD > bound - reserve:
            # Waiting cannot help: say what can be sent instead.
            largest = largest_write(bound, compressed, self._frame_step)
            raise BufferError(
                f"{frame} can never fit in the connection's output (its "
                f"max_pending_bytes={bound}, less {reserve} kept for control frames and "
                f"{WRITE_OVERHEAD} per write): split it into frames or writes of at most "
                f"{largest} bytes, or raise the bound (a server WebSocket's is its "
                "StreamSocket's output_stream.max_pending_bytes)"
            )
        raise BufferError(
            f"{frame} does not fit in the {max(room, 0)} bytes the connection's output "
            f"has left (its max_pending_bytes={bound}, less what is pending, "
            f"{WRITE_OVERHEAD} per write and room for control frames); await the writes "
            "or flush() first"
        )

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


def _send_in_frames(
    protocol: Protocol,
    payload: bytes,
    fin: bool,
    message_type: SocketMessageType,
    continuing: bool,
    step: int,
) -> None:
    """Have the protocol frame *payload* as frames of *step* bytes at most."""
    view = memoryview(payload)
    for start in range(0, len(payload), step):
        last = fin and start + step >= len(payload)
        _send_frame(protocol, bytes(view[start : start + step]), last, message_type, continuing)
        continuing = True


def _send_frame(
    protocol: Protocol,
    payload: bytes,
    fin: bool,
    message_type: SocketMessageType,
    continuing: bool,
) -> None:
    """Have the protocol frame *payload* as one frame: a continuation of the message
    under way, or the first frame of a text or binary message."""
    if continuing:
        protocol.send_continuation(payload, fin=fin)
    elif message_type is SocketMessageType.UTF8:
        protocol.send_text(payload, fin=fin)
    else:
        protocol.send_binary(payload, fin=fin)


def _payload(data: object, what: str) -> bytes:
    _check_data(data, what)
    assert isinstance(data, (bytes, bytearray, memoryview))
    return bytes(data)


def _byte_view(data: object, what: str) -> memoryview:
    """*data*'s bytes, not copied unless its buffer is not contiguous."""
    _check_data(data, what)
    assert isinstance(data, (bytes, bytearray, memoryview))
    view = memoryview(data)
    return view.cast("B") if view.c_contiguous else memoryview(bytes(view))


def _check_data(data: object, what: str) -> None:
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"{what} takes bytes, bytearray or memoryview, not {describe(data)}")


class MessageWriteOperation(WriteOperation):
    """A message write under way; awaiting it gives the message's size in bytes once
    the connection has taken it, or raises its failure (a WebSocketStatusError)."""

    __slots__ = ("_operation", "_size", "_translate", "_what")

    def __init__(
        self,
        translate: Callable[[BaseException, str], WebSocketStatusError],
        operation: WriteOperation | None,
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

    @property
    def nbytes(self) -> int:
        """The size of the message's data."""
        return self._size

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


class _MessagesOut(OutputStream):
    """An output stream of a WebSocket: each write is one message. Closing it ends only
    this stream object, as closing a socket's stream does."""

    __slots__ = ("_closed", "_owner")

    def __init__(self, owner: Sender) -> None:
        self._owner = owner
        self._closed = False

    def _refuse_closed(self, what: str) -> None:
        if self._closed:
            raise trio.ClosedResourceError(
                f"{what}: this output stream was closed (the WebSocket may still be open)"
            )

    async def flush(self) -> bool:
        """Wait until every message written so far has been sent; returns True.

        Raises:
            RuntimeError: not connected yet (WinRT ``E_ILLEGAL_METHOD_CALL``).
            WebSocketStatusError: a write failed, or the WebSocket is closed.
            trio.ClosedResourceError: this stream object was closed.

        Cancellation: the messages are still sent in the background.
        """
        self._refuse_closed("flush()")
        await self._owner.flush()
        return True

    async def aclose(self) -> None:
        """Flush, then refuse writes through this stream object (they raise
        :exc:`trio.ClosedResourceError`), as a socket's output stream does; idempotent.
        The WebSocket stays open: close it with its own ``aclose()``."""
        if self._closed:
            await trio.lowlevel.checkpoint()
            return
        self._closed = True
        await self._owner.flush()


class MessageOutputStream(_MessagesOut):
    """``MessageWebSocket.output_stream``: each write is one message."""

    __slots__ = ()

    def write(self, data: bytes | bytearray | memoryview) -> MessageWriteOperation:
        """Send *data* as one message of ``control.message_type``, starting at once.

        The data is copied. Await the result for the message's size once sent.

        Raises:
            TypeError: *data* is not bytes-like.
            ValueError: a ``UTF8`` message that is not valid UTF-8.
            RuntimeError: not connected yet, or a message sent frame by frame is under way.
            BufferError: the connection's output has no room for the message (framed,
                and compressed at worst) within its bound, room for control frames
                left over: await earlier writes or ``flush()`` first. Nothing was sent
                or encoded; the connection goes on.
            WebSocketStatusError: the connection failed or closed (its status; once
                this side began closing it, another task's ``aclose()`` included,
                ``OPERATION_CANCELED``, also a :class:`trio.ClosedResourceError`).
            trio.ClosedResourceError: this stream object was closed.
        """
        if self._closed:
            self._refuse_closed("write()")
        return self._owner.write_message(data)


class WebSocketOutputStream(_MessagesOut):
    """``StreamWebSocket.output_stream``: each write is one binary message."""

    __slots__ = ()

    def write(self, data: bytes | bytearray | memoryview) -> MessageWriteOperation:
        """Send *data* as one binary message, starting at once; await the result for
        its size once sent. Raises as :meth:`StreamWebSocket.send_all` does,
        :exc:`BufferError` as ``MessageWebSocket.output_stream.write()`` does, and
        :exc:`trio.ClosedResourceError` once this stream object was closed."""
        if self._closed:
            self._refuse_closed("write()")
        return self._owner.send(data, True, "write()")
