"""The receive path of a :class:`~trio_sockets.DatagramSocket`.

Received datagrams go through one bounded :class:`~trio_sockets._core.message_queue.MessageQueue`.
Who takes them from the kernel depends on who is there:

* A consumer waiting in ``message_received.receive()`` with the queue empty reads the
  socket in its own task: it takes every datagram waiting (``recvmsg`` until ``EAGAIN``,
  at most as many as the queue has room for) and waits for readability itself. A
  datagram then costs no trip through another task.
* When no consumer is waiting, the socket's background task (one per socket, in its
  nursery) reads instead, so the queue's bound and its drop count hold whatever the
  consumer does. When the queue is full it waits up to 10 ms for a consumer that keeps
  pace to make room, then drops the datagram and counts it; it waits again only once the
  queue has accepted a datagram. A slow consumer costs a counted loss, never unbounded
  memory, and a consumer that keeps pace loses nothing.

The socket has one *turn*: only the task holding it reads the socket or waits for it to
become readable (trio lets one task at a time wait on a file descriptor). A consumer
that finds the background task waiting takes the turn from it at once (cancelling that
wait frees the descriptor synchronously); a consumer that finds another consumer
holding it waits for a datagram from that one. A consumer gives the turn back when its
``receive()`` returns, and the background task takes it at trio's next scheduling pass
unless a consumer has taken it again by then (``BatchEnd`` wakes it as the batch of task
steps ends; a ``receive()`` in the same step withdraws that): a consumer looping on
``receive()`` keeps the turn and the background task never runs, and one that goes
away leaves the socket unread for no more than one pass.
"""

from __future__ import annotations

import collections
import socket
from collections.abc import Callable
from typing import Final, Protocol

import outcome
import trio

from .._core.message_queue import MessageQueue
from .._core.scheduling import BatchEnd, task_step
from .datagram_message import DatagramSocketMessageReceivedEventArgs as _Args
from .datagram_read import EMPTY, DatagramReading, StopReading
from .resolver import SockAddr
from .sockio import nothing_to_read

__all__ = ["MessageReceiver"]

# The background task yields to other tasks after this many datagrams in one wake-up.
_YIELD_EVERY: Final = 64
# How long the background task waits for room in a full queue before it drops (and
# stops waiting until the queue accepts a datagram again).
_FULL_PATIENCE: Final = 0.01
# Rescheduled into a waiting consumer: the turn is free and this consumer is first.
_TURN: Final = object()


class Handle(Protocol):
    """A handle of ``message_received`` (what a consumer receives through)."""

    @property
    def closed(self) -> bool: ...


