"""Who sends an output stream's pending writes, and when: the sending half of
:class:`~trio_sockets._io.output.BaseOutputStream`.

Only one task sends at a time (``_sender_busy``): the socket's background writer task,
or -- cheaper -- whichever task awaits a write or flushes the stream; the others wait on
``_progress``, which is woken whenever operations complete. The writer is started by
the first write nobody drives and then parks between batches: waking a parked task is
far cheaper than starting one.

Several streams may send on one socket (a ``DatagramSocket``'s ``output_stream`` and
one per ``get_output_stream`` destination), but trio lets only one task at a time wait
for an fd to become writable: the streams of a socket share its one :class:`SendRoom`,
in which they take turns waiting for room in its send buffer. So does every other
wait for room on the socket: ``wait_send_all_might_not_block`` and the sends of a TLS
connection's ``SSLStream``.
"""

from __future__ import annotations

import abc
import socket
import weakref
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar, TypeVarTuple, Unpack

import outcome
import trio

from .._core.errors import SocketErrorStatus
from .._core.write_queue import WriteQueue

__all__ = [
    "UNATTENDED",
    "OnCancel",
    "PosArgT",
    "SendRoom",
    "Sending",
    "TaskStarter",
    "receive_sending",
]

PosArgT = TypeVarTuple("PosArgT")
T = TypeVar("T")
#: What a wait for writes does when it is cancelled, before the writes left are handed
#: on (a cancelled ``send_all`` takes its write back if none of it has left).
OnCancel = Callable[[], None] | None


class TaskStarter(Protocol):
    """Where a socket's background task is started: its nursery, or its
    :class:`~trio_sockets._io.scoped.OwnedTasks`."""

    def start_soon(
        self,
        async_fn: Callable[[Unpack[PosArgT]], Awaitable[object]],
        *args: *PosArgT,
        name: object = None,
    ) -> None:
        """Start ``async_fn(*args)`` as a background task of the block."""


class SendRoom:
    """The wait for room in one socket's send buffer, shared by the streams that send
    on it (and by every other wait for room on it), which take turns.

    The first sender to find the buffer full waits on the socket (trio allows one such
    waiter per fd); those that find it full meanwhile line up behind it, first come
    first served. When the waiter's wait ends -- room, cancellation, ``cancel_io()`` --
    the wait passes to the next in line, and a stream that finds the buffer full again
    lines up at the back: with room, the stream that has waited longest sends first,
    so none is starved by another that always has more to send. A stream's own writes
    keep their order (one sender per stream), and what each send does to its writes
    is unchanged.
    """

    __slots__ = ("_line", "_taken")

    def __init__(self) -> None:
        self._taken = False  # a task waits on the socket, or the wait passes to one
        self._line = trio.lowlevel.ParkingLot()

    @staticmethod
    def of(sock: socket.socket) -> SendRoom:
        """The one room of *sock*, for every stream that sends on it."""
        room = _ROOMS.get(sock)
        if room is None:
            room = _ROOMS[sock] = SendRoom()
        return room

    async def wait(self, sock: socket.socket) -> None:
        """Return once the send buffer of *sock*, this room's socket, may have room (a
        trio checkpoint).

        Raises:
            trio.ClosedResourceError: the socket was closed, or a wait on it was ended
                through it (``cancel_io()`` of a receive) while it stays open.
        """
        if self._taken:
            await self._line.park()  # until the wait passes to this task
        else:
            self._taken = True
        try:
            if sock.fileno() == -1:  # trio would register fd -1 for good
                raise trio.ClosedResourceError("the socket was closed")
            await trio.lowlevel.wait_writable(sock)
        finally:
            if self._line:
                self._line.unpark()  # the next in line waits now
            else:
                self._taken = False


# The room of each open socket, as long as the socket lives (the room holds no
# reference to it).
_ROOMS: weakref.WeakKeyDictionary[socket.socket, SendRoom] = weakref.WeakKeyDictionary()


