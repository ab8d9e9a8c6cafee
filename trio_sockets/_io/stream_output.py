"""The output stream of a TCP connection: pending writes gathered into few system calls.

The queueing, completion and flush rules are those of every output stream
(:class:`~trio_sockets._io.output.BaseOutputStream`); what to gather for each
``send``/``sendmsg`` is the write queue's (:meth:`WriteQueue.gather
<trio_sockets._core.write_queue.WriteQueue.gather>`). What is particular to a byte
stream is here: a failed send breaks it, a send straight from the caller's buffer when
nothing is pending, the end of the sending side, and one graceful close at a time.
"""

from __future__ import annotations

import errno
import os
import socket
from functools import partial

import trio

from .._core.errors import SocketErrorStatus, socket_error, translate_os_error
from .output import BaseOutputStream, NurseryGetter, SocketWriteOperation
from .sending import SendRoom
from .sockio import ended_abnormally

__all__ = ["StreamOutputStream"]


class StreamOutputStream(BaseOutputStream):
    """The output stream of a connected TCP :class:`~trio_sockets.StreamSocket`.

    Pending writes leave in as few system calls as possible: small ones joined into one
    buffer, large ones side by side in one ``sendmsg`` (up to ``IOV_MAX`` buffers). A
    failed send breaks the stream: that write and every later one fail with the error,
    a subclass of both :class:`OSError` and :class:`trio.BrokenResourceError`.
    """

    _empty_done = True  # an empty write sends nothing on a byte stream
    _send_in_write = True
    #: Whether a ``send_all`` queues a view of its caller's buffer, not a copy (not
    #: under TLS, whose sends under way may hold a part of it past the call).
    _send_all_views = True
    #: Bytes past those sent that a send under way holds (a TLS record being sent):
    #: a ``send_all`` whose write they reach has begun.
    _in_flight = 0

    def __init__(self, sock: socket.socket, nursery_getter: NurseryGetter, what: str) -> None:
        super().__init__(sock, nursery_getter, what)
        self._eof_sent = False
        self._refusing: str | None = None  # why writes are refused for now (refuse_writes)
        # How the socket's close goes: "" not begun, "under way" (finish), "cancelled"
        # (it closed at once, failing what it left unsent), "reported" (raised since).
        self._closing = ""

    @property
    def unsent_bytes(self) -> int:
        """The bytes written but not yet handed to the operating system: unlike
        :attr:`pending_bytes`, less what a large write has already sent."""
        successor = self._upgraded()
        return self._queue.unsent_bytes if successor is None else successor.unsent_bytes

    @property
    def eof_sent(self) -> bool:
        """Whether :meth:`send_eof` closed the sending side."""
        return self._eof_sent

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        """Send *data* after everything pending; return when the kernel has all of it.

        The ``send_all`` of the owning socket. The data goes to the kernel straight
        from the caller's buffer, which must not change until the call returns (as
        with trio's streams): with nothing pending no operation object and no copy,
        which is what a request/response exchange needs to cost no more than a plain
        socket; what the kernel does not take at once is queued as a view of it.

        Cancellation: a call cancelled before any of its bytes has left sends nothing
        (its queued write is taken back out); once some have, all of it is sent, from
        a copy of the rest made as the call ends.
        """
        if self._queue or self._sender_busy or self._guarded:
            successor = self._upgraded()
            if successor is not None:
                await successor.send_all(data)
                return
            await self._send_all_queued(data)
            return
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(
                f"send_all() takes bytes, bytearray or memoryview, not {type(data).__name__}"
            )
        if isinstance(data, memoryview) and (
            data.itemsize != 1 or data.ndim != 1 or not data.c_contiguous
        ):
            # Lengths below count bytes, as send() does, which takes no strided view: a
            # view of rows (ndim 2) has as many rows as len() says, not bytes.
            data = data.cast("B") if data.c_contiguous else data.tobytes()
        await trio.lowlevel.checkpoint_if_cancelled()
        sock = self._sock
        if sock.fileno() == -1:
            raise trio.ClosedResourceError(f"the socket of {self._what} is closed")
        try:
            sent = sock.send(data)
        except BlockingIOError:
            sent = 0
        except OSError as exc:
            error = translate_os_error(exc, f"send on {self._what}", broken=True)
            self._break(error)
            raise error from exc
        if sent == len(data):
            await trio.lowlevel.cancel_shielded_checkpoint()
            return
        # The rest goes as one write whose start is on the wire already (its last byte
        # sent, then the rest): aborting it (cancel_io) then tears it, and breaks the
        # stream, as for any part-sent write.
        operation = self._enqueue(memoryview(data)[sent - 1 :] if sent else data)
        try:
            if sent:
                self._queue.sent(1)
                await self._wait_for(operation)
            else:  # none of it left: cancelled before any does, it sends nothing
                await self._wait_for(operation, partial(self._take_back, operation))
        finally:
            self._own(operation)

    async def _send_all_queued(self, data: bytes | bytearray | memoryview) -> None:
        """``send_all`` after the pending writes, with *data* queued (as a view), taken
        back out if the call is cancelled before any of it has left: a cancelled call
        neither sends nor keeps what it did not begin to send."""
        await trio.lowlevel.checkpoint_if_cancelled()  # cancelled already: nothing queued
        operation = self._enqueue(data)
        try:
            await self._wait_for(operation, partial(self._take_back, operation))
        finally:
            self._own(operation)

    def _enqueue(self, data: bytes | bytearray | memoryview) -> SocketWriteOperation:
        """Queue *data* for a ``send_all``, which awaits (so sends) it: as a view of the
        caller's buffer (:meth:`_own` copies what is left when the call ends). Unbounded
        by :attr:`max_pending_bytes`: refusing a send_all the kernel began would tear it."""
        data = self._admit(data, view=self._send_all_views)
        if not data and self._empty_done:
            return SocketWriteOperation(self, -1, 0)  # done, unnumbered, never failing
        return self._new_operation(self._queue.push(data, bounded=False), len(data))

    def _own(self, operation: SocketWriteOperation) -> None:
        """A ``send_all`` ends: if its write is still pending (it was cancelled after
        its first bytes left, or interrupted), as a view of the caller's buffer, which
        the caller may change or free from now on, the queue holds a copy instead (a
        view of ``bytes``, which cannot change, stays)."""
        writes = self._queue.writes
        index = operation.seq - self._queue.first_seq
        data = writes[index] if 0 <= index < len(writes) else b""
        if isinstance(data, memoryview) and type(data.obj) is not bytes:
            writes[index] = data.tobytes()

    def _take_back(self, operation: SocketWriteOperation) -> None:
        """The wait of a ``send_all`` was cancelled: take its write out of the queue if
        none of it has left (nor is held by a send under way)."""
        if self._queue.retract(operation, self._in_flight):
            self._wake()  # a flush may have nothing left to wait for

    async def wait_send_all_might_not_block(self) -> None:
        """Wait until the pending writes are sent and the kernel buffer has room.

        The wait for room takes its turn with the tasks sending on the socket (its
        :class:`~trio_sockets._io.sending.SendRoom`: trio lets one task at a time wait
        for an fd to become writable), so writes and flushes of other tasks meanwhile
        go on. A wake-up through the socket while it stays open (``cancel_io()`` of a
        receive) was meant for another operation: this one waits again.
        """
        successor = self._upgraded()
        if successor is not None:
            await successor.wait_send_all_might_not_block()
            return
        await self.drain()
        sock = self._sock
        room = SendRoom.of(sock)
        while True:
            try:
                await room.wait(sock)
            except trio.ClosedResourceError:
                if sock.fileno() == -1:
                    raise
                continue
            return

    async def send_eof(self) -> None:
        """Send the pending writes, then close the sending side (TCP FIN) once; later
        writes raise :class:`trio.ClosedResourceError`. The socket's ``send_eof``.

        A FIN says that what came before it is complete, so none follows a failure: this
        raises the first failure among the pending writes, as :meth:`flush` does (also
        through a closed stream object), and on a broken stream the failure that broke
        it (a write torn by ``cancel_io()``, a reset).

        Raises:
            trio.ClosedResourceError: the socket was closed.
            SocketStatusError: a write failed, the stream is broken, or ``shutdown``
                failed; the last two also :class:`trio.BrokenResourceError`.
        """
        successor = self._upgraded()
        if successor is not None:
            await successor.send_eof()
            return
        await self._flush()
        while self._queue:  # writes other tasks started meanwhile go before the FIN too
            await self._flush()
        if self._eof_sent:
            return
        if self._broken is not None:
            raise self._broken_error()
        sock = self._sock
        if sock.fileno() == -1:  # closed by another task meanwhile
            raise trio.ClosedResourceError(f"send_eof: {self._what} is closed")
        try:
            sock.shutdown(socket.SHUT_WR)
        except OSError as exc:
            if exc.errno == errno.ENOTCONN:
                # The connection ended without this side's FIN: reset, unless its
                # pending error says otherwise (a keepalive timeout); a send now fails
                # with EPIPE, a reset too.
                code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) or errno.ECONNRESET
                exc = OSError(code, os.strerror(code))
            error = translate_os_error(exc, f"send_eof on {self._what}", broken=True)
            self._break(error)
            raise error from exc
        self._eof_sent = self._needs_check = self._guarded = True

    async def finish(self) -> bool:
        """Flush before the socket closes, as every output stream does; but a second
        close while one is under way (the end of the block and another task's
        ``aclose()``) waits until that one has closed the socket, rather than take its
        flush for a send to abort, and returns False: the first close's task raises
        what there is to raise.
        """
        if not self._closing:
            self._closing = "under way"
            try:
                return await super().finish()
            except trio.Cancelled:
                self._closing = "cancelled"  # its task sees only Cancelled
                raise
        # The close aborts this stream, which wakes the tasks waiting for progress.
        while self._sock.fileno() != -1:
            await self._await_progress()
        await trio.lowlevel.checkpoint()
        return False

    def raise_after_close(self, flushed: bool) -> None:
        """Raise, once the socket is closed, the write failure nobody has seen that this
        close is to raise: any, when it flushed (:meth:`finish` returned True); else, when
        it waited for a close under way that was cancelled (its task sees only
        ``Cancelled``), one of the writes that close left unsent. The task of a send the
        close aborted, or of the close it waited for, raises the others."""
        if flushed or self._closing == "cancelled":
            self._closing = "reported"
            self.raise_unobserved()

    def refuse_writes(self, why: str | None) -> None:
        """Refuse every write with :exc:`trio.BusyResourceError` saying *why* until called
        with None: the connection is being upgraded to TLS, and a write now would go out
        in plain text, in the middle of the handshake."""
        self._refusing = why
        self._needs_check = why is not None or self._eof_sent or self._broken is not None
        self._guarded = True  # the next write re-checks, and clears it if it may

    def _upgraded(self) -> StreamOutputStream | None:
        """The TLS stream this one's sends go to since the connection was upgraded
        (:meth:`hand_over`): plain text never goes past TLS."""
        successor = self._successor
        assert successor is None or isinstance(successor, StreamOutputStream)
        return successor

    def abort(self, status: SocketErrorStatus, why: str, *, closed: bool = False) -> None:
        if self._queue.partly_sent and not closed:
            # Part of the first write is on the wire: the peer would see a torn message
            # if later writes followed it, so the stream cannot be used any more.
            self._break(socket_error(status, f"{self._what}: {why} mid-write", broken=True))
            self._stop_sender()
            return
        super().abort(status, why, closed=closed)

    def _broken_error(self) -> BaseException:
        """What using a broken stream raises: the status of the failure that broke it."""
        broken = self._broken
        assert broken is not None
        error = socket_error(
            _status_of(broken),
            f"{self._what} is broken by an earlier failure: {broken}",
            broken=True,
        )
        error.__cause__ = broken
        return error

    def _check_writable(self, data: bytes | memoryview) -> None:
        if self._broken is not None:
            raise self._broken_error()
        if self._eof_sent:
            raise trio.ClosedResourceError(f"{self._what}: send_eof() was called")
        if self._refusing is not None:
            raise trio.BusyResourceError(f"{self._what}: {self._refusing}")

    def _send_step(self) -> bool:
        queue = self._queue
        pieces = queue.gather()
        try:
            sent = self._sock.send(pieces[0]) if len(pieces) == 1 else self._sock.sendmsg(pieces)
        except BlockingIOError:
            return False
        except OSError as exc:
            self._break(translate_os_error(exc, f"send on {self._what}", broken=True))
            return True
        if queue.sent(sent):
            self._wake()
        return True

    def _break(self, error: BaseException) -> None:
        if isinstance(error, OSError):
            # A reset a send met is not told to a receive after it, which would read a
            # clean end of stream: the receiving side asks for it (sockio.abnormal_end).
            ended_abnormally(self._sock, error)
        super()._break(error)


def _status_of(error: BaseException) -> SocketErrorStatus:
    status = getattr(error, "status", None)
    return status if isinstance(status, SocketErrorStatus) else SocketErrorStatus.UNKNOWN
