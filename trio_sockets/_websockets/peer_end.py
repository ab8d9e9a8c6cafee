"""How the peer ends a connection, as the receiver handles it: a close frame that cuts a
message short, and draining a connection this side failed until the peer closes it.

RFC 6455 5.4 lets control frames come between the frames of a fragmented message, a
close frame among them (5.5.1: once it is sent, nothing more is). ``websockets``'
sans-I/O protocol takes a close frame there for a protocol error: it answers 1002
"incomplete fragmented message" and queues no close event, so the peer's code and reason
would be lost, and the connection taken for failed by this side. The protocols here take
it as the close it is: the close frame is answered (echoed) and delivered as any close,
and the receiver reports the unfinished message, which is not a message, as lost
(:func:`message_cut_error`). The message under way is the protocol's ``current_size``
(``websockets`` 16 and later; the package requires those).
"""

from __future__ import annotations

import contextlib

import trio
from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.protocol import Protocol
from websockets.server import ServerProtocol

from .._core.checks import shown
from .._core.enums import SocketProtectionLevel
from .._core.web_errors import WebSocketStatusError, status_of_close, web_socket_error
from .._sockets.stream_socket import StreamSocket
from .session import RECEIVE_SIZE

__all__ = ["CloseCutsClientProtocol", "CloseCutsServerProtocol", "linger", "message_cut_error"]


class _CloseCuts(Protocol):
    """Takes a close frame inside a fragmented message as the peer's close (see the
    module docstring); mixed into the client and the server protocol."""

    def recv_frame(self, frame: Frame) -> None:
        if frame.opcode is Opcode.CLOSE:
            self.current_size = None  # the message under way ends with the connection
        super().recv_frame(frame)


class CloseCutsClientProtocol(_CloseCuts, ClientProtocol):
    """``ClientProtocol`` that takes a close inside a message as the peer's close."""


class CloseCutsServerProtocol(_CloseCuts, ServerProtocol):
    """``ServerProtocol`` that takes a close inside a message as the peer's close."""


def message_cut_error(code: int, reason: str, received: int) -> WebSocketStatusError:
    """The last event of ``message_received`` when the peer's close frame (*code*,
    *reason*) came after *received* bytes of a message and before its last frame: the
    message is lost, and says so with the peer's code and reason (its status as the
    peer's close: ``DISCONNECTED``, ``REQUEST_ENTITY_TOO_LARGE`` for 1009)."""
    because = f" and reason {shown(reason)}" if reason else ""
    return web_socket_error(
        status_of_close(code, by_peer=True),
        f"the peer closed the WebSocket with code {code}{because} in the middle of a "
        f"message: its {received} bytes received so far are not a message, and were dropped",
        close_code=code,
        close_reason=reason,
        broken=True,
    )


async def linger(sock: StreamSocket, deadline: float) -> None:
    """This side failed the connection for what the peer sent (a frame too big), and the
    rest may still be coming: closing with bytes unread would reset the connection, and
    the peer could lose the close frame. So end the sending side, and read and drop what
    comes until the peer closes, until *deadline*. A TLS connection, which cannot end
    one direction, is closed at once: a peer still sending may see a reset first."""
    if sock.information.protection_level is not SocketProtectionLevel.PLAIN_SOCKET:
        return
    with (
        trio.move_on_at(deadline),
        contextlib.suppress(OSError, trio.BrokenResourceError, trio.ClosedResourceError),
    ):
        await sock.send_eof()
        while await sock.receive_some(RECEIVE_SIZE):
            pass
