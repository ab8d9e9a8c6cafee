"""The receiver of a WebSocket session: the reader, the deliverer and the keepalive,
the ``message_received`` and ``closed`` channels, and the closing handshake's wait.

One reader task feeds received bytes to the protocol and queues messages for the bounded
``message_received`` channel; the deliverer hands them over. Once the messages not yet
taken by the application (in the channel and beyond it) hold more than
:data:`PENDING_LIMIT` bytes, the message that crossed it included, the reader stops
reading until the application takes some; it has already sent the answers (pongs, close
replies) to what it read. The protocol gets a read in pieces in which at most
:data:`FRAMES_PER_PIECE` frames begin (with permessage-deflate, also of
:data:`INFLATE_SLICE` bytes at most); the reader can stop between pieces, and lets the
other tasks run every :data:`PIECES_PER_YIELD`. It knows its WebSocket only through the
:class:`~.session.Session` it is given.
"""

from __future__ import annotations

import codecs
import collections
import contextlib
import math
from typing import Any

import trio
from websockets.frames import CloseCode, Opcode
from websockets.protocol import Protocol, State

from .._core.checks import check_int
from .._core.enums import MessageWebSocketReceiveMode, SocketMessageType
from .._core.pieces import MessagePieces
from .._core.web_errors import WebErrorStatus, WebSocketError, web_socket_error
from .channel import UntakenBytes, WebSocketMessageChannel
from .control import receive_mode_of
from .events import WebSocketClosedEventArgs
from .frame_starts import PIECES_PER_YIELD, FrameStarts
from .keepalive import keep_alive
from .peer_end import linger, message_cut_error
from .session import INFLATE_SLICE, Args, Session, closed_exception

__all__ = ["CATCH_UP_WAIT", "DEFAULT_MESSAGE_QUEUE_SIZE", "PENDING_LIMIT", "Receiver"]

#: The default bound of ``message_received``, in events.
DEFAULT_MESSAGE_QUEUE_SIZE = 16

#: How many bytes of messages may wait for the application (queued and not yet taken,
#: in the channel and beyond it, 256 more per message) before the reader stops reading
#: from the connection; the message that crosses it is queued all the same.
PENDING_LIMIT = 4 * 1024 * 1024
#: How long the reader lets the application catch up with queued messages before it
#: reads on (seconds): the bound on how late a ping or close frame is answered then.
CATCH_UP_WAIT = 0.01