class MessageReceiver:
    """The queue, the counters, the turn and the background task of one datagram socket.

    ``message_received`` (:class:`~trio_sockets._io.datagram_channel.DatagramMessageChannel`)
    is its consumers' side: :meth:`receive`, :meth:`receive_nowait` and the handle counts.
    """

    def __init__(self, queue_size: int, describe: Callable[[], str]) -> None:
        self.queue: MessageQueue[_Args] = MessageQueue(queue_size)
        self._reading = DatagramReading(describe)
        self._read = self._reading.read
        #: Open handles of ``message_received``; at 0 datagrams are dropped and counted.
        self.handles: int = 0
        #: Whether the socket closed: once the queue is empty, receiving ends.
        self.finished: bool = False
        self._sock: socket.socket | None = None
        # The turn: the task that may read the socket and wait for it (None: nobody).
        self._owner: trio.lowlevel.Task | None = None
        self._owner_waits = False  # the owner is a consumer waiting for readability
        self._owner_handle: Handle | None = None  # and the handle it receives through
        # Consumers waiting for a datagram from the owner, oldest first, with their handle.
        self._waiting: collections.OrderedDict[trio.lowlevel.Task, Handle] = (
            collections.OrderedDict()
        )
        self._background: trio.lowlevel.Task | None = None
        self._batch_end: BatchEnd | None = None  # while the background task runs
        # The background task's current wait: cancelled to take the turn from it, or
        # when the batch of task steps in which the turn was given back ends.
        self._scope: trio.CancelScope | None = None
        self._on_fd = False  # the background task waits for readability in _scope
        self._armed = False  # _scope is to be cancelled when the batch ends
        self._room = trio.lowlevel.ParkingLot()  # the background task, waiting for room
        self._wants_room = False  # it may be parked there (a test of the lot is a call)
        self._poked = False  # report_send_error() woke the consumer waiting on the socket
        # (task, step) in which a consumer last read the socket dry.
        self._dry: tuple[trio.lowlevel.Task, int | None] | None = None
        # (task, step) in which a consumer's wait for readability ended.
        self._woke: tuple[trio.lowlevel.Task, int | None] | None = None
        # (task, step) in which receive() last returned.
        self._returned: tuple[trio.lowlevel.Task, int | None] | None = None

    @property
    def kernel_dropped(self) -> int:
        """Datagrams the kernel dropped (``SO_RXQ_OVFL``), as of the latest one read."""
        return self._reading.kernel_dropped

    @property
    def waiting_consumers(self) -> int:
        """Consumers blocked in ``receive()``."""
        return len(self._waiting) + self._owner_waits

    @property
    def waiting_for_room(self) -> int:
        """1 while the background task waits for room in a full queue."""
        return len(self._room)

    def connected_to(self, remote: SockAddr) -> None:
        """Deliver only *remote*'s datagrams from now on, and take the other senders'
        datagrams out of the queue, so that once ``connect()`` returns the application
        sees only the connected remote (the kernel's own filter spares what it had
        queued before the connect; reading filters those)."""
        self._reading.connected_to(remote)
        self.queue.retain(self._reading.admits)

    def multicast_only(self) -> None:
        """Deliver only datagrams sent to a multicast group (``control.multicast_only``);
        call before the socket receives."""
        self._reading.multicast_only()

    def close(self) -> None:
        """The socket closed: consumers get what the queue holds, then ``EndOfChannel``."""
        if self.finished:
            return
        self.finished = True
        self._room.unpark_all()
        if self._scope is not None:
            self._scope.cancel()
        for task in list(self._waiting):
            del self._waiting[task]
            trio.lowlevel.reschedule(task, outcome.Error(trio.EndOfChannel()))

    def closed_handle(self, handle: Handle) -> None:
        """*handle* was closed: its waiting consumers get ``ClosedResourceError``."""
        self.handles -= 1
        for task, owner in list(self._waiting.items()):
            if owner is handle:
                del self._waiting[task]
                closed = trio.ClosedResourceError("this message_received handle was closed")
                trio.lowlevel.reschedule(task, outcome.Error(closed))
        sock = self._sock
        waits = self._owner_waits and self._owner_handle is handle
        if waits and sock is not None and sock.fileno() != -1:
            # The consumer reading the socket for every handle receives through this
            # one: end its wait through the socket, which stays open (no cancel scope
            # per wait; a sender waiting for room on it waits again).
            trio.lowlevel.notify_closing(sock)
        if self.handles == 0:
            self._room.unpark_all()  # nobody will make room: drop at once

    def report_send_error(self, exc: OSError) -> None:
        """A send met *exc*, an ICMP error about an earlier datagram (Linux hands a
        connected socket's pending error to its next system call): queue the event a
        read would have made of it, and hand it to a waiting consumer."""
        if self.finished:
            return
        queue = self.queue
        if not (self.handles and queue.put(self._reading.error_args(exc))):
            queue.drop()
            return
        sock = self._sock
        if self._waiting:
            self._hand_over()
        elif self._owner_waits and sock is not None and sock.fileno() != -1:
            # The consumer holding the turn waits for the socket to become readable,
            # which this event does not make it: end its wait through the socket, as
            # closed_handle() does (a sender waiting for room on it waits again).
            self._poked = True
            trio.lowlevel.notify_closing(sock)

    # -- the consumers' side -----------------------------------------------------------

    def receive_nowait(self) -> _Args:
        """The oldest datagram held, else one the socket has waiting (read now, if no
        other task holds the turn); raises ``trio.WouldBlock`` or ``trio.EndOfChannel``."""
        queue = self.queue
        if not queue and self._sock is not None and self._owner is None:
            self._read_available(self._sock)
        if queue:
            return self._take()
        if self.finished:
            raise trio.EndOfChannel
        raise trio.WouldBlock

    async def receive(self, handle: Handle) -> _Args:
        """The next datagram (or receive error) for a consumer of *handle*: a cancel
        point, and a schedule point unless the queue held it.

        Raises ``trio.EndOfChannel`` once the socket closed and the queue is empty,
        ``trio.ClosedResourceError`` when *handle* is closed while waiting.

        Cancellation: no datagram is taken; the next ``receive()`` gets it.
        """
        await trio.lowlevel.checkpoint_if_cancelled()
        task = trio.lowlevel.current_task()
        if self.queue.items:
            # A cancel point but not a schedule point: a consumer takes what one read
            # of the socket queued in one task step, and the answers it writes meanwhile
            # leave together (docs/design.rst, "Receives served from what was already read").
            args = self._take()
        else:
            looping = self._returned == (task, task_step(task))
            owner = self._owner
            # The turn is free when nobody holds it, or when the background task waits
            # for readability and this consumer loops on receive() without yielding
            # elsewhere (one that does would have the turn taken back at every pass: it
            # gets its datagrams from the background task instead).
            if (
                self._sock is not None
                and not self.finished
                and (owner is None or (looping and owner is self._background and self._on_fd))
            ):
                args = await self._receive_with_turn(task, handle)
            else:
                args = await self._receive_from_holder(task, handle)
        self._returned = (task, task_step(task))
        return args

    async def _receive_from_holder(self, task: trio.lowlevel.Task, handle: Handle) -> _Args:
        """The turn is not free (or the socket not open yet): wait for its holder to
        hand a datagram or the turn over."""
        if self.finished:
            raise trio.EndOfChannel
        value = await self._wait_for_datagram(task, handle)
        if value is _TURN:
            return await self._receive_with_turn(task, handle)
        assert isinstance(value, _Args)
        return value

    async def _receive_with_turn(self, task: trio.lowlevel.Task, handle: Handle) -> _Args:
        sock = self._sock
        assert sock is not None
        self._take_turn(task)
        held = self.queue.items
        waited = False
        try:
            if handle.closed:  # closed before this task, passed the turn, ran
                raise trio.ClosedResourceError("this message_received handle was closed")
            step = task_step(task)
            dry = self._dry
            if (dry is None or dry[0] is not task or dry[1] != step) and not nothing_to_read(sock):
                self._read_available(sock)
            while not held:
                if self.finished:
                    raise trio.EndOfChannel
                self._owner_waits = True
                self._owner_handle = handle
                try:
                    await trio.lowlevel.wait_readable(sock)
                except trio.ClosedResourceError:
                    if sock.fileno() != -1 and handle.closed:  # see closed_handle()
                        raise trio.ClosedResourceError(
                            "this message_received handle was closed"
                        ) from None
                    if self._poked and sock.fileno() != -1:  # see report_send_error()
                        continue
                    self.finished = True  # closed while waiting
                    continue
                except (OSError, ValueError):
                    self.finished = True  # closed while waiting
                    continue
                finally:
                    self._owner_waits = self._poked = False
                    self._owner_handle = None
                waited = True
                # Only the datagram that woke it: the read that finds the socket dry
                # comes after this consumer has answered (its next receive() makes it),
                # not between the datagram's arrival and the answer.
                self._read_available(sock, 1)
                if handle.closed:
                    # Closed by another task while this one waited: what was read stays
                    # for the other handles.
                    raise trio.ClosedResourceError("this message_received handle was closed")
            args = self._take()
            if waited:
                self._woke = (task, task_step(task))
            elif step is not None and self._woke == (task, step):
                # The read that follows a wake-up in the same task step (it takes what
                # came with the datagram that woke it) is covered by that wait's yield.
                self._woke = None
            else:
                await trio.lowlevel.cancel_shielded_checkpoint()
            return args
        finally:
            self._give_back(task)

    async def _wait_for_datagram(self, task: trio.lowlevel.Task, handle: Handle) -> object:
        """Wait for the turn's holder to hand a datagram (or the turn) over."""
        self._waiting[task] = handle

        def abort(_: trio.lowlevel.RaiseCancelT) -> trio.lowlevel.Abort:
            del self._waiting[task]
            return trio.lowlevel.Abort.SUCCEEDED

        return await trio.lowlevel.wait_task_rescheduled(abort)

    def _take(self) -> _Args:
        args = self.queue.items.popleft()  # queue.take(), written out
        if self._wants_room:
            self._room.unpark()
        return args

    # -- the turn ------------------------------------------------------------------------

    def _take_turn(self, task: trio.lowlevel.Task) -> None:
        owner = self._owner
        if owner is task:  # passed to this task by _pass_turn
            return
        if owner is not None:  # the background task, waiting for readability:
            assert self._scope is not None  # stop its wait (this frees the descriptor)
            self._scope.cancel()
            self._scope = None  # it makes a new one when it next waits
            self._on_fd = self._armed = False
        elif self._armed:  # given back in this batch: the background task is not woken
            assert self._batch_end is not None  # set while the background task runs
            self._armed = False
            self._batch_end.withdraw(self)
        self._owner = task

    def _give_back(self, task: trio.lowlevel.Task) -> None:
        if self._owner is not task:  # pragma: no cover - only the holder gives it back
            return
        self._owner = None
        if self._waiting and not self.queue.items:
            self._pass_turn()
        elif self._scope is not None and not self._armed and not self.finished:
            # The background task takes over at the next scheduling pass, unless a
            # receive() in this task step takes the turn again first.
            assert self._batch_end is not None  # set while the background task runs
            self._armed = True
            self._batch_end.schedule(self)

    def batch_ended(self) -> bool:
        """The turn was given back in the batch that ended: the background task takes it."""
        if self._armed and self._scope is not None:
            self._scope.cancel()
            return True
        return False

    def _pass_turn(self) -> None:
        """Wake the first waiting consumer to read the socket (keeping the turn for it)."""
        task, _ = self._waiting.popitem(last=False)
        self._owner = task
        trio.lowlevel.reschedule(task, outcome.Value(_TURN))

    def _hand_over(self) -> None:
        """Give what the queue holds to consumers waiting for it, oldest first."""
        waiting = self._waiting
        while waiting and self.queue:
            task, _ = waiting.popitem(last=False)
            trio.lowlevel.reschedule(task, outcome.Value(self._take()))

    # -- reading ---------------------------------------------------------------------------

    def _read_available(self, sock: socket.socket, most: int = -1) -> None:
        """Read what the socket holds, as far as the queue has room (a consumer reads:
        nothing is dropped) and at most *most* datagrams if given, and hand it to
        consumers waiting for it."""
        queue = self.queue
        held, bound = queue.items, queue.bound
        if most < 0:  # as many as fit, but not for ever: filtered datagrams take no room
            most = queue.room + _YIELD_EVERY
        try:
            while len(held) < bound and most:  # not queue.full, written out
                most -= 1
                args = self._read(sock)
                if args is EMPTY:
                    task = trio.lowlevel.current_task()
                    self._dry = (task, task_step(task))
                    break
                if isinstance(args, _Args):  # else another sender's
                    queue.put(args)
        except StopReading as stop:  # pragma: no cover - an odd error
            if stop.event is not None and not queue.put(stop.event):
                queue.drop()
        if self._waiting:
            self._hand_over()

    # -- the background task ---------------------------------------------------------------

    @trio.lowlevel.enable_ki_protection
    async def run(self, sock: socket.socket) -> None:
        """Read when no consumer is waiting, until the socket is closed."""
        task = self._background = trio.lowlevel.current_task()
        self._sock = sock
        self._batch_end = BatchEnd.acquire()
        try:
            while sock.fileno() != -1 and not self.finished:
                if self._owner is not None:
                    await self._wait_for_turn()
                    continue
                self._owner = task
                try:
                    if not await self._read_in_background(sock):
                        return
                    await self._wait_readable(sock)
                finally:
                    if self._owner is task:
                        self._owner = None
        finally:
            self._background = None
            self._batch_end.release()
            self._batch_end = None
            self.close()

    async def _wait_for_turn(self) -> None:
        """Sleep until a consumer gives the turn back (or the socket closes)."""
        with trio.CancelScope() as scope:
            self._scope = scope
            try:
                await trio.sleep_forever()
            finally:
                if self._scope is scope:
                    self._scope = None
                    self._armed = False

    async def _wait_readable(self, sock: socket.socket) -> None:
        with trio.CancelScope() as scope:  # cancelled by a consumer taking the turn
            self._scope = scope
            self._on_fd = True
            try:
                await trio.lowlevel.wait_readable(sock)
            except (trio.ClosedResourceError, OSError, ValueError):
                self.finished = True  # closed (ValueError: while this task was not waiting)
            finally:
                if self._scope is scope:
                    self._scope = None
                    self._on_fd = self._armed = False

    async def _read_in_background(self, sock: socket.socket) -> bool:
        """Read until ``EAGAIN``, dropping what does not fit; False once the socket closed."""
        task = self._background
        taken = 0
        while self._owner is task:
            try:
                args = self._read(sock)
            except StopReading as stop:
                if stop.event is not None:  # pragma: no cover - an odd error
                    return await self._deliver(stop.event)
                return sock.fileno() != -1
            if args is EMPTY:
                return True
            # Datagrams the filters keep out count too: a flood of them must not keep
            # this task from yielding.
            if isinstance(args, _Args) and not await self._deliver(args):
                return False
            taken += 1
            if taken % _YIELD_EVERY == 0:
                await trio.lowlevel.checkpoint()
        return True  # pragma: no cover - a consumer takes the turn only when it is free

    async def _deliver(self, args: _Args) -> bool:
        """Put *args* into the queue, or drop and count it; False once the socket closed."""
        queue = self.queue
        if self.handles and queue.put(args):
            self._hand_over()
            return True
        if self.handles and queue.patient:
            # Full: a consumer that keeps pace takes one soon, so wait a moment for it.
            # One that does not is given no more waits until the queue accepts one.
            self._wants_room = True  # left True if this raises: a _take() then wakes nobody
            with trio.move_on_after(_FULL_PATIENCE):
                while queue.full and self.handles and not self.finished:
                    await self._room.park()
            self._wants_room = False
            # The moment is wall time: if the whole process was not running (a busy
            # machine), the consumer never had its chance. Give it two scheduler
            # passes before calling it slow.
            for _ in range(2):
                if not queue.full or not self.handles or self.finished:
                    break
                await trio.lowlevel.checkpoint()
            if self.finished:
                queue.drop()  # read, but the socket closed while it waited for room
                return False
            if not self._reading.admits(args):  # a connect() came meanwhile
                return True
            if self.handles and queue.put(args):
                self._hand_over()
                return True
        queue.drop()
        return True
