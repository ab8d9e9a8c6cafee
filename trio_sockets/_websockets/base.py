"""What every WebSocket shares, client or server, message or stream: the session
over a :class:`~trio_sockets.StreamSocket` and the sans-I/O protocol of ``websockets``.

The socket owns one StreamSocket at a time, entered in a task of the WebSocket's own
nursery, so its writes are hot: protocol bytes (messages, pongs, close frames) go to
``output_stream.write`` the moment the protocol produces them, in that order, and no
task ever waits to send a control frame. One reader task feeds received bytes to the
protocol and delivers messages to the bounded ``message_received`` channel; before it
waits on a full channel it has already sent the answers (pongs, close replies) to what it
read.
"""

from __future__ import annotations

import codecs
import collections
import contextlib
import logging
import math
import os
from collections.abc import Callable, Generator
from types import TracebackType
from typing import Any, Generic, Self, TypeVar

import trio
from websockets.exceptions import ConnectionClosed, ConnectionClosedError
from websockets.frames import CloseCode, Opcode
from websockets.protocol import Protocol, State

from .._core.checks import check_int, describe, shown
from .._core.enums import MessageWebSocketReceiveMode, SocketMessageType
from .._core.web_errors import (
    WebErrorStatus,
    WebSocketError,
    WebSocketStatusError,
    web_socket_error,
)
from .._data.interfaces import WriteOperationLike
from .._sockets.stream_control import StreamSocketControl
from .._sockets.stream_information import StreamSocketInformation
from .._sockets.stream_socket import StreamSocket
from .control import SessionControl, mark_connected, message_type_of, receive_mode_of
from .events import MessageWebSocketMessageReceivedEventArgs, WebSocketClosedEventArgs
from .information import SessionInformation, record_handshake

__all__ = ["MessageWriteOperation", "WebSocketBase", "check_header"]

#: The most bytes one read from the connection asks for.
RECEIVE_SIZE = 256 * 1024
#: The default bound of ``message_received``, in events.
DEFAULT_MESSAGE_QUEUE_SIZE = 16
#: How many bytes of messages the reader holds beyond the channel before it stops
#: reading from the connection.
PENDING_LIMIT = 4 * 1024 * 1024
# What an event counts for besides its data, so that empty messages are bounded too.
_EVENT_COST = 256
# RFC 6455 §5.5: a control frame's payload is at most 125 bytes, 2 of them the code.
_MAX_REASON_BYTES = 123
# Close codes an endpoint must not send (RFC 6455 §7.4.1); 1005 means "no code" here.
_UNSENDABLE = frozenset({1004, 1006, 1015})

_NEW, _CONNECTING, _OPEN, _CLOSED = "new", "connecting", "open", "closed"

# The protocol library logs at debug level per frame; keep it quiet unless asked.
_LOGGER = logging.getLogger("trio_sockets.websocket")

Args = MessageWebSocketMessageReceivedEventArgs
_Control = TypeVar("_Control", bound=SessionControl)
_Information = TypeVar("_Information", bound=SessionInformation)


def _check_close(code: object, reason: object) -> int | None:
    if code is not None:
        check_int("code", code, 1000, 4999)
        assert isinstance(code, int)
        if code in _UNSENDABLE:
            raise ValueError(f"code {code} is reserved and cannot be sent in a close frame")
    if not isinstance(reason, str):
        raise TypeError(f"reason must be a str, not {describe(reason)}")
    if len(reason.encode("utf-8", "surrogatepass")) > _MAX_REASON_BYTES:
        raise ValueError(f"reason must be at most 123 bytes of UTF-8, not {shown(reason)}")
    if (code is None or code == CloseCode.NO_STATUS_RCVD) and reason:
        raise ValueError(f"a reason needs a close code (code=None sends none), not {shown(reason)}")
    return None if code == CloseCode.NO_STATUS_RCVD else code


def check_header(name: object, value: object) -> tuple[str, str]:
    if not isinstance(name, str):
        raise TypeError(f"header name must be a str, not {describe(name)}")
    if not isinstance(value, str):
        raise TypeError(f"header value must be a str, not {describe(value)}")
    if not name or not all(33 <= ord(c) <= 126 and c not in '()<>@,;:\\"/[]?={}' for c in name):
        raise ValueError(f"header name {shown(name)} is not an HTTP token")
    if any((ord(c) < 32 and c != "\t") or ord(c) == 127 for c in value):
        raise ValueError(f"header value {shown(value)} for {shown(name)} has control characters")
    lower = name.lower()
    if lower == "sec-websocket-extensions":
        raise ValueError(
            "Sec-WebSocket-Extensions cannot be set (as in WinRT): use "
            "control.permessage_deflate for compression"
        )
    if lower in ("sec-websocket-key", "sec-websocket-version", "upgrade", "connection"):
        raise ValueError(f"{name} is set by the opening handshake and cannot be set")
    if lower == "sec-websocket-protocol":
        raise ValueError("Sec-WebSocket-Protocol cannot be set: use control.supported_protocols")
    return name, value


