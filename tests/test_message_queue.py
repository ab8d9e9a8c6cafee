"""The received-message queue on its own: no sockets, no trio.

A hypothesis state machine plays the receive path -- messages put (or dropped when the
queue refuses them), taken, filtered by a connect -- against a plain list, and checks
after every step that the queue holds exactly the model's messages in order, never more
than its bound, and that every message offered is counted once: taken, held or dropped.
"""

from __future__ import annotations

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from trio_sockets._core.message_queue import MessageQueue


class QueueMachine(RuleBasedStateMachine):
    queue: MessageQueue[int]

    @initialize(bound=st.integers(1, 8))
    def start(self, bound: int) -> None:
        self.queue = MessageQueue(bound)
        self.model: list[int] = []
        self.next = 0
        self.taken = 0
        self.filtered = 0
        self.dropped = 0
        self.patient = True

    @rule()
    def offer(self) -> None:
        """What the receive path does with each datagram: put it, or drop it if full."""
        item = self.next
        self.next += 1
        accepted = self.queue.put(item)
        assert accepted == (len(self.model) < self.queue.bound)
        if accepted:
            self.model.append(item)
            self.patient = True
        else:
            self.queue.drop()
            self.dropped += 1
            self.patient = False

    @precondition(lambda self: self.model)
    @rule()
    def take(self) -> None:
        assert self.queue.take() == self.model.pop(0)
        self.taken += 1

    @rule()
    def take_from_empty(self) -> None:
        if not self.model:
            with pytest.raises(IndexError):
                self.queue.take()

    @rule(modulus=st.integers(2, 4))
    def connect(self, modulus: int) -> None:
        """A connect keeps only one sender's messages (here: one residue class)."""
        kept = [item for item in self.model if item % modulus == 0]
        self.filtered += len(self.model) - len(kept)
        self.model = kept
        self.queue.retain(lambda item: item % modulus == 0)

    @invariant()
    def holds_the_model_in_order(self) -> None:
        assert len(self.queue) == len(self.model) <= self.queue.bound
        assert bool(self.queue) == bool(self.model)
        assert self.queue.full == (len(self.model) == self.queue.bound)
        assert self.queue.room == self.queue.bound - len(self.model)
        assert self.queue.peak >= len(self.model)

    @invariant()
    def counts_every_message_once(self) -> None:
        queue = self.queue
        assert queue.dropped == self.dropped
        assert queue.received == self.next - self.filtered
        assert queue.received == self.taken + len(self.model) + queue.dropped
        assert queue.patient == self.patient


TestMessageQueue = QueueMachine.TestCase
TestMessageQueue.settings = settings(max_examples=300, stateful_step_count=60, deadline=None)


def test_a_bound_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="not 0"):
        MessageQueue(0)
