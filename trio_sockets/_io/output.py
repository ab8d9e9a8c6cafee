"""Output streams with hot writes, gathered sends and an awaitable flush.

``write()`` queues a copy of the data and makes sure someone is sending it: the
socket's background writer task, or -- cheaper -- whichever task awaits the write or
flushes the stream, which then does the sending itself. Sending always takes everything
pending at that moment, so writes that pile up while a send is under way leave together
in the next system call. Only one task sends at a time (``_sender_busy``); the others
wait on ``_progress``, which is woken whenever operations complete.

A socket that was not entered has no nursery for a writer task. Its writes start in
``write()`` itself, which hands the kernel what it takes at once (a TLS stream, whose
sends are asynchronous, does not); whatever is left is sent by the next task that awaits
a write, flushes, sends or closes. Writes still pending when the stream is collected
were never sent, and say so with a :exc:`RuntimeWarning`, as a coroutine never awaited
does.

The pending queue is bounded by :attr:`OutputStream.max_pending_bytes`, which counts
what pending writes hold in memory: their data and :data:`WRITE_OVERHEAD` bytes for each
(its operation object, sequence number, ``bytes`` header and queue slot), so that a
flood of tiny or empty writes is bounded too. ``write()`` must not block (WinRT's
``WriteAsync`` returns at once), so past the bound it raises instead of letting memory
grow without limit: a producer faster than the network has to await its writes or
``flush()``, and is held to the speed of the network that way.
"""

from __future__ import annotations

import abc
import collections
import os
import socket
import warnings
from collections.abc import Callable, Generator
from typing import Any, Final

import trio

from .._core.checks import check_int
from .._core.errors import SocketErrorStatus, socket_error, translate_os_error
from .._data.interfaces import OutputStream, WriteOperationLike

__all__ = ["WRITE_OVERHEAD", "BaseOutputStream", "StreamOutputStream", "WriteOperation"]

#: Pending-byte bound of a new output stream.
DEFAULT_MAX_PENDING_BYTES: Final = 64 * 1024 * 1024
#: What one pending write holds besides its data, as counted against
#: ``max_pending_bytes``. Allocated on CPython 3.11 (x86-64): the WriteOperation 112
#: bytes, its sequence number 32, the header of its bytes object 48, its deque slot 8 --
#: 200 in all, and 215 of process RSS per write measured over 400,000 pending 1-byte
#: writes. Rounded up, so that the bound holds for RSS, not only for the data.
WRITE_OVERHEAD: Final = 256

# A write shorter than this is copied into a joined buffer rather than given its own
# iovec entry: for tiny writes one join plus send() beats a many-buffer sendmsg()
# (0.2 ms against 0.7 ms for 10,000 x 64 B with plain sockets, docs/design.rst).
_JOIN_BELOW: Final = 16 * 1024
# Upper bound of bytes handed to one system call; re-gathering after a partial send
# copies at most this much again.
_MAX_SEND: Final = 1024 * 1024
# Pending writes averaging at most this size are joined whole, in one step.
_JOIN_AVERAGE: Final = 4096


def _iov_max() -> int:
    try:
        return min(os.sysconf("SC_IOV_MAX"), 1024)
    except (ValueError, OSError):  # pragma: no cover - every POSIX system has it
        return 16


_IOV_MAX: Final = _iov_max()

NurseryGetter = Callable[[], trio.Nursery | None]


class WriteOperation(WriteOperationLike):
    """A write that was started by :meth:`OutputStream.write` and may still be under way.

    Like a WinRT ``IAsyncOperation`` it runs whether or not anybody awaits it. Awaiting
    it returns the number of bytes written, or raises the failure of the write.

    Cancellation: cancelling the ``await`` cancels only the waiting; the write itself goes
    on (use :meth:`~trio_sockets.StreamSocket.cancel_io` to abort pending writes).
    """

    __slots__ = ("_data", "_error", "_observed", "_result", "_seq", "_stream")

    def __init__(self, stream: BaseOutputStream, data: bytes, seq: int) -> None:
        self._stream = stream
        self._data = data
        self._seq = seq
        self._result: int | None = None
        self._error: BaseException | None = None
        self._observed = False

    @property
    def done(self) -> bool:
        return self._result is not None or self._error is not None

    @property
    def nbytes(self) -> int:
        """The size of the data this operation writes."""
        return len(self._data)

    def __repr__(self) -> str:
        state = "pending"
        if self._result is not None:
            state = f"done, {self._result} bytes"
        elif self._error is not None:
            state = f"failed: {self._error!r}"
        return f"<WriteOperation #{self._seq} of {len(self._data)} bytes, {state}>"

    def __await__(self) -> Generator[Any, None, int]:
        return self._stream._wait_for(self).__await__()

    def _complete(self, count: int) -> None:
        self._result = count
        self._data = b""

    def _fail(self, error: BaseException) -> None:
        self._error = error
        self._data = b""


