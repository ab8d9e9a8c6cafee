"""What every WebSocket shares, client or server, message or stream: the session's
lifecycle (starting it, closing it, the async context) over its receive side."""

from __future__ import annotations

from typing import Any, TypeVar

import trio
from websockets.frames import CloseCode
from websockets.protocol import State

from .._core.checks import check_int, describe, shown
from .._core.lifecycle import Phase
from .._core.web_errors import WebErrorStatus, web_socket_error
from .control import SessionControl, mark_connected
from .information import SessionInformation, record_handshake
from .receiving import ReceiveSide

__all__ = ["WebSocketBase"]

# RFC 6455 §5.5: a control frame's payload is at most 125 bytes, 2 of them the code.
_MAX_REASON_BYTES = 123
# Close codes an endpoint must not send (RFC 6455 §7.4.1); 1005 means "no code" here.
_UNSENDABLE = frozenset({1004, 1006, 1015})

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


class WebSocketBase(ReceiveSide[_Control, _Information]):
    """What every WebSocket shares: starting the session, closing it and the async
    context, over the reader and keepalive of :class:`ReceiveSide` (see
    MessageWebSocket). Sending adds itself on top; the client and server roles add how
    the connection opens.

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

    def _start_session(self, nursery: trio.Nursery, events: list[Any]) -> None:
        """The opening handshake succeeded: run the reader, the deliverer and the
        keepalive; *events* are the frames that came with the handshake."""
        protocol = self._protocol
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
        self._lifecycle.finish(action)
        mark_connected(self._control)

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
        if self._lifecycle.closed:
            await trio.lowlevel.checkpoint()
            return
        protocol = self._protocol
        opened = self._lifecycle.phase is Phase.CONNECTED
        try:
            if opened and protocol is not None and protocol.state is State.OPEN:
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
        self._lifecycle.close()
        self._closing = True
        for scope in self._task_scopes:
            scope.cancel()
        self._discard_pending()
        self._send_messages.close()
        self._send_closed.close()
        self._close_socket()
