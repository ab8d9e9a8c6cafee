"""``message_received`` of the message WebSockets: a trio receive channel whose queued
messages are taken without a trip through the scheduler; and the count of the bytes
received and not yet taken, by which the reader stops reading."""

from __future__ import annotations

import contextlib

import trio

from .._core.closing import ClosesOnExit
from .events import MessageWebSocketMessageReceivedEventArgs as _Args
from .events import queued_size

__all__ = ["UntakenBytes", "WebSocketMessageChannel"]


class UntakenBytes:
    """The bytes of the messages the reader has queued (in the channel and beyond it)
    that the application has not taken yet, each counted by :func:`~.events.queued_size`
    from :meth:`add` to :meth:`taken`. The reader parks in :attr:`room` while
    :attr:`held` is over *limit*; a take that brings it down wakes it."""

    __slots__ = ("held", "limit", "room")

    def __init__(self, limit: int) -> None:
        self.held: int = 0
        self.limit: int = limit
        self.room: trio.lowlevel.ParkingLot = trio.lowlevel.ParkingLot()

    def add(self, args: _Args) -> bool:
        """Count *args*, just queued; whether the count is now over the limit."""
        self.held += queued_size(args)
        return self.held > self.limit

    def taken(self, args: _Args) -> None:
        """*args* left the queue (the application took it, or it was dropped)."""
        size = queued_size(args)
        held = self.held = self.held - size
        if held <= self.limit < held + size:  # the reader may wait for this
            self.room.unpark_all()


class WebSocketMessageChannel(ClosesOnExit, trio.abc.ReceiveChannel[_Args]):
    """``message_received`` of a :class:`~trio_sockets.MessageWebSocket` or
    :class:`~trio_sockets.ServerMessageWebSocket`: a :class:`trio.abc.ReceiveChannel`
    with everything the receiving side of a :func:`trio.open_memory_channel` has
    (``receive_nowait``, ``clone``, ``close``, ``statistics``, ``with``).

    One difference: :meth:`receive` of a message already queued checks for cancellation
    but does not yield to the scheduler, so a loop takes what the connection's reader
    queued in one task step and the answers it writes meanwhile leave together (see
    "Receives served from what was already read" in the design notes). A receive that
    waits is a full checkpoint, and the queue is bounded, so a consumer still yields at
    least once per queue of messages.

    The queue is bounded in bytes too: the connection's reader stops reading while the
    messages not yet taken (here and waiting beyond the channel) hold more than 4 MiB,
    and each message taken makes room. Closing the last handle drops what it holds.
    """

    __slots__ = ("_inner", "_untaken")

    def __init__(self, inner: trio.MemoryReceiveChannel[_Args], untaken: UntakenBytes) -> None:
        self._inner = inner
        self._untaken = untaken

    def __repr__(self) -> str:
        return f"<WebSocketMessageChannel {self._inner.statistics().current_buffer_used} held>"

    async def receive(self) -> _Args:
        """The next message, or piece of one.

        Raises:
            trio.EndOfChannel: the connection closed and every message was received.
            trio.ClosedResourceError: this handle is closed.

        Cancellation: no message is taken; the next ``receive()`` gets it.
        """
        await trio.lowlevel.checkpoint_if_cancelled()
        try:
            args = self._inner.receive_nowait()
        except trio.WouldBlock:
            args = await self._inner.receive()
        self._untaken.taken(args)
        return args

    def receive_nowait(self) -> _Args:
        """A message that has arrived, without waiting (:exc:`trio.WouldBlock` if none
        has; the errors of :meth:`receive` otherwise)."""
        args = self._inner.receive_nowait()
        self._untaken.taken(args)
        return args

    def clone(self) -> WebSocketMessageChannel:
        """Another handle on the same messages (each goes to one handle), closed on its
        own."""
        return WebSocketMessageChannel(self._inner.clone(), self._untaken)

    def close(self) -> None:
        """Close this handle: its waiting tasks get :exc:`trio.ClosedResourceError`.
        Closing the last handle drops the messages the channel holds."""
        inner = self._inner
        if inner.statistics().open_receive_channels == 1:
            # trio drops them with the last handle: they no longer count.
            with contextlib.suppress(trio.WouldBlock, trio.EndOfChannel, trio.ClosedResourceError):
                while True:
                    self._untaken.taken(inner.receive_nowait())
        inner.close()

    async def aclose(self) -> None:
        """:meth:`close`, as a checkpoint."""
        self.close()
        await trio.lowlevel.checkpoint()

    def statistics(self) -> trio.MemoryChannelStatistics:
        """The counts of the memory channel underneath (messages held, the bound, open
        handles, waiting tasks)."""
        return self._inner.statistics()
