"""Output streams with hot writes, gathered sends and an awaitable flush.

``write()`` queues a copy of the data and makes sure someone is sending it. On a byte
or datagram stream, a write that finds nothing pending and nobody sending is sent by
``write()`` itself, with one non-blocking system call, unless the same task already sent
one that way since it last yielded to the scheduler; what the kernel does not take stays
queued. Otherwise the socket's background writer task sends it, or -- cheaper --
whichever task awaits a write or flushes the stream. Sending always takes everything
pending at that moment, so writes that pile up within one task step, or while a send
is under way, leave together in the next system call. What to send, and what a send
completed, is the business of the pure
:class:`~trio_sockets._core.write_queue.WriteQueue`; this module decides who sends and
when. Only one task sends at a time (``_sender_busy``); the others wait on
``_progress``, which is woken whenever operations complete.

A socket that was not entered has no nursery for a writer task: ``write()`` hands the
kernel what it takes at once (a TLS stream, whose sends are asynchronous, does not), and
the next task that awaits a write, flushes, sends or closes sends the rest. Writes
still pending when the stream is collected were never sent, and say so with a
:exc:`RuntimeWarning`, as a coroutine never awaited does. How ``write()`` returns an
operation without making one per write is told in :mod:`.operation`.

``write()`` must not block (WinRT's ``WriteAsync`` returns at once), so past
:attr:`SocketOutputStream.max_pending_bytes` it raises instead of letting memory grow: the
bound counts each pending write's data plus :data:`WRITE_OVERHEAD` (its ``bytes``
header, queue slot and any operation object held), so that a flood of tiny or empty
writes is bounded too, and a producer faster than the network has to await its writes
or ``flush()``, which holds it to the network's speed.
"""

from __future__ import annotations

import socket
import warnings
from collections.abc import Callable, Generator
from typing import Any, Final

import trio

from .._core.checks import check_int
from .._core.errors import SocketErrorStatus, socket_error
from .._core.scheduling import task_step
from .._core.write_queue import WRITE_OVERHEAD, QueuedWrite, WriteQueue
from .._data.interfaces import SocketOutputStream, WriteOperation
from .operation import UNHELD, getrefcount, unheld_failure
from .sending import OnCancel, Sending, TaskStarter

__all__ = [
    "DEFAULT_MAX_PENDING_BYTES",
    "WRITE_OVERHEAD",
    "BaseOutputStream",
    "SocketWriteOperation",
]

#: Pending-byte bound of a new output stream.
DEFAULT_MAX_PENDING_BYTES: Final = 64 * 1024 * 1024

NurseryGetter = Callable[[], TaskStarter | None]


class SocketWriteOperation(QueuedWrite, WriteOperation):
    """A write of a socket's output stream (:class:`~trio_sockets.WriteOperation`)."""

    __slots__ = ("_stream",)
    await_checkpoints = True  # _wait_for is a full checkpoint

    def __init__(self, stream: BaseOutputStream, seq: int, nbytes: int) -> None:
        # QueuedWrite.__init__ written out: one call less.
        self._stream = stream
        self._seq = seq
        self._nbytes = nbytes
        self._error = None

    @property
    def done(self) -> bool:
        """True once the write has completed or failed."""
        return self._error is not None or self._stream._queue.ended(self._seq)

    @property
    def nbytes(self) -> int:
        """The size of the data this operation writes."""
        return self._nbytes

    def __repr__(self) -> str:
        state = "pending"
        if self._error is not None:
            state = f"failed: {self._error!r}"
        elif self.done:
            state = f"done, {self._nbytes} bytes"
        return f"<WriteOperation #{self._seq} of {self._nbytes} bytes, {state}>"

    def __await__(self) -> Generator[Any, None, int]:
        return self._stream._wait_for(self).__await__()


