"""The socket under a :class:`trio.SSLStream`: raw sends and receives, nothing else."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Callable
from typing import Final

import trio

from .._core.errors import translate_os_error
from .._io.sending import SendRoom
from .._io.sockio import reset_on_close, unsent

__all__ = ["LINGER_IDLE", "MAX_DRAIN_READS", "SocketTransport"]

#: Reads of 64 KiB that take, without waiting, what a failed TLS connection received.
MAX_DRAIN_READS: Final = 16
#: How long a closing TLS socket waits for a peer that takes nothing more of what it
#: sends (seconds), reading off what arrives meanwhile: see :meth:`SocketTransport.linger`.
LINGER_IDLE: Final = 1.0
# How often a lingering close asks the kernel what is left unsent (seconds): a doubling
# wait, back to the first whenever more left.
_FIRST_WAIT: Final = 0.001
_LONGEST_WAIT: Final = 0.05


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
        #: Whether the peer ended the connection (:meth:`received_now` met its end).
        self.peer_ended = False
        #: Whether application data came while a close lingered (:meth:`linger`).
        self.unread_data = False
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
        """What has arrived and not been read yet (at most 1 MiB), without waiting;
        :attr:`peer_ended` once the peer ended the connection (its FIN, a reset)."""
        received = bytearray()
        for _ in range(MAX_DRAIN_READS):
            try:
                data = self._sock.recv(65536)
            except BlockingIOError:  # nothing more now
                break
            except OSError:  # the peer reset, or the socket is closed
                self.peer_ended = True
                break
            if not data:
                self.peer_ended = True
                break
            received += data
        return bytes(received)

    async def linger(self, read_off: Callable[[], bool]) -> None:
        """End the sending side, then, until the kernel has sent all that was written,
        *read_off* what arrives: closing a socket that has bytes unread resets the
        connection and drops what the kernel has not sent yet, and a TLS peer may send
        after this side's last read (a session ticket one round trip late, a
        close_notify ending its own side). Ends at the peer's end of the connection, or
        once the peer's window has let nothing more out for :data:`LINGER_IDLE` seconds.
        *read_off* returns whether what it read held application data: that ends the
        wait, with :attr:`unread_data` set.
        """
        sock = self._sock
        if self.receiving:  # another task reads (and the close aborts it): no linger
            return
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_WR)  # the FIN follows what is queued
        left = unsent(sock)
        idle_since = trio.current_time()
        wait = _FIRST_WAIT
        while left and not self.peer_ended:
            if trio.current_time() - idle_since > LINGER_IDLE:
                return
            try:
                with trio.move_on_after(wait):
                    await trio.lowlevel.wait_readable(sock)
            except (trio.ClosedResourceError, trio.BusyResourceError, OSError):
                return  # closed by another task (or cancel_io), or read by one
            if read_off():
                self.unread_data = True
                return
            now_left = unsent(sock)
            if now_left < left:
                idle_since, wait = trio.current_time(), _FIRST_WAIT
            else:
                wait = min(2 * wait, _LONGEST_WAIT)
            left = now_left

    def _failure(self, exc: OSError, action: str) -> Exception:
        if self._sock.fileno() == -1:
            return trio.ClosedResourceError(f"{self._what} was closed")
        return translate_os_error(exc, f"{action} on {self._what}", broken=True)

    async def aclose(self) -> None:
        await trio.lowlevel.checkpoint()
