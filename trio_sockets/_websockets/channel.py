"""``message_received`` of the message WebSockets: a trio receive channel whose queued
messages are taken without a trip through the scheduler."""

from __future__ import annotations

import trio

from .._core.closing import ClosesOnExit
from .events import MessageWebSocketMessageReceivedEventArgs as _Args

__all__ = ["WebSocketMessageChannel"]


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
    """

    __slots__ = ("_inner",)

    def __init__(self, inner: trio.MemoryReceiveChannel[_Args]) -> None:
        self._inner = inner

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
            return self._inner.receive_nowait()
        except trio.WouldBlock:
            return await self._inner.receive()

    def receive_nowait(self) -> _Args:
        """A message that has arrived, without waiting (:exc:`trio.WouldBlock` if none
        has; the errors of :meth:`receive` otherwise)."""
        return self._inner.receive_nowait()

    def clone(self) -> WebSocketMessageChannel:
        """Another handle on the same messages (each goes to one handle), closed on its
        own."""
        return WebSocketMessageChannel(self._inner.clone())

    def close(self) -> None:
        """Close this handle: its waiting tasks get :exc:`trio.ClosedResourceError`."""
        self._inner.close()

    async def aclose(self) -> None:
        """:meth:`close`, as a checkpoint."""
        await self._inner.aclose()

    def statistics(self) -> trio.MemoryChannelStatistics:
        """The counts of the memory channel underneath (messages held, the bound, open
        handles, waiting tasks)."""
        return self._inner.statistics()
