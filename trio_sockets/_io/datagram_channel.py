"""``DatagramSocket.message_received``: a trio receive channel over the socket's receive path.

It behaves as the receive side of a bounded :func:`trio.open_memory_channel` does --
``receive``, ``receive_nowait``, ``clone``, ``close`` / ``aclose``, ``async for``,
``with``, ``statistics()`` -- but the datagrams are read from the socket by the task
that waits in ``receive()`` when there is one (:mod:`trio_sockets._io.datagram_receive`),
rather than handed over by another task.
"""

from __future__ import annotations

import inspect
from typing import Final

import trio

from .._core.closing import ClosesOnExit
from .datagram_message import DatagramSocketMessageReceivedEventArgs
from .datagram_receive import MessageReceiver

__all__ = ["DatagramMessageChannel"]

#: Whether trio's channel statistics have ``peak_buffer_used`` (trio 0.34 and later).
_HAS_PEAK: Final = "peak_buffer_used" in inspect.signature(trio.MemoryChannelStatistics).parameters


class DatagramMessageChannel(
    ClosesOnExit, trio.abc.ReceiveChannel[DatagramSocketMessageReceivedEventArgs]
):
    """The MessageReceived event of a :class:`~trio_sockets.DatagramSocket`: a
    :class:`trio.abc.ReceiveChannel` of
    :class:`~trio_sockets.DatagramSocketMessageReceivedEventArgs`, bounded, which
    exists from the socket's construction and ends (``trio.EndOfChannel``, or the end
    of ``async for``) when the socket closes, after the datagrams it holds.

    Like the receive side of a memory channel it has ``receive()``,
    ``receive_nowait()``, ``clone()``, ``close()`` / ``aclose()``, ``async for`` and
    ``with``, and :meth:`statistics`. Several tasks may receive at once (each
    datagram goes to one of them). When every handle is closed, datagrams that
    arrive are dropped and counted.
    """

    __slots__ = ("_closed", "_receiver")

    def __init__(self, receiver: MessageReceiver) -> None:
        self._receiver = receiver
        self._closed = False
        receiver.handles += 1

    @property
    def closed(self) -> bool:
        """Whether this handle was closed."""
        return self._closed

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"{len(self._receiver.queue)} held"
        return f"<DatagramMessageChannel {state}>"

    async def receive(self) -> DatagramSocketMessageReceivedEventArgs:
        """The next received datagram (or receive error).

        One the socket's queue already holds is returned after a check for cancellation,
        without yielding to the scheduler (a loop takes what one read of the socket
        queued in one task step, and its unawaited answers leave together); one that
        must be waited for, or read from the socket, is a full checkpoint.

        Raises:
            trio.EndOfChannel: the socket closed and every datagram it held was received.
            trio.ClosedResourceError: this handle is closed. Closing it from another
                task wakes a task waiting on it with this error at once, also the one
                reading the socket for every handle (what arrives next stays for the
                other handles).

        Cancellation: no datagram is taken; the next ``receive()`` gets it.
        """
        if self._closed:
            await trio.lowlevel.checkpoint()
            raise trio.ClosedResourceError("this message_received handle was closed")
        return await self._receiver.receive(self)

    async def __anext__(self) -> DatagramSocketMessageReceivedEventArgs:
        # ReceiveChannel's, with receive() written out: one coroutine less per datagram.
        if self._closed:
            await trio.lowlevel.checkpoint()
            raise trio.ClosedResourceError("this message_received handle was closed")
        try:
            return await self._receiver.receive(self)
        except trio.EndOfChannel:
            raise StopAsyncIteration from None

    def receive_nowait(self) -> DatagramSocketMessageReceivedEventArgs:
        """A datagram that has arrived, without waiting.

        Raises:
            trio.WouldBlock: none has.
            trio.EndOfChannel: the socket closed and every datagram it held was received.
            trio.ClosedResourceError: this handle is closed.
        """
        if self._closed:
            raise trio.ClosedResourceError("this message_received handle was closed")
        return self._receiver.receive_nowait()

    def clone(self) -> DatagramMessageChannel:
        """Another handle on the same datagrams (closing one leaves the others open).

        Raises:
            trio.ClosedResourceError: this handle is closed.
        """
        if self._closed:
            raise trio.ClosedResourceError("this message_received handle was closed")
        return DatagramMessageChannel(self._receiver)

    def close(self) -> None:
        """Close this handle; tasks waiting on it get ``trio.ClosedResourceError``.
        Idempotent. Once every handle is closed, arriving datagrams are dropped and
        counted."""
        if not self._closed:
            self._closed = True
            self._receiver.closed_handle(self)

    async def aclose(self) -> None:
        """:meth:`close`, as a checkpoint."""
        self.close()
        await trio.lowlevel.checkpoint()

    def statistics(self) -> trio.MemoryChannelStatistics:
        """The counts a memory channel gives: datagrams held (``current_buffer_used``)
        and the bound (``max_buffer_size``), the most ever held (``peak_buffer_used``,
        from trio 0.34 on),
        open handles, and the tasks waiting (``tasks_waiting_receive``: consumers;
        ``tasks_waiting_send``: 1 while the socket's background task waits for room). The
        "send channel" is the socket: 1 until it closes."""
        receiver = self._receiver
        queue = receiver.queue
        peak = {"peak_buffer_used": queue.peak} if _HAS_PEAK else {}
        return trio.MemoryChannelStatistics(
            current_buffer_used=len(queue),
            max_buffer_size=queue.bound,
            open_send_channels=0 if receiver.finished else 1,
            open_receive_channels=receiver.handles,
            tasks_waiting_send=receiver.waiting_for_room,
            tasks_waiting_receive=receiver.waiting_consumers,
            **peak,
        )