#: The streams holding writes that no task sends, by the descriptor of their socket:
#: a socket that was not entered has no writer task, and what the kernel did not take
#: at once waits for a task that sends (docs/design.rst). A task that waits to receive
#: on that socket sends them meanwhile (:func:`receive_sending`), so that a request
#: written without ``await`` and the awaited answer cannot wait for each other for ever.
#: Checked by every receive before it waits, so empty almost always: one test.
UNATTENDED: dict[int, weakref.ReferenceType[Sending]] = {}


async def receive_sending(sock: socket.socket, receive: Callable[[], Awaitable[T]]) -> T:
    """``await receive()``, a wait to receive on *sock*, while sending the writes on
    *sock* that no task sends (:data:`UNATTENDED`). Once *receive* has returned or
    raised, the sending stops at once (:meth:`Sending._send_unattended` makes that
    safe); writes left over stay queued, in order.
    """
    fd = sock.fileno()
    ref = UNATTENDED.get(fd)
    stream = None if ref is None else ref()
    if stream is None or stream._sock is not sock or not stream._queue:
        if ref is not None and UNATTENDED.get(fd) is ref:
            del UNATTENDED[fd]  # sent meanwhile, or its socket closed: forgotten
        return await receive()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_send_meanwhile, stream)
        result = await outcome.acapture(receive)
        nursery.cancel_scope.cancel()
    if not stream._queue and UNATTENDED.get(fd) is ref:
        del UNATTENDED[fd]  # all sent
    return result.unwrap()


@trio.lowlevel.enable_ki_protection
async def _send_meanwhile(stream: Sending) -> None:
    """The sending of :func:`receive_sending`, which raises nothing: the receive
    raises only its own outcome, never a group of the nursery's. Its cancellation
    ends it (the receive, cancelled too or done, says which); any other failure is the
    writes', which fail with it and report it, as a send's own failure does."""
    try:
        await stream._send_unattended()
    except trio.Cancelled:
        return
    except Exception as exc:  # pragma: no cover - a send reports its own failures
        stream._break(exc)