class BaseOutputStream(Sending, SocketOutputStream):
    """The queueing, completion and flush logic shared by stream and datagram outputs.

    Subclasses implement :meth:`_send_step`, one non-blocking attempt to send what is
    pending. The owning socket drives a stream through :meth:`abort`, :meth:`drain`,
    :meth:`finish`, :meth:`wait_idle` and :meth:`raise_unobserved`.
    """

    #: Whether ``write()`` may send a write itself (not under TLS: its sends are async).
    _direct = True
    #: Whether ``write()`` sends the first write of a task step that finds nothing
    #: pending (a byte stream); otherwise only a write that follows an awaited one.
    _send_in_write = False
    #: Whether an empty write is done at once, with no system call (a byte stream).
    _empty_done = False
    #: The stream this one's use goes to since :meth:`hand_over` (a connection upgraded
    #: to TLS: what was plain text must go through TLS now, never past it).
    _successor: BaseOutputStream | None = None

    def __init__(self, sock: socket.socket, nursery_getter: NurseryGetter, what: str) -> None:
        self._sock = sock
        self._get_nursery = nursery_getter
        self._what = what
        self._queue: WriteQueue[SocketWriteOperation] = WriteQueue(DEFAULT_MAX_PENDING_BYTES, what)
        self._sender_busy = False
        self._sender_scope: trio.CancelScope | None = None
        # The background writer is started by the first write nobody drives, then
        # parks between batches: waking a parked task is far cheaper than starting one,
        # and an awaited write (sent by the awaiting task itself) costs only that wake.
        self._writer_started = False
        self._writer_woken = False  # unparked and not yet run: no need to wake it again
        self._writer_ending = False  # end instead of parking (end_writer)
        self._awaited_last = False  # whether the latest write was awaited
        self._direct_task: trio.lowlevel.Task | None = None  # the task and its step in
        self._direct_step = -1  # which write() last sent directly (see write())
        self._writer_idle = trio.lowlevel.ParkingLot()
        self._progress = trio.lowlevel.ParkingLot()
        self._parked = 0  # tasks parked in _progress (unpark_all() costs even with none)
        self._awaiting = 0  # tasks waiting for writes to complete (in _run_until)
        self._kernel_full = False  # the kernel refused the last send; no wait for room since
        self._closed = False
        self._broken: BaseException | None = None  # every later write fails with it
        self._needs_check = False  # whether _check_writable has something to check
        self._failed = False  # a write may have failed unseen (asking the queue is a call)
        # Whether write() must take the checked path: this stream or its socket closed
        # (the owner aborts the stream before closing the socket), _needs_check, or a
        # failure nobody has seen. Set at once when one of them may have become true,
        # cleared by the checked path, so that the hot path tests one flag.
        self._guarded = sock.fileno() == -1
        self.max_pending_bytes = DEFAULT_MAX_PENDING_BYTES

    # -- public API -------------------------------------------------------------------

    @property
    def pending_bytes(self) -> int:
        """Bytes written but not yet handed to the operating system."""
        if self._successor is not None:
            return self._successor.pending_bytes
        return self._queue.pending_bytes

    @property
    def room_bytes(self) -> int:
        """How much more :meth:`write` takes before it refuses with :exc:`BufferError`:
        :attr:`max_pending_bytes` less the pending bytes and 256 for each pending write
        (a write of *n* bytes fits if *n* + 256 is at most this); 0 or less at the bound."""
        if self._successor is not None:
            return self._successor.room_bytes
        queue = self._queue
        return queue.max_cost - queue.cost

    @property
    def max_pending_bytes(self) -> int:
        """The bound on what pending writes may hold before :meth:`write` refuses more:
        an int, 0 or more (default 64 MiB). Setting anything else raises
        :exc:`TypeError` or :exc:`ValueError` naming the value."""
        if self._successor is not None:
            return self._successor.max_pending_bytes
        return self._queue.max_cost

    @max_pending_bytes.setter
    def max_pending_bytes(self, value: int) -> None:
        if self._successor is not None:
            self._successor.max_pending_bytes = value
            return
        self._queue.max_cost = check_int("max_pending_bytes", value, 0)

    def write(self, data: bytes | bytearray | memoryview) -> SocketWriteOperation:
        """Start writing *data* at once; return the :class:`~trio_sockets.WriteOperation` under way.

        The data is copied (a ``bytes`` object is kept as it is, being immutable), so
        changing a buffer after ``write`` returns changes nothing that is sent.

        Raises:
            TypeError: *data* is not bytes-like.
            BufferError: the pending writes would hold more than :attr:`max_pending_bytes`
                (their bytes plus 256 for each write).
            trio.ClosedResourceError: the stream or its socket is closed.
            OSError: an earlier write failed, nobody has seen that failure yet, and
                nobody held its operation (holding it, await it: it raises its failure).

        On a socket that was not entered with ``async with`` there is no background
        writer: the kernel gets at once what it takes without waiting (on a TLS
        connection, nothing), and the rest leaves when a task awaits a write, flushes,
        sends or closes the socket. Await the operation (or ``flush()``) to be sure it
        was sent.
        """
        # The common case -- non-empty bytes, nothing to check -- tests one flag:
        # batches of tiny writes spend most of their time here (docs/performance.rst).
        # A closed socket sets it too: its owner aborts this stream before closing it.
        if self._guarded or type(data) is not bytes or not data:
            if self._successor is not None:
                return self._successor.write(data)
            if self._closed:
                raise trio.ClosedResourceError(
                    f"this output stream of {self._what} was closed (the socket may still be open)"
                )
            data = self._admit(data)
            if not data and self._empty_done:
                return SocketWriteOperation(self, -1, 0)  # done, unnumbered, never failing
        # queue.push(data), inlined.
        queue = self._queue
        pending = queue.cost  # 0: nothing pending
        cost = pending + len(data) + WRITE_OVERHEAD
        if cost > queue.max_cost:
            queue.push(data)  # raises the BufferError that names the bound
        queue.writes.append(data)
        queue.cost = cost
        seq = queue.next_seq
        queue.next_seq = seq + 1
        # The last operation again, unless someone still holds it (to await it later):
        # a run of unawaited writes then makes no object per write.
        op = queue.latest
        if op is not None and getrefcount(op) == UNHELD:
            op._seq = seq
            op._nbytes = len(data)
            op._error = None
        else:
            op = self._new_operation(seq, len(data))
        if pending or self._sender_busy or not self._direct:
            if not self._sender_busy and not self._writer_woken:
                self._ensure_writer()
            return op
        if self._send_in_write:
            # Nothing pending and nobody sending: send it here, as asyncio's transports
            # do, unless this task already did so since it last yielded. The writes that
            # pile up behind it within the step wait for the writer and leave together,
            # while a task that writes once per step (a read/write loop, an awaited
            # write) costs no wake-up of the writer.
            task = trio.lowlevel.current_task()
            step = task_step(task)  # None: unknown, so queue it (correct, only slower)
            if step is None or (task is self._direct_task and step == self._direct_step):
                if not self._writer_woken:
                    self._ensure_writer()
                return op
            self._direct_task = task
            self._direct_step = step
        elif not self._awaited_last:
            # Only a write that follows an awaited one: its writer has at most one
            # under way, and unawaited writes keep waiting for the writer.
            if not self._writer_woken:
                self._ensure_writer()
            return op
        self._awaited_last = False
        self._kernel_full = not self._send_step()
        if queue and not self._sender_busy and not self._writer_woken:
            self._ensure_writer()
        return op

    async def flush(self) -> bool:
        """Wait until every write started before this call has completed.

        Returns True (WinRT ``FlushAsync`` gives a bool). Raises the first failure among
        them that nobody had seen when it was called or that came since, and then, once
        this stream object or its socket is closed, :exc:`trio.ClosedResourceError`.

        Cancellation: the writes stay pending and go on in the background (on a TLS
        socket not entered with ``async with``, a cancel mid-record breaks the stream).
        """
        if self._successor is not None:
            return await self._successor.flush()
        if self._closed or self._sock.fileno() == -1:
            self._raise_unobserved(self._queue.next_seq)
            raise trio.ClosedResourceError(f"flush: {self._what} is closed")
        await self._flush()
        return True

    async def _flush(self) -> None:
        flush = self._queue.begin_flush()
        try:
            await self._run_until(lambda: self._queue.done_before(flush.target))
        except BaseException:
            self._queue.end_flush(flush, done=False)
            raise
        if (error := self._queue.end_flush(flush)) is not None:
            raise error

    async def aclose(self) -> None:
        """Flush, then stop accepting writes through this stream object.

        The socket stays open: close it with the socket's own ``aclose()``. Raises a
        write failure nobody has seen yet. Cancellation: the stream is closed anyway.
        """
        if self._successor is not None:
            await self._successor.aclose()
            return
        if self._closed:
            await trio.lowlevel.checkpoint()
            return
        try:
            await self._flush()
        finally:
            self._closed = self._guarded = True

    def __del__(self) -> None:
        queue = getattr(self, "_queue", None)
        if queue:
            # Closing flushes or aborts what is pending, a writer task holds its stream:
            # only a socket neither entered nor closed, never awaited or flushed, gets here.
            warnings.warn(
                f"{self._what}: {len(queue)} writes of {queue.pending_bytes} bytes "
                "were never sent: nobody awaited them or flushed the stream, and the "
                "socket was neither entered with 'async with' nor closed",
                RuntimeWarning,
                stacklevel=1,
                source=self,
            )

    # -- for the owning socket ---------------------------------------------------------

    @property
    def closed(self) -> bool:
        """Whether this stream object was closed (its socket may still be open)."""
        if self._successor is not None:
            return self._successor.closed
        return self._closed

    def hand_over(self, successor: BaseOutputStream) -> None:
        """From now on, send this object's writes through *successor*, and answer its
        flushes, closes and sizes from there: the connection was upgraded to TLS, and a
        writer (a ``DataWriter``) made before the upgrade must encrypt too. Call with
        nothing pending (the upgrade flushed first). A closed stream stays closed."""
        assert not self._queue, "hand_over() with writes pending"
        self.end_writer()
        if self._closed:
            return
        self._successor = successor
        self._guarded = True  # write() takes its slow path, which forwards
        successor.max_pending_bytes = self._queue.max_cost

    @property
    def broken(self) -> bool:
        """Whether a failure broke the stream (a write torn by ``cancel_io()``, a failed
        send): every later write fails, and what the peer got may end mid-write."""
        return self._broken is not None

    @property
    def idle(self) -> bool:
        """Whether nothing is pending and no failure waits to be seen."""
        return not self._queue and not self._queue.has_unobserved

    def abort(self, status: SocketErrorStatus, why: str, *, closed: bool = False) -> None:
        """Fail every write not yet started (``cancel_io`` and close); *closed*: the
        socket closed, and the failures are also :class:`trio.ClosedResourceError`, as
        trio's streams have it."""
        if self._queue.latest is not None:  # dropped next: claimed if the caller holds it
            self._queue.hold(self._queue.latest)
        self._fail_all(socket_error(status, f"{self._what}: {why}", closed=closed))
        self._stop_sender()

    async def finish(self) -> bool:
        """Flush before the socket closes, unless the stream is broken (then there is
        nothing a flush could send), or another task waits for a write (``send_all``,
        an awaited write, ``flush``): a send is under way, which the close aborts at
        once, as trio's own streams do, rather than wait for a peer that may never
        read. A trio checkpoint.

        Returns False when it left a send under way to be aborted (its task gets the
        failure). Raises the first write failure nobody has seen yet.
        """
        if self._awaiting:
            await trio.lowlevel.checkpoint()
            return False
        if self._broken is None:  # a closed stream object may still hold a send_all's
            await self._flush()
        else:
            await trio.lowlevel.checkpoint()
        return True

    def raise_unobserved(self) -> None:
        """Raise the first write failure nobody has seen yet, if there is one."""
        self._raise_unobserved(self._queue.next_seq)

    # -- subclass hooks ----------------------------------------------------------------

    def _check_writable(self, data: bytes | memoryview) -> None:
        """Raise if *data* cannot be written at all; called for a write about to be
        queued, before the bound is checked, when :attr:`_needs_check` is set."""

    def _observed(self, error: BaseException) -> None:
        """*error*, the failure of a write, was just seen: its operation was awaited."""

    # -- machinery ---------------------------------------------------------------------

    def _admit(
        self, data: bytes | bytearray | memoryview, *, view: bool = False
    ) -> bytes | memoryview:
        """The checks of a write (socket closed, type, unobserved failures, the
        subclass's, the bound unless *view*), then *data* as ``bytes``, copied once
        admitted (*view*: a byte view, for a send_all, whose caller waits); clears
        :attr:`_guarded` if nothing is left to check."""
        if self._sock.fileno() == -1:
            raise trio.ClosedResourceError(f"the socket of {self._what} is closed")
        if type(data) is not bytes:
            if not isinstance(data, (bytes, bytearray, memoryview)):
                raise TypeError(
                    f"write() takes bytes, bytearray or memoryview, not {type(data).__name__}"
                )
            buffer = memoryview(data)  # its bytes (copied if not contiguous)
            data = buffer.cast("B") if buffer.c_contiguous else buffer.tobytes()
        if self._failed:
            error = unheld_failure(self._queue)
            # Claimed failures keep this path: a claim ends when its operation is let go
            # unawaited, and the next write raises the failure then.
            self._failed = self._queue.has_unobserved
            if error is not None:
                raise error
        if self._needs_check:
            self._check_writable(data)
        if type(data) is memoryview and not view:
            cost = self._queue.cost + len(data) + WRITE_OVERHEAD
            if cost > self._queue.max_cost:  # refused before it is copied
                raise self._queue.over_bound(len(data), cost)
            data = data.tobytes()  # also a bytes subclass's: a bytes object
        self._guarded = self._closed or self._needs_check or self._failed
        return data

    def _operation(self, seq: int, nbytes: int) -> SocketWriteOperation:
        """The operation of write *seq*: the last one again unless someone holds it."""
        op = self._queue.latest
        if op is not None and getrefcount(op) == UNHELD:
            op._seq = seq
            op._nbytes = nbytes
            op._error = None
            return op
        return self._new_operation(seq, nbytes)

    def _new_operation(self, seq: int, nbytes: int) -> SocketWriteOperation:
        """A new operation for write *seq*, which becomes the queue's latest; the one
        before it, held by someone, is handed to the queue to be told of its failure."""
        queue = self._queue
        if queue.latest is not None:
            queue.hold(queue.latest)
        op = queue.latest = SocketWriteOperation(self, seq, nbytes)
        return op

    async def _wait_for(self, op: SocketWriteOperation, on_cancel: OnCancel = None) -> int:
        queue = self._queue
        seq = op._seq
        if seq == queue.next_seq - 1:  # the latest write
            # The writer waits for its latest write: it writes one at a time, so its
            # next write may go to the kernel at once (write()).
            self._awaited_last = True
        # Nothing pending (cost 0, as after a store() write() sent at once): all ended.
        if op._error is None and queue.cost and not queue.ended(seq):
            await self._run_until(lambda: op._error is not None or queue.ended(seq), on_cancel)
        else:
            # Ended already (write() sent it at once): only the checkpoint every await of
            # an operation is; later writes go on as _run_until would have them.
            if queue.cost and not self._sender_busy:
                self._ensure_writer()
            await trio.lowlevel.checkpoint()
        if op._error is not None:
            queue.observe(seq)
            self._observed(op._error)
            raise op._error
        return op._nbytes

    def _raise_unobserved(self, before: int) -> None:
        error = self._queue.take_unobserved(before)
        if error is not None:
            raise error

    def _fail_all(self, error: BaseException) -> None:
        self._queue.fail_all(error)
        self._failed = self._guarded = True  # a failure to be seen
        self._wake()

    def _fail_head(self, error: BaseException) -> None:
        self._queue.fail_head(error)
        self._failed = self._guarded = True
        self._wake()

    def _break(self, error: BaseException) -> None:
        """The stream cannot be used any more: fail what is pending and every later
        write with *error*."""
        self._broken = error
        self._needs_check = True
        self._fail_all(error)

    def _stop_sender(self) -> None:
        if self._sender_scope is not None:
            self._sender_scope.cancel()
        self._writer_idle.unpark()  # so that it sees a closed socket and ends
        # Nothing is pending: no operation to tell of a failure, and no reference cycle
        self._queue.latest = None  # through the last one (it holds this stream) to collect
