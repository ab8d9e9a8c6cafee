"""The session of every WebSocket, client or server, message or stream: its state, the
:class:`~trio_sockets.StreamSocket` under it and the sans-I/O protocol of ``websockets``.

The socket owns one StreamSocket at a time, entered in a task of the WebSocket's own
nursery, so its writes are hot: protocol bytes (messages, pongs, close frames) go to
``output_stream.write`` the moment the protocol produces them, in that order, and no
task ever waits to send a control frame. The receive side (``receiving``), the send side
(``sending``) and the lifecycle (``base``) build on what is here.
"""

from __future__ import annotations

import codecs
import collections
import logging
import math
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import trio
from websockets.exceptions import ConnectionClosed, ConnectionClosedError
from websockets.protocol import Protocol, State

from .._core.checks import check_int, describe, shown
from .._core.enums import SocketMessageType
from .._core.lifecycle import WEBSOCKET, Lifecycle, Phase
from .._core.web_errors import (
    WebErrorStatus,
    WebSocketError,
    WebSocketStatusError,
    web_socket_error,
)
from .._data.interfaces import WriteOperationLike
from .._io.scoped import NurseryScoped
from .._sockets.stream_control import StreamSocketControl
from .._sockets.stream_information import StreamSocketInformation
from .._sockets.stream_socket import StreamSocket
from .control import SessionControl
from .events import MessageWebSocketMessageReceivedEventArgs, WebSocketClosedEventArgs
from .information import SessionInformation

__all__ = ["DEFAULT_MESSAGE_QUEUE_SIZE", "Args", "Session", "check_header", "closed_exception"]

#: The most bytes one read from the connection asks for.
RECEIVE_SIZE = 256 * 1024
#: The default bound of ``message_received``, in events.
DEFAULT_MESSAGE_QUEUE_SIZE = 16

# The protocol library logs at debug level per frame; keep it quiet unless asked.
_LOGGER = logging.getLogger("trio_sockets.websocket")

Args = MessageWebSocketMessageReceivedEventArgs
_Control = TypeVar("_Control", bound=SessionControl)
_Information = TypeVar("_Information", bound=SessionInformation)


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


def closed_exception(protocol: Protocol) -> ConnectionClosed:
    """What ended the connection, in any state (``close_exc`` needs CLOSED)."""
    if protocol.close_rcvd is None and protocol.close_sent is None:
        return ConnectionClosedError(None, None, None)
    return ConnectionClosed(protocol.close_rcvd, protocol.close_sent, protocol.close_rcvd_then_sent)


class Session(NurseryScoped, Generic[_Control, _Information]):
    """The state of a WebSocket and what every side of it uses: the StreamSocket and
    its task, the opening handshake's read, handing protocol bytes to the connection,
    the checks of the state, failing the connection. The nursery and the async context
    are :class:`~trio_sockets._io.scoped.NurseryScoped`'s, as for every socket."""

    def __init__(
        self,
        control_type: Callable[[StreamSocketControl], _Control],
        information_type: Callable[[StreamSocketInformation], _Information],
        socket: StreamSocket,
        *,
        message_queue_size: int = DEFAULT_MESSAGE_QUEUE_SIZE,
    ) -> None:
        self._init_scope()
        check_int("message_queue_size", message_queue_size, 1, 1 << 20)
        self._socket = socket
        self._socket_scope: trio.CancelScope | None = None
        self._socket_closed: trio.Event | None = None
        self._control = control_type(self._socket.control)
        self._information = information_type(self._socket.information)
        self._send_messages, self._messages = trio.open_memory_channel[Args](message_queue_size)
        self._send_closed, self._closed = trio.open_memory_channel[WebSocketClosedEventArgs](1)
        self._lifecycle = Lifecycle(WEBSOCKET, self._describe)
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
        self._caught_up = trio.lowlevel.ParkingLot()  # the queue became empty
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
        where = f" {shown(self._uri)}" if self._uri else ""
        return f"<{type(self).__name__} {self._state_name()}{where}>"

    def _describe(self) -> str:
        where = f" {shown(self._uri)}" if self._uri else ""
        return f"{type(self).__name__}{where} ({self._state_name()})"

    def _state_name(self) -> str:
        life = self._lifecycle
        if life.phase is Phase.NEW:
            return "new" if life.changing is None else "connecting"
        return "open" if life.phase is Phase.CONNECTED else "closed"

    def _is_new(self) -> bool:
        """Neither connecting, nor open, nor closed."""
        return self._lifecycle.phase is Phase.NEW and self._lifecycle.changing is None

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

    async def _start_socket(self, nursery: trio.Nursery) -> None:
        if self._socket_scope is None:
            await nursery.start(self._run_socket, self._socket)

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
        closed = isinstance(exc, trio.ClosedResourceError) or self._lifecycle.closed
        if closed:
            status = WebErrorStatus.OPERATION_CANCELED
        return web_socket_error(status, f"{what}: {exc}", closed=closed)

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

    def _check_open(self, what: str) -> Protocol:
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

    def _expect_close(self) -> None:
        if self._close_deadline == math.inf:
            self._close_deadline = trio.current_time() + self._control.close_timeout
            if self._receive_scope is not None:
                self._receive_scope.deadline = self._close_deadline

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