class BaseOutputStream(OutputStream):
    """The queueing, completion and flush logic shared by stream and datagram outputs.

    Subclasses implement :meth:`_send_step`, one non-blocking attempt to send what is
    pending.
    """

    def __init__(self, sock: socket.socket, nursery_getter: NurseryGetter, what: str) -> None:
        self._sock = sock
        self._get_nursery = nursery_getter
        self._what = what
        self._pending: collections.deque[WriteOperation] = collections.deque()
        # What the pending writes hold, as max_pending_bytes counts it: their data plus
        # WRITE_OVERHEAD for each (one addition per write; pending_bytes subtracts it).
        self._pending_cost = 0
        self._next_seq = 0
        # Failed writes nobody has seen fail yet, by sequence number: a dict, so that
        # seeing one is O(1) and seeing n of them (after cancel_io() aborted n) is O(n).
        self._unobserved: dict[int, WriteOperation] = {}
        self._sender_busy = False
        self._sender_scope: trio.CancelScope | None = None
        # The background writer is started by the first write nobody drives, then
        # parks between batches: waking a parked task is far cheaper than starting one,
        # and an awaited write (sent by the awaiting task itself) costs only that wake.
        self._writer_started = False
        self._writer_woken = False  # unparked and not yet run: no need to wake it again
        self._writer_ending = False  # end instead of parking (_end_writer)
        self._awaited_last = False  # whether the latest write was awaited
        self._writer_idle = trio.lowlevel.ParkingLot()
        self._progress = trio.lowlevel.ParkingLot()
        self._closed = False
        #: How much memory pending writes may hold before :meth:`write` refuses more:
        #: their unsent bytes plus :data:`WRITE_OVERHEAD` (256) bytes for each write.
        self.max_pending_bytes = DEFAULT_MAX_PENDING_BYTES

    # -- public API -------------------------------------------------------------------

    @property
    def pending_bytes(self) -> int:
        """Bytes written but not yet handed to the operating system."""
        return self._pending_cost - len(self._pending) * WRITE_OVERHEAD

    @property
    def max_pending_bytes(self) -> int:
        """The bound on what pending writes may hold before :meth:`write` refuses more:
        an int, 0 or more (default 64 MiB). Setting anything else raises
        :exc:`TypeError` or :exc:`ValueError` naming the value."""
        return self._max_pending_bytes

    @max_pending_bytes.setter
    def max_pending_bytes(self, value: int) -> None:
        self._max_pending_bytes = check_int("max_pending_bytes", value, 0)

    def write(self, data: bytes | bytearray | memoryview) -> WriteOperation:
        """Start writing *data* at once; return the :class:`WriteOperation` under way.

        The data is copied (a ``bytes`` object is kept as it is, being immutable), so
        changing a buffer after ``write`` returns changes nothing that is sent.

        Raises:
            TypeError: *data* is not bytes-like.
            BufferError: the pending writes would hold more than :attr:`max_pending_bytes`
                (their bytes plus 256 for each write).
            trio.ClosedResourceError: the stream or its socket is closed.
            OSError: an earlier write failed and nobody has seen that failure yet.

        On a socket that was not entered with ``async with`` there is no background
        writer: the kernel gets at once what it takes without waiting (on a TLS
        connection, nothing), and the rest leaves when a task awaits a write, flushes,
        sends or closes the socket. Await the operation (or ``flush()``) to be sure it
        was sent.
        """
        if self._closed:
            raise trio.ClosedResourceError(
                f"this output stream of {self._what} was closed (the socket may still be open)"
            )
        op = self._enqueue(data)
        if op._result is None:  # a fresh operation has no error yet
            if self._awaited_last and self._send_now():
                return op
            self._awaited_last = False
            self._ensure_writer()
        return op

    #: Whether a write may be sent by ``write()`` itself (not under TLS, whose sends
    #: are asynchronous).
    _direct = True

    def _send_now(self) -> bool:
        """Send the one pending write right away; True if nothing is left pending.

        Called for a write that follows an awaited one: a writer that awaits each write
        has at most one under way, and sending it here instead of waking the background
        writer halves the scheduling of request/response traffic. Writes that pile up
        unawaited still wait for the writer and leave together.
        """
        self._awaited_last = False
        if (
            not self._direct
            or self._sender_busy
            or len(self._pending) != 1
            or self._get_nursery() is None  # then _ensure_writer sends it
        ):
            return False
        self._send_step()
        return not self._pending

    async def flush(self) -> bool:
        """Wait until every write started before this call has completed.

        Returns True (WinRT ``FlushAsync`` gives a bool). Raises the first failure among
        those writes that nobody has seen yet.

        Cancellation: the writes stay pending and go on in the background.
        """
        target = self._next_seq
        await self._run_until(lambda: not self._pending or self._pending[0]._seq >= target)
        self._raise_unobserved(before=target)
        return True

    async def aclose(self) -> None:
        """Flush, then stop accepting writes through this stream object.

        The socket stays open: close it with the socket's own ``aclose()``. Raises a
        write failure nobody has seen yet. Cancellation: the stream is closed anyway.
        """
        if self._closed:
            await trio.lowlevel.checkpoint()
            return
        try:
            await self.flush()
        finally:
            self._closed = True

    def __del__(self) -> None:
        if getattr(self, "_pending", None):
            # Closing the socket flushes or aborts what is pending, and a writer task
            # holds its stream: only writes of a socket neither entered nor closed, which
            # nobody awaited or flushed, get here.
            warnings.warn(
                f"{self._what}: {len(self._pending)} writes of {self.pending_bytes} bytes "
                "were never sent: nobody awaited them or flushed the stream, and the "
                "socket was neither entered with 'async with' nor closed",
                RuntimeWarning,
                stacklevel=1,
                source=self,
            )

    # -- for the owning socket ---------------------------------------------------------

    def _enqueue(self, data: bytes | bytearray | memoryview) -> WriteOperation:
        if self._sock.fileno() == -1:
            raise trio.ClosedResourceError(f"the socket of {self._what} is closed")
        if type(data) is not bytes:
            if not isinstance(data, (bytearray, memoryview)):
                raise TypeError(
                    f"write() takes bytes, bytearray or memoryview, not {type(data).__name__}"
                )
            data = bytes(data)
        if self._unobserved:
            self._raise_unobserved(before=self._next_seq)
        if self._check_writes:
            self._check_writable(data)
        size = len(data)
        seq = self._next_seq
        if not size and self._completes_at_once(data):
            self._next_seq = seq + 1
            op = WriteOperation(self, data, seq)
            op._complete(0)
            return op
        cost = self._pending_cost + size + WRITE_OVERHEAD
        if cost > self._max_pending_bytes:
            count = len(self._pending) + 1
            raise BufferError(
                f"{self._what}: writing {size} bytes would leave {count} writes of "
                f"{cost - count * WRITE_OVERHEAD} bytes pending, holding {cost} bytes with "
                f"{WRITE_OVERHEAD} per write, over max_pending_bytes="
                f"{self.max_pending_bytes}; await the write operations or flush() first"
            )
        self._next_seq = seq + 1
        op = WriteOperation(self, data, seq)
        self._pending.append(op)
        self._pending_cost = cost
        return op

    async def _wait_for(self, op: WriteOperation) -> int:
        if op._seq == self._next_seq - 1:
            # The writer waits for its latest write: it writes one at a time, so its
            # next write may go to the kernel at once (StreamOutputStream.write).
            self._awaited_last = True
        await self._run_until(lambda: op.done)
        if op._error is not None:
            self._observe(op)
            raise op._error
        assert op._result is not None
        return op._result

    def _abort_pending(self, status: SocketErrorStatus, why: str, *, closed: bool = False) -> None:
        """Fail every write not yet started (``cancel_io`` and close).

        *closed*: the socket closed, and the failures are also
        :class:`trio.ClosedResourceError`, as trio's streams have it.
        """
        error = socket_error(status, f"{self._what}: {why}", closed=closed)
        self._fail_all(error)
        if self._sender_scope is not None:
            self._sender_scope.cancel()
        self._writer_idle.unpark()  # so that it sees a closed socket and ends

    # -- subclass hooks ----------------------------------------------------------------

    #: Whether :meth:`_check_writable` has anything to check (the per-write hot path
    #: skips the call otherwise).
    _check_writes = True

    def _check_writable(self, data: bytes) -> None:
        """Raise if *data* cannot be written at all; called by :meth:`write` for every
        write about to be queued, before the bound is checked."""

    def _completes_at_once(self, data: bytes) -> bool:
        """Whether an empty write is done without a system call (called only for b"")."""
        return False

    @abc.abstractmethod
    def _send_step(self) -> bool:
        """Try once, without blocking, to send pending data; False if it would block."""

    # -- machinery ---------------------------------------------------------------------

    def _complete_head(self, count: int) -> None:
        op = self._pending.popleft()
        self._pending_cost -= len(op._data) + WRITE_OVERHEAD
        op._complete(count)

    def _fail_head(self, error: BaseException) -> None:
        op = self._pending.popleft()
        self._pending_cost -= len(op._data) + WRITE_OVERHEAD
        op._fail(error)
        self._unobserved[op._seq] = op

    def _fail_all(self, error: BaseException) -> None:
        while self._pending:
            self._fail_head(error)
        self._progress.unpark_all()

    def _observe(self, op: WriteOperation) -> None:
        if not op._observed:
            op._observed = True
            del self._unobserved[op._seq]

    def _raise_unobserved(self, *, before: int) -> None:
        unobserved = self._unobserved
        seen = [op for op in unobserved.values() if op._seq < before]
        if not seen:
            return
        for op in seen:
            op._observed = True
            del unobserved[op._seq]
        error = seen[0]._error
        assert error is not None
        raise error

    def _ensure_writer(self) -> None:
        if self._sender_busy:
            return
        if self._writer_started:
            if not self._writer_woken and len(self._writer_idle):  # parked: wake it
                self._writer_woken = True
                self._writer_idle.unpark()
            return
        nursery = self._get_nursery()
        if nursery is None:
            # No nursery to run a writer in: start the write here, with what the kernel
            # takes now. The rest waits, in order, for a task that awaits a write,
            # flushes, sends or closes.
            if self._direct:
                self._send_step()
            return
        self._writer_started = True
        self._writer_woken = True  # it runs soon: later writes need not wake it
        nursery.start_soon(self._writer_task, name=f"trio_sockets writer of {self._what}")

    def _end_writer(self) -> None:
        """Let the background writer end once nothing is pending; a later write that
        nobody drives starts a new one."""
        if self._writer_started:
            self._writer_ending = True
            self._writer_idle.unpark()

    async def _writer_task(self) -> None:
        try:
            while self._sock.fileno() != -1:
                self._writer_woken = False
                if self._pending and not self._sender_busy:
                    await self._drive(lambda: not self._pending)
                elif self._writer_ending:
                    break
                else:
                    await self._writer_idle.park()
        finally:
            self._writer_started = False
            self._writer_ending = False

    async def _run_until(self, until: Callable[[], bool]) -> None:
        """Send (or wait for the sender) until *until()*; a full trio checkpoint."""
        await trio.lowlevel.checkpoint_if_cancelled()
        yielded = False
        try:
            yielded = await self._drive(until)
        finally:
            if self._pending and not self._sender_busy:
                # Writes after this task's, or its own when it was cancelled: hand them to
                # the writer (without a nursery, to the kernel as far as it takes them now;
                # the rest waits for the next task that sends).
                self._ensure_writer()
        if not yielded:
            await trio.lowlevel.cancel_shielded_checkpoint()

    async def _drive(self, until: Callable[[], bool]) -> bool:
        yielded = False
        while not until():
            if self._sender_busy:
                yielded = True
                await self._progress.park()
                continue
            if not self._pending:  # pragma: no cover - until() depends on pending ops
                break
            self._sender_busy = True
            try:
                yielded |= await self._send_until(until)
            finally:
                self._sender_busy = False
                self._progress.unpark_all()
        return yielded

    async def _send_until(self, until: Callable[[], bool]) -> bool:
        yielded = False
        while self._pending and not until():
            if self._send_step():
                continue
            yielded = True
            with trio.CancelScope() as scope:
                self._sender_scope = scope
                try:
                    await trio.lowlevel.wait_writable(self._sock)
                except trio.ClosedResourceError:
                    self._abort_pending(
                        SocketErrorStatus.OPERATION_ABORTED, "the socket was closed", closed=True
                    )
                finally:
                    self._sender_scope = None
        return yielded