class Receiver:
    """The reader, the deliverer and the keepalive of a session (see the module
    docstring). *message_queue_size* bounds ``messages`` (events)."""

    def __init__(self, session: Session[Any, Any], message_queue_size: int) -> None:
        check_int("message_queue_size", message_queue_size, 1, 1 << 20)
        self._session = session
        self._control = session.control
        self._write_pending = session.write_pending
        self._close_socket = session.close_socket
        # The connection's, from start() on (a client's changes with each connect).
        self._socket = session.socket
        self._protocol = session.protocol
        self._send_messages, self.messages = trio.open_memory_channel[Args](message_queue_size)
        #: The bytes of the messages queued and not yet taken: a StreamWebSocket, which
        #: reads :attr:`messages` itself, tells it of each message it takes.
        self.untaken = UntakenBytes(PENDING_LIMIT)
        #: ``message_received`` of the message WebSockets.
        self.message_channel = WebSocketMessageChannel(self.messages, self.untaken)
        self._send_closed, self.closed = trio.open_memory_channel[WebSocketClosedEventArgs](1)
        self._closing = False
        self._closed_sent = False
        self._failure_reported = False
        self._task_scopes: list[trio.CancelScope] = []
        # Messages read but not yet taken by the channel (counted in untaken), and the
        # task that hands them over, so the reader goes on answering pings meanwhile.
        self._pending: collections.deque[Args] = collections.deque()
        self._pending_end = False
        self._have_pending = trio.lowlevel.ParkingLot()
        self._caught_up = trio.lowlevel.ParkingLot()  # the queue became empty
        self._receive_scope: trio.CancelScope | None = None
        self._close_deadline = math.inf
        self._reader_done = trio.Event()
        #: The pongs received (the keepalive's, and any other).
        self.pongs = 0
        self._linger_wanted = False  # see peer_end.linger
        # This side failed the connection for what the peer sent, by its own check
        # (invalid UTF-8; the protocol's own checks set its parser_exc).
        self._peer_at_fault = False
        #: Each stop of the reader at the byte bound, for the application (it reads
        #: nothing meanwhile, so a pong may wait unread), and whether it is stopped now.
        #: Its short catch-up waits do not count.
        self.consumer_waits = 0
        self.waiting_for_consumer = False
        # Where the frames received begin, and the most bytes per piece (start()).
        self._frames = FrameStarts()
        self._slice = 0
        # The message being received.
        self._receiving_type = SocketMessageType.BINARY
        # Its parts so far (full messages), at about the cost of their bytes however
        # many frames the peer splits it into; emptied as each message ends.
        self._pieces = MessagePieces()
        self._decoder: codecs.IncrementalDecoder | None = None
        self._carry = b""
        # Whether a message's last frame is still to come, and its bytes so far.
        self._unfinished = False
        self._cut_bytes = 0

    def start(self, nursery: trio.Nursery, early: bytes) -> None:
        """Run the reader, the deliverer and the keepalive in *nursery*. The first piece
        of *early* (what came after the handshake) goes to the protocol at once: a close
        frame in the handshake's packet is known when the handshake returns."""
        self._socket = self._session.socket
        protocol = self._protocol = self._session.protocol
        assert protocol is not None
        self._slice = INFLATE_SLICE if protocol.extensions else 0
        if first := self._frames.first(early, self._slice):
            protocol.receive_data(first)
        scopes = self._task_scopes
        scopes.append(trio.CancelScope())
        nursery.start_soon(self._reader, scopes[-1], protocol.events_received())
        scopes.append(trio.CancelScope())
        nursery.start_soon(self._deliverer, scopes[-1])
        interval = self._control.desired_unsolicited_pong_interval.total_seconds()
        if interval:
            scopes.append(trio.CancelScope())
            nursery.start_soon(self._keepalive, scopes[-1], interval)

    @trio.lowlevel.enable_ki_protection
    async def _keepalive(self, scope: trio.CancelScope, interval: float) -> None:
        with scope:
            await keep_alive(self._session, self, interval)

    async def fail_silent_peer(self, reason: str) -> None:
        """The keepalive's verdict: fail the connection with ``TIMEOUT`` and 1011 for
        *reason*, and deliver the failure now, not at the close timeout."""
        self._fail(WebErrorStatus.TIMEOUT, CloseCode.INTERNAL_ERROR, reason, peer_at_fault=False)
        assert self._protocol is not None
        await self._report_failure(self._protocol, None)

    def stop_delivering(self) -> None:
        """This side closes: what arrives from now on is discarded."""
        self._closing = True
        self._discard_pending()

    @property
    def lingering(self) -> bool:
        """This side failed the connection for what the peer sent, and the reader
        drains it until the peer closes (see ``peer_end.linger``), within the close
        timeout; the application has the failure meanwhile."""
        protocol = self._protocol
        done = self._reader_done.is_set()
        failed = protocol is not None and self._failed_for_what_peer_sent(protocol)
        return self._linger_wanted or (failed and not done)

    def _failed_for_what_peer_sent(self, protocol: Protocol) -> bool:
        return protocol.parser_exc is not None or self._peer_at_fault

    async def close_handshake(self, *, report: bool = True) -> None:
        """The closing handshake is under way (either side's close frame went first):
        wait for the reader to handle what came and see the connection end, at most
        ``control.close_timeout`` from the first wait, then (*report*) report the
        handshake (the peer's close frame, or without one the frame this side sent)."""
        self._expect_close()
        with trio.move_on_at(self._close_deadline):
            await self._reader_done.wait()
        assert self._protocol is not None
        sent = self._protocol.close_sent
        if sent is not None and report:
            self._emit_closed(sent.code, sent.reason)

    def close(self) -> None:
        """Stop at once: the tasks end, the channels end, nothing more is delivered."""
        self._closing = True
        for scope in self._task_scopes:
            scope.cancel()
        self._discard_pending()
        self._send_messages.close()
        self._send_closed.close()

    @trio.lowlevel.enable_ki_protection
    async def _reader(self, scope: trio.CancelScope, events: list[Any]) -> None:
        protocol = self._protocol
        assert protocol is not None
        error: BaseException | None = None
        try:
            with scope:
                # One scope for the whole loop, not one per receive (a scope costs as much
                # as a receive's system call); _expect_close() gives it the close deadline.
                with trio.CancelScope(deadline=self._close_deadline) as receiving:
                    self._receive_scope = receiving
                    try:
                        # The frames that came with the handshake are handled as any read's:
                        # a close or a protocol error among them bounds the wait as well.
                        done = await self._handle(protocol, events)
                        events = []  # handled: this frame lives as long as the connection
                        if not done:  # the rest of what came with the handshake
                            done = await self._feed(protocol, begun=True)
                        if not done:
                            error = await self._read_loop(protocol)
                    finally:
                        self._receive_scope = None
                if receiving.cancelled_caught:
                    protocol.receive_eof()  # the peer did not end the connection in time
                await self._connection_ended(protocol, error)
        finally:  # also when the nursery was cancelled: a close waits for this
            self._reader_done.set()

    async def _read_loop(self, protocol: Protocol) -> BaseException | None:
        """Read and process until the protocol is closed or this side is done; returns
        what failed the connection's receive, unless this side was closing it."""
        session = self._session
        while protocol.state is not State.CLOSED:
            if self._pending:
                await self._catch_up()
            # No more than the output has room to answer: past that the reader waits
            # for it to drain, and reads nothing meanwhile.
            size = await session.read_size()
            try:
                data = await self._socket.receive_some(size)
            except (OSError, trio.BrokenResourceError, trio.ClosedResourceError) as exc:
                protocol.receive_eof()
                if self._closing or protocol.close_sent is not None:
                    # This side was closing, had failed the connection (a protocol
                    # error, a message too big), or the closing handshake is done: how
                    # the connection ends (a reset, a TLS peer's close without
                    # close_notify) no longer matters.
                    return None
                return exc
            if not data:
                protocol.receive_eof()
            if await self._feed(protocol, data):
                return None
        return None

    async def _feed(self, protocol: Protocol, data: bytes = b"", *, begun: bool = False) -> bool:
        """Give the protocol *data* (*begun*: the rest of the read begun) in pieces of
        at most ``FRAMES_PER_PIECE`` frames (and ``INFLATE_SLICE`` bytes with deflate),
        handling the frames of each; True once this side is done."""
        frames = self._frames
        piece = frames.next(self._slice) if begun else frames.first(data, self._slice)
        while True:
            if piece:
                protocol.receive_data(piece)
            if await self._handle(protocol, protocol.events_received()):
                return True
            if frames.at == len(frames.read):
                break
            piece = frames.next(self._slice)
            if frames.pieces % PIECES_PER_YIELD == 0:  # tiny frames: let others run
                await trio.lowlevel.cancel_shielded_checkpoint()
        frames.read = b""  # let it go
        if self.untaken.held > self.untaken.limit:  # it did not wait for its pings
            await self._wait_for_room()
        return False

    async def _handle(self, protocol: Protocol, events: list[Any]) -> bool:
        """Process what one read gave and send the answers; True once this side is done
        (the connection closes once what is queued is sent)."""
        await self._process(events)
        self._write_pending()
        if protocol.parser_exc is not None or self._session.failure is not None:
            # This side failed the connection (for what the peer sent): the application
            # learns it now, not once the connection ends (a client waits for the
            # server to close it, up to the close timeout).
            await self._report_failure(protocol, None)
        if self._session.eof_wanted:
            await self.finish_sending()
            # Failed for what the peer sent: once the application has the failure, read
            # what still comes before closing (_connection_ended).
            self._linger_wanted = self._failed_for_what_peer_sent(protocol)
            return True
        if protocol.close_expected():
            self._expect_close()
        return False

    async def _catch_up(self) -> None:
        """Wait until the application has taken the queued messages, at most
        :data:`CATCH_UP_WAIT`: what arrives meanwhile is then read in one receive, not one
        wake-up per message, and pings are still answered soon."""
        with trio.move_on_after(CATCH_UP_WAIT):
            while self._pending and not self._closing:
                await self._caught_up.park()

    async def _connection_ended(self, protocol: Protocol, error: BaseException | None) -> None:
        await self._report_failure(protocol, error)
        self._pending_end = True
        self._have_pending.unpark_all()
        if not self._closing:  # no closing handshake: no event (a local close has its own)
            self._send_closed.close()
        if self._linger_wanted:  # the application has the failure already
            await linger(self._socket, self._close_deadline)
        self._close_socket(graceful=self._session.ended_cleanly())

    async def _report_failure(self, protocol: Protocol, error: BaseException | None) -> None:
        """Deliver the connection's failure, once: the session's, else what ended the
        read (*error*), else the end of the connection without a closing handshake."""
        session = self._session
        failure = session.failure
        if failure is None and error is not None:
            failure = session.failure = web_socket_error(
                WebSocketError.get_status(error), f"receive: {error}", broken=True
            )
            failure.__cause__ = error
        if failure is None and not (protocol.close_rcvd and protocol.close_sent):
            exc = closed_exception(protocol)
            failure = session.failure = web_socket_error(
                WebSocketError.get_status(exc),
                "the connection ended without a closing handshake"
                if protocol.close_sent is None
                else f"the connection failed: {protocol.close_sent.reason or exc}",
                close_code=protocol.close_sent.code if protocol.close_sent else 1006,
                close_reason=protocol.close_sent.reason if protocol.close_sent else "",
                broken=True,
            )
            failure.__cause__ = protocol.parser_exc or exc
        if failure is not None and not self._failure_reported and not self._closing:
            self._failure_reported = True
            await self._deliver(Args(SocketMessageType.BINARY, b"", error=failure))

    async def finish_sending(self) -> None:
        """Send what is queued (the last close frame), within the close timeout."""
        self._expect_close()
        with trio.move_on_at(self._close_deadline):
            # A connection already gone has nothing more to send.
            with contextlib.suppress(OSError, trio.BrokenResourceError, trio.ClosedResourceError):
                await self._socket.output_stream.flush()

    async def _process(self, events: list[Any]) -> None:
        protocol = self._protocol
        assert protocol is not None
        for frame in events:
            opcode = frame.opcode
            if opcode is Opcode.TEXT or opcode is Opcode.BINARY or opcode is Opcode.CONT:
                if opcode is not Opcode.CONT:
                    self._start_message(opcode)
                self._cut_bytes = 0 if frame.fin else self._cut_bytes + len(frame.data)
                self._unfinished = not frame.fin
                await self._received(frame.data, frame.fin)
            elif opcode is Opcode.PONG:
                self.pongs += 1
            elif opcode is Opcode.CLOSE:
                rcvd = protocol.close_rcvd
                assert rcvd is not None
                self._emit_closed(rcvd.code, rcvd.reason)
                if self._unfinished:  # the close cut a message short (peer_end)
                    await self._message_cut(rcvd.code, rcvd.reason)

    async def _message_cut(self, code: int, reason: str) -> None:
        """The peer's close frame came inside a message: what came of it is dropped, and
        the message's loss is the last event (after ``closed`` has the close)."""
        self._pieces.take()
        if self._session.failure is None and not self._failure_reported:
            self._failure_reported = True
            lost = message_cut_error(code, reason, self._cut_bytes)
            await self._deliver(Args(self._receiving_type, b"", error=lost))

    def _start_message(self, opcode: Opcode) -> None:
        text = opcode is Opcode.TEXT
        self._receiving_type = SocketMessageType.UTF8 if text else SocketMessageType.BINARY
        self._decoder = codecs.getincrementaldecoder("utf-8")() if text else None
        self._carry = b""

    async def _received(self, data: bytes, fin: bool) -> None:
        if self._session.failure is not None:
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
            if fin:
                await self._deliver(Args(self._receiving_type, self._pieces.take(data)))
            else:
                self._pieces.add(data)
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

    async def _deliver(self, args: Args) -> None:
        """Queue *args* for the channel; then, while the messages not yet taken hold
        more than :data:`PENDING_LIMIT`, wait for the application to take some."""
        if self._closing:
            return  # a local close discards what arrives after it
        handed = False
        if not self._pending:
            # Nothing waits before it: hand it over now and save the deliverer's hop.
            try:
                self._send_messages.send_nowait(args)
            except trio.WouldBlock:
                pass
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                return  # nobody reads any more: dropped
            else:
                handed = True
        if not handed:
            self._pending.append(args)
            self._have_pending.unpark_all()
        over = self.untaken.add(args)
        # Past the bound the read's pings and close come first, up to twice the bound.
        if over and (self.untaken.held > 2 * PENDING_LIMIT or not self._frames.control_ahead()):
            await self._wait_for_room()

    async def _wait_for_room(self) -> None:
        """Answer what was read, then wait while what is untaken is over the bound."""
        untaken = self.untaken
        self.consumer_waits += 1
        self.waiting_for_consumer = True
        try:
            while untaken.held > untaken.limit and not self._closing:
                self._write_pending()
                await untaken.room.park()
        finally:
            self.waiting_for_consumer = False

    @trio.lowlevel.enable_ki_protection
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
                try:
                    await self._send_messages.send(item)
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    sent = False  # nobody reads any more (the channel closed): dropped
                else:
                    sent = True
                if pending and pending[0] is item:
                    pending.popleft()
                    if not sent:
                        self.untaken.taken(item)
                elif sent:
                    # A local close discarded the queue meanwhile, but this one is in
                    # the channel: it counts until it is taken.
                    self.untaken.add(item)
                if not pending:
                    self._caught_up.unpark_all()

    def _discard_pending(self) -> None:
        untaken = self.untaken
        while self._pending:
            untaken.taken(self._pending.popleft())
        untaken.room.unpark_all()
        self._caught_up.unpark_all()

    def _emit_closed(self, code: int, reason: str) -> None:
        if self._closed_sent:
            return
        self._closed_sent = True
        # Nobody to take it (the application closed ``closed``): dropped.
        with contextlib.suppress(trio.ClosedResourceError, trio.BrokenResourceError):
            self._send_closed.send_nowait(WebSocketClosedEventArgs(code, reason))
        self._send_closed.close()

    def _expect_close(self) -> None:
        if self._close_deadline == math.inf:
            self._close_deadline = trio.current_time() + self._control.close_timeout
            if self._receive_scope is not None:
                self._receive_scope.deadline = self._close_deadline

    def _fail(
        self, status: WebErrorStatus, code: int, reason: str, *, peer_at_fault: bool = True
    ) -> None:
        """Fail the connection: close frame *code*, and *status* for every later use.
        *peer_at_fault*: for what the peer sent (the connection is drained, so that the
        peer reads the close frame), not for its silence."""
        protocol = self._protocol
        assert protocol is not None
        self._peer_at_fault = peer_at_fault
        if self._session.failure is None:
            self._session.failure = web_socket_error(
                status, reason, close_code=code, close_reason=reason, broken=True
            )
        protocol.fail(code, reason)
        self._write_pending()
        self._expect_close()
