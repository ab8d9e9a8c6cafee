"""The session of every WebSocket, client or server, message or stream: its state, the
:class:`~trio_sockets.StreamSocket` under it and the sans-I/O protocol of ``websockets``.

The session owns one StreamSocket at a time, entered in a task of the WebSocket's own
nursery, so its writes are hot: protocol bytes (messages, pongs, close frames) go to
``output_stream.write`` the moment the protocol produces them, in that order, and no
task ever waits to send a control frame. A WebSocket (``base``) owns a session, and the
receiver (``receiving``) and the sender (``sending``) that work on it.

The output stream refuses writes past its ``max_pending_bytes``, and a frame the
protocol produced cannot be taken back (permessage-deflate has already compressed it),
so the session keeps the room its writes need: the sender refuses a message before it
is encoded unless it fits with :func:`reserve_of` left over, and the reader reads only
as much as the room left can answer (:meth:`Session.read_size`). The reader also stops
reading while more than :data:`ANSWERS_HIGH_WATER` of its answers wait unsent (a peer
that sends pings and reads nothing), until the output drains: the peer is then held
back by TCP, and a hostile peer costs bounded memory.
"""

from __future__ import annotations

import collections
import contextlib
import logging
from collections.abc import Callable
from typing import Generic, TypeVar

import trio
from websockets.exceptions import ConnectionClosed, ConnectionClosedError
from websockets.protocol import Protocol, State

from .._core.checks import describe, shown
from .._core.errors import SocketError, SocketErrorStatus
from .._core.lifecycle import WEBSOCKET, Lifecycle, Phase
from .._core.web_errors import (
    WebErrorStatus,
    WebSocketError,
    WebSocketStatusError,
    web_socket_error,
)
from .._data.interfaces import WriteOperation
from .._io.scoped import close_at_once
from .._io.sockio import unsent
from .._io.stream_output import StreamOutputStream
from .._sockets.stream_control import StreamSocketControl
from .._sockets.stream_information import StreamSocketInformation
from .._sockets.stream_socket import StreamSocket
from .control import SessionControl
from .events import MessageWebSocketMessageReceivedEventArgs
from .information import SessionInformation

__all__ = [
    "ANSWERS_HIGH_WATER",
    "ANSWER_FACTOR",
    "CONTROL_SLACK",
    "INFLATE_SLICE",
    "RECEIVE_SIZE",
    "Args",
    "Session",
    "check_header",
    "closed_exception",
    "reserve_of",
]

#: The most bytes one read from the connection asks for.
RECEIVE_SIZE = 256 * 1024
#: With permessage-deflate, how many bytes of a read the protocol gets at a time: deflate
#: expands at most 1032-fold, so the frames that end in one slice inflate to 16.5 MiB at
#: most, besides one frame begun before it (up to ``max_message_size``).
INFLATE_SLICE = 16 * 1024
#: The most bytes the answers to one byte read can take: an empty ping of 2 bytes
#: from a server is answered by a masked pong of 6.
ANSWER_FACTOR = 3
#: Room for the control frames sent besides the reader's answers (a keepalive ping, a
#: close frame or two), the answer to a frame begun in an earlier read, and the
#: per-write cost of the output stream.
CONTROL_SLACK = 4096
#: How many bytes of control frames (pongs, close frames) may wait unsent before the
#: reader stops reading until the output drains.
ANSWERS_HIGH_WATER = ANSWER_FACTOR * RECEIVE_SIZE
# The least a read asks for once the output has drained.
_MIN_READ = 4096


