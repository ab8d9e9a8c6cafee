"""What every WebSocket shares, client or server, message or stream: its session, its
receiver and its sender, and the lifecycle over them (starting the session, closing it,
the async context)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

import trio
from websockets.frames import EXTERNAL_CLOSE_CODES, CloseCode
from websockets.protocol import State

from .._core.checks import check_int, describe, shown
from .._core.lifecycle import Phase
from .._core.web_errors import WebErrorStatus, WebSocketStatusError, web_socket_error
from .._io.scoped import NurseryScoped
from .._sockets.stream_control import StreamSocketControl
from .._sockets.stream_information import StreamSocketInformation
from .._sockets.stream_socket import StreamSocket
from .control import SessionControl, mark_connected
from .events import WebSocketClosedEventArgs
from .information import SessionInformation, record_handshake
from .receiving import DEFAULT_MESSAGE_QUEUE_SIZE, Receiver
from .sending import Sender
from .session import Session

__all__ = ["WebSocketBase"]

# RFC 6455 §5.5: a control frame's payload is at most 125 bytes, 2 of them the code.
_MAX_REASON_BYTES = 123
# The close codes a frame may carry: those RFC 6455 and IANA define for endpoints (the
# protocol library's list; 1004, 1006, 1015 and 1016-2999 are reserved), and 3000-4999
# for libraries and applications. 1005 means "no code" here.
_SENDABLE = frozenset(EXTERNAL_CLOSE_CODES) | frozenset(range(3000, 5000))

_Control = TypeVar("_Control", bound=SessionControl)
_Information = TypeVar("_Information", bound=SessionInformation)


def _check_close(code: object, reason: object) -> int | None:
    if code is not None:
        check_int("code", code, 1000, 4999)
        assert isinstance(code, int)
        if code not in _SENDABLE and code != CloseCode.NO_STATUS_RCVD:
            raise ValueError(
                f"code {code} is reserved and cannot be sent in a close frame (send one of "
                "1000-1003, 1007-1014, 3000-4999; 1005 or None for none)"
            )
    if not isinstance(reason, str):
        raise TypeError(f"reason must be a str, not {describe(reason)}")
    try:
        encoded = reason.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(f"reason {shown(reason)} is not valid text ({exc.reason})") from None
    if len(encoded) > _MAX_REASON_BYTES:
        raise ValueError(f"reason must be at most 123 bytes of UTF-8, not {shown(reason)}")
    if (code is None or code == CloseCode.NO_STATUS_RCVD) and reason:
        raise ValueError(f"a reason needs a close code (code=None sends none), not {shown(reason)}")
    return None if code == CloseCode.NO_STATUS_RCVD else code


class WebSocketBase(NurseryScoped, Generic[_Control, _Information]):
    """What every WebSocket shares: its :class:`~.session.Session`, the
    :class:`~.receiving.Receiver` and :class:`~.sending.Sender` working on it, starting
    the session, closing it and the async context (see MessageWebSocket). The client
    and server roles add how the connection opens; the message and stream kinds add
    their members over the receiver and the sender. The nursery and the async context
    are :class:`~trio_sockets._io.scoped.NurseryScoped`'s, as for every socket.

    *message_queue_size* bounds ``message_received`` (events); what the bound means for
    the reader, and how the block ends, is in MessageWebSocket's docstring.
    """

    def __init__(
        self,
        control_type: Callable[[StreamSocketControl], _Control],
        information_type: Callable[[StreamSocketInformation], _Information],
        socket: StreamSocket,
        *,
        message_queue_size: int = DEFAULT_MESSAGE_QUEUE_SIZE,
    ) -> None:
        self._init_scope()
        self._uri = ""
        session = Session(control_type, information_type, socket, self._describe)
        self._session = session
        self._receiver = Receiver(session, message_queue_size)
        self._sender = Sender(session)
        # The session's, for good.
        self._lifecycle = session.lifecycle
        self._control = session.control
        self._information = session.information

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
        connection was lost without a closing handshake, or closed at once by a
        cancelled ``aclose()``."""
        return self._receiver.closed

    # -- opening -------------------------------------------------------------------------

    def _start_session(self, nursery: trio.Nursery, early: bytes) -> None:
        """The opening handshake succeeded: run the reader, the deliverer and the
        keepalive; *early* are the bytes that came after the handshake message."""
        protocol = self._session.protocol
        assert protocol is not None
        action = self._lifecycle.changing
        assert action is not None
        if self._lifecycle.closed:  # closed meanwhile
            self._close_now()
            raise web_socket_error(
                WebErrorStatus.OPERATION_CANCELED,
                f"open {shown(self._uri)}: the WebSocket was closed",
                closed=True,
            )
        record_handshake(self._information, protocol.subprotocol or "", bool(protocol.extensions))
        self._receiver.start(nursery, early)
        self._sender.start()
        self._lifecycle.finish(action)
        mark_connected(self._control)

    def _write_handshake(self, what: str) -> None:
        """Send this side's handshake message; raise if the connection cannot take it
        (a failure, or an output bound too small for it), closing the connection."""
        try:
            self._session.write_pending(raising=True)
        except WebSocketStatusError:
            self._session.close_socket()
            raise
        except (OSError, trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            self._session.close_socket()
            raise self._session.error_from(exc, what) from exc

    # -- closing -------------------------------------------------------------------------

    async def aclose(self, code: int | None = None, reason: str = "") -> None:
        """Close the WebSocket (WinRT ``Close``): send a close frame with *code* and
        *reason* (``code=None``, or 1005, sends an empty one), wait for the peer's
        answer at most ``control.close_timeout`` seconds, then close the connection.
        Idempotent: once the closing handshake is under way (the peer's close frame
        came, or another ``aclose()`` sent this side's), it sends nothing more and waits
        for the handshake's end as well, within the same ``close_timeout``. ``closed``
        gets the peer's close frame or answer (or, without one, the frame sent). After a
        failure of the connection it closes at once, unless this side failed it for
        what the peer sent and drains it (a server on plain TCP, any client) so that the
        peer reads the close frame rather than a reset: it waits for that, within
        ``close_timeout``. After a completed closing handshake a TLS connection ends
        with close_notify, as a StreamSocket's ``aclose()`` ends it.

        Raises:
            TypeError / ValueError: a code that cannot be sent (outside 1000-1003,
                1005, 1007-1014 and 3000-4999), a reason that is not valid text or over
                123 bytes of UTF-8, or a reason without
                a code (named).

        Cancellation: the connection is closed at once.
        """
        close_code = _check_close(code, reason)
        if self._lifecycle.closed:
            await trio.lowlevel.checkpoint()
            return
        session = self._session
        protocol = session.protocol
        opened = self._lifecycle.phase is Phase.CONNECTED
        session.closing_here = True
        graceful = False
        try:
            if not opened or protocol is None:
                await trio.lowlevel.checkpoint()
            elif protocol.state is State.OPEN:
                self._receiver.stop_delivering()
                protocol.send_close(close_code, reason)
                session.write_pending()
                await self._receiver.close_handshake()
            elif session.failure is None and protocol.parser_exc is None:
                # The closing handshake is under way: the peer's close frame came (the
                # reader may not have handled it yet), or another aclose() sent this
                # side's. Its end is waited for as that aclose() waits, not cut short.
                self._receiver.stop_delivering()
                await self._receiver.close_handshake()
            elif self._receiver.lingering:
                # This side failed the connection for what the peer sent, and drains it
                # so that the peer reads the close frame rather than a reset.
                await self._receiver.close_handshake(report=False)
            else:
                await trio.lowlevel.checkpoint()
            graceful = session.ended_cleanly()
        finally:
            self._close_now(graceful=graceful)
        await self._session.wait_socket_closed()

    def _close_now(self, *, graceful: bool = False) -> None:
        """Close at once, or *graceful* (see ``Session.close_socket``)."""
        self._lifecycle.close()
        self._receiver.close()
        self._session.close_socket(graceful=graceful)
