"""The output stream of a TLS connection: pending writes joined, encrypted, sent.

Writes queue as on a plain connection (:class:`~trio_sockets._io.stream_output.StreamOutputStream`
semantics: hot, ordered, bounded, failures never lost). A send takes the pending
writes up to 1 MiB (a larger write in parts), joins them and hands them to
:meth:`trio.SSLStream.send_all` in one piece, so OpenSSL packs them into full TLS
records and they leave in one system call.

A cancelled :meth:`trio.SSLStream.send_all` leaves the TLS stream unusable (the peer
may have seen part of a record). So when the socket was entered, only its background
writer sends and a task awaiting a write merely waits (cancelling that wait cancels
nothing else); without a nursery the awaiting task sends, and cancelling it breaks the
stream, as with a plain :class:`trio.SSLStream`.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Callable

import trio

from .._core.errors import SocketErrorStatus, socket_error
from .._io.output import NurseryGetter
from .._io.stream_output import StreamOutputStream
from .arrived import alert_left_by_peer
from .handshake import tls_error
from .transport import SocketTransport

__all__ = ["TlsOutputStream"]

# Bytes of pending writes joined into one SSLStream.send_all.
_MAX_BATCH = 1024 * 1024
# The plain text of one TLS record: what a receive sends at a time (_send_unattended).
_RECORD = 16 * 1024


def _head(pieces: list[bytes | memoryview], limit: int) -> bytes | memoryview:
    """The first *limit* bytes (at most) of what :meth:`WriteQueue.gather` offered: a
    large write is sent in parts, as a plain connection's are."""
    if len(pieces) == 1:
        data = pieces[0]
        return data if len(data) <= limit else memoryview(data)[:limit]
    joined = b"".join(pieces)
    return joined if len(joined) <= limit else memoryview(joined)[:limit]


class TlsOutputStream(StreamOutputStream):
    """The output stream of a :class:`~trio_sockets.StreamSocket` protected by TLS."""

    _direct = False  # every byte goes through the SSLStream
    _send_all_views = False  # the SSLStream may hold a part of one across its send

    def __init__(
        self,
        tls: trio.SSLStream[SocketTransport],
        sock: socket.socket,
        nursery_getter: NurseryGetter,
        what: str,
    ) -> None:
        super().__init__(sock, nursery_getter, what)
        self._tls = tls
        self._writer: trio.lowlevel.Task | None = None
        self._batch = _MAX_BATCH  # bytes of plain text per send_all
        self._sent = 0  # send_all calls completed

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        """Send *data* after everything pending; return when it is encrypted and sent.

        Cancellation: a call cancelled before any of its bytes was handed to the
        SSLStream sends nothing (its queued copy is taken back out); once some were,
        all of it is sent.
        """
        await self._send_all_queued(data)

    def _send_step(self) -> bool:  # pragma: no cover - _send_until is overridden
        raise AssertionError("a TLS stream sends through its SSLStream")

    @trio.lowlevel.enable_ki_protection
    async def _writer_task(self) -> None:
        self._writer = trio.lowlevel.current_task()
        try:
            await super()._writer_task()
        finally:
            self._writer = None

    async def _drive(self, until: Callable[[], bool]) -> bool:
        if self._get_nursery() is None or trio.lowlevel.current_task() is self._writer:
            return await super()._drive(until)
        # Entered: the writer sends, this task waits (a cancelled wait tears nothing).
        yielded = False
        while not until():
            self._ensure_writer()
            yielded = True
            await self._await_progress()
        return yielded

    async def _send_unattended(self) -> None:
        # Cancelled as soon as the waiting receive has something: one TLS record at a
        # time, each once the socket has room for it (a wait that may end at once), and
        # shielded, so that the cancellation comes between records, never inside one
        # (a record cut short would break the stream). The wait for room goes through
        # the SSLStream, which orders it with the sends its receive makes itself.
        queue = self._queue
        while queue and self._sock.fileno() != -1:
            if self._sender_busy:  # another task sends (an awaited write, a close)
                await self._await_progress()
                continue
            self._sender_busy = True  # the turn to send, held while waiting for room
            self._send_turns += 1
            try:
                with contextlib.suppress(trio.ClosedResourceError):  # cancel_io() of a receive
                    await self._tls.wait_send_all_might_not_block()
                self._batch = _RECORD
                with trio.CancelScope(shield=True):
                    await self._send_until(self._one_more_sent())
            finally:
                self._batch = _MAX_BATCH
                self._sender_busy = False
                self._wake()

    def _one_more_sent(self) -> Callable[[], bool]:
        """Whether a ``send_all`` has completed since this call, or nothing is pending."""
        queue = self._queue
        sent = self._sent
        return lambda: self._sent != sent or not queue

    async def _send_until(self, until: Callable[[], bool]) -> bool:
        queue = self._queue
        while queue and not until():
            data = _head(queue.gather(), self._batch)
            first = queue.first_seq
            scope = trio.CancelScope()
            self._sender_scope = scope
            self._in_flight = len(data)  # its writes have begun: none is taken back
            try:
                with scope:
                    await self._tls.send_all(data)
            except trio.Cancelled:
                self._break(
                    socket_error(
                        SocketErrorStatus.OPERATION_ABORTED,
                        f"{self._what}: a cancelled send left the TLS stream unusable",
                        broken=True,
                    )
                )
                raise
            except trio.ClosedResourceError:
                super().abort(SocketErrorStatus.OPERATION_ABORTED, "the socket closed", closed=True)
                return True
            except (trio.BrokenResourceError, OSError) as exc:
                # The peer may have said why before it went: its alert is the reason.
                reason = alert_left_by_peer(self._tls) or exc
                self._break(tls_error(reason, f"send on {self._what}"))
                return True
            finally:
                self._sender_scope = None
                self._in_flight = 0
            if scope.cancelled_caught:  # cancel_io() or close, in the middle of a record
                self._break(
                    socket_error(
                        SocketErrorStatus.OPERATION_ABORTED,
                        f"{self._what}: aborted mid-write; the TLS stream is unusable",
                        broken=True,
                    )
                )
                return True
            if queue and queue.first_seq == first:  # else a close failed them meanwhile
                queue.sent(len(data))
            self._sent += 1
            self._wake()
        return True

    def abort(self, status: SocketErrorStatus, why: str, *, closed: bool = False) -> None:
        if self._sender_busy and self._sender_scope is not None:
            # A send is under way: cancelling it tears a TLS record, breaking the stream
            # (an operation ended by closing the socket says so instead).
            self._break(
                socket_error(
                    status, f"{self._what}: {why} mid-write", broken=not closed, closed=closed
                )
            )
            self._stop_sender()
            return
        super().abort(status, why, closed=closed)