def reserve_of(bound: int) -> int:
    """The room messages leave in an output bounded by *bound*, for the answers to a
    full read (``max_pending_bytes // 4`` of it at most: a smaller bound reads less)."""
    return min(ANSWER_FACTOR * RECEIVE_SIZE + 2 * CONTROL_SLACK, bound // 4)


# The protocol library logs at debug level per frame; keep it quiet unless asked.
_LOGGER = logging.getLogger("trio_sockets.websocket")
# Handshake headers that carry credentials: the protocol logs every header at debug
# level, and logs must not hold a password (Basic is base64, not a secret).
_CREDENTIALS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie"})


def _hide_credentials(record: logging.LogRecord) -> bool:
    args = record.args
    if (
        record.msg in ("> %s: %s", "< %s: %s")
        and isinstance(args, tuple)
        and len(args) == 2
        and str(args[0]).lower() in _CREDENTIALS
    ):
        record.args = (args[0], "***")
    return True


_LOGGER.addFilter(_hide_credentials)

Args = MessageWebSocketMessageReceivedEventArgs
_Control = TypeVar("_Control", bound=SessionControl)
_Information = TypeVar("_Information", bound=SessionInformation)


# The headers the opening handshake sets itself (lower case), in the request and in
# the 101 answer (Sec-WebSocket-Key and Host are the request's, refused in both), and
# those only the answer sets (websockets' ServerProtocol.accept).
_HANDSHAKE_HEADERS = frozenset(
    ("sec-websocket-key", "sec-websocket-version", "upgrade", "connection", "host")
)
_ANSWER_HEADERS = frozenset(("sec-websocket-accept", "date"))
# The headers of a rejection that reject() sets itself (its answer carries a plain-text
# body and closes the connection), and those of the handshake that have no place in a
# refusal. Upgrade and Sec-WebSocket-Version may go with a 426 (RFC 6455 4.4).
_REJECTION_HEADERS = frozenset(
    (
        "content-length",
        "transfer-encoding",
        "content-type",
        "connection",
        "date",
        "host",
        "sec-websocket-key",
        "sec-websocket-accept",
        "sec-websocket-protocol",
        "sec-websocket-extensions",
    )
)


def check_header(
    name: object, value: object, *, answer: bool = False, rejection: bool = False
) -> tuple[str, str]:
    """*name* and *value* as a header of the opening handshake can carry them: of the
    request, *answer*, of the server's 101 answer, or *rejection*, of its refusal.

    Raises:
        TypeError / ValueError: not a str, a name that is not an HTTP token, a value
            with control characters or characters outside ISO-8859-1, or a header the
            handshake (or ``reject()``) sets itself (named, any case).
    """
    if not isinstance(name, str):
        raise TypeError(f"header name must be a str, not {describe(name)}")
    if not isinstance(value, str):
        raise TypeError(f"header value must be a str, not {describe(value)}")
    if not name or not all(33 <= ord(c) <= 126 and c not in '()<>@,;:\\"/[]?={}' for c in name):
        raise ValueError(f"header name {shown(name)} is not an HTTP token")
    if any((ord(c) < 32 and c != "\t") or ord(c) == 127 for c in value):
        raise ValueError(f"header value {shown(value)} for {shown(name)} has control characters")
    if not value.isascii() and any(ord(c) > 255 for c in value):
        # HTTP/1.1 carries header bytes, which the handshake writes as ISO-8859-1.
        raise ValueError(
            f"header value {shown(value)} for {shown(name)} has characters outside "
            "ISO-8859-1, which HTTP headers cannot carry (encode them, e.g. percent-encoding)"
        )
    lower = name.lower()
    if rejection:
        if lower in _REJECTION_HEADERS:
            raise ValueError(
                f"{name} cannot be set in a rejection: reject() sets it itself, or it has "
                "no place in a refusal"
            )
        return name, value
    if lower == "sec-websocket-extensions":
        raise ValueError(
            "Sec-WebSocket-Extensions cannot be set (as in WinRT): use "
            "control.permessage_deflate for compression"
        )
    if lower in _HANDSHAKE_HEADERS or (answer and lower in _ANSWER_HEADERS):
        raise ValueError(f"{name} is set by the opening handshake and cannot be set")
    if lower in ("content-length", "transfer-encoding"):
        raise ValueError(f"{name} cannot be set: the opening handshake has no body")
    if lower == "sec-websocket-protocol":
        raise ValueError(
            "Sec-WebSocket-Protocol cannot be set: "
            + ("pass the subprotocol to accept()" if answer else "use control.supported_protocols")
        )
    return name, value


def closed_exception(protocol: Protocol) -> ConnectionClosed:
    """What ended the connection, in any state (``close_exc`` needs CLOSED)."""
    if protocol.close_rcvd is None and protocol.close_sent is None:
        return ConnectionClosedError(None, None, None)
    return ConnectionClosed(protocol.close_rcvd, protocol.close_sent, protocol.close_rcvd_then_sent)


class Session(Generic[_Control, _Information]):
    """The state of one WebSocket that its receiver and sender share: the StreamSocket
    and its task, the protocol, the lifecycle, the failure of the connection; the
    opening handshake's read, handing protocol bytes to the connection, the checks of
    the state. *describe* names the WebSocket in messages."""

    def __init__(
        self,
        control_type: Callable[[StreamSocketControl], _Control],
        information_type: Callable[[StreamSocketInformation], _Information],
        socket: StreamSocket,
        describe: Callable[[], str],
    ) -> None:
        self._socket = socket
        self._socket_scope: trio.CancelScope | None = None
        self._socket_closed: trio.Event | None = None
        # Set to end the socket's task by the socket's own close (see close_socket).
        self._socket_release: trio.Event | None = None
        self._control = control_type(self._socket.control)
        self._information = information_type(self._socket.information)
        self._lifecycle = Lifecycle(WEBSOCKET, describe)
        self._protocol: Protocol | None = None
        #: What failed the connection, once it failed; every later use raises it.
        self.failure: WebSocketStatusError | None = None
        #: True once the protocol has said this side is done: the connection closes
        #: once what it produced is sent.
        self.eof_wanted = False
        #: True once ``aclose()`` began: an operation that finds the connection closing
        #: then was ended by this side (trio.ClosedResourceError), not broken by the peer.
        self.closing_here = False
        # The connection's output stream, once asked for.
        self._output: StreamOutputStream | None = None
        # The writes of control frames (pongs, close frames) not done yet, oldest
        # first, with their sizes, and the sum of those sizes.
        self._answers: collections.deque[tuple[WriteOperation, int]] = collections.deque()
        self._answer_bytes = 0
        #: The bytes handed to the connection's output so far (the keepalive's measure
        #: of what has left it).
        self.written_bytes = 0

    @property
    def control(self) -> _Control:
        return self._control

    @property
    def information(self) -> _Information:
        return self._information

    @property
    def lifecycle(self) -> Lifecycle:
        return self._lifecycle

    @property
    def socket(self) -> StreamSocket:
        """The StreamSocket of the current (or last) connection."""
        return self._socket

    @property
    def protocol(self) -> Protocol | None:
        """The protocol of the connection, from the start of its opening handshake."""
        return self._protocol

    @protocol.setter
    def protocol(self, protocol: Protocol) -> None:
        self._protocol = protocol

    def replace_socket(self, fresh: StreamSocket) -> None:
        """Carry the next connect on *fresh*: the last attempt's connection is gone."""
        self._socket = fresh
        self._socket_scope = None
        self._socket_release = None
        self._output = None
        self._answers.clear()
        self._answer_bytes = 0
        self.written_bytes = 0

    async def start_socket(self, nursery: trio.Nursery) -> None:
        if self._socket_scope is None:
            await nursery.start(self._run_socket, self._socket)

    @trio.lowlevel.enable_ki_protection
    async def _run_socket(self, sock: StreamSocket, *, task_status: trio.TaskStatus[None]) -> None:
        # The StreamSocket is entered here, in a task of the WebSocket's nursery, so its
        # writes run in the background; cancelling the scope closes it at once, the
        # release closes it as its aclose() does (with TLS's close_notify).
        scope = self._socket_scope = trio.CancelScope()
        release = self._socket_release = trio.Event()
        done = self._socket_closed = trio.Event()
        try:
            with scope:
                async with sock:
                    task_status.started()
                    await release.wait()
                    # The connection's end, not this side's concern any more: the peer
                    # may be gone already.
                    with contextlib.suppress(
                        OSError, trio.BrokenResourceError, trio.ClosedResourceError
                    ):
                        await sock.aclose()
        finally:
            done.set()

    def ended_cleanly(self) -> bool:
        """Whether the closing handshake is done (both close frames went) and the
        connection did not fail."""
        protocol = self._protocol
        return (
            protocol is not None
            and protocol.close_rcvd is not None
            and protocol.close_sent is not None
            and protocol.parser_exc is None
            and self.failure is None
        )

    def close_socket(self, *, graceful: bool = False) -> None:
        """Close the connection: at once, or *graceful* (the exchange is over) as the
        StreamSocket's ``aclose()`` does, which ends TLS with close_notify, if everything
        was sent, by this side and by the kernel (else the peer is not reading: at once;
        a TLS close would wait for it), within ``close_timeout``."""
        scope = self._socket_scope
        release = self._socket_release
        if scope is not None:
            if graceful and release is not None and self._all_sent():
                deadline = trio.current_time() + self._control.close_timeout
                scope.deadline = min(scope.deadline, deadline)
                release.set()
            else:
                scope.cancel()
        else:
            # No task owns the socket yet (a server's block ended before
            # receive_request(), or it was closed without being entered): close it
            # here, or its connection would stay open until the garbage collector.
            close_at_once(self._socket)

    def _all_sent(self) -> bool:
        if self.output().pending_bytes:
            return False
        try:
            return unsent(self._socket.socket) == 0
        except (RuntimeError, trio.ClosedResourceError):  # not connected, or closed
            return True

    @property
    def socket_ended(self) -> bool:
        """Whether the task that owns the socket has ended: the socket is closed (a
        connect cancelled as it started the task ends it too)."""
        return self._socket_closed is not None and self._socket_closed.is_set()

    async def wait_socket_closed(self) -> None:
        if self._socket_closed is not None:
            await self._socket_closed.wait()

    def error_from(self, exc: BaseException, what: str) -> WebSocketStatusError:
        """The error of *what*, which failed with *exc*: the connection's own failure if
        it failed (the library closed it: a keepalive timeout, a protocol error), else
        ``OPERATION_CANCELED`` once this side began closing it, else *exc* classified."""
        failure = self.failure
        if failure is not None and not self._lifecycle.closed:
            error = self._failure_of(failure, what)
            error.__cause__ = exc
            return error
        status = WebSocketError.get_status(exc)
        closed = (
            isinstance(exc, trio.ClosedResourceError) or self._lifecycle.closed or self.closing_here
        )
        if closed:
            status = WebErrorStatus.OPERATION_CANCELED
        # Only a peer's refusal is a ConnectionRefusedError (not a local failure to open).
        refused = SocketError.get_status(exc) is SocketErrorStatus.CONNECTION_REFUSED
        builtin = refused or status is not WebErrorStatus.CANNOT_CONNECT
        return web_socket_error(status, f"{what}: {exc}", closed=closed, builtin=builtin)

    @staticmethod
    def _failure_of(failure: WebSocketStatusError, what: str) -> WebSocketStatusError:
        return web_socket_error(
            failure.status,
            f"{what}: {failure.message}",
            close_code=failure.close_code,
            close_reason=failure.close_reason,
            broken=True,
        )

    def output(self) -> StreamOutputStream:
        """The connection's output stream."""
        if self._output is None:
            output = self._socket.output_stream
            assert isinstance(output, StreamOutputStream)
            self._output = output
        return self._output

    async def read_size(self) -> int:
        """How many bytes the reader may read now: the answers to them (pongs, a close
        reply) must fit in the output's room. While they would not, or more than
        :data:`ANSWERS_HIGH_WATER` of earlier answers wait unsent, wait for the output
        to drain: the reader reads nothing meanwhile, and TCP holds the peer back. A
        trio checkpoint only when it waits."""
        answers = self._answers
        while answers and answers[0][0].done:  # writes end in order
            self._answer_bytes -= answers.popleft()[1]
        output = self.output()
        size = min(RECEIVE_SIZE, (output.room_bytes - CONTROL_SLACK) // ANSWER_FACTOR)
        if size >= _MIN_READ and self._answer_bytes <= ANSWERS_HIGH_WATER:
            return size
        if output.pending_bytes:
            # A connection that failed has nothing to drain: the read then finds it.
            with contextlib.suppress(OSError, trio.BrokenResourceError, trio.ClosedResourceError):
                await output.drain()
            size = (output.room_bytes - CONTROL_SLACK) // ANSWER_FACTOR
        return max(_MIN_READ, min(RECEIVE_SIZE, size))

    def write_pending(self, *, raising: bool = False) -> WriteOperation | None:
        """Hand what the protocol produced to the connection, at once and in order, as
        one write: a refused write leaves nothing half sent. A connection that can no
        longer take it raises only when *raising* (a user's write: a message); for pongs
        and close frames the reader finds the broken connection itself.
        A write the output refuses for its bound (which the room kept by the sender and
        the reader makes rare: the peer reads nothing at all) fails the connection with
        ``CONNECTION_ABORTED`` and closes it; *raising*, that failure is raised.
        """
        assert self._protocol is not None
        chunks = []
        for chunk in self._protocol.data_to_send():
            if chunk:
                chunks.append(chunk)
            else:  # this side is done: close the connection once this is sent
                self.eof_wanted = True
        if not chunks:
            return None
        data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        try:
            operation = self.output().write(data)
        except BufferError as exc:
            failure = self._overflowed(exc)
            if raising:
                raise failure from exc
            return None
        except (OSError, trio.BrokenResourceError, trio.ClosedResourceError):
            if raising:
                raise
            return None
        self.written_bytes += len(data)
        if not raising:
            self._answers.append((operation, len(data)))
            self._answer_bytes += len(data)
        return operation

    def _overflowed(self, exc: BufferError) -> WebSocketStatusError:
        """The output refused protocol bytes: the connection cannot go on without them."""
        failure = web_socket_error(
            WebErrorStatus.CONNECTION_ABORTED,
            f"what this side must send does not fit in the connection's output: {exc}",
            close_code=1006,
            broken=True,
        )
        failure.__cause__ = exc
        if self.failure is None:
            self.failure = failure
        self.close_socket()
        return failure

    def check_connected(self, what: str) -> None:
        """Raise unless connect() succeeded and this side has not closed."""
        if self._lifecycle.phase is Phase.NEW:
            raise RuntimeError(
                f"{what} needs an open WebSocket: call connect() (on a server, accept()) first"
            )
        if self._lifecycle.closed:
            raise web_socket_error(
                WebErrorStatus.OPERATION_CANCELED,
                f"{what}: this WebSocket was closed",
                closed=True,
            )

    def check_open(self, what: str) -> Protocol:
        """The protocol, if the connection is open; raise the reason otherwise."""
        self.check_connected(what)
        protocol = self._protocol
        assert protocol is not None
        failure = self.failure
        if failure is not None:
            raise self._failure_of(failure, what) from failure
        if self.closing_here:
            # Another task's aclose() is under way (trio.abc.SendStream: a stream
            # another task closes raises trio.ClosedResourceError).
            raise web_socket_error(
                WebErrorStatus.OPERATION_CANCELED,
                f"{what}: this WebSocket is being closed",
                closed=True,
            )
        if protocol.state is not State.OPEN:
            exc = closed_exception(protocol)
            rcvd = protocol.close_rcvd
            raise web_socket_error(
                WebSocketError.get_status(exc),
                f"{what}: the connection is closed",
                close_code=rcvd.code if rcvd is not None else None,
                close_reason=rcvd.reason if rcvd is not None else "",
                broken=True,
            ) from exc
        return protocol
