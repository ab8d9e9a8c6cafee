"""The bounded queue of received messages, and what it could not hold (pure; no I/O).

A datagram socket's receive path puts each datagram it takes from the kernel here, or
drops and counts it when the queue is full: UDP may lose a datagram anyway, and a
consumer slower than the network must cost a counted loss, never unbounded memory.
Whoever reads the socket -- the consumer's own task or the socket's background task --
goes through this one queue, so the bound, the counts and the order are the same
whichever task did the reading.
"""

from __future__ import annotations

import collections
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["MessageQueue"]

T = TypeVar("T")


class MessageQueue(Generic[T]):
    """A FIFO of at most :attr:`bound` messages that counts the ones it refused.

    Every message offered ends exactly once: :meth:`put` accepts it (and it is taken
    later, in order) or :meth:`drop` counts it, so ``received == taken + len(queue) +
    dropped`` at all times. :meth:`retain` takes messages back out of ``received`` as
    if they had never come (a connected socket's filter, applied to what it held).
    """

    __slots__ = ("bound", "dropped", "items", "patient", "peak", "received")

    def __init__(self, bound: int) -> None:
        if bound < 1:
            raise ValueError(f"a message queue holds at least 1 message, not {bound}")
        #: The messages held, oldest first: read it freely (a hot path tests it instead
        #: of calling ``len()`` or ``bool()`` here); change it only through :meth:`put`,
        #: :meth:`take` and :meth:`retain`, which keep the counts. Always the same deque.
        self.items: collections.deque[T] = collections.deque()
        #: How many messages the queue holds at most.
        self.bound: int = bound
        #: Messages accepted or dropped.
        self.received: int = 0
        #: Messages dropped because the queue was full.
        self.dropped: int = 0
        #: The most messages held at once.
        self.peak: int = 0
        #: Whether a producer that finds the queue full should wait a moment for room:
        #: True until a drop, and again after the next message is accepted. A consumer
        #: that does not keep pace then costs one wait, not one per message.
        self.patient: bool = True

    def __len__(self) -> int:
        return len(self.items)

    def __bool__(self) -> bool:
        return bool(self.items)

    @property
    def full(self) -> bool:
        return len(self.items) >= self.bound

    @property
    def room(self) -> int:
        """How many more messages fit."""
        return self.bound - len(self.items)

    def put(self, item: T) -> bool:
        """Accept *item* if there is room (True); False, counting nothing, if full."""
        items = self.items
        if len(items) >= self.bound:
            return False
        items.append(item)
        self.received += 1
        self.patient = True
        if len(items) > self.peak:
            self.peak = len(items)
        return True

    def drop(self) -> None:
        """Count a message that was not accepted (the queue was full, or nobody reads)."""
        self.received += 1
        self.dropped += 1
        self.patient = False

    def take(self) -> T:
        """The oldest message (IndexError when empty)."""
        return self.items.popleft()

    def retain(self, keep: Callable[[T], bool]) -> None:
        """Remove, keeping the order of the rest, every message for which *keep* is false,
        and uncount it: it no longer counts as received."""
        items = self.items
        kept = [item for item in items if keep(item)]
        self.received -= len(items) - len(kept)
        items.clear()
        items.extend(kept)