class Sending(abc.ABC):
    """The sending machinery of an output stream; the stream sets every attribute."""

    _sock: socket.socket
    _queue: WriteQueue[Any]
    _get_nursery: Callable[[], TaskStarter | None]
    _what: str
    _direct: bool
    _sender_busy: bool
    _sender_scope: trio.CancelScope | None
    _writer_started: bool
    _writer_woken: bool
    _writer_ending: bool
    _writer_idle: trio.lowlevel.ParkingLot
    _progress: trio.lowlevel.ParkingLot
    _parked: int
    _awaiting: int
    _kernel_full: bool

    @abc.abstractmethod
    def _send_step(self) -> bool:
        """Try once, without blocking, to send pending data; False if it would block."""

    @abc.abstractmethod
    def abort(self, status: SocketErrorStatus, why: str, *, closed: bool = False) -> None:
        """Fail every write not yet started."""

    @abc.abstractmethod
    def _break(self, error: BaseException) -> None:
        """The stream cannot be used any more: fail what is pending and every later
        write with *error*."""

    async def drain(self) -> None:
        """Send everything pending (or wait while another task does); a full trio
        checkpoint. Failures are left to the writes' owners.

        Cancellation: what is pending stays pending.
        """
        queue = self._queue
        await self._run_until(lambda: not queue)

    #: How many times a task has taken the turn to send (:attr:`_sender_busy`), which
    #: tells the send under way at one moment from one begun after it.
    _send_turns = 0

    def send_turn(self) -> int:
        """The turn to send under way now, or the last one: for :meth:`wait_idle`."""
        return self._send_turns

    async def wait_idle(self, turn: int) -> None:
        """Wait until the send of *turn* (:meth:`send_turn` when the caller aborted it)
        has ended, if it is under way; not for a send begun after it, as a writer loop
        that sends again at once would. Not a checkpoint when there is none."""
        while self._sender_busy and self._send_turns == turn:
            await self._await_progress()

    def end_writer(self) -> None:
        """Let the background writer end once nothing is pending; a later write that
        nobody drives starts a new one."""
        if self._writer_started:
            self._writer_ending = True
            self._writer_idle.unpark()

    async def _await_progress(self) -> None:
        """Wait until operations complete or the sending task changes (:meth:`_wake`)."""
        self._parked += 1
        try:
            await self._progress.park()
        finally:
            self._parked -= 1

    def _wake(self) -> None:
        """Wake the tasks waiting for progress, if there are any."""
        if self._parked:
            self._progress.unpark_all()

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
            # flushes, sends, closes or waits to receive (UNATTENDED). Once the kernel
            # refused a send, later writes do not try again until such a task has
            # waited for room: each try gathers what is pending, and a peer that reads
            # nothing would make every write cost as much as all the writes before it.
            if self._direct and not self._kernel_full:
                self._kernel_full = not self._send_step()
            if self._queue:
                self._unattended()
            return
        self._writer_started = True
        self._writer_woken = True  # it runs soon: later writes need not wake it
        nursery.start_soon(self._writer_task, name=f"trio_sockets writer of {self._what}")

    def _unattended(self) -> None:
        """List this stream among those whose writes no task sends (:data:`UNATTENDED`)."""
        fd = self._sock.fileno()
        ref = UNATTENDED.get(fd)
        if fd == -1 or (ref is not None and ref() is self):
            return

        def forget(dead: weakref.ReferenceType[Sending]) -> None:
            if UNATTENDED.get(fd) is dead:
                del UNATTENDED[fd]

        UNATTENDED[fd] = weakref.ref(self, forget)

    async def _send_unattended(self) -> None:
        """Send what is pending until nothing is (a task waiting to receive runs this
        meanwhile, and cancels it when something arrives: :func:`receive_sending`).
        Failures are left to the writes' owners. Cancellation stops it at once: what
        each system call took is known, the rest stays queued."""
        queue = self._queue
        await self._drive(lambda: not queue)

    @trio.lowlevel.enable_ki_protection
    async def _writer_task(self) -> None:
        queue = self._queue
        try:
            while self._sock.fileno() != -1:
                self._writer_woken = False
                if queue and not self._sender_busy:
                    await self._drive(lambda: not queue)
                elif self._writer_ending:
                    break
                else:
                    await self._writer_idle.park()
        finally:
            self._writer_started = False
            self._writer_ending = False
            self._writer_woken = False

    async def _run_until(self, until: Callable[[], bool], on_cancel: OnCancel = None) -> None:
        """Send (or wait for the sender) until *until()*; a full trio checkpoint.
        Cancelled after its first checkpoint, it calls *on_cancel* first."""
        await trio.lowlevel.checkpoint_if_cancelled()
        yielded = False
        self._awaiting += 1
        try:
            yielded = await self._drive(until)
        except trio.Cancelled:
            if on_cancel is not None:
                on_cancel()
            raise
        finally:
            self._awaiting -= 1
            if self._queue and not self._sender_busy:
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
                await self._await_progress()
                continue
            if not self._queue:  # pragma: no cover - until() depends on pending ops
                break
            self._sender_busy = True
            self._send_turns += 1
            try:
                yielded |= await self._send_until(until)
            finally:
                self._sender_busy = False
                self._wake()
        return yielded

    async def _send_until(self, until: Callable[[], bool]) -> bool:
        queue = self._queue
        yielded = False
        while queue and not until():
            if self._send_step():
                continue
            yielded = True
            with trio.CancelScope() as scope:
                self._sender_scope = scope
                try:
                    # Looked up only now: an idle connection holds no room.
                    await SendRoom.of(self._sock).wait(self._sock)
                except trio.ClosedResourceError:
                    # Still open, another operation's wait was ended through the socket
                    # (cancel_io() of a receive, a closed datagram handle): send on.
                    if self._sock.fileno() == -1:
                        self.abort(
                            SocketErrorStatus.OPERATION_ABORTED,
                            "the socket was closed",
                            closed=True,
                        )
                finally:
                    self._sender_scope = None
        self._kernel_full = False  # it took what was sent, or had room when waited for
        return yielded