def _closed_exception(protocol: Protocol) -> ConnectionClosed:
    """What ended the connection, in any state (``close_exc`` needs CLOSED)."""
    if protocol.close_rcvd is None and protocol.close_sent is None:
        return ConnectionClosedError(None, None, None)
    return ConnectionClosed(protocol.close_rcvd, protocol.close_sent, protocol.close_rcvd_then_sent)


class WebSocketBase(Generic[_Control, _Information]):
    """What every WebSocket shares: the reader, the keepalive, sending, closing and the
    async context (see MessageWebSocket). The client and server roles add how the
    connection opens.

    Use it as ``async with MessageWebSocket() as ws:``: the reader and keepalive run in
    its own nursery and end with the block. Set ``control`` and request headers, then
    ``await ws.connect("wss://host/path")``; receive with ``async for args in
    ws.message_received``; send with ``await ws.output_stream.write(data)`` (one
    message of ``control.message_type`` per write) or frame by frame with
    :meth:`send_nonfinal_frame` / :meth:`send_final_frame`; close with
    ``await ws.aclose(code, reason)``. ``closed`` delivers the closing handshake.

    *message_queue_size* bounds ``message_received`` (events; default 16). When the
    consumer falls behind, the socket stops reading from the connection (TCP then slows
    the server down); what it already read is answered first, so pings and close frames
    that arrived are never left waiting behind an unread message. Leaving the block
    closes the WebSocket (with the closing handshake, bounded by
    ``control.close_timeout``); leaving it with an exception closes the connection at
    once.
    """

    def __init__(
        self,
        control_type: Callable[[StreamSocketControl], _Control],
        information_type: Callable[[StreamSocketInformation], _Information],
        socket: StreamSocket,
        *,
        message_queue_size: int = DEFAULT_MESSAGE_QUEUE_SIZE,
    ) -> None:
        check_int("message_queue_size", message_queue_size, 1, 1 << 20)
        self._socket = socket
        self._socket_scope: trio.CancelScope | None = None
        self._socket_closed: trio.Event | None = None
        self._control = control_type(self._socket.control)
        self._information = information_type(self._socket.information)
        self._send_messages, self._messages = trio.open_memory_channel[Args](message_queue_size)
        self._send_closed, self._closed = trio.open_memory_channel[WebSocketClosedEventArgs](1)
        self._nursery: trio.Nursery | None = None
        self._nursery_manager: Any = None
        self._entered = False
        self._state = _NEW
        self._uri = ""
        self._protocol: Protocol | None = None
        self._failure: WebSocketStatusError | None = None
        self._closing = False
        self._closed_sent = False
        self._task_scopes: list[trio.CancelScope] = []
        # Messages read but not yet taken by the channel (bounded in bytes), and the
        # task that hands them over, so the reader goes on answering pings meanwhile.
        self._pending: collections.deque[tuple[Args, int]] = collections.deque()
        self._pending_bytes = 0
        self._pending_end = False
        self._have_pending = trio.lowlevel.ParkingLot()
        self._room = trio.lowlevel.ParkingLot()
        self._receive_scope: trio.CancelScope | None = None
        self._close_deadline = math.inf
        self._eof_wanted = False
        self._reader_done = trio.Event()
        self._ping_outstanding = False
        # The message being received.
        self._receiving_type = SocketMessageType.BINARY
        self._pieces: list[bytes] = []
        self._decoder: codecs.IncrementalDecoder | None = None
        self._carry = b""
        # The message being sent frame by frame, and its UTF-8 check.
        self._sending_type: SocketMessageType | None = None
        self._send_decoder: codecs.IncrementalDecoder | None = None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._describe()}>"

    def _describe(self) -> str:
        return f"{self._state} {shown(self._uri)}" if self._uri else self._state

    # -- WinRT members -------------------------------------------------------------------

    @property
    def control(self) -> _Control:
        """The socket's settings (WinRT ``Control``)."""
        return self._control

    @property
    def information(self) -> _Information:
        """The socket's state (WinRT ``Information``)."""
        return self._information

    @property
    def closed(self) -> trio.MemoryReceiveChannel[WebSocketClosedEventArgs]:
        """The closing handshake (WinRT ``Closed``): one event when the peer's close
        frame arrives, or when this side closes. It ends with no event when the
        connection was lost without a closing handshake."""
        return self._closed

    async def _read_handshake(self, protocol: Protocol, what: str) -> list[Any]:
        """Read until the protocol has the other side's handshake message (its first
        event, then any frames that came with it), bounded by the handshake timeout."""
        timeout = self._control.handshake_timeout
        try:
            with trio.fail_after(timeout):
                while True:
                    data = await self._socket.receive_some(RECEIVE_SIZE)
                    if data:
                        protocol.receive_data(data)
                    else:
                        protocol.receive_eof()
                    events = protocol.events_received()
                    if events or not data or protocol.handshake_exc is not None:
                        return events
        except trio.TooSlowError as exc:
            raise web_socket_error(
                WebErrorStatus.TIMEOUT, f"{what}: no handshake within {timeout:g} s"
            ) from exc
        except (OSError, trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            raise self._error_from(exc, what) from exc

    def _start_session(self, nursery: trio.Nursery, events: list[Any]) -> None:
        """The opening handshake succeeded: run the reader, the deliverer and the
        keepalive; *events* are the frames that came with the handshake."""
        protocol = self._protocol
        assert protocol is not None
        if self._state != _CONNECTING:  # closed meanwhile
            self._close_now()
            raise web_socket_error(
                WebErrorStatus.OPERATION_CANCELED,
                f"open {shown(self._uri)}: the WebSocket was closed",
                closed=True,
            )
        record_handshake(self._information, protocol.subprotocol or "", bool(protocol.extensions))
        scope = trio.CancelScope()
        self._task_scopes.append(scope)
        nursery.start_soon(self._reader, scope, events)
        scope = trio.CancelScope()
        self._task_scopes.append(scope)
        nursery.start_soon(self._deliverer, scope)
        interval = self._control.desired_unsolicited_pong_interval.total_seconds()
        if interval:
            scope = trio.CancelScope()
            self._task_scopes.append(scope)
            nursery.start_soon(self._keepalive, scope, interval)
        self._state = _OPEN
        mark_connected(self._control)

    async def _start_socket(self, nursery: trio.Nursery) -> None:
        if self._socket_scope is None:
            await nursery.start(self._run_socket, self._socket)

    def _require_nursery(self, what: str) -> trio.Nursery:
        if self._nursery is None:
            raise RuntimeError(
                f"{what} needs the socket's own nursery: use 'async with "
                f"{type(self).__name__}(...) as ws:' before calling it"
            )
        return self._nursery

    async def _run_socket(self, sock: StreamSocket, *, task_status: trio.TaskStatus[None]) -> None:
        # The StreamSocket is entered here, in a task of the WebSocket's nursery, so its
        # writes run in the background; cancelling the scope closes it at once.
        scope = self._socket_scope = trio.CancelScope()
        done = self._socket_closed = trio.Event()
        try:
            with scope:
                async with sock:
                    task_status.started()
                    await trio.sleep_forever()
        finally:
            done.set()

    def _close_socket(self) -> None:
        if self._socket_scope is not None:
            self._socket_scope.cancel()

    def _error_from(self, exc: BaseException, what: str) -> WebSocketStatusError:
        status = WebSocketError.get_status(exc)
        closed = isinstance(exc, trio.ClosedResourceError) or self._state == _CLOSED
        if closed:
            status = WebErrorStatus.OPERATION_CANCELED
        return web_socket_error(status, f"{what}: {exc}", closed=closed)

    # -- sending -------------------------------------------------------------------------

    def _write_pending(self, *, raising: bool = False) -> WriteOperationLike | None:
        """Hand what the protocol produced to the connection, at once and in order.

        A connection that can no longer take it raises only when *raising* (a user's
        write); for pongs and close frames the reader finds the broken connection itself.
        """
        assert self._protocol is not None
        last = None
        output = self._socket.output_stream
        try:
            for chunk in self._protocol.data_to_send():
                if chunk:
                    last = output.write(chunk)
                else:  # this side is done: close the connection once this is sent
                    self._eof_wanted = True
        except (OSError, trio.BrokenResourceError, trio.ClosedResourceError):
            if raising:
                raise
        return last

    def _check_connected(self, what: str) -> None:
        """Raise unless connect() succeeded and this side has not closed."""
        if self._state in (_NEW, _CONNECTING):
            raise RuntimeError(
                f"{what} needs an open WebSocket: call connect() (on a server, accept()) first"
            )
        if self._state == _CLOSED:
            raise web_socket_error(
                WebErrorStatus.OPERATION_CANCELED,
                f"{what}: this WebSocket was closed",
                closed=True,
            )

    def _check_open(self, what: str) -> Protocol:
        if self._state in (_NEW, _CONNECTING):
            raise RuntimeError(
                f"{what} needs an open WebSocket: call connect() (on a server, accept()) first"
            )
        if self._state == _CLOSED:
            raise web_socket_error(
                WebErrorStatus.OPERATION_CANCELED,
                f"{what}: this WebSocket was closed",
                closed=True,
            )
        protocol = self._protocol
        assert protocol is not None
        failure = self._failure
        if failure is not None:
            raise web_socket_error(
                failure.status,
                f"{what}: {failure.message}",
                close_code=failure.close_code,
                close_reason=failure.close_reason,
                broken=True,
            ) from failure
        if protocol.state is not State.OPEN:
            exc = _closed_exception(protocol)
            rcvd = protocol.close_rcvd
            raise web_socket_error(
                WebSocketError.get_status(exc),
                f"{what}: the connection is closed",
                close_code=rcvd.code if rcvd is not None else None,
                close_reason=rcvd.reason if rcvd is not None else "",
                broken=True,
            ) from exc
        return protocol

    def _send(self, data: object, fin: bool, what: str) -> MessageWriteOperation:
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
        return MessageWriteOperation(self, operation, len(payload), what)

    def _write_message(self, data: object) -> MessageWriteOperation:
        if self._sending_type is not None:
            raise RuntimeError(
                "write(): a message sent with send_nonfinal_frame() is under way; end it "
                "with send_final_frame() first"
            )
        return self._send(data, True, "write()")

    async def _flush(self) -> None:
        self._check_open("flush()")
        try:
            await self._socket.output_stream.flush()
        except (OSError, trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            raise self._error_from(exc, "flush()") from exc

    # -- receiving -----------------------------------------------------------------------

    async def _reader(self, scope: trio.CancelScope, events: list[Any]) -> None:
        protocol = self._protocol
        assert protocol is not None
        error: BaseException | None = None
        with scope:
            await self._process(events)
            self._write_pending()
            while protocol.state is not State.CLOSED:
                data = b""
                with trio.CancelScope(deadline=self._close_deadline) as receive:
                    self._receive_scope = receive
                    try:
                        data = await self._socket.receive_some(RECEIVE_SIZE)
                    except (OSError, trio.BrokenResourceError, trio.ClosedResourceError) as exc:
                        if not self._closing:
                            error = exc
                        protocol.receive_eof()
                        break
                    finally:
                        self._receive_scope = None
                if receive.cancelled_caught:
                    protocol.receive_eof()  # the peer did not end the connection in time
                    break
                if data:
                    protocol.receive_data(data)
                else:
                    protocol.receive_eof()
                await self._process(protocol.events_received())
                self._write_pending()
                if self._eof_wanted:
                    await self._finish_sending()
                    break
                if protocol.close_expected():
                    self._expect_close()
            await self._connection_ended(protocol, error)
        self._reader_done.set()

    async def _connection_ended(self, protocol: Protocol, error: BaseException | None) -> None:
        failure = self._failure
        if failure is None and error is not None:
            failure = self._failure = web_socket_error(
                WebSocketError.get_status(error), f"receive: {error}", broken=True
            )
            failure.__cause__ = error
        if failure is None and not (protocol.close_rcvd and protocol.close_sent):
            exc = _closed_exception(protocol)
            failure = self._failure = web_socket_error(
                WebSocketError.get_status(exc),
                "the connection ended without a closing handshake"
                if protocol.close_sent is None
                else f"the connection failed: {protocol.close_sent.reason or exc}",
                close_code=protocol.close_sent.code if protocol.close_sent else 1006,
                close_reason=protocol.close_sent.reason if protocol.close_sent else "",
                broken=True,
            )
            failure.__cause__ = protocol.parser_exc or exc
        if failure is not None and not self._closing:
            await self._deliver(Args(SocketMessageType.BINARY, b"", error=failure))
        self._pending_end = True
        self._have_pending.unpark_all()
        if not self._closing:
            # No closing handshake: the channel ends with no event. (A local close
            # reports its own.)
            self._send_closed.close()
        self._close_socket()

    async def _finish_sending(self) -> None:
        """Send what is queued (the last close frame), within the close timeout."""
        self._expect_close()
        with trio.move_on_at(self._close_deadline):
            # A connection already gone has nothing more to send.
            with contextlib.suppress(OSError, trio.BrokenResourceError, trio.ClosedResourceError):
                await self._socket.output_stream.flush()

    def _expect_close(self) -> None:
        if self._close_deadline == math.inf:
            self._close_deadline = trio.current_time() + self._control.close_timeout
            if self._receive_scope is not None:
                self._receive_scope.deadline = self._close_deadline

    async def _process(self, events: list[Any]) -> None:
        protocol = self._protocol
        assert protocol is not None
        for frame in events:
            opcode = frame.opcode
            if opcode is Opcode.TEXT or opcode is Opcode.BINARY:
                self._start_message(opcode)
                await self._received(frame.data, frame.fin)
            elif opcode is Opcode.CONT:
                await self._received(frame.data, frame.fin)
            elif opcode is Opcode.PONG:
                self._ping_outstanding = False
            elif opcode is Opcode.CLOSE:
                rcvd = protocol.close_rcvd
                assert rcvd is not None
                self._emit_closed(rcvd.code, rcvd.reason)

    def _start_message(self, opcode: Opcode) -> None:
        text = opcode is Opcode.TEXT
        self._receiving_type = SocketMessageType.UTF8 if text else SocketMessageType.BINARY
        self._decoder = codecs.getincrementaldecoder("utf-8")() if text else None
        self._pieces = []
        self._carry = b""

    async def _received(self, data: bytes, fin: bool) -> None:
        if self._failure is not None:
            return
        decoder = self._decoder
        if decoder is not None:
            try:
                decoder.decode(data, final=fin)
            except UnicodeDecodeError as exc:
                self._fail(
                    WebErrorStatus.ERROR_HTTP_INVALID_SERVER_RESPONSE,
                    CloseCode.INVALID_DATA,
                    f"invalid UTF-8 in a text message ({exc.reason})",
                )
                return
        if receive_mode_of(self._control) is MessageWebSocketReceiveMode.FULL_MESSAGE:
            self._pieces.append(data)
            if fin:
                message = self._pieces[0] if len(self._pieces) == 1 else b"".join(self._pieces)
                self._pieces = []
                await self._deliver(Args(self._receiving_type, bytes(message)))
            return
        piece = self._carry + data if self._carry else data
        if decoder is not None and not fin:
            # Hold back the start of a character split between frames.
            held = len(decoder.getstate()[0])
            piece, self._carry = piece[: len(piece) - held], piece[len(piece) - held :]
        else:
            self._carry = b""
        if piece or fin:
            await self._deliver(Args(self._receiving_type, bytes(piece), complete=fin))

    def _fail(self, status: WebErrorStatus, code: int, reason: str) -> None:
        """Fail the connection: close frame *code*, and *status* for every later use."""
        protocol = self._protocol
        assert protocol is not None
        if self._failure is None:
            self._failure = web_socket_error(
                status, reason, close_code=code, close_reason=reason, broken=True
            )
        protocol.fail(code, reason)
        self._write_pending()
        self._expect_close()

    async def _deliver(self, args: Args) -> None:
        """Queue *args* for the channel; wait while too much is queued already."""
        if self._closing:
            return  # a local close discards what arrives after it
        if not self._pending:
            # Nothing waits before it: hand it over now and save the deliverer's hop.
            try:
                self._send_messages.send_nowait(args)
            except trio.WouldBlock:
                pass
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                return  # nobody reads any more: dropped
            else:
                return
        cost = len(args.data) + _EVENT_COST if args.error is None else _EVENT_COST
        self._pending.append((args, cost))
        self._pending_bytes += cost
        self._have_pending.unpark_all()
        while self._pending_bytes > PENDING_LIMIT and not self._closing:
            # Answer what was read (pongs, a close reply) before waiting for room.
            self._write_pending()
            await self._room.park()

    async def _deliverer(self, scope: trio.CancelScope) -> None:
        pending = self._pending
        with scope:
            while True:
                while not pending:
                    if self._pending_end:
                        self._send_messages.close()
                        return
                    await self._have_pending.park()
                item = pending[0]
                # Nobody reading any more (the channel closed): the message is dropped.
                with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                    await self._send_messages.send(item[0])
                if pending and pending[0] is item:  # else a local close discarded them all
                    pending.popleft()
                    self._pending_bytes -= item[1]
                self._room.unpark_all()

    def _discard_pending(self) -> None:
        self._pending.clear()
        self._pending_bytes = 0
        self._room.unpark_all()

    def _emit_closed(self, code: int, reason: str) -> None:
        if self._closed_sent:
            return
        self._closed_sent = True
        with contextlib.suppress(trio.ClosedResourceError):
            self._send_closed.send_nowait(WebSocketClosedEventArgs(code, reason))
        self._send_closed.close()

    async def _keepalive(self, scope: trio.CancelScope, interval: float) -> None:
        protocol = self._protocol
        assert protocol is not None
        with scope:
            while protocol.state is State.OPEN:
                await trio.sleep(interval)
                if protocol.state is not State.OPEN or self._failure is not None:
                    return
                if self._ping_outstanding:
                    self._fail(
                        WebErrorStatus.TIMEOUT,
                        CloseCode.INTERNAL_ERROR,
                        f"keepalive ping timeout: no pong within {interval:g} s",
                    )
                    return
                self._ping_outstanding = True
                protocol.send_ping(os.urandom(4))
                self._write_pending()

    # -- closing -------------------------------------------------------------------------

    async def aclose(self, code: int | None = None, reason: str = "") -> None:
        """Close the WebSocket (WinRT ``Close``): send a close frame with *code* and
        *reason* (``code=None``, or 1005, sends an empty one), wait for the peer's
        answer at most ``control.close_timeout`` seconds, then close the connection.
        Idempotent. ``closed`` gets the peer's answer (or, without one, the frame sent).

        Raises:
            TypeError / ValueError: a code outside 1000-4999 or one that cannot be sent
                (1004, 1006, 1015), a reason over 123 bytes of UTF-8, or a reason without
                a code (named).

        Cancellation: the connection is closed at once.
        """
        close_code = _check_close(code, reason)
        if self._state == _CLOSED:
            await trio.lowlevel.checkpoint()
            return
        protocol = self._protocol
        try:
            if self._state == _OPEN and protocol is not None and protocol.state is State.OPEN:
                self._closing = True
                self._discard_pending()
                protocol.send_close(close_code, reason)
                self._write_pending()
                self._expect_close()
                with trio.move_on_at(self._close_deadline):
                    await self._reader_done.wait()
                self._emit_closed(
                    CloseCode.NO_STATUS_RCVD if close_code is None else close_code, reason
                )
            else:
                await trio.lowlevel.checkpoint()
        finally:
            self._close_now()
        await self._wait_socket_closed()

    async def _wait_socket_closed(self) -> None:
        if self._socket_closed is not None:
            await self._socket_closed.wait()

    def _close_now(self) -> None:
        self._state = _CLOSED
        self._closing = True
        for scope in self._task_scopes:
            scope.cancel()
        self._discard_pending()
        self._send_messages.close()
        self._send_closed.close()
        self._close_socket()

    async def __aenter__(self) -> Self:
        if self._entered:
            raise RuntimeError(
                f"a {type(self).__name__} can be entered with 'async with' only once"
            )
        self._entered = True
        manager = trio.open_nursery()
        self._nursery = await manager.__aenter__()
        self._nursery_manager = manager
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        manager = self._nursery_manager
        nursery = self._nursery
        assert manager is not None
        assert nursery is not None
        close_error: BaseException | None = None
        try:
            if exc is None:
                await self.aclose()
            else:
                self._close_now()
        except BaseException as error:  # re-raised below, once the nursery has ended
            close_error = error
            self._close_now()
        # The body's own exception is not handed to the nursery, so it leaves unwrapped.
        nursery.cancel_scope.cancel()
        self._nursery = None
        self._nursery_manager = None
        await manager.__aexit__(None, None, None)
        if close_error is not None:
            raise close_error


class MessageWriteOperation(WriteOperationLike):
    """A message write under way; awaiting it gives the message's size in bytes once
    the connection has taken it, or raises its failure (a WebSocketStatusError)."""

    __slots__ = ("_operation", "_owner", "_size", "_what")

    def __init__(
        self,
        owner: WebSocketBase[Any, Any],
        operation: WriteOperationLike | None,
        size: int,
        what: str,
    ) -> None:
        self._owner = owner
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
            raise self._owner._error_from(exc, self._what) from exc
        return self._size