class StreamOutputStream(BaseOutputStream):
    """The output stream of a connected TCP :class:`~trio_sockets.StreamSocket`.

    Pending writes leave in as few system calls as possible: small ones joined into one
    buffer, large ones side by side in one ``sendmsg`` (up to ``IOV_MAX`` buffers). A
    failed send breaks the stream: that write and every later one fail with the error,
    a subclass of both :class:`OSError` and :class:`trio.BrokenResourceError`.
    """

    def __init__(self, sock: socket.socket, nursery_getter: NurseryGetter, what: str) -> None:
        super().__init__(sock, nursery_getter, what)
        self._head_sent = 0  # bytes of the first pending write already sent
        # A join of pending writes that a partial send left unfinished: the next send
        # goes on from _joined_sent instead of joining everything again (a fresh
        # connection takes a large join in many pieces while its window opens).
        self._joined: bytes | None = None
        self._joined_sent = 0
        self._joined_end = 0  # the seq after the last write in the join
        self._broken: BaseException | None = None
        self._eof_sent = False
        self._check_writes = False  # set once broken or half-closed

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        """Send *data* after everything pending; return when the kernel has all of it.

        The ``send_all`` of the owning socket. With nothing pending, the data goes to
        the kernel straight from the caller's buffer: no operation object and no copy,
        which is what a request/response exchange needs to cost no more than a plain
        socket. Only an unsent remainder is queued (as a copy).
        """
        if self._pending or self._sender_busy or self._unobserved or self._broken is not None:
            await self._wait_for(self._enqueue(data))
            return
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(
                f"send_all() takes bytes, bytearray or memoryview, not {type(data).__name__}"
            )
        if self._eof_sent:
            raise trio.ClosedResourceError(f"{self._what}: send_eof() was called")
        if isinstance(data, memoryview) and data.itemsize != 1:
            data = data.cast("B")  # lengths below count bytes, as send() does
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
            self._broken = error
            self._check_writes = True
            raise error from exc
        if sent == len(data):
            await trio.lowlevel.cancel_shielded_checkpoint()
            return
        await self._wait_for(self._enqueue(memoryview(data)[sent:]))

    def write(self, data: bytes | bytearray | memoryview) -> WriteOperation:
        # The common case -- bytes, a healthy stream, room in the queue -- written out:
        # batches of tiny writes spend most of their time here (docs/performance.rst).
        if (
            type(data) is not bytes
            or self._closed
            or self._check_writes
            or self._unobserved
            or not data
            or self._sock.fileno() == -1
        ):
            return super().write(data)
        size = len(data)
        cost = self._pending_cost + size + WRITE_OVERHEAD
        if cost > self._max_pending_bytes:
            return super().write(data)
        seq = self._next_seq
        self._next_seq = seq + 1
        op = WriteOperation(self, data, seq)
        self._pending.append(op)
        self._pending_cost = cost
        if self._awaited_last and self._send_now():
            return op
        if not self._sender_busy and not self._writer_woken:
            self._ensure_writer()
        return op

    def _check_writable(self, data: bytes) -> None:
        if self._broken is not None:
            raise socket_error(
                _status_of(self._broken),
                f"{self._what} is broken by an earlier failure: {self._broken}",
                broken=True,
            ) from self._broken
        if self._eof_sent:
            raise trio.ClosedResourceError(f"{self._what}: send_eof() was called")

    def _completes_at_once(self, data: bytes) -> bool:
        return True  # an empty write sends nothing on a byte stream

    def _send_step(self) -> bool:
        pieces = self._gather()
        try:
            sent = self._sock.send(pieces[0]) if len(pieces) == 1 else self._sock.sendmsg(pieces)
        except BlockingIOError:
            return False
        except OSError as exc:
            self._break(translate_os_error(exc, f"send on {self._what}", broken=True))
            return True
        self._advance(sent)
        return True

    def _break(self, error: BaseException) -> None:
        self._joined = None
        self._broken = error
        self._check_writes = True
        self._head_sent = 0
        self._fail_all(error)

    def _abort_pending(self, status: SocketErrorStatus, why: str, *, closed: bool = False) -> None:
        if self._head_sent and not closed:
            # Part of the first write is on the wire: the peer would see a torn message
            # if later writes followed it, so the stream cannot be used any more.
            error = socket_error(status, f"{self._what}: {why} mid-write", broken=True)
            self._break(error)
            if self._sender_scope is not None:
                self._sender_scope.cancel()
            self._writer_idle.unpark()
            return
        super()._abort_pending(status, why, closed=closed)

    def _gather(self) -> list[bytes | memoryview]:
        pending = self._pending
        joined = self._joined
        if joined is not None:
            if pending[0]._seq < self._joined_end:
                return [memoryview(joined)[self._joined_sent :]]
            self._joined = None  # its writes failed meanwhile; these are new ones
        count = len(pending)
        data_bytes = self._pending_cost - count * WRITE_OVERHEAD
        if not self._head_sent and data_bytes <= _MAX_SEND and count * _JOIN_AVERAGE >= data_bytes:
            # Mostly small writes: one join of everything beats building iovecs.
            if len(pending) == 1:
                return [pending[0]._data]
            joined = b"".join([op._data for op in pending])
            self._joined = joined
            self._joined_sent = 0
            self._joined_end = pending[-1]._seq + 1
            return [joined]
        pieces: list[bytes | memoryview] = []
        small: list[bytes | memoryview] = []
        small_len = 0
        total = 0
        offset = self._head_sent
        for op in self._pending:
            data: bytes | memoryview = op._data
            if offset:
                data = memoryview(data)[offset:]
                offset = 0
            size = len(data)
            if size < _JOIN_BELOW:
                small.append(data)
                small_len += size
                if small_len >= _JOIN_BELOW:
                    pieces.append(b"".join(small))
                    small = []
                    small_len = 0
            else:
                if small:
                    pieces.append(small[0] if len(small) == 1 else b"".join(small))
                    small = []
                    small_len = 0
                pieces.append(data)
            total += size
            if total >= _MAX_SEND or len(pieces) >= _IOV_MAX - 1:
                break
        if small:
            pieces.append(small[0] if len(small) == 1 else b"".join(small))
        return pieces

    def _advance(self, sent: int) -> None:
        # The per-write hot loop of a batch: completion is inlined (see _complete_head).
        pending = self._pending
        count = len(pending)
        if self._joined is not None:
            self._joined_sent += sent
            if self._joined_sent >= len(self._joined):
                # The whole join is out: every write in it is done, whatever part of
                # the first one earlier sends already covered.
                end = self._joined_end
                self._joined = None
                completed = 0
                while pending and pending[0]._seq < end:
                    op = pending.popleft()
                    size = len(op._data)
                    completed += size
                    op._result = size
                    op._data = b""
                self._head_sent = 0
                self._pending_cost -= completed + (count - len(pending)) * WRITE_OVERHEAD
                self._progress.unpark_all()
                return
        head_sent = self._head_sent
        completed = 0
        while sent:
            op = pending[0]
            size = len(op._data)
            remaining = size - head_sent
            if sent < remaining:
                head_sent += sent
                break
            sent -= remaining
            head_sent = 0
            pending.popleft()
            completed += size
            op._result = size
            op._data = b""
        self._head_sent = head_sent
        if completed:
            self._pending_cost -= completed + (count - len(pending)) * WRITE_OVERHEAD
            self._progress.unpark_all()


def _status_of(error: BaseException) -> SocketErrorStatus:
    status = getattr(error, "status", None)
    return status if isinstance(status, SocketErrorStatus) else SocketErrorStatus.UNKNOWN
