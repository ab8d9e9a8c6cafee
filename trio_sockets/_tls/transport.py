"""The socket under a :class:`trio.SSLStream`: raw sends and receives, nothing else."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Callable
from typing import Final

import trio

from .._core.errors import translate_os_error
from .._io.sending import SendRoom
from .._io.sockio import reset_on_close

__all__ = ["MAX_DRAIN_READS", "SocketTransport"]

#: Reads of 64 KiB that take, without waiting, what a failed TLS connection received.
MAX_DRAIN_READS: Final = 16


class SocketTransport(trio.abc.Stream):
    """The socket under a :class:`trio.SSLStream`: raw sends and receives, nothing else.

    It neither sets socket options (a ``trio.SocketStream`` would force ``TCP_NODELAY``)
    nor closes the socket: the :class:`~trio_sockets.StreamSocket` owns it. It waits for
    room in the send buffer in turn with the socket's other waits for room (its
    :class:`~trio_sockets._io.sending.SendRoom`: ``wait_send_all_might_not_block`` of
    the socket), as trio allows one such wait per fd. While
    :attr:`closing`, a send that would block gives up instead, so that the close_notify
    of a closing TLS stream never waits on a peer that does not read.
    """

    def __init__(self, sock: socket.socket, what: str) -> None:
        self._sock = sock
        self._what = what
        self.closing = False
        #: Whether a receive is under way (it may hold bytes not yet given to OpenSSL).
        self.receiving = False
        #: Called by each send (a server's answer restarts its wait for the client:
        #: :func:`~trio_sockets._tls.session.client_hello_within`).
        self.on_send: Callable[[], None] | None = None
        #: Plain text that arrived whole before a send broke the stream (read after
        #: the failure, looking for the peer's alert): the receives still get it.
        self.salvaged = bytearray()
        #: Whether plain text that came before a send broke the stream may still wait
        #: in the kernel, for the receives to take (``arrived.salvage_more``).
        self.salvaging = False

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        sock = self._sock
        if self.on_send is not None:
            self.on_send()
        await trio.lowlevel.checkpoint_if_cancelled()
        yielded = False
        with memoryview(data) as view:
            remaining = view
            while remaining:
                try:
                    sent = sock.send(remaining)
                except BlockingIOError:
                    if self.closing:
                        raise trio.BrokenResourceError("the socket is closing") from None
                    yielded = True
                    await SendRoom.of(sock).wait(sock)
                    continue
                except OSError as exc:
                    raise self._failure(exc, "send") from exc
                remaining = remaining[sent:]
        if not yielded:
            await trio.lowlevel.cancel_shielded_checkpoint()

    async def wait_send_all_might_not_block(self) -> None:
        await SendRoom.of(self._sock).wait(self._sock)

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        sock = self._sock
        size = max_bytes or 65536
        await trio.lowlevel.checkpoint_if_cancelled()
        yielded = False
        self.receiving = True
        try:
            while True:
                try:
                    data = sock.recv(size)
                except BlockingIOError:
                    yielded = True
                    await trio.lowlevel.wait_readable(sock)
                    continue
                except OSError as exc:
                    raise self._failure(exc, "receive") from exc
                if not yielded:
                    await trio.lowlevel.cancel_shielded_checkpoint()
                return data
        finally:
            self.receiving = False

    def send_final(self, data: bytes) -> None:
        """Send *data* if the kernel takes it at once, then end the sending side.

        For the alert of a failed handshake: nothing waits on the peer. The FIN goes
        out before the reset that closing the socket with unread bytes would cause (a
        reset may make the peer drop the alert unread), and bytes that already arrived
        are read and dropped, so that they cause no reset.
        """
        sock = self._sock
        # OSError: the peer is gone, or the send buffer is full.
        with contextlib.suppress(OSError), memoryview(data) as view:
            sent = 0
            while sent < len(view):
                sent += sock.send(view[sent:])
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_WR)
        self.received_now()

    def reset_on_close(self) -> None:
        """Make closing the socket reset the connection (see :func:`reset_on_close`)."""
        reset_on_close(self._sock)

    def received_now(self) -> bytes:
        """What has arrived and not been read yet (at most 1 MiB), without waiting."""
        received = bytearray()
        for _ in range(MAX_DRAIN_READS):
            try:
                data = self._sock.recv(65536)
            except OSError:  # nothing more now (BlockingIOError), or the peer reset
                break
            if not data:
                break
            received += data
        return bytes(received)

    def _failure(self, exc: OSError, action: str) -> Exception:
        if self._sock.fileno() == -1:
            return trio.ClosedResourceError(f"{self._what} was closed")
        return translate_os_error(exc, f"{action} on {self._what}", broken=True)

    async def aclose(self) -> None:
        await trio.lowlevel.checkpoint()
